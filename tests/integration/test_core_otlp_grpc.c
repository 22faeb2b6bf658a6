/* The OTLP/gRPC transport (core/otlp_grpc.c) against an independent gRPC receiver
 * (tests/peers/otlp_grpc_receiver.js: grpc-js, decoding with the OpenTelemetry project's
 * generated code from @opentelemetry/otlp-transformer 0.52.1): traces, metrics and logs are
 * exported through telemetry's OTLP exporters with protocol grpc and compared field by field
 * with what was exported; headers travel as metadata, gzip as gRPC compression; the retry rules
 * of the OTLP specification (UNAVAILABLE retried, RESOURCE_EXHAUSTED only with RetryInfo and
 * after its delay, INVALID_ARGUMENT never) and abort on shutdown.
 *
 * Usage: test_core_otlp_grpc <scenario>
 *   traces | metrics | logs | retry_unavailable | resource_exhausted | permanent | partial | abort
 * Exits 77 (skipped) when tests/peers/node_modules lacks @grpc/grpc-js or otlp-transformer. */
#include <pthread.h>
#include <time.h>

#include "core/otlp_grpc.h"
#include "node_peer.h"
#include "otlp_compare.h"
#include "otlp_peer.h"
#include "telemetry/exporter.h"
#include "telemetry/memory_exporter.h"
#include "telemetry/trace.h"

/* ---- the receiver ---- */

typedef struct receiver {
    node_peer np;
    peer lines; /* only .out is used: the JSON lines file, read with peer_lines */
} receiver;

static bool receiver_start(receiver *r, const char *mode, int fail_first, int retry_delay_ms)
{
    memset(r, 0, sizeof *r);
    snprintf(r->lines.out, sizeof r->lines.out, "/tmp/otlp_grpc_%d_XXXXXX", (int)getpid());
    int fd = mkstemp(r->lines.out);
    if (fd < 0) return false;
    close(fd);
    char ff[16], rd[16];
    snprintf(ff, sizeof ff, "%d", fail_first);
    snprintf(rd, sizeof rd, "%d", retry_delay_ms);
    const char *const args[] = {"--out", r->lines.out,       "--mode", mode,         "--fail-first",
                                ff,      "--retry-delay-ms", rd,       "--lifetime", "60",
                                NULL};
    if (node_peer_start(&r->np, "otlp_grpc_receiver.js", args) != 0) {
        unlink(r->lines.out);
        return false;
    }
    return true;
}

static void receiver_stop(receiver *r)
{
    node_peer_stop(&r->np);
    unlink(r->lines.out);
}

static void make_config(tel_otlp_config *cfg, tel_otlp_signal signal, int port)
{
    tel_otlp_config_init(cfg, signal);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    tel_otlp_config_set_endpoint(cfg, url);
    cfg->protocol = TEL_OTLP_GRPC;
    cfg->timeout_ms = 5000;
    cfg->retry_initial_ms = 100;
    cfg->retry_max_ms = 200;
    tel_otlp_config_set_header(cfg, "X-BmcFleet-Test", "grpc");
    tel_otlp_config_set_header(cfg, "api-key", "s3cr3t-value");
}

static const char *const signal_key[] = {"resourceSpans", "resourceMetrics", "resourceLogs"};

/* Checks the transport-level facts of every received line. */
static void check_meta(json_t *lines, const char *signal, bool gzip)
{
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *meta = json_object_get(json_array_get(lines, i), "meta");
        CHECK(!json_object_get(meta, "decodeError"), "decode error: %s", jstr(meta, "decodeError"));
        CHECK(jstr(meta, "signal") && strcmp(jstr(meta, "signal"), signal) == 0, "signal %s",
              jstr(meta, "signal"));
        json_t *md = json_object_get(meta, "metadata");
        CHECK(jstr(md, "x-bmcfleet-test") && strcmp(jstr(md, "x-bmcfleet-test"), "grpc") == 0,
              "header as metadata: %s", jstr(md, "x-bmcfleet-test"));
        CHECK(jstr(md, "api-key") && strcmp(jstr(md, "api-key"), "s3cr3t-value") == 0,
              "secret header delivered");
        CHECK(!json_object_get(md, "traceparent"), "the exporter's own call carried a context");
        CHECK(jstr(meta, "userAgent") &&
                  strncmp(jstr(meta, "userAgent"), "OTel-OTLP-Exporter-C/", 21) == 0,
              "user agent %s", jstr(meta, "userAgent"));
        CHECK(jstr(meta, "encoding") &&
                  strcmp(jstr(meta, "encoding"), gzip ? "gzip" : "identity") == 0,
              "grpc-encoding %s", jstr(meta, "encoding"));
    }
}

