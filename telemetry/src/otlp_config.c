/* OTLP exporter configuration from OTEL_EXPORTER_OTLP_* and OTEL_EXPORTER_OTLP_<SIGNAL>_*,
 * and the OTLP log helper. */
#include <ctype.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "otlp_internal.h"
#include "telemetry/env.h"

#define DEFAULT_HTTP_ENDPOINT "http://localhost:4318"
#define DEFAULT_GRPC_ENDPOINT "http://localhost:4317"
#define DEFAULT_TIMEOUT_MS 10000

static const char *const signal_names[] = {"traces", "metrics", "logs"};

const char *tel_otlp_signal_name(tel_otlp_signal signal)
{
    return (unsigned)signal < 3 ? signal_names[signal] : "unknown";
}

const char *tel_otlp_protocol_name(tel_otlp_protocol protocol)
{
    switch (protocol) {
    case TEL_OTLP_HTTP_PROTOBUF:
        return "http/protobuf";
    case TEL_OTLP_HTTP_JSON:
        return "http/json";
    case TEL_OTLP_GRPC:
        return "grpc";
    }
    return "unknown";
}

/* ---- Logging ---- */

void tel__otlp_log(const char *level, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char esc[sizeof msg * 2 + 1];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 7 < sizeof esc; p++) {
        if (*p == '"' || *p == '\\') {
            esc[o++] = '\\';
            esc[o++] = (char)*p;
        } else if (*p < 0x20) {
            o += (size_t)snprintf(esc + o, sizeof esc - o, "\\u%04x", *p);
        } else {
            esc[o++] = (char)*p;
        }
    }
    esc[o] = '\0';
    fprintf(stderr, "{\"level\":\"%s\",\"component\":\"otlp\",\"message\":\"%s\"}\n", level, esc);
}

/* ---- Config lifecycle ---- */

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void free_headers(tel_otlp_config *cfg)
{
    for (size_t i = 0; i < cfg->n_headers; i++) {
        /* Header values may be credentials: clear them before freeing. */
        if (cfg->headers[i].value) {
            volatile char *v = cfg->headers[i].value;
            while (*v)
                *v++ = 0;
        }
        free(cfg->headers[i].name);
        free(cfg->headers[i].value);
        cfg->headers[i].name = cfg->headers[i].value = NULL;
    }
    cfg->n_headers = 0;
}

void tel_otlp_config_cleanup(tel_otlp_config *cfg)
{
    if (!cfg) return;
    free(cfg->endpoint);
    free_headers(cfg);
    free(cfg->certificate);
    free(cfg->client_key);
    free(cfg->client_certificate);
    cfg->endpoint = cfg->certificate = cfg->client_key = cfg->client_certificate = NULL;
}

static int signal_endpoint(char **out, const char *base, tel_otlp_signal signal,
                           tel_otlp_protocol protocol)
{
    if (protocol == TEL_OTLP_GRPC) {
        *out = strdup(base);
        return *out ? TEL_OK : TEL_ENOMEM;
    }
    size_t bl = strlen(base);
    const char *sig = tel_otlp_signal_name(signal);
    size_t n = bl + 1 + 3 + strlen(sig) + 1;
    char *s = malloc(n);
    if (!s) return TEL_ENOMEM;
    snprintf(s, n, "%s%sv1/%s", base, bl && base[bl - 1] == '/' ? "" : "/", sig);
    *out = s;
    return TEL_OK;
}

int tel_otlp_config_init(tel_otlp_config *cfg, tel_otlp_signal signal)
{
    if (!cfg || (unsigned)signal > TEL_OTLP_LOGS) return TEL_EINVAL;
    memset(cfg, 0, sizeof *cfg);
    cfg->signal = signal;
    cfg->protocol = TEL_OTLP_HTTP_PROTOBUF;
    cfg->timeout_ms = DEFAULT_TIMEOUT_MS;
    cfg->retry_initial_ms = 1000;
    cfg->retry_max_ms = 5000;
    cfg->retry_max_attempts = 0;
    return signal_endpoint(&cfg->endpoint, DEFAULT_HTTP_ENDPOINT, signal, cfg->protocol);
}

