/* Unit tests of the samplers (sampler.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/sampler.h"

static tel_span_context parent(bool sampled)
{
    tel_span_context sc;
    memset(sc.trace_id, 1, 16);
    memset(sc.span_id, 2, 8);
    sc.flags = sampled ? TEL_FLAG_SAMPLED : 0;
    sc.remote = true;
    return sc;
}

static void test_fixed_samplers(void **state)
{
    (void)state;
    uint8_t tid[16];
    tel_trace_id_generate(tid);
    tel_span_context ps = parent(true), pn = parent(false);
    tel_sampler s;
    tel_sampler_init(&s, TEL_SAMPLER_ALWAYS_ON, 0);
    assert_true(tel_sampler_should_sample(&s, NULL, tid));
    assert_true(tel_sampler_should_sample(&s, &pn, tid));
    tel_sampler_init(&s, TEL_SAMPLER_ALWAYS_OFF, 1);
    assert_false(tel_sampler_should_sample(&s, NULL, tid));
    assert_false(tel_sampler_should_sample(&s, &ps, tid));
    tel_sampler_init(&s, TEL_SAMPLER_PARENTBASED_ALWAYS_ON, 0);
    assert_true(tel_sampler_should_sample(&s, NULL, tid));
    assert_true(tel_sampler_should_sample(&s, &ps, tid));
    assert_false(tel_sampler_should_sample(&s, &pn, tid));
    tel_sampler_init(&s, TEL_SAMPLER_PARENTBASED_ALWAYS_OFF, 0);
    assert_false(tel_sampler_should_sample(&s, NULL, tid));
    assert_true(tel_sampler_should_sample(&s, &ps, tid));
    assert_false(tel_sampler_should_sample(&s, &pn, tid));
    /* An invalid parent counts as no parent. */
    tel_span_context zero = {{0}, {0}, TEL_FLAG_SAMPLED, true};
    assert_false(tel_sampler_should_sample(&s, &zero, tid));
}

static double sampled_fraction(const tel_sampler *s, int n)
{
    int hits = 0;
    uint8_t tid[16];
    for (int i = 0; i < n; i++) {
        tel_trace_id_generate(tid);
        hits += tel_sampler_should_sample(s, NULL, tid);
    }
    return (double)hits / n;
}

static void test_ratio_sampler(void **state)
{
    (void)state;
    tel_sampler s;
    tel_sampler_init(&s, TEL_SAMPLER_TRACEIDRATIO, 0.25);
    double f = sampled_fraction(&s, 200000);
    assert_true(f > 0.24 && f < 0.26);
    tel_sampler_init(&s, TEL_SAMPLER_TRACEIDRATIO, 0.0);
    assert_true(sampled_fraction(&s, 10000) == 0.0);
    tel_sampler_init(&s, TEL_SAMPLER_TRACEIDRATIO, 1.0);
    assert_true(sampled_fraction(&s, 10000) == 1.0);
    tel_sampler_init(&s, TEL_SAMPLER_TRACEIDRATIO, 7.0); /* clamped */
    assert_true(s.ratio == 1.0);
    /* Deterministic in the trace id: the same id always gets the same answer, and a lower
     * ratio never samples an id a higher one rejects. */
    tel_sampler lo, hi;
    tel_sampler_init(&lo, TEL_SAMPLER_TRACEIDRATIO, 0.1);
    tel_sampler_init(&hi, TEL_SAMPLER_TRACEIDRATIO, 0.5);
    uint8_t tid[16];
    for (int i = 0; i < 10000; i++) {
        tel_trace_id_generate(tid);
        bool a = tel_sampler_should_sample(&lo, NULL, tid);
        assert_int_equal(a, tel_sampler_should_sample(&lo, NULL, tid));
        if (a)
            assert_true(tel_sampler_should_sample(&hi, NULL, tid));
    }
    /* Parent-based ratio: the parent decides when there is one. */
    tel_sampler_init(&s, TEL_SAMPLER_PARENTBASED_TRACEIDRATIO, 0.0);
    tel_span_context ps = parent(true);
    tel_trace_id_generate(tid);
    assert_true(tel_sampler_should_sample(&s, &ps, tid));
    assert_false(tel_sampler_should_sample(&s, NULL, tid));
}

static void test_sampler_from_env(void **state)
{
    (void)state;
    tel_sampler s;
    unsetenv("OTEL_TRACES_SAMPLER");
    tel_sampler_from_env(&s);
    assert_int_equal(s.kind, TEL_SAMPLER_PARENTBASED_ALWAYS_ON);
    setenv("OTEL_TRACES_SAMPLER", "traceidratio", 1);
    setenv("OTEL_TRACES_SAMPLER_ARG", "0.125", 1);
    tel_sampler_from_env(&s);
    assert_int_equal(s.kind, TEL_SAMPLER_TRACEIDRATIO);
    assert_true(s.ratio == 0.125);
    setenv("OTEL_TRACES_SAMPLER_ARG", "1.5", 1); /* out of range: default 1.0 */
    tel_sampler_from_env(&s);
    assert_true(s.ratio == 1.0);
    setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
    setenv("OTEL_TRACES_SAMPLER_ARG", "0.5", 1);
    tel_sampler_from_env(&s);
    assert_int_equal(s.kind, TEL_SAMPLER_PARENTBASED_TRACEIDRATIO);
    char d[64];
    tel_sampler_describe(&s, d, sizeof d);
    assert_string_equal(d, "ParentBased{root=TraceIdRatioBased{0.500000}}");
    setenv("OTEL_TRACES_SAMPLER", "always_off", 1);
    tel_sampler_from_env(&s);
    assert_int_equal(s.kind, TEL_SAMPLER_ALWAYS_OFF);
    setenv("OTEL_TRACES_SAMPLER", "parentbased_always_off", 1);
    tel_sampler_from_env(&s);
    assert_int_equal(s.kind, TEL_SAMPLER_PARENTBASED_ALWAYS_OFF);
    setenv("OTEL_TRACES_SAMPLER", "always_on", 1);
    tel_sampler_from_env(&s);
    assert_int_equal(s.kind, TEL_SAMPLER_ALWAYS_ON);
    setenv("OTEL_TRACES_SAMPLER", "no_such_sampler", 1);
    tel_sampler_from_env(&s);
    assert_int_equal(s.kind, TEL_SAMPLER_PARENTBASED_ALWAYS_ON);
    unsetenv("OTEL_TRACES_SAMPLER");
    unsetenv("OTEL_TRACES_SAMPLER_ARG");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_samplers),
        cmocka_unit_test(test_ratio_sampler),
        cmocka_unit_test(test_sampler_from_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
