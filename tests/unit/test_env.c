/* Unit tests of environment parsing (env.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/env.h"

static void test_parse_scalars(void **state)
{
    (void)state;
    bool b;
    assert_int_equal(tel_parse_bool(" TRUE ", &b), TEL_OK);
    assert_true(b);
    assert_int_equal(tel_parse_bool("false", &b), TEL_OK);
    assert_false(b);
    assert_int_equal(tel_parse_bool("yes", &b), TEL_EINVAL);
    assert_int_equal(tel_parse_bool("", &b), TEL_EINVAL);
    int64_t i;
    assert_int_equal(tel_parse_int(" 42 ", 0, 100, &i), TEL_OK);
    assert_int_equal(i, 42);
    assert_int_equal(tel_parse_int("101", 0, 100, &i), TEL_EINVAL);
    assert_int_equal(tel_parse_int("-1", 0, 100, &i), TEL_EINVAL);
    assert_int_equal(tel_parse_int("12ms", 0, 100, &i), TEL_EINVAL);
    assert_int_equal(tel_parse_int("99999999999999999999999", 0, INT64_MAX, &i), TEL_EINVAL);
    double d;
    assert_int_equal(tel_parse_double("0.25", 0, 1, &d), TEL_OK);
    assert_true(d == 0.25);
    assert_int_equal(tel_parse_double("nan", 0, 1, &d), TEL_EINVAL);
    assert_int_equal(tel_parse_double("inf", 0, 1e300, &d), TEL_EINVAL);
    assert_int_equal(tel_parse_double("2", 0, 1, &d), TEL_EINVAL);
}

static void test_percent_decode(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(tel_percent_decode("a%20b%2Cc", 9, out, sizeof out), 5);
    assert_string_equal(out, "a b,c");
    assert_int_equal(tel_percent_decode("bad%2", 5, out, sizeof out), TEL_EINVAL);
    assert_int_equal(tel_percent_decode("bad%zz", 6, out, sizeof out), TEL_EINVAL);
    assert_int_equal(tel_percent_decode("toolong", 7, out, 4), TEL_ETOOBIG);
}

typedef struct kvs {
    char k[8][32], v[8][32];
    int n;
} kvs;

static int collect(const char *k, const char *v, void *ud)
{
    kvs *c = ud;
    if (c->n == 8)
        return -100;
    strcpy(c->k[c->n], k);
    strcpy(c->v[c->n], v);
    c->n++;
    return 0;
}

static void test_kv_list(void **state)
{
    (void)state;
    kvs c = {0};
    assert_int_equal(tel_parse_kv_list(" a = 1 ,, b=x%3Dy , c= ", collect, &c), TEL_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.k[0], "a");
    assert_string_equal(c.v[0], "1");
    assert_string_equal(c.v[1], "x=y");
    assert_string_equal(c.k[2], "c");
    assert_string_equal(c.v[2], "");
    memset(&c, 0, sizeof c);
    assert_int_equal(tel_parse_kv_list("a=1,novalue", collect, &c), TEL_EINVAL);
    assert_int_equal(tel_parse_kv_list("=v", collect, &c), TEL_EINVAL);
    assert_int_equal(tel_parse_kv_list("k=%G1", collect, &c), TEL_EINVAL);
    memset(&c, 0, sizeof c);
    assert_int_equal(tel_parse_kv_list("1=1,2=2,3=3,4=4,5=5,6=6,7=7,8=8,9=9", collect, &c), -100);
}

static void test_env_getters(void **state)
{
    (void)state;
    setenv("TEL_TEST_X", "", 1);
    assert_null(tel_env_str("TEL_TEST_X"));
    assert_int_equal(tel_env_int("TEL_TEST_X", 7, 0, 10), 7);
    setenv("TEL_TEST_X", "9", 1);
    assert_int_equal(tel_env_int("TEL_TEST_X", 7, 0, 10), 9);
    setenv("TEL_TEST_X", "11", 1);
    assert_int_equal(tel_env_int("TEL_TEST_X", 7, 0, 10), 7);
    setenv("TEL_TEST_X", "True", 1);
    assert_true(tel_env_bool("TEL_TEST_X", false));
    setenv("TEL_TEST_X", "0.5", 1);
    assert_true(tel_env_double("TEL_TEST_X", 1, 0, 1) == 0.5);
    unsetenv("TEL_TEST_X");
    assert_false(tel_env_bool("TEL_TEST_X", false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_scalars),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_kv_list),
        cmocka_unit_test(test_env_getters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
