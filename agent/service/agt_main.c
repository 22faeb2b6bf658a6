/* bmc-agent: the per-datacenter agent. Serves bmcfleet.agent.v1.Agent over gRPC, registers with
 * its gateway and sends heartbeats, runs the discovery/sensor cycle and serves /metrics,
 * /healthz and /readyz on a small HTTP port.
 *
 * Runs on the core service scaffolding (core/service.h): settings from the environment or
 * --config, telemetry, "listening: agent gRPC on port N" and "listening: metrics HTTP on port N"
 * log lines (ports may be 0 = any), SIGINT/SIGTERM. Registration and discovery start once the
 * servers listen (the advertised address defaults to the gRPC host with the bound port).
 * Shutdown order: metrics HTTP, gRPC (calls in flight end within the grace period),
 * registration, discovery, pool, handle cache (BMC sessions closed), telemetry flush. Exit
 * status: 0 after a clean shutdown, 1 on a start-up failure, 2 on bad configuration. */
#include <freeipmi/freeipmi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agt_cache.h"
#include "agt_discovery.h"
#include "agt_registrar.h"
#include "agt_rpc.h"
#include "core/config.h"
#include "core/error.h"
#include "core/grpc_server.h"
#include "core/http_server.h"
#include "core/service.h"
#include "core/workpool.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

static const core_config_item settings[] = {
    {"AGENT_ID", CORE_CFG_STRING, NULL, "agent id (default: agent-<hostname>)", 0, 64, 0},
    {"AGENT_DATACENTER", CORE_CFG_STRING, "dc1", "datacenter this agent serves", 1, 64, 0},
    {"AGENT_GRPC_ADDRESS", CORE_CFG_STRING, "127.0.0.1:8090",
     "host:port of the Agent gRPC service (port 0: any free port)", 3, 255, 0},
    {"AGENT_ADVERTISE_ADDRESS", CORE_CFG_STRING, NULL,
     "host:port the gateway dials (default: the gRPC host with the bound port)", 0, 255, 0},
    {"AGENT_METRICS_ADDRESS", CORE_CFG_STRING, "127.0.0.1", "address of /metrics", 1, 255, 0},
    {"AGENT_METRICS_PORT", CORE_CFG_INT, "8091", "port of /metrics (0: any free port)", 0, 65535,
     0},
    {"AGENT_GATEWAY_ADDRESS", CORE_CFG_STRING, "127.0.0.1:8082",
     "host:port of the gateway's agent registry", 3, 255, 0},
    {"BMC_SERVICE_TOKEN", CORE_CFG_STRING, NULL,
     "shared secret sent with registration and heartbeats", 0, 4096, CORE_CFG_SECRET},
    {"AGENT_DEFAULT_DEADLINE", CORE_CFG_DURATION, "10s",
     "BMC deadline when a request gives none", 100, 600000, 0},
    {"AGENT_MAX_DEADLINE", CORE_CFG_DURATION, "120s", "longest BMC deadline accepted", 100,
     600000, 0},
    {"AGENT_WORKERS", CORE_CFG_INT, "8", "worker threads for BMC operations", 1, 64, 0},
    {"AGENT_QUEUE", CORE_CFG_INT, "256", "BMC operations waiting for a worker at most", 1,
     100000, 0},
    {"AGENT_BMC_CACHE_MAX", CORE_CFG_INT, "256", "cached BMC handles (sessions) at most", 1,
     100000, 0},
    {"AGENT_BMC_IDLE_TTL", CORE_CFG_DURATION, "10m", "an idle BMC handle is closed after", 1000,
     86400000, 0},
    {"AGENT_IPMI_CIPHER_SUITE", CORE_CFG_INT, "3", "IPMI 2.0 cipher suite id", 0, 17, 0},
    {"AGENT_IPMI_WORKAROUNDS", CORE_CFG_STRING, NULL,
     "FreeIPMI workarounds: comma list of authcap, intel20, supermicro20, sun20, opensesspriv, "
     "integritycheckvalue, nochecksumcheck",
     0, 255, 0},
    {"AGENT_REDFISH_CA_FILE", CORE_CFG_STRING, NULL, "PEM CA bundle for redfish+https BMCs", 0,
     4096, 0},
    {"AGENT_REDFISH_INSECURE", CORE_CFG_BOOL, "false",
     "skip TLS verification for redfish+https BMCs (labs only)", 0, 0, 0},
    {"BMC_AGENT_DISCOVER", CORE_CFG_STRING, NULL,
     "comma-separated BMC endpoints for the discovery cycle", 0, 65536, 0},
    {"BMC_AGENT_DISCOVER_USERNAME", CORE_CFG_STRING, NULL, "default BMC user for discovery", 0,
     127, CORE_CFG_SECRET},
    {"BMC_AGENT_DISCOVER_PASSWORD", CORE_CFG_STRING, NULL, "default BMC password for discovery",
     0, 255, CORE_CFG_SECRET},
    {"BMC_AGENT_DISCOVER_CREDENTIALS_FILE", CORE_CFG_STRING, NULL,
     "file of `endpoint username password` lines (`*` as endpoint: the default)", 0, 4096, 0},
    {"AGENT_DISCOVERY_INTERVAL", CORE_CFG_DURATION, "60s", "time between discovery cycles", 100,
     86400000, 0},
    {"AGENT_DISCOVERY_TIMEOUT", CORE_CFG_DURATION, "5s", "deadline per BMC in a discovery cycle",
     100, 600000, 0},
};

