/* Unit tests of the logging API (log.c): levels and LOG_LEVEL, the JSON shape of a line (parsed
 * back with jansson), RFC 3339 timestamps with nanoseconds, correlation with the current span,
 * escaping, compile-time format checking, redaction, the OTLP hand-off and no allocation per
 * line in steady state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log_internal.h"
#include "telemetry/log.h"
#include "telemetry/redact.h"
#include "alloc_count.h"
#include "test_tracing.h"

/* ---- Capturing lines ---- */

static int out_fd = -1;
static off_t read_pos;

static int setup(void **state)
{
    (void)state;
    char path[] = "/tmp/test_log_XXXXXX";
    out_fd = mkstemp(path);
    assert_true(out_fd >= 0);
    unlink(path);
    read_pos = 0;
    tel_log_set_output(out_fd);
    tel_log_set_level(TEL_LOG_TRACE);
    tel_log_set_service("unit-test");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tel_log_set_output(2);
    close(out_fd);
    out_fd = -1;
    return 0;
}

/* Everything written since the last call (caller frees). */
static char *take_output(size_t *len)
{
    off_t end = lseek(out_fd, 0, SEEK_END);
    size_t n = (size_t)(end - read_pos);
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    assert_int_equal(pread(out_fd, buf, n, read_pos), (ssize_t)n);
    buf[n] = '\0';
    read_pos = end;
    if (len) *len = n;
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The single line written since the last call, parsed (caller decrefs). */
static json_t *one_line(void)
{
    size_t n;
    char *s = take_output(&n);
    assert_int_equal(count_lines(s), 1);
    assert_true(n > 0 && s[n - 1] == '\n');
    json_error_t err;
    json_t *j = json_loadb(s, n - 1, JSON_REJECT_DUPLICATES, &err);
    if (!j) fprintf(stderr, "bad line: %s (%s)\n", s, err.text);
    assert_non_null(j);
    free(s);
    return j;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- Tests ---- */

static void test_levels(void **state)
{
    (void)state;
    tel_log_set_level(TEL_LOG_WARN);
    assert_false(tel_log_enabled(TEL_LOG_INFO));
    assert_true(tel_log_enabled(TEL_LOG_WARN));
    assert_true(tel_log_enabled(TEL_LOG_FATAL));
    tel_log_info("not written");
    tel_log_debug("not written");
    tel_log_warn("w");
    tel_log_error("e");
    tel_log_fatal("f");
    char *s = take_output(NULL);
    assert_int_equal(count_lines(s), 3);
    assert_non_null(strstr(s, "\"level\":\"warn\""));
    assert_non_null(strstr(s, "\"level\":\"error\""));
    assert_non_null(strstr(s, "\"level\":\"fatal\""));
    assert_null(strstr(s, "not written"));
    free(s);
    tel_log_set_level(TEL_LOG_TRACE);
    tel_log_trace("t");
    json_t *j = one_line();
    assert_string_equal(jstr(j, "level"), "trace");
    json_decref(j);

    static const struct {
        const char *s;
        int lvl;
    } cases[] = {{"trace", TEL_LOG_TRACE},
                 {"DEBUG", TEL_LOG_DEBUG},
                 {" Info ", TEL_LOG_INFO},
                 {"warn", TEL_LOG_WARN},
                 {"warning", TEL_LOG_WARN},
                 {"error", TEL_LOG_ERROR},
                 {"FATAL", TEL_LOG_FATAL},
                 {"verbose", -1},
                 {"", -1},
                 {"info2", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tel_log_level l = (tel_log_level)99;
        int rc = tel_log_level_parse(cases[i].s, &l);
        if (cases[i].lvl < 0) {
            assert_int_equal(rc, TEL_EINVAL);
            assert_int_equal(l, 99);
        } else {
            assert_int_equal(rc, TEL_OK);
            assert_int_equal(l, cases[i].lvl);
        }
    }
    assert_int_equal(tel_log_level_severity(TEL_LOG_TRACE), 1);
    assert_int_equal(tel_log_level_severity(TEL_LOG_DEBUG), 5);
    assert_int_equal(tel_log_level_severity(TEL_LOG_INFO), 9);
    assert_int_equal(tel_log_level_severity(TEL_LOG_WARN), 13);
    assert_int_equal(tel_log_level_severity(TEL_LOG_ERROR), 17);
    assert_int_equal(tel_log_level_severity(TEL_LOG_FATAL), 21);
    assert_string_equal(tel_log_level_severity_text(TEL_LOG_WARN), "WARN");
}

static void test_log_level_env(void **state)
{
    (void)state;
    setenv("LOG_LEVEL", "error", 1);
    tel__log_reset_level();
    assert_int_equal(tel_log_get_level(), TEL_LOG_ERROR);
    tel_log_warn("dropped");
    char *s = take_output(NULL);
    assert_int_equal(count_lines(s), 0);
    free(s);

    unsetenv("LOG_LEVEL");
    tel__log_reset_level();
    assert_int_equal(tel_log_get_level(), TEL_LOG_INFO); /* default */

    setenv("LOG_LEVEL", "loud", 1);
    tel__log_reset_level();
    assert_false(tel_log_enabled(TEL_LOG_DEBUG)); /* invalid: info, with a warning line */
    json_t *j = one_line();
    assert_string_equal(jstr(j, "level"), "warn");
    assert_non_null(strstr(jstr(j, "message"), "LOG_LEVEL"));
    assert_string_equal(jstr(json_object_get(j, "attributes"), "value"), "loud");
    json_decref(j);
    unsetenv("LOG_LEVEL");
    tel_log_set_level(TEL_LOG_TRACE);
}

static void check_timestamp(const char *ts, uint64_t lo_ns, uint64_t hi_ns)
{
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    assert_int_equal(regexec(&re, ts, 0, NULL, 0), 0);
    regfree(&re);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm));
    uint64_t ns = (uint64_t)timegm(&tm) * 1000000000u + strtoull(ts + 20, NULL, 10);
    assert_true(ns >= lo_ns && ns <= hi_ns);
}

static void test_json_shape_and_timestamp(void **state)
{
    (void)state;
    static const char *const sa[] = {"a", "b\"c"};
    static const int64_t ia[] = {1, -2};
    tel_attr attrs[] = {
        TEL_ATTR_STR("server_id", "srv-1"),
        TEL_ATTR_INT64("attempt", 3),
        TEL_ATTR_INT64("min", INT64_MIN),
        TEL_ATTR_DBL("ratio", 0.25),
        TEL_ATTR_DBL("third", 1.0 / 3.0),
        TEL_ATTR_DBL("nan", NAN),
        TEL_ATTR_DBL("inf", -INFINITY),
        TEL_ATTR_BOOLEAN("ok", true),
        {.key = "names", .type = TEL_ATTR_STRING_ARRAY, .len = 2, .v.arr = sa},
        {.key = "ids", .type = TEL_ATTR_INT_ARRAY, .len = 2, .v.arr = ia},
    };
    uint64_t before = tel_now_ns();
    tel_log(TEL_LOG_INFO, attrs, sizeof attrs / sizeof attrs[0], "power %s on %d", "cycle", 7);
    uint64_t after = tel_now_ns();
    json_t *j = one_line();
    assert_int_equal(json_object_size(j), 5); /* no trace_id/span_id outside a span */
    assert_string_equal(jstr(j, "level"), "info");
    assert_string_equal(jstr(j, "message"), "power cycle on 7");
    assert_string_equal(jstr(j, "service"), "unit-test");
    check_timestamp(jstr(j, "timestamp"), before, after);
    json_t *a = json_object_get(j, "attributes");
    assert_true(json_is_object(a));
    assert_int_equal(json_object_size(a), 10);
    assert_string_equal(jstr(a, "server_id"), "srv-1");
    assert_int_equal(json_integer_value(json_object_get(a, "attempt")), 3);
    assert_true(json_integer_value(json_object_get(a, "min")) == INT64_MIN);
    assert_true(json_real_value(json_object_get(a, "ratio")) == 0.25);
    assert_true(json_real_value(json_object_get(a, "third")) == 1.0 / 3.0);
    assert_string_equal(jstr(a, "nan"), "NaN");
    assert_string_equal(jstr(a, "inf"), "-Infinity");
    assert_true(json_is_true(json_object_get(a, "ok")));
    json_t *names = json_object_get(a, "names");
    assert_int_equal(json_array_size(names), 2);
    assert_string_equal(json_string_value(json_array_get(names, 1)), "b\"c");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(a, "ids"), 1)), -2);
    json_decref(j);

    /* No attributes: an empty object; a NULL format: an empty message. */
    tel_log(TEL_LOG_INFO, NULL, 0, "%s", "");
    j = one_line();
    assert_int_equal(json_object_size(json_object_get(j, "attributes")), 0);
    assert_string_equal(jstr(j, "message"), "");
    json_decref(j);
}

