/* The instrumented HTTP server and client end to end on loopback: a test server with two API
 * routes (one answering asynchronously from a worker thread), a failing route and a WebSocket
 * endpoint, called through core's traced HTTP client (libcurl) and a raw WebSocket client.
 * Checks, through the in-memory exporter behind a simple processor:
 *   - one trace across client -> server -> handler child span, parent links, kinds, names;
 *   - the HTTP semantic-convention attributes on both sides, url.full without query/userinfo,
 *     the baggage business keys copied onto the server span;
 *   - the traceparent response header names the server span;
 *   - error statuses (5xx on the server, 4xx/5xx and transport failures on the client);
 *   - JSON errors (404, 405 + Allow, 400 malformed JSON / invalid UTF-8, 411, 413);
 *   - the WebSocket upgrade span, the connection span with open/close events and byte counters,
 *     context from the upgrade request headers, the Origin check, cross-thread sends;
 *   - /healthz, /readyz, /metrics (Prometheus text checked by promtool when installed, and the
 *     OpenMetrics variant), with the http.server.* and http.client.* instruments;
 *   - a /metrics scrape while the span export is stuck counts every request ended before it,
 *     without waiting for the export thread. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/error.h"
#include "core/http_client.h"
#include "core/http_server.h"
#include "core/http_ws.h"
#include "core_http_testutil.h"
#include "held_exporter.h"
#include "telemetry/metrics.h"
#include "telemetry/otlp.h"
#include "telemetry/processor.h"
#include "telemetry/propagation.h"
#include "telemetry/sampler.h"
#include "telemetry/tracestate.h"
#include "test_tracing.h"

#ifndef BMC_PROMTOOL
#define BMC_PROMTOOL "promtool"
#endif

static test_tracing tt;
static tel_tracer *tracer;
static tel_meter_provider *meters;
static core_http_server *srv;
static int port;
static atomic_bool ready_flag;
static atomic_uint_fast64_t ws_last_id;
static atomic_int ws_close_code;
static char ws_close_reason[128];
static pthread_mutex_t ws_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- Server side ---- */

static int h_get_server(core_http_req *req, void *ud)
{
    (void)ud;
    /* A child span of the request, as a service would make for its database read. */
    tel_span *child = tel_span_start(tracer, "load server", TEL_SPAN_KIND_INTERNAL,
                                     core_http_req_context(req));
    tel_span_set_str(child, "server.id", core_http_req_param(req, "id"));
    tel_span_end(child);
    /* The thread's current span is the request span while the handler runs. */
    bool current_ok = tel_span_current() == core_http_req_span(req);
    const tel_context *ctx = core_http_req_context(req);
    const char *cust = tel_baggage_get(ctx->bag, "customer_id");
    char q[64] = "";
    core_http_req_query(req, "verbose", q, sizeof q);
    json_t *j = json_pack("{s:s, s:s?, s:b, s:s}", "id", core_http_req_param(req, "id"),
                          "customer", cust, "current_span_ok", current_ok, "verbose", q);
    core_http_resp_header(req, "x-served-by", "test");
    return core_http_respond_json(req, 200, j);
}

typedef struct async_job {
    core_http_req *req;
    json_t *body;
} async_job;

static void *async_worker(void *arg)
{
    async_job *job = arg;
    tu_sleep_ms(20);
    json_t *out = json_pack("{s:O, s:b}", "created", job->body, "async", 1);
    json_decref(job->body);
    core_http_respond_json(job->req, 201, out);
    free(job);
    return NULL;
}

static int h_create_server(core_http_req *req, void *ud)
{
    (void)ud;
    json_t *body;
    if (core_http_req_json(req, &body) != CORE_OK)
        return 0; /* answered with 400/413 */
    async_job *job = malloc(sizeof *job);
    job->req = req;
    job->body = body;
    pthread_t t;
    pthread_create(&t, NULL, async_worker, job);
    pthread_detach(t);
    return CORE_HTTP_ASYNC;
}

static atomic_int late_rc = 1;

static void *late_worker(void *arg)
{
    tu_sleep_ms(1600); /* past the server's 1 s asynchronous deadline */
    atomic_store(&late_rc, core_http_respond_json(arg, 200, json_pack("{s:b}", "late", 1)));
    return NULL;
}

static int h_slow(core_http_req *req, void *ud)
{
    (void)ud;
    pthread_t t;
    pthread_create(&t, NULL, late_worker, req);
    pthread_detach(t);
    return CORE_HTTP_ASYNC;
}

static int h_fail(core_http_req *req, void *ud)
{
    (void)req;
    (void)ud;
    return CORE_EIO; /* answered 500 by the server */
}

static int mw_count;
static int mw_tag(core_http_req *req, void *ud)
{
    (void)ud;
    mw_count++;
    char v[16];
    if (core_http_req_header(req, "x-block", v, sizeof v) >= 0)
        return core_http_respond_error(req, 401, "unauthenticated", "blocked by middleware");
    return core_http_next(req);
}

static int ws_upgrade(core_http_req *req, void *ud)
{
    (void)ud;
    char v[16];
    if (core_http_req_header(req, "x-deny", v, sizeof v) >= 0)
        return 403;
    core_http_req_set_local(req, (void *)"local-ok");
    return 0;
}

static void ws_open(core_ws_conn *c, void *ud)
{
    (void)ud;
    atomic_store(&ws_last_id, core_ws_conn_id(c));
}

static void ws_message(core_ws_conn *c, const void *data, size_t len, bool binary, void *ud)
{
    (void)ud;
    if (len == 5 && memcmp(data, "param", 5) == 0) {
        const char *p = core_ws_conn_param(c, "id");
        core_ws_send(c, p, strlen(p), false);
        return;
    }
    if (len == 5 && memcmp(data, "local", 5) == 0) {
        const char *p = core_ws_conn_local(c);
        core_ws_send(c, p, strlen(p), false);
        return;
    }
    if (len == 4 && memcmp(data, "quit", 4) == 0) {
        core_ws_close(c, 4000, "server says bye");
        return;
    }
    core_ws_send(c, data, len, binary);
}

static void ws_closed(core_ws_conn *c, int code, const char *reason, void *ud)
{
    (void)c;
    (void)ud;
    pthread_mutex_lock(&ws_lock);
    snprintf(ws_close_reason, sizeof ws_close_reason, "%s", reason);
    pthread_mutex_unlock(&ws_lock);
    atomic_store(&ws_close_code, code);
}

/* Backpressure endpoint: "flood" queues FLOOD_N x FLOOD_SZ bytes; other messages are counted
 * and echoed. */
#define FLOOD_N 512
#define FLOOD_SZ (16 * 1024)
static atomic_int flood_msgs_in;
static atomic_int flood_drains;
static atomic_size_t flood_max_queued;
static atomic_uint_fast64_t flood_id;

static void flood_open(core_ws_conn *c, void *ud)
{
    (void)ud;
    atomic_store(&flood_id, core_ws_conn_id(c));
}

static void flood_message(core_ws_conn *c, const void *data, size_t len, bool binary, void *ud)
{
    (void)ud;
    atomic_fetch_add(&flood_msgs_in, 1);
    if (len == 5 && memcmp(data, "flood", 5) == 0) {
        static unsigned char chunk[FLOOD_SZ];
        for (int i = 0; i < FLOOD_N; i++) {
            memset(chunk, (unsigned char)i, sizeof chunk);
            core_ws_send(c, chunk, sizeof chunk, true);
            size_t q = core_ws_conn_queued(c);
            if (q > atomic_load(&flood_max_queued))
                atomic_store(&flood_max_queued, q);
        }
        return;
    }
    core_ws_send(c, data, len, binary);
}

static void flood_drain(core_ws_conn *c, void *ud)
{
    (void)c;
    (void)ud;
    atomic_fetch_add(&flood_drains, 1);
}

static bool is_ready(void *ud)
{
    (void)ud;
    return atomic_load(&ready_flag);
}

/* ---- Span helpers ---- */

/* Waits until at least n spans were exported (bounded), then a little more for stragglers. */
static size_t wait_spans(size_t n)
{
    uint64_t deadline = tu_now_ms() + 5000;
    while (tel_memory_exporter_count(tt.mem) < n && tu_now_ms() < deadline)
        tu_sleep_ms(5);
    tu_sleep_ms(30);
    return tel_memory_exporter_count(tt.mem);
}

