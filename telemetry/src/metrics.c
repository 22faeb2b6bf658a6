/* Metrics core: meter provider, meters, instruments, recording and collection.
 *
 * Recording looks the attribute set up lock-free (metrics_internal.h) and updates the series
 * with atomics: int64 adds, CAS loops on double bits (sums, min, max), one atomic count per
 * histogram bucket (the point's count is their sum, taken at collection). Exemplars go into
 * fixed slots of the series (one per histogram bucket, one for other instruments). Nothing is
 * allocated once a series exists; a new series is created under the instrument's mutex. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "batch_internal.h"
#include "metrics_internal.h"
#include "telemetry/clock.h"
#include "telemetry/env.h"
#include "telemetry/trace.h"

static const double default_bounds[] = {0,   5,    10,   25,   50,   75,   100,  250,
                                        500, 750, 1000, 2500, 5000, 7500, 10000};
#define N_DEFAULT_BOUNDS (sizeof default_bounds / sizeof default_bounds[0])
#define MAX_BOUNDS 4096
#define DEFAULT_CARDINALITY_LIMIT 2000
#define MAX_CARDINALITY_LIMIT (1u << 24)

static const char overflow_key[] = "otel.metric.overflow";

static tel_meter_provider noop_provider = {.noop = true};
static struct tel_meter noop_meter = {.provider = &noop_provider};
static tel_instrument noop_instrument = {.rec = TEL__REC_NONE};

static atomic_uint_fast64_t warn_negative, warn_name, warn_dup, warn_bounds, warn_nomem,
    warn_overflow, warn_kind;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static tel_meter_provider *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* ---- Warnings ---- */

void tel__metrics_warn(atomic_uint_fast64_t *last, const char *fmt, ...)
{
    uint64_t now = tel_mono_ns();
    uint64_t prev = atomic_load_explicit(last, memory_order_relaxed);
    if (prev != 0 && now - prev < 10ull * 1000000000ull)
        return;
    if (!atomic_compare_exchange_strong(last, &prev, now))
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char esc[1100];
    size_t j = 0;
    for (const unsigned char *c = (const unsigned char *)msg; *c && j < sizeof esc - 8; c++) {
        if (*c == '"' || *c == '\\') {
            esc[j++] = '\\';
            esc[j++] = (char)*c;
        } else if (*c < 0x20) {
            j += (size_t)snprintf(esc + j, 7, "\\u%04x", *c);
        } else {
            esc[j++] = (char)*c;
        }
    }
    esc[j] = '\0';
    fprintf(stderr, "{\"level\":\"warn\",\"message\":\"%s\"}\n", esc);
}

/* ---- Double-valued atomics ---- */

/* double to int64 without undefined behaviour: truncation, saturation, NaN as 0. */
static inline int64_t d2i(double d)
{
    if (TEL_LIKELY(d > -9.2e18 && d < 9.2e18))
        return (int64_t)d;
    if (isnan(d))
        return 0;
    return d > 0 ? INT64_MAX : INT64_MIN;
}

