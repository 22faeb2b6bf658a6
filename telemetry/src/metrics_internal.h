/* Internal structures of the metrics core shared by metrics.c (provider, instruments, recording,
 * collection), metrics_attrs.c (attribute-set hashing and comparison), metrics_reader.c
 * (periodic reader) and prometheus.c (text exposition).
 *
 * Recording path: an instrument holds an open-addressing hash table of series (one per attribute
 * set) whose slots are published with atomic pointers and never removed, so lookups are
 * lock-free; only the insertion of a new set takes the instrument's mutex. The hash of a set is
 * order independent (a sum of per-attribute hashes of key text and value), so no sort is needed.
 * Key text hashes come from a process-wide cache indexed by the key's address (keys are string
 * literals by contract), which also remembers whether the secrets policy denies the key. */
#ifndef TELEMETRY_METRICS_INTERNAL_H
#define TELEMETRY_METRICS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "telemetry/metrics.h"
#include "telemetry/otlp.h"

/* ---- Hashing ---- */

#define TEL__H0 0xa0761d6478bd642full
#define TEL__H1 0xe7037ed1a0b428dbull
#define TEL__H2 0x8ebc6af09c88c6e3ull
#define TEL__H3 0x589965cc75374cc3ull

static inline uint64_t tel__mix(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t tel__rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t tel__rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A fast 64-bit hash of len bytes (multiply-mix of overlapping 4/8-byte reads). */
static inline uint64_t tel__hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t a, b;
    seed ^= tel__mix(seed ^ TEL__H0, TEL__H1);
    if (TEL_LIKELY(len <= 16)) {
        if (len >= 4) {
            size_t d = (len >> 3) << 2;
            a = (tel__rd32(p) << 32) | tel__rd32(p + d);
            b = (tel__rd32(p + len - 4) << 32) | tel__rd32(p + len - 4 - d);
        } else if (len > 0) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = len;
        while (i > 16) {
            seed = tel__mix(tel__rd64(p) ^ TEL__H1, tel__rd64(p + 8) ^ seed);
            p += 16;
            i -= 16;
        }
        a = tel__rd64(p + i - 16);
        b = tel__rd64(p + i - 8);
    }
    return tel__mix(TEL__H1 ^ len, tel__mix(a ^ TEL__H1, b ^ seed));
}

/* Equality of len bytes; short strings (the common attribute values) without a call. */
static inline bool tel__mem_eq(const void *x, const void *y, size_t len)
{
    const uint8_t *a = x, *b = y;
    if (len >= 8 && len <= 16)
        return tel__rd64(a) == tel__rd64(b) && tel__rd64(a + len - 8) == tel__rd64(b + len - 8);
    if (len >= 4 && len < 8)
        return tel__rd32(a) == tel__rd32(b) && tel__rd32(a + len - 4) == tel__rd32(b + len - 4);
    if (len < 4) {
        for (size_t i = 0; i < len; i++)
            if (a[i] != b[i])
                return false;
        return true;
    }
    return memcmp(a, b, len) == 0;
}

/* Hash of one value (the key is hashed separately); denied values hash as "[REDACTED]". */
uint64_t tel__value_hash_slow(const tel_attr *a);
static inline uint64_t tel__value_hash(const tel_attr *a)
{
    switch (a->type) {
    case TEL_ATTR_STRING:
        return tel__hash_bytes(a->v.s, a->len, TEL_ATTR_STRING);
    case TEL_ATTR_INT:
    case TEL_ATTR_DOUBLE:
        return tel__mix((uint64_t)a->v.i ^ TEL__H2, TEL__H3 + a->type);
    case TEL_ATTR_BOOL:
        return tel__mix((uint64_t)a->v.b ^ TEL__H2, TEL__H3 + a->type);
    default:
        return tel__value_hash_slow(a);
    }
}

#define TEL__REDACTED_HASH 0x6d2f3c5e1b0a9487ull

/* Key hash cache: bit 0 of the returned hash is set when the secrets policy denies the key. */
#define TEL__KCACHE_SIZE 2048
typedef struct tel__kcache_entry {
    _Atomic(const char *) key;
    _Atomic uint64_t hash;
} tel__kcache_entry;
extern tel__kcache_entry tel__kcache[TEL__KCACHE_SIZE];

