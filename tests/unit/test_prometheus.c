/* Unit tests of the Prometheus / OpenMetrics text exposition: metadata lines, name and unit
 * rules, _total, histogram lines, label sanitising and escaping, ordering, target_info, scope
 * labels, OpenMetrics exemplars and # EOF, content negotiation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>

#include "metrics_test_util.h"
#include "telemetry/sampler.h"
#include "telemetry/trace.h"

static char *render(tel_meter_provider *p, bool om)
{
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_prometheus_render(p, om, &b), TEL_OK);
    char *s = malloc(b.len + 1);
    if (b.len)
        memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    tel_buf_free(&b);
    return s;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void expect_line(const char *text, const char *line)
{
    if (!has_line(text, line)) {
        fprintf(stderr, "missing line: %s\n--- in ---\n%s---\n", line, text);
        fail();
    }
}

static void test_golden_all_kinds(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    static const double b[] = {0.5, 1};
    tel_instrument *h = tel_meter_create(
        e.m, TEL_INSTR_HISTOGRAM, "rpc.duration",
        &(tel_instrument_opts){.unit = "s", .description = "RPC time.", .bounds = b, .n_bounds = 2});
    tel_instrument *c = tel_meter_create(e.m, TEL_INSTR_COUNTER, "rpc.calls",
                                         &(tel_instrument_opts){.value_is_int = true});
    tel_instrument *u = tel_meter_create(e.m, TEL_INSTR_UP_DOWN_COUNTER, "rpc.active",
                                         &(tel_instrument_opts){.value_is_int = true});
    tel_instrument *g = tel_meter_create(e.m, TEL_INSTR_GAUGE, "load", NULL);
    tel_attr ok[] = {TEL_ATTR_STR("code", "ok")};
    tel_attr err[] = {TEL_ATTR_STR("code", "err")};
    tel_histogram_record(h, 0.25, ok, 1);
    tel_histogram_record(h, 0.5, ok, 1);
    tel_histogram_record(h, 3, ok, 1);
    tel_counter_add_int(c, 2, ok, 1);
    tel_counter_add_int(c, 1, err, 1);
    tel_counter_add_int(u, -3, NULL, 0);
    tel_gauge_set(g, 1.5, NULL, 0);
    char *s = render(e.p, false);
    const char *want =
        "# HELP target_info Target metadata\n"
        "# TYPE target_info gauge\n"
        "target_info{service_name=\"metrics-test\",service_version=\"1.2.3\"} 1\n"
        "# HELP load load\n"
        "# TYPE load gauge\n"
        "load{otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\"} 1.5\n"
        "# HELP rpc_active rpc.active\n"
        "# TYPE rpc_active gauge\n"
        "rpc_active{otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\"} -3\n"
        "# HELP rpc_calls_total rpc.calls\n"
        "# TYPE rpc_calls_total counter\n"
        "rpc_calls_total{code=\"err\",otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\"} 1\n"
        "rpc_calls_total{code=\"ok\",otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\"} 2\n"
        "# HELP rpc_duration_seconds RPC time.\n"
        "# TYPE rpc_duration_seconds histogram\n"
        "rpc_duration_seconds_bucket{code=\"ok\",otel_scope_name=\"test.scope\","
        "otel_scope_version=\"0.1\",le=\"0.5\"} 2\n"
        "rpc_duration_seconds_bucket{code=\"ok\",otel_scope_name=\"test.scope\","
        "otel_scope_version=\"0.1\",le=\"1.0\"} 2\n"
        "rpc_duration_seconds_bucket{code=\"ok\",otel_scope_name=\"test.scope\","
        "otel_scope_version=\"0.1\",le=\"+Inf\"} 3\n"
        "rpc_duration_seconds_sum{code=\"ok\",otel_scope_name=\"test.scope\","
        "otel_scope_version=\"0.1\"} 3.75\n"
        "rpc_duration_seconds_count{code=\"ok\",otel_scope_name=\"test.scope\","
        "otel_scope_version=\"0.1\"} 3\n";
    assert_string_equal(s, want);
    free(s);

    /* The same in OpenMetrics: counter family without _total, UNIT line, # EOF. */
    s = render(e.p, true);
    expect_line(s, "# TYPE target info");
    expect_line(s, "# HELP rpc_calls rpc.calls");
    expect_line(s, "# TYPE rpc_calls counter");
    expect_line(s, "rpc_calls_total{code=\"ok\",otel_scope_name=\"test.scope\","
                   "otel_scope_version=\"0.1\"} 2");
    expect_line(s, "# UNIT rpc_duration_seconds seconds");
    size_t n = strlen(s);
    assert_true(n > 6 && strcmp(s + n - 6, "# EOF\n") == 0);
    assert_null(strstr(s, " # {")); /* exemplars off */
    free(s);
    mt_cleanup(&e);
}

