/*
 * fuzz_npy.c: libFuzzer target for the .npy reader.
 *
 * bytes -> a file in a per-process temp dir (created once with mkdtemp, one
 * path reused for every input) -> la_npy_load -> la_npy_free.
 * Build with fuzz/build.sh.
 */
#include "loralpha/npy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[256];
static char g_path[300];

static void cleanup(void) {
  if (g_path[0]) unlink(g_path);
  if (g_dir[0]) rmdir(g_dir);
}

static int setup(void) {
  if (g_path[0]) return 0;
  const char *tmp = getenv("TMPDIR");
  if (tmp == NULL || tmp[0] == '\0') tmp = "/tmp";
  snprintf(g_dir, sizeof g_dir, "%s/la-fuzz-npy.XXXXXX", tmp);
  if (mkdtemp(g_dir) == NULL) {
    perror("fuzz_npy: mkdtemp");
    abort();
  }
  snprintf(g_path, sizeof g_path, "%s/input.npy", g_dir);
  atexit(cleanup);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  FILE *f = fopen(g_path, "wb");
  if (f == NULL) {
    perror("fuzz_npy: fopen");
    abort();
  }
  if (size > 0 && fwrite(data, 1, size, f) != size) {
    perror("fuzz_npy: fwrite");
    abort();
  }
  if (fclose(f) != 0) {
    perror("fuzz_npy: fclose");
    abort();
  }
  la_npy arr;
  la_err err;
  if (la_npy_load(g_path, &arr, &err) == 0) {
    /* Touch every element so ASan checks the whole buffer. */
    volatile float acc = 0.0f;
    for (size_t i = 0; i < arr.count; i++)
      acc += arr.data[i];
    (void)acc;
  }
  la_npy_free(&arr);
  return 0;
}
