/* What a BMC driver implements. agt_bmc (bmc.c) parses the endpoint and dispatches here. */
#ifndef AGENT_BMC_DRIVER_H
#define AGENT_BMC_DRIVER_H

#include "agent/bmc.h"

typedef struct agt_endpoint {
    char scheme[16];  /* "ipmi", "redfish", "redfish+https" */
    char host[256];   /* no brackets for IPv6 */
    int port;         /* defaulted: 623 ipmi, 80 redfish, 443 redfish+https */
} agt_endpoint;

typedef struct agt_driver_ops {
    const char *type; /* "ipmi" or "redfish" */
    /* Creates the driver state (credentials copied). NULL with err filled on failure. */
    void *(*create)(const agt_endpoint *ep, const char *user, const char *pass,
                    const agt_bmc_options *opts, agt_result *err);
    void (*destroy)(void *drv);
    int (*power)(void *drv, const tel_context *ctx, uint64_t deadline_ns, agt_power_action action,
                 agt_power_state *state, agt_result *res);
    int (*identity)(void *drv, const tel_context *ctx, uint64_t deadline_ns, agt_identity *out,
                    agt_result *res);
    int (*sensors)(void *drv, const tel_context *ctx, uint64_t deadline_ns, agt_sensor *out,
                   size_t cap, size_t *n, agt_result *res);
} agt_driver_ops;

/* The drivers (ipmi.c, redfish.c). */
extern const agt_driver_ops agt_ipmi_driver;
extern const agt_driver_ops agt_redfish_driver;

/* Parses an endpoint URL into ep. Returns AGT_OK or AGT_EINVAL (message in err). */
int agt_endpoint_parse(const char *url, agt_endpoint *ep, agt_result *err);

/* Fills res with code and a printf-style message; returns code. */
int agt_result_set(agt_result *res, int code, int bmc_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
