/* OTLP/HTTP transport and retry loop against a real HTTP server on 127.0.0.1 (a canned-response
 * thread): success, gzip, partial success, 503 + Retry-After (seconds and HTTP date), 429, 400,
 * connection refused, a hanging server, abort from another thread, secrets in logs.
 * ctest-labels: concurrency */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <zlib.h>

#include <cmocka.h>

#include "otlp_internal.h"
#include "stderr_capture.h"
#include "otlp_test_server.h"
#include "otlp_test_util.h"

#define MS 1000000ull

static void cfg_for(tel_otlp_config *c, int port)
{
    assert_int_equal(tel_otlp_config_init(c, TEL_OTLP_TRACES), TEL_OK);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", port);
    assert_int_equal(tel_otlp_config_set_endpoint(c, url), TEL_OK);
    c->timeout_ms = 2000;
    c->retry_initial_ms = 50;
    c->retry_max_ms = 200;
}

static tel_otlp_retry_policy policy(const tel_otlp_config *c)
{
    return (tel_otlp_retry_policy){c->retry_initial_ms, c->retry_max_ms, c->retry_max_attempts};
}

/* stderr capture (one at a time) */
static stderr_capture cap = STDERR_CAPTURE_INIT;

static void capture_begin(void)
{
    assert_int_equal(stderr_capture_start(&cap, "otlp_http"), 0);
}

/* What was written since capture_begin (NUL-terminated, to free). */
static char *capture_end(void)
{
    enum { MAX = 1 << 16 };
    char *s = malloc(MAX + 1);
    assert_non_null(s);
    size_t n;
    stderr_capture_stop(&cap, s, MAX, &n);
    s[n] = '\0';
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static const uint8_t body[] = {0x0A, 0x00};

static void test_ok_headers(void **state)
{
    (void)state;
    canned ok = {.status = 200};
    tsrv *s = tsrv_start(&ok, 1);
    tel_otlp_config c;
    cfg_for(&c, s->port);
    assert_int_equal(tel_otlp_config_set_header(&c, "x-tenant", "acme"), TEL_OK);
    assert_int_equal(tel_otlp_config_set_header(&c, "x-empty", ""), TEL_OK);
    assert_int_equal(tel_otlp_config_set_header(&c, "Content-Type", "text/evil"), TEL_OK);
    capture_begin();
    tel_otlp_transport *t = tel_otlp_http_transport_create(&c);
    free(capture_end());
    assert_non_null(t);
    tel_otlp_result r;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(t->send(t, TEL_OTLP_TRACES, body, sizeof body, "application/x-protobuf",
                                 tel_mono_ns() + 2000 * MS, &r),
                         TEL_OK);
        assert_int_equal(r.status, TEL_OTLP_SEND_OK);
        assert_int_equal(r.err, TEL_OK);
        assert_int_equal(r.code, 200);
        assert_false(r.partial.present);
    }
    /* JSON */
    assert_int_equal(t->send(t, TEL_OTLP_TRACES, (const uint8_t *)"{}", 2, "application/json",
                             tel_mono_ns() + 2000 * MS, &r),
                     TEL_OK);
    assert_int_equal(r.status, TEL_OTLP_SEND_OK);
    t->destroy(t);
    assert_int_equal(tsrv_requests(s), 3);
    const char *h = s->reqs[0].head;
    assert_non_null(strstr(h, "POST /v1/traces HTTP/1.1\r\n"));
    assert_non_null(strstr(h, "\r\nContent-Type: application/x-protobuf\r\n"));
    assert_null(strstr(h, "text/evil"));
    assert_non_null(strstr(h, "\r\nx-tenant: acme\r\n"));
    assert_non_null(strstr(h, "\r\nx-empty:"));
    assert_non_null(strstr(h, "\r\nUser-Agent: OTel-OTLP-Exporter-C/"));
    assert_null(strcasestr(h, "content-encoding"));
    assert_int_equal(s->reqs[0].body_len, sizeof body);
    assert_memory_equal(s->reqs[0].body, body, sizeof body);
    assert_non_null(strstr(s->reqs[2].head, "\r\nContent-Type: application/json\r\n"));
    tsrv_stop(s);
    tel_otlp_config_cleanup(&c);
}

