/* paths.c: the default state directory and its private files (see
 * paths.h). */
#include "loralpha/paths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Is s set and non-empty? */
static int set(const char *s) {
  return s != NULL && s[0] != '\0';
}

int la_paths_state_dir(char *buf, size_t size) {
  const char *v = getenv("LORALPHA_STATE_DIR");
  int n;
  if (set(v))
    n = snprintf(buf, size, "%s", v);
  else if (set(v = getenv("XDG_STATE_HOME")))
    n = snprintf(buf, size, "%s/loralpha", v);
  else if (set(v = getenv("HOME")))
    n = snprintf(buf, size, "%s/.local/state/loralpha", v);
  else
    return LA_EINVAL;
  return n > 0 && (size_t)n < size ? 0 : LA_EINVAL;
}

int la_paths_join(char *buf, size_t size, const char *dir, const char *name) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  return n > 0 && (size_t)n < size ? 0 : LA_EINVAL;
}

int la_paths_mkdir(const char *dir) {
  char buf[PATH_MAX];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof buf) return errno = ENAMETOOLONG, LA_EIO;
  memcpy(buf, dir, n + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return LA_EIO;
    *p = '/';
  }
  return mkdir(buf, 0755) != 0 && errno != EEXIST ? LA_EIO : 0;
}

/* Creates dir's missing parents (mode 0755); 0, or LA_EIO with errno. */
static int make_parents(const char *dir) {
  char buf[PATH_MAX];
  char *slash;
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof buf) return errno = ENAMETOOLONG, LA_EIO;
  memcpy(buf, dir, n + 1);
  while (n > 1 && buf[n - 1] == '/')
    buf[--n] = 0;
  if ((slash = strrchr(buf, '/')) == NULL || slash == buf) return 0;
  *slash = 0;
  return la_paths_mkdir(buf);
}

int la_paths_private_dir(const char *dir, unsigned mode, unsigned *was) {
  struct stat st;
  int fd, rc = 0;
  if (make_parents(dir) != 0) return LA_EIO;
  if (mkdir(dir, 0700) == 0) /* then widened to mode, never past it */
    return chmod(dir, (mode_t)mode) == 0 ? 0 : LA_EIO;
  if (errno != EEXIST) return LA_EIO;
  if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) return LA_EIO;
  if (fstat(fd, &st) != 0)
    rc = LA_EIO;
  else if (st.st_uid != geteuid())
    rc = LA_EIO, errno = EPERM;
  else if ((st.st_mode & 05777) != mode) { /* a setgid bit stays */
    *was = (unsigned)(st.st_mode & 07777);
    rc = fchmod(fd, (mode_t)mode | (st.st_mode & S_ISGID)) == 0 ? 1 : LA_EIO;
  }
  close(fd);
  return rc;
}

int la_paths_private_file(const char *path, int follow, unsigned *was) {
  struct stat st;
  int rc = 0;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
                          (follow ? 0 : O_NOFOLLOW));
  if (fd < 0) return errno == ENOENT ? 0 : LA_EIO;
  if (fstat(fd, &st) != 0)
    rc = LA_EIO;
  else if (!S_ISREG(st.st_mode))
    rc = LA_EIO, errno = EINVAL;
  else if ((st.st_mode & 0077) && st.st_uid != geteuid())
    rc = LA_EIO, errno = EPERM;
  else if (st.st_mode & 0077) {
    *was = (unsigned)(st.st_mode & 07777);
    rc = fchmod(fd, st.st_mode & 0700) == 0 ? 1 : LA_EIO;
  }
  close(fd);
  return rc;
}

int la_paths_write_file(const char *path, const char *text, unsigned mode) {
  char tmp[PATH_MAX];
  unsigned char r[8];
  size_t n = strlen(text), off = 0;
  int fd, err;
  errno = 0;
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) return LA_EIO;
  if (snprintf(tmp, sizeof tmp, "%s.%02x%02x%02x%02x%02x%02x%02x%02x", path,
               r[0], r[1], r[2], r[3], r[4], r[5], r[6],
               r[7]) >= (int)sizeof tmp)
    return errno = ENAMETOOLONG, LA_EIO;
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return LA_EIO;
  while (off < n) {
    ssize_t w = write(fd, text + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  if (off < n)
    err = errno ? errno : EIO;
  else if (fchmod(fd, (mode_t)mode) != 0)
    err = errno;
  else
    err = 0;
  if (close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && rename(tmp, path) == 0) return 0;
  if (err == 0) err = errno;
  unlink(tmp);
  return errno = err, LA_EIO;
}

int la_paths_exe_dir(char *buf, size_t size) {
  ssize_t n = readlink("/proc/self/exe", buf, size - 1);
  char *slash;
  if (n <= 0) return LA_EIO;
  buf[n] = 0;
  if ((slash = strrchr(buf, '/')) == NULL) return LA_EIO;
  *slash = 0;
  return 0;
}
