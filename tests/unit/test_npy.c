/*
 * test_npy.c: tests for the .npy reader and writer (base/npy.c).
 *
 * Self-contained: every input file is built byte by byte in a fresh
 * directory under /tmp (removed at the end). Exits non-zero if any check
 * fails; each failed check prints the line, the expected and actual values.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif

#include "loralpha/npy.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 256
#define MAX_FILE_BYTES 4096

static int g_checks, g_failures;
static char g_dir[64];
static char g_paths[MAX_FILES][128];
static int g_npaths;

/* Records a failure of `what` at line. */
static void fail(int line, const char *what) {
  fprintf(stderr, "test_npy.c:%d: FAILED: %s\n", line, what);
  g_failures++;
}

/* Checks that two integers are equal. */
static void check_int(int line, const char *expr, long long expected,
                      long long actual) {
  char buf[256];
  g_checks++;
  if (expected == actual) return;
  snprintf(buf, sizeof buf, "%s: expected %lld, actual %lld", expr, expected,
           actual);
  fail(line, buf);
}

/* Checks that two floats are bitwise identical (so -0.0 != 0.0). */
static void check_float(int line, const char *expr, float expected,
                        float actual) {
  char buf[256];
  g_checks++;
  if (memcmp(&expected, &actual, sizeof(float)) == 0) return;
  snprintf(buf, sizeof buf, "%s: expected %.9g, actual %.9g", expr,
           (double)expected, (double)actual);
  fail(line, buf);
}

/* Checks that msg starts with "<path>:" and contains needle. */
static void check_msg(int line, const char *path, const char *msg,
                      const char *needle) {
  char buf[1024];
  size_t n = strlen(path);
  g_checks++;
  if (strncmp(msg, path, n) == 0 && msg[n] == ':' && strstr(msg, needle))
    return;
  snprintf(buf, sizeof buf,
           "error message: expected \"%s: ...%s...\", actual \"%s\"", path,
           needle, msg);
  fail(line, buf);
}

#define CHECK_INT(exp, act) check_int(__LINE__, #act, (exp), (act))
#define CHECK_FLOAT(exp, act) check_float(__LINE__, #act, (exp), (act))
#define CHECK_MSG(path, msg, needle) check_msg(__LINE__, path, msg, needle)

/* ------------------------------------------------------------- fixtures */

/* A path in the temp directory (recorded for removal at the end). */
static const char *temp_path(const char *name) {
  char *path;
  if (g_npaths == MAX_FILES) {
    fprintf(stderr, "test_npy: too many files\n");
    exit(2);
  }
  path = g_paths[g_npaths++];
  snprintf(path, sizeof g_paths[0], "%s/%s", g_dir, name);
  return path;
}

/* Writes n bytes to a new file name in the temp directory; returns its
 * path (recorded for removal at the end). */
static const char *write_file(const char *name, const void *bytes, size_t n) {
  const char *path = temp_path(name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(bytes, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "test_npy: cannot write %s\n", path);
    exit(2);
  }
  return path;
}

/* Builds a .npy file image in out: magic, version major.0, the header
 * length (2 bytes for major 1, else 4), the dict text (dlen bytes), numpy
 * style padding if pad, then the data. Returns the total length. */
static size_t build_npy(unsigned char *out, int major, const char *dict,
                        size_t dlen, int pad, const void *data, size_t n) {
  size_t lenbytes = major == 1 ? 2 : 4, pre = 8 + lenbytes, hlen = dlen, i;
  if (pad) hlen += 64 - (pre + dlen + 1) % 64 + 1;
  if (pre + hlen + n > MAX_FILE_BYTES) {
    fprintf(stderr, "test_npy: fixture too large\n");
    exit(2);
  }
  memcpy(out, "\x93NUMPY", 6);
  out[6] = (unsigned char)major;
  out[7] = 0;
  for (i = 0; i < lenbytes; i++)
    out[8 + i] = (unsigned char)(hlen >> 8 * i);
  memcpy(out + pre, dict, dlen);
  memset(out + pre + dlen, ' ', hlen - dlen);
  if (pad) out[pre + hlen - 1] = '\n';
  if (n) memcpy(out + pre + hlen, data, n);
  return pre + hlen + n;
}

