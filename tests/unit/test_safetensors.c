/*
 * test_safetensors.c: the safetensors reader and writer
 * (base/safetensors.c).
 *
 * test_safetensors PYTHON: a file written with numpy and torch's dtype
 * conversions (st_write.py, run with PYTHON) is read back to the exact
 * float32 values numpy and torch give; the writer's files read back
 * bit for bit; and every kind of broken file is refused with a message
 * naming the file, the tensor and the problem.
 */
#include "check.h"
#include "loralpha/npy.h"
#include "loralpha/safetensors.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[64];

/* dir/name into buf. */
static const char *in_dir(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", g_dir, name);
  return buf;
}

/* A file of the 8-byte length of header, header, then data (len bytes). */
static void write_raw(const char *path, uint64_t hlen, const char *header,
                      const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  unsigned char pre[8];
  for (int i = 0; i < 8; i++)
    pre[i] = (unsigned char)(hlen >> (8 * i) & 0xff);
  CHECK(f != NULL);
  if (f == NULL) return;
  fwrite(pre, 1, 8, f);
  fwrite(header, 1, strlen(header), f);
  if (len) fwrite(data, 1, len, f);
  fclose(f);
}

/* A file with header and data; its load must fail with rc and a message
 * holding want. */
static void expect_bad(const char *header, const void *data, size_t len, int rc,
                       const char *want) {
  char path[128];
  la_st_file f;
  la_err err = {{0}};
  int got;
  in_dir(path, sizeof path, "bad.safetensors");
  write_raw(path, strlen(header), header, data, len);
  got = la_st_load(path, &f, &err);
  CHECK_EQ_INT(got, rc);
  if (strstr(err.msg, want) == NULL || strstr(err.msg, path) != err.msg)
    fprintf(stderr,
            "  header %s\n  expected a message with '%s' after the "
            "path, got: %s\n",
            header, want, err.msg);
  CHECK(strstr(err.msg, want) != NULL);
  CHECK(strstr(err.msg, path) == err.msg);
  CHECK_EQ_INT(f.n, 0);
  CHECK(f.t == NULL && f.metadata == NULL);
}

/* Preamble-level faults: sizes that cannot be right. */
static void check_preamble(void) {
  char path[128];
  la_st_file f;
  la_err err = {{0}};
  in_dir(path, sizeof path, "short.safetensors");
  FILE *fp = fopen(path, "wb");
  fwrite("\x05\0\0", 1, 3, fp);
  fclose(fp);
  CHECK_EQ_INT(la_st_load(path, &f, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "truncated: 3 bytes") != NULL);
  write_raw(path, 0, "", NULL, 0);
  CHECK_EQ_INT(la_st_load(path, &f, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "header length 0 is out of range") != NULL);
  write_raw(path, 100, "{}", NULL, 0);
  CHECK_EQ_INT(la_st_load(path, &f, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "header length 100 exceeds the 2 bytes") != NULL);
  write_raw(path, (uint64_t)1 << 40, "{}", NULL, 0);
  CHECK_EQ_INT(la_st_load(path, &f, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "out of range") != NULL);
  in_dir(path, sizeof path, "missing.safetensors");
  CHECK_EQ_INT(la_st_load(path, &f, &err), LA_EIO);
  CHECK(strstr(err.msg, "cannot be read") != NULL);
  CHECK_EQ_INT(la_st_load(g_dir, &f, &err), LA_EIO); /* a directory */
}

