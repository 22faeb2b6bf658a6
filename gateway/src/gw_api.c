/* gw_api: authentication and error answers for the public API. */
#include "gw_api.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/http_json.h"

bool gw_api_trace_id(core_http_req *req, char out[33])
{
    const tel_context *ctx = core_http_req_context(req);
    out[0] = '\0';
    if (!tel_span_context_is_valid(&ctx->sc))
        return false;
    tel_hex_encode(ctx->sc.trace_id, TEL_TRACE_ID_SIZE, out);
    out[32] = '\0';
    return true;
}

int gw_api_error(core_http_req *req, int status, const char *code, const char *message)
{
    json_t *body = core_json_error_body(code, message);
    if (!body) return core_http_respond_error(req, status, code, message);
    char tid[33];
    if (gw_api_trace_id(req, tid))
        json_object_set_new(json_object_get(body, "error"), "trace_id", json_string(tid));
    return core_http_respond_json(req, status, body);
}

int gw_api_authenticate(core_http_req *req, const core_token_keys *keys, gw_principal *p)
{
    char hdr[CORE_TOKEN_MAX_LEN + 64];
    char msg[96] = "missing bearer token";
    int n = core_http_req_header(req, "authorization", hdr, sizeof hdr);
    if (n > 0) {
        size_t len = 0;
        const char *tok = core_token_bearer(hdr, &len);
        if (tok) {
            hdr[(size_t)(tok - hdr) + len] = '\0'; /* trailing spaces are not part of it */
            core_token_claims c;
            core_token_status why = CORE_TOKEN_MALFORMED;
            if (core_token_verify(keys, tok, (int64_t)time(NULL), &c, &why) == CORE_OK) {
                sodium_memzero(hdr, sizeof hdr);
                memset(p, 0, sizeof *p);
                snprintf(p->user_id, sizeof p->user_id, "%" PRId64, c.user_id);
                snprintf(p->customer_id, sizeof p->customer_id, "%" PRId64, c.customer_id);
                snprintf(p->username, sizeof p->username, "%s", c.username);
                p->roles = c.roles;
                return CORE_OK;
            }
            snprintf(msg, sizeof msg, "invalid token (%s)", core_token_status_name(why));
        }
    } else if (n == CORE_ETOOBIG) {
        snprintf(msg, sizeof msg, "invalid token (too long)");
    }
    sodium_memzero(hdr, sizeof hdr);
    core_http_resp_header(req, "www-authenticate", "Bearer");
    tel_span_set_str_static(core_http_req_span(req), "error.type", "unauthenticated");
    gw_api_error(req, 401, "unauthenticated", msg);
    return CORE_EUNAUTHENTICATED;
}
