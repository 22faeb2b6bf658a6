/* The Redfish driver against the Redfish simulator (tests/peers/redfish_sim), loopback only.
 *
 * Each scenario starts its own simulator on a free port and stops it (also on failure). Every
 * scenario checks the spans it produced, and that neither the password nor any session token the
 * simulator issued appears in any exported span (attributes, events, status) or in anything the
 * process wrote to stderr (log lines).
 *
 * Usage: test_agt_redfish [scenario-name-pattern] (cmocka test filter; ctest runs one each). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "agent/bmc.h"
#include "redfish_sim/sim_launch.h"
#include "telemetry/propagation.h"
#include "test_tracing.h"

#define USER "admin"
#define PASS "s3cr3t-Pa55word!"
#define MS (1000000ull)

typedef struct fx {
    test_tracing tt;
    rf_sim sim;
    tel_span *root;
    tel_context ctx;
    uint8_t root_span_id[8];
    uint8_t trace_id[16];
    int saved_stderr;
    char logpath[64];
    char tmpdir[64];
} fx;

/* ---- fixture: tracing into memory, stderr captured to a file ---- */

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    test_tracing_init(&f->tt, TEL_SAMPLER_ALWAYS_ON, 1.0, NULL);
    f->root = test_root_context(f->tt.tracer, "test.caller", "server_id", "srv-42", &f->ctx);
    tel_span_context sc = tel_span_get_context(f->root);
    memcpy(f->root_span_id, sc.span_id, 8);
    memcpy(f->trace_id, sc.trace_id, 16);
    f->sim.pid = 0;
    snprintf(f->logpath, sizeof f->logpath, "/tmp/agt_redfish_stderr.XXXXXX");
    int fd = mkstemp(f->logpath);
    fflush(stderr);
    f->saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
    *state = f;
    return 0;
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return strdup("");
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)n + 1);
    if (n > 0 && fread(buf, 1, (size_t)n, fp) != (size_t)n) buf[0] = '\0';
    fclose(fp);
    return buf;
}

static int teardown(void **state)
{
    fx *f = *state;
    rf_sim_stop(&f->sim);
    fflush(stderr);
    dup2(f->saved_stderr, 2);
    close(f->saved_stderr);
    char *captured = read_file(f->logpath);
    if (captured[0]) fprintf(stderr, "--- captured stderr ---\n%s--- end ---\n", captured);
    free(captured);
    unlink(f->logpath);
    if (f->tmpdir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", f->tmpdir);
    }
    if (f->root->recording) tel_span_end(f->root);
    tel_context_cleanup(&f->ctx);
    test_tracing_cleanup(&f->tt);
    free(f);
    return 0;
}

static void start_sim(fx *f, const char *const *args)
{
    assert_int_equal(rf_sim_start(&f->sim, args), 0);
}

static agt_bmc *make_bmc(fx *f, const char *scheme, const char *pass, agt_bmc_options *o)
{
    char ep[128];
    snprintf(ep, sizeof ep, "%s://127.0.0.1:%d", scheme, f->sim.port);
    agt_bmc_options local = {0};
    if (!o) o = &local;
    o->tracer = f->tt.tracer;
    agt_result err;
    agt_bmc *b = agt_bmc_create(ep, USER, pass, o, &err);
    assert_non_null(b);
    assert_string_equal(agt_bmc_type(b), "redfish");
    return b;
}

static uint64_t in_ms(uint64_t ms)
{
    return tel_mono_ns() + ms * MS;
}

/* ---- span helpers ---- */

static size_t count_spans(fx *f, const char *name)
{
    return test_span_count(f->tt.mem, name);
}

static const tel_span_data *nth_span(fx *f, const char *name, size_t nth)
{
    return test_span_nth(f->tt.mem, name, nth);
}

static const tel_span_data *span_by_id(fx *f, const uint8_t id[8])
{
    for (size_t i = 0; i < tel_memory_exporter_count(f->tt.mem); i++) {
        const tel_span_data *d = tel_memory_exporter_span(f->tt.mem, i);
        if (memcmp(d->sc.span_id, id, 8) == 0) return d;
    }
    return NULL;
}

static const char *attr_str(const tel_span_data *d, const char *key)
{
    return test_attr_str(d, key);
}

static int64_t attr_int(const tel_span_data *d, const char *key)
{
    return test_attr_int(d, key, -1);
}

