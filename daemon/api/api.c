/* api.c: routes of the HTTP/JSON API (see api.h, docs/api.md). */
#include "api/api.h"

#include "analysis/curves.h"
#include "loralpha/command.h"
#include "loralpha/json_text.h"
#include "loralpha/report.h"
#include "loralpha/rights.h"
#include "store/run_read.h"
#include "testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define VERSION "0.1.0"

/* A path split on '/': at most 4 segments, each NUL-terminated. */
typedef struct route {
  char seg[4][64];
  int n;
} route;

/* Splits "/v1/sweeps/12/runs" into segments; 0, or LA_EINVAL if too deep or
 * too long. */
static int split_path(const char *path, route *r) {
  r->n = 0;
  while (*path == '/')
    path++;
  while (*path) {
    size_t len = strcspn(path, "/");
    if (r->n == 4 || len >= sizeof r->seg[0] || len == 0) return LA_EINVAL;
    memcpy(r->seg[r->n], path, len);
    r->seg[r->n++][len] = 0;
    path += len;
    if (*path == '/') path++;
  }
  return 0;
}

static void method_not_allowed(la_http_request *req, const char *allow) {
  char msg[128];
  snprintf(msg, sizeof msg, "%s is not allowed here (allowed: %s)",
           req->method_name, allow);
  la_http_respond_error(req, 405, "method_not_allowed", msg);
}

static void not_found(la_http_request *req, const char *what) {
  la_http_respond_error(req, 404, "not_found", what);
}

/* Answers a store read: the JSON, 404 when the id does not exist, 500 when
 * the database failed. */
static void respond_read(la_http_request *req, json_t *body, int rc,
                         const la_err *err) {
  if (body != NULL) return la_http_respond_json(req, 200, body);
  if (rc == LA_ENOTFOUND) return not_found(req, err->msg);
  la_http_respond_error(req, 500, "database", err->msg);
}

/* ---- sweeps ---- */

/* Is a Content-Type application/json (any case, parameters allowed)? */
static int is_json_type(const char *ct) {
  static const char want[] = "application/json";
  size_t n = sizeof want - 1;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (strncasecmp(ct, want, n) != 0) return 0;
  ct += n;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == 0 || *ct == ';';
}

/* Answers a write the store refused: 507 disk_full when it ran out of
 * space (the daemon keeps serving reads), else 500 database. */
static void store_write_failed(la_daemon *d, la_http_request *req,
                               const la_err *err) {
  char msg[640];
  if (!la_store_disk_full(d->store))
    return la_http_respond_error(req, 500, "database", err->msg);
  snprintf(msg, sizeof msg,
           "%s: the database's disk is full; nothing was stored (reads "
           "still work; retry when space is freed)",
           err->msg);
  la_http_respond_error(req, 507, "disk_full", msg);
}

/* Do the spec's runs go to the Slurm executor (its executor, or the
 * daemon's default)? 1 or 0. */
static int runs_on_slurm(const la_daemon *d, const la_spec *spec) {
  const char *ex =
      json_string_value(json_object_get(spec->normalized, "executor"));
  return ex ? strcmp(ex, "slurm") == 0 : d->cfg.slurm.default_slurm;
}

/* Answers a refusal of rights.h (status 403 or 422, why in err); 1. */
static int rights_refusal(la_http_request *req, int status, const la_err *err) {
  la_http_respond_error(req, status,
                        status == 403 ? "forbidden" : "invalid_spec", err->msg);
  return 1;
}

/* May who's spec name the data files it names (rights.h)? 0 if so, else 1
 * (true: refused) after answering 403 or 422. */
static int files_refused(la_daemon *d, la_http_request *req,
                         const la_identity *who, const la_spec *spec) {
  const char *field =
      la_rights_files_field(json_object_get(spec->normalized, "task"));
  int status;
  la_err err;
  if (field == NULL ||
      la_rights_check_files(field, who->user, la_auth_daemon_user(d->auth),
                            runs_on_slurm(d, spec), &status, &err) == 0)
    return 0;
  return rights_refusal(req, status, &err);
}

/* May who's spec have a command task (rights.h, la_rights_check_command)?
 * 0 if so (or it has none), else 1 (true: refused) after answering 403 or
 * 422. */
static int command_refused(la_daemon *d, la_http_request *req,
                           const la_identity *who, const la_spec *spec) {
  int status;
  la_err err;
  if (!la_command_is(json_object_get(spec->normalized, "task")) ||
      la_rights_check_command(who->user, la_auth_daemon_user(d->auth),
                              runs_on_slurm(d, spec), &status, &err) == 0)
    return 0;
  return rights_refusal(req, status, &err);
}

/* ---- checks at submit (docs/sweeps.md#checked-at-submit) ---- */

#define MAX_CHECKS 8 /* runs a submission checks at most */

/* A sweep being submitted: validated, waiting for the worker's checks of
 * some of its runs, then stored (submit_store). */
typedef struct submit_req {
  la_daemon *d;
  la_http_request *req;
  char user[LA_USER_MAX];
  la_spec *spec;           /* owned */
  size_t runs[MAX_CHECKS]; /* the runs to check, in order */
  int n, next;             /* how many; the one being checked */
  char skipped[640];       /* why the check was skipped ("": it ran) */
} submit_req;

static void submit_free(submit_req *sr) {
  la_spec_free(sr->spec);
  free(sr);
}

/* The runs whose configs are checked: the first run, and for a task with
 * data files (whose shapes the rank must fit) the first run of each other
 * rank, up to MAX_CHECKS. */
static int runs_to_check(const la_spec *spec, size_t *runs) {
  const json_t *task = json_object_get(spec->normalized, "task");
  int n = 0, files = la_rights_files_field(task) != NULL;
  for (size_t i = 0; i < spec->n_runs && n < MAX_CHECKS; i++) {
    int seen = 0;
    for (int k = 0; k < n && !seen; k++)
      seen = spec->runs[runs[k]].rank == spec->runs[i].rank;
    if (!seen && (n == 0 || files)) runs[n++] = i;
    if (!files) break;
  }
  return n;
}

/* Why the spec is not checked at submit into why, or "" when it is. */
static void check_skipped(const la_daemon *d, const la_spec *spec, char *why,
                          size_t size) {
  const char *ex =
      json_string_value(json_object_get(spec->normalized, "executor"));
  int slurm = ex ? strcmp(ex, "slurm") == 0 : d->cfg.slurm.default_slurm;
  why[0] = '\0';
  if (slurm)
    snprintf(why, size,
             "not checked at submit: a sweep for the Slurm executor runs on "
             "the cluster's nodes, where its files are");
  else if (d->cfg.check_timeout_s == 0)
    snprintf(why, size, "not checked at submit: check_timeout is 0");
}

/* Would n more queued runs pass user's max_queued_runs? 0 if not, else 1
 * (true: answered 429, or 500 when the database failed). Asked before the
 * checks (no check for a sweep that cannot be stored) and again after. */
static int queue_full(la_daemon *d, la_http_request *req, const char *user,
                      size_t n) {
  long cap = la_serve_config_limit(&d->cfg, user)->max_queued_runs;
  int64_t queued;
  la_err err;
  char msg[512];
  if (cap < 0) return 0;
  if (la_store_user_queued(d->store, user, &queued, &err)) {
    la_http_respond_error(req, 500, "database", err.msg);
    return 1;
  }
  if (queued + (int64_t)n <= cap) return 0;
  snprintf(msg, sizeof msg,
           "%s has %lld runs queued; %zu more would pass the limit of %ld "
           "queued runs per user",
           user, (long long)queued, n, cap);
  la_http_respond_error(req, 429, "user_limit", msg);
  return 1;
}

/* Stores the checked (or unchecked) sweep and answers 201, unless the
 * daemon is stopping or the user's queue is full. Frees sr. */
