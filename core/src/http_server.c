/* Instrumented HTTP server on libwebsockets: one service thread, request state machine,
 * tracing middleware, built-in endpoints, asynchronous answers through a locked queue and
 * lws_cancel_service (see ../shared/LWS_NOTES.md for the libwebsockets facts relied on). */
#include "http_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "intern.h"
#include "telemetry/clock.h"
#include "telemetry/log.h"
#include "telemetry/otlp.h"

#define BODY_KEEP (64u * 1024u)
#define MAX_RESP_HDR_BYTES 3000

static const double http_duration_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                              0.5,   0.75, 1.0,   2.5,  5.0,   7.5, 10.0};

static tel_tracer tracer_off = {.enabled = false};

/* The business baggage keys copied onto spans (DESIGN.md). */
static const char *const baggage_keys[] = {"customer_id", "server_id", "session_id",
                                           "datacenter",  "agent_id",  "bmc_type"};

/* ---- Small helpers ---- */

/* Method names (literals) and their lengths by method bit index; index HTTP_N_METHODS is the
 * name of an unknown method. Filled once by core_http_server_create. */
static struct {
    const char *name;
    uint32_t len;
} method_tab[HTTP_N_METHODS + 1];
static pthread_once_t method_tab_once = PTHREAD_ONCE_INIT;

static void method_tab_init(void)
{
    for (int i = 0; i <= HTTP_N_METHODS; i++) {
        method_tab[i].name = core_http_method_name(i < HTTP_N_METHODS ? 1u << i : 0);
        method_tab[i].len = (uint32_t)strlen(method_tab[i].name);
    }
}

static inline unsigned method_index(unsigned method)
{
    unsigned i = (unsigned)__builtin_ctz(method | (1u << HTTP_N_METHODS));
    return (method & (method - 1)) ? HTTP_N_METHODS : i; /* one bit or none */
}

static bool on_list_ci(const char *list, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (strncasecmp(list + i, needle, nl) == 0)
            return true;
    return false;
}

static unsigned lws_method_bit(int m)
{
    switch (m) {
    case LWSHUMETH_GET:
        return CORE_HTTP_GET;
    case LWSHUMETH_POST:
        return CORE_HTTP_POST;
    case LWSHUMETH_OPTIONS:
        return CORE_HTTP_OPTIONS;
    case LWSHUMETH_PUT:
        return CORE_HTTP_PUT;
    case LWSHUMETH_PATCH:
        return CORE_HTTP_PATCH;
    case LWSHUMETH_DELETE:
        return CORE_HTTP_DELETE;
    case LWSHUMETH_HEAD:
        return CORE_HTTP_HEAD;
    default:
        return 0;
    }
}

/* ---- Headers ---- */

static int build_known_headers(core_http_server *s)
{
    s->known = calloc(WSI_TOKEN_COUNT, sizeof *s->known);
    if (!s->known)
        return CORE_ENOMEM;
    for (int i = 0; i < WSI_TOKEN_COUNT; i++) {
        const unsigned char *n = lws_token_to_string((enum lws_token_indexes)i);
        if (!n)
            continue;
        size_t len = strlen((const char *)n);
        if (len < 2 || len >= sizeof s->known[0].name || n[0] == ':' || n[len - 1] != ':')
            continue;
        known_hdr *k = &s->known[s->n_known++];
        for (size_t j = 0; j < len; j++)
            k->name[j] = (char)tolower(n[j]);
        k->name[len] = '\0';
        k->len = len;
        k->token = i;
    }
    return CORE_OK;
}

