/* Jaeger: uber-trace-id parsing, uberctx-* baggage, injection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prop_test_carrier.h"
#include "telemetry/propagation.h"

#define T32 "80f198ee56343ba864fe8b2a57d3eff7"
#define S16 "e457b5a2e4d86bd1"

static int jp(const char *s, tel_span_context *sc)
{
    return tel_jaeger_parse(s, strlen(s), sc);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_parse(void **state)
{
    (void)state;
    tel_span_context sc;
    char t[33], s[17];
    assert_int_equal(jp(T32 ":" S16 ":0:1", &sc), TEL_OK);
    hex(sc.trace_id, 16, t);
    hex(sc.span_id, 8, s);
    assert_string_equal(t, T32);
    assert_string_equal(s, S16);
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    assert_true(sc.remote);

    assert_int_equal(jp(T32 ":" S16 ":0:0", &sc), TEL_OK);
    assert_int_equal(sc.flags, 0);
    assert_int_equal(jp(T32 ":" S16 ":0:2", &sc), TEL_OK); /* debug implies sampled */
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    assert_int_equal(jp(T32 ":" S16 ":0:03", &sc), TEL_OK);
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    assert_int_equal(jp(T32 ":" S16 ":0:04", &sc), TEL_OK);
    assert_int_equal(sc.flags, 0);

    /* Short ids are left-padded; either case is accepted; a parent id is allowed. */
    assert_int_equal(jp("abc:DEF:1234567890abcdef:1", &sc), TEL_OK);
    hex(sc.trace_id, 16, t);
    hex(sc.span_id, 8, s);
    assert_string_equal(t, "00000000000000000000000000000abc");
    assert_string_equal(s, "0000000000000def");

    /* Percent-encoded separators. */
    assert_int_equal(jp(T32 "%3A" S16 "%3a0%3A1", &sc), TEL_OK);
    hex(sc.trace_id, 16, t);
    assert_string_equal(t, T32);
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    assert_int_equal(jp("  " T32 ":" S16 ":0:1\t", &sc), TEL_OK);
}

static void test_invalid(void **state)
{
    (void)state;
    tel_span_context sc;
    const char *bad[] = {
        "",
        T32,
        T32 ":" S16,
        T32 ":" S16 ":0",
        T32 ":" S16 ":0:1:",
        T32 ":" S16 ":0:1:5",
        T32 ":" S16 "::1",
        T32 ":" S16 ":0:",
        T32 ":" S16 ":0:100",
        ":" S16 ":0:1",
        T32 "::0:1",
        T32 "0:" S16 ":0:1",
        T32 ":" S16 "0:0:1",
        "0:" S16 ":0:1",
        T32 ":0:0:1",
        "xyz:" S16 ":0:1",
        T32 ":" S16 ":0:g",
        T32 "%3" S16 ":0:1",
        T32 "-" S16 "-0-1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = jp(bad[i], &sc);
        if (rc != TEL_EINVAL)
            fail_msg("accepted \"%s\" (%d)", bad[i], rc);
    }
    assert_int_equal(tel_jaeger_parse(NULL, 0, &sc), TEL_EINVAL);
}

