/* proc.c: process identities and ending leftover workers (see proc.h).
 *
 * A leftover is signalled through a pidfd opened before its identity is
 * checked: the pidfd names the process that had the PID at that moment, so
 * if the check passes, the signal can only reach that process (or fail with
 * ESRCH once it has exited), never one that took its PID since. Where
 * pidfds are missing (ENOSYS: a kernel older than 5.3) the PID is checked
 * and then signalled. Waiting polls the pidfds, which become readable when
 * their process exits (or checks the identities every 10 ms without them).
 *
 * A command task's trainer leads a process group of its own (its id is the
 * trainer's PID). Its whole group is signalled: while the leader is alive
 * and is the recorded process, and when the leader is gone but its group
 * still has members (a trainer killed with the daemon leaves its children
 * behind): the kernel gives no process a PID that is still some group's
 * id, so a group with that id and no process with that PID is what is left
 * of the recorded trainer's. A group is waited for until it has no member.
 */
#include "sched/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <time.h>
#include <unistd.h>

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

int la_proc_boot_id(char buf[LA_BOOT_ID_MAX], la_err *err) {
  int fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0)
    return la_errf(err, LA_EIO, "%s: %s", BOOT_ID_PATH, strerror(errno));
  n = read(fd, buf, LA_BOOT_ID_MAX - 1);
  close(fd);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    n--;
  if (n <= 0) return la_errf(err, LA_EIO, "%s: cannot be read", BOOT_ID_PATH);
  buf[n] = '\0';
  return 0;
}

/* The state letter (field 3), start time (field 22) and, when pgrp is not
 * NULL, the process group (field 5) of /proc/PID/stat.
 * 0; LA_ENOTFOUND when there is no such process; LA_EIO (err filled). */
static int read_stat(int pid, char *state, uint64_t *start, long *pgrp,
                     la_err *err) {
  char path[64], buf[1024], *p, *end;
  ssize_t n;
  int fd;
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
    return errno == ENOENT || errno == ESRCH
               ? LA_ENOTFOUND
               : la_errf(err, LA_EIO, "%s: %s", path, strerror(errno));
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) /* ESRCH: it exited between the open and the read */
    return n < 0 && errno == ESRCH
               ? LA_ENOTFOUND
               : la_errf(err, LA_EIO, "%s: unreadable", path);
  buf[n] = '\0';
  /* the name (field 2) may hold spaces and parentheses: fields 3 on
   * follow the last ')' */
  if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ' || p[2] == '\0')
    return la_errf(err, LA_EIO, "%s: unexpected format", path);
  p += 2;
  *state = *p;
  for (int field = 3; field < 22; field++) {
    if ((p = strchr(p, ' ')) == NULL)
      return la_errf(err, LA_EIO, "%s: unexpected format", path);
    p++;
    if (field == 4 && pgrp != NULL) *pgrp = strtol(p, NULL, 10);
  }
  *start = strtoull(p, &end, 10);
  if (end == p) return la_errf(err, LA_EIO, "%s: unexpected format", path);
  return 0;
}

int la_proc_identify(int pid, const char *boot_id, la_proc_id *out,
                     la_err *err) {
  char state;
  int rc;
  if (pid <= 1) return LA_ENOTFOUND; /* never a worker */
  if ((rc = read_stat(pid, &state, &out->start_ticks, NULL, err)) != 0)
    return rc;
  if (state == 'Z' || state == 'X') return LA_ENOTFOUND;
  out->pid = pid;
  snprintf(out->boot_id, sizeof out->boot_id, "%s", boot_id);
  return 0;
}

/* 1 when the process is alive and still the one id names. */
static int same_process(const la_proc_id *id, const char *boot_id) {
  la_proc_id now;
  la_err err;
  return strcmp(id->boot_id, boot_id) == 0 &&
         la_proc_identify(id->pid, boot_id, &now, &err) == 0 &&
         now.start_ticks == id->start_ticks;
}

/* One leftover being ended. */
typedef struct target {
  const la_leftover *w;
  int fd;    /* its pidfd, or -1 (no pidfds: by PID) */
  int alive; /* signalled and not seen gone yet */
  int group; /* its process group is signalled too (a trainer's) */
} target;

/* Sends sig to t, and then to its group: 0, or an errno value (the
 * group's, for a group: its leader may be gone already). */
static int send_sig(const target *t, int sig) {
  int rc = 0;
  if (t->fd >= 0)
    rc = pidfd_send_signal(t->fd, sig, NULL, 0) == 0 ? 0 : errno;
  else if (!t->group)
    rc = kill(t->w->id.pid, sig) == 0 ? 0 : errno;
  if (t->group) rc = kill(-t->w->id.pid, sig) == 0 ? 0 : errno;
  return rc;
}

/* Does the process group pgid have a member that is not a zombie? 1 or
 * 0 (a group whose processes all exited, waiting to be reaped, is gone). */
static int group_exists(int pgid) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  int found = 0;
  if (d == NULL) return kill(-pgid, 0) == 0 || errno == EPERM;
  while (!found && (e = readdir(d)) != NULL) {
    char state;
    uint64_t start;
    long pgrp = 0;
    la_err err;
    int pid = (int)la_parse_id(e->d_name);
    found = pid > 0 && read_stat(pid, &state, &start, &pgrp, &err) == 0 &&
            pgrp == pgid && state != 'Z' && state != 'X';
  }
  closedir(d);
  return found;
}

