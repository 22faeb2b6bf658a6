/* bmc-manager: the fleet's users, customers and servers.
 *
 *   bmc-manager [--config FILE]               serve the API
 *   bmc-manager --seed FILE [--config FILE]   seed the database from FILE, then serve
 *   bmc-manager seed FILE [--config FILE]     seed the database from FILE and exit
 *
 * Settings: see `bmc-manager --help` (the table below). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/service.h"
#include "mgr.h"
#include "telemetry/log.h"

static const core_config_item settings[] = {
    {"MANAGER_ADDRESS", CORE_CFG_STRING, "127.0.0.1", "address the HTTP API listens on", 1, 255, 0},
    {"MANAGER_PORT", CORE_CFG_INT, "8080", "HTTP port (0: any free port, logged at start)", 0,
     65535, 0},
    {"MANAGER_DB", CORE_CFG_STRING, "bmc-manager.db", "SQLite database file", 1, 4096, 0},
    {"MANAGER_TOKEN_TTL", CORE_CFG_DURATION, "1h", "lifetime of the tokens issued at login", 1000,
     7 * 86400 * 1000LL, 0},
    {"MANAGER_MAX_BODY", CORE_CFG_INT, "65536", "largest request body accepted (bytes)", 1024,
     1048576, 0},
    {"MANAGER_WORKERS", CORE_CFG_INT, "2", "threads hashing passwords (login, user creation)", 1,
     16, 0},
    {"MANAGER_PWHASH_OPSLIMIT", CORE_CFG_INT, "2", "argon2id passes for new password hashes", 1, 10,
     0},
    {"MANAGER_PWHASH_MEMLIMIT", CORE_CFG_INT, "67108864",
     "argon2id memory for new password hashes (bytes)", 8192, 1073741824, 0},
    {"BMC_JWT_KEYS", CORE_CFG_STRING, NULL,
     "token keys: kid1:<base64 secret>,kid2:<base64 secret> (first signs, all verify)", 1, 16384,
     CORE_CFG_SECRET | CORE_CFG_REQUIRED},
    {"BMC_CRED_KEY", CORE_CFG_STRING, NULL,
     "base64 of the 32-byte key that seals BMC credentials in the database", 1, 128,
     CORE_CFG_SECRET | CORE_CFG_REQUIRED},
    {"BMC_SERVICE_TOKEN", CORE_CFG_STRING, NULL,
     "shared secret of the internal API (gateway -> manager), at least 16 bytes", 16, 1024,
     CORE_CFG_SECRET | CORE_CFG_REQUIRED},
};

static const char help_extra[] =
    "Commands:\n"
    "  bmc-manager [--config FILE]              serve the API\n"
    "  bmc-manager --seed FILE [--config FILE]  seed the database from FILE, then serve\n"
    "  bmc-manager seed FILE [--config FILE]    seed the database from FILE and exit\n"
    "The seed file format is in manager/seed.example.json.";

int main(int argc, char **argv)
{
    /* Take the manager's own arguments out; the rest goes to the configuration. */
    const char *seed = NULL;
    bool seed_only = false;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) return 1;
    int n = 0;
    args[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (i == 1 && strcmp(argv[i], "seed") == 0) {
            seed_only = true;
            if (i + 1 >= argc || argv[i + 1][0] == '-') {
                fprintf(stderr, "usage: bmc-manager seed FILE [--config FILE]\n");
                free(args);
                return 2;
            }
            seed = argv[++i];
        } else if (strcmp(argv[i], "--seed") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "--seed: missing file name\n");
                free(args);
                return 2;
            }
            seed = argv[++i];
        } else if (strncmp(argv[i], "--seed=", 7) == 0) {
            seed = argv[i] + 7;
        } else {
            args[n++] = argv[i];
        }
    }

    core_service *svc = NULL;
    core_service_info info = {.name = "bmc-manager",
                              .items = settings,
                              .n_items = sizeof settings / sizeof settings[0],
                              .help_extra = help_extra};
    int rc = core_service_init(&svc, &info, n, args);
    if (rc != 0) {
        free(args);
        return core_service_exit_code(rc);
    }
    const core_config *cfg = core_service_config(svc);
    mgr_app app;
    if (mgr_app_open(&app, cfg) != 0) {
        core_service_destroy(svc);
        free(args);
        return 1;
    }
    if (seed) {
        rc = mgr_seed_file(&app, seed);
        if (rc != 0 || seed_only) {
            mgr_app_close(&app);
            core_service_destroy(svc);
            free(args);
            return rc == 0 ? 0 : 1;
        }
    }

    core_http_server_config hc;
    core_service_http_defaults(svc, &hc);
    hc.address = core_config_str(cfg, "MANAGER_ADDRESS");
    hc.port = (int)core_config_int(cfg, "MANAGER_PORT");
    hc.max_body_bytes = (size_t)core_config_int(cfg, "MANAGER_MAX_BODY");
    core_http_server *http = core_http_server_create(&hc);
    if (!http || mgr_auth_register(&app, http) != 0 || mgr_api_register(&app, http) != 0 ||
        core_service_add_http(svc, http, "api") != 0) {
        tel_log_error("cannot set up the HTTP server");
        core_http_server_destroy(http);
        mgr_app_close(&app);
        core_service_destroy(svc);
        free(args);
        return 1;
    }
    rc = core_service_run(svc);
    /* No handler runs any more; login/user jobs still queued finish in mgr_app_close. */
    mgr_app_close(&app);
    core_service_destroy(svc);
    free(args);
    return rc == 0 ? 0 : 1;
}
