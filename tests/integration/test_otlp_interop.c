/* OTLP interop: spans made through the public span API are exported over HTTP (protobuf,
 * protobuf + gzip, JSON) to tests/peers/otlp_receiver.js, which decodes them with the
 * OpenTelemetry project's generated code (@opentelemetry/otlp-transformer 0.52.1). Every field
 * the receiver decoded is compared with the record the span core produced (captured by an
 * in-memory exporter on the same provider).
 *
 * Skipped (exit 77) only when the peer's npm packages are missing. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_peer.h"
#include "telemetry/exporter.h"
#include "telemetry/memory_exporter.h"
#include "telemetry/trace.h"

static int failures;
static int checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static void hex(const uint8_t *id, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", id[i]);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* uint32/enum fields: absent means 0 (toObject with defaults false). */
static long long jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static size_t jlen(json_t *o, const char *k)
{
    return json_array_size(json_object_get(o, k));
}

static bool str_eq(const char *got, const char *want, size_t want_len)
{
    return got && strlen(got) == want_len && memcmp(got, want, want_len) == 0;
}

static bool double_eq(json_t *v, double want)
{
    if (isnan(want)) return json_is_string(v) && strcmp(json_string_value(v), "NaN") == 0;
    if (isinf(want))
        return json_is_string(v) &&
               strcmp(json_string_value(v), want > 0 ? "Infinity" : "-Infinity") == 0;
    if (want == 0 && signbit(want))
        return json_is_string(v) && strcmp(json_string_value(v), "-0") == 0;
    if (!json_is_number(v)) return false;
    double got = json_number_value(v);
    return got == want && signbit(got) == signbit(want);
}

/* One scalar AnyValue. */
static void cmp_scalar(const char *where, json_t *v, tel_attr_type type, const tel_attr *a,
                       uint32_t i)
{
    CHECK(json_is_object(v) && json_object_size(v) == 1, "%s: one value expected", where);
    char buf[32];
    switch (type) {
    case TEL_ATTR_STRING: {
        const char *s = i == UINT32_MAX ? a->v.s : ((const char *const *)a->v.arr)[i];
        size_t n = i == UINT32_MAX ? a->len : strlen(s);
        CHECK(str_eq(jstr(v, "stringValue"), s, n), "%s: stringValue \"%s\" != \"%.*s\"", where,
              jstr(v, "stringValue"), (int)n, s);
        break;
    }
    case TEL_ATTR_BOOL: {
        bool b = i == UINT32_MAX ? a->v.b : ((const bool *)a->v.arr)[i];
        json_t *got = json_object_get(v, "boolValue");
        CHECK(json_is_boolean(got) && json_boolean_value(got) == b, "%s: boolValue", where);
        break;
    }
    case TEL_ATTR_INT: {
        int64_t x = i == UINT32_MAX ? a->v.i : ((const int64_t *)a->v.arr)[i];
        snprintf(buf, sizeof buf, "%" PRId64, x);
        CHECK(jstr(v, "intValue") && strcmp(jstr(v, "intValue"), buf) == 0, "%s: intValue %s != %s",
              where, jstr(v, "intValue"), buf);
        break;
    }
    case TEL_ATTR_DOUBLE: {
        double x = i == UINT32_MAX ? a->v.d : ((const double *)a->v.arr)[i];
        CHECK(double_eq(json_object_get(v, "doubleValue"), x), "%s: doubleValue != %.17g", where,
              x);
        break;
    }
    default:
        CHECK(false, "%s: unexpected type", where);
    }
}

static int covered_types[TEL_ATTR_DOUBLE_ARRAY + 1];

