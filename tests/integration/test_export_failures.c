/* Export failures behind the batch span processor: the collector refuses connections
 * ("refused"), answers 503 with Retry-After ("unavailable"), answers 503 twice and then accepts
 * ("recovers"), answers 400 ("rejected"), or never answers ("hang"). For each:
 *   - the application thread stays fast: the cost of every span start+attributes+end is
 *     measured while the exporter is stuck (percentiles and max printed; generous bounds),
 *   - memory stays bounded by the queue while far more spans than the queue holds are made,
 *   - exported + dropped_queue_full + export_failed == ended after shutdown,
 *   - shutdown returns within its bound (the export timeout) even when the collector hangs,
 *   - the scenario's own rule: 400 never retried, Retry-After honoured, recovery exports.
 * Usage: test_export_failures <scenario>. Exit 77 (skipped) when the npm peer is missing
 * (scenarios that need it). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "otlp_peer.h"
#include "telemetry/exporter.h"
#include "telemetry/trace.h"

#define N_SPANS 300000
#define BURST 10000
#define QUEUE 2048
#define EXPORT_TIMEOUT_MS 3000

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *sc = argc > 1 ? argv[1] : "";
    const char *mode_args[8] = {NULL};
    bool need_peer = true;
    if (strcmp(sc, "refused") == 0) {
        need_peer = false;
    } else if (strcmp(sc, "unavailable") == 0) {
        const char *a[] = {"--mode", "503", "--retry-after", "1", NULL};
        memcpy(mode_args, a, sizeof a);
    } else if (strcmp(sc, "recovers") == 0) {
        const char *a[] = {"--mode", "503", "--retry-after", "1", "--fail-first", "2", NULL};
        memcpy(mode_args, a, sizeof a);
    } else if (strcmp(sc, "rejected") == 0) {
        const char *a[] = {"--mode", "400", NULL};
        memcpy(mode_args, a, sizeof a);
    } else if (strcmp(sc, "hang") == 0) {
        const char *a[] = {"--mode", "hang", NULL};
        memcpy(mode_args, a, sizeof a);
    } else {
        fprintf(stderr, "usage: %s refused|unavailable|recovers|rejected|hang\n", argv[0]);
        return 2;
    }
    peer pr = {0};
    int port;
    if (need_peer) {
        peer_require_or_skip();
        if (peer_start(&pr, mode_args) != 0) return 1;
        port = pr.port;
    } else {
        /* a loopback port nobody listens on */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bind(fd, (struct sockaddr *)&a, sizeof a);
        socklen_t al = sizeof a;
        getsockname(fd, (struct sockaddr *)&a, &al);
        close(fd);
        port = ntohs(a.sin_port);
    }

    /* Provider: always sample; BSP in front of the OTLP exporter. */
    tel_tracer_provider_config pc = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "bmc-failure-test");
    pc.resource = tel_resource_create(&svc, 1);
    pc.has_sampler = true;
    tel_sampler_init(&pc.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
    tel_tracer_provider *p = tel_tracer_provider_create(&pc);
    tel_otlp_config cfg;
    tel_otlp_config_init(&cfg, TEL_OTLP_TRACES);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", port);
    tel_otlp_config_set_endpoint(&cfg, url);
    cfg.timeout_ms = 1000;
    cfg.retry_initial_ms = 100;
    cfg.retry_max_ms = 400;
    tel_otlp_config_set_header(&cfg, "authorization", "Bearer FAILURE-TEST-SECRET");
    tel_span_exporter *exp = tel_otlp_span_exporter_create(&cfg);
    tel_otlp_config_cleanup(&cfg);
    tel_bsp_config bc = {.max_queue_size = QUEUE,
                         .max_export_batch_size = 512,
                         .schedule_delay_ms = 200,
                         .export_timeout_ms = EXPORT_TIMEOUT_MS};
    tel_span_processor *bsp = tel_bsp_create(exp, &bc);
    if (!p || !exp || !bsp) return 1;
    tel_tracer_provider_add_processor(p, bsp);
    tel_tracer *t = tel_tracer_get(p, "failure-test", "1.0");

    uint32_t *cost = malloc(N_SPANS * sizeof *cost);
    memset(cost, 0xff, N_SPANS * sizeof *cost); /* touched now, not while RSS is measured */
    /* warm-up: fills the queue and the thread's span pool, starts the first (stuck) export */
    for (int i = 0; i < 4 * QUEUE; i++) {
        tel_span *s = tel_span_start(t, "warmup", TEL_SPAN_KIND_INTERNAL, NULL);
        tel_span_end(s);
    }
    sleep_ms(300);
    long rss0 = rss_kib();
    uint64_t t_prod = tel_mono_ns();
    for (int i = 0; i < N_SPANS; i++) {
        uint64_t a = tel_mono_ns();
        tel_span *s = tel_span_start(t, "GET /v1/servers/{id}", TEL_SPAN_KIND_SERVER, NULL);
        tel_span_set_int(s, "http.response.status_code", 200);
        tel_span_set_str_static(s, "http.route", "/v1/servers/{id}");
        tel_span_end(s);
        cost[i] = (uint32_t)(tel_mono_ns() - a);
        if ((i + 1) % BURST == 0)
            sleep_ms(50); /* spread over ~1.5 s so the exporter is busy failing meanwhile */
    }
    uint64_t prod_ms = (tel_mono_ns() - t_prod) / 1000000u;
    long rss1 = rss_kib();

    uint64_t t_sd = tel_mono_ns();
    int sd_rc = tel_tracer_provider_shutdown(p, EXPORT_TIMEOUT_MS);
    uint64_t sd_ms = (tel_mono_ns() - t_sd) / 1000000u;
    tel_bsp_stats bs;
    tel_bsp_get_stats(bsp, &bs);
    tel_otlp_exporter_stats es;
    tel_otlp_exporter_get_stats(exp, &es);

    qsort(cost, N_SPANS, sizeof *cost, cmp_u32);
    uint32_t p50 = cost[N_SPANS / 2], p99 = cost[N_SPANS * 99 / 100],
             p999 = cost[N_SPANS - N_SPANS / 1000], max = cost[N_SPANS - 1];
    uint64_t total = (uint64_t)N_SPANS + 4 * QUEUE;
    printf("scenario=%s spans=%" PRIu64 " ended=%" PRIu64 " exported=%" PRIu64
           " dropped_queue_full=%" PRIu64 " export_failed=%" PRIu64 "\n",
           sc, total, bs.ended, bs.exported, bs.dropped_queue_full, bs.export_failed);
    printf("  app thread per span (start+2 attrs+end): p50=%u ns p99=%u ns p99.9=%u ns max=%u us"
           " (production took %" PRIu64 " ms)\n",
           p50, p99, p999, max / 1000, prod_ms);
    printf("  rss growth while making %d spans: %ld KiB (queue %d; keeping every record would "
           "take %zu KiB)\n",
           N_SPANS, rss1 - rss0, QUEUE, (size_t)N_SPANS * sizeof(tel_span_data) / 1024);
    printf("  shutdown: %" PRIu64 " ms (bound %d ms), rc=%d\n", sd_ms, EXPORT_TIMEOUT_MS, sd_rc);
    printf("  exporter: exports=%" PRIu64 " attempts=%" PRIu64 " retries=%" PRIu64
           " items_ok=%" PRIu64 " items_failed=%" PRIu64 " last_code=%" PRId64 "\n",
           es.exports, es.attempts, es.retries, es.items_ok, es.items_failed, es.last_code);

    /* Common rules. */
    CHECK(bs.ended == total, "ended %" PRIu64 " != %" PRIu64, bs.ended, total);
    CHECK(bs.exported + bs.dropped_queue_full + bs.export_failed == bs.ended,
          "exported + dropped + failed != ended");
    CHECK(bs.dropped_queue_full > 0, "the queue never overflowed: the test proves nothing");
    /* Blocking on the exporter would cost a request timeout (1 s); scheduling noise on a
     * loaded machine is well under 50 ms. */
    CHECK(max < 50u * 1000000u, "an application span took %u us", max / 1000);
    CHECK(p999 < 250000u, "p99.9 per span %u ns", p999);
    /* Unbounded buffering would keep every record: N_SPANS * sizeof(tel_span_data). A quarter of
     * that is a safe bound even under ASan, whose quarantine holds the exporter thread's freed
     * memory (a plain build grows by well under 1 MiB). */
    long unbounded_kib = (long)((uint64_t)N_SPANS * sizeof(tel_span_data) / 1024);
    CHECK(rss1 - rss0 < unbounded_kib / 4, "rss grew by %ld KiB (unbounded: %ld KiB)", rss1 - rss0,
          unbounded_kib);
    CHECK(sd_ms <= EXPORT_TIMEOUT_MS + 1000, "shutdown took %" PRIu64 " ms", sd_ms);
    CHECK(sd_rc == TEL_OK, "shutdown rc %d", sd_rc);

    /* Scenario rules. */
    json_t *lines = need_peer ? peer_lines(&pr, 0) : json_array();
    size_t nreq = json_array_size(lines);
    printf("  receiver saw %zu requests\n", nreq);
    if (strcmp(sc, "recovers") == 0) {
        CHECK(bs.exported > 0, "nothing exported after the collector recovered");
        CHECK(es.retries >= 2, "expected the 503s to be retried");
    } else {
        CHECK(bs.exported == 0, "exported %" PRIu64 " against a failing collector", bs.exported);
    }
    if (strcmp(sc, "rejected") == 0) {
        CHECK(es.retries == 0, "a 400 was retried");
        CHECK(nreq == es.attempts && es.last_code == 400, "requests %zu attempts %" PRIu64, nreq,
              es.attempts);
    }
    if (strcmp(sc, "unavailable") == 0 || strcmp(sc, "recovers") == 0) {
        /* Retry-After: 1 means consecutive requests of one export are >= 1 s apart; only the
         * first request of each export may follow the previous one sooner. */
        size_t quick = 0;
        for (size_t i = 1; i < nreq; i++) {
            json_t *m0 = json_object_get(json_array_get(lines, i - 1), "meta");
            json_t *m1 = json_object_get(json_array_get(lines, i), "meta");
            json_int_t gap = json_integer_value(json_object_get(m1, "receivedAt")) -
                             json_integer_value(json_object_get(m0, "receivedAt"));
            if (gap < 900) quick++;
        }
        printf("  request gaps under 900 ms: %zu (exports %" PRIu64 ")\n", quick, es.exports);
        CHECK(es.retries > 0, "no retries");
        CHECK(quick <= es.exports, "Retry-After not honoured: %zu quick retries", quick);
    }
    if (strcmp(sc, "hang") == 0 || strcmp(sc, "refused") == 0)
        CHECK(es.last_code == 0, "an answer from a dead collector?");
    json_decref(lines);
    tel_tracer_provider_destroy(p);
    if (need_peer) peer_stop(&pr);
    free(cost);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
