/* The Redfish driver: libcurl for HTTP(S), jansson (through redfish_json.c) for the bodies.
 *
 * One CURL handle per BMC, so the connection (and the TLS session) is reused; a mutex serialises
 * the calls of one BMC (a BMC serves few clients at a time, and the pool of sessions it grants is
 * small, so callers gain nothing from parallel requests to the same BMC). Distinct BMCs are
 * independent.
 *
 * Authentication: a Redfish session (POST to the service's Sessions collection, then the
 * X-Auth-Token header; DELETE of the session on destroy), with HTTP Basic as the fallback when the
 * BMC has no SessionService or refuses to create sessions for reasons other than the
 * credentials, or as the only method when basic_auth_only is set. A token the BMC no longer
 * honours (401) is replaced once, transparently.
 *
 * Every HTTP request is one CLIENT span `redfish.{operation}` with the HTTP client semantic
 * conventions; the W3C headers are injected with the global propagator. Retries (503 with
 * Retry-After, or a connection reset for idempotent requests) stay inside that span as "retry"
 * events, and never go past the caller's deadline. The password and the session token never
 * reach spans, logs or error messages: request bodies and headers are not recorded, URLs carry no
 * userinfo, and messages coming from the BMC are scrubbed of both. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/bmc_driver.h"
#include "agent/redfish_json.h"
#include "span_baggage.h"
#include "telemetry/log.h"
#include "telemetry/propagation.h"
#include "telemetry/trace.h"

#define RF_MAX_ATTEMPTS 5      /* first try + retries, per request */
#define RF_MAX_BODY (4u << 20) /* answers larger than this are refused */
#define RF_MAX_RETRY_AFTER_S                                                                       \
    60                           /* a longer Retry-After is clamped (then checked against          \
                                    the deadline) */
#define RF_MAX_SENSOR_MEMBERS 64 /* Sensor resources read per call, at most */
#define RF_LOGOUT_TIMEOUT_NS (2000000000ull)
#define RF_TOKEN_MAX 512

typedef struct rf_buf {
    char *p;
    size_t len, cap;
    bool overflow;
} rf_buf;

typedef struct rf_resp {
    long status;
    rf_buf body;
    char token[RF_TOKEN_MAX];          /* X-Auth-Token (session creation) */
    char location[AGT_RF_URI_MAX * 2]; /* Location (session creation) */
    long retry_after_s;                /* -1 when absent or not in seconds */
} rf_resp;

typedef enum rf_auth {
    RF_AUTH_NONE = 0, /* send no credentials (service root, session login) */
    RF_AUTH_REQUIRED, /* session token or Basic */
} rf_auth;

typedef struct rf_req {
    const char *op;     /* span name: a string literal "redfish.xxx" */
    const char *method; /* a string literal */
    const char *path;   /* absolute path on the BMC */
    const char *body;   /* JSON body or NULL */
    rf_auth auth;
    bool idempotent;        /* may be retried after a connection reset */
    const char *reset_type; /* recorded as redfish.reset_type (literal) */
} rf_req;

typedef struct rf_drv {
    pthread_mutex_t lock;
    agt_endpoint ep;
    char base[300]; /* "http[s]://host:port" */
    char *user;
    char *pass;
    size_t pass_len;
    char *ca_file;
    bool https, insecure, basic_only;
    tel_tracer *tracer; /* NULL: the global tracer */
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    /* session */
    char token[RF_TOKEN_MAX];
    char session_uri[AGT_RF_URI_MAX];
    bool sessions_unsupported;
    /* discovery cache */
    bool have_root;
    agt_rf_root root;
    char system[AGT_RF_URI_MAX];
    char manager[AGT_RF_URI_MAX];
    char chassis[AGT_RF_URI_MAX];
} rf_drv;

/* ---- logging ---- */

static void rf_log_warn(const rf_drv *d, const char *msg)
{
    tel_attr attrs[2] = {TEL_ATTR_STR("bmc.type", "redfish"),
                         TEL_ATTR_STR("server.address", d->ep.host)};
    tel_log(TEL_LOG_WARN, attrs, 2, "%s", msg);
}

/* ---- secrets ---- */

/* Replaces every occurrence of secret (len > 0) in s with "***" (shorter secrets with as many
 * '*'), in place: the string never grows. */
static void scrub(char *s, const char *secret, size_t len)
{
    if (!s || !secret || len == 0) return;
    size_t m = len < 3 ? len : 3;
    char *from = s, *p;
    while ((p = strstr(from, secret)) != NULL) {
        memset(p, '*', m);
        memmove(p + m, p + len, strlen(p + len) + 1);
        from = p + m;
    }
}

static void scrub_secrets(const rf_drv *d, char *s)
{
    scrub(s, d->pass, d->pass_len);
    scrub(s, d->token, strlen(d->token));
}

static void wipe(void *p, size_t n)
{
    if (p) explicit_bzero(p, n);
}

/* ---- time ---- */

static uint64_t remaining_ns(uint64_t deadline_ns)
{
    uint64_t now = tel_mono_ns();
    return deadline_ns > now ? deadline_ns - now : 0;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
    }
}

