/* Instrumented HTTP server on libwebsockets (one service thread), with routes, JSON helpers, a
 * middleware chain, asynchronous handlers, built-in /metrics, /healthz and /readyz, and
 * WebSocket endpoints on the same port (core/http_ws.h).
 *
 * Tracing (the built-in first middleware): for every request the server extracts the context
 * and baggage through the propagator (the global one unless configured) from the request
 * headers, starts a SERVER span "{method} {route}" ("{method}" when no route matched) with
 * http.request.method, http.route, url.path, url.scheme, server.address, server.port,
 * client.address, user_agent.original, http.response.status_code (and error.type for 5xx and
 * failures), copies the baggage keys customer_id, server_id, session_id, datacenter, agent_id
 * and bmc_type onto the span, sets ERROR on 5xx, answers a `traceparent` response header, and
 * records http.server.request.duration (histogram, seconds, OTel HTTP buckets 0.005 ... 10)
 * and http.server.active_requests (up-down counter) when a meter provider is configured. While
 * a handler runs on the service thread its span is the thread's current span (log
 * correlation); handlers create children from core_http_req_context(). Header values are never
 * recorded, so Authorization, cookies and tokens stay out of telemetry; the query string is not
 * recorded either.
 *
 * Limits and errors: every error answer has the body {"error":{"code":"...","message":"..."}}
 * with a stable code: unknown route 404 "not_found"; known path, other method 405
 * "method_not_allowed" with Allow; POST/PUT/PATCH without Content-Length (or with
 * Transfer-Encoding) 411 "length_required"; body over the limit 413 "body_too_large" (then the
 * connection closes); malformed JSON 400 "malformed_json", invalid UTF-8 400 "invalid_utf8"
 * (core_http_req_json); "h2c" upgrade 400 "h2c_not_supported" (only HTTP/1.1 is served, so
 * propagation headers are never lost to h2). Request headers may total max_header_bytes
 * (>= 16 KiB); beyond that libwebsockets drops the connection without an answer (4.1.6 cannot
 * answer 431). Headers must arrive within body_timeout_s (else the connection closes) and a
 * body too (else 408 "request_timeout"); an asynchronous answer later than async_timeout_s
 * becomes 504 "timeout".
 * Known libwebsockets 4.1.6 limits: of a duplicated custom header only the first line is
 * visible, so a second traceparent cannot be detected and several tracestate lines are not
 * joined; the request path arrives percent-decoded (an encoded '/' separates segments);
 * unknown methods get 403 from libwebsockets itself.
 *
 * Threading: routes, middleware and WebSocket endpoints are registered before
 * core_http_server_start. Handlers and middleware run on the service thread and must not
 * block; long work completes asynchronously (a handler returns CORE_HTTP_ASYNC and any thread
 * answers later with core_http_respond*). */
#ifndef CORE_HTTP_SERVER_H
#define CORE_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/http_json.h"
#include "core/http_router.h"
#include "telemetry/context.h"
#include "telemetry/metrics.h"
#include "telemetry/propagation.h"
#include "telemetry/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct core_http_server core_http_server;
typedef struct core_http_req core_http_req;

/* A handler's return value when it will answer later (from any thread). */
#define CORE_HTTP_ASYNC 1

/* A route handler. Runs on the service thread. Returns 0 after answering with one
 * core_http_respond* call, CORE_HTTP_ASYNC when the answer comes later, or a negative code
 * (answered with 500 "internal" unless the handler already answered). Returning 0 without an
 * answer is a bug answered with 500. */
typedef int (*core_http_handler_fn)(core_http_req *req, void *ud);

/* A middleware: runs before the handler, on the service thread, in registration order. It
 * either answers itself (e.g. 401) and returns 0 / CORE_HTTP_ASYNC, or returns
 * core_http_next(req) to continue the chain. Built-in routes skip user middleware. */
typedef int (*core_http_middleware_fn)(core_http_req *req, void *ud);

/* Readiness probe for /readyz: true when the service can take traffic. Runs on the service
 * thread; must be quick. */
typedef bool (*core_http_ready_fn)(void *ud);

