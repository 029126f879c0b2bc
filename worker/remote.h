/*
 * remote.h: a worker's records sent to the daemon over HTTP (libcurl), for
 * workers on Slurm nodes (docs/slurm.md, docs/worker.md).
 *
 * la_remote_open gives a FILE * for the trainer to write its JSON lines
 * to. Complete lines are POSTed in batches to the report URL
 * (application/x-ndjson, "Authorization: Bearer <token>"): when 256 KiB
 * have gathered, when a second has passed since the last batch, and at
 * close. A batch the daemon cannot take now (no connection, 408, 429, 5xx)
 * is sent again after 0.5 s, 1 s, 2 s ... (at most 30 s apart) until the
 * retry limit has passed, and then the worker stops (exit 1: its lines
 * would be lost); any other answer (401, 403, 4xx) means the daemon no
 * longer wants this run's lines, and the worker stops at once (exit
 * LA_REMOTE_EXIT). Either way its error line is on stderr.
 *
 * A command task's worker also sends its trainer's log, bounded
 * (loralpha/logbound.h), once: la_remote_send_log POSTs it as text/plain
 * to the report URL's /log (POST /v1/ingest/{run}/log?bytes=N) with the
 * same token and the same retries (for 60 s at most: the run's end waits
 * behind it), but a log the daemon refuses or cannot take is only said,
 * never a reason to stop: the records matter more.
 */
#ifndef LORALPHA_REMOTE_H
#define LORALPHA_REMOTE_H

#include "loralpha/common.h"

#include <stdint.h>
#include <stdio.h>

#define LA_REMOTE_EXIT 3 /* the worker's exit code when the daemon refused */

typedef struct la_remote la_remote;

/* Opens a reporter to url with the token read from token_file (its first
 * line), retrying a batch for up to retry_s seconds. *stream is the FILE *
 * to write lines to; close it with la_remote_close only. Returns 0 or an
 * LA_E code with err filled. */
int la_remote_open(const char *url, const char *token_file, double retry_s,
                   la_remote **out, FILE **stream, la_err *err);

/* Sends text[0, n), the kept log of a trainer that wrote bytes bytes in
 * all, to the report URL's /log, with the retries of the lines (at most
 * 60 s). 0, or
 * LA_EIO with err filled (refused, or the daemon not reached in time);
 * the reporter stays usable either way. */
int la_remote_send_log(la_remote *r, const char *text, size_t n, uint64_t bytes,
                       la_err *err);

/* Sends what is left, closes the stream and frees the reporter. Returns 0,
 * or LA_EIO with err filled when the last lines could not be kept. */
int la_remote_close(la_remote *r, la_err *err);

#endif