static void test_gzip(void **state)
{
    (void)state;
    canned ok = {.status = 200};
    tsrv *s = tsrv_start(&ok, 1);
    tel_otlp_config c;
    cfg_for(&c, s->port);
    c.gzip = true;
    tel_otlp_transport *t = tel_otlp_http_transport_create(&c);
    /* 2 MiB of compressible data: also checks that no Expect: 100-continue stalls it */
    size_t n = 2 * 1024 * 1024;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i % 251);
    tel_otlp_result r;
    uint64_t t0 = tel_mono_ns();
    assert_int_equal(t->send(t, TEL_OTLP_TRACES, big, n, "application/x-protobuf",
                             tel_mono_ns() + 5000 * MS, &r),
                     TEL_OK);
    assert_int_equal(r.status, TEL_OTLP_SEND_OK);
    assert_true(tel_mono_ns() - t0 < 900 * MS);
    assert_int_equal(tsrv_requests(s), 1);
    assert_non_null(strstr(s->reqs[0].head, "\r\nContent-Encoding: gzip\r\n"));
    assert_null(strcasestr(s->reqs[0].head, "Expect:"));
    assert_true(s->reqs[0].body_len < n / 4);
    /* inflate what the server got */
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    uint8_t *out = malloc(n + 16);
    z.next_in = s->reqs[0].body;
    z.avail_in = (uInt)s->reqs[0].body_len;
    z.next_out = out;
    z.avail_out = (uInt)(n + 16);
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, n);
    assert_memory_equal(out, big, n);
    inflateEnd(&z);
    free(out);
    free(big);
    t->destroy(t);
    tsrv_stop(s);
    tel_otlp_config_cleanup(&c);
}

static void test_partial_success(void **state)
{
    (void)state;
    static const uint8_t pb[] = {0x0A, 0x09, 0x08, 0x03, 0x12, 0x05, 'q', 'u', 'o', 't', 'a'};
    static const char json[] =
        "{\"partialSuccess\":{\"rejectedSpans\":\"4\",\"errorMessage\":\"j\"}}";
    canned script[] = {
        {.status = 200,
         .headers = "Content-Type: application/x-protobuf\r\n",
         .body = pb,
         .body_len = sizeof pb},
        {.status = 200,
         .headers = "Content-Type: application/json\r\n",
         .body = json,
         .body_len = sizeof json - 1},
        {.status = 200,
         .headers = "Content-Type: application/x-protobuf\r\n",
         .body = pb,
         .body_len = sizeof pb},
    };
    tsrv *s = tsrv_start(script, 3);
    tel_otlp_config c;
    cfg_for(&c, s->port);
    tel_otlp_transport *t = tel_otlp_http_transport_create(&c);
    tel_otlp_result r;
    assert_int_equal(t->send(t, TEL_OTLP_TRACES, body, sizeof body, "application/x-protobuf",
                             tel_mono_ns() + 2000 * MS, &r),
                     TEL_OK);
    assert_int_equal(r.status, TEL_OTLP_SEND_OK);
    assert_true(r.partial.present);
    assert_int_equal(r.partial.rejected, 3);
    assert_string_equal(r.partial.message, "quota");
    assert_int_equal(t->send(t, TEL_OTLP_TRACES, body, sizeof body, "application/json",
                             tel_mono_ns() + 2000 * MS, &r),
                     TEL_OK);
    assert_int_equal(r.partial.rejected, 4);
    assert_string_equal(r.partial.message, "j");
    t->destroy(t);

    /* Through the exporter: counted every time, logged once. */
    tel_span_exporter *e = tel_otlp_span_exporter_create(&c);
    tel_span_data d;
    make_span(&d, NULL, "x", NULL, 0, 1);
    const tel_span_data *spans[] = {&d};
    capture_begin();
    for (int i = 0; i < 3; i++)
        assert_int_equal(e->export_spans(e, NULL, spans, 1, tel_mono_ns() + 2000 * MS), TEL_OK);
    char *err = capture_end();
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "quota"));
    free(err);
    tel_otlp_exporter_stats st;
    tel_otlp_exporter_get_stats(e, &st);
    assert_int_equal(st.partial_successes, 3);
    assert_int_equal(st.rejected_items, 3 + 3 + 3);
    assert_int_equal(st.items_ok, 3);
    e->shutdown(e);
    capture_begin();
    e->destroy(e);
    err = capture_end();
    assert_non_null(strstr(err, "2 further partial successes"));
    free(err);
    tsrv_stop(s);
    tel_otlp_config_cleanup(&c);
}

