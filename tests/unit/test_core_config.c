/* Unit tests of the service configuration (core/src/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"

static const core_config_item items[] = {
    {"TST_PORT", CORE_CFG_INT, "8080", "TCP port of the API.", 1, 65535, 0},
    {"TST_NAME", CORE_CFG_STRING, "bmc", "Display name.", 0, 0, 0},
    {"TST_DEBUG", CORE_CFG_BOOL, "false", "Verbose logging.", 0, 0, 0},
    {"TST_TIMEOUT", CORE_CFG_DURATION, "5s", "Request timeout.", 1, 600000, 0},
    {"TST_ENDPOINT", CORE_CFG_URL, "http://127.0.0.1:4318", "Collector endpoint.", 0, 0, 0},
    {"TST_SECRET", CORE_CFG_STRING, NULL, "Token signing key.", 8, 128,
     CORE_CFG_SECRET | CORE_CFG_REQUIRED},
    {"TST_OPTIONAL", CORE_CFG_STRING, NULL, "Optional text.", 0, 0, 0},
};
#define N_ITEMS (sizeof items / sizeof items[0])

static void clear_env(void)
{
    for (size_t i = 0; i < N_ITEMS; i++)
        unsetenv(items[i].key);
}

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/test_core_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_parsers(void **state)
{
    (void)state;
    int64_t v;
    bool b;
    const char *why;
    assert_int_equal(core_config_parse_int(" 42 ", &v, &why), 0);
    assert_int_equal(v, 42);
    assert_int_equal(core_config_parse_int("-9223372036854775808", &v, &why), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(core_config_parse_int("9223372036854775808", &v, &why), CORE_EINVAL);
    assert_int_equal(core_config_parse_int("12x", &v, &why), CORE_EINVAL);
    assert_non_null(strstr(why, "not an integer"));
    assert_int_equal(core_config_parse_int("", &v, &why), CORE_EINVAL);
    assert_int_equal(core_config_parse_int("-", &v, &why), CORE_EINVAL);
    assert_int_equal(core_config_parse_bool("YES", &b, &why), 0);
    assert_true(b);
    assert_int_equal(core_config_parse_bool("off", &b, &why), 0);
    assert_false(b);
    assert_int_equal(core_config_parse_bool("maybe", &b, &why), CORE_EINVAL);
    assert_int_equal(core_config_parse_duration_ms("250ms", &v, &why), 0);
    assert_int_equal(v, 250);
    assert_int_equal(core_config_parse_duration_ms("5s", &v, &why), 0);
    assert_int_equal(v, 5000);
    assert_int_equal(core_config_parse_duration_ms("2m", &v, &why), 0);
    assert_int_equal(v, 120000);
    assert_int_equal(core_config_parse_duration_ms("1h", &v, &why), 0);
    assert_int_equal(v, 3600000);
    assert_int_equal(core_config_parse_duration_ms("30", &v, &why), CORE_EINVAL);
    assert_non_null(strstr(why, "unit"));
    assert_int_equal(core_config_parse_duration_ms("5d", &v, &why), CORE_EINVAL);
    assert_int_equal(core_config_parse_duration_ms("-5s", &v, &why), CORE_EINVAL);
    assert_int_equal(core_config_parse_duration_ms("99999999999999999h", &v, &why), CORE_EINVAL);
    assert_int_equal(core_config_check_url("http://127.0.0.1:4317", &why), 0);
    assert_int_equal(core_config_check_url("https://collector.example/v1/traces", &why), 0);
    assert_int_equal(core_config_check_url("localhost:4317x", &why), CORE_EINVAL);
    assert_int_equal(core_config_check_url("http://", &why), CORE_EINVAL);
    assert_int_equal(core_config_check_url("http://a b", &why), CORE_EINVAL);
}

static void test_table_checked(void **state)
{
    (void)state;
    static const core_config_item bad_key[] = {{"lower", CORE_CFG_INT, "1", "x", 0, 0, 0}};
    static const core_config_item bad_def[] = {{"X", CORE_CFG_INT, "abc", "x", 0, 0, 0}};
    static const core_config_item def_range[] = {{"X", CORE_CFG_INT, "0", "x", 1, 10, 0}};
    static const core_config_item dup[] = {{"X", CORE_CFG_INT, "1", "x", 0, 0, 0},
                                           {"X", CORE_CFG_BOOL, "true", "x", 0, 0, 0}};
    static const core_config_item bad_dur[] = {{"X", CORE_CFG_DURATION, "10", "x", 0, 0, 0}};
    assert_null(core_config_create("t", bad_key, 1));
    assert_null(core_config_create("t", bad_def, 1));
    assert_null(core_config_create("t", def_range, 1));
    assert_null(core_config_create("t", dup, 2));
    assert_null(core_config_create("t", bad_dur, 1));
    core_config *c = core_config_create("t", items, N_ITEMS);
    assert_non_null(c);
    core_config_destroy(c);
}

static void test_defaults_and_required(void **state)
{
    (void)state;
    clear_env();
    core_config *c = core_config_create("svc", items, N_ITEMS);
    char err[512];
    assert_int_equal(core_config_load(c, NULL, err, sizeof err), CORE_ECONFIG);
    assert_non_null(strstr(err, "TST_SECRET"));
    assert_non_null(strstr(err, "required"));
    setenv("TST_SECRET", "s3cr3t-value", 1);
    assert_int_equal(core_config_load(c, NULL, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(core_config_int(c, "TST_PORT"), 8080);
    assert_string_equal(core_config_str(c, "TST_NAME"), "bmc");
    assert_false(core_config_bool(c, "TST_DEBUG"));
    assert_int_equal(core_config_duration_ms(c, "TST_TIMEOUT"), 5000);
    assert_string_equal(core_config_url(c, "TST_ENDPOINT"), "http://127.0.0.1:4318");
    assert_string_equal(core_config_str(c, "TST_SECRET"), "s3cr3t-value");
    assert_null(core_config_str(c, "TST_OPTIONAL"));
    assert_int_equal(core_config_source_of(c, "TST_PORT"), CORE_CFG_SRC_DEFAULT);
    assert_int_equal(core_config_source_of(c, "TST_SECRET"), CORE_CFG_SRC_ENV);
    assert_int_equal(core_config_source_of(c, "TST_OPTIONAL"), CORE_CFG_SRC_NONE);
    core_config_destroy(c);
    clear_env();
}

static void test_env_values_and_errors(void **state)
{
    (void)state;
    clear_env();
    core_config *c = core_config_create("svc", items, N_ITEMS);
    setenv("TST_SECRET", "short", 1); /* under the 8-byte minimum */
    setenv("TST_PORT", "80x", 1);
    setenv("TST_DEBUG", "sure", 1);
    setenv("TST_TIMEOUT", "20m", 1); /* over 600000 ms */
    setenv("TST_ENDPOINT", "not a url", 1);
    char err[1024];
    assert_int_equal(core_config_load(c, NULL, err, sizeof err), CORE_ECONFIG);
    assert_non_null(strstr(err, "TST_PORT (from the environment): \"80x\" is not an integer"));
    assert_non_null(strstr(err, "TST_DEBUG"));
    assert_non_null(strstr(err, "TST_TIMEOUT"));
    assert_non_null(strstr(err, "range"));
    assert_non_null(strstr(err, "TST_ENDPOINT"));
    assert_non_null(strstr(err, "TST_SECRET"));
    assert_null(strstr(err, "short")); /* the secret value is never quoted */
    /* A tiny error buffer is truncated, still terminated. */
    char small[16];
    assert_int_equal(core_config_load(c, NULL, small, sizeof small), CORE_ECONFIG);
    assert_true(strlen(small) < sizeof small);
    /* Fix everything: env values win. */
    setenv("TST_SECRET", "long-enough-secret", 1);
    setenv("TST_PORT", " 9090 ", 1);
    setenv("TST_DEBUG", "on", 1);
    setenv("TST_TIMEOUT", "1500ms", 1);
    setenv("TST_ENDPOINT", " https://otel.example:4318/v1 ", 1);
    setenv("TST_NAME", "", 1); /* empty means unset: the default */
    assert_int_equal(core_config_load(c, NULL, err, sizeof err), 0);
    assert_int_equal(core_config_int(c, "TST_PORT"), 9090);
    assert_true(core_config_bool(c, "TST_DEBUG"));
    assert_int_equal(core_config_duration_ms(c, "TST_TIMEOUT"), 1500);
    assert_string_equal(core_config_url(c, "TST_ENDPOINT"), "https://otel.example:4318/v1");
    assert_string_equal(core_config_str(c, "TST_NAME"), "bmc");
    core_config_destroy(c);
    clear_env();
}

