/* WebSocket endpoints of the HTTP server: upgrade checks and tracing, per-connection span,
 * message reassembly, outgoing queue with backpressure, cross-thread operations by id. */
#include "http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "intern.h"

#define WS_CHUNK (64u * 1024u)
#define WS_REASON_MAX 123
#define RX_KEEP (64u * 1024u)

struct core_ws_conn {
    core_http_server *srv;
    struct lws *wsi;
    http_conn *hc;
    ws_route *route;
    uint64_t id;
    tel_span *span;
    tel_context ctx;
    char *pattern; /* copy of the route pattern (for attributes) */
    size_t n_params;
    char *names[CORE_ROUTER_MAX_PARAMS];
    char *values[CORE_ROUTER_MAX_PARAMS];
    void *local;
    core_body rx;
    bool rx_binary;
    ws_op *txq_head, *txq_tail;
    atomic_size_t queued; /* bytes queued or posted, not yet written */
    bool rx_paused_bp, rx_paused_app, above_hi;
    bool close_pending; /* we close after the queue drained */
    bool closing;       /* no more sends accepted */
    int close_code;
    char close_reason[WS_REASON_MAX + 1];
    bool peer_closed;
    int peer_code;
    char peer_reason[WS_REASON_MAX + 1];
    bool server_closed;
    bool finished;
    uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
    struct core_ws_conn *hnext;
};

/* ---- Registry (modified on the service thread under the server lock) ---- */

static core_ws_conn **bucket(core_http_server *s, uint64_t id)
{
    return &s->registry[id % WS_REGISTRY_BUCKETS];
}

static core_ws_conn *registry_find(core_http_server *s, uint64_t id)
{
    for (core_ws_conn *w = *bucket(s, id); w; w = w->hnext)
        if (w->id == id)
            return w;
    return NULL;
}

static void registry_remove(core_http_server *s, core_ws_conn *w)
{
    for (core_ws_conn **pp = bucket(s, w->id); *pp; pp = &(*pp)->hnext) {
        if (*pp == w) {
            *pp = w->hnext;
            return;
        }
    }
}

/* ---- Routes ---- */

static char *dupn(const char *s)
{
    return s ? strdup(s) : NULL;
}

int core_http_server_ws_route(core_http_server *s, const char *pattern, const core_ws_handlers *h,
                              const core_ws_route_opts *o, void *ud)
{
    if (!s || !pattern || !h)
        return CORE_EINVAL;
    if (s->started)
        return CORE_ESTATE;
    ws_route *r = calloc(1, sizeof *r);
    if (!r)
        return CORE_ENOMEM;
    r->h = *h;
    r->ud = ud;
    r->pattern = strdup(pattern);
    r->pattern_interned = core_intern(pattern, strlen(pattern)); /* NULL: copied per span */
    r->max_msg = o && o->max_message_bytes ? o->max_message_bytes : CORE_JSON_DEFAULT_MAX_BYTES;
    r->hi = o && o->tx_high_water ? o->tx_high_water : 1024 * 1024;
    r->lo = o && o->tx_low_water ? o->tx_low_water : r->hi / 4;
    if (r->lo > r->hi)
        r->lo = r->hi;
    r->max_q = o && o->tx_max_queued ? o->tx_max_queued : 4 * r->hi;
    size_t pl = strlen(pattern) + 5; /* "GET " or "WS " and the NUL */
    r->span_name = malloc(pl);
    r->conn_span_name = malloc(pl);
    if (r->span_name)
        snprintf(r->span_name, pl, "GET %s", pattern);
    if (r->conn_span_name)
        snprintf(r->conn_span_name, pl, "WS %s", pattern);
    int rc = r->pattern && r->span_name && r->conn_span_name ? CORE_OK : CORE_ENOMEM;
    if (rc == CORE_OK && o && o->subprotocol) {
        r->subprotocol = dupn(o->subprotocol);
        if (!r->subprotocol || !o->subprotocol[0] || strpbrk(o->subprotocol, ", \t"))
            rc = r->subprotocol ? CORE_EINVAL : CORE_ENOMEM;
    }
    if (rc == CORE_OK && o && o->allowed_origins) {
        size_t n = 0;
        while (o->allowed_origins[n])
            n++;
        /* calloc'd: slots not filled after a failure stay NULL and free(NULL) is fine. */
        r->origins = calloc(n ? n : 1, sizeof *r->origins);
        if (!r->origins)
            rc = CORE_ENOMEM;
        else
            r->n_origins = n;
        for (size_t i = 0; rc == CORE_OK && i < n; i++) {
            if (strcmp(o->allowed_origins[i], "*") == 0)
                r->any_origin = true;
            r->origins[i] = strdup(o->allowed_origins[i]);
            if (!r->origins[i])
                rc = CORE_ENOMEM;
        }
    }
    if (rc == CORE_OK)
        rc = core_router_add(s->ws_router, CORE_HTTP_GET, pattern, r);
    if (rc != CORE_OK) {
        for (size_t i = 0; r->origins && i < r->n_origins; i++)
            free(r->origins[i]);
        free(r->origins);
        free(r->subprotocol);
        free(r->pattern);
        free(r->span_name);
        free(r->conn_span_name);
        free(r);
        return rc;
    }
    /* A route without an origin list keeps origins NULL: the same-origin rule applies. */
    r->next = s->ws_routes;
    s->ws_routes = r;
    return CORE_OK;
}

