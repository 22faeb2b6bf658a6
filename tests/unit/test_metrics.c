/* Unit tests of the metrics core: every instrument kind, aggregation, bucket edges, cardinality
 * overflow, exemplar filters, cumulative temporality, observable callbacks, attribute sets,
 * redaction, the disabled SDK and the periodic reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics_test_util.h"
#include "telemetry/redact.h"
#include "telemetry/sampler.h"
#include "telemetry/trace.h"

static const tel_metric *collect(mt_env *e, tel__collection *c, const char *name)
{
    assert_int_equal(tel__collect(e->p, c), TEL_OK);
    return mt_metric(c, name);
}

static void test_counter_int_and_double(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument_opts io = {.unit = "{request}", .description = "Requests.", .value_is_int = true};
    tel_instrument *ci = tel_meter_create(e.m, TEL_INSTR_COUNTER, "http.requests", &io);
    tel_instrument *cd = tel_meter_create(e.m, TEL_INSTR_COUNTER, "bytes.sent",
                                          &(tel_instrument_opts){.unit = "By"});
    assert_true(tel_instrument_enabled(ci));
    tel_attr a[] = {TEL_ATTR_STR("method", "GET")};
    for (int i = 0; i < 10; i++)
        tel_counter_add_int(ci, 3, a, 1);
    tel_counter_add(ci, 2.9, a, 1); /* truncated to 2 on an int counter */
    tel_counter_add_int(ci, -5, a, 1);  /* rejected */
    tel_counter_add(ci, -1.0, a, 1);    /* rejected */
    tel_counter_add(cd, 0.5, NULL, 0);
    tel_counter_add(cd, 0.25, NULL, 0);
    tel_counter_add(cd, NAN, NULL, 0); /* rejected */
    tel_counter_add(cd, -0.25, NULL, 0);
    tel_counter_add_int(cd, 2, NULL, 0);
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "http.requests");
    assert_non_null(m);
    assert_int_equal(m->type, TEL_METRIC_SUM);
    assert_true(m->monotonic);
    assert_int_equal(m->temporality, TEL_TEMPORALITY_CUMULATIVE);
    assert_string_equal(m->unit, "{request}");
    assert_string_equal(m->description, "Requests.");
    assert_string_equal(m->scope_name, "test.scope");
    assert_string_equal(m->scope_version, "0.1");
    assert_int_equal(m->n_points, 1);
    assert_true(m->points[0].is_int);
    assert_int_equal(m->points[0].value.i, 32);
    const tel_metric *md = mt_metric(&c, "bytes.sent");
    assert_non_null(md);
    assert_false(md->points[0].is_int);
    assert_true(md->points[0].value.d == 2.75);
    assert_int_equal(md->points[0].n_attrs, 0);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void test_up_down_counter(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *u = tel_meter_create(e.m, TEL_INSTR_UP_DOWN_COUNTER, "sessions.active",
                                         &(tel_instrument_opts){.value_is_int = true});
    tel_attr a[] = {TEL_ATTR_STR("kind", "vnc")};
    tel_counter_add_int(u, 5, a, 1);
    tel_counter_add_int(u, -7, a, 1);
    tel_counter_add(u, 1.0, a, 1);
    tel_histogram_record(u, 100, a, 1); /* wrong kind: ignored */
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "sessions.active");
    assert_int_equal(m->type, TEL_METRIC_SUM);
    assert_false(m->monotonic);
    assert_int_equal(m->points[0].value.i, -1);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void test_histogram_default_buckets_and_edges(void **state)
{
    (void)state;
    static const double want[] = {0,   5,    10,   25,   50,   75,   100,  250,
                                  500, 750, 1000, 2500, 5000, 7500, 10000};
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "op.duration",
                                         &(tel_instrument_opts){.unit = "ms"});
    /* Every bound itself (le: into that bound's bucket), just above it, below the first. */
    for (size_t i = 0; i < 15; i++) {
        tel_histogram_record(h, want[i], NULL, 0);
        tel_histogram_record(h, nextafter(want[i], INFINITY), NULL, 0);
    }
    tel_histogram_record(h, -3, NULL, 0);
    tel_histogram_record(h, NAN, NULL, 0); /* ignored */
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "op.duration");
    assert_int_equal(m->type, TEL_METRIC_HISTOGRAM);
    assert_int_equal(m->n_bounds, 15);
    for (size_t i = 0; i < 15; i++)
        assert_true(m->bounds[i] == want[i]);
    const tel_metric_point *p = &m->points[0];
    /* bucket 0 (-inf,0]: -3 and 0; bucket i (b[i-1],b[i]]: b[i] and nextafter(b[i-1]); +Inf:
     * nextafter(10000). */
    assert_int_equal(p->bucket_counts[0], 2);
    for (size_t i = 1; i < 15; i++)
        assert_int_equal(p->bucket_counts[i], 2);
    assert_int_equal(p->bucket_counts[15], 1);
    assert_int_equal(p->count, 31);
    assert_true(p->has_min_max);
    assert_true(p->min == -3);
    assert_true(p->max == nextafter(10000, INFINITY));
    double sum = -3;
    for (size_t i = 0; i < 15; i++)
        sum += want[i] + nextafter(want[i], INFINITY);
    assert_true(fabs(p->sum - sum) < 1e-6);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void test_histogram_custom_bounds(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    static const double b[] = {0.1, 0.5, 1};
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "rpc.latency",
                                         &(tel_instrument_opts){.unit = "s", .bounds = b,
                                                                .n_bounds = 3});
    double vals[] = {0.05, 0.1, 0.2, 0.5, 0.7, 1.0, 2.0, 5.0};
    for (size_t i = 0; i < 8; i++)
        tel_histogram_record(h, vals[i], NULL, 0);
    /* Invalid bounds fall back to the defaults; an empty list is a single bucket. */
    static const double bad[] = {1, 1, 2};
    tel_instrument *hb = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "bad.bounds",
                                          &(tel_instrument_opts){.bounds = bad, .n_bounds = 3});
    tel_histogram_record(hb, 1, NULL, 0);
    tel_instrument *h1 = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "one.bucket",
                                          &(tel_instrument_opts){.bounds = b, .n_bounds = 0});
    tel_histogram_record(h1, 42, NULL, 0);
    tel_histogram_record(h1, -42, NULL, 0);
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "rpc.latency");
    assert_int_equal(m->n_bounds, 3);
    const tel_metric_point *p = &m->points[0];
    assert_int_equal(p->bucket_counts[0], 2);
    assert_int_equal(p->bucket_counts[1], 2);
    assert_int_equal(p->bucket_counts[2], 2);
    assert_int_equal(p->bucket_counts[3], 2);
    assert_int_equal(p->count, 8);
    assert_int_equal(mt_metric(&c, "bad.bounds")->n_bounds, 15);
    const tel_metric *m1 = mt_metric(&c, "one.bucket");
    assert_int_equal(m1->n_bounds, 0);
    assert_int_equal(m1->points[0].bucket_counts[0], 2);
    assert_true(m1->points[0].sum == 0);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

