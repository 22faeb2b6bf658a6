/* Metrics API: meter provider, meters, instruments, recording, periodic reader, Prometheus text.
 *
 * Recording is thread safe and lock-free, and allocates nothing once an attribute set has been
 * seen by the instrument. Temporality is cumulative. Each instrument keeps at most
 * cardinality_limit attribute sets (default 2000); measurements for further sets go to the
 * overflow set {otel.metric.overflow=true}. Attribute values that the secrets policy denies
 * (redact.h) are stored as "[REDACTED]". Instrument names follow the API spec's syntax
 * (ASCII letter first, then letters, digits, '_', '.', '-', '/'; at most 255); an invalid name
 * gives a no-op instrument and a warning.
 *
 * Attribute keys passed to recording calls must be string literals, or strings that stay
 * unchanged at the same address for the provider's lifetime (the convention of span attribute
 * keys): a set is recognised by key address first and by key text otherwise. Values (strings
 * included) may be temporaries; they are copied when a set is first seen. The order of the
 * attributes does not matter ({a,b} and {b,a} are one set); a repeated key keeps its last value;
 * attributes with a NULL or empty key are dropped; at most 128 attributes per set are kept.
 * Add secrets-policy fragments (tel_redact_add_key) before recording: the policy decision per
 * key is cached.
 *
 * When the provider is disabled (config or OTEL_SDK_DISABLED=true) every meter and instrument is
 * a shared no-op: nothing is allocated, no thread is started, and a recording costs one branch. */
#ifndef TELEMETRY_METRICS_H
#define TELEMETRY_METRICS_H

#include "metric_data.h"
#include "resource.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tel_meter_provider tel_meter_provider;
typedef struct tel_meter tel_meter;
typedef struct tel_instrument tel_instrument;

typedef enum tel_instrument_kind {
    TEL_INSTR_COUNTER = 1,
    TEL_INSTR_UP_DOWN_COUNTER,
    TEL_INSTR_HISTOGRAM,
    TEL_INSTR_GAUGE,
    TEL_INSTR_OBSERVABLE_COUNTER,
    TEL_INSTR_OBSERVABLE_UP_DOWN_COUNTER,
    TEL_INSTR_OBSERVABLE_GAUGE,
} tel_instrument_kind;

typedef enum tel_exemplar_filter {
    TEL_EXEMPLAR_TRACE_BASED = 0, /* default: measurements inside a sampled span */
    TEL_EXEMPLAR_ALWAYS_ON,
    TEL_EXEMPLAR_ALWAYS_OFF,
} tel_exemplar_filter;

typedef struct tel_meter_provider_config {
    const tel_resource *resource; /* borrowed (e.g. the tracer provider's); NULL: from env */
    uint32_t cardinality_limit;   /* 0: 2000 */
    tel_exemplar_filter exemplar_filter; /* used when has_exemplar_filter */
    bool has_exemplar_filter;     /* false: OTEL_METRICS_EXEMPLAR_FILTER */
    bool disabled;
} tel_meter_provider_config;

/* Creates a meter provider (cfg may be NULL: everything from the environment). The exemplar
 * filter comes from OTEL_METRICS_EXEMPLAR_FILTER (trace_based, always_on, always_off) unless
 * cfg->has_exemplar_filter. A borrowed resource must outlive the provider. Returns a shared
 * no-op provider (nothing allocated) when disabled, NULL on allocation failure. The caller owns
 * the result (tel_meter_provider_destroy). Thread safe. */
tel_meter_provider *tel_meter_provider_create(const tel_meter_provider_config *cfg);
/* Collects and exports now through every periodic reader, waiting at most timeout_ms in total.
 * Returns TEL_OK, the first exporter error, TEL_ETIMEDOUT or TEL_ESHUTDOWN. Thread safe. */
int tel_meter_provider_force_flush(tel_meter_provider *p, int64_t timeout_ms);
/* Stops every periodic reader after a final collection and export, within timeout_ms in total
 * (past it the exporter is shut down, which ends an in-flight export). Recording keeps working
 * and tel_prometheus_render still renders; nothing is exported any more. Idempotent. Returns
 * TEL_OK, the first exporter error or TEL_ETIMEDOUT. */
int tel_meter_provider_shutdown(tel_meter_provider *p, int64_t timeout_ms);
/* Shuts down (if not done yet: each reader bounded by its export timeout plus 1 s) and frees the
 * provider with its meters, instruments, readers and exporters. No other thread may use the
 * provider or its instruments any more. Spans still queued with deferred durations
 * (tel_span_defer_duration) are taken first (up to 10 s); were an export thread stuck past that,
 * the provider would be left allocated (an error line) rather than freed under them. NULL and
 * the no-op provider are ignored. */
