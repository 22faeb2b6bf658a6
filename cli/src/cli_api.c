/* bmcctl's calls to the fleet's HTTP APIs: see cli/api.h. */
#include "cli/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/http_client.h"

struct cli_api {
    core_http_client *http;
};

cli_api *cli_api_create(long timeout_ms)
{
    cli_api *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    core_http_client_config cfg = {0};
    cfg.timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    cfg.connect_timeout_ms = cfg.timeout_ms < 3000 ? cfg.timeout_ms : 3000;
    cfg.user_agent = "bmcctl/" BMC_VERSION;
    a->http = core_http_client_create(&cfg);
    if (!a->http) {
        free(a);
        return NULL;
    }
    return a;
}

void cli_api_destroy(cli_api *a)
{
    if (!a)
        return;
    core_http_client_destroy(a->http);
    free(a);
}

void cli_api_result_cleanup(cli_api_result *r)
{
    json_decref(r->body);
    memset(r, 0, sizeof *r);
}

int cli_api_exit_for(long status, const char *code)
{
    if (status >= 200 && status < 300)
        return CLI_EXIT_OK;
    if (status == 400 || status == 405 || status == 411 || status == 413 || status == 422)
        return CLI_EXIT_USAGE;
    if (status == 401 || status == 403)
        return CLI_EXIT_AUTH;
    if (status == 404)
        return CLI_EXIT_NOT_FOUND;
    if (status == 408 || status == 429 || status == 503 || status == 504)
        return CLI_EXIT_UNAVAILABLE;
    if (status == 502 && code &&
        (strcmp(code, "bmc_unreachable") == 0 || strcmp(code, "bmc_timeout") == 0 ||
         strcmp(code, "agent_unavailable") == 0))
        return CLI_EXIT_UNAVAILABLE;
    return CLI_EXIT_OTHER;
}

int cli_api_escape_segment(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        size_t need = plain ? 1 : 3;
        if (o + need >= cap)
            return -1;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= cap)
        return -1;
    out[o] = '\0';
    return (int)o;
}

/* The trace id of a traceparent header value ("00-<32>-<16>-<2>"), or "". */
static void trace_id_from_header(const core_http_response *resp, char out[33])
{
    char tp[128];
    out[0] = '\0';
    if (core_http_response_header(resp, "traceparent", tp, sizeof tp) < 55 || tp[2] != '-')
        return;
    memcpy(out, tp + 3, 32);
    out[32] = '\0';
}

int cli_api_call(cli_api *a, const tel_context *parent, const char *what, const char *method,
                 const char *base_url, const char *path, const char *token, json_t *body,
                 cli_api_result *r)
{
    memset(r, 0, sizeof *r);
    char url[2048];
    size_t blen = strlen(base_url);
    while (blen && base_url[blen - 1] == '/')
        blen--;
    if ((size_t)snprintf(url, sizeof url, "%.*s%s", (int)blen, base_url, path) >= sizeof url) {
        r->exit_code = CLI_EXIT_USAGE;
        snprintf(r->code, sizeof r->code, "bad_url");
        snprintf(r->message, sizeof r->message, "the %s URL is too long", what);
        return r->exit_code;
    }
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char auth[4200];
    core_http_header headers[2];
    size_t nh = 0;
    headers[nh++] = (core_http_header){"accept", "application/json"};
    if (token) {
        if ((size_t)snprintf(auth, sizeof auth, "Bearer %s", token) >= sizeof auth) {
            free(payload);
            r->exit_code = CLI_EXIT_AUTH;
            snprintf(r->code, sizeof r->code, "bad_token");
            snprintf(r->message, sizeof r->message,
                     "the stored token is too long; log in again with `bmcctl login`");
            return r->exit_code;
        }
        headers[nh++] = (core_http_header){"authorization", auth};
    }
    core_http_request req = {
        .method = method,
        .url = url,
        .headers = headers,
        .n_headers = nh,
        .body = payload,
        .body_len = payload ? strlen(payload) : 0,
        .content_type = payload ? "application/json" : NULL,
    };
    core_http_response resp = CORE_HTTP_RESPONSE_INIT;
    int rc = core_http_client_do(a->http, parent, &req, &resp);
    if (token)
        memset(auth, 0, sizeof auth);
    if (payload) /* may hold a password */
        memset(payload, 0, strlen(payload));
    free(payload);
    if (rc != 0) {
        char safe[256];
        if (core_http_url_redact(base_url, safe, sizeof safe) < 0)
            snprintf(safe, sizeof safe, "(invalid URL)");
        if (rc == CORE_ETIMEDOUT) {
            r->exit_code = CLI_EXIT_UNAVAILABLE;
            snprintf(r->code, sizeof r->code, "timeout");
            snprintf(r->message, sizeof r->message, "the %s at %s did not answer in time", what,
                     safe);
        } else if (rc == CORE_EINVAL) {
            r->exit_code = CLI_EXIT_USAGE;
            snprintf(r->code, sizeof r->code, "bad_url");
            snprintf(r->message, sizeof r->message, "invalid %s URL \"%s\" (expected http://host:port)",
                     what, safe);
        } else if (rc == CORE_EIO) {
            r->exit_code = CLI_EXIT_UNAVAILABLE;
            snprintf(r->code, sizeof r->code, "unreachable");
            snprintf(r->message, sizeof r->message,
                     "cannot reach the %s at %s (%s); is the fleet running? (make local-env-up)",
                     what, safe, resp.error[0] ? resp.error : "connection failed");
        } else {
            r->exit_code = CLI_EXIT_OTHER;
            snprintf(r->code, sizeof r->code, "client_error");
            snprintf(r->message, sizeof r->message, "request to the %s failed: %s", what,
                     core_strerror(rc));
        }
        core_http_response_cleanup(&resp);
        return r->exit_code;
    }
    r->status = resp.status;
    trace_id_from_header(&resp, r->trace_id);
    if (resp.body && resp.body_len) {
        json_error_t e;
        r->body = json_loadb(resp.body, resp.body_len, 0, &e);
    }
    const char *ecode = NULL, *emsg = NULL;
    json_t *err = json_object_get(r->body, "error");
    if (json_is_object(err)) {
        ecode = json_string_value(json_object_get(err, "code"));
        emsg = json_string_value(json_object_get(err, "message"));
    }
    r->exit_code = cli_api_exit_for(resp.status, ecode);
    if (r->exit_code != CLI_EXIT_OK) {
        snprintf(r->code, sizeof r->code, "%s", ecode ? ecode : "http_error");
        if (emsg && *emsg)
            snprintf(r->message, sizeof r->message, "%s (%s, HTTP %ld from the %s)", emsg,
                     r->code, resp.status, what);
        else
            snprintf(r->message, sizeof r->message, "the %s answered HTTP %ld", what,
                     resp.status);
    } else if (resp.status != 204 && !r->body) {
        r->exit_code = CLI_EXIT_OTHER;
        snprintf(r->code, sizeof r->code, "bad_response");
        snprintf(r->message, sizeof r->message, "the %s answered HTTP %ld without a JSON body",
                 what, resp.status);
    }
    core_http_response_cleanup(&resp);
    return r->exit_code;
}
