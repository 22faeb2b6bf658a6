/* Console exporter: human-readable blocks per span, metric and log record, for development. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log_internal.h"
#include "otlp_internal.h"
#include "telemetry/tracestate.h"

typedef struct console_exporter {
    tel__exporter base;
    FILE *out;
    pthread_mutex_t mu;
    tel_buf buf;
    atomic_bool shut_down;
} console_exporter;

static void put(tel_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(tel_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        tel_buf_append(b, tmp, (size_t)n);
        return;
    }
    if (tel_buf_reserve(b, (size_t)n + 1) != TEL_OK) return;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A quoted string with control characters escaped, so that a value cannot drive the terminal. */
static void put_quoted(tel_buf *b, const char *s, size_t n)
{
    tel_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            tel_buf_append(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            put(b, "\\x%02x", c);
        } else {
            tel_buf_append(b, &s[i], 1);
        }
    }
    tel_buf_append(b, "\"", 1);
}

static void put_hex(tel_buf *b, const uint8_t *id, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(b, "%02x", id[i]);
}

static void put_double(tel_buf *b, double d)
{
    if (isnan(d))
        put(b, "NaN");
    else if (isinf(d))
        put(b, d > 0 ? "Infinity" : "-Infinity");
    else
        put(b, "%.17g", d);
}

static void put_value(tel_buf *b, const tel_attr *a)
{
    uint32_t n = a->v.arr ? a->len : 0;
    switch (a->type) {
    case TEL_ATTR_STRING:
        put_quoted(b, a->v.s ? a->v.s : "", a->v.s ? a->len : 0);
        break;
    case TEL_ATTR_BOOL:
        put(b, "%s", a->v.b ? "true" : "false");
        break;
    case TEL_ATTR_INT:
        put(b, "%" PRId64, a->v.i);
        break;
    case TEL_ATTR_DOUBLE:
        put_double(b, a->v.d);
        break;
    case TEL_ATTR_STRING_ARRAY:
    case TEL_ATTR_BOOL_ARRAY:
    case TEL_ATTR_INT_ARRAY:
    case TEL_ATTR_DOUBLE_ARRAY:
        put(b, "[");
        for (uint32_t i = 0; i < n; i++) {
            if (i) put(b, ", ");
            if (a->type == TEL_ATTR_STRING_ARRAY) {
                const char *s = ((const char *const *)a->v.arr)[i];
                s = s ? s : "";
                put_quoted(b, s, strlen(s));
            } else if (a->type == TEL_ATTR_BOOL_ARRAY) {
                put(b, "%s", ((const bool *)a->v.arr)[i] ? "true" : "false");
            } else if (a->type == TEL_ATTR_INT_ARRAY) {
                put(b, "%" PRId64, ((const int64_t *)a->v.arr)[i]);
            } else {
                put_double(b, ((const double *)a->v.arr)[i]);
            }
        }
        put(b, "]");
        break;
    default:
        put(b, "(none)");
        break;
    }
}

static void put_attrs_inline(tel_buf *b, const tel_attr *attrs, uint32_t n)
{
    if (!n) return;
    put(b, " {");
    for (uint32_t i = 0; i < n; i++) {
        put(b, "%s%s=", i ? ", " : "", attrs[i].key ? attrs[i].key : "");
        put_value(b, &attrs[i]);
    }
    put(b, "}");
}

static void put_time(tel_buf *b, uint64_t ns)
{
    char t[30];
    tel__log_rfc3339(ns, t);
    tel_buf_append(b, t, sizeof t);
}

static const char *service_of(const tel_resource *res)
{
    const char *svc = res ? tel_resource_get_str(res, "service.name") : NULL;
    return svc ? svc : "-";
}

static void put_scope_names(tel_buf *b, const char *name, const char *version)
{
    put(b, "scope=%s%s%s", name && *name ? name : "-", version && *version ? "@" : "",
        version && *version ? version : "");
}

static const char *kind_name(uint8_t k)
{
    static const char *const names[] = {"unspecified", "internal", "server",
                                        "client",      "producer", "consumer"};
    return k < 6 ? names[k] : "unknown";
}

static const char *status_name(uint8_t s)
{
    return s == TEL_STATUS_OK ? "OK" : s == TEL_STATUS_ERROR ? "ERROR" : "UNSET";
}