/* Lowercases name and appends ':' into key (cap bytes). Returns the length or -1. */
static int header_key(const char *name, char *key, size_t cap)
{
    size_t n = strlen(name);
    if (n == 0 || n + 2 > cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        key[i] = (char)tolower((unsigned char)name[i]);
    key[n] = ':';
    key[n + 1] = '\0';
    return (int)n + 1;
}

static int known_token(const core_http_server *s, const char *key, size_t klen)
{
    for (size_t i = 0; i < s->n_known; i++)
        if (s->known[i].len == klen && memcmp(s->known[i].name, key, klen) == 0)
            return s->known[i].token;
    return -1;
}

/* Copies header h NUL-terminated into buf (cap <= INT32_MAX): its length, CORE_ENOTFOUND or
 * CORE_ETOOBIG. A header sent once is one fragment: copied alone, without lws_hdr_copy's second
 * walk over the fragments and its strncpy; a repeated one is joined by lws_hdr_copy. */
static int token_header_get(struct lws *wsi, enum lws_token_indexes h, char *buf, size_t cap)
{
    int n = lws_hdr_total_length(wsi, h);
    if (n <= 0)
        return CORE_ENOTFOUND;
    if ((size_t)n + 1 > cap)
        return CORE_ETOOBIG;
    int m = lws_hdr_copy_fragment(wsi, buf, (int)cap, h, 0);
    if (m != n)
        m = lws_hdr_copy(wsi, buf, (int)cap, h);
    return m < 0 ? CORE_ETOOBIG : m;
}

int http_header_copy(core_http_server *s, struct lws *wsi, const char *name, char *buf,
                     size_t cap)
{
    char key[128];
    int klen = header_key(name, key, sizeof key);
    if (klen < 0 || !wsi || cap == 0 || cap > INT32_MAX)
        return CORE_EINVAL;
    int tok = known_token(s, key, (size_t)klen);
    if (tok >= 0)
        return token_header_get(wsi, (enum lws_token_indexes)tok, buf, cap);
    int n = lws_hdr_custom_length(wsi, key, klen);
    if (n < 0)
        return CORE_ENOTFOUND;
    if ((size_t)n + 1 > cap)
        return CORE_ETOOBIG;
    int m = lws_hdr_custom_copy(wsi, buf, (int)cap, key, klen);
    return m < 0 ? CORE_ETOOBIG : m;
}

/* ---- Carrier over an lws request ---- */

typedef struct lws_carrier {
    core_http_server *s;
    struct lws *wsi;
} lws_carrier;

static _Thread_local lws_carrier tls_carrier;

/* Copies header `name` of wsi like http_header_copy, with the key and token cached by the
 * name's address. */
static int cached_header_copy(core_http_server *s, struct lws *wsi, const char *name, char *buf,
                              size_t cap)
{
    size_t i = 0;
    while (i < s->n_name_cache && s->name_cache[i].name != name)
        i++;
    if (i < s->n_name_cache) {
        /* Same address: make sure it is still the same text (a literal always is). */
        if (strcmp(s->name_cache[i].text, name) != 0)
            return http_header_copy(s, wsi, name, buf, cap);
    } else {
        if (i == sizeof s->name_cache / sizeof s->name_cache[0])
            return http_header_copy(s, wsi, name, buf, cap);
        int klen = header_key(name, s->name_cache[i].key, sizeof s->name_cache[i].key);
        if (klen < 0)
            return http_header_copy(s, wsi, name, buf, cap);
        memcpy(s->name_cache[i].text, name, (size_t)klen - 1); /* klen - 1 == strlen(name) */
        s->name_cache[i].text[klen - 1] = '\0';
        s->name_cache[i].klen = klen;
        s->name_cache[i].token = known_token(s, s->name_cache[i].key, (size_t)klen);
        s->name_cache[i].name = name;
        s->n_name_cache++;
    }
    if (cap > INT32_MAX)
        return CORE_EINVAL;
    const char *key = s->name_cache[i].key;
    int klen = s->name_cache[i].klen, tok = s->name_cache[i].token;
    if (tok >= 0)
        return token_header_get(wsi, (enum lws_token_indexes)tok, buf, cap);
    /* One scan of the custom headers. A header too long for buf reads as missing, which is
     * what the carrier makes of either. */
    int m = lws_hdr_custom_copy(wsi, buf, (int)cap, key, klen);
    return m >= 0 ? m : CORE_ENOTFOUND;
}

static const char *carrier_get(void *ud, const char *name, size_t *len)
{
    lws_carrier *lc = ud;
    core_http_server *s = lc->s;
    size_t room = s->carrier_cap - s->carrier_used;
    if (room < 2)
        return NULL;
    char *dst = s->carrier_buf + s->carrier_used;
    int n = cached_header_copy(s, lc->wsi, name, dst, room);
    if (n < 0)
        return NULL;
    s->carrier_used += (size_t)n + 1;
    if (len)
        *len = (size_t)n;
    return dst;
}

void http_carrier_init(core_http_server *s, struct lws *wsi, tel_carrier *car)
{
    s->carrier_used = 0;
    tls_carrier.s = s;
    tls_carrier.wsi = wsi;
    memset(car, 0, sizeof *car);
    car->ud = &tls_carrier;
    car->get = carrier_get;
}

/* ---- Tracing ---- */

void http_copy_baggage(tel_span *span, const tel_context *ctx)
{
    if (!ctx->bag || !tel_span_is_recording(span))
        return;
    for (size_t i = 0; i < sizeof baggage_keys / sizeof baggage_keys[0]; i++) {
        const char *v = tel_baggage_get(ctx->bag, baggage_keys[i]);
        if (v)
            tel_span_set_str(span, baggage_keys[i], v);
    }
}

static void conn_peer(http_conn *c, struct lws *wsi)
{
    if (c->peer_known)
        return;
    c->peer[0] = '\0';
    lws_get_peer_simple(wsi, c->peer, sizeof c->peer);
    c->peer[sizeof c->peer - 1] = '\0';
    /* IPv4-mapped IPv6 peers read as the IPv4 address. */
    if (strncmp(c->peer, "::ffff:", 7) == 0 && strchr(c->peer + 7, '.'))
        memmove(c->peer, c->peer + 7, strlen(c->peer + 7) + 1);
    c->peer_len = strlen(c->peer);
    c->peer_i = c->peer_len ? core_intern_capped(c->peer, c->peer_len, HTTP_INTERN_ADDR_BYTES)
                            : NULL;
    c->peer_known = true;
}

/* The host part's length and the port (80 when none or invalid) of a Host header h of len bytes:
 * a bracketed IPv6 literal keeps its brackets. */
static size_t host_split(const char *h, size_t len, int64_t *port)
{
    size_t hostlen = len;
    const char *colon = NULL;
    *port = 80;
    if (h[0] == '[') {
        const char *rb = memchr(h, ']', len);
        if (rb) {
            hostlen = (size_t)(rb - h) + 1;
            if (hostlen < len && h[hostlen] == ':')
                colon = h + hostlen;
        }
    } else {
        colon = memchr(h, ':', len);
        if (colon)
            hostlen = (size_t)(colon - h);
    }
    if (colon) {
        int64_t p = 0;
        const char *q = colon + 1;
        size_t ql = len - (size_t)(q - h);
        bool ok = ql > 0 && ql <= 5;
        for (size_t i = 0; ok && i < ql; i++) {
            if (q[i] < '0' || q[i] > '9')
                ok = false;
            else
                p = p * 10 + (q[i] - '0');
        }
        if (ok && p > 0 && p < 65536)
            *port = p;
    }
    return hostlen;
}

/* Sets key to an address of len bytes: by reference when it is interned (interned: its pooled
 * copy), copied from text otherwise. */
static void set_address(tel_span *span, const char *key, const char *interned, const char *text,
                        size_t len)
{
    if (interned)
        tel_span_set_strn_static(span, key, interned, len);
    else
        tel_span_set_strn(span, key, text, len);
}

/* server.address and server.port from the Host header (the server's own address without one).
 * Requests on a connection nearly always send the same Host: the last one split is kept on the
 * connection, and a header equal to it is not split again. */
static void set_server_address(core_http_req *req, struct lws *wsi)
{
    core_http_server *s = req->srv;
    http_conn *c = req->conn;
    char hbuf[256];
    int n = token_header_get(wsi, WSI_TOKEN_HOST, hbuf, sizeof hbuf);
    if (n <= 0) {
        tel_span_set_str(req->span, "server.address", s->address);
        tel_span_set_int(req->span, "server.port", atomic_load(&s->port));
        return;
    }
    size_t len = (size_t)n;
    if (len != c->host_len || memcmp(hbuf, c->host, len) != 0) {
        int64_t port;
        size_t hostlen = host_split(hbuf, len, &port);
        if (len > sizeof c->host) {
            tel_span_set_strn(req->span, "server.address", hbuf, hostlen);
            tel_span_set_int(req->span, "server.port", port);
            return;
        }
        memcpy(c->host, hbuf, len);
        c->host_len = (uint8_t)len;
        c->host_part = (uint8_t)hostlen;
        c->host_port = (uint16_t)port;
        c->host_i = core_intern_capped(hbuf, hostlen, HTTP_INTERN_ADDR_BYTES);
    }
    set_address(req->span, "server.address", c->host_i, hbuf, c->host_part);
    tel_span_set_int(req->span, "server.port", c->host_port);
}

/* The attributes every HTTP server metric of req has (method, scheme) into a[0..2). */
static inline void base_metric_attrs(const core_http_req *req, tel_attr *a)
{
    unsigned mi = method_index(req->method);
    a[0] = (tel_attr){.key = "http.request.method",
                      .type = TEL_ATTR_STRING,
                      .len = method_tab[mi].len,
                      .v.s = method_tab[mi].name};
    a[1] = TEL_ATTR_STR("url.scheme", "http");
}

/* active_add's first time for a method: binds its attribute set (or adds unbound when that
 * fails). Out of line, so that the usual case sets up no frame. */
static __attribute__((noinline)) void active_add_first(core_http_req *req, unsigned mi,
                                                        int64_t delta)
{
    core_http_server *s = req->srv;
    tel_attr a[2];
    base_metric_attrs(req, a);
    tel_bound_attrs *b = tel_instrument_bind(s->m_active, a, 2);
    if (!b) {
        tel_counter_add_int(s->m_active, delta, a, 2);
        return;
    }
    /* Racing binders get the same set. */
    atomic_store_explicit(&s->active_set[mi], b, memory_order_release);
    tel_counter_add_int_bound(s->m_active, b, delta);
}

static void active_add(core_http_req *req, int64_t delta)
{
    core_http_server *s = req->srv;
    if (!s->m_active)
        return;
    unsigned mi = method_index(req->method);
    tel_bound_attrs *b = atomic_load_explicit(&s->active_set[mi], memory_order_acquire);
    if (TEL_UNLIKELY(!b)) {
        active_add_first(req, mi, delta);
        return;
    }
    tel_counter_add_int_bound(s->m_active, b, delta);
}

/* The matched route pattern of req (NULL when none) and its length; *interned tells whether it
 * is the pool's copy (set on spans without copying). */
static const char *req_route(const core_http_req *req, uint32_t *len, bool *interned)
{
    *interned = false;
    if (req->route && req->route->pattern) {
        *interned = true;
        *len = req->route->pattern_len;
        return req->route->pattern;
    }
    if (!req->route && !req->wsroute)
        return NULL;
    if (req->wsroute && req->wsroute->pattern_interned)
        *interned = true;
    const char *r = *interned ? req->wsroute->pattern_interned : req->match.pattern;
    if (r)
        *len = (uint32_t)strlen(r);
    return r;
}

/* True when the request carries none of the carrier fields that can give p a context
 * (tel_propagator_context_fields), so that extracting would leave the context empty: one header
 * lookup per field instead of the carrier's work. The fields' lws keys are prepared once per
 * propagator. A prefix field (jaeger's uberctx-*) cannot be looked up: then this is never
 * true. */
static bool no_context_headers(core_http_server *s, const tel_propagator *p, struct lws *wsi)
{
    if (TEL_UNLIKELY(s->fields_of != p)) {
        const char *f[TEL_PROPAGATOR_MAX_FIELDS];
        size_t n = tel_propagator_context_fields(p, f, TEL_PROPAGATOR_MAX_FIELDS);
        s->n_fields = 0;
        for (size_t i = 0; i < n && s->n_fields >= 0; i++) {
            http_field_key *d = &s->fields[i];
            int klen = header_key(f[i], d->key, sizeof d->key);
            if (klen < 0 || f[i][strlen(f[i]) - 1] == '*') {
                s->n_fields = -1;
                break;
            }
            d->klen = klen;
            d->token = known_token(s, d->key, (size_t)klen);
            s->n_fields++;
        }
        s->fields_of = p;
    }
    for (int i = 0; i < s->n_fields; i++) {
        int tok = s->fields[i].token;
        if (tok >= 0 ? lws_hdr_total_length(wsi, (enum lws_token_indexes)tok) > 0
                     : lws_hdr_custom_length(wsi, s->fields[i].key, s->fields[i].klen) >= 0)
            return false;
    }
    return s->n_fields >= 0;
}

/* The server span's attributes whose values outlive it, for method index mi and the interned
 * route pattern (NULL: none or not interned). */
static void fixed_span_attrs(tel_span_attr_set *set, unsigned mi, const char *route, uint32_t rlen)
{
    tel_attr a[4];
    size_t n = 0;
    a[n++] = (tel_attr){.key = "http.request.method",
                        .type = TEL_ATTR_STRING,
                        .len = method_tab[mi].len,
                        .v.s = method_tab[mi].name};
    a[n++] = (tel_attr){.key = "url.scheme", .type = TEL_ATTR_STRING, .len = 4, .v.s = "http"};
    a[n++] = (tel_attr){
        .key = "network.protocol.version", .type = TEL_ATTR_STRING, .len = 3, .v.s = "1.1"};
    if (route)
        a[n++] = (tel_attr){.key = "http.route", .type = TEL_ATTR_STRING, .len = rlen, .v.s = route};
    tel_span_attr_set_init(set, a, n);
}

void http_trace_begin(core_http_req *req, struct lws *wsi)
{
    core_http_server *s = req->srv;
    req->traced = true;
    bool tracing = s->tracer->enabled;
    /* One clock read at the start: the span's start time and the origin of the duration. With
     * neither traces nor metrics there is nothing to time. */
    req->t0 = tracing || s->m_duration ? tel_clock_now_ns() : 0;
    if (tracing) {
        const tel_propagator *p = s->cfg.propagator ? s->cfg.propagator : tel_propagator_global();
        if (!no_context_headers(s, p, wsi)) {
            tel_carrier car;
            http_carrier_init(s, wsi, &car);
            tel_propagator_extract(p, &car, &req->ctx);
        }
        unsigned mi = method_index(req->method);
        const char *name = NULL;
        bool copy = false;
        if (req->route) {
            if (mi < HTTP_N_METHODS) {
                name = req->route->span_name[mi];
                copy = (req->route->span_name_owned >> mi) & 1u;
            }
        } else if (req->wsroute) {
            name = req->wsroute->span_name;
            copy = true;
        }
        /* Interned names outlive every span record; the others are owned by the server, which
         * spans may outlive in an export queue: they are copied. Method names are literals. */
        if (!name) {
            name = req->method ? method_tab[mi].name : "HTTP";
            copy = false;
        }
        /* The attributes whose values outlive the span (literals, interned route patterns)
         * are set by reference at the start, in one go: prepared with the route, or here. */
        uint32_t rlen = 0;
        bool interned;
        const char *route = req_route(req, &rlen, &interned);
        const tel_span_attr_set *fixed =
            req->route && mi < HTTP_N_METHODS && req->route->span_attrs[mi].n
                ? &req->route->span_attrs[mi]
                : NULL;
        tel_span_attr_set local;
        if (!fixed) {
            fixed_span_attrs(&local, mi, route && interned ? route : NULL, rlen);
            fixed = &local;
        }
        tel_span_start_opts o = {.name = name,
                                 .copy_name = copy,
                                 .kind = TEL_SPAN_KIND_SERVER,
                                 .parent = &req->ctx,
                                 .start_ns = req->t0,
                                 .attr_set = fixed};
        req->span = tel_span_start_ex(s->tracer, &o);
        if (tel_span_is_recording(req->span)) {
            tel_span *sp = req->span;
            if (route && !interned)
                tel_span_set_strn(sp, "http.route", route, rlen);
            tel_span_set_strn(sp, "url.path", req->path, req->path_shown_len);
            set_server_address(req, wsi);
            conn_peer(req->conn, wsi);
            if (req->conn->peer_len)
                set_address(sp, "client.address", req->conn->peer_i, req->conn->peer,
                            req->conn->peer_len);
            char ua[512];
            int n = token_header_get(wsi, WSI_TOKEN_HTTP_USER_AGENT, ua, sizeof ua);
            if (n > 0)
                tel_span_set_strn(sp, "user_agent.original", ua, (size_t)n);
            http_copy_baggage(sp, &req->ctx);
        }
        tel_context_set_span(&req->ctx, req->span);
    } else {
        req->span = tel_span_start(&tracer_off, "", TEL_SPAN_KIND_SERVER, NULL);
    }
    active_add(req, 1);
}

/* "NNN" for a status code 100..999 into buf (4 bytes). */
static const char *status_text(int st, char *buf)
{
    buf[0] = (char)('0' + st / 100);
    buf[1] = (char)('0' + st / 10 % 10);
    buf[2] = (char)('0' + st % 10);
    buf[3] = '\0';
    return buf;
}

/* req's duration, from its start to end, into http.server.request.duration: into bound set b,
 * with span sp as its exemplar, or (b NULL) with attributes a[0..n). Out of line: the usual
 * request hands its duration to its span instead. */
static __attribute__((noinline)) void record_duration(core_http_req *req, const tel_span *sp,
                                                      tel_bound_attrs *b, const tel_attr *a,
                                                      size_t n, uint64_t end)
{
    core_http_server *s = req->srv;
    /* The span clock is the wall clock: a step backwards between the two reads counts as 0. */
    double secs = end > req->t0 ? (double)(end - req->t0) / 1e9 : 0.0;
    if (b) {
        /* The exemplar points at this span (it is no longer current by now). */
        tel_span_context sc = tel_span_get_context(sp);
        tel_histogram_record_bound_at(s->m_duration, b, secs, &sc, end);
    } else {
        tel_histogram_record(s->m_duration, secs, a, n);
    }
}

void http_trace_end(core_http_req *req)
{
    core_http_server *s = req->srv;
    if (!req->traced) {
        tel_context_cleanup(&req->ctx);
        return;
    }
    req->traced = false;
    int st = req->final_status ? req->final_status : req->status;
    char code[16];
    const char *error_type = NULL;
    if (req->final_status || req->orphan || st == 0)
        error_type = req->timed_out ? "timeout" : req->error_type ? req->error_type : "connection_closed";
    if (st >= 500 && !error_type)
        error_type = st <= 999 ? status_text(st, code) : "500";
    /* One clock read at the end, for both the span and the duration (0 when nothing is timed). */
    uint64_t end = req->end_wall_ns ? req->end_wall_ns : req->t0 ? tel_clock_now_ns() : 0;
    tel_span *sp = req->span;
    if (tel_span_is_recording(sp)) {
        if (st)
            tel_span_set_int(sp, "http.response.status_code", st);
        if (error_type) {
            tel_span_set_str(sp, "error.type", error_type);
            tel_span_set_status(sp, TEL_STATUS_ERROR, st >= 500 ? NULL : error_type);
        }
    }
    if (s->m_duration) {
        /* A route's usual answers: the attribute set is bound once, then handed to the span
         * (off the request path: the same duration, this span its exemplar) or recorded here. */
        uint32_t key = 0;
        http_route *r = req->route;
        unsigned mi = method_index(req->method);
        size_t ci = 0;
        if (r && !req->orphan && !error_type && st > 0 && st <= 999) {
            key = (mi + 1u) << 16 | (uint32_t)st;
            ci = ((uint32_t)st * 31u + mi) & (HTTP_DUR_CACHE - 1);
            if (r->dur[ci].key == key) {
                if (!tel_span_defer_duration(sp, s->m_duration, r->dur[ci].b, 1e-9))
                    record_duration(req, sp, r->dur[ci].b, NULL, 0, end);
                goto recorded;
            }
        }
        tel_attr a[5];
        base_metric_attrs(req, a);
        size_t n = 2;
        uint32_t rlen = 0;
        bool interned;
        const char *route = req_route(req, &rlen, &interned);
        if (route)
            a[n++] = (tel_attr){.key = "http.route", .type = TEL_ATTR_STRING, .len = rlen,
                                .v.s = route};
        if (st)
            a[n++] = TEL_ATTR_INT64("http.response.status_code", st);
        if (error_type)
            a[n++] = (tel_attr){.key = "error.type", .type = TEL_ATTR_STRING,
                                .len = (uint32_t)strlen(error_type), .v.s = error_type};
        tel_bound_attrs *b = key ? tel_instrument_bind(s->m_duration, a, n) : NULL;
        if (b) {
            r->dur[ci].key = key;
            r->dur[ci].b = b;
        }
        record_duration(req, sp, b, a, n, end);
    }
recorded:
    tel_span_end_at(sp, end);
    req->span = tel_span_start(&tracer_off, "", TEL_SPAN_KIND_SERVER, NULL);
    active_add(req, -1);
    tel_context_cleanup(&req->ctx);
}

/* ---- Requests ---- */

static int grow(char **p, size_t *cap, size_t need)
{
    if (*cap >= need)
        return CORE_OK;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    char *n = realloc(*p, c);
    if (!n)
        return CORE_ENOMEM;
    *p = n;
    *cap = c;
    return CORE_OK;
}

http_conn *http_conn_get(core_http_server *s, struct lws *wsi)
{
    http_conn *c = lws_get_opaque_user_data(wsi);
    if (c)
        return c;
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = s;
    c->wsi = wsi;
    lws_set_opaque_user_data(wsi, c);
    return c;
}

core_http_req *http_req_begin(http_conn *c, struct lws *wsi, unsigned method, const char *path,
                              size_t len)
{
    core_http_server *s = c->srv;
    core_http_req *r = c->req;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return NULL;
        r->srv = s;
        core_body_init(&r->body, s->cfg.max_body_bytes);
        core_body_init(&r->resp, SIZE_MAX / 4);
        tel_context_init(&r->ctx);
        c->req = r;
    } else if (r->state != RS_IDLE || r->traced) {
        /* Never expected (each answer resets its request), but a request left open must
         * still end its span before the record is reused. */
        if (!r->error_type)
            r->error_type = "abandoned";
        http_trace_end(r);
        http_req_reset(r);
    }
    if (grow(&r->path, &r->path_cap, len + 1) || grow(&r->scratch, &r->scratch_cap, len + 2))
        return NULL;
    memcpy(r->path, path, len);
    r->path[len] = '\0';
    r->path_len = len;
    const char *nul = memchr(path, '\0', len);
    r->path_split = nul != NULL;
    r->path_shown_len = nul ? (size_t)(nul - path) : len;
    r->wsi = wsi;
    r->conn = c;
    r->state = RS_IDLE;
    r->method = method;
    r->is_head = method == CORE_HTTP_HEAD;
    r->t0 = 0;
    r->route = NULL;
    r->wsroute = NULL;
    memset(&r->match, 0, sizeof r->match);
    r->max_body = s->cfg.max_body_bytes;
    r->span = tel_span_start(&tracer_off, "", TEL_SPAN_KIND_SERVER, NULL);
    return r;
}

