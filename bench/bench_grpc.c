/* gRPC benchmark: our server and client (core/grpc_server, core/grpc_client) on loopback, unary
 * calls for a bounded time, traced against untraced. Two measurements:
 *
 * The server (the target, measured as bench_http measures the HTTP server): a server
 * process whose handler reads one row from SQLite through core_db (a file, like bench_http's),
 * loaded by a separate client process that is never traced and sends no trace context (as wrk
 * does for bench_http), CLIENT_THREADS threads over one channel.
 *
 *   grpc.unary.rps.traced       the server traced: every call sampled, a SERVER span and the
 *                               db CLIENT span, rpc.server.duration and
 *                               db.client.operation.duration recorded; spans go through the
 *                               batch processor to an exporter that discards them
 *   grpc.unary.rps.untraced     the same server with OTEL_SDK_DISABLED=true
 *   grpc.unary.overhead_pct     median over the rounds of (untraced - traced) / untraced
 *   grpc.unary.cpu_per_call.*   the server process's CPU time per call (gRPC threads, handler,
 *   grpc.unary.cpu_overhead_pct export thread), and the median of the per-round differences
 *
 * The chain: client and server in one process, both traced (a CLIENT and a SERVER span per
 * call, context carried in the metadata, rpc.{client,server}.duration), with an echo handler:
 * what a call between two traced services costs, including the gRPC core's handling of the
 * traceparent entry on both sides (see the issue notes).
 *
 *   grpc.unary.chain.rps.traced, .untraced, .overhead_pct, .cpu_per_call.*, .cpu_overhead_pct
 *                               as above, the CPU time of the one process (client + server)
 *
 * Every measurement is a fresh set of processes (servers, channels and SDK set up anew, 0.5 s of
 * warm-up, then BENCH_GRPC_SECONDS of load, default 3). The modes alternate over
 * BENCH_GRPC_ROUNDS rounds (default 7; traced first in odd rounds, untraced first in even ones);
 * the rps and CPU figures are medians over the rounds and the overheads the medians of the
 * per-round paired differences, so that the machine's drift from one minute to the next (several
 * percent on a small shared VM) cancels out. Every run is printed on stderr. BENCH_GRPC_ONLY
 * (server or chain) runs one of the two. For profiling, "--traced-round" runs one traced chain
 * round and "--untraced-round" one untraced chain round (it sets OTEL_SDK_DISABLED=true itself),
 * each printing "<req/s> <cpu us per call>". BENCH_GRPC_CLIENTS (1..MAX_CLIENT_THREADS, default
 * CLIENT_THREADS) sets the number of client threads: 1 makes instruction counts under callgrind
 * repeatable (a strict ping-pong, so the gRPC core polls the same way on every call); more load
 * the one connection harder, and the chain's traced overhead grows with them (with 16, 5-10%
 * where 4 gave 3.5-5%: most of it came with the traceparent entry each call sends through the
 * gRPC core, see the issue notes). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_db.h"
#include "bench_discard.h"
#include "bench_util.h"
#include "core/grpc_client.h"
#include "core/grpc_server.h"
#include "echo.pb-c.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

#define CLIENT_THREADS 4
#define MAX_CLIENT_THREADS 16
#define MAX_ROUNDS 64
#define UNARY "/bmcfleet.test.Echo/Unary"

static void echo(core_grpc_call *call, const tel_context *ctx, const ProtobufCMessage *m, void *ud)
{
    const Bmcfleet__Test__EchoRequest *req = (const Bmcfleet__Test__EchoRequest *)m;
    Bmcfleet__Test__EchoReply r = BMCFLEET__TEST__ECHO_REPLY__INIT;
    r.message = req->message;
    r.server = "c";
    core_grpc_call_reply(call, &r.base);
}


/* One client thread: unary calls with `message` until stop is set. */
typedef struct load {
    core_grpc_channel *ch;
    atomic_bool *stop;
    const char *message;
    _Atomic uint64_t calls;
    uint64_t errors;
} load;