static void submit_store(submit_req *sr) {
  la_daemon *d = sr->d;
  la_http_request *req = sr->req;
  const la_spec *spec = sr->spec;
  la_err err;
  int64_t id;
  json_t *check;
  size_t stored = la_store_submit_runs(spec); /* a law search: fewer */
  if (d->draining) {
    la_http_respond_error(req, 503, "unavailable",
                          "the daemon is shutting down");
    return submit_free(sr);
  }
  if (queue_full(d, req, sr->user, stored)) return submit_free(sr);
  if (la_store_create_sweep(d->store, spec, sr->user, &id, &err)) {
    store_write_failed(d, req, &err);
    return submit_free(sr);
  }
  d->sweeps_created++;
  check = sr->skipped[0]
              ? json_pack("{s:s, s:s}", "result", "skipped", "why", sr->skipped)
              : json_pack("{s:s, s:i}", "result", "passed", "runs", sr->n);
  la_http_respond_json(req, 201,
                       json_pack("{s:I, s:s, s:s, s:I, s:I, s:s, s:o}", "id",
                                 (json_int_t)id, "name", spec->name, "owner",
                                 sr->user, "runs", (json_int_t)stored,
                                 "grid_runs", (json_int_t)spec->n_runs, "state",
                                 "active", "check", check));
  submit_free(sr);
  la_sched_kick(d->sched);
}

/* Answers 422 check_failed: the worker's error, with its field as the
 * spec names it (task.npy.x), and which run's config it was. Frees sr. */
static void submit_refused(submit_req *sr, const char *why) {
  const la_spec_run *r = &sr->spec->runs[sr->runs[sr->next]];
  const char *section = la_spec_section_of(why);
  char msg[1536];
  snprintf(msg, sizeof msg,
           "%s%s%.1200s (the worker's --check of run %zu: rank %d, alpha %g, "
           "lr %g; nothing was stored)",
           section ? section : "", section ? "." : "", why, sr->runs[sr->next],
           r->rank, r->alpha, r->lr);
  la_http_respond_error(sr->req, 422, "check_failed", msg);
  submit_free(sr);
}

static void submit_check_next(submit_req *sr);

static void on_submit_check(la_check_result result, const char *msg,
                            void *ctx) {
  submit_req *sr = ctx;
  if (result == LA_CHECK_FAILED) return submit_refused(sr, msg);
  if (result == LA_CHECK_SKIPPED) {
    snprintf(sr->skipped, sizeof sr->skipped, "not checked at submit: %s", msg);
    return submit_store(sr);
  }
  if (++sr->next < sr->n) return submit_check_next(sr);
  submit_store(sr);
}

/* Starts the check of run sr->runs[sr->next] as the owner's worker; a check
 * that cannot start leaves the sweep unchecked (stored, saying why). */
static void submit_check_next(submit_req *sr) {
  la_daemon *d = sr->d;
  json_t *cfg = la_spec_run_config(sr->spec, sr->runs[sr->next]);
  char *text = cfg ? la_json_text(cfg) : NULL;
  la_err err;
  json_decref(cfg);
  if (text == NULL) {
    la_http_respond_error(sr->req, 500, "internal", "out of memory");
    return submit_free(sr);
  }
  if (la_sched_check(d->sched, sr->user, text,
                     (unsigned)d->cfg.check_timeout_s * 1000u, on_submit_check,
                     sr, &err)) {
    snprintf(sr->skipped, sizeof sr->skipped, "not checked at submit: %s",
             err.msg);
    free(text);
    return submit_store(sr);
  }
  free(text);
}

/* POST /v1/sweeps: validate and expand; check runs' configs with the
 * worker (off the loop); store in one transaction; 201. */
static void create_sweep(la_daemon *d, la_http_request *req,
                         const la_identity *who, int64_t unused) {
  json_error_t je;
  json_t *body;
  la_spec *spec = NULL;
  submit_req *sr;
  la_err err;
  char msg[512];
  if (d->draining)
    return la_http_respond_error(req, 503, "unavailable",
                                 "the daemon is shutting down");
  if (req->content_type[0] && !is_json_type(req->content_type))
    return la_http_respond_error(req, 415, "unsupported_media_type",
                                 "the body must be application/json");
  body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
  if (body == NULL) {
    snprintf(msg, sizeof msg, "malformed JSON at line %d, column %d: %s",
             je.line, je.column, je.text);
    return la_http_respond_error(req, 400, "bad_json", msg);
  }
  if (la_spec_parse(body, &d->limits, &spec, &err)) {
    json_decref(body);
    return la_http_respond_error(req, 422, "invalid_spec", err.msg);
  }
  json_decref(body);
  if (files_refused(d, req, who, spec) || command_refused(d, req, who, spec) ||
      queue_full(d, req, who->user, la_store_submit_runs(spec)))
    return la_spec_free(spec);
  if ((sr = calloc(1, sizeof *sr)) == NULL) {
    la_spec_free(spec);
    return la_http_respond_error(req, 500, "internal", "out of memory");
  }
  sr->d = d, sr->req = req, sr->spec = spec;
  snprintf(sr->user, sizeof sr->user, "%s", who->user);
  check_skipped(d, spec, sr->skipped, sizeof sr->skipped);
  sr->n = runs_to_check(spec, sr->runs);
  if (sr->skipped[0] || sr->n == 0) return submit_store(sr);
  submit_check_next(sr);
}

/* GET /v1/sweeps/{id}: the sweep's row and counts, with its stored spec
 * text spliced in as is (parsing and re-printing it would cost more than
 * the rest of the request). */
static void get_sweep(la_daemon *d, la_http_request *req,
                      const la_identity *who, int64_t id) {
  la_err err;
  int rc = 0;
  json_t *o = la_store_get_sweep(d->store, id, &rc, &err);
  char *head, *spec, *body;
  size_t hl, sl;
  if (o == NULL) return respond_read(req, NULL, rc, &err);
  head = la_json_text(o);
  spec = la_store_sweep_spec(d->store, id);
  json_decref(o);
  hl = head ? strlen(head) : 0, sl = spec ? strlen(spec) : 4;
  body = head ? malloc(hl + sl + 16) : NULL;
  if (body == NULL) {
    free(head), free(spec);
    return la_http_respond_error(req, 500, "internal", "out of memory");
  }
  memcpy(body, head, hl - 1); /* without the closing brace */
  snprintf(body + hl - 1, sl + 16, ",\"spec\":%s}", spec ? spec : "null");
  la_http_respond(req, 200, "application/json", body, strlen(body));
  free(head), free(spec), free(body);
}

