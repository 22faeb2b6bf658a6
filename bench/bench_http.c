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
 * (traced, untraced, untraced, traced, ...) over BENCH_HTTP_ROUNDS rounds (default 7); the
 * rps figures are medians over the rounds and the overhead is the median of the per-round
 * paired differences (the two runs of a round are back to back, so slow drifts of the
 * machine's other load cancel out). The main lines are the 20-connection figures (the server
 * saturated: its per-request cost shows fully), the .c2 lines the latency-bound 2-connection
 * ones. Every run is printed on stderr.
 *
 * With two CPUs or more the server's service thread is pinned to one CPU and wrk to another
 * (BENCH_HTTP_SERVER_CPU, default the first allowed CPU; BENCH_HTTP_WRK_CPU, default the next
 * one; BENCH_HTTP_PIN=0 turns pinning off), so that req/s is what one CPU gives the service
 * thread (the server is single-threaded: that is its throughput limit), not what the scheduler
 * happens to share with the load generator. The SDK's export thread (the batch span processor)
 * runs on wrk's CPU by default, as it would on another core of a real host: it is off the
 * request path by design. BENCH_HTTP_EXPORT_CPU=server puts it on the service thread's CPU
 * instead, so that its work costs req/s too. Either way http.server.cpu_per_req counts it.
 *
 * A 20-connection run is meant to saturate the service thread: its process's CPU time over the
 * run's wall time (printed as util) is then about 1. When other load on the machine took the
 * CPU away (util below BENCH_HTTP_MIN_UTIL, default 0.9, in either run of a round), req/s says
 * little about the server: the round is run again after a pause, up to BENCH_HTTP_RETRIES times
 * (default 3); a round still disturbed then is left out of the req/s figures (not of the CPU
 * ones) unless no round was clean.
 *
 * Because rps on a small shared machine moves with whatever else runs, the CPU time of the
 * server process per request (getrusage over the measured run, all its threads) is printed
 * too, the steadier figure:
 *   http.server.cpu_per_req.{traced,untraced}   microseconds of CPU per request (medians)
 *   http.server.cpu_overhead_pct                 median of the per-round (traced - untraced)
 *                                                / untraced
 * A run whose span queue overflowed (spans dropped, so not all the work measured) is marked on
 * its stderr line.
 *
 * Back-to-back runs on this kind of machine still differ by several percent from one second to
 * the next, which is why one bench run could print 2.4 one time and 4.6 the next. The paired
 * measurement takes that out: a traced and an untraced server run at the same time, both service
 * threads on the service CPU, each loaded by its own wrk (10 connections) for
 * BENCH_HTTP_PAIRED_SECONDS (default 3), BENCH_HTTP_PAIRED_SAMPLES times (default 4) per trial;
 * whatever else happens on the machine slows both alike. The cost compared is each service
 * thread's CPU time (schedstat, in ns) per completed request. A pair of processes carries a
 * cost offset of its own (where its memory lands in the caches: about a percent), so there are
 * BENCH_HTTP_PAIRED_TRIALS trials (default 4; 0: none) with fresh processes:
 *   http.server.service_ns_per_req.{traced,untraced}   medians over every sample
 *   http.server.service_overhead_pct                   mean over the trials of the median
 *                                                      per-sample (traced - untraced) / untraced
 * This is the service thread's own cost; the export thread's CPU (on the other CPU) is in
 * http.server.cpu_overhead_pct, not here.
 *
 * The paired figure cannot see what a server's memory traffic costs it: the traced server's
 * cache footprint slows its untraced partner on the same CPU as much as itself. The alternating
 * measurement (see alternating(); BENCH_HTTP_ALT_SECONDS, default 120, 0: none;
 * BENCH_HTTP_ALT_WINDOW_MS, default 200) runs each server alone in turns of a fraction of a
 * second, hundreds of times, and prints the mean per-turn overhead with its standard error:
 *   http.server.alternating_ns_per_req.{traced,untraced}, http.server.alternating_overhead_pct
 *   and http.server.alternating_overhead_pct.se (and .median: the turns' overheads have heavy
 *   tails); http.server.alternating_added_ns_per_req (and .se) is the same difference in ns, what
 *   the telemetry adds to a request whatever the request itself costs
 *
 * With pinning, http.server.machine.line_rtt is the round trip of a cache line between the
 * service thread's CPU and the export thread's (bench_line_rtt_ns): span records cross there,
 * and what that costs the service thread (the slots' lines taken back from the other CPU) is a
 * good part of the overhead. It depends on the hardware and, on a VM, on where its CPUs run
 * (200 to 600 ns from one run to the next where this was written; the overhead was about twice
 * as high as on the earlier machine where it was not yet printed): compare figures only between
 * runs with similar values. http.server.machine.wake_us is what the service thread pays to wake
 * the export thread asleep on its CPU (bench_wake_us), once per batch of 512 spans.
 *
 * Diagnostics (child runs only): BENCH_HTTP_STATIC=1 answers without SQLite,
 * BENCH_HTTP_NO_TRACES / BENCH_HTTP_NO_METRICS turn one signal off in the traced mode,
 * BENCH_HTTP_NO_DB_TRACES the database's spans only, BENCH_HTTP_NO_PROC records spans but gives
 * them to no processor (nothing queued or exported). BENCH_HTTP_BASELINE=path/to/bench_http
 * makes the paired and alternating measurements compare two builds: the "untraced" server is
 * then that binary, traced (the rounds still compare this build's traced and untraced modes); a
 * script that sets an environment variable and execs a bench_http compares two settings of one
 * build. Any two server processes differ by up to about a percent in the alternating figure
 * (where their memory lands): swap the roles before reading a difference that small. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_db.h"
#include "bench_discard.h"
#include "bench_util.h"
#include "core/db.h"
#include "core/http_server.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"



/* ---- The service ---- */

static bench_db bdb;

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

/* Requests answered by the handler (serve mode reports it): the service thread is the only
 * writer. */
static _Atomic unsigned long long served;

static int h_get_server(core_http_req *req, void *ud)
{
    (void)ud;
    atomic_store_explicit(&served, atomic_load_explicit(&served, memory_order_relaxed) + 1,
                          memory_order_relaxed);
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
    int rc = core_db_query(bdb.db, core_http_req_context(req), BENCH_DB_SELECT, &p, 1, on_row, &o,
                           NULL);
    if (rc != 0)
        return core_http_respond_error(req, 500, "db", "query failed");
    if (!o.j)
        return core_http_respond_error(req, 404, "not_found", "no such server");
    return core_http_respond_json(req, 200, o.j);
}

/* ---- CPU pinning ---- */

static int pin_server = -1, pin_wrk = -1, pin_export = -1; /* CPUs, or -1: not pinned */

/* Picks the CPUs from the allowed set and the BENCH_HTTP_* variables (parent, once). */
static void choose_cpus(void)
{
    const char *pin = getenv("BENCH_HTTP_PIN");
    if (pin && strcmp(pin, "0") == 0)
        return;
    int two[2];
    if (bench_two_cpus(two) < 2)
        return;
    int first = two[0], second = two[1];
    const char *sc = getenv("BENCH_HTTP_SERVER_CPU"), *wc = getenv("BENCH_HTTP_WRK_CPU");
    pin_server = sc ? atoi(sc) : first;
    pin_wrk = wc ? atoi(wc) : (pin_server == first ? second : first);
    if (pin_server == pin_wrk || pin_server < 0 || pin_wrk < 0 || pin_server >= CPU_SETSIZE ||
        pin_wrk >= CPU_SETSIZE) {
        fprintf(stderr, "bench_http: bad CPU choice (server %d, wrk %d): not pinning\n", pin_server,
                pin_wrk);
        pin_server = pin_wrk = -1;
    }
    const char *ec = getenv("BENCH_HTTP_EXPORT_CPU");
    pin_export = ec && strcmp(ec, "server") == 0 ? pin_server : pin_wrk;
}

/* Pins the calling process (and the threads it starts later) to cpu (-1: no-op). */
static void pin_self(int cpu)
{
    if (cpu >= 0 && bench_pin_cpu(cpu) != 0)
        fprintf(stderr, "bench_http: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
}

/* A wrk run under way: its process and the read end of its stdout. */
typedef struct wrk_run {
    pid_t pid;
    int fd;
} wrk_run;

/* Starts wrk (pinned to cpu, -1: not pinned) against the server on port: conns connections, one
 * thread, for seconds. Returns nonzero when it cannot be started. */
static int wrk_start(wrk_run *w, int port, int conns, int seconds, int cpu)
{
    char url[128], c[16], d[16];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/servers/42", port);
    snprintf(c, sizeof c, "%d", conns);
    snprintf(d, sizeof d, "%ds", seconds);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -1;
    char *argv[] = {"wrk", "-t1", "-c", c, "-d", d, "--latency", url, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        pin_self(cpu);
        execvp("wrk", argv);
        _exit(127);
    }
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        fprintf(stderr, "bench_http: cannot run wrk: %s\n", strerror(errno));
        return -1;
    }
    w->pid = pid;
    w->fd = pfd[0];
    return 0;
}

/* Waits for w and returns its Requests/sec (negative on failure); *requests (may be NULL) gets
 * the count of completed requests. */
static double wrk_finish(wrk_run *w, double *requests)
{
    char out[8192];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read(w->fd, out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(w->fd);
    int st;
    waitpid(w->pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        fprintf(stderr, "bench_http: cannot run wrk (is it installed?)\n");
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

/* Runs wrk to the end (see wrk_start, wrk_finish). */
static double run_wrk(int port, int conns, int seconds, int cpu, double *requests)
{
    wrk_run w;
    if (wrk_start(&w, port, conns, seconds, cpu) != 0)
        return -1;
    return wrk_finish(&w, requests);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Child: serve and measure one configuration, the service thread on server_cpu, wrk on
 * wrk_cpu, the SDK's threads on export_cpu (-1: not pinned); prints
 * "rps <value> cpu_us <value> util <value>" (util: the process's CPU seconds per second). */
static int child(int conns, int seconds, int server_cpu, int wrk_cpu, int export_cpu)
{
    /* Threads inherit their creator's CPU set: this thread makes the SDK's threads first, then
     * the service thread, then waits for wrk. */
    pin_self(export_cpu);
    static_handler = getenv("BENCH_HTTP_STATIC") != NULL;
    bool disabled = getenv("OTEL_SDK_DISABLED") && strcmp(getenv("OTEL_SDK_DISABLED"), "true") == 0;
    tel_tracer_provider *tp = NULL;
    tel_tracer *tracer = NULL;
    tel_meter_provider *mp = NULL;
    tel_span_processor *bsp = NULL;
    if (!disabled) {
        tel_tracer_provider_config tc = {0};
        tel_attr svc = TEL_ATTR_STR("service.name", "bench-http");
        tc.resource = tel_resource_create(&svc, 1);
        tc.has_sampler = true;
        tel_sampler_init(&tc.sampler, TEL_SAMPLER_ALWAYS_ON, 0);
        tp = tel_tracer_provider_create(&tc);
        tel_bsp_config bc;
        tel_bsp_config_from_env(&bc);
        if (!getenv("BENCH_HTTP_NO_PROC")) {
            bsp = tel_bsp_create(bench_discard_exporter(), &bc);
            tel_tracer_provider_add_processor(tp, bsp);
        }
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

    if (bench_db_open(&bdb, "bench_http.", getenv("BENCH_HTTP_NO_DB_TRACES") ? NULL : tracer,
                      mp) != 0)
        return 1;

    core_http_server_config cfg = {.port = 0, .tracer = tracer, .meters = mp};
    core_http_server *srv = core_http_server_create(&cfg);
    core_http_server_route(srv, CORE_HTTP_GET, "/v1/servers/{id}", h_get_server, NULL);
    pin_self(server_cpu);
    if (core_http_server_start(srv) != 0)
        return 1;
    pin_self(wrk_cpu); /* this thread only waits for wrk from now on */
    int port = core_http_server_port(srv);
    double rps = 1;
    if (conns == 0) {
        /* Serve mode (the paired measurement): the parent loads this server with its own wrk
         * and reads the service thread's CPU time from /proc; serve until stdin closes. */
        printf("port %d\n", port);
        fflush(stdout);
        char b[64];
        ssize_t n;
        while ((n = read(0, b, sizeof b)) > 0) {
            /* Each line read asks for the count of requests served so far. */
            for (ssize_t i = 0; i < n; i++)
                if (b[i] == '\n')
                    printf("served %llu\n", (unsigned long long)atomic_load(&served));
            fflush(stdout);
        }
    } else {
        run_wrk(port, conns, 1, wrk_cpu, NULL); /* warm-up */
        double requests = 0;
        double cpu0 = cpu_seconds();
        uint64_t wall0 = bench_now();
        rps = run_wrk(port, conns, seconds, wrk_cpu, &requests);
        double cpu = cpu_seconds() - cpu0;
        double wall = (double)(bench_now() - wall0) / 1e9;
        /* CPU of this process (service thread, export thread, everything) per request: far
         * less sensitive than rps to other load on the machine. Spans the queue had no room
         * for were never exported: a run that drops them measures less than the full work. */
        tel_bsp_stats bs = {0};
        if (bsp)
            tel_bsp_get_stats(bsp, &bs);
        printf("rps %.1f cpu_us %.3f util %.3f dropped %llu\n", rps,
               requests > 0 ? cpu * 1e6 / requests : -1.0, wall > 0 ? cpu / wall : 0.0,
               (unsigned long long)bs.dropped_queue_full);
        fflush(stdout);
    }
    core_http_server_destroy(srv);
    bench_db_close(&bdb);
    tel_meter_provider_destroy(mp);
    if (tp)
        tel_tracer_provider_destroy(tp);
    tel_shutdown();
    return rps > 0 ? 0 : 1;
}

/* Parent: starts this program as a child (--child CONNS SECONDS and the CPU choices) with or
 * without the SDK; *out_fd gets the read end of its stdout, *in_fd (NULL: stdin inherited) the
 * write end of its stdin. Returns its pid, or -1. */
static pid_t child_spawn(const char *self, bool traced, int conns, int seconds, int *out_fd,
                         int *in_fd)
{
    int pfd[2], ifd[2] = {-1, -1};
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -1;
    if (in_fd && pipe2(ifd, O_CLOEXEC) != 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        if (in_fd) {
            dup2(ifd[0], 0);
            close(ifd[0]);
            close(ifd[1]);
        }
        if (traced)
            unsetenv("OTEL_SDK_DISABLED");
        else
            setenv("OTEL_SDK_DISABLED", "true", 1);
        char c[16], s[16], sc[16], wc[16], ec[16];
        snprintf(c, sizeof c, "%d", conns);
        snprintf(s, sizeof s, "%d", seconds);
        snprintf(sc, sizeof sc, "%d", pin_server);
        snprintf(wc, sizeof wc, "%d", pin_wrk);
        snprintf(ec, sizeof ec, "%d", pin_export);
        execl(self, self, "--child", c, s, sc, wc, ec, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    if (in_fd)
        close(ifd[0]);
    if (pid < 0) {
        close(pfd[0]);
        if (in_fd)
            close(ifd[1]);
        return -1;
    }
    *out_fd = pfd[0];
    if (in_fd)
        *in_fd = ifd[1];
    return pid;
}

/* Parent: runs a child with or without the SDK and returns its rps (and CPU per request, the
 * process's CPU per wall second, the spans it dropped). */
static double measure(const char *self, bool traced, int conns, int seconds, double *cpu_us,
                      double *util, double *dropped)
{
    int fd;
    pid_t pid = child_spawn(self, traced, conns, seconds, &fd, NULL);
    if (pid < 0)
        return -1;
    char out[256];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fd);
    int st;
    waitpid(pid, &st, 0);
    const char *p = strstr(out, "rps ");
    const char *q = strstr(out, "cpu_us ");
    *cpu_us = q ? strtod(q + 7, NULL) : -1;
    const char *u = strstr(out, "util ");
    *util = u ? strtod(u + 5, NULL) : 0;
    const char *d = strstr(out, "dropped ");
    *dropped = d ? strtod(d + 8, NULL) : 0;
    return p ? strtod(p + 4, NULL) : -1;
}

/* ---- Paired measurement: both servers on one CPU at once ---- */

/* CPU nanoseconds of process pid's busiest thread (/proc/PID/task/TID/schedstat): the service
 * thread, as the others wait or export now and then. -1 when unreadable. */
static double service_cpu_ns(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    double best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[384];
        snprintf(path, sizeof path, "%s/%s/schedstat", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        unsigned long long ns;
        if (fscanf(f, "%llu", &ns) == 1 && (double)ns > best)
            best = (double)ns;
        fclose(f);
    }
    closedir(d);
    return best;
}

/* Two serve-mode children, [0] traced and [1] untraced, with their stdin (in) and stdout (out)
 * pipes and ports; -1 where none. */
typedef struct serve_pair {
    pid_t pid[2];
    int out[2], in[2], port[2];
} serve_pair;

/* Ends whatever of sp runs: a child serves until its stdin closes. */
static void serve_pair_stop(serve_pair *sp)
{
    for (int k = 0; k < 2; k++) {
        if (sp->in[k] >= 0)
            close(sp->in[k]);
        if (sp->out[k] >= 0)
            close(sp->out[k]);
        int st;
        if (sp->pid[k] > 0)
            waitpid(sp->pid[k], &st, 0);
    }
}

/* Starts both children (fresh processes) and reads their ports. Returns nonzero, with nothing
 * left running, on failure. */
static int serve_pair_start(const char *self, serve_pair *sp)
{
    for (int k = 0; k < 2; k++) {
        sp->pid[k] = -1;
        sp->out[k] = sp->in[k] = sp->port[k] = -1;
    }
    /* Diagnostic: another build (traced) as the second server, for an A/B of two builds. */
    const char *base = getenv("BENCH_HTTP_BASELINE");
    for (int k = 0; k < 2; k++) {
        sp->pid[k] = child_spawn(k == 1 && base ? base : self, k == 0 || base, 0, 0, &sp->out[k],
                                 &sp->in[k]);
        if (sp->pid[k] < 0)
            break;
        char line[64];
        ssize_t n = read(sp->out[k], line, sizeof line - 1);
        line[n > 0 ? n : 0] = '\0';
        sp->port[k] = strncmp(line, "port ", 5) == 0 ? atoi(line + 5) : -1;
    }
    if (sp->port[0] > 0 && sp->port[1] > 0)
        return 0;
    serve_pair_stop(sp);
    return -1;
}

/* One paired trial: a traced and an untraced server (fresh processes) on the service CPU, each
 * loaded by its own wrk (half the connections) at the same time, `samples` times for `seconds`;
 * per sample, each service thread's CPU nanoseconds per completed request into t_ns[i] and
 * u_ns[i]. Whatever else the machine does during a sample slows both alike, and the scheduler
 * shares the CPU between them, so the ratio is steady where back-to-back runs are not. Returns
 * nonzero on failure. */
static int paired_trial(const char *self, int samples, int seconds, double *t_ns, double *u_ns)
{
    serve_pair sp;
    if (serve_pair_start(self, &sp) != 0)
        return -1;
    const pid_t *pid = sp.pid;
    const int *port = sp.port;
    int rc = 0;
    for (int i = -1; rc == 0 && i < samples; i++) { /* i = -1: warm-up */
        double c0[2], c1[2], req[2] = {0, 0};
        wrk_run w[2];
        bool started[2] = {false, false};
        for (int k = 0; k < 2; k++)
            c0[k] = service_cpu_ns(pid[k]);
        for (int j = 0; j < 2; j++) { /* who starts first alternates */
            int k = (i & 1) ? 1 - j : j;
            started[k] = wrk_start(&w[k], port[k], 10, i < 0 ? 1 : seconds, pin_wrk) == 0;
            if (!started[k])
                rc = -1;
        }
        for (int k = 0; k < 2; k++)
            if (started[k] && wrk_finish(&w[k], &req[k]) <= 0)
                rc = -1;
        for (int k = 0; k < 2; k++)
            c1[k] = service_cpu_ns(pid[k]);
        if (rc == 0 && i >= 0) {
            if (c0[0] < 0 || c0[1] < 0 || req[0] <= 0 || req[1] <= 0)
                rc = -1;
            else {
                t_ns[i] = (c1[0] - c0[0]) / req[0];
                u_ns[i] = (c1[1] - c0[1]) / req[1];
            }
        }
    }
    serve_pair_stop(&sp);
    return rc;
}

/* The paired figures over `trials` trials (fresh processes each: how a process's memory happens
 * to land in the caches moves its cost by about a percent, so one pair of processes is not
 * enough). */
static int paired(const char *self, int trials, int samples, int seconds)
{
    double t_all[400], u_all[400], trial_ov[20];
    int n_all = 0;
    for (int t = 0; t < trials; t++) {
        double t_ns[20], u_ns[20], ov[20];
        if (paired_trial(self, samples, seconds, t_ns, u_ns) != 0) {
            fprintf(stderr, "bench_http: a paired trial failed\n");
            return 1;
        }
        fprintf(stderr, "paired trial %d, service thread ns/req traced/untraced:", t + 1);
        for (int i = 0; i < samples; i++) {
            ov[i] = (t_ns[i] - u_ns[i]) / u_ns[i] * 100.0;
            t_all[n_all] = t_ns[i];
            u_all[n_all++] = u_ns[i];
            fprintf(stderr, " %.0f/%.0f", t_ns[i], u_ns[i]);
        }
        trial_ov[t] = bench_median(ov, samples);
        fprintf(stderr, "; overhead (median) %.2f%%\n", trial_ov[t]);
    }
    double sum = 0;
    for (int t = 0; t < trials; t++)
        sum += trial_ov[t];
    bench_print("http.server.service_ns_per_req.traced", bench_median(t_all, n_all), "ns");
    bench_print("http.server.service_ns_per_req.untraced", bench_median(u_all, n_all), "ns");
    bench_print("http.server.service_overhead_pct", sum / trials, "pct");
    return 0;
}

/* ---- Alternating measurement: each server alone on the service CPU, in turns ---- */

/* Requests served so far by a serve-mode child (it answers each line with "served N"); -1 on
 * failure. */
static double served_count(int in_fd, int out_fd)
{
    if (write(in_fd, "\n", 1) != 1)
        return -1;
    char line[64];
    ssize_t n = read(out_fd, line, sizeof line - 1);
    if (n <= 0)
        return -1;
    line[n] = '\0';
    return strncmp(line, "served ", 7) == 0 ? strtod(line + 7, NULL) : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A traced and an untraced server (fresh processes), each loaded by its own wrk (10
 * connections) for the whole run, but only one of them running at a time: the other is stopped
 * (SIGSTOP) and they take turns of window_ms for `seconds`. Per turn, the running service
 * thread's CPU nanoseconds per request served (after 10 ms to settle). Unlike the paired
 * measurement, each server has the CPU and its caches to itself, as in a back-to-back run, so
 * what its memory traffic costs it shows; unlike back-to-back runs of seconds, a turn lasts a
 * fraction of a second, so the machine's slow drifts fall on both alike, and there are hundreds
 * of turns to average. Each untraced turn is compared with the mean of the traced turns on
 * either side of it (which cancels a linear drift):
 *   http.server.alternating_ns_per_req.{traced,untraced}   medians over the turns
 *   http.server.alternating_overhead_pct                   mean of the per-turn overheads
 *   http.server.alternating_overhead_pct.se                its standard error
 *   http.server.alternating_overhead_pct.median            their median
 *   http.server.alternating_added_ns_per_req               mean of the per-turn differences
 *                                                          in ns (what the telemetry adds to
 *                                                          a request, independent of what the
 *                                                          request costs), and .se
 * Returns nonzero on failure. */
static double mean_se(const double *x, int n, double *se)
{
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        sum += x[i];
        sq += x[i] * x[i];
    }
    double var = n > 1 ? (sq - sum * sum / n) / (n - 1) : 0;
    *se = var > 0 ? sqrt(var / n) : 0;
    return n ? sum / n : 0;
}

static int alternating(const char *self, int seconds, int window_ms)
{
    enum { MAX_TURNS = 20000 };
    double *ns[2], *ov, *added;
    ns[0] = calloc(MAX_TURNS, sizeof(double));
    ns[1] = calloc(MAX_TURNS, sizeof(double));
    ov = calloc(MAX_TURNS, sizeof(double));
    added = calloc(MAX_TURNS, sizeof(double));
    int n[2] = {0, 0};
    wrk_run w[2];
    bool loaded[2] = {false, false};
    serve_pair sp;
    int rc = ns[0] && ns[1] && ov && added ? serve_pair_start(self, &sp) : -1;
    if (rc != 0) {
        free(ns[0]);
        free(ns[1]);
        free(ov);
        free(added);
        return -1;
    }
    const pid_t *pid = sp.pid;
    int *in = sp.in, *out = sp.out;
    const int *port = sp.port;
    for (int k = 0; rc == 0 && k < 2; k++) {
        loaded[k] = wrk_start(&w[k], port[k], 10, seconds + 10, pin_wrk) == 0;
        if (!loaded[k])
            rc = -1;
    }
    if (rc == 0) {
        sleep_ms(1000); /* warm-up, both running */
        kill(pid[1], SIGSTOP);
        int cur = 0;
        uint64_t end = bench_now() + (uint64_t)seconds * 1000000000u;
        while (rc == 0 && bench_now() < end && n[cur] < MAX_TURNS) {
            sleep_ms(10);
            double c0 = service_cpu_ns(pid[cur]), r0 = served_count(in[cur], out[cur]);
            sleep_ms(window_ms);
            double c1 = service_cpu_ns(pid[cur]), r1 = served_count(in[cur], out[cur]);
            if (c0 < 0 || c1 < 0 || r0 < 0 || r1 < 0)
                rc = -1;
            else if (r1 > r0)
                ns[cur][n[cur]++] = (c1 - c0) / (r1 - r0);
            kill(pid[cur], SIGSTOP);
            cur = 1 - cur;
            kill(pid[cur], SIGCONT);
        }
        kill(pid[0], SIGCONT);
        kill(pid[1], SIGCONT);
    }
    for (int k = 0; k < 2; k++)
        if (loaded[k]) {
            kill(w[k].pid, SIGTERM);
            wrk_finish(&w[k], NULL);
        }
    serve_pair_stop(&sp);
    /* Untraced turn i came between traced turns i and i + 1. */
    int pairs = n[1] < n[0] - 1 ? n[1] : n[0] - 1;
    if (rc == 0 && pairs < 2) {
        fprintf(stderr, "bench_http: too few alternating turns (%d)\n", pairs);
        rc = -1;
    }
    if (rc == 0) {
        for (int i = 0; i < pairs; i++) {
            added[i] = (ns[0][i] + ns[0][i + 1]) / 2 - ns[1][i];
            ov[i] = added[i] / ns[1][i] * 100.0;
        }
        double se, added_se;
        double mean = mean_se(ov, pairs, &se);
        double added_mean = mean_se(added, pairs, &added_se);
        fprintf(stderr, "alternating: %d turns of %d ms each, %d comparisons\n", n[0] + n[1],
                window_ms, pairs);
        bench_print("http.server.alternating_ns_per_req.traced", bench_median(ns[0], n[0]), "ns");
        bench_print("http.server.alternating_ns_per_req.untraced", bench_median(ns[1], n[1]), "ns");
        bench_print("http.server.alternating_overhead_pct", mean, "pct");
        bench_print("http.server.alternating_overhead_pct.se", se, "pct");
        /* The turns' overheads have heavy tails (a turn that other load hit): the median too. */
        bench_print("http.server.alternating_overhead_pct.median", bench_median(ov, pairs), "pct");
        bench_print("http.server.alternating_added_ns_per_req", added_mean, "ns");
        bench_print("http.server.alternating_added_ns_per_req.se", added_se, "ns");
    } else {
        fprintf(stderr, "bench_http: the alternating measurement failed\n");
    }
    free(ns[0]);
    free(ns[1]);
    free(ov);
    free(added);
    return rc;
}

int main(int argc, char **argv)
{
    /* --child CONNS SECONDS [SERVER_CPU WRK_CPU EXPORT_CPU]; CONNS 0: serve until stdin
     * closes, answering each line read with "served N" (requests so far) */
    if ((argc == 4 || argc == 7) && strcmp(argv[1], "--child") == 0)
        return child(atoi(argv[2]), atoi(argv[3]), argc == 7 ? atoi(argv[4]) : -1,
                     argc == 7 ? atoi(argv[5]) : -1, argc == 7 ? atoi(argv[6]) : -1);
    int seconds = getenv("BENCH_HTTP_SECONDS") ? atoi(getenv("BENCH_HTTP_SECONDS")) : 5;
    int rounds = getenv("BENCH_HTTP_ROUNDS") ? atoi(getenv("BENCH_HTTP_ROUNDS")) : 7;
    if (seconds < 1)
        seconds = 1;
    if (rounds < 1 || rounds > 20)
        rounds = 7;
    double min_util = getenv("BENCH_HTTP_MIN_UTIL") ? atof(getenv("BENCH_HTTP_MIN_UTIL")) : 0.9;
    int retries = getenv("BENCH_HTTP_RETRIES") ? atoi(getenv("BENCH_HTTP_RETRIES")) : 3;
    choose_cpus();
    if (pin_server >= 0) {
        fprintf(stderr, "service thread on CPU %d, wrk on CPU %d, SDK export thread on CPU %d\n",
                pin_server, pin_wrk, pin_export);
        /* What a span record crossing from the service thread's CPU to the export thread's costs
         * depends on this: compare overheads only between machines that print similar values. */
        if (pin_export != pin_server) {
            bench_print("http.server.machine.line_rtt", bench_line_rtt_ns(pin_server, pin_export),
                        "ns");
            /* And what the service thread pays each time it wakes the export thread (once per
             * batch of spans). */
            bench_print("http.server.machine.wake_us", bench_wake_us(pin_server, pin_export),
                        "us");
        }
    }
    else
        fprintf(stderr, "not pinned\n");
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0)
        return 1;
    self[sl] = '\0';
    static const int conns[2] = {20, 2};
    double tr[2][20], un[2][20], trc[2][20], unc[2][20];
    bool clean[2][20];
    for (int r = 0; r < rounds; r++) {
        for (int c = 0; c < 2; c++) {
            bool traced_first = (r + c) % 2 == 0;
            for (int attempt = 0;; attempt++) {
                bool disturbed = false;
                for (int k = 0; k < 2; k++) {
                    bool traced = traced_first == (k == 0);
                    double cpu = 0, util = 0, dropped = 0;
                    double v = measure(self, traced, conns[c], seconds, &cpu, &util, &dropped);
                    if (v <= 0) {
                        fprintf(stderr, "bench_http: a run failed (is wrk installed?)\n");
                        return 1;
                    }
                    (traced ? tr : un)[c][r] = v;
                    (traced ? trc : unc)[c][r] = cpu;
                    /* Only the saturating runs are expected to keep the server busy. */
                    if (c == 0 && util < min_util)
                        disturbed = true;
                    fprintf(stderr,
                            "round %d, %2d connections, %-8s %.0f req/s, %.2f us CPU/req, "
                            "util %.2f%s\n",
                            r + 1, conns[c], traced ? "traced" : "untraced", v, cpu, util,
                            dropped > 0 ? ", SPANS DROPPED (queue full)" : "");
                }
                clean[c][r] = !disturbed;
                if (!disturbed)
                    break;
                if (attempt >= retries) {
                    fprintf(stderr, "round %d: server not saturated (other load?); left out of "
                                    "the req/s figures\n", r + 1);
                    break;
                }
                fprintf(stderr, "round %d: server not saturated (other load?); again\n", r + 1);
                sleep(3);
            }
        }
    }
    for (int c = 0; c < 2; c++) {
        double pair[20], t_ok[20], u_ok[20];
        int n_ok = 0;
        for (int r = 0; r < rounds; r++) {
            if (!clean[c][r])
                continue;
            pair[n_ok] = (un[c][r] - tr[c][r]) / un[c][r] * 100.0;
            t_ok[n_ok] = tr[c][r];
            u_ok[n_ok] = un[c][r];
            n_ok++;
        }
        if (n_ok == 0) { /* every round disturbed: use them all */
            for (int r = 0; r < rounds; r++) {
                pair[r] = (un[c][r] - tr[c][r]) / un[c][r] * 100.0;
                t_ok[r] = tr[c][r];
                u_ok[r] = un[c][r];
            }
            n_ok = rounds;
        }
        double ov = bench_median(pair, n_ok); /* sorts pair */
        double t = bench_median(t_ok, n_ok), u = bench_median(u_ok, n_ok);
        const char *suffix = c == 0 ? "" : ".c2";
        /* The spread behind the median: how far one round is from the next on this machine. */
        fprintf(stderr, "%2d connections, req/s overhead per round (sorted):", conns[c]);
        for (int r = 0; r < n_ok; r++)
            fprintf(stderr, " %.2f", pair[r]);
        fprintf(stderr, "\n");
        char name[64];
        snprintf(name, sizeof name, "http.server.rps.traced%s", suffix);
        bench_print(name, t, "req/s");
        snprintf(name, sizeof name, "http.server.rps.untraced%s", suffix);
        bench_print(name, u, "req/s");
        snprintf(name, sizeof name, "http.server.overhead_pct%s", suffix);
        bench_print(name, ov, "pct");
        for (int r = 0; r < rounds; r++)
            pair[r] = (trc[c][r] - unc[c][r]) / unc[c][r] * 100.0;
        double cov = bench_median(pair, rounds);
        double tc = bench_median(trc[c], rounds), uc = bench_median(unc[c], rounds);
        snprintf(name, sizeof name, "http.server.cpu_per_req.traced%s", suffix);
        bench_print(name, tc, "us");
        snprintf(name, sizeof name, "http.server.cpu_per_req.untraced%s", suffix);
        bench_print(name, uc, "us");
        snprintf(name, sizeof name, "http.server.cpu_overhead_pct%s", suffix);
        bench_print(name, cov, "pct");
    }
    int trials = getenv("BENCH_HTTP_PAIRED_TRIALS") ? atoi(getenv("BENCH_HTTP_PAIRED_TRIALS")) : 4;
    int samples = getenv("BENCH_HTTP_PAIRED_SAMPLES") ? atoi(getenv("BENCH_HTTP_PAIRED_SAMPLES")) : 4;
    int psec = getenv("BENCH_HTTP_PAIRED_SECONDS") ? atoi(getenv("BENCH_HTTP_PAIRED_SECONDS")) : 3;
    if (trials > 20)
        trials = 20;
    if (samples < 1 || samples > 20)
        samples = 4;
    if (psec < 1)
        psec = 3;
    if (trials > 0 && paired(self, trials, samples, psec) != 0)
        return 1;
    int asec = getenv("BENCH_HTTP_ALT_SECONDS") ? atoi(getenv("BENCH_HTTP_ALT_SECONDS")) : 120;
    int awin = getenv("BENCH_HTTP_ALT_WINDOW_MS") ? atoi(getenv("BENCH_HTTP_ALT_WINDOW_MS")) : 200;
    if (awin < 20 || awin > 10000)
        awin = 200;
    if (asec > 0 && pin_server >= 0 && alternating(self, asec, awin) != 0)
        return 1;
    return 0;
}
