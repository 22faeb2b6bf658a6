/* OTLP protobuf encoder and response decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "otlp_internal.h"
#include "otlp_test_util.h"
#include "telemetry/tracestate.h"

static pbf fa[PB_MAX_FIELDS], fb[PB_MAX_FIELDS], fc[PB_MAX_FIELDS], fd[PB_MAX_FIELDS],
    fe[PB_MAX_FIELDS];

/* Request -> the single ResourceSpans fields (into fb). */
static int resource_spans(const tel_buf *b)
{
    int n = pb_fields(b->data, b->len, fa, PB_MAX_FIELDS);
    assert_int_equal(n, 1);
    assert_int_equal(fa[0].field, 1);
    int m = pb_fields(fa[0].d, fa[0].n, fb, PB_MAX_FIELDS);
    assert_true(m > 0);
    return m;
}

static const tel_scope scope_a = {"lib.a", "1.2.3", NULL};
static const tel_scope scope_b = {"lib.b", NULL, NULL};

/* Checks a KeyValue against an expected key and scalar attribute. */
static void check_kv(const pbf *kvf, const tel_attr *want)
{
    pbf kv[8], av[8];
    int n = pb_fields(kvf->d, kvf->n, kv, 8);
    assert_int_equal(n, 2);
    assert_true(pb_str_eq(pb_get(kv, n, 1, 0), want->key));
    const pbf *v = pb_get(kv, n, 2, 0);
    assert_non_null(v);
    int m = pb_fields(v->d, v->n, av, 8);
    switch (want->type) {
    case TEL_ATTR_STRING:
        assert_int_equal(m, 1);
        assert_int_equal(av[0].field, 1);
        assert_int_equal(av[0].n, want->len);
        assert_memory_equal(av[0].d, want->v.s, want->len);
        break;
    case TEL_ATTR_BOOL:
        assert_int_equal(m, 1);
        assert_int_equal(av[0].field, 2);
        assert_int_equal(av[0].v, want->v.b ? 1 : 0);
        break;
    case TEL_ATTR_INT:
        assert_int_equal(m, 1);
        assert_int_equal(av[0].field, 3);
        assert_int_equal((int64_t)av[0].v, want->v.i);
        break;
    case TEL_ATTR_DOUBLE: {
        assert_int_equal(m, 1);
        assert_int_equal(av[0].field, 4);
        assert_int_equal(av[0].wt, 1);
        double d;
        memcpy(&d, &av[0].v, 8);
        assert_memory_equal(&d, &want->v.d, 8);
        break;
    }
    default:
        fail();
    }
}

static void test_golden_minimal(void **state)
{
    (void)state;
    tel_span_data d;
    make_span(&d, NULL, "a", NULL, 0, 0);
    const tel_span_data *spans[] = {&d};
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_traces_pb(&b, NULL, spans, 1), TEL_OK);
    /* Span body: trace id 18 + span id 10 + name 3 + kind 2 + times 18 + flags 6 = 57. */
    static const uint8_t want_prefix[] = {
        0x0A, 65, /* resource_spans, len 65 */
        0x0A, 0,  /* resource {} */
        0x12, 61, /* scope_spans, len 61 */
        0x0A, 0,  /* scope {} */
        0x12, 57, /* span, len 57 */
        0x0A, 16, 1,   2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, /* trace id */
        0x12, 8,  1,   2, 3, 4, 5, 6, 7, 8,                                /* span id */
        0x2A, 1,  'a',                                                     /* name */
        0x30, 2,                                                           /* kind */
        0x39,                                                              /* start */
    };
    assert_true(b.len == 2 + 65);
    assert_memory_equal(b.data, want_prefix, sizeof want_prefix);
    uint64_t t;
    memcpy(&t, b.data + sizeof want_prefix, 8);
    assert_true(t == d.start_ns);
    assert_int_equal(b.data[sizeof want_prefix + 8], 0x41);
    memcpy(&t, b.data + sizeof want_prefix + 9, 8);
    assert_true(t == d.end_ns);
    /* flags: field 16 fixed32 = sampled | has_is_remote */
    static const uint8_t flags[] = {0x85, 0x01, 0x01, 0x01, 0x00, 0x00};
    assert_memory_equal(b.data + b.len - 6, flags, 6);
    tel_buf_free(&b);
}