static inline void atomic_add_double(_Atomic uint64_t *x, double v)
{
    uint64_t old = atomic_load_explicit(x, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(x, &old, tel__d2u(tel__u2d(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

static inline void atomic_min_double(_Atomic uint64_t *x, double v)
{
    uint64_t old = atomic_load_explicit(x, memory_order_relaxed);
    while (v < tel__u2d(old) && !atomic_compare_exchange_weak_explicit(x, &old, tel__d2u(v),
                                                                  memory_order_relaxed,
                                                                  memory_order_relaxed))
        ;
}

static inline void atomic_max_double(_Atomic uint64_t *x, double v)
{
    uint64_t old = atomic_load_explicit(x, memory_order_relaxed);
    while (v > tel__u2d(old) && !atomic_compare_exchange_weak_explicit(x, &old, tel__d2u(v),
                                                                  memory_order_relaxed,
                                                                  memory_order_relaxed))
        ;
}

/* ---- Series and tables ---- */

static tel__stable *table_new(uint32_t cap)
{
    tel__stable *t = calloc(1, sizeof *t + (size_t)cap * sizeof t->slots[0]);
    if (t)
        t->mask = cap - 1;
    return t;
}

static uint32_t series_ex_slots(const tel_instrument *in)
{
    if (in->ex_mode == 0 || in->rec == TEL__REC_OBSERVABLE)
        return 0;
    return in->rec == TEL__REC_HIST ? in->n_bounds + 1 : 1;
}

#define ALIGN_UP(x, a) (((x) + (a)-1) & ~(size_t)((a)-1))

static void series_reset_values(const tel_instrument *in, tel__series *s)
{
    atomic_store_explicit(&s->value, in->rec == TEL__REC_HIST || !in->is_int ? tel__d2u(0.0) : 0,
                          memory_order_relaxed);
    atomic_store_explicit(&s->min_bits, tel__d2u(INFINITY), memory_order_relaxed);
    atomic_store_explicit(&s->max_bits, tel__d2u(-INFINITY), memory_order_relaxed);
    atomic_store_explicit(&s->epoch, 0, memory_order_relaxed);
    if (s->counts)
        for (uint32_t b = 0; b <= in->n_bounds; b++)
            atomic_store_explicit(&s->counts[b], 0, memory_order_relaxed);
    for (uint32_t e = 0; e < s->n_ex; e++)
        atomic_store_explicit(&s->ex[e].seq, 0, memory_order_relaxed);
}

/* One block: the series, bucket counts, exemplar slots, attributes and their storage. */
static tel__series *series_new(const tel_instrument *in, const tel_attr *a, const uint8_t *denied,
                               size_t n, uint64_t hash)
{
    uint32_t n_ex = series_ex_slots(in);
    size_t n_counts = in->rec == TEL__REC_HIST ? in->n_bounds + 1 : 0;
    size_t off_counts = ALIGN_UP(sizeof(tel__series), 64);
    size_t off_ex = ALIGN_UP(off_counts + n_counts * sizeof(uint64_t), 64);
    size_t off_attrs = ALIGN_UP(off_ex + n_ex * sizeof(tel__exslot), 8);
    size_t off_keys = off_attrs + n * sizeof(tel_attr);
    size_t off_denied = off_keys + n * sizeof(char *);
    size_t off_mem = ALIGN_UP(off_denied + n, 8);
    size_t total = ALIGN_UP(off_mem + tel__attrs_copy_size(a, denied, n), 64);
    char *blk = aligned_alloc(64, total);
    if (!blk)
        return NULL;
    memset(blk, 0, total);
    tel__series *s = (tel__series *)(void *)blk;
    s->hash = hash;
    s->n_attrs = (uint32_t)n;
    s->n_ex = n_ex;
    s->counts = n_counts ? (_Atomic uint64_t *)(void *)(blk + off_counts) : NULL;
    s->ex = n_ex ? (tel__exslot *)(void *)(blk + off_ex) : NULL;
    s->attrs = (tel_attr *)(void *)(blk + off_attrs);
    s->orig_keys = (const char **)(void *)(blk + off_keys);
    s->denied = (uint8_t *)(blk + off_denied);
    char *mem = blk + off_mem;
    tel__attrs_copy(s->attrs, a, denied, n, &mem);
    for (size_t i = 0; i < n; i++) {
        s->orig_keys[i] = a[i].key;
        s->denied[i] = denied[i];
    }
    atomic_init(&s->next, NULL);
    atomic_init(&s->cells, NULL);
    series_reset_values(in, s);
    return s;
}

/* Under in->lock. */
static int table_insert(tel_instrument *in, tel__series *s)
{
    tel__stable *t = atomic_load_explicit(&in->table, memory_order_relaxed);
    if ((uint64_t)(in->n_in_table + 1) * 2 > (uint64_t)t->mask + 1) {
        tel__stable *nt = table_new((t->mask + 1) * 2);
        if (!nt)
            return TEL_ENOMEM;
        for (uint32_t i = 0; i <= t->mask; i++) {
            tel__series *x = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
            if (!x)
                continue;
            uint32_t j = (uint32_t)x->hash & nt->mask;
            while (atomic_load_explicit(&nt->slots[j], memory_order_relaxed))
                j = (j + 1) & nt->mask;
            atomic_init(&nt->slots[j], x);
        }
        nt->older = t;
        atomic_store_explicit(&in->table, nt, memory_order_release);
        t = nt;
    }
    uint32_t j = (uint32_t)s->hash & t->mask;
    while (atomic_load_explicit(&t->slots[j], memory_order_relaxed))
        j = (j + 1) & t->mask;
    atomic_store_explicit(&t->slots[j], s, memory_order_release);
    in->n_in_table++;
    return TEL_OK;
}

/* Under in->lock. */
static void list_append(tel_instrument *in, tel__series *s)
{
    if (in->tail)
        atomic_store_explicit(&in->tail->next, s, memory_order_release);
    else
        atomic_store_explicit(&in->head, s, memory_order_release);
    in->tail = s;
}

static tel__series *lookup_text(tel_instrument *in, const tel_attr *a, size_t n, uint64_t h)
{
    tel__stable *t = atomic_load_explicit(&in->table, memory_order_acquire);
    for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
        tel__series *s = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (!s)
            return NULL;
        if (s->hash == h && tel__series_match_unordered(s, a, n))
            return s;
    }
}

/* Under in->lock. */
static tel__series *use_overflow(tel_instrument *in)
{
    if (!atomic_load_explicit(&in->overflow_listed, memory_order_relaxed)) {
        if (table_insert(in, in->overflow) != TEL_OK)
            return NULL;
        list_append(in, in->overflow);
        atomic_store_explicit(&in->overflow_listed, true, memory_order_release);
        if (atomic_load_explicit(&in->n_series, memory_order_relaxed) >= in->limit)
            tel__metrics_warn(&warn_overflow,
                          "metric %s reached its cardinality limit of %u attribute sets; further "
                          "sets are aggregated into otel.metric.overflow=true",
                          in->name, in->limit);
    }
    return in->overflow;
}

tel__series *tel__series_slow(tel_instrument *in, const tel_attr *a, size_t n)
{
    tel_attr norm[TEL__MAX_SET_ATTRS];
    uint8_t denied[TEL__MAX_SET_ATTRS];
    size_t k = tel__attrs_normalize(a, n, norm, denied, TEL__MAX_SET_ATTRS);
    uint64_t h = tel__set_hash_text(norm, denied, k);
    tel__series *s = lookup_text(in, norm, k, h);
    if (s)
        return s;
    if (atomic_load_explicit(&in->n_series, memory_order_relaxed) >= in->limit &&
        atomic_load_explicit(&in->overflow_listed, memory_order_acquire))
        return in->overflow;
    /* The overflow set recorded explicitly is the overflow series itself. */
    bool is_overflow_set = h == in->overflow->hash &&
                           tel__series_match_unordered(in->overflow, norm, k);
    pthread_mutex_lock(&in->lock);
    s = lookup_text(in, norm, k, h);
    if (!s) {
        if (is_overflow_set ||
            atomic_load_explicit(&in->n_series, memory_order_relaxed) >= in->limit) {
            s = use_overflow(in);
        } else {
            s = series_new(in, norm, denied, k, h);
            if (s && table_insert(in, s) != TEL_OK) {
                free(s);
                s = NULL;
            }
            if (s) {
                list_append(in, s);
                atomic_fetch_add_explicit(&in->n_series, 1, memory_order_relaxed);
            }
        }
    }
    pthread_mutex_unlock(&in->lock);
    if (!s)
        tel__metrics_warn(&warn_nomem, "out of memory recording metric %s", in->name);
    return s;
}

/* ---- Exemplars ---- */

/* The exemplar filter: whether a measurement with span sc (NULL: none) may become an exemplar
 * (trace_based: only one in a sampled span). */
static inline bool exemplar_filter_passes(const tel_instrument *in, const tel_span_context *sc)
{
    return in->ex_mode != 1 ||
           (sc && tel_span_context_is_valid(sc) && tel_span_context_is_sampled(sc));
}

/* Keeps the measurement (value bits vbits) as slot's exemplar of s when the filter allows it:
 * sc is its span (NULL or invalid: none), time_ns its time (0: now). */
static void exemplar_keep(const tel_instrument *in, tel__series *s, uint32_t slot, uint64_t vbits,
                          const tel_span_context *sc, uint64_t time_ns)
{
    if (!exemplar_filter_passes(in, sc))
        return;
    bool has_span = sc && tel_span_context_is_valid(sc);
    tel__exslot *x = &s->ex[slot];
    unsigned seq = atomic_load_explicit(&x->seq, memory_order_relaxed);
    if ((seq & 1) || !atomic_compare_exchange_strong_explicit(&x->seq, &seq, seq + 1,
                                                              memory_order_relaxed,
                                                              memory_order_relaxed))
        return; /* another thread is writing this slot: keep its exemplar */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&x->time_ns, time_ns ? time_ns : tel_clock_now_ns(),
                          memory_order_relaxed);
    atomic_store_explicit(&x->value, vbits, memory_order_relaxed);
    atomic_store_explicit(&x->has_span, has_span, memory_order_relaxed);
    if (has_span) {
        uint64_t t0, t1, sid;
        memcpy(&t0, sc->trace_id, 8);
        memcpy(&t1, sc->trace_id + 8, 8);
        memcpy(&sid, sc->span_id, 8);
        atomic_store_explicit(&x->tid[0], t0, memory_order_relaxed);
        atomic_store_explicit(&x->tid[1], t1, memory_order_relaxed);
        atomic_store_explicit(&x->sid, sid, memory_order_relaxed);
    }
    atomic_store_explicit(&x->seq, seq + 2, memory_order_release);
}

/* The sampling draws: a thread's xorshift64* stream, seeded from the id generator; a uniform
 * double in (0, 1) (never 0 or 1: their logarithms are taken). */
static _Thread_local uint64_t ex_rng;

static double ex_unit(void)
{
    uint64_t x = ex_rng;
    if (TEL_UNLIKELY(x == 0))
        x = tel_random_u64() | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ex_rng = x;
    return ((double)((x * 0x2545F4914F6CDD1Dull) >> 11) + 0.5) * 0x1p-53;
}

/* Moves the reservoir of slot x on from its measurement number c (1: the interval's first), which
 * replaced the exemplar: draws how many measurements to skip before the next replacement.
 * Li's algorithm L for a reservoir of one: W starts as a uniform draw and is multiplied by one
 * at each replacement; the skip is floor(log(u) / log(1 - W)). That keeps the same uniform pick
 * of the interval's measurements as replacing the nth with probability 1/n, but a measurement
 * that is not picked costs a comparison instead of a random draw, and only about ln(n) of an
 * interval's n measurements draw at all. Racing threads may both replace, or skip a little too
 * far: that only skews a pick slightly. */
static __attribute__((noinline)) void reservoir_advance(tel__exslot *x, uint64_t c)
{
    double w = c == 1 ? ex_unit()
                      : tel__u2d(atomic_load_explicit(&x->w_bits, memory_order_relaxed)) * ex_unit();
    double skip = floor(log(ex_unit()) / log1p(-w));
    uint64_t next = !(skip < 0x1p62) ? UINT64_MAX : c + (uint64_t)skip + 1;
    atomic_store_explicit(&x->w_bits, tel__d2u(w), memory_order_relaxed);
    atomic_store_explicit(&x->next, next, memory_order_relaxed);
}

/* Whether measurement number c (1: the interval's first) of slot x's reservoir replaces its
 * exemplar: the first always does, then those reservoir_advance picked. */
static inline bool reservoir_pick(tel__exslot *x, uint64_t c)
{
    if (TEL_LIKELY(c > 1 && c < atomic_load_explicit(&x->next, memory_order_relaxed)))
        return false;
    reservoir_advance(x, c);
    return true;
}

/* Whether a histogram measurement replaces its bucket's exemplar (slot x), prev being the
 * bucket's count before it: the measurement's number in the interval is its bucket's count since
 * the last collection, and the reservoir picks a uniform one of them (the spec's aligned
 * histogram bucket reservoir). */
static inline bool exemplar_sampled_from(tel__exslot *x, uint64_t prev, uint64_t base)
{
    /* prev below base: a collection raced this measurement; it counts as the first. */
    return reservoir_pick(x, prev < base ? 1 : prev - base + 1);
}

static inline bool exemplar_sampled(tel__exslot *x, uint64_t prev)
{
    return exemplar_sampled_from(x, prev, atomic_load_explicit(&x->base, memory_order_relaxed));
}

/* Whether a sum's measurement that passed the filter replaces the series' exemplar (the spec's
 * SimpleFixedSizeExemplarReservoir of one, picked like a histogram bucket's). The count is
 * advanced with a relaxed load and store rather than an atomic add: two racing threads may count
 * as one, which only skews that pick a little. */
static inline bool sum_exemplar_sampled(tel__exslot *x)
{
    uint64_t n = atomic_load_explicit(&x->base, memory_order_relaxed) + 1;
    atomic_store_explicit(&x->base, n, memory_order_relaxed);
    return reservoir_pick(x, n);
}

/* The calling thread's current span context into *sc: sc, or NULL when there is no span. */
static inline const tel_span_context *current_context(tel_span_context *sc)
{
    tel_span *cur = tel_span_current();
    if (!cur)
        return NULL;
    *sc = tel_span_get_context(cur);
    return sc;
}

/* A sum's measurement offered to its reservoir with the calling thread's current span: the
 * filter first (trace_based: a sampled current span), then the draw, and only a kept one reads
 * the clock and writes the slot. */
static void sum_exemplar_offer(const tel_instrument *in, tel__series *s, uint64_t vbits)
{
    tel_span_context buf;
    const tel_span_context *sc = current_context(&buf);
    if (exemplar_filter_passes(in, sc) && sum_exemplar_sampled(&s->ex[0]))
        exemplar_keep(in, s, 0, vbits, sc, 0);
}

/* exemplar_keep with the calling thread's current span, now. */
static void exemplar_offer(const tel_instrument *in, tel__series *s, uint32_t slot, uint64_t vbits)
{
    tel_span_context buf;
    exemplar_keep(in, s, slot, vbits, current_context(&buf), 0);
}

static bool exemplar_read(tel__exslot *x, bool is_int, tel_exemplar *out)
{
    for (int tries = 0; tries < 8; tries++) {
        unsigned s1 = atomic_load_explicit(&x->seq, memory_order_acquire);
        if (s1 == 0)
            return false;
        if (s1 & 1)
            continue;
        uint64_t t = atomic_load_explicit(&x->time_ns, memory_order_relaxed);
        uint64_t v = atomic_load_explicit(&x->value, memory_order_relaxed);
        bool hs = atomic_load_explicit(&x->has_span, memory_order_relaxed);
        uint64_t t0 = atomic_load_explicit(&x->tid[0], memory_order_relaxed);
        uint64_t t1 = atomic_load_explicit(&x->tid[1], memory_order_relaxed);
        uint64_t sid = atomic_load_explicit(&x->sid, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&x->seq, memory_order_relaxed) != s1)
            continue;
        memset(out, 0, sizeof *out);
        out->time_ns = t;
        out->is_int = is_int;
        if (is_int)
            out->value.i = (int64_t)v;
        else
            out->value.d = tel__u2d(v);
        out->has_span = hs;
        if (hs) {
            memcpy(out->trace_id, &t0, 8);
            memcpy(out->trace_id + 8, &t1, 8);
            memcpy(out->span_id, &sid, 8);
        }
        return true;
    }
    return false;
}

/* ---- Recording ---- */

/* The bucket of v: the first bound b[i] with v <= b[i], n when none. Durations mostly fall in
 * the first buckets: those are scanned in order (one compare for the first), the rest searched
 * by halves. */
static inline uint32_t bucket_of(const double *b, uint32_t n, double v)
{
    enum { SCAN = 4 };
    uint32_t scan = n < SCAN ? n : SCAN;
    for (uint32_t i = 0; i < scan; i++)
        if (v <= b[i])
            return i;
    uint32_t lo = scan, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) >> 1;
        if (v <= b[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void warn_negative_add(const tel_instrument *c)
{
    tel__metrics_warn(&warn_negative, "counter %s: negative or NaN increment ignored", c->name);
}

void tel_counter_add(tel_instrument *c, double value, const tel_attr *attrs, size_t n)
{
    if (TEL_UNLIKELY(c->rec != TEL__REC_SUM))
        return;
    if (TEL_UNLIKELY(c->monotonic ? !(value >= 0) : isnan(value))) {
        warn_negative_add(c);
        return;
    }
    tel__series *s = tel__series_get(c, attrs, n);
    if (TEL_UNLIKELY(!s))
        return;
    uint64_t vbits;
    if (c->is_int) {
        int64_t iv = d2i(value);
        atomic_fetch_add_explicit(&s->value, (uint64_t)iv, memory_order_relaxed);
        vbits = (uint64_t)iv;
    } else {
        atomic_add_double(&s->value, value);
        vbits = tel__d2u(value);
    }
    if (TEL_UNLIKELY(c->ex_mode))
        sum_exemplar_offer(c, s, vbits);
}

/* x += v by x's only writer (a cell's owner thread): no atomic read-modify-write. */
static inline void own_add(_Atomic uint64_t *x, uint64_t v)
{
    atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

static inline void own_add_double(_Atomic uint64_t *x, double v)
{
    atomic_store_explicit(x, tel__d2u(tel__u2d(atomic_load_explicit(x, memory_order_relaxed)) + v),
                          memory_order_relaxed);
}

/* Adds value to the sum at x, c's integer or double (the series s's shared value with an atomic
 * operation, or, when owned, a cell's by its only writer), and offers it as s's exemplar. */
static inline void counter_add_int_at(tel_instrument *c, tel__series *s, _Atomic uint64_t *x,
                                      bool owned, int64_t value)
{
    uint64_t vbits;
    if (TEL_LIKELY(c->is_int)) {
        vbits = (uint64_t)value;
        if (owned)
            own_add(x, vbits);
        else
            atomic_fetch_add_explicit(x, vbits, memory_order_relaxed);
    } else {
        double d = (double)value;
        vbits = tel__d2u(d);
        if (owned)
            own_add_double(x, d);
        else
            atomic_add_double(x, d);
    }
    if (TEL_UNLIKELY(c->ex_mode))
        sum_exemplar_offer(c, s, vbits);
}

/* Whether an integer add of value to c is allowed: a sum instrument, and no negative value for a
 * monotonic one (warned). */
static inline bool int_add_allowed(tel_instrument *c, int64_t value)
{
    if (TEL_UNLIKELY(c->rec != TEL__REC_SUM))
        return false;
    if (TEL_UNLIKELY(c->monotonic && value < 0)) {
        warn_negative_add(c);
        return false;
    }
    return true;
}

void tel_counter_add_int(tel_instrument *c, int64_t value, const tel_attr *attrs, size_t n)
{
    if (!int_add_allowed(c, value))
        return;
    tel__series *s = tel__series_get(c, attrs, n);
    if (TEL_UNLIKELY(!s))
        return;
    counter_add_int_at(c, s, &s->value, false, value);
}

void tel_counter_add_int_bound(tel_instrument *c, tel_bound_attrs *b, int64_t value)
{
    if (TEL_UNLIKELY(!b) || !int_add_allowed(c, value))
        return;
    tel__series *s = (tel__series *)b;
    tel__cell *cell = tel__cell_get(c, s);
    if (TEL_LIKELY(cell != NULL))
        counter_add_int_at(c, s, &cell->value, true, value);
    else
        counter_add_int_at(c, s, &s->value, false, value);
}

/* Counts value into s; returns its bucket, *prev the bucket's count before. */
static inline uint32_t histogram_count(tel_instrument *h, tel__series *s, double value,
                                       uint64_t *prev)
{
    uint32_t b = bucket_of(h->bounds, h->n_bounds, value);
    *prev = atomic_fetch_add_explicit(&s->counts[b], 1, memory_order_relaxed);
    atomic_add_double(&s->value, value);
    atomic_min_double(&s->min_bits, value);
    atomic_max_double(&s->max_bits, value);
    return b;
}

/* histogram_count into the calling thread's cell c of s (its only writer); whether the
 * measurement replaces its bucket's exemplar, judged on the thread's own bucket count since the
 * last collection. Returns the bucket in *bucket. */
static inline bool histogram_count_own(const tel_instrument *h, tel__cell *c, double value,
                                       uint32_t *bucket, tel__series *s)
{
    uint32_t b = bucket_of(h->bounds, h->n_bounds, value);
    uint64_t prev = atomic_load_explicit(&c->n[b], memory_order_relaxed);
    atomic_store_explicit(&c->n[b], prev + 1, memory_order_relaxed);
    own_add_double(&c->value, value);
    if (value < tel__u2d(atomic_load_explicit(&c->min_bits, memory_order_relaxed)))
        atomic_store_explicit(&c->min_bits, tel__d2u(value), memory_order_relaxed);
    if (value > tel__u2d(atomic_load_explicit(&c->max_bits, memory_order_relaxed)))
        atomic_store_explicit(&c->max_bits, tel__d2u(value), memory_order_relaxed);
    *bucket = b;
    return TEL_UNLIKELY(h->ex_mode) &&
           exemplar_sampled_from(
               &s->ex[b], prev,
               atomic_load_explicit(&c->n[h->n_bounds + 1 + b], memory_order_relaxed));
}

static inline void histogram_record(tel_instrument *h, tel__series *s, double value)
{
    uint64_t prev;
    uint32_t b = histogram_count(h, s, value, &prev);
    if (TEL_UNLIKELY(h->ex_mode) && exemplar_sampled(&s->ex[b], prev))
        exemplar_offer(h, s, b, tel__d2u(value));
}

void tel_histogram_record(tel_instrument *h, double value, const tel_attr *attrs, size_t n)
{
    if (TEL_UNLIKELY(h->rec != TEL__REC_HIST) || TEL_UNLIKELY(isnan(value)))
        return;
    tel__series *s = tel__series_get(h, attrs, n);
    if (TEL_UNLIKELY(!s))
        return;
    histogram_record(h, s, value);
}

/* Counts value into bound series s: into the calling thread's cell when it has one, else into
 * s itself. True when the measurement replaces its bucket's exemplar (*bucket). */
static inline bool histogram_count_bound(tel_instrument *h, tel__series *s, double value,
                                         uint32_t *bucket)
{
    tel__cell *c = tel__cell_get(h, s);
    if (TEL_LIKELY(c != NULL))
        return histogram_count_own(h, c, value, bucket, s);
    uint64_t prev;
    *bucket = histogram_count(h, s, value, &prev);
    return TEL_UNLIKELY(h->ex_mode) && exemplar_sampled(&s->ex[*bucket], prev);
}

void tel_histogram_record_bound(tel_instrument *h, tel_bound_attrs *b, double value)
{
    if (TEL_UNLIKELY(!b || h->rec != TEL__REC_HIST) || TEL_UNLIKELY(isnan(value)))
        return;
    tel__series *s = (tel__series *)b;
    uint32_t bucket;
    if (histogram_count_bound(h, s, value, &bucket))
        exemplar_offer(h, s, bucket, tel__d2u(value));
}

void tel_histogram_record_bound_at(tel_instrument *h, tel_bound_attrs *b, double value,
                                   const tel_span_context *sc, uint64_t time_ns)
{
    if (TEL_UNLIKELY(!b || h->rec != TEL__REC_HIST) || TEL_UNLIKELY(isnan(value)))
        return;
    tel__series *s = (tel__series *)b;
    uint32_t bucket;
    if (histogram_count_bound(h, s, value, &bucket))
        exemplar_keep(h, s, bucket, tel__d2u(value), sc, time_ns);
}

tel_bound_attrs *tel_instrument_bind(tel_instrument *in, const tel_attr *attrs, size_t n)
{
    if (!in || (in->rec != TEL__REC_SUM && in->rec != TEL__REC_HIST))
        return NULL;
    tel__series *s = tel__series_get(in, attrs, n);
    if (s && !atomic_load_explicit(&s->cells, memory_order_acquire)) {
        /* Without cells (no memory) the set is still recorded into, with atomic operations. */
        pthread_mutex_lock(&in->lock);
        (void)tel__cells_enable(s);
        pthread_mutex_unlock(&in->lock);
    }
    return (tel_bound_attrs *)s;
}

static void gauge_store(tel_instrument *g, tel__series *s, uint64_t bits)
{
    atomic_store_explicit(&s->value, bits, memory_order_relaxed);
    if (TEL_UNLIKELY(!atomic_load_explicit(&s->epoch, memory_order_relaxed)))
        atomic_store_explicit(&s->epoch, 1, memory_order_release);
    if (TEL_UNLIKELY(g->ex_mode))
        exemplar_offer(g, s, 0, bits);
}

void tel_gauge_set(tel_instrument *g, double value, const tel_attr *attrs, size_t n)
{
    if (TEL_UNLIKELY(g->rec != TEL__REC_GAUGE))
        return;
    tel__series *s = tel__series_get(g, attrs, n);
    if (TEL_UNLIKELY(!s))
        return;
    gauge_store(g, s, g->is_int ? (uint64_t)d2i(value) : tel__d2u(value));
}

void tel_gauge_set_int(tel_instrument *g, int64_t value, const tel_attr *attrs, size_t n)
{
    if (TEL_UNLIKELY(g->rec != TEL__REC_GAUGE))
        return;
    tel__series *s = tel__series_get(g, attrs, n);
    if (TEL_UNLIKELY(!s))
        return;
    gauge_store(g, s, g->is_int ? (uint64_t)value : tel__d2u((double)value));
}

static void observe(tel_observer *obs, uint64_t bits, const tel_attr *attrs, size_t n)
{
    tel__series *s = tel__series_get(obs->in, attrs, n);
    if (!s)
        return;
    atomic_store_explicit(&s->value, bits, memory_order_relaxed);
    atomic_store_explicit(&s->epoch, obs->epoch, memory_order_release);
}

void tel_observe_int(tel_observer *obs, int64_t value, const tel_attr *attrs, size_t n)
{
    if (!obs || !obs->in)
        return;
    observe(obs, obs->in->is_int ? (uint64_t)value : tel__d2u((double)value), attrs, n);
}

void tel_observe_double(tel_observer *obs, double value, const tel_attr *attrs, size_t n)
{
    if (!obs || !obs->in)
        return;
    observe(obs, obs->in->is_int ? (uint64_t)d2i(value) : tel__d2u(value), attrs, n);
}

/* ---- Provider and meters ---- */

static void atfork_prepare(void)
{
    tel__recorders_atfork_prepare();
    pthread_mutex_lock(&registry_lock);
    for (tel_meter_provider *p = registry; p; p = p->next_all) {
        pthread_mutex_lock(&p->lock);
        for (tel_instrument *in = p->instruments; in; in = in->next)
            pthread_mutex_lock(&in->lock);
        tel__readers_atfork_prepare(p);
    }
}

static void atfork_parent(void)
{
    for (tel_meter_provider *p = registry; p; p = p->next_all) {
        tel__readers_atfork_parent(p);
        for (tel_instrument *in = p->instruments; in; in = in->next)
            pthread_mutex_unlock(&in->lock);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&registry_lock);
    tel__recorders_atfork_parent();
}

/* The child starts an empty pipeline: every series back to zero (attribute sets are kept), a
 * new start time, fresh locks and reader threads. */
static void atfork_child(void)
{
    for (tel_meter_provider *p = registry; p; p = p->next_all) {
        p->start_ns = tel_now_ns();
        for (tel_instrument *in = p->instruments; in; in = in->next) {
            for (tel__series *s = atomic_load(&in->head); s; s = atomic_load(&s->next)) {
                series_reset_values(in, s);
                tel__cells_reset(in, s);
            }
            pthread_mutex_init(&in->lock, NULL);
        }
        pthread_mutex_init(&p->collect_lock, NULL);
        pthread_mutex_init(&p->lock, NULL);
        tel__readers_atfork_child(p);
    }
    pthread_mutex_init(&registry_lock, NULL);
    tel__recorders_atfork_child();
}

static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static tel_exemplar_filter filter_from_env(void)
{
    const char *v = tel_env_str("OTEL_METRICS_EXEMPLAR_FILTER");
    if (!v)
        return TEL_EXEMPLAR_TRACE_BASED;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t len = strlen(v);
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 11 && strncasecmp(v, "trace_based", 11) == 0)
        return TEL_EXEMPLAR_TRACE_BASED;
    if (len == 9 && strncasecmp(v, "always_on", 9) == 0)
        return TEL_EXEMPLAR_ALWAYS_ON;
    if (len == 10 && strncasecmp(v, "always_off", 10) == 0)
        return TEL_EXEMPLAR_ALWAYS_OFF;
    fprintf(stderr,
            "{\"level\":\"warn\",\"message\":\"invalid OTEL_METRICS_EXEMPLAR_FILTER, using "
            "trace_based\"}\n");
    return TEL_EXEMPLAR_TRACE_BASED;
}

tel_meter_provider *tel_meter_provider_create(const tel_meter_provider_config *cfg)
{
    if ((cfg && cfg->disabled) || tel_env_bool("OTEL_SDK_DISABLED", false))
        return &noop_provider;
    tel_meter_provider *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (cfg && cfg->resource) {
        p->resource = cfg->resource;
    } else {
        p->own_resource = tel_resource_from_env(NULL, NULL);
        if (!p->own_resource) {
            free(p);
            return NULL;
        }
        p->resource = p->own_resource;
    }
    p->cardinality_limit = cfg && cfg->cardinality_limit ? cfg->cardinality_limit
                                                         : DEFAULT_CARDINALITY_LIMIT;
    if (p->cardinality_limit > MAX_CARDINALITY_LIMIT)
        p->cardinality_limit = MAX_CARDINALITY_LIMIT;
    p->filter = cfg && cfg->has_exemplar_filter ? cfg->exemplar_filter : filter_from_env();
    p->start_ns = tel_now_ns();
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->collect_lock, NULL);
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&registry_lock);
    p->next_all = registry;
    registry = p;
    pthread_mutex_unlock(&registry_lock);
    return p;
}

int tel_meter_provider_force_flush(tel_meter_provider *p, int64_t timeout_ms)
{
    if (!p || p->noop)
        return TEL_OK;
    uint64_t deadline = tel_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
    int rc = TEL_OK;
    pthread_mutex_lock(&p->lock);
    int n = p->n_readers;
    struct tel__reader *rs[TEL__MAX_READERS];
    memcpy(rs, p->readers, sizeof rs);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < n; i++) {
        uint64_t now = tel_mono_ns();
        int64_t left = now < deadline ? (int64_t)((deadline - now) / 1000000u) : 0;
        int r = tel__reader_force_flush(rs[i], left);
        if (r != TEL_OK && rc == TEL_OK)
            rc = r;
    }
    return rc;
}

int tel_meter_provider_shutdown(tel_meter_provider *p, int64_t timeout_ms)
{
    if (!p || p->noop)
        return TEL_OK;
    if (atomic_exchange(&p->shut_down, true))
        return TEL_OK;
    uint64_t deadline = tel_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
    int rc = TEL_OK;
    pthread_mutex_lock(&p->lock);
    int n = p->n_readers;
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < n; i++) {
        uint64_t now = tel_mono_ns();
        int64_t left = now < deadline ? (int64_t)((deadline - now) / 1000000u) : 0;
        int r = tel__reader_shutdown(p->readers[i], left);
        if (r != TEL_OK && rc == TEL_OK)
            rc = r;
    }
    return rc;
}