static void test_default_buckets_rendered(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "size", NULL);
    tel_histogram_record(h, 5, NULL, 0);     /* le="5.0" */
    tel_histogram_record(h, 5.5, NULL, 0);   /* le="10.0" */
    tel_histogram_record(h, 20000, NULL, 0); /* +Inf */
    char *s = render(e.p, false);
    const char *les[] = {"0.0",   "5.0",    "10.0",   "25.0",   "50.0",   "75.0",
                         "100.0", "250.0",  "500.0",  "750.0",  "1000.0", "2500.0",
                         "5000.0", "7500.0", "10000.0", "+Inf"};
    const int cum[] = {0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3};
    const char *prev = s;
    for (size_t i = 0; i < 16; i++) {
        char line[256];
        snprintf(line, sizeof line,
                 "size_bucket{otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\",le=\"%s\"} %d",
                 les[i], cum[i]);
        expect_line(s, line);
        const char *at = strstr(s, line);
        assert_true(at >= prev); /* ascending order */
        prev = at;
    }
    expect_line(s, "size_count{otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\"} 3");
    expect_line(s, "size_sum{otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\"} 20010.5");
    free(s);
    mt_cleanup(&e);
}

static void test_names_and_units(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    struct {
        tel_instrument_kind kind;
        const char *name, *unit, *want;
    } cases[] = {
        {TEL_INSTR_HISTOGRAM, "http.server.request-duration", "s",
         "http_server_request_duration_seconds"},
        {TEL_INSTR_COUNTER, "net.io", "By", "net_io_bytes_total"},
        {TEL_INSTR_GAUGE, "cpu.utilization", "1", "cpu_utilization_ratio"},
        {TEL_INSTR_COUNTER, "jobs.done", "1", "jobs_done_total"},
        {TEL_INSTR_UP_DOWN_COUNTER, "queue.items", "{item}", "queue_items"},
        {TEL_INSTR_COUNTER, "packets", "{packet}/s", "packets_per_second_total"},
        {TEL_INSTR_GAUGE, "disk.free", "KiBy", "disk_free_kibibytes"},
        {TEL_INSTR_GAUGE, "net.rate", "By/s", "net_rate_bytes_per_second"},
        {TEL_INSTR_GAUGE, "latency", "ms", "latency_milliseconds"},
        {TEL_INSTR_GAUGE, "widgets.count", "widgets", "widgets_count_widgets"},
        {TEL_INSTR_GAUGE, "uptime_seconds", "s", "uptime_seconds"},
        {TEL_INSTR_COUNTER, "requests_total", "", "requests_total"},
        {TEL_INSTR_COUNTER, "cpu.time_total", "s", "cpu_time_seconds_total"},
        {TEL_INSTR_GAUGE, "temp", "Cel", "temp_celsius"},
        {TEL_INSTR_GAUGE, "a--b..c/d", "", "a_b_c_d"},
        {TEL_INSTR_GAUGE, "odd.unit", "m{x}/{y}h", "odd_unit_meters_per_hour"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tel_instrument *in = tel_meter_create(e.m, cases[i].kind, cases[i].name,
                                              &(tel_instrument_opts){.unit = cases[i].unit});
        if (cases[i].kind == TEL_INSTR_HISTOGRAM)
            tel_histogram_record(in, 1, NULL, 0);
        else if (cases[i].kind == TEL_INSTR_GAUGE)
            tel_gauge_set(in, 1, NULL, 0);
        else
            tel_counter_add(in, 1, NULL, 0);
    }
    char *s = render(e.p, false);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[256];
        const char *type = cases[i].kind == TEL_INSTR_HISTOGRAM ? "histogram"
                           : cases[i].kind == TEL_INSTR_COUNTER ? "counter"
                                                                : "gauge";
        snprintf(line, sizeof line, "# TYPE %s %s", cases[i].want, type);
        expect_line(s, line);
    }
    assert_null(strstr(s, "_total_total"));
    free(s);

    /* Internal helper: names always match [a-zA-Z_:][a-zA-Z0-9_:]*, unit length reported. */
    tel_buf b = TEL_BUF_INIT;
    size_t ul;
    assert_int_equal(tel__prom_family_name(&b, "9lives", "s", TEL_METRIC_GAUGE, false, true, &ul),
                     TEL_OK);
    assert_int_equal(b.len, strlen("_9lives_seconds"));
    assert_memory_equal(b.data, "_9lives_seconds", b.len);
    assert_int_equal(ul, 7);
    b.len = 0;
    assert_int_equal(tel__prom_family_name(&b, "x:y", "{a}", TEL_METRIC_SUM, true, false, &ul),
                     TEL_OK);
    assert_memory_equal(b.data, "x:y", 3);
    assert_int_equal(ul, 0);
    tel_buf_free(&b);
    mt_cleanup(&e);
}

