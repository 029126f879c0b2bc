/*
 * serve_config.h: the configuration of `loralpha serve` (docs/daemon.md).
 *
 * Built in three layers: defaults, then a JSON config file (--config FILE;
 * unknown keys are errors), then command-line flags. Both are read from one
 * table of settings (serve_config.c) with one check per value, and the
 * errors name the flag or the config key ("config /etc/loralpha.json:
 * nice: expected an integer in 0..19, not 20").
 */
#ifndef LORALPHA_SERVE_CONFIG_H
#define LORALPHA_SERVE_CONFIG_H

#include "loralpha/common.h"
#include "loralpha/slurm_settings.h"
#include "loralpha/window.h"
#include "net/auth.h"

#include <limits.h>
#include <stdio.h>

/* Per-user limits; -1 means none. */
typedef struct la_user_limit {
  char user[LA_USER_MAX]; /* "" for the default */
  int max_workers;
  long max_queued_runs;
} la_user_limit;

typedef struct la_serve_config {
  char config_path[PATH_MAX]; /* "" : none */
  int check_only;             /* --check-config */
  char host[256];
  int port;
  int tcp_off; /* listen "none" */
  char socket[PATH_MAX];
  int socket_off;
  unsigned socket_mode;
  char socket_group[LA_USER_MAX]; /* "" : the daemon's group */
  long socket_gid;                /* resolved; -1 : unchanged */
  char state_dir[PATH_MAX];
  char db[PATH_MAX];
  char tokens_file[PATH_MAX]; /* "" : none */
  char **admins;
  size_t n_admins;
  int read_own_only;
  int max_workers, threads, nice;
  int cores;         /* cores the workers may use */
  int cores_allowed; /* cores in the daemon's CPU affinity */
  unsigned heartbeat_s;
  int max_same_failures; /* failed attempts in a row that stop a sweep */
  int worker_process;    /* worker_mode: 0 "warm", 1 "process" */
  long worker_max_runs;  /* runs a warm worker trains */
  unsigned long long worker_max_rss_growth; /* bytes, then it is retired */
  int worker_idle_s;   /* an idle warm worker is closed after */
  int pack_max;        /* most runs in one pack (1: no packs) */
  int pack_stacked;    /* pack_mode: 0 "exact", 1 "stacked" */
  int check_timeout_s; /* the worker's --check at submit (0: none) */
  long max_runs, max_body, request_timeout_s;
  long max_conns, max_unix_conns, max_per_peer, max_unauth, unauth_timeout_s;
  /* bytes one run may need (0 until derived: RAM / (2 x max_workers)); the
   * rows one run and one sweep may store (docs/daemon.md) */
  unsigned long long max_run_memory;
  long max_run_rows, max_sweep_rows;
  char worker[PATH_MAX];
  char web[PATH_MAX]; /* "" : no dashboard */
  char port_file[PATH_MAX];
  la_window window; /* the daemon's own hours */
  la_user_limit user_default;
  la_user_limit *user_limits;
  size_t n_user_limits;
  la_slurm_opts slurm; /* --executor and --slurm-* (docs/slurm.md) */
} la_serve_config;

/* Parses serve's argv (after "serve") into c. Returns 0, 1 when --help was
 * printed to stdout, or an LA_E code with err filled. */
int la_serve_config_parse(int argc, char **argv, la_serve_config *c,
                          la_err *err);

/* The defaults, the config file (--config) and the flags over it, every
 * key and value checked, but nothing derived from them or checked against
 * this machine (cores, workers, groups, paths in the state directory):
 * la_serve_config_parse before that. Returns 0, 1 when --help was printed,
 * or an LA_E code with err filled. */
int la_serve_config_read(int argc, char **argv, la_serve_config *c,
                         la_err *err);

/* Only the config file's layer over the defaults: every key and value
 * checked, nothing that depends on this machine (cores, groups, files). */
int la_serve_config_read_file(const char *path, la_serve_config *c,
                              la_err *err);

/* The checks --check-config makes beyond parsing: the worker is an
 * executable, the dashboard has an index.html, the state directory and the
 * database's directory can be written, the tokens file is valid. */
int la_serve_config_check(const la_serve_config *c, la_err *err);

/* Prints the effective configuration as JSON (the config file's keys). */
void la_serve_config_print(const la_serve_config *c, FILE *f);

/* The limits that apply to user. */
const la_user_limit *la_serve_config_limit(const la_serve_config *c,
                                           const char *user);

void la_serve_config_free(la_serve_config *c);

#endif
