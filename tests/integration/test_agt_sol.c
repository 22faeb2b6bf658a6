/* SOL through libipmiconsole against ipmi_sim and its serial listener (tests/peers/ipmi_sim):
 * bytes the "host" prints arrive on our descriptor and bytes we write reach the host (after a
 * probe: the simulator may lose the first keystrokes of a session); a second session on the same
 * BMC fails with AGT_EINUSE by default and takes over when sol_take_over is set (the first then
 * reports AGT_ECLOSED and a "stolen" event); a serial break reaches the host as 0xFF 0xF3; close
 * deactivates SOL so a new session opens at once; wrong credentials give AGT_EAUTH. Spans are
 * checked, and no exported span nor stderr line carries the password. Exit 77 when ipmi_sim is
 * missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/sol.h"
#include "ipmisim_harness.h"
#include "stderr_capture.h"
#include "test_tracing.h"

static test_tracing tt;
static ipmisim *sim;
static stderr_capture err_cap = STDERR_CAPTURE_INIT;

static uint64_t in_ms(unsigned ms)
{
    return tel_mono_ns() + (uint64_t)ms * 1000000u;
}

static uint64_t now_ms(void)
{
    return tel_mono_ns() / 1000000u;
}

/* Sessions a test opened and has not closed: closed by the test teardown when an assertion
 * ended the test early, so the next test does not find SOL in use. */
static agt_sol *live[8];

static void track(agt_sol *s)
{
    for (int i = 0; s && i < 8; i++)
        if (!live[i]) {
            live[i] = s;
            return;
        }
}

static void sol_close(agt_sol *s)
{
    for (int i = 0; i < 8; i++)
        if (live[i] == s)
            live[i] = NULL;
    agt_sol_close(s);
}

static int test_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 8; i++) {
        if (live[i]) {
            agt_sol_close(live[i]);
            live[i] = NULL;
        }
    }
    return 0;
}

static int sol_open(bool take_over, agt_sol **s, agt_result *res)
{
    agt_bmc_options o;
    ipmisim_bmc_options(&o);
    o.tracer = tt.tracer;
    o.sol_take_over = take_over;
    int rc = agt_sol_open(ipmisim_endpoint(sim), IPMISIM_USER, IPMISIM_PASSWORD, &o, NULL,
                          in_ms(5000), s, res);
    if (rc == AGT_OK)
        track(*s);
    return rc;
}

/* Reads from s until its input contains needle (accumulated in acc). */
static bool read_until(agt_sol *s, const char *needle, int timeout_ms)
{
    static char acc[1 << 16];
    size_t len = 0;
    uint64_t until = now_ms() + (uint64_t)timeout_ms;
    while (now_ms() < until) {
        struct pollfd p = {.fd = agt_sol_fd(s), .events = POLLIN};
        poll(&p, 1, 50);
        if (len > sizeof acc - 4096)
            len = 0;
        ssize_t n = agt_sol_read(s, acc + len, sizeof acc - len);
        if (n < 0)
            return false;
        len += (size_t)n;
        if (test_contains_text(acc, len, needle)) return true;
    }
    return false;
}

static bool write_all(agt_sol *s, const char *text)
{
    size_t len = strlen(text), off = 0;
    uint64_t until = now_ms() + 2000;
    while (off < len && now_ms() < until) {
        ssize_t n = agt_sol_write(s, text + off, len - off);
        if (n < 0)
            return false;
        off += (size_t)n;
        if (n == 0) {
            struct pollfd p = {.fd = agt_sol_fd(s), .events = POLLOUT};
            poll(&p, 1, 20);
        }
    }
    return off == len;
}

/* Writes a probe until the host sees it: the first keystrokes of a new session may be lost. */
static bool probe(agt_sol *s, const char *tag)
{
    uint64_t until = now_ms() + 10000;
    while (now_ms() < until) {
        if (!write_all(s, tag))
            return false;
        if (ipmisim_serial_wait_for(sim, tag, strlen(tag), 300))
            return true;
    }
    return false;
}

static int group_setup(void **state)
{
    (void)state;
    if (stderr_capture_start(&err_cap, "agt-sol-stderr") != 0) return -1;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 0, NULL);
    ipmisim_config cfg = {.sol = true};
    sim = ipmisim_create(&cfg);
    return sim ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    static char buf[1 << 16];
    size_t len;
    stderr_capture_stop(&err_cap, buf, sizeof buf, &len);
    agt_sol_shutdown();
    ipmisim_destroy(sim);
    test_tracing_cleanup(&tt);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    tel_memory_exporter_reset(tt.mem);
    ipmisim_serial_set_echo(sim, false);
    ipmisim_serial_clear(sim);
    return 0;
}

