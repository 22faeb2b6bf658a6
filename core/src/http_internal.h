/* Private to the HTTP server modules (http_server.c, http_ws.c): the server, connection and
 * request structures and the functions they share. Everything here runs on the service thread
 * unless a comment says otherwise. */
#ifndef CORE_HTTP_INTERNAL_H
#define CORE_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <libwebsockets.h>

#include "core/http_server.h"
#include "core/http_ws.h"

#define HTTP_MAX_MW 16
#define HTTP_MAX_RESP_HDRS 16
#define HTTP_HDR_SPACE 4096    /* response header bytes */
#define HTTP_WRITE_CHUNK 16384 /* body bytes per write */
#define HTTP_PEER_LEN 64
/* Room in the intern pool for peer and Host addresses (the rest is for registered texts). */
#define HTTP_INTERN_ADDR_BYTES (256u * 1024u)
#define WS_REGISTRY_BUCKETS 256

#define HTTP_N_METHODS 7
#define HTTP_DUR_CACHE 8 /* bound duration sets per route (a power of two) */

typedef struct http_route {
    core_http_handler_fn fn;
    void *ud;
    size_t max_body;
    bool builtin;
    /* "{method} {route}" per method bit, or NULL: interned (intern.h), so spans reference it
     * without a copy; malloc'd (and copied into each span) when the pool would not take it. */
    const char *span_name[HTTP_N_METHODS];
    unsigned span_name_owned; /* bit i: span_name[i] is malloc'd */
    const char *pattern;      /* the route pattern, interned; NULL: copy match.pattern */
    uint32_t pattern_len;
    /* The server span's fixed attributes per method bit (http.request.method, url.scheme,
     * network.protocol.version, http.route), made at registration when the pattern is
     * interned; n == 0: built per request. */
    tel_span_attr_set span_attrs[HTTP_N_METHODS];
    /* http.server.request.duration attribute sets of this route already seen, by method and
     * status (answers without error.type): recorded without looking the set up. Used where
     * requests end on the service thread only (not by orphans). */
    struct {
        uint32_t key; /* (method index + 1) << 16 | status; 0: empty */
        tel_bound_attrs *b;
    } dur[HTTP_DUR_CACHE];
    struct http_route *next;
} http_route;

typedef struct ws_route {
    core_ws_handlers h;
    void *ud;
    char *pattern;
    char *subprotocol;
    char **origins;
    size_t n_origins;
    bool any_origin;
    size_t max_msg, hi, lo, max_q;
    char *span_name;      /* "GET {route}" */
    char *conn_span_name; /* "WS {route}" */
    const char *pattern_interned; /* pattern, interned (intern.h), or NULL */
    struct ws_route *next;
} ws_route;

typedef enum req_state {
    RS_IDLE = 0,
    RS_BODY,    /* reading the request body */
    RS_HANDLER, /* the middleware chain / handler runs */
    RS_ASYNC,   /* waiting for an answer from another thread */
    RS_QUEUED,  /* answered from another thread, waiting for the service thread */
    RS_WRITE,   /* answered, writing */
} req_state;

typedef struct http_conn http_conn;

/* The 400 message for a path lws split at a raw ';' or '&' (see core_http_req.path_split). */
#define HTTP_SPLIT_PATH_MSG                                                                        \
    "a raw ';' or '&' in the path cannot be read by this server: percent-encode it (%3B, %26)"

