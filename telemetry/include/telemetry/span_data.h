/* The record of an ended span, as processors and exporters see it.
 *
 * A record is a fixed-size value: the first TEL_SPAN_INLINE_ATTRS attributes and up to
 * TEL_SPAN_ARENA bytes of copied strings live inline, so a typical span costs no allocation.
 * Anything beyond (more attributes, events, links, long strings, dynamic names) lives in `extra`,
 * a block owned by the record. All pointers inside a record point into the record itself, into
 * its extra block, to string literals the application passed, or to the scope (which outlives
 * every record of its provider).
 *
 * Ownership: the record owns `extra` and one reference on `ts`. tel_span_data_move transfers
 * both; tel_span_data_release frees them. */
#ifndef TELEMETRY_SPAN_DATA_H
#define TELEMETRY_SPAN_DATA_H

#include "common.h"
#include "ids.h"
#include "resource.h"
#include "tracestate.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TEL_SPAN_INLINE_ATTRS 16
#define TEL_SPAN_ARENA 256

typedef enum tel_span_kind {
    TEL_SPAN_KIND_INTERNAL = 1, /* values match OTLP's SpanKind */
    TEL_SPAN_KIND_SERVER = 2,
    TEL_SPAN_KIND_CLIENT = 3,
    TEL_SPAN_KIND_PRODUCER = 4,
    TEL_SPAN_KIND_CONSUMER = 5,
} tel_span_kind;

typedef enum tel_status_code {
    TEL_STATUS_UNSET = 0, /* values match OTLP's Status.StatusCode */
    TEL_STATUS_OK = 1,
    TEL_STATUS_ERROR = 2,
} tel_status_code;

typedef struct tel_event {
    const char *name;
    uint64_t time_ns;
    tel_attr *attrs;
    uint32_t n_attrs;
    uint32_t dropped_attrs;
} tel_event;

typedef struct tel_link {
    tel_span_context sc;
    const char *tracestate; /* may be NULL */
    tel_attr *attrs;
    uint32_t n_attrs;
    uint32_t dropped_attrs;
} tel_link;

/* Out-of-line part of a record: allocated on first need, freed with the record. Its arrays and
 * strings are carved from chunks chained at `chunks` (freed together). */
typedef struct tel_span_extra {
    tel_attr *attrs; /* attributes past the inline ones */
    uint32_t n_attrs, cap_attrs;
    tel_event *events;
    uint32_t n_events, cap_events;
    tel_link *links;
    uint32_t n_links, cap_links;
    void *chunks; /* private allocator state */
} tel_span_extra;

typedef struct tel_span_data {
    tel_span_context sc;      /* this span's ids and trace flags */
    uint8_t parent_span_id[TEL_SPAN_ID_SIZE]; /* zero for a root span */
    uint8_t kind;             /* tel_span_kind */
    uint8_t status;           /* tel_status_code */
    bool parent_remote;       /* the parent came from another process */
    bool has_parent;
    uint16_t n_attrs;         /* inline attributes in use */
    uint16_t arena_used;      /* bytes of arena in use */
    uint32_t dropped_attrs;
    uint32_t dropped_events;
    uint32_t dropped_links;
    const char *name;
    const char *status_msg;   /* NULL unless status is ERROR with a description */
    const tel_scope *scope;
    tel_tracestate *ts;       /* owned reference or NULL */
    uint64_t start_ns, end_ns;
    tel_span_extra *extra;    /* owned or NULL */
    tel_attr attrs[TEL_SPAN_INLINE_ATTRS];
    char arena[TEL_SPAN_ARENA];
} tel_span_data;

/* Total attributes of the record (inline + extra). */
static inline uint32_t tel_span_data_attr_count(const tel_span_data *d)
{
    return d->n_attrs + (d->extra ? d->extra->n_attrs : 0);
}
/* Attribute i in insertion order, 0 <= i < tel_span_data_attr_count(d). */
static inline const tel_attr *tel_span_data_attr(const tel_span_data *d, uint32_t i)
{
    return i < d->n_attrs ? &d->attrs[i] : &d->extra->attrs[i - d->n_attrs];
}
static inline uint32_t tel_span_data_event_count(const tel_span_data *d)
{
    return d->extra ? d->extra->n_events : 0;
}
static inline uint32_t tel_span_data_link_count(const tel_span_data *d)
{
    return d->extra ? d->extra->n_links : 0;
}

/* Moves src into dst (dst's previous content is overwritten, not released): copies only the used
 * part of the inline storage, re-points arena strings, and transfers extra and ts. src is left
 * without extra and ts. Never allocates. */
void tel_span_data_move(tel_span_data *dst, tel_span_data *src);

/* Frees the record's extra block and drops its tracestate reference. */
void tel_span_data_release(tel_span_data *d);

#ifdef __cplusplus
}
#endif
#endif
