/* The W3C Trace Context conformance test service (the "vendor service" the official harness at
 * github.com/w3c/trace-context/test drives), built on the telemetry library.
 *
 * Usage: w3c_tc_service <port>   (0 picks a free port)
 * Listens on 127.0.0.1 only and prints "listening on 127.0.0.1:<port>" once ready. SIGINT or
 * SIGTERM stops it.
 *
 * POST /test with a JSON array of {"url": ..., "arguments": ...}: the incoming traceparent and
 * tracestate are extracted with the "tracecontext" propagator, a SERVER span is started from
 * them, and for every entry a CLIENT child span is started, its context injected into the
 * outgoing request, and `arguments` POSTed as JSON to `url`. All callbacks finish before the
 * answer (200 {"ok":true}). Malformed requests get 400 with {"error": "..."}.
 *
 * libmicrohttpd runs one thread per connection, so concurrent harness requests are served
 * concurrently; MHD_get_connection_values shows every header line, duplicates included. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telemetry/propagation.h"
#include "telemetry/trace.h"

#define MAX_BODY (1024 * 1024)
#define MAX_LINES 64

static tel_tracer *g_tracer;
static tel_propagator *g_prop;

/* ---- carrier over an MHD request (extract) ---- */

typedef struct mhd_all {
    const char *name;
    const char **vals;
    size_t *lens;
    size_t max, n;
} mhd_all;

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    mhd_all *a = cls;
    if (key && strcasecmp(key, a->name) == 0) {
        if (a->n < a->max) {
            a->vals[a->n] = value ? value : "";
            a->lens[a->n] = value ? strlen(value) : 0;
        }
        a->n++;
    }
    return MHD_YES;
}

static const char *mhd_get(void *ud, const char *name, size_t *len)
{
    const char *v = MHD_lookup_connection_value(ud, MHD_HEADER_KIND, name);
    if (v && len)
        *len = strlen(v);
    return v;
}

static size_t mhd_get_all(void *ud, const char *name, const char **vals, size_t *lens, size_t max)
{
    mhd_all a = {name, vals, lens, max, 0};
    MHD_get_connection_values(ud, MHD_HEADER_KIND, collect, &a);
    return a.n;
}

typedef struct mhd_visit {
    tel_carrier_visit_fn fn;
    void *arg;
    bool stop;
} mhd_visit;

static enum MHD_Result visit_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    mhd_visit *v = cls;
    if (v->stop || !key)
        return MHD_NO;
    const char *val = value ? value : "";
    if (v->fn(v->arg, key, strlen(key), val, strlen(val)))
        v->stop = true;
    return v->stop ? MHD_NO : MHD_YES;
}

static void mhd_foreach(void *ud, tel_carrier_visit_fn fn, void *arg)
{
    mhd_visit v = {fn, arg, false};
    MHD_get_connection_values(ud, MHD_HEADER_KIND, visit_one, &v);
}

/* ---- carrier over a curl header list (inject) ---- */

#define OUT_MAX 16
typedef struct out_headers {
    size_t n;
    char *name[OUT_MAX];
    char *value[OUT_MAX];
} out_headers;

static int out_set(void *ud, const char *name, const char *value)
{
    out_headers *h = ud;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->name[i], name) == 0) {
            char *v = strdup(value);
            if (!v)
                return TEL_ENOMEM;
            free(h->value[i]);
            h->value[i] = v;
            return TEL_OK;
        }
    }
    if (h->n == OUT_MAX)
        return TEL_EFULL;
    h->name[h->n] = strdup(name);
    h->value[h->n] = strdup(value);
    if (!h->name[h->n] || !h->value[h->n]) {
        free(h->name[h->n]);
        free(h->value[h->n]);
        return TEL_ENOMEM;
    }
    h->n++;
    return TEL_OK;
}

static void out_free(out_headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->name[i]);
        free(h->value[i]);
    }
    h->n = 0;
}

