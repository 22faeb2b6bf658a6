/* agt_rpc: the Agent service handlers and their pool jobs. */
#include "agt_rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.pb-c.h"
#include "core/error.h"
#include "telemetry/log.h"
#include "telemetry/trace.h"

#define DEADLINE_MARGIN_MS 50

typedef enum job_kind { JOB_POWER, JOB_IDENTITY, JOB_SENSORS, JOB_DISCOVER } job_kind;

typedef struct rpc_job {
    agt_rpc *rpc;
    job_kind kind;
    core_grpc_call *call;
    const tel_context *ctx;     /* the call's; valid until it is completed */
    const ProtobufCMessage *req; /* likewise */
    agt_power_action action;
} rpc_job;

uint64_t agt_rpc_deadline(uint64_t now_ns, uint32_t req_ms, int64_t grpc_left_ms, int64_t dflt_ms,
                          int64_t max_ms)
{
    int64_t ms = req_ms ? (int64_t)req_ms : dflt_ms;
    if (ms > max_ms) ms = max_ms;
    if (grpc_left_ms != INT64_MAX && grpc_left_ms - DEADLINE_MARGIN_MS < ms)
        ms = grpc_left_ms - DEADLINE_MARGIN_MS;
    if (ms <= 0) return 0;
    return now_ns + (uint64_t)ms * 1000000u;
}

static const char *bmc_type_of(const char *endpoint)
{
    return strncmp(endpoint, "redfish", 7) == 0 ? "redfish" : "ipmi";
}

static bool endpoint_ok(const char *e)
{
    return e && strlen(e) < 512 &&
           (strncmp(e, "ipmi://", 7) == 0 || strncmp(e, "redfish://", 10) == 0 ||
            strncmp(e, "redfish+https://", 16) == 0);
}

/* The context for driver calls: the call's, plus agent_id and bmc_type in the baggage. */
static void work_context(tel_context *out, const rpc_job *j, const char *bmc_type)
{
    tel_context_copy(out, j->ctx);
    const char *kv[2][2] = {{"agent_id", j->rpc->agent_id}, {"bmc_type", bmc_type}};
    for (int i = 0; i < 2; i++) {
        tel_baggage *b = tel_baggage_set(out->bag, kv[i][0], kv[i][1], NULL);
        if (b) {
            tel_context_set_baggage(out, b);
            tel_baggage_unref(b);
        }
    }
}

static void set_result(agt_result *r, int code, const char *msg)
{
    r->code = code;
    r->bmc_code = 0;
    snprintf(r->message, sizeof r->message, "%s", msg);
}

/* Runs the BMC work of a Power/Identity/Sensors job; fills the reply fields. */
static void run_bmc_job(rpc_job *j, const char *endpoint, const char *user, const char *pass,
                        uint32_t req_deadline_ms, agt_result *r, agt_power_state *state,
                        agt_identity *id, agt_sensor *sensors, size_t cap, size_t *n)
{
    uint64_t now = tel_mono_ns();
    uint64_t deadline =
        agt_rpc_deadline(now, req_deadline_ms, core_grpc_call_deadline_left_ms(j->call),
                         j->rpc->default_deadline_ms, j->rpc->max_deadline_ms);
    if (deadline == 0) {
        set_result(r, AGT_ETIMEOUT, "no time left before the call's deadline");
        return;
    }
    agt_cache_entry *e = agt_cache_acquire(j->rpc->cache, endpoint, user, pass, r);
    if (!e) return; /* r says why (bad endpoint) */
    tel_context ctx = TEL_CONTEXT_INIT;
    work_context(&ctx, j, bmc_type_of(endpoint));
    agt_bmc *b = agt_cache_bmc(e);
    int rc;
    switch (j->kind) {
    case JOB_POWER: rc = agt_bmc_power(b, &ctx, deadline, j->action, state, r); break;
    case JOB_IDENTITY: rc = agt_bmc_identity(b, &ctx, deadline, id, r); break;
    default: rc = agt_bmc_sensors(b, &ctx, deadline, sensors, cap, n, r); break;
    }
    if (rc == AGT_OK) set_result(r, AGT_OK, "");
    r->code = rc;
    agt_cache_release(j->rpc->cache, e, rc == AGT_EAUTH);
    tel_context_cleanup(&ctx);
}