static void test_rfc3339(void **state)
{
    (void)state;
    char out[31];
    out[30] = '\0';
    tel__log_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000000Z");
    tel__log_rfc3339(1700000000123456789ull, out);
    assert_string_equal(out, "2023-11-14T22:13:20.123456789Z");
    tel__log_rfc3339(951782400000000001ull, out); /* 2000-02-29 */
    assert_string_equal(out, "2000-02-29T00:00:00.000000001Z");
    tel__log_rfc3339(4107542399999999999ull, out); /* 2100-02-28, not a leap year */
    assert_string_equal(out, "2100-02-28T23:59:59.999999999Z");
    /* Against gmtime_r over many instants. */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t ns = x % 8000000000000000000ull; /* up to 2223 */
        time_t secs = (time_t)(ns / 1000000000u);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char want[40];
        size_t n = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof want - n, ".%09uZ", (unsigned)(ns % 1000000000u));
        tel__log_rfc3339(ns, out);
        assert_string_equal(out, want);
    }
}

static void hex(const uint8_t *id, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", id[i]);
}

static void test_correlation(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1.0, NULL);
    tel_log_info("before");
    json_t *j = one_line();
    assert_null(json_object_get(j, "trace_id"));
    assert_null(json_object_get(j, "span_id"));
    json_decref(j);

    tel_span *outer = tel_span_start(tt.tracer, "outer", TEL_SPAN_KIND_SERVER, NULL);
    assert_null(tel_span_set_current(outer));
    tel_log_info("inside");
    j = one_line();
    tel_span_context sc = tel_span_get_context(outer);
    char tid[33], sid[17];
    hex(sc.trace_id, 16, tid);
    hex(sc.span_id, 8, sid);
    assert_string_equal(jstr(j, "trace_id"), tid);
    assert_string_equal(jstr(j, "span_id"), sid);
    json_decref(j);

    /* A child made current carries its own span id and the same trace id. */
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_context_set_span(&ctx, outer);
    tel_span *inner = tel_span_start(tt.tracer, "inner", TEL_SPAN_KIND_CLIENT, &ctx);
    tel_span *prev = tel_span_set_current(inner);
    assert_ptr_equal(prev, outer);
    tel_log_info("nested");
    j = one_line();
    tel_span_context isc = tel_span_get_context(inner);
    char isid[17];
    hex(isc.span_id, 8, isid);
    assert_string_equal(jstr(j, "trace_id"), tid);
    assert_string_equal(jstr(j, "span_id"), isid);
    json_decref(j);
    tel_span_set_current(prev);
    tel_span_end(inner); /* ending a span that is not current leaves the current one alone */
    tel_log_info("back");
    j = one_line();
    assert_string_equal(jstr(j, "span_id"), sid);
    json_decref(j);

    /* Ending the current span clears it. */
    tel_span_end(outer);
    tel_log_info("after");
    j = one_line();
    assert_null(json_object_get(j, "trace_id"));
    json_decref(j);

    /* Another thread's current span is not this thread's. */
    tel_span *s = tel_span_start(tt.tracer, "x", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_span_set_current(s);
    tel_span_set_current(NULL);
    tel_log_info("cleared");
    j = one_line();
    assert_null(json_object_get(j, "span_id"));
    json_decref(j);
    tel_span_end(s);
    tel_context_cleanup(&ctx);
    test_tracing_cleanup(&tt);
}

