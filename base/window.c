/* window.c: start windows in local hours (see window.h). */
#include "loralpha/window.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int la_parse_hhmm(const char *s, int *minutes) {
  int h, m;
  if (strlen(s) != 5 || s[2] != ':') return LA_EINVAL;
  for (int i = 0; i < 5; i++)
    if (i != 2 && (s[i] < '0' || s[i] > '9')) return LA_EINVAL;
  h = (s[0] - '0') * 10 + (s[1] - '0');
  m = (s[3] - '0') * 10 + (s[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return LA_EINVAL;
  *minutes = h * 60 + m;
  return 0;
}

int la_window_from_json(const json_t *v, const char *prefix, la_window *w,
                        la_err *err) {
  const char *key, *outside = "finish";
  json_t *x;
  memset(w, 0, sizeof *w);
  if (v == NULL || json_is_null(v)) return 0;
  if (!json_is_object(v))
    return la_errf(err, LA_EINVAL,
                   "%s: expected an object {\"start\": \"HH:MM\", \"end\": "
                   "\"HH:MM\", \"outside\": \"finish\"|\"requeue\"} or null",
                   prefix);
  json_object_foreach((json_t *)v, key, x) {
    if (strcmp(key, "start") && strcmp(key, "end") && strcmp(key, "outside"))
      return la_errf(err, LA_EINVAL,
                     "%s.%.64s: unknown field (expected start, end, outside)",
                     prefix, key);
  }
  for (int i = 0; i < 2; i++) {
    const char *k = i ? "end" : "start";
    int *dst = i ? &w->end_min : &w->start_min;
    x = json_object_get(v, k);
    if (x == NULL)
      return la_errf(err, LA_EINVAL, "%s.%s: missing (\"HH:MM\")", prefix, k);
    if (!json_is_string(x) || la_parse_hhmm(json_string_value(x), dst))
      return la_errf(err, LA_EINVAL,
                     "%s.%s: expected a time \"HH:MM\" from 00:00 to 24:00",
                     prefix, k);
  }
  if (w->start_min % 1440 == w->end_min % 1440)
    return la_errf(err, LA_EINVAL,
                   "%s: start and end are the same time (for no window at "
                   "all leave it out)",
                   prefix);
  if ((x = json_object_get(v, "outside")) != NULL) {
    if (!json_is_string(x) ||
        (strcmp(outside = json_string_value(x), "finish") &&
         strcmp(outside, "requeue")))
      return la_errf(err, LA_EINVAL,
                     "%s.outside: expected \"finish\" or \"requeue\"", prefix);
  }
  w->requeue = strcmp(outside, "requeue") == 0;
  w->enabled = 1;
  return 0;
}

/* "HH:MM" of m minutes into buf. */
static void hhmm(int m, char buf[8]) {
  snprintf(buf, 8, "%02d:%02d", (m / 60) % 25, m % 60);
}

json_t *la_window_to_json(const la_window *w) {
  char a[8], b[8];
  if (!w->enabled) return json_null();
  hhmm(w->start_min, a);
  hhmm(w->end_min, b);
  return json_pack("{s:s, s:s, s:s}", "start", a, "end", b, "outside",
                   w->requeue ? "requeue" : "finish");
}

int la_window_open(const la_window *w, int m) {
  int s, e;
  if (!w->enabled) return 1;
  s = w->start_min % 1440, e = w->end_min % 1440;
  return s < e ? (m >= s && m < e) : (m >= s || m < e);
}

int la_minute_now(void) {
  time_t t = time(NULL);
  struct tm tm;
  if (localtime_r(&t, &tm) == NULL) return 0;
  return tm.tm_hour * 60 + tm.tm_min;
}