static void instrument_free(tel_instrument *in)
{
    tel__series *s = atomic_load(&in->head);
    while (s) {
        tel__series *next = atomic_load(&s->next);
        tel__cells_free(s);
        free(s);
        s = next;
    }
    if (!atomic_load(&in->overflow_listed)) {
        tel__cells_free(in->overflow);
        free(in->overflow);
    }
    tel__stable *t = atomic_load(&in->table);
    while (t) {
        tel__stable *older = t->older;
        free(t);
        t = older;
    }
    if (in->bounds != default_bounds)
        free((void *)in->bounds);
    pthread_mutex_destroy(&in->lock);
    free(in->name);
    free(in->unit);
    free(in->description);
    free(in);
}

void tel_meter_provider_destroy(tel_meter_provider *p)
{
    if (!p || p->noop)
        return;
    pthread_mutex_lock(&registry_lock);
    for (tel_meter_provider **pp = &registry; *pp; pp = &(*pp)->next_all)
        if (*pp == p) {
            *pp = p->next_all;
            break;
        }
    pthread_mutex_unlock(&registry_lock);
    /* Each reader bounds its own shutdown by its export timeout. */
    atomic_store(&p->shut_down, true);
    for (int i = 0; i < p->n_readers; i++) {
        tel__reader_shutdown(p->readers[i], -1);
        tel__reader_destroy(p->readers[i]);
    }
    /* Queued spans whose durations are deferred point at the instruments: recorded now, before
     * the instruments are freed (taking them later records nothing). */
    tel__batch_settle_all();
    tel_instrument *in = p->instruments;
    while (in) {
        tel_instrument *next = in->next;
        instrument_free(in);
        in = next;
    }
    struct tel_meter *m = p->meters;
    while (m) {
        struct tel_meter *next = m->next;
        free(m->name);
        free(m->version);
        free(m);
        m = next;
    }
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->collect_lock);
    tel_resource_destroy(p->own_resource);
    free(p);
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