void tel_meter_provider_destroy(tel_meter_provider *p);
/* The provider's resource (borrowed; NULL for the no-op provider). */
const tel_resource *tel_meter_provider_resource(const tel_meter_provider *p);
/* The meter for an instrumentation scope (same pointer for the same name/version; name and
 * version are copied; NULL or "" version means none). Owned by p. Never NULL: a no-op meter when
 * p is NULL, disabled, or memory runs out. Thread safe. */
tel_meter *tel_meter_get(tel_meter_provider *p, const char *name, const char *version);

/* Options for instrument creation (copied). unit and description may be NULL. For histograms,
 * bounds (finite, strictly ascending, at most 4096; n_bounds may be 0 for a single bucket)
 * replace the default buckets when non-NULL; invalid bounds warn and keep the defaults. A value
 * v falls in the first bucket whose bound b satisfies v <= b. value_is_int selects int64 values
 * (counters, up-down counters, gauges, observables; histograms are double). */
typedef struct tel_instrument_opts {
    const char *unit;
    const char *description;
    const double *bounds;
    uint32_t n_bounds;
    bool value_is_int;
    /* No exemplars for this instrument whatever the provider's filter (a view dropping its
     * reservoir): for measurements whose trace says nothing about the value, such as the +1/-1
     * of an in-flight count. Not part of the identity: an identical instrument keeps the first
     * registration's choice. */
    bool no_exemplars;
} tel_instrument_opts;

/* Creates (or returns the existing identical) synchronous instrument: COUNTER,
 * UP_DOWN_COUNTER, HISTOGRAM or GAUGE. Identical means same meter, name (case-insensitive),
 * kind, unit, description, value type and bounds; a differing instrument of the same name is
 * created anyway with a warning (both are exported). Never NULL: an invalid name or kind, a
 * disabled provider or an allocation failure gives a no-op instrument. Owned by the meter's
 * provider. Thread safe. */
tel_instrument *tel_meter_create(tel_meter *m, tel_instrument_kind kind, const char *name,
                                 const tel_instrument_opts *opts);

/* Observable instruments (OBSERVABLE_COUNTER, OBSERVABLE_UP_DOWN_COUNTER, OBSERVABLE_GAUGE):
 * cb is called at each collection, on the collecting thread (collections are serialised), with
 * an observer to report the current values (cumulative totals for counters); ud is borrowed.
 * Only the attribute sets observed by the latest callback are exported. A callback must not
 * collect, render, flush or shut the provider down. Always a new instrument (callbacks are not
 * merged). Never NULL (no-op as for tel_meter_create). */
typedef struct tel_observer tel_observer;
typedef void (*tel_observe_cb)(tel_observer *obs, void *ud);
tel_instrument *tel_meter_create_observable(tel_meter *m, tel_instrument_kind kind,
                                            const char *name, const tel_instrument_opts *opts,
                                            tel_observe_cb cb, void *ud);
/* Reports one observation from inside a callback (obs is valid only during the callback); the
 * last observation of a set in one callback wins. */
void tel_observe_int(tel_observer *obs, int64_t value, const tel_attr *attrs, size_t n);
void tel_observe_double(tel_observer *obs, double value, const tel_attr *attrs, size_t n);

/* Recording. Counters reject negative and NaN values with a rate-limited warning; up-down
 * counters accept any value but NaN; histograms ignore NaN. A double recorded on an int64
 * instrument is truncated (saturating). A call on an instrument of another kind, or on a no-op
 * instrument, does nothing. attrs are copied the first time a set is seen (see the key rule
 * above). With an exemplar filter other than always_off, the measurement may be kept as an
 * exemplar with the calling thread's current span (tel_span_current) ids. Thread safe,
 * lock-free and allocation-free once the set exists. */
void tel_counter_add(tel_instrument *c, double value, const tel_attr *attrs, size_t n);
void tel_counter_add_int(tel_instrument *c, int64_t value, const tel_attr *attrs, size_t n);
void tel_histogram_record(tel_instrument *h, double value, const tel_attr *attrs, size_t n);
void tel_gauge_set(tel_instrument *g, double value, const tel_attr *attrs, size_t n);
void tel_gauge_set_int(tel_instrument *g, int64_t value, const tel_attr *attrs, size_t n);

/* Bound attribute sets: a handle on one attribute set of one synchronous instrument, for callers
 * that record the same set again and again (a route and status, a statement's outcome).
 * Recording through it skips finding the set (hashing and comparing the attributes), which is
 * most of a recording's cost; otherwise it is the same recording (value checks, exemplars).
 * tel_instrument_bind resolves the set exactly as a recording with these attributes would (the
 * same series; the overflow set past the cardinality limit), creating it when new: bind right
 * before the first recording, since a set exists (with no measurements) from then on. The
 * handle is valid for the instrument's lifetime. NULL for a no-op, gauge or observable
 * instrument, or when memory runs out; recording into a NULL handle does nothing. Thread safe. */
