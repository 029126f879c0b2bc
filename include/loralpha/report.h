/*
 * report.h: the "morning report" of a sweep, from the API's JSON.
 *
 * HTML is one self-contained page (inline CSS and SVG plots, no scripts,
 * nothing loaded from elsewhere) that also prints; Markdown holds the same
 * content as tables and text, without the plots. Every field of the input
 * is optional: what is missing, null or of the wrong type is shown as "–"
 * or left out, and the report says when there is no analysis yet.
 *
 * It opens with the analysis' answer when it has one ("headline" and
 * "answers", docs/analysis.md), says in its header when the sweep failed,
 * was cancelled or is still running, and draws the loss against α in a
 * small plot per rank, in the dashboard's colours.
 */
#ifndef LORALPHA_REPORT_H
#define LORALPHA_REPORT_H

#include "loralpha/common.h"

#include <jansson.h>
#include <stdio.h>

typedef enum { LA_REPORT_HTML, LA_REPORT_MARKDOWN } la_report_format;

/* Writes the report of a sweep to out. sweep: the GET /v1/sweeps/{id}
 * object; analysis: the GET /v1/sweeps/{id}/analysis object, or NULL when
 * there is none yet; runs: an array of every run object as GET
 * /v1/sweeps/{id}/runs returns them (all pages concatenated; an object
 * with a "runs" array is accepted too). All borrowed. Returns 0, LA_EINVAL
 * (no stream, unknown format), LA_ENOMEM (the report is then incomplete)
 * or LA_EIO (writing failed), with err filled. */
int la_report_write(const json_t *sweep, const json_t *analysis,
                    const json_t *runs, la_report_format fmt, FILE *out,
                    la_err *err);

/* The format called name, in any case: "html", or "md" / "markdown"
 * (what `loralpha report --format` and the API's ?format= take). Sets
 * *fmt and returns 0, or returns LA_EINVAL for any other name. */
int la_report_format_named(const char *name, la_report_format *fmt);

/* The format a file name asks for: Markdown when its extension (after
 * the last '.' of its last component) is "md" or "markdown" in any case
 * (x.md, X.MD, notes.Markdown), else HTML (x.html, x.htm, x, none). */
la_report_format la_report_format_of_path(const char *path);

#endif
