/*
 * paths.h: where the daemon keeps its state by default, shared by
 * `loralpha serve` and the CLI so that both find the same socket and token.
 *
 * The state directory is $LORALPHA_STATE_DIR if set, else
 * $XDG_STATE_HOME/loralpha, else $HOME/.local/state/loralpha. In it:
 *
 *   loralpha.sock   the Unix socket (identity from the kernel)
 *   token           the daemon user's bearer token for TCP (mode 0600)
 *   listen          where the daemon listens on TCP ("HOST PORT PID", mode
 *                   0600): the CLI sends the token above only there
 *
 * The directory is the daemon's alone (mode 0700; search-only bits for the
 * users its socket admits when the socket is in it), and so is every file
 * in it (docs/security.md).
 */
#ifndef LORALPHA_PATHS_H
#define LORALPHA_PATHS_H

#include "loralpha/common.h"

#include <stddef.h>

#define LA_SOCKET_NAME "loralpha.sock"
#define LA_TOKEN_NAME "token"
#define LA_LISTEN_NAME "listen"

/* The default state directory into buf; 0, or LA_EINVAL if it does not fit
 * or no variable names a home. */
int la_paths_state_dir(char *buf, size_t size);

/* dir/name into buf; 0, or LA_EINVAL if it does not fit. */
int la_paths_join(char *buf, size_t size, const char *dir, const char *name);

/* The directory of the running executable into buf; 0, or LA_EIO if
 * unknown.
 * (The daemon finds the worker and the dashboard beside it.) */
int la_paths_exe_dir(char *buf, size_t size);

/* Creates dir and its missing parents (mode 0755); 0, or LA_EIO with
 * errno. */
int la_paths_mkdir(const char *dir);

/* Makes dir with exactly mode (e.g. 0700), its missing parents with 0755.
 * An existing dir must be a directory owned by the effective user; its
 * mode becomes mode (keeping a setgid bit) if it differs, and then *was
 * holds the old one and 1 is returned. 0 when made or already so; LA_EIO
 * with errno (EPERM: another user owns it; ENOTDIR: not a directory). */
int la_paths_private_dir(const char *dir, unsigned mode, unsigned *was);

/* Takes every group and other permission away from the regular file at
 * path (a symlink is followed only if follow is 1: else it is ELOOP). 1
 * when it had some (the old mode in *was), 0 when it had none or does not
 * exist, LA_EIO with errno (EPERM: it had some and another user owns it;
 * EINVAL: not a regular file). */
int la_paths_private_file(const char *path, int follow, unsigned *was);

/* Replaces path with a file holding text, made with mode whatever the
 * umask: written to a new file beside it (O_EXCL, so a planted symlink is
 * never followed) and renamed over it. 0, or LA_EIO with errno. */
int la_paths_write_file(const char *path, const char *text, unsigned mode);

#endif
