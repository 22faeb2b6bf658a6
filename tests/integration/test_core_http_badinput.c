/* Bad input against the core HTTP server, over raw loopback sockets: malformed request lines,
 * oversized headers and bodies, broken framing, invalid JSON and UTF-8, missing
 * Content-Length, slow clients (slowloris-style, bounded), and WebSocket frames that violate
 * RFC 6455. Every case must get a clean answer (a 4xx with the JSON error body when the server
 * answers itself, libwebsockets' own status for what it rejects before the server sees it) or a
 * clean close, and after every case the server must still answer a good request. The whole
 * run stays well under 30 s (the slow-client cases run concurrently against short timeouts). */
#include <inttypes.h>
#include <stdatomic.h>

#include "core/error.h"
#include "core/http_server.h"
#include "core/http_ws.h"
#include "core_http_testutil.h"

static int port;
static core_http_server *srv;
static atomic_int ws_closes;

static int h_echo_json(core_http_req *req, void *ud)
{
    (void)ud;
    json_t *j;
    if (core_http_req_json(req, &j) != CORE_OK)
        return 0;
    return core_http_respond_json(req, 200, j);
}

static int h_get(core_http_req *req, void *ud)
{
    (void)ud;
    return core_http_respond_json(req, 200, json_pack("{s:s}", "id", core_http_req_param(req, "id")));
}

static void ws_msg(core_ws_conn *c, const void *d, size_t n, bool bin, void *ud)
{
    (void)ud;
    core_ws_send(c, d, n, bin);
}

static void ws_close_cb(core_ws_conn *c, int code, const char *reason, void *ud)
{
    (void)c;
    (void)code;
    (void)reason;
    (void)ud;
    atomic_fetch_add(&ws_closes, 1);
}

/* The server still answers: a fresh connection gets 200 from /healthz, and a WebSocket echo
 * works. */
static bool still_serving(const char *after)
{
    tu_resp r;
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = tu_http_raw(port, req, strlen(req), &r);
    bool ok = fd >= 0 && r.status == 200 && r.body && strstr(r.body, "\"ok\"");
    tu_resp_free(&r);
    if (fd >= 0)
        close(fd);
    CHECK(ok, "server not serving HTTP after: %s", after);
    return ok;
}

static bool ws_still_serving(const char *after)
{
    tu_resp r;
    int fd = tu_ws_open(port, "/ws", "", &r);
    bool ok = r.status == 101;
    tu_resp_free(&r);
    if (ok) {
        unsigned char buf[64];
        int op;
        tu_ws_send_frame(fd, 0x1, true, true, "ping?", 5);
        long n = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
        ok = n == 5 && memcmp(buf, "ping?", 5) == 0;
        tu_ws_close(fd, 1000, "");
    }
    if (fd >= 0)
        close(fd);
    CHECK(ok, "server not serving WebSocket after: %s", after);
    return ok;
}

/* JSON error code of a response body, or "". */
static void error_code(const tu_resp *r, char *out, size_t cap)
{
    out[0] = '\0';
    json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    if (c)
        snprintf(out, cap, "%s", c);
    json_decref(j);
}

typedef struct http_case {
    const char *name;
    const char *req;  /* raw bytes (NUL-terminated unless len given) */
    size_t len;       /* 0: strlen(req) */
    int expect;       /* expected status; 0: the connection must close without an answer;
                       * -1: any 4xx or a close; -2: any answer or a close */
    const char *code; /* expected JSON error code (our answers), or NULL */
} http_case;

static void run_http_case(const http_case *c)
{
    size_t len = c->len ? c->len : strlen(c->req);
    tu_resp r;
    int fd = tu_http_raw(port, c->req, len, &r);
    CHECK(fd >= 0, "%s: connect", c->name);
    char code[64];
    error_code(&r, code, sizeof code);
    if (c->expect > 0) {
        CHECK(r.status == c->expect, "%s: status %d, expected %d", c->name, r.status, c->expect);
        if (c->code)
            CHECK(strcmp(code, c->code) == 0, "%s: error code '%s', expected '%s' (body %s)", c->name,
                  code, c->code, r.body ? r.body : "");
    } else if (c->expect == 0) {
        CHECK(r.status == 0 && tu_closed_within(fd, 3000), "%s: expected a close without answer, got %d",
              c->name, r.status);
    } else if (c->expect == -1) {
        CHECK((r.status >= 400 && r.status < 500) || (r.status == 0 && tu_closed_within(fd, 3000)),
              "%s: expected 4xx or close, got %d", c->name, r.status);
    } else {
        CHECK(r.status > 0 || tu_closed_within(fd, 3000), "%s: expected an answer or a close", c->name);
    }
    if (r.status >= 400 && r.status < 500 && c->code)
        CHECK(r.body && r.body_len > 0, "%s: error without a body", c->name);
    printf("  %-44s -> %d %s\n", c->name, r.status, code);
    tu_resp_free(&r);
    if (fd >= 0)
        close(fd);
    still_serving(c->name);
}

