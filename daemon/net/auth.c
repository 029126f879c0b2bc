/* auth.c: identities from the Unix socket and bearer tokens (see auth.h). */
#include "net/auth.h"

#include "loralpha/paths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_MIN 32   /* shortest token accepted in the tokens file */
#define TOKEN_MAX 256  /* longest */
#define TOKEN_BYTES 32 /* random bytes in the daemon's own token (64 hex) */

/* One token and whose it is. */
typedef struct token_ent {
  char user[LA_USER_MAX];
  char token[TOKEN_MAX + 1];
  size_t len;
} token_ent;

struct la_auth {
  char self[LA_USER_MAX]; /* the daemon's user */
  char token_path[PATH_MAX];
  char *tokens_file; /* NULL: none */
  char **admins;
  size_t n_admins;
  int read_own_only;
  token_ent own;     /* the daemon's token */
  token_ent *tokens; /* from the tokens file */
  size_t n_tokens;
};

/* A token's characters: the RFC 6750 b64token set. */
static int valid_token(const char *t, size_t n) {
  if (n < TOKEN_MIN || n > TOKEN_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = t[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || strchr("-._~+/=", c) != NULL))
      return 0;
  }
  return 1;
}

/* The name of uid into buf ("uid1234" when the password database has
 * none). */