/* Locks d within the deadline. */
static int lock_until(rf_drv *d, uint64_t deadline_ns, agt_result *res)
{
    uint64_t rem = remaining_ns(deadline_ns);
    if (rem == 0) return agt_result_set(res, AGT_ETIMEOUT, 0, "deadline passed before the request");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + rem;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    int rc = pthread_mutex_timedlock(&d->lock, &ts);
    if (rc == ETIMEDOUT)
        return agt_result_set(res, AGT_ETIMEOUT, 0,
                              "deadline passed while waiting for another request to this BMC");
    return rc == 0 ? AGT_OK : agt_result_set(res, AGT_EINVAL, 0, "cannot lock the BMC handle");
}

/* ---- curl callbacks ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    rf_buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n + 1 > RF_MAX_BODY) {
        b->overflow = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* Copies the value of header line (name: value\r\n) into out when its name matches. */
static bool header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0) return false;
    const char *v = line + nl + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    if (vl >= cap) vl = 0; /* too long to be ours: treat as absent rather than truncate a token */
    memcpy(out, v, vl);
    out[vl] = '\0';
    return true;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    rf_resp *r = ud;
    size_t n = size * nmemb;
    char tmp[32];
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) { /* a new response (after 1xx): start over */
        wipe(r->token, sizeof r->token);
        r->location[0] = '\0';
        r->retry_after_s = -1;
        return n;
    }
    if (header_value(ptr, n, "X-Auth-Token", r->token, sizeof r->token) ||
        header_value(ptr, n, "Location", r->location, sizeof r->location))
        return n;
    if (header_value(ptr, n, "Retry-After", tmp, sizeof tmp)) {
        char *end;
        errno = 0;
        long v = strtol(tmp, &end, 10);
        if (tmp[0] >= '0' && tmp[0] <= '9' && *end == '\0' && errno == 0)
            r->retry_after_s = v > RF_MAX_RETRY_AFTER_S ? RF_MAX_RETRY_AFTER_S : v;
    }
    return n;
}

/* ---- propagation carrier: collects header lines, replacing a name set twice ---- */

#define RF_MAX_PROP_HEADERS 16

typedef struct rf_hdrs {
    char *lines[RF_MAX_PROP_HEADERS];
    size_t n;
} rf_hdrs;

static int carrier_set(void *ud, const char *name, const char *value)
{
    rf_hdrs *h = ud;
    size_t nl = strlen(name);
    size_t len = nl + 2 + strlen(value) + 1;
    char *line = malloc(len);
    if (!line) return TEL_ENOMEM;
    snprintf(line, len, "%s: %s", name, value);
    for (size_t i = 0; i < h->n; i++) {
        if (strncasecmp(h->lines[i], name, nl) == 0 && h->lines[i][nl] == ':') {
            free(h->lines[i]);
            h->lines[i] = line;
            return TEL_OK;
        }
    }
    if (h->n == RF_MAX_PROP_HEADERS) {
        free(line);
        return TEL_EFULL;
    }
    h->lines[h->n++] = line;
    return TEL_OK;
}

static const char *carrier_get(void *ud, const char *name, size_t *len)
{
    (void)ud;
    (void)name;
    (void)len;
    return NULL;
}

/* Appends a header line; on failure keeps the list as it was and sets *oom. */
static struct curl_slist *hdr_add(struct curl_slist *l, const char *line, bool *oom)
{
    struct curl_slist *n = curl_slist_append(l, line);
    if (!n) {
        *oom = true;
        return l;
    }
    return n;
}

static void free_slist_wiped(struct curl_slist *l)
{
    for (struct curl_slist *i = l; i; i = i->next)
        wipe(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

/* ---- one HTTP request: a span, retries inside it ---- */

typedef enum rf_fail {
    RF_FAIL_NONE = 0,
    RF_FAIL_RESET,
    RF_FAIL_OTHER,
} rf_fail;

static rf_fail classify(CURLcode cc)
{
    switch (cc) {
    case CURLE_OK:
        return RF_FAIL_NONE;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return RF_FAIL_RESET;
    default:
        return RF_FAIL_OTHER;
    }
}

static bool is_tls_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return true;
    default:
        return false;
    }
}

static void set_options(rf_drv *d, const rf_req *req, const char *url, bool use_token,
                        struct curl_slist *hdrs, rf_resp *resp, uint64_t rem_ns)
{
    CURL *c = d->curl;
    curl_easy_reset(c); /* keeps the live connection and TLS session cache */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "bmcfleet-agent/" BMC_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    long ms = (long)((rem_ns + 999999) / 1000000);
    if (ms < 1) ms = 1;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "POST") == 0) {
        const char *body = req->body ? req->body : "{}";
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    if (d->https) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, d->insecure ? 0L : 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, d->insecure ? 0L : 2L);
        if (d->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, d->ca_file);
    }
    if (req->auth == RF_AUTH_REQUIRED && !use_token) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, d->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, d->pass);
    }
}