static const tel_span_data *find_span(const char *name)
{
    return tel_memory_exporter_find(tt.mem, name);
}

/* ---- Tests ---- */

/* Sends the raw request req on a new connection to port p and reads the answer: its status (0
 * when none came), and its body (malloc'd, NULL when none) in *body unless body is NULL. */
static int fetch(int p, const char *req, char **body)
{
    tu_resp r;
    memset(&r, 0, sizeof r); /* as it is when the connection fails */
    int fd = tu_http_raw(p, req, strlen(req), &r);
    if (body)
        *body = r.body ? strdup(r.body) : NULL;
    tu_resp_free(&r);
    if (fd >= 0)
        close(fd);
    return r.status;
}

/* The server answers a plain request. */
static void still_ok(void)
{
    int st = fetch(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
    CHECK(st == 200, "healthz after: %d", st);
}

/* The server's /metrics in OpenMetrics form (exemplars included), fetched on a raw socket (no
 * client span); NULL on failure. A scrape is a collection: the histogram buckets' exemplar
 * reservoirs start a new interval. */
static char *openmetrics(void)
{
    char *body;
    int st = fetch(port,
                   "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                   "Accept: application/openmetrics-text; version=1.0.0\r\n\r\n",
                   &body);
    if (st != 200) {
        free(body);
        return NULL;
    }
    return body;
}

static void test_trace_across_client_and_server(core_http_client *cl)
{
    tel_memory_exporter_reset(tt.mem);
    free(openmetrics()); /* a new exemplar interval: the request below is its first */
    /* The caller: a root span with business baggage. */
    tel_span *root = tel_span_start(tracer, "client-root", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_baggage *b1 = tel_baggage_set(NULL, "customer_id", "c42", NULL);
    tel_baggage *b2 = tel_baggage_set(b1, "server_id", "s7", NULL);
    tel_baggage *bag = tel_baggage_set(b2, "password", "never-on-spans", NULL);
    tel_context_set_baggage(&ctx, bag);
    tel_baggage_unref(b1);
    tel_baggage_unref(b2);
    tel_baggage_unref(bag);
    tel_context_set_span(&ctx, root);

    char url[256];
    snprintf(url, sizeof url, "http://user:secretpw@127.0.0.1:%d/v1/servers/abc-1?token=t0p&verbose=y", port);
    core_http_response resp = CORE_HTTP_RESPONSE_INIT;
    core_http_header h = {"authorization", "Bearer secret-token"};
    core_http_request req = {.method = "GET", .url = url, .headers = &h, .n_headers = 1};
    int rc = core_http_client_do(cl, &ctx, &req, &resp);
    CHECK(rc == 0, "rc %d (%s)", rc, resp.error);
    CHECK(resp.status == 200, "status %ld", resp.status);
    json_t *j = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, NULL);
    CHECK(j && strcmp(json_string_value(json_object_get(j, "id")), "abc-1") == 0, "body %s", resp.body);
    CHECK(j && json_is_true(json_object_get(j, "current_span_ok")), "current span not set");
    CHECK(j && json_string_value(json_object_get(j, "customer")) &&
              strcmp(json_string_value(json_object_get(j, "customer")), "c42") == 0,
          "baggage not visible to the handler");
    CHECK(j && strcmp(json_string_value(json_object_get(j, "verbose")), "y") == 0,
          "query value of one character after another argument");
    json_decref(j);
    char tp[128] = "", served[32] = "";
    CHECK(core_http_response_header(&resp, "traceparent", tp, sizeof tp) == TEL_TRACEPARENT_LEN,
          "traceparent response header missing");
    CHECK(core_http_response_header(&resp, "x-served-by", served, sizeof served) > 0 &&
              strcmp(served, "test") == 0, "custom response header");
    core_http_response_cleanup(&resp);
    tel_span_end(root);
    tel_context_cleanup(&ctx);

    wait_spans(4);
    const tel_span_data *r = find_span("client-root");
    const tel_span_data *c = find_span("GET");
    const tel_span_data *s = find_span("GET /v1/servers/{id}");
    const tel_span_data *k = find_span("load server");
    CHECK(r && c && s && k, "spans missing: root %p client %p server %p child %p", (void *)r,
          (void *)c, (void *)s, (void *)k);
    if (!(r && c && s && k)) {
        for (size_t i = 0; i < tel_memory_exporter_count(tt.mem); i++)
            fprintf(stderr, "  span %zu: '%s'\n", i, tel_memory_exporter_span(tt.mem, i)->name);
        return;
    }
    CHECK(c->kind == TEL_SPAN_KIND_CLIENT, "client kind %d", c->kind);
    CHECK(s->kind == TEL_SPAN_KIND_SERVER, "server kind %d", s->kind);
    CHECK(k->kind == TEL_SPAN_KIND_INTERNAL, "child kind");
    CHECK(tu_is_child(c, r), "client span is not a child of the root");
    CHECK(tu_is_child(s, c), "server span is not a child of the client span");
    CHECK(s->parent_remote, "server parent should be remote");
    CHECK(tu_is_child(k, s), "handler span is not a child of the server span");
    /* The traceparent answer names the server span. */
    char expect[TEL_TRACEPARENT_LEN + 1];
    tel_traceparent_format(&s->sc, expect);
    CHECK(strcmp(tp, expect) == 0, "traceparent %s, expected %s", tp, expect);
    /* Server attributes. */
    CHECK(tu_attr_str(s, "http.request.method") && strcmp(tu_attr_str(s, "http.request.method"), "GET") == 0, "method");
    CHECK(tu_attr_str(s, "http.route") && strcmp(tu_attr_str(s, "http.route"), "/v1/servers/{id}") == 0, "route");
    CHECK(tu_attr_str(s, "url.path") && strcmp(tu_attr_str(s, "url.path"), "/v1/servers/abc-1") == 0, "url.path");
    CHECK(tu_attr_str(s, "url.scheme") && strcmp(tu_attr_str(s, "url.scheme"), "http") == 0, "scheme");
    CHECK(tu_attr_str(s, "server.address") && strcmp(tu_attr_str(s, "server.address"), "127.0.0.1") == 0,
          "server.address %s", tu_attr_str(s, "server.address"));
    CHECK(tu_attr_int(s, "server.port") == port, "server.port %" PRId64, tu_attr_int(s, "server.port"));
    CHECK(tu_attr_str(s, "client.address") && strcmp(tu_attr_str(s, "client.address"), "127.0.0.1") == 0,
          "client.address %s", tu_attr_str(s, "client.address"));
    CHECK(tu_attr_str(s, "user_agent.original") && strstr(tu_attr_str(s, "user_agent.original"), "bmcfleet/"),
          "user agent");
    CHECK(tu_attr_int(s, "http.response.status_code") == 200, "status attr");
    CHECK(tu_attr_str(s, "customer_id") && strcmp(tu_attr_str(s, "customer_id"), "c42") == 0, "baggage customer_id");
    CHECK(tu_attr_str(s, "server_id") && strcmp(tu_attr_str(s, "server_id"), "s7") == 0, "baggage server_id");
    CHECK(!tu_has_attr(s, "password"), "a non-business baggage key was copied");
    CHECK(s->status == TEL_STATUS_UNSET, "server status %d", s->status);
    /* Client attributes: no secrets. */
    char full[256];
    snprintf(full, sizeof full, "http://127.0.0.1:%d/v1/servers/abc-1", port);
    CHECK(tu_attr_str(c, "url.full") && strcmp(tu_attr_str(c, "url.full"), full) == 0, "url.full %s",
          tu_attr_str(c, "url.full"));
    CHECK(tu_attr_str(c, "server.address") && strcmp(tu_attr_str(c, "server.address"), "127.0.0.1") == 0, "client server.address");
    CHECK(tu_attr_int(c, "server.port") == port, "client server.port");
    CHECK(tu_attr_int(c, "http.response.status_code") == 200, "client status");
    /* The request duration's exemplar points at the server span (recorded as it ends). */
    char sid[2 * TEL_SPAN_ID_SIZE + 1], tid[2 * TEL_TRACE_ID_SIZE + 1];
    tel_hex_encode(s->sc.span_id, TEL_SPAN_ID_SIZE, sid);
    tel_hex_encode(s->sc.trace_id, TEL_TRACE_ID_SIZE, tid);
    char *om = openmetrics();
    bool linked = false;
    for (char *line = om ? strtok(om, "\n") : NULL; line && !linked; line = strtok(NULL, "\n")) {
        char *ex = strstr(line, " # {");
        linked = strncmp(line, "http_server_request_duration_seconds_bucket{", 44) == 0 &&
                 strstr(line, "http_route=\"/v1/servers/{id}\"") && ex && strstr(ex, sid) &&
                 strstr(ex, tid);
    }
    CHECK(linked, "no http.server.request.duration exemplar with the server span %s", sid);
    free(om);
    for (size_t i = 0; i < tel_memory_exporter_count(tt.mem); i++) {
        const tel_span_data *d = tel_memory_exporter_span(tt.mem, i);
        for (uint32_t a = 0; a < tel_span_data_attr_count(d); a++) {
            const tel_attr *at = tel_span_data_attr(d, a);
            if (at->type != TEL_ATTR_STRING)
                continue;
            CHECK(!strstr(at->v.s, "secret") && !strstr(at->v.s, "t0p") && !strstr(at->v.s, "never-on-spans"),
                  "secret in %s.%s = %s", d->name, at->key, at->v.s);
        }
    }
}

static void test_async_json_and_errors(core_http_client *cl)
{
    tel_memory_exporter_reset(tt.mem);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/servers", port);
    json_t *body = json_pack("{s:s, s:i}", "name", "node-1", "rack", 4);
    json_t *out = NULL;
    long status = 0;
    int rc = core_http_client_json(cl, NULL, "POST", url, body, &out, &status);
    json_decref(body);
    CHECK(rc == 0 && status == 201, "rc %d status %ld", rc, status);
    CHECK(out && json_is_true(json_object_get(out, "async")), "async body");
    CHECK(out && json_integer_value(json_object_get(json_object_get(out, "created"), "rack")) == 4, "echo");
    json_decref(out);
    wait_spans(2);
    const tel_span_data *s = find_span("POST /v1/servers");
    CHECK(s && tu_attr_int(s, "http.response.status_code") == 201, "async span status");

    /* Malformed JSON, invalid UTF-8, empty, not an object: 400 with a JSON error body. */
    struct {
        const char *body;
        size_t len;
        const char *code;
        int status;
    } bad[] = {
        {"{\"name\": ", 9, "malformed_json", 400},
        {"{\"name\": \"\xff\xfe\"}", 14, "invalid_utf8", 400},
        {"{\"a\":\"\xc0\xaf\"}", 10, "invalid_utf8", 400},
        {"", 0, "empty_body", 400},
        {"[1,2]", 5, "json_not_object", 400},
        {"{\"a\":1,\"a\":2}", 13, "malformed_json", 400},
        {"{\"a\":\"x\\u0000y\"}", 16, "malformed_json", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char raw[512];
        int n = snprintf(raw, sizeof raw,
                         "POST /v1/servers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n", bad[i].len);
        memcpy(raw + n, bad[i].body, bad[i].len);
        tu_resp r;
        int fd = tu_http_raw(port, raw, (size_t)n + bad[i].len, &r);
        CHECK(r.status == bad[i].status, "case %zu: status %d", i, r.status);
        json_t *e = r.body ? json_loads(r.body, 0, NULL) : NULL;
        const char *code = json_string_value(json_object_get(json_object_get(e, "error"), "code"));
        CHECK(code && strcmp(code, bad[i].code) == 0, "case %zu: code %s body %s", i, code ? code : "-", r.body);
        CHECK(json_string_value(json_object_get(json_object_get(e, "error"), "message")), "message");
        json_decref(e);
        tu_resp_free(&r);
        close(fd);
    }

    /* 404, 405 with Allow, 411, 413, 500, middleware 401, automatic OPTIONS. */
    tu_resp r;
    int fd = tu_http_raw(port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", strlen("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"), &r);
    CHECK(r.status == 404 && strstr(r.body, "\"not_found\""), "404: %d %s", r.status, r.body);
    tu_resp_free(&r);
    /* Keep-alive after an error: a second request on the same connection. */
    tu_send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", strlen("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    tu_read_response(fd, &r, false);
    CHECK(r.status == 200 && strstr(r.body, "\"ok\""), "keep-alive after 404: %d", r.status);
    tu_resp_free(&r);
    close(fd);

    fd = tu_http_raw(port, "DELETE /v1/servers HTTP/1.1\r\nHost: x\r\n\r\n", strlen("DELETE /v1/servers HTTP/1.1\r\nHost: x\r\n\r\n"), &r);
    char allow[64] = "";
    CHECK(r.status == 405 && tu_header(&r, "allow", allow, sizeof allow) && strcmp(allow, "POST") == 0,
          "405: %d allow '%s'", r.status, allow);
    CHECK(strstr(r.body, "method_not_allowed"), "405 body %s", r.body);
    tu_resp_free(&r);
    close(fd);

    fd = tu_http_raw(port, "OPTIONS /v1/servers/1 HTTP/1.1\r\nHost: x\r\n\r\n", strlen("OPTIONS /v1/servers/1 HTTP/1.1\r\nHost: x\r\n\r\n"), &r);
    CHECK(r.status == 204 && tu_header(&r, "allow", allow, sizeof allow) && strstr(allow, "GET") &&
              strstr(allow, "OPTIONS"), "OPTIONS: %d allow '%s'", r.status, allow);
    tu_resp_free(&r);
    close(fd);

    fd = tu_http_raw(port, "POST /v1/servers HTTP/1.1\r\nHost: x\r\n\r\n", strlen("POST /v1/servers HTTP/1.1\r\nHost: x\r\n\r\n"), &r);
    CHECK(r.status == 411 && strstr(r.body, "length_required"), "411: %d", r.status);
    tu_resp_free(&r);
    close(fd);

    const char *big = "POST /v1/servers HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n";
    fd = tu_http_raw(port, big, strlen(big), &r);
    CHECK(r.status == 413 && strstr(r.body, "body_too_large"), "413: %d", r.status);
    CHECK(tu_closed_within(fd, 2000), "413 did not close the connection");
    tu_resp_free(&r);
    close(fd);

    fd = tu_http_raw(port, "GET /v1/fail HTTP/1.1\r\nHost: x\r\nX-Block-Not: 1\r\n\r\n", strlen("GET /v1/fail HTTP/1.1\r\nHost: x\r\nX-Block-Not: 1\r\n\r\n"), &r);
    CHECK(r.status == 500 && strstr(r.body, "internal"), "500: %d", r.status);
    tu_resp_free(&r);
    close(fd);

    fd = tu_http_raw(port, "GET /v1/servers/9 HTTP/1.1\r\nHost: x\r\nX-Block: 1\r\n\r\n", strlen("GET /v1/servers/9 HTTP/1.1\r\nHost: x\r\nX-Block: 1\r\n\r\n"), &r);
    CHECK(r.status == 401 && strstr(r.body, "unauthenticated"), "middleware 401: %d", r.status);
    tu_resp_free(&r);
    close(fd);

    /* HEAD is served by the GET route without a body. */
    fd = tu_http_raw(port, "HEAD /v1/servers/9 HTTP/1.1\r\nHost: x\r\n\r\n", strlen("HEAD /v1/servers/9 HTTP/1.1\r\nHost: x\r\n\r\n"), &r);
    char cl_v[32] = "";
    CHECK(r.status == 200 && tu_header(&r, "content-length", cl_v, sizeof cl_v) && atoi(cl_v) > 0 &&
              r.body_len == 0, "HEAD: %d cl %s body %zu", r.status, cl_v, r.body_len);
    tu_resp_free(&r);
    close(fd);

    /* h2c upgrade refused with JSON. */
    const char *h2c = "GET /v1/servers/1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    fd = tu_http_raw(port, h2c, strlen(h2c), &r);
    CHECK(r.status == 400 && strstr(r.body, "h2c_not_supported"), "h2c: %d %s", r.status, r.body);
    tu_resp_free(&r);
    close(fd);

    wait_spans(10);
    const tel_span_data *f = find_span("GET /v1/fail");
    CHECK(f && f->status == TEL_STATUS_ERROR && tu_attr_int(f, "http.response.status_code") == 500 &&
              tu_attr_str(f, "error.type") && strcmp(tu_attr_str(f, "error.type"), "500") == 0,
          "5xx span status");
    const tel_span_data *nf = NULL;
    for (size_t i = 0; i < tel_memory_exporter_count(tt.mem); i++) {
        const tel_span_data *d = tel_memory_exporter_span(tt.mem, i);
        if (strcmp(d->name, "GET") == 0 && tu_attr_int(d, "http.response.status_code") == 404)
            nf = d;
    }
    CHECK(nf && nf->status == TEL_STATUS_UNSET && !tu_has_attr(nf, "http.route"), "404 span: route-less, unset status");

    /* Client-side failures: 5xx and a refused connection make ERROR client spans. */
    tel_memory_exporter_reset(tt.mem);
    core_http_response resp = CORE_HTTP_RESPONSE_INIT;
    char u2[128];
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/v1/fail", port);
    core_http_request rq = {.url = u2};
    CHECK(core_http_client_do(cl, NULL, &rq, &resp) == 0 && resp.status == 500, "client 500");
    core_http_response_cleanup(&resp);
    int lfd = socket(AF_INET, SOCK_STREAM, 0); /* a port nobody listens on */
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(lfd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &al);
    close(lfd);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    rq.url = u2;
    rc = core_http_client_do(cl, NULL, &rq, &resp);
    CHECK(rc == CORE_EIO && resp.status == 0 && resp.error[0], "refused: rc %d", rc);
    core_http_response_cleanup(&resp);
    wait_spans(3);
    int err_clients = 0;
    for (size_t i = 0; i < tel_memory_exporter_count(tt.mem); i++) {
        const tel_span_data *d = tel_memory_exporter_span(tt.mem, i);
        if (d->kind == TEL_SPAN_KIND_CLIENT && d->status == TEL_STATUS_ERROR && tu_has_attr(d, "error.type"))
            err_clients++;
    }
    CHECK(err_clients == 2, "client error spans: %d", err_clients);
}

/* An asynchronous answer that comes too late: the client gets 504 at the deadline, the late
 * answer is accepted harmlessly, the span says 504/timeout, and the connection is not reused
 * for anything stale. */
/* The url.path attribute of the server span d (NULL when missing). */
static const tel_attr *url_path_attr(const tel_span_data *d)
{
    for (uint32_t i = 0; d && i < tel_span_data_attr_count(d); i++)
        if (strcmp(tel_span_data_attr(d, i)->key, "url.path") == 0)
            return tel_span_data_attr(d, i);
    return NULL;
}

/* Reserved characters in a path. lws splits the path at a raw ';' or '&' (as it does the query)
 * and loses which one it was: such a request gets a 400 that says to percent-encode them, and
 * its span's url.path holds no NUL byte. Encoded, they and the other sub-delimiters reach the
 * handler and url.path as sent. */
static void test_reserved_path_chars(void)
{
    tel_memory_exporter_reset(tt.mem);
    const char *raw[] = {"GET /v1/servers/a;b HTTP/1.1\r\nHost: x\r\n\r\n",
                         "GET /v1/servers/a&b HTTP/1.1\r\nHost: x\r\n\r\n"};
    for (size_t k = 0; k < 2; k++) {
        tu_resp r;
        int fd = tu_http_raw(port, raw[k], strlen(raw[k]), &r);
        CHECK(r.status == 400 && r.body && strstr(r.body, "\"bad_path\"") &&
                  strstr(r.body, "percent-encode"),
              "raw delimiter: %d %s", r.status, r.body ? r.body : "");
        tu_resp_free(&r);
        close(fd);
    }
    wait_spans(2);
    for (size_t i = 0; i < tel_memory_exporter_count(tt.mem); i++) {
        const tel_attr *p = url_path_attr(tel_memory_exporter_span(tt.mem, i));
        CHECK(!p || (p->type == TEL_ATTR_STRING && memchr(p->v.s, 0, p->len) == NULL &&
                     p->len == strlen("/v1/servers/a") && memcmp(p->v.s, "/v1/servers/a", p->len) == 0),
              "url.path of a split path");
    }
    tu_resp wr;
    int wfd = tu_ws_open(port, "/ws/echo/a;b", "", &wr);
    CHECK(wr.status == 400 && wr.body && strstr(wr.body, "percent-encode"),
          "WebSocket upgrade on a split path: %d %s", wr.status, wr.body ? wr.body : "");
    tu_resp_free(&wr);
    if (wfd >= 0)
        close(wfd);
    still_ok();

    tel_memory_exporter_reset(tt.mem);
    const char *req = "GET /v1/servers/a%3Bb=c,d@e:f%26g HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *want = "a;b=c,d@e:f&g";
    tu_resp r;
    int fd = tu_http_raw(port, req, strlen(req), &r);
    CHECK(r.status == 200, "encoded: %d %s", r.status, r.body ? r.body : "");
    json_t *j = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
    const char *id = j ? json_string_value(json_object_get(j, "id")) : NULL;
    CHECK(id && strcmp(id, want) == 0, "id %s", id ? id : "(none)");
    json_decref(j);
    tu_resp_free(&r);
    close(fd);
    wait_spans(2);
    const tel_attr *p = url_path_attr(find_span("GET /v1/servers/{id}"));
    CHECK(p && p->type == TEL_ATTR_STRING && p->len == strlen("/v1/servers/") + strlen(want) &&
              memcmp(p->v.s, "/v1/servers/", 12) == 0 && memcmp(p->v.s + 12, want, strlen(want)) == 0,
          "url.path %.*s", p ? (int)p->len : 0, p ? p->v.s : "");
}

/* A server whose propagator is b3multi: the server span continues a trace given by the X-B3-*
 * headers or by the single b3 header (the look-up that skips extraction when none of the
 * propagator's fields is present must find them). */
/* Sends the raw request req to port with the span store emptied first, checks the 200 and
 * returns the request's server span (GET /v1/servers/{id}; NULL when missing). */
static const tel_span_data *raw_server_span(int to, const char *req, const char *what, int i)
{
    tel_memory_exporter_reset(tt.mem);
    tu_resp r;
    int fd = tu_http_raw(to, req, strlen(req), &r);
    CHECK(r.status == 200, "%s %d: %d", what, i, r.status);
    tu_resp_free(&r);
    close(fd);
    wait_spans(2);
    return find_span("GET /v1/servers/{id}");
}

static void test_b3_server(void)
{
    tel_propagator *b3 = tel_propagator_create("b3multi");
    core_http_server_config cfg = {.port = 0, .tracer = tracer, .meters = meters, .propagator = b3};
    core_http_server *s2 = core_http_server_create(&cfg);
    CHECK(s2 && core_http_server_route(s2, CORE_HTTP_GET, "/v1/servers/{id}", h_get_server,
                                       NULL) == 0 &&
              core_http_server_start(s2) == 0,
          "b3 server");
    int p2 = s2 ? core_http_server_port(s2) : -1;
    const char *reqs[] = {"GET /v1/servers/m HTTP/1.1\r\nHost: x\r\n"
                          "X-B3-TraceId: 463ac35c9f6413ad48485a3953bb6124\r\n"
                          "X-B3-SpanId: a2fb4a1d1a96d312\r\nX-B3-Sampled: 1\r\n\r\n",
                          "GET /v1/servers/s HTTP/1.1\r\nHost: x\r\n"
                          "b3: 463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-1\r\n\r\n"};
    for (int i = 0; i < 2 && p2 > 0; i++) {
        const tel_span_data *sp = raw_server_span(p2, reqs[i], "b3 request", i);
        char tid[33] = "", psid[17] = "";
        if (sp) {
            tel_hex_encode(sp->sc.trace_id, 16, tid);
            tel_hex_encode(sp->parent_span_id, 8, psid);
        }
        CHECK(sp && strcmp(tid, "463ac35c9f6413ad48485a3953bb6124") == 0 &&
                  strcmp(psid, "a2fb4a1d1a96d312") == 0 && sp->parent_remote,
              "b3 request %d: server span trace %s parent %s", i, tid, psid);
    }
    core_http_server_destroy(s2);
    tel_propagator_destroy(b3);
}

/* The extraction fast path skips requests without context headers; each carrier header alone
 * still counts: tracestate alone gives no parent (it is only read with a traceparent), baggage
 * alone reaches the span, traceparent with tracestate gives a remote parent and its tracestate.
 * And a header sent twice is read whole. */
static void test_context_header_subsets(void)
{
    static const char tid[] = "4bf92f3577b34da6a3ce929d0e0e4736";
    const char *reqs[] = {"GET /v1/servers/t1 HTTP/1.1\r\nHost: x\r\ntracestate: v=1\r\n\r\n",
                          "GET /v1/servers/t2 HTTP/1.1\r\nHost: x\r\n"
                          "baggage: customer_id=c9\r\n\r\n",
                          "GET /v1/servers/t3 HTTP/1.1\r\nHost: x\r\n"
                          "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
                          "tracestate: v=1\r\n\r\n",
                          "GET /v1/servers/t4 HTTP/1.1\r\nHost: x\r\nUser-Agent: agent-one\r\n"
                          "User-Agent: agent-two\r\n\r\n"};
    for (int i = 0; i < 4; i++) {
        const tel_span_data *sp = raw_server_span(port, reqs[i], "context subset", i);
        CHECK(sp != NULL, "context subset %d: no server span", i);
        if (!sp)
            continue;
        char t[33];
        tel_hex_encode(sp->sc.trace_id, 16, t);
        size_t vlen = 0;
        const char *v = sp->ts ? tel_tracestate_get(sp->ts, "v", &vlen) : NULL;
        if (i < 2)
            CHECK(!sp->has_parent && !sp->ts, "context subset %d: a parent from no traceparent", i);
        if (i == 1)
            CHECK(tu_attr_str(sp, "customer_id") &&
                      strcmp(tu_attr_str(sp, "customer_id"), "c9") == 0,
                  "baggage alone was not extracted");
        if (i == 2)
            CHECK(sp->has_parent && sp->parent_remote && strcmp(t, tid) == 0 && v && vlen == 1 &&
                      v[0] == '1',
                  "traceparent with tracestate: trace %s, tracestate %s", t, v ? v : "none");
        /* A repeated header is read whole, not its first line only. */
        const char *ua = tu_attr_str(sp, "user_agent.original");
        if (i == 3)
            CHECK(ua && strstr(ua, "agent-one") && strstr(ua, "agent-two"),
                  "repeated User-Agent read as %s", ua ? ua : "none");
    }
}

/* server.address and server.port follow each request's Host header on one keep-alive
 * connection (the connection keeps the last one split): a change, a repeat, a long name and an
 * IPv6 literal, a host without a port, one of the same length as the last. */
static void test_host_per_request(void)
{
    static char longhost[120];
    memset(longhost, 'h', 100);
    memcpy(longhost + 100, ".example:8443", 14);
    const char *hosts[] = {"a.example:8080", "a.example:8080", "c.example:8081", "b.example",
                           longhost,         "[::1]:9000",     "a.example:8080"};
    const char *want_addr[] = {"a.example", "a.example", "c.example", "b.example",
                               NULL,        "[::1]",     "a.example"};
    const int64_t want_port[] = {8080, 8080, 8081, 80, 8443, 9000, 8080};
    int fd = tu_connect(port);
    CHECK(fd >= 0, "host test: connect");
    for (int i = 0; fd >= 0 && i < 7; i++) {
        tel_memory_exporter_reset(tt.mem);
        char req[512];
        snprintf(req, sizeof req, "GET /v1/servers/h%d HTTP/1.1\r\nHost: %s\r\n\r\n", i,
                 hosts[i]);
        tu_send_all(fd, req, strlen(req));
        tu_resp r;
        tu_read_response(fd, &r, false);
        CHECK(r.status == 200 && !r.closed, "host %d: %d", i, r.status);
        tu_resp_free(&r);
        wait_spans(2);
        const tel_span_data *sp = find_span("GET /v1/servers/{id}");
        const char *addr = sp ? tu_attr_str(sp, "server.address") : NULL;
        char want[128];
        snprintf(want, sizeof want, "%s", want_addr[i] ? want_addr[i] : longhost);
        if (!want_addr[i])
            want[100 + 8] = '\0'; /* the name without ":8443" */
        CHECK(addr && strcmp(addr, want) == 0 && tu_attr_int(sp, "server.port") == want_port[i],
              "host %d: server.address %s port %lld", i, addr ? addr : "none",
              sp ? (long long)tu_attr_int(sp, "server.port") : -1LL);
    }
    if (fd >= 0)
        close(fd);
}

static void test_async_timeout(void)
{
    tel_memory_exporter_reset(tt.mem);
    tu_resp r;
    uint64_t t0 = tu_now_ms();
    const char *req = "GET /v1/slow HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = tu_http_raw(port, req, strlen(req), &r);
    uint64_t took = tu_now_ms() - t0;
    CHECK(r.status == 504 && strstr(r.body ? r.body : "", "\"timeout\""), "504: %d", r.status);
    CHECK(took >= 900 && took < 1500, "504 after %llu ms", (unsigned long long)took);
    tu_resp_free(&r);
    close(fd);
    for (int i = 0; i < 200 && atomic_load(&late_rc) == 1; i++)
        tu_sleep_ms(10);
    CHECK(atomic_load(&late_rc) == 0, "late answer rc %d", atomic_load(&late_rc));
    wait_spans(1);
    const tel_span_data *s = find_span("GET /v1/slow");
    CHECK(s && tu_attr_int(s, "http.response.status_code") == 504 && tu_attr_str(s, "error.type") &&
              strcmp(tu_attr_str(s, "error.type"), "timeout") == 0 && s->status == TEL_STATUS_ERROR,
          "timeout span");
    still_ok();
}

static void test_websocket(void)
{
    tel_memory_exporter_reset(tt.mem);
    /* The caller's context travels in the upgrade request's headers. */
    tel_span *root = tel_span_start(tracer, "ws-root", TEL_SPAN_KIND_CLIENT, NULL);
    tel_span_context rsc = tel_span_get_context(root);
    char tp[TEL_TRACEPARENT_LEN + 1];
    tel_traceparent_format(&rsc, tp);
    char extra[512];
    snprintf(extra, sizeof extra, "traceparent: %s\r\ntracestate: vendor=1\r\nbaggage: session_id=sess-9,datacenter=dc1\r\n", tp);
    tu_resp r;
    int fd = tu_ws_open(port, "/ws/echo/srv-5", extra, &r);
    CHECK(r.status == 101, "upgrade status %d", r.status);
    char rtp[128] = "";
    CHECK(tu_header(&r, "traceparent", rtp, sizeof rtp) && strlen(rtp) == TEL_TRACEPARENT_LEN,
          "no traceparent on the 101");
    tu_resp_free(&r);
    unsigned char buf[70000];
    int op = 0;
    tu_ws_send_frame(fd, 0x1, true, true, "hello", 5);
    long n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
    CHECK(n == 5 && op == 1 && memcmp(buf, "hello", 5) == 0, "echo text: %ld op %d", n, op);
    /* A fragmented binary message, reassembled. */
    tu_ws_send_frame(fd, 0x2, false, true, "\x01\x02", 2);
    tu_ws_send_frame(fd, 0x0, false, true, "\x03", 1);
    tu_ws_send_frame(fd, 0x0, true, true, "\x04\x05", 2);
    n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
    CHECK(n == 5 && op == 2 && memcmp(buf, "\x01\x02\x03\x04\x05", 5) == 0, "fragmented: %ld op %d", n, op);
    /* A large message (over one 64 KiB write) comes back whole (possibly fragmented). */
    static unsigned char big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7);
    tu_ws_send_frame(fd, 0x2, true, true, big, sizeof big);
    size_t got = 0;
    static unsigned char back[100000];
    for (int i = 0; i < 8 && got < sizeof big; i++) {
        bool fin = false;
        n = tu_ws_recv_frame(fd, &op, &fin, back + got, sizeof back - got);
        if (n < 0)
            break;
        got += (size_t)n;
        if (fin)
            break;
    }
    CHECK(got == sizeof big && memcmp(big, back, sizeof big) == 0, "big echo: %zu", got);
    tu_ws_send_frame(fd, 0x1, true, true, "param", 5);
    n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
    CHECK(n == 5 && memcmp(buf, "srv-5", 5) == 0, "path parameter");
    tu_ws_send_frame(fd, 0x1, true, true, "local", 5);
    n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
    CHECK(n == 8 && memcmp(buf, "local-ok", 8) == 0, "local pointer from on_upgrade");
    /* Cross-thread send by id. */
    uint64_t id = atomic_load(&ws_last_id);
    CHECK(core_ws_post(srv, id, "pushed", 6, false) == 0, "post");
    n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
    CHECK(n == 6 && memcmp(buf, "pushed", 6) == 0, "posted message: %ld", n);
    CHECK(core_ws_post(srv, 999999, "x", 1, false) == CORE_ECLOSED, "post to unknown id");
    /* Client closes with a code and reason. */
    tu_ws_close(fd, 1000, "bye now");
    n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
    CHECK(n >= 2 && op == 8 && ((buf[0] << 8) | buf[1]) == 1000, "close echo: %ld op %d", n, op);
    close(fd);
    tel_span_end(root);
    wait_spans(3);
    for (int i = 0; i < 100 && atomic_load(&ws_close_code) == 0; i++)
        tu_sleep_ms(10);
    CHECK(atomic_load(&ws_close_code) == 1000, "on_close code %d", atomic_load(&ws_close_code));
    pthread_mutex_lock(&ws_lock);
    CHECK(strcmp(ws_close_reason, "bye now") == 0, "on_close reason '%s'", ws_close_reason);
    pthread_mutex_unlock(&ws_lock);
    CHECK(core_ws_post(srv, id, "late", 4, false) == CORE_ECLOSED, "post after close");

    const tel_span_data *rt = find_span("ws-root");
    const tel_span_data *up = find_span("GET /ws/echo/{id}");
    const tel_span_data *cs = find_span("WS /ws/echo/{id}");
    CHECK(rt && up && cs, "ws spans missing");
    if (!(rt && up && cs))
        for (size_t i = 0; i < tel_memory_exporter_count(tt.mem); i++)
            fprintf(stderr, "  span %zu: '%s'\n", i, tel_memory_exporter_span(tt.mem, i)->name);
    if (rt && up && cs) {
        CHECK(up->kind == TEL_SPAN_KIND_SERVER && tu_is_child(up, rt) && up->parent_remote, "upgrade span parent");
        CHECK(tu_attr_int(up, "http.response.status_code") == 101, "upgrade status attr");
        CHECK(tu_attr_str(up, "session_id") && strcmp(tu_attr_str(up, "session_id"), "sess-9") == 0, "upgrade baggage");
        char expect[TEL_TRACEPARENT_LEN + 1];
        tel_traceparent_format(&up->sc, expect);
        CHECK(strcmp(expect, rtp) == 0, "101 traceparent %s vs %s", rtp, expect);
        CHECK(tu_is_child(cs, up), "connection span is not a child of the upgrade span");
        CHECK(tu_attr_str(cs, "datacenter") && strcmp(tu_attr_str(cs, "datacenter"), "dc1") == 0, "conn baggage");
        CHECK(tu_has_event(cs, "ws.open") && tu_has_event(cs, "ws.close"), "open/close events");
        CHECK(tu_attr_int(cs, "ws.messages_in") == 5, "messages_in %" PRId64, tu_attr_int(cs, "ws.messages_in"));
        CHECK(tu_attr_int(cs, "ws.messages_out") == 6, "messages_out %" PRId64, tu_attr_int(cs, "ws.messages_out"));
        CHECK(tu_attr_int(cs, "ws.bytes_in") == 5 + 5 + 100000 + 5 + 5, "bytes_in %" PRId64, tu_attr_int(cs, "ws.bytes_in"));
        CHECK(tu_attr_int(cs, "ws.bytes_out") == 5 + 5 + 100000 + 5 + 8 + 6, "bytes_out %" PRId64, tu_attr_int(cs, "ws.bytes_out"));
        CHECK(tu_attr_int(cs, "ws.close.code") == 1000 && cs->status == TEL_STATUS_UNSET, "close code attr");
        CHECK(tu_same_trace(rt, cs), "one trace");
    }

    /* Server-initiated close with code and reason. */
    fd = tu_ws_open(port, "/ws/echo/x", "", &r);
    tu_resp_free(&r);
    tu_ws_send_frame(fd, 0x1, true, true, "quit", 4);
    n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
    CHECK(n >= 2 && op == 8 && ((buf[0] << 8) | buf[1]) == 4000 && n - 2 == 15 &&
              memcmp(buf + 2, "server says bye", 15) == 0, "server close: %ld op %d", n, op);
    tu_ws_close(fd, 4000, "");
    close(fd);

    /* Origin check: foreign origin refused, same origin accepted, refusal from on_upgrade. */
    fd = tu_ws_open(port, "/ws/echo/x", "Origin: http://evil.example\r\n", &r);
    CHECK(r.status == 403 && strstr(r.body ? r.body : "", "origin_not_allowed"), "origin: %d", r.status);
    tu_resp_free(&r);
    close(fd);
    char same[128];
    snprintf(same, sizeof same, "Origin: http://127.0.0.1:%d\r\n", port);
    fd = tu_ws_open(port, "/ws/echo/x", same, &r);
    CHECK(r.status == 101, "same origin: %d", r.status);
    tu_resp_free(&r);
    tu_ws_close(fd, 1000, "");
    close(fd);
    fd = tu_ws_open(port, "/ws/echo/x", "X-Deny: 1\r\n", &r);
    CHECK(r.status == 403 && strstr(r.body ? r.body : "", "upgrade_refused"), "on_upgrade refusal: %d", r.status);
    tu_resp_free(&r);
    close(fd);
    fd = tu_ws_open(port, "/ws/nowhere", "", &r);
    CHECK(r.status == 404, "ws 404: %d", r.status);
    tu_resp_free(&r);
    close(fd);
    fd = tu_ws_open(port, "/ws/echo/x", "Sec-WebSocket-Protocol: chat\r\n", &r);
    CHECK(r.status == 400 && strstr(r.body ? r.body : "", "bad_subprotocol"), "subprotocol: %d", r.status);
    tu_resp_free(&r);
    close(fd);
    /* A route requiring a subprotocol selects and echoes it. */
    fd = tu_ws_open(port, "/ws/vnc", "Sec-WebSocket-Protocol: foo, binary\r\n", &r);
    char sp[32] = "";
    CHECK(r.status == 101 && tu_header(&r, "sec-websocket-protocol", sp, sizeof sp) && strcmp(sp, "binary") == 0,
          "binary subprotocol: %d '%s'", r.status, sp);
    tu_resp_free(&r);
    tu_ws_send_frame(fd, 0x2, true, true, "rfb", 3);
    n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
    CHECK(n == 3 && op == 2, "echo on subprotocol route");
    tu_ws_close(fd, 1000, "");
    close(fd);
    fd = tu_ws_open(port, "/ws/vnc", "", &r);
    CHECK(r.status == 400, "missing required subprotocol: %d", r.status);
    tu_resp_free(&r);
    close(fd);
    /* An explicit allow-list. */
    fd = tu_ws_open(port, "/ws/listed", "Origin: HTTPS://Console.Example\r\n", &r);
    CHECK(r.status == 101, "listed origin: %d", r.status);
    tu_resp_free(&r);
    tu_ws_close(fd, 1000, "");
    close(fd);
    snprintf(same, sizeof same, "Origin: http://127.0.0.1:%d\r\n", port);
    fd = tu_ws_open(port, "/ws/listed", same, &r);
    CHECK(r.status == 403, "unlisted (even same) origin: %d", r.status);
    tu_resp_free(&r);
    close(fd);
}

/* A client that does not read: the server's queue passes the high-water mark, reading from the
 * client pauses (a message sent meanwhile is not delivered), posts beyond tx_max_queued are
 * refused, and once the client reads everything arrives in order, reading resumes and on_drain
 * runs. */
static void test_ws_backpressure(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 16 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect");
    char req[512];
    snprintf(req, sizeof req,
             "GET /ws/flood HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", port);
    tu_send_all(fd, req, strlen(req));
    tu_resp r;
    tu_read_response(fd, &r, false);
    CHECK(r.status == 101, "flood upgrade %d", r.status);
    tu_resp_free(&r);
    tu_ws_send_frame(fd, 0x1, true, true, "flood", 5);
    tu_sleep_ms(300);
    /* Reading from us is paused: this message stays unread by the server. */
    tu_ws_send_frame(fd, 0x1, true, true, "while-paused", 12);
    tu_sleep_ms(300);
    CHECK(atomic_load(&flood_msgs_in) == 1, "server read %d messages while over high water",
          atomic_load(&flood_msgs_in));
    CHECK(atomic_load(&flood_max_queued) > 1024 * 1024, "queued at most %zu", atomic_load(&flood_max_queued));
    uint64_t id = atomic_load(&flood_id);
    int prc = core_ws_post(srv, id, "x", 1, false);
    CHECK(prc == CORE_EFULL, "post over tx_max_queued: %d", prc);
    /* Now read everything, in order. */
    static unsigned char buf[FLOOD_SZ + 16];
    int got = 0, bad = 0;
    long n = 0;
    int op = 0;
    for (int i = 0; i < FLOOD_N; i++) {
        n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
        if (n != FLOOD_SZ || buf[0] != (unsigned char)i || buf[FLOOD_SZ - 1] != (unsigned char)i)
            bad++;
        else
            got++;
        if (n < 0)
            break;
    }
    CHECK(got == FLOOD_N && bad == 0, "flood: got %d, bad %d", got, bad);
    n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
    CHECK(n == 12 && memcmp(buf, "while-paused", 12) == 0, "message after resume: %ld", n);
    CHECK(atomic_load(&flood_drains) >= 1, "on_drain not called");
    tu_ws_close(fd, 1000, "");
    close(fd);
}

/* Runs promtool check metrics on text. Returns its exit status, or -1 when not runnable. */
static int promtool_check(const char *text, size_t len)
{
    char path[] = "/tmp/core_http_metrics_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s check metrics < %s > /tmp/core_http_promtool.out 2>&1", BMC_PROMTOOL, path);
    int st = system(cmd);
    unlink(path);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) == 127)
        return -1;
    return WEXITSTATUS(st);
}