static void put_span(tel_buf *b, const tel_resource *res, const tel_span_data *d)
{
    put(b, "span ");
    put_quoted(b, d->name ? d->name : "", d->name ? strlen(d->name) : 0);
    put(b, " kind=%s status=%s", kind_name(d->kind), status_name(d->status));
    if (d->status == TEL_STATUS_ERROR && d->status_msg) {
        put(b, " ");
        put_quoted(b, d->status_msg, strlen(d->status_msg));
    }
    put(b, "\n  trace_id=");
    put_hex(b, d->sc.trace_id, TEL_TRACE_ID_SIZE);
    put(b, " span_id=");
    put_hex(b, d->sc.span_id, TEL_SPAN_ID_SIZE);
    if (d->has_parent) {
        put(b, " parent_span_id=");
        put_hex(b, d->parent_span_id, TEL_SPAN_ID_SIZE);
        if (d->parent_remote) put(b, " (remote parent)");
    }
    put(b, " flags=%02x\n", d->sc.flags);
    if (d->ts) {
        size_t n = 0;
        const char *s = tel_tracestate_str(d->ts, &n);
        put(b, "  tracestate=");
        put_quoted(b, s, n);
        put(b, "\n");
    }
    put(b, "  start=");
    put_time(b, d->start_ns);
    uint64_t dur = d->end_ns >= d->start_ns ? d->end_ns - d->start_ns : 0;
    put(b, " duration=%.3f ms\n", (double)dur / 1e6);
    put(b, "  service=%s ", service_of(res));
    put_scope_names(b, d->scope ? d->scope->name : NULL, d->scope ? d->scope->version : NULL);
    put(b, "\n");
    uint32_t na = tel_span_data_attr_count(d);
    for (uint32_t i = 0; i < na; i++) {
        const tel_attr *a = tel_span_data_attr(d, i);
        put(b, "  attr %s = ", a->key ? a->key : "");
        put_value(b, a);
        put(b, "\n");
    }
    for (uint32_t i = 0; i < tel_span_data_event_count(d); i++) {
        const tel_event *e = &d->extra->events[i];
        int64_t off = (int64_t)(e->time_ns - d->start_ns);
        put(b, "  event +%.3f ms ", (double)off / 1e6);
        put_quoted(b, e->name ? e->name : "", e->name ? strlen(e->name) : 0);
        put_attrs_inline(b, e->attrs, e->n_attrs);
        if (e->dropped_attrs) put(b, " (%u attributes dropped)", e->dropped_attrs);
        put(b, "\n");
    }
    for (uint32_t i = 0; i < tel_span_data_link_count(d); i++) {
        const tel_link *l = &d->extra->links[i];
        put(b, "  link ");
        put_hex(b, l->sc.trace_id, TEL_TRACE_ID_SIZE);
        put(b, "/");
        put_hex(b, l->sc.span_id, TEL_SPAN_ID_SIZE);
        put_attrs_inline(b, l->attrs, l->n_attrs);
        put(b, "\n");
    }
    if (d->dropped_attrs || d->dropped_events || d->dropped_links)
        put(b, "  dropped: %u attributes, %u events, %u links\n", d->dropped_attrs,
            d->dropped_events, d->dropped_links);
}

static void put_number_value(tel_buf *b, bool is_int, int64_t i, double d)
{
    if (is_int)
        put(b, "%" PRId64, i);
    else
        put_double(b, d);
}

static void put_metric(tel_buf *b, const tel_resource *res, const tel_metric *m)
{
    static const char *const types[] = {"?", "sum", "gauge", "histogram"};
    put(b, "metric ");
    put_quoted(b, m->name ? m->name : "", m->name ? strlen(m->name) : 0);
    put(b, " %s", types[(unsigned)m->type <= 3 ? m->type : 0]);
    if (m->type == TEL_METRIC_SUM) put(b, m->monotonic ? " monotonic" : " non-monotonic");
    if (m->type != TEL_METRIC_GAUGE)
        put(b, " %s", m->temporality == TEL_TEMPORALITY_DELTA ? "delta" : "cumulative");
    if (m->unit && *m->unit) put(b, " unit=%s", m->unit);
    put(b, "\n  service=%s ", service_of(res));
    put_scope_names(b, m->scope_name, m->scope_version);
    put(b, "\n");
    if (m->description && *m->description) {
        put(b, "  description ");
        put_quoted(b, m->description, strlen(m->description));
        put(b, "\n");
    }
    uint32_t nb = m->bounds ? m->n_bounds : 0;
    for (size_t i = 0; m->points && i < m->n_points; i++) {
        const tel_metric_point *p = &m->points[i];
        put(b, "  point");
        put_attrs_inline(b, p->attrs, p->attrs ? p->n_attrs : 0);
        if (m->type == TEL_METRIC_HISTOGRAM) {
            put(b, " count=%" PRIu64 " sum=", p->count);
            put_double(b, p->sum);
            if (p->has_min_max) {
                put(b, " min=");
                put_double(b, p->min);
                put(b, " max=");
                put_double(b, p->max);
            }
        } else {
            put(b, " value=");
            put_number_value(b, p->is_int, p->value.i, p->value.d);
        }
        put(b, " time=");
        put_time(b, p->time_ns);
        put(b, "\n");
        if (m->type == TEL_METRIC_HISTOGRAM && p->bucket_counts) {
            put(b, "    buckets");
            for (uint32_t k = 0; k <= nb; k++) {
                put(b, " (");
                if (k)
                    put_double(b, m->bounds[k - 1]);
                else
                    put(b, "-Infinity");
                put(b, ",");
                if (k < nb)
                    put_double(b, m->bounds[k]);
                else
                    put(b, "+Infinity");
                put(b, "%s=%" PRIu64, k < nb ? "]" : ")", p->bucket_counts[k]);
            }
            put(b, "\n");
        }
        for (uint32_t k = 0; p->exemplars && k < p->n_exemplars; k++) {
            const tel_exemplar *e = &p->exemplars[k];
            put(b, "    exemplar ");
            put_number_value(b, e->is_int, e->value.i, e->value.d);
            if (e->has_span) {
                put(b, " trace_id=");
                put_hex(b, e->trace_id, TEL_TRACE_ID_SIZE);
                put(b, " span_id=");
                put_hex(b, e->span_id, TEL_SPAN_ID_SIZE);
            }
            put_attrs_inline(b, e->filtered_attrs, e->filtered_attrs ? e->n_filtered_attrs : 0);
            put(b, "\n");
        }
    }
}