static void test_bytes_both_ways(void **state)
{
    (void)state;
    agt_sol *s;
    agt_result res;
    int rc = sol_open(false, &s, &res);
    if (rc != AGT_OK)
        fprintf(stderr, "sol open: %s\n", res.message);
    assert_int_equal(rc, AGT_OK);
    /* host -> us */
    assert_true(ipmisim_serial_write(sim, "host says hello\r\n", 17) == 17);
    assert_true(read_until(s, "host says hello", 5000));
    /* us -> host */
    assert_true(probe(s, "[probe-1]"));
    assert_true(write_all(s, "PAYLOAD-12345\r"));
    assert_true(ipmisim_serial_wait_for(sim, "PAYLOAD-12345\r", 14, 5000));
    /* round trip through an echoing host */
    ipmisim_serial_set_echo(sim, true);
    assert_true(write_all(s, "ECHO-abc"));
    assert_true(read_until(s, "ECHO-abc", 5000));
    uint64_t in, out;
    agt_sol_counts(s, &in, &out);
    assert_true(in >= 17 + 8);
    assert_true(out >= 9 + 14 + 8);
    assert_string_equal(agt_sol_close_reason(s), "");
    sol_close(s);

    const tel_span_data *act = test_span_last(tt.mem, "ipmi.sol.activate");
    assert_non_null(act);
    assert_int_equal(act->kind, TEL_SPAN_KIND_CLIENT);
    assert_int_equal(act->status, TEL_STATUS_UNSET);
    assert_true(test_attr_str_is(act, "bmc.type", "ipmi"));
    assert_true(test_attr_str_is(act, "server.address", "127.0.0.1"));
    assert_int_equal(test_attr_int(act, "server.port", -1), ipmisim_port(sim));
    assert_int_equal(test_attr_int(act, "ipmi.cipher_suite", -1), 3);
    assert_true(test_attr_str_is(act, "ipmi.privilege", "ADMINISTRATOR"));
    assert_int_equal(test_attr_int(act, "ipmi.sol.keepalive_ms", -1), 400);
    assert_int_equal(test_attr_bool(act, "ipmi.sol.take_over"), 0);
    assert_true(test_attr_int(act, "ipmi.sol.establish_ms", -1) >= 0);
    assert_int_equal(test_attr_bool(act, "ipmi.sol.engine_was_idle"), 1);
    assert_non_null(test_attr(act, "ipmi.sol.engine_note"));
    assert_non_null(test_event(act, "ipmi.sol.established"));
    fprintf(stderr, "SOL established in %lld ms (engine idle)\n",
            (long long)test_attr_int(act, "ipmi.sol.establish_ms", -1));
    const tel_span_data *ss = test_span_last(tt.mem, "ipmi.sol.session");
    assert_non_null(ss);
    const tel_event *closed = test_event(ss, "ipmi.sol.closed");
    assert_non_null(closed);
    assert_int_equal(test_event_int(closed, "ipmi.sol.bytes_in", -1), (int64_t)in);
    assert_int_equal(test_event_int(closed, "ipmi.sol.bytes_out", -1), (int64_t)out);
    assert_int_equal(test_attr_int(ss, "ipmi.sol.bytes_in", -1), (int64_t)in);
    assert_true(test_event_str_has(closed, "ipmi.sol.close_reason", "client"));
}

static void test_second_open_in_use(void **state)
{
    (void)state;
    agt_sol *a, *b = NULL;
    agt_result res;
    assert_int_equal(sol_open(false, &a, &res), AGT_OK);
    uint64_t t0 = now_ms();
    int rc = sol_open(false, &b, &res);
    uint64_t took = now_ms() - t0;
    fprintf(stderr, "second open: %d after %llu ms: %s\n", rc, (unsigned long long)took,
            res.message);
    assert_int_equal(rc, AGT_EINUSE);
    assert_null(b);
    assert_true(took < 2000);
    const tel_span_data *act = test_span_last(tt.mem, "ipmi.sol.activate");
    assert_int_equal(act->status, TEL_STATUS_ERROR);
    assert_non_null(strstr(act->status_msg, "in use"));
    assert_true(test_attr_str_is(act, "error.type", agt_strerror(AGT_EINUSE)));
    /* The first session is unaffected. */
    assert_true(ipmisim_serial_write(sim, "still-a\r\n", 9) == 9);
    assert_true(read_until(a, "still-a", 5000));
    assert_true(probe(a, "[probe-a]"));
    sol_close(a);
}

