/* gRPC client on the gRPC C core (see core/grpc_client.h).
 *
 * Each blocking call plucks its own completion queue, taken from a per-channel pool (a queue is
 * reused by one call at a time, so the steady state creates none). A background thread per
 * channel (when keepalive is on) waits on a connectivity watch in short slices, so somebody
 * is always polling the channel and keepalive acknowledgements are processed while idle. */
#include "core/grpc_client.h"

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/grpc_meta.h"
#include "grpc_internal.h"
#include "instr_metrics.h"
#include "intern.h"

#define DEFAULT_MAX_RECV (4 * 1024 * 1024)
#define POLL_SLICE_MS 200
/* Methods a channel remembers (interned names, bound duration sets): a power of two, kept at
 * most half full; methods past that are traced as before (copied per span). */
#define METHOD_SLOTS 128
/* status codes whose rpc.client.duration attribute sets are bound once (0..16) */
#define N_CODES (GRPC_STATUS_UNAUTHENTICATED + 1)

/* What tracing needs about one method, made once per channel and method and immutable after
 * (but for the bound sets): the strings are interned, so spans reference them without a copy
 * even after the channel is gone. */
typedef struct method_info {
    uint64_t hash;
    size_t len;
    const char *name;       /* "/pkg.Service/Method" (interned) */
    const char *span_name;  /* the span name: name without its leading '/' */
    const char *service;    /* interned; NULL when the name is not "/service/method" */
    size_t service_len;
    const char *method;     /* interned */
    size_t method_len;
    /* the span's fixed attributes (core__grpc_span_attr_set; n is 0 when the service is NULL or
     * the channel's host is not interned) */
    tel_span_attr_set span_attrs;
    _Atomic(tel_bound_attrs *) dur[N_CODES]; /* bound at the first recording of each code */
} method_info;

struct core_grpc_channel {
    core_grpc_channel_config cfg;
    char *target;
    char *user_agent;
    char host[128];
    int port;
    grpc_channel *ch;
    tel_tracer *tracer;
    const tel_propagator *prop;
    tel_instrument *duration;
    const char *i_host; /* interned host (NULL: copied per span) */
    size_t host_len;
    /* method cache: readers go lock-free, inserts under mu */
    _Atomic(method_info *) methods[METHOD_SLOTS];
    size_t n_methods;
    pthread_mutex_t mu;
    grpc_completion_queue **pool;
    size_t n_pool, cap_pool;
    grpc_completion_queue *poll_cq;
    pthread_t poller;
    bool poller_running;
    atomic_bool stop;
};

/* ---- status mapping ---- */

int core_grpc_status_to_error(int code)
{
    switch (code) {
    case GRPC_STATUS_OK:
        return CORE_OK;
    case GRPC_STATUS_CANCELLED:
        return CORE_ECANCELLED;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return CORE_ETIMEDOUT;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_OUT_OF_RANGE:
    case GRPC_STATUS_FAILED_PRECONDITION:
        return CORE_EINVAL;
    case GRPC_STATUS_NOT_FOUND:
        return CORE_ENOTFOUND;
    case GRPC_STATUS_ALREADY_EXISTS:
        return CORE_EEXIST;
    case GRPC_STATUS_PERMISSION_DENIED:
        return CORE_EPERM;
    case GRPC_STATUS_UNAUTHENTICATED:
        return CORE_EUNAUTHENTICATED;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return CORE_EBUSY;
    case GRPC_STATUS_UNAVAILABLE:
        return CORE_EUNAVAILABLE;
    case GRPC_STATUS_ABORTED:
        return CORE_EAGAIN;
    case GRPC_STATUS_UNIMPLEMENTED:
        return CORE_EREJECTED;
    default:
        return CORE_EIO;
    }
}

/* ---- canceller ---- */

void core_grpc_canceller_init(core_grpc_canceller *c)
{
    pthread_mutex_init(&c->mu, NULL);
    c->call = NULL;
    c->cancelled = false;
}

void core_grpc_canceller_cancel(core_grpc_canceller *c)
{
    pthread_mutex_lock(&c->mu);
    c->cancelled = true;
    if (c->call) grpc_call_cancel(c->call, NULL);
    pthread_mutex_unlock(&c->mu);
}

void core_grpc_canceller_reset(core_grpc_canceller *c)
{
    pthread_mutex_lock(&c->mu);
    c->cancelled = false;
    pthread_mutex_unlock(&c->mu);
}

void core_grpc_canceller_cleanup(core_grpc_canceller *c)
{
    pthread_mutex_destroy(&c->mu);
}

