/* A small gRPC server runtime on the gRPC C core with protobuf-c messages.
 *
 * Methods are registered by full name ("/package.Service/Method") before the server starts,
 * as unary or bidirectional-streaming handlers. Completion-queue worker threads (one queue
 * each) receive calls; every call stays on the worker that accepted it, and its callbacks run
 * there. A handler may complete its call later from any thread (asynchronously).
 *
 * Tracing (the interceptor-equivalent): for each call the runtime extracts trace context and
 * baggage from the request metadata with the configured propagator, starts a SERVER span
 * "{package.Service}/{Method}" (rpc.system=grpc, rpc.service, rpc.method,
 * rpc.grpc.status_code, server.address, server.port, network.peer.address,
 * network.peer.port), makes it the thread's current span while a callback runs, and ends it
 * when the call is over. Streams get one "message" event per message (message.type SENT or
 * RECEIVED, message.id from 1 per direction, message.uncompressed_size). Per the semantic
 * conventions a server span is an ERROR for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
 * INTERNAL, UNAVAILABLE and DATA_LOSS. The histogram rpc.server.duration (milliseconds) is
 * recorded per call when a meter provider is configured.
 *
 * Bad input never reaches handlers: an unknown method gets UNIMPLEMENTED (span "_OTHER",
 * rpc.method "_OTHER": the raw name is never recorded), a payload that is not a valid request
 * message INVALID_ARGUMENT, a message over max_recv_message RESOURCE_EXHAUSTED (sent by the gRPC
 * core itself, which reports the call to the server as cancelled: its span says CANCELLED), and
 * the server keeps serving.
 *
 * Errors: 0 or a negative CORE_E* code (core/error.h). */
#ifndef CORE_GRPC_SERVER_H
#define CORE_GRPC_SERVER_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "telemetry/context.h"
#include "telemetry/metrics.h"
#include "telemetry/propagation.h"
#include "telemetry/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct core_grpc_server core_grpc_server;
/* One server-side call, from acceptance until it is over and its handler has completed it. */
typedef struct core_grpc_call core_grpc_call;

typedef struct core_grpc_server_config {
    const char *address;        /* "host:port" to listen on; port 0 picks a free one.
                                   NULL: "127.0.0.1:0" */
    int threads;                /* completion-queue worker threads; 0: 2 */
    int max_recv_message;       /* bytes; 0: 4 MiB */
    int max_concurrent_streams; /* per connection; 0: the gRPC default */
    uint32_t shutdown_grace_ms; /* core_grpc_server_stop: time for calls to end; 0: 2000 */
    /* Keepalive enforcement: the shortest ping interval clients may use without data (must be
     * <= the clients' keepalive time); 0: 10000. Ping strikes are never counted against a
     * client. */
    int keepalive_min_ping_ms;
    size_t max_queued_writes;         /* per streaming call before core_grpc_call_send says
                                         CORE_EAGAIN; 0: 64 */
    tel_tracer *tracer;               /* NULL: tel_global_tracer("bmcfleet.core.grpc") */
    tel_meter_provider *meters;       /* NULL: tel_global_meter_provider() (none: no histogram) */
    const tel_propagator *propagator; /* NULL: tel_propagator_global() */
} core_grpc_server_config;

typedef enum core_grpc_method_kind {
    CORE_GRPC_UNARY = 1,
    CORE_GRPC_BIDI_STREAM = 2,
} core_grpc_method_kind;

/* Unary handler: `req` is the decoded request, valid until the call is completed. `ctx` is the
 * call's context (its span is the server span; tracestate and baggage as received), valid
 * until the call is completed; pass it to traced work. The handler must complete the call
 * exactly once, now or later from any thread, with core_grpc_call_reply or
 * core_grpc_call_finish. */
typedef void (*core_grpc_unary_fn)(core_grpc_call *call, const tel_context *ctx,
                                   const ProtobufCMessage *req, void *ud);

/* Streaming callbacks, run on the call's worker thread, never concurrently for one call.
 * on_open: the call arrived (optional).
 * on_message: one request message, valid only during the callback (required). The next
 *   message is read when it returns (unless the call was finished).
 * on_half_close: the client will send no more messages (required); the handler finishes the
 *   call when it is done sending.
 * on_writable: the write queue drained after core_grpc_call_send returned CORE_EAGAIN
 *   (optional).
 * The handler calls core_grpc_call_finish exactly once per call. When the call ends on the gRPC
 * side first (cancel, deadline, disconnect, a request that is not a valid message): with an
 * on_cancel callback the handler is told and still finishes (its status is dropped); without
 * one the runtime completes the call for the handler, which must then only have used the call
 * inside its callbacks. */
typedef struct core_grpc_stream_fns {
    void (*on_open)(core_grpc_call *call, const tel_context *ctx, void *ud);
    void (*on_message)(core_grpc_call *call, const tel_context *ctx, const ProtobufCMessage *msg,
                       void *ud);
    void (*on_half_close)(core_grpc_call *call, const tel_context *ctx, void *ud);
    void (*on_writable)(core_grpc_call *call, const tel_context *ctx, void *ud);
} core_grpc_stream_fns;

