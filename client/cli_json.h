/*
 * cli_json.h: how the client prints JSON numbers (docs/cli.md, "Numbers").
 *
 * Every number the client prints from JSON, in a document (--json, `show`'s
 * grid) or a CSV field, is written in its shortest form that reads back as
 * the same double: 0.0003, never 0.00029999999999999997 (jansson's
 * "%.17g"). Integers are printed as integers; reals keep a '.' or an
 * exponent so that they stay reals.
 */
#ifndef LORALPHA_CLI_JSON_H
#define LORALPHA_CLI_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* x with the fewest significant digits (15, 16 or 17) that read back as x,
 * into out[n] ("%g" style: 0.0003, 1e-05, 300). x must be finite. */
void la_cli_shortest(char *out, size_t n, double x);

/* v (borrowed; any JSON value) as compact JSON text with its reals in
 * la_cli_shortest form: a new string (free), or NULL when out of memory. */
char *la_cli_json_text(const json_t *v);

/* Writes la_cli_json_text(v) and a newline to f; 0, or LA_ENOMEM / LA_EIO. */
int la_cli_json_print(const json_t *v, FILE *f);

#endif
