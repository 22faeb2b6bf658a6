/* Unit tests of the batch engine (batch.c) under the span and log processors: records come out
 * in order and in full batches, a producer the export thread keeps up with reuses a few buffers
 * instead of cycling through the whole queue (which streamed max_queue_size records through the
 * producer's cache), positions go on across 32 bits, and the export thread looks at the queue
 * about once per batch at a steady pace, not more often, and is woken once per batch by a fast
 * producer.
 * ctest-labels: concurrency */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch_internal.h"
#include "under_valgrind.h"

#define QUEUE 2048
#define BATCH 512

typedef struct owner {
    uint64_t slots[BATCH];
    uint64_t next_expected; /* export thread only */
    size_t batches, full_batches, records;
    bool out_of_order;
} owner;

static void o_take(void *ow, void *cell, size_t i)
{
    owner *o = ow;
    memcpy(&o->slots[i], cell, sizeof(uint64_t));
}

static int o_export(void *ow, size_t n, uint64_t deadline_ns)
{
    owner *o = ow;
    (void)deadline_ns;
    for (size_t i = 0; i < n; i++) {
        if (o->slots[i] != o->next_expected)
            o->out_of_order = true;
        o->next_expected = o->slots[i] + 1;
    }
    o->batches++;
    o->full_batches += n == BATCH;
    o->records += n;
    return TEL_OK;
}

static void o_discard(void *ow, size_t n)
{
    (void)ow;
    (void)n;
}

static void o_shutdown(void *ow)
{
    (void)ow;
}

static const tel__batch_ops ops = {
    .take = o_take,
    .export_batch = o_export,
    .discard = o_discard,
    .release_cell = NULL,
    .exporter_flush = NULL,
    .exporter_shutdown = o_shutdown,
};

/* Starts b for owner o (emptied): a queue of `queue` records, batches of BATCH, the schedule
 * delay given, a 1 s export timeout. */
static void batch_start_queue(tel__batch *b, owner *o, uint32_t delay_ms, uint32_t queue)
{
    memset(o, 0, sizeof *o);
    tel__batch_cfg cfg = {queue, BATCH, delay_ms, 1000};
    assert_int_equal(tel__batch_init(b, &cfg, sizeof(uint64_t), &ops, o, "record"), TEL_OK);
}

/* The same with a queue of QUEUE. */
static void batch_start(tel__batch *b, owner *o, uint32_t delay_ms)
{
    batch_start_queue(b, o, delay_ms, QUEUE);
}

/* Queues the record v; returns the buffer it went in. */
static uint32_t publish_value(tel__batch *b, uint64_t v)
{
    uint32_t buf = 0;
    uint64_t *cell = tel__batch_reserve(b, &buf);
    assert_non_null(cell);
    *cell = v;
    tel__batch_publish(b, buf);
    return buf;
}

/* Waits (at most 10 s) until the export thread has taken everything published. */
static bool wait_taken(tel__batch *b)
{
    uint64_t t0 = tel_mono_ns();
    while (atomic_load(&b->dequeue_pos) != atomic_load(&b->enqueue_pos)) {
        if (tel_mono_ns() - t0 > 10000000000ull)
            return false;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return true;
}

static void test_order_full_batches_and_few_buffers(void **state)
{
    (void)state;
    static owner o;
    static tel__batch b;
    batch_start(&b, &o, 60000); /* no scheduled export during the test */
    assert_true(b.wake_at >= 1 && b.wake_at <= BATCH);

    static bool used[QUEUE];
    memset(used, 0, sizeof used);
    size_t distinct = 0;
    uint64_t v = 0;
    const int rounds = 40;
    for (int r = 0; r < rounds; r++) {
        /* wake_at records wake the export thread, which takes them; then the next round. */
        for (uint32_t i = 0; i < b.wake_at; i++) {
            uint32_t buf = publish_value(&b, v++);
            assert_true(buf < QUEUE);
            if (!used[buf]) {
                used[buf] = true;
                distinct++;
            }
        }
        assert_true(wait_taken(&b));
    }
    assert_int_equal(tel__batch_force_flush(&b, 5000), TEL_OK);
    assert_int_equal(tel__batch_shutdown(&b, 5000), TEL_OK);
    printf("%llu records, wake_at %u: %zu distinct buffers of %d, %zu batches (%zu full)\n",
           (unsigned long long)v, b.wake_at, distinct, QUEUE, o.batches, o.full_batches);
    assert_false(o.out_of_order);
    assert_int_equal(o.records, v);
    /* Taken every wake_at records, exported in full batches (the flush exports the rest). */
    assert_int_equal(o.full_batches, v / BATCH);
    /* A ring would have used min(v, QUEUE) cells: here the buffers freed last come back. */
    assert_true(distinct <= 2 * (size_t)b.wake_at);
    tel__batch_stats st;
    tel__batch_get_stats(&b, &st);
    assert_int_equal(st.accepted, v);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.exported, v);
    assert_true(tel__batch_destroy(&b));
}

