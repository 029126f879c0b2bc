/*
 * proc.h: processes known by an identity that survives PID reuse, and
 * ending the local workers a killed daemon left behind.
 *
 * A PID alone may name another process once the first has exited; a PID
 * with its start time (field 22 of /proc/PID/stat, clock ticks after boot)
 * and the boot's id (/proc/sys/kernel/random/boot_id) names one process
 * only. The daemon records this identity for every local worker it spawns
 * (store.h, la_store_note_worker) and, at its next start, ends the recorded
 * processes that still have it (la_proc_end_leftovers) before it requeues
 * their runs. A worker also dies with the daemon by itself
 * (PR_SET_PDEATHSIG, worker/main.c): this is the second guard, for a worker
 * that outlived it anyway.
 */
#ifndef LORALPHA_PROC_H
#define LORALPHA_PROC_H

#include "loralpha/common.h"

#include <stdint.h>
#include <stdio.h>

#define LA_BOOT_ID_MAX 40 /* a boot id (36 characters) and its NUL */

/* Who a process is: its PID, its start time and the boot it started in. */
typedef struct la_proc_id {
  int pid;
  uint64_t start_ticks;         /* /proc/PID/stat field 22 */
  char boot_id[LA_BOOT_ID_MAX]; /* this boot's id */
} la_proc_id;

/* This boot's id into buf. 0, or LA_EIO (err filled). */
int la_proc_boot_id(char buf[LA_BOOT_ID_MAX], la_err *err);

/* The identity of the live process pid (its boot id from boot_id) into
 * out. 0; LA_ENOTFOUND when there is no such process (pid 0 and 1 are none
 * for this) or it is a zombie; LA_EIO (err filled) when /proc cannot be
 * read. */
int la_proc_identify(int pid, const char *boot_id, la_proc_id *out,
                     la_err *err);

/* A worker process a previous daemon recorded, and the run it trained. */
typedef struct la_leftover {
  int64_t run_id;
  la_proc_id id;
} la_leftover;

/* Ends each process of w[0..n) that still has its identity: SIGTERM, then
 * SIGKILL to those not gone within term_ms, then up to kill_ms more for
 * them to go. Never signals a process whose start time or boot differs (a
 * reused PID). Writes a line to log for each one it signals or cannot
 * signal (EPERM: another user's process, for a daemon that is not root).
 * Returns how many were ended. Blocks at most term_ms + kill_ms, and not
 * at all when none of them is alive. */
int la_proc_end_leftovers(const la_leftover *w, size_t n, unsigned term_ms,
                          unsigned kill_ms, FILE *log);

#endif
