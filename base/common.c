/* common.c: la_strerror, la_errf, ids, time and UTF-8 (common.h). */
#include "loralpha/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *la_strerror(int rc) {
  switch (rc) {
  case LA_OK: return "ok";
  case LA_ENOMEM: return "out of memory";
  case LA_EINVAL: return "invalid input";
  case LA_EIO: return "input/output error";
  case LA_ENUMERIC: return "numerical routine failed";
  case LA_ESHAPE: return "shape mismatch";
  case LA_ENOTFOUND: return "not found";
  case LA_EPERM: return "not permitted";
  default: return "unknown error";
  }
}

int la_errf(la_err *err, int rc, const char *fmt, ...) {
  va_list ap;
  if (err == NULL) return rc;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return rc;
}

void la_appendf(char *out, size_t n, size_t *len, const char *fmt, ...) {
  va_list ap;
  int k;
  if (*len + 1 >= n) return;
  va_start(ap, fmt);
  k = vsnprintf(out + *len, n - *len, fmt, ap);
  va_end(ap);
  if (k > 0) *len = *len + (size_t)k < n ? *len + (size_t)k : n - 1;
}

double la_time_unix(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int64_t la_parse_id(const char *s) {
  int64_t v = 0;
  size_t n = strlen(s);
  if (n == 0 || n > 18) return -1; /* an id: none */
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1; /* an id: none */
    v = v * 10 + (s[i] - '0');
  }
  return v > 0 ? v : -1;
}

/* Length of the valid UTF-8 sequence at s (1..4; at most n bytes), or 0 if
 * it is not one: no overlong forms, no surrogates, nothing past U+10FFFF,
 * no NUL. */
static int utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0], cp;
  int len;
  if (c == 0) return 0;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07;
  else
    return 0;
  if ((size_t)len > n) return 0;
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    return 0;
  return len;
}

void la_utf8_sanitize(char *text, size_t n) {
  unsigned char *s = (unsigned char *)text;
  for (size_t i = 0; i < n;) {
    int len = utf8_len(s + i, n - i);
    if (len == 0)
      s[i++] = '?';
    else
      i += (size_t)len;
  }
}
