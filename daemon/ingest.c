/* ingest.c: POST /v1/ingest/{run_id}: a remote worker's JSON lines (see
 * ingest.h, slurm.h, docs/slurm.md). */
#include "loralpha/ingest.h"

#include "slurm_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/v1/ingest/"
#define FLUSH_ROWS 20000 /* flush early past this many pending rows */

void la_ingest_route(la_http_request *req, void *ctx) {
  la_ingest *in = ctx;
  int64_t run;
  if (strncmp(req->path, PREFIX, sizeof PREFIX - 1) != 0)
    return la_api_handle(req, in->api);
  if ((run = la_api_parse_id(req->path + sizeof PREFIX - 1)) < 0)
    return la_http_respond_error(req, 404, "not_found",
                                 "no such route (expected /v1/ingest/{run})");
  if (req->method != LA_HTTP_POST)
    return la_http_respond_error(req, 405, "method_not_allowed",
                                 "only POST is allowed here");
  la_slurm_ingest(in->slurm, req, run);
}

/* The body's lines as a new JSON array of records; NULL with msg filled. */
static json_t *parse_lines(const la_http_request *req, char *msg, size_t size) {
  json_t *recs = json_array();
  const char *p = req->body, *end = req->body + req->body_len;
  for (int line = 1; recs && p < end; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    json_t *rec = n ? json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (n && !json_is_string(json_object_get(rec, "type"))) {
      snprintf(msg, size, "line %d: not a JSON record with a \"type\"", line);
      json_decref(rec), json_decref(recs);
      return NULL;
    }
    if (rec) json_array_append_new(recs, rec);
    p += n + (nl != NULL);
  }
  if (recs == NULL) snprintf(msg, size, "out of memory");
  return recs;
}

/* The run's end from its done record. */
static void finish_done(la_slurm *sl, la_sjob *j, const json_t *done) {
  la_run_result res;
  la_run_result_init(&res, NULL);
  if (la_run_result_from_done(&res, done) != 0)
    return la_slurm_fail_attempt(sl, j, "", "the done record has no status");
  la_slurm_end_run(sl, j, &res, "");
}

/* Adds the records of a live job; answers the request. */
static void ingest_records(la_slurm *sl, la_http_request *req, la_sjob *j,
                           json_t *recs) {
  const json_t *done = NULL;
  la_store_stats ss;
  la_err err;
  size_t i;
  json_t *rec;
  json_array_foreach(recs, i, rec) {
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (strcmp(type, "done") == 0) {
      done = rec;
    } else if (strcmp(type, "error") == 0) {
      const char *e = json_string_value(json_object_get(rec, "error"));
      snprintf(j->error, sizeof j->error, "%s", e ? e : "(no message)");
    } else if (la_store_add_record(sl->store, j->run_id, rec)) {
      sl->stats.rejected++;
      la_slurm_fail_attempt(sl, j, "",
                            "worker output rejected: a record "
                            "lacks its step or layer");
      return la_http_respond_error(req, 422, "invalid_record",
                                   "a record lacks its step or layer");
    }
  }
  sl->stats.ingested += json_array_size(recs);
  la_store_stats_get(sl->store, &ss);
  if (ss.pending_rows > FLUSH_ROWS && la_store_flush(sl->store, &err))
    fprintf(stderr, "loralpha serve: %s\n", err.msg);
  if (done != NULL) finish_done(sl, j, done);
  la_http_respond_json(req, 200,
                       json_pack("{s:I, s:b}", "accepted",
                                 (json_int_t)json_array_size(recs), "finished",
                                 done != NULL));
}

void la_slurm_ingest(la_slurm *sl, la_http_request *req, int64_t run_id) {
  size_t tok_len = 0;
  const char *tok = la_auth_bearer(req->authorization, &tok_len);
  la_sjob *j = la_slurm_job(sl, run_id);
  json_t *recs;
  char msg[160], hash[LA_SHA256_HEX + 1];
  if (tok == NULL) {
    sl->stats.rejected++;
    return la_http_respond_error(req, 401, "unauthorized",
                                 "a run token is required: Authorization: "
                                 "Bearer <token>");
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
    return la_http_respond_error(req, 403, "forbidden", msg);
  }
  if (sl->stopping)
    return la_http_respond_error(req, 503, "unavailable",
                                 "the daemon is shutting down; try again");
  if ((recs = parse_lines(req, msg, sizeof msg)) == NULL) {
    sl->stats.rejected++;
    return la_http_respond_error(req, 400, "bad_record", msg);
  }
  ingest_records(sl, req, j, recs);
  json_decref(recs);
}
