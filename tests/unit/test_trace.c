/* Unit tests of the span API (trace.c, span_data.c, context.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/trace.h"
#include "test_tracing.h"

static void test_root_span_ids_and_flags(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    tel_span *s = tel_span_start(tt.tracer, "root", TEL_SPAN_KIND_SERVER, NULL);
    assert_true(tel_span_is_recording(s));
    tel_span_context sc = tel_span_get_context(s);
    assert_true(tel_span_context_is_valid(&sc));
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED | TEL_FLAG_RANDOM);
    assert_false(sc.remote);
    uint64_t before = tel_now_ns();
    tel_span_end(s);
    assert_int_equal(tel_memory_exporter_count(tt.mem), 1);
    const tel_span_data *d = tel_memory_exporter_span(tt.mem, 0);
    assert_string_equal(d->name, "root");
    assert_int_equal(d->kind, TEL_SPAN_KIND_SERVER);
    assert_false(d->has_parent);
    assert_true(tel_id_is_zero(d->parent_span_id, 8));
    assert_memory_equal(d->sc.trace_id, sc.trace_id, 16);
    assert_memory_equal(d->sc.span_id, sc.span_id, 8);
    assert_true(d->start_ns > 0 && d->start_ns <= d->end_ns && d->end_ns <= before + 1000000000ull);
    assert_string_equal(d->scope->name, "unit");
    assert_string_equal(d->scope->version, "1.0");
    test_tracing_cleanup(&tt);
}

static void test_child_span_links_to_parent(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    tel_span *root = tel_span_start(tt.tracer, "root", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_context_set_span(&ctx, root);
    tel_span *child = tel_span_start(tt.tracer, "child", TEL_SPAN_KIND_CLIENT, &ctx);
    tel_span_context rc = tel_span_get_context(root), cc = tel_span_get_context(child);
    assert_memory_equal(rc.trace_id, cc.trace_id, 16);
    assert_memory_not_equal(rc.span_id, cc.span_id, 8);
    tel_span_end(child);
    tel_span_end(root);
    const tel_span_data *d = tel_memory_exporter_find(tt.mem, "child");
    assert_non_null(d);
    assert_true(d->has_parent);
    assert_false(d->parent_remote);
    assert_memory_equal(d->parent_span_id, rc.span_id, 8);
    tel_context_cleanup(&ctx);
    test_tracing_cleanup(&tt);
}

static void test_remote_parent_keeps_random_flag(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_PARENTBASED_ALWAYS_ON, 1, NULL);
    tel_context ctx = TEL_CONTEXT_INIT;
    memset(ctx.sc.trace_id, 0xab, 16);
    memset(ctx.sc.span_id, 0xcd, 8);
    ctx.sc.remote = true;
    /* Sampled parent without the random flag: child sampled, no random flag. */
    ctx.sc.flags = TEL_FLAG_SAMPLED;
    tel_span *s = tel_span_start(tt.tracer, "a", TEL_SPAN_KIND_SERVER, &ctx);
    assert_int_equal(tel_span_get_context(s).flags, TEL_FLAG_SAMPLED);
    tel_span_end(s);
    /* Unsampled parent with the random flag: child not recording, random kept. */
    ctx.sc.flags = TEL_FLAG_RANDOM;
    s = tel_span_start(tt.tracer, "b", TEL_SPAN_KIND_SERVER, &ctx);
    assert_false(tel_span_is_recording(s));
    tel_span_context sc = tel_span_get_context(s);
    assert_int_equal(sc.flags, TEL_FLAG_RANDOM);
    assert_true(tel_span_context_is_valid(&sc));
    assert_memory_equal(sc.trace_id, ctx.sc.trace_id, 16);
    tel_span_end(s);
    assert_int_equal(tel_memory_exporter_count(tt.mem), 1);
    const tel_span_data *d = tel_memory_exporter_span(tt.mem, 0);
    assert_true(d->parent_remote);
    test_tracing_cleanup(&tt);
}

