/* File exporter (OTLP JSON lines) and exporter selection from OTEL_TRACES_EXPORTER,
 * OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER.
 * ctest-labels: concurrency */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "otlp_internal.h"
#include "otlp_test_util.h"
#include "stdout_redirect.h"

/* Shuts an exporter of any signal down and frees it. */
#define CLOSE_EXPORTER(e) ((e)->shutdown(e), (e)->destroy(e))

static char dir[64];

static int mkdir_tmp(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/otlp_file_XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int rm_tmp(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Reads the file; checks that every line is one JSON request; returns the line count and the
 * total number of spans in *spans. */
static int check_lines(const char *path, int *spans)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lines = 0;
    *spans = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        assert_int_equal(line[n - 1], '\n');
        json_error_t err;
        json_t *j = json_loadb(line, (size_t)n - 1, 0, &err);
        if (!j) fail_msg("line %d is not JSON: %s", lines + 1, err.text);
        json_t *rs = json_object_get(j, "resourceSpans");
        assert_int_equal(json_array_size(rs), 1);
        json_t *sss = json_object_get(json_array_get(rs, 0), "scopeSpans");
        for (size_t i = 0; i < json_array_size(sss); i++)
            *spans += (int)json_array_size(json_object_get(json_array_get(sss, i), "spans"));
        json_decref(j);
        lines++;
    }
    free(line);
    fclose(f);
    return lines;
}

static void test_lines(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/traces.jsonl", dir);
    tel_span_exporter *e = tel_file_exporter_create(path);
    assert_non_null(e);
    tel_attr attrs[] = {TEL_ATTR_STR("k", "line\nbreak")};
    tel_span_data d[3];
    const tel_span_data *spans[3];
    for (int i = 0; i < 3; i++) {
        make_span(&d[i], NULL, "s", attrs, 1, (uint8_t)i);
        spans[i] = &d[i];
    }
    tel_attr r = TEL_ATTR_STR("service.name", "t");
    tel_resource res = {&r, 1, NULL};
    assert_int_equal(e->export_spans(e, &res, spans, 3, 0), TEL_OK);
    assert_int_equal(e->export_spans(e, &res, spans, 1, 0), TEL_OK);
    assert_int_equal(e->export_spans(e, &res, spans, 0, 0), TEL_OK);
    /* visible without flush or close */
    int n_spans;
    assert_int_equal(check_lines(path, &n_spans), 2);
    assert_int_equal(n_spans, 4);
    assert_int_equal(e->force_flush(e, 1000), TEL_OK);
    assert_int_equal(e->shutdown(e), TEL_OK);
    assert_int_equal(e->export_spans(e, &res, spans, 1, 0), TEL_ESHUTDOWN);
    e->destroy(e);
    /* a second exporter appends */
    e = tel_file_exporter_create(path);
    assert_int_equal(e->export_spans(e, &res, spans, 2, 0), TEL_OK);
    CLOSE_EXPORTER(e);
    assert_int_equal(check_lines(path, &n_spans), 3);
    assert_int_equal(n_spans, 6);
    assert_int_equal(access(path, R_OK), 0);
    /* cannot open */
    fflush(stderr);
    assert_null(tel_file_exporter_create("/nonexistent-dir/x.jsonl"));
    assert_null(tel_file_exporter_create(NULL));
}

typedef struct writer {
    tel_span_exporter *e;
    int batches;
} writer;

static void *write_many(void *arg)
{
    writer *w = arg;
    static tel_attr attrs[] = {TEL_ATTR_STR("payload", "0123456789012345678901234567890123456789")};
    tel_span_data d[20];
    const tel_span_data *spans[20];
    for (int i = 0; i < 20; i++) {
        make_span(&d[i], NULL, "concurrent", attrs, 1, (uint8_t)i);
        spans[i] = &d[i];
    }
    for (int b = 0; b < w->batches; b++)
        if (w->e->export_spans(w->e, NULL, spans, 20, 0) != TEL_OK) return (void *)1;
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/concurrent.jsonl", dir);
    /* two exporters on the same file (as two processes would), two threads each */
    tel_span_exporter *e1 = tel_file_exporter_create(path);
    tel_span_exporter *e2 = tel_file_exporter_create(path);
    writer w[4] = {{e1, 50}, {e1, 50}, {e2, 50}, {e2, 50}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, write_many, &w[i]);
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    int n_spans;
    assert_int_equal(check_lines(path, &n_spans), 200);
    assert_int_equal(n_spans, 200 * 20);
    e1->shutdown(e1);
    e2->shutdown(e2);
    e1->destroy(e1);
    e2->destroy(e2);
}

