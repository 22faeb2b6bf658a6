/* OTLP/JSON encoder and JSON response decoder. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>
#include <jansson.h>

#include "otlp_internal.h"
#include "otlp_test_util.h"
#include "telemetry/tracestate.h"

static const tel_scope scope_a = {"lib.a", "1.2.3", "https://scope/schema"};
static const tel_scope scope_b = {"lib.b", NULL, NULL};

static json_t *encode(const tel_resource *res, const tel_span_data *const *spans, size_t n)
{
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_traces_json(&b, res, spans, n), TEL_OK);
    assert_null(memchr(b.data, '\n', b.len));
    json_error_t err;
    json_t *root = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &err);
    if (!root) fail_msg("invalid JSON: %s: %.*s", err.text, (int)b.len, (const char *)b.data);
    tel_buf_free(&b);
    return root;
}

static const char *str_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static json_int_t int_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* The AnyValue of attribute `i` of array `attrs`, after checking its key. */
static json_t *attr_value(json_t *attrs, size_t i, const char *key)
{
    json_t *kv = json_array_get(attrs, i);
    assert_non_null(kv);
    assert_string_equal(str_at(kv, "key"), key);
    json_t *v = json_object_get(kv, "value");
    assert_true(json_is_object(v));
    assert_int_equal(json_object_size(v), 1);
    return v;
}

