/* Helpers shared by the gateway's public HTTP handlers: authentication of the caller with the
 * core token module (core/token.h: HS256 with key ids; expired, tampered, alg-none and
 * unknown-kid tokens are refused) and error answers in the contract's shape
 * (docs/FLEET_API.md) carrying the trace id.
 *
 * Thread safety: as the core_http_req functions they call (authentication on the service
 * thread, answers from the thread that owns the request). */
#ifndef GW_API_H
#define GW_API_H

#include "core/http_server.h"
#include "core/token.h"

/* The authenticated caller, copied out of a verified token. Ids are decimal strings. */
typedef struct gw_principal {
    char user_id[24];
    char customer_id[24];
    char username[CORE_TOKEN_USERNAME_MAX + 1];
    unsigned roles; /* CORE_TOKEN_ROLE_* bits */
} gw_principal;

/* Verifies the request's `Authorization: Bearer` token with keys at the current time. On
 * success fills *p and returns 0; otherwise answers 401 "unauthenticated" (with
 * WWW-Authenticate: Bearer and the reason, never the token) and returns CORE_EUNAUTHENTICATED
 * (the handler then returns 0). Service thread only. */
int gw_api_authenticate(core_http_req *req, const core_token_keys *keys, gw_principal *p);

/* Answers status with {"error":{"code":code,"message":message,"trace_id":"<32 hex>"}} (no
 * trace_id when the request has no trace: telemetry off). Returns as core_http_respond. */
int gw_api_error(core_http_req *req, int status, const char *code, const char *message);

/* Writes the request's trace id as 32 lowercase hex digits (33 bytes with the NUL). False (and
 * out empty) when the request has no valid span context, as with telemetry off: an answer then
 * carries no trace_id rather than an all-zero one. */
bool gw_api_trace_id(core_http_req *req, char out[33]);

#endif
