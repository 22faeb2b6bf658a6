/* gw_registry: a small array of agent records under one mutex; records are reference counted so
 * a call in flight keeps its channel after a re-registration replaced the record. */
#include "gw_registry.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/token.h"
#include "gateway.pb-c.h"
#include "telemetry/common.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

#define MAX_CAPS 16
#define MISSED_INTERVALS 3

struct gw_agent {
    atomic_int refs;
    char id[65];
    char datacenter[65];
    char address[256];
    char caps[MAX_CAPS][33];
    size_t n_caps;
    core_grpc_channel *ch;
    _Atomic uint64_t last_seen_ns;
    atomic_bool down;
    atomic_uint bmcs_total, bmcs_reachable;
};

struct gw_registry {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; wakes the sweeper for stop */
    gw_agent **agents;
    size_t n, cap;
    uint32_t hb_ms;
    char *token;
    size_t token_len;
    int keepalive_ms;
    bool stopping;
    pthread_t sweeper;
    bool sweeper_started;
};

/* ---- agent records ---- */

gw_agent *gw_agent_ref(gw_agent *a)
{
    if (a) atomic_fetch_add(&a->refs, 1);
    return a;
}

void gw_agent_release(gw_agent *a)
{
    if (a && atomic_fetch_sub(&a->refs, 1) == 1) {
        core_grpc_channel_destroy(a->ch);
        free(a);
    }
}

core_grpc_channel *gw_agent_channel(const gw_agent *a)
{
    return a->ch;
}

const char *gw_agent_id(const gw_agent *a)
{
    return a->id;
}

const char *gw_agent_address(const gw_agent *a)
{
    return a->address;
}

static bool is_stale(const gw_registry *r, const gw_agent *a, uint64_t now)
{
    uint64_t window = (uint64_t)r->hb_ms * MISSED_INTERVALS * 1000000u;
    return now - atomic_load(&a->last_seen_ns) > window;
}

/* Marks a down (caller holds r->mu); logs once. */
static void set_down_locked(gw_agent *a, const char *reason)
{
    if (atomic_exchange(&a->down, true)) return;
    tel_attr at[3] = {TEL_ATTR_STR("agent_id", a->id), TEL_ATTR_STR("datacenter", a->datacenter),
                      TEL_ATTR_STR("reason", reason)};
    tel_log(TEL_LOG_WARN, at, 3, "agent %s marked down: %s", a->id, reason);
}

static void *sweeper_main(void *arg)
{
    gw_registry *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        uint64_t now = tel_mono_ns();
        for (size_t i = 0; i < r->n; i++)
            if (!atomic_load(&r->agents[i]->down) && is_stale(r, r->agents[i], now))
                set_down_locked(r->agents[i], "missed heartbeats");
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t wait_ms = r->hb_ms / 2 ? r->hb_ms / 2 : 1;
        ts.tv_sec += (time_t)(wait_ms / 1000);
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* The observable gauge outlives any registry (instruments cannot be removed from the meter
 * provider), so its callback reads the live registry through this guarded pointer. */
static pthread_mutex_t observed_mu = PTHREAD_MUTEX_INITIALIZER;
static gw_registry *observed;
static bool gauge_created;

static void observe_agents(tel_observer *obs, void *ud)
{
    (void)ud;
    size_t up = 0, down = 0;
    pthread_mutex_lock(&observed_mu);
    if (observed) gw_registry_counts(observed, &up, &down);
    pthread_mutex_unlock(&observed_mu);
    tel_attr a_up = TEL_ATTR_STR("state", "up"), a_down = TEL_ATTR_STR("state", "down");
    tel_observe_int(obs, (int64_t)up, &a_up, 1);
    tel_observe_int(obs, (int64_t)down, &a_down, 1);
}

gw_registry *gw_registry_create(const gw_registry_config *cfg)
{
    gw_registry *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->hb_ms = cfg && cfg->heartbeat_interval_ms ? cfg->heartbeat_interval_ms : 5000;
    r->cap = cfg && cfg->max_agents ? cfg->max_agents : 256;
    r->keepalive_ms = cfg ? cfg->keepalive_time_ms : 0;
    r->agents = calloc(r->cap, sizeof *r->agents);
    if (!r->agents) goto fail;
    if (cfg && cfg->service_token && *cfg->service_token) {
        r->token_len = strlen(cfg->service_token);
        r->token = sodium_malloc(r->token_len + 1);
        if (!r->token) goto fail;
        memcpy(r->token, cfg->service_token, r->token_len + 1);
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&r->sweeper, NULL, sweeper_main, r) != 0) {
        gw_registry_destroy(r);
        return NULL;
    }
    r->sweeper_started = true;
    pthread_mutex_lock(&observed_mu);
    observed = r;
    if (!gauge_created) {
        tel_instrument_opts o = {.unit = "{agent}", .description = "Registered agents by state",
                                 .value_is_int = true};
        tel_meter_create_observable(tel_global_meter("bmcfleet.gateway", NULL),
                                    TEL_INSTR_OBSERVABLE_GAUGE, "gateway.agents", &o,
                                    observe_agents, NULL);
        gauge_created = true;
    }
    pthread_mutex_unlock(&observed_mu);
    return r;
fail:
    if (r->token) sodium_free(r->token);
    free(r->agents);
    free(r);
    return NULL;
}

