/* The IPMI driver against ipmi_sim (tests/peers/ipmi_sim), cross-checked with ipmitool:
 * every power action (the state our driver reads equals what `ipmitool -I lanplus -C 3` reads
 * from the same simulator after each change), identity, sensors, wrong credentials (AGT_EAUTH
 * fast), an unreachable BMC (fails within the deadline), session reuse, replacement of a broken
 * session (ipmi_sim killed and restarted between calls) and of an idle-expired one. Each test
 * checks the spans (names, attributes, parentage, error status, retry/retransmission events);
 * the last one checks that the password appears in no exported span and no line the process
 * wrote to stderr. Exit 77 (skipped) when ipmi_sim or ipmitool is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/bmc.h"
#include "ipmisim_harness.h"
#include "stderr_capture.h"
#include "test_tracing.h"

static test_tracing tt;
static ipmisim *sim;
static stderr_capture err_cap = STDERR_CAPTURE_INIT;
static char results_seen[8192]; /* every agt_result message, checked for the secret */

static uint64_t in_ms(unsigned ms)
{
    return tel_mono_ns() + (uint64_t)ms * 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void note_result(const agt_result *r)
{
    size_t n = strlen(results_seen);
    snprintf(results_seen + n, sizeof results_seen - n, "%s\n", r->message);
}

static agt_bmc *make_bmc(const char *endpoint, const char *password, int pool)
{
    agt_bmc_options o;
    ipmisim_bmc_options(&o);
    o.tracer = tt.tracer;
    o.pool_max_sessions = pool;
    agt_result err;
    agt_bmc *b = agt_bmc_create(endpoint, IPMISIM_USER, password, &o, &err);
    if (!b)
        fprintf(stderr, "agt_bmc_create: %s\n", err.message);
    return b;
}

/* The state ipmitool reads: 1 on, 0 off, -1 unreadable. */
static int ipmitool_power(void)
{
    char out[512];
    const char *args[] = {"chassis", "power", "status", NULL};
    int rc = ipmisim_ipmitool(sim, args, out, sizeof out, 20000);
    if (rc != 0) {
        fprintf(stderr, "ipmitool failed (%d): %s\n", rc, out);
        return -1;
    }
    if (strstr(out, "Chassis Power is on"))
        return 1;
    if (strstr(out, "Chassis Power is off"))
        return 0;
    return -1;
}

/* An ipmitool output field "Name : value" copied into val. */
static bool ipmitool_field(const char *out, const char *name, char *val, size_t cap)
{
    const char *p = strstr(out, name);
    if (!p || !(p = strchr(p, ':')))
        return false;
    p++;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    while (n > 0 && p[n - 1] == ' ')
        n--;
    snprintf(val, cap, "%.*s", (int)n, p);
    return true;
}

static int group_setup(void **state)
{
    (void)state;
    /* Everything the process writes to stderr from here on is checked for the password. */
    if (stderr_capture_start(&err_cap, "agt-ipmi-stderr") != 0) return -1;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 0, NULL);
    ipmisim_config cfg = {.sensors = true};
    sim = ipmisim_create(&cfg);
    return sim ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    static char buf[1 << 16];
    size_t len;
    stderr_capture_stop(&err_cap, buf, sizeof buf, &len);
    ipmisim_destroy(sim);
    test_tracing_cleanup(&tt);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    tel_memory_exporter_reset(tt.mem);
    return 0;
}

/* A root span for the test, so driver spans have a known parent. */
typedef struct root {
    tel_span *span;
    tel_context ctx;
} root;

static void root_begin(root *r)
{
    r->span = test_root_context(tt.tracer, "test", "server_id", "srv-42", &r->ctx);
}

static void root_end(root *r)
{
    tel_span_end(r->span);
    tel_context_cleanup(&r->ctx);
}

