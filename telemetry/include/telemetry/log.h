/* Logging: JSON lines on stderr correlated with the current span, and optional OTLP export.
 *
 * Each line is one JSON object, written with a single write(2):
 *   {"timestamp":"<RFC 3339 UTC with 9 fraction digits>","level":"info","message":"...",
 *    "service":"<service.name>","trace_id":"<32 hex>","span_id":"<16 hex>","attributes":{...}}
 * trace_id/span_id appear only when the calling thread has a current span
 * (tel_span_set_current in trace.h). "attributes" is always present (maybe {}), with values as
 * JSON strings, booleans, numbers (non-finite doubles as "NaN", "Infinity", "-Infinity") or
 * arrays; values under denied keys (redact.h) are "[REDACTED]". Strings are escaped (quotes,
 * backslash, control characters) and invalid UTF-8 becomes U+FFFD, so a line always parses.
 *
 * The level threshold comes from LOG_LEVEL (trace, debug, info (default), warn or warning,
 * error, fatal; case-insensitive; an invalid value warns once and means info), read on first use.
 * The service is the one given to tel_log_set_service (tel_init passes the resource's
 * service.name), else OTEL_SERVICE_NAME, else "unknown_service".
 *
 * Each thread formats into its own buffers, kept between calls: no allocation per line in steady
 * state. Logging works whether or not the SDK is initialised or disabled; OTLP export of log
 * records happens only when a processor is installed (tel_init does it when OTEL_LOGS_EXPORTER
 * names an exporter). */
#ifndef TELEMETRY_LOG_H
#define TELEMETRY_LOG_H

#include <stdarg.h>
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

/* A formatted message longer than this is cut (at a UTF-8 boundary). */
#define TEL_LOG_MESSAGE_MAX 8192

/* True when lvl is at or above the threshold (one relaxed load once initialised). Thread safe. */
bool tel_log_enabled(tel_log_level lvl);

/* Writes one log line (and hands the record to the OTLP log pipeline when one is installed).
 * attrs (n) may be NULL/0; they are borrowed for the call. The message is printf-formatted; its
 * format is checked by the compiler. Thread safe; a line is written with a single write(2) (on a
 * pipe, lines up to PIPE_BUF bytes never interleave with other writers' lines). Nothing is
 * reported when the write fails. TEL_LOG_FATAL is a level only: it does not abort. */
void tel_log(tel_log_level lvl, const tel_attr *attrs, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* tel_log with a va_list (for wrappers, which should carry the format attribute themselves). */
void tel_logv(tel_log_level lvl, const tel_attr *attrs, size_t n, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#define tel_log_trace(...) tel_log(TEL_LOG_TRACE, NULL, 0, __VA_ARGS__)
#define tel_log_debug(...) tel_log(TEL_LOG_DEBUG, NULL, 0, __VA_ARGS__)
#define tel_log_info(...) tel_log(TEL_LOG_INFO, NULL, 0, __VA_ARGS__)
#define tel_log_warn(...) tel_log(TEL_LOG_WARN, NULL, 0, __VA_ARGS__)
#define tel_log_error(...) tel_log(TEL_LOG_ERROR, NULL, 0, __VA_ARGS__)
#define tel_log_fatal(...) tel_log(TEL_LOG_FATAL, NULL, 0, __VA_ARGS__)

/* ---- Configuration (call at start-up; all thread safe) ---- */

/* Sets the threshold (overrides LOG_LEVEL). */
void tel_log_set_level(tel_log_level lvl);
/* The current threshold (reads LOG_LEVEL on first use). */
tel_log_level tel_log_get_level(void);
/* Parses a level name as LOG_LEVEL does. Returns TEL_OK or TEL_EINVAL (*out untouched). */
int tel_log_level_parse(const char *s, tel_log_level *out);
/* "trace", "debug", "info", "warn", "error", "fatal" (static strings). */
const char *tel_log_level_name(tel_log_level lvl);
/* OpenTelemetry severity number and text ("INFO", ...) of a level. */
tel_severity tel_log_level_severity(tel_log_level lvl);
const char *tel_log_level_severity_text(tel_log_level lvl);

/* Sends lines to fd (borrowed, never closed; default 2, stderr) and returns the previous one.
 * A negative fd discards lines (the OTLP pipeline still gets records). */
int tel_log_set_output(int fd);

/* Sets the "service" of every line (copied; NULL: back to OTEL_SERVICE_NAME or
 * "unknown_service"). Earlier names stay allocated (a few bytes each) so that concurrent loggers
 * never read freed memory: call it a few times per process, not per request. */
void tel_log_set_service(const char *service_name);

/* Installs p as the OTLP log pipeline (borrowed) and returns the previous one (NULL when none).
 * When it returns, no thread is still handing a record to the previous processor, which the
 * caller may then shut down and destroy. p NULL uninstalls. */
tel_log_processor *tel_log_set_processor(tel_log_processor *p);

#ifdef __cplusplus
}
#endif
#endif