static void put_log(tel_buf *b, const tel_resource *res, const tel_log_record *r)
{
    put(b, "log ");
    put_time(b, r->time_ns ? r->time_ns : r->observed_time_ns);
    put(b, " %s ", r->severity_text && *r->severity_text ? r->severity_text : "-");
    put_quoted(b, r->body ? r->body : "", r->body ? r->body_len : 0);
    if (r->has_span) {
        put(b, " trace_id=");
        put_hex(b, r->trace_id, TEL_TRACE_ID_SIZE);
        put(b, " span_id=");
        put_hex(b, r->span_id, TEL_SPAN_ID_SIZE);
    }
    put_attrs_inline(b, r->attrs, r->attrs ? r->n_attrs : 0);
    if (r->dropped_attrs) put(b, " (%u attributes dropped)", r->dropped_attrs);
    put(b, " service=%s ", service_of(res));
    put_scope_names(b, r->scope_name, r->scope_version);
    put(b, "\n");
}

static int console_export(tel__exporter *e, const tel__otlp_batch *bt, uint64_t deadline_ns)
{
    console_exporter *c = (console_exporter *)e;
    if (atomic_load(&c->shut_down)) return TEL_ESHUTDOWN;
    pthread_mutex_lock(&c->mu);
    c->buf.len = 0;
    for (size_t i = 0; i < bt->n; i++) {
        if (bt->signal == TEL_OTLP_TRACES)
            put_span(&c->buf, bt->res, bt->u.spans[i]);
        else if (bt->signal == TEL_OTLP_METRICS)
            put_metric(&c->buf, bt->res, &bt->u.metrics[i]);
        else
            put_log(&c->buf, bt->res, bt->u.logs[i]);
    }
    int rc = TEL_OK;
    if (c->buf.len && fwrite(c->buf.data, 1, c->buf.len, c->out) != c->buf.len) rc = TEL_EIO;
    fflush(c->out);
    tel_buf_reset(&c->buf, 1024 * 1024);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int console_flush(tel__exporter *e, int64_t timeout_ms)
{
    console_exporter *c = (console_exporter *)e;
    pthread_mutex_lock(&c->mu);
    int rc = fflush(c->out) == 0 ? TEL_OK : TEL_EIO;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int console_shutdown(tel__exporter *e)
{
    atomic_store(&((console_exporter *)e)->shut_down, true);
    return TEL_OK;
}

static void console_destroy(tel__exporter *e)
{
    console_exporter *c = (console_exporter *)e;
    pthread_mutex_destroy(&c->mu);
    tel_buf_free(&c->buf);
    free(c);
}

static const tel__exporter_ops console_ops = {console_export, console_flush, console_shutdown,
                                              console_destroy};

tel__exporter *tel__console_exporter_create(tel_otlp_signal signal, FILE *out)
{
    console_exporter *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->out = out ? out : stdout;
    atomic_init(&c->shut_down, false);
    tel__exporter_bind(&c->base, signal, &console_ops);
    return &c->base;
}

tel_span_exporter *tel_console_exporter_create(FILE *out)
{
    tel__exporter *e = tel__console_exporter_create(TEL_OTLP_TRACES, out);
    return e ? &e->pub.span : NULL;
}

tel_metric_exporter *tel_console_metric_exporter_create(FILE *out)
{
    tel__exporter *e = tel__console_exporter_create(TEL_OTLP_METRICS, out);
    return e ? &e->pub.metric : NULL;
}

tel_log_exporter *tel_console_log_exporter_create(FILE *out)
{
    tel__exporter *e = tel__console_exporter_create(TEL_OTLP_LOGS, out);
    return e ? &e->pub.log : NULL;
}
