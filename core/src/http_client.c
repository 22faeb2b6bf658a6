/* Traced HTTP client: per-thread curl easy handles sharing a connection/DNS/TLS cache, CLIENT
 * spans, propagation headers, duration histogram, bounded responses. */
#include "core/http_client.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/error.h"
#include "core/http_json.h"
#include "core/http_router.h"

#define MAX_INJECT 24
#define MAX_HEADER_BYTES (64u * 1024u)
#define DEFAULT_MAX_RESPONSE (8u * 1024u * 1024u)

static const double duration_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                         0.5,   0.75, 1.0,   2.5,  5.0,   7.5, 10.0};

typedef struct handle {
    CURL *easy;
    struct core_http_client *client;
    struct handle *prev, *next;
} handle;

struct core_http_client {
    core_http_client_config cfg;
    char *user_agent;
    tel_tracer *tracer;
    tel_instrument *m_duration;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_key_t key;
    pthread_mutex_t lock; /* handles list */
    handle *handles;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    struct core_http_client *c = ud;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    struct core_http_client *c = ud;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&c->share_locks[data]);
}

static void handle_unlink(core_http_client *c, handle *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        c->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
}

/* Thread exit: the thread's handle goes. */
static void handle_release(void *p)
{
    handle *h = p;
    core_http_client *c = h->client;
    pthread_mutex_lock(&c->lock);
    handle_unlink(c, h);
    pthread_mutex_unlock(&c->lock);
    curl_easy_cleanup(h->easy);
    free(h);
}

core_http_client *core_http_client_create(const core_http_client_config *cfg)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return NULL;
    core_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (cfg)
        c->cfg = *cfg;
    if (c->cfg.connect_timeout_ms <= 0)
        c->cfg.connect_timeout_ms = 5000;
    if (c->cfg.timeout_ms <= 0)
        c->cfg.timeout_ms = 30000;
    if (!c->cfg.max_response_bytes)
        c->cfg.max_response_bytes = DEFAULT_MAX_RESPONSE;
    c->user_agent = strdup(c->cfg.user_agent ? c->cfg.user_agent : "bmcfleet/" BMC_VERSION);
    c->cfg.user_agent = c->user_agent;
    c->tracer = c->cfg.tracer ? c->cfg.tracer : tel_global_tracer("bmcfleet.core.http_client", BMC_VERSION);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->lock, NULL);
    c->share = curl_share_init();
    if (!c->user_agent || !c->share || pthread_key_create(&c->key, handle_release) != 0) {
        if (c->share)
            curl_share_cleanup(c->share);
        free(c->user_agent);
        free(c);
        return NULL;
    }
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    if (c->cfg.meters) {
        tel_meter *m = tel_meter_get(c->cfg.meters, "bmcfleet.core.http_client", BMC_VERSION);
        tel_instrument_opts o = {.unit = "s",
                                 .description = "Duration of HTTP client requests.",
                                 .bounds = duration_bounds,
                                 .n_bounds = sizeof duration_bounds / sizeof(double)};
        c->m_duration = tel_meter_create(m, TEL_INSTR_HISTOGRAM, "http.client.request.duration", &o);
    }
    return c;
}

void core_http_client_destroy(core_http_client *c)
{
    if (!c)
        return;
    pthread_key_delete(c->key);
    pthread_mutex_lock(&c->lock);
    handle *h = c->handles;
    c->handles = NULL;
    pthread_mutex_unlock(&c->lock);
    while (h) {
        handle *n = h->next;
        curl_easy_cleanup(h->easy);
        free(h);
        h = n;
    }
    curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_locks[i]);
    pthread_mutex_destroy(&c->lock);
    free(c->user_agent);
    free(c);
}

static CURL *thread_handle(core_http_client *c)
{
    handle *h = pthread_getspecific(c->key);
    if (h)
        return h->easy;
    h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->easy = curl_easy_init();
    if (!h->easy) {
        free(h);
        return NULL;
    }
    h->client = c;
    pthread_mutex_lock(&c->lock);
    h->next = c->handles;
    if (c->handles)
        c->handles->prev = h;
    c->handles = h;
    pthread_mutex_unlock(&c->lock);
    pthread_setspecific(c->key, h);
    return h->easy;
}

/* ---- URL ---- */