/* Many bounds (the first few scanned, the rest searched by halves): every bound lands in its
 * own bucket, a value just above it in the next, one below the first in bucket 0. */
static void test_histogram_many_bounds(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    enum { N = 100 };
    static double b[N];
    for (int i = 0; i < N; i++)
        b[i] = (i + 1) * 0.25;
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "many.bounds",
                                         &(tel_instrument_opts){.bounds = b, .n_bounds = N});
    tel_histogram_record(h, -1, NULL, 0);
    for (int i = 0; i < N; i++) {
        tel_histogram_record(h, b[i], NULL, 0);
        tel_histogram_record(h, nextafter(b[i], 1e9), NULL, 0);
    }
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "many.bounds");
    assert_int_equal(m->n_bounds, N);
    const uint64_t *k = m->points[0].bucket_counts;
    assert_int_equal(k[0], 2); /* -1 and b[0] */
    for (int i = 1; i < N; i++)
        assert_int_equal(k[i], 2); /* just above b[i-1], and b[i] */
    assert_int_equal(k[N], 1); /* just above the last bound */
    assert_int_equal(m->points[0].count, 2 * N + 1);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void test_gauge(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *g = tel_meter_create(e.m, TEL_INSTR_GAUGE, "queue.depth",
                                         &(tel_instrument_opts){.value_is_int = true});
    tel_instrument *gd = tel_meter_create(e.m, TEL_INSTR_GAUGE, "cpu.utilization",
                                          &(tel_instrument_opts){.unit = "1"});
    tel_attr a[] = {TEL_ATTR_STR("queue", "q1")};
    tel_gauge_set_int(g, 7, a, 1);
    tel_gauge_set_int(g, 3, a, 1);
    tel_gauge_set(g, 9.9, NULL, 0);
    tel_gauge_set(gd, 0.25, NULL, 0);
    tel_gauge_set_int(gd, 1, NULL, 0);
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "queue.depth");
    assert_int_equal(m->type, TEL_METRIC_GAUGE);
    assert_int_equal(m->n_points, 2);
    assert_int_equal(mt_point(m, "queue", "q1")->value.i, 3);
    assert_int_equal(mt_point(m, NULL, NULL)->value.i, 9);
    const tel_metric *md = mt_metric(&c, "cpu.utilization");
    assert_true(md->points[0].value.d == 1.0);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

typedef struct obs_state {
    int calls;
    int64_t total;
    bool second_set;
} obs_state;

static void observe_counter(tel_observer *obs, void *ud)
{
    obs_state *s = ud;
    s->calls++;
    s->total += 10;
    tel_attr a[] = {TEL_ATTR_STR("cpu", "0")};
    tel_observe_int(obs, s->total, a, 1);
    if (s->second_set) {
        tel_attr b[] = {TEL_ATTR_STR("cpu", "1")};
        tel_observe_int(obs, 1, b, 1);
        tel_observe_int(obs, 5, b, 1); /* last observation of a set wins */
    }
}

static void observe_gauge(tel_observer *obs, void *ud)
{
    (void)ud;
    tel_observe_double(obs, 36.6, NULL, 0);
}

static void observe_udc(tel_observer *obs, void *ud)
{
    (void)ud;
    tel_observe_int(obs, -4, NULL, 0);
}

static void test_observable_instruments(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_ON);
    obs_state os = {0};
    tel_instrument *oc = tel_meter_create_observable(
        e.m, TEL_INSTR_OBSERVABLE_COUNTER, "cpu.time", &(tel_instrument_opts){.value_is_int = true},
        observe_counter, &os);
    tel_meter_create_observable(e.m, TEL_INSTR_OBSERVABLE_GAUGE, "temperature", NULL,
                                observe_gauge, NULL);
    tel_meter_create_observable(e.m, TEL_INSTR_OBSERVABLE_UP_DOWN_COUNTER, "balance",
                                &(tel_instrument_opts){.value_is_int = true}, observe_udc, NULL);
    /* Recording calls on an observable instrument do nothing; a missing callback is a no-op. */
    tel_counter_add_int(oc, 100, NULL, 0);
    assert_false(tel_instrument_enabled(
        tel_meter_create_observable(e.m, TEL_INSTR_OBSERVABLE_GAUGE, "nocb", NULL, NULL, NULL)));
    assert_false(tel_instrument_enabled(tel_meter_create(e.m, TEL_INSTR_OBSERVABLE_GAUGE, "x", NULL)));

    os.second_set = true;
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "cpu.time");
    assert_int_equal(os.calls, 1);
    assert_int_equal(m->type, TEL_METRIC_SUM);
    assert_true(m->monotonic);
    assert_int_equal(m->n_points, 2);
    assert_int_equal(mt_point(m, "cpu", "0")->value.i, 10);
    assert_int_equal(mt_point(m, "cpu", "1")->value.i, 5);
    assert_int_equal(mt_point(m, "cpu", "0")->n_exemplars, 0);
    const tel_metric *t = mt_metric(&c, "temperature");
    assert_int_equal(t->type, TEL_METRIC_GAUGE);
    assert_true(t->points[0].value.d == 36.6);
    const tel_metric *b = mt_metric(&c, "balance");
    assert_false(b->monotonic);
    assert_int_equal(b->points[0].value.i, -4);
    tel__collection_free(&c);

    /* The next collection reports only the sets observed by that callback. */
    os.second_set = false;
    m = collect(&e, &c, "cpu.time");
    assert_int_equal(os.calls, 2);
    assert_int_equal(m->n_points, 1);
    assert_int_equal(mt_point(m, "cpu", "0")->value.i, 20);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void test_cumulative_temporality_stable_start(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *c1 = tel_meter_create(e.m, TEL_INSTR_COUNTER, "events",
                                          &(tel_instrument_opts){.value_is_int = true});
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "sizes", NULL);
    tel_counter_add_int(c1, 1, NULL, 0);
    tel_histogram_record(h, 7, NULL, 0);
    tel__collection a, b;
    assert_int_equal(tel__collect(e.p, &a), TEL_OK);
    usleep(2000);
    tel_counter_add_int(c1, 2, NULL, 0);
    tel_histogram_record(h, 8, NULL, 0);
    assert_int_equal(tel__collect(e.p, &b), TEL_OK);
    const tel_metric *ma = mt_metric(&a, "events"), *mb = mt_metric(&b, "events");
    assert_int_equal(ma->points[0].value.i, 1);
    assert_int_equal(mb->points[0].value.i, 3); /* cumulative: not reset by collection */
    assert_true(ma->points[0].start_ns == mb->points[0].start_ns);
    assert_true(ma->points[0].start_ns <= ma->points[0].time_ns);
    assert_true(mb->points[0].time_ns > ma->points[0].time_ns);
    const tel_metric *ha = mt_metric(&a, "sizes"), *hb = mt_metric(&b, "sizes");
    assert_int_equal(ha->points[0].count, 1);
    assert_int_equal(hb->points[0].count, 2);
    assert_true(hb->points[0].sum == 15);
    assert_true(ha->points[0].start_ns == hb->points[0].start_ns);
    assert_int_equal(hb->temporality, TEL_TEMPORALITY_CUMULATIVE);
    tel__collection_free(&a);
    tel__collection_free(&b);
    mt_cleanup(&e);
}

