/* gRPC server runtime on the gRPC C core (see core/grpc_server.h).
 *
 * Each worker thread owns one completion queue (registered before start) and keeps
 * REQUESTS_PER_WORKER grpc_server_request_call tags outstanding on it, so a call's events all
 * reach the worker that accepted it. Tags point into the per-call struct.
 *
 * A call is reference counted: one reference per batch in flight plus one for the handler's
 * obligation to complete it (reply/finish). Its mutex serialises batches started from the
 * worker and from other threads; callbacks run without it held. At zero the span ends and the
 * duration is recorded (both as of when the status was handed to gRPC, when it was), and
 * everything is freed. */
#include "core/grpc_server.h"
#include "telemetry/clock.h"

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/grpc_meta.h"
#include "grpc_internal.h"
#include "instr_metrics.h"
#include "intern.h"

#define REQUESTS_PER_WORKER 4
#define DEFAULT_MAX_RECV (4 * 1024 * 1024)
#define DEFAULT_GRACE_MS 2000
#define CANCEL_WAIT_MS 3000
/* status codes whose rpc.server.duration attribute sets are bound once (0..16) */
#define N_CODES (GRPC_STATUS_UNAUTHENTICATED + 1)

typedef enum tag_kind {
    TAG_REQUEST = 1,
    TAG_CLOSE,
    TAG_RECV,
    TAG_INIT,
    TAG_SEND,
    TAG_STATUS,
    TAG_SHUTDOWN,
} tag_kind;

typedef struct op_tag {
    tag_kind kind;
    void *owner; /* core_grpc_call * or core_grpc_server * */
} op_tag;

typedef struct method_entry {
    core_grpc_method m;
    char *name; /* "/pkg.Service/Method" */
    size_t name_len;
    char *service;      /* "pkg.Service" */
    const char *method; /* points into name */
    size_t service_len, method_len;
    /* interned copies (immortal: spans reference them without a copy, even after the server
     * is gone); NULL when the pool is full, and then spans copy them */
    const char *i_span_name; /* "pkg.Service/Method" */
    const char *i_service, *i_method;
    /* the span's fixed attributes (core__grpc_span_attr_set), prepared at the server's start once
     * its port is known; n is 0 when not every text is interned */
    tel_span_attr_set span_attrs;
    /* rpc.server.duration's attribute set per status code, bound at its first recording */
    _Atomic(tel_bound_attrs *) dur[N_CODES];
} method_entry;

typedef struct worker {
    core_grpc_server *srv;
    grpc_completion_queue *cq;
    pthread_t th;
    bool running;
} worker;

struct core_grpc_server {
    core_grpc_server_config cfg;
    char *address;
    char host[64];
    const char *i_host; /* interned host (NULL: copied per span) */
    size_t host_len;
    int port;
    grpc_server *gs;
    worker *workers;
    int n_workers;
    method_entry *methods;
    size_t n_methods, cap_methods;
    tel_tracer *tracer;
    const tel_propagator *prop;
    tel_instrument *duration;
    _Atomic(tel_bound_attrs *) dur_other[N_CODES]; /* unknown methods ("_OTHER") */
    op_tag shutdown_tag;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, stopping, stopped, shutdown_done;
    atomic_uint_fast64_t calls_started, calls_completed, unimplemented, invalid;
    atomic_int_fast64_t active;
};

struct core_grpc_call {
    core_grpc_server *srv;
    worker *w;
    method_entry *me; /* NULL: unknown method */
    grpc_call *gc;
    grpc_call_details details;
    grpc_metadata_array req_md;
    op_tag t_request, t_close, t_recv, t_init, t_send, t_status;
    pthread_mutex_t mu;
    int refs;
    /* ops */
    grpc_op recv_ops[2], init_ops[1], send_ops[2], status_ops[2];
    grpc_byte_buffer *recv_buf;
    grpc_byte_buffer *send_buf; /* in flight */
    int close_cancelled;
    /* state */
    bool dead;            /* the gRPC side is over (close received or an op failed) */
    bool closed;          /* RECV_CLOSE_ON_SERVER completed */
    bool completed;       /* the handler (or the runtime for it) completed the call */
    bool handler_invoked; /* the handler saw the call (unary handler / on_open) */
    bool half_closed;
    bool send_in_flight, status_in_flight, status_sent, want_writable;
    bool status_queued;
    bool status_set;      /* the status is decided (by the handler or the runtime) */
    bool cancel_notified; /* on_cancel ran */
    grpc_status_code status_code;
    grpc_slice status_details;
    bool has_status_details;
    grpc_byte_buffer **q; /* queued writes (ring) */
    size_t qhead, qlen, qcap;
    size_t *qsizes;
    /* unary request */
    ProtobufCMessage *req;
    /* tracing */
    tel_span *span;
    tel_context ctx;
    uint64_t t0;
    /* when the status was handed to gRPC (0: not yet): the span's end (wall clock) and the
     * duration's (tel_mono_ns) */
    uint64_t status_wall_ns, status_mono_ns;
    uint32_t sent_id, recv_id;
    void *user;
};

/* ---- helpers ---- */