static void add_retry_event(tel_span *span, int next_attempt, const char *reason, long status,
                            uint64_t delay_ns, long retry_after_s)
{
    tel_attr ev[5];
    size_t n = 0;
    ev[n++] = TEL_ATTR_INT64("retry.attempt", next_attempt);
    ev[n++] = TEL_ATTR_STR("retry.reason", reason);
    ev[n++] = TEL_ATTR_INT64("retry.delay_ms", (int64_t)(delay_ns / 1000000u));
    if (status) ev[n++] = TEL_ATTR_INT64("http.response.status_code", status);
    if (retry_after_s >= 0) ev[n++] = TEL_ATTR_INT64("http.retry_after_s", retry_after_s);
    tel_span_add_event(span, "retry", ev, n);
}

/* Fills res from a finished exchange and returns the code. */
static int map_result(rf_drv *d, const rf_req *req, CURLcode cc, const rf_resp *resp,
                      const char **error_type, agt_result *res)
{
    char detail[200];
    if (cc == CURLE_OK) {
        long st = resp->status;
        if (st >= 200 && st < 300) return agt_result_set(res, AGT_OK, (int)st, "ok");
        detail[0] = '\0';
        if (resp->body.p) agt_rf_parse_error(resp->body.p, resp->body.len, detail, sizeof detail);
        *error_type = NULL; /* the status code, set by the caller */
        if (st == 401 || st == 403)
            return agt_result_set(res, AGT_EAUTH, (int)st,
                                  "BMC %s rejected the credentials (HTTP %ld)", d->ep.host, st);
        return agt_result_set(res, AGT_EBMC, (int)st, "%s %s: HTTP %ld%s%s", req->method, req->path,
                              st, detail[0] ? ": " : "", detail);
    }
    const char *why = d->errbuf[0] ? d->errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        *error_type = cc == CURLE_COULDNT_CONNECT ? "connection_refused" : "name_resolution";
        return agt_result_set(res, AGT_EUNREACHABLE, 0, "BMC %s:%d unreachable: %s", d->ep.host,
                              d->ep.port, why);
    case CURLE_OPERATION_TIMEDOUT:
        *error_type = "timeout";
        return agt_result_set(res, AGT_ETIMEOUT, 0, "%s %s: deadline exceeded (%s)", req->method,
                              req->path, why);
    case CURLE_WRITE_ERROR:
        *error_type = "response_too_large";
        return agt_result_set(res, AGT_EPROTO, 0, "%s %s: answer larger than %u bytes", req->method,
                              req->path, RF_MAX_BODY);
    default:
        break;
    }
    if (classify(cc) == RF_FAIL_RESET) {
        *error_type = "connection_reset";
        return agt_result_set(res, AGT_EUNREACHABLE, 0, "%s %s: connection lost: %s", req->method,
                              req->path, why);
    }
    if (is_tls_error(cc)) {
        *error_type = "tls";
        return agt_result_set(res, AGT_EPROTO, 0, "TLS with BMC %s failed: %s", d->ep.host, why);
    }
    *error_type = "transport";
    return agt_result_set(res, AGT_EPROTO, 0, "%s %s: %s", req->method, req->path, why);
}

/* Performs one request (with its retries) under one CLIENT span. resp->body is reset first;
 * the caller frees resp->body.p. */