int core_http_url_redact(const char *url, char *out, size_t cap)
{
    if (!url || !out || cap == 0)
        return CORE_EINVAL;
    CURLU *u = curl_url();
    if (!u)
        return CORE_ENOMEM;
    int rc = CORE_OK;
    char *s = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        rc = CORE_EINVAL;
    } else {
        curl_url_set(u, CURLUPART_USER, NULL, 0);
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
        curl_url_set(u, CURLUPART_OPTIONS, NULL, 0);
        curl_url_set(u, CURLUPART_QUERY, NULL, 0);
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
        if (curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK || !s)
            rc = CORE_EINVAL;
    }
    if (rc == CORE_OK) {
        size_t n = strlen(s);
        if (n + 1 > cap)
            rc = CORE_ETOOBIG;
        else {
            memcpy(out, s, n + 1);
            rc = (int)n;
        }
    }
    curl_free(s);
    curl_url_cleanup(u);
    return rc;
}

/* Scheme, host and port of url. Returns 0 or CORE_EINVAL. */
static int url_parts(const char *url, char *host, size_t hcap, long *port, bool *https)
{
    CURLU *u = curl_url();
    if (!u)
        return CORE_ENOMEM;
    int rc = CORE_EINVAL;
    char *scheme = NULL, *h = NULL, *p = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        bool is_http = strcasecmp(scheme, "http") == 0, is_https = strcasecmp(scheme, "https") == 0;
        if ((is_http || is_https) && strlen(h) < hcap) {
            /* IPv6 literals come back bracketed; server.address wants them bare. */
            const char *hs = h;
            size_t hl = strlen(h);
            if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
                hs = h + 1;
                hl -= 2;
            }
            memcpy(host, hs, hl);
            host[hl] = '\0';
            *port = strtol(p, NULL, 10);
            *https = is_https;
            rc = CORE_OK;
        }
    }
    curl_free(scheme);
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

/* ---- Carrier over the outgoing header list ---- */

typedef struct inject_set {
    size_t n;
    char *name[MAX_INJECT];
    char *value[MAX_INJECT];
} inject_set;

static int inject_set_hdr(void *ud, const char *name, const char *value)
{
    inject_set *s = ud;
    for (size_t i = 0; i < s->n; i++) {
        if (strcasecmp(s->name[i], name) == 0) {
            char *v = strdup(value);
            if (!v)
                return TEL_ENOMEM;
            free(s->value[i]);
            s->value[i] = v;
            return TEL_OK;
        }
    }
    if (s->n == MAX_INJECT)
        return TEL_EFULL;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return TEL_ENOMEM;
    }
    s->name[s->n] = n;
    s->value[s->n] = v;
    s->n++;
    return TEL_OK;
}

static void inject_set_free(inject_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->name[i]);
        free(s->value[i]);
    }
    s->n = 0;
}

static bool injected(const inject_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcasecmp(s->name[i], name) == 0)
            return true;
    return false;
}

/* Appends "name: value" to the list. Returns false on failure. */
static bool slist_add(struct curl_slist **list, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    char stackbuf[512];
    char *line = nl + vl + 3 <= sizeof stackbuf ? stackbuf : malloc(nl + vl + 3);
    if (!line)
        return false;
    memcpy(line, name, nl);
    line[nl] = ':';
    line[nl + 1] = ' ';
    memcpy(line + nl + 2, value, vl + 1);
    if (vl == 0)
        line[nl + 1] = '\0'; /* "name:" */
    struct curl_slist *n = curl_slist_append(*list, line);
    if (line != stackbuf)
        free(line);
    if (!n)
        return false;
    *list = n;
    return true;
}

/* ---- Transfer callbacks ---- */

typedef struct sink {
    core_body body;
    core_body headers;
    bool too_big;
} sink;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb;
    int rc = core_body_append(&s->body, p, n);
    if (rc == CORE_ETOOBIG)
        s->too_big = true;
    return rc == CORE_OK ? n : 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        core_body_reset(&s->headers, MAX_HEADER_BYTES); /* a new response (after 100, redirect) */
    if (core_body_append(&s->headers, p, n) != CORE_OK)
        return n; /* headers over the cap are dropped, the transfer goes on */
    return n;
}

void core_http_response_cleanup(core_http_response *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

static const char *error_type_of(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "dns_error";
    case CURLE_COULDNT_CONNECT:
        return "connection_refused";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        return "tls_error";
    case CURLE_WRITE_ERROR:
        return "response_too_large";
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return "connection_error";
    default:
        return "transport_error";
    }
}

