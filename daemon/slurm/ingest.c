/* ingest.c: POST /v1/ingest/{run_id}: a Slurm worker's JSON lines, and
 * POST /v1/ingest/{run_id}/log: its trainer's log (a command task's),
 * both authenticated by the run's token (see slurm.h, docs/slurm.md). */
#include "loralpha/logbound.h"
#include "loralpha/record.h"
#include "net/auth.h"
#include "slurm/slurm.h"
#include "slurm/slurm_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FLUSH_ROWS 20000 /* flush early past this many pending rows */

/* A batch's checked records. */
typedef struct batch {
  la_record *recs; /* (n) owned */
  size_t n, cap;
} batch;

static void batch_free(batch *b) {
  for (size_t i = 0; i < b->n; i++)
    la_record_clear(&b->recs[i]);
  free(b->recs);
}

/* One line (n bytes at s) into *out: 0, or the HTTP status with msg. */
static int parse_line(const char *s, size_t n, long line, la_record *out,
                      char *msg, size_t size) {
  json_error_t je;
  json_t *o = NULL;
  la_err err;
  int rc;
  if (n <= LA_RECORD_MAX_LINE)
    o = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
  if (o == NULL) {
    snprintf(msg, size, "line %ld: not a JSON record: %.200s", line,
             n > LA_RECORD_MAX_LINE ? "too long" : je.text);
    return 400;
  }
  rc = la_record_from_json(o, out, &err);
  json_decref(o);
  if (rc == 0) return 0;
  snprintf(msg, size, "line %ld: %.440s", line, err.msg);
  return rc == LA_ENOMEM ? 500 : 422;
}

/* Checks every line of the body into b (blank lines skipped): 0, or the
 * HTTP status (400: a line is not JSON, 422: a record is invalid, 500)
 * with msg naming the line, the field and the problem. Nothing is stored
 * here: a batch is taken whole or not at all. */
static int parse_lines(const la_http_request *req, batch *b, char *msg,
                       size_t size) {
  const char *p = req->body, *end = req->body + req->body_len;
  for (long line = 1; p < end; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    int status;
    if (n > 0 && b->n == b->cap) {
      size_t cap = b->cap ? 2 * b->cap : 64;
      la_record *r = realloc(b->recs, cap * sizeof *r);
      if (r == NULL) return snprintf(msg, size, "out of memory"), 500;
      b->recs = r, b->cap = cap;
    }
    if (n > 0 &&
        (status = parse_line(p, n, line, &b->recs[b->n], msg, size)) != 0)
      return status;
    b->n += n > 0;
    p += n + (nl != NULL);
  }
  return 0;
}

/* The run's end from its done record. */
static void finish_done(la_slurm *sl, la_sjob *j, const la_record *done) {
  la_run_result res;
  la_run_result_init(&res, NULL);
  la_run_result_from_done(&res, done);
  la_slurm_end_run(sl, j, &res, "");
}

/* Adds the checked records of a live job; answers the request. */
static void ingest_records(la_slurm *sl, la_http_request *req, la_sjob *j,
                           batch *b) {
  const la_record *done = NULL;
  la_store_stats ss;
  la_err err;
  for (size_t i = 0; i < b->n; i++) {
    la_record *r = &b->recs[i];
    if (r->type == LA_REC_DONE) {
      done = r;
    } else if (r->type == LA_REC_ERROR) {
      snprintf(j->error, sizeof j->error, "%s", r->u.error.error);
    } else if (la_store_take_record(sl->store, j->run_id, r)) {
      la_slurm_fail_attempt(sl, j, "", "out of memory buffering rows");
      return la_http_respond_error(req, 500, "internal", "out of memory");
    }
  }
  sl->stats.ingested += b->n;
  la_store_stats_get(sl->store, &ss);
  if (ss.pending_rows > FLUSH_ROWS && la_store_flush(sl->store, &err))
    fprintf(stderr, "loralpha serve: %s\n", err.msg);
  if (done != NULL) finish_done(sl, j, done);
  la_http_respond_json(req, 200,
                       json_pack("{s:I, s:b}", "accepted", (json_int_t)b->n,
                                 "finished", done != NULL));
}

/* Refuses a batch (nothing of it was stored); an invalid record (422) also
 * fails the attempt with msg. */
static void refuse(la_slurm *sl, la_http_request *req, la_sjob *j, int status,
                   const char *msg) {
  char why[600];
  sl->stats.rejected++;
  snprintf(why, sizeof why, "worker output rejected: %s", msg);
  if (status == 422) la_slurm_fail_attempt(sl, j, "", why);
  la_http_respond_error(req, status,
                        status == 400   ? "bad_record"
                        : status == 422 ? "invalid_record"
                                        : "internal",
                        msg);
}

/* The followed job of run_id whose current token req presents; else NULL,
 * with req answered 401 (no token) or 403 (not this run's current token),
 * or 503 while the daemon stops. */