static void test_from_env(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/env.jsonl", dir);
    tel_span_exporter *direct = (tel_span_exporter *)&direct; /* must be overwritten */
    setenv("OTEL_TRACES_EXPORTER", "file", 1);
    setenv("OTEL_EXPORTER_FILE_PATH", "/nonexistent-dir/generic.jsonl", 1);
    setenv("OTEL_EXPORTER_FILE_TRACES_PATH", path, 1);
    tel_span_exporter *e = tel_span_exporter_from_env(&direct);
    assert_non_null(e);
    assert_null(direct);
    CLOSE_EXPORTER(e);
    assert_int_equal(access(path, F_OK), 0);

    /* console alone: nothing to batch, the console exporter apart (for a simple processor) */
    setenv("OTEL_TRACES_EXPORTER", " Console ", 1);
    assert_null(tel_span_exporter_from_env(&direct));
    assert_non_null(direct);
    CLOSE_EXPORTER(direct);
    /* ... or, when the caller takes no direct exporter, the one returned */
    e = tel_span_exporter_from_env(NULL);
    assert_non_null(e);
    CLOSE_EXPORTER(e);

    /* console in a list: still apart; the rest (otlp alone here) for a batch processor */
    setenv("OTEL_TRACES_EXPORTER", " Console , otlp", 1);
    e = tel_span_exporter_from_env(&direct);
    assert_non_null(e);
    assert_non_null(direct);
    tel_otlp_exporter_stats lst = {.exports = 99};
    tel_otlp_exporter_get_stats(e, &lst); /* the OTLP exporter itself: its (zero) counts */
    assert_int_equal(lst.exports, 0);
    CLOSE_EXPORTER(e);
    CLOSE_EXPORTER(direct);
    /* without a direct exporter taken: one fan-out over both */
    e = tel_span_exporter_from_env(NULL);
    assert_non_null(e);
    CLOSE_EXPORTER(e);

    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    direct = (tel_span_exporter *)&direct;
    assert_null(tel_span_exporter_from_env(&direct));
    assert_null(direct);

    /* otlp (default and unknown names): an OTLP exporter, not connected until it exports */
    unsetenv("OTEL_TRACES_EXPORTER");
    e = tel_span_exporter_from_env(&direct);
    assert_non_null(e);
    assert_null(direct);
    tel_otlp_exporter_stats st;
    tel_otlp_exporter_get_stats(e, &st);
    assert_int_equal(st.exports, 0);
    CLOSE_EXPORTER(e);
    setenv("OTEL_TRACES_EXPORTER", "zipkin", 1);
    e = tel_span_exporter_from_env(NULL);
    assert_non_null(e);
    CLOSE_EXPORTER(e);
    unsetenv("OTEL_TRACES_EXPORTER");
    unsetenv("OTEL_EXPORTER_FILE_PATH");
    unsetenv("OTEL_EXPORTER_FILE_TRACES_PATH");
}

/* An exporter list: each batch reaches every listed exporter (the console's stdout is sent to a
 * file here), a name listed twice is used once, "none" beside others is ignored. */
static void test_list_fans_out(void **state)
{
    (void)state;
    char fpath[128], cpath[128];
    snprintf(fpath, sizeof fpath, "%s/list.jsonl", dir);
    snprintf(cpath, sizeof cpath, "%s/console.out", dir);
    int saved = stdout_redirect(cpath);
    assert_true(saved >= 0);
    setenv("OTEL_TRACES_EXPORTER", "none, FILE,console ,file,,", 1);
    setenv("OTEL_EXPORTER_FILE_TRACES_PATH", fpath, 1);
    tel_span_exporter *e = tel_span_exporter_from_env(NULL); /* console among the members */
    assert_non_null(e);
    tel_attr attrs[] = {TEL_ATTR_STR("k", "v")};
    tel_span_data d[2];
    const tel_span_data *spans[2];
    for (int i = 0; i < 2; i++) {
        make_span(&d[i], NULL, "fanned", attrs, 1, (uint8_t)i);
        spans[i] = &d[i];
    }
    assert_int_equal(e->export_spans(e, NULL, spans, 2, 0), TEL_OK);
    assert_int_equal(e->force_flush(e, 1000), TEL_OK);
    assert_int_equal(e->shutdown(e), TEL_OK);
    assert_int_equal(e->export_spans(e, NULL, spans, 1, 0), TEL_ESHUTDOWN);
    e->destroy(e);
    stdout_restore(saved);
    int n_spans;
    assert_int_equal(check_lines(fpath, &n_spans), 1); /* "file" twice: one exporter, one line */
    assert_int_equal(n_spans, 2);
    FILE *f = fopen(cpath, "r");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    int seen = 0;
    for (const char *p = buf; (p = strstr(p, "fanned")) != NULL; p++)
        seen++;
    assert_int_equal(seen, 2); /* the console got the same batch */
    unsetenv("OTEL_TRACES_EXPORTER");
    unsetenv("OTEL_EXPORTER_FILE_TRACES_PATH");
}

/* The lines of a file, parsed (caller decrefs). */
static json_t *read_lines(const char *path)
{
    json_t *arr = json_array();
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        assert_int_equal(line[n - 1], '\n');
        json_t *j = json_loadb(line, (size_t)n - 1, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(j);
        json_array_append_new(arr, j);
    }
    free(line);
    fclose(f);
    return arr;
}