struct core_http_req {
    core_http_server *srv;
    struct lws *wsi;  /* NULL once orphaned */
    http_conn *conn;  /* NULL once orphaned */
    req_state state;
    bool orphan;      /* the connection closed while asynchronous */
    bool is_upgrade;  /* a WebSocket upgrade request (not answered through WRITEABLE) */
    bool is_head;
    bool claimed;   /* someone is filling in the answer (under the server lock) */
    bool responded; /* the answer is complete */
    bool close_after;
    bool head_done;
    bool traced;
    bool timed_out;
    unsigned method;
    uint64_t t0;             /* tel_clock_now_ns when tracing began (0: neither traced nor
                              * measured): the span's start and the duration's origin */
    uint64_t async_deadline; /* tel_mono_ns */
    uint64_t body_deadline;  /* tel_mono_ns */
    uint64_t end_wall_ns;    /* when set: the span ends at this time (answered 504 then), and
                              * the duration is measured to it (tel_clock_now_ns) */
    int final_status;        /* when set: the status the client got (504 after a timeout) */
    char *path;
    size_t path_len, path_cap;
    /* lws splits the path at a raw ';' or '&' into NUL-separated fragments (it cannot be read
     * back: which of the two it was is lost): path_shown_len is the part before the first NUL
     * (url.path), path_split tells that the path is unusable (a 400). */
    size_t path_shown_len;
    bool path_split;
    char *scratch;
    size_t scratch_cap;
    http_route *route;
    ws_route *wsroute;
    core_route_match match;
    size_t max_body;
    core_body body;
    int mw_index;
    void *local;
    tel_span *span;
    tel_context ctx;
    const char *error_type; /* static string or NULL */
    /* response */
    int status;
    char ctype[128];
    bool has_ctype;
    core_body resp;
    size_t n_hdrs;
    char *hdr_name[HTTP_MAX_RESP_HDRS];
    char *hdr_val[HTTP_MAX_RESP_HDRS];
    size_t write_off;
    struct core_http_req *qnext;
};

struct http_conn {
    core_http_server *srv;
    struct lws *wsi;
    core_http_req *req; /* current request or NULL */
    char peer[HTTP_PEER_LEN];
    size_t peer_len;
    bool peer_known;
    /* The last Host header split on this connection (see set_server_address): its text (when
     * it fits), the host part's length and the port. host_len 0: none yet. */
    uint8_t host_len, host_part;
    uint16_t host_port;
    char host[64];
    /* peer and the host part, interned (intern.h; NULL when the pool's room for addresses is
     * used up): spans reference them instead of copying them on every request. */
    const char *peer_i, *host_i;
    unsigned char *wbuf; /* LWS_PRE + HTTP_HDR_SPACE + HTTP_WRITE_CHUNK, lazily */
    core_ws_conn *ws;    /* after the upgrade */
    bool closed;
};

/* A queued cross-thread WebSocket operation; SEND operations become the connection's queued
 * outgoing messages as they are. */
typedef enum ws_op_kind { WSOP_SEND = 1, WSOP_CLOSE, WSOP_PAUSE, WSOP_RESUME } ws_op_kind;
typedef struct ws_op {
    struct ws_op *next;
    ws_op_kind kind;
    uint64_t id;
    int code;
    bool binary;
    size_t len; /* payload bytes */
    size_t off; /* bytes already written (SEND) */
    unsigned char *data; /* SEND: LWS_PRE + len bytes, payload at data + LWS_PRE; CLOSE: the
                          * NUL-terminated reason; owned */
} ws_op;

typedef struct known_hdr {
    char name[40]; /* lowercase with colon */
    size_t len;
    int token;
} known_hdr;

/* A carrier field's lws lookup key ("name:", lower case), its length and its lws token (-1: a
 * custom header). */
typedef struct http_field_key {
    char key[40];
    int klen, token;
} http_field_key;

