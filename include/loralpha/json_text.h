/*
 * json_text.h: how loralpha writes JSON numbers (docs/cli.md, "Numbers";
 * docs/api.md, "Numbers").
 *
 * Every number the daemon serves or stores as JSON text and every number
 * the client prints from JSON (a document, `show`'s grid, a CSV field) is
 * written in its shortest form that reads back as the same double: 0.0003,
 * never 0.00029999999999999997 (jansson's "%.17g") and never a rounded
 * value that reads back as another double. Integers are printed as
 * integers; reals keep a '.' or an exponent so that they stay reals.
 */
#ifndef LORALPHA_JSON_TEXT_H
#define LORALPHA_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* x with the fewest significant digits (15, 16 or 17) that read back as x,
 * into out[n] ("%g" style: 0.0003, 1e-05, 300). x must be finite. */
void la_json_shortest(char *out, size_t n, double x);

/* v (borrowed; any JSON value) as compact JSON text with its reals in
 * la_json_shortest form: a new string (free), or NULL when out of memory. */
char *la_json_text(const json_t *v);

/* x as a JSON real, or null when it is not finite (NaN, inf): how the
 * daemon and the worker write a number that may be unknown. New reference
 * (NULL when out of memory). */
json_t *la_json_num(double x);

/* Writes la_json_text(v) and a newline to f; 0, or LA_ENOMEM / LA_EIO. */
int la_json_print(const json_t *v, FILE *f);

#endif