/* Is the process id names a zombie (it exited; its parent has not reaped
 * it)? 1 or 0. */
static int is_zombie(const la_proc_id *id) {
  char state;
  uint64_t start;
  la_err err;
  return read_stat(id->pid, &state, &start, NULL, &err) == 0 &&
         start == id->start_ticks && (state == 'Z' || state == 'X');
}
/* Opens t's pidfd and checks its identity; 1 when it is alive and ours to
 * signal, 0 when it is gone or another process has its PID. */
static int target_open(target *t, const char *boot_id) {
  const la_proc_id *id = &t->w->id;
  t->fd = -1;
  t->alive = 0;
  if (id->pid <= 1 || id->pid == (int)getpid() ||
      strcmp(id->boot_id, boot_id) != 0)
    return 0;
  t->fd = pidfd_open((pid_t)id->pid, 0);
  t->group = 0;
  if (t->fd < 0 && errno != ENOSYS) /* ESRCH: gone; its group may be left */
    return t->group = group_exists(id->pid);
  if (same_process(id, boot_id))
    return t->group = getpgid((pid_t)id->pid) == (pid_t)id->pid, 1;
  t->group = is_zombie(id) && group_exists(id->pid); /* its PID is held */
  if (t->fd >= 0) close(t->fd);
  t->fd = -1;
  return t->group;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits up to ms for the alive targets to exit; the number still alive. */
static int wait_gone(target *t, size_t n, unsigned ms, const char *boot_id) {
  uint64_t deadline = now_ms() + ms;
  struct pollfd pfd[64];
  for (;;) {
    int left = 0, nfd = 0;
    uint64_t now = now_ms();
    for (size_t i = 0; i < n; i++) {
      if (!t[i].alive) continue;
      if (t[i].group) { /* gone when no member is left */
        if (group_exists(t[i].w->id.pid))
          left++;
        else
          t[i].alive = 0;
        continue;
      }
      if (t[i].fd < 0 && !same_process(&t[i].w->id, boot_id)) {
        t[i].alive = 0;
        continue;
      }
      if (t[i].fd >= 0) {
        struct pollfd one = {t[i].fd, POLLIN, 0};
        if (poll(&one, 1, 0) == 1) {
          t[i].alive = 0;
          continue;
        }
        if (nfd < 64) pfd[nfd++] = one;
      }
      left++;
    }
    if (left == 0 || now >= deadline) return left;
    /* a pidfd wakes the wait; without one, look again in 10 ms */
    poll(nfd > 0 && nfd == left ? pfd : NULL,
         nfd > 0 && nfd == left ? (nfds_t)nfd : 0,
         (int)(deadline - now < 10 ? deadline - now : 10));
  }
}

/* Signals every alive target with sig, logging each; those that cannot be
 * signalled are no longer waited for. */
static void signal_all(target *t, size_t n, int sig, FILE *log) {
  for (size_t i = 0; i < n; i++) {
    int e;
    if (!t[i].alive) continue;
    if ((e = send_sig(&t[i], sig)) == ESRCH) {
      t[i].alive = 0;
    } else if (e != 0) {
      t[i].alive = 0;
      fprintf(log,
              "loralpha serve: run %lld: cannot stop the worker a previous "
              "daemon left (pid %d): %s\n",
              (long long)t[i].w->run_id, t[i].w->id.pid, strerror(e));
    } else {
      fprintf(log,
              "loralpha serve: run %lld: the worker a previous daemon left "
              "(pid %d) is still running: %s\n",
              (long long)t[i].w->run_id, t[i].w->id.pid,
              sig == SIGKILL ? "SIGKILL" : "SIGTERM");
    }
  }
}

int la_proc_end_leftovers(const la_leftover *w, size_t n, unsigned term_ms,
                          unsigned kill_ms, FILE *log) {
  char boot_id[LA_BOOT_ID_MAX];
  target *t;
  size_t signalled = 0;
  int left;
  la_err err;
  if (n == 0) return 0;
  if (la_proc_boot_id(boot_id, &err)) {
    fprintf(log,
            "loralpha serve: %s: leftover workers cannot be told "
            "apart from other processes and are not stopped\n",
            err.msg);
    return 0;
  }
  if ((t = calloc(n, sizeof *t)) == NULL) {
    fprintf(log, "loralpha serve: out of memory: leftover workers are not "
                 "stopped\n");
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    t[i].w = &w[i];
    t[i].alive = target_open(&t[i], boot_id);
  }
  signal_all(t, n, SIGTERM, log);
  for (size_t i = 0; i < n; i++)
    signalled += t[i].alive != 0;
  left = wait_gone(t, n, term_ms, boot_id);
  if (left > 0) {
    signal_all(t, n, SIGKILL, log);
    left = wait_gone(t, n, kill_ms, boot_id);
  }
  for (size_t i = 0; i < n; i++) {
    if (t[i].alive)
      fprintf(log,
              "loralpha serve: run %lld: the worker a previous daemon left "
              "(pid %d) is still there after SIGKILL\n",
              (long long)t[i].w->run_id, t[i].w->id.pid);
    if (t[i].fd >= 0) close(t[i].fd);
  }
  free(t);
  return (int)signalled - left;
}
