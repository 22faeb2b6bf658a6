/* OTLP protobuf: a direct writer from span records into a reusable buffer, and the decoder of
 * Export*ServiceResponse bodies.
 *
 * The writer has no message tree and allocates nothing per span. Lengths of nested messages are
 * either computed before the message is written (KeyValue with a scalar value, Status, which are
 * the hot path) or reserved with a guessed varint width and back-patched; a wrong guess costs a
 * memmove of that message's body, and the guesses (2 bytes for a span, 3 for a ScopeSpans) are
 * right for the common sizes (128 B..16 KiB spans, 16 KiB..2 MiB batches).
 *
 * Field numbers are those of opentelemetry-proto (common/v1, resource/v1, trace/v1, metrics/v1,
 * logs/v1, collector/.../v1), checked against the generated code of
 * @opentelemetry/otlp-transformer 0.52.1. The three signals share everything but their record
 * messages: the request/resource/scope grouping (encode_request) and the common messages. */
#include <stddef.h>
#include <string.h>

#include "telemetry/otlp.h"
#include "otlp_internal.h"
#include "telemetry/tracestate.h"

#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__)
#error "byte order macros needed"
#endif

/* ---- Wire format ---- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };
#define TAG(field, wt) ((uint8_t)(((field) << 3) | (wt)))

/* Fields used below (one-byte tags: field numbers < 16). The request, resource and scope levels
 * have the same numbers in every signal: */
/* Export{Trace,Metrics,Logs}ServiceRequest */
#define REQ_RESOURCE_X TAG(1, WT_LEN)
/* Resource{Spans,Metrics,Logs} */
#define RS_RESOURCE TAG(1, WT_LEN)
#define RS_SCOPE_X TAG(2, WT_LEN)
#define RS_SCHEMA_URL TAG(3, WT_LEN)
/* Resource */
#define RES_ATTRIBUTES TAG(1, WT_LEN)
/* Scope{Spans,Metrics,Logs}: spans, metrics, log_records are field 2 */
#define SS_SCOPE TAG(1, WT_LEN)
#define SS_ITEMS TAG(2, WT_LEN)
#define SS_SCHEMA_URL TAG(3, WT_LEN)
/* InstrumentationScope */
#define SCOPE_NAME TAG(1, WT_LEN)
#define SCOPE_VERSION TAG(2, WT_LEN)
/* Span */
#define SPAN_TRACE_ID TAG(1, WT_LEN)
#define SPAN_SPAN_ID TAG(2, WT_LEN)
#define SPAN_TRACE_STATE TAG(3, WT_LEN)
#define SPAN_PARENT_SPAN_ID TAG(4, WT_LEN)
#define SPAN_NAME TAG(5, WT_LEN)
#define SPAN_KIND TAG(6, WT_VARINT)
#define SPAN_START TAG(7, WT_I64)
#define SPAN_END TAG(8, WT_I64)
#define SPAN_ATTRIBUTES TAG(9, WT_LEN)
#define SPAN_DROPPED_ATTRS TAG(10, WT_VARINT)
#define SPAN_EVENTS TAG(11, WT_LEN)
#define SPAN_DROPPED_EVENTS TAG(12, WT_VARINT)
#define SPAN_LINKS TAG(13, WT_LEN)
#define SPAN_DROPPED_LINKS TAG(14, WT_VARINT)
#define SPAN_STATUS TAG(15, WT_LEN)
/* Span.flags is field 16, fixed32: two-byte tag 0x85 0x01. */
#define SPAN_FLAGS_TAG0 0x85
#define SPAN_FLAGS_TAG1 0x01
/* Span.Event */
#define EV_TIME TAG(1, WT_I64)
#define EV_NAME TAG(2, WT_LEN)
#define EV_ATTRIBUTES TAG(3, WT_LEN)
#define EV_DROPPED_ATTRS TAG(4, WT_VARINT)
/* Span.Link */
#define LINK_TRACE_ID TAG(1, WT_LEN)
#define LINK_SPAN_ID TAG(2, WT_LEN)
#define LINK_TRACE_STATE TAG(3, WT_LEN)
#define LINK_ATTRIBUTES TAG(4, WT_LEN)
#define LINK_DROPPED_ATTRS TAG(5, WT_VARINT)
#define LINK_FLAGS TAG(6, WT_I32)
/* Status */
#define STATUS_MESSAGE TAG(2, WT_LEN)
#define STATUS_CODE TAG(3, WT_VARINT)
/* KeyValue, AnyValue, ArrayValue */
#define KV_KEY TAG(1, WT_LEN)
#define KV_VALUE TAG(2, WT_LEN)
#define AV_STRING TAG(1, WT_LEN)
#define AV_BOOL TAG(2, WT_VARINT)
#define AV_INT TAG(3, WT_VARINT)
#define AV_DOUBLE TAG(4, WT_I64)
#define AV_ARRAY TAG(5, WT_LEN)
#define ARR_VALUES TAG(1, WT_LEN)
/* Metric */
#define M_NAME TAG(1, WT_LEN)
#define M_DESCRIPTION TAG(2, WT_LEN)
#define M_UNIT TAG(3, WT_LEN)
#define M_GAUGE TAG(5, WT_LEN)
#define M_SUM TAG(7, WT_LEN)
#define M_HISTOGRAM TAG(9, WT_LEN)
/* Gauge, Sum, Histogram */
#define DATA_POINTS TAG(1, WT_LEN)
#define AGG_TEMPORALITY TAG(2, WT_VARINT)
#define SUM_IS_MONOTONIC TAG(3, WT_VARINT)
/* NumberDataPoint */
#define NDP_START TAG(2, WT_I64)
#define NDP_TIME TAG(3, WT_I64)
#define NDP_AS_DOUBLE TAG(4, WT_I64)
#define NDP_EXEMPLARS TAG(5, WT_LEN)
#define NDP_AS_INT TAG(6, WT_I64)
#define NDP_ATTRIBUTES TAG(7, WT_LEN)
/* HistogramDataPoint */
#define HDP_START TAG(2, WT_I64)
#define HDP_TIME TAG(3, WT_I64)
#define HDP_COUNT TAG(4, WT_I64)
#define HDP_SUM TAG(5, WT_I64)
#define HDP_BUCKET_COUNTS TAG(6, WT_LEN)   /* packed fixed64 */
#define HDP_EXPLICIT_BOUNDS TAG(7, WT_LEN) /* packed double */
#define HDP_EXEMPLARS TAG(8, WT_LEN)
#define HDP_ATTRIBUTES TAG(9, WT_LEN)
#define HDP_MIN TAG(11, WT_I64)
#define HDP_MAX TAG(12, WT_I64)
/* Exemplar */
#define EX_TIME TAG(2, WT_I64)
#define EX_AS_DOUBLE TAG(3, WT_I64)
#define EX_SPAN_ID TAG(4, WT_LEN)
#define EX_TRACE_ID TAG(5, WT_LEN)
#define EX_AS_INT TAG(6, WT_I64)
#define EX_FILTERED_ATTRIBUTES TAG(7, WT_LEN)
/* LogRecord */
#define LR_TIME TAG(1, WT_I64)
#define LR_SEVERITY_NUMBER TAG(2, WT_VARINT)
#define LR_SEVERITY_TEXT TAG(3, WT_LEN)
#define LR_BODY TAG(5, WT_LEN)
#define LR_ATTRIBUTES TAG(6, WT_LEN)
#define LR_DROPPED_ATTRS TAG(7, WT_VARINT)
#define LR_FLAGS TAG(8, WT_I32)
#define LR_TRACE_ID TAG(9, WT_LEN)
#define LR_SPAN_ID TAG(10, WT_LEN)
#define LR_OBSERVED_TIME TAG(11, WT_I64)

