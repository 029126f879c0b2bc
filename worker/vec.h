/*
 * vec.h: VEC, building an element-wise loop twice: for the x86-64 baseline
 * (SSE2) and for x86-64-v3 (AVX2 and FMA); the loader picks the one the
 * CPU runs (GCC's target_clones, an ifunc). Elsewhere VEC is empty.
 *
 * The two builds give the same bits unless the compiler contracts a * b + c
 * into one FMA: the build's ISO C mode (-std=c11) turns GCC's contraction
 * off, and only the files built with -ffp-contract=fast (the gpt model's,
 * CMakeLists.txt) differ in rounding. Not under ThreadSanitizer: the ifunc's
 * resolver runs while the loader relocates, before TSan's runtime is up, and
 * crashes the program.
 */
#ifndef LORALPHA_VEC_H
#define LORALPHA_VEC_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&         \
    defined(__GLIBC__) && !defined(__SANITIZE_THREAD__)
#define VEC __attribute__((target_clones("arch=x86-64-v3", "default")))
/* VEC with a third build for x86-64-v4 (AVX-512), for loops bound by
 * division and square root (AdamW), which it does 16 lanes at a time. A CPU
 * that has AVX-512 runs OpenBLAS's AVX-512 kernels too (blas.h), so these
 * loops do not lower its clock on their own. */
#define VEC_WIDE                                                               \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VEC
#define VEC_WIDE
#endif

#endif
