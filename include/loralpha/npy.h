/*
 * npy.h: reading and writing NumPy .npy files (format versions 1.0, 2.0
 * and 3.0).
 *
 * Accepted on read: little-endian (or byte-order-free) dtypes '<f4', '<f8',
 * '<i4', '<i8', '<u2' (also '|i1', '|u1'), C order (fortran_order False), 1 to
 * 4 dimensions, every dimension > 0, a header that is a well-formed Python dict
 * literal with exactly the keys 'descr', 'fortran_order' and 'shape', and a
 * data section of exactly prod(shape) * itemsize bytes. Values are converted to
 * float (float32); f8 values that overflow float, NaN and Inf are rejected with
 * the index of the first bad element. Integer dtypes must be exactly
 * representable as float (|v| <= 2^24).
 *
 * Every error message starts with the file's path, so a user knows which of
 * many files is wrong.
 */
#ifndef LORALPHA_NPY_H
#define LORALPHA_NPY_H

#include "loralpha/common.h"

#include <stddef.h>
#include <stdio.h>

#define LA_NPY_MAX_DIMS 4

typedef struct la_npy {
  int ndim;                      /* 1..LA_NPY_MAX_DIMS */
  size_t shape[LA_NPY_MAX_DIMS]; /* shape[0..ndim-1] */
  size_t count;                  /* product of the shape */
  char kind;                     /* 'f' or 'i': the dtype's kind on disk */
  int itemsize;                  /* bytes per element on disk */
  float *data;                   /* (count) owned: release with la_npy_free */
} la_npy;

/* Reads path into *out (zeroed first). On failure returns LA_EIO / LA_EINVAL
 * / LA_ENOMEM, fills err ("<path>: <problem>") and leaves *out empty. */
int la_npy_load(const char *path, la_npy *out, la_err *err);

/* Releases out->data and zeroes *out. Safe on a zeroed or freed struct. */
void la_npy_free(la_npy *out);

/* Writes a '<f4' C-order array of the given shape (ndim 1..4). Returns 0 or
 * LA_EIO / LA_EINVAL with err filled. */
int la_npy_save_f32(const char *path, const float *data, int ndim,
                    const size_t *shape, la_err *err);

/* Writes count floats to f as little-endian float32 (the data of a '<f4'
 * .npy or an F32 safetensors tensor). Returns 0 or LA_EIO (errno says
 * why). */
int la_write_f32le(FILE *f, const float *data, size_t count);

/* Opens path for reading if it is a regular file this process may read
 * (*out: a new stream to fclose). A missing path, a directory, a FIFO
 * (opened without blocking), a device and a file without read permission
 * get one message, so the error tells nothing about a path its reader
 * cannot read (docs/security.md). Returns 0 or LA_EIO with err filled.
 * Every reader of a user's data file (.npy, safetensors, text) opens it
 * with this. */
int la_open_regular(const char *path, FILE **out, la_err *err);

#endif
