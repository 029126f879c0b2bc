/*
 * serve.h: `loralpha serve`, the sweep daemon (daemon/serve.c,
 * docs/daemon.md). The loralpha command (client/main.c) hands it its
 * arguments after "serve".
 */
#ifndef LORALPHA_SERVE_H
#define LORALPHA_SERVE_H

/* Runs the daemon until it is stopped (SIGTERM, SIGINT) and drained.
 * argv holds the options only. Returns the process's exit status: 0, 1 (a
 * failure at start), 2 (usage: a bad option or config) or 3 (the database
 * is refused: empty, damaged or newer). */
int la_serve_main(int argc, char **argv);

#endif
