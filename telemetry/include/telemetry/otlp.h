/* OTLP: configuration from OTEL_EXPORTER_OTLP_*, encoders (protobuf and JSON), response
 * decoding, and the pluggable transport the OTLP exporters send through (HTTP via libcurl here;
 * gRPC plugs in from core/ through tel_otlp_set_grpc_transport_factory).
 *
 * Layering: an encoder turns records of one signal into an Export<Signal>ServiceRequest body;
 * a transport delivers one body and classifies the peer's answer (tel_otlp_result); the exporter
 * (exporter.h) owns the retry loop, the abort on shutdown and the logging. Metrics and logs reuse
 * every layer: only their encoders are signal specific. */
#ifndef TELEMETRY_OTLP_H
#define TELEMETRY_OTLP_H

#include "common.h"
#include "log_data.h"
#include "metric_data.h"
#include "resource.h"
#include "span_data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tel_otlp_protocol {
    TEL_OTLP_HTTP_PROTOBUF = 0,
    TEL_OTLP_HTTP_JSON,
    TEL_OTLP_GRPC,
} tel_otlp_protocol;

typedef enum tel_otlp_signal {
    TEL_OTLP_TRACES = 0,
    TEL_OTLP_METRICS,
    TEL_OTLP_LOGS,
} tel_otlp_signal;

/* "traces", "metrics" or "logs" (static strings). */
const char *tel_otlp_signal_name(tel_otlp_signal signal);
/* "http/protobuf", "http/json" or "grpc" (static strings). */
const char *tel_otlp_protocol_name(tel_otlp_protocol protocol);

/* ---- Byte buffer ---- */

/* A growable byte buffer: data[0..len) is content, cap the allocated size. Zero-initialise (or
 * TEL_BUF_INIT) before use; tel_buf_free releases it. Not thread safe. */
typedef struct tel_buf {
    uint8_t *data;
    size_t len, cap;
} tel_buf;

#define TEL_BUF_INIT ((tel_buf){NULL, 0, 0})

/* Makes room for at least `extra` more bytes after len (capacity grows geometrically).
 * Returns TEL_OK, TEL_ENOMEM (the buffer is unchanged) or TEL_ETOOBIG on size overflow. */
int tel_buf_reserve(tel_buf *b, size_t extra);
/* Appends n bytes. Returns TEL_OK or TEL_ENOMEM. */
int tel_buf_append(tel_buf *b, const void *p, size_t n);
/* Empties the buffer, keeping its memory unless cap exceeds keep_max (then it is freed), so a
 * reused buffer stays bounded after an unusually large message. */
void tel_buf_reset(tel_buf *b, size_t keep_max);
/* Releases the memory; the buffer is empty and reusable afterwards. */
void tel_buf_free(tel_buf *b);

/* ---- Encoders ---- */

/* Encodes an ExportTraceServiceRequest as protobuf, appending to out: one ResourceSpans for
 * `res` (may be NULL: empty resource), one ScopeSpans per distinct scope pointer in first-seen
 * order, spans in input order within a scope. Span.flags (field 16) carries the W3C trace flags
 * in bits 0-7 plus bit 8 (has_is_remote) and bit 9 (parent is remote); Link.flags likewise.
 * Records are borrowed. Never allocates except to grow out. Returns TEL_OK or TEL_ENOMEM (out
 * is then restored to its previous length). Thread safe for distinct buffers. */
int tel_otlp_encode_traces_pb(tel_buf *out, const tel_resource *res,
                              const tel_span_data *const *spans, size_t n);

/* The same request as OTLP/JSON (lowercase hex ids, lowerCamelCase keys, 64-bit integers as
 * decimal strings, enums as integers, non-finite doubles as "NaN"/"Infinity"/"-Infinity",
 * invalid UTF-8 replaced by U+FFFD), appended as one line without a trailing newline.
 * Returns TEL_OK or TEL_ENOMEM (out restored). Thread safe for distinct buffers. */