/* SpanFlags (trace.proto): bit 8 says bit 9 is known; bit 9 = the parent (link) is remote. */
#define FLAG_HAS_IS_REMOTE 0x100u
#define FLAG_IS_REMOTE 0x200u

/* Varint width of v: 1 + floor(log2(v|1)) / 7, branch free. */
static inline size_t vsize(uint64_t v)
{
    return (size_t)(((63u - (unsigned)__builtin_clzll(v | 1u)) * 9u + 73u) / 64u);
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *put_fixed64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
    return p + 8;
}

static inline uint8_t *put_fixed32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, 4);
    return p + 4;
}

/* memcpy without the call for the short strings (keys, names, values) that dominate spans:
 * overlapping fixed-size moves that the compiler turns into plain loads and stores. */
static inline void copy_bytes(uint8_t *dst, const void *src, size_t n)
{
    const uint8_t *s = src;
    if (n <= 16) {
        if (n >= 8) {
            uint64_t a, b;
            memcpy(&a, s, 8);
            memcpy(&b, s + n - 8, 8);
            memcpy(dst, &a, 8);
            memcpy(dst + n - 8, &b, 8);
        } else if (n >= 4) {
            uint32_t a, b;
            memcpy(&a, s, 4);
            memcpy(&b, s + n - 4, 4);
            memcpy(dst, &a, 4);
            memcpy(dst + n - 4, &b, 4);
        } else if (n) {
            dst[0] = s[0];
            dst[n / 2] = s[n / 2];
            dst[n - 1] = s[n - 1];
        }
    } else if (n <= 32) {
        uint64_t a[2], b[2];
        memcpy(a, s, 16);
        memcpy(b, s + n - 16, 16);
        memcpy(dst, a, 16);
        memcpy(dst + n - 16, b, 16);
    } else {
        memcpy(dst, s, n);
    }
}

static inline uint8_t *put_len(uint8_t *p, size_t n)
{
    if (TEL_LIKELY(n < 0x80)) {
        *p = (uint8_t)n;
        return p + 1;
    }
    return put_varint(p, n);
}

static inline uint8_t *put_bytes(uint8_t *p, uint8_t tag, const void *s, size_t n)
{
    *p++ = tag;
    p = put_len(p, n);
    copy_bytes(p, s, n);
    return p + n;
}

/* ---- Writer over a tel_buf ---- */

/* Lengths of the strings seen in this encode call, by address: keys and span names are mostly
 * literals shared by every span of a batch, so this saves a strlen per key. Records do not
 * change during a call, so an address always has the same length. */
#define LEN_CACHE 64

typedef struct pbw {
    tel_buf *b;
    uint8_t *p;   /* cursor inside b->data */
    uint8_t *end; /* b->data + b->cap */
    const char *lc_ptr[LEN_CACHE];
    uint32_t lc_len[LEN_CACHE];
} pbw;

static inline size_t cached_len(pbw *w, const char *s)
{
    if (!s) return 0;
    uintptr_t a = (uintptr_t)s;
    size_t h = (size_t)((a ^ (a >> 6) ^ (a >> 12)) & (LEN_CACHE - 1));
    if (TEL_LIKELY(w->lc_ptr[h] == s)) return w->lc_len[h];
    size_t n = strlen(s);
    if (n <= UINT32_MAX) {
        w->lc_ptr[h] = s;
        w->lc_len[h] = (uint32_t)n;
    }
    return n;
}