/* One warning per failed BMC operation (the message comes from the drivers: no secrets). */
static void log_failure(const char *what, const char *endpoint, const agt_result *r)
{
    if (r->code == AGT_OK) return;
    tel_attr at[2] = {TEL_ATTR_STR("bmc_type", bmc_type_of(endpoint)),
                      TEL_ATTR_STR("error.type", agt_strerror(r->code))};
    tel_log(TEL_LOG_WARN, at, 2, "%s failed: %s", what, r->message);
}

static void do_power(rpc_job *j)
{
    const Bmcfleet__Agent__V1__PowerRequest *req =
        (const Bmcfleet__Agent__V1__PowerRequest *)j->req;
    agt_result r = {0};
    agt_power_state state = AGT_POWER_UNKNOWN;
    run_bmc_job(j, req->bmc_endpoint, req->bmc_username, req->bmc_password, req->deadline_ms,
                &r, &state, NULL, NULL, 0, NULL);
    log_failure("power", req->bmc_endpoint, &r);
    Bmcfleet__Agent__V1__PowerReply rep = BMCFLEET__AGENT__V1__POWER_REPLY__INIT;
    rep.power_state = (char *)agt_power_state_name(r.code == AGT_OK ? state : AGT_POWER_UNKNOWN);
    rep.code = r.code;
    rep.message = r.message;
    rep.bmc_code = r.bmc_code;
    core_grpc_call_reply(j->call, &rep.base);
}

static void do_identity(rpc_job *j)
{
    const Bmcfleet__Agent__V1__BmcRequest *req = (const Bmcfleet__Agent__V1__BmcRequest *)j->req;
    agt_result r = {0};
    agt_identity id = {0};
    run_bmc_job(j, req->bmc_endpoint, req->bmc_username, req->bmc_password, req->deadline_ms,
                &r, NULL, &id, NULL, 0, NULL);
    log_failure("identity", req->bmc_endpoint, &r);
    Bmcfleet__Agent__V1__Identity ident = BMCFLEET__AGENT__V1__IDENTITY__INIT;
    ident.manufacturer = id.manufacturer;
    ident.model = id.model;
    ident.serial = id.serial;
    ident.firmware = id.firmware;
    ident.guid = id.guid;
    Bmcfleet__Agent__V1__IdentityReply rep = BMCFLEET__AGENT__V1__IDENTITY_REPLY__INIT;
    rep.code = r.code;
    rep.message = r.message;
    rep.bmc_code = r.bmc_code;
    rep.bmc_type = (char *)bmc_type_of(req->bmc_endpoint);
    if (r.code == AGT_OK) rep.identity = &ident;
    core_grpc_call_reply(j->call, &rep.base);
}

static const char *sensor_kind(agt_sensor_kind k)
{
    return k == AGT_SENSOR_TEMPERATURE ? "temperature" : k == AGT_SENSOR_FAN ? "fan" : "power";
}

static const char *sensor_unit(agt_sensor_kind k)
{
    return k == AGT_SENSOR_TEMPERATURE ? "Cel" : k == AGT_SENSOR_FAN ? "rpm" : "W";
}

/* Fills the protobuf sensors (out, ptrs: cap entries) from s[0..n). */
static void sensors_to_pb(const agt_sensor *s, size_t n, Bmcfleet__Agent__V1__Sensor *out,
                          Bmcfleet__Agent__V1__Sensor **ptrs)
{
    for (size_t i = 0; i < n; i++) {
        bmcfleet__agent__v1__sensor__init(&out[i]);
        out[i].name = (char *)s[i].name;
        out[i].kind = (char *)sensor_kind(s[i].kind);
        out[i].value = s[i].value;
        out[i].unit = (char *)sensor_unit(s[i].kind);
        ptrs[i] = &out[i];
    }
}