/* Writes a padded .npy file with the given version, dict and data. */
static const char *write_npy(const char *name, int major, const char *dict,
                             const void *data, size_t n) {
  static unsigned char img[MAX_FILE_BYTES];
  size_t len = build_npy(img, major, dict, strlen(dict), 1, data, n);
  return write_file(name, img, len);
}

/* Stores v little-endian in nbytes bytes at p. */
static void put_le(unsigned char *p, uint64_t v, int nbytes) {
  int i;
  for (i = 0; i < nbytes; i++)
    p[i] = (unsigned char)(v >> 8 * i);
}

/* Stores float v little-endian at element i of p. */
static void put_f4(unsigned char *p, size_t i, float v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  put_le(p + 4 * i, u, 4);
}

/* Stores double v little-endian at element i of p. */
static void put_f8(unsigned char *p, size_t i, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  put_le(p + 8 * i, u, 8);
}

/* Stores integer v (two's complement) at element i of p, width bytes. */
static void put_int(unsigned char *p, size_t i, int64_t v, int width) {
  put_le(p + (size_t)width * i, (uint64_t)v, width);
}

/* Loads path expecting success and the given shape; returns rc. */
static int load_ok(int line, const char *path, la_npy *a, int ndim,
                   const size_t *shape, char kind, int itemsize) {
  la_err err = {{0}};
  size_t count = 1;
  int d, rc = la_npy_load(path, a, &err);
  check_int(line, "la_npy_load rc", 0, rc);
  if (rc) fprintf(stderr, "  message: %s\n", err.msg);
  if (rc) return rc;
  check_int(line, "ndim", ndim, a->ndim);
  for (d = 0; d < ndim && d < a->ndim; d++) {
    check_int(line, "shape[d]", (long long)shape[d], (long long)a->shape[d]);
    count *= shape[d];
  }
  check_int(line, "count", (long long)count, (long long)a->count);
  check_int(line, "kind", kind, a->kind);
  check_int(line, "itemsize", itemsize, a->itemsize);
  check_int(line, "data != NULL", 1, a->data != NULL);
  return a->data == NULL || a->count != count ? -1 : 0;
}

/* ------------------------------------------------------- positive cases */

/* Version 1.0 '<f4' 2-D file, values exact (including -0.0). */
static void test_v1_f4(void) {
  static const float v[6] = {0.5f, -1.0f, 2.25f, 3e-8f, 1e30f, -0.0f};
  static const size_t shape[2] = {2, 3};
  unsigned char data[24];
  la_npy a;
  size_t i;
  const char *path;
  for (i = 0; i < 6; i++)
    put_f4(data, i, v[i]);
  path = write_npy(
      "v1_f4.npy", 1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data, 24);
  if (load_ok(__LINE__, path, &a, 2, shape, 'f', 4) == 0)
    for (i = 0; i < 6; i++)
      CHECK_FLOAT(v[i], a.data[i]);
  la_npy_free(&a);
  CHECK_INT(1, a.data == NULL && a.count == 0 && a.ndim == 0);
  la_npy_free(&a); /* twice is safe */
}

/* Versions 2.0 and 3.0 (4-byte header length). */
static void test_v2_v3(void) {
  static const size_t shape[1] = {3};
  unsigned char data[12];
  la_npy a;
  int major;
  const char *path;
  put_f4(data, 0, 1.5f);
  put_f4(data, 1, -2.0f);
  put_f4(data, 2, 7.0f);
  for (major = 2; major <= 3; major++) {
    path = write_npy(
        major == 2 ? "v2.npy" : "v3.npy", major,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data, 12);
    if (load_ok(__LINE__, path, &a, 1, shape, 'f', 4) == 0) {
      CHECK_FLOAT(1.5f, a.data[0]);
      CHECK_FLOAT(-2.0f, a.data[1]);
      CHECK_FLOAT(7.0f, a.data[2]);
    }
    la_npy_free(&a);
  }
}

