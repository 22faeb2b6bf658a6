/* OTLP metric and log exporters against a real HTTP server on 127.0.0.1 (the canned-response
 * thread of otlp_test_server.h): request path per signal, content types, bodies exactly as the
 * encoders make them, gzip, counters (data points for metrics), partial success, permanent
 * failure, shutdown. The span exporter shares the implementation (test_otlp_http.c, interop).
 * ctest-labels: concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include <cmocka.h>

#include "otlp_internal.h"
#include "otlp_test_server.h"
#include "otlp_test_util.h"

static void cfg_for(tel_otlp_config *c, tel_otlp_signal sig, int port, tel_otlp_protocol proto)
{
    assert_int_equal(tel_otlp_config_init(c, sig), TEL_OK);
    char url[80];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/%s", port, tel_otlp_signal_name(sig));
    assert_int_equal(tel_otlp_config_set_endpoint(c, url), TEL_OK);
    c->protocol = proto;
    c->timeout_ms = 2000;
    c->retry_initial_ms = 20;
    c->retry_max_ms = 50;
    c->retry_max_attempts = 2;
}

static void test_metrics_protobuf(void **state)
{
    (void)state;
    canned ok = {.status = 200};
    tsrv *s = tsrv_start(&ok, 1);
    tel_otlp_config c;
    cfg_for(&c, TEL_OTLP_METRICS, s->port, TEL_OTLP_HTTP_PROTOBUF);
    tel_metric_exporter *e = tel_otlp_metric_exporter_create(&c);
    tel_otlp_config_cleanup(&c);
    assert_non_null(e);
    metric_fixture f;
    metric_fixture_init(&f);
    tel_attr ra = TEL_ATTR_STR("service.name", "bmc-manager");
    tel_resource res = {&ra, 1, NULL};
    assert_int_equal(e->export_metrics(e, &res, f.m, 4, tel_mono_ns() + 2000000000ull), TEL_OK);
    assert_int_equal(e->export_metrics(e, &res, f.m, 0, 0), TEL_OK); /* nothing: no request */
    tel_otlp_exporter_stats st;
    tel_otlp_metric_exporter_get_stats(e, &st);
    assert_int_equal(st.exports, 1);
    assert_int_equal(st.items_ok, 5); /* data points */
    assert_int_equal(st.attempts, 1);
    assert_int_equal(tsrv_requests(s), 1);
    assert_non_null(strstr(s->reqs[0].head, "POST /v1/metrics HTTP/1.1\r\n"));
    assert_non_null(strstr(s->reqs[0].head, "\r\nContent-Type: application/x-protobuf\r\n"));
    tel_buf want = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_metrics_pb(&want, &res, f.m, 4), TEL_OK);
    assert_int_equal(s->reqs[0].body_len, want.len);
    assert_memory_equal(s->reqs[0].body, want.data, want.len);
    tel_buf_free(&want);
    assert_int_equal(e->shutdown(e), TEL_OK);
    assert_int_equal(e->export_metrics(e, &res, f.m, 4, 0), TEL_ESHUTDOWN);
    e->destroy(e);
    tsrv_stop(s);
}

static void test_logs_json_gzip_partial(void **state)
{
    (void)state;
    static const char partial[] =
        "{\"partialSuccess\":{\"rejectedLogRecords\":\"1\",\"errorMessage\":\"too old\"}}";
    canned script[] = {{.status = 200, .body = partial, .body_len = sizeof partial - 1}};
    tsrv *s = tsrv_start(script, 1);
    tel_otlp_config c;
    cfg_for(&c, TEL_OTLP_LOGS, s->port, TEL_OTLP_HTTP_JSON);
    c.gzip = true;
    tel_log_exporter *e = tel_otlp_log_exporter_create(&c);
    tel_otlp_config_cleanup(&c);
    log_fixture f;
    log_fixture_init(&f);
    assert_int_equal(e->export_logs(e, NULL, f.ptrs, 3, 0), TEL_OK);
    tel_otlp_exporter_stats st;
    tel_otlp_log_exporter_get_stats(e, &st);
    assert_int_equal(st.items_ok, 3);
    assert_int_equal(st.partial_successes, 1);
    assert_int_equal(st.rejected_items, 1);
    const char *h = s->reqs[0].head;
    assert_non_null(strstr(h, "POST /v1/logs HTTP/1.1\r\n"));
    assert_non_null(strstr(h, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strcasestr(h, "\r\nContent-Encoding: gzip\r\n"));
    /* The body inflates to what the JSON encoder makes. */
    uint8_t out[8192];
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = s->reqs[0].body;
    z.avail_in = (uInt)s->reqs[0].body_len;
    z.next_out = out;
    z.avail_out = sizeof out;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = sizeof out - z.avail_out;
    inflateEnd(&z);
    tel_buf want = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_logs_json(&want, NULL, f.ptrs, 3), TEL_OK);
    assert_int_equal(n, want.len);
    assert_memory_equal(out, want.data, n);
    tel_buf_free(&want);
    e->shutdown(e);
    e->destroy(e);
    tsrv_stop(s);
}

static void test_rejected_and_retryable(void **state)
{
    (void)state;
    canned script[] = {{.status = 400}, {.status = 503}};
    tsrv *s = tsrv_start(script, 2);
    tel_otlp_config c;
    cfg_for(&c, TEL_OTLP_LOGS, s->port, TEL_OTLP_HTTP_PROTOBUF);
    tel_log_exporter *e = tel_otlp_log_exporter_create(&c);
    tel_otlp_config_cleanup(&c);
    log_fixture f;
    log_fixture_init(&f);
    fflush(stderr);
    assert_int_equal(e->export_logs(e, NULL, f.ptrs, 3, 0), TEL_EREJECTED); /* never retried */
    assert_int_equal(tsrv_requests(s), 1);
    assert_int_equal(e->export_logs(e, NULL, f.ptrs, 2, 0), TEL_ERETRYABLE); /* 503, twice */
    assert_int_equal(tsrv_requests(s), 3);
    tel_otlp_exporter_stats st;
    tel_otlp_log_exporter_get_stats(e, &st);
    assert_int_equal(st.items_failed, 5);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.last_code, 503);
    e->shutdown(e);
    e->destroy(e);
    tsrv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_protobuf),
        cmocka_unit_test(test_logs_json_gzip_partial),
        cmocka_unit_test(test_rejected_and_retryable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