static void test_attributes_all_types(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    tel_span *s = tel_span_start(tt.tracer, "attrs", TEL_SPAN_KIND_INTERNAL, NULL);
    char dyn[32];
    strcpy(dyn, "dynamic");
    tel_span_set_str(s, "s", dyn);
    strcpy(dyn, "CHANGED");
    tel_span_set_str_static(s, "ss", "static");
    tel_span_set_int(s, "i", -42);
    tel_span_set_double(s, "d", 2.5);
    tel_span_set_bool(s, "b", true);
    const char *strs[] = {"x", "yy"};
    int64_t ints[] = {1, -2, 3};
    double dbls[] = {0.5, 1.5};
    bool bools[] = {true, false};
    tel_attr sa = {.key = "sa", .type = TEL_ATTR_STRING_ARRAY, .len = 2, .v.arr = strs};
    tel_attr ia = {.key = "ia", .type = TEL_ATTR_INT_ARRAY, .len = 3, .v.arr = ints};
    tel_attr da = {.key = "da", .type = TEL_ATTR_DOUBLE_ARRAY, .len = 2, .v.arr = dbls};
    tel_attr ba = {.key = "ba", .type = TEL_ATTR_BOOL_ARRAY, .len = 2, .v.arr = bools};
    tel_span_set_attr(s, &sa);
    tel_span_set_attr(s, &ia);
    tel_span_set_attr(s, &da);
    tel_span_set_attr(s, &ba);
    ints[0] = 99; /* copied: must not show */
    tel_span_set_int(s, "i", 7); /* replaces */
    tel_span_end(s);
    const tel_span_data *d = tel_memory_exporter_span(tt.mem, 0);
    assert_int_equal(tel_span_data_attr_count(d), 9);
    assert_string_equal(test_attr(d, "s")->v.s, "dynamic");
    assert_int_equal(test_attr(d, "s")->len, 7);
    assert_string_equal(test_attr(d, "ss")->v.s, "static");
    assert_int_equal(test_attr(d, "i")->v.i, 7);
    assert_true(test_attr(d, "d")->v.d == 2.5);
    assert_true(test_attr(d, "b")->v.b);
    const char *const *gs = test_attr(d, "sa")->v.arr;
    assert_string_equal(gs[0], "x");
    assert_string_equal(gs[1], "yy");
    const int64_t *gi = test_attr(d, "ia")->v.arr;
    assert_int_equal(gi[0], 1);
    assert_int_equal(gi[1], -2);
    assert_int_equal(test_attr(d, "ia")->len, 3);
    const double *gd = test_attr(d, "da")->v.arr;
    assert_true(gd[1] == 1.5);
    const bool *gb = test_attr(d, "ba")->v.arr;
    assert_true(gb[0] && !gb[1]);
    assert_int_equal(d->dropped_attrs, 0);
    test_tracing_cleanup(&tt);
}

