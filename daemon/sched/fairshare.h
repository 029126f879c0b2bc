/*
 * fairshare.h: which queued runs start next (docs/daemon.md, "Sharing").
 *
 * Among the active sweeps that are not paused, are inside their window and
 * have room under max_parallel, each next run goes to the user with the
 * fewest running runs (under the user's cap; among equals, the one served
 * least recently), and within a user to the sweep of highest priority, then
 * the oldest; within a sweep, runs start in id order. The store gives the
 * queue and the running counts (la_store_share_load); the choice is here.
 */
#ifndef LORALPHA_FAIRSHARE_H
#define LORALPHA_FAIRSHARE_H

#include "loralpha/store.h"

#include <stdint.h>

/* How la_fairshare_next_runs chooses among sweeps. */
typedef struct la_pick_opts {
  int minute; /* local minute of the day, for sweep windows; -1: ignore */
  /* most runs user may have running at once (< 0: no limit), or NULL */
  int (*user_cap)(const char *user, void *ctx);
  /* when user last had a run started (larger: more recently; 0: never),
   * to break ties between users round robin; or NULL */
  uint64_t (*user_last)(const char *user, void *ctx);
  /* 1 for a sweep whose runs are started elsewhere (another executor), or
   * NULL */
  int (*skip_sweep)(int64_t sweep_id, void *ctx);
  void *ctx;
} la_pick_opts;

/* Up to max tickets of queued runs, chosen fairly (above). Running counts
 * come from the database (the caller commits each start before asking
 * again). pick may be NULL (no windows, no caps). Returns the number
 * filled, or a negative LA_E code with err filled (no tickets then). */
int la_fairshare_next_runs(la_store *st, la_run_ticket *out, int max,
                           const la_pick_opts *pick, la_err *err);

#endif