static void test_full_span(void **state)
{
    (void)state;
    static const char *const strs[] = {"x", "", "zz"};
    static const bool bools[] = {true, false};
    static const int64_t ints[] = {-1, 0, INT64_MAX};
    static const double dbls[] = {0.5, -1e300};
    tel_attr attrs[] = {
        TEL_ATTR_STR("http.request.method", "GET"),
        TEL_ATTR_BOOLEAN("b", true),
        TEL_ATTR_BOOLEAN("bf", false),
        TEL_ATTR_INT64("neg", -42),
        TEL_ATTR_INT64("big", INT64_MIN),
        TEL_ATTR_DBL("pi", 3.141592653589793),
        {.key = "sa", .type = TEL_ATTR_STRING_ARRAY, .len = 3, .v.arr = strs},
        {.key = "ba", .type = TEL_ATTR_BOOL_ARRAY, .len = 2, .v.arr = bools},
        {.key = "ia", .type = TEL_ATTR_INT_ARRAY, .len = 3, .v.arr = ints},
        {.key = "da", .type = TEL_ATTR_DOUBLE_ARRAY, .len = 2, .v.arr = dbls},
        {.key = "empty", .type = TEL_ATTR_INT_ARRAY, .len = 0, .v.arr = NULL},
    };
    tel_span_data d;
    make_span(&d, &scope_a, "GET /servers/{id}", attrs, 11, 7);
    d.has_parent = true;
    d.parent_remote = true;
    memset(d.parent_span_id, 0xAB, 8);
    d.status = TEL_STATUS_ERROR;
    d.status_msg = "boom";
    d.dropped_attrs = 3;
    d.dropped_events = 4;
    d.dropped_links = 5;
    d.sc.flags = 0x03;
    const char *tsv = "vendor=abc,other=1";
    d.ts = tel_tracestate_parse(&tsv, NULL, 1, NULL);
    assert_non_null(d.ts);

    tel_attr more[] = {TEL_ATTR_STR("extra.attr", "v17")};
    tel_attr ev_attrs[] = {TEL_ATTR_STR("exception.type", "E"), TEL_ATTR_INT64("n", 1)};
    tel_event events[] = {{"ev1", 1700000000150000000ull, ev_attrs, 2, 1},
                          {"ev2", 1700000000160000000ull, NULL, 0, 0}};
    tel_attr link_attrs[] = {TEL_ATTR_BOOLEAN("l", true)};
    tel_link links[1];
    memset(links, 0, sizeof links);
    memset(links[0].sc.trace_id, 0x11, 16);
    memset(links[0].sc.span_id, 0x22, 8);
    links[0].sc.flags = 1;
    links[0].sc.remote = true;
    links[0].tracestate = "k=v";
    links[0].attrs = link_attrs;
    links[0].n_attrs = 1;
    links[0].dropped_attrs = 2;
    tel_span_extra x = {
        .attrs = more, .n_attrs = 1, .events = events, .n_events = 2, .links = links, .n_links = 1};
    d.extra = &x;

    tel_attr rattrs[] = {TEL_ATTR_STR("service.name", "bmc-agent"), TEL_ATTR_INT64("pid", 77)};
    tel_resource res = {rattrs, 2, "https://schema/1"};
    const tel_span_data *spans[] = {&d};
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_traces_pb(&b, &res, spans, 1), TEL_OK);

    int n = resource_spans(&b);
    /* Resource */
    const pbf *r = pb_get(fb, n, 1, 0);
    assert_non_null(r);
    int rn = pb_fields(r->d, r->n, fc, PB_MAX_FIELDS);
    assert_int_equal(rn, 2);
    check_kv(&fc[0], &rattrs[0]);
    check_kv(&fc[1], &rattrs[1]);
    assert_true(pb_str_eq(pb_get(fb, n, 3, 0), "https://schema/1"));
    /* ScopeSpans */
    assert_int_equal(pb_count(fb, n, 2), 1);
    const pbf *ss = pb_get(fb, n, 2, 0);
    int sn = pb_fields(ss->d, ss->n, fc, PB_MAX_FIELDS);
    const pbf *sc = pb_get(fc, sn, 1, 0);
    pbf scf[4];
    int scn = pb_fields(sc->d, sc->n, scf, 4);
    assert_int_equal(scn, 2);
    assert_true(pb_str_eq(pb_get(scf, scn, 1, 0), "lib.a"));
    assert_true(pb_str_eq(pb_get(scf, scn, 2, 0), "1.2.3"));
    assert_int_equal(pb_count(fc, sn, 2), 1);
    const pbf *sp = pb_get(fc, sn, 2, 0);
    int pn = pb_fields(sp->d, sp->n, fd, PB_MAX_FIELDS);
    assert_true(pn > 0);
    assert_memory_equal(pb_get(fd, pn, 1, 0)->d, d.sc.trace_id, 16);
    assert_memory_equal(pb_get(fd, pn, 2, 0)->d, d.sc.span_id, 8);
    assert_true(pb_str_eq(pb_get(fd, pn, 3, 0), "vendor=abc,other=1"));
    assert_memory_equal(pb_get(fd, pn, 4, 0)->d, d.parent_span_id, 8);
    assert_true(pb_str_eq(pb_get(fd, pn, 5, 0), "GET /servers/{id}"));
    assert_int_equal(pb_get(fd, pn, 6, 0)->v, 2);
    assert_true(pb_get(fd, pn, 7, 0)->v == d.start_ns);
    assert_true(pb_get(fd, pn, 8, 0)->v == d.end_ns);
    assert_int_equal(pb_count(fd, pn, 9), 12);
    for (int i = 0; i < 6; i++)
        check_kv(pb_get(fd, pn, 9, i), &attrs[i]);
    check_kv(pb_get(fd, pn, 9, 11), &more[0]);
    /* string array */
    {
        pbf kv[4], av[4], arr[8];
        const pbf *f = pb_get(fd, pn, 9, 6);
        pb_fields(f->d, f->n, kv, 4);
        assert_true(pb_str_eq(&kv[0], "sa"));
        assert_int_equal(pb_fields(kv[1].d, kv[1].n, av, 4), 1);
        assert_int_equal(av[0].field, 5);
        int an = pb_fields(av[0].d, av[0].n, arr, 8);
        assert_int_equal(an, 3);
        for (int i = 0; i < 3; i++) {
            pbf el[2];
            assert_int_equal(pb_fields(arr[i].d, arr[i].n, el, 2), 1);
            assert_true(pb_str_eq(&el[0], strs[i]));
        }
        /* int array: -1 as a ten-byte varint, INT64_MAX */
        f = pb_get(fd, pn, 9, 8);
        pb_fields(f->d, f->n, kv, 4);
        pb_fields(kv[1].d, kv[1].n, av, 4);
        an = pb_fields(av[0].d, av[0].n, arr, 8);
        assert_int_equal(an, 3);
        for (int i = 0; i < 3; i++) {
            pbf el[2];
            assert_int_equal(pb_fields(arr[i].d, arr[i].n, el, 2), 1);
            assert_int_equal(el[0].field, 3);
            assert_true((int64_t)el[0].v == ints[i]);
        }
        /* double array */
        f = pb_get(fd, pn, 9, 9);
        pb_fields(f->d, f->n, kv, 4);
        pb_fields(kv[1].d, kv[1].n, av, 4);
        an = pb_fields(av[0].d, av[0].n, arr, 8);
        assert_int_equal(an, 2);
        pbf el[2];
        pb_fields(arr[1].d, arr[1].n, el, 2);
        double dv;
        memcpy(&dv, &el[0].v, 8);
        assert_true(dv == -1e300);
        /* empty array: an ArrayValue without values */
        f = pb_get(fd, pn, 9, 10);
        pb_fields(f->d, f->n, kv, 4);
        assert_int_equal(pb_fields(kv[1].d, kv[1].n, av, 4), 1);
        assert_int_equal(av[0].field, 5);
        assert_int_equal(av[0].n, 0);
    }
    assert_int_equal(pb_get(fd, pn, 10, 0)->v, 3);
    assert_int_equal(pb_get(fd, pn, 12, 0)->v, 4);
    assert_int_equal(pb_get(fd, pn, 14, 0)->v, 5);
    /* events */
    assert_int_equal(pb_count(fd, pn, 11), 2);
    {
        const pbf *e = pb_get(fd, pn, 11, 0);
        int en = pb_fields(e->d, e->n, fe, PB_MAX_FIELDS);
        assert_true(pb_get(fe, en, 1, 0)->v == events[0].time_ns);
        assert_true(pb_str_eq(pb_get(fe, en, 2, 0), "ev1"));
        assert_int_equal(pb_count(fe, en, 3), 2);
        check_kv(pb_get(fe, en, 3, 0), &ev_attrs[0]);
        check_kv(pb_get(fe, en, 3, 1), &ev_attrs[1]);
        assert_int_equal(pb_get(fe, en, 4, 0)->v, 1);
        e = pb_get(fd, pn, 11, 1);
        en = pb_fields(e->d, e->n, fe, PB_MAX_FIELDS);
        assert_true(pb_str_eq(pb_get(fe, en, 2, 0), "ev2"));
        assert_null(pb_get(fe, en, 4, 0));
    }
    /* link */
    {
        const pbf *l = pb_get(fd, pn, 13, 0);
        int ln = pb_fields(l->d, l->n, fe, PB_MAX_FIELDS);
        assert_memory_equal(pb_get(fe, ln, 1, 0)->d, links[0].sc.trace_id, 16);
        assert_memory_equal(pb_get(fe, ln, 2, 0)->d, links[0].sc.span_id, 8);
        assert_true(pb_str_eq(pb_get(fe, ln, 3, 0), "k=v"));
        check_kv(pb_get(fe, ln, 4, 0), &link_attrs[0]);
        assert_int_equal(pb_get(fe, ln, 5, 0)->v, 2);
        const pbf *lf = pb_get(fe, ln, 6, 0);
        assert_int_equal(lf->wt, 5);
        assert_int_equal(lf->v, 0x301);
    }
    /* status */
    {
        const pbf *st = pb_get(fd, pn, 15, 0);
        pbf sf[4];
        int stn = pb_fields(st->d, st->n, sf, 4);
        assert_true(pb_str_eq(pb_get(sf, stn, 2, 0), "boom"));
        assert_int_equal(pb_get(sf, stn, 3, 0)->v, 2);
    }
    /* flags: W3C 0x03 | has_is_remote | is_remote */
    const pbf *fl = pb_get(fd, pn, 16, 0);
    assert_non_null(fl);
    assert_int_equal(fl->wt, 5);
    assert_int_equal(fl->v, 0x303);
    tel_tracestate_unref(d.ts);
    tel_buf_free(&b);
}