/* ---- the callbacks ---- */

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* POSTs args as JSON to url with the context of a new CLIENT span. Returns 0 or -1. */
static int call_back(const tel_context *server_ctx, const char *url, json_t *args)
{
    tel_span *client = tel_span_start(g_tracer, "POST", TEL_SPAN_KIND_CLIENT, server_ctx);
    tel_context cctx = TEL_CONTEXT_INIT;
    tel_context_copy(&cctx, server_ctx);
    tel_context_set_span(&cctx, client);
    out_headers h = {0};
    tel_carrier car = {.ud = &h, .set = out_set};
    int rc = tel_propagator_inject(g_prop, &cctx, &car);
    tel_context_cleanup(&cctx);

    char *body = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    struct curl_slist *list = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; rc == TEL_OK && i < h.n && list; i++) {
        size_t n = strlen(h.name[i]) + strlen(h.value[i]) + 3;
        char *line = malloc(n);
        if (!line)
            break;
        snprintf(line, n, "%s: %s", h.name[i], h.value[i]);
        struct curl_slist *nl = curl_slist_append(list, line);
        free(line);
        if (!nl)
            break;
        list = nl;
    }
    out_free(&h);

    int result = -1;
    CURL *curl = curl_easy_init();
    if (curl && body && list) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
        CURLcode cc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        tel_span_set_str_static(client, "http.request.method", "POST");
        tel_span_set_int(client, "http.response.status_code", status);
        if (cc != CURLE_OK) {
            tel_span_set_status(client, TEL_STATUS_ERROR, curl_easy_strerror(cc));
            fprintf(stderr, "w3c_tc_service: callback %s: %s\n", url, curl_easy_strerror(cc));
        } else {
            result = 0;
        }
    }
    tel_span_end(client);
    if (curl)
        curl_easy_cleanup(curl);
    curl_slist_free_all(list);
    free(body);
    return result;
}

/* ---- HTTP ---- */

typedef struct req {
    char *body;
    size_t len;
    bool too_big;
} req;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *json)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    enum MHD_Result ret = reply(c, status, s ? s : "{\"error\":\"internal\"}");
    free(s);
    json_decref(o);
    return ret;
}

static enum MHD_Result handle_test(struct MHD_Connection *conn, const req *r)
{
    json_error_t jerr;
    json_t *root = json_loadb(r->body ? r->body : "", r->len, 0, &jerr);
    if (!root)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "body is not JSON");
    if (!json_is_array(root)) {
        json_decref(root);
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "body must be a JSON array");
    }
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e)
    {
        if (!json_is_object(e) || !json_is_string(json_object_get(e, "url"))) {
            json_decref(root);
            return reply_error(conn, MHD_HTTP_BAD_REQUEST,
                               "each entry must be an object with a string \"url\"");
        }
    }

    tel_carrier in = {.ud = conn, .get = mhd_get, .get_all = mhd_get_all, .foreach = mhd_foreach};
    tel_context parent = TEL_CONTEXT_INIT;
    tel_propagator_extract(g_prop, &in, &parent);
    tel_span *server = tel_span_start(g_tracer, "POST /test", TEL_SPAN_KIND_SERVER, &parent);
    tel_span_set_str_static(server, "http.request.method", "POST");
    tel_span_set_str_static(server, "http.route", "/test");
    tel_context sctx = TEL_CONTEXT_INIT;
    tel_context_copy(&sctx, &parent);
    tel_context_set_span(&sctx, server);

    int failures = 0;
    json_array_foreach(root, i, e)
    {
        json_t *args = json_object_get(e, "arguments");
        json_t *empty = NULL;
        if (!args)
            args = empty = json_array();
        if (call_back(&sctx, json_string_value(json_object_get(e, "url")), args) != 0)
            failures++;
        json_decref(empty);
    }
    tel_span_set_int(server, "http.response.status_code", 200);
    tel_span_end(server);
    tel_context_cleanup(&sctx);
    tel_context_cleanup(&parent);
    json_decref(root);
    char resp[64];
    snprintf(resp, sizeof resp, "{\"ok\":true,\"failed_callbacks\":%d}", failures);
    return reply(conn, MHD_HTTP_OK, resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->too_big) {
            if (r->len + *upload_size > MAX_BODY) {
                r->too_big = true;
            } else {
                char *nb = realloc(r->body, r->len + *upload_size + 1);
                if (!nb)
                    return MHD_NO;
                memcpy(nb + r->len, upload, *upload_size);
                r->body = nb;
                r->len += *upload_size;
                r->body[r->len] = '\0';
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/test") != 0)
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "not found: use POST /test");
    if (strcmp(method, "POST") != 0)
        return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    if (r->too_big)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "body too large");
    return handle_test(conn, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <port>\n", argv[0]);
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end || port < 0 || port > 65535) {
        fprintf(stderr, "w3c_tc_service: bad port %s\n", argv[1]);
        return 2;
    }
    /* Block the stop signals in every thread; main waits for them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    tel_tracer_provider_config cfg = {0};
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, TEL_SAMPLER_PARENTBASED_ALWAYS_ON, 1.0);
    tel_tracer_provider *provider = tel_tracer_provider_create(&cfg);
    g_prop = tel_propagator_create("tracecontext");
    if (!provider || !g_prop) {
        fprintf(stderr, "w3c_tc_service: telemetry set-up failed\n");
        return 1;
    }
    g_tracer = tel_tracer_get(provider, "w3c_tc_service", "0.1.0");

    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sin,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)30, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "w3c_tc_service: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on 127.0.0.1:%u\n", info ? (unsigned)info->port : (unsigned)port);
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    tel_propagator_destroy(g_prop);
    tel_tracer_provider_destroy(provider);
    curl_global_cleanup();
    return 0;
}
