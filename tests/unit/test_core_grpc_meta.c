/* core/grpc_meta: tel_carrier adapters over gRPC metadata (reader over a received array,
 * writer building outgoing metadata), through the telemetry propagators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "core/error.h"
#include "core/grpc_meta.h"
#include "telemetry/propagation.h"

static grpc_metadata md_entry(const char *k, const char *v)
{
    grpc_metadata m;
    memset(&m, 0, sizeof m);
    m.key = grpc_slice_from_static_string(k);
    m.value = grpc_slice_from_static_string(v);
    return m;
}

static void test_reader_extract(void **state)
{
    grpc_metadata md[] = {
        md_entry("user-agent", "grpc-c/29.0.0"),
        md_entry("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        md_entry("tracestate", "congo=t61rcWkgMzE"),
        md_entry("tracestate", "rojo=00f067aa0ba902b7"),
        md_entry("baggage", "customer_id=c%2042,datacenter=dc-1;p"),
        md_entry("x-bin", "\x01\x02"),
    };
    grpc_metadata_array arr = {6, 6, md};
    tel_carrier c;
    core_grpc_meta_reader(&c, &arr);
    size_t len;
    const char *v = c.get(c.ud, "TraceParent", &len);
    assert_non_null(v);
    assert_int_equal(len, 55);
    const char *vals[4];
    size_t lens[4];
    assert_int_equal(c.get_all(c.ud, "tracestate", vals, lens, 4), 2);
    assert_null(c.get(c.ud, "x-bin", &len)); /* binary entries are not text */
    assert_non_null(core_grpc_meta_get(&arr, "x-bin", &len));
    assert_int_equal(len, 2);
    assert_int_not_equal(c.set(c.ud, "a", "b"), CORE_OK);

    tel_propagator *p = tel_propagator_create("tracecontext,baggage");
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_propagator_extract(p, &c, &ctx);
    assert_true(tel_span_context_is_valid(&ctx.sc));
    assert_true(ctx.sc.remote);
    assert_int_equal(ctx.sc.trace_id[0], 0x4b);
    size_t tl;
    assert_string_equal(tel_tracestate_str(ctx.ts, &tl), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    assert_string_equal(tel_baggage_get(ctx.bag, "customer_id"), "c 42");

    /* inject into a writer and read it back */
    core_grpc_meta_writer w;
    core_grpc_meta_writer_init(&w);
    tel_carrier out;
    core_grpc_meta_writer_carrier(&out, &w);
    assert_int_equal(tel_propagator_inject(p, &ctx, &out), TEL_OK);
    assert_int_equal(w.n, 3);
    grpc_metadata_array back = {w.n, w.n, w.md};
    v = core_grpc_meta_get(&back, "traceparent", &len);
    assert_int_equal(len, 55);
    assert_memory_equal(v, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55);
    v = core_grpc_meta_get(&back, "baggage", &len);
    assert_non_null(v);
    assert_non_null(memmem(v, len, "customer_id=c%2042", 18));
    core_grpc_meta_writer_cleanup(&w);
    tel_context_cleanup(&ctx);
    tel_propagator_destroy(p);
}

