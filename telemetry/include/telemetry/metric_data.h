/* The collected form of metrics, as readers hand them to metric exporters (OTLP, console, file)
 * and to the Prometheus renderer. Everything is borrowed for the duration of one export call. */
#ifndef TELEMETRY_METRIC_DATA_H
#define TELEMETRY_METRIC_DATA_H

#include "common.h"
#include "ids.h"
#include "resource.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tel_metric_type {
    TEL_METRIC_SUM = 1,       /* counters, up-down counters, observable counters */
    TEL_METRIC_GAUGE = 2,     /* gauges, observable gauges */
    TEL_METRIC_HISTOGRAM = 3, /* explicit-bucket histograms */
} tel_metric_type;

/* Values match OTLP's AggregationTemporality. */
typedef enum tel_temporality {
    TEL_TEMPORALITY_DELTA = 1,
    TEL_TEMPORALITY_CUMULATIVE = 2,
} tel_temporality;

typedef struct tel_exemplar {
    uint64_t time_ns;
    bool is_int;
    union {
        int64_t i;
        double d;
    } value;
    bool has_span; /* trace_id/span_id valid */
    uint8_t trace_id[TEL_TRACE_ID_SIZE];
    uint8_t span_id[TEL_SPAN_ID_SIZE];
    const tel_attr *filtered_attrs; /* attributes of the measurement not in the point's set */
    uint32_t n_filtered_attrs;
} tel_exemplar;

/* One data point (one attribute set of one instrument). */
typedef struct tel_metric_point {
    const tel_attr *attrs;
    uint32_t n_attrs;
    uint64_t start_ns; /* start of the cumulative period */
    uint64_t time_ns;  /* collection time */
    /* SUM and GAUGE */
    bool is_int;
    union {
        int64_t i;
        double d;
    } value;
    /* HISTOGRAM */
    uint64_t count;
    double sum;
    bool has_min_max;
    double min, max;
    const uint64_t *bucket_counts; /* n_bounds + 1 counts (not cumulative) */
    /* exemplars (any type) */
    const tel_exemplar *exemplars;
    uint32_t n_exemplars;
} tel_metric_point;

/* One instrument's collected points. */
typedef struct tel_metric {
    const char *name;
    const char *description; /* may be "" */
    const char *unit;        /* UCUM, may be "" */
    tel_metric_type type;
    bool monotonic;          /* SUM: counters are monotonic, up-down counters not */
    tel_temporality temporality;
    const double *bounds;    /* HISTOGRAM: explicit bucket upper bounds, ascending */
    uint32_t n_bounds;
    const char *scope_name;
    const char *scope_version; /* may be NULL */
    const tel_metric_point *points;
    size_t n_points;
} tel_metric;

/* Metric exporter interface (implementations embed it first).
 * export_metrics: sends n metrics (borrowed for the call) within deadline_ns (tel_mono_ns).
 * shutdown: makes in-flight and later exports return promptly; idempotent; any thread.
 * destroy: frees; called once after shutdown. */
typedef struct tel_metric_exporter tel_metric_exporter;
struct tel_metric_exporter {
    int (*export_metrics)(tel_metric_exporter *self, const tel_resource *res,
                          const tel_metric *metrics, size_t n, uint64_t deadline_ns);
    int (*force_flush)(tel_metric_exporter *self, int64_t timeout_ms); /* may be NULL */
    int (*shutdown)(tel_metric_exporter *self);
    void (*destroy)(tel_metric_exporter *self);
};

#ifdef __cplusplus
}
#endif
#endif
