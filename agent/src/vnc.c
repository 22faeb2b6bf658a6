/* Dialing a VNC server and the RFB handshake up to the security types (see agent/vnc.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/bmc_driver.h"
#include "agent/vnc.h"
#include "span_baggage.h"

static int remaining_ms(uint64_t deadline_ns)
{
    uint64_t now = tel_mono_ns();
    if (deadline_ns <= now) return 0;
    uint64_t ms = (deadline_ns - now + 999999) / 1000000;
    return ms > 1000000000u ? 1000000000 : (int)ms;
}

static const char *errno_type(int e)
{
    switch (e) {
    case ECONNREFUSED:
        return "connection_refused";
    case EHOSTUNREACH:
        return "host_unreachable";
    case ENETUNREACH:
        return "network_unreachable";
    case ETIMEDOUT:
        return "timeout";
    case ECONNRESET:
        return "connection_reset";
    default:
        return "io_error";
    }
}

/* Connects one address within the deadline. Returns the socket, or -1 with *err set (errno
 * value, ETIMEDOUT for the deadline). */
static int connect_one(const struct addrinfo *ai, uint64_t deadline_ns, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    if (errno != EINPROGRESS) {
        *err = errno;
        close(fd);
        return -1;
    }
    for (;;) {
        int ms = remaining_ms(deadline_ns);
        if (ms == 0) {
            *err = ETIMEDOUT;
            close(fd);
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, ms);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            *err = errno;
            close(fd);
            return -1;
        }
        if (n == 0) continue; /* the deadline check above ends it */
        int so = 0;
        socklen_t sl = sizeof so;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0) so = errno;
        if (so) {
            *err = so;
            close(fd);
            return -1;
        }
        return fd;
    }
}

static int dial(const char *host, int port, const tel_context *ctx, uint64_t deadline_ns,
                tel_tracer *tracer, int *out, agt_result *res)
{
    tel_span_start_opts so = {.name = "tcp.dial", .kind = TEL_SPAN_KIND_CLIENT, .parent = ctx};
    tel_span *span = tel_span_start_ex(tracer, &so);
    tel_span_set_str(span, "server.address", host);
    tel_span_set_int(span, "server.port", port);
    tel_span_set_str_static(span, "network.transport", "tcp");
    agt_span_copy_baggage(span, ctx);

    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ais = NULL;
    int rc = AGT_OK;
    const char *etype = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &ais);
    int fd = -1;
    if (gai != 0) {
        etype = "name_resolution";
        rc = agt_result_set(res, AGT_EUNREACHABLE, 0, "cannot resolve VNC host %s: %s", host,
                            gai_strerror(gai));
    } else {
        int err = 0;
        const struct addrinfo *ai;
        for (ai = ais; ai && fd < 0; ai = ai->ai_next) {
            fd = connect_one(ai, deadline_ns, &err);
            if (fd >= 0 || err == ETIMEDOUT) break;
        }
        if (fd >= 0) {
            char addr[INET6_ADDRSTRLEN] = "";
            const void *a =
                ai->ai_family == AF_INET6
                    ? (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                    : (const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
            inet_ntop(ai->ai_family, a, addr, sizeof addr);
            tel_span_set_str(span, "network.peer.address", addr);
            tel_span_set_int(span, "network.peer.port", port);
            tel_span_set_str_static(span, "network.type",
                                    ai->ai_family == AF_INET6 ? "ipv6" : "ipv4");
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        } else if (err == ETIMEDOUT) {
            etype = "timeout";
            rc = agt_result_set(res, AGT_ETIMEOUT, 0, "connecting to VNC %s:%d: deadline exceeded",
                                host, port);
        } else {
            etype = errno_type(err);
            rc = agt_result_set(res, AGT_EUNREACHABLE, 0, "VNC %s:%d unreachable: %s", host, port,
                                strerror(err));
        }
        freeaddrinfo(ais);
    }
    if (rc != AGT_OK) {
        tel_span_set_str(span, "error.type", etype);
        tel_span_set_status(span, TEL_STATUS_ERROR, res->message);
    }
    tel_span_end(span);
    *out = fd;
    return rc;
}

/* Reads exactly n bytes (n > 0) within the deadline. */
static int read_full(int fd, uint8_t *buf, size_t n, uint64_t deadline_ns, agt_result *res)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            return agt_result_set(res, AGT_ECLOSED, 0,
                                  "VNC server closed the connection "
                                  "during the handshake");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return agt_result_set(res, AGT_ECLOSED, 0, "VNC connection failed: %s",
                                  strerror(errno));
        int ms = remaining_ms(deadline_ns);
        if (ms == 0)
            return agt_result_set(res, AGT_ETIMEOUT, 0, "VNC handshake: deadline exceeded");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, ms) < 0 && errno != EINTR)
            return agt_result_set(res, AGT_ECLOSED, 0, "VNC connection failed: %s",
                                  strerror(errno));
    }
    return AGT_OK;
}

static int write_full(int fd, const void *buf, size_t n, uint64_t deadline_ns, agt_result *res)
{
    const uint8_t *p = buf;
    size_t done = 0;
    while (done < n) {
        ssize_t w = send(fd, p + done, n - done, MSG_NOSIGNAL);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return agt_result_set(res, AGT_ECLOSED, 0, "VNC connection failed: %s",
                                  strerror(errno));
        int ms = remaining_ms(deadline_ns);
        if (ms == 0)
            return agt_result_set(res, AGT_ETIMEOUT, 0, "VNC handshake: deadline exceeded");
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, ms) < 0 && errno != EINTR)
            return agt_result_set(res, AGT_ECLOSED, 0, "VNC connection failed: %s",
                                  strerror(errno));
    }
    return AGT_OK;
}

