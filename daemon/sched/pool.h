/*
 * pool.h: the idle warm workers of the local executor (worker_mode "warm",
 * docs/daemon.md "Warm workers").
 *
 * A warm worker is one `loralpha-worker --serve` process that trains many
 * runs, one request line at a time (docs/worker.md "Serving many runs").
 * Between runs it waits here, idle, filed under its owner: the next run of
 * the same owner takes it (never another owner's run: a worker runs with
 * its owner's rights). The pool decides when a worker is worn out (it has
 * served max_runs runs, or its resident memory grew more than
 * max_rss_growth bytes over what it held after its first run) and when an
 * idle one has waited long enough (idle_ms): the executor then closes its
 * stdin, and the worker exits at the end of its input.
 *
 * The pool only keeps the bookkeeping: the executor owns the workers
 * (opaque pointers here) and their processes. Pure code: no libuv.
 */
#ifndef LORALPHA_POOL_H
#define LORALPHA_POOL_H

#include "loralpha/common.h"
#include "loralpha/rights.h"

#include <stddef.h>
#include <stdint.h>

typedef struct la_pool_opts {
  long max_runs;                   /* runs a worker serves, then retired */
  unsigned long long max_rss_grow; /* bytes of RSS growth, then retired */
  uint64_t idle_ms;                /* idle this long: closed */
} la_pool_opts;

typedef struct la_pool la_pool;

/* A new, empty pool (opts copied). NULL when out of memory. */
la_pool *la_pool_new(const la_pool_opts *opts);

/* Frees the pool; its workers are the caller's (take them first). */
void la_pool_free(la_pool *p);

/* Files worker (borrowed) as idle under owner since now (ms). 0, or
 * LA_ENOMEM (then the caller closes the worker). */
int la_pool_put(la_pool *p, void *worker, const char *owner, uint64_t now);

/* The idle worker of owner that waited least, taken out of the pool; NULL
 * when owner has none. */
void *la_pool_take(la_pool *p, const char *owner);

/* The idle worker that waited longest, of any owner, taken out of the
 * pool (to make room for another owner's worker); NULL when none. */
void *la_pool_take_oldest(la_pool *p);

/* An idle worker idle since before now - idle_ms, taken out of the pool;
 * NULL when none is. Call until NULL. */
void *la_pool_take_expired(la_pool *p, uint64_t now);

/* Takes worker out of the pool if it is there (it exited while idle). 1
 * when it was there, 0 when not (or p is NULL: no pool). */
int la_pool_remove(la_pool *p, void *worker);

/* Idle workers now. */
size_t la_pool_idle(const la_pool *p);

/* The resident set of process pid in bytes (/proc/PID/statm), or 0 when
 * it cannot be read. */
unsigned long long la_pool_rss(int pid);

/* Why a worker that has served runs runs, held rss_base bytes after its
 * first run and holds rss_now bytes now is retired, as a static string,
 * or NULL when it may serve on. */
const char *la_pool_worn(const la_pool *p, long runs,
                         unsigned long long rss_base,
                         unsigned long long rss_now);

#endif