static void check_command_span(const tel_span_data *d, int netfn, int cmd)
{
    assert_non_null(d);
    assert_int_equal(d->kind, TEL_SPAN_KIND_CLIENT);
    assert_true(test_attr_str_is(d, "bmc.type", "ipmi"));
    assert_true(test_attr_str_is(d, "server.address", "127.0.0.1"));
    assert_true(test_attr_str_is(d, "bmc.address", "127.0.0.1"));
    assert_int_equal(test_attr_int(d, "server.port", -1), ipmisim_port(sim));
    assert_int_equal(test_attr_int(d, "ipmi.netfn", -1), netfn);
    assert_int_equal(test_attr_int(d, "ipmi.cmd", -1), cmd);
    assert_int_equal(test_attr_int(d, "ipmi.completion_code", -1), 0);
    assert_true(test_attr_bool(d, "ipmi.session.reused") >= 0);
    assert_int_equal(d->status, TEL_STATUS_UNSET);
}

static void test_power_matches_ipmitool(void **state)
{
    (void)state;
    agt_bmc *b = make_bmc(ipmisim_endpoint(sim), IPMISIM_PASSWORD, 0);
    assert_non_null(b);
    assert_string_equal(agt_bmc_type(b), "ipmi");
    root r;
    root_begin(&r);
    static const agt_power_action seq[] = {AGT_POWER_STATUS, AGT_POWER_ON,   AGT_POWER_STATUS,
                                           AGT_POWER_OFF,    AGT_POWER_ON,   AGT_POWER_RESET,
                                           AGT_POWER_SOFT,   AGT_POWER_ON,   AGT_POWER_CYCLE};
    static const int expect[] = {0, 1, 1, 0, 1, 1, 0, 1, 0};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        agt_power_state st;
        agt_result res;
        int rc = agt_bmc_power(b, &r.ctx, in_ms(5000), seq[i], &st, &res);
        note_result(&res);
        if (rc != AGT_OK)
            fprintf(stderr, "%s: %s\n", agt_power_action_name(seq[i]), res.message);
        assert_int_equal(rc, AGT_OK);
        int ours = st == AGT_POWER_IS_ON ? 1 : st == AGT_POWER_IS_OFF ? 0 : -1;
        assert_int_equal(ours, expect[i]);
        assert_int_equal(ipmitool_power(), ours);
        assert_int_equal(ipmisim_power_file(sim), ours);
    }
    /* ipmi_sim powers the host back on about 1 s after a cycle. */
    sleep_ms(1500);
    agt_power_state st;
    agt_result res;
    assert_int_equal(agt_bmc_power(b, &r.ctx, in_ms(5000), AGT_POWER_STATUS, &st, &res), AGT_OK);
    assert_int_equal(st, AGT_POWER_IS_ON);
    assert_int_equal(ipmitool_power(), 1);
    root_end(&r);

    /* Spans: one operation span per call, command spans under it, one session for all. */
    const tel_span_data *rootd = test_span_last(tt.mem, "test");
    size_t nops = test_span_count(tt.mem, "ipmi.power");
    assert_int_equal(nops, sizeof seq / sizeof seq[0] + 1);
    assert_int_equal(test_span_count(tt.mem, "ipmi.chassis_control"), 7);
    assert_int_equal(test_span_count(tt.mem, "ipmi.get_chassis_status"), nops);
    assert_int_equal(test_span_count(tt.mem, "ipmi.session.open"), 1);
    const tel_span_data *open = test_span_nth(tt.mem, "ipmi.session.open", 0);
    assert_int_equal(test_attr_int(open, "ipmi.cipher_suite", -1), 3);
    assert_true(test_attr_str_is(open, "ipmi.privilege", "OPERATOR"));
    assert_true(test_attr_str_is(open, "ipmi.session.reason", "new"));
    assert_int_equal(open->kind, TEL_SPAN_KIND_CLIENT);
    const tel_span_data *op0 = test_span_nth(tt.mem, "ipmi.power", 0);
    assert_true(test_span_is_child_of(op0, rootd));
    assert_true(test_span_is_child_of(open, op0));
    assert_true(test_attr_str_is(op0, "bmc.power.action", "status"));
    assert_true(test_attr_str_is(op0, "server_id", "srv-42")); /* business id from the baggage */
    assert_true(test_attr_str_is(op0, "bmc.type", "ipmi"));
    assert_int_equal(op0->kind, TEL_SPAN_KIND_INTERNAL);
    assert_int_equal(test_attr_bool(op0, "ipmi.session.reused"), 0);
    for (size_t i = 0; i < test_span_count(tt.mem, "ipmi.get_chassis_status"); i++) {
        const tel_span_data *d = test_span_nth(tt.mem, "ipmi.get_chassis_status", i);
        check_command_span(d, 0x00, 0x01);
        assert_int_equal(test_attr_bool(d, "ipmi.session.reused"), i == 0 ? 0 : 1);
    }
    for (size_t i = 0; i < 7; i++) {
        const tel_span_data *d = test_span_nth(tt.mem, "ipmi.chassis_control", i);
        check_command_span(d, 0x00, 0x02);
        assert_int_equal(test_attr_bool(d, "ipmi.session.reused"), 1);
    }
    const tel_span_data *cyc = test_span_nth(tt.mem, "ipmi.power", 8);
    assert_true(test_attr_str_is(cyc, "bmc.power.action", "cycle"));
    assert_true(test_attr_str_is(cyc, "bmc.power.state", "off"));
    assert_int_equal(
        test_attr_int(test_span_nth(tt.mem, "ipmi.chassis_control", 6), "ipmi.chassis_control", -1),
        2);
    agt_bmc_destroy(b);
}