static void test_labels_sanitised_and_escaped(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *g = tel_meter_create(e.m, TEL_INSTR_GAUGE, "g", NULL);
    const char *tricky = "back\\slash \"quoted\"\nnew line";
    tel_attr a[] = {TEL_ATTR_STR("http.request.method", "GET"),
                    {.key = "v", .type = TEL_ATTR_STRING, .len = (uint32_t)strlen(tricky),
                     .v.s = tricky},
                    TEL_ATTR_STR("1st-key", "x"),
                    TEL_ATTR_STR("bad\xff", "in\xc3(valid"),
                    TEL_ATTR_STR("b.c", "2"),
                    TEL_ATTR_STR("b_c", "1"),
                    TEL_ATTR_STR("__reserved", "r"),
                    TEL_ATTR_STR("le", "not a bound"),
                    TEL_ATTR_INT64("n", -42),
                    TEL_ATTR_DBL("d", 0.1),
                    TEL_ATTR_BOOLEAN("flag", false)};
    tel_gauge_set(g, 1, a, sizeof a / sizeof a[0]);
    char *s = render(e.p, false);
    expect_line(s, "g{_reserved=\"r\",b_c=\"2;1\",bad_=\"in\xef\xbf\xbd(valid\",d=\"0.1\","
                   "flag=\"false\",http_request_method=\"GET\",key_1st_key=\"x\",le_=\"not a "
                   "bound\",n=\"-42\",otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\","
                   "v=\"back\\\\slash \\\"quoted\\\"\\nnew line\"} 1");
    free(s);

    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel__prom_escape_help(&b, "a\"b\\c\nd", 7, false), TEL_OK);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "a\"b\\\\c\\nd", 9);
    b.len = 0;
    assert_int_equal(tel__prom_escape_help(&b, "a\"b", 3, true), TEL_OK);
    assert_memory_equal(b.data, "a\\\"b", 4);
    tel_buf_free(&b);
    mt_cleanup(&e);
}

