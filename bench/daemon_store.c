/*
 * daemon_store.c: how many worker metric records per second the daemon's
 * SQLite store commits (la_store_take_record + la_store_flush), on a fresh
 * database file.
 *
 *   daemon_store [--db FILE] [--rows N] [--batch N] [--steps N] [--rank R]
 *                [--log-every K] [--eval-every K] [--spectra-every K]
 *                [--interleave W] [--keep]
 *
 * It creates one sweep of enough runs, then replays what W workers running
 * side by side would print: per run a `start` record, a `train` record every
 * log_every steps, an `eval` record at 0, every eval_every and the end, a
 * `spectra` record (rank singular values, one layer) every spectra_every and
 * the end, with realistic values formatted as the worker formats them
 * (%.10g). Records are parsed and checked from their text lines
 * (la_record_parse, as the daemon's handle_line does) outside the timed
 * region, then the timed region is
 * exactly: la_store_take_record for `batch` records, then la_store_flush
 * (the daemon's 250 ms flush timer batches them the same way).
 *
 * "rows" are worker records, as loralpha_rows_written_total counts them; a
 * spectra record is two SQL rows (spectra + drift), a start record one per
 * layer. The SQL row count is printed too.
 *
 * Prints one JSON line:
 *   {"rows", "sql_rows", "batches", "batch", "add_s", "flush_s", "total_s",
 *    "rows_per_s", "cpu_s", "rows_per_cpu_s", "instr_per_row",
 *    "parse_rows_per_s", "batch_ms_p50", "batch_ms_p99", "batch_ms_max",
 *    "db_bytes", "wal_bytes", "mix": {...}, ...}
 * batch_ms is one add+flush of a batch: how long the daemon's event loop
 * would be blocked by that flush.
 * rows_per_s = rows / (add_s + flush_s). parse_rows_per_s is la_record_parse
 * of the same lines, for scale (the daemon pays it too, before take_record).
 * cpu_s is this thread's CPU time over the timed region, instr_per_row its
 * instructions per row (null where hardware counters are unavailable, e.g.
 * in most VMs): both less sensitive than rows_per_s to a busy machine.
 */
#define _DEFAULT_SOURCE /* syscall() */
#include "loralpha/store.h"

#include <jansson.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
  char db[512];
  long rows, batch, steps, rank, log_every, eval_every, spectra_every,
      interleave;
  int keep;
} opts;

/* One simulated worker: the run it is on and where it is. */
typedef struct sim {
  int64_t run_id;
  long step; /* next step to emit (0: the start record and eval 0 first) */
  int phase; /* within a step: which record comes next */
  int started;
  uint64_t rng;
} sim;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A user+kernel instruction counter for this thread, or -1 when perf events
 * are not allowed (perf_event_paranoid, containers): instructions do not
 * depend on what else the machine runs, unlike times. */
static int counter_open(void) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_HARDWARE;
  a.config = PERF_COUNT_HW_INSTRUCTIONS;
  a.disabled = 1;
  a.exclude_hv = 1;
  int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
  if (fd < 0) {
    a.exclude_kernel = 1; /* paranoid 2: user space only */
    fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
  }
  return fd;
}