/* Registers call with the canceller; false when it was cancelled already. */
static bool canceller_attach(core_grpc_canceller *c, grpc_call *call)
{
    if (!c) return true;
    pthread_mutex_lock(&c->mu);
    bool ok = !c->cancelled;
    if (ok) c->call = call;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void canceller_detach(core_grpc_canceller *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->call = NULL;
    pthread_mutex_unlock(&c->mu);
}

/* ---- completion queue pool ---- */

static grpc_completion_queue *cq_get(core_grpc_channel *ch)
{
    pthread_mutex_lock(&ch->mu);
    grpc_completion_queue *cq = ch->n_pool ? ch->pool[--ch->n_pool] : NULL;
    pthread_mutex_unlock(&ch->mu);
    return cq ? cq : grpc_completion_queue_create_for_pluck(NULL);
}

static void cq_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

/* Returns an idle queue (every tag plucked) to the pool. */
static void cq_put(core_grpc_channel *ch, grpc_completion_queue *cq)
{
    pthread_mutex_lock(&ch->mu);
    if (ch->n_pool == ch->cap_pool) {
        size_t ncap = ch->cap_pool ? ch->cap_pool * 2 : 8;
        grpc_completion_queue **np = realloc(ch->pool, ncap * sizeof *np);
        if (!np) {
            pthread_mutex_unlock(&ch->mu);
            cq_destroy(cq);
            return;
        }
        ch->pool = np;
        ch->cap_pool = ncap;
    }
    ch->pool[ch->n_pool++] = cq;
    pthread_mutex_unlock(&ch->mu);
}

/* ---- channel ---- */

static void *poller_main(void *arg)
{
    core_grpc_channel *ch = arg;
    static char tag;
    while (!atomic_load(&ch->stop)) {
        grpc_connectivity_state s = grpc_channel_check_connectivity_state(ch->ch, 0);
        grpc_channel_watch_connectivity_state(ch->ch, s, core__grpc_deadline_in(POLL_SLICE_MS),
                                              ch->poll_cq, &tag);
        grpc_completion_queue_next(ch->poll_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
    return NULL;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, 4096, f);
        len += r;
        if (r < 4096) break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static grpc_channel_credentials *make_creds(const core_grpc_channel_config *cfg)
{
    if (!cfg->tls) return grpc_insecure_credentials_create();
    char *roots = NULL, *cert = NULL, *key = NULL;
    if (cfg->ca_file && !(roots = read_file(cfg->ca_file))) {
        fprintf(stderr, "core_grpc_channel: cannot read the CA file %s\n", cfg->ca_file);
        return NULL;
    }
    grpc_ssl_pem_key_cert_pair pair = {0};
    if (cfg->cert_file || cfg->key_file) {
        cert = cfg->cert_file ? read_file(cfg->cert_file) : NULL;
        key = cfg->key_file ? read_file(cfg->key_file) : NULL;
        if (!cert || !key) {
            fprintf(stderr, "core_grpc_channel: cannot read the client certificate or key\n");
            free(roots);
            free(cert);
            free(key);
            return NULL;
        }
        pair.cert_chain = cert;
        pair.private_key = key;
    }
    grpc_channel_credentials *c =
        grpc_ssl_credentials_create(roots, cert ? &pair : NULL, NULL, NULL);
    free(roots);
    free(cert);
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
    return c;
}

core_grpc_channel *core_grpc_channel_create(const core_grpc_channel_config *cfg)
{
    if (!cfg || !cfg->target) return NULL;
    core_grpc_channel *ch = calloc(1, sizeof *ch);
    if (!ch) return NULL;
    ch->cfg = *cfg;
    ch->target = strdup(cfg->target);
    char ua[128];
    snprintf(ua, sizeof ua, "%s", cfg->user_agent ? cfg->user_agent : "bmcfleet/" BMC_VERSION);
    ch->user_agent = strdup(ua);
    if (!ch->target || !ch->user_agent) {
        free(ch->target);
        free(ch->user_agent);
        free(ch);
        return NULL;
    }
    ch->cfg.target = ch->target;
    ch->cfg.user_agent = ch->user_agent;
    ch->cfg.ca_file = ch->cfg.cert_file = ch->cfg.key_file = NULL; /* used below only */
    if (!core__grpc_split_target(ch->target, ch->host, sizeof ch->host, &ch->port))
        snprintf(ch->host, sizeof ch->host, "%s", "");
    ch->host_len = strlen(ch->host);
    ch->i_host = ch->host[0] ? core_intern(ch->host, ch->host_len) : NULL;
    ch->tracer = cfg->tracer ? cfg->tracer : tel_global_tracer("bmcfleet.core.grpc", BMC_VERSION);
    ch->prop = cfg->propagator ? cfg->propagator : tel_propagator_global();
    ch->duration = core_instr_histogram(cfg->meters ? cfg->meters : tel_global_meter_provider(),
                                        "bmcfleet.core.grpc", "rpc.client.duration", "ms",
                                        "Duration of outbound RPCs.", NULL, 0);
    pthread_mutex_init(&ch->mu, NULL);
    grpc_init();

    grpc_arg args[8];
    size_t na = 0;
    int ka = cfg->keepalive_time_ms == 0 ? 30000 : cfg->keepalive_time_ms;
    if (ka > 0) {
        int kt = cfg->keepalive_timeout_ms > 0 ? cfg->keepalive_timeout_ms : 10000;
        args[na++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = ka}};
        args[na++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = kt}};
        args[na++] =
            (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}};
        args[na++] =
            (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, {.integer = 0}};
    }
    int mr = cfg->max_recv_message == 0  ? DEFAULT_MAX_RECV
             : cfg->max_recv_message < 0 ? -1
                                         : cfg->max_recv_message;
    args[na++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = mr}};
    if (cfg->gzip)
        args[na++] = (grpc_arg){GRPC_ARG_INTEGER,
                                GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM,
                                {.integer = GRPC_COMPRESS_GZIP}};
    args[na++] =
        (grpc_arg){GRPC_ARG_STRING, GRPC_ARG_PRIMARY_USER_AGENT_STRING, {.string = ch->user_agent}};
    grpc_channel_args ca = {na, args};
    grpc_channel_credentials *creds = make_creds(cfg);
    if (!creds) goto fail;
    ch->ch = grpc_channel_create(ch->target, creds, &ca);
    grpc_channel_credentials_release(creds);
    if (!ch->ch) goto fail;
    if (ka > 0) {
        ch->poll_cq = grpc_completion_queue_create_for_next(NULL);
        if (pthread_create(&ch->poller, NULL, poller_main, ch) == 0) ch->poller_running = true;
    }
    return ch;
