/*
 * safetensors.h: reading and writing safetensors files (the checkpoint
 * format of HuggingFace's safetensors library).
 *
 * A file is: an 8-byte little-endian unsigned header length N, N bytes of
 * UTF-8 JSON (an object, optionally padded with trailing spaces), then the
 * data section. The JSON maps each tensor's name to
 *     {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 * with offsets relative to the data section, and may hold one
 * "__metadata__" object of string values.
 *
 * The reader is strict: the header length is within the file and at most
 * LA_ST_HEADER_MAX; the JSON is one object without duplicate keys; every
 * entry has exactly the three keys above with the right types; dtypes are
 * known; (end - begin) equals prod(shape) * itemsize without overflow; the
 * tensors, ordered by offset, cover the data section exactly (the first
 * starts at 0, each starts where the previous ends, the last ends at the
 * end of the file: no gap, no overlap, no trailing bytes). Tensors of
 * dtype F32, F16 and BF16 are converted to float; NaN and Inf are
 * rejected with the tensor's name and the element's index. Tensors of
 * other known dtypes (F64, integers, BOOL, F8) are checked as above but
 * not loaded (data NULL); a caller that needs one says so.
 *
 * Every error message starts with the file's path, and names the tensor
 * when one is at fault ("<path>: tensor 'h.0.ln_1.weight': ...").
 */
#ifndef LORALPHA_SAFETENSORS_H
#define LORALPHA_SAFETENSORS_H

#include "loralpha/common.h"

#include <jansson.h>
#include <stddef.h>

#define LA_ST_MAX_DIMS 8
#define LA_ST_HEADER_MAX (100u << 20) /* longest header accepted (bytes) */
#define LA_ST_NAME_MAX 1024           /* longest tensor name accepted */
#define LA_ST_MAX_TENSORS 100000

/* One tensor of a file. */
typedef struct la_st_tensor {
  char *name;                   /* owned, NUL-terminated */
  char dtype[12];               /* as in the file: "F32", "BF16", ... */
  int ndim;                     /* 0..LA_ST_MAX_DIMS (0: a scalar) */
  size_t shape[LA_ST_MAX_DIMS]; /* shape[0..ndim-1] */
  size_t count;                 /* prod(shape): 1 for a scalar */
  size_t begin, end;            /* byte range in the data section */
  float *data; /* (count) owned; NULL for dtypes that are not loaded */
} la_st_tensor;

/* A whole file, tensors in the header's order. */
typedef struct la_st_file {
  int n;
  la_st_tensor *t;  /* (n) owned */
  json_t *metadata; /* "__metadata__" (owned reference), or NULL */
} la_st_file;

/* Reads path into *out (zeroed first). On failure returns LA_EIO /
 * LA_EINVAL / LA_ENOMEM, fills err ("<path>: <problem>") and leaves *out
 * empty. A header that lies about sizes is found before any data buffer
 * is allocated. */
int la_st_load(const char *path, la_st_file *out, la_err *err);

/* The tensor called name, or NULL (borrowed from f). */
const la_st_tensor *la_st_find(const la_st_file *f, const char *name);

/* Releases everything f holds and zeroes it. Safe on a zeroed struct. */
void la_st_free(la_st_file *f);

/* One tensor to write: float data (borrowed) of the given shape. */
typedef struct la_st_out {
  const char *name;
  int ndim; /* 0..LA_ST_MAX_DIMS */
  size_t shape[LA_ST_MAX_DIMS];
  const float *data; /* (prod(shape)) */
} la_st_out;

/* Writes the n tensors as F32 in the given order, each right after the
 * previous, with metadata (an object of strings, borrowed; NULL: none) as
 * "__metadata__"; the header is padded with spaces to a multiple of 8
 * bytes, as the safetensors library writes it. Names must be unique,
 * non-empty and not "__metadata__". Returns 0 or LA_EINVAL / LA_EIO /
 * LA_ENOMEM with err filled; on a failure the partial file is removed. */
int la_st_save(const char *path, const la_st_out *t, int n,
               const json_t *metadata, la_err *err);

#endif
