/* A SOL session carrying a line of host output every 0.5 s stays up for 2 minutes (ipmi_sim
 * drops sessions after 30 s unless keepalives are frequent: sol_keepalive_ms = 400 here), every
 * line arrives in order, and keystrokes sent every 10 s reach the host. Label "long".
 * Exit 77 when ipmi_sim is missing. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "agent/sol.h"
#include "ipmisim_harness.h"
#include "test_tracing.h"

#define DURATION_MS 120000
#define LINE_EVERY_MS 500

static uint64_t now_ms(void)
{
    return tel_mono_ns() / 1000000u;
}

/* Parses complete "line NNNN\r\n" records out of buf; returns the bytes consumed. */
static size_t take_lines(const char *buf, size_t len, int *next_expected, int *out_of_order)
{
    size_t off = 0;
    for (;;) {
        const char *nl = memchr(buf + off, '\n', len - off);
        if (!nl)
            return off;
        int n;
        if (sscanf(buf + off, "line %d", &n) == 1) {
            if (n != *next_expected)
                (*out_of_order)++;
            *next_expected = n + 1;
        }
        off = (size_t)(nl - buf) + 1;
    }
}

int main(void)
{
    if (system("command -v ipmi_sim >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP: ipmi_sim (openipmi) not installed\n");
        return 77;
    }
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 0, NULL);
    ipmisim_config cfg = {.sol = true};
    ipmisim *sim = ipmisim_create(&cfg);
    if (!sim) {
        fprintf(stderr, "FAIL: ipmi_sim did not start\n");
        return 1;
    }
    agt_bmc_options o;
    ipmisim_bmc_options(&o);
    o.tracer = tt.tracer;
    agt_sol *s = NULL;
    agt_result res;
    int rc = agt_sol_open(ipmisim_endpoint(sim), IPMISIM_USER, IPMISIM_PASSWORD, &o, NULL,
                          tel_mono_ns() + 5000000000ull, &s, &res);
    CHECK(rc == AGT_OK, "open: %s", res.message);
    int sent = 0, next_expected = 0, out_of_order = 0, keys_sent = 0, keys_seen = 0;
    bool ended = false;
    if (rc == AGT_OK) {
        static char buf[1 << 16];
        size_t len = 0;
        uint64_t start = now_ms(), next_line = start, next_key = start + 1000;
        char key[32] = "";
        while (now_ms() - start < DURATION_MS || next_expected < sent) {
            uint64_t t = now_ms();
            if (t - start > DURATION_MS + 5000)
                break; /* lines still missing 5 s after the end: give up */
            if (t >= next_line && t - start < DURATION_MS) {
                char line[32];
                int n = snprintf(line, sizeof line, "line %04d\r\n", sent);
                CHECK(ipmisim_serial_write(sim, line, (size_t)n) == n, "serial write");
                sent++;
                next_line += LINE_EVERY_MS;
            }
            if (t >= next_key && t - start < DURATION_MS) {
                if (key[0] && ipmisim_serial_wait_for(sim, key, strlen(key), 0))
                    keys_seen++;
                snprintf(key, sizeof key, "[key-%02d]", keys_sent++);
                ssize_t w = agt_sol_write(s, key, strlen(key));
                CHECK(w == (ssize_t)strlen(key), "keystroke write returned %zd", w);
                next_key += 10000;
            }
            struct pollfd p = {.fd = agt_sol_fd(s), .events = POLLIN};
            poll(&p, 1, 50);
            ssize_t n = agt_sol_read(s, buf + len, sizeof buf - len);
            if (n < 0) {
                ended = true;
                fprintf(stderr, "session ended after %.1f s: %s\n", (now_ms() - start) / 1000.0,
                        agt_sol_close_reason(s));
                break;
            }
            len += (size_t)n;
            size_t used = take_lines(buf, len, &next_expected, &out_of_order);
            memmove(buf, buf + used, len - used);
            len -= used;
        }
        if (key[0] && ipmisim_serial_wait_for(sim, key, strlen(key), 2000))
            keys_seen++;
        printf("%.0f s: %d lines sent, %d received (%d out of order), %d/%d keystroke "
               "bursts reached the host\n",
               (now_ms() - start) / 1000.0, sent, next_expected, out_of_order, keys_seen,
               keys_sent);
        CHECK(!ended, "the SOL session ended early");
        CHECK(sent >= DURATION_MS / LINE_EVERY_MS - 1, "only %d lines sent", sent);
        CHECK(next_expected == sent, "%d of %d lines received", next_expected, sent);
        CHECK(out_of_order == 0, "%d lines out of order", out_of_order);
        /* The first burst of a session may be lost (ipmi_sim sequence numbers). */
        CHECK(keys_seen >= keys_sent - 1, "%d of %d keystroke bursts reached the host",
              keys_seen, keys_sent);
        uint64_t in = 0;
        agt_sol_counts(s, &in, NULL);
        agt_sol_close(s);
        const tel_span_data *ss = test_span_last(tt.mem, "ipmi.sol.session");
        CHECK(ss && test_attr_int(ss, "ipmi.sol.bytes_in", -1) == (int64_t)in &&
                  in >= (uint64_t)sent * 11,
              "session span byte count");
        CHECK(ss && ss->end_ns - ss->start_ns >= (uint64_t)DURATION_MS * 1000000u,
              "session span shorter than the session");
    }
    agt_sol_shutdown();
    ipmisim_destroy(sim);
    test_tracing_cleanup(&tt);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        printf("ok\n");
    return failures ? 1 : 0;
}
