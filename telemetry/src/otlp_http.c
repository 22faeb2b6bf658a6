/* OTLP/HTTP transport over libcurl.
 *
 * One easy handle (and so one kept-alive connection) per transport, driven through a private
 * multi handle so that abort() from another thread ends an in-flight request at once:
 * curl_multi_wakeup interrupts curl_multi_poll, and the XFERINFOFUNCTION callback checks the
 * same flag inside curl. Bodies are gzipped with zlib into a reused buffer. */
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "otlp_internal.h"

#define MAX_RESPONSE_BODY (64 * 1024)
#define POLL_SLICE_MS 1000

#ifndef BMC_VERSION
#define BMC_VERSION "0"
#endif

typedef struct http_transport {
    tel_otlp_transport base;
    tel_otlp_config cfg;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdr_pb, *hdr_json; /* headers per content type */
    z_stream z;
    bool z_ready;
    tel_buf gz;   /* compressed body */
    tel_buf resp; /* response body, capped */
    bool resp_truncated;
    atomic_bool aborted;
    pid_t pid; /* process that created the handles */
    char errbuf[CURL_ERROR_SIZE];
} http_transport;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_transport *h = ud;
    size_t n = size * nmemb;
    size_t room = MAX_RESPONSE_BODY - h->resp.len;
    size_t take = n < room ? n : room;
    if (take < n) h->resp_truncated = true;
    if (take && tel_buf_append(&h->resp, ptr, take) != TEL_OK) h->resp_truncated = true;
    return n; /* the rest is discarded, not an error */
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    http_transport *h = ud;
    return atomic_load_explicit(&h->aborted, memory_order_acquire) ? 1 : 0;
}

/* User headers that the transport owns. */
static bool reserved_header(const char *name)
{
    static const char *const names[] = {"content-type",   "content-encoding",
                                        "content-length", "transfer-encoding",
                                        "host",           "expect"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i]) == 0) return true;
    return false;
}

static struct curl_slist *build_headers(const tel_otlp_config *cfg, const char *content_type)
{
    struct curl_slist *l = NULL, *t;
    char line[64];
    snprintf(line, sizeof line, "Content-Type: %s", content_type);
    if (!(t = curl_slist_append(l, line))) goto fail;
    l = t;
    if (cfg->gzip) {
        if (!(t = curl_slist_append(l, "Content-Encoding: gzip"))) goto fail;
        l = t;
    }
    /* An empty Expect: keeps curl from waiting for 100-continue on large bodies. */
    if (!(t = curl_slist_append(l, "Expect:"))) goto fail;
    l = t;
    for (size_t i = 0; i < cfg->n_headers; i++) {
        const tel_otlp_header *hd = &cfg->headers[i];
        if (reserved_header(hd->name)) {
            tel__otlp_log("warn",
                          "OTLP header %s is set by the exporter; the configured one is "
                          "ignored",
                          hd->name);
            continue;
        }
        size_t n = strlen(hd->name) + strlen(hd->value) + 3;
        char *s = malloc(n);
        if (!s) goto fail;
        /* curl sends "Name;" as a header with an empty value. */
        if (*hd->value)
            snprintf(s, n, "%s: %s", hd->name, hd->value);
        else
            snprintf(s, n, "%s;", hd->name);
        t = curl_slist_append(l, s);
        memset(s, 0, n);
        free(s);
        if (!t) goto fail;
        l = t;
    }
    return l;
fail:
    curl_slist_free_all(l);
    return NULL;
}

static int gzip_body(http_transport *h, const uint8_t *body, size_t len)
{
    if (!h->z_ready) {
        memset(&h->z, 0, sizeof h->z);
        if (deflateInit2(&h->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return TEL_ENOMEM;
        h->z_ready = true;
    } else if (deflateReset(&h->z) != Z_OK) {
        return TEL_ENOMEM;
    }
    if (len > UINT32_MAX / 2) return TEL_ETOOBIG;
    h->gz.len = 0;
    size_t bound = deflateBound(&h->z, (uLong)len);
    if (tel_buf_reserve(&h->gz, bound) != TEL_OK) return TEL_ENOMEM;
    h->z.next_in = (Bytef *)(uintptr_t)body;
    h->z.avail_in = (uInt)len;
    h->z.next_out = h->gz.data;
    h->z.avail_out = (uInt)bound;
    if (deflate(&h->z, Z_FINISH) != Z_STREAM_END) return TEL_ENOMEM;
    h->gz.len = bound - h->z.avail_out;
    return TEL_OK;
}

static bool retryable_status(long code)
{
    return code == 429 || code == 502 || code == 503 || code == 504;
}

static bool retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
        return true;
    default:
        return false;
    }
}

static bool is_json_type(const char *ct)
{
    return ct && strstr(ct, "json") != NULL;
}