static void setup_ordered(mt_env *e, bool reverse)
{
    mt_init(e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    const char *names[] = {"zeta", "alpha", "mid.dle", "beta"};
    const char *vals[] = {"b", "a", "c"};
    for (int k = 0; k < 4; k++) {
        int i = reverse ? 3 - k : k;
        tel_instrument *c = tel_meter_create(e->m, TEL_INSTR_COUNTER, names[i], NULL);
        for (int j = 0; j < 3; j++) {
            int v = reverse ? 2 - j : j;
            tel_attr a[] = {{.key = "k", .type = TEL_ATTR_STRING, .len = 1, .v.s = vals[v]}};
            tel_counter_add(c, 1, a, 1);
        }
    }
}

static void test_deterministic_ordering(void **state)
{
    (void)state;
    mt_env a, b;
    setup_ordered(&a, false);
    setup_ordered(&b, true);
    char *sa = render(a.p, false), *sb = render(b.p, false), *sa2 = render(a.p, false);
    assert_string_equal(sa, sb);
    assert_string_equal(sa, sa2);
    const char *pa = strstr(sa, "# TYPE alpha_total"), *pb = strstr(sa, "# TYPE beta_total"),
               *pm = strstr(sa, "# TYPE mid_dle_total"), *pz = strstr(sa, "# TYPE zeta_total");
    assert_true(pa && pb && pm && pz && pa < pb && pb < pm && pm < pz);
    const char *k1 = strstr(sa, "alpha_total{k=\"a\""), *k2 = strstr(sa, "alpha_total{k=\"b\""),
               *k3 = strstr(sa, "alpha_total{k=\"c\"");
    assert_true(k1 && k2 && k3 && k1 < k2 && k2 < k3);
    free(sa);
    free(sb);
    free(sa2);
    mt_cleanup(&a);
    mt_cleanup(&b);
}

static void test_scopes_share_family_and_conflicts(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_meter *m2 = tel_meter_get(e.p, "other.scope", NULL);
    tel_counter_add(tel_meter_create(e.m, TEL_INSTR_COUNTER, "hits", NULL), 1, NULL, 0);
    tel_counter_add(tel_meter_create(m2, TEL_INSTR_COUNTER, "hits", NULL), 2, NULL, 0);
    /* Same exposed name, another type: dropped with a warning. */
    tel_gauge_set(tel_meter_create(m2, TEL_INSTR_GAUGE, "hits_total", NULL), 5, NULL, 0);
    /* Same name and scope after sanitising: one series kept. */
    tel_gauge_set(tel_meter_create(e.m, TEL_INSTR_GAUGE, "dup.name", NULL), 1, NULL, 0);
    tel_gauge_set(tel_meter_create(e.m, TEL_INSTR_GAUGE, "dup_name", NULL), 2, NULL, 0);
    char *s = render(e.p, false);
    expect_line(s, "hits_total{otel_scope_name=\"other.scope\"} 2");
    expect_line(s, "hits_total{otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\"} 1");
    assert_null(strstr(s, "} 5\n"));
    const char *first = strstr(s, "# TYPE hits_total");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE hits_total"));
    expect_line(s, "dup_name{otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\"} 1");
    assert_null(strstr(s, "dup_name{otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\"} 2"));
    free(s);
    mt_cleanup(&e);
}

static void test_negative_histogram_has_no_sum(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "delta", NULL);
    tel_histogram_record(h, -5, NULL, 0);
    char *s = render(e.p, false);
    assert_null(strstr(s, "delta_sum"));
    expect_line(s, "delta_count{otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\"} 1");
    free(s);
    /* OpenMetrics: _count only together with _sum. */
    s = render(e.p, true);
    assert_null(strstr(s, "delta_sum"));
    assert_null(strstr(s, "delta_count"));
    expect_line(s, "delta_bucket{otel_scope_name=\"test.scope\",otel_scope_version=\"0.1\","
                   "le=\"+Inf\"} 1");
    free(s);
    mt_cleanup(&e);
}

static void test_openmetrics_exemplars(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_TRACE_BASED);
    static const double b[] = {1, 10, 100};
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "work.time",
                                         &(tel_instrument_opts){.unit = "s", .bounds = b,
                                                                .n_bounds = 3});
    tel_instrument *c = tel_meter_create(e.m, TEL_INSTR_COUNTER, "work.items",
                                         &(tel_instrument_opts){.value_is_int = true});
    tel_instrument *g = tel_meter_create(e.m, TEL_INSTR_GAUGE, "work.level", NULL);
    tel_tracer_provider_config tc = {0};
    tc.has_sampler = true;
    tel_sampler_init(&tc.sampler, TEL_SAMPLER_ALWAYS_ON, 1);
    tc.resource = tel_resource_create(NULL, 0);
    tel_tracer_provider *tp = tel_tracer_provider_create(&tc);
    tel_span *sp = tel_span_start(tel_tracer_get(tp, "t", NULL), "op", TEL_SPAN_KIND_SERVER, NULL);
    tel_span *prev = tel_span_set_current(sp);
    tel_histogram_record(h, 5, NULL, 0);  /* bucket le=10 */
    tel_histogram_record(h, 50, NULL, 0); /* bucket le=100 */
    tel_counter_add_int(c, 7, NULL, 0);
    tel_gauge_set(g, 3, NULL, 0);
    tel_span_set_current(prev);
    tel_span_context sc = tel_span_get_context(sp);
    char tid[33], sid[17];
    tel_hex_encode(sc.trace_id, 16, tid);
    tel_hex_encode(sc.span_id, 8, sid);
    char ex[128];
    snprintf(ex, sizeof ex, " # {trace_id=\"%s\",span_id=\"%s\"} ", tid, sid);

    char *s = render(e.p, true);
    const char *l = strstr(s, "work_items_total{");
    assert_non_null(l);
    const char *eol = strchr(l, '\n');
    const char *x = strstr(l, ex);
    assert_true(x && x < eol);
    assert_true(strncmp(x + strlen(ex), "7 ", 2) == 0);
    /* Bucket le=1.0: no exemplar of its own and none lower; le=10.0: the 5; le=100.0 and +Inf:
     * the 50. */
    l = strstr(s, "work_time_seconds_bucket{otel_scope_name=\"test.scope\",otel_scope_version="
                  "\"0.1\",le=\"1.0\"} 0\n");
    assert_non_null(l);
    l = strstr(s, "le=\"10.0\"} 1");
    assert_non_null(l);
    assert_true(strncmp(strstr(l, ex) + strlen(ex), "5 ", 2) == 0);
    l = strstr(s, "le=\"+Inf\"} 2");
    assert_non_null(l);
    assert_true(strncmp(strstr(l, ex) + strlen(ex), "50 ", 3) == 0);
    /* Exemplars only on counters and buckets. */
    l = strstr(s, "work_level{");
    assert_true(strchr(l, '\n') < strstr(l, "#") || !strstr(l, "#"));
    l = strstr(s, "work_time_seconds_count{");
    assert_null(memchr(l, '#', (size_t)(strchr(l, '\n') - l)));
    free(s);
    /* Never in the 0.0.4 text. */
    s = render(e.p, false);
    assert_null(strstr(s, "trace_id"));
    free(s);
    tel_span_end(sp);
    tel_tracer_provider_destroy(tp);
    mt_cleanup(&e);
}

