/* Span hot-path benchmarks: span.enabled, span.sampled_out, span.disabled, bsp.throughput,
 * bsp.handoff, the propagation figures and machine.line_rtt (see bench_line_rtt_ns), each
 * printed as "<name> <value> <unit>" next to clock_gettime. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "telemetry/propagation.h"
#include "telemetry/trace.h"

/* An exporter that accepts and discards everything. */
typedef struct discard {
    tel_span_exporter base;
    atomic_uint_fast64_t spans;
} discard;

static int d_export(tel_span_exporter *self, const tel_resource *res,
                    const tel_span_data *const *spans, size_t n, uint64_t deadline)
{
    (void)res;
    (void)spans;
    (void)deadline;
    atomic_fetch_add(&((discard *)self)->spans, n);
    return TEL_OK;
}
static int d_shutdown(tel_span_exporter *self)
{
    (void)self;
    return TEL_OK;
}
static void d_destroy(tel_span_exporter *self)
{
    (void)self;
}

static discard sink = {.base = {d_export, NULL, d_shutdown, d_destroy}};

static tel_span_processor *last_bsp;

static tel_tracer_provider *make_provider(tel_sampler_kind kind, uint32_t queue, uint32_t delay_ms)
{
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "bench");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, kind, 1.0);
    tel_tracer_provider *p = tel_tracer_provider_create(&cfg);
    tel_bsp_config bc = {.max_queue_size = queue,
                         .max_export_batch_size = 512,
                         .schedule_delay_ms = delay_ms,
                         .export_timeout_ms = 30000};
    last_bsp = tel_bsp_create(&sink.base, &bc);
    tel_tracer_provider_add_processor(p, last_bsp);
    return p;
}

static inline void one_span(tel_tracer *t, const tel_context *parent)
{
    tel_span *s = tel_span_start(t, "GET /v1/servers/{id}", TEL_SPAN_KIND_SERVER, parent);
    tel_span_set_str_static(s, "http.request.method", "GET");
    tel_span_set_int(s, "http.response.status_code", 200);
    tel_span_set_bool(s, "bmc.cached", true);
    tel_span_set_double(s, "bmc.load", 0.25);
    tel_span_end(s);
}

/* Start+end of a sampled span with 4 attributes through the batch processor. Spans are made in
 * rounds of 1024 (half the queue) with a flush between rounds outside the timed part, so the
 * figure is the cost of spans that really were queued, not of dropping. */
static double bench_span_enabled(uint64_t *dropped)
{
    tel_tracer_provider *p = make_provider(TEL_SAMPLER_ALWAYS_ON, 2048, 5000);
    tel_tracer *t = tel_tracer_get(p, "bench", "1");
    tel_context parent = TEL_CONTEXT_INIT;
    tel_span *root = tel_span_start(t, "root", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_context_set_span(&parent, root);
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t total = 0;
        const int rounds = 200, per = 1024;
        for (int r = 0; r < rounds; r++) {
            uint64_t t0 = bench_now();
            for (int i = 0; i < per; i++)
                one_span(t, &parent);
            total += bench_now() - t0;
            tel_tracer_provider_force_flush(p, 10000);
        }
        double ns = (double)total / (rounds * per);
        if (ns < best)
            best = ns;
    }
    tel_span_end(root);
    tel_context_cleanup(&parent);
    tel_tracer_provider_force_flush(p, 10000);
    tel_bsp_stats st;
    tel_bsp_get_stats(last_bsp, &st);
    *dropped = st.dropped_queue_full;
    tel_tracer_provider_destroy(p);
    return best;
}

static double bench_sampled_out(void)
{
    tel_tracer_provider *p = make_provider(TEL_SAMPLER_ALWAYS_OFF, 2048, 5000);
    tel_tracer *t = tel_tracer_get(p, "bench", "1");
    const int n = 2000000;
    uint64_t t0 = bench_now();
    for (int i = 0; i < n; i++)
        one_span(t, NULL);
    double ns = (double)(bench_now() - t0) / n;
    tel_tracer_provider_destroy(p);
    return ns;
}

