/* The OTLP exporter: a signal-independent client (transport, retries, abort, counters, logging)
 * and one exporter on top of it for spans, metrics and log records alike. */
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

#define FAILURE_LOG_INTERVAL_NS (30ull * 1000000000u)
/* A reused body buffer larger than this is freed after the export (bounded memory). */
#define BODY_KEEP_MAX (4u * 1024 * 1024)

/* ---- Transport selection ---- */

static _Atomic(tel_otlp_transport_factory) grpc_factory;

void tel_otlp_set_grpc_transport_factory(tel_otlp_transport_factory factory)
{
    atomic_store(&grpc_factory, factory);
}

tel_otlp_transport *tel_otlp_transport_create(const tel_otlp_config *cfg)
{
    if (!cfg) return NULL;
    if (cfg->protocol != TEL_OTLP_GRPC) return tel_otlp_http_transport_create(cfg);
    tel_otlp_transport_factory f = atomic_load(&grpc_factory);
    if (!f) {
        tel__otlp_log("error", "OTLP protocol grpc needs the gRPC transport, which this program "
                               "did not register (tel_otlp_set_grpc_transport_factory); use "
                               "http/protobuf or link core's gRPC transport");
        return NULL;
    }
    return f(cfg);
}

/* ---- Client ---- */

int tel__otlp_client_init(tel_otlp_client *c, const tel_otlp_config *cfg,
                          tel_otlp_transport *transport)
{
    memset(c, 0, sizeof *c);
    if (!cfg) {
        if (transport) transport->destroy(transport);
        return TEL_EINVAL;
    }
    if (tel_otlp_config_copy(&c->cfg, cfg) != TEL_OK) {
        if (transport) transport->destroy(transport);
        return TEL_ENOMEM;
    }
    if (tel__otlp_abort_init(&c->abort) != TEL_OK) {
        if (transport) transport->destroy(transport);
        tel_otlp_config_cleanup(&c->cfg);
        return TEL_ENOMEM;
    }
    if (!transport) transport = tel_otlp_transport_create(cfg);
    if (!transport) {
        tel__otlp_abort_destroy(&c->abort);
        tel_otlp_config_cleanup(&c->cfg);
        return TEL_EINVAL;
    }
    c->transport = transport;
    tel_otlp_endpoint_for_log(cfg->endpoint, c->endpoint_log, sizeof c->endpoint_log);
    atomic_init(&c->shut_down, false);
    return TEL_OK;
}

const char *tel__otlp_client_content_type(const tel_otlp_client *c)
{
    return c->cfg.protocol == TEL_OTLP_HTTP_JSON ? "application/json" : "application/x-protobuf";
}

static void log_failure(tel_otlp_client *c, tel_otlp_signal signal, size_t n, int rc,
                        const tel_otlp_result *last, unsigned attempts)
{
    uint64_t now = tel_mono_ns();
    if (c->last_failure_log_ns && now - c->last_failure_log_ns < FAILURE_LOG_INTERVAL_NS) {
        c->failures_suppressed++;
        return;
    }
    char more[64] = "";
    if (c->failures_suppressed)
        snprintf(more, sizeof more, " (%llu similar failures not logged)",
                 (unsigned long long)c->failures_suppressed);
    tel__otlp_log("error", "OTLP export of %zu %s to %s failed after %u attempt%s: %s (%s)%s", n,
                  tel_otlp_signal_name(signal), c->endpoint_log, attempts, attempts == 1 ? "" : "s",
                  last->message[0] ? last->message : "no detail", tel_strerror(rc), more);
    c->last_failure_log_ns = now;
    c->failures_suppressed = 0;
}

static void log_partial(tel_otlp_client *c, tel_otlp_signal signal, const tel_otlp_partial *p)
{
    if (atomic_load(&c->partials) > 1) {
        c->partials_suppressed++;
        return;
    }
    tel__otlp_log("warn",
                  "OTLP endpoint %s accepted %s partially: %lld rejected: %s (further "
                  "partial successes are counted, not logged)",
                  c->endpoint_log, tel_otlp_signal_name(signal), (long long)p->rejected,
                  p->message[0] ? p->message : "no message");
}