struct core_http_server {
    core_http_server_config cfg;
    char *address;
    core_router *router;
    core_router *ws_router;
    http_route *routes;
    ws_route *ws_routes;
    struct {
        core_http_middleware_fn fn;
        void *ud;
    } mw[HTTP_MAX_MW];
    int n_mw;
    tel_tracer *tracer;
    tel_instrument *m_duration; /* NULL when there is no (enabled) meter provider */
    tel_instrument *m_active;   /* likewise */
    /* http.server.active_requests attribute set per method index, bound on first use (requests
     * end on other threads too: atomic) */
    _Atomic(tel_bound_attrs *) active_set[HTTP_N_METHODS + 1];
    /* lws */
    struct lws_context *ctx;
    struct lws_protocols *protocols;
    size_t n_protocols;
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    atomic_int port;
    /* cross-thread state, under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool ctx_alive;
    core_http_req *q_head, *q_tail;
    ws_op *op_head, *op_tail;
    size_t outstanding; /* requests in RS_ASYNC / RS_QUEUED (orphans included) */
    core_ws_conn *registry[WS_REGISTRY_BUCKETS];
    uint64_t next_ws_id;
    /* service-thread scratch */
    char *carrier_buf;
    size_t carrier_cap, carrier_used;
    known_hdr *known;
    size_t n_known;
    /* Propagators ask for the same literal header names on every request: their lowercase
     * "name:" keys and lws tokens are cached by pointer (service thread only). */
    struct {
        const char *name; /* the address asked for */
        char text[48];    /* its text */
        char key[48];     /* its text, lowercased, with ':' */
        int klen;
        int token;
    } name_cache[16];
    size_t n_name_cache;
    /* The lws keys of the carrier fields of the propagator last used (fields_of), looked up
     * before extracting (service thread only); n_fields -1: a prefix field (always extract). */
    const tel_propagator *fields_of;
    int n_fields;
    http_field_key fields[TEL_PROPAGATOR_MAX_FIELDS];
};

/* ---- http_server.c, used by http_ws.c ---- */

/* A tel_carrier over the request headers of wsi (values copied into the server's scratch
 * arena, reset by the call). */
void http_carrier_init(core_http_server *s, struct lws *wsi, tel_carrier *car);
/* Starts tracing req (extract, SERVER span, attributes, active requests). */
void http_trace_begin(core_http_req *req, struct lws *wsi);
/* Ends req's span and records its duration with req->status (0: no answer). */
void http_trace_end(core_http_req *req);
/* Copies the baggage business keys of ctx onto span. */
void http_copy_baggage(tel_span *span, const tel_context *ctx);
/* Writes req's answer in one go (CONFIRM_UPGRADE path). Returns 0 or -1. */
int http_write_direct(http_conn *c, core_http_req *req);
/* Sets an error answer on a request the service thread owns. */
void http_set_error(core_http_req *req, int status, const char *code, const char *message);
/* The connection record of wsi (created on first use; NULL on allocation failure). */
http_conn *http_conn_get(core_http_server *s, struct lws *wsi);
/* Prepares conn->req (allocated on first use) for a new request. NULL on failure. */
core_http_req *http_req_begin(http_conn *c, struct lws *wsi, unsigned method, const char *path,
                              size_t len);
/* Releases the per-request resources of req after its answer (keeps the buffers). */
void http_req_reset(core_http_req *req);
/* Reads header `name` (lowercase, no colon) of wsi into buf. As core_http_req_header. */
int http_header_copy(core_http_server *s, struct lws *wsi, const char *name, char *buf,
                     size_t cap);

/* ---- http_ws.c, used by http_server.c ---- */

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE for "websocket". Returns the callback's return value. */
int ws_confirm_upgrade(core_http_server *s, struct lws *wsi);
/* LWS_CALLBACK_ADD_HEADERS for the 101 answer. */
int ws_add_headers(core_http_server *s, struct lws *wsi, struct lws_process_html_args *args);
/* Callbacks of an upgraded connection (ESTABLISHED, RECEIVE, SERVER_WRITEABLE,
 * WS_PEER_INITIATED_CLOSE, CLOSED). Returns the callback's return value. */
int ws_callback(core_http_server *s, struct lws *wsi, enum lws_callback_reasons reason,
                void *in, size_t len);
/* The connection is being destroyed (WSI_DESTROY): final cleanup of a WebSocket. */
void ws_conn_destroyed(core_http_server *s, http_conn *c);
/* Applies queued cross-thread operations (called after taking them off the queue). */
void ws_apply_ops(core_http_server *s, ws_op *ops);
/* Frees a list of operations. */
void ws_free_ops(ws_op *ops);
/* Frees the WebSocket routes. */
void ws_routes_free(core_http_server *s);
/* Subprotocol names to register as lws protocols (NULL-terminated array of borrowed
 * strings, malloc'd) or NULL on allocation failure. */
const char **ws_subprotocols(core_http_server *s, size_t *n);

#endif
