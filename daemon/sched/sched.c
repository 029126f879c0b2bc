/* sched.c: the scheduler and the local executor (see sched.h). */
#include "sched/sched.h"

#include "loralpha/config.h"
#include "loralpha/json_text.h"
#include "loralpha/packing.h"
#include "loralpha/record.h"
#include "loralpha/resources.h"
#include "loralpha/rights.h"
#include "net/auth.h"
#include "sched/command.h"
#include "sched/fairshare.h"
#include "sched/pool.h"
#include "sched/proc.h"

#include <jansson.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define TAIL_BYTES 4096      /* stderr kept per worker */
#define MAX_LINE (4ul << 20) /* a longer stdout line is a protocol error */
#define FLUSH_ROWS 20000     /* flush early past this many pending rows */
#define ERROR_BYTES 8192
#define WINDOW_CHECK_MS 15000 /* how often start windows are looked at */
#define PROBE_MS 1000         /* disk full and idle: a probe write this often */
#define DAEMON_PID_VAR "LORALPHA_DAEMON_PID"

extern char **environ;

typedef enum {
  STOP_NONE,
  STOP_HEARTBEAT,
  STOP_CANCEL,
  STOP_DRAIN,
  STOP_REQUEUE, /* pause or a closed window: back to the queue */
  STOP_PROTOCOL,
  STOP_TIME_LIMIT /* a command task's time limit (sched/command.h) */
} stop_reason;

/* A run a worker trains: its one run, or one of the runs of a pack. */
typedef struct wrun {
  int64_t run_id;
  int attempt, max_attempts; /* this attempt (1-based) and the limit */
  char err_msg[512];         /* its error record, or why it alone was stopped */
  la_record done;            /* its done record (owned; type done once there) */
  int over;         /* its done or error record came (a request's run) */
  int ended;        /* its end is committed */
  stop_reason stop; /* a stop of this run alone (its rows refused) */
} wrun;

/* One worker process and its pipes, and the runs it trains. A one-run
 * worker (process mode) has its run from spawn to exit; a request (a warm
 * worker's run, or a pack) lasts until each of its runs has had its done
 * or error record (has_run), and each run's end is committed as its record
 * comes. A warm one (pool.h) then waits in the pool or, closing, for its
 * exit. The request's fields (runs to window, err_msg, stop, last_output)
 * are reset for each request a warm worker takes. The runs of a pack are
 * of one sweep (one owner, one window). */
typedef struct worker {
  la_sched *s;
  struct worker *next;
  wrun *runs; /* (nruns) owned */
  int nruns;
  int64_t sweep_id;
  char owner[64];   /* the sweep's owner */
  la_window window; /* the sweep's start window */
  uv_process_t proc;
  uv_pipe_t in, out, err;
  uv_write_t wreq;
  char *config; /* being written to stdin (owned) */
  char *line;   /* partial stdout line (owned) */
  size_t line_len, line_cap;
  char tail[TAIL_BYTES]; /* the last bytes of stderr */
  size_t tail_len;
  char err_msg[512]; /* the worker's error line, or a protocol error */
  long lines;        /* stdout lines read */
  int exited, term_signal, out_eof, err_eof, finished, open_handles;
  int64_t exit_status;
  uint64_t last_output; /* uv_now of the last byte on stdout */
  stop_reason stop;
  la_cmd *cmd; /* a command task's run (owned), or NULL */
  /* the process across its runs (warm workers) */
  int serve;     /* a --serve process: runs come as request lines */
  int warm;      /* and its stdin stays open between requests */
  int has_run;   /* a request is current (busy); else idle or closing */
  int run_over;  /* every run of it had its record: over after this read */
  int in_closed; /* stdin closed (warm: the worker exits at its end) */
  long runs_served;
  unsigned long long rss_base; /* RSS after its first run, bytes */
  la_proc_id id;               /* its identity (id.pid 0: not known) */
} worker;

/* A run's end that could not be committed (the disk was full): kept and
 * committed again from the flush timer, in order. */
typedef struct kept_finish {
  struct kept_finish *next;
  int64_t run_id, sweep_id;
  la_run_result res; /* res.error points to error */
  char *error;       /* owned, or NULL */
} kept_finish;

struct la_sched {
  uv_loop_t *loop;
  la_store *store;
  la_sched_opts opts;
  char *worker_path;
  char **env;           /* environ with OPENBLAS_NUM_THREADS set (owned) */
  worker *workers;      /* running, newest first */
  struct check *checks; /* --check of new sweeps running (la_sched_check) */
  uv_timer_t flush_timer, beat_timer, window_timer;
  int timers_open, draining;
  void (*drain_done)(void *);
  void *drain_arg;
  la_sched_finish_hook hook;
  void *hook_ctx;
  unsigned long long memory_limit; /* workers' --memory-limit (0: none) */
  la_sched_remote remote;          /* another executor, if set */
  la_pool *pool;                   /* idle warm workers (opts.warm) */
  la_sched_stats stats;
  uint64_t starts; /* runs started, the clock of `served` */
  struct {
    char user[64];
    uint64_t at; /* the value of starts when the user last had one */
  } served[64];
  kept_finish *kept, **kept_tail; /* oldest first */
  int store_down;                 /* a store failure was reported */
  char store_msg[600];            /* the last store failure */
  uint64_t last_probe;            /* uv_now of the last la_store_probe */
  char boot_id[LA_BOOT_ID_MAX];   /* "": workers' processes not recorded */
};

static void sched_maybe_drained(la_sched *s);
static void stop_if_failed(la_sched *s, int64_t sweep_id);
static void stop_checks(la_sched *s);
static void start_waiting_checks(la_sched *s);
static void note_store(la_sched *s);
static int retry_finishes(la_sched *s);

/* ---- setup ----------------------------------------------------------------
 */

/* environ, with OPENBLAS_NUM_THREADS replaced by the configured threads
 * and LORALPHA_DAEMON_PID set to this process (the worker dies with it:
 * worker/main.c). */
static char **make_env(int threads) {
  size_t n = 0, k = 0;
  char **env;
  while (environ[n] != NULL)
    n++;
  if ((env = calloc(n + 3, sizeof *env)) == NULL) return NULL;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21) != 0 &&
        strncmp(environ[i], DAEMON_PID_VAR "=", sizeof DAEMON_PID_VAR) != 0)
      env[k++] = strdup(environ[i]);
  if ((env[k] = malloc(48)) != NULL)
    snprintf(env[k], 48, DAEMON_PID_VAR "=%ld", (long)getpid());
  env[++k] = malloc(48);
  if (env[k] != NULL) snprintf(env[k], 48, "OPENBLAS_NUM_THREADS=%d", threads);
  for (size_t i = 0; i <= k; i++)
    if (env[i] == NULL) {
      for (size_t j = 0; j <= k; j++)
        free(env[j]);
      free(env);
      return NULL;
    }
  return env;
}

static void free_env(char **env) {
  for (size_t i = 0; env && env[i]; i++)
    free(env[i]);
  free(env);
}

static void protocol_error(worker *w, const char *what);
static void retire(worker *w);

/* Sends sig to a worker: to its process, or to a command task's whole
 * process group (sched/command.h). */
static void kill_worker(worker *w, int sig) {
  if (w->cmd != NULL)
    la_cmd_signal(w->cmd, sig);
  else
    uv_process_kill(&w->proc, sig);
}

/* Stops run r of w, whose rows the database refused: r fails. A worker
 * that trains other runs beside it (a pack) cannot stop r alone: it is
 * killed, and its other runs go back to the queue (the attempt not
 * counted). */
static void stop_run(worker *w, wrun *r, const char *msg) {
  if (r->ended || r->stop != STOP_NONE) return;
  if (w->nruns == 1) return protocol_error(w, msg);
  snprintf(r->err_msg, sizeof r->err_msg, "%s", msg);
  r->stop = STOP_PROTOCOL;
  if (w->stop != STOP_NONE || w->exited) return;
  w->stop = STOP_REQUEUE;
  w->s->stats.killed++;
  kill_worker(w, SIGKILL);
}

/* Stops the runs whose rows the database refused (the run fails). */
static void stop_refused(la_sched *s) {
  char msg[256];
  for (worker *w = s->workers; w != NULL; w = w->next)
    for (int i = 0; !w->exited && w->has_run && i < w->nruns; i++)
      if (!w->runs[i].ended &&
          la_store_run_refused(s->store, w->runs[i].run_id, msg, sizeof msg))
        stop_run(w, &w->runs[i], msg);
}

/* Every flush_ms: the kept run ends, then the buffered rows. After a
 * failure for want of space it also tries to start queued runs, so the
 * first commit that works again ends the full state. */
