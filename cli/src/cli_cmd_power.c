/* `bmcctl power <server> <on|off|soft|cycle|reset|status>`: POST /v1/servers/{id}/power at the
 * gateway. The server may be given by id or, when no server has that id, by its unique name. */
#include <stdio.h>
#include <string.h>

#include "cli_cmd.h"
#include "telemetry/baggage.h"

static const char *const actions[] = {"on", "off", "soft", "cycle", "reset", "status"};

static void add_baggage(cli_inv *inv, const char *key, const char *value)
{
    if (!value || !*value)
        return;
    tel_baggage *b = tel_baggage_set(inv->ctx.bag, key, value, NULL);
    if (b) {
        tel_context_set_baggage(&inv->ctx, b);
        tel_baggage_unref(b);
    }
}

/* The gateway URL for server id: the configured one, else the manager's location answer. */
static int gateway_for(cli_inv *inv, const char *token, const char *seg, char *out, size_t cap)
{
    if (inv->gateway_url[0]) {
        snprintf(out, cap, "%s", inv->gateway_url);
        return CLI_EXIT_OK;
    }
    char path[2048];
    snprintf(path, sizeof path, "/v1/servers/%s/location", seg);
    cli_api_result r;
    int rc = cli_api_call(inv->api, &inv->ctx, "manager", "GET", inv->manager_url, path, token,
                          NULL, &r);
    const char *gw = json_string_value(json_object_get(r.body, "gateway_url"));
    if (rc == CLI_EXIT_OK && gw && *gw) {
        snprintf(out, cap, "%s", gw);
    } else if (rc == CLI_EXIT_OK) {
        rc = cli_fail(inv, CLI_EXIT_OTHER, "bad_response", "the manager gave no gateway URL");
    } else {
        rc = cli_fail_api(inv, &r);
    }
    cli_api_result_cleanup(&r);
    return rc;
}

int cli_cmd_power(cli_inv *inv)
{
    if (inv->argc != 2)
        return cli_fail(inv, CLI_EXIT_USAGE, "usage",
                        "usage: bmcctl power <server> <on|off|soft|cycle|reset|status>");
    const char *server = inv->argv[0], *action = inv->argv[1];
    bool known = false;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        known = known || strcmp(action, actions[i]) == 0;
    if (!known)
        return cli_fail(inv, CLI_EXIT_USAGE, "usage",
                        "unknown power action \"%s\" (use on, off, soft, cycle, reset or status)",
                        action);
    char id[512], seg[1600], path[2048], gw[512], token[4096];
    snprintf(id, sizeof id, "%s", server);
    if (!*id || cli_api_escape_segment(id, seg, sizeof seg) < 0)
        return cli_fail(inv, CLI_EXIT_USAGE, "usage", "invalid server id");
    tel_span_set_str(inv->root, "server_id", id);
    tel_span_set_str(inv->root, "bmc.power.action", action);
    add_baggage(inv, "server_id", id);
    int rc = cli_need_token(inv, token, sizeof token);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = gateway_for(inv, token, seg, gw, sizeof gw);
    if (rc != CLI_EXIT_OK) {
        memset(token, 0, sizeof token);
        return rc;
    }
    json_t *body = json_pack("{s:s}", "action", action);
    cli_api_result r;
    for (int attempt = 0;; attempt++) {
        snprintf(path, sizeof path, "/v1/servers/%s/power", seg);
        cli_api_call(inv->api, &inv->ctx, "gateway", "POST", gw, path, token, body, &r);
        /* Not an id: maybe a name (looked up once at the manager). */
        if ((r.status == 404 || r.status == 400) && attempt == 0 &&
            cli_resolve_server_name(inv, token, server, id, sizeof id) &&
            cli_api_escape_segment(id, seg, sizeof seg) >= 0) {
            cli_api_result_cleanup(&r);
            tel_span_set_str(inv->root, "server_id", id);
            continue;
        }
        break;
    }
    memset(token, 0, sizeof token);
    json_decref(body);
    if (r.exit_code != CLI_EXIT_OK) {
        if (r.status == 404 && (!r.code[0] || strcmp(r.code, "not_found") == 0))
            snprintf(r.message, sizeof r.message, "no server \"%s\" (or not yours) (not_found, HTTP 404)",
                     server);
        rc = cli_fail_api(inv, &r);
        cli_api_result_cleanup(&r);
        return rc;
    }
    cli_note_trace(inv, &r, r.body);
    const char *state = json_string_value(json_object_get(r.body, "power_state"));
    tel_span_set_str(inv->root, "bmc.power.state", state ? state : "unknown");
    if (inv->json) {
        /* The gateway's own trace_id wins over ours only when we have none. */
        json_object_del(r.body, "trace_id");
        cli_print_json(inv, r.body);
    } else if (strcmp(action, "status") == 0) {
        printf("%s: power is %s\n", id, state ? state : "unknown");
    } else {
        printf("%s: power %s done; power is %s\n", id, action, state ? state : "unknown");
    }
    cli_api_result_cleanup(&r);
    return CLI_EXIT_OK;
}