/* Every Redfish span: CLIENT, child of the caller's span, HTTP client conventions. */
static void check_http_spans(fx *f)
{
    size_t n = 0;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "http://127.0.0.1:%d/", f->sim.port);
    for (size_t i = 0; i < tel_memory_exporter_count(f->tt.mem); i++) {
        const tel_span_data *d = tel_memory_exporter_span(f->tt.mem, i);
        if (strncmp(d->name, "redfish.", 8) != 0) continue;
        n++;
        assert_int_equal(d->kind, TEL_SPAN_KIND_CLIENT);
        if (strcmp(d->name, "redfish.session.delete") != 0) { /* destroy: no caller context */
            assert_memory_equal(d->sc.trace_id, f->trace_id, 16);
            assert_memory_equal(d->parent_span_id, f->root_span_id, 8);
        } else {
            assert_false(d->has_parent);
        }
        assert_non_null(attr_str(d, "http.request.method"));
        const char *url = attr_str(d, "url.full");
        assert_non_null(url);
        assert_true(strncmp(url, prefix, strlen(prefix)) == 0 ||
                    strncmp(url, "https://127.0.0.1:", 18) == 0);
        assert_null(strchr(url, '@'));
        assert_string_equal(attr_str(d, "server.address"), "127.0.0.1");
        assert_int_equal(attr_int(d, "server.port"), f->sim.port);
        assert_string_equal(attr_str(d, "bmc.type"), "redfish");
        assert_string_equal(attr_str(d, "bmc.address"), "127.0.0.1");
        if (strcmp(d->name, "redfish.session.delete") != 0) /* baggage of the caller */
            assert_string_equal(attr_str(d, "server_id"), "srv-42");
        if (d->status == TEL_STATUS_ERROR) {
            assert_non_null(d->status_msg);
            assert_non_null(attr_str(d, "error.type"));
        }
    }
    assert_true(n > 0);
}

/* The simulator received a traceparent on every Redfish request, continuing our trace, whose
 * parent is the span of that very request; and our baggage. */
static void check_propagation(fx *f, json_t *log)
{
    json_t *reqs = json_object_get(log, "requests");
    assert_true(json_array_size(reqs) > 0);
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        const char *tp = json_string_value(json_object_get(r, "traceparent"));
        const char *path = json_string_value(json_object_get(r, "path"));
        assert_non_null(tp);
        tel_span_context sc;
        assert_int_equal(tel_traceparent_parse(tp, strlen(tp), &sc), TEL_OK);
        const tel_span_data *d = span_by_id(f, sc.span_id);
        assert_non_null(d);
        bool logout = strcmp(d->name, "redfish.session.delete") == 0;
        if (!logout) /* the logout at destroy starts its own trace */
            assert_memory_equal(sc.trace_id, f->trace_id, 16);
        assert_memory_equal(sc.trace_id, d->sc.trace_id, 16);
        assert_true(strncmp(d->name, "redfish.", 8) == 0);
        const char *url = attr_str(d, "url.full");
        assert_non_null(url);
        size_t ul = strlen(url), pl = strlen(path);
        assert_true(ul >= pl && strcmp(url + ul - pl, path) == 0);
        assert_string_equal(attr_str(d, "http.request.method"),
                            json_string_value(json_object_get(r, "method")));
        const char *bag = json_string_value(json_object_get(r, "baggage"));
        if (!logout) {
            assert_non_null(bag);
            assert_non_null(strstr(bag, "server_id=srv-42"));
        }
    }
}

static bool contains(const char *hay, const char *needle)
{
    return hay && needle && needle[0] && strstr(hay, needle) != NULL;
}

static void assert_clean_attr(const tel_attr *a, const char *const *secrets, size_t n)
{
    for (size_t s = 0; s < n; s++) {
        if (a->type == TEL_ATTR_STRING) assert_false(contains(a->v.s, secrets[s]));
        if (a->type == TEL_ATTR_STRING_ARRAY)
            for (uint32_t k = 0; k < a->len; k++)
                assert_false(contains(((const char *const *)a->v.arr)[k], secrets[s]));
    }
}