static void test_attribute_limits(void **state)
{
    (void)state;
    tel_span_limits lim = {20, 5, 2, 1, 1, 1};
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, &lim);
    tel_span *s = tel_span_start(tt.tracer, "limits", TEL_SPAN_KIND_INTERNAL, NULL);
    static char keys[30][8];
    for (int i = 0; i < 30; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        tel_span_set_int(s, keys[i], i);
    }
    tel_span_set_int(s, "k3", 333); /* replacing an existing key is not a drop */
    /* 5-byte limit: "héllo" is h(1) é(2) l l o (6 bytes): cut to "héll" (5 bytes). */
    tel_span_set_str(s, "k0", "h\xc3\xa9llo");
    tel_span_set_str(s, "k1", "ab\xc3\xa9");  /* 4 bytes: kept whole */
    tel_span_set_str(s, "k2", "abcd\xc3\xa9"); /* 6 bytes: cutting at 5 would split é: "abcd" */
    tel_span_add_event(s, "e1", NULL, 0);
    tel_span_add_event(s, "e2", NULL, 0);
    tel_span_add_event(s, "e3", NULL, 0);
    tel_attr two[2] = {TEL_ATTR_INT64("a", 1), TEL_ATTR_INT64("b", 2)};
    tel_span_context other = {{1}, {2}, 1, false};
    tel_span_add_link(s, &other, NULL, two, 2);
    tel_span_add_link(s, &other, NULL, NULL, 0);
    tel_span_end(s);
    const tel_span_data *d = tel_memory_exporter_span(tt.mem, 0);
    assert_int_equal(tel_span_data_attr_count(d), 20);
    assert_int_equal(d->dropped_attrs, 10);
    assert_int_equal(test_attr(d, "k3")->v.i, 333);
    assert_int_equal(test_attr(d, "k19")->v.i, 19);
    assert_null(test_attr(d, "k20"));
    assert_int_equal(test_attr(d, "k0")->len, 5);
    assert_memory_equal(test_attr(d, "k0")->v.s, "h\xc3\xa9ll", 5);
    assert_int_equal(test_attr(d, "k1")->len, 4);
    assert_int_equal(test_attr(d, "k2")->len, 4);
    assert_int_equal(tel_span_data_event_count(d), 2);
    assert_int_equal(d->dropped_events, 1);
    assert_int_equal(tel_span_data_link_count(d), 1);
    assert_int_equal(d->dropped_links, 1);
    assert_int_equal(d->extra->links[0].n_attrs, 1);
    assert_int_equal(d->extra->links[0].dropped_attrs, 1);
    test_tracing_cleanup(&tt);
}

static void test_events_links_status_error(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    tel_span *s = tel_span_start(tt.tracer, "ev", TEL_SPAN_KIND_CLIENT, NULL);
    tel_attr ea[2] = {TEL_ATTR_INT64("attempt", 2), TEL_ATTR_STR("reason", "timeout")};
    tel_span_add_event_at(s, "retry", ea, 2, 12345);
    tel_span_record_error(s, "ipmi_error", "session timeout");
    tel_span_context other = {{0}, {0}, TEL_FLAG_SAMPLED, true};
    memset(other.trace_id, 7, 16);
    memset(other.span_id, 9, 8);
    tel_span_add_link(s, &other, "vendor=x", ea, 1);
    tel_span_set_status(s, TEL_STATUS_ERROR, "BMC unreachable");
    tel_span_update_name(s, "renamed");
    tel_span_end(s);
    const tel_span_data *d = tel_memory_exporter_span(tt.mem, 0);
    assert_string_equal(d->name, "renamed");
    assert_int_equal(d->status, TEL_STATUS_ERROR);
    assert_string_equal(d->status_msg, "BMC unreachable");
    assert_int_equal(tel_span_data_event_count(d), 2);
    const tel_event *e = &d->extra->events[0];
    assert_string_equal(e->name, "retry");
    assert_int_equal(e->time_ns, 12345);
    assert_int_equal(e->n_attrs, 2);
    assert_string_equal(e->attrs[1].key, "reason");
    assert_string_equal(e->attrs[1].v.s, "timeout");
    const tel_event *x = &d->extra->events[1];
    assert_string_equal(x->name, "exception");
    assert_string_equal(x->attrs[0].key, "exception.type");
    assert_string_equal(x->attrs[0].v.s, "ipmi_error");
    assert_string_equal(x->attrs[1].key, "exception.message");
    assert_string_equal(x->attrs[1].v.s, "session timeout");
    const tel_link *l = &d->extra->links[0];
    assert_memory_equal(l->sc.trace_id, other.trace_id, 16);
    assert_string_equal(l->tracestate, "vendor=x");
    assert_int_equal(l->n_attrs, 1);
    test_tracing_cleanup(&tt);
}

