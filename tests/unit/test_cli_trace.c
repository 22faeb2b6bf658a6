/* bmcctl trace show: the OTLP JSON lines reader (our file exporter's lines, an OTel Collector's,
 * the test receiver's), the trace tree, the critical path, the waterfall text and JSON, and the
 * exit-code mapping of the API layer, on fixed inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli/api.h"
#include "cli/trace.h"
#include "cli/waterfall.h"
#include "telemetry/exporter.h"
#include "telemetry/processor.h"
#include "telemetry/resource.h"
#include "telemetry/trace.h"

#define TID "0af7651916cd43dd8448eb211c80319c"
#define T0 1700000000000000000ull

/* One span as an OTLP/JSON object (hex ids, string times, integer enums). */
static void span_json(char *buf, size_t cap, const char *sid, const char *parent, const char *name,
                      uint64_t start_us, uint64_t end_us, int status, const char *msg)
{
    char st[160] = "";
    if (status)
        snprintf(st, sizeof st, ",\"status\":{\"code\":%d%s%s%s}", status, msg ? ",\"message\":\"" : "",
                 msg ? msg : "", msg ? "\"" : "");
    snprintf(buf, cap,
             "{\"traceId\":\"" TID "\",\"spanId\":\"%s\"%s%s%s,\"name\":\"%s\",\"kind\":2,"
             "\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\"%s}",
             sid, parent ? ",\"parentSpanId\":\"" : "", parent ? parent : "", parent ? "\"" : "",
             name, (unsigned long long)(T0 + start_us * 1000), (unsigned long long)(T0 + end_us * 1000),
             st);
}

/* A request line with the given spans of one service. */
static void request_line(char *buf, size_t cap, const char *service, const char *const *spans,
                         size_t n)
{
    int off = snprintf(buf, cap,
                       "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                       "\"value\":{\"stringValue\":\"%s\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
                       "\"t\"},\"spans\":[",
                       service);
    for (size_t i = 0; i < n; i++)
        off += snprintf(buf + off, cap - (size_t)off, "%s%s", i ? "," : "", spans[i]);
    snprintf(buf + off, cap - (size_t)off, "]}]}]}");
}

static void add(cli_span_set *set, const char *service, const char *sid, const char *parent,
                const char *name, uint64_t s, uint64_t e, int status, const char *msg)
{
    char sp[1024], line[2048];
    span_json(sp, sizeof sp, sid, parent, name, s, e, status, msg);
    const char *spans[] = {sp};
    request_line(line, sizeof line, service, spans, 1);
    assert_int_equal(cli_span_set_add_line(set, line, strlen(line), NULL), 0);
}

static long row_of(const cli_trace_tree *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->rows[i].span->name, name) == 0)
            return (long)i;
    return -1;
}

static uint8_t tid[16];

static int setup(void **state)
{
    (void)state;
    assert_true(cli_trace_id_parse(TID, tid));
    return 0;
}

/* The fleet's shape: bmcctl -> gateway -> (manager lookup, then agent -> ipmi). */
static void build_fleet(cli_span_set *set)
{
    cli_span_set_init(set);
    add(set, "bmcctl", "a000000000000001", NULL, "bmcctl power", 0, 1000, 0, NULL);
    add(set, "bmcctl", "a000000000000002", "a000000000000001", "POST", 20, 980, 0, NULL);
    add(set, "bmc-gateway", "b000000000000001", "a000000000000002", "POST /v1/servers/{id}/power",
        40, 960, 0, NULL);
    add(set, "bmc-gateway", "b000000000000002", "b000000000000001", "GET", 60, 200, 0, NULL);
    add(set, "bmc-manager", "c000000000000001", "b000000000000002", "GET /v1/internal/servers/{id}",
        80, 180, 0, NULL);
    add(set, "bmc-manager", "c000000000000002", "c000000000000001", "SELECT servers", 90, 120, 0,
        NULL);
    add(set, "bmc-gateway", "b000000000000003", "b000000000000001", "bmcfleet.agent.v1.Agent/Power",
        220, 940, 0, NULL);
    add(set, "bmc-agent", "d000000000000001", "b000000000000003", "bmcfleet.agent.v1.Agent/Power",
        240, 930, 0, NULL);
    add(set, "bmc-agent", "d000000000000002", "d000000000000001", "ipmi.session", 250, 500, 0, NULL);
    add(set, "bmc-agent", "d000000000000003", "d000000000000001", "ipmi.chassis_status", 510, 920, 2,
        "timeout");
}

