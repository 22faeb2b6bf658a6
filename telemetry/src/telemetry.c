/* The process-wide SDK: provider, exporter and propagator built from the environment. */
#include <stdio.h>
#include <stdlib.h>

#include "telemetry/env.h"
#include "telemetry/exporter.h"
#include "telemetry/propagation.h"
#include "trace_internal.h"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static tel_tracer_provider *global_provider;
static bool initialised;
static bool sdk_disabled;
static uint32_t global_export_timeout_ms = 30000;
static tel_tracer disabled_tracer = {.enabled = false};

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
    bool simple = false;
    tel_span_exporter *exp = tel_span_exporter_from_env(&simple);
    if (exp) {
        tel_bsp_config bc;
        tel_bsp_config_from_env(&bc);
        global_export_timeout_ms = bc.export_timeout_ms;
        tel_span_processor *proc =
            simple ? tel_simple_processor_create(exp, bc.export_timeout_ms) : tel_bsp_create(exp, &bc);
        if (proc)
            tel_tracer_provider_add_processor(p, proc);
    }
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
    global_provider = NULL;
    initialised = false;
    pthread_mutex_unlock(&init_lock);
    if (p) {
        tel_tracer_provider_shutdown(p, global_export_timeout_ms);
        tel_tracer_provider_destroy(p);
    }
}

bool tel_sdk_disabled(void)
{
    return sdk_disabled;
}
