/* OTLP exporter configuration from OTEL_EXPORTER_OTLP_*. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "otlp_internal.h"
#include "stderr_capture.h"

static const char *const vars[] = {
    "ENDPOINT",    "PROTOCOL",    "HEADERS",
    "TIMEOUT",     "COMPRESSION", "INSECURE",
    "CERTIFICATE", "CLIENT_KEY",  "CLIENT_CERTIFICATE",
};

static int clear_env(void **state)
{
    (void)state;
    char name[96];
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        snprintf(name, sizeof name, "OTEL_EXPORTER_OTLP_%s", vars[i]);
        unsetenv(name);
        static const char *const sigs[] = {"TRACES", "METRICS", "LOGS"};
        for (int s = 0; s < 3; s++) {
            snprintf(name, sizeof name, "OTEL_EXPORTER_OTLP_%s_%s", sigs[s], vars[i]);
            unsetenv(name);
        }
    }
    return 0;
}

static const char *header(const tel_otlp_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_headers; i++)
        if (strcasecmp(c->headers[i].name, name) == 0) return c->headers[i].value;
    return NULL;
}

/* Runs from_env with stderr captured into buf (NUL-terminated). */
static int from_env_captured(tel_otlp_config *c, const char *signal, char *buf, size_t cap)
{
    stderr_capture sc = STDERR_CAPTURE_INIT;
    assert_int_equal(stderr_capture_start(&sc, "otlp_cfg"), 0);
    int rc = tel_otlp_config_from_env(c, signal);
    size_t n;
    stderr_capture_stop(&sc, buf, cap - 1, &n);
    buf[n] = '\0';
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    tel_otlp_config c;
    assert_int_equal(tel_otlp_config_from_env(&c, "traces"), TEL_OK);
    assert_int_equal(c.signal, TEL_OTLP_TRACES);
    assert_int_equal(c.protocol, TEL_OTLP_HTTP_PROTOBUF);
    assert_string_equal(c.endpoint, "http://localhost:4318/v1/traces");
    assert_int_equal(c.timeout_ms, 10000);
    assert_false(c.gzip);
    assert_false(c.insecure);
    assert_int_equal(c.n_headers, 0);
    assert_null(c.certificate);
    assert_int_equal(c.retry_initial_ms, 1000);
    assert_int_equal(c.retry_max_ms, 5000);
    tel_otlp_config_cleanup(&c);
    assert_int_equal(tel_otlp_config_from_env(&c, "metrics"), TEL_OK);
    assert_string_equal(c.endpoint, "http://localhost:4318/v1/metrics");
    tel_otlp_config_cleanup(&c);
    assert_int_equal(tel_otlp_config_from_env(&c, "logs"), TEL_OK);
    assert_string_equal(c.endpoint, "http://localhost:4318/v1/logs");
    tel_otlp_config_cleanup(&c);
    assert_int_equal(tel_otlp_config_from_env(&c, "profiles"), TEL_EINVAL);
    assert_int_equal(tel_otlp_config_from_env(NULL, "traces"), TEL_EINVAL);
}

