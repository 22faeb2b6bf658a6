/* Fuzzes tel_jaeger_parse and the jaeger propagator (uber-trace-id, uberctx-* baggage) over
 * header lines. Invariants: a parsed context is valid; inject -> extract gives back the span
 * context (sampled flag) and every baggage entry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_carrier.h"
#include "telemetry/propagation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tel_propagator *p;
    if (!p)
        p = tel_propagator_create("jaeger");
    static const uint8_t zero[16];
    tel_span_context sc;
    if (tel_jaeger_parse((const char *)data, size, &sc) == TEL_OK) {
        if (!memcmp(sc.trace_id, zero, 16) || !memcmp(sc.span_id, zero, 8) || !sc.remote ||
            (sc.flags & ~1u))
            abort();
    }
    static fcar in, out;
    fcar_from_data(&in, (const char *)data, size);
    tel_carrier cin = fcar_carrier(&in), cout = fcar_carrier(&out);
    tel_context a = TEL_CONTEXT_INIT, b = TEL_CONTEXT_INIT;
    tel_propagator_extract(p, &cin, &a);
    if (a.ts)
        abort();
    fcar_init(&out);
    if (tel_propagator_inject(p, &a, &cout) != TEL_OK)
        abort();
    tel_propagator_extract(p, &cout, &b);
    if (!fuzz_sc_equal(&a.sc, &b.sc))
        abort();
    /* Every entry comes back, under its lowercased key, with the same value. */
    size_t n = tel_baggage_count(a.bag);
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        tel_baggage_entry(a.bag, i, &k, &v, NULL);
        char lk[256];
        size_t kl = strlen(k);
        if (kl >= 100)
            continue; /* longer keys are not injected */
        for (size_t j = 0; j <= kl; j++)
            lk[j] = (k[j] >= 'A' && k[j] <= 'Z') ? (char)(k[j] + 32) : k[j];
        const char *got = tel_baggage_get(b.bag, lk);
        if (strlen(v) <= 4096 && (!got || strcmp(got, v) != 0)) {
            /* Two keys differing only in case collapse into one: then either value is fine. */
            bool collide = false;
            for (size_t j = 0; j < n; j++) {
                const char *k2;
                tel_baggage_entry(a.bag, j, &k2, NULL, NULL);
                if (j != i && strcasecmp(k2, k) == 0)
                    collide = true;
            }
            if (!collide)
                abort();
        }
    }
    tel_baggage_unref(a.bag);
    tel_baggage_unref(b.bag);
    return 0;
}