int tel_otlp_config_set_endpoint(tel_otlp_config *cfg, const char *endpoint)
{
    if (!cfg || !endpoint || !*endpoint) return TEL_EINVAL;
    char *e = strdup(endpoint);
    if (!e) return TEL_ENOMEM;
    free(cfg->endpoint);
    cfg->endpoint = e;
    return TEL_OK;
}

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool header_name_ok(const char *name)
{
    if (!name || !*name) return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!is_tchar(*p)) return false;
    return true;
}

static bool header_value_ok(const char *value)
{
    return value && !strpbrk(value, "\r\n");
}

int tel_otlp_config_set_header(tel_otlp_config *cfg, const char *name, const char *value)
{
    if (!cfg || !header_name_ok(name) || !header_value_ok(value)) return TEL_EINVAL;
    char *v = strdup(value);
    if (!v) return TEL_ENOMEM;
    for (size_t i = 0; i < cfg->n_headers; i++) {
        if (strcasecmp(cfg->headers[i].name, name) == 0) {
            free(cfg->headers[i].value);
            cfg->headers[i].value = v;
            return TEL_OK;
        }
    }
    if (cfg->n_headers >= TEL_OTLP_MAX_HEADERS) {
        free(v);
        return TEL_EFULL;
    }
    char *n = strdup(name);
    if (!n) {
        free(v);
        return TEL_ENOMEM;
    }
    cfg->headers[cfg->n_headers].name = n;
    cfg->headers[cfg->n_headers].value = v;
    cfg->n_headers++;
    return TEL_OK;
}

int tel_otlp_config_copy(tel_otlp_config *dst, const tel_otlp_config *src)
{
    *dst = *src;
    dst->endpoint = dup_str(src->endpoint);
    dst->certificate = dup_str(src->certificate);
    dst->client_key = dup_str(src->client_key);
    dst->client_certificate = dup_str(src->client_certificate);
    bool ok = (!src->endpoint || dst->endpoint) && (!src->certificate || dst->certificate) &&
              (!src->client_key || dst->client_key) &&
              (!src->client_certificate || dst->client_certificate);
    for (size_t i = 0; i < src->n_headers; i++) {
        dst->headers[i].name = dup_str(src->headers[i].name);
        dst->headers[i].value = dup_str(src->headers[i].value);
        if (!dst->headers[i].name || !dst->headers[i].value) ok = false;
    }
    if (!ok) {
        tel_otlp_config_cleanup(dst);
        return TEL_ENOMEM;
    }
    return TEL_OK;
}

/* ---- From the environment ---- */

/* The per-signal variable when set, else the generic one; *name says which (for warnings). */
static const char *env_pick(const char *signal_upper, const char *suffix, char *name, size_t cap)
{
    snprintf(name, cap, "OTEL_EXPORTER_OTLP_%s_%s", signal_upper, suffix);
    const char *v = tel_env_str(name);
    if (v) return v;
    snprintf(name, cap, "OTEL_EXPORTER_OTLP_%s", suffix);
    return tel_env_str(name);
}

static void warn_invalid(const char *var)
{
    tel__otlp_log("warn", "invalid value for %s, using the default", var);
}

static bool valid_http_url(const char *url)
{
    CURLU *u = curl_url();
    if (!u) return false;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK;
    if (ok) {
        char *scheme = NULL, *host = NULL;
        ok = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host &&
             (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0);
        curl_free(scheme);
        curl_free(host);
    }
    curl_url_cleanup(u);
    return ok;
}

typedef struct hdr_list {
    tel_otlp_config tmp; /* only headers used */
    int err;
} hdr_list;

static int collect_header(const char *key, const char *value, void *ud)
{
    hdr_list *l = ud;
    int rc = tel_otlp_config_set_header(&l->tmp, key, value);
    if (rc != TEL_OK) l->err = rc;
    return rc;
}

