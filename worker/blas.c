/* blas.c: picking OpenBLAS's kernels (see blas.h). */
#include "blas.h"

#include <cblas.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

/* Core types from oldest to newest; a core is below another if it comes
 * earlier here. */
static const char *const k_cores[] = {
    "Prescott",    "Core2",   "Penryn",   "Dunnington", "Nehalem",
    "Sandybridge", "Haswell", "SkylakeX", "Cooperlake", NULL};

/* The index of core type name in k_cores, or -1 when it is none of them. */
static int core_rank(const char *name) {
  for (int i = 0; name != NULL && k_cores[i] != NULL; i++)
    if (strcasecmp(name, k_cores[i]) == 0) return i;
  return -1; /* an index: not a core we know */
}

const char *la_blas_best_core(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return "Haswell";
  if (__builtin_cpu_supports("avx")) return "Sandybridge";
#endif
  return NULL;
}

const char *la_blas_core(void) {
  return openblas_get_corename();
}

void la_blas_tune(char **argv) {
  const char *best = la_blas_best_core();
  int changed = 0;
  if (getenv("LORALPHA_BLAS_REEXEC") != NULL) return;
  if (getenv("OPENBLAS_CORETYPE") == NULL && best != NULL) {
    int have = core_rank(la_blas_core());
    if (have >= 0 && have < core_rank(best)) {
      setenv("OPENBLAS_CORETYPE", best, 1);
      changed = 1;
    }
  }
  if (getenv("OPENBLAS_NUM_THREADS") == NULL) {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    changed = 1;
  }
  if (!changed) return;
  setenv("LORALPHA_BLAS_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  /* exec failed: carry on with the kernels already loaded */
}
