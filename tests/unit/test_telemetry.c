/* The process-wide SDK (telemetry.c): tel_init wires traces, metrics and logs from the
 * environment; tel_shutdown flushes all three. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

#include "stdout_redirect.h"

/* Reads a JSON-lines file into an array of objects. */
static json_t *read_lines(const char *path)
{
    json_t *arr = json_array();
    FILE *f = fopen(path, "r");
    if (!f)
        return arr;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        assert_non_null(o);
        json_array_append_new(arr, o);
    }
    free(line);
    fclose(f);
    return arr;
}

static const char *service_of(json_t *req, const char *rkey)
{
    json_t *attrs = json_object_get(json_object_get(json_array_get(json_object_get(req, rkey), 0),
                                                    "resource"),
                                    "attributes");
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "key")), "service.name") == 0)
            return json_string_value(json_object_get(json_object_get(a, "value"), "stringValue"));
    }
    return NULL;
}

static void test_init_wires_all_three_signals(void **state)
{
    (void)state;
    char dir[] = "/tmp/tel-init-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char tp[128], mp[128], lp[128];
    snprintf(tp, sizeof tp, "%s/traces.jsonl", dir);
    snprintf(mp, sizeof mp, "%s/metrics.jsonl", dir);
    snprintf(lp, sizeof lp, "%s/logs.jsonl", dir);
    setenv("OTEL_SERVICE_NAME", "init-test", 1);
    setenv("OTEL_TRACES_EXPORTER", "file", 1);
    setenv("OTEL_METRICS_EXPORTER", "file", 1);
    setenv("OTEL_LOGS_EXPORTER", "file", 1);
    setenv("OTEL_EXPORTER_FILE_TRACES_PATH", tp, 1);
    setenv("OTEL_EXPORTER_FILE_METRICS_PATH", mp, 1);
    setenv("OTEL_EXPORTER_FILE_LOGS_PATH", lp, 1);
    unsetenv("OTEL_SDK_DISABLED");
    assert_int_equal(tel_init("default-name", "9.9.9"), TEL_OK);
    assert_non_null(tel_global_provider());
    assert_non_null(tel_global_meter_provider());

    tel_span *s = tel_span_start(tel_global_tracer("init", NULL), "op", TEL_SPAN_KIND_SERVER, NULL);
    tel_span_set_current(s);
    tel_instrument *c = tel_meter_create(tel_global_meter("init", NULL), TEL_INSTR_COUNTER,
                                         "init.requests", NULL);
    tel_attr a = TEL_ATTR_STR("route", "/x");
    tel_counter_add(c, 2, &a, 1);
    tel_log(TEL_LOG_WARN, &a, 1, "hello %d", 42);
    tel_span_set_current(NULL);
    tel_span_end(s);
    tel_shutdown();
    assert_null(tel_global_meter_provider());

    json_t *t = read_lines(tp), *m = read_lines(mp), *l = read_lines(lp);
    assert_true(json_array_size(t) >= 1);
    assert_true(json_array_size(m) >= 1);
    assert_true(json_array_size(l) >= 1);
    assert_string_equal(service_of(json_array_get(t, 0), "resourceSpans"), "init-test");
    assert_string_equal(service_of(json_array_get(m, 0), "resourceMetrics"), "init-test");
    assert_string_equal(service_of(json_array_get(l, 0), "resourceLogs"), "init-test");
    char *ms = json_dumps(m, 0), *ls = json_dumps(l, 0);
    assert_non_null(strstr(ms, "init.requests"));
    assert_non_null(strstr(ls, "hello 42"));
    free(ms);
    free(ls);
    json_decref(t);
    json_decref(m);
    json_decref(l);
    unlink(tp);
    unlink(mp);
    unlink(lp);
    rmdir(dir);
    const char *vars[] = {"OTEL_SERVICE_NAME", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
                          "OTEL_LOGS_EXPORTER", "OTEL_EXPORTER_FILE_TRACES_PATH",
                          "OTEL_EXPORTER_FILE_METRICS_PATH", "OTEL_EXPORTER_FILE_LOGS_PATH"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

/* The whole of a small file as a string (empty when it does not exist); free it. */
static char *slurp(const char *path)
{
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

/* OTEL_TRACES_EXPORTER=file,console: the console prints each span as it ends (a simple
 * processor of its own), while the file gets its spans batched (here only at shutdown: the
 * schedule delay is a minute). */
static void test_console_in_a_list_is_not_batched(void **state)
{
    (void)state;
    char dir[] = "/tmp/tel-console-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char tp[128], cp[128];
    snprintf(tp, sizeof tp, "%s/traces.jsonl", dir);
    snprintf(cp, sizeof cp, "%s/console.out", dir);
    setenv("OTEL_TRACES_EXPORTER", "file, console", 1);
    setenv("OTEL_METRICS_EXPORTER", "none", 1);
    setenv("OTEL_EXPORTER_FILE_TRACES_PATH", tp, 1);
    setenv("OTEL_BSP_SCHEDULE_DELAY", "60000", 1);
    unsetenv("OTEL_SDK_DISABLED");
    int saved = stdout_redirect(cp);
    assert_true(saved >= 0);
    assert_int_equal(tel_init("console-test", NULL), TEL_OK);
    tel_span *s =
        tel_span_start(tel_global_tracer("init", NULL), "direct-op", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_span_end(s);
    fflush(stdout);
    char *console = slurp(cp), *file = slurp(tp);
    bool printed_at_end = strstr(console, "direct-op") != NULL;
    bool file_waits = strstr(file, "direct-op") == NULL;
    free(console);
    free(file);
    tel_shutdown();
    stdout_restore(saved);
    file = slurp(tp);
    bool file_at_shutdown = strstr(file, "direct-op") != NULL;
    console = slurp(cp);
    const char *first = strstr(console, "direct-op");
    bool printed_once = first && !strstr(first + 1, "direct-op");
    free(file);
    free(console);
    unlink(tp);
    unlink(cp);
    rmdir(dir);
    const char *vars[] = {"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
                          "OTEL_EXPORTER_FILE_TRACES_PATH", "OTEL_BSP_SCHEDULE_DELAY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    assert_true(printed_at_end);
    assert_true(file_waits);
    assert_true(file_at_shutdown);
    assert_true(printed_once);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_wires_all_three_signals),
        cmocka_unit_test(test_console_in_a_list_is_not_batched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