__attribute__((noinline, cold)) static int pbw_grow(pbw *w, size_t need)
{
    tel_buf *b = w->b;
    b->len = (size_t)(w->p - b->data);
    int rc = tel_buf_reserve(b, need > b->cap ? need : b->cap);
    w->p = b->data + b->len;
    w->end = b->data + b->cap;
    return rc;
}

/* Makes room for n bytes at the cursor or returns TEL_ENOMEM from the calling function. */
#define ENSURE(w, n)                                                                               \
    do {                                                                                           \
        size_t need_ = (n);                                                                        \
        if (TEL_UNLIKELY((size_t)((w)->end - (w)->p) < need_) && pbw_grow((w), need_) != TEL_OK)   \
            return TEL_ENOMEM;                                                                     \
    } while (0)

/* Starts a length-delimited field of unknown length: writes the one-byte tag and reserves
 * `guess` bytes for the length. Returns the body's offset. The caller has ensured 1+guess. */
static inline size_t nest_begin(pbw *w, uint8_t tag, unsigned guess)
{
    *w->p++ = tag;
    w->p += guess;
    return (size_t)(w->p - w->b->data);
}

/* Ends the field started at body offset `off`: writes its length, moving the body when the
 * length's width differs from the guess. */
static inline int nest_end(pbw *w, size_t off, unsigned guess)
{
    size_t len = (size_t)(w->p - w->b->data) - off;
    unsigned need = (unsigned)vsize(len);
    if (TEL_UNLIKELY(need != guess)) {
        ptrdiff_t shift = (ptrdiff_t)need - (ptrdiff_t)guess;
        if (shift > 0) ENSURE(w, (size_t)shift);
        uint8_t *body = w->b->data + off;
        memmove(body + shift, body, len);
        w->p = body + shift + (ptrdiff_t)len;
        off = (size_t)((ptrdiff_t)off + shift);
    }
    uint8_t *q = w->b->data + off - need;
    while (len >= 0x80) {
        *q++ = (uint8_t)(len | 0x80);
        len >>= 7;
    }
    *q = (uint8_t)len;
    return TEL_OK;
}

static inline size_t str_len(const char *s)
{
    return s ? strlen(s) : 0;
}

/* ---- Common messages: AnyValue, KeyValue, InstrumentationScope, Resource ---- */

/* Body size of an AnyValue holding a scalar attribute. */
static inline size_t anyvalue_scalar_size(const tel_attr *a)
{
    switch (a->type) {
    case TEL_ATTR_STRING:
        return 1 + vsize(a->len) + a->len;
    case TEL_ATTR_BOOL:
        return 2;
    case TEL_ATTR_INT:
        return 1 + vsize((uint64_t)a->v.i);
    case TEL_ATTR_DOUBLE:
        return 9;
    default:
        return 0; /* NONE: an empty AnyValue */
    }
}

static inline uint8_t *put_anyvalue_scalar(uint8_t *p, const tel_attr *a)
{
    switch (a->type) {
    case TEL_ATTR_STRING:
        return put_bytes(p, AV_STRING, a->v.s, a->len);
    case TEL_ATTR_BOOL:
        p[0] = AV_BOOL;
        p[1] = a->v.b ? 1 : 0;
        return p + 2;
    case TEL_ATTR_INT:
        *p++ = AV_INT;
        return put_varint(p, (uint64_t)a->v.i);
    case TEL_ATTR_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &a->v.d, 8);
        *p++ = AV_DOUBLE;
        return put_fixed64(p, bits);
    }
    default:
        return p;
    }
}

/* ArrayValue element (field 1 of ArrayValue) for element i of an array attribute. */
static int put_array_element(pbw *w, const tel_attr *a, uint32_t i)
{
    tel_attr el = tel_attr_array_element(a, i);
    size_t av = anyvalue_scalar_size(&el);
    ENSURE(w, 1 + 10 + av);
    uint8_t *p = w->p;
    *p++ = ARR_VALUES;
    p = put_varint(p, av);
    w->p = put_anyvalue_scalar(p, &el);
    return TEL_OK;
}

/* A KeyValue whose value is an array: nested lengths are back-patched. */
__attribute__((noinline)) static int put_kv_array(pbw *w, uint8_t tag, const tel_attr *a,
                                                  size_t klen)
{
    ENSURE(w, 3 + 1 + 10 + klen + 3 + 3);
    size_t kv = nest_begin(w, tag, 2);
    w->p = put_bytes(w->p, KV_KEY, a->key, klen);
    size_t anyv = nest_begin(w, KV_VALUE, 2);
    size_t arr = nest_begin(w, AV_ARRAY, 2);
    uint32_t n = a->v.arr ? a->len : 0;
    for (uint32_t i = 0; i < n; i++)
        if (put_array_element(w, a, i) != TEL_OK) return TEL_ENOMEM;
    if (nest_end(w, arr, 2) != TEL_OK || nest_end(w, anyv, 2) != TEL_OK ||
        nest_end(w, kv, 2) != TEL_OK)
        return TEL_ENOMEM;
    return TEL_OK;
}

