/* runas.c: dropping root for the sweep's owner (runas.h). */
#define _GNU_SOURCE
#include "runas.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_GROUPS 1024

/* Are the real, effective and saved uids all uid, and the gids all gid? */
static int ids_are(uid_t uid, gid_t gid) {
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0) return 0;
  return r == uid && e == uid && s == uid && rg == gid && eg == gid &&
         sg == gid;
}

/* Is every supplementary group one of the n of want? */
static int groups_are(const gid_t *want, int n) {
  gid_t have[MAX_GROUPS];
  int k = getgroups(MAX_GROUPS, have);
  if (k < 0) return 0;
  for (int i = 0; i < k; i++) {
    int found = 0;
    for (int j = 0; j < n && !found; j++)
      found = have[i] == want[j];
    if (!found) return 0;
  }
  return 1;
}

/* Checks the drop took and cannot be undone: the ids, the groups, and
 * that neither root's uid nor gid nor its group list can be had back. */
static int verify(const struct passwd *pw, const gid_t *groups, int n,
                  la_err *err) {
  if (!ids_are(pw->pw_uid, pw->pw_gid) || !groups_are(groups, n))
    return la_errf(err, LA_EIO,
                   "--run-as: the ids did not change to %.64s's (uid %ld)",
                   pw->pw_name, (long)pw->pw_uid);
  if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 ||
      setgroups(0, NULL) == 0)
    return la_errf(err, LA_EIO,
                   "--run-as: root could be regained after dropping to "
                   "%.64s; refusing to run",
                   pw->pw_name);
  return 0;
}

/* Keeps of the starter's environment only what a worker reads (OpenBLAS,
 * locale, sanitizers) and names the user: the daemon's environment is not
 * the user's to see, and a worker that re-executes itself (blas.h) can be
 * read by its user. 0, or LA_ENOMEM (a copy or setenv failed). */
static int own_environment(const struct passwd *pw) {
  static const char *const keep[] = {"PATH=",
                                     "LANG=",
                                     "LC_",
                                     "TZ=",
                                     "OPENBLAS_",
                                     "LORALPHA_",
                                     "ASAN_OPTIONS=",
                                     "UBSAN_OPTIONS=",
                                     "LSAN_OPTIONS=",
                                     "TSAN_OPTIONS=",
                                     NULL};
  char **saved;
  size_t n = 0, k = 0;
  int ok = 1;
  while (environ[n] != NULL)
    n++;
  if ((saved = calloc(n + 1, sizeof *saved)) == NULL) return LA_ENOMEM;
  for (size_t i = 0; i < n; i++)
    for (int j = 0; keep[j] != NULL; j++)
      if (strncmp(environ[i], keep[j], strlen(keep[j])) == 0) {
        saved[k++] = strdup(environ[i]);
        break;
      }
  clearenv();
  for (size_t i = 0; i < k; i++) /* putenv keeps the string */
    ok = ok && saved[i] != NULL && putenv(saved[i]) == 0;
  free(saved);
  ok = ok && setenv("HOME", pw->pw_dir, 1) == 0 &&
       setenv("USER", pw->pw_name, 1) == 0 &&
       setenv("LOGNAME", pw->pw_name, 1) == 0;
  return ok ? 0 : LA_ENOMEM;
}

/* Takes pw's groups, gid and uid, then checks. */
static int drop(const struct passwd *pw, la_err *err) {
  gid_t groups[MAX_GROUPS];
  int n = MAX_GROUPS;
  if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
    return la_errf(err, LA_EIO, "--run-as: %.64s is in more than %d groups",
                   pw->pw_name, MAX_GROUPS);
  if (setgroups((size_t)n, groups) != 0 ||
      setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
      setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
    return la_errf(err, LA_EIO, "--run-as: cannot become %.64s: %s",
                   pw->pw_name, strerror(errno));
  if (verify(pw, groups, n, err)) return LA_EIO;
  /* nothing of the starter's stays open (its fds should be close-on-exec;
   * this does not rely on it) */
  if (close_range(3, ~0u, 0) != 0)
    for (long fd = 3, max = sysconf(_SC_OPEN_MAX); fd < max; fd++)
      close((int)fd);
  if (own_environment(pw))
    return la_errf(err, LA_EIO, "--run-as: cannot set %.64s's environment",
                   pw->pw_name);
  return 0;
}

int la_runas(const char *user, la_err *err) {
  struct passwd pw, *found = NULL;
  char buf[16384];
  if (getpwnam_r(user, &pw, buf, sizeof buf, &found) != 0 || found == NULL)
    return la_errf(err, LA_EINVAL, "--run-as: no local account named '%.64s'",
                   user);
  if (pw.pw_uid == 0)
    return la_errf(err, LA_EINVAL,
                   "--run-as: %.64s is root; the option only gives rights up",
                   user);
  if (geteuid() != 0) {
    if (!ids_are(pw.pw_uid, pw.pw_gid))
      return la_errf(err, LA_EINVAL,
                     "--run-as: only a worker started as root may change "
                     "user (this one runs as uid %ld)",
                     (long)geteuid());
    return 0;
  }
  return drop(&pw, err);
}