static void test_scope_grouping(void **state)
{
    (void)state;
    tel_span_data d[5];
    const tel_scope *scopes[] = {&scope_a, &scope_b, &scope_a, NULL, &scope_b};
    const char *names[] = {"s0", "s1", "s2", "s3", "s4"};
    const tel_span_data *spans[5];
    for (int i = 0; i < 5; i++) {
        make_span(&d[i], scopes[i], names[i], NULL, 0, (uint8_t)i);
        spans[i] = &d[i];
    }
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_traces_pb(&b, NULL, spans, 5), TEL_OK);
    int n = resource_spans(&b);
    assert_int_equal(pb_count(fb, n, 2), 3);
    static const char *const want[3][2] = {{"s0", "s2"}, {"s1", "s4"}, {"s3", NULL}};
    static const char *const want_scope[3] = {"lib.a", "lib.b", NULL};
    for (int s = 0; s < 3; s++) {
        const pbf *ss = pb_get(fb, n, 2, s);
        int sn = pb_fields(ss->d, ss->n, fc, PB_MAX_FIELDS);
        const pbf *scope = pb_get(fc, sn, 1, 0);
        pbf scf[4];
        int scn = pb_fields(scope->d, scope->n, scf, 4);
        if (want_scope[s])
            assert_true(pb_str_eq(pb_get(scf, scn, 1, 0), want_scope[s]));
        else
            assert_int_equal(scn, 0);
        for (int k = 0; k < 2; k++) {
            const pbf *sp = pb_get(fc, sn, 2, k);
            if (!want[s][k]) {
                assert_null(sp);
                continue;
            }
            int pn = pb_fields(sp->d, sp->n, fd, PB_MAX_FIELDS);
            assert_true(pb_str_eq(pb_get(fd, pn, 5, 0), want[s][k]));
        }
    }
    tel_buf_free(&b);
}

