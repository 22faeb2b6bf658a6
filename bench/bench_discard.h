/* A span exporter that accepts and drops everything, for benchmarks that measure the cost of
 * making and queueing spans without any export work. Static storage: never destroyed. */
#ifndef BENCH_DISCARD_H
#define BENCH_DISCARD_H

#include "telemetry/processor.h"

static int bench_discard_export(tel_span_exporter *self, const tel_resource *res,
                                const tel_span_data *const *spans, size_t n, uint64_t deadline_ns)
{
    (void)self;
    (void)res;
    (void)spans;
    (void)n;
    (void)deadline_ns;
    return TEL_OK;
}

static int bench_discard_shutdown(tel_span_exporter *self)
{
    (void)self;
    return TEL_OK;
}

static void bench_discard_destroy(tel_span_exporter *self)
{
    (void)self;
}

/* The exporter (the same object every call; processors may "destroy" it: a no-op). */
static inline tel_span_exporter *bench_discard_exporter(void)
{
    static tel_span_exporter e = {bench_discard_export, NULL, bench_discard_shutdown,
                                  bench_discard_destroy};
    return &e;
}

#endif
