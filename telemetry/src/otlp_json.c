/* OTLP/JSON (the proto3 JSON mapping with OTLP's exceptions: hex ids, integer enums) built with
 * jansson, and the decoder of JSON Export*ServiceResponse bodies.
 *
 * Not a hot path (http/json and the file exporter are for debugging and small deployments), so
 * clarity wins over speed: a jansson tree per request. The three signals share the request,
 * resource and scope levels (request()) and the attribute helpers. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "otlp_internal.h"
#include "telemetry/otlp.h"
#include "telemetry/tracestate.h"

#define FLAG_HAS_IS_REMOTE 0x100u
#define FLAG_IS_REMOTE 0x200u

/* ---- Helpers ---- */

/* A JSON string for s[0..n); invalid UTF-8 bytes become U+FFFD. NULL only on allocation
 * failure. */
static json_t *jstrn(const char *s, size_t n)
{
    if (!s) {
        s = "";
        n = 0;
    }
    json_t *j = json_stringn(s, n);
    if (j) return j;
    /* jansson refuses invalid UTF-8: repair a copy. */
    if (n > (SIZE_MAX - 1) / 3) return NULL;
    char *tmp = malloc(n * 3 + 1);
    if (!tmp) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = tel__utf8_seq(u + i, n - i);
        if (k == 0) {
            memcpy(tmp + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(tmp + o, u + i, k);
            o += k;
            i += k;
        }
    }
    j = json_stringn(tmp, o);
    free(tmp);
    return j;
}

static json_t *jstr(const char *s)
{
    return jstrn(s, s ? strlen(s) : 0);
}

static json_t *ju64(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_string(buf);
}

static json_t *ji64(int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return json_string(buf);
}

static json_t *jhex(const uint8_t *id, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char buf[2 * TEL_TRACE_ID_SIZE + 1];
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = digits[id[i] >> 4];
        buf[2 * i + 1] = digits[id[i] & 15];
    }
    return json_stringn(buf, 2 * n);
}

/* Builders record the first allocation failure in *ok and keep going (jansson's *_new calls
 * accept NULL values and fail cleanly). */
static void set(json_t *obj, const char *key, json_t *v, bool *ok)
{
    /* json_object_set_new releases v on every failure, NULL obj included. */
    if (json_object_set_new(obj, key, v) != 0) *ok = false;
}

static void push(json_t *arr, json_t *v, bool *ok)
{
    if (json_array_append_new(arr, v) != 0) *ok = false;
}

static json_t *jdouble(double d)
{
    if (isnan(d)) return json_string("NaN");
    if (isinf(d)) return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

/* ---- Common messages ---- */

static json_t *anyvalue(const tel_attr *a, bool *ok)
{
    json_t *o = json_object();
    switch (a->type) {
    case TEL_ATTR_STRING:
        set(o, "stringValue", jstrn(a->v.s, a->len), ok);
        break;
    case TEL_ATTR_BOOL:
        set(o, "boolValue", json_boolean(a->v.b), ok);
        break;
    case TEL_ATTR_INT:
        set(o, "intValue", ji64(a->v.i), ok);
        break;
    case TEL_ATTR_DOUBLE:
        set(o, "doubleValue", jdouble(a->v.d), ok);
        break;
    case TEL_ATTR_STRING_ARRAY:
    case TEL_ATTR_BOOL_ARRAY:
    case TEL_ATTR_INT_ARRAY:
    case TEL_ATTR_DOUBLE_ARRAY: {
        json_t *arr = json_object();
        json_t *values = json_array();
        uint32_t n = a->v.arr ? a->len : 0;
        for (uint32_t i = 0; i < n; i++) {
            tel_attr el = tel_attr_array_element(a, i);
            push(values, anyvalue(&el, ok), ok);
        }
        if (n)
            set(arr, "values", values, ok);
        else
            json_decref(values);
        set(o, "arrayValue", arr, ok);
        break;
    }
    default:
        break; /* an empty AnyValue */
    }
    if (!o) *ok = false;
    return o;
}

static json_t *attributes(const tel_attr *attrs, size_t n, bool *ok)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *kv = json_object();
        set(kv, "key", jstr(attrs[i].key), ok);
        set(kv, "value", anyvalue(&attrs[i], ok), ok);
        push(arr, kv, ok);
    }
    if (!arr) *ok = false;
    return arr;
}