static void test_attribute_order_independence(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *c1 = tel_meter_create(e.m, TEL_INSTR_COUNTER, "ops",
                                          &(tel_instrument_opts){.value_is_int = true});
    tel_attr ab[] = {TEL_ATTR_STR("a", "1"), TEL_ATTR_INT64("b", 2), TEL_ATTR_BOOLEAN("c", true)};
    tel_attr ba[] = {TEL_ATTR_BOOLEAN("c", true), TEL_ATTR_INT64("b", 2), TEL_ATTR_STR("a", "1")};
    /* The same key text at other addresses, and a value in a temporary buffer. */
    char ka[] = "a", kb[] = "b", kc[] = "c", val[] = "1";
    tel_attr dyn[] = {{.key = kb, .type = TEL_ATTR_INT, .v.i = 2},
                      {.key = ka, .type = TEL_ATTR_STRING, .len = 1, .v.s = val},
                      {.key = kc, .type = TEL_ATTR_BOOL, .v.b = true}};
    tel_counter_add_int(c1, 1, ab, 3);
    tel_counter_add_int(c1, 1, ba, 3);
    tel_counter_add_int(c1, 1, dyn, 3);
    /* A repeated key keeps its last value: {a=1,b=2,c=true} once more. */
    tel_attr rep[] = {TEL_ATTR_STR("a", "zzz"), TEL_ATTR_INT64("b", 2), TEL_ATTR_STR("a", "1"),
                      TEL_ATTR_BOOLEAN("c", true)};
    tel_counter_add_int(c1, 1, rep, 4);
    /* Different type, same text: another set. */
    tel_attr other[] = {TEL_ATTR_STR("a", "1"), TEL_ATTR_DBL("b", 2.0), TEL_ATTR_BOOLEAN("c", true)};
    tel_counter_add_int(c1, 10, other, 3);
    /* Invalid keys are dropped: {a=1} and {a=1, NULL=..} are one set. */
    tel_attr one[] = {TEL_ATTR_STR("a", "1")};
    tel_attr with_null[] = {TEL_ATTR_STR("a", "1"), {.key = NULL, .type = TEL_ATTR_INT}};
    tel_counter_add_int(c1, 100, one, 1);
    tel_counter_add_int(c1, 100, with_null, 2);
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "ops");
    assert_int_equal(m->n_points, 3);
    int64_t seen = 0;
    for (size_t i = 0; i < m->n_points; i++) {
        const tel_metric_point *p = &m->points[i];
        if (p->n_attrs == 3 && mt_attr(p, "b")->type == TEL_ATTR_INT)
            assert_int_equal(p->value.i, 4), seen |= 1;
        else if (p->n_attrs == 3)
            assert_int_equal(p->value.i, 10), seen |= 2;
        else
            assert_int_equal(p->value.i, 200), seen |= 4;
    }
    assert_int_equal(seen, 7);
    /* Stored copies do not point into the caller's buffers. */
    const tel_attr *a = mt_attr(&m->points[0], "a");
    assert_ptr_not_equal(a->v.s, val);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void test_attribute_value_types(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *c1 = tel_meter_create(e.m, TEL_INSTR_COUNTER, "typed",
                                          &(tel_instrument_opts){.value_is_int = true});
    const char *strs[] = {"x", "y"};
    int64_t ints[] = {1, 2, 3};
    tel_attr arr[] = {{.key = "s", .type = TEL_ATTR_STRING_ARRAY, .len = 2, .v.arr = strs},
                      {.key = "i", .type = TEL_ATTR_INT_ARRAY, .len = 3, .v.arr = ints}};
    tel_counter_add_int(c1, 1, arr, 2);
    const char *strs2[] = {"x", "y"};
    int64_t ints2[] = {1, 2, 3};
    tel_attr arr2[] = {{.key = "i", .type = TEL_ATTR_INT_ARRAY, .len = 3, .v.arr = ints2},
                       {.key = "s", .type = TEL_ATTR_STRING_ARRAY, .len = 2, .v.arr = strs2}};
    tel_counter_add_int(c1, 1, arr2, 2);
    ints2[2] = 4;
    tel_counter_add_int(c1, 1, arr2, 2);
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "typed");
    assert_int_equal(m->n_points, 2);
    assert_int_equal(m->points[0].value.i, 2);
    const tel_attr *s = mt_attr(&m->points[0], "s");
    assert_string_equal(((const char *const *)s->v.arr)[1], "y");
    assert_ptr_not_equal(s->v.arr, strs);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void test_redaction(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *c1 = tel_meter_create(e.m, TEL_INSTR_COUNTER, "logins",
                                          &(tel_instrument_opts){.value_is_int = true});
    char secret[32];
    for (int i = 0; i < 5; i++) {
        snprintf(secret, sizeof secret, "hunter%d", i);
        tel_attr a[] = {TEL_ATTR_STR("user", "bob"),
                        {.key = "user.password", .type = TEL_ATTR_STRING,
                         .len = (uint32_t)strlen(secret), .v.s = secret},
                        TEL_ATTR_INT64("api_token", 1234)};
        tel_counter_add_int(c1, 1, a, 3);
    }
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "logins");
    assert_int_equal(m->n_points, 1); /* every secret value falls into one redacted set */
    assert_int_equal(m->points[0].value.i, 5);
    const tel_attr *pw = mt_attr(&m->points[0], "user.password");
    assert_int_equal(pw->type, TEL_ATTR_STRING);
    assert_string_equal(pw->v.s, TEL_REDACTED);
    assert_string_equal(mt_attr(&m->points[0], "api_token")->v.s, TEL_REDACTED);
    assert_string_equal(mt_attr(&m->points[0], "user")->v.s, "bob");
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void test_cardinality_overflow(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 5, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *c1 = tel_meter_create(e.m, TEL_INSTR_COUNTER, "per.user",
                                          &(tel_instrument_opts){.value_is_int = true});
    /* The overflow set recorded explicitly is the overflow point, not an ordinary set. */
    char okey[] = "otel.metric.overflow";
    tel_attr explicit_ovf[] = {{.key = okey, .type = TEL_ATTR_BOOL, .v.b = true}};
    tel_counter_add_int(c1, 1000, explicit_ovf, 1);
    char v[16];
    for (int i = 0; i < 12; i++) {
        snprintf(v, sizeof v, "u%d", i);
        tel_attr a[] = {{.key = "user", .type = TEL_ATTR_STRING, .len = (uint32_t)strlen(v),
                         .v.s = v}};
        tel_counter_add_int(c1, 1, a, 1);
    }
    /* Sets seen before the overflow keep their own points. */
    tel_attr u0[] = {TEL_ATTR_STR("user", "u0")};
    tel_counter_add_int(c1, 100, u0, 1);
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "per.user");
    assert_int_equal(m->n_points, 6);
    assert_int_equal(mt_point(m, "user", "u0")->value.i, 101);
    assert_non_null(mt_point(m, "user", "u4"));
    assert_null(mt_point(m, "user", "u5"));
    const tel_metric_point *ovf = NULL;
    int64_t total = 0;
    for (size_t i = 0; i < m->n_points; i++) {
        total += m->points[i].value.i;
        const tel_attr *a = mt_attr(&m->points[i], "otel.metric.overflow");
        if (a) {
            assert_int_equal(a->type, TEL_ATTR_BOOL);
            assert_true(a->v.b);
            assert_int_equal(m->points[i].n_attrs, 1);
            ovf = &m->points[i];
        }
    }
    assert_non_null(ovf);
    assert_int_equal(ovf->value.i, 1007); /* the explicit 1000, then u5..u11 */
    assert_int_equal(total, 1112);        /* nothing dropped, nothing counted twice */
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void test_cardinality_default_limit(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "big", NULL);
    for (int64_t i = 0; i < 2100; i++) {
        tel_attr a[] = {TEL_ATTR_INT64("id", i)};
        tel_histogram_record(h, 1, a, 1);
    }
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "big");
    assert_int_equal(m->n_points, 2001);
    uint64_t count = 0, ovf = 0;
    for (size_t i = 0; i < m->n_points; i++) {
        count += m->points[i].count;
        if (mt_attr(&m->points[i], "otel.metric.overflow"))
            ovf = m->points[i].count;
    }
    assert_int_equal(count, 2100);
    assert_int_equal(ovf, 100);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void exemplar_round(tel_exemplar_filter f, bool in_span, bool sampled, int want)
{
    mt_env e;
    mt_init(&e, 0, f);
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "ex.hist", NULL);
    tel_instrument *c1 = tel_meter_create(e.m, TEL_INSTR_COUNTER, "ex.count",
                                          &(tel_instrument_opts){.value_is_int = true});
    tel_tracer_provider_config tc = {0};
    tc.has_sampler = true;
    tel_sampler_init(&tc.sampler, sampled ? TEL_SAMPLER_ALWAYS_ON : TEL_SAMPLER_ALWAYS_OFF, 1);
    tc.resource = tel_resource_create(NULL, 0);
    tel_tracer_provider *tp = tel_tracer_provider_create(&tc);
    tel_tracer *t = tel_tracer_get(tp, "ex", NULL);
    tel_span *s = NULL, *prev = NULL;
    if (in_span) {
        s = tel_span_start(t, "work", TEL_SPAN_KIND_INTERNAL, NULL);
        prev = tel_span_set_current(s);
    }
    uint64_t before = tel_now_ns();
    tel_histogram_record(h, 3, NULL, 0);   /* bucket (0,5] */
    tel_histogram_record(h, 4, NULL, 0);   /* same bucket: one of the two stays */
    tel_histogram_record(h, 300, NULL, 0); /* bucket (250,500] */
    tel_counter_add_int(c1, 5, NULL, 0);
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "ex.hist");
    const tel_metric_point *p = &m->points[0];
    const tel_metric_point *cp = &mt_metric(&c, "ex.count")->points[0];
    assert_int_equal(p->n_exemplars, want ? 2 : 0);
    assert_int_equal(cp->n_exemplars, want ? 1 : 0);
    if (want) {
        tel_span_context sc;
        memset(&sc, 0, sizeof sc);
        if (in_span)
            sc = tel_span_get_context(s);
        const tel_exemplar *x = &p->exemplars[0];
        assert_false(x->is_int);
        assert_true(x->value.d == 3 || x->value.d == 4);
        assert_true(p->exemplars[1].value.d == 300);
        assert_true(x->time_ns >= before - 1000000 && x->time_ns <= tel_now_ns() + 1000000);
        assert_int_equal(x->has_span, in_span);
        assert_int_equal(cp->exemplars[0].has_span, in_span);
        assert_true(cp->exemplars[0].is_int);
        assert_int_equal(cp->exemplars[0].value.i, 5);
        if (in_span) {
            assert_memory_equal(x->trace_id, sc.trace_id, TEL_TRACE_ID_SIZE);
            assert_memory_equal(x->span_id, sc.span_id, TEL_SPAN_ID_SIZE);
            assert_memory_equal(cp->exemplars[0].trace_id, sc.trace_id, TEL_TRACE_ID_SIZE);
        }
    }
    tel__collection_free(&c);
    if (in_span) {
        tel_span_set_current(prev);
        tel_span_end(s);
    }
    tel_tracer_provider_destroy(tp);
    mt_cleanup(&e);
}