fail:
    fprintf(stderr, "core_grpc_channel: cannot create a channel to %s\n", ch->target);
    pthread_mutex_destroy(&ch->mu);
    free(ch->target);
    free(ch->user_agent);
    free(ch);
    grpc_shutdown_blocking();
    return NULL;
}

void core_grpc_channel_destroy(core_grpc_channel *ch)
{
    if (!ch) return;
    atomic_store(&ch->stop, true);
    if (ch->poller_running) pthread_join(ch->poller, NULL);
    if (ch->poll_cq) {
        grpc_completion_queue_shutdown(ch->poll_cq);
        while (grpc_completion_queue_next(ch->poll_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(ch->poll_cq);
    }
    for (size_t i = 0; i < ch->n_pool; i++)
        cq_destroy(ch->pool[i]);
    free(ch->pool);
    for (size_t i = 0; i < METHOD_SLOTS; i++)
        free(atomic_load_explicit(&ch->methods[i], memory_order_relaxed));
    grpc_channel_destroy(ch->ch);
    pthread_mutex_destroy(&ch->mu);
    free(ch->target);
    free(ch->user_agent);
    free(ch);
    grpc_shutdown_blocking();
}

grpc_connectivity_state core_grpc_channel_state(core_grpc_channel *ch, bool try_to_connect)
{
    return grpc_channel_check_connectivity_state(ch->ch, try_to_connect ? 1 : 0);
}

/* ---- tracing helpers ---- */

typedef struct call_trace {
    tel_span *span;
    uint64_t t0;
    method_info *mi; /* the channel's entry for the method (NULL: none, use the fields below) */
    const char *service; /* into the method string (or mi's interned copy) */
    size_t service_len;
    const char *method;
    size_t method_len;
} call_trace;

/* FNV-1a style over 8-byte words (method names are a few dozen bytes). */
static uint64_t hash_method(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 1099511628211ull;
        h ^= h >> 29;
    }
    for (; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 32);
}

/* The channel's entry for `method` (len bytes), made on first use; NULL when the cache is
 * full or the intern pool is. */
static method_info *method_lookup(core_grpc_channel *ch, const char *method, size_t len)
{
    uint64_t h = hash_method(method, len);
    size_t mask = METHOD_SLOTS - 1, j = (size_t)h & mask;
    for (size_t k = 0; k < METHOD_SLOTS; k++, j = (j + 1) & mask) {
        method_info *e = atomic_load_explicit(&ch->methods[j], memory_order_acquire);
        if (!e) break;
        if (e->hash == h && e->len == len && memcmp(e->name, method, len) == 0) return e;
    }
    /* not there: add it (entries are only ever added, so the probe above stays valid) */
    method_info *e = NULL;
    pthread_mutex_lock(&ch->mu);
    j = (size_t)h & mask;
    for (size_t k = 0; k < METHOD_SLOTS; k++, j = (j + 1) & mask) {
        method_info *o = atomic_load_explicit(&ch->methods[j], memory_order_relaxed);
        if (!o) break;
        if (o->hash == h && o->len == len && memcmp(o->name, method, len) == 0) {
            e = o;
            goto out;
        }
    }
    if ((ch->n_methods + 1) * 2 > METHOD_SLOTS) goto out;
    const char *name = core_intern(method, len);
    if (!name) goto out;
    e = calloc(1, sizeof *e);
    if (!e) goto out;
    e->hash = h;
    e->len = len;
    e->name = name;
    e->span_name = name[0] == '/' ? name + 1 : name;
    const char *svc, *meth;
    size_t sl, ml;
    if (core__grpc_split_method(name, len, &svc, &sl, &meth, &ml)) {
        e->service = core_intern(svc, sl);
        e->method = core_intern(meth, ml);
        e->service_len = sl;
        e->method_len = ml;
        if (!e->service || !e->method) {
            free(e);
            e = NULL;
            goto out;
        }
        core__grpc_span_attr_set(&e->span_attrs, e->service, sl, e->method, ml, ch->i_host,
                                 ch->host_len, ch->port);
    }
    atomic_store_explicit(&ch->methods[j], e, memory_order_release);
    ch->n_methods++;
out:
    pthread_mutex_unlock(&ch->mu);
    return e;
}

static void trace_start(core_grpc_channel *ch, call_trace *t, const tel_context *ctx,
                        const char *method, bool untraced)
{
    memset(t, 0, sizeof *t);
    t->span = &tel__noop_span;
    if (untraced) return;
    t->t0 = tel_mono_ns();
    size_t len = strlen(method);
    /* the method's interned strings and bound sets serve a span or a duration to record */
    bool tracing = ch->tracer && ch->tracer->enabled;
    if (tracing || ch->duration) t->mi = method_lookup(ch, method, len);
    method_info *mi = t->mi;
    if (mi) {
        t->service = mi->service;
        t->service_len = mi->service_len;
        t->method = mi->method;
        t->method_len = mi->method_len;
    } else if (!core__grpc_split_method(method, len, &t->service, &t->service_len, &t->method,
                                        &t->method_len)) {
        t->service = NULL;
    }
    tel_span_start_opts o = {.kind = TEL_SPAN_KIND_CLIENT, .parent = ctx};
    if (mi) {
        o.name = mi->span_name;
    } else {
        o.name = method[0] == '/' ? method + 1 : method;
        o.copy_name = true;
    }
    if (mi && mi->span_attrs.n) o.attr_set = &mi->span_attrs;
    t->span = tel_span_start_ex(ch->tracer, &o);
    if (!tel_span_is_recording(t->span)) return;
    if (!o.attr_set) {
        tel_span_set_str_static(t->span, "rpc.system", "grpc");
        if (t->service)
            core__grpc_span_rpc_names(t->span, t->service, t->service_len, t->method,
                                      t->method_len, mi != NULL);
        if (ch->i_host)
            tel_span_set_strn_static(t->span, "server.address", ch->i_host, ch->host_len);
        else if (ch->host[0])
            tel_span_set_str(t->span, "server.address", ch->host);
        if (ch->port) tel_span_set_int(t->span, "server.port", ch->port);
    }
    core__span_copy_business_baggage(t->span, ctx);
}

/* Injects the span's context (with ctx's tracestate and baggage) into w. */
static void trace_inject(core_grpc_channel *ch, call_trace *t, const tel_context *ctx,
                         core_grpc_meta_writer *w)
{
    /* nothing to propagate (SDK disabled and no incoming context): skip the work */
    if (t->span->noop && (!ctx || (!tel_span_context_is_valid(&ctx->sc) && !ctx->ts && !ctx->bag)))
        return;
    tel_context c = TEL_CONTEXT_INIT;
    if (ctx) tel_context_copy(&c, ctx);
    tel_context_set_span(&c, t->span);
    tel_carrier car;
    core_grpc_meta_writer_carrier(&car, w);
    tel_propagator_inject(ch->prop, &c, &car);
    tel_context_cleanup(&c);
}

static void trace_peer(call_trace *t, grpc_call *call)
{
    if (!tel_span_is_recording(t->span) || !call) return;
    char *peer = grpc_call_get_peer(call);
    char addr[64];
    int port;
    if (core__grpc_parse_peer_cached(peer, addr, sizeof addr, &port)) {
        tel_span_set_str(t->span, "network.peer.address", addr);
        if (port) tel_span_set_int(t->span, "network.peer.port", port);
    }
    gpr_free(peer);
}

static void trace_end(core_grpc_channel *ch, call_trace *t, int code, const char *message,
                      bool untraced)
{
    if (untraced) return;
    if (tel_span_is_recording(t->span)) {
        tel_span_set_int(t->span, "rpc.grpc.status_code", code);
        if (core__grpc_code_is_error(code, false))
            tel_span_set_status(t->span, TEL_STATUS_ERROR,
                                message && *message ? message : core_grpc_status_name(code));
    }
    tel_span_context sc = tel_span_get_context(t->span); /* the duration's exemplar span */
    /* the set for (method, code) is bound at its first recording, then recorded directly, or
     * handed to the span (recorded off this thread: the span's duration, its exemplar) */
    _Atomic(tel_bound_attrs *) *slot = ch->duration && t->mi && code >= 0 && code < N_CODES
                                           ? &t->mi->dur[code]
                                           : NULL;
    tel_bound_attrs *b = slot ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
    bool deferred = b && tel_span_defer_duration(t->span, ch->duration, b, 1e-6);
    tel_span_end(t->span);
    if (ch->duration && !deferred) {
        double ms = (double)(tel_mono_ns() - t->t0) / 1e6;
        core__grpc_record_duration(ch->duration, slot, ms, &sc, t->service, t->service_len,
                                   t->service ? t->method : NULL, t->method_len, code);
    }
}

static void msg_event(tel_span *span, bool sent, uint32_t id, size_t size)
{
    if (!tel_span_is_recording(span)) return;
    tel_attr a[3] = {TEL_ATTR_STR("message.type", sent ? "SENT" : "RECEIVED"),
                     TEL_ATTR_INT64("message.id", id),
                     TEL_ATTR_INT64("message.uncompressed_size", size)};
    tel_span_add_event(span, "message", a, 3);
}

/* Adds the caller's extra metadata (slices referenced, not validated: the core does). */
static int add_metadata(core_grpc_meta_writer *w, const core_grpc_call_opts *o)
{
    for (size_t i = 0; i < o->n_metadata; i++) {
        if (w->n == w->cap) {
            size_t ncap = w->cap * 2;
            grpc_metadata *nm = malloc(ncap * sizeof *nm);
            if (!nm) return CORE_ENOMEM;
            memcpy(nm, w->md, w->n * sizeof *nm);
            if (w->md != w->inline_md) free(w->md);
            w->md = nm;
            w->cap = ncap;
        }
        grpc_metadata *m = &w->md[w->n++];
        memset(m, 0, sizeof *m);
        m->key = grpc_slice_ref(o->metadata[i].key);
        m->value = grpc_slice_ref(o->metadata[i].value);
    }
    return CORE_OK;
}

static void fill_status(core_grpc_status *st, grpc_status_code code, grpc_slice details,
                        const char *error_string, const grpc_metadata_array *trailing)
{
    if (!st) return;
    st->code = (int)code;
    size_t n = GRPC_SLICE_LENGTH(details);
    if (n >= sizeof st->message) n = sizeof st->message - 1;
    memcpy(st->message, GRPC_SLICE_START_PTR(details), n);
    st->message[n] = '\0';
    if (!n && code != GRPC_STATUS_OK && error_string)
        snprintf(st->message, sizeof st->message, "%s", error_string);
    st->details_len = 0;
    st->details_truncated = false;
    size_t dl;
    const char *d = trailing ? core_grpc_meta_get(trailing, "grpc-status-details-bin", &dl) : NULL;
    if (d) {
        st->details_truncated = dl > sizeof st->details;
        st->details_len = st->details_truncated ? sizeof st->details : dl;
        memcpy(st->details, d, st->details_len);
    }
}

static void local_status(core_grpc_status *st, int code, const char *message)
{
    if (!st) return;
    memset(st, 0, sizeof *st);
    st->code = code;
    snprintf(st->message, sizeof st->message, "%s", message);
}

/* ---- unary ---- */

static int do_unary(core_grpc_channel *ch, const tel_context *ctx, const char *method,
                    grpc_byte_buffer *req, grpc_byte_buffer **resp, const core_grpc_call_opts *o,
                    core_grpc_status *st)
{
    static const core_grpc_call_opts none = {0};
    if (!o) o = &none;
    *resp = NULL;
    call_trace t;
    trace_start(ch, &t, ctx, method, o->untraced);
    core_grpc_meta_writer w;
    core_grpc_meta_writer_init(&w);
    if (!o->untraced) trace_inject(ch, &t, ctx, &w);
    int rc = add_metadata(&w, o);
    if (rc != CORE_OK) {
        core_grpc_meta_writer_cleanup(&w);
        local_status(st, GRPC_STATUS_INTERNAL, "out of memory");
        trace_end(ch, &t, GRPC_STATUS_INTERNAL, "out of memory", o->untraced);
        return rc;
    }
    grpc_completion_queue *cq = cq_get(ch);
    grpc_call *call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               grpc_slice_from_static_string(method), NULL,
                                               core__grpc_deadline_in(o->timeout_ms), NULL);
    grpc_metadata_array init_md, trailing;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trailing);
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = w.n;
    ops[0].data.send_initial_metadata.metadata = w.md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &code;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.error_string = &error_string;
    static char tag;
    bool started = false;
    if (!canceller_attach(o->canceller, call)) {
        rc = CORE_ECANCELLED;
        local_status(st, GRPC_STATUS_CANCELLED, "cancelled before the call started");
        code = GRPC_STATUS_CANCELLED;
    } else {
        grpc_call_error e = grpc_call_start_batch(call, ops, 6, &tag, NULL);
        if (e != GRPC_CALL_OK) {
            canceller_detach(o->canceller);
            rc = e == GRPC_CALL_ERROR_INVALID_METADATA ? CORE_EINVAL : CORE_EIO;
            code = GRPC_STATUS_INTERNAL;
            local_status(st, GRPC_STATUS_INTERNAL,
                         e == GRPC_CALL_ERROR_INVALID_METADATA ? "invalid request metadata"
                                                               : "the call could not start");
        } else {
            started = true;
            grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
            canceller_detach(o->canceller);
            fill_status(st, code, details, error_string, &trailing);
            rc = core_grpc_status_to_error(code);
            if (rc == CORE_OK && !*resp) {
                /* OK without a message: a protocol violation by the server */
                rc = CORE_EPROTO;
                code = GRPC_STATUS_INTERNAL;
                local_status(st, code, "the server sent no response message");
            }
        }
    }
    if (started) trace_peer(&t, call);
    char msg[256] = "";
    if (code != GRPC_STATUS_OK) {
        size_t n = GRPC_SLICE_LENGTH(details);
        if (n >= sizeof msg) n = sizeof msg - 1;
        memcpy(msg, GRPC_SLICE_START_PTR(details), n);
        msg[n] = '\0';
    }
    trace_end(ch, &t, code, msg, o->untraced);
    if (rc != CORE_OK && *resp) {
        grpc_byte_buffer_destroy(*resp);
        *resp = NULL;
    }
    grpc_slice_unref(details);
    gpr_free((void *)error_string);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    cq_put(ch, cq);
    core_grpc_meta_writer_cleanup(&w);
    return rc;
}