/* POST /v1/sweeps/{id}/cancel. */
static void cancel_sweep(la_daemon *d, la_http_request *req,
                         const la_identity *who, int64_t id) {
  la_err err;
  int rc = la_store_cancel_sweep(d->store, id, &err);
  if (rc == LA_ENOTFOUND) return not_found(req, err.msg);
  if (rc == 1)
    return la_http_respond_error(
        req, 409, "conflict",
        "the sweep has already finished or been cancelled");
  if (rc) return la_http_respond_error(req, 500, "database", err.msg);
  la_sched_cancel_sweep(d->sched, id);
  la_http_respond_json(
      req, 200,
      json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", "cancelled"));
}

/* Answers the sweep as GET would (after a change). */
static void respond_sweep(la_daemon *d, la_http_request *req, int64_t id) {
  la_err err;
  int rc = 0;
  respond_read(req, la_store_get_sweep(d->store, id, &rc, &err), rc, &err);
}

/* An optional JSON object body (empty: NULL with 0); answers 400/415 and
 * returns LA_EINVAL when it is not one. */
static int object_body(la_http_request *req, json_t **out) {
  json_error_t je;
  char msg[256];
  *out = NULL;
  if (req->body_len == 0) return 0;
  if (req->content_type[0] && !is_json_type(req->content_type)) {
    la_http_respond_error(req, 415, "unsupported_media_type",
                          "the body must be application/json");
    return LA_EINVAL;
  }
  *out = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
  if (*out == NULL) {
    snprintf(msg, sizeof msg, "malformed JSON at line %d, column %d: %s",
             je.line, je.column, je.text);
    la_http_respond_error(req, 400, "bad_json", msg);
    return LA_EINVAL;
  }
  if (!json_is_object(*out)) {
    json_decref(*out);
    la_http_respond_error(req, 400, "bad_json", "the body must be an object");
    return LA_EINVAL;
  }
  return 0;
}

/* Answers the outcome rc of a store change when it failed: 404, 409 (not
 * active), 500. 0 when rc is 0, else 1 (true: answered). */
static int change_failed(la_http_request *req, int rc, const la_err *err,
                         const char *verb) {
  char msg[128];
  if (rc == 0) return 0;
  if (rc == LA_ENOTFOUND) {
    not_found(req, err->msg);
  } else if (rc == 1) {
    snprintf(msg, sizeof msg,
             "the sweep has finished or been cancelled: it cannot be %s", verb);
    la_http_respond_error(req, 409, "conflict", msg);
  } else {
    la_http_respond_error(req, 500, "database", err->msg);
  }
  return 1;
}

/* Is the sweep paused now? 1, 0, or -1 when it cannot be read. */
static int sweep_paused(la_daemon *d, int64_t id) {
  la_err err;
  int rc = 0;
  json_t *o = la_store_get_sweep(d->store, id, &rc, &err);
  int paused = o ? json_is_true(json_object_get(o, "paused")) : -1;
  json_decref(o);
  return paused;
}

/* Answers the sweep after a pause or resume, with "was_paused": whether it
 * was paused before the request (so a client can tell a resume that
 * changed nothing). */
static void respond_pause(la_daemon *d, la_http_request *req, int64_t id,
                          int was) {
  la_err err;
  int rc = 0;
  json_t *o = la_store_get_sweep(d->store, id, &rc, &err);
  if (o != NULL && was >= 0)
    json_object_set_new(o, "was_paused", json_boolean(was));
  respond_read(req, o, rc, &err);
}

/* POST /v1/sweeps/{id}/pause [{"running": "requeue"|"finish"}]. */
static void pause_sweep(la_daemon *d, la_http_request *req,
                        const la_identity *who, int64_t id) {
  json_t *body, *v;
  const char *running = "requeue";
  la_err err;
  int was;
  if (object_body(req, &body)) return;
  v = body ? json_object_get(body, "running") : NULL;
  if (body && (json_object_size(body) > (v ? 1u : 0u) ||
               (v && (!json_is_string(v) ||
                      (strcmp(json_string_value(v), "requeue") &&
                       strcmp(json_string_value(v), "finish")))))) {
    json_decref(body);
    return la_http_respond_error(
        req, 400, "bad_request",
        "running: expected \"requeue\" (stop running runs and queue them "
        "again) or \"finish\" (let them finish); no other fields");
  }
  if (v && strcmp(json_string_value(v), "finish") == 0) running = "finish";
  json_decref(body);
  was = sweep_paused(d, id);
  if (change_failed(req, la_store_set_paused(d->store, id, 1, &err), &err,
                    "paused"))
    return;
  if (strcmp(running, "requeue") == 0) la_sched_requeue_sweep(d->sched, id);
  respond_pause(d, req, id, was);
}

/* POST /v1/sweeps/{id}/resume. */
static void resume_sweep(la_daemon *d, la_http_request *req,
                         const la_identity *who, int64_t id) {
  la_err err;
  int was = sweep_paused(d, id);
  if (change_failed(req, la_store_set_paused(d->store, id, 0, &err), &err,
                    "resumed"))
    return;
  la_sched_kick(d->sched);
  respond_pause(d, req, id, was);
}

/* DELETE /v1/sweeps/{id}: a sweep that has ended, with its runs and all
 * their rows (la_store_delete_sweep); 409 while anything of it may still
 * write. Answers {"id", "deleted": {table: rows}}. */
static void delete_sweep(la_daemon *d, la_http_request *req,
                         const la_identity *who, int64_t id) {
  json_t *deleted = NULL;
  la_err err;
  int rc = la_store_delete_sweep(d->store, id, &deleted, &err);
  if (rc == LA_ENOTFOUND) return not_found(req, err.msg);
  if (rc == 1) return la_http_respond_error(req, 409, "conflict", err.msg);
  if (rc) return store_write_failed(d, req, &err);
  fprintf(stderr, "loralpha serve: sweep %lld deleted by %s\n", (long long)id,
          who->user);
  la_http_respond_json(
      req, 200,
      json_pack("{s:I, s:o}", "id", (json_int_t)id, "deleted", deleted));
}

/* Reads a PATCH body into p; answers 400 and returns LA_EINVAL on a bad
 * one. */
static int parse_patch(la_http_request *req, const json_t *body,
                       la_sweep_patch *p) {
  const char *key;
  json_t *v;
  la_err err;
  char msg[600];
  memset(p, 0, sizeof *p);
  if (body == NULL || json_object_size(body) == 0) {
    la_http_respond_error(req, 400, "bad_request",
                          "expected an object with any of priority, "
                          "max_parallel, window");
    return LA_EINVAL;
  }
  json_object_foreach((json_t *)body, key, v) {
    if (strcmp(key, "priority") == 0) {
      if (!json_is_integer(v) || json_integer_value(v) < -1000 ||
          json_integer_value(v) > 1000) {
        snprintf(msg, sizeof msg,
                 "priority: expected an integer in "
                 "-1000..1000");
        goto bad;
      }
      p->has_priority = 1, p->priority = (int)json_integer_value(v);
    } else if (strcmp(key, "max_parallel") == 0) {
      if (!json_is_integer(v) || json_integer_value(v) < 0 ||
          json_integer_value(v) > 1024) {
        snprintf(msg, sizeof msg,
                 "max_parallel: expected an integer in "
                 "0..1024 (0: no limit)");
        goto bad;
      }
      p->has_max_parallel = 1, p->max_parallel = (int)json_integer_value(v);
    } else if (strcmp(key, "window") == 0) {
      if (la_window_from_json(v, "window", &p->window, &err)) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        goto bad;
      }
      p->has_window = 1;
    } else {
      snprintf(msg, sizeof msg,
               "%.64s: unknown field (expected priority, max_parallel, "
               "window)",
               key);
      goto bad;
    }
  }
  return 0;
bad:
  la_http_respond_error(req, 400, "bad_request", msg);
  return LA_EINVAL;
}

/* PATCH /v1/sweeps/{id}. */
static void patch_sweep(la_daemon *d, la_http_request *req,
                        const la_identity *who, int64_t id) {
  json_t *body;
  la_sweep_patch p;
  la_err err;
  int rc;
  if (object_body(req, &body)) return;
  rc = parse_patch(req, body, &p);
  json_decref(body);
  if (rc) return;
  if (change_failed(req, la_store_patch_sweep(d->store, id, &p, &err), &err,
                    "changed"))
    return;
  if (p.has_window) la_sched_set_window(d->sched, id, &p.window);
  la_sched_kick(d->sched);
  respond_sweep(d, req, id);
}

/* GET /v1/whoami. */
static void whoami(la_daemon *d, la_http_request *req, const la_identity *who,
                   int64_t id) {
  la_http_respond_json(
      req, 200,
      json_pack("{s:s, s:b, s:s}", "user", who->user, "admin", who->admin,
                "via", who->via == LA_VIA_SOCKET ? "socket" : "token"));
}