static void test_reader_formats(void **state)
{
    (void)state;
    cli_span_set set;
    cli_span_set_init(&set);
    /* our exporter's shape */
    add(&set, "bmcctl", "a000000000000001", NULL, "root", 0, 10, 0, NULL);
    /* metrics and logs lines are skipped without complaint; blank lines too */
    const char *metrics = "{\"resourceMetrics\":[]}";
    const char *logs = "{\"resourceLogs\":[{}]}";
    assert_int_equal(cli_span_set_add_line(&set, metrics, strlen(metrics), NULL), 0);
    assert_int_equal(cli_span_set_add_line(&set, logs, strlen(logs), NULL), 0);
    assert_int_equal(cli_span_set_add_line(&set, "  \n", 3, NULL), 0);
    /* malformed: counted */
    const char *junk = "{\"resourceSpans\":[";
    assert_int_equal(cli_span_set_add_line(&set, junk, strlen(junk), NULL), 0);
    assert_int_equal(set.bad, 1);
    /* collector-style: base64 ids, numeric times, enum names, older scope key */
    const char *coll =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"bmc-agent\"}}]},\"instrumentationLibrarySpans\":[{\"spans\":[{"
        "\"traceId\":\"CvdlGRbNQ92ESOshHIAxnA==\",\"spanId\":\"oAAAAAAAAAI=\",\"parentSpanId\":"
        "\"oAAAAAAAAAE=\",\"name\":\"ipmi.power\",\"kind\":\"SPAN_KIND_CLIENT\","
        "\"startTimeUnixNano\":1700000000000002000,\"endTimeUnixNano\":1700000000000005000,"
        "\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"bmc down\"}}]}]}]}";
    assert_int_equal(cli_span_set_add_line(&set, coll, strlen(coll), NULL), 0);
    /* the test receiver's --out shape */
    char sp[1024], req[2048], line[2300];
    span_json(sp, sizeof sp, "a000000000000003", "a000000000000001", "recv", 3, 4, 1, NULL);
    const char *spans[] = {sp};
    request_line(req, sizeof req, "bmc-gateway", spans, 1);
    snprintf(line, sizeof line, "{\"meta\":{\"n\":1},\"request\":%s}", req);
    assert_int_equal(cli_span_set_add_line(&set, line, strlen(line), NULL), 0);
    /* the same export read twice is not duplicated */
    assert_int_equal(cli_span_set_add_line(&set, line, strlen(line), NULL), 0);
    assert_int_equal(set.n, 3);
    assert_int_equal(set.bad, 1);
    const cli_span *c = &set.spans[1];
    assert_string_equal(c->service, "bmc-agent");
    assert_memory_equal(c->trace_id, tid, 16);
    assert_int_equal(c->kind, 3);
    assert_int_equal(c->status, CLI_STATUS_ERROR);
    assert_string_equal(c->status_message, "bmc down");
    assert_int_equal(c->end_ns - c->start_ns, 3000);
    char hex[17];
    cli_hex(c->parent_id, 8, hex);
    assert_string_equal(hex, "a000000000000001");
    assert_string_equal(set.spans[2].service, "bmc-gateway");
    assert_int_equal(set.spans[2].status, CLI_STATUS_OK);
    /* filter by trace id */
    cli_span_set other;
    cli_span_set_init(&other);
    uint8_t none[16] = {1};
    assert_int_equal(cli_span_set_add_line(&other, line, strlen(line), none), 0);
    assert_int_equal(other.n, 0);
    cli_span_set_cleanup(&other);
    cli_span_set_cleanup(&set);
}

static void test_trace_id_parse(void **state)
{
    (void)state;
    uint8_t id[16];
    assert_true(cli_trace_id_parse("0AF7651916CD43DD8448EB211C80319C", id));
    assert_false(cli_trace_id_parse("00000000000000000000000000000000", id));
    assert_false(cli_trace_id_parse("0af7651916cd43dd8448eb211c80319", id));
    assert_false(cli_trace_id_parse("traces.jsonl", id));
}