void ws_routes_free(core_http_server *s)
{
    for (ws_route *r = s->ws_routes; r;) {
        ws_route *n = r->next;
        for (size_t i = 0; r->origins && i < r->n_origins; i++)
            free(r->origins[i]);
        free(r->origins);
        free(r->subprotocol);
        free(r->pattern);
        free(r->span_name);
        free(r->conn_span_name);
        free(r);
        r = n;
    }
    s->ws_routes = NULL;
}

const char **ws_subprotocols(core_http_server *s, size_t *n)
{
    size_t cap = 1;
    for (ws_route *r = s->ws_routes; r; r = r->next)
        cap++;
    const char **out = calloc(cap, sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (ws_route *r = s->ws_routes; r; r = r->next) {
        if (!r->subprotocol || strcmp(r->subprotocol, "http") == 0)
            continue;
        bool dup = false;
        for (size_t i = 0; i < k && !dup; i++)
            dup = strcmp(out[i], r->subprotocol) == 0;
        if (!dup)
            out[k++] = r->subprotocol;
    }
    *n = k;
    return out;
}

/* ---- Upgrade ---- */

/* True when token t[0..tl) names a registered lws protocol. */
static bool is_protocol(core_http_server *s, const char *t, size_t tl)
{
    for (size_t i = 0; i < s->n_protocols; i++) {
        const char *nm = s->protocols[i].name;
        if (strlen(nm) == tl && strncmp(nm, t, tl) == 0)
            return true;
    }
    return false;
}

/* Checks the offered subprotocols against the route. Returns NULL when fine, else a reason. */
static const char *check_subprotocol(core_http_server *s, ws_route *r, struct lws *wsi)
{
    char offered[512];
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL);
    if (n <= 0) {
        return r->subprotocol ? "this endpoint requires a WebSocket subprotocol" : NULL;
    }
    if (n >= (int)sizeof offered || lws_hdr_copy(wsi, offered, sizeof offered, WSI_TOKEN_PROTOCOL) < 0)
        return "the Sec-WebSocket-Protocol header is too long";
    if (!r->subprotocol)
        return "this endpoint takes no WebSocket subprotocol";
    /* libwebsockets selects the first offered token naming one of its protocols: it must be
     * ours. */
    const char *p = offered;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *t = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        size_t tl = (size_t)(p - t);
        if (tl && is_protocol(s, t, tl)) {
            if (strlen(r->subprotocol) == tl && strncmp(r->subprotocol, t, tl) == 0)
                return NULL;
            break;
        }
    }
    return "the offered WebSocket subprotocols do not include the one this endpoint requires";
}

/* Origin rule (see core_ws_route_opts). Returns true when allowed. */
static bool origin_allowed(core_http_server *s, ws_route *r, struct lws *wsi)
{
    char origin[512], host[300];
    int n = http_header_copy(s, wsi, "origin", origin, sizeof origin);
    if (n == CORE_ENOTFOUND)
        return true; /* not a browser */
    if (n < 0)
        return false;
    if (r->origins) {
        if (r->any_origin)
            return true;
        for (size_t i = 0; i < r->n_origins; i++)
            if (strcasecmp(r->origins[i], origin) == 0)
                return true;
        return false;
    }
    /* Same origin: scheme://host[:port] must match the Host header. */
    const char *sep = strstr(origin, "://");
    if (!sep)
        return false;
    const char *oh = sep + 3;
    int hn = http_header_copy(s, wsi, "host", host, sizeof host);
    if (hn <= 0)
        return false;
    return strcasecmp(oh, host) == 0;
}