/* Hash of a key's text (bit 0: denied by the secrets policy). NULL keys hash as 0. */
uint64_t tel__key_hash_text(const char *key);
/* The same, stored in the cache. */
uint64_t tel__key_hash_miss(const char *key);

static inline uint64_t tel__key_hash(const char *key)
{
    size_t i = (size_t)(((uintptr_t)key * 0x9e3779b97f4a7c15ull) >> 53);
    tel__kcache_entry *e = &tel__kcache[i];
    if (TEL_LIKELY(atomic_load_explicit(&e->key, memory_order_acquire) == key))
        return atomic_load_explicit(&e->hash, memory_order_relaxed);
    return tel__key_hash_miss(key);
}

/* Hash of one attribute (key hash kh with its denied bit). */
static inline uint64_t tel__attr_hash(uint64_t kh, const tel_attr *a)
{
    uint64_t vh = (kh & 1) ? TEL__REDACTED_HASH : tel__value_hash(a);
    return tel__mix(kh ^ TEL__H0, vh ^ TEL__H1);
}

/* ---- Series ---- */

/* One exemplar slot, written lock-free (a writer claims it by making seq odd; a busy slot is
 * skipped) and read with a seqlock retry. Every field is atomic, so readers never race. */
typedef struct tel__exslot {
    atomic_uint seq; /* 0: never written; odd: being written */
    atomic_uint has_span;
    _Atomic uint64_t time_ns;
    _Atomic uint64_t value; /* int64 or double bits */
    _Atomic uint64_t tid[2];
    _Atomic uint64_t sid;
    /* Histogram slots: the bucket's count at the last collection (the reservoir's interval
     * starts there; see exemplar_sampled). Sum slots: the measurements offered since the last
     * collection (see sum_exemplar_sampled). */
    _Atomic uint64_t base;
    /* The reservoir's skips (see reservoir_pick): the number, counted from the interval's first
     * measurement (1), of the next measurement that replaces the exemplar, and the algorithm's
     * W (double bits). */
    _Atomic uint64_t next;
    _Atomic uint64_t w_bits;
} tel__exslot;

/* A double's bits and back (values of double instruments are kept as bits in 64-bit atomics). */
static inline uint64_t tel__d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double tel__u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Per-thread recording cells (metrics_cells.c). A bound attribute set (tel_instrument_bind) is
 * recorded into again and again, often by one thread. An atomic read-modify-write also waits for
 * every store before it, some of which wait on lines another CPU holds (a span's slot, given back
 * by the export thread): in bench_http on a 2-CPU VM the two atomic operations of a histogram
 * recording took about 80% of its samples, half a percent of the request. So each thread that
 * records through a bound set gets its own cell of the set's values, written by that thread alone
 * with plain loads and stores; the collection adds the cells to the series' shared values (which
 * unbound recordings, and threads past TEL__CELL_SLOTS, still update with atomic operations). A
 * series owns its cells array (allocated when first bound) and the cells in it (allocated by the
 * thread that fills each); all are freed with the series. */
#define TEL__CELL_SLOTS 64
#define TEL__RECORDER_NONE 0xffffffffu

typedef struct tel__cell {
    _Atomic uint64_t value; /* SUM: int64 or double bits; HISTOGRAM: sum bits */
    _Atomic uint64_t min_bits, max_bits;
    /* HISTOGRAM: n_bounds + 1 bucket counts, then (with exemplars) as many counts at the last
     * collection, where each bucket's reservoir interval starts for this thread. */
    _Atomic uint64_t n[];
} tel__cell;

/* What the collection adds the cells of one series into. */
typedef struct tel__fold {
    uint64_t ival;    /* integer sums */
    double sum;       /* double sums, histogram sums */
    double min, max;  /* histograms */
    uint64_t *counts; /* histograms: n_bounds + 1 */
} tel__fold;