static void on_flush_timer(uv_timer_t *t) {
  la_sched *s = t->data;
  la_err err;
  int was_full = la_store_disk_full(s->store), rc;
  note_store(s); /* a failure outside the scheduler (a refused sweep) */
  rc = retry_finishes(s);
  if (rc == 0 && (rc = la_store_flush(s->store, &err)) != 0)
    snprintf(s->store_msg, sizeof s->store_msg, "%s", err.msg);
  if (rc == 0 && la_store_disk_full(s->store) &&
      uv_now(s->loop) - s->last_probe >= PROBE_MS) {
    s->last_probe = uv_now(s->loop); /* nothing else to write: a probe */
    if ((rc = la_store_probe(s->store, &err)) != 0)
      snprintf(s->store_msg, sizeof s->store_msg, "%s", err.msg);
  }
  if (rc == 0 && was_full && !la_store_disk_full(s->store) && !s->draining)
    la_sched_kick(s);
  note_store(s);
  stop_refused(s);
  if (s->pool != NULL) /* idle warm workers that waited long enough */
    for (worker *w; (w = la_pool_take_expired(s->pool, uv_now(s->loop)));)
      retire(w);
}

static void on_beat_timer(uv_timer_t *t) {
  la_sched *s = t->data;
  uint64_t now = uv_now(s->loop);
  for (worker *w = s->workers; w != NULL; w = w->next) {
    if (w->exited || !w->has_run || w->stop != STOP_NONE) continue;
    if (now - w->last_output > s->opts.heartbeat_ms) {
      w->stop = STOP_HEARTBEAT;
      s->stats.killed++;
      kill_worker(w, SIGKILL);
    }
  }
}

/* Stops a worker so that its run goes back to the queue (the attempt not
 * counted). */
static void stop_requeue(la_sched *s, worker *w) {
  if (w->exited || !w->has_run || w->stop != STOP_NONE) return;
  w->stop = STOP_REQUEUE;
  s->stats.killed++;
  s->stats.requeued++;
  kill_worker(w, SIGTERM);
}

/* Runs outside their window that must not go on: stopped and requeued;
 * then whatever may start now starts. */
static void check_windows(la_sched *s) {
  int m = la_minute_now();
  int daemon_closed = !la_window_open(&s->opts.window, m);
  for (worker *w = s->workers; w != NULL; w = w->next) {
    if (daemon_closed && s->opts.window.requeue) stop_requeue(s, w);
    if (w->window.enabled && w->window.requeue &&
        !la_window_open(&w->window, m))
      stop_requeue(s, w);
  }
  la_sched_kick(s);
}

static void on_window_timer(uv_timer_t *t) {
  check_windows(t->data);
}

int la_sched_new(uv_loop_t *loop, la_store *store, const la_sched_opts *opts,
                 la_sched **out, la_err *err) {
  la_sched *s = calloc(1, sizeof *s);
  *out = NULL;
  if (s == NULL) return la_errf(err, LA_ENOMEM, "scheduler: out of memory");
  s->loop = loop, s->store = store, s->opts = *opts;
  s->worker_path = strdup(opts->worker_path);
  s->env = make_env(opts->threads_per_worker);
  if (opts->warm) {
    la_pool_opts po = {opts->worker_max_runs, opts->max_rss_growth,
                       opts->idle_ms};
    s->pool = la_pool_new(&po);
  }
  if (s->worker_path == NULL || s->env == NULL || (opts->warm && !s->pool)) {
    free(s->worker_path), free_env(s->env), la_pool_free(s->pool), free(s);
    return la_errf(err, LA_ENOMEM, "scheduler: out of memory");
  }
  s->opts.worker_path = s->worker_path;
  uv_timer_init(loop, &s->flush_timer);
  uv_timer_init(loop, &s->beat_timer);
  uv_timer_init(loop, &s->window_timer);
  s->flush_timer.data = s->beat_timer.data = s->window_timer.data = s;
  s->timers_open = 3;
  uv_timer_start(&s->window_timer, on_window_timer, WINDOW_CHECK_MS,
                 WINDOW_CHECK_MS);
  uv_timer_start(&s->flush_timer, on_flush_timer, opts->flush_ms,
                 opts->flush_ms);
  if (opts->heartbeat_ms > 0) {
    unsigned every =
        opts->heartbeat_ms / 4 < 1000 ? opts->heartbeat_ms / 4 + 1 : 1000;
    uv_timer_start(&s->beat_timer, on_beat_timer, every, every);
  }
  s->kept_tail = &s->kept;
  if (la_proc_boot_id(s->boot_id, err)) {
    fprintf(stderr,
            "loralpha serve: %s: workers' processes are not recorded (a "
            "daemon started after a crash cannot end them)\n",
            err->msg);
    s->boot_id[0] = '\0';
  }
  *out = s;
  return 0;
}

void la_sched_stats_get(const la_sched *s, la_sched_stats *out) {
  *out = s->stats;
}

/* ---- database trouble ----------------------------------------------------
 */

/* Logs the store's state when it changes: failing (with the last error and
 * what the daemon does about it), or working again. */
static void note_store(la_sched *s) {
  int down = la_store_disk_full(s->store) || s->kept != NULL;
  if (down && !s->store_down)
    fprintf(stderr,
            "loralpha serve: %s%s; run ends and rows are kept and written "
            "again every %u ms, new sweeps are refused\n",
            s->store_msg[0] ? s->store_msg : la_store_last_error(s->store),
            la_store_disk_full(s->store) ? " (disk full)" : "",
            s->opts.flush_ms);
  else if (!down && s->store_down)
    fprintf(stderr, "loralpha serve: database writable again: kept run ends "
                    "and rows committed\n");
  if (!down) s->store_msg[0] = '\0'; /* reported, or not a lasting state */
  s->store_down = down;
}

/* Keeps the end of run r of w whose commit failed, to commit it later. */
static void keep_finish(la_sched *s, const worker *w, const wrun *r,
                        const la_run_result *res) {
  kept_finish *k = calloc(1, sizeof *k);
  if (k == NULL || (res->error && (k->error = strdup(res->error)) == NULL)) {
    free(k);
    fprintf(stderr,
            "loralpha serve: run %lld: %s (out of memory: it stays "
            "running until restart)\n",
            (long long)r->run_id, s->store_msg);
    return;
  }
  k->run_id = r->run_id, k->sweep_id = w->sweep_id, k->res = *res;
  k->res.error = k->error;
  *s->kept_tail = k;
  s->kept_tail = &k->next;
  s->stats.kept++;
}

/* Commits the kept run ends, oldest first; stops at the first failure. */
static int retry_finishes(la_sched *s) {
  la_err err;
  kept_finish *k;
  while ((k = s->kept) != NULL) {
    if (la_store_finish_run(s->store, k->run_id, &k->res, &err)) {
      snprintf(s->store_msg, sizeof s->store_msg, "run %lld: %s",
               (long long)k->run_id, err.msg);
      return LA_EIO;
    }
    if ((s->kept = k->next) == NULL) s->kept_tail = &s->kept;
    s->stats.kept--;
    if (s->hook && strcmp(k->res.state, "queued") != 0)
      s->hook(k->sweep_id, s->hook_ctx);
    if (k->res.error != NULL) stop_if_failed(s, k->sweep_id);
    free(k->error);
    free(k);
  }
  return 0;
}

/* Commits the end of run r of w after the kept ones, or keeps it behind
 * them; 1 if it was committed. */
static int finish_or_keep(la_sched *s, const worker *w, const wrun *r,
                          const la_run_result *res) {
  la_err err;
  if (retry_finishes(s) == 0 &&
      la_store_finish_run(s->store, r->run_id, res, &err) == 0)
    return 1;
  if (s->kept == NULL) /* the kept ones went through, this one did not */
    snprintf(s->store_msg, sizeof s->store_msg, "run %lld: %s",
             (long long)r->run_id, err.msg);
  keep_finish(s, w, r, res);
  return 0;
}

void la_sched_set_memory_limit(la_sched *s, unsigned long long bytes) {
  s->memory_limit = bytes;
}

void la_sched_set_finish_hook(la_sched *s, la_sched_finish_hook hook,
                              void *ctx) {
  s->hook = hook;
  s->hook_ctx = ctx;
}

/* ---- a worker's end ---------------------------------------------------------
 */

/* Frees w's runs (a warm worker's, before its next request). */
static void free_runs(worker *w) {
  for (int i = 0; i < w->nruns; i++)
    la_record_clear(&w->runs[i].done);
  free(w->runs);
  w->runs = NULL;
  w->nruns = 0;
}

static void worker_free(worker *w) {
  la_cmd_free(w->cmd);
  free(w->config);
  free(w->line);
  free_runs(w);
  free(w);
}