static int refuse(http_conn *c, core_http_req *req, int status, const char *code, const char *msg)
{
    if (!req->responded)
        http_set_error(req, status, code, msg);
    int rc = http_write_direct(c, req);
    http_trace_end(req);
    http_req_reset(req);
    return rc < 0 ? -1 : 1;
}

int ws_confirm_upgrade(core_http_server *s, struct lws *wsi)
{
    http_conn *c = http_conn_get(s, wsi);
    if (!c)
        return -1;
    char *uri = NULL;
    int ulen = 0;
    if (lws_http_get_uri_and_method(wsi, &uri, &ulen) < 0)
        uri = NULL;
    if (!uri || ulen <= 0) {
        uri = "/";
        ulen = 1;
    }
    core_http_req *req = http_req_begin(c, wsi, CORE_HTTP_GET, uri, (size_t)ulen);
    if (!req)
        return -1;
    req->is_upgrade = true;
    if (req->path_split) {
        http_trace_begin(req, wsi);
        return refuse(c, req, 400, "bad_path", HTTP_SPLIT_PATH_MSG);
    }
    core_route_result rr = core_router_match(s->ws_router, CORE_HTTP_GET, req->path, req->path_len,
                                             CORE_ROUTER_DECODED, req->scratch, req->scratch_cap,
                                             &req->match);
    if (rr == CORE_ROUTE_OK)
        req->wsroute = req->match.target;
    http_trace_begin(req, wsi);
    if (!req->wsroute)
        return refuse(c, req, 404, "not_found", "no WebSocket endpoint at this path");
    ws_route *r = req->wsroute;
    if (!origin_allowed(s, r, wsi))
        return refuse(c, req, 403, "origin_not_allowed", "the Origin of this request is not allowed");
    const char *why = check_subprotocol(s, r, wsi);
    if (why)
        return refuse(c, req, 400, "bad_subprotocol", why);
    if (r->h.on_upgrade) {
        req->state = RS_HANDLER;
        tel_span *prev = tel_span_set_current(req->span);
        int rc = r->h.on_upgrade(req, r->ud);
        tel_span_set_current(prev);
        if (req->responded)
            return refuse(c, req, req->status, NULL, NULL);
        if (rc >= 400 && rc <= 599)
            return refuse(c, req, rc, rc < 500 ? "upgrade_refused" : "internal",
                          "the WebSocket upgrade was refused");
        if (rc != 0)
            return refuse(c, req, 500, "internal", "the WebSocket upgrade failed");
    }
    /* Accepted: the upgrade span ends at ESTABLISHED (101). Until then the request counts as
     * in progress, so that a connection lost during the handshake ends the span. */
    req->state = RS_HANDLER;
    req->claimed = true;
    return 0;
}

int ws_add_headers(core_http_server *s, struct lws *wsi, struct lws_process_html_args *args)
{
    (void)s;
    http_conn *c = lws_get_opaque_user_data(wsi);
    core_http_req *req = c ? c->req : NULL;
    if (!req || !req->is_upgrade || !args)
        return 0;
    tel_span_context sc = tel_span_get_context(req->span);
    if (!tel_span_context_is_valid(&sc))
        return 0;
    char tp[TEL_TRACEPARENT_LEN + 1];
    tel_traceparent_format(&sc, tp);
    unsigned char *p = (unsigned char *)args->p;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"traceparent:",
                                    (const unsigned char *)tp, TEL_TRACEPARENT_LEN, &p,
                                    p + args->max_len))
        return 0; /* no room: answer without it */
    args->max_len -= (int)(p - (unsigned char *)args->p);
    args->p = (char *)p;
    return 0;
}

/* ---- Connection ---- */

static void conn_free(core_ws_conn *w)
{
    ws_free_ops(w->txq_head);
    core_body_free(&w->rx);
    for (size_t i = 0; i < w->n_params; i++) {
        free(w->names[i]);
        free(w->values[i]);
    }
    free(w->pattern);
    tel_context_cleanup(&w->ctx);
    free(w);
}

