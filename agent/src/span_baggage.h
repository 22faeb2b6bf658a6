/* Business ids from the caller's baggage onto the agent's spans (DESIGN: "Business ids travel as
 * baggage and are copied onto spans as attributes"). Private to the Redfish and VNC code. */
#ifndef AGENT_SPAN_BAGGAGE_H
#define AGENT_SPAN_BAGGAGE_H

#include "telemetry/context.h"
#include "telemetry/trace.h"

/* Copies customer_id, server_id, session_id, datacenter, agent_id and bmc_type from ctx's
 * baggage (when present) onto span as string attributes of the same names (values copied).
 * ctx may be NULL. */
static inline void agt_span_copy_baggage(tel_span *span, const tel_context *ctx)
{
    static const char *const keys[] = {"customer_id", "server_id", "session_id",
                                       "datacenter",  "agent_id",  "bmc_type"};
    if (!ctx || !ctx->bag || !tel_span_is_recording(span)) return;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = tel_baggage_get(ctx->bag, keys[i]);
        if (v) tel_span_set_str(span, keys[i], v);
    }
}

#endif