static char *repeat(const char *prefix, char ch, size_t n, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + n + sl + 1);
    memcpy(s, prefix, pl);
    memset(s + pl, ch, n);
    memcpy(s + pl + n, suffix, sl + 1);
    return s;
}

static void test_http_corpus(void)
{
    char *long_uri = repeat("GET /v1/servers/", 'a', 40000, " HTTP/1.1\r\nHost: x\r\n\r\n");
    char *big_header = repeat("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", 'b', 40000, "\r\n\r\n");
    /* Headers just under 16 KiB in total (traceparent + tracestate + baggage sized) pass. */
    char *ok_header = repeat("GET /v1/servers/1 HTTP/1.1\r\nHost: x\r\nbaggage: k=", 'v', 12000, "\r\n\r\n");
    char *many = malloc(200000);
    strcpy(many, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 2000; i++)
        sprintf(many + strlen(many), "X-H%d: %d\r\n", i, i);
    strcat(many, "\r\n");
    static const char nul_hdr[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n";
    static const char binary[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\xff\xfe\r\n\r\n";
    static const char bad_utf8[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{\"a\":\"\xed\xa0\x80\"}";
    static const char overlong[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"a\":\"\xc1\xbf\"}";
    char *deep = malloc(2000);
    int n = sprintf(deep, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n");
    for (int i = 0; i < 200; i++)
        deep[n++] = '[';
    for (int i = 0; i < 200; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    char *over = repeat("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n{\"a\":\"", 'x', 69992, "\"}");

    const http_case cases[] = {
        {"garbage request line", "GARBAGE\r\n\r\n", 0, -1, NULL},
        {"method only", "GET\r\n\r\n", 0, -1, NULL},
        {"unknown method", "BREW /coffee HTTP/1.1\r\nHost: x\r\n\r\n", 0, -1, NULL},
        {"HTTP/9.9 (libwebsockets serves it as 1.x)", "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 0, -2, NULL},
        {"bare LF line ends", "GET /nope HTTP/1.1\nHost: x\n\n", 0, -1, NULL},
        {"TLS hello on plain port", binary, sizeof binary - 1, -1, NULL},
        {"bad percent escape", "GET /v1/servers/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 0, -1, NULL},
        {"encoded NUL in path", "GET /v1/servers/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 0, -1, NULL},
        {"raw NUL in header", nul_hdr, sizeof nul_hdr - 1, -1, NULL},
        {"header without colon", "GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 0, -1, NULL},
        {"obs-fold continuation", "GET /nope HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n", 0, -1, NULL},
        {"URI of 40 KB", long_uri, 0, 0, NULL},
        {"one 40 KB header", big_header, 0, 0, NULL},
        {"2000 headers", many, 0, 0, NULL},
        {"12 KB baggage header is accepted", ok_header, 0, 200, NULL},
        {"unknown path", "GET /no/such/path HTTP/1.1\r\nHost: x\r\n\r\n", 0, 404, "not_found"},
        {"dot-dot path", "GET /v1/../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 0, 404, "not_found"},
        {"wrong method", "PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0, 405, "method_not_allowed"},
        {"POST without Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\n\r\n{}", 0, 411, "length_required"},
        {"chunked body", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 0, 411, "length_required"},
        {"negative Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 0, -1, NULL},
        {"non-numeric Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 0, -1, NULL},
        {"Content-Length 10^20", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000000000\r\n\r\n", 0, -1, NULL},
        {"body over the limit", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n{}", 0, 413, "body_too_large"},
        {"body over the limit, sent", over, 0, 413, "body_too_large"},
        {"malformed JSON", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n{\"a\":tru", 0, 400, "malformed_json"},
        {"JSON trailing garbage", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n{}{}", 0, 400, "malformed_json"},
        {"surrogate in UTF-8", bad_utf8, sizeof bad_utf8 - 1, 400, "invalid_utf8"},
        {"overlong UTF-8", overlong, sizeof overlong - 1, 400, "invalid_utf8"},
        {"JSON nested 200 deep", deep, 0, 400, "json_too_deep"},
        {"empty JSON body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0, 400, "empty_body"},
        {"h2c upgrade", "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", 0, 400, "h2c_not_supported"},
        {"h2 prior-knowledge preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, -1, NULL},
        {"unknown upgrade", "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n", 0, -1, NULL},
        {"websocket upgrade without key", "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n", 0, -1, NULL},
        {"websocket upgrade on a plain route", "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 0, 404, "not_found"},
        {"empty request", "\r\n\r\n", 0, -1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_http_case(&cases[i]);

    /* Pipelined requests in one write: both answered in order. */
    const char *pipe2 = "GET /v1/servers/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/servers/2 HTTP/1.1\r\nHost: x\r\n\r\n";
    tu_resp r;
    int fd = tu_http_raw(port, pipe2, strlen(pipe2), &r);
    CHECK(r.status == 200 && strstr(r.body, "\"1\""), "pipelined 1: %d", r.status);
    tu_resp_free(&r);
    tu_read_response(fd, &r, false);
    CHECK(r.status == 200 && strstr(r.body ? r.body : "", "\"2\""), "pipelined 2: %d", r.status);
    tu_resp_free(&r);
    close(fd);

    /* A body cut short by the client closing: no crash. */
    fd = tu_connect(port);
    const char *cut = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":";
    tu_send_all(fd, cut, strlen(cut));
    close(fd);
    still_serving("body cut short");

    free(long_uri);
    free(big_header);
    free(ok_header);
    free(many);
    free(deep);
    free(over);
}

/* Slow clients, concurrently: headers trickling (slowloris), a stalled body, a body trickling
 * past its deadline, and an idle keep-alive connection. The server (2 s timeouts) closes each,
 * and serves good requests meanwhile. */
static void test_slow_clients(void)
{
    enum { N_LORIS = 8 };
    int loris[N_LORIS];
    for (int i = 0; i < N_LORIS; i++) {
        loris[i] = tu_connect(port);
        tu_send_all(loris[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n", 32);
    }
    int stalled = tu_connect(port);
    const char *sb = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":";
    tu_send_all(stalled, sb, strlen(sb));
    int trickle = tu_connect(port);
    const char *tb = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n";
    tu_send_all(trickle, tb, strlen(tb));
    int idle = tu_connect(port);

    uint64_t t0 = tu_now_ms();
    bool loris_open[N_LORIS];
    for (int i = 0; i < N_LORIS; i++)
        loris_open[i] = true;
    bool stalled_open = true, trickle_open = true, idle_open = true;
    int good = 0, rounds = 0;
    /* Keep dribbling: a header byte per slow client and a body byte every 300 ms. */
    while (tu_now_ms() - t0 < 6000) {
        rounds++;
        for (int i = 0; i < N_LORIS; i++) {
            if (loris_open[i]) {
                char hb[16];
                int hn = snprintf(hb, sizeof hb, "X-%d: a\r\n", rounds);
                if (send(loris[i], hb, (size_t)hn, MSG_NOSIGNAL) <= 0 || tu_closed_within(loris[i], 1))
                    loris_open[i] = false;
            }
        }
        if (trickle_open && (send(trickle, " ", 1, MSG_NOSIGNAL) <= 0 || tu_closed_within(trickle, 1)))
            trickle_open = false;
        if (stalled_open && tu_readable(stalled, 1)) {
            tu_resp sr;
            tu_read_response(stalled, &sr, false);
            char code[64];
            error_code(&sr, code, sizeof code);
            CHECK(sr.status == 408 && strcmp(code, "request_timeout") == 0,
                  "stalled body: %d %s", sr.status, code);
            tu_resp_free(&sr);
            CHECK(tu_closed_within(stalled, 2000), "stalled body: not closed after 408");
            stalled_open = false;
        }
        if (idle_open && tu_closed_within(idle, 1))
            idle_open = false;
        if (still_serving("slow clients"))
            good++;
        bool any = stalled_open || trickle_open || idle_open;
        for (int i = 0; i < N_LORIS; i++)
            any = any || loris_open[i];
        if (!any)
            break;
        tu_sleep_ms(300);
    }
    uint64_t took = tu_now_ms() - t0;
    int loris_left = 0;
    for (int i = 0; i < N_LORIS; i++) {
        loris_left += loris_open[i];
        close(loris[i]);
    }
    printf("  slow clients: closed after %" PRIu64 " ms, %d good requests meanwhile\n", took, good);
    CHECK(loris_left == 0, "%d slowloris connections still open after %" PRIu64 " ms", loris_left, took);
    CHECK(!stalled_open, "stalled body connection still open");
    CHECK(!trickle_open, "trickling body connection still open");
    CHECK(!idle_open, "idle keep-alive connection still open");
    CHECK(good >= 3, "good requests during the slow clients: %d", good);
    close(stalled);
    close(trickle);
    close(idle);
}

typedef struct ws_case {
    const char *name;
    unsigned char frame[200];
    size_t len;
    int expect_code; /* close code expected in the server's close frame; 0: any close */
} ws_case;

/* Builds a masked (or not) frame by hand. */
static size_t frame(unsigned char *out, unsigned char b0, bool masked, const void *payload, size_t n)
{
    size_t h = 0;
    out[h++] = b0;
    if (n < 126) {
        out[h++] = (unsigned char)((masked ? 0x80 : 0) | n);
    } else {
        out[h++] = (unsigned char)((masked ? 0x80 : 0) | 126);
        out[h++] = (unsigned char)(n >> 8);
        out[h++] = (unsigned char)n;
    }
    const unsigned char key[4] = {1, 2, 3, 4};
    if (masked) {
        memcpy(out + h, key, 4);
        h += 4;
    }
    for (size_t i = 0; i < n; i++)
        out[h + i] = ((const unsigned char *)payload)[i] ^ (masked ? key[i % 4] : 0);
    return h + n;
}

static void run_ws_case(const char *name, const unsigned char *bytes, size_t len, int expect_code)
{
    tu_resp r;
    int fd = tu_ws_open(port, "/ws", "", &r);
    CHECK(r.status == 101, "%s: upgrade %d", name, r.status);
    tu_resp_free(&r);
    tu_send_all(fd, bytes, len);
    /* Read until a close frame or the connection ends. */
    int code = -1;
    uint64_t deadline = tu_now_ms() + 3000;
    bool closed = false;
    while (tu_now_ms() < deadline) {
        if (!tu_readable(fd, 200))
            continue;
        unsigned char buf[70000];
        int op;
        bool fin;
        long n = tu_ws_recv_frame(fd, &op, &fin, buf, sizeof buf);
        if (n < 0) {
            closed = true;
            break;
        }
        if (op == 0x8) {
            code = n >= 2 ? (buf[0] << 8) | buf[1] : 1005;
            /* Acknowledge, as a client must; the server then closes the TCP connection. */
            tu_ws_close(fd, code == 1005 ? 1000 : code, "");
            /* After a close of its own to a peer that already closed, libwebsockets waits for
             * an acknowledgement it then ignores: its 5 s close-ack timeout ends it. */
            closed = tu_closed_within(fd, 6000);
            break;
        }
    }
    printf("  %-44s -> close %d%s\n", name, code, closed ? "" : " (still open)");
    CHECK(closed, "%s: connection not closed", name);
    if (expect_code)
        CHECK(code == expect_code || code == -1, "%s: close code %d, expected %d", name, code, expect_code);
    close(fd);
    ws_still_serving(name);
    still_serving(name);
}

/* A case libwebsockets may accept: the server answers or closes, and keeps serving. */
static void run_ws_case_lenient(const char *name, const unsigned char *bytes, size_t len)
{
    tu_resp r;
    int fd = tu_ws_open(port, "/ws", "", &r);
    tu_resp_free(&r);
    tu_send_all(fd, bytes, len);
    int op = -1;
    unsigned char buf[256];
    long n = tu_readable(fd, 1000) ? tu_ws_recv_msg(fd, &op, buf, sizeof buf) : -1;
    printf("  %-44s -> opcode %d, %ld bytes\n", name, op, n);
    tu_ws_close(fd, 1000, "");
    close(fd);
    ws_still_serving(name);
    still_serving(name);
}

static void test_ws_corpus(void)
{
    unsigned char f[70100];
    size_t n;
    /* libwebsockets 4.1.6 accepts unmasked client frames (RFC 6455 5.1 says close): the test
     * only requires that the server stays healthy. */
    n = frame(f, 0x81, false, "unmasked", 8);
    run_ws_case_lenient("unmasked client frame (accepted by lws 4.1.6)", f, n);
    n = frame(f, 0x83, true, "x", 1);
    run_ws_case("reserved opcode 0x3", f, n, 1002);
    n = frame(f, 0x8B, true, "x", 1);
    run_ws_case("reserved control opcode 0xB", f, n, 1002);
    unsigned char big_ping[200];
    memset(big_ping, 'p', sizeof big_ping);
    n = frame(f, 0x89, true, big_ping, sizeof big_ping);
    run_ws_case("ping with 200-byte payload", f, n, 1002);
    n = frame(f, 0x09, true, "p", 1);
    run_ws_case("fragmented ping (FIN=0)", f, n, 1002);
    n = frame(f, 0xC1, true, "rsv", 3);
    run_ws_case("RSV1 set without extension", f, n, 1002);
    n = frame(f, 0x80, true, "cont", 4);
    run_ws_case("continuation without start", f, n, 1002);
    n = frame(f, 0x01, true, "part", 4);
    n += frame(f + n, 0x81, true, "new", 3);
    run_ws_case("new message inside a fragmented one", f, n, 1002);
    n = frame(f, 0x81, true, "\xc3\x28 bad", 6);
    run_ws_case("invalid UTF-8 text", f, n, 1007);
    n = frame(f, 0x01, true, "ok \xe2\x82", 5);
    n += frame(f + n, 0x80, true, "\x28", 1);
    run_ws_case("invalid UTF-8 across fragments", f, n, 1007);
    static const int bad_codes[] = {999, 1004, 1005, 1006, 1015, 2999, 5000};
    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        unsigned char p[2] = {(unsigned char)(bad_codes[i] >> 8), (unsigned char)bad_codes[i]};
        char nm[64];
        snprintf(nm, sizeof nm, "close code %d", bad_codes[i]);
        n = frame(f, 0x88, true, p, 2);
        run_ws_case(nm, f, n, 1002);
    }
    n = frame(f, 0x88, true, "\x03", 1);
    run_ws_case("close with 1-byte payload", f, n, 1002);
    n = frame(f, 0x88, true, "\x03\xe8\xff\xfe", 4);
    run_ws_case("close reason not UTF-8", f, n, 0);
    /* 64-bit length with the top bit set. */
    unsigned char huge[14] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    run_ws_case("64-bit length with MSB set", huge, sizeof huge, 0);
    /* Over the 64 KiB message limit of the endpoint: 1009. */
    static unsigned char payload[70000];
    memset(payload, 'z', sizeof payload);
    {
        tu_resp r;
        int fd = tu_ws_open(port, "/ws", "", &r);
        tu_resp_free(&r);
        tu_ws_send_frame(fd, 0x2, true, true, payload, sizeof payload);
        unsigned char buf[256];
        int op = 0;
        long m = tu_ws_recv_msg(fd, &op, buf, sizeof buf);
        int code = m >= 2 && op == 8 ? (buf[0] << 8) | buf[1] : -1;
        printf("  %-44s -> close %d\n", "message over max_message_bytes", code);
        CHECK(code == 1009, "too big: close code %d", code);
        close(fd);
        ws_still_serving("message too big");
    }
    n = frame(f, 0x81, true, "x", 1);
    memcpy(f + n, "\xde\xad\xbe\xef\x00\x11", 6);
    run_ws_case("garbage after a frame", f, n + 6, 0);
}

int main(void)
{
    core_http_server_config cfg = {.port = 0,
                                   .max_body_bytes = 64 * 1024,
                                   .body_timeout_s = 2,
                                   .keepalive_timeout_s = 2,
                                   .tracer = NULL};
    srv = core_http_server_create(&cfg);
    CHECK(srv != NULL, "create");
    if (!srv)
        return 1;
    core_http_server_route(srv, CORE_HTTP_POST, "/echo", h_echo_json, NULL);
    core_http_server_route(srv, CORE_HTTP_GET, "/v1/servers/{id}", h_get, NULL);
    core_ws_handlers wh = {.on_message = ws_msg, .on_close = ws_close_cb};
    core_ws_route_opts wo = {.max_message_bytes = 64 * 1024};
    core_http_server_ws_route(srv, "/ws", &wh, &wo, NULL);
    CHECK(core_http_server_start(srv) == 0, "start");
    port = core_http_server_port(srv);
    uint64_t t0 = tu_now_ms();
    printf("HTTP corpus:\n");
    test_http_corpus();
    printf("WebSocket corpus:\n");
    test_ws_corpus();
    printf("Slow clients:\n");
    test_slow_clients();
    still_serving("the end");
    core_http_server_destroy(srv);
    printf("took %" PRIu64 " ms, %d WebSocket connections closed\n", tu_now_ms() - t0,
           atomic_load(&ws_closes));
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_core_http_badinput: all checks passed\n");
    return 0;
}
