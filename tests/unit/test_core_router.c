/* Unit tests of the HTTP router (core/src/http_router.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/http_router.h"

static int T_LIST, T_GET, T_PUT, T_NEW, T_POWER, T_STATIC, T_ROOT, T_ANY_ID, T_TRAIL;

static core_router *make(void)
{
    core_router *r = core_router_create();
    assert_non_null(r);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET | CORE_HTTP_POST, "/v1/servers", &T_LIST), 0);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/v1/servers/{id}", &T_GET), 0);
    assert_int_equal(core_router_add(r, CORE_HTTP_PUT | CORE_HTTP_DELETE, "/v1/servers/{sid}", &T_PUT), 0);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/v1/servers/new", &T_NEW), 0);
    assert_int_equal(core_router_add(r, CORE_HTTP_POST, "/v1/servers/{id}/power/{action}", &T_POWER), 0);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/static/{path...}", &T_STATIC), 0);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/", &T_ROOT), 0);
    assert_int_equal(core_router_add(r, CORE_HTTP_PATCH, "/v1/{kind}/{id}", &T_ANY_ID), 0);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/trail/", &T_TRAIL), 0);
    return r;
}

static core_route_result match(core_router *r, unsigned m, const char *path, unsigned flags,
                               core_route_match *out, char *scratch, size_t cap)
{
    return core_router_match(r, m, path, strlen(path), flags, scratch, cap, out);
}

static void test_methods(void **state)
{
    (void)state;
    assert_string_equal(core_http_method_name(CORE_HTTP_PATCH), "PATCH");
    assert_string_equal(core_http_method_name(CORE_HTTP_GET | CORE_HTTP_POST), "_OTHER");
    assert_string_equal(core_http_method_name(0), "_OTHER");
    assert_int_equal(core_http_method_parse("DELETE", 6), CORE_HTTP_DELETE);
    assert_int_equal(core_http_method_parse("get", 3), 0);
    assert_int_equal(core_http_method_parse("GETX", 4), 0);
    char buf[64];
    assert_int_equal(core_http_methods_format(CORE_HTTP_GET | CORE_HTTP_HEAD | CORE_HTTP_DELETE,
                                              buf, sizeof buf),
                     strlen("GET, HEAD, DELETE"));
    assert_string_equal(buf, "GET, HEAD, DELETE");
    char tiny[8];
    core_http_methods_format(CORE_HTTP_ANY_METHOD, tiny, sizeof tiny);
    assert_string_equal(tiny, "GET");
}

static void test_add_errors(void **state)
{
    (void)state;
    core_router *r = make();
    int x;
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/v1/servers/{other}", &x), CORE_EEXIST);
    assert_int_equal(core_router_add(r, CORE_HTTP_POST | CORE_HTTP_GET, "/v1/servers", &x), CORE_EEXIST);
    assert_int_equal(core_router_add(r, 0, "/x", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "relative", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/a/{}", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/a/{1x}", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/a/{x", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/a/{rest...}/b", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/a/{x}/{x}", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/a/b%20c", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/a/b c", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET,
                                     "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", &x), CORE_EINVAL);
    assert_int_equal(core_router_add(r, CORE_HTTP_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", &x), 0);
    core_router_destroy(r);
}

static void test_match_params(void **state)
{
    (void)state;
    core_router *r = make();
    core_route_match m;
    char s[256];
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_LIST);
    assert_string_equal(m.pattern, "/v1/servers");
    assert_int_equal(m.n_params, 0);

    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/srv-42", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_GET);
    assert_string_equal(m.pattern, "/v1/servers/{id}");
    assert_int_equal(m.n_params, 1);
    assert_string_equal(core_route_param(&m, "id"), "srv-42");
    assert_null(core_route_param(&m, "sid"));

    /* Same shape, other method: the other entry with its own parameter name. */
    assert_int_equal(match(r, CORE_HTTP_DELETE, "/v1/servers/7", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_PUT);
    assert_string_equal(core_route_param(&m, "sid"), "7");

    /* Static beats parameter regardless of order. */
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/new", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_NEW);
    /* ... but a parameter still serves another method on that path. */
    assert_int_equal(match(r, CORE_HTTP_PUT, "/v1/servers/new", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_PUT);
    assert_string_equal(core_route_param(&m, "sid"), "new");

    assert_int_equal(match(r, CORE_HTTP_POST, "/v1/servers/9/power/on?force=1", 0, &m, s, sizeof s),
                     CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_POWER);
    assert_string_equal(core_route_param(&m, "id"), "9");
    assert_string_equal(core_route_param(&m, "action"), "on");

    /* Backtracking: /v1/servers/{id} does not accept PATCH, /v1/{kind}/{id} does. */
    assert_int_equal(match(r, CORE_HTTP_PATCH, "/v1/servers/3", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_ANY_ID);
    assert_string_equal(core_route_param(&m, "kind"), "servers");
    assert_string_equal(core_route_param(&m, "id"), "3");

    assert_int_equal(match(r, CORE_HTTP_GET, "/", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_ROOT);
    core_router_destroy(r);
}

static void test_catchall_and_slashes(void **state)
{
    (void)state;
    core_router *r = make();
    core_route_match m;
    char s[256];
    assert_int_equal(match(r, CORE_HTTP_GET, "/static/app/vnc.html", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_STATIC);
    assert_string_equal(core_route_param(&m, "path"), "app/vnc.html");
    assert_int_equal(m.value_lens[0], strlen("app/vnc.html"));
    assert_int_equal(match(r, CORE_HTTP_GET, "/static", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_string_equal(core_route_param(&m, "path"), "");
    assert_int_equal(match(r, CORE_HTTP_GET, "/static/", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_string_equal(core_route_param(&m, "path"), "");

    /* Trailing slash is a different path; an empty segment never binds a parameter. */
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/", 0, &m, s, sizeof s), CORE_ROUTE_NOT_FOUND);
    assert_int_equal(match(r, CORE_HTTP_GET, "/trail/", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_TRAIL);
    assert_int_equal(match(r, CORE_HTTP_GET, "/trail", 0, &m, s, sizeof s), CORE_ROUTE_NOT_FOUND);
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1//servers", 0, &m, s, sizeof s), CORE_ROUTE_NOT_FOUND);
    core_router_destroy(r);
}

static void test_percent_decoding(void **state)
{
    (void)state;
    core_router *r = make();
    core_route_match m;
    char s[256];
    /* Each segment is decoded after splitting: %2F stays in the parameter. */
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/a%2Fb%20c", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_GET);
    assert_string_equal(core_route_param(&m, "id"), "a/b c");
    /* Static segments compare decoded. */
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/%73ervers", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_LIST);
    /* UTF-8 in a parameter. */
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/%C3%A9t%C3%A9", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_string_equal(core_route_param(&m, "id"), "\xc3\xa9t\xc3\xa9");
    /* Bad escapes and %00 are a bad path. */
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/%zz", 0, &m, s, sizeof s), CORE_ROUTE_BAD_PATH);
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/%4", 0, &m, s, sizeof s), CORE_ROUTE_BAD_PATH);
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/a%00", 0, &m, s, sizeof s), CORE_ROUTE_BAD_PATH);
    /* Already-decoded input (libwebsockets): '%' is a plain character, '?' too. */
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/100%", CORE_ROUTER_DECODED, &m, s, sizeof s),
                     CORE_ROUTE_OK);
    assert_string_equal(core_route_param(&m, "id"), "100%");
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/a?b", CORE_ROUTER_DECODED, &m, s, sizeof s),
                     CORE_ROUTE_OK);
    assert_string_equal(core_route_param(&m, "id"), "a?b");
    core_router_destroy(r);
}

static void test_mismatch(void **state)
{
    (void)state;
    core_router *r = make();
    core_route_match m;
    char s[256];
    assert_int_equal(match(r, CORE_HTTP_GET, "/nope", 0, &m, s, sizeof s), CORE_ROUTE_NOT_FOUND);
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/1/power/on", 0, &m, s, sizeof s),
                     CORE_ROUTE_BAD_METHOD);
    assert_int_equal(m.allowed, CORE_HTTP_POST);
    /* Union of every pattern matching the path; GET implies HEAD. */
    assert_int_equal(match(r, CORE_HTTP_POST, "/v1/servers/5", 0, &m, s, sizeof s), CORE_ROUTE_BAD_METHOD);
    assert_int_equal(m.allowed, CORE_HTTP_GET | CORE_HTTP_HEAD | CORE_HTTP_PUT | CORE_HTTP_DELETE |
                                    CORE_HTTP_PATCH);
    /* HEAD served by a GET route. */
    assert_int_equal(match(r, CORE_HTTP_HEAD, "/v1/servers/5", 0, &m, s, sizeof s), CORE_ROUTE_OK);
    assert_ptr_equal(m.target, &T_GET);
    /* Unknown method (0). */
    assert_int_equal(match(r, 0, "/v1/servers", 0, &m, s, sizeof s), CORE_ROUTE_BAD_METHOD);
    /* Malformed input. */
    assert_int_equal(match(r, CORE_HTTP_GET, "v1/servers", 0, &m, s, sizeof s), CORE_ROUTE_BAD_PATH);
    assert_int_equal(core_router_match(r, CORE_HTTP_GET, "/", 0, 0, s, sizeof s, &m), CORE_ROUTE_BAD_PATH);
    /* Scratch too small. */
    char tiny[4];
    assert_int_equal(match(r, CORE_HTTP_GET, "/v1/servers/12345", 0, &m, tiny, sizeof tiny),
                     CORE_ROUTE_BAD_PATH);
    /* Too many segments. */
    char deep[400] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "/a");
    char big[512];
    assert_int_equal(match(r, CORE_HTTP_GET, deep, 0, &m, big, sizeof big), CORE_ROUTE_BAD_PATH);
    core_router_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_match_params),
        cmocka_unit_test(test_catchall_and_slashes),
        cmocka_unit_test(test_percent_decoding),
        cmocka_unit_test(test_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