static void on_handle_closed(uv_handle_t *h) {
  worker *w = h->data;
  if (--w->open_handles == 0 && w->finished) worker_free(w);
}

/* Unlinks w from the running list. */
static void unlink_worker(la_sched *s, worker *w) {
  for (worker **p = &s->workers; *p != NULL; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      return;
    }
}

/* The worker's error line in a stderr tail of len bytes (the last line
 * that is a JSON object with "error": the worker's --check and its runs
 * write one; it may have arrived in pieces) into buf. 1 when found. */
static int tail_error(const char *tail, size_t len, char *buf, size_t size) {
  const char *p = tail, *end = tail + len;
  int found = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    json_t *rec = json_loadb(p, n, 0, NULL);
    const char *msg = json_string_value(json_object_get(rec, "error"));
    if (msg != NULL) found = 1, snprintf(buf, size, "%s", msg);
    json_decref(rec);
    p += n + (nl != NULL);
  }
  return found;
}

/* The stderr tail, without the worker's own JSON error line if that is all
 * it holds. */
static void append_tail(const worker *w, const char *msg, char *buf,
                        size_t size) {
  size_t used = strlen(buf);
  if (w->tail_len == 0 || (msg[0] && w->tail_len < 600 &&
                           strstr(w->tail, "\"type\":\"error\"") != NULL))
    return;
  snprintf(buf + used, size - used, "\n--- stderr (last %zu bytes) ---\n%.*s",
           w->tail_len, (int)w->tail_len, w->tail);
}

/* How run r of w was stopped: its own stop; else, unless its record came
 * first, the worker's. */
static stop_reason run_stop(const worker *w, const wrun *r) {
  return r->stop != STOP_NONE || r->over ? r->stop : w->stop;
}

/* Why run r's failed attempt failed, in words, into buf. */
static void failure_text(const worker *w, const wrun *r, char *buf,
                         size_t size) {
  const la_sched *s = w->s;
  stop_reason stop = run_stop(w, r);
  const char *msg = r->err_msg[0] ? r->err_msg : w->err_msg;
  if (stop == STOP_HEARTBEAT)
    snprintf(buf, size, "no output for %u ms (heartbeat): worker killed",
             s->opts.heartbeat_ms);
  else if (stop == STOP_TIME_LIMIT)
    snprintf(buf, size,
             "time limit of %lld s (task.command.time_limit) passed: "
             "stopped",
             (long long)la_cmd_time_limit(w->cmd));
  else if (stop == STOP_PROTOCOL)
    snprintf(buf, size, "worker output rejected: %s", msg);
  else if (r->over || !w->exited) /* a request's run that ended with its
                                     error record */
    snprintf(buf, size, "worker error: %s",
             msg[0] ? msg : "a done record that cannot be used");
  else if (w->term_signal)
    snprintf(buf, size, "worker killed by signal %d%s%s", w->term_signal,
             msg[0] ? ": " : "", msg);
  else if (w->exit_status != 0)
    snprintf(buf, size, "worker exited with status %lld%s%s",
             (long long)w->exit_status, msg[0] ? ": " : "", msg);
  else
    snprintf(buf, size, "worker exited without a done record");
  if (w->nruns > 1 && !r->over && stop != STOP_PROTOCOL) {
    size_t used = strlen(buf);
    snprintf(buf + used, size - used, " (a pack of %d runs)", w->nruns);
  }
  append_tail(w, msg, buf, size);
}

/* Decides run r's state from its record, or from how its worker ended. */
static void decide(worker *w, wrun *r, la_run_result *res, char *err,
                   size_t size) {
  stop_reason stop = run_stop(w, r);
  la_run_result_init(res, NULL);
  if (stop != STOP_PROTOCOL && stop != STOP_HEARTBEAT &&
      stop != STOP_TIME_LIMIT &&
      (r->over || (w->exit_status == 0 && !w->term_signal)) &&
      la_run_result_from_done(res, &r->done) == 0) {
    w->s->stats.finished++; /* finished, even if a stop came too late */
  } else if (stop == STOP_CANCEL) {
    res->state = "cancelled";
  } else if (stop == STOP_DRAIN || stop == STOP_REQUEUE) {
    res->state = "queued";
    res->refund_attempt = 1;
  } else {
    if (w->err_msg[0] == '\0')
      tail_error(w->tail, w->tail_len, w->err_msg, sizeof w->err_msg);
    failure_text(w, r, err, size);
    res->error = err;
    res->state = r->attempt < r->max_attempts ? "queued" : "failed";
    w->s->stats.failed++;
  }
}

/* Keeps a command task's run log (sched/command.h); empty if it wrote
 * nothing. */
static void keep_log(la_sched *s, const worker *w) {
  char *text = la_cmd_log_text(w->cmd);
  la_err err;
  if (text == NULL && la_cmd_log_bytes(w->cmd) > 0) return; /* no memory */
  if (la_store_put_run_log(s->store, w->runs[0].run_id, w->runs[0].attempt,
                           la_cmd_log_bytes(w->cmd), text ? text : "", &err))
    fprintf(stderr, "loralpha serve: run %lld: its log is not kept: %s\n",
            (long long)w->runs[0].run_id, err.msg);
  free(text);
}

/* Commits the outcome of run r of w. */
static void run_end(worker *w, wrun *r) {
  la_sched *s = w->s;
  la_run_result res;
  la_err err;
  char *text = calloc(1, ERROR_BYTES);
  r->ended = 1;
  decide(w, r, &res, text ? text : err.msg,
         text ? ERROR_BYTES : sizeof err.msg);
  if (finish_or_keep(s, w, r, &res)) {
    if (s->hook && strcmp(res.state, "queued"))
      s->hook(w->sweep_id, s->hook_ctx);
    if (res.error != NULL) stop_if_failed(s, w->sweep_id);
  }
  note_store(s);
  free(text);
}

/* Commits the runs of w's request whose record came. */
static void end_over_runs(worker *w) {
  for (int i = 0; i < w->nruns; i++)
    if (w->runs[i].over && !w->runs[i].ended) run_end(w, &w->runs[i]);
}

/* Ends w's request: every run not ended yet is committed from how the
 * worker ended, and its slot is free. */
static void request_end(worker *w) {
  for (int i = 0; i < w->nruns; i++)
    if (!w->runs[i].ended) run_end(w, &w->runs[i]);
  w->has_run = 0;
  w->s->stats.busy--;
}

/* Closes a warm worker's stdin: it exits at the end of its input. */
static void retire(worker *w) {
  if (w->in_closed) return;
  w->in_closed = 1;
  uv_close((uv_handle_t *)&w->in, on_handle_closed);
}

/* Every run of w's request had its done or error record: committed; a warm
 * worker goes back to the pool, or is retired when it is worn out,
 * stopping or the daemon drains (a pack's process without a pool exits at
 * the end of its input). Then what can start, starts. */
static void request_over(worker *w) {
  la_sched *s = w->s;
  unsigned long long rss;
  const char *worn;
  w->run_over = 0;
  request_end(w);
  if (w->warm) {
    rss = la_pool_rss(w->proc.pid);
    if (w->runs_served == 0) w->rss_base = rss;
    w->runs_served += w->nruns;
    worn = la_pool_worn(s->pool, w->runs_served, w->rss_base, rss);
    if (s->draining || w->stop != STOP_NONE || w->exited || worn != NULL ||
        la_pool_put(s->pool, w, w->owner, uv_now(s->loop)) != 0)
      retire(w);
  }
  if (s->draining)
    sched_maybe_drained(s);
  else
    la_sched_kick(s);
}

/* Called when the process has exited and both output pipes are closed:
 * commits the outcome of its runs if it had a request, then frees the slot
 * and starts what can start. */
static void worker_maybe_finish(worker *w) {
  la_sched *s = w->s;
  if (!w->exited || !w->out_eof || !w->err_eof || w->finished) return;
  w->finished = 1;
  if (w->cmd != NULL) keep_log(s, w);
  if (w->has_run) request_end(w);
  unlink_worker(s, w);
  if (w->open_handles == 0) worker_free(w);
  if (s->draining)
    sched_maybe_drained(s);
  else
    la_sched_kick(s);
}

static void on_worker_exit(uv_process_t *p, int64_t status, int term_signal) {
  worker *w = p->data;
  w->exited = 1;
  w->exit_status = status;
  w->term_signal = term_signal;
  if (w->cmd != NULL) la_cmd_exited(w->cmd);
  uv_close((uv_handle_t *)p, on_handle_closed);
  if (w->warm) retire(w); /* its stdin, open until now */
  if (w->warm && !w->has_run) la_pool_remove(w->s->pool, w); /* died idle */
  worker_maybe_finish(w);
}

