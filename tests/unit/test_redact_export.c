/* No secret leaks: spans, log lines, log records and metrics carrying secrets under denied keys
 * (http.request.header.authorization, bmc.password, session_token, cookie, x-api-key) go out
 * through every exporter (OTLP protobuf and JSON to a real HTTP server on 127.0.0.1, the file
 * exporter, the console exporter, and the stderr JSON lines); every byte that left is searched
 * for the secret values, which must not be found, while "[REDACTED]" must be.
 * ctest-labels: concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>

#include <cmocka.h>

#include "otlp_internal.h"
#include "otlp_test_server.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "telemetry/redact.h"
#include "telemetry/trace.h"

static const char *const secrets[] = {"hunter2", "Bearer abc", "tok-xyz", "s3cr3t", "key-987"};

static char dir[64];
static tsrv *srv;

static void cfg_for(tel_otlp_config *c, tel_otlp_signal sig, tel_otlp_protocol proto)
{
    assert_int_equal(tel_otlp_config_init(c, sig), TEL_OK);
    char url[80];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/%s", srv->port, tel_otlp_signal_name(sig));
    assert_int_equal(tel_otlp_config_set_endpoint(c, url), TEL_OK);
    c->protocol = proto;
    c->timeout_ms = 3000;
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* ---- Spans ---- */

static void export_spans(void)
{
    tel_tracer_provider_config pc = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "leak-test");
    pc.resource = tel_resource_create(&svc, 1);
    pc.has_sampler = true;
    tel_sampler_init(&pc.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
    tel_tracer_provider *p = tel_tracer_provider_create(&pc);
    tel_otlp_config c;
    tel_bsp_config bc = {64, 64, 60000, 5000};
    cfg_for(&c, TEL_OTLP_TRACES, TEL_OTLP_HTTP_PROTOBUF);
    tel_tracer_provider_add_processor(p, tel_bsp_create(tel_otlp_span_exporter_create(&c), &bc));
    tel_otlp_config_cleanup(&c);
    cfg_for(&c, TEL_OTLP_TRACES, TEL_OTLP_HTTP_JSON);
    tel_tracer_provider_add_processor(p, tel_bsp_create(tel_otlp_span_exporter_create(&c), &bc));
    tel_otlp_config_cleanup(&c);
    char path[128];
    path_of(path, sizeof path, "spans.jsonl");
    tel_tracer_provider_add_processor(
        p, tel_simple_processor_create(tel_file_exporter_create(path), 5000));
    path_of(path, sizeof path, "spans.console");
    FILE *con = fopen(path, "w");
    tel_tracer_provider_add_processor(
        p, tel_simple_processor_create(tel_console_exporter_create(con), 5000));

    tel_tracer *t = tel_tracer_get(p, "leak", NULL);
    tel_span *s = tel_span_start(t, "POST /v1/login", TEL_SPAN_KIND_SERVER, NULL);
    tel_span_set_str(s, "http.request.header.authorization", "Bearer abc");
    tel_span_set_str(s, "bmc.password", "hunter2");
    char key[32];
    snprintf(key, sizeof key, "http.request.header.%s", "x-api-key");
    tel_attr dk = TEL_ATTR_STR(key, "key-987");
    tel_span_set_attr_copy_key(s, &dk);
    tel_attr ev[] = {TEL_ATTR_STR("session_token", "tok-xyz")};
    tel_span_add_event(s, "login", ev, 1);
    tel_span_context lsc;
    memset(&lsc, 0, sizeof lsc);
    memset(lsc.trace_id, 3, 16);
    memset(lsc.span_id, 4, 8);
    tel_attr la[] = {TEL_ATTR_STR("cookie", "sid=s3cr3t")};
    tel_span_add_link(s, &lsc, NULL, la, 1);
    tel_span_end(s);
    assert_int_equal(tel_tracer_provider_force_flush(p, 5000), TEL_OK);
    tel_tracer_provider_destroy(p);
    fclose(con);
}

/* ---- Logs ---- */

static void log_through(tel_log_exporter *e)
{
    assert_non_null(e);
    tel_blrp_config cfg = {64, 64, 60000, 5000};
    tel_log_processor *p = tel_blrp_create(e, NULL, &cfg);
    tel_log_set_processor(p);
    tel_attr a[] = {TEL_ATTR_STR("bmc.password", "hunter2"),
                    TEL_ATTR_STR("http.request.header.authorization", "Bearer abc"),
                    TEL_ATTR_STR("Cookie", "sid=s3cr3t"), TEL_ATTR_STR("user", "alice")};
    tel_log(TEL_LOG_WARN, a, 4, "login for %s failed", "alice");
    assert_int_equal(tel_log_processor_force_flush(p, 5000), TEL_OK);
    tel_log_set_processor(NULL);
    tel_log_processor_shutdown(p, 5000);
    tel_log_processor_destroy(p);
}

