/*
 * fanout.h: the records of a pack trained on a Slurm node, each sent to
 * the daemon as its own run's (docs/slurm.md "Packs").
 *
 * A pack's runs write their records, each carrying its run_id, to one
 * stream (la_pack_serve). la_fanout_open gives that stream: it splits it
 * into lines and hands each to the reporter (remote.h) of the run it names,
 * which POSTs it to that run's URL with that run's token; a line that names
 * no run (an error of the whole pack) goes to every run's reporter. The
 * URL and token file are templates in which "{run}" stands for the run's
 * id (la_fanout_subst).
 */
#ifndef LORALPHA_FANOUT_H
#define LORALPHA_FANOUT_H

#include "loralpha/common.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct la_fanout la_fanout;

/* tmpl with every "{run}" replaced by run_id into out (size bytes).
 * 0, or LA_EINVAL (err names what) when it does not fit. */
int la_fanout_subst(const char *tmpl, int64_t run_id, char *out, size_t size,
                    la_err *err);

/* Opens a reporter for each of the n runs ids (url_tmpl and token_tmpl
 * with "{run}" replaced by its id, remote.h's retry_s) and the stream that
 * routes lines to them (*stream: close it with la_fanout_close only).
 * Returns 0 or an LA_E code with err filled (nothing left open). */
int la_fanout_open(const char *url_tmpl, const char *token_tmpl, double retry_s,
                   const int64_t *ids, int n, la_fanout **out, FILE **stream,
                   la_err *err);

/* Routes what is left, closes every reporter (sending their last lines)
 * and frees the fan-out. 0, or the first reporter's LA_EIO (err filled). */
int la_fanout_close(la_fanout *f, la_err *err);

#endif