static void *client_main(void *p)
{
    load *l = p;
    Bmcfleet__Test__EchoRequest req = BMCFLEET__TEST__ECHO_REQUEST__INIT;
    req.message = (char *)l->message;
    core_grpc_call_opts o = {.timeout_ms = 5000};
    while (!atomic_load_explicit(l->stop, memory_order_relaxed)) {
        ProtobufCMessage *resp = NULL;
        if (core_grpc_unary(l->ch, NULL, UNARY, &req.base, &bmcfleet__test__echo_reply__descriptor,
                            &resp, &o, NULL) == 0) {
            atomic_fetch_add_explicit(&l->calls, 1, memory_order_relaxed);
            protobuf_c_message_free_unpacked(resp, NULL);
        } else {
            l->errors++;
        }
    }
    return NULL;
}

/* n client threads (client_main) calling on one channel with one message. */
typedef struct loads {
    int n;
    atomic_bool stop;
    load l[MAX_CLIENT_THREADS];
    pthread_t th[MAX_CLIENT_THREADS];
} loads;

static void loads_start(loads *ls, core_grpc_channel *ch, int n, const char *message)
{
    ls->n = n;
    atomic_init(&ls->stop, false);
    for (int i = 0; i < n; i++) {
        ls->l[i].ch = ch;
        ls->l[i].stop = &ls->stop;
        ls->l[i].message = message;
        atomic_init(&ls->l[i].calls, 0);
        ls->l[i].errors = 0;
        pthread_create(&ls->th[i], NULL, client_main, &ls->l[i]);
    }
}

/* Calls completed so far by all the threads. */
static uint64_t loads_calls(loads *ls)
{
    uint64_t c = 0;
    for (int i = 0; i < ls->n; i++)
        c += atomic_load(&ls->l[i].calls);
    return c;
}

/* Stops and joins the threads; their failed calls are reported on stderr. */
static void loads_stop(loads *ls)
{
    atomic_store(&ls->stop, true);
    uint64_t errors = 0;
    for (int i = 0; i < ls->n; i++) {
        pthread_join(ls->th[i], NULL);
        errors += ls->l[i].errors;
    }
    if (errors) fprintf(stderr, "bench_grpc: %llu failed calls\n", (unsigned long long)errors);
}

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* One measured round: requests per second; *cpu_us gets the process CPU time per request
 * (client and server together), which load on the machine disturbs less than throughput. */
static int client_threads(void)
{
    const char *s = getenv("BENCH_GRPC_CLIENTS");
    int n = s ? atoi(s) : CLIENT_THREADS;
    return n >= 1 && n <= MAX_CLIENT_THREADS ? n : CLIENT_THREADS;
}

static double run_round(tel_tracer *tracer, tel_meter_provider *meters, double seconds,
                        double *cpu_us)
{
    const int nclients = client_threads();
    core_grpc_server_config sc = {.threads = 2, .tracer = tracer, .meters = meters};
    core_grpc_server *srv = core_grpc_server_create(&sc);
    core_grpc_method m = {.name = UNARY,
                          .kind = CORE_GRPC_UNARY,
                          .request = &bmcfleet__test__echo_request__descriptor,
                          .response = &bmcfleet__test__echo_reply__descriptor,
                          .unary = echo};
    if (!srv || core_grpc_server_register(srv, &m) != 0 || core_grpc_server_start(srv) != 0) {
        fprintf(stderr, "bench_grpc: server failed\n");
        exit(1);
    }
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%d", core_grpc_server_port(srv));
    core_grpc_channel_config cc = {.target = target, .tracer = tracer, .meters = meters};
    core_grpc_channel *ch = core_grpc_channel_create(&cc);
    loads ls;
    loads_start(&ls, ch, nclients, "ping");
    usleep(500 * 1000); /* warm-up: connection, caches, pools */
    uint64_t c0 = loads_calls(&ls);
    uint64_t t0 = bench_now(), cpu0 = cpu_ns();
    usleep((useconds_t)(seconds * 1e6));
    uint64_t c1 = loads_calls(&ls);
    uint64_t t1 = bench_now(), cpu1 = cpu_ns();
    *cpu_us = c1 > c0 ? (double)(cpu1 - cpu0) / 1000.0 / (double)(c1 - c0) : 0;
    loads_stop(&ls);
    core_grpc_channel_destroy(ch);
    core_grpc_server_destroy(srv);
    return (double)(c1 - c0) / ((double)(t1 - t0) / 1e9);
}

