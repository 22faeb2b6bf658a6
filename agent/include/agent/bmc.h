/* BMC access: one interface, two drivers (IPMI over RMCP+, Redfish), chosen per server by the
 * scheme of its BMC endpoint: ipmi://host[:port], redfish://host[:port] (plain HTTP, for
 * simulators and labs) and redfish+https://host[:port].
 *
 * Every call takes the caller's trace context (spans of the BMC work become its children) and an
 * absolute deadline (tel_mono_ns clock), and fills an agt_result saying what failed. Credentials
 * are copied into the handle and never reach telemetry or logs.
 *
 * Thread safety: one agt_bmc may be used by several threads at once (drivers serialise or pool
 * internally as they document). */
#ifndef AGENT_BMC_H
#define AGENT_BMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/context.h"
#include "telemetry/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes: 0 or negative. */
enum {
    AGT_OK = 0,
    AGT_EINVAL = -1,       /* bad endpoint, option or argument */
    AGT_EAUTH = -2,        /* wrong user or password, or privilege not granted */
    AGT_EUNREACHABLE = -3, /* nothing answers at the endpoint (refused, no route) */
    AGT_ETIMEOUT = -4,     /* the deadline passed */
    AGT_EUNSUPPORTED = -5, /* the BMC does not offer this operation */
    AGT_EBMC = -6,         /* the BMC answered with an error (see bmc_code) */
    AGT_EINUSE = -7,       /* SOL already active on this BMC */
    AGT_ENOMEM = -8,
    AGT_ECLOSED = -9,      /* the session or stream was closed */
    AGT_EPROTO = -10,      /* the BMC's answer could not be understood */
};

/* Static English name of an AGT_* code. */
const char *agt_strerror(int code);

/* What a failed call reports. message is for people (no secrets). */
typedef struct agt_result {
    int code;             /* AGT_* */
    int bmc_code;         /* IPMI completion code or HTTP status, 0 when none */
    char message[256];
} agt_result;

typedef enum agt_power_action {
    AGT_POWER_STATUS = 0,
    AGT_POWER_ON,
    AGT_POWER_OFF,   /* hard off */
    AGT_POWER_SOFT,  /* graceful shutdown (ACPI) */
    AGT_POWER_CYCLE,
    AGT_POWER_RESET,
} agt_power_action;

typedef enum agt_power_state {
    AGT_POWER_UNKNOWN = 0,
    AGT_POWER_IS_ON,
    AGT_POWER_IS_OFF,
} agt_power_state;

/* Parses "on|off|soft|cycle|reset|status"; returns TEL-style 0 or AGT_EINVAL. */
int agt_power_action_parse(const char *s, agt_power_action *out);
const char *agt_power_action_name(agt_power_action a);
const char *agt_power_state_name(agt_power_state s);

typedef struct agt_identity {
    char manufacturer[64];
    char model[64];
    char serial[64];
    char firmware[64];
    char guid[40]; /* "" when unavailable */
} agt_identity;

typedef enum agt_sensor_kind {
    AGT_SENSOR_TEMPERATURE = 1, /* degrees Celsius */
    AGT_SENSOR_FAN,             /* RPM */
    AGT_SENSOR_POWER,           /* watts */
} agt_sensor_kind;

typedef struct agt_sensor {
    char name[64];
    agt_sensor_kind kind;
    double value;
} agt_sensor;

/* Per-server options. Zero-initialise, then set what differs; 0 / NULL means the default. */
typedef struct agt_bmc_options {
    /* IPMI */
    int cipher_suite;          /* default 3 */
    int privilege;             /* 0: OPERATOR for power, ADMINISTRATOR where needed */
    unsigned workaround_flags; /* FreeIPMI IPMI_WORKAROUND_FLAGS_* for out-of-band */
    unsigned sol_workaround_flags; /* libipmiconsole IPMICONSOLE_WORKAROUND_* */
    int pool_max_sessions;     /* sessions per BMC, default 2 */
    int sol_keepalive_ms;      /* SOL keepalive timeout, default 20000 (simulator needs ~400) */
    bool sol_take_over;        /* false (default): a second SOL open fails with AGT_EINUSE */
    /* Redfish */
    const char *tls_ca_file;   /* trust this CA (PEM) */
    bool tls_insecure;         /* skip verification (logged as a warning) */
    bool basic_auth_only;      /* do not try SessionService */
    /* Both */
    tel_tracer *tracer;        /* spans go here; NULL: tel_global_tracer("bmcfleet.agent") */
} agt_bmc_options;

typedef struct agt_bmc agt_bmc;

/* Creates a handle for the BMC at endpoint (URL as above) with username/password (copied).
 * No network traffic happens here. Returns NULL and fills err on a bad endpoint or options. */
agt_bmc *agt_bmc_create(const char *endpoint, const char *username, const char *password,
                        const agt_bmc_options *opts, agt_result *err);
/* Closes sessions (logging out where the protocol has it) and frees the handle. */
void agt_bmc_destroy(agt_bmc *b);

/* "ipmi" or "redfish". */
const char *agt_bmc_type(const agt_bmc *b);
/* The BMC's host (no port, no credentials), for span attributes. */
const char *agt_bmc_host(const agt_bmc *b);

/* Performs a power action; *state (may be NULL) receives the power state after it (for STATUS,
 * the current state). Returns AGT_OK or a negative code (also in res->code). */
int agt_bmc_power(agt_bmc *b, const tel_context *ctx, uint64_t deadline_ns,
                  agt_power_action action, agt_power_state *state, agt_result *res);
/* Reads the identity. */
int agt_bmc_identity(agt_bmc *b, const tel_context *ctx, uint64_t deadline_ns, agt_identity *out,
                     agt_result *res);
/* Reads up to cap sensors into out; *n receives the count. */
int agt_bmc_sensors(agt_bmc *b, const tel_context *ctx, uint64_t deadline_ns, agt_sensor *out,
                    size_t cap, size_t *n, agt_result *res);

/* The driver vtable behind agt_bmc (drivers implement it; see bmc_driver.h). */

#ifdef __cplusplus
}
#endif
#endif