int core_grpc_unary(core_grpc_channel *ch, const tel_context *ctx, const char *method,
                    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                    ProtobufCMessage **resp, const core_grpc_call_opts *opts, core_grpc_status *st)
{
    if (resp) *resp = NULL;
    if (!ch || !method || !req || !resp_desc || !resp) {
        local_status(st, GRPC_STATUS_INTERNAL, "invalid argument");
        return CORE_EINVAL;
    }
    grpc_byte_buffer *rb = core__grpc_pack(req, NULL);
    grpc_byte_buffer *out = NULL;
    int rc = do_unary(ch, ctx, method, rb, &out, opts, st);
    grpc_byte_buffer_destroy(rb);
    if (rc == CORE_OK) {
        *resp = core__grpc_unpack(resp_desc, out, NULL);
        if (!*resp) {
            rc = CORE_EPROTO;
            local_status(st, GRPC_STATUS_INTERNAL, "the response is not a valid message");
        }
    }
    if (out) grpc_byte_buffer_destroy(out);
    return rc;
}

int core_grpc_unary_bytes(core_grpc_channel *ch, const tel_context *ctx, const char *method,
                          const void *req, size_t len, uint8_t **resp, size_t *resp_len,
                          const core_grpc_call_opts *opts, core_grpc_status *st)
{
    if (resp) *resp = NULL;
    if (resp_len) *resp_len = 0;
    if (!ch || !method || (!req && len)) {
        local_status(st, GRPC_STATUS_INTERNAL, "invalid argument");
        return CORE_EINVAL;
    }
    grpc_byte_buffer *rb = core__grpc_bytes(req ? req : "", len);
    grpc_byte_buffer *out = NULL;
    int rc = do_unary(ch, ctx, method, rb, &out, opts, st);
    grpc_byte_buffer_destroy(rb);
    if (rc == CORE_OK && resp) {
        grpc_slice sl = core__grpc_readall(out);
        size_t n = GRPC_SLICE_LENGTH(sl);
        if (n) {
            *resp = malloc(n);
            if (!*resp) {
                rc = CORE_ENOMEM;
            } else {
                memcpy(*resp, GRPC_SLICE_START_PTR(sl), n);
                if (resp_len) *resp_len = n;
            }
        }
        grpc_slice_unref(sl);
    }
    if (out) grpc_byte_buffer_destroy(out);
    return rc;
}