static void test_retry_after_seconds(void **state)
{
    (void)state;
    canned script[] = {{.status = 503, .headers = "Retry-After: 1\r\n"}, {.status = 200}};
    tsrv *s = tsrv_start(script, 2);
    tel_otlp_config c;
    cfg_for(&c, s->port);
    tel_otlp_transport *t = tel_otlp_http_transport_create(&c);
    tel_otlp_abort ab;
    tel__otlp_abort_init(&ab);
    tel_otlp_retry_policy p = policy(&c);
    tel_otlp_result r;
    unsigned attempts = 0;
    int rc = tel__otlp_send_with_retry(t, &p, &ab, TEL_OTLP_TRACES, body, sizeof body,
                                       "application/x-protobuf", tel_mono_ns() + 5000 * MS, &r,
                                       &attempts);
    assert_int_equal(rc, TEL_OK);
    assert_int_equal(attempts, 2);
    assert_int_equal(tsrv_requests(s), 2);
    uint64_t gap = s->reqs[1].t_ns - s->reqs[0].t_ns;
    /* Retry-After: 1 second, not the 50 ms backoff */
    assert_true(gap >= 900 * MS);
    assert_true(gap < 2500 * MS);
    /* one attempt alone reports the hint */
    tsrv_stop(s);
    canned only503 = {.status = 503, .headers = "Retry-After: 7\r\n"};
    s = tsrv_start(&only503, 1);
    t->destroy(t);
    tel_otlp_config_cleanup(&c);
    cfg_for(&c, s->port);
    t = tel_otlp_http_transport_create(&c);
    assert_int_equal(t->send(t, TEL_OTLP_TRACES, body, sizeof body, "application/x-protobuf",
                             tel_mono_ns() + 2000 * MS, &r),
                     TEL_OK);
    assert_int_equal(r.status, TEL_OTLP_SEND_RETRYABLE);
    assert_int_equal(r.err, TEL_ERETRYABLE);
    assert_int_equal(r.code, 503);
    assert_int_equal(r.retry_after_ms, 7000);
    /* Retry-After past the deadline: give up now instead of sleeping */
    uint64_t t0 = tel_mono_ns();
    rc = tel__otlp_send_with_retry(t, &p, &ab, TEL_OTLP_TRACES, body, sizeof body,
                                   "application/x-protobuf", tel_mono_ns() + 3000 * MS, &r,
                                   &attempts);
    assert_int_equal(rc, TEL_ERETRYABLE);
    assert_int_equal(attempts, 1);
    assert_true(tel_mono_ns() - t0 < 1000 * MS);
    t->destroy(t);
    tel__otlp_abort_destroy(&ab);
    tsrv_stop(s);
    tel_otlp_config_cleanup(&c);
}

