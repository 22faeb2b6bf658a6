/* bmcctl commands: the shared invocation state and one entry point per command. Private to
 * cli/ (the commands live in cli_cmd_*.c, main in cli_main.c). */
#ifndef CLI_CMD_H
#define CLI_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "cli/api.h"
#include "cli/config.h"
#include "telemetry/context.h"
#include "telemetry/trace.h"

#define CLI_DEFAULT_MANAGER "http://127.0.0.1:8080"
#define CLI_DEFAULT_GATEWAY "http://127.0.0.1:8081"

/* One invocation. The command's root span is started by main before the command runs; commands
 * make their calls as children of `ctx` and add attributes to `root`. */
typedef struct cli_inv {
    bool json;                 /* --json */
    bool color;                /* stdout is a terminal and NO_COLOR unset */
    long timeout_ms;           /* --timeout */
    char manager_url[512];     /* resolved: --manager, BMCCTL_MANAGER_URL, stored, default */
    char gateway_url[512];     /* resolved likewise (BMCCTL_GATEWAY_URL) */
    bool gateway_explicit;     /* given by option or environment (not the default) */
    cli_login login;           /* stored login (fields empty when none) */
    bool have_login;
    tel_span *root;            /* the command's root span (no-op when telemetry is off) */
    tel_context ctx;           /* context carrying root (and baggage) for children */
    cli_api *api;              /* NULL for commands that make no call */
    char trace_id[33];         /* the trace of this command ("" until known) */
    int argc;                  /* the command's own arguments (after the command words) */
    char **argv;
} cli_inv;

/* Commands: each returns a CLI_EXIT_* code and has printed its result or error. */
int cli_cmd_login(cli_inv *inv);
int cli_cmd_logout(cli_inv *inv);
int cli_cmd_servers_list(cli_inv *inv);
int cli_cmd_servers_show(cli_inv *inv);
int cli_cmd_power(cli_inv *inv);
int cli_cmd_trace_show(cli_inv *inv);

/* The id of the caller's only server named `name` (an API call at the manager, child of
 * inv->ctx), written into out. False when there is no such name, or several
 * (cli_cmd_servers.c). */
bool cli_resolve_server_name(cli_inv *inv, const char *token, const char *name, char *out,
                             size_t cap);

/* ---- output helpers (cli_output.c) ---- */

/* Prints an error: "bmcctl: <message>" on stderr, and with --json also
 * {"error":{"code","message"},"trace_id"} on stdout. Returns exit_code. */
int cli_fail(cli_inv *inv, int exit_code, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prints the failure of an API call (as cli_fail). Returns r->exit_code. */
int cli_fail_api(cli_inv *inv, const cli_api_result *r);
/* With --json prints obj (borrowed) with "trace_id" added on stdout. */
void cli_print_json(cli_inv *inv, json_t *obj);
/* Remembers the trace id of an answer when the command has none of its own (telemetry off). */
void cli_note_trace(cli_inv *inv, const cli_api_result *r, json_t *body);

/* Reads the stored token into buf; on failure prints why (exit 2) and returns that code. */
int cli_need_token(cli_inv *inv, char *buf, size_t cap);

#endif
