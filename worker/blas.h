/*
 * blas.h: making OpenBLAS use the machine's real vector units.
 *
 * OpenBLAS chooses its kernels when the library loads. A build that does not
 * know a CPU model (Debian 12's 0.3.21 on Sapphire Rapids, for one) falls
 * back to its oldest x86-64 kernels (Prescott, SSE3), several times slower
 * than the AVX2/AVX-512 kernels the CPU can run. Because the choice is made
 * at load time, the only fix from inside the program is to set
 * OPENBLAS_CORETYPE and execute itself again.
 */
#ifndef LORALPHA_BLAS_H
#define LORALPHA_BLAS_H

/* The best OpenBLAS core type name this CPU supports among those the worker
 * knows ("SkylakeX", "Haswell", "Sandybridge"), or NULL. */
const char *la_blas_best_core(void);

/* If OpenBLAS loaded a core below la_blas_best_core() and the user has not
 * set OPENBLAS_CORETYPE, or OPENBLAS_NUM_THREADS is unset (then 1: the pool
 * grows when a run asks for more threads), sets them and re-executes
 * /proc/self/exe with argv. Returns only when nothing needed changing or the
 * re-exec failed; the process then goes on with the kernels it has. Never
 * re-executes twice (LORALPHA_BLAS_REEXEC marks the second start). */
void la_blas_tune(char **argv);

/* The core type OpenBLAS runs with. */
const char *la_blas_core(void);

#endif
