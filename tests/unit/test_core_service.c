/* core/service: --help, configuration errors and exit codes, the run loop with an HTTP server
 * on an ephemeral port (started, stopped), the tick, on_stop hooks in reverse order after the
 * servers stopped, core_service_stop from another thread, and SIGTERM handled by the run loop.
 * Telemetry is disabled (OTEL_SDK_DISABLED=true): the scaffolding, not the SDK, is under test. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/service.h"
#include "telemetry/log.h"

static const core_config_item items[] = {
    {"TEST_SVC_PORT", CORE_CFG_INT, "0", "port", 0, 65535, 0},
    {"TEST_SVC_SECRET", CORE_CFG_STRING, NULL, "a secret", 1, 64,
     CORE_CFG_SECRET | CORE_CFG_REQUIRED},
};

static const core_service_info info = {
    .name = "test-svc", .items = items, .n_items = 2, .help_extra = "Commands: none."};

static int setup(void **state)
{
    (void)state;
    setenv("OTEL_SDK_DISABLED", "true", 1);
    setenv("TEST_SVC_SECRET", "hunter2-secret", 1);
    return 0;
}

static void test_help_and_errors(void **state)
{
    (void)state;
    core_service *s = (core_service *)1;
    char *help[] = {"test-svc", "--help", NULL};
    int rc = core_service_init(&s, &info, 2, help);
    assert_int_equal(rc, CORE_SERVICE_HELP);
    assert_null(s);
    assert_int_equal(core_service_exit_code(rc), 0);

    char *bad[] = {"test-svc", "--bogus", NULL};
    rc = core_service_init(&s, &info, 2, bad);
    assert_int_equal(rc, CORE_ECONFIG);
    assert_int_equal(core_service_exit_code(rc), 2);
    assert_null(s);

    unsetenv("TEST_SVC_SECRET");
    char *plain[] = {"test-svc", NULL};
    rc = core_service_init(&s, &info, 1, plain);
    assert_int_equal(rc, CORE_ECONFIG);
    setenv("TEST_SVC_SECRET", "hunter2-secret", 1);
    setenv("TEST_SVC_PORT", "70000", 1);
    /* the log lines name the setting and never the secret */
    char path[] = "/tmp/test_core_service_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int prev = tel_log_set_output(fd);
    rc = core_service_init(&s, &info, 1, plain);
    assert_int_equal(rc, CORE_ECONFIG);
    unsetenv("TEST_SVC_PORT");
    assert_int_equal(core_service_init(&s, &info, 1, plain), 0);
    core_service_destroy(s);
    tel_log_set_output(prev);
    char buf[8192] = "";
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(path);
    assert_true(got > 0);
    assert_non_null(strstr(buf, "TEST_SVC_PORT"));
    assert_non_null(strstr(buf, "configuration error"));
    assert_non_null(strstr(buf, "TEST_SVC_SECRET=(hidden)"));
    assert_null(strstr(buf, "hunter2"));

    assert_int_equal(core_service_init(NULL, &info, 1, plain), CORE_EINVAL);
    assert_int_equal(core_service_exit_code(CORE_ENOMEM), 1);
}

typedef struct run_state {
    core_service *svc;
    core_http_server *http;
    int ticks;
    int port_seen;
    char order[8];
    int n_order;
    bool http_stopped_before_hooks;
} run_state;

static void tick(core_service *s, void *ud)
{
    run_state *r = ud;
    r->ticks++;
    if (r->ticks == 1) r->port_seen = core_http_server_port(r->http);
    if (r->ticks == 3) core_service_stop(s);
}

static void hook_a(void *ud)
{
    run_state *r = ud;
    r->order[r->n_order++] = 'a';
    /* a stopped server reports no port */
    r->http_stopped_before_hooks = core_http_server_port(r->http) == 0;
}

static void hook_b(void *ud)
{
    run_state *r = ud;
    r->order[r->n_order++] = 'b';
}

static void hook_count(void *ud)
{
    (*(int *)ud)++;
}

