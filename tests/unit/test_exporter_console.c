/* Console exporter: one readable block per span and per metric, one line per log record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "otlp_test_util.h"
#include "telemetry/exporter.h"

static char *read_all(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static void test_blocks(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    tel_span_exporter *e = tel_console_exporter_create(f);
    assert_non_null(e);
    static const int64_t ints[] = {1, -2};
    tel_attr attrs[] = {
        TEL_ATTR_STR("http.route", "/v1/x"),
        TEL_ATTR_INT64("http.response.status_code", 503),
        TEL_ATTR_BOOLEAN("retry", true),
        TEL_ATTR_DBL("ratio", 0.25),
        {.key = "ids", .type = TEL_ATTR_INT_ARRAY, .len = 2, .v.arr = ints},
        TEL_ATTR_STR("evil", "\x1b[2Jgone"),
    };
    static const tel_scope scope = {"lib", "2.0", NULL};
    tel_span_data d[2];
    make_span(&d[0], &scope, "GET /v1/x", attrs, 6, 1);
    d[0].status = TEL_STATUS_ERROR;
    d[0].status_msg = "upstream down";
    d[0].has_parent = true;
    d[0].parent_remote = true;
    memset(d[0].parent_span_id, 0x42, 8);
    tel_attr ev_attrs[] = {TEL_ATTR_STR("exception.type", "Timeout")};
    tel_event ev = {"exception", d[0].start_ns + 1500000, ev_attrs, 1, 0};
    tel_link link;
    memset(&link, 0, sizeof link);
    memset(link.sc.trace_id, 0x77, 16);
    memset(link.sc.span_id, 0x88, 8);
    tel_span_extra x = {.events = &ev, .n_events = 1, .links = &link, .n_links = 1};
    d[0].extra = &x;
    d[0].dropped_attrs = 2;
    make_span(&d[1], NULL, "second", NULL, 0, 2);
    tel_attr r = TEL_ATTR_STR("service.name", "bmc-agent");
    tel_resource res = {&r, 1, NULL};
    const tel_span_data *spans[] = {&d[0], &d[1]};
    assert_int_equal(e->export_spans(e, &res, spans, 2, 0), TEL_OK);
    char *s = read_all(f);
    assert_non_null(strstr(s, "span \"GET /v1/x\" kind=server status=ERROR \"upstream down\"\n"));
    assert_non_null(strstr(s, "  trace_id=02030405060708090a0b0c0d0e0f1011 span_id="));
    assert_non_null(strstr(s, "parent_span_id=4242424242424242 (remote parent)"));
    assert_non_null(strstr(s, "start=2023-11-14T22:13:20.123456789Z duration=100.000 ms"));
    assert_non_null(strstr(s, "service=bmc-agent scope=lib@2.0"));
    assert_non_null(strstr(s, "  attr http.route = \"/v1/x\"\n"));
    assert_non_null(strstr(s, "  attr http.response.status_code = 503\n"));
    assert_non_null(strstr(s, "  attr retry = true\n"));
    assert_non_null(strstr(s, "  attr ratio = 0.25\n"));
    assert_non_null(strstr(s, "  attr ids = [1, -2]\n"));
    assert_non_null(strstr(s, "  attr evil = \"\\x1b[2Jgone\"\n"));
    assert_null(strchr(s, 0x1b));
    assert_non_null(strstr(s, "  event +1.500 ms \"exception\" {exception.type=\"Timeout\"}\n"));
    assert_non_null(strstr(s, "  link 77777777777777777777777777777777/8888888888888888\n"));
    assert_non_null(strstr(s, "  dropped: 2 attributes, 0 events, 0 links\n"));
    assert_non_null(strstr(s, "span \"second\" kind=server status=UNSET\n"));
    assert_non_null(strstr(s, "service=bmc-agent scope=-\n"));
    free(s);
    assert_int_equal(e->force_flush(e, 100), TEL_OK);
    assert_int_equal(e->shutdown(e), TEL_OK);
    assert_int_equal(e->export_spans(e, &res, spans, 1, 0), TEL_ESHUTDOWN);
    e->destroy(e);
    fclose(f);
}

static void test_metrics_and_logs(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    tel_metric_exporter *me = tel_console_metric_exporter_create(f);
    tel_log_exporter *le = tel_console_log_exporter_create(f);
    assert_non_null(me);
    assert_non_null(le);
    metric_fixture mf;
    metric_fixture_init(&mf);
    log_fixture lf;
    log_fixture_init(&lf);
    lf.r[1].body = "bell\x07";
    lf.r[1].body_len = 5;
    tel_attr r = TEL_ATTR_STR("service.name", "bmc-agent");
    tel_resource res = {&r, 1, NULL};
    assert_int_equal(me->export_metrics(me, &res, mf.m, 4, 0), TEL_OK);
    assert_int_equal(le->export_logs(le, &res, lf.ptrs, 3, 0), TEL_OK);
    char *s = read_all(f);
    assert_non_null(strstr(s, "metric \"bmc.power.ops\" sum monotonic cumulative unit={operation}\n"
                              "  service=bmc-agent scope=bmcfleet.metrics@1.0\n"
                              "  description \"Power operations\"\n"));
    assert_non_null(strstr(s, "  point {http.route=\"/v1/servers/{id}\", "
                              "http.response.status_code=200} value=5 time=2023-11-14T22:14:20"));
    assert_non_null(strstr(s, "    exemplar 3\n"));
    assert_non_null(strstr(s, "metric \"bmc.sessions\" sum non-monotonic cumulative\n"));
    assert_non_null(strstr(s, "value=-2.5 "));
    assert_non_null(strstr(s, "metric \"bmc.temperature\" gauge unit=Cel\n  service=bmc-agent "
                              "scope=other\n"));
    assert_non_null(strstr(s, " count=6 sum=42.5 min=0.5 max=30 time="));
    assert_non_null(strstr(s, "    buckets (-Infinity,0]=1 (0,5]=2 (5,10]=0 (10,+Infinity)=3\n"));
    assert_non_null(strstr(s, "    exemplar 7.5 trace_id=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf "
                              "span_id=b0b1b2b3b4b5b6b7 {user=\"u1\"}\n"));
    assert_non_null(strstr(s, "log 2023-11-14T22:13:20.000000001Z WARN \"disk 93% full\" "
                              "trace_id=101112131415161718191a1b1c1d1e1f span_id=2021222324252627 "
                              "{server_id=\"srv-1\", usage=0.93000000000000005} (1 attributes "
                              "dropped) service=bmc-agent scope=bmcfleet.log@1.0\n"));
    assert_non_null(strstr(s, "INFO \"bell\\x07\" service=bmc-agent scope=other\n"));
    assert_non_null(strstr(s, "log 2023-11-14T22:13:20.000000004Z ERROR \"\" service="));
    assert_null(strchr(s, 0x07));
    free(s);
    assert_int_equal(me->force_flush(me, 100), TEL_OK);
    assert_int_equal(me->shutdown(me), TEL_OK);
    assert_int_equal(me->export_metrics(me, &res, mf.m, 1, 0), TEL_ESHUTDOWN);
    assert_int_equal(le->shutdown(le), TEL_OK);
    me->destroy(me);
    le->destroy(le);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_metrics_and_logs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
