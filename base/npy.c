/*
 * npy.c: reading and writing NumPy .npy files (see loralpha/npy.h).
 *
 * A .npy file is: the magic "\x93NUMPY", a major and a minor version byte,
 * the header length (2 bytes little-endian in version 1.0, 4 bytes in 2.0
 * and 3.0), the header (a Python dict literal padded with spaces and a
 * final '\n'), then the raw array data.
 *
 * The header is parsed by a small tokenizer and a recursive-descent parser
 * that accept exactly the dict numpy writes plus harmless variations (any
 * key order, either quote style, whitespace and newlines anywhere between
 * tokens, a trailing comma, Python 2 "3L" integers). Nothing is evaluated.
 *
 * Data is decoded from little-endian bytes explicitly, so the code does not
 * depend on the host's byte order. It is read with one fread into a buffer
 * large enough for both the on-disk elements and the float32 result, then
 * converted in place.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fileno */
#endif

#include "loralpha/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_HEADER_MAX 65536             /* longest header accepted */
#define NPY_DIM_MAX ((uint64_t)1 << 31)  /* largest accepted dimension */
#define NPY_INT_EXACT ((int64_t)1 << 24) /* largest exactly-float integer */
#define NPY_ALIGN 64                     /* header alignment on write */
#define NPY_GROWTH_DIGITS 21             /* numpy's room to grow shape[0] */
#define NPY_TOK_MAX 32                   /* longest string token kept */
#define NPY_SAVE_CHUNK 4096              /* floats encoded per fwrite */
#define NPY_SUPPORTED "'<f4', '<f8', '<i4', '<i8', '<u2', '|i1' and '|u1'"

/* Token kinds produced by the header tokenizer. */
enum npy_tok_type { TK_END, TK_PUNCT, TK_STR, TK_INT, TK_NAME, TK_BAD };

/* One header token. */
typedef struct npy_tok {
  enum npy_tok_type type;
  unsigned char c;        /* TK_PUNCT, TK_BAD: the byte */
  char text[NPY_TOK_MAX]; /* TK_STR, TK_NAME, TK_INT: the text */
  int neg;                /* TK_INT: a leading '-' */
  uint64_t value;         /* TK_INT: magnitude, saturated above 2^31 */
} npy_tok;

/* Tokenizer state over the (not NUL-terminated) header text. */
typedef struct npy_lex {
  const char *s;
  size_t n, pos;
  npy_tok tok; /* the current token */
  const char *path;
  la_err *err;
} npy_lex;

/* What the header dict says, before validation of its meaning. */
typedef struct npy_header {
  char descr[NPY_TOK_MAX];
  int fortran;
  int ndim;
  size_t shape[LA_NPY_MAX_DIMS];
  unsigned seen; /* bit k set when key k of npy_keys was present */
} npy_header;

static const char *const npy_keys[3] = {"descr", "fortran_order", "shape"};

/* One supported dtype (without its byte-order character). */
typedef struct npy_dtype {
  const char *name;
  char kind; /* as reported in la_npy.kind */
  int itemsize;
  int is_unsigned;
} npy_dtype;

static const npy_dtype npy_dtypes[] = {
    {"f4", 'f', 4, 0}, {"f8", 'f', 8, 0}, {"i4", 'i', 4, 0}, {"i8", 'i', 8, 0},
    {"i1", 'i', 1, 0}, {"u1", 'i', 1, 1}, {"u2", 'i', 2, 1},
};

/* ---------------------------------------------------------------- bytes */

/* Reads a little-endian 32-bit unsigned integer. */
static uint32_t get_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

/* Reads a little-endian 64-bit unsigned integer. */
static uint64_t get_le64(const unsigned char *p) {
  return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* Writes a 32-bit unsigned integer little-endian. */
static void put_le32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v & 0xff);
  p[1] = (unsigned char)(v >> 8 & 0xff);
  p[2] = (unsigned char)(v >> 16 & 0xff);
  p[3] = (unsigned char)(v >> 24 & 0xff);
}

/* Formats a shape as Python does, "(3,)" or "(3, 4)", into buf. */
static const char *format_shape(char *buf, size_t n, const size_t *shape,
                                int ndim) {
  size_t used = 0;
  int d, w;
  for (d = 0; d < ndim && used < n; d++) {
    w = snprintf(buf + used, n - used, "%s%zu", d ? ", " : "(", shape[d]);
    used += w > 0 ? (size_t)w : 0;
  }
  if (used < n) snprintf(buf + used, n - used, ndim == 1 ? ",)" : ")");
  return buf;
}

/* ------------------------------------------------------------ tokenizer */

