/* W3C Baggage: grammar, percent-encoding, properties, limits, mutation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "telemetry/baggage.h"

static tel_baggage *parse1(const char *s)
{
    const char *v[1] = {s};
    return tel_baggage_parse(v, NULL, 1);
}

/* Formats b into a static buffer ("" for NULL). */
static const char *fmt(const tel_baggage *b)
{
    static char buf[TEL_BAGGAGE_MAX_BYTES + 1];
    int n = tel_baggage_format(b, buf, sizeof buf);
    assert_true(n >= 0);
    assert_int_equal((size_t)n, strlen(buf));
    return buf;
}

/* parse + format in one step. */
static const char *norm(const char *s)
{
    tel_baggage *b = parse1(s);
    const char *r = fmt(b);
    tel_baggage_unref(b);
    return r;
}

static void test_basic(void **state)
{
    (void)state;
    tel_baggage *b = parse1("customer_id=42,server_id=srv-7;prop1;k=v");
    assert_non_null(b);
    assert_int_equal(tel_baggage_count(b), 2);
    assert_string_equal(tel_baggage_get(b, "customer_id"), "42");
    assert_string_equal(tel_baggage_get(b, "server_id"), "srv-7");
    assert_null(tel_baggage_get(b, "server"));
    const char *k, *v, *p;
    assert_int_equal(tel_baggage_entry(b, 0, &k, &v, &p), TEL_OK);
    assert_string_equal(k, "customer_id");
    assert_null(p);
    assert_int_equal(tel_baggage_entry(b, 1, &k, &v, &p), TEL_OK);
    assert_string_equal(p, "prop1;k=v");
    assert_int_equal(tel_baggage_entry(b, 2, &k, &v, &p), TEL_ENOTFOUND);
    assert_string_equal(fmt(b), "customer_id=42,server_id=srv-7;prop1;k=v");
    tel_baggage_unref(b);

    assert_null(parse1(""));
    assert_null(parse1(" , ,"));
    assert_null(tel_baggage_parse(NULL, NULL, 3));
    assert_int_equal(tel_baggage_count(NULL), 0);
    assert_null(tel_baggage_get(NULL, "x"));
    assert_int_equal(tel_baggage_entry(NULL, 0, &k, &v, &p), TEL_ENOTFOUND);
    char buf[4] = "xyz";
    assert_int_equal(tel_baggage_format(NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_null(tel_baggage_ref(NULL));
    tel_baggage_unref(NULL);
}

static void test_whitespace(void **state)
{
    (void)state;
    assert_string_equal(norm(" k1 = v1 , \tk2\t=\tv2\t"), "k1=v1,k2=v2");
    assert_string_equal(norm("k=v ; p1 ; p2 = x ;"), "k=v;p1;p2=x");
    assert_string_equal(norm("k=v;;;"), "k=v");
    assert_string_equal(norm("k="), "k=");
    assert_string_equal(norm("k= \t"), "k=");
}

static void test_percent(void **state)
{
    (void)state;
    tel_baggage *b = parse1("k=a%20b%2C%3B%25%22%5c%c3%A9");
    assert_non_null(b);
    assert_string_equal(tel_baggage_get(b, "k"), "a b,;%\"\\\xc3\xa9");
    /* Re-encoded: everything outside baggage-octet, and '%', as %XX. */
    assert_string_equal(fmt(b), "k=a%20b%2C%3B%25%22%5C%C3%A9");
    tel_baggage_unref(b);
    /* Needless escapes are decoded and come out plain. */
    assert_string_equal(norm("k=%41%62c"), "k=Abc");
    /* Malformed escapes and NUL make the member invalid (the others stay). */
    assert_string_equal(norm("a=1,k=%4,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k=%,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k=%zz,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k=x%00y,b=2"), "a=1,b=2");
    assert_string_equal(norm("k=v%"), "");
}

static void test_invalid_members(void **state)
{
    (void)state;
    assert_string_equal(norm("a=1,novalue,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,=v,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k y=v,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k=v w,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k=\"q\",b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k=back\\slash,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k(=v,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k=\xc3\xa9,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k=v;bad prop,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k=v;p=bad value,b=2"), "a=1,b=2");
    assert_string_equal(norm("a=1,k=v;=x,b=2"), "a=1,b=2");
    /* '=' inside a value is a baggage-octet. */
    assert_string_equal(norm("k=a=b"), "k=a=b");
}

static void test_multiple_lines_and_duplicates(void **state)
{
    (void)state;
    const char *lines[] = {"a=1,b=2", "", "c=3", "a=9"};
    tel_baggage *b = tel_baggage_parse(lines, NULL, 4);
    assert_non_null(b);
    /* The last value of a repeated key wins (at the first position). */
    assert_string_equal(fmt(b), "a=9,b=2,c=3");
    tel_baggage_unref(b);
    const char *raw[] = {"a=1XX", "b=2YY"};
    size_t lens[] = {3, 3};
    b = tel_baggage_parse(raw, lens, 2);
    assert_string_equal(fmt(b), "a=1,b=2");
    tel_baggage_unref(b);
}

static void test_limits_extract(void **state)
{
    (void)state;
    /* 200 members: the first 180 are kept. */
    char *buf = malloc(8192 * 4);
    size_t o = 0;
    for (int i = 0; i < 200; i++)
        o += (size_t)sprintf(buf + o, "%sk%d=%d", i ? "," : "", i, i);
    tel_baggage *b = parse1(buf);
    assert_int_equal(tel_baggage_count(b), TEL_BAGGAGE_MAX_MEMBERS);
    assert_non_null(tel_baggage_get(b, "k179"));
    assert_null(tel_baggage_get(b, "k180"));
    tel_baggage_unref(b);
    /* Past the member limit a repeated key still takes its later value. */
    strcpy(buf + o, ",k5=new");
    b = parse1(buf);
    assert_int_equal(tel_baggage_count(b), TEL_BAGGAGE_MAX_MEMBERS);
    assert_string_equal(tel_baggage_get(b, "k5"), "new");
    tel_baggage_unref(b);
    /* Many members (thousands) are handled in linear time. */
    char *huge = malloc(200000);
    size_t h = 0;
    for (int i = 0; i < 20000; i++)
        h += (size_t)sprintf(huge + h, "%sx%d=1", i ? "," : "", i % 300);
    b = parse1(huge);
    assert_int_equal(tel_baggage_count(b), TEL_BAGGAGE_MAX_MEMBERS);
    tel_baggage_unref(b);
    free(huge);

    /* Byte limit: members of 1000 bytes; 8 fit (8*1000 + 7 commas), the 9th does not, but a
     * small one after it still does. */
    o = 0;
    for (int i = 0; i < 10; i++) {
        o += (size_t)sprintf(buf + o, "%sk%d=", i ? "," : "", i);
        size_t vlen = 1000 - 3;
        memset(buf + o, 'x', vlen);
        o += vlen;
    }
    o += (size_t)sprintf(buf + o, ",small=1");
    buf[o] = '\0';
    b = parse1(buf);
    assert_int_equal(tel_baggage_count(b), 9);
    assert_non_null(tel_baggage_get(b, "k7"));
    assert_null(tel_baggage_get(b, "k8"));
    assert_non_null(tel_baggage_get(b, "small"));
    assert_true(strlen(fmt(b)) <= TEL_BAGGAGE_MAX_BYTES);
    tel_baggage_unref(b);

    /* A single member over 8192 bytes is dropped. */
    o = (size_t)sprintf(buf, "big=");
    memset(buf + o, 'x', 8200);
    o += 8200;
    strcpy(buf + o, ",a=1");
    b = parse1(buf);
    assert_int_equal(tel_baggage_count(b), 1);
    tel_baggage_unref(b);
    free(buf);
}

static void test_format_limits(void **state)
{
    (void)state;
    tel_baggage *b = parse1("alpha=1,beta=2,gamma=3");
    char small[8];
    assert_int_equal(tel_baggage_format(b, small, 4), TEL_ETOOBIG);
    assert_int_equal(tel_baggage_format(b, small, sizeof small), 7);
    assert_string_equal(small, "alpha=1");
    char mid[16];
    assert_int_equal(tel_baggage_format(b, mid, sizeof mid), 14);
    assert_string_equal(mid, "alpha=1,beta=2");
    tel_baggage_unref(b);

    /* Values that only grow when encoded: the serialised header still respects 8192 bytes. */
    char *v = malloc(3000);
    memset(v, ' ', 2999);
    v[2999] = '\0'; /* 2999 spaces -> 8997 encoded bytes: too big for one member */
    b = tel_baggage_set(NULL, "a", "1", NULL);
    assert_null(tel_baggage_set(b, "big", v, NULL));
    v[2000] = '\0'; /* 6000 encoded bytes */
    tel_baggage *c = tel_baggage_set(b, "big", v, NULL);
    assert_non_null(c);
    tel_baggage *d = tel_baggage_set(c, "big2", v, NULL); /* would make > 8192 */
    assert_null(d);
    /* Replacing a small value by one that breaks the limit fails too (no stale success). */
    v[2000] = ' ';
    v[2800] = '\0';
    assert_null(tel_baggage_set(c, "a", v, NULL));
    v[2000] = '\0';
    char *out = malloc(TEL_BAGGAGE_MAX_BYTES + 1);
    int n = tel_baggage_format(c, out, TEL_BAGGAGE_MAX_BYTES + 1);
    assert_int_equal(n, 3 + 1 + 4 + 6000);
    tel_baggage *back = parse1(out);
    assert_string_equal(tel_baggage_get(back, "big"), v);
    tel_baggage_unref(back);
    free(out);
    free(v);
    tel_baggage_unref(b);
    tel_baggage_unref(c);

    /* 180 members through set, the 181st is refused. */
    tel_baggage *m = NULL;
    for (int i = 0; i < 180; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        tel_baggage *nb = tel_baggage_set(m, key, "v", NULL);
        assert_non_null(nb);
        tel_baggage_unref(m);
        m = nb;
    }
    assert_null(tel_baggage_set(m, "k180", "v", NULL));
    /* Replacing an existing key is fine at the limit. */
    tel_baggage *r = tel_baggage_set(m, "k5", "w", NULL);
    assert_non_null(r);
    assert_string_equal(tel_baggage_get(r, "k5"), "w");
    tel_baggage_unref(r);
    tel_baggage_unref(m);
}

static void test_set_remove(void **state)
{
    (void)state;
    tel_baggage *a = tel_baggage_set(NULL, "session_id", "s 1", "p1; q = 2");
    assert_non_null(a);
    const char *k, *v, *p;
    tel_baggage_entry(a, 0, &k, &v, &p);
    assert_string_equal(v, "s 1");
    assert_string_equal(p, "p1;q=2");
    assert_string_equal(fmt(a), "session_id=s%201;p1;q=2");
    tel_baggage *b = tel_baggage_set(a, "datacenter", "fra1", NULL);
    tel_baggage *c = tel_baggage_set(b, "session_id", "s2", NULL);
    assert_string_equal(fmt(c), "session_id=s2,datacenter=fra1");
    assert_string_equal(fmt(b), "session_id=s%201;p1;q=2,datacenter=fra1");
    assert_null(tel_baggage_set(c, "bad key", "v", NULL));
    assert_null(tel_baggage_set(c, "", "v", NULL));
    assert_null(tel_baggage_set(c, "k", "v", "bad prop"));
    assert_null(tel_baggage_set(c, NULL, "v", NULL));
    assert_null(tel_baggage_set(c, "k", NULL, NULL));

    tel_baggage *d = tel_baggage_remove(c, "session_id");
    assert_string_equal(fmt(d), "datacenter=fra1");
    assert_null(tel_baggage_remove(d, "datacenter"));
    tel_baggage *e = tel_baggage_remove(d, "absent");
    assert_int_equal(tel_baggage_count(e), 1);
    assert_null(tel_baggage_remove(NULL, "x"));

    assert_ptr_equal(tel_baggage_ref(e), e);
    tel_baggage_unref(e);
    tel_baggage_unref(e);
    tel_baggage_unref(a);
    tel_baggage_unref(b);
    tel_baggage_unref(c);
    tel_baggage_unref(d);
}

static void test_roundtrip_all_bytes(void **state)
{
    (void)state;
    char v[256];
    for (int i = 1; i < 256; i++)
        v[i - 1] = (char)i;
    v[255] = '\0';
    tel_baggage *b = tel_baggage_set(NULL, "k", v, NULL);
    const char *s = fmt(b);
    tel_baggage *back = parse1(s);
    assert_non_null(back);
    assert_string_equal(tel_baggage_get(back, "k"), v);
    assert_string_equal(fmt(back), s);
    tel_baggage_unref(b);
    tel_baggage_unref(back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_percent),
        cmocka_unit_test(test_invalid_members),
        cmocka_unit_test(test_multiple_lines_and_duplicates),
        cmocka_unit_test(test_limits_extract),
        cmocka_unit_test(test_format_limits),
        cmocka_unit_test(test_set_remove),
        cmocka_unit_test(test_roundtrip_all_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
