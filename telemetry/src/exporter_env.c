/* Span exporter selection from OTEL_TRACES_EXPORTER. */
#include <ctype.h>
#include <string.h>

#include "otlp_internal.h"
#include "telemetry/env.h"

tel_span_exporter *tel_span_exporter_from_env(bool *simple)
{
    bool dummy;
    if (!simple) simple = &dummy;
    *simple = false;
    char name[32] = "otlp";
    const char *v = tel_env_str("OTEL_TRACES_EXPORTER");
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
            tel__otlp_log("warn",
                          "OTEL_TRACES_EXPORTER lists several exporters; only the first "
                          "(%s) is used",
                          name);
    }
    if (strcmp(name, "none") == 0) return NULL;
    if (strcmp(name, "console") == 0) {
        *simple = true;
        return tel_console_exporter_create(NULL);
    }
    if (strcmp(name, "file") == 0) {
        const char *path = tel_env_str("OTEL_EXPORTER_FILE_TRACES_PATH");
        if (!path) path = tel_env_str("OTEL_EXPORTER_FILE_PATH");
        return tel_file_exporter_create(path ? path : "traces.jsonl");
    }
    if (strcmp(name, "otlp") != 0)
        tel__otlp_log("warn", "OTEL_TRACES_EXPORTER: unknown exporter \"%s\", using otlp", name);
    tel_otlp_config cfg;
    if (tel_otlp_config_from_env(&cfg, "traces") != TEL_OK) {
        tel__otlp_log("error", "cannot read the OTLP exporter configuration (out of memory)");
        return NULL;
    }
    tel_span_exporter *e = tel_otlp_span_exporter_create(&cfg);
    if (!e)
        tel__otlp_log("error", "cannot create the OTLP %s span exporter",
                      tel_otlp_protocol_name(cfg.protocol));
    tel_otlp_config_cleanup(&cfg);
    return e;
}