static double bench_disabled(void)
{
    setenv("OTEL_SDK_DISABLED", "true", 1);
    tel_init("bench", NULL);
    tel_tracer *t = tel_global_tracer("bench", "1");
    const int n = 20000000;
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        uint64_t t0 = bench_now();
        for (int i = 0; i < n; i++) {
            tel_span *s = tel_span_start(t, "x", TEL_SPAN_KIND_INTERNAL, NULL);
            __asm__ volatile("" : : "r"(s) : "memory");
            tel_span_end(s);
        }
        double ns = (double)(bench_now() - t0) / n;
        if (ns < best)
            best = ns;
    }
    tel_shutdown();
    unsetenv("OTEL_SDK_DISABLED");
    return best;
}

/* ---- bsp.throughput: 2 producers, 1 export thread, for a fixed time ---- */

typedef struct prod_arg {
    tel_tracer *t;
    atomic_bool *stop;
    uint64_t made;
} prod_arg;

static void *producer(void *arg)
{
    prod_arg *a = arg;
    uint64_t n = 0;
    while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
        for (int i = 0; i < 256; i++)
            one_span(a->t, NULL);
        n += 256;
    }
    a->made = n;
    return NULL;
}

static double bench_bsp_throughput(double *drop_pct)
{
    tel_tracer_provider *p = make_provider(TEL_SAMPLER_ALWAYS_ON, 2048, 100);
    tel_tracer *t = tel_tracer_get(p, "bench", "1");
    atomic_bool stop = false;
    prod_arg a[2] = {{t, &stop, 0}, {t, &stop, 0}};
    pthread_t th[2];
    uint64_t before = atomic_load(&sink.spans);
    uint64_t t0 = bench_now();
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, producer, &a[i]);
    struct timespec d = {1, 0};
    nanosleep(&d, NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    uint64_t exported = atomic_load(&sink.spans) - before;
    double secs = (double)(bench_now() - t0) / 1e9;
    uint64_t made = a[0].made + a[1].made;
    *drop_pct = made ? 100.0 * (double)(made - exported) / (double)made : 0;
    tel_tracer_provider_destroy(p);
    return (double)exported / secs;
}

/* ---- propagation ---- */

typedef struct hdrs {
    const char *names[8];
    const char *vals[8];
    char buf[8][512];
    int n;
} hdrs;

static const char *h_get(void *ud, const char *name, size_t *len)
{
    hdrs *h = ud;
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->names[i], name) == 0) {
            if (len)
                *len = strlen(h->vals[i]);
            return h->vals[i];
        }
    return NULL;
}

static int h_set(void *ud, const char *name, const char *value)
{
    hdrs *h = ud;
    int i = 0;
    while (i < h->n && strcmp(h->names[i], name) != 0)
        i++;
    if (i == 8)
        return TEL_EFULL;
    if (i == h->n)
        h->n++;
    h->names[i] = name;
    strncpy(h->buf[i], value, sizeof h->buf[i] - 1);
    h->buf[i][sizeof h->buf[i] - 1] = '\0';
    h->vals[i] = h->buf[i];
    return TEL_OK;
}

static double bench_extract(const tel_propagator *prop, hdrs *h)
{
    tel_carrier c = {.ud = h, .get = h_get, .get_all = NULL, .set = h_set};
    const int n = 1000000;
    tel_context ctx = TEL_CONTEXT_INIT;
    uint64_t t0 = bench_now();
    for (int i = 0; i < n; i++)
        tel_propagator_extract(prop, &c, &ctx);
    double ns = (double)(bench_now() - t0) / n;
    tel_context_cleanup(&ctx);
    return ns;
}