static void test_duplicate_traceparent_ignored(void **state)
{
    grpc_metadata md[] = {
        md_entry("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        md_entry("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    };
    grpc_metadata_array arr = {2, 2, md};
    tel_carrier c;
    core_grpc_meta_reader(&c, &arr);
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_propagator_extract(tel_propagator_global(), &c, &ctx);
    assert_false(tel_span_context_is_valid(&ctx.sc));
    tel_context_cleanup(&ctx);
}

static void test_writer_rules(void **state)
{
    core_grpc_meta_writer w;
    core_grpc_meta_writer_init(&w);
    assert_int_equal(core_grpc_meta_writer_set(&w, "X-Request-Id", "abc"), CORE_OK);
    assert_int_equal(w.n, 1);
    assert_int_equal(grpc_slice_str_cmp(w.md[0].key, "x-request-id"), 0); /* lowercased */
    assert_int_equal(core_grpc_meta_writer_set(&w, "x-request-id", "def"), CORE_OK);
    assert_int_equal(w.n, 1); /* replaced */
    assert_int_equal(grpc_slice_str_cmp(w.md[0].value, "def"), 0);
    assert_int_equal(core_grpc_meta_writer_set(&w, "bad key", "v"), CORE_EINVAL);
    assert_int_equal(core_grpc_meta_writer_set(&w, "k", "line\nbreak"), CORE_EINVAL);
    assert_int_equal(core_grpc_meta_writer_set(&w, "grpc-timeout", "1S"), CORE_EINVAL);
    assert_int_equal(core_grpc_meta_writer_set(&w, ":path", "/x"), CORE_EINVAL);
    assert_int_equal(core_grpc_meta_writer_set(&w, "content-type", "x"), CORE_EINVAL);
    assert_int_equal(core_grpc_meta_writer_set(&w, "", "x"), CORE_EINVAL);
    assert_int_equal(core_grpc_meta_writer_setn(&w, "blob-bin", "\0\n\xff", 3), CORE_OK);
    /* grow past the inline entries */
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(core_grpc_meta_writer_set(&w, k, "v"), CORE_OK);
    }
    assert_int_equal(w.n, 42);
    core_grpc_meta_writer_cleanup(&w);
    assert_int_equal(w.n, 0);
}

/* Trace context goes into a writer without an allocation (the values of more than 23 bytes,
 * too long to live inside their slice, go to the writer's arena); values past the arena are
 * copied to the heap. Every value reads back as it was set. */
static void test_writer_values_inline(void **state)
{
    static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    static const char ts[] = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    static const char bag[] = "customer_id=c%2042,datacenter=dc-1,session_id=s-0123456789";
    core_grpc_meta_writer w;
    core_grpc_meta_writer_init(&w);
#if ALLOC_COUNT
    long before = atomic_load(&allocs);
#endif
    assert_int_equal(core_grpc_meta_writer_set(&w, "traceparent", tp), CORE_OK);
    assert_int_equal(core_grpc_meta_writer_set(&w, "tracestate", ts), CORE_OK);
    assert_int_equal(core_grpc_meta_writer_set(&w, "baggage", bag), CORE_OK);
#if ALLOC_COUNT
    if (!test_under_valgrind()) assert_int_equal(atomic_load(&allocs) - before, 0);
#endif
    assert_int_equal(w.arena_used, strlen(tp) + strlen(ts) + strlen(bag));
    /* a value that no longer fits in the arena, and one replacing another */
    char big[CORE_GRPC_META_ARENA];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(core_grpc_meta_writer_set(&w, "x-big", big), CORE_OK);
    assert_int_equal(core_grpc_meta_writer_set(&w, "tracestate", "rojo=00f067aa0ba902b7-again"),
                     CORE_OK);
    assert_int_equal(w.n, 4);
    assert_int_equal(grpc_slice_str_cmp(w.md[0].key, "traceparent"), 0);
    assert_int_equal(grpc_slice_str_cmp(w.md[0].value, tp), 0);
    assert_int_equal(grpc_slice_str_cmp(w.md[1].value, "rojo=00f067aa0ba902b7-again"), 0);
    assert_int_equal(grpc_slice_str_cmp(w.md[2].value, bag), 0);
    assert_int_equal(grpc_slice_str_cmp(w.md[3].value, big), 0);
    /* the trace context keys are checked like any other */
    assert_int_equal(core_grpc_meta_writer_set(&w, "traceparent", "00-\x01"), CORE_EINVAL);
    assert_int_equal(core_grpc_meta_writer_set(&w, "TraceParent", tp), CORE_OK);
    assert_int_equal(w.n, 4);
    core_grpc_meta_writer_cleanup(&w);
    assert_int_equal(w.arena_used, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_extract),
        cmocka_unit_test(test_duplicate_traceparent_ignored),
        cmocka_unit_test(test_writer_rules),
        cmocka_unit_test(test_writer_values_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