int la_auth_sha256_hex(const void *s, size_t n, char out[LA_SHA256_HEX + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(s, n, md, &len, EVP_sha256(), NULL) != 1 ||
      len != LA_SHA256_HEX / 2)
    return LA_ENOMEM;
  for (unsigned i = 0; i < len; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  return 0;
}

/* A file holding secrets must be a regular file that others cannot read;
 * the daemon's own token (own = 1) not even its group. */
static int check_secret_file(const char *what, const char *path, int fd,
                             int own, la_err *err) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return la_errf(err, LA_EIO, "%s %s: %s", what, path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return la_errf(err, LA_EINVAL, "%s %s: not a regular file", what, path);
  if (own && (st.st_mode & 0077))
    return la_errf(err, LA_EINVAL,
                   "%s %s: readable by other users (mode %04o), so it may "
                   "have been read: delete it and start again for a new one",
                   what, path, (unsigned)(st.st_mode & 07777));
  if (st.st_mode & 0007)
    return la_errf(err, LA_EINVAL,
                   "%s %s: readable by other users (mode %04o); chmod o-rwx "
                   "it",
                   what, path, (unsigned)(st.st_mode & 07777));
  return 0;
}

/* Reads at most size-1 bytes of an open file into buf (NUL-terminated);
 * 0, or LA_EIO with errno. */
static int read_all(int fd, char *buf, size_t size, size_t *len) {
  size_t n = 0;
  while (n + 1 < size) {
    ssize_t r = read(fd, buf + n, size - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return LA_EIO;
    if (r == 0) break;
    n += (size_t)r;
  }
  buf[n] = 0;
  *len = n;
  return 0;
}

/* Creates the daemon's token file with a fresh random token. */
static int create_token(la_auth *a, la_err *err) {
  unsigned char raw[TOKEN_BYTES];
  char hex[2 * TOKEN_BYTES + 2];
  int fd;
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0)
      return la_errf(err, LA_EIO, "token: no random bytes: %s",
                     strerror(errno));
    got += (size_t)r;
  }
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf(hex + 2 * i, 3, "%02x", raw[i]);
  hex[2 * TOKEN_BYTES] = '\n';
  hex[2 * TOKEN_BYTES + 1] = 0;
  fd = open(a->token_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return la_errf(err, LA_EIO, "token %s: %s", a->token_path, strerror(errno));
  if (write(fd, hex, 2 * TOKEN_BYTES + 1) != 2 * TOKEN_BYTES + 1 ||
      fsync(fd) != 0) {
    close(fd);
    unlink(a->token_path);
    return la_errf(err, LA_EIO, "token %s: %s", a->token_path, strerror(errno));
  }
  close(fd);
  return 0;
}

/* Reads the daemon's token, creating it at first start. */
static int load_own_token(la_auth *a, const char *state_dir, la_err *err) {
  char buf[TOKEN_MAX + 8];
  size_t len;
  int fd, rc;
  if (la_paths_join(a->token_path, sizeof a->token_path, state_dir,
                    LA_TOKEN_NAME) != 0)
    return la_errf(err, LA_EINVAL, "state dir %s: path too long", state_dir);
  fd = open(a->token_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    if ((rc = create_token(a, err)) != 0) return rc;
    fd = open(a->token_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0)
    return la_errf(err, LA_EIO, "token %s: %s", a->token_path, strerror(errno));
  rc = check_secret_file("token", a->token_path, fd, 1, err);
  if (rc == 0 && read_all(fd, buf, sizeof buf, &len) != 0)
    rc = la_errf(err, LA_EIO, "token %s: %s", a->token_path, strerror(errno));
  close(fd);
  if (rc) return rc;
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
    buf[--len] = 0;
  if (!valid_token(buf, len))
    return la_errf(err, LA_EINVAL,
                   "token %s: not a token (%d..%d characters of A-Z a-z 0-9 "
                   "-._~+/=); delete it to have a new one made",
                   a->token_path, TOKEN_MIN, TOKEN_MAX);
  memcpy(a->own.token, buf, len + 1);
  a->own.len = len;
  snprintf(a->own.user, sizeof a->own.user, "%s", a->self);
  return 0;
}

/* Parses a tokens file's text into a new array; 0 or LA_EINVAL/LA_ENOMEM
 * with the line named. */
static int parse_tokens(const char *path, char *text, token_ent **out,
                        size_t *n_out, la_err *err) {
  token_ent *v = NULL;
  size_t n = 0, cap = 0;
  int line = 0;
  for (char *p = text; *p;) {
    char *eol = strchr(p, '\n'), *user, *tok, *extra;
    size_t ul, tl;
    line++;
    if (eol) *eol = 0;
    user = p + strspn(p, " \t\r");
    p = eol ? eol + 1 : p + strlen(p);
    if (*user == 0 || *user == '#') continue;
    ul = strcspn(user, " \t\r");
    tok = user + ul + strspn(user + ul, " \t\r");
    tl = strcspn(tok, " \t\r");
    extra = tok + tl + strspn(tok + tl, " \t\r");
    user[ul] = 0;
    if (!la_rights_valid_user(user)) {
      free(v);
      return la_errf(err, LA_EINVAL,
                     "tokens file %s: line %d: user: '%.40s' is not a user "
                     "name (1..63 of A-Z a-z 0-9 . _ -)",
                     path, line, user);
    }
    if (tl == 0 || *extra != 0 || !valid_token(tok, tl)) {
      free(v);
      return la_errf(err, LA_EINVAL,
                     "tokens file %s: line %d: token: expected 'USER TOKEN' "
                     "with a token of %d..%d characters of A-Z a-z 0-9 "
                     "-._~+/=",
                     path, line, TOKEN_MIN, TOKEN_MAX);
    }
    for (size_t i = 0; i < n; i++)
      if (v[i].len == tl && memcmp(v[i].token, tok, tl) == 0) {
        la_errf(err, LA_EINVAL,
                "tokens file %s: line %d: token: the same token is given to "
                "%s on an earlier line",
                path, line, v[i].user);
        free(v);
        return LA_EINVAL;
      }
    if (n == cap) {
      token_ent *nv = realloc(v, (cap = cap ? 2 * cap : 8) * sizeof *v);
      if (nv == NULL) {
        free(v);
        return la_errf(err, LA_ENOMEM, "tokens file: out of memory");
      }
      v = nv;
    }
    snprintf(v[n].user, sizeof v[n].user, "%s", user);
    memcpy(v[n].token, tok, tl);
    v[n].token[tl] = 0;
    v[n++].len = tl;
  }
  *out = v;
  *n_out = n;
  return 0;
}

/* Reads and parses a tokens file. */
static int load_tokens(const char *path, token_ent **out, size_t *n,
                       la_err *err) {
  enum { MAX_FILE = 4 << 20 };
  char *text;
  size_t len;
  int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return la_errf(err, LA_EIO, "tokens file %s: %s", path, strerror(errno));
  if ((rc = check_secret_file("tokens file", path, fd, 0, err)) != 0) {
    close(fd);
    return rc;
  }
  if ((text = malloc(MAX_FILE + 1)) == NULL) {
    close(fd);
    return la_errf(err, LA_ENOMEM, "tokens file: out of memory");
  }
  rc = read_all(fd, text, MAX_FILE + 1, &len);
  close(fd);
  if (rc != 0 || len >= MAX_FILE || memchr(text, 0, len) != NULL) {
    free(text);
    return la_errf(err, LA_EINVAL,
                   "tokens file %s: unreadable, binary or over %d bytes", path,
                   MAX_FILE);
  }
  rc = parse_tokens(path, text, out, n, err);
  free(text);
  return rc;
}

int la_auth_check_tokens_file(const char *path, size_t *n_tokens, la_err *err) {
  token_ent *v = NULL;
  int rc = load_tokens(path, &v, n_tokens, err);
  free(v);
  return rc;
}

int la_auth_new(const la_auth_opts *o, la_auth **out, la_err *err) {
  la_auth *a = calloc(1, sizeof *a);
  int rc = 0;
  if (a == NULL) return la_errf(err, LA_ENOMEM, "auth: out of memory");
  la_rights_user_of_uid((long)geteuid(), a->self, sizeof a->self);
  a->read_own_only = o->read_own_only;
  if (o->n_admins > 0 &&
      (a->admins = calloc(o->n_admins, sizeof *a->admins)) == NULL)
    rc = la_errf(err, LA_ENOMEM, "auth: out of memory");
  for (size_t i = 0; rc == 0 && i < o->n_admins; i++)
    if ((a->admins[a->n_admins++] = strdup(o->admins[i])) == NULL)
      rc = la_errf(err, LA_ENOMEM, "auth: out of memory");
  if (rc == 0 && o->tokens_file != NULL &&
      (a->tokens_file = strdup(o->tokens_file)) == NULL)
    rc = la_errf(err, LA_ENOMEM, "auth: out of memory");
  if (rc == 0) rc = load_own_token(a, o->state_dir, err);
  if (rc == 0 && a->tokens_file != NULL)
    rc = load_tokens(a->tokens_file, &a->tokens, &a->n_tokens, err);
  if (rc != 0) {
    la_auth_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

int la_auth_reload(la_auth *a, la_err *err) {
  token_ent *v = NULL;
  size_t n = 0;
  int rc;
  if (a->tokens_file == NULL) return 0;
  if ((rc = load_tokens(a->tokens_file, &v, &n, err)) != 0) return rc;
  free(a->tokens);
  a->tokens = v;
  a->n_tokens = n;
  return 0;
}

int la_auth_secret_equal(const char *a, size_t na, const char *b, size_t nb) {
  unsigned char d = 0;
  if (na != nb || na == 0) return 0;
  for (size_t i = 0; i < na; i++)
    d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

const char *la_auth_bearer(const char *header, size_t *len) {
  const char *t;
  size_t n;
  if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0) return NULL;
  t = header + 7 + strspn(header + 7, " ");
  n = strlen(t);
  while (n > 0 && t[n - 1] == ' ')
    n--;
  *len = n;
  return n > 0 ? t : NULL;
}

/* Does table entry e hold token t (n bytes)? */
static int token_equal(const token_ent *e, const char *t, size_t n) {
  return la_auth_secret_equal(e->token, e->len, t, n);
}

/* Is name an admin? */
static int is_admin(const la_auth *a, const char *name) {
  if (strcmp(name, a->self) == 0 || strcmp(name, "root") == 0) return 1;
  for (size_t i = 0; i < a->n_admins; i++)
    if (strcmp(a->admins[i], name) == 0) return 1;
  return 0;
}

int la_auth_identify(const la_auth *a, const la_http_request *req,
                     la_identity *id) {
  const token_ent *hit = NULL;
  const char *t;
  size_t n;
  memset(id, 0, sizeof *id);
  if (req->via_unix) {
    if (req->peer_uid < 0) return LA_EPERM;
    la_rights_user_of_uid(req->peer_uid, id->user, sizeof id->user);
    id->via = LA_VIA_SOCKET;
    id->admin = is_admin(a, id->user);
    return 0;
  }
  if ((t = la_auth_bearer(req->authorization, &n)) == NULL) return LA_EPERM;
  /* every entry is compared, so timing does not tell which matched */
  if (token_equal(&a->own, t, n)) hit = &a->own;
  for (size_t i = 0; i < a->n_tokens; i++)
    if (token_equal(&a->tokens[i], t, n) && hit == NULL) hit = &a->tokens[i];
  if (hit == NULL) return LA_EPERM;
  snprintf(id->user, sizeof id->user, "%s", hit->user);
  id->via = LA_VIA_TOKEN;
  id->admin = is_admin(a, id->user);
  return 0;
}

int la_auth_can_read(const la_auth *a, const la_identity *id,
                     const char *owner) {
  if (!a->read_own_only || id->admin) return 1;
  return owner != NULL && strcmp(owner, id->user) == 0;
}

int la_auth_can_change(const la_auth *a, const la_identity *id,
                       const char *owner) {
  (void)a;
  if (id->admin) return 1;
  return owner != NULL && strcmp(owner, id->user) == 0;
}

const char *la_auth_daemon_user(const la_auth *a) {
  return a->self;
}

const char *la_auth_token_path(const la_auth *a) {
  return a->token_path;
}

void la_auth_free(la_auth *a) {
  if (a == NULL) return;
  for (size_t i = 0; i < a->n_admins; i++)
    free(a->admins[i]);
  free(a->admins);
  free(a->tokens_file);
  free(a->tokens);
  free(a);
}