static double env_double(const char *name, double def, double min)
{
    const char *s = getenv(name);
    double v = s ? atof(s) : def;
    return v >= min ? v : def;
}

/* One round in a fresh child process: traced (the SDK set up as in a service: every call
 * sampled, spans through the batch processor) or untraced (OTEL_SDK_DISABLED=true). Returns its
 * req/s (0 on failure); *cpu_us gets its CPU time per call. */
static double round_child(const char *self, bool traced, double *cpu_us)
{
    int fd[2];
    *cpu_us = 0;
    if (pipe(fd) != 0) return 0;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return 0;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        setenv("OTEL_SDK_DISABLED", traced ? "false" : "true", 1);
        execl(self, self, traced ? "--traced-round" : "--untraced-round", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[128] = "";
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    buf[got] = '\0';
    double rps = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || sscanf(buf, "%lf %lf", &rps, cpu_us) != 2)
        return 0;
    return rps;
}

/* --untraced-round: the SDK disabled as a service runs it with OTEL_SDK_DISABLED=true (tel_init
 * then leaves every tracer a no-op and makes no meters); set here too, so that a round run by
 * hand without it does not export to a collector that is not there. */
static int untraced_round(double secs)
{
    setenv("OTEL_SDK_DISABLED", "true", 1); /* whatever the caller's environment says */
    tel_init("bench-grpc", "0");
    double cpu;
    double rps = run_round(tel_global_tracer("bench", NULL), NULL, secs, &cpu);
    printf("%.1f %.3f\n", rps, cpu);
    tel_shutdown();
    return 0;
}

/* --traced-round: every call sampled (always_on), spans through the batch processor to an
 * exporter that discards them, the duration histograms on a meter provider. */
static int traced_round(double secs)
{
    tel_tracer_provider_config pc = {0};
    pc.has_sampler = true;
    tel_sampler_init(&pc.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
    tel_tracer_provider *p = tel_tracer_provider_create(&pc);
    tel_bsp_config bc;
    tel_bsp_config_from_env(&bc);
    tel_span_processor *bsp = tel_bsp_create(bench_discard_exporter(), &bc);
    tel_tracer_provider_add_processor(p, bsp);
    tel_meter_provider_config mc = {.resource = tel_tracer_provider_resource(p)};
    tel_meter_provider *meters = tel_meter_provider_create(&mc);
    tel_tracer *tracer = tel_tracer_get(p, "bench", NULL);
    double cpu;
    double rps = run_round(tracer, meters, secs, &cpu);
    tel_bsp_stats st;
    tel_bsp_get_stats(bsp, &st);
    if (st.dropped_queue_full)
        fprintf(stderr, "bench_grpc: the batch processor dropped %llu of %llu spans\n",
                (unsigned long long)st.dropped_queue_full, (unsigned long long)st.ended);
    printf("%.1f %.3f\n", rps, cpu);
    tel_meter_provider_destroy(meters);
    tel_tracer_provider_destroy(p);
    return 0;
}

/* ---- The server measurement ---- */

static bench_db sdb;
static _Atomic uint64_t served; /* calls answered by get_server */

static int copy_name(void *ud, const core_db_row *row)
{
    size_t len = 0;
    const char *name = core_db_row_text(row, 1, &len);
    if (name && len < 32) {
        memcpy(ud, name, len);
        ((char *)ud)[len] = '\0';
    }
    return 1;
}

/* The handler: the row whose id the request's message holds, its name in the reply. */
static void get_server(core_grpc_call *call, const tel_context *ctx, const ProtobufCMessage *m,
                       void *ud)
{
    (void)ud;
    const Bmcfleet__Test__EchoRequest *req = (const Bmcfleet__Test__EchoRequest *)m;
    char *end = NULL;
    long long id = req->message ? strtoll(req->message, &end, 10) : 0;
    if (!end || *end || end == req->message) {
        core_grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "the id must be a number");
        return;
    }
    core_db_param p = CORE_DB_P_INT(id);
    char name[32] = "";
    if (core_db_query(sdb.db, ctx, BENCH_DB_SELECT, &p, 1, copy_name, name, NULL) != 0) {
        core_grpc_call_finish(call, GRPC_STATUS_INTERNAL, "query failed");
        return;
    }
    if (!name[0]) {
        core_grpc_call_finish(call, GRPC_STATUS_NOT_FOUND, "no such server");
        return;
    }
    Bmcfleet__Test__EchoReply r = BMCFLEET__TEST__ECHO_REPLY__INIT;
    r.message = name;
    r.server = "c";
    core_grpc_call_reply(call, &r.base);
    atomic_fetch_add_explicit(&served, 1, memory_order_relaxed);
}

