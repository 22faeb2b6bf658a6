/* The IPMI driver: IPMI 2.0 / RMCP+ out of band through libfreeipmi.
 *
 * Sessions. Each BMC handle keeps a pool of at most pool_max_sessions (default 2) RMCP+ sessions;
 * a call takes an idle session (or opens one in an empty slot, or waits for one until its
 * deadline), uses it for every command of the operation and gives it back. Sessions are opened at
 * the configured privilege (default OPERATOR: enough for chassis control; nothing this driver does
 * needs ADMINISTRATOR) with cipher suite 3 by default and the per-server FreeIPMI workaround flags.
 *
 * Timeouts. libfreeipmi fixes a session's timeout S and retransmission interval at open time and
 * applies S from the last packet received: a command fails once S has passed without an answer,
 * and a session idle for longer than S fails its next command at once. The defaults (20 s and
 * 1 s) would ignore any deadline, so each session is opened with S = remaining/2 (at least
 * 250 ms or the remaining time, at most 5 s) and a retransmission interval of S/5 (50 ms..1 s),
 * leaving half of the caller's budget for one replacement. Before a command a pooled session is
 * reopened when it has been idle too long for S (the library would fail it) or when its worst case
 * (last answer + S + two retransmission intervals) would pass the caller's deadline.
 *
 * Replacement. When a command fails at the transport level (session timeout: the BMC restarted,
 * dropped the session, or stopped answering) the session is closed and reopened once and the
 * command retried, for commands that are safe to repeat: status reads and power on/off. Power
 * cycle, reset and soft-off are never sent twice.
 *
 * Tracing (parents are the caller's context): an INTERNAL span per operation (ipmi.power,
 * ipmi.identity, ipmi.sensors) carrying "ipmi.session.replaced" and "retry" events; under it a
 * CLIENT span per session opened (ipmi.session.open: cipher suite, privilege, timeouts, reason)
 * and a CLIENT span per IPMI command (ipmi.get_chassis_status, ipmi.chassis_control,
 * ipmi.get_device_id, ipmi.get_system_guid, ipmi.get_sdr_repository_info, ipmi.get_sdr,
 * ipmi.get_sensor_reading) with bmc.type, bmc.address and server.address (host only),
 * server.port, ipmi.netfn, ipmi.cmd, ipmi.completion_code and ipmi.session.reused. Failures set
 * ERROR status with libfreeipmi's error text and error.type. libfreeipmi retransmits internally
 * and exposes no hook, so "ipmi.retransmission" events are inferred from the elapsed time and the
 * library's fixed schedule (resend after 1, 1, 2, 2, 3, 3, ... intervals without an answer) and
 * marked ipmi.retransmission.inferred=true. Business ids found in the caller's baggage are copied
 * onto the operation span. Credentials never reach a span, a result message or a log line.
 *
 * Sensors come from the SDR repository (fetched with libfreeipmi's SDR cache into memory, fetched
 * again when the repository's record count or timestamps change): full sensor records owned by
 * the BMC whose base unit is degrees C, RPM or watts, each read with Get Sensor Reading and
 * converted with the record's factors.
 *
 * Thread safety: every entry point may be called from several threads; a session is used by one
 * thread at a time (libfreeipmi contexts are not thread safe). */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <freeipmi/freeipmi.h>

#include "agent/bmc_driver.h"
#include "telemetry/trace.h"

#define SESSION_TIMEOUT_MIN_MS 250u
#define SESSION_TIMEOUT_MAX_MS 5000u
#define RETRANS_MIN_MS 50u
#define RETRANS_MAX_MS 1000u
#define POOL_MAX_LIMIT 16
#define SDR_MAX_RECORDS 1024
#define IPMI_USER_MAX 16
#define IPMI_PASS_MAX 20

typedef struct ipmi_sess {
    ipmi_ctx_t ctx;
    bool open;           /* an RMCP+ session is established on ctx */
    bool busy;           /* taken by a call */
    unsigned timeout_ms; /* S given at open */
    unsigned retrans_ms; /* retransmission interval given at open */
    uint64_t last_ok_ns; /* monotonic time of the last answer */
} ipmi_sess;

typedef struct sdr_rec {
    uint16_t len;
    uint8_t data[IPMI_SDR_MAX_RECORD_LENGTH];
} sdr_rec;

typedef struct ipmi_drv {
    agt_endpoint ep;
    char hostport[300];
    char user[IPMI_USER_MAX + 1];
    char pass[IPMI_PASS_MAX + 1];
    uint8_t cipher;
    uint8_t priv;
    unsigned wflags;
    int pool_max;
    tel_tracer *tracer;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    ipmi_sess *sess;

    /* SDR repository copy (guarded by sdr_mu) */
    pthread_mutex_t sdr_mu;
    bool sdr_valid;
    uint16_t sdr_count;
    uint32_t sdr_add_ts, sdr_erase_ts;
    sdr_rec *sdr;
    size_t n_sdr;
} ipmi_drv;

/* One operation in flight: its session, span and deadline. */
typedef struct ipmi_op {
    ipmi_drv *d;
    ipmi_sess *s;
    tel_span *span;
    tel_context ctx; /* the operation span as parent */
    uint64_t deadline_ns;
    bool reused;   /* the session existed before this operation */
    bool replaced; /* the one replacement was used */
    agt_result *res;
} ipmi_op;

/* ---- small helpers ---- */

static uint64_t mono_ns(void)
{
    return tel_mono_ns();
}

static uint64_t remaining_ms(uint64_t deadline_ns)
{
    uint64_t now = mono_ns();
    return deadline_ns > now ? (deadline_ns - now) / 1000000u : 0;
}