static void test_metrics_and_logs_lines(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/signals.jsonl", dir);
    tel_metric_exporter *me = tel_file_metric_exporter_create(path);
    tel_log_exporter *le = tel_file_log_exporter_create(path);
    assert_non_null(me);
    assert_non_null(le);
    metric_fixture mf;
    metric_fixture_init(&mf);
    log_fixture lf;
    log_fixture_init(&lf);
    assert_int_equal(me->export_metrics(me, NULL, mf.m, 4, 0), TEL_OK);
    assert_int_equal(le->export_logs(le, NULL, lf.ptrs, 3, 0), TEL_OK);
    assert_int_equal(me->export_metrics(me, NULL, mf.m, 0, 0), TEL_OK); /* nothing: no line */
    assert_int_equal(me->force_flush(me, 100), TEL_OK);
    me->shutdown(me);
    le->shutdown(le);
    assert_int_equal(le->export_logs(le, NULL, lf.ptrs, 3, 0), TEL_ESHUTDOWN);
    me->destroy(me);
    le->destroy(le);

    json_t *lines = read_lines(path);
    assert_int_equal(json_array_size(lines), 2);
    /* Each line is exactly what the encoder makes. */
    tel_buf b = TEL_BUF_INIT;
    assert_int_equal(tel_otlp_encode_metrics_json(&b, NULL, mf.m, 4), TEL_OK);
    json_t *want = json_loadb((const char *)b.data, b.len, 0, NULL);
    assert_true(json_equal(json_array_get(lines, 0), want));
    json_decref(want);
    b.len = 0;
    assert_int_equal(tel_otlp_encode_logs_json(&b, NULL, lf.ptrs, 3), TEL_OK);
    want = json_loadb((const char *)b.data, b.len, 0, NULL);
    assert_true(json_equal(json_array_get(lines, 1), want));
    json_decref(want);
    tel_buf_free(&b);
    json_decref(lines);
}

static void test_metrics_and_logs_from_env(void **state)
{
    (void)state;
    char mpath[128], lpath[128];
    snprintf(mpath, sizeof mpath, "%s/metrics-env.jsonl", dir);
    snprintf(lpath, sizeof lpath, "%s/logs-env.jsonl", dir);

    /* Logs default to none; metrics default to otlp. */
    unsetenv("OTEL_LOGS_EXPORTER");
    unsetenv("OTEL_METRICS_EXPORTER");
    assert_null(tel_log_exporter_from_env());
    tel_metric_exporter *me = tel_metric_exporter_from_env();
    assert_non_null(me);
    tel_otlp_exporter_stats st;
    tel_otlp_metric_exporter_get_stats(me, &st);
    assert_int_equal(st.exports, 0);
    CLOSE_EXPORTER(me);

    setenv("OTEL_METRICS_EXPORTER", "file", 1);
    setenv("OTEL_LOGS_EXPORTER", "FILE", 1);
    setenv("OTEL_EXPORTER_FILE_METRICS_PATH", mpath, 1);
    setenv("OTEL_EXPORTER_FILE_LOGS_PATH", lpath, 1);
    me = tel_metric_exporter_from_env();
    tel_log_exporter *le = tel_log_exporter_from_env();
    assert_non_null(me);
    assert_non_null(le);
    tel_otlp_metric_exporter_get_stats(me, &st); /* not an OTLP exporter: zeros */
    assert_int_equal(st.exports, 0);
    metric_fixture mf;
    metric_fixture_init(&mf);
    log_fixture lf;
    log_fixture_init(&lf);
    assert_int_equal(me->export_metrics(me, NULL, mf.m, 4, 0), TEL_OK);
    assert_int_equal(le->export_logs(le, NULL, lf.ptrs, 3, 0), TEL_OK);
    CLOSE_EXPORTER(me);
    CLOSE_EXPORTER(le);
    json_t *m = read_lines(mpath), *l = read_lines(lpath);
    assert_non_null(json_object_get(json_array_get(m, 0), "resourceMetrics"));
    assert_non_null(json_object_get(json_array_get(l, 0), "resourceLogs"));
    json_decref(m);
    json_decref(l);

    setenv("OTEL_METRICS_EXPORTER", "console", 1);
    setenv("OTEL_LOGS_EXPORTER", "none", 1);
    me = tel_metric_exporter_from_env();
    assert_non_null(me);
    CLOSE_EXPORTER(me);
    assert_null(tel_log_exporter_from_env());

    setenv("OTEL_METRICS_EXPORTER", "none", 1);
    setenv("OTEL_LOGS_EXPORTER", "otlp", 1);
    assert_null(tel_metric_exporter_from_env());
    le = tel_log_exporter_from_env();
    assert_non_null(le);
    tel_otlp_log_exporter_get_stats(le, &st);
    assert_int_equal(st.exports, 0);
    CLOSE_EXPORTER(le);
    unsetenv("OTEL_METRICS_EXPORTER");
    unsetenv("OTEL_LOGS_EXPORTER");
    unsetenv("OTEL_EXPORTER_FILE_METRICS_PATH");
    unsetenv("OTEL_EXPORTER_FILE_LOGS_PATH");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_list_fans_out),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_from_env),
        cmocka_unit_test(test_metrics_and_logs_lines),
        cmocka_unit_test(test_metrics_and_logs_from_env),
    };
    return cmocka_run_group_tests(tests, mkdir_tmp, rm_tmp);
}