tel_meter *tel_meter_get(tel_meter_provider *p, const char *name, const char *version)
{
    if (!p || p->noop)
        return &noop_meter;
    if (!name)
        name = "";
    if (version && !*version)
        version = NULL;
    pthread_mutex_lock(&p->lock);
    struct tel_meter *m = p->meters, *last = NULL;
    for (; m; last = m, m = m->next)
        if (strcmp(m->name, name) == 0 && str_eq(m->version, version))
            break;
    if (!m) {
        m = calloc(1, sizeof *m);
        if (m) {
            m->provider = p;
            m->name = strdup(name);
            m->version = version ? strdup(version) : NULL;
            if (!m->name || (version && !m->version)) {
                free(m->name);
                free(m->version);
                free(m);
                m = NULL;
            } else if (last) {
                last->next = m;
            } else {
                p->meters = m;
            }
        }
    }
    pthread_mutex_unlock(&p->lock);
    return m ? m : &noop_meter;
}

/* ---- Instruments ---- */

static bool valid_name(const char *name)
{
    if (!name || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
        return false;
    size_t i = 1;
    for (; name[i]; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == '/'))
            return false;
    }
    return i <= 255;
}

static bool valid_kind(tel_instrument_kind kind)
{
    return kind >= TEL_INSTR_COUNTER && kind <= TEL_INSTR_OBSERVABLE_GAUGE;
}