static void test_status_ok_is_final(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    tel_span *s = tel_span_start(tt.tracer, "st", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_span_set_status(s, TEL_STATUS_ERROR, "first");
    tel_span_set_status(s, TEL_STATUS_UNSET, NULL); /* ignored */
    tel_span_set_status(s, TEL_STATUS_OK, "ignored description");
    tel_span_set_status(s, TEL_STATUS_ERROR, "after ok");
    tel_span_end(s);
    const tel_span_data *d = tel_memory_exporter_span(tt.mem, 0);
    assert_int_equal(d->status, TEL_STATUS_OK);
    assert_null(d->status_msg);
    test_tracing_cleanup(&tt);
}

static void test_start_ex_and_end_at(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    char name[16] = "dyn-name";
    tel_attr a[1] = {TEL_ATTR_STR("x", "y")};
    tel_span_start_opts o = {.name = name, .copy_name = true, .kind = TEL_SPAN_KIND_PRODUCER,
                             .start_ns = 1000, .attrs = a, .n_attrs = 1};
    tel_span *s = tel_span_start_ex(tt.tracer, &o);
    strcpy(name, "overwritten");
    tel_span_end_at(s, 5000);
    const tel_span_data *d = tel_memory_exporter_span(tt.mem, 0);
    assert_string_equal(d->name, "dyn-name");
    assert_int_equal(d->start_ns, 1000);
    assert_int_equal(d->end_ns, 5000);
    assert_int_equal(d->kind, TEL_SPAN_KIND_PRODUCER);
    assert_string_equal(test_attr(d, "x")->v.s, "y");
    test_tracing_cleanup(&tt);
}

static void test_many_attributes_spill_to_extra(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    tel_span *s = tel_span_start(tt.tracer, "big", TEL_SPAN_KIND_INTERNAL, NULL);
    static char keys[100][8];
    char val[300];
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    for (int i = 0; i < 100; i++) {
        snprintf(keys[i], sizeof keys[i], "key%d", i);
        tel_span_set_str(s, keys[i], val + i); /* long strings overflow the inline arena */
    }
    tel_span_end(s);
    const tel_span_data *d = tel_memory_exporter_span(tt.mem, 0);
    assert_int_equal(tel_span_data_attr_count(d), 100);
    for (int i = 0; i < 100; i++) {
        const tel_attr *a = test_attr(d, keys[i]);
        assert_non_null(a);
        assert_int_equal(a->len, 299 - i);
        assert_int_equal(strlen(a->v.s), 299 - i);
    }
    test_tracing_cleanup(&tt);
}

static void test_sampled_out_and_disabled(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_OFF, 1, NULL);
    tel_span *s = tel_span_start(tt.tracer, "off", TEL_SPAN_KIND_INTERNAL, NULL);
    assert_false(tel_span_is_recording(s));
    tel_span_context sc = tel_span_get_context(s);
    assert_true(tel_span_context_is_valid(&sc));
    assert_false(tel_span_context_is_sampled(&sc));
    tel_span_set_int(s, "ignored", 1);
    tel_span_add_event(s, "ignored", NULL, 0);
    tel_span_end(s);
    assert_int_equal(tel_memory_exporter_count(tt.mem), 0);
    test_tracing_cleanup(&tt);

    tel_tracer_provider_config cfg = {.disabled = true, .has_sampler = true};
    tel_attr svc = TEL_ATTR_STR("service.name", "x");
    cfg.resource = tel_resource_create(&svc, 1);
    tel_tracer_provider *p = tel_tracer_provider_create(&cfg);
    tel_tracer *t = tel_tracer_get(p, "x", NULL);
    s = tel_span_start(t, "noop", TEL_SPAN_KIND_INTERNAL, NULL);
    assert_true(s->noop);
    sc = tel_span_get_context(s);
    assert_false(tel_span_context_is_valid(&sc));
    tel_span_set_str(s, "k", "v");
    tel_span_end(s);
    assert_true(tel_span_start(NULL, "null tracer", TEL_SPAN_KIND_INTERNAL, NULL)->noop);
    tel_tracer_provider_destroy(p);
}

