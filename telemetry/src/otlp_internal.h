/* Internal pieces shared by the OTLP modules: logging, the abort primitive, the retry loop and
 * the signal-independent OTLP client that span (and later metric and log) exporters wrap. */
#ifndef TELEMETRY_OTLP_INTERNAL_H
#define TELEMETRY_OTLP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "telemetry/exporter.h"
#include "telemetry/otlp.h"

/* One JSON log line on stderr: {"level":..,"component":"otlp","message":..}. The message is
 * escaped; callers never pass header values or URLs with credentials. Thread safe. */
void tel__otlp_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Decodes the message of a google.rpc.Status body (protobuf field 2, or JSON "message") that
 * OTLP servers send with failures; for log lines. out is always NUL-terminated. Returns TEL_OK
 * or TEL_EINVAL (out empty). */
int tel__otlp_decode_status_pb(const uint8_t *body, size_t len, char *out, size_t cap);
int tel__otlp_decode_status_json(const uint8_t *body, size_t len, char *out, size_t cap);

/* A one-way abort flag with an interruptible sleep. */
typedef struct tel_otlp_abort {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    atomic_bool fired;
} tel_otlp_abort;

int tel__otlp_abort_init(tel_otlp_abort *a);
void tel__otlp_abort_destroy(tel_otlp_abort *a);
/* Sets the flag and wakes sleepers. Any thread; idempotent. */
void tel__otlp_abort_fire(tel_otlp_abort *a);
static inline bool tel__otlp_aborted(tel_otlp_abort *a)
{
    return atomic_load_explicit(&a->fired, memory_order_acquire);
}
/* Sleeps until until_ns (tel_mono_ns clock) or the abort; returns true when aborted. */
bool tel__otlp_abort_sleep(tel_otlp_abort *a, uint64_t until_ns);

typedef struct tel_otlp_retry_policy {
    uint32_t initial_ms;
    uint32_t max_ms;
    uint32_t max_attempts; /* 0: bounded by the deadline only */
} tel_otlp_retry_policy;

/* Backoff before retry number `retry` (0 for the first retry): min(max, initial * 2^retry),
 * with "equal jitter" from rnd: uniformly in [base/2, base]. In nanoseconds. */
uint64_t tel__otlp_backoff_ns(const tel_otlp_retry_policy *p, unsigned retry, uint64_t rnd);

/* Sends body through t until it is accepted, fails permanently, the attempts run out, the next
 * wait (backoff or Retry-After) would pass deadline_ns, or ab fires. *last receives the last
 * attempt's result and *attempts the number of sends. Returns TEL_OK, TEL_EREJECTED,
 * TEL_ERETRYABLE, TEL_EIO, TEL_ETIMEDOUT or TEL_ESHUTDOWN. */
int tel__otlp_send_with_retry(tel_otlp_transport *t, const tel_otlp_retry_policy *p,
                              tel_otlp_abort *ab, tel_otlp_signal signal, const uint8_t *body,
                              size_t len, const char *content_type, uint64_t deadline_ns,
                              tel_otlp_result *last, unsigned *attempts);

/* The signal-independent part of an OTLP exporter: config, transport, body buffer, abort,
 * counters and rate-limited logging. */
typedef struct tel_otlp_client {
    tel_otlp_config cfg;
    tel_otlp_transport *transport;
    tel_otlp_abort abort;
    tel_buf body;
    char endpoint_log[256]; /* endpoint without credentials */
    atomic_bool shut_down;
    /* counters (tel_otlp_exporter_stats) */
    atomic_uint_fast64_t exports, items_ok, items_failed, attempts, retries, partials, rejected;
    atomic_int_fast64_t last_code;
    /* rate limit of failure lines (exporter thread only) */
    uint64_t last_failure_log_ns;
    uint64_t failures_suppressed;
    uint64_t partials_suppressed;
} tel_otlp_client;

/* Initialises c with a copy of cfg and takes ownership of transport (NULL: created from cfg;
 * on failure the transport is destroyed). Returns TEL_OK, TEL_ENOMEM or TEL_EINVAL. */
int tel__otlp_client_init(tel_otlp_client *c, const tel_otlp_config *cfg,
                          tel_otlp_transport *transport);
/* Content type of bodies for c's protocol. */
const char *tel__otlp_client_content_type(const tel_otlp_client *c);
/* Sends c->body (n_items records of `signal`, for counters and logs) with retries by
 * deadline_ns (0: now + timeout). Returns as tel__otlp_send_with_retry. */
int tel__otlp_client_send(tel_otlp_client *c, tel_otlp_signal signal, size_t n_items,
                          uint64_t deadline_ns);
/* Aborts in-flight and later sends. Any thread; idempotent. */
void tel__otlp_client_shutdown(tel_otlp_client *c);
/* Logs a summary of suppressed lines and frees everything (no send running). */
void tel__otlp_client_cleanup(tel_otlp_client *c);
void tel__otlp_client_stats(tel_otlp_client *c, tel_otlp_exporter_stats *out);