static void counter_on(int fd, int on) {
  if (fd >= 0)
    ioctl(fd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
}

static uint64_t counter_read(int fd) {
  uint64_t v = 0;
  if (fd < 0 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) return 0;
  return v;
}

static uint64_t next_u64(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double unif(uint64_t *s) {
  return (double)(next_u64(s) >> 11) * 0x1p-53;
}

static void usage(void) {
  fputs("usage: daemon_store [--db FILE] [--rows N] [--batch N] [--steps N] "
        "[--rank R]\n"
        "                    [--log-every K] [--eval-every K] [--spectra-every "
        "K]\n"
        "                    [--interleave W] [--keep]\n",
        stderr);
  exit(2);
}

static void parse_args(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->db, sizeof o->db, "/tmp/daemon_store_%ld.db", (long)getpid());
  o->rows = 1000000, o->batch = 5000, o->steps = 1000, o->rank = 8;
  o->log_every = 1, o->eval_every = 10, o->spectra_every = 50,
  o->interleave = 2;
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    long *dst = NULL;
    if (strcmp(f, "--keep") == 0) {
      o->keep = 1;
      continue;
    }
    if (i + 1 >= argc) usage();
    if (strcmp(f, "--db") == 0) {
      snprintf(o->db, sizeof o->db, "%s", argv[++i]);
      continue;
    }
    if (strcmp(f, "--rows") == 0)
      dst = &o->rows;
    else if (strcmp(f, "--batch") == 0)
      dst = &o->batch;
    else if (strcmp(f, "--steps") == 0)
      dst = &o->steps;
    else if (strcmp(f, "--rank") == 0)
      dst = &o->rank;
    else if (strcmp(f, "--log-every") == 0)
      dst = &o->log_every;
    else if (strcmp(f, "--eval-every") == 0)
      dst = &o->eval_every;
    else if (strcmp(f, "--spectra-every") == 0)
      dst = &o->spectra_every;
    else if (strcmp(f, "--interleave") == 0)
      dst = &o->interleave;
    else
      usage();
    *dst = strtol(argv[++i], NULL, 10);
  }
  if (o->rows < 1 || o->batch < 1 || o->steps < 1 || o->rank < 1 ||
      o->rank > 64 || o->log_every < 1 || o->eval_every < 0 ||
      o->spectra_every < 0 || o->interleave < 1 || o->interleave > 64)
    usage();
}

/* Records one run prints, to size the sweep. */
static long records_per_run(const opts *o) {
  long n = 1; /* start */
  for (long s = 1; s <= o->steps; s++) {
    if (s % o->log_every == 0 || s == o->steps) n++;
    if ((o->eval_every && s % o->eval_every == 0) || s == o->steps) n++;
    if ((o->spectra_every && s % o->spectra_every == 0) || s == o->steps) n++;
  }
  return n + 1; /* eval at step 0 */
}

/* A sweep of n runs, built by hand (as tests/unit/test_store.c does): the store
 * only needs the fields it writes. */
static la_spec *make_spec(long n, const opts *o) {
  la_spec *s = calloc(1, sizeof *s);
  snprintf(s->name, sizeof s->name, "daemon_store");
  s->max_attempts = 2, s->seed = 1;
  s->normalized = json_pack("{s:s}", "name", "daemon_store");
  s->n_runs = (size_t)n;
  s->runs = calloc((size_t)n, sizeof *s->runs);
  for (long i = 0; i < n; i++) {
    la_spec_run *r = &s->runs[i];
    r->rank = (int)o->rank, r->alpha = 2.0 * (double)o->rank, r->lr = 1e-3;
    r->seed_index = (int)i, r->seed = 1000 + (uint64_t)i;
    r->config =
        json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:i}", "task", "teacher",
                  "d_in", 64, "d_out", 64, "rank", (int)o->rank, "alpha",
                  r->alpha, "lr", r->lr, "steps", (int)o->steps);
  }
  return s;
}

static void free_spec(la_spec *s) {
  for (size_t i = 0; i < s->n_runs; i++)
    json_decref(s->runs[i].config);
  free(s->runs);
  json_decref(s->normalized);
  free(s);
}

/* The worker's %.10g. */
static int num(char *p, size_t n, double x) {
  return snprintf(p, n, "%.10g", x);
}

/* Writes the next record line of w into buf; returns its type (0 start, 1
 * train, 2 eval, 3 spectra) or -1 when the run has ended. */
