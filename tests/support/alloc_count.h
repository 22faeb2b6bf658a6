/* Counting allocations, for the tests that prove a path allocates nothing: a program that
 * includes this header (in one translation unit) replaces malloc/calloc/realloc/free with
 * wrappers around glibc's __libc_* functions, and every malloc, calloc and realloc call adds one
 * to `allocs`. Plain builds only (ALLOC_COUNT 1): sanitizers bring their own allocator, so under
 * them ALLOC_COUNT is 0 and nothing is replaced. Valgrind replaces the allocator at run time:
 * test_under_valgrind() (under_valgrind.h) tells. */
#ifndef ALLOC_COUNT_H
#define ALLOC_COUNT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "under_valgrind.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ALLOC_COUNT 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define ALLOC_COUNT 0
#endif
#endif
#ifndef ALLOC_COUNT
#define ALLOC_COUNT 1
#endif

#if ALLOC_COUNT
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static atomic_long allocs;

void *malloc(size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}
#endif


/* The number of threads of this process (from /proc/self/status), or -1. */
static inline int test_thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) n = atoi(line + 8);
    if (f) fclose(f);
    return n;
}

#endif
