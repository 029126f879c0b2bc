/*
 * resources.h: what one training run will take, from its config alone.
 *
 * The daemon calls these at submit to refuse a spec whose runs would not
 * fit (max_run_memory, max_run_rows, max_sweep_rows in docs/daemon.md); the
 * worker calls la_config_memory to say what it expected when it runs out
 * of its memory cap. Both use this one function, so they cannot disagree.
 *
 * The memory estimate mirrors the worker's allocations (task.c, train.c,
 * model_impl.h, metrics.c): what stays allocated for the whole run, plus
 * the largest of the passing buffers (making the labels, sharpness,
 * spectra), plus LA_MEM_BASE for the process itself. docs/daemon.md gives
 * its measured error against the worker's peak RSS.
 */
#ifndef LORALPHA_RESOURCES_H
#define LORALPHA_RESOURCES_H

#include "loralpha/config.h"

#include <stdint.h>

/* The worker's resident size before it allocates a tensor: the program,
 * libc, OpenBLAS and jansson (measured: 12 MiB; rounded up). */
#define LA_MEM_BASE (16ull << 20)

/* OpenBLAS's buffer per thread (BUFFER_SIZE of Debian's build: 128 MiB,
 * allocated whole though rarely touched) and a margin for the estimate's
 * error: the cap on a worker's data is its run's memory limit plus
 * la_mem_slack (docs/daemon.md). */
#define LA_MEM_BLAS_BUFFER (128ull << 20)
#define LA_MEM_MARGIN (64ull << 20)

/* Sharpness keeps Lanczos' whole basis (full reorthogonalisation) when it
 * takes at most this many bytes, else two vectors (docs/metrics.md). */
#define LA_SHARPNESS_BASIS_MAX (512ull << 20)

/* Does sharpness keep the whole basis for n parameters and a cap of iters
 * Lanczos steps? 1 or 0 (the worker's choice and the estimate's). */
int la_sharpness_keeps_basis(int iters, double n);

/* The slack above max_run_memory of a worker with `threads` BLAS threads:
 * threads + 1 OpenBLAS buffers and LA_MEM_MARGIN. */
uint64_t la_mem_slack(int threads);

/* A run's memory estimate. */
typedef struct la_mem_estimate {
  uint64_t bytes;    /* peak resident bytes, LA_MEM_BASE included */
  const char *field; /* the config field behind the largest part (static) */
  int known;         /* 0 for tasks npy and gpt: their sizes come from
                        their files, so bytes counts only what the config
                        fixes */
} la_mem_estimate;

/* Estimates the peak memory of a run of cfg (validated by
 * la_config_parse). */
void la_config_memory(const la_config *cfg, la_mem_estimate *out);

/* The metric rows a run of cfg stores at most (curve, spectra, drift and
 * sharpness rows); *field names the setting that drives the count
 * ("log_every" or "spectra_every"). */
uint64_t la_config_rows(const la_config *cfg, const char **field);

#endif