/* A bucket's exemplar is a uniform pick of the measurements since the last collection: four
 * values in one bucket, kept about equally often over many intervals; the first measurement
 * after a collection always replaces the old exemplar. */
static void test_exemplar_reservoir_uniform(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_ON);
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "ex.uniform", NULL);
    tel__collection c;
    int kept[5] = {0};
    const int rounds = 2000;
    for (int r = 0; r < rounds; r++) {
        for (int v = 1; v <= 4; v++)
            tel_histogram_record(h, v, NULL, 0); /* all in (0,5] */
        const tel_metric *m = collect(&e, &c, "ex.uniform");
        assert_int_equal(m->points[0].n_exemplars, 1);
        double v = m->points[0].exemplars[0].value.d;
        assert_true(v >= 1 && v <= 4);
        kept[(int)v]++;
        tel__collection_free(&c);
    }
    /* Binomial(2000, 1/4): mean 500, sd 19.4; keeping the last (or first) would give 2000. */
    for (int v = 1; v <= 4; v++)
        assert_in_range(kept[v], 380, 620);
    tel_histogram_record(h, 2.5, NULL, 0); /* first of a new interval: replaces */
    const tel_metric *m = collect(&e, &c, "ex.uniform");
    assert_true(m->points[0].exemplars[0].value.d == 2.5);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

