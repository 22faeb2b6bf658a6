/* Spans read back from OTLP JSON lines, for `bmcctl trace show`.
 *
 * Input: one JSON object per line, each an ExportTraceServiceRequest ({"resourceSpans":[...]}),
 * as written by the telemetry file exporter and by an OpenTelemetry Collector's file exporter.
 * Lines holding metrics or logs ({"resourceMetrics":...}, {"resourceLogs":...}) are skipped
 * silently; so are blank lines. A line of the test OTLP receiver's --out format
 * ({"meta":{...},"request":{...}}) is read through its "request" member. Accepted encodings of
 * the fields (OTLP/JSON and the protobuf JSON mapping): ids as lowercase/uppercase hex or
 * base64; 64-bit times as decimal strings or numbers; kind and status code as integers or enum
 * names ("SPAN_KIND_SERVER", "STATUS_CODE_ERROR"); "scopeSpans" or the older
 * "instrumentationLibrarySpans". A malformed line, or a span without valid ids or times, is
 * counted in `bad` and skipped; the rest of the input is still used.
 *
 * Ownership: a cli_span_set owns its spans and their strings. Not thread safe (one thread). */
#ifndef CLI_TRACE_H
#define CLI_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CLI_STATUS_UNSET = 0,
    CLI_STATUS_OK = 1,
    CLI_STATUS_ERROR = 2,
};

typedef struct cli_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8]; /* all zero for a root */
    char *name;           /* owned; never NULL */
    char *service;        /* resource service.name, owned; "unknown_service" when absent */
    int kind;             /* OTLP SpanKind number (0 unspecified .. 5 consumer) */
    uint64_t start_ns;    /* ns since the epoch */
    uint64_t end_ns;      /* >= start_ns (a span ending before it starts is clamped) */
    int status;           /* CLI_STATUS_* */
    char *status_message; /* owned; NULL when none */
} cli_span;

typedef struct cli_span_set {
    cli_span *spans;
    size_t n, cap;
    size_t lines;   /* non-blank lines read */
    size_t bad;     /* malformed lines plus skipped spans */
    size_t *index;  /* private: open-addressing set of span positions + 1 (0 = empty) */
    size_t index_cap;
} cli_span_set;

/* Sets *s to the empty set. */
void cli_span_set_init(cli_span_set *s);
/* Frees every span and resets *s to empty. */
void cli_span_set_cleanup(cli_span_set *s);

/* Parses one line (len bytes, need not be NUL-terminated) and adds its spans; when `only` is
 * not NULL, only spans of that trace id are kept. A span whose (trace id, span id) is already
 * in the set is ignored (the same export read twice). Returns 0 (also for skipped and
 * malformed lines, which are counted) or -1 when memory ran out. */
int cli_span_set_add_line(cli_span_set *s, const char *line, size_t len, const uint8_t *only);

/* Reads every line of f (no line length limit) as cli_span_set_add_line. Returns 0, or -1 on a
 * read error or when memory ran out. */
int cli_span_set_load_stream(cli_span_set *s, FILE *f, const uint8_t *only);

/* Opens path and reads it as cli_span_set_load_stream. Returns 0, or -1 with errno set when the
 * file cannot be opened or read. */
int cli_span_set_load_file(cli_span_set *s, const char *path, const uint8_t *only);

/* Writes the distinct trace ids of the set, ordered by their earliest span start, into ids
 * (up to max entries) and returns how many distinct ids there are (may exceed max). */
size_t cli_span_set_trace_ids(const cli_span_set *s, uint8_t (*ids)[16], size_t max);

/* Parses a trace id given as 32 hex digits (either case). Returns true when it is one and is
 * not all zero. */
bool cli_trace_id_parse(const char *text, uint8_t out[16]);

/* Writes 2n lowercase hex digits and a NUL into out. */
void cli_hex(const uint8_t *id, size_t n, char *out);

#ifdef __cplusplus
}
#endif
#endif
