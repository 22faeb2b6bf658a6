/* Internal structures of the span core shared by trace.c, span_data.c, context.c and bsp.c. */
#ifndef TELEMETRY_TRACE_INTERNAL_H
#define TELEMETRY_TRACE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "telemetry/trace.h"

#define TEL_MAX_PROCESSORS 4

typedef struct tel_tracer_entry {
    tel_tracer tracer; /* first member: tel_tracer * converts to tel_tracer_entry * */
    char *name;
    char *version;
    struct tel_tracer_entry *next;
} tel_tracer_entry;

struct tel_tracer_provider {
    tel_resource *resource;
    tel_sampler sampler;
    tel_span_limits limits;
    uint32_t inline_attr_cap; /* min(limits.attribute_count, TEL_SPAN_INLINE_ATTRS) */
    tel_span_processor *procs[TEL_MAX_PROCESSORS];
    int n_procs;
    atomic_bool shut_down;
    bool disabled;
    pthread_mutex_t lock; /* guards tracers */
    tel_tracer_entry *tracers;
};

typedef struct span_pool span_pool;

/* A live span: the public prefix, then the record being built. Aligned to a cache line: a slot
 * shares no line with its neighbours in the pool (one of which may be with the export thread). */
typedef struct tel_span_impl {
    _Alignas(64) struct tel_span pub;
    bool heap;        /* allocated because the pool was exhausted (aligned_alloc) */
    uint16_t id;      /* the slot's number in its pool (fixed) */
    span_pool *pool;  /* the pool the slot belongs to (NULL when heap; fixed) */
    tel_tracer *tracer;
    uint64_t key_bloom; /* a bit per inline attribute key address (see attr_slot) */
    uint16_t attr_cap;  /* the provider's inline_attr_cap, kept at hand */
    /* The duration measurement deferred to the ended record (tel_span_defer_duration): histogram
     * (NULL: none), its bound series and the unit per nanosecond. Recorded by tel__span_settle. */
    struct tel_instrument *defer_h;
    struct tel_bound_attrs *defer_b;
    double defer_unit;
    tel_span_data d;
} tel_span_impl;

/* The live span whose record rec is (a kept record is still in its slot). */
static inline tel_span_impl *tel__span_of_record(tel_span_data *rec)
{
    return (tel_span_impl *)((char *)rec - offsetof(tel_span_impl, d));
}

/* Records the ended record's deferred duration measurement, if any, once: on the thread that
 * ends the span, or on the export thread for a record a processor kept (bsp_take_ptr). */
void tel__span_settle(tel_span_data *rec);


/* Appends raw bytes to the record's extra block (creating it); NULL on allocation failure. */
void *tel__span_extra_alloc(tel_span_data *d, size_t size);
/* Copies len bytes of s, NUL-terminated, into the record's inline arena when they fit (NULL
 * otherwise): the fast path of tel__span_copy_str, inline for the attribute setters. */
static inline const char *tel__span_copy_str_arena(tel_span_data *d, const char *s, size_t len)
{
    if ((size_t)d->arena_used + len + 1 > TEL_SPAN_ARENA)
        return NULL;
    char *dst = d->arena + d->arena_used;
    d->arena_used = (uint16_t)(d->arena_used + len + 1);
    memcpy(dst, s, len);
    dst[len] = '\0';
    return dst;
}
/* Copies a NUL-terminated or counted string into the record (arena first, then extra). */
const char *tel__span_copy_str(tel_span_data *d, const char *s, size_t len, bool arena_ok);
/* Copies an attribute value (strings, arrays) into extra storage of d, truncating strings to
 * max_len (0: unlimited). Returns false on allocation failure. */
bool tel__attr_copy_value(tel_span_data *d, tel_attr *dst, const tel_attr *src, uint32_t max_len,
                          bool arena_ok);
/* Truncated length of a UTF-8 string at max_len bytes (0: no limit), not splitting a
 * character. Inline: every string attribute setter calls it, nearly always without a limit. */
static inline size_t tel__utf8_truncate(const char *s, size_t len, uint32_t max_len)
{
    if (TEL_LIKELY(max_len == 0 || len <= max_len))
        return len;
    size_t n = max_len;
    /* Step back over continuation bytes so a multi-byte character is never split. */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}
/* Removes inline attributes whose key text repeats (the fast path matches keys by pointer),
 * keeping the value set last. Called where records are exported, off the application thread
 * for the batch processor. */
void tel__span_data_dedupe(tel_span_data *d);
/* Applies the secrets policy (redact.h) to every attribute of the record: inline and extra
 * attributes, event and link attributes. Called where records are exported, right after
 * tel__span_data_dedupe, off the application thread for the batch processor. Implemented in
 * redact.c. */
void tel__span_data_redact(tel_span_data *d);
/* tel__span_data_dedupe then tel__span_data_redact, in one pass over the keys (the repeated keys
 * are found by length and text hash from the redaction's key cache). Implemented in redact.c. */
void tel__span_data_dedupe_redact(tel_span_data *d);
/* tel_span_data_move split in two halves for a hand-over between threads, the cheap one on the
 * application thread: move_raw copies the used inline part without re-pointing the strings that
 * point into src's arena (they keep pointing at src->arena, which the caller remembers);
 * move_rebased copies a raw record on and re-points those strings from base (the remembered
 * src->arena) to dst's arena. Both leave src without extra and ts. */
void tel__span_data_move_raw(tel_span_data *dst, tel_span_data *src);
void tel__span_data_move_rebased(tel_span_data *dst, tel_span_data *src, const char *base);
/* move_rebased without writing src: for a queue buffer read on another thread than the one that
 * writes it next (a write here would make that thread fetch the line back). src's extra and ts
 * belong to dst afterwards; src is dead (never released, only overwritten). */
void tel__span_data_take_rebased(tel_span_data *dst, const tel_span_data *src, const char *base);
/* Deep copy of a record (clone gets its own extra and tracestate reference). */
bool tel__span_data_clone(tel_span_data *dst, const tel_span_data *src);

#endif
