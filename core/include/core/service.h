/* Service scaffolding shared by every binary (bmc-manager, bmc-gateway, bmc-agent): command
 * line and configuration, telemetry start-up and shutdown, start-up logging, signals, and a
 * run loop that starts the service's HTTP and gRPC servers and stops them gracefully.
 *
 * A service's main() is, in order:
 *
 *     static const core_config_item items[] = {...};   // the service's settings
 *     core_service *svc;
 *     int rc = core_service_init(&svc, &(core_service_info){
 *                  .name = "bmc-gateway", .items = items, .n_items = N}, argc, argv);
 *     if (rc != 0)
 *         return core_service_exit_code(rc);           // --help: 0; bad config: 2
 *     const core_config *cfg = core_service_config(svc);
 *     core_http_server_config hc;
 *     core_service_http_defaults(svc, &hc);           // then set hc.port etc.
 *     core_http_server *http = core_http_server_create(&hc);
 *     ... register routes / gRPC methods ...
 *     core_service_add_http(svc, http, "api");        // the service owns it from now on
 *     core_service_add_grpc(svc, grpc, "registry");
 *     core_service_on_stop(svc, my_cleanup, app);     // optional
 *     rc = core_service_run(svc);                     // until SIGINT/SIGTERM
 *     ... free what the handlers used ...
 *     core_service_destroy(svc);                      // servers freed, then tel_shutdown
 *     return rc == 0 ? 0 : 1;
 *
 * What init does: blocks SIGINT and SIGTERM in the calling thread (so every thread created
 * later inherits the mask and the run loop receives them with sigtimedwait), ignores SIGPIPE,
 * reads the settings (core/config.h: environment, `--config FILE`, `--help`), registers the
 * OTLP/gRPC transport (core_otlp_grpc_register, so OTEL_EXPORTER_OTLP_PROTOCOL=grpc works),
 * calls tel_init(name, version) and logs one "starting" line with the service name, version
 * and every setting (secret settings as "(hidden)"; nothing else is logged about them).
 * Telemetry that fails to start is logged and the service runs without it.
 *
 * What run does: starts the registered servers in registration order (HTTP then gRPC as
 * added), logs "listening" for each with its name, protocol, address and bound port (so a
 * test can use port 0 and read the port from the log), then waits for SIGINT/SIGTERM or
 * core_service_stop, calling the tick function (if any) on the way. On stop it logs
 * "stopping", stops the HTTP servers (open requests end, asynchronous ones stay answerable),
 * then the gRPC servers (grace period of their configuration), then calls the on_stop hooks in
 * reverse order, and returns. While stopping, a second SIGINT/SIGTERM ends the process at once
 * (default action).
 *
 * Threading: init, the add/on_stop/set_tick calls, run and destroy are called from the main
 * thread; core_service_stop from any thread. Call core_service_init before any thread is
 * created (the signal mask must be inherited by every thread).
 *
 * Errors: 0 or a negative CORE_E* code (core/error.h). */
#ifndef CORE_SERVICE_H
#define CORE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/grpc_server.h"
#include "core/http_server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* core_service_init's result when `--help` was printed: the program exits 0. */
#define CORE_SERVICE_HELP 1

typedef struct core_service_info {
    const char *name;              /* "bmc-manager": the default OTEL_SERVICE_NAME (the variable
                                    * still overrides it), the program name in --help */
    const char *version;           /* NULL: the build's BMC_VERSION */
    const core_config_item *items; /* the service's settings (borrowed; must outlive the
                                    * service, normally a static const array) */
    size_t n_items;
    const char *help_extra; /* printed after the settings by --help (commands, examples);
                             * NULL: nothing. A short telemetry note is always printed. */
} core_service_info;

typedef struct core_service core_service;

/* Initialises the service (see the top of this file). argv[1..argc) may hold only `--help`,
 * `-h`, `--config FILE` or `--config=FILE`: a service with its own arguments or commands
 * removes them before this call. Returns 0 with *out set (the caller owns it:
 * core_service_destroy); CORE_SERVICE_HELP after writing the help to stdout; or, with the
 * reasons logged, CORE_ECONFIG (bad arguments or settings; every problem is listed, secret
 * values never) or CORE_ENOMEM. *out is NULL unless 0 is returned. info and its strings are
 * borrowed and must outlive the service. */
int core_service_init(core_service **out, const core_service_info *info, int argc,
                      char *const *argv);

/* The exit status for an init result: 0 for CORE_SERVICE_HELP, 2 for a configuration error,
 * 1 for anything else that is not 0 (and 0 for 0). */
int core_service_exit_code(int init_rc);

/* The loaded settings (owned by s; valid until destroy). */
const core_config *core_service_config(const core_service *s);
/* The service name given in the info (not OTEL_SERVICE_NAME). */
const char *core_service_name(const core_service *s);

/* Fills cfg with the defaults a service HTTP server should use: everything zero (the server's
 * own defaults: 127.0.0.1, 1 MiB bodies, ...) except meters = the process-wide meter provider
 * (so /metrics serves the service's instruments; NULL when telemetry is disabled). The caller
 * then sets address, port and limits. */
void core_service_http_defaults(const core_service *s, core_http_server_config *cfg);

/* Hands a created, not yet started HTTP server (routes and middleware registered) to the
 * service, which starts it in core_service_run, stops it on shutdown and destroys it in
 * core_service_destroy. `name` (a literal; for logs, e.g. "api") may be NULL. Returns 0,
 * CORE_EINVAL (NULL server), CORE_EFULL (more than 8 servers in all), CORE_ESTATE (run has
 * started). On failure the caller still owns h. */
int core_service_add_http(core_service *s, core_http_server *h, const char *name);
/* The same for a gRPC server (methods registered, not started). */
int core_service_add_grpc(core_service *s, core_grpc_server *g, const char *name);

/* Registers fn(ud) to run once during shutdown, after every server has stopped (no handler
 * runs any more), in reverse registration order: stop worker threads, flush state. At most 8.
 * Returns 0, CORE_EINVAL, CORE_EFULL. */
int core_service_on_stop(core_service *s, void (*fn)(void *ud), void *ud);

/* Calls fn(s, ud) on the run loop's thread about every interval_ms (>= 10) while the service
 * runs, the first time one interval after the servers started. fn must return quickly (a
 * periodic job with real work runs on its own thread). One tick function per service; a later
 * call replaces it. Returns 0, CORE_EINVAL, CORE_ESTATE (run has started). */
int core_service_set_tick(core_service *s, uint32_t interval_ms,
                          void (*fn)(core_service *s, void *ud), void *ud);

/* Starts the servers, serves until SIGINT/SIGTERM or core_service_stop, then stops (see the
 * top of this file). Returns 0 after a clean stop, or CORE_EIO when a server could not be
 * started (the reason is logged; servers already started are stopped and the on_stop hooks
 * run). Call once. */
int core_service_run(core_service *s);

/* Asks the run loop to stop (it notices within about 100 ms). Thread safe; callable before
 * run (run then stops at once) and from handlers. Not async-signal-safe (signals are handled
 * by the run loop already). */
void core_service_stop(core_service *s);
/* True once a stop was requested (by a signal or core_service_stop). Thread safe. */
bool core_service_stopping(const core_service *s);

/* Stops the servers if run did not, destroys them, frees the settings, logs "stopped" and
 * shuts telemetry down (tel_shutdown: pending spans, metrics and logs are exported within
 * their bounds). NULL allowed. */
void core_service_destroy(core_service *s);

#ifdef __cplusplus
}
#endif
#endif