static void test_builtin(core_http_client *cl)
{
    tel_memory_exporter_reset(tt.mem);
    tu_resp r;
    int fd = tu_http_raw(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", strlen("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), &r);
    CHECK(r.status == 200 && strcmp(r.body, "{\"status\":\"ok\"}") == 0, "healthz %d %s", r.status, r.body);
    char tp[100];
    CHECK(!tu_header(&r, "traceparent", tp, sizeof tp), "built-ins are not traced by default");
    tu_resp_free(&r);
    close(fd);
    atomic_store(&ready_flag, false);
    fd = tu_http_raw(port, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", strlen("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"), &r);
    CHECK(r.status == 503 && strstr(r.body, "not_ready"), "readyz not ready: %d", r.status);
    tu_resp_free(&r);
    close(fd);
    atomic_store(&ready_flag, true);
    fd = tu_http_raw(port, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", strlen("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"), &r);
    CHECK(r.status == 200, "readyz ready: %d", r.status);
    tu_resp_free(&r);
    close(fd);

    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    core_http_response resp = CORE_HTTP_RESPONSE_INIT;
    core_http_request rq = {.url = url};
    CHECK(core_http_client_do(cl, NULL, &rq, &resp) == 0 && resp.status == 200, "metrics");
    char ct[128] = "";
    core_http_response_header(&resp, "content-type", ct, sizeof ct);
    CHECK(strncmp(ct, "text/plain; version=0.0.4", 25) == 0, "content-type %s", ct);
    const char *m = resp.body ? resp.body : "";
    CHECK(strstr(m, "http_server_request_duration_seconds_bucket{"), "duration histogram missing");
    CHECK(strstr(m, "le=\"0.005\"") && strstr(m, "le=\"10.0\""), "OTel HTTP buckets");
    if (getenv("CORE_HTTP_TEST_DUMP"))
        fputs(m, stderr);
    CHECK(strstr(m, "http_route=\"/v1/servers/{id}\""), "route label");
    CHECK(strstr(m, "http_server_active_requests"), "active requests missing");
    CHECK(strstr(m, "http_client_request_duration_seconds_bucket{"), "client histogram missing");
    /* Every sample line parses as name{labels} value. */
    int bad = 0, samples = 0;
    char *copy = strdup(m);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        samples++;
        char *sp = strrchr(line, ' ');
        char *endp = NULL;
        if (!sp || !(line[0] == '_' || (line[0] >= 'a' && line[0] <= 'z') || (line[0] >= 'A' && line[0] <= 'Z')))
            bad++;
        else if (strcmp(sp + 1, "+Inf") != 0 && strcmp(sp + 1, "NaN") != 0 && (strtod(sp + 1, &endp), *endp != '\0'))
            bad++;
    }
    free(copy);
    CHECK(samples > 10 && bad == 0, "%d samples, %d bad lines", samples, bad);
    int pt = promtool_check(m, resp.body_len);
    if (pt < 0)
        fprintf(stderr, "note: promtool not runnable, Prometheus text checked by line shape only\n");
    else
        CHECK(pt == 0, "promtool check metrics failed (see /tmp/core_http_promtool.out)");
    core_http_response_cleanup(&resp);

    core_http_header acc = {"accept", "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"};
    rq.headers = &acc;
    rq.n_headers = 1;
    CHECK(core_http_client_do(cl, NULL, &rq, &resp) == 0 && resp.status == 200, "openmetrics");
    core_http_response_header(&resp, "content-type", ct, sizeof ct);
    CHECK(strncmp(ct, "application/openmetrics-text", 28) == 0, "om content-type %s", ct);
    CHECK(resp.body_len > 6 && strcmp(resp.body + resp.body_len - 6, "# EOF\n") == 0, "om # EOF");
    core_http_response_cleanup(&resp);
}

