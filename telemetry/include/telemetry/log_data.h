/* A log record as log processors and exporters see it (OpenTelemetry logs data model). */
#ifndef TELEMETRY_LOG_DATA_H
#define TELEMETRY_LOG_DATA_H

#include "common.h"
#include "ids.h"
#include "resource.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Severity numbers of the OpenTelemetry data model (the first of each range). */
typedef enum tel_severity {
    TEL_SEVERITY_TRACE = 1,
    TEL_SEVERITY_DEBUG = 5,
    TEL_SEVERITY_INFO = 9,
    TEL_SEVERITY_WARN = 13,
    TEL_SEVERITY_ERROR = 17,
    TEL_SEVERITY_FATAL = 21,
} tel_severity;

/* Everything a record points to is owned by the record's producer for the duration of the
 * export call (processors copy what they keep). */
typedef struct tel_log_record {
    uint64_t time_ns;
    uint64_t observed_time_ns;
    uint8_t severity_number; /* tel_severity */
    const char *severity_text; /* "INFO", ... */
    const char *body;          /* the formatted message */
    uint32_t body_len;
    const tel_attr *attrs;
    uint32_t n_attrs;
    uint32_t dropped_attrs;
    bool has_span;
    uint8_t trace_id[TEL_TRACE_ID_SIZE];
    uint8_t span_id[TEL_SPAN_ID_SIZE];
    uint8_t trace_flags;
    const char *scope_name;
    const char *scope_version; /* may be NULL */
} tel_log_record;

/* Log exporter interface (implementations embed it first); same rules as the span exporter. */
typedef struct tel_log_exporter tel_log_exporter;
struct tel_log_exporter {
    int (*export_logs)(tel_log_exporter *self, const tel_resource *res,
                       const tel_log_record *const *recs, size_t n, uint64_t deadline_ns);
    int (*force_flush)(tel_log_exporter *self, int64_t timeout_ms); /* may be NULL */
    int (*shutdown)(tel_log_exporter *self);
    void (*destroy)(tel_log_exporter *self);
};

#ifdef __cplusplus
}
#endif
#endif