static void cmp_attrs(const char *where, json_t *arr, const tel_attr *const *attrs, uint32_t n)
{
    CHECK(json_array_size(arr) == n, "%s: %zu attributes decoded, %u recorded", where,
          json_array_size(arr), n);
    for (uint32_t k = 0; k < n && k < json_array_size(arr); k++) {
        const tel_attr *a = attrs[k];
        json_t *kv = json_array_get(arr, k);
        char w[256];
        snprintf(w, sizeof w, "%s attribute[%u] %s", where, k, a->key);
        CHECK(jstr(kv, "key") && strcmp(jstr(kv, "key"), a->key) == 0, "%s: key %s", w,
              jstr(kv, "key"));
        json_t *v = json_object_get(kv, "value");
        covered_types[a->type]++;
        if (a->type <= TEL_ATTR_DOUBLE) {
            cmp_scalar(w, v, (tel_attr_type)a->type, a, UINT32_MAX);
            continue;
        }
        json_t *av = json_object_get(v, "arrayValue");
        CHECK(json_is_object(av), "%s: arrayValue expected", w);
        json_t *vals = json_object_get(av, "values");
        CHECK(json_array_size(vals) == a->len, "%s: %zu array values, %u recorded", w,
              json_array_size(vals), a->len);
        tel_attr_type el = (tel_attr_type)(a->type - TEL_ATTR_STRING_ARRAY + TEL_ATTR_STRING);
        for (uint32_t i = 0; i < a->len && i < json_array_size(vals); i++)
            cmp_scalar(w, json_array_get(vals, i), el, a, i);
    }
}

static void cmp_attr_list(const char *where, json_t *arr, const tel_attr *attrs, uint32_t n)
{
    const tel_attr *ptrs[64];
    for (uint32_t i = 0; i < n && i < 64; i++)
        ptrs[i] = &attrs[i];
    cmp_attrs(where, arr, ptrs, n < 64 ? n : 64);
}

static void cmp_time(const char *where, json_t *o, const char *k, uint64_t want)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, want);
    CHECK(jstr(o, k) && strcmp(jstr(o, k), buf) == 0, "%s: %s %s != %s", where, k, jstr(o, k), buf);
}

