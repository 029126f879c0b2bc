/* slurm.c: the Slurm executor: submission, following jobs, cancelling and
 * re-attaching (see slurm.h; the ingest route is in ingest.c). */
#include "loralpha/config.h"
#include "loralpha/json_text.h"
#include "loralpha/packing.h"
#include "loralpha/paths.h"
#include "loralpha/resources.h"
#include "net/auth.h"
#include "slurm/slurm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_CAP (4u << 20) /* bytes of a command's output kept */
#define MAX_ARRAYS 4       /* arrays submitted per kick */
#define MAX_SWEEPS 16      /* Slurm sweeps looked at per kick */
#define LOG_TAIL 1500      /* bytes of a job's log quoted in its error */

extern char **environ;

/* A child process (sbatch, squeue, scontrol, scancel) and its output. */
typedef struct cmd {
  la_slurm *sl;
  uv_process_t proc;
  uv_pipe_t out, err;
  char *buf[2]; /* stdout, stderr (owned, NUL-terminated) */
  size_t len[2];
  int open, exited, eof;
  int64_t status;
  int term_signal;
  void (*done)(struct cmd *c);
  void *arg;
} cmd;

static void poll_start(la_slurm *sl);
static int make_dirs(la_slurm_opts *o, la_err *err);
static void submit_next(la_slurm *sl);
static void maybe_stopped(la_slurm *sl);

/* ---- child processes ---- */

static void cmd_free(cmd *c) {
  free(c->buf[0]);
  free(c->buf[1]);
  free(c);
}

static void cmd_closed(uv_handle_t *h) {
  cmd *c = h->data;
  la_slurm *sl = c->sl;
  if (--c->open > 0) return;
  cmd_free(c);
  sl->children--;
  maybe_stopped(sl);
}

/* Once exited with both pipes at EOF: the callback, then the handles go. */
static void cmd_maybe_done(cmd *c) {
  if (!c->exited || c->eof < 2) return;
  c->done(c);
  uv_close((uv_handle_t *)&c->proc, cmd_closed);
}

static void cmd_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h, (void)suggested;
  buf->base = malloc(65536);
  buf->len = buf->base ? 65536 : 0;
}

static void cmd_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  cmd *c = st->data;
  int k = st == (uv_stream_t *)&c->out ? 0 : 1;
  if (nread > 0 && c->len[k] + (size_t)nread < OUT_CAP) {
    char *p = realloc(c->buf[k], c->len[k] + (size_t)nread + 1);
    if (p != NULL) {
      memcpy(p + c->len[k], buf->base, (size_t)nread);
      c->len[k] += (size_t)nread;
      p[c->len[k]] = 0;
      c->buf[k] = p;
    }
  }
  free(buf->base);
  if (nread < 0) {
    c->eof++;
    uv_close((uv_handle_t *)st, cmd_closed);
    cmd_maybe_done(c);
  }
}

static void cmd_exit(uv_process_t *p, int64_t status, int sig) {
  cmd *c = p->data;
  c->exited = 1, c->status = status, c->term_signal = sig;
  cmd_maybe_done(c);
}

/* Runs argv (argv[0] from PATH) in the executor's directory; done(c) is
 * called when it has exited and its output is read. Returns 0, or a libuv
 * error (done is then never called): UV_EPERM, always, on a daemon whose
 * config does not enable Slurm. */
static int cmd_run(la_slurm *sl, char **argv, void (*done)(cmd *), void *arg) {
  cmd *c;
  uv_stdio_container_t io[3];
  uv_process_options_t o;
  int rc;
  if (!sl->opts.enabled) return UV_EPERM; /* no Slurm in the config */
  if ((c = calloc(1, sizeof *c)) == NULL) return UV_ENOMEM;
  c->sl = sl, c->done = done, c->arg = arg;
  c->buf[0] = calloc(1, 1), c->buf[1] = calloc(1, 1);
  if (c->buf[0] == NULL || c->buf[1] == NULL) {
    cmd_free(c);
    return UV_ENOMEM;
  }
  uv_pipe_init(sl->loop, &c->out, 0);
  uv_pipe_init(sl->loop, &c->err, 0);
  c->proc.data = c->out.data = c->err.data = c;
  io[0].flags = UV_IGNORE;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t *)&c->out;
  io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[2].data.stream = (uv_stream_t *)&c->err;
  memset(&o, 0, sizeof o);
  o.file = argv[0], o.args = argv, o.env = environ;
  o.cwd = sl->dirs_ready ? sl->opts.dir : NULL;
  o.exit_cb = cmd_exit, o.stdio = io, o.stdio_count = 3;
  c->open = 3;
  sl->children++;
  rc = uv_spawn(sl->loop, &c->proc, &o);
  if (rc) {
    c->done = NULL;
    uv_close((uv_handle_t *)&c->proc, cmd_closed);
    uv_close((uv_handle_t *)&c->out, cmd_closed);
    uv_close((uv_handle_t *)&c->err, cmd_closed);
    return rc;
  }
  uv_read_start((uv_stream_t *)&c->out, cmd_alloc, cmd_read);
  uv_read_start((uv_stream_t *)&c->err, cmd_alloc, cmd_read);
  return 0;
}