/* One attribute as a KeyValue in field `tag` of the enclosing message. */
__attribute__((always_inline)) static inline int put_kv(pbw *w, uint8_t tag, const tel_attr *a)
{
    size_t klen = cached_len(w, a->key);
    if (TEL_UNLIKELY(a->type >= TEL_ATTR_STRING_ARRAY)) return put_kv_array(w, tag, a, klen);
    size_t av = anyvalue_scalar_size(a);
    size_t kv = 1 + vsize(klen) + klen + 1 + vsize(av) + av;
    ENSURE(w, 1 + 10 + kv);
    uint8_t *p = w->p;
    *p++ = tag;
    p = put_len(p, kv);
    p = put_bytes(p, KV_KEY, a->key, klen);
    *p++ = KV_VALUE;
    p = put_len(p, av);
    w->p = put_anyvalue_scalar(p, a);
    return TEL_OK;
}

static int put_attrs(pbw *w, uint8_t tag, const tel_attr *attrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = put_kv(w, tag, &attrs[i]);
        if (rc != TEL_OK) return rc;
    }
    return TEL_OK;
}

static inline int put_varint_field(pbw *w, uint8_t tag, uint64_t v)
{
    ENSURE(w, 11);
    *w->p++ = tag;
    w->p = put_varint(w->p, v);
    return TEL_OK;
}

static int put_string_field(pbw *w, uint8_t tag, const char *s)
{
    size_t n = str_len(s);
    ENSURE(w, 11 + n);
    w->p = put_bytes(w->p, tag, s, n);
    return TEL_OK;
}

/* InstrumentationScope as field `tag`. */
static int put_scope(pbw *w, uint8_t tag, const tel_scope *sc)
{
    size_t nl = sc ? str_len(sc->name) : 0, vl = sc ? str_len(sc->version) : 0;
    size_t body = (nl ? 1 + vsize(nl) + nl : 0) + (vl ? 1 + vsize(vl) + vl : 0);
    ENSURE(w, 11 + body);
    uint8_t *p = w->p;
    *p++ = tag;
    p = put_varint(p, body);
    if (nl) p = put_bytes(p, SCOPE_NAME, sc->name, nl);
    if (vl) p = put_bytes(p, SCOPE_VERSION, sc->version, vl);
    w->p = p;
    return TEL_OK;
}

/* Resource as field `tag`. */
static int put_resource(pbw *w, uint8_t tag, const tel_resource *res)
{
    ENSURE(w, 1 + 3);
    size_t off = nest_begin(w, tag, 2);
    if (res && put_attrs(w, RES_ATTRIBUTES, res->attrs, res->n_attrs) != TEL_OK) return TEL_ENOMEM;
    return nest_end(w, off, 2);
}

/* ---- Traces ---- */

static int put_event(pbw *w, const tel_event *e)
{
    size_t nl = str_len(e->name);
    ENSURE(w, 3 + 9 + 11 + nl);
    size_t off = nest_begin(w, SPAN_EVENTS, 2);
    uint8_t *p = w->p;
    *p++ = EV_TIME;
    p = put_fixed64(p, e->time_ns);
    w->p = put_bytes(p, EV_NAME, e->name, nl);
    if (put_attrs(w, EV_ATTRIBUTES, e->attrs, e->n_attrs) != TEL_OK) return TEL_ENOMEM;
    if (e->dropped_attrs && put_varint_field(w, EV_DROPPED_ATTRS, e->dropped_attrs) != TEL_OK)
        return TEL_ENOMEM;
    return nest_end(w, off, 2);
}

static int put_link(pbw *w, const tel_link *l)
{
    size_t tl = str_len(l->tracestate);
    ENSURE(w, 3 + 18 + 10 + 11 + tl);
    size_t off = nest_begin(w, SPAN_LINKS, 2);
    uint8_t *p = w->p;
    p = put_bytes(p, LINK_TRACE_ID, l->sc.trace_id, TEL_TRACE_ID_SIZE);
    p = put_bytes(p, LINK_SPAN_ID, l->sc.span_id, TEL_SPAN_ID_SIZE);
    if (tl) p = put_bytes(p, LINK_TRACE_STATE, l->tracestate, tl);
    w->p = p;
    if (put_attrs(w, LINK_ATTRIBUTES, l->attrs, l->n_attrs) != TEL_OK) return TEL_ENOMEM;
    ENSURE(w, 11 + 5);
    p = w->p;
    if (l->dropped_attrs) {
        *p++ = LINK_DROPPED_ATTRS;
        p = put_varint(p, l->dropped_attrs);
    }
    *p++ = LINK_FLAGS;
    w->p = put_fixed32(p, l->sc.flags | FLAG_HAS_IS_REMOTE | (l->sc.remote ? FLAG_IS_REMOTE : 0));
    return nest_end(w, off, 2);
}