static void test_tree_and_critical_path(void **state)
{
    (void)state;
    cli_span_set set;
    build_fleet(&set);
    cli_trace_tree t;
    assert_int_equal(cli_trace_tree_build(&set, tid, &t), 0);
    assert_int_equal(t.n, 10);
    assert_int_equal(t.n_services, 4);
    assert_int_equal(t.end_ns - t.start_ns, 1000000);
    /* depth-first order by start */
    const char *order[] = {"bmcctl power", "POST", "POST /v1/servers/{id}/power", "GET",
                           "GET /v1/internal/servers/{id}", "SELECT servers",
                           "bmcfleet.agent.v1.Agent/Power", "bmcfleet.agent.v1.Agent/Power",
                           "ipmi.session", "ipmi.chassis_status"};
    int depth[] = {0, 1, 2, 3, 4, 5, 3, 4, 5, 5};
    for (size_t i = 0; i < 10; i++) {
        assert_string_equal(t.rows[i].span->name, order[i]);
        assert_int_equal(t.rows[i].depth, depth[i]);
    }
    assert_int_equal(t.rows[3].parent, 2);
    assert_int_equal(t.rows[6].parent, 2);
    /* critical path: root, POST, gateway server, Power client, agent Power, chassis_status (last
     * to finish), then going back: ipmi.session (before it), then GET -> manager -> SELECT
     * (before the Power call). */
    bool crit[] = {true, true, true, true, true, true, true, true, true, true};
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(t.rows[i].critical, crit[i]);
    /* slowest critical leaf: chassis_status (410 us) over session (250) and SELECT (30) */
    assert_int_equal(t.slowest_leaf, row_of(&t, "ipmi.chassis_status"));
    cli_trace_tree_cleanup(&t);
    cli_span_set_cleanup(&set);
}

static void test_critical_path_parallel(void **state)
{
    (void)state;
    /* A(0-100) with B(10-90) and C(20-50) in parallel: B finishes last; C ran within B's time,
     * so it is not critical. D(92-99) runs after B: critical, and shorter than B. */
    cli_span_set set;
    cli_span_set_init(&set);
    add(&set, "s", "0000000000000001", NULL, "A", 0, 100, 0, NULL);
    add(&set, "s", "0000000000000002", "0000000000000001", "B", 10, 90, 0, NULL);
    add(&set, "s", "0000000000000003", "0000000000000001", "C", 20, 50, 0, NULL);
    add(&set, "s", "0000000000000004", "0000000000000001", "D", 92, 99, 0, NULL);
    cli_trace_tree t;
    assert_int_equal(cli_trace_tree_build(&set, tid, &t), 0);
    assert_true(t.rows[row_of(&t, "A")].critical);
    assert_true(t.rows[row_of(&t, "B")].critical);
    assert_false(t.rows[row_of(&t, "C")].critical);
    assert_true(t.rows[row_of(&t, "D")].critical);
    assert_int_equal(t.slowest_leaf, row_of(&t, "B"));
    cli_trace_tree_cleanup(&t);
    /* a child outliving its parent is clipped to the parent's end, and still critical */
    add(&set, "s", "0000000000000005", "0000000000000004", "E", 95, 150, 0, NULL);
    assert_int_equal(cli_trace_tree_build(&set, tid, &t), 0);
    assert_true(t.rows[row_of(&t, "E")].critical);
    assert_int_equal(t.end_ns - t.start_ns, 150000);
    cli_trace_tree_cleanup(&t);
    cli_span_set_cleanup(&set);
}

static void test_orphans_and_cycles(void **state)
{
    (void)state;
    cli_span_set set;
    cli_span_set_init(&set);
    /* the root is missing: both children become roots, ordered by start */
    add(&set, "bmc-agent", "0000000000000003", "00000000000000ff", "late", 50, 60, 0, NULL);
    add(&set, "bmc-gateway", "0000000000000002", "00000000000000ff", "early", 10, 70, 0, NULL);
    /* a cycle (x <-> y) must not hang or lose spans */
    add(&set, "s", "0000000000000010", "0000000000000011", "x", 80, 90, 0, NULL);
    add(&set, "s", "0000000000000011", "0000000000000010", "y", 81, 89, 0, NULL);
    cli_trace_tree t;
    assert_int_equal(cli_trace_tree_build(&set, tid, &t), 0);
    assert_int_equal(t.n, 4);
    assert_string_equal(t.rows[0].span->name, "early");
    assert_int_equal(t.rows[0].depth, 0);
    assert_string_equal(t.rows[1].span->name, "late");
    assert_int_equal(t.rows[1].depth, 0);
    assert_true(t.rows[0].critical);  /* the earliest root carries the critical path */
    assert_false(t.rows[1].critical);
    assert_int_equal(t.slowest_leaf, 0);
    cli_trace_tree_cleanup(&t);
    /* an unknown trace gives an empty tree */
    uint8_t other[16] = {9};
    assert_int_equal(cli_trace_tree_build(&set, other, &t), 0);
    assert_int_equal(t.n, 0);
    assert_int_equal(t.slowest_leaf, -1);
    cli_trace_tree_cleanup(&t);
    cli_span_set_cleanup(&set);
}