/* The reservoirs over long intervals, where most measurements are skipped without a draw: 1000
 * measurements per interval into one histogram bucket and one sum, the exemplar's position in
 * its interval falls in each quarter about equally often (a skip that ran too short would favour
 * the last quarter, one that ran too long or never restarted the first), and the two reservoirs
 * pick independently. */
static void test_exemplar_reservoir_long_intervals(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_ON);
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "ex.long.h", NULL);
    tel_instrument *sum = tel_meter_create(e.m, TEL_INSTR_COUNTER, "ex.long.s",
                                           &(tel_instrument_opts){.value_is_int = true});
    tel__collection c;
    enum { N = 1000, ROUNDS = 2000 };
    int hq[4] = {0}, sq[4] = {0}, same = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) {
            tel_histogram_record(h, 1.0 + i / 1000.0, NULL, 0); /* all in (0, 5] */
            tel_counter_add_int(sum, i + 1, NULL, 0);
        }
        const tel_metric *m = collect(&e, &c, "ex.long.h");
        assert_int_equal(m->points[0].n_exemplars, 1);
        int hi = (int)lround((m->points[0].exemplars[0].value.d - 1.0) * 1000.0);
        assert_in_range(hi, 0, N - 1);
        hq[hi * 4 / N]++;
        m = mt_metric(&c, "ex.long.s");
        assert_int_equal(m->points[0].n_exemplars, 1);
        int64_t si = m->points[0].exemplars[0].value.i - 1;
        assert_in_range(si, 0, N - 1);
        sq[si * 4 / N]++;
        same += si == hi;
        tel__collection_free(&c);
    }
    /* Binomial(2000, 1/4): mean 500, sd 19.4. */
    for (int q = 0; q < 4; q++) {
        assert_in_range(hq[q], 400, 600);
        assert_in_range(sq[q], 400, 600);
    }
    assert_true(same < 20); /* independent: about 2 of 2000 expected */
    mt_cleanup(&e);
}

/* An instrument created with no_exemplars keeps none under the always_on filter, while the
 * same provider's other instruments do; the option is not part of the identity. */
static void test_no_exemplars_option(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_ON);
    tel_instrument_opts quiet = {.value_is_int = true, .no_exemplars = true};
    tel_instrument *q = tel_meter_create(e.m, TEL_INSTR_UP_DOWN_COUNTER, "ex.quiet", &quiet);
    tel_instrument *l = tel_meter_create(e.m, TEL_INSTR_UP_DOWN_COUNTER, "ex.loud",
                                         &(tel_instrument_opts){.value_is_int = true});
    tel_instrument *hq = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "ex.quiet.h",
                                          &(tel_instrument_opts){.no_exemplars = true});
    /* Identical but for the option: the same instrument. */
    assert_ptr_equal(tel_meter_create(e.m, TEL_INSTR_UP_DOWN_COUNTER, "ex.quiet",
                                      &(tel_instrument_opts){.value_is_int = true}),
                     q);
    tel_bound_attrs *b = tel_instrument_bind(q, NULL, 0);
    assert_non_null(b);
    for (int i = 0; i < 3; i++) {
        tel_counter_add_int(q, 1, NULL, 0);
        tel_counter_add_int_bound(q, b, -1);
        tel_counter_add_int(l, 1, NULL, 0);
        tel_histogram_record(hq, 0.5, NULL, 0);
    }
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "ex.quiet");
    assert_int_equal(m->points[0].value.i, 0);
    assert_int_equal(m->points[0].n_exemplars, 0);
    assert_int_equal(mt_metric(&c, "ex.loud")->points[0].n_exemplars, 1);
    const tel_metric *h = mt_metric(&c, "ex.quiet.h");
    assert_int_equal(h->points[0].count, 3);
    assert_int_equal(h->points[0].n_exemplars, 0);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

/* A sum's exemplar is a uniform pick too (SimpleFixedSizeExemplarReservoir of one): four adds
 * per interval kept about equally often, the first add of an interval always replaces; under the
 * trace based filter, adds without a sampled span are not offered (they neither replace the
 * exemplar nor count towards the draw). */
