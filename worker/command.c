/* command.c: the worker as a command task's launcher (command.h). */
#define _GNU_SOURCE
#include "command.h"

#include "loralpha/command.h"
#include "loralpha/json_text.h"
#include "loralpha/record.h"
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
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
 * its stdout on the worker's stderr too when merge_log (the run's log),
 * nothing else. 0, or LA_EIO. */
static int trainer_fds(const json_t *config, int records, int merge_log,
                       la_err *err) {
  int rc;
  if (records != LA_CMD_RECORD_FD && dup2(records, LA_CMD_RECORD_FD) < 0)
    return la_errf(err, LA_EIO, "command: dup2: %s", strerror(errno));
  if ((rc = params_fds(config, err)) != 0) return rc;
  if (merge_log && dup2(2, 1) < 0)
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

/* Everything before the exec; 0, or an exit code after the error. */
static int prepare(const la_command *c, const json_t *config, int records,
                   char ***env, la_err *err) {
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
  if (trainer_fds(config, records, records == 1, err))
    return fail(EXIT_BAD, err);
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

static volatile sig_atomic_t g_timed_out; /* the time limit passed */
static volatile pid_t g_trainer;          /* its process group */

static void on_alarm(int sig) {
  (void)sig;
  g_timed_out = 1;
  if (g_trainer > 0) kill(-g_trainer, SIGKILL);
}

/* The trainer as a child in its own process group, with records on a
 * pipe whose read end is *rd. Its pid, or -1 (err filled). */
static pid_t start_child(const la_command *c, const json_t *config,
                         unsigned long long limit, int *rd, la_err *err) {
  int p[2];
  pid_t pid;
  char **env = NULL;
  if (pipe2(p, O_CLOEXEC) != 0) {
    la_errf(err, LA_EIO, "command: pipe: %s", strerror(errno));
    return -1; /* a pid: none (err filled) */
  }
  if ((pid = fork()) == 0) {
    int code;
    setpgid(0, 0);
    code = prepare(c, config, p[1], &env, err);
    _exit(code ? code : exec_trainer(c, env, limit));
  }
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    la_errf(err, LA_EIO, "command: fork: %s", strerror(errno));
    return -1; /* a pid: none (err filled) */
  }
  *rd = p[0];
  return pid;
}

/* Copies the trainer's record lines from rd to out: 0; 1 at a line longer
 * than LA_RECORD_MAX_LINE bytes, 2 past max lines (0: no limit); LA_EIO. */
static int forward(int rd, FILE *out, int64_t max) {
  static char line[LA_RECORD_MAX_LINE + 2];
  FILE *in = fdopen(rd, "r");
  int64_t lines = 0;
  int rc = in ? 0 : LA_EIO;
  while (rc == 0 && fgets(line, sizeof line, in) != NULL) {
    size_t n = strlen(line);
    if (n == sizeof line - 1 && line[n - 1] != '\n')
      rc = 1;
    else if (++lines > max && max > 0)
      rc = 2;
    else
      fputs(line, out);
  }
  if (in != NULL) fclose(in);
  return rc;
}

/* The trainer's end in words (after a failure) into err; its exit code.
 * stopped: forward's answer. */
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

/* Runs the trainer as a child and POSTs its records (remote.h); a failure
 * is sent too, as the run's error record. Its exit code. */
static int run_reported(const la_command *c, const json_t *config,
                        unsigned long long limit, const la_cmd_report *rep) {
  la_remote *r;
  FILE *out;
  la_err err = {{0}};
  int rd = -1, status = 0, stopped, code;
  pid_t pid;
  if (la_remote_open(rep->url, rep->token_file, rep->retry_s, &r, &out, &err))
    return fail(EXIT_BAD, &err);
  if ((pid = start_child(c, config, limit, &rd, &err)) < 0) {
    la_remote_close(r, NULL);
    return fail(EXIT_BAD, &err);
  }
  g_trainer = pid;
  signal(SIGALRM, on_alarm);
  alarm((unsigned)c->time_limit);
  stopped = forward(rd, out, c->max_records);
  if (stopped) kill(-pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  alarm(0);
  kill(-pid, SIGKILL); /* what is left of its group */
  if ((code = trainer_end(status, stopped > 0 ? stopped : 0, c, &err)) != 0) {
    json_t *rec = json_pack("{s:s, s:s}", "type", "error", "error", err.msg);
    fail(code, &err);
    if (rec != NULL) json_dumpf(rec, out, JSON_COMPACT);
    fputc('\n', out);
    json_decref(rec);
  }
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
    code = prepare(&c, config, 1, &env, &err);
    if (code == 0) code = exec_trainer(&c, env, limit);
  }
  la_command_clear(&c);
  return code;
}
