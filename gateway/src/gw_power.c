/* gw_power: the power route and its pool job. */
#include "gw_power.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.pb-c.h"
#include "agent/bmc.h"
#include "core/error.h"
#include "core/grpc_client.h"
#include "gw_api.h"
#include "telemetry/log.h"

#define POWER_METHOD "/bmcfleet.agent.v1.Agent/Power"

typedef struct power_job {
    gw_power *pw;
    core_http_req *req;
    gw_principal who;
    char server_id[65];
    char action[8];
} power_job;

static const char *const actions[] = {"on", "off", "soft", "cycle", "reset", "status"};

int gw_power_map_agent_code(int agt_code, const char **error_code)
{
    switch (agt_code) {
    case AGT_OK: *error_code = NULL; return 200;
    case AGT_ETIMEOUT: *error_code = "bmc_timeout"; return 504;
    case AGT_EAUTH: *error_code = "bmc_auth_failed"; return 502;
    case AGT_EUNREACHABLE: *error_code = "bmc_unreachable"; return 502;
    default: *error_code = "bmc_error"; return 502;
    }
}

/* Text for an agent reply code without a message (agt_strerror's wording; the gateway does not
 * link the drivers). */
static const char *agent_code_text(int code)
{
    switch (code) {
    case AGT_EAUTH: return "authentication failed";
    case AGT_EUNREACHABLE: return "BMC unreachable";
    case AGT_ETIMEOUT: return "deadline exceeded";
    case AGT_EUNSUPPORTED: return "operation not supported by the BMC";
    case AGT_EBMC: return "BMC error";
    case AGT_EPROTO: return "unexpected answer from the BMC";
    case AGT_EINVAL: return "invalid BMC endpoint or request";
    default: return "the BMC operation failed";
    }
}

/* Replaces msg by a neutral text if it contains one of the server's credentials (an agent must
 * never send them back; this is the last line of defence). */
static const char *scrub(const char *msg, const gw_server_info *si)
{
    if ((si->bmc_password[0] && strstr(msg, si->bmc_password)) ||
        (strlen(si->bmc_username) >= 3 && strstr(msg, si->bmc_username)))
        return "the BMC operation failed (details withheld)";
    return msg;
}

/* A context like parent with key=value added to its baggage (or replaced). */
static void ctx_with_baggage(tel_context *ctx, const char *key, const char *value)
{
    if (!value || !*value) return;
    tel_baggage *b = tel_baggage_set(ctx->bag, key, value, NULL);
    if (b) {
        tel_context_set_baggage(ctx, b);
        tel_baggage_unref(b);
    }
}

static int respond_ok(core_http_req *req, const char *server_id, const char *action,
                      const char *state)
{
    char tid[33];
    json_t *j = json_pack("{s:s, s:s, s:s}", "server_id", server_id, "action", action,
                          "power_state", state);
    if (j && gw_api_trace_id(req, tid))
        json_object_set_new(j, "trace_id", json_string(tid));
    return core_http_respond_json(req, 200, j);
}

/* Selects the agent of si's datacenter in an INTERNAL span; answers 503 itself on failure. */
static gw_agent *select_agent(power_job *j, const tel_context *ctx, const gw_server_info *si)
{
    tel_tracer *tr = j->pw->tracer ? j->pw->tracer : tel_global_tracer("bmcfleet.gateway", NULL);
    tel_span *span = tel_span_start(tr, "gateway.select_agent", TEL_SPAN_KIND_INTERNAL, ctx);
    tel_span_set_str(span, "datacenter", si->datacenter);
    tel_span_set_str(span, "server_id", si->id);
    tel_span_set_str(span, "customer_id", j->who.customer_id);
    gw_agent *a = NULL;
    char down[65];
    int rc = gw_registry_pick(j->pw->registry, si->datacenter, &a, down, sizeof down);
    if (rc == CORE_OK) {
        tel_span_set_str(span, "agent_id", gw_agent_id(a));
        tel_span_end(span);
        return a;
    }
    char msg[200];
    if (rc == CORE_EUNAVAILABLE)
        snprintf(msg, sizeof msg, "the agent of datacenter %s (%s) is down", si->datacenter,
                 down);
    else
        snprintf(msg, sizeof msg, "no agent is registered for datacenter %s", si->datacenter);
    tel_span_set_str_static(span, "error.type", "agent_unavailable");
    tel_span_set_status(span, TEL_STATUS_ERROR, msg);
    tel_span_end(span);
    tel_span_set_str_static(core_http_req_span(j->req), "error.type", "agent_unavailable");
    tel_attr at[2] = {TEL_ATTR_STR("server_id", si->id), TEL_ATTR_STR("datacenter", si->datacenter)};
    tel_log(TEL_LOG_WARN, at, 2, "power: %s", msg);
    gw_api_error(j->req, 503, "agent_unavailable", msg);
    return NULL;
}