static void test_identity_matches_ipmitool(void **state)
{
    (void)state;
    agt_bmc *b = make_bmc(ipmisim_endpoint(sim), IPMISIM_PASSWORD, 0);
    assert_non_null(b);
    agt_identity id;
    agt_result res;
    int rc = agt_bmc_identity(b, NULL, in_ms(5000), &id, &res);
    note_result(&res);
    assert_int_equal(rc, AGT_OK);
    char out[4096], val[128];
    const char *mc[] = {"mc", "info", NULL};
    assert_int_equal(ipmisim_ipmitool(sim, mc, out, sizeof out, 20000), 0);
    assert_true(ipmitool_field(out, "Manufacturer Name", val, sizeof val));
    assert_string_equal(id.manufacturer, val);
    assert_true(ipmitool_field(out, "Firmware Revision", val, sizeof val));
    assert_string_equal(id.firmware, val);
    assert_true(ipmitool_field(out, "Product ID", val, sizeof val));
    assert_non_null(strstr(val, id.model)); /* "3842 (0x0f02)" */
    const char *guid[] = {"mc", "guid", NULL};
    assert_int_equal(ipmisim_ipmitool(sim, guid, out, sizeof out, 20000), 0);
    assert_true(ipmitool_field(out, "System GUID", val, sizeof val));
    assert_string_equal(id.guid, val);
    assert_string_equal(id.serial, "");

    const tel_span_data *op = test_span_last(tt.mem, "ipmi.identity");
    assert_non_null(op);
    assert_false(op->has_parent); /* NULL context: a new trace */
    assert_int_equal(test_attr_int(op, "ipmi.manufacturer_id", -1), 0x1291);
    const tel_span_data *dev = test_span_last(tt.mem, "ipmi.get_device_id");
    check_command_span(dev, 0x06, 0x01);
    assert_true(test_span_is_child_of(dev, op));
    check_command_span(test_span_last(tt.mem, "ipmi.get_system_guid"), 0x06, 0x37);
    agt_bmc_destroy(b);
}