/* One attribute set of one instrument and its aggregation. */
typedef struct tel__series {
    uint64_t hash;
    uint32_t n_attrs;
    uint32_t n_ex;
    tel_attr *attrs;             /* owned copies (keys and values), denied values redacted */
    const char **orig_keys;      /* the key pointers the set was first recorded with */
    uint8_t *denied;             /* per attribute: value is "[REDACTED]" */
    _Atomic(struct tel__series *) next; /* collection order (creation order) */
    _Atomic uint64_t value;      /* SUM/GAUGE: int64 or double bits; HISTOGRAM: sum bits */
    _Atomic uint64_t min_bits, max_bits;
    _Atomic uint64_t epoch;      /* observable: collection that last observed it; gauges: 1 once set */
    _Atomic uint64_t *counts;    /* HISTOGRAM: n_bounds + 1 bucket counts */
    tel__exslot *ex;             /* n_ex exemplar slots */
    _Atomic(tel__cell *) *_Atomic cells; /* bound sets: TEL__CELL_SLOTS per-thread cells */
} tel__series;

/* The calling thread's recorder number: 1..TEL__CELL_SLOTS, 0 before its first bound
 * recording, TEL__RECORDER_NONE when none was free. */
extern _Thread_local unsigned tel__recorder;

/* Gives series s a cells array (bound sets), under its instrument's lock. TEL_OK or
 * TEL_ENOMEM. */
int tel__cells_enable(tel__series *s);
/* The calling thread's cell of s, made on first use; NULL when s has no cells array, no
 * recorder number was free or memory ran out (then record into s itself). */
tel__cell *tel__cell_slow(const tel_instrument *in, tel__series *s);
/* Adds s's cells into *f (the collection); starts each cell's exemplar intervals over. */
void tel__cells_fold(const tel_instrument *in, const tel__series *s, tel__fold *f);
/* Zeroes s's cells (a forked child starts from zero). */
void tel__cells_reset(const tel_instrument *in, tel__series *s);
/* Frees s's cells and their array. */
void tel__cells_free(tel__series *s);
/* fork(): recorder numbers are kept consistent across it (pthread_atfork handlers). */
void tel__recorders_atfork_prepare(void);
void tel__recorders_atfork_parent(void);
void tel__recorders_atfork_child(void);

/* The calling thread's cell of s (bound recordings), or NULL: record into s itself. */
static inline tel__cell *tel__cell_get(const tel_instrument *in, tel__series *s)
{
    _Atomic(tel__cell *) *cells = atomic_load_explicit(&s->cells, memory_order_acquire);
    if (TEL_UNLIKELY(cells == NULL))
        return NULL;
    unsigned r = tel__recorder;
    if (TEL_LIKELY(r - 1u < TEL__CELL_SLOTS)) {
        tel__cell *c = atomic_load_explicit(&cells[r - 1], memory_order_relaxed);
        if (TEL_LIKELY(c != NULL))
            return c;
    }
    return tel__cell_slow(in, s);
}

typedef struct tel__stable {
    uint32_t mask;
    struct tel__stable *older; /* tables replaced by a larger one, freed with the instrument */
    _Atomic(tel__series *) slots[];
} tel__stable;

/* What a recording call may do with an instrument (one compare rejects no-ops and misuse). */
enum {
    TEL__REC_NONE = 0, /* no-op instrument */
    TEL__REC_SUM,      /* counters, up-down counters */
    TEL__REC_HIST,
    TEL__REC_GAUGE,
    TEL__REC_OBSERVABLE,
};

struct tel_instrument {
    /* hot */
    uint8_t rec;
    uint8_t ex_mode; /* 0: no exemplars, 1: trace based, 2: always */
    bool is_int;
    bool monotonic;
    uint32_t n_bounds;
    const double *bounds;
    _Atomic(tel__stable *) table;
    /* cold */
    tel_instrument_kind kind;
    struct tel_meter *meter;
    char *name, *unit, *description;
    uint32_t limit;
    atomic_uint n_series; /* ordinary series (overflow excluded) */
    uint32_t n_in_table;
    pthread_mutex_t lock; /* insertions */
    _Atomic(tel__series *) head;
    tel__series *tail;
    tel__series *overflow; /* preallocated; listed on first use */
    atomic_bool overflow_listed;
    tel_observe_cb cb;
    void *ud;
    tel_instrument *next; /* provider's list, creation order */
};

