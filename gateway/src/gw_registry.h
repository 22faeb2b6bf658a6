/* The agent registry: agents register over gRPC (bmcfleet.gateway.v1.Registry) with id,
 * datacenter, address and capabilities and send heartbeats; the gateway keeps one gRPC channel
 * per registered agent and picks the agent of a datacenter for each BMC call.
 *
 * Liveness: an agent is down when it missed 3 heartbeat intervals, or when a call to it failed
 * with UNAVAILABLE (gw_registry_mark_down). A down agent stays down until it registers again (a
 * heartbeat from it answers known=false, which makes the agent register); a new registration
 * replaces the record and its channel, so a restarted agent works again without restarting the
 * gateway.
 *
 * Registry calls must carry `authorization: Bearer <service token>` when a service token is
 * configured (else UNAUTHENTICATED). Bad fields get INVALID_ARGUMENT.
 *
 * Thread safety: everything may be called from any thread. Agent handles are reference counted:
 * a picked agent stays valid (with its channel) until gw_agent_release, even if it is replaced
 * or the registry forgets it meanwhile. */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/grpc_client.h"
#include "core/grpc_server.h"

typedef struct gw_registry gw_registry;
typedef struct gw_agent gw_agent;

typedef struct gw_registry_config {
    uint32_t heartbeat_interval_ms; /* told to agents; 0: 5000 */
    const char *service_token;      /* required in Registry calls when not NULL/empty (copied) */
    size_t max_agents;              /* 0: 256 */
    int keepalive_time_ms;          /* agent channels; 0: the core default */
} gw_registry_config;

/* Creates the registry and starts its sweeper thread (it marks silent agents down and logs
 * it). NULL on failure. The caller owns it. */
gw_registry *gw_registry_create(const gw_registry_config *cfg);

/* Registers the Register and Heartbeat methods on srv (before core_grpc_server_start). r must
 * outlive the server. Returns 0 or a CORE_E* code of core_grpc_server_register. */
int gw_registry_serve(gw_registry *r, core_grpc_server *srv);

/* Stops the sweeper and releases every agent (channels are destroyed once unreferenced). No
 * Registry call may still run (stop the gRPC server first). NULL allowed. */
void gw_registry_destroy(gw_registry *r);

/* Picks an agent of `datacenter` that is up (the most recently seen one). On success stores a
 * new reference in *out and returns 0. Returns CORE_ENOTFOUND when no agent of that datacenter
 * ever registered, CORE_EUNAVAILABLE when every one is down; then, when `down` is not NULL, the
 * id of a down agent is copied there (cap bytes) for the error message. */
int gw_registry_pick(gw_registry *r, const char *datacenter, gw_agent **out, char *down,
                     size_t cap);

/* Marks the agent down at once (a call failed with UNAVAILABLE) unless a newer registration
 * replaced it already. `reason` is logged. */
void gw_registry_mark_down(gw_registry *r, gw_agent *a, const char *reason);

/* Number of registered agents that are up / down (for readiness and tests). */
void gw_registry_counts(gw_registry *r, size_t *up, size_t *down);

/* Accessors of a picked agent (valid while referenced). */
core_grpc_channel *gw_agent_channel(const gw_agent *a);
const char *gw_agent_id(const gw_agent *a);
const char *gw_agent_address(const gw_agent *a);
/* Takes / drops a reference. gw_agent_release(NULL) is allowed. */
gw_agent *gw_agent_ref(gw_agent *a);
void gw_agent_release(gw_agent *a);

#endif
