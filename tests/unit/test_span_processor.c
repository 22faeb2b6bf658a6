/* Unit tests of the span processor contract (processor.h): a processor that takes an ended
 * span's record with tel_span_data_move owns a record that no longer depends on the span's
 * slot, whatever the span held: inline and extra attributes, copied keys, events, links; and a
 * processor that keeps records (on_end_keep) and hands them back from another thread leaves the
 * slot's memory as it was.
 * ctest-labels: concurrency */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/trace.h"
#include "test_tracing.h"

/* A processor that moves every record it gets into its own array (on_end's contract). */
typedef struct keeper {
    tel_span_processor base;
    tel_span_data recs[4];
    int n;
} keeper;

static void k_on_end(tel_span_processor *self, tel_span_data *rec)
{
    keeper *k = (keeper *)self;
    if (k->n < 4)
        tel_span_data_move(&k->recs[k->n++], rec);
}

static int k_flush(tel_span_processor *self, int64_t timeout_ms)
{
    (void)self;
    (void)timeout_ms;
    return TEL_OK;
}

static void k_destroy(tel_span_processor *self)
{
    keeper *k = (keeper *)self;
    for (int i = 0; i < k->n; i++)
        tel_span_data_release(&k->recs[i]);
    k->n = 0;
}

/* Two spans in a row take the same slot (a thread's free slots are reused most recent first):
 * the second overwrites the first's arena. The moved first record must still read its own
 * strings, those of attributes past the inline ones included (they were left in the arena,
 * and read the second span's text). */
static void test_moved_record_survives_slot_reuse(void **state)
{
    (void)state;
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "processor-test");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, TEL_SAMPLER_ALWAYS_ON, 1);
    tel_tracer_provider *p = tel_tracer_provider_create(&cfg);
    keeper k = {.base = {.on_end = k_on_end, .force_flush = k_flush, .shutdown = k_flush,
                         .destroy = k_destroy}};
    assert_int_equal(tel_tracer_provider_add_processor(p, &k.base), TEL_OK);
    tel_tracer *t = tel_tracer_get(p, "processor", NULL);
    static const char *keys[16] = {"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7",
                                   "a8", "a9", "b0", "b1", "b2", "b3", "b4", "b5"};
    const char *vals[2] = {"AAAA", "BBBB"};
    for (int i = 0; i < 2; i++) {
        tel_span *s = tel_span_start(t, "op", TEL_SPAN_KIND_INTERNAL, NULL);
        tel_span_set_str(s, "inline", vals[i]);
        for (int j = 1; j < 16; j++)
            tel_span_set_int(s, keys[j], j);
        tel_span_set_str(s, "extra", vals[i]); /* the 17th: in the extra block */
        char key[8];
        snprintf(key, sizeof key, "x%d", i);
        tel_attr a = TEL_ATTR_STR(key, vals[i]);
        tel_span_set_attr_copy_key(s, &a); /* a copied key, in the extra block too */
        tel_attr ea = TEL_ATTR_STR("e", vals[i]);
        tel_span_add_event(s, vals[i], &ea, 1);
        tel_span_end(s);
    }
    assert_int_equal(k.n, 2);
    for (int i = 0; i < 2; i++) {
        const tel_span_data *d = &k.recs[i];
        assert_int_equal(tel_span_data_attr_count(d), 18);
        assert_true(test_attr_str_is(d, "inline", vals[i]));
        assert_true(test_attr_str_is(d, "extra", vals[i]));
        char key[8];
        snprintf(key, sizeof key, "x%d", i);
        assert_true(test_attr_str_is(d, key, vals[i]));
        assert_int_equal(tel_span_data_event_count(d), 1);
        assert_string_equal(d->extra->events[0].name, vals[i]);
        assert_memory_equal(d->extra->events[0].attrs[0].v.s, vals[i], 4);
    }
    tel_tracer_provider_destroy(p);
}

/* A processor that keeps the records offered to it (on_end_keep), for another thread to give
 * back. */
typedef struct holder {
    tel_span_processor base;
    tel_span_data *kept;
} holder;

static bool h_keep(tel_span_processor *self, tel_span_data *rec)
{
    ((holder *)self)->kept = rec;
    return true;
}

static void h_destroy(tel_span_processor *self)
{
    (void)self;
}

static void *give_back(void *rec)
{
    tel_span_data_release(rec);
    tel_span_record_done(rec);
    return NULL;
}

/* The thread that gives a kept record back (the export thread, for the batch processor) writes
 * nothing into the span's slot: a slot's free-list link and taken flag live apart from it.
 * Written inside, they left the slot's first line modified in the other CPU's cache, and the
 * owner's next span start read it from there (a miss on every span). Checked byte for byte
 * over the whole slot (the span handle is its start, the record its end). */
static void test_record_given_back_leaves_slot_untouched(void **state)
{
    (void)state;
    tel_tracer_provider_config cfg = {0};
    tel_tracer_provider *p = tel_tracer_provider_create(&cfg);
    holder h = {.base = {.on_end = NULL, .on_end_keep = h_keep, .force_flush = k_flush,
                         .shutdown = k_flush, .destroy = h_destroy}};
    assert_int_equal(tel_tracer_provider_add_processor(p, &h.base), TEL_OK);
    tel_tracer *t = tel_tracer_get(p, "processor", NULL);
    for (int i = 0; i < 3; i++) {
        tel_span *s = tel_span_start(t, "op", TEL_SPAN_KIND_INTERNAL, NULL);
        tel_span_set_str(s, "k", "v");
        tel_span_end(s);
        assert_non_null(h.kept);
        const unsigned char *lo = (const unsigned char *)s;
        const unsigned char *hi = (const unsigned char *)(h.kept + 1);
        assert_true(lo < (const unsigned char *)h.kept && hi - lo < 4096);
        size_t n = (size_t)(hi - lo);
        unsigned char before[4096];
        memcpy(before, lo, n);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, give_back, h.kept), 0);
        pthread_join(th, NULL);
        assert_memory_equal(before, lo, n);
        h.kept = NULL;
    }
    tel_tracer_provider_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moved_record_survives_slot_reuse),
        cmocka_unit_test(test_record_given_back_leaves_slot_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