int tel_otlp_encode_traces_json(tel_buf *out, const tel_resource *res,
                                const tel_span_data *const *spans, size_t n);

/* Encodes an ExportMetricsServiceRequest as protobuf, appending to out: one ResourceMetrics for
 * `res` (may be NULL), one ScopeMetrics per distinct (scope_name, scope_version) in first-seen
 * order, metrics in input order within a scope. SUM gives a Sum (aggregation_temporality,
 * is_monotonic), GAUGE a Gauge, HISTOGRAM a Histogram whose points carry count, sum, packed
 * bucket_counts (n_bounds + 1) and explicit_bounds, min and max (when has_min_max); points of
 * every type carry attributes, start time (when non-zero), time, and exemplars (time, value,
 * trace_id/span_id when has_span, filtered attributes). Integer values are as_int, others
 * as_double. Everything is borrowed. Returns TEL_OK, TEL_EINVAL or TEL_ENOMEM (out restored).
 * Thread safe for distinct buffers. */
int tel_otlp_encode_metrics_pb(tel_buf *out, const tel_resource *res, const tel_metric *metrics,
                               size_t n);
/* The same request as OTLP/JSON, with the conventions of tel_otlp_encode_traces_json. */
int tel_otlp_encode_metrics_json(tel_buf *out, const tel_resource *res, const tel_metric *metrics,
                                 size_t n);

/* Encodes an ExportLogsServiceRequest as protobuf, appending to out: one ResourceLogs for `res`
 * (may be NULL), one ScopeLogs per distinct (scope_name, scope_version) in first-seen order,
 * records in input order. Each LogRecord carries time and observed time (when non-zero),
 * severity number and text, the body as a string AnyValue (when body is not NULL), attributes,
 * dropped_attributes_count, and, when has_span, trace_id, span_id and flags (the W3C trace
 * flags). Records are borrowed. Returns TEL_OK, TEL_EINVAL or TEL_ENOMEM (out restored). Thread
 * safe for distinct buffers. */
int tel_otlp_encode_logs_pb(tel_buf *out, const tel_resource *res,
                            const tel_log_record *const *recs, size_t n);
/* The same request as OTLP/JSON, with the conventions of tel_otlp_encode_traces_json. */
int tel_otlp_encode_logs_json(tel_buf *out, const tel_resource *res,
                              const tel_log_record *const *recs, size_t n);

/* ---- Responses ---- */

/* The partial_success of an Export<Signal>ServiceResponse (any signal: field 1 is the rejected
 * count, field 2 the message). */
typedef struct tel_otlp_partial {
    bool present;      /* the response carried a partial_success message */
    int64_t rejected;  /* rejected_spans / rejected_data_points / rejected_log_records */
    char message[256]; /* error_message, truncated at a UTF-8 boundary, NUL-terminated */
} tel_otlp_partial;

/* Decodes a protobuf Export<Signal>ServiceResponse body (unknown fields skipped). Fills *out
 * (present=false when there is no partial_success). Returns TEL_OK or TEL_EINVAL on malformed
 * protobuf. Never reads outside body[0..len). Thread safe. */
int tel_otlp_decode_response_pb(const uint8_t *body, size_t len, tel_otlp_partial *out);
/* Same for an OTLP/JSON response body (rejectedSpans, rejectedDataPoints or rejectedLogRecords
 * as a string or a number; errorMessage). An empty body is a success without partial_success.
 * Returns TEL_OK or TEL_EINVAL on malformed JSON. Thread safe. */
int tel_otlp_decode_response_json(const uint8_t *body, size_t len, tel_otlp_partial *out);

/* ---- Configuration ---- */

typedef struct tel_otlp_header {
    char *name;  /* owned */
    char *value; /* owned; a secret as far as logging goes: never printed */
} tel_otlp_header;

