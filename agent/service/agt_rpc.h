/* The gRPC service bmcfleet.agent.v1.Agent (proto/agent.proto, docs/FLEET_API.md).
 *
 * Power, Identity and Sensors validate the request on the gRPC thread (INVALID_ARGUMENT for a
 * missing endpoint or an unknown action), copy agent_id and bmc_type onto the server span, then
 * run on the worker pool (RESOURCE_EXHAUSTED when its queue is full) against the cached BMC
 * handle of the endpoint and credentials. Deadline of the BMC work: the request's deadline_ms
 * (0: the default, capped by the maximum), bounded by the gRPC deadline less a small margin so the
 * reply (code AGT_ETIMEOUT) reaches the caller in time. BMC outcomes travel in the reply's
 * code/message/bmc_code with gRPC status OK; the context given to the drivers carries the
 * caller's baggage plus agent_id and bmc_type. Discover answers the latest discovery results
 * (or runs a cycle first when refresh is set). SolStream and VncStream are declared and answer
 * UNIMPLEMENTED.
 *
 * Credentials from requests go only to the driver handles; they are never logged, put on spans
 * or echoed in replies.
 *
 * Thread safety: handlers run on gRPC worker threads and pool workers; the structure must stay
 * unchanged while the server runs. */
#ifndef AGT_RPC_H
#define AGT_RPC_H

#include <stdint.h>

#include "agt_cache.h"
#include "agt_discovery.h"
#include "core/grpc_server.h"
#include "core/workpool.h"

typedef struct agt_rpc {
    agt_cache *cache;          /* all borrowed; they must outlive the gRPC server */
    core_workpool *pool;
    agt_discovery *discovery;  /* may be NULL (Discover then answers an empty list) */
    const char *agent_id;
    const char *datacenter;
    int64_t default_deadline_ms;
    int64_t max_deadline_ms;
} agt_rpc;

/* Registers the six methods on srv (before start). Returns 0 or the CORE_E* code of
 * core_grpc_server_register. */
int agt_rpc_serve(agt_rpc *rpc, core_grpc_server *srv);

/* The deadline (tel_mono_ns clock) for BMC work: now + the request's deadline_ms (0: dflt_ms,
 * capped at max_ms), no later than the gRPC deadline (grpc_left_ms from now; INT64_MAX: none)
 * minus a margin of 50 ms. Returns 0 when no time is left. */
uint64_t agt_rpc_deadline(uint64_t now_ns, uint32_t req_ms, int64_t grpc_left_ms, int64_t dflt_ms,
                          int64_t max_ms);

#endif