static void test_endpoints(void **state)
{
    (void)state;
    tel_otlp_config c;
    static const char *const cases[][2] = {
        {"http://collector:4318", "http://collector:4318/v1/traces"},
        {"http://collector:4318/", "http://collector:4318/v1/traces"},
        {"https://otel.example/base", "https://otel.example/base/v1/traces"},
        {"https://otel.example/base/", "https://otel.example/base/v1/traces"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("OTEL_EXPORTER_OTLP_ENDPOINT", cases[i][0], 1);
        assert_int_equal(tel_otlp_config_from_env(&c, "traces"), TEL_OK);
        assert_string_equal(c.endpoint, cases[i][1]);
        tel_otlp_config_cleanup(&c);
    }
    /* per-signal: as is, and it wins over the generic one */
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom", 1);
    assert_int_equal(tel_otlp_config_from_env(&c, "traces"), TEL_OK);
    assert_string_equal(c.endpoint, "http://traces:9999/custom");
    tel_otlp_config_cleanup(&c);
    /* another signal is not affected by the traces variable */
    assert_int_equal(tel_otlp_config_from_env(&c, "metrics"), TEL_OK);
    assert_string_equal(c.endpoint, "https://otel.example/base/v1/metrics");
    tel_otlp_config_cleanup(&c);
    /* invalid per-signal falls back to the generic one, with a warning */
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318", 1);
    char err[2048];
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_string_equal(c.endpoint, "https://otel.example/base/v1/traces");
    assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
    tel_otlp_config_cleanup(&c);
    /* invalid generic: default */
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x/", 1);
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_string_equal(c.endpoint, "http://localhost:4318/v1/traces");
    tel_otlp_config_cleanup(&c);
}

static void test_protocol(void **state)
{
    (void)state;
    tel_otlp_config c;
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
    assert_int_equal(tel_otlp_config_from_env(&c, "traces"), TEL_OK);
    assert_int_equal(c.protocol, TEL_OTLP_GRPC);
    assert_string_equal(c.endpoint, "http://localhost:4317");
    tel_otlp_config_cleanup(&c);
    /* gRPC: the generic endpoint gets no path, and may lack a scheme */
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317", 1);
    setenv("OTEL_EXPORTER_OTLP_INSECURE", "true", 1);
    assert_int_equal(tel_otlp_config_from_env(&c, "traces"), TEL_OK);
    assert_string_equal(c.endpoint, "collector:4317");
    assert_true(c.insecure);
    char target[64];
    bool plain = false;
    assert_int_equal(tel_otlp_grpc_target(&c, target, sizeof target, &plain), TEL_OK);
    assert_string_equal(target, "collector:4317");
    assert_true(plain);
    tel_otlp_config_cleanup(&c);
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    /* per-signal protocol wins */
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", 1);
    assert_int_equal(tel_otlp_config_from_env(&c, "traces"), TEL_OK);
    assert_int_equal(c.protocol, TEL_OTLP_HTTP_JSON);
    assert_string_equal(c.endpoint, "http://localhost:4318/v1/traces");
    tel_otlp_config_cleanup(&c);
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift", 1);
    char err[2048];
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_int_equal(c.protocol, TEL_OTLP_HTTP_PROTOBUF);
    assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"));
    tel_otlp_config_cleanup(&c);
    assert_string_equal(tel_otlp_protocol_name(TEL_OTLP_HTTP_JSON), "http/json");
    assert_string_equal(tel_otlp_signal_name(TEL_OTLP_LOGS), "logs");
}

static void test_headers(void **state)
{
    (void)state;
    tel_otlp_config c;
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cr%3Dt%20value , x-tenant=acme,", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Tenant=traces-team,authorization=Bearer%20tok",
           1);
    assert_int_equal(tel_otlp_config_from_env(&c, "traces"), TEL_OK);
    assert_int_equal(c.n_headers, 3);
    assert_string_equal(header(&c, "api-key"), "s3cr=t value");
    assert_string_equal(header(&c, "x-tenant"), "traces-team");
    assert_string_equal(header(&c, "authorization"), "Bearer tok");
    tel_otlp_config_cleanup(&c);
    /* malformed per-signal variable: ignored as a whole, the secret never printed */
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=Bearer%20SUPERSECRET,broken", 1);
    char err[4096];
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_int_equal(c.n_headers, 2);
    assert_null(header(&c, "authorization"));
    assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"));
    assert_null(strstr(err, "SUPERSECRET"));
    tel_otlp_config_cleanup(&c);
    /* CR/LF in a decoded value (header injection) and bad names are malformed too */
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=b%0D%0AHost:%20evil", 1);
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_null(header(&c, "a"));
    tel_otlp_config_cleanup(&c);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad%20name=x", 1);
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_int_equal(c.n_headers, 2);
    tel_otlp_config_cleanup(&c);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad=%ZZ", 1);
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_int_equal(c.n_headers, 2);
    tel_otlp_config_cleanup(&c);
}