/* ---- streams ---- */

struct core_grpc_stream {
    core_grpc_channel *ch;
    grpc_completion_queue *cq;
    grpc_call *call;
    const ProtobufCMessageDescriptor *resp_desc;
    core_grpc_canceller *canceller;
    pthread_mutex_t mu; /* span, counters, flags */
    call_trace t;
    bool untraced;
    core_grpc_meta_writer w;
    /* status */
    grpc_metadata_array init_md, trailing;
    grpc_status_code code;
    grpc_slice details;
    const char *error_string;
    bool status_done;
    /* receive side (one thread) */
    grpc_byte_buffer *recv_buf;
    bool recv_pending, first_recv, eos;
    /* send side (one thread) */
    bool send_closed;
    atomic_bool dead;
    uint32_t sent_id, recv_id;
    bool finished;
    int final_rc;
    core_grpc_status final_status;
    char t_status, t_init, t_send, t_recv, t_close;
};

static bool stream_batch(core_grpc_stream *s, grpc_op *ops, size_t n, void *tag)
{
    return grpc_call_start_batch(s->call, ops, n, tag, NULL) == GRPC_CALL_OK;
}

static bool stream_wait(core_grpc_stream *s, void *tag, int64_t timeout_ms, bool *timed_out)
{
    gpr_timespec dl =
        timeout_ms < 0 ? gpr_inf_future(GPR_CLOCK_REALTIME) : core__grpc_deadline_in(timeout_ms);
    if (timeout_ms == 0) dl = gpr_now(GPR_CLOCK_MONOTONIC);
    grpc_event ev = grpc_completion_queue_pluck(s->cq, tag, dl, NULL);
    if (timed_out) *timed_out = ev.type == GRPC_QUEUE_TIMEOUT;
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

int core_grpc_stream_open(core_grpc_channel *ch, const tel_context *ctx, const char *method,
                          const ProtobufCMessageDescriptor *resp_desc,
                          const core_grpc_call_opts *opts, core_grpc_stream **out)
{
    static const core_grpc_call_opts none = {0};
    if (!out) return CORE_EINVAL;
    *out = NULL;
    if (!ch || !method || !resp_desc) return CORE_EINVAL;
    if (!opts) opts = &none;
    core_grpc_stream *s = calloc(1, sizeof *s);
    if (!s) return CORE_ENOMEM;
    s->ch = ch;
    s->resp_desc = resp_desc;
    s->canceller = opts->canceller;
    s->untraced = opts->untraced;
    s->first_recv = true;
    s->details = grpc_empty_slice();
    pthread_mutex_init(&s->mu, NULL);
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trailing);
    core_grpc_meta_writer_init(&s->w);
    trace_start(ch, &s->t, ctx, method, s->untraced);
    if (!s->untraced) trace_inject(ch, &s->t, ctx, &s->w);
    int rc = add_metadata(&s->w, opts);
    s->cq = cq_get(ch);
    grpc_slice ms = grpc_slice_from_copied_string(method);
    s->call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, ms, NULL,
                                       core__grpc_deadline_in(opts->timeout_ms), NULL);
    grpc_slice_unref(ms);
    if (rc == CORE_OK && !canceller_attach(s->canceller, s->call)) rc = CORE_ECANCELLED;
    if (rc == CORE_OK) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        op.data.recv_status_on_client.trailing_metadata = &s->trailing;
        op.data.recv_status_on_client.status = &s->code;
        op.data.recv_status_on_client.status_details = &s->details;
        op.data.recv_status_on_client.error_string = &s->error_string;
        if (!stream_batch(s, &op, 1, &s->t_status)) {
            rc = CORE_EIO;
        } else {
            memset(&op, 0, sizeof op);
            op.op = GRPC_OP_SEND_INITIAL_METADATA;
            op.data.send_initial_metadata.count = s->w.n;
            op.data.send_initial_metadata.metadata = s->w.md;
            if (!stream_batch(s, &op, 1, &s->t_init)) {
                rc = CORE_EINVAL; /* invalid metadata */
                grpc_call_cancel(s->call, NULL);
            } else {
                stream_wait(s, &s->t_init, -1, NULL);
            }
            /* the status batch is outstanding from here on */
        }
        if (rc != CORE_OK) {
            grpc_call_cancel(s->call, NULL);
            stream_wait(s, &s->t_status, -1, NULL);
            s->status_done = true;
        }
    } else {
        s->status_done = true;
        s->code = GRPC_STATUS_CANCELLED;
    }
    if (rc != CORE_OK) {
        s->final_rc = rc;
        core_grpc_stream_destroy(s);
        return rc;
    }
    *out = s;
    return CORE_OK;
}

