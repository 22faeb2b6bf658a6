/* WebSocket endpoints on the HTTP server (same port, same service thread).
 *
 * Upgrade: a GET with "Upgrade: websocket" on a registered pattern. The server checks the
 * Origin (see core_ws_route_opts.allowed_origins), the offered subprotocol, then calls
 * on_upgrade with the upgrade request as a core_http_req (headers, parameters, context and
 * span usable as in an HTTP handler). The upgrade is traced as an HTTP request: a SERVER span
 * "GET {route}" from the context and baggage extracted from the upgrade request's headers
 * (traceparent, tracestate, baggage), ending with status 101 (or the refusal status); the 101
 * answer carries a `traceparent`. A refusal gets the JSON error body of the HTTP server
 * (403 "origin_not_allowed", 400 "bad_subprotocol", or what on_upgrade chose).
 *
 * Connection: after the handshake a second span "WS {route}" (INTERNAL, child of the upgrade
 * span, so the stream stays in the caller's trace) covers the whole connection, with events
 * "ws.open" and "ws.close" (ws.close.code, ws.close.reason, ws.close.initiator = client /
 * server / network) and, at the end, ws.bytes_in, ws.bytes_out, ws.messages_in,
 * ws.messages_out. The baggage business keys are copied onto both spans.
 *
 * Protocol: libwebsockets enforces RFC 6455 framing (reserved opcodes and bits, control frame
 * sizes and fragmentation, continuation order: 1002) and, with the server's UTF-8 validation
 * on, text payloads and close reasons (1007); this module also answers 1002 to close codes of
 * 5000 and above and to a 1-byte close payload. Known gap of libwebsockets 4.1.6: unmasked
 * client frames are accepted as if masked. Messages are reassembled up to max_message_bytes
 * (else close 1009 "message too big").
 *
 * Backpressure: outgoing messages queue per connection. Above tx_high_water queued bytes the
 * server stops reading from that client (lws_rx_flow_control) and resumes below
 * tx_low_water, then calls on_drain; core_ws_post refuses with CORE_EFULL above
 * tx_max_queued. The application may also pause reading (core_ws_pause_rx / a post).
 *
 * Threading: handlers run on the service thread and must not block. A core_ws_conn pointer is
 * valid from on_open until on_close returns, on the service thread only. Other threads address
 * a connection by its id (core_ws_conn_id) with the core_ws_post* functions, which queue the
 * operation and wake the service thread (lws_cancel_service). */
#ifndef CORE_HTTP_WS_H
#define CORE_HTTP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http_server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct core_ws_conn core_ws_conn;

/* Close codes (RFC 6455 section 7.4.1). */
enum {
    CORE_WS_CLOSE_NORMAL = 1000,
    CORE_WS_CLOSE_GOING_AWAY = 1001,
    CORE_WS_CLOSE_PROTOCOL_ERROR = 1002,
    CORE_WS_CLOSE_UNSUPPORTED = 1003,
    CORE_WS_CLOSE_NO_STATUS = 1005,
    CORE_WS_CLOSE_ABNORMAL = 1006,
    CORE_WS_CLOSE_INVALID_PAYLOAD = 1007,
    CORE_WS_CLOSE_POLICY = 1008,
    CORE_WS_CLOSE_TOO_BIG = 1009,
    CORE_WS_CLOSE_INTERNAL = 1011,
};

typedef struct core_ws_handlers {
    /* During the upgrade (optional): return 0 to accept, or an HTTP status (400..599) to
     * refuse; a handler that answered with core_http_respond_error refuses with that answer.
     * core_http_req_set_local passes a pointer on to the connection (core_ws_conn_local). */
    int (*on_upgrade)(core_http_req *req, void *ud);
    /* The connection is open (optional). */
    void (*on_open)(core_ws_conn *c, void *ud);
    /* One complete message (data borrowed for the call). */
    void (*on_message)(core_ws_conn *c, const void *data, size_t len, bool binary, void *ud);
    /* The outgoing queue fell under tx_low_water after having been above tx_high_water
     * (optional). */
    void (*on_drain)(core_ws_conn *c, void *ud);
    /* The connection is closing (always called once after on_open): code is the peer's close
     * code, ours, or 1006 when the connection dropped without a close frame; reason may be
     * "". */
    void (*on_close)(core_ws_conn *c, int code, const char *reason, void *ud);
} core_ws_handlers;