static const char *priv_name(uint8_t p)
{
    switch (p) {
    case IPMI_PRIVILEGE_LEVEL_CALLBACK: return "CALLBACK";
    case IPMI_PRIVILEGE_LEVEL_USER: return "USER";
    case IPMI_PRIVILEGE_LEVEL_OPERATOR: return "OPERATOR";
    case IPMI_PRIVILEGE_LEVEL_ADMIN: return "ADMINISTRATOR";
    case IPMI_PRIVILEGE_LEVEL_OEM: return "OEM";
    default: return "UNKNOWN";
    }
}

/* AGT_* code for a libfreeipmi errnum. */
static int map_errnum(int e, bool opening)
{
    switch (e) {
    case IPMI_ERR_USERNAME_INVALID:
    case IPMI_ERR_PASSWORD_INVALID:
    case IPMI_ERR_K_G_INVALID:
    case IPMI_ERR_PRIVILEGE_LEVEL_INSUFFICIENT:
    case IPMI_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED:
    case IPMI_ERR_AUTHENTICATION_TYPE_UNAVAILABLE:
    case IPMI_ERR_PASSWORD_VERIFICATION_TIMEOUT:
    case IPMI_ERR_PERMISSION:
        return AGT_EAUTH;
    case IPMI_ERR_CIPHER_SUITE_ID_UNAVAILABLE:
    case IPMI_ERR_IPMI_2_0_UNAVAILABLE:
    case IPMI_ERR_COMMAND_INVALID_OR_UNSUPPORTED:
        return AGT_EUNSUPPORTED;
    case IPMI_ERR_CONNECTION_TIMEOUT:
    case IPMI_ERR_HOSTNAME_INVALID:
        return AGT_EUNREACHABLE;
    case IPMI_ERR_SESSION_TIMEOUT:
    case IPMI_ERR_MESSAGE_TIMEOUT:
        return AGT_ETIMEOUT;
    case IPMI_ERR_BAD_COMPLETION_CODE:
    case IPMI_ERR_BMC_BUSY:
    case IPMI_ERR_IPMI_ERROR:
    case IPMI_ERR_BAD_RMCPPLUS_STATUS_CODE:
    case IPMI_ERR_NOT_FOUND:
        return AGT_EBMC;
    case IPMI_ERR_OUT_OF_MEMORY:
        return AGT_ENOMEM;
    case IPMI_ERR_PARAMETERS:
        return AGT_EINVAL;
    case IPMI_ERR_SYSTEM_ERROR:
        return opening ? AGT_EUNREACHABLE : AGT_EPROTO;
    default:
        return AGT_EPROTO;
    }
}

/* True when errnum means the session itself is unusable (replace it), not that the BMC
 * refused one command. */
static bool session_broken(int e)
{
    switch (e) {
    case IPMI_ERR_SESSION_TIMEOUT:
    case IPMI_ERR_CONNECTION_TIMEOUT:
    case IPMI_ERR_SYSTEM_ERROR:
    case IPMI_ERR_BAD_RMCPPLUS_STATUS_CODE:
    case IPMI_ERR_DEVICE_NOT_OPEN:
    case IPMI_ERR_CTX_INVALID:
    case IPMI_ERR_INTERNAL_ERROR:
        return true;
    default:
        return false;
    }
}

static const char *const baggage_keys[] = {"customer_id", "server_id", "session_id",
                                           "datacenter",  "agent_id",  "bmc_type"};

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

static void set_bmc_attrs(const ipmi_drv *d, tel_span *span)
{
    tel_span_set_str_static(span, "bmc.type", "ipmi");
    tel_span_set_str(span, "bmc.address", d->ep.host);
    tel_span_set_str(span, "server.address", d->ep.host);
    tel_span_set_int(span, "server.port", d->ep.port);
}

/* Adds the retransmissions libfreeipmi must have sent during a wait of elapsed_ns without an
 * answer, at the times its schedule sends them (interval r, multiplied by count/2 + 1). */
static void add_retransmissions(tel_span *span, uint64_t start_wall_ns, uint64_t elapsed_ns,
                                unsigned r_ms)
{
    if (!tel_span_is_recording(span) || r_ms == 0)
        return;
    uint64_t t = 0;
    for (unsigned k = 0; k < 64; k++) {
        t += (uint64_t)r_ms * 1000000u * (k / 2 + 1);
        if (t >= elapsed_ns)
            break;
        tel_attr ev[] = {TEL_ATTR_INT64("ipmi.retransmission.number", k + 1),
                         TEL_ATTR_BOOLEAN("ipmi.retransmission.inferred", true)};
        tel_span_add_event_at(span, "ipmi.retransmission", ev, 2, start_wall_ns + t);
    }
}

static void span_fail(tel_span *span, const char *error_type, const char *msg)
{
    tel_span_set_str(span, "error.type", error_type);
    tel_span_set_status(span, TEL_STATUS_ERROR, msg);
}

/* ---- sessions ---- */

static void sess_close(ipmi_sess *s)
{
    if (s->ctx && s->open)
        ipmi_ctx_close(s->ctx);
    s->open = false;
}

static void sess_destroy(ipmi_sess *s)
{
    sess_close(s);
    if (s->ctx)
        ipmi_ctx_destroy(s->ctx);
    s->ctx = NULL;
}

/* Opens an RMCP+ session on s (closing what was there) with timeouts from the deadline.
 * reason: "new", "expired", "deadline", "replace". */