static bool is_observable(tel_instrument_kind kind)
{
    return kind >= TEL_INSTR_OBSERVABLE_COUNTER;
}

static bool valid_bounds(const double *b, uint32_t n)
{
    if (n > MAX_BOUNDS)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if (!isfinite(b[i]))
            return false;
        if (i && !(b[i] > b[i - 1]))
            return false;
    }
    return true;
}

static bool same_bounds(const tel_instrument *in, const double *b, uint32_t n)
{
    return in->n_bounds == n && (n == 0 || memcmp(in->bounds, b, n * sizeof *b) == 0);
}

static tel_instrument *create(tel_meter *m, tel_instrument_kind kind, const char *name,
                              const tel_instrument_opts *opts, tel_observe_cb cb, void *ud)
{
    if (!m || m->provider->noop)
        return &noop_instrument;
    tel_meter_provider *p = m->provider;
    if (!valid_kind(kind) || is_observable(kind) != (cb != NULL)) {
        tel__metrics_warn(&warn_kind, "instrument %s: invalid kind or missing callback",
                          name ? name : "(null)");
        return &noop_instrument;
    }
    if (!valid_name(name)) {
        tel__metrics_warn(&warn_name,
                          "invalid instrument name \"%.64s\" (a letter, then letters, digits, "
                          "'_', '.', '-' or '/', at most 255): instrument is a no-op",
                          name ? name : "(null)");
        return &noop_instrument;
    }
    const char *unit = opts && opts->unit ? opts->unit : "";
    const char *desc = opts && opts->description ? opts->description : "";
    const double *bounds = default_bounds;
    uint32_t n_bounds = N_DEFAULT_BOUNDS;
    if (kind == TEL_INSTR_HISTOGRAM && opts && opts->bounds) {
        if (valid_bounds(opts->bounds, opts->n_bounds)) {
            bounds = opts->bounds;
            n_bounds = opts->n_bounds;
        } else {
            tel__metrics_warn(&warn_bounds,
                              "histogram %s: bucket bounds must be finite and strictly "
                              "ascending (at most %d); using the defaults",
                              name, MAX_BOUNDS);
        }
    }
    bool is_int = kind != TEL_INSTR_HISTOGRAM && opts && opts->value_is_int;

    pthread_mutex_lock(&p->lock);
    for (tel_instrument *in = p->instruments; in; in = in->next) {
        if (in->meter != m || strcasecmp(in->name, name) != 0)
            continue;
        if (!is_observable(kind) && in->kind == kind && strcmp(in->unit, unit) == 0 &&
            strcmp(in->description, desc) == 0 && in->is_int == is_int &&
            (kind != TEL_INSTR_HISTOGRAM || same_bounds(in, bounds, n_bounds))) {
            pthread_mutex_unlock(&p->lock);
            return in;
        }
        tel__metrics_warn(&warn_dup,
                          "duplicate instrument registration: %s in meter %s differs from an "
                          "earlier one (kind, unit, description, value type or bounds); both are "
                          "exported",
                          name, m->name);
        break;
    }
    tel_instrument *in = calloc(1, sizeof *in);
    double *own_bounds = NULL;
    if (in && bounds != default_bounds && n_bounds) {
        own_bounds = malloc(n_bounds * sizeof *own_bounds);
        if (own_bounds)
            memcpy(own_bounds, bounds, n_bounds * sizeof *own_bounds);
    }
    if (!in || (bounds != default_bounds && n_bounds && !own_bounds)) {
        pthread_mutex_unlock(&p->lock);
        free(in);
        return &noop_instrument;
    }
    in->kind = kind;
    in->meter = m;
    in->is_int = is_int;
    in->monotonic = kind == TEL_INSTR_COUNTER || kind == TEL_INSTR_OBSERVABLE_COUNTER;
    switch (kind) {
    case TEL_INSTR_COUNTER:
    case TEL_INSTR_UP_DOWN_COUNTER:
        in->rec = TEL__REC_SUM;
        break;
    case TEL_INSTR_HISTOGRAM:
        in->rec = TEL__REC_HIST;
        break;
    case TEL_INSTR_GAUGE:
        in->rec = TEL__REC_GAUGE;
        break;
    default:
        in->rec = TEL__REC_OBSERVABLE;
        break;
    }
    in->ex_mode = is_observable(kind) || (opts && opts->no_exemplars) ? 0
                  : p->filter == TEL_EXEMPLAR_ALWAYS_OFF   ? 0
                  : p->filter == TEL_EXEMPLAR_ALWAYS_ON    ? 2
                                                           : 1;
    if (kind == TEL_INSTR_HISTOGRAM) {
        in->bounds = own_bounds ? own_bounds : default_bounds;
        in->n_bounds = n_bounds;
        if (bounds != default_bounds && n_bounds == 0)
            in->bounds = NULL;
    }
    in->limit = p->cardinality_limit;
    in->name = strdup(name);
    in->unit = strdup(unit);
    in->description = strdup(desc);
    in->cb = cb;
    in->ud = ud;
    pthread_mutex_init(&in->lock, NULL);
    atomic_init(&in->table, table_new(16));
    static const tel_attr ovf_attr = {.key = overflow_key, .type = TEL_ATTR_BOOL, .v.b = true};
    uint8_t no = 0;
    if (atomic_load(&in->table))
        in->overflow = series_new(in, &ovf_attr, &no, 1, tel__set_hash_text(&ovf_attr, &no, 1));
    if (!in->name || !in->unit || !in->description || !atomic_load(&in->table) || !in->overflow) {
        pthread_mutex_unlock(&p->lock);
        instrument_free(in);
        return &noop_instrument;
    }
    if (p->instruments_tail)
        p->instruments_tail->next = in;
    else
        p->instruments = in;
    p->instruments_tail = in;
    p->n_instruments++;
    pthread_mutex_unlock(&p->lock);
    return in;
}

