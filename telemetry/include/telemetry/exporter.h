/* Span, metric and log exporters: console, file (OTLP JSON lines) and OTLP (HTTP protobuf / HTTP
 * JSON; the gRPC transport plugs in through tel_otlp_transport, see otlp.h), and selection from
 * OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER.
 *
 * Every exporter follows the exporter contract of its signal (tel_span_exporter in processor.h,
 * tel_metric_exporter in metric_data.h, tel_log_exporter in log_data.h): export is called by one
 * thread at a time, shutdown may come from any thread and ends an in-flight export promptly. The
 * three signals share one implementation per kind; only the encoders differ. Log lines go to
 * stderr, rate limited, and never contain header values or URL credentials. */
#ifndef TELEMETRY_EXPORTER_H
#define TELEMETRY_EXPORTER_H

#include <stdio.h>

#include "log_data.h"
#include "metric_data.h"
#include "otlp.h"
#include "processor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Console exporter: one human-readable block per span on `out` (borrowed; stdout when NULL),
 * flushed after each export call. Thread safe. */
tel_span_exporter *tel_console_exporter_create(FILE *out);
/* The same for metrics (a block per metric: its points, histogram buckets and exemplars) and for
 * log records (a line per record). */
tel_metric_exporter *tel_console_metric_exporter_create(FILE *out);
tel_log_exporter *tel_console_log_exporter_create(FILE *out);

/* File exporter: appends one OTLP/JSON ExportTraceServiceRequest per line (per export call) to
 * `path`, which it opens in append mode (created 0644). Each line is written with a single
 * write(2) on an O_APPEND descriptor, so lines of concurrent writers never interleave.
 * Thread safe. NULL when the file cannot be opened (reported on stderr). */
tel_span_exporter *tel_file_exporter_create(const char *path);
/* The same with ExportMetricsServiceRequest / ExportLogsServiceRequest lines. */
tel_metric_exporter *tel_file_metric_exporter_create(const char *path);
tel_log_exporter *tel_file_log_exporter_create(const char *path);

/* OTLP exporter over the transport described by cfg (copied; tel_otlp_transport_create picks
 * HTTP or the registered gRPC transport). export_spans encodes the batch (protobuf, or JSON for
 * http/json) into a reused buffer and sends it with retries (exponential backoff with jitter,
 * Retry-After honoured, never past the deadline). It returns TEL_OK, TEL_EREJECTED (permanent
 * failure, e.g. HTTP 400), TEL_ERETRYABLE or TEL_EIO (retries ran out or the deadline left no
 * room for another attempt), TEL_ETIMEDOUT (the last attempt got no answer in time),
 * TEL_ESHUTDOWN or TEL_ENOMEM. NULL on failure. */
tel_span_exporter *tel_otlp_span_exporter_create(const tel_otlp_config *cfg);
/* Same over a caller-supplied transport, which the exporter owns from now on (it is destroyed
 * with the exporter, also when this call fails). */
tel_span_exporter *tel_otlp_span_exporter_create_with_transport(const tel_otlp_config *cfg,
                                                                tel_otlp_transport *transport);
/* The same for metrics (POSTed to the metrics endpoint: make cfg with signal "metrics") and log
 * records ("logs"). A configuration of another signal is used as given, with a warning. */
tel_metric_exporter *tel_otlp_metric_exporter_create(const tel_otlp_config *cfg);
tel_metric_exporter *tel_otlp_metric_exporter_create_with_transport(const tel_otlp_config *cfg,
                                                                    tel_otlp_transport *transport);
tel_log_exporter *tel_otlp_log_exporter_create(const tel_otlp_config *cfg);
tel_log_exporter *tel_otlp_log_exporter_create_with_transport(const tel_otlp_config *cfg,
                                                              tel_otlp_transport *transport);

/* Counters of an OTLP exporter (monotonic; read lock-free from any thread). Items are spans,
 * metric data points or log records. */
typedef struct tel_otlp_exporter_stats {
    uint64_t exports;           /* export calls */
    uint64_t items_ok;          /* items in accepted requests (partially rejected ones included) */
    uint64_t items_failed;      /* items in requests that failed for good */
    uint64_t attempts;          /* transport sends */
    uint64_t retries;           /* sends after the first of an export */
    uint64_t partial_successes; /* accepted responses with a partial_success */
    uint64_t rejected_items;    /* sum of partial_success rejected counts */
    int64_t last_code;          /* HTTP/gRPC status of the last answer, 0 when none */
} tel_otlp_exporter_stats;

/* Reads the counters of an exporter made by tel_otlp_span_exporter_create*. Thread safe. */
void tel_otlp_exporter_get_stats(tel_span_exporter *exporter, tel_otlp_exporter_stats *out);
/* The same for exporters made by tel_otlp_metric_exporter_create* / tel_otlp_log_exporter_create*
 * (all zero for any other exporter). */
void tel_otlp_metric_exporter_get_stats(tel_metric_exporter *exporter,
                                        tel_otlp_exporter_stats *out);
void tel_otlp_log_exporter_get_stats(tel_log_exporter *exporter, tel_otlp_exporter_stats *out);

/* Which exporters OTEL_TRACES_EXPORTER names: "otlp" (default), "console", "file", "none",
 * or a comma-separated list of them ("otlp,file"): then one exporter handing each batch to every
 * listed one in turn, the local ones (file, console) before otlp, so that a slow collector does
 * not hold them back (a name listed twice counts once; "none" beside others is ignored with a
 * warning; one member's failure does not keep the batch from the others, and the export returns
 * the first failure). Names are trimmed and case-insensitive; unknown names warn on stderr and
 * mean otlp.
 * With `direct` non-NULL, a listed console exporter is returned apart in *direct (else *direct
 * is NULL): it suits a simple, synchronous processor (each span printed as it ends), the others
 * a batch processor. The return value is then the others' exporter, NULL when console was the
 * only one. With `direct` NULL, console is one of the returned exporter's members like the
 * others. Returns NULL (and *direct NULL) for "none" or when no listed exporter could be made
 * (the failure is reported on stderr). The file path is OTEL_EXPORTER_FILE_TRACES_PATH, else
 * OTEL_EXPORTER_FILE_PATH, else "traces.jsonl". The caller owns what it gets. */
tel_span_exporter *tel_span_exporter_from_env(tel_span_exporter **direct);

/* Which exporter OTEL_METRICS_EXPORTER names, by the same rules: "otlp" (default, configured by
 * OTEL_EXPORTER_OTLP_[METRICS_]*), "console", "file" (OTEL_EXPORTER_FILE_METRICS_PATH, else
 * OTEL_EXPORTER_FILE_PATH, else "metrics.jsonl"), "none" (NULL). For a periodic reader. */
tel_metric_exporter *tel_metric_exporter_from_env(void);

/* Which exporter OTEL_LOGS_EXPORTER names, by the same rules, except that the default is "none"
 * (log lines always go to stderr; OTLP export of them is opted into): "otlp"
 * (OTEL_EXPORTER_OTLP_[LOGS_]*), "console", "file" (OTEL_EXPORTER_FILE_LOGS_PATH, else
 * OTEL_EXPORTER_FILE_PATH, else "logs.jsonl"), "none" or unset (NULL). For a batch log record
 * processor (log_data.h). */
tel_log_exporter *tel_log_exporter_from_env(void);

#ifdef __cplusplus
}
#endif
#endif