static void test_retry_after_date(void **state)
{
    (void)state;
    char hdr[128];
    time_t when = time(NULL) + 3;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(hdr, sizeof hdr, "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    canned c503 = {.status = 503, .headers = hdr};
    tsrv *s = tsrv_start(&c503, 1);
    tel_otlp_config c;
    cfg_for(&c, s->port);
    tel_otlp_transport *t = tel_otlp_http_transport_create(&c);
    tel_otlp_result r;
    assert_int_equal(t->send(t, TEL_OTLP_TRACES, body, sizeof body, "application/x-protobuf",
                             tel_mono_ns() + 2000 * MS, &r),
                     TEL_OK);
    assert_int_equal(r.code, 503);
    assert_true(r.retry_after_ms >= 1000 && r.retry_after_ms <= 3000);
    t->destroy(t);
    tsrv_stop(s);
    tel_otlp_config_cleanup(&c);
}

static void test_429_502_504_backoff(void **state)
{
    (void)state;
    canned script[] = {{.status = 429}, {.status = 502}, {.status = 504}, {.status = 200}};
    tsrv *s = tsrv_start(script, 4);
    tel_otlp_config c;
    cfg_for(&c, s->port);
    tel_otlp_transport *t = tel_otlp_http_transport_create(&c);
    tel_otlp_abort ab;
    tel__otlp_abort_init(&ab);
    tel_otlp_retry_policy p = policy(&c);
    tel_otlp_result r;
    unsigned attempts;
    int rc = tel__otlp_send_with_retry(t, &p, &ab, TEL_OTLP_TRACES, body, sizeof body,
                                       "application/x-protobuf", tel_mono_ns() + 5000 * MS, &r,
                                       &attempts);
    assert_int_equal(rc, TEL_OK);
    assert_int_equal(attempts, 4);
    /* equal jitter: waits in [25, 50], [50, 100], [100, 200] ms */
    uint64_t lo[] = {25, 50, 100}, hi[] = {50, 100, 200};
    for (int i = 0; i < 3; i++) {
        uint64_t gap = s->reqs[i + 1].t_ns - s->reqs[i].t_ns;
        assert_true(gap >= lo[i] * MS);
        assert_true(gap < (hi[i] + 150) * MS);
    }
    /* max_attempts */
    tsrv_stop(s);
    canned c429 = {.status = 429};
    s = tsrv_start(&c429, 1);
    t->destroy(t);
    tel_otlp_config_cleanup(&c);
    cfg_for(&c, s->port);
    c.retry_max_attempts = 3;
    p = policy(&c);
    t = tel_otlp_http_transport_create(&c);
    rc = tel__otlp_send_with_retry(t, &p, &ab, TEL_OTLP_TRACES, body, sizeof body,
                                   "application/x-protobuf", tel_mono_ns() + 5000 * MS, &r,
                                   &attempts);
    assert_int_equal(rc, TEL_ERETRYABLE);
    assert_int_equal(attempts, 3);
    assert_int_equal(tsrv_requests(s), 3);
    t->destroy(t);
    tel__otlp_abort_destroy(&ab);
    tsrv_stop(s);
    tel_otlp_config_cleanup(&c);
}

static void test_400_never_retried(void **state)
{
    (void)state;
    static const uint8_t status_pb[] = {0x08, 0x03, 0x12, 0x0B, 'b', 'a', 'd', ' ',
                                        'p',  'a',  'y',  'l',  'o', 'a', 'd'};
    canned script[] = {{.status = 400,
                        .headers = "Content-Type: application/x-protobuf\r\n",
                        .body = status_pb,
                        .body_len = sizeof status_pb},
                       {.status = 404},
                       {.status = 200}};
    tsrv *s = tsrv_start(script, 3);
    tel_otlp_config c;
    cfg_for(&c, s->port);
    assert_int_equal(tel_otlp_config_set_header(&c, "authorization", "Bearer TOPSECRET"), TEL_OK);
    tel_span_exporter *e = tel_otlp_span_exporter_create(&c);
    tel_span_data d;
    make_span(&d, NULL, "x", NULL, 0, 1);
    const tel_span_data *spans[] = {&d};
    capture_begin();
    assert_int_equal(e->export_spans(e, NULL, spans, 1, tel_mono_ns() + 3000 * MS), TEL_EREJECTED);
    char *err = capture_end();
    assert_int_equal(tsrv_requests(s), 1);
    assert_non_null(strstr(err, "HTTP 400: bad payload"));
    assert_null(strstr(err, "TOPSECRET"));
    assert_non_null(strstr(s->reqs[0].head, "authorization: Bearer TOPSECRET"));
    free(err);
    capture_begin();
    assert_int_equal(e->export_spans(e, NULL, spans, 1, tel_mono_ns() + 3000 * MS), TEL_EREJECTED);
    free(capture_end());
    assert_int_equal(tsrv_requests(s), 2);
    tel_otlp_exporter_stats st;
    tel_otlp_exporter_get_stats(e, &st);
    assert_int_equal(st.items_failed, 2);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.last_code, 404);
    e->shutdown(e);
    capture_begin();
    e->destroy(e);
    free(capture_end());
    tsrv_stop(s);
    tel_otlp_config_cleanup(&c);
}