/* --serve: the server process, traced or (OTEL_SDK_DISABLED=true) not. Prints "port <n>", then
 * for each line read "served <calls> cpu_ns <process CPU> mono_ns <now>"; ends at end of
 * input. */
static int serve(bool traced, int cpu)
{
    if (cpu >= 0) bench_pin_cpu(cpu); /* every thread of the process: they start from here */
    tel_tracer_provider *p = NULL;
    tel_meter_provider *meters = NULL;
    tel_tracer *tracer;
    tel_span_processor *bsp = NULL;
    if (traced) {
        tel_tracer_provider_config pc = {0};
        pc.has_sampler = true;
        tel_sampler_init(&pc.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
        p = tel_tracer_provider_create(&pc);
        tel_bsp_config bc;
        tel_bsp_config_from_env(&bc);
        bsp = tel_bsp_create(bench_discard_exporter(), &bc);
        tel_tracer_provider_add_processor(p, bsp);
        tel_meter_provider_config mc = {.resource = tel_tracer_provider_resource(p)};
        meters = tel_meter_provider_create(&mc);
        tracer = tel_tracer_get(p, "bench", NULL);
    } else {
        setenv("OTEL_SDK_DISABLED", "true", 1);
        tel_init("bench-grpc", "0");
        tracer = tel_global_tracer("bench", NULL);
    }
    if (bench_db_open(&sdb, "bench_grpc.", tracer, meters) != 0)
        return 1;
    core_grpc_server_config sc = {.threads = 2, .tracer = tracer, .meters = meters};
    core_grpc_server *srv = core_grpc_server_create(&sc);
    core_grpc_method m = {.name = UNARY,
                          .kind = CORE_GRPC_UNARY,
                          .request = &bmcfleet__test__echo_request__descriptor,
                          .response = &bmcfleet__test__echo_reply__descriptor,
                          .unary = get_server};
    if (!srv || core_grpc_server_register(srv, &m) != 0 || core_grpc_server_start(srv) != 0) {
        fprintf(stderr, "bench_grpc: server failed\n");
        bench_db_close(&sdb);
        return 1;
    }
    printf("port %d\n", core_grpc_server_port(srv));
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        printf("served %llu cpu_ns %llu mono_ns %llu\n",
               (unsigned long long)atomic_load(&served), (unsigned long long)cpu_ns(),
               (unsigned long long)bench_now());
        fflush(stdout);
    }
    core_grpc_server_destroy(srv);
    bench_db_close(&sdb);
    if (bsp) {
        tel_bsp_stats st;
        tel_bsp_get_stats(bsp, &st);
        if (st.dropped_queue_full)
            fprintf(stderr, "bench_grpc: the batch processor dropped %llu of %llu spans\n",
                    (unsigned long long)st.dropped_queue_full, (unsigned long long)st.ended);
    }
    tel_meter_provider_destroy(meters);
    if (p)
        tel_tracer_provider_destroy(p);
    tel_shutdown();
    return 0;
}

/* --load PORT: the untraced client process; prints "ready" once a call succeeded and loads the
 * server until its input ends. */
static int load_server(const char *port, int cpu)
{
    if (cpu >= 0) bench_pin_cpu(cpu);
    setenv("OTEL_SDK_DISABLED", "true", 1);
    tel_init("bench-grpc-load", "0");
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%d", atoi(port));
    core_grpc_channel_config cc = {.target = target};
    core_grpc_channel *ch = core_grpc_channel_create(&cc);
    if (!ch)
        return 1;
    loads ls;
    loads_start(&ls, ch, client_threads(), "42");
    bool ready = false;
    for (int i = 0; i < 5000 && !ready; i++) {
        usleep(1000);
        ready = loads_calls(&ls) > 0;
    }
    printf(ready ? "ready\n" : "failed\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
    }
    loads_stop(&ls);
    core_grpc_channel_destroy(ch);
    tel_shutdown();
    return 0;
}

