/* gRPC client on the gRPC C core with protobuf-c messages: channels with keepalive, unary and
 * bidirectional-streaming calls with deadlines, trace context injected into the metadata.
 *
 * Tracing (the interceptor-equivalent): every call starts a CLIENT span
 * "{package.Service}/{Method}" child of the caller's context, with rpc.system=grpc,
 * rpc.service, rpc.method, rpc.grpc.status_code, server.address, server.port and
 * network.peer.address/port (when the core reports the peer); the span context, tracestate and
 * baggage are injected into the request metadata with the configured propagator. Any non-OK
 * status makes the span an ERROR (semantic conventions, client side). Streams get one "message"
 * event per message (message.type SENT/RECEIVED, message.id, message.uncompressed_size). The
 * histogram rpc.client.duration (milliseconds) is recorded per call when a meter provider is
 * configured.
 *
 * Calls block the calling thread (each on its own completion queue); a channel is shared by any
 * number of threads. While no call runs, a background thread per channel keeps polling it so
 * keepalive pings are answered and a dead peer is noticed.
 *
 * Errors: 0 or a negative CORE_E* code (core/error.h); a call's gRPC status is reported in
 * core_grpc_status and mapped to a code by core_grpc_status_to_error. */
#ifndef CORE_GRPC_CLIENT_H
#define CORE_GRPC_CLIENT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "telemetry/context.h"
#include "telemetry/metrics.h"
#include "telemetry/propagation.h"
#include "telemetry/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct core_grpc_channel core_grpc_channel;

typedef struct core_grpc_channel_config {
    const char *target;    /* "host:port" (also "dns:///host:port", "[v6]:port"); required */
    bool tls;              /* false: plaintext HTTP/2 */
    const char *ca_file;   /* TLS: PEM roots; NULL: the system's */
    const char *cert_file; /* TLS client certificate (PEM) with key_file, or NULL */
    const char *key_file;
    int keepalive_time_ms;      /* ping after this much idle time; 0: 30000; < 0: no keepalive */
    int keepalive_timeout_ms;   /* close when the ping is not acknowledged in time; 0: 10000 */
    int max_recv_message;       /* bytes; 0: 4 MiB; < 0: unlimited */
    bool gzip;                  /* compress request messages with gzip */
    const char *user_agent;     /* prepended to the gRPC user agent; NULL: "bmcfleet/<version>" */
    tel_tracer *tracer;         /* NULL: tel_global_tracer("bmcfleet.core.grpc") */
    tel_meter_provider *meters; /* NULL: tel_global_meter_provider() (none: no metric) */
    const tel_propagator *propagator; /* NULL: tel_propagator_global() */
} core_grpc_channel_config;

/* Creates a channel (connection is lazy: the first call connects). cfg is copied. Calls
 * grpc_init. NULL on failure (reported on stderr, never with secrets). Thread safe to use;
 * the caller owns it: core_grpc_channel_destroy. */
core_grpc_channel *core_grpc_channel_create(const core_grpc_channel_config *cfg);

/* Frees the channel. No call on it may still run. NULL allowed. Calls grpc_shutdown. */
void core_grpc_channel_destroy(core_grpc_channel *ch);

/* The channel's connectivity state (GRPC_CHANNEL_IDLE, READY, ...); try_to_connect starts
 * connecting an idle channel. Thread safe. */
grpc_connectivity_state core_grpc_channel_state(core_grpc_channel *ch, bool try_to_connect);

/* A call's outcome. message is NUL-terminated (truncated); details holds the binary
 * grpc-status-details-bin trailer (a google.rpc.Status) when the server sent one. */
typedef struct core_grpc_status {
    int code; /* grpc_status_code */
    char message[256];
    uint8_t details[1024];
    size_t details_len;
    bool details_truncated;
} core_grpc_status;

/* Maps a gRPC status code to a CORE_E* code: OK 0, CANCELLED CORE_ECANCELLED,
 * DEADLINE_EXCEEDED CORE_ETIMEDOUT, INVALID_ARGUMENT / OUT_OF_RANGE / FAILED_PRECONDITION
 * CORE_EINVAL, NOT_FOUND CORE_ENOTFOUND, ALREADY_EXISTS CORE_EEXIST, PERMISSION_DENIED
 * CORE_EPERM, UNAUTHENTICATED CORE_EUNAUTHENTICATED, RESOURCE_EXHAUSTED CORE_EBUSY,
 * UNAVAILABLE CORE_EUNAVAILABLE, ABORTED CORE_EAGAIN, UNIMPLEMENTED CORE_EREJECTED, anything
 * else (UNKNOWN, INTERNAL, DATA_LOSS) CORE_EIO. */
int core_grpc_status_to_error(int code);

/* Name of a gRPC status code ("OK", "CANCELLED", ...; "UNKNOWN" for anything else). Also
 * declared in grpc_server.h. */