static void test_many_scopes(void **state)
{
    (void)state;
    enum { NS = 45, NSP = 90 };
    static tel_scope scopes[NS];
    static char names[NS][16];
    static tel_span_data d[NSP];
    const tel_span_data *spans[NSP];
    for (int i = 0; i < NS; i++) {
        snprintf(names[i], sizeof names[i], "scope%d", i);
        scopes[i].name = names[i];
    }
    for (int i = 0; i < NSP; i++) {
        /* scope (i*7) % NS: every scope twice, interleaved */
        make_span(&d[i], &scopes[(i * 7) % NS], "x", NULL, 0, (uint8_t)i);
        d[i].start_ns = (uint64_t)i;
        spans[i] = &d[i];
    }
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_traces_pb(&b, NULL, spans, NSP), TEL_OK);
    int n = resource_spans(&b);
    assert_int_equal(pb_count(fb, n, 2), NS);
    int total = 0;
    for (int s = 0; s < NS; s++) {
        const pbf *ss = pb_get(fb, n, 2, s);
        int sn = pb_fields(ss->d, ss->n, fc, PB_MAX_FIELDS);
        pbf scf[4];
        const pbf *sc = pb_get(fc, sn, 1, 0);
        int scn = pb_fields(sc->d, sc->n, scf, 4);
        /* first-seen order: span s has scope (s*7)%NS */
        assert_true(pb_str_eq(pb_get(scf, scn, 1, 0), names[(s * 7) % NS]));
        assert_int_equal(pb_count(fc, sn, 2), 2);
        total += 2;
    }
    assert_int_equal(total, NSP);
    tel_buf_free(&b);
}

/* Spans whose length needs 1 byte (< 128) and 3 bytes (>= 16 KiB); batches below 16 KiB and
 * above 2 MiB: every back-patch path, checked with the strict (minimal varint) walker. */
