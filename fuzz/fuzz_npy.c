/*
 * fuzz_npy.c: libFuzzer target for the .npy reader.
 *
 * bytes -> a file in a per-process temp dir (fuzz_file.h: one path reused
 * for every input) -> la_npy_load -> la_npy_free.
 * Build with fuzz/build.sh.
 */
#include "fuzz_file.h"
#include "loralpha/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file_write(data, size, "input.npy");
  la_npy arr;
  la_err err;
  if (la_npy_load(path, &arr, &err) == 0) {
    /* Touch every element so ASan checks the whole buffer. */
    volatile float acc = 0.0f;
    for (size_t i = 0; i < arr.count; i++)
      acc += arr.data[i];
    (void)acc;
  }
  la_npy_free(&arr);
  return 0;
}