/* A child running this program with arg1 .. arg3, its input and output piped. */
typedef struct child {
    pid_t pid;
    FILE *in, *out;
} child;

static int child_start(child *c, const char *self, const char *arg1, const char *arg2,
                       const char *arg3)
{
    int to[2], from[2];
    if (pipe(to) != 0) return -1;
    if (pipe(from) != 0) {
        close(to[0]);
        close(to[1]);
        return -1;
    }
    c->pid = fork();
    if (c->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        execl(self, self, arg1, arg2, arg3, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    if (c->pid < 0) {
        close(to[1]);
        close(from[0]);
        return -1;
    }
    c->in = fdopen(to[1], "w");
    c->out = fdopen(from[0], "r");
    return c->in && c->out ? 0 : -1;
}

/* Closes the child's input (it ends) and waits for it; true when it exited with 0. */
static bool child_end(child *c)
{
    if (c->in) fclose(c->in);
    int status = 0;
    waitpid(c->pid, &status, 0);
    if (c->out) fclose(c->out);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The server's counters now. */
static bool server_mark(child *srv, unsigned long long v[3])
{
    char line[160];
    if (fputs("mark\n", srv->in) < 0 || fflush(srv->in) != 0 ||
        !fgets(line, sizeof line, srv->out))
        return false;
    return sscanf(line, "served %llu cpu_ns %llu mono_ns %llu", &v[0], &v[1], &v[2]) == 3;
}

/* The CPUs of the server and the load process ("-1": not pinned): the first two this process
 * may use unless BENCH_GRPC_PIN=0. Pinned, the two processes do not trade CPUs (and their gRPC
 * threads' wake-ups) from one round to the next: unpinned, rounds of one mode differed by up to
 * 25%. */
static char cpu_arg[2][8] = {"-1", "-1"};

static void choose_cpus(void)
{
    const char *pin = getenv("BENCH_GRPC_PIN");
    int two[2];
    if ((pin && strcmp(pin, "0") == 0) || bench_two_cpus(two) < 2)
        return;
    for (int i = 0; i < 2; i++)
        snprintf(cpu_arg[i], sizeof cpu_arg[i], "%d", two[i]);
    fprintf(stderr, "server process on CPU %d, load process on CPU %d\n", two[0], two[1]);
}

/* One server round: a server process (traced or not) and a load process; the server's req/s
 * (0 on failure), *cpu_us its CPU time per call. */
static double server_round(const char *self, bool traced, double *cpu_us)
{
    double secs = env_double("BENCH_GRPC_SECONDS", 3.0, 0.2);
    *cpu_us = 0;
    child srv = {0}, ld = {0};
    double rps = 0;
    char line[64];
    int port = 0;
    if (child_start(&srv, self, "--serve", traced ? "traced" : "untraced", cpu_arg[0]) != 0 ||
        !fgets(line, sizeof line, srv.out) || sscanf(line, "port %d", &port) != 1)
        goto out;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    if (child_start(&ld, self, "--load", ports, cpu_arg[1]) != 0 ||
        !fgets(line, sizeof line, ld.out) ||
        strcmp(line, "ready\n") != 0)
        goto out;
    usleep(500 * 1000); /* warm-up: caches, pools */
    unsigned long long a[3], b[3];
    if (!server_mark(&srv, a))
        goto out;
    usleep((useconds_t)(secs * 1e6));
    if (!server_mark(&srv, b) || b[0] <= a[0])
        goto out;
    rps = (double)(b[0] - a[0]) / ((double)(b[2] - a[2]) / 1e9);
    *cpu_us = (double)(b[1] - a[1]) / 1000.0 / (double)(b[0] - a[0]);
out:
    if (ld.pid > 0 && !child_end(&ld)) rps = 0;
    if (srv.pid > 0 && !child_end(&srv)) rps = 0;
    return rps;
}

/* Alternates traced and untraced measurements over `rounds` rounds and prints the figures
 * under prefix ("grpc.unary", "grpc.unary.chain"). Returns 0, or 1 when a round failed. */
static int alternate(const char *self, const char *prefix, int rounds,
                     double (*measure)(const char *self, bool traced, double *cpu_us))
{
    double rps_t[MAX_ROUNDS], rps_u[MAX_ROUNDS], cpu_t[MAX_ROUNDS], cpu_u[MAX_ROUNDS];
    double d_rps[MAX_ROUNDS], d_cpu[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        /* traced first in even rounds, untraced first in odd ones: a drift of the machine's
         * speed within a round favours neither mode */
        for (int k = 0; k < 2; k++) {
            bool traced = (k == 0) == (r % 2 == 0);
            double cpu;
            double rps = measure(self, traced, &cpu);
            if (rps <= 0 || cpu <= 0) {
                fprintf(stderr, "bench_grpc: the %s %s round failed\n", prefix,
                        traced ? "traced" : "untraced");
                return 1;
            }
            fprintf(stderr, "%s round %d, %-8s %9.0f req/s, %7.2f us CPU/call\n", prefix, r + 1,
                    traced ? "traced" : "untraced", rps, cpu);
            if (traced) {
                rps_t[r] = rps;
                cpu_t[r] = cpu;
            } else {
                rps_u[r] = rps;
                cpu_u[r] = cpu;
            }
        }
        d_rps[r] = (rps_u[r] - rps_t[r]) / rps_u[r] * 100.0;
        d_cpu[r] = (cpu_t[r] - cpu_u[r]) / cpu_u[r] * 100.0;
    }
    double overhead = bench_median(d_rps, rounds), cpu_overhead = bench_median(d_cpu, rounds);
    fprintf(stderr, "%s req/s overhead per round (sorted):", prefix);
    for (int r = 0; r < rounds; r++)
        fprintf(stderr, " %.2f", d_rps[r]);
    fprintf(stderr, "\n");
    char name[96];
    snprintf(name, sizeof name, "%s.rps.traced", prefix);
    bench_print(name, bench_median(rps_t, rounds), "req/s");
    snprintf(name, sizeof name, "%s.rps.untraced", prefix);
    bench_print(name, bench_median(rps_u, rounds), "req/s");
    snprintf(name, sizeof name, "%s.overhead_pct", prefix);
    bench_print(name, overhead, "pct");
    snprintf(name, sizeof name, "%s.cpu_per_call.traced", prefix);
    bench_print(name, bench_median(cpu_t, rounds), "us");
    snprintf(name, sizeof name, "%s.cpu_per_call.untraced", prefix);
    bench_print(name, bench_median(cpu_u, rounds), "us");
    snprintf(name, sizeof name, "%s.cpu_overhead_pct", prefix);
    bench_print(name, cpu_overhead, "pct");
    return 0;
}

int main(int argc, char **argv)
{
    double secs = env_double("BENCH_GRPC_SECONDS", 3.0, 0.2);
    if (argc > 1 && strcmp(argv[1], "--untraced-round") == 0)
        return untraced_round(secs);
    if (argc > 1 && strcmp(argv[1], "--traced-round") == 0)
        return traced_round(secs);
    if (argc > 3 && strcmp(argv[1], "--serve") == 0)
        return serve(strcmp(argv[2], "traced") == 0, atoi(argv[3]));
    if (argc > 3 && strcmp(argv[1], "--load") == 0)
        return load_server(argv[2], atoi(argv[3]));
    choose_cpus();
    signal(SIGPIPE, SIG_IGN); /* a child that died is reported, not fatal */
    int rounds = (int)env_double("BENCH_GRPC_ROUNDS", 7, 1);
    if (rounds > MAX_ROUNDS)
        rounds = MAX_ROUNDS;
    const char *only = getenv("BENCH_GRPC_ONLY");
    int rc = 0;
    if (!only || strcmp(only, "chain") != 0)
        rc |= alternate(argv[0], "grpc.unary", rounds, server_round);
    if (!only || strcmp(only, "server") != 0)
        rc |= alternate(argv[0], "grpc.unary.chain", rounds, round_child);
    return rc;
}