typedef struct core_ws_route_opts {
    /* Allowed Origin values (exact, case-insensitive, e.g. "https://console.example"; "*"
     * allows any), NULL-terminated. NULL: a request WITH an Origin is accepted only when the
     * Origin's host[:port] equals the Host header (same origin); requests without Origin
     * (non-browser clients) are accepted. Copied. */
    const char *const *allowed_origins;
    /* A subprotocol the client must offer (e.g. "binary" for noVNC); it is selected and
     * echoed. NULL: none required (none is echoed). Copied. */
    const char *subprotocol;
    size_t max_message_bytes; /* 0: 1 MiB */
    size_t tx_high_water;     /* 0: 1 MiB */
    size_t tx_low_water;      /* 0: tx_high_water / 4 */
    size_t tx_max_queued;     /* core_ws_post refuses beyond; 0: 4 * tx_high_water */
} core_ws_route_opts;

/* Registers a WebSocket endpoint on `pattern` (router syntax) with handlers h (copied) and ud
 * (borrowed). The same pattern may also have plain HTTP routes. Before start only. Returns 0,
 * CORE_EINVAL, CORE_EEXIST, CORE_ESTATE, CORE_ENOMEM. */
int core_http_server_ws_route(core_http_server *s, const char *pattern, const core_ws_handlers *h,
                              const core_ws_route_opts *o, void *ud);

/* ---- On the service thread, inside handlers ---- */

/* The connection's id: unique for the server's life, never 0. */
uint64_t core_ws_conn_id(const core_ws_conn *c);
/* The connection's context (its "WS {route}" span as parent, with the upgrade request's
 * baggage); borrowed, valid until on_close returns. */
const tel_context *core_ws_conn_context(const core_ws_conn *c);
/* The connection span (for events/attributes). */
tel_span *core_ws_conn_span(core_ws_conn *c);
/* A path parameter of the upgrade request (copied at upgrade), or NULL. */
const char *core_ws_conn_param(const core_ws_conn *c, const char *name);
/* The pointer on_upgrade stored with core_http_req_set_local, and a setter. */
void *core_ws_conn_local(const core_ws_conn *c);
void core_ws_conn_set_local(core_ws_conn *c, void *p);
/* Bytes waiting in the outgoing queue. */
size_t core_ws_conn_queued(const core_ws_conn *c);

/* Queues a message (copied). Returns 0, CORE_ECLOSED when the connection is closing,
 * CORE_ENOMEM. (The high-water backpressure applies; tx_max_queued does not.) */
int core_ws_send(core_ws_conn *c, const void *data, size_t len, bool binary);
/* Closes after the queued messages went out, with code (1000..4999, not 1005/1006) and
 * reason (at most 123 bytes; longer is cut at a UTF-8 boundary). Returns 0 or CORE_EINVAL. */
int core_ws_close(core_ws_conn *c, int code, const char *reason);
/* Pauses (true) or resumes reading from the client. */
void core_ws_pause_rx(core_ws_conn *c, bool pause);

/* ---- From any thread, by id ---- */

/* Queues a message (copied) for connection `id`. Returns 0, CORE_ECLOSED (no such open
 * connection), CORE_EFULL (over tx_max_queued; nothing queued), CORE_ESHUTDOWN (server
 * stopped), CORE_ENOMEM. A message accepted here can still be dropped if the connection
 * closes before it is written. */
int core_ws_post(core_http_server *s, uint64_t id, const void *data, size_t len, bool binary);
/* Asks for a close as core_ws_close. Returns 0, CORE_ECLOSED, CORE_EINVAL, CORE_ESHUTDOWN. */
int core_ws_post_close(core_http_server *s, uint64_t id, int code, const char *reason);
/* Pauses/resumes reading as core_ws_pause_rx. Returns 0, CORE_ECLOSED, CORE_ESHUTDOWN. */
int core_ws_post_pause_rx(core_http_server *s, uint64_t id, bool pause);

#ifdef __cplusplus
}
#endif
#endif