/* '<f8' converted to float (rounded, underflow to zero allowed). */
static void test_f8(void) {
  static const double v[5] = {0.1, -2.5, (double)FLT_MAX, 1e-50, -1e-3};
  static const size_t shape[1] = {5};
  unsigned char data[40];
  la_npy a;
  size_t i;
  const char *path;
  for (i = 0; i < 5; i++)
    put_f8(data, i, v[i]);
  path = write_npy("f8.npy", 1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
                   data, 40);
  if (load_ok(__LINE__, path, &a, 1, shape, 'f', 8) == 0)
    for (i = 0; i < 5; i++)
      CHECK_FLOAT((float)v[i], a.data[i]);
  la_npy_free(&a);
}

/* Integer dtype test: writes values with the given descr and width and
 * checks the float result. */
static void check_ints(int line, const char *name, const char *descr, int width,
                       const int64_t *v, size_t n) {
  unsigned char data[128];
  char dict[128];
  size_t i, shape[1] = {n};
  la_npy a;
  const char *path;
  for (i = 0; i < n; i++)
    put_int(data, i, v[i], width);
  snprintf(dict, sizeof dict,
           "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }", descr,
           n);
  path = write_npy(name, 1, dict, data, n * (size_t)width);
  if (load_ok(line, path, &a, 1, shape, 'i', width) == 0)
    for (i = 0; i < n; i++)
      check_float(line, name, (float)v[i], a.data[i]);
  la_npy_free(&a);
}

/* '<i8', '<i4', '<u2', '|u1', '<u1', '>u1', '|i1' conversions, including
 * the 2^24 boundaries and uint16's top (token ids). */
static void test_ints(void) {
  static const int64_t i8[5] = {-16777216, 16777216, 0, 123456, -7};
  static const int64_t i4[4] = {-16777216, 5, 16777216, -1};
  static const int64_t u1[5] = {0, 1, 127, 128, 255};
  static const int64_t i1[4] = {-128, -1, 0, 127};
  static const int64_t u2[4] = {0, 255, 50256, 65535};
  check_ints(__LINE__, "i8.npy", "<i8", 8, i8, 5);
  check_ints(__LINE__, "i4.npy", "<i4", 4, i4, 4);
  check_ints(__LINE__, "u2.npy", "<u2", 2, u2, 4);
  check_ints(__LINE__, "u1.npy", "|u1", 1, u1, 5);
  check_ints(__LINE__, "u1le.npy", "<u1", 1, u1, 5);
  check_ints(__LINE__, "u1be.npy", ">u1", 1, u1, 5);
  check_ints(__LINE__, "i1.npy", "|i1", 1, i1, 4);
}

/* Header variants: other key order, double quotes, trailing comma,
 * newlines; Python 2 "L" integers; an unpadded header; 4-D. */
static void test_header_variants(void) {
  static const size_t s23[2] = {2, 3}, s4d[4] = {1, 2, 1, 3};
  static unsigned char img[MAX_FILE_BYTES];
  static const char plain[] =
      "{'descr':'<f4','fortran_order':False,'shape':(2,3)}";
  unsigned char data[24];
  la_npy a;
  size_t i;
  const char *path;
  for (i = 0; i < 6; i++)
    put_f4(data, i, (float)i - 2.5f);
  path = write_npy("order.npy", 1,
                   "{\n  \"shape\" : ( 2 ,\n 3 ) ,\n  \"fortran_order\": "
                   "False,\t\"descr\": \"<f4\",\n}",
                   data, 24);
  if (load_ok(__LINE__, path, &a, 2, s23, 'f', 4) == 0)
    CHECK_FLOAT(2.5f, a.data[5]);
  la_npy_free(&a);
  path =
      write_npy("py2.npy", 1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
                data, 24);
  load_ok(__LINE__, path, &a, 2, s23, 'f', 4);
  la_npy_free(&a);
  i = build_npy(img, 1, plain, strlen(plain), 0, data, 24);
  path = write_file("unpadded.npy", img, i);
  load_ok(__LINE__, path, &a, 2, s23, 'f', 4);
  la_npy_free(&a);
  path = write_npy(
      "4d.npy", 1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 1, 3), }", data,
      24);
  if (load_ok(__LINE__, path, &a, 4, s4d, 'f', 4) == 0)
    CHECK_FLOAT(-2.5f, a.data[0]);
  la_npy_free(&a);
}

/* --------------------------------------------------------------- saving */

