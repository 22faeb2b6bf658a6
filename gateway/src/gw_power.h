/* The power API: POST /v1/servers/{id}/power {"action":"on|off|soft|cycle|reset|status"}.
 *
 * The handler authenticates the caller on the HTTP service thread and hands the request to the
 * worker pool, which looks the server up at the manager (cached), checks that it belongs to the
 * caller's customer (else 404) and that the role allows the action (viewer: status only; else
 * 403), picks the agent of the server's datacenter (none up: 503 agent_unavailable at once),
 * calls bmcfleet.agent.v1.Agent/Power with the BMC endpoint and credentials and a deadline, and
 * answers 200 {"server_id","action","power_state","trace_id"} or an error per docs/FLEET_API.md.
 *
 * Telemetry: the HTTP server span gets server_id, customer_id, datacenter and agent_id; the
 * context passed to the manager look-up and to the agent carries them as baggage (server_id,
 * customer_id, datacenter), so they travel in HTTP headers and gRPC metadata. An agent that is
 * down or unknown gives an ERROR span "gateway.select_agent". BMC credentials never reach a
 * span, a log line or an answer.
 *
 * Thread safety: the route runs on the HTTP service thread; jobs on the pool's workers, with the
 * request's server span as the worker's current span. */
#ifndef GW_POWER_H
#define GW_POWER_H

#include <stdint.h>

#include "core/http_server.h"
#include "core/token.h"
#include "core/workpool.h"
#include "gw_registry.h"
#include "gw_servers.h"

typedef struct gw_power {
    const core_token_keys *keys; /* all borrowed; they must outlive the HTTP server and pool */
    gw_servers *servers;
    gw_registry *registry;
    core_workpool *pool;
    int64_t bmc_timeout_ms;  /* deadline_ms sent to the agent */
    int64_t agent_grace_ms;  /* added to it for the gRPC deadline */
    tel_tracer *tracer;      /* for gateway.select_agent; NULL: tel_global_tracer */
} gw_power;

/* Registers the route on srv (before start). pw must outlive the server. Returns 0 or a CORE_E*
 * code of core_http_server_route. */
int gw_power_route(core_http_server *srv, gw_power *pw);

/* The HTTP status and error code for an agent's reply code (AGT_*): 504 bmc_timeout, 502
 * bmc_auth_failed, 502 bmc_unreachable, else 502 bmc_error. 200/NULL for AGT_OK. */
int gw_power_map_agent_code(int agt_code, const char **error_code);

#endif