static int on_established(core_http_server *s, http_conn *c, struct lws *wsi)
{
    core_http_req *req = c->req;
    if (!req || !req->is_upgrade || !req->wsroute)
        return -1;
    ws_route *r = req->wsroute;
    core_ws_conn *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->srv = s;
    w->wsi = wsi;
    w->hc = c;
    w->route = r;
    w->local = req->local;
    atomic_init(&w->queued, 0);
    core_body_init(&w->rx, r->max_msg);
    tel_context_init(&w->ctx);
    w->pattern = strdup(r->pattern);
    for (size_t i = 0; i < req->match.n_params; i++) {
        w->names[i] = strdup(req->match.names[i]);
        w->values[i] = strdup(req->match.values[i]);
        w->n_params = i + 1;
        if (!w->names[i] || !w->values[i])
            break;
    }
    /* The connection span: child of the upgrade span, in the caller's trace. */
    tel_span_start_opts o = {.name = r->conn_span_name,
                             .copy_name = true,
                             .kind = TEL_SPAN_KIND_INTERNAL,
                             .parent = &req->ctx};
    w->span = tel_span_start_ex(s->tracer, &o);
    if (tel_span_is_recording(w->span)) {
        tel_span_set_str(w->span, "http.route", r->pattern);
        if (c->peer[0])
            tel_span_set_str(w->span, "client.address", c->peer);
        if (r->subprotocol)
            tel_span_set_str(w->span, "ws.subprotocol", r->subprotocol);
        http_copy_baggage(w->span, &req->ctx);
        tel_span_add_event(w->span, "ws.open", NULL, 0);
    }
    tel_context_copy(&w->ctx, &req->ctx);
    tel_context_set_span(&w->ctx, w->span);
    /* The upgrade request is done: 101. */
    req->status = 101;
    http_trace_end(req);
    http_req_reset(req);

    pthread_mutex_lock(&s->lock);
    w->id = s->next_ws_id++;
    core_ws_conn **b = bucket(s, w->id);
    w->hnext = *b;
    *b = w;
    pthread_mutex_unlock(&s->lock);
    c->ws = w;
    if (r->h.on_open) {
        tel_span *prev = tel_span_set_current(w->span);
        r->h.on_open(w, r->ud);
        tel_span_set_current(prev);
    }
    return 0;
}

static const char *initiator_name(const core_ws_conn *w)
{
    if (w->peer_closed)
        return "client";
    if (w->server_closed)
        return "server";
    return "network";
}

/* Ends the connection: on_close, span, registry, memory. */
static void conn_finish(core_http_server *s, http_conn *c, core_ws_conn *w)
{
    if (w->finished)
        return;
    w->finished = true;
    int code;
    const char *reason;
    if (w->peer_closed) {
        code = w->peer_code;
        reason = w->peer_reason;
    } else if (w->server_closed) {
        code = w->close_code;
        reason = w->close_reason;
    } else if (atomic_load(&s->stopping)) {
        code = CORE_WS_CLOSE_GOING_AWAY;
        reason = "server stopping";
    } else {
        code = CORE_WS_CLOSE_ABNORMAL;
        reason = "";
    }
    pthread_mutex_lock(&s->lock);
    registry_remove(s, w);
    pthread_mutex_unlock(&s->lock);
    if (w->route->h.on_close) {
        tel_span *prev = tel_span_set_current(w->span);
        w->route->h.on_close(w, code, reason, w->route->ud);
        tel_span_set_current(prev);
    }
    if (tel_span_is_recording(w->span)) {
        tel_attr ev[3] = {TEL_ATTR_INT64("ws.close.code", code), TEL_ATTR_STR("ws.close.reason", reason),
                          TEL_ATTR_STR("ws.close.initiator", initiator_name(w))};
        tel_span_add_event(w->span, "ws.close", ev, 3);
        tel_span_set_int(w->span, "ws.bytes_in", (int64_t)w->bytes_in);
        tel_span_set_int(w->span, "ws.bytes_out", (int64_t)w->bytes_out);
        tel_span_set_int(w->span, "ws.messages_in", (int64_t)w->msgs_in);
        tel_span_set_int(w->span, "ws.messages_out", (int64_t)w->msgs_out);
        tel_span_set_int(w->span, "ws.close.code", code);
        bool bad = code == CORE_WS_CLOSE_ABNORMAL || code == CORE_WS_CLOSE_PROTOCOL_ERROR ||
                   code == CORE_WS_CLOSE_INVALID_PAYLOAD || code == CORE_WS_CLOSE_TOO_BIG ||
                   code == CORE_WS_CLOSE_INTERNAL || code == CORE_WS_CLOSE_UNSUPPORTED;
        if (bad)
            tel_span_set_status(w->span, TEL_STATUS_ERROR, "websocket closed abnormally");
    }
    tel_span_end(w->span);
    c->ws = NULL;
    conn_free(w);
}

