/* Secrets policy: the attribute key denylist, and the redaction pass over span records. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "telemetry/redact.h"
#include "trace_internal.h"

/* Fragments added at run time: written under add_lock into the next free slot, then published by
 * a release store of n_added, so readers never see a half-written fragment. */
static pthread_mutex_t add_lock = PTHREAD_MUTEX_INITIALIZER;
static char added[TEL_REDACT_MAX_FRAGMENTS][TEL_REDACT_FRAGMENT_MAX + 1];
static atomic_size_t n_added;

/* Case folding for the match: ASCII letters to lowercase, '-' to '_'. */
static inline unsigned char fold(unsigned char c)
{
    if ((unsigned)(c - 'A') < 26u) return (unsigned char)(c + ('a' - 'A'));
    return c == '-' ? '_' : c;
}

/* True when the folded key at k starts with frag (already folded). The key's NUL ends it. */
static inline bool starts_with(const unsigned char *k, const char *frag)
{
    for (; *frag; k++, frag++)
        if (fold(*k) != (unsigned char)*frag) return false;
    return true;
}

/* The built-in fragments, dispatched on their first letter. */
static bool builtin_at(const unsigned char *k)
{
    switch (fold(*k)) {
    case 'p':
        return starts_with(k, "password") || starts_with(k, "passwd") ||
               starts_with(k, "private_key");
    case 't':
        return starts_with(k, "token");
    case 'a':
        return starts_with(k, "authorization") || starts_with(k, "api_key") ||
               starts_with(k, "apikey");
    case 's':
        return starts_with(k, "secret");
    case 'c':
        return starts_with(k, "cookie") || starts_with(k, "credential");
    default:
        return false;
    }
}

static bool denied_slow(const char *key, size_t extra)
{
    for (const unsigned char *k = (const unsigned char *)key; *k; k++) {
        if (builtin_at(k)) return true;
        for (size_t i = 0; i < extra; i++)
            if (starts_with(k, added[i])) return true;
    }
    return false;
}

/* Verdicts of recently checked keys, per thread. Keys are mostly string literals seen again and
 * again (every span of a kind, every log line of a call site), so the verdict is looked up by
 * address; the key text is compared too, because an address can be reused for another key
 * (copied dynamic keys, freed strings). An entry is valid for one denylist generation. */
#define VCACHE_SLOTS 32
#define VCACHE_KEY_MAX 50
typedef struct vcache_entry {
    const char *ptr;
    uint32_t gen;
    bool denied;
    char text[VCACHE_KEY_MAX + 1];
} vcache_entry;
static _Thread_local vcache_entry vcache[VCACHE_SLOTS];

/* The verdict for key under denylist generation `gen` (the number of added fragments). */
static inline bool denied_gen(const char *key, size_t gen)
{
    uintptr_t a = (uintptr_t)key;
    vcache_entry *e = &vcache[(a ^ (a >> 5) ^ (a >> 11)) & (VCACHE_SLOTS - 1)];
    if (TEL_LIKELY(e->ptr == key && e->gen == (uint32_t)gen && strcmp(e->text, key) == 0))
        return e->denied;
    bool d = denied_slow(key, gen);
    size_t n = strlen(key);
    if (n <= VCACHE_KEY_MAX) {
        e->ptr = key;
        e->gen = (uint32_t)gen;
        e->denied = d;
        memcpy(e->text, key, n + 1);
    }
    return d;
}

bool tel_redact_key_denied(const char *key)
{
    return key && denied_gen(key, atomic_load_explicit(&n_added, memory_order_acquire));
}

int tel_redact_add_key(const char *fragment)
{
    if (!fragment || !*fragment) return TEL_EINVAL;
    size_t n = strlen(fragment);
    if (n > TEL_REDACT_FRAGMENT_MAX) return TEL_ETOOBIG;
    char folded[TEL_REDACT_FRAGMENT_MAX + 1];
    for (size_t i = 0; i < n; i++)
        folded[i] = (char)fold((unsigned char)fragment[i]);
    folded[n] = '\0';
    if (denied_slow(folded, atomic_load(&n_added)))
        return TEL_OK; /* an existing fragment already covers it */
    pthread_mutex_lock(&add_lock);
    size_t have = atomic_load_explicit(&n_added, memory_order_relaxed);
    int rc = TEL_OK;
    if (have >= TEL_REDACT_MAX_FRAGMENTS) {
        rc = TEL_EFULL;
    } else {
        memcpy(added[have], folded, n + 1);
        atomic_store_explicit(&n_added, have + 1, memory_order_release);
    }
    pthread_mutex_unlock(&add_lock);
    return rc;
}

static inline void redact(tel_attr *a)
{
    a->type = TEL_ATTR_STRING;
    a->v.s = TEL_REDACTED;
    a->len = (uint32_t)(sizeof TEL_REDACTED - 1);
}

bool tel_redact_attr(tel_attr *a)
{
    if (!a || !tel_redact_key_denied(a->key)) return false;
    redact(a);
    return true;
}

/* The pass over attrs[0..n) with the generation read once. */
static inline size_t redact_all(tel_attr *attrs, size_t n, size_t gen)
{
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (attrs[i].key && denied_gen(attrs[i].key, gen)) {
            redact(&attrs[i]);
            r++;
        }
    }
    return r;
}

size_t tel_redact_attrs(tel_attr *attrs, size_t n)
{
    return attrs ? redact_all(attrs, n, atomic_load_explicit(&n_added, memory_order_acquire)) : 0;
}

void tel__span_data_redact(tel_span_data *d)
{
    size_t gen = atomic_load_explicit(&n_added, memory_order_acquire);
    redact_all(d->attrs, d->n_attrs, gen);
    tel_span_extra *x = d->extra;
    if (!x) return;
    redact_all(x->attrs, x->n_attrs, gen);
    for (uint32_t i = 0; i < x->n_events; i++)
        redact_all(x->events[i].attrs, x->events[i].n_attrs, gen);
    for (uint32_t i = 0; i < x->n_links; i++)
        redact_all(x->links[i].attrs, x->links[i].n_attrs, gen);
}
