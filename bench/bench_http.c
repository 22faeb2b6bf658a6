/* HTTP server benchmark: the core HTTP server (libwebsockets, one service thread) in-process,
 * serving GET /v1/servers/{id} from a handler that reads one row from SQLite through core_db
 * (a prepared statement, itself traced), driven by wrk on loopback.
 *
 *   http.server.rps.traced      every request sampled: extraction, SERVER span with the
 *                               semantic-convention attributes, the db CLIENT span, the
 *                               traceparent answer, http.server.request.duration,
 *                               http.server.active_requests and db.client.operation.duration;
 *                               spans go through the batch processor to a discarding exporter
 *   http.server.rps.untraced    the same binary re-run as a child with OTEL_SDK_DISABLED=true
 *   http.server.overhead_pct    (untraced - traced) / untraced
 *
 * Each measurement is a separate child process running wrk (1 thread) for BENCH_HTTP_SECONDS
 * (default 5) after a 1 s warm-up, with 2 and with 20 connections. Modes are interleaved
 * (traced, untraced, untraced, traced, ...) over BENCH_HTTP_ROUNDS rounds (default 3); the
 * rps figures are medians over the rounds and the overhead is the median of the per-round
 * paired differences. The main lines are the 20-connection figures, the .c2 lines the
 * 2-connection ones. Every round is printed on stderr. Because rps on a small
 * shared machine moves with whatever else runs, the CPU time of the server process per request
 * (getrusage over the measured run, all its threads) is printed too:
 *   http.server.cpu_per_req.{traced,untraced}   microseconds of CPU per request
 *   http.server.cpu_overhead_pct                 (traced - untraced) / untraced
 * Diagnostics (child runs only): BENCH_HTTP_STATIC=1 answers without SQLite,
 * BENCH_HTTP_NO_TRACES / BENCH_HTTP_NO_METRICS turn one signal off in the traced mode. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/db.h"
#include "core/http_server.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

extern char **environ;

#define ROWS 1000

/* ---- An exporter that drops everything ---- */

static int discard_export(tel_span_exporter *self, const tel_resource *res,
                          const tel_span_data *const *spans, size_t n, uint64_t deadline_ns)
{
    (void)self;
    (void)res;
    (void)spans;
    (void)n;
    (void)deadline_ns;
    return TEL_OK;
}
static int discard_shutdown(tel_span_exporter *self)
{
    (void)self;
    return TEL_OK;
}
static void discard_destroy(tel_span_exporter *self)
{
    (void)self;
}
static tel_span_exporter discard = {discard_export, NULL, discard_shutdown, discard_destroy};

/* ---- The service ---- */

static core_db *db;

typedef struct row_out {
    json_t *j;
} row_out;

static int on_row(void *ud, const core_db_row *row)
{
    row_out *o = ud;
    o->j = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)core_db_row_int(row, 0), "name",
                     core_db_row_text(row, 1, NULL), "bmc_address", core_db_row_text(row, 2, NULL));
    return 1;
}

static bool static_handler;

static int h_get_server(core_http_req *req, void *ud)
{
    (void)ud;
    if (static_handler) {
        static const char body[] = "{\"id\":42,\"name\":\"node-0042\",\"bmc_address\":\"10.0.0.42\"}";
        return core_http_respond(req, 200, "application/json", body, sizeof body - 1);
    }
    const char *id = core_http_req_param(req, "id");
    char *end = NULL;
    long long v = strtoll(id, &end, 10);
    if (!end || *end)
        return core_http_respond_error(req, 400, "bad_id", "the id must be a number");
    core_db_param p = CORE_DB_P_INT(v);
    row_out o = {NULL};
    int rc = core_db_query(db, core_http_req_context(req),
                           "SELECT id, name, bmc_address FROM servers WHERE id = ?", &p, 1, on_row,
                           &o, NULL);
    if (rc != 0)
        return core_http_respond_error(req, 500, "db", "query failed");
    if (!o.j)
        return core_http_respond_error(req, 404, "not_found", "no such server");
    return core_http_respond_json(req, 200, o.j);
}

static const core_db_migration schema[] = {
    {1, "servers",
     "CREATE TABLE servers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, bmc_address TEXT NOT NULL)"},
};