static void call_free(core_grpc_call *c)
{
    if (c->req) protobuf_c_message_free_unpacked(c->req, NULL);
    if (c->recv_buf) grpc_byte_buffer_destroy(c->recv_buf);
    if (c->send_buf) grpc_byte_buffer_destroy(c->send_buf);
    for (size_t i = 0; i < c->qlen; i++)
        grpc_byte_buffer_destroy(c->q[(c->qhead + i) % c->qcap]);
    free(c->q);
    free(c->qsizes);
    if (c->has_status_details) grpc_slice_unref(c->status_details);
    grpc_metadata_array_destroy(&c->req_md);
    grpc_call_details_destroy(&c->details);
    if (c->gc) grpc_call_unref(c->gc);
    tel_context_cleanup(&c->ctx);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static core_grpc_call *call_new(core_grpc_server *s, worker *w)
{
    core_grpc_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->srv = s;
    c->w = w;
    pthread_mutex_init(&c->mu, NULL);
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->req_md);
    tel_context_init(&c->ctx);
    c->t_request = (op_tag){TAG_REQUEST, c};
    c->t_close = (op_tag){TAG_CLOSE, c};
    c->t_recv = (op_tag){TAG_RECV, c};
    c->t_init = (op_tag){TAG_INIT, c};
    c->t_send = (op_tag){TAG_SEND, c};
    c->t_status = (op_tag){TAG_STATUS, c};
    return c;
}

/* The status the call ended with. */
static int final_code(const core_grpc_call *c)
{
    if (c->status_sent && !c->close_cancelled) return c->status_code;
    if (c->close_cancelled || c->dead) {
        if (core__grpc_deadline_left_ms(c->details.deadline) <= 0)
            return GRPC_STATUS_DEADLINE_EXCEEDED;
        return GRPC_STATUS_CANCELLED;
    }
    return c->status_sent ? c->status_code : GRPC_STATUS_UNKNOWN;
}

static void call_finalize(core_grpc_call *c)
{
    core_grpc_server *s = c->srv;
    int code = final_code(c);

    if (tel_span_is_recording(c->span)) {
        tel_span_set_int(c->span, "rpc.grpc.status_code", code);
        if (core__grpc_code_is_error(code, true))
            tel_span_set_status(c->span, TEL_STATUS_ERROR, core_grpc_status_name(code));
    }
    tel_span_context sc = tel_span_get_context(c->span); /* the duration's exemplar span */
    /* A status that went out ends the call when it was sent; a cancelled or dead call now. */
    bool sent = c->status_sent && c->status_wall_ns;
    /* the set for (method, code) is bound at its first recording, then recorded directly, or
     * handed to the span (recorded off this thread: the span's duration, its exemplar) */
    _Atomic(tel_bound_attrs *) *slot = NULL;
    tel_bound_attrs *b = NULL;
    if (s->duration && code >= 0 && code < N_CODES) {
        slot = c->me ? &c->me->dur[code] : &s->dur_other[code];
        b = atomic_load_explicit(slot, memory_order_acquire);
    }
    bool deferred = b && tel_span_defer_duration(c->span, s->duration, b, 1e-6);
    tel_span_end_at(c->span, sent ? c->status_wall_ns : 0);
    if (s->duration && !deferred) {
        double ms = (double)((sent ? c->status_mono_ns : tel_mono_ns()) - c->t0) / 1e6;
        if (b)
            tel_histogram_record_bound_at(s->duration, b, ms, &sc, 0);
        else if (c->me)
            core__grpc_record_duration(s->duration, slot, ms, &sc, c->me->service,
                                       c->me->service_len, c->me->method, c->me->method_len, code);
        else
            core__grpc_record_duration(s->duration, slot, ms, &sc, NULL, 0, "_OTHER", 6, code);
    }
    call_free(c);
    atomic_fetch_add(&s->calls_completed, 1);
    pthread_mutex_lock(&s->mu);
    if (atomic_fetch_sub(&s->active, 1) == 1) pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Drops one reference; c->mu is held on entry and released here. */
static void call_release(core_grpc_call *c)
{
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last) call_finalize(c);
}

static void msg_event(core_grpc_call *c, bool sent, uint32_t id, size_t size)
{
    if (!tel_span_is_recording(c->span)) return;
    tel_attr a[3] = {TEL_ATTR_STR("message.type", sent ? "SENT" : "RECEIVED"),
                     TEL_ATTR_INT64("message.id", id),
                     TEL_ATTR_INT64("message.uncompressed_size", size)};
    tel_span_add_event(c->span, "message", a, 3);
}

/* Starts a batch holding a reference; c->mu held. Returns false when the core refused it. */
static bool start_batch(core_grpc_call *c, grpc_op *ops, size_t n, op_tag *tag)
{
    /* The call's end is when its status is handed over, read before: the send can wake the
     * client at once, and this thread may then lose its CPU until long after the client has the
     * status (a server span outliving its client span). The batch's completion comes later. */
    if (tag == &c->t_status && !c->status_wall_ns) {
        c->status_wall_ns = tel_clock_now_ns();
        c->status_mono_ns = tel_mono_ns();
    }
    grpc_call_error e = grpc_call_start_batch(c->gc, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK) {
        fprintf(stderr, "core_grpc_server: grpc_call_start_batch failed (%d)\n", (int)e);
        return false;
    }
    c->refs++;
    return true;
}

