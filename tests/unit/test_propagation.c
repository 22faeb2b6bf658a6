/* The composite propagator: OTEL_PROPAGATORS, W3C tracecontext and baggage extract/inject
 * through a carrier, and the process-wide propagator.
 * ctest-labels: concurrency */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "prop_test_carrier.h"
#include "telemetry/propagation.h"

#define TID "12345678901234567890123456789012"
#define SID "1234567890123456"
#define TP "00-" TID "-" SID "-01"

static bool sc_valid(const tel_span_context *sc)
{
    static const uint8_t zero[16];
    return memcmp(sc->trace_id, zero, 16) != 0 && memcmp(sc->span_id, zero, 8) != 0;
}

static void tid_hex(const tel_context *ctx, char out[33])
{
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", ctx->sc.trace_id[i]);
}

/* Extracts with the tracecontext,baggage propagator into *ctx. */
static void extract(tcar *c, tel_context *ctx)
{
    tel_propagator *p = tel_propagator_create("tracecontext,baggage");
    tel_carrier car = tcar_carrier(c);
    assert_int_equal(tel_propagator_extract(p, &car, ctx), TEL_OK);
    tel_propagator_destroy(p);
}

/* Runs first: the global propagator comes from OTEL_PROPAGATORS, once, whatever the number of
 * threads asking at the same time. */
static void *global_worker(void *arg)
{
    (void)arg;
    return (void *)tel_propagator_global();
}

static void test_global(void **state)
{
    (void)state;
    setenv("OTEL_PROPAGATORS", " B3multi , jaeger,bogus", 1);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, global_worker, NULL), 0);
    void *first = NULL;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_non_null(r);
        if (!first)
            first = r;
        assert_ptr_equal(r, first);
    }
    assert_ptr_equal(tel_propagator_global(), first);
    assert_int_equal(tel_propagator_formats(tel_propagator_global()),
                     TEL_PROP_B3MULTI | TEL_PROP_JAEGER);
    tel_propagator *mine = tel_propagator_create("tracecontext");
    tel_propagator_set_global(mine);
    assert_ptr_equal(tel_propagator_global(), mine);
    /* The replaced one stays usable. */
    assert_int_equal(tel_propagator_formats(first), TEL_PROP_B3MULTI | TEL_PROP_JAEGER);
    tel_propagator_set_global(tel_propagator_create("baggage"));
    assert_int_equal(tel_propagator_formats(tel_propagator_global()), TEL_PROP_BAGGAGE);
    unsetenv("OTEL_PROPAGATORS");
}

