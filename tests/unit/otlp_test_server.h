/* A tiny HTTP/1.1 server thread on 127.0.0.1 for the OTLP transport tests: it answers each
 * request with the next canned response of a script (the last one repeats) and records what it
 * received. Test code only: it understands just enough HTTP for libcurl's POSTs
 * (Content-Length bodies, keep-alive). */
#ifndef OTLP_TEST_SERVER_H
#define OTLP_TEST_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct canned {
    int status;          /* HTTP status */
    const char *headers; /* extra header lines, each ending in \r\n, or NULL */
    const void *body;    /* response body or NULL */
    size_t body_len;
    bool hang;        /* read the request, never answer */
    bool close_after; /* close the connection after answering */
} canned;

#define TSRV_MAX_REQS 32

typedef struct tsrv_req {
    uint64_t t_ns; /* CLOCK_MONOTONIC when the request was complete */
    char head[4096];
    uint8_t *body;
    size_t body_len;
} tsrv_req;

typedef struct tsrv {
    int lfd;
    int port;
    pthread_t th;
    atomic_bool stop;
    pthread_mutex_t mu;
    canned script[8];
    int n_script;
    int n_req;
    tsrv_req reqs[TSRV_MAX_REQS];
} tsrv;

static inline uint64_t tsrv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits up to 50 ms for fd to be readable; -1 when the server stops. */
static inline int tsrv_wait(tsrv *s, int fd)
{
    for (;;) {
        if (atomic_load(&s->stop)) return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, 50);
        if (r > 0) return 0;
    }
}

static inline void tsrv_serve(tsrv *s, int fd)
{
    char buf[1 << 16];
    size_t have = 0;
    for (;;) {
        /* head */
        char *end = NULL;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == sizeof buf || tsrv_wait(s, fd) != 0) return;
            ssize_t n = read(fd, buf + have, sizeof buf - have);
            if (n <= 0) return;
            have += (size_t)n;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        size_t clen = 0;
        for (char *p = buf; p < end; p++) {
            if (strncasecmp(p, "\r\ncontent-length:", 17) == 0) {
                clen = strtoul(p + 17, NULL, 10);
                break;
            }
        }
        uint8_t *body = malloc(clen + 1);
        size_t got = have - head_len < clen ? have - head_len : clen;
        memcpy(body, buf + head_len, got);
        while (got < clen) {
            if (tsrv_wait(s, fd) != 0) {
                free(body);
                return;
            }
            ssize_t n = read(fd, body + got, clen - got);
            if (n <= 0) {
                free(body);
                return;
            }
            got += (size_t)n;
        }
        /* leftovers (none with curl: no pipelining) are dropped */
        have = 0;
        pthread_mutex_lock(&s->mu);
        int idx = s->n_req++;
        canned c = s->script[idx < s->n_script ? idx : s->n_script - 1];
        if (idx < TSRV_MAX_REQS) {
            tsrv_req *r = &s->reqs[idx];
            r->t_ns = tsrv_now();
            size_t hl = head_len < sizeof r->head ? head_len : sizeof r->head - 1;
            memcpy(r->head, buf, hl);
            r->head[hl] = '\0';
            r->body = body;
            r->body_len = clen;
            body = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        free(body);
        if (c.hang) {
            /* until the client gives up or the server stops */
            char sink[4096];
            while (tsrv_wait(s, fd) == 0)
                if (read(fd, sink, sizeof sink) <= 0) return;
            return;
        }
        char resp[1024];
        int n = snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s%s\r\n",
                         c.status, c.body_len, c.headers ? c.headers : "",
                         c.close_after ? "Connection: close\r\n" : "");
        if (write(fd, resp, (size_t)n) != n) return;
        if (c.body_len && write(fd, c.body, c.body_len) != (ssize_t)c.body_len) return;
        if (c.close_after) return;
    }
}

static inline void *tsrv_main(void *arg)
{
    tsrv *s = arg;
    while (tsrv_wait(s, s->lfd) == 0) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        tsrv_serve(s, fd);
        close(fd);
    }
    return NULL;
}

/* Starts a server answering with script[0..n) (copied). */
static inline tsrv *tsrv_start(const canned *script, int n)
{
    tsrv *s = calloc(1, sizeof *s);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 8) != 0) {
        close(s->lfd);
        free(s);
        return NULL;
    }
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    memcpy(s->script, script, sizeof *script * (size_t)n);
    s->n_script = n;
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->stop, false);
    pthread_create(&s->th, NULL, tsrv_main, s);
    return s;
}

static inline int tsrv_requests(tsrv *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n_req;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static inline void tsrv_stop(tsrv *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->th, NULL);
    close(s->lfd);
    for (int i = 0; i < TSRV_MAX_REQS; i++)
        free(s->reqs[i].body);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* A port on 127.0.0.1 with nothing listening (bound, then closed). */
static inline int tsrv_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

#endif
