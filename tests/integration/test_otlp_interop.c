/* OTLP interop: spans made through the public span API are exported over HTTP (protobuf,
 * protobuf + gzip, JSON) to tests/peers/otlp_receiver.js, which decodes them with the
 * OpenTelemetry project's generated code (@opentelemetry/otlp-transformer 0.52.1). Every field
 * the receiver decoded is compared with the record the span core produced (captured by an
 * in-memory exporter on the same provider).
 *
 * Metrics and logs likewise, each as OTLP/protobuf (plain and gzip) and OTLP/JSON: metrics from
 * real instruments (every kind, exemplars recorded inside a sampled span) collected with
 * tel_meter_provider_collect, plus hand-built ones for the cases the instruments do not make
 * (delta temporality, int exemplars, non-finite values); log records from tel_log through the
 * batch log record processor. Each request is compared field by field with the metrics or
 * records that were exported, while they are still borrowed by the export call.
 *
 * Skipped (exit 77) only when the peer's npm packages are missing. */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/otlp_test_util.h"
#include "otlp_compare.h"
#include "otlp_peer.h"
#include "telemetry/exporter.h"
#include "telemetry/log.h"
#include "telemetry/memory_exporter.h"
#include "telemetry/metrics.h"
#include "telemetry/redact.h"
#include "telemetry/trace.h"

/* ---- Spans through the public API ---- */

static const char *const str_arr[] = {"alpha", "", "gamma \xe2\x9c\x93"};
static const bool bool_arr[] = {true, false, true};
static const int64_t int_arr[] = {INT64_MIN, -1, 0, INT64_MAX};
static double dbl_arr[4];