static void test_length_classes(void **state)
{
    (void)state;
    size_t big = 3 * 1024 * 1024 / 16;
    char *s = malloc(big + 1);
    memset(s, 'q', big);
    s[big] = 0;
    tel_attr a = {.key = "blob", .type = TEL_ATTR_STRING, .len = (uint32_t)big, .v.s = s};
    tel_span_data d[20];
    const tel_span_data *spans[20];
    for (int i = 0; i < 20; i++) {
        make_span(&d[i], &scope_a, i == 0 ? "" : "n", &a, i == 0 ? 0 : 1, (uint8_t)i);
        spans[i] = &d[i];
    }
    tel_buf b = TEL_BUF_INIT;
    /* one tiny span */
    assert_int_equal(tel_otlp_encode_traces_pb(&b, NULL, spans, 1), TEL_OK);
    int n = resource_spans(&b);
    const pbf *ss = pb_get(fb, n, 2, 0);
    int sn = pb_fields(ss->d, ss->n, fc, PB_MAX_FIELDS);
    assert_true(pb_get(fc, sn, 2, 0)->n < 128);
    /* twenty spans, 19 of them ~196 KiB: > 2 MiB in all */
    b.len = 0;
    assert_int_equal(tel_otlp_encode_traces_pb(&b, NULL, spans, 20), TEL_OK);
    assert_true(b.len > 3u * 1024 * 1024);
    n = resource_spans(&b);
    ss = pb_get(fb, n, 2, 0);
    sn = pb_fields(ss->d, ss->n, fc, PB_MAX_FIELDS);
    assert_int_equal(pb_count(fc, sn, 2), 20);
    const pbf *sp = pb_get(fc, sn, 2, 5);
    int pn = pb_fields(sp->d, sp->n, fd, PB_MAX_FIELDS);
    check_kv(pb_get(fd, pn, 9, 0), &a);
    free(s);
    tel_buf_free(&b);
}

static void test_append_and_reuse(void **state)
{
    (void)state;
    tel_attr attrs[] = {TEL_ATTR_STR("a", "b"), TEL_ATTR_INT64("c", 5)};
    tel_span_data d[512];
    const tel_span_data *spans[512];
    for (int i = 0; i < 512; i++) {
        make_span(&d[i], &scope_a, "GET /x", attrs, 2, (uint8_t)i);
        spans[i] = &d[i];
    }
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_buf_append(&b, "XY", 2), TEL_OK);
    assert_int_equal(tel_otlp_encode_traces_pb(&b, NULL, spans, 512), TEL_OK);
    assert_memory_equal(b.data, "XY", 2);
    size_t len = b.len;
    /* The same batch again into the emptied buffer: no reallocation, same bytes. */
    uint8_t *copy = malloc(len - 2);
    memcpy(copy, b.data + 2, len - 2);
    uint8_t *data = b.data;
    size_t cap = b.cap;
    b.len = 0;
    assert_int_equal(tel_otlp_encode_traces_pb(&b, NULL, spans, 512), TEL_OK);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, len - 2);
    assert_memory_equal(b.data, copy, len - 2);
    free(copy);
    /* n == 0 appends nothing */
    b.len = 0;
    assert_int_equal(tel_otlp_encode_traces_pb(&b, NULL, spans, 0), TEL_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(tel_otlp_encode_traces_pb(NULL, NULL, spans, 1), TEL_EINVAL);
    tel_buf_free(&b);
}

static void test_buf(void **state)
{
    (void)state;
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_buf_reserve(&b, 10), TEL_OK);
    assert_true(b.cap >= 10);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(tel_buf_append(&b, "abcd", 4), TEL_OK);
    assert_int_equal(b.len, 4000);
    assert_int_equal(tel_buf_reserve(&b, SIZE_MAX - 10), TEL_ETOOBIG);
    tel_buf_reset(&b, 1 << 20);
    assert_int_equal(b.len, 0);
    assert_non_null(b.data);
    tel_buf_reset(&b, 16);
    assert_null(b.data);
    tel_buf_free(&b);
}

static void test_decode_response(void **state)
{
    (void)state;
    tel_otlp_partial p;
    /* empty body: success without partial_success */
    assert_int_equal(tel_otlp_decode_response_pb(NULL, 0, &p), TEL_OK);
    assert_false(p.present);
    /* partial_success { rejected_spans: 7, error_message: "bad" } plus unknown fields */
    static const uint8_t body[] = {0x0A, 0x07, 0x08, 0x07, 0x12, 0x03, 'b', 'a', 'd',
                                   0x10, 0x05,                /* unknown varint field 2 */
                                   0x1D, 1,    2,    3,    4, /* unknown fixed32 field 3 */
                                   0x21, 1,    2,    3,    4,    5,    6,   7,   8};
    assert_int_equal(tel_otlp_decode_response_pb(body, sizeof body, &p), TEL_OK);
    assert_true(p.present);
    assert_int_equal(p.rejected, 7);
    assert_string_equal(p.message, "bad");
    /* truncated */
    assert_int_equal(tel_otlp_decode_response_pb(body, 5, &p), TEL_EINVAL);
    /* group wire type */
    static const uint8_t grp[] = {0x0B};
    assert_int_equal(tel_otlp_decode_response_pb(grp, 1, &p), TEL_EINVAL);
    /* long message cut at a UTF-8 boundary (150 x "\xc3\xa9", 300 bytes) */
    uint8_t msg[600];
    size_t ml = 0;
    msg[ml++] = 0x0A;
    size_t inner = 1 + 2 + 300;
    msg[ml++] = (uint8_t)(0x80 | (inner & 0x7f));
    msg[ml++] = (uint8_t)(inner >> 7);
    msg[ml++] = 0x12;
    msg[ml++] = (uint8_t)(0x80 | (300 & 0x7f));
    msg[ml++] = (uint8_t)(300 >> 7);
    for (int i = 0; i < 150; i++) {
        msg[ml++] = 0xC3;
        msg[ml++] = 0xA9;
    }
    assert_int_equal(tel_otlp_decode_response_pb(msg, ml, &p), TEL_OK);
    assert_true(strlen(p.message) <= 255);
    assert_int_equal(strlen(p.message) % 2, 0);
    /* google.rpc.Status message */
    static const uint8_t st[] = {0x08, 0x03, 0x12, 0x04, 'n', 'o', 'p', 'e'};
    char out[64];
    assert_int_equal(tel__otlp_decode_status_pb(st, sizeof st, out, sizeof out), TEL_OK);
    assert_string_equal(out, "nope");
}