int core_grpc_stream_send(core_grpc_stream *s, const ProtobufCMessage *msg)
{
    if (!s || !msg) return CORE_EINVAL;
    if (s->send_closed) return CORE_ESTATE;
    if (atomic_load(&s->dead)) return CORE_ECLOSED;
    size_t size;
    grpc_byte_buffer *bb = core__grpc_pack(msg, &size);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    int rc = CORE_OK;
    if (!stream_batch(s, &op, 1, &s->t_send) || !stream_wait(s, &s->t_send, -1, NULL)) {
        atomic_store(&s->dead, true);
        rc = CORE_ECLOSED;
    } else {
        pthread_mutex_lock(&s->mu);
        msg_event(s->t.span, true, ++s->sent_id, size);
        pthread_mutex_unlock(&s->mu);
    }
    grpc_byte_buffer_destroy(bb);
    return rc;
}

int core_grpc_stream_recv(core_grpc_stream *s, ProtobufCMessage **msg, int64_t timeout_ms)
{
    if (!s || !msg) return CORE_EINVAL;
    *msg = NULL;
    if (s->eos) return CORE_ECLOSED;
    if (!s->recv_pending) {
        grpc_op ops[2];
        memset(ops, 0, sizeof ops);
        size_t n = 0;
        if (s->first_recv) {
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
        }
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &s->recv_buf;
        if (!stream_batch(s, ops, n, &s->t_recv)) {
            s->eos = true;
            return CORE_ECLOSED;
        }
        s->first_recv = false;
        s->recv_pending = true;
    }
    bool timed_out = false;
    bool ok = stream_wait(s, &s->t_recv, timeout_ms, &timed_out);
    if (timed_out) return CORE_ETIMEDOUT;
    s->recv_pending = false;
    grpc_byte_buffer *bb = s->recv_buf;
    s->recv_buf = NULL;
    if (!ok || !bb) {
        if (bb) grpc_byte_buffer_destroy(bb);
        s->eos = true;
        atomic_store(&s->dead, true);
        return CORE_ECLOSED;
    }
    size_t size;
    *msg = core__grpc_unpack(s->resp_desc, bb, &size);
    grpc_byte_buffer_destroy(bb);
    pthread_mutex_lock(&s->mu);
    msg_event(s->t.span, false, ++s->recv_id, size);
    pthread_mutex_unlock(&s->mu);
    if (!*msg) {
        grpc_call_cancel_with_status(s->call, GRPC_STATUS_INTERNAL,
                                     "the response is not a valid message", NULL);
        s->eos = true;
        return CORE_EPROTO;
    }
    return CORE_OK;
}

