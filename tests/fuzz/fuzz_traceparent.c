/* Fuzzes tel_traceparent_parse/format, and the tracecontext propagator over header lines.
 * Invariants: a parsed context is valid and formats to a traceparent that parses back to the
 * same context with the same id text; extract -> inject -> extract is the identity. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_carrier.h"
#include "telemetry/propagation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parse(const char *s, size_t size)
{
    tel_span_context sc;
    if (tel_traceparent_parse(s, size, &sc) != TEL_OK)
        return;
    static const uint8_t zero[16];
    if (!memcmp(sc.trace_id, zero, 16) || !memcmp(sc.span_id, zero, 8) || (sc.flags & ~3u) ||
        !sc.remote)
        abort();
    char out[TEL_TRACEPARENT_LEN + 1];
    tel_traceparent_format(&sc, out);
    if (strlen(out) != TEL_TRACEPARENT_LEN)
        abort();
    tel_span_context back;
    if (tel_traceparent_parse(out, TEL_TRACEPARENT_LEN, &back) != TEL_OK || !fuzz_sc_equal(&sc, &back))
        abort();
    /* The ids are copied verbatim (after the surrounding whitespace). */
    while (size && (*s == ' ' || *s == '\t')) {
        s++;
        size--;
    }
    if (size < TEL_TRACEPARENT_LEN || memcmp(s + 2, out + 2, 51) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_parse(s, size);

    static fcar in, out;
    static tel_propagator *p;
    if (!p)
        p = tel_propagator_create("tracecontext,baggage");
    fcar_from_data(&in, s, size);
    tel_carrier cin = fcar_carrier(&in), cout = fcar_carrier(&out);
    tel_context a = TEL_CONTEXT_INIT, b = TEL_CONTEXT_INIT;
    tel_propagator_extract(p, &cin, &a);
    fcar_init(&out);
    if (tel_propagator_inject(p, &a, &cout) != TEL_OK)
        abort();
    tel_propagator_extract(p, &cout, &b);
    if (!fuzz_sc_equal(&a.sc, &b.sc))
        abort();
    if (strcmp(tel_tracestate_str(a.ts, NULL), tel_tracestate_str(b.ts, NULL)) != 0)
        abort();
    if (tel_baggage_count(a.bag) != tel_baggage_count(b.bag))
        abort();
    tel_tracestate_unref(a.ts);
    tel_baggage_unref(a.bag);
    tel_tracestate_unref(b.ts);
    tel_baggage_unref(b.bag);
    return 0;
}