/* ---- Metrics and logs ---- */

static double f64(const pbf *f)
{
    assert_non_null(f);
    assert_int_equal(f->wt, 1);
    double d;
    memcpy(&d, &f->v, 8);
    return d;
}

static uint64_t u64(const pbf *f)
{
    assert_non_null(f);
    assert_int_equal(f->wt, 1);
    return f->v;
}

/* The scope (name, version) of a Scope{Metrics,Logs} and its items (field 2). */
static int scope_items(const pbf *ss, pbf *out, const char *name, const char *version)
{
    int n = pb_fields(ss->d, ss->n, out, PB_MAX_FIELDS);
    assert_true(n > 0);
    const pbf *sc = pb_get(out, n, 1, 0);
    assert_non_null(sc);
    pbf scf[4];
    int scn = pb_fields(sc->d, sc->n, scf, 4);
    assert_true(pb_str_eq(pb_get(scf, scn, 1, 0), name));
    if (version)
        assert_true(pb_str_eq(pb_get(scf, scn, 2, 0), version));
    else
        assert_null(pb_get(scf, scn, 2, 0));
    return n;
}

static void check_exemplar(const pbf *ef, const tel_exemplar *e)
{
    pbf x[16];
    int n = pb_fields(ef->d, ef->n, x, 16);
    assert_true(u64(pb_get(x, n, 2, 0)) == e->time_ns);
    if (e->is_int) {
        assert_true((int64_t)u64(pb_get(x, n, 6, 0)) == e->value.i);
        assert_null(pb_get(x, n, 3, 0));
    } else {
        assert_true(f64(pb_get(x, n, 3, 0)) == e->value.d);
        assert_null(pb_get(x, n, 6, 0));
    }
    if (e->has_span) {
        const pbf *sid = pb_get(x, n, 4, 0), *tid = pb_get(x, n, 5, 0);
        assert_true(sid && sid->n == 8 && memcmp(sid->d, e->span_id, 8) == 0);
        assert_true(tid && tid->n == 16 && memcmp(tid->d, e->trace_id, 16) == 0);
    } else {
        assert_null(pb_get(x, n, 4, 0));
        assert_null(pb_get(x, n, 5, 0));
    }
    assert_int_equal(pb_count(x, n, 7), (int)e->n_filtered_attrs);
    for (uint32_t i = 0; i < e->n_filtered_attrs; i++)
        check_kv(pb_get(x, n, 7, (int)i), &e->filtered_attrs[i]);
}

/* A metric message: name, description, unit, then its data message's fields into data[]. */
static int metric_data(const pbf *mf, const tel_metric *m, uint32_t data_field, pbf *data)
{
    pbf x[16];
    int n = pb_fields(mf->d, mf->n, x, 16);
    assert_true(pb_str_eq(pb_get(x, n, 1, 0), m->name));
    if (m->description && *m->description)
        assert_true(pb_str_eq(pb_get(x, n, 2, 0), m->description));
    else
        assert_null(pb_get(x, n, 2, 0));
    if (m->unit && *m->unit)
        assert_true(pb_str_eq(pb_get(x, n, 3, 0), m->unit));
    else
        assert_null(pb_get(x, n, 3, 0));
    const pbf *d = pb_get(x, n, data_field, 0);
    assert_non_null(d);
    assert_int_equal(n, 1 + (m->description && *m->description) + (m->unit && *m->unit) + 1);
    return pb_fields(d->d, d->n, data, PB_MAX_FIELDS);
}