int core_http_client_do(core_http_client *c, const tel_context *parent,
                        const core_http_request *req, core_http_response *resp)
{
    if (!c || !req || !req->url || !resp)
        return CORE_EINVAL;
    core_http_response_cleanup(resp);
    const char *method = req->method ? req->method : (req->body_len ? "POST" : "GET");
    unsigned mbit = core_http_method_parse(method, strlen(method));
    char host[256];
    long port = 0;
    bool https = false;
    char full[2048];
    if (url_parts(req->url, host, sizeof host, &port, &https) != CORE_OK ||
        core_http_url_redact(req->url, full, sizeof full) < 0) {
        snprintf(resp->error, sizeof resp->error, "invalid URL (http:// or https:// required)");
        return CORE_EINVAL;
    }
    for (const char *m = method; *m; m++) {
        if (!isupper((unsigned char)*m) && *m != '-' && *m != '_') {
            snprintf(resp->error, sizeof resp->error, "invalid method");
            return CORE_EINVAL;
        }
    }
    CURL *e = thread_handle(c);
    if (!e)
        return CORE_ENOMEM;

    /* Span. */
    const char *mname = mbit ? core_http_method_name(mbit) : "_OTHER";
    tel_span_start_opts so = {.name = mbit ? mname : "HTTP",
                              .kind = TEL_SPAN_KIND_CLIENT,
                              .parent = parent};
    tel_span *span = tel_span_start_ex(c->tracer, &so);
    if (tel_span_is_recording(span)) {
        tel_span_set_str_static(span, "http.request.method", mname);
        if (!mbit)
            tel_span_set_str(span, "http.request.method_original", method);
        tel_span_set_str(span, "url.full", full);
        tel_span_set_str(span, "server.address", host);
        tel_span_set_int(span, "server.port", port);
    }

    /* Propagation. */
    inject_set inj = {0};
    if (c->tracer->enabled) {
        tel_context ctx = TEL_CONTEXT_INIT;
        if (parent)
            tel_context_copy(&ctx, parent);
        tel_context_set_span(&ctx, span);
        tel_carrier car = {.ud = &inj, .set = inject_set_hdr};
        const tel_propagator *p = c->cfg.propagator ? c->cfg.propagator : tel_propagator_global();
        tel_propagator_inject(p, &ctx, &car);
        tel_context_cleanup(&ctx);
    }

    struct curl_slist *hdrs = NULL;
    bool ok = true;
    for (size_t i = 0; ok && i < req->n_headers; i++) {
        const core_http_header *h = &req->headers[i];
        if (!h->name || !h->value || strpbrk(h->name, ":\r\n") || strpbrk(h->value, "\r\n")) {
            ok = false;
            break;
        }
        if (!injected(&inj, h->name))
            ok = slist_add(&hdrs, h->name, h->value);
    }
    for (size_t i = 0; ok && i < inj.n; i++)
        ok = slist_add(&hdrs, inj.name[i], inj.value[i]);
    if (ok && req->content_type)
        ok = slist_add(&hdrs, "content-type", req->content_type);
    if (ok && req->body_len)
        ok = slist_add(&hdrs, "expect", ""); /* no 100-continue round trip */
    inject_set_free(&inj);

    sink sk;
    core_body_init(&sk.body, c->cfg.max_response_bytes);
    core_body_init(&sk.headers, MAX_HEADER_BYTES);
    sk.too_big = false;
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    CURLcode cc = CURLE_OK;
    int rc = CORE_OK;
    uint64_t t0 = tel_mono_ns();
    if (!ok) {
        rc = CORE_EINVAL;
        snprintf(resp->error, sizeof resp->error, "invalid request header");
    } else {
        curl_easy_reset(e);
        curl_easy_setopt(e, CURLOPT_SHARE, c->share);
        curl_easy_setopt(e, CURLOPT_URL, req->url);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->cfg.connect_timeout_ms);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : c->cfg.timeout_ms);
        curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &sk);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &sk);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        if (mbit == CORE_HTTP_HEAD)
            curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        else if (mbit == CORE_HTTP_GET && !req->body_len)
            curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        else
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (req->body_len || mbit == CORE_HTTP_POST || mbit == CORE_HTTP_PUT || mbit == CORE_HTTP_PATCH) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
        cc = curl_easy_perform(e);
        /* The list is referenced by the handle until the next reset: detach it first. */
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
        if (cc == CURLE_OK) {
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
        } else {
            if (sk.too_big) {
                rc = CORE_ETOOBIG;
                snprintf(resp->error, sizeof resp->error, "response body over %zu bytes",
                         c->cfg.max_response_bytes);
            } else {
                rc = cc == CURLE_OPERATION_TIMEDOUT ? CORE_ETIMEDOUT
                     : cc == CURLE_OUT_OF_MEMORY    ? CORE_ENOMEM
                     : cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT ? CORE_EINVAL
                                                                                     : CORE_EIO;
                /* curl's own text, which names the host at most (never the query). */
                snprintf(resp->error, sizeof resp->error, "%s", curl_easy_strerror(cc));
            }
            long code = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            resp->status = code;
        }
    }
    curl_slist_free_all(hdrs);
    double secs = (double)(tel_mono_ns() - t0) / 1e9;

    if (rc == CORE_OK) {
        resp->body = sk.body.data;
        resp->body_len = sk.body.len;
        resp->headers = sk.headers.data;
        resp->headers_len = sk.headers.len;
    } else {
        core_body_free(&sk.body);
        core_body_free(&sk.headers);
    }

    const char *etype = NULL;
    char code[24];
    if (rc != CORE_OK) {
        etype = rc == CORE_EINVAL ? "invalid_request" : rc == CORE_ETOOBIG ? "response_too_large"
                                                                           : error_type_of(cc);
    } else if (resp->status >= 400) {
        snprintf(code, sizeof code, "%ld", resp->status);
        etype = code;
    }
    if (tel_span_is_recording(span)) {
        if (resp->status)
            tel_span_set_int(span, "http.response.status_code", resp->status);
        if (etype) {
            tel_span_set_str(span, "error.type", etype);
            tel_span_set_status(span, TEL_STATUS_ERROR, rc != CORE_OK ? resp->error : NULL);
        }
    }
    tel_span_end(span);
    if (c->m_duration) {
        tel_attr a[5];
        size_t n = 0;
        a[n++] = TEL_ATTR_STR("http.request.method", mname);
        a[n++] = (tel_attr){.key = "server.address", .type = TEL_ATTR_STRING,
                            .len = (uint32_t)strlen(host), .v.s = host};
        a[n++] = TEL_ATTR_INT64("server.port", port);
        if (resp->status)
            a[n++] = TEL_ATTR_INT64("http.response.status_code", resp->status);
        if (etype)
            a[n++] = (tel_attr){.key = "error.type", .type = TEL_ATTR_STRING,
                                .len = (uint32_t)strlen(etype), .v.s = etype};
        tel_histogram_record(c->m_duration, secs, a, n);
    }
    return rc;
}