void http_req_reset(core_http_req *r)
{
    for (size_t i = 0; i < r->n_hdrs; i++) {
        free(r->hdr_name[i]);
        free(r->hdr_val[i]);
    }
    r->n_hdrs = 0;
    tel_context_cleanup(&r->ctx);
    core_body_reset(&r->body, BODY_KEEP);
    core_body_reset(&r->resp, BODY_KEEP);
    r->state = RS_IDLE;
    r->orphan = r->is_upgrade = r->is_head = r->responded = r->close_after = false;
    r->head_done = r->traced = r->timed_out = r->has_ctype = false;
    r->claimed = false;
    r->status = 0;
    r->final_status = 0;
    r->end_wall_ns = 0;
    r->t0 = 0;
    r->error_type = NULL;
    r->write_off = 0;
    r->mw_index = 0;
    r->local = NULL;
    r->route = NULL;
    r->wsroute = NULL;
    r->qnext = NULL;
}

static void http_req_free(core_http_req *r)
{
    if (!r)
        return;
    http_req_reset(r);
    core_body_free(&r->body);
    core_body_free(&r->resp);
    free(r->path);
    free(r->scratch);
    free(r);
}

/* Copies a Content-Type into req (truncated to fit, like the snprintf it replaces). */
static void set_ctype(core_http_req *req, const char *ctype)
{
    size_t n = strnlen(ctype, sizeof req->ctype - 1);
    memcpy(req->ctype, ctype, n);
    req->ctype[n] = '\0';
}