/* ---- runs ---- */

/* A finite number from a query parameter; 1 if set, 0 if absent, LA_EINVAL
 * if malformed. */
static int query_num(const la_http_request *req, const char *name,
                     double *out) {
  char buf[64], *end;
  int has = la_http_query_get(req, name, buf, sizeof buf);
  if (has <= 0) return has;
  errno = 0;
  *out = strtod(buf, &end);
  return end != buf && *end == 0 && errno == 0 && isfinite(*out) ? 1
                                                                 : LA_EINVAL;
}

/* An integer in [lo, hi] from a query parameter; 1, 0 (absent) or
 * LA_EINVAL. */
static int query_int(const la_http_request *req, const char *name, int64_t lo,
                     int64_t hi, int64_t *out) {
  double x;
  int has = query_num(req, name, &x);
  if (has <= 0) return has;
  if (x != floor(x) || x < (double)lo || x > (double)hi) return LA_EINVAL;
  *out = (int64_t)x;
  return 1;
}

/* The filters of GET /v1/sweeps/{id}/runs; 0, or LA_EINVAL with msg
 * filled. */
static int parse_filter(const la_http_request *req, la_run_filter *f,
                        char *state, char *msg, size_t size) {
  int64_t v;
  int has;
  f->state = NULL, f->rank = 0, f->alpha = f->lr = NAN, f->limit = 100,
  f->after = 0;
  if ((has = la_http_query_get(req, "state", state, 16)) < 0) goto bad_state;
  if (has && la_run_state_from_name(state) >= 0)
    f->state = la_run_state_names[la_run_state_from_name(state)];
  if (has && f->state == NULL) goto bad_state;
  if ((has = query_int(req, "rank", 1, 1 << 20, &v)) < 0)
    return snprintf(msg, size, "rank: must be a positive integer"), LA_EINVAL;
  if (has) f->rank = (int)v;
  if (query_num(req, "alpha", &f->alpha) < 0 ||
      (!isnan(f->alpha) && f->alpha <= 0))
    return snprintf(msg, size, "alpha: must be a positive number"), LA_EINVAL;
  if (query_num(req, "lr", &f->lr) < 0 || (!isnan(f->lr) && f->lr <= 0))
    return snprintf(msg, size, "lr: must be a positive number"), LA_EINVAL;
  if (query_int(req, "limit", 1, 1000, &f->limit) < 0)
    return snprintf(msg, size, "limit: must be an integer in 1..1000"),
           LA_EINVAL;
  if (query_int(req, "after", 0, INT64_MAX / 2, &f->after) < 0)
    return snprintf(msg, size,
                    "after: must be a run id (a non-negative integer)"),
           LA_EINVAL;
  return 0;
bad_state:
  snprintf(msg, size,
           "state: must be one of queued, running, done, failed, "
           "diverged, cancelled");
  return LA_EINVAL;
}

static void list_runs(la_daemon *d, la_http_request *req,
                      const la_identity *who, int64_t sweep) {
  la_run_filter f;
  char state[16] = "", msg[160];
  la_err err;
  int rc = 0;
  json_t *body;
  if (parse_filter(req, &f, state, msg, sizeof msg))
    return la_http_respond_error(req, 400, "bad_query", msg);
  body = la_store_list_runs(d->store, sweep, &f, &rc, &err);
  respond_read(req, body, rc, &err);
}

/* ---- health and metrics ---- */

static void health(la_daemon *d, la_http_request *req, const la_identity *who,
                   int64_t id) {
  la_sched_stats ss;
  la_store_stats st;
  int full = la_store_disk_full(d->store);
  la_sched_stats_get(d->sched, &ss);
  la_store_stats_get(d->store, &st);
  la_http_respond_json(
      req, 200,
      json_pack("{s:s, s:s, s:f, s:i, s:i, s:i, s:b, s:i, s:I, s:o, s:i}",
                "status",
                d->draining ? "draining"
                : full      ? "disk_full"
                            : "ok",
                "version", VERSION, "uptime_s", la_time_unix() - d->started_at,
                "workers_busy", ss.busy, "max_workers", d->cfg.max_workers,
                "schema_version", la_store_schema_version(d->store),
                "disk_full", full, "run_ends_pending", ss.kept, "rows_pending",
                (json_int_t)st.pending_rows, "window",
                la_window_to_json(&d->cfg.window), "minute", la_minute_now()));
}

/* Appends printf-style text to a growing buffer. */
static void put(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  while (*cap - *len <= (size_t)n) {
    char *b = realloc(*buf, *cap * 2);
    if (b == NULL) return;
    *buf = b, *cap *= 2;
  }
  va_start(ap, fmt);
  vsnprintf(*buf + *len, *cap - *len, fmt, ap);
  va_end(ap);
  *len += (size_t)n;
}

