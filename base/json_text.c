/* json_text.c: JSON text with numbers in their shortest exact form (see
 * loralpha/json_text.h). */
#include "loralpha/json_text.h"

#include "loralpha/common.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void la_json_shortest(char *out, size_t n, double x) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, x);
    if (strtod(out, NULL) == x) return;
  }
}

/* A growing string; oom once an allocation failed. */
typedef struct text {
  char *p;
  size_t len, cap;
  int oom;
} text;

/* Appends n bytes. */
static void put(text *t, const char *s, size_t n) {
  if (t->oom) return;
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 256;
    char *p;
    while (cap < t->len + n + 1)
      cap *= 2;
    if ((p = realloc(t->p, cap)) == NULL) {
      t->oom = 1;
      return;
    }
    t->p = p, t->cap = cap;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
  t->p[t->len] = 0;
}

static void puts_(text *t, const char *s) {
  put(t, s, strlen(s));
}

/* A JSON string literal, escaped as jansson escapes it by default (quote,
 * backslash, control characters; UTF-8 kept). */
static void put_string(text *t, const char *s, size_t n) {
  char esc[8];
  size_t from = 0;
  put(t, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *e = c == '"'    ? "\\\""
                    : c == '\\' ? "\\\\"
                    : c == '\n' ? "\\n"
                    : c == '\t' ? "\\t"
                    : c == '\r' ? "\\r"
                    : c == '\b' ? "\\b"
                    : c == '\f' ? "\\f"
                                : NULL;
    if (e == NULL && c >= 0x20) continue;
    if (e == NULL) snprintf(esc, sizeof esc, "\\u%04x", c), e = esc;
    put(t, s + from, i - from);
    puts_(t, e);
    from = i + 1;
  }
  put(t, s + from, n - from);
  put(t, "\"", 1);
}

/* A real: shortest exact digits, with ".0" when they read as an integer. */
static void put_real(text *t, double x) {
  char s[40];
  la_json_shortest(s, sizeof s, x);
  puts_(t, s);
  if (strpbrk(s, ".eEn") == NULL) puts_(t, ".0"); /* n: nan, inf */
}

static void put_value(text *t, const json_t *v);

static void put_object(text *t, const json_t *v) {
  const char *k;
  json_t *m;
  int first = 1;
  put(t, "{", 1);
  json_object_foreach((json_t *)v, k, m) {
    if (!first) put(t, ",", 1);
    first = 0;
    put_string(t, k, strlen(k));
    put(t, ":", 1);
    put_value(t, m);
  }
  put(t, "}", 1);
}

static void put_array(text *t, const json_t *v) {
  size_t i;
  json_t *m;
  put(t, "[", 1);
  json_array_foreach(v, i, m) {
    if (i) put(t, ",", 1);
    put_value(t, m);
  }
  put(t, "]", 1);
}

static void put_value(text *t, const json_t *v) {
  char s[32];
  switch (json_typeof(v)) {
  case JSON_OBJECT: return put_object(t, v);
  case JSON_ARRAY: return put_array(t, v);
  case JSON_STRING:
    return put_string(t, json_string_value(v), json_string_length(v));
  case JSON_INTEGER:
    snprintf(s, sizeof s, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return puts_(t, s);
  case JSON_REAL: return put_real(t, json_real_value(v));
  case JSON_TRUE: return puts_(t, "true");
  case JSON_FALSE: return puts_(t, "false");
  case JSON_NULL: return puts_(t, "null");
  }
}

json_t *la_json_num(double x) {
  return isfinite(x) ? json_real(x) : json_null();
}

char *la_json_text(const json_t *v) {
  text t = {NULL, 0, 0, 0};
  if (v == NULL) return NULL;
  put_value(&t, v);
  if (!t.oom) return t.p;
  free(t.p);
  return NULL;
}

int la_json_print(const json_t *v, FILE *f) {
  char *s = la_json_text(v);
  int rc = 0;
  if (s == NULL) return LA_ENOMEM;
  if (fputs(s, f) == EOF || fputc('\n', f) == EOF) rc = LA_EIO;
  free(s);
  return rc;
}