/* The queue still holds max_queue_size records when the export thread does not take them: a
 * producer running ahead gets every buffer, then drops. */
static void test_capacity_when_not_taken(void **state)
{
    (void)state;
    static owner o;
    static tel__batch b;
    batch_start(&b, &o, 60000);
    /* Hold the export thread off: it cannot return from its wait (nor be woken: wake_pending
     * set keeps publish from taking the lock) while the test holds the lock. */
    pthread_mutex_lock(&b.lock);
    atomic_store(&b.wake_pending, true);
    static bool used[QUEUE];
    memset(used, 0, sizeof used);
    for (uint64_t v = 0; v < QUEUE; v++) {
        uint32_t buf = publish_value(&b, v);
        assert_false(used[buf]);
        used[buf] = true;
    }
    uint32_t buf = 0;
    assert_null(tel__batch_reserve(&b, &buf)); /* every buffer is queued: dropped */
    pthread_mutex_unlock(&b.lock);
    assert_int_equal(tel__batch_force_flush(&b, 5000), TEL_OK);
    assert_int_equal(o.records, QUEUE);
    assert_false(o.out_of_order);
    tel__batch_stats st;
    tel__batch_get_stats(&b, &st);
    assert_int_equal(st.accepted, QUEUE);
    assert_int_equal(st.dropped, 1);
    assert_true(tel__batch_destroy(&b));
}

/* A queue entry keeps its position truncated to 32 bits: a service that has queued 2^32
 * records (a day at 50,000 spans/s) goes on across the wrap, in order, losing nothing. The
 * queue is started just below it, its entries as the lap before would have left them. */
static void test_positions_across_32_bits(void **state)
{
    (void)state;
    if (SIZE_MAX <= UINT32_MAX)
        skip(); /* positions are 32-bit there: nothing to truncate */
    static owner o;
    static tel__batch b;
    batch_start(&b, &o, 60000);
    /* Moved under the lock: the export thread is then either waiting (nothing is queued, no
     * flush asked for) or about to take the lock and look, and reads no position while they
     * change. (Without it, a thread that read the old dequeue position before the store could
     * write it back after: an export thread at its first look, preempted inside drain.) */
    pthread_mutex_lock(&b.lock);
    size_t start = (size_t)UINT32_MAX + 1 - QUEUE - 3;
    for (size_t pos = start; pos < start + QUEUE; pos++)
        atomic_store(&b.ring[pos & b.mask], (uint64_t)(uint32_t)(pos - QUEUE + 1) << 32);
    atomic_store(&b.enqueue_pos, start);
    atomic_store(&b.dequeue_pos, start);
    pthread_mutex_unlock(&b.lock);
    /* Each round is taken by a flush rather than by the export thread's own looks, whose timing
     * is not this test's subject: rounds of wake_at records cross the wrap at different
     * offsets. */
    uint64_t v = 0;
    while (v < 3 * QUEUE) {
        for (uint32_t i = 0; i < b.wake_at; i++)
            publish_value(&b, v++);
        assert_int_equal(tel__batch_force_flush(&b, 5000), TEL_OK);
        assert_int_equal(atomic_load(&b.dequeue_pos), atomic_load(&b.enqueue_pos));
    }
    assert_true(atomic_load(&b.enqueue_pos) > (size_t)UINT32_MAX + QUEUE);
    assert_int_equal(tel__batch_shutdown(&b, 5000), TEL_OK);
    assert_false(o.out_of_order);
    assert_int_equal(o.records, v);
    tel__batch_stats st;
    tel__batch_get_stats(&b, &st);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.exported, v);
    assert_true(tel__batch_destroy(&b));
}

