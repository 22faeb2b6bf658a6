/* Unit tests of the fan-out exporter (exporter_fanout.c): every member gets each batch, a
 * failure is reported without keeping the batch from the others, and a member that uses up its
 * time leaves the members after it theirs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "otlp_internal.h"

/* A member: records what it was given; can fail, or take its whole time (until its deadline). */
typedef struct member {
    tel__exporter base;
    int rc;
    bool use_all_time;
    int calls;
    size_t items;
    uint64_t called_ns, deadline_ns;
    bool shut, destroyed;
} member;

static int m_export(tel__exporter *e, const tel__otlp_batch *b, uint64_t deadline_ns)
{
    member *m = (member *)e;
    m->calls++;
    m->items += b->n;
    m->called_ns = tel_mono_ns();
    m->deadline_ns = deadline_ns;
    while (m->use_all_time && tel_mono_ns() < deadline_ns) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return m->rc;
}

static int m_shutdown(tel__exporter *e)
{
    ((member *)e)->shut = true;
    return TEL_OK;
}

static void m_destroy(tel__exporter *e)
{
    ((member *)e)->destroyed = true;
}

static const tel__exporter_ops m_ops = {.export = m_export, .shutdown = m_shutdown,
                                        .destroy = m_destroy};

static void m_init(member *m, int rc, bool slow)
{
    memset(m, 0, sizeof *m);
    m->rc = rc;
    m->use_all_time = slow;
    tel__exporter_bind(&m->base, TEL_OTLP_TRACES, &m_ops);
}

static int export_n(tel__exporter *f, size_t n, uint64_t deadline_ns)
{
    tel__otlp_batch b = {.signal = TEL_OTLP_TRACES, .n = n};
    return f->ops->export(f, &b, deadline_ns);
}

static void test_every_member_gets_the_batch(void **state)
{
    (void)state;
    member a, b, c;
    m_init(&a, TEL_OK, false);
    m_init(&b, TEL_EIO, false);
    m_init(&c, TEL_OK, false);
    tel__exporter *ms[3] = {&a.base, &b.base, &c.base};
    tel__exporter *f = tel__fanout_exporter_create(TEL_OTLP_TRACES, ms, 3);
    assert_non_null(f);
    /* The second fails: reported, and the third still gets the batch. */
    assert_int_equal(export_n(f, 0, tel_mono_ns() + 1000000000ull), TEL_EIO);
    assert_int_equal(a.calls + b.calls + c.calls, 3);
    f->ops->shutdown(f);
    assert_true(a.shut && b.shut && c.shut);
    f->ops->destroy(f);
    assert_true(a.destroyed && b.destroyed && c.destroyed);
    /* One member is no fan-out: the member itself. */
    tel__exporter *one[1] = {&a.base};
    assert_ptr_equal(tel__fanout_exporter_create(TEL_OTLP_TRACES, one, 1), &a.base);
}

/* A first member that retries until its deadline (an unreachable collector) takes half the
 * time, not all of it: the second is called well before the deadline, with time left, and the
 * last gets everything that remains. */
static void test_slow_member_leaves_time_to_the_next(void **state)
{
    (void)state;
    member slow, quick;
    m_init(&slow, TEL_ETIMEDOUT, true);
    m_init(&quick, TEL_OK, false);
    tel__exporter *ms[2] = {&slow.base, &quick.base};
    tel__exporter *f = tel__fanout_exporter_create(TEL_OTLP_TRACES, ms, 2);
    uint64_t t0 = tel_mono_ns();
    uint64_t deadline = t0 + 1000000000ull; /* 1 s */
    assert_int_equal(export_n(f, 0, deadline), TEL_ETIMEDOUT);
    assert_int_equal(quick.calls, 1);
    uint64_t slow_ms = (slow.deadline_ns - t0) / 1000000;
    assert_in_range(slow_ms, 400, 600);
    assert_true(quick.called_ns < deadline);
    assert_true(quick.deadline_ns == deadline);
    assert_true((deadline - quick.called_ns) / 1000000 >= 300);
    f->ops->destroy(f);
}

/* A deadline already past stays past for every member (no share of nothing is invented). */
static void test_past_deadline(void **state)
{
    (void)state;
    member a, b;
    m_init(&a, TEL_OK, false);
    m_init(&b, TEL_OK, false);
    tel__exporter *ms[2] = {&a.base, &b.base};
    tel__exporter *f = tel__fanout_exporter_create(TEL_OTLP_TRACES, ms, 2);
    uint64_t past = tel_mono_ns() - 1;
    export_n(f, 0, past);
    assert_true(a.deadline_ns == past && b.deadline_ns == past);
    f->ops->destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_member_gets_the_batch),
        cmocka_unit_test(test_slow_member_leaves_time_to_the_next),
        cmocka_unit_test(test_past_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