/* One Span as field 2 of ScopeSpans. */
static int put_span(pbw *w, const tel_span_data *d)
{
    size_t nl = cached_len(w, d->name);
    size_t tsl = 0;
    const char *ts = d->ts ? tel_tracestate_str(d->ts, &tsl) : NULL;
    /* tag+len, trace id, span id, tracestate, parent, name, kind, start, end */
    ENSURE(w, 3 + 18 + 10 + (11 + tsl) + 10 + (11 + nl) + 2 + 18);
    size_t off = nest_begin(w, SS_ITEMS, 2);
    uint8_t *p = w->p;
    p[0] = SPAN_TRACE_ID;
    p[1] = TEL_TRACE_ID_SIZE;
    memcpy(p + 2, d->sc.trace_id, TEL_TRACE_ID_SIZE);
    p[18] = SPAN_SPAN_ID;
    p[19] = TEL_SPAN_ID_SIZE;
    memcpy(p + 20, d->sc.span_id, TEL_SPAN_ID_SIZE);
    p += 28;
    if (tsl) p = put_bytes(p, SPAN_TRACE_STATE, ts, tsl);
    if (d->has_parent) {
        p[0] = SPAN_PARENT_SPAN_ID;
        p[1] = TEL_SPAN_ID_SIZE;
        memcpy(p + 2, d->parent_span_id, TEL_SPAN_ID_SIZE);
        p += 10;
    }
    p = put_bytes(p, SPAN_NAME, d->name, nl);
    if (d->kind) {
        p[0] = SPAN_KIND;
        p[1] = d->kind & 0x7f;
        p += 2;
    }
    *p++ = SPAN_START;
    p = put_fixed64(p, d->start_ns);
    *p++ = SPAN_END;
    p = put_fixed64(p, d->end_ns);
    w->p = p;

    if (put_attrs(w, SPAN_ATTRIBUTES, d->attrs, d->n_attrs) != TEL_OK) return TEL_ENOMEM;
    const tel_span_extra *x = d->extra;
    if (x) {
        if (put_attrs(w, SPAN_ATTRIBUTES, x->attrs, x->n_attrs) != TEL_OK) return TEL_ENOMEM;
        for (uint32_t i = 0; i < x->n_events; i++)
            if (put_event(w, &x->events[i]) != TEL_OK) return TEL_ENOMEM;
        for (uint32_t i = 0; i < x->n_links; i++)
            if (put_link(w, &x->links[i]) != TEL_OK) return TEL_ENOMEM;
    }
    /* Fields 10, 12, 14 after the repeated ones: field order on the wire does not matter. */
    size_t ml = d->status == TEL_STATUS_ERROR ? str_len(d->status_msg) : 0;
    ENSURE(w, 3 * 6 + (1 + 10 + 1 + 10 + ml + 2) + 6);
    p = w->p;
    if (d->dropped_attrs) {
        *p++ = SPAN_DROPPED_ATTRS;
        p = put_varint(p, d->dropped_attrs);
    }
    if (d->dropped_events) {
        *p++ = SPAN_DROPPED_EVENTS;
        p = put_varint(p, d->dropped_events);
    }
    if (d->dropped_links) {
        *p++ = SPAN_DROPPED_LINKS;
        p = put_varint(p, d->dropped_links);
    }
    if (d->status != TEL_STATUS_UNSET || ml) {
        size_t body = (ml ? 1 + vsize(ml) + ml : 0) + (d->status ? 2 : 0);
        *p++ = SPAN_STATUS;
        p = put_varint(p, body);
        if (ml) p = put_bytes(p, STATUS_MESSAGE, d->status_msg, ml);
        if (d->status) {
            p[0] = STATUS_CODE;
            p[1] = d->status & 0x7f;
            p += 2;
        }
    }
    p[0] = SPAN_FLAGS_TAG0;
    p[1] = SPAN_FLAGS_TAG1;
    w->p = put_fixed32(p + 2, d->sc.flags | FLAG_HAS_IS_REMOTE |
                                  (d->has_parent && d->parent_remote ? FLAG_IS_REMOTE : 0));
    return nest_end(w, off, 2);
}

/* ---- Request, resource and scope levels (every signal) ---- */

/* The records of one request as the generic writer sees them: item i's scope, whether two items
 * share a scope, and the writer of item i as field 2 of its Scope{Spans,Metrics,Logs}. */
typedef struct pb_signal {
    tel_scope (*scope)(const void *items, size_t i);
    bool (*same_scope)(const void *items, size_t i, size_t j);
    int (*put_item)(pbw *w, const void *items, size_t i);
} pb_signal;

/* One Scope{Spans,Metrics,Logs} with every item of item first's scope from `first` on. */
static inline __attribute__((always_inline)) int
put_scope_items(pbw *w, const pb_signal *sig, const void *items, size_t first, size_t n)
{
    ENSURE(w, 1 + 3);
    size_t off = nest_begin(w, RS_SCOPE_X, 3);
    tel_scope sc = sig->scope(items, first);
    if (put_scope(w, SS_SCOPE, &sc) != TEL_OK) return TEL_ENOMEM;
    for (size_t i = first; i < n; i++) {
        if (i != first && !sig->same_scope(items, first, i)) continue;
        int rc = sig->put_item(w, items, i);
        if (rc != TEL_OK) return rc;
    }
    if (sc.schema_url && put_string_field(w, SS_SCHEMA_URL, sc.schema_url) != 0) return TEL_ENOMEM;
    return nest_end(w, off, 3);
}

/* True when item i's scope was already written: it is the scope of an item in
 * firsts[0..n_firsts) or, once `firsts` overflowed, of any item before i. */
static inline __attribute__((always_inline)) bool scope_done(const pb_signal *sig,
                                                             const void *items, size_t i,
                                                             const size_t *firsts, size_t n_firsts,
                                                             bool overflow)
{
    for (size_t k = 0; k < n_firsts; k++)
        if (sig->same_scope(items, firsts[k], i)) return true;
    if (overflow)
        for (size_t j = 0; j < i; j++)
            if (sig->same_scope(items, j, i)) return true;
    return false;
}

/* One Resource{Spans,Metrics,Logs} with a Scope{...} per distinct scope in first-seen order.
 * Inlined per signal so that the signal's functions are direct calls. */