int core_http_response_header(const core_http_response *r, const char *name, char *buf,
                              size_t cap)
{
    if (!r || !name || !buf || cap == 0)
        return CORE_EINVAL;
    size_t nl = strlen(name);
    int found = CORE_ENOTFOUND;
    const char *p = r->headers, *end = r->headers ? r->headers + r->headers_len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if ((size_t)(le - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t vl = (size_t)(ve - v);
            if (vl + 1 > cap) {
                found = CORE_ETOOBIG;
            } else {
                memcpy(buf, v, vl);
                buf[vl] = '\0';
                found = (int)vl;
            }
        }
        p = eol ? eol + 1 : end;
    }
    return found;
}

int core_http_client_json(core_http_client *c, const tel_context *parent, const char *method,
                          const char *url, const json_t *body, json_t **out, long *status)
{
    if (out)
        *out = NULL;
    if (status)
        *status = 0;
    if (!c)
        return CORE_EINVAL;
    size_t blen = 0;
    char *btxt = NULL;
    if (body) {
        btxt = core_json_dump(body, &blen);
        if (!btxt)
            return CORE_ENOMEM;
    }
    core_http_header accept = {"accept", "application/json"};
    core_http_request req = {.method = method,
                             .url = url,
                             .headers = &accept,
                             .n_headers = 1,
                             .body = btxt,
                             .body_len = blen,
                             .content_type = body ? "application/json" : NULL};
    core_http_response resp = CORE_HTTP_RESPONSE_INIT;
    int rc = core_http_client_do(c, parent, &req, &resp);
    free(btxt);
    if (status)
        *status = resp.status;
    if (rc == CORE_OK && out && resp.body_len) {
        core_json_limits lim = {.max_bytes = c->cfg.max_response_bytes, .allow_any = true};
        if (core_json_parse(resp.body, resp.body_len, &lim, out, NULL) != CORE_OK)
            rc = CORE_EINVAL;
    }
    core_http_response_cleanup(&resp);
    return rc;
}