/* Parses a HEADERS variable into cfg (all or nothing). */
static int env_headers(tel_otlp_config *cfg, const char *var)
{
    const char *v = tel_env_str(var);
    if (!v) return TEL_OK;
    hdr_list l;
    memset(&l, 0, sizeof l);
    int rc = tel_parse_kv_list(v, collect_header, &l);
    if (rc == TEL_ENOMEM || l.err == TEL_ENOMEM) {
        free_headers(&l.tmp);
        return TEL_ENOMEM;
    }
    if (rc != TEL_OK) {
        /* Never print the value: it usually holds credentials. */
        tel__otlp_log("warn",
                      "%s is malformed (expected comma-separated key=value with "
                      "percent-encoded values, at most %d headers); ignoring it",
                      var, TEL_OTLP_MAX_HEADERS);
        free_headers(&l.tmp);
        return TEL_OK;
    }
    for (size_t i = 0; i < l.tmp.n_headers && rc == TEL_OK; i++)
        rc = tel_otlp_config_set_header(cfg, l.tmp.headers[i].name, l.tmp.headers[i].value);
    free_headers(&l.tmp);
    if (rc == TEL_EFULL) {
        tel__otlp_log("warn", "%s: more than %d headers in all; extra ones ignored", var,
                      TEL_OTLP_MAX_HEADERS);
        rc = TEL_OK;
    }
    return rc;
}

static int env_path(char **out, const char *upper, const char *suffix)
{
    char name[96];
    const char *v = env_pick(upper, suffix, name, sizeof name);
    if (!v) return TEL_OK;
    if (access(v, R_OK) != 0)
        tel__otlp_log("warn", "%s names a file that cannot be read; TLS connections will fail",
                      name);
    *out = strdup(v);
    return *out ? TEL_OK : TEL_ENOMEM;
}

int tel_otlp_config_from_env(tel_otlp_config *cfg, const char *signal)
{
    tel_otlp_signal sig;
    if (!cfg || !signal) return TEL_EINVAL;
    if (strcmp(signal, "traces") == 0)
        sig = TEL_OTLP_TRACES;
    else if (strcmp(signal, "metrics") == 0)
        sig = TEL_OTLP_METRICS;
    else if (strcmp(signal, "logs") == 0)
        sig = TEL_OTLP_LOGS;
    else
        return TEL_EINVAL;
    int rc = tel_otlp_config_init(cfg, sig);
    if (rc != TEL_OK) return rc;
    char upper[16];
    size_t i = 0;
    for (; signal[i] && i + 1 < sizeof upper; i++)
        upper[i] = (char)toupper((unsigned char)signal[i]);
    upper[i] = '\0';
    char name[96];
    const char *v;

    /* PROTOCOL first: it decides the default endpoint and the path rule. */
    if ((v = env_pick(upper, "PROTOCOL", name, sizeof name))) {
        if (strcmp(v, "http/protobuf") == 0)
            cfg->protocol = TEL_OTLP_HTTP_PROTOBUF;
        else if (strcmp(v, "http/json") == 0)
            cfg->protocol = TEL_OTLP_HTTP_JSON;
        else if (strcmp(v, "grpc") == 0)
            cfg->protocol = TEL_OTLP_GRPC;
        else
            tel__otlp_log("warn",
                          "%s: unknown protocol (expected grpc, http/protobuf or "
                          "http/json), using http/protobuf",
                          name);
    }

    /* ENDPOINT: per-signal as is; generic with v1/<signal> appended (HTTP only). */
    char *ep = NULL;
    snprintf(name, sizeof name, "OTEL_EXPORTER_OTLP_%s_ENDPOINT", upper);
    const char *sv = tel_env_str(name);
    if (sv && cfg->protocol != TEL_OTLP_GRPC && !valid_http_url(sv)) {
        warn_invalid(name);
        sv = NULL;
    }
    if (sv) {
        ep = strdup(sv);
        rc = ep ? TEL_OK : TEL_ENOMEM;
    } else {
        const char *gv = tel_env_str("OTEL_EXPORTER_OTLP_ENDPOINT");
        if (gv && cfg->protocol != TEL_OTLP_GRPC && !valid_http_url(gv)) {
            warn_invalid("OTEL_EXPORTER_OTLP_ENDPOINT");
            gv = NULL;
        }
        if (!gv)
            gv = cfg->protocol == TEL_OTLP_GRPC ? DEFAULT_GRPC_ENDPOINT : DEFAULT_HTTP_ENDPOINT;
        rc = signal_endpoint(&ep, gv, sig, cfg->protocol);
    }
    if (rc != TEL_OK) goto fail;
    free(cfg->endpoint);
    cfg->endpoint = ep;

    /* HEADERS: generic, then per-signal (overriding equal names). */
    if ((rc = env_headers(cfg, "OTEL_EXPORTER_OTLP_HEADERS")) != TEL_OK) goto fail;
    snprintf(name, sizeof name, "OTEL_EXPORTER_OTLP_%s_HEADERS", upper);
    if ((rc = env_headers(cfg, name)) != TEL_OK) goto fail;

    if ((v = env_pick(upper, "TIMEOUT", name, sizeof name))) {
        int64_t ms;
        if (tel_parse_int(v, 1, 3600000, &ms) == TEL_OK)
            cfg->timeout_ms = (uint32_t)ms;
        else
            warn_invalid(name);
    }
    if ((v = env_pick(upper, "COMPRESSION", name, sizeof name))) {
        if (strcasecmp(v, "gzip") == 0)
            cfg->gzip = true;
        else if (strcasecmp(v, "none") == 0)
            cfg->gzip = false;
        else
            warn_invalid(name);
    }
    if ((v = env_pick(upper, "INSECURE", name, sizeof name))) {
        bool b;
        if (tel_parse_bool(v, &b) == TEL_OK)
            cfg->insecure = b;
        else
            warn_invalid(name);
    }
    if ((rc = env_path(&cfg->certificate, upper, "CERTIFICATE")) != TEL_OK ||
        (rc = env_path(&cfg->client_key, upper, "CLIENT_KEY")) != TEL_OK ||
        (rc = env_path(&cfg->client_certificate, upper, "CLIENT_CERTIFICATE")) != TEL_OK)
        goto fail;
    return TEL_OK;
fail:
    tel_otlp_config_cleanup(cfg);
    return rc;
}