/* Whitespace allowed between header tokens and as padding. */
static int is_space(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ASCII decimal digit. */
static int is_digit(int c) {
  return c >= '0' && c <= '9';
}

/* ASCII letter or underscore: starts or continues a name (True, False). */
static int is_alpha(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Lexes a quoted string: it must end on the same line, hold no escapes,
 * only printable ASCII, and be shorter than NPY_TOK_MAX. */
static int lex_string(npy_lex *lx) {
  size_t start = lx->pos, end = start + 1, i;
  int c;
  while (end < lx->n && lx->s[end] != lx->s[start] && lx->s[end] != '\n')
    end++;
  if (end == lx->n || lx->s[end] == '\n')
    return la_errf(lx->err, LA_EINVAL,
                   "%s: bad header: unterminated string at byte %zu", lx->path,
                   start);
  for (i = start + 1; i < end; i++) {
    c = (unsigned char)lx->s[i];
    if (c == '\\')
      return la_errf(lx->err, LA_EINVAL,
                     "%s: bad header: escape sequences in strings are not "
                     "supported (byte %zu)",
                     lx->path, i);
    if (c < 0x20 || c >= 0x7f)
      return la_errf(lx->err, LA_EINVAL,
                     "%s: bad header: byte 0x%02x inside a string", lx->path,
                     (unsigned)c);
  }
  if (end - start - 1 >= NPY_TOK_MAX)
    return la_errf(lx->err, LA_EINVAL,
                   "%s: bad header: string at byte %zu is too long", lx->path,
                   start);
  memcpy(lx->tok.text, lx->s + start + 1, end - start - 1);
  lx->tok.type = TK_STR;
  lx->pos = end + 1;
  return 0;
}

/* Lexes an optionally negative decimal integer with an optional Python 2
 * 'L' suffix. The magnitude saturates just above 2^31 (no overflow); the
 * text keeps the first digits for messages. */
static void lex_int(npy_lex *lx) {
  npy_tok *t = &lx->tok;
  size_t len = 0;
  int c;
  if (lx->s[lx->pos] == '-') {
    t->neg = 1;
    lx->pos++;
  }
  if (lx->pos == lx->n || !is_digit((unsigned char)lx->s[lx->pos])) {
    t->type = TK_BAD;
    t->c = '-';
    return;
  }
  t->type = TK_INT;
  while (lx->pos < lx->n && is_digit(c = (unsigned char)lx->s[lx->pos])) {
    if (len + 1 < NPY_TOK_MAX)
      t->text[len++] = (char)c;
    else
      memcpy(t->text + NPY_TOK_MAX - 4, "...", 4);
    if (t->value <= NPY_DIM_MAX) t->value = t->value * 10 + (uint64_t)(c - '0');
    lx->pos++;
  }
  if (lx->pos < lx->n && (lx->s[lx->pos] == 'L' || lx->s[lx->pos] == 'l'))
    lx->pos++;
}

/* Lexes a name such as True or False (longer names are truncated). */
static void lex_name(npy_lex *lx) {
  npy_tok *t = &lx->tok;
  size_t len = 0;
  int c;
  t->type = TK_NAME;
  while (lx->pos < lx->n &&
         (is_alpha(c = (unsigned char)lx->s[lx->pos]) || is_digit(c))) {
    if (len + 1 < NPY_TOK_MAX) t->text[len++] = (char)c;
    lx->pos++;
  }
}

/* Advances to the next token (TK_END at the end of the header). Returns 0
 * or LA_EINVAL for a malformed string. */
static int lex_next(npy_lex *lx) {
  npy_tok *t = &lx->tok;
  int c;
  memset(t, 0, sizeof *t);
  while (lx->pos < lx->n && is_space((unsigned char)lx->s[lx->pos]))
    lx->pos++;
  if (lx->pos == lx->n) {
    t->type = TK_END;
    return 0;
  }
  c = (unsigned char)lx->s[lx->pos];
  if (c == '\'' || c == '"') return lex_string(lx);
  if (c == '-' || is_digit(c))
    lex_int(lx);
  else if (is_alpha(c))
    lex_name(lx);
  else {
    t->c = (unsigned char)c;
    t->type = c != 0 && strchr("{}()[]:,", c) ? TK_PUNCT : TK_BAD;
    lx->pos++;
  }
  return 0;
}

/* Describes the current token for an error message. */
static const char *tok_desc(const npy_tok *t, char *buf, size_t n) {
  switch (t->type) {
  case TK_END: return "the end of the header";
  case TK_PUNCT: snprintf(buf, n, "'%c'", t->c); break;
  case TK_STR: snprintf(buf, n, "the string '%s'", t->text); break;
  case TK_INT: snprintf(buf, n, "%s%s", t->neg ? "-" : "", t->text); break;
  case TK_NAME: snprintf(buf, n, "'%s'", t->text); break;
  case TK_BAD:
    if (t->c >= 0x20 && t->c < 0x7f)
      snprintf(buf, n, "'%c'", t->c);
    else
      snprintf(buf, n, "byte 0x%02x", (unsigned)t->c);
    break;
  }
  return buf;
}

/* ---------------------------------------------------------------- parser */

/* True when t is the punctuation character c. */
static int is_punct(const npy_tok *t, char c) {
  return t->type == TK_PUNCT && t->c == (unsigned char)c;
}

/* Reports "expected <what>, found <current token>". */
static int expected(npy_lex *lx, const char *what) {
  char d[64];
  return la_errf(lx->err, LA_EINVAL, "%s: bad header: expected %s, found %s",
                 lx->path, what, tok_desc(&lx->tok, d, sizeof d));
}

/* Parses the value of 'descr': a dtype string (checked later). */
static int parse_descr(npy_lex *lx, npy_header *h) {
  if (is_punct(&lx->tok, '['))
    return la_errf(lx->err, LA_EINVAL,
                   "%s: structured dtype (a list in 'descr') is unsupported; "
                   "save a plain numeric array",
                   lx->path);
  if (lx->tok.type != TK_STR)
    return expected(lx, "a dtype string such as '<f4' for 'descr'");
  memcpy(h->descr, lx->tok.text, sizeof h->descr);
  return lex_next(lx);
}

/* Parses the value of 'fortran_order': True or False. */
static int parse_fortran(npy_lex *lx, npy_header *h) {
  const npy_tok *t = &lx->tok;
  if (t->type == TK_NAME && strcmp(t->text, "True") == 0)
    h->fortran = 1;
  else if (t->type == TK_NAME && strcmp(t->text, "False") == 0)
    h->fortran = 0;
  else
    return expected(lx, "True or False for 'fortran_order'");
  return lex_next(lx);
}

/* Checks the integer token that is dimension number d (0-based) of the
 * shape and stores it when d is within LA_NPY_MAX_DIMS. */
static int take_dim(npy_lex *lx, npy_header *h, int d) {
  const npy_tok *t = &lx->tok;
  if (t->neg)
    return la_errf(lx->err, LA_EINVAL,
                   "%s: shape dimension %d is -%s; dimensions must be "
                   "positive",
                   lx->path, d, t->text);
  if (t->value == 0)
    return la_errf(lx->err, LA_EINVAL,
                   "%s: shape dimension %d is 0; empty arrays are unsupported",
                   lx->path, d);
  if (t->value > NPY_DIM_MAX)
    return la_errf(lx->err, LA_EINVAL,
                   "%s: shape dimension %d is %s, above the limit 2^31",
                   lx->path, d, t->text);
  if (d < LA_NPY_MAX_DIMS) h->shape[d] = (size_t)t->value;
  return 0;
}

/* Checks the number of dimensions parsed from the shape tuple. */
static int check_ndim(npy_lex *lx, int n, int comma) {
  if (n == 0)
    return la_errf(lx->err, LA_EINVAL,
                   "%s: shape () is a 0-d scalar; 1 to %d dimensions are "
                   "required (save np.atleast_1d(a))",
                   lx->path, LA_NPY_MAX_DIMS);
  if (n == 1 && !comma)
    return la_errf(lx->err, LA_EINVAL,
                   "%s: bad header: shape is not a tuple (a 1-d shape is "
                   "written (n,))",
                   lx->path);
  if (n > LA_NPY_MAX_DIMS)
    return la_errf(lx->err, LA_EINVAL,
                   "%s: shape has %d dimensions; at most %d are supported",
                   lx->path, n, LA_NPY_MAX_DIMS);
  return 0;
}

/* Parses the value of 'shape': a tuple of positive integers. */
static int parse_shape(npy_lex *lx, npy_header *h) {
  int rc, n = 0, comma = 0;
  if (!is_punct(&lx->tok, '('))
    return expected(lx, "a tuple such as (3, 4) for 'shape'");
  if ((rc = lex_next(lx))) return rc;
  while (!is_punct(&lx->tok, ')')) {
    if (lx->tok.type != TK_INT)
      return expected(lx, "an integer or ')' in 'shape'");
    if ((rc = take_dim(lx, h, n))) return rc;
    if (n < INT32_MAX) n++;
    if ((rc = lex_next(lx))) return rc;
    comma = is_punct(&lx->tok, ',');
    if (comma && (rc = lex_next(lx))) return rc;
    if (!comma && !is_punct(&lx->tok, ')'))
      return expected(lx, "',' or ')' in 'shape'");
  }
  if ((rc = check_ndim(lx, n, comma))) return rc;
  h->ndim = n;
  return lex_next(lx);
}

/* Parses one "key: value" entry; the current token is the key. */
static int parse_entry(npy_lex *lx, npy_header *h) {
  int k, rc;
  if (lx->tok.type != TK_STR) return expected(lx, "a quoted key or '}'");
  for (k = 0; k < 3 && strcmp(lx->tok.text, npy_keys[k]) != 0; k++) {
  }
  if (k == 3)
    return la_errf(lx->err, LA_EINVAL,
                   "%s: bad header: unknown key '%s' (the keys are 'descr', "
                   "'fortran_order' and 'shape')",
                   lx->path, lx->tok.text);
  if (h->seen & (1u << k))
    return la_errf(lx->err, LA_EINVAL, "%s: bad header: duplicate key '%s'",
                   lx->path, npy_keys[k]);
  h->seen |= 1u << k;
  if ((rc = lex_next(lx))) return rc;
  if (!is_punct(&lx->tok, ':')) return expected(lx, "':' after the key");
  if ((rc = lex_next(lx))) return rc;
  if (k == 0) return parse_descr(lx, h);
  if (k == 1) return parse_fortran(lx, h);
  return parse_shape(lx, h);
}

/* Parses the whole header text: one dict, then only whitespace. */
static int parse_header(const char *path, const char *s, size_t n,
                        npy_header *h, la_err *err) {
  npy_lex lx = {.s = s, .n = n, .path = path, .err = err};
  int rc, k;
  memset(h, 0, sizeof *h);
  if ((rc = lex_next(&lx))) return rc;
  if (!is_punct(&lx.tok, '{'))
    return expected(&lx, "a Python dict literal starting with '{'");
  if ((rc = lex_next(&lx))) return rc;
  while (!is_punct(&lx.tok, '}')) {
    if ((rc = parse_entry(&lx, h))) return rc;
    if (is_punct(&lx.tok, ','))
      rc = lex_next(&lx);
    else if (!is_punct(&lx.tok, '}'))
      return expected(&lx, "',' or '}' after a dict entry");
    if (rc) return rc;
  }
  if ((rc = lex_next(&lx))) return rc;
  if (lx.tok.type != TK_END)
    return expected(&lx, "only whitespace after the dict's closing '}'");
  for (k = 0; k < 3; k++)
    if (!(h->seen & (1u << k)))
      return la_errf(err, LA_EINVAL, "%s: bad header: missing key '%s'", path,
                     npy_keys[k]);
  return 0;
}

/* ------------------------------------------------------------ semantics */

/* Words for a dtype kind character, for messages about unsupported ones. */
static const char *kind_name(char c) {
  switch (c) {
  case 'b': return "boolean ";
  case 'c': return "complex ";
  case 'f': return "floating-point ";
  case 'i': return "signed integer ";
  case 'u': return "unsigned integer ";
  case 'U':
  case 'S':
  case 'a': return "string ";
  case 'O': return "Python object ";
  case 'V': return "void/structured ";
  case 'M':
  case 'm': return "date/time ";
  default: return "";
  }
}

/* True when byte-order character order is acceptable for the item size:
 * '<' always; for 1-byte dtypes the order is irrelevant, so '|' and '>'
 * are accepted too. */
static int order_ok(char order, int itemsize) {
  return order == '<' || (itemsize == 1 && (order == '|' || order == '>'));
}

/* Maps a descr such as '<f4' to a supported dtype, or explains why not. */
static int parse_dtype(const char *path, const char *descr,
                       const npy_dtype **out, la_err *err) {
  size_t i, n = sizeof npy_dtypes / sizeof npy_dtypes[0];
  char order = descr[0];
  const char *body = order ? descr + 1 : descr;
  const npy_dtype *dt = NULL;
  for (i = 0; i < n && dt == NULL; i++)
    if (strcmp(body, npy_dtypes[i].name) == 0) dt = &npy_dtypes[i];
  if (dt != NULL && dt->itemsize > 1 && order == '>')
    return la_errf(err, LA_EINVAL,
                   "%s: big-endian dtype '%s' is unsupported; convert with "
                   "a.astype('<%s') before np.save",
                   path, descr, body);
  if (dt == NULL || !order_ok(order, dt->itemsize))
    return la_errf(err, LA_EINVAL,
                   "%s: unsupported %sdtype '%s' (supported: " NPY_SUPPORTED
                   ")",
                   path, kind_name(body[0]), descr);
  *out = dt;
  return 0;
}

/* Validates the parsed header and fills a's dtype, shape and count; also
 * checks that the buffer size (count * max(itemsize, 4)) fits a size_t. */
static int header_to_array(const char *path, const npy_header *h, la_npy *a,
                           const npy_dtype **dt, la_err *err) {
  char sbuf[128];
  size_t count = 1, elem;
  int d, rc = parse_dtype(path, h->descr, dt, err);
  if (rc) return rc;
  if (h->fortran)
    return la_errf(err, LA_EINVAL,
                   "%s: fortran_order is True (column-major data) which is "
                   "unsupported; save with np.save(path, "
                   "np.ascontiguousarray(a))",
                   path);
  elem = (*dt)->itemsize > 4 ? (size_t)(*dt)->itemsize : 4;
  for (d = 0; d < h->ndim; d++) {
    if (count > SIZE_MAX / h->shape[d] / elem)
      return la_errf(err, LA_EINVAL,
                     "%s: shape %s is too large: the byte count overflows",
                     path, format_shape(sbuf, sizeof sbuf, h->shape, h->ndim));
    count *= h->shape[d];
  }
  a->ndim = h->ndim;
  memcpy(a->shape, h->shape, sizeof a->shape);
  a->count = count;
  a->kind = (*dt)->kind;
  a->itemsize = (*dt)->itemsize;
  return 0;
}

/* ------------------------------------------------------------------ I/O */

/* Reports a read error (errno set by the failed fread). */
static int read_error(const char *path, la_err *err) {
  return la_errf(err, LA_EIO, "%s: read error: %s", path, strerror(errno));
}

/* Reads the magic, version and header length. Sets *hlen to the header
 * length and *start to the offset of the data section. */
static int read_preamble(FILE *f, const char *path, size_t *hlen, size_t *start,
                         la_err *err) {
  unsigned char b[12] = {0};
  size_t n = fread(b, 1, 8, f), lenbytes;
  if (ferror(f)) return read_error(path, err);
  if (n == 0)
    return la_errf(err, LA_EINVAL, "%s: file is empty (not a .npy file)", path);
  if (memcmp(b, NPY_MAGIC, n < NPY_MAGIC_LEN ? n : NPY_MAGIC_LEN) != 0)
    return la_errf(err, LA_EINVAL,
                   "%s: bad magic: not a .npy file (it must start with "
                   "\\x93NUMPY)",
                   path);
  if (n == 8 && (b[6] < 1 || b[6] > 3 || b[7] != 0))
    return la_errf(err, LA_EINVAL,
                   "%s: unsupported .npy format version %u.%u (supported: "
                   "1.0, 2.0, 3.0)",
                   path, (unsigned)b[6], (unsigned)b[7]);
  lenbytes = b[6] == 1 ? 2 : 4;
  if (n == 8) n += fread(b + 8, 1, lenbytes, f);
  if (ferror(f)) return read_error(path, err);
  if (n < 8 + lenbytes)
    return la_errf(err, LA_EINVAL,
                   "%s: truncated preamble: the file has only %zu bytes", path,
                   n);
  *hlen = lenbytes == 2 ? (size_t)b[8] | (size_t)b[9] << 8 : get_le32(b + 8);
  *start = 8 + lenbytes + *hlen;
  if (*hlen > NPY_HEADER_MAX)
    return la_errf(err, LA_EINVAL,
                   "%s: header length %zu exceeds the limit of %d bytes", path,
                   *hlen, NPY_HEADER_MAX);
  return 0;
}

/* Reads hlen header bytes and parses them into *h. */
static int read_header(FILE *f, const char *path, size_t hlen, npy_header *h,
                       la_err *err) {
  char *text = malloc(hlen + 1);
  size_t n;
  int rc;
  if (text == NULL)
    return la_errf(err, LA_ENOMEM, "%s: out of memory reading the header",
                   path);
  n = fread(text, 1, hlen, f);
  if (ferror(f))
    rc = read_error(path, err);
  else if (n < hlen)
    rc = la_errf(err, LA_EINVAL,
                 "%s: truncated header: expected %zu bytes, found %zu", path,
                 hlen, n);
  else
    rc = parse_header(path, text, hlen, h, err);
  free(text);
  return rc;
}

/* Reports a data section of the wrong size: found bytes where nbytes were
 * expected (found == SIZE_MAX: more than expected, amount unknown). ctx
 * names the shape and dtype. */
static int size_error(const char *path, size_t nbytes, uintmax_t found,
                      const char *ctx, la_err *err) {
  if (found < nbytes)
    return la_errf(err, LA_EINVAL,
                   "%s: truncated data: expected %zu bytes, found %ju (%s)",
                   path, nbytes, found, ctx);
  if (found == UINTMAX_MAX)
    return la_errf(err, LA_EINVAL,
                   "%s: trailing bytes after the %zu bytes of data (%s)", path,
                   nbytes, ctx);
  return la_errf(err, LA_EINVAL,
                 "%s: %ju trailing bytes after the %zu bytes of data (%s)",
                 path, found - nbytes, nbytes, ctx);
}

/* For a regular file, checks the data size against the file size before
 * anything is allocated (a lying header must not cause a huge malloc). */
static int check_file_size(FILE *f, const char *path, size_t start,
                           size_t nbytes, const char *ctx, la_err *err) {
  struct stat st;
  uintmax_t size, avail;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
    return 0; /* unknown: read_data finds out */
  size = (uintmax_t)st.st_size;
  avail = size > start ? size - start : 0;
  if (avail != nbytes) return size_error(path, nbytes, avail, ctx, err);
  return 0;
}

/* Allocates bufsize (>= nbytes) bytes and reads exactly nbytes of data
 * into them with one fread; the stream must then be at end of file. */
static int read_data(FILE *f, const char *path, size_t nbytes, size_t bufsize,
                     const char *ctx, unsigned char **out, la_err *err) {
  unsigned char *buf = malloc(bufsize);
  size_t n;
  int rc = 0;
  if (buf == NULL)
    return la_errf(err, LA_ENOMEM,
                   "%s: out of memory allocating %zu bytes for the data (%s)",
                   path, bufsize, ctx);
  n = fread(buf, 1, nbytes, f);
  if (ferror(f))
    rc = read_error(path, err);
  else if (n < nbytes)
    rc = size_error(path, nbytes, n, ctx, err);
  else if (fgetc(f) != EOF)
    rc = size_error(path, nbytes, UINTMAX_MAX, ctx, err);
  else if (ferror(f))
    rc = read_error(path, err);
  if (rc)
    free(buf);
  else
    *out = buf;
  return rc;
}

/* ----------------------------------------------------------- conversion */

/* Formats flat index i of array a as a C-order multi-index "[1, 2]". */
static const char *format_index(char *buf, size_t n, const la_npy *a,
                                size_t i) {
  size_t idx[LA_NPY_MAX_DIMS];
  int d;
  for (d = a->ndim - 1; d >= 0; d--) {
    idx[d] = i % a->shape[d];
    i /= a->shape[d];
  }
  format_shape(buf, n, idx, a->ndim);
  buf[0] = '[';
  if (a->ndim == 1)
    memcpy(buf + strlen(buf) - 2, "]", 2);
  else
    buf[strlen(buf) - 1] = ']';
  return buf;
}

/* Reports a value that cannot be accepted at flat index i. */
static int bad_element(const char *path, const la_npy *a, size_t i,
                       const char *what, la_err *err) {
  char ibuf[128];
  return la_errf(err, LA_EINVAL, "%s: element %s (flat index %zu) %s", path,
                 format_index(ibuf, sizeof ibuf, a, i), i, what);
}

/* Reports a NaN or an infinity at flat index i. */
static int non_finite(const char *path, const la_npy *a, size_t i, double v,
                      la_err *err) {
  const char *what = isnan(v) ? "is NaN; NaN and Inf values are not accepted"
                     : v > 0  ? "is Inf; NaN and Inf values are not accepted"
                              : "is -Inf; NaN and Inf values are not accepted";
  return bad_element(path, a, i, what, err);
}

/* Converts '<f4' in place: decodes little-endian, rejects NaN/Inf. */
static int convert_f4(const char *path, const la_npy *a, unsigned char *buf,
                      la_err *err) {
  size_t i;
  uint32_t u;
  float v;
  for (i = 0; i < a->count; i++) {
    u = get_le32(buf + 4 * i);
    memcpy(&v, &u, sizeof v);
    if (!isfinite(v)) return non_finite(path, a, i, v, err);
    memcpy(buf + 4 * i, &v, sizeof v);
  }
  return 0;
}

/* Converts '<f8' to float in place (front to back: element i's float is
 * written over bytes that element i itself occupied). */
static int convert_f8(const char *path, const la_npy *a, unsigned char *buf,
                      la_err *err) {
  char what[128];
  size_t i;
  uint64_t u;
  double v;
  float x;
  for (i = 0; i < a->count; i++) {
    u = get_le64(buf + 8 * i);
    memcpy(&v, &u, sizeof v);
    if (!isfinite(v)) return non_finite(path, a, i, v, err);
    if (fabs(v) > FLT_MAX) {
      snprintf(what, sizeof what,
               "value %g is outside the float32 range (|v| <= %g)", v,
               (double)FLT_MAX);
      return bad_element(path, a, i, what, err);
    }
    x = (float)v;
    memcpy(buf + 4 * i, &x, sizeof x);
  }
  return 0;
}

/* Decodes one little-endian integer element of the given dtype. */
static int64_t load_int(const unsigned char *p, const npy_dtype *dt) {
  uint64_t u;
  if (dt->itemsize == 1)
    return dt->is_unsigned || p[0] < 0x80 ? (int64_t)p[0] : (int64_t)p[0] - 256;
  if (dt->itemsize == 2) return (int64_t)((uint32_t)p[0] | (uint32_t)p[1] << 8);
  if (dt->itemsize == 4) {
    u = get_le32(p);
    return u < 0x80000000u ? (int64_t)u : (int64_t)u - ((int64_t)1 << 32);
  }
  u = get_le64(p);
  return u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* Converts an integer dtype to float in place, rejecting |v| > 2^24. Wide
 * items convert front to back, 1-byte items back to front, so no element
 * is overwritten before it is read (1-byte items can never be rejected,
 * so the first bad element is still the one reported). */
static int convert_int(const char *path, const la_npy *a, const npy_dtype *dt,
                       unsigned char *buf, la_err *err) {
  char what[128];
  size_t k, i, sz = (size_t)dt->itemsize;
  int64_t v;
  float x;
  for (k = 0; k < a->count; k++) {
    i = sz < 4 ? a->count - 1 - k : k;
    v = load_int(buf + sz * i, dt);
    if (v > NPY_INT_EXACT || v < -NPY_INT_EXACT) {
      snprintf(what, sizeof what,
               "value %lld is not exactly representable as float32 (|v| "
               "must be <= 2^24)",
               (long long)v);
      return bad_element(path, a, i, what, err);
    }
    x = (float)v;
    memcpy(buf + 4 * i, &x, sizeof x);
  }
  return 0;
}

/* Converts the raw data in buf to float32 in place. */
static int convert(const char *path, const la_npy *a, const npy_dtype *dt,
                   unsigned char *buf, la_err *err) {
  if (dt->kind == 'f' && dt->itemsize == 4)
    return convert_f4(path, a, buf, err);
  if (dt->kind == 'f') return convert_f8(path, a, buf, err);
  return convert_int(path, a, dt, buf, err);
}

/* Reads everything after fopen: preamble, header, data, conversion. */
static int load_stream(FILE *f, const char *path, la_npy *a, la_err *err) {
  const npy_dtype *dt = NULL;
  unsigned char *buf = NULL;
  char ctx[192], sbuf[128];
  size_t hlen = 0, start = 0, nbytes, bufsize;
  npy_header h;
  int rc = read_preamble(f, path, &hlen, &start, err);
  if (rc == 0) rc = read_header(f, path, hlen, &h, err);
  if (rc == 0) rc = header_to_array(path, &h, a, &dt, err);
  if (rc) goto cleanup;
  nbytes = a->count * (size_t)a->itemsize;
  bufsize = a->count * (a->itemsize > 4 ? (size_t)a->itemsize : 4);
  snprintf(ctx, sizeof ctx, "shape %s, dtype '%s'",
           format_shape(sbuf, sizeof sbuf, a->shape, a->ndim), h.descr);
  rc = check_file_size(f, path, start, nbytes, ctx, err);
  if (rc == 0) rc = read_data(f, path, nbytes, bufsize, ctx, &buf, err);
  if (rc == 0) rc = convert(path, a, dt, buf, err);
  if (rc) goto cleanup;
  if (bufsize > a->count * sizeof(float)) {
    float *shrunk = realloc(buf, a->count * sizeof(float));
    if (shrunk != NULL) buf = (unsigned char *)shrunk;
  }
  a->data = (float *)(void *)buf;
  buf = NULL;
cleanup:
  free(buf);
  return rc;
}

/* Public: see npy.h. */
int la_open_regular(const char *path, FILE **out, la_err *err) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  *out = NULL;
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      (*out = fdopen(fd, "rb")) != NULL)
    return 0;
  if (fd >= 0) close(fd);
  return la_errf(err, LA_EIO,
                 "%s: cannot be read (it must be an existing regular file "
                 "that uid %ld may read)",
                 path, (long)geteuid());
}

/* Public: see npy.h. */
int la_npy_load(const char *path, la_npy *out, la_err *err) {
  la_npy a;
  FILE *f;
  int rc;
  if (out == NULL || path == NULL)
    return la_errf(err, LA_EINVAL, "%s: la_npy_load: NULL argument",
                   path ? path : "(null)");
  memset(out, 0, sizeof *out);
  memset(&a, 0, sizeof a);
  if ((rc = la_open_regular(path, &f, err)) != 0) return rc;
  rc = load_stream(f, path, &a, err);
  fclose(f); /* read-only: a close error cannot lose data */
  if (rc == 0) *out = a;
  return rc;
}

/* Public: see npy.h. */
void la_npy_free(la_npy *out) {
  if (out == NULL) return;
  free(out->data);
  memset(out, 0, sizeof *out);
}

/* ---------------------------------------------------------------- write */

/* Validates save arguments and computes the element count. */
static int check_save_args(const char *path, const float *data, int ndim,
                           const size_t *shape, size_t *count, la_err *err) {
  int d;
  if (data == NULL || shape == NULL)
    return la_errf(err, LA_EINVAL, "%s: la_npy_save_f32: NULL argument", path);
  if (ndim < 1 || ndim > LA_NPY_MAX_DIMS)
    return la_errf(err, LA_EINVAL,
                   "%s: cannot save %d dimensions (1 to %d are supported)",
                   path, ndim, LA_NPY_MAX_DIMS);
  *count = 1;
  for (d = 0; d < ndim; d++) {
    if (shape[d] == 0 || shape[d] > NPY_DIM_MAX)
      return la_errf(err, LA_EINVAL,
                     "%s: cannot save shape dimension %d = %zu (must be 1 to "
                     "2^31)",
                     path, d, shape[d]);
    if (*count > SIZE_MAX / sizeof(float) / shape[d])
      return la_errf(err, LA_EINVAL,
                     "%s: cannot save: the byte count overflows", path);
    *count *= shape[d];
  }
  return 0;
}

/* Builds the version 1.0 preamble and header exactly as numpy (>= 1.24)
 * writes it: the dict, room for the first dimension to grow to
 * NPY_GROWTH_DIGITS digits, then spaces and '\n' so the total is a multiple
 * of NPY_ALIGN (a full NPY_ALIGN of padding when already aligned, as numpy
 * does). Returns the total length. buf must hold 256 bytes. */
static size_t build_header(unsigned char *buf, int ndim, const size_t *shape) {
  char sbuf[128], first[24];
  size_t len, pad;
  int w = snprintf((char *)buf + 10, 128,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                   format_shape(sbuf, sizeof sbuf, shape, ndim));
  len = 10 + (w > 0 ? (size_t)w : 0);
  w = snprintf(first, sizeof first, "%zu", shape[0]);
  pad = NPY_GROWTH_DIGITS - (w > 0 ? (size_t)w : 0);
  memset(buf + len, ' ', pad);
  len += pad;
  pad = NPY_ALIGN - (len + 1) % NPY_ALIGN;
  memset(buf + len, ' ', pad);
  buf[len + pad] = '\n';
  len += pad + 1;
  memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
  buf[6] = 1;
  buf[7] = 0;
  buf[8] = (unsigned char)((len - 10) & 0xff);
  buf[9] = (unsigned char)((len - 10) >> 8);
  return len;
}

/* Public: see npy.h. NPY_SAVE_CHUNK floats per fwrite. */
int la_write_f32le(FILE *f, const float *data, size_t count) {
  unsigned char chunk[NPY_SAVE_CHUNK * 4];
  size_t done, n, i;
  uint32_t u;
  for (done = 0; done < count; done += n) {
    n = count - done < NPY_SAVE_CHUNK ? count - done : NPY_SAVE_CHUNK;
    for (i = 0; i < n; i++) {
      memcpy(&u, data + done + i, sizeof u);
      put_le32(chunk + 4 * i, u);
    }
    if (fwrite(chunk, 4, n, f) != n) return LA_EIO;
  }
  return 0;
}

/* Public: see npy.h. On a write failure the partial file is removed. */
int la_npy_save_f32(const char *path, const float *data, int ndim,
                    const size_t *shape, la_err *err) {
  unsigned char hdr[256];
  size_t count = 0, hlen;
  FILE *f;
  int rc, fail;
  if (path == NULL)
    return la_errf(err, LA_EINVAL, "(null): la_npy_save_f32: NULL path");
  rc = check_save_args(path, data, ndim, shape, &count, err);
  if (rc) return rc;
  hlen = build_header(hdr, ndim, shape);
  f = fopen(path, "wb");
  if (f == NULL)
    return la_errf(err, LA_EIO, "%s: cannot create: %s", path, strerror(errno));
  fail = fwrite(hdr, 1, hlen, f) != hlen || la_write_f32le(f, data, count) != 0;
  fail = fclose(f) != 0 || fail;
  if (!fail) return 0;
  rc = la_errf(err, LA_EIO, "%s: write failed: %s", path, strerror(errno));
  remove(path);
  return rc;
}
