/* pool.c: the idle warm workers (see pool.h).
 *
 * The idle workers are a small array in the order they became idle (the
 * oldest first): at most max_workers of them exist, so a linear search is
 * the fastest structure there is. */
#include "sched/pool.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One idle worker. */
typedef struct idle {
  void *worker;            /* the executor's (borrowed) */
  char owner[LA_USER_MAX]; /* whose runs it may serve */
  uint64_t since;          /* ms: when it became idle */
} idle;

struct la_pool {
  la_pool_opts opts;
  idle *v; /* (n) oldest first */
  size_t n, cap;
};

la_pool *la_pool_new(const la_pool_opts *opts) {
  la_pool *p = calloc(1, sizeof *p);
  if (p != NULL) p->opts = *opts;
  return p;
}

void la_pool_free(la_pool *p) {
  if (p == NULL) return;
  free(p->v);
  free(p);
}

int la_pool_put(la_pool *p, void *worker, const char *owner, uint64_t now) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 8;
    idle *v = realloc(p->v, cap * sizeof *v);
    if (v == NULL) return LA_ENOMEM;
    p->v = v, p->cap = cap;
  }
  p->v[p->n].worker = worker;
  snprintf(p->v[p->n].owner, sizeof p->v[p->n].owner, "%s", owner);
  p->v[p->n].since = now;
  p->n++;
  return 0;
}

/* Takes entry i out, keeping the order; its worker. */
static void *take_at(la_pool *p, size_t i) {
  void *w = p->v[i].worker;
  memmove(&p->v[i], &p->v[i + 1], (p->n - i - 1) * sizeof *p->v);
  p->n--;
  return w;
}

void *la_pool_take(la_pool *p, const char *owner) {
  for (size_t i = p->n; i-- > 0;) /* the newest: its caches are warmest */
    if (strcmp(p->v[i].owner, owner) == 0) return take_at(p, i);
  return NULL;
}

void *la_pool_take_oldest(la_pool *p) {
  return p->n > 0 ? take_at(p, 0) : NULL;
}

void *la_pool_take_expired(la_pool *p, uint64_t now) {
  if (p->n == 0 || now - p->v[0].since < p->opts.idle_ms) return NULL;
  return take_at(p, 0);
}

int la_pool_remove(la_pool *p, void *worker) {
  if (p == NULL) return 0;
  for (size_t i = 0; i < p->n; i++)
    if (p->v[i].worker == worker) {
      take_at(p, i);
      return 1;
    }
  return 0;
}

size_t la_pool_idle(const la_pool *p) {
  return p->n;
}

unsigned long long la_pool_rss(int pid) {
  char path[64], buf[128];
  unsigned long long size, resident;
  ssize_t n;
  int fd;
  snprintf(path, sizeof path, "/proc/%d/statm", pid);
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) return 0;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  if (sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return resident * (unsigned long long)sysconf(_SC_PAGESIZE);
}

const char *la_pool_worn(const la_pool *p, long runs,
                         unsigned long long rss_base,
                         unsigned long long rss_now) {
  if (runs >= p->opts.max_runs) return "worker_max_runs";
  if (rss_base > 0 && rss_now > rss_base &&
      rss_now - rss_base > p->opts.max_rss_grow)
    return "worker_max_rss_growth";
  return NULL;
}
