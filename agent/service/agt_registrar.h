/* Registration of the agent with its gateway (bmcfleet.gateway.v1.Registry) and heartbeats.
 *
 * A thread registers at start (retrying with backoff from 200 ms up to 5 s while the gateway is
 * unreachable), then sends Heartbeat at the interval the gateway chose (bounded to 100 ms..60 s).
 * It registers again when a heartbeat answers known=false (the gateway restarted or marked the
 * agent down) or fails. Register calls are traced (root spans); heartbeats are sent under an
 * unsampled context so that, with the default parent-based sampler, they do not flood the
 * traces. Calls carry `authorization: Bearer <service token>` when a token is configured (the
 * token never reaches telemetry).
 *
 * Thread safety: create/start/destroy from one thread; agt_registrar_registered from any. */
#ifndef AGT_REGISTRAR_H
#define AGT_REGISTRAR_H

#include <stdbool.h>
#include <stddef.h>

#include "agt_discovery.h"

typedef struct agt_registrar agt_registrar;

typedef struct agt_registrar_config {
    const char *gateway;       /* host:port of the gateway's registry (copied) */
    const char *agent_id;      /* copied */
    const char *datacenter;    /* copied */
    const char *address;       /* host:port the gateway dials back (copied) */
    const char *const *capabilities;
    size_t n_capabilities;
    const char *service_token; /* NULL/empty: none (copied into guarded memory) */
    agt_discovery *discovery;  /* borrowed, may be NULL: counts for heartbeats */
} agt_registrar_config;

/* NULL on bad configuration or memory. The caller owns the result. */
agt_registrar *agt_registrar_create(const agt_registrar_config *cfg);
/* Starts the thread. Returns 0 or CORE_ENOMEM. */
int agt_registrar_start(agt_registrar *r);
/* Stops the thread (cancelling a call in flight) and frees r. NULL allowed. */
void agt_registrar_destroy(agt_registrar *r);
/* True while the latest Register or Heartbeat succeeded with the gateway knowing the agent. */
bool agt_registrar_registered(agt_registrar *r);

#endif
