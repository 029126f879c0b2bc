/* command.c: a command task's run in the local executor (command.h).
 *
 * One timer serves the run's three deadlines in turn: its time limit while
 * the trainer runs, the grace between SIGTERM and SIGKILL, and the linger
 * after the trainer exited. Signals go to the group (kill(-pid)): the
 * trainer is a session leader, so its group's id is its pid, which the
 * kernel gives to no other process while the group has a member. */
#include "sched/command.h"

#include "loralpha/command.h"
#include "loralpha/logbound.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_IDLE, T_LIMIT, T_GRACE, T_LINGER } timer_state;

struct la_cmd {
  uv_timer_t timer;
  timer_state state;
  la_cmd_hooks hooks;
  void *ctx;
  int pid;             /* the trainer's, its group's id; 0: not started */
  int exited;          /* the trainer has exited */
  int64_t time_limit;  /* seconds */
  int64_t max_records; /* 0: no limit */
  int64_t records;     /* records counted */
  la_logbound log;     /* the trainer's stdout and stderr, bounded */
};

static void on_timer(uv_timer_t *t) {
  la_cmd *c = t->data;
  timer_state was = c->state;
  c->state = T_IDLE;
  if (was == T_LIMIT && !c->exited) {
    c->hooks.time_limit(c->ctx);
  } else if (was == T_GRACE && c->pid > 0) {
    kill(-c->pid, SIGKILL); /* ESRCH: the group is gone already */
  } else if (was == T_LINGER) {
    c->hooks.linger(c->ctx);
  }
}

/* Runs the timer for ms in state st. */
static void arm(la_cmd *c, timer_state st, uint64_t ms) {
  c->state = st;
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

int la_cmd_new(uv_loop_t *loop, const char *config, const la_cmd_hooks *hooks,
               void *ctx, la_cmd **out) {
  json_t *cfg, *cmd;
  la_cmd *c;
  *out = NULL;
  if (strstr(config, "\"command\"") == NULL) return 0; /* the usual case */
  cfg = json_loads(config, 0, NULL);
  if (!la_command_is(cfg)) {
    json_decref(cfg);
    return 0;
  }
  if ((c = calloc(1, sizeof *c)) == NULL) {
    json_decref(cfg);
    return LA_ENOMEM;
  }
  cmd = json_object_get(cfg, "command");
  c->time_limit = json_integer_value(json_object_get(cmd, "time_limit"));
  if (c->time_limit <= 0) c->time_limit = LA_CMD_TIME_LIMIT;
  c->max_records = json_integer_value(json_object_get(cfg, "max_records"));
  json_decref(cfg);
  c->hooks = *hooks;
  c->ctx = ctx;
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  *out = c;
  return 0;
}

void la_cmd_started(la_cmd *c, int pid) {
  c->pid = pid;
  arm(c, T_LIMIT, (uint64_t)c->time_limit * 1000u);
}

void la_cmd_signal(la_cmd *c, int sig) {
  if (c->pid <= 0) return;
  kill(-c->pid, sig);
  if (sig == SIGTERM && c->state != T_GRACE) arm(c, T_GRACE, LA_CMD_GRACE_MS);
}

void la_cmd_exited(la_cmd *c) {
  c->exited = 1;
  if (c->pid > 0) kill(-c->pid, SIGKILL); /* what is left of its group */
  arm(c, T_LINGER, LA_CMD_LINGER_MS);
}

int la_cmd_count_record(la_cmd *c) {
  return ++c->records > c->max_records && c->max_records > 0;
}

int64_t la_cmd_time_limit(const la_cmd *c) {
  return c->time_limit;
}

uint64_t la_cmd_log_bytes(const la_cmd *c) {
  return c->log.bytes;
}

int64_t la_cmd_max_records(const la_cmd *c) {
  return c->max_records;
}

void la_cmd_log(la_cmd *c, const char *p, size_t n) {
  la_logbound_add(&c->log, p, n);
}

char *la_cmd_log_text(const la_cmd *c) {
  return la_logbound_text(&c->log);
}

static void on_closed(uv_handle_t *h) {
  free(h->data);
}

void la_cmd_free(la_cmd *c) {
  if (c == NULL) return;
  uv_close((uv_handle_t *)&c->timer, on_closed);
}