#define MAX_SENSORS 128

static void do_sensors(rpc_job *j)
{
    const Bmcfleet__Agent__V1__BmcRequest *req = (const Bmcfleet__Agent__V1__BmcRequest *)j->req;
    agt_result r = {0};
    agt_sensor *s = calloc(MAX_SENSORS, sizeof *s);
    Bmcfleet__Agent__V1__Sensor *pb = calloc(MAX_SENSORS, sizeof *pb);
    Bmcfleet__Agent__V1__Sensor **ptrs = calloc(MAX_SENSORS, sizeof *ptrs);
    size_t n = 0;
    if (!s || !pb || !ptrs)
        set_result(&r, AGT_ENOMEM, "out of memory");
    else
        run_bmc_job(j, req->bmc_endpoint, req->bmc_username, req->bmc_password,
                    req->deadline_ms, &r, NULL, NULL, s, MAX_SENSORS, &n);
    log_failure("sensors", req->bmc_endpoint, &r);
    Bmcfleet__Agent__V1__SensorsReply rep = BMCFLEET__AGENT__V1__SENSORS_REPLY__INIT;
    rep.code = r.code;
    rep.message = r.message;
    rep.bmc_code = r.bmc_code;
    if (r.code == AGT_OK) {
        sensors_to_pb(s, n, pb, ptrs);
        rep.n_sensors = n;
        rep.sensors = ptrs;
    }
    core_grpc_call_reply(j->call, &rep.base);
    free(ptrs);
    free(pb);
    free(s);
}

