/*
 * command.h: the local executor's part of a command task's run
 * (include/loralpha/command.h; docs/sweeps.md "The command task").
 *
 * A command task's run is started as any run (sched.c): the worker with
 * its config on stdin, which then becomes the user's trainer (worker/
 * command.c). What differs is kept here: the trainer runs in its own
 * process group (the daemon starts it as a session leader), so every
 * signal goes to the whole group; a stop is SIGTERM, then SIGKILL after
 * LA_CMD_GRACE_MS; the run has a time limit; when the trainer has exited,
 * what is left of its group is killed, and pipes a runaway descendant
 * still holds are given up after LA_CMD_LINGER_MS; its records are
 * counted against the spec's limit; its log (the trainer's stdout and
 * stderr) is kept, bounded (loralpha/logbound.h: the first LA_LOG_HEAD
 * and the last LA_LOG_TAIL bytes).
 */
#ifndef LORALPHA_SCHED_COMMAND_H
#define LORALPHA_SCHED_COMMAND_H

#include "loralpha/command.h"
#include "loralpha/common.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct la_cmd la_cmd;

/* What the scheduler does when the run passes its time limit (stop it and
 * fail the attempt), and when the trainer has exited but its pipes stay
 * open past LA_CMD_LINGER_MS (stop reading them). ctx: the scheduler's. */
typedef struct la_cmd_hooks {
  void (*time_limit)(void *ctx);
  void (*linger)(void *ctx);
} la_cmd_hooks;

/* The command part of a run whose config (JSON text) is config: *out a
 * new la_cmd, or NULL when the run is not a command task's. 0, or
 * LA_ENOMEM. hooks is copied. */
int la_cmd_new(uv_loop_t *loop, const char *config, const la_cmd_hooks *hooks,
               void *ctx, la_cmd **out);

/* The trainer started as process pid (its group's id): its time limit
 * runs from now. */
void la_cmd_started(la_cmd *c, int pid);

/* Signals the trainer's whole group; after SIGTERM, SIGKILL follows
 * LA_CMD_GRACE_MS later unless the group is gone. */
void la_cmd_signal(la_cmd *c, int sig);

/* The trainer has exited: the rest of its group is killed, and the
 * linger hook is called LA_CMD_LINGER_MS later (unless c is freed first),
 * to stop reading pipes a runaway descendant still holds. */
void la_cmd_exited(la_cmd *c);

/* Counts one record: 1 when it passes the run's record limit, else 0. */
int la_cmd_count_record(la_cmd *c);

/* The time limit in seconds, and the record limit (0: none). */
int64_t la_cmd_time_limit(const la_cmd *c);
int64_t la_cmd_max_records(const la_cmd *c);

/* Keeps n bytes of the trainer's log; how many it was given in all. */
void la_cmd_log(la_cmd *c, const char *p, size_t n);
uint64_t la_cmd_log_bytes(const la_cmd *c);

/* The kept log as text (la_logbound_text): its head, a line saying how
 * many bytes were left out (if any), its tail, as valid UTF-8. A new
 * string (free) or NULL when there is none or memory ran out. */
char *la_cmd_log_text(const la_cmd *c);

/* Releases c (NULL is fine) once its timer has closed. */
void la_cmd_free(la_cmd *c);

#endif