static void test_file_and_precedence(void **state)
{
    (void)state;
    clear_env();
    char *path = write_tmp("# comment\n\n  TST_PORT = 7000 \nTST_NAME=\"quoted name\"\r\n"
                           "TST_SECRET='from-the-file'\nTST_DEBUG=yes\nTST_PORT=7001\n");
    core_config *c = core_config_create("svc", items, N_ITEMS);
    char err[512];
    assert_int_equal(core_config_load(c, path, err, sizeof err), 0);
    assert_int_equal(core_config_int(c, "TST_PORT"), 7001); /* last line wins in the file */
    assert_string_equal(core_config_str(c, "TST_NAME"), "quoted name");
    assert_string_equal(core_config_str(c, "TST_SECRET"), "from-the-file");
    assert_int_equal(core_config_source_of(c, "TST_PORT"), CORE_CFG_SRC_FILE);
    setenv("TST_PORT", "7500", 1);
    assert_int_equal(core_config_load(c, path, err, sizeof err), 0);
    assert_int_equal(core_config_int(c, "TST_PORT"), 7500); /* env wins over the file */
    assert_int_equal(core_config_source_of(c, "TST_PORT"), CORE_CFG_SRC_ENV);
    unlink(path);
    free(path);

    path = write_tmp("TST_SECRET=abcdefghij\nTST_PORTT=1\nnot a setting\nTST_PORT=0\n");
    unsetenv("TST_PORT");
    assert_int_equal(core_config_load(c, path, err, sizeof err), CORE_ECONFIG);
    assert_non_null(strstr(err, "line 2: unknown key \"TST_PORTT\""));
    assert_non_null(strstr(err, "line 3: expected KEY=value"));
    assert_non_null(strstr(err, "TST_PORT (from the config file): \"0\" is outside the range"));
    unlink(path);
    free(path);

    assert_int_equal(core_config_load(c, "/nonexistent/bmc.conf", err, sizeof err), CORE_ECONFIG);
    assert_non_null(strstr(err, "/nonexistent/bmc.conf"));
    core_config_destroy(c);
    clear_env();
}