int core_grpc_stream_close_send(core_grpc_stream *s)
{
    if (!s) return CORE_EINVAL;
    if (s->send_closed) return CORE_ESTATE;
    s->send_closed = true;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    if (!stream_batch(s, &op, 1, &s->t_close) || !stream_wait(s, &s->t_close, -1, NULL))
        return CORE_ECLOSED;
    return CORE_OK;
}

void core_grpc_stream_cancel(core_grpc_stream *s)
{
    if (s && s->call) grpc_call_cancel(s->call, NULL);
}

int core_grpc_stream_finish(core_grpc_stream *s, core_grpc_status *st)
{
    if (!s) return CORE_EINVAL;
    if (s->finished) {
        if (st) *st = s->final_status;
        return s->final_rc;
    }
    if (!s->status_done) {
        stream_wait(s, &s->t_status, -1, NULL);
        s->status_done = true;
    }
    canceller_detach(s->canceller);
    atomic_store(&s->dead, true);
    fill_status(&s->final_status, s->code, s->details, s->error_string, &s->trailing);
    s->final_rc = core_grpc_status_to_error(s->code);
    trace_peer(&s->t, s->call);
    pthread_mutex_lock(&s->mu);
    trace_end(s->ch, &s->t, s->code, s->final_status.message, s->untraced);
    pthread_mutex_unlock(&s->mu);
    s->finished = true;
    if (st) *st = s->final_status;
    return s->final_rc;
}

void core_grpc_stream_destroy(core_grpc_stream *s)
{
    if (!s) return;
    if (!s->status_done) {
        grpc_call_cancel(s->call, NULL);
        stream_wait(s, &s->t_status, -1, NULL);
        s->status_done = true;
    }
    if (s->recv_pending) {
        stream_wait(s, &s->t_recv, -1, NULL);
        s->recv_pending = false;
        if (s->recv_buf) grpc_byte_buffer_destroy(s->recv_buf);
    }
    if (!s->finished) core_grpc_stream_finish(s, NULL);
    canceller_detach(s->canceller);
    grpc_slice_unref(s->details);
    gpr_free((void *)s->error_string);
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trailing);
    grpc_call_unref(s->call);
    core_grpc_meta_writer_cleanup(&s->w); /* after the call: its values may point into s->w */
    cq_put(s->ch, s->cq);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
