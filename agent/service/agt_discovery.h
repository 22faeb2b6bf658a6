/* The periodic discovery/sensor cycle over the BMCs configured on the agent.
 *
 * Configuration: a comma-separated list of endpoints (BMC_AGENT_DISCOVER), default credentials
 * and, optionally, a credentials file whose lines are `<endpoint> <username> <password>`
 * (whitespace separated; '#' starts a comment; an endpoint of `*` sets the default). Endpoints
 * must not carry credentials (user@host is refused). Credentials are kept in guarded memory and
 * never logged.
 *
 * Each periodic cycle is a root span "agent.discovery" (agent_id, datacenter, bmc.count, bmc.reachable)
 * with one child "agent.discovery.bmc" per BMC (bmc.type, bmc.address, bmc.endpoint, and ERROR
 * when the BMC could not be read), under which the drivers' spans appear. Per BMC the cycle reads
 * identity, power state and sensors through the shared handle cache (sessions are reused) and
 * exports gauges: bmc.reachable (1/0), bmc.power.state (1 on, 0 off, -1 unknown),
 * bmc.sensor.temperature (Cel), bmc.sensor.fan_speed ({rpm}), bmc.sensor.power (W), with the
 * attributes bmc.endpoint (and sensor.name for sensors).
 *
 * Thread safety: every function may be called from any thread; cycles never overlap. */
#ifndef AGT_DISCOVERY_H
#define AGT_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/bmc.h"
#include "agt_cache.h"
#include "telemetry/context.h"

#define AGT_DISCOVERY_MAX_SENSORS 32
#define AGT_DISCOVERY_MAX_TARGETS 256

typedef struct agt_discovery agt_discovery;

typedef struct agt_discovery_config {
    const char *endpoints;        /* comma-separated list; NULL/empty: nothing to discover */
    const char *username;         /* default credentials (may be NULL) */
    const char *password;
    const char *credentials_file; /* may be NULL */
    int64_t interval_ms;          /* between cycles; 0: 60000 */
    int64_t bmc_timeout_ms;       /* per BMC and cycle; 0: 5000 */
    const char *agent_id;         /* copied */
    const char *datacenter;       /* copied */
    agt_cache *cache;             /* borrowed; must outlive the discovery */
} agt_discovery_config;

/* Parses the configuration. NULL with a reason in err (never a secret) on a bad endpoint, an
 * unreadable or malformed credentials file, or memory. The caller owns the result. */
agt_discovery *agt_discovery_create(const agt_discovery_config *cfg, char *err, size_t errcap);

/* Starts the cycle thread (first cycle at once). Returns 0 or CORE_ENOMEM/CORE_ESTATE. */
int agt_discovery_start(agt_discovery *d);

/* Stops the thread (an ongoing cycle finishes its current BMC call) and frees everything. NULL
 * allowed. */
void agt_discovery_destroy(agt_discovery *d);

/* Runs one cycle now (waiting for a running one to end first), each BMC bounded by
 * min(bmc_timeout, deadline_ns) (tel_mono_ns clock; 0: no extra bound). The cycle's span is a
 * child of parent (borrowed; NULL: a root span, as the periodic cycles are). */
void agt_discovery_run(agt_discovery *d, const tel_context *parent, uint64_t deadline_ns);

/* The latest result for one BMC. */
typedef struct agt_discovered {
    char endpoint[256];
    char bmc_type[16];
    int code; /* AGT_* of the latest attempt; AGT_ECLOSED before the first one */
    int bmc_code;
    char message[256];
    bool has_identity;
    agt_identity identity;
    agt_power_state power;
    agt_sensor sensors[AGT_DISCOVERY_MAX_SENSORS];
    size_t n_sensors;
    int64_t last_seen_unix_ms; /* 0: never reached */
} agt_discovered;

/* Number of configured BMCs. */
size_t agt_discovery_count(const agt_discovery *d);
/* Copies up to cap results into out; returns how many. *cycle_unix_ms (may be NULL) receives
 * when the latest cycle ended (0: none yet). */
size_t agt_discovery_snapshot(agt_discovery *d, agt_discovered *out, size_t cap,
                              int64_t *cycle_unix_ms);
/* Configured BMCs and those reached in the latest cycle. */
void agt_discovery_counts(agt_discovery *d, uint32_t *total, uint32_t *reachable);

#endif