static void test_target_info_from_resource(void **state)
{
    (void)state;
    tel_attr ra[] = {TEL_ATTR_STR("service.name", "bmc-agent"), TEL_ATTR_INT64("process.pid", 7),
                     TEL_ATTR_STR("host.name", "h\"1")};
    tel_resource *r = tel_resource_create(ra, 3);
    tel_meter_provider_config cfg = {.resource = r};
    tel_meter_provider *p = tel_meter_provider_create(&cfg);
    char *s = render(p, false);
    assert_string_equal(s, "# HELP target_info Target metadata\n# TYPE target_info gauge\n"
                           "target_info{host_name=\"h\\\"1\",process_pid=\"7\",service_name="
                           "\"bmc-agent\"} 1\n");
    free(s);
    s = render(p, true);
    assert_string_equal(s, "# TYPE target info\n# HELP target Target metadata\n"
                           "target_info{host_name=\"h\\\"1\",process_pid=\"7\",service_name="
                           "\"bmc-agent\"} 1\n# EOF\n");
    free(s);
    tel_meter_provider_destroy(p);
    tel_resource_destroy(r);
    /* An empty resource: no target_info at all. */
    r = tel_resource_create(NULL, 0);
    cfg.resource = r;
    p = tel_meter_provider_create(&cfg);
    s = render(p, false);
    assert_string_equal(s, "");
    free(s);
    tel_meter_provider_destroy(p);
    tel_resource_destroy(r);
}

static void test_render_appends_and_content_types(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_buf b = TEL_BUF_INIT;
    tel_buf_append(&b, "prefix\n", 7);
    assert_int_equal(tel_prometheus_render(e.p, false, &b), TEL_OK);
    assert_memory_equal(b.data, "prefix\n# HELP target_info", 25);
    tel_buf_free(&b);
    assert_int_equal(tel_prometheus_render(e.p, false, NULL), TEL_EINVAL);
    mt_cleanup(&e);
    assert_string_equal(tel_prometheus_content_type(false), "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(tel_prometheus_content_type(true),
                        "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert_true(tel_prometheus_accepts_openmetrics(
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
        "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
    assert_true(tel_prometheus_accepts_openmetrics("application/openmetrics-text"));
    assert_false(tel_prometheus_accepts_openmetrics("text/plain;version=0.0.4"));
    assert_false(tel_prometheus_accepts_openmetrics(
        "application/openmetrics-text;q=0.2, text/plain;q=0.9"));
    assert_false(tel_prometheus_accepts_openmetrics("application/openmetrics-text;q=0"));
    assert_false(tel_prometheus_accepts_openmetrics("*/*"));
    assert_false(tel_prometheus_accepts_openmetrics(NULL));
}

int main(void)
{
    unsetenv("OTEL_METRICS_EXEMPLAR_FILTER");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_all_kinds),
        cmocka_unit_test(test_default_buckets_rendered),
        cmocka_unit_test(test_names_and_units),
        cmocka_unit_test(test_labels_sanitised_and_escaped),
        cmocka_unit_test(test_deterministic_ordering),
        cmocka_unit_test(test_scopes_share_family_and_conflicts),
        cmocka_unit_test(test_negative_histogram_has_no_sum),
        cmocka_unit_test(test_openmetrics_exemplars),
        cmocka_unit_test(test_target_info_from_resource),
        cmocka_unit_test(test_render_appends_and_content_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