static char *render(const cli_trace_tree *t, int width, bool json)
{
    /* static: open_memstream keeps the addresses until fclose (and gcc's dangling-pointer
     * analysis cannot see that it stops there) */
    static char *text;
    static size_t len;
    text = NULL;
    len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    cli_waterfall_opts o = {.width = width};
    assert_int_equal(json ? cli_waterfall_write_json(t, f) : cli_waterfall_write(t, &o, f), 0);
    fclose(f);
    return text;
}

/* The line of the output that contains needle (a copy), or NULL. */
static char *line_with(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    if (!p)
        return NULL;
    const char *b = p, *e = p;
    while (b > text && b[-1] != '\n')
        b--;
    while (*e && *e != '\n')
        e++;
    char *l = malloc((size_t)(e - b) + 1);
    memcpy(l, b, (size_t)(e - b));
    l[e - b] = '\0';
    return l;
}

static void test_waterfall_text(void **state)
{
    (void)state;
    cli_span_set set;
    build_fleet(&set);
    cli_trace_tree t;
    assert_int_equal(cli_trace_tree_build(&set, tid, &t), 0);
    char *text = render(&t, 140, false);
    /* header */
    assert_non_null(strstr(text, "Trace " TID "  10 spans, 4 services, 1.000ms\n"));
    assert_non_null(strstr(text, "SERVICE"));
    assert_non_null(strstr(text, "TIMELINE"));
    /* the root: offset 0, full bar */
    char *l = line_with(text, "bmcctl power");
    assert_non_null(l);
    assert_true(l[0] == '*');
    assert_non_null(strstr(l, "1.000ms"));
    const char *bar = strchr(l, '|');
    assert_non_null(bar);
    const char *bar_end = strchr(bar + 1, '|');
    assert_non_null(bar_end);
    for (const char *c = bar + 1; c < bar_end; c++)
        assert_int_equal(*c, '#');
    size_t wbar = (size_t)(bar_end - bar - 1);
    free(l);
    /* indentation grows with depth; services shown */
    l = line_with(text, "ipmi.chassis_status");
    assert_non_null(l);
    assert_non_null(strstr(l, "bmc-agent"));
    assert_non_null(strstr(l, "          ipmi.chassis_status")); /* depth 5 = 10 spaces */
    assert_non_null(strstr(l, "510.0us"));                     /* offset */
    assert_non_null(strstr(l, "410.0us"));                     /* duration */
    assert_non_null(strstr(l, "ERROR: timeout"));
    assert_non_null(strstr(l, "<-- slowest"));
    /* its bar starts about half way and ends near the end */
    bar = strchr(l, '|');
    size_t first = strcspn(bar + 1, "#");
    assert_true(first >= wbar * 50 / 100 && first <= wbar * 52 / 100);
    free(l);
    /* exactly one slowest marker; a legend names it */
    assert_null(strstr(strstr(text, "<-- slowest") + 1, "<-- slowest"));
    assert_non_null(strstr(text, "slowest leaf on it: bmc-agent \"ipmi.chassis_status\" (410.0us)"));
    /* every line but the legend fits the width */
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, "* critical path", 15) != 0 && !strstr(p, "ERROR"))
            assert_true(n <= 140);
        p += n + (nl ? 1 : 0);
    }
    free(text);
    /* narrow terminals still get a usable bar */
    text = render(&t, 60, false);
    l = line_with(text, "bmcctl power");
    bar = strchr(l, '|');
    assert_true(strchr(bar + 1, '|') - bar - 1 >= 10);
    free(l);
    free(text);
    cli_trace_tree_cleanup(&t);
    cli_span_set_cleanup(&set);
}

