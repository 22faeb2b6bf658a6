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

/* Log exporter interface (implementations embed it first); same rules as the span exporter
 * (processor.h): export_logs sends n records (borrowed for the call) and gives up by deadline_ns
 * (tel_mono_ns clock), called by one thread at a time; shutdown makes in-flight and later exports
 * return promptly, from any thread, idempotent; destroy frees, once, after shutdown. */
typedef struct tel_log_exporter tel_log_exporter;
struct tel_log_exporter {
    int (*export_logs)(tel_log_exporter *self, const tel_resource *res,
                       const tel_log_record *const *recs, size_t n, uint64_t deadline_ns);
    int (*force_flush)(tel_log_exporter *self, int64_t timeout_ms); /* may be NULL */
    int (*shutdown)(tel_log_exporter *self);
    void (*destroy)(tel_log_exporter *self);
};

/* ---- Batch log record processor ---- */

/* Settings from OTEL_BLRP_*. */
typedef struct tel_blrp_config {
    uint32_t max_queue_size;        /* OTEL_BLRP_MAX_QUEUE_SIZE, default 2048 */
    uint32_t max_export_batch_size; /* OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, default 512 (<= queue) */
    uint32_t schedule_delay_ms;     /* OTEL_BLRP_SCHEDULE_DELAY, default 1000 (0 acts as 1) */
    uint32_t export_timeout_ms;     /* OTEL_BLRP_EXPORT_TIMEOUT, default 30000 */
} tel_blrp_config;

/* Fills cfg with the defaults overridden by valid OTEL_BLRP_* values (invalid ones warn). */
void tel_blrp_config_from_env(tel_blrp_config *cfg);

/* What one queued record can hold: records are copied into fixed-size slots. A body longer than
 * TEL_LOG_BODY_MAX bytes is cut (at a UTF-8 boundary); attributes past TEL_LOG_SLOT_ATTRS, or
 * whose key and value no longer fit in the slot's TEL_LOG_SLOT_ARENA bytes of strings, are
 * dropped and counted in dropped_attrs. */
#define TEL_LOG_SLOT_ATTRS 16
#define TEL_LOG_SLOT_ARENA 1536
#define TEL_LOG_BODY_MAX 1024

typedef struct tel_log_processor tel_log_processor;

/* Creates a batch processor owning `exporter`, exporting with `resource` (borrowed: it must
 * outlive the processor; NULL: an empty resource). The queue (max_queue_size slots) is
 * allocated here, once, and the export thread started. cfg NULL: from the environment.
 * Returns NULL on failure (the exporter is then destroyed). */
tel_log_processor *tel_blrp_create(tel_log_exporter *exporter, const tel_resource *resource,
                                   const tel_blrp_config *cfg);

/* Copies rec into the queue: never blocks, never allocates. Attribute values under denied keys
 * (redact.h) are stored as "[REDACTED]". scope_name and scope_version are borrowed (they must
 * outlive the processor: use literals); everything else is copied. Returns TEL_OK, TEL_EFULL
 * (queue full: the record is dropped and counted, with a rate-limited warning on stderr),
 * TEL_ESHUTDOWN or TEL_EINVAL. Thread safe. */
int tel_log_processor_emit(tel_log_processor *p, const tel_log_record *rec);

/* Exports everything queued and flushes the exporter, waiting at most timeout_ms. Returns
 * TEL_OK, TEL_ETIMEDOUT or TEL_ESHUTDOWN. Thread safe. */
int tel_log_processor_force_flush(tel_log_processor *p, int64_t timeout_ms);

/* Exports what is queued and stops within timeout_ms (an exporter still busy after 80% of it is
 * shut down; one that ignores that is abandoned on its thread); later emits return
 * TEL_ESHUTDOWN. Returns TEL_OK or TEL_ETIMEDOUT. Idempotent. */
int tel_log_processor_shutdown(tel_log_processor *p, int64_t timeout_ms);

/* Shuts down (bounded by the export timeout) and frees the processor and its exporter. No emit
 * may be running or follow. */
void tel_log_processor_destroy(tel_log_processor *p);

/* Counters; emitted == exported + dropped_queue_full + export_failed once shut down. */
typedef struct tel_blrp_stats {
    uint64_t emitted;            /* records handed to tel_log_processor_emit while running */
    uint64_t dropped_queue_full; /* dropped because the queue was full */
    uint64_t exported;           /* in batches the exporter accepted */
    uint64_t export_failed;      /* in batches the exporter failed, or left at shutdown */
} tel_blrp_stats;

/* Reads the counters (thread safe, lock-free). */
void tel_blrp_get_stats(tel_log_processor *p, tel_blrp_stats *out);

#ifdef __cplusplus
}
#endif
#endif