void ws_conn_destroyed(core_http_server *s, http_conn *c)
{
    if (c->ws)
        conn_finish(s, c, c->ws);
}

static void bp_update(core_ws_conn *w)
{
    size_t q = atomic_load(&w->queued);
    if (!w->rx_paused_bp && q > w->route->hi) {
        w->rx_paused_bp = true;
        lws_rx_flow_control(w->wsi, 0);
    } else if (w->rx_paused_bp && q <= w->route->lo) {
        w->rx_paused_bp = false;
        if (!w->rx_paused_app)
            lws_rx_flow_control(w->wsi, 1);
        if (w->route->h.on_drain) {
            tel_span *prev = tel_span_set_current(w->span);
            w->route->h.on_drain(w, w->route->ud);
            tel_span_set_current(prev);
        }
    }
}

static void enqueue(core_ws_conn *w, ws_op *op)
{
    op->next = NULL;
    op->off = 0;
    if (w->txq_tail)
        w->txq_tail->next = op;
    else
        w->txq_head = op;
    w->txq_tail = op;
    bp_update(w);
    lws_callback_on_writable(w->wsi);
}

static ws_op *op_new(ws_op_kind kind, uint64_t id, const void *data, size_t len, bool binary)
{
    ws_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->kind = kind;
    op->id = id;
    op->binary = binary;
    op->len = len;
    if (kind == WSOP_SEND) {
        op->data = malloc(LWS_PRE + len + 1);
        if (!op->data) {
            free(op);
            return NULL;
        }
        if (len)
            memcpy(op->data + LWS_PRE, data, len);
    }
    return op;
}

void ws_free_ops(ws_op *ops)
{
    while (ops) {
        ws_op *n = ops->next;
        free(ops->data);
        free(ops);
        ops = n;
    }
}

static int on_writeable(core_ws_conn *w)
{
    ws_op *op = w->txq_head;
    if (op) {
        size_t chunk = op->len - op->off;
        if (chunk > WS_CHUNK)
            chunk = WS_CHUNK;
        bool first = op->off == 0, last = op->off + chunk == op->len;
        int flags = lws_write_ws_flags(op->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT, first, last);
        if (lws_write(w->wsi, op->data + LWS_PRE + op->off, chunk, (enum lws_write_protocol)flags) < 0)
            return -1;
        op->off += chunk;
        w->bytes_out += chunk;
        atomic_fetch_sub(&w->queued, chunk);
        if (last) {
            w->msgs_out++;
            w->txq_head = op->next;
            if (!w->txq_head)
                w->txq_tail = NULL;
            free(op->data);
            free(op);
        }
        bp_update(w);
        if (w->txq_head || w->close_pending)
            lws_callback_on_writable(w->wsi);
        return 0;
    }
    if (w->close_pending) {
        w->server_closed = true;
        lws_close_reason(w->wsi, (enum lws_close_status)w->close_code,
                         (unsigned char *)w->close_reason, strlen(w->close_reason));
        return -1;
    }
    return 0;
}