static void test_tracer_identity_and_shutdown(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    assert_ptr_equal(tel_tracer_get(tt.provider, "unit", "1.0"), tt.tracer);
    assert_ptr_not_equal(tel_tracer_get(tt.provider, "unit", "2.0"), tt.tracer);
    assert_ptr_not_equal(tel_tracer_get(tt.provider, "unit", NULL), tt.tracer);
    assert_int_equal(tel_tracer_provider_shutdown(tt.provider, 1000), TEL_OK);
    tel_span *s = tel_span_start(tt.tracer, "after", TEL_SPAN_KIND_INTERNAL, NULL);
    assert_false(tel_span_is_recording(s));
    tel_span_end(s);
    assert_int_equal(tel_memory_exporter_count(tt.mem), 0);
    test_tracing_cleanup(&tt);
}

static void test_current_span_and_pool_exhaustion(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    enum { N = 300 }; /* more live spans than a thread's pool holds */
    tel_span *spans[N];
    for (int i = 0; i < N; i++)
        spans[i] = tel_span_start(tt.tracer, "live", TEL_SPAN_KIND_INTERNAL, NULL);
    assert_null(tel_span_current());
    assert_null(tel_span_set_current(spans[5]));
    assert_ptr_equal(tel_span_current(), spans[5]);
    for (int i = N - 1; i >= 0; i--)
        tel_span_end(spans[i]);
    assert_null(tel_span_current()); /* ending the current span clears it */
    assert_int_equal(tel_memory_exporter_count(tt.mem), N);
    test_tracing_cleanup(&tt);
}

static void test_multiple_processors_get_copies(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    tel_memory_exporter *m2 = test_tracing_add_memory_exporter(&tt);
    tel_span *s = tel_span_start(tt.tracer, "twice", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_span_set_str(s, "k", "value");
    tel_span_add_event(s, "e", NULL, 0);
    tel_span_end(s);
    assert_int_equal(tel_memory_exporter_count(tt.mem), 1);
    assert_int_equal(tel_memory_exporter_count(m2), 1);
    assert_string_equal(test_attr(tel_memory_exporter_span(m2, 0), "k")->v.s, "value");
    assert_string_equal(test_attr(tel_memory_exporter_span(tt.mem, 0), "k")->v.s, "value");
    assert_int_equal(tel_span_data_event_count(tel_memory_exporter_span(tt.mem, 0)), 1);
    test_tracing_cleanup(&tt);
}

static void test_dynamic_keys_are_copied(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    tel_memory_exporter *m2 = test_tracing_add_memory_exporter(&tt);
    tel_span *s = tel_span_start(tt.tracer, "keys", TEL_SPAN_KIND_INTERNAL, NULL);
    char key[64];
    for (int i = 0; i < 40; i++) { /* the first fit the arena, later ones go to extra */
        snprintf(key, sizeof key, "dynamic.key.number.%02d", i);
        tel_attr a = TEL_ATTR_INT64(key, i);
        tel_span_set_attr_copy_key(s, &a);
    }
    snprintf(key, sizeof key, "dynamic.key.number.%02d", 3);
    tel_attr again = TEL_ATTR_INT64(key, 333); /* same text, other pointer: replaces */
    tel_span_set_attr_copy_key(s, &again);
    memset(key, 'X', sizeof key - 1);
    tel_span_end(s);
    tel_memory_exporter *ms[2] = {tt.mem, m2};
    for (int m = 0; m < 2; m++) {
        const tel_span_data *d = tel_memory_exporter_span(ms[m], 0);
        assert_int_equal(tel_span_data_attr_count(d), 40);
        assert_int_equal(test_attr(d, "dynamic.key.number.03")->v.i, 333);
        assert_int_equal(test_attr(d, "dynamic.key.number.39")->v.i, 39);
        assert_int_equal(test_attr(d, "dynamic.key.number.00")->v.i, 0);
    }
    test_tracing_cleanup(&tt);
}

static void test_copies_survive_later_spans(void **state)
{
    (void)state;
    /* Regression: a clone (second processor) must not point into the live span's slot, which
     * the next span reuses. */
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    tel_memory_exporter *m2 = test_tracing_add_memory_exporter(&tt);
    char name[32];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "span-%d", i);
        tel_span_start_opts o = {.name = name, .copy_name = true};
        tel_span *s = tel_span_start_ex(tt.tracer, &o);
        snprintf(name, sizeof name, "value-%d", i);
        tel_span_set_str(s, "k", name);
        tel_span_set_status(s, TEL_STATUS_ERROR, name);
        tel_span_end(s);
    }
    tel_memory_exporter *ms[2] = {tt.mem, m2};
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < 3; i++) {
            const tel_span_data *d = tel_memory_exporter_span(ms[m], (size_t)i);
            snprintf(name, sizeof name, "span-%d", i);
            assert_string_equal(d->name, name);
            snprintf(name, sizeof name, "value-%d", i);
            assert_string_equal(test_attr(d, "k")->v.s, name);
            assert_string_equal(d->status_msg, name);
        }
    }
    test_tracing_cleanup(&tt);
}

