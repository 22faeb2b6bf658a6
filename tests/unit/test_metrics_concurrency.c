/* Concurrency of metric recording. ctest-labels: concurrency
 *
 * Two threads record 10 million points in total into the same histogram series (and counters)
 * while a third thread collects; counts and sums must be exact (integer-valued doubles keep the
 * double sums exact). Under sanitizers and valgrind the point count is scaled down (ASan+UBSan
 * 2,000,000, TSan 1,000,000, valgrind 200,000) so the test stays at a few seconds; the checks
 * are the same. A second test creates the same new attribute sets from several threads at once:
 * each set must get one series. A third records through bound sets (tel_instrument_bind), which
 * each thread records into a cell of its own (metrics_cells.c): from four threads at once while
 * a fifth records the same set unbound and a collector reads, then from 70 threads alive at once
 * (more than the 64 recorder numbers: the rest record into the shared values), then from a
 * thread that reuses an exited one's number; every total must be exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>

#include "metrics_test_util.h"
#include "under_valgrind.h"
#include "telemetry/clock.h"

#define THREADS 2

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static long total_points(void)
{
    if (test_under_valgrind())
        return 200000;
    if (TEL_TSAN)
        return 1000000;
    if (UNDER_ASAN)
        return 2000000;
    return 10000000;
}

typedef struct worker {
    tel_instrument *h, *ci, *cd, *ud;
    long n;
} worker;

static void *record(void *arg)
{
    worker *w = arg;
    tel_attr a[] = {TEL_ATTR_STR("http.request.method", "GET"),
                    TEL_ATTR_STR("http.route", "/v1/servers/{id}"),
                    TEL_ATTR_INT64("http.response.status_code", 200)};
    for (long i = 0; i < w->n; i++) {
        double v = (double)(i % 100);
        tel_histogram_record(w->h, v, a, 3);
        tel_counter_add_int(w->ci, 1, a, 3);
        tel_counter_add(w->cd, 0.5, a, 3);
        tel_counter_add_int(w->ud, (i & 1) ? 1 : -1, NULL, 0);
    }
    return NULL;
}

typedef struct collector {
    tel_meter_provider *p;
    const char *name; /* the histogram checked (NULL: http.server.request.duration) */
    atomic_bool stop;
    int rounds;
    bool monotone;
} collector;