static void test_exemplar_sum_reservoir(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_ON);
    tel_instrument *c1 = tel_meter_create(e.m, TEL_INSTR_UP_DOWN_COUNTER, "ex.sum",
                                          &(tel_instrument_opts){.value_is_int = true});
    tel_bound_attrs *b = tel_instrument_bind(c1, NULL, 0);
    assert_non_null(b);
    tel__collection c;
    int kept[5] = {0};
    const int rounds = 2000;
    for (int r = 0; r < rounds; r++) {
        for (int v = 1; v <= 4; v++)
            tel_counter_add_int_bound(c1, b, v);
        const tel_metric *m = collect(&e, &c, "ex.sum");
        assert_int_equal(m->points[0].n_exemplars, 1);
        int64_t v = m->points[0].exemplars[0].value.i;
        assert_true(v >= 1 && v <= 4);
        kept[v]++;
        tel__collection_free(&c);
    }
    for (int v = 1; v <= 4; v++) /* Binomial(2000, 1/4); keep-last would give 2000 for 4 */
        assert_in_range(kept[v], 380, 620);
    tel_counter_add_int(c1, -7, NULL, 0);
    const tel_metric *m = collect(&e, &c, "ex.sum");
    assert_int_equal(m->points[0].exemplars[0].value.i, -7);
    tel__collection_free(&c);
    mt_cleanup(&e);

    /* Trace based: one add in a sampled span among many without; it is the one kept. */
    mt_init(&e, 0, TEL_EXEMPLAR_TRACE_BASED);
    tel_instrument *c2 = tel_meter_create(e.m, TEL_INSTR_COUNTER, "ex.sum2",
                                          &(tel_instrument_opts){.value_is_int = true});
    tel_tracer_provider_config tc = {0};
    tc.has_sampler = true;
    tel_sampler_init(&tc.sampler, TEL_SAMPLER_ALWAYS_ON, 0);
    tel_tracer_provider *tp = tel_tracer_provider_create(&tc);
    tel_tracer *t = tel_tracer_get(tp, "t", NULL);
    for (int r = 0; r < 50; r++) {
        for (int i = 0; i < 20; i++)
            tel_counter_add_int(c2, 1, NULL, 0);
        tel_span *s = tel_span_start(t, "work", TEL_SPAN_KIND_INTERNAL, NULL);
        tel_span *prev = tel_span_set_current(s);
        tel_counter_add_int(c2, 2, NULL, 0);
        tel_span_context sc = tel_span_get_context(s);
        tel_span_set_current(prev);
        tel_span_end(s);
        for (int i = 0; i < 20; i++)
            tel_counter_add_int(c2, 1, NULL, 0);
        m = collect(&e, &c, "ex.sum2");
        assert_int_equal(m->points[0].n_exemplars, 1);
        assert_int_equal(m->points[0].exemplars[0].value.i, 2);
        assert_memory_equal(m->points[0].exemplars[0].span_id, sc.span_id, TEL_SPAN_ID_SIZE);
        tel__collection_free(&c);
    }
    tel_tracer_provider_destroy(tp);
    mt_cleanup(&e);
}

/* tel_histogram_record_bound_at: the exemplar takes the given span and time, not the current
 * span (there is none here) nor the clock; the trace based filter judges the given span. */
static void test_exemplar_explicit_span(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_TRACE_BASED);
    tel_instrument *h = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "ex.at", NULL);
    tel_bound_attrs *b = tel_instrument_bind(h, NULL, 0);
    assert_non_null(b);
    tel_span_context sc;
    memset(&sc, 0, sizeof sc);
    for (int i = 0; i < 16; i++)
        sc.trace_id[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 8; i++)
        sc.span_id[i] = (uint8_t)(0xa0 + i);
    sc.flags = TEL_FLAG_SAMPLED;
    assert_null(tel_span_current());
    tel_histogram_record_bound_at(h, b, 3, &sc, 1234567890123ull);
    tel_span_context unsampled = sc;
    unsampled.flags = 0;
    tel_histogram_record_bound_at(h, b, 300, &unsampled, 42); /* filtered out */
    tel_histogram_record_bound_at(h, b, 600, NULL, 43);       /* no span: filtered out */
    tel__collection c;
    const tel_metric *m = collect(&e, &c, "ex.at");
    const tel_metric_point *p = &m->points[0];
    assert_int_equal(p->count, 3);
    assert_int_equal(p->n_exemplars, 1);
    assert_true(p->exemplars[0].value.d == 3);
    assert_true(p->exemplars[0].has_span);
    assert_int_equal(p->exemplars[0].time_ns, 1234567890123ull);
    assert_memory_equal(p->exemplars[0].trace_id, sc.trace_id, TEL_TRACE_ID_SIZE);
    assert_memory_equal(p->exemplars[0].span_id, sc.span_id, TEL_SPAN_ID_SIZE);
    tel__collection_free(&c);
    mt_cleanup(&e);
}

static void test_exemplar_filters(void **state)
{
    (void)state;
    exemplar_round(TEL_EXEMPLAR_TRACE_BASED, true, true, 1);
    exemplar_round(TEL_EXEMPLAR_TRACE_BASED, true, false, 0); /* span not sampled */
    exemplar_round(TEL_EXEMPLAR_TRACE_BASED, false, true, 0); /* no current span */
    exemplar_round(TEL_EXEMPLAR_ALWAYS_ON, false, true, 1);
    exemplar_round(TEL_EXEMPLAR_ALWAYS_ON, true, true, 1);
    exemplar_round(TEL_EXEMPLAR_ALWAYS_OFF, true, true, 0);
}

static int env_filter_exemplars(const char *value)
{
    if (value)
        setenv("OTEL_METRICS_EXEMPLAR_FILTER", value, 1);
    else
        unsetenv("OTEL_METRICS_EXEMPLAR_FILTER");
    tel_resource *r = tel_resource_create(NULL, 0);
    tel_meter_provider_config cfg = {.resource = r};
    tel_meter_provider *p = tel_meter_provider_create(&cfg);
    tel_instrument *c1 = tel_meter_create(tel_meter_get(p, "env", NULL), TEL_INSTR_COUNTER, "c",
                                          NULL);
    tel_counter_add(c1, 1, NULL, 0);
    tel__collection c;
    assert_int_equal(tel__collect(p, &c), TEL_OK);
    int n = (int)c.metrics[0].points[0].n_exemplars;
    tel__collection_free(&c);
    tel_meter_provider_destroy(p);
    tel_resource_destroy(r);
    unsetenv("OTEL_METRICS_EXEMPLAR_FILTER");
    return n;
}