static void make_spans(tel_tracer_provider *p, int run)
{
    dbl_arr[0] = 0.1;
    dbl_arr[1] = -0.0;
    dbl_arr[2] = INFINITY;
    dbl_arr[3] = NAN;
    tel_tracer *t = tel_tracer_get(p, "bmcfleet.interop", "1.0.0");
    tel_tracer *t2 = tel_tracer_get(p, "bmcfleet.other", NULL);

    /* a remote parent with a tracestate, as an extracted traceparent would give */
    tel_context remote = TEL_CONTEXT_INIT;
    for (int i = 0; i < 16; i++)
        remote.sc.trace_id[i] = (uint8_t)(0x10 * run + i + 1);
    for (int i = 0; i < 8; i++)
        remote.sc.span_id[i] = (uint8_t)(0xA0 + i);
    remote.sc.flags = TEL_FLAG_SAMPLED;
    remote.sc.remote = true;
    const char *tsv = "vendor=abc,other=xyz";
    remote.ts = tel_tracestate_parse(&tsv, NULL, 1, NULL);

    uint64_t t0 = 1700000000000000000ull + (uint64_t)run * 1000000000u;
    tel_attr init[] = {TEL_ATTR_STR("http.request.method", "GET"),
                       TEL_ATTR_INT64("server_id", 1234)};
    tel_span_context lsc[3];
    memset(lsc, 0, sizeof lsc);
    for (int k = 0; k < 3; k++) {
        memset(lsc[k].trace_id, 0x30 + k, 16);
        memset(lsc[k].span_id, 0x40 + k, 8);
        lsc[k].flags = (uint8_t)(k == 0 ? 1 : 0);
        lsc[k].remote = k == 1;
    }
    tel_attr link_attrs[] = {TEL_ATTR_STR("link.kind", "follows"), TEL_ATTR_BOOLEAN("x", true)};
    tel_link links[2] = {{.sc = lsc[0], .tracestate = "k1=v1", .attrs = link_attrs, .n_attrs = 2},
                         {.sc = lsc[1], .tracestate = NULL, .attrs = NULL, .n_attrs = 0}};
    tel_span_start_opts o = {.name = "GET /v1/servers/{id}",
                             .kind = TEL_SPAN_KIND_SERVER,
                             .parent = &remote,
                             .start_ns = t0,
                             .attrs = init,
                             .n_attrs = 2,
                             .links = links,
                             .n_links = 2};
    tel_span *a = tel_span_start_ex(t, &o);
    /* a third link: over the limit of 2, dropped and counted */
    tel_span_add_link(a, &lsc[2], "k3=v3", NULL, 0);
    tel_span_set_str(a, "http.route", "/v1/servers/{id}");
    tel_span_set_str_static(a, "static", "literal");
    tel_span_set_strn(a, "strn", "abcdef", 3);
    tel_span_set_str(a, "empty", "");
    tel_span_set_str(a, "unicode", "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x9a\x80");
    char longv[1200];
    memset(longv, 'L', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    tel_span_set_str(a, "long", longv);
    tel_span_set_int(a, "int.neg", -42);
    tel_span_set_int(a, "int.max", INT64_MAX);
    tel_span_set_int(a, "int.min", INT64_MIN);
    tel_span_set_double(a, "dbl.pi", 3.141592653589793);
    tel_span_set_double(a, "dbl.tiny", 5e-324);
    tel_span_set_double(a, "dbl.whole", 2.0);
    tel_span_set_bool(a, "bool.t", true);
    tel_span_set_bool(a, "bool.f", false);
    tel_attr arr;
    arr = (tel_attr){.key = "arr.str", .type = TEL_ATTR_STRING_ARRAY, .len = 3, .v.arr = str_arr};
    tel_span_set_attr(a, &arr);
    arr = (tel_attr){.key = "arr.bool", .type = TEL_ATTR_BOOL_ARRAY, .len = 3, .v.arr = bool_arr};
    tel_span_set_attr(a, &arr);
    /* 18th attribute onwards: past the 16 inline slots, in extra */
    arr = (tel_attr){.key = "arr.int", .type = TEL_ATTR_INT_ARRAY, .len = 4, .v.arr = int_arr};
    tel_span_set_attr(a, &arr);
    arr = (tel_attr){.key = "arr.dbl", .type = TEL_ATTR_DOUBLE_ARRAY, .len = 4, .v.arr = dbl_arr};
    tel_span_set_attr(a, &arr);
    arr = (tel_attr){.key = "arr.empty", .type = TEL_ATTR_INT_ARRAY, .len = 0, .v.arr = int_arr};
    tel_span_set_attr(a, &arr);
    char dyn_key[32];
    snprintf(dyn_key, sizeof dyn_key, "dynamic.key.%d", run);
    tel_attr dk = TEL_ATTR_INT64(dyn_key, run);
    tel_span_set_attr_copy_key(a, &dk);
    tel_span_set_str(a, "http.route", "/v1/servers/{id}/power"); /* replaces, no new slot */
    /* over the count limit (22): dropped and counted */
    tel_span_set_int(a, "over.1", 1);
    tel_span_set_int(a, "over.2", 2);
    tel_span_set_int(a, "over.3", 3);
    tel_attr ev_attrs[] = {TEL_ATTR_STR("attempt", "1"), TEL_ATTR_INT64("backoff_ms", 50),
                           TEL_ATTR_DBL("jitter", 0.5)};
    tel_span_add_event_at(a, "retry", ev_attrs, 3, t0 + 1000); /* one attribute dropped */
    tel_span_add_event_at(a, "no-attrs", NULL, 0, t0 + 2000);
    tel_span_record_error(a, "TimeoutError", "BMC did not answer");
    tel_span_add_event(a, "over-limit", NULL, 0); /* 4th event: dropped */
    tel_span_set_status(a, TEL_STATUS_ERROR, "BMC timeout");

    tel_context ctx = TEL_CONTEXT_INIT;
    tel_context_copy(&ctx, &remote);
    tel_context_set_span(&ctx, a);
    char dyn_name[32];
    snprintf(dyn_name, sizeof dyn_name, "ipmi.chassis-%d", run);
    tel_span_start_opts ob = {.name = dyn_name,
                              .copy_name = true,
                              .kind = TEL_SPAN_KIND_CLIENT,
                              .parent = &ctx,
                              .start_ns = t0 + 100};
    tel_span *b = tel_span_start_ex(t, &ob);
    tel_span_set_str(b, "bmc.type", "ipmi");
    tel_span_set_status(b, TEL_STATUS_OK, NULL);
    tel_span_end_at(b, t0 + 900);
    tel_span_end_at(a, t0 + 5000000);

    tel_span *c = tel_span_start(t2, "publish", TEL_SPAN_KIND_PRODUCER, NULL);
    tel_span_update_name(c, "publish session.created");
    tel_span_end(c);
    tel_span *d = tel_span_start(t2, "consume", TEL_SPAN_KIND_CONSUMER, NULL);
    tel_span_end(d);
    tel_span *e = tel_span_start(t, "internal", 0, NULL);
    tel_span_end(e);
    tel_context_cleanup(&ctx);
    tel_context_cleanup(&remote);
}

/* ---- One run ---- */

typedef enum { RUN_PB_BATCH, RUN_PB_GZIP_SIMPLE, RUN_JSON_BATCH } run_kind;

static void run(peer *pr, run_kind kind, size_t *line_offset)
{
    static const char *const names[] = {"http/protobuf (batch)", "http/protobuf + gzip (simple)",
                                        "http/json (batch)"};
    printf("== %s\n", names[kind]);
    int before_fail = failures;
    tel_tracer_provider_config pc = {0};
    tel_attr rattrs[] = {TEL_ATTR_STR("service.name", "bmc-interop"),
                         TEL_ATTR_STR("service.version", "0.1.0"),
                         TEL_ATTR_INT64("process.pid", 4242), TEL_ATTR_BOOLEAN("test", true),
                         TEL_ATTR_DBL("ratio", 0.25)};
    pc.resource = tel_resource_create(rattrs, 5);
    pc.has_sampler = true;
    tel_sampler_init(&pc.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
    pc.has_limits = true;
    pc.limits = (tel_span_limits){.attribute_count = 22,
                                  .attribute_value_length = 0,
                                  .event_count = 3,
                                  .link_count = 2,
                                  .attributes_per_event = 2,
                                  .attributes_per_link = 1};
    tel_tracer_provider *p = tel_tracer_provider_create(&pc);
    tel_memory_exporter *mem = tel_memory_exporter_create();
    tel_tracer_provider_add_processor(
        p, tel_simple_processor_create(tel_memory_exporter_base(mem), 5000));

    tel_otlp_config cfg;
    tel_otlp_config_init(&cfg, TEL_OTLP_TRACES);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", pr->port);
    tel_otlp_config_set_endpoint(&cfg, url);
    cfg.protocol = kind == RUN_JSON_BATCH ? TEL_OTLP_HTTP_JSON : TEL_OTLP_HTTP_PROTOBUF;
    cfg.gzip = kind == RUN_PB_GZIP_SIMPLE;
    tel_otlp_config_set_header(&cfg, "x-bmcfleet-test", "interop");
    tel_span_exporter *exp = tel_otlp_span_exporter_create(&cfg);
    tel_otlp_config_cleanup(&cfg);
    CHECK(exp != NULL, "exporter");
    tel_span_exporter *exp_ref = exp;
    tel_span_processor *proc;
    if (kind == RUN_PB_GZIP_SIMPLE) {
        proc = tel_simple_processor_create(exp, 5000);
    } else {
        tel_bsp_config bc = {.max_queue_size = 64,
                             .max_export_batch_size = 64,
                             .schedule_delay_ms = 60000,
                             .export_timeout_ms = 10000};
        proc = tel_bsp_create(exp, &bc);
    }
    tel_tracer_provider_add_processor(p, proc);

    make_spans(p, (int)kind);
    CHECK(tel_tracer_provider_force_flush(p, 10000) == TEL_OK, "force_flush");
    tel_otlp_exporter_stats st;
    tel_otlp_exporter_get_stats(exp_ref, &st);
    CHECK(st.items_failed == 0 && st.retries == 0,
          "exporter: %" PRIu64 " failed, %" PRIu64 " retries", st.items_failed, st.retries);
    tel_tracer_provider_shutdown(p, 10000);

    json_t *lines = peer_lines(pr, *line_offset);
    *line_offset += json_array_size(lines);
    size_t want_requests = kind == RUN_PB_GZIP_SIMPLE ? tel_memory_exporter_count(mem) : 1;
    CHECK(json_array_size(lines) == want_requests, "%zu requests received, %zu expected",
          json_array_size(lines), want_requests);
    size_t n = tel_memory_exporter_count(mem);
    CHECK(n == 5, "%zu spans recorded", n);
    int *seen = calloc(n, sizeof *seen);
    const tel_resource *res = tel_tracer_provider_resource(p);
    for (size_t li = 0; li < json_array_size(lines); li++) {
        json_t *line = json_array_get(lines, li);
        json_t *meta = json_object_get(line, "meta");
        CHECK(!json_object_get(meta, "decodeError"), "decode error: %s", jstr(meta, "decodeError"));
        CHECK(jstr(meta, "contentType") &&
                  strcmp(jstr(meta, "contentType"),
                         kind == RUN_JSON_BATCH ? "application/json" : "application/x-protobuf") ==
                      0,
              "content type %s", jstr(meta, "contentType"));
        CHECK(strcmp(jstr(meta, "contentEncoding"),
                     kind == RUN_PB_GZIP_SIMPLE ? "gzip" : "identity") == 0,
              "content encoding %s", jstr(meta, "contentEncoding"));
        CHECK(jstr(meta, "userAgent") &&
                  strncmp(jstr(meta, "userAgent"), "OTel-OTLP-Exporter-C/", 21) == 0,
              "user agent");
        json_t *jerr = json_object_get(meta, "jsonErrors");
        if (kind == RUN_JSON_BATCH) {
            CHECK(json_array_size(jerr) == 0, "OTLP/JSON violations: %zu", json_array_size(jerr));
            for (size_t k = 0; k < json_array_size(jerr) && k < 10; k++)
                fprintf(stderr, "  %s\n", json_string_value(json_array_get(jerr, k)));
        }
        json_t *req = json_object_get(line, "request");
        json_t *rss = json_object_get(req, "resourceSpans");
        CHECK(json_array_size(rss) == 1, "%zu ResourceSpans", json_array_size(rss));
        json_t *rs = json_array_get(rss, 0);
        cmp_attr_list("resource", json_object_get(json_object_get(rs, "resource"), "attributes"),
                      res->attrs, (uint32_t)res->n_attrs);
        json_t *sss = json_object_get(rs, "scopeSpans");
        if (kind != RUN_PB_GZIP_SIMPLE)
            CHECK(json_array_size(sss) == 2, "%zu ScopeSpans in the batch (2 tracers)",
                  json_array_size(sss));
        for (size_t si = 0; si < json_array_size(sss); si++) {
            json_t *ss = json_array_get(sss, si);
            json_t *scope = json_object_get(ss, "scope");
            json_t *spans = json_object_get(ss, "spans");
            for (size_t k = 0; k < json_array_size(spans); k++) {
                json_t *sp = json_array_get(spans, k);
                const char *sid = jstr(sp, "spanId");
                size_t found = n;
                for (size_t r = 0; r < n; r++) {
                    char id[17];
                    hex(tel_memory_exporter_span(mem, r)->sc.span_id, 8, id);
                    if (sid && strcmp(sid, id) == 0) found = r;
                }
                CHECK(found < n, "span %s was not recorded", sid);
                if (found == n) continue;
                seen[found]++;
                const tel_span_data *d = tel_memory_exporter_span(mem, found);
                CHECK(jstr(scope, "name") && strcmp(jstr(scope, "name"), d->scope->name) == 0,
                      "scope name %s", jstr(scope, "name"));
                if (d->scope->version)
                    CHECK(jstr(scope, "version") &&
                              strcmp(jstr(scope, "version"), d->scope->version) == 0,
                          "scope version");
                else
                    CHECK(!json_object_get(scope, "version"), "unexpected scope version");
                cmp_span(sp, d);
            }
        }
    }
    for (size_t r = 0; r < n; r++)
        CHECK(seen[r] == 1, "span %s exported %d times", tel_memory_exporter_span(mem, r)->name,
              seen[r]);
    free(seen);
    json_decref(lines);
    tel_tracer_provider_destroy(p);
    printf("   %s\n", failures == before_fail ? "ok" : "MISMATCHES");
}

/* ---- Metrics and logs: shared ---- */

/* Equal texts, NULL reading as "" (scope names and versions). */
static bool same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* An exporter of one signal and protocol to the receiver. */
typedef struct sink {
    const char *name;
    tel_otlp_protocol protocol;
    bool gzip;
} sink;

static const sink sinks[] = {{"http/protobuf", TEL_OTLP_HTTP_PROTOBUF, false},
                             {"http/protobuf + gzip", TEL_OTLP_HTTP_PROTOBUF, true},
                             {"http/json", TEL_OTLP_HTTP_JSON, false}};
#define N_SINKS (sizeof sinks / sizeof sinks[0])

static void sink_config(tel_otlp_config *cfg, tel_otlp_signal sig, const peer *pr, const sink *k)
{
    tel_otlp_config_init(cfg, sig);
    char url[80];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/%s", pr->port, tel_otlp_signal_name(sig));
    tel_otlp_config_set_endpoint(cfg, url);
    cfg->protocol = k->protocol;
    cfg->gzip = k->gzip;
}

/* The one request the receiver got since *offset, checked for transport facts (caller decrefs
 * the result; NULL when missing). */
static json_t *next_request(const peer *pr, size_t *offset, const char *path, const sink *k,
                            const char *resource_key)
{
    json_t *lines = peer_lines(pr, *offset);
    *offset += json_array_size(lines);
    CHECK(json_array_size(lines) == 1, "%s %s: %zu requests received, 1 expected", path, k->name,
          json_array_size(lines));
    json_t *line = json_array_get(lines, 0);
    json_t *meta = json_object_get(line, "meta");
    CHECK(jstr(meta, "path") && strcmp(jstr(meta, "path"), path) == 0, "path %s",
          jstr(meta, "path"));
    CHECK(!json_object_get(meta, "decodeError"), "%s %s: decode error: %s", path, k->name,
          jstr(meta, "decodeError"));
    const char *ct =
        k->protocol == TEL_OTLP_HTTP_JSON ? "application/json" : "application/x-protobuf";
    CHECK(jstr(meta, "contentType") && strcmp(jstr(meta, "contentType"), ct) == 0,
          "content type %s", jstr(meta, "contentType"));
    CHECK(jstr(meta, "contentEncoding") &&
              strcmp(jstr(meta, "contentEncoding"), k->gzip ? "gzip" : "identity") == 0,
          "content encoding %s", jstr(meta, "contentEncoding"));
    json_t *jerr = json_object_get(meta, "jsonErrors");
    if (k->protocol == TEL_OTLP_HTTP_JSON) {
        CHECK(json_is_array(jerr) && json_array_size(jerr) == 0, "%s: OTLP/JSON violations: %zu",
              path, json_array_size(jerr));
        for (size_t i = 0; i < json_array_size(jerr) && i < 10; i++)
            fprintf(stderr, "  %s\n", json_string_value(json_array_get(jerr, i)));
    }
    json_t *req = json_incref(json_object_get(line, "request"));
    json_decref(lines);
    json_t *rr = json_object_get(req, resource_key);
    CHECK(json_array_size(rr) == 1, "%s: %zu %s", path, json_array_size(rr), resource_key);
    return req;
}

static void cmp_resource(json_t *rx, const tel_resource *res)
{
    json_t *attrs = json_object_get(json_object_get(rx, "resource"), "attributes");
    if (res)
        cmp_attr_list("resource", attrs, res->attrs, (uint32_t)res->n_attrs);
    else
        CHECK(json_array_size(attrs) == 0, "resource attributes without a resource");
}

static void cmp_scope_names(const char *where, json_t *scope, const char *name, const char *version)
{
    if (name && *name)
        CHECK(jstr(scope, "name") && strcmp(jstr(scope, "name"), name) == 0, "%s: scope name %s",
              where, jstr(scope, "name"));
    else
        CHECK(!json_object_get(scope, "name"), "%s: unexpected scope name", where);
    if (version && *version)
        CHECK(jstr(scope, "version") && strcmp(jstr(scope, "version"), version) == 0,
              "%s: scope version %s", where, jstr(scope, "version"));
    else
        CHECK(!json_object_get(scope, "version"), "%s: unexpected scope version", where);
}

static void cmp_hex(const char *where, json_t *o, const char *k, bool present, const uint8_t *id,
                    size_t n)
{
    if (!present) {
        CHECK(!json_object_get(o, k), "%s: unexpected %s", where, k);
        return;
    }
    char h[33];
    hex(id, n, h);
    CHECK(str_eq(jstr(o, k), h, 2 * n), "%s: %s %s != %s", where, k, jstr(o, k), h);
}

/* A 64-bit integer field (a decimal string; absent means 0, unlike otlp_compare.h's cmp_i64). */
static void cmp_i64_or_zero(const char *where, json_t *o, const char *k, int64_t want)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, want);
    const char *got = jstr(o, k);
    CHECK(got ? strcmp(got, buf) == 0 : want == 0, "%s: %s %s != %s", where, k, got, buf);
}