int tel__otlp_client_send(tel_otlp_client *c, tel_otlp_signal signal, size_t n_items,
                          uint64_t deadline_ns)
{
    atomic_fetch_add(&c->exports, 1);
    if (atomic_load(&c->shut_down) || tel__otlp_aborted(&c->abort)) {
        atomic_fetch_add(&c->items_failed, n_items);
        return TEL_ESHUTDOWN;
    }
    if (deadline_ns == 0) deadline_ns = tel_mono_ns() + (uint64_t)c->cfg.timeout_ms * 1000000u;
    tel_otlp_retry_policy pol = {c->cfg.retry_initial_ms, c->cfg.retry_max_ms,
                                 c->cfg.retry_max_attempts};
    tel_otlp_result last;
    unsigned attempts = 0;
    int rc =
        tel__otlp_send_with_retry(c->transport, &pol, &c->abort, signal, c->body.data, c->body.len,
                                  tel__otlp_client_content_type(c), deadline_ns, &last, &attempts);
    atomic_fetch_add(&c->attempts, attempts);
    if (attempts > 1) atomic_fetch_add(&c->retries, attempts - 1);
    if (attempts) atomic_store(&c->last_code, last.code);
    if (rc == TEL_OK) {
        atomic_fetch_add(&c->items_ok, n_items);
        if (last.partial.present && (last.partial.rejected || last.partial.message[0])) {
            atomic_fetch_add(&c->partials, 1);
            atomic_fetch_add(&c->rejected,
                             (uint64_t)(last.partial.rejected > 0 ? last.partial.rejected : 0));
            log_partial(c, signal, &last.partial);
        }
    } else {
        atomic_fetch_add(&c->items_failed, n_items);
        if (rc != TEL_ESHUTDOWN) log_failure(c, signal, n_items, rc, &last, attempts);
    }
    tel_buf_reset(&c->body, BODY_KEEP_MAX);
    return rc;
}

void tel__otlp_client_shutdown(tel_otlp_client *c)
{
    atomic_store(&c->shut_down, true);
    tel__otlp_abort_fire(&c->abort);
    if (c->transport) c->transport->abort(c->transport);
}

void tel__otlp_client_cleanup(tel_otlp_client *c)
{
    if (c->failures_suppressed)
        tel__otlp_log("error", "OTLP exporter for %s: %llu export failures were not logged",
                      c->endpoint_log, (unsigned long long)c->failures_suppressed);
    if (c->partials_suppressed)
        tel__otlp_log("warn",
                      "OTLP exporter for %s: %llu further partial successes (%llu items "
                      "rejected in all)",
                      c->endpoint_log, (unsigned long long)c->partials_suppressed,
                      (unsigned long long)atomic_load(&c->rejected));
    if (c->transport) c->transport->destroy(c->transport);
    c->transport = NULL;
    tel_buf_free(&c->body);
    tel__otlp_abort_destroy(&c->abort);
    tel_otlp_config_cleanup(&c->cfg);
}

void tel__otlp_client_stats(tel_otlp_client *c, tel_otlp_exporter_stats *out)
{
    out->exports = atomic_load(&c->exports);
    out->items_ok = atomic_load(&c->items_ok);
    out->items_failed = atomic_load(&c->items_failed);
    out->attempts = atomic_load(&c->attempts);
    out->retries = atomic_load(&c->retries);
    out->partial_successes = atomic_load(&c->partials);
    out->rejected_items = atomic_load(&c->rejected);
    out->last_code = atomic_load(&c->last_code);
}

/* ---- Exporter (every signal) ---- */

typedef struct otlp_exporter {
    tel__exporter base;
    tel_otlp_client client;
} otlp_exporter;

static int otlp_export(tel__exporter *e, const tel__otlp_batch *b, uint64_t deadline_ns)
{
    tel_otlp_client *c = &((otlp_exporter *)e)->client;
    if (b->n == 0) return TEL_OK;
    size_t items = tel__otlp_batch_items(b);
    if (atomic_load(&c->shut_down)) {
        atomic_fetch_add(&c->exports, 1);
        atomic_fetch_add(&c->items_failed, items);
        return TEL_ESHUTDOWN;
    }
    c->body.len = 0;
    int rc = tel__otlp_encode(&c->body, c->cfg.protocol == TEL_OTLP_HTTP_JSON, b);
    if (rc != TEL_OK) {
        atomic_fetch_add(&c->exports, 1);
        atomic_fetch_add(&c->items_failed, items);
        tel_buf_reset(&c->body, BODY_KEEP_MAX);
        return rc;
    }
    return tel__otlp_client_send(c, b->signal, items, deadline_ns);
}

