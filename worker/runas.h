/*
 * runas.h: a worker started by root giving up root for the sweep's owner.
 *
 * A daemon running as root starts each local worker with `--run-as USER`
 * (the sweep's owner). Before the worker reads anything a config names, it
 * takes USER's groups (initgroups semantics: the password database's
 * primary group and the group database's memberships), then its gid and
 * uid (real, effective and saved), and checks that root cannot be regained.
 * Every file the run opens is then opened with USER's rights, as if USER
 * had started the worker (docs/security.md, "Files").
 */
#ifndef LORALPHA_RUNAS_H
#define LORALPHA_RUNAS_H

#include "loralpha/common.h"

/* Becomes user (a name in the password database) for good.
 *   - started as root: drops to user as above; user may not be root;
 *   - already running as user (all three uids and gids: the worker
 *     re-executed itself after the drop): nothing to do;
 *   - anything else: refused, nothing changed.
 * Returns 0, or LA_EINVAL (refused: unknown user, root, not started as
 * root) or LA_EIO (a system call failed; the process must exit) with the
 * reason in err. */
int la_runas(const char *user, la_err *err);

#endif
