/* Tracer provider, tracers and spans: the span hot path.
 *
 * Spans live in per-thread pools of fixed slots (no allocation per span once a pool has grown to
 * what the thread keeps in flight). A pool belongs to one thread at a time; when the thread
 * exits, the pool is parked and adopted by the next new thread, so slots of spans still live at
 * exit stay valid. Any thread may free a slot (its free-list link is published by the return
 * stack's CAS), and only the owning thread takes slots.
 *
 * A pool grows by chunks (up to POOL_MAX_CHUNKS) to the most spans its thread has live, queued
 * for export or being exported at once. Free slots are a list the owner pops and pushes without
 * atomics, most recently freed first (the slot a span start takes is still in this CPU's cache);
 * slots freed by other threads (a span ended elsewhere, a record the export thread is done with)
 * are pushed onto the pool's lock-free return stack, which the owner takes whole when its list
 * runs dry.
 *
 * A processor with on_end_keep (the batch processor, when it is the provider's last) keeps an
 * ended span's record in its slot: the slot goes to the export thread with it and comes back by
 * tel_span_record_done (onto the pool's return stack), so the application thread copies
 * nothing. In bench_http that took 300 instructions off a request with two spans; the slot comes
 * back cold in the producer's cache, but a copy went to lines just as cold (the queue buffers,
 * last read by the export thread). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "telemetry/clock.h"
#include "telemetry/env.h"
#include "telemetry/metrics.h"
#include "ids_internal.h"
#include "trace_internal.h"

#define POOL_SLOTS 64      /* slots per chunk */
#define POOL_MAX_CHUNKS 64 /* beyond 4096 slots taken a span is malloc'd */
#define POOL_MAX_SLOTS (POOL_SLOTS * POOL_MAX_CHUNKS)

typedef struct pool_chunk {
    tel_span_impl slots[POOL_SLOTS];
} pool_chunk;

/* Slots are numbered across the chunks (id: chunk * POOL_SLOTS + index); lists hold id + 1, 0
 * ending them. A slot's free-list link lives here, apart from the slot: inside the slot, the
 * export thread's write of it (for a kept record) would leave the slot's first line modified in
 * the other CPU's cache, to be fetched back by the next span start's first read of it (a
 * dependent miss on the request path: in a benchmark of two spans per iteration, 100 to 300 ns
 * of the producer's time). Slots given back by other threads are linked in rlink, not link: the
 * owner reads link at every span start (the list head's next), and a link line written on the
 * other CPU (32 links share one) made each of those reads a miss on the request path, about a
 * third of the span start's time on a machine whose CPUs are 150 ns apart. The owner moves a
 * returned chain from rlink to link once, when it takes the chain, after asking for every rlink
 * line at once (slot_take_returned). Whether slots are out (for the exit) is counted, not
 * flagged per slot: a flag array written by both threads would bounce its lines between them. */
struct span_pool {
    struct span_pool *next_all;  /* every pool ever made (freed at exit) */
    struct span_pool *next_idle; /* parked pools */
    uint32_t local;              /* free slots: owner thread only */
    uint32_t n_chunks;
    /* Slots taken and given back by the owner: written by the owner only (plain increments),
     * read at exit. */
    _Atomic uint64_t taken, given_local;
    pool_chunk *chunk[POOL_MAX_CHUNKS];
    /* Freed by other threads: pushed by CAS, taken whole, and counted. A line of their own: a
     * CAS per record the export thread gives back would otherwise take `local` (written by every
     * span start) away from the owner's CPU each time. */
    _Alignas(64) _Atomic uint32_t returned;
    _Atomic uint64_t given_remote;
    _Alignas(64) uint16_t link[POOL_MAX_SLOTS];  /* owner's list: the next free slot's id + 1 */
    _Alignas(64) uint16_t rlink[POOL_MAX_SLOTS]; /* the returned chain's, written by givers */
};

static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static span_pool *pools_all;
static span_pool *pools_idle;
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;
static _Thread_local span_pool *tls_pool;
static _Thread_local tel_span *tls_current;

struct tel_span tel__noop_span = {.noop = true, .recording = false};

static void pool_park(void *p)
{
    span_pool *pool = p;
    pthread_mutex_lock(&pools_lock);
    pool->next_idle = pools_idle;
    pools_idle = pool;
    pthread_mutex_unlock(&pools_lock);
}

static bool pool_busy(const span_pool *p)
{
    uint64_t given = atomic_load_explicit(&p->given_local, memory_order_acquire) +
                     atomic_load_explicit(&p->given_remote, memory_order_acquire);
    return atomic_load_explicit(&p->taken, memory_order_acquire) != given;
}

/* counter + 1, by its only writer. */
static inline void owner_count(_Atomic uint64_t *counter)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + 1,
                          memory_order_release);
}

/* At exit. A pool with a slot still taken (a span live at exit, or a record an export thread
 * that outlives main still holds) is left allocated: freeing it under that thread would be worse
 * than leaving it to the process's end. */
static void pools_free_all(void)
{
    pthread_mutex_lock(&pools_lock);
    span_pool **pp = &pools_all;
    while (*pp) {
        span_pool *p = *pp;
        if (pool_busy(p)) {
            pp = &p->next_all;
            continue;
        }
        *pp = p->next_all;
        for (uint32_t i = 0; i < p->n_chunks; i++)
            free(p->chunk[i]);
        free(p);
    }
    pools_idle = NULL;
    pthread_mutex_unlock(&pools_lock);
}