/* GET /metrics: the Prometheus text format. */
static void metrics(la_daemon *d, la_http_request *req, const la_identity *who,
                    int64_t id) {
  int64_t counts[LA_RUN_N_STATES];
  la_sched_stats ss;
  la_store_stats st;
  la_http_stats hs;
  la_err err;
  size_t len = 0, cap = 4096;
  char *b = malloc(cap);
  if (b == NULL)
    return la_http_respond_error(req, 500, "internal", "out of memory");
  if (la_store_count_states(d->store, counts, &err)) {
    free(b);
    return la_http_respond_error(req, 500, "database", err.msg);
  }
  la_sched_stats_get(d->sched, &ss);
  la_store_stats_get(d->store, &st);
  la_http_server_stats(d->http, &hs);
  put(&b, &len, &cap,
      "# HELP loralpha_runs Runs by state.\n# TYPE loralpha_runs gauge\n");
  for (int i = 0; i < LA_RUN_N_STATES; i++)
    put(&b, &len, &cap, "loralpha_runs{state=\"%s\"} %lld\n",
        la_run_state_names[i], (long long)counts[i]);
  put(&b, &len, &cap,
      "# HELP loralpha_workers_busy Workers running now.\n# TYPE "
      "loralpha_workers_busy gauge\n"
      "loralpha_workers_busy %d\n"
      "# HELP loralpha_workers_max The most workers allowed at once.\n"
      "# TYPE loralpha_workers_max gauge\nloralpha_workers_max %d\n"
      "# HELP loralpha_workers_started_total Workers spawned.\n"
      "# TYPE loralpha_workers_started_total "
      "counter\nloralpha_workers_started_total %llu\n"
      "# HELP loralpha_attempts_failed_total Run attempts that failed.\n"
      "# TYPE loralpha_attempts_failed_total "
      "counter\nloralpha_attempts_failed_total %llu\n"
      "# HELP loralpha_workers_killed_total Workers stopped by the daemon.\n"
      "# TYPE loralpha_workers_killed_total "
      "counter\nloralpha_workers_killed_total %llu\n"
      "# HELP loralpha_workers_requeued_total Workers stopped for a pause or "
      "a closed window (their runs queued again).\n"
      "# TYPE loralpha_workers_requeued_total "
      "counter\nloralpha_workers_requeued_total %llu\n"
      "# HELP loralpha_packs_total Packs of two or more runs sent to "
      "workers.\n"
      "# TYPE loralpha_packs_total counter\nloralpha_packs_total %llu\n"
      "# HELP loralpha_packed_runs_total Runs trained in packs.\n"
      "# TYPE loralpha_packed_runs_total counter\n"
      "loralpha_packed_runs_total %llu\n"
      "# HELP loralpha_http_unauthorized_total Requests answered 401.\n"
      "# TYPE loralpha_http_unauthorized_total "
      "counter\nloralpha_http_unauthorized_total %llu\n",
      ss.busy, d->cfg.max_workers, (unsigned long long)ss.started,
      (unsigned long long)ss.failed, (unsigned long long)ss.killed,
      (unsigned long long)ss.requeued, (unsigned long long)ss.packs,
      (unsigned long long)ss.packed_runs, (unsigned long long)d->unauthorized);
  put(&b, &len, &cap,
      "# HELP loralpha_rows_written_total Metric rows committed to the "
      "database.\n"
      "# TYPE loralpha_rows_written_total counter\nloralpha_rows_written_total "
      "%llu\n"
      "# HELP loralpha_rows_pending Metric rows waiting for the next flush.\n"
      "# TYPE loralpha_rows_pending gauge\nloralpha_rows_pending %llu\n"
      "# HELP loralpha_sweeps_created_total Sweeps accepted since start.\n"
      "# TYPE loralpha_sweeps_created_total "
      "counter\nloralpha_sweeps_created_total %llu\n",
      (unsigned long long)st.rows_written, (unsigned long long)st.pending_rows,
      (unsigned long long)d->sweeps_created);
  put(&b, &len, &cap,
      "# HELP loralpha_db_disk_full 1 while database writes fail for want of "
      "space.\n# TYPE loralpha_db_disk_full gauge\nloralpha_db_disk_full %d\n"
      "# HELP loralpha_db_errors_total Database operations that failed.\n"
      "# TYPE loralpha_db_errors_total counter\nloralpha_db_errors_total %llu\n"
      "# HELP loralpha_db_full_errors_total Of which for want of space.\n"
      "# TYPE loralpha_db_full_errors_total counter\n"
      "loralpha_db_full_errors_total %llu\n"
      "# HELP loralpha_run_ends_pending Run ends not yet committed (retried "
      "on the flush timer).\n# TYPE loralpha_run_ends_pending gauge\n"
      "loralpha_run_ends_pending %d\n",
      la_store_disk_full(d->store), (unsigned long long)st.errors,
      (unsigned long long)st.full_errors, ss.kept);
  if (d->slurm != NULL) {
    la_slurm_stats sl;
    la_slurm_stats_get(d->slurm, &sl);
    put(&b, &len, &cap,
        "# HELP loralpha_slurm_arrays_total sbatch arrays submitted.\n"
        "# TYPE loralpha_slurm_arrays_total counter\n"
        "loralpha_slurm_arrays_total %llu\n"
        "# HELP loralpha_slurm_runs_submitted_total Runs given to Slurm.\n"
        "# TYPE loralpha_slurm_runs_submitted_total counter\n"
        "loralpha_slurm_runs_submitted_total %llu\n"
        "# HELP loralpha_slurm_records_ingested_total Records accepted from "
        "remote workers.\n"
        "# TYPE loralpha_slurm_records_ingested_total counter\n"
        "loralpha_slurm_records_ingested_total %llu\n"
        "# HELP loralpha_slurm_ingest_rejected_total Ingest requests refused.\n"
        "# TYPE loralpha_slurm_ingest_rejected_total counter\n"
        "loralpha_slurm_ingest_rejected_total %llu\n"
        "# HELP loralpha_slurm_requeued_total Attempts that ended in Slurm "
        "without a done record.\n"
        "# TYPE loralpha_slurm_requeued_total counter\n"
        "loralpha_slurm_requeued_total %llu\n"
        "# HELP loralpha_slurm_jobs Jobs followed in Slurm now.\n"
        "# TYPE loralpha_slurm_jobs gauge\nloralpha_slurm_jobs %d\n",
        (unsigned long long)sl.arrays, (unsigned long long)sl.submitted,
        (unsigned long long)sl.ingested, (unsigned long long)sl.rejected,
        (unsigned long long)sl.requeued, sl.live);
  }
  put(&b, &len, &cap,
      "# HELP loralpha_http_requests_total HTTP requests answered, by status "
      "class.\n"
      "# TYPE loralpha_http_requests_total counter\n");
  for (int c = 1; c <= 5; c++)
    put(&b, &len, &cap, "loralpha_http_requests_total{class=\"%dxx\"} %llu\n",
        c, (unsigned long long)hs.by_class[c]);
  put(&b, &len, &cap,
      "# HELP loralpha_http_connections Open HTTP connections.\n"
      "# TYPE loralpha_http_connections gauge\nloralpha_http_connections %llu\n"
      "# HELP loralpha_uptime_seconds Seconds since the daemon started.\n"
      "# TYPE loralpha_uptime_seconds gauge\nloralpha_uptime_seconds %.3f\n",
      (unsigned long long)hs.connections, la_time_unix() - d->started_at);
  put(&b, &len, &cap,
      "# HELP loralpha_http_connections_unix Open Unix socket connections.\n"
      "# TYPE loralpha_http_connections_unix gauge\n"
      "loralpha_http_connections_unix %llu\n"
      "# HELP loralpha_http_connections_unauthenticated Open TCP connections "
      "that have not presented credentials yet.\n"
      "# TYPE loralpha_http_connections_unauthenticated gauge\n"
      "loralpha_http_connections_unauthenticated %llu\n"
      "# HELP loralpha_http_connections_refused_total Connections refused "
      "(503), by the limit that was full of authenticated connections.\n"
      "# TYPE loralpha_http_connections_refused_total counter\n"
      "loralpha_http_connections_refused_total{limit=\"total\"} %llu\n"
      "loralpha_http_connections_refused_total{limit=\"peer\"} %llu\n"
      "# HELP loralpha_http_connections_evicted_total Unauthenticated "
      "connections closed to make room for a new one.\n"
      "# TYPE loralpha_http_connections_evicted_total counter\n"
      "loralpha_http_connections_evicted_total %llu\n"
      "# HELP loralpha_http_unauthenticated_expired_total Unauthenticated "
      "connections closed at their deadline to present credentials.\n"
      "# TYPE loralpha_http_unauthenticated_expired_total counter\n"
      "loralpha_http_unauthenticated_expired_total %llu\n",
      (unsigned long long)hs.unix_connections,
      (unsigned long long)hs.unauthenticated,
      (unsigned long long)hs.refused_full, (unsigned long long)hs.refused_peer,
      (unsigned long long)hs.evicted, (unsigned long long)hs.unauth_expired);
  la_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", b, len);
  free(b);
}

/* ---- analysis ---- */

/* Answers a request with an analysis result (arg is the request). */
static void on_analysis(json_t *result, int status, const char *msg,
                        void *arg) {
  la_http_request *req = arg;
  if (result == NULL)
    return la_http_respond_error(req, status,
                                 status == 404 ? "not_found" : "analysis", msg);
  la_http_respond_json(req, 200, json_incref(result));
}

/* GET /v1/sweeps/{id}/analysis[?refresh=1] */
static void analysis(la_daemon *d, la_http_request *req, const la_identity *who,
                     int64_t id) {
  char buf[8];
  int refresh = la_http_query_get(req, "refresh", buf, sizeof buf) > 0 &&
                strcmp(buf, "0") != 0 && strcmp(buf, "false") != 0;
  la_analyzer_get(d->analyzer, id, refresh, on_analysis, req);
}

/* Answers a request with a recommendation (arg is the request). */
static void on_recommend(json_t *result, int status, const char *msg,
                         void *arg) {
  la_http_request *req = arg;
  if (result == NULL)
    return la_http_respond_error(req, status,
                                 status == 400   ? "bad_query"
                                 : status == 404 ? "not_found"
                                                 : "analysis",
                                 msg);
  la_http_respond_json(req, 200, json_incref(result));
}

/* GET /v1/sweeps/{id}/recommend?rank=R[&lr=X]: the answer for rank R
 * (daemon/analysis/answer.h); an lr not in the sweep is a 400 naming it. */
