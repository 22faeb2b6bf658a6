/* Unit tests of the JSON body helpers (core/src/http_json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/http_json.h"

static void test_body_buffer(void **state)
{
    (void)state;
    core_body b;
    core_body_init(&b, 10);
    assert_int_equal(core_body_append(&b, "hello", 5), 0);
    assert_int_equal(core_body_append(&b, "world", 5), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    assert_int_equal(core_body_append(&b, "!", 1), CORE_ETOOBIG);
    assert_int_equal(b.len, 10);
    core_body_reset(&b, 1 << 20);
    assert_int_equal(b.len, 0);
    assert_non_null(b.data);
    core_body_reset(&b, 0); /* frees */
    assert_null(b.data);
    assert_int_equal(core_body_append(&b, "", 0), 0);
    assert_string_equal(b.data, "");
    core_body_free(&b);
    core_body_init(&b, SIZE_MAX);
    assert_int_equal(core_body_append(&b, "x", SIZE_MAX), CORE_ETOOBIG);
    core_body_free(&b);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(core_utf8_valid("", 0));
    assert_true(core_utf8_valid("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
    assert_false(core_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(core_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    assert_false(core_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(core_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(core_utf8_valid("\xc3", 1));             /* truncated */
    assert_false(core_utf8_valid("\x80", 1));             /* lone continuation */
    assert_false(core_utf8_valid("\xff", 1));
}

static void expect_problem(const char *text, size_t len, const core_json_limits *lim,
                           core_json_problem p, int rc)
{
    json_t *j = (json_t *)1;
    core_json_diag d;
    assert_int_equal(core_json_parse(text, len, lim, &j, &d), rc);
    assert_null(j);
    assert_int_equal(d.problem, p);
    assert_true(strlen(d.message) > 0);
    for (const char *c = d.message; *c; c++)
        assert_true(*c >= 0x20 && *c < 0x7f);
}

static void test_parse(void **state)
{
    (void)state;
    json_t *j = NULL;
    core_json_diag d;
    const char *ok = "{\"name\":\"n\\u00e9\",\"list\":[1,2.5,true,null]}";
    assert_int_equal(core_json_parse(ok, strlen(ok), NULL, &j, &d), 0);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "n\xc3\xa9");
    json_decref(j);

    expect_problem("", 0, NULL, CORE_JSON_EMPTY, CORE_EINVAL);
    expect_problem(" \r\n\t", 4, NULL, CORE_JSON_EMPTY, CORE_EINVAL);
    expect_problem("{\"a\":", 5, NULL, CORE_JSON_MALFORMED, CORE_EINVAL);
    expect_problem("{\"a\":1}x", 8, NULL, CORE_JSON_MALFORMED, CORE_EINVAL);
    expect_problem("{\"a\":1,\"a\":2}", 13, NULL, CORE_JSON_MALFORMED, CORE_EINVAL);
    expect_problem("{\"a\":\"\\u0000\"}", 14, NULL, CORE_JSON_MALFORMED, CORE_EINVAL);
    expect_problem("{\"a\":\"\xff\"}", 9, NULL, CORE_JSON_BAD_UTF8, CORE_EINVAL);
    expect_problem("[1]", 3, NULL, CORE_JSON_NOT_OBJECT, CORE_EINVAL);
    expect_problem("42", 2, NULL, CORE_JSON_NOT_OBJECT, CORE_EINVAL);
    core_json_limits small = {.max_bytes = 4};
    expect_problem("{\"a\":1}", 7, &small, CORE_JSON_TOO_BIG, CORE_ETOOBIG);
    core_json_limits shallow = {.max_depth = 2};
    expect_problem("{\"a\":{\"b\":{}}}", 14, &shallow, CORE_JSON_TOO_DEEP, CORE_EINVAL);
    /* Brackets inside strings do not count; escaped quotes do not end strings. */
    const char *str = "{\"a\":\"[[[[\\\"{{{{\"}";
    assert_int_equal(core_json_parse(str, strlen(str), &shallow, &j, &d), 0);
    json_decref(j);
    core_json_limits any = {.allow_any = true};
    assert_int_equal(core_json_parse("[1,2]", 5, &any, &j, &d), 0);
    assert_true(json_is_array(j));
    json_decref(j);
    assert_int_equal(core_json_parse("\"s\"", 3, &any, &j, &d), 0);
    json_decref(j);
    /* Position of a syntax error. */
    assert_int_equal(core_json_parse("{\n\"a\" 1}", 8, NULL, &j, &d), CORE_EINVAL);
    assert_int_equal(d.line, 2);
    assert_non_null(strstr(d.message, "line 2"));
    assert_string_equal(core_json_problem_code(CORE_JSON_BAD_UTF8), "invalid_utf8");
    assert_string_equal(core_json_problem_code(CORE_JSON_TOO_BIG), "body_too_large");
}

static void test_output(void **state)
{
    (void)state;
    json_t *j = json_pack("{s:s, s:i}", "b", "x", "a", 1);
    size_t len = 0;
    char *s = core_json_dump(j, &len);
    assert_string_equal(s, "{\"b\":\"x\",\"a\":1}");
    assert_int_equal(len, strlen(s));
    free(s);
    json_decref(j);
    assert_null(core_json_dump(NULL, NULL));

    json_t *e = core_json_error_body("not_found", "no \xff such\xc3 path");
    s = core_json_dump(e, NULL);
    assert_string_equal(s, "{\"error\":{\"code\":\"not_found\",\"message\":\"no ? such? path\"}}");
    free(s);
    json_decref(e);
    e = core_json_error_body(NULL, NULL);
    s = core_json_dump(e, NULL);
    assert_string_equal(s, "{\"error\":{\"code\":\"\",\"message\":\"\"}}");
    free(s);
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_buffer),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