/* The lines of a slot that a span start and its attribute setters write: the header, the
 * inline attributes and the first line of the arena. */
#define SLOT_HOT_LINES (offsetof(tel_span_impl, d.arena) / 64 + 1)

#if defined(__x86_64__)
/* PREFETCHW (CPUID 0x80000001 ECX bit 8; every AMD64 CPU and Intel's since Broadwell): read
 * once, as the first pool is made. Without it the lines are fetched for reading. */
static bool have_prefetchw;
static void prefetchw_probe(void)
{
    unsigned a, b, c, d;
    have_prefetchw = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 8));
}
#endif

/* Asks for the hot lines of slot s, in the state for writing. A slot comes back from the export
 * thread (which read it on its own CPU) still in that CPU's cache: writing it from here waits on
 * the other copies being invalidated, at the span start or at the next atomic operation after it
 * (which waits for the pending stores). slot_take asks for the slot the span start after next
 * will take (for a request with two spans, the same span of the next request), so that the
 * invalidations happen while the request goes on. In bench_trace's bsp.handoff (a request's two
 * spans, the export thread on the other CPU) the median hand-off cost went from about 215 to 115
 * ns per span; in bench_http's service thread, about 0.9% of a request (paired runs). */
static inline void slot_prefetch(const tel_span_impl *s)
{
    const char *q = (const char *)s;
#if defined(__x86_64__)
    if (TEL_LIKELY(have_prefetchw)) {
        for (size_t l = 0; l < SLOT_HOT_LINES; l++)
            __asm__ volatile("prefetchw %0" ::"m"(q[64 * l]));
        return;
    }
#endif
    for (size_t l = 0; l < SLOT_HOT_LINES; l++)
        __builtin_prefetch(q + 64 * l, 1, 3);
}

static void pool_key_init(void)
{
#if defined(__x86_64__)
    prefetchw_probe();
#endif
    pthread_key_create(&pool_key, pool_park);
    atexit(pools_free_all);
}

static span_pool *pool_get(void)
{
    span_pool *p = tls_pool;
    if (TEL_LIKELY(p != NULL))
        return p;
    pthread_once(&pool_key_once, pool_key_init);
    pthread_mutex_lock(&pools_lock);
    p = pools_idle;
    if (p) {
        pools_idle = p->next_idle;
    } else {
        p = aligned_alloc(64, sizeof *p);
        if (p) {
            memset(p, 0, sizeof *p);
            atomic_init(&p->returned, 0);
            p->next_all = pools_all;
            pools_all = p;
        }
    }
    pthread_mutex_unlock(&pools_lock);
    if (!p)
        return NULL;
    tls_pool = p;
    pthread_setspecific(pool_key, p);
    return p;
}

/* Every slot of the pool is taken: a new chunk, its slots on the free list; returns the first's
 * id + 1 (0 at the cap or without memory). Owner thread only; the lock orders it with
 * pools_free_all. */
static uint32_t pool_grow(span_pool *p)
{
    if (p->n_chunks >= POOL_MAX_CHUNKS)
        return 0;
    pool_chunk *c = aligned_alloc(64, sizeof *c);
    if (!c)
        return 0;
    memset(c, 0, sizeof *c);
    uint32_t base = p->n_chunks * POOL_SLOTS;
    for (uint32_t i = 0; i < POOL_SLOTS; i++) {
        c->slots[i].pool = p;
        c->slots[i].id = (uint16_t)(base + i);
        p->link[base + i] = (uint16_t)(i + 1 < POOL_SLOTS ? base + i + 2 : 0);
    }
    pthread_mutex_lock(&pools_lock);
    p->chunk[p->n_chunks++] = c;
    pthread_mutex_unlock(&pools_lock);
    return base + 1;
}

/* The slot numbered id of pool p. */
static inline tel_span_impl *slot_at(span_pool *p, uint32_t id)
{
    return &p->chunk[id / POOL_SLOTS]->slots[id % POOL_SLOTS];
}

/* Takes the head (id1: its id + 1) off the owner's list of p. */
static inline tel_span_impl *slot_pop(span_pool *p, uint32_t id1)
{
    uint32_t id = id1 - 1;
    p->local = p->link[id];
    owner_count(&p->taken);
    tel_span_impl *s = slot_at(p, id);
    s->heap = false;
    return s;
}

/* Takes the chain other threads gave back (0: none) and makes it the owner's list: its links
 * copied from rlink to link. The rlink lines of the pool's slots (two per chunk) are asked for
 * first, all at once, so that the walk waits for the other CPU about once, not once per line. */
static uint32_t slot_take_returned(span_pool *p)
{
    uint32_t id1 = atomic_exchange_explicit(&p->returned, 0, memory_order_acquire);
    if (!id1)
        return 0;
    const char *r = (const char *)p->rlink;
    size_t bytes = (size_t)p->n_chunks * POOL_SLOTS * sizeof p->rlink[0];
    for (size_t o = 0; o < bytes; o += 64)
        __builtin_prefetch(r + o, 0, 3);
    for (uint32_t x = id1; x;) {
        uint32_t next = p->rlink[x - 1];
        p->link[x - 1] = (uint16_t)next;
        x = next;
    }
    return id1;
}

/* slot_take's other cases: no pool yet, the owner's list empty (the return stack taken whole,
 * or a new chunk), or no slot at all (a heap slot). */
