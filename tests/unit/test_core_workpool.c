/* core/workpool: argument checks, every accepted job runs exactly once on a worker, FIFO start
 * order, the bounded queue refuses with CORE_EFULL (the job is not run, the argument stays the
 * caller's), shutdown drains the queue and refuses later jobs with CORE_ESHUTDOWN, concurrent and
 * repeated shutdowns, jobs submitting jobs, the submitted span as the worker's current span (and
 * its restoration, even when the job ends the span), and no thread left behind. Leaks: every job
 * argument is heap-allocated and freed by its job (or by the caller on refusal), so ASan's leak
 * checker sees any job the pool lost.
 * ctest-labels: concurrency */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "core/error.h"
#include "core/workpool.h"
#include "test_tracing.h"

/* ---- helpers ---- */

/* A gate that jobs wait on until the test opens it. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int waiting; /* jobs blocked on it */
} gate;

static void gate_init(gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = false;
    g->waiting = 0;
}

static void gate_cleanup(gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Waits until n jobs are blocked on the gate (they have left the queue). */
static void gate_wait_blocked(gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    while (g->waiting < n)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

/* Job: blocks until the gate opens. arg: gate * (not owned). */
static void gate_job(void *arg)
{
    gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->waiting++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    g->waiting--;
    pthread_mutex_unlock(&g->mu);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* What counting jobs record. */
typedef struct tally {
    atomic_int ran;
    atomic_int order_next;
    int order[64]; /* job ids in start order (written by one worker at a time) */
    pthread_t main_thread;
    atomic_bool on_main; /* a job ran on the submitting thread */
} tally;

/* A counting job's argument: heap-allocated, owned (freed) by the job. */
typedef struct count_arg {
    tally *t;
    int id;
} count_arg;

static count_arg *count_arg_new(tally *t, int id)
{
    count_arg *a = malloc(sizeof *a);
    assert_non_null(a);
    a->t = t;
    a->id = id;
    return a;
}

static void count_job(void *arg)
{
    count_arg *a = arg;
    tally *t = a->t;
    if (pthread_equal(pthread_self(), t->main_thread)) atomic_store(&t->on_main, true);
    int slot = atomic_fetch_add(&t->order_next, 1);
    if (slot >= 0 && slot < 64) t->order[slot] = a->id;
    atomic_fetch_add(&t->ran, 1);
    free(a);
}

static void tally_init(tally *t)
{
    memset(t, 0, sizeof *t);
    atomic_init(&t->ran, 0);
    atomic_init(&t->order_next, 0);
    atomic_init(&t->on_main, false);
    t->main_thread = pthread_self();
}

/* Submits a counting job, retrying while the queue is full. Returns the final code. */
static int submit_count_retry(core_workpool *p, tally *t, int id)
{
    count_arg *a = count_arg_new(t, id);
    int rc;
    while ((rc = core_workpool_submit(p, count_job, a, NULL)) == CORE_EFULL)
        sched_yield();
    if (rc != CORE_OK) free(a); /* refused: still ours */
    return rc;
}

/* A pool whose `threads` workers are all held by the gate g, with `queued` counting jobs (ids
 * 0..queued-1, recorded in t) waiting behind them. Initialises g and t. */
static core_workpool *held_pool(int threads, size_t cap, int queued, gate *g, tally *t)
{
    tally_init(t);
    gate_init(g);
    core_workpool *p = core_workpool_create(threads, cap);
    assert_non_null(p);
    for (int i = 0; i < threads; i++)
        assert_int_equal(core_workpool_submit(p, gate_job, g, NULL), CORE_OK);
    gate_wait_blocked(g, threads); /* running jobs have left the queue */
    for (int i = 0; i < queued; i++)
        assert_int_equal(core_workpool_submit(p, count_job, count_arg_new(t, i), NULL), CORE_OK);
    return p;
}

/* Waits (up to 2 s) until the process has `n` threads; returns the last count seen. A joined
 * thread can stay counted for a moment after pthread_join returns. */
static int wait_thread_count(int n)
{
    int c = test_thread_count();
    for (int i = 0; i < 200 && c != n; i++) {
        sleep_ms(10);
        c = test_thread_count();
    }
    return c;
}

/* ---- tests ---- */

static void noop_job(void *arg)
{
    (void)arg;
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(core_workpool_create(0, 1));
    assert_null(core_workpool_create(-1, 1));
    assert_null(core_workpool_create(CORE_WORKPOOL_MAX_THREADS + 1, 1));
    assert_null(core_workpool_create(1, 0));
    assert_null(core_workpool_create(1, SIZE_MAX));
    assert_int_equal(core_workpool_submit(NULL, noop_job, NULL, NULL), CORE_EINVAL);
    core_workpool *p = core_workpool_create(1, 1);
    assert_non_null(p);
    assert_int_equal(core_workpool_submit(p, NULL, NULL, NULL), CORE_EINVAL);
    core_workpool_shutdown(NULL);
    core_workpool_destroy(NULL);
    core_workpool_destroy(p);
}

static void test_jobs_run_once_on_workers(void **state)
{
    (void)state;
    tally t;
    tally_init(&t);
    int before = test_thread_count();
    core_workpool *p = core_workpool_create(4, 16);
    assert_non_null(p);
    if (before > 0) assert_int_equal(test_thread_count(), before + 4);
    enum { N = 2000 };
    for (int i = 0; i < N; i++)
        assert_int_equal(submit_count_retry(p, &t, i), CORE_OK);
    core_workpool_destroy(p);
    assert_int_equal(atomic_load(&t.ran), N);
    assert_false(atomic_load(&t.on_main));
    if (before > 0) assert_int_equal(wait_thread_count(before), before);
}

static void test_fifo_with_one_worker(void **state)
{
    (void)state;
    tally t;
    gate g;
    core_workpool *p = held_pool(1, 32, 32, &g, &t);
    gate_open(&g);
    core_workpool_destroy(p);
    assert_int_equal(atomic_load(&t.ran), 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal(t.order[i], i);
    gate_cleanup(&g);
}

static void test_full_queue_refuses(void **state)
{
    (void)state;
    tally t;
    gate g;
    /* two workers held by the gate (running jobs do not count against the queue), then a
     * queue of capacity 3 filled */
    core_workpool *p = held_pool(2, 3, 3, &g, &t);
    count_arg *extra = count_arg_new(&t, 99);
    assert_int_equal(core_workpool_submit(p, count_job, extra, NULL), CORE_EFULL);
    assert_int_equal(core_workpool_submit(p, count_job, extra, NULL), CORE_EFULL);
    assert_int_equal(atomic_load(&t.ran), 0);
    assert_int_equal(extra->id, 99); /* still ours, untouched */
    gate_open(&g);
    /* once the queue has room again it takes jobs */
    int rc;
    while ((rc = core_workpool_submit(p, count_job, extra, NULL)) == CORE_EFULL)
        sched_yield();
    assert_int_equal(rc, CORE_OK);
    core_workpool_destroy(p);
    assert_int_equal(atomic_load(&t.ran), 4);
    gate_cleanup(&g);
}

typedef struct shutdown_arg {
    core_workpool *p;
    tally *t;
    atomic_int *done; /* shutdown calls returned */
    int ran_at_return;
} shutdown_arg;

static void *shutdown_thread(void *arg)
{
    shutdown_arg *s = arg;
    core_workpool_shutdown(s->p);
    s->ran_at_return = atomic_load(&s->t->ran);
    atomic_fetch_add(s->done, 1);
    return NULL;
}

static void test_shutdown_drains(void **state)
{
    (void)state;
    tally t;
    gate g;
    core_workpool *p = held_pool(1, 8, 8, &g, &t); /* the queue is full */

    /* two concurrent shutdowns: both wait for the drain */
    atomic_int done;
    atomic_init(&done, 0);
    shutdown_arg sa[2] = {{p, &t, &done, -1}, {p, &t, &done, -1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, shutdown_thread, &sa[i]), 0);
    /* shutdown has begun once submissions are refused */
    count_arg *late = count_arg_new(&t, 100);
    int rc;
    while ((rc = core_workpool_submit(p, count_job, late, NULL)) == CORE_EFULL)
        sched_yield();
    assert_int_equal(rc, CORE_ESHUTDOWN);
    free(late);
    sleep_ms(50);
    assert_int_equal(atomic_load(&done), 0); /* still blocked by the gated job */
    assert_int_equal(atomic_load(&t.ran), 0);

    gate_open(&g);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(sa[i].ran_at_return, 8); /* every queued job ran first */
    }
    /* idempotent; still refusing */
    core_workpool_shutdown(p);
    count_arg *after = count_arg_new(&t, 101);
    assert_int_equal(core_workpool_submit(p, count_job, after, NULL), CORE_ESHUTDOWN);
    free(after);
    core_workpool_destroy(p);
    assert_int_equal(atomic_load(&t.ran), 8);
    gate_cleanup(&g);
}

typedef struct submitter {
    core_workpool *p;
    tally *t;
    int accepted;
    bool unexpected; /* a code other than OK, EFULL, ESHUTDOWN (no cmocka asserts off main) */
} submitter;

/* Submits until the pool shuts down; counts what was accepted. */
static void *submitter_thread(void *arg)
{
    submitter *s = arg;
    for (int i = 0;; i++) {
        count_arg *a = count_arg_new(s->t, i);
        int rc = core_workpool_submit(s->p, count_job, a, NULL);
        if (rc == CORE_OK) {
            s->accepted++;
            continue;
        }
        free(a);
        if (rc == CORE_ESHUTDOWN) break;
        if (rc != CORE_EFULL) {
            s->unexpected = true;
            break;
        }
        sched_yield();
    }
    return NULL;
}

static void test_shutdown_with_concurrent_submitters(void **state)
{
    (void)state;
    tally t;
    tally_init(&t);
    core_workpool *p = core_workpool_create(3, 4);
    assert_non_null(p);
    enum { S = 4 };
    submitter s[S];
    pthread_t th[S];
    for (int i = 0; i < S; i++) {
        s[i] = (submitter){p, &t, 0, false};
        assert_int_equal(pthread_create(&th[i], NULL, submitter_thread, &s[i]), 0);
    }
    sleep_ms(100);
    core_workpool_shutdown(p);
    int accepted = 0;
    for (int i = 0; i < S; i++) {
        pthread_join(th[i], NULL);
        accepted += s[i].accepted;
        assert_false(s[i].unexpected);
    }
    /* every accepted job ran, and ran before shutdown returned */
    assert_true(accepted > 0);
    assert_int_equal(atomic_load(&t.ran), accepted);
    core_workpool_destroy(p);
    assert_int_equal(atomic_load(&t.ran), accepted);
}

/* A job that submits `depth` more generations of itself. */
typedef struct chain_arg {
    core_workpool *p;
    atomic_int *ran;
    int depth;
} chain_arg;

static void chain_job(void *arg)
{
    chain_arg *c = arg;
    atomic_fetch_add(c->ran, 1);
    if (c->depth > 0) {
        chain_arg *next = malloc(sizeof *next);
        if (next) {
            *next = (chain_arg){c->p, c->ran, c->depth - 1};
            if (core_workpool_submit(c->p, chain_job, next, NULL) != CORE_OK) free(next);
        }
    }
    free(c);
}

static void test_jobs_submit_jobs(void **state)
{
    (void)state;
    atomic_int ran;
    atomic_init(&ran, 0);
    core_workpool *p = core_workpool_create(2, 4);
    assert_non_null(p);
    chain_arg *c = malloc(sizeof *c);
    assert_non_null(c);
    *c = (chain_arg){p, &ran, 20};
    assert_int_equal(core_workpool_submit(p, chain_job, c, NULL), CORE_OK);
    for (int i = 0; i < 500 && atomic_load(&ran) < 21; i++)
        sleep_ms(10);
    assert_int_equal(atomic_load(&ran), 21);
    core_workpool_destroy(p);
}

/* Span propagation: what a job saw. */
typedef struct span_seen {
    tel_span *expect;
    bool match;
    bool end_it; /* the job ends its span (as answering a request does) */
} span_seen;

static void span_job(void *arg)
{
    span_seen *s = arg;
    s->match = tel_span_current() == s->expect;
    if (s->end_it && s->expect) tel_span_end(s->expect);
}

static void test_span_is_current_in_job(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1.0, NULL);
    tel_span *req_span = tel_span_start(tt.tracer, "request", TEL_SPAN_KIND_SERVER, NULL);
    tel_span *other = tel_span_start(tt.tracer, "other", TEL_SPAN_KIND_SERVER, NULL);
    core_workpool *p = core_workpool_create(1, 8);
    assert_non_null(p);
    span_seen seen[4] = {
        {req_span, false, true}, /* current while it runs; ended by the job */
        {NULL, false, false},    /* restored: no current span left behind */
        {other, false, false},
        {NULL, false, false},
    };
    for (int i = 0; i < 4; i++)
        assert_int_equal(core_workpool_submit(p, span_job, &seen[i], seen[i].expect), CORE_OK);
    core_workpool_destroy(p);
    for (int i = 0; i < 4; i++)
        assert_true(seen[i].match);
    assert_null(tel_span_current()); /* the submitting thread's is untouched */
    tel_span_end(other);
    assert_int_equal(test_span_count(tt.mem, "request"), 1);
    test_tracing_cleanup(&tt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_jobs_run_once_on_workers),
        cmocka_unit_test(test_fifo_with_one_worker),
        cmocka_unit_test(test_full_queue_refuses),
        cmocka_unit_test(test_shutdown_drains),
        cmocka_unit_test(test_shutdown_with_concurrent_submitters),
        cmocka_unit_test(test_jobs_submit_jobs),
        cmocka_unit_test(test_span_is_current_in_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