static void cmp_span(json_t *sp, const tel_span_data *d)
{
    char id[33], w[128];
    hex(d->sc.span_id, 8, id);
    snprintf(w, sizeof w, "span %s (%s)", d->name, id);
    hex(d->sc.trace_id, 16, id);
    CHECK(str_eq(jstr(sp, "traceId"), id, 32), "%s: traceId", w);
    if (d->has_parent) {
        hex(d->parent_span_id, 8, id);
        CHECK(str_eq(jstr(sp, "parentSpanId"), id, 16), "%s: parentSpanId %s != %s", w,
              jstr(sp, "parentSpanId"), id);
    } else {
        CHECK(json_object_get(sp, "parentSpanId") == NULL, "%s: root span with a parent", w);
    }
    size_t tsl = 0;
    const char *ts = d->ts ? tel_tracestate_str(d->ts, &tsl) : NULL;
    if (ts && tsl)
        CHECK(str_eq(jstr(sp, "traceState"), ts, tsl), "%s: traceState %s", w,
              jstr(sp, "traceState"));
    else
        CHECK(json_object_get(sp, "traceState") == NULL, "%s: unexpected traceState", w);
    CHECK(jstr(sp, "name") && strcmp(jstr(sp, "name"), d->name) == 0, "%s: name %s", w,
          jstr(sp, "name"));
    CHECK(jint(sp, "kind") == d->kind, "%s: kind %lld != %u", w, jint(sp, "kind"), d->kind);
    cmp_time(w, sp, "startTimeUnixNano", d->start_ns);
    cmp_time(w, sp, "endTimeUnixNano", d->end_ns);
    uint32_t want_flags = d->sc.flags | 0x100u | (d->has_parent && d->parent_remote ? 0x200u : 0);
    CHECK(jint(sp, "flags") == want_flags, "%s: flags 0x%llx != 0x%x", w, jint(sp, "flags"),
          want_flags);

    const tel_attr *attrs[256];
    uint32_t na = tel_span_data_attr_count(d);
    for (uint32_t i = 0; i < na && i < 256; i++)
        attrs[i] = tel_span_data_attr(d, i);
    cmp_attrs(w, json_object_get(sp, "attributes"), attrs, na);
    CHECK(jint(sp, "droppedAttributesCount") == d->dropped_attrs, "%s: droppedAttributesCount", w);

    uint32_t ne = tel_span_data_event_count(d);
    CHECK(jlen(sp, "events") == ne, "%s: %zu events, %u recorded", w, jlen(sp, "events"), ne);
    for (uint32_t i = 0; i < ne && i < jlen(sp, "events"); i++) {
        const tel_event *e = &d->extra->events[i];
        json_t *je = json_array_get(json_object_get(sp, "events"), i);
        char we[192];
        snprintf(we, sizeof we, "%s event[%u]", w, i);
        CHECK(jstr(je, "name") && strcmp(jstr(je, "name"), e->name) == 0, "%s: name", we);
        cmp_time(we, je, "timeUnixNano", e->time_ns);
        cmp_attr_list(we, json_object_get(je, "attributes"), e->attrs, e->n_attrs);
        CHECK(jint(je, "droppedAttributesCount") == e->dropped_attrs,
              "%s: droppedAttributesCount %lld != %u", we, jint(je, "droppedAttributesCount"),
              e->dropped_attrs);
    }
    CHECK(jint(sp, "droppedEventsCount") == d->dropped_events, "%s: droppedEventsCount", w);

    uint32_t nl = tel_span_data_link_count(d);
    CHECK(jlen(sp, "links") == nl, "%s: %zu links, %u recorded", w, jlen(sp, "links"), nl);
    for (uint32_t i = 0; i < nl && i < jlen(sp, "links"); i++) {
        const tel_link *l = &d->extra->links[i];
        json_t *jl = json_array_get(json_object_get(sp, "links"), i);
        char wl[192];
        snprintf(wl, sizeof wl, "%s link[%u]", w, i);
        hex(l->sc.trace_id, 16, id);
        CHECK(str_eq(jstr(jl, "traceId"), id, 32), "%s: traceId", wl);
        hex(l->sc.span_id, 8, id);
        CHECK(str_eq(jstr(jl, "spanId"), id, 16), "%s: spanId", wl);
        if (l->tracestate)
            CHECK(jstr(jl, "traceState") && strcmp(jstr(jl, "traceState"), l->tracestate) == 0,
                  "%s: traceState", wl);
        else
            CHECK(!json_object_get(jl, "traceState"), "%s: unexpected traceState", wl);
        cmp_attr_list(wl, json_object_get(jl, "attributes"), l->attrs, l->n_attrs);
        CHECK(jint(jl, "droppedAttributesCount") == l->dropped_attrs, "%s: droppedAttributesCount",
              wl);
        uint32_t lf = l->sc.flags | 0x100u | (l->sc.remote ? 0x200u : 0);
        CHECK(jint(jl, "flags") == lf, "%s: flags 0x%llx != 0x%x", wl, jint(jl, "flags"), lf);
    }
    CHECK(jint(sp, "droppedLinksCount") == d->dropped_links, "%s: droppedLinksCount", w);

    json_t *st = json_object_get(sp, "status");
    CHECK(jint(st, "code") == d->status, "%s: status code %lld != %u", w, jint(st, "code"),
          d->status);
    if (d->status == TEL_STATUS_ERROR && d->status_msg)
        CHECK(jstr(st, "message") && strcmp(jstr(st, "message"), d->status_msg) == 0,
              "%s: status message %s", w, jstr(st, "message"));
    else
        CHECK(!jstr(st, "message"), "%s: unexpected status message", w);
}

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
    peer_stop(&pr);
    static const char *const tn[] = {"",         "string", "bool",  "int",     "double",
                                     "string[]", "bool[]", "int[]", "double[]"};
    printf("attribute types compared:");
    for (int i = 1; i <= TEL_ATTR_DOUBLE_ARRAY; i++) {
        printf(" %s=%d", tn[i], covered_types[i]);
        CHECK(covered_types[i] > 0, "attribute type %s never compared", tn[i]);
    }
    printf("\n%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
