/* Redfish JSON readers: pure functions from a response body to the few fields the Redfish driver
 * needs. They are separate from the transport so that unit tests and the fuzz target can feed
 * them any bytes.
 *
 * Every reader takes a body that need not be NUL-terminated (buf, len), never reads past len,
 * allocates only inside jansson (freed before it returns), and is thread safe. A reader returns
 * AGT_OK, or AGT_EPROTO when the body is not a JSON object or a field the caller cannot do
 * without is missing or of the wrong type. Optional fields that are absent are left empty ("",
 * 0). Strings that do not fit their fixed buffers are truncated (URIs that do not fit are
 * treated as absent, since a truncated URI would address something else). */
#ifndef AGENT_REDFISH_JSON_H
#define AGENT_REDFISH_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/bmc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AGT_RF_URI_MAX 256

/* Service root (/redfish/v1/). */
typedef struct agt_rf_root {
    char systems[AGT_RF_URI_MAX];         /* Systems collection */
    char managers[AGT_RF_URI_MAX];        /* Managers collection */
    char chassis[AGT_RF_URI_MAX];         /* Chassis collection */
    char session_service[AGT_RF_URI_MAX]; /* SessionService */
    char sessions[AGT_RF_URI_MAX];        /* Links.Sessions (the POST target for logins) */
    char redfish_version[16];             /* RedfishVersion */
} agt_rf_root;

/* The Redfish ResetType values, as bits. */
enum {
    AGT_RF_RESET_ON = 1u << 0,
    AGT_RF_RESET_FORCE_OFF = 1u << 1,
    AGT_RF_RESET_GRACEFUL_SHUTDOWN = 1u << 2,
    AGT_RF_RESET_GRACEFUL_RESTART = 1u << 3,
    AGT_RF_RESET_FORCE_RESTART = 1u << 4,
    AGT_RF_RESET_NMI = 1u << 5,
    AGT_RF_RESET_FORCE_ON = 1u << 6,
    AGT_RF_RESET_PUSH_POWER_BUTTON = 1u << 7,
    AGT_RF_RESET_POWER_CYCLE = 1u << 8,
    AGT_RF_RESET_SUSPEND = 1u << 9,
    AGT_RF_RESET_PAUSE = 1u << 10,
    AGT_RF_RESET_RESUME = 1u << 11,
    AGT_RF_RESET_FULL_POWER_CYCLE = 1u << 12,
};
#define AGT_RF_RESET_COUNT 13

/* The bit of a ResetType name (exact, case-sensitive as the schema), or 0 when unknown. */
unsigned agt_rf_reset_bit(const char *name);
/* The schema name of one ResetType bit, or NULL when bit is not exactly one known bit. */
const char *agt_rf_reset_name(unsigned bit);
/* Writes the names of the bits of mask as "On, ForceOff, ..." into out (cap > 0; truncated,
 * always NUL-terminated; "none" for an empty mask). Returns out. */
char *agt_rf_reset_list(unsigned mask, char *out, size_t cap);

/* A ComputerSystem. */
typedef struct agt_rf_system {
    char power_state[24];                   /* "On", "Off", "PoweringOn", ...; "" when absent */
    char reset_target[AGT_RF_URI_MAX];      /* Actions.#ComputerSystem.Reset.target; "" none */
    unsigned reset_allowed;                 /* AGT_RF_RESET_* bits listed by the BMC */
    bool reset_has_list;                    /* ResetType@Redfish.AllowableValues was present */
    char reset_action_info[AGT_RF_URI_MAX]; /* @Redfish.ActionInfo, when the list lives there */
    char manufacturer[64];
    char model[64];
    char serial[64];
    char uuid[40];
    char manager[AGT_RF_URI_MAX]; /* Links.ManagedBy[0] */
    char chassis[AGT_RF_URI_MAX]; /* Links.Chassis[0] */
} agt_rf_system;

/* The result of agt_rf_choose_reset. */
typedef struct agt_rf_reset_choice {
    unsigned bit;     /* the ResetType to send (one AGT_RF_RESET_* bit); 0 when none fits */
    const char *name; /* its name (static), or NULL */
} agt_rf_reset_choice;

/* Chooses the ResetType for action among what the BMC allows: on -> On (ForceOn), off ->
 * ForceOff, soft -> GracefulShutdown, cycle -> PowerCycle (ForceRestart), reset -> ForceRestart
 * (GracefulRestart); the parenthesised value only when the first is not allowed. When has_list
 * is false the BMC published no list and the first choice is returned. Returns AGT_OK, or
 * AGT_EUNSUPPORTED (choice->bit 0) when no candidate is allowed, or AGT_EINVAL for STATUS. */
int agt_rf_choose_reset(agt_power_action action, unsigned allowed, bool has_list,
                        agt_rf_reset_choice *choice);

/* Maps a Redfish PowerState to ours: On and PoweringOn are on, Off and PoweringOff off (the
 * transitional states report the direction of travel), anything else unknown. NULL allowed. */
agt_power_state agt_rf_power_state(const char *s);

/* A Manager (firmware of the BMC). */
typedef struct agt_rf_manager {
    char firmware[64];
    char uuid[40];
    char model[64];
} agt_rf_manager;

/* A Chassis: where the readings are. */
typedef struct agt_rf_chassis {
    char thermal[AGT_RF_URI_MAX];
    char power[AGT_RF_URI_MAX];
    char sensors[AGT_RF_URI_MAX];
} agt_rf_chassis;

int agt_rf_parse_root(const char *buf, size_t len, agt_rf_root *out);
/* Reads a collection's Members[].@odata.id into uris (cap entries); *n receives how many were
 * stored; *total (may be NULL) the number of members listed. */
int agt_rf_parse_collection(const char *buf, size_t len, char (*uris)[AGT_RF_URI_MAX], size_t cap,
                            size_t *n, size_t *total);
/* Needs nothing: a system without PowerState or actions parses (the driver then reports what
 * is missing). */
int agt_rf_parse_system(const char *buf, size_t len, agt_rf_system *out);
/* Reads Parameters[Name=ResetType].AllowableValues of an ActionInfo into *allowed; *has_list
 * says whether the list was there. */
int agt_rf_parse_action_info(const char *buf, size_t len, unsigned *allowed, bool *has_list);
int agt_rf_parse_manager(const char *buf, size_t len, agt_rf_manager *out);
int agt_rf_parse_chassis(const char *buf, size_t len, agt_rf_chassis *out);
/* Appends the temperatures (ReadingCelsius) and fans (Reading in RPM; percent readings are
 * skipped) of a Thermal resource to out[*n .. cap); readings that are null are skipped. */
int agt_rf_parse_thermal(const char *buf, size_t len, agt_sensor *out, size_t cap, size_t *n);
/* Appends PowerControl[].PowerConsumedWatts of a Power resource. */
int agt_rf_parse_power(const char *buf, size_t len, agt_sensor *out, size_t cap, size_t *n);
/* Appends one Sensor resource (ReadingType Temperature, Rotational (RPM) or Power) when it is
 * one of those kinds with a numeric Reading; other sensors are skipped with AGT_OK. */
int agt_rf_parse_sensor(const char *buf, size_t len, agt_sensor *out, size_t cap, size_t *n);
/* Copies the message of a Redfish error body (error.@Message.ExtendedInfo[0].Message, else
 * error.message) into out (cap > 0). Returns AGT_OK, or AGT_EPROTO with out "" when the body is
 * no Redfish error. */
int agt_rf_parse_error(const char *buf, size_t len, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