/* Sets tt up with limits lim, starts and ends one span with o; returns its record (valid until
 * test_tracing_cleanup). */
static const tel_span_data *one_span(test_tracing *tt, const tel_span_limits *lim,
                                     const tel_span_start_opts *o)
{
    test_tracing_init(tt, TEL_SAMPLER_ALWAYS_ON, 1, lim);
    tel_span_end(tel_span_start_ex(tt->tracer, o));
    assert_int_equal(tel_memory_exporter_count(tt->mem), 1);
    return tel_memory_exporter_span(tt->mem, 0);
}

static void test_prepared_attribute_sets(void **state)
{
    (void)state;
    tel_span_attr_set set;
    /* Rejected: a type held by pointer to copied storage, a NULL string, too many. */
    static const int64_t ints[2] = {1, 2};
    tel_attr bad[2] = {TEL_ATTR_STR("ok", "v"),
                       {.key = "arr", .type = TEL_ATTR_INT_ARRAY, .len = 2, .v.arr = ints}};
    assert_int_equal(tel_span_attr_set_init(&set, bad, 2), TEL_EINVAL);
    assert_int_equal(set.n, 0);
    tel_attr nul = {.key = "s", .type = TEL_ATTR_STRING, .len = 0, .v.s = NULL};
    assert_int_equal(tel_span_attr_set_init(&set, &nul, 1), TEL_EINVAL);
    tel_attr many[TEL_SPAN_ATTR_SET_MAX + 1];
    for (int i = 0; i <= TEL_SPAN_ATTR_SET_MAX; i++)
        many[i] = TEL_ATTR_INT64("n", i);
    assert_int_equal(tel_span_attr_set_init(&set, many, TEL_SPAN_ATTR_SET_MAX + 1), TEL_ETOOBIG);

    tel_attr fixed[4] = {TEL_ATTR_STR("db.system.name", "sqlite"), TEL_ATTR_INT64("n", 7),
                         TEL_ATTR_DBL("x", 0.5), TEL_ATTR_BOOLEAN("b", true)};
    assert_int_equal(tel_span_attr_set_init(&set, fixed, 4), TEL_OK);
    assert_int_equal(set.n, 4);

    /* Unlimited values: stored as they are; later sets of the same key replace them. */
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1, NULL);
    tel_span_start_opts o = {.name = "prepared", .attr_set = &set};
    tel_span *s = tel_span_start_ex(tt.tracer, &o);
    tel_span_set_int(s, "n", 8);
    tel_span_set_str(s, "other", "o");
    tel_span_end(s);
    const tel_span_data *d = tel_memory_exporter_span(tt.mem, 0);
    assert_int_equal(tel_span_data_attr_count(d), 5);
    assert_string_equal(test_attr(d, "db.system.name")->v.s, "sqlite");
    assert_int_equal(test_attr(d, "n")->v.i, 8);
    assert_true(test_attr(d, "x")->v.d == 0.5);
    assert_true(test_attr(d, "b")->v.b);
    assert_string_equal(test_attr(d, "other")->v.s, "o");
    test_tracing_cleanup(&tt);

    /* A value length limit: set attribute strings are truncated like any other. */
    tel_span_limits lim = {128, 3, 128, 128, 128, 128};
    d = one_span(&tt, &lim, &o);
    assert_int_equal(tel_span_data_attr_count(d), 4);
    assert_int_equal(test_attr(d, "db.system.name")->len, 3);
    assert_memory_equal(test_attr(d, "db.system.name")->v.s, "sql", 3);
    test_tracing_cleanup(&tt);

    /* A count limit below the set: the first ones are kept, the rest counted as dropped. */
    tel_span_limits two = {2, 0, 128, 128, 128, 128};
    d = one_span(&tt, &two, &o);
    assert_int_equal(tel_span_data_attr_count(d), 2);
    assert_int_equal(d->dropped_attrs, 2);
    test_tracing_cleanup(&tt);

    /* A full set (copied in two halves): every attribute arrives, none twice. */
    static const char *keys[TEL_SPAN_ATTR_SET_MAX] = {"k0", "k1", "k2", "k3",
                                                      "k4", "k5", "k6", "k7"};
    tel_attr full[TEL_SPAN_ATTR_SET_MAX];
    for (int i = 0; i < TEL_SPAN_ATTR_SET_MAX; i++)
        full[i] = TEL_ATTR_INT64(keys[i], 100 + i);
    assert_int_equal(tel_span_attr_set_init(&set, full, TEL_SPAN_ATTR_SET_MAX), TEL_OK);
    d = one_span(&tt, NULL, &o);
    assert_int_equal(tel_span_data_attr_count(d), TEL_SPAN_ATTR_SET_MAX);
    for (int i = 0; i < TEL_SPAN_ATTR_SET_MAX; i++)
        assert_int_equal(test_attr(d, keys[i])->v.i, 100 + i);
    test_tracing_cleanup(&tt);
}

