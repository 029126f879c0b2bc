/*
 * safetensors.c: reading and writing safetensors files (see
 * loralpha/safetensors.h).
 *
 * Reading happens in three passes. The preamble and the header are read
 * and the JSON is parsed with jansson (duplicate keys rejected). Every
 * entry is then checked on its own (keys, dtype, shape, offsets, sizes)
 * and the entries, sorted by offset, are checked to tile the data section
 * whose size comes from the file's size: nothing is allocated for data
 * before the header is known to agree with the file. Last, the tensors
 * are read in file order, one fread each, and converted to float from
 * little-endian bytes (so the host's byte order does not matter).
 */
#include "loralpha/safetensors.h"

#include "loralpha/npy.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define ST_META "__metadata__"
#define ST_CHUNK 32768 /* bytes read per fread */
#define ST_ALIGN 8     /* header padding on write */
#define ST_LOADED "F32, F16 and BF16"

/* A dtype the format knows: its size, and whether it is loaded. */
typedef struct st_dtype {
  const char *name;
  int itemsize;
  int loaded;
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F32", 4, 1},  {"F16", 2, 1},     {"BF16", 2, 1},    {"F64", 8, 0},
    {"I64", 8, 0},  {"I32", 4, 0},     {"I16", 2, 0},     {"I8", 1, 0},
    {"U64", 8, 0},  {"U32", 4, 0},     {"U16", 2, 0},     {"U8", 1, 0},
    {"BOOL", 1, 0}, {"F8_E4M3", 1, 0}, {"F8_E5M2", 1, 0},
};
#define N_DTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

/* What the reader works with: the path for messages, the stream, err. */
typedef struct st_reader {
  const char *path;
  FILE *f;
  la_err *err;
  uint64_t data_start, data_size; /* the data section, in the file */
} st_reader;

/* ---------------------------------------------------------------- bytes */

static uint64_t get_le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static void put_le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++, v >>= 8)
    p[i] = (unsigned char)(v & 0xff);
}

/* IEEE half (binary16) bits to float, subnormals included. */
static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, e = h >> 10 & 0x1f, m = h & 0x3ff;
  uint32_t u;
  float v;
  if (e == 0x1f) {
    u = sign | 0x7f800000u | m << 13; /* Inf, NaN */
  } else if (e != 0) {
    u = sign | (e + 112) << 23 | m << 13; /* 112 = 127 - 15 */
  } else {
    v = ldexpf((float)m, -24); /* zero or subnormal: m * 2^-24 */
    return sign ? -v : v;
  }
  memcpy(&v, &u, sizeof v);
  return v;
}

