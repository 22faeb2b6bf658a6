/* agt_cache: an array of entries under one mutex; handles are closed outside the lock. */
#include "agt_cache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/common.h"

#define KEY_LEN 32

struct agt_cache_entry {
    unsigned char key[KEY_LEN];
    agt_bmc *bmc;
    int refs;
    bool cached; /* in the array (false: a one-call handle) */
    bool drop;
    uint64_t last_used_ns;
};

struct agt_cache {
    pthread_mutex_t mu;
    agt_cache_entry **e;
    size_t n, cap;
    uint64_t ttl_ns;
    agt_bmc_options opts;
    unsigned char hash_key[crypto_generichash_KEYBYTES];
};

agt_cache *agt_cache_create(const agt_cache_config *cfg)
{
    if (sodium_init() < 0) return NULL;
    agt_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cap = cfg && cfg->max_entries ? cfg->max_entries : 256;
    c->ttl_ns = (uint64_t)(cfg && cfg->idle_ttl_ms > 0 ? cfg->idle_ttl_ms : 600000) * 1000000u;
    if (cfg) c->opts = cfg->options;
    c->e = calloc(c->cap, sizeof *c->e);
    if (!c->e) {
        free(c);
        return NULL;
    }
    crypto_generichash_keygen(c->hash_key);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void entry_close(agt_cache_entry *e)
{
    agt_bmc_destroy(e->bmc);
    free(e);
}

void agt_cache_destroy(agt_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++)
        entry_close(c->e[i]);
    pthread_mutex_destroy(&c->mu);
    sodium_memzero(c->hash_key, sizeof c->hash_key);
    free(c->e);
    free(c);
}

static void make_key(const agt_cache *c, const char *endpoint, const char *user,
                     const char *pass, unsigned char out[KEY_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, c->hash_key, sizeof c->hash_key, KEY_LEN);
    /* Lengths first, so ("ab","c") and ("a","bc") differ. */
    const char *parts[3] = {endpoint, user ? user : "", pass ? pass : ""};
    for (int i = 0; i < 3; i++) {
        uint64_t len = strlen(parts[i]);
        crypto_generichash_update(&st, (const unsigned char *)&len, sizeof len);
        crypto_generichash_update(&st, (const unsigned char *)parts[i], len);
    }
    crypto_generichash_final(&st, out, KEY_LEN);
    sodium_memzero(&st, sizeof st);
}

/* Removes expired idle entries and, when the array is full, the least recently used idle one;
 * the removed entries are appended to out (caller closes them after unlocking). */
static size_t sweep_locked(agt_cache *c, uint64_t now, agt_cache_entry **out, size_t cap)
{
    size_t n_out = 0;
    for (size_t i = 0; i < c->n && n_out < cap;) {
        agt_cache_entry *e = c->e[i];
        if (e->refs == 0 && (e->drop || now - e->last_used_ns > c->ttl_ns)) {
            out[n_out++] = e;
            c->e[i] = c->e[--c->n];
        } else {
            i++;
        }
    }
    if (c->n == c->cap && n_out < cap) {
        size_t lru = c->n;
        for (size_t i = 0; i < c->n; i++)
            if (c->e[i]->refs == 0 && (lru == c->n || c->e[i]->last_used_ns < c->e[lru]->last_used_ns))
                lru = i;
        if (lru < c->n) {
            out[n_out++] = c->e[lru];
            c->e[lru] = c->e[--c->n];
        }
    }
    return n_out;
}

agt_cache_entry *agt_cache_acquire(agt_cache *c, const char *endpoint, const char *username,
                                   const char *password, agt_result *err)
{
    unsigned char key[KEY_LEN];
    make_key(c, endpoint, username, password, key);
    uint64_t now = tel_mono_ns();
    agt_cache_entry *evicted[8];
    size_t n_evicted;
    agt_cache_entry *hit = NULL;

    pthread_mutex_lock(&c->mu);
    n_evicted = sweep_locked(c, now, evicted, 8);
    for (size_t i = 0; i < c->n; i++) {
        if (!c->e[i]->drop && sodium_memcmp(c->e[i]->key, key, KEY_LEN) == 0) {
            hit = c->e[i];
            hit->refs++;
            hit->last_used_ns = now;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n_evicted; i++)
        entry_close(evicted[i]);
    if (hit) return hit;

    agt_cache_entry *e = calloc(1, sizeof *e);
    if (!e) {
        if (err) {
            err->code = AGT_ENOMEM;
            err->bmc_code = 0;
            strcpy(err->message, "out of memory");
        }
        return NULL;
    }
    e->bmc = agt_bmc_create(endpoint, username ? username : "", password ? password : "",
                            &c->opts, err);
    if (!e->bmc) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, KEY_LEN);
    e->refs = 1;
    e->last_used_ns = now;

    /* Another thread may have created the same entry meanwhile: use the first one. */
    agt_cache_entry *dup = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        if (!c->e[i]->drop && sodium_memcmp(c->e[i]->key, key, KEY_LEN) == 0) {
            dup = c->e[i];
            dup->refs++;
            dup->last_used_ns = now;
            break;
        }
    }
    if (!dup && c->n < c->cap) {
        e->cached = true;
        c->e[c->n++] = e;
    }
    pthread_mutex_unlock(&c->mu);
    if (dup) {
        entry_close(e);
        return dup;
    }
    return e;
}

agt_bmc *agt_cache_bmc(const agt_cache_entry *e)
{
    return e->bmc;
}

void agt_cache_release(agt_cache *c, agt_cache_entry *e, int drop)
{
    if (!e) return;
    if (!e->cached) {
        entry_close(e);
        return;
    }
    agt_cache_entry *close_now = NULL;
    pthread_mutex_lock(&c->mu);
    e->refs--;
    e->last_used_ns = tel_mono_ns();
    if (drop) e->drop = true;
    if (e->drop && e->refs == 0) {
        for (size_t i = 0; i < c->n; i++) {
            if (c->e[i] == e) {
                c->e[i] = c->e[--c->n];
                close_now = e;
                break;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (close_now) entry_close(close_now);
}

size_t agt_cache_size(agt_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}
