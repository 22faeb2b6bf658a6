/* Console exporter: one readable block per span. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