static la_sjob *token_job(la_slurm *sl, la_http_request *req, int64_t run_id) {
  size_t tok_len = 0;
  const char *tok = la_auth_bearer(req->authorization, &tok_len);
  la_sjob *j = la_slurm_job(sl, run_id);
  char msg[512], hash[LA_SHA256_HEX + 1];
  if (tok == NULL) {
    sl->stats.rejected++;
    la_http_respond_error(req, 401, "unauthorized",
                          "a run token is required: Authorization: "
                          "Bearer <token>");
    return NULL;
  }
  /* only the token's hash is kept: the presented one is hashed and the
   * hashes compared in constant time */
  if (la_auth_sha256_hex(tok, tok_len, hash) != 0) hash[0] = 0;
  if (j == NULL || !la_auth_secret_equal(j->token_sha256, LA_SHA256_HEX, hash,
                                         strlen(hash))) {
    sl->stats.rejected++;
    snprintf(msg, sizeof msg,
             "the token is not the current token of run %lld (the run may "
             "have ended, been cancelled or been started again)",
             (long long)run_id);
    la_http_respond_error(req, 403, "forbidden", msg);
    return NULL;
  }
  la_http_request_authenticated(req); /* a run's token is a credential */
  if (sl->stopping) {
    la_http_respond_error(req, 503, "unavailable",
                          "the daemon is shutting down; try again");
    return NULL;
  }
  return j;
}

void la_slurm_ingest(la_slurm *sl, la_http_request *req, int64_t run_id) {
  la_sjob *j = token_job(sl, req, run_id);
  batch b = {NULL, 0, 0};
  char msg[512];
  int status;
  if (j == NULL) return;
  if (la_store_run_refused(sl->store, run_id, msg, sizeof msg))
    return refuse(sl, req, j, 422, msg);
  if ((status = parse_lines(req, &b, msg, sizeof msg)) != 0)
    refuse(sl, req, j, status, msg);
  else
    ingest_records(sl, req, j, &b);
  batch_free(&b);
}

/* ---- POST /v1/ingest/{run}/log ---- */

/* Is the Content-Type text/plain (any parameters)? */
static int is_text_type(const char *type) {
  size_t n = strlen("text/plain");
  return strncasecmp(type, "text/plain", n) == 0 &&
         (type[n] == 0 || type[n] == ';' || type[n] == ' ');
}

/* Checks a log upload: 0 with *bytes (the query's bytes=), or the HTTP
 * status with msg. The body must be what la_logbound_text gives of a log
 * of that many bytes: all of it when it fits in head and tail, else at
 * most LA_LOG_TEXT_MAX bytes. */
static int check_log(const la_http_request *req, uint64_t *bytes, char *msg,
                     size_t size) {
  char buf[32], *end = buf;
  unsigned long long n = 0;
  int has = la_http_query_get(req, "bytes", buf, sizeof buf);
  if (!is_text_type(req->content_type))
    return snprintf(msg, size,
                    "Content-Type: '%.64s': the log is sent as text/plain",
                    req->content_type),
           415;
  errno = 0;
  if (has > 0 && buf[0] >= '0' && buf[0] <= '9') n = strtoull(buf, &end, 10);
  if (end == buf || *end || errno || n > (1ull << 53))
    return snprintf(msg, size,
                    "bytes: the query must give the bytes the trainer wrote "
                    "in all, an integer from 0 to 2^53 (?bytes=N)"),
           400;
  if (req->body_len > LA_LOG_TEXT_MAX)
    return snprintf(msg, size,
                    "the log: %zu bytes; a kept log has at most %d (its "
                    "first %d and last %d bytes and a line between)",
                    req->body_len, LA_LOG_TEXT_MAX, LA_LOG_HEAD, LA_LOG_TAIL),
           413;
  if (n <= LA_LOG_HEAD + LA_LOG_TAIL && req->body_len != n)
    return snprintf(msg, size,
                    "bytes: %llu, but the log sent has %zu bytes (a log of "
                    "at most %d bytes is kept whole)",
                    n, req->body_len, LA_LOG_HEAD + LA_LOG_TAIL),
           422;
  *bytes = n;
  return 0;
}

void la_slurm_ingest_log(la_slurm *sl, la_http_request *req, int64_t run_id) {
  la_sjob *j = token_job(sl, req, run_id);
  uint64_t bytes = 0;
  char msg[512], *text;
  la_err err;
  int status;
  if (j == NULL) return;
  if ((status = check_log(req, &bytes, msg, sizeof msg)) != 0) {
    sl->stats.rejected++;
    return la_http_respond_error(req, status,
                                 status == 415   ? "unsupported_media_type"
                                 : status == 413 ? "payload_too_large"
                                 : status == 400 ? "bad_query"
                                                 : "invalid_log",
                                 msg);
  }
  if ((text = malloc(req->body_len + 1)) == NULL)
    return la_http_respond_error(req, 500, "internal", "out of memory");
  memcpy(text, req->body, req->body_len);
  text[req->body_len] = '\0';
  la_utf8_sanitize(text, req->body_len); /* bytes from the job: text only */
  if (la_store_put_run_log(sl->store, run_id, j->attempt, bytes, text, &err)) {
    free(text);
    return la_http_respond_error(req, 500, "database", err.msg);
  }
  free(text);
  la_http_respond_json(req, 200,
                       json_pack("{s:I, s:i, s:I, s:I}", "run_id",
                                 (json_int_t)run_id, "attempt", j->attempt,
                                 "bytes", (json_int_t)bytes, "kept",
                                 (json_int_t)req->body_len));
}