static void test_full_span(void **state)
{
    (void)state;
    static const char *const strs[] = {"x", ""};
    static const bool bools[] = {false, true};
    static const int64_t ints[] = {INT64_MIN, 7};
    static const double dbls[] = {0.1, NAN};
    tel_attr attrs[] = {
        TEL_ATTR_STR("s", "h\"i\n"),
        TEL_ATTR_BOOLEAN("b", false),
        TEL_ATTR_INT64("i", INT64_MAX),
        TEL_ATTR_DBL("d", 0.1),
        TEL_ATTR_DBL("inf", -INFINITY),
        {.key = "sa", .type = TEL_ATTR_STRING_ARRAY, .len = 2, .v.arr = strs},
        {.key = "ba", .type = TEL_ATTR_BOOL_ARRAY, .len = 2, .v.arr = bools},
        {.key = "ia", .type = TEL_ATTR_INT_ARRAY, .len = 2, .v.arr = ints},
        {.key = "da", .type = TEL_ATTR_DOUBLE_ARRAY, .len = 2, .v.arr = dbls},
        {.key = "bad", .type = TEL_ATTR_STRING, .len = 4, .v.s = "a\xff\xc3z"},
    };
    tel_span_data d;
    make_span(&d, &scope_a, "GET /x", attrs, 10, 3);
    d.has_parent = true;
    memset(d.parent_span_id, 0xAB, 8);
    d.status = TEL_STATUS_ERROR;
    d.status_msg = "boom";
    d.dropped_attrs = 1;
    d.dropped_events = 2;
    d.dropped_links = 3;
    const char *tsv = "v=1";
    d.ts = tel_tracestate_parse(&tsv, NULL, 1, NULL);
    tel_attr more[] = {TEL_ATTR_INT64("extra", -3)};
    tel_attr ev_attrs[] = {TEL_ATTR_STR("exception.message", "m")};
    tel_event ev = {"exception", 1700000000150000001ull, ev_attrs, 1, 4};
    tel_link link;
    memset(&link, 0, sizeof link);
    memset(link.sc.trace_id, 0xCD, 16);
    memset(link.sc.span_id, 0xEF, 8);
    link.sc.flags = 1;
    link.tracestate = "a=b";
    link.dropped_attrs = 9;
    tel_span_extra x = {
        .attrs = more, .n_attrs = 1, .events = &ev, .n_events = 1, .links = &link, .n_links = 1};
    d.extra = &x;
    tel_attr rattrs[] = {TEL_ATTR_STR("service.name", "bmc-manager")};
    tel_resource res = {rattrs, 1, "https://res/schema"};
    const tel_span_data *spans[] = {&d};
    json_t *root = encode(&res, spans, 1);

    json_t *rs = json_array_get(json_object_get(root, "resourceSpans"), 0);
    assert_non_null(rs);
    assert_string_equal(str_at(rs, "schemaUrl"), "https://res/schema");
    json_t *rattr = json_object_get(json_object_get(rs, "resource"), "attributes");
    assert_string_equal(str_at(attr_value(rattr, 0, "service.name"), "stringValue"), "bmc-manager");
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
    assert_string_equal(str_at(json_object_get(ss, "scope"), "name"), "lib.a");
    assert_string_equal(str_at(json_object_get(ss, "scope"), "version"), "1.2.3");
    assert_string_equal(str_at(ss, "schemaUrl"), "https://scope/schema");
    json_t *sp = json_array_get(json_object_get(ss, "spans"), 0);
    assert_string_equal(str_at(sp, "traceId"), "0405060708090a0b0c0d0e0f10111213");
    assert_string_equal(str_at(sp, "spanId"), "0a0b0c0d0e0f1011");
    assert_string_equal(str_at(sp, "parentSpanId"), "abababababababab");
    assert_string_equal(str_at(sp, "traceState"), "v=1");
    assert_string_equal(str_at(sp, "name"), "GET /x");
    assert_int_equal(int_at(sp, "kind"), 2);
    assert_int_equal(int_at(sp, "flags"), 0x101);
    assert_string_equal(str_at(sp, "startTimeUnixNano"), "1700000000123456789");
    assert_string_equal(str_at(sp, "endTimeUnixNano"), "1700000000223456789");
    assert_int_equal(int_at(sp, "droppedAttributesCount"), 1);
    assert_int_equal(int_at(sp, "droppedEventsCount"), 2);
    assert_int_equal(int_at(sp, "droppedLinksCount"), 3);
    json_t *a = json_object_get(sp, "attributes");
    assert_int_equal(json_array_size(a), 11);
    assert_string_equal(str_at(attr_value(a, 0, "s"), "stringValue"), "h\"i\n");
    assert_true(json_is_false(json_object_get(attr_value(a, 1, "b"), "boolValue")));
    assert_string_equal(str_at(attr_value(a, 2, "i"), "intValue"), "9223372036854775807");
    assert_true(json_real_value(json_object_get(attr_value(a, 3, "d"), "doubleValue")) == 0.1);
    assert_string_equal(str_at(attr_value(a, 4, "inf"), "doubleValue"), "-Infinity");
    json_t *vals = json_object_get(json_object_get(attr_value(a, 5, "sa"), "arrayValue"), "values");
    assert_int_equal(json_array_size(vals), 2);
    assert_string_equal(str_at(json_array_get(vals, 1), "stringValue"), "");
    vals = json_object_get(json_object_get(attr_value(a, 6, "ba"), "arrayValue"), "values");
    assert_true(json_is_true(json_object_get(json_array_get(vals, 1), "boolValue")));
    vals = json_object_get(json_object_get(attr_value(a, 7, "ia"), "arrayValue"), "values");
    assert_string_equal(str_at(json_array_get(vals, 0), "intValue"), "-9223372036854775808");
    vals = json_object_get(json_object_get(attr_value(a, 8, "da"), "arrayValue"), "values");
    assert_string_equal(str_at(json_array_get(vals, 1), "doubleValue"), "NaN");
    /* invalid UTF-8 bytes replaced by U+FFFD */
    assert_string_equal(str_at(attr_value(a, 9, "bad"), "stringValue"),
                        "a\xEF\xBF\xBD\xEF\xBF\xBDz");
    assert_string_equal(str_at(attr_value(a, 10, "extra"), "intValue"), "-3");
    json_t *e = json_array_get(json_object_get(sp, "events"), 0);
    assert_string_equal(str_at(e, "name"), "exception");
    assert_string_equal(str_at(e, "timeUnixNano"), "1700000000150000001");
    assert_int_equal(int_at(e, "droppedAttributesCount"), 4);
    assert_string_equal(
        str_at(attr_value(json_object_get(e, "attributes"), 0, "exception.message"), "stringValue"),
        "m");
    json_t *l = json_array_get(json_object_get(sp, "links"), 0);
    assert_string_equal(str_at(l, "traceId"), "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd");
    assert_string_equal(str_at(l, "spanId"), "efefefefefefefef");
    assert_string_equal(str_at(l, "traceState"), "a=b");
    assert_int_equal(int_at(l, "droppedAttributesCount"), 9);
    assert_int_equal(int_at(l, "flags"), 0x101);
    json_t *st = json_object_get(sp, "status");
    assert_string_equal(str_at(st, "message"), "boom");
    assert_int_equal(int_at(st, "code"), 2);
    json_decref(root);
    tel_tracestate_unref(d.ts);
}

