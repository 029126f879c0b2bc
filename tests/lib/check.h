/*
 * check.h: assertions for the C unit tests. Each failed check prints the
 * file, line, expression and both values; a test's main returns
 * check_summary(), non-zero when any check failed.
 */
#ifndef LORALPHA_TEST_CHECK_H
#define LORALPHA_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_failures, check_passes;

/* |a - b| <= tol * max(1, |b|) (relative for large b, absolute near 0). */
#define CHECK_CLOSE(a, b, tol)                                                 \
  do {                                                                         \
    double ca_ = (double)(a), cb_ = (double)(b);                               \
    double lim_ = (tol) * (fabs(cb_) > 1 ? fabs(cb_) : 1);                     \
    if (!(fabs(ca_ - cb_) <= lim_)) {                                          \
      check_failures++;                                                        \
      fprintf(stderr, "%s:%d: %s = %.12g, expected %s = %.12g (tol %g)\n",     \
              __FILE__, __LINE__, #a, ca_, #b, cb_, (double)(tol));            \
    } else {                                                                   \
      check_passes++;                                                          \
    }                                                                          \
  } while (0)

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      check_failures++;                                                        \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    } else {                                                                   \
      check_passes++;                                                          \
    }                                                                          \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
  do {                                                                         \
    long long ca_ = (long long)(a), cb_ = (long long)(b);                      \
    if (ca_ != cb_) {                                                          \
      check_failures++;                                                        \
      fprintf(stderr, "%s:%d: %s = %lld, expected %s = %lld\n", __FILE__,      \
              __LINE__, #a, ca_, #b, cb_);                                     \
    } else {                                                                   \
      check_passes++;                                                          \
    }                                                                          \
  } while (0)

/* Two strings are equal (a NULL is never equal). */
#define CHECK_STR(a, b)                                                        \
  do {                                                                         \
    const char *cs_a = (a), *cs_b = (b);                                       \
    if (cs_a == NULL || cs_b == NULL || strcmp(cs_a, cs_b) != 0) {             \
      check_failures++;                                                        \
      fprintf(stderr, "%s:%d: %s = \"%s\", expected \"%s\"\n", __FILE__,       \
              __LINE__, #a, cs_a ? cs_a : "(null)", cs_b ? cs_b : "(null)");   \
    } else {                                                                   \
      check_passes++;                                                          \
    }                                                                          \
  } while (0)

/* text contains part (has = 1) or does not (has = 0). */
#define CHECK_CONTAINS_(text, part, has)                                       \
  do {                                                                         \
    const char *ct_ = (text), *cp_ = (part);                                   \
    if ((ct_ != NULL && strstr(ct_, cp_) != NULL) != (has)) {                  \
      check_failures++;                                                        \
      fprintf(stderr, "%s:%d: \"%s\" %s in:\n%s\n", __FILE__, __LINE__, cp_,   \
              (has) ? "not" : "should not be", ct_ ? ct_ : "(null)");          \
    } else {                                                                   \
      check_passes++;                                                          \
    }                                                                          \
  } while (0)
#define CHECK_HAS(text, part) CHECK_CONTAINS_(text, part, 1)
#define CHECK_LACKS(text, part) CHECK_CONTAINS_(text, part, 0)

static inline int check_summary(void) {
  printf("%d passed, %d failed\n", check_passes, check_failures);
  return check_failures != 0;
}

#endif
