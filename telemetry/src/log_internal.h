/* The log line writer behind tel_log, exposed for tests and the fuzz target. */
#ifndef TELEMETRY_LOG_INTERNAL_H
#define TELEMETRY_LOG_INTERNAL_H

#include "telemetry/log.h"
#include "telemetry/otlp.h"

/* Everything one line shows. */
typedef struct tel__log_line {
    uint64_t time_ns; /* wall clock, ns since the epoch */
    tel_log_level level;
    const char *msg; /* msg[0..msg_len): any bytes */
    size_t msg_len;
    const char *service_json; /* the service as an already escaped, quoted JSON string */
    size_t service_json_len;
    bool has_span;
    uint8_t trace_id[TEL_TRACE_ID_SIZE];
    uint8_t span_id[TEL_SPAN_ID_SIZE];
    const tel_attr *attrs; /* any bytes in keys and string values; denied keys redacted */
    size_t n_attrs;
} tel__log_line;

/* Appends the line's JSON object and a newline to out. Returns TEL_OK or TEL_ENOMEM (out is
 * then restored to its previous length). */
int tel__log_format(tel_buf *out, const tel__log_line *l);

/* Writes "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (30 bytes, no NUL) for time_ns to out. */
void tel__log_rfc3339(uint64_t time_ns, char out[30]);

/* Forgets the threshold so that the next call reads LOG_LEVEL again (tests). */
void tel__log_reset_level(void);

#endif