static void test_waterfall_json(void **state)
{
    (void)state;
    cli_span_set set;
    build_fleet(&set);
    cli_trace_tree t;
    assert_int_equal(cli_trace_tree_build(&set, tid, &t), 0);
    char *text = render(&t, 0, true);
    json_error_t e;
    json_t *o = json_loads(text, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "trace_id")), TID);
    assert_int_equal(json_integer_value(json_object_get(o, "span_count")), 10);
    json_t *spans = json_object_get(o, "spans");
    assert_int_equal(json_array_size(spans), 10);
    json_t *last = json_array_get(spans, 9);
    assert_string_equal(json_string_value(json_object_get(last, "name")), "ipmi.chassis_status");
    assert_true(json_is_true(json_object_get(last, "slowest_leaf")));
    assert_string_equal(json_string_value(json_object_get(last, "status")), "error");
    assert_int_equal(json_integer_value(json_object_get(last, "start_offset_ns")), 510000);
    assert_true(json_is_null(json_object_get(json_array_get(spans, 0), "parent_span_id")));
    json_decref(o);
    free(text);
    cli_trace_tree_cleanup(&t);
    cli_span_set_cleanup(&set);
}

static void test_format_duration(void **state)
{
    (void)state;
    char b[16];
    assert_string_equal(cli_format_duration(0, b), "0");
    assert_string_equal(cli_format_duration(999, b), "999ns");
    assert_string_equal(cli_format_duration(12345, b), "12.3us");
    assert_string_equal(cli_format_duration(4567000, b), "4.567ms");
    assert_string_equal(cli_format_duration(1234000000, b), "1.234s");
}

/* What our own file exporter writes is read back exactly (round trip through telemetry). */
static void test_file_exporter_roundtrip(void **state)
{
    (void)state;
    char path[] = "/tmp/test_cli_trace_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    tel_span_exporter *exp = tel_file_exporter_create(path);
    assert_non_null(exp);
    tel_tracer_provider_config cfg = {0};
    const tel_attr rattr[] = {TEL_ATTR_STR("service.name", "bmc-roundtrip")};
    cfg.resource = tel_resource_create(rattr, 1);
    tel_tracer_provider *p = tel_tracer_provider_create(&cfg);
    assert_non_null(p);
    assert_int_equal(tel_tracer_provider_add_processor(p, tel_simple_processor_create(exp, 1000)), 0);
    tel_tracer *tr = tel_tracer_get(p, "test", NULL);
    tel_span *root = tel_span_start(tr, "root", TEL_SPAN_KIND_SERVER, NULL);
    tel_context ctx;
    tel_context_init(&ctx);
    tel_context_set_span(&ctx, root);
    tel_span *child = tel_span_start(tr, "child", TEL_SPAN_KIND_CLIENT, &ctx);
    tel_span_set_status(child, TEL_STATUS_ERROR, "boom");
    tel_span_context rsc = tel_span_get_context(root);
    tel_span_end(child);
    tel_span_end(root);
    tel_context_cleanup(&ctx);
    tel_tracer_provider_shutdown(p, 1000);
    tel_tracer_provider_destroy(p);

    cli_span_set set;
    cli_span_set_init(&set);
    assert_int_equal(cli_span_set_load_file(&set, path, NULL), 0);
    unlink(path);
    assert_int_equal(set.bad, 0);
    assert_int_equal(set.n, 2);
    uint8_t ids[4][16];
    assert_int_equal(cli_span_set_trace_ids(&set, ids, 4), 1);
    assert_memory_equal(ids[0], rsc.trace_id, 16);
    cli_trace_tree t;
    assert_int_equal(cli_trace_tree_build(&set, rsc.trace_id, &t), 0);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.rows[0].span->name, "root");
    assert_string_equal(t.rows[0].span->service, "bmc-roundtrip");
    assert_int_equal(t.rows[0].span->kind, 2);
    assert_string_equal(t.rows[1].span->name, "child");
    assert_int_equal(t.rows[1].parent, 0);
    assert_int_equal(t.rows[1].span->status, CLI_STATUS_ERROR);
    assert_string_equal(t.rows[1].span->status_message, "boom");
    assert_int_equal(t.slowest_leaf, 1);
    cli_trace_tree_cleanup(&t);
    cli_span_set_cleanup(&set);
}

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(cli_api_exit_for(200, NULL), CLI_EXIT_OK);
    assert_int_equal(cli_api_exit_for(400, "invalid_action"), CLI_EXIT_USAGE);
    assert_int_equal(cli_api_exit_for(401, "invalid_credentials"), CLI_EXIT_AUTH);
    assert_int_equal(cli_api_exit_for(403, "forbidden"), CLI_EXIT_AUTH);
    assert_int_equal(cli_api_exit_for(404, "not_found"), CLI_EXIT_NOT_FOUND);
    assert_int_equal(cli_api_exit_for(503, "agent_unavailable"), CLI_EXIT_UNAVAILABLE);
    assert_int_equal(cli_api_exit_for(504, "bmc_timeout"), CLI_EXIT_UNAVAILABLE);
    assert_int_equal(cli_api_exit_for(502, "bmc_unreachable"), CLI_EXIT_UNAVAILABLE);
    assert_int_equal(cli_api_exit_for(502, "bmc_auth_failed"), CLI_EXIT_OTHER);
    assert_int_equal(cli_api_exit_for(500, "internal"), CLI_EXIT_OTHER);
    char out[64];
    assert_int_equal(cli_api_escape_segment("srv-1_a.b~", out, sizeof out), 10);
    assert_string_equal(out, "srv-1_a.b~");
    assert_true(cli_api_escape_segment("a/b' OR 1=1;--", out, sizeof out) > 0);
    assert_string_equal(out, "a%2Fb%27%20OR%201%3D1%3B--");
    assert_int_equal(cli_api_escape_segment("abcdef", out, 4), -1);
}