static void check_number_point(const pbf *pf, const tel_metric_point *p)
{
    pbf x[32];
    int n = pb_fields(pf->d, pf->n, x, 32);
    assert_int_equal(pb_count(x, n, 7), (int)p->n_attrs);
    for (uint32_t i = 0; i < p->n_attrs; i++)
        check_kv(pb_get(x, n, 7, (int)i), &p->attrs[i]);
    if (p->start_ns)
        assert_true(u64(pb_get(x, n, 2, 0)) == p->start_ns);
    else
        assert_null(pb_get(x, n, 2, 0));
    assert_true(u64(pb_get(x, n, 3, 0)) == p->time_ns);
    if (p->is_int) {
        assert_true((int64_t)u64(pb_get(x, n, 6, 0)) == p->value.i); /* also when 0 */
        assert_null(pb_get(x, n, 4, 0));
    } else {
        assert_true(f64(pb_get(x, n, 4, 0)) == p->value.d);
        assert_null(pb_get(x, n, 6, 0));
    }
    assert_int_equal(pb_count(x, n, 5), (int)p->n_exemplars);
    for (uint32_t i = 0; i < p->n_exemplars; i++)
        check_exemplar(pb_get(x, n, 5, (int)i), &p->exemplars[i]);
}

static void test_metrics_pb(void **state)
{
    (void)state;
    metric_fixture f;
    metric_fixture_init(&f);
    tel_attr ra = TEL_ATTR_STR("service.name", "bmc-agent");
    tel_resource res = {&ra, 1, NULL};
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_metrics_pb(&b, &res, f.m, 4), TEL_OK);
    int n = resource_spans(&b); /* the ResourceMetrics (same field numbers) */
    assert_non_null(pb_get(fb, n, 1, 0));
    assert_int_equal(pb_count(fb, n, 2), 2);

    int sn = scope_items(pb_get(fb, n, 2, 0), fc, "bmcfleet.metrics", "1.0");
    assert_int_equal(pb_count(fc, sn, 2), 3); /* m0, m1, m3: grouped by scope text */
    /* m0: monotonic cumulative Sum of ints */
    int dn = metric_data(pb_get(fc, sn, 2, 0), &f.m[0], 7, fd);
    assert_int_equal(pb_count(fd, dn, 1), 2);
    assert_int_equal(pb_get(fd, dn, 2, 0)->v, TEL_TEMPORALITY_CUMULATIVE);
    assert_int_equal(pb_get(fd, dn, 3, 0)->v, 1);
    check_number_point(pb_get(fd, dn, 1, 0), &f.pts[0]);
    check_number_point(pb_get(fd, dn, 1, 1), &f.pts[1]);
    /* m1: non-monotonic Sum of doubles: is_monotonic (false) is not written */
    dn = metric_data(pb_get(fc, sn, 2, 1), &f.m[1], 7, fd);
    assert_null(pb_get(fd, dn, 3, 0));
    assert_int_equal(pb_get(fd, dn, 2, 0)->v, TEL_TEMPORALITY_CUMULATIVE);
    check_number_point(pb_get(fd, dn, 1, 0), &f.pts[2]);
    /* m3: Histogram */
    dn = metric_data(pb_get(fc, sn, 2, 2), &f.m[3], 9, fd);
    assert_int_equal(pb_get(fd, dn, 2, 0)->v, TEL_TEMPORALITY_CUMULATIVE);
    assert_int_equal(pb_count(fd, dn, 1), 1);
    const pbf *hp = pb_get(fd, dn, 1, 0);
    int hn = pb_fields(hp->d, hp->n, fe, PB_MAX_FIELDS);
    const tel_metric_point *p = &f.pts[4];
    assert_int_equal(pb_count(fe, hn, 9), 1);
    check_kv(pb_get(fe, hn, 9, 0), &p->attrs[0]);
    assert_true(u64(pb_get(fe, hn, 2, 0)) == p->start_ns);
    assert_true(u64(pb_get(fe, hn, 3, 0)) == p->time_ns);
    assert_true(u64(pb_get(fe, hn, 4, 0)) == 6);
    assert_true(f64(pb_get(fe, hn, 5, 0)) == 42.5);
    assert_true(f64(pb_get(fe, hn, 11, 0)) == 0.5);
    assert_true(f64(pb_get(fe, hn, 12, 0)) == 30);
    const pbf *bc = pb_get(fe, hn, 6, 0), *eb = pb_get(fe, hn, 7, 0);
    assert_true(bc && bc->wt == 2 && bc->n == 4 * 8); /* packed fixed64 */
    assert_true(eb && eb->wt == 2 && eb->n == 3 * 8); /* packed double */
    for (int i = 0; i < 4; i++) {
        uint64_t v;
        memcpy(&v, bc->d + 8 * i, 8);
        assert_true(v == f.buckets[i]);
    }
    for (int i = 0; i < 3; i++) {
        double v;
        memcpy(&v, eb->d + 8 * i, 8);
        assert_true(v == f.bounds[i]);
    }
    assert_int_equal(pb_count(fe, hn, 8), 1);
    check_exemplar(pb_get(fe, hn, 8, 0), &f.ex[0]);

    sn = scope_items(pb_get(fb, n, 2, 1), fc, "other", NULL);
    assert_int_equal(pb_count(fc, sn, 2), 1);
    dn = metric_data(pb_get(fc, sn, 2, 0), &f.m[2], 5, fd); /* Gauge */
    assert_int_equal(dn, 1);                                /* data points only: no temporality */
    check_number_point(pb_get(fd, dn, 1, 0), &f.pts[3]);

    /* Nothing to send: an empty request. */
    size_t before = b.len;
    assert_int_equal(tel_otlp_encode_metrics_pb(&b, NULL, f.m, 0), TEL_OK);
    assert_int_equal(b.len, before);
    assert_int_equal(tel_otlp_encode_metrics_pb(&b, NULL, NULL, 1), TEL_EINVAL);
    tel_buf_free(&b);
}