/* Checks the header la_npy_save_f32 wrote: numpy's v1.0 layout, a total
 * header length that is a multiple of 64, and the expected dict. */
static void check_saved_header(int line, const char *path, const char *dict,
                               size_t count) {
  unsigned char buf[MAX_FILE_BYTES];
  size_t n, hlen, i, dlen = strlen(dict);
  FILE *f = fopen(path, "rb");
  n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f) fclose(f);
  check_int(line, "saved file starts with magic v1.0", 1,
            n > 10 && memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0);
  if (n <= 10) return;
  hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
  check_int(line, "header total % 64", 0, (long long)((10 + hlen) % 64));
  check_int(line, "file size", (long long)(10 + hlen + 4 * count),
            (long long)n);
  check_int(line, "dict text", 0,
            hlen > dlen ? memcmp(buf + 10, dict, dlen) : -1);
  for (i = 10 + dlen; i + 1 < 10 + hlen && i < n; i++)
    if (buf[i] != ' ') break;
  check_int(line, "padding spaces end at '\\n'", (long long)(9 + hlen),
            (long long)i);
  check_int(line, "last header byte", '\n', i < n ? buf[i] : -1);
}

/* Saves and reloads one shape; values must survive bit for bit. */
static void round_trip(int line, const char *name, int ndim,
                       const size_t *shape, const char *dict) {
  float data[64];
  size_t i, count = 1;
  la_err err = {{0}};
  la_npy a;
  const char *path = temp_path(name);
  int d, rc;
  for (d = 0; d < ndim; d++)
    count *= shape[d];
  for (i = 0; i < count; i++)
    data[i] = (float)i * 0.25f - 3.0f;
  data[0] = -0.0f;
  rc = la_npy_save_f32(path, data, ndim, shape, &err);
  check_int(line, "la_npy_save_f32 rc", 0, rc);
  if (rc) fprintf(stderr, "  message: %s\n", err.msg);
  check_saved_header(line, path, dict, count);
  if (load_ok(line, path, &a, ndim, shape, 'f', 4) == 0)
    for (i = 0; i < count; i++)
      check_float(line, name, data[i], a.data[i]);
  la_npy_free(&a);
}

/* Round trips of 1 to 4 dimensions. */
static void test_round_trip(void) {
  static const size_t s1[1] = {5}, s2[2] = {2, 3}, s3[3] = {2, 3, 4},
                      s4[4] = {2, 1, 3, 2};
  static const char *const pre = "{'descr': '<f4', 'fortran_order': False, ";
  char dict[4][128];
  snprintf(dict[0], sizeof dict[0], "%s'shape': (5,), }", pre);
  snprintf(dict[1], sizeof dict[1], "%s'shape': (2, 3), }", pre);
  snprintf(dict[2], sizeof dict[2], "%s'shape': (2, 3, 4), }", pre);
  snprintf(dict[3], sizeof dict[3], "%s'shape': (2, 1, 3, 2), }", pre);
  round_trip(__LINE__, "rt1.npy", 1, s1, dict[0]);
  round_trip(__LINE__, "rt2.npy", 2, s2, dict[1]);
  round_trip(__LINE__, "rt3.npy", 3, s3, dict[2]);
  round_trip(__LINE__, "rt4.npy", 4, s4, dict[3]);
}

/* la_npy_save_f32 argument and I/O errors. */
static void test_save_errors(void) {
  static const float data[4] = {1, 2, 3, 4};
  static const size_t s4[1] = {4}, s0[2] = {2, 0}, s5[5] = {1, 1, 1, 1, 4};
  char bad[192];
  la_err err = {{0}};
  const char *path = temp_path("never.npy");
  CHECK_INT(LA_EINVAL, la_npy_save_f32(path, data, 0, s4, &err));
  CHECK_MSG(path, err.msg, "dimensions");
  CHECK_INT(LA_EINVAL, la_npy_save_f32(path, data, 5, s5, &err));
  CHECK_MSG(path, err.msg, "dimensions");
  CHECK_INT(LA_EINVAL, la_npy_save_f32(path, data, 2, s0, &err));
  CHECK_MSG(path, err.msg, "dimension 1 = 0");
  CHECK_INT(LA_EINVAL, la_npy_save_f32(path, NULL, 1, s4, &err));
  CHECK_MSG(path, err.msg, "NULL");
  CHECK_INT(1, access(path, F_OK) != 0);
  snprintf(bad, sizeof bad, "%s/no-such-dir/x.npy", g_dir);
  CHECK_INT(LA_EIO, la_npy_save_f32(bad, data, 1, s4, &err));
  CHECK_MSG(bad, err.msg, "cannot create");
  CHECK_INT(LA_EINVAL, la_npy_save_f32(path, data, 0, s4, NULL));
}