/* ---- bsp.handoff: what handing spans to the batch processor's export thread costs the thread
 * that makes them ---- */

static double thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static unsigned char handoff_work[256 * 1024];
static unsigned handoff_sink;

/* n iterations of a request's spans (a SERVER span with the HTTP attributes and a CLIENT child,
 * as bench_http's handler makes them) and about 3 us of other work over a 256 KB working set,
 * so that spans come at a rate an export thread keeps up with and the producer's cache holds
 * more than spans. */
static void handoff_block(tel_tracer *t, const tel_span_attr_set *srv, const tel_span_attr_set *db,
                          int n)
{
    for (int i = 0; i < n; i++) {
        tel_span_start_opts o = {.name = "GET /v1/servers/{id}",
                                 .kind = TEL_SPAN_KIND_SERVER,
                                 .attr_set = srv};
        tel_span *s = tel_span_start_ex(t, &o);
        tel_span_set_strn(s, "url.path", "/v1/servers/42", 14);
        tel_span_set_strn(s, "server.address", "127.0.0.1", 9);
        tel_span_set_int(s, "server.port", 8080);
        tel_span_set_strn(s, "client.address", "127.0.0.1", 9);
        tel_context ctx = TEL_CONTEXT_INIT;
        ctx.sc = tel_span_get_context(s);
        tel_span_start_opts d = {
            .name = "SELECT servers", .kind = TEL_SPAN_KIND_CLIENT, .parent = &ctx, .attr_set = db};
        tel_span *c = tel_span_start_ex(t, &d);
        tel_span_set_int(c, "db.response.returned_rows", 1);
        tel_span_end(c);
        tel_span_set_int(s, "http.response.status_code", 200);
        tel_span_end(s);
        size_t off = (size_t)i * 2048 % sizeof handoff_work;
        for (size_t k = 0; k < 2048; k += 64)
            handoff_sink += handoff_work[off + k]++;
        for (volatile int q = 0; q < 8000; q++)
            ;
    }
}

/* The making thread's CPU time per span with the batch processor minus without any processor,
 * the two alternating in blocks (paired: the machine's drifts hit both); the median and
 * quartiles of the pairs. With two CPUs or more the export thread runs on another CPU than the
 * producer, as on a server: the figure is then what moving records across CPUs costs the
 * request path (slots and queue entries written on one CPU, read on the other), which is time
 * and not instructions. */
static double bench_bsp_handoff(double *q1, double *q3)
{
    cpu_set_t allowed;
    sched_getaffinity(0, sizeof allowed, &allowed);
    int cpus[2];
    int nc = bench_two_cpus(cpus);
    tel_attr fa[4] = {TEL_ATTR_STR("http.request.method", "GET"), TEL_ATTR_STR("url.scheme", "http"),
                      TEL_ATTR_STR("network.protocol.version", "1.1"),
                      TEL_ATTR_STR("http.route", "/v1/servers/{id}")};
    tel_attr da[4] = {TEL_ATTR_STR("db.system.name", "sqlite"),
                      TEL_ATTR_STR("db.operation.name", "SELECT"),
                      TEL_ATTR_STR("db.collection.name", "servers"),
                      TEL_ATTR_STR("db.query.text", "SELECT id, name FROM servers WHERE id = ?")};
    tel_span_attr_set srv, db;
    tel_span_attr_set_init(&srv, fa, 4);
    tel_span_attr_set_init(&db, da, 4);
    if (nc == 2)
        bench_pin_cpu(cpus[1]); /* the export thread inherits this */
    tel_tracer_provider *pb = make_provider(TEL_SAMPLER_ALWAYS_ON, 2048, 5000);
    tel_tracer_provider_config cfg = {0};
    tel_tracer_provider *pn = tel_tracer_provider_create(&cfg);
    if (nc == 2)
        bench_pin_cpu(cpus[0]);
    tel_tracer *tb = tel_tracer_get(pb, "bench", "1"), *tn = tel_tracer_get(pn, "bench", "1");
    enum { PAIRS = 80, PER = 2000 };
    double d[PAIRS];
    handoff_block(tb, &srv, &db, PER);
    handoff_block(tn, &srv, &db, PER);
    for (int r = 0; r < PAIRS; r++) {
        double c0 = thread_cpu_ns();
        handoff_block(tn, &srv, &db, PER);
        double c1 = thread_cpu_ns();
        handoff_block(tb, &srv, &db, PER);
        double c2 = thread_cpu_ns();
        d[r] = ((c2 - c1) - (c1 - c0)) / (2.0 * PER); /* per span */
    }
    qsort(d, PAIRS, sizeof d[0], bench_cmp_double);
    *q1 = d[PAIRS / 4];
    *q3 = d[3 * PAIRS / 4];
    tel_tracer_provider_destroy(pb);
    tel_tracer_provider_destroy(pn);
    sched_setaffinity(0, sizeof allowed, &allowed);
    return d[PAIRS / 2];
}

