/* command.c: the worker as a command task's launcher (command.h). */
#define _GNU_SOURCE
#include "command.h"

#include "loralpha/command.h"
#include "loralpha/json_text.h"
#include "loralpha/logbound.h"
#include "loralpha/record.h"
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_BAD 2        /* the command cannot be used */
#define EXIT_RUN_FAILED 1 /* it ran and failed */
#define EXIT_NO_EXEC 127  /* it could not be started */
#define ENV_EXTRA 3       /* the LORALPHA_ variables the trainer gets */

extern char **environ;

/* Writes {"type":"error","error":msg} on stderr (the daemon reads it as
 * the run's error) and returns code. */
static int fail(int code, const la_err *err) {
  json_t *rec = json_pack("{s:s, s:s}", "type", "error", "error", err->msg);
  char *text = rec ? json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
  fprintf(stderr, "%s\n", text ? text : "{\"type\":\"error\",\"error\":\"?\"}");
  fflush(stderr);
  free(text);
  json_decref(rec);
  return code;
}

/* The working directory: the command's, or the user's home ("/" without
 * one). */
static const char *work_dir(const la_command *c) {
  const struct passwd *pw;
  if (c->cwd != NULL) return c->cwd;
  pw = getpwuid(getuid());
  return pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] == '/' ? pw->pw_dir
                                                                  : "/";
}

/* Can this user use the directory and run the program? 0, or LA_EINVAL. */
static int check_usable(const la_command *c, la_err *err) {
  struct stat st;
  const char *dir = work_dir(c);
  if (stat(dir, &st) != 0 || (S_ISDIR(st.st_mode) && access(dir, X_OK) != 0))
    return la_errf(err, LA_EINVAL, "command.cwd: %.300s: %s", dir,
                   strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return la_errf(err, LA_EINVAL, "command.cwd: %.300s: not a directory", dir);
  if (stat(c->argv[0], &st) != 0)
    return la_errf(err, LA_EINVAL, "command.argv[0]: %.300s: %s", c->argv[0],
                   strerror(errno));
  if (!S_ISREG(st.st_mode) || access(c->argv[0], X_OK) != 0)
    return la_errf(err, LA_EINVAL,
                   "command.argv[0]: %.300s: not a program this user may run",
                   c->argv[0]);
  return 0;
}

/* Does entry "NAME=..." set a variable of list (NULL-terminated)? */
static int overridden(const char *entry, char *const *list) {
  size_t n = strcspn(entry, "=");
  for (size_t i = 0; list[i] != NULL; i++)
    if (strncmp(list[i], entry, n) == 0 && list[i][n] == '=') return 1;
  return 0;
}

/* The trainer's environment: the worker's (less its own re-exec marker and
 * the variables the command sets), the command's, then the protocol's. A
 * new array of borrowed and new strings (never freed: the process execs or
 * exits), or NULL. */
static char **trainer_env(const la_command *c, const json_t *config) {
  size_t n = 0, k = 0, m = 0;
  char **env, run_id[64];
  while (environ[n] != NULL)
    n++;
  while (c->env[m] != NULL)
    m++;
  if ((env = calloc(n + m + ENV_EXTRA + 1, sizeof *env)) == NULL) return NULL;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "LORALPHA_", 9) != 0 &&
        !overridden(environ[i], c->env))
      env[k++] = environ[i];
  for (size_t i = 0; i < m; i++)
    env[k++] = c->env[i];
  snprintf(run_id, sizeof run_id, "LORALPHA_RUN_ID=%lld",
           (long long)json_integer_value(json_object_get(config, "run_id")));
  env[k++] = strdup(run_id);
  env[k++] = "LORALPHA_RECORD_FD=3";
  env[k++] = "LORALPHA_PARAMS_FILE=/dev/fd/4";
  return env[k - 3] != NULL ? env : NULL;
}

/* The parameters in a memory file on fd LA_CMD_PARAMS_FD and, opened
 * again (its own offset), on stdin. 0, or LA_EIO. */
