/*
 * rights.h: with whose rights a sweep's data files are read
 * (docs/security.md, "Files").
 *
 * A worker reads the files a spec names (task.npy, task.gpt). They are read
 * only with rights their sweep's owner has:
 *   - the daemon's own user: its workers run as it;
 *   - a daemon running as root, local executor: each worker gives up root
 *     for the owner (loralpha-worker --run-as), so an owner needs a local
 *     account (the password database); without one, 422;
 *   - anything else (a daemon not running as root, or Slurm jobs, which run
 *     as the daemon's user): refused with 403.
 * The check runs when a sweep is submitted, and again before each local
 * run starts (a sweep stored by an older daemon is held to the same rule).
 */
#ifndef LORALPHA_RIGHTS_H
#define LORALPHA_RIGHTS_H

#include "loralpha/common.h"

#include <jansson.h>
#include <stddef.h>

#define LA_USER_MAX 64 /* longest user name, with its NUL */

/* Does fields (a spec's task section, or a worker config; borrowed, may
 * be NULL) name any file (la_config_each_path: the npy and gpt objects)?
 * The object that does ("npy" or "gpt"), or NULL. */
const char *la_rights_files_field(const json_t *fields);

/* May a sweep of owner name data files (in task.<field>) on this daemon
 * (run by daemon_user; slurm: its runs go to the Slurm executor)? 0, or
 * LA_EINVAL with the HTTP status to answer (403 or 422) in *status and
 * why, and what to do, in err. */
int la_rights_check_files(const char *field, const char *owner,
                          const char *daemon_user, int slurm, int *status,
                          la_err *err);

/* May a sweep of owner have a command task (command.h) on this daemon
 * (run by daemon_user; slurm: its runs would go to the Slurm executor,
 * whose jobs run as daemon_user)? The program runs with the owner's rights
 * only: as the daemon's user when that is the owner (on either executor),
 * else as the owner under a root daemon, locally (which needs the owner's
 * local account). 0, or LA_EINVAL with the HTTP status (403 or 422) in
 * *status and why in err. */
int la_rights_check_command(const char *owner, const char *daemon_user,
                            int slurm, int *status, la_err *err);

/* Makes every relative file path of spec (la_spec_each_path: the worker's
 * path fields, task.npy's and task.gpt's; spec borrowed, modified in place;
 * anything not of that shape is left alone) absolute by joining it to cwd, a
 * leading "./" dropped: what `loralpha submit` and `export-slurm` do, since the
 * daemon takes only absolute paths. Returns how many paths changed, or
 * LA_ENOMEM. */
int la_rights_absolute_paths(json_t *spec, const char *cwd);

/* Is name a valid user name (1..63 of [A-Za-z0-9._-], not starting with
 * '-')? */
int la_rights_valid_user(const char *name);

/* The user name of uid into buf ("uid1234" when the password database
 * has none). */
void la_rights_user_of_uid(long uid, char *buf, size_t size);

#endif