typedef struct tel_bound_attrs tel_bound_attrs;
tel_bound_attrs *tel_instrument_bind(tel_instrument *in, const tel_attr *attrs, size_t n);
/* tel_counter_add_int / tel_histogram_record on the set of b, which must come from the same
 * instrument. */
void tel_counter_add_int_bound(tel_instrument *c, tel_bound_attrs *b, int64_t value);
void tel_histogram_record_bound(tel_instrument *h, tel_bound_attrs *b, double value);
/* tel_histogram_record_bound for a measurement whose span and time the caller has at hand (a
 * request's duration, recorded as its span ends): a kept exemplar gets sc's ids and time_ns
 * (0: now), and the exemplar filter judges sc (NULL or invalid: no span), not the thread's
 * current span. No lookup of the current span, no clock read. */
void tel_histogram_record_bound_at(tel_instrument *h, tel_bound_attrs *b, double value,
                                   const tel_span_context *sc, uint64_t time_ns);

/* True unless in is a no-op instrument (lets callers skip building attributes). */
bool tel_instrument_enabled(const tel_instrument *in);

/* Runs the observable callbacks, collects every instrument now and calls fn with the result and
 * the provider's resource (all borrowed for the call). Instruments without points are left out.
 * Returns TEL_OK, TEL_EINVAL, TEL_EDISABLED (no-op provider; fn not called) or TEL_ENOMEM.
 * Thread safe (collections are serialised and never block recording). Every collection (this,
 * a periodic reader's, a Prometheus scrape's) first records, on the collecting thread, the
 * durations carried by the spans still queued in batch span processors
 * (tel_span_defer_duration), so that every request ended before it is counted. It never waits
 * for an export thread, even one inside an export to a slow collector: a scrape served on a
 * service thread does not stall it. */
int tel_meter_provider_collect(tel_meter_provider *p,
                               void (*fn)(const tel_resource *res, const tel_metric *metrics,
                                          size_t n, void *ud),
                               void *ud);

/* Periodic reader: collects every interval_ms (0: OTEL_METRIC_EXPORT_INTERVAL, default 60000)
 * and exports with a deadline of timeout_ms (0: OTEL_METRIC_EXPORT_TIMEOUT, default 30000) on
 * its own thread (a collection without points is not exported); a final collection and export
 * on shutdown. At most 4 readers. The provider owns the reader and the exporter from this call
 * on (on failure the exporter is shut down and destroyed at once). Returns TEL_OK, TEL_EINVAL,
 * TEL_EDISABLED, TEL_ESHUTDOWN, TEL_EFULL or TEL_ENOMEM. Thread safe. */
int tel_meter_provider_add_periodic_reader(tel_meter_provider *p, tel_metric_exporter *exp,
                                           uint32_t interval_ms, uint32_t timeout_ms);

/* The process-wide meter provider made by tel_init (trace.h) from the environment, sharing the
 * tracer provider's resource; NULL before tel_init, after tel_shutdown, or when the SDK is
 * disabled. Owned by the SDK. */
tel_meter_provider *tel_global_meter_provider(void);
/* A meter of the process-wide provider; the no-op meter when there is none. Thread safe. */
tel_meter *tel_global_meter(const char *name, const char *version);

/* Prometheus text exposition (format 0.0.4), or OpenMetrics 1.0 text with exemplars and the
 * "# EOF" line when openmetrics is true, of everything the provider holds, appended to out (a
 * tel_buf, see otlp.h). Follows the OpenTelemetry Prometheus compatibility rules: names and
 * label names sanitised, unit suffixes, "_total" on monotonic sums, histograms as cumulative
 * _bucket{le} lines with +Inf, _sum and _count (when negative values are possible _sum is left
 * out, and in OpenMetrics _count with it), otel_scope_name/otel_scope_version labels, resource
 * attributes as target_info. Families are
 * ordered by name and series by labels; a family whose name an instrument of another type
 * already took is dropped with a warning. Runs the observable callbacks (a collection).
 * Returns TEL_OK, TEL_ENOMEM or TEL_EINVAL (out is then left at its previous length). Thread
 * safe for distinct buffers. */
struct tel_buf;
int tel_prometheus_render(tel_meter_provider *p, bool openmetrics, struct tel_buf *out);

/* The Content-Type of tel_prometheus_render's output (static strings). */
const char *tel_prometheus_content_type(bool openmetrics);
/* True when an HTTP Accept header value asks for OpenMetrics text (application/openmetrics-text
 * with a q value not below any text/plain entry). NULL: false. */
bool tel_prometheus_accepts_openmetrics(const char *accept);

#ifdef __cplusplus
}
#endif
#endif
