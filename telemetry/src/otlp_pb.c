/* OTLP protobuf: a direct writer from span records into a reusable buffer, and the decoder of
 * Export*ServiceResponse bodies.
 *
 * The writer has no message tree and allocates nothing per span. Lengths of nested messages are
 * either computed before the message is written (KeyValue with a scalar value, Status, which are
 * the hot path) or reserved with a guessed varint width and back-patched; a wrong guess costs a
 * memmove of that message's body, and the guesses (2 bytes for a span, 3 for a ScopeSpans) are
 * right for the common sizes (128 B..16 KiB spans, 16 KiB..2 MiB batches).
 *
 * Field numbers are those of opentelemetry-proto (common/v1, resource/v1, trace/v1,
 * collector/.../v1), checked against the generated code of @opentelemetry/otlp-transformer.
 * Metric and log encoders belong in this file too and reuse the common section. */
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

/* Fields used below (one-byte tags: field numbers < 16). */
/* ExportTraceServiceRequest */
#define REQ_RESOURCE_SPANS TAG(1, WT_LEN)
/* ResourceSpans */
#define RS_RESOURCE TAG(1, WT_LEN)
#define RS_SCOPE_SPANS TAG(2, WT_LEN)
#define RS_SCHEMA_URL TAG(3, WT_LEN)
/* Resource */
#define RES_ATTRIBUTES TAG(1, WT_LEN)
/* ScopeSpans */
#define SS_SCOPE TAG(1, WT_LEN)
#define SS_SPANS TAG(2, WT_LEN)
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
    size_t off = nest_begin(w, SS_SPANS, 2);
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

/* One ScopeSpans with every span of `scope` from index `first` on. */
static int put_scope_spans(pbw *w, const tel_scope *scope, const tel_span_data *const *spans,
                           size_t first, size_t n)
{
    ENSURE(w, 1 + 3);
    size_t off = nest_begin(w, RS_SCOPE_SPANS, 3);
    if (put_scope(w, SS_SCOPE, scope) != TEL_OK) return TEL_ENOMEM;
    for (size_t i = first; i < n; i++) {
        if (spans[i]->scope != scope) continue;
        int rc = put_span(w, spans[i]);
        if (rc != TEL_OK) return rc;
    }
    if (scope && scope->schema_url && put_string_field(w, SS_SCHEMA_URL, scope->schema_url) != 0)
        return TEL_ENOMEM;
    return nest_end(w, off, 3);
}

/* True when scope s was already written: it is in seen[0..n_seen) or, once `seen` overflowed,
 * it is the scope of a span before index i. */
static bool scope_done(const tel_scope *s, const tel_scope *const *seen, size_t n_seen,
                       bool overflow, const tel_span_data *const *spans, size_t i)
{
    for (size_t k = 0; k < n_seen; k++)
        if (seen[k] == s) return true;
    if (overflow)
        for (size_t j = 0; j < i; j++)
            if (spans[j]->scope == s) return true;
    return false;
}

static int encode_traces(pbw *w, const tel_resource *res, const tel_span_data *const *spans,
                         size_t n)
{
    if (n == 0) return TEL_OK;
    ENSURE(w, 1 + 3);
    size_t rs = nest_begin(w, REQ_RESOURCE_SPANS, 3);
    if (put_resource(w, RS_RESOURCE, res) != TEL_OK) return TEL_ENOMEM;
    const tel_scope *seen[32];
    size_t n_seen = 0;
    bool overflow = false;
    for (size_t i = 0; i < n; i++) {
        const tel_scope *s = spans[i]->scope;
        if (scope_done(s, seen, n_seen, overflow, spans, i)) continue;
        if (n_seen < sizeof seen / sizeof seen[0])
            seen[n_seen++] = s;
        else
            overflow = true;
        int rc = put_scope_spans(w, s, spans, i, n);
        if (rc != TEL_OK) return rc;
    }
    if (res && res->schema_url && put_string_field(w, RS_SCHEMA_URL, res->schema_url) != 0)
        return TEL_ENOMEM;
    return nest_end(w, rs, 3);
}

int tel_otlp_encode_traces_pb(tel_buf *out, const tel_resource *res,
                              const tel_span_data *const *spans, size_t n)
{
    if (!out || (n && !spans)) return TEL_EINVAL;
    size_t start = out->len;
    /* A first guess of the size so that the common batch grows the buffer at most once. */
    if (tel_buf_reserve(out, 512 + n * 192) != TEL_OK) return TEL_ENOMEM;
    pbw w;
    w.b = out;
    w.p = out->data + out->len;
    w.end = out->data + out->cap;
    memset(w.lc_ptr, 0, sizeof w.lc_ptr);
    int rc = encode_traces(&w, res, spans, n);
    if (rc != TEL_OK) {
        out->len = start;
        return rc;
    }
    out->len = (size_t)(w.p - out->data);
    return TEL_OK;
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