/* ---------------------------------------------------------- error cases */

/* Data blobs the bad cases refer to. */
enum {
  D_NONE,
  D_F4_6,     /* 6 valid '<f4' values: shape (2, 3) */
  D_F4_SHORT, /* 10 bytes */
  D_F4_LONG,  /* 27 bytes: 3 trailing */
  D_F4_NAN,   /* NaN at flat index 4 */
  D_F4_NINF,  /* -Inf at flat index 0 */
  D_F8_INF,   /* 3 '<f8', +Inf at flat index 2 */
  D_F8_BIG,   /* 3 '<f8', 1e300 at flat index 1 */
  D_I8_BIG,   /* 3 '<i8', 2^40 at flat index 1 */
  D_I8_MIN,   /* 3 '<i8', INT64_MIN at flat index 0 */
  D_I4_MIN,   /* 3 '<i4', INT32_MIN at flat index 2 */
  D_I4_OVER,  /* 3 '<i4', 2^24 + 1 at flat index 0 */
  D_COUNT
};

static unsigned char g_blob[D_COUNT][32];
static size_t g_blob_len[D_COUNT];

/* Fills g_blob. */
static void make_blobs(void) {
  size_t i;
  for (i = 0; i < 6; i++)
    put_f4(g_blob[D_F4_6], i, (float)i);
  g_blob_len[D_F4_6] = 24;
  memcpy(g_blob[D_F4_SHORT], g_blob[D_F4_6], 10);
  g_blob_len[D_F4_SHORT] = 10;
  memcpy(g_blob[D_F4_LONG], g_blob[D_F4_6], 27);
  g_blob_len[D_F4_LONG] = 27;
  memcpy(g_blob[D_F4_NAN], g_blob[D_F4_6], 24);
  put_f4(g_blob[D_F4_NAN], 4, NAN);
  g_blob_len[D_F4_NAN] = 24;
  memcpy(g_blob[D_F4_NINF], g_blob[D_F4_6], 24);
  put_f4(g_blob[D_F4_NINF], 0, -INFINITY);
  g_blob_len[D_F4_NINF] = 24;
  put_f8(g_blob[D_F8_INF], 2, INFINITY);
  put_f8(g_blob[D_F8_BIG], 1, 1e300);
  put_int(g_blob[D_I8_BIG], 1, (int64_t)1 << 40, 8);
  put_int(g_blob[D_I8_MIN], 0, INT64_MIN, 8);
  g_blob_len[D_F8_INF] = g_blob_len[D_F8_BIG] = 24;
  g_blob_len[D_I8_BIG] = g_blob_len[D_I8_MIN] = 24;
  put_int(g_blob[D_I4_MIN], 2, INT32_MIN, 4);
  put_int(g_blob[D_I4_OVER], 0, ((int64_t)1 << 24) + 1, 4);
  g_blob_len[D_I4_MIN] = g_blob_len[D_I4_OVER] = 12;
}

#define RAW(s) s, sizeof(s) - 1
#define F4(shape) "{'descr': '<f4', 'fortran_order': False, 'shape': " shape "}"
#define DT(descr)                                                              \
  "{'descr': '" descr "', 'fortran_order': False, 'shape': (3,)}"

/* One malformed file: either raw bytes (major 0) or a built file. */
typedef struct bad_case {
  const char *name;
  int major;          /* 0: the file is exactly raw[0..rawlen) */
  const char *raw;    /* major 0: file bytes; else the header dict */
  size_t rawlen;      /* major 0: file length; else the dict length */
  int blob;           /* the data section (D_*) */
  int rc;             /* expected return code */
  const char *needle; /* expected in the error message */
} bad_case;

