/*
 * paths.h: where the daemon keeps its state by default, shared by
 * `loralpha serve` and the CLI so that both find the same socket and token.
 *
 * The state directory is $LORALPHA_STATE_DIR if set, else
 * $XDG_STATE_HOME/loralpha, else $HOME/.local/state/loralpha. In it:
 *
 *   loralpha.sock   the Unix socket (identity from the kernel)
 *   token           the daemon user's bearer token for TCP (mode 0600)
 */
#ifndef LORALPHA_PATHS_H
#define LORALPHA_PATHS_H

#include <stddef.h>

#define LA_SOCKET_NAME "loralpha.sock"
#define LA_TOKEN_NAME "token"

/* The default state directory into buf; 0, or -1 if it does not fit or no
 * variable names a home. */
int la_paths_state_dir(char *buf, size_t size);

/* dir/name into buf; 0, or -1 if it does not fit. */
int la_paths_join(char *buf, size_t size, const char *dir, const char *name);

/* The directory of the running executable into buf; 0, or -1 if unknown.
 * (The daemon finds the worker and the dashboard beside it.) */
int la_paths_exe_dir(char *buf, size_t size);

/* Creates dir and its missing parents (mode 0755); 0, or -1 with errno. */
int la_paths_mkdir(const char *dir);

#endif