static void test_client_limits(core_http_client *cl)
{
    /* A response over the cap is refused; a timeout is reported. */
    core_http_client_config cc = {.tracer = tracer, .max_response_bytes = 16, .timeout_ms = 2000};
    core_http_client *small = core_http_client_create(&cc);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/servers/very-long-identifier-here", port);
    core_http_response resp = CORE_HTTP_RESPONSE_INIT;
    core_http_request rq = {.url = url};
    int rc = core_http_client_do(small, NULL, &rq, &resp);
    CHECK(rc == CORE_ETOOBIG, "cap: rc %d", rc);
    core_http_response_cleanup(&resp);
    core_http_client_destroy(small);
    char red[128];
    CHECK(core_http_url_redact("https://u:p@h.example:8443/a/b?x=1#f", red, sizeof red) > 0 &&
              strcmp(red, "https://h.example:8443/a/b") == 0, "redact %s", red);
    rq.url = "ftp://127.0.0.1/x";
    CHECK(core_http_client_do(cl, NULL, &rq, &resp) == CORE_EINVAL, "ftp refused");
    core_http_response_cleanup(&resp);
}

/* Many requests from several client threads share the per-thread handles; all succeed. */
typedef struct load_arg {
    core_http_client *cl;
    int ok;
} load_arg;

