/* Logging benchmarks, printed as "<name> <value> <unit>" next to clock_gettime:
 *   log.write           one JSON line to /dev/null inside a sampled current span (trace_id and
 *                       span_id on the line) with 2 attributes and a formatted message
 *   log.write.filtered  the same call below the LOG_LEVEL threshold
 *   log.write.otlp      log.write plus the hand-off of the record to the batch log record
 *                       processor (an exporter that discards; rounds of half the queue with a
 *                       flush in between, outside the timed part, so nothing is dropped) */
#include <fcntl.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bench_util.h"
#include "telemetry/log.h"
#include "telemetry/trace.h"

typedef struct discard {
    tel_log_exporter base;
    atomic_uint_fast64_t records;
} discard;

static int d_export(tel_log_exporter *self, const tel_resource *res,
                    const tel_log_record *const *recs, size_t n, uint64_t deadline)
{
    (void)res;
    (void)recs;
    (void)deadline;
    atomic_fetch_add(&((discard *)self)->records, n);
    return TEL_OK;
}
static int d_shutdown(tel_log_exporter *self)
{
    (void)self;
    return TEL_OK;
}
static void d_destroy(tel_log_exporter *self)
{
    (void)self;
}

static discard sink = {.base = {d_export, NULL, d_shutdown, d_destroy}};

/* Best of 5 rounds of `rounds` x `per_round` calls, ns per call. flush runs between rounds. */
static double measure(tel_log_level lvl, int rounds, int per_round, tel_log_processor *flush)
{
    tel_attr attrs[] = {TEL_ATTR_STR("server_id", "srv-0042"), TEL_ATTR_INT64("attempt", 2)};
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t total = 0;
        for (int r = 0; r < rounds; r++) {
            uint64_t t0 = bench_now();
            for (int i = 0; i < per_round; i++)
                tel_log(lvl, attrs, 2, "power %s for %s done in %d ms", "on", "srv-0042", i);
            total += bench_now() - t0;
            if (flush) tel_log_processor_force_flush(flush, 10000);
        }
        double ns = (double)total / ((double)rounds * per_round);
        if (ns < best) best = ns;
    }
    return best;
}

int main(void)
{
    double clk = bench_clock_gettime_ns();
    bench_print("clock_gettime", clk, "ns");

    int devnull = open("/dev/null", O_WRONLY);
    tel_log_set_output(devnull);
    tel_log_set_service("bench");
    tel_log_set_level(TEL_LOG_INFO);

    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "bench");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
    tel_tracer_provider *p = tel_tracer_provider_create(&cfg);
    tel_span *span = tel_span_start(tel_tracer_get(p, "bench", NULL), "GET /v1/servers/{id}",
                                    TEL_SPAN_KIND_SERVER, NULL);
    tel_span_set_current(span);

    double w = measure(TEL_LOG_INFO, 20, 50000, NULL);
    bench_print("log.write", w, "ns");
    bench_print("log.write.x_clock_gettime", w / clk, "x");
    bench_print("log.write.filtered", measure(TEL_LOG_DEBUG, 20, 50000, NULL), "ns");

    tel_blrp_config bc = {.max_queue_size = 2048,
                          .max_export_batch_size = 512,
                          .schedule_delay_ms = 1000,
                          .export_timeout_ms = 30000};
    tel_log_processor *lp = tel_blrp_create(&sink.base, cfg.resource, &bc);
    tel_log_set_processor(lp);
    bench_print("log.write.otlp", measure(TEL_LOG_INFO, 200, 1024, lp), "ns");
    tel_log_set_processor(NULL);
    tel_blrp_stats st;
    tel_blrp_get_stats(lp, &st);
    bench_print("log.write.otlp.dropped", (double)st.dropped_queue_full, "records");
    tel_log_processor_shutdown(lp, 10000);
    tel_log_processor_destroy(lp);

    tel_span_set_current(NULL);
    tel_span_end(span);
    tel_tracer_provider_destroy(p);
    close(devnull);
    return 0;
}
