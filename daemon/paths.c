/* paths.c: the default state directory (see paths.h). */
#include "loralpha/paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    return -1;
  return n > 0 && (size_t)n < size ? 0 : -1;
}

int la_paths_join(char *buf, size_t size, const char *dir, const char *name) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  return n > 0 && (size_t)n < size ? 0 : -1;
}

int la_paths_mkdir(const char *dir) {
  char buf[PATH_MAX];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof buf) return errno = ENAMETOOLONG, -1;
  memcpy(buf, dir, n + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int la_paths_exe_dir(char *buf, size_t size) {
  ssize_t n = readlink("/proc/self/exe", buf, size - 1);
  char *slash;
  if (n <= 0) return -1;
  buf[n] = 0;
  if ((slash = strrchr(buf, '/')) == NULL) return -1;
  *slash = 0;
  return 0;
}
