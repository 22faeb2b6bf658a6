/* agt_registrar: the registration/heartbeat thread. */
#include "agt_registrar.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/grpc_client.h"
#include "gateway.pb-c.h"
#include "telemetry/log.h"
#include "telemetry/trace.h"

#define MAX_CAPS 16
#define CALL_TIMEOUT_MS 2000

struct agt_registrar {
    char gateway[256];
    char agent_id[65];
    char datacenter[65];
    char address[256];
    char caps[MAX_CAPS][33];
    char *cap_ptrs[MAX_CAPS];
    size_t n_caps;
    char *auth; /* "Bearer <token>" in guarded memory, or NULL */
    agt_discovery *discovery;
    core_grpc_channel *ch;
    core_grpc_canceller cancel;
    tel_tracer *tracer;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool stopping, started;
    pthread_t thread;
    atomic_bool registered;
};

agt_registrar *agt_registrar_create(const agt_registrar_config *cfg)
{
    if (!cfg || !cfg->gateway || !cfg->agent_id || !cfg->datacenter || !cfg->address ||
        cfg->n_capabilities > MAX_CAPS)
        return NULL;
    agt_registrar *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    snprintf(r->gateway, sizeof r->gateway, "%s", cfg->gateway);
    snprintf(r->agent_id, sizeof r->agent_id, "%s", cfg->agent_id);
    snprintf(r->datacenter, sizeof r->datacenter, "%s", cfg->datacenter);
    snprintf(r->address, sizeof r->address, "%s", cfg->address);
    for (size_t i = 0; i < cfg->n_capabilities; i++) {
        snprintf(r->caps[i], sizeof r->caps[i], "%s", cfg->capabilities[i]);
        r->cap_ptrs[i] = r->caps[i];
    }
    r->n_caps = cfg->n_capabilities;
    if (cfg->service_token && *cfg->service_token) {
        size_t len = strlen(cfg->service_token) + 8;
        r->auth = sodium_malloc(len);
        if (!r->auth) {
            free(r);
            return NULL;
        }
        snprintf(r->auth, len, "Bearer %s", cfg->service_token);
    }
    r->discovery = cfg->discovery;
    core_grpc_channel_config cc = {.target = r->gateway, .keepalive_time_ms = 10000};
    r->ch = core_grpc_channel_create(&cc);
    if (!r->ch) {
        if (r->auth) sodium_free(r->auth);
        free(r);
        return NULL;
    }
    core_grpc_canceller_init(&r->cancel);
    r->tracer = tel_global_tracer("bmcfleet.agent", NULL);
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&r->registered, false);
    return r;
}

/* Sleeps ms unless stopped; returns false when stopping. */
static bool nap(agt_registrar *r, uint32_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping && pthread_cond_timedwait(&r->cv, &r->mu, &ts) != ETIMEDOUT) {
    }
    bool go = !r->stopping;
    pthread_mutex_unlock(&r->mu);
    return go;
}

static void call_opts(agt_registrar *r, core_grpc_call_opts *o, grpc_metadata *md)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = CALL_TIMEOUT_MS;
    o->canceller = &r->cancel;
    if (r->auth) {
        md->key = grpc_slice_from_static_string("authorization");
        md->value = grpc_slice_from_static_string(r->auth);
        o->metadata = md;
        o->n_metadata = 1;
    }
}

