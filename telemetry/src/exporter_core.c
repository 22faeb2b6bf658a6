/* The signal-independent exporter core: the public span, metric and log exporter interfaces
 * forward to one set of tel__exporter_ops, and batches of every signal encode through one
 * entry point. */
#include "otlp_internal.h"

int tel__otlp_encode(tel_buf *out, bool json, const tel__otlp_batch *b)
{
    switch (b->signal) {
    case TEL_OTLP_TRACES:
        return json ? tel_otlp_encode_traces_json(out, b->res, b->u.spans, b->n)
                    : tel_otlp_encode_traces_pb(out, b->res, b->u.spans, b->n);
    case TEL_OTLP_METRICS:
        return json ? tel_otlp_encode_metrics_json(out, b->res, b->u.metrics, b->n)
                    : tel_otlp_encode_metrics_pb(out, b->res, b->u.metrics, b->n);
    case TEL_OTLP_LOGS:
        return json ? tel_otlp_encode_logs_json(out, b->res, b->u.logs, b->n)
                    : tel_otlp_encode_logs_pb(out, b->res, b->u.logs, b->n);
    }
    return TEL_EINVAL;
}

size_t tel__otlp_batch_items(const tel__otlp_batch *b)
{
    if (b->signal != TEL_OTLP_METRICS) return b->n;
    size_t points = 0;
    for (size_t i = 0; i < b->n; i++)
        points += b->u.metrics[i].points ? b->u.metrics[i].n_points : 0;
    return points;
}

/* ---- Forwarders from the public interfaces ---- */

static int span_export(tel_span_exporter *x, const tel_resource *res,
                       const tel_span_data *const *spans, size_t n, uint64_t deadline_ns)
{
    tel__exporter *e = (tel__exporter *)x;
    tel__otlp_batch b = {.signal = TEL_OTLP_TRACES, .res = res, .u.spans = spans, .n = n};
    return e->ops->export(e, &b, deadline_ns);
}

static int metric_export(tel_metric_exporter *x, const tel_resource *res, const tel_metric *metrics,
                         size_t n, uint64_t deadline_ns)
{
    tel__exporter *e = (tel__exporter *)x;
    tel__otlp_batch b = {.signal = TEL_OTLP_METRICS, .res = res, .u.metrics = metrics, .n = n};
    return e->ops->export(e, &b, deadline_ns);
}

static int log_export(tel_log_exporter *x, const tel_resource *res,
                      const tel_log_record *const *recs, size_t n, uint64_t deadline_ns)
{
    tel__exporter *e = (tel__exporter *)x;
    tel__otlp_batch b = {.signal = TEL_OTLP_LOGS, .res = res, .u.logs = recs, .n = n};
    return e->ops->export(e, &b, deadline_ns);
}

/* force_flush, shutdown and destroy differ only in the interface type. */
#define FORWARDERS(sig, T)                                                                         \
    static int sig##_flush(T *x, int64_t timeout_ms)                                               \
    {                                                                                              \
        tel__exporter *e = (tel__exporter *)x;                                                     \
        return e->ops->force_flush ? e->ops->force_flush(e, timeout_ms) : TEL_OK;                  \
    }                                                                                              \
    static int sig##_shutdown(T *x)                                                                \
    {                                                                                              \
        tel__exporter *e = (tel__exporter *)x;                                                     \
        return e->ops->shutdown(e);                                                                \
    }                                                                                              \
    static void sig##_destroy(T *x)                                                                \
    {                                                                                              \
        if (x) ((tel__exporter *)x)->ops->destroy((tel__exporter *)x);                             \
    }

FORWARDERS(span, tel_span_exporter)
FORWARDERS(metric, tel_metric_exporter)
FORWARDERS(log, tel_log_exporter)

void tel__exporter_bind(tel__exporter *e, tel_otlp_signal signal, const tel__exporter_ops *ops)
{
    e->ops = ops;
    e->signal = signal;
    switch (signal) {
    case TEL_OTLP_TRACES:
        e->pub.span = (tel_span_exporter){span_export, span_flush, span_shutdown, span_destroy};
        break;
    case TEL_OTLP_METRICS:
        e->pub.metric =
            (tel_metric_exporter){metric_export, metric_flush, metric_shutdown, metric_destroy};
        break;
    case TEL_OTLP_LOGS:
        e->pub.log = (tel_log_exporter){log_export, log_flush, log_shutdown, log_destroy};
        break;
    }
}

tel__exporter *tel__exporter_from_span(tel_span_exporter *x, const tel__exporter_ops *ops)
{
    tel__exporter *e = (tel__exporter *)x;
    return x && x->export_spans == span_export && e->ops == ops ? e : NULL;
}

tel__exporter *tel__exporter_from_metric(tel_metric_exporter *x, const tel__exporter_ops *ops)
{
    tel__exporter *e = (tel__exporter *)x;
    return x && x->export_metrics == metric_export && e->ops == ops ? e : NULL;
}

tel__exporter *tel__exporter_from_log(tel_log_exporter *x, const tel__exporter_ops *ops)
{
    tel__exporter *e = (tel__exporter *)x;
    return x && x->export_logs == log_export && e->ops == ops ? e : NULL;
}