static void *load_thread(void *p)
{
    load_arg *a = p;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/servers/t", port);
    for (int i = 0; i < 50; i++) {
        core_http_response resp = CORE_HTTP_RESPONSE_INIT;
        core_http_request rq = {.url = url};
        if (core_http_client_do(a->cl, NULL, &rq, &resp) == 0 && resp.status == 200)
            a->ok++;
        core_http_response_cleanup(&resp);
    }
    return NULL;
}

static void test_concurrency(core_http_client *cl)
{
    pthread_t t[4];
    load_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (load_arg){cl, 0};
        pthread_create(&t[i], NULL, load_thread, &a[i]);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ok += a[i].ok;
    }
    CHECK(ok == 200, "concurrent requests ok: %d/200", ok);
}

/* ---- A scrape while the span export is stuck ---- */

static int h_ping(core_http_req *req, void *ud)
{
    (void)ud;
    return core_http_respond(req, 200, "text/plain", "pong", 4);
}

/* The value of the Prometheus sample of family `name` whose labels contain `label`, or -1. */
static double prom_sample(const char *text, const char *name, const char *label)
{
    size_t nl = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, name, nl) != 0 || l[nl] != '{')
            continue;
        const char *end = strchr(l, '\n');
        const char *close = strstr(l, "} ");
        if (!close || (end && close > end))
            continue;
        const char *lab = strstr(l, label);
        if (lab && lab < close)
            return strtod(close + 2, NULL);
    }
    return -1;
}

