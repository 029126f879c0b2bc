/*
 * test_common.c: the error model of common.h. Every LA_E* code has words
 * of its own (la_strerror), a code it does not know is said to be unknown,
 * and la_errf returns its code, fills the message (truncated, always
 * NUL-terminated) and accepts a NULL la_err. la_parse_id takes the ids
 * of paths and file names: positive, decimal, at most 18 digits.
 */
#include "check.h"
#include "loralpha/common.h"

#include <string.h>

/* s equals want; prints both when not. */
static void check_str(const char *what, const char *s, const char *want) {
  if (strcmp(s, want) != 0) {
    check_failures++;
    fprintf(stderr, "%s = \"%s\", expected \"%s\"\n", what, s, want);
  } else {
    check_passes++;
  }
}

static void check_strerror(void) {
  static const int codes[] = {LA_ENOMEM, LA_EINVAL,    LA_EIO,  LA_ENUMERIC,
                              LA_ESHAPE, LA_ENOTFOUND, LA_EPERM};
  size_t n = sizeof codes / sizeof codes[0];
  check_str("la_strerror(LA_OK)", la_strerror(LA_OK), "ok");
  check_str("la_strerror(LA_ENOMEM)", la_strerror(LA_ENOMEM), "out of memory");
  check_str("la_strerror(LA_ENOTFOUND)", la_strerror(LA_ENOTFOUND),
            "not found");
  check_str("la_strerror(LA_EPERM)", la_strerror(LA_EPERM), "not permitted");
  check_str("la_strerror(-100)", la_strerror(-100), "unknown error");
  check_str("la_strerror(1)", la_strerror(1), "unknown error");
  for (size_t i = 0; i < n; i++) {
    const char *w = la_strerror(codes[i]);
    CHECK_EQ_INT(codes[i], -(int)(i + 1)); /* -1 .. -7, in order, no gaps */
    if (strcmp(w, "unknown error") == 0 || strcmp(w, "ok") == 0) {
      check_failures++;
      fprintf(stderr, "la_strerror(%d) = \"%s\", expected words of its own\n",
              codes[i], w);
    } else {
      check_passes++;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(w, la_strerror(codes[j])) == 0) {
        check_failures++;
        fprintf(stderr, "la_strerror(%d) = la_strerror(%d) = \"%s\"\n",
                codes[i], codes[j], w);
      }
  }
}

static void check_errf(void) {
  la_err err;
  char big[2 * sizeof err.msg];
  memset(&err, 'x', sizeof err);
  CHECK_EQ_INT(la_errf(&err, LA_EINVAL, "%s: %d", "rank", 3), LA_EINVAL);
  check_str("err.msg", err.msg, "rank: 3");
  CHECK_EQ_INT(la_errf(NULL, LA_EIO, "no one reads %s", "this"), LA_EIO);
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  CHECK_EQ_INT(la_errf(&err, LA_ENOTFOUND, "%s", big), LA_ENOTFOUND);
  CHECK_EQ_INT(strlen(err.msg), sizeof err.msg - 1);
}

static void check_parse_id(void) {
  static const struct {
    const char *s;
    long long want;
  } cases[] = {
      {"1", 1},
      {"42", 42},
      {"007", 7},
      {"999999999999999999", 999999999999999999LL},
      {"0", -1},
      {"", -1},
      {"-1", -1},
      {"+1", -1},
      {"1x", -1},
      {" 1", -1},
      {"1.0", -1},
      {"1000000000000000000", -1},
      {"0000000000000000000", -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    long long got = (long long)la_parse_id(cases[i].s);
    if (got != cases[i].want) {
      check_failures++;
      fprintf(stderr, "la_parse_id(\"%s\") = %lld, expected %lld\n", cases[i].s,
              got, cases[i].want);
    } else {
      check_passes++;
    }
  }
}

int main(void) {
  check_strerror();
  check_errf();
  check_parse_id();
  return check_summary();
}