/* How a command ended, in words: "exit 1: <stderr>". */
static void cmd_status(const cmd *c, char *buf, size_t size) {
  const char *e = c->buf[1] ? c->buf[1] : "";
  size_t n = strlen(e);
  while (n > 0 && (e[n - 1] == '\n' || e[n - 1] == ' '))
    n--;
  if (c->term_signal)
    snprintf(buf, size, "killed by signal %d: %.*s", c->term_signal, (int)n, e);
  else
    snprintf(buf, size, "exit %lld: %.*s", (long long)c->status, (int)n, e);
}

/* ---- the jobs followed ---- */

la_sjob *la_slurm_job(la_slurm *sl, int64_t run_id) {
  for (size_t i = 0; i < sl->n_jobs; i++)
    if (sl->jobs[i].run_id == run_id) return &sl->jobs[i];
  return NULL;
}

/* Adds a job; NULL when out of memory. */
static la_sjob *add_job(la_slurm *sl, const la_sjob *j) {
  if (sl->n_jobs == sl->cap_jobs) {
    size_t cap = sl->cap_jobs ? 2 * sl->cap_jobs : 64;
    la_sjob *p = realloc(sl->jobs, cap * sizeof *p);
    if (p == NULL) return NULL;
    sl->jobs = p, sl->cap_jobs = cap;
  }
  sl->jobs[sl->n_jobs] = *j;
  sl->stats.live = (int)++sl->n_jobs;
  return &sl->jobs[sl->n_jobs - 1];
}

static void drop_job(la_slurm *sl, la_sjob *j) {
  *j = sl->jobs[--sl->n_jobs];
  sl->stats.live = (int)sl->n_jobs;
}

/* A failed attempt may have stopped its sweep (its runs keep failing the
 * same way: la_store_finish_run): its other jobs are cancelled too. */
static void stop_if_failed(la_slurm *sl, int64_t sweep) {
  char state[16];
  if (la_store_sweep_state(sl->store, sweep, state, sizeof state) == 0 &&
      strcmp(state, "failed") == 0)
    la_slurm_cancel_sweep(sl, sweep);
}

void la_slurm_end_run(la_slurm *sl, la_sjob *j, const la_run_result *res,
                      const char *slurm_state) {
  la_err err;
  int64_t run = j->run_id, sweep = j->sweep_id;
  int requeued = strcmp(res->state, "queued") == 0;
  if (la_store_finish_run(sl->store, run, res, &err))
    fprintf(stderr, "loralpha serve: run %lld: %s\n", (long long)run, err.msg);
  if (la_sdb_end(sl->store, run, slurm_state))
    fprintf(stderr, "loralpha serve: run %lld: cannot end its Slurm job row\n",
            (long long)run);
  drop_job(sl, j);
  if (res->error != NULL && strcmp(res->state, "cancelled") != 0)
    stop_if_failed(sl, sweep);
  if (!requeued && sl->finished) sl->finished(sweep, sl->hook_ctx);
  if (sl->sched && !sl->stopping) la_sched_kick(sl->sched); /* room again */
}

/* The last bytes of the job's Slurm log (DIR/logs/A_T.out) into buf. */
static void log_tail(const la_slurm *sl, const la_sjob *j, char *buf,
                     size_t size) {
  char path[PATH_MAX];
  FILE *f;
  long end;
  size_t n;
  buf[0] = 0;
  if (j->array_id <= 0) return; /* never reached Slurm */
  snprintf(path, sizeof path, "%s/logs/%lld_%d.out", sl->opts.dir,
           (long long)j->array_id, j->task);
  if ((f = fopen(path, "rb")) == NULL) return;
  if (fseek(f, 0, SEEK_END) == 0 && (end = ftell(f)) > 0) {
    long want = end < LOG_TAIL ? end : LOG_TAIL;
    if (want >= (long)size) want = (long)size - 1;
    fseek(f, end - want, SEEK_SET);
    n = fread(buf, 1, (size_t)want, f);
    buf[n] = 0;
  }
  fclose(f);
}

void la_slurm_fail_attempt(la_slurm *sl, la_sjob *j, const char *slurm_state,
                           const char *why) {
  la_run_result res;
  char *text = malloc(8192), tail[LOG_TAIL + 1], job[64] = "slurm";
  la_run_result_init(&res, NULL);
  log_tail(sl, j, tail, sizeof tail);
  if (j->array_id > 0)
    snprintf(job, sizeof job, "slurm job %lld_%d", (long long)j->array_id,
             j->task);
  if (text != NULL)
    snprintf(text, 8192, "%s: %s%s%s%s%s", job, why, j->error[0] ? ": " : "",
             j->error, tail[0] ? "\n--- slurm log (last bytes) ---\n" : "",
             tail);
  res.error = text ? text : why;
  res.state = j->attempt < j->max_attempts ? "queued" : "failed";
  sl->stats.requeued += res.state[0] == 'q';
  la_slurm_end_run(sl, j, &res, slurm_state);
  free(text);
}

/* ---- submitting ---- */

/* 256 random bits as hex into tok; 0, or LA_EIO (getrandom failed). */
static int new_token(char tok[LA_TOKEN_HEX + 1]) {
  unsigned char b[LA_TOKEN_HEX / 2];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n < 0 && errno != EINTR) return LA_EIO;
    if (n > 0) got += (size_t)n;
  }
  for (size_t i = 0; i < sizeof b; i++)
    snprintf(tok + 2 * i, 3, "%02x", b[i]);
  return 0;
}