/* ---- a worker's output ------------------------------------------------------
 */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = malloc(65536);
  buf->len = buf->base ? 65536 : 0;
}

/* Stops a worker whose output cannot be trusted. */
static void protocol_error(worker *w, const char *what) {
  if (w->stop != STOP_NONE) return;
  snprintf(w->err_msg, sizeof w->err_msg, "%s", what);
  w->stop = STOP_PROTOCOL;
  w->s->stats.killed++;
  if (!w->exited) kill_worker(w, SIGKILL);
}

_Static_assert(MAX_LINE == LA_RECORD_MAX_LINE, "one line limit");

/* The run of w's request a record names (run_id < 0: the worker's one
 * run), or NULL when it names none still training. */
static wrun *line_run(worker *w, int64_t run_id) {
  if (run_id < 0) return w->nruns == 1 && !w->runs[0].over ? w->runs : NULL;
  for (int i = 0; i < w->nruns; i++)
    if (w->runs[i].run_id == run_id)
      return w->runs[i].over ? NULL : &w->runs[i];
  return NULL;
}

/* One complete stdout line: a checked record for the store. */
static void handle_line(worker *w, const char *line, size_t len) {
  la_record rec;
  la_err err;
  char msg[sizeof w->err_msg];
  wrun *r;
  int rc;
  w->lines++;
  if (len == 0 || w->stop == STOP_PROTOCOL) return;
  if (!w->has_run || w->run_over) { /* a warm worker between runs */
    if (!w->has_run) la_pool_remove(w->s->pool, w); /* never to be taken */
    return protocol_error(w, "output outside a run");
  }
  if ((rc = la_record_parse(line, len, &rec, &err)) != 0) {
    snprintf(msg, sizeof msg, "stdout line %ld: %.440s", w->lines, err.msg);
    return protocol_error(w, msg);
  }
  if (w->cmd != NULL && la_cmd_count_record(w->cmd)) {
    la_record_clear(&rec);
    snprintf(msg, sizeof msg,
             "more than %lld records (the daemon's max_run_rows)",
             (long long)la_cmd_max_records(w->cmd));
    return protocol_error(w, msg);
  }
  if (rec.run_id < 0 && w->nruns > 1) { /* a pack's lines name their run */
    if (rec.type == LA_REC_ERROR) {     /* the request failed as a whole */
      snprintf(w->err_msg, sizeof w->err_msg, "%s", rec.u.error.error);
      la_record_clear(&rec);
      for (int i = 0; i < w->nruns; i++)
        w->runs[i].over = 1;
      w->run_over = 1;
      return;
    }
    snprintf(msg, sizeof msg,
             "stdout line %ld: %s: run_id: required from a "
             "pack",
             w->lines, la_record_type_name(rec.type));
    la_record_clear(&rec);
    return protocol_error(w, msg);
  }
  if ((r = line_run(w, rec.run_id)) == NULL) {
    /* records go to the run they name, until its end */
    snprintf(msg, sizeof msg,
             "stdout line %ld: %s: run_id: %lld is not a run the worker "
             "trains now",
             w->lines, la_record_type_name(rec.type), (long long)rec.run_id);
    la_record_clear(&rec);
    return protocol_error(w, msg);
  }
  if (rec.type == LA_REC_DONE) {
    la_record_clear(&r->done);
    la_record_move(&r->done, &rec);
    r->over = w->serve;
  } else if (rec.type == LA_REC_ERROR) {
    snprintf(r->err_msg, sizeof r->err_msg, "%s", rec.u.error.error);
    la_record_clear(&rec);
    r->over = w->serve; /* serve mode: the run's error, on stdout */
  } else if (la_store_take_record(w->s->store, r->run_id, &rec) != 0) {
    return protocol_error(w, "out of memory buffering rows");
  }
  if (r->over) {
    int live = 0;
    for (int i = 0; i < w->nruns; i++)
      live += !w->runs[i].over;
    w->run_over = live == 0;
  }
}

/* Appends bytes to the partial line and handles every complete line. */
static void consume(worker *w, const char *p, size_t n) {
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;
    if (w->line_len + take > MAX_LINE) {
      protocol_error(w, "a stdout line longer than 4 MiB");
      return;
    }
    if (w->line_len == 0 && nl) {
      handle_line(w, p, take); /* the common case: no copy */
    } else {
      if (w->line_len + take + 1 > w->line_cap) {
        size_t cap = (w->line_len + take + 1) * 2;
        char *q = realloc(w->line, cap);
        if (q == NULL) return protocol_error(w, "out of memory reading output");
        w->line = q, w->line_cap = cap;
      }
      memcpy(w->line + w->line_len, p, take);
      w->line_len += take;
      if (nl) {
        handle_line(w, w->line, w->line_len);
        w->line_len = 0;
      }
    }
    p += take + (nl != NULL);
    n -= take + (nl != NULL);
  }
}

static void on_stdout(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  worker *w = st->data;
  la_store_stats ss;
  if (nread > 0) {
    w->last_output = uv_now(w->s->loop);
    consume(w, buf->base, (size_t)nread);
    la_store_stats_get(w->s->store, &ss);
    if (ss.pending_rows > FLUSH_ROWS && !la_store_disk_full(w->s->store))
      on_flush_timer(&w->s->flush_timer);
    if (w->has_run) end_over_runs(w); /* after the whole read: nothing of */
    if (w->run_over && w->has_run) request_over(w); /* it is lost */
  }
  free(buf->base);
  if (nread < 0) {
    if (w->line_len > 0)
      handle_line(w, w->line, w->line_len); /* unterminated */
    w->line_len = 0;
    w->out_eof = 1;
    uv_close((uv_handle_t *)st, on_handle_closed);
    worker_maybe_finish(w);
  }
}

/* Keeps the last TAIL_BYTES of stderr, and the worker's error message. */
static void keep_tail(worker *w, const char *p, size_t n) {
  if (n >= TAIL_BYTES) {
    memcpy(w->tail, p + n - TAIL_BYTES, TAIL_BYTES);
    w->tail_len = TAIL_BYTES;
  } else {
    size_t keep = w->tail_len + n > TAIL_BYTES ? TAIL_BYTES - n : w->tail_len;
    memmove(w->tail, w->tail + w->tail_len - keep, keep);
    memcpy(w->tail + keep, p, n);
    w->tail_len = keep + n;
  }
  const char *line = p;
  json_t *rec = json_loadb(line, n, JSON_DISABLE_EOF_CHECK, NULL);
  const char *msg = json_string_value(json_object_get(rec, "error"));
  if (msg != NULL) snprintf(w->err_msg, sizeof w->err_msg, "%s", msg);
  json_decref(rec);
}

static void on_stderr(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  worker *w = st->data;
  if (nread > 0) keep_tail(w, buf->base, (size_t)nread);
  if (nread > 0 && w->cmd != NULL) la_cmd_log(w->cmd, buf->base, (size_t)nread);
  free(buf->base);
  if (nread < 0) {
    w->err_eof = 1;
    uv_close((uv_handle_t *)st, on_handle_closed);
    worker_maybe_finish(w);
  }
}

static void on_config_written(uv_write_t *req, int status) {
  worker *w = req->data;
  (void)status; /* a worker that died early is reported by its exit */
  free(w->config);
  w->config = NULL;
  if (!w->warm) uv_close((uv_handle_t *)&w->in, on_handle_closed);
}

/* ---- starting workers ---- */

/* A run's config (JSON text) with the daemon's threads and the run id
 * (none when run_id < 0), as its worker gets it; NULL when it is not an
 * object. */
static json_t *run_json(const la_sched *s, const char *config, int64_t run_id) {
  json_t *cfg = json_loads(config, 0, NULL);
  if (!json_is_object(cfg)) return json_decref(cfg), NULL;
  json_object_set_new(cfg, "threads", json_integer(s->opts.threads_per_worker));
  if (run_id >= 0) json_object_set_new(cfg, "run_id", json_integer(run_id));
  return cfg;
}

/* A request (borrowed JSON) as one line with its newline; new string or
 * NULL. */
static char *request_line(const json_t *req) {
  char *text = req ? la_json_text(req) : NULL, *line;
  if (text == NULL || (line = realloc(text, strlen(text) + 2)) == NULL)
    return free(text), NULL;
  return strcat(line, "\n");
}

/* run_json as one line; for a warm worker (warm 1) the request line
 * {"type":"run","config":{...}} and its newline. New string or NULL. */