static void recommend(la_daemon *d, la_http_request *req,
                      const la_identity *who, int64_t id) {
  int64_t rank = 0;
  double lr = NAN;
  if (query_int(req, "rank", 1, 1 << 20, &rank) <= 0)
    return la_http_respond_error(req, 400, "bad_query",
                                 "rank: required, a positive integer");
  if (query_num(req, "lr", &lr) < 0 || (!isnan(lr) && lr <= 0))
    return la_http_respond_error(req, 400, "bad_query",
                                 "lr: must be a positive number");
  la_analyzer_recommend(d->analyzer, id, (int)rank, lr, on_recommend, req);
}

/* Logs the failure of an analysis nobody asked for. */
static void on_background(json_t *result, int status, const char *msg,
                          void *arg) {
  (void)result, (void)arg;
  if (status != 200 && status != 404)
    fprintf(stderr, "loralpha serve: analysis failed: %s\n", msg);
}

void la_api_on_run_finished(int64_t sweep_id, void *ctx) {
  la_daemon *d = ctx;
  char state[16];
  if (d->draining ||
      la_store_sweep_state(d->store, sweep_id, state, sizeof state) ||
      strcmp(state, "done") != 0)
    return;
  la_analyzer_get(d->analyzer, sweep_id, 0, on_background, NULL);
}

/* ---- curves ---- */

static void on_curves(const char *json, size_t len, int status, const char *msg,
                      void *arg) {
  la_http_request *req = arg;
  if (json == NULL) return la_http_respond_error(req, status, "database", msg);
  la_http_respond(req, 200, "application/json", json, len);
}

/* points=N of a query: default def, clamped to [2, LA_CURVE_POINTS_MAX];
 * LA_EINVAL when malformed. */
static int query_points(const la_http_request *req, int def) {
  int64_t n = 0;
  int has = query_int(req, "points", 1, LA_CURVE_POINTS_MAX, &n);
  if (has <= 0) return has < 0 ? LA_EINVAL : def;
  return n < 2 ? 2 : (int)n;
}

/* GET /v1/sweeps/{id}/curves?kind=eval|train&points=N[&rank][&alpha][&lr] */
static void curves(la_daemon *d, la_http_request *req, const la_identity *who,
                   int64_t id) {
  la_curve_query q;
  char state[16];
  int64_t rank = 0;
  memset(&q, 0, sizeof q);
  q.alpha = q.lr = NAN;
  if (la_http_query_get(req, "kind", q.kind, sizeof q.kind) <= 0)
    snprintf(q.kind, sizeof q.kind, "eval");
  if (strcmp(q.kind, "eval") && strcmp(q.kind, "train"))
    return la_http_respond_error(req, 400, "bad_query",
                                 "kind: must be eval or train");
  if ((q.points = query_points(req, LA_CURVE_POINTS_DEFAULT)) < 0)
    return la_http_respond_error(req, 400, "bad_query",
                                 "points: must be an integer in 1..2000");
  if (query_int(req, "rank", 1, 1 << 20, &rank) < 0)
    return la_http_respond_error(req, 400, "bad_query",
                                 "rank: must be a positive integer");
  q.rank = (int)rank;
  if (query_num(req, "alpha", &q.alpha) < 0 || query_num(req, "lr", &q.lr) < 0)
    return la_http_respond_error(req, 400, "bad_query",
                                 "alpha, lr: must be numbers");
  if (query_int(req, "after", 0, INT64_C(1) << 53, &q.after) < 0)
    return la_http_respond_error(req, 400, "bad_query",
                                 "after: must be a run id (a non-negative "
                                 "integer, the previous page's next)");
  if (la_store_sweep_state(d->store, id, state, sizeof state))
    return not_found(req, "no such sweep");
  la_curves_get(d->loop, d->cfg.db, id, &q, on_curves, req);
}

/* ---- the dashboard's files ---- */

static const char *content_type(const char *path) {
  static const char *const map[][2] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"}};
  const char *dot = strrchr(path, '.');
  for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
    if (strcmp(dot, map[i][0]) == 0) return map[i][1];
  return NULL;
}

/* Is the URL path safe to map under the web root: absolute, no empty or
 * dot-led segments (no "..", no hidden files), at most PATH_MAX / 2? */
static int safe_path(const char *p) {
  size_t n = strlen(p);
  if (p[0] != '/' || n > PATH_MAX / 2) return 0;
  for (const char *s = p; *s; s++)
    if (*s == '/' && (s[1] == '.' || s[1] == '/' || s[1] == '\\')) return 0;
  return strchr(p, '\\') == NULL;
}

/* Reads a regular file of at most 16 MiB under root; new buffer or NULL. */
static char *read_under(const char *root, const char *path, size_t *len) {
  char full[PATH_MAX], real[PATH_MAX], *buf = NULL;
  size_t rl = strlen(root);
  struct stat st;
  int fd;
  if ((size_t)snprintf(full, sizeof full, "%s%s", root, path) >= sizeof full)
    return NULL;
  if (realpath(full, real) == NULL || strncmp(real, root, rl) != 0 ||
      real[rl] != '/')
    return NULL; /* outside the root, through a link or otherwise */
  if ((fd = open(real, O_RDONLY | O_CLOEXEC)) < 0) return NULL;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (16 << 20) &&
      (buf = malloc((size_t)st.st_size + 1)) != NULL &&
      read(fd, buf, (size_t)st.st_size) != (ssize_t)st.st_size) {
    free(buf);
    buf = NULL;
  }
  if (buf) *len = (size_t)st.st_size;
  close(fd);
  return buf;
}

/* GET of a dashboard file: "/" is index.html. */
static void static_file(la_daemon *d, la_http_request *req) {
  const char *path = strcmp(req->path, "/") == 0 ? "/index.html" : req->path;
  const char *type = content_type(path);
  size_t len = 0;
  char *body;
  if (d->web_root == NULL)
    return not_found(req, "no such route (the dashboard is not installed)");
  if (req->method != LA_HTTP_GET) return method_not_allowed(req, "GET");
  if (!safe_path(path) || type == NULL) return not_found(req, "no such file");
  if ((body = read_under(d->web_root, path, &len)) == NULL)
    return not_found(req, "no such file");
  la_http_respond(req, 200, type, body, len);
  free(body);
}

/* ---- report ---- */

/* A report being made: the request, the format, the sweep (read on the
 * loop), then, on the thread pool, the runs and the report itself. */
typedef struct report_req {
  uv_work_t work;
  la_http_request *req;
  la_report_format fmt;
  uv_loop_t *loop;     /* borrowed: the daemon's */
  const char *db_path; /* borrowed: the daemon's */
  int64_t id;
  json_t *sweep, *analysis; /* owned; analysis a copy, or NULL: none yet */
  char *buf;                /* the report, len bytes */
  size_t len;
  int status;
  la_err err;
} report_req;

/* The sweep with its spec and its search's state, for the report. */
static int report_input(la_daemon *d, int64_t id, report_req *rr) {
  la_err err;
  int rc = 0;
  char *spec;
  rr->sweep = la_store_get_sweep(d->store, id, &rc, &err);
  if (rr->sweep == NULL) return rc;
  spec = la_store_sweep_spec(d->store, id);
  json_object_set_new(rr->sweep, "spec",
                      spec ? json_loads(spec, 0, NULL) : json_null());
  free(spec);
  /* its search along alpha (a few rows per cell; none for a grid) */
  json_object_set_new(rr->sweep, "search_state",
                      la_store_get_search(d->store, id, &rc, &err));
  return 0;
}

static void report_free(report_req *rr) {
  json_decref(rr->sweep);
  json_decref(rr->analysis);
  free(rr->buf);
  free(rr);
}

/* On the pool: the runs through a read-only connection, then the report
 * into memory (a large sweep's report never holds the loop). */