static void test_create(void **state)
{
    (void)state;
    struct {
        const char *list;
        unsigned formats;
    } cases[] = {
        {NULL, TEL_PROP_TRACECONTEXT | TEL_PROP_BAGGAGE},
        {"", TEL_PROP_TRACECONTEXT | TEL_PROP_BAGGAGE},
        {" , ,\t", TEL_PROP_TRACECONTEXT | TEL_PROP_BAGGAGE},
        {"tracecontext", TEL_PROP_TRACECONTEXT},
        {"TraceContext, Baggage ,b3", TEL_PROP_TRACECONTEXT | TEL_PROP_BAGGAGE | TEL_PROP_B3},
        {"b3multi,jaeger", TEL_PROP_B3MULTI | TEL_PROP_JAEGER},
        {"none", 0},
        {"xray,ottrace", 0},
        {"xray,baggage", TEL_PROP_BAGGAGE},
        {"baggage,baggage,none", TEL_PROP_BAGGAGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tel_propagator *p = tel_propagator_create(cases[i].list);
        assert_non_null(p);
        assert_int_equal(tel_propagator_formats(p), cases[i].formats);
        tel_propagator_destroy(p);
    }
    assert_int_equal(tel_propagator_formats(NULL), 0);
    tel_propagator_destroy(NULL);

    setenv("OTEL_PROPAGATORS", "jaeger", 1);
    tel_propagator *p = tel_propagator_from_env();
    assert_int_equal(tel_propagator_formats(p), TEL_PROP_JAEGER);
    tel_propagator_destroy(p);
    unsetenv("OTEL_PROPAGATORS");
    p = tel_propagator_from_env();
    assert_int_equal(tel_propagator_formats(p), TEL_PROP_TRACECONTEXT | TEL_PROP_BAGGAGE);
    tel_propagator_destroy(p);
}

static void test_extract_tracecontext(void **state)
{
    (void)state;
    tcar c = {0};
    tel_context ctx = TEL_CONTEXT_INIT;
    char t[33];

    /* Header names are case-insensitive (the carrier's job). */
    const char *names[] = {"traceparent", "TraceParent", "TrAcEpArEnT", "TRACEPARENT"};
    for (size_t i = 0; i < 4; i++) {
        tcar_add(&c, names[i], TP);
        tcar_add(&c, "TraceState", "foo=1");
        extract(&c, &ctx);
        tid_hex(&ctx, t);
        assert_string_equal(t, TID);
        assert_true(ctx.sc.remote);
        assert_int_equal(ctx.sc.flags, TEL_FLAG_SAMPLED);
        assert_string_equal(tel_tracestate_str(ctx.ts, NULL), "foo=1");
        tcar_clear(&c);
    }

    /* Wrong names are other headers. */
    tcar_add(&c, "trace-parent", TP);
    tcar_add(&c, "trace.parent", TP);
    extract(&c, &ctx);
    assert_false(sc_valid(&ctx.sc));
    tcar_clear(&c);

    /* A duplicated traceparent: both ignored, and the tracestate with them. */
    tcar_add(&c, "traceparent", "00-12345678901234567890123456789011-" SID "-01");
    tcar_add(&c, "traceparent", TP);
    tcar_add(&c, "tracestate", "foo=1");
    extract(&c, &ctx);
    assert_false(sc_valid(&ctx.sc));
    assert_null(ctx.ts);
    tcar_clear(&c);
    /* Even when both lines are equal. */
    tcar_add(&c, "traceparent", TP);
    tcar_add(&c, "Traceparent", TP);
    extract(&c, &ctx);
    assert_false(sc_valid(&ctx.sc));
    tcar_clear(&c);

    /* An invalid traceparent: the tracestate is not used either. */
    tcar_add(&c, "traceparent", "00-" TID "-0000000000000000-01");
    tcar_add(&c, "tracestate", "foo=1");
    extract(&c, &ctx);
    assert_false(sc_valid(&ctx.sc));
    assert_null(ctx.ts);
    tcar_clear(&c);

    /* A tracestate alone is ignored. */
    tcar_add(&c, "tracestate", "foo=1");
    extract(&c, &ctx);
    assert_false(sc_valid(&ctx.sc));
    assert_null(ctx.ts);
    tcar_clear(&c);

    /* Several tracestate lines are joined in order; empty lines are fine. */
    tcar_add(&c, "traceparent", "\t " TP " ");
    tcar_add(&c, "tracestate", "foo=1,bar=2");
    tcar_add(&c, "tracestate", "");
    tcar_add(&c, "TRACESTATE", "rojo=1,congo=2");
    tcar_add(&c, "tracestate", "baz=3");
    extract(&c, &ctx);
    assert_true(sc_valid(&ctx.sc));
    assert_string_equal(tel_tracestate_str(ctx.ts, NULL), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    tcar_clear(&c);

    /* An invalid tracestate is dropped; the traceparent is kept. */
    tcar_add(&c, "traceparent", TP);
    tcar_add(&c, "tracestate", "foo=1");
    tcar_add(&c, "tracestate", "BAR=2");
    extract(&c, &ctx);
    assert_true(sc_valid(&ctx.sc));
    assert_null(ctx.ts);
    tcar_clear(&c);

    /* Level 2: the random flag arrives in the span context. */
    tcar_add(&c, "traceparent", "00-" TID "-" SID "-02");
    extract(&c, &ctx);
    assert_int_equal(ctx.sc.flags, TEL_FLAG_RANDOM);
    tcar_clear(&c);

    /* Too many tracestate lines: dropped. */
    tcar_add(&c, "traceparent", TP);
    for (int i = 0; i < 65; i++)
        tcar_add(&c, "tracestate", "");
    tcar_add(&c, "tracestate", "foo=1");
    extract(&c, &ctx);
    assert_true(sc_valid(&ctx.sc));
    assert_null(ctx.ts);
    tcar_clear(&c);

    /* A carrier without get_all sees one line only. */
    tcar_add(&c, "traceparent", TP);
    tcar_add(&c, "tracestate", "a=1");
    tcar_add(&c, "tracestate", "b=2");
    tel_propagator *p = tel_propagator_create(NULL);
    tel_carrier car = tcar_carrier(&c);
    car.get_all = NULL;
    assert_int_equal(tel_propagator_extract(p, &car, &ctx), TEL_OK);
    assert_true(sc_valid(&ctx.sc));
    assert_string_equal(tel_tracestate_str(ctx.ts, NULL), "a=1");
    /* Absent carrier or propagator: an empty context. */
    assert_int_equal(tel_propagator_extract(p, NULL, &ctx), TEL_OK);
    assert_false(sc_valid(&ctx.sc));
    assert_null(ctx.ts);
    assert_int_equal(tel_propagator_extract(NULL, &car, &ctx), TEL_OK);
    assert_int_equal(tel_propagator_extract(p, &car, NULL), TEL_OK);
    tel_propagator_destroy(p);
    tcar_clear(&c);
    tel_tracestate_unref(ctx.ts);
    tel_baggage_unref(ctx.bag);
}

static void test_extract_baggage(void **state)
{
    (void)state;
    tcar c = {0};
    tel_context ctx = TEL_CONTEXT_INIT;
    tcar_add(&c, "Baggage", "customer_id=42, server_id = srv%207 ;p");
    tcar_add(&c, "baggage", "session_id=abc");
    extract(&c, &ctx);
    assert_false(sc_valid(&ctx.sc)); /* baggage without traceparent is still extracted */
    assert_int_equal(tel_baggage_count(ctx.bag), 3);
    assert_string_equal(tel_baggage_get(ctx.bag, "server_id"), "srv 7");
    assert_string_equal(tel_baggage_get(ctx.bag, "session_id"), "abc");

    /* Inject: encoded, lowercase header name. */
    tcar out = {0};
    tel_carrier car = tcar_carrier(&out);
    tel_propagator *p = tel_propagator_create("baggage");
    assert_int_equal(tel_propagator_inject(p, &ctx, &car), TEL_OK);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.name[0], "baggage");
    assert_string_equal(out.value[0], "customer_id=42,server_id=srv%207;p,session_id=abc");
    tel_propagator_destroy(p);
    tcar_clear(&out);
    tcar_clear(&c);
    tel_baggage_unref(ctx.bag);
}

static void test_inject(void **state)
{
    (void)state;
    tcar in = {0}, out = {0};
    tel_context ctx = TEL_CONTEXT_INIT;
    tcar_add(&in, "traceparent", "00-" TID "-" SID "-03");
    tcar_add(&in, "tracestate", " congo=t61rcWkgMzE , rojo=00f067aa0ba902b7 ");
    tcar_add(&in, "baggage", "k=v");
    extract(&in, &ctx);
    tel_propagator *p = tel_propagator_create("tracecontext,baggage");
    tel_carrier car = tcar_carrier(&out);
    assert_int_equal(tel_propagator_inject(p, &ctx, &car), TEL_OK);
    assert_int_equal(out.n, 3);
    assert_string_equal(out.name[0], "traceparent");
    assert_string_equal(out.value[0], "00-" TID "-" SID "-03");
    assert_string_equal(out.name[1], "tracestate");
    assert_string_equal(out.value[1], "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    assert_string_equal(out.name[2], "baggage");
    assert_string_equal(out.value[2], "k=v");
    tcar_clear(&out);

    /* No valid span context: no traceparent or tracestate, but baggage. */
    memset(&ctx.sc, 0, sizeof ctx.sc);
    assert_int_equal(tel_propagator_inject(p, &ctx, &car), TEL_OK);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.name[0], "baggage");
    tcar_clear(&out);

    /* Carrier errors are returned. */
    out.fail_set = TEL_EFULL;
    assert_int_equal(tel_propagator_inject(p, &ctx, &car), TEL_EFULL);
    assert_int_equal(tel_propagator_inject(NULL, &ctx, &car), TEL_OK);
    assert_int_equal(tel_propagator_inject(p, NULL, &car), TEL_OK);
    assert_int_equal(tel_propagator_inject(p, &ctx, NULL), TEL_OK);
    tel_propagator_destroy(p);
    tcar_clear(&in);
    tel_tracestate_unref(ctx.ts);
    tel_baggage_unref(ctx.bag);
}

/* ---- tel_propagator_fields: every key a format writes or reads is listed ---- */

static const char *asked[64];
static size_t n_asked;

static void note_asked(const char *name)
{
    if (n_asked < 64)
        asked[n_asked++] = name;
}

static const char *rec_get(void *ud, const char *name, size_t *len)
{
    note_asked(name);
    return tcar_get(ud, name, len);
}

static size_t rec_get_all(void *ud, const char *name, const char **vals, size_t *lens, size_t max)
{
    note_asked(name);
    return tcar_get_all(ud, name, vals, lens, max);
}

static bool listed(const char *const *keys, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(keys[i]);
        if (keys[i][kl - 1] == '*' ? strncasecmp(keys[i], name, kl - 1) == 0
                                   : strcasecmp(keys[i], name) == 0)
            return true;
    }
    return false;
}

