/* Metrics API: meter provider, meters, instruments, recording, periodic reader, Prometheus text.
 *
 * DRAFT by the lead; the metrics implementer may refine it (report changes).
 *
 * Recording is thread safe and lock-free, and allocates nothing once an attribute set has been
 * seen by the instrument. Temporality is cumulative. Each instrument keeps at most
 * cardinality_limit attribute sets (default 2000); measurements for further sets go to the
 * overflow set {otel.metric.overflow=true}. Attribute values that the secrets policy denies
 * (redact.h) are stored as "[REDACTED]". Instrument names follow the API spec's syntax
 * (ASCII letter first, then letters, digits, '_', '.', '-', '/'; at most 255); an invalid name
 * gives a no-op instrument and a warning. */
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

/* Creates a meter provider (cfg may be NULL). The caller owns it. */
tel_meter_provider *tel_meter_provider_create(const tel_meter_provider_config *cfg);
/* Flushes (final collection and export by every reader) and frees. */
void tel_meter_provider_destroy(tel_meter_provider *p);
/* The meter for an instrumentation scope (same pointer for the same name/version). Owned by p. */
tel_meter *tel_meter_get(tel_meter_provider *p, const char *name, const char *version);

/* Options for instrument creation. unit and description may be NULL. For histograms, bounds
 * (ascending, n_bounds) replace the default buckets when given. value_is_int selects int64
 * values (counters, up-down counters, gauges; histograms are double). */
typedef struct tel_instrument_opts {
    const char *unit;
    const char *description;
    const double *bounds;
    uint32_t n_bounds;
    bool value_is_int;
} tel_instrument_opts;

/* Creates (or returns the existing identical) synchronous instrument. Never NULL: an invalid
 * name or a disabled provider gives a no-op instrument. Owned by the meter's provider. */
tel_instrument *tel_meter_create(tel_meter *m, tel_instrument_kind kind, const char *name,
                                 const tel_instrument_opts *opts);

/* Observable instruments: cb is called at each collection with an observer to report values. */
typedef struct tel_observer tel_observer;
typedef void (*tel_observe_cb)(tel_observer *obs, void *ud);
tel_instrument *tel_meter_create_observable(tel_meter *m, tel_instrument_kind kind,
                                            const char *name, const tel_instrument_opts *opts,
                                            tel_observe_cb cb, void *ud);
/* Reports one observation from inside a callback. */
void tel_observe_int(tel_observer *obs, int64_t value, const tel_attr *attrs, size_t n);
void tel_observe_double(tel_observer *obs, double value, const tel_attr *attrs, size_t n);

/* Recording (counters reject negative values with a rate-limited warning). attrs are copied the
 * first time a set is seen. Thread safe. */
void tel_counter_add(tel_instrument *c, double value, const tel_attr *attrs, size_t n);
void tel_counter_add_int(tel_instrument *c, int64_t value, const tel_attr *attrs, size_t n);
void tel_histogram_record(tel_instrument *h, double value, const tel_attr *attrs, size_t n);
void tel_gauge_set(tel_instrument *g, double value, const tel_attr *attrs, size_t n);
void tel_gauge_set_int(tel_instrument *g, int64_t value, const tel_attr *attrs, size_t n);

/* Collects every instrument now and calls fn with the result (borrowed for the call). */
int tel_meter_provider_collect(tel_meter_provider *p,
                               void (*fn)(const tel_resource *res, const tel_metric *metrics,
                                          size_t n, void *ud),
                               void *ud);

/* Periodic reader: collects every interval_ms (OTEL_METRIC_EXPORT_INTERVAL, default 60000) and
 * exports with timeout_ms (OTEL_METRIC_EXPORT_TIMEOUT, default 30000) on its own thread; a final
 * collection and export on shutdown. The provider owns the reader and the exporter. */
int tel_meter_provider_add_periodic_reader(tel_meter_provider *p, tel_metric_exporter *exp,
                                           uint32_t interval_ms, uint32_t timeout_ms);

/* Prometheus text exposition (format 0.0.4), or OpenMetrics 1.0 text with exemplars when
 * openmetrics is true, of everything the provider holds, into out (a tel_buf, see otlp.h).
 * Returns TEL_OK or TEL_ENOMEM. */
struct tel_buf;
int tel_prometheus_render(tel_meter_provider *p, bool openmetrics, struct tel_buf *out);

#ifdef __cplusplus
}
#endif
#endif