static void test_escaping(void **state)
{
    (void)state;
    /* quotes, backslash, control characters, DEL, valid multi-byte, invalid bytes (a lone
     * continuation, an overlong form, a surrogate, a truncated sequence at the end) */
    static const char raw[] = "q\" b\\ n\n t\t r\r b\b f\f x\x01 y\x1f del\x7f "
                              "\xc3\xa9 \xf0\x9f\x9a\x80 bad\x80 over\xc0\xaf sur\xed\xa0\x80 "
                              "end\xe2\x9c";
    static const char want[] =
        "q\" b\\ n\n t\t r\r b\b f\f x\x01 y\x1f del\x7f "
        "\xc3\xa9 \xf0\x9f\x9a\x80 bad\xef\xbf\xbd over\xef\xbf\xbd\xef\xbf\xbd "
        "sur\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end\xef\xbf\xbd\xef\xbf\xbd";
    tel_attr a[] = {
        {.key = "k\"\n\xff", .type = TEL_ATTR_STRING, .len = sizeof raw - 1, .v.s = raw}};
    tel_log(TEL_LOG_INFO, a, 1, "%s", raw);
    size_t n;
    char *s = take_output(&n);
    /* Raw control characters never reach the output. */
    for (size_t i = 0; i + 1 < n; i++)
        assert_true((unsigned char)s[i] >= 0x20);
    assert_non_null(strstr(s, "\\n t\\t r\\r b\\b f\\f x\\u0001 y\\u001f"));
    json_error_t err;
    json_t *j = json_loadb(s, n - 1, 0, &err);
    assert_non_null(j);
    assert_string_equal(jstr(j, "message"), want);
    json_t *attrs = json_object_get(j, "attributes");
    assert_string_equal(jstr(attrs, "k\"\n\xef\xbf\xbd"), want);
    json_decref(j);
    free(s);

    /* Embedded NUL in an attribute value is kept as \u0000. */
    tel_attr z = {.key = "z", .type = TEL_ATTR_STRING, .len = 3, .v.s = "a\0b"};
    tel_log(TEL_LOG_INFO, &z, 1, "nul");
    s = take_output(&n);
    assert_non_null(strstr(s, "\"z\":\"a\\u0000b\""));
    free(s);
}

