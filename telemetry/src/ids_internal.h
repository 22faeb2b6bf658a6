/* The id generator's hot path, inline for the span start: a per-thread wyrand generator
 * (64-bit state, one 64x64->128 multiply per draw; its author reports it passes BigCrush and
 * PractRand), seeded from getrandom() on a thread's first draw and again in the child after
 * fork() (ids.c). Not for secrets: ids only need to be unique and uniformly random (W3C random
 * trace-id flag). */
#ifndef TELEMETRY_IDS_INTERNAL_H
#define TELEMETRY_IDS_INTERNAL_H

#include <string.h>

#include "telemetry/ids.h"

typedef struct tel__rng {
    uint64_t s;
    bool seeded;
} tel__rng;

/* The calling thread's generator (ids.c). */
extern _Thread_local tel__rng tel__tls_rng;
/* Seeds r from getrandom() (time, pid and address without entropy). */
void tel__rng_seed(tel__rng *r);

__extension__ typedef unsigned __int128 tel__u128;

static inline uint64_t tel__rng_next(tel__rng *r)
{
    r->s += 0xa0761d6478bd642full;
    tel__u128 m = (tel__u128)r->s * (r->s ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

/* The calling thread's generator, seeded on first use. */
static inline tel__rng *tel__thread_rng(void)
{
    tel__rng *r = &tel__tls_rng;
    if (TEL_UNLIKELY(!r->seeded))
        tel__rng_seed(r);
    return r;
}

/* A trace id from r: two draws, never all zero. */
static inline void tel__gen_trace_id(tel__rng *r, uint8_t out[TEL_TRACE_ID_SIZE])
{
    uint64_t a, b;
    do {
        a = tel__rng_next(r);
        b = tel__rng_next(r);
    } while (TEL_UNLIKELY((a | b) == 0));
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
}

/* A span id from r: one draw, never zero. */
static inline void tel__gen_span_id(tel__rng *r, uint8_t out[TEL_SPAN_ID_SIZE])
{
    uint64_t a;
    do {
        a = tel__rng_next(r);
    } while (TEL_UNLIKELY(a == 0));
    memcpy(out, &a, 8);
}

/* A span's new ids in one go: a trace id into trace_id (unless NULL: the parent's is kept) and
 * a span id, both never all zero. */
static inline void tel__ids_generate(uint8_t *trace_id, uint8_t span_id[TEL_SPAN_ID_SIZE])
{
    tel__rng *r = tel__thread_rng();
    if (trace_id)
        tel__gen_trace_id(r, trace_id);
    tel__gen_span_id(r, span_id);
}

#endif
