/* Whether the test program runs under valgrind (its preload library is in LD_PRELOAD): for tests
 * that scale their work down there, skip timing-dependent parts (valgrind runs one thread at a
 * time) or cannot see the allocator. */
#ifndef UNDER_VALGRIND_H
#define UNDER_VALGRIND_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline bool test_under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload");
}

#endif
