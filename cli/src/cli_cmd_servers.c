/* `bmcctl servers list` and `bmcctl servers show <id>`. */
#include <stdio.h>
#include <string.h>

#include "cli_cmd.h"

/* A field as text ("" when absent; numbers printed). */
static const char *field(json_t *o, const char *key, char *buf, size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (json_is_true(v))
        return "true";
    if (json_is_false(v))
        return "false";
    return "";
}

bool cli_resolve_server_name(cli_inv *inv, const char *token, const char *name, char *out,
                             size_t cap)
{
    cli_api_result r;
    bool found = false;
    if (cli_api_call(inv->api, &inv->ctx, "manager", "GET", inv->manager_url, "/v1/servers",
                     token, NULL, &r) == CLI_EXIT_OK) {
        size_t i, hits = 0;
        json_t *s;
        json_array_foreach(json_object_get(r.body, "servers"), i, s) {
            const char *n = json_string_value(json_object_get(s, "name"));
            json_t *idv = json_object_get(s, "id");
            char id[64] = "";
            if (json_is_string(idv))
                snprintf(id, sizeof id, "%s", json_string_value(idv));
            else if (json_is_integer(idv))
                snprintf(id, sizeof id, "%lld", (long long)json_integer_value(idv));
            if (n && id[0] && strcmp(n, name) == 0 && strcmp(id, name) != 0) {
                hits++;
                snprintf(out, cap, "%s", id);
            }
        }
        found = hits == 1;
    }
    cli_api_result_cleanup(&r);
    return found;
}

int cli_cmd_servers_list(cli_inv *inv)
{
    if (inv->argc > 0)
        return cli_fail(inv, CLI_EXIT_USAGE, "usage", "servers list takes no arguments");
    char token[4096];
    int rc = cli_need_token(inv, token, sizeof token);
    if (rc != CLI_EXIT_OK)
        return rc;
    cli_api_result r;
    cli_api_call(inv->api, &inv->ctx, "manager", "GET", inv->manager_url, "/v1/servers", token,
                 NULL, &r);
    memset(token, 0, sizeof token);
    if (r.exit_code != CLI_EXIT_OK) {
        rc = cli_fail_api(inv, &r);
        cli_api_result_cleanup(&r);
        return rc;
    }
    cli_note_trace(inv, &r, NULL);
    json_t *servers = json_object_get(r.body, "servers");
    if (!json_is_array(servers)) {
        cli_api_result_cleanup(&r);
        return cli_fail(inv, CLI_EXIT_OTHER, "bad_response",
                        "the manager's answer has no \"servers\" list");
    }
    tel_span_set_int(inv->root, "bmcctl.servers.count", (int64_t)json_array_size(servers));
    if (inv->json) {
        cli_print_json(inv, r.body);
    } else if (json_array_size(servers) == 0) {
        printf("No servers.\n");
    } else {
        printf("%-24s %-24s %-12s %-8s %s\n", "ID", "NAME", "DATACENTER", "BMC", "BMC HOST");
        size_t i;
        json_t *s;
        char b1[32], b2[32], b3[32], b4[32], b5[32];
        json_array_foreach(servers, i, s) {
            printf("%-24s %-24s %-12s %-8s %s\n", field(s, "id", b1, sizeof b1),
                   field(s, "name", b2, sizeof b2), field(s, "datacenter", b3, sizeof b3),
                   field(s, "bmc_type", b4, sizeof b4), field(s, "bmc_host", b5, sizeof b5));
        }
    }
    cli_api_result_cleanup(&r);
    return CLI_EXIT_OK;
}

int cli_cmd_servers_show(cli_inv *inv)
{
    if (inv->argc != 1)
        return cli_fail(inv, CLI_EXIT_USAGE, "usage", "usage: bmcctl servers show <server-id>");
    const char *id = inv->argv[0];
    char token[4096], seg[768], path[900];
    if (cli_api_escape_segment(id, seg, sizeof seg) < 0 || !*id)
        return cli_fail(inv, CLI_EXIT_USAGE, "usage", "invalid server id");
    tel_span_set_str(inv->root, "server_id", id);
    int rc = cli_need_token(inv, token, sizeof token);
    if (rc != CLI_EXIT_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/servers/%s", seg);
    cli_api_result r;
    cli_api_call(inv->api, &inv->ctx, "manager", "GET", inv->manager_url, path, token, NULL, &r);
    char byname[128];
    /* Not an id: maybe a name. */
    if ((r.status == 404 || r.status == 400) &&
        cli_resolve_server_name(inv, token, id, byname, sizeof byname) &&
        cli_api_escape_segment(byname, seg, sizeof seg) >= 0) {
        cli_api_result_cleanup(&r);
        snprintf(path, sizeof path, "/v1/servers/%s", seg);
        tel_span_set_str(inv->root, "server_id", byname);
        cli_api_call(inv->api, &inv->ctx, "manager", "GET", inv->manager_url, path, token, NULL,
                     &r);
    }
    if (r.exit_code != CLI_EXIT_OK) {
        memset(token, 0, sizeof token);
        if (r.status == 404 || r.status == 400) {
            /* the only input is the id: a malformed one names no server either */
            snprintf(r.message, sizeof r.message, "no server \"%s\" (or not yours) (%s, HTTP %ld)",
                     id, r.code, r.status);
            r.exit_code = CLI_EXIT_NOT_FOUND;
        }
        rc = cli_fail_api(inv, &r);
        cli_api_result_cleanup(&r);
        return rc;
    }
    cli_note_trace(inv, &r, NULL);
    /* Where it is served from (optional: older managers may not answer it). */
    snprintf(path, sizeof path, "/v1/servers/%s/location", seg);
    cli_api_result loc;
    cli_api_call(inv->api, &inv->ctx, "manager", "GET", inv->manager_url, path, token, NULL, &loc);
    memset(token, 0, sizeof token);
    if (loc.exit_code == CLI_EXIT_OK && json_is_object(loc.body) && json_is_object(r.body))
        json_object_set(r.body, "location", loc.body);
    if (inv->json) {
        cli_print_json(inv, r.body);
    } else {
        const char *keys[] = {"id", "name", "customer_id", "datacenter", "bmc_type", "bmc_host"};
        char b[64];
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            printf("%-12s %s\n", keys[i], field(r.body, keys[i], b, sizeof b));
        const char *gw = json_string_value(json_object_get(loc.body, "gateway_url"));
        if (loc.exit_code == CLI_EXIT_OK && gw)
            printf("%-12s %s\n", "gateway", gw);
    }
    cli_api_result_cleanup(&loc);
    cli_api_result_cleanup(&r);
    return CLI_EXIT_OK;
}