/* Requests served while the batch span processor's export thread is stuck inside an export (a
 * collector that does not answer): the spans of the later ones wait in the queue with their
 * durations deferred to it. A /metrics scrape, answered on the service thread, counts every one
 * of them (it records the queued durations itself instead of waiting for the stuck thread) and
 * the server goes on answering. */
static void test_scrape_behind_stuck_export(void)
{
    held_exporter ex;
    held_exporter_init(&ex, true);
    tel_tracer_provider_config tc = {.has_sampler = true};
    tel_sampler_init(&tc.sampler, TEL_SAMPLER_ALWAYS_ON, 1);
    tel_tracer_provider *tp = tel_tracer_provider_create(&tc);
    tel_bsp_config bc = {.max_queue_size = 64, .max_export_batch_size = 1,
                         .schedule_delay_ms = 60000, .export_timeout_ms = 30000};
    tel_span_processor *proc = tel_bsp_create(&ex.base, &bc);
    CHECK(tp && proc, "stuck: provider");
    if (!tp || !proc)
        return;
    tel_tracer_provider_add_processor(tp, proc);
    tel_meter_provider_config mc = {0};
    tel_meter_provider *mp = tel_meter_provider_create(&mc);
    core_http_server_config cfg = {.port = 0, .tracer = tel_tracer_get(tp, "stuck", NULL),
                                   .meters = mp};
    core_http_server *s = core_http_server_create(&cfg);
    CHECK(s && core_http_server_route(s, CORE_HTTP_GET, "/v1/ping", h_ping, NULL) == 0 &&
              core_http_server_start(s) == 0,
          "stuck: server");
    int sport = s ? core_http_server_port(s) : -1;
    const char *ping = "GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 5; i++) {
        int st = fetch(sport, ping, NULL);
        CHECK(st == 200, "stuck: ping %d status %d", i, st);
        /* The first span's export holds the thread; the others queue behind it. */
        if (i == 0)
            CHECK(held_exporter_wait_inside(&ex, 2000), "stuck: the export thread is held");
    }
    char *text;
    int st = fetch(sport, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &text);
    CHECK(st == 200 && text, "stuck: /metrics status %d", st);
    double n = text ? prom_sample(text, "http_server_request_duration_seconds_count",
                                  "http_route=\"/v1/ping\"")
                    : -1;
    CHECK(n == 5, "stuck: the scrape counted %g of the 5 requests", n);
    CHECK(atomic_load(&ex.inside), "stuck: counted while the export was still held");
    free(text);
    st = fetch(sport, ping, NULL);
    CHECK(st == 200, "stuck: served after the scrape: %d", st);
    atomic_store(&ex.hold, false);
    core_http_server_destroy(s);
    tel_tracer_provider_shutdown(tp, 5000);
    tel_tracer_provider_destroy(tp);
    tel_meter_provider_destroy(mp);
}

