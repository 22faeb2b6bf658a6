/* Renders a registry holding every instrument kind, with awkward names, units, label keys and
 * label values, and checks the exposition with real parsers:
 *   - `promtool check metrics` (Debian package prometheus) on the Prometheus 0.0.4 text: any
 *     problem it reports (parse error or lint) fails the test;
 *   - the strict OpenMetrics parser of python3-prometheus-client on the OpenMetrics text (with
 *     exemplars), when that module is installed (skipped with a message otherwise).
 * Exits 77 (skipped, with a message) only when promtool is not installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "telemetry/metrics.h"
#include "telemetry/otlp.h"
#include "telemetry/sampler.h"
#include "telemetry/trace.h"

#ifndef BMC_PROMTOOL
#define BMC_PROMTOOL "promtool"
#endif

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void observe_cpu(tel_observer *o, void *ud)
{
    (void)ud;
    tel_attr a[] = {TEL_ATTR_STR("cpu.mode", "user"), TEL_ATTR_INT64("cpu", 0)};
    tel_observe_double(o, 12.5, a, 2);
    tel_attr b[] = {TEL_ATTR_STR("cpu.mode", "system"), TEL_ATTR_INT64("cpu", 0)};
    tel_observe_double(o, 3.25, b, 2);
}

static void observe_slots(tel_observer *o, void *ud)
{
    (void)ud;
    tel_attr a[] = {TEL_ATTR_STR("pool", "ipmi/sol \"primary\"")};
    tel_observe_int(o, -2, a, 1);
}

static void observe_memory(tel_observer *o, void *ud)
{
    (void)ud;
    tel_attr a[] = {TEL_ATTR_STR("memory.state", "used")};
    tel_observe_int(o, 123456789, a, 1);
    tel_attr b[] = {TEL_ATTR_STR("memory.state", "free")};
    tel_observe_int(o, 987654321, b, 1);
}

static tel_meter_provider *build_registry(tel_resource **res_out, tel_tracer_provider **tp_out)
{
    tel_attr ra[] = {TEL_ATTR_STR("service.name", "bmc-gateway"),
                     TEL_ATTR_STR("service.instance.id", "gw-1:8081"),
                     TEL_ATTR_STR("deployment.environment", "lab \"east\"\\1\n"),
                     TEL_ATTR_INT64("process.pid", 4242),
                     TEL_ATTR_BOOLEAN("k8s.enabled", false)};
    tel_resource *res = tel_resource_create(ra, sizeof ra / sizeof ra[0]);
    tel_meter_provider_config cfg = {.resource = res, .has_exemplar_filter = true,
                                     .exemplar_filter = TEL_EXEMPLAR_TRACE_BASED};
    tel_meter_provider *p = tel_meter_provider_create(&cfg);
    tel_meter *m = tel_meter_get(p, "bmc.gateway/http", "1.0.0-rc.1+build\"5\"");
    tel_meter *m2 = tel_meter_get(p, "io.opentelemetry.contrib", NULL);

    tel_tracer_provider_config tc = {0};
    tc.has_sampler = true;
    tel_sampler_init(&tc.sampler, TEL_SAMPLER_ALWAYS_ON, 1);
    tc.resource = tel_resource_create(NULL, 0);
    tel_tracer_provider *tp = tel_tracer_provider_create(&tc);
    tel_span *sp = tel_span_start(tel_tracer_get(tp, "t", NULL), "GET /v1/servers/{id}",
                                  TEL_SPAN_KIND_SERVER, NULL);
    tel_span *prev = tel_span_set_current(sp);

    static const char invalid_utf8[] = "bad \xff\xfe utf8 \xc3";
    const char *long_value = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq"
                             "rstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";
    tel_attr awkward[] = {
        TEL_ATTR_STR("http.request.method", "GET"),
        TEL_ATTR_STR("url.path", "/v1/servers/\"42\"\\console\nnext\tline"),
        TEL_ATTR_STR("1st-key", "leading digit"),
        TEL_ATTR_STR("weird key/with spaces", "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x94\x8c"),
        {.key = "bytes", .type = TEL_ATTR_STRING, .len = sizeof invalid_utf8 - 1,
         .v.s = invalid_utf8},
        TEL_ATTR_STR("a.b", "dot"),
        TEL_ATTR_STR("a_b", "underscore"),
        TEL_ATTR_STR("__dunder", "reserved prefix"),
        TEL_ATTR_STR("le", "not a bound"),
        TEL_ATTR_STR("quantile", "not a quantile"),
        TEL_ATTR_STR("empty", ""),
        {.key = "long", .type = TEL_ATTR_STRING, .len = (uint32_t)strlen(long_value),
         .v.s = long_value},
        TEL_ATTR_STR("bmc.password", "hunter2"),
        TEL_ATTR_DBL("ratio", 0.1),
        TEL_ATTR_BOOLEAN("cached", true),
    };
    size_t na = sizeof awkward / sizeof awkward[0];
    tel_attr simple[] = {TEL_ATTR_STR("http.request.method", "POST")};

    tel_instrument *req = tel_meter_create(
        m, TEL_INSTR_COUNTER, "http.server.requests",
        &(tel_instrument_opts){.unit = "{request}", .description = "Requests \"served\"\nby\\the gateway.",
                               .value_is_int = true});
    tel_counter_add_int(req, 3, awkward, na);
    tel_counter_add_int(req, 1, simple, 1);
    tel_counter_add_int(tel_meter_create(m2, TEL_INSTR_COUNTER, "http.server.requests",
                                         &(tel_instrument_opts){.unit = "{request}",
                                                                .value_is_int = true}),
                        9, simple, 1); /* same family from another scope */
    tel_counter_add(tel_meter_create(m, TEL_INSTR_COUNTER, "net.io-sent",
                                     &(tel_instrument_opts){.unit = "By"}),
                    1.5e9, awkward, na);
    tel_counter_add_int(tel_meter_create(m, TEL_INSTR_COUNTER, "jobs_total",
                                         &(tel_instrument_opts){.unit = "{job}", .value_is_int = true}),
                        4, NULL, 0);
    tel_counter_add(tel_meter_create(m, TEL_INSTR_COUNTER, "packets.rx",
                                     &(tel_instrument_opts){.unit = "{packet}/s"}),
                    0.25, simple, 1);
    tel_instrument *ud = tel_meter_create(m, TEL_INSTR_UP_DOWN_COUNTER, "sessions.active",
                                          &(tel_instrument_opts){.unit = "{session}",
                                                                 .value_is_int = true});
    tel_counter_add_int(ud, -3, awkward, na);
    tel_counter_add_int(ud, 5, simple, 1);
    static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    tel_instrument *h = tel_meter_create(
        m, TEL_INSTR_HISTOGRAM, "http.server.request.duration",
        &(tel_instrument_opts){.unit = "s", .description = "Duration of HTTP server requests.",
                               .bounds = bounds, .n_bounds = 11});
    for (int i = 0; i < 50; i++)
        tel_histogram_record(h, 0.001 * i * i, awkward, na);
    tel_histogram_record(h, 1e9, simple, 1);
    tel_histogram_record(h, 0.0, simple, 1);
    tel_instrument *hn = tel_meter_create(m, TEL_INSTR_HISTOGRAM, "temperature.delta",
                                          &(tel_instrument_opts){.unit = "Cel"});
    tel_histogram_record(hn, -4.5, NULL, 0); /* negative: no _sum */
    tel_histogram_record(hn, 12, NULL, 0);
    tel_instrument *hd = tel_meter_create(m, TEL_INSTR_HISTOGRAM, "payload.size",
                                          &(tel_instrument_opts){.unit = "By"});
    tel_histogram_record(hd, 512, simple, 1);
    tel_instrument *g = tel_meter_create(m, TEL_INSTR_GAUGE, "cpu.utilization",
                                         &(tel_instrument_opts){.unit = "1"});
    tel_gauge_set(g, 0.37, awkward, na);
    tel_gauge_set(g, NAN, simple, 1);
    tel_gauge_set_int(tel_meter_create(m, TEL_INSTR_GAUGE, "queue/depth",
                                       &(tel_instrument_opts){.unit = "{item}", .value_is_int = true}),
                      -17, NULL, 0);
    tel_gauge_set(tel_meter_create(m, TEL_INSTR_GAUGE, "link.rate",
                                   &(tel_instrument_opts){.unit = "By/s"}),
                  INFINITY, NULL, 0);
    tel_meter_create_observable(m, TEL_INSTR_OBSERVABLE_COUNTER, "process.cpu.time",
                                &(tel_instrument_opts){.unit = "s"}, observe_cpu, NULL);
    tel_meter_create_observable(m, TEL_INSTR_OBSERVABLE_UP_DOWN_COUNTER, "pool.free-slots",
                                &(tel_instrument_opts){.unit = "{slot}", .value_is_int = true},
                                observe_slots, NULL);
    tel_meter_create_observable(m, TEL_INSTR_OBSERVABLE_GAUGE, "process.memory.usage",
                                &(tel_instrument_opts){.unit = "By", .value_is_int = true},
                                observe_memory, NULL);
    tel_span_set_current(prev);
    tel_span_end(sp);
    *res_out = res;
    *tp_out = tp;
    return p;
}

