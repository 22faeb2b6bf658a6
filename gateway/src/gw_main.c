/* bmc-gateway: the regional public API (power operations) and the agent registry.
 *
 * Runs on the core service scaffolding (core/service.h): settings from the environment or
 * --config, telemetry, "listening: api HTTP on port N" and "listening: registry gRPC on port N"
 * log lines (ports may be 0 = any), SIGINT/SIGTERM. Shutdown order: HTTP API (no new requests),
 * registry gRPC, worker pool (queued requests answered), registry, server cache, token keys,
 * telemetry flush. Exit status: 0 after a clean shutdown, 1 on a start-up failure, 2 on bad
 * configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/grpc_server.h"
#include "core/http_client.h"
#include "core/http_server.h"
#include "core/service.h"
#include "core/token.h"
#include "core/workpool.h"
#include "gw_power.h"
#include "gw_registry.h"
#include "gw_servers.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

static const core_config_item settings[] = {
    {"GW_HTTP_ADDRESS", CORE_CFG_STRING, "127.0.0.1", "address of the public HTTP API", 1, 255, 0},
    {"GW_HTTP_PORT", CORE_CFG_INT, "8081", "port of the public HTTP API (0: any free port)", 0,
     65535, 0},
    {"GW_GRPC_ADDRESS", CORE_CFG_STRING, "127.0.0.1:8082",
     "host:port of the agent registry (gRPC; port 0: any free port)", 3, 255, 0},
    {"GW_MANAGER_URL", CORE_CFG_URL, "http://127.0.0.1:8080", "base URL of the manager", 0, 0, 0},
    {"BMC_SERVICE_TOKEN", CORE_CFG_STRING, NULL,
     "shared secret for the manager's internal API and agent registration", 16, 4096,
     CORE_CFG_SECRET | CORE_CFG_REQUIRED},
    {"BMC_JWT_KEYS", CORE_CFG_STRING, NULL,
     "token keys \"kid:<base64 secret>,...\" (all verify)", 1, 8192,
     CORE_CFG_SECRET | CORE_CFG_REQUIRED},
    {"GW_SERVER_CACHE_TTL", CORE_CFG_DURATION, "5s",
     "how long a server looked up at the manager is cached (0ms: never)", 0, 600000, 0},
    {"GW_SERVER_CACHE_MAX", CORE_CFG_INT, "1024", "cached servers at most", 1, 1000000, 0},
    {"GW_MANAGER_TIMEOUT", CORE_CFG_DURATION, "2s", "timeout of a manager look-up", 100, 60000,
     0},
    {"GW_HEARTBEAT_INTERVAL", CORE_CFG_DURATION, "5s",
     "heartbeat interval told to agents (3 missed intervals mark an agent down)", 100, 300000,
     0},
    {"GW_BMC_TIMEOUT", CORE_CFG_DURATION, "10s", "deadline of a BMC operation at the agent",
     100, 300000, 0},
    {"GW_AGENT_GRACE", CORE_CFG_DURATION, "1s",
     "extra time the agent gets beyond the BMC deadline to answer", 50, 60000, 0},
    {"GW_WORKERS", CORE_CFG_INT, "8", "worker threads for API requests", 1, 64, 0},
    {"GW_QUEUE", CORE_CFG_INT, "256", "API requests waiting for a worker at most", 1, 100000, 0},
};

/* What the handlers use; freed after the servers (owned by the service) are gone. */
typedef struct gw_app {
    core_token_keys *keys;
    core_http_client *http_client;
    gw_servers *servers;
    gw_registry *registry;
    core_workpool *pool;
    gw_power power;
} gw_app;

/* on_stop hook (every server has stopped, no handler runs): queued requests are answered
 * before the workers end; then the rest is freed while telemetry still runs. Also the clean-up
 * of a failed start. */
static void app_free(void *ud)
{
    gw_app *app = ud;
    core_workpool_destroy(app->pool);
    app->pool = NULL;
    gw_registry_destroy(app->registry);
    app->registry = NULL;
    gw_servers_destroy(app->servers);
    app->servers = NULL;
    core_http_client_destroy(app->http_client);
    app->http_client = NULL;
    core_token_keys_destroy(app->keys);
    app->keys = NULL;
}