static void test_run_tick_hooks(void **state)
{
    (void)state;
    run_state r = {0};
    char *argv[] = {"test-svc", NULL};
    assert_int_equal(core_service_init(&r.svc, &info, 1, argv), 0);
    assert_string_equal(core_service_name(r.svc), "test-svc");
    const core_config *cfg = core_service_config(r.svc);
    assert_string_equal(core_config_str(cfg, "TEST_SVC_SECRET"), "hunter2-secret");

    core_http_server_config hc;
    core_service_http_defaults(r.svc, &hc);
    hc.port = (int)core_config_int(cfg, "TEST_SVC_PORT");
    r.http = core_http_server_create(&hc);
    assert_non_null(r.http);
    assert_int_equal(core_service_add_http(r.svc, r.http, "api"), 0);
    assert_int_equal(core_service_add_http(r.svc, NULL, "x"), CORE_EINVAL);
    assert_int_equal(core_service_on_stop(r.svc, hook_a, &r), 0);
    assert_int_equal(core_service_on_stop(r.svc, hook_b, &r), 0);
    assert_int_equal(core_service_set_tick(r.svc, 5, tick, &r), CORE_EINVAL);
    assert_int_equal(core_service_set_tick(r.svc, 20, tick, &r), 0);

    assert_int_equal(core_service_run(r.svc), 0);
    assert_int_equal(r.ticks, 3);
    assert_true(r.port_seen > 0);
    assert_true(core_service_stopping(r.svc));
    assert_int_equal(r.n_order, 2);
    assert_memory_equal(r.order, "ba", 2); /* reverse registration order */
    assert_true(r.http_stopped_before_hooks);
    assert_int_equal(core_service_run(r.svc), CORE_ESTATE);
    assert_int_equal(core_service_add_http(r.svc, r.http, "again"), CORE_ESTATE);
    core_service_destroy(r.svc); /* destroys the server; hooks do not run twice */
    assert_int_equal(r.n_order, 2);
}

static void *send_sigterm(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 150 * 1000000L};
    nanosleep(&ts, NULL);
    kill(getpid(), SIGTERM);
    return NULL;
}

static void *request_stop(void *arg)
{
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    core_service_stop(arg);
    return NULL;
}

static void test_sigterm(void **state)
{
    (void)state;
    core_service *s = NULL;
    char *argv[] = {"test-svc", NULL};
    assert_int_equal(core_service_init(&s, &info, 1, argv), 0);
    pthread_t t;
    pthread_create(&t, NULL, send_sigterm, NULL);
    /* SIGTERM is blocked in every thread and taken by the run loop: the process survives */
    assert_int_equal(core_service_run(s), 0);
    pthread_join(t, NULL);
    assert_true(core_service_stopping(s));
    core_service_destroy(s);
}

static void test_stop_from_thread(void **state)
{
    (void)state;
    core_service *s = NULL;
    char *argv[] = {"test-svc", NULL};
    assert_int_equal(core_service_init(&s, &info, 1, argv), 0);
    pthread_t t;
    pthread_create(&t, NULL, request_stop, s);
    assert_int_equal(core_service_run(s), 0);
    pthread_join(t, NULL);
    core_service_destroy(s);
    /* stop before run: run returns at once */
    assert_int_equal(core_service_init(&s, &info, 1, argv), 0);
    core_service_stop(s);
    assert_int_equal(core_service_run(s), 0);
    core_service_destroy(s);
    core_service_destroy(NULL);
}

static void test_start_failure(void **state)
{
    (void)state;
    core_service *s = NULL;
    char *argv[] = {"test-svc", NULL};
    assert_int_equal(core_service_init(&s, &info, 1, argv), 0);
    /* a gRPC server on a port an HTTP server holds cannot bind (a clash between two HTTP
     * servers would do too, but libwebsockets 4.1.6 leaks when its context fails) */
    core_http_server_config hc;
    core_service_http_defaults(s, &hc);
    core_http_server *a = core_http_server_create(&hc);
    assert_int_equal(core_http_server_start(a), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", core_http_server_port(a));
    core_grpc_server *g = core_grpc_server_create(&(core_grpc_server_config){.address = addr});
    assert_non_null(g);
    assert_int_equal(core_service_add_grpc(s, g, "clash"), 0);
    int order = 0;
    assert_int_equal(core_service_on_stop(s, hook_count, &order), 0);
    assert_int_equal(core_service_run(s), CORE_EIO);
    assert_int_equal(order, 1); /* hooks run after a failed start too */
    core_service_destroy(s);
    assert_int_equal(order, 1);
    core_http_server_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_errors), cmocka_unit_test(test_run_tick_hooks),
        cmocka_unit_test(test_sigterm),         cmocka_unit_test(test_stop_from_thread),
        cmocka_unit_test(test_start_failure),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