static void test_help_and_values(void **state)
{
    (void)state;
    clear_env();
    core_config *c = core_config_create("bmc-manager", items, N_ITEMS);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    char *argv[] = {"bmc-manager", "--help", NULL};
    char err[256];
    assert_int_equal(core_config_parse_args(c, 2, argv, f, err, sizeof err), 1);
    fclose(f);
    assert_non_null(strstr(text, "Usage: bmc-manager [--config FILE] [--help]"));
    assert_non_null(strstr(text, "TST_PORT  (int in [1, 65535], default 8080)"));
    assert_non_null(strstr(text, "TCP port of the API."));
    assert_non_null(strstr(text, "TST_TIMEOUT  (duration in [1ms, 600000ms], default 5s)"));
    assert_non_null(strstr(text, "TST_SECRET  (string, length in [8, 128], secret, required)"));
    free(text);

    setenv("TST_SECRET", "top-secret-value", 1);
    char *argv2[] = {"svc", "--bogus", NULL};
    assert_int_equal(core_config_parse_args(c, 2, argv2, NULL, err, sizeof err), CORE_ECONFIG);
    assert_non_null(strstr(err, "--bogus"));
    char *argv3[] = {"svc", "--config", NULL};
    assert_int_equal(core_config_parse_args(c, 2, argv3, NULL, err, sizeof err), CORE_ECONFIG);
    char *argv4[] = {"svc", NULL};
    assert_int_equal(core_config_parse_args(c, 1, argv4, NULL, err, sizeof err), 0);

    f = open_memstream(&text, &len);
    assert_int_equal(core_config_write_values(c, f), 0);
    fclose(f);
    assert_non_null(strstr(text, "TST_PORT=8080 (default)"));
    assert_non_null(strstr(text, "TST_SECRET=(hidden) (env)"));
    assert_null(strstr(text, "top-secret-value"));
    free(text);
    core_config_destroy(c);
    clear_env();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_table_checked),
        cmocka_unit_test(test_defaults_and_required),
        cmocka_unit_test(test_env_values_and_errors),
        cmocka_unit_test(test_file_and_precedence),
        cmocka_unit_test(test_help_and_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
