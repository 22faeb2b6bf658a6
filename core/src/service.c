/* Service scaffolding: configuration, telemetry, signals, run loop. See core/service.h. */
#include "core/service.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/otlp_grpc.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

#ifndef BMC_VERSION
#define BMC_VERSION "0.0.0"
#endif

#define MAX_SERVERS 8
#define MAX_HOOKS 8
#define POLL_MS 100

typedef struct svc_server {
    bool grpc;
    const char *name;
    core_http_server *http;
    core_grpc_server *g;
    bool started;
} svc_server;

typedef struct svc_hook {
    void (*fn)(void *ud);
    void *ud;
} svc_hook;

struct core_service {
    core_service_info info;
    core_config *cfg;
    svc_server servers[MAX_SERVERS];
    size_t n_servers;
    svc_hook hooks[MAX_HOOKS];
    size_t n_hooks;
    bool hooks_ran;
    bool running;   /* run has been called */
    bool stopped;   /* servers stopped */
    bool telemetry; /* tel_init was called */
    void (*tick)(core_service *s, void *ud);
    void *tick_ud;
    uint32_t tick_ms;
    atomic_bool stop;
    atomic_int signal;
};

static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void write_help_extra(const core_service_info *info)
{
    if (info->help_extra && info->help_extra[0]) printf("\n%s\n", info->help_extra);
    printf(
        "\nTelemetry is configured with the standard OpenTelemetry variables (OTEL_SDK_DISABLED,\n"
        "OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_EXPORTER,\n"
        "OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT,\n"
        "OTEL_EXPORTER_OTLP_PROTOCOL (grpc, http/protobuf, http/json), OTEL_PROPAGATORS,\n"
        "OTEL_TRACES_SAMPLER, ...); log lines go to stderr as JSON, threshold LOG_LEVEL.\n");
    fflush(stdout);
}

/* Logs every line of a multi-line text as one attribute-free error line each. */
static void log_lines(tel_log_level lvl, const char *prefix, const char *text)
{
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0) tel_log(lvl, NULL, 0, "%s%.*s", prefix, (int)n, p);
        p += n;
        if (*p == '\n') p++;
    }
}

/* "KEY=value (source); ..." with secrets hidden (core_config_write_values), malloc'd. */
static char *config_summary(const core_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int rc = core_config_write_values(c, f);
    if (fclose(f) != 0 || rc != 0) {
        free(buf);
        return NULL;
    }
    for (char *p = buf; p && *p; p++)
        if (*p == '\n') *p = (p[1] != '\0') ? ';' : '\0';
    return buf;
}

int core_service_exit_code(int init_rc)
{
    if (init_rc == 0 || init_rc == CORE_SERVICE_HELP) return 0;
    return init_rc == CORE_ECONFIG ? 2 : 1;
}