/* Writes text to path with mode (replacing it); 0 or LA_EIO. */
static int write_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  size_t n = strlen(text), off = 0;
  if (fd < 0) return LA_EIO;
  while (off < n) {
    ssize_t w = write(fd, text + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  return close(fd) == 0 && off == n ? 0 : LA_EIO;
}

/* The run's config (with its threads and run id) and token files; 0,
 * LA_EINVAL (its stored config is not an object), LA_ENOMEM or LA_EIO. */
static int write_run_files(const la_slurm *sl, const la_sdb_run *r,
                           const char *token, int threads) {
  char path[PATH_MAX], *text;
  json_t *cfg = json_loads(r->config, 0, NULL);
  int rc = LA_EINVAL;
  if (!json_is_object(cfg)) goto cleanup;
  json_object_set_new(cfg, "threads", json_integer(threads));
  json_object_set_new(cfg, "run_id", json_integer(r->id));
  text = la_json_text(cfg);
  snprintf(path, sizeof path, "%s/runs/%lld.json", sl->opts.dir,
           (long long)r->id);
  rc = text ? write_file(path, text, 0600) : LA_ENOMEM;
  free(text);
  snprintf(path, sizeof path, "%s/runs/%lld.token", sl->opts.dir,
           (long long)r->id);
  if (rc == 0) rc = write_file(path, token, 0600);
cleanup:
  json_decref(cfg);
  return rc;
}

/* The pack request of the k runs (their config file is named after the
 * first: runs/FIRST.json), their configs with threads and run ids; 0,
 * LA_EINVAL, LA_ENOMEM or LA_EIO. */
static int write_pack_file(const la_slurm *sl, const la_sdb_run *runs, int k,
                           int threads) {
  json_t *configs = json_array(), *req;
  char path[PATH_MAX], *text;
  int rc = configs ? 0 : LA_ENOMEM;
  for (int i = 0; rc == 0 && i < k; i++) {
    json_t *cfg = json_loads(runs[i].config, 0, NULL);
    if (!json_is_object(cfg)) rc = LA_EINVAL;
    json_object_set_new(cfg, "threads", json_integer(threads));
    json_object_set_new(cfg, "run_id", json_integer(runs[i].id));
    if (rc == 0 && json_array_append_new(configs, cfg)) rc = LA_ENOMEM;
    if (rc) json_decref(cfg);
  }
  req = rc == 0 ? json_pack("{s:s, s:O, s:b}", "type", "pack", "configs",
                            configs, "stack", sl->pack_stack)
                : NULL;
  text = req ? la_json_text(req) : NULL;
  if (rc == 0 && text == NULL) rc = LA_ENOMEM;
  snprintf(path, sizeof path, "%s/runs/%lld.json", sl->opts.dir,
           (long long)runs[0].id);
  if (rc == 0) rc = write_file(path, text, 0600);
  free(text);
  json_decref(req);
  json_decref(configs);
  return rc;
}

/* The array's script; 0 or LA_EIO. */
static int write_batch_script(const la_slurm *sl, const la_sbatch *b,
                              const la_slurm_settings *set, int throttle) {
  FILE *f = fopen(b->script, "w");
  la_slurm_script s = {
      sl->opts.dir, sl->opts.job_name, sl->opts.worker, sl->url,   set,
      b->name,      b->sweep_id,       b->first,        b->ntasks, throttle};
  int rc;
  if (f == NULL) return LA_EIO;
  rc = la_slurm_write_script(f, &s);
  return fclose(f) == 0 && rc == 0 ? 0 : LA_EIO;
}

/* The name of a stored spec (text) into buf ("" if it has none). */
static void spec_name(const char *spec, char *buf, size_t size) {
  json_t *j = json_loads(spec, 0, NULL);
  const char *name = json_string_value(json_object_get(j, "name"));
  snprintf(buf, size, "%s", name ? name : "");
  json_decref(j);
}

static void batch_free(la_sbatch *b) {
  if (b == NULL) return;
  free(b->runs);
  free(b->first);
  free(b);
}

/* Fails every run of a batch that never reached Slurm. */
static void batch_failed(la_slurm *sl, la_sbatch *b, const char *why) {
  for (int i = 0; i < b->n; i++) {
    la_sjob *j = la_slurm_job(sl, b->runs[i]);
    if (j != NULL) la_slurm_fail_attempt(sl, j, "", why);
  }
}

/* Claims n queued runs of the sweep, writes their files and queues their
 * array; or, when refused says why the daemon's config no longer allows
 * the sweep's settings, fails them at once (nothing written). 0, or an
 * LA_E* code when nothing was claimed. */
static int make_batch(la_slurm *sl, const la_sdb_sweep *w,
                      const la_slurm_settings *set, const char *refused,
                      la_sdb_run *runs, int n) {
  int64_t sweep = w->id;
  char(*tok)[LA_TOKEN_HEX + 1] = calloc((size_t)n, sizeof *tok);
  char(*hash)[LA_SHA256_HEX + 1] = calloc((size_t)n, sizeof *hash);
  la_sbatch *b = calloc(1, sizeof *b);
  la_err err, dir_err;
  int wrc = 0;
  int rc = tok && hash && b && (b->runs = calloc((size_t)n, sizeof *b->runs)) &&
                   (b->first = calloc((size_t)n, sizeof *b->first))
               ? 0
               : LA_ENOMEM;
  if (!refused && !sl->dirs_ready && make_dirs(&sl->opts, &dir_err) == 0)
    sl->dirs_ready = 1; /* created on first use: local-only daemons need none */
  if (rc == 0) spec_name(w->spec, b->name, sizeof b->name);
  for (int i = 0; rc == 0 && i < n; i++)
    if ((rc = new_token(tok[i])) == 0)
      rc = la_auth_sha256_hex(tok[i], LA_TOKEN_HEX, hash[i]);
  if (rc == 0) {
    b->sweep_id = sweep, b->n = n;
    snprintf(b->script, sizeof b->script, "%s/batches/s%lld-r%lld-a%d.sbatch",
             sl->opts.dir, (long long)sweep, (long long)runs[0].id,
             runs[0].attempts + 1);
    rc = la_sdb_claim(sl->store, sweep, runs, hash, n, b->script, &err);
    if (rc) fprintf(stderr, "loralpha serve: %s\n", err.msg);
  }
  for (int i = 0; rc == 0 && i < n; i++) {
    la_sjob j = {.run_id = runs[i].id, .sweep_id = sweep, .task = runs[i].task};
    j.attempt = runs[i].attempts + 1, j.max_attempts = w->max_attempts;
    if (refused) j.attempt = j.max_attempts; /* no retry helps */
    memcpy(j.token_sha256, hash[i], sizeof j.token_sha256);
    b->runs[i] = runs[i].id;
    if (i == 0 || runs[i].task != runs[i - 1].task)
      b->first[b->ntasks++] = runs[i].id;
    if (add_job(sl, &j) == NULL) rc = LA_ENOMEM; /* it stays running: restart */
  }
  free(hash);
  /* the clear tokens go only to the runs' token files */
  for (int i = 0, k; rc == 0 && !refused && sl->dirs_ready && wrc == 0 && i < n;
       i += k) {
    for (k = 1; i + k < n && runs[i + k].task == runs[i].task;)
      k++; /* the runs of task runs[i].task */
    for (int m = 0; wrc == 0 && m < k; m++)
      wrc = write_run_files(sl, &runs[i + m], tok[i + m], set->cpus_per_task);
    if (wrc == 0 && k > 1) /* a pack: its request replaces the first's */
      wrc = write_pack_file(sl, &runs[i], k, set->cpus_per_task);
  }
  if (tok) explicit_bzero(tok, (size_t)n * sizeof *tok);
  free(tok);
  if (rc) return batch_free(b), rc;
  if (refused) {
    batch_failed(sl, b, refused);
    return batch_free(b), 0;
  }
  if (!sl->dirs_ready) {
    batch_failed(sl, b, dir_err.msg);
    return batch_free(b), 0;
  }
  if (wrc == 0) wrc = write_batch_script(sl, b, set, w->max_parallel);
  if (wrc) {
    batch_failed(sl, b, "cannot write its files in the Slurm directory");
    return batch_free(b), 0;
  }
  la_sbatch **p = &sl->queue;
  while (*p)
    p = &(*p)->next;
  *p = b;
  return 0;
}

/* Whether run j may join the pack of leader i (parsed: cfg[0]): both on
 * their first attempt, of one rank and seed, and la_pack_joins (cfg[1]
 * gets j's parsed config, *memory grows by its part). */
static int may_join(json_t *const *raw, const la_sdb_run *runs, int i, int j,
                    la_config *cfg, uint64_t *memory, uint64_t limit) {
  return runs[j].attempts == 0 && raw[j] != NULL &&
         json_equal(json_object_get(raw[i], "rank"),
                    json_object_get(raw[j], "rank")) &&
         json_equal(json_object_get(raw[i], "seed"),
                    json_object_get(raw[j], "seed")) &&
         la_pack_joins(raw[i], &cfg[0], raw[j], &cfg[1], memory, limit);
}

/* Orders runs[0..n) so that each array task's runs are next to each other
 * and numbers the tasks (runs[].task): a run on its first attempt takes
 * along later runs that may join its pack (may_join), at most pack_max,
 * while their memory estimate fits; a sweep with max_parallel packs
 * nothing (its throttle counts tasks). Returns the number of tasks. */
static int group_packs(const la_slurm *sl, const la_sdb_sweep *w,
                       la_sdb_run *runs, int n) {
  la_sdb_run *order = calloc((size_t)n, sizeof *order);
  json_t **raw = calloc((size_t)n, sizeof *raw);
  la_config *cfg = calloc(2, sizeof *cfg);
  char *used = calloc((size_t)n, 1);
  int k = 0, tasks = 0;
  la_err err;
  if (order == NULL || raw == NULL || cfg == NULL || used == NULL ||
      sl->pack_max < 2 || w->max_parallel > 0) {
    for (int i = 0; i < n; i++)
      runs[i].task = i;
    k = n, tasks = n;
    goto out;
  }
  for (int i = 0; i < n; i++)
    if (runs[i].attempts == 0 &&
        (raw[i] = json_loads(runs[i].config, 0, NULL)) != NULL)
      json_object_set_new(raw[i], "run_id", json_integer(runs[i].id));
  for (int i = 0; i < n; i++) {
    int size = 1;
    uint64_t memory = 0;
    if (used[i]) continue;
    used[i] = 1;
    order[k] = runs[i];
    order[k++].task = tasks;
    if (raw[i] != NULL && la_config_parse(raw[i], &cfg[0], &err) == 0)
      memory = LA_MEM_BASE + la_pack_run_memory(&cfg[0]);
    for (int j = i + 1; memory > 0 && j < n && size < sl->pack_max; j++) {
      if (used[j] || !may_join(raw, runs, i, j, cfg, &memory, sl->pack_memory))
        continue;
      used[j] = 1;
      order[k] = runs[j];
      order[k++].task = tasks;
      size++;
    }
    tasks++;
  }
  memcpy(runs, order, (size_t)n * sizeof *runs);
out:
  for (int i = 0; raw != NULL && i < n; i++)
    json_decref(raw[i]);
  free(order), free(raw), free(cfg), free(used);
  return tasks;
}

/* One sweep's next array, of as many queued runs as it may still have in
 * Slurm (--slurm-batch at once), with the settings the daemon's config
 * gives it now. 1 if one was made, 0 if none, or an LA_E* code. */
static int kick_sweep(la_slurm *sl, const la_sdb_sweep *w, la_sdb_run *runs) {
  int room = sl->opts.batch, n, rc;
  la_slurm_settings set;
  la_err err;
  char why[sizeof err.msg + 96];
  for (size_t i = 0; i < sl->n_jobs; i++)
    room -= sl->jobs[i].sweep_id == w->id;
  if (room <= 0) return 0;
  rc = la_slurm_settings_of(w->spec, &sl->opts, &set, &err);
  if (rc)
    snprintf(why, sizeof why,
             "not submitted: the daemon's config does not allow the sweep's "
             "Slurm settings: %s",
             err.msg);
  n = la_sdb_queued(sl->store, w->id, runs, room);
  if (n <= 0) return n;
  group_packs(sl, w, runs, n);
  rc = make_batch(sl, w, &set, rc ? why : NULL, runs, n);
  for (int i = 0; i < n; i++)
    free(runs[i].config);
  return rc ? rc : 1;
}

void la_slurm_kick(la_slurm *sl) {
  la_sdb_sweep sw[MAX_SWEEPS];
  la_sdb_run *runs = NULL;
  int n, made = 0;
  if (sl->stopping || !sl->opts.enabled) return;
  n = la_sdb_slurm_sweeps(sl->store, sl->opts.default_slurm, sw, MAX_SWEEPS);
  if (n < 0) fprintf(stderr, "loralpha serve: cannot read the Slurm sweeps\n");
  if (n > 0) runs = calloc((size_t)sl->opts.batch, sizeof *runs);
  for (int i = 0; runs && i < n && made < MAX_ARRAYS; i++)
    made += kick_sweep(sl, &sw[i], runs) > 0;
  for (int i = 0; i < n; i++)
    free(sw[i].spec);
  free(runs);
  submit_next(sl);
}

static void on_sbatch(cmd *c) {
  la_slurm *sl = c->sl;
  la_sbatch *b = c->arg;
  la_err err;
  char why[1024], msg[1100];
  char *end;
  long long id = strtoll(c->buf[0], &end, 10);
  sl->submitting = 0;
  if (c->status != 0 || c->term_signal || id <= 0 ||
      (*end && *end != ';' && *end != '\n')) {
    cmd_status(c, why, sizeof why);
    if (c->status == 0 && !c->term_signal)
      snprintf(why, sizeof why, "answered '%.200s', not a job id", c->buf[0]);
    snprintf(msg, sizeof msg, "sbatch failed (%s)", why);
    fprintf(stderr, "loralpha serve: %s: %s\n", b->script, msg);
    batch_failed(sl, b, msg);
  } else if (la_sdb_submitted(sl->store, b->runs, b->n, id, &err)) {
    fprintf(stderr, "loralpha serve: array %lld: %s\n", id, err.msg);
  } else {
    sl->stats.arrays++;
    sl->stats.submitted += (uint64_t)b->n;
    for (int i = 0; i < b->n; i++) {
      la_sjob *j = la_slurm_job(sl, b->runs[i]);
      if (j != NULL) j->array_id = id, j->submitted = 1;
    }
  }
  batch_free(b);
  submit_next(sl);
}

/* Starts sbatch for the oldest queued array, if none is running. */
static void submit_next(la_slurm *sl) {
  la_sbatch *b = sl->queue;
  char why[256];
  int rc;
  if (sl->submitting || sl->stopping || b == NULL) return;
  sl->queue = b->next;
  char *argv[] = {"sbatch", "--parsable", "--export=NONE", b->script, NULL};
  if ((rc = cmd_run(sl, argv, on_sbatch, b)) != 0) {
    snprintf(why, sizeof why, "cannot run sbatch: %s", uv_strerror(rc));
    batch_failed(sl, b, why);
    batch_free(b);
    return submit_next(sl);
  }
  sl->submitting = 1;
}

/* ---- following jobs ---- */

/* Slurm states that end a job. */
static int terminal(const char *st) {
  static const char *const live[] = {
      "PENDING",   "RUNNING",      "CONFIGURING", "COMPLETING",
      "SUSPENDED", "REQUEUED",     "RESIZING",    "SIGNALING",
      "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED", NULL};
  for (int i = 0; live[i]; i++)
    if (strcmp(st, live[i]) == 0) return 0;
  return 1;
}

/* A field "Key=value" of scontrol -o output into buf; 0, or LA_ENOTFOUND
 * when text has no such field. */
static int field(const char *text, const char *key, char *buf, size_t size) {
  size_t k = strlen(key);
  for (const char *p = text; (p = strstr(p, key)) != NULL; p += k) {
    if ((p == text || p[-1] == ' ') && p[k] == '=') {
      size_t n = strcspn(p + k + 1, " \n");
      snprintf(buf, size, "%.*s", (int)n, p + k + 1);
      return 0;
    }
  }
  return LA_ENOTFOUND;
}

/* The next followed job that left squeue and still needs scontrol. */
static la_sjob *next_missing(la_slurm *sl) {
  for (size_t i = 0; i < sl->n_jobs; i++)
    if (sl->jobs[i].submitted && strcmp(sl->jobs[i].slurm_state, "?") == 0)
      return &sl->jobs[i];
  return NULL;
}

static void check_missing(la_slurm *sl);

/* The job's end as Slurm states it: a failed attempt. */
static void job_ended(la_slurm *sl, la_sjob *j, const char *st,
                      const char *code) {
  char why[160];
  snprintf(why, sizeof why, "ended %s (exit code %s) without a done record", st,
           code[0] ? code : "?");
  la_slurm_fail_attempt(sl, j, st, why);
}

/* sacct's answer "STATE|EXITCODE" about a job scontrol no longer knows;
 * without accounting (sacct fails or knows nothing) the job vanished. */
static void on_sacct(cmd *c) {
  la_slurm *sl = c->sl;
  la_sjob *j = la_slurm_job(sl, (int64_t)(intptr_t)c->arg);
  char st[32] = "", code[32] = "";
  if (j == NULL) return check_missing(sl);
  if (c->status == 0 &&
      sscanf(c->buf[0], "%31[A-Z_]%*[^|]|%31[0-9:]", st, code) >= 1 &&
      terminal(st))
    job_ended(sl, j, st, code);
  else if (c->status == 0 && st[0])
    snprintf(j->slurm_state, sizeof j->slurm_state, "%s", st);
  else
    la_slurm_fail_attempt(sl, j, "VANISHED", "the job vanished from Slurm");
  check_missing(sl);
}

/* Asks sacct (clusters with accounting keep finished jobs longer). */
static void ask_sacct(la_slurm *sl, la_sjob *j) {
  char id[48];
  snprintf(id, sizeof id, "%lld_%d", (long long)j->array_id, j->task);
  char *argv[] = {"sacct",          "-n", "-X", "-P", "-o",
                  "State,ExitCode", "-j", id,   NULL};
  if (cmd_run(sl, argv, on_sacct, (void *)(intptr_t)j->run_id) != 0) {
    la_slurm_fail_attempt(sl, j, "VANISHED", "the job vanished from Slurm");
    check_missing(sl);
  }
}

static void on_scontrol(cmd *c) {
  la_slurm *sl = c->sl;
  la_sjob *j = la_slurm_job(sl, (int64_t)(intptr_t)c->arg);
  char st[32] = "", code[32] = "", why[160];
  if (j == NULL) return check_missing(sl); /* ended meanwhile */
  if (strstr(c->buf[1], "Invalid job id") != NULL) {
    return ask_sacct(sl, j);
  } else if (c->status != 0 || field(c->buf[0], "JobState", st, sizeof st)) {
    cmd_status(c, why, sizeof why);
    fprintf(stderr, "loralpha serve: scontrol: %s\n", why);
    snprintf(j->slurm_state, sizeof j->slurm_state, "UNKNOWN");
  } else if (!terminal(st)) {
    snprintf(j->slurm_state, sizeof j->slurm_state, "%s", st);
  } else {
    field(c->buf[0], "ExitCode", code, sizeof code);
    job_ended(sl, j, st, code);
  }
  check_missing(sl);
}

/* scontrol for each job that left the queue, one at a time; then the
 * round is over. */
static void check_missing(la_slurm *sl) {
  la_sjob *j = next_missing(sl);
  char id[48];
  if (j == NULL || sl->stopping) {
    for (size_t i = 0; i < sl->n_jobs; i++)
      if (strcmp(sl->jobs[i].slurm_state, "?") == 0)
        sl->jobs[i].slurm_state[0] = 0;
    sl->polling = 0;
    return;
  }
  snprintf(id, sizeof id, "%lld_%d", (long long)j->array_id, j->task);
  char *argv[] = {"scontrol", "-o", "show", "job", id, NULL};
  if (cmd_run(sl, argv, on_scontrol, (void *)(intptr_t)j->run_id) != 0) {
    snprintf(j->slurm_state, sizeof j->slurm_state, "UNKNOWN");
    return check_missing(sl);
  }
}

/* One squeue line "ARRAY|TASK|STATE" applied to its job. */
static void squeue_line(la_slurm *sl, const char *line) {
  char st[32];
  long long array;
  int task, n;
  if (sscanf(line, "%lld|%d|%31[A-Z_]%n", &array, &task, st, &n) != 3) return;
  for (size_t i = 0; i < sl->n_jobs; i++) {
    la_sjob *j = &sl->jobs[i];
    if (!j->submitted || j->array_id != array || j->task != task) continue;
    if (strcmp(j->slurm_state, "?") == 0 || strcmp(j->slurm_state, st)) {
      snprintf(j->slurm_state, sizeof j->slurm_state, "%s", st);
      la_sdb_set_state(sl->store, j->run_id, st);
    }
  }
}

static void on_squeue(cmd *c) {
  la_slurm *sl = c->sl;
  char why[256];
  if (c->status != 0 || c->term_signal) { /* nothing concluded from this */
    cmd_status(c, why, sizeof why);
    fprintf(stderr, "loralpha serve: squeue: %s\n", why);
    sl->polling = 0;
    return;
  }
  for (size_t i = 0; i < sl->n_jobs; i++)
    if (sl->jobs[i].submitted)
      snprintf(sl->jobs[i].slurm_state, sizeof sl->jobs[i].slurm_state, "?");
  for (char *line = c->buf[0]; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    squeue_line(sl, line);
    line = nl ? nl + 1 : NULL;
  }
  check_missing(sl);
}

/* A round: squeue for every job of our name, then scontrol for those that
 * are no longer in it. */
static void poll_start(la_slurm *sl) {
  char name[80];
  int any = 0;
  for (size_t i = 0; i < sl->n_jobs; i++)
    any |= sl->jobs[i].submitted;
  if (sl->polling || sl->stopping || !any) return;
  snprintf(name, sizeof name, "--name=%s", sl->opts.job_name);
  char *argv[] = {"squeue", "-h", "-r", "-o", "%F|%K|%T", name, NULL};
  if (cmd_run(sl, argv, on_squeue, NULL) == 0) sl->polling = 1;
}

static void on_poll_timer(uv_timer_t *t) {
  poll_start(t->data);
}

/* ---- cancelling ---- */

static void on_scancel(cmd *c) {
  char why[256];
  if (c->status != 0) {
    cmd_status(c, why, sizeof why);
    fprintf(stderr, "loralpha serve: scancel: %s\n", why);
  }
}

void la_slurm_cancel_sweep(la_slurm *sl, int64_t sweep_id) {
  la_run_result res;
  char *argv[66] = {"scancel"};
  char ids[64][24];
  int n = 0;
  la_run_result_init(&res, "cancelled");
  for (size_t i = 0; i < sl->n_jobs;) {
    la_sjob *j = &sl->jobs[i];
    int64_t a = j->array_id;
    if (j->sweep_id != sweep_id) {
      i++;
      continue;
    }
    int seen = a == 0;
    for (int k = 0; k < n && !seen; k++)
      seen = strtoll(ids[k], NULL, 10) == a;
    if (!seen && n < 64) snprintf(ids[n], sizeof ids[n], "%lld", (long long)a);
    if (!seen && n < 64) argv[1 + n] = ids[n], n++;
    la_slurm_end_run(sl, j, &res, "CANCELLED"); /* moves the last job to i */
  }
  argv[1 + n] = NULL;
  if (n > 0 && cmd_run(sl, argv, on_scancel, NULL) != 0)
    fprintf(stderr, "loralpha serve: cannot run scancel\n");
}

/* ---- setup and stop ---- */

/* Creates the executor's directories, mode 0700 (the run tokens, configs
 * and logs are the daemon's user's alone: its jobs run as it); looser
 * existing ones are made so, and the log says it. The directory becomes
 * absolute. */
static int make_dirs(la_slurm_opts *o, la_err *err) {
  static const char *const sub[] = {"", "/runs", "/logs", "/batches", "/out"};
  char path[PATH_MAX], abs[PATH_MAX];
  unsigned was = 0;
  for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
    int rc;
    snprintf(path, sizeof path, "%s%s", o->dir, sub[i]);
    if ((rc = la_paths_private_dir(path, 0700, &was)) < 0)
      return la_errf(err, LA_EIO, "--slurm-dir: cannot create %.300s: %s%s",
                     path, strerror(errno),
                     errno == EPERM ? " (another user owns it)" : "");
    if (rc > 0)
      fprintf(stderr,
              "loralpha serve: %s: mode %04o -> 0700 (the daemon's user "
              "only)\n",
              path, was);
    if (i == 0 && realpath(o->dir, abs) == NULL)
      return la_errf(err, LA_EIO, "--slurm-dir: %.300s: %s", o->dir,
                     strerror(errno));
    if (i == 0 && strlen(abs) >= sizeof o->dir)
      return la_errf(err, LA_EINVAL, "--slurm-dir: %.300s: path too long", abs);
    if (i == 0) memcpy(o->dir, abs, strlen(abs) + 1);
  }
  return 0;
}

