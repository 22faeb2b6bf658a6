/* core/otlp_grpc: the google.rpc.Status / RetryInfo reader behind the RESOURCE_EXHAUSTED retry
 * rule, the signal -> method mapping, and endpoint handling of the transport factory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/otlp_grpc.h"

typedef struct pb {
    uint8_t b[512];
    size_t n;
} pb;

static void varint(pb *p, uint64_t v)
{
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        p->b[p->n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
}

static void ld(pb *p, uint32_t field, const void *data, size_t n)
{
    varint(p, (uint64_t)field << 3 | 2);
    varint(p, n);
    memcpy(p->b + p->n, data, n);
    p->n += n;
}

static void vi(pb *p, uint32_t field, uint64_t v)
{
    varint(p, (uint64_t)field << 3);
    varint(p, v);
}

static pb status_with(const char *type_url, int64_t seconds, int32_t nanos, bool with_delay)
{
    pb dur = {0}, ri = {0}, any = {0}, st = {0};
    vi(&dur, 1, (uint64_t)seconds);
    vi(&dur, 2, (uint64_t)(int64_t)nanos);
    if (with_delay) ld(&ri, 1, dur.b, dur.n);
    ld(&any, 1, type_url, strlen(type_url));
    ld(&any, 2, ri.b, ri.n);
    vi(&st, 1, 8);
    ld(&st, 2, "slow down", 9);
    ld(&st, 3, any.b, any.n);
    return st;
}

static void test_retry_info(void **state)
{
    int64_t ms = -1;
    pb st = status_with("type.googleapis.com/google.rpc.RetryInfo", 1, 500000000, true);
    assert_int_equal(core_otlp_grpc_parse_retry_info(st.b, st.n, &ms), 1);
    assert_int_equal(ms, 1500);
    st = status_with("type.googleapis.com/google.rpc.RetryInfo", 0, 1, true);
    assert_int_equal(core_otlp_grpc_parse_retry_info(st.b, st.n, &ms), 1);
    assert_int_equal(ms, 1); /* rounded up */
    st = status_with("type.googleapis.com/google.rpc.RetryInfo", -3, 0, true);
    assert_int_equal(core_otlp_grpc_parse_retry_info(st.b, st.n, &ms), 1);
    assert_int_equal(ms, 0);
    st = status_with("type.googleapis.com/google.rpc.RetryInfo", 10LL * 86400, 0, true);
    assert_int_equal(core_otlp_grpc_parse_retry_info(st.b, st.n, &ms), 1);
    assert_int_equal(ms, 86400000); /* capped at a day */
    st = status_with("type.googleapis.com/google.rpc.RetryInfo", 0, 0, false);
    assert_int_equal(core_otlp_grpc_parse_retry_info(st.b, st.n, &ms), 1);
    assert_int_equal(ms, 0); /* RetryInfo without a delay: retry at once */
    ms = -1;
    st = status_with("type.googleapis.com/google.rpc.ErrorInfo", 5, 0, true);
    assert_int_equal(core_otlp_grpc_parse_retry_info(st.b, st.n, &ms), 0);
    assert_int_equal(ms, -1);
    assert_int_equal(core_otlp_grpc_parse_retry_info(NULL, 0, &ms), 0);
}

static void test_malformed(void **state)
{
    int64_t ms;
    pb st = status_with("type.googleapis.com/google.rpc.RetryInfo", 1, 0, true);
    for (size_t cut = 1; cut < st.n; cut++) {
        int rc = core_otlp_grpc_parse_retry_info(st.b, cut, &ms);
        assert_true(rc == CORE_EINVAL || rc == 0 || rc == 1);
    }
    static const uint8_t bad_wt[] = {0x0b}; /* field 1, wire type 3 (group) */
    assert_int_equal(core_otlp_grpc_parse_retry_info(bad_wt, 1, &ms), CORE_EINVAL);
    static const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(core_otlp_grpc_parse_retry_info(long_varint, sizeof long_varint, &ms),
                     CORE_EINVAL);
    static const uint8_t len_past_end[] = {0x1a, 0x7f, 0x01};
    assert_int_equal(core_otlp_grpc_parse_retry_info(len_past_end, 3, &ms), CORE_EINVAL);
    static const uint8_t details_as_varint[] = {0x18, 0x01};
    assert_int_equal(core_otlp_grpc_parse_retry_info(details_as_varint, 2, &ms), CORE_EINVAL);
}

static void test_methods_and_factory(void **state)
{
    assert_string_equal(core_otlp_grpc_method(TEL_OTLP_TRACES),
                        "/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    assert_string_equal(core_otlp_grpc_method(TEL_OTLP_METRICS),
                        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export");
    assert_string_equal(core_otlp_grpc_method(TEL_OTLP_LOGS),
                        "/opentelemetry.proto.collector.logs.v1.LogsService/Export");
    tel_otlp_config cfg;
    tel_otlp_config_init(&cfg, TEL_OTLP_TRACES);
    cfg.protocol = TEL_OTLP_GRPC;
    tel_otlp_config_set_endpoint(&cfg, "http://127.0.0.1:4317");
    core_otlp_grpc_register();
    tel_otlp_transport *t = tel_otlp_transport_create(&cfg);
    assert_non_null(t);
    /* a body that is not protobuf content: refused without a call */
    tel_otlp_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(t->send(t, TEL_OTLP_TRACES, (const uint8_t *)"{}", 2, "application/json",
                             tel_mono_ns() + 1000000000ull, &r),
                     TEL_OK);
    assert_int_equal(r.status, TEL_OTLP_SEND_PERMANENT);
    t->abort(t);
    assert_int_equal(t->send(t, TEL_OTLP_TRACES, (const uint8_t *)"", 0, "application/x-protobuf",
                             tel_mono_ns() + 1000000000ull, &r),
                     TEL_ESHUTDOWN);
    t->destroy(t);
    tel_otlp_config_set_endpoint(&cfg, "ftp://collector:4317");
    assert_null(core_otlp_grpc_transport_create(&cfg));
    tel_otlp_config_cleanup(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_info),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_methods_and_factory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
