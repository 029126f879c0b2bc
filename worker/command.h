/*
 * command.h: the worker as the launcher of a command task's trainer
 * (include/loralpha/command.h, docs/sweeps.md "The command task").
 *
 * The daemon starts a command task's run exactly as a built-in run: the
 * worker, with --run-as OWNER for a root daemon (runas.h: the same drop of
 * root, checked) and --memory-limit, its config on stdin. Seeing the
 * command task, the worker does not train: it expands the command
 * (la_command_from_config), arranges the trainer's descriptors (records on
 * fd 3, which is the worker's stdout pipe; the trainer's stdout and stderr
 * both on the worker's stderr pipe, the run's log; the parameters on stdin
 * and on fd 4), its environment, directory and memory limit, and replaces
 * itself with the trainer (execve): the process the daemon watches, signals
 * and times is the trainer.
 */
#ifndef LORALPHA_WORKER_COMMAND_H
#define LORALPHA_WORKER_COMMAND_H

#include <jansson.h>

/* Where a Slurm job's worker POSTs the records (--report-url, remote.h). */
typedef struct la_cmd_report {
  const char *url, *token_file;
  double retry_s;
} la_cmd_report;

/* Runs the command task of config (borrowed; a command task's run config).
 * check: only checks, as the run's user, that the working directory and
 * the program are usable, and returns. daemon_limit: the worker's
 * --memory-limit (0: none), the cap when the spec gives no memory_limit.
 * report NULL: the worker becomes the trainer (execve; it returns only on
 * failure). report given (a Slurm job's worker): the trainer runs as a
 * child in its own process group, its records are read from a pipe on
 * its fd 3 and POSTed (its done record held back to the end), its stdout
 * and stderr from another pipe, kept bounded (loralpha/logbound.h) and
 * copied to the worker's stderr (the job's log); the worker kills the
 * group at the time limit, on SIGTERM (after LA_CMD_GRACE_MS) and when
 * the trainer exits, then POSTs the kept log (la_remote_send_log), then
 * the done record, or an error record for a failed trainer, and exits
 * with the trainer's code.
 * Returns an exit code after writing an error record on stderr. */
int la_worker_command(const json_t *config, int check,
                      unsigned long long daemon_limit,
                      const la_cmd_report *report);

#endif