static int rf_http(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns, const rf_req *req,
                   bool use_token, rf_resp *resp, agt_result *res)
{
    char url[sizeof d->base + AGT_RF_URI_MAX * 2];
    snprintf(url, sizeof url, "%s%s", d->base, req->path);

    tel_span_start_opts so = {.name = req->op, .kind = TEL_SPAN_KIND_CLIENT, .parent = ctx};
    tel_tracer *tracer = d->tracer ? d->tracer : tel_global_tracer("bmcfleet.agent", BMC_VERSION);
    tel_span *span = tel_span_start_ex(tracer, &so);
    if (tel_span_is_recording(span)) {
        tel_span_set_str_static(span, "http.request.method", req->method);
        /* url.full without query (never any userinfo: credentials are not in our URLs). */
        size_t ul = strcspn(url, "?");
        tel_span_set_strn(span, "url.full", url, ul);
        tel_span_set_str(span, "server.address", d->ep.host);
        tel_span_set_int(span, "server.port", d->ep.port);
        tel_span_set_str_static(span, "bmc.type", "redfish");
        tel_span_set_str(span, "bmc.address", d->ep.host);
        if (req->reset_type) tel_span_set_str_static(span, "redfish.reset_type", req->reset_type);
        agt_span_copy_baggage(span, ctx);
    }

    /* Headers: ours, then the propagation headers for a context whose parent is this span. */
    struct curl_slist *hdrs = NULL;
    bool oom = false;
    hdrs = hdr_add(hdrs, "Accept: application/json", &oom);
    hdrs = hdr_add(hdrs, "OData-Version: 4.0", &oom);
    hdrs = hdr_add(hdrs, "Expect:", &oom);
    if (req->body) hdrs = hdr_add(hdrs, "Content-Type: application/json; charset=utf-8", &oom);
    if (use_token) {
        char line[RF_TOKEN_MAX + 32];
        snprintf(line, sizeof line, "X-Auth-Token: %s", d->token);
        hdrs = hdr_add(hdrs, line, &oom);
        wipe(line, sizeof line);
    }
    tel_context child;
    tel_context_init(&child);
    if (ctx) tel_context_copy(&child, ctx);
    tel_context_set_span(&child, span);
    rf_hdrs prop = {.n = 0};
    tel_carrier carrier = {.ud = &prop, .get = carrier_get, .set = carrier_set};
    tel_propagator_inject(tel_propagator_global(), &child, &carrier);
    tel_context_cleanup(&child);
    for (size_t i = 0; i < prop.n; i++) {
        hdrs = hdr_add(hdrs, prop.lines[i], &oom);
        free(prop.lines[i]);
    }

    int rc = AGT_OK;
    const char *error_type = NULL;
    int attempt = 0;
    resp->body.len = 0;
    if (resp->body.p) resp->body.p[0] = '\0';
    if (oom) {
        error_type = "out_of_memory";
        rc = agt_result_set(res, AGT_ENOMEM, 0, "out of memory");
    }
    while (rc == AGT_OK) {
        uint64_t rem = remaining_ns(deadline_ns);
        if (rem == 0) {
            error_type = "timeout";
            rc = agt_result_set(res, AGT_ETIMEOUT, 0, "%s %s: deadline exceeded", req->method,
                                req->path);
            break;
        }
        resp->status = 0;
        resp->body.len = 0;
        resp->body.overflow = false;
        resp->retry_after_s = -1;
        resp->location[0] = '\0';
        wipe(resp->token, sizeof resp->token);
        d->errbuf[0] = '\0';
        set_options(d, req, url, use_token, hdrs, resp, rem);
        CURLcode cc = curl_easy_perform(d->curl);
        if (cc == CURLE_OK) curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &resp->status);
        if (cc == CURLE_WRITE_ERROR && !resp->body.overflow) cc = CURLE_OUT_OF_MEMORY;

        bool retry503 = cc == CURLE_OK && resp->status == 503;
        bool retry_reset = classify(cc) == RF_FAIL_RESET && req->idempotent;
        if ((retry503 || retry_reset) && attempt + 1 < RF_MAX_ATTEMPTS) {
            uint64_t delay;
            if (retry503 && resp->retry_after_s >= 0)
                delay = (uint64_t)resp->retry_after_s * 1000000000u;
            else
                delay = (250000000ull << attempt) > 2000000000ull ? 2000000000ull
                                                                  : (250000000ull << attempt);
            if (delay >= remaining_ns(deadline_ns)) {
                error_type = "timeout";
                if (retry503)
                    rc = agt_result_set(res, AGT_ETIMEOUT, 503,
                                        "%s %s: BMC busy (HTTP 503); retrying after %llu ms "
                                        "would pass the deadline",
                                        req->method, req->path,
                                        (unsigned long long)(delay / 1000000u));
                else
                    rc = agt_result_set(res, AGT_ETIMEOUT, 0,
                                        "%s %s: connection reset, no time left to retry",
                                        req->method, req->path);
                break;
            }
            attempt++;
            add_retry_event(span, attempt + 1, retry503 ? "http_503" : "connection_reset",
                            retry503 ? 503 : 0, delay, retry503 ? resp->retry_after_s : -1);
            sleep_ns(delay);
            continue;
        }
        rc = map_result(d, req, cc, resp, &error_type, res);
        break;
    }
    free_slist_wiped(hdrs);

    scrub_secrets(d, res->message);
    if (tel_span_is_recording(span)) {
        if (resp->status) tel_span_set_int(span, "http.response.status_code", resp->status);
        if (attempt) tel_span_set_int(span, "http.request.resend_count", attempt);
        if (rc != AGT_OK) {
            char st[16];
            if (!error_type && resp->status) {
                snprintf(st, sizeof st, "%ld", resp->status);
                tel_span_set_str(span, "error.type", st);
            } else {
                tel_span_set_str(span, "error.type", error_type ? error_type : "error");
            }
            tel_span_set_status(span, TEL_STATUS_ERROR, res->message);
        }
    }
    tel_span_end(span);
    return rc;
}

static void resp_free(rf_resp *r)
{
    free(r->body.p);
    wipe(r, sizeof *r);
}

/* ---- sessions ---- */

static int rf_get_root(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns, agt_result *res);

/* The path of a Location header (absolute URL or path), or "" when it is not on this BMC. */
static void location_path(const char *loc, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = loc;
    if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0) {
        p = strstr(p, "://") + 3;
        p += strcspn(p, "/");
    }
    if (p[0] == '/' && p[1] != '/' && strlen(p) < cap && !strpbrk(p, " \t\r\n\\"))
        snprintf(out, cap, "%s", p);
}