static __attribute__((noinline)) tel_span_impl *slot_take_slow(void)
{
    span_pool *p = pool_get();
    uint32_t id1 = 0;
    if (TEL_LIKELY(p != NULL)) {
        id1 = p->local;
        if (!id1) {
            id1 = slot_take_returned(p);
            if (!id1)
                id1 = pool_grow(p);
        }
    }
    if (id1 != 0)
        return slot_pop(p, id1);
    tel_span_impl *s = aligned_alloc(64, sizeof *s);
    if (!s)
        return NULL;
    s->heap = true;
    s->pool = NULL;
    return s;
}

/* A free slot of the calling thread's pool: the head of the owner's list, inline (span starts
 * call it); asks for the slot after next (slot_prefetch). */
static inline tel_span_impl *slot_take(void)
{
    span_pool *p = tls_pool;
    uint32_t id1 = p ? p->local : 0;
    if (TEL_UNLIKELY(!id1))
        return slot_take_slow();
    tel_span_impl *s = slot_pop(p, id1);
    uint32_t after = p->local ? p->link[p->local - 1] : 0;
    if (TEL_LIKELY(after))
        slot_prefetch(slot_at(p, after - 1));
    return s;
}

static void slot_give(tel_span_impl *s)
{
    if (s->heap) {
        free(s);
        return;
    }
    span_pool *p = s->pool;
    uint32_t id = s->id;
    if (p == tls_pool) { /* the owner: its own list */
        p->link[id] = (uint16_t)p->local;
        p->local = id + 1;
        owner_count(&p->given_local);
        return;
    }
    uint32_t head = atomic_load_explicit(&p->returned, memory_order_relaxed);
    do {
        p->rlink[id] = (uint16_t)head;
    } while (!atomic_compare_exchange_weak_explicit(&p->returned, &head, id + 1,
                                                    memory_order_release, memory_order_relaxed));
    /* Counted last: once the count says every slot is back, no giver touches the pool. */
    atomic_fetch_add_explicit(&p->given_remote, 1, memory_order_release);
}

/* ---- Limits ---- */

void tel_span_limits_from_env(tel_span_limits *l)
{
    int64_t gen_count = tel_env_int("OTEL_ATTRIBUTE_COUNT_LIMIT", 128, 0, 1 << 20);
    int64_t gen_len = tel_env_int("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", 0, 0, 1 << 30);
    l->attribute_count =
        (uint32_t)tel_env_int("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", gen_count, 0, 1 << 20);
    l->attribute_value_length =
        (uint32_t)tel_env_int("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", gen_len, 0, 1 << 30);
    l->event_count = (uint32_t)tel_env_int("OTEL_SPAN_EVENT_COUNT_LIMIT", 128, 0, 1 << 20);
    l->link_count = (uint32_t)tel_env_int("OTEL_SPAN_LINK_COUNT_LIMIT", 128, 0, 1 << 20);
    l->attributes_per_event =
        (uint32_t)tel_env_int("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", gen_count, 0, 1 << 20);
    l->attributes_per_link =
        (uint32_t)tel_env_int("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", gen_count, 0, 1 << 20);
}

/* ---- Provider and tracers ---- */

tel_tracer_provider *tel_tracer_provider_create(const tel_tracer_provider_config *cfg)
{
    tel_tracer_provider *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    atomic_init(&p->shut_down, false);
    if (cfg && cfg->resource)
        p->resource = cfg->resource;
    else
        p->resource = tel_resource_from_env(NULL, NULL);
    if (cfg && cfg->has_sampler)
        p->sampler = cfg->sampler;
    else
        tel_sampler_from_env(&p->sampler);
    if (cfg && cfg->has_limits)
        p->limits = cfg->limits;
    else
        tel_span_limits_from_env(&p->limits);
    p->inline_attr_cap = p->limits.attribute_count < TEL_SPAN_INLINE_ATTRS
                             ? p->limits.attribute_count
                             : TEL_SPAN_INLINE_ATTRS;
    p->disabled = cfg && cfg->disabled;
    if (!p->resource) {
        free(p);
        return NULL;
    }
    return p;
}

int tel_tracer_provider_add_processor(tel_tracer_provider *p, tel_span_processor *proc)
{
    if (!p || !proc)
        return TEL_EINVAL;
    if (p->n_procs >= TEL_MAX_PROCESSORS)
        return TEL_EFULL;
    proc->resource = p->resource;
    p->procs[p->n_procs++] = proc;
    return TEL_OK;
}

static int64_t remaining_ms(uint64_t deadline)
{
    uint64_t now = tel_mono_ns();
    return now >= deadline ? 0 : (int64_t)((deadline - now) / 1000000u);
}

int tel_tracer_provider_force_flush(tel_tracer_provider *p, int64_t timeout_ms)
{
    if (!p)
        return TEL_EINVAL;
    uint64_t deadline = tel_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    int rc = TEL_OK;
    for (int i = 0; i < p->n_procs; i++) {
        int r = p->procs[i]->force_flush(p->procs[i], remaining_ms(deadline));
        if (r != TEL_OK && rc == TEL_OK)
            rc = r;
    }
    return rc;
}

int tel_tracer_provider_shutdown(tel_tracer_provider *p, int64_t timeout_ms)
{
    if (!p)
        return TEL_EINVAL;
    if (atomic_exchange(&p->shut_down, true))
        return TEL_OK;
    uint64_t deadline = tel_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    int rc = TEL_OK;
    for (int i = 0; i < p->n_procs; i++) {
        int r = p->procs[i]->shutdown(p->procs[i], remaining_ms(deadline));
        if (r != TEL_OK && rc == TEL_OK)
            rc = r;
    }
    return rc;
}