/* Copies reason into dst (WS_REASON_MAX + 1), cut at a UTF-8 boundary. */
static void copy_reason(char *dst, const char *src, size_t n)
{
    if (n > WS_REASON_MAX) {
        n = WS_REASON_MAX;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    if (!core_utf8_valid(dst, n))
        snprintf(dst, WS_REASON_MAX + 1, "(invalid UTF-8)");
}

static int on_receive(core_ws_conn *w, const void *in, size_t len)
{
    struct lws *wsi = w->wsi;
    if (w->rx.len == 0 && lws_is_first_fragment(wsi))
        w->rx_binary = lws_frame_is_binary(wsi) != 0;
    w->bytes_in += len;
    int rc = core_body_append(&w->rx, in, len);
    if (rc != CORE_OK) {
        w->server_closed = true;
        w->close_code = rc == CORE_ETOOBIG ? CORE_WS_CLOSE_TOO_BIG : CORE_WS_CLOSE_INTERNAL;
        copy_reason(w->close_reason, rc == CORE_ETOOBIG ? "message too big" : "out of memory",
                    rc == CORE_ETOOBIG ? 15 : 13);
        lws_close_reason(wsi, (enum lws_close_status)w->close_code, (unsigned char *)w->close_reason,
                         strlen(w->close_reason));
        return -1;
    }
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
        w->msgs_in++;
        if (w->route->h.on_message && !w->closing) {
            tel_span *prev = tel_span_set_current(w->span);
            w->route->h.on_message(w, w->rx.data ? w->rx.data : "", w->rx.len, w->rx_binary,
                                   w->route->ud);
            tel_span_set_current(prev);
        }
        core_body_reset(&w->rx, RX_KEEP);
    }
    return 0;
}

int ws_callback(core_http_server *s, struct lws *wsi, enum lws_callback_reasons reason, void *in,
                size_t len)
{
    http_conn *c = lws_get_opaque_user_data(wsi);
    if (!c)
        return reason == LWS_CALLBACK_CLOSED ? 0 : -1;
    if (reason == LWS_CALLBACK_ESTABLISHED)
        return on_established(s, c, wsi);
    core_ws_conn *w = c->ws;
    if (!w)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_RECEIVE:
        return on_receive(w, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writeable(w);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
        const unsigned char *p = in;
        w->closing = true;
        /* libwebsockets 4.1.6 already answers 1002 to the reserved codes below 5000; codes of
         * 5000 and above and a 1-byte payload are protocol errors too (RFC 6455 7.4.2, 5.5.1).
         * A code is rewritten in place: libwebsockets echoes this buffer as its close. */
        if (p && len >= 2 && ((p[0] << 8) | p[1]) >= 5000) {
            unsigned char *wp = in;
            wp[0] = (unsigned char)(CORE_WS_CLOSE_PROTOCOL_ERROR >> 8);
            wp[1] = (unsigned char)(CORE_WS_CLOSE_PROTOCOL_ERROR & 0xff);
        }
        if (len == 1) {
            w->server_closed = true;
            w->close_code = CORE_WS_CLOSE_PROTOCOL_ERROR;
            copy_reason(w->close_reason, "invalid close frame", 19);
            lws_close_reason(wsi, (enum lws_close_status)w->close_code,
                             (unsigned char *)w->close_reason, strlen(w->close_reason));
            return -1;
        }
        w->peer_closed = true;
        if (p && len >= 2) {
            w->peer_code = (p[0] << 8) | p[1];
            copy_reason(w->peer_reason, (const char *)p + 2, len - 2);
        } else {
            w->peer_code = CORE_WS_CLOSE_NO_STATUS;
            w->peer_reason[0] = '\0';
        }
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        conn_finish(s, c, w);
        return 0;
    default:
        return 0;
    }
}

/* ---- Connection API (service thread) ---- */

uint64_t core_ws_conn_id(const core_ws_conn *c)
{
    return c->id;
}

const tel_context *core_ws_conn_context(const core_ws_conn *c)
{
    return &c->ctx;
}

tel_span *core_ws_conn_span(core_ws_conn *c)
{
    return c->span;
}

const char *core_ws_conn_param(const core_ws_conn *c, const char *name)
{
    for (size_t i = 0; name && i < c->n_params; i++)
        if (c->names[i] && strcmp(c->names[i], name) == 0)
            return c->values[i];
    return NULL;
}

void *core_ws_conn_local(const core_ws_conn *c)
{
    return c->local;
}

void core_ws_conn_set_local(core_ws_conn *c, void *p)
{
    c->local = p;
}

size_t core_ws_conn_queued(const core_ws_conn *c)
{
    return atomic_load(&((core_ws_conn *)c)->queued);
}

int core_ws_send(core_ws_conn *c, const void *data, size_t len, bool binary)
{
    if (!c || (len && !data))
        return CORE_EINVAL;
    if (c->closing || c->close_pending)
        return CORE_ECLOSED;
    ws_op *op = op_new(WSOP_SEND, c->id, data, len, binary);
    if (!op)
        return CORE_ENOMEM;
    atomic_fetch_add(&c->queued, len);
    enqueue(c, op);
    return CORE_OK;
}

