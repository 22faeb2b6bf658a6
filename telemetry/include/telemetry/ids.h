/* Trace and span identifiers and the span context value type.
 *
 * Ids come from a per-thread wyrand generator seeded from getrandom(); generated ids are
 * never all-zero. The generator of the thread that calls fork() is reseeded in the child. */
#ifndef TELEMETRY_IDS_H
#define TELEMETRY_IDS_H

#include "common.h"

#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TEL_TRACE_ID_SIZE 16
#define TEL_SPAN_ID_SIZE 8

/* W3C trace-flags bits. */
#define TEL_FLAG_SAMPLED 0x01
#define TEL_FLAG_RANDOM 0x02 /* W3C Trace Context level 2: trace id is random */

/* A span context: a small value copied freely. `remote` is true when it was extracted from a
 * carrier. A context is valid when both ids are non-zero. The tracestate travels beside it in
 * tel_context (context.h), not inside it. */
typedef struct tel_span_context {
    uint8_t trace_id[TEL_TRACE_ID_SIZE];
    uint8_t span_id[TEL_SPAN_ID_SIZE];
    uint8_t flags;
    bool remote;
} tel_span_context;

/* Fills `out` with a new random non-zero trace id. Thread safe (per-thread state). */
void tel_trace_id_generate(uint8_t out[TEL_TRACE_ID_SIZE]);
/* Fills `out` with a new random non-zero span id. Thread safe (per-thread state). */
void tel_span_id_generate(uint8_t out[TEL_SPAN_ID_SIZE]);
/* Returns a uniformly random 64-bit value from the calling thread's generator. */
uint64_t tel_random_u64(void);

/* True when every byte of `id` (of `n` bytes, 8 or 16 for ids) is zero. */
static inline bool tel_id_is_zero(const uint8_t *id, size_t n)
{
    if (n == 8 || n == 16) { /* the ids: whole words (memcpy: no alignment assumed) */
        uint64_t a, b = 0;
        memcpy(&a, id, 8);
        if (n == 16)
            memcpy(&b, id + 8, 8);
        return (a | b) == 0;
    }
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= id[i];
    return acc == 0;
}
/* True when the context has a non-zero trace id and span id. */
bool tel_span_context_is_valid(const tel_span_context *sc);
/* True when the sampled flag is set. */
static inline bool tel_span_context_is_sampled(const tel_span_context *sc)
{
    return (sc->flags & TEL_FLAG_SAMPLED) != 0;
}

/* Writes `n` bytes as 2n lowercase hex digits plus a NUL to `out` (2n+1 bytes). */
void tel_hex_encode(const uint8_t *id, size_t n, char *out);
/* Parses exactly 2n lowercase hex digits from `hex` into `out` (uppercase is rejected, as W3C
 * Trace Context requires).
 * Returns TEL_OK or TEL_EINVAL on any non-hex character. */
int tel_hex_decode(const char *hex, size_t n, uint8_t *out);

#ifdef __cplusplus
}
#endif
#endif