void tel_tracer_provider_destroy(tel_tracer_provider *p)
{
    if (!p)
        return;
    tel_tracer_provider_shutdown(p, 30000);
    for (int i = 0; i < p->n_procs; i++)
        p->procs[i]->destroy(p->procs[i]);
    tel_tracer_entry *t = p->tracers;
    while (t) {
        tel_tracer_entry *n = t->next;
        free(t->name);
        free(t->version);
        free(t);
        t = n;
    }
    tel_resource_destroy(p->resource);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

const tel_resource *tel_tracer_provider_resource(const tel_tracer_provider *p)
{
    return p ? p->resource : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

tel_tracer *tel_tracer_get(tel_tracer_provider *p, const char *name, const char *version)
{
    if (!p)
        return NULL;
    if (!name)
        name = "";
    pthread_mutex_lock(&p->lock);
    for (tel_tracer_entry *t = p->tracers; t; t = t->next) {
        if (str_eq(t->name, name) && str_eq(t->version, version)) {
            pthread_mutex_unlock(&p->lock);
            return &t->tracer;
        }
    }
    tel_tracer_entry *t = calloc(1, sizeof *t);
    if (t) {
        t->name = strdup(name);
        t->version = version ? strdup(version) : NULL;
        if (!t->name || (version && !t->version)) {
            free(t->name);
            free(t->version);
            free(t);
            t = NULL;
        }
    }
    if (!t) {
        pthread_mutex_unlock(&p->lock);
        return NULL;
    }
    t->tracer.enabled = !p->disabled;
    t->tracer.scope.name = t->name;
    t->tracer.scope.version = t->version;
    t->tracer.provider = p;
    t->next = p->tracers;
    p->tracers = t;
    pthread_mutex_unlock(&p->lock);
    return &t->tracer;
}

/* The span's key filter bits of a key address (see attr_slot): two of 64, from two parts of
 * one multiplicative hash, so that a span's dozen keys rarely cover a new key's pair (one bit
 * each made a fixed pair of literals collide on every span of a kind). */
static inline uint64_t key_bit(const char *key)
{
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
    return (1ull << (h >> 58)) | (1ull << ((h >> 52) & 63));
}

/* ---- Span start / end ---- */

/* Inlined into both starts: the call would cost more than the checks it shares. */
static inline __attribute__((always_inline)) tel_span_impl *
span_begin(tel_tracer *t, const char *name, tel_span_kind kind, const tel_context *parent)
{
    tel_tracer_provider *p = t->provider;
    if (TEL_UNLIKELY(atomic_load_explicit(&p->shut_down, memory_order_relaxed)))
        return NULL;
    tel_span_impl *s = slot_take();
    if (TEL_UNLIKELY(!s))
        return NULL;
    tel_span_data *d = &s->d;
    const tel_span_context *psc = NULL;
    if (parent && !tel_id_is_zero(parent->sc.trace_id, TEL_TRACE_ID_SIZE) &&
        !tel_id_is_zero(parent->sc.span_id, TEL_SPAN_ID_SIZE))
        psc = &parent->sc;
    if (psc) {
        memcpy(d->sc.trace_id, psc->trace_id, TEL_TRACE_ID_SIZE);
        memcpy(d->parent_span_id, psc->span_id, TEL_SPAN_ID_SIZE);
        d->has_parent = true;
        d->parent_remote = psc->remote;
        d->sc.flags = psc->flags & TEL_FLAG_RANDOM;
        d->ts = parent->ts ? tel_tracestate_ref(parent->ts) : NULL;
    } else {
        memset(d->parent_span_id, 0, TEL_SPAN_ID_SIZE);
        d->has_parent = false;
        d->parent_remote = false;
        d->sc.flags = TEL_FLAG_RANDOM;
        d->ts = NULL;
    }
    tel__ids_generate(psc ? NULL : d->sc.trace_id, d->sc.span_id);
    d->sc.remote = false;
    bool sampled;
    if (p->sampler.kind == TEL_SAMPLER_ALWAYS_ON)
        sampled = true;
    else if (p->sampler.kind == TEL_SAMPLER_PARENTBASED_ALWAYS_ON && psc)
        sampled = (psc->flags & TEL_FLAG_SAMPLED) != 0;
    else
        sampled = tel_sampler_should_sample(&p->sampler, psc, d->sc.trace_id);
    s->pub.noop = false;
    s->pub.recording = sampled;
    s->tracer = t;
    s->key_bloom = 0;
    s->attr_cap = (uint16_t)p->inline_attr_cap;
    s->defer_h = NULL;
    d->extra = NULL;
    if (!sampled)
        return s;
    d->sc.flags |= TEL_FLAG_SAMPLED;
    d->kind = (uint8_t)(kind ? kind : TEL_SPAN_KIND_INTERNAL);
    d->status = TEL_STATUS_UNSET;
    d->n_attrs = 0;
    d->arena_used = 0;
    d->dropped_attrs = d->dropped_events = d->dropped_links = 0;
    d->name = name;
    d->status_msg = NULL;
    d->scope = &t->scope;
    d->end_ns = 0;
    return s;
}

tel_span *tel__span_start(tel_tracer *t, const char *name, tel_span_kind kind,
                          const tel_context *parent)
{
    tel_span_impl *s = span_begin(t, name, kind, parent);
    if (TEL_UNLIKELY(!s))
        return &tel__noop_span;
    if (s->pub.recording)
        s->d.start_ns = tel_clock_now_ns();
    return &s->pub;
}

/* Whether an attribute can be stored by reference: a scalar or a string (its text outlives the
 * record by the caller's promise). */
static inline bool by_reference(const tel_attr *a)
{
    return a->key && a->type >= TEL_ATTR_STRING && a->type <= TEL_ATTR_DOUBLE &&
           (a->type != TEL_ATTR_STRING || a->v.s);
}

int tel_span_attr_set_init(tel_span_attr_set *set, const tel_attr *attrs, size_t n)
{
    if (!set)
        return TEL_EINVAL;
    memset(set, 0, sizeof *set);
    if (n > TEL_SPAN_ATTR_SET_MAX)
        return TEL_ETOOBIG;
    if (n && !attrs)
        return TEL_EINVAL;
    uint64_t filter = 0;
    for (size_t i = 0; i < n; i++) {
        if (!by_reference(&attrs[i]))
            return TEL_EINVAL;
        filter |= key_bit(attrs[i].key);
    }
    if (n)
        memcpy(set->attrs, attrs, n * sizeof *attrs);
    set->n = (uint8_t)n;
    set->filter = filter;
    return TEL_OK;
}

static inline tel_attr *attr_slot(tel_span_impl *s, const char *key);

_Static_assert(TEL_SPAN_ATTR_SET_MAX <= TEL_SPAN_INLINE_ATTRS && TEL_SPAN_ATTR_SET_MAX % 2 == 0,
               "a prepared set is copied whole into the inline attributes, in two halves");

/* A fresh span's prepared attributes: copied as a block when they fit the inline slots and no
 * value length limit applies (the first half of the array, and the second when n needs it:
 * fixed sizes the compiler copies in a few moves; the slots past n are unused); otherwise one by
 * one (a set attribute is truncated like any other, never copied). */
static void set_attr_set(tel_span_impl *s, const tel_span_attr_set *set)
{
    tel_span_data *d = &s->d;
    uint32_t n = set->n;
    if (TEL_LIKELY(d->n_attrs == 0 && n <= s->attr_cap &&
                   s->tracer->provider->limits.attribute_value_length == 0)) {
        enum { HALF = TEL_SPAN_ATTR_SET_MAX / 2 };
        memcpy(d->attrs, set->attrs, HALF * sizeof set->attrs[0]);
        if (n > HALF)
            memcpy(d->attrs + HALF, set->attrs + HALF, HALF * sizeof set->attrs[0]);
        d->n_attrs = (uint16_t)n;
        s->key_bloom |= set->filter;
        return;
    }
    uint32_t max_len = s->tracer->provider->limits.attribute_value_length;
    for (uint32_t i = 0; i < n; i++) {
        tel_attr *a = attr_slot(s, set->attrs[i].key);
        if (!a)
            continue;
        *a = set->attrs[i];
        if (a->type == TEL_ATTR_STRING && max_len)
            a->len = (uint32_t)tel__utf8_truncate(a->v.s, a->len, max_len);
    }
}

tel_span *tel_span_start_ex(tel_tracer *t, const tel_span_start_opts *o)
{
    if (!t || !t->enabled || !o || !o->name)
        return &tel__noop_span;
    tel_span_impl *s = span_begin(t, o->name, o->kind, o->parent);
    if (!s)
        return &tel__noop_span;
    if (!s->pub.recording)
        return &s->pub;
    s->d.start_ns = o->start_ns ? o->start_ns : tel_clock_now_ns();
    if (o->copy_name) {
        const char *c = tel__span_copy_str(&s->d, o->name, strlen(o->name), true);
        s->d.name = c ? c : "";
    }
    if (o->attr_set && o->attr_set->n)
        set_attr_set(s, o->attr_set);
    if (o->n_attrs | o->n_links) {
        for (size_t i = 0; i < o->n_attrs; i++)
            tel_span_set_attr(&s->pub, &o->attrs[i]);
        for (size_t i = 0; i < o->n_links; i++)
            tel_span_add_link(&s->pub, &o->links[i].sc, o->links[i].tracestate,
                              o->links[i].attrs, o->links[i].n_attrs);
    }
    return &s->pub;
}

/* An ended record to every processor but the last, each a copy (the last gets the record). Out
 * of line: the copy's frame would otherwise be set up on every span end. */
static __attribute__((noinline)) void end_to_others(tel_tracer_provider *p, const tel_span_data *d)
{
    for (int i = 0; i < p->n_procs - 1; i++) {
        tel_span_data copy;
        if (tel__span_data_clone(&copy, d)) {
            p->procs[i]->on_end(p->procs[i], &copy);
            tel_span_data_release(&copy);
        }
    }
}

void tel__span_end(tel_span *span, uint64_t end_ns)
{
    tel_span_impl *s = (tel_span_impl *)span;
    /* An ended span is nobody's current span (before the slot may go to the export thread). */
    if (tls_current == span)
        tls_current = NULL;
    if (s->pub.recording) {
        s->pub.recording = false;
        s->d.end_ns = end_ns ? end_ns : tel_clock_now_ns();
        if (TEL_UNLIKELY(s->d.end_ns < s->d.start_ns))
            s->d.end_ns = s->d.start_ns; /* never a negative duration */
        tel_tracer_provider *p = s->tracer->provider;
        int n = p->n_procs;
        if (TEL_UNLIKELY(n > 1))
            end_to_others(p, &s->d);
        if (n > 0) {
            tel_span_processor *last = p->procs[n - 1];
            if (last->on_end_keep) {
                /* The slot goes with the record, and so does a deferred measurement: it comes
                 * back by tel_span_record_done. */
                if (last->on_end_keep(last, &s->d))
                    return;
            } else {
                last->on_end(last, &s->d);
            }
        }
        if (TEL_UNLIKELY(s->defer_h != NULL))
            tel__span_settle(&s->d);
        tel_span_data_release(&s->d);
    } else if (s->d.ts) {
        tel_tracestate_unref(s->d.ts);
        s->d.ts = NULL;
    }
    slot_give(s);
}

bool tel_span_defer_duration(tel_span *span, tel_instrument *h, tel_bound_attrs *b,
                             double unit_per_ns)
{
    if (!span || !span->recording || !h || !b)
        return false;
    tel_span_impl *s = (tel_span_impl *)span;
    s->defer_h = h;
    s->defer_b = b;
    s->defer_unit = unit_per_ns;
    return true;
}

void tel__span_settle(tel_span_data *rec)
{
    tel_span_impl *s = tel__span_of_record(rec);
    tel_instrument *h = s->defer_h;
    if (!h)
        return;
    s->defer_h = NULL;
    /* Ended records never run backwards (tel__span_end clamps the end to the start). */
    double v = (double)(rec->end_ns - rec->start_ns) * s->defer_unit;
    tel_histogram_record_bound_at(h, s->defer_b, v, &rec->sc, rec->end_ns);
}

void tel_span_record_done(tel_span_data *rec)
{
    if (rec)
        slot_give(tel__span_of_record(rec));
}

tel_span_context tel_span_get_context(const tel_span *span)
{
    if (span->noop) {
        tel_span_context z;
        memset(&z, 0, sizeof z);
        return z;
    }
    return ((const tel_span_impl *)span)->d.sc;
}

tel_tracestate *tel_span_get_tracestate(const tel_span *span)
{
    if (span->noop)
        return NULL;
    return ((const tel_span_impl *)span)->d.ts;
}

/* ---- Attributes ---- */

static inline tel_span_impl *rec(tel_span *span)
{
    return span->recording ? (tel_span_impl *)span : NULL;
}

/* Whether a is one of the span's inline attributes. Only their strings may be copied into the
 * arena: when a record moves, the strings in the arena move with it and the inline attributes
 * are re-pointed (tel_span_data_move and the batch processor's hand-over), but nothing in the
 * extra block is; an extra attribute's string in the arena would point into the old record. */
static inline bool is_inline(const tel_span_impl *s, const tel_attr *a)
{
    return (uintptr_t)a - (uintptr_t)s->d.attrs < sizeof s->d.attrs;
}

/* attr_slot's other cases: a key whose filter bit is set (maybe set before), no inline slot
 * left, or an extra block in use. */
static __attribute__((noinline)) tel_attr *attr_slot_slow(tel_span_impl *s, const char *key,
                                                           uint64_t bit)
{
    tel_span_data *d = &s->d;
    if ((s->key_bloom & bit) == bit) {
        for (uint16_t i = 0; i < d->n_attrs; i++)
            if (d->attrs[i].key == key)
                return &d->attrs[i];
    }
    if (TEL_LIKELY(d->n_attrs < s->attr_cap && !d->extra)) {
        s->key_bloom |= bit;
        tel_attr *a = &d->attrs[d->n_attrs++];
        a->key = key;
        return a;
    }
    for (uint16_t i = 0; i < d->n_attrs; i++)
        if (strcmp(d->attrs[i].key, key) == 0)
            return &d->attrs[i];
    tel_span_extra *x = d->extra;
    if (x)
        for (uint32_t i = 0; i < x->n_attrs; i++)
            if (strcmp(x->attrs[i].key, key) == 0)
                return &x->attrs[i];
    const tel_span_limits *lim = &s->tracer->provider->limits;
    if (d->n_attrs < s->attr_cap) {
        s->key_bloom |= bit;
        tel_attr *a = &d->attrs[d->n_attrs++];
        a->key = key;
        return a;
    }
    if (tel_span_data_attr_count(d) >= lim->attribute_count) {
        d->dropped_attrs++;
        return NULL;
    }
    if (!x || x->n_attrs == x->cap_attrs) {
        uint32_t ncap = x && x->cap_attrs ? x->cap_attrs * 2 : 16;
        tel_attr *na = tel__span_extra_alloc(d, sizeof(tel_attr) * ncap);
        if (!na) {
            d->dropped_attrs++;
            return NULL;
        }
        x = d->extra;
        if (x->n_attrs)
            memcpy(na, x->attrs, sizeof(tel_attr) * x->n_attrs);
        x->attrs = na;
        x->cap_attrs = ncap;
    }
    tel_attr *a = &x->attrs[x->n_attrs++];
    a->key = key;
    return a;
}

/* Finds the slot for key: an existing attribute with that key, or a new one. NULL when the count
 * limit is reached (the drop is counted).
 *
 * Keys are usually literals, so the same key is the same pointer. Inline slots matched only by
 * pointer may hold the same key twice (equal text, different pointers); tel__span_data_dedupe
 * resolves that on the export thread, keeping the last value. A key whose filter bits are not
 * both in the span's filter is not among the inline keys: the common case, a key set once, appends
 * without a scan, inline here; everything else is attr_slot_slow (whose text comparisons need
 * no filter). */
static inline tel_attr *attr_slot_where(tel_span_impl *s, const char *key, bool *inl)
{
    tel_span_data *d = &s->d;
    uint64_t bit = key_bit(key);
    if (TEL_LIKELY((s->key_bloom & bit) != bit && d->n_attrs < s->attr_cap && !d->extra)) {
        s->key_bloom |= bit;
        tel_attr *a = &d->attrs[d->n_attrs++];
        a->key = key;
        *inl = true;
        return a;
    }
    tel_attr *a = attr_slot_slow(s, key, bit);
    *inl = a && is_inline(s, a);
    return a;
}

static inline tel_attr *attr_slot(tel_span_impl *s, const char *key)
{
    bool inl;
    return attr_slot_where(s, key, &inl);
}

void tel_span_set_int(tel_span *span, const char *key, int64_t value)
{
    tel_span_impl *s = rec(span);
    if (!s)
        return;
    tel_attr *a = attr_slot(s, key);
    if (a) {
        a->type = TEL_ATTR_INT;
        a->v.i = value;
    }
}

void tel_span_set_double(tel_span *span, const char *key, double value)
{
    tel_span_impl *s = rec(span);
    if (!s)
        return;
    tel_attr *a = attr_slot(s, key);
    if (a) {
        a->type = TEL_ATTR_DOUBLE;
        a->v.d = value;
    }
}

void tel_span_set_bool(tel_span *span, const char *key, bool value)
{
    tel_span_impl *s = rec(span);
    if (!s)
        return;
    tel_attr *a = attr_slot(s, key);
    if (a) {
        a->type = TEL_ATTR_BOOL;
        a->v.b = value;
    }
}

void tel_span_set_str_static(tel_span *span, const char *key, const char *value)
{
    tel_span_impl *s = rec(span);
    if (!s || !value)
        return;
    tel_attr *a = attr_slot(s, key);
    if (a) {
        size_t len = strlen(value);
        a->type = TEL_ATTR_STRING;
        a->len = (uint32_t)tel__utf8_truncate(value, len,
                                             s->tracer->provider->limits.attribute_value_length);
        a->v.s = value;
    }
}

void tel_span_set_strn_static(tel_span *span, const char *key, const char *value, size_t len)
{
    tel_span_impl *s = rec(span);
    if (!s || !value)
        return;
    tel_attr *a = attr_slot(s, key);
    if (a) {
        a->type = TEL_ATTR_STRING;
        a->len = (uint32_t)tel__utf8_truncate(value, len,
                                             s->tracer->provider->limits.attribute_value_length);
        a->v.s = value;
    }
}

void tel_span_set_strn(tel_span *span, const char *key, const char *value, size_t len)
{
    tel_span_impl *s = rec(span);
    if (!s || !value)
        return;
    bool inl;
    tel_attr *a = attr_slot_where(s, key, &inl);
    if (!a)
        return;
    uint32_t max_len = s->tracer->provider->limits.attribute_value_length;
    size_t n = tel__utf8_truncate(value, len, max_len);
    const char *c = TEL_LIKELY(inl) ? tel__span_copy_str_arena(&s->d, value, n) : NULL;
    if (TEL_UNLIKELY(!c))
        c = tel__span_copy_str(&s->d, value, n, inl);
    if (!c) {
        a->type = TEL_ATTR_STRING;
        a->len = 0;
        a->v.s = "";
        return;
    }
    a->type = TEL_ATTR_STRING;
    a->len = (uint32_t)n;
    a->v.s = c;
}

void tel_span_set_str(tel_span *span, const char *key, const char *value)
{
    if (value)
        tel_span_set_strn(span, key, value, strlen(value));
}

static void set_attr(tel_span *span, const tel_attr *attr, bool copy_key)
{
    tel_span_impl *s = rec(span);
    if (!s || !attr || !attr->key)
        return;
    const char *key = attr->key;
    if (copy_key) {
        /* In the arena only when the attribute will be inline (see is_inline): a new key is
         * never matched by pointer, and one matched by text keeps its old key. */
        key = tel__span_copy_str(&s->d, attr->key, strlen(attr->key),
                                 s->d.n_attrs < s->attr_cap);
        if (!key)
            return;
    }
    bool inl;
    tel_attr *a = attr_slot_where(s, key, &inl);
    if (!a)
        return;
    if (!tel__attr_copy_value(&s->d, a, attr, s->tracer->provider->limits.attribute_value_length,
                              inl)) {
        a->type = TEL_ATTR_STRING;
        a->len = 0;
        a->v.s = "";
    }
}

void tel_span_set_attr(tel_span *span, const tel_attr *attr)
{
    set_attr(span, attr, false);
}

void tel_span_set_attr_copy_key(tel_span *span, const tel_attr *attr)
{
    set_attr(span, attr, true);
}

/* Copies up to `limit` attributes into extra storage; returns the count kept. */
static uint32_t copy_attr_list(tel_span_impl *s, const tel_attr *in, size_t n, uint32_t limit,
                               tel_attr **out)
{
    uint32_t keep = n < limit ? (uint32_t)n : limit;
    *out = NULL;
    if (keep == 0)
        return 0;
    tel_attr *a = tel__span_extra_alloc(&s->d, sizeof(tel_attr) * keep);
    if (!a)
        return 0;
    uint32_t maxlen = s->tracer->provider->limits.attribute_value_length;
    uint32_t k = 0;
    for (uint32_t i = 0; i < keep; i++) {
        if (!in[i].key)
            continue;
        const char *key = tel__span_copy_str(&s->d, in[i].key, strlen(in[i].key), false);
        if (!key)
            break;
        a[k].key = key;
        if (!tel__attr_copy_value(&s->d, &a[k], &in[i], maxlen, false))
            break;
        k++;
    }
    *out = a;
    return k;
}

void tel_span_add_event_at(tel_span *span, const char *name, const tel_attr *attrs, size_t n,
                           uint64_t time_ns)
{
    tel_span_impl *s = rec(span);
    if (!s || !name)
        return;
    tel_span_data *d = &s->d;
    const tel_span_limits *lim = &s->tracer->provider->limits;
    if (tel_span_data_event_count(d) >= lim->event_count) {
        d->dropped_events++;
        return;
    }
    if (!tel__span_extra_alloc(d, 0)) {
        d->dropped_events++;
        return;
    }
    tel_span_extra *x = d->extra;
    if (x->n_events == x->cap_events) {
        uint32_t ncap = x->cap_events ? x->cap_events * 2 : 4;
        tel_event *ne = tel__span_extra_alloc(d, sizeof(tel_event) * ncap);
        if (!ne) {
            d->dropped_events++;
            return;
        }
        if (x->n_events)
            memcpy(ne, x->events, sizeof(tel_event) * x->n_events);
        x->events = ne;
        x->cap_events = ncap;
    }
    tel_event *e = &x->events[x->n_events];
    e->name = tel__span_copy_str(d, name, strlen(name), false);
    if (!e->name) {
        d->dropped_events++;
        return;
    }
    e->time_ns = time_ns ? time_ns : tel_clock_now_ns();
    e->n_attrs = copy_attr_list(s, attrs, n, lim->attributes_per_event, &e->attrs);
    e->dropped_attrs = (uint32_t)(n - e->n_attrs);
    x->n_events++;
}

void tel_span_add_event(tel_span *span, const char *name, const tel_attr *attrs, size_t n)
{
    tel_span_add_event_at(span, name, attrs, n, 0);
}

void tel_span_add_link(tel_span *span, const tel_span_context *sc, const char *tracestate,
                       const tel_attr *attrs, size_t n)
{
    tel_span_impl *s = rec(span);
    if (!s || !sc)
        return;
    tel_span_data *d = &s->d;
    const tel_span_limits *lim = &s->tracer->provider->limits;
    if (tel_span_data_link_count(d) >= lim->link_count) {
        d->dropped_links++;
        return;
    }
    if (!tel__span_extra_alloc(d, 0)) {
        d->dropped_links++;
        return;
    }
    tel_span_extra *x = d->extra;
    if (x->n_links == x->cap_links) {
        uint32_t ncap = x->cap_links ? x->cap_links * 2 : 4;
        tel_link *nl = tel__span_extra_alloc(d, sizeof(tel_link) * ncap);
        if (!nl) {
            d->dropped_links++;
            return;
        }
        if (x->n_links)
            memcpy(nl, x->links, sizeof(tel_link) * x->n_links);
        x->links = nl;
        x->cap_links = ncap;
    }
    tel_link *l = &x->links[x->n_links];
    l->sc = *sc;
    l->tracestate = NULL;
    if (tracestate && *tracestate) {
        l->tracestate = tel__span_copy_str(d, tracestate, strlen(tracestate), false);
        if (!l->tracestate) {
            d->dropped_links++;
            return;
        }
    }
    l->n_attrs = copy_attr_list(s, attrs, n, lim->attributes_per_link, &l->attrs);
    l->dropped_attrs = (uint32_t)(n - l->n_attrs);
    x->n_links++;
}

void tel_span_set_status(tel_span *span, tel_status_code code, const char *description)
{
    tel_span_impl *s = rec(span);
    if (!s || code == TEL_STATUS_UNSET || s->d.status == TEL_STATUS_OK)
        return;
    s->d.status = (uint8_t)code;
    s->d.status_msg = NULL;
    if (code == TEL_STATUS_ERROR && description && *description)
        s->d.status_msg = tel__span_copy_str(&s->d, description, strlen(description), true);
}

void tel_span_record_error(tel_span *span, const char *type, const char *message)
{
    if (!span->recording)
        return;
    tel_attr a[2];
    size_t n = 0;
    if (type)
        a[n++] = (tel_attr){.key = "exception.type",
                            .type = TEL_ATTR_STRING,
                            .len = (uint32_t)strlen(type),
                            .v.s = type};
    if (message)
        a[n++] = (tel_attr){.key = "exception.message",
                            .type = TEL_ATTR_STRING,
                            .len = (uint32_t)strlen(message),
                            .v.s = message};
    tel_span_add_event(span, "exception", a, n);
}

void tel_span_update_name(tel_span *span, const char *name)
{
    tel_span_impl *s = rec(span);
    if (!s || !name)
        return;
    const char *c = tel__span_copy_str(&s->d, name, strlen(name), true);
    if (c)
        s->d.name = c;
}

tel_span *tel_span_set_current(tel_span *span)
{
    tel_span *prev = tls_current;
    tls_current = (span && !span->noop) ? span : NULL;
    return prev;
}

tel_span *tel_span_current(void)
{
    return tls_current;
}