static void test_exemplar_filter_from_env(void **state)
{
    (void)state;
    assert_int_equal(env_filter_exemplars(NULL), 0);          /* trace_based, no span */
    assert_int_equal(env_filter_exemplars("always_on"), 1);
    assert_int_equal(env_filter_exemplars(" ALWAYS_ON "), 1);
    assert_int_equal(env_filter_exemplars("always_off"), 0);
    assert_int_equal(env_filter_exemplars("trace_based"), 0);
    assert_int_equal(env_filter_exemplars("bogus"), 0);       /* warns, trace_based */
}

static void test_disabled_provider(void **state)
{
    (void)state;
    tel_meter_provider_config cfg = {.disabled = true};
    tel_meter_provider *p = tel_meter_provider_create(&cfg);
    assert_non_null(p);
    tel_meter *m = tel_meter_get(p, "x", "1");
    tel_instrument *c1 = tel_meter_create(m, TEL_INSTR_COUNTER, "c", NULL);
    assert_false(tel_instrument_enabled(c1));
    tel_counter_add(c1, 1, NULL, 0);
    tel_histogram_record(tel_meter_create(m, TEL_INSTR_HISTOGRAM, "h", NULL), 1, NULL, 0);
    assert_int_equal(tel_meter_provider_collect(p, NULL, NULL), TEL_EINVAL);
    mt_exporter x;
    mt_exporter_init(&x, NULL, false);
    assert_int_equal(tel_meter_provider_add_periodic_reader(p, &x.base, 10, 10), TEL_EDISABLED);
    assert_int_equal(atomic_load(&x.destroyed), 1);
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_prometheus_render(p, false, &b), TEL_OK);
    assert_int_equal(b.len, 0);
    tel_buf_free(&b);
    tel_meter_provider_destroy(p);

    setenv("OTEL_SDK_DISABLED", "true", 1);
    p = tel_meter_provider_create(NULL);
    assert_false(tel_instrument_enabled(
        tel_meter_create(tel_meter_get(p, "x", NULL), TEL_INSTR_GAUGE, "g", NULL)));
    tel_meter_provider_destroy(p);
    unsetenv("OTEL_SDK_DISABLED");
    /* NULL meter / provider: no-ops, no crash. */
    tel_counter_add(tel_meter_create(NULL, TEL_INSTR_COUNTER, "c", NULL), 1, NULL, 0);
    assert_false(tel_instrument_enabled(tel_meter_create(tel_meter_get(NULL, "a", NULL),
                                                         TEL_INSTR_COUNTER, "c", NULL)));
}

static void test_instrument_identity_and_names(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument_opts o = {.unit = "s", .description = "d"};
    tel_instrument *a = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "req.time", &o);
    assert_ptr_equal(tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "req.time", &o), a);
    assert_ptr_equal(tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "REQ.Time", &o), a);
    tel_instrument *b = tel_meter_create(e.m, TEL_INSTR_HISTOGRAM, "req.time",
                                         &(tel_instrument_opts){.unit = "ms"});
    assert_true(tel_instrument_enabled(b));
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(tel_meter_get(e.p, "test.scope", "0.1"), e.m);
    assert_ptr_not_equal(tel_meter_get(e.p, "test.scope", "0.2"), e.m);
    assert_ptr_not_equal(tel_meter_create(tel_meter_get(e.p, "other", NULL), TEL_INSTR_HISTOGRAM,
                                          "req.time", &o),
                         a);
    const char *bad[] = {"", "1abc", "a b", "_x", "é", "a*b", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(tel_instrument_enabled(tel_meter_create(e.m, TEL_INSTR_COUNTER, bad[i], NULL)));
    char longname[300];
    memset(longname, 'a', sizeof longname);
    longname[255] = '\0';
    assert_true(tel_instrument_enabled(tel_meter_create(e.m, TEL_INSTR_COUNTER, longname, NULL)));
    longname[255] = 'a';
    longname[256] = '\0';
    assert_false(tel_instrument_enabled(tel_meter_create(e.m, TEL_INSTR_COUNTER, longname, NULL)));
    assert_true(tel_instrument_enabled(
        tel_meter_create(e.m, TEL_INSTR_COUNTER, "Ok_name-1.2/x", NULL)));
    assert_false(tel_instrument_enabled(tel_meter_create(e.m, (tel_instrument_kind)99, "k", NULL)));
    mt_cleanup(&e);
}

static void test_periodic_reader(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *c1 = tel_meter_create(e.m, TEL_INSTR_COUNTER, "ticks",
                                          &(tel_instrument_opts){.value_is_int = true});
    mt_exporter x;
    mt_exporter_init(&x, "ticks", false);
    assert_int_equal(tel_meter_provider_add_periodic_reader(e.p, &x.base, 20, 1000), TEL_OK);
    usleep(100000);
    assert_int_equal(atomic_load(&x.exports), 0); /* nothing recorded: nothing exported */
    tel_counter_add_int(c1, 5, NULL, 0);
    for (int i = 0; i < 200 && atomic_load(&x.exports) < 3; i++)
        usleep(10000);
    assert_true(atomic_load(&x.exports) >= 3);
    assert_int_equal(atomic_load(&x.last_value), 5);
    tel_counter_add_int(c1, 1, NULL, 0);
    int before = atomic_load(&x.exports);
    assert_int_equal(tel_meter_provider_force_flush(e.p, 2000), TEL_OK);
    assert_true(atomic_load(&x.exports) > before);
    assert_int_equal(atomic_load(&x.last_value), 6);
    /* Shutdown: a final collection and export, then the exporter is shut down. */
    tel_counter_add_int(c1, 1, NULL, 0);
    assert_int_equal(tel_meter_provider_shutdown(e.p, 2000), TEL_OK);
    assert_int_equal(atomic_load(&x.last_value), 7);
    assert_int_equal(atomic_load(&x.shutdowns), 1);
    assert_int_equal(tel_meter_provider_shutdown(e.p, 2000), TEL_OK); /* idempotent */
    assert_int_equal(tel_meter_provider_force_flush(e.p, 100), TEL_ESHUTDOWN);
    mt_exporter y;
    mt_exporter_init(&y, NULL, false);
    assert_int_equal(tel_meter_provider_add_periodic_reader(e.p, &y.base, 20, 10), TEL_ESHUTDOWN);
    assert_int_equal(atomic_load(&y.destroyed), 1);
    mt_cleanup(&e);
    assert_int_equal(atomic_load(&x.destroyed), 1);
}

