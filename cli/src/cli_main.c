/* bmcctl: the command-line client of the fleet. Parses the command line, starts the command's
 * root span (service.name bmcctl), runs the command and prints the trace id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_cmd.h"
#include "telemetry/baggage.h"
#include "telemetry/log.h"

static const char usage_text[] =
    "Usage: bmcctl [options] <command> [arguments]\n"
    "\n"
    "Commands:\n"
    "  login [--username NAME] [--password-stdin]\n"
    "                            log in at the manager; prompts for what is missing; stores the\n"
    "                            token in $XDG_CONFIG_HOME/bmcctl/token (else ~/.config/bmcctl;\n"
    "                            $BMCCTL_CONFIG_DIR overrides), mode 0600, with the URLs\n"
    "  logout                    forget the stored token\n"
    "  servers list              your servers\n"
    "  servers show <id>         one server and where it is served from\n"
    "  power <server> <action>   action: on, off, soft, cycle, reset or status; <server> is an\n"
    "                            id or a unique name\n"
    "  trace show <trace-id|file> [--file FILE] [--wait SECONDS] [--last] [--width N]\n"
    "                            print a trace as a waterfall from OTLP JSON lines (a trace id\n"
    "                            is looked up in --file or $BMC_TRACES_FILE; a file shows all\n"
    "                            its traces, or the latest with --last); --wait waits for late\n"
    "                            spans; '*' marks the critical path, '<-- slowest' its slowest\n"
    "                            leaf\n"
    "\n"
    "Options (anywhere on the line):\n"
    "  --json                    machine-readable output on stdout (errors too:\n"
    "                            {\"error\":{\"code\",\"message\"},\"trace_id\"})\n"
    "  --manager URL             manager URL (env BMCCTL_MANAGER_URL; default: the one stored at\n"
    "                            login, else " CLI_DEFAULT_MANAGER ")\n"
    "  --gateway URL             gateway URL (env BMCCTL_GATEWAY_URL; default: stored, else\n"
    "                            " CLI_DEFAULT_GATEWAY ")\n"
    "  --timeout SECONDS         per-request timeout (default 30)\n"
    "  -h, --help                this text;  --version  the version\n"
    "\n"
    "Tracing: every command that calls the fleet (login, servers, power) is the root span of one\n"
    "trace (service.name bmcctl) whose id is printed on stderr as \"trace_id: <id>\" (in the\n"
    "JSON with --json); logout and trace show work locally and make no telemetry.\n"
    "Telemetry follows the OTEL_* environment: OTEL_SDK_DISABLED=true turns it off;\n"
    "OTEL_EXPORTER_OTLP_ENDPOINT sends bmcctl's spans to a collector; OTEL_TRACES_EXPORTER=file\n"
    "with OTEL_EXPORTER_FILE_PATH writes OTLP JSON lines. With none of these set, bmcctl's own\n"
    "spans are not exported (the trace id is still made and sent to the services).\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  usage error, or the request was refused as invalid (HTTP 400)\n"
    "  2  authentication: not logged in, wrong password, expired or invalid token (401/403)\n"
    "  3  not found: no such server (or not yours), trace or file (404)\n"
    "  4  unavailable or timed out: a service, agent or BMC cannot be reached (503/504, ...)\n"
    "  5  any other failure (BMC errors, server errors, unexpected answers, local I/O)\n";

typedef int (*cmd_fn)(cli_inv *);

typedef struct command {
    const char *word1, *word2; /* word2 NULL: a one-word command */
    const char *span_name;     /* literal; NULL: not traced */
    cmd_fn fn;
    bool needs_api;
} command;

static const command commands[] = {
    {"login", NULL, "bmcctl login", cli_cmd_login, true},
    {"logout", NULL, NULL, cli_cmd_logout, false},
    {"servers", "list", "bmcctl servers list", cli_cmd_servers_list, true},
    {"servers", "show", "bmcctl servers show", cli_cmd_servers_show, true},
    {"power", NULL, "bmcctl power", cli_cmd_power, true},
    {"trace", "show", NULL, cli_cmd_trace_show, false},
};

/* Picks option > environment > stored > default. */
static void resolve_url(char *dst, size_t cap, const char *opt, const char *env, const char *stored,
                        const char *def, bool *explicit_out)
{
    const char *e = getenv(env);
    const char *v = opt && *opt ? opt : e && *e ? e : stored && *stored ? stored : def;
    if (explicit_out)
        *explicit_out = (opt && *opt) || (e && *e);
    snprintf(dst, cap, "%s", v);
}

static void usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "bmcctl: %s%s%s\nRun `bmcctl --help` for usage.\n", msg, arg ? " " : "",
            arg ? arg : "");
}

