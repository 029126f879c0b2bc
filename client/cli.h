/*
 * cli.h: the loralpha command-line client, `loralpha <command> [options]`:
 * a libcurl client of the daemon's HTTP/JSON API (docs/api.md). Commands,
 * options and output are described in docs/cli.md.
 */
#ifndef LORALPHA_CLI_H
#define LORALPHA_CLI_H

/* Exit codes of la_cli_main. Scripts may rely on them. */
enum {
  LA_CLI_OK = 0,          /* the command did what was asked */
  LA_CLI_FAILED = 1,      /* the daemon said no (a 4xx/5xx answer: its
                             message is printed), its answer was unusable,
                             or `wait` saw the sweep end cancelled or with
                             failed runs */
  LA_CLI_USAGE = 2,       /* a bad command line: a one-line hint is
                             printed; nothing was sent to the daemon */
  LA_CLI_UNREACHABLE = 3, /* the daemon cannot be reached, or it did not
                             answer in time (the message says what to do) */
  LA_CLI_TIMEOUT = 4,     /* `wait --timeout` expired with the sweep still
                             active */
  LA_CLI_LOCAL = 5,       /* a local file or the output could not be
                             written (report --output, export-slurm --dir,
                             import --db, stdout): the message names it */
};

/* Runs one client command. argv[0] is the program name and argv[1] the
 * command (any but `serve`, which the daemon handles); the global options
 * --url, --json and --help may come before or after the command. Prints
 * results on stdout and messages on stderr; returns an LA_CLI_* code. */
int la_cli_main(int argc, char **argv);

#endif