int main(void)
{
    double cg = bench_clock_gettime_ns();
    bench_print("clock_gettime", cg, "ns");

    uint64_t dropped = 0;
    double en = bench_span_enabled(&dropped);
    bench_print("span.enabled", en, "ns");
    bench_print("span.enabled.x_clock_gettime", en / cg, "x");
    bench_print("span.enabled.dropped", (double)dropped, "spans");
    bench_print("span.sampled_out", bench_sampled_out(), "ns");
    bench_print("span.disabled", bench_disabled(), "ns");

    tel_propagator *tc = tel_propagator_create("tracecontext");
    tel_propagator *bg = tel_propagator_create("baggage");
    hdrs h = {0};
    h_set(&h, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    bench_print("traceparent.extract", bench_extract(tc, &h), "ns");
    {
        tel_context ctx = TEL_CONTEXT_INIT;
        tel_carrier c = {.ud = &h, .get = h_get, .set = h_set};
        tel_propagator_extract(tc, &c, &ctx);
        hdrs out = {0};
        tel_carrier oc = {.ud = &out, .get = h_get, .set = h_set};
        const int n = 1000000;
        uint64_t t0 = bench_now();
        for (int i = 0; i < n; i++) {
            out.n = 0;
            tel_propagator_inject(tc, &ctx, &oc);
        }
        bench_print("traceparent.inject", (double)(bench_now() - t0) / n, "ns");
        tel_context_cleanup(&ctx);
    }
    hdrs hb = {0};
    h_set(&hb, "baggage",
          "customer_id=c-42,server_id=srv-0017,session_id=4f1c2e,datacenter=fra1,"
          "agent_id=agent-fra1-01");
    bench_print("baggage.extract", bench_extract(bg, &hb), "ns");
    tel_propagator_destroy(tc);
    tel_propagator_destroy(bg);

    double drop_pct = 0;
    double tput = bench_bsp_throughput(&drop_pct);
    bench_print("bsp.throughput", tput, "spans/s");
    bench_print("bsp.throughput.dropped", drop_pct, "pct");

    double q1, q3;
    double ho = bench_bsp_handoff(&q1, &q3);
    bench_print("bsp.handoff", ho, "ns/span");
    bench_print("bsp.handoff.q1", q1, "ns/span");
    bench_print("bsp.handoff.q3", q3, "ns/span");
    /* The hand-off is mostly cache lines crossing CPUs: this machine's price of one. */
    int cpus[2];
    if (bench_two_cpus(cpus) == 2) {
        bench_print("machine.line_rtt", bench_line_rtt_ns(cpus[0], cpus[1]), "ns");
        /* A producer wakes the export thread once per batch: this is what one wake costs it. */
        bench_print("machine.wake_us", bench_wake_us(cpus[0], cpus[1]), "us");
    }
    return 0;
}
