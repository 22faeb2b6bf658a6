/* Serial over LAN through libipmiconsole: see agent/sol.h. */
#include "agent/sol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipmiconsole.h>

#include "agent/bmc_driver.h"
#include "telemetry/trace.h"

#define SOL_KEEPALIVE_DEFAULT_MS 20000
#define SOL_SESSION_TIMEOUT_MS 60000
#define SOL_USER_MAX 16
#define SOL_PASS_MAX 20

struct agt_sol {
    ipmiconsole_ctx_t c;
    int fd;
    char key[300]; /* host:port, for take-over bookkeeping */
    char host[256];
    int port;
    tel_tracer *tracer;
    pthread_mutex_t mu; /* guards span and reason */
    tel_span *span;     /* ipmi.sol.session */
    const char *reason; /* why it ended, NULL while up */
    atomic_bool ended;
    bool detached; /* our end was replaced by /dev/null (take-over within this process) */
    _Atomic uint64_t bytes_in, bytes_out;
    agt_sol *next; /* registry */
};

/* Process-wide: the engine and the open sessions (for take-over and the engine-idle note). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_engine_up;
static int g_in_engine; /* contexts submitted and not yet destroyed by us */
static agt_sol *g_open;

static int map_errnum(int e)
{
    switch (e) {
    case IPMICONSOLE_ERR_USERNAME_INVALID:
    case IPMICONSOLE_ERR_PASSWORD_INVALID:
    case IPMICONSOLE_ERR_K_G_INVALID:
    case IPMICONSOLE_ERR_PRIVILEGE_LEVEL_INSUFFICIENT:
    case IPMICONSOLE_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED:
        return AGT_EAUTH;
    case IPMICONSOLE_ERR_SOL_INUSE:
        return AGT_EINUSE;
    case IPMICONSOLE_ERR_SOL_UNAVAILABLE:
    case IPMICONSOLE_ERR_CIPHER_SUITE_ID_UNAVAILABLE:
    case IPMICONSOLE_ERR_IPMI_2_0_UNAVAILABLE:
    case IPMICONSOLE_ERR_SOL_REQUIRES_ENCRYPTION:
    case IPMICONSOLE_ERR_SOL_REQUIRES_NO_ENCRYPTION:
        return AGT_EUNSUPPORTED;
    case IPMICONSOLE_ERR_CONNECTION_TIMEOUT:
    case IPMICONSOLE_ERR_HOSTNAME_INVALID:
        return AGT_EUNREACHABLE;
    case IPMICONSOLE_ERR_SESSION_TIMEOUT:
    case IPMICONSOLE_ERR_EXCESS_RETRANSMISSIONS_SENT:
        return AGT_ETIMEOUT;
    case IPMICONSOLE_ERR_BMC_BUSY:
    case IPMICONSOLE_ERR_BMC_ERROR:
    case IPMICONSOLE_ERR_BMC_IMPLEMENTATION:
    case IPMICONSOLE_ERR_EXCESS_ERRORS_RECEIVED:
        return AGT_EBMC;
    case IPMICONSOLE_ERR_OUT_OF_MEMORY:
        return AGT_ENOMEM;
    case IPMICONSOLE_ERR_PARAMETERS:
        return AGT_EINVAL;
    case IPMICONSOLE_ERR_SOL_STOLEN:
        return AGT_ECLOSED;
    default:
        return AGT_EPROTO;
    }
}

static const char *priv_name(int p)
{
    return p == IPMICONSOLE_PRIVILEGE_USER       ? "USER"
           : p == IPMICONSOLE_PRIVILEGE_OPERATOR ? "OPERATOR"
                                                 : "ADMINISTRATOR";
}

static void set_bmc_attrs(tel_span *span, const agt_endpoint *ep)
{
    tel_span_set_str_static(span, "bmc.type", "ipmi");
    tel_span_set_str(span, "bmc.address", ep->host);
    tel_span_set_str(span, "server.address", ep->host);
    tel_span_set_int(span, "server.port", ep->port);
}

static const char *const baggage_keys[] = {"customer_id", "server_id", "session_id",
                                           "datacenter",  "agent_id",  "bmc_type"};