static void test_connection_refused(void **state)
{
    (void)state;
    tel_otlp_config c;
    cfg_for(&c, tsrv_closed_port());
    assert_int_equal(tel_otlp_config_set_header(&c, "authorization", "Bearer TOPSECRET"), TEL_OK);
    tel_span_exporter *e = tel_otlp_span_exporter_create(&c);
    tel_span_data d;
    make_span(&d, NULL, "x", NULL, 0, 1);
    const tel_span_data *spans[] = {&d};
    capture_begin();
    uint64_t t0 = tel_mono_ns();
    int rc = e->export_spans(e, NULL, spans, 1, tel_mono_ns() + 600 * MS);
    uint64_t el = tel_mono_ns() - t0;
    /* a second failure inside the rate-limit window is not logged */
    e->export_spans(e, NULL, spans, 1, tel_mono_ns() + 100 * MS);
    char *err = capture_end();
    assert_int_equal(rc, TEL_EIO);
    assert_true(el < 700 * MS);
    tel_otlp_exporter_stats st;
    tel_otlp_exporter_get_stats(e, &st);
    assert_true(st.retries >= 2); /* 50..200 ms backoff within 600 ms */
    assert_int_equal(st.last_code, 0);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "127.0.0.1"));
    assert_null(strstr(err, "TOPSECRET"));
    free(err);
    e->shutdown(e);
    capture_begin();
    e->destroy(e);
    err = capture_end();
    assert_non_null(strstr(err, "1 export failures were not logged"));
    free(err);
    tel_otlp_config_cleanup(&c);
}

typedef struct aborter {
    tel_span_exporter *e;
    unsigned delay_ms;
} aborter;

