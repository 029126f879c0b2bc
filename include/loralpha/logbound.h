/*
 * logbound.h: a log kept bounded (docs/sweeps.md "The command task").
 *
 * A command task's trainer may write any amount to its stdout and stderr;
 * what is kept of it as the run's log is its first LA_LOG_HEAD bytes and
 * its last LA_LOG_TAIL bytes, in a fixed amount of memory, however much
 * comes. The daemon keeps a local trainer's log this way (daemon/sched/
 * command.c), and a Slurm job's worker keeps its trainer's the same way
 * before it sends it to the daemon (worker/command.c, POST
 * /v1/ingest/{run}/log), so both executors store the same text.
 */
#ifndef LORALPHA_LOGBOUND_H
#define LORALPHA_LOGBOUND_H

#include <stddef.h>
#include <stdint.h>

#define LA_LOG_HEAD 16384 /* the log's first bytes kept */
#define LA_LOG_TAIL 49152 /* and its last */
#define LA_LOG_MARK 96    /* the "left out" line's bytes, at most */
/* The longest text la_logbound_text gives. */
#define LA_LOG_TEXT_MAX (LA_LOG_HEAD + LA_LOG_MARK + LA_LOG_TAIL)

/* What is kept of a log; zero it (memset, calloc, = {0}) to start. */
typedef struct la_logbound {
  char head[LA_LOG_HEAD];
  char tail[LA_LOG_TAIL]; /* a ring: the byte after the newest first */
  uint64_t bytes;         /* bytes of log seen */
} la_logbound;

/* Keeps what it must of n more bytes of the log. */
void la_logbound_add(la_logbound *b, const char *p, size_t n);

/* The kept log as text: its head, then, if bytes were left out between
 * head and tail, the line "\n[... N bytes of the log left out ...]\n",
 * then its tail; as valid UTF-8 without NUL (la_utf8_sanitize), at most
 * LA_LOG_TEXT_MAX bytes. A new string (free), or NULL when the log is
 * empty or memory ran out. */
char *la_logbound_text(const la_logbound *b);

#endif