typedef struct core_http_server_config {
    const char *address;          /* listen address; NULL: "127.0.0.1" */
    int port;                     /* 0: an ephemeral port (core_http_server_port) */
    size_t max_body_bytes;        /* default request body limit; 0: 1 MiB */
    size_t max_header_bytes;      /* total request header bytes; 0 or < 16384: 16384 */
    unsigned body_timeout_s;      /* a body must arrive within this (else 408
                                   * "request_timeout" and close); also the time allowed for
                                   * the request headers; 0: 10 */
    unsigned keepalive_timeout_s; /* idle keep-alive connections close after; 0: 5 */
    unsigned async_timeout_s;     /* an asynchronous answer must come within this, else the
                                   * client gets 504 "timeout" (connection closed) and the late
                                   * answer is accepted and dropped; 0: 60 */
    unsigned drain_timeout_ms;    /* destroy waits this long for pending asynchronous
                                   * answers; 0: 5000 */
    tel_tracer *tracer;           /* NULL: tel_global_tracer("bmcfleet.core.http") */
    tel_meter_provider *meters;   /* NULL: no HTTP metrics and no /metrics route */
    const tel_propagator *propagator; /* NULL: tel_propagator_global() at each request */
    core_http_ready_fn ready;     /* NULL: /readyz is ready while the server runs */
    void *ready_ud;
    bool trace_builtin;           /* also trace /metrics, /healthz, /readyz (default off) */
    bool no_builtin;              /* do not register /metrics, /healthz, /readyz */
} core_http_server_config;

/* Per-route options (core_http_server_route_ex). */
typedef struct core_http_route_opts {
    size_t max_body_bytes; /* 0: the server's limit */
} core_http_route_opts;

/* Creates a stopped server (cfg copied; NULL: defaults). The built-in routes are registered
 * here. Returns NULL on allocation failure. The caller owns it: core_http_server_destroy. */
core_http_server *core_http_server_create(const core_http_server_config *cfg);

/* Registers handler fn (ud borrowed) for `methods` (core_http_method bits) on `pattern`
 * (copied; syntax in core/http_router.h). Returns 0, CORE_EINVAL, CORE_EEXIST (also for a
 * built-in path), CORE_ESTATE after start, CORE_ENOMEM. */
int core_http_server_route(core_http_server *s, unsigned methods, const char *pattern,
                           core_http_handler_fn fn, void *ud);
int core_http_server_route_ex(core_http_server *s, unsigned methods, const char *pattern,
                              core_http_handler_fn fn, void *ud, const core_http_route_opts *o);

/* Appends a middleware (at most 16). Returns 0, CORE_EFULL, CORE_ESTATE after start. */
int core_http_server_use(core_http_server *s, core_http_middleware_fn fn, void *ud);

/* Binds and starts the service thread. Returns 0, CORE_EIO when the address cannot be bound
 * (the reason goes to stderr), CORE_ESTATE when already started, CORE_ENOMEM. */
int core_http_server_start(core_http_server *s);

/* The bound port (after start), else 0. Thread safe. */
int core_http_server_port(const core_http_server *s);

/* Stops serving: closes every connection (open requests end their spans; WebSocket
 * connections get on_close with 1001) and joins the service thread. Idempotent. Must not be
 * called from a handler. Pending asynchronous requests stay valid until answered. */
void core_http_server_stop(core_http_server *s);

/* Stops if needed, waits up to drain_timeout_ms for pending asynchronous answers, and frees
 * the server. If answers are still pending then, their shared state is leaked on purpose (a
 * late core_http_respond stays safe) and a warning goes to stderr. NULL allowed. */
void core_http_server_destroy(core_http_server *s);

/* ---- Inside a handler or middleware ----
 * Unless stated otherwise, these run on the service thread while the handler (or middleware)
 * is running, or on the thread that owns an asynchronous request until it answers. After the
 * answer the request must not be touched. */

/* Continues the middleware chain (the next middleware or the handler) and returns its
 * result. */
int core_http_next(core_http_req *req);

