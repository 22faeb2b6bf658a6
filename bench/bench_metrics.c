/* Metrics benchmarks: counter add and histogram record (3 attributes, set already seen, passed
 * per call as a tel_attr array), and Prometheus rendering per series. Figures are the best of
 * a few runs, in ns per operation, next to one clock_gettime (the yardstick of the targets:
 * recording at most 2x clock_gettime). */
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "telemetry/metrics.h"
#include "telemetry/otlp.h"

#define N 5000000
#define RUNS 5

static volatile uint64_t sink;

static double bench_counter(tel_instrument *c)
{
    double best = 1e9;
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = bench_now();
        for (int i = 0; i < N; i++) {
            /* The attribute array is built per call, as instrumented code does. */
            tel_attr a[3] = {TEL_ATTR_STR("http.request.method", "GET"),
                             TEL_ATTR_STR("http.route", "/v1/servers/{id}"),
                             TEL_ATTR_INT64("http.response.status_code", 200)};
            tel_counter_add_int(c, 1, a, 3);
        }
        double ns = (double)(bench_now() - t0) / N;
        if (ns < best)
            best = ns;
    }
    return best;
}

static double bench_histogram(tel_instrument *h)
{
    double best = 1e9;
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = bench_now();
        for (int i = 0; i < N; i++) {
            tel_attr a[3] = {TEL_ATTR_STR("http.request.method", "GET"),
                             TEL_ATTR_STR("http.route", "/v1/servers/{id}"),
                             TEL_ATTR_INT64("http.response.status_code", 200)};
            tel_histogram_record(h, (double)(i & 1023), a, 3);
        }
        double ns = (double)(bench_now() - t0) / N;
        if (ns < best)
            best = ns;
    }
    return best;
}

/* A registry of 1000 series (counters and histograms with 3 labels), rendered repeatedly. */
static double bench_render(void)
{
    tel_attr ra[] = {TEL_ATTR_STR("service.name", "bmc-gateway")};
    tel_resource *res = tel_resource_create(ra, 1);
    tel_meter_provider_config cfg = {.resource = res, .has_exemplar_filter = true,
                                     .exemplar_filter = TEL_EXEMPLAR_ALWAYS_OFF};
    tel_meter_provider *p = tel_meter_provider_create(&cfg);
    tel_meter *m = tel_meter_get(p, "bench", "1");
    tel_instrument *c = tel_meter_create(m, TEL_INSTR_COUNTER, "http.server.requests",
                                         &(tel_instrument_opts){.value_is_int = true});
    tel_instrument *h = tel_meter_create(m, TEL_INSTR_HISTOGRAM, "http.server.request.duration",
                                         &(tel_instrument_opts){.unit = "ms"});
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
    size_t series = 0;
    for (int route = 0; route < 100; route++) {
        char r[32];
        snprintf(r, sizeof r, "/v1/route/%d", route);
        for (int mi = 0; mi < 5; mi++) {
            tel_attr a[3] = {TEL_ATTR_STR("http.request.method", methods[mi]),
                             {.key = "http.route", .type = TEL_ATTR_STRING,
                              .len = (uint32_t)strlen(r), .v.s = r},
                             TEL_ATTR_INT64("http.response.status_code", 200)};
            tel_counter_add_int(c, route + mi, a, 3);
            tel_histogram_record(h, route * 10.0 + mi, a, 3);
            series += 2;
        }
    }
    tel_buf out = TEL_BUF_INIT;
    double best = 1e9;
    for (int r = 0; r < 20; r++) {
        out.len = 0;
        uint64_t t0 = bench_now();
        tel_prometheus_render(p, false, &out);
        double ns = (double)(bench_now() - t0) / (double)series;
        if (ns < best)
            best = ns;
    }
    sink += out.len;
    tel_buf_free(&out);
    tel_meter_provider_destroy(p);
    tel_resource_destroy(res);
    return best;
}

int main(void)
{
    setenv("OTEL_METRICS_EXEMPLAR_FILTER", "trace_based", 1);
    tel_attr ra[] = {TEL_ATTR_STR("service.name", "bench")};
    tel_resource *res = tel_resource_create(ra, 1);
    tel_meter_provider_config cfg = {.resource = res};
    tel_meter_provider *p = tel_meter_provider_create(&cfg);
    tel_meter *m = tel_meter_get(p, "bench", "1");
    tel_instrument *c = tel_meter_create(m, TEL_INSTR_COUNTER, "http.server.requests",
                                         &(tel_instrument_opts){.value_is_int = true});
    tel_instrument *h = tel_meter_create(m, TEL_INSTR_HISTOGRAM, "http.server.request.duration",
                                         &(tel_instrument_opts){.unit = "ms"});

    bench_print("clock_gettime", bench_clock_gettime_ns(), "ns");
    bench_print("metric.counter.add", bench_counter(c), "ns");
    bench_print("metric.histogram.record", bench_histogram(h), "ns");
    bench_print("prometheus.render", bench_render(), "ns");
    tel_meter_provider_destroy(p);
    tel_resource_destroy(res);
    return 0;
}
