/* Unit tests of the process-wide string pool (core/src/intern.c): one immortal copy per text,
 * NUL-terminated, found again by content (not by pointer); NULL in, NULL out; the capped variant
 * (for texts from peers, such as addresses) adds nothing once the pool holds its cap, still
 * finds what is there, and leaves the rest of the pool to core_intern; the overall bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intern.h"

static void test_same_text_same_copy(void **state)
{
    (void)state;
    char a[] = "GET /v1/servers/{id}";
    char b[] = "GET /v1/servers/{id}";
    const char *ia = core_intern(a, strlen(a));
    const char *ib = core_intern(b, strlen(b));
    assert_non_null(ia);
    assert_ptr_equal(ia, ib);
    assert_ptr_not_equal(ia, a); /* a copy, not the caller's buffer */
    assert_string_equal(ia, "GET /v1/servers/{id}");
    /* A prefix is another text, NUL-terminated at its own length. */
    const char *ip = core_intern(a, 3);
    assert_non_null(ip);
    assert_ptr_not_equal(ip, ia);
    assert_string_equal(ip, "GET");
    assert_null(core_intern(NULL, 0));
    const char *empty = core_intern("", 0);
    assert_non_null(empty);
    assert_string_equal(empty, "");
}

static void test_capped(void **state)
{
    (void)state;
    /* Whatever the other tests added, the pool now holds less than 4 KB. */
    const char *known = core_intern("10.0.0.1", 8);
    assert_non_null(known);
    char addr[64];
    size_t added = 0;
    const char *last = NULL;
    /* Capped at 4 KB: addresses go in until the pool holds that much, then none do. */
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(addr, sizeof addr, "192.168.%d.%d", i / 250, i % 250);
        const char *c = core_intern_capped(addr, (size_t)n, 4096);
        if (!c)
            break;
        assert_string_equal(c, addr);
        last = c;
        added++;
    }
    assert_true(added > 100 && added < 1000);
    assert_non_null(last);
    /* Full for capped texts: a new one is refused, one already there is still found (also one
     * interned uncapped before). */
    assert_null(core_intern_capped("172.16.0.1", 10, 4096));
    assert_ptr_equal(core_intern_capped("10.0.0.1", 8, 4096), known);
    snprintf(addr, sizeof addr, "192.168.%d.%d", 0, 0);
    const char *first = core_intern_capped(addr, strlen(addr), 4096);
    assert_non_null(first);
    assert_string_equal(first, "192.168.0.0");
    /* The rest of the pool is still there for registered texts. */
    const char *route = core_intern("/v1/customers/{id}/servers", 26);
    assert_non_null(route);
    assert_string_equal(route, "/v1/customers/{id}/servers");
    /* and a capped text fits again under a larger cap. */
    const char *more = core_intern_capped("172.16.0.1", 10, 8192);
    assert_non_null(more);
    assert_string_equal(more, "172.16.0.1");
}

static void test_bounded(void **state)
{
    (void)state;
    /* The pool stops at CORE_INTERN_MAX_BYTES: distinct 1000-byte texts run out well before
     * 2 MB of them. */
    char *big = malloc(1001);
    assert_non_null(big);
    memset(big, 'x', 1000);
    big[1000] = '\0';
    size_t n = 0;
    for (; n < 2200; n++) {
        snprintf(big, 12, "%010zu", n);
        big[10] = 'x';
        if (!core_intern(big, 1000))
            break;
    }
    assert_true(n > 900 && n < 1100);
    /* Full: a new text that does not fit is refused, a known one found. */
    snprintf(big, 12, "%010zu", (size_t)9999);
    big[10] = 'x';
    assert_null(core_intern(big, 1000));
    assert_non_null(core_intern("10.0.0.1", 8));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_text_same_copy),
        cmocka_unit_test(test_capped),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
