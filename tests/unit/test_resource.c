/* Unit tests of resource detection (resource.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telemetry/resource.h"

static const tel_attr *find(const tel_resource *r, const char *k)
{
    for (size_t i = 0; i < r->n_attrs; i++)
        if (strcmp(r->attrs[i].key, k) == 0)
            return &r->attrs[i];
    return NULL;
}

static void test_defaults(void **state)
{
    (void)state;
    unsetenv("OTEL_SERVICE_NAME");
    unsetenv("OTEL_RESOURCE_ATTRIBUTES");
    tel_resource *r = tel_resource_from_env("bmc-manager", "1.2.3");
    assert_non_null(r);
    assert_string_equal(tel_resource_get_str(r, "service.name"), "bmc-manager");
    assert_string_equal(tel_resource_get_str(r, "service.version"), "1.2.3");
    assert_string_equal(tel_resource_get_str(r, "telemetry.sdk.language"), "c");
    assert_non_null(tel_resource_get_str(r, "telemetry.sdk.name"));
    assert_non_null(tel_resource_get_str(r, "telemetry.sdk.version"));
    assert_non_null(tel_resource_get_str(r, "host.name"));
    assert_int_equal(find(r, "process.pid")->v.i, getpid());
    tel_resource_destroy(r);
    r = tel_resource_from_env(NULL, NULL);
    assert_string_equal(tel_resource_get_str(r, "service.name"), "unknown_service");
    tel_resource_destroy(r);
}

static void test_env_overrides(void **state)
{
    (void)state;
    setenv("OTEL_RESOURCE_ATTRIBUTES",
           "service.name=from-attrs,deployment.environment=dev,team=a%20b,host.name=h1", 1);
    tel_resource *r = tel_resource_from_env("default", NULL);
    assert_string_equal(tel_resource_get_str(r, "service.name"), "from-attrs");
    assert_string_equal(tel_resource_get_str(r, "team"), "a b");
    assert_string_equal(tel_resource_get_str(r, "host.name"), "h1");
    tel_resource_destroy(r);
    setenv("OTEL_SERVICE_NAME", "from-env", 1);
    r = tel_resource_from_env("default", NULL);
    assert_string_equal(tel_resource_get_str(r, "service.name"), "from-env");
    assert_string_equal(tel_resource_get_str(r, "deployment.environment"), "dev");
    tel_resource_destroy(r);
    /* A malformed list is ignored whole. */
    setenv("OTEL_RESOURCE_ATTRIBUTES", "good=1,bad", 1);
    r = tel_resource_from_env("default", NULL);
    assert_null(tel_resource_get_str(r, "good"));
    assert_string_equal(tel_resource_get_str(r, "service.name"), "from-env");
    tel_resource_destroy(r);
    unsetenv("OTEL_SERVICE_NAME");
    unsetenv("OTEL_RESOURCE_ATTRIBUTES");
}

static void test_create_copies(void **state)
{
    (void)state;
    char v[8] = "abc";
    tel_attr a[3] = {TEL_ATTR_STR("k", v), TEL_ATTR_INT64("n", 5), TEL_ATTR_STR("k", "dup")};
    a[0].len = 3;
    tel_resource *r = tel_resource_create(a, 3);
    v[0] = 'X';
    assert_int_equal(r->n_attrs, 2);
    assert_string_equal(tel_resource_get_str(r, "k"), "dup");
    assert_int_equal(find(r, "n")->v.i, 5);
    tel_resource_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_create_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