static void do_discover(rpc_job *j)
{
    const Bmcfleet__Agent__V1__DiscoverRequest *req =
        (const Bmcfleet__Agent__V1__DiscoverRequest *)j->req;
    agt_discovery *d = j->rpc->discovery;
    Bmcfleet__Agent__V1__DiscoverReply rep = BMCFLEET__AGENT__V1__DISCOVER_REPLY__INIT;
    if (!d) {
        core_grpc_call_reply(j->call, &rep.base);
        return;
    }
    if (req->refresh) {
        uint64_t dl = agt_rpc_deadline(tel_mono_ns(), req->deadline_ms,
                                       core_grpc_call_deadline_left_ms(j->call),
                                       j->rpc->default_deadline_ms, j->rpc->max_deadline_ms);
        if (dl == 0) {
            core_grpc_call_finish(j->call, GRPC_STATUS_DEADLINE_EXCEEDED, "no time left");
            return;
        }
        agt_discovery_run(d, j->ctx, dl);
    }
    size_t cap = agt_discovery_count(d);
    agt_discovered *res = calloc(cap ? cap : 1, sizeof *res);
    Bmcfleet__Agent__V1__DiscoveredBmc *bm = calloc(cap ? cap : 1, sizeof *bm);
    Bmcfleet__Agent__V1__DiscoveredBmc **bp = calloc(cap ? cap : 1, sizeof *bp);
    Bmcfleet__Agent__V1__Identity *ids = calloc(cap ? cap : 1, sizeof *ids);
    Bmcfleet__Agent__V1__Sensor *sp = calloc((cap ? cap : 1) * AGT_DISCOVERY_MAX_SENSORS,
                                             sizeof *sp);
    Bmcfleet__Agent__V1__Sensor **spp = calloc((cap ? cap : 1) * AGT_DISCOVERY_MAX_SENSORS,
                                               sizeof *spp);
    if (!res || !bm || !bp || !ids || !sp || !spp) {
        core_grpc_call_finish(j->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    int64_t cycle_ms = 0;
    size_t n = agt_discovery_snapshot(d, res, cap, &cycle_ms);
    for (size_t i = 0; i < n; i++) {
        Bmcfleet__Agent__V1__DiscoveredBmc *b = &bm[i];
        bmcfleet__agent__v1__discovered_bmc__init(b);
        b->endpoint = res[i].endpoint;
        b->bmc_type = res[i].bmc_type;
        b->code = res[i].code;
        b->message = res[i].message;
        b->power_state = (char *)agt_power_state_name(res[i].power);
        b->last_seen_unix_ms = res[i].last_seen_unix_ms;
        if (res[i].has_identity) {
            bmcfleet__agent__v1__identity__init(&ids[i]);
            ids[i].manufacturer = res[i].identity.manufacturer;
            ids[i].model = res[i].identity.model;
            ids[i].serial = res[i].identity.serial;
            ids[i].firmware = res[i].identity.firmware;
            ids[i].guid = res[i].identity.guid;
            b->identity = &ids[i];
        }
        size_t off = i * AGT_DISCOVERY_MAX_SENSORS;
        sensors_to_pb(res[i].sensors, res[i].n_sensors, sp + off, spp + off);
        b->n_sensors = res[i].n_sensors;
        b->sensors = spp + off;
        bp[i] = b;
    }
    rep.n_bmcs = n;
    rep.bmcs = bp;
    rep.cycle_unix_ms = cycle_ms;
    core_grpc_call_reply(j->call, &rep.base);
out:
    free(spp);
    free(sp);
    free(ids);
    free(bp);
    free(bm);
    free(res);
}

static void job_run(void *arg)
{
    rpc_job *j = arg;
    if (core_grpc_call_is_cancelled(j->call)) {
        core_grpc_call_finish(j->call, GRPC_STATUS_CANCELLED, "cancelled before it started");
        free(j);
        return;
    }
    /* The pool made the call's server span the thread's current span (log lines carry its
     * ids); nothing logs after the reply, which may end the span. */
    switch (j->kind) {
    case JOB_POWER: do_power(j); break;
    case JOB_IDENTITY: do_identity(j); break;
    case JOB_SENSORS: do_sensors(j); break;
    case JOB_DISCOVER: do_discover(j); break;
    }
    free(j);
}

static void submit(agt_rpc *rpc, job_kind kind, core_grpc_call *call, const tel_context *ctx,
                   const ProtobufCMessage *req, agt_power_action action)
{
    rpc_job *j = calloc(1, sizeof *j);
    if (!j) {
        core_grpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    *j = (rpc_job){rpc, kind, call, ctx, req, action};
    /* the handler's current span is the call's server span */
    if (core_workpool_submit(rpc->pool, job_run, j, tel_span_current()) != CORE_OK) {
        free(j);
        core_grpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "the agent is busy");
    }
}

/* Copies agent_id and bmc_type onto the server span (the thread's current span while a
 * handler runs). */
static void tag_server_span(const agt_rpc *rpc, const char *endpoint)
{
    tel_span *span = tel_span_current();
    if (!span) return;
    tel_span_set_str(span, "agent_id", rpc->agent_id);
    if (endpoint) tel_span_set_str_static(span, "bmc_type", bmc_type_of(endpoint));
}

static void on_power(core_grpc_call *call, const tel_context *ctx, const ProtobufCMessage *m,
                     void *ud)
{
    agt_rpc *rpc = ud;
    const Bmcfleet__Agent__V1__PowerRequest *req = (const Bmcfleet__Agent__V1__PowerRequest *)m;
    agt_power_action action;
    if (!endpoint_ok(req->bmc_endpoint)) {
        tag_server_span(rpc, NULL);
        core_grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "bmc_endpoint must be ipmi://, redfish:// or redfish+https://");
        return;
    }
    tag_server_span(rpc, req->bmc_endpoint);
    if (agt_power_action_parse(req->action, &action) != AGT_OK) {
        core_grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "action must be on, off, soft, cycle, reset or status");
        return;
    }
    submit(rpc, JOB_POWER, call, ctx, m, action);
}

static void on_bmc_request(core_grpc_call *call, const tel_context *ctx,
                           const ProtobufCMessage *m, agt_rpc *rpc, job_kind kind)
{
    const Bmcfleet__Agent__V1__BmcRequest *req = (const Bmcfleet__Agent__V1__BmcRequest *)m;
    if (!endpoint_ok(req->bmc_endpoint)) {
        tag_server_span(rpc, NULL);
        core_grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "bmc_endpoint must be ipmi://, redfish:// or redfish+https://");
        return;
    }
    tag_server_span(rpc, req->bmc_endpoint);
    submit(rpc, kind, call, ctx, m, AGT_POWER_STATUS);
}