/* ---- Endpoint helpers ---- */

int tel_otlp_grpc_target(const tel_otlp_config *cfg, char *target, size_t cap, bool *plaintext)
{
    if (!cfg || !cfg->endpoint || !target || cap == 0) return TEL_EINVAL;
    const char *e = cfg->endpoint;
    bool plain = cfg->insecure;
    if (strncasecmp(e, "http://", 7) == 0) {
        e += 7;
        plain = true;
    } else if (strncasecmp(e, "https://", 8) == 0) {
        e += 8;
        plain = false;
    } else if (strstr(e, "://")) {
        return TEL_EINVAL;
    }
    const char *at = strchr(e, '@');
    const char *slash = strchr(e, '/');
    if (at && (!slash || at < slash)) e = at + 1; /* userinfo has no meaning for gRPC targets */
    size_t n = strcspn(e, "/?#");
    if (n == 0) return TEL_EINVAL;
    if (n >= cap) return TEL_ETOOBIG;
    memcpy(target, e, n);
    target[n] = '\0';
    if (plaintext) *plaintext = plain;
    return TEL_OK;
}

void tel_otlp_endpoint_for_log(const char *endpoint, char *out, size_t cap)
{
    if (!out || cap == 0) return;
    snprintf(out, cap, "(invalid endpoint)");
    if (!endpoint) return;
    CURLU *u = curl_url();
    if (!u) return;
    if (curl_url_set(u, CURLUPART_URL, endpoint, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) ==
        CURLUE_OK) {
        char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
        curl_url_get(u, CURLUPART_HOST, &host, 0);
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        snprintf(out, cap, "%s://%s%s%s%s", scheme ? scheme : "?", host ? host : "?",
                 port ? ":" : "", port ? port : "", path ? path : "");
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_free(path);
    }
    curl_url_cleanup(u);
}
