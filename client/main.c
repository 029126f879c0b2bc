/*
 * main.c: the loralpha command. `loralpha serve` runs the sweep daemon
 * (daemon/serve.c); every other command is the client's: export-slurm and
 * import (cli_slurm.c), the rest (cli.c, docs/cli.md).
 */
#include "cli.h"
#include "cli_slurm.h"
#include "loralpha/serve.h"

#include <string.h>

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "serve") == 0)
    return la_serve_main(argc - 2, argv + 2);
  if (la_cli_slurm_is(argc, argv)) return la_cli_slurm_main(argc, argv);
  return la_cli_main(argc, argv);
}
