/* Helpers for the core HTTP server tests: raw loopback sockets with timeouts, a minimal HTTP/1.1
 * response reader, and a minimal WebSocket client (RFC 6455 framing written here on purpose, so
 * the tests can also send frames that break the RFC). Loopback only; every wait is bounded. */
#ifndef CORE_HTTP_TESTUTIL_H
#define CORE_HTTP_TESTUTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include "telemetry/memory_exporter.h"
#include "telemetry/trace.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static inline uint64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Connects to 127.0.0.1:port. Returns the socket or -1. */
static inline int tu_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline int tu_send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Waits up to ms for fd to become readable. */
static inline bool tu_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

/* An HTTP response as read by tu_read_response. */
typedef struct tu_resp {
    int status;
    char head[16384];
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
    bool closed; /* the server closed the connection after it */
} tu_resp;

static inline void tu_resp_free(tu_resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* The value of header `name` in r->head (case-insensitive), copied into buf; false if absent. */
static inline bool tu_header(const tu_resp *r, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2]) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t l = e ? (size_t)(e - v) : strlen(v);
            if (l >= cap)
                l = cap - 1;
            memcpy(buf, v, l);
            buf[l] = '\0';
            return true;
        }
        p = strstr(p, "\r\n");
    }
    return false;
}

/* Reads one response (headers, then Content-Length bytes or until close). Returns 0, or -1 when
 * the connection closed or timed out before a status line (r->status stays 0). */
static inline int tu_read_response(int fd, tu_resp *r, bool head_request)
{
    memset(r, 0, sizeof *r);
    size_t hl = 0;
    char *end = NULL;
    while (!end) {
        if (hl + 1 >= sizeof r->head)
            return -1;
        ssize_t n = recv(fd, r->head + hl, 1, 0); /* byte-wise: never eats the next response */
        if (n <= 0) {
            r->closed = true;
            return -1;
        }
        hl += (size_t)n;
        r->head[hl] = '\0';
        end = strstr(r->head, "\r\n\r\n");
    }
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    char v[64];
    long cl = -1;
    if (tu_header(r, "content-length", v, sizeof v))
        cl = atol(v);
    if (head_request || r->status == 204 || r->status == 304 || r->status == 101)
        cl = 0;
    size_t cap = cl >= 0 ? (size_t)cl + 1 : 65536;
    r->body = malloc(cap);
    size_t got = 0;
    for (;;) {
        if (cl >= 0 && got == (size_t)cl)
            break;
        if (got + 1 >= cap) {
            cap *= 2;
            r->body = realloc(r->body, cap);
        }
        size_t want = cl >= 0 ? (size_t)cl - got : cap - 1 - got;
        ssize_t n = recv(fd, r->body + got, want, 0);
        if (n <= 0) {
            r->closed = true;
            break;
        }
        got += (size_t)n;
    }
    r->body[got] = '\0';
    r->body_len = got;
    if (tu_header(r, "connection", v, sizeof v) && strcasecmp(v, "close") == 0) {
        char x;
        r->closed = !tu_readable(fd, 2000) || recv(fd, &x, 1, MSG_PEEK) <= 0;
    }
    return 0;
}

/* Sends raw bytes on a new connection and reads one response. Returns the socket (for more
 * requests; the caller closes it) or -1 when connecting failed. */
static inline int tu_http_raw(int port, const void *req, size_t len, tu_resp *r)
{
    int fd = tu_connect(port);
    if (fd < 0)
        return -1;
    tu_send_all(fd, req, len);
    tu_read_response(fd, r, strncmp(req, "HEAD ", 5) == 0);
    return fd;
}

/* True when the server closed fd (EOF or reset) within ms. */
static inline bool tu_closed_within(int fd, int ms)
{
    uint64_t deadline = tu_now_ms() + (uint64_t)ms;
    char buf[4096];
    while (tu_now_ms() < deadline) {
        if (!tu_readable(fd, 100))
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return true;
    }
    return false;
}

/* ---- WebSocket client ---- */

/* Sends an upgrade request for path with extra header lines (each ending in \r\n; may be "") and
 * reads the answer into r. Returns the socket or -1. */
static inline int tu_ws_open(int port, const char *path, const char *extra, tu_resp *r)
{
    char req[16384];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
             path, port, extra ? extra : "");
    int fd = tu_connect(port);
    if (fd < 0)
        return -1;
    tu_send_all(fd, req, strlen(req));
    tu_read_response(fd, r, false);
    return fd;
}