struct tel_observer {
    tel_instrument *in;
    uint64_t epoch;
};

struct tel_meter {
    struct tel_meter_provider *provider;
    char *name;
    char *version;
    struct tel_meter *next;
};

struct tel__reader;

#define TEL__MAX_READERS 4

struct tel_meter_provider {
    bool noop;
    const tel_resource *resource;
    tel_resource *own_resource;
    uint32_t cardinality_limit;
    tel_exemplar_filter filter;
    uint64_t start_ns;
    pthread_mutex_t lock; /* meters, instruments, readers */
    pthread_mutex_t collect_lock;
    struct tel_meter *meters;
    tel_instrument *instruments, *instruments_tail;
    size_t n_instruments;
    struct tel__reader *readers[TEL__MAX_READERS];
    int n_readers;
    atomic_bool shut_down;
    uint64_t epoch; /* collections so far, under collect_lock */
    struct tel_meter_provider *next_all;
};

/* ---- Attribute sets (metrics_attrs.c) ---- */

/* True when the given attributes equal the series' set, in the same order. */
static inline bool tel__attr_value_eq(const tel_attr *x, const tel_attr *a);
static inline bool tel__series_match_ordered(const tel__series *s, const tel_attr *a, size_t n)
{
    if (s->n_attrs != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        const tel_attr *x = &s->attrs[i];
        if (a[i].key != s->orig_keys[i] && (!a[i].key || strcmp(a[i].key, x->key) != 0))
            return false;
        if (!s->denied[i] && !tel__attr_value_eq(x, &a[i]))
            return false;
    }
    return true;
}

bool tel__attr_value_eq_slow(const tel_attr *x, const tel_attr *a);
static inline bool tel__attr_value_eq(const tel_attr *x, const tel_attr *a)
{
    if (x->type != a->type)
        return false;
    switch (a->type) {
    case TEL_ATTR_STRING:
        return x->len == a->len && tel__mem_eq(x->v.s, a->v.s, a->len);
    case TEL_ATTR_INT:
    case TEL_ATTR_DOUBLE:
        return x->v.i == a->v.i;
    case TEL_ATTR_BOOL:
        return x->v.b == a->v.b;
    default:
        return tel__attr_value_eq_slow(x, a);
    }
}

/* True when the given attributes (unique keys) equal the series' set in any order. */
bool tel__series_match_unordered(const tel__series *s, const tel_attr *a, size_t n);

/* Normalises a recording's attributes into out (capacity cap): drops attributes with a NULL or
 * empty key or no value type, keeps the last value of a repeated key, and fills denied[] from
 * the secrets policy (asked directly, not through the cache). Returns the number kept. */
size_t tel__attrs_normalize(const tel_attr *a, size_t n, tel_attr *out, uint8_t *denied,
                            size_t cap);
/* The order-independent hash of a set, with key hashes from the cache (fast path). */
static inline uint64_t tel__set_hash(const tel_attr *a, size_t n)
{
    uint64_t h = TEL__H2 + n;
    for (size_t i = 0; i < n; i++)
        h += tel__attr_hash(tel__key_hash(a[i].key), &a[i]);
    return h;
}
/* The same hash computed from the key text and the given denied flags (slow path). */
static inline uint64_t tel__set_hash_text(const tel_attr *a, const uint8_t *denied, size_t n)
{
    uint64_t h = TEL__H2 + n;
    for (size_t i = 0; i < n; i++)
        h += tel__attr_hash((tel__key_hash_text(a[i].key) & ~(uint64_t)1) | denied[i], &a[i]);
    return h;
}
/* Bytes needed to deep-copy the attributes' keys and values (not the denied values). */
size_t tel__attrs_copy_size(const tel_attr *a, const uint8_t *denied, size_t n);
/* Deep-copies attributes into dst, using the storage at *mem (advanced); a value whose
 * denied[i] is set is not copied but replaced with the static "[REDACTED]". */
void tel__attrs_copy(tel_attr *dst, const tel_attr *a, const uint8_t *denied, size_t n,
                     char **mem);

/* Maximum attributes kept per set (further ones are dropped). */
#define TEL__MAX_SET_ATTRS 128