/* ---- traces ---- */

static void make_spans(tel_tracer_provider *p)
{
    tel_tracer *t = tel_tracer_get(p, "bmcfleet.otlp-grpc", "1.2.3");
    tel_context remote = TEL_CONTEXT_INIT;
    for (int i = 0; i < 16; i++)
        remote.sc.trace_id[i] = (uint8_t)(0x21 + i);
    for (int i = 0; i < 8; i++)
        remote.sc.span_id[i] = (uint8_t)(0xB0 + i);
    remote.sc.flags = TEL_FLAG_SAMPLED;
    remote.sc.remote = true;
    const char *tsv = "congo=t61rcWkgMzE";
    remote.ts = tel_tracestate_parse(&tsv, NULL, 1, NULL);
    tel_span *srv = tel_span_start(t, "bmc.agent.v1.Agent/Power", TEL_SPAN_KIND_SERVER, &remote);
    tel_span_set_str_static(srv, "rpc.system", "grpc");
    tel_span_set_int(srv, "rpc.grpc.status_code", 0);
    tel_span_set_double(srv, "ratio", 0.5);
    tel_span_set_bool(srv, "ok", true);
    static const char *const tags[] = {"a", "b"};
    tel_attr arr = {.key = "tags", .type = TEL_ATTR_STRING_ARRAY, .len = 2, .v.arr = tags};
    tel_span_set_attr(srv, &arr);
    tel_attr ev = TEL_ATTR_INT64("attempt", 2);
    tel_span_add_event(srv, "retry", &ev, 1);
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_context_copy(&ctx, &remote);
    tel_context_set_span(&ctx, srv);
    tel_span *cli = tel_span_start(t, "ipmi.chassis_control", TEL_SPAN_KIND_CLIENT, &ctx);
    tel_span_set_str(cli, "bmc.address", "10.1.2.3");
    tel_span_set_status(cli, TEL_STATUS_ERROR, "BMC timeout");
    tel_span_end(cli);
    tel_span_end(srv);
    tel_span *root = tel_span_start(t, "discovery", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_span_end(root);
    tel_context_cleanup(&ctx);
    tel_context_cleanup(&remote);
}

static void scenario_traces(receiver *r, bool gzip)
{
    printf("== traces%s\n", gzip ? " (gzip)" : "");
    json_t *old = peer_lines(&r->lines, 0);
    size_t before = json_array_size(old);
    json_decref(old);
    tel_tracer_provider_config pc = {0};
    tel_attr rattrs[] = {TEL_ATTR_STR("service.name", "bmc-agent"),
                         TEL_ATTR_INT64("process.pid", 77)};
    pc.resource = tel_resource_create(rattrs, 2);
    pc.has_sampler = true;
    tel_sampler_init(&pc.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
    tel_tracer_provider *p = tel_tracer_provider_create(&pc);
    tel_memory_exporter *mem = tel_memory_exporter_create();
    tel_tracer_provider_add_processor(
        p, tel_simple_processor_create(tel_memory_exporter_base(mem), 5000));
    tel_otlp_config cfg;
    make_config(&cfg, TEL_OTLP_TRACES, r->np.port);
    cfg.gzip = gzip;
    tel_span_exporter *exp = tel_otlp_span_exporter_create(&cfg); /* through the factory */
    tel_otlp_config_cleanup(&cfg);
    CHECK(exp != NULL, "OTLP/gRPC span exporter");
    if (!exp) {
        tel_tracer_provider_destroy(p);
        return;
    }
    tel_bsp_config bc = {.max_queue_size = 64,
                         .max_export_batch_size = 64,
                         .schedule_delay_ms = 60000,
                         .export_timeout_ms = 10000};
    tel_tracer_provider_add_processor(p, tel_bsp_create(exp, &bc));
    make_spans(p);
    CHECK(tel_tracer_provider_force_flush(p, 10000) == TEL_OK, "flush");
    tel_otlp_exporter_stats st;
    tel_otlp_exporter_get_stats(exp, &st);
    CHECK(st.items_ok == 3 && st.retries == 0 && st.last_code == 0,
          "stats: %" PRIu64 " ok, %" PRIu64 " retries, last code %" PRId64, st.items_ok, st.retries,
          st.last_code);

    json_t *lines = peer_lines(&r->lines, before);
    CHECK(json_array_size(lines) == 1, "%zu requests", json_array_size(lines));
    check_meta(lines, "traces", gzip);
    size_t n = tel_memory_exporter_count(mem);
    int seen[8] = {0};
    const tel_resource *res = tel_tracer_provider_resource(p);
    for (size_t li = 0; li < json_array_size(lines); li++) {
        json_t *rss =
            json_object_get(json_object_get(json_array_get(lines, li), "request"), signal_key[0]);
        CHECK(json_array_size(rss) == 1, "%zu ResourceSpans", json_array_size(rss));
        json_t *rs = json_array_get(rss, 0);
        cmp_attr_list("resource", json_object_get(json_object_get(rs, "resource"), "attributes"),
                      res->attrs, (uint32_t)res->n_attrs);
        json_t *sss = json_object_get(rs, "scopeSpans");
        for (size_t si = 0; si < json_array_size(sss); si++) {
            json_t *ss = json_array_get(sss, si);
            json_t *scope = json_object_get(ss, "scope");
            CHECK(jstr(scope, "name") && strcmp(jstr(scope, "name"), "bmcfleet.otlp-grpc") == 0 &&
                      jstr(scope, "version") && strcmp(jstr(scope, "version"), "1.2.3") == 0,
                  "scope");
            json_t *spans = json_object_get(ss, "spans");
            for (size_t k = 0; k < json_array_size(spans); k++) {
                json_t *sp = json_array_get(spans, k);
                for (size_t m = 0; m < n && m < 8; m++) {
                    char id[17];
                    hex(tel_memory_exporter_span(mem, m)->sc.span_id, 8, id);
                    if (jstr(sp, "spanId") && strcmp(jstr(sp, "spanId"), id) == 0) {
                        seen[m]++;
                        cmp_span(sp, tel_memory_exporter_span(mem, m));
                    }
                }
            }
        }
    }
    CHECK(n == 3, "%zu spans recorded", n);
    for (size_t m = 0; m < n && m < 8; m++)
        CHECK(seen[m] == 1, "span %zu received %d times", m, seen[m]);
    json_decref(lines);
    tel_tracer_provider_destroy(p);
}

/* ---- metrics ---- */

static const double bounds[] = {0, 5, 10};
static const uint64_t buckets_a[] = {1, 2, 0, 1};
static const uint64_t buckets_b[] = {0, 0, 3, 0};

static void scenario_metrics(receiver *r)
{
    printf("== metrics\n");
    const uint64_t t0 = 1700000000000000000ull, t1 = t0 + 60000000000ull;
    tel_attr pa[] = {TEL_ATTR_STR("rpc.method", "Power"),
                     TEL_ATTR_INT64("rpc.grpc.status_code", 0)};
    tel_attr pb[] = {TEL_ATTR_STR("rpc.method", "Console")};
    tel_attr fa[] = {TEL_ATTR_STR("customer_id", "c-1")};
    tel_exemplar ex = {.time_ns = t1 - 5,
                       .is_int = false,
                       .value.d = 12.5,
                       .has_span = true,
                       .filtered_attrs = fa,
                       .n_filtered_attrs = 1};
    for (int i = 0; i < 16; i++)
        ex.trace_id[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 8; i++)
        ex.span_id[i] = (uint8_t)(0x80 + i);
    tel_exemplar exi = {.time_ns = t1 - 9, .is_int = true, .value.i = 3};
    tel_metric_point sum_pts[] = {{.attrs = pa,
                                   .n_attrs = 2,
                                   .start_ns = t0,
                                   .time_ns = t1,
                                   .is_int = true,
                                   .value.i = 42,
                                   .exemplars = &exi,
                                   .n_exemplars = 1},
                                  {.attrs = pb,
                                   .n_attrs = 1,
                                   .start_ns = t0,
                                   .time_ns = t1,
                                   .is_int = true,
                                   .value.i = INT64_MAX}};
    tel_metric_point gauge_pts[] = {{.attrs = NULL,
                                     .n_attrs = 0,
                                     .start_ns = t0,
                                     .time_ns = t1,
                                     .is_int = false,
                                     .value.d = -0.25}};
    tel_metric_point hist_pts[] = {{.attrs = pa,
                                    .n_attrs = 2,
                                    .start_ns = t0,
                                    .time_ns = t1,
                                    .count = 4,
                                    .sum = 17.5,
                                    .has_min_max = true,
                                    .min = 0,
                                    .max = 11,
                                    .bucket_counts = buckets_a,
                                    .exemplars = &ex,
                                    .n_exemplars = 1},
                                   {.attrs = pb,
                                    .n_attrs = 1,
                                    .start_ns = t0,
                                    .time_ns = t1,
                                    .count = 3,
                                    .sum = 24,
                                    .has_min_max = false,
                                    .bucket_counts = buckets_b}};
    tel_metric ms[] = {{.name = "rpc.server.calls",
                        .description = "Calls handled.",
                        .unit = "{call}",
                        .type = TEL_METRIC_SUM,
                        .monotonic = true,
                        .temporality = TEL_TEMPORALITY_CUMULATIVE,
                        .scope_name = "bmcfleet.core.grpc",
                        .scope_version = "0.1.0",
                        .points = sum_pts,
                        .n_points = 2},
                       {.name = "queue.depth",
                        .description = "",
                        .unit = "",
                        .type = TEL_METRIC_GAUGE,
                        .temporality = TEL_TEMPORALITY_CUMULATIVE,
                        .scope_name = "bmcfleet.core.grpc",
                        .scope_version = "0.1.0",
                        .points = gauge_pts,
                        .n_points = 1},
                       {.name = "rpc.server.duration",
                        .description = "Duration of inbound RPCs.",
                        .unit = "ms",
                        .type = TEL_METRIC_HISTOGRAM,
                        .temporality = TEL_TEMPORALITY_CUMULATIVE,
                        .bounds = bounds,
                        .n_bounds = 3,
                        .scope_name = "bmcfleet.core.grpc",
                        .scope_version = "0.1.0",
                        .points = hist_pts,
                        .n_points = 2}};
    tel_attr rattrs[] = {TEL_ATTR_STR("service.name", "bmc-gateway")};
    tel_resource *res = tel_resource_create(rattrs, 1);

    tel_otlp_config cfg;
    make_config(&cfg, TEL_OTLP_METRICS, r->np.port);
    tel_metric_exporter *exp = tel_otlp_metric_exporter_create(&cfg);
    tel_otlp_config_cleanup(&cfg);
    CHECK(exp != NULL, "OTLP/gRPC metric exporter");
    if (exp) {
        int rc = exp->export_metrics(exp, res, ms, 3, tel_mono_ns() + 10000000000ull);
        CHECK(rc == TEL_OK, "export_metrics: %d", rc);
        exp->shutdown(exp);
        exp->destroy(exp);
    }
    json_t *lines = peer_lines(&r->lines, 0);
    CHECK(json_array_size(lines) == 1, "%zu requests", json_array_size(lines));
    check_meta(lines, "metrics", false);
    json_t *rms =
        json_object_get(json_object_get(json_array_get(lines, 0), "request"), signal_key[1]);
    CHECK(json_array_size(rms) == 1, "%zu ResourceMetrics", json_array_size(rms));
    json_t *rm = json_array_get(rms, 0);
    cmp_attr_list("resource", json_object_get(json_object_get(rm, "resource"), "attributes"),
                  rattrs, 1);
    json_t *sms = json_object_get(rm, "scopeMetrics");
    CHECK(json_array_size(sms) == 1, "%zu ScopeMetrics", json_array_size(sms));
    json_t *sm = json_array_get(sms, 0);
    json_t *scope = json_object_get(sm, "scope");
    CHECK(jstr(scope, "name") && strcmp(jstr(scope, "name"), "bmcfleet.core.grpc") == 0, "scope");
    json_t *jms = json_object_get(sm, "metrics");
    CHECK(json_array_size(jms) == 3, "%zu metrics", json_array_size(jms));
    for (size_t i = 0; i < 3 && i < json_array_size(jms); i++)
        cmp_metric(json_array_get(jms, i), &ms[i]);
    json_decref(lines);
    tel_resource_destroy(res);
}

/* ---- logs ---- */

static void scenario_logs(receiver *r)
{
    printf("== logs\n");
    tel_attr a1[] = {TEL_ATTR_STR("server_id", "srv-9"), TEL_ATTR_INT64("attempt", 3),
                     TEL_ATTR_BOOLEAN("final", false), TEL_ATTR_DBL("elapsed_s", 1.25)};
    tel_log_record recs[2] = {{.time_ns = 1700000000123456789ull,
                               .observed_time_ns = 1700000000123456999ull,
                               .severity_number = TEL_SEVERITY_ERROR,
                               .severity_text = "ERROR",
                               .body = "power on failed: BMC timeout",
                               .body_len = 28,
                               .attrs = a1,
                               .n_attrs = 4,
                               .dropped_attrs = 1,
                               .has_span = true,
                               .trace_flags = 1,
                               .scope_name = "bmc-agent",
                               .scope_version = NULL},
                              {.time_ns = 1700000000200000000ull,
                               .observed_time_ns = 1700000000200000001ull,
                               .severity_number = TEL_SEVERITY_INFO,
                               .severity_text = "INFO",
                               .body = "h\xc3\xa9llo \xe2\x9c\x93",
                               .body_len = 10,
                               .scope_name = "bmc-agent"}};
    for (int i = 0; i < 16; i++)
        recs[0].trace_id[i] = (uint8_t)(0xA0 + i);
    for (int i = 0; i < 8; i++)
        recs[0].span_id[i] = (uint8_t)(0x10 + i);
    const tel_log_record *ptrs[2] = {&recs[0], &recs[1]};
    tel_attr rattrs[] = {TEL_ATTR_STR("service.name", "bmc-agent")};
    tel_resource *res = tel_resource_create(rattrs, 1);

    tel_otlp_config cfg;
    make_config(&cfg, TEL_OTLP_LOGS, r->np.port);
    cfg.gzip = true;
    tel_otlp_transport *t = core_otlp_grpc_transport_create(&cfg); /* directly, this time */
    CHECK(t != NULL, "transport");
    tel_log_exporter *exp = t ? tel_otlp_log_exporter_create_with_transport(&cfg, t) : NULL;
    tel_otlp_config_cleanup(&cfg);
    CHECK(exp != NULL, "OTLP/gRPC log exporter");
    if (exp) {
        int rc = exp->export_logs(exp, res, ptrs, 2, tel_mono_ns() + 10000000000ull);
        CHECK(rc == TEL_OK, "export_logs: %d", rc);
        exp->shutdown(exp);
        exp->destroy(exp);
    }
    json_t *lines = peer_lines(&r->lines, 0);
    CHECK(json_array_size(lines) == 1, "%zu requests", json_array_size(lines));
    check_meta(lines, "logs", true);
    json_t *rls =
        json_object_get(json_object_get(json_array_get(lines, 0), "request"), signal_key[2]);
    CHECK(json_array_size(rls) == 1, "%zu ResourceLogs", json_array_size(rls));
    json_t *rl = json_array_get(rls, 0);
    cmp_attr_list("resource", json_object_get(json_object_get(rl, "resource"), "attributes"),
                  rattrs, 1);
    json_t *sls = json_object_get(rl, "scopeLogs");
    CHECK(json_array_size(sls) == 1, "%zu ScopeLogs", json_array_size(sls));
    json_t *sl = json_array_get(sls, 0);
    CHECK(jstr(json_object_get(sl, "scope"), "name") &&
              strcmp(jstr(json_object_get(sl, "scope"), "name"), "bmc-agent") == 0,
          "scope name");
    json_t *lrs = json_object_get(sl, "logRecords");
    CHECK(json_array_size(lrs) == 2, "%zu log records", json_array_size(lrs));
    for (size_t i = 0; i < 2 && i < json_array_size(lrs); i++)
        cmp_log(json_array_get(lrs, i), &recs[i]);
    json_decref(lines);
    tel_resource_destroy(res);
}

/* ---- failures and retries ---- */

/* Exports one small span batch through a fresh exporter; returns the export result and fills
 * stats and the elapsed time. */
static int export_once(receiver *r, tel_otlp_config *cfg, tel_otlp_exporter_stats *st,
                       long *elapsed_ms)
{
    tel_tracer_provider_config pc = {0};
    pc.has_sampler = true;
    tel_sampler_init(&pc.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
    tel_tracer_provider *p = tel_tracer_provider_create(&pc);
    tel_memory_exporter *mem = tel_memory_exporter_create();
    tel_tracer_provider_add_processor(
        p, tel_simple_processor_create(tel_memory_exporter_base(mem), 5000));
    tel_tracer *t = tel_tracer_get(p, "retry", NULL);
    tel_span *s = tel_span_start(t, "one", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_span_end(s);
    tel_span_exporter *exp = tel_otlp_span_exporter_create(cfg);
    CHECK(exp != NULL, "exporter");
    const tel_span_data *d = tel_memory_exporter_span(mem, 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = exp->export_spans(exp, tel_tracer_provider_resource(p), &d, 1,
                               tel_mono_ns() + 15000000000ull);
    clock_gettime(CLOCK_MONOTONIC, &b);
    *elapsed_ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    tel_otlp_exporter_get_stats(exp, st);
    exp->shutdown(exp);
    exp->destroy(exp);
    tel_tracer_provider_destroy(p);
    return rc;
}

static long long received_at(json_t *lines, size_t i)
{
    json_t *v = json_object_get(json_object_get(json_array_get(lines, i), "meta"), "receivedAt");
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static void scenario_retry_unavailable(receiver *r)
{
    printf("== UNAVAILABLE twice, then OK\n");
    tel_otlp_config cfg;
    make_config(&cfg, TEL_OTLP_TRACES, r->np.port);
    tel_otlp_exporter_stats st;
    long ms;
    int rc = export_once(r, &cfg, &st, &ms);
    tel_otlp_config_cleanup(&cfg);
    CHECK(rc == TEL_OK, "export after retries: %d", rc);
    CHECK(st.attempts == 3 && st.retries == 2 && st.items_ok == 1,
          "attempts %" PRIu64 ", retries %" PRIu64, st.attempts, st.retries);
    json_t *lines = peer_lines(&r->lines, 0);
    CHECK(json_array_size(lines) == 3, "%zu requests received", json_array_size(lines));
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *meta = json_object_get(json_array_get(lines, i), "meta");
        CHECK(strcmp(jstr(meta, "mode"), i < 2 ? "unavailable" : "ok") == 0, "request %zu: %s", i,
              jstr(meta, "mode"));
    }
    /* the same body every time */
    if (json_array_size(lines) == 3) {
        char *a = json_dumps(json_object_get(json_array_get(lines, 0), "request"), JSON_SORT_KEYS);
        char *c = json_dumps(json_object_get(json_array_get(lines, 2), "request"), JSON_SORT_KEYS);
        CHECK(a && c && strcmp(a, c) == 0, "the retried body differs");
        free(a);
        free(c);
    }
    json_decref(lines);
}

static void scenario_resource_exhausted(void)
{
    printf("== RESOURCE_EXHAUSTED without RetryInfo: not retried\n");
    receiver r;
    CHECK(receiver_start(&r, "resource_exhausted", 1, 0), "receiver");
    tel_otlp_config cfg;
    make_config(&cfg, TEL_OTLP_TRACES, r.np.port);
    tel_otlp_exporter_stats st;
    long ms;
    int rc = export_once(&r, &cfg, &st, &ms);
    tel_otlp_config_cleanup(&cfg);
    CHECK(rc == TEL_EREJECTED, "export: %d", rc);
    CHECK(st.attempts == 1 && st.last_code == 8, "attempts %" PRIu64 ", last code %" PRId64,
          st.attempts, st.last_code);
    json_t *lines = peer_lines(&r.lines, 0);
    CHECK(json_array_size(lines) == 1, "%zu requests received", json_array_size(lines));
    json_decref(lines);
    receiver_stop(&r);

    printf("== RESOURCE_EXHAUSTED with RetryInfo (700 ms): retried after the delay\n");
    CHECK(receiver_start(&r, "retry_info", 1, 700), "receiver");
    make_config(&cfg, TEL_OTLP_TRACES, r.np.port);
    /* exponential backoff alone would wait 2.5-5 s: the RetryInfo delay must win */
    cfg.retry_initial_ms = 5000;
    cfg.retry_max_ms = 5000;
    rc = export_once(&r, &cfg, &st, &ms);
    tel_otlp_config_cleanup(&cfg);
    CHECK(rc == TEL_OK, "export: %d", rc);
    CHECK(st.attempts == 2 && st.retries == 1, "attempts %" PRIu64, st.attempts);
    lines = peer_lines(&r.lines, 0);
    CHECK(json_array_size(lines) == 2, "%zu requests received", json_array_size(lines));
    if (json_array_size(lines) == 2) {
        long long gap = received_at(lines, 1) - received_at(lines, 0);
        CHECK(gap >= 650 && gap < 2000, "retried %lld ms later (RetryInfo 700 ms)", gap);
    }
    json_decref(lines);
    receiver_stop(&r);
}

static void scenario_permanent(receiver *r)
{
    printf("== INVALID_ARGUMENT: never retried\n");
    tel_otlp_config cfg;
    make_config(&cfg, TEL_OTLP_TRACES, r->np.port);
    tel_otlp_exporter_stats st;
    long ms;
    int rc = export_once(r, &cfg, &st, &ms);
    tel_otlp_config_cleanup(&cfg);
    CHECK(rc == TEL_EREJECTED && st.attempts == 1 && st.last_code == 3,
          "rc %d, attempts %" PRIu64 ", code %" PRId64, rc, st.attempts, st.last_code);
    json_t *lines = peer_lines(&r->lines, 0);
    CHECK(json_array_size(lines) == 1, "%zu requests received", json_array_size(lines));
    json_decref(lines);

    /* nobody listening: UNAVAILABLE, retried until the deadline, then TEL_EIO */
    tel_otlp_config dead;
    tel_otlp_config_init(&dead, TEL_OTLP_TRACES);
    tel_otlp_config_set_endpoint(&dead, "http://127.0.0.1:1");
    dead.protocol = TEL_OTLP_GRPC;
    dead.timeout_ms = 500;
    dead.retry_initial_ms = 50;
    dead.retry_max_ms = 100;
    dead.retry_max_attempts = 3;
    rc = export_once(r, &dead, &st, &ms);
    tel_otlp_config_cleanup(&dead);
    CHECK(rc == TEL_EIO && st.attempts == 3 && st.last_code == 14,
          "no receiver: rc %d, attempts %" PRIu64 ", code %" PRId64, rc, st.attempts, st.last_code);
    CHECK(ms < 3000, "gave up after %ld ms", ms);
}

static void scenario_partial(receiver *r)
{
    printf("== partial success\n");
    tel_otlp_config cfg;
    make_config(&cfg, TEL_OTLP_TRACES, r->np.port);
    tel_otlp_exporter_stats st;
    long ms;
    int rc = export_once(r, &cfg, &st, &ms);
    tel_otlp_config_cleanup(&cfg);
    CHECK(rc == TEL_OK && st.partial_successes == 1 && st.rejected_items == 1,
          "rc %d, partial %" PRIu64 ", rejected %" PRIu64, rc, st.partial_successes,
          st.rejected_items);
}

typedef struct abort_arg {
    tel_span_exporter *exp;
    const tel_span_data *d;
    int rc;
} abort_arg;

static void *abort_export(void *p)
{
    abort_arg *a = p;
    a->rc = a->exp->export_spans(a->exp, NULL, &a->d, 1, tel_mono_ns() + 20000000000ull);
    return NULL;
}

static void scenario_abort(receiver *r)
{
    printf("== shutdown while the receiver hangs\n");
    tel_otlp_config cfg;
    make_config(&cfg, TEL_OTLP_TRACES, r->np.port);
    cfg.timeout_ms = 20000;
    tel_span_exporter *exp = tel_otlp_span_exporter_create(&cfg);
    tel_otlp_config_cleanup(&cfg);
    tel_span_data d;
    memset(&d, 0, sizeof d);
    d.name = "hang";
    memset(d.sc.trace_id, 1, 16);
    memset(d.sc.span_id, 2, 8);
    d.kind = TEL_SPAN_KIND_INTERNAL;
    abort_arg a = {exp, &d, 1};
    pthread_t th;
    pthread_create(&th, NULL, abort_export, &a);
    usleep(500 * 1000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    exp->shutdown(exp);
    pthread_join(th, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(a.rc == TEL_ESHUTDOWN, "export after shutdown: %d", a.rc);
    CHECK(ms < 1000, "the in-flight export ended %ld ms after shutdown", ms);
    exp->destroy(exp);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr,
                "usage: %s traces|metrics|logs|retry_unavailable|resource_exhausted|"
                "permanent|partial|abort\n",
                argv[0]);
        return 2;
    }
    node_peer_require_or_skip("@grpc/grpc-js");
    node_peer_require_or_skip("@opentelemetry/otlp-transformer");
    core_otlp_grpc_register();
    const char *sc = argv[1];
    static const struct {
        const char *name, *mode;
        int fail_first;
    } modes[] = {{"traces", "ok", 0},
                 {"metrics", "ok", 0},
                 {"logs", "ok", 0},
                 {"retry_unavailable", "unavailable", 2},
                 {"permanent", "invalid_argument", 1},
                 {"partial", "partial", 1},
                 {"abort", "hang", 1}};
    if (strcmp(sc, "resource_exhausted") == 0) {
        scenario_resource_exhausted();
    } else {
        size_t i;
        for (i = 0; i < sizeof modes / sizeof modes[0]; i++)
            if (strcmp(sc, modes[i].name) == 0) break;
        if (i == sizeof modes / sizeof modes[0]) {
            fprintf(stderr, "unknown scenario %s\n", sc);
            return 2;
        }
        receiver r;
        if (!receiver_start(&r, modes[i].mode, modes[i].fail_first ? modes[i].fail_first : 1000,
                            300)) {
            fprintf(stderr, "cannot start the OTLP/gRPC receiver\n");
            return 1;
        }
        if (strcmp(sc, "traces") == 0) {
            scenario_traces(&r, false);
            scenario_traces(&r, true);
        } else if (strcmp(sc, "metrics") == 0) {
            scenario_metrics(&r);
        } else if (strcmp(sc, "logs") == 0) {
            scenario_logs(&r);
        } else if (strcmp(sc, "retry_unavailable") == 0) {
            scenario_retry_unavailable(&r);
        } else if (strcmp(sc, "permanent") == 0) {
            scenario_permanent(&r);
        } else if (strcmp(sc, "partial") == 0) {
            scenario_partial(&r);
        } else {
            scenario_abort(&r);
        }
        receiver_stop(&r);
    }
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
