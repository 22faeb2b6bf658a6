/* OTLP encoding benchmark: otlp.encode.span is the protobuf encoding cost per span (4
 * attributes, batches of 512, one reused buffer), printed next to clock_gettime. */
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "telemetry/otlp.h"

#define BATCH 512

int main(void)
{
    static tel_span_data recs[BATCH];
    const tel_span_data *spans[BATCH];
    static const tel_scope scope = {"bmc-gateway.http", "0.1.0", NULL};
    tel_attr rattrs[] = {TEL_ATTR_STR("service.name", "bmc-gateway"),
                         TEL_ATTR_STR("service.version", "0.1.0"),
                         TEL_ATTR_STR("host.name", "gw-eu-1"), TEL_ATTR_INT64("process.pid", 4242)};
    tel_resource res = {rattrs, 4, NULL};
    uint64_t t0 = 1700000000000000000ull;
    for (int i = 0; i < BATCH; i++) {
        tel_span_data *d = &recs[i];
        memset(d, 0, sizeof *d);
        for (int k = 0; k < TEL_TRACE_ID_SIZE; k++)
            d->sc.trace_id[k] = (uint8_t)(rand() | 1);
        for (int k = 0; k < TEL_SPAN_ID_SIZE; k++) {
            d->sc.span_id[k] = (uint8_t)(rand() | 1);
            d->parent_span_id[k] = (uint8_t)(rand() | 1);
        }
        d->sc.flags = 1;
        d->has_parent = true;
        d->kind = TEL_SPAN_KIND_SERVER;
        d->name = "GET /v1/servers/{id}";
        d->scope = &scope;
        d->start_ns = t0 + (uint64_t)i * 1000000u;
        d->end_ns = d->start_ns + 250000u + (uint64_t)i;
        d->attrs[0] = TEL_ATTR_STR("http.request.method", "GET");
        d->attrs[1] = TEL_ATTR_STR("http.route", "/v1/servers/{id}");
        d->attrs[2] = TEL_ATTR_INT64("http.response.status_code", 200);
        d->attrs[3] = TEL_ATTR_STR("server_id", "srv-000123");
        d->n_attrs = 4;
        spans[i] = d;
    }
    tel_buf buf = TEL_BUF_INIT;
    if (tel_otlp_encode_traces_pb(&buf, &res, spans, BATCH) != TEL_OK) return 1;
    size_t bytes = buf.len;
    const int iters = 4000;
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        uint64_t s = bench_now();
        for (int i = 0; i < iters; i++) {
            buf.len = 0;
            if (tel_otlp_encode_traces_pb(&buf, &res, spans, BATCH) != TEL_OK) return 1;
            __asm__ volatile("" ::"r"(buf.data) : "memory");
        }
        double ns = (double)(bench_now() - s) / ((double)iters * BATCH);
        if (ns < best) best = ns;
    }
    bench_print("otlp.encode.span", best, "ns");
    bench_print("otlp.encode.bytes_per_span", (double)bytes / BATCH, "B");
    bench_print("clock_gettime", bench_clock_gettime_ns(), "ns");
    tel_buf_free(&buf);
    return 0;
}
