/* testpoint.c: pauses for crash tests (see testpoint.h). */
#include "testpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 1 when the comma-separated list holds name. */
static int listed(const char *list, const char *name) {
  size_t n = strlen(name);
  while (*list) {
    size_t len = strcspn(list, ",");
    if (len == n && strncmp(list, name, n) == 0) return 1;
    list += len;
    if (*list == ',') list++;
  }
  return 0;
}

/* Pauses if LA_TEST_PAUSE names this point. */
void la_testpoint(const char *name) {
  const char *list = getenv("LA_TEST_PAUSE"), *ms_s;
  struct timespec ts;
  long ms = 300;
  char *end;
  if (list == NULL || !listed(list, name)) return;
  if ((ms_s = getenv("LA_TEST_PAUSE_MS")) != NULL) {
    long v = strtol(ms_s, &end, 10);
    if (end != ms_s && *end == '\0' && v >= 0 && v <= 60000) ms = v;
  }
  fprintf(stderr, "testpoint %s\n", name);
  fflush(stderr);
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}
