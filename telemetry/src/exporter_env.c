/* Exporter selection from OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER. */
#include <ctype.h>
#include <string.h>

#include "otlp_internal.h"
#include "telemetry/env.h"

/* The exporter `var` names for `signal` (def when unset); NULL for "none" or on failure. */
static tel__exporter *exporter_from_env(tel_otlp_signal signal, const char *var, const char *def,
                                        bool *simple)
{
    *simple = false;
    char name[32];
    snprintf(name, sizeof name, "%s", def);
    const char *v = tel_env_str(var);
    if (v) {
        /* The first member of a comma-separated list, trimmed and lowercased. */
        const char *p = v;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = 0;
        while (p[n] && p[n] != ',' && n + 1 < sizeof name)
            n++;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        for (size_t i = 0; i < n; i++)
            name[i] = (char)tolower((unsigned char)p[i]);
        name[n] = '\0';
        if (strchr(v, ','))
            tel__otlp_log("warn", "%s lists several exporters; only the first (%s) is used", var,
                          name);
    }
    const char *sig = tel_otlp_signal_name(signal);
    if (strcmp(name, "none") == 0) return NULL;
    if (strcmp(name, "console") == 0) {
        *simple = true;
        return tel__console_exporter_create(signal, NULL);
    }
    if (strcmp(name, "file") == 0) {
        char pvar[64], upper[16], def_path[32];
        size_t i = 0;
        for (; sig[i] && i + 1 < sizeof upper; i++)
            upper[i] = (char)toupper((unsigned char)sig[i]);
        upper[i] = '\0';
        snprintf(pvar, sizeof pvar, "OTEL_EXPORTER_FILE_%s_PATH", upper);
        snprintf(def_path, sizeof def_path, "%s.jsonl", sig);
        const char *path = tel_env_str(pvar);
        if (!path) path = tel_env_str("OTEL_EXPORTER_FILE_PATH");
        return tel__file_exporter_create(signal, path ? path : def_path);
    }
    if (strcmp(name, "otlp") != 0)
        tel__otlp_log("warn", "%s: unknown exporter \"%s\", using otlp", var, name);
    tel_otlp_config cfg;
    if (tel_otlp_config_from_env(&cfg, sig) != TEL_OK) {
        tel__otlp_log("error", "cannot read the OTLP exporter configuration (out of memory)");
        return NULL;
    }
    tel__exporter *e = tel__otlp_exporter_create(signal, &cfg, NULL);
    if (!e)
        tel__otlp_log("error", "cannot create the OTLP %s %s exporter",
                      tel_otlp_protocol_name(cfg.protocol), sig);
    tel_otlp_config_cleanup(&cfg);
    return e;
}

tel_span_exporter *tel_span_exporter_from_env(bool *simple)
{
    bool dummy;
    tel__exporter *e = exporter_from_env(TEL_OTLP_TRACES, "OTEL_TRACES_EXPORTER", "otlp",
                                         simple ? simple : &dummy);
    return e ? &e->pub.span : NULL;
}

tel_metric_exporter *tel_metric_exporter_from_env(void)
{
    bool simple;
    tel__exporter *e =
        exporter_from_env(TEL_OTLP_METRICS, "OTEL_METRICS_EXPORTER", "otlp", &simple);
    return e ? &e->pub.metric : NULL;
}

tel_log_exporter *tel_log_exporter_from_env(void)
{
    bool simple;
    tel__exporter *e = exporter_from_env(TEL_OTLP_LOGS, "OTEL_LOGS_EXPORTER", "none", &simple);
    return e ? &e->pub.log : NULL;
}