/* Writes one frame. masked=false breaks RFC 6455 for client frames (on purpose). */
static inline int tu_ws_send_frame(int fd, int opcode, bool fin, bool masked, const void *payload,
                                   size_t len)
{
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
    unsigned char mbit = masked ? 0x80 : 0;
    if (len < 126) {
        hdr[h++] = mbit | (unsigned char)len;
    } else if (len < 65536) {
        hdr[h++] = mbit | 126;
        hdr[h++] = (unsigned char)(len >> 8);
        hdr[h++] = (unsigned char)len;
    } else {
        hdr[h++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
    if (masked) {
        memcpy(hdr + h, key, 4);
        h += 4;
    }
    unsigned char *buf = malloc(h + len + 1);
    memcpy(buf, hdr, h);
    for (size_t i = 0; i < len; i++)
        buf[h + i] = ((const unsigned char *)payload)[i] ^ (masked ? key[i % 4] : 0);
    int rc = tu_send_all(fd, buf, h + len);
    free(buf);
    return rc;
}

static inline int tu_recv_exact(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = recv(fd, c, n, 0);
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Reads one frame: opcode and fin out, payload into buf (cap). Returns the payload length or -1
 * (closed / timeout / too big). */
static inline long tu_ws_recv_frame(int fd, int *opcode, bool *fin, unsigned char *buf, size_t cap)
{
    unsigned char h[2];
    if (tu_recv_exact(fd, h, 2))
        return -1;
    *opcode = h[0] & 0x0f;
    if (fin)
        *fin = (h[0] & 0x80) != 0;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        unsigned char e[2];
        if (tu_recv_exact(fd, e, 2))
            return -1;
        len = ((uint64_t)e[0] << 8) | e[1];
    } else if (len == 127) {
        unsigned char e[8];
        if (tu_recv_exact(fd, e, 8))
            return -1;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | e[i];
    }
    if (h[1] & 0x80) {
        unsigned char k[4];
        if (tu_recv_exact(fd, k, 4))
            return -1;
    }
    if (len > cap)
        return -1;
    if (len && tu_recv_exact(fd, buf, (size_t)len))
        return -1;
    return (long)len;
}

/* Reads frames until a data or close frame; answers pings. Returns as tu_ws_recv_frame. */
static inline long tu_ws_recv_msg(int fd, int *opcode, unsigned char *buf, size_t cap)
{
    for (int i = 0; i < 64; i++) {
        bool fin;
        long n = tu_ws_recv_frame(fd, opcode, &fin, buf, cap);
        if (n < 0)
            return n;
        if (*opcode == 0x9) {
            tu_ws_send_frame(fd, 0xA, true, true, buf, (size_t)n);
            continue;
        }
        if (*opcode == 0xA)
            continue;
        return n;
    }
    return -1;
}

/* Sends a close frame with code and reason. */
static inline int tu_ws_close(int fd, int code, const char *reason)
{
    unsigned char p[128];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > 123)
        rl = 123;
    p[0] = (unsigned char)(code >> 8);
    p[1] = (unsigned char)code;
    memcpy(p + 2, reason, rl);
    return tu_ws_send_frame(fd, 0x8, true, true, p, 2 + rl);
}

/* ---- Span queries over tel_memory_exporter records ----
 * Read them once the spans of interest have ended (wait for the count first): the memory
 * exporter is not safe against concurrent exports while records are read. */

/* A string attribute of d, or NULL. */
static inline const char *tu_attr_str(const tel_span_data *d, const char *key)
{
    for (uint32_t i = 0; d && i < tel_span_data_attr_count(d); i++) {
        const tel_attr *a = tel_span_data_attr(d, i);
        if (strcmp(a->key, key) == 0)
            return a->type == TEL_ATTR_STRING ? a->v.s : NULL;
    }
    return NULL;
}

/* An int attribute of d, or INT64_MIN. */
static inline int64_t tu_attr_int(const tel_span_data *d, const char *key)
{
    for (uint32_t i = 0; d && i < tel_span_data_attr_count(d); i++) {
        const tel_attr *a = tel_span_data_attr(d, i);
        if (strcmp(a->key, key) == 0)
            return a->type == TEL_ATTR_INT ? a->v.i : INT64_MIN;
    }
    return INT64_MIN;
}

static inline bool tu_has_attr(const tel_span_data *d, const char *key)
{
    for (uint32_t i = 0; d && i < tel_span_data_attr_count(d); i++)
        if (strcmp(tel_span_data_attr(d, i)->key, key) == 0)
            return true;
    return false;
}

static inline bool tu_same_trace(const tel_span_data *a, const tel_span_data *b)
{
    return a && b && memcmp(a->sc.trace_id, b->sc.trace_id, TEL_TRACE_ID_SIZE) == 0;
}

static inline bool tu_is_child(const tel_span_data *child, const tel_span_data *parent)
{
    return child && parent && child->has_parent && tu_same_trace(child, parent) &&
           memcmp(child->parent_span_id, parent->sc.span_id, TEL_SPAN_ID_SIZE) == 0;
}

static inline bool tu_has_event(const tel_span_data *d, const char *name)
{
    for (uint32_t i = 0; d && i < tel_span_data_event_count(d); i++)
        if (strcmp(d->extra->events[i].name, name) == 0)
            return true;
    return false;
}

#endif