static int rf_session_create(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns,
                             agt_result *res)
{
    int rc = rf_get_root(d, ctx, deadline_ns, res);
    if (rc != AGT_OK) return rc;
    char sessions[AGT_RF_URI_MAX];
    size_t sl = strlen(d->root.session_service);
    if (d->root.sessions[0]) {
        memcpy(sessions, d->root.sessions, sizeof sessions);
    } else if (sl && sl + sizeof "/Sessions" <= sizeof sessions) {
        memcpy(sessions, d->root.session_service, sl);
        memcpy(sessions + sl, "/Sessions", sizeof "/Sessions");
    } else {
        d->sessions_unsupported = true; /* no SessionService: Basic it is */
        return AGT_OK;
    }
    /* The body holds the password: built here, wiped after use, never recorded. */
    json_t *pw = json_string(d->pass);
    json_t *o = pw ? json_pack("{s:s, s:o}", "UserName", d->user, "Password", pw) : NULL;
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (pw) wipe((char *)json_string_value(pw), d->pass_len);
    json_decref(o);
    if (!body) return agt_result_set(res, AGT_ENOMEM, 0, "out of memory");
    rf_req req = {.op = "redfish.session.create",
                  .method = "POST",
                  .path = sessions,
                  .body = body,
                  .auth = RF_AUTH_NONE,
                  .idempotent = false};
    rf_resp resp = {.retry_after_s = -1};
    rc = rf_http(d, ctx, deadline_ns, &req, false, &resp, res);
    wipe(body, strlen(body));
    free(body);
    if (rc == AGT_OK) {
        if (!resp.token[0]) {
            d->sessions_unsupported = true; /* created but no token: use Basic */
        } else {
            memcpy(d->token, resp.token, sizeof d->token);
            location_path(resp.location, d->session_uri, sizeof d->session_uri);
            if (!d->session_uri[0] && resp.body.p) {
                json_error_t je;
                json_t *s = json_loadb(resp.body.p, resp.body.len, 0, &je);
                const char *id = json_string_value(json_object_get(s, "@odata.id"));
                if (id) location_path(id, d->session_uri, sizeof d->session_uri);
                json_decref(s);
            }
        }
    } else if (rc == AGT_EBMC && (res->bmc_code == 400 || res->bmc_code == 404 ||
                                  res->bmc_code == 405 || res->bmc_code == 501)) {
        d->sessions_unsupported = true; /* the BMC does not do sessions our way: Basic */
        rc = agt_result_set(res, AGT_OK, 0, "ok");
    }
    resp_free(&resp);
    return rc;
}

/* Logs out (best effort, bounded) and forgets the token. */
static void rf_session_delete(rf_drv *d, const tel_context *ctx)
{
    if (!d->token[0]) return;
    if (d->session_uri[0]) {
        agt_result res;
        rf_req req = {.op = "redfish.session.delete",
                      .method = "DELETE",
                      .path = d->session_uri,
                      .auth = RF_AUTH_REQUIRED,
                      .idempotent = true};
        rf_resp resp = {.retry_after_s = -1};
        rf_http(d, ctx, tel_mono_ns() + RF_LOGOUT_TIMEOUT_NS, &req, true, &resp, &res);
        resp_free(&resp);
    }
    wipe(d->token, sizeof d->token);
    d->session_uri[0] = '\0';
}

/* A request with authentication: establishes the session first when needed, replaces an expired
 * token once. */
static int rf_call(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns, const rf_req *req,
                   rf_resp *resp, agt_result *res)
{
    for (int pass = 0; pass < 2; pass++) {
        bool sessions = req->auth == RF_AUTH_REQUIRED && !d->basic_only && !d->sessions_unsupported;
        if (sessions && !d->token[0]) {
            int rc = rf_session_create(d, ctx, deadline_ns, res);
            if (rc != AGT_OK) return rc;
        }
        bool use_token = req->auth == RF_AUTH_REQUIRED && d->token[0];
        int rc = rf_http(d, ctx, deadline_ns, req, use_token, resp, res);
        if (rc == AGT_EAUTH && use_token && pass == 0) {
            /* The BMC dropped our session (timeout, reboot): log in again once. */
            wipe(d->token, sizeof d->token);
            d->session_uri[0] = '\0';
            continue;
        }
        return rc;
    }
    return AGT_EAUTH; /* not reached */
}

static int rf_get(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns, const char *op,
                  const char *path, rf_resp *resp, agt_result *res)
{
    rf_req req = {
        .op = op, .method = "GET", .path = path, .auth = RF_AUTH_REQUIRED, .idempotent = true};
    return rf_call(d, ctx, deadline_ns, &req, resp, res);
}

/* ---- discovery ---- */

static int rf_get_root(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns, agt_result *res)
{
    if (d->have_root) return AGT_OK;
    /* The service root needs no authentication (DSP0266); send what we already have anyway. */
    rf_req req = {.op = "redfish.get_service_root",
                  .method = "GET",
                  .path = "/redfish/v1/",
                  .auth =
                      (d->basic_only || d->sessions_unsupported) ? RF_AUTH_REQUIRED : RF_AUTH_NONE,
                  .idempotent = true};
    rf_resp resp = {.retry_after_s = -1};
    int rc = rf_http(d, ctx, deadline_ns, &req, false, &resp, res);
    if (rc == AGT_OK) {
        if (agt_rf_parse_root(resp.body.p, resp.body.len, &d->root) != AGT_OK)
            rc = agt_result_set(res, AGT_EPROTO, 0, "the service root of BMC %s is not JSON",
                                d->ep.host);
        else
            d->have_root = true;
    }
    resp_free(&resp);
    return rc;
}

