/* fanout.c: a pack's records sent run by run (see fanout.h). */
#define _GNU_SOURCE /* fopencookie */
#include "fanout.h"

#include "remote.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct la_fanout {
  int n;
  int64_t *ids;    /* (n) */
  la_remote **rem; /* (n) */
  FILE **streams;  /* (n) each reporter's stream */
  char *line;      /* a partial line */
  size_t len, cap;
  FILE *stream; /* the pack's */
};

int la_fanout_subst(const char *tmpl, int64_t run_id, char *out, size_t size,
                    la_err *err) {
  char id[24];
  size_t used = 0, k, n;
  snprintf(id, sizeof id, "%lld", (long long)run_id);
  k = strlen(id);
  for (const char *p = tmpl; *p; p += n) {
    const char *piece = strncmp(p, "{run}", 5) == 0 ? id : p;
    size_t take = piece == id ? k : 1;
    n = piece == id ? 5 : 1;
    if (used + take >= size)
      return la_errf(err, LA_EINVAL, "%.200s: too long with run %lld", tmpl,
                     (long long)run_id);
    memcpy(out + used, piece, take);
    used += take;
  }
  out[used] = '\0';
  return 0;
}

/* One whole line to the reporter of the run it names, or to all. */
static void route(la_fanout *f, const char *p, size_t n) {
  json_t *rec = json_loadb(p, n, 0, NULL);
  const json_t *v = json_object_get(rec, "run_id");
  for (int i = 0; i < f->n; i++)
    if (!json_is_integer(v) || json_integer_value(v) == f->ids[i]) {
      fwrite(p, 1, n, f->streams[i]);
      fputc('\n', f->streams[i]);
    }
  json_decref(rec);
}

static ssize_t fan_write(void *c, const char *buf, size_t size) {
  la_fanout *f = c;
  size_t i = 0;
  while (i < size) {
    const char *nl = memchr(buf + i, '\n', size - i);
    size_t take = nl ? (size_t)(nl - (buf + i)) : size - i;
    if (f->len == 0 && nl) {
      route(f, buf + i, take); /* the usual case: a whole line, no copy */
    } else {
      if (f->len + take + 1 > f->cap) {
        size_t cap = (f->len + take + 1) * 2;
        char *q = realloc(f->line, cap);
        if (q == NULL) return -1; /* fopencookie: a write error */
        f->line = q, f->cap = cap;
      }
      memcpy(f->line + f->len, buf + i, take);
      f->len += take;
      if (nl) {
        route(f, f->line, f->len);
        f->len = 0;
      }
    }
    i += take + (nl != NULL);
  }
  return (ssize_t)size;
}

static int fan_close(void *c) {
  la_fanout *f = c;
  if (f->len > 0) route(f, f->line, f->len); /* an unterminated last line */
  f->len = 0;
  return 0;
}

/* Closes the reporters that are open and frees f. */
static int fanout_free(la_fanout *f, la_err *err) {
  int rc = 0;
  la_err e;
  for (int i = 0; i < f->n; i++)
    if (f->rem[i] != NULL && la_remote_close(f->rem[i], &e) != 0 && rc == 0) {
      rc = LA_EIO;
      *err = e;
    }
  free(f->ids), free(f->rem), free(f->streams), free(f->line), free(f);
  return rc;
}

int la_fanout_open(const char *url_tmpl, const char *token_tmpl, double retry_s,
                   const int64_t *ids, int n, la_fanout **out, FILE **stream,
                   la_err *err) {
  static const cookie_io_functions_t io = {NULL, fan_write, NULL, fan_close};
  la_fanout *f = calloc(1, sizeof *f);
  char url[2048], token[PATH_MAX];
  la_err ignored;
  int rc = 0;
  *out = NULL, *stream = NULL;
  if (f == NULL || (f->ids = calloc((size_t)n, sizeof *f->ids)) == NULL ||
      (f->rem = calloc((size_t)n, sizeof *f->rem)) == NULL ||
      (f->streams = calloc((size_t)n, sizeof *f->streams)) == NULL) {
    if (f != NULL) fanout_free(f, &ignored);
    return la_errf(err, LA_ENOMEM, "report: out of memory");
  }
  f->n = n;
  for (int i = 0; rc == 0 && i < n; i++) {
    f->ids[i] = ids[i];
    if ((rc = la_fanout_subst(url_tmpl, ids[i], url, sizeof url, err)) == 0 &&
        (rc = la_fanout_subst(token_tmpl, ids[i], token, sizeof token, err)) ==
            0)
      rc = la_remote_open(url, token, retry_s, &f->rem[i], &f->streams[i], err);
  }
  if (rc == 0 && (f->stream = fopencookie(f, "w", io)) == NULL)
    rc = la_errf(err, LA_ENOMEM, "report: out of memory");
  if (rc) {
    fanout_free(f, &ignored);
    return rc;
  }
  *out = f, *stream = f->stream;
  return 0;
}

int la_fanout_close(la_fanout *f, la_err *err) {
  if (f == NULL) return 0;
  fclose(f->stream); /* routes what is left */
  return fanout_free(f, err);
}
