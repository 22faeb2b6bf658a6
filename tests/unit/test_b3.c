/* Zipkin B3: single header parsing, multi-header extraction, injection of both forms. */
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
#define T16 "a3ce929d0e0e4736"
#define S16 "e457b5a2e4d86bd1"
#define P16 "05e3ac9a4f6e3b90"

static bool sc_valid(const tel_span_context *sc)
{
    static const uint8_t zero[16];
    return memcmp(sc->trace_id, zero, 16) != 0 && memcmp(sc->span_id, zero, 8) != 0;
}

static int b3(const char *s, tel_span_context *sc)
{
    return tel_b3_parse(s, strlen(s), sc);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_single_parse(void **state)
{
    (void)state;
    tel_span_context sc;
    char t[33], s[17];
    assert_int_equal(b3(T32 "-" S16 "-1-" P16, &sc), TEL_OK);
    hex(sc.trace_id, 16, t);
    hex(sc.span_id, 8, s);
    assert_string_equal(t, T32);
    assert_string_equal(s, S16);
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    assert_true(sc.remote);

    assert_int_equal(b3(T32 "-" S16 "-0", &sc), TEL_OK);
    assert_int_equal(sc.flags, 0);
    assert_int_equal(b3(T32 "-" S16 "-d", &sc), TEL_OK); /* debug implies sampled */
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    assert_int_equal(b3(T32 "-" S16, &sc), TEL_OK); /* deferred: not sampled */
    assert_int_equal(sc.flags, 0);
    assert_int_equal(b3(" \t" T32 "-" S16 "-1 ", &sc), TEL_OK);

    /* 64-bit trace ids are left-padded. */
    assert_int_equal(b3(T16 "-" S16 "-1", &sc), TEL_OK);
    hex(sc.trace_id, 16, t);
    assert_string_equal(t, "0000000000000000" T16);

    /* Sampling only: nothing to continue. */
    assert_int_equal(b3("0", &sc), TEL_ENOTFOUND);
    assert_int_equal(b3("1", &sc), TEL_ENOTFOUND);
    assert_int_equal(b3("d", &sc), TEL_ENOTFOUND);
    assert_int_equal(b3("2", &sc), TEL_EINVAL);
}

static void test_single_invalid(void **state)
{
    (void)state;
    tel_span_context sc;
    const char *bad[] = {
        "",
        T32,
        T32 "-",
        T32 "-" S16 "-",
        T32 "-" S16 "-2",
        T32 "-" S16 "-11",
        T32 "-" S16 "-1-",
        T32 "-" S16 "-1-" P16 "-x",
        T32 "-" S16 "-1-123",
        T32 "-" S16 "-1-" "05E3AC9A4F6E3B90",
        "80F198EE56343BA864FE8B2A57D3EFF7-" S16 "-1",
        T32 "-E457B5A2E4D86BD1-1",
        "0" T32 "-" S16 "-1",
        "a3ce929d0e0e473-" S16 "-1",
        T32 "-e457b5a2e4d86bd-1",
        "00000000000000000000000000000000-" S16 "-1",
        T32 "-0000000000000000-1",
        T32 "--" S16,
        "-" T32 "-" S16,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = b3(bad[i], &sc);
        if (rc != TEL_EINVAL)
            fail_msg("accepted \"%s\" (%d)", bad[i], rc);
    }
    assert_int_equal(tel_b3_parse(NULL, 0, &sc), TEL_EINVAL);
}

static tel_span_context extract(const char *fmt, tcar *c)
{
    tel_propagator *p = tel_propagator_create(fmt);
    tel_carrier car = tcar_carrier(c);
    tel_context ctx = TEL_CONTEXT_INIT;
    assert_int_equal(tel_propagator_extract(p, &car, &ctx), TEL_OK);
    tel_span_context sc = ctx.sc;
    assert_null(ctx.ts);
    tel_baggage_unref(ctx.bag);
    tel_propagator_destroy(p);
    return sc;
}

static void test_multi_extract(void **state)
{
    (void)state;
    tcar c = {0};
    tcar_add(&c, "X-B3-TraceId", T32);
    tcar_add(&c, "X-B3-SpanId", S16);
    tcar_add(&c, "X-B3-ParentSpanId", P16);
    tcar_add(&c, "X-B3-Sampled", "1");
    tel_span_context sc = extract("b3multi", &c);
    char t[33];
    hex(sc.trace_id, 16, t);
    assert_string_equal(t, T32);
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    assert_true(sc.remote);
    /* The b3 propagator reads the multi headers too. */
    sc = extract("b3", &c);
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    tcar_clear(&c);

    tcar_add(&c, "x-b3-traceid", T16);
    tcar_add(&c, "x-b3-spanid", S16);
    tcar_add(&c, "x-b3-sampled", "0");
    sc = extract("b3multi", &c);
    hex(sc.trace_id, 16, t);
    assert_string_equal(t, "0000000000000000" T16);
    assert_int_equal(sc.flags, 0);
    tcar_add(&c, "X-B3-Flags", "1"); /* debug: sampled */
    sc = extract("b3multi", &c);
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    tcar_clear(&c);

    tcar_add(&c, "x-b3-traceid", T32);
    tcar_add(&c, "x-b3-spanid", S16);
    tcar_add(&c, "x-b3-sampled", "true");
    sc = extract("b3multi", &c);
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    tcar_clear(&c);

    /* Missing or invalid ids: nothing. */
    tcar_add(&c, "x-b3-traceid", T32);
    sc = extract("b3multi", &c);
    assert_false(sc_valid(&sc));
    tcar_add(&c, "x-b3-spanid", "0000000000000000");
    sc = extract("b3multi", &c);
    assert_false(sc_valid(&sc));
    tcar_clear(&c);

    /* The single header wins over the multi headers. */
    tcar_add(&c, "b3", T32 "-" S16 "-0");
    tcar_add(&c, "x-b3-traceid", "11111111111111111111111111111111");
    tcar_add(&c, "x-b3-spanid", "2222222222222222");
    tcar_add(&c, "x-b3-sampled", "1");
    sc = extract("b3multi", &c);
    hex(sc.trace_id, 16, t);
    assert_string_equal(t, T32);
    assert_int_equal(sc.flags, 0);
    /* An invalid single header falls back to the multi headers. */
    tcar_set(&c, "b3", "garbage");
    sc = extract("b3", &c);
    hex(sc.trace_id, 16, t);
    assert_string_equal(t, "11111111111111111111111111111111");
    tcar_clear(&c);
}

static void test_inject(void **state)
{
    (void)state;
    tel_context ctx = TEL_CONTEXT_INIT;
    memset(ctx.sc.trace_id, 0x11, 16);
    memset(ctx.sc.span_id, 0x22, 8);
    ctx.sc.flags = TEL_FLAG_SAMPLED | TEL_FLAG_RANDOM;
    tcar c = {0};
    tel_carrier car = tcar_carrier(&c);
    tel_propagator *p = tel_propagator_create("b3");
    assert_int_equal(tel_propagator_inject(p, &ctx, &car), TEL_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.name[0], "b3");
    assert_string_equal(c.value[0], "11111111111111111111111111111111-2222222222222222-1");
    tel_propagator_destroy(p);
    tcar_clear(&c);

    ctx.sc.flags = 0;
    p = tel_propagator_create("b3multi");
    assert_int_equal(tel_propagator_inject(p, &ctx, &car), TEL_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.name[0], "x-b3-traceid");
    assert_string_equal(c.value[0], "11111111111111111111111111111111");
    assert_string_equal(c.name[1], "x-b3-spanid");
    assert_string_equal(c.value[1], "2222222222222222");
    assert_string_equal(c.name[2], "x-b3-sampled");
    assert_string_equal(c.value[2], "0");
    /* Round trip through the carrier. */
    tel_span_context sc = extract("b3multi", &c);
    assert_memory_equal(sc.trace_id, ctx.sc.trace_id, 16);
    assert_memory_equal(sc.span_id, ctx.sc.span_id, 8);
    tcar_clear(&c);

    /* An invalid span context injects nothing. */
    memset(ctx.sc.span_id, 0, 8);
    assert_int_equal(tel_propagator_inject(p, &ctx, &car), TEL_OK);
    assert_int_equal(c.n, 0);
    tel_propagator_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_parse),
        cmocka_unit_test(test_single_invalid),
        cmocka_unit_test(test_multi_extract),
        cmocka_unit_test(test_inject),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