void gw_registry_destroy(gw_registry *r)
{
    if (!r) return;
    pthread_mutex_lock(&observed_mu);
    if (observed == r) observed = NULL;
    pthread_mutex_unlock(&observed_mu);
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->sweeper_started) pthread_join(r->sweeper, NULL);
    for (size_t i = 0; i < r->n; i++)
        gw_agent_release(r->agents[i]);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    if (r->token) sodium_free(r->token);
    free(r->agents);
    free(r);
}

int gw_registry_pick(gw_registry *r, const char *datacenter, gw_agent **out, char *down,
                     size_t cap)
{
    *out = NULL;
    if (down && cap) down[0] = '\0';
    bool any = false;
    gw_agent *best = NULL;
    uint64_t now = tel_mono_ns();
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        gw_agent *a = r->agents[i];
        if (strcmp(a->datacenter, datacenter) != 0) continue;
        any = true;
        if (!atomic_load(&a->down) && is_stale(r, a, now)) set_down_locked(a, "missed heartbeats");
        if (atomic_load(&a->down)) {
            if (down && cap && !down[0]) snprintf(down, cap, "%s", a->id);
            continue;
        }
        if (!best || atomic_load(&a->last_seen_ns) > atomic_load(&best->last_seen_ns)) best = a;
    }
    if (best) *out = gw_agent_ref(best);
    pthread_mutex_unlock(&r->mu);
    if (best) return CORE_OK;
    return any ? CORE_EUNAVAILABLE : CORE_ENOTFOUND;
}

void gw_registry_mark_down(gw_registry *r, gw_agent *a, const char *reason)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        if (r->agents[i] == a) set_down_locked(a, reason);
    pthread_mutex_unlock(&r->mu);
}

void gw_registry_counts(gw_registry *r, size_t *up, size_t *down)
{
    size_t u = 0, d = 0;
    uint64_t now = tel_mono_ns();
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        if (atomic_load(&r->agents[i]->down) || is_stale(r, r->agents[i], now))
            d++;
        else
            u++;
    }
    pthread_mutex_unlock(&r->mu);
    if (up) *up = u;
    if (down) *down = d;
}

/* ---- validation ---- */

