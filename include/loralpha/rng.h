/*
 * rng.h: the one random number generator of loralpha.
 *
 * xoshiro256** seeded by splitmix64 from (seed, stream). Every random draw of
 * a run comes from a named stream, so changing how many numbers one part
 * draws (say, the task generator) never shifts another (the batch order).
 * The algorithm is fixed and documented (docs/worker.md) so other programs
 * can reproduce a run's batch order exactly.
 */
#ifndef LORALPHA_RNG_H
#define LORALPHA_RNG_H

#include <stddef.h>
#include <stdint.h>

enum {
  LA_STREAM_TASK = 1,      /* synthetic data, base and target weights */
  LA_STREAM_INIT = 2,      /* the adapters' initial A */
  LA_STREAM_BATCH = 3,     /* mini-batch order */
  LA_STREAM_SHARPNESS = 4, /* Lanczos start vectors (sharpness) */
};

typedef struct la_rng {
  uint64_t s[4];
} la_rng;

/* State from splitmix64 applied to seed + stream * 0xD1B54A32D192ED03. */
void la_rng_init(la_rng *rng, uint64_t seed, uint64_t stream);
uint64_t la_rng_u64(la_rng *rng);
/* Uniform on [0, 1) with 53 random bits. */
double la_rng_uniform(la_rng *rng);
/* Standard normal by Box-Muller, one draw per call (two uniforms). */
double la_rng_normal(la_rng *rng);
/* perm[i] = i, then Fisher-Yates from the end: j = u64 % (i + 1). */
void la_rng_permutation(la_rng *rng, uint32_t *perm, size_t n);

#endif