/* Sends the status now; c->mu held, nothing in flight. */
static void send_status_locked(core_grpc_call *c)
{
    grpc_op *op = c->status_ops;
    memset(c->status_ops, 0, sizeof c->status_ops);
    op[0].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op[0].data.send_status_from_server.trailing_metadata_count = 0;
    op[0].data.send_status_from_server.status = c->status_code;
    op[0].data.send_status_from_server.status_details =
        c->has_status_details ? &c->status_details : NULL;
    c->status_queued = false;
    if (start_batch(c, op, 1, &c->t_status))
        c->status_in_flight = true;
    else
        c->dead = true;
}

static void set_status(core_grpc_call *c, grpc_status_code code, const char *message)
{
    c->status_code = code;
    if (c->has_status_details) grpc_slice_unref(c->status_details);
    c->has_status_details = message && *message;
    if (c->has_status_details) c->status_details = grpc_slice_from_copied_string(message);
}

/* Decides the call's status (the first decision wins) and sends it after the queued writes;
 * c->mu held. Returns false when the status was decided before or the call is over. */
static bool decide_status_locked(core_grpc_call *c, grpc_status_code code, const char *message)
{
    if (c->status_set || c->dead) return false;
    c->status_set = true;
    set_status(c, code, message);
    if (c->send_in_flight || c->qlen)
        c->status_queued = true;
    else
        send_status_locked(c);
    return true;
}

/* Drops the handler's obligation on its behalf; c->mu held, and another reference too. */
static void complete_for_handler_locked(core_grpc_call *c)
{
    if (!c->completed) {
        c->completed = true;
        c->refs--;
    }
}

static tel_span *enter(core_grpc_call *c)
{
    return tel_span_set_current(c->span);
}

static void leave(tel_span *prev)
{
    tel_span_set_current(prev);
}

/* ---- call start ---- */

static method_entry *find_method(core_grpc_server *s, grpc_slice m)
{
    size_t len = GRPC_SLICE_LENGTH(m);
    const uint8_t *p = GRPC_SLICE_START_PTR(m);
    for (size_t i = 0; i < s->n_methods; i++)
        if (s->methods[i].name_len == len && memcmp(s->methods[i].name, p, len) == 0)
            return &s->methods[i];
    return NULL;
}

/* The span attributes a prepared set holds, one by one: for an unknown method, or when a text
 * could not be interned. */
static void set_fixed_attrs(core_grpc_call *c, const method_entry *me)
{
    core_grpc_server *s = c->srv;
    tel_span_set_str_static(c->span, "rpc.system", "grpc");
    if (!me) {
        tel_span_set_str_static(c->span, "rpc.method", "_OTHER");
    } else if (me->i_service && me->i_method) {
        core__grpc_span_rpc_names(c->span, me->i_service, me->service_len, me->i_method,
                                  me->method_len, true);
    } else {
        core__grpc_span_rpc_names(c->span, me->service, me->service_len, me->method,
                                  me->method_len, false);
    }
    if (s->i_host)
        tel_span_set_strn_static(c->span, "server.address", s->i_host, s->host_len);
    else
        tel_span_set_str(c->span, "server.address", s->host);
    tel_span_set_int(c->span, "server.port", s->port);
}

static void start_span(core_grpc_call *c)
{
    core_grpc_server *s = c->srv;
    tel_carrier car;
    core_grpc_meta_reader(&car, &c->req_md);
    tel_propagator_extract(s->prop, &car, &c->ctx);
    const method_entry *me = c->me;
    tel_span_start_opts o = {.kind = TEL_SPAN_KIND_SERVER, .parent = &c->ctx};
    if (!me)
        o.name = "_OTHER";
    else if (me->i_span_name)
        o.name = me->i_span_name;
    else
        o.name = me->name + 1, o.copy_name = true;
    if (me && me->span_attrs.n) o.attr_set = &me->span_attrs;
    c->span = tel_span_start_ex(s->tracer, &o);
    if (tel_span_is_recording(c->span)) {
        if (!o.attr_set) set_fixed_attrs(c, me);
        char *peer = grpc_call_get_peer(c->gc);
        char addr[64];
        int port;
        if (core__grpc_parse_peer_cached(peer, addr, sizeof addr, &port)) {
            tel_span_set_str(c->span, "network.peer.address", addr);
            if (port) tel_span_set_int(c->span, "network.peer.port", port);
        }
        gpr_free(peer);
        core__span_copy_business_baggage(c->span, &c->ctx);
    }
    tel_context_set_span(&c->ctx, c->span);
}

