/*
 * common.h: error model and limits shared by every loralpha module.
 *
 * Functions return 0 on success or a negative LA_E* code. Where a caller
 * needs words, the function also fills an la_err (a fixed buffer, so
 * reporting an error never allocates). A bare -1 is never an error code:
 * it is LA_ENOMEM. A function whose result is a count, an index, an id or
 * a descriptor may return -1 for "none"; one with a true/false meaning
 * returns 1 or 0; its comment says so. (scripts/check-errors.sh enforces
 * the first rule.)
 */
#ifndef LORALPHA_COMMON_H
#define LORALPHA_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define LA_MAX_LAYERS 8    /* most adapted layers in one network */
#define LA_MAX_WIDTH 65536 /* widest layer accepted from any input */
#define LA_PI 3.14159265358979323846
#define LA_SHA256_HEX 64 /* a SHA-256 digest as hex digits */

enum {
  LA_OK = 0,
  LA_ENOMEM = -1,    /* allocation failed */
  LA_EINVAL = -2,    /* invalid input (config field, file contents) */
  LA_EIO = -3,       /* a file, socket, database or system call failed */
  LA_ENUMERIC = -4,  /* a numerical routine (LAPACK) failed */
  LA_ESHAPE = -5,    /* array shapes disagree */
  LA_ENOTFOUND = -6, /* no such thing (sweep, run, process) */
  LA_EPERM = -7,     /* not permitted: no identity, or not allowed */
};

/* A fixed-size error message; .msg is always NUL-terminated. */
typedef struct la_err {
  char msg[512];
} la_err;

/* Words for an LA_E* code (static string, never NULL). */
const char *la_strerror(int rc);

/* printf-style: set err->msg (err may be NULL). Returns rc unchanged, so
 * `return la_errf(err, LA_EINVAL, "...")` reads naturally. */
int la_errf(la_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* printf-style: appends to out (size n, holding *len bytes), truncating
 * at n - 1; *len follows what out holds. */
void la_appendf(char *out, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A positive decimal id of at most 18 digits (a path segment, a file
 * name), or -1 when s is not one (an id, not an error code). */
int64_t la_parse_id(const char *s);

/* Replaces every byte of text[0..n) that is not part of valid UTF-8 (and
 * every NUL) with '?', so that text quoting outside bytes is still a JSON
 * string. */
void la_utf8_sanitize(char *text, size_t n);

/* Wall-clock time as Unix seconds. */
double la_time_unix(void);

#endif