static char *worker_config(const la_sched *s, const char *config,
                           int64_t run_id, int warm) {
  json_t *cfg = run_json(s, config, run_id), *req = NULL;
  char *text;
  if (cfg == NULL) return NULL;
  if (!warm) {
    text = la_json_text(cfg);
  } else {
    req = json_pack("{s:s, s:O}", "type", "run", "config", cfg);
    text = request_line(req);
  }
  json_decref(req);
  json_decref(cfg);
  return text;
}

/* Whom a root daemon's worker runs as (--run-as, docs/security.md): the
 * sweep's owner if the password database knows them, else nobody; NULL
 * (no change) when the daemon is not root or the owner is root. */
static const char *run_as(const char *owner) {
  struct passwd pw, *found = NULL;
  char buf[4096];
  if (geteuid() != 0) return NULL;
  if (getpwnam_r(owner, &pw, buf, sizeof buf, &found) != 0 || !found)
    return "nobody";
  return pw.pw_uid == 0 ? NULL : owner;
}

/* How a worker of owner's sweep is started, for a run and for its check
 * alike: the program, --run-as (a root daemon), --memory-limit, then extra
 * (NULL: none); the daemon's worker environment; "/" as the directory when
 * it runs as another user. */
typedef struct spawn_args {
  char *args[8];
  char limit[32];
  uv_process_options_t o;
} spawn_args;

static void worker_options(la_sched *s, const char *owner, const char *extra,
                           spawn_args *a) {
  const char *user = run_as(owner);
  int n = 0;
  a->args[n++] = s->worker_path;
  if (user != NULL) {
    a->args[n++] = "--run-as";
    a->args[n++] = (char *)user;
  }
  if (s->memory_limit > 0) {
    snprintf(a->limit, sizeof a->limit, "%llu", s->memory_limit);
    a->args[n++] = "--memory-limit";
    a->args[n++] = a->limit;
  }
  if (extra != NULL) a->args[n++] = (char *)extra;
  a->args[n] = NULL;
  memset(&a->o, 0, sizeof a->o);
  a->o.file = s->worker_path;
  a->o.args = a->args;
  a->o.cwd = user ? "/" : NULL; /* nothing resolves against the daemon's */
  a->o.env = s->env;
}

/* uv_spawn with the three pipes; on failure every handle is closed. */
static int spawn(worker *w) {
  la_sched *s = w->s;
  spawn_args a;
  uv_stdio_container_t stdio[3];
  int rc;
  uv_pipe_init(s->loop, &w->in, 0);
  uv_pipe_init(s->loop, &w->out, 0);
  uv_pipe_init(s->loop, &w->err, 0);
  w->proc.data = w->in.data = w->out.data = w->err.data = w;
  w->open_handles = 4;
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&w->in;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&w->out;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&w->err;
  worker_options(s, w->owner, w->serve ? "--serve" : NULL, &a);
  if (w->cmd != NULL) a.o.flags |= UV_PROCESS_DETACHED; /* its own group */
  a.o.exit_cb = on_worker_exit;
  a.o.stdio = stdio;
  a.o.stdio_count = 3;
  rc = uv_spawn(s->loop, &w->proc, &a.o);
  if (rc) {
    uv_close((uv_handle_t *)&w->proc, on_handle_closed);
    uv_close((uv_handle_t *)&w->in, on_handle_closed);
    uv_close((uv_handle_t *)&w->out, on_handle_closed);
    uv_close((uv_handle_t *)&w->err, on_handle_closed);
  }
  return rc;
}

/* Writes the run's config (a warm worker's request line) to stdin. */
static void send_config(worker *w) {
  uv_buf_t buf = uv_buf_init(w->config, (unsigned)strlen(w->config));
  w->wreq.data = w;
  if (uv_write(&w->wreq, (uv_stream_t *)&w->in, &buf, 1, on_config_written))
    on_config_written(&w->wreq, -1);
}

/* After a successful spawn: nice, stdin, and reading both outputs. */
static void wire_up(worker *w) {
  if (w->s->opts.nice > 0)
    setpriority(PRIO_PROCESS, (id_t)w->proc.pid, w->s->opts.nice);
  if (w->cmd != NULL) la_cmd_started(w->cmd, w->proc.pid);
  send_config(w);
  uv_read_start((uv_stream_t *)&w->out, on_alloc, on_stdout);
  uv_read_start((uv_stream_t *)&w->err, on_alloc, on_stderr);
}

/* Records the new worker's process (PID, start time, boot) in the store, so
 * that a daemon started after this one was killed can end it. Without a
 * record the worker still dies with the daemon (PR_SET_PDEATHSIG). */
static void record_process(la_sched *s, worker *w) {
  la_err err;
  int rc = 0;
  if (s->boot_id[0] == '\0') return;
  if (w->id.pid == 0) /* known from its first run for a warm worker */
    rc = la_proc_identify(w->proc.pid, s->boot_id, &w->id, &err);
  if (rc == LA_ENOTFOUND) return; /* exited already: nothing to record */
  for (int i = 0; rc == 0 && i < w->nruns; i++)
    if ((rc = la_store_note_worker(s->store, w->runs[i].run_id, w->id.pid,
                                   w->id.start_ticks, w->id.boot_id, &err)))
      fprintf(stderr,
              "loralpha serve: run %lld: worker pid %d not recorded: %s\n",
              (long long)w->runs[i].run_id, (int)w->proc.pid, err.msg);
  if (rc && w->nruns == 0)
    fprintf(stderr, "loralpha serve: worker pid %d not recorded: %s\n",
            (int)w->proc.pid, err.msg);
}

/* A failed attempt may have stopped its sweep (its runs keep failing the
 * same way: la_store_finish_run): its running workers are stopped too,
 * their runs cancelled. */
static void stop_if_failed(la_sched *s, int64_t sweep_id) {
  char state[16];
  if (la_store_sweep_state(s->store, sweep_id, state, sizeof state) == 0 &&
      strcmp(state, "failed") == 0)
    la_sched_cancel_sweep(s, sweep_id);
}

/* Ends the attempt of run r of w that never started (state "queued" or
 * "failed"), with why as its error. 1. */
static int end_unstarted(la_sched *s, const worker *w, wrun *r,
                         const char *state, const char *why) {
  la_run_result res;
  la_err err;
  la_run_result_init(&res, state);
  res.error = why;
  r->ended = 1;
  s->stats.failed++;
  if (la_store_finish_run(s->store, r->run_id, &res, &err))
    fprintf(stderr, "loralpha serve: run %lld: %s\n", (long long)r->run_id,
            err.msg);
  else
    stop_if_failed(s, w->sweep_id);
  return 1;
}

/* Records the runs of a worker that could not even start as failed
 * attempts. */
static void spawn_failed(la_sched *s, worker *w, const char *why) {
  char text[1024];
  snprintf(text, sizeof text, "cannot start %s: %s", s->worker_path, why);
  for (int i = 0; i < w->nruns; i++)
    end_unstarted(s, w, &w->runs[i],
                  w->runs[i].attempt < w->runs[i].max_attempts ? "queued"
                                                               : "failed",
                  text);
}

/* Fails w's run for good before it starts, with why as its error; 1. */
static int refuse_run(la_sched *s, worker *w, const char *why) {
  return end_unstarted(s, w, &w->runs[0], "failed", why);
}

/* A run that names files its owner may not have read here, or a command
 * task's run whose owner may not run programs here (rights.h; a sweep
 * stored before the rule or by another daemon): failed for good, never
 * started. 1 when it was refused. */
static int files_refused(la_sched *s, worker *w) {
  char self[LA_USER_MAX];
  json_t *cfg;
  la_err why;
  const char *field;
  int status;
  if (w->cmd == NULL && strstr(w->config, "\"npy\"") == NULL &&
      strstr(w->config, "\"gpt\"") == NULL)
    return 0; /* the usual case */
  cfg = json_loads(w->config, 0, NULL);
  field = la_rights_files_field(w->warm ? json_object_get(cfg, "config") : cfg);
  json_decref(cfg); /* field is a static string */
  la_rights_user_of_uid((long)geteuid(), self, sizeof self);
  if (w->cmd != NULL &&
      la_rights_check_command(w->owner, self, 0, &status, &why) != 0)
    return refuse_run(s, w, why.msg);
  if (field == NULL ||
      la_rights_check_files(field, w->owner, self, 0, &status, &why) == 0)
    return 0;
  return refuse_run(s, w, why.msg);
}

/* A command task's run passed its time limit: stopped (its group: SIGTERM,
 * then SIGKILL), the attempt failed. */
static void cmd_time_limit(void *ctx) {
  worker *w = ctx;
  if (w->exited || w->stop != STOP_NONE) return;
  w->stop = STOP_TIME_LIMIT;
  w->s->stats.killed++;
  kill_worker(w, SIGTERM);
}

/* A command task's trainer exited but a runaway descendant (one that left
 * its process group) holds its pipes: they are read no further. */