static void classify(http_transport *h, tel_otlp_signal signal, const char *req_type, CURLcode cc,
                     tel_otlp_result *res)
{
    res->retry_after_ms = -1;
    /* A transfer that completed before the abort took effect still counts as delivered. */
    if (cc == CURLE_ABORTED_BY_CALLBACK || (cc != CURLE_OK && atomic_load(&h->aborted))) {
        res->status = TEL_OTLP_SEND_RETRYABLE;
        res->err = TEL_ESHUTDOWN;
        snprintf(res->message, sizeof res->message, "aborted by shutdown");
        return;
    }
    if (cc != CURLE_OK) {
        res->code = 0;
        res->status = retryable_curl(cc) ? TEL_OTLP_SEND_RETRYABLE : TEL_OTLP_SEND_PERMANENT;
        res->err = cc == CURLE_OPERATION_TIMEDOUT ? TEL_ETIMEDOUT : TEL_EIO;
        /* curl's messages name host and port at most, never the userinfo or headers. */
        snprintf(res->message, sizeof res->message, "%s",
                 h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
        return;
    }
    long code = 0;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
    res->code = (int)code;
    char *ct = NULL;
    curl_easy_getinfo(h->easy, CURLINFO_CONTENT_TYPE, &ct);
    bool json = ct ? is_json_type(ct) : is_json_type(req_type);
    if (code >= 200 && code < 300) {
        res->status = TEL_OTLP_SEND_OK;
        res->err = TEL_OK;
        if (h->resp.len && !h->resp_truncated) {
            int rc = json ? tel_otlp_decode_response_json(h->resp.data, h->resp.len, &res->partial)
                          : tel_otlp_decode_response_pb(h->resp.data, h->resp.len, &res->partial);
            if (rc != TEL_OK) memset(&res->partial, 0, sizeof res->partial);
        }
        (void)signal;
        return;
    }
    char detail[160] = "";
    if (h->resp.len && !h->resp_truncated) {
        if (json)
            tel__otlp_decode_status_json(h->resp.data, h->resp.len, detail, sizeof detail);
        else
            tel__otlp_decode_status_pb(h->resp.data, h->resp.len, detail, sizeof detail);
    }
    if (retryable_status(code)) {
        res->status = TEL_OTLP_SEND_RETRYABLE;
        res->err = TEL_ERETRYABLE;
        curl_off_t ra = 0;
        if (curl_easy_getinfo(h->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            res->retry_after_ms = ra > INT64_MAX / 1000 ? INT64_MAX : (int64_t)ra * 1000;
    } else {
        res->status = TEL_OTLP_SEND_PERMANENT;
        res->err = TEL_EREJECTED;
    }
    snprintf(res->message, sizeof res->message, "HTTP %ld%s%s", code, detail[0] ? ": " : "",
             detail);
}

static int setup_handles(http_transport *h, const tel_otlp_config *cfg);

static int http_send(tel_otlp_transport *self, tel_otlp_signal signal, const uint8_t *body,
                     size_t len, const char *content_type, uint64_t deadline_ns,
                     tel_otlp_result *res)
{
    http_transport *h = (http_transport *)self;
    memset(res, 0, sizeof *res);
    res->retry_after_ms = -1;
    if (TEL_UNLIKELY(getpid() != h->pid)) {
        /* First send in a forked child: new handles and connections of its own. The parent's
         * handles are dropped without cleanup (cleanup could write to the shared socket). */
        curl_slist_free_all(h->hdr_pb);
        curl_slist_free_all(h->hdr_json);
        h->multi = NULL;
        h->easy = NULL;
        h->hdr_pb = h->hdr_json = NULL;
        if (setup_handles(h, &h->cfg) != TEL_OK) {
            res->status = TEL_OTLP_SEND_PERMANENT;
            res->err = TEL_ENOMEM;
            snprintf(res->message, sizeof res->message, "cannot recreate curl handles after fork");
            return TEL_OK;
        }
    }
    if (atomic_load_explicit(&h->aborted, memory_order_acquire)) {
        res->status = TEL_OTLP_SEND_RETRYABLE;
        res->err = TEL_ESHUTDOWN;
        return TEL_ESHUTDOWN;
    }
    uint64_t now = tel_mono_ns();
    if (now >= deadline_ns) {
        res->status = TEL_OTLP_SEND_RETRYABLE;
        res->err = TEL_ETIMEDOUT;
        snprintf(res->message, sizeof res->message, "deadline passed before sending");
        return TEL_OK;
    }
    uint64_t left_ms = (deadline_ns - now + 999999u) / 1000000u;
    long timeout_ms = (long)(left_ms < h->cfg.timeout_ms ? left_ms : h->cfg.timeout_ms);

    if (h->cfg.gzip) {
        int rc = gzip_body(h, body, len);
        if (rc != TEL_OK) {
            res->status = TEL_OTLP_SEND_PERMANENT;
            res->err = rc;
            snprintf(res->message, sizeof res->message, "gzip failed");
            return TEL_OK;
        }
        body = h->gz.data;
        len = h->gz.len;
    }
    bool json = is_json_type(content_type);
    struct curl_slist *hdrs = json ? h->hdr_json : h->hdr_pb;
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    h->resp.len = 0;
    h->resp_truncated = false;
    h->errbuf[0] = '\0';

    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        res->status = TEL_OTLP_SEND_RETRYABLE;
        res->err = TEL_EIO;
        snprintf(res->message, sizeof res->message, "curl_multi_add_handle failed");
        return TEL_OK;
    }
    CURLcode cc = CURLE_OK;
    bool done = false;
    while (!done) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(h->multi, &running);
        if (mc != CURLM_OK) {
            cc = CURLE_RECV_ERROR;
            break;
        }
        int msgs;
        CURLMsg *m;
        while ((m = curl_multi_info_read(h->multi, &msgs))) {
            if (m->msg == CURLMSG_DONE && m->easy_handle == e) {
                cc = m->data.result;
                done = true;
            }
        }
        if (done) break;
        if (atomic_load_explicit(&h->aborted, memory_order_acquire)) {
            cc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        /* curl's own timeouts end the transfer; the slice only bounds each wait. */
        mc = curl_multi_poll(h->multi, NULL, 0, POLL_SLICE_MS, NULL);
        if (mc != CURLM_OK) {
            cc = CURLE_RECV_ERROR;
            break;
        }
        if (atomic_load_explicit(&h->aborted, memory_order_acquire)) {
            cc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
    }
    classify(h, signal, content_type, cc, res);
    curl_multi_remove_handle(h->multi, e);
    /* A body must not be referenced after this call: it is borrowed. */
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)NULL);
    if (h->resp.cap > MAX_RESPONSE_BODY) tel_buf_free(&h->resp);
    return res->err == TEL_ESHUTDOWN ? TEL_ESHUTDOWN : TEL_OK;
}

static void http_abort(tel_otlp_transport *self)
{
    http_transport *h = (http_transport *)self;
    atomic_store_explicit(&h->aborted, true, memory_order_release);
    if (h->multi) curl_multi_wakeup(h->multi);
}

static void http_destroy(tel_otlp_transport *self)
{
    http_transport *h = (http_transport *)self;
    if (!h) return;
    if (h->easy) curl_easy_cleanup(h->easy);
    if (h->multi) curl_multi_cleanup(h->multi);
    curl_slist_free_all(h->hdr_pb);
    curl_slist_free_all(h->hdr_json);
    if (h->z_ready) deflateEnd(&h->z);
    tel_buf_free(&h->gz);
    tel_buf_free(&h->resp);
    tel_otlp_config_cleanup(&h->cfg);
    free(h);
}

/* Creates the curl handles and sets every option. Called at creation and again in the child
 * of a fork(): the parent's handles (and their kept-alive connections, shared sockets) are then
 * abandoned, never closed or reused by the child. */
static int setup_handles(http_transport *h, const tel_otlp_config *cfg)
{
    h->pid = getpid();
    h->multi = curl_multi_init();
    h->easy = curl_easy_init();
    h->hdr_pb = build_headers(cfg, "application/x-protobuf");
    h->hdr_json = build_headers(cfg, "application/json");
    if (!h->multi || !h->easy || !h->hdr_pb || !h->hdr_json) {
        tel__otlp_log("error", "cannot set up the OTLP/HTTP transport (out of memory)");
        return TEL_EINVAL;
    }
    CURL *e = h->easy;
    bool ok = curl_easy_setopt(e, CURLOPT_URL, h->cfg.endpoint) == CURLE_OK;
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "OTel-OTLP-Exporter-C/bmcfleet-" BMC_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (h->cfg.certificate)
        ok = ok && curl_easy_setopt(e, CURLOPT_CAINFO, h->cfg.certificate) == CURLE_OK;
    if (h->cfg.client_certificate)
        ok = ok && curl_easy_setopt(e, CURLOPT_SSLCERT, h->cfg.client_certificate) == CURLE_OK;
    if (h->cfg.client_key)
        ok = ok && curl_easy_setopt(e, CURLOPT_SSLKEY, h->cfg.client_key) == CURLE_OK;
    if (!ok) {
        char where[256];
        tel_otlp_endpoint_for_log(h->cfg.endpoint, where, sizeof where);
        tel__otlp_log("error", "cannot configure the OTLP/HTTP transport for %s", where);
        return TEL_EINVAL;
    }
    return TEL_OK;
}

tel_otlp_transport *tel_otlp_http_transport_create(const tel_otlp_config *cfg)
{
    if (!cfg || !cfg->endpoint) return NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        tel__otlp_log("error", "curl_global_init failed: %s", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    http_transport *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->base.send = http_send;
    h->base.abort = http_abort;
    h->base.destroy = http_destroy;
    atomic_init(&h->aborted, false);
    if (tel_otlp_config_copy(&h->cfg, cfg) != TEL_OK) {
        free(h);
        return NULL;
    }
    if (setup_handles(h, cfg) != TEL_OK) {
        http_destroy(&h->base);
        return NULL;
    }
    return &h->base;
}
