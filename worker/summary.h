/*
 * summary.h: a human-readable summary of a run's JSON-lines output, for
 * people reading a run at a terminal (loralpha-worker --summary).
 */
#ifndef LORALPHA_SUMMARY_H
#define LORALPHA_SUMMARY_H

#include "loralpha/common.h"

#include <stdio.h>

/* Reads JSON-lines records from in and prints to out: the run's shape, the
 * loss curve (one row per eval record, with the latest train loss), the last
 * spectra per layer, sharpness, and the final status. Returns 0, or
 * LA_EINVAL when a line is not a JSON object. */
int la_summary_print(FILE *in, FILE *out);

#endif