/* Runs wrk and returns its Requests/sec (negative on failure); *requests gets the count. */
static double run_wrk(int port, int conns, int seconds, double *requests)
{
    char url[128], c[16], d[16];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/servers/42", port);
    snprintf(c, sizeof c, "%d", conns);
    snprintf(d, sizeof d, "%ds", seconds);
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    char *argv[] = {"wrk", "-t1", "-c", c, "-d", d, "--latency", url, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "wrk", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        fprintf(stderr, "bench_http: cannot run wrk: %s\n", strerror(rc));
        return -1;
    }
    char out[8192];
    size_t len = 0;
    ssize_t n;
    while ((n = read(pfd[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    const char *rps = strstr(out, "Requests/sec:");
    if (getenv("BENCH_HTTP_VERBOSE"))
        fputs(out, stderr);
    if (strstr(out, "Non-2xx") || strstr(out, "Socket errors"))
        fprintf(stderr, "bench_http: wrk reported errors:\n%s", out);
    if (requests) {
        const char *in = strstr(out, " requests in ");
        const char *p = in;
        while (p && p > out && p[-1] >= '0' && p[-1] <= '9')
            p--;
        *requests = in ? strtod(p, NULL) : 0;
    }
    return rps ? strtod(rps + 13, NULL) : -1;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Child: serve and measure one configuration; prints "rps <value>". */
static int child(int conns, int seconds)
{
    static_handler = getenv("BENCH_HTTP_STATIC") != NULL;
    bool disabled = getenv("OTEL_SDK_DISABLED") && strcmp(getenv("OTEL_SDK_DISABLED"), "true") == 0;
    tel_tracer_provider *tp = NULL;
    tel_tracer *tracer = NULL;
    tel_meter_provider *mp = NULL;
    if (!disabled) {
        tel_tracer_provider_config tc = {0};
        tel_attr svc = TEL_ATTR_STR("service.name", "bench-http");
        tc.resource = tel_resource_create(&svc, 1);
        tc.has_sampler = true;
        tel_sampler_init(&tc.sampler, TEL_SAMPLER_ALWAYS_ON, 0);
        tp = tel_tracer_provider_create(&tc);
        tel_bsp_config bc;
        tel_bsp_config_from_env(&bc);
        tel_tracer_provider_add_processor(tp, tel_bsp_create(&discard, &bc));
        tracer = tel_tracer_get(tp, "bench-http", "1");
        /* Diagnostic knobs: one signal at a time. */
        if (getenv("BENCH_HTTP_NO_TRACES"))
            tracer = tel_global_tracer("none", NULL); /* no global provider: a no-op tracer */
        tel_meter_provider_config mc = {.resource = tel_tracer_provider_resource(tp),
                                        .disabled = getenv("BENCH_HTTP_NO_METRICS") != NULL};
        mp = tel_meter_provider_create(&mc);
    } else {
        tel_init("bench-http", BMC_VERSION); /* reads OTEL_SDK_DISABLED: everything no-op */
        tracer = tel_global_tracer("bench-http", "1");
        tel_meter_provider_config mc = {.disabled = true};
        mp = tel_meter_provider_create(&mc);
    }

    char path[] = "/tmp/bench_http_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    unlink(path);
    core_db_options o = {.migrations = schema, .n_migrations = 1, .tracer = tracer, .meters = mp};
    if (core_db_open(&db, path, &o) != 0) {
        fprintf(stderr, "bench_http: cannot open the database\n");
        return 1;
    }
    for (int i = 1; i <= ROWS; i++) {
        char name[32], addr[32];
        snprintf(name, sizeof name, "node-%04d", i);
        snprintf(addr, sizeof addr, "10.0.%d.%d", i / 250, i % 250);
        core_db_param p[3] = {CORE_DB_P_INT(i), CORE_DB_P_TEXT(name), CORE_DB_P_TEXT(addr)};
        core_db_exec(db, NULL, "INSERT INTO servers (id, name, bmc_address) VALUES (?, ?, ?)", p, 3,
                     NULL);
    }

    core_http_server_config cfg = {.port = 0, .tracer = tracer, .meters = mp};
    core_http_server *srv = core_http_server_create(&cfg);
    core_http_server_route(srv, CORE_HTTP_GET, "/v1/servers/{id}", h_get_server, NULL);
    if (core_http_server_start(srv) != 0)
        return 1;
    int port = core_http_server_port(srv);
    run_wrk(port, conns, 1, NULL); /* warm-up */
    double requests = 0;
    double cpu0 = cpu_seconds();
    double rps = run_wrk(port, conns, seconds, &requests);
    double cpu = cpu_seconds() - cpu0;
    /* CPU of this process (service thread, export thread, everything) per request: far less
     * sensitive than rps to other load on the machine. */
    printf("rps %.1f cpu_us %.3f\n", rps, requests > 0 ? cpu * 1e6 / requests : -1.0);
    fflush(stdout);
    core_http_server_destroy(srv);
    core_db_close(db);
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    tel_meter_provider_destroy(mp);
    if (tp)
        tel_tracer_provider_destroy(tp);
    tel_shutdown();
    return rps > 0 ? 0 : 1;
}

/* Parent: runs a child with or without the SDK and returns its rps (and CPU per request). */
static double measure(const char *self, bool traced, int conns, int seconds, double *cpu_us)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        if (traced)
            unsetenv("OTEL_SDK_DISABLED");
        else
            setenv("OTEL_SDK_DISABLED", "true", 1);
        char c[16], s[16];
        snprintf(c, sizeof c, "%d", conns);
        snprintf(s, sizeof s, "%d", seconds);
        execl(self, self, "--child", c, s, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char out[256];
    size_t len = 0;
    ssize_t n;
    while ((n = read(pfd[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    const char *p = strstr(out, "rps ");
    const char *q = strstr(out, "cpu_us ");
    *cpu_us = q ? strtod(q + 7, NULL) : -1;
    return p ? strtod(p + 4, NULL) : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child(atoi(argv[2]), atoi(argv[3]));
    int seconds = getenv("BENCH_HTTP_SECONDS") ? atoi(getenv("BENCH_HTTP_SECONDS")) : 5;
    int rounds = getenv("BENCH_HTTP_ROUNDS") ? atoi(getenv("BENCH_HTTP_ROUNDS")) : 3;
    if (seconds < 1)
        seconds = 1;
    if (rounds < 1 || rounds > 20)
        rounds = 3;
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0)
        return 1;
    self[sl] = '\0';
    static const int conns[2] = {20, 2};
    double tr[2][20], un[2][20], trc[2][20], unc[2][20];
    for (int r = 0; r < rounds; r++) {
        for (int c = 0; c < 2; c++) {
            bool traced_first = (r + c) % 2 == 0;
            for (int k = 0; k < 2; k++) {
                bool traced = traced_first == (k == 0);
                double cpu = 0;
                double v = measure(self, traced, conns[c], seconds, &cpu);
                if (v <= 0) {
                    fprintf(stderr, "bench_http: a run failed (is wrk installed?)\n");
                    return 1;
                }
                (traced ? tr : un)[c][r] = v;
                (traced ? trc : unc)[c][r] = cpu;
                fprintf(stderr, "round %d, %2d connections, %-8s %.0f req/s, %.2f us CPU/req\n",
                        r + 1, conns[c], traced ? "traced" : "untraced", v, cpu);
            }
        }
    }
    for (int c = 0; c < 2; c++) {
        /* The overhead is the median of the per-round paired differences (the two runs of a
         * round are back to back, so slow drifts of the machine's other load cancel out). */
        double pair[20];
        for (int r = 0; r < rounds; r++)
            pair[r] = (un[c][r] - tr[c][r]) / un[c][r] * 100.0;
        double ov = median(pair, rounds);
        double t = median(tr[c], rounds), u = median(un[c], rounds);
        const char *suffix = c == 0 ? "" : ".c2";
        char name[64];
        snprintf(name, sizeof name, "http.server.rps.traced%s", suffix);
        bench_print(name, t, "req/s");
        snprintf(name, sizeof name, "http.server.rps.untraced%s", suffix);
        bench_print(name, u, "req/s");
        snprintf(name, sizeof name, "http.server.overhead_pct%s", suffix);
        bench_print(name, ov, "pct");
        for (int r = 0; r < rounds; r++)
            pair[r] = (trc[c][r] - unc[c][r]) / unc[c][r] * 100.0;
        double cov = median(pair, rounds);
        double tc = median(trc[c], rounds), uc = median(unc[c], rounds);
        snprintf(name, sizeof name, "http.server.cpu_per_req.traced%s", suffix);
        bench_print(name, tc, "us");
        snprintf(name, sizeof name, "http.server.cpu_per_req.untraced%s", suffix);
        bench_print(name, uc, "us");
        snprintf(name, sizeof name, "http.server.cpu_overhead_pct%s", suffix);
        bench_print(name, cov, "pct");
    }
    return 0;
}
