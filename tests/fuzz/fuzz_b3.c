/* Fuzzes tel_b3_parse and the b3/b3multi propagators over header lines.
 * Invariants: a parsed context is valid; inject (single and multi) -> extract gives it back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_carrier.h"
#include "telemetry/propagation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const tel_propagator *p, const tel_span_context *sc)
{
    static fcar out;
    fcar_init(&out);
    tel_carrier c = fcar_carrier(&out);
    tel_context ctx = TEL_CONTEXT_INIT;
    ctx.sc = *sc;
    if (tel_propagator_inject(p, &ctx, &c) != TEL_OK)
        abort();
    tel_context back = TEL_CONTEXT_INIT;
    tel_propagator_extract(p, &c, &back);
    /* B3 carries only the sampled flag. */
    tel_span_context want = *sc;
    want.flags &= TEL_FLAG_SAMPLED;
    want.remote = true;
    if (!fuzz_sc_equal(&want, &back.sc))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tel_propagator *single, *multi;
    if (!single) {
        single = tel_propagator_create("b3");
        multi = tel_propagator_create("b3multi");
    }
    tel_span_context sc;
    static const uint8_t zero[16];
    int rc = tel_b3_parse((const char *)data, size, &sc);
    if (rc == TEL_OK) {
        if (!memcmp(sc.trace_id, zero, 16) || !memcmp(sc.span_id, zero, 8) || !sc.remote ||
            (sc.flags & ~1u))
            abort();
        roundtrip(single, &sc);
        roundtrip(multi, &sc);
    } else if (rc != TEL_EINVAL && rc != TEL_ENOTFOUND) {
        abort();
    }
    /* As header lines (b3 and X-B3-*). */
    static fcar in;
    fcar_from_data(&in, (const char *)data, size);
    tel_carrier c = fcar_carrier(&in);
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_propagator_extract(multi, &c, &ctx);
    if (ctx.sc.remote) {
        if (!memcmp(ctx.sc.trace_id, zero, 16) || !memcmp(ctx.sc.span_id, zero, 8))
            abort();
        roundtrip(single, &ctx.sc);
        roundtrip(multi, &ctx.sc);
    }
    if (ctx.ts || ctx.bag)
        abort();
    return 0;
}