static void export_logs(void)
{
    char path[128];
    path_of(path, sizeof path, "stderr.jsonl");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int prev = tel_log_set_output(fd);
    tel_otlp_config c;
    cfg_for(&c, TEL_OTLP_LOGS, TEL_OTLP_HTTP_PROTOBUF);
    log_through(tel_otlp_log_exporter_create(&c));
    tel_otlp_config_cleanup(&c);
    cfg_for(&c, TEL_OTLP_LOGS, TEL_OTLP_HTTP_JSON);
    log_through(tel_otlp_log_exporter_create(&c));
    tel_otlp_config_cleanup(&c);
    path_of(path, sizeof path, "logs.jsonl");
    log_through(tel_file_log_exporter_create(path));
    path_of(path, sizeof path, "logs.console");
    FILE *con = fopen(path, "w");
    log_through(tel_console_log_exporter_create(con));
    fclose(con);
    tel_log_set_output(prev);
    close(fd);
}

/* ---- Metrics (the real instruments: attributes are redacted when recorded) ---- */

typedef struct metric_sinks {
    tel_metric_exporter *e[4];
} metric_sinks;

static void export_collected(const tel_resource *res, const tel_metric *metrics, size_t n, void *ud)
{
    metric_sinks *s = ud;
    for (int i = 0; i < 4; i++)
        assert_int_equal(s->e[i]->export_metrics(s->e[i], res, metrics, n, 0), TEL_OK);
}

static void export_metrics(void)
{
    tel_attr svc = TEL_ATTR_STR("service.name", "leak-test");
    tel_resource *res = tel_resource_create(&svc, 1);
    tel_meter_provider_config mc = {
        .resource = res, .exemplar_filter = TEL_EXEMPLAR_ALWAYS_ON, .has_exemplar_filter = true};
    tel_meter_provider *mp = tel_meter_provider_create(&mc);
    assert_non_null(mp);
    tel_meter *m = tel_meter_get(mp, "leak", "1");
    tel_instrument *ctr = tel_meter_create(m, TEL_INSTR_COUNTER, "logins", NULL);
    tel_instrument *hist = tel_meter_create(m, TEL_INSTR_HISTOGRAM, "login.duration", NULL);
    tel_attr a[] = {TEL_ATTR_STR("bmc.password", "hunter2"), TEL_ATTR_STR("user", "alice")};
    tel_attr b[] = {TEL_ATTR_STR("http.request.header.authorization", "Bearer abc")};
    tel_counter_add(ctr, 1, a, 2);
    tel_histogram_record(hist, 12.5, b, 1);

    metric_sinks s;
    tel_otlp_config c;
    cfg_for(&c, TEL_OTLP_METRICS, TEL_OTLP_HTTP_PROTOBUF);
    s.e[0] = tel_otlp_metric_exporter_create(&c);
    tel_otlp_config_cleanup(&c);
    cfg_for(&c, TEL_OTLP_METRICS, TEL_OTLP_HTTP_JSON);
    s.e[1] = tel_otlp_metric_exporter_create(&c);
    tel_otlp_config_cleanup(&c);
    char path[128];
    path_of(path, sizeof path, "metrics.jsonl");
    s.e[2] = tel_file_metric_exporter_create(path);
    path_of(path, sizeof path, "metrics.console");
    FILE *con = fopen(path, "w");
    s.e[3] = tel_console_metric_exporter_create(con);
    assert_int_equal(tel_meter_provider_collect(mp, export_collected, &s), TEL_OK);
    for (int i = 0; i < 4; i++) {
        s.e[i]->shutdown(s.e[i]);
        s.e[i]->destroy(s.e[i]);
    }
    fclose(con);
    tel_meter_provider_destroy(mp);
    tel_resource_destroy(res);
}

/* ---- The search ---- */

static int count_in(const uint8_t *p, size_t n, const char *needle)
{
    int c = 0;
    size_t k = strlen(needle);
    for (const uint8_t *q = p; q && (q = memmem(q, n - (size_t)(q - p), needle, k)); q += k)
        c++;
    return c;
}

static int redacted_total;

static void search(const char *what, const uint8_t *p, size_t n)
{
    assert_true(n > 0);
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (count_in(p, n, secrets[i])) fail_msg("%s leaks \"%s\"", what, secrets[i]);
    int r = count_in(p, n, TEL_REDACTED);
    if (r == 0) fail_msg("%s has no %s: nothing was checked", what, TEL_REDACTED);
    redacted_total += r;
    printf("%-16s %6zu bytes, %d redacted values, no secret\n", what, n, r);
}

static void search_file(const char *name)
{
    char path[128];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    search(name, buf, n);
    free(buf);
}

static void test_no_secret_leaves(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/redact_export_XXXXXX");
    assert_non_null(mkdtemp(dir));
    canned ok = {.status = 200, .close_after = true}; /* one connection at a time */
    srv = tsrv_start(&ok, 1);
    assert_non_null(srv);

    export_spans();
    export_logs();
    export_metrics();

    int n = tsrv_requests(srv);
    assert_int_equal(n, 6); /* spans, logs, metrics x protobuf, JSON */
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "http request %d", i);
        assert_null(strcasestr(srv->reqs[i].head, "content-encoding")); /* bytes as sent */
        search(what, srv->reqs[i].body, srv->reqs[i].body_len);
    }
    static const char *const files[] = {"spans.jsonl",    "spans.console", "stderr.jsonl",
                                        "logs.jsonl",     "logs.console",  "metrics.jsonl",
                                        "metrics.console"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        search_file(files[i]);
    assert_true(redacted_total >= 30);
    tsrv_stop(srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_secret_leaves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