static void test_fields(void **state)
{
    (void)state;
    static const char *lists[] = {"tracecontext,baggage", "b3", "b3multi", "jaeger",
                                  "jaeger,b3,b3multi,tracecontext,baggage", "none"};
    static const size_t want_n[] = {3, 1, 6, 2, 11, 0};
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        tel_propagator *p = tel_propagator_create(lists[l]);
        const char *keys[TEL_PROPAGATOR_MAX_FIELDS];
        size_t n = tel_propagator_fields(p, keys, TEL_PROPAGATOR_MAX_FIELDS);
        assert_int_equal(n, want_n[l]);
        for (size_t i = 0; i < n; i++) {
            for (const char *c = keys[i]; *c; c++)
                assert_false(*c >= 'A' && *c <= 'Z');
            for (size_t k = 0; k < i; k++)
                assert_string_not_equal(keys[i], keys[k]);
        }
        assert_int_equal(tel_propagator_fields(p, NULL, 0), n); /* a count only */
        /* The context fields: the same but tracestate when traceparent is there. */
        const char *ckeys[TEL_PROPAGATOR_MAX_FIELDS];
        size_t cn = tel_propagator_context_fields(p, ckeys, TEL_PROPAGATOR_MAX_FIELDS);
        bool tc = listed(keys, n, "traceparent");
        assert_int_equal(cn, tc ? n - 1 : n);
        for (size_t i = 0; i < cn; i++) {
            assert_true(listed(keys, n, ckeys[i]));
            assert_false(tc && strcmp(ckeys[i], "tracestate") == 0);
        }

        /* Everything inject writes is listed... */
        tcar in = {0}, out = {0};
        tel_context ctx = TEL_CONTEXT_INIT;
        tcar_add(&in, "traceparent", TP);
        tcar_add(&in, "tracestate", "k=v");
        tcar_add(&in, "baggage", "customer_id=c42");
        extract(&in, &ctx);
        tel_carrier oc = tcar_carrier(&out);
        assert_int_equal(tel_propagator_inject(p, &ctx, &oc), TEL_OK);
        for (size_t i = 0; i < out.n; i++)
            assert_true(listed(keys, n, out.name[i]));
        /* ...and so is everything extract asks for (foreach aside: that is the prefix). */
        n_asked = 0;
        tel_carrier rc = tcar_carrier(&out);
        rc.get = rec_get;
        rc.get_all = rec_get_all;
        tel_context back = TEL_CONTEXT_INIT;
        assert_int_equal(tel_propagator_extract(p, &rc, &back), TEL_OK);
        for (size_t i = 0; i < n_asked; i++)
            assert_true(listed(keys, n, asked[i]));
        if (strcmp(lists[l], "none") != 0)
            assert_true(n_asked > 0);
        tel_context_cleanup(&back);
        tel_context_cleanup(&ctx);
        tcar_clear(&in);
        tcar_clear(&out);
        tel_propagator_destroy(p);
    }
    assert_int_equal(tel_propagator_fields(NULL, NULL, 0), 0);
}