/* Sleeps until tel_mono_ns() reaches t. */
static void sleep_until_ns(uint64_t t)
{
    uint64_t now = tel_mono_ns();
    if (now >= t)
        return;
    struct timespec ts = {(time_t)((t - now) / 1000000000u), (long)((t - now) % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* The export thread looks at the queue when a batch waits, not on its own in between: a producer
 * at a steady 20 records per millisecond for a second wakes it about once per wake_at records
 * (up to 39 times), and it looks about as often. With the earlier rule (back on its own about
 * every 128 records) it looked 154 times and was never woken. The bounds leave room for a slow
 * wake-up on a loaded machine and for wakes a little early (a stale dequeue position). */
static void test_steady_producer_one_look_per_batch(void **state)
{
    (void)state;
    static owner o;
    static tel__batch b;
    batch_start(&b, &o, 60000);
    const uint64_t n = 20000, per_ms = 20;
    uint64_t t0 = tel_mono_ns();
    for (uint64_t v = 0; v < n; v++) {
        publish_value(&b, v);
        if (v % per_ms == per_ms - 1)
            sleep_until_ns(t0 + (v + 1) / per_ms * 1000000u);
    }
    tel__batch_stats st;
    tel__batch_get_stats(&b, &st);
    assert_int_equal(tel__batch_force_flush(&b, 5000), TEL_OK);
    assert_int_equal(tel__batch_shutdown(&b, 5000), TEL_OK);
    printf("%llu records in %.0f ms, wake_at %u: %llu producer wakes, %llu looks\n",
           (unsigned long long)n, (double)(tel_mono_ns() - t0) / 1e6, b.wake_at,
           (unsigned long long)st.producer_wakes, (unsigned long long)st.looks);
    /* Each wake takes the records queued while the thread woke up too, so there are fewer than
     * n / wake_at, the fewer the slower it wakes (38 of 39 here, unloaded). */
    assert_true(st.producer_wakes >= n / b.wake_at / 2);
    assert_true(st.looks <= 2 * (n / b.wake_at));
    assert_false(o.out_of_order);
    assert_int_equal(o.records, n);
    assert_int_equal(st.dropped, 0);
    assert_true(tel__batch_destroy(&b));
}

/* A producer fast enough to queue records while the export thread drains a batch wakes it once
 * per batch, not twice: the thread cleared its wake flag before the drain, and the first record
 * queued during the drain (its position read against the old dequeue position, so the whole
 * batch still seemed to wait) woke it again for a second look at a few records. One record per
 * microsecond, 100 batches: about 100 wakes, 200 with the flag cleared early. The producer
 * busy-waits between records, so the export thread gets a CPU of its own (started pinned to
 * the second allowed CPU, the producer then pinned to the first); skipped with one CPU and
 * under valgrind, which runs one thread at a time. */
static void test_fast_producer_one_wake_per_batch(void **state)
{
    (void)state;
    cpu_set_t allowed, one;
    int cpus[2], nc = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE && nc < 2; c++)
            if (CPU_ISSET(c, &allowed))
                cpus[nc++] = c;
    if (nc < 2 || test_under_valgrind())
        skip();
    static owner o;
    static tel__batch b;
    CPU_ZERO(&one);
    CPU_SET(cpus[1], &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    /* The export thread inherits cpus[1]. A queue of 16,384: room for 15 ms of records beyond
     * a batch, should another process (a parallel test) delay the thread's wake-up. */
    batch_start_queue(&b, &o, 60000, 16384);
    CPU_ZERO(&one);
    CPU_SET(cpus[0], &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    const uint64_t n = 100u * b.wake_at;
    uint64_t t = tel_mono_ns();
    for (uint64_t v = 0; v < n; v++) {
        publish_value(&b, v);
        t += 1000u;
        while (tel_mono_ns() < t)
            ;
    }
    /* The flush takes the rest (fewer than wake_at: no wake), a look of its own. */
    assert_int_equal(tel__batch_force_flush(&b, 5000), TEL_OK);
    assert_int_equal(tel__batch_shutdown(&b, 5000), TEL_OK);
    tel__batch_stats st;
    tel__batch_get_stats(&b, &st);
    printf("%llu records, wake_at %u: %llu producer wakes, %llu looks\n", (unsigned long long)n,
           b.wake_at, (unsigned long long)st.producer_wakes, (unsigned long long)st.looks);
    assert_int_equal(o.records, n);
    assert_int_equal(st.dropped, 0);
    /* A wake a little early now and then (a stale dequeue position read just before the flag
     * was cleared) is allowed for. */
    assert_true(st.producer_wakes <= n / b.wake_at * 5 / 4 + 4);
    assert_true(st.looks <= n / b.wake_at * 5 / 4 + 6);
    assert_true(tel__batch_destroy(&b));
    assert_int_equal(sched_setaffinity(0, sizeof allowed, &allowed), 0);
}

/* A schedule delay of 0 exports a record soon, and an idle export thread does not spin (it did,
 * on a whole CPU: with a deadline always past it never waited). */
static void test_zero_delay_exports_without_spinning(void **state)
{
    (void)state;
    static owner o;
    static tel__batch b;
    batch_start(&b, &o, 0);
    publish_value(&b, 0);
    uint64_t t0 = tel_mono_ns();
    tel__batch_stats st;
    do {
        sleep_until_ns(tel_mono_ns() + 1000000u);
        tel__batch_get_stats(&b, &st);
    } while (st.exported == 0 && tel_mono_ns() - t0 < 5000000000ull);
    assert_int_equal(st.exported, 1); /* without a flush */
    double export_ms = (double)(tel_mono_ns() - t0) / 1e6;
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    sleep_until_ns(tel_mono_ns() + 300000000u);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    printf("exported after %.1f ms; %.1f ms of CPU in 300 ms idle\n", export_ms, cpu * 1e3);
    assert_true(cpu < 0.1);
    assert_int_equal(tel__batch_shutdown(&b, 5000), TEL_OK);
    assert_true(tel__batch_destroy(&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_full_batches_and_few_buffers),
        cmocka_unit_test(test_capacity_when_not_taken),
        cmocka_unit_test(test_positions_across_32_bits),
        cmocka_unit_test(test_steady_producer_one_look_per_batch),
        cmocka_unit_test(test_fast_producer_one_wake_per_batch),
        cmocka_unit_test(test_zero_delay_exports_without_spinning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