typedef struct core_grpc_method {
    const char *name; /* "/package.Service/Method" (copied) */
    core_grpc_method_kind kind;
    const ProtobufCMessageDescriptor *request;  /* request message type */
    const ProtobufCMessageDescriptor *response; /* checked in reply/send */
    core_grpc_unary_fn unary;                   /* CORE_GRPC_UNARY */
    core_grpc_stream_fns stream;                /* CORE_GRPC_BIDI_STREAM */
    /* The call ended without the handler's status (client cancel, deadline, disconnect, server
     * stop, a bad stream message), on the worker thread; optional. Work for the call may stop;
     * the handler still completes the call (its status is then dropped). A unary handler must
     * complete every call in any case. */
    void (*on_cancel)(core_grpc_call *call, void *ud);
    void *ud;
} core_grpc_method;

/* Creates a server (not yet listening). cfg may be NULL (defaults). Calls grpc_init. NULL on
 * failure (reported on stderr). The caller owns it: core_grpc_server_destroy. */
core_grpc_server *core_grpc_server_create(const core_grpc_server_config *cfg);

/* Registers a method (before core_grpc_server_start). Returns CORE_OK, CORE_EINVAL (bad name
 * or missing handler/descriptor), CORE_EEXIST (name already registered), CORE_ESTATE (already
 * started) or CORE_ENOMEM. */
int core_grpc_server_register(core_grpc_server *s, const core_grpc_method *m);

/* Binds the address, starts the workers and begins accepting calls. Returns CORE_OK,
 * CORE_EIO (the address could not be bound), CORE_ESTATE or CORE_ENOMEM. */
int core_grpc_server_start(core_grpc_server *s);

/* The bound port (after a successful start), else 0. */
int core_grpc_server_port(const core_grpc_server *s);

/* Graceful shutdown: stops accepting calls, lets running calls end within the grace period,
 * then cancels the rest and waits (bounded) for their handlers to complete them; joins the
 * workers. Idempotent; must not be called from a handler. Returns CORE_OK, or CORE_ETIMEDOUT
 * when some handler never completed its call (that call's memory is then leaked rather than
 * freed under the handler). */
int core_grpc_server_stop(core_grpc_server *s);

/* Stops (if needed) and frees the server. NULL allowed. Calls grpc_shutdown. */
void core_grpc_server_destroy(core_grpc_server *s);

/* ---- Calls (any thread, unless stated) ---- */

/* Unary: sends `resp` (of the method's response type) with status OK and completes the call.
 * Returns CORE_OK, CORE_EINVAL (wrong message type: the call is then finished with INTERNAL),
 * CORE_ESTATE (already completed) or CORE_ECANCELLED (the call ended before; it is completed
 * anyway). After this the call must not be used. */
int core_grpc_call_reply(core_grpc_call *call, const ProtobufCMessage *resp);

/* Sends status `code` (grpc_status_code) with `message` (may be NULL; copied) after any
 * queued messages and completes the call. Must be called once per call (not after reply);
 * afterwards the call must not be used. Returns CORE_OK, CORE_ESTATE or CORE_ECANCELLED (the
 * call had already ended; completed anyway). */
int core_grpc_call_finish(core_grpc_call *call, grpc_status_code code, const char *message);

/* Streaming: queues one response message (packed now; msg is not kept). Returns CORE_OK,
 * CORE_EAGAIN (max_queued_writes reached: wait for on_writable), CORE_EINVAL (wrong type),
 * CORE_ECANCELLED (the call is over), CORE_ESTATE (already finished) or CORE_ENOMEM. */
int core_grpc_call_send(core_grpc_call *call, const ProtobufCMessage *msg);

/* Milliseconds left before the client's deadline (INT64_MAX when it set none; <= 0 when it
 * passed). */
int64_t core_grpc_call_deadline_left_ms(const core_grpc_call *call);
/* True once the call ended on the gRPC side (cancelled, deadline, disconnect, or finished). */
bool core_grpc_call_is_cancelled(const core_grpc_call *call);
/* A request metadata value (case-insensitive key; binary for -bin keys), borrowed until the
 * call is completed; NULL when absent. */
const char *core_grpc_call_metadata(const core_grpc_call *call, const char *key, size_t *len);
/* The call's full method name ("/package.Service/Method"). */
const char *core_grpc_call_method(const core_grpc_call *call);
/* The context handed to the handler (borrowed, valid until the call is completed). */
const tel_context *core_grpc_call_context(const core_grpc_call *call);
/* Per-call handler state (a stream's session, say): set and read by the handler; the runtime
 * never touches it (free it before completing the call). NULL until set. */
void core_grpc_call_set_user(core_grpc_call *call, void *user);
void *core_grpc_call_user(const core_grpc_call *call);

/* Counters (lock-free reads; for tests and health). */
typedef struct core_grpc_server_stats {
    uint64_t calls_started;
    uint64_t calls_completed;
    uint64_t unimplemented;
    uint64_t invalid_messages;
    int64_t active;
} core_grpc_server_stats;
void core_grpc_server_get_stats(const core_grpc_server *s, core_grpc_server_stats *out);

/* Name of a gRPC status code ("OK", "CANCELLED", ...; "UNKNOWN" for anything else). */
const char *core_grpc_status_name(int code);

#ifdef __cplusplus
}
#endif
#endif