/* The element at p of a loaded dtype (F32, F16, BF16) as float. */
static float load_elem(const unsigned char *p, int itemsize, int bf16) {
  uint32_t u;
  float v;
  if (itemsize == 2 && !bf16)
    return half_to_float((uint16_t)(p[0] | p[1] << 8));
  if (itemsize == 2)
    u = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 24;
  else
    u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
        (uint32_t)p[3] << 24;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* ------------------------------------------------------------- preamble */

static int read_error(st_reader *r) {
  return la_errf(r->err, LA_EIO, "%s: read error: %s", r->path,
                 strerror(errno));
}

/* Reads the header length and checks it against the file's size; sets the
 * data section's place. */
static int read_preamble(st_reader *r, size_t *hlen) {
  unsigned char b[8];
  struct stat st;
  uint64_t n, size;
  size_t got = fread(b, 1, 8, r->f);
  if (ferror(r->f)) return read_error(r);
  if (got < 8)
    return la_errf(r->err, LA_EINVAL,
                   "%s: truncated: %zu bytes, a safetensors file starts "
                   "with an 8-byte header length",
                   r->path, got);
  if (fstat(fileno(r->f), &st) != 0 || st.st_size < 8)
    return la_errf(r->err, LA_EIO, "%s: cannot stat: %s", r->path,
                   strerror(errno));
  size = (uint64_t)st.st_size;
  n = get_le64(b);
  if (n == 0 || n > LA_ST_HEADER_MAX)
    return la_errf(r->err, LA_EINVAL,
                   "%s: header length %llu is out of range (1 to %u bytes)",
                   r->path, (unsigned long long)n, LA_ST_HEADER_MAX);
  if (n > size - 8)
    return la_errf(r->err, LA_EINVAL,
                   "%s: header length %llu exceeds the %llu bytes after it",
                   r->path, (unsigned long long)n,
                   (unsigned long long)(size - 8));
  *hlen = (size_t)n;
  r->data_start = 8 + n;
  r->data_size = size - 8 - n;
  return 0;
}

/* Reads and parses the header JSON (a new reference in *out). */
static int read_header(st_reader *r, size_t hlen, json_t **out) {
  char *text = malloc(hlen);
  json_error_t je;
  int rc = 0;
  if (text == NULL)
    return la_errf(r->err, LA_ENOMEM, "%s: out of memory for the header",
                   r->path);
  if (fread(text, 1, hlen, r->f) != hlen)
    rc = ferror(r->f)
             ? read_error(r)
             : la_errf(r->err, LA_EINVAL, "%s: truncated header", r->path);
  else if (text[0] != '{')
    rc = la_errf(r->err, LA_EINVAL,
                 "%s: the header must be a JSON object starting with '{'",
                 r->path);
  else if ((*out = json_loadb(text, hlen, JSON_REJECT_DUPLICATES, &je)) == NULL)
    rc = la_errf(r->err, LA_EINVAL,
                 "%s: header is not valid JSON: %s (at byte %d)", r->path,
                 je.text, je.position);
  else if (!json_is_object(*out)) {
    json_decref(*out);
    *out = NULL;
    rc = la_errf(r->err, LA_EINVAL, "%s: the header must be a JSON object",
                 r->path);
  }
  free(text);
  return rc;
}

/* ---------------------------------------------------------- one entry */

static const st_dtype *find_dtype(const char *name) {
  for (size_t i = 0; i < N_DTYPES; i++)
    if (strcmp(st_dtypes[i].name, name) == 0) return &st_dtypes[i];
  return NULL;
}

/* A non-negative JSON integer as uint64: 0, or LA_EINVAL when v is none
 * (the caller words the error). */
static int get_uint(const json_t *v, uint64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0) return LA_EINVAL;
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

/* Reports a problem with the entry of tensor t. */
#define BAD(r, t, ...) bad_entry((r), (t)->name, __VA_ARGS__)
__attribute__((format(printf, 3, 4))) static int
bad_entry(st_reader *r, const char *name, const char *fmt, ...) {
  char what[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return la_errf(r->err, LA_EINVAL, "%s: tensor '%.200s': %s", r->path, name,
                 what);
}

/* The shape of t from v: count and byte size without overflow. */
static int parse_shape(st_reader *r, la_st_tensor *t, const json_t *v,
                       const st_dtype *dt, uint64_t *nbytes) {
  size_t nd = json_array_size(v);
  uint64_t c = 1, d;
  if (!json_is_array(v) || nd > LA_ST_MAX_DIMS)
    return BAD(r, t, "shape must be an array of at most %d integers",
               LA_ST_MAX_DIMS);
  for (size_t i = 0; i < nd; i++) {
    if (get_uint(json_array_get(v, i), &d))
      return BAD(r, t, "shape[%zu] must be a non-negative integer", i);
    if (d != 0 && c > UINT64_MAX / (uint64_t)dt->itemsize / d)
      return BAD(r, t, "shape's element count overflows");
    c *= d;
    t->shape[i] = (size_t)d;
  }
  if (c > SIZE_MAX / sizeof(float))
    return BAD(r, t, "%llu elements are too many", (unsigned long long)c);
  t->ndim = (int)nd;
  t->count = (size_t)c;
  *nbytes = c * (uint64_t)dt->itemsize;
  return 0;
}

/* data_offsets of t: in the data section, of the shape's byte size. */
static int parse_offsets(st_reader *r, la_st_tensor *t, const json_t *v,
                         uint64_t nbytes) {
  uint64_t b, e;
  if (!json_is_array(v) || json_array_size(v) != 2 ||
      get_uint(json_array_get(v, 0), &b) || get_uint(json_array_get(v, 1), &e))
    return BAD(r, t,
               "data_offsets must be [begin, end], two non-negative "
               "integers");
  if (e < b)
    return BAD(r, t, "data_offsets end %llu is before begin %llu",
               (unsigned long long)e, (unsigned long long)b);
  if (e > r->data_size)
    return BAD(r, t,
               "data_offsets end %llu is past the data section's %llu bytes",
               (unsigned long long)e, (unsigned long long)r->data_size);
  if (e - b != nbytes)
    return BAD(r, t,
               "data_offsets span %llu bytes, but shape and dtype %s need "
               "%llu",
               (unsigned long long)(e - b), t->dtype,
               (unsigned long long)nbytes);
  t->begin = (size_t)b;
  t->end = (size_t)e;
  return 0;
}

/* One header entry into t (its name already set). */
static int parse_entry(st_reader *r, la_st_tensor *t, const json_t *v) {
  const char *key;
  json_t *val;
  const st_dtype *dt;
  uint64_t nbytes = 0;
  int rc;
  if (!json_is_object(v)) return BAD(r, t, "entry must be an object");
  json_object_foreach((json_t *)v, key, val) {
    if (strcmp(key, "dtype") && strcmp(key, "shape") &&
        strcmp(key, "data_offsets"))
      return BAD(r, t,
                 "unknown key '%.64s' (expected dtype, shape, "
                 "data_offsets)",
                 key);
  }
  val = json_object_get(v, "dtype");
  if (!json_is_string(val)) return BAD(r, t, "dtype must be a string");
  if ((dt = find_dtype(json_string_value(val))) == NULL)
    return BAD(r, t, "unknown dtype '%.32s'", json_string_value(val));
  snprintf(t->dtype, sizeof t->dtype, "%s", dt->name);
  if (!json_object_get(v, "shape") || !json_object_get(v, "data_offsets"))
    return BAD(r, t, "%s is missing",
               json_object_get(v, "shape") ? "data_offsets" : "shape");
  if ((rc = parse_shape(r, t, json_object_get(v, "shape"), dt, &nbytes)))
    return rc;
  return parse_offsets(r, t, json_object_get(v, "data_offsets"), nbytes);
}

/* "__metadata__": an object of strings, kept as it is. */
static int parse_meta(st_reader *r, la_st_file *f, json_t *v) {
  const char *key;
  json_t *val;
  if (!json_is_object(v))
    return la_errf(r->err, LA_EINVAL, "%s: " ST_META " must be an object",
                   r->path);
  json_object_foreach(v, key, val) {
    if (!json_is_string(val))
      return la_errf(r->err, LA_EINVAL,
                     "%s: " ST_META ".%.64s must be a string", r->path, key);
  }
  f->metadata = json_incref(v);
  return 0;
}

/* Every entry of the header into f->t. */
static int parse_entries(st_reader *r, json_t *root, la_st_file *f) {
  size_t n = json_object_size(root);
  const char *key;
  json_t *val;
  int rc;
  if (n > LA_ST_MAX_TENSORS)
    return la_errf(r->err, LA_EINVAL, "%s: %zu tensors, at most %d accepted",
                   r->path, n, LA_ST_MAX_TENSORS);
  if ((f->t = calloc(n ? n : 1, sizeof *f->t)) == NULL)
    return la_errf(r->err, LA_ENOMEM, "%s: out of memory", r->path);
  json_object_foreach(root, key, val) {
    la_st_tensor *t;
    if (strcmp(key, ST_META) == 0) {
      if ((rc = parse_meta(r, f, val))) return rc;
      continue;
    }
    if (key[0] == '\0' || strlen(key) > LA_ST_NAME_MAX)
      return la_errf(r->err, LA_EINVAL,
                     "%s: a tensor name is empty or longer than %d bytes",
                     r->path, LA_ST_NAME_MAX);
    t = &f->t[f->n];
    if ((t->name = strdup(key)) == NULL)
      return la_errf(r->err, LA_ENOMEM, "%s: out of memory", r->path);
    f->n++;
    if ((rc = parse_entry(r, t, val))) return rc;
  }
  return 0;
}

/* ------------------------------------------------------------- tiling */

/* Order of tensors by begin, then end (empty tensors first at a place). */
static int cmp_range(const void *a, const void *b) {
  const la_st_tensor *x = *(const la_st_tensor *const *)a;
  const la_st_tensor *y = *(const la_st_tensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* The tensors in file order (new array in *out), checked to tile the data
 * section exactly. */
static int check_tiling(st_reader *r, la_st_file *f, la_st_tensor ***out) {
  la_st_tensor **o = malloc((f->n ? (size_t)f->n : 1) * sizeof *o);
  size_t at = 0;
  if (o == NULL)
    return la_errf(r->err, LA_ENOMEM, "%s: out of memory", r->path);
  for (int i = 0; i < f->n; i++)
    o[i] = &f->t[i];
  qsort(o, (size_t)f->n, sizeof *o, cmp_range);
  for (int i = 0; i < f->n; i++) {
    if (o[i]->begin != at) {
      int rc = o[i]->begin > at
                   ? BAD(r, o[i],
                         "a gap: bytes %zu to %zu of the data "
                         "section belong to no tensor",
                         at, o[i]->begin)
                   : BAD(r, o[i], "overlaps '%.200s' (bytes %zu to %zu)",
                         o[i - 1]->name, o[i]->begin, at);
      free(o);
      return rc;
    }
    at = o[i]->end;
  }
  if (at != r->data_size) {
    free(o);
    return la_errf(r->err, LA_EINVAL,
                   "%s: %llu bytes after the last tensor belong to no tensor",
                   r->path, (unsigned long long)(r->data_size - at));
  }
  *out = o;
  return 0;
}

/* ---------------------------------------------------------------- data */

/* Reports element i of t, which is not finite. */
static int non_finite(st_reader *r, const la_st_tensor *t, size_t i, float v) {
  return BAD(r, t,
             "element %zu (flat index) is %s; NaN and Inf are not "
             "accepted",
             i,
             isnan(v) ? "NaN"
             : v > 0  ? "Inf"
                      : "-Inf");
}

/* Reads and converts the data of t (the stream is at t->begin). */
static int load_tensor(st_reader *r, la_st_tensor *t, unsigned char *chunk,
                       size_t chunk_bytes) {
  const st_dtype *dt = find_dtype(t->dtype);
  size_t isz = (size_t)dt->itemsize, per = chunk_bytes / isz, done, n;
  int bf16 = strcmp(t->dtype, "BF16") == 0;
  if (!dt->loaded) /* checked, not kept: skipped */
    return fseeko(r->f, (off_t)(t->end - t->begin), SEEK_CUR) ? read_error(r)
                                                              : 0;
  if ((t->data = malloc((t->count ? t->count : 1) * sizeof(float))) == NULL)
    return BAD(r, t, "out of memory for %zu elements", t->count);
  for (done = 0; done < t->count; done += n) {
    n = t->count - done < per ? t->count - done : per;
    if (fread(chunk, isz, n, r->f) != n)
      return ferror(r->f)
                 ? read_error(r)
                 : la_errf(r->err, LA_EINVAL, "%s: truncated data", r->path);
    for (size_t i = 0; i < n; i++) {
      float v = load_elem(chunk + i * isz, (int)isz, bf16);
      if (!isfinite(v)) return non_finite(r, t, done + i, v);
      t->data[done + i] = v;
    }
  }
  return 0;
}

/* Reads every tensor in file order. */
static int load_data(st_reader *r, la_st_file *f, la_st_tensor **order) {
  unsigned char *chunk = malloc(ST_CHUNK);
  int rc = 0;
  if (chunk == NULL)
    return la_errf(r->err, LA_ENOMEM, "%s: out of memory", r->path);
  for (int i = 0; rc == 0 && i < f->n; i++)
    rc = load_tensor(r, order[i], chunk, ST_CHUNK);
  free(chunk);
  return rc;
}

/* Everything after open: preamble, header, entries, tiling, data. */
static int load_stream(st_reader *r, la_st_file *f) {
  json_t *root = NULL;
  la_st_tensor **order = NULL;
  size_t hlen = 0;
  int rc = read_preamble(r, &hlen);
  if (rc == 0) rc = read_header(r, hlen, &root);
  if (rc == 0) rc = parse_entries(r, root, f);
  if (rc == 0) rc = check_tiling(r, f, &order);
  if (rc == 0) rc = load_data(r, f, order);
  free(order);
  json_decref(root);
  return rc;
}

/* Public: see safetensors.h. */
int la_st_load(const char *path, la_st_file *out, la_err *err) {
  st_reader r = {path, NULL, err, 0, 0};
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = la_open_regular(path, &r.f, err)) != 0) return rc;
  rc = load_stream(&r, out);
  fclose(r.f); /* read-only: a close error cannot lose data */
  if (rc) la_st_free(out);
  return rc;
}

/* Public: see safetensors.h. */
const la_st_tensor *la_st_find(const la_st_file *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
  return NULL;
}

/* Public: see safetensors.h. */
void la_st_free(la_st_file *f) {
  if (f == NULL) return;
  for (int i = 0; i < f->n; i++) {
    free(f->t[i].name);
    free(f->t[i].data);
  }
  free(f->t);
  json_decref(f->metadata);
  memset(f, 0, sizeof *f);
}

/* ---------------------------------------------------------------- write */

/* The header object of the tensors to write (new reference), or NULL. */
static json_t *build_header(const la_st_out *t, int n, const json_t *meta) {
  json_t *root = json_object();
  size_t at = 0;
  if (root == NULL) return NULL;
  if (meta != NULL) json_object_set_new(root, ST_META, json_deep_copy(meta));
  for (int i = 0; i < n; i++) {
    json_t *e = json_object(), *shape = json_array();
    size_t c = 1;
    for (int d = 0; d < t[i].ndim; d++) {
      json_array_append_new(shape, json_integer((json_int_t)t[i].shape[d]));
      c *= t[i].shape[d];
    }
    json_object_set_new(e, "dtype", json_string("F32"));
    json_object_set_new(e, "shape", shape);
    json_object_set_new(
        e, "data_offsets",
        json_pack("[II]", (json_int_t)at, (json_int_t)(at + 4 * c)));
    at += 4 * c;
    json_object_set_new(root, t[i].name, e);
  }
  return root;
}

/* Checks the tensors to write: names, shapes, sizes. */
static int check_out(const char *path, const la_st_out *t, int n,
                     const json_t *meta, la_err *err) {
  const char *key;
  json_t *val;
  if (n < 0 || n > LA_ST_MAX_TENSORS || (n > 0 && t == NULL))
    return la_errf(err, LA_EINVAL, "%s: cannot save %d tensors", path, n);
  if (meta != NULL && !json_is_object(meta))
    return la_errf(err, LA_EINVAL, "%s: metadata must be an object", path);
  json_object_foreach((json_t *)meta, key, val) {
    if (!json_is_string(val))
      return la_errf(err, LA_EINVAL, "%s: metadata.%.64s must be a string",
                     path, key);
  }
  for (int i = 0; i < n; i++) {
    size_t c = 1;
    if (t[i].name == NULL || t[i].name[0] == '\0' ||
        strlen(t[i].name) > LA_ST_NAME_MAX || strcmp(t[i].name, ST_META) == 0)
      return la_errf(err, LA_EINVAL, "%s: tensor %d has no valid name", path,
                     i);
    for (int j = 0; j < i; j++)
      if (strcmp(t[i].name, t[j].name) == 0)
        return la_errf(err, LA_EINVAL, "%s: tensor '%.200s' is named twice",
                       path, t[i].name);
    if (t[i].ndim < 0 || t[i].ndim > LA_ST_MAX_DIMS)
      return la_errf(err, LA_EINVAL, "%s: tensor '%.200s': %d dimensions", path,
                     t[i].name, t[i].ndim);
    for (int d = 0; d < t[i].ndim; d++) {
      if (t[i].shape[d] != 0 && c > SIZE_MAX / 8 / t[i].shape[d])
        return la_errf(err, LA_EINVAL, "%s: tensor '%.200s': too large", path,
                       t[i].name);
      c *= t[i].shape[d];
    }
    if (c > 0 && t[i].data == NULL)
      return la_errf(err, LA_EINVAL, "%s: tensor '%.200s': no data", path,
                     t[i].name);
  }
  return 0;
}

/* Writes the preamble, the padded header text and every tensor. */
static int write_all(FILE *f, const char *text, const la_st_out *t, int n) {
  size_t len = strlen(text), pad = (ST_ALIGN - len % ST_ALIGN) % ST_ALIGN;
  unsigned char pre[8];
  put_le64(pre, (uint64_t)(len + pad));
  if (fwrite(pre, 1, 8, f) != 8 || fwrite(text, 1, len, f) != len)
    return LA_EIO;
  for (size_t i = 0; i < pad; i++)
    if (fputc(' ', f) == EOF) return LA_EIO;
  for (int i = 0; i < n; i++) {
    size_t c = 1;
    for (int d = 0; d < t[i].ndim; d++)
      c *= t[i].shape[d];
    if (la_write_f32le(f, t[i].data, c)) return LA_EIO;
  }
  return 0;
}

/* Public: see safetensors.h. */
int la_st_save(const char *path, const la_st_out *t, int n,
               const json_t *metadata, la_err *err) {
  json_t *root = NULL;
  char *text = NULL;
  FILE *f = NULL;
  int rc = check_out(path, t, n, metadata, err), fail;
  if (rc) return rc;
  root = build_header(t, n, metadata);
  text = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(root);
  if (text == NULL) return la_errf(err, LA_ENOMEM, "%s: out of memory", path);
  if ((f = fopen(path, "wb")) == NULL) {
    rc = la_errf(err, LA_EIO, "%s: cannot create: %s", path, strerror(errno));
    free(text);
    return rc;
  }
  fail = write_all(f, text, t, n) != 0;
  fail = fclose(f) != 0 || fail;
  free(text);
  if (!fail) return 0;
  rc = la_errf(err, LA_EIO, "%s: write failed: %s", path, strerror(errno));
  remove(path);
  return rc;
}