static void report_work(uv_work_t *w) {
  report_req *rr = w->data;
  sqlite3 *db = NULL;
  json_t *runs = NULL;
  FILE *mem;
  la_testpoint("report");
  if (sqlite3_open_v2(rr->db_path, &db, SQLITE_OPEN_READONLY, NULL) ==
          SQLITE_OK &&
      sqlite3_busy_timeout(db, 5000) == SQLITE_OK)
    runs = la_run_read_sweep_runs(db, rr->id);
  sqlite3_close(db);
  if (runs == NULL) {
    rr->status = 500;
    la_errf(&rr->err, LA_EIO, "cannot read the sweep's runs");
    return;
  }
  mem = open_memstream(&rr->buf, &rr->len);
  if (mem == NULL ||
      la_report_write(rr->sweep, rr->analysis, runs, rr->fmt, mem, &rr->err))
    rr->status = 500;
  if (mem) fclose(mem);
  json_decref(runs);
}

static void report_done(uv_work_t *w, int status) {
  report_req *rr = w->data;
  if (status != 0 || rr->status)
    la_http_respond_error(rr->req, 500, "report",
                          rr->err.msg[0] ? rr->err.msg
                                         : "cannot write the report");
  else
    la_http_respond(rr->req, 200,
                    rr->fmt == LA_REPORT_HTML ? "text/html; charset=utf-8"
                                              : "text/markdown; charset=utf-8",
                    rr->buf, rr->len);
  report_free(rr);
}

/* With the analysis (or none yet): the rest is made on the pool. */
static void on_report_analysis(json_t *result, int status, const char *msg,
                               void *arg) {
  report_req *rr = arg;
  if (status != 200 && status != 404) {
    la_http_respond_error(rr->req, status, "analysis", msg);
    return report_free(rr);
  }
  rr->analysis = result ? json_deep_copy(result) : NULL;
  rr->work.data = rr;
  if (uv_queue_work(rr->loop, &rr->work, report_work, report_done)) {
    la_http_respond_error(rr->req, 500, "report", "cannot queue work");
    report_free(rr);
  }
}

/* GET /v1/sweeps/{id}/report[?format=html|md]: what `loralpha report`
 * writes, made by the daemon (the dashboard's download). */
static void report(la_daemon *d, la_http_request *req, const la_identity *who,
                   int64_t id) {
  char fmt[16] = "html";
  la_report_format format;
  report_req *rr;
  int rc;
  if (la_http_query_get(req, "format", fmt, sizeof fmt) < 0 ||
      la_report_format_named(fmt, &format) != 0)
    return la_http_respond_error(req, 400, "bad_query",
                                 "format: must be html or md");
  if ((rr = calloc(1, sizeof *rr)) == NULL)
    return la_http_respond_error(req, 500, "internal", "out of memory");
  rr->req = req, rr->loop = d->loop, rr->db_path = d->cfg.db, rr->id = id;
  rr->fmt = format;
  if ((rc = report_input(d, id, rr)) != 0) {
    report_free(rr);
    return rc == LA_ENOTFOUND ? not_found(req, "no such sweep")
                              : la_http_respond_error(req, 500, "database",
                                                      "cannot read the sweep");
  }
  la_analyzer_get(d->analyzer, id, 0, on_report_analysis, rr);
}

/* ---- dispatch ---- */

/* Answers 404 unless sweep id exists and who may read it (a sweep the
 * caller may not read does not exist for them), or 403 when change is asked
 * and who is neither its owner nor an admin. 0 when allowed, else 1 (true:
 * refused, answered). */
static int sweep_access(la_daemon *d, la_http_request *req,
                        const la_identity *who, int64_t id, int change) {
  char owner[LA_USER_MAX], msg[256];
  snprintf(msg, sizeof msg, "sweep %lld not found", (long long)id);
  if (la_store_sweep_owner(d->store, id, owner, sizeof owner) != 0 ||
      !la_auth_can_read(d->auth, who, owner)) {
    not_found(req, msg);
    return 1;
  }
  if (change && !la_auth_can_change(d->auth, who, owner)) {
    snprintf(msg, sizeof msg,
             "sweep %lld belongs to %s: only its owner or an admin may "
             "change it",
             (long long)id, owner);
    la_http_respond_error(req, 403, "forbidden", msg);
    return 1;
  }
  return 0;
}

/* GET /v1/sweeps: every sweep, or with read_access "owner" the caller's
 * own (admins see all). */
static void list_sweeps(la_daemon *d, la_http_request *req,
                        const la_identity *who, int64_t id) {
  la_err err;
  const char *only = la_auth_can_read(d->auth, who, NULL) ? NULL : who->user;
  respond_read(req, la_store_list_sweeps(d->store, only, &err), LA_EIO, &err);
}

/* A run being read off the loop: who asked, to check against the owner. */
typedef struct run_req {
  la_daemon *d;
  la_http_request *req;
  la_identity who;
  int64_t id;
} run_req;

static void on_run(const char *json, size_t len, const char *owner, int status,
                   const char *msg, void *arg) {
  run_req *rr = arg;
  char text[64];
  if (json != NULL && !la_auth_can_read(rr->d->auth, &rr->who, owner)) {
    snprintf(text, sizeof text, "run %lld not found", (long long)rr->id);
    not_found(rr->req, text);
  } else if (json != NULL) {
    la_http_respond(rr->req, 200, "application/json", json, len);
  } else {
    la_http_respond_error(rr->req, status,
                          status == 404 ? "not_found" : "database", msg);
  }
  free(rr);
}

/* GET /v1/runs/{id}[?points=N | ?after=STEP]: read on the thread pool,
 * bounded (run_read.h); 404 also when its sweep may not be read. */
static void get_run(la_daemon *d, la_http_request *req, const la_identity *who,
                    int64_t id) {
  la_run_query q = {id, 0, INT64_MIN};
  run_req *rr;
  int has_after;
  if ((q.points = query_points(req, 0)) < 0)
    return la_http_respond_error(req, 400, "bad_query",
                                 "points: must be an integer in 1..2000");
  has_after = query_int(req, "after", -1, INT64_C(1) << 53, &q.after);
  if (has_after < 0 || (has_after && q.points > 0))
    return la_http_respond_error(req, 400, "bad_query",
                                 has_after < 0
                                     ? "after: must be a step (an integer, "
                                       "the previous page's next)"
                                     : "after: pages are for full curves; "
                                       "not with points");
  if ((rr = malloc(sizeof *rr)) == NULL)
    return la_http_respond_error(req, 500, "internal", "out of memory");
  rr->d = d, rr->req = req, rr->who = *who, rr->id = id;
  la_run_read(d->loop, d->cfg.db, &q, on_run, rr);
}

/* GET /v1/runs/{id}/log: a command task's run log (at most 64 KiB and a
 * line, read on the loop); 404 also when its sweep may not be read. */
static void get_run_log(la_daemon *d, la_http_request *req,
                        const la_identity *who, int64_t id) {
  char owner[LA_USER_MAX], msg[64];
  la_err err;
  int rc = 0;
  json_t *o =
      la_store_get_run_log(d->store, id, owner, sizeof owner, &rc, &err);
  if (o != NULL && !la_auth_can_read(d->auth, who, owner)) {
    json_decref(o);
    snprintf(msg, sizeof msg, "run %lld not found", (long long)id);
    return not_found(req, msg);
  }
  respond_read(req, o, rc, &err);
}

/* GET /v1/sweeps/{id}/search: its search along alpha, what it spent and
 * decided (store.h, la_store_get_search; read on the loop: a few rows per
 * cell). */
static void get_search(la_daemon *d, la_http_request *req,
                       const la_identity *who, int64_t id) {
  la_err err;
  int rc = 0;
  json_t *o = la_store_get_search(d->store, id, &rc, &err);
  (void)who; /* ACCESS_READ: checked by the router */
  respond_read(req, o, rc, &err);
}

