/*
 * cli_slurm.h: `loralpha export-slurm` and `loralpha import` (docs/slurm.md,
 * docs/cli.md): a sweep as a standalone sbatch array, for sites where a
 * long-running daemon is not allowed, and its results back into a
 * database. Neither talks to a daemon.
 */
#ifndef LORALPHA_CLI_SLURM_H
#define LORALPHA_CLI_SLURM_H

/* Is argv[1] one of these commands? */
int la_cli_slurm_is(int argc, char **argv);

/* Runs the command; returns an LA_CLI_* exit code (cli.h). */
int la_cli_slurm_main(int argc, char **argv);

#endif