/* A worker path with a directory but not absolute ("bin/loralpha-worker")
 * becomes absolute from the daemon's working directory: the jobs run in
 * the Slurm directory. A bare name is looked up in the jobs' PATH. */
static int absolute_worker(la_slurm_opts *o, la_err *err) {
  char cwd[PATH_MAX], path[sizeof o->worker];
  if (o->worker[0] == '/' || strchr(o->worker, '/') == NULL) return 0;
  if (getcwd(cwd, sizeof cwd) == NULL ||
      (size_t)snprintf(path, sizeof path, "%s/%s", cwd, o->worker) >=
          sizeof path)
    return la_errf(err, LA_EINVAL,
                   "--slurm-worker: %.300s: cannot be made "
                   "absolute",
                   o->worker);
  memcpy(o->worker, path, sizeof path);
  return 0;
}

int la_slurm_new(uv_loop_t *loop, la_store *store, const la_slurm_opts *opts,
                 la_slurm **out, la_err *err) {
  la_slurm *sl = calloc(1, sizeof *sl);
  la_sjob *live = NULL;
  size_t n = 0;
  int rc;
  *out = NULL;
  if (sl == NULL) return la_errf(err, LA_ENOMEM, "slurm: out of memory");
  sl->loop = loop, sl->store = store, sl->opts = *opts;
  if (opts->enabled && (rc = absolute_worker(&sl->opts, err)) != 0) {
    free(sl);
    return rc;
  }
  snprintf(sl->url, sizeof sl->url, "%s", opts->report_url);
  if ((rc = la_sdb_live(store, &live, &n, err)) != 0) {
    free(sl);
    return rc;
  }
  if (!opts->enabled && n > 0) { /* left by a daemon that had Slurm */
    fprintf(stderr,
            "loralpha serve: %zu Slurm jobs of an earlier daemon are not "
            "followed: this config enables no Slurm executor (their runs stay "
            "running until one that does starts)\n",
            n);
    free(live), live = NULL, n = 0;
  }
  if ((opts->default_slurm || n > 0) && (rc = make_dirs(&sl->opts, err))) {
    free(live), free(sl);
    return rc;
  }
  sl->dirs_ready = opts->default_slurm || n > 0;
  for (size_t i = 0; i < n; i++)
    if (add_job(sl, &live[i]) == NULL) rc = LA_ENOMEM;
  free(live);
  if (rc) {
    free(sl->jobs), free(sl);
    return la_errf(err, rc, "slurm: out of memory");
  }
  sl->stats.attached = n;
  if (n > 0) fprintf(stderr, "loralpha serve: following %zu Slurm jobs\n", n);
  uv_timer_init(loop, &sl->poll_timer);
  sl->poll_timer.data = sl;
  sl->timer_open = 1;
  if (opts->enabled)
    uv_timer_start(&sl->poll_timer, on_poll_timer, 200, opts->poll_ms);
  *out = sl;
  return 0;
}