static int sess_open(ipmi_op *op, const char *reason)
{
    ipmi_drv *d = op->d;
    ipmi_sess *s = op->s;
    sess_close(s);
    uint64_t rem = remaining_ms(op->deadline_ns);
    if (rem == 0)
        return agt_result_set(op->res, AGT_ETIMEOUT, 0,
                              "deadline passed before an IPMI session could be opened to %s",
                              d->ep.host);
    unsigned S = (unsigned)(rem / 2);
    if (S > SESSION_TIMEOUT_MAX_MS)
        S = SESSION_TIMEOUT_MAX_MS;
    if (S < SESSION_TIMEOUT_MIN_MS)
        S = (unsigned)(rem < SESSION_TIMEOUT_MIN_MS ? rem : SESSION_TIMEOUT_MIN_MS);
    unsigned R = S / 5;
    if (R < RETRANS_MIN_MS)
        R = RETRANS_MIN_MS;
    if (R > RETRANS_MAX_MS)
        R = RETRANS_MAX_MS;
    if (R > S)
        R = S;

    tel_span_start_opts so = {.name = "ipmi.session.open", .kind = TEL_SPAN_KIND_CLIENT,
                              .parent = &op->ctx};
    tel_span *span = tel_span_start_ex(d->tracer, &so);
    if (tel_span_is_recording(span)) {
        set_bmc_attrs(d, span);
        tel_span_set_int(span, "ipmi.cipher_suite", d->cipher);
        tel_span_set_str_static(span, "ipmi.privilege", priv_name(d->priv));
        tel_span_set_int(span, "ipmi.session.timeout_ms", S);
        tel_span_set_int(span, "ipmi.retransmission_timeout_ms", R);
        tel_span_set_int(span, "ipmi.workaround_flags", d->wflags);
        tel_span_set_str_static(span, "ipmi.session.reason", reason);
    }
    if (!s->ctx && !(s->ctx = ipmi_ctx_create())) {
        span_fail(span, "ENOMEM", "ipmi_ctx_create failed");
        tel_span_end(span);
        return agt_result_set(op->res, AGT_ENOMEM, 0, "out of memory");
    }
    uint64_t w0 = tel_now_ns(), t0 = mono_ns();
    int rc = ipmi_ctx_open_outofband_2_0(s->ctx, d->hostport, d->user, d->pass, NULL, 0, d->priv,
                                         d->cipher, S, R, d->wflags, IPMI_FLAGS_DEFAULT);
    uint64_t elapsed = mono_ns() - t0;
    if (rc < 0) {
        int e = ipmi_ctx_errnum(s->ctx);
        const char *msg = ipmi_ctx_errormsg(s->ctx);
        int code = map_errnum(e, true);
        if (e == IPMI_ERR_CONNECTION_TIMEOUT || e == IPMI_ERR_SESSION_TIMEOUT)
            add_retransmissions(span, w0, elapsed, R);
        span_fail(span, ipmi_ctx_strerror(e), msg);
        tel_span_end(span);
        /* A context whose open failed is not reused. */
        ipmi_ctx_destroy(s->ctx);
        s->ctx = NULL;
        if (code == AGT_EUNREACHABLE && e == IPMI_ERR_CONNECTION_TIMEOUT)
            return agt_result_set(op->res, code, 0,
                                  "no answer from BMC %s:%d within %u ms (%s)", d->ep.host,
                                  d->ep.port, S, msg);
        return agt_result_set(op->res, code, 0, "IPMI session to %s:%d: %s", d->ep.host,
                              d->ep.port, msg);
    }
    s->open = true;
    s->timeout_ms = S;
    s->retrans_ms = R;
    s->last_ok_ns = mono_ns();
    tel_span_end(span);
    return AGT_OK;
}

