/* bmcctl output helpers: errors, JSON output, trace ids (see cli_cmd.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/trace.h"
#include "cli_cmd.h"

static void print_error_json(cli_inv *inv, const char *code, const char *message)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    if (!o)
        return;
    cli_print_json(inv, o);
    json_decref(o);
}

int cli_fail(cli_inv *inv, int exit_code, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "bmcctl: %s\n", msg);
    if (inv->root)
        tel_span_set_status(inv->root, TEL_STATUS_ERROR, msg);
    if (inv->json)
        print_error_json(inv, code, msg);
    return exit_code;
}

int cli_fail_api(cli_inv *inv, const cli_api_result *r)
{
    cli_note_trace(inv, r, r->body);
    return cli_fail(inv, r->exit_code, r->code[0] ? r->code : "error", "%s", r->message);
}

void cli_print_json(cli_inv *inv, json_t *obj)
{
    if (!inv->json)
        return;
    if (inv->trace_id[0])
        json_object_set_new(obj, "trace_id", json_string(inv->trace_id));
    json_dumpf(obj, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    fflush(stdout);
}

void cli_note_trace(cli_inv *inv, const cli_api_result *r, json_t *body)
{
    if (inv->trace_id[0])
        return;
    uint8_t id[16];
    const char *t = json_string_value(json_object_get(body, "trace_id"));
    if (!t) /* error answers carry it inside "error" */
        t = json_string_value(json_object_get(json_object_get(body, "error"), "trace_id"));
    /* an all-zero id (the service's telemetry is off) is no trace */
    if (t && cli_trace_id_parse(t, id))
        cli_hex(id, 16, inv->trace_id);
    else if (r && cli_trace_id_parse(r->trace_id, id))
        cli_hex(id, 16, inv->trace_id);
}

int cli_need_token(cli_inv *inv, char *buf, size_t cap)
{
    int rc = cli_config_token(buf, cap);
    switch (rc) {
    case CLI_CFG_OK:
        return CLI_EXIT_OK;
    case CLI_CFG_ENOENT:
        return cli_fail(inv, CLI_EXIT_AUTH, "not_logged_in",
                        "not logged in: run `bmcctl login` first");
    case CLI_CFG_EPERM:
        return cli_fail(inv, CLI_EXIT_AUTH, "token_file_mode",
                        "the token file is readable by other users; refusing to use it "
                        "(chmod 600 it, or run `bmcctl login` again)");
    default:
        return cli_fail(inv, CLI_EXIT_AUTH, "token_unreadable",
                        "cannot read the stored token; run `bmcctl login` again");
    }
}