static void cmd_linger(void *ctx) {
  worker *w = ctx;
  uv_buf_t none = uv_buf_init(NULL, 0);
  if (!w->out_eof) {
    uv_read_stop((uv_stream_t *)&w->out);
    on_stdout((uv_stream_t *)&w->out, UV_EOF, &none);
  }
  if (!w->err_eof) {
    uv_read_stop((uv_stream_t *)&w->err);
    on_stderr((uv_stream_t *)&w->err, UV_EOF, &none);
  }
}

/* The command part of w's run (sched/command.h), when it is a command
 * task's. 0, or LA_ENOMEM. */
static int command_part(la_sched *s, worker *w) {
  static const la_cmd_hooks hooks = {cmd_time_limit, cmd_linger};
  return la_cmd_new(s->loop, w->config, &hooks, w, &w->cmd);
}

/* w's config and command part for ticket t. A command task's run has a
 * process of its own (its worker execs the trainer); any other run goes to
 * a warm worker when the daemon keeps them (worker_mode "warm"). 0,
 * LA_EINVAL (the config cannot be prepared) or LA_ENOMEM. */
static int prepare(la_sched *s, worker *w, const la_run_ticket *t) {
  if ((w->config = worker_config(s, t->config, t->run_id, 0)) == NULL)
    return LA_EINVAL;
  if (command_part(s, w)) return LA_ENOMEM;
  if (s->pool == NULL || w->cmd != NULL) return 0;
  w->warm = w->serve = 1;
  free(w->config);
  w->config = worker_config(s, t->config, t->run_id, 1);
  return w->config == NULL ? LA_EINVAL : 0;
}

/* The scheduler's user_last for la_fairshare_next_runs. */
static uint64_t user_last(const char *user, void *ctx) {
  la_sched *s = ctx;
  for (size_t i = 0; i < sizeof s->served / sizeof s->served[0]; i++)
    if (strcmp(s->served[i].user, user) == 0) return s->served[i].at;
  return 0;
}

/* Notes that user has just had a run started (the oldest entry makes room
 * for a new user). */
static void note_served(la_sched *s, const char *user) {
  size_t n = sizeof s->served / sizeof s->served[0], k = 0;
  s->starts++;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(s->served[i].user, user) == 0) {
      s->served[i].at = s->starts;
      return;
    }
    if (s->served[i].at < s->served[k].at) k = i;
  }
  snprintf(s->served[k].user, sizeof s->served[k].user, "%s", user);
  s->served[k].at = s->starts;
}

/* Gives the request of new (a worker not started: its runs and config) to
 * the idle warm worker w of the same owner, and frees new. */
static void hand_over(worker *w, worker *new) {
  la_sched *s = w->s;
  free_runs(w);
  w->runs = new->runs, w->nruns = new->nruns;
  new->runs = NULL, new->nruns = 0;
  w->sweep_id = new->sweep_id;
  w->window = new->window;
  w->config = new->config, new->config = NULL;
  w->err_msg[0] = '\0', w->tail_len = 0, w->lines = 0;
  w->stop = STOP_NONE;
  w->has_run = 1;
  w->last_output = uv_now(s->loop);
  worker_free(new);
  record_process(s, w);
  send_config(w);
  if (++s->stats.busy > s->stats.max_busy) s->stats.max_busy = s->stats.busy;
}

/* Before a new warm worker starts: at most max_workers processes, busy or
 * idle, so the idle worker that waited longest makes room. */
static void make_room(la_sched *s) {
  worker *w;
  if ((size_t)s->stats.busy + la_pool_idle(s->pool) <
      (size_t)s->opts.max_workers)
    return;
  if ((w = la_pool_take_oldest(s->pool)) != NULL) retire(w);
}

/* ---- packs ----
 *
 * A run that starts may take queued runs of its sweep along into a pack
 * (docs/daemon.md "Packs"): runs of its rank and seed on their first
 * attempt whose configs pack with its own (la_pack_check, the worker's own
 * check), at most pack_max in all, no more than its sweep's max_parallel
 * and its owner's cap leave room for, and no more than fit the workers'
 * memory cap together. */

/* Moves into mates[] the queued runs that join t's pack (la_pack_joins);
 * returns how many (0: t trains alone). A failure to read them only means
 * no pack. raw (LA_PACK_MAX) gets the configs as the worker gets them,
 * t's first; cfg is work space for two parsed configs. */
static int find_mates(la_sched *s, const la_run_ticket *t, la_run_ticket *mates,
                      la_config *cfg, json_t **raw) {
  la_run_ticket cand[LA_PACK_MAX];
  la_err err;
  int want = s->opts.pack_max - 1, nc = 0, n = 0;
  uint64_t memory;
  if (want > t->room) want = t->room;
  if (want <= 0 || t->attempts > 0 ||
      (raw[0] = run_json(s, t->config, t->run_id)) == NULL ||
      la_config_parse(raw[0], &cfg[0], &err) != 0 || cfg[0].task == LA_TASK_GPT)
    return 0; /* gpt and command runs train alone */
  memory = LA_MEM_BASE + la_pack_run_memory(&cfg[0]);
  if (la_store_pack_mates(s->store, t, s->opts.pack_max - 1, cand, &nc, &err))
    nc = 0; /* a failed read: no pack this time */
  for (int i = 0; i < nc; i++) {
    if (n < want &&
        (raw[n + 1] = run_json(s, cand[i].config, cand[i].run_id)) != NULL &&
        la_pack_joins(raw[0], &cfg[0], raw[n + 1], &cfg[1], &memory,
                      s->opts.pack_memory)) {
      mates[n++] = cand[i];
      continue;
    }
    if (n < want) {
      json_decref(raw[n + 1]);
      raw[n + 1] = NULL;
    }
    la_run_ticket_clear(&cand[i]);
  }
  return n;
}

/* Puts run_id, started but never sent to a worker, back in the queue (the
 * attempt not counted). */
static void end_refunded(la_sched *s, int64_t run_id) {
  la_run_result res;
  la_err err;
  la_run_result_init(&res, "queued");
  res.refund_attempt = 1;
  if (la_store_finish_run(s->store, run_id, &res, &err))
    fprintf(stderr, "loralpha serve: run %lld: %s\n", (long long)run_id,
            err.msg);
}

/* The request line of a pack of w's runs from their configs raw (run_id
 * and threads set): {"type":"pack","configs":[...]} with "stack" when the
 * daemon stacks, and its newline. New string or NULL. */
static char *pack_line(const la_sched *s, json_t *const *raw, int n) {
  json_t *configs = json_array(), *req;
  char *line;
  for (int i = 0; i < n; i++)
    json_array_append(configs, raw[i]);
  req = json_pack("{s:s, s:o, s:b}", "type", "pack", "configs", configs,
                  "stack", s->opts.pack_stack);
  line = request_line(req);
  json_decref(req);
  return line;
}

/* Makes w (its first run started, config prepared) the worker of a pack:
 * starts the mates (those no longer queued stay out) and replaces w's
 * config with the pack's request line. Without room for another run, or
 * when the line cannot be made (the runs then train one by one, from the
 * queue), w stays a one-run worker. */
static void form_pack(la_sched *s, worker *w, const la_run_ticket *t) {
  la_run_ticket *mates = calloc(LA_PACK_MAX, sizeof *mates);
  la_config *cfgs = calloc(2, sizeof *cfgs);
  json_t **raw = calloc(LA_PACK_MAX, sizeof *raw);
  json_t *sent[LA_PACK_MAX]; /* the started runs' configs (borrowed) */
  wrun *runs = NULL;
  la_err err;
  int nm = 0, n = 1;
  char *line = NULL;
  if (mates != NULL && cfgs != NULL && raw != NULL)
    nm = find_mates(s, t, mates, cfgs, raw);
  if (nm > 0) runs = calloc((size_t)nm + 1, sizeof *runs);
  for (int i = 0; runs != NULL && i < nm; i++) {
    if (la_store_start_run(s->store, mates[i].run_id, &err) != 0)
      continue; /* no longer queued, or not written: it stays as it is */
    runs[n].run_id = mates[i].run_id;
    runs[n].attempt = mates[i].attempts + 1;
    runs[n].max_attempts = mates[i].max_attempts;
    sent[n++] = raw[i + 1];
  }
  if (n > 1) {
    sent[0] = raw[0];
    if ((line = pack_line(s, sent, n)) == NULL)
      for (int i = 1; i < n; i++) /* back to the queue, the attempt not
                                     counted: they train later */
        end_refunded(s, runs[i].run_id);
  }
  if (line != NULL) {
    runs[0] = w->runs[0];
    free(w->runs);
    w->runs = runs, w->nruns = n, runs = NULL;
    free(w->config);
    w->config = line;
    w->serve = 1;
    s->stats.packs++;
    s->stats.packed_runs += (uint64_t)n;
  }
  for (int i = 0; raw != NULL && i < LA_PACK_MAX; i++)
    json_decref(raw[i]);
  for (int i = 0; mates != NULL && i < nm; i++)
    la_run_ticket_clear(&mates[i]);
  free(runs), free(raw), free(cfgs), free(mates);
}