static void test_long_message(void **state)
{
    (void)state;
    size_t big = TEL_LOG_MESSAGE_MAX + 100;
    char *m = malloc(big + 1);
    /* 'x' then a run of 2-byte characters across the cut point */
    m[0] = 'x';
    for (size_t i = 1; i + 1 < big; i += 2) {
        m[i] = (char)0xc3;
        m[i + 1] = (char)0xa9;
    }
    m[big] = '\0';
    if ((big - 1) % 2) m[big - 1] = 'y';
    tel_log_info("%s", m);
    json_t *j = one_line();
    const char *msg = jstr(j, "message");
    assert_non_null(msg);
    assert_true(strlen(msg) <= TEL_LOG_MESSAGE_MAX && strlen(msg) >= TEL_LOG_MESSAGE_MAX - 1);
    assert_null(strstr(msg, "\xef\xbf\xbd")); /* cut on a character boundary */
    json_decref(j);
    free(m);
}

static void test_redaction(void **state)
{
    (void)state;
    static const char *const toks[] = {"t1", "t2"};
    tel_attr attrs[] = {
        TEL_ATTR_STR("bmc.password", "hunter2"),
        TEL_ATTR_STR("http.request.header.authorization", "Bearer abc"),
        TEL_ATTR_STR("X-Api-Key", "k-123"),
        TEL_ATTR_INT64("session_token", 42),
        {.key = "tokens", .type = TEL_ATTR_STRING_ARRAY, .len = 2, .v.arr = toks},
        TEL_ATTR_STR("user", "alice"),
    };
    tel_log(TEL_LOG_WARN, attrs, 6, "login failed");
    size_t n;
    char *s = take_output(&n);
    assert_null(strstr(s, "hunter2"));
    assert_null(strstr(s, "Bearer"));
    assert_null(strstr(s, "k-123"));
    assert_null(strstr(s, "t1"));
    json_t *j = json_loadb(s, n - 1, 0, NULL);
    json_t *a = json_object_get(j, "attributes");
    assert_string_equal(jstr(a, "bmc.password"), TEL_REDACTED);
    assert_string_equal(jstr(a, "http.request.header.authorization"), TEL_REDACTED);
    assert_string_equal(jstr(a, "X-Api-Key"), TEL_REDACTED);
    assert_string_equal(jstr(a, "session_token"), TEL_REDACTED);
    assert_string_equal(jstr(a, "tokens"), TEL_REDACTED);
    assert_string_equal(jstr(a, "user"), "alice");
    json_decref(j);
    free(s);
}

static void test_service(void **state)
{
    (void)state;
    tel_log_set_service("svc \"quoted\"\n");
    tel_log_info("x");
    json_t *j = one_line();
    assert_string_equal(jstr(j, "service"), "svc \"quoted\"\n");
    json_decref(j);
    setenv("OTEL_SERVICE_NAME", "from-env", 1);
    tel_log_set_service(NULL); /* back to the default, read once */
    tel_log_info("x");
    j = one_line();
    assert_string_equal(jstr(j, "service"), "from-env");
    json_decref(j);
    unsetenv("OTEL_SERVICE_NAME");
    tel_log_set_service("unit-test");
}

/* The compiler rejects a mismatched format: compile a snippet with this build's compiler
 * family and -Werror=format, once right and once wrong. */