static void test_scalars(void **state)
{
    (void)state;
    tel_otlp_config c;
    char err[2048];
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/hostname", 1);
    setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/nonexistent/key.pem", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/etc/hostname", 1);
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_int_equal(c.timeout_ms, 2500);
    assert_true(c.gzip);
    assert_string_equal(c.certificate, "/etc/hostname");
    assert_string_equal(c.client_key, "/nonexistent/key.pem");
    assert_string_equal(c.client_certificate, "/etc/hostname");
    assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_CLIENT_KEY"));
    tel_otlp_config_cleanup(&c);
    setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "TRUE", 1);
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_int_equal(c.timeout_ms, 700);
    assert_false(c.gzip);
    assert_true(c.insecure);
    tel_otlp_config_cleanup(&c);
    setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "yes", 1);
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_int_equal(c.timeout_ms, 10000);
    assert_false(c.gzip);
    assert_false(c.insecure);
    assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"));
    assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"));
    assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_TRACES_INSECURE"));
    tel_otlp_config_cleanup(&c);
    setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0", 1);
    assert_int_equal(from_env_captured(&c, "traces", err, sizeof err), TEL_OK);
    assert_int_equal(c.timeout_ms, 10000);
    tel_otlp_config_cleanup(&c);
}

static void test_api(void **state)
{
    (void)state;
    tel_otlp_config c, d;
    assert_int_equal(tel_otlp_config_init(&c, TEL_OTLP_TRACES), TEL_OK);
    assert_int_equal(tel_otlp_config_set_header(&c, "Authorization", "x"), TEL_OK);
    assert_int_equal(tel_otlp_config_set_header(&c, "authorization", "y"), TEL_OK);
    assert_int_equal(c.n_headers, 1);
    assert_string_equal(c.headers[0].value, "y");
    assert_int_equal(tel_otlp_config_set_header(&c, "a b", "x"), TEL_EINVAL);
    assert_int_equal(tel_otlp_config_set_header(&c, "", "x"), TEL_EINVAL);
    assert_int_equal(tel_otlp_config_set_header(&c, "ok", "a\nb"), TEL_EINVAL);
    assert_int_equal(tel_otlp_config_set_header(&c, "empty", ""), TEL_OK);
    for (int i = 0; c.n_headers < TEL_OTLP_MAX_HEADERS; i++) {
        char n[16];
        snprintf(n, sizeof n, "h%d", i);
        assert_int_equal(tel_otlp_config_set_header(&c, n, "v"), TEL_OK);
    }
    assert_int_equal(tel_otlp_config_set_header(&c, "one-more", "v"), TEL_EFULL);
    assert_int_equal(tel_otlp_config_set_endpoint(&c, "http://h:1/p"), TEL_OK);
    assert_int_equal(tel_otlp_config_set_endpoint(&c, ""), TEL_EINVAL);
    c.certificate = strdup("/ca.pem");
    assert_int_equal(tel_otlp_config_copy(&d, &c), TEL_OK);
    tel_otlp_config_cleanup(&c);
    assert_string_equal(d.endpoint, "http://h:1/p");
    assert_string_equal(d.certificate, "/ca.pem");
    assert_int_equal(d.n_headers, TEL_OTLP_MAX_HEADERS);
    assert_string_equal(d.headers[0].value, "y");
    tel_otlp_config_cleanup(&d);
    tel_otlp_config_cleanup(&d); /* idempotent */
}