static void test_grouping_and_minimal(void **state)
{
    (void)state;
    tel_span_data d[3];
    const tel_scope *sc[] = {&scope_b, &scope_a, &scope_b};
    const tel_span_data *spans[3];
    for (int i = 0; i < 3; i++) {
        make_span(&d[i], sc[i], i == 1 ? "one" : "other", NULL, 0, (uint8_t)i);
        spans[i] = &d[i];
    }
    json_t *root = encode(NULL, spans, 3);
    json_t *rs = json_array_get(json_object_get(root, "resourceSpans"), 0);
    assert_int_equal(json_object_size(json_object_get(rs, "resource")), 0);
    json_t *sss = json_object_get(rs, "scopeSpans");
    assert_int_equal(json_array_size(sss), 2);
    json_t *s0 = json_array_get(sss, 0);
    assert_string_equal(str_at(json_object_get(s0, "scope"), "name"), "lib.b");
    assert_null(json_object_get(json_object_get(s0, "scope"), "version"));
    assert_int_equal(json_array_size(json_object_get(s0, "spans")), 2);
    json_t *sp = json_array_get(json_object_get(s0, "spans"), 0);
    /* absent: parent, attributes, events, links, status, dropped counts */
    const char *absent[] = {"parentSpanId",           "attributes", "events", "links", "status",
                            "droppedAttributesCount", "traceState"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        assert_null(json_object_get(sp, absent[i]));
    json_decref(root);
    /* empty batch */
    root = encode(NULL, spans, 0);
    assert_int_equal(json_array_size(json_object_get(root, "resourceSpans")), 0);
    json_decref(root);
}

static void test_decode_response_json(void **state)
{
    (void)state;
    tel_otlp_partial p;
#define DEC(s) tel_otlp_decode_response_json((const uint8_t *)(s), strlen(s), &p)
    assert_int_equal(tel_otlp_decode_response_json(NULL, 0, &p), TEL_OK);
    assert_false(p.present);
    assert_int_equal(DEC("{}"), TEL_OK);
    assert_false(p.present);
    assert_int_equal(DEC("{\"partialSuccess\":{\"rejectedSpans\":\"12\",\"errorMessage\":\"x\"}}"),
                     TEL_OK);
    assert_true(p.present);
    assert_int_equal(p.rejected, 12);
    assert_string_equal(p.message, "x");
    assert_int_equal(DEC("{\"partial_success\":{\"rejected_data_points\":5}}"), TEL_OK);
    assert_int_equal(p.rejected, 5);
    assert_int_equal(DEC("{\"partialSuccess\":{}}"), TEL_OK);
    assert_true(p.present);
    assert_int_equal(p.rejected, 0);
    assert_int_equal(DEC("{\"partialSuccess\":{\"rejectedSpans\":\"x1\"}}"), TEL_EINVAL);
    assert_false(p.present);
    assert_int_equal(DEC("{\"partialSuccess\":3}"), TEL_EINVAL);
    assert_int_equal(DEC("[1]"), TEL_EINVAL);
    assert_int_equal(DEC("{"), TEL_EINVAL);
    char out[32];
    const char *st = "{\"code\":3,\"message\":\"no\"}";
    assert_int_equal(tel__otlp_decode_status_json((const uint8_t *)st, strlen(st), out, sizeof out),
                     TEL_OK);
    assert_string_equal(out, "no");
#undef DEC
}

/* ---- Metrics and logs ---- */

static json_t *parse_buf(tel_buf *b)
{
    assert_null(memchr(b->data, '\n', b->len));
    json_error_t err;
    json_t *root = json_loadb((const char *)b->data, b->len, JSON_REJECT_DUPLICATES, &err);
    if (!root) fail_msg("invalid JSON: %s: %.*s", err.text, (int)b->len, (const char *)b->data);
    tel_buf_free(b);
    return root;
}

static json_t *at(json_t *o, const char *key, size_t i)
{
    json_t *a = json_object_get(o, key);
    assert_true(json_is_array(a));
    json_t *v = json_array_get(a, i);
    assert_non_null(v);
    return v;
}

static void check_scope(json_t *ss, const char *name, const char *version)
{
    json_t *sc = json_object_get(ss, "scope");
    assert_string_equal(str_at(sc, "name"), name);
    if (version)
        assert_string_equal(str_at(sc, "version"), version);
    else
        assert_null(json_object_get(sc, "version"));
}

static void test_metrics_json(void **state)
{
    (void)state;
    metric_fixture f;
    metric_fixture_init(&f);
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_metrics_json(&b, NULL, f.m, 4), TEL_OK);
    json_t *root = parse_buf(&b);
    assert_int_equal(json_object_size(root), 1);
    json_t *rm = at(root, "resourceMetrics", 0);
    assert_int_equal(json_array_size(json_object_get(rm, "scopeMetrics")), 2);
    json_t *sm = at(rm, "scopeMetrics", 0);
    check_scope(sm, "bmcfleet.metrics", "1.0");
    assert_int_equal(json_array_size(json_object_get(sm, "metrics")), 3);

    json_t *m = at(sm, "metrics", 0);
    assert_string_equal(str_at(m, "name"), "bmc.power.ops");
    assert_string_equal(str_at(m, "description"), "Power operations");
    assert_string_equal(str_at(m, "unit"), "{operation}");
    json_t *sum = json_object_get(m, "sum");
    assert_int_equal(int_at(sum, "aggregationTemporality"), 2);
    assert_true(json_is_true(json_object_get(sum, "isMonotonic")));
    json_t *p = at(sum, "dataPoints", 0);
    assert_string_equal(str_at(p, "asInt"), "5");
    assert_string_equal(str_at(p, "startTimeUnixNano"), "1700000000000000000");
    assert_string_equal(str_at(p, "timeUnixNano"), "1700000060000000000");
    assert_string_equal(
        str_at(attr_value(json_object_get(p, "attributes"), 0, "http.route"), "stringValue"),
        "/v1/servers/{id}");
    json_t *ex = at(p, "exemplars", 0);
    assert_string_equal(str_at(ex, "asInt"), "3");
    assert_string_equal(str_at(ex, "timeUnixNano"), "1700000000000000007");
    assert_null(json_object_get(ex, "traceId"));
    p = at(sum, "dataPoints", 1);
    assert_string_equal(str_at(p, "asInt"), "0");
    assert_null(json_object_get(p, "attributes"));

    m = at(sm, "metrics", 1);
    sum = json_object_get(m, "sum");
    assert_null(json_object_get(sum, "isMonotonic"));
    assert_null(json_object_get(m, "description"));
    assert_true(json_real_value(json_object_get(at(sum, "dataPoints", 0), "asDouble")) == -2.5);

    m = at(sm, "metrics", 2);
    json_t *h = json_object_get(m, "histogram");
    assert_int_equal(int_at(h, "aggregationTemporality"), 2);
    p = at(h, "dataPoints", 0);
    assert_string_equal(str_at(p, "count"), "6");
    assert_true(json_real_value(json_object_get(p, "sum")) == 42.5);
    assert_true(json_real_value(json_object_get(p, "min")) == 0.5);
    assert_true(json_number_value(json_object_get(p, "max")) == 30);
    static const char *const bc[] = {"1", "2", "0", "3"};
    for (int i = 0; i < 4; i++)
        assert_string_equal(json_string_value(at(p, "bucketCounts", (size_t)i)), bc[i]);
    assert_int_equal(json_array_size(json_object_get(p, "explicitBounds")), 3);
    assert_true(json_number_value(at(p, "explicitBounds", 1)) == 5);
    ex = at(p, "exemplars", 0);
    assert_true(json_real_value(json_object_get(ex, "asDouble")) == 7.5);
    assert_string_equal(str_at(ex, "traceId"), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    assert_string_equal(str_at(ex, "spanId"), "b0b1b2b3b4b5b6b7");
    assert_string_equal(
        str_at(attr_value(json_object_get(ex, "filteredAttributes"), 0, "user"), "stringValue"),
        "u1");

    sm = at(rm, "scopeMetrics", 1);
    check_scope(sm, "other", NULL);
    m = at(sm, "metrics", 0);
    json_t *g = json_object_get(m, "gauge");
    assert_int_equal(json_object_size(g), 1); /* dataPoints only */
    p = at(g, "dataPoints", 0);
    assert_true(json_real_value(json_object_get(p, "asDouble")) == 21.5);
    assert_null(json_object_get(p, "startTimeUnixNano"));
    json_decref(root);

    /* Non-finite values use the OTLP/JSON strings. */
    f.pts[3].value.d = NAN;
    f.pts[4].max = INFINITY;
    assert_int_equal(tel_otlp_encode_metrics_json(&b, NULL, f.m, 4), TEL_OK);
    root = parse_buf(&b);
    rm = at(root, "resourceMetrics", 0);
    p = at(json_object_get(at(at(rm, "scopeMetrics", 1), "metrics", 0), "gauge"), "dataPoints", 0);
    assert_string_equal(str_at(p, "asDouble"), "NaN");
    p = at(json_object_get(at(at(rm, "scopeMetrics", 0), "metrics", 2), "histogram"), "dataPoints",
           0);
    assert_string_equal(str_at(p, "max"), "Infinity");
    json_decref(root);
}

static void test_logs_json(void **state)
{
    (void)state;
    log_fixture f;
    log_fixture_init(&f);
    tel_attr ra = TEL_ATTR_STR("service.name", "bmc-gateway");
    tel_resource res = {&ra, 1, NULL};
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_logs_json(&b, &res, f.ptrs, 3), TEL_OK);
    json_t *root = parse_buf(&b);
    json_t *rl = at(root, "resourceLogs", 0);
    assert_string_equal(
        str_at(attr_value(json_object_get(json_object_get(rl, "resource"), "attributes"), 0,
                          "service.name"),
               "stringValue"),
        "bmc-gateway");
    json_t *sl = at(rl, "scopeLogs", 0);
    check_scope(sl, "bmcfleet.log", "1.0");
    assert_int_equal(json_array_size(json_object_get(sl, "logRecords")), 2);
    json_t *r = at(sl, "logRecords", 0);
    assert_string_equal(str_at(r, "timeUnixNano"), "1700000000000000001");
    assert_string_equal(str_at(r, "observedTimeUnixNano"), "1700000000000000002");
    assert_int_equal(int_at(r, "severityNumber"), 13);
    assert_string_equal(str_at(r, "severityText"), "WARN");
    assert_string_equal(str_at(json_object_get(r, "body"), "stringValue"), "disk 93% full");
    assert_int_equal(json_array_size(json_object_get(r, "attributes")), 2);
    json_t *usage = attr_value(json_object_get(r, "attributes"), 1, "usage");
    assert_true(json_real_value(json_object_get(usage, "doubleValue")) == 0.93);
    assert_int_equal(int_at(r, "droppedAttributesCount"), 1);
    assert_int_equal(int_at(r, "flags"), 1);
    assert_string_equal(str_at(r, "traceId"), "101112131415161718191a1b1c1d1e1f");
    assert_string_equal(str_at(r, "spanId"), "2021222324252627");
    r = at(sl, "logRecords", 1);
    assert_null(json_object_get(r, "timeUnixNano"));
    assert_null(json_object_get(r, "body"));
    assert_null(json_object_get(r, "traceId"));
    assert_null(json_object_get(r, "flags"));
    sl = at(rl, "scopeLogs", 1);
    check_scope(sl, "other", NULL);
    r = at(sl, "logRecords", 0);
    assert_string_equal(str_at(json_object_get(r, "body"), "stringValue"), "");
    json_decref(root);

    /* Invalid UTF-8 in a body is repaired, never passed through. */
    f.r[1].body = "a\xff";
    f.r[1].body_len = 2;
    assert_int_equal(tel_otlp_encode_logs_json(&b, NULL, &f.ptrs[1], 1), TEL_OK);
    root = parse_buf(&b);
    r = at(at(at(root, "resourceLogs", 0), "scopeLogs", 0), "logRecords", 0);
    assert_string_equal(str_at(json_object_get(r, "body"), "stringValue"), "a\xef\xbf\xbd");
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_span),
        cmocka_unit_test(test_grouping_and_minimal),
        cmocka_unit_test(test_decode_response_json),
        cmocka_unit_test(test_metrics_json),
        cmocka_unit_test(test_logs_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