static int params_fds(const json_t *config, la_err *err) {
  json_t *p = la_command_params(config);
  char *text = p ? la_json_text(p) : NULL;
  char path[64];
  size_t len = text ? strlen(text) : 0;
  int fd = text ? memfd_create("loralpha-params", 0) : -1, in = -1, rc = 0;
  json_decref(p);
  if (fd < 0 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
    rc = la_errf(err, LA_EIO, "command: cannot write the parameters: %s",
                 text ? strerror(errno) : "out of memory");
  free(text);
  if (rc == 0 && fd != LA_CMD_PARAMS_FD &&
      (dup2(fd, LA_CMD_PARAMS_FD) < 0 || close(fd) != 0))
    rc = la_errf(err, LA_EIO, "command: dup2: %s", strerror(errno));
  snprintf(path, sizeof path, "/proc/self/fd/%d", LA_CMD_PARAMS_FD);
  if (rc == 0 && ((in = open(path, O_RDONLY)) < 0 || dup2(in, 0) < 0))
    rc = la_errf(err, LA_EIO, "command: cannot open the parameters: %s",
                 strerror(errno));
  if (in > 0) close(in);
  return rc;
}

/* The trainer's descriptors: records on 3 (records: the worker's stdout,
 * or the pipe to the worker that reports them), the parameters on 0 and 4,
 * its stdout and stderr both on log (2: the worker's stderr, the run's log
 * the daemon reads; or the pipe to the worker that keeps it), nothing
 * else. 0, or LA_EIO. */
static int trainer_fds(const json_t *config, int records, int log,
                       la_err *err) {
  int rc;
  if (records != LA_CMD_RECORD_FD && dup2(records, LA_CMD_RECORD_FD) < 0)
    return la_errf(err, LA_EIO, "command: dup2: %s", strerror(errno));
  if ((rc = params_fds(config, err)) != 0) return rc;
  if (dup2(log, 1) < 0 || (log != 2 && dup2(log, 2) < 0))
    return la_errf(err, LA_EIO, "command: dup2: %s", strerror(errno));
  if (close_range(LA_CMD_PARAMS_FD + 1, ~0u, 0) != 0)
    for (long fd = LA_CMD_PARAMS_FD + 1, max = sysconf(_SC_OPEN_MAX); fd < max;
         fd++)
      close((int)fd);
  return 0;
}

/* Caps the trainer's data (RLIMIT_DATA) at limit bytes (0: none). */
static int cap_data(unsigned long long limit, la_err *err) {
  struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
  if (limit == 0 || setrlimit(RLIMIT_DATA, &rl) == 0) return 0;
  return la_errf(err, LA_EIO, "command.memory_limit: setrlimit: %s",
                 strerror(errno));
}

/* Everything before the exec (records, log: trainer_fds'); 0, or an exit
 * code after the error. */
static int prepare(const la_command *c, const json_t *config, int records,
                   int log, char ***env, la_err *err) {
  const char *dir = work_dir(c);
  if (check_usable(c, err)) return fail(EXIT_BAD, err);
  if ((*env = trainer_env(c, config)) == NULL) {
    la_errf(err, LA_ENOMEM, "command: out of memory");
    return fail(EXIT_BAD, err);
  }
  if (chdir(dir) != 0) {
    la_errf(err, LA_EIO, "command.cwd: %.300s: %s", dir, strerror(errno));
    return fail(EXIT_BAD, err);
  }
  if (trainer_fds(config, records, log, err)) return fail(EXIT_BAD, err);
  return 0;
}

/* The error record of a failed execve, made before the memory cap (after
 * it nothing may allocate: a sanitizer's own mappings would fail): split
 * where the errno's words go. A new string, or NULL. */
static char *exec_error_record(const char *program, size_t *split) {
  char msg[512];
  json_t *rec;
  char *text, *mark;
  snprintf(msg, sizeof msg, "command.argv[0]: %.300s: cannot be run: \x01",
           program);
  la_utf8_sanitize(msg, strlen(msg) - 1);
  rec = json_pack("{s:s, s:s}", "type", "error", "error", msg);
  text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
  json_decref(rec);
  if (text == NULL || (mark = strstr(text, "\\u0001")) == NULL) {
    free(text);
    return NULL;
  }
  *split = (size_t)(mark - text);
  return text;
}

/* Caps the memory, then becomes the trainer; when execve fails, writes
 * the error record (without allocating) and exits 127. Returns an exit
 * code only when it fails before the cap. */
static int exec_trainer(const la_command *c, char **env,
                        unsigned long long limit) {
  size_t split = 0;
  char *rec = exec_error_record(c->argv[0], &split);
  const char *why;
  la_err err;
  if (rec == NULL) {
    la_errf(&err, LA_ENOMEM, "command: out of memory");
    return fail(EXIT_BAD, &err);
  }
  if (cap_data(limit, &err)) {
    free(rec);
    return fail(EXIT_BAD, &err);
  }
  execve(c->argv[0], c->argv, env);
  why = strerror(errno);
  {
    struct iovec v[4] = {{rec, split},
                         {(char *)why, strlen(why)},
                         {rec + split + 6, strlen(rec + split + 6)},
                         {(char *)"\n", 1}};
    (void)writev(2, v, 4); /* nothing more to do if stderr is gone */
  }
  _exit(EXIT_NO_EXEC); /* under the cap: no exit handler may allocate */
}

/* ---- records reported over HTTP (a Slurm job's worker) ---- */

#define POLL_MS 250 /* how often a trainer's end and stop are looked at */

static volatile sig_atomic_t g_timed_out; /* the time limit passed */
static volatile sig_atomic_t g_term;      /* the worker got SIGTERM */
static volatile pid_t g_trainer;          /* its process group */

static void on_alarm(int sig) {
  (void)sig;
  g_timed_out = 1;
  if (g_trainer > 0) kill(-g_trainer, SIGKILL);
}

/* Slurm stops a job (scancel, its time limit) with SIGTERM: the trainer's
 * group gets it too, and SIGKILL LA_CMD_GRACE_MS later (pump_run). */
static void on_term(int sig) {
  (void)sig;
  g_term = 1;
  if (g_trainer > 0) kill(-g_trainer, SIGTERM);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The trainer as a child in its own process group, with its records on a
 * pipe whose read end is fds[0] and its stdout and stderr on one whose
 * read end is fds[1]. Its pid, or -1 (err filled). */
static pid_t start_child(const la_command *c, const json_t *config,
                         unsigned long long limit, int fds[2], la_err *err) {
  int p[2] = {-1, -1}, l[2] = {-1, -1};
  pid_t pid = -1;
  char **env = NULL;
  if (pipe2(p, O_CLOEXEC) == 0 && pipe2(l, O_CLOEXEC) == 0 &&
      (pid = fork()) == 0) {
    int code;
    setpgid(0, 0);
    code = prepare(c, config, p[1], l[1], &env, err);
    _exit(code ? code : exec_trainer(c, env, limit));
  }
  if (pid < 0) la_errf(err, LA_EIO, "command: pipe, fork: %s", strerror(errno));
  for (int i = 0; i < 2; i++) {
    if (pid < 0 && p[i] >= 0) close(p[i]);
    if (pid < 0 && l[i] >= 0) close(l[i]);
  }
  if (pid < 0) return -1; /* a pid: none (err filled) */
  close(p[1]);
  close(l[1]);
  fds[0] = p[0], fds[1] = l[0];
  return pid;
}

/* What the worker does with its trainer's output: record lines go on to
 * the daemon, but the last done record is held back until the log is sent
 * (a done record ends the run and revokes its token); the log (stdout and
 * stderr) is kept bounded and echoed on the worker's stderr, the job's
 * Slurm log. */
typedef struct pump {
  FILE *out;          /* the records' stream (remote.h) */
  int64_t max, lines; /* the record limit (0: none), record lines seen */
  int stopped;        /* 1: a line too long; 2: past max */
  size_t len;         /* of the partial line in g_line */
  char *done;         /* the last done line (owned), or NULL */
  size_t done_len;
  la_logbound log;
} pump;

static char g_line[LA_RECORD_MAX_LINE + 2]; /* a record line and '\n' */

/* Is line[0, n) a done record? */
static int is_done(const char *line, size_t n) {
  json_t *rec;
  int yes;
  if (memmem(line, n, "done", 4) == NULL) return 0;
  rec = json_loadb(line, n, 0, NULL);
  yes = rec != NULL && json_is_string(json_object_get(rec, "type")) &&
        strcmp(json_string_value(json_object_get(rec, "type")), "done") == 0;
  json_decref(rec);
  return yes;
}

/* One record line (n bytes, its '\n' included unless it is the last). */
static void record_line(pump *p, const char *line, size_t n) {
  if (++p->lines > p->max && p->max > 0) {
    p->stopped = 2;
  } else if (is_done(line, n)) {
    char *copy = malloc(n);
    if (copy == NULL) { /* sent now: the log may then be refused */
      fwrite(line, 1, n, p->out);
      return;
    }
    memcpy(copy, line, n);
    free(p->done);
    p->done = copy, p->done_len = n;
  } else {
    fwrite(line, 1, n, p->out);
    if (line[n - 1] != '\n') fputc('\n', p->out);
  }
}

/* n bytes of the record pipe: its complete lines, the rest kept. */
static void record_bytes(pump *p, const char *buf, size_t n) {
  while (n > 0 && !p->stopped) {
    const char *nl = memchr(buf, '\n', n);
    size_t take = nl ? (size_t)(nl - buf) + 1 : n;
    if (p->len + take > LA_RECORD_MAX_LINE + 1) {
      p->stopped = 1;
      return;
    }
    memcpy(g_line + p->len, buf, take);
    p->len += take;
    if (nl) {
      record_line(p, g_line, p->len);
      p->len = 0;
    }
    buf += take, n -= take;
  }
}

/* n bytes of the log: kept bounded, and on the worker's stderr. */
static void log_bytes(pump *p, const char *buf, size_t n) {
  la_logbound_add(&p->log, buf, n);
  for (size_t at = 0; at < n;) {
    ssize_t w = write(2, buf + at, n - at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break; /* no job log: the kept log is still sent */
    at += (size_t)w;
  }
}

/* Reads from fd (0: the records, 1: the log) into p; 0 at its end. */
static int pump_read(pump *p, int i, int fd) {
  static char buf[65536];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n > 0 && i == 0) {
    record_bytes(p, buf, (size_t)n);
    fflush(p->out); /* to the reporter's batches (1 s, 256 KiB), not 4 KiB */
  }
  if (n > 0 && i == 1) log_bytes(p, buf, (size_t)n);
  if (n <= 0 && i == 0 && p->len > 0 && !p->stopped)
    record_line(p, g_line, p->len); /* an unterminated last line */
  return n > 0;
}

/* Reads the trainer's records and log until both pipes end, or until
 * LA_CMD_LINGER_MS after the trainer exited (its group then killed: a
 * descendant of another group may hold them); stops the group when the
 * records break a limit, and kills it LA_CMD_GRACE_MS after a SIGTERM.
 * *status: the trainer's wait status. */
static void pump_run(pump *p, pid_t pid, int fds[2], int *status) {
  double until = 0, term_at = 0;
  int exited = 0, killed = 0;
  while (fds[0] >= 0 || fds[1] >= 0) {
    struct pollfd pf[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    double left = exited ? until - now_ms() : POLL_MS;
    if (left <= 0) break;
    if (poll(pf, 2, left < POLL_MS ? (int)left + 1 : POLL_MS) < 0 &&
        errno != EINTR)
      break;
    for (int i = 0; i < 2; i++)
      if (fds[i] >= 0 && pf[i].revents && !pump_read(p, i, fds[i])) {
        close(fds[i]);
        fds[i] = -1;
      }
    if (g_term && term_at == 0) term_at = now_ms();
    if (!killed &&
        (p->stopped || (term_at > 0 && now_ms() - term_at > LA_CMD_GRACE_MS))) {
      kill(-pid, SIGKILL);
      killed = 1;
    }
    if (!exited && waitpid(pid, status, WNOHANG) == pid) {
      exited = 1;
      kill(-pid, SIGKILL); /* what is left of its group */
      until = now_ms() + LA_CMD_LINGER_MS;
    }
  }
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0) close(fds[i]);
  while (!exited && waitpid(pid, status, 0) < 0 && errno == EINTR)
    ;
}

/* The trainer's end in words (after a failure) into err; its exit code.
 * stopped: the pump's. A trainer that exits 0 after a SIGTERM has
 * finished (its done record counts). */
static int trainer_end(int status, int stopped, const la_command *c,
                       la_err *err) {
  if (stopped == 1)
    la_errf(err, LA_EINVAL, "command: a record line longer than %u bytes",
            LA_RECORD_MAX_LINE);
  else if (stopped == 2)
    la_errf(err, LA_EINVAL,
            "more than %lld records (the daemon's max_run_rows)",
            (long long)c->max_records);
  else if (g_timed_out)
    la_errf(err, LA_EIO,
            "time limit of %lld s (task.command.time_limit) passed: stopped",
            (long long)c->time_limit);
  else if (g_term && (WIFSIGNALED(status) || WEXITSTATUS(status) != 0))
    la_errf(err, LA_EIO,
            "the job was stopped (SIGTERM: cancelled, or past its Slurm time "
            "limit), and its trainer with it");
  else if (WIFSIGNALED(status))
    la_errf(err, LA_EIO, "trainer killed by signal %d", WTERMSIG(status));
  else if (WEXITSTATUS(status) != 0)
    la_errf(err, LA_EIO, "trainer exited with status %d", WEXITSTATUS(status));
  else
    return 0;
  return WIFSIGNALED(status)               ? 128 + WTERMSIG(status)
         : WEXITSTATUS(status) && !stopped ? WEXITSTATUS(status)
                                           : EXIT_RUN_FAILED;
}

/* Sends the kept log (an empty one too, as the local executor keeps it);
 * a log that cannot be sent is only said on stderr. */
static void send_log(la_remote *r, const pump *p) {
  char *text = la_logbound_text(&p->log);
  la_err err;
  if (text == NULL && p->log.bytes > 0) return; /* no memory: no log */
  if (la_remote_send_log(r, text ? text : "", text ? strlen(text) : 0,
                         p->log.bytes, &err))
    fprintf(stderr, "loralpha-worker: the trainer's log is not kept: %s\n",
            err.msg);
  free(text);
}

/* The run's last records: the error record of a failed trainer (a done
 * record it wrote is dropped: the run failed, as on the local executor),
 * else its done record. */
static void send_end(FILE *out, const pump *p, int code, la_err *err) {
  if (code != 0) {
    json_t *rec = json_pack("{s:s, s:s}", "type", "error", "error", err->msg);
    fail(code, err);
    if (rec != NULL) json_dumpf(rec, out, JSON_COMPACT);
    fputc('\n', out);
    json_decref(rec);
  } else if (p->done != NULL) {
    fwrite(p->done, 1, p->done_len, out);
    if (p->done[p->done_len - 1] != '\n') fputc('\n', out);
  }
}

/* Runs the trainer as a child and POSTs its records (remote.h), then its
 * kept log, then its end: the done record, or a failure as the run's
 * error record. Its exit code. */
static int run_reported(const la_command *c, const json_t *config,
                        unsigned long long limit, const la_cmd_report *rep) {
  la_remote *r = NULL;
  pump *p = calloc(1, sizeof *p);
  la_err err = {{0}};
  int fds[2], status = 0, code;
  pid_t pid = -1;
  if (p == NULL) la_errf(&err, LA_ENOMEM, "command: out of memory");
  if (p == NULL ||
      la_remote_open(rep->url, rep->token_file, rep->retry_s, &r, &p->out,
                     &err) ||
      (pid = start_child(c, config, limit, fds, &err)) < 0) {
    la_remote_close(r, NULL);
    free(p);
    return fail(EXIT_BAD, &err);
  }
  p->max = c->max_records;
  g_trainer = pid;
  signal(SIGALRM, on_alarm);
  signal(SIGTERM, on_term);
  alarm((unsigned)c->time_limit);
  pump_run(p, pid, fds, &status);
  alarm(0);
  kill(-pid, SIGKILL); /* what is left of its group */
  send_log(r, p);
  code = trainer_end(status, p->stopped, c, &err);
  send_end(p->out, p, code, &err);
  free(p->done);
  free(p);
  if (la_remote_close(r, &err)) return fail(EXIT_RUN_FAILED, &err);
  return code;
}

int la_worker_command(const json_t *config, int check,
                      unsigned long long daemon_limit,
                      const la_cmd_report *report) {
  la_command c;
  la_err err = {{0}};
  char **env = NULL;
  unsigned long long limit;
  int code;
  if (la_command_from_config(config, &c, &err)) return fail(EXIT_BAD, &err);
  limit = c.memory_limit ? c.memory_limit : daemon_limit;
  if (check) {
    code = check_usable(&c, &err) ? fail(EXIT_BAD, &err) : 0;
  } else if (report != NULL) {
    code = run_reported(&c, config, limit, report);
  } else {
    code = prepare(&c, config, 1, 2, &env, &err);
    if (code == 0) code = exec_trainer(&c, env, limit);
  }
  la_command_clear(&c);
  return code;
}
