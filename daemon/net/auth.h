/*
 * auth.h: who is asking, and what they may do.
 *
 * Identity comes from one of two places:
 *   - the Unix socket: the kernel's word for the peer's uid (SO_PEERCRED),
 *     mapped to a user name with the password database;
 *   - TCP: an "Authorization: Bearer TOKEN" header, looked up among the
 *     daemon's own token (created at first start in <state dir>/token, mode
 *     0600, for the user the daemon runs as) and the tokens file
 *     ("USER TOKEN" per line).
 * Anything else has no identity: the API answers 401 without saying why.
 *
 * Rights: everyone with an identity may submit and (by default) read every
 * sweep; a sweep's owner and the admins may change it (cancel, pause,
 * resume, patch). Admins are the daemon's own user, root, and the users the
 * config names.
 */
#ifndef LORALPHA_AUTH_H
#define LORALPHA_AUTH_H

#include "loralpha/common.h"
#include "loralpha/rights.h"
#include "net/http.h"

#include <stddef.h>

typedef struct la_auth la_auth;

typedef struct la_auth_opts {
  const char *state_dir;     /* where the daemon's token lives (must exist) */
  const char *tokens_file;   /* "USER TOKEN" lines, or NULL */
  const char *const *admins; /* user names, n_admins of them */
  size_t n_admins;
  int read_own_only; /* 1: users read only their own sweeps (admins all) */
} la_auth_opts;

typedef enum { LA_VIA_SOCKET, LA_VIA_TOKEN } la_via;

typedef struct la_identity {
  char user[LA_USER_MAX];
  int admin;
  la_via via;
} la_identity;

/* Reads (or creates) the daemon's token and loads the tokens file. Returns
 * 0 or an LA_E code with err filled ("tokens file /etc/x: line 3: ..."). */
int la_auth_new(const la_auth_opts *o, la_auth **out, la_err *err);

/* Loads the tokens file again (SIGHUP); on error the old tokens stay. */
int la_auth_reload(la_auth *a, la_err *err);

/* Checks a tokens file without a daemon (serve --check-config): its
 * permissions and every line. Fills *n_tokens. */
int la_auth_check_tokens_file(const char *path, size_t *n_tokens, la_err *err);

/* The token of an "Authorization: Bearer TOKEN" header value, spaces
 * around it skipped, with its length in *len; NULL if the value is not a
 * bearer token. */
const char *la_auth_bearer(const char *header, size_t *len);

/* The SHA-256 of the n bytes at s (libcrypto), as 64 lowercase hex digits
 * and a NUL, into out. 0, or LA_ENOMEM if libcrypto fails (it fails only
 * when an allocation does). Run tokens are stored
 * only as this (docs/security.md). */
int la_auth_sha256_hex(const void *s, size_t n, char out[LA_SHA256_HEX + 1]);

/* Are two secrets equal? Compared in time that depends only on their
 * lengths; an empty secret equals nothing. */
int la_auth_secret_equal(const char *a, size_t na, const char *b, size_t nb);

/* The identity of req into *id; 0, or LA_EPERM if it has none (no peer
 * uid, no bearer token, or a token no one holds). */
int la_auth_identify(const la_auth *a, const la_http_request *req,
                     la_identity *id);

/* May id read a sweep owned by owner? */
int la_auth_can_read(const la_auth *a, const la_identity *id,
                     const char *owner);

/* May id change (cancel, pause, patch) a sweep owned by owner? */
int la_auth_can_change(const la_auth *a, const la_identity *id,
                       const char *owner);

/* The user the daemon runs as; owner of sweeps that predate owners. */
const char *la_auth_daemon_user(const la_auth *a);

/* Path of the daemon's token file. */
const char *la_auth_token_path(const la_auth *a);

void la_auth_free(la_auth *a);

#endif