static void test_limits_from_env(void **state)
{
    (void)state;
    setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "50", 1);
    setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "7", 1);
    setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "bogus", 1);
    tel_span_limits l;
    tel_span_limits_from_env(&l);
    assert_int_equal(l.attribute_count, 50);
    assert_int_equal(l.attributes_per_event, 50);
    assert_int_equal(l.event_count, 7);
    assert_int_equal(l.link_count, 128);
    assert_int_equal(l.attribute_value_length, 0);
    setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "10", 1);
    tel_span_limits_from_env(&l);
    assert_int_equal(l.attribute_count, 10);
    unsetenv("OTEL_ATTRIBUTE_COUNT_LIMIT");
    unsetenv("OTEL_SPAN_EVENT_COUNT_LIMIT");
    unsetenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT");
    unsetenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_span_ids_and_flags),
        cmocka_unit_test(test_child_span_links_to_parent),
        cmocka_unit_test(test_remote_parent_keeps_random_flag),
        cmocka_unit_test(test_attributes_all_types),
        cmocka_unit_test(test_attribute_limits),
        cmocka_unit_test(test_events_links_status_error),
        cmocka_unit_test(test_status_ok_is_final),
        cmocka_unit_test(test_start_ex_and_end_at),
        cmocka_unit_test(test_many_attributes_spill_to_extra),
        cmocka_unit_test(test_sampled_out_and_disabled),
        cmocka_unit_test(test_tracer_identity_and_shutdown),
        cmocka_unit_test(test_current_span_and_pool_exhaustion),
        cmocka_unit_test(test_multiple_processors_get_copies),
        cmocka_unit_test(test_dynamic_keys_are_copied),
        cmocka_unit_test(test_copies_survive_later_spans),
        cmocka_unit_test(test_prepared_attribute_sets),
        cmocka_unit_test(test_limits_from_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
