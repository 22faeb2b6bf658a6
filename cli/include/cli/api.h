/* bmcctl's calls to the fleet's HTTP APIs (docs/FLEET_API.md) and the mapping of their outcome
 * to exit codes and messages.
 *
 * Every call goes through the traced core HTTP client (a CLIENT span, child of the caller's
 * context, with traceparent/baggage injected). The token is sent as `Authorization: Bearer` and
 * never appears in messages. Not thread safe (the CLI is one thread). */
#ifndef CLI_API_H
#define CLI_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "telemetry/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exit codes of bmcctl (documented in `bmcctl --help`). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_USAGE = 1,       /* bad command line, or the request was refused as invalid (400) */
    CLI_EXIT_AUTH = 2,        /* not logged in, wrong password, expired/invalid token, 401/403 */
    CLI_EXIT_NOT_FOUND = 3,   /* no such server (404) */
    CLI_EXIT_UNAVAILABLE = 4, /* a service, agent or BMC is unreachable or timed out */
    CLI_EXIT_OTHER = 5,       /* anything else (BMC errors, 5xx, bad answers, local I/O) */
};

typedef struct cli_api cli_api;

/* Creates the API client with a whole-request timeout (ms; 0: 30000). NULL on failure. */
cli_api *cli_api_create(long timeout_ms);
void cli_api_destroy(cli_api *a);

typedef struct cli_api_result {
    long status;        /* HTTP status, 0 when no answer */
    json_t *body;       /* parsed JSON body (owned reference) or NULL */
    int exit_code;      /* CLI_EXIT_* for this outcome */
    char code[64];      /* the error code of the answer ("not_found", ...) or a local one
                           ("unreachable", "timeout", "bad_response"); "" on success */
    char message[1024]; /* for people; "" on success */
    char trace_id[33];  /* from the answer's traceparent header, "" when none */
} cli_api_result;

/* Frees what r owns and zeroes it. */
void cli_api_result_cleanup(cli_api_result *r);

/* Calls `method` base_url + path (path already encoded) with an optional JSON body (borrowed)
 * and bearer token (NULL: none), as a child of parent. `what` names the service for messages
 * ("manager", "gateway"). Fills *r (zeroed first). Returns r->exit_code. */
int cli_api_call(cli_api *a, const tel_context *parent, const char *what, const char *method,
                 const char *base_url, const char *path, const char *token, json_t *body,
                 cli_api_result *r);

/* The exit code for an HTTP status and error code (pure; used by cli_api_call). */
int cli_api_exit_for(long status, const char *code);

/* Percent-encodes one path segment (every byte but A-Z a-z 0-9 - . _ ~) into out. Returns the
 * length, or -1 when it does not fit. */
int cli_api_escape_segment(const char *in, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