/* POST /v1/ingest/{run}: a Slurm worker's records, authenticated by the
 * run's own token (slurm.h, docs/slurm.md). */
static void ingest(la_daemon *d, la_http_request *req, const la_identity *who,
                   int64_t id) {
  la_slurm_ingest(d->slurm, req, id);
}

/* POST /v1/ingest/{run}/log: a Slurm command task's trainer's log, with
 * the run's own token (slurm.h, docs/slurm.md). */
static void ingest_log(la_daemon *d, la_http_request *req,
                       const la_identity *who, int64_t id) {
  (void)who; /* ACCESS_RUN: the route checks the run's token */
  la_slurm_ingest_log(d->slurm, req, id);
}

/* Who may use a route: any identified user; a user who may read (or
 * change: owner or admin) the sweep {id}; or the bearer of run {id}'s
 * token, checked by the route itself. */
typedef enum {
  ACCESS_USER,
  ACCESS_READ,
  ACCESS_CHANGE,
  ACCESS_RUN
} route_access;

typedef void (*route_fn)(la_daemon *, la_http_request *, const la_identity *,
                         int64_t);

/* A route: a path of literal segments and at most one "{id}" (a positive
 * id; anything else is answered 404 with bad_id), a method, who may use
 * it, and its handler. */
typedef struct api_route {
  const char *path;
  la_http_method method;
  route_access access;
  route_fn fn;
  const char *bad_id; /* the 404 message for a path whose {id} is not one */
} api_route;

#define NO_SWEEP "no such sweep (ids are positive integers)"
#define NO_RUN "no such run (ids are positive integers)"

static const api_route k_routes[] = {
    {"/metrics", LA_HTTP_GET, ACCESS_USER, metrics, NULL},
    {"/v1/health", LA_HTTP_GET, ACCESS_USER, health, NULL},
    {"/v1/whoami", LA_HTTP_GET, ACCESS_USER, whoami, NULL},
    {"/v1/sweeps", LA_HTTP_GET, ACCESS_USER, list_sweeps, NULL},
    {"/v1/sweeps", LA_HTTP_POST, ACCESS_USER, create_sweep, NULL},
    {"/v1/sweeps/{id}", LA_HTTP_GET, ACCESS_READ, get_sweep, NO_SWEEP},
    {"/v1/sweeps/{id}", LA_HTTP_PATCH, ACCESS_CHANGE, patch_sweep, NO_SWEEP},
    {"/v1/sweeps/{id}", LA_HTTP_DELETE, ACCESS_CHANGE, delete_sweep, NO_SWEEP},
    {"/v1/sweeps/{id}/runs", LA_HTTP_GET, ACCESS_READ, list_runs, NO_SWEEP},
    {"/v1/sweeps/{id}/analysis", LA_HTTP_GET, ACCESS_READ, analysis, NO_SWEEP},
    {"/v1/sweeps/{id}/recommend", LA_HTTP_GET, ACCESS_READ, recommend,
     NO_SWEEP},
    {"/v1/sweeps/{id}/curves", LA_HTTP_GET, ACCESS_READ, curves, NO_SWEEP},
    {"/v1/sweeps/{id}/report", LA_HTTP_GET, ACCESS_READ, report, NO_SWEEP},
    {"/v1/sweeps/{id}/search", LA_HTTP_GET, ACCESS_READ, get_search, NO_SWEEP},
    {"/v1/sweeps/{id}/cancel", LA_HTTP_POST, ACCESS_CHANGE, cancel_sweep,
     NO_SWEEP},
    {"/v1/sweeps/{id}/pause", LA_HTTP_POST, ACCESS_CHANGE, pause_sweep,
     NO_SWEEP},
    {"/v1/sweeps/{id}/resume", LA_HTTP_POST, ACCESS_CHANGE, resume_sweep,
     NO_SWEEP},
    {"/v1/runs/{id}", LA_HTTP_GET, ACCESS_USER, get_run, NO_RUN},
    {"/v1/runs/{id}/log", LA_HTTP_GET, ACCESS_USER, get_run_log, NO_RUN},
    {"/v1/ingest/{id}", LA_HTTP_POST, ACCESS_RUN, ingest,
     "no such route (expected /v1/ingest/{run})"},
    {"/v1/ingest/{id}/log", LA_HTTP_POST, ACCESS_RUN, ingest_log,
     "no such route (expected /v1/ingest/{run}/log)"},
};
#define N_ROUTES (sizeof k_routes / sizeof k_routes[0])

/* Does the split path r have the shape of pattern ("/v1/sweeps/{id}")?
 * *id gets its {id} (0: none; -1: the segment is not an id). */
static int path_matches(const char *pattern, const route *r, int64_t *id) {
  const char *p = pattern;
  *id = 0;
  for (int i = 0; i < r->n; i++) {
    size_t len;
    if (*p++ != '/') return 0;
    len = strcspn(p, "/");
    if (len == 4 && memcmp(p, "{id}", 4) == 0)
      *id = la_parse_id(r->seg[i]);
    else if (strlen(r->seg[i]) != len || memcmp(p, r->seg[i], len) != 0)
      return 0;
    p += len;
  }
  return *p == 0;
}

static const char *method_name(la_http_method m) {
  return m == LA_HTTP_GET     ? "GET"
         : m == LA_HTTP_POST  ? "POST"
         : m == LA_HTTP_PATCH ? "PATCH"
                              : "DELETE";
}

/* Answers req by the route table: the route of its path and method, 405
 * with the methods its path allows, or 404. who is NULL before the caller
 * is identified: then only run-token routes are answered (1 is returned
 * for the rest, to identify the caller first). */
static int dispatch(la_daemon *d, la_http_request *req, const route *r,
                    const la_identity *who) {
  char allow[64] = "";
  const api_route *found = NULL;
  int64_t id = 0, rid;
  for (size_t i = 0; i < N_ROUTES; i++) {
    const api_route *t = &k_routes[i];
    if (!path_matches(t->path, r, &rid)) continue;
    if (who == NULL && t->access != ACCESS_RUN) return 1;
    if (rid < 0) return not_found(req, t->bad_id), 0;
    if (t->method == req->method) {
      found = t, id = rid;
      break;
    }
    snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
             allow[0] ? ", " : "", method_name(t->method));
  }
  if (found == NULL && allow[0]) return method_not_allowed(req, allow), 0;
  if (found == NULL)
    return who == NULL ? 1 : (not_found(req, "no such route"), 0);
  if (found->access == ACCESS_READ || found->access == ACCESS_CHANGE)
    if (sweep_access(d, req, who, id, found->access == ACCESS_CHANGE) != 0)
      return 0;
  found->fn(d, req, who, id);
  return 0;
}

void la_api_handle(la_http_request *req, void *ctx) {
  la_daemon *d = ctx;
  la_identity who;
  route r;
  int bad_path;
  if (req->method == LA_HTTP_HEAD) req->method = LA_HTTP_GET; /* body dropped */
  if (strncmp(req->path, "/v1/", 4) != 0 && strcmp(req->path, "/v1") != 0 &&
      strcmp(req->path, "/metrics") != 0)
    return static_file(d, req);
  /* routes of a run's token (ingest) answer before any user identity */
  bad_path = split_path(req->path, &r) != 0;
  if (!bad_path && dispatch(d, req, &r, NULL) == 0) return;
  if (d->auth == NULL || la_auth_identify(d->auth, req, &who) != 0) {
    d->unauthorized++;
    return la_http_respond_error(req, 401, "unauthorized",
                                 "authentication required");
  }
  la_http_request_authenticated(req);
  if (bad_path) return not_found(req, "no such route");
  dispatch(d, req, &r, &who);
}