/* ---- Recording (metrics.c) ---- */

tel__series *tel__series_slow(tel_instrument *in, const tel_attr *a, size_t n);

/* The series for a recording's attribute set: lock-free lookup, slow path on a new set. Returns
 * NULL only when memory runs out. */
static inline tel__series *tel__series_get(tel_instrument *in, const tel_attr *a, size_t n)
{
    uint64_t h = tel__set_hash(a, n);
    tel__stable *t = atomic_load_explicit(&in->table, memory_order_acquire);
    uint32_t i = (uint32_t)h & t->mask;
    for (;;) {
        tel__series *s = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (TEL_UNLIKELY(!s))
            break;
        if (TEL_LIKELY(s->hash == h) &&
            TEL_LIKELY(tel__series_match_ordered(s, a, n) || tel__series_match_unordered(s, a, n)))
            return s;
        i = (i + 1) & t->mask;
    }
    return tel__series_slow(in, a, n);
}

/* ---- Collection (metrics.c) ---- */

typedef struct tel__collection {
    tel_metric *metrics;
    size_t n_metrics;
    tel_metric_point *points;
    uint64_t *buckets;
    tel_exemplar *exemplars;
} tel__collection;

/* Runs the observable callbacks and snapshots every instrument. Serialised with other
 * collections; never blocks recording. Returns TEL_OK or TEL_ENOMEM. */
int tel__collect(tel_meter_provider *p, tel__collection *c);
void tel__collection_free(tel__collection *c);

/* Rate-limited warning on stderr (one JSON line; at most one per 10 s per `last` stamp). */
void tel__metrics_warn(atomic_uint_fast64_t *last, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Periodic reader (metrics_reader.c) ---- */

int tel__reader_create(tel_meter_provider *p, tel_metric_exporter *exp, uint32_t interval_ms,
                       uint32_t timeout_ms, struct tel__reader **out);
int tel__reader_force_flush(struct tel__reader *r, int64_t timeout_ms);
/* Stops the thread after a final collection and export, bounded by timeout_ms (then the
 * exporter is shut down so an in-flight export returns). Idempotent. */
int tel__reader_shutdown(struct tel__reader *r, int64_t timeout_ms);
void tel__reader_destroy(struct tel__reader *r);
/* fork() handling: lock every reader (prepare), unlock (parent), reset and restart (child). */
void tel__readers_atfork_prepare(tel_meter_provider *p);
void tel__readers_atfork_parent(tel_meter_provider *p);
void tel__readers_atfork_child(tel_meter_provider *p);

/* ---- Prometheus text helpers (prometheus.c; exposed for the fuzz target) ---- */

/* Appends the Prometheus metric family name for an OTel metric: name sanitised to
 * [a-zA-Z_:][a-zA-Z0-9_:]*, unit suffix (UCUM abbreviations spelled out, {annotations} dropped,
 * "1" as "ratio" for gauges, "a/b" as "a_per_b"), "_total" for monotonic sums when
 * with_total. Runs of '_' collapse to one. *unit_len receives the length of the unit suffix
 * (without its '_') when the name ends with it, else 0. Returns TEL_OK or TEL_ENOMEM. */
int tel__prom_family_name(tel_buf *out, const char *name, const char *unit, tel_metric_type type,
                          bool monotonic, bool with_total, size_t *unit_len);
/* Appends a label name sanitised to [a-zA-Z_][a-zA-Z0-9_]* (runs of '_' collapsed). */
int tel__prom_label_name(tel_buf *out, const char *key);
/* Appends a label value escaped for both formats: backslash, double quote and newline escaped,
 * invalid UTF-8 replaced with U+FFFD. */
int tel__prom_escape_value(tel_buf *out, const char *s, size_t len);
/* Appends HELP text escaped (backslash, newline; also double quote for OpenMetrics). */
int tel__prom_escape_help(tel_buf *out, const char *s, size_t len, bool openmetrics);
/* Renders already collected metrics (what tel_prometheus_render does after collecting). */
int tel__prom_render(const tel_resource *res, const tel_metric *metrics, size_t n, bool om,
                     tel_buf *out);

#endif