/* The first member of a collection at path. */
static int rf_first_member(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns, const char *op,
                           const char *path, char out[AGT_RF_URI_MAX], const char *what,
                           agt_result *res)
{
    rf_resp resp = {.retry_after_s = -1};
    int rc = rf_get(d, ctx, deadline_ns, op, path, &resp, res);
    if (rc == AGT_OK) {
        size_t n = 0;
        if (agt_rf_parse_collection(resp.body.p, resp.body.len, (char(*)[AGT_RF_URI_MAX])out, 1, &n,
                                    NULL) != AGT_OK)
            rc = agt_result_set(res, AGT_EPROTO, 0, "%s is not a Redfish collection", path);
        else if (n == 0)
            rc = agt_result_set(res, AGT_EUNSUPPORTED, 0, "BMC %s lists no %s", d->ep.host, what);
    }
    resp_free(&resp);
    return rc;
}

static int rf_find_system(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns, agt_result *res)
{
    if (d->system[0]) return AGT_OK;
    int rc = rf_get_root(d, ctx, deadline_ns, res);
    if (rc != AGT_OK) return rc;
    if (!d->root.systems[0])
        return agt_result_set(res, AGT_EUNSUPPORTED, 0, "BMC %s has no Systems collection",
                              d->ep.host);
    return rf_first_member(d, ctx, deadline_ns, "redfish.get_systems", d->root.systems, d->system,
                           "ComputerSystem", res);
}

/* Reads the system (discovering it first); a cached system that went away (404) is discovered
 * again once. */
static int rf_read_system(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns,
                          agt_rf_system *sys, agt_result *res)
{
    for (int pass = 0; pass < 2; pass++) {
        int rc = rf_find_system(d, ctx, deadline_ns, res);
        if (rc != AGT_OK) return rc;
        rf_resp resp = {.retry_after_s = -1};
        rc = rf_get(d, ctx, deadline_ns, "redfish.get_system", d->system, &resp, res);
        if (rc == AGT_OK && agt_rf_parse_system(resp.body.p, resp.body.len, sys) != AGT_OK)
            rc = agt_result_set(res, AGT_EPROTO, 0, "%s is not a ComputerSystem", d->system);
        resp_free(&resp);
        if (rc == AGT_EBMC && res->bmc_code == 404 && pass == 0) {
            d->system[0] = d->manager[0] = d->chassis[0] = '\0';
            d->have_root = false;
            continue;
        }
        if (rc == AGT_OK) {
            if (sys->manager[0]) memcpy(d->manager, sys->manager, sizeof d->manager);
            if (sys->chassis[0]) memcpy(d->chassis, sys->chassis, sizeof d->chassis);
        }
        return rc;
    }
    return AGT_EBMC; /* not reached */
}

/* ---- operations ---- */

static int rf_power_locked(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns,
                           agt_power_action action, agt_power_state *state, agt_result *res)
{
    agt_rf_system sys;
    int rc = rf_read_system(d, ctx, deadline_ns, &sys, res);
    if (rc != AGT_OK) return rc;
    if (action == AGT_POWER_STATUS) {
        *state = agt_rf_power_state(sys.power_state);
        if (*state == AGT_POWER_UNKNOWN)
            return agt_result_set(res, AGT_EPROTO, 0, "BMC %s reports PowerState '%s'", d->ep.host,
                                  sys.power_state[0] ? sys.power_state : "(none)");
        return agt_result_set(res, AGT_OK, 0, "ok");
    }
    if (!sys.reset_target[0])
        return agt_result_set(res, AGT_EUNSUPPORTED, 0,
                              "BMC %s offers no #ComputerSystem.Reset action", d->ep.host);
    unsigned allowed = sys.reset_allowed;
    bool has_list = sys.reset_has_list;
    if (!has_list && sys.reset_action_info[0]) {
        rf_resp resp = {.retry_after_s = -1};
        rc = rf_get(d, ctx, deadline_ns, "redfish.get_action_info", sys.reset_action_info, &resp,
                    res);
        if (rc == AGT_OK &&
            agt_rf_parse_action_info(resp.body.p, resp.body.len, &allowed, &has_list) != AGT_OK)
            rc = agt_result_set(res, AGT_EPROTO, 0, "%s is not an ActionInfo",
                                sys.reset_action_info);
        resp_free(&resp);
        if (rc != AGT_OK) return rc;
    }
    agt_rf_reset_choice choice;
    if (agt_rf_choose_reset(action, allowed, has_list, &choice) != AGT_OK) {
        char list[160];
        return agt_result_set(
            res, AGT_EUNSUPPORTED, 0, "BMC %s cannot '%s': it allows ResetType %s", d->ep.host,
            agt_power_action_name(action), agt_rf_reset_list(allowed, list, sizeof list));
    }
    char body[64];
    snprintf(body, sizeof body, "{\"ResetType\":\"%s\"}", choice.name);
    rf_req req = {.op = "redfish.reset",
                  .method = "POST",
                  .path = sys.reset_target,
                  .body = body,
                  .auth = RF_AUTH_REQUIRED,
                  .idempotent = false,
                  .reset_type = choice.name};
    rf_resp resp = {.retry_after_s = -1};
    rc = rf_call(d, ctx, deadline_ns, &req, &resp, res);
    resp_free(&resp);
    if (rc != AGT_OK) return rc;
    /* The state after the action, as the BMC now reports it. */
    rc = rf_read_system(d, ctx, deadline_ns, &sys, res);
    if (rc != AGT_OK) return rc;
    *state = agt_rf_power_state(sys.power_state);
    return agt_result_set(res, AGT_OK, 0, "ok");
}

