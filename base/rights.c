/* rights.c: whose rights read a sweep's data files (rights.h). */
#include "loralpha/rights.h"

#include "loralpha/config.h"
#include "loralpha/spec.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* la_config_each_path's step of la_rights_files_field: the first path's
 * object ("npy" of "npy.x"), and stop. */
static int first_path(json_t *v, const char *field, void *ctx) {
  const char **out = ctx;
  (void)v;
  *out = strncmp(field, "gpt.", 4) == 0 ? "gpt" : "npy";
  return 1;
}

const char *la_rights_files_field(const json_t *fields) {
  const char *found = NULL;
  if (json_is_object(fields))
    la_config_each_path((json_t *)fields, first_path, &found);
  return found;
}

/* Does the password database know user? */
static int has_account(const char *user) {
  struct passwd pw, *found = NULL;
  char buf[4096];
  return getpwnam_r(user, &pw, buf, sizeof buf, &found) == 0 && found != NULL;
}

int la_rights_check_files(const char *field, const char *owner,
                          const char *daemon_user, int slurm, int *status,
                          la_err *err) {
  *status = 0;
  if (strcmp(owner, daemon_user) == 0) return 0;
  *status = 403;
  if (geteuid() != 0)
    return la_errf(err, LA_EINVAL,
                   "task.%s: this daemon runs as %.64s and reads data files "
                   "only for %.64s (it would read them with %.64s's rights, "
                   "not %.64s's); run the worker yourself (loralpha-worker), "
                   "or use a daemon run as root, which runs each worker as "
                   "its sweep's owner (docs/security.md)",
                   field, daemon_user, daemon_user, daemon_user, owner);
  if (slurm)
    return la_errf(err, LA_EINVAL,
                   "task.%s: Slurm jobs run as %.64s, the daemon's user, so "
                   "only %.64s may name data files in a sweep for the Slurm "
                   "executor; use \"executor\": \"local\" (its workers run "
                   "as %.64s)",
                   field, daemon_user, daemon_user, owner);
  if (!has_account(owner)) {
    *status = 422;
    return la_errf(err, LA_EINVAL,
                   "task.%s: %.64s has no local account on this machine, so "
                   "no worker can read files with %.64s's rights; data "
                   "files need a local account (submit as that user over "
                   "the Unix socket)",
                   field, owner, owner);
  }
  *status = 0;
  return 0;
}

int la_rights_check_command(const char *owner, const char *daemon_user,
                            int slurm, int *status, la_err *err) {
  *status = 0;
  if (strcmp(owner, daemon_user) == 0) return 0;
  *status = 403;
  if (slurm)
    return la_errf(err, LA_EINVAL,
                   "task.command: Slurm jobs run as %.64s, the daemon's user, "
                   "so only %.64s may send a command task to the Slurm "
                   "executor; use \"executor\": \"local\" (its trainers "
                   "run as their sweep's owner on a daemon run as root)",
                   daemon_user, daemon_user);
  if (geteuid() != 0)
    return la_errf(err, LA_EINVAL,
                   "task.command: this daemon runs as %.64s and runs "
                   "programs only for %.64s (the program would run with "
                   "%.64s's rights, not %.64s's); run your trainer with a "
                   "daemon of your own, or use a daemon run as root, which "
                   "runs each trainer as its sweep's owner "
                   "(docs/security.md)",
                   daemon_user, daemon_user, daemon_user, owner);
  if (!has_account(owner)) {
    *status = 422;
    return la_errf(err, LA_EINVAL,
                   "task.command: %.64s has no local account on this "
                   "machine, so no program can run with %.64s's rights; "
                   "the command task needs a local account (submit as that "
                   "user over the Unix socket)",
                   owner, owner);
  }
  *status = 0;
  return 0;
}

/* la_spec_each_path's step of la_rights_absolute_paths: joins the working
 * directory and a relative path (a string); counts the paths replaced. */
typedef struct abs_walk {
  const char *cwd;
  int n;
} abs_walk;

static int absolute_one(json_t *v, const char *field, void *ctx) {
  abs_walk *w = ctx;
  const char *p = json_string_value(v);
  char *joined;
  size_t n;
  int rc;
  (void)field;
  if (p == NULL || p[0] == '/' || p[0] == 0) return 0;
  if (strncmp(p, "./", 2) == 0) p += 2;
  n = strlen(w->cwd) + strlen(p) + 2;
  if ((joined = malloc(n)) == NULL) return LA_ENOMEM;
  snprintf(joined, n, "%s%s%s", w->cwd, strcmp(w->cwd, "/") ? "/" : "", p);
  rc = json_string_set(v, joined) ? LA_ENOMEM : 0;
  free(joined);
  w->n += rc == 0;
  return rc;
}

int la_rights_absolute_paths(json_t *spec, const char *cwd) {
  abs_walk w = {cwd, 0};
  int rc = la_spec_each_path(spec, absolute_one, &w);
  return rc < 0 ? rc : w.n;
}

int la_rights_valid_user(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n >= LA_USER_MAX || name[0] == '-') return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

void la_rights_user_of_uid(long uid, char *buf, size_t size) {
  struct passwd pw, *res = NULL;
  char tmp[4096];
  if (getpwuid_r((uid_t)uid, &pw, tmp, sizeof tmp, &res) == 0 && res != NULL &&
      la_rights_valid_user(res->pw_name))
    snprintf(buf, size, "%s", res->pw_name);
  else
    snprintf(buf, size, "uid%ld", uid);
}