static json_t *resource(const tel_resource *res, bool *ok)
{
    json_t *o = json_object();
    if (res && res->n_attrs) set(o, "attributes", attributes(res->attrs, res->n_attrs, ok), ok);
    if (!o) *ok = false;
    return o;
}

static json_t *scope(const tel_scope *sc, bool *ok)
{
    json_t *o = json_object();
    if (sc && sc->name && *sc->name) set(o, "name", jstr(sc->name), ok);
    if (sc && sc->version && *sc->version) set(o, "version", jstr(sc->version), ok);
    if (!o) *ok = false;
    return o;
}

static void set_count(json_t *o, const char *key, uint32_t n, bool *ok)
{
    if (n) set(o, key, json_integer(n), ok);
}

/* ---- Traces ---- */

static json_t *span_json(const tel_span_data *d, bool *ok)
{
    json_t *o = json_object();
    set(o, "traceId", jhex(d->sc.trace_id, TEL_TRACE_ID_SIZE), ok);
    set(o, "spanId", jhex(d->sc.span_id, TEL_SPAN_ID_SIZE), ok);
    if (d->ts) {
        size_t n = 0;
        const char *s = tel_tracestate_str(d->ts, &n);
        if (n) set(o, "traceState", jstrn(s, n), ok);
    }
    if (d->has_parent) set(o, "parentSpanId", jhex(d->parent_span_id, TEL_SPAN_ID_SIZE), ok);
    set(o, "flags",
        json_integer(d->sc.flags | FLAG_HAS_IS_REMOTE |
                     (d->has_parent && d->parent_remote ? FLAG_IS_REMOTE : 0)),
        ok);
    set(o, "name", jstr(d->name), ok);
    if (d->kind) set(o, "kind", json_integer(d->kind), ok);
    set(o, "startTimeUnixNano", ju64(d->start_ns), ok);
    set(o, "endTimeUnixNano", ju64(d->end_ns), ok);
    uint32_t na = tel_span_data_attr_count(d);
    if (na) {
        json_t *attrs = attributes(d->attrs, d->n_attrs, ok);
        if (d->extra && d->extra->n_attrs) {
            json_t *more = attributes(d->extra->attrs, d->extra->n_attrs, ok);
            if (!attrs || !more || json_array_extend(attrs, more) != 0) *ok = false;
            json_decref(more);
        }
        set(o, "attributes", attrs, ok);
    }
    set_count(o, "droppedAttributesCount", d->dropped_attrs, ok);
    const tel_span_extra *x = d->extra;
    if (x && x->n_events) {
        json_t *evs = json_array();
        for (uint32_t i = 0; i < x->n_events; i++) {
            const tel_event *e = &x->events[i];
            json_t *ev = json_object();
            set(ev, "timeUnixNano", ju64(e->time_ns), ok);
            set(ev, "name", jstr(e->name), ok);
            if (e->n_attrs) set(ev, "attributes", attributes(e->attrs, e->n_attrs, ok), ok);
            set_count(ev, "droppedAttributesCount", e->dropped_attrs, ok);
            push(evs, ev, ok);
        }
        set(o, "events", evs, ok);
    }
    set_count(o, "droppedEventsCount", d->dropped_events, ok);
    if (x && x->n_links) {
        json_t *links = json_array();
        for (uint32_t i = 0; i < x->n_links; i++) {
            const tel_link *l = &x->links[i];
            json_t *lo = json_object();
            set(lo, "traceId", jhex(l->sc.trace_id, TEL_TRACE_ID_SIZE), ok);
            set(lo, "spanId", jhex(l->sc.span_id, TEL_SPAN_ID_SIZE), ok);
            if (l->tracestate && *l->tracestate) set(lo, "traceState", jstr(l->tracestate), ok);
            if (l->n_attrs) set(lo, "attributes", attributes(l->attrs, l->n_attrs, ok), ok);
            set_count(lo, "droppedAttributesCount", l->dropped_attrs, ok);
            set(lo, "flags",
                json_integer(l->sc.flags | FLAG_HAS_IS_REMOTE |
                             (l->sc.remote ? FLAG_IS_REMOTE : 0)),
                ok);
            push(links, lo, ok);
        }
        set(o, "links", links, ok);
    }
    set_count(o, "droppedLinksCount", d->dropped_links, ok);
    const char *msg = d->status == TEL_STATUS_ERROR ? d->status_msg : NULL;
    if (d->status != TEL_STATUS_UNSET || (msg && *msg)) {
        json_t *st = json_object();
        if (msg && *msg) set(st, "message", jstr(msg), ok);
        if (d->status) set(st, "code", json_integer(d->status), ok);
        set(o, "status", st, ok);
    }
    if (!o) *ok = false;
    return o;
}