static void *collect_loop(void *arg)
{
    collector *c = arg;
    uint64_t last = 0;
    c->monotone = true;
    while (!atomic_load(&c->stop)) {
        tel__collection col;
        if (tel__collect(c->p, &col) == TEL_OK) {
            const tel_metric *m =
                mt_metric(&col, c->name ? c->name : "http.server.request.duration");
            if (m && m->n_points) {
                const tel_metric_point *p = &m->points[0];
                uint64_t sum = 0;
                for (uint32_t b = 0; b <= m->n_bounds; b++)
                    sum += p->bucket_counts[b];
                if (p->count < last || sum != p->count)
                    c->monotone = false;
                last = p->count;
            }
            tel__collection_free(&col);
            c->rounds++;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void test_two_threads_exact_counts_and_sums(void **state)
{
    (void)state;
    long total = total_points();
    long per = total / THREADS;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_TRACE_BASED);
    worker w = {
        .h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "http.server.request.duration",
                              &(tel_instrument_opts){.unit = "ms"}),
        .ci = tel_meter_create(e.m, TEL_INSTR_COUNTER, "http.server.requests",
                               &(tel_instrument_opts){.value_is_int = true}),
        .cd = tel_meter_create(e.m, TEL_INSTR_COUNTER, "work.done", NULL),
        .ud = tel_meter_create(e.m, TEL_INSTR_UP_DOWN_COUNTER, "inflight",
                               &(tel_instrument_opts){.value_is_int = true}),
        .n = per,
    };
    collector col = {.p = e.p};
    pthread_t th[THREADS], ct;
    pthread_create(&ct, NULL, collect_loop, &col);
    uint64_t t0 = tel_mono_ns();
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, record, &w);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(tel_mono_ns() - t0) / 1e9;
    atomic_store(&col.stop, true);
    pthread_join(ct, NULL);
    printf("%ld histogram points (+3 counter adds each) from %d threads in %.2f s; %d concurrent "
           "collections\n",
           per * THREADS, THREADS, secs, col.rounds);
    assert_true(col.monotone);

    tel__collection c;
    assert_int_equal(tel__collect(e.p, &c), TEL_OK);
    const tel_metric *m = mt_metric(&c, "http.server.request.duration");
    assert_int_equal(m->n_points, 1);
    const tel_metric_point *p = &m->points[0];
    long n = per * THREADS;
    assert_int_equal(p->count, (uint64_t)n);
    /* Values 0..99 in equal shares: sum per hundred = 4950. */
    assert_true(p->sum == (double)(n / 100) * 4950.0);
    assert_true(p->min == 0 && p->max == 99);
    /* Buckets (le): {0}, 1..5, 6..10, 11..25, 26..50, 51..75, 76..99, then empty ones. */
    const uint64_t share[] = {1, 5, 5, 15, 25, 25, 24};
    for (uint32_t b = 0; b < 7; b++)
        assert_int_equal(p->bucket_counts[b], (uint64_t)(n / 100) * share[b]);
    for (uint32_t b = 7; b <= m->n_bounds; b++)
        assert_int_equal(p->bucket_counts[b], 0);
    assert_int_equal(mt_metric(&c, "http.server.requests")->points[0].value.i, n);
    assert_true(mt_metric(&c, "work.done")->points[0].value.d == (double)n * 0.5);
    assert_int_equal(mt_metric(&c, "inflight")->points[0].value.i, 0);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

typedef struct bworker {
    tel_instrument *h, *ci, *ud;
    tel_bound_attrs *bh, *bci, *bud;
    long n;
    int k;
    pthread_barrier_t *all_in; /* NULL: none */
} bworker;

static void *record_bound(void *arg)
{
    bworker *w = arg;
    for (long i = 0; i < w->n; i++) {
        tel_histogram_record_bound(w->h, w->bh, (double)(i % 100));
        tel_counter_add_int_bound(w->ci, w->bci, 1);
        tel_counter_add_int_bound(w->ud, w->bud, (i & 1) ? 1 : -1);
    }
    /* One value per thread that only its cell holds: the maximum comes from one cell. */
    tel_histogram_record_bound(w->h, w->bh, 1000.0 * (w->k + 1));
    if (w->all_in)
        pthread_barrier_wait(w->all_in); /* every thread holds its number (or none) at once */
    return NULL;
}

static void *record_unbound(void *arg)
{
    bworker *w = arg;
    for (long i = 0; i < w->n; i++) {
        tel_histogram_record(w->h, (double)(i % 100), NULL, 0);
        tel_counter_add_int(w->ci, 1, NULL, 0);
    }
    return NULL;
}

/* Runs n threads of record_bound (ks from k0) and waits for them. */
static void run_bound(bworker *proto, int n, int k0, bool barrier)
{
    pthread_t *th = calloc((size_t)n, sizeof *th);
    bworker *w = calloc((size_t)n, sizeof *w);
    pthread_barrier_t b;
    if (barrier)
        pthread_barrier_init(&b, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        w[i] = *proto;
        w[i].k = k0 + i;
        w[i].all_in = barrier ? &b : NULL;
        pthread_create(&th[i], NULL, record_bound, &w[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    if (barrier)
        pthread_barrier_destroy(&b);
    free(w);
    free(th);
}

static void test_bound_cells_exact(void **state)
{
    (void)state;
    long per = total_points() / 20;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_ON);
    bworker w = {
        .h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "d", NULL),
        .ci = tel_meter_create(e.m, TEL_INSTR_COUNTER, "c",
                               &(tel_instrument_opts){.value_is_int = true}),
        .ud = tel_meter_create(e.m, TEL_INSTR_UP_DOWN_COUNTER, "u",
                               &(tel_instrument_opts){.value_is_int = true}),
        .n = per,
    };
    w.bh = tel_instrument_bind(w.h, NULL, 0);
    w.bci = tel_instrument_bind(w.ci, NULL, 0);
    w.bud = tel_instrument_bind(w.ud, NULL, 0);
    assert_non_null(w.bh);
    assert_non_null(w.bci);
    assert_non_null(w.bud);

    /* Four bound recorders, one unbound one on the same set, a collector. */
    collector col = {.p = e.p, .name = "d"};
    pthread_t ct, ut;
    pthread_create(&ct, NULL, collect_loop, &col);
    pthread_create(&ut, NULL, record_unbound, &w);
    run_bound(&w, 4, 0, false);
    pthread_join(ut, NULL);
    atomic_store(&col.stop, true);
    pthread_join(ct, NULL);
    /* 70 threads at once, with 20 points each; then one more, after they exited. */
    bworker few = w;
    few.n = 20;
    run_bound(&few, 70, 4, true);
    run_bound(&few, 1, 74, false);

    long points = 5 * per + 71 * 20;     /* the (i % 100) values */
    long hundreds = per / 100 * 5;       /* per is a multiple of 100 */
    double extra = 0;                    /* the one value per bound thread: 1000 * (k + 1) */
    for (int k = 0; k < 75; k++)
        extra += 1000.0 * (k + 1);
    tel__collection c;
    assert_int_equal(tel__collect(e.p, &c), TEL_OK);
    const tel_metric_point *p = &mt_metric(&c, "d")->points[0];
    assert_int_equal(mt_metric(&c, "d")->n_points, 1);
    assert_int_equal(p->count, (uint64_t)(points + 75));
    /* 20 points of i % 100 = 0..19: 190 per thread. */
    assert_true(p->sum == (double)hundreds * 4950.0 + 71 * 190.0 + extra);
    assert_true(p->min == 0 && p->max == 75000.0);
    uint64_t buckets = 0;
    for (uint32_t b = 0; b <= mt_metric(&c, "d")->n_bounds; b++)
        buckets += p->bucket_counts[b];
    assert_int_equal(buckets, p->count);
    assert_int_equal(p->bucket_counts[0], (uint64_t)(hundreds + 71)); /* the zeros */
    assert_true(p->n_exemplars > 0);
    assert_int_equal(mt_metric(&c, "c")->points[0].value.i, points);
    assert_int_equal(mt_metric(&c, "u")->points[0].value.i, 0);
    printf("bound sets: %d concurrent collections\n", col.rounds);
    assert_true(col.monotone);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

typedef struct creator {
    tel_instrument *c;
    int sets, rounds;
} creator;

static void *create_sets(void *arg)
{
    creator *cr = arg;
    for (int r = 0; r < cr->rounds; r++)
        for (int s = 0; s < cr->sets; s++) {
            tel_attr a[] = {TEL_ATTR_INT64("set", s), TEL_ATTR_STR("kind", "x")};
            tel_counter_add_int(cr->c, 1, a, 2);
        }
    return NULL;
}

static void test_concurrent_new_sets(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    creator cr = {.c = tel_meter_create(e.m, TEL_INSTR_COUNTER, "sets",
                                        &(tel_instrument_opts){.value_is_int = true}),
                  .sets = 1500,
                  .rounds = 20};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, create_sets, &cr);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    tel__collection c;
    assert_int_equal(tel__collect(e.p, &c), TEL_OK);
    const tel_metric *m = mt_metric(&c, "sets");
    assert_int_equal(m->n_points, 1500);
    for (size_t i = 0; i < m->n_points; i++)
        assert_int_equal(m->points[i].value.i, 4 * 20);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

int main(void)
{
    unsetenv("OTEL_METRICS_EXEMPLAR_FILTER");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_threads_exact_counts_and_sums),
        cmocka_unit_test(test_concurrent_new_sets),
        cmocka_unit_test(test_bound_cells_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