static bool close_code_ok(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int core_ws_close(core_ws_conn *c, int code, const char *reason)
{
    if (!c || !close_code_ok(code))
        return CORE_EINVAL;
    if (c->close_pending || c->closing)
        return CORE_OK;
    c->close_pending = true;
    c->close_code = code;
    copy_reason(c->close_reason, reason ? reason : "", reason ? strlen(reason) : 0);
    lws_callback_on_writable(c->wsi);
    return CORE_OK;
}

void core_ws_pause_rx(core_ws_conn *c, bool pause)
{
    if (!c || c->rx_paused_app == pause)
        return;
    c->rx_paused_app = pause;
    if (!c->rx_paused_bp)
        lws_rx_flow_control(c->wsi, pause ? 0 : 1);
}

/* ---- Cross-thread operations ---- */

static int post(core_http_server *s, ws_op *op, size_t count_bytes)
{
    pthread_mutex_lock(&s->lock);
    int rc = CORE_OK;
    core_ws_conn *w = NULL;
    if (!s->ctx_alive || atomic_load(&s->stopping))
        rc = CORE_ESHUTDOWN;
    else if (!(w = registry_find(s, op->id)) || w->closing || w->finished)
        rc = CORE_ECLOSED;
    else if (count_bytes && atomic_load(&w->queued) + count_bytes > w->route->max_q)
        rc = CORE_EFULL;
    if (rc != CORE_OK) {
        pthread_mutex_unlock(&s->lock);
        ws_free_ops(op);
        return rc;
    }
    if (count_bytes)
        atomic_fetch_add(&w->queued, count_bytes);
    op->next = NULL;
    if (s->op_tail)
        s->op_tail->next = op;
    else
        s->op_head = op;
    s->op_tail = op;
    lws_cancel_service(s->ctx);
    pthread_mutex_unlock(&s->lock);
    return CORE_OK;
}

int core_ws_post(core_http_server *s, uint64_t id, const void *data, size_t len, bool binary)
{
    if (!s || (len && !data))
        return CORE_EINVAL;
    ws_op *op = op_new(WSOP_SEND, id, data, len, binary);
    if (!op)
        return CORE_ENOMEM;
    return post(s, op, len);
}

int core_ws_post_close(core_http_server *s, uint64_t id, int code, const char *reason)
{
    if (!s || !close_code_ok(code))
        return CORE_EINVAL;
    ws_op *op = op_new(WSOP_CLOSE, id, NULL, 0, false);
    if (!op)
        return CORE_ENOMEM;
    op->code = code;
    op->data = (unsigned char *)strdup(reason ? reason : "");
    if (!op->data) {
        free(op);
        return CORE_ENOMEM;
    }
    return post(s, op, 0);
}

int core_ws_post_pause_rx(core_http_server *s, uint64_t id, bool pause)
{
    if (!s)
        return CORE_EINVAL;
    ws_op *op = op_new(pause ? WSOP_PAUSE : WSOP_RESUME, id, NULL, 0, false);
    if (!op)
        return CORE_ENOMEM;
    return post(s, op, 0);
}

void ws_apply_ops(core_http_server *s, ws_op *ops)
{
    while (ops) {
        ws_op *op = ops;
        ops = ops->next;
        op->next = NULL;
        /* Only the service thread changes the registry, and this is the service thread (or
         * stop, after it ended). */
        core_ws_conn *w = s->ctx_alive ? registry_find(s, op->id) : NULL;
        if (!w || w->finished) {
            ws_free_ops(op);
            continue;
        }
        switch (op->kind) {
        case WSOP_SEND:
            if (w->closing || w->close_pending) {
                atomic_fetch_sub(&w->queued, op->len);
                ws_free_ops(op);
            } else {
                enqueue(w, op);
            }
            continue;
        case WSOP_CLOSE:
            core_ws_close(w, op->code, (const char *)op->data);
            break;
        case WSOP_PAUSE:
            core_ws_pause_rx(w, true);
            break;
        case WSOP_RESUME:
            core_ws_pause_rx(w, false);
            break;
        }
        ws_free_ops(op);
    }
}