/* Registers; returns the heartbeat interval (ms) or 0 on failure. */
static uint32_t do_register(agt_registrar *r)
{
    Bmcfleet__Gateway__V1__RegisterRequest req = BMCFLEET__GATEWAY__V1__REGISTER_REQUEST__INIT;
    req.agent_id = r->agent_id;
    req.datacenter = r->datacenter;
    req.address = r->address;
    req.capabilities = r->cap_ptrs;
    req.n_capabilities = r->n_caps;
    core_grpc_call_opts o;
    grpc_metadata md;
    call_opts(r, &o, &md);
    tel_span *span = tel_span_start(r->tracer, "agent.register", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_span_set_str(span, "agent_id", r->agent_id);
    tel_span_set_str(span, "datacenter", r->datacenter);
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_context_set_span(&ctx, span);
    ProtobufCMessage *resp = NULL;
    core_grpc_status st;
    int rc = core_grpc_unary(r->ch, &ctx, "/bmcfleet.gateway.v1.Registry/Register", &req.base,
                             &bmcfleet__gateway__v1__register_reply__descriptor, &resp, &o, &st);
    uint32_t interval = 0;
    if (rc == CORE_OK) {
        interval = ((Bmcfleet__Gateway__V1__RegisterReply *)resp)->heartbeat_interval_ms;
        if (interval < 100) interval = 100;
        if (interval > 60000) interval = 60000;
        protobuf_c_message_free_unpacked(resp, NULL);
        tel_attr at[2] = {TEL_ATTR_STR("gateway", r->gateway),
                          TEL_ATTR_INT64("heartbeat_interval_ms", interval)};
        tel_log(TEL_LOG_INFO, at, 2, "registered with the gateway");
    } else {
        tel_span_set_status(span, TEL_STATUS_ERROR, core_grpc_status_name(st.code));
    }
    tel_span_end(span);
    tel_context_cleanup(&ctx);
    if (rc != CORE_OK && rc != CORE_ECANCELLED) {
        tel_attr at[2] = {TEL_ATTR_STR("gateway", r->gateway),
                          TEL_ATTR_STR("rpc.grpc.status", core_grpc_status_name(st.code))};
        tel_log(TEL_LOG_WARN, at, 2, "registration failed: %s", st.message);
    }
    return interval;
}

/* Sends one heartbeat; returns 1 known, 0 unknown, -1 failed. */
static int do_heartbeat(agt_registrar *r)
{
    Bmcfleet__Gateway__V1__HeartbeatRequest req = BMCFLEET__GATEWAY__V1__HEARTBEAT_REQUEST__INIT;
    req.agent_id = r->agent_id;
    if (r->discovery) agt_discovery_counts(r->discovery, &req.bmcs_total, &req.bmcs_reachable);
    core_grpc_call_opts o;
    grpc_metadata md;
    call_opts(r, &o, &md);
    /* An unsampled parent: parent-based samplers drop the heartbeat's spans on both sides. */
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_trace_id_generate(ctx.sc.trace_id);
    tel_span_id_generate(ctx.sc.span_id);
    ctx.sc.flags = 0;
    ProtobufCMessage *resp = NULL;
    core_grpc_status st;
    int rc = core_grpc_unary(r->ch, &ctx, "/bmcfleet.gateway.v1.Registry/Heartbeat", &req.base,
                             &bmcfleet__gateway__v1__heartbeat_reply__descriptor, &resp, &o, &st);
    if (rc != CORE_OK) return -1;
    bool known = ((Bmcfleet__Gateway__V1__HeartbeatReply *)resp)->known;
    protobuf_c_message_free_unpacked(resp, NULL);
    return known ? 1 : 0;
}

static void *registrar_main(void *arg)
{
    agt_registrar *r = arg;
    uint32_t backoff = 200, interval = 0;
    for (;;) {
        if (!interval) {
            interval = do_register(r);
            if (!interval) {
                atomic_store(&r->registered, false);
                if (!nap(r, backoff)) break;
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
                continue;
            }
            backoff = 200;
            atomic_store(&r->registered, true);
        }
        if (!nap(r, interval)) break;
        int hb = do_heartbeat(r);
        if (hb != 1) {
            atomic_store(&r->registered, false);
            tel_log(TEL_LOG_WARN, NULL, 0, "%s; registering again",
                    hb == 0 ? "the gateway does not know this agent" : "heartbeat failed");
            interval = 0;
        }
    }
    return NULL;
}

int agt_registrar_start(agt_registrar *r)
{
    if (pthread_create(&r->thread, NULL, registrar_main, r) != 0) return CORE_ENOMEM;
    r->started = true;
    return CORE_OK;
}

void agt_registrar_destroy(agt_registrar *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    core_grpc_canceller_cancel(&r->cancel);
    if (r->started) pthread_join(r->thread, NULL);
    core_grpc_canceller_cleanup(&r->cancel);
    core_grpc_channel_destroy(r->ch);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    if (r->auth) sodium_free(r->auth);
    free(r);
}

bool agt_registrar_registered(agt_registrar *r)
{
    return atomic_load(&r->registered);
}
