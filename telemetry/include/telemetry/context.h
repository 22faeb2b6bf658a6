/* The explicit context passed to traced work: a span context plus the tracestate and baggage that
 * travel with it. Functions that do traced work take `const tel_context *`.
 *
 * A tel_context holds one reference to its tracestate and baggage (either may be NULL). Initialise
 * with tel_context_init (or TEL_CONTEXT_INIT), release with tel_context_cleanup. */
#ifndef TELEMETRY_CONTEXT_H
#define TELEMETRY_CONTEXT_H

#include "baggage.h"
#include "ids.h"
#include "tracestate.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tel_span tel_span;

typedef struct tel_context {
    tel_span_context sc; /* parent span context; all-zero when there is none */
    tel_tracestate *ts;  /* owned reference or NULL */
    tel_baggage *bag;    /* owned reference or NULL */
} tel_context;

#define TEL_CONTEXT_INIT ((tel_context){{{0}, {0}, 0, false}, NULL, NULL})

/* Sets ctx to the empty context (no span, no tracestate, no baggage). */
void tel_context_init(tel_context *ctx);
/* Drops ctx's references and resets it to empty. Safe on an empty context. */
void tel_context_cleanup(tel_context *ctx);
/* Makes dst (an initialised context, whose old references are dropped) a copy of src, taking
 * new references. */
void tel_context_copy(tel_context *dst, const tel_context *src);
/* Makes ctx carry `span` as the parent: its span context and its tracestate (referenced).
 * The baggage of ctx is kept. A NULL or no-op span leaves the span context unchanged. */
void tel_context_set_span(tel_context *ctx, const tel_span *span);
/* Replaces ctx's baggage with `bag` (ctx takes its own reference; bag may be NULL). */
void tel_context_set_baggage(tel_context *ctx, tel_baggage *bag);
/* Replaces ctx's tracestate with `ts` (ctx takes its own reference; ts may be NULL). */
void tel_context_set_tracestate(tel_context *ctx, tel_tracestate *ts);

#ifdef __cplusplus
}
#endif
#endif