int core_service_init(core_service **out, const core_service_info *info, int argc,
                      char *const *argv)
{
    if (out) *out = NULL;
    if (!out || !info || !info->name || (info->n_items && !info->items)) return CORE_EINVAL;

    /* Before any thread exists: the run loop takes SIGINT/SIGTERM with sigtimedwait. */
    sigset_t set;
    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    tel_log_set_service(getenv("OTEL_SERVICE_NAME") && getenv("OTEL_SERVICE_NAME")[0]
                            ? getenv("OTEL_SERVICE_NAME")
                            : info->name);

    core_service *s = calloc(1, sizeof *s);
    if (!s) return CORE_ENOMEM;
    s->info = *info;
    if (!s->info.version) s->info.version = BMC_VERSION;
    s->cfg = core_config_create(info->name, info->items, info->n_items);
    if (!s->cfg) {
        free(s);
        return CORE_ENOMEM;
    }
    char err[4096] = "";
    int rc = core_config_parse_args(s->cfg, argc, argv, stdout, err, sizeof err);
    if (rc == 1) {
        write_help_extra(&s->info);
        core_config_destroy(s->cfg);
        free(s);
        return CORE_SERVICE_HELP;
    }
    if (rc != 0) {
        log_lines(TEL_LOG_ERROR, "configuration error: ", err[0] ? err : core_strerror(rc));
        tel_log_error("%s: see `%s --help`", info->name, info->name);
        core_config_destroy(s->cfg);
        free(s);
        return rc == CORE_ENOMEM ? CORE_ENOMEM : CORE_ECONFIG;
    }

    core_otlp_grpc_register();
    int trc = tel_init(info->name, s->info.version);
    s->telemetry = true;
    if (trc != 0 && !tel_sdk_disabled())
        tel_log_warn("telemetry did not start (%s); running without it", core_strerror(trc));

    char *summary = config_summary(s->cfg);
    tel_attr attrs[] = {
        TEL_ATTR_STR("service.name", info->name),
        TEL_ATTR_STR("service.version", s->info.version),
        TEL_ATTR_INT64("process.pid", (int64_t)getpid()),
        TEL_ATTR_STR("config", summary ? summary : "(unavailable)"),
        TEL_ATTR_BOOLEAN("telemetry.enabled", !tel_sdk_disabled() && trc == 0),
    };
    tel_log(TEL_LOG_INFO, attrs, sizeof attrs / sizeof attrs[0], "starting %s %s", info->name,
            s->info.version);
    free(summary);
    atomic_init(&s->stop, false);
    atomic_init(&s->signal, 0);
    *out = s;
    return 0;
}

const core_config *core_service_config(const core_service *s)
{
    return s ? s->cfg : NULL;
}

const char *core_service_name(const core_service *s)
{
    return s ? s->info.name : NULL;
}

void core_service_http_defaults(const core_service *s, core_http_server_config *cfg)
{
    (void)s;
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->meters = tel_global_meter_provider();
}

static int add_server(core_service *s, const svc_server *srv)
{
    if (!s) return CORE_EINVAL;
    if (s->running) return CORE_ESTATE;
    if (s->n_servers == MAX_SERVERS) return CORE_EFULL;
    s->servers[s->n_servers++] = *srv;
    return 0;
}

int core_service_add_http(core_service *s, core_http_server *h, const char *name)
{
    if (!h) return CORE_EINVAL;
    return add_server(s, &(svc_server){.grpc = false, .name = name ? name : "http", .http = h});
}

int core_service_add_grpc(core_service *s, core_grpc_server *g, const char *name)
{
    if (!g) return CORE_EINVAL;
    return add_server(s, &(svc_server){.grpc = true, .name = name ? name : "grpc", .g = g});
}

int core_service_on_stop(core_service *s, void (*fn)(void *ud), void *ud)
{
    if (!s || !fn) return CORE_EINVAL;
    if (s->n_hooks == MAX_HOOKS) return CORE_EFULL;
    s->hooks[s->n_hooks++] = (svc_hook){fn, ud};
    return 0;
}

int core_service_set_tick(core_service *s, uint32_t interval_ms,
                          void (*fn)(core_service *s, void *ud), void *ud)
{
    if (!s || !fn || interval_ms < 10) return CORE_EINVAL;
    if (s->running) return CORE_ESTATE;
    s->tick = fn;
    s->tick_ud = ud;
    s->tick_ms = interval_ms;
    return 0;
}

void core_service_stop(core_service *s)
{
    if (s) atomic_store(&s->stop, true);
}

bool core_service_stopping(const core_service *s)
{
    return s && atomic_load(&s->stop);
}

/* Stops every started server: HTTP first (no new requests), then gRPC. */
static void stop_servers(core_service *s)
{
    if (s->stopped) return;
    s->stopped = true;
    for (size_t i = 0; i < s->n_servers; i++) {
        svc_server *v = &s->servers[i];
        if (!v->grpc && v->started) core_http_server_stop(v->http);
    }
    for (size_t i = 0; i < s->n_servers; i++) {
        svc_server *v = &s->servers[i];
        if (v->grpc && v->started) {
            int rc = core_grpc_server_stop(v->g);
            if (rc != 0)
                tel_log_warn("gRPC server %s: some calls did not complete in time (%s)", v->name,
                             core_strerror(rc));
        }
    }
}