int main(void)
{
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 0, NULL);
    tracer = tt.tracer;
    tel_meter_provider_config mc = {.resource = tel_tracer_provider_resource(tt.provider)};
    meters = tel_meter_provider_create(&mc);
    atomic_store(&ready_flag, true);

    core_http_server_config cfg = {.port = 0,
                                   .tracer = tracer,
                                   .meters = meters,
                                   .ready = is_ready,
                                   .max_body_bytes = 64 * 1024,
                                   .async_timeout_s = 1};
    srv = core_http_server_create(&cfg);
    CHECK(srv != NULL, "create");
    if (!srv)
        return 1;
    CHECK(core_http_server_route(srv, CORE_HTTP_GET, "/v1/servers/{id}", h_get_server, NULL) == 0, "route");
    CHECK(core_http_server_route(srv, CORE_HTTP_POST, "/v1/servers", h_create_server, NULL) == 0, "route");
    CHECK(core_http_server_route(srv, CORE_HTTP_GET, "/v1/fail", h_fail, NULL) == 0, "route");
    CHECK(core_http_server_route(srv, CORE_HTTP_GET, "/v1/slow", h_slow, NULL) == 0, "route");
    CHECK(core_http_server_route(srv, CORE_HTTP_GET, "/healthz", h_fail, NULL) == CORE_EEXIST, "builtin clash");
    CHECK(core_http_server_use(srv, mw_tag, NULL) == 0, "middleware");
    core_ws_handlers wh = {.on_upgrade = ws_upgrade, .on_open = ws_open, .on_message = ws_message,
                           .on_close = ws_closed};
    CHECK(core_http_server_ws_route(srv, "/ws/echo/{id}", &wh, NULL, NULL) == 0, "ws route");
    core_ws_route_opts vo = {.subprotocol = "binary"};
    core_ws_handlers vh = {.on_message = ws_message};
    CHECK(core_http_server_ws_route(srv, "/ws/vnc", &vh, &vo, NULL) == 0, "ws route 2");
    static const char *const listed[] = {"https://console.example", NULL};
    core_ws_route_opts lo = {.allowed_origins = listed};
    CHECK(core_http_server_ws_route(srv, "/ws/listed", &vh, &lo, NULL) == 0, "ws route listed");
    core_ws_route_opts fo = {.tx_high_water = 256 * 1024, .tx_low_water = 64 * 1024,
                             .tx_max_queued = 2 * 1024 * 1024};
    core_ws_handlers fh = {.on_open = flood_open, .on_message = flood_message, .on_drain = flood_drain};
    CHECK(core_http_server_ws_route(srv, "/ws/flood", &fh, &fo, NULL) == 0, "ws route 3");
    CHECK(core_http_server_start(srv) == 0, "start");
    port = core_http_server_port(srv);
    CHECK(port > 0, "port %d", port);
    CHECK(core_http_server_route(srv, CORE_HTTP_GET, "/late", h_fail, NULL) == CORE_ESTATE, "route after start");

    core_http_client_config ccfg = {.tracer = tracer, .meters = meters};
    core_http_client *cl = core_http_client_create(&ccfg);

    test_trace_across_client_and_server(cl);
    test_async_json_and_errors(cl);
    test_reserved_path_chars();
    test_b3_server();
    test_context_header_subsets();
    test_host_per_request();
    test_async_timeout();
    test_websocket();
    test_ws_backpressure();
    test_builtin(cl);
    test_client_limits(cl);
    test_concurrency(cl);
    test_scrape_behind_stuck_export();
    CHECK(mw_count > 0, "middleware ran");

    core_http_client_destroy(cl);

    /* Stopping with an open WebSocket and an unanswered asynchronous request: the socket's
     * handler hears 1001, destroy waits for the late answer, nothing leaks. */
    atomic_store(&ws_close_code, 0);
    atomic_store(&late_rc, 1);
    tu_resp wr;
    int wfd = tu_ws_open(port, "/ws/echo/z", "", &wr);
    CHECK(wr.status == 101, "ws before stop");
    tu_resp_free(&wr);
    int sfd = tu_connect(port);
    const char *slow = "GET /v1/slow HTTP/1.1\r\nHost: x\r\n\r\n";
    tu_send_all(sfd, slow, strlen(slow));
    tu_sleep_ms(100);
    uint64_t t0 = tu_now_ms();
    core_http_server_destroy(srv);
    uint64_t took = tu_now_ms() - t0;
    /* destroy returns once the late answer is handed over; the worker stores its rc just
     * after, on its own thread. */
    for (int i = 0; i < 100 && atomic_load(&late_rc) == 1; i++)
        tu_sleep_ms(10);
    CHECK(atomic_load(&ws_close_code) == 1001, "close code at stop: %d", atomic_load(&ws_close_code));
    CHECK(atomic_load(&late_rc) == 0 && took >= 1000 && took < 4000,
          "destroy waited %llu ms for the late answer (rc %d)", (unsigned long long)took,
          atomic_load(&late_rc));
    close(wfd);
    close(sfd);
    tel_meter_provider_destroy(meters);
    test_tracing_cleanup(&tt);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_core_http: all checks passed\n");
    return 0;
}
