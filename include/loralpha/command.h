/*
 * command.h: the command task, a user's own trainer run per run
 * (docs/sweeps.md "The command task", docs/protocol.md "Your own trainer").
 *
 * A spec's task {"task": "command", "command": {...}, "params": {...}}
 * names a program by its absolute path and an argv template whose
 * placeholders ({rank}, {alpha}, {lr}, {seed}, {steps}, {batch},
 * {scaling}, {run_id} and the keys of task.params) are filled per run; a
 * working directory, an environment (its values templates too), a time
 * limit and a memory limit. la_command_check_spec validates it when a sweep
 * is submitted; la_command_from_config expands one run's config into the
 * program's argv and environment, when the run starts (the worker does it,
 * after giving up root: worker/command.c). Both use the same expansion, so
 * a spec that is accepted never names a placeholder a run cannot fill.
 *
 * The trainer gets the run's parameters (la_command_params) as JSON on its
 * stdin and in the file named by LORALPHA_PARAMS_FILE, and writes its
 * records (docs/protocol.md) on file descriptor 3 (LORALPHA_RECORD_FD).
 */
#ifndef LORALPHA_COMMAND_H
#define LORALPHA_COMMAND_H

#include "loralpha/common.h"

#include <jansson.h>
#include <stdint.h>

#define LA_CMD_MAX_ARGS 256             /* entries of argv */
#define LA_CMD_MAX_TEXT 4096            /* bytes of one argument or value */
#define LA_CMD_MAX_ENV 64               /* variables of env */
#define LA_CMD_MAX_PARAMS 64            /* keys of task.params */
#define LA_CMD_TIME_LIMIT 86400         /* the default time limit, seconds */
#define LA_CMD_MAX_TIME_LIMIT 2592000   /* 30 days */
#define LA_CMD_MIN_MEMORY (16ull << 20) /* the smallest memory limit */
#define LA_CMD_RECORD_FD 3              /* where the trainer writes records */
#define LA_CMD_PARAMS_FD 4              /* the parameters file's descriptor */
#define LA_CMD_GRACE_MS 5000            /* a stop: SIGTERM to SIGKILL */
#define LA_CMD_LINGER_MS 2000 /* pipes read on after the trainer exits */

/* Is config (a run's config or a spec's task object; borrowed, may be
 * NULL) a command task's? 1 or 0. */
int la_command_is(const json_t *config);

/* Validates the command task object task (borrowed; its "task" is
 * "command") of a spec: its fields, the command's argv, cwd, env,
 * time_limit and memory_limit (at most max_memory bytes; 0: any), and
 * every placeholder. On success *out is a new object, the task as it is
 * stored (time_limit filled in, memory_limit in bytes). On failure
 * LA_EINVAL (or LA_ENOMEM) with "task.<field>: <problem>" in err. */
int la_command_check_spec(const json_t *task, uint64_t max_memory, json_t **out,
                          la_err *err);

/* One run's command, expanded. */
typedef struct la_command {
  char **argv;           /* (NULL-terminated) owned: the program and args */
  char **env;            /* (NULL-terminated) owned: "NAME=value" */
  char *cwd;             /* owned, or NULL: the user's home directory */
  int64_t time_limit;    /* seconds */
  uint64_t memory_limit; /* bytes; 0: none given */
  int64_t max_records;   /* records the run may write; 0: no limit */
} la_command;

/* Expands a run's config (borrowed; its fields as la_spec_run_config and
 * the daemon give them, with run_id) into c. 0, or LA_EINVAL (a field the
 * spec check did not see: a config edited by hand) or LA_ENOMEM with
 * "command.<field>: <problem>" in err; c is cleared then. */
int la_command_from_config(const json_t *config, la_command *c, la_err *err);

void la_command_clear(la_command *c);

/* The parameters a trainer is given (docs/protocol.md): a new object with
 * the run's run_id, rank, alpha, lr, seed, steps, batch, scaling, threads
 * and params, from config (borrowed), or NULL when out of memory. */
json_t *la_command_params(const json_t *config);

#endif