static bool name_ok(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++) {
        char c = s[n];
        if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

/* host:port or [v6]:port; host of letters, digits, '.', '-' (and ':' inside brackets). */
static bool address_ok(const char *s)
{
    if (!s) return false;
    size_t len = strlen(s);
    if (len < 3 || len > 255) return false;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return false;
    const char *host = s, *host_end = colon;
    if (s[0] == '[') {
        if (colon[-1] != ']') return false;
        host = s + 1;
        host_end = colon - 1;
        if (host == host_end) return false;
        for (const char *p = host; p < host_end; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
                return false;
    } else {
        for (const char *p = host; p < host_end; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
                return false;
    }
    const char *port = colon + 1;
    if (!*port || strlen(port) > 5) return false;
    long v = 0;
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 65535;
}

/* True when the call carries the configured service token (or none is configured). */
static bool call_authorised(const gw_registry *r, core_grpc_call *call)
{
    if (!r->token) return true;
    size_t len = 0;
    const char *v = core_grpc_call_metadata(call, "authorization", &len);
    if (!v || len < 7 || strncmp(v, "Bearer ", 7) != 0) return false;
    return core_token_secret_equal(r->token, v + 7, len - 7);
}

/* ---- Registry methods ---- */

static void on_register(core_grpc_call *call, const tel_context *ctx, const ProtobufCMessage *m,
                        void *ud)
{
    (void)ctx;
    gw_registry *r = ud;
    const Bmcfleet__Gateway__V1__RegisterRequest *req =
        (const Bmcfleet__Gateway__V1__RegisterRequest *)m;
    if (!call_authorised(r, call)) {
        core_grpc_call_finish(call, GRPC_STATUS_UNAUTHENTICATED, "missing or wrong service token");
        return;
    }
    if (!name_ok(req->agent_id) || !name_ok(req->datacenter)) {
        core_grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "agent_id and datacenter must match [A-Za-z0-9._-]{1,64}");
        return;
    }
    if (!address_ok(req->address)) {
        core_grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "address must be host:port");
        return;
    }
    if (req->n_capabilities > MAX_CAPS) {
        core_grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "too many capabilities");
        return;
    }
    for (size_t i = 0; i < req->n_capabilities; i++) {
        if (!name_ok(req->capabilities[i]) || strlen(req->capabilities[i]) > 32) {
            core_grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "invalid capability");
            return;
        }
    }
    tel_span *span = tel_span_current();
    if (span) {
        tel_span_set_str(span, "agent_id", req->agent_id);
        tel_span_set_str(span, "datacenter", req->datacenter);
    }

    gw_agent *a = calloc(1, sizeof *a);
    if (!a) {
        core_grpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    atomic_init(&a->refs, 1);
    snprintf(a->id, sizeof a->id, "%s", req->agent_id);
    snprintf(a->datacenter, sizeof a->datacenter, "%s", req->datacenter);
    snprintf(a->address, sizeof a->address, "%s", req->address);
    for (size_t i = 0; i < req->n_capabilities; i++)
        snprintf(a->caps[a->n_caps++], sizeof a->caps[0], "%s", req->capabilities[i]);
    atomic_init(&a->last_seen_ns, tel_mono_ns());
    atomic_init(&a->down, false);
    core_grpc_channel_config cc = {.target = a->address, .keepalive_time_ms = r->keepalive_ms};
    a->ch = core_grpc_channel_create(&cc);
    if (!a->ch) {
        free(a);
        core_grpc_call_finish(call, GRPC_STATUS_INTERNAL, "cannot create a channel to the agent");
        return;
    }

    gw_agent *old = NULL;
    bool full = false;
    pthread_mutex_lock(&r->mu);
    size_t i = 0;
    for (; i < r->n; i++)
        if (strcmp(r->agents[i]->id, a->id) == 0) break;
    if (i < r->n) {
        old = r->agents[i];
        r->agents[i] = a;
    } else if (r->n < r->cap) {
        r->agents[r->n++] = a;
    } else {
        full = true;
    }
    pthread_mutex_unlock(&r->mu);
    if (full) {
        gw_agent_release(a);
        core_grpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many agents");
        return;
    }
    gw_agent_release(old);

    tel_attr at[3] = {TEL_ATTR_STR("agent_id", a->id), TEL_ATTR_STR("datacenter", a->datacenter),
                      TEL_ATTR_STR("address", a->address)};
    tel_log(TEL_LOG_INFO, at, 3, "agent %s %s", a->id, old ? "registered again" : "registered");

    Bmcfleet__Gateway__V1__RegisterReply reply = BMCFLEET__GATEWAY__V1__REGISTER_REPLY__INIT;
    reply.heartbeat_interval_ms = r->hb_ms;
    core_grpc_call_reply(call, &reply.base);
}

static void on_heartbeat(core_grpc_call *call, const tel_context *ctx, const ProtobufCMessage *m,
                         void *ud)
{
    (void)ctx;
    gw_registry *r = ud;
    const Bmcfleet__Gateway__V1__HeartbeatRequest *req =
        (const Bmcfleet__Gateway__V1__HeartbeatRequest *)m;
    if (!call_authorised(r, call)) {
        core_grpc_call_finish(call, GRPC_STATUS_UNAUTHENTICATED, "missing or wrong service token");
        return;
    }
    if (!name_ok(req->agent_id)) {
        core_grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "invalid agent_id");
        return;
    }
    bool known = false;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        gw_agent *a = r->agents[i];
        if (strcmp(a->id, req->agent_id) != 0) continue;
        if (!atomic_load(&a->down)) {
            atomic_store(&a->last_seen_ns, tel_mono_ns());
            atomic_store(&a->bmcs_total, req->bmcs_total);
            atomic_store(&a->bmcs_reachable, req->bmcs_reachable);
            known = true;
        }
        break;
    }
    pthread_mutex_unlock(&r->mu);
    Bmcfleet__Gateway__V1__HeartbeatReply reply = BMCFLEET__GATEWAY__V1__HEARTBEAT_REPLY__INIT;
    reply.known = known;
    core_grpc_call_reply(call, &reply.base);
}

int gw_registry_serve(gw_registry *r, core_grpc_server *srv)
{
    core_grpc_method reg = {
        .name = "/bmcfleet.gateway.v1.Registry/Register",
        .kind = CORE_GRPC_UNARY,
        .request = &bmcfleet__gateway__v1__register_request__descriptor,
        .response = &bmcfleet__gateway__v1__register_reply__descriptor,
        .unary = on_register,
        .ud = r,
    };
    core_grpc_method hb = {
        .name = "/bmcfleet.gateway.v1.Registry/Heartbeat",
        .kind = CORE_GRPC_UNARY,
        .request = &bmcfleet__gateway__v1__heartbeat_request__descriptor,
        .response = &bmcfleet__gateway__v1__heartbeat_reply__descriptor,
        .unary = on_heartbeat,
        .ud = r,
    };
    int rc = core_grpc_server_register(srv, &reg);
    if (rc == CORE_OK) rc = core_grpc_server_register(srv, &hb);
    return rc;
}