tel_instrument *tel_meter_create(tel_meter *m, tel_instrument_kind kind, const char *name,
                                 const tel_instrument_opts *opts)
{
    if (is_observable(kind))
        return &noop_instrument;
    return create(m, kind, name, opts, NULL, NULL);
}

tel_instrument *tel_meter_create_observable(tel_meter *m, tel_instrument_kind kind,
                                            const char *name, const tel_instrument_opts *opts,
                                            tel_observe_cb cb, void *ud)
{
    if (!is_observable(kind) || !cb)
        return &noop_instrument;
    return create(m, kind, name, opts, cb, ud);
}

bool tel_instrument_enabled(const tel_instrument *in)
{
    return in && in->rec != TEL__REC_NONE;
}

/* ---- Collection ---- */

static tel_metric_type metric_type(const tel_instrument *in)
{
    switch (in->kind) {
    case TEL_INSTR_HISTOGRAM:
        return TEL_METRIC_HISTOGRAM;
    case TEL_INSTR_GAUGE:
    case TEL_INSTR_OBSERVABLE_GAUGE:
        return TEL_METRIC_GAUGE;
    default:
        return TEL_METRIC_SUM;
    }
}

/* Whether a listed series is part of this collection. */
static bool series_live(const tel_instrument *in, tel__series *s, uint64_t epoch)
{
    if (in->rec == TEL__REC_OBSERVABLE)
        return atomic_load_explicit(&s->epoch, memory_order_acquire) == epoch;
    if (in->rec == TEL__REC_GAUGE)
        return atomic_load_explicit(&s->epoch, memory_order_acquire) != 0;
    return true;
}