static char *write_temp(const tel_buf *b, const char *suffix)
{
    char *path = malloc(64);
    snprintf(path, 64, "/tmp/bmc_promtool_XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0) {
        perror("mkstemps");
        exit(1);
    }
    if (write(fd, b->data, b->len) != (ssize_t)b->len) {
        perror("write");
        exit(1);
    }
    close(fd);
    return path;
}

/* Runs cmd with stdin from `in`; returns its exit status and prints what it said. */
static int run(const char *cmd, const char *in, bool *said_something)
{
    char full[1024];
    char out[] = "/tmp/bmc_promtool_out_XXXXXX";
    int fd = mkstemp(out);
    if (fd < 0)
        return -1;
    close(fd);
    snprintf(full, sizeof full, "%s < %s > %s 2>&1", cmd, in, out);
    int st = system(full);
    FILE *f = fopen(out, "r");
    char line[1024];
    *said_something = false;
    while (f && fgets(line, sizeof line, f)) {
        *said_something = true;
        fprintf(stderr, "  | %s", line);
    }
    if (f)
        fclose(f);
    unlink(out);
    return st == -1 ? -1 : WEXITSTATUS(st);
}

static const char om_check[] =
    "import sys\n"
    "from prometheus_client.openmetrics.parser import text_string_to_metric_families\n"
    "fams = list(text_string_to_metric_families(sys.stdin.read()))\n"
    "ex = sum(1 for f in fams for s in f.samples if s.exemplar)\n"
    "assert any(f.name == 'target' and f.type == 'info' for f in fams), 'no target info'\n"
    "assert ex > 0, 'no exemplar'\n"
    "for f in fams:\n"
    "    for s in f.samples:\n"
    "        if s.exemplar:\n"
    "            assert s.name.endswith('_total') or s.name.endswith('_bucket'), s.name\n"
    "            assert len(s.exemplar.labels['trace_id']) == 32\n"
    "print('openmetrics ok: %d families, %d exemplars' % (len(fams), ex), file=sys.stderr)\n";

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    char probe[600];
    snprintf(probe, sizeof probe, "command -v %s >/dev/null 2>&1", BMC_PROMTOOL);
    if (system(probe) != 0) {
        printf("SKIP: promtool not installed (Debian package prometheus; "
               "`make -f Makefile.dev deps`)\n");
        return 77;
    }
    tel_resource *res;
    tel_tracer_provider *tp;
    tel_meter_provider *p = build_registry(&res, &tp);

    tel_buf text = TEL_BUF_INIT, om = TEL_BUF_INIT;
    CHECK(tel_prometheus_render(p, false, &text) == TEL_OK);
    CHECK(tel_prometheus_render(p, true, &om) == TEL_OK);
    CHECK(text.len > 1000 && om.len > 1000);
    CHECK(!memmem(text.data, text.len, "trace_id", 8));
    CHECK(memmem(om.data, om.len, "trace_id", 8) != NULL);
    CHECK(memmem(text.data, text.len, "hunter2", 7) == NULL);
    CHECK(memmem(text.data, text.len, "[REDACTED]", 10) != NULL);

    char *tpath = write_temp(&text, ".prom");
    char *opath = write_temp(&om, ".om");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s check metrics", BMC_PROMTOOL);
    bool said;
    int st = run(cmd, tpath, &said);
    printf("promtool check metrics: exit %d%s\n", st, said ? " (problems above)" : ", no problems");
    CHECK(st == 0 && !said);

    const char *pys[] = {"/usr/bin/python3", "python3"};
    const char *py = NULL;
    for (size_t i = 0; i < 2 && !py; i++) {
        char c[256];
        snprintf(c, sizeof c, "%s -c 'import prometheus_client.openmetrics.parser' >/dev/null 2>&1",
                 pys[i]);
        if (system(c) == 0)
            py = pys[i];
    }
    if (py) {
        tel_buf script = TEL_BUF_INIT;
        tel_buf_append(&script, om_check, strlen(om_check));
        char *spath = write_temp(&script, ".py");
        snprintf(cmd, sizeof cmd, "%s %s", py, spath);
        st = run(cmd, opath, &said);
        printf("OpenMetrics parser (python3-prometheus-client): exit %d\n", st);
        CHECK(st == 0);
        unlink(spath);
        free(spath);
        tel_buf_free(&script);
    } else {
        printf("note: OpenMetrics check skipped: python3 module prometheus_client not installed "
               "(Debian package python3-prometheus-client)\n");
    }
    if (failures) {
        fprintf(stderr, "--- Prometheus text (%s) ---\n%.*s--- OpenMetrics text (%s) ---\n%.*s",
                tpath, (int)text.len, (const char *)text.data, opath, (int)om.len,
                (const char *)om.data);
    } else {
        unlink(tpath);
        unlink(opath);
    }
    free(tpath);
    free(opath);
    tel_buf_free(&text);
    tel_buf_free(&om);
    tel_meter_provider_destroy(p);
    tel_tracer_provider_destroy(tp);
    tel_resource_destroy(res);
    printf("%s\n", failures ? "FAIL" : "PASS");
    return failures ? 1 : 0;
}