static void *abort_later(void *arg)
{
    aborter *a = arg;
    struct timespec ts = {0, (long)a->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    a->e->shutdown(a->e);
    return NULL;
}

static void test_hanging_server(void **state)
{
    (void)state;
    canned hang = {.hang = true};
    tsrv *s = tsrv_start(&hang, 1);
    tel_otlp_config c;
    cfg_for(&c, s->port);
    c.timeout_ms = 300;
    tel_otlp_transport *t = tel_otlp_http_transport_create(&c);
    tel_otlp_result r;
    uint64_t t0 = tel_mono_ns();
    assert_int_equal(t->send(t, TEL_OTLP_TRACES, body, sizeof body, "application/x-protobuf",
                             tel_mono_ns() + 5000 * MS, &r),
                     TEL_OK);
    uint64_t el = tel_mono_ns() - t0;
    assert_int_equal(r.status, TEL_OTLP_SEND_RETRYABLE);
    assert_int_equal(r.err, TEL_ETIMEDOUT);
    assert_true(el >= 250 * MS && el < 1500 * MS);
    /* the deadline bounds a request even when the timeout is longer */
    t0 = tel_mono_ns();
    t->send(t, TEL_OTLP_TRACES, body, sizeof body, "application/x-protobuf",
            tel_mono_ns() + 150 * MS, &r);
    el = tel_mono_ns() - t0;
    assert_int_equal(r.err, TEL_ETIMEDOUT);
    assert_true(el < 1000 * MS);
    t->destroy(t);

    /* shutdown from another thread ends an in-flight request promptly */
    c.timeout_ms = 20000;
    tel_span_exporter *e = tel_otlp_span_exporter_create(&c);
    tel_span_data d;
    make_span(&d, NULL, "x", NULL, 0, 1);
    const tel_span_data *spans[] = {&d};
    aborter a = {e, 300};
    pthread_t th;
    pthread_create(&th, NULL, abort_later, &a);
    t0 = tel_mono_ns();
    int rc = e->export_spans(e, NULL, spans, 1, tel_mono_ns() + 20000 * MS);
    el = tel_mono_ns() - t0;
    pthread_join(th, NULL);
    assert_int_equal(rc, TEL_ESHUTDOWN);
    assert_true(el >= 250 * MS);
    assert_true(el < 300 * MS + 700 * MS); /* promptly, compared to the 20 s timeout */
    /* and later exports fail at once */
    assert_int_equal(e->export_spans(e, NULL, spans, 1, tel_mono_ns() + 20000 * MS), TEL_ESHUTDOWN);
    e->destroy(e);
    tsrv_stop(s);
    tel_otlp_config_cleanup(&c);
}

static void test_abort_during_backoff(void **state)
{
    (void)state;
    canned c503 = {.status = 503, .headers = "Retry-After: 10\r\n"};
    tsrv *s = tsrv_start(&c503, 1);
    tel_otlp_config c;
    cfg_for(&c, s->port);
    tel_span_exporter *e = tel_otlp_span_exporter_create(&c);
    tel_span_data d;
    make_span(&d, NULL, "x", NULL, 0, 1);
    const tel_span_data *spans[] = {&d};
    aborter a = {e, 300};
    pthread_t th;
    pthread_create(&th, NULL, abort_later, &a);
    uint64_t t0 = tel_mono_ns();
    int rc = e->export_spans(e, NULL, spans, 1, tel_mono_ns() + 30000 * MS);
    uint64_t el = tel_mono_ns() - t0;
    pthread_join(th, NULL);
    assert_int_equal(rc, TEL_ESHUTDOWN);
    assert_true(el < 300 * MS + 700 * MS); /* promptly, compared to the 20 s timeout */
    assert_int_equal(tsrv_requests(s), 1);
    e->destroy(e);
    tsrv_stop(s);
    tel_otlp_config_cleanup(&c);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    tel_otlp_retry_policy p = {100, 1000, 0};
    for (unsigned k = 0; k < 10; k++) {
        uint64_t base = 100u << k;
        if (base > 1000) base = 1000;
        for (int i = 0; i < 100; i++) {
            uint64_t w = tel__otlp_backoff_ns(&p, k, (uint64_t)rand() * 7919u);
            assert_true(w >= base * MS / 2 && w <= base * MS);
        }
    }
    assert_true(tel__otlp_backoff_ns(&p, 1000, 0) == 500 * MS);
}

static void test_transport_selection(void **state)
{
    (void)state;
    tel_otlp_config c;
    assert_int_equal(tel_otlp_config_init(&c, TEL_OTLP_TRACES), TEL_OK);
    c.protocol = TEL_OTLP_GRPC;
    capture_begin();
    tel_span_exporter *e = tel_otlp_span_exporter_create(&c);
    char *err = capture_end();
    assert_null(e);
    assert_non_null(strstr(err, "grpc"));
    free(err);
    tel_otlp_config_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_headers),        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_partial_success),   cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_date),  cmocka_unit_test(test_429_502_504_backoff),
        cmocka_unit_test(test_400_never_retried), cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_hanging_server),    cmocka_unit_test(test_abort_during_backoff),
        cmocka_unit_test(test_backoff_bounds),    cmocka_unit_test(test_transport_selection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