/* ---- Request, resource and scope levels (every signal) ---- */

typedef struct json_signal {
    const char *resource_key; /* "resourceSpans", ... */
    const char *scope_key;    /* "scopeSpans", ... */
    const char *items_key;    /* "spans", ... */
    tel_scope (*scope)(const void *items, size_t i);
    bool (*same_scope)(const void *items, size_t i, size_t j);
    json_t *(*item)(const void *items, size_t i, bool *ok);
} json_signal;

static json_t *request(const tel_resource *res, const json_signal *sig, const void *items, size_t n,
                       bool *ok)
{
    json_t *root = json_object();
    json_t *rss = json_array();
    if (n) {
        json_t *rs = json_object();
        set(rs, "resource", resource(res, ok), ok);
        json_t *sss = json_array();
        for (size_t i = 0; i < n; i++) {
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = sig->same_scope(items, j, i);
            if (seen) continue;
            tel_scope sc = sig->scope(items, i);
            json_t *ss = json_object();
            set(ss, "scope", scope(&sc, ok), ok);
            json_t *arr = json_array();
            for (size_t k = i; k < n; k++)
                if (k == i || sig->same_scope(items, i, k)) push(arr, sig->item(items, k, ok), ok);
            set(ss, sig->items_key, arr, ok);
            if (sc.schema_url) set(ss, "schemaUrl", jstr(sc.schema_url), ok);
            push(sss, ss, ok);
        }
        set(rs, sig->scope_key, sss, ok);
        if (res && res->schema_url) set(rs, "schemaUrl", jstr(res->schema_url), ok);
        push(rss, rs, ok);
    }
    set(root, sig->resource_key, rss, ok);
    if (!root) *ok = false;
    return root;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return tel_buf_append(data, buffer, size) == TEL_OK ? 0 : -1;
}

static int dump(json_t *root, bool ok, tel_buf *out)
{
    size_t start = out->len;
    if (ok && json_dump_callback(root, dump_cb, out, JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0)
        ok = false;
    json_decref(root);
    if (!ok) {
        out->len = start;
        return TEL_ENOMEM;
    }
    return TEL_OK;
}

static json_t *span_item(const void *items, size_t i, bool *ok)
{
    return span_json(((const tel_span_data *const *)items)[i], ok);
}

static const json_signal traces_signal = {"resourceSpans",    "scopeSpans",         "spans",
                                          tel__span_scope_at, tel__span_same_scope, span_item};

int tel_otlp_encode_traces_json(tel_buf *out, const tel_resource *res,
                                const tel_span_data *const *spans, size_t n)
{
    if (!out || (n && !spans)) return TEL_EINVAL;
    bool ok = true;
    json_t *root = request(res, &traces_signal, spans, n, &ok);
    return dump(root, ok, out);
}

/* ---- Metrics ---- */

/* The value oneof of NumberDataPoint and Exemplar. */
static void set_number(json_t *o, bool is_int, int64_t i, double d, bool *ok)
{
    if (is_int)
        set(o, "asInt", ji64(i), ok);
    else
        set(o, "asDouble", jdouble(d), ok);
}

static json_t *exemplars(const tel_metric_point *p, bool *ok)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; p->exemplars && i < p->n_exemplars; i++) {
        const tel_exemplar *e = &p->exemplars[i];
        json_t *o = json_object();
        if (e->filtered_attrs && e->n_filtered_attrs)
            set(o, "filteredAttributes", attributes(e->filtered_attrs, e->n_filtered_attrs, ok),
                ok);
        set(o, "timeUnixNano", ju64(e->time_ns), ok);
        set_number(o, e->is_int, e->value.i, e->value.d, ok);
        if (e->has_span) {
            set(o, "spanId", jhex(e->span_id, TEL_SPAN_ID_SIZE), ok);
            set(o, "traceId", jhex(e->trace_id, TEL_TRACE_ID_SIZE), ok);
        }
        push(arr, o, ok);
    }
    if (!arr) *ok = false;
    return arr;
}

