/* A minimal assertion kit for the core's unit tests: each test is its own process. */
#ifndef CATZILLA_TEST_H
#define CATZILLA_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test__failures = 0;

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      test__failures++;                                                         \
    }                                                                           \
  } while (0)

#define CHECK_STR(a, b)                                                                      \
  do {                                                                                       \
    const char* a_ = (a);                                                                    \
    const char* b_ = (b);                                                                    \
    if (a_ == NULL || strcmp(a_, b_) != 0) {                                                 \
      fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, b_, a_ ? a_ : "(null)"); \
      test__failures++;                                                                      \
    }                                                                                        \
  } while (0)

#define CHECK_INT(a, b)                                                                          \
  do {                                                                                           \
    long long a_ = (long long)(a), b_ = (long long)(b);                                          \
    if (a_ != b_) {                                                                              \
      fprintf(stderr, "%s:%d: %s: expected %lld, got %lld\n", __FILE__, __LINE__, #a, b_, a_);   \
      test__failures++;                                                                          \
    }                                                                                            \
  } while (0)

#define TEST_END()                                                            \
  do {                                                                        \
    if (test__failures) fprintf(stderr, "%d check(s) failed\n", test__failures); \
    return test__failures ? 1 : 0;                                            \
  } while (0)

#endif