static inline __attribute__((always_inline)) int
encode_request(pbw *w, const tel_resource *res, const pb_signal *sig, const void *items, size_t n)
{
    if (n == 0) return TEL_OK;
    ENSURE(w, 1 + 3);
    size_t rs = nest_begin(w, REQ_RESOURCE_X, 3);
    if (put_resource(w, RS_RESOURCE, res) != TEL_OK) return TEL_ENOMEM;
    size_t firsts[32];
    size_t n_firsts = 0;
    bool overflow = false;
    for (size_t i = 0; i < n; i++) {
        if (scope_done(sig, items, i, firsts, n_firsts, overflow)) continue;
        if (n_firsts < sizeof firsts / sizeof firsts[0])
            firsts[n_firsts++] = i;
        else
            overflow = true;
        int rc = put_scope_items(w, sig, items, i, n);
        if (rc != TEL_OK) return rc;
    }
    if (res && res->schema_url && put_string_field(w, RS_SCHEMA_URL, res->schema_url) != 0)
        return TEL_ENOMEM;
    return nest_end(w, rs, 3);
}

/* Runs encode_request into out (from its current length) with a first size guess. */
#define ENCODE_INTO(out, guess, res, sig, items, n)                                                \
    do {                                                                                           \
        if (!(out) || ((n) && !(items))) return TEL_EINVAL;                                        \
        size_t start_ = (out)->len;                                                                \
        if (tel_buf_reserve((out), (guess)) != TEL_OK) return TEL_ENOMEM;                          \
        pbw w_;                                                                                    \
        w_.b = (out);                                                                              \
        w_.p = (out)->data + (out)->len;                                                           \
        w_.end = (out)->data + (out)->cap;                                                         \
        memset(w_.lc_ptr, 0, sizeof w_.lc_ptr);                                                    \
        int rc_ = encode_request(&w_, (res), (sig), (items), (n));                                 \
        if (rc_ != TEL_OK) {                                                                       \
            (out)->len = start_;                                                                   \
            return rc_;                                                                            \
        }                                                                                          \
        (out)->len = (size_t)(w_.p - (out)->data);                                                 \
        return TEL_OK;                                                                             \
    } while (0)

/* ---- Traces: request ---- */

static int span_put(pbw *w, const void *items, size_t i)
{
    return put_span(w, ((const tel_span_data *const *)items)[i]);
}

static const pb_signal traces_signal = {tel__span_scope_at, tel__span_same_scope, span_put};

int tel_otlp_encode_traces_pb(tel_buf *out, const tel_resource *res,
                              const tel_span_data *const *spans, size_t n)
{
    /* A first guess of the size so that the common batch grows the buffer at most once. */
    ENCODE_INTO(out, 512 + n * 192, res, &traces_signal, spans, n);
}

/* ---- Metrics ---- */

static inline int put_fixed64_field(pbw *w, uint8_t tag, uint64_t v)
{
    ENSURE(w, 9);
    *w->p++ = tag;
    w->p = put_fixed64(w->p, v);
    return TEL_OK;
}

static inline int put_double_field(pbw *w, uint8_t tag, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    return put_fixed64_field(w, tag, bits);
}

/* The value oneof of NumberDataPoint and Exemplar (as_double / as_int, both 64-bit fixed). */
static inline int put_number(pbw *w, uint8_t tag_double, uint8_t tag_int, bool is_int, int64_t i,
                             double d)
{
    return is_int ? put_fixed64_field(w, tag_int, (uint64_t)i) : put_double_field(w, tag_double, d);
}

static int put_exemplar(pbw *w, uint8_t tag, const tel_exemplar *e)
{
    ENSURE(w, 1 + 2 + 9 + 9 + 18 + 10);
    size_t off = nest_begin(w, tag, 1);
    if (put_attrs(w, EX_FILTERED_ATTRIBUTES, e->filtered_attrs,
                  e->filtered_attrs ? e->n_filtered_attrs : 0) != TEL_OK ||
        put_fixed64_field(w, EX_TIME, e->time_ns) != TEL_OK ||
        put_number(w, EX_AS_DOUBLE, EX_AS_INT, e->is_int, e->value.i, e->value.d) != TEL_OK)
        return TEL_ENOMEM;
    if (e->has_span) {
        ENSURE(w, 18 + 10);
        w->p = put_bytes(w->p, EX_SPAN_ID, e->span_id, TEL_SPAN_ID_SIZE);
        w->p = put_bytes(w->p, EX_TRACE_ID, e->trace_id, TEL_TRACE_ID_SIZE);
    }
    return nest_end(w, off, 1);
}

static int put_exemplars(pbw *w, uint8_t tag, const tel_metric_point *p)
{
    for (uint32_t i = 0; p->exemplars && i < p->n_exemplars; i++)
        if (put_exemplar(w, tag, &p->exemplars[i]) != TEL_OK) return TEL_ENOMEM;
    return TEL_OK;
}

static int put_number_point(pbw *w, const tel_metric_point *p)
{
    ENSURE(w, 1 + 2);
    size_t off = nest_begin(w, DATA_POINTS, 2);
    if (put_attrs(w, NDP_ATTRIBUTES, p->attrs, p->attrs ? p->n_attrs : 0) != TEL_OK)
        return TEL_ENOMEM;
    if ((p->start_ns && put_fixed64_field(w, NDP_START, p->start_ns) != TEL_OK) ||
        put_fixed64_field(w, NDP_TIME, p->time_ns) != TEL_OK ||
        put_number(w, NDP_AS_DOUBLE, NDP_AS_INT, p->is_int, p->value.i, p->value.d) != TEL_OK ||
        put_exemplars(w, NDP_EXEMPLARS, p) != TEL_OK)
        return TEL_ENOMEM;
    return nest_end(w, off, 2);
}