static int handshake(int fd, const char *host, int port, const tel_context *ctx,
                     uint64_t deadline_ns, tel_tracer *tracer, agt_rfb_info *info, agt_result *res)
{
    tel_span_start_opts so = {.name = "rfb.handshake", .kind = TEL_SPAN_KIND_CLIENT, .parent = ctx};
    tel_span *span = tel_span_start_ex(tracer, &so);
    tel_span_set_str(span, "server.address", host);
    tel_span_set_int(span, "server.port", port);
    tel_span_set_str_static(span, "network.transport", "tcp");
    agt_span_copy_baggage(span, ctx);

    const char *etype = NULL;
    uint8_t buf[1 + 255 + 4 + AGT_RFB_REASON_READ_MAX];
    int rc = read_full(fd, buf, AGT_RFB_VERSION_LEN, deadline_ns, res);
    if (rc == AGT_OK) {
        if (agt_rfb_parse_version(buf, AGT_RFB_VERSION_LEN, &info->server_major,
                                  &info->server_minor) != AGT_OK ||
            (info->minor = agt_rfb_choose_minor(info->server_major, info->server_minor)) < 0) {
            etype = "protocol";
            rc = agt_result_set(res, AGT_EPROTO, 0, "%s:%d is not an RFB 3.3+ server", host, port);
        }
    }
    if (rc == AGT_OK) {
        char v[16];
        snprintf(v, sizeof v, "%d.%d", info->server_major, info->server_minor);
        tel_span_set_str(span, "rfb.server_version", v);
        snprintf(v, sizeof v, "3.%d", info->minor);
        tel_span_set_str(span, "rfb.version", v);
        char answer[AGT_RFB_VERSION_LEN + 1];
        agt_rfb_format_version(info->minor, answer);
        rc = write_full(fd, answer, AGT_RFB_VERSION_LEN, deadline_ns, res);
    }
    if (rc == AGT_OK) {
        size_t have = 0, used = 0;
        int need = agt_rfb_parse_security(buf, have, info->minor, info, &used);
        while (rc == AGT_OK && need > 0) {
            if ((size_t)need > sizeof buf) { /* cannot happen: the parser's bound */
                rc = agt_result_set(res, AGT_EPROTO, 0, "RFB security message too long");
                break;
            }
            rc = read_full(fd, buf + have, (size_t)need - have, deadline_ns, res);
            have = (size_t)need;
            if (rc == AGT_OK) need = agt_rfb_parse_security(buf, have, info->minor, info, &used);
        }
        if (rc == AGT_OK && need < 0) {
            etype = "protocol";
            rc = agt_result_set(res, AGT_EPROTO, 0, "malformed RFB security message from %s:%d",
                                host, port);
        } else if (rc == AGT_OK && info->n_sec_types == 0) {
            etype = "refused";
            tel_span_set_str(span, "rfb.failure_reason", info->failure_reason);
            rc = agt_result_set(res, AGT_EBMC, 0, "VNC server %s:%d refused the connection: %s",
                                host, port,
                                info->failure_reason[0] ? info->failure_reason : "(no reason)");
        }
    }
    if (rc == AGT_OK) {
        const char *names[255];
        int64_t ids[255];
        for (size_t i = 0; i < info->n_sec_types; i++) {
            names[i] = agt_rfb_security_name(info->sec_types[i]);
            ids[i] = info->sec_types[i];
        }
        tel_attr a = {.key = "rfb.security_types",
                      .type = TEL_ATTR_STRING_ARRAY,
                      .len = (uint32_t)info->n_sec_types,
                      .v.arr = names};
        tel_span_set_attr(span, &a);
        tel_attr b = {.key = "rfb.security_type_ids",
                      .type = TEL_ATTR_INT_ARRAY,
                      .len = (uint32_t)info->n_sec_types,
                      .v.arr = ids};
        tel_span_set_attr(span, &b);
    } else {
        if (!etype) etype = rc == AGT_ETIMEOUT ? "timeout" : "connection_closed";
        tel_span_set_str(span, "error.type", etype);
        tel_span_set_status(span, TEL_STATUS_ERROR, res->message);
    }
    tel_span_end(span);
    return rc;
}

int agt_vnc_dial(const char *host, int port, const tel_context *ctx, uint64_t deadline_ns,
                 tel_tracer *tracer, int *fd, agt_rfb_info *info, agt_result *res)
{
    agt_result local;
    if (!res) res = &local;
    *fd = -1;
    memset(info, 0, sizeof *info);
    if (!host || !host[0] || port < 1 || port > 65535)
        return agt_result_set(res, AGT_EINVAL, 0, "VNC dial needs a host and a port 1-65535");
    if (!tracer) tracer = tel_global_tracer("bmcfleet.agent", BMC_VERSION);
    agt_result_set(res, AGT_OK, 0, "ok");
    int s = -1;
    int rc = dial(host, port, ctx, deadline_ns, tracer, &s, res);
    if (rc != AGT_OK) return rc;
    rc = handshake(s, host, port, ctx, deadline_ns, tracer, info, res);
    if (rc != AGT_OK) {
        close(s);
        return rc;
    }
    *fd = s;
    return AGT_OK;
}