void tel__collection_free(tel__collection *c)
{
    free(c->metrics);
    free(c->points);
    free(c->buckets);
    free(c->exemplars);
    memset(c, 0, sizeof *c);
}

int tel__collect(tel_meter_provider *p, tel__collection *c)
{
    memset(c, 0, sizeof *c);
    if (!p || p->noop)
        return TEL_OK;
    /* The durations the queued spans carry (tel_span_defer_duration) are recorded first, on
     * this thread: every request ended before the collection is counted in it. */
    tel__batch_settle_all();
    pthread_mutex_lock(&p->collect_lock);
    uint64_t epoch = ++p->epoch;
    pthread_mutex_lock(&p->lock);
    size_t n_in = p->n_instruments;
    tel_instrument **ins = n_in ? malloc(n_in * sizeof *ins) : NULL;
    if (n_in && !ins) {
        pthread_mutex_unlock(&p->lock);
        pthread_mutex_unlock(&p->collect_lock);
        return TEL_ENOMEM;
    }
    size_t k = 0;
    for (tel_instrument *in = p->instruments; in && k < n_in; in = in->next)
        ins[k++] = in;
    pthread_mutex_unlock(&p->lock);

    /* Callbacks first, then two passes over the (append-only) series lists: count, fill. */
    for (size_t i = 0; i < n_in; i++)
        if (ins[i]->rec == TEL__REC_OBSERVABLE) {
            tel_observer obs = {ins[i], epoch};
            ins[i]->cb(&obs, ins[i]->ud);
        }
    size_t *counts = calloc(n_in ? n_in : 1, sizeof *counts);
    size_t n_points = 0, n_buckets = 0, n_ex = 0, n_metrics = 0;
    for (size_t i = 0; counts && i < n_in; i++) {
        tel_instrument *in = ins[i];
        for (tel__series *s = atomic_load_explicit(&in->head, memory_order_acquire); s;
             s = atomic_load_explicit(&s->next, memory_order_acquire)) {
            counts[i]++;
            if (in->rec == TEL__REC_HIST)
                n_buckets += in->n_bounds + 1;
            n_ex += s->n_ex;
        }
        n_points += counts[i];
        if (counts[i])
            n_metrics++;
    }
    c->metrics = calloc(n_metrics ? n_metrics : 1, sizeof *c->metrics);
    c->points = calloc(n_points ? n_points : 1, sizeof *c->points);
    c->buckets = calloc(n_buckets ? n_buckets : 1, sizeof *c->buckets);
    c->exemplars = calloc(n_ex ? n_ex : 1, sizeof *c->exemplars);
    if (!counts || !c->metrics || !c->points || !c->buckets || !c->exemplars) {
        free(counts);
        free(ins);
        tel__collection_free(c);
        pthread_mutex_unlock(&p->collect_lock);
        return TEL_ENOMEM;
    }
    uint64_t now = tel_now_ns();
    tel_metric_point *pt = c->points;
    uint64_t *bk = c->buckets;
    tel_exemplar *ex = c->exemplars;
    for (size_t i = 0; i < n_in; i++) {
        tel_instrument *in = ins[i];
        if (!counts[i])
            continue;
        tel_metric *m = &c->metrics[c->n_metrics];
        m->name = in->name;
        m->description = in->description;
        m->unit = in->unit;
        m->type = metric_type(in);
        m->monotonic = in->monotonic;
        m->temporality = TEL_TEMPORALITY_CUMULATIVE;
        if (m->type == TEL_METRIC_HISTOGRAM) {
            m->bounds = in->bounds;
            m->n_bounds = in->n_bounds;
        }
        m->scope_name = in->meter->name;
        m->scope_version = in->meter->version;
        m->points = pt;
        size_t left = counts[i];
        for (tel__series *s = atomic_load_explicit(&in->head, memory_order_acquire); s && left;
             s = atomic_load_explicit(&s->next, memory_order_acquire), left--) {
            if (!series_live(in, s, epoch))
                continue;
            pt->attrs = s->attrs;
            pt->n_attrs = s->n_attrs;
            pt->start_ns = p->start_ns;
            pt->time_ns = now;
            /* The reservoirs start a new interval: a histogram's buckets from their counts (the
             * shared ones here, each thread's cell in tel__cells_fold), a sum's from no
             * measurement. */
            if (in->rec == TEL__REC_HIST) {
                for (uint32_t b = 0; b <= in->n_bounds; b++)
                    bk[b] = atomic_load_explicit(&s->counts[b], memory_order_relaxed);
                for (uint32_t e = 0; e < s->n_ex && e <= in->n_bounds; e++)
                    atomic_store_explicit(&s->ex[e].base, bk[e], memory_order_relaxed);
                tel__fold f = {
                    .sum = tel__u2d(atomic_load_explicit(&s->value, memory_order_relaxed)),
                    .min = tel__u2d(atomic_load_explicit(&s->min_bits, memory_order_relaxed)),
                    .max = tel__u2d(atomic_load_explicit(&s->max_bits, memory_order_relaxed)),
                    .counts = bk};
                tel__cells_fold(in, s, &f);
                uint64_t total = 0;
                for (uint32_t b = 0; b <= in->n_bounds; b++)
                    total += bk[b];
                pt->bucket_counts = bk;
                bk += in->n_bounds + 1;
                pt->count = total;
                pt->sum = f.sum;
                pt->min = f.min;
                pt->max = f.max;
                pt->has_min_max = total > 0 && pt->min <= pt->max;
                if (!pt->has_min_max)
                    pt->min = pt->max = 0;
            } else {
                pt->is_int = in->is_int;
                uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
                tel__fold f = {.ival = in->is_int ? v : 0, .sum = in->is_int ? 0 : tel__u2d(v)};
                tel__cells_fold(in, s, &f);
                if (in->is_int)
                    pt->value.i = (int64_t)f.ival;
                else
                    pt->value.d = f.sum;
            }
            pt->exemplars = ex;
            if (in->rec == TEL__REC_SUM && s->n_ex)
                atomic_store_explicit(&s->ex[0].base, 0, memory_order_relaxed);
            bool ex_int = in->is_int && in->rec != TEL__REC_HIST;
            for (uint32_t e = 0; e < s->n_ex; e++)
                if (exemplar_read(&s->ex[e], ex_int, ex))
                    ex++;
            pt->n_exemplars = (uint32_t)(ex - pt->exemplars);
            if (!pt->n_exemplars)
                pt->exemplars = NULL;
            pt++;
            m->n_points++;
        }
        if (m->n_points)
            c->n_metrics++;
    }
    free(counts);
    free(ins);
    pthread_mutex_unlock(&p->collect_lock);
    return TEL_OK;
}

