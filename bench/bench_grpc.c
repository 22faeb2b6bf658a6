/* gRPC benchmark: our server and client (core/grpc_server, core/grpc_client) in one process on
 * loopback, unary Echo calls from CLIENT_THREADS threads over one channel for a bounded time.
 *
 *   grpc.unary.rps.traced     every call sampled: a CLIENT and a SERVER span, context in the
 *                             metadata, rpc.{client,server}.duration recorded; spans go through
 *                             the batch processor to an exporter that discards them
 *   grpc.unary.rps.untraced   the same binary re-run as a child with OTEL_SDK_DISABLED=true
 *   grpc.unary.overhead_pct   (untraced - traced) / untraced
 *   grpc.unary.cpu_per_call.* process CPU time (client + server) per call, and its overhead:
 *                             steadier than throughput on a loaded machine
 *
 * Each mode runs ROUNDS times (alternating) and keeps its best round. BENCH_GRPC_SECONDS
 * overrides the length of a round (default 3). For profiling, "--traced-round" runs one traced
 * round and "--untraced-round" (with OTEL_SDK_DISABLED=true) one untraced round, each printing
 * "<req/s> <cpu us per call>". BENCH_GRPC_CLIENTS (1..CLIENT_THREADS, default CLIENT_THREADS)
 * sets the number of client threads: 1 makes instruction counts under callgrind repeatable
 * (a strict ping-pong, so the gRPC core polls the same way on every call). */
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
#define ROUNDS 2
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
    return n >= 1 && n <= CLIENT_THREADS ? n : CLIENT_THREADS;
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
    load l[CLIENT_THREADS];
    pthread_t th[CLIENT_THREADS];
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

static double seconds_per_round(void)
{
    const char *s = getenv("BENCH_GRPC_SECONDS");
    double v = s ? atof(s) : 3.0;
    return v > 0.2 ? v : 3.0;
}

/* The untraced figures, from a child process with the SDK disabled. */
static double untraced_child(const char *self, double *cpu_us)
{
    int fd[2];
    if (pipe(fd) != 0) return 0;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        setenv("OTEL_SDK_DISABLED", "true", 1);
        execl(self, self, "--untraced-round", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[64] = "";
    ssize_t n = read(fd[0], buf, sizeof buf - 1);
    close(fd[0]);
    waitpid(pid, NULL, 0);
    if (n > 0) buf[n] = '\0';
    double rps = 0;
    *cpu_us = 0;
    if (sscanf(buf, "%lf %lf", &rps, cpu_us) < 1) rps = 0;
    return rps;
}

int main(int argc, char **argv)
{
    double secs = seconds_per_round();
    if (argc > 1 && strcmp(argv[1], "--untraced-round") == 0) {
        /* OTEL_SDK_DISABLED=true: tel_init leaves every tracer a no-op */
        tel_init("bench-grpc", "0");
        double cpu;
        double rps = run_round(tel_global_tracer("bench", NULL), NULL, secs, &cpu);
        printf("%.1f %.3f\n", rps, cpu);
        tel_shutdown();
        return 0;
    }
    bool traced_only = argc > 1 && strcmp(argv[1], "--traced-round") == 0; /* for profiling */
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

    double traced = 0, untraced = 0, cpu_t = 1e9, cpu_u = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        double ct, cu;
        double t = run_round(tracer, meters, secs, &ct);
        if (t > traced) traced = t;
        if (ct > 0 && ct < cpu_t) cpu_t = ct;
        if (traced_only) {
            printf("%.1f %.3f\n", t, ct);
            break;
        }
        double u = untraced_child(argv[0], &cu);
        if (u > untraced) untraced = u;
        if (cu > 0 && cu < cpu_u) cpu_u = cu;
    }
    if (traced_only) {
        tel_meter_provider_destroy(meters);
        tel_tracer_provider_destroy(p);
        return 0;
    }
    tel_bsp_stats st;
    tel_bsp_get_stats(bsp, &st);
    if (st.dropped_queue_full)
        fprintf(stderr, "bench_grpc: the batch processor dropped %llu of %llu spans\n",
                (unsigned long long)st.dropped_queue_full, (unsigned long long)st.ended);
    tel_meter_provider_destroy(meters);
    tel_tracer_provider_destroy(p);
    bench_print("grpc.unary.rps.traced", traced, "req/s");
    bench_print("grpc.unary.rps.untraced", untraced, "req/s");
    bench_print("grpc.unary.overhead_pct",
                untraced > 0 ? (untraced - traced) / untraced * 100.0 : 0.0, "pct");
    bench_print("grpc.unary.cpu_per_call.traced", cpu_t, "us");
    bench_print("grpc.unary.cpu_per_call.untraced", cpu_u, "us");
    bench_print("grpc.unary.cpu_overhead_pct", cpu_u > 0 ? (cpu_t - cpu_u) / cpu_u * 100.0 : 0.0,
                "pct");
    return 0;
}
