/* Unit tests of deferred span durations (tel_span_defer_duration): the duration goes into the
 * histogram's bound series when the span's record is handed over, exactly (end - start) * unit,
 * with the span as its exemplar; with a batch processor off the ending thread, and every metric
 * collection first records those of the spans still queued itself.
 * ctest-labels: concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "held_exporter.h"
#include "metrics_test_util.h"
#include "telemetry/processor.h"
#include "telemetry/sampler.h"
#include "telemetry/trace.h"

typedef struct fx {
    mt_env me;
    tel_instrument *h;
    tel_bound_attrs *b;
    tel_tracer_provider *tp;
    tel_tracer *t;
    tel_span_processor *proc;
    held_exporter g;
} fx;

/* A histogram "d" with one bound series, and a sampling tracer provider whose processor is a
 * batch processor (batch: records per export) or, when batch is 0, a simple processor. */
static void fx_init(fx *f, uint32_t queue, uint32_t batch, tel_sampler_kind sampler)
{
    memset(f, 0, sizeof *f);
    mt_init(&f->me, 0, TEL_EXEMPLAR_TRACE_BASED);
    f->h = tel_meter_create(f->me.m, TEL_INSTR_HISTOGRAM, "d", NULL);
    assert_non_null(f->h);
    tel_attr a = TEL_ATTR_STR("route", "/x");
    f->b = tel_instrument_bind(f->h, &a, 1);
    assert_non_null(f->b);
    held_exporter_init(&f->g, false);
    tel_tracer_provider_config cfg = {0};
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, sampler, 1);
    f->tp = tel_tracer_provider_create(&cfg);
    assert_non_null(f->tp);
    if (batch) {
        tel_bsp_config bc = {queue, batch, 60000, 30000};
        f->proc = tel_bsp_create(&f->g.base, &bc);
    } else {
        f->proc = tel_simple_processor_create(&f->g.base, 30000);
    }
    assert_non_null(f->proc);
    tel_tracer_provider_add_processor(f->tp, f->proc);
    f->t = tel_tracer_get(f->tp, "defer", NULL);
}

static void fx_cleanup(fx *f)
{
    atomic_store(&f->g.hold, false);
    tel_tracer_provider_shutdown(f->tp, 5000);
    tel_tracer_provider_destroy(f->tp);
    mt_cleanup(&f->me);
}

/* A span from start to start + dur_ns with its duration deferred at unit; returns its context. */
static tel_span_context deferred_span(fx *f, uint64_t start, uint64_t dur_ns, double unit,
                                      bool expect_deferred)
{
    tel_span_start_opts o = {0};
    o.name = "op";
    o.start_ns = start;
    tel_span *s = tel_span_start_ex(f->t, &o);
    assert_int_equal(tel_span_defer_duration(s, f->h, f->b, unit), expect_deferred);
    tel_span_context sc = tel_span_get_context(s);
    tel_span_end_at(s, start + dur_ns);
    return sc;
}

/* The series' count and sum now (a collection: settles first). */
static uint64_t series(fx *f, double *sum, tel_exemplar *ex)
{
    tel__collection c;
    assert_int_equal(tel__collect(f->me.p, &c), TEL_OK);
    const tel_metric_point *p = mt_point(mt_metric(&c, "d"), "route", "/x");
    uint64_t n = p ? p->count : 0;
    if (sum)
        *sum = p ? p->sum : 0;
    if (ex) {
        memset(ex, 0, sizeof *ex);
        if (p && p->n_exemplars)
            *ex = p->exemplars[p->n_exemplars - 1];
    }
    tel__collection_free(&c);
    return n;
}

static const uint64_t T0 = 1700000000000000000ull;

/* The export thread is held inside an export (a slow collector): a collection meanwhile does
 * not wait for it. It records the duration of the span still queued behind the export itself,
 * exactly, with the span as exemplar; the thread's taking the span later records nothing more,
 * and the span is still exported. */
static void test_collection_settles_behind_an_export(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 64, 1, TEL_SAMPLER_ALWAYS_ON);
    atomic_store(&f.g.hold, true);
    tel_span_end(tel_span_start(f.t, "first", TEL_SPAN_KIND_INTERNAL, NULL));
    assert_true(held_exporter_wait_inside(&f.g, 10000));
    tel_span_context sc = deferred_span(&f, T0, 1500000, 1e-9, true);
    double sum;
    tel_exemplar ex;
    assert_int_equal(series(&f, &sum, &ex), 1);
    assert_true(atomic_load(&f.g.inside)); /* counted while the export was still held */
    assert_int_equal(atomic_load(&f.g.spans), 0);
    assert_true(sum == 1500000 * 1e-9);
    assert_true(ex.has_span);
    assert_memory_equal(ex.trace_id, sc.trace_id, TEL_TRACE_ID_SIZE);
    assert_memory_equal(ex.span_id, sc.span_id, TEL_SPAN_ID_SIZE);
    assert_true(ex.time_ns == T0 + 1500000);
    atomic_store(&f.g.hold, false);
    assert_int_equal(tel_tracer_provider_force_flush(f.tp, 5000), TEL_OK);
    assert_int_equal(atomic_load(&f.g.spans), 2);
    assert_int_equal(series(&f, &sum, NULL), 1);
    assert_true(sum == 1500000 * 1e-9);
    fx_cleanup(&f);
}