int tel_meter_provider_collect(tel_meter_provider *p,
                               void (*fn)(const tel_resource *res, const tel_metric *metrics,
                                          size_t n, void *ud),
                               void *ud)
{
    if (!p || !fn)
        return TEL_EINVAL;
    if (p->noop)
        return TEL_EDISABLED;
    tel__collection c;
    int rc = tel__collect(p, &c);
    if (rc != TEL_OK)
        return rc;
    fn(p->resource, c.metrics, c.n_metrics, ud);
    tel__collection_free(&c);
    return TEL_OK;
}

const tel_resource *tel_meter_provider_resource(const tel_meter_provider *p)
{
    return p && !p->noop ? p->resource : NULL;
}

int tel_meter_provider_add_periodic_reader(tel_meter_provider *p, tel_metric_exporter *exp,
                                           uint32_t interval_ms, uint32_t timeout_ms)
{
    if (!exp)
        return TEL_EINVAL;
    int rc = TEL_OK;
    if (!p || p->noop)
        rc = p ? TEL_EDISABLED : TEL_EINVAL;
    else if (atomic_load(&p->shut_down))
        rc = TEL_ESHUTDOWN;
    if (rc == TEL_OK) {
        pthread_mutex_lock(&p->lock);
        if (p->n_readers == TEL__MAX_READERS) {
            rc = TEL_EFULL;
        } else {
            struct tel__reader *r = NULL;
            rc = tel__reader_create(p, exp, interval_ms, timeout_ms, &r);
            if (rc == TEL_OK)
                p->readers[p->n_readers++] = r;
            exp = NULL; /* the reader owns it now, or destroyed it on failure */
        }
        pthread_mutex_unlock(&p->lock);
    }
    if (exp) {
        exp->shutdown(exp);
        exp->destroy(exp);
    }
    return rc;
}
