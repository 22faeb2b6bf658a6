/* CHECK for the integration tests that are plain programs (no cmocka) and go on after a failed
 * check: each CHECK counts in `checks`, and a failed one in `failures` with a "FAIL file:line:"
 * message (printf-style) on stderr. The program exits non-zero when failures is not 0. */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#include <stdio.h>

static int failures __attribute__((unused));
static int checks __attribute__((unused));

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#endif