static void test_logs_pb(void **state)
{
    (void)state;
    log_fixture f;
    log_fixture_init(&f);
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_logs_pb(&b, NULL, f.ptrs, 3), TEL_OK);
    int n = resource_spans(&b);
    assert_int_equal(pb_count(fb, n, 2), 2);
    int sn = scope_items(pb_get(fb, n, 2, 0), fc, "bmcfleet.log", "1.0");
    assert_int_equal(pb_count(fc, sn, 2), 2); /* r0 and r2 */

    const pbf *lr = pb_get(fc, sn, 2, 0);
    int ln = pb_fields(lr->d, lr->n, fd, PB_MAX_FIELDS);
    const tel_log_record *r = &f.r[0];
    assert_true(u64(pb_get(fd, ln, 1, 0)) == r->time_ns);
    assert_true(u64(pb_get(fd, ln, 11, 0)) == r->observed_time_ns);
    assert_int_equal(pb_get(fd, ln, 2, 0)->v, TEL_SEVERITY_WARN);
    assert_true(pb_str_eq(pb_get(fd, ln, 3, 0), "WARN"));
    const pbf *body = pb_get(fd, ln, 5, 0);
    pbf av[4];
    int an = pb_fields(body->d, body->n, av, 4);
    assert_int_equal(an, 1);
    assert_true(pb_str_eq(pb_get(av, an, 1, 0), "disk 93% full"));
    assert_int_equal(pb_count(fd, ln, 6), 2);
    check_kv(pb_get(fd, ln, 6, 0), &f.attrs[0]);
    check_kv(pb_get(fd, ln, 6, 1), &f.attrs[1]);
    assert_int_equal(pb_get(fd, ln, 7, 0)->v, 1);
    const pbf *fl = pb_get(fd, ln, 8, 0);
    assert_true(fl && fl->wt == 5 && fl->v == 1);
    const pbf *tid = pb_get(fd, ln, 9, 0), *sid = pb_get(fd, ln, 10, 0);
    assert_true(tid && tid->n == 16 && memcmp(tid->d, r->trace_id, 16) == 0);
    assert_true(sid && sid->n == 8 && memcmp(sid->d, r->span_id, 8) == 0);

    /* r2: no time, no body, no span */
    lr = pb_get(fc, sn, 2, 1);
    ln = pb_fields(lr->d, lr->n, fd, PB_MAX_FIELDS);
    assert_null(pb_get(fd, ln, 1, 0));
    assert_true(u64(pb_get(fd, ln, 11, 0)) == f.r[2].observed_time_ns);
    assert_int_equal(pb_get(fd, ln, 2, 0)->v, TEL_SEVERITY_ERROR);
    assert_null(pb_get(fd, ln, 5, 0));
    assert_null(pb_get(fd, ln, 8, 0));
    assert_null(pb_get(fd, ln, 9, 0));
    assert_null(pb_get(fd, ln, 10, 0));

    /* r1: an empty body is still a string value */
    sn = scope_items(pb_get(fb, n, 2, 1), fc, "other", NULL);
    lr = pb_get(fc, sn, 2, 0);
    ln = pb_fields(lr->d, lr->n, fd, PB_MAX_FIELDS);
    body = pb_get(fd, ln, 5, 0);
    an = pb_fields(body->d, body->n, av, 4);
    assert_int_equal(an, 1);
    assert_true(av[0].field == 1 && av[0].wt == 2 && av[0].n == 0);
    tel_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_minimal),
        cmocka_unit_test(test_full_span),
        cmocka_unit_test(test_scope_grouping),
        cmocka_unit_test(test_many_scopes),
        cmocka_unit_test(test_length_classes),
        cmocka_unit_test(test_append_and_reuse),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_decode_response),
        cmocka_unit_test(test_metrics_pb),
        cmocka_unit_test(test_logs_pb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
