/* Proves that a sampled span through the batch processor allocates nothing in steady state:
 * this program replaces malloc/calloc/realloc/free with counting wrappers around glibc's
 * __libc_* functions and counts calls made while spans are created and ended.
 * (Skipped under sanitizers and valgrind, which bring their own allocator.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_count.h"
#include "telemetry/trace.h"

#if ALLOC_COUNT
typedef struct nullexp {
    tel_span_exporter base;
} nullexp;
static int n_export(tel_span_exporter *s, const tel_resource *r, const tel_span_data *const *sp,
                    size_t n, uint64_t d)
{
    (void)s, (void)r, (void)sp, (void)n, (void)d;
    return TEL_OK;
}
static int n_shutdown(tel_span_exporter *s)
{
    (void)s;
    return TEL_OK;
}
static void n_destroy(tel_span_exporter *s)
{
    (void)s;
}
#endif

static void test_sampled_span_allocates_nothing(void **state)
{
    (void)state;
#if !ALLOC_COUNT
    skip();
#else
    if (test_under_valgrind()) skip();
    static nullexp ne = {{n_export, NULL, n_shutdown, n_destroy}};
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "alloc-test");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, TEL_SAMPLER_ALWAYS_ON, 1);
    tel_tracer_provider *p = tel_tracer_provider_create(&cfg);
    tel_bsp_config bc = {2048, 512, 5000, 30000};
    tel_tracer_provider_add_processor(p, tel_bsp_create(&ne.base, &bc));
    tel_tracer *t = tel_tracer_get(p, "alloc", "1");
    tel_context parent = TEL_CONTEXT_INIT;
    /* Warm up: the clock calibration, the export thread, and the thread's span pool, which
     * grows by chunks to the most spans the thread has live at once (1100 here: more than the
     * measured part below ever holds). */
    static tel_span *warm[1100];
    for (int i = 0; i < 1100; i++)
        warm[i] = tel_span_start(t, "warm", TEL_SPAN_KIND_SERVER, NULL);
    for (int i = 0; i < 1100; i++)
        tel_span_end(warm[i]);
    tel_tracer_provider_force_flush(p, 5000);
    tel_span *root = tel_span_start(t, "root", TEL_SPAN_KIND_SERVER, NULL);
    tel_context_set_span(&parent, root);
    long before = atomic_load(&allocs);
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 1000; i++) {
            tel_span *s = tel_span_start(t, "GET /v1/servers/{id}", TEL_SPAN_KIND_SERVER,
                                         &parent);
            tel_span_set_str_static(s, "http.request.method", "GET");
            tel_span_set_str(s, "url.path", "/v1/servers/42");
            tel_span_set_int(s, "http.response.status_code", 200);
            tel_span_set_bool(s, "bmc.cached", true);
            tel_span_set_double(s, "bmc.load", 0.5);
            tel_span_end(s);
        }
        tel_tracer_provider_force_flush(p, 5000);
    }
    long during = atomic_load(&allocs) - before;
    printf("allocations during 50000 sampled spans (and 50 flushes): %ld\n", during);
    assert_int_equal(during, 0);
    tel_span_end(root);
    tel_context_cleanup(&parent);
    tel_tracer_provider_destroy(p);
#endif
}

static void test_disabled_sdk_allocates_nothing_and_starts_no_thread(void **state)
{
    (void)state;
    int threads = test_thread_count();
    setenv("OTEL_SDK_DISABLED", "true", 1);
#if ALLOC_COUNT
    long before = atomic_load(&allocs);
#endif
    assert_int_equal(tel_init("disabled-test", "1"), TEL_EDISABLED);
    assert_true(tel_sdk_disabled());
    assert_null(tel_global_provider());
    tel_tracer *t = tel_global_tracer("x", NULL);
    tel_context ctx = TEL_CONTEXT_INIT;
    for (int i = 0; i < 1000; i++) {
        tel_span *s = tel_span_start(t, "noop", TEL_SPAN_KIND_SERVER, &ctx);
        tel_span_set_str(s, "k", "v");
        tel_span_set_int(s, "n", i);
        tel_span_add_event(s, "e", NULL, 0);
        tel_span_record_error(s, "t", "m");
        tel_span_set_status(s, TEL_STATUS_ERROR, "x");
        tel_context_set_span(&ctx, s);
        assert_false(tel_span_is_recording(s));
        tel_span_end(s);
    }
    assert_false(tel_span_context_is_valid(&ctx.sc));
    tel_shutdown();
#if ALLOC_COUNT
    if (!test_under_valgrind()) assert_int_equal(atomic_load(&allocs) - before, 0);
#endif
    assert_int_equal(test_thread_count(), threads);
    unsetenv("OTEL_SDK_DISABLED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampled_span_allocates_nothing),
        cmocka_unit_test(test_disabled_sdk_allocates_nothing_and_starts_no_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