/* Header and entry faults, each with the words that must name it. */
static void check_entries(void) {
  float one[4] = {1, 2, 3, 4}, nan[1] = {NAN};
  unsigned char inf16[2] = {0x00, 0x7c}, nan_bf[2] = {0xc0, 0x7f};
  expect_bad("[1]", NULL, 0, LA_EINVAL, "must be a JSON object starting");
  expect_bad("{\"a\":", NULL, 0, LA_EINVAL, "header is not valid JSON");
  expect_bad("{} x", NULL, 0, LA_EINVAL, "header is not valid JSON");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             one, 8, LA_EINVAL, "duplicate");
  expect_bad("{\"w\":[]}", NULL, 0, LA_EINVAL,
             "tensor 'w': entry must be an object");
  expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],"
             "\"x\":1}}",
             one, 4, LA_EINVAL, "tensor 'w': unknown key 'x'");
  expect_bad("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", one, 4,
             LA_EINVAL, "tensor 'w': dtype must be a string");
  expect_bad("{\"w\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             one, 4, LA_EINVAL, "tensor 'w': unknown dtype 'F31'");
  expect_bad("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", one, 4,
             LA_EINVAL, "tensor 'w': shape is missing");
  expect_bad(
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", one,
      4, LA_EINVAL, "tensor 'w': shape[0] must be a non-negative");
  expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
             "\"data_offsets\":[0,4]}}",
             one, 4, LA_EINVAL,
             "tensor 'w': shape must be an array of at most");
  expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
             "\"data_offsets\":[0,4]}}",
             one, 4, LA_EINVAL, "tensor 'w': shape's element count overflows");
  expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
             one, 4, LA_EINVAL,
             "tensor 'w': data_offsets must be [begin, end]");
  expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",
             one, 4, LA_EINVAL, "tensor 'w': data_offsets end 0 is before");
  expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
             one, 4, LA_EINVAL, "end 8 is past the data section's 4 bytes");
  expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
             one, 4, LA_EINVAL, "span 4 bytes, but shape and dtype F32 need 8");
  expect_bad("{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             one, 4, LA_EINVAL, "a tensor name is empty");
  expect_bad("{\"__metadata__\":{\"k\":1}}", NULL, 0, LA_EINVAL,
             "__metadata__.k must be a string");
  expect_bad("{\"__metadata__\":[]}", NULL, 0, LA_EINVAL,
             "__metadata__ must be an object");
  /* tiling: a gap, an overlap, bytes after the last tensor */
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
             one, 12, LA_EINVAL, "tensor 'b': a gap: bytes 4 to 8");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             one, 8, LA_EINVAL, "tensor 'b': overlaps 'a'");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             one, 8, LA_EINVAL, "tensor 'a': a gap: bytes 0 to 4");
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             one, 16, LA_EINVAL, "12 bytes after the last tensor");
  expect_bad("{}", one, 4, LA_EINVAL, "4 bytes after the last tensor");
  /* values */
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             nan, 4, LA_EINVAL, "tensor 'a': element 0 (flat index) is NaN");
  expect_bad("{\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}",
             inf16, 2, LA_EINVAL, "tensor 'h': element 0 (flat index) is Inf");
  expect_bad(
      "{\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]}}",
      nan_bf, 2, LA_EINVAL, "tensor 'b': element 0 (flat index) is NaN");
}

/* Loads an .npy of expected values and compares t's data bit for bit. */
static void expect_values(const la_st_tensor *t, const char *npy) {
  char path[128];
  la_npy a;
  la_err err = {{0}};
  CHECK(t != NULL && t->data != NULL);
  if (t == NULL || t->data == NULL) return;
  CHECK_EQ_INT(la_npy_load(in_dir(path, sizeof path, npy), &a, &err), 0);
  CHECK_EQ_INT(a.count, t->count);
  for (size_t i = 0; i < a.count && i < t->count; i++) {
    if (memcmp(&a.data[i], &t->data[i], sizeof(float)) != 0)
      fprintf(stderr, "  %s[%zu] = %.9g, numpy/torch say %.9g\n", t->name, i,
              (double)t->data[i], (double)a.data[i]);
    CHECK(memcmp(&a.data[i], &t->data[i], sizeof(float)) == 0);
  }
  la_npy_free(&a);
}