/* With an idle export thread (a long schedule delay, a large batch) a collection right after
 * the spans end counts every one of them; the unit applies. */
static void test_collection_settles_queued_spans(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2048, 512, TEL_SAMPLER_ALWAYS_ON);
    for (int i = 0; i < 10; i++)
        deferred_span(&f, T0 + (uint64_t)i * 1000000000u, 2000000, 1e-6, true); /* 2 ms */
    double sum;
    assert_int_equal(series(&f, &sum, NULL), 10);
    assert_true(sum > 19.999 && sum < 20.001);
    assert_int_equal(atomic_load(&f.g.spans), 0); /* taken, not exported: a settle is no flush */
    fx_cleanup(&f);
}

/* A simple processor exports on the ending thread: recorded as the span ends. */
static void test_simple_processor_records_at_end(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 0, 0, TEL_SAMPLER_ALWAYS_ON);
    deferred_span(&f, T0, 3000000, 1e-9, true);
    double sum;
    assert_int_equal(series(&f, &sum, NULL), 1);
    assert_true(sum == 3000000 * 1e-9);
    fx_cleanup(&f);
}

/* A span that is not recording defers nothing: the caller records itself. */
static void test_not_recording_returns_false(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 64, 8, TEL_SAMPLER_ALWAYS_OFF);
    deferred_span(&f, T0, 1000, 1e-9, false);
    assert_false(tel_span_defer_duration(&tel__noop_span, f.h, f.b, 1e-9));
    tel_span *s = tel_span_start(f.t, "op", TEL_SPAN_KIND_INTERNAL, NULL);
    assert_false(tel_span_defer_duration(s, NULL, f.b, 1e-9));
    tel_span_end(s);
    assert_int_equal(series(&f, NULL, NULL), 0);
    fx_cleanup(&f);
}

/* A span dropped because the queue is full keeps its measurement: recorded as it ends. */
static void test_dropped_span_still_counted(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, 1, TEL_SAMPLER_ALWAYS_ON);
    atomic_store(&f.g.hold, true);
    tel_span_end(tel_span_start(f.t, "first", TEL_SPAN_KIND_INTERNAL, NULL));
    assert_true(held_exporter_wait_inside(&f.g, 10000));
    for (int i = 0; i < 20; i++)
        deferred_span(&f, T0, 1000, 1e-9, true);
    tel_bsp_stats st;
    tel_bsp_get_stats(f.proc, &st);
    assert_true(st.dropped_queue_full >= 17);
    atomic_store(&f.g.hold, false);
    assert_int_equal(series(&f, NULL, NULL), 20);
    fx_cleanup(&f);
}

typedef struct prod {
    fx *f;
    int n;
} prod;

static void *producer(void *arg)
{
    prod *p = arg;
    for (int i = 0; i < p->n; i++)
        deferred_span(p->f, T0 + (uint64_t)i, 1000, 1e-9, true);
    return NULL;
}

/* Producers on two threads while another collects: every span counted once in the end. */
static void test_concurrent_producers_and_collections(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 4096, 64, TEL_SAMPLER_ALWAYS_ON);
    enum { N = 5000 };
    pthread_t th[2];
    prod pr = {&f, N};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, producer, &pr), 0);
    uint64_t last = 0;
    for (int i = 0; i < 20; i++) {
        uint64_t n = series(&f, NULL, NULL);
        assert_true(n >= last && n <= 2 * N);
        last = n;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    tel_bsp_stats st;
    tel_bsp_get_stats(f.proc, &st);
    assert_int_equal(series(&f, NULL, NULL), 2 * N);
    assert_int_equal(st.ended, 2 * N);
    fx_cleanup(&f);
}

/* The meter provider destroyed before the tracer provider, spans still queued: the destruction
 * takes them first (ASan would see a recording into freed instruments otherwise). */
static void test_meter_provider_destroyed_first(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2048, 512, TEL_SAMPLER_ALWAYS_ON);
    for (int i = 0; i < 100; i++)
        deferred_span(&f, T0, 1000, 1e-9, true);
    mt_cleanup(&f.me);
    tel_tracer_provider_shutdown(f.tp, 5000);
    tel_tracer_provider_destroy(f.tp);
    assert_int_equal(atomic_load(&f.g.spans), 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collection_settles_behind_an_export),
        cmocka_unit_test(test_collection_settles_queued_spans),
        cmocka_unit_test(test_simple_processor_records_at_end),
        cmocka_unit_test(test_not_recording_returns_false),
        cmocka_unit_test(test_dropped_span_still_counted),
        cmocka_unit_test(test_concurrent_producers_and_collections),
        cmocka_unit_test(test_meter_provider_destroyed_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
