/* Exporter selection from OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER. */
#include <ctype.h>
#include <string.h>

#include "otlp_internal.h"
#include "telemetry/env.h"

/* The exporter called `name` ("otlp", "console", "file" or "none") for `signal`; NULL for
 * "none" or on failure. */
static tel__exporter *exporter_named(tel_otlp_signal signal, const char *name)
{
    const char *sig = tel_otlp_signal_name(signal);
    if (strcmp(name, "none") == 0) return NULL;
    if (strcmp(name, "console") == 0) return tel__console_exporter_create(signal, NULL);
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

#define MAX_LISTED 3 /* otlp, console, file */
#define NAME_MAX_LEN 32

/* The exporters `var` lists for `signal` (def when unset or empty), comma-separated, each name
 * trimmed and lowercased (an unknown name means otlp, warned): one exporter, or a fan-out over
 * several (each batch goes to all of them; the local ones first, so that a slow collector does
 * not hold back the file or the console). A name listed twice is used once; "none" among other
 * names is ignored (warned). With `direct` non-NULL a listed console exporter is not among them
 * but made into *direct (else *direct is NULL), for a processor of its own.
 * NULL for "none", when no listed exporter could be made, or when console was the only one and
 * went to *direct. */
static tel__exporter *exporter_from_env(tel_otlp_signal signal, const char *var, const char *def,
                                        tel__exporter **direct)
{
    if (direct) *direct = NULL;
    const char *v = tel_env_str(var);
    if (!v || !*v) v = def;
    char names[MAX_LISTED][NAME_MAX_LEN];
    size_t n = 0;
    bool none = false;
    for (const char *p = v; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t len = 0;
        while (p[len] && p[len] != ',')
            len++;
        size_t t = len;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t) {
            char name[NAME_MAX_LEN];
            size_t k = t < sizeof name - 1 ? t : sizeof name - 1;
            for (size_t i = 0; i < k; i++)
                name[i] = (char)tolower((unsigned char)p[i]);
            name[k] = '\0';
            if (strcmp(name, "none") && strcmp(name, "otlp") && strcmp(name, "console") &&
                strcmp(name, "file")) {
                tel__otlp_log("warn", "%s: unknown exporter \"%s\", using otlp", var, name);
                memcpy(name, "otlp", 5);
            }
            bool dup = false;
            for (size_t i = 0; i < n; i++)
                dup |= strcmp(names[i], name) == 0;
            if (strcmp(name, "none") == 0)
                none = true;
            else if (dup)
                tel__otlp_log("warn", "%s lists \"%s\" twice; it is used once", var, name);
            else if (n == MAX_LISTED)
                tel__otlp_log("warn", "%s lists more than %d exporters; \"%s\" is ignored", var,
                              MAX_LISTED, name);
            else
                memcpy(names[n++], name, k + 1);
        }
        p += len;
    }
    if (n == 0) return NULL; /* "none" (or nothing but separators) */
    if (none)
        tel__otlp_log("warn", "%s lists \"none\" with other exporters; \"none\" is ignored", var);
    tel__exporter *made[MAX_LISTED];
    size_t m = 0;
    for (int pass = 0; pass < 2; pass++) { /* local exporters, then otlp */
        for (size_t i = 0; i < n; i++) {
            bool otlp = strcmp(names[i], "otlp") == 0;
            if (otlp != (pass == 1)) continue;
            tel__exporter *e = exporter_named(signal, names[i]);
            if (!e) continue;
            if (direct && strcmp(names[i], "console") == 0)
                *direct = e;
            else
                made[m++] = e;
        }
    }
    return tel__fanout_exporter_create(signal, made, m);
}

tel_span_exporter *tel_span_exporter_from_env(tel_span_exporter **direct)
{
    tel__exporter *d = NULL;
    tel__exporter *e =
        exporter_from_env(TEL_OTLP_TRACES, "OTEL_TRACES_EXPORTER", "otlp", direct ? &d : NULL);
    if (direct) *direct = d ? &d->pub.span : NULL;
    return e ? &e->pub.span : NULL;
}

tel_metric_exporter *tel_metric_exporter_from_env(void)
{
    tel__exporter *e = exporter_from_env(TEL_OTLP_METRICS, "OTEL_METRICS_EXPORTER", "otlp", NULL);
    return e ? &e->pub.metric : NULL;
}

tel_log_exporter *tel_log_exporter_from_env(void)
{
    tel__exporter *e = exporter_from_env(TEL_OTLP_LOGS, "OTEL_LOGS_EXPORTER", "none", NULL);
    return e ? &e->pub.log : NULL;
}
