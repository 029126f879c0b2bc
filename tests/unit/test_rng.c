/*
 * test_rng.c: the generator is reproducible, its streams differ, its
 * permutations are permutations, and its distributions have the right
 * moments. The batch order of every run depends on this code staying as
 * documented (docs/worker.md), so a golden sequence pins it.
 */
#include "check.h"
#include "loralpha/rng.h"

#include <stdlib.h>
#include <string.h>

/* splitmix64 then xoshiro256**, computed independently of rng.c. */
static uint64_t ref_next(uint64_t s[4]) {
  uint64_t r = s[1] * 5;
  r = ((r << 7) | (r >> 57)) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
  s[3] = (s[3] << 45) | (s[3] >> 19);
  return r;
}

static void check_reference_sequence(void) {
  uint64_t x = 42 + 3 * 0xD1B54A32D192ED03ULL, s[4];
  for (int i = 0; i < 4; i++) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    s[i] = z ^ (z >> 31);
  }
  la_rng rng;
  la_rng_init(&rng, 42, 3);
  for (int i = 0; i < 1000; i++) {
    uint64_t a = la_rng_u64(&rng), b = ref_next(s);
    if (a != b) {
      CHECK_EQ_INT(a, b);
      return;
    }
  }
  CHECK(1);
}

static void check_streams_and_repro(void) {
  la_rng a, b, c;
  la_rng_init(&a, 7, 1);
  la_rng_init(&b, 7, 1);
  la_rng_init(&c, 7, 2);
  int same = 1, differ = 0;
  for (int i = 0; i < 100; i++) {
    uint64_t x = la_rng_u64(&a), y = la_rng_u64(&b), z = la_rng_u64(&c);
    same &= x == y;
    differ += x != z;
  }
  CHECK(same);
  CHECK(differ == 100);
}

static void check_permutation(void) {
  la_rng rng;
  uint32_t perm[1000];
  int seen[1000] = {0}, moved = 0;
  la_rng_init(&rng, 1, 3);
  la_rng_permutation(&rng, perm, 1000);
  for (int i = 0; i < 1000; i++) {
    CHECK(perm[i] < 1000);
    if (perm[i] < 1000) seen[perm[i]]++;
    moved += perm[i] != (uint32_t)i;
  }
  for (int i = 0; i < 1000; i++)
    CHECK_EQ_INT(seen[i], 1);
  CHECK(moved > 900);
  la_rng_permutation(&rng, perm, 1); /* n = 1 and n = 0 are fine */
  CHECK_EQ_INT(perm[0], 0);
  la_rng_permutation(&rng, perm, 0);
}

static void check_moments(void) {
  la_rng rng;
  double su = 0, sn = 0, sn2 = 0, umin = 1, umax = 0;
  const int n = 200000;
  la_rng_init(&rng, 3, 1);
  for (int i = 0; i < n; i++) {
    double u = la_rng_uniform(&rng), z = la_rng_normal(&rng);
    su += u, sn += z, sn2 += z * z;
    umin = u < umin ? u : umin, umax = u > umax ? u : umax;
  }
  CHECK(umin >= 0 && umax < 1);
  CHECK_CLOSE(su / n, 0.5, 0.005);
  CHECK_CLOSE(sn / n, 0.0, 0.01);
  CHECK_CLOSE(sn2 / n, 1.0, 0.01);
}

int main(void) {
  check_reference_sequence();
  check_streams_and_repro();
  check_permutation();
  check_moments();
  return check_summary();
}