static int rf_identity_locked(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns,
                              agt_identity *out, agt_result *res)
{
    agt_rf_system sys;
    int rc = rf_read_system(d, ctx, deadline_ns, &sys, res);
    if (rc != AGT_OK) return rc;
    snprintf(out->manufacturer, sizeof out->manufacturer, "%s", sys.manufacturer);
    snprintf(out->model, sizeof out->model, "%s", sys.model);
    snprintf(out->serial, sizeof out->serial, "%s", sys.serial);
    snprintf(out->guid, sizeof out->guid, "%s", sys.uuid);
    if (!d->manager[0] && d->root.managers[0]) {
        rc = rf_first_member(d, ctx, deadline_ns, "redfish.get_managers", d->root.managers,
                             d->manager, "Manager", res);
        if (rc != AGT_OK && rc != AGT_EUNSUPPORTED) return rc;
    }
    if (d->manager[0]) {
        rf_resp resp = {.retry_after_s = -1};
        rc = rf_get(d, ctx, deadline_ns, "redfish.get_manager", d->manager, &resp, res);
        agt_rf_manager mgr;
        if (rc == AGT_OK && agt_rf_parse_manager(resp.body.p, resp.body.len, &mgr) == AGT_OK)
            snprintf(out->firmware, sizeof out->firmware, "%s", mgr.firmware);
        else if (rc == AGT_OK)
            rc = agt_result_set(res, AGT_EPROTO, 0, "%s is not a Manager", d->manager);
        resp_free(&resp);
        if (rc != AGT_OK) return rc;
    }
    return agt_result_set(res, AGT_OK, 0, "ok");
}

typedef int (*rf_reader)(const char *buf, size_t len, agt_sensor *out, size_t cap, size_t *n);

static int rf_read_into(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns, const char *op,
                        const char *path, rf_reader reader, agt_sensor *out, size_t cap, size_t *n,
                        agt_result *res)
{
    rf_resp resp = {.retry_after_s = -1};
    int rc = rf_get(d, ctx, deadline_ns, op, path, &resp, res);
    if (rc == AGT_OK && reader(resp.body.p, resp.body.len, out, cap, n) != AGT_OK)
        rc = agt_result_set(res, AGT_EPROTO, 0, "%s is not what the schema says", path);
    resp_free(&resp);
    return rc;
}

static int rf_sensors_locked(rf_drv *d, const tel_context *ctx, uint64_t deadline_ns,
                             agt_sensor *out, size_t cap, size_t *n, agt_result *res)
{
    int rc;
    if (!d->chassis[0]) {
        agt_rf_system sys;
        rc = rf_read_system(d, ctx, deadline_ns, &sys, res);
        if (rc != AGT_OK) return rc;
        if (!d->chassis[0] && d->root.chassis[0]) {
            rc = rf_first_member(d, ctx, deadline_ns, "redfish.get_chassis_collection",
                                 d->root.chassis, d->chassis, "Chassis", res);
            if (rc != AGT_OK) return rc;
        }
        if (!d->chassis[0])
            return agt_result_set(res, AGT_EUNSUPPORTED, 0, "BMC %s lists no Chassis", d->ep.host);
    }
    agt_rf_chassis ch;
    rf_resp resp = {.retry_after_s = -1};
    rc = rf_get(d, ctx, deadline_ns, "redfish.get_chassis", d->chassis, &resp, res);
    if (rc == AGT_OK && agt_rf_parse_chassis(resp.body.p, resp.body.len, &ch) != AGT_OK)
        rc = agt_result_set(res, AGT_EPROTO, 0, "%s is not a Chassis", d->chassis);
    resp_free(&resp);
    if (rc != AGT_OK) return rc;
    if (ch.thermal[0] || ch.power[0]) {
        if (ch.thermal[0] && *n < cap) {
            rc = rf_read_into(d, ctx, deadline_ns, "redfish.get_thermal", ch.thermal,
                              agt_rf_parse_thermal, out, cap, n, res);
            if (rc != AGT_OK) return rc;
        }
        if (ch.power[0] && *n < cap) {
            rc = rf_read_into(d, ctx, deadline_ns, "redfish.get_power", ch.power,
                              agt_rf_parse_power, out, cap, n, res);
            if (rc != AGT_OK) return rc;
        }
        return agt_result_set(res, AGT_OK, 0, "ok");
    }
    if (!ch.sensors[0])
        return agt_result_set(res, AGT_EUNSUPPORTED, 0,
                              "BMC %s publishes no Thermal, Power or Sensors for %s", d->ep.host,
                              d->chassis);
    /* The newer Sensors collection: one GET per member, bounded. */
    char(*members)[AGT_RF_URI_MAX] = calloc(RF_MAX_SENSOR_MEMBERS, AGT_RF_URI_MAX);
    if (!members) return agt_result_set(res, AGT_ENOMEM, 0, "out of memory");
    size_t count = 0;
    rc = rf_get(d, ctx, deadline_ns, "redfish.get_sensors", ch.sensors, &resp, res);
    if (rc == AGT_OK && agt_rf_parse_collection(resp.body.p, resp.body.len, members,
                                                RF_MAX_SENSOR_MEMBERS, &count, NULL) != AGT_OK)
        rc = agt_result_set(res, AGT_EPROTO, 0, "%s is not a collection", ch.sensors);
    resp_free(&resp);
    for (size_t i = 0; rc == AGT_OK && i < count && *n < cap; i++)
        rc = rf_read_into(d, ctx, deadline_ns, "redfish.get_sensor", members[i],
                          agt_rf_parse_sensor, out, cap, n, res);
    free(members);
    return rc == AGT_OK ? agt_result_set(res, AGT_OK, 0, "ok") : rc;
}