int main(int argc, char **argv)
{
    cli_inv inv;
    memset(&inv, 0, sizeof inv);
    inv.timeout_ms = 30000;
    const char *opt_manager = NULL, *opt_gateway = NULL;
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0;
    if (!pos)
        return CLI_EXIT_OTHER;
    bool after_dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (after_dashdash) {
            pos[npos++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            after_dashdash = true;
        } else if (strcmp(a, "--json") == 0) {
            inv.json = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ||
                   (npos == 0 && strcmp(a, "help") == 0)) {
            fputs(usage_text, stdout);
            free(pos);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--version") == 0 || (npos == 0 && strcmp(a, "version") == 0)) {
            printf("bmcctl %s\n", BMC_VERSION);
            free(pos);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--manager") == 0 || strcmp(a, "--gateway") == 0 ||
                   strcmp(a, "--timeout") == 0) {
            if (i + 1 >= argc) {
                usage_error("missing value after", a);
                free(pos);
                return CLI_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (a[2] == 'm')
                opt_manager = v;
            else if (a[2] == 'g')
                opt_gateway = v;
            else {
                char *end;
                double s = strtod(v, &end);
                if (*end || !(s > 0 && s <= 3600)) {
                    usage_error("--timeout takes seconds between 0 and 3600, not", v);
                    free(pos);
                    return CLI_EXIT_USAGE;
                }
                inv.timeout_ms = (long)(s * 1000);
            }
        } else if (strncmp(a, "--manager=", 10) == 0) {
            opt_manager = a + 10;
        } else if (strncmp(a, "--gateway=", 10) == 0) {
            opt_gateway = a + 10;
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (npos == 0) {
        fputs(usage_text, stderr);
        free(pos);
        return CLI_EXIT_USAGE;
    }
    const command *cmd = NULL;
    int used = 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && !cmd; i++) {
        if (strcmp(pos[0], commands[i].word1) != 0)
            continue;
        if (!commands[i].word2) {
            cmd = &commands[i];
            used = 1;
        } else if (npos > 1 && strcmp(pos[1], commands[i].word2) == 0) {
            cmd = &commands[i];
            used = 2;
        }
    }
    if (!cmd) {
        bool known_group = strcmp(pos[0], "servers") == 0 || strcmp(pos[0], "trace") == 0;
        usage_error(known_group ? "unknown subcommand for" : "unknown command", pos[0]);
        free(pos);
        return CLI_EXIT_USAGE;
    }
    inv.argc = npos - used;
    inv.argv = pos + used;
    inv.color = isatty(1) && !getenv("NO_COLOR") && !inv.json;
    inv.have_login = cli_config_load(&inv.login) == CLI_CFG_OK;
    resolve_url(inv.manager_url, sizeof inv.manager_url, opt_manager, "BMCCTL_MANAGER_URL",
                inv.login.manager_url, CLI_DEFAULT_MANAGER, NULL);
    resolve_url(inv.gateway_url, sizeof inv.gateway_url, opt_gateway, "BMCCTL_GATEWAY_URL",
                inv.login.gateway_url, CLI_DEFAULT_GATEWAY, &inv.gateway_explicit);

    tel_context_init(&inv.ctx);
    if (cmd->span_name) {
        /* A CLI exits right after its command: no periodic metrics, quiet logs, and a bounded
         * wait for the exporter at exit. Explicit settings in the environment win. */
        setenv("OTEL_METRICS_EXPORTER", "none", 0);
        /* No destination configured at all: keep tracing (ids are made and propagated, the
         * services record their spans) but export nothing, instead of failing at exit against
         * a collector that is not there. */
        if (!getenv("OTEL_TRACES_EXPORTER") && !getenv("OTEL_EXPORTER_OTLP_ENDPOINT") &&
            !getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            setenv("OTEL_TRACES_EXPORTER", "none", 1);
        setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "3000", 0);
        setenv("OTEL_BSP_EXPORT_TIMEOUT", "5000", 0);
        if (!getenv("LOG_LEVEL"))
            tel_log_set_level(TEL_LOG_WARN);
        tel_init("bmcctl", BMC_VERSION);
        tel_tracer *tracer = tel_global_tracer("bmcctl", BMC_VERSION);
        inv.root = tel_span_start(tracer, cmd->span_name, TEL_SPAN_KIND_INTERNAL, NULL);
        tel_span_set_str_static(inv.root, "bmcctl.command",
                                cmd->word2 ? (strcmp(cmd->word2, "list") == 0 ? "servers list"
                                              : strcmp(cmd->word2, "show") == 0 ? "servers show"
                                                                                : cmd->word1)
                                           : cmd->word1);
        tel_context_set_span(&inv.ctx, inv.root);
        tel_span_context sc = tel_span_get_context(inv.root);
        if (tel_span_context_is_valid(&sc))
            tel_hex_encode(sc.trace_id, 16, inv.trace_id);
        if (inv.login.customer_id[0] && strcmp(cmd->word1, "login") != 0) {
            tel_span_set_str(inv.root, "customer_id", inv.login.customer_id);
            tel_baggage *b = tel_baggage_set(NULL, "customer_id", inv.login.customer_id, NULL);
            if (b) {
                tel_context_set_baggage(&inv.ctx, b);
                tel_baggage_unref(b);
            }
        }
    }
    int rc;
    if (cmd->needs_api && !(inv.api = cli_api_create(inv.timeout_ms)))
        rc = cli_fail(&inv, CLI_EXIT_OTHER, "internal", "cannot create the HTTP client");
    else
        rc = cmd->fn(&inv);
    if (cmd->span_name) {
        tel_span_set_int(inv.root, "process.exit.code", rc);
        tel_span_end(inv.root);
        inv.root = NULL;
    }
    fflush(stdout); /* the result first, then the trace id, also when both go to one pipe */
    if (cmd->span_name && inv.trace_id[0] && !inv.json)
        fprintf(stderr, "trace_id: %s\n", inv.trace_id);
    tel_context_cleanup(&inv.ctx);
    cli_api_destroy(inv.api);
    if (cmd->span_name)
        tel_shutdown();
    free(pos);
    return rc;
}