const char *core_grpc_status_name(int code);

/* Cancels calls from another thread (e.g. on shutdown). Initialise before use; pass it in
 * core_grpc_call_opts. cancel makes the running call (if any) end with CANCELLED at once and
 * every later call using this canceller fail with CORE_ECANCELLED until reset. Thread safe. */
typedef struct core_grpc_canceller {
    pthread_mutex_t mu;
    grpc_call *call; /* the running call, or NULL */
    bool cancelled;
} core_grpc_canceller;
void core_grpc_canceller_init(core_grpc_canceller *c);
void core_grpc_canceller_cancel(core_grpc_canceller *c);
void core_grpc_canceller_reset(core_grpc_canceller *c);
void core_grpc_canceller_cleanup(core_grpc_canceller *c);

/* Per-call options (zero-initialise). */
typedef struct core_grpc_call_opts {
    int64_t timeout_ms;            /* deadline from now; 0: none */
    const grpc_metadata *metadata; /* extra request metadata (keys lowercase; copied) */
    size_t n_metadata;
    core_grpc_canceller *canceller; /* optional */
    bool untraced;                  /* no span, no context injection, no metric (for exporters) */
} core_grpc_call_opts;

/* Unary call of `method` ("/package.Service/Method") with `req`. On CORE_OK, *resp is the
 * decoded response of type resp_desc (free with protobuf_c_message_free_unpacked(*resp,
 * NULL)). Otherwise *resp is NULL and the return value is core_grpc_status_to_error(code),
 * or CORE_EPROTO when the response could not be decoded (status INTERNAL), CORE_ECANCELLED
 * when the canceller was cancelled, CORE_EINVAL for bad arguments (invalid metadata). st (may
 * be NULL) receives the status. ctx may be NULL (a new trace); opts may be NULL. Thread safe. */
int core_grpc_unary(core_grpc_channel *ch, const tel_context *ctx, const char *method,
                    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                    ProtobufCMessage **resp, const core_grpc_call_opts *opts, core_grpc_status *st);

/* Unary call with raw message bytes: sends req[0..len) and returns the response bytes in
 * *resp (malloc'd, the caller frees; may be NULL for an empty message) and *resp_len. Same
 * returns as core_grpc_unary. */
int core_grpc_unary_bytes(core_grpc_channel *ch, const tel_context *ctx, const char *method,
                          const void *req, size_t len, uint8_t **resp, size_t *resp_len,
                          const core_grpc_call_opts *opts, core_grpc_status *st);

/* ---- Bidirectional streams ---- */

typedef struct core_grpc_stream core_grpc_stream;

/* Opens a stream call; its span starts now. opts->timeout_ms is the deadline of the whole
 * stream. Returns CORE_OK with *out set (the caller owns it: core_grpc_stream_destroy), or a
 * negative code (*out NULL). */
int core_grpc_stream_open(core_grpc_channel *ch, const tel_context *ctx, const char *method,
                          const ProtobufCMessageDescriptor *resp_desc,
                          const core_grpc_call_opts *opts, core_grpc_stream **out);

/* Sends one message and waits until the transport took it (flow control). Returns CORE_OK,
 * CORE_ECLOSED (the call is over: read the status with core_grpc_stream_finish) or
 * CORE_ESTATE (after close_send). One thread may send while another receives. */
int core_grpc_stream_send(core_grpc_stream *st, const ProtobufCMessage *msg);

/* Receives the next message into *msg (free with protobuf_c_message_free_unpacked). Waits at
 * most timeout_ms (< 0: until the call ends). Returns CORE_OK, CORE_ETIMEDOUT (nothing yet:
 * call again), CORE_ECLOSED (end of stream or call over: finish for the status) or CORE_EPROTO
 * (an undecodable message: the call is cancelled). */
int core_grpc_stream_recv(core_grpc_stream *st, ProtobufCMessage **msg, int64_t timeout_ms);

/* Half-closes: the server sees the end of the client's messages. Returns CORE_OK,
 * CORE_ECLOSED or CORE_ESTATE (twice). */
int core_grpc_stream_close_send(core_grpc_stream *st);

/* Waits for the status (bounded by the stream's deadline: with none, until the server ends the
 * call), ends the span, fills st_out (may be NULL) and returns core_grpc_status_to_error(code).
 * Call after reading to CORE_ECLOSED, or after core_grpc_stream_cancel. Idempotent. */
int core_grpc_stream_finish(core_grpc_stream *st, core_grpc_status *st_out);

/* Cancels the call (status CANCELLED). Any thread. */
void core_grpc_stream_cancel(core_grpc_stream *st);

/* Cancels if unfinished, waits for outstanding operations and frees. NULL allowed. */
void core_grpc_stream_destroy(core_grpc_stream *st);

#ifdef __cplusplus
}
#endif
#endif
