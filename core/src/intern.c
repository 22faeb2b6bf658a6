/* The process-wide pool of immortal strings (see intern.h): an open-addressing table of pointers
 * to blocks that are never freed (reachable from the table until exit). */
#include "intern.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct intern_entry {
    uint64_t hash;
    size_t len;
    const char *s;
} intern_entry;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static intern_entry *table;
static size_t table_cap, table_n, pool_bytes;

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Doubles the table (or makes the first one). Returns 0 or -1. Under pool_lock. */
static int grow_table(void)
{
    size_t ncap = table_cap ? table_cap * 2 : 64;
    intern_entry *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return -1;
    for (size_t i = 0; i < table_cap; i++) {
        if (!table[i].s)
            continue;
        size_t j = (size_t)table[i].hash & (ncap - 1);
        while (nt[j].s)
            j = (j + 1) & (ncap - 1);
        nt[j] = table[i];
    }
    free(table);
    table = nt;
    table_cap = ncap;
    return 0;
}

/* fork(): the lock is held across it, so that a child never inherits it locked. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&pool_lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&pool_lock);
}

static void atfork_child(void)
{
    pthread_mutex_init(&pool_lock, NULL);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

const char *core_intern(const char *s, size_t len)
{
    return core_intern_capped(s, len, CORE_INTERN_MAX_BYTES);
}

const char *core_intern_capped(const char *s, size_t len, size_t cap)
{
    if (!s)
        return NULL;
    pthread_once(&atfork_once, register_atfork);
    uint64_t h = hash_bytes(s, len);
    const char *out = NULL;
    pthread_mutex_lock(&pool_lock);
    if (table_cap) {
        for (size_t j = (size_t)h & (table_cap - 1); table[j].s; j = (j + 1) & (table_cap - 1)) {
            if (table[j].hash == h && table[j].len == len && memcmp(table[j].s, s, len) == 0) {
                out = table[j].s;
                goto done;
            }
        }
    }
    if (pool_bytes + len + 1 > (cap < CORE_INTERN_MAX_BYTES ? cap : CORE_INTERN_MAX_BYTES))
        goto done;
    if ((table_n + 1) * 2 > table_cap && grow_table() != 0)
        goto done;
    char *copy = malloc(len + 1);
    if (!copy)
        goto done;
    memcpy(copy, s, len);
    copy[len] = '\0';
    size_t j = (size_t)h & (table_cap - 1);
    while (table[j].s)
        j = (j + 1) & (table_cap - 1);
    table[j] = (intern_entry){h, len, copy};
    table_n++;
    pool_bytes += len + 1;
    out = copy;
done:
    pthread_mutex_unlock(&pool_lock);
    return out;
}