#define TEL_OTLP_MAX_HEADERS 32

/* OTLP exporter configuration for one signal. Strings are owned by the config: initialise with
 * tel_otlp_config_init or tel_otlp_config_from_env, release with tel_otlp_config_cleanup, copy
 * with tel_otlp_config_copy. */
typedef struct tel_otlp_config {
    tel_otlp_signal signal;
    tel_otlp_protocol protocol; /* OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, default http/protobuf */
    /* HTTP: the full URL posted to (a generic endpoint gets v1/<signal> appended; a per-signal
     * one is used as is). gRPC: the endpoint as configured (see tel_otlp_grpc_target). */
    char *endpoint;
    tel_otlp_header headers[TEL_OTLP_MAX_HEADERS]; /* [0..n_headers) */
    size_t n_headers;
    uint32_t timeout_ms;      /* per request; OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT, default 10000 */
    bool gzip;                /* OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION=gzip */
    bool insecure;            /* gRPC only: plaintext for an endpoint without scheme */
    char *certificate;        /* CA bundle (PEM file) for the server certificate, or NULL */
    char *client_key;         /* PEM file for mTLS, or NULL */
    char *client_certificate; /* PEM file for mTLS, or NULL */
    /* Retry policy (not from the environment): exponential backoff with jitter starting at
     * retry_initial_ms, doubling up to retry_max_ms, at most retry_max_attempts attempts in all
     * (0: as many as the export deadline allows). Defaults 1000, 5000, 0. */
    uint32_t retry_initial_ms;
    uint32_t retry_max_ms;
    uint32_t retry_max_attempts;
} tel_otlp_config;

/* Sets the specification defaults for `signal` without reading the environment (endpoint
 * http://localhost:4318/v1/<signal>). Returns TEL_OK or TEL_ENOMEM. */
int tel_otlp_config_init(tel_otlp_config *cfg, tel_otlp_signal signal);

/* Fills cfg from OTEL_EXPORTER_OTLP_* and OTEL_EXPORTER_OTLP_<SIGNAL>_* (the per-signal variable
 * wins) for signal "traces", "metrics" or "logs". Invalid values warn once on stderr (naming the
 * variable, never printing a header value) and keep the default; a malformed HEADERS variable
 * is ignored as a whole. cfg need not be initialised and must be released with
 * tel_otlp_config_cleanup. Returns TEL_OK, TEL_EINVAL for an unknown signal (cfg untouched) or
 * TEL_ENOMEM. Thread safe as long as nobody modifies the environment concurrently. */
int tel_otlp_config_from_env(tel_otlp_config *cfg, const char *signal);

/* Replaces the endpoint (copied; used as given). Returns TEL_OK, TEL_EINVAL or TEL_ENOMEM. */
int tel_otlp_config_set_endpoint(tel_otlp_config *cfg, const char *endpoint);
/* Adds or replaces (case-insensitive name) a header, both copied. Rejects names that are not
 * HTTP tokens and values containing CR, LF or NUL. Returns TEL_OK, TEL_EINVAL, TEL_EFULL past
 * TEL_OTLP_MAX_HEADERS, or TEL_ENOMEM. */
int tel_otlp_config_set_header(tel_otlp_config *cfg, const char *name, const char *value);
/* Deep copy into dst (uninitialised storage). Returns TEL_OK or TEL_ENOMEM (dst then empty). */
int tel_otlp_config_copy(tel_otlp_config *dst, const tel_otlp_config *src);
/* Frees the config's strings; the config must be initialised again before reuse. */
void tel_otlp_config_cleanup(tel_otlp_config *cfg);

/* The gRPC target ("host:port") for cfg's endpoint and whether to use plaintext: "http://" means
 * plaintext, "https://" TLS, no scheme plaintext only when cfg->insecure. Returns TEL_OK,
 * TEL_EINVAL (unparsable endpoint) or TEL_ETOOBIG. */