static int next_line(sim *w, const opts *o, char *buf, size_t size, int *len) {
  char *p = buf;
  size_t left = size;
  int n;
#define PUT(...) (n = snprintf(p, left, __VA_ARGS__), p += n, left -= (size_t)n)
#define PUTN(x) (n = num(p, left, (x)), p += n, left -= (size_t)n)
  for (;;) {
    long s = w->step;
    if (!w->started) {
      w->started = 1;
      PUT("{\"type\":\"start\",\"run_id\":%lld,\"scale\":2.0,\"blas_core\":"
          "\"Haswell\","
          "\"params\":%ld,\"n_train\":4096,\"n_eval\":1024,\"layers\":[{"
          "\"layer\":0,"
          "\"d_in\":64,\"d_out\":64,\"sigma_max_w0\":",
          (long long)w->run_id, 128 * o->rank);
      PUTN(1.9 + 0.1 * unif(&w->rng));
      PUT(",\"target_norm\":2.0}]}");
      *len = (int)(p - buf);
      return 0;
    }
    if (s > o->steps) return -1;
    switch (w->phase++) {
    case 0: /* train (steps >= 1) */
      if (s >= 1 && (s % o->log_every == 0 || s == o->steps)) {
        double loss =
            0.06 / (1.0 + 0.01 * (double)s) * (1.0 + 0.1 * unif(&w->rng));
        PUT("{\"type\":\"train\",\"step\":%ld,\"loss\":", s);
        PUTN(loss);
        PUT(",\"lr\":0.001,\"grad_norm_a\":");
        PUTN(0.05 * unif(&w->rng));
        PUT(",\"grad_norm_b\":");
        PUTN(0.05 * unif(&w->rng));
        PUT(",\"update_norm\":");
        PUTN(0.02 * unif(&w->rng));
        PUT("}");
        *len = (int)(p - buf);
        return 1;
      }
      break;
    case 1: /* eval */
      if (s == 0 || (o->eval_every && s % o->eval_every == 0) ||
          s == o->steps) {
        PUT("{\"type\":\"eval\",\"step\":%ld,\"loss\":", s);
        PUTN(0.06 / (1.0 + 0.01 * (double)s));
        PUT("}");
        *len = (int)(p - buf);
        return 2;
      }
      break;
    case 2: /* spectra, one layer */
      if (s >= 1 &&
          ((o->spectra_every && s % o->spectra_every == 0) || s == o->steps)) {
        static const char *const dk[] = {
            "signal",    "drift",    "drift_ratio", "cos_target", "rel_err",
            "tf_signal", "tf_drift", "mech_ratio",  "a_drift"};
        double sv = 1.0;
        PUT("{\"type\":\"spectra\",\"step\":%ld,\"layer\":0,\"sigma_max\":", s);
        PUTN(0.9 + 0.1 * unif(&w->rng));
        PUT(",\"fro\":");
        PUTN(1.5 + 0.1 * unif(&w->rng));
        PUT(",\"stable_rank\":");
        PUTN(2.9 + 0.1 * unif(&w->rng));
        PUT(",\"sv\":[");
        for (long i = 0; i < o->rank; i++) {
          sv *= 0.5 + 0.5 * unif(&w->rng);
          if (i) PUT(",");
          PUTN(sv);
        }
        PUT("]");
        for (int i = 0; i < 9; i++) {
          PUT(",\"%s\":", dk[i]);
          PUTN(unif(&w->rng));
        }
        PUT("}");
        *len = (int)(p - buf);
        return 3;
      }
      break;
    default:
      w->phase = 0;
      w->step++;
      continue;
    }
  }
#undef PUT
#undef PUTN
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static long long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

int main(int argc, char **argv) {
  opts o;
  la_store *st;
  la_err err;
  la_spec *spec;
  int64_t sweep_id;
  long per_run, n_runs, next_run = 0, done = 0, sql_rows = 0, n_batches;
  long mix[4] = {0, 0, 0, 0};
  sim *w;
  la_record *recs;
  int64_t *rec_run;
  double *flush_ms, t_add = 0, t_flush = 0, t_parse = 0, t_cpu = 0;
  int ctr = counter_open();
  char line[8192], wal[600];
  parse_args(argc, argv, &o);
  unlink(o.db);
  snprintf(wal, sizeof wal, "%s-wal", o.db);
  unlink(wal);
  if (la_store_open(o.db, &st, &err)) {
    fprintf(stderr, "daemon_store: %s\n", err.msg);
    return 1;
  }
  per_run = records_per_run(&o);
  n_runs = (o.rows + per_run - 1) / per_run + o.interleave;
  spec = make_spec(n_runs, &o);
  if (la_store_create_sweep(st, spec, "bench", &sweep_id, &err)) {
    fprintf(stderr, "daemon_store: %s\n", err.msg);
    return 1;
  }
  free_spec(spec);
  /* run ids of this fresh database are 1..n_runs */
  w = calloc((size_t)o.interleave, sizeof *w);
  for (long i = 0; i < o.interleave; i++) {
    w[i].run_id = ++next_run;
    w[i].rng = 0x1234 + (uint64_t)i;
  }
  recs = malloc((size_t)o.batch * sizeof *recs);
  rec_run = malloc((size_t)o.batch * sizeof *rec_run);
  n_batches = (o.rows + o.batch - 1) / o.batch;
  flush_ms = calloc((size_t)n_batches, sizeof *flush_ms);
  for (long b = 0; b < n_batches; b++) {
    long n = o.batch < o.rows - done ? o.batch : o.rows - done;
    double t0, t1, t2, c0;
    /* untimed (except the parse figure): the batch's records, round robin
     * over the simulated workers, each line parsed as handle_line does */
    for (long i = 0; i < n; i++) {
      sim *x = &w[i % o.interleave];
      int len, type, rc_parse;
      double tp;
      la_err perr;
      while ((type = next_line(x, &o, line, sizeof line, &len)) < 0) {
        memset(x, 0, sizeof *x);
        x->run_id = ++next_run;
        x->rng = 0x9876 + (uint64_t)next_run;
      }
      tp = now_s();
      rc_parse = la_record_parse(line, (size_t)len, &recs[i], &perr);
      t_parse += now_s() - tp;
      if (rc_parse != 0 || x->run_id > n_runs) {
        fprintf(stderr, "daemon_store: internal error (record %ld: %s)\n",
                done + i, rc_parse ? perr.msg : "run");
        return 1;
      }
      rec_run[i] = x->run_id;
      mix[type]++;
      sql_rows += type == 3 ? 2 : 1;
    }
    counter_on(ctr, 1);
    c0 = cpu_s();
    t0 = now_s();
    for (long i = 0; i < n; i++)
      if (la_store_take_record(st, rec_run[i], &recs[i])) {
        fprintf(stderr,
                "daemon_store: la_store_take_record rejected a record\n");
        return 1;
      }
    t1 = now_s();
    if (la_store_flush(st, &err)) {
      fprintf(stderr, "daemon_store: %s\n", err.msg);
      return 1;
    }
    t2 = now_s();
    t_cpu += cpu_s() - c0;
    counter_on(ctr, 0);
    t_add += t1 - t0;
    t_flush += t2 - t1;
    flush_ms[b] = 1e3 * (t2 - t0);
    done += n;
  }
  {
    la_store_stats ss;
    long long dbb = file_size(o.db), walb = file_size(wal);
    double total = t_add + t_flush;
    uint64_t instr = counter_read(ctr);
    char ipr[32] = "null";
    if (instr > 0)
      snprintf(ipr, sizeof ipr, "%.0f", (double)instr / (double)done);
    la_store_stats_get(st, &ss);
    qsort(flush_ms, (size_t)n_batches, sizeof *flush_ms, cmp_double);
    printf("{\"rows\":%ld,\"sql_rows\":%ld,\"committed\":%llu,\"batches\":%ld,"
           "\"batch\":%ld,"
           "\"runs\":%ld,\"add_s\":%.4f,\"flush_s\":%.4f,\"total_s\":%.4f,"
           "\"rows_per_s\":%.0f,\"cpu_s\":%.4f,\"rows_per_cpu_s\":%.0f,"
           "\"instr_per_row\":%s,\"parse_rows_per_s\":%.0f,"
           "\"batch_ms_p50\":%.2f,\"batch_ms_p99\":%.2f,\"batch_ms_max\":%.2f,"
           "\"db_bytes\":%lld,\"wal_bytes\":%lld,"
           "\"mix\":{\"start\":%ld,\"train\":%ld,\"eval\":%ld,\"spectra\":%ld},"
           "\"rank\":%ld,\"steps\":%ld,\"log_every\":%ld,\"eval_every\":%ld,"
           "\"spectra_every\":%ld,\"interleave\":%ld}\n",
           done, sql_rows, (unsigned long long)ss.rows_written, n_batches,
           o.batch, next_run, t_add, t_flush, total, (double)done / total,
           t_cpu, (double)done / t_cpu, ipr, (double)done / t_parse,
           flush_ms[n_batches / 2],
           flush_ms[(long)(0.99 * (double)(n_batches - 1))],
           flush_ms[n_batches - 1], dbb, walb, mix[0], mix[1], mix[2], mix[3],
           o.rank, o.steps, o.log_every, o.eval_every, o.spectra_every,
           o.interleave);
  }
  la_store_close(st);
  free(w), free(recs), free(rec_run), free(flush_ms);
  if (!o.keep) {
    char shm[600];
    snprintf(shm, sizeof shm, "%s-shm", o.db);
    unlink(o.db), unlink(wal), unlink(shm);
  }
  return 0;
}