int main(int argc, char **argv)
{
    core_service *svc = NULL;
    core_service_info info = {.name = "bmc-gateway",
                              .items = settings,
                              .n_items = sizeof settings / sizeof settings[0]};
    int rc = core_service_init(&svc, &info, argc, argv);
    if (rc != 0) return core_service_exit_code(rc);
    const core_config *cfg = core_service_config(svc);
    gw_app app = {0};
    int status = 1;
    char err[256];

    if (core_token_keys_parse(core_config_str(cfg, "BMC_JWT_KEYS"), &app.keys, err, sizeof err) !=
        CORE_OK) {
        tel_log_error("configuration: BMC_JWT_KEYS: %s", err);
        status = 2;
        goto out;
    }
    tel_meter_provider *meters = tel_global_meter_provider();
    core_http_client_config hcc = {.meters = meters};
    app.http_client = core_http_client_create(&hcc);
    gw_servers_config sc = {
        .manager_url = core_config_url(cfg, "GW_MANAGER_URL"),
        .service_token = core_config_str(cfg, "BMC_SERVICE_TOKEN"),
        .ttl_ms = core_config_duration_ms(cfg, "GW_SERVER_CACHE_TTL"),
        .max_entries = (size_t)core_config_int(cfg, "GW_SERVER_CACHE_MAX"),
        .timeout_ms = (long)core_config_duration_ms(cfg, "GW_MANAGER_TIMEOUT"),
        .http = app.http_client,
    };
    app.servers = app.http_client ? gw_servers_create(&sc) : NULL;
    gw_registry_config rc_cfg = {
        .heartbeat_interval_ms = (uint32_t)core_config_duration_ms(cfg, "GW_HEARTBEAT_INTERVAL"),
        .service_token = core_config_str(cfg, "BMC_SERVICE_TOKEN"),
    };
    app.registry = gw_registry_create(&rc_cfg);
    app.pool = core_workpool_create((int)core_config_int(cfg, "GW_WORKERS"),
                                    (size_t)core_config_int(cfg, "GW_QUEUE"));
    if (!app.servers || !app.registry || !app.pool) {
        tel_log_error("start-up failed: out of memory or threads");
        goto out;
    }
    app.power = (gw_power){
        .keys = app.keys,
        .servers = app.servers,
        .registry = app.registry,
        .pool = app.pool,
        .bmc_timeout_ms = core_config_duration_ms(cfg, "GW_BMC_TIMEOUT"),
        .agent_grace_ms = core_config_duration_ms(cfg, "GW_AGENT_GRACE"),
    };

    core_http_server_config hc;
    core_service_http_defaults(svc, &hc);
    hc.address = core_config_str(cfg, "GW_HTTP_ADDRESS");
    hc.port = (int)core_config_int(cfg, "GW_HTTP_PORT");
    hc.max_body_bytes = 16384;
    core_http_server *http = core_http_server_create(&hc);
    if (!http || gw_power_route(http, &app.power) != CORE_OK ||
        core_service_add_http(svc, http, "api") != CORE_OK) {
        tel_log_error("cannot set up the HTTP API");
        core_http_server_destroy(http);
        goto out;
    }
    core_grpc_server_config gc = {.address = core_config_str(cfg, "GW_GRPC_ADDRESS"),
                                  .meters = meters};
    core_grpc_server *grpc = core_grpc_server_create(&gc);
    if (!grpc || gw_registry_serve(app.registry, grpc) != CORE_OK ||
        core_service_add_grpc(svc, grpc, "registry") != CORE_OK) {
        tel_log_error("cannot set up the agent registry");
        core_grpc_server_destroy(grpc);
        goto out;
    }
    core_service_on_stop(svc, app_free, &app);
    status = core_service_run(svc) == 0 ? 0 : 1;
out:
    app_free(&app); /* after a run: already done by the hook */
    core_service_destroy(svc);
    return status;
}
