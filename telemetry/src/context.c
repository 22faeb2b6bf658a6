/* tel_context: a span context plus referenced tracestate and baggage. */
#include <string.h>

#include "trace_internal.h"

void tel_context_init(tel_context *ctx)
{
    memset(ctx, 0, sizeof *ctx);
}

void tel_context_cleanup(tel_context *ctx)
{
    tel_tracestate_unref(ctx->ts);
    tel_baggage_unref(ctx->bag);
    memset(ctx, 0, sizeof *ctx);
}

void tel_context_copy(tel_context *dst, const tel_context *src)
{
    if (dst == src)
        return;
    tel_tracestate *ts = tel_tracestate_ref(src->ts);
    tel_baggage *bag = tel_baggage_ref(src->bag);
    tel_context_cleanup(dst);
    dst->sc = src->sc;
    dst->ts = ts;
    dst->bag = bag;
}

void tel_context_set_span(tel_context *ctx, const tel_span *span)
{
    if (!span || span->noop)
        return;
    const tel_span_impl *s = (const tel_span_impl *)span;
    tel_tracestate *ts = tel_tracestate_ref(s->d.ts);
    tel_tracestate_unref(ctx->ts);
    ctx->ts = ts;
    ctx->sc = s->d.sc;
    ctx->sc.remote = false;
}

void tel_context_set_baggage(tel_context *ctx, tel_baggage *bag)
{
    tel_baggage *b = tel_baggage_ref(bag);
    tel_baggage_unref(ctx->bag);
    ctx->bag = b;
}

void tel_context_set_tracestate(tel_context *ctx, tel_tracestate *ts)
{
    tel_tracestate *t = tel_tracestate_ref(ts);
    tel_tracestate_unref(ctx->ts);
    ctx->ts = t;
}