/* A packed repeated fixed64/double field of n 8-byte values. */
static int put_packed64(pbw *w, uint8_t tag, const void *vals, size_t n)
{
    if (n == 0) return TEL_OK;
    ENSURE(w, 11 + 8 * n);
    *w->p++ = tag;
    w->p = put_varint(w->p, 8 * n);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(w->p, vals, 8 * n);
    w->p += 8 * n;
#else
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, (const uint8_t *)vals + 8 * i, 8);
        w->p = put_fixed64(w->p, v);
    }
#endif
    return TEL_OK;
}

static int put_histogram_point(pbw *w, const tel_metric *m, const tel_metric_point *p)
{
    ENSURE(w, 1 + 3);
    size_t off = nest_begin(w, DATA_POINTS, 3);
    if (put_attrs(w, HDP_ATTRIBUTES, p->attrs, p->attrs ? p->n_attrs : 0) != TEL_OK)
        return TEL_ENOMEM;
    if ((p->start_ns && put_fixed64_field(w, HDP_START, p->start_ns) != TEL_OK) ||
        put_fixed64_field(w, HDP_TIME, p->time_ns) != TEL_OK ||
        put_fixed64_field(w, HDP_COUNT, p->count) != TEL_OK ||
        put_double_field(w, HDP_SUM, p->sum) != TEL_OK)
        return TEL_ENOMEM;
    uint32_t nb = m->bounds ? m->n_bounds : 0;
    if ((p->bucket_counts && put_packed64(w, HDP_BUCKET_COUNTS, p->bucket_counts, nb + 1u) != 0) ||
        put_packed64(w, HDP_EXPLICIT_BOUNDS, m->bounds, nb) != TEL_OK ||
        put_exemplars(w, HDP_EXEMPLARS, p) != TEL_OK)
        return TEL_ENOMEM;
    if (p->has_min_max && (put_double_field(w, HDP_MIN, p->min) != TEL_OK ||
                           put_double_field(w, HDP_MAX, p->max) != TEL_OK))
        return TEL_ENOMEM;
    return nest_end(w, off, 3);
}

/* One Metric as field 2 of ScopeMetrics. */
static int put_metric(pbw *w, const tel_metric *m)
{
    ENSURE(w, 1 + 3);
    size_t off = nest_begin(w, SS_ITEMS, 3);
    if (put_string_field(w, M_NAME, m->name) != TEL_OK ||
        (m->description && *m->description &&
         put_string_field(w, M_DESCRIPTION, m->description) != TEL_OK) ||
        (m->unit && *m->unit && put_string_field(w, M_UNIT, m->unit) != TEL_OK))
        return TEL_ENOMEM;
    uint8_t tag = m->type == TEL_METRIC_SUM     ? M_SUM
                  : m->type == TEL_METRIC_GAUGE ? M_GAUGE
                                                : M_HISTOGRAM;
    ENSURE(w, 1 + 3);
    size_t data = nest_begin(w, tag, 3);
    for (size_t i = 0; m->points && i < m->n_points; i++) {
        int rc = m->type == TEL_METRIC_HISTOGRAM ? put_histogram_point(w, m, &m->points[i])
                                                 : put_number_point(w, &m->points[i]);
        if (rc != TEL_OK) return rc;
    }
    if (m->type != TEL_METRIC_GAUGE && m->temporality &&
        put_varint_field(w, AGG_TEMPORALITY, (uint64_t)m->temporality) != TEL_OK)
        return TEL_ENOMEM;
    if (m->type == TEL_METRIC_SUM && m->monotonic &&
        put_varint_field(w, SUM_IS_MONOTONIC, 1) != TEL_OK)
        return TEL_ENOMEM;
    if (nest_end(w, data, 3) != TEL_OK) return TEL_ENOMEM;
    return nest_end(w, off, 3);
}

static int metric_put(pbw *w, const void *items, size_t i)
{
    return put_metric(w, &((const tel_metric *)items)[i]);
}

static const pb_signal metrics_signal = {tel__metric_scope_at, tel__metric_same_scope, metric_put};

int tel_otlp_encode_metrics_pb(tel_buf *out, const tel_resource *res, const tel_metric *metrics,
                               size_t n)
{
    ENCODE_INTO(out, 512 + n * 256, res, &metrics_signal, metrics, n);
}

/* ---- Logs ---- */

/* One LogRecord as field 2 of ScopeLogs. */
static int put_log_record(pbw *w, const tel_log_record *r)
{
    size_t bl = r->body ? r->body_len : 0;
    size_t tl = str_len(r->severity_text);
    /* tag+len, times, severity, text, body (AnyValue: tag, len, string), ids, flags, dropped */
    ENSURE(w, 3 + 18 + 11 + (11 + tl) + (1 + 10 + 1 + 10 + bl) + 28 + 5 + 11);
    size_t off = nest_begin(w, SS_ITEMS, 2);
    uint8_t *p = w->p;
    if (r->time_ns) {
        *p++ = LR_TIME;
        p = put_fixed64(p, r->time_ns);
    }
    if (r->observed_time_ns) {
        *p++ = LR_OBSERVED_TIME;
        p = put_fixed64(p, r->observed_time_ns);
    }
    if (r->severity_number) {
        *p++ = LR_SEVERITY_NUMBER;
        p = put_varint(p, r->severity_number);
    }
    if (tl) p = put_bytes(p, LR_SEVERITY_TEXT, r->severity_text, tl);
    if (r->body) {
        *p++ = LR_BODY;
        p = put_varint(p, 1 + vsize(bl) + bl);
        p = put_bytes(p, AV_STRING, r->body, bl);
    }
    if (r->has_span) {
        p = put_bytes(p, LR_TRACE_ID, r->trace_id, TEL_TRACE_ID_SIZE);
        p = put_bytes(p, LR_SPAN_ID, r->span_id, TEL_SPAN_ID_SIZE);
        *p++ = LR_FLAGS;
        p = put_fixed32(p, r->trace_flags);
    }
    if (r->dropped_attrs) {
        *p++ = LR_DROPPED_ATTRS;
        p = put_varint(p, r->dropped_attrs);
    }
    w->p = p;
    if (put_attrs(w, LR_ATTRIBUTES, r->attrs, r->attrs ? r->n_attrs : 0) != TEL_OK)
        return TEL_ENOMEM;
    return nest_end(w, off, 2);
}