void la_slurm_listening(la_slurm *sl, const char *host, int port) {
  static const char *const loopback[] = {"//127.", "//localhost", "//[::1]",
                                         NULL};
  char name[256];
  int any = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
  if (!any || gethostname(name, sizeof name) != 0)
    snprintf(name, sizeof name, "%s", host);
  name[sizeof name - 1] = 0;
  if (sl->url[0] == 0)
    snprintf(sl->url, sizeof sl->url,
             strchr(name, ':') ? "http://[%s]:%d" : "http://%s:%d", name, port);
  for (int i = 0; sl->opts.default_slurm && loopback[i]; i++)
    if (strstr(sl->url, loopback[i]) != NULL)
      fprintf(stderr,
              "loralpha serve: note: Slurm jobs report to %s, a loopback "
              "address: only jobs on this machine reach it (see --listen "
              "and --slurm-report-url)\n",
              sl->url);
}

static void remote_kick(void *ctx) {
  la_slurm_kick(ctx);
}

static int remote_owns(void *ctx, int64_t sweep_id) {
  return la_slurm_owns(ctx, sweep_id);
}

static void remote_cancel(void *ctx, int64_t sweep_id) {
  la_slurm_cancel_sweep(ctx, sweep_id);
}

void la_slurm_attach(la_slurm *sl, la_sched *sched,
                     la_sched_finish_hook finished, void *ctx) {
  la_sched_remote r = {remote_kick, remote_owns, remote_cancel, sl};
  sl->sched = sched, sl->finished = finished, sl->hook_ctx = ctx;
  la_sched_set_remote(sched, &r);
}

