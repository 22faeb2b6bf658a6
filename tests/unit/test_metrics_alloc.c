/* Proves that metric recording allocates nothing once an attribute set has been seen (also
 * when exemplars are taken inside a sampled span), and that a disabled meter provider allocates
 * nothing and starts no thread: this program replaces malloc/calloc/realloc/free with counting
 * wrappers around glibc's __libc_* functions. (Skipped under sanitizers and valgrind, which
 * bring their own allocator.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_count.h"
#include "telemetry/metrics.h"
#include "telemetry/sampler.h"
#include "telemetry/trace.h"

#if ALLOC_COUNT
static void record_round(tel_instrument *c, tel_instrument *h, tel_instrument *g,
                         tel_instrument *u, int i)
{
    /* A value in a temporary buffer: equal text, other address. */
    char route[32];
    snprintf(route, sizeof route, "/v1/servers/%d", i % 4);
    tel_attr a[3] = {TEL_ATTR_STR("http.request.method", (i & 1) ? "GET" : "POST"),
                     {.key = "http.route", .type = TEL_ATTR_STRING,
                      .len = (uint32_t)strlen(route), .v.s = route},
                     TEL_ATTR_INT64("http.response.status_code", 200)};
    tel_attr rev[3] = {a[2], a[0], a[1]}; /* another order, same set */
    tel_counter_add_int(c, 1, a, 3);
    tel_histogram_record(h, (double)(i % 300), rev, 3);
    tel_gauge_set(g, (double)i, a, 3);
    tel_counter_add_int(u, (i & 1) ? 1 : -1, NULL, 0);
}
#endif

static void test_recording_allocates_nothing(void **state)
{
    (void)state;
#if !ALLOC_COUNT
    skip();
#else
    if (test_under_valgrind()) skip();
    tel_attr svc = TEL_ATTR_STR("service.name", "alloc-test");
    tel_resource *res = tel_resource_create(&svc, 1);
    for (int f = 0; f < 2; f++) {
        tel_meter_provider_config cfg = {.resource = res, .has_exemplar_filter = true,
                                         .exemplar_filter = f ? TEL_EXEMPLAR_ALWAYS_ON
                                                              : TEL_EXEMPLAR_TRACE_BASED};
        tel_meter_provider *p = tel_meter_provider_create(&cfg);
        tel_meter *m = tel_meter_get(p, "alloc", "1");
        tel_instrument *c = tel_meter_create(m, TEL_INSTR_COUNTER, "requests",
                                             &(tel_instrument_opts){.value_is_int = true});
        tel_instrument *h = tel_meter_create(m, TEL_INSTR_HISTOGRAM, "duration", NULL);
        tel_instrument *g = tel_meter_create(m, TEL_INSTR_GAUGE, "level", NULL);
        tel_instrument *u = tel_meter_create(m, TEL_INSTR_UP_DOWN_COUNTER, "active",
                                             &(tel_instrument_opts){.value_is_int = true});
        /* A sampled span as the thread's current span, so trace_based takes exemplars. */
        tel_tracer_provider_config tc = {0};
        tc.has_sampler = true;
        tel_sampler_init(&tc.sampler, TEL_SAMPLER_ALWAYS_ON, 1);
        tc.resource = tel_resource_create(NULL, 0);
        tel_tracer_provider *tp = tel_tracer_provider_create(&tc);
        tel_span *sp = tel_span_start(tel_tracer_get(tp, "t", NULL), "op", TEL_SPAN_KIND_SERVER,
                                      NULL);
        tel_span *prev = tel_span_set_current(sp);
        for (int i = 0; i < 1000; i++) /* every set seen once; key cache warm */
            record_round(c, h, g, u, i);
        long before = atomic_load(&allocs);
        for (int i = 0; i < 200000; i++)
            record_round(c, h, g, u, i);
        long during = atomic_load(&allocs) - before;
        printf("allocations during 800000 recordings (filter %s): %ld\n",
               f ? "always_on" : "trace_based", during);
        assert_int_equal(during, 0);
        tel_span_set_current(prev);
        tel_span_end(sp);
        tel_tracer_provider_destroy(tp);
        tel_meter_provider_destroy(p);
    }
    tel_resource_destroy(res);
#endif
}

typedef struct nullexp {
    tel_metric_exporter base;
    int destroyed;
} nullexp;
static int n_export(tel_metric_exporter *s, const tel_resource *r, const tel_metric *m, size_t n,
                    uint64_t d)
{
    (void)s, (void)r, (void)m, (void)n, (void)d;
    return TEL_OK;
}
static int n_shutdown(tel_metric_exporter *s)
{
    (void)s;
    return TEL_OK;
}
static void n_destroy(tel_metric_exporter *s)
{
    ((nullexp *)s)->destroyed++;
}

static void test_disabled_provider_allocates_nothing(void **state)
{
    (void)state;
    int threads = test_thread_count();
    setenv("OTEL_SDK_DISABLED", "true", 1);
#if ALLOC_COUNT
    long before = atomic_load(&allocs);
#endif
    tel_meter_provider *p = tel_meter_provider_create(NULL);
    tel_meter *m = tel_meter_get(p, "x", "1");
    tel_instrument *c = tel_meter_create(m, TEL_INSTR_COUNTER, "c", NULL);
    tel_instrument *h = tel_meter_create(m, TEL_INSTR_HISTOGRAM, "h", NULL);
    static nullexp ne = {{n_export, NULL, n_shutdown, n_destroy}, 0};
    assert_int_equal(tel_meter_provider_add_periodic_reader(p, &ne.base, 10, 10), TEL_EDISABLED);
    tel_attr a[] = {TEL_ATTR_STR("k", "v")};
    for (int i = 0; i < 1000; i++) {
        tel_counter_add(c, 1, a, 1);
        tel_histogram_record(h, i, a, 1);
    }
    tel_meter_provider_destroy(p);
#if ALLOC_COUNT
    if (!test_under_valgrind()) assert_int_equal(atomic_load(&allocs) - before, 0);
#endif
    assert_int_equal(ne.destroyed, 1);
    assert_int_equal(test_thread_count(), threads);
    unsetenv("OTEL_SDK_DISABLED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recording_allocates_nothing),
        cmocka_unit_test(test_disabled_provider_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