static int otlp_shutdown(tel__exporter *e)
{
    tel__otlp_client_shutdown(&((otlp_exporter *)e)->client);
    return TEL_OK;
}

static void otlp_destroy(tel__exporter *e)
{
    otlp_exporter *x = (otlp_exporter *)e;
    tel__otlp_client_cleanup(&x->client);
    free(x);
}

/* No force_flush: nothing is buffered between export calls. */
static const tel__exporter_ops otlp_ops = {otlp_export, NULL, otlp_shutdown, otlp_destroy};

tel__exporter *tel__otlp_exporter_create(tel_otlp_signal signal, const tel_otlp_config *cfg,
                                         tel_otlp_transport *transport)
{
    otlp_exporter *x = calloc(1, sizeof *x);
    if (!x) {
        if (transport) transport->destroy(transport);
        return NULL;
    }
    if (cfg && cfg->signal != signal)
        tel__otlp_log("warn", "OTLP %s exporter created from a %s configuration",
                      tel_otlp_signal_name(signal), tel_otlp_signal_name(cfg->signal));
    if (tel__otlp_client_init(&x->client, cfg, transport) != TEL_OK) {
        free(x);
        return NULL;
    }
    tel__exporter_bind(&x->base, signal, &otlp_ops);
    return &x->base;
}

tel_span_exporter *tel_otlp_span_exporter_create_with_transport(const tel_otlp_config *cfg,
                                                                tel_otlp_transport *transport)
{
    tel__exporter *e = tel__otlp_exporter_create(TEL_OTLP_TRACES, cfg, transport);
    return e ? &e->pub.span : NULL;
}

tel_span_exporter *tel_otlp_span_exporter_create(const tel_otlp_config *cfg)
{
    return tel_otlp_span_exporter_create_with_transport(cfg, NULL);
}

tel_metric_exporter *tel_otlp_metric_exporter_create_with_transport(const tel_otlp_config *cfg,
                                                                    tel_otlp_transport *transport)
{
    tel__exporter *e = tel__otlp_exporter_create(TEL_OTLP_METRICS, cfg, transport);
    return e ? &e->pub.metric : NULL;
}

tel_metric_exporter *tel_otlp_metric_exporter_create(const tel_otlp_config *cfg)
{
    return tel_otlp_metric_exporter_create_with_transport(cfg, NULL);
}

tel_log_exporter *tel_otlp_log_exporter_create_with_transport(const tel_otlp_config *cfg,
                                                              tel_otlp_transport *transport)
{
    tel__exporter *e = tel__otlp_exporter_create(TEL_OTLP_LOGS, cfg, transport);
    return e ? &e->pub.log : NULL;
}

tel_log_exporter *tel_otlp_log_exporter_create(const tel_otlp_config *cfg)
{
    return tel_otlp_log_exporter_create_with_transport(cfg, NULL);
}

static void stats_of(tel__exporter *e, tel_otlp_exporter_stats *out)
{
    memset(out, 0, sizeof *out);
    if (e) tel__otlp_client_stats(&((otlp_exporter *)e)->client, out);
}

void tel_otlp_exporter_get_stats(tel_span_exporter *exporter, tel_otlp_exporter_stats *out)
{
    stats_of(tel__exporter_from_span(exporter, &otlp_ops), out);
}

void tel_otlp_metric_exporter_get_stats(tel_metric_exporter *exporter, tel_otlp_exporter_stats *out)
{
    stats_of(tel__exporter_from_metric(exporter, &otlp_ops), out);
}

void tel_otlp_log_exporter_get_stats(tel_log_exporter *exporter, tel_otlp_exporter_stats *out)
{
    stats_of(tel__exporter_from_log(exporter, &otlp_ops), out);
}
