/*
 * window.h: hours in which runs may start (the daemon's, or a sweep's).
 *
 * A window is [start, end) in local minutes of the day, across midnight
 * when start > end ("22:00" to "07:00"). Outside it nothing new starts;
 * running runs finish, or with requeue are stopped and queued again (the
 * attempt not counted).
 */
#ifndef LORALPHA_WINDOW_H
#define LORALPHA_WINDOW_H

#include "loralpha/common.h"

#include <jansson.h>

typedef struct la_window {
  int enabled;
  int start_min, end_min; /* 0..1440 */
  int requeue;            /* outside: 1 stop and queue again, 0 finish */
} la_window;

/* Parses "HH:MM" (00:00..24:00) into minutes; 0 or LA_EINVAL. */
int la_parse_hhmm(const char *s, int *minutes);

/* Reads {"start": "HH:MM", "end": "HH:MM", "outside": "finish"|"requeue"}
 * (outside optional, "finish" by default) or null (no window) into w.
 * Errors name the field under prefix ("window.start: '25:00' is not
 * HH:MM"). */
int la_window_from_json(const json_t *v, const char *prefix, la_window *w,
                        la_err *err);

/* w as JSON (null when not enabled); a new reference. */
json_t *la_window_to_json(const la_window *w);

/* Is local minute-of-day m inside w (always, when w is not enabled)? */
int la_window_open(const la_window *w, int m);

/* The local minute of the day now. */
int la_minute_now(void);

#endif
