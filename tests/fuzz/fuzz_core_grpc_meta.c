/* Fuzz target: trace context extraction from gRPC metadata (core/grpc_meta.c's carriers) with
 * arbitrary keys and values, through every propagator format, then injection into an outgoing
 * metadata writer and extraction again (the round trip must keep the span context).
 *
 * Input: entries separated by '\n', each "key:value" at the first ':' (keys and values may hold
 * any byte, as a hostile peer could send after the transport's own checks). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/grpc_meta.h"
#include "telemetry/propagation.h"

#define MAX_ENTRIES 128

static int visit(void *arg, const char *name, size_t nl, const char *value, size_t vl)
{
    size_t *total = arg;
    *total += nl + vl;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tel_propagator *all;
    if (!all) all = tel_propagator_create("tracecontext,baggage,b3,b3multi,jaeger");
    grpc_metadata md[MAX_ENTRIES];
    grpc_metadata_array arr = {0, MAX_ENTRIES, md};
    const char *p = (const char *)data, *end = p + size;
    while (p < end && arr.count < MAX_ENTRIES) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        const char *kend = colon ? colon : line_end;
        const char *v = colon ? colon + 1 : line_end;
        memset(&md[arr.count], 0, sizeof md[0]);
        md[arr.count].key = grpc_slice_from_static_buffer(p, (size_t)(kend - p));
        md[arr.count].value = grpc_slice_from_static_buffer(v, (size_t)(line_end - v));
        arr.count++;
        p = nl ? nl + 1 : end;
    }

    tel_carrier in;
    core_grpc_meta_reader(&in, &arr);
    size_t total = 0;
    in.foreach (in.ud, visit, &total);
    size_t len;
    (void)core_grpc_meta_get(&arr, "traceparent", &len);
    (void)core_grpc_meta_get(&arr, "grpc-status-details-bin", &len);
    if (in.set(in.ud, "x", "y") == 0) abort(); /* the reader is read-only */

    tel_context ctx = TEL_CONTEXT_INIT;
    tel_propagator_extract(all, &in, &ctx);
    tel_propagator_extract(tel_propagator_global(), &in, &ctx);

    core_grpc_meta_writer w;
    core_grpc_meta_writer_init(&w);
    tel_carrier out;
    core_grpc_meta_writer_carrier(&out, &w);
    tel_propagator_inject(all, &ctx, &out);
    /* every key the writer holds is legal gRPC metadata */
    for (size_t i = 0; i < w.n; i++)
        if (!grpc_header_key_is_legal(w.md[i].key)) abort();
    /* arbitrary keys and values through the writer's validation */
    for (size_t i = 0; i < arr.count && i < 8; i++) {
        char k[64], val[256];
        size_t kl = GRPC_SLICE_LENGTH(md[i].key), vl = GRPC_SLICE_LENGTH(md[i].value);
        if (kl >= sizeof k || vl >= sizeof val) continue;
        memcpy(k, GRPC_SLICE_START_PTR(md[i].key), kl);
        k[kl] = '\0';
        memcpy(val, GRPC_SLICE_START_PTR(md[i].value), vl);
        val[vl] = '\0';
        core_grpc_meta_writer_set(&w, k, val);
    }
    for (size_t i = 0; i < w.n; i++)
        if (!grpc_header_key_is_legal(w.md[i].key)) abort();

    if (tel_span_context_is_valid(&ctx.sc)) {
        /* round trip: what was injected extracts to the same ids */
        core_grpc_meta_writer w2;
        core_grpc_meta_writer_init(&w2);
        tel_carrier out2;
        core_grpc_meta_writer_carrier(&out2, &w2);
        tel_propagator_inject(all, &ctx, &out2);
        tel_context back = TEL_CONTEXT_INIT;
        tel_propagator_extract(all, &out2, &back);
        if (memcmp(back.sc.trace_id, ctx.sc.trace_id, 16) != 0 ||
            memcmp(back.sc.span_id, ctx.sc.span_id, 8) != 0)
            abort();
        tel_context_cleanup(&back);
        core_grpc_meta_writer_cleanup(&w2);
    }
    core_grpc_meta_writer_cleanup(&w);
    tel_context_cleanup(&ctx);
    return 0;
}
