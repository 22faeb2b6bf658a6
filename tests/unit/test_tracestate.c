/* W3C tracestate: grammar, limits, joining, mutation, reference counting.
 * ctest-labels: concurrency */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "telemetry/tracestate.h"

static tel_tracestate *parse1(const char *s, int *err)
{
    const char *v[1] = {s};
    return tel_tracestate_parse(v, NULL, 1, err);
}

/* Parses one line and returns its normalised form in a static buffer, or "<invalid>"/"<empty>". */
static const char *norm(const char *s)
{
    static char buf[20000];
    int err = 12345;
    tel_tracestate *ts = parse1(s, &err);
    if (!ts) {
        snprintf(buf, sizeof buf, "%s", err == TEL_EINVAL ? "<invalid>" : "<empty>");
        return buf;
    }
    assert_int_equal(err, TEL_OK);
    snprintf(buf, sizeof buf, "%s", tel_tracestate_str(ts, NULL));
    tel_tracestate_unref(ts);
    return buf;
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_basic(void **state)
{
    (void)state;
    int err = -99;
    tel_tracestate *ts = parse1("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", &err);
    assert_non_null(ts);
    assert_int_equal(err, TEL_OK);
    assert_int_equal(tel_tracestate_count(ts), 2);
    size_t len = 0;
    const char *v = tel_tracestate_get(ts, "congo", &len);
    assert_non_null(v);
    assert_int_equal(len, 11);
    assert_memory_equal(v, "t61rcWkgMzE", 11);
    assert_null(tel_tracestate_get(ts, "cong", &len));
    assert_null(tel_tracestate_get(ts, "congox", &len));
    const char *k;
    size_t kl, vl;
    assert_int_equal(tel_tracestate_entry(ts, 0, &k, &kl, &v, &vl), TEL_OK);
    assert_int_equal(kl, 4);
    assert_memory_equal(k, "rojo", 4);
    assert_memory_equal(v, "00f067aa0ba902b7", vl);
    assert_int_equal(tel_tracestate_entry(ts, 2, &k, &kl, &v, &vl), TEL_ENOTFOUND);
    assert_string_equal(tel_tracestate_str(ts, &len), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    assert_int_equal(len, strlen("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
    tel_tracestate_unref(ts);

    /* NULL handling. */
    assert_int_equal(tel_tracestate_count(NULL), 0);
    assert_string_equal(tel_tracestate_str(NULL, &len), "");
    assert_int_equal(len, 0);
    assert_null(tel_tracestate_get(NULL, "a", NULL));
    assert_null(tel_tracestate_ref(NULL));
    tel_tracestate_unref(NULL);
    assert_null(tel_tracestate_parse(NULL, NULL, 0, &err));
    assert_int_equal(err, TEL_OK);
}

static void test_ows_and_empty(void **state)
{
    (void)state;
    assert_string_equal(norm("foo=1 \t , \t bar=2, \t baz=3"), "foo=1,bar=2,baz=3");
    assert_string_equal(norm("foo=1\t \t,\t \tbar=2,\t \tbaz=3"), "foo=1,bar=2,baz=3");
    assert_string_equal(norm(" foo=1"), "foo=1");
    assert_string_equal(norm("\tfoo=1"), "foo=1");
    assert_string_equal(norm("foo=1 "), "foo=1");
    assert_string_equal(norm("foo=1\t"), "foo=1");
    assert_string_equal(norm("\t foo=1 \t"), "foo=1");
    assert_string_equal(norm(""), "<empty>");
    assert_string_equal(norm("  \t "), "<empty>");
    assert_string_equal(norm(",,, ,\t,"), "<empty>");
    assert_string_equal(norm("a=1,,b=2,"), "a=1,b=2");
    /* Leading spaces belong to the value. */
    int err;
    tel_tracestate *ts = parse1("foo=  1  ", &err);
    assert_non_null(ts);
    size_t len;
    const char *v = tel_tracestate_get(ts, "foo", &len);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "  1", 3);
    tel_tracestate_unref(ts);
}

static void test_multiple_lines(void **state)
{
    (void)state;
    const char *lines[] = {"foo=1,bar=2", "rojo=1,congo=2", "", "baz=3"};
    int err;
    tel_tracestate *ts = tel_tracestate_parse(lines, NULL, 4, &err);
    assert_non_null(ts);
    assert_string_equal(tel_tracestate_str(ts, NULL), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    tel_tracestate_unref(ts);

    /* Explicit lengths: bytes past each length are not read. */
    const char *raw[] = {"a=1XXX", "b=2,c=3YYY"};
    size_t lens[] = {3, 7};
    ts = tel_tracestate_parse(raw, lens, 2, &err);
    assert_non_null(ts);
    assert_string_equal(tel_tracestate_str(ts, NULL), "a=1,b=2,c=3");
    tel_tracestate_unref(ts);

    /* An invalid line invalidates the whole list. */
    const char *bad[] = {"foo=1", "BAD=2"};
    assert_null(tel_tracestate_parse(bad, NULL, 2, &err));
    assert_int_equal(err, TEL_EINVAL);
}

static void test_member_limit(void **state)
{
    (void)state;
    const char *lines32[] = {
        "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,bar07=07,bar08=08,bar09=09,bar10=10",
        "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,bar17=17,bar18=18,bar19=19,bar20=20",
        "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,bar27=27,bar28=28,bar29=29,bar30=30",
        "bar31=31,bar32=32",
    };
    int err;
    tel_tracestate *ts = tel_tracestate_parse(lines32, NULL, 4, &err);
    assert_non_null(ts);
    assert_int_equal(tel_tracestate_count(ts), 32);
    size_t len;
    assert_memory_equal(tel_tracestate_get(ts, "bar01", &len), "01", 2);
    tel_tracestate_unref(ts);

    const char *lines33[] = {lines32[0], lines32[1], lines32[2], "bar31=31,bar32=32,bar33=33"};
    assert_null(tel_tracestate_parse(lines33, NULL, 4, &err));
    assert_int_equal(err, TEL_EINVAL);

    /* Empty members do not count. */
    char buf[1024];
    size_t o = 0;
    for (int i = 0; i < 32; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "k%d=%d,,  ,", i, i);
    ts = parse1(buf, &err);
    assert_non_null(ts);
    assert_int_equal(tel_tracestate_count(ts), 32);
    tel_tracestate_unref(ts);
}

static void test_keys(void **state)
{
    (void)state;
    const char *all = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    char buf[600];
    snprintf(buf, sizeof buf, "%s=1", all);
    assert_string_equal(norm(buf), buf);
    snprintf(buf, sizeof buf, "%s@a-z0-9_-*/=1", all);
    assert_string_equal(norm(buf), buf);
    assert_string_equal(norm("0abc=1"), "0abc=1");

    char *k256 = repeat('z', 256), *k257 = repeat('z', 257);
    snprintf(buf, sizeof buf, "foo=1,%s=1", k256);
    assert_string_equal(norm(buf), buf);
    snprintf(buf, sizeof buf, "foo=1,%s=1", k257);
    assert_string_equal(norm(buf), "<invalid>");
    free(k256);
    free(k257);

    /* Level 2 key grammar: '@' anywhere but first; 256 characters in total. */
    char *t241 = repeat('t', 241), *v14 = repeat('v', 14), *t242 = repeat('t', 242);
    char *v15 = repeat('v', 15);
    snprintf(buf, sizeof buf, "foo=1,%s@%s=1", t241, v14);
    assert_string_equal(norm(buf), buf);
    snprintf(buf, sizeof buf, "foo=1,%s@v=1", t242);
    assert_string_equal(norm(buf), buf);
    snprintf(buf, sizeof buf, "foo=1,t@%s=1", v15);
    assert_string_equal(norm(buf), buf);
    free(t241);
    free(v14);
    free(t242);
    free(v15);
    assert_string_equal(norm("foo@=1,bar=2"), "foo@=1,bar=2");
    assert_string_equal(norm("foo@@bar=1,bar=2"), "foo@@bar=1,bar=2");
    assert_string_equal(norm("foo@bar@baz=1,bar=2"), "foo@bar@baz=1,bar=2");
    assert_string_equal(norm("@foo=1,bar=2"), "<invalid>");

    assert_string_equal(norm("foo =1"), "<invalid>");
    assert_string_equal(norm("FOO=1"), "<invalid>");
    assert_string_equal(norm("fOo=1"), "<invalid>");
    assert_string_equal(norm("foo.bar=1"), "<invalid>");
    assert_string_equal(norm("_foo=1"), "<invalid>");
    assert_string_equal(norm("=1"), "<invalid>");
    assert_string_equal(norm("foo"), "<invalid>");
    assert_string_equal(norm("foo=1,bar"), "<invalid>");
}

static void test_values(void **state)
{
    (void)state;
    char value[256];
    size_t n = 0;
    for (int c = 0x20; c <= 0x7e; c++)
        if (c != ',' && c != '=')
            value[n++] = (char)c;
    value[n] = '\0';
    char buf[700];
    snprintf(buf, sizeof buf, "abcdefghijklmnopqrstuvwxyz0123456789_-*/=%s", value);
    int err;
    tel_tracestate *ts = parse1(buf, &err);
    assert_non_null(ts);
    size_t len;
    const char *v = tel_tracestate_get(ts, "abcdefghijklmnopqrstuvwxyz0123456789_-*/", &len);
    assert_int_equal(len, n);
    assert_memory_equal(v, value, n);
    tel_tracestate_unref(ts);

    assert_string_equal(norm("foo=bar=baz"), "<invalid>");
    assert_string_equal(norm("foo=,bar=3"), "<invalid>");
    assert_string_equal(norm("foo="), "<invalid>");
    assert_string_equal(norm("foo=   "), "<invalid>");
    assert_string_equal(norm("foo=a\tb"), "<invalid>");
    assert_string_equal(norm("foo=a\x7f"), "<invalid>");
    assert_string_equal(norm("foo=\xc3\xa9"), "<invalid>");

    char *v256 = repeat('v', 256), *v257 = repeat('v', 257);
    snprintf(buf, sizeof buf, "k=%s", v256);
    assert_string_equal(norm(buf), buf);
    snprintf(buf, sizeof buf, "k=%s", v257);
    assert_string_equal(norm(buf), "<invalid>");
    /* Trailing spaces are whitespace, not part of the 256. */
    snprintf(buf, sizeof buf, "k=%s    ", v256);
    ts = parse1(buf, &err);
    assert_non_null(ts);
    assert_non_null(tel_tracestate_get(ts, "k", &len));
    assert_int_equal(len, 256);
    tel_tracestate_unref(ts);
    free(v256);
    free(v257);
}

static void test_duplicates(void **state)
{
    (void)state;
    /* The first entry of a repeated key wins; the list stays usable. */
    assert_string_equal(norm("foo=1,foo=1"), "foo=1");
    assert_string_equal(norm("foo=1,bar=2,foo=2"), "foo=1,bar=2");
    const char *lines[] = {"foo=1", "foo=2"};
    int err;
    tel_tracestate *ts = tel_tracestate_parse(lines, NULL, 2, &err);
    assert_non_null(ts);
    assert_string_equal(tel_tracestate_str(ts, NULL), "foo=1");
    tel_tracestate_unref(ts);
}

static void test_largest(void **state)
{
    (void)state;
    /* 32 members with 256-character keys and values: the largest valid list. */
    char *buf = malloc(32 * 520);
    size_t o = 0;
    for (int i = 0; i < 32; i++) {
        char key[257];
        memset(key, 'a' + i % 26, 256);
        snprintf(key + 250, 7, "%06d", i);
        o += (size_t)sprintf(buf + o, "%s%s=", i ? "," : "", key);
        memset(buf + o, 'x', 256);
        o += 256;
    }
    buf[o] = '\0';
    int err;
    tel_tracestate *ts = parse1(buf, &err);
    assert_non_null(ts);
    assert_int_equal(tel_tracestate_count(ts), 32);
    size_t len;
    assert_string_equal(tel_tracestate_str(ts, &len), buf);
    assert_int_equal(len, o);
    tel_tracestate_unref(ts);
    free(buf);
}

static void test_set_remove(void **state)
{
    (void)state;
    tel_tracestate *a = tel_tracestate_set(NULL, "rojo", "00f067aa0ba902b7");
    assert_non_null(a);
    assert_string_equal(tel_tracestate_str(a, NULL), "rojo=00f067aa0ba902b7");
    tel_tracestate *b = tel_tracestate_set(a, "congo", "t61rcWkgMzE");
    assert_string_equal(tel_tracestate_str(b, NULL), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    /* Updating moves the key to the front; the original is unchanged (immutable). */
    tel_tracestate *c = tel_tracestate_set(b, "rojo", "x");
    assert_string_equal(tel_tracestate_str(c, NULL), "rojo=x,congo=t61rcWkgMzE");
    assert_string_equal(tel_tracestate_str(b, NULL), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    assert_null(tel_tracestate_set(c, "Bad", "x"));
    assert_null(tel_tracestate_set(c, "ok", "a,b"));
    assert_null(tel_tracestate_set(c, "ok", ""));
    assert_null(tel_tracestate_set(c, "ok", "trailing "));
    assert_null(tel_tracestate_set(c, NULL, "x"));

    tel_tracestate *d = tel_tracestate_remove(c, "rojo");
    assert_string_equal(tel_tracestate_str(d, NULL), "congo=t61rcWkgMzE");
    tel_tracestate *e = tel_tracestate_remove(d, "congo");
    assert_null(e);
    tel_tracestate *f = tel_tracestate_remove(d, "absent");
    assert_string_equal(tel_tracestate_str(f, NULL), "congo=t61rcWkgMzE");
    assert_null(tel_tracestate_remove(NULL, "x"));

    /* At 32 members, adding drops the right-most one. */
    tel_tracestate *g = NULL;
    for (int i = 0; i < 32; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        tel_tracestate *n = tel_tracestate_set(g, key, "v");
        tel_tracestate_unref(g);
        g = n;
    }
    assert_int_equal(tel_tracestate_count(g), 32);
    tel_tracestate *h = tel_tracestate_set(g, "new", "v");
    assert_int_equal(tel_tracestate_count(h), 32);
    assert_non_null(tel_tracestate_get(h, "new", NULL));
    assert_null(tel_tracestate_get(h, "k0", NULL));
    assert_non_null(tel_tracestate_get(h, "k31", NULL));

    tel_tracestate_unref(a);
    tel_tracestate_unref(b);
    tel_tracestate_unref(c);
    tel_tracestate_unref(d);
    tel_tracestate_unref(f);
    tel_tracestate_unref(g);
    tel_tracestate_unref(h);
}

static void *ref_worker(void *arg)
{
    tel_tracestate *ts = arg;
    for (int i = 0; i < 100000; i++) {
        tel_tracestate *r = tel_tracestate_ref(ts);
        size_t len;
        if (!tel_tracestate_get(r, "a", &len) || len != 1)
            abort();
        tel_tracestate_unref(r);
    }
    tel_tracestate_unref(ts); /* each thread owns one reference */
    return NULL;
}

static void test_refcount_threads(void **state)
{
    (void)state;
    int err;
    tel_tracestate *ts = parse1("a=1,b=2", &err);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        tel_tracestate_ref(ts);
        assert_int_equal(pthread_create(&th[i], NULL, ref_worker, ts), 0);
    }
    tel_tracestate_unref(ts);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),         cmocka_unit_test(test_ows_and_empty),
        cmocka_unit_test(test_multiple_lines), cmocka_unit_test(test_member_limit),
        cmocka_unit_test(test_keys),          cmocka_unit_test(test_values),
        cmocka_unit_test(test_duplicates),    cmocka_unit_test(test_largest),
        cmocka_unit_test(test_set_remove),    cmocka_unit_test(test_refcount_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