/* Neither the password(s) nor any issued token appears in spans or on stderr. */
static void check_no_secrets(fx *f, json_t *log, const char *extra_secret)
{
    const char *secrets[64];
    size_t n = 0;
    secrets[n++] = PASS;
    if (extra_secret) secrets[n++] = extra_secret;
    json_t *toks = json_object_get(log, "tokens_issued");
    size_t i;
    json_t *t;
    json_array_foreach(toks, i, t)
    {
        if (n < 64) secrets[n++] = json_string_value(t);
    }
    for (i = 0; i < tel_memory_exporter_count(f->tt.mem); i++) {
        const tel_span_data *d = tel_memory_exporter_span(f->tt.mem, i);
        for (size_t s = 0; s < n; s++) {
            assert_false(contains(d->name, secrets[s]));
            assert_false(contains(d->status_msg, secrets[s]));
        }
        for (uint32_t k = 0; k < tel_span_data_attr_count(d); k++)
            assert_clean_attr(tel_span_data_attr(d, k), secrets, n);
        for (uint32_t e = 0; e < tel_span_data_event_count(d); e++) {
            const tel_event *ev = &d->extra->events[e];
            for (uint32_t k = 0; k < ev->n_attrs; k++)
                assert_clean_attr(&ev->attrs[k], secrets, n);
        }
    }
    fflush(stderr);
    char *captured = read_file(f->logpath);
    for (size_t s = 0; s < n; s++)
        assert_false(contains(captured, secrets[s]));
    free(captured);
}

static size_t count_resets(json_t *log, const char *type)
{
    size_t n = 0, i;
    json_t *r;
    json_array_foreach(json_object_get(log, "resets"), i, r)
    {
        if (!type || strcmp(json_string_value(json_object_get(r, "type")), type) == 0) n++;
    }
    return n;
}

static size_t count_requests(json_t *log, const char *method, const char *auth)
{
    size_t n = 0, i;
    json_t *r;
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        if ((!method || strcmp(json_string_value(json_object_get(r, "method")), method) == 0) &&
            (!auth || strcmp(json_string_value(json_object_get(r, "auth")), auth) == 0))
            n++;
    }
    return n;
}

static void end_root(fx *f)
{
    tel_span_end(f->root);
    f->root = &tel__noop_span; /* teardown must not end it again */
}

/* ---- scenarios ---- */

static void power(agt_bmc *b, fx *f, agt_power_action a, agt_power_state want)
{
    agt_result res;
    agt_power_state st = AGT_POWER_UNKNOWN;
    int rc = agt_bmc_power(b, &f->ctx, in_ms(5000), a, &st, &res);
    if (rc != AGT_OK)
        fail_msg("power %s: %s (%s)", agt_power_action_name(a), agt_strerror(rc), res.message);
    assert_int_equal(st, want);
}