static int compile_snippet(const char *cc, const char *body)
{
    char src[] = "/tmp/test_log_fmt_XXXXXX.c";
    int fd = mkstemps(src, 2);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "#include \"telemetry/log.h\"\nvoid f(void);\nvoid f(void) { %s }\n", body);
    fclose(f);
    char inc[1024];
    snprintf(inc, sizeof inc, "%s", __FILE__);
    char *slash = strstr(inc, "/tests/unit/");
    assert_non_null(slash);
    strcpy(slash, "/telemetry/include");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s -std=c11 -D_GNU_SOURCE -fsyntax-only -Werror=format -I%s %s >/dev/null 2>&1", cc,
             inc, src);
    int rc = system(cmd);
    unlink(src);
    return rc == -1 ? 127 : WEXITSTATUS(rc);
}

static void test_format_checked_at_compile_time(void **state)
{
    (void)state;
#ifdef __clang__
    const char *cc = "clang-14";
#else
    const char *cc = "gcc";
#endif
    int ok = compile_snippet(cc, "tel_log(TEL_LOG_INFO, 0, 0, \"%d %s\", 1, \"x\");");
    if (ok == 127) {
        printf("compiler %s not found: format check not exercised\n", cc);
        skip();
    }
    assert_int_equal(ok, 0);
    assert_int_not_equal(compile_snippet(cc, "tel_log(TEL_LOG_INFO, 0, 0, \"%d\", \"x\");"), 0);
    assert_int_not_equal(compile_snippet(cc, "tel_log_info(\"%s\", 42);"), 0);
    assert_int_not_equal(compile_snippet(cc, "tel_log_error(\"%d %d\", 1);"), 0);
}

/* ---- OTLP hand-off ---- */

typedef struct cap_exporter {
    tel_log_exporter base;
    int n;
    tel_log_record rec[8];
    char body[8][64];
    char attr_val[8][64];
    uint32_t n_attrs[8];
} cap_exporter;

static int cap_export(tel_log_exporter *self, const tel_resource *res,
                      const tel_log_record *const *recs, size_t n, uint64_t deadline)
{
    cap_exporter *c = (cap_exporter *)self;
    (void)res;
    (void)deadline;
    for (size_t i = 0; i < n && c->n < 8; i++, c->n++) {
        c->rec[c->n] = *recs[i];
        snprintf(c->body[c->n], 64, "%.*s", (int)recs[i]->body_len, recs[i]->body);
        c->n_attrs[c->n] = recs[i]->n_attrs;
        if (recs[i]->n_attrs && recs[i]->attrs[0].type == TEL_ATTR_STRING)
            snprintf(c->attr_val[c->n], 64, "%s", recs[i]->attrs[0].v.s);
    }
    return TEL_OK;
}
static int cap_shutdown(tel_log_exporter *self)
{
    (void)self;
    return TEL_OK;
}
static void cap_destroy(tel_log_exporter *self)
{
    (void)self;
}

static void test_otlp_handoff(void **state)
{
    (void)state;
    static cap_exporter cap;
    memset(&cap, 0, sizeof cap);
    cap.base.export_logs = cap_export;
    cap.base.shutdown = cap_shutdown;
    cap.base.destroy = cap_destroy;
    tel_blrp_config cfg = {64, 64, 60000, 5000};
    tel_log_processor *p = tel_blrp_create(&cap.base, NULL, &cfg);
    assert_non_null(p);
    assert_null(tel_log_set_processor(p));

    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1.0, NULL);
    tel_span *s = tel_span_start(tt.tracer, "op", TEL_SPAN_KIND_SERVER, NULL);
    tel_span_set_current(s);
    tel_attr a[] = {TEL_ATTR_STR("password", "hunter2")};
    tel_log(TEL_LOG_WARN, a, 1, "disk %d%% full", 93);
    tel_span_set_current(NULL);
    tel_log(TEL_LOG_DEBUG, NULL, 0, "no span");
    assert_int_equal(tel_log_processor_force_flush(p, 5000), TEL_OK);
    assert_ptr_equal(tel_log_set_processor(NULL), p);
    tel_log_info("not exported");
    assert_int_equal(tel_log_processor_shutdown(p, 5000), TEL_OK);
    free(take_output(NULL));

    assert_int_equal(cap.n, 2);
    tel_span_context sc = tel_span_get_context(s);
    const tel_log_record *r = &cap.rec[0];
    assert_int_equal(r->severity_number, TEL_SEVERITY_WARN);
    assert_string_equal(cap.body[0], "disk 93% full");
    assert_true(r->has_span);
    assert_memory_equal(r->trace_id, sc.trace_id, 16);
    assert_memory_equal(r->span_id, sc.span_id, 8);
    assert_int_equal(r->trace_flags, sc.flags);
    assert_true(r->time_ns != 0 && r->observed_time_ns == r->time_ns);
    assert_string_equal(r->scope_name, "bmcfleet.log");
    assert_int_equal(cap.n_attrs[0], 1);
    assert_string_equal(cap.attr_val[0], TEL_REDACTED);
    assert_int_equal(cap.rec[1].severity_number, TEL_SEVERITY_DEBUG);
    assert_false(cap.rec[1].has_span);
    tel_log_processor_destroy(p);
    tel_span_end(s);
    test_tracing_cleanup(&tt);
}