int tel_otlp_grpc_target(const tel_otlp_config *cfg, char *target, size_t cap, bool *plaintext);

/* Writes the endpoint without credentials, query or fragment ("scheme://host:port/path") for
 * log lines. Always NUL-terminates (truncates). */
void tel_otlp_endpoint_for_log(const char *endpoint, char *out, size_t cap);

/* ---- Transport ---- */

typedef enum tel_otlp_send_status {
    TEL_OTLP_SEND_OK = 0,    /* accepted, possibly partially (see partial) */
    TEL_OTLP_SEND_RETRYABLE, /* transient failure: the same body may be sent again */
    TEL_OTLP_SEND_PERMANENT, /* never retry this body (HTTP 400 and other 4xx, bad config) */
} tel_otlp_send_status;

/* What one send attempt came back with. */
typedef struct tel_otlp_result {
    tel_otlp_send_status status;
    int err;                /* TEL_OK, or the failure: TEL_EIO (no connection / reset),
                               TEL_ETIMEDOUT (no answer in time), TEL_ERETRYABLE (retryable
                               status), TEL_EREJECTED (permanent), TEL_ESHUTDOWN (aborted) */
    int code;               /* HTTP status or gRPC status code; 0 when there was no answer */
    int64_t retry_after_ms; /* >= 0 when the peer said when to retry (Retry-After, RetryInfo) */
    tel_otlp_partial partial;
    char message[256]; /* failure detail for logs; never contains header values */
} tel_otlp_result;

/* A transport delivers one encoded body per call. Implementations embed it as first member.
 * send: posts body[0..len) for `signal` with the given content type ("application/x-protobuf"
 *   or "application/json"), giving up by deadline_ns (tel_mono_ns clock), and fills *res.
 *   Returns TEL_OK when *res describes the outcome (whatever it is) or TEL_ESHUTDOWN after abort
 *   (res->err is TEL_ESHUTDOWN too). Called by one thread at a time; body is borrowed.
 * abort: makes an in-flight send return promptly and every later send fail with TEL_ESHUTDOWN.
 *   May be called from any thread, also while send runs; idempotent.
 * destroy: frees the transport; no send may be running. */
typedef struct tel_otlp_transport tel_otlp_transport;
struct tel_otlp_transport {
    int (*send)(tel_otlp_transport *self, tel_otlp_signal signal, const uint8_t *body, size_t len,
                const char *content_type, uint64_t deadline_ns, tel_otlp_result *res);
    void (*abort)(tel_otlp_transport *self);
    void (*destroy)(tel_otlp_transport *self);
};

/* The libcurl OTLP/HTTP transport posting to cfg->endpoint (cfg is copied): one reused
 * connection, gzip when cfg->gzip, the configured headers, TLS files, per-request timeout
 * min(cfg->timeout_ms, deadline). 2xx is OK (partial_success decoded from the body), 429, 502,
 * 503 and 504 are retryable (Retry-After in seconds or as an HTTP date honoured), connection
 * failures and timeouts are retryable, every other status is permanent. Redirects are not
 * followed. Returns NULL on failure (reported on stderr). */
tel_otlp_transport *tel_otlp_http_transport_create(const tel_otlp_config *cfg);

/* Creates a transport for a gRPC config (provided by core/, which links gRPC). */
typedef tel_otlp_transport *(*tel_otlp_transport_factory)(const tel_otlp_config *cfg);
/* Registers the factory used for protocol grpc (NULL unregisters). Call before creating
 * exporters (e.g. before tel_init). Thread safe. */
void tel_otlp_set_grpc_transport_factory(tel_otlp_transport_factory factory);
/* The transport for cfg->protocol: HTTP for the http/... protocols, the registered gRPC factory
 * for grpc. Returns NULL when no gRPC transport is registered or on failure (reported). */
tel_otlp_transport *tel_otlp_transport_create(const tel_otlp_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