/* Takes a session slot, waiting until the deadline when all are busy. */
static int pool_acquire(ipmi_op *op)
{
    ipmi_drv *d = op->d;
    struct timespec ts = {(time_t)(op->deadline_ns / 1000000000u),
                          (long)(op->deadline_ns % 1000000000u)};
    pthread_mutex_lock(&d->mu);
    for (;;) {
        ipmi_sess *best = NULL;
        for (int i = 0; i < d->pool_max; i++) {
            ipmi_sess *s = &d->sess[i];
            if (s->busy)
                continue;
            /* Prefer an open session, the most recently answered one. */
            if (!best || (s->open && !best->open) ||
                (s->open && best->open && s->last_ok_ns > best->last_ok_ns))
                best = s;
        }
        if (best) {
            best->busy = true;
            op->s = best;
            pthread_mutex_unlock(&d->mu);
            return AGT_OK;
        }
        if (mono_ns() >= op->deadline_ns)
            break;
        int rc = pthread_cond_timedwait(&d->cv, &d->mu, &ts);
        if (rc == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&d->mu);
    return agt_result_set(op->res, AGT_ETIMEOUT, 0,
                          "deadline passed waiting for one of the %d IPMI sessions to %s",
                          d->pool_max, d->ep.host);
}

static void pool_release(ipmi_op *op)
{
    ipmi_drv *d = op->d;
    if (!op->s)
        return;
    pthread_mutex_lock(&d->mu);
    op->s->busy = false;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    op->s = NULL;
}

/* Makes op->s usable before the deadline: opens it, or reopens it when libfreeipmi would fail
 * it for idleness or its worst case passes the deadline. */
static int pool_prepare(ipmi_op *op)
{
    ipmi_sess *s = op->s;
    if (!s->open) {
        op->reused = false;
        return sess_open(op, "new");
    }
    uint64_t now = mono_ns();
    uint64_t S = (uint64_t)s->timeout_ms * 1000000u, R = (uint64_t)s->retrans_ms * 1000000u;
    if (now + R >= s->last_ok_ns + S) {
        op->reused = false;
        return sess_open(op, "expired");
    }
    if (s->last_ok_ns + S + 2 * R > op->deadline_ns) {
        op->reused = false;
        return sess_open(op, "deadline");
    }
    op->reused = true;
    return AGT_OK;
}

/* ---- commands ---- */

typedef enum cmd_id {
    CMD_GET_CHASSIS_STATUS,
    CMD_CHASSIS_CONTROL,
    CMD_GET_DEVICE_ID,
    CMD_GET_SYSTEM_GUID,
    CMD_GET_SDR_REPOSITORY_INFO,
    CMD_GET_SENSOR_READING,
} cmd_id;

static const struct {
    const char *span;
    uint8_t netfn, cmd;
} cmd_info[] = {
    [CMD_GET_CHASSIS_STATUS] = {"ipmi.get_chassis_status", IPMI_NET_FN_CHASSIS_RQ,
                                IPMI_CMD_GET_CHASSIS_STATUS},
    [CMD_CHASSIS_CONTROL] = {"ipmi.chassis_control", IPMI_NET_FN_CHASSIS_RQ,
                             IPMI_CMD_CHASSIS_CONTROL},
    [CMD_GET_DEVICE_ID] = {"ipmi.get_device_id", IPMI_NET_FN_APP_RQ, IPMI_CMD_GET_DEVICE_ID},
    [CMD_GET_SYSTEM_GUID] = {"ipmi.get_system_guid", IPMI_NET_FN_APP_RQ,
                             IPMI_CMD_GET_SYSTEM_GUID},
    [CMD_GET_SDR_REPOSITORY_INFO] = {"ipmi.get_sdr_repository_info", IPMI_NET_FN_STORAGE_RQ,
                                     IPMI_CMD_GET_SDR_REPOSITORY_INFO},
    [CMD_GET_SENSOR_READING] = {"ipmi.get_sensor_reading", IPMI_NET_FN_SENSOR_EVENT_RQ,
                                IPMI_CMD_GET_SENSOR_READING},
};

static int issue(ipmi_ctx_t c, cmd_id id, uint8_t arg, fiid_obj_t rs)
{
    switch (id) {
    case CMD_GET_CHASSIS_STATUS: return ipmi_cmd_get_chassis_status(c, rs);
    case CMD_CHASSIS_CONTROL: return ipmi_cmd_chassis_control(c, arg, rs);
    case CMD_GET_DEVICE_ID: return ipmi_cmd_get_device_id(c, rs);
    case CMD_GET_SYSTEM_GUID: return ipmi_cmd_get_system_guid(c, rs);
    case CMD_GET_SDR_REPOSITORY_INFO: return ipmi_cmd_get_sdr_repository_info(c, rs);
    case CMD_GET_SENSOR_READING: return ipmi_cmd_get_sensor_reading(c, arg, rs);
    }
    return -1;
}

static int completion_code(fiid_obj_t rs)
{
    uint64_t v = 0;
    if (rs && fiid_obj_get(rs, "comp_code", &v) == 1)
        return (int)v;
    return -1;
}

/* Runs one command on op's session under its own CLIENT span. When the session turns out broken
 * and the command may be repeated (retry_safe), replaces the session once and retries.
 * rs is cleared before each attempt. */
static int run_cmd(ipmi_op *op, cmd_id id, uint8_t arg, fiid_obj_t rs, bool retry_safe)
{
    ipmi_drv *d = op->d;
    for (int attempt = 1;; attempt++) {
        fiid_obj_clear(rs);
        tel_span_start_opts so = {.name = cmd_info[id].span, .kind = TEL_SPAN_KIND_CLIENT,
                                  .parent = &op->ctx};
        tel_span *span = tel_span_start_ex(d->tracer, &so);
        bool rec = tel_span_is_recording(span);
        if (rec) {
            set_bmc_attrs(d, span);
            tel_span_set_int(span, "ipmi.netfn", cmd_info[id].netfn);
            tel_span_set_int(span, "ipmi.cmd", cmd_info[id].cmd);
            tel_span_set_bool(span, "ipmi.session.reused", op->reused);
            if (attempt > 1)
                tel_span_set_int(span, "ipmi.attempt", attempt);
            if (id == CMD_CHASSIS_CONTROL)
                tel_span_set_int(span, "ipmi.chassis_control", arg);
            else if (id == CMD_GET_SENSOR_READING)
                tel_span_set_int(span, "ipmi.sensor.number", arg);
        }
        uint64_t w0 = tel_now_ns(), t0 = mono_ns();
        int rc = issue(op->s->ctx, id, arg, rs);
        uint64_t elapsed = mono_ns() - t0;
        int cc = completion_code(rs);
        if (rec && cc >= 0)
            tel_span_set_int(span, "ipmi.completion_code", cc);
        if (rc == 0) {
            op->s->last_ok_ns = mono_ns();
            if (elapsed >= (uint64_t)op->s->retrans_ms * 1000000u)
                add_retransmissions(span, w0, elapsed, op->s->retrans_ms);
            tel_span_end(span);
            if (attempt > 1)
                agt_result_set(op->res, AGT_OK, 0, "ok");
            return AGT_OK;
        }
        int e = ipmi_ctx_errnum(op->s->ctx);
        const char *msg = ipmi_ctx_errormsg(op->s->ctx);
        bool broken = session_broken(e);
        if (broken)
            add_retransmissions(span, w0, elapsed, op->s->retrans_ms);
        else if (cc > 0)
            op->s->last_ok_ns = mono_ns(); /* the BMC answered */
        span_fail(span, ipmi_ctx_strerror(e), msg);
        tel_span_end(span);
        int code = map_errnum(e, false);
        if (code == AGT_EBMC && cc == IPMI_COMP_CODE_INVALID_COMMAND)
            code = AGT_EUNSUPPORTED;
        agt_result_set(op->res, code, cc > 0 ? cc : 0, "%s to %s:%d: %s", cmd_info[id].span + 5,
                       d->ep.host, d->ep.port, msg);
        if (!broken)
            return code;
        /* The session is unusable: replace it once, then retry if allowed. */
        char why[128];
        snprintf(why, sizeof why, "%s", msg);
        sess_close(op->s);
        if (op->replaced || remaining_ms(op->deadline_ns) == 0)
            return code;
        op->replaced = true;
        tel_attr ev[] = {TEL_ATTR_STR("ipmi.session.replaced.reason", why),
                         TEL_ATTR_STR("ipmi.command", cmd_info[id].span)};
        ev[0].len = (uint32_t)strlen(why);
        tel_span_add_event(op->span, "ipmi.session.replaced", ev, 2);
        op->reused = false;
        int orc = sess_open(op, "replace");
        if (orc != AGT_OK)
            return orc;
        if (!retry_safe)
            return code;
        tel_attr rev[] = {TEL_ATTR_INT64("ipmi.retry.attempt", attempt + 1),
                          TEL_ATTR_STR("ipmi.command", cmd_info[id].span),
                          TEL_ATTR_STR("ipmi.retry.reason", why)};
        rev[2].len = (uint32_t)strlen(why);
        tel_span_add_event(op->span, "retry", rev, 3);
    }
}

/* ---- operations ---- */

static int op_begin(ipmi_op *op, ipmi_drv *d, const tel_context *ctx, uint64_t deadline_ns,
                    const char *name, agt_result *res)
{
    memset(op, 0, sizeof *op);
    op->d = d;
    op->deadline_ns = deadline_ns;
    op->res = res;
    tel_span_start_opts so = {.name = name, .kind = TEL_SPAN_KIND_INTERNAL, .parent = ctx};
    op->span = tel_span_start_ex(d->tracer, &so);
    if (tel_span_is_recording(op->span)) {
        set_bmc_attrs(d, op->span);
        copy_baggage(op->span, ctx);
    }
    tel_context_init(&op->ctx);
    if (ctx)
        tel_context_copy(&op->ctx, ctx);
    tel_context_set_span(&op->ctx, op->span);
    agt_result_set(res, AGT_OK, 0, "ok");
    if (mono_ns() >= deadline_ns)
        return agt_result_set(res, AGT_ETIMEOUT, 0, "deadline passed before the IPMI call");
    int rc = pool_acquire(op);
    if (rc == AGT_OK)
        rc = pool_prepare(op);
    return rc;
}

static int op_end(ipmi_op *op, int rc)
{
    if (op->s && rc != AGT_OK && op->s->open) {
        /* Keep sessions that only saw a BMC-level refusal; drop broken ones. */
        if (op->s->ctx && session_broken(ipmi_ctx_errnum(op->s->ctx)))
            sess_close(op->s);
    }
    pool_release(op);
    if (tel_span_is_recording(op->span)) {
        tel_span_set_bool(op->span, "ipmi.session.reused", op->reused);
        if (rc != AGT_OK) {
            tel_span_set_str(op->span, "error.type", agt_strerror(rc));
            tel_span_set_status(op->span, TEL_STATUS_ERROR, op->res->message);
        }
    }
    tel_span_end(op->span);
    tel_context_cleanup(&op->ctx);
    return rc;
}

static int read_power(ipmi_op *op, fiid_obj_t rs, agt_power_state *state)
{
    int rc = run_cmd(op, CMD_GET_CHASSIS_STATUS, 0, rs, true);
    if (rc != AGT_OK)
        return rc;
    uint64_t on = 0;
    if (FIID_OBJ_GET(rs, "current_power_state.power_is_on", &on) < 0)
        return agt_result_set(op->res, AGT_EPROTO, 0, "chassis status without power state");
    *state = on ? AGT_POWER_IS_ON : AGT_POWER_IS_OFF;
    return AGT_OK;
}

static int ipmi_power(void *drv, const tel_context *ctx, uint64_t deadline_ns,
                      agt_power_action action, agt_power_state *state, agt_result *res)
{
    ipmi_drv *d = drv;
    uint8_t control = 0;
    bool retry_safe = false;
    switch (action) {
    case AGT_POWER_STATUS: break;
    case AGT_POWER_ON: control = IPMI_CHASSIS_CONTROL_POWER_UP; retry_safe = true; break;
    case AGT_POWER_OFF: control = IPMI_CHASSIS_CONTROL_POWER_DOWN; retry_safe = true; break;
    case AGT_POWER_SOFT: control = IPMI_CHASSIS_CONTROL_INITIATE_SOFT_SHUTDOWN; break;
    case AGT_POWER_CYCLE: control = IPMI_CHASSIS_CONTROL_POWER_CYCLE; break;
    case AGT_POWER_RESET: control = IPMI_CHASSIS_CONTROL_HARD_RESET; break;
    default: return agt_result_set(res, AGT_EINVAL, 0, "unknown power action %d", (int)action);
    }
    *state = AGT_POWER_UNKNOWN;
    ipmi_op op;
    int rc = op_begin(&op, d, ctx, deadline_ns, "ipmi.power", res);
    tel_span_set_str_static(op.span, "bmc.power.action", agt_power_action_name(action));
    fiid_obj_t st = NULL, cr = NULL;
    if (rc == AGT_OK && (!(st = fiid_obj_create(tmpl_cmd_get_chassis_status_rs)) ||
                         !(cr = fiid_obj_create(tmpl_cmd_chassis_control_rs))))
        rc = agt_result_set(res, AGT_ENOMEM, 0, "out of memory");
    if (rc == AGT_OK && action != AGT_POWER_STATUS)
        rc = run_cmd(&op, CMD_CHASSIS_CONTROL, control, cr, retry_safe);
    if (rc == AGT_OK)
        rc = read_power(&op, st, state);
    if (rc == AGT_OK)
        tel_span_set_str_static(op.span, "bmc.power.state", agt_power_state_name(*state));
    fiid_obj_destroy(st);
    fiid_obj_destroy(cr);
    return op_end(&op, rc);
}

/* IPMI GUIDs travel least significant byte first; printed like ipmitool's "IPMI encoding". */
static void format_guid(const uint8_t g[16], char *out, size_t cap)
{
    uint8_t b[16];
    for (int i = 0; i < 16; i++)
        b[i] = g[15 - i];
    snprintf(out, cap,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static int ipmi_identity(void *drv, const tel_context *ctx, uint64_t deadline_ns,
                         agt_identity *out, agt_result *res)
{
    ipmi_drv *d = drv;
    ipmi_op op;
    int rc = op_begin(&op, d, ctx, deadline_ns, "ipmi.identity", res);
    fiid_obj_t dev = NULL, guid = NULL;
    if (rc == AGT_OK && (!(dev = fiid_obj_create(tmpl_cmd_get_device_id_rs)) ||
                         !(guid = fiid_obj_create(tmpl_cmd_get_system_guid_rs))))
        rc = agt_result_set(res, AGT_ENOMEM, 0, "out of memory");
    if (rc == AGT_OK)
        rc = run_cmd(&op, CMD_GET_DEVICE_ID, 0, dev, true);
    if (rc == AGT_OK) {
        uint64_t mfg = 0, prod = 0, major = 0, minor = 0;
        if (FIID_OBJ_GET(dev, "manufacturer_id.id", &mfg) < 0 ||
            FIID_OBJ_GET(dev, "product_id", &prod) < 0 ||
            FIID_OBJ_GET(dev, "firmware_revision1.major_revision", &major) < 0 ||
            FIID_OBJ_GET(dev, "firmware_revision2.minor_revision", &minor) < 0) {
            rc = agt_result_set(res, AGT_EPROTO, 0, "incomplete Get Device ID answer");
        } else {
            char name[64];
            int n = ipmi_iana_enterprise_numbers_string((uint32_t)mfg, name, sizeof name);
            if (n > 0)
                snprintf(out->manufacturer, sizeof out->manufacturer, "%s", name);
            else
                snprintf(out->manufacturer, sizeof out->manufacturer, "%u", (unsigned)mfg);
            snprintf(out->model, sizeof out->model, "0x%04x", (unsigned)prod);
            /* The minor revision is BCD: 0x08 reads "08". */
            snprintf(out->firmware, sizeof out->firmware, "%u.%02x", (unsigned)major,
                     (unsigned)minor);
            out->serial[0] = '\0';
            tel_span_set_int(op.span, "ipmi.manufacturer_id", (int64_t)mfg);
        }
    }
    if (rc == AGT_OK) {
        /* The GUID is optional: a BMC refusing the command leaves it empty. */
        agt_result gres;
        op.res = &gres;
        int grc = run_cmd(&op, CMD_GET_SYSTEM_GUID, 0, guid, true);
        op.res = res;
        uint8_t g[16];
        if (grc == AGT_OK && fiid_obj_get_data(guid, "guid", g, sizeof g) == (int)sizeof g)
            format_guid(g, out->guid, sizeof out->guid);
        else if (grc != AGT_OK && grc != AGT_EBMC && grc != AGT_EUNSUPPORTED)
            rc = agt_result_set(res, gres.code, gres.bmc_code, "%s", gres.message);
    }
    fiid_obj_destroy(dev);
    fiid_obj_destroy(guid);
    return op_end(&op, rc);
}

/* ---- sensors ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Fetches the SDR repository through libfreeipmi's SDR cache (a file in a private temporary
 * directory, removed at once) into d->sdr. Called with sdr_mu held. */
static int sdr_fetch(ipmi_op *op, ipmi_sdr_ctx_t sc)
{
    ipmi_drv *d = op->d;
    tel_span_start_opts so = {.name = "ipmi.get_sdr", .kind = TEL_SPAN_KIND_CLIENT,
                              .parent = &op->ctx};
    tel_span *span = tel_span_start_ex(d->tracer, &so);
    if (tel_span_is_recording(span)) {
        set_bmc_attrs(d, span);
        tel_span_set_int(span, "ipmi.netfn", IPMI_NET_FN_STORAGE_RQ);
        tel_span_set_int(span, "ipmi.cmd", IPMI_CMD_GET_SDR);
        tel_span_set_bool(span, "ipmi.session.reused", op->reused);
    }
    const char *tmp = getenv("TMPDIR");
    char dir[256], file[300];
    snprintf(dir, sizeof dir, "%s/agt-ipmi-sdr-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        span_fail(span, "EIO", "cannot create a temporary directory for the SDR cache");
        tel_span_end(span);
        return agt_result_set(op->res, AGT_EPROTO, 0, "cannot create SDR cache directory: %s",
                              strerror(errno));
    }
    snprintf(file, sizeof file, "%s/sdr", dir);
    int rc = AGT_OK;
    uint64_t t0 = mono_ns();
    if (ipmi_sdr_cache_create(sc, op->s->ctx, file, IPMI_SDR_CACHE_CREATE_FLAGS_OVERWRITE, NULL,
                              NULL) < 0) {
        int se = ipmi_sdr_ctx_errnum(sc);
        int e = ipmi_ctx_errnum(op->s->ctx);
        const char *msg = se == IPMI_SDR_ERR_IPMI_ERROR ? ipmi_ctx_errormsg(op->s->ctx)
                                                        : ipmi_sdr_ctx_errormsg(sc);
        if (se == IPMI_SDR_ERR_IPMI_ERROR && session_broken(e))
            add_retransmissions(span, tel_now_ns() - (mono_ns() - t0), mono_ns() - t0,
                                op->s->retrans_ms);
        span_fail(span, ipmi_sdr_ctx_strerror(se), msg);
        rc = agt_result_set(op->res,
                            se == IPMI_SDR_ERR_IPMI_ERROR ? map_errnum(e, false) : AGT_EPROTO, 0,
                            "reading the SDR repository of %s: %s", d->ep.host, msg);
    } else {
        op->s->last_ok_ns = mono_ns();
        d->n_sdr = 0;
        if (ipmi_sdr_cache_open(sc, NULL, file) == 0) {
            uint16_t count = 0;
            ipmi_sdr_cache_record_count(sc, &count);
            if (count > 0 && ipmi_sdr_cache_first(sc) == 0) {
                do {
                    if (d->n_sdr >= SDR_MAX_RECORDS)
                        break;
                    sdr_rec *r = &d->sdr[d->n_sdr];
                    int len = ipmi_sdr_cache_record_read(sc, r->data, sizeof r->data);
                    if (len > 0) {
                        r->len = (uint16_t)len;
                        d->n_sdr++;
                    }
                } while (ipmi_sdr_cache_next(sc) == 1);
            }
            ipmi_sdr_cache_close(sc);
            tel_span_set_int(span, "ipmi.sdr.record_count", (int64_t)d->n_sdr);
        } else {
            span_fail(span, ipmi_sdr_ctx_strerror(ipmi_sdr_ctx_errnum(sc)),
                      ipmi_sdr_ctx_errormsg(sc));
            rc = agt_result_set(op->res, AGT_EPROTO, 0, "reading the SDR cache: %s",
                                ipmi_sdr_ctx_errormsg(sc));
        }
    }
    nftw(dir, rm_entry, 4, FTW_DEPTH | FTW_PHYS);
    tel_span_end(span);
    return rc;
}

static bool sensor_kind_of(uint8_t unit, agt_sensor_kind *kind)
{
    switch (unit) {
    case IPMI_SENSOR_UNIT_DEGREES_C: *kind = AGT_SENSOR_TEMPERATURE; return true;
    case IPMI_SENSOR_UNIT_RPM: *kind = AGT_SENSOR_FAN; return true;
    case IPMI_SENSOR_UNIT_WATTS: *kind = AGT_SENSOR_POWER; return true;
    default: return false;
    }
}

static int ipmi_sensors(void *drv, const tel_context *ctx, uint64_t deadline_ns, agt_sensor *out,
                        size_t cap, size_t *n, agt_result *res)
{
    ipmi_drv *d = drv;
    *n = 0;
    ipmi_op op;
    int rc = op_begin(&op, d, ctx, deadline_ns, "ipmi.sensors", res);
    fiid_obj_t info = NULL, rd = NULL;
    ipmi_sdr_ctx_t sc = NULL;
    bool locked = false;
    if (rc == AGT_OK && (!(info = fiid_obj_create(tmpl_cmd_get_sdr_repository_info_rs)) ||
                         !(rd = fiid_obj_create(tmpl_cmd_get_sensor_reading_rs)) ||
                         !(sc = ipmi_sdr_ctx_create())))
        rc = agt_result_set(res, AGT_ENOMEM, 0, "out of memory");
    if (rc == AGT_OK)
        rc = run_cmd(&op, CMD_GET_SDR_REPOSITORY_INFO, 0, info, true);
    if (rc == AGT_OK) {
        uint64_t count = 0, add = 0, erase = 0;
        FIID_OBJ_GET(info, "record_count", &count);
        FIID_OBJ_GET(info, "most_recent_addition_timestamp", &add);
        FIID_OBJ_GET(info, "most_recent_erase_timestamp", &erase);
        pthread_mutex_lock(&d->sdr_mu);
        locked = true;
        bool fresh = d->sdr_valid && d->sdr_count == count && d->sdr_add_ts == add &&
                     d->sdr_erase_ts == erase;
        tel_span_set_bool(op.span, "ipmi.sdr.cached", fresh);
        if (!fresh) {
            d->sdr_valid = false;
            d->n_sdr = 0;
            if (count > 0) {
                if (!d->sdr && !(d->sdr = calloc(SDR_MAX_RECORDS, sizeof *d->sdr)))
                    rc = agt_result_set(res, AGT_ENOMEM, 0, "out of memory");
                else
                    rc = sdr_fetch(&op, sc);
            }
            if (rc == AGT_OK) {
                d->sdr_valid = true;
                d->sdr_count = (uint16_t)count;
                d->sdr_add_ts = (uint32_t)add;
                d->sdr_erase_ts = (uint32_t)erase;
            }
        }
    }
    for (size_t i = 0; rc == AGT_OK && i < d->n_sdr && *n < cap; i++) {
        const sdr_rec *r = &d->sdr[i];
        uint16_t rid;
        uint8_t type, owner_type, owner, lun, chan, num, pct, mod, rate, unit, munit, lin, fmt;
        int8_t rexp, bexp;
        int16_t m, b;
        if (ipmi_sdr_parse_record_id_and_type(sc, r->data, r->len, &rid, &type) < 0 ||
            type != IPMI_SDR_FORMAT_FULL_SENSOR_RECORD)
            continue;
        if (ipmi_sdr_parse_sensor_owner_id(sc, r->data, r->len, &owner_type, &owner) < 0 ||
            owner_type != IPMI_SDR_SENSOR_OWNER_ID_TYPE_IPMB_SLAVE_ADDRESS ||
            (owner << 1) != IPMI_SLAVE_ADDRESS_BMC ||
            ipmi_sdr_parse_sensor_owner_lun(sc, r->data, r->len, &lun, &chan) < 0 || lun != 0 ||
            ipmi_sdr_parse_sensor_number(sc, r->data, r->len, &num) < 0 ||
            ipmi_sdr_parse_sensor_units(sc, r->data, r->len, &pct, &mod, &rate, &unit, &munit) <
                0 ||
            ipmi_sdr_parse_sensor_decoding_data(sc, r->data, r->len, &rexp, &bexp, &m, &b, &lin,
                                                &fmt) < 0)
            continue;
        agt_sensor_kind kind;
        if (!sensor_kind_of(unit, &kind) || fmt == IPMI_SDR_ANALOG_DATA_FORMAT_NOT_ANALOG ||
            !IPMI_SDR_LINEARIZATION_IS_LINEAR(lin) || pct || mod)
            continue;
        int crc = run_cmd(&op, CMD_GET_SENSOR_READING, num, rd, true);
        if (crc != AGT_OK) {
            if (crc == AGT_EBMC || crc == AGT_EUNSUPPORTED) {
                agt_result_set(res, AGT_OK, 0, "ok"); /* one sensor missing: skip it */
                continue;
            }
            rc = crc;
            break;
        }
        uint64_t raw = 0, state = 0, scanning = 0;
        if (FIID_OBJ_GET(rd, "sensor_reading", &raw) < 0 ||
            FIID_OBJ_GET(rd, "reading_state", &state) < 0 ||
            FIID_OBJ_GET(rd, "sensor_scanning", &scanning) < 0 ||
            state == IPMI_SENSOR_READING_STATE_UNAVAILABLE ||
            scanning == IPMI_SENSOR_SCANNING_ON_THIS_SENSOR_DISABLE)
            continue;
        double value;
        if (ipmi_sensor_decode_value(rexp, bexp, m, b, lin, fmt, (uint8_t)raw, &value) < 0)
            continue;
        agt_sensor *o = &out[(*n)++];
        memset(o, 0, sizeof *o);
        if (ipmi_sdr_parse_id_string(sc, r->data, r->len, o->name, sizeof o->name - 1) < 0 ||
            !o->name[0])
            snprintf(o->name, sizeof o->name, "sensor %u", num);
        o->kind = kind;
        o->value = value;
    }
    if (locked)
        pthread_mutex_unlock(&d->sdr_mu);
    if (rc == AGT_OK)
        tel_span_set_int(op.span, "bmc.sensor.count", (int64_t)*n);
    fiid_obj_destroy(info);
    fiid_obj_destroy(rd);
    if (sc)
        ipmi_sdr_ctx_destroy(sc);
    return op_end(&op, rc);
}

/* ---- lifecycle ---- */

static void *ipmi_create(const agt_endpoint *ep, const char *user, const char *pass,
                         const agt_bmc_options *opts, agt_result *err)
{
    if (strlen(user) > IPMI_USER_MAX) {
        agt_result_set(err, AGT_EINVAL, 0, "IPMI user names have at most %d characters",
                       IPMI_USER_MAX);
        return NULL;
    }
    if (strlen(pass) > IPMI_PASS_MAX) {
        agt_result_set(err, AGT_EINVAL, 0, "IPMI 2.0 passwords have at most %d characters",
                       IPMI_PASS_MAX);
        return NULL;
    }
    int cipher = opts->cipher_suite ? opts->cipher_suite : 3;
    if (cipher < 0 || cipher > 17) {
        agt_result_set(err, AGT_EINVAL, 0, "IPMI cipher suite %d out of range", cipher);
        return NULL;
    }
    int priv = opts->privilege ? opts->privilege : IPMI_PRIVILEGE_LEVEL_OPERATOR;
    if (priv < IPMI_PRIVILEGE_LEVEL_USER || priv > IPMI_PRIVILEGE_LEVEL_OEM) {
        agt_result_set(err, AGT_EINVAL, 0,
                       "IPMI privilege %d invalid (2 USER, 3 OPERATOR, 4 ADMINISTRATOR)", priv);
        return NULL;
    }
    int pool = opts->pool_max_sessions ? opts->pool_max_sessions : 2;
    if (pool < 1 || pool > POOL_MAX_LIMIT) {
        agt_result_set(err, AGT_EINVAL, 0, "pool_max_sessions must be 1..%d", POOL_MAX_LIMIT);
        return NULL;
    }
    ipmi_drv *d = calloc(1, sizeof *d);
    if (!d || !(d->sess = calloc((size_t)pool, sizeof *d->sess))) {
        free(d);
        agt_result_set(err, AGT_ENOMEM, 0, "out of memory");
        return NULL;
    }
    d->ep = *ep;
    if (strchr(ep->host, ':'))
        snprintf(d->hostport, sizeof d->hostport, "[%s]:%d", ep->host, ep->port);
    else
        snprintf(d->hostport, sizeof d->hostport, "%s:%d", ep->host, ep->port);
    snprintf(d->user, sizeof d->user, "%s", user);
    snprintf(d->pass, sizeof d->pass, "%s", pass);
    d->cipher = (uint8_t)cipher;
    d->priv = (uint8_t)priv;
    d->wflags = opts->workaround_flags;
    d->pool_max = pool;
    d->tracer = opts->tracer ? opts->tracer : tel_global_tracer("bmcfleet.agent", BMC_VERSION);
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&d->sdr_mu, NULL);
    return d;
}

static void ipmi_destroy(void *drv)
{
    ipmi_drv *d = drv;
    if (!d)
        return;
    for (int i = 0; i < d->pool_max; i++)
        sess_destroy(&d->sess[i]);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->sdr_mu);
    free(d->sdr);
    free(d->sess);
    /* The password never outlives the handle in memory we own. */
    explicit_bzero(d->pass, sizeof d->pass);
    free(d);
}

const agt_driver_ops agt_ipmi_driver = {
    .type = "ipmi",
    .create = ipmi_create,
    .destroy = ipmi_destroy,
    .power = ipmi_power,
    .identity = ipmi_identity,
    .sensors = ipmi_sensors,
};