static void test_sensors(void **state)
{
    (void)state;
    agt_bmc *b = make_bmc(ipmisim_endpoint(sim), IPMISIM_PASSWORD, 0);
    assert_non_null(b);
    agt_sensor s[8];
    size_t n = 0;
    agt_result res;
    int rc = agt_bmc_sensors(b, NULL, in_ms(5000), s, 8, &n, &res);
    note_result(&res);
    if (rc != AGT_OK)
        fprintf(stderr, "sensors: %s\n", res.message);
    assert_int_equal(rc, AGT_OK);
    assert_int_equal(n, 3);
    assert_string_equal(s[0].name, "CPU Temp");
    assert_int_equal(s[0].kind, AGT_SENSOR_TEMPERATURE);
    assert_true(s[0].value > 44.9 && s[0].value < 45.1);
    assert_string_equal(s[1].name, "Fan 1");
    assert_int_equal(s[1].kind, AGT_SENSOR_FAN);
    assert_true(s[1].value > 2999 && s[1].value < 3001);
    assert_string_equal(s[2].name, "PSU Power");
    assert_int_equal(s[2].kind, AGT_SENSOR_POWER);
    assert_true(s[2].value > 179.9 && s[2].value < 180.1);
    assert_int_equal(test_span_count(tt.mem, "ipmi.get_sdr"), 1);
    assert_int_equal(
        test_attr_int(test_span_last(tt.mem, "ipmi.get_sdr"), "ipmi.sdr.record_count", -1), 3);
    assert_int_equal(test_span_count(tt.mem, "ipmi.get_sensor_reading"), 3);
    check_command_span(test_span_last(tt.mem, "ipmi.get_sensor_reading"), 0x04, 0x2d);
    check_command_span(test_span_last(tt.mem, "ipmi.get_sdr_repository_info"), 0x0a, 0x20);
    assert_int_equal(test_attr_bool(test_span_last(tt.mem, "ipmi.sensors"), "ipmi.sdr.cached"), 0);
    /* Second read: the repository did not change, the SDRs are not fetched again. */
    tel_memory_exporter_reset(tt.mem);
    assert_int_equal(agt_bmc_sensors(b, NULL, in_ms(5000), s, 8, &n, &res), AGT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(test_span_count(tt.mem, "ipmi.get_sdr"), 0);
    assert_int_equal(test_attr_bool(test_span_last(tt.mem, "ipmi.sensors"), "ipmi.sdr.cached"), 1);
    assert_int_equal(test_attr_int(test_span_last(tt.mem, "ipmi.sensors"), "bmc.sensor.count", -1),
                     3);
    /* cap smaller than the sensor count */
    assert_int_equal(agt_bmc_sensors(b, NULL, in_ms(5000), s, 1, &n, &res), AGT_OK);
    assert_int_equal(n, 1);
    agt_bmc_destroy(b);

    /* A simulator without SDRs (ipmi_sim's default): no sensors, no error. */
    ipmisim_config cfg = {.sensors = false};
    ipmisim *bare = ipmisim_create(&cfg);
    assert_non_null(bare);
    b = make_bmc(ipmisim_endpoint(bare), IPMISIM_PASSWORD, 0);
    assert_int_equal(agt_bmc_sensors(b, NULL, in_ms(5000), s, 8, &n, &res), AGT_OK);
    assert_int_equal(n, 0);
    agt_bmc_destroy(b);
    ipmisim_destroy(bare);
}

static void test_wrong_credentials(void **state)
{
    (void)state;
    struct {
        const char *user, *pass;
    } cases[] = {{IPMISIM_USER, "wrong-password"}, {"nobody", IPMISIM_PASSWORD}};
    for (size_t i = 0; i < 2; i++) {
        tel_memory_exporter_reset(tt.mem);
        agt_bmc_options o;
        ipmisim_bmc_options(&o);
        o.tracer = tt.tracer;
        agt_bmc *b = agt_bmc_create(ipmisim_endpoint(sim), cases[i].user, cases[i].pass, &o, NULL);
        assert_non_null(b);
        agt_power_state st;
        agt_result res;
        uint64_t t0 = tel_mono_ns();
        int rc = agt_bmc_power(b, NULL, in_ms(10000), AGT_POWER_STATUS, &st, &res);
        uint64_t took_ms = (tel_mono_ns() - t0) / 1000000u;
        note_result(&res);
        assert_int_equal(rc, AGT_EAUTH);
        assert_int_equal(res.code, AGT_EAUTH);
        assert_true(took_ms < 1000); /* an answer, not a timeout */
        assert_int_equal(st, AGT_POWER_UNKNOWN);
        const tel_span_data *open = test_span_last(tt.mem, "ipmi.session.open");
        assert_non_null(open);
        assert_int_equal(open->status, TEL_STATUS_ERROR);
        assert_non_null(open->status_msg);
        assert_non_null(strstr(open->status_msg, i == 0 ? "password invalid" : "username invalid"));
        assert_non_null(strstr(res.message, i == 0 ? "password invalid" : "username invalid"));
        const tel_span_data *op = test_span_last(tt.mem, "ipmi.power");
        assert_int_equal(op->status, TEL_STATUS_ERROR);
        assert_true(test_attr_str_is(op, "error.type", agt_strerror(AGT_EAUTH)));
        assert_int_equal(test_span_count(tt.mem, "ipmi.get_chassis_status"), 0);
        agt_bmc_destroy(b);
    }
}

/* A UDP port nothing listens on. */
static int free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_unreachable_within_deadline(void **state)
{
    (void)state;
    char ep[64];
    snprintf(ep, sizeof ep, "ipmi://127.0.0.1:%d", free_udp_port());
    agt_bmc *b = make_bmc(ep, IPMISIM_PASSWORD, 0);
    assert_non_null(b);
    agt_power_state st;
    agt_result res;
    uint64_t t0 = tel_mono_ns();
    int rc = agt_bmc_power(b, NULL, in_ms(3000), AGT_POWER_STATUS, &st, &res);
    uint64_t took_ms = (tel_mono_ns() - t0) / 1000000u;
    note_result(&res);
    fprintf(stderr, "unreachable: rc=%d after %llu ms: %s\n", rc, (unsigned long long)took_ms,
            res.message);
    assert_true(rc == AGT_EUNREACHABLE || rc == AGT_ETIMEOUT);
    assert_true(took_ms <= 3100);
    const tel_span_data *open = test_span_last(tt.mem, "ipmi.session.open");
    assert_non_null(open);
    assert_int_equal(open->status, TEL_STATUS_ERROR);
    assert_true(test_attr_int(open, "ipmi.session.timeout_ms", 0) <= 1500);
    /* libfreeipmi resent the open request: visible as (inferred) retransmission events. */
    assert_true(test_event_count(open, "ipmi.retransmission") >= 2);
    const tel_event *ev = test_event(open, "ipmi.retransmission");
    assert_int_equal(test_event_int(ev, "ipmi.retransmission.number", -1), 1);
    assert_int_equal(test_span_last(tt.mem, "ipmi.power")->status, TEL_STATUS_ERROR);

    /* A deadline already passed fails at once without traffic. */
    tel_memory_exporter_reset(tt.mem);
    assert_int_equal(agt_bmc_power(b, NULL, tel_mono_ns(), AGT_POWER_STATUS, &st, &res),
                     AGT_ETIMEOUT);
    assert_int_equal(test_span_count(tt.mem, "ipmi.session.open"), 0);
    agt_bmc_destroy(b);
}

static void test_replace_broken_session(void **state)
{
    (void)state;
    agt_bmc *b = make_bmc(ipmisim_endpoint(sim), IPMISIM_PASSWORD, 0);
    assert_non_null(b);
    agt_power_state st;
    agt_result res;
    assert_int_equal(agt_bmc_power(b, NULL, in_ms(6000), AGT_POWER_STATUS, &st, &res), AGT_OK);
    assert_int_equal(agt_bmc_power(b, NULL, in_ms(6000), AGT_POWER_STATUS, &st, &res), AGT_OK);
    assert_int_equal(test_span_count(tt.mem, "ipmi.session.open"), 1);
    assert_int_equal(
        test_attr_bool(test_span_last(tt.mem, "ipmi.get_chassis_status"), "ipmi.session.reused"),
        1);
    /* The BMC crashes and comes back: it has forgotten our session. */
    ipmisim_kill(sim);
    assert_int_equal(ipmisim_start(sim), 0);
    tel_memory_exporter_reset(tt.mem);
    uint64_t t0 = tel_mono_ns();
    int rc = agt_bmc_power(b, NULL, in_ms(6000), AGT_POWER_ON, &st, &res);
    uint64_t took_ms = (tel_mono_ns() - t0) / 1000000u;
    note_result(&res);
    fprintf(stderr, "after restart: rc=%d in %llu ms: %s\n", rc, (unsigned long long)took_ms,
            res.message);
    assert_int_equal(rc, AGT_OK);
    assert_int_equal(st, AGT_POWER_IS_ON);
    assert_int_equal(ipmitool_power(), 1);
    const tel_span_data *op = test_span_last(tt.mem, "ipmi.power");
    assert_int_equal(op->status, TEL_STATUS_UNSET);
    assert_non_null(test_event(op, "ipmi.session.replaced"));
    const tel_event *retry = test_event(op, "retry");
    assert_non_null(retry);
    assert_int_equal(test_event_int(retry, "ipmi.retry.attempt", -1), 2);
    /* The failed attempt, on the old session, then the new session, then the retry. */
    assert_int_equal(test_span_count(tt.mem, "ipmi.chassis_control"), 2);
    const tel_span_data *failed = test_span_nth(tt.mem, "ipmi.chassis_control", 0);
    assert_int_equal(failed->status, TEL_STATUS_ERROR);
    assert_int_equal(test_attr_bool(failed, "ipmi.session.reused"), 1);
    const tel_span_data *again = test_span_nth(tt.mem, "ipmi.chassis_control", 1);
    assert_int_equal(again->status, TEL_STATUS_UNSET);
    assert_int_equal(test_attr_int(again, "ipmi.attempt", -1), 2);
    assert_int_equal(test_attr_bool(again, "ipmi.session.reused"), 0);
    assert_int_equal(test_span_count(tt.mem, "ipmi.session.open"), 1);
    assert_true(test_attr_str_is(test_span_last(tt.mem, "ipmi.session.open"), "ipmi.session.reason",
                                 "replace"));
    /* And the new session is reused afterwards. */
    tel_memory_exporter_reset(tt.mem);
    assert_int_equal(agt_bmc_power(b, NULL, in_ms(6000), AGT_POWER_STATUS, &st, &res), AGT_OK);
    assert_int_equal(test_span_count(tt.mem, "ipmi.session.open"), 0);

    /* A non-repeatable action (cycle) is not sent twice after a broken session. */
    ipmisim_kill(sim);
    assert_int_equal(ipmisim_start(sim), 0);
    tel_memory_exporter_reset(tt.mem);
    rc = agt_bmc_power(b, NULL, in_ms(6000), AGT_POWER_CYCLE, &st, &res);
    note_result(&res);
    assert_int_not_equal(rc, AGT_OK);
    assert_int_equal(test_span_count(tt.mem, "ipmi.chassis_control"), 1);
    assert_non_null(test_event(test_span_last(tt.mem, "ipmi.power"), "ipmi.session.replaced"));
    assert_null(test_event(test_span_last(tt.mem, "ipmi.power"), "retry"));
    /* The session was replaced, so the next call works at once. */
    assert_int_equal(agt_bmc_power(b, NULL, in_ms(6000), AGT_POWER_STATUS, &st, &res), AGT_OK);
    agt_bmc_destroy(b);
}

static void test_idle_session_reopened(void **state)
{
    (void)state;
    agt_bmc *b = make_bmc(ipmisim_endpoint(sim), IPMISIM_PASSWORD, 0);
    agt_power_state st;
    agt_result res;
    /* A 1 s deadline gives a 500 ms session timeout: libfreeipmi would fail the session after
     * 500 ms of silence, so the pool reopens it instead of letting a call fail. */
    assert_int_equal(agt_bmc_power(b, NULL, in_ms(1000), AGT_POWER_STATUS, &st, &res), AGT_OK);
    int64_t to =
        test_attr_int(test_span_last(tt.mem, "ipmi.session.open"), "ipmi.session.timeout_ms", 0);
    assert_true(to > 450 && to <= 500);
    sleep_ms(600);
    assert_int_equal(agt_bmc_power(b, NULL, in_ms(1000), AGT_POWER_STATUS, &st, &res), AGT_OK);
    assert_int_equal(test_span_count(tt.mem, "ipmi.session.open"), 2);
    assert_true(test_attr_str_is(test_span_nth(tt.mem, "ipmi.session.open", 1),
                                 "ipmi.session.reason", "expired"));
    agt_bmc_destroy(b);
    /* A deadline shorter than what the pooled session could take (opened with 5 s for a 30 s
     * deadline): reopened with a shorter timeout so the call cannot outlive the deadline. */
    b = make_bmc(ipmisim_endpoint(sim), IPMISIM_PASSWORD, 1);
    tel_memory_exporter_reset(tt.mem);
    assert_int_equal(agt_bmc_power(b, NULL, in_ms(30000), AGT_POWER_STATUS, &st, &res), AGT_OK);
    assert_int_equal(
        test_attr_int(test_span_last(tt.mem, "ipmi.session.open"), "ipmi.session.timeout_ms", 0),
        5000);
    assert_string_equal(res.message, "ok");
    assert_int_equal(agt_bmc_power(b, NULL, in_ms(800), AGT_POWER_STATUS, &st, &res), AGT_OK);
    assert_int_equal(test_span_count(tt.mem, "ipmi.session.open"), 2);
    assert_true(test_attr_str_is(test_span_nth(tt.mem, "ipmi.session.open", 1),
                                 "ipmi.session.reason", "deadline"));
    agt_bmc_destroy(b);
}

static void test_bad_options(void **state)
{
    (void)state;
    agt_bmc_options o = {.pool_max_sessions = 99};
    agt_result err;
    assert_null(agt_bmc_create(ipmisim_endpoint(sim), "admin", "x", &o, &err));
    assert_int_equal(err.code, AGT_EINVAL);
    o = (agt_bmc_options){.privilege = 9};
    assert_null(agt_bmc_create(ipmisim_endpoint(sim), "admin", "x", &o, &err));
    assert_int_equal(err.code, AGT_EINVAL);
    assert_null(agt_bmc_create(ipmisim_endpoint(sim), "admin", "a-password-longer-than-20", NULL,
                               &err));
    assert_int_equal(err.code, AGT_EINVAL);
    assert_null(strstr(err.message, "a-password-longer-than-20"));
}

/* Last: nothing exported or written to stderr carries the password. */
static void test_no_secret_anywhere(void **state)
{
    (void)state;
    /* Produce a fresh set of spans including failures. */
    agt_bmc *b = make_bmc(ipmisim_endpoint(sim), IPMISIM_PASSWORD, 0);
    agt_power_state st;
    agt_result res;
    agt_identity id;
    agt_sensor s[4];
    size_t n;
    agt_bmc_power(b, NULL, in_ms(5000), AGT_POWER_STATUS, &st, &res);
    note_result(&res);
    agt_bmc_identity(b, NULL, in_ms(5000), &id, &res);
    note_result(&res);
    agt_bmc_sensors(b, NULL, in_ms(5000), s, 4, &n, &res);
    note_result(&res);
    agt_bmc_destroy(b);
    assert_int_equal(test_spans_mentioning(tt.mem, IPMISIM_PASSWORD), 0);
    assert_int_equal(test_spans_mentioning(tt.mem, "admin:"), 0);
    assert_null(strstr(results_seen, IPMISIM_PASSWORD));
    static char err[1 << 16];
    size_t len = 0;
    stderr_capture_stop(&err_cap, err, sizeof err, &len);
    assert_false(test_contains_text(err, len, IPMISIM_PASSWORD));
}

int main(void)
{
    if (system("command -v ipmi_sim >/dev/null 2>&1 && command -v ipmitool >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP: ipmi_sim (openipmi) or ipmitool not installed\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_power_matches_ipmitool, test_setup),
        cmocka_unit_test_setup(test_identity_matches_ipmitool, test_setup),
        cmocka_unit_test_setup(test_sensors, test_setup),
        cmocka_unit_test_setup(test_wrong_credentials, test_setup),
        cmocka_unit_test_setup(test_unreachable_within_deadline, test_setup),
        cmocka_unit_test_setup(test_replace_broken_session, test_setup),
        cmocka_unit_test_setup(test_idle_session_reopened, test_setup),
        cmocka_unit_test_setup(test_bad_options, test_setup),
        cmocka_unit_test_setup(test_no_secret_anywhere, test_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