static void test_take_over(void **state)
{
    (void)state;
    agt_sol *a, *b;
    agt_result res;
    assert_int_equal(sol_open(false, &a, &res), AGT_OK);
    int rc = sol_open(true, &b, &res);
    if (rc != AGT_OK)
        fprintf(stderr, "take over: %s\n", res.message);
    assert_int_equal(rc, AGT_OK);
    /* The first session learns it lost SOL. */
    char buf[64];
    assert_int_equal(agt_sol_read(a, buf, sizeof buf), AGT_ECLOSED);
    assert_int_equal(agt_sol_write(a, "x", 1), AGT_ECLOSED);
    assert_non_null(strstr(agt_sol_close_reason(a), "taken over"));
    assert_int_equal(agt_sol_break(a, &res), AGT_ECLOSED);
    /* The new one carries the bytes both ways. */
    assert_true(ipmisim_serial_write(sim, "to-b\r\n", 6) == 6);
    assert_true(read_until(b, "to-b", 5000));
    assert_true(probe(b, "[probe-b]"));
    /* Closing the stolen session does not disturb the new one. */
    sol_close(a);
    const tel_span_data *sa = test_span_last(tt.mem, "ipmi.sol.session");
    assert_non_null(test_event(sa, "ipmi.sol.stolen"));
    assert_true(test_event_str_has(test_event(sa, "ipmi.sol.closed"), "ipmi.sol.close_reason",
                                   "taken over"));
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    ipmisim_serial_clear(sim);
    assert_true(ipmisim_serial_write(sim, "after-close-a\r\n", 15) == 15);
    assert_true(read_until(b, "after-close-a", 5000));
    assert_true(probe(b, "[probe-b2]"));
    sol_close(b);
    assert_int_equal(
        test_attr_bool(test_span_nth(tt.mem, "ipmi.sol.activate", 1), "ipmi.sol.take_over"), 1);
}

static void test_break(void **state)
{
    (void)state;
    agt_sol *s;
    agt_result res;
    assert_int_equal(sol_open(false, &s, &res), AGT_OK);
    assert_true(probe(s, "[probe-brk]"));
    ipmisim_serial_clear(sim);
    assert_int_equal(agt_sol_break(s, &res), AGT_OK);
    bool seen = ipmisim_serial_wait_for(sim, "\xff\xf3", 2, 1000);
    fprintf(stderr, "break alone reached the host: %s\n", seen ? "yes" : "no");
    assert_true(write_all(s, "after-break"));
    assert_true(ipmisim_serial_wait_for(sim, "after-break", 11, 5000));
    char got[256];
    size_t n = ipmisim_serial_received(sim, got, sizeof got);
    fprintf(stderr, "host received %zu bytes:", n);
    for (size_t i = 0; i < n && i < sizeof got; i++)
        fprintf(stderr, " %02x", (unsigned char)got[i]);
    fprintf(stderr, "\n");
    assert_true(ipmisim_serial_wait_for(sim, "\xff\xf3", 2, 1000));
    sol_close(s);
    assert_non_null(test_event(test_span_last(tt.mem, "ipmi.sol.session"), "ipmi.sol.break"));
}

static void test_close_then_reopen(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        agt_sol *s;
        agt_result res;
        int rc = sol_open(false, &s, &res);
        if (rc != AGT_OK)
            fprintf(stderr, "reopen %d: %s\n", i, res.message);
        assert_int_equal(rc, AGT_OK);
        char line[32];
        int n = snprintf(line, sizeof line, "round-%d\r\n", i);
        assert_true(ipmisim_serial_write(sim, line, (size_t)n) == n);
        line[n - 2] = '\0';
        assert_true(read_until(s, line, 5000));
        sol_close(s);
    }
    /* While the engine holds no other session, establishment pays its idle poll; note it. */
    assert_int_equal(test_span_count(tt.mem, "ipmi.sol.activate"), 3);
}

static void test_wrong_password_and_endpoint(void **state)
{
    (void)state;
    agt_bmc_options o;
    ipmisim_bmc_options(&o);
    o.tracer = tt.tracer;
    agt_sol *s = NULL;
    agt_result res;
    uint64_t t0 = now_ms();
    int rc = agt_sol_open(ipmisim_endpoint(sim), IPMISIM_USER, "not-the-password", &o, NULL,
                          in_ms(5000), &s, &res);
    uint64_t took = now_ms() - t0;
    assert_int_equal(rc, AGT_EAUTH);
    assert_null(s);
    assert_true(took < 1500);
    assert_int_equal(test_span_last(tt.mem, "ipmi.sol.activate")->status, TEL_STATUS_ERROR);
    assert_int_equal(agt_sol_open("redfish://127.0.0.1:1", "u", "p", &o, NULL, in_ms(1000), &s,
                                  &res),
                     AGT_EUNSUPPORTED);
    assert_int_equal(agt_sol_open("nonsense", "u", "p", &o, NULL, in_ms(1000), &s, &res),
                     AGT_EINVAL);
}

static void test_no_secret_anywhere(void **state)
{
    (void)state;
    agt_sol *s;
    agt_result res;
    assert_int_equal(sol_open(false, &s, &res), AGT_OK);
    assert_null(strstr(res.message, IPMISIM_PASSWORD));
    sol_close(s);
    assert_int_equal(test_spans_mentioning(tt.mem, IPMISIM_PASSWORD), 0);
    static char err[1 << 16];
    size_t len = 0;
    stderr_capture_stop(&err_cap, err, sizeof err, &len);
    assert_false(test_contains_text(err, len, IPMISIM_PASSWORD));
}

int main(void)
{
    if (system("command -v ipmi_sim >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP: ipmi_sim (openipmi) not installed\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bytes_both_ways, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_second_open_in_use, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_take_over, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_break, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_close_then_reopen, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_and_endpoint, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_no_secret_anywhere, test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