/* ---- Metrics ---- */

typedef struct metric_cov {
    int sums, monotonic, gauges, histograms, int_points, double_points, exemplars,
        exemplars_with_span, filtered_attrs, points_with_attrs, min_max, delta;
} metric_cov;
static metric_cov mcov;

/* Stricter than otlp_compare.h's cmp_exemplars/cmp_metric (no oneof member too many, no
 * temporality on gauges, buckets summing to the count) and counting what was compared in mcov. */
static void cmp_point_exemplars(const char *where, json_t *jp, const tel_metric_point *p)
{
    json_t *arr = json_object_get(jp, "exemplars");
    uint32_t ne = p->exemplars ? p->n_exemplars : 0;
    CHECK(json_array_size(arr) == ne, "%s: %zu exemplars, %u expected", where, json_array_size(arr),
          ne);
    for (uint32_t i = 0; i < ne && i < json_array_size(arr); i++) {
        const tel_exemplar *e = &p->exemplars[i];
        json_t *je = json_array_get(arr, i);
        char w[320];
        snprintf(w, sizeof w, "%s exemplar[%u]", where, i);
        cmp_time(w, je, "timeUnixNano", e->time_ns);
        if (e->is_int) {
            cmp_i64_or_zero(w, je, "asInt", e->value.i);
            CHECK(!json_object_get(je, "asDouble"), "%s: asDouble on an int exemplar", w);
        } else {
            CHECK(double_eq(json_object_get(je, "asDouble"), e->value.d), "%s: asDouble != %.17g",
                  w, e->value.d);
            CHECK(!json_object_get(je, "asInt"), "%s: asInt on a double exemplar", w);
        }
        cmp_hex(w, je, "traceId", e->has_span, e->trace_id, TEL_TRACE_ID_SIZE);
        cmp_hex(w, je, "spanId", e->has_span, e->span_id, TEL_SPAN_ID_SIZE);
        cmp_attr_list(w, json_object_get(je, "filteredAttributes"), e->filtered_attrs,
                      e->filtered_attrs ? e->n_filtered_attrs : 0);
        mcov.exemplars++;
        mcov.exemplars_with_span += e->has_span;
        mcov.filtered_attrs += e->n_filtered_attrs > 0;
    }
}