static void call_agent(power_job *j, const tel_context *ctx, const gw_server_info *si,
                       gw_agent *a)
{
    gw_power *pw = j->pw;
    core_http_req *req = j->req;
    Bmcfleet__Agent__V1__PowerRequest preq = BMCFLEET__AGENT__V1__POWER_REQUEST__INIT;
    preq.server_id = (char *)si->id;
    preq.bmc_endpoint = (char *)si->bmc_endpoint;
    preq.bmc_username = (char *)si->bmc_username;
    preq.bmc_password = (char *)si->bmc_password;
    preq.action = j->action;
    preq.deadline_ms = (uint32_t)pw->bmc_timeout_ms;

    core_grpc_call_opts opts = {.timeout_ms = pw->bmc_timeout_ms + pw->agent_grace_ms};
    core_grpc_status st;
    ProtobufCMessage *resp = NULL;
    int rc = core_grpc_unary(gw_agent_channel(a), ctx, POWER_METHOD, &preq.base,
                             &bmcfleet__agent__v1__power_reply__descriptor, &resp, &opts, &st);
    char msg[400];
    if (rc == CORE_OK) {
        const Bmcfleet__Agent__V1__PowerReply *rep = (const Bmcfleet__Agent__V1__PowerReply *)resp;
        const char *ecode = NULL;
        int status = gw_power_map_agent_code(rep->code, &ecode);
        if (status == 200) {
            const char *state = rep->power_state;
            if (strcmp(state, "on") != 0 && strcmp(state, "off") != 0) state = "unknown";
            respond_ok(req, si->id, j->action, state);
        } else {
            if (rep->code == AGT_EAUTH) gw_servers_forget(pw->servers, si->id);
            snprintf(msg, sizeof msg, "%s", rep->message && *rep->message
                                                ? scrub(rep->message, si)
                                                : agent_code_text(rep->code));
            tel_span_set_str(core_http_req_span(req), "error.type", ecode);
            tel_attr at[3] = {TEL_ATTR_STR("server_id", si->id),
                              TEL_ATTR_STR("agent_id", gw_agent_id(a)),
                              TEL_ATTR_STR("error.type", ecode)};
            tel_log(TEL_LOG_WARN, at, 3, "power %s failed: %s", j->action, msg);
            gw_api_error(req, status, ecode, msg);
        }
        protobuf_c_message_free_unpacked(resp, NULL);
        return;
    }
    const char *ecode;
    int status;
    if (st.code == GRPC_STATUS_UNAVAILABLE) {
        gw_registry_mark_down(pw->registry, a, "call failed with UNAVAILABLE");
        snprintf(msg, sizeof msg, "agent %s is unavailable", gw_agent_id(a));
        ecode = "agent_unavailable";
        status = 503;
    } else if (st.code == GRPC_STATUS_DEADLINE_EXCEEDED) {
        snprintf(msg, sizeof msg, "agent %s did not answer within %" PRId64 " ms",
                 gw_agent_id(a), opts.timeout_ms);
        ecode = "bmc_timeout";
        status = 504;
    } else {
        snprintf(msg, sizeof msg, "agent %s failed the call: %s%s%s", gw_agent_id(a),
                 core_grpc_status_name(st.code), st.message[0] ? ": " : "",
                 scrub(st.message, si));
        ecode = "bmc_error";
        status = 502;
    }
    tel_span_set_str(core_http_req_span(req), "error.type", ecode);
    tel_attr at[3] = {TEL_ATTR_STR("server_id", si->id), TEL_ATTR_STR("agent_id", gw_agent_id(a)),
                      TEL_ATTR_STR("error.type", ecode)};
    tel_log(TEL_LOG_WARN, at, 3, "power %s failed: %s", j->action, msg);
    gw_api_error(req, status, ecode, msg);
}