static void test_composite_order(void **state)
{
    (void)state;
    tcar c = {0};
    tcar_add(&c, "traceparent", TP);
    tcar_add(&c, "tracestate", "foo=1");
    tcar_add(&c, "b3", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-1");
    tcar_add(&c, "uber-trace-id", "cccccccccccccccccccccccccccccccc:dddddddddddddddd:0:1");
    tel_carrier car = tcar_carrier(&c);
    tel_context ctx = TEL_CONTEXT_INIT;
    char t[33];

    tel_propagator *p = tel_propagator_create("b3,tracecontext,jaeger");
    tel_propagator_extract(p, &car, &ctx);
    tid_hex(&ctx, t);
    assert_string_equal(t, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_null(ctx.ts); /* the tracestate belongs to the traceparent that was not used */
    tel_propagator_destroy(p);

    p = tel_propagator_create("jaeger,b3,tracecontext");
    tel_propagator_extract(p, &car, &ctx);
    tid_hex(&ctx, t);
    assert_string_equal(t, "cccccccccccccccccccccccccccccccc");
    tel_propagator_destroy(p);

    p = tel_propagator_create("tracecontext,b3,jaeger");
    tel_propagator_extract(p, &car, &ctx);
    tid_hex(&ctx, t);
    assert_string_equal(t, TID);
    assert_string_equal(tel_tracestate_str(ctx.ts, NULL), "foo=1");
    /* A later format fills in when the earlier one has nothing valid. */
    tcar_set(&c, "traceparent", "garbage");
    tel_propagator_extract(p, &car, &ctx);
    tid_hex(&ctx, t);
    assert_string_equal(t, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    tel_propagator_destroy(p);

    /* Inject in every format. */
    tcar out = {0};
    tel_carrier oc = tcar_carrier(&out);
    p = tel_propagator_create("tracecontext,baggage,b3,b3multi,jaeger");
    assert_int_equal(tel_propagator_inject(p, &ctx, &oc), TEL_OK);
    assert_non_null(tcar_find(&out, "traceparent"));
    assert_non_null(tcar_find(&out, "b3"));
    assert_non_null(tcar_find(&out, "x-b3-traceid"));
    assert_non_null(tcar_find(&out, "uber-trace-id"));
    assert_null(tcar_find(&out, "baggage"));
    for (size_t i = 0; i < out.n; i++)
        for (const char *s = out.name[i]; *s; s++)
            assert_false(*s >= 'A' && *s <= 'Z');
    tel_propagator_destroy(p);
    tcar_clear(&out);
    tcar_clear(&c);
    tel_tracestate_unref(ctx.ts);
    tel_baggage_unref(ctx.bag);

    /* "none" does nothing. */
    p = tel_propagator_create("none");
    tcar_add(&c, "traceparent", TP);
    ctx = TEL_CONTEXT_INIT;
    tel_propagator_extract(p, &car, &ctx);
    assert_false(sc_valid(&ctx.sc));
    tel_propagator_destroy(p);
    tcar_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_global),
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_extract_tracecontext),
        cmocka_unit_test(test_extract_baggage),
        cmocka_unit_test(test_inject),
        cmocka_unit_test(test_composite_order),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