static void cmp_metric_strict(json_t *jm, const tel_metric *m)
{
    char w[192];
    snprintf(w, sizeof w, "metric %s", m->name);
    CHECK(jstr(jm, "name") && strcmp(jstr(jm, "name"), m->name) == 0, "%s: name", w);
    if (m->description && *m->description)
        CHECK(jstr(jm, "description") && strcmp(jstr(jm, "description"), m->description) == 0,
              "%s: description %s", w, jstr(jm, "description"));
    else
        CHECK(!json_object_get(jm, "description"), "%s: unexpected description", w);
    if (m->unit && *m->unit)
        CHECK(jstr(jm, "unit") && strcmp(jstr(jm, "unit"), m->unit) == 0, "%s: unit %s", w,
              jstr(jm, "unit"));
    else
        CHECK(!json_object_get(jm, "unit"), "%s: unexpected unit", w);
    const char *kind = m->type == TEL_METRIC_SUM     ? "sum"
                       : m->type == TEL_METRIC_GAUGE ? "gauge"
                                                     : "histogram";
    json_t *data = json_object_get(jm, kind);
    CHECK(json_is_object(data), "%s: no %s", w, kind);
    CHECK(json_object_size(jm) ==
              (size_t)(2 + (m->description && *m->description) + (m->unit && *m->unit)),
          "%s: other data than %s", w, kind);
    if (m->type != TEL_METRIC_GAUGE)
        CHECK(jint(data, "aggregationTemporality") == m->temporality,
              "%s: aggregationTemporality %lld != %d", w, jint(data, "aggregationTemporality"),
              m->temporality);
    else
        CHECK(!json_object_get(data, "aggregationTemporality"), "%s: temporality on a gauge", w);
    if (m->type == TEL_METRIC_SUM) {
        json_t *mono = json_object_get(data, "isMonotonic");
        CHECK(m->monotonic ? json_is_true(mono) : mono == NULL, "%s: isMonotonic", w);
        mcov.sums++;
        mcov.monotonic += m->monotonic;
    }
    mcov.gauges += m->type == TEL_METRIC_GAUGE;
    mcov.histograms += m->type == TEL_METRIC_HISTOGRAM;
    mcov.delta += m->temporality == TEL_TEMPORALITY_DELTA;
    json_t *pts = json_object_get(data, "dataPoints");
    CHECK(json_array_size(pts) == m->n_points, "%s: %zu points, %zu expected", w,
          json_array_size(pts), m->n_points);
    for (size_t i = 0; i < m->n_points && i < json_array_size(pts); i++) {
        const tel_metric_point *p = &m->points[i];
        json_t *jp = json_array_get(pts, i);
        char wp[256];
        snprintf(wp, sizeof wp, "%s point[%zu]", w, i);
        cmp_attr_list(wp, json_object_get(jp, "attributes"), p->attrs, p->attrs ? p->n_attrs : 0);
        mcov.points_with_attrs += p->n_attrs > 0;
        cmp_i64_or_zero(wp, jp, "startTimeUnixNano", (int64_t)p->start_ns);
        cmp_time(wp, jp, "timeUnixNano", p->time_ns);
        if (m->type == TEL_METRIC_HISTOGRAM) {
            cmp_i64_or_zero(wp, jp, "count", (int64_t)p->count);
            CHECK(double_eq(json_object_get(jp, "sum"), p->sum), "%s: sum != %.17g", wp, p->sum);
            json_t *bc = json_object_get(jp, "bucketCounts");
            uint32_t nb = m->bounds ? m->n_bounds : 0;
            CHECK(json_array_size(bc) == (p->bucket_counts ? nb + 1 : 0),
                  "%s: %zu bucket counts, %u bounds", wp, json_array_size(bc), nb);
            uint64_t total = 0;
            for (uint32_t k = 0; p->bucket_counts && k <= nb && k < json_array_size(bc); k++) {
                char buf[24];
                snprintf(buf, sizeof buf, "%" PRIu64, p->bucket_counts[k]);
                const char *got = json_string_value(json_array_get(bc, k));
                CHECK(got && strcmp(got, buf) == 0, "%s: bucketCounts[%u] %s != %s", wp, k, got,
                      buf);
                total += p->bucket_counts[k];
            }
            CHECK(!p->bucket_counts || total == p->count,
                  "%s: buckets sum to %" PRIu64 " != %" PRIu64, wp, total, p->count);
            json_t *eb = json_object_get(jp, "explicitBounds");
            CHECK(json_array_size(eb) == nb, "%s: %zu explicit bounds, %u expected", wp,
                  json_array_size(eb), nb);
            for (uint32_t k = 0; k < nb && k < json_array_size(eb); k++)
                CHECK(double_eq(json_array_get(eb, k), m->bounds[k]), "%s: explicitBounds[%u]", wp,
                      k);
            if (p->has_min_max) {
                CHECK(double_eq(json_object_get(jp, "min"), p->min), "%s: min", wp);
                CHECK(double_eq(json_object_get(jp, "max"), p->max), "%s: max", wp);
                mcov.min_max++;
            } else {
                CHECK(!json_object_get(jp, "min") && !json_object_get(jp, "max"),
                      "%s: unexpected min/max", wp);
            }
            CHECK(!json_object_get(jp, "asInt") && !json_object_get(jp, "asDouble"),
                  "%s: a value on a histogram point", wp);
        } else if (p->is_int) {
            cmp_i64_or_zero(wp, jp, "asInt", p->value.i);
            CHECK(json_object_get(jp, "asInt") != NULL, "%s: asInt missing (oneof)", wp);
            CHECK(!json_object_get(jp, "asDouble"), "%s: asDouble on an int point", wp);
            mcov.int_points++;
        } else {
            CHECK(double_eq(json_object_get(jp, "asDouble"), p->value.d), "%s: asDouble != %.17g",
                  wp, p->value.d);
            CHECK(!json_object_get(jp, "asInt"), "%s: asInt on a double point", wp);
            mcov.double_points++;
        }
        cmp_point_exemplars(wp, jp, p);
    }
}