/* The fields every data point has: attributes, times, exemplars. */
static json_t *point_common(const tel_metric_point *p, bool *ok)
{
    json_t *o = json_object();
    if (p->attrs && p->n_attrs) set(o, "attributes", attributes(p->attrs, p->n_attrs, ok), ok);
    if (p->start_ns) set(o, "startTimeUnixNano", ju64(p->start_ns), ok);
    set(o, "timeUnixNano", ju64(p->time_ns), ok);
    if (p->exemplars && p->n_exemplars) set(o, "exemplars", exemplars(p, ok), ok);
    if (!o) *ok = false;
    return o;
}

static json_t *histogram_point(const tel_metric *m, const tel_metric_point *p, bool *ok)
{
    json_t *o = point_common(p, ok);
    set(o, "count", ju64(p->count), ok);
    set(o, "sum", jdouble(p->sum), ok);
    uint32_t nb = m->bounds ? m->n_bounds : 0;
    if (p->bucket_counts) {
        json_t *bc = json_array();
        for (uint32_t i = 0; i <= nb; i++)
            push(bc, ju64(p->bucket_counts[i]), ok);
        set(o, "bucketCounts", bc, ok);
    }
    if (nb) {
        json_t *eb = json_array();
        for (uint32_t i = 0; i < nb; i++)
            push(eb, jdouble(m->bounds[i]), ok);
        set(o, "explicitBounds", eb, ok);
    }
    if (p->has_min_max) {
        set(o, "min", jdouble(p->min), ok);
        set(o, "max", jdouble(p->max), ok);
    }
    return o;
}

static json_t *metric_json(const tel_metric *m, bool *ok)
{
    json_t *o = json_object();
    set(o, "name", jstr(m->name), ok);
    if (m->description && *m->description) set(o, "description", jstr(m->description), ok);
    if (m->unit && *m->unit) set(o, "unit", jstr(m->unit), ok);
    json_t *data = json_object();
    json_t *points = json_array();
    for (size_t i = 0; m->points && i < m->n_points; i++) {
        const tel_metric_point *p = &m->points[i];
        if (m->type == TEL_METRIC_HISTOGRAM) {
            push(points, histogram_point(m, p, ok), ok);
        } else {
            json_t *np = point_common(p, ok);
            set_number(np, p->is_int, p->value.i, p->value.d, ok);
            push(points, np, ok);
        }
    }
    set(data, "dataPoints", points, ok);
    if (m->type != TEL_METRIC_GAUGE && m->temporality)
        set(data, "aggregationTemporality", json_integer(m->temporality), ok);
    if (m->type == TEL_METRIC_SUM && m->monotonic) set(data, "isMonotonic", json_true(), ok);
    set(o,
        m->type == TEL_METRIC_SUM     ? "sum"
        : m->type == TEL_METRIC_GAUGE ? "gauge"
                                      : "histogram",
        data, ok);
    if (!o) *ok = false;
    return o;
}

static json_t *metric_item(const void *items, size_t i, bool *ok)
{
    return metric_json(&((const tel_metric *)items)[i], ok);
}

static const json_signal metrics_signal = {
    "resourceMetrics",    "scopeMetrics",         "metrics",
    tel__metric_scope_at, tel__metric_same_scope, metric_item};

int tel_otlp_encode_metrics_json(tel_buf *out, const tel_resource *res, const tel_metric *metrics,
                                 size_t n)
{
    if (!out || (n && !metrics)) return TEL_EINVAL;
    bool ok = true;
    json_t *root = request(res, &metrics_signal, metrics, n, &ok);
    return dump(root, ok, out);
}

/* ---- Logs ---- */