static int log_put(pbw *w, const void *items, size_t i)
{
    return put_log_record(w, ((const tel_log_record *const *)items)[i]);
}

static const pb_signal logs_signal = {tel__log_scope_at, tel__log_same_scope, log_put};

int tel_otlp_encode_logs_pb(tel_buf *out, const tel_resource *res,
                            const tel_log_record *const *recs, size_t n)
{
    ENCODE_INTO(out, 512 + n * 256, res, &logs_signal, recs, n);
}

/* ---- Responses ---- */

static int rd_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= end) return TEL_EINVAL;
        uint8_t c = *p++;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *pp = p;
            *v = r;
            return TEL_OK;
        }
    }
    return TEL_EINVAL;
}

/* Reads one field header and, for LEN fields, the payload bounds; skips the value of other
 * wire types. On return *val is the varint value (WT_VARINT) and [*data, *data + *dlen) the
 * payload (WT_LEN). */
static int rd_field(const uint8_t **pp, const uint8_t *end, uint32_t *field, unsigned *wt,
                    uint64_t *val, const uint8_t **data, size_t *dlen)
{
    uint64_t key;
    if (rd_varint(pp, end, &key) != TEL_OK || key >> 32 || (key >> 3) == 0) return TEL_EINVAL;
    *field = (uint32_t)(key >> 3);
    *wt = (unsigned)(key & 7);
    size_t left = (size_t)(end - *pp);
    switch (*wt) {
    case WT_VARINT:
        return rd_varint(pp, end, val);
    case WT_I64:
        if (left < 8) return TEL_EINVAL;
        *pp += 8;
        return TEL_OK;
    case WT_I32:
        if (left < 4) return TEL_EINVAL;
        *pp += 4;
        return TEL_OK;
    case WT_LEN: {
        uint64_t n;
        if (rd_varint(pp, end, &n) != TEL_OK || n > (uint64_t)(end - *pp)) return TEL_EINVAL;
        *data = *pp;
        *dlen = (size_t)n;
        *pp += n;
        return TEL_OK;
    }
    default:
        return TEL_EINVAL; /* groups (3, 4) are not used by OTLP; 6, 7 are invalid */
    }
}

/* Copies at most cap-1 bytes of s[0..n) to out, cutting at a UTF-8 character boundary. */
static void copy_message(char *out, size_t cap, const uint8_t *s, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && (s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

int tel_otlp_decode_response_pb(const uint8_t *body, size_t len, tel_otlp_partial *out)
{
    memset(out, 0, sizeof *out);
    if (len && !body) return TEL_EINVAL;
    const uint8_t *p = body, *end = body + len;
    while (p < end) {
        uint32_t field;
        unsigned wt;
        uint64_t v = 0;
        const uint8_t *d = NULL;
        size_t dl = 0;
        if (rd_field(&p, end, &field, &wt, &v, &d, &dl) != TEL_OK) {
            memset(out, 0, sizeof *out);
            return TEL_EINVAL;
        }
        if (field != 1 || wt != WT_LEN) continue;
        /* partial_success: the last occurrence wins, its fields merge (protobuf rules). */
        out->present = true;
        const uint8_t *q = d, *qend = d + dl;
        while (q < qend) {
            uint32_t f2;
            unsigned wt2;
            uint64_t v2 = 0;
            const uint8_t *d2 = NULL;
            size_t dl2 = 0;
            if (rd_field(&q, qend, &f2, &wt2, &v2, &d2, &dl2) != TEL_OK) {
                memset(out, 0, sizeof *out);
                return TEL_EINVAL;
            }
            if (f2 == 1 && wt2 == WT_VARINT)
                out->rejected = (int64_t)v2;
            else if (f2 == 2 && wt2 == WT_LEN)
                copy_message(out->message, sizeof out->message, d2, dl2);
        }
    }
    return TEL_OK;
}

int tel__otlp_decode_status_pb(const uint8_t *body, size_t len, char *out, size_t cap)
{
    if (!out || cap == 0) return TEL_EINVAL;
    out[0] = '\0';
    if (len && !body) return TEL_EINVAL;
    const uint8_t *p = body, *end = body + len;
    while (p < end) {
        uint32_t field;
        unsigned wt;
        uint64_t v = 0;
        const uint8_t *d = NULL;
        size_t dl = 0;
        if (rd_field(&p, end, &field, &wt, &v, &d, &dl) != TEL_OK) {
            out[0] = '\0';
            return TEL_EINVAL;
        }
        if (field == 2 && wt == WT_LEN) /* google.rpc.Status.message */
            copy_message(out, cap, d, dl);
    }
    return TEL_OK;
}
