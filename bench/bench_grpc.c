/* gRPC benchmark: our server and client (core/grpc_server, core/grpc_client) in one process on
 * loopback, unary Echo calls from CLIENT_THREADS threads (by default) over one channel for a
 * bounded time.
 *
 *   grpc.unary.rps.traced       every call sampled: a CLIENT and a SERVER span, context in the
 *                               metadata, rpc.{client,server}.duration recorded; spans go through
 *                               the batch processor to an exporter that discards them
 *   grpc.unary.rps.untraced     the same binary with OTEL_SDK_DISABLED=true
 *   grpc.unary.overhead_pct     median over the rounds of (untraced - traced) / untraced
 *   grpc.unary.cpu_per_call.*   process CPU time (client + server) per call, and its overhead
 *   grpc.unary.cpu_overhead_pct (the median of the per-round differences): steadier than
 *                               throughput on a loaded machine
 *
 * Every measurement is a fresh child process (server, channel and SDK set up anew, 0.5 s of
 * warm-up, then BENCH_GRPC_SECONDS of load, default 3). The modes alternate over
 * BENCH_GRPC_ROUNDS rounds (default 7; traced first in odd rounds, untraced first in even ones);
 * the rps and CPU figures are medians over the rounds and the overheads the medians of the
 * per-round paired differences, so that the machine's drift from one minute to the next (several
 * percent on a small shared VM) cancels out. Every run is printed on stderr. For profiling,
 * "--traced-round" runs one traced round and "--untraced-round" one untraced round (it sets
 * OTEL_SDK_DISABLED=true itself), each printing "<req/s> <cpu us per call>". BENCH_GRPC_CLIENTS
 * (1..MAX_CLIENT_THREADS, default CLIENT_THREADS) sets the number of client threads: 1 makes
 * instruction counts under callgrind repeatable (a strict ping-pong, so the gRPC core polls the
 * same way on every call); more load the one connection harder, and the traced overhead grows
 * with them (with 16, 5-10% where 4 gave 3.5-5%: most of it came with the traceparent entry
 * each call sends through the gRPC core, see the issue notes). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

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


typedef struct load {
    core_grpc_channel *ch;
    atomic_bool *stop;
    _Atomic uint64_t calls;
    uint64_t errors;
} load;

static void *client_main(void *p)
{
    load *l = p;
    Bmcfleet__Test__EchoRequest req = BMCFLEET__TEST__ECHO_REQUEST__INIT;
    req.message = "ping";
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
    atomic_bool stop;
    atomic_init(&stop, false);
    load l[MAX_CLIENT_THREADS];
    pthread_t th[MAX_CLIENT_THREADS];
    /* warm-up: connection, caches, pools */
    for (int i = 0; i < nclients; i++) {
        l[i].ch = ch;
        l[i].stop = &stop;
        atomic_init(&l[i].calls, 0);
        l[i].errors = 0;
        pthread_create(&th[i], NULL, client_main, &l[i]);
    }
    usleep(500 * 1000);
    uint64_t c0 = 0;
    for (int i = 0; i < nclients; i++)
        c0 += atomic_load(&l[i].calls);
    uint64_t t0 = bench_now(), cpu0 = cpu_ns();
    usleep((useconds_t)(seconds * 1e6));
    uint64_t c1 = 0;
    for (int i = 0; i < nclients; i++)
        c1 += atomic_load(&l[i].calls);
    uint64_t t1 = bench_now(), cpu1 = cpu_ns();
    *cpu_us = c1 > c0 ? (double)(cpu1 - cpu0) / 1000.0 / (double)(c1 - c0) : 0;
    atomic_store(&stop, true);
    uint64_t errors = 0;
    for (int i = 0; i < nclients; i++) {
        pthread_join(th[i], NULL);
        errors += l[i].errors;
    }
    core_grpc_channel_destroy(ch);
    core_grpc_server_destroy(srv);
    if (errors) fprintf(stderr, "bench_grpc: %llu failed calls\n", (unsigned long long)errors);
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

int main(int argc, char **argv)
{
    double secs = env_double("BENCH_GRPC_SECONDS", 3.0, 0.2);
    if (argc > 1 && strcmp(argv[1], "--untraced-round") == 0)
        return untraced_round(secs);
    if (argc > 1 && strcmp(argv[1], "--traced-round") == 0)
        return traced_round(secs);
    int rounds = (int)env_double("BENCH_GRPC_ROUNDS", 7, 1);
    if (rounds > MAX_ROUNDS)
        rounds = MAX_ROUNDS;
    double rps_t[MAX_ROUNDS], rps_u[MAX_ROUNDS], cpu_t[MAX_ROUNDS], cpu_u[MAX_ROUNDS];
    double d_rps[MAX_ROUNDS], d_cpu[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        /* traced first in even rounds, untraced first in odd ones: a drift of the machine's
         * speed within a round favours neither mode */
        for (int k = 0; k < 2; k++) {
            bool traced = (k == 0) == (r % 2 == 0);
            double cpu;
            double rps = round_child(argv[0], traced, &cpu);
            if (rps <= 0 || cpu <= 0) {
                fprintf(stderr, "bench_grpc: the %s round failed\n",
                        traced ? "traced" : "untraced");
                return 1;
            }
            fprintf(stderr, "round %d, %-8s %9.0f req/s, %7.2f us CPU/call\n", r + 1,
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
    fprintf(stderr, "req/s overhead per round (sorted):");
    for (int r = 0; r < rounds; r++)
        fprintf(stderr, " %.2f", d_rps[r]);
    fprintf(stderr, "\n");
    bench_print("grpc.unary.rps.traced", bench_median(rps_t, rounds), "req/s");
    bench_print("grpc.unary.rps.untraced", bench_median(rps_u, rounds), "req/s");
    bench_print("grpc.unary.overhead_pct", overhead, "pct");
    bench_print("grpc.unary.cpu_per_call.traced", bench_median(cpu_t, rounds), "us");
    bench_print("grpc.unary.cpu_per_call.untraced", bench_median(cpu_u, rounds), "us");
    bench_print("grpc.unary.cpu_overhead_pct", cpu_overhead, "pct");
    return 0;
}