/* Robustness (a deterministic stand-in for a fuzzer): mutated and truncated lines never crash
 * the reader, and whatever spans come out build a tree and render. */
static void test_mutated_lines(void **state)
{
    (void)state;
    char sp1[1024], sp2[1024], base[4096];
    span_json(sp1, sizeof sp1, "a000000000000001", NULL, "root", 0, 100, 0, NULL);
    span_json(sp2, sizeof sp2, "a000000000000002", "a000000000000001", "child", 10, 50, 2, "x");
    const char *spans[] = {sp1, sp2};
    request_line(base, sizeof base, "svc", spans, 2);
    size_t len = strlen(base);
    static const char alphabet[] = "{}[]\",:0123456789abcdefABCDEF-+.eE \\ntruefalsnul";
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char *line = malloc(len + 64);
    assert_non_null(line);
    cli_span_set set;
    cli_span_set_init(&set);
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(line, base, len + 1);
        size_t n = len;
        int edits = 1 + (int)(x % 4);
        for (int e = 0; e < edits; e++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t pos = (size_t)(x % n);
            switch ((x >> 32) % 3) {
            case 0: /* replace a byte */
                line[pos] = alphabet[(x >> 40) % (sizeof alphabet - 1)];
                break;
            case 1: /* truncate */
                n = pos + 1;
                line[n] = '\0';
                break;
            default: /* delete a byte */
                memmove(line + pos, line + pos + 1, n - pos);
                n--;
                break;
            }
            if (n < 2)
                break;
        }
        assert_int_equal(cli_span_set_add_line(&set, line, n, NULL), 0);
    }
    size_t ntr = cli_span_set_trace_ids(&set, NULL, 0);
    uint8_t(*ids)[16] = calloc(ntr ? ntr : 1, sizeof *ids);
    assert_non_null(ids);
    cli_span_set_trace_ids(&set, ids, ntr);
    for (size_t i = 0; i < ntr; i++) {
        cli_trace_tree t;
        assert_int_equal(cli_trace_tree_build(&set, ids[i], &t), 0);
        char *text = render(&t, 100, false);
        free(text);
        text = render(&t, 0, true);
        free(text);
        cli_trace_tree_cleanup(&t);
    }
    assert_true(set.lines == 20000);
    free(ids);
    free(line);
    cli_span_set_cleanup(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_formats),
        cmocka_unit_test(test_trace_id_parse),
        cmocka_unit_test(test_tree_and_critical_path),
        cmocka_unit_test(test_critical_path_parallel),
        cmocka_unit_test(test_orphans_and_cycles),
        cmocka_unit_test(test_waterfall_text),
        cmocka_unit_test(test_waterfall_json),
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_file_exporter_roundtrip),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_mutated_lines),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