static void test_all_operations(void **state)
{
    fx *f = *state;
    const char *args[] = {"--user", USER, "--password", PASS, NULL};
    start_sim(f, args);
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    assert_string_equal(agt_bmc_host(b), "127.0.0.1");

    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_ON);
    power(b, f, AGT_POWER_OFF, AGT_POWER_IS_OFF);
    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_OFF);
    power(b, f, AGT_POWER_ON, AGT_POWER_IS_ON);
    power(b, f, AGT_POWER_SOFT, AGT_POWER_IS_OFF);
    power(b, f, AGT_POWER_CYCLE, AGT_POWER_IS_ON);
    power(b, f, AGT_POWER_RESET, AGT_POWER_IS_ON);

    agt_identity id;
    agt_result res;
    assert_int_equal(agt_bmc_identity(b, &f->ctx, in_ms(5000), &id, &res), AGT_OK);
    assert_string_equal(id.manufacturer, "Contoso");
    assert_string_equal(id.model, "Sim-1000");
    assert_string_equal(id.serial, "SN-0001");
    assert_string_equal(id.firmware, "1.2.3-sim");
    assert_string_equal(id.guid, "38947555-7742-3448-3784-823493400001");

    agt_sensor s[16];
    size_t n = 0;
    assert_int_equal(agt_bmc_sensors(b, &f->ctx, in_ms(5000), s, 16, &n, &res), AGT_OK);
    assert_int_equal(n, 4);
    assert_string_equal(s[0].name, "CPU1 Temp");
    assert_int_equal(s[0].kind, AGT_SENSOR_TEMPERATURE);
    assert_true(s[0].value == 45.5);
    assert_string_equal(s[2].name, "Fan1");
    assert_int_equal(s[2].kind, AGT_SENSOR_FAN);
    assert_string_equal(s[3].name, "System Power");
    assert_true(s[3].value == 212);
    /* cap respected */
    n = 0;
    assert_int_equal(agt_bmc_sensors(b, &f->ctx, in_ms(5000), s, 1, &n, &res), AGT_OK);
    assert_int_equal(n, 1);

    agt_bmc_destroy(b);
    end_root(f);

    json_t *log = rf_sim_log(&f->sim);
    assert_non_null(log);
    /* Exactly the ResetTypes our mapping chose, all from the full list. */
    const char *want[] = {"ForceOff", "On", "GracefulShutdown", "PowerCycle", "ForceRestart"};
    json_t *resets = json_object_get(log, "resets");
    assert_int_equal(json_array_size(resets), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(resets, i), "type")),
                            want[i]);
    /* One session, used for everything, deleted on destroy. */
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_created")), 1);
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_deleted")), 1);
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_active")), 0);
    assert_int_equal(count_requests(log, NULL, "basic"), 0);
    assert_int_equal(count_requests(log, NULL, "bad-token"), 0);
    assert_int_equal(count_requests(log, "DELETE", "token"), 1);
    /* One TCP connection for everything: the handle reuses its connection. */
    json_t *reqs = json_object_get(log, "requests");
    json_int_t port0 = json_integer_value(json_object_get(json_array_get(reqs, 0), "client_port"));
    size_t ri;
    json_t *r;
    json_array_foreach(reqs, ri, r)
    {
        assert_int_equal(json_integer_value(json_object_get(r, "client_port")), port0);
    }

    /* Spans. */
    check_http_spans(f);
    assert_int_equal(count_spans(f, "redfish.get_service_root"), 1); /* cached */
    assert_int_equal(count_spans(f, "redfish.session.create"), 1);
    assert_int_equal(count_spans(f, "redfish.session.delete"), 1);
    assert_int_equal(count_spans(f, "redfish.get_systems"), 1);
    assert_int_equal(count_spans(f, "redfish.reset"), 5);
    assert_true(count_spans(f, "redfish.get_system") >= 12);
    assert_int_equal(count_spans(f, "redfish.get_manager"), 1);
    assert_int_equal(count_spans(f, "redfish.get_thermal"), 2);
    assert_int_equal(count_spans(f, "redfish.get_power"), 1); /* cap reached after thermal */
    const tel_span_data *d = nth_span(f, "redfish.reset", 0);
    assert_string_equal(attr_str(d, "http.request.method"), "POST");
    assert_string_equal(attr_str(d, "redfish.reset_type"), "ForceOff");
    assert_int_equal(attr_int(d, "http.response.status_code"), 204);
    assert_int_equal(d->status, TEL_STATUS_UNSET);
    d = nth_span(f, "redfish.session.create", 0);
    assert_int_equal(attr_int(d, "http.response.status_code"), 201);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redfish/v1/SessionService/Sessions",
             f->sim.port);
    assert_string_equal(attr_str(d, "url.full"), url);
    d = nth_span(f, "redfish.get_system", 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redfish/v1/Systems/1", f->sim.port);
    assert_string_equal(attr_str(d, "url.full"), url);
    assert_string_equal(attr_str(d, "http.request.method"), "GET");
    assert_int_equal(attr_int(d, "http.response.status_code"), 200);

    check_propagation(f, log);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

static void quirk_scenario(fx *f, const char *const *args, bool action_info)
{
    start_sim(f, args);
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    power(b, f, AGT_POWER_OFF, AGT_POWER_IS_OFF);
    power(b, f, AGT_POWER_ON, AGT_POWER_IS_ON);
    power(b, f, AGT_POWER_CYCLE, AGT_POWER_IS_ON); /* ForceRestart, as PowerCycle is not listed */
    power(b, f, AGT_POWER_RESET, AGT_POWER_IS_ON);
    agt_result res;
    agt_power_state st;
    uint64_t t0 = tel_mono_ns();
    assert_int_equal(agt_bmc_power(b, &f->ctx, in_ms(5000), AGT_POWER_SOFT, &st, &res),
                     AGT_EUNSUPPORTED);
    assert_int_equal(res.code, AGT_EUNSUPPORTED);
    assert_true(tel_mono_ns() - t0 < 2000 * MS);
    assert_non_null(strstr(res.message, "On, ForceOff, ForceRestart"));
    agt_bmc_destroy(b);
    end_root(f);

    json_t *log = rf_sim_log(&f->sim);
    assert_non_null(log);
    /* Only listed types were ever posted (the simulator would have answered 400 otherwise). */
    assert_int_equal(count_resets(log, NULL), 4);
    assert_int_equal(count_resets(log, "ForceOff") + count_resets(log, "On") +
                         count_resets(log, "ForceRestart"),
                     4);
    assert_int_equal(count_resets(log, "ForceRestart"), 2);
    assert_int_equal(count_resets(log, "GracefulShutdown"), 0);
    assert_int_equal(count_resets(log, "PowerCycle"), 0);
    check_http_spans(f);
    assert_int_equal(count_spans(f, "redfish.reset"), 4);
    assert_string_equal(attr_str(nth_span(f, "redfish.reset", 2), "redfish.reset_type"),
                        "ForceRestart");
    assert_int_equal(count_spans(f, "redfish.get_action_info"), action_info ? 5 : 0);
    check_propagation(f, log);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

static void test_quirk_allowable_values(void **state)
{
    const char *args[] = {"--user", USER, "--password", PASS, "--quirk", NULL};
    quirk_scenario(*state, args, false);
}

static void test_quirk_action_info(void **state)
{
    const char *args[] = {"--user", USER, "--password", PASS, "--quirk", "--action-info", NULL};
    quirk_scenario(*state, args, true);
}

static void wrong_password_scenario(fx *f, bool basic_only)
{
    const char *args[] = {"--user", USER, "--password", PASS, NULL};
    start_sim(f, args);
    agt_bmc_options o = {.basic_auth_only = basic_only};
    const char *wrong = "Wr0ng-Guess-99";
    agt_bmc *b = make_bmc(f, "redfish", wrong, &o);
    agt_result res;
    agt_power_state st;
    uint64_t t0 = tel_mono_ns();
    int rc = agt_bmc_power(b, &f->ctx, in_ms(10000), AGT_POWER_STATUS, &st, &res);
    uint64_t took = tel_mono_ns() - t0;
    assert_int_equal(rc, AGT_EAUTH);
    assert_int_equal(res.bmc_code, 401);
    assert_true(took < 2000 * MS); /* an answer, not a timeout */
    assert_null(strstr(res.message, wrong));
    assert_null(strstr(res.message, PASS));
    /* The identity fails the same way. */
    agt_identity id;
    assert_int_equal(agt_bmc_identity(b, &f->ctx, in_ms(10000), &id, &res), AGT_EAUTH);
    agt_bmc_destroy(b);
    end_root(f);

    json_t *log = rf_sim_log(&f->sim);
    const char *failed = basic_only ? "redfish.get_systems" : "redfish.session.create";
    const tel_span_data *d = nth_span(f, failed, 0);
    assert_non_null(d);
    assert_int_equal(d->status, TEL_STATUS_ERROR);
    assert_int_equal(attr_int(d, "http.response.status_code"), 401);
    assert_string_equal(attr_str(d, "error.type"), "401");
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_created")), 0);
    if (basic_only) assert_int_equal(count_requests(log, "POST", NULL), 0);
    check_http_spans(f);
    check_propagation(f, log);
    check_no_secrets(f, log, wrong);
    json_decref(log);
}

static void test_wrong_password_session(void **state)
{
    wrong_password_scenario(*state, false);
}

static void test_wrong_password_basic(void **state)
{
    wrong_password_scenario(*state, true);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void test_unreachable(void **state)
{
    fx *f = *state;
    f->sim.port = free_port(); /* nothing listens there */
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    agt_result res;
    agt_power_state st;
    uint64_t t0 = tel_mono_ns();
    int rc = agt_bmc_power(b, &f->ctx, in_ms(3000), AGT_POWER_STATUS, &st, &res);
    uint64_t took = tel_mono_ns() - t0;
    assert_int_equal(rc, AGT_EUNREACHABLE);
    assert_true(took < 1000 * MS);
    assert_int_equal(st, AGT_POWER_UNKNOWN);
    agt_bmc_destroy(b);
    end_root(f);
    const tel_span_data *d = nth_span(f, "redfish.get_service_root", 0);
    assert_non_null(d);
    assert_int_equal(d->status, TEL_STATUS_ERROR);
    assert_string_equal(attr_str(d, "error.type"), "connection_refused");
    assert_int_equal(attr_int(d, "http.response.status_code"), -1);
    check_http_spans(f);
    json_t *empty = json_object();
    check_no_secrets(f, empty, NULL);
    json_decref(empty);
}

static void test_deadline(void **state)
{
    fx *f = *state;
    const char *args[] = {"--user", USER, "--password", PASS, "--latency-ms", "1500", NULL};
    start_sim(f, args);
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    agt_result res;
    agt_power_state st;
    uint64_t t0 = tel_mono_ns();
    int rc = agt_bmc_power(b, &f->ctx, in_ms(400), AGT_POWER_STATUS, &st, &res);
    uint64_t took = tel_mono_ns() - t0;
    assert_int_equal(rc, AGT_ETIMEOUT);
    assert_true(took >= 390 * MS);
    assert_true(took < 700 * MS);
    /* An already-passed deadline fails before any traffic. */
    assert_int_equal(agt_bmc_power(b, &f->ctx, tel_mono_ns() - 1, AGT_POWER_STATUS, &st, &res),
                     AGT_ETIMEOUT);
    rf_sim_config(&f->sim, "{\"latency_ms\": 0}");
    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_ON); /* recovers on the same handle */
    agt_bmc_destroy(b);
    end_root(f);
    const tel_span_data *d = nth_span(f, "redfish.get_service_root", 0);
    assert_int_equal(d->status, TEL_STATUS_ERROR);
    assert_string_equal(attr_str(d, "error.type"), "timeout");
    check_http_spans(f);
    json_t *log = rf_sim_log(&f->sim);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

static void test_retry_503(void **state)
{
    fx *f = *state;
    const char *args[] = {"--user",        USER, "--password", PASS, "--fail-503", "2",
                          "--retry-after", "1",  NULL};
    start_sim(f, args);
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    uint64_t t0 = tel_mono_ns();
    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_ON);
    uint64_t took = tel_mono_ns() - t0;
    assert_true(took >= 1900 * MS); /* Retry-After: 1 honoured twice */
    assert_true(took < 4000 * MS);
    agt_bmc_destroy(b);
    end_root(f);

    const tel_span_data *d = nth_span(f, "redfish.get_service_root", 0);
    assert_int_equal(d->status, TEL_STATUS_UNSET);
    assert_int_equal(attr_int(d, "http.response.status_code"), 200);
    assert_int_equal(attr_int(d, "http.request.resend_count"), 2);
    assert_int_equal(tel_span_data_event_count(d), 2);
    for (uint32_t e = 0; e < 2; e++) {
        const tel_event *ev = &d->extra->events[e];
        assert_string_equal(ev->name, "retry");
        int64_t attempt = -1, status = -1, after = -1;
        const char *reason = NULL;
        for (uint32_t k = 0; k < ev->n_attrs; k++) {
            const tel_attr *a = &ev->attrs[k];
            if (strcmp(a->key, "retry.attempt") == 0)
                attempt = a->v.i;
            else if (strcmp(a->key, "http.response.status_code") == 0)
                status = a->v.i;
            else if (strcmp(a->key, "http.retry_after_s") == 0)
                after = a->v.i;
            else if (strcmp(a->key, "retry.reason") == 0)
                reason = a->v.s;
        }
        assert_int_equal(attempt, e + 2);
        assert_int_equal(status, 503);
        assert_int_equal(after, 1);
        assert_string_equal(reason, "http_503");
    }
    json_t *log = rf_sim_log(&f->sim);
    /* The retried requests carried the same traceparent: one span, three attempts. */
    json_t *reqs = json_object_get(log, "requests");
    assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 0), "traceparent")),
                        json_string_value(json_object_get(json_array_get(reqs, 2), "traceparent")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")), 503);
    check_http_spans(f);
    check_propagation(f, log);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

static void test_retry_after_past_deadline(void **state)
{
    fx *f = *state;
    const char *args[] = {"--user",        USER, "--password", PASS, "--fail-503", "1",
                          "--retry-after", "30", NULL};
    start_sim(f, args);
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    agt_result res;
    agt_power_state st;
    uint64_t t0 = tel_mono_ns();
    int rc = agt_bmc_power(b, &f->ctx, in_ms(2000), AGT_POWER_STATUS, &st, &res);
    assert_int_equal(rc, AGT_ETIMEOUT);
    assert_int_equal(res.bmc_code, 503);
    assert_true(tel_mono_ns() - t0 < 1000 * MS); /* gives up at once instead of sleeping */
    agt_bmc_destroy(b);
    end_root(f);
    const tel_span_data *d = nth_span(f, "redfish.get_service_root", 0);
    assert_int_equal(d->status, TEL_STATUS_ERROR);
    assert_int_equal(attr_int(d, "http.response.status_code"), 503);
    check_http_spans(f);
    json_t *log = rf_sim_log(&f->sim);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

static void test_connection_reset(void **state)
{
    fx *f = *state;
    const char *args[] = {"--user", USER, "--password", PASS, "--reset-conns", "1", NULL};
    start_sim(f, args);
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_ON);
    agt_bmc_destroy(b);
    end_root(f);
    const tel_span_data *d = nth_span(f, "redfish.get_service_root", 0);
    assert_int_equal(d->status, TEL_STATUS_UNSET);
    assert_int_equal(tel_span_data_event_count(d), 1);
    const tel_event *ev = &d->extra->events[0];
    assert_string_equal(ev->name, "retry");
    bool reason_ok = false;
    for (uint32_t k = 0; k < ev->n_attrs; k++)
        if (strcmp(ev->attrs[k].key, "retry.reason") == 0)
            reason_ok = strcmp(ev->attrs[k].v.s, "connection_reset") == 0;
    assert_true(reason_ok);
    check_http_spans(f);
    json_t *log = rf_sim_log(&f->sim);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

static void test_basic_fallback(void **state)
{
    fx *f = *state;
    const char *args[] = {"--user", USER, "--password", PASS, "--no-sessions", NULL};
    start_sim(f, args);
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_ON);
    power(b, f, AGT_POWER_OFF, AGT_POWER_IS_OFF);
    agt_bmc_destroy(b);
    end_root(f);
    json_t *log = rf_sim_log(&f->sim);
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_created")), 0);
    assert_int_equal(count_requests(log, NULL, "token"), 0);
    assert_true(count_requests(log, NULL, "basic") >= 4);
    assert_int_equal(count_requests(log, NULL, "bad-basic"), 0);
    assert_int_equal(count_spans(f, "redfish.session.create"), 0); /* no SessionService */
    assert_int_equal(count_spans(f, "redfish.session.delete"), 0);
    check_http_spans(f);
    check_propagation(f, log);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

static void test_basic_only(void **state)
{
    fx *f = *state;
    const char *args[] = {"--user", USER, "--password", PASS, NULL};
    start_sim(f, args);
    agt_bmc_options o = {.basic_auth_only = true};
    agt_bmc *b = make_bmc(f, "redfish", PASS, &o);
    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_ON);
    agt_bmc_destroy(b);
    end_root(f);
    json_t *log = rf_sim_log(&f->sim);
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_created")), 0);
    assert_int_equal(count_requests(log, "POST", NULL), 0);
    assert_int_equal(count_requests(log, NULL, "basic"), 3); /* root, Systems, Systems/1 */
    check_http_spans(f);
    check_propagation(f, log);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

static void test_session_expiry(void **state)
{
    fx *f = *state;
    const char *args[] = {"--user", USER, "--password", PASS, NULL};
    start_sim(f, args);
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_ON);
    assert_int_equal(rf_sim_request(&f->sim, "POST", "/_test/drop_sessions", NULL, NULL), 204);
    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_ON); /* 401, log in again, succeed */
    agt_bmc_destroy(b);
    end_root(f);
    json_t *log = rf_sim_log(&f->sim);
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_created")), 2);
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_deleted")), 1);
    assert_int_equal(count_requests(log, NULL, "bad-token"), 1);
    assert_int_equal(count_spans(f, "redfish.session.create"), 2);
    check_http_spans(f);
    check_propagation(f, log);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

static void test_sensors_collection(void **state)
{
    fx *f = *state;
    const char *args[] = {"--user", USER, "--password", PASS, "--sensors-mode", "sensors", NULL};
    start_sim(f, args);
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    agt_sensor s[16];
    size_t n = 0;
    agt_result res;
    assert_int_equal(agt_bmc_sensors(b, &f->ctx, in_ms(5000), s, 16, &n, &res), AGT_OK);
    assert_int_equal(n, 4); /* the voltage sensor is not one of our kinds */
    assert_string_equal(s[0].name, "CPU1 Temp");
    assert_string_equal(s[2].name, "Fan1");
    assert_int_equal(s[2].kind, AGT_SENSOR_FAN);
    assert_int_equal(s[3].kind, AGT_SENSOR_POWER);
    agt_bmc_destroy(b);
    end_root(f);
    assert_int_equal(count_spans(f, "redfish.get_sensors"), 1);
    assert_int_equal(count_spans(f, "redfish.get_sensor"), 5);
    assert_int_equal(count_spans(f, "redfish.get_thermal"), 0);
    check_http_spans(f);
    json_t *log = rf_sim_log(&f->sim);
    check_propagation(f, log);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

static void test_tls(void **state)
{
    fx *f = *state;
    snprintf(f->tmpdir, sizeof f->tmpdir, "/tmp/agt_redfish_tls.XXXXXX");
    assert_non_null(mkdtemp(f->tmpdir));
    char cmd[256], cert[96], key[96], ca[96];
    snprintf(cmd, sizeof cmd, "%s '%s'", BMC_REDFISH_CERTS, f->tmpdir);
    assert_int_equal(system(cmd), 0);
    snprintf(cert, sizeof cert, "%s/server.pem", f->tmpdir);
    snprintf(key, sizeof key, "%s/server.key", f->tmpdir);
    snprintf(ca, sizeof ca, "%s/ca.pem", f->tmpdir);
    const char *args[] = {"--user", USER,        "--password", PASS, "--tls-cert",
                          cert,     "--tls-key", key,          NULL};
    f->sim.tls = true;
    start_sim(f, args);

    /* Verified against the given CA. */
    agt_bmc_options o = {.tls_ca_file = ca};
    agt_bmc *b = make_bmc(f, "redfish+https", PASS, &o);
    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_ON);
    power(b, f, AGT_POWER_OFF, AGT_POWER_IS_OFF);
    agt_bmc_destroy(b);

    /* Default trust store: our test CA is not in it, so the handshake fails (no credentials
     * are sent). */
    b = make_bmc(f, "redfish+https", PASS, NULL);
    agt_result res;
    agt_power_state st;
    uint64_t t0 = tel_mono_ns();
    int rc = agt_bmc_power(b, &f->ctx, in_ms(20000), AGT_POWER_STATUS, &st, &res);
    uint64_t took = tel_mono_ns() - t0;
    agt_bmc_destroy(b);
    assert_int_equal(rc, AGT_EPROTO);
    /* A verdict, not a wait for the deadline (loading the system CA store takes ~2 s under
     * valgrind, hence the loose bound). */
    assert_true(took < 10000 * MS);
    assert_non_null(strstr(res.message, "TLS"));

    /* Verification off: works, with one warning per handle. */
    agt_bmc_options ins = {.tls_insecure = true};
    b = make_bmc(f, "redfish+https", PASS, &ins);
    power(b, f, AGT_POWER_STATUS, AGT_POWER_IS_OFF);
    power(b, f, AGT_POWER_ON, AGT_POWER_IS_ON);
    agt_bmc_destroy(b);
    end_root(f);

    fflush(stderr);
    char *captured = read_file(f->logpath);
    const char *w = "TLS certificate verification is disabled";
    char *first = strstr(captured, w);
    assert_non_null(first);
    assert_null(strstr(first + 1, w));
    assert_non_null(strstr(captured, "\"level\":\"warn\""));
    free(captured);

    const tel_span_data *d = NULL;
    bool saw_tls_error = false;
    for (size_t i = 0; i < tel_memory_exporter_count(f->tt.mem); i++) {
        d = tel_memory_exporter_span(f->tt.mem, i);
        const char *et = attr_str(d, "error.type");
        if (et && strcmp(et, "tls") == 0) saw_tls_error = d->status == TEL_STATUS_ERROR;
    }
    assert_true(saw_tls_error);
    d = nth_span(f, "redfish.get_system", 0);
    char url[96];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/redfish/v1/Systems/1", f->sim.port);
    assert_string_equal(attr_str(d, "url.full"), url);
    check_http_spans(f);
    json_t *log = rf_sim_log(&f->sim);
    assert_non_null(log);
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_created")), 2);
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_deleted")), 2);
    check_propagation(f, log);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

typedef struct par_arg {
    agt_bmc *b;
    fx *f;
    int ok;
} par_arg;

static void *par_worker(void *p)
{
    par_arg *a = p;
    for (int i = 0; i < 5; i++) {
        agt_result res;
        agt_power_state st;
        if (agt_bmc_power(a->b, &a->f->ctx, in_ms(10000), AGT_POWER_STATUS, &st, &res) == AGT_OK &&
            st == AGT_POWER_IS_ON)
            a->ok++;
    }
    return NULL;
}

static void test_concurrent_calls(void **state)
{
    fx *f = *state;
    const char *args[] = {"--user", USER, "--password", PASS, NULL};
    start_sim(f, args);
    agt_bmc *b = make_bmc(f, "redfish", PASS, NULL);
    pthread_t th[8];
    par_arg a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (par_arg){b, f, 0};
        pthread_create(&th[i], NULL, par_worker, &a[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].ok, 5);
    }
    agt_bmc_destroy(b);
    end_root(f);
    json_t *log = rf_sim_log(&f->sim);
    assert_int_equal(json_integer_value(json_object_get(log, "sessions_created")), 1);
    assert_int_equal(count_spans(f, "redfish.get_system"), 40);
    check_http_spans(f);
    check_propagation(f, log);
    check_no_secrets(f, log, NULL);
    json_decref(log);
}

int main(int argc, char **argv)
{
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_all_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quirk_allowable_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quirk_action_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_past_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sensors_collection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_calls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
