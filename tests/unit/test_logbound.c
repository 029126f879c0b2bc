/*
 * test_logbound.c: a log kept bounded (loralpha/logbound.h). Every log,
 * however it is cut into pieces, gives the text an independent reference
 * builds from the whole log at once: the log itself up to LA_LOG_HEAD +
 * LA_LOG_TAIL bytes; past that its first LA_LOG_HEAD bytes, the line
 * saying how many bytes were left out, and its last LA_LOG_TAIL bytes.
 * Bytes that are not UTF-8 (and NUL) come out as '?'; an empty log has no
 * text; a 20 MiB flood is counted whole and kept in the fixed struct.
 */
#include "check.h"
#include "loralpha/logbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The expected text of log[0..n) (printable bytes only), built at once. */
static char *reference(const char *log, size_t n) {
  char *out = malloc(n + LA_LOG_MARK + 1);
  size_t len = 0;
  if (n <= LA_LOG_HEAD + LA_LOG_TAIL) {
    memcpy(out, log, n);
    out[n] = 0;
    return out;
  }
  memcpy(out, log, LA_LOG_HEAD);
  len = LA_LOG_HEAD;
  len +=
      (size_t)sprintf(out + len, "\n[... %zu bytes of the log left out ...]\n",
                      n - LA_LOG_HEAD - LA_LOG_TAIL);
  memcpy(out + len, log + n - LA_LOG_TAIL, LA_LOG_TAIL);
  out[len + LA_LOG_TAIL] = 0;
  return out;
}

/* got equals want; prints where they first differ when not. */
static void check_text(const char *what, const char *got, const char *want) {
  size_t i = 0;
  if (got != NULL && strcmp(got, want) == 0) {
    check_passes++;
    return;
  }
  check_failures++;
  while (got != NULL && got[i] && got[i] == want[i])
    i++;
  fprintf(stderr,
          "%s: text of %zu bytes differs from the expected %zu at byte %zu "
          "(\"%.20s\" vs \"%.20s\")\n",
          what, got ? strlen(got) : 0, strlen(want), i,
          got ? got + i : "(null)", want + i);
}

/* A log of n bytes: lines of letters numbered so that no two places of
 * the log look alike. */
static char *make_log(size_t n) {
  char *log = malloc(n + 1);
  for (size_t i = 0; i < n; i++)
    log[i] = (i % 61 == 60) ? '\n' : (char)('a' + (i / 61 + i) % 26);
  log[n] = 0;
  return log;
}

/* The log of n bytes fed in pieces of piece bytes gives the reference. */
static void check_sizes(void) {
  static const size_t sizes[] = {1,
                                 100,
                                 LA_LOG_HEAD - 1,
                                 LA_LOG_HEAD,
                                 LA_LOG_HEAD + 1,
                                 LA_LOG_HEAD + LA_LOG_TAIL - 1,
                                 LA_LOG_HEAD + LA_LOG_TAIL,
                                 LA_LOG_HEAD + LA_LOG_TAIL + 1,
                                 LA_LOG_HEAD + 2 * LA_LOG_TAIL + 7,
                                 1000003};
  static const size_t pieces[] = {1, 7, 4096, LA_LOG_TAIL + 5, 2000000};
  la_logbound *b = malloc(sizeof *b);
  char what[128];
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    char *log = make_log(sizes[s]), *want = reference(log, sizes[s]);
    for (size_t k = 0; k < sizeof pieces / sizeof *pieces; k++) {
      char *got;
      memset(b, 0, sizeof *b);
      for (size_t at = 0; at < sizes[s]; at += pieces[k])
        la_logbound_add(b, log + at,
                        sizes[s] - at < pieces[k] ? sizes[s] - at : pieces[k]);
      got = la_logbound_text(b);
      snprintf(what, sizeof what, "%zu bytes in pieces of %zu", sizes[s],
               pieces[k]);
      check_text(what, got, want);
      CHECK_EQ_INT(b->bytes, sizes[s]);
      if (got != NULL) CHECK(strlen(got) <= LA_LOG_TEXT_MAX);
      free(got);
    }
    free(log);
    free(want);
  }
  free(b);
}

/* No log, no text; bytes that are not UTF-8 come out as '?'. */
static void check_text_rules(void) {
  la_logbound *b = calloc(1, sizeof *b);
  static const char bad[] = "ok \xff\xfe caf\xc3\xa9 \xe2\x82 nul\0end\n";
  char *t = la_logbound_text(b);
  CHECK(t == NULL);
  la_logbound_add(b, bad, sizeof bad - 1);
  t = la_logbound_text(b);
  CHECK_STR(t, "ok ?? caf\xc3\xa9 ?? nul?end\n");
  CHECK_EQ_INT(b->bytes, sizeof bad - 1);
  free(t);
  free(b);
}

/* A 20 MiB flood in 64 KiB reads: every byte counted, the right amount
 * said to be left out, its last line last. */
static void check_flood(void) {
  la_logbound *b = calloc(1, sizeof *b);
  char *chunk = malloc(65536), *t, mark[96];
  uint64_t total = 20u << 20;
  memset(chunk, 'x', 65536);
  for (int i = 0; i < 320; i++)
    la_logbound_add(b, chunk, 65536);
  la_logbound_add(b, "last line\n", 10);
  t = la_logbound_text(b);
  CHECK_EQ_INT(b->bytes, total + 10);
  snprintf(mark, sizeof mark, "\n[... %llu bytes of the log left out ...]\n",
           (unsigned long long)(total + 10 - LA_LOG_HEAD - LA_LOG_TAIL));
  CHECK_HAS(t ? strstr(t, "\n[...") : NULL, mark);
  CHECK(t != NULL && strlen(t) == LA_LOG_HEAD + strlen(mark) + LA_LOG_TAIL);
  CHECK(t != NULL && strcmp(t + strlen(t) - 10, "last line\n") == 0);
  free(t);
  free(chunk);
  free(b);
}

int main(void) {
  check_sizes();
  check_text_rules();
  check_flood();
  return check_summary();
}
