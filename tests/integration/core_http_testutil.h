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

#include "telemetry/processor.h"
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

/* ---- Span capture ----
 * An exporter that snapshots every exported span into plain owned structures (name, kind, ids,
 * parent, status, scalar attributes as text/int, event names). The tests read spans from here
 * rather than from tel_memory_exporter: with the simple processor, that exporter's copies point
 * into the processor's reused record for strings copied into the span arena (see the report on
 * tel__span_data_clone), so their names and string attributes change under the test. */

#define TU_MAX_ATTRS 48
#define TU_MAX_EVENTS 8

typedef struct tu_attr {
    char key[64];
    uint8_t type; /* TEL_ATTR_STRING / INT / BOOL / DOUBLE (others: ignored) */
    char s[512];
    int64_t i;
} tu_attr;

typedef struct tu_span {
    char name[160];
    uint8_t kind, status;
    bool has_parent, parent_remote;
    tel_span_context sc;
    uint8_t parent_span_id[TEL_SPAN_ID_SIZE];
    size_t n_attrs;
    tu_attr attrs[TU_MAX_ATTRS];
    size_t n_events;
    char events[TU_MAX_EVENTS][48];
} tu_span;

typedef struct tu_capture {
    tel_span_exporter base;
    pthread_mutex_t lock;
    tu_span **spans;
    size_t n, cap;
} tu_capture;

static int tu_capture_export(tel_span_exporter *self, const tel_resource *res,
                             const tel_span_data *const *spans, size_t n, uint64_t deadline_ns)
{
    (void)res;
    (void)deadline_ns;
    tu_capture *c = (tu_capture *)self;
    pthread_mutex_lock(&c->lock);
    for (size_t k = 0; k < n; k++) {
        const tel_span_data *d = spans[k];
        tu_span *t = calloc(1, sizeof *t);
        if (!t)
            break;
        snprintf(t->name, sizeof t->name, "%s", d->name ? d->name : "");
        t->kind = d->kind;
        t->status = d->status;
        t->has_parent = d->has_parent;
        t->parent_remote = d->parent_remote;
        t->sc = d->sc;
        memcpy(t->parent_span_id, d->parent_span_id, TEL_SPAN_ID_SIZE);
        for (uint32_t i = 0; i < tel_span_data_attr_count(d) && t->n_attrs < TU_MAX_ATTRS; i++) {
            const tel_attr *a = tel_span_data_attr(d, i);
            tu_attr *x = &t->attrs[t->n_attrs];
            snprintf(x->key, sizeof x->key, "%s", a->key);
            x->type = a->type;
            if (a->type == TEL_ATTR_STRING)
                snprintf(x->s, sizeof x->s, "%.*s", (int)a->len, a->v.s);
            else if (a->type == TEL_ATTR_INT)
                x->i = a->v.i;
            else if (a->type == TEL_ATTR_BOOL)
                x->i = a->v.b;
            else if (a->type == TEL_ATTR_DOUBLE)
                x->i = (int64_t)a->v.d;
            else
                continue;
            t->n_attrs++;
        }
        for (uint32_t i = 0; i < tel_span_data_event_count(d) && t->n_events < TU_MAX_EVENTS; i++)
            snprintf(t->events[t->n_events++], sizeof t->events[0], "%s", d->extra->events[i].name);
        if (c->n == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 64;
            tu_span **ns = realloc(c->spans, nc * sizeof *ns);
            if (!ns) {
                free(t);
                break;
            }
            c->spans = ns;
            c->cap = nc;
        }
        c->spans[c->n++] = t;
    }
    pthread_mutex_unlock(&c->lock);
    return TEL_OK;
}

static int tu_capture_shutdown(tel_span_exporter *self)
{
    (void)self;
    return TEL_OK;
}

static void tu_capture_reset(tu_capture *c)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++)
        free(c->spans[i]);
    c->n = 0;
    pthread_mutex_unlock(&c->lock);
}

/* The capture is owned by the processor it is given to; it frees itself here. */
static void tu_capture_destroy(tel_span_exporter *self)
{
    tu_capture *c = (tu_capture *)self;
    tu_capture_reset(c);
    free(c->spans);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static inline tu_capture *tu_capture_create(void)
{
    tu_capture *c = calloc(1, sizeof *c);
    c->base.export_spans = tu_capture_export;
    c->base.shutdown = tu_capture_shutdown;
    c->base.destroy = tu_capture_destroy;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static inline size_t tu_capture_count(tu_capture *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Span i (stable until reset). */
static inline const tu_span *tu_capture_span(tu_capture *c, size_t i)
{
    pthread_mutex_lock(&c->lock);
    const tu_span *t = i < c->n ? c->spans[i] : NULL;
    pthread_mutex_unlock(&c->lock);
    return t;
}

/* The first span named name, or NULL. */
static inline const tu_span *tu_capture_find(tu_capture *c, const char *name)
{
    pthread_mutex_lock(&c->lock);
    const tu_span *t = NULL;
    for (size_t i = 0; i < c->n && !t; i++)
        if (strcmp(c->spans[i]->name, name) == 0)
            t = c->spans[i];
    pthread_mutex_unlock(&c->lock);
    return t;
}

static inline const tu_attr *tu_attr_get(const tu_span *t, const char *key)
{
    for (size_t i = 0; t && i < t->n_attrs; i++)
        if (strcmp(t->attrs[i].key, key) == 0)
            return &t->attrs[i];
    return NULL;
}

/* A string attribute, or NULL. */
static inline const char *tu_attr_str(const tu_span *t, const char *key)
{
    const tu_attr *a = tu_attr_get(t, key);
    return a && a->type == TEL_ATTR_STRING ? a->s : NULL;
}

/* An int attribute, or INT64_MIN. */
static inline int64_t tu_attr_int(const tu_span *t, const char *key)
{
    const tu_attr *a = tu_attr_get(t, key);
    return a && a->type == TEL_ATTR_INT ? a->i : INT64_MIN;
}

static inline bool tu_same_trace(const tu_span *a, const tu_span *b)
{
    return a && b && memcmp(a->sc.trace_id, b->sc.trace_id, TEL_TRACE_ID_SIZE) == 0;
}

static inline bool tu_is_child(const tu_span *child, const tu_span *parent)
{
    return child && parent && child->has_parent && tu_same_trace(child, parent) &&
           memcmp(child->parent_span_id, parent->sc.span_id, TEL_SPAN_ID_SIZE) == 0;
}

static inline bool tu_has_event(const tu_span *t, const char *name)
{
    for (size_t i = 0; t && i < t->n_events; i++)
        if (strcmp(t->events[i], name) == 0)
            return true;
    return false;
}

/* A provider (always_on) whose spans go through a simple processor into a capture. */
static inline tel_tracer_provider *tu_tracing_init(tu_capture **cap, tel_tracer **tracer)
{
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "core-http-test");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, TEL_SAMPLER_ALWAYS_ON, 0);
    cfg.has_limits = true;
    cfg.limits = (tel_span_limits){128, 0, 128, 128, 128, 128};
    tel_tracer_provider *p = tel_tracer_provider_create(&cfg);
    *cap = tu_capture_create();
    tel_tracer_provider_add_processor(p, tel_simple_processor_create(&(*cap)->base, 1000));
    *tracer = tel_tracer_get(p, "core-http-test", "1.0");
    return p;
}

#endif