/* Sets the answer of a request the service thread owns (no lock needed: no other thread has
 * it). Overrides nothing once claimed. */
static void set_answer(core_http_req *req, int status, const char *ctype, const void *body,
                       size_t len)
{
    req->claimed = true;
    req->responded = true;
    req->status = status;
    req->has_ctype = ctype != NULL;
    if (ctype)
        set_ctype(req, ctype);
    core_body_reset(&req->resp, BODY_KEEP);
    if (len && core_body_append(&req->resp, body, len) != CORE_OK)
        req->has_ctype = false;
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return core_body_append(data, buf, size) == CORE_OK ? 0 : -1;
}

void http_set_error(core_http_req *req, int status, const char *code, const char *message)
{
    json_t *j = core_json_error_body(code, message);
    req->claimed = true;
    req->responded = true;
    req->status = status;
    core_body_reset(&req->resp, BODY_KEEP);
    req->has_ctype = false;
    if (j && json_dump_callback(j, dump_cb, &req->resp, JSON_COMPACT) == 0) {
        req->has_ctype = true;
        set_ctype(req, "application/json");
    } else {
        core_body_reset(&req->resp, BODY_KEEP);
    }
    json_decref(j);
}

static int add_hdr(core_http_req *req, const char *name, const char *value)
{
    if (req->n_hdrs == HTTP_MAX_RESP_HDRS)
        return CORE_EFULL;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return CORE_ENOMEM;
    }
    req->hdr_name[req->n_hdrs] = n;
    req->hdr_val[req->n_hdrs] = v;
    req->n_hdrs++;
    return CORE_OK;
}

/* ---- Writing ---- */

/* The traceparent header of span (when its context is valid) after *pp. On the HTTP/1.x
 * connection itself (not an h2 stream: this server refuses h2c and has no TLS, so that is every
 * response today) the line is written in place, the value formatted straight into the buffer:
 * lws's generic header writer copies the name byte by byte and the value once more. Returns
 * nonzero when it does not fit. */
static int add_traceparent(const tel_span *span, struct lws *wsi, unsigned char **pp,
                           unsigned char *end)
{
    tel_span_context sc = tel_span_get_context(span);
    if (!tel_span_context_is_valid(&sc))
        return 0;
    static const char name[] = "traceparent: ";
    const size_t nlen = sizeof name - 1;
    if (lws_get_network_wsi(wsi) != wsi) {
        char tp[TEL_TRACEPARENT_LEN + 1];
        tel_traceparent_format(&sc, tp);
        return lws_add_http_header_by_name(wsi, (const unsigned char *)"traceparent:",
                                           (const unsigned char *)tp, TEL_TRACEPARENT_LEN, pp,
                                           end);
    }
    /* name, value and its NUL (overwritten by the CRLF), room left for lws's final CRLF */
    if (end - *pp < (ptrdiff_t)(nlen + TEL_TRACEPARENT_LEN + 1 + 2 + 2))
        return 1;
    unsigned char *p = *pp;
    memcpy(p, name, nlen);
    tel_traceparent_format(&sc, (char *)p + nlen);
    p += nlen + TEL_TRACEPARENT_LEN;
    *p++ = '\r';
    *p++ = '\n';
    *pp = p;
    return 0;
}

static int build_head(core_http_req *req, struct lws *wsi, unsigned char **pp, unsigned char *end)
{
    int st = req->status;
    if (st < 200 || st == 204 || st == 304) {
        if (lws_add_http_header_status(wsi, (unsigned)st, pp, end))
            return -1;
    } else if (lws_add_http_common_headers(wsi, (unsigned)st, req->has_ctype ? req->ctype : NULL,
                                           (lws_filepos_t)req->resp.len, pp, end)) {
        return -1;
    }
    if (req->close_after &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                     pp, end))
        return -1;
    if (!req->span->noop && add_traceparent(req->span, wsi, pp, end))
        return -1;
    for (size_t i = 0; i < req->n_hdrs; i++) {
        char key[80];
        if (header_key(req->hdr_name[i], key, sizeof key) < 0)
            continue;
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)key,
                                        (const unsigned char *)req->hdr_val[i],
                                        (int)strlen(req->hdr_val[i]), pp, end))
            return -1;
    }
    return lws_finalize_http_header(wsi, pp, end) ? -1 : 0;
}

static unsigned char *conn_wbuf(http_conn *c)
{
    if (!c->wbuf)
        c->wbuf = malloc(LWS_PRE + HTTP_HDR_SPACE + HTTP_WRITE_CHUNK);
    return c->wbuf;
}

int http_write_direct(http_conn *c, core_http_req *req)
{
    unsigned char *buf = conn_wbuf(c);
    if (!buf)
        return -1;
    unsigned char *start = buf + LWS_PRE, *p = start;
    if (build_head(req, req->wsi, &p, start + HTTP_HDR_SPACE))
        return -1;
    size_t room = HTTP_WRITE_CHUNK;
    size_t n = req->is_head ? 0 : req->resp.len;
    if (n > room)
        n = room; /* error bodies are small; never truncated in practice */
    if (n)
        memcpy(p, req->resp.data, n);
    p += n;
    if (lws_write(req->wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) < 0)
        return -1;
    return 0;
}

