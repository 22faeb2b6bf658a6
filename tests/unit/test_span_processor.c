/* Unit tests of the span processor contract (processor.h): a processor that takes an ended
 * span's record with tel_span_data_move owns a record that no longer depends on the span's
 * slot, whatever the span held: inline and extra attributes, copied keys, events, links. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moved_record_survives_slot_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