static void on_identity(core_grpc_call *call, const tel_context *ctx, const ProtobufCMessage *m,
                        void *ud)
{
    on_bmc_request(call, ctx, m, ud, JOB_IDENTITY);
}

static void on_sensors(core_grpc_call *call, const tel_context *ctx, const ProtobufCMessage *m,
                       void *ud)
{
    on_bmc_request(call, ctx, m, ud, JOB_SENSORS);
}

static void on_discover(core_grpc_call *call, const tel_context *ctx, const ProtobufCMessage *m,
                        void *ud)
{
    tag_server_span(ud, NULL);
    submit(ud, JOB_DISCOVER, call, ctx, m, AGT_POWER_STATUS);
}

/* Console streams: declared for the console issue, not implemented yet. */
static void stream_open(core_grpc_call *call, const tel_context *ctx, void *ud)
{
    (void)ctx;
    tag_server_span(ud, NULL);
    core_grpc_call_finish(call, GRPC_STATUS_UNIMPLEMENTED, "console streams are not available yet");
}

static void stream_message(core_grpc_call *call, const tel_context *ctx,
                           const ProtobufCMessage *msg, void *ud)
{
    (void)call, (void)ctx, (void)msg, (void)ud; /* the call was finished in stream_open */
}

static void stream_half_close(core_grpc_call *call, const tel_context *ctx, void *ud)
{
    (void)call, (void)ctx, (void)ud;
}

int agt_rpc_serve(agt_rpc *rpc, core_grpc_server *srv)
{
    const core_grpc_method unary[] = {
        {.name = "/bmcfleet.agent.v1.Agent/Power",
         .kind = CORE_GRPC_UNARY,
         .request = &bmcfleet__agent__v1__power_request__descriptor,
         .response = &bmcfleet__agent__v1__power_reply__descriptor,
         .unary = on_power,
         .ud = rpc},
        {.name = "/bmcfleet.agent.v1.Agent/Identity",
         .kind = CORE_GRPC_UNARY,
         .request = &bmcfleet__agent__v1__bmc_request__descriptor,
         .response = &bmcfleet__agent__v1__identity_reply__descriptor,
         .unary = on_identity,
         .ud = rpc},
        {.name = "/bmcfleet.agent.v1.Agent/Sensors",
         .kind = CORE_GRPC_UNARY,
         .request = &bmcfleet__agent__v1__bmc_request__descriptor,
         .response = &bmcfleet__agent__v1__sensors_reply__descriptor,
         .unary = on_sensors,
         .ud = rpc},
        {.name = "/bmcfleet.agent.v1.Agent/Discover",
         .kind = CORE_GRPC_UNARY,
         .request = &bmcfleet__agent__v1__discover_request__descriptor,
         .response = &bmcfleet__agent__v1__discover_reply__descriptor,
         .unary = on_discover,
         .ud = rpc},
    };
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) {
        int rc = core_grpc_server_register(srv, &unary[i]);
        if (rc != CORE_OK) return rc;
    }
    const char *streams[] = {"/bmcfleet.agent.v1.Agent/SolStream",
                             "/bmcfleet.agent.v1.Agent/VncStream"};
    for (size_t i = 0; i < 2; i++) {
        core_grpc_method m = {
            .name = streams[i],
            .kind = CORE_GRPC_BIDI_STREAM,
            .request = &bmcfleet__agent__v1__console_frame__descriptor,
            .response = &bmcfleet__agent__v1__console_frame__descriptor,
            .stream = {.on_open = stream_open,
                       .on_message = stream_message,
                       .on_half_close = stream_half_close},
            .ud = rpc,
        };
        int rc = core_grpc_server_register(srv, &m);
        if (rc != CORE_OK) return rc;
    }
    return CORE_OK;
}