/* ---- Records of one request, for the encoders and exporters of every signal ---- */

/* One export request's records, whatever the signal (borrowed). */
typedef struct tel__otlp_batch {
    tel_otlp_signal signal;
    const tel_resource *res;
    union {
        const tel_span_data *const *spans;
        const tel_metric *metrics;
        const tel_log_record *const *logs;
    } u;
    size_t n;
} tel__otlp_batch;

/* Appends b's Export<Signal>ServiceRequest, as OTLP/JSON when json, else protobuf. Returns as
 * the tel_otlp_encode_* functions. */
int tel__otlp_encode(tel_buf *out, bool json, const tel__otlp_batch *b);
/* What an exporter counts for b: spans, metric data points, or log records. */
size_t tel__otlp_batch_items(const tel__otlp_batch *b);

/* ---- Exporters of every signal ----
 *
 * An exporter implementation handles batches of any signal through tel__exporter_ops; the public
 * interface of its signal (tel_span_exporter, tel_metric_exporter, tel_log_exporter) forwards to
 * them (tel__exporter_bind). */
typedef struct tel__exporter tel__exporter;
typedef struct tel__exporter_ops {
    int (*export)(tel__exporter *e, const tel__otlp_batch *b, uint64_t deadline_ns);
    int (*force_flush)(tel__exporter *e, int64_t timeout_ms); /* may be NULL */
    int (*shutdown)(tel__exporter *e);
    void (*destroy)(tel__exporter *e);
} tel__exporter_ops;

struct tel__exporter {
    union {
        tel_span_exporter span;
        tel_metric_exporter metric;
        tel_log_exporter log;
    } pub; /* first member: a public interface pointer converts to tel__exporter * */
    const tel__exporter_ops *ops;
    tel_otlp_signal signal;
};

/* Makes e->pub the interface of `signal`, forwarding to ops. */
void tel__exporter_bind(tel__exporter *e, tel_otlp_signal signal, const tel__exporter_ops *ops);
/* The exporter behind a public interface when it was bound with ops, else NULL. */
tel__exporter *tel__exporter_from_span(tel_span_exporter *x, const tel__exporter_ops *ops);
tel__exporter *tel__exporter_from_metric(tel_metric_exporter *x, const tel__exporter_ops *ops);
tel__exporter *tel__exporter_from_log(tel_log_exporter *x, const tel__exporter_ops *ops);

/* The exporters of exporter_otlp.c, exporter_file.c and exporter_console.c for any signal
 * (the public per-signal constructors wrap them). NULL on failure. */
tel__exporter *tel__otlp_exporter_create(tel_otlp_signal signal, const tel_otlp_config *cfg,
                                         tel_otlp_transport *transport);
tel__exporter *tel__file_exporter_create(tel_otlp_signal signal, const char *path);
tel__exporter *tel__console_exporter_create(tel_otlp_signal signal, FILE *out);
/* An exporter handing each batch to every one of members[0..n) (exporters of `signal`, owned
 * from here on, also on failure), in order: the first failure is its result. n == 1 gives
 * members[0] itself; NULL when n == 0 or out of memory. */
tel__exporter *tel__fanout_exporter_create(tel_otlp_signal signal, tel__exporter *const *members,
                                           size_t n);

/* Scope of record i of a record array, and whether records i and j share a scope (the encoders
 * group records by scope): spans by scope pointer, metrics and log records by name and version
 * text. `items` is the array of the signal (tel__otlp_batch.u). */
static inline tel_scope tel__span_scope_at(const void *items, size_t i)
{
    const tel_scope *sc = ((const tel_span_data *const *)items)[i]->scope;
    tel_scope none = {NULL, NULL, NULL};
    return sc ? *sc : none;
}
static inline bool tel__span_same_scope(const void *items, size_t i, size_t j)
{
    const tel_span_data *const *spans = items;
    return spans[i]->scope == spans[j]->scope;
}
static inline bool tel__str_same(const char *a, const char *b)
{
    return a == b || __builtin_strcmp(a ? a : "", b ? b : "") == 0;
}
static inline tel_scope tel__metric_scope_at(const void *items, size_t i)
{
    const tel_metric *m = &((const tel_metric *)items)[i];
    return (tel_scope){m->scope_name, m->scope_version, NULL};
}
static inline bool tel__metric_same_scope(const void *items, size_t i, size_t j)
{
    const tel_metric *m = items;
    return tel__str_same(m[i].scope_name, m[j].scope_name) &&
           tel__str_same(m[i].scope_version, m[j].scope_version);
}
static inline tel_scope tel__log_scope_at(const void *items, size_t i)
{
    const tel_log_record *r = ((const tel_log_record *const *)items)[i];
    return (tel_scope){r->scope_name, r->scope_version, NULL};
}
static inline bool tel__log_same_scope(const void *items, size_t i, size_t j)
{
    const tel_log_record *const *r = items;
    return tel__str_same(r[i]->scope_name, r[j]->scope_name) &&
           tel__str_same(r[i]->scope_version, r[j]->scope_version);
}

#endif
