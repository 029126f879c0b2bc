/* fairshare.c: which queued runs start next (fairshare.h). */
#include "sched/fairshare.h"

#include <stdio.h>
#include <stdlib.h>

/* A sweep in this choice: the store's view, its user, what was taken. */
typedef struct candidate {
  const la_share_sweep *s;
  int user, room, done;
  int64_t after; /* the last run id taken in this call */
} candidate;

/* A user in this choice. */
typedef struct user_load {
  const char *name;
  int running, cap; /* cap < 0: none */
  uint64_t last;    /* when last served (0: never) */
} user_load;

/* The next candidate to take a run from: that of the user with the fewest
 * running runs, then the one served least recently, then the user whose
 * sweep comes first; or -1. */
static int pick_candidate(const candidate *c, int nc, const user_load *users) {
  int best = -1;
  for (int i = 0; i < nc; i++) {
    const user_load *u = &users[c[i].user], *b;
    if (c[i].done || c[i].room <= 0 || (u->cap >= 0 && u->running >= u->cap))
      continue;
    if (best < 0) {
      best = i;
      continue;
    }
    b = &users[c[best].user];
    if (u->running < b->running ||
        (u->running == b->running && u->last < b->last))
      best = i;
  }
  return best;
}

/* The users of the store's view with their caps and last service, and the
 * candidates (sweeps another executor runs left out). */
static int prepare(const la_pick_opts *pick, const la_share_sweep *sweeps,
                   int ns, const la_share_user *su, int nsu, candidate *c,
                   user_load *users) {
  int nc = 0;
  for (int i = 0; i < nsu; i++) {
    users[i].name = su[i].name;
    users[i].running = su[i].running;
    users[i].cap =
        pick && pick->user_cap ? pick->user_cap(su[i].name, pick->ctx) : -1;
    users[i].last =
        pick && pick->user_last ? pick->user_last(su[i].name, pick->ctx) : 0;
  }
  for (int i = 0; i < ns; i++) {
    if (pick && pick->skip_sweep && pick->skip_sweep(sweeps[i].id, pick->ctx))
      continue;
    c[nc].s = &sweeps[i];
    c[nc].user = sweeps[i].owner;
    c[nc].room = sweeps[i].room;
    c[nc].done = 0;
    c[nc].after = 0;
    nc++;
  }
  return nc;
}

/* How many more runs of candidate c's sweep may start now (its room and
 * its user's cap; INT_MAX when neither limits). */
static int room_beside(const candidate *c, const user_load *u) {
  int room = c->room;
  if (u->cap >= 0 && u->cap - u->running < room) room = u->cap - u->running;
  return room > 0 ? room : 0;
}

int la_fairshare_next_runs(la_store *st, la_run_ticket *out, int max,
                           const la_pick_opts *pick, la_err *err) {
  la_share_sweep *sweeps = malloc(LA_SHARE_MAX * sizeof *sweeps);
  la_share_user *su = malloc(LA_SHARE_MAX * sizeof *su);
  candidate *c = malloc(LA_SHARE_MAX * sizeof *c);
  user_load *users = malloc(LA_SHARE_MAX * sizeof *users);
  int ns = 0, nsu = 0, nc = 0, n = 0, rc;
  uint64_t served = 0;
  if (sweeps == NULL || su == NULL || c == NULL || users == NULL) {
    rc = la_errf(err, LA_ENOMEM, "database: out of memory");
    goto out;
  }
  rc = la_store_share_load(st, pick ? pick->minute : -1, sweeps, &ns, su, &nsu,
                           err);
  if (rc == 0) nc = prepare(pick, sweeps, ns, su, nsu, c, users);
  while (rc == 0 && n < max) {
    int i = pick_candidate(c, nc, users), before = n;
    if (i < 0) break;
    rc = la_store_queued_runs(st, c[i].s->id, c[i].after, c[i].s->max_attempts,
                              1, out, &n, err);
    if (rc) break;
    if (n == before) {
      c[i].done = 1;
      continue;
    }
    snprintf(out[before].owner, sizeof out[before].owner, "%s",
             users[c[i].user].name);
    out[before].window = c[i].s->window;
    c[i].after = out[before].run_id;
    c[i].room--;
    users[c[i].user].running++;
    out[before].room = room_beside(&c[i], &users[c[i].user]);
    for (int u = 0; u < nsu; u++) /* later than anyone served before */
      served = users[u].last > served ? users[u].last : served;
    users[c[i].user].last = served + 1;
  }
out:
  free(sweeps);
  free(su);
  free(c);
  free(users);
  if (rc) {
    for (int i = 0; i < n; i++)
      la_run_ticket_clear(&out[i]);
    return rc;
  }
  return n;
}