/* Starts one ticket: committed as running first (with the runs of its
 * pack), then spawned or handed to an idle warm worker. 0 when the run
 * moved on (started, its failed start recorded, or no longer queued: its
 * sweep ended since the ticket was picked); when nothing changed,
 * LA_ENOMEM or LA_EINVAL (its config cannot be prepared) or the store's
 * code (it refused the write). */
static int start_ticket(la_sched *s, const la_run_ticket *t) {
  la_err err;
  worker *w = calloc(1, sizeof *w), *idle;
  int rc;
  if (w != NULL && (w->runs = calloc(1, sizeof *w->runs)) == NULL)
    free(w), w = NULL;
  if (w == NULL || (rc = prepare(s, w, t)) != 0) {
    if (w == NULL) rc = LA_ENOMEM;
    if (w != NULL) worker_free(w);
    fprintf(stderr, "loralpha serve: run %lld: cannot prepare its config\n",
            (long long)t->run_id);
    return rc;
  }
  if ((rc = la_store_start_run(s->store, t->run_id, &err)) == LA_EINVAL) {
    worker_free(w); /* no longer queued: its sweep ended since it was picked
                       (cancelled, or stopped by a failure just before) */
    return 0;
  }
  if (rc != 0) {
    snprintf(s->store_msg, sizeof s->store_msg, "%s", err.msg);
    if (!la_store_disk_full(s->store)) /* else note_store says it once */
      fprintf(stderr, "loralpha serve: %s\n", err.msg);
    note_store(s);
    worker_free(w);
    return rc;
  }
  w->s = s, w->sweep_id = t->sweep_id, w->nruns = 1;
  w->runs[0].run_id = t->run_id;
  w->runs[0].attempt = t->attempts + 1;
  w->runs[0].max_attempts = t->max_attempts;
  memcpy(w->owner, t->owner, sizeof w->owner);
  w->window = t->window;
  note_served(s, w->owner);
  w->last_output = uv_now(s->loop);
  w->has_run = 1;
  if (files_refused(s, w)) return worker_free(w), 0;
  if (w->cmd == NULL && s->opts.pack_max > 1) form_pack(s, w, t);
  if (w->warm && (idle = la_pool_take(s->pool, w->owner)) != NULL)
    return hand_over(idle, w), 0;
  if (s->pool != NULL) make_room(s);
  if ((rc = spawn(w)) != 0) {
    spawn_failed(s, w, uv_strerror(rc));
    w->finished = 1; /* freed when its handles have closed */
    return 0;
  }
  record_process(s, w);
  w->next = s->workers, s->workers = w;
  s->stats.started++;
  if (++s->stats.busy > s->stats.max_busy) s->stats.max_busy = s->stats.busy;
  wire_up(w);
  return 0;
}

/* The scheduler's skip_sweep for la_fairshare_next_runs: sweeps another
 * executor runs are not started here. */
static int remote_owns(int64_t sweep_id, void *ctx) {
  la_sched *s = ctx;
  return s->remote.owns != NULL && s->remote.owns(s->remote.ctx, sweep_id);
}

/* The scheduler's user_cap for la_fairshare_next_runs. */
static int user_cap(const char *user, void *ctx) {
  la_sched *s = ctx;
  return s->opts.user_cap ? s->opts.user_cap(user, s->opts.cap_ctx) : -1;
}

void la_sched_set_remote(la_sched *s, const la_sched_remote *remote) {
  s->remote = *remote;
}

void la_sched_kick(la_sched *s) {
  la_run_ticket tickets[64];
  la_err err;
  la_pick_opts pick = {la_minute_now(), user_cap, user_last, remote_owns, s};
  int room = s->opts.max_workers - s->stats.busy, n, stuck;
  int per = s->opts.pack_max > 1 ? 1 : 64; /* a pack's runs count before the
                                              next choice */
  if (!la_window_open(&s->opts.window, pick.minute)) return;
  if (!s->draining && s->remote.kick) s->remote.kick(s->remote.ctx);
  while (!s->draining && room > 0) {
    n = la_fairshare_next_runs(s->store, tickets, room < per ? room : per,
                               &pick, &err);
    if (n < 0) fprintf(stderr, "loralpha serve: %s\n", err.msg);
    if (n <= 0) return;
    stuck = 0;
    for (int i = 0; i < n; i++) {
      stuck += start_ticket(s, &tickets[i]) != 0;
      la_run_ticket_clear(&tickets[i]);
    }
    if (stuck == n) return; /* the same tickets would come back (disk full) */
    room = s->opts.max_workers - s->stats.busy;
  }
}

void la_sched_cancel_sweep(la_sched *s, int64_t sweep_id) {
  if (s->remote.cancel) s->remote.cancel(s->remote.ctx, sweep_id);
  for (worker *w = s->workers; w != NULL; w = w->next) {
    if (w->sweep_id != sweep_id || w->exited || !w->has_run ||
        w->stop != STOP_NONE)
      continue;
    w->stop = STOP_CANCEL;
    s->stats.killed++;
    kill_worker(w, SIGTERM);
  }
}

void la_sched_requeue_sweep(la_sched *s, int64_t sweep_id) {
  for (worker *w = s->workers; w != NULL; w = w->next)
    if (w->sweep_id == sweep_id) stop_requeue(s, w);
}

void la_sched_set_window(la_sched *s, int64_t sweep_id, const la_window *win) {
  for (worker *w = s->workers; w != NULL; w = w->next)
    if (w->sweep_id == sweep_id) w->window = *win;
  check_windows(s);
}

int la_sched_user_busy(const la_sched *s, const char *user) {
  int n = 0;
  for (const worker *w = s->workers; w != NULL; w = w->next)
    for (int i = 0; w->has_run && i < w->nruns; i++)
      n += !w->runs[i].ended && strcmp(w->owner, user) == 0;
  return n;
}

/* ---- checks of new sweeps ----
 *
 * A check is the worker run with --check on one run's config, started as
 * that run's worker would be (worker_options: the same program, user,
 * directory, environment, memory cap and nice level). Its stdout (the
 * effective config) is not read; its stderr's error line is the answer.
 * Its handles: the process, the stdin and stderr pipes, the time limit's
 * timer; it is freed when all four have closed. At most max_workers checks
 * run at once (each may need a run's memory); the others wait in
 * s->checks, oldest first, and start as places free up. */

typedef struct check {
  la_sched *s;
  struct check *next;
  uv_process_t proc;
  uv_pipe_t in, err;
  uv_timer_t timer;
  uv_write_t wreq;
  char *config;            /* being written to stdin (owned) */
  char owner[LA_USER_MAX]; /* whose worker it is started as */
  char tail[TAIL_BYTES];
  size_t tail_len;
  unsigned timeout_ms;
  int started; /* 0: waiting for a place (at most max_workers run at once) */
  int open_handles, exited, err_eof, timed_out, killed, answered;
  int64_t status;
  int term_signal;
  la_sched_check_cb done;
  void *ctx;
} check;

static void check_closed(uv_handle_t *h) {
  check *c = h->data;
  if (--c->open_handles == 0) {
    free(c->config);
    free(c);
  }
}

/* The worker's error line in the check's stderr into buf, or the exit
 * status and the stderr itself. */
static void check_error(const check *c, char *buf, size_t size) {
  if (!tail_error(c->tail, c->tail_len, buf, size))
    snprintf(buf, size, "the worker's check exited with status %lld: %.*s",
             (long long)c->status, (int)c->tail_len, c->tail);
}

/* When the process has exited and stderr is closed: the answer, once. */
static void check_maybe_done(check *c) {
  la_sched *s = c->s;
  char msg[1024];
  la_check_result r;
  if (!c->exited || !c->err_eof || c->answered) return;
  c->answered = 1;
  for (check **p = &s->checks; *p != NULL; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      break;
    }
  uv_close((uv_handle_t *)&c->timer, check_closed);
  if (c->timed_out) {
    r = LA_CHECK_SKIPPED;
    snprintf(msg, sizeof msg,
             "the worker's check did not finish within %u s (check_timeout)",
             c->timeout_ms / 1000);
  } else if (c->killed || c->term_signal) {
    r = LA_CHECK_SKIPPED;
    snprintf(msg, sizeof msg, "the worker's check was stopped (signal %d)%s",
             c->term_signal, c->killed ? ": the daemon is stopping" : "");
  } else if (c->status == 0) {
    r = LA_CHECK_PASSED;
    msg[0] = '\0';
  } else {
    r = LA_CHECK_FAILED;
    check_error(c, msg, sizeof msg);
  }
  c->done(r, msg, c->ctx);
  start_waiting_checks(s);
  if (s->draining) sched_maybe_drained(s);
}