static void test_extract_baggage(void **state)
{
    (void)state;
    tcar c = {0};
    tcar_add(&c, "Uber-Trace-Id", T32 ":" S16 ":0:1");
    tcar_add(&c, "UberCtx-Customer_Id", "42");
    tcar_add(&c, "uberctx-note", "hello%20world");
    tcar_add(&c, "uberctx-raw", "100%");
    tcar_add(&c, "uberctx-", "empty key ignored");
    tcar_add(&c, "x-other", "1");
    tel_propagator *p = tel_propagator_create("jaeger");
    tel_carrier car = tcar_carrier(&c);
    tel_context ctx = TEL_CONTEXT_INIT;
    assert_int_equal(tel_propagator_extract(p, &car, &ctx), TEL_OK);
    char t[33];
    hex(ctx.sc.trace_id, 16, t);
    assert_string_equal(t, T32);
    assert_int_equal(tel_baggage_count(ctx.bag), 3);
    assert_string_equal(tel_baggage_get(ctx.bag, "Customer_Id"), "42");
    assert_string_equal(tel_baggage_get(ctx.bag, "note"), "hello world");
    assert_string_equal(tel_baggage_get(ctx.bag, "raw"), "100%");
    tel_baggage_unref(ctx.bag);
    ctx.bag = NULL;
    tel_propagator_destroy(p);

    /* With W3C baggage as well: merged, W3C winning on the same key. */
    tcar_add(&c, "baggage", "note=w3c,extra=1");
    p = tel_propagator_create("jaeger,baggage");
    assert_int_equal(tel_propagator_extract(p, &car, &ctx), TEL_OK);
    assert_string_equal(tel_baggage_get(ctx.bag, "note"), "w3c");
    assert_string_equal(tel_baggage_get(ctx.bag, "extra"), "1");
    assert_string_equal(tel_baggage_get(ctx.bag, "Customer_Id"), "42");
    tel_propagator_destroy(p);
    /* In the other order the jaeger entry, extracted last, wins. */
    p = tel_propagator_create("baggage,jaeger");
    assert_int_equal(tel_propagator_extract(p, &car, &ctx), TEL_OK);
    assert_string_equal(tel_baggage_get(ctx.bag, "note"), "hello world");
    assert_string_equal(tel_baggage_get(ctx.bag, "extra"), "1");
    tel_propagator_destroy(p);
    tel_baggage_unref(ctx.bag);
    ctx.bag = NULL;

    /* A carrier without foreach: the span context only. */
    car.foreach = NULL;
    p = tel_propagator_create("jaeger");
    assert_int_equal(tel_propagator_extract(p, &car, &ctx), TEL_OK);
    assert_int_equal(ctx.sc.flags, TEL_FLAG_SAMPLED);
    assert_null(ctx.bag);
    tel_propagator_destroy(p);
    tcar_clear(&c);
}

static void test_inject(void **state)
{
    (void)state;
    tel_context ctx = TEL_CONTEXT_INIT;
    memset(ctx.sc.trace_id, 0xab, 16);
    memset(ctx.sc.span_id, 0x01, 8);
    ctx.sc.flags = TEL_FLAG_SAMPLED;
    tel_baggage *b1 = tel_baggage_set(NULL, "Session_ID", "s 1", NULL);
    ctx.bag = tel_baggage_set(b1, "dc", "fra1", NULL);
    tel_baggage_unref(b1);
    tcar c = {0};
    tel_carrier car = tcar_carrier(&c);
    tel_propagator *p = tel_propagator_create("jaeger");
    assert_int_equal(tel_propagator_inject(p, &ctx, &car), TEL_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.name[0], "uber-trace-id");
    assert_string_equal(c.value[0], "abababababababababababababababab:0101010101010101:0:1");
    assert_string_equal(c.name[1], "uberctx-session_id");
    assert_string_equal(c.value[1], "s%201");
    assert_string_equal(c.name[2], "uberctx-dc");
    assert_string_equal(c.value[2], "fra1");

    /* Round trip. */
    tel_context back = TEL_CONTEXT_INIT;
    assert_int_equal(tel_propagator_extract(p, &car, &back), TEL_OK);
    assert_memory_equal(back.sc.trace_id, ctx.sc.trace_id, 16);
    assert_memory_equal(back.sc.span_id, ctx.sc.span_id, 8);
    assert_int_equal(back.sc.flags, TEL_FLAG_SAMPLED);
    assert_string_equal(tel_baggage_get(back.bag, "session_id"), "s 1");
    tel_baggage_unref(back.bag);
    tcar_clear(&c);

    ctx.sc.flags = 0;
    assert_int_equal(tel_propagator_inject(p, &ctx, &car), TEL_OK);
    assert_string_equal(tcar_find(&c, "uber-trace-id"),
                        "abababababababababababababababab:0101010101010101:0:0");
    tcar_clear(&c);
    /* Carrier errors are reported. */
    c.fail_set = TEL_EIO;
    assert_int_equal(tel_propagator_inject(p, &ctx, &car), TEL_EIO);
    tel_propagator_destroy(p);
    tel_baggage_unref(ctx.bag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_extract_baggage),
        cmocka_unit_test(test_inject),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