/* The method bit (core_http_method) and its name. */
unsigned core_http_req_method(const core_http_req *req);
const char *core_http_req_method_name(const core_http_req *req);
/* The decoded path without the query (NUL-terminated, owned by req). */
const char *core_http_req_path(const core_http_req *req);
/* The matched route pattern, or NULL. */
const char *core_http_req_route(const core_http_req *req);
/* A path parameter of the matched route (decoded; may hold any byte but NUL), or NULL. */
const char *core_http_req_param(const core_http_req *req, const char *name);
/* The client's IP address as text (owned by req). */
const char *core_http_req_peer(const core_http_req *req);

/* Copies the request header `name` (case-insensitive, without colon) into buf (cap bytes,
 * NUL-terminated). Returns its length, CORE_ENOTFOUND, CORE_ETOOBIG when cap is too small, or
 * CORE_ESTATE from an asynchronous continuation: service thread only, before the handler
 * returns (copy what a continuation needs). Of a duplicated custom header only the first line
 * is visible; duplicated standard headers are joined by libwebsockets. */
int core_http_req_header(core_http_req *req, const char *name, char *buf, size_t cap);
/* Copies the decoded value of query argument `name` (the first one) into buf as
 * core_http_req_header does (same thread restriction). Returns its length (0 for "?name" or
 * "?name="), CORE_ENOTFOUND, CORE_ETOOBIG or CORE_ESTATE. Note that libwebsockets turns '+'
 * into a space and a literal '&' or ';' separates arguments. */
int core_http_req_query(core_http_req *req, const char *name, char *buf, size_t cap);

/* The request body (NUL-terminated; len may be NULL). Empty for requests without a body. */
const char *core_http_req_body(const core_http_req *req, size_t *len);

/* Parses the body as a JSON object under the route's size limit (depth 32). On success stores
 * a new reference in *out (the caller owns it) and returns 0. Otherwise the request has been
 * answered with 400 ("malformed_json", "invalid_utf8", "empty_body", "json_not_object",
 * "json_too_deep") or 413 and the code is returned: the handler just returns 0. */
int core_http_req_json(core_http_req *req, json_t **out);

/* The request's context: the SERVER span as parent, with the tracestate and the extracted
 * baggage (borrowed; valid until the answer). Use it as the parent of child spans and
 * outgoing calls. For an asynchronous continuation, copy it (tel_context_copy) if it must
 * outlive the answer. Never NULL. */
const tel_context *core_http_req_context(const core_http_req *req);
/* The SERVER span (for extra attributes/events; never NULL, a no-op span when tracing is
 * off). Valid until the answer. */
tel_span *core_http_req_span(core_http_req *req);

/* One pointer of per-request state for middleware and handlers (e.g. the authenticated
 * principal). Not freed by the server. */
void core_http_req_set_local(core_http_req *req, void *p);
void *core_http_req_local(const core_http_req *req);

/* ---- Answering (exactly once per request; thread safe for asynchronous requests) ---- */

/* Adds a response header (name lowercase without colon; both copied; at most 16 headers).
 * Call before the core_http_respond* call. Returns 0, CORE_EINVAL (bad name or CR/LF in the
 * value), CORE_EFULL, CORE_ESTATE after the answer. */
int core_http_resp_header(core_http_req *req, const char *name, const char *value);

/* Answers with status and body[0..len) (copied; may be NULL/0) of content_type (NULL: no
 * Content-Type). Returns 0, CORE_ESTATE when the request was already answered, CORE_ENOMEM
 * (then a 500 without body goes out). From another thread (asynchronous requests) the answer
 * is handed to the service thread; req must not be used afterwards. */
int core_http_respond(core_http_req *req, int status, const char *content_type,
                      const void *body, size_t len);
/* Answers with j serialised compactly as application/json. Takes ownership of j (NULL: 500).
 * Returns as core_http_respond. */
int core_http_respond_json(core_http_req *req, int status, json_t *j);
/* Answers with {"error":{"code":code,"message":message}}. Returns as core_http_respond. */
int core_http_respond_error(core_http_req *req, int status, const char *code,
                            const char *message);

#ifdef __cplusplus
}
#endif
#endif