/* ---- the vtable ---- */

static void rf_destroy(void *drv);

static void *rf_create(const agt_endpoint *ep, const char *user, const char *pass,
                       const agt_bmc_options *opts, agt_result *err)
{
    rf_drv *d = calloc(1, sizeof *d);
    if (!d) {
        agt_result_set(err, AGT_ENOMEM, 0, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&d->lock, NULL);
    d->ep = *ep;
    d->https = strcmp(ep->scheme, "redfish+https") == 0;
    bool v6 = strchr(ep->host, ':') != NULL;
    snprintf(d->base, sizeof d->base, "%s://%s%s%s:%d", d->https ? "https" : "http", v6 ? "[" : "",
             ep->host, v6 ? "]" : "", ep->port);
    d->user = strdup(user);
    d->pass = strdup(pass);
    d->pass_len = strlen(pass);
    d->insecure = opts->tls_insecure;
    d->basic_only = opts->basic_auth_only;
    d->tracer = opts->tracer; /* NULL: the global tracer, looked up per request */
    if (opts->tls_ca_file) d->ca_file = strdup(opts->tls_ca_file);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* reference counted; paired in rf_destroy */
    d->curl = curl_easy_init();
    if (!d->user || !d->pass || (opts->tls_ca_file && !d->ca_file) || !d->curl) {
        rf_destroy(d);
        agt_result_set(err, AGT_ENOMEM, 0, "out of memory");
        return NULL;
    }
    if (d->https && d->insecure)
        rf_log_warn(d, "TLS certificate verification is disabled for this Redfish BMC "
                       "(tls_insecure)");
    return d;
}

static void rf_destroy(void *drv)
{
    rf_drv *d = drv;
    if (!d) return;
    pthread_mutex_lock(&d->lock);
    if (d->curl) rf_session_delete(d, NULL);
    pthread_mutex_unlock(&d->lock);
    if (d->curl) curl_easy_cleanup(d->curl);
    curl_global_cleanup();
    if (d->pass) wipe(d->pass, d->pass_len);
    free(d->pass);
    free(d->user);
    free(d->ca_file);
    pthread_mutex_destroy(&d->lock);
    wipe(d, sizeof *d);
    free(d);
}

static int rf_power(void *drv, const tel_context *ctx, uint64_t deadline_ns,
                    agt_power_action action, agt_power_state *state, agt_result *res)
{
    rf_drv *d = drv;
    *state = AGT_POWER_UNKNOWN;
    if (action < AGT_POWER_STATUS || action > AGT_POWER_RESET)
        return agt_result_set(res, AGT_EINVAL, 0, "unknown power action %d", (int)action);
    int rc = lock_until(d, deadline_ns, res);
    if (rc != AGT_OK) return rc;
    rc = rf_power_locked(d, ctx, deadline_ns, action, state, res);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int rf_identity(void *drv, const tel_context *ctx, uint64_t deadline_ns, agt_identity *out,
                       agt_result *res)
{
    rf_drv *d = drv;
    int rc = lock_until(d, deadline_ns, res);
    if (rc != AGT_OK) return rc;
    rc = rf_identity_locked(d, ctx, deadline_ns, out, res);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int rf_sensors(void *drv, const tel_context *ctx, uint64_t deadline_ns, agt_sensor *out,
                      size_t cap, size_t *n, agt_result *res)
{
    rf_drv *d = drv;
    int rc = lock_until(d, deadline_ns, res);
    if (rc != AGT_OK) return rc;
    rc = rf_sensors_locked(d, ctx, deadline_ns, out, cap, n, res);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

const agt_driver_ops agt_redfish_driver = {
    .type = "redfish",
    .create = rf_create,
    .destroy = rf_destroy,
    .power = rf_power,
    .identity = rf_identity,
    .sensors = rf_sensors,
};
