/*
 * fuzz_file.h: for the targets whose parser reads a file (fuzz_npy,
 * fuzz_safetensors): fuzz_file_write(data, size, name) writes the input to
 * one path in a per-process temp dir (created once with mkdtemp, removed at
 * exit) and returns that path. Any failure aborts: it is the harness's,
 * not a finding. Included by one target per binary.
 */
#ifndef LORALPHA_FUZZ_FILE_H
#define LORALPHA_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char g_fuzz_dir[256];
static char g_fuzz_path[300];

static void fuzz_file_cleanup(void) {
  if (g_fuzz_path[0]) unlink(g_fuzz_path);
  if (g_fuzz_dir[0]) rmdir(g_fuzz_dir);
}

static void fuzz_file_setup(const char *name) {
  const char *tmp = getenv("TMPDIR");
  if (g_fuzz_path[0]) return;
  if (tmp == NULL || tmp[0] == '\0') tmp = "/tmp";
  snprintf(g_fuzz_dir, sizeof g_fuzz_dir, "%s/la-fuzz.XXXXXX", tmp);
  if (mkdtemp(g_fuzz_dir) == NULL) {
    perror("fuzz: mkdtemp");
    abort();
  }
  snprintf(g_fuzz_path, sizeof g_fuzz_path, "%s/%s", g_fuzz_dir, name);
  atexit(fuzz_file_cleanup);
}

static const char *fuzz_file_write(const uint8_t *data, size_t size,
                                   const char *name) {
  FILE *f;
  fuzz_file_setup(name);
  if ((f = fopen(g_fuzz_path, "wb")) == NULL) {
    perror("fuzz: fopen");
    abort();
  }
  if (size > 0 && fwrite(data, 1, size, f) != size) {
    perror("fuzz: fwrite");
    abort();
  }
  if (fclose(f) != 0) {
    perror("fuzz: fclose");
    abort();
  }
  return g_fuzz_path;
}

#endif