static void test_periodic_reader_env_and_limits(void **state)
{
    (void)state;
    setenv("OTEL_METRIC_EXPORT_INTERVAL", "25", 1);
    setenv("OTEL_METRIC_EXPORT_TIMEOUT", "500", 1);
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_counter_add(tel_meter_create(e.m, TEL_INSTR_COUNTER, "c", NULL), 1, NULL, 0);
    mt_exporter x[5];
    for (int i = 0; i < 5; i++)
        mt_exporter_init(&x[i], NULL, false);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tel_meter_provider_add_periodic_reader(e.p, &x[i].base, 0, 0), TEL_OK);
    assert_int_equal(tel_meter_provider_add_periodic_reader(e.p, &x[4].base, 0, 0), TEL_EFULL);
    assert_int_equal(atomic_load(&x[4].destroyed), 1);
    unsetenv("OTEL_METRIC_EXPORT_INTERVAL");
    unsetenv("OTEL_METRIC_EXPORT_TIMEOUT");
    /* 25 ms interval, not the 60 s default: four exports each well within 3 s. */
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < 300 && atomic_load(&x[r].exports) < 4; i++)
            usleep(10000);
        assert_true(atomic_load(&x[r].exports) >= 4);
    }
    mt_cleanup(&e);
    for (int i = 0; i < 4; i++)
        assert_int_equal(atomic_load(&x[i].destroyed), 1);
}

static void test_bounded_shutdown_with_hanging_exporter(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_counter_add(tel_meter_create(e.m, TEL_INSTR_COUNTER, "c", NULL), 1, NULL, 0);
    mt_exporter x;
    mt_exporter_init(&x, NULL, true); /* export blocks until the exporter is shut down */
    assert_int_equal(tel_meter_provider_add_periodic_reader(e.p, &x.base, 10, 60000), TEL_OK);
    for (int i = 0; i < 200 && atomic_load(&x.exports) < 1; i++)
        usleep(5000);
    assert_int_equal(tel_meter_provider_force_flush(e.p, 50), TEL_ETIMEDOUT);
    uint64_t t0 = tel_mono_ns();
    assert_int_equal(tel_meter_provider_shutdown(e.p, 200), TEL_ETIMEDOUT);
    uint64_t took = tel_mono_ns() - t0;
    assert_true(took < 2000000000ull);
    assert_true(atomic_load(&x.shutdowns) >= 1);
    mt_cleanup(&e);
    assert_int_equal(atomic_load(&x.destroyed), 1);
}

static void test_fork_child_gets_working_pipeline(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_instrument *c1 = tel_meter_create(e.m, TEL_INSTR_COUNTER, "forked",
                                          &(tel_instrument_opts){.value_is_int = true});
    mt_exporter x;
    mt_exporter_init(&x, "forked", false);
    assert_int_equal(tel_meter_provider_add_periodic_reader(e.p, &x.base, 3600000, 1000), TEL_OK);
    tel_counter_add_int(c1, 41, NULL, 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child's values start from zero and its reader thread runs. */
        tel_counter_add_int(c1, 2, NULL, 0);
        int rc = tel_meter_provider_force_flush(e.p, 2000);
        int ok = rc == TEL_OK && atomic_load(&x.last_value) == 2;
        mt_cleanup(&e);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    tel_counter_add_int(c1, 1, NULL, 0);
    assert_int_equal(tel_meter_provider_force_flush(e.p, 2000), TEL_OK);
    assert_int_equal(atomic_load(&x.last_value), 42);
    mt_cleanup(&e);
}

static void collect_cb(const tel_resource *res, const tel_metric *ms, size_t n, void *ud)
{
    size_t *seen = ud;
    assert_non_null(res);
    assert_string_equal(tel_resource_get_str(res, "service.name"), "metrics-test");
    *seen = n;
    assert_string_equal(ms[0].name, "a");
}

static void test_public_collect(void **state)
{
    (void)state;
    mt_env e;
    mt_init(&e, 0, TEL_EXEMPLAR_ALWAYS_OFF);
    tel_meter_create(e.m, TEL_INSTR_COUNTER, "unused", NULL); /* no points: left out */
    tel_counter_add(tel_meter_create(e.m, TEL_INSTR_COUNTER, "a", NULL), 1, NULL, 0);
    size_t seen = 0;
    assert_int_equal(tel_meter_provider_collect(e.p, collect_cb, &seen), TEL_OK);
    assert_int_equal(seen, 1);
    assert_ptr_equal(tel_meter_provider_resource(e.p), e.res);
    mt_cleanup(&e);
}

int main(void)
{
    unsetenv("OTEL_METRICS_EXEMPLAR_FILTER");
    unsetenv("OTEL_SDK_DISABLED");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_int_and_double),
        cmocka_unit_test(test_up_down_counter),
        cmocka_unit_test(test_histogram_default_buckets_and_edges),
        cmocka_unit_test(test_histogram_custom_bounds),
        cmocka_unit_test(test_histogram_many_bounds),
        cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_observable_instruments),
        cmocka_unit_test(test_cumulative_temporality_stable_start),
        cmocka_unit_test(test_attribute_order_independence),
        cmocka_unit_test(test_attribute_value_types),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_cardinality_overflow),
        cmocka_unit_test(test_cardinality_default_limit),
        cmocka_unit_test(test_exemplar_filters),
        cmocka_unit_test(test_exemplar_reservoir_uniform),
        cmocka_unit_test(test_exemplar_reservoir_long_intervals),
        cmocka_unit_test(test_exemplar_sum_reservoir),
        cmocka_unit_test(test_no_exemplars_option),
        cmocka_unit_test(test_exemplar_explicit_span),
        cmocka_unit_test(test_exemplar_filter_from_env),
        cmocka_unit_test(test_disabled_provider),
        cmocka_unit_test(test_instrument_identity_and_names),
        cmocka_unit_test(test_periodic_reader),
        cmocka_unit_test(test_periodic_reader_env_and_limits),
        cmocka_unit_test(test_bounded_shutdown_with_hanging_exporter),
        cmocka_unit_test(test_fork_child_gets_working_pipeline),
        cmocka_unit_test(test_public_collect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