static void power_job_run(void *arg)
{
    power_job *j = arg;
    gw_power *pw = j->pw;
    core_http_req *req = j->req;
    tel_span *server_span = core_http_req_span(req); /* the current span (set by the pool) */

    tel_context ctx = TEL_CONTEXT_INIT;
    tel_context_copy(&ctx, core_http_req_context(req));
    ctx_with_baggage(&ctx, "server_id", j->server_id);
    ctx_with_baggage(&ctx, "customer_id", j->who.customer_id);

    gw_server_info si;
    char msg[256];
    int rc = gw_servers_lookup(pw->servers, &ctx, j->server_id, j->who.customer_id, &si, msg,
                               sizeof msg);
    if (rc == CORE_OK && strcmp(si.customer_id, j->who.customer_id) != 0) {
        rc = CORE_ENOTFOUND; /* another customer's server looks like no server at all */
        snprintf(msg, sizeof msg, "no such server");
    }
    if (rc != CORE_OK) {
        if (rc == CORE_ENOTFOUND) {
            gw_api_error(req, 404, "not_found", "no such server");
        } else {
            tel_attr at[1] = {TEL_ATTR_STR("server_id", j->server_id)};
            tel_log(TEL_LOG_ERROR, at, 1, "power: server look-up failed: %s", msg);
            tel_span_set_str_static(server_span, "error.type", "manager_unavailable");
            gw_api_error(req, rc == CORE_EUNAVAILABLE ? 503 : 502, "manager_unavailable",
                         "the server directory is unavailable");
        }
        goto out;
    }
    tel_span_set_str(server_span, "datacenter", si.datacenter);
    ctx_with_baggage(&ctx, "datacenter", si.datacenter);

    gw_agent *a = select_agent(j, &ctx, &si);
    if (a) {
        tel_span_set_str(server_span, "agent_id", gw_agent_id(a));
        call_agent(j, &ctx, &si, a);
        gw_agent_release(a);
    }
out:
    gw_server_info_wipe(&si);
    tel_context_cleanup(&ctx);
    free(j);
}

static int power_handler(core_http_req *req, void *ud)
{
    gw_power *pw = ud;
    const char *id = core_http_req_param(req, "id");
    tel_span *span = core_http_req_span(req);
    power_job *j = calloc(1, sizeof *j);
    if (!j) return gw_api_error(req, 500, "internal", "out of memory");
    if (gw_api_authenticate(req, pw->keys, &j->who) != CORE_OK) {
        free(j);
        return 0;
    }
    tel_span_set_str(span, "customer_id", j->who.customer_id);
    if (!id || !gw_server_id_valid(id)) {
        free(j);
        return gw_api_error(req, 404, "not_found", "no such server");
    }
    snprintf(j->server_id, sizeof j->server_id, "%s", id);
    tel_span_set_str(span, "server_id", j->server_id);

    json_t *body = NULL;
    if (core_http_req_json(req, &body) != CORE_OK) {
        free(j);
        return 0; /* answered 400/413 */
    }
    const char *action = json_string_value(json_object_get(body, "action"));
    for (size_t i = 0; action && i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(action, actions[i]) == 0) snprintf(j->action, sizeof j->action, "%s", action);
    json_decref(body);
    if (!j->action[0]) {
        free(j);
        return gw_api_error(req, 400, "invalid_action",
                            "action must be one of on, off, soft, cycle, reset, status");
    }
    if (strcmp(j->action, "status") != 0 && !(j->who.roles & (CORE_TOKEN_ROLE_ADMIN | CORE_TOKEN_ROLE_OPERATOR))) {
        free(j);
        return gw_api_error(req, 403, "forbidden", "this role may only read the power status");
    }
    if (!j->who.roles) {
        free(j);
        return gw_api_error(req, 403, "forbidden", "no role allows power operations");
    }
    tel_span_set_str(span, "bmc.power.action", j->action);
    j->pw = pw;
    j->req = req;
    int rc = core_workpool_submit(pw->pool, power_job_run, j, span);
    if (rc != CORE_OK) {
        free(j);
        core_http_resp_header(req, "retry-after", "1");
        return gw_api_error(req, 503, "busy", "the gateway is overloaded, try again");
    }
    return CORE_HTTP_ASYNC;
}

int gw_power_route(core_http_server *srv, gw_power *pw)
{
    return core_http_server_route(srv, CORE_HTTP_POST, "/v1/servers/{id}/power", power_handler,
                                  pw);
}
