/* rng.c: xoshiro256** with splitmix64 seeding (see rng.h). */
#include "loralpha/rng.h"

#include "loralpha/common.h"

#include <math.h>

/* splitmix64: advances *x and returns the next output. */
static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

void la_rng_init(la_rng *rng, uint64_t seed, uint64_t stream) {
  uint64_t x = seed + stream * 0xD1B54A32D192ED03ULL;
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64(&x);
}

uint64_t la_rng_u64(la_rng *rng) {
  uint64_t *s = rng->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double la_rng_uniform(la_rng *rng) {
  return (double)(la_rng_u64(rng) >> 11) * 0x1.0p-53;
}

double la_rng_normal(la_rng *rng) {
  double u1 = 1.0 - la_rng_uniform(rng); /* (0, 1]: log is finite */
  double u2 = la_rng_uniform(rng);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * LA_PI * u2);
}

void la_rng_permutation(la_rng *rng, uint32_t *perm, size_t n) {
  for (size_t i = 0; i < n; i++)
    perm[i] = (uint32_t)i;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(la_rng_u64(rng) % (uint64_t)i);
    uint32_t t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
}