static void start_recv_locked(core_grpc_call *c, bool with_initial_md)
{
    grpc_op *op = c->recv_ops;
    memset(c->recv_ops, 0, sizeof c->recv_ops);
    size_t n = 0;
    if (with_initial_md) {
        op[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        op[n].data.send_initial_metadata.count = 0;
        n++;
    }
    op[n].op = GRPC_OP_RECV_MESSAGE;
    op[n].data.recv_message.recv_message = &c->recv_buf;
    n++;
    if (!start_batch(c, op, n, &c->t_recv)) c->dead = true;
}

static void call_begin(core_grpc_call *c)
{
    core_grpc_server *s = c->srv;
    atomic_fetch_add(&s->calls_started, 1);
    atomic_fetch_add(&s->active, 1);
    c->t0 = tel_mono_ns();
    c->me = find_method(s, c->details.method);

    start_span(c);

    pthread_mutex_lock(&c->mu);
    c->refs = 1; /* the handler's obligation */
    grpc_op close_op;
    memset(&close_op, 0, sizeof close_op);
    close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    close_op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    if (!start_batch(c, &close_op, 1, &c->t_close)) {
        c->dead = true;
        call_release(c);
        return;
    }
    if (!c->me) {
        atomic_fetch_add(&s->unimplemented, 1);
        /* initial metadata and the status in one batch */
        c->completed = true;
        c->status_set = true;
        set_status(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
        grpc_op *op = c->status_ops;
        memset(c->status_ops, 0, sizeof c->status_ops);
        op[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        op[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        op[1].data.send_status_from_server.status = c->status_code;
        op[1].data.send_status_from_server.status_details = &c->status_details;
        if (start_batch(c, op, 2, &c->t_status)) c->status_in_flight = true;
        call_release(c);
        return;
    }
    if (c->me->m.kind == CORE_GRPC_UNARY) {
        start_recv_locked(c, true);
        if (c->dead)
            call_release(c); /* the handler will never see it */
        else
            pthread_mutex_unlock(&c->mu);
        return;
    }
    /* streaming */
    grpc_op *op = c->init_ops;
    memset(c->init_ops, 0, sizeof c->init_ops);
    op[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (!start_batch(c, op, 1, &c->t_init)) {
        c->dead = true;
        call_release(c);
        return;
    }
    c->handler_invoked = true;
    pthread_mutex_unlock(&c->mu);
    if (c->me->m.stream.on_open) {
        tel_span *prev = enter(c);
        c->me->m.stream.on_open(c, &c->ctx, c->me->m.ud);
        leave(prev);
    }
    pthread_mutex_lock(&c->mu);
    if (!c->completed && !c->dead) start_recv_locked(c, false);
    pthread_mutex_unlock(&c->mu);
}

/* ---- completions ---- */

static void on_recv(core_grpc_call *c, bool ok)
{
    pthread_mutex_lock(&c->mu);
    grpc_byte_buffer *bb = c->recv_buf;
    c->recv_buf = NULL;
    method_entry *me = c->me;
    if (!ok) {
        c->dead = true;
        if (bb) grpc_byte_buffer_destroy(bb);
        if (me->m.kind == CORE_GRPC_UNARY && !c->handler_invoked) {
            c->completed = true;
            c->refs--; /* the handler's obligation: it never saw the call */
        }
        call_release(c);
        return;
    }
    if (me->m.kind == CORE_GRPC_UNARY) {
        if (!bb) {
            decide_status_locked(c, GRPC_STATUS_INVALID_ARGUMENT, "request message missing");
            complete_for_handler_locked(c);
            call_release(c);
            return;
        }
        size_t size;
        c->req = core__grpc_unpack(me->m.request, bb, &size);
        grpc_byte_buffer_destroy(bb);
        if (!c->req) {
            atomic_fetch_add(&c->srv->invalid, 1);
            decide_status_locked(c, GRPC_STATUS_INVALID_ARGUMENT, "request is not a valid message");
            complete_for_handler_locked(c);
            call_release(c);
            return;
        }
        c->handler_invoked = true;
        pthread_mutex_unlock(&c->mu);
        tel_span *prev = enter(c);
        me->m.unary(c, &c->ctx, c->req, me->m.ud);
        leave(prev);
        pthread_mutex_lock(&c->mu);
        call_release(c); /* the recv batch's reference */
        return;
    }
    /* streaming */
    if (!bb) {
        c->half_closed = true;
        pthread_mutex_unlock(&c->mu);
        tel_span *prev = enter(c);
        me->m.stream.on_half_close(c, &c->ctx, me->m.ud);
        leave(prev);
        pthread_mutex_lock(&c->mu);
        call_release(c);
        return;
    }
    size_t size;
    ProtobufCMessage *m = core__grpc_unpack(me->m.request, bb, &size);
    grpc_byte_buffer_destroy(bb);
    c->recv_id++;
    msg_event(c, false, c->recv_id, size);
    if (!m) {
        atomic_fetch_add(&c->srv->invalid, 1);
        decide_status_locked(c, GRPC_STATUS_INVALID_ARGUMENT, "message is not a valid message");
        bool notify = false;
        if (!c->completed) {
            if (me->m.on_cancel && !c->cancel_notified)
                notify = c->cancel_notified = true; /* the handler still completes */
            else if (!me->m.on_cancel)
                complete_for_handler_locked(c); /* it sees no more callbacks */
        }
        pthread_mutex_unlock(&c->mu);
        if (notify) {
            tel_span *prev = enter(c);
            me->m.on_cancel(c, me->m.ud);
            leave(prev);
        }
        pthread_mutex_lock(&c->mu);
        call_release(c);
        return;
    }
    pthread_mutex_unlock(&c->mu);
    tel_span *prev = enter(c);
    me->m.stream.on_message(c, &c->ctx, m, me->m.ud);
    leave(prev);
    protobuf_c_message_free_unpacked(m, NULL);
    pthread_mutex_lock(&c->mu);
    if (!c->completed && !c->dead) start_recv_locked(c, false);
    call_release(c);
}

static void start_next_send_locked(core_grpc_call *c)
{
    grpc_byte_buffer *bb = c->q[c->qhead];
    size_t size = c->qsizes[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    memset(c->send_ops, 0, sizeof c->send_ops);
    c->send_ops[0].op = GRPC_OP_SEND_MESSAGE;
    c->send_ops[0].data.send_message.send_message = bb;
    c->send_buf = bb;
    if (start_batch(c, c->send_ops, 1, &c->t_send)) {
        c->send_in_flight = true;
        c->sent_id++;
        msg_event(c, true, c->sent_id, size);
    } else {
        grpc_byte_buffer_destroy(bb);
        c->send_buf = NULL;
        c->dead = true;
    }
}

static void on_send(core_grpc_call *c, bool ok, bool status)
{
    pthread_mutex_lock(&c->mu);
    if (status) {
        c->status_in_flight = false;
        c->status_sent = ok;
        if (!ok) c->dead = true;
        call_release(c);
        return;
    }
    c->send_in_flight = false;
    if (c->send_buf) {
        grpc_byte_buffer_destroy(c->send_buf);
        c->send_buf = NULL;
    }
    if (!ok) c->dead = true;
    bool writable = false;
    if (!c->dead && c->qlen) {
        start_next_send_locked(c);
    } else if (!c->dead && c->status_queued) {
        send_status_locked(c);
    }
    if (c->want_writable && !c->dead && !c->completed &&
        c->qlen < c->srv->cfg.max_queued_writes / 2 + 1) {
        c->want_writable = false;
        writable = c->me && c->me->m.kind == CORE_GRPC_BIDI_STREAM && c->me->m.stream.on_writable;
    }
    if (writable) {
        c->refs++; /* keep the call across the callback */
        pthread_mutex_unlock(&c->mu);
        tel_span *prev = enter(c);
        c->me->m.stream.on_writable(c, &c->ctx, c->me->m.ud);
        leave(prev);
        pthread_mutex_lock(&c->mu);
        c->refs--;
    }
    call_release(c);
}

static void on_close(core_grpc_call *c, bool ok)
{
    pthread_mutex_lock(&c->mu);
    c->closed = true;
    bool cancelled = c->close_cancelled || !ok;
    if (cancelled) c->close_cancelled = 1;
    c->dead = true;
    /* queued writes can never go out now */
    for (size_t i = 0; i < c->qlen; i++)
        grpc_byte_buffer_destroy(c->q[(c->qhead + i) % c->qcap]);
    c->qlen = 0;
    c->status_queued = false;
    method_entry *me = c->me;
    bool notify = false;
    if (cancelled && me && c->handler_invoked && !c->completed && !c->cancel_notified) {
        if (me->m.on_cancel)
            notify = c->cancel_notified = true;
        else if (me->m.kind == CORE_GRPC_BIDI_STREAM)
            complete_for_handler_locked(c); /* it only uses the call inside callbacks */
    }
    pthread_mutex_unlock(&c->mu);
    if (notify) {
        tel_span *prev = enter(c);
        me->m.on_cancel(c, me->m.ud);
        leave(prev);
    }
    pthread_mutex_lock(&c->mu);
    call_release(c);
}

/* ---- workers ---- */

static int request_one(worker *w)
{
    core_grpc_server *s = w->srv;
    core_grpc_call *c = call_new(s, w);
    if (!c) return CORE_ENOMEM;
    grpc_call_error e = grpc_server_request_call(s->gs, &c->gc, &c->details, &c->req_md, w->cq,
                                                 w->cq, &c->t_request);
    if (e != GRPC_CALL_OK) {
        call_free(c);
        return CORE_EIO;
    }
    return CORE_OK;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    core_grpc_server *s = w->srv;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type != GRPC_OP_COMPLETE) continue;
        op_tag *t = ev.tag;
        switch (t->kind) {
        case TAG_SHUTDOWN:
            pthread_mutex_lock(&s->mu);
            s->shutdown_done = true;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
            break;
        case TAG_REQUEST: {
            core_grpc_call *c = t->owner;
            if (!ev.success) {
                call_free(c); /* the server is shutting down */
                break;
            }
            pthread_mutex_lock(&s->mu);
            bool stopping = s->stopping;
            pthread_mutex_unlock(&s->mu);
            if (!stopping) request_one(w);
            call_begin(c);
            break;
        }
        case TAG_CLOSE:
            on_close(t->owner, ev.success);
            break;
        case TAG_RECV:
            on_recv(t->owner, ev.success);
            break;
        case TAG_INIT: {
            core_grpc_call *c = t->owner;
            pthread_mutex_lock(&c->mu);
            if (!ev.success) c->dead = true;
            call_release(c);
            break;
        }
        case TAG_SEND:
            on_send(t->owner, ev.success, false);
            break;
        case TAG_STATUS:
            on_send(t->owner, ev.success, true);
            break;
        }
    }
    return NULL;
}

/* ---- public: calls ---- */

int core_grpc_call_reply(core_grpc_call *c, const ProtobufCMessage *resp)
{
    if (!c) return CORE_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->completed) {
        pthread_mutex_unlock(&c->mu);
        return CORE_ESTATE;
    }
    int rc = CORE_OK;
    c->completed = true;
    if (!resp || resp->descriptor != c->me->m.response || c->me->m.kind != CORE_GRPC_UNARY) {
        decide_status_locked(c, GRPC_STATUS_INTERNAL,
                             "handler replied with the wrong message type");
        rc = CORE_EINVAL;
    } else if (c->dead || c->status_set) {
        rc = CORE_ECANCELLED;
    } else {
        c->status_set = true;
        size_t size;
        c->send_buf = core__grpc_pack(resp, &size);
        set_status(c, GRPC_STATUS_OK, NULL);
        memset(c->send_ops, 0, sizeof c->send_ops);
        c->send_ops[0].op = GRPC_OP_SEND_MESSAGE;
        c->send_ops[0].data.send_message.send_message = c->send_buf;
        c->send_ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        c->send_ops[1].data.send_status_from_server.status = GRPC_STATUS_OK;
        if (start_batch(c, c->send_ops, 2, &c->t_status)) {
            c->status_in_flight = true;
        } else {
            c->dead = true;
            rc = CORE_ECANCELLED;
        }
    }
    call_release(c);
    return rc;
}

int core_grpc_call_finish(core_grpc_call *c, grpc_status_code code, const char *message)
{
    if (!c) return CORE_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->completed) {
        pthread_mutex_unlock(&c->mu);
        return CORE_ESTATE;
    }
    c->completed = true;
    int rc = decide_status_locked(c, code, message) ? CORE_OK : CORE_ECANCELLED;
    call_release(c);
    return rc;
}

int core_grpc_call_send(core_grpc_call *c, const ProtobufCMessage *msg)
{
    if (!c || !msg) return CORE_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = CORE_OK;
    if (c->completed)
        rc = CORE_ESTATE;
    else if (c->me->m.kind != CORE_GRPC_BIDI_STREAM || msg->descriptor != c->me->m.response)
        rc = CORE_EINVAL;
    else if (c->dead)
        rc = CORE_ECANCELLED;
    else if (c->qlen >= c->srv->cfg.max_queued_writes) {
        c->want_writable = true;
        rc = CORE_EAGAIN;
    }
    if (rc != CORE_OK) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap ? c->qcap * 2 : 4;
        grpc_byte_buffer **nq = malloc(ncap * sizeof *nq);
        size_t *ns = malloc(ncap * sizeof *ns);
        if (!nq || !ns) {
            free(nq);
            free(ns);
            pthread_mutex_unlock(&c->mu);
            return CORE_ENOMEM;
        }
        for (size_t i = 0; i < c->qlen; i++) {
            nq[i] = c->q[(c->qhead + i) % c->qcap];
            ns[i] = c->qsizes[(c->qhead + i) % c->qcap];
        }
        free(c->q);
        free(c->qsizes);
        c->q = nq;
        c->qsizes = ns;
        c->qcap = ncap;
        c->qhead = 0;
    }
    size_t size;
    grpc_byte_buffer *bb = core__grpc_pack(msg, &size);
    size_t tail = (c->qhead + c->qlen) % c->qcap;
    c->q[tail] = bb;
    c->qsizes[tail] = size;
    c->qlen++;
    if (!c->send_in_flight) start_next_send_locked(c);
    pthread_mutex_unlock(&c->mu);
    return CORE_OK;
}

int64_t core_grpc_call_deadline_left_ms(const core_grpc_call *c)
{
    return core__grpc_deadline_left_ms(c->details.deadline);
}

bool core_grpc_call_is_cancelled(const core_grpc_call *c)
{
    core_grpc_call *m = (core_grpc_call *)c;
    pthread_mutex_lock(&m->mu);
    bool d = m->dead;
    pthread_mutex_unlock(&m->mu);
    return d;
}

const char *core_grpc_call_metadata(const core_grpc_call *c, const char *key, size_t *len)
{
    return core_grpc_meta_get(&c->req_md, key, len);
}

const char *core_grpc_call_method(const core_grpc_call *c)
{
    return c->me ? c->me->name : "";
}

const tel_context *core_grpc_call_context(const core_grpc_call *c)
{
    return &c->ctx;
}

void core_grpc_call_set_user(core_grpc_call *c, void *user)
{
    c->user = user;
}

void *core_grpc_call_user(const core_grpc_call *c)
{
    return c->user;
}

/* ---- public: server ---- */

core_grpc_server *core_grpc_server_create(const core_grpc_server_config *cfg)
{
    core_grpc_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (cfg) s->cfg = *cfg;
    s->address = strdup(s->cfg.address ? s->cfg.address : "127.0.0.1:0");
    if (!s->address) {
        free(s);
        return NULL;
    }
    s->cfg.address = s->address;
    if (s->cfg.threads <= 0) s->cfg.threads = 2;
    if (s->cfg.max_recv_message <= 0) s->cfg.max_recv_message = DEFAULT_MAX_RECV;
    if (!s->cfg.shutdown_grace_ms) s->cfg.shutdown_grace_ms = DEFAULT_GRACE_MS;
    if (s->cfg.keepalive_min_ping_ms <= 0) s->cfg.keepalive_min_ping_ms = 10000;
    if (!s->cfg.max_queued_writes) s->cfg.max_queued_writes = 64;
    int port;
    if (!core__grpc_split_target(s->address, s->host, sizeof s->host, &port)) {
        fprintf(stderr, "core_grpc_server: cannot parse address \"%s\"\n", s->address);
        free(s->address);
        free(s);
        return NULL;
    }
    s->host_len = strlen(s->host);
    s->i_host = core_intern(s->host, s->host_len);
    s->tracer =
        s->cfg.tracer ? s->cfg.tracer : tel_global_tracer("bmcfleet.core.grpc", BMC_VERSION);
    s->prop = s->cfg.propagator ? s->cfg.propagator : tel_propagator_global();
    s->duration = core_instr_histogram(s->cfg.meters ? s->cfg.meters : tel_global_meter_provider(),
                                       "bmcfleet.core.grpc", "rpc.server.duration", "ms",
                                       "Duration of inbound RPCs.", NULL, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->shutdown_tag = (op_tag){TAG_SHUTDOWN, s};
    grpc_init();
    return s;
}

int core_grpc_server_register(core_grpc_server *s, const core_grpc_method *m)
{
    if (!s || !m || !m->name || !m->request || !m->response) return CORE_EINVAL;
    if (m->kind == CORE_GRPC_UNARY
            ? !m->unary
            : m->kind != CORE_GRPC_BIDI_STREAM || !m->stream.on_message || !m->stream.on_half_close)
        return CORE_EINVAL;
    const char *svc, *meth;
    size_t sl, ml, len = strlen(m->name);
    if (!core__grpc_split_method(m->name, len, &svc, &sl, &meth, &ml)) return CORE_EINVAL;
    pthread_mutex_lock(&s->mu);
    int rc = CORE_OK;
    if (s->started) {
        rc = CORE_ESTATE;
        goto out;
    }
    for (size_t i = 0; i < s->n_methods; i++)
        if (strcmp(s->methods[i].name, m->name) == 0) {
            rc = CORE_EEXIST;
            goto out;
        }
    if (s->n_methods == s->cap_methods) {
        size_t ncap = s->cap_methods ? s->cap_methods * 2 : 8;
        method_entry *nm = realloc(s->methods, ncap * sizeof *nm);
        if (!nm) {
            rc = CORE_ENOMEM;
            goto out;
        }
        s->methods = nm;
        s->cap_methods = ncap;
    }
    method_entry *e = &s->methods[s->n_methods];
    memset(e, 0, sizeof *e);
    e->m = *m;
    e->name = strdup(m->name);
    e->service = strndup(svc, sl);
    if (!e->name || !e->service) {
        free(e->name);
        free(e->service);
        rc = CORE_ENOMEM;
        goto out;
    }
    e->name_len = len;
    e->method = e->name + (meth - m->name);
    e->service_len = sl;
    e->method_len = ml;
    e->i_span_name = core_intern(e->name + 1, len - 1);
    e->i_service = core_intern(svc, sl);
    e->i_method = core_intern(meth, ml);
    e->m.name = e->name;
    s->n_methods++;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int core_grpc_server_start(core_grpc_server *s)
{
    if (!s) return CORE_EINVAL;
    pthread_mutex_lock(&s->mu);
    if (s->started) {
        pthread_mutex_unlock(&s->mu);
        return CORE_ESTATE;
    }
    s->started = true;
    pthread_mutex_unlock(&s->mu);

    grpc_arg args[5];
    size_t na = 0;
    /* gRPC binds with SO_REUSEPORT by default: a second server on a port already taken (another
     * service, a stale configuration) would then share it silently, the kernel spreading
     * connections between the two (seen: a gateway's calls to "the agent" answered UNIMPLEMENTED
     * by the gateway's own registry server). Without it, the second bind fails with a clear
     * error. */
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[na++].value.integer = 0;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[na++].value.integer = s->cfg.max_recv_message;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS;
    args[na++].value.integer = s->cfg.keepalive_min_ping_ms;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_HTTP2_MAX_PING_STRIKES;
    args[na++].value.integer = 0;
    if (s->cfg.max_concurrent_streams > 0) {
        args[na].type = GRPC_ARG_INTEGER;
        args[na].key = GRPC_ARG_MAX_CONCURRENT_STREAMS;
        args[na++].value.integer = s->cfg.max_concurrent_streams;
    }
    grpc_channel_args ca = {na, args};
    s->gs = grpc_server_create(&ca, NULL);
    if (!s->gs) return CORE_ENOMEM;
    s->workers = calloc((size_t)s->cfg.threads, sizeof *s->workers);
    if (!s->workers) goto fail_server;
    for (int i = 0; i < s->cfg.threads; i++) {
        s->workers[i].srv = s;
        s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->gs, s->workers[i].cq, NULL);
        s->n_workers++;
    }
    grpc_server_credentials *cr = grpc_insecure_server_credentials_create();
    s->port = grpc_server_add_http2_port(s->gs, s->address, cr);
    grpc_server_credentials_release(cr);
    if (s->port <= 0) {
        fprintf(stderr, "core_grpc_server: cannot listen on %s\n", s->address);
        goto fail_server;
    }
    for (size_t i = 0; i < s->n_methods; i++) {
        method_entry *e = &s->methods[i];
        core__grpc_span_attr_set(&e->span_attrs, e->i_service, e->service_len, e->i_method,
                                 e->method_len, s->i_host, s->host_len, s->port);
    }
    grpc_server_start(s->gs);
    for (int i = 0; i < s->n_workers; i++) {
        worker *w = &s->workers[i];
        for (int k = 0; k < REQUESTS_PER_WORKER; k++)
            request_one(w);
        if (pthread_create(&w->th, NULL, worker_main, w) == 0) w->running = true;
    }
    return CORE_OK;

fail_server:
    /* never started: shut down without calls */
    grpc_server_shutdown_and_notify(s->gs, s->n_workers ? s->workers[0].cq : NULL,
                                    &s->shutdown_tag);
    grpc_server_cancel_all_calls(s->gs);
    if (s->n_workers) {
        grpc_event ev;
        do
            ev = grpc_completion_queue_next(s->workers[0].cq,
                                            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                         gpr_time_from_millis(2000, GPR_TIMESPAN)),
                                            NULL);
        while (ev.type == GRPC_OP_COMPLETE && ev.tag != &s->shutdown_tag);
    }
    grpc_server_destroy(s->gs);
    s->gs = NULL;
    for (int i = 0; i < s->n_workers; i++) {
        grpc_completion_queue_shutdown(s->workers[i].cq);
        while (
            grpc_completion_queue_next(s->workers[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                .type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(s->workers[i].cq);
    }
    free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
    s->port = 0;
    s->stopped = true;
    return CORE_EIO;
}

int core_grpc_server_port(const core_grpc_server *s)
{
    return s ? s->port : 0;
}

static bool wait_until(core_grpc_server *s, bool (*cond)(core_grpc_server *), uint32_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!cond(s))
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0) break;
    bool ok = cond(s);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static bool is_shutdown(core_grpc_server *s)
{
    return s->shutdown_done;
}

static bool no_calls(core_grpc_server *s)
{
    return atomic_load(&s->active) == 0;
}

int core_grpc_server_stop(core_grpc_server *s)
{
    if (!s) return CORE_EINVAL;
    pthread_mutex_lock(&s->mu);
    if (!s->started || s->stopped || s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return CORE_OK;
    }
    s->stopping = true;
    pthread_mutex_unlock(&s->mu);

    int rc = CORE_OK;
    grpc_server_shutdown_and_notify(s->gs, s->workers[0].cq, &s->shutdown_tag);
    if (!wait_until(s, is_shutdown, s->cfg.shutdown_grace_ms)) {
        grpc_server_cancel_all_calls(s->gs);
        wait_until(s, is_shutdown, CANCEL_WAIT_MS);
    }
    /* calls a handler still holds: cancelled above; wait for their completion */
    if (!wait_until(s, no_calls, CANCEL_WAIT_MS)) {
        grpc_server_cancel_all_calls(s->gs);
        if (!wait_until(s, no_calls, CANCEL_WAIT_MS)) {
            fprintf(stderr, "core_grpc_server: %lld call(s) never completed by their handler\n",
                    (long long)atomic_load(&s->active));
            rc = CORE_ETIMEDOUT;
        }
    }
    if (s->shutdown_done) {
        grpc_server_destroy(s->gs);
    } else {
        fprintf(stderr, "core_grpc_server: shutdown did not complete; server leaked\n");
        rc = CORE_ETIMEDOUT;
    }
    s->gs = NULL;
    for (int i = 0; i < s->n_workers; i++)
        grpc_completion_queue_shutdown(s->workers[i].cq);
    for (int i = 0; i < s->n_workers; i++) {
        if (s->workers[i].running) pthread_join(s->workers[i].th, NULL);
        grpc_completion_queue_destroy(s->workers[i].cq);
    }
    free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
    pthread_mutex_lock(&s->mu);
    s->stopped = true;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void core_grpc_server_destroy(core_grpc_server *s)
{
    if (!s) return;
    core_grpc_server_stop(s);
    if (s->gs) { /* created but never started */
        grpc_server_destroy(s->gs);
    }
    for (size_t i = 0; i < s->n_methods; i++) {
        free(s->methods[i].name);
        free(s->methods[i].service);
    }
    free(s->methods);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->address);
    free(s);
    grpc_shutdown_blocking();
}

void core_grpc_server_get_stats(const core_grpc_server *s, core_grpc_server_stats *out)
{
    core_grpc_server *m = (core_grpc_server *)s;
    out->calls_started = atomic_load(&m->calls_started);
    out->calls_completed = atomic_load(&m->calls_completed);
    out->unimplemented = atomic_load(&m->unimplemented);
    out->invalid_messages = atomic_load(&m->invalid);
    out->active = atomic_load(&m->active);
}