static const char *const capabilities[] = {"power", "identity", "sensors", "discover", "ipmi",
                                           "redfish"};

/* Parses AGENT_IPMI_WORKAROUNDS into FreeIPMI 2.0 out-of-band flags. Returns 0 or -1 (the
 * unknown name goes to err). */
static int parse_workarounds(const char *list, unsigned *flags, char *err, size_t errcap)
{
    static const struct {
        const char *name;
        unsigned flag;
    } names[] = {
        {"authcap", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_AUTHENTICATION_CAPABILITIES},
        {"intel20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_INTEL_2_0_SESSION},
        {"supermicro20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUPERMICRO_2_0_SESSION},
        {"sun20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUN_2_0_SESSION},
        {"opensesspriv", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE},
        {"integritycheckvalue", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NON_EMPTY_INTEGRITY_CHECK_VALUE},
        {"nochecksumcheck", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NO_CHECKSUM_CHECK},
    };
    *flags = 0;
    if (!list) return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        size_t i = 0;
        for (; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(tok, names[i].name) == 0) break;
        if (i == sizeof names / sizeof names[0]) {
            snprintf(err, errcap, "AGENT_IPMI_WORKAROUNDS: unknown workaround \"%s\"", tok);
            return -1;
        }
        *flags |= names[i].flag;
    }
    return 0;
}

static bool id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

/* Everything the handlers and threads use; freed after the servers (owned by the service). */
typedef struct agt_app {
    const core_config *cfg;
    char agent_id[80];
    const char *datacenter;
    agt_cache *cache;
    core_workpool *pool;
    agt_discovery *disc;
    agt_registrar *reg;
    core_grpc_server *grpc; /* owned by the service */
    agt_rpc rpc;
    bool started;
} agt_app;

/* First tick (the servers are listening): the advertised address can use the bound port, so
 * registration and discovery start here. Later ticks do nothing. */
static void on_tick(core_service *svc, void *ud)
{
    agt_app *app = ud;
    if (app->started) return;
    app->started = true;
    char advertise[300];
    const char *adv = core_config_str(app->cfg, "AGENT_ADVERTISE_ADDRESS");
    if (adv && *adv) {
        snprintf(advertise, sizeof advertise, "%s", adv);
    } else {
        const char *listen = core_config_str(app->cfg, "AGENT_GRPC_ADDRESS");
        const char *colon = strrchr(listen, ':');
        int hlen = colon ? (int)(colon - listen) : (int)strlen(listen);
        if ((hlen == 7 && strncmp(listen, "0.0.0.0", 7) == 0) ||
            (hlen == 4 && strncmp(listen, "[::]", 4) == 0)) {
            tel_log_error("configuration: AGENT_ADVERTISE_ADDRESS is required when listening "
                          "on all addresses");
            core_service_stop(svc);
            return;
        }
        snprintf(advertise, sizeof advertise, "%.*s:%d", hlen, listen,
                 core_grpc_server_port(app->grpc));
    }
    agt_registrar_config rcfg = {
        .gateway = core_config_str(app->cfg, "AGENT_GATEWAY_ADDRESS"),
        .agent_id = app->agent_id,
        .datacenter = app->datacenter,
        .address = advertise,
        .capabilities = capabilities,
        .n_capabilities = sizeof capabilities / sizeof capabilities[0],
        .service_token = core_config_str(app->cfg, "BMC_SERVICE_TOKEN"),
        .discovery = app->disc,
    };
    app->reg = agt_registrar_create(&rcfg);
    if (!app->reg || agt_registrar_start(app->reg) != CORE_OK ||
        agt_discovery_start(app->disc) != CORE_OK) {
        tel_log_error("cannot start registration or discovery");
        core_service_stop(svc);
        return;
    }
    tel_attr a[3] = {TEL_ATTR_STR("agent_id", app->agent_id),
                     TEL_ATTR_STR("datacenter", app->datacenter),
                     TEL_ATTR_STR("address", advertise)};
    tel_log(TEL_LOG_INFO, a, 3, "agent %s serving datacenter %s at %s", app->agent_id,
            app->datacenter, advertise);
}

/* on_stop hook (the servers have stopped; every call was completed): stop the threads, then
 * close the BMC sessions, while telemetry still runs (the handles hold its tracer). Also the
 * clean-up of a failed start. */
static void app_stop(void *ud)
{
    agt_app *app = ud;
    agt_registrar_destroy(app->reg);
    app->reg = NULL;
    agt_discovery_destroy(app->disc);
    app->disc = NULL;
    core_workpool_destroy(app->pool);
    app->pool = NULL;
    agt_cache_destroy(app->cache);
    app->cache = NULL;
}

int main(int argc, char **argv)
{
    core_service *svc = NULL;
    core_service_info info = {.name = "bmc-agent",
                              .items = settings,
                              .n_items = sizeof settings / sizeof settings[0]};
    int rc = core_service_init(&svc, &info, argc, argv);
    if (rc != 0) return core_service_exit_code(rc);
    const core_config *cfg = core_service_config(svc);
    agt_app app = {.cfg = cfg};
    int status = 1;
    char err[512];

    const char *id = core_config_str(cfg, "AGENT_ID");
    if (id && *id) {
        snprintf(app.agent_id, sizeof app.agent_id, "%s", id);
    } else {
        char host[64] = "local";
        gethostname(host, sizeof host - 1);
        snprintf(app.agent_id, sizeof app.agent_id, "agent-%.60s", host);
    }
    app.datacenter = core_config_str(cfg, "AGENT_DATACENTER");
    if (!id_ok(app.agent_id) || !id_ok(app.datacenter)) {
        tel_log_error("configuration: AGENT_ID and AGENT_DATACENTER must match "
                      "[A-Za-z0-9._-]{1,64}");
        status = 2;
        goto out;
    }

    agt_cache_config cc = {
        .max_entries = (size_t)core_config_int(cfg, "AGENT_BMC_CACHE_MAX"),
        .idle_ttl_ms = core_config_duration_ms(cfg, "AGENT_BMC_IDLE_TTL"),
    };
    cc.options.cipher_suite = (int)core_config_int(cfg, "AGENT_IPMI_CIPHER_SUITE");
    cc.options.tls_ca_file = core_config_str(cfg, "AGENT_REDFISH_CA_FILE");
    cc.options.tls_insecure = core_config_bool(cfg, "AGENT_REDFISH_INSECURE");
    if (parse_workarounds(core_config_str(cfg, "AGENT_IPMI_WORKAROUNDS"),
                          &cc.options.workaround_flags, err, sizeof err) != 0) {
        tel_log_error("configuration: %s", err);
        status = 2;
        goto out;
    }
    app.cache = agt_cache_create(&cc);
    app.pool = core_workpool_create((int)core_config_int(cfg, "AGENT_WORKERS"),
                                    (size_t)core_config_int(cfg, "AGENT_QUEUE"));
    if (!app.cache || !app.pool) {
        tel_log_error("start-up failed: out of memory or threads");
        goto out;
    }
    agt_discovery_config dcfg = {
        .endpoints = core_config_str(cfg, "BMC_AGENT_DISCOVER"),
        .username = core_config_str(cfg, "BMC_AGENT_DISCOVER_USERNAME"),
        .password = core_config_str(cfg, "BMC_AGENT_DISCOVER_PASSWORD"),
        .credentials_file = core_config_str(cfg, "BMC_AGENT_DISCOVER_CREDENTIALS_FILE"),
        .interval_ms = core_config_duration_ms(cfg, "AGENT_DISCOVERY_INTERVAL"),
        .bmc_timeout_ms = core_config_duration_ms(cfg, "AGENT_DISCOVERY_TIMEOUT"),
        .agent_id = app.agent_id,
        .datacenter = app.datacenter,
        .cache = app.cache,
    };
    app.disc = agt_discovery_create(&dcfg, err, sizeof err);
    if (!app.disc) {
        tel_log_error("configuration: %s", err);
        status = 2;
        goto out;
    }
    app.rpc = (agt_rpc){
        .cache = app.cache,
        .pool = app.pool,
        .discovery = app.disc,
        .agent_id = app.agent_id,
        .datacenter = app.datacenter,
        .default_deadline_ms = core_config_duration_ms(cfg, "AGENT_DEFAULT_DEADLINE"),
        .max_deadline_ms = core_config_duration_ms(cfg, "AGENT_MAX_DEADLINE"),
    };

    core_grpc_server_config gc = {.address = core_config_str(cfg, "AGENT_GRPC_ADDRESS"),
                                  .meters = tel_global_meter_provider()};
    app.grpc = core_grpc_server_create(&gc);
    if (!app.grpc || agt_rpc_serve(&app.rpc, app.grpc) != CORE_OK ||
        core_service_add_grpc(svc, app.grpc, "agent") != CORE_OK) {
        tel_log_error("cannot set up the Agent gRPC service");
        core_grpc_server_destroy(app.grpc);
        goto out;
    }
    core_http_server_config hc;
    core_service_http_defaults(svc, &hc);
    hc.address = core_config_str(cfg, "AGENT_METRICS_ADDRESS");
    hc.port = (int)core_config_int(cfg, "AGENT_METRICS_PORT");
    core_http_server *http = core_http_server_create(&hc);
    if (!http || core_service_add_http(svc, http, "metrics") != CORE_OK) {
        tel_log_error("cannot set up the metrics server");
        core_http_server_destroy(http);
        goto out;
    }
    core_service_on_stop(svc, app_stop, &app);
    core_service_set_tick(svc, 50, on_tick, &app);
    status = core_service_run(svc) == 0 ? 0 : 1;
out:
    app_stop(&app); /* after a run: already done by the hook */
    core_service_destroy(svc);
    return status;
}
