/* Logging: JSON lines on stderr correlated with the current span, and optional OTLP export.
 *
 * DRAFT by the lead; the logs implementer may refine it (report changes).
 *
 * Each line is one JSON object: {"timestamp":"<RFC 3339 with ns, UTC>","level":"info",
 * "message":"...","service":"<service.name>","trace_id":"<hex>","span_id":"<hex>",
 * "attributes":{...}}; trace_id/span_id appear only when the calling thread has a current span
 * (tel_span_set_current). Attribute values under denied keys (redact.h) are "[REDACTED]".
 * The level threshold comes from LOG_LEVEL (trace, debug, info (default), warn, error, fatal). */
#ifndef TELEMETRY_LOG_H
#define TELEMETRY_LOG_H

#include <stdio.h>

#include "log_data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tel_log_level {
    TEL_LOG_TRACE = 0,
    TEL_LOG_DEBUG,
    TEL_LOG_INFO,
    TEL_LOG_WARN,
    TEL_LOG_ERROR,
    TEL_LOG_FATAL,
} tel_log_level;

/* True when lvl is at or above the threshold (one relaxed load). */
bool tel_log_enabled(tel_log_level lvl);

/* Writes one log line (and hands the record to the OTLP log pipeline when one is set up).
 * attrs (n) may be NULL/0. The message is printf-formatted; its format is checked by the
 * compiler. Thread safe; a line is written with a single write(2). */
void tel_log(tel_log_level lvl, const tel_attr *attrs, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define tel_log_trace(...) tel_log(TEL_LOG_TRACE, NULL, 0, __VA_ARGS__)
#define tel_log_debug(...) tel_log(TEL_LOG_DEBUG, NULL, 0, __VA_ARGS__)
#define tel_log_info(...) tel_log(TEL_LOG_INFO, NULL, 0, __VA_ARGS__)
#define tel_log_warn(...) tel_log(TEL_LOG_WARN, NULL, 0, __VA_ARGS__)
#define tel_log_error(...) tel_log(TEL_LOG_ERROR, NULL, 0, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