static int write_step(http_conn *c, core_http_req *req)
{
    struct lws *wsi = req->wsi;
    unsigned char *buf = conn_wbuf(c);
    if (!buf)
        return -1;
    unsigned char *start = buf + LWS_PRE, *p = start;
    if (!req->head_done) {
        if (build_head(req, wsi, &p, start + HTTP_HDR_SPACE)) {
            req->error_type = "response_headers_too_large";
            return -1;
        }
        req->head_done = true;
    }
    size_t total = req->is_head ? 0 : req->resp.len;
    size_t room = (size_t)(buf + LWS_PRE + HTTP_HDR_SPACE + HTTP_WRITE_CHUNK - p);
    size_t n = total - req->write_off;
    if (n > room)
        n = room;
    if (n)
        memcpy(p, req->resp.data + req->write_off, n);
    p += n;
    req->write_off += n;
    bool final = req->write_off == total;
    /* The span ends as the last bytes are handed over, read before the write: the write wakes
     * the client, which on a busy machine can take this CPU until long after it has the answer
     * (a server span outliving its client span). */
    if (final && req->t0 && !req->end_wall_ns)
        req->end_wall_ns = tel_clock_now_ns();
    if (lws_write(wsi, start, (size_t)(p - start), final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
        return -1;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    bool close = req->close_after;
    http_trace_end(req);
    http_req_reset(req);
    if (close)
        return -1;
    if (lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

static void schedule_write(core_http_req *req)
{
    req->state = RS_WRITE;
    lws_callback_on_writable(req->wsi);
}

/* ---- Dispatch ---- */

int core_http_next(core_http_req *req)
{
    core_http_server *s = req->srv;
    int i = req->mw_index++;
    if (i < s->n_mw)
        return s->mw[i].fn(req, s->mw[i].ud);
    if (!req->route)
        return CORE_EINTERNAL;
    return req->route->fn(req, req->route->ud);
}

static void go_async(core_http_req *req)
{
    core_http_server *s = req->srv;
    lws_set_timer_usecs(req->wsi, (lws_usec_t)s->cfg.async_timeout_s * LWS_USEC_PER_SEC);
}

static void after_handler(core_http_req *req, int rc)
{
    core_http_server *s = req->srv;
    pthread_mutex_lock(&s->lock);
    if (req->responded) {
        pthread_mutex_unlock(&s->lock);
        schedule_write(req);
        return;
    }
    if (rc == CORE_HTTP_ASYNC || req->claimed) {
        /* Answered later; or another thread is filling in the answer right now and will
         * commit it while the request is marked asynchronous. */
        req->state = RS_ASYNC;
        s->outstanding++;
        req->async_deadline = tel_mono_ns() + (uint64_t)s->cfg.async_timeout_s * 1000000000u;
        pthread_mutex_unlock(&s->lock);
        go_async(req);
        return;
    }
    req->claimed = true; /* nobody else may answer now */
    pthread_mutex_unlock(&s->lock);
    http_set_error(req, 500, "internal",
                   rc < 0 ? core_strerror(rc) : "the handler returned without an answer");
    schedule_write(req);
}

static void dispatch(core_http_req *req)
{
    core_http_server *s = req->srv;
    req->state = RS_HANDLER;
    req->mw_index = req->route->builtin ? s->n_mw : 0;
    tel_span *prev = tel_span_set_current(req->span);
    int rc = core_http_next(req);
    tel_span_set_current(prev);
    after_handler(req, rc);
}

/* Answers a request the service thread owns with an error and schedules the write. */
static void early_error(core_http_req *req, int status, const char *code, const char *msg,
                        bool close)
{
    http_set_error(req, status, code, msg);
    req->close_after = req->close_after || close;
    schedule_write(req);
}

/* Parses a Content-Length value. Returns 0 with *out, or -1. */
static int parse_content_length(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

static int on_http(core_http_server *s, struct lws *wsi, const char *in, size_t len)
{
    http_conn *c = http_conn_get(s, wsi);
    if (!c)
        return -1;
    char *uri = NULL;
    int ulen = 0;
    unsigned method = lws_method_bit(lws_http_get_uri_and_method(wsi, &uri, &ulen));
    if (!in || len == 0) {
        in = "/";
        len = 1;
    }
    core_http_req *req = http_req_begin(c, wsi, method, in, len);
    if (!req)
        return -1;
    core_route_result rr = core_router_match(s->router, method, req->path, req->path_len,
                                             CORE_ROUTER_DECODED, req->scratch, req->scratch_cap,
                                             &req->match);
    if (rr == CORE_ROUTE_OK) {
        req->route = req->match.target;
        if (req->route->max_body)
            req->max_body = req->route->max_body;
    }
    if (!(req->route && req->route->builtin && !s->cfg.trace_builtin))
        http_trace_begin(req, wsi);

    /* Body framing. */
    bool has_te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    int cl_n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    bool has_cl = cl_n > 0;
    uint64_t cl = 0;
    bool bad_cl = false;
    if (has_cl) {
        char tmp[32];
        if (cl_n >= (int)sizeof tmp ||
            lws_hdr_copy(wsi, tmp, sizeof tmp, WSI_TOKEN_HTTP_CONTENT_LENGTH) < 0 ||
            parse_content_length(tmp, (size_t)cl_n, &cl) != 0)
            bad_cl = true;
    }
    bool body_method = method == CORE_HTTP_POST || method == CORE_HTTP_PUT || method == CORE_HTTP_PATCH;
    /* A body we will not read makes keep-alive unsafe when it is unbounded or big. */
    bool unbounded = has_te || bad_cl || (body_method && !has_cl) || cl > req->max_body;

    if (bad_cl) {
        early_error(req, 400, "bad_content_length", "the Content-Length header is not a number", true);
        return 0;
    }
    if (has_te) {
        early_error(req, 411, "length_required",
                    "chunked request bodies are not accepted; send a Content-Length", true);
        return 0;
    }
    switch (rr) {
    case CORE_ROUTE_OK:
        break;
    case CORE_ROUTE_NOT_FOUND:
        early_error(req, 404, "not_found", "no route for this path", unbounded);
        return 0;
    case CORE_ROUTE_BAD_METHOD:
        if (method == CORE_HTTP_OPTIONS) {
            char allow[96];
            core_http_methods_format(req->match.allowed | CORE_HTTP_OPTIONS, allow, sizeof allow);
            add_hdr(req, "allow", allow);
            set_answer(req, 204, NULL, NULL, 0);
            req->close_after = unbounded;
            schedule_write(req);
            return 0;
        } else {
            char allow[96];
            core_http_methods_format(req->match.allowed, allow, sizeof allow);
            add_hdr(req, "allow", allow);
            early_error(req, 405, "method_not_allowed", "this path does not accept this method",
                        unbounded);
        }
        return 0;
    case CORE_ROUTE_BAD_PATH:
        early_error(req, 400, "bad_path",
                    req->path_split ? HTTP_SPLIT_PATH_MSG : "the request path is malformed",
                    unbounded);
        return 0;
    }
    if (body_method && !has_cl) {
        early_error(req, 411, "length_required", "a Content-Length header is required", true);
        return 0;
    }
    if (cl > req->max_body) {
        char msg[96];
        snprintf(msg, sizeof msg, "the request body is over the limit of %zu bytes", req->max_body);
        early_error(req, 413, "body_too_large", msg, true);
        return 0;
    }
    if (cl > 0 || (method == CORE_HTTP_POST && has_cl)) {
        req->state = RS_BODY;
        req->body.max = req->max_body;
        req->body_deadline = tel_mono_ns() + (uint64_t)s->cfg.body_timeout_s * 1000000000u;
        lws_set_timer_usecs(wsi, (lws_usec_t)s->cfg.body_timeout_s * LWS_USEC_PER_SEC);
        return 0;
    }
    dispatch(req);
    return 0;
}

static int on_body(core_http_server *s, struct lws *wsi, const void *in, size_t len)
{
    http_conn *c = lws_get_opaque_user_data(wsi);
    core_http_req *req = c ? c->req : NULL;
    if (!req || req->state != RS_BODY)
        return 0;
    if (tel_mono_ns() > req->body_deadline) {
        req->timed_out = true;
        early_error(req, 408, "request_timeout", "the request body arrived too slowly", true);
        return 0;
    }
    int rc = core_body_append(&req->body, in, len);
    if (rc == CORE_ETOOBIG)
        early_error(req, 413, "body_too_large", "the request body is over the limit", true);
    else if (rc != CORE_OK)
        early_error(req, 500, "internal", "out of memory", true);
    (void)s;
    return 0;
}

static int on_body_done(core_http_server *s, struct lws *wsi)
{
    http_conn *c = lws_get_opaque_user_data(wsi);
    core_http_req *req = c ? c->req : NULL;
    (void)s;
    if (!req || req->state != RS_BODY)
        return 0;
    lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
    dispatch(req);
    return 0;
}

static int on_writeable(core_http_server *s, struct lws *wsi)
{
    http_conn *c = lws_get_opaque_user_data(wsi);
    core_http_req *req = c ? c->req : NULL;
    (void)s;
    if (!req || req->state != RS_WRITE)
        return 0;
    return write_step(c, req);
}

/* The connection of c closed: its request ends (or becomes an orphan when asynchronous). */
static void conn_release_req(core_http_server *s, http_conn *c)
{
    core_http_req *r = c->req;
    if (!r)
        return;
    pthread_mutex_lock(&s->lock);
    if (r->state == RS_ASYNC || r->state == RS_QUEUED) {
        r->orphan = true;
        r->wsi = NULL;
        r->conn = NULL;
        c->req = NULL;
        if (tel_mono_ns() >= r->async_deadline)
            r->timed_out = true;
        pthread_mutex_unlock(&s->lock);
        return;
    }
    pthread_mutex_unlock(&s->lock);
    if (r->state != RS_IDLE) {
        if (r->state == RS_BODY) {
            r->status = r->responded ? r->status : 0;
            if (!r->error_type)
                r->error_type = tel_mono_ns() > r->body_deadline ? "timeout" : "connection_closed";
        } else if (!r->error_type) {
            r->error_type = "connection_closed";
        }
        http_trace_end(r);
        http_req_reset(r);
    }
}

/* Finishes an orphaned request (any thread) and releases its slot in `outstanding`. */
static void finish_orphan(core_http_req *r)
{
    core_http_server *s = r->srv;
    http_trace_end(r);
    http_req_free(r);
    pthread_mutex_lock(&s->lock);
    s->outstanding--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void drain(core_http_server *s)
{
    pthread_mutex_lock(&s->lock);
    core_http_req *q = s->q_head;
    s->q_head = s->q_tail = NULL;
    ws_op *ops = s->op_head;
    s->op_head = s->op_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    while (q) {
        core_http_req *next = q->qnext;
        q->qnext = NULL;
        if (q->orphan) {
            finish_orphan(q);
        } else {
            pthread_mutex_lock(&s->lock);
            s->outstanding--;
            pthread_cond_broadcast(&s->cond);
            pthread_mutex_unlock(&s->lock);
            lws_set_timer_usecs(q->wsi, LWS_SET_TIMER_USEC_CANCEL);
            schedule_write(q);
        }
        q = next;
    }
    if (ops)
        ws_apply_ops(s, ops);
}

static int on_confirm_upgrade(core_http_server *s, struct lws *wsi, const char *what)
{
    if (what && strcasecmp(what, "websocket") == 0)
        return ws_confirm_upgrade(s, wsi);
    /* h2c (or anything else): refused, the request stays HTTP/1.1-only. */
    http_conn *c = http_conn_get(s, wsi);
    if (!c)
        return -1;
    char *uri = NULL;
    int ulen = 0;
    unsigned method = lws_method_bit(lws_http_get_uri_and_method(wsi, &uri, &ulen));
    if (!uri || ulen <= 0) {
        uri = "/";
        ulen = 1;
    }
    core_http_req *req = http_req_begin(c, wsi, method, uri, (size_t)ulen);
    if (!req)
        return -1;
    http_trace_begin(req, wsi);
    http_set_error(req, 400, "h2c_not_supported", "HTTP/2 upgrade (h2c) is not supported; use HTTP/1.1");
    req->close_after = true;
    int rc = http_write_direct(c, req);
    http_trace_end(req);
    http_req_reset(req);
    return rc < 0 ? -1 : 1;
}

/* The per-request timer: the body did not arrive in time (408), or the asynchronous answer did
 * not come in time (504). A late asynchronous answer must stay safe: the request is detached
 * from the connection as an orphan (its span ends at the time of the 504), and the connection
 * answers through a fresh request record. */
static int on_timer(core_http_server *s, struct lws *wsi)
{
    http_conn *c = lws_get_opaque_user_data(wsi);
    core_http_req *r = c ? c->req : NULL;
    if (!r)
        return 0;
    if (r->state == RS_BODY) {
        r->timed_out = true;
        r->error_type = "timeout";
        early_error(r, 408, "request_timeout", "the request body did not arrive in time", true);
        return 0;
    }
    pthread_mutex_lock(&s->lock);
    if (r->state != RS_ASYNC) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    r->orphan = true;
    r->timed_out = true;
    r->final_status = 504;
    r->end_wall_ns = tel_clock_now_ns();
    r->wsi = NULL;
    r->conn = NULL;
    c->req = NULL;
    unsigned method = r->method;
    pthread_mutex_unlock(&s->lock);
    /* r's path is still ours to read: only its answer may arrive concurrently. */
    core_http_req *n = http_req_begin(c, wsi, method, "/", 1);
    if (!n)
        return -1;
    n->close_after = true;
    early_error(n, 504, "timeout", "the service did not answer in time", true);
    return 0;
}

static void on_destroy(core_http_server *s, struct lws *wsi)
{
    http_conn *c = lws_get_opaque_user_data(wsi);
    if (!c)
        return;
    conn_release_req(s, c);
    ws_conn_destroyed(s, c);
    http_req_free(c->req);
    free(c->wbuf);
    lws_set_opaque_user_data(wsi, NULL);
    free(c);
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    (void)user;
    struct lws_context *cx = lws_get_context(wsi);
    core_http_server *s = cx ? lws_context_user(cx) : NULL;
    if (!s)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(s, wsi, in, len);
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(s, wsi, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return on_body_done(s, wsi);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writeable(s, wsi);
    case LWS_CALLBACK_CLOSED_HTTP: {
        http_conn *c = lws_get_opaque_user_data(wsi);
        if (c)
            conn_release_req(s, c);
        return 0;
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return on_confirm_upgrade(s, wsi, in);
    case LWS_CALLBACK_ADD_HEADERS:
        return ws_add_headers(s, wsi, in);
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        drain(s);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        on_destroy(s, wsi);
        return 0;
    case LWS_CALLBACK_TIMER:
        return on_timer(s, wsi);
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    case LWS_CALLBACK_CLOSED:
        return ws_callback(s, wsi, reason, in, len);
    default:
        return 0;
    }
}

/* ---- Built-in routes ---- */

static int h_healthz(core_http_req *req, void *ud)
{
    (void)ud;
    static const char body[] = "{\"status\":\"ok\"}";
    return core_http_respond(req, 200, "application/json", body, sizeof body - 1);
}

static int h_readyz(core_http_req *req, void *ud)
{
    core_http_server *s = ud;
    bool ready = s->cfg.ready ? s->cfg.ready(s->cfg.ready_ud) : true;
    if (!ready)
        return core_http_respond_error(req, 503, "not_ready", "the service is not ready");
    static const char body[] = "{\"status\":\"ready\"}";
    return core_http_respond(req, 200, "application/json", body, sizeof body - 1);
}

static int h_metrics(core_http_req *req, void *ud)
{
    core_http_server *s = ud;
    char accept[512];
    int n = core_http_req_header(req, "accept", accept, sizeof accept);
    bool om = n > 0 && on_list_ci(accept, (size_t)n, "application/openmetrics-text");
    tel_buf out = TEL_BUF_INIT;
    int rc = tel_prometheus_render(s->cfg.meters, om, &out);
    if (rc != TEL_OK) {
        tel_buf_free(&out);
        return core_http_respond_error(req, 500, "internal", "metrics rendering failed");
    }
    rc = core_http_respond(req, 200,
                           om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                              : "text/plain; version=0.0.4; charset=utf-8",
                           out.data, out.len);
    tel_buf_free(&out);
    return rc;
}

/* ---- Server life cycle ---- */

static int add_route(core_http_server *s, unsigned methods, const char *pattern,
                     core_http_handler_fn fn, void *ud, size_t max_body, bool builtin)
{
    if (!s || !fn || !pattern)
        return CORE_EINVAL;
    if (s->started)
        return CORE_ESTATE;
    http_route *r = calloc(1, sizeof *r);
    if (!r)
        return CORE_ENOMEM;
    r->fn = fn;
    r->ud = ud;
    r->max_body = max_body;
    r->builtin = builtin;
    int rc = core_router_add(s->router, methods, pattern, r);
    if (rc != CORE_OK) {
        free(r);
        return rc;
    }
    /* The per-request strings, made once: the route pattern and the span names, interned so
     * that spans reference them without copying (copied per span only past the pool's bound). */
    size_t plen = strlen(pattern);
    r->pattern = plen <= UINT32_MAX ? core_intern(pattern, plen) : NULL;
    r->pattern_len = (uint32_t)plen;
    unsigned named = (methods & CORE_HTTP_GET) ? methods | CORE_HTTP_HEAD : methods;
    pthread_once(&method_tab_once, method_tab_init);
    for (int i = 0; i < HTTP_N_METHODS; i++) {
        if (!(named & (1u << i)))
            continue;
        if (r->pattern)
            fixed_span_attrs(&r->span_attrs[i], (unsigned)i, r->pattern, r->pattern_len);
        const char *m = core_http_method_name(1u << i);
        size_t n = strlen(m) + 1 + plen + 1;
        char *name = malloc(n);
        if (!name)
            continue; /* the route is registered; it just keeps the generic name */
        snprintf(name, n, "%s %s", m, pattern);
        r->span_name[i] = core_intern(name, n - 1);
        if (r->span_name[i]) {
            free(name);
        } else {
            r->span_name[i] = name;
            r->span_name_owned |= 1u << i;
        }
    }
    rc = CORE_OK;
    r->next = s->routes;
    s->routes = r;
    return CORE_OK;
}

core_http_server *core_http_server_create(const core_http_server_config *cfg)
{
    pthread_once(&method_tab_once, method_tab_init);
    core_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (cfg)
        s->cfg = *cfg;
    core_http_server_config *c = &s->cfg;
    if (!c->max_body_bytes)
        c->max_body_bytes = CORE_JSON_DEFAULT_MAX_BYTES;
    if (c->max_header_bytes < 16384)
        c->max_header_bytes = 16384;
    if (c->max_header_bytes > 1u << 20)
        c->max_header_bytes = 1u << 20;
    if (!c->body_timeout_s)
        c->body_timeout_s = 10;
    if (!c->keepalive_timeout_s)
        c->keepalive_timeout_s = 5;
    if (!c->async_timeout_s)
        c->async_timeout_s = 60;
    if (!c->drain_timeout_ms)
        c->drain_timeout_ms = 5000;
    s->address = strdup(c->address ? c->address : "127.0.0.1");
    c->address = s->address;
    s->tracer = c->tracer ? c->tracer : tel_global_tracer("bmcfleet.core.http", BMC_VERSION);
    s->router = core_router_create();
    s->ws_router = core_router_create();
    s->carrier_cap = c->max_header_bytes + 512;
    s->carrier_buf = malloc(s->carrier_cap);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->next_ws_id = 1;
    if (!s->address || !s->router || !s->ws_router || !s->carrier_buf || build_known_headers(s)) {
        core_http_server_destroy(s);
        return NULL;
    }
    if (c->meters) {
        tel_meter *m = tel_meter_get(c->meters, "bmcfleet.core.http", BMC_VERSION);
        tel_instrument_opts ho = {.unit = "s",
                                  .description = "Duration of HTTP server requests.",
                                  .bounds = http_duration_bounds,
                                  .n_bounds = sizeof http_duration_bounds / sizeof(double)};
        /* An exemplar of +1 or -1 would point at whichever request came or went last. */
        tel_instrument_opts ao = {.unit = "{request}",
                                  .description = "Number of active HTTP server requests.",
                                  .value_is_int = true,
                                  .no_exemplars = true};
        s->m_duration = m ? tel_meter_create(m, TEL_INSTR_HISTOGRAM, "http.server.request.duration", &ho) : NULL;
        s->m_active = m ? tel_meter_create(m, TEL_INSTR_UP_DOWN_COUNTER, "http.server.active_requests", &ao) : NULL;
        /* No-op instruments (disabled provider) are dropped: the request path then skips the
         * metrics, clock read included, with one test. */
        if (!tel_instrument_enabled(s->m_duration))
            s->m_duration = NULL;
        if (!tel_instrument_enabled(s->m_active))
            s->m_active = NULL;
    }
    if (!c->no_builtin) {
        if (add_route(s, CORE_HTTP_GET, "/healthz", h_healthz, s, 0, true) ||
            add_route(s, CORE_HTTP_GET, "/readyz", h_readyz, s, 0, true) ||
            (c->meters && add_route(s, CORE_HTTP_GET, "/metrics", h_metrics, s, 0, true))) {
            core_http_server_destroy(s);
            return NULL;
        }
    }
    return s;
}

int core_http_server_route(core_http_server *s, unsigned methods, const char *pattern,
                           core_http_handler_fn fn, void *ud)
{
    return add_route(s, methods, pattern, fn, ud, 0, false);
}

int core_http_server_route_ex(core_http_server *s, unsigned methods, const char *pattern,
                              core_http_handler_fn fn, void *ud, const core_http_route_opts *o)
{
    return add_route(s, methods, pattern, fn, ud, o ? o->max_body_bytes : 0, false);
}

int core_http_server_use(core_http_server *s, core_http_middleware_fn fn, void *ud)
{
    if (!s || !fn)
        return CORE_EINVAL;
    if (s->started)
        return CORE_ESTATE;
    if (s->n_mw == HTTP_MAX_MW)
        return CORE_EFULL;
    s->mw[s->n_mw].fn = fn;
    s->mw[s->n_mw].ud = ud;
    s->n_mw++;
    return CORE_OK;
}

/* libwebsockets' own log lines (errors only: mostly clients that broke a limit) go to the JSON
 * log as warnings. */
static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    tel_attr a = TEL_ATTR_STR("component", "libwebsockets");
    tel_log(level == LLL_ERR ? TEL_LOG_WARN : TEL_LOG_INFO, &a, 1, "%.*s", (int)n, line);
}

static void *service_main(void *arg)
{
    core_http_server *s = arg;
    while (!atomic_load(&s->stopping)) {
        if (lws_service(s->ctx, 0) < 0)
            break;
    }
    return NULL;
}

int core_http_server_start(core_http_server *s)
{
    if (!s)
        return CORE_EINVAL;
    if (s->started)
        return CORE_ESTATE;
    size_t n_sub = 0;
    const char **subs = ws_subprotocols(s, &n_sub);
    if (!subs)
        return CORE_ENOMEM;
    s->protocols = calloc(n_sub + 2, sizeof *s->protocols);
    if (!s->protocols) {
        free(subs);
        return CORE_ENOMEM;
    }
    s->protocols[0].name = "http";
    s->protocols[0].callback = http_callback;
    s->protocols[0].per_session_data_size = sizeof(void *);
    s->protocols[0].rx_buffer_size = 16384;
    for (size_t i = 0; i < n_sub; i++) {
        s->protocols[i + 1].name = subs[i];
        s->protocols[i + 1].callback = http_callback;
        s->protocols[i + 1].per_session_data_size = sizeof(void *);
        s->protocols[i + 1].rx_buffer_size = 16384;
    }
    s->n_protocols = n_sub + 1;
    free(subs);

    lws_set_log_level(LLL_ERR, lws_log_emit);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = s->cfg.port;
    info.iface = s->address;
    info.protocols = s->protocols;
    info.user = s;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (!strchr(s->address, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.max_http_header_data = (unsigned short)(s->cfg.max_header_bytes > 65535 ? 65535 : s->cfg.max_header_bytes);
    if (s->cfg.max_header_bytes > 65535)
        info.max_http_header_data2 = (unsigned int)s->cfg.max_header_bytes;
    /* Our own per-request timer answers 408 first; libwebsockets' content timeout (which just
     * closes) stays as a backstop. */
    info.timeout_secs = s->cfg.body_timeout_s + 3;
    info.timeout_secs_ah_idle = s->cfg.body_timeout_s;
    info.keepalive_timeout = (int)s->cfg.keepalive_timeout_s;
    info.server_string = "bmcfleet";
    info.pt_serv_buf_size = 16384;
    info.count_threads = 1;
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        tel_log_error("http server: cannot listen on %s:%d", s->address, s->cfg.port);
        free(s->protocols);
        s->protocols = NULL;
        return CORE_EIO;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(s->ctx, "default");
    atomic_store(&s->port, vh ? lws_get_vhost_listen_port(vh) : s->cfg.port);
    pthread_mutex_lock(&s->lock);
    s->ctx_alive = true;
    pthread_mutex_unlock(&s->lock);
    atomic_store(&s->stopping, false);
    s->started = true;
    if (pthread_create(&s->thread, NULL, service_main, s) != 0) {
        pthread_mutex_lock(&s->lock);
        s->ctx_alive = false;
        pthread_mutex_unlock(&s->lock);
        lws_context_destroy(s->ctx);
        s->ctx = NULL;
        s->started = false;
        return CORE_ENOMEM;
    }
    return CORE_OK;
}

int core_http_server_port(const core_http_server *s)
{
    return s ? atomic_load(&((core_http_server *)s)->port) : 0;
}

void core_http_server_stop(core_http_server *s)
{
    if (!s || !s->ctx)
        return;
    atomic_store(&s->stopping, true);
    lws_cancel_service(s->ctx);
    pthread_join(s->thread, NULL);
    pthread_mutex_lock(&s->lock);
    s->ctx_alive = false;
    pthread_mutex_unlock(&s->lock);
    lws_context_destroy(s->ctx);
    s->ctx = NULL;
    /* Every connection is gone: queued answers are orphans now, and so are cross-thread
     * WebSocket operations. */
    drain(s);
    atomic_store(&s->port, 0);
}

void core_http_server_destroy(core_http_server *s)
{
    if (!s)
        return;
    core_http_server_stop(s);
    pthread_mutex_lock(&s->lock);
    uint64_t deadline = tel_mono_ns() + (uint64_t)s->cfg.drain_timeout_ms * 1000000u;
    while (s->outstanding > 0 && tel_mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    size_t left = s->outstanding;
    pthread_mutex_unlock(&s->lock);
    if (left > 0) {
        tel_log_error("http server: %zu asynchronous request(s) still unanswered at destroy; "
                      "leaking the server state so that late answers stay safe",
                      left);
        return;
    }
    for (http_route *r = s->routes; r;) {
        http_route *n = r->next;
        for (int i = 0; i < HTTP_N_METHODS; i++)
            if ((r->span_name_owned >> i) & 1u)
                free((char *)r->span_name[i]);
        free(r);
        r = n;
    }
    ws_routes_free(s);
    core_router_destroy(s->router);
    core_router_destroy(s->ws_router);
    free(s->protocols);
    free(s->carrier_buf);
    free(s->known);
    free(s->address);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

/* ---- Request accessors ---- */

unsigned core_http_req_method(const core_http_req *req)
{
    return req->method;
}

const char *core_http_req_method_name(const core_http_req *req)
{
    return core_http_method_name(req->method);
}

const char *core_http_req_path(const core_http_req *req)
{
    return req->path;
}

const char *core_http_req_route(const core_http_req *req)
{
    return (req->route || req->wsroute) ? req->match.pattern : NULL;
}

const char *core_http_req_param(const core_http_req *req, const char *name)
{
    return core_route_param(&req->match, name);
}

const char *core_http_req_peer(const core_http_req *req)
{
    if (req->conn && req->wsi)
        conn_peer(req->conn, req->wsi);
    return req->conn ? req->conn->peer : "";
}

int core_http_req_header(core_http_req *req, const char *name, char *buf, size_t cap)
{
    if (!req || !name || !buf)
        return CORE_EINVAL;
    if (!req->wsi || req->state == RS_ASYNC || req->state == RS_QUEUED)
        return CORE_ESTATE;
    return http_header_copy(req->srv, req->wsi, name, buf, cap);
}

int core_http_req_query(core_http_req *req, const char *name, char *buf, size_t cap)
{
    if (!req || !name || !buf || cap == 0 || cap > INT32_MAX)
        return CORE_EINVAL;
    if (!req->wsi || req->state == RS_ASYNC || req->state == RS_QUEUED)
        return CORE_ESTATE;
    size_t nl = strlen(name);
    if (nl == 0 || nl > 120)
        return CORE_EINVAL;
    char key[128];
    memcpy(key, name, nl);
    key[nl] = '=';
    key[nl + 1] = '\0';
    for (int i = 0; i < 1024; i++) {
        int fl = lws_hdr_fragment_length(req->wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        char small[512];
        char *frag = fl < (int)sizeof small ? small : malloc((size_t)fl + 1);
        if (!frag)
            return CORE_ENOMEM;
        int n = lws_hdr_copy_fragment(req->wsi, frag, fl + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
        int rc = 0;
        bool done = true; /* false: keep looking (a found value may be of any length, 1 too) */
        if (n < 0) {
            rc = CORE_ENOTFOUND;
        } else if ((size_t)n > nl && memcmp(frag, key, nl + 1) == 0) {
            size_t vl = (size_t)n - nl - 1;
            if (vl + 1 > cap) {
                rc = CORE_ETOOBIG;
            } else {
                memcpy(buf, frag + nl + 1, vl);
                buf[vl] = '\0';
                rc = (int)vl;
            }
        } else if ((size_t)n == nl && memcmp(frag, name, nl) == 0) {
            buf[0] = '\0';
            rc = 0;
        } else {
            done = false;
        }
        if (frag != small)
            free(frag);
        if (done)
            return rc;
    }
    return CORE_ENOTFOUND;
}

const char *core_http_req_body(const core_http_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data ? req->body.data : "";
}

int core_http_req_json(core_http_req *req, json_t **out)
{
    core_json_limits lim = {.max_bytes = req->max_body, .max_depth = CORE_JSON_DEFAULT_MAX_DEPTH};
    core_json_diag d;
    int rc = core_json_parse(req->body.data ? req->body.data : "", req->body.len, &lim, out, &d);
    if (rc == CORE_OK)
        return CORE_OK;
    int status = d.problem == CORE_JSON_TOO_BIG ? 413 : d.problem == CORE_JSON_NO_MEMORY ? 500 : 400;
    core_http_respond_error(req, status, core_json_problem_code(d.problem), d.message);
    return rc;
}

const tel_context *core_http_req_context(const core_http_req *req)
{
    return &req->ctx;
}

tel_span *core_http_req_span(core_http_req *req)
{
    return req->span;
}

void core_http_req_set_local(core_http_req *req, void *p)
{
    req->local = p;
}

void *core_http_req_local(const core_http_req *req)
{
    return req->local;
}

/* ---- Answering ---- */

static bool header_name_ok(const char *n)
{
    if (!n || !n[0] || strlen(n) > 64)
        return false;
    for (const char *p = n; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

int core_http_resp_header(core_http_req *req, const char *name, const char *value)
{
    if (!req || !header_name_ok(name) || !value || strpbrk(value, "\r\n"))
        return CORE_EINVAL;
    if (req->claimed)
        return CORE_ESTATE;
    size_t total = strlen(name) + strlen(value);
    for (size_t i = 0; i < req->n_hdrs; i++)
        total += strlen(req->hdr_name[i]) + strlen(req->hdr_val[i]);
    if (total > MAX_RESP_HDR_BYTES)
        return CORE_ETOOBIG;
    return add_hdr(req, name, value);
}

/* Marks req as being answered by the caller. */
static int claim(core_http_req *req)
{
    core_http_server *s = req->srv;
    pthread_mutex_lock(&s->lock);
    if (req->claimed || req->responded || req->state == RS_QUEUED || req->state == RS_WRITE) {
        pthread_mutex_unlock(&s->lock);
        return CORE_ESTATE;
    }
    req->claimed = true;
    pthread_mutex_unlock(&s->lock);
    return CORE_OK;
}

/* Publishes the answer filled in by the claimer. */
static void commit(core_http_req *req)
{
    core_http_server *s = req->srv;
    pthread_mutex_lock(&s->lock);
    req->responded = true;
    if (req->state != RS_ASYNC) {
        /* On the service thread inside the handler (or the upgrade callback): picked up when
         * it returns. */
        pthread_mutex_unlock(&s->lock);
        return;
    }
    if (req->orphan) {
        pthread_mutex_unlock(&s->lock);
        finish_orphan(req);
        return;
    }
    req->state = RS_QUEUED;
    req->qnext = NULL;
    if (s->q_tail)
        s->q_tail->qnext = req;
    else
        s->q_head = req;
    s->q_tail = req;
    if (s->ctx_alive)
        lws_cancel_service(s->ctx);
    pthread_mutex_unlock(&s->lock);
}

int core_http_respond(core_http_req *req, int status, const char *content_type, const void *body,
                      size_t len)
{
    if (!req)
        return CORE_EINVAL;
    int rc = claim(req);
    if (rc != CORE_OK)
        return rc;
    if (status < 100 || status > 599)
        status = 500;
    req->status = status;
    req->has_ctype = false;
    if (content_type && !strpbrk(content_type, "\r\n")) {
        set_ctype(req, content_type);
        req->has_ctype = true;
    }
    core_body_reset(&req->resp, BODY_KEEP);
    rc = CORE_OK;
    if (len && body && core_body_append(&req->resp, body, len) != CORE_OK) {
        core_body_reset(&req->resp, BODY_KEEP);
        req->status = 500;
        req->has_ctype = false;
        rc = CORE_ENOMEM;
    }
    commit(req);
    return rc;
}

int core_http_respond_json(core_http_req *req, int status, json_t *j)
{
    if (!req) {
        json_decref(j);
        return CORE_EINVAL;
    }
    int rc = claim(req);
    if (rc != CORE_OK) {
        json_decref(j);
        return rc;
    }
    core_body_reset(&req->resp, BODY_KEEP);
    req->status = status < 100 || status > 599 ? 500 : status;
    req->has_ctype = true;
    set_ctype(req, "application/json");
    if (!j || json_dump_callback(j, dump_cb, &req->resp, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
        core_body_reset(&req->resp, BODY_KEEP);
        req->status = 500;
        req->has_ctype = false;
        rc = j ? CORE_ENOMEM : CORE_EINVAL;
    }
    json_decref(j);
    commit(req);
    return rc;
}

int core_http_respond_error(core_http_req *req, int status, const char *code, const char *message)
{
    return core_http_respond_json(req, status, core_json_error_body(code, message));
}