static void test_grpc_target_and_log_endpoint(void **state)
{
    (void)state;
    tel_otlp_config c;
    assert_int_equal(tel_otlp_config_init(&c, TEL_OTLP_TRACES), TEL_OK);
    char t[64];
    bool plain;
    static const struct {
        const char *ep;
        bool insecure;
        const char *target;
        bool plain;
    } cases[] = {
        {"http://localhost:4317", false, "localhost:4317", true},
        {"https://otel.example:443/", false, "otel.example:443", false},
        {"https://user:pw@otel.example:4317", true, "otel.example:4317", false},
        {"otel:4317", false, "otel:4317", false},
        {"otel:4317", true, "otel:4317", true},
        {"[::1]:4317", true, "[::1]:4317", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tel_otlp_config_set_endpoint(&c, cases[i].ep);
        c.insecure = cases[i].insecure;
        assert_int_equal(tel_otlp_grpc_target(&c, t, sizeof t, &plain), TEL_OK);
        assert_string_equal(t, cases[i].target);
        assert_true(plain == cases[i].plain);
    }
    tel_otlp_config_set_endpoint(&c, "unix:///x");
    assert_int_equal(tel_otlp_grpc_target(&c, t, sizeof t, &plain), TEL_EINVAL);
    tel_otlp_config_set_endpoint(&c, "http://a-very-long-host-name.example.com:4317");
    assert_int_equal(tel_otlp_grpc_target(&c, t, 8, &plain), TEL_ETOOBIG);
    tel_otlp_config_cleanup(&c);

    char out[128];
    tel_otlp_endpoint_for_log("https://user:secret@otel.example:4318/v1/traces?token=abc#x", out,
                              sizeof out);
    assert_string_equal(out, "https://otel.example:4318/v1/traces");
    assert_null(strstr(out, "secret"));
    tel_otlp_endpoint_for_log("otel:4317", out, sizeof out);
    assert_string_equal(out, "http://otel:4317/");
    tel_otlp_endpoint_for_log("::::", out, sizeof out);
    assert_string_equal(out, "(invalid endpoint)");
    tel_otlp_endpoint_for_log("http://host/x", out, 8);
    assert_int_equal(strlen(out), 7);
}

/* The metrics and logs signals read their own OTEL_EXPORTER_OTLP_{METRICS,LOGS}_* variables,
 * which win over the generic ones and do not leak into the other signals. */
static void test_metrics_and_logs_signals(void **state)
{
    (void)state;
    tel_otlp_config c;
    assert_int_equal(tel_otlp_config_from_env(&c, "metrics"), TEL_OK);
    assert_int_equal(c.signal, TEL_OTLP_METRICS);
    assert_string_equal(c.endpoint, "http://localhost:4318/v1/metrics");
    tel_otlp_config_cleanup(&c);
    assert_int_equal(tel_otlp_config_from_env(&c, "logs"), TEL_OK);
    assert_int_equal(c.signal, TEL_OTLP_LOGS);
    assert_string_equal(c.endpoint, "http://localhost:4318/v1/logs");
    tel_otlp_config_cleanup(&c);
    assert_int_equal(tel_otlp_config_init(&c, TEL_OTLP_LOGS), TEL_OK);
    assert_string_equal(c.endpoint, "http://localhost:4318/v1/logs");
    tel_otlp_config_cleanup(&c);

    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318/otlp", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,authorization=Basic%20abc", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "4000", 1);
    setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:9090/ingest", 1);
    setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json", 1);
    setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=metrics-team", 1);
    setenv("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1500", 1);
    setenv("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip", 1);
    setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-stream=logs", 1);

    assert_int_equal(tel_otlp_config_from_env(&c, "metrics"), TEL_OK);
    assert_string_equal(c.endpoint, "http://metrics:9090/ingest"); /* per signal: as is */
    assert_int_equal(c.protocol, TEL_OTLP_HTTP_JSON);
    assert_string_equal(header(&c, "x-tenant"), "metrics-team");
    assert_string_equal(header(&c, "authorization"), "Basic abc");
    assert_int_equal(c.timeout_ms, 1500);
    assert_false(c.gzip);
    tel_otlp_config_cleanup(&c);

    assert_int_equal(tel_otlp_config_from_env(&c, "logs"), TEL_OK);
    assert_string_equal(c.endpoint, "https://collector.example:4318/otlp/v1/logs");
    assert_int_equal(c.protocol, TEL_OTLP_HTTP_PROTOBUF);
    assert_string_equal(header(&c, "x-tenant"), "acme");
    assert_string_equal(header(&c, "x-stream"), "logs");
    assert_int_equal(c.timeout_ms, 4000);
    assert_true(c.gzip);
    tel_otlp_config_cleanup(&c);

    assert_int_equal(tel_otlp_config_from_env(&c, "traces"), TEL_OK);
    assert_string_equal(c.endpoint, "https://collector.example:4318/otlp/v1/traces");
    assert_null(header(&c, "x-stream"));
    assert_false(c.gzip);
    assert_int_equal(c.protocol, TEL_OTLP_HTTP_PROTOBUF);
    tel_otlp_config_cleanup(&c);
    assert_int_equal(tel_otlp_config_from_env(&c, "profiles"), TEL_EINVAL);
    clear_env(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_endpoints, clear_env),
        cmocka_unit_test_setup(test_protocol, clear_env),
        cmocka_unit_test_setup(test_headers, clear_env),
        cmocka_unit_test_setup(test_scalars, clear_env),
        cmocka_unit_test_setup(test_api, clear_env),
        cmocka_unit_test_setup(test_grpc_target_and_log_endpoint, clear_env),
        cmocka_unit_test_setup(test_metrics_and_logs_signals, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