void la_slurm_set_packs(la_slurm *sl, int pack_max, int stack,
                        uint64_t memory) {
  sl->pack_max = pack_max, sl->pack_stack = stack, sl->pack_memory = memory;
}

int la_slurm_owns(la_slurm *sl, int64_t sweep_id) {
  int k, yes;
  for (k = 0; k < 16; k++)
    if (sl->owner_sweep[k] == sweep_id) return sl->owner_slurm[k];
  yes = la_sdb_is_slurm(sl->store, sweep_id, sl->opts.default_slurm);
  if (yes < 0) return 1; /* unknown: not started locally now */
  k = sl->owner_next++ % 16;
  sl->owner_sweep[k] = sweep_id, sl->owner_slurm[k] = yes;
  return yes;
}

void la_slurm_stats_get(const la_slurm *sl, la_slurm_stats *out) {
  *out = sl->stats;
}

static void on_timer_closed(uv_handle_t *h) {
  la_slurm *sl = h->data;
  sl->timer_open = 0;
  maybe_stopped(sl);
}

/* Stopping, with no child left and the timer closed: report. */
static void maybe_stopped(la_slurm *sl) {
  void (*done)(void *) = sl->stop_done;
  if (!sl->stopping || sl->children > 0 || sl->timer_open || done == NULL)
    return;
  sl->stop_done = NULL;
  done(sl->stop_arg);
}

void la_slurm_stop(la_slurm *sl, void (*done)(void *), void *arg) {
  if (sl->stopping) return;
  sl->stopping = 1;
  sl->stop_done = done, sl->stop_arg = arg;
  uv_close((uv_handle_t *)&sl->poll_timer, on_timer_closed);
}

void la_slurm_free(la_slurm *sl) {
  if (sl == NULL) return;
  while (sl->queue) {
    la_sbatch *b = sl->queue;
    sl->queue = b->next;
    batch_free(b);
  }
  free(sl->jobs);
  free(sl);
}