/* clang-format off */
static const bad_case g_bad[] = {
  {"magic.npy", 0, RAW("\x93NUMPX\x01\x00\x02\x00{}"), 0, LA_EINVAL, "bad magic"},
  {"text.npy", 0, RAW("hello, world\n"), 0, LA_EINVAL, "magic"},
  {"empty.npy", 0, RAW(""), 0, LA_EINVAL, "empty"},
  {"short.npy", 0, RAW("\x93NUMPY\x01"), 0, LA_EINVAL, "truncated preamble"},
  {"shortlen.npy", 0, RAW("\x93NUMPY\x02\x00\x05"), 0, LA_EINVAL, "truncated preamble"},
  {"v9.npy", 9, RAW(F4("(2, 3)")), D_F4_6, LA_EINVAL, "version 9.0"},
  {"v11.npy", 0, RAW("\x93NUMPY\x01\x01\x02\x00{}"), 0, LA_EINVAL, "version 1.1"},
  {"hlenbig.npy", 0, RAW("\x93NUMPY\x01\x00\xc8\x00{'descr': '<f4'"), 0, LA_EINVAL, "truncated header: expected 200 bytes, found 15"},
  {"hlenlimit.npy", 0, RAW("\x93NUMPY\x02\x00\x00\x00\x10\x00{}"), 0, LA_EINVAL, "header length 1048576 exceeds"},
  {"notdict.npy", 1, RAW("[1, 2]"), 0, LA_EINVAL, "dict"},
  {"hempty.npy", 1, RAW(""), 0, LA_EINVAL, "expected a Python dict"},
  {"nodescr.npy", 1, RAW("{'fortran_order': False, 'shape': (2, 3), }"), D_F4_6, LA_EINVAL, "missing key 'descr'"},
  {"noshape.npy", 1, RAW("{'descr': '<f4', 'fortran_order': False, }"), D_F4_6, LA_EINVAL, "missing key 'shape'"},
  {"noforder.npy", 1, RAW("{'descr': '<f4', 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "missing key 'fortran_order'"},
  {"unknown.npy", 1, RAW("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}"), D_F4_6, LA_EINVAL, "unknown key 'extra'"},
  {"dupkey.npy", 1, RAW("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "duplicate key 'descr'"},
  {"nocolon.npy", 1, RAW("{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "expected ':'"},
  {"barekey.npy", 1, RAW("{descr: '<f4', 'fortran_order': False, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "quoted key"},
  {"nocomma.npy", 1, RAW("{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "',' or '}'"},
  {"after.npy", 1, RAW(F4("(2, 3)") " x"), D_F4_6, LA_EINVAL, "after the dict"},
  {"badquote.npy", 1, RAW("{'descr: '<f4', 'fortran_order': False, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "unknown key 'descr: '"},
  {"unterm2.npy", 1, RAW("{'descr': '<f4"), D_F4_6, LA_EINVAL, "unterminated string"},
  {"escape.npy", 1, RAW("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "escape"},
  {"nul.npy", 1, RAW("{'descr': '<f4',\0 'fortran_order': False, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "byte 0x00"},
  {"longstr.npy", 1, RAW("{'descr': '<f4xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'fortran_order': False, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "too long"},
  {"nonascii.npy", 1, RAW("{'descr': '<f4\xc3\xa9', 'fortran_order': False, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "byte 0xc3"},
  {"bigendian.npy", 1, RAW(DT(">f4")), D_F4_6, LA_EINVAL, "big-endian dtype '>f4' is unsupported; convert with a.astype('<f4')"},
  {"bigendian8.npy", 1, RAW(DT(">i8")), D_F8_BIG, LA_EINVAL, "astype('<i8')"},
  {"complex.npy", 1, RAW(DT("<c8")), D_F8_BIG, LA_EINVAL, "unsupported complex dtype '<c8'"},
  {"bool.npy", 1, RAW(DT("|b1")), D_F4_SHORT, LA_EINVAL, "unsupported boolean dtype '|b1'"},
  {"half.npy", 1, RAW(DT("<f2")), D_F4_SHORT, LA_EINVAL, "dtype '<f2'"},
  {"u4.npy", 1, RAW(DT("<u4")), D_I4_MIN, LA_EINVAL, "dtype '<u4'"},
  {"pipef4.npy", 1, RAW(DT("|f4")), D_I4_MIN, LA_EINVAL, "dtype '|f4'"},
  {"noorder.npy", 1, RAW(DT("f4")), D_I4_MIN, LA_EINVAL, "dtype 'f4'"},
  {"emptydescr.npy", 1, RAW(DT("")), D_I4_MIN, LA_EINVAL, "dtype ''"},
  {"structured.npy", 1, RAW("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,)}"), D_I4_MIN, LA_EINVAL, "structured"},
  {"descrint.npy", 1, RAW("{'descr': 4, 'fortran_order': False, 'shape': (3,)}"), D_I4_MIN, LA_EINVAL, "dtype string"},
  {"fortran.npy", 1, RAW("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "fortran_order is True"},
  {"fortran0.npy", 1, RAW("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}"), D_F4_6, LA_EINVAL, "True or False for 'fortran_order'"},
  {"scalar.npy", 1, RAW(F4("()")), D_F4_6, LA_EINVAL, "shape () is a 0-d scalar"},
  {"zerodim.npy", 1, RAW(F4("(2, 0)")), D_NONE, LA_EINVAL, "shape dimension 1 is 0"},
  {"fivedims.npy", 1, RAW(F4("(1, 1, 2, 1, 3)")), D_F4_6, LA_EINVAL, "shape has 5 dimensions"},
  {"negdim.npy", 1, RAW(F4("(2, -3)")), D_F4_6, LA_EINVAL, "shape dimension 1 is -3"},
  {"hugedim.npy", 1, RAW(F4("(4294967296,)")), D_F4_6, LA_EINVAL, "shape dimension 0 is 4294967296, above the limit 2^31"},
  {"overflow.npy", 1, RAW(F4("(2147483648, 2147483648, 2147483648, 2147483648)")), D_F4_6, LA_EINVAL, "overflows"},
  {"notuple.npy", 1, RAW(F4("(6)")), D_F4_6, LA_EINVAL, "shape is not a tuple"},
  {"shapelist.npy", 1, RAW(F4("[2, 3]")), D_F4_6, LA_EINVAL, "tuple such as (3, 4) for 'shape'"},
  {"shapegarbage.npy", 1, RAW(F4("(2, x)")), D_F4_6, LA_EINVAL, "expected an integer or ')' in 'shape', found 'x'"},
  {"shapefloat.npy", 1, RAW(F4("(2, 3.0)")), D_F4_6, LA_EINVAL, "expected ',' or ')' in 'shape', found '.'"},
  {"shapecomma.npy", 1, RAW(F4("(2,, 3)")), D_F4_6, LA_EINVAL, "in 'shape'"},
  {"shapeopen.npy", 1, RAW(F4("(2, 3")), D_F4_6, LA_EINVAL, "in 'shape'"},
  {"truncdata.npy", 1, RAW(F4("(2, 3)")), D_F4_SHORT, LA_EINVAL, "truncated data: expected 24 bytes, found 10"},
  {"nodata.npy", 1, RAW(F4("(2, 3)")), D_NONE, LA_EINVAL, "truncated data: expected 24 bytes, found 0"},
  {"trailing.npy", 1, RAW(F4("(2, 3)")), D_F4_LONG, LA_EINVAL, "3 trailing bytes"},
  {"nan.npy", 1, RAW(F4("(2, 3)")), D_F4_NAN, LA_EINVAL, "element [1, 1] (flat index 4) is NaN"},
  {"ninf.npy", 1, RAW(F4("(2, 3)")), D_F4_NINF, LA_EINVAL, "(flat index 0) is -Inf"},
  {"inf8.npy", 1, RAW(DT("<f8")), D_F8_INF, LA_EINVAL, "element [2] (flat index 2) is Inf"},
  {"big8.npy", 1, RAW(DT("<f8")), D_F8_BIG, LA_EINVAL, "(flat index 1) value 1e+300 is outside the float32 range"},
  {"bigi8.npy", 1, RAW(DT("<i8")), D_I8_BIG, LA_EINVAL, "(flat index 1) value 1099511627776 is not exactly representable"},
  {"mini8.npy", 1, RAW(DT("<i8")), D_I8_MIN, LA_EINVAL, "value -9223372036854775808"},
  {"mini4.npy", 1, RAW(DT("<i4")), D_I4_MIN, LA_EINVAL, "(flat index 2) value -2147483648"},
  {"overi4.npy", 1, RAW(DT("<i4")), D_I4_OVER, LA_EINVAL, "value 16777217"},
};
/* clang-format on */

/* Runs one bad case: non-zero rc, message "<path>: ...needle...", and an
 * output struct left empty. */
static void run_bad(const bad_case *c) {
  static unsigned char img[MAX_FILE_BYTES];
  la_err err = {{0}};
  la_npy a;
  size_t n;
  const char *path;
  int rc;
  if (c->major == 0)
    path = write_file(c->name, c->raw, c->rawlen);
  else {
    n = build_npy(img, c->major, c->raw, c->rawlen, 1, g_blob[c->blob],
                  g_blob_len[c->blob]);
    path = write_file(c->name, img, n);
  }
  memset(&a, 0xab, sizeof a);
  rc = la_npy_load(path, &a, &err);
  if (rc != c->rc || strncmp(err.msg, path, strlen(path)) != 0 ||
      strstr(err.msg, c->needle) == NULL)
    fprintf(stderr, "case %s:\n", c->name);
  CHECK_INT(c->rc, rc);
  CHECK_MSG(path, err.msg, c->needle);
  CHECK_INT(1, a.data == NULL && a.ndim == 0 && a.count == 0);
  la_npy_free(&a);
}

/* Runs the whole bad-file table. */
static void test_bad_files(void) {
  size_t i;
  make_blobs();
  for (i = 0; i < sizeof g_bad / sizeof g_bad[0]; i++)
    run_bad(&g_bad[i]);
}

/* Errors outside the file contents: missing file, a directory, NULLs. */
static void test_io_errors(void) {
  la_err err = {{0}};
  la_npy a;
  char missing[128], fifo[128];
  snprintf(missing, sizeof missing, "%s/missing.npy", g_dir);
  CHECK_INT(LA_EIO, la_npy_load(missing, &a, &err));
  CHECK_MSG(missing, err.msg, "cannot be read");
  CHECK_INT(1, a.data == NULL && a.ndim == 0);
  /* a directory and a FIFO (not waited on) read like a missing path */
  CHECK_INT(LA_EIO, la_npy_load(g_dir, &a, &err));
  CHECK_MSG(g_dir, err.msg, "cannot be read");
  CHECK_INT(1, a.data == NULL && a.ndim == 0);
  snprintf(fifo, sizeof fifo, "%s/fifo.npy", g_dir);
  CHECK_INT(0, mkfifo(fifo, 0600));
  CHECK_INT(LA_EIO, la_npy_load(fifo, &a, &err));
  CHECK_MSG(fifo, err.msg, "cannot be read");
  unlink(fifo);
  CHECK_INT(LA_EIO, la_npy_load("/dev/zero", &a, &err));
  CHECK_MSG("/dev/zero", err.msg, "cannot be read");
  CHECK_INT(LA_EINVAL, la_npy_load(missing, NULL, &err));
  CHECK_INT(LA_EIO, la_npy_load(missing, &a, NULL));
  la_npy_free(NULL);
}

/* Removes every file the tests created, then the directory. */
static void remove_temp(void) {
  int i;
  for (i = 0; i < g_npaths; i++)
    unlink(g_paths[i]);
  if (rmdir(g_dir) != 0) {
    fprintf(stderr, "test_npy: cannot remove %s\n", g_dir);
    g_failures++;
  }
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/test_npy.XXXXXX");
  if (mkdtemp(g_dir) == NULL) {
    perror("test_npy: mkdtemp");
    return 2;
  }
  test_v1_f4();
  test_v2_v3();
  test_f8();
  test_ints();
  test_header_variants();
  test_round_trip();
  test_save_errors();
  test_bad_files();
  test_io_errors();
  remove_temp();
  printf("test_npy: %d checks, %d failures (%zu bad files)\n", g_checks,
         g_failures, sizeof g_bad / sizeof g_bad[0]);
  return g_failures ? 1 : 0;
}