/* The file st_write.py writes with numpy and torch. */
static void check_python(const char *python) {
  char cmd[512], path[128];
  la_st_file f;
  la_err err = {{0}};
  const la_st_tensor *t;
  snprintf(cmd, sizeof cmd, "%s %s/st_write.py %s", python, LA_TEST_SRC, g_dir);
  CHECK_EQ_INT(system(cmd), 0);
  in_dir(path, sizeof path, "mixed.safetensors");
  CHECK_EQ_INT(la_st_load(path, &f, &err), 0);
  if (err.msg[0]) fprintf(stderr, "  %s\n", err.msg);
  CHECK_EQ_INT(f.n, 6);
  CHECK(strcmp(f.t[0].name, "a.f32") == 0); /* the header's order */
  t = la_st_find(&f, "a.f32");
  CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
  expect_values(t, "a.f32.npy");
  expect_values(la_st_find(&f, "b.f16"), "b.f16.npy");
  expect_values(la_st_find(&f, "c.bf16"), "c.bf16.npy");
  t = la_st_find(&f, "d.scalar");
  CHECK(t && t->ndim == 0 && t->count == 1 && t->data[0] == 42.5f);
  t = la_st_find(&f, "e.empty");
  CHECK(t && t->ndim == 2 && t->count == 0 && t->begin == t->end);
  t = la_st_find(&f, "f.i64"); /* checked, not loaded */
  CHECK(t && t->data == NULL && strcmp(t->dtype, "I64") == 0 &&
        t->end - t->begin == 24);
  CHECK(la_st_find(&f, "nope") == NULL);
  CHECK(json_is_object(f.metadata));
  CHECK(strcmp(json_string_value(json_object_get(f.metadata, "format")),
               "pt") == 0);
  la_st_free(&f);
  CHECK(f.n == 0 && f.t == NULL);
}

/* What la_st_save writes reads back bit for bit, padded header included;
 * a refused save leaves no file. */
static void check_roundtrip(void) {
  float w[6] = {1.0f, -0.5f, 3.25e-20f, 7e30f, -0.0f, 1.0f / 3};
  float b[3] = {0.1f, 0.2f, 0.3f};
  la_st_out out[2] = {{"h.0.attn.c_attn.weight", 2, {2, 3}, w},
                      {"h.0.attn.c_attn.bias", 1, {3}, b}};
  json_t *meta = json_pack("{ss}", "format", "pt");
  char path[128];
  unsigned char pre[8];
  la_st_file f;
  la_err err = {{0}};
  FILE *fp;
  in_dir(path, sizeof path, "out.safetensors");
  CHECK_EQ_INT(la_st_save(path, out, 2, meta, &err), 0);
  fp = fopen(path, "rb");
  CHECK(fp && fread(pre, 1, 8, fp) == 8);
  if (fp) fclose(fp);
  CHECK_EQ_INT(pre[0] % 8, 0);
  CHECK_EQ_INT(la_st_load(path, &f, &err), 0);
  CHECK_EQ_INT(f.n, 2);
  CHECK(f.n == 2 && strcmp(f.t[0].name, out[0].name) == 0);
  CHECK(f.n == 2 && memcmp(f.t[0].data, w, sizeof w) == 0);
  CHECK(f.n == 2 && memcmp(f.t[1].data, b, sizeof b) == 0);
  CHECK(json_equal(f.metadata, meta));
  la_st_free(&f);
  out[1].name = out[0].name;
  unlink(path);
  CHECK_EQ_INT(la_st_save(path, out, 2, NULL, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "is named twice") != NULL);
  CHECK(access(path, F_OK) != 0);
  out[1].name = "__metadata__";
  CHECK_EQ_INT(la_st_save(path, out, 2, NULL, &err), LA_EINVAL);
  CHECK_EQ_INT(la_st_save("/nonexistent-dir/x.safetensors", out, 1, NULL, &err),
               LA_EIO);
  json_decref(meta);
}

int main(int argc, char **argv) {
  char cmd[128];
  snprintf(g_dir, sizeof g_dir, "/tmp/la-st-XXXXXX");
  if (mkdtemp(g_dir) == NULL) return 1;
  check_preamble();
  check_entries();
  check_roundtrip();
  if (argc > 1) check_python(argv[1]);
  CHECK(argc > 1); /* the numpy/torch files are part of the test */
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return check_summary();
}
