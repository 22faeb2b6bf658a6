/* The process-wide SDK: tracer provider, log pipeline, exporters and propagator built from the
 * environment. */
#include <stdio.h>
#include <stdlib.h>

#include "telemetry/env.h"
#include "telemetry/exporter.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "telemetry/propagation.h"
#include "trace_internal.h"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static tel_tracer_provider *global_provider;
static bool initialised;
static bool sdk_disabled;
static uint32_t global_export_timeout_ms = 30000;
static tel_tracer disabled_tracer = {.enabled = false};
static tel_log_processor *global_log_processor;
static tel_meter_provider *global_meters;
static uint32_t global_log_timeout_ms = 30000;

/* Logs: every log line names the resource's service; records also go to OTLP (or console/file)
 * when OTEL_LOGS_EXPORTER names an exporter (default none). Caller holds init_lock. */
static void init_logs(const tel_resource *res)
{
    tel_log_set_service(tel_resource_get_str(res, "service.name"));
    tel_log_exporter *exp = tel_log_exporter_from_env();
    if (!exp) return;
    tel_blrp_config lc;
    tel_blrp_config_from_env(&lc);
    global_log_timeout_ms = lc.export_timeout_ms;
    /* The resource belongs to the tracer provider, which tel_shutdown destroys last. */
    global_log_processor = tel_blrp_create(exp, res, &lc);
    if (global_log_processor) tel_log_set_processor(global_log_processor);
}

static void shutdown_logs(tel_log_processor *lp)
{
    if (!lp) return;
    tel_log_processor *cur = tel_log_set_processor(NULL);
    if (cur != lp) tel_log_set_processor(cur); /* someone installed another pipeline: keep it */
    tel_log_processor_shutdown(lp, global_log_timeout_ms);
    tel_log_processor_destroy(lp);
}

int tel_init(const char *default_service_name, const char *service_version)
{
    pthread_mutex_lock(&init_lock);
    if (initialised) {
        int rc = sdk_disabled ? TEL_EDISABLED : TEL_OK;
        pthread_mutex_unlock(&init_lock);
        return rc;
    }
    initialised = true;
    sdk_disabled = tel_env_bool("OTEL_SDK_DISABLED", false);
    if (sdk_disabled) {
        pthread_mutex_unlock(&init_lock);
        return TEL_EDISABLED;
    }
    tel_tracer_provider_config cfg = {0};
    cfg.resource = tel_resource_from_env(default_service_name, service_version);
    tel_tracer_provider *p = cfg.resource ? tel_tracer_provider_create(&cfg) : NULL;
    if (!p) {
        tel_resource_destroy(cfg.resource);
        pthread_mutex_unlock(&init_lock);
        return TEL_ENOMEM;
    }
    /* Console output as each span ends (a simple processor), everything else batched. The
     * batch processor comes last: it takes the ended record over, the others get copies. */
    tel_span_exporter *direct = NULL;
    tel_span_exporter *exp = tel_span_exporter_from_env(&direct);
    tel_bsp_config bc;
    tel_bsp_config_from_env(&bc);
    global_export_timeout_ms = bc.export_timeout_ms;
    if (direct) {
        tel_span_processor *proc = tel_simple_processor_create(direct, bc.export_timeout_ms);
        if (proc)
            tel_tracer_provider_add_processor(p, proc);
    }
    if (exp) {
        tel_span_processor *proc = tel_bsp_create(exp, &bc);
        if (proc)
            tel_tracer_provider_add_processor(p, proc);
    }
    init_logs(tel_tracer_provider_resource(p));
    /* Metrics share the resource; the provider always exists (for /metrics), a periodic reader
     * only when OTEL_METRICS_EXPORTER names an exporter. */
    tel_meter_provider_config mc = {.resource = tel_tracer_provider_resource(p)};
    global_meters = tel_meter_provider_create(&mc);
    tel_metric_exporter *mexp = global_meters ? tel_metric_exporter_from_env() : NULL;
    if (mexp)
        tel_meter_provider_add_periodic_reader(global_meters, mexp, 0, 0);
    (void)tel_propagator_global();
    global_provider = p;
    pthread_mutex_unlock(&init_lock);
    return TEL_OK;
}

tel_tracer_provider *tel_global_provider(void)
{
    return global_provider;
}

tel_tracer *tel_global_tracer(const char *name, const char *version)
{
    tel_tracer_provider *p = global_provider;
    if (!p)
        return &disabled_tracer;
    tel_tracer *t = tel_tracer_get(p, name, version);
    return t ? t : &disabled_tracer;
}

void tel_shutdown(void)
{
    pthread_mutex_lock(&init_lock);
    tel_tracer_provider *p = global_provider;
    tel_log_processor *lp = global_log_processor;
    tel_meter_provider *mp = global_meters;
    global_meters = NULL;
    global_provider = NULL;
    global_log_processor = NULL;
    initialised = false;
    pthread_mutex_unlock(&init_lock);
    /* Metrics first: their final export may log; the resource they borrow dies last. */
    if (mp)
        tel_meter_provider_destroy(mp);
    shutdown_logs(lp);
    if (p) {
        tel_tracer_provider_shutdown(p, global_export_timeout_ms);
        tel_tracer_provider_destroy(p);
    }
}

tel_meter_provider *tel_global_meter_provider(void)
{
    return global_meters;
}

tel_meter *tel_global_meter(const char *name, const char *version)
{
    /* tel_meter_get gives the no-op meter for a NULL provider (disabled or not initialised). */
    return tel_meter_get(global_meters, name, version);
}

bool tel_sdk_disabled(void)
{
    return sdk_disabled;
}