/* Every metric of the request once, under its scope, equal to metrics[0..n). */
static void cmp_metrics_request(json_t *req, const tel_resource *res, const tel_metric *metrics,
                                size_t n)
{
    json_t *rm = json_array_get(json_object_get(req, "resourceMetrics"), 0);
    cmp_resource(rm, res);
    int *seen = calloc(n ? n : 1, sizeof *seen);
    json_t *sms = json_object_get(rm, "scopeMetrics");
    for (size_t si = 0; si < json_array_size(sms); si++) {
        json_t *sm = json_array_get(sms, si);
        json_t *scope = json_object_get(sm, "scope");
        json_t *ms = json_object_get(sm, "metrics");
        size_t last = 0;
        for (size_t k = 0; k < json_array_size(ms); k++) {
            json_t *jm = json_array_get(ms, k);
            const char *name = jstr(jm, "name");
            size_t found = n;
            for (size_t i = 0; i < n && found == n; i++)
                if (!seen[i] && name && strcmp(metrics[i].name, name) == 0 &&
                    same_text(metrics[i].scope_name, jstr(scope, "name")) &&
                    same_text(metrics[i].scope_version, jstr(scope, "version")))
                    found = i;
            CHECK(found < n, "metric %s (scope %s) was not exported", name ? name : "(none)",
                  jstr(scope, "name") ? jstr(scope, "name") : "(none)");
            if (found == n) continue;
            CHECK(k == 0 || found > last, "metric %s out of order within its scope", name);
            last = found;
            seen[found]++;
            cmp_scope_names(name, scope, metrics[found].scope_name, metrics[found].scope_version);
            cmp_metric_strict(jm, &metrics[found]);
        }
    }
    for (size_t i = 0; i < n; i++)
        CHECK(seen[i] == 1, "metric %s received %d times", metrics[i].name, seen[i]);
    free(seen);
}

typedef struct metric_run {
    peer *pr;
    size_t *offset;
    tel_metric_exporter *exp[N_SINKS];
    int requests;
} metric_run;

static void metric_run_init(metric_run *r, peer *pr, size_t *offset)
{
    r->pr = pr;
    r->offset = offset;
    r->requests = 0;
    for (size_t k = 0; k < N_SINKS; k++) {
        tel_otlp_config cfg;
        sink_config(&cfg, TEL_OTLP_METRICS, pr, &sinks[k]);
        r->exp[k] = tel_otlp_metric_exporter_create(&cfg);
        tel_otlp_config_cleanup(&cfg);
        CHECK(r->exp[k] != NULL, "metric exporter");
    }
}

static void metric_run_cleanup(metric_run *r)
{
    for (size_t k = 0; k < N_SINKS; k++) {
        tel_otlp_exporter_stats st;
        tel_otlp_metric_exporter_get_stats(r->exp[k], &st);
        CHECK(st.items_failed == 0 && st.retries == 0, "metric exporter %s: %" PRIu64 " failed",
              sinks[k].name, st.items_failed);
        r->exp[k]->shutdown(r->exp[k]);
        r->exp[k]->destroy(r->exp[k]);
    }
}

/* Sends metrics[0..n) through every sink and compares each decoded request. */
static void export_and_compare_metrics(metric_run *r, const tel_resource *res,
                                       const tel_metric *metrics, size_t n)
{
    for (size_t k = 0; k < N_SINKS; k++) {
        int rc =
            r->exp[k]->export_metrics(r->exp[k], res, metrics, n, tel_mono_ns() + 10000000000ull);
        CHECK(rc == TEL_OK, "metrics %s: export %s", sinks[k].name, tel_strerror(rc));
        json_t *req = next_request(r->pr, r->offset, "/v1/metrics", &sinks[k], "resourceMetrics");
        if (req) cmp_metrics_request(req, res, metrics, n);
        json_decref(req);
        r->requests++;
    }
}

static void collected(const tel_resource *res, const tel_metric *metrics, size_t n, void *ud)
{
    metric_run *r = ud;
    CHECK(n == 8, "%zu metrics collected, 8 expected", n);
    export_and_compare_metrics(r, res, metrics, n);
}

static void observe_cpu(tel_observer *obs, void *ud)
{
    (void)ud;
    tel_attr a[] = {TEL_ATTR_STR("cpu.mode", "user")};
    tel_observe_int(obs, 4242, a, 1);
}

static void observe_fans(tel_observer *obs, void *ud)
{
    (void)ud;
    tel_attr a[] = {TEL_ATTR_STR("fan", "1")}, b[] = {TEL_ATTR_STR("fan", "2")};
    tel_observe_double(obs, 1200.5, a, 1);
    tel_observe_double(obs, -0.0, b, 1);
}