static json_t *log_json(const tel_log_record *r, bool *ok)
{
    json_t *o = json_object();
    if (r->time_ns) set(o, "timeUnixNano", ju64(r->time_ns), ok);
    if (r->observed_time_ns) set(o, "observedTimeUnixNano", ju64(r->observed_time_ns), ok);
    if (r->severity_number) set(o, "severityNumber", json_integer(r->severity_number), ok);
    if (r->severity_text && *r->severity_text) set(o, "severityText", jstr(r->severity_text), ok);
    if (r->body) {
        json_t *body = json_object();
        set(body, "stringValue", jstrn(r->body, r->body_len), ok);
        set(o, "body", body, ok);
    }
    if (r->attrs && r->n_attrs) set(o, "attributes", attributes(r->attrs, r->n_attrs, ok), ok);
    set_count(o, "droppedAttributesCount", r->dropped_attrs, ok);
    if (r->has_span) {
        set(o, "flags", json_integer(r->trace_flags), ok);
        set(o, "traceId", jhex(r->trace_id, TEL_TRACE_ID_SIZE), ok);
        set(o, "spanId", jhex(r->span_id, TEL_SPAN_ID_SIZE), ok);
    }
    if (!o) *ok = false;
    return o;
}

static json_t *log_item(const void *items, size_t i, bool *ok)
{
    return log_json(((const tel_log_record *const *)items)[i], ok);
}

static const json_signal logs_signal = {"resourceLogs",    "scopeLogs",         "logRecords",
                                        tel__log_scope_at, tel__log_same_scope, log_item};

int tel_otlp_encode_logs_json(tel_buf *out, const tel_resource *res,
                              const tel_log_record *const *recs, size_t n)
{
    if (!out || (n && !recs)) return TEL_EINVAL;
    bool ok = true;
    json_t *root = request(res, &logs_signal, recs, n, &ok);
    return dump(root, ok, out);
}

/* ---- Responses ---- */

static bool json_int64(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (!*s) return false;
        long long x = strtoll(s, &end, 10);
        if (*end) return false;
        *out = x;
        return true;
    }
    return false;
}

int tel_otlp_decode_response_json(const uint8_t *body, size_t len, tel_otlp_partial *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0) return TEL_OK;
    if (!body) return TEL_EINVAL;
    json_error_t err;
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) return TEL_EINVAL;
    int rc = TEL_OK;
    if (!json_is_object(root)) {
        rc = TEL_EINVAL;
        goto done;
    }
    json_t *ps = json_object_get(root, "partialSuccess");
    if (!ps) ps = json_object_get(root, "partial_success");
    if (!ps || json_is_null(ps)) goto done;
    if (!json_is_object(ps)) {
        rc = TEL_EINVAL;
        goto done;
    }
    out->present = true;
    static const char *const counts[] = {"rejectedSpans",      "rejected_spans",
                                         "rejectedDataPoints", "rejected_data_points",
                                         "rejectedLogRecords", "rejected_log_records"};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        json_t *v = json_object_get(ps, counts[i]);
        if (v && !json_int64(v, &out->rejected)) {
            rc = TEL_EINVAL;
            goto done;
        }
    }
    json_t *m = json_object_get(ps, "errorMessage");
    if (!m) m = json_object_get(ps, "error_message");
    if (json_is_string(m)) {
        const char *s = json_string_value(m);
        size_t n = json_string_length(m);
        if (n >= sizeof out->message) {
            n = sizeof out->message - 1;
            while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
                n--;
        }
        memcpy(out->message, s, n);
        out->message[n] = '\0';
        /* An embedded NUL ends the message early; that is fine for a log line. */
    } else if (m && !json_is_null(m)) {
        rc = TEL_EINVAL;
    }
done:
    json_decref(root);
    if (rc != TEL_OK) memset(out, 0, sizeof *out);
    return rc;
}

int tel__otlp_decode_status_json(const uint8_t *body, size_t len, char *out, size_t cap)
{
    if (!out || cap == 0) return TEL_EINVAL;
    out[0] = '\0';
    if (!body || len == 0) return TEL_EINVAL;
    json_error_t err;
    json_t *root = json_loadb((const char *)body, len, 0, &err);
    if (!root) return TEL_EINVAL;
    int rc = TEL_EINVAL;
    json_t *m = json_is_object(root) ? json_object_get(root, "message") : NULL;
    if (json_is_string(m)) {
        const char *s = json_string_value(m);
        size_t n = json_string_length(m);
        if (n >= cap) {
            n = cap - 1;
            while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
                n--;
        }
        memcpy(out, s, n);
        out[n] = '\0';
        rc = TEL_OK;
    }
    json_decref(root);
    return rc;
}