/* Copies the business ids the caller's baggage carries onto span. */
static void copy_baggage(tel_span *span, const tel_context *ctx)
{
    if (!ctx || !ctx->bag || !tel_span_is_recording(span))
        return;
    for (size_t i = 0; i < sizeof baggage_keys / sizeof baggage_keys[0]; i++) {
        const char *v = tel_baggage_get(ctx->bag, baggage_keys[i]);
        if (v)
            tel_span_set_str(span, baggage_keys[i], v);
    }
}

static int engine_up(agt_result *res)
{
    pthread_mutex_lock(&g_mu);
    int rc = AGT_OK;
    if (!g_engine_up) {
        /* One engine thread: a new session on a thread already holding one is established
         * sooner (no 250 ms idle sleep), and one thread moves the bytes of many sessions. */
        if (ipmiconsole_engine_init(1, 0) < 0)
            rc = agt_result_set(res, AGT_ENOMEM, 0, "cannot start the libipmiconsole engine: %s",
                                strerror(errno));
        else
            g_engine_up = true;
    }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

void agt_sol_shutdown(void)
{
    pthread_mutex_lock(&g_mu);
    bool up = g_engine_up;
    g_engine_up = false;
    pthread_mutex_unlock(&g_mu);
    if (up)
        ipmiconsole_engine_teardown(1);
}

/* Marks s ended (first reason wins) and records it on the session span. */
static void mark_ended(agt_sol *s, const char *reason, bool stolen)
{
    pthread_mutex_lock(&s->mu);
    if (!s->reason) {
        s->reason = reason;
        atomic_store(&s->ended, true);
        if (stolen) {
            tel_attr ev[] = {TEL_ATTR_STR("ipmi.sol.close_reason", reason)};
            ev[0].len = (uint32_t)strlen(reason);
            tel_span_add_event(s->span, "ipmi.sol.stolen", ev, 1);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* Ends s's SOL session now, cleanly: replacing our end of its descriptor with /dev/null makes
 * the engine see EOF, deactivate the payload and close the session, while the descriptor number
 * stays valid for a pump still polling it (it now reads EOF). Called with g_mu held. */
static void detach_for_take_over(agt_sol *s)
{
    mark_ended(s, "SOL taken over by another session of this process", true);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, s->fd);
        close(devnull);
    }
    s->detached = true;
}

/* Reason text for a session the engine ended. */
static void ended_by_engine(agt_sol *s)
{
    int e = ipmiconsole_ctx_errnum(s->c);
    if (e == IPMICONSOLE_ERR_SOL_STOLEN)
        mark_ended(s, "SOL taken over by another session", true);
    else if (e == IPMICONSOLE_ERR_SUCCESS)
        mark_ended(s, "closed by the BMC", false);
    else
        mark_ended(s, ipmiconsole_ctx_strerror(e), false);
}

/* What one activation attempt needs. */
typedef struct sol_params {
    const agt_endpoint *ep;
    const char *user, *pass;
    int priv, cipher, keepalive;
    unsigned workarounds;
} sol_params;

/* Creates a context, submits it and waits (until deadline_ns) for SOL to be established.
 * On success *cp and *fdp hold the context and our descriptor (the engine's marker byte
 * consumed). */
static int activate(const sol_params *p, unsigned behavior, uint64_t deadline_ns,
                    ipmiconsole_ctx_t *cp, int *fdp, agt_result *res)
{
    const agt_endpoint *ep = p->ep;
    char hostport[300], user[SOL_USER_MAX + 1], pass[SOL_PASS_MAX + 1];
    snprintf(hostport, sizeof hostport, "%s:%d", ep->host, ep->port);
    snprintf(user, sizeof user, "%s", p->user);
    snprintf(pass, sizeof pass, "%s", p->pass);
    struct ipmiconsole_ipmi_config ic = {
        .username = user,
        .password = pass,
        .k_g = NULL,
        .k_g_len = 0,
        .privilege_level = p->priv,
        .cipher_suite_id = p->cipher,
        .workaround_flags = p->workarounds,
    };
    /* libipmiconsole requires retransmission <= keepalive <= session and
     * keepalive retransmission <= keepalive. */
    int retrans = p->keepalive / 2 < 500 ? p->keepalive / 2 : 500;
    struct ipmiconsole_protocol_config pc = {
        .session_timeout_len =
            p->keepalive > SOL_SESSION_TIMEOUT_MS ? p->keepalive : SOL_SESSION_TIMEOUT_MS,
        .retransmission_timeout_len = retrans,
        .retransmission_backoff_count = -1,
        .keepalive_timeout_len = p->keepalive,
        .retransmission_keepalive_timeout_len = p->keepalive < 5000 ? p->keepalive : 5000,
        .acceptable_packet_errors_count = -1,
        .maximum_retransmission_count = -1,
    };
    struct ipmiconsole_engine_config ec = {
        .engine_flags = IPMICONSOLE_ENGINE_OUTPUT_ON_SOL_ESTABLISHED,
        .behavior_flags = behavior,
        .debug_flags = 0,
    };
    ipmiconsole_ctx_t c = ipmiconsole_ctx_create(hostport, &ic, &pc, &ec);
    explicit_bzero(pass, sizeof pass);
    if (!c)
        return agt_result_set(res, errno == ENOMEM ? AGT_ENOMEM : AGT_EINVAL, 0,
                              "SOL context for %s: %s", hostport, strerror(errno));
    pthread_mutex_lock(&g_mu);
    g_in_engine++;
    pthread_mutex_unlock(&g_mu);
    int rc = AGT_OK, fd = -1;
    if (ipmiconsole_engine_submit(c, NULL, NULL) < 0) {
        int e = ipmiconsole_ctx_errnum(c);
        rc = agt_result_set(res, map_errnum(e), 0, "SOL to %s: %s", hostport,
                            ipmiconsole_ctx_strerror(e));
    } else if ((fd = ipmiconsole_ctx_fd(c)) < 0) {
        rc = agt_result_set(res, AGT_EPROTO, 0, "SOL to %s: no descriptor", hostport);
    }
    /* Wait for the NUL byte the engine writes once SOL is established, or an error. */
    while (rc == AGT_OK) {
        ipmiconsole_ctx_status_t st = ipmiconsole_ctx_status(c);
        if (st == IPMICONSOLE_CTX_STATUS_SOL_ERROR || st == IPMICONSOLE_CTX_STATUS_ERROR) {
            int e = ipmiconsole_ctx_errnum(c);
            rc = agt_result_set(res, map_errnum(e), 0, "SOL to %s: %s", hostport,
                                ipmiconsole_ctx_errormsg(c));
            break;
        }
        uint64_t now = tel_mono_ns();
        if (now >= deadline_ns) {
            rc = agt_result_set(res, AGT_ETIMEOUT, 0,
                                "SOL to %s not established within the deadline", hostport);
            break;
        }
        uint64_t left_ms = (deadline_ns - now) / 1000000u + 1;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int pr = poll(&pf, 1, (int)(left_ms < 20 ? left_ms : 20));
        if (pr < 0 && errno != EINTR) {
            rc = agt_result_set(res, AGT_EPROTO, 0, "poll: %s", strerror(errno));
            break;
        }
        if (pr > 0 && st == IPMICONSOLE_CTX_STATUS_SOL_ESTABLISHED) {
            unsigned char nul;
            ssize_t n = read(fd, &nul, 1);
            if (n == 1)
                break; /* established; the byte is the engine's marker */
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                int e = ipmiconsole_ctx_errnum(c);
                int code = map_errnum(e);
                rc = agt_result_set(res, e == IPMICONSOLE_ERR_SUCCESS ? AGT_ECLOSED : code, 0,
                                    "SOL to %s closed at once: %s", hostport,
                                    ipmiconsole_ctx_errormsg(c));
            }
        }
    }
    if (rc != AGT_OK) {
        if (fd >= 0)
            close(fd);
        ipmiconsole_ctx_destroy(c);
        pthread_mutex_lock(&g_mu);
        g_in_engine--;
        pthread_mutex_unlock(&g_mu);
        return rc;
    }
    *cp = c;
    *fdp = fd;
    return AGT_OK;
}

int agt_sol_open(const char *endpoint, const char *username, const char *password,
                 const agt_bmc_options *opts, const tel_context *ctx, uint64_t deadline_ns,
                 agt_sol **out, agt_result *res)
{
    agt_result local;
    if (!res)
        res = &local;
    *out = NULL;
    agt_result_set(res, AGT_OK, 0, "ok");
    agt_bmc_options defaults;
    memset(&defaults, 0, sizeof defaults);
    if (!opts)
        opts = &defaults;
    agt_endpoint ep;
    if (agt_endpoint_parse(endpoint, &ep, res) != AGT_OK)
        return res->code;
    if (strcmp(ep.scheme, "ipmi") != 0)
        return agt_result_set(res, AGT_EUNSUPPORTED, 0, "SOL needs an ipmi:// endpoint");
    /* libipmiconsole 1.6.10 takes "host:port" only for names and IPv4 addresses, and hands the
     * port to getaddrinfo as a signed 16-bit number: above 32767 it fails with "hostname
     * invalid". Say so instead. */
    if (strchr(ep.host, ':'))
        return agt_result_set(res, AGT_EUNSUPPORTED, 0,
                              "libipmiconsole cannot reach SOL at an IPv6 address with a port");
    if (ep.port > 32767)
        return agt_result_set(res, AGT_EUNSUPPORTED, 0,
                              "libipmiconsole cannot reach SOL on UDP ports above 32767 (%d)",
                              ep.port);
    username = username ? username : "";
    password = password ? password : "";
    if (strlen(username) > SOL_USER_MAX || strlen(password) > SOL_PASS_MAX)
        return agt_result_set(res, AGT_EINVAL, 0,
                              "IPMI user names have at most %d characters, passwords %d",
                              SOL_USER_MAX, SOL_PASS_MAX);
    sol_params p = {.ep = &ep, .user = username, .pass = password,
                    .workarounds = opts->sol_workaround_flags};
    switch (opts->privilege) {
    case 0:
    case 4: p.priv = IPMICONSOLE_PRIVILEGE_ADMIN; break;
    case 3: p.priv = IPMICONSOLE_PRIVILEGE_OPERATOR; break;
    case 2: p.priv = IPMICONSOLE_PRIVILEGE_USER; break;
    default:
        return agt_result_set(res, AGT_EINVAL, 0,
                              "IPMI privilege %d invalid for SOL (2 USER, 3 OPERATOR, 4 ADMIN)",
                              opts->privilege);
    }
    p.cipher = opts->cipher_suite ? opts->cipher_suite : 3;
    p.keepalive = opts->sol_keepalive_ms ? opts->sol_keepalive_ms : SOL_KEEPALIVE_DEFAULT_MS;
    if (p.keepalive < 50 || p.keepalive > 600000 || p.cipher < 0 || p.cipher > 17)
        return agt_result_set(res, AGT_EINVAL, 0, "sol_keepalive_ms or cipher_suite out of range");
    tel_tracer *tracer =
        opts->tracer ? opts->tracer : tel_global_tracer("bmcfleet.agent", BMC_VERSION);

    tel_span_start_opts so = {.name = "ipmi.sol.activate", .kind = TEL_SPAN_KIND_CLIENT,
                              .parent = ctx};
    tel_span *span = tel_span_start_ex(tracer, &so);
    if (tel_span_is_recording(span)) {
        set_bmc_attrs(span, &ep);
        tel_span_set_int(span, "ipmi.cipher_suite", p.cipher);
        tel_span_set_str_static(span, "ipmi.privilege", priv_name(p.priv));
        tel_span_set_bool(span, "ipmi.sol.take_over", opts->sol_take_over);
        tel_span_set_int(span, "ipmi.sol.keepalive_ms", p.keepalive);
        tel_span_set_int(span, "ipmi.sol.workaround_flags", opts->sol_workaround_flags);
        copy_baggage(span, ctx);
    }
    char key[300];
    snprintf(key, sizeof key, "%s:%d", ep.host, ep.port);
    uint64_t t0 = tel_mono_ns();
    int rc = t0 >= deadline_ns ? agt_result_set(res, AGT_ETIMEOUT, 0,
                                                "deadline passed before SOL activation")
                               : engine_up(res);
    agt_sol *s = NULL;
    if (rc == AGT_OK && !(s = calloc(1, sizeof *s)))
        rc = agt_result_set(res, AGT_ENOMEM, 0, "out of memory");
    if (rc == AGT_OK) {
        pthread_mutex_lock(&g_mu);
        bool was_idle = g_in_engine == 0;
        /* Taking over from a session of this process: end that one cleanly first. Letting the
         * BMC switch payload owners instead would leave the old libipmiconsole context unaware
         * (ipmi_sim sends it no notice), and its later close would deactivate the new one. */
        int detached = 0;
        for (agt_sol *o = g_open; opts->sol_take_over && o; o = o->next) {
            if (strcmp(o->key, key) == 0 && !o->detached) {
                detach_for_take_over(o);
                detached++;
            }
        }
        pthread_mutex_unlock(&g_mu);
        tel_span_set_bool(span, "ipmi.sol.engine_was_idle", was_idle);
        if (was_idle)
            tel_span_set_str_static(
                span, "ipmi.sol.engine_note",
                "libipmiconsole's engine thread held no other session: it polls every 250 ms "
                "while idle, so up to 250 ms of this span is that sleep, not the BMC");
        unsigned behavior = opts->sol_take_over ? 0 : IPMICONSOLE_BEHAVIOR_ERROR_ON_SOL_INUSE;
        if (detached) {
            tel_attr ev[] = {TEL_ATTR_INT64("ipmi.sol.sessions_ended", detached)};
            tel_span_add_event(span, "ipmi.sol.take_over.local", ev, 1);
            /* Wait (up to 1 s) until the BMC no longer reports SOL in use; a client elsewhere
             * still holding it is then taken over by libipmiconsole. */
            behavior = IPMICONSOLE_BEHAVIOR_ERROR_ON_SOL_INUSE;
        }
        ipmiconsole_ctx_t c = NULL;
        int fd = -1;
        for (int attempt = 1;; attempt++) {
            tel_span_add_event(span, "ipmi.sol.submitted", NULL, 0);
            rc = activate(&p, behavior, deadline_ns, &c, &fd, res);
            if (rc != AGT_EINUSE || !opts->sol_take_over)
                break;
            uint64_t now = tel_mono_ns();
            if (now >= deadline_ns)
                break;
            const char *why = "SOL still in use";
            if (now - t0 >= 1000000000u) {
                behavior = 0; /* someone else holds it: take it over */
                why = "SOL held by another client: taking it over";
            } else {
                struct timespec ts = {0, 50000000};
                nanosleep(&ts, NULL);
            }
            tel_attr ev[] = {TEL_ATTR_INT64("ipmi.retry.attempt", attempt + 1),
                             TEL_ATTR_STR("ipmi.retry.reason", why)};
            ev[1].len = (uint32_t)strlen(why);
            tel_span_add_event(span, "retry", ev, 2);
        }
        if (rc == AGT_OK) {
            s->c = c;
            s->fd = fd;
        }
    }
    uint64_t est_ms = (tel_mono_ns() - t0) / 1000000u;
    tel_span_set_int(span, "ipmi.sol.establish_ms", (int64_t)est_ms);
    if (rc != AGT_OK) {
        tel_span_set_str(span, "error.type", agt_strerror(rc));
        tel_span_set_status(span, TEL_STATUS_ERROR, res->message);
        tel_span_end(span);
        free(s);
        return rc;
    }
    tel_span_add_event(span, "ipmi.sol.established", NULL, 0);
    tel_span_end(span);

    s->port = ep.port;
    snprintf(s->host, sizeof s->host, "%s", ep.host);
    snprintf(s->key, sizeof s->key, "%s", key);
    s->tracer = tracer;
    pthread_mutex_init(&s->mu, NULL);
    int fl = fcntl(s->fd, F_GETFL);
    if (fl >= 0)
        fcntl(s->fd, F_SETFL, fl | O_NONBLOCK);
    tel_span_start_opts ss = {.name = "ipmi.sol.session", .kind = TEL_SPAN_KIND_INTERNAL,
                              .parent = ctx};
    s->span = tel_span_start_ex(tracer, &ss);
    if (tel_span_is_recording(s->span)) {
        set_bmc_attrs(s->span, &ep);
        tel_span_set_bool(s->span, "ipmi.sol.take_over", opts->sol_take_over);
        copy_baggage(s->span, ctx);
    }
    pthread_mutex_lock(&g_mu);
    s->next = g_open;
    g_open = s;
    pthread_mutex_unlock(&g_mu);
    *out = s;
    return AGT_OK;
}

int agt_sol_fd(const agt_sol *s)
{
    return s->fd;
}

ssize_t agt_sol_read(agt_sol *s, void *buf, size_t cap)
{
    if (atomic_load(&s->ended))
        return AGT_ECLOSED;
    if (cap == 0)
        return 0;
    ssize_t n = read(s->fd, buf, cap);
    if (n > 0) {
        atomic_fetch_add(&s->bytes_in, (uint64_t)n);
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    ended_by_engine(s);
    return AGT_ECLOSED;
}

ssize_t agt_sol_write(agt_sol *s, const void *buf, size_t len)
{
    if (atomic_load(&s->ended))
        return AGT_ECLOSED;
    if (len == 0)
        return 0;
    ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK)
        n = write(s->fd, buf, len);
    if (n > 0) {
        atomic_fetch_add(&s->bytes_out, (uint64_t)n);
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    ended_by_engine(s);
    return AGT_ECLOSED;
}

int agt_sol_break(agt_sol *s, agt_result *res)
{
    if (atomic_load(&s->ended))
        return agt_result_set(res, AGT_ECLOSED, 0, "SOL session ended: %s",
                              agt_sol_close_reason(s));
    if (ipmiconsole_ctx_generate_break(s->c) < 0) {
        int e = ipmiconsole_ctx_errnum(s->c);
        return agt_result_set(res, AGT_EPROTO, 0, "serial break: %s",
                              ipmiconsole_ctx_strerror(e));
    }
    pthread_mutex_lock(&s->mu);
    tel_span_add_event(s->span, "ipmi.sol.break", NULL, 0);
    pthread_mutex_unlock(&s->mu);
    return agt_result_set(res, AGT_OK, 0, "ok");
}

const char *agt_sol_close_reason(const agt_sol *s)
{
    agt_sol *m = (agt_sol *)s;
    pthread_mutex_lock(&m->mu);
    const char *r = s->reason ? s->reason : "";
    pthread_mutex_unlock(&m->mu);
    return r;
}

void agt_sol_counts(const agt_sol *s, uint64_t *bytes_in, uint64_t *bytes_out)
{
    agt_sol *m = (agt_sol *)s;
    if (bytes_in)
        *bytes_in = atomic_load(&m->bytes_in);
    if (bytes_out)
        *bytes_out = atomic_load(&m->bytes_out);
}

void agt_sol_close(agt_sol *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&g_mu);
    for (agt_sol **pp = &g_open; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
    pthread_mutex_lock(&s->mu);
    const char *reason = s->reason ? s->reason : "closed by the client";
    int64_t in = (int64_t)atomic_load(&s->bytes_in), out = (int64_t)atomic_load(&s->bytes_out);
    tel_attr ev[] = {TEL_ATTR_INT64("ipmi.sol.bytes_in", in),
                     TEL_ATTR_INT64("ipmi.sol.bytes_out", out),
                     TEL_ATTR_STR("ipmi.sol.close_reason", reason)};
    ev[2].len = (uint32_t)strlen(reason);
    tel_span_add_event(s->span, "ipmi.sol.closed", ev, 3);
    tel_span_set_int(s->span, "ipmi.sol.bytes_in", in);
    tel_span_set_int(s->span, "ipmi.sol.bytes_out", out);
    tel_span_set_str(s->span, "ipmi.sol.close_reason", reason);
    tel_span_end(s->span);
    s->span = NULL;
    pthread_mutex_unlock(&s->mu);
    /* Closing our end makes the engine deactivate the payload and close the session. */
    close(s->fd);
    ipmiconsole_ctx_destroy(s->c);
    pthread_mutex_lock(&g_mu);
    g_in_engine--;
    pthread_mutex_unlock(&g_mu);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
