/*
 * test_pool.c: the pool of idle warm workers (daemon/sched/pool.h): a
 * worker is only ever taken for its own owner, the newest of an owner's
 * first; the oldest makes room; idle ones expire in the order they became
 * idle and only after idle_ms; one that exited leaves; the wear rules
 * (runs, RSS growth) at and past their limits; the RSS of this process.
 */
#include "check.h"
#include "sched/pool.h"

#include <stdlib.h>
#include <unistd.h>

/* Owners' take: never another owner's worker, the newest of its own. */
static void test_owners(void) {
  la_pool_opts o = {10, 1u << 20, 1000};
  la_pool *p = la_pool_new(&o);
  int a1, a2, b1;
  CHECK(p != NULL);
  CHECK_EQ_INT(la_pool_put(p, &a1, "alice", 100), 0);
  CHECK_EQ_INT(la_pool_put(p, &b1, "bob", 200), 0);
  CHECK_EQ_INT(la_pool_put(p, &a2, "alice", 300), 0);
  CHECK_EQ_INT(la_pool_idle(p), 3);
  CHECK(la_pool_take(p, "carol") == NULL);
  CHECK(la_pool_take(p, "alic") == NULL); /* whole names only */
  CHECK(la_pool_take(p, "alice") == &a2);
  CHECK(la_pool_take(p, "alice") == &a1);
  CHECK(la_pool_take(p, "alice") == NULL);
  CHECK(la_pool_take(p, "bob") == &b1);
  CHECK_EQ_INT(la_pool_idle(p), 0);
  la_pool_free(p);
}

/* The oldest makes room; expiry after idle_ms, oldest first; remove. */
static void test_oldest_expiry_remove(void) {
  la_pool_opts o = {10, 1u << 20, 1000};
  la_pool *p = la_pool_new(&o);
  int w[20];
  for (int i = 0; i < 20; i++) /* past the first allocation */
    CHECK_EQ_INT(la_pool_put(p, &w[i], i % 2 ? "bob" : "alice", 100u * i), 0);
  CHECK(la_pool_take_oldest(p) == &w[0]);
  CHECK(la_pool_take_expired(p, 1099) == NULL); /* w[1] idle 999 ms */
  CHECK(la_pool_take_expired(p, 1100) == &w[1]);
  CHECK(la_pool_take_expired(p, 1300) == &w[2]);
  CHECK(la_pool_take_expired(p, 1300) == &w[3]);
  CHECK(la_pool_take_expired(p, 1300) == NULL);
  CHECK_EQ_INT(la_pool_remove(p, &w[10]), 1);
  CHECK_EQ_INT(la_pool_remove(p, &w[10]), 0);
  CHECK_EQ_INT(la_pool_remove(NULL, &w[10]), 0);
  CHECK_EQ_INT(la_pool_idle(p), 15);
  CHECK(la_pool_take(p, "alice") == &w[18]);
  CHECK(la_pool_take_oldest(p) == &w[4]);
  la_pool_free(p);
}

/* Worn out at max_runs, or past max_rss_grow bytes over the base. */
static void test_worn(void) {
  la_pool_opts o = {3, 1000, 1000};
  la_pool *p = la_pool_new(&o);
  CHECK(la_pool_worn(p, 2, 5000, 6000) == NULL); /* grew exactly the limit */
  CHECK(la_pool_worn(p, 3, 5000, 5000) != NULL);
  CHECK(la_pool_worn(p, 2, 5000, 6001) != NULL);
  CHECK(la_pool_worn(p, 2, 5000, 100) == NULL);   /* shrank */
  CHECK(la_pool_worn(p, 2, 0, 1u << 30) == NULL); /* no base: unknown */
  la_pool_free(p);
}

/* This process's RSS is read, in bytes; a PID that does not exist is 0. */
static void test_rss(void) {
  unsigned long long rss = la_pool_rss((int)getpid());
  CHECK(rss > 100000ull && rss < (4ull << 30));
  CHECK_EQ_INT(la_pool_rss(0), 0);
  CHECK_EQ_INT(la_pool_rss(-5), 0);
}

int main(void) {
  test_owners();
  test_oldest_expiry_remove();
  test_worn();
  test_rss();
  return check_summary();
}
