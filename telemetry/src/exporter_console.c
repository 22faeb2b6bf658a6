/* Console exporter: a human-readable block per span, for development. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "otlp_internal.h"
#include "telemetry/tracestate.h"

typedef struct console_exporter {
    tel_span_exporter base;
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
    time_t s = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&s, &tm);
    char t[32];
    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
    put(b, "%s.%09" PRIu64 "Z", t, ns % 1000000000u);
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
    const char *svc = res ? tel_resource_get_str(res, "service.name") : NULL;
    put(b, "  service=%s scope=%s%s%s\n", svc ? svc : "-",
        d->scope && d->scope->name ? d->scope->name : "-", d->scope && d->scope->version ? "@" : "",
        d->scope && d->scope->version ? d->scope->version : "");
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

static int console_export(tel_span_exporter *self, const tel_resource *res,
                          const tel_span_data *const *spans, size_t n, uint64_t deadline_ns)
{
    console_exporter *c = (console_exporter *)self;
    if (atomic_load(&c->shut_down)) return TEL_ESHUTDOWN;
    pthread_mutex_lock(&c->mu);
    c->buf.len = 0;
    for (size_t i = 0; i < n; i++)
        put_span(&c->buf, res, spans[i]);
    int rc = TEL_OK;
    if (c->buf.len && fwrite(c->buf.data, 1, c->buf.len, c->out) != c->buf.len) rc = TEL_EIO;
    fflush(c->out);
    tel_buf_reset(&c->buf, 1024 * 1024);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int console_flush(tel_span_exporter *self, int64_t timeout_ms)
{
    console_exporter *c = (console_exporter *)self;
    pthread_mutex_lock(&c->mu);
    int rc = fflush(c->out) == 0 ? TEL_OK : TEL_EIO;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int console_shutdown(tel_span_exporter *self)
{
    atomic_store(&((console_exporter *)self)->shut_down, true);
    return TEL_OK;
}

static void console_destroy(tel_span_exporter *self)
{
    console_exporter *c = (console_exporter *)self;
    if (!c) return;
    pthread_mutex_destroy(&c->mu);
    tel_buf_free(&c->buf);
    free(c);
}

tel_span_exporter *tel_console_exporter_create(FILE *out)
{
    console_exporter *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->out = out ? out : stdout;
    atomic_init(&c->shut_down, false);
    c->base.export_spans = console_export;
    c->base.force_flush = console_flush;
    c->base.shutdown = console_shutdown;
    c->base.destroy = console_destroy;
    return &c->base;
}