static void run_hooks(core_service *s)
{
    if (s->hooks_ran) return;
    s->hooks_ran = true;
    for (size_t i = s->n_hooks; i-- > 0;)
        s->hooks[i].fn(s->hooks[i].ud);
}

static int start_servers(core_service *s)
{
    for (size_t i = 0; i < s->n_servers; i++) {
        svc_server *v = &s->servers[i];
        int rc = v->grpc ? core_grpc_server_start(v->g) : core_http_server_start(v->http);
        if (rc != 0) {
            tel_attr a[] = {TEL_ATTR_STR("server.name", v->name),
                            TEL_ATTR_STR("network.protocol.name", v->grpc ? "grpc" : "http")};
            tel_log(TEL_LOG_ERROR, a, 2, "cannot start the %s server %s: %s",
                    v->grpc ? "gRPC" : "HTTP", v->name, core_strerror(rc));
            return CORE_EIO;
        }
        v->started = true;
        int port = v->grpc ? core_grpc_server_port(v->g) : core_http_server_port(v->http);
        tel_attr a[] = {TEL_ATTR_STR("server.name", v->name),
                        TEL_ATTR_STR("network.protocol.name", v->grpc ? "grpc" : "http"),
                        TEL_ATTR_INT64("server.port", port)};
        tel_log(TEL_LOG_INFO, a, 3, "listening: %s %s on port %d", v->name,
                v->grpc ? "gRPC" : "HTTP", port);
    }
    return 0;
}

int core_service_run(core_service *s)
{
    if (!s) return CORE_EINVAL;
    if (s->running) return CORE_ESTATE;
    s->running = true;
    int rc = start_servers(s);
    if (rc != 0) {
        stop_servers(s);
        run_hooks(s);
        return rc;
    }
    tel_log_info("%s ready", s->info.name);

    sigset_t set;
    stop_signals(&set);
    uint64_t next_tick = s->tick ? mono_ms() + s->tick_ms : UINT64_MAX;
    while (!atomic_load(&s->stop)) {
        uint64_t now = mono_ms();
        uint64_t wait = POLL_MS;
        if (s->tick && next_tick > now && next_tick - now < wait) wait = next_tick - now;
        if (s->tick && next_tick <= now) wait = 0;
        if (wait > 0) {
            struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
            int sig = sigtimedwait(&set, NULL, &ts);
            if (sig == SIGINT || sig == SIGTERM) {
                atomic_store(&s->signal, sig);
                atomic_store(&s->stop, true);
                break;
            }
        }
        if (s->tick && mono_ms() >= next_tick && !atomic_load(&s->stop)) {
            s->tick(s, s->tick_ud);
            uint64_t after = mono_ms();
            next_tick += s->tick_ms;
            if (next_tick <= after)
                next_tick = after + s->tick_ms; /* fell behind: skip, do not burst */
        }
    }

    /* A second signal while stopping ends the process (default action). */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    int sig = atomic_load(&s->signal);
    tel_log_info("stopping %s (%s)", s->info.name,
                 sig == SIGINT    ? "SIGINT"
                 : sig == SIGTERM ? "SIGTERM"
                                  : "requested");
    stop_servers(s);
    run_hooks(s);
    return 0;
}

void core_service_destroy(core_service *s)
{
    if (!s) return;
    stop_servers(s);
    run_hooks(s);
    for (size_t i = 0; i < s->n_servers; i++) {
        svc_server *v = &s->servers[i];
        if (v->grpc)
            core_grpc_server_destroy(v->g);
        else
            core_http_server_destroy(v->http);
    }
    core_config_destroy(s->cfg);
    tel_log_info("%s stopped", s->info.name);
    if (s->telemetry) tel_shutdown();
    free(s);
}