static void on_check_exit(uv_process_t *p, int64_t status, int term_signal) {
  check *c = p->data;
  c->exited = 1;
  c->status = status;
  c->term_signal = term_signal;
  uv_close((uv_handle_t *)p, check_closed);
  check_maybe_done(c);
}

static void on_check_stderr(uv_stream_t *st, ssize_t nread,
                            const uv_buf_t *buf) {
  check *c = st->data;
  if (nread > 0) { /* the last TAIL_BYTES */
    size_t n = (size_t)nread;
    if (n >= TAIL_BYTES) {
      memcpy(c->tail, buf->base + n - TAIL_BYTES, TAIL_BYTES);
      c->tail_len = TAIL_BYTES;
    } else {
      size_t keep = c->tail_len + n > TAIL_BYTES ? TAIL_BYTES - n : c->tail_len;
      memmove(c->tail, c->tail + c->tail_len - keep, keep);
      memcpy(c->tail + keep, buf->base, n);
      c->tail_len = keep + n;
    }
  }
  free(buf->base);
  if (nread < 0) {
    c->err_eof = 1;
    uv_close((uv_handle_t *)st, check_closed);
    check_maybe_done(c);
  }
}

static void on_check_written(uv_write_t *req, int status) {
  check *c = req->data;
  (void)status; /* a worker that died early is reported by its exit */
  uv_close((uv_handle_t *)&c->in, check_closed);
}

static void on_check_timeout(uv_timer_t *t) {
  check *c = t->data;
  if (c->exited) return;
  c->timed_out = 1;
  uv_process_kill(&c->proc, SIGKILL);
}

/* Stops every check (the daemon is stopping): they answer skipped. */
static void stop_checks(la_sched *s) {
  check **p = &s->checks, *c;
  while ((c = *p) != NULL) {
    if (!c->started) { /* never started: answered now, nothing to close */
      *p = c->next;
      c->done(LA_CHECK_SKIPPED, "the daemon is stopping", c->ctx);
      free(c->config);
      free(c);
      continue;
    }
    if (!c->exited && !c->killed) {
      c->killed = 1;
      uv_process_kill(&c->proc, SIGKILL);
    }
    p = &c->next;
  }
}

/* uv_spawn of the check; on failure its handles are closed. */
static int check_spawn(check *c, const char *owner) {
  la_sched *s = c->s;
  spawn_args a;
  uv_stdio_container_t stdio[3];
  int rc;
  uv_pipe_init(s->loop, &c->in, 0);
  uv_pipe_init(s->loop, &c->err, 0);
  uv_timer_init(s->loop, &c->timer);
  c->proc.data = c->in.data = c->err.data = c->timer.data = c;
  c->wreq.data = c;
  c->open_handles = 4;
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&c->in;
  stdio[1].flags = UV_IGNORE;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&c->err;
  worker_options(s, owner, "--check", &a);
  a.o.exit_cb = on_check_exit;
  a.o.stdio = stdio;
  a.o.stdio_count = 3;
  if ((rc = uv_spawn(s->loop, &c->proc, &a.o)) != 0) {
    uv_close((uv_handle_t *)&c->proc, check_closed);
    uv_close((uv_handle_t *)&c->in, check_closed);
    uv_close((uv_handle_t *)&c->err, check_closed);
    uv_close((uv_handle_t *)&c->timer, check_closed);
  }
  return rc;
}

/* Starts c: spawned, its config written, its stderr read, its time limit
 * set. 0, or uv_spawn's code (c's handles closed: freed soon). */
static int check_start(check *c) {
  la_sched *s = c->s;
  uv_buf_t buf;
  int rc;
  c->started = 1;
  if ((rc = check_spawn(c, c->owner)) != 0) return rc;
  if (s->opts.nice > 0)
    setpriority(PRIO_PROCESS, (id_t)c->proc.pid, s->opts.nice);
  buf = uv_buf_init(c->config, (unsigned)strlen(c->config));
  if (uv_write(&c->wreq, (uv_stream_t *)&c->in, &buf, 1, on_check_written))
    on_check_written(&c->wreq, -1);
  uv_read_start((uv_stream_t *)&c->err, on_alloc, on_check_stderr);
  uv_timer_start(&c->timer, on_check_timeout, c->timeout_ms, 0);
  return 0;
}

/* Starts the waiting checks there is room for, oldest first; one that
 * cannot start answers skipped, saying why. */
static void start_waiting_checks(la_sched *s) {
  char msg[1024];
  int running = 0, rc;
  for (check *c = s->checks; c != NULL; c = c->next)
    running += c->started;
  for (check **p = &s->checks, *c; (c = *p) != NULL && !s->draining;) {
    if (c->started || running >= s->opts.max_workers) {
      p = &c->next;
      continue;
    }
    if ((rc = check_start(c)) == 0) {
      running++;
      p = &c->next;
      continue;
    }
    *p = c->next; /* its handles close: freed then */
    snprintf(msg, sizeof msg, "cannot start %s: %s", s->worker_path,
             uv_strerror(rc));
    c->done(LA_CHECK_SKIPPED, msg, c->ctx);
  }
}

int la_sched_check(la_sched *s, const char *owner, const char *config,
                   unsigned timeout_ms, la_sched_check_cb done, void *ctx,
                   la_err *err) {
  check *c = calloc(1, sizeof *c), **tail = &s->checks;
  int running = 0, rc;
  if (s->draining) {
    free(c);
    return la_errf(err, LA_EINVAL, "the daemon is stopping");
  }
  if (c == NULL || (c->config = worker_config(s, config, -1, 0)) == NULL) {
    free(c);
    return la_errf(err, LA_ENOMEM, "check: out of memory");
  }
  c->s = s, c->done = done, c->ctx = ctx, c->timeout_ms = timeout_ms;
  snprintf(c->owner, sizeof c->owner, "%s", owner);
  for (; *tail != NULL; tail = &(*tail)->next)
    running += (*tail)->started;
  if (running < s->opts.max_workers && (rc = check_start(c)) != 0)
    return la_errf(err, LA_EIO, "cannot start %s: %s", s->worker_path,
                   uv_strerror(rc)); /* c is freed as its handles close */
  *tail = c;                         /* the newest last */
  return 0;
}

/* ---- stopping ---- */

static void on_timer_closed(uv_handle_t *h) {
  la_sched *s = h->data;
  if (--s->timers_open == 0 && s->drain_done) s->drain_done(s->drain_arg);
}

/* When draining and no worker is left: flush, close the timers, report. */
static void sched_maybe_drained(la_sched *s) {
  la_err err;
  if (!s->draining || s->workers != NULL || s->checks != NULL ||
      s->timers_open != 3)
    return;
  if (retry_finishes(s))
    fprintf(stderr,
            "loralpha serve: %s (%d run ends not committed: those "
            "runs are requeued at the next start)\n",
            s->store_msg, s->stats.kept);
  else if (la_store_flush(s->store, &err))
    fprintf(stderr, "loralpha serve: %s\n", err.msg);
  uv_close((uv_handle_t *)&s->flush_timer, on_timer_closed);
  uv_close((uv_handle_t *)&s->beat_timer, on_timer_closed);
  uv_close((uv_handle_t *)&s->window_timer, on_timer_closed);
}

void la_sched_drain(la_sched *s, void (*done)(void *), void *arg) {
  if (s->draining) return;
  s->draining = 1;
  s->drain_done = done, s->drain_arg = arg;
  if (s->pool != NULL) /* idle warm workers: closed, they exit */
    for (worker *w; (w = la_pool_take_oldest(s->pool)) != NULL;)
      retire(w);
  for (worker *w = s->workers; w != NULL; w = w->next) {
    if (w->exited || !w->has_run || w->stop != STOP_NONE) continue;
    w->stop = STOP_DRAIN;
    s->stats.killed++;
    kill_worker(w, SIGTERM);
  }
  stop_checks(s);
  sched_maybe_drained(s);
}

void la_sched_free(la_sched *s) {
  kept_finish *k;
  if (s == NULL) return;
  while ((k = s->kept) != NULL) {
    s->kept = k->next;
    free(k->error);
    free(k);
  }
  free(s->worker_path);
  free_env(s->env);
  la_pool_free(s->pool);
  free(s);
}