/* Real instruments of every kind, recorded partly inside a sampled span (exemplars). */
static void run_metrics_instruments(peer *pr, size_t *offset)
{
    printf("== metrics from instruments (protobuf, protobuf + gzip, JSON)\n");
    int before_fail = failures;
    tel_attr rattrs[] = {TEL_ATTR_STR("service.name", "bmc-interop"),
                         TEL_ATTR_STR("service.version", "0.1.0")};
    tel_resource *res = tel_resource_create(rattrs, 2);
    tel_meter_provider_config mc = {
        .resource = res, .exemplar_filter = TEL_EXEMPLAR_TRACE_BASED, .has_exemplar_filter = true};
    tel_meter_provider *mp = tel_meter_provider_create(&mc);
    tel_meter *m = tel_meter_get(mp, "bmcfleet.interop", "2.1.0");
    tel_meter *m2 = tel_meter_get(mp, "bmcfleet.other", NULL);
    tel_instrument_opts ctr_o = {
        .unit = "{operation}", .description = "BMC power operations", .value_is_int = true};
    tel_instrument *ctr = tel_meter_create(m, TEL_INSTR_COUNTER, "bmc.power.operations", &ctr_o);
    tel_instrument_opts ud_o = {.unit = "{session}"};
    tel_instrument *ud =
        tel_meter_create(m, TEL_INSTR_UP_DOWN_COUNTER, "bmc.sessions.active", &ud_o);
    static const double bounds[] = {0, 5, 10, 25};
    tel_instrument_opts h_o = {
        .unit = "ms", .description = "request duration", .bounds = bounds, .n_bounds = 4};
    tel_instrument *hist =
        tel_meter_create(m, TEL_INSTR_HISTOGRAM, "http.server.request.duration", &h_o);
    tel_instrument *hdef = tel_meter_create(m2, TEL_INSTR_HISTOGRAM, "bmc.ipmi.latency", NULL);
    tel_instrument_opts g_o = {.unit = "Cel"};
    tel_instrument *gauge = tel_meter_create(m2, TEL_INSTR_GAUGE, "bmc.temperature", &g_o);
    tel_instrument_opts gi_o = {.value_is_int = true};
    tel_instrument *gint = tel_meter_create(m2, TEL_INSTR_GAUGE, "bmc.fan.count", &gi_o);
    tel_instrument_opts oc_o = {.unit = "s", .value_is_int = true};
    tel_meter_create_observable(m, TEL_INSTR_OBSERVABLE_COUNTER, "process.cpu.time", &oc_o,
                                observe_cpu, NULL);
    tel_meter_create_observable(m2, TEL_INSTR_OBSERVABLE_GAUGE, "bmc.fan.speed", NULL, observe_fans,
                                NULL);

    /* a sampled span, current on this thread: measurements get exemplars with its ids */
    tel_tracer_provider_config pc = {0};
    pc.resource = tel_resource_create(rattrs, 1);
    pc.has_sampler = true;
    tel_sampler_init(&pc.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
    tel_tracer_provider *tp = tel_tracer_provider_create(&pc);
    tel_span *span = tel_span_start(tel_tracer_get(tp, "t", NULL), "GET /v1/servers/{id}",
                                    TEL_SPAN_KIND_SERVER, NULL);
    tel_span_set_current(span);
    tel_attr ipmi[] = {TEL_ATTR_STR("bmc.type", "ipmi"), TEL_ATTR_STR("operation", "on"),
                       TEL_ATTR_STR("bmc.password", "hunter2")};
    tel_attr route[] = {TEL_ATTR_STR("http.route", "/v1/servers/{id}"),
                        TEL_ATTR_INT64("http.response.status_code", 200),
                        TEL_ATTR_BOOLEAN("retried", false), TEL_ATTR_DBL("weight", 0.5)};
    tel_counter_add_int(ctr, 3, ipmi, 3);
    tel_histogram_record(hist, 0, route, 4);    /* bucket (-inf, 0] */
    tel_histogram_record(hist, 5, route, 4);    /* bucket (0, 5]: the edge belongs below */
    tel_histogram_record(hist, 7.25, route, 4); /* (5, 10] */
    tel_histogram_record(hist, 30, route, 4);   /* (25, +inf) */
    tel_histogram_record(hdef, 120.5, NULL, 0);
    tel_span_set_current(NULL);
    tel_attr redfish[] = {TEL_ATTR_STR("bmc.type", "redfish")};
    tel_counter_add_int(ctr, 2, redfish, 1); /* outside the span: no exemplar */
    tel_attr dc[] = {TEL_ATTR_STR("datacenter", "dc1")};
    tel_counter_add(ud, 3, dc, 1);
    tel_counter_add(ud, -4.5, dc, 1);
    tel_attr sensor[] = {TEL_ATTR_STR("sensor", "cpu")};
    tel_gauge_set(gauge, 21.5, sensor, 1);
    tel_gauge_set_int(gint, 6, NULL, 0);
    tel_histogram_record(hist, -1, route, 1); /* another attribute set */

    metric_run r;
    metric_run_init(&r, pr, offset);
    CHECK(tel_meter_provider_collect(mp, collected, &r) == TEL_OK, "collect");
    CHECK(r.requests == (int)N_SINKS, "%d metric requests", r.requests);
    /* A second collection: cumulative values keep their start time and grow. */
    tel_counter_add_int(ctr, 1, redfish, 1);
    CHECK(tel_meter_provider_collect(mp, collected, &r) == TEL_OK, "collect");
    metric_run_cleanup(&r);
    tel_span_end(span);
    tel_tracer_provider_destroy(tp);
    tel_meter_provider_destroy(mp);
    tel_resource_destroy(res);
    printf("   %s\n", failures == before_fail ? "ok" : "MISMATCHES");
}

/* Hand-built metrics for what the instruments do not make. */
static void run_metrics_hand_built(peer *pr, size_t *offset)
{
    printf("== hand-built metrics (protobuf, protobuf + gzip, JSON)\n");
    int before_fail = failures;
    metric_fixture f;
    metric_fixture_init(&f);
    tel_metric more[3];
    tel_metric_point pts[3];
    memset(pts, 0, sizeof pts);
    pts[0] = (tel_metric_point){
        .start_ns = FX_T0, .time_ns = FX_T1, .is_int = true, .value.i = INT64_MIN};
    pts[1] = (tel_metric_point){.time_ns = FX_T1, .value.d = NAN};
    pts[2] = (tel_metric_point){.time_ns = FX_T1, .count = 0, .sum = 0};
    more[0] = (tel_metric){.name = "delta.sum",
                           .type = TEL_METRIC_SUM,
                           .monotonic = false,
                           .temporality = TEL_TEMPORALITY_DELTA,
                           .points = &pts[0],
                           .n_points = 1};
    more[1] = (tel_metric){
        .name = "nan.gauge", .type = TEL_METRIC_GAUGE, .points = &pts[1], .n_points = 1};
    more[2] = (tel_metric){.name = "empty.histogram",
                           .type = TEL_METRIC_HISTOGRAM,
                           .temporality = TEL_TEMPORALITY_DELTA,
                           .points = &pts[2],
                           .n_points = 1}; /* no buckets at all, no min/max */
    metric_run r;
    metric_run_init(&r, pr, offset);
    export_and_compare_metrics(&r, NULL, f.m, 4);
    export_and_compare_metrics(&r, NULL, more, 3);
    metric_run_cleanup(&r);
    printf("   %s\n", failures == before_fail ? "ok" : "MISMATCHES");
}

/* ---- Logs ---- */

typedef struct log_cov {
    int records, with_span, sampled, unsampled, redacted, dropped, severities[25];
} log_cov;
static log_cov lcov;

static void cmp_log_record(json_t *jr, const tel_log_record *r)
{
    char w[160];
    snprintf(w, sizeof w, "log record \"%.40s\"", r->body ? r->body : "");
    cmp_i64_or_zero(w, jr, "timeUnixNano", (int64_t)r->time_ns);
    cmp_i64_or_zero(w, jr, "observedTimeUnixNano", (int64_t)r->observed_time_ns);
    CHECK(jint(jr, "severityNumber") == r->severity_number, "%s: severityNumber %lld != %u", w,
          jint(jr, "severityNumber"), r->severity_number);
    CHECK(str_eq(jstr(jr, "severityText"), r->severity_text, strlen(r->severity_text)),
          "%s: severityText %s", w, jstr(jr, "severityText"));
    json_t *body = json_object_get(jr, "body");
    if (r->body) {
        CHECK(json_is_object(body) && json_object_size(body) == 1 &&
                  str_eq(jstr(body, "stringValue"), r->body, r->body_len),
              "%s: body.stringValue %s", w, jstr(body, "stringValue"));
    } else {
        CHECK(!body, "%s: unexpected body", w);
    }
    cmp_attr_list(w, json_object_get(jr, "attributes"), r->attrs, r->n_attrs);
    CHECK(jint(jr, "droppedAttributesCount") == r->dropped_attrs, "%s: droppedAttributesCount", w);
    CHECK(jint(jr, "flags") == (r->has_span ? r->trace_flags : 0), "%s: flags %lld", w,
          jint(jr, "flags"));
    cmp_hex(w, jr, "traceId", r->has_span, r->trace_id, TEL_TRACE_ID_SIZE);
    cmp_hex(w, jr, "spanId", r->has_span, r->span_id, TEL_SPAN_ID_SIZE);
    for (uint32_t i = 0; i < r->n_attrs; i++)
        lcov.redacted +=
            r->attrs[i].type == TEL_ATTR_STRING && strcmp(r->attrs[i].v.s, TEL_REDACTED) == 0;
}

static void cmp_logs_request(json_t *req, const tel_resource *res,
                             const tel_log_record *const *recs, size_t n)
{
    json_t *rl = json_array_get(json_object_get(req, "resourceLogs"), 0);
    cmp_resource(rl, res);
    json_t *sls = json_object_get(rl, "scopeLogs");
    size_t got = 0;
    for (size_t si = 0; si < json_array_size(sls); si++) {
        json_t *sl = json_array_get(sls, si);
        json_t *lrs = json_object_get(sl, "logRecords");
        /* records are grouped by scope in first-seen order: match them in that order */
        for (size_t k = 0; k < json_array_size(lrs); k++, got++) {
            size_t idx = n, seen = 0;
            for (size_t i = 0; i < n && idx == n; i++) {
                bool same =
                    same_text(recs[i]->scope_name, jstr(json_object_get(sl, "scope"), "name"));
                if (same && seen++ == k) idx = i;
            }
            CHECK(idx < n, "log record %zu of scope %zu unmatched", k, si);
            if (idx == n) continue;
            cmp_scope_names("log scope", json_object_get(sl, "scope"), recs[idx]->scope_name,
                            recs[idx]->scope_version);
            cmp_log_record(json_array_get(lrs, k), recs[idx]);
        }
    }
    CHECK(got == n, "%zu log records received, %zu exported", got, n);
}

/* A log exporter that sends each batch through every sink and compares the decoded requests
 * with the batch while it is borrowed. */
typedef struct tee_exporter {
    tel_log_exporter base;
    peer *pr;
    size_t *offset;
    tel_log_exporter *exp[N_SINKS];
    size_t records;
} tee_exporter;

static int tee_export(tel_log_exporter *self, const tel_resource *res,
                      const tel_log_record *const *recs, size_t n, uint64_t deadline)
{
    tee_exporter *t = (tee_exporter *)self;
    for (size_t k = 0; k < N_SINKS; k++) {
        int rc = t->exp[k]->export_logs(t->exp[k], res, recs, n, deadline);
        CHECK(rc == TEL_OK, "logs %s: export %s", sinks[k].name, tel_strerror(rc));
        json_t *req = next_request(t->pr, t->offset, "/v1/logs", &sinks[k], "resourceLogs");
        if (req) cmp_logs_request(req, res, recs, n);
        json_decref(req);
    }
    for (size_t i = 0; i < n; i++) {
        lcov.records++;
        lcov.with_span += recs[i]->has_span;
        lcov.sampled += recs[i]->has_span && (recs[i]->trace_flags & 1);
        lcov.unsampled += recs[i]->has_span && !(recs[i]->trace_flags & 1);
        lcov.dropped += recs[i]->dropped_attrs > 0;
        if (recs[i]->severity_number < 25) lcov.severities[recs[i]->severity_number]++;
    }
    t->records += n;
    return TEL_OK;
}

static int tee_shutdown(tel_log_exporter *self)
{
    tee_exporter *t = (tee_exporter *)self;
    for (size_t k = 0; k < N_SINKS; k++)
        t->exp[k]->shutdown(t->exp[k]);
    return TEL_OK;
}

static void tee_destroy(tel_log_exporter *self)
{
    tee_exporter *t = (tee_exporter *)self;
    for (size_t k = 0; k < N_SINKS; k++)
        t->exp[k]->destroy(t->exp[k]);
}

static void run_logs(peer *pr, size_t *offset)
{
    printf("== logs from tel_log through the batch processor (protobuf, protobuf + gzip, JSON)\n");
    int before_fail = failures;
    static tee_exporter t;
    memset(&t, 0, sizeof t);
    t.base = (tel_log_exporter){tee_export, NULL, tee_shutdown, tee_destroy};
    t.pr = pr;
    t.offset = offset;
    for (size_t k = 0; k < N_SINKS; k++) {
        tel_otlp_config cfg;
        sink_config(&cfg, TEL_OTLP_LOGS, pr, &sinks[k]);
        t.exp[k] = tel_otlp_log_exporter_create(&cfg);
        tel_otlp_config_cleanup(&cfg);
    }
    tel_attr rattrs[] = {TEL_ATTR_STR("service.name", "bmc-interop"),
                         TEL_ATTR_INT64("process.pid", 4242)};
    tel_resource *res = tel_resource_create(rattrs, 2);
    tel_blrp_config bc = {256, 256, 60000, 10000};
    tel_log_processor *lp = tel_blrp_create(&t.base, res, &bc);
    tel_log_set_processor(lp);
    int devnull = open("/dev/null", O_WRONLY);
    int prev_fd = tel_log_set_output(devnull);
    tel_log_level prev_level = tel_log_get_level();
    tel_log_set_level(TEL_LOG_TRACE);

    tel_tracer_provider_config pc = {0};
    pc.resource = tel_resource_create(rattrs, 1);
    pc.has_sampler = true;
    tel_sampler_init(&pc.sampler, TEL_SAMPLER_PARENTBASED_ALWAYS_ON, 1.0);
    tel_tracer_provider *tp = tel_tracer_provider_create(&pc);
    tel_tracer *tr = tel_tracer_get(tp, "t", NULL);

    static const char *const names[] = {"srv-1", "srv-\xc3\xa9"};
    static const int64_t ints[] = {INT64_MIN, 7};
    static const double dbls[] = {0.5, -1e300};
    static const bool bools[] = {true, false};
    tel_attr all[] = {
        TEL_ATTR_STR("server_id", "srv-1"),
        TEL_ATTR_INT64("attempt", -3),
        TEL_ATTR_DBL("usage", 0.93),
        TEL_ATTR_BOOLEAN("retry", true),
        {.key = "servers", .type = TEL_ATTR_STRING_ARRAY, .len = 2, .v.arr = names},
        {.key = "codes", .type = TEL_ATTR_INT_ARRAY, .len = 2, .v.arr = ints},
        {.key = "ratios", .type = TEL_ATTR_DOUBLE_ARRAY, .len = 2, .v.arr = dbls},
        {.key = "flags", .type = TEL_ATTR_BOOL_ARRAY, .len = 2, .v.arr = bools},
        TEL_ATTR_STR("bmc.password", "hunter2"),
        TEL_ATTR_STR("http.request.header.authorization", "Bearer abc"),
    };
    /* inside a sampled span */
    tel_span *s = tel_span_start(tr, "POST /v1/servers/{id}/power", TEL_SPAN_KIND_SERVER, NULL);
    tel_span_set_current(s);
    tel_log(TEL_LOG_WARN, all, sizeof all / sizeof all[0], "disk %d%% full on %s", 93, "srv-1");
    tel_log_error("BMC %s did not answer", "10.0.0.7");
    tel_log_fatal("fatal but not aborting");
    tel_span_set_current(NULL);
    tel_span_end(s);
    /* inside a span that is not sampled (remote parent with flags 00): ids, flags 0 */
    tel_context remote = TEL_CONTEXT_INIT;
    memset(remote.sc.trace_id, 0x4b, 16);
    memset(remote.sc.span_id, 0x4c, 8);
    remote.sc.remote = true;
    tel_span *u = tel_span_start(tr, "unsampled", TEL_SPAN_KIND_INTERNAL, &remote);
    tel_span_set_current(u);
    tel_log_debug("not sampled \"quoted\" \\ h\xc3\xa9llo \xf0\x9f\x9a\x80");
    tel_span_set_current(NULL);
    tel_span_end(u);
    /* outside any span */
    tel_log_info("power %s for %s", "on", "srv-2");
    tel_log_trace("%s", "");
    /* more attributes than a queued record keeps: dropped and counted */
    tel_attr many[TEL_LOG_SLOT_ATTRS + 3];
    static const char *const keys[] = {"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9",
                                       "b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8"};
    for (int i = 0; i < TEL_LOG_SLOT_ATTRS + 3; i++)
        many[i] = TEL_ATTR_INT64(keys[i], i);
    tel_log(TEL_LOG_INFO, many, TEL_LOG_SLOT_ATTRS + 3, "many attributes");

    CHECK(tel_log_processor_force_flush(lp, 20000) == TEL_OK, "log flush");
    tel_log_set_processor(NULL);
    CHECK(tel_log_processor_shutdown(lp, 10000) == TEL_OK, "log processor shutdown");
    tel_blrp_stats st;
    tel_blrp_get_stats(lp, &st);
    CHECK(st.emitted == 7 && st.exported == 7,
          "log processor: %" PRIu64 " emitted, %" PRIu64 " exported", st.emitted, st.exported);
    CHECK(t.records == 7, "%zu records compared", t.records);
    tel_log_processor_destroy(lp);
    tel_log_set_output(prev_fd);
    tel_log_set_level(prev_level);
    close(devnull);
    tel_context_cleanup(&remote);
    tel_tracer_provider_destroy(tp);
    tel_resource_destroy(res);
    printf("   %s\n", failures == before_fail ? "ok" : "MISMATCHES");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    peer_require_or_skip();
    peer pr;
    if (peer_start(&pr, NULL) != 0) {
        fprintf(stderr, "cannot start the OTLP receiver\n");
        return 1;
    }
    size_t offset = 0;
    run(&pr, RUN_PB_BATCH, &offset);
    run(&pr, RUN_PB_GZIP_SIMPLE, &offset);
    run(&pr, RUN_JSON_BATCH, &offset);
    run_metrics_instruments(&pr, &offset);
    run_metrics_hand_built(&pr, &offset);
    run_logs(&pr, &offset);
    peer_stop(&pr);
    static const char *const tn[] = {"",         "string", "bool",  "int",     "double",
                                     "string[]", "bool[]", "int[]", "double[]"};
    printf("attribute types compared:");
    for (int i = 1; i <= TEL_ATTR_DOUBLE_ARRAY; i++) {
        printf(" %s=%d", tn[i], covered_types[i]);
        CHECK(covered_types[i] > 0, "attribute type %s never compared", tn[i]);
    }
    printf("\nmetrics compared: sums=%d (monotonic %d, delta %d) gauges=%d histograms=%d "
           "int points=%d double points=%d points with attributes=%d min/max=%d exemplars=%d "
           "(with trace ids %d, with filtered attributes %d)\n",
           mcov.sums, mcov.monotonic, mcov.delta, mcov.gauges, mcov.histograms, mcov.int_points,
           mcov.double_points, mcov.points_with_attrs, mcov.min_max, mcov.exemplars,
           mcov.exemplars_with_span, mcov.filtered_attrs);
    CHECK(mcov.sums && mcov.monotonic && mcov.delta && mcov.gauges && mcov.histograms &&
              mcov.int_points && mcov.double_points && mcov.min_max && mcov.exemplars_with_span &&
              mcov.filtered_attrs && mcov.exemplars > mcov.exemplars_with_span,
          "a metric feature was never compared");
    printf("log records compared: %d (with span %d: sampled %d, unsampled %d; redacted values %d; "
           "with dropped attributes %d); severities:",
           lcov.records, lcov.with_span, lcov.sampled, lcov.unsampled, lcov.redacted, lcov.dropped);
    for (int i = 1; i < 25; i += 4) {
        printf(" %d=%d", i, lcov.severities[i]);
        CHECK(lcov.severities[i] > 0, "severity %d never compared", i);
    }
    CHECK(lcov.sampled && lcov.unsampled && lcov.redacted >= 2 && lcov.dropped,
          "a log feature was never compared");
    printf("\n%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