/* ---- Steady state: no allocation per line ---- */

static void test_no_allocation_per_line(void **state)
{
    (void)state;
#if ALLOC_COUNT
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1.0, NULL);
    tel_span *s = tel_span_start(tt.tracer, "op", TEL_SPAN_KIND_SERVER, NULL);
    tel_span_set_current(s);
    tel_attr a[] = {TEL_ATTR_STR("server_id", "srv-42"), TEL_ATTR_INT64("attempt", 2),
                    TEL_ATTR_STR("bmc.password", "x")};
    for (int i = 0; i < 10; i++) /* warm up: the thread's buffers grow once */
        tel_log(TEL_LOG_INFO, a, 3, "power %s for %s (%d)", "on", "srv-42", i);
    long before = atomic_load(&allocs);
    for (int i = 0; i < 1000; i++)
        tel_log(TEL_LOG_INFO, a, 3, "power %s for %s (%d)", "on", "srv-42", i);
    long after = atomic_load(&allocs);
    assert_int_equal(after - before, 0);
    char *out = take_output(NULL);
    assert_int_equal(count_lines(out), 1010);
    free(out);
    tel_span_set_current(NULL);
    tel_span_end(s);
    test_tracing_cleanup(&tt);
#else
    skip();
#endif
}

/* tel_init wires the log pipeline from OTEL_LOGS_EXPORTER and names the service on every line;
 * tel_shutdown flushes it. In a child: the process-wide SDK is global state. */
static void test_init_wiring(void **state)
{
    (void)state;
    char path[] = "/tmp/test_log_init_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("OTEL_TRACES_EXPORTER", "none", 1);
        setenv("OTEL_LOGS_EXPORTER", "file", 1);
        setenv("OTEL_EXPORTER_FILE_LOGS_PATH", path, 1);
        setenv("OTEL_SERVICE_NAME", "svc-from-init", 1);
        if (tel_init("default-name", "1.2.3") != TEL_OK) _exit(2);
        tel_attr a = TEL_ATTR_STR("bmc.password", "hunter2");
        tel_log(TEL_LOG_WARN, &a, 1, "hello %s", "otlp");
        tel_shutdown();
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    json_t *line = one_line(); /* the stderr line (fd inherited) */
    assert_string_equal(jstr(line, "service"), "svc-from-init");
    json_decref(line);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    buf[n] = '\0';
    json_t *req = json_loadb(buf, n, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(req);
    json_t *rl = json_array_get(json_object_get(req, "resourceLogs"), 0);
    json_t *rattrs = json_object_get(json_object_get(rl, "resource"), "attributes");
    bool svc = false;
    for (size_t i = 0; i < json_array_size(rattrs); i++) {
        json_t *kv = json_array_get(rattrs, i);
        if (strcmp(jstr(kv, "key"), "service.name") == 0)
            svc = strcmp(jstr(json_object_get(kv, "value"), "stringValue"), "svc-from-init") == 0;
    }
    assert_true(svc);
    json_t *rec = json_array_get(
        json_object_get(json_array_get(json_object_get(rl, "scopeLogs"), 0), "logRecords"), 0);
    assert_string_equal(jstr(json_object_get(rec, "body"), "stringValue"), "hello otlp");
    assert_int_equal(json_integer_value(json_object_get(rec, "severityNumber")), 13);
    assert_null(strstr(buf, "hunter2"));
    json_decref(req);
    tel_log_set_service("unit-test");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_level_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_shape_and_timestamp, setup, teardown),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test_setup_teardown(test_correlation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service, setup, teardown),
        cmocka_unit_test(test_format_checked_at_compile_time),
        cmocka_unit_test_setup_teardown(test_otlp_handoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_allocation_per_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_wiring, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
