/* OTLP/gRPC transport over core's gRPC client (see core/otlp_grpc.h). */
#include "core/otlp_grpc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/grpc_client.h"

#define MAX_DELAY_MS (24LL * 3600 * 1000)

/* ---- google.rpc.Status / RetryInfo (wire format read with bounds checks) ---- */

typedef struct pb_reader {
    const uint8_t *p, *end;
} pb_reader;

static bool pb_varint(pb_reader *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return false;
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0x7e)) return false; /* more than 64 bits */
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Reads one field: its number and wire type; for length-delimited fields the payload
 * (sub-reader), for varints the value; others are skipped. */
static bool pb_field(pb_reader *r, uint32_t *field, uint32_t *wt, uint64_t *val, pb_reader *sub)
{
    uint64_t tag;
    if (!pb_varint(r, &tag) || tag >> 3 == 0 || tag >> 3 > 0x1fffffff) return false;
    *field = (uint32_t)(tag >> 3);
    *wt = (uint32_t)(tag & 7);
    switch (*wt) {
    case 0:
        return pb_varint(r, val);
    case 1:
        if (r->end - r->p < 8) return false;
        r->p += 8;
        return true;
    case 2: {
        uint64_t n;
        if (!pb_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return false;
        sub->p = r->p;
        sub->end = r->p + n;
        r->p += n;
        return true;
    }
    case 5:
        if (r->end - r->p < 4) return false;
        r->p += 4;
        return true;
    default:
        return false; /* groups and invalid wire types */
    }
}

/* google.protobuf.Duration -> milliseconds (rounded up, clamped to [0, MAX_DELAY_MS]). */
static bool parse_duration(pb_reader r, int64_t *ms)
{
    int64_t seconds = 0, nanos = 0;
    while (r.p < r.end) {
        uint32_t f, wt;
        uint64_t v = 0;
        pb_reader sub;
        if (!pb_field(&r, &f, &wt, &v, &sub)) return false;
        if (f == 1 && wt == 0)
            seconds = (int64_t)v;
        else if (f == 2 && wt == 0)
            nanos = (int64_t)(int32_t)(uint32_t)v;
        else if ((f == 1 || f == 2) && wt != 0)
            return false;
    }
    if (seconds < 0 || (seconds == 0 && nanos <= 0)) {
        *ms = 0;
        return true;
    }
    if (seconds >= MAX_DELAY_MS / 1000) {
        *ms = MAX_DELAY_MS;
        return true;
    }
    int64_t extra = nanos > 0 ? (nanos + 999999) / 1000000 : -((-nanos) / 1000000);
    int64_t total = seconds * 1000 + extra;
    *ms = total < 0 ? 0 : total > MAX_DELAY_MS ? MAX_DELAY_MS : total;
    return true;
}

static bool is_retry_info_url(pb_reader u)
{
    static const char suffix[] = "/google.rpc.RetryInfo";
    size_t n = (size_t)(u.end - u.p), sl = sizeof suffix - 1;
    return n >= sl && memcmp(u.end - sl, suffix, sl) == 0;
}

/* google.protobuf.Any holding a RetryInfo: 1 when found (delay set), 0 when another type. */
static int parse_any(pb_reader r, int64_t *delay_ms)
{
    pb_reader url = {NULL, NULL}, value = {NULL, NULL};
    bool has_url = false, has_value = false;
    while (r.p < r.end) {
        uint32_t f, wt;
        uint64_t v;
        pb_reader sub;
        if (!pb_field(&r, &f, &wt, &v, &sub)) return CORE_EINVAL;
        if ((f == 1 || f == 2) && wt != 2) return CORE_EINVAL;
        if (f == 1) {
            url = sub;
            has_url = true;
        } else if (f == 2) {
            value = sub;
            has_value = true;
        }
    }
    if (!has_url || !is_retry_info_url(url)) return 0;
    int64_t ms = 0;
    bool have_delay = false;
    if (has_value) {
        while (value.p < value.end) {
            uint32_t f, wt;
            uint64_t v;
            pb_reader sub;
            if (!pb_field(&value, &f, &wt, &v, &sub)) return CORE_EINVAL;
            if (f == 1) {
                if (wt != 2 || !parse_duration(sub, &ms)) return CORE_EINVAL;
                have_delay = true;
            }
        }
    }
    *delay_ms = have_delay ? ms : 0;
    return 1;
}

int core_otlp_grpc_parse_retry_info(const uint8_t *buf, size_t len, int64_t *delay_ms)
{
    if (!buf && len) return CORE_EINVAL;
    pb_reader r = {buf, buf + len};
    int found = 0;
    int64_t ms = 0;
    while (r.p < r.end) {
        uint32_t f, wt;
        uint64_t v;
        pb_reader sub;
        if (!pb_field(&r, &f, &wt, &v, &sub)) return CORE_EINVAL;
        if ((f == 1 && wt != 0) || ((f == 2 || f == 3) && wt != 2)) return CORE_EINVAL;
        if (f == 3 && !found) {
            int rc = parse_any(sub, &ms);
            if (rc < 0) return rc;
            found = rc;
        }
    }
    if (found && delay_ms) *delay_ms = ms;
    return found;
}

/* ---- transport ---- */

typedef struct grpc_transport {
    tel_otlp_transport base;
    core_grpc_channel *ch;
    grpc_metadata *md;
    size_t n_md;
    uint32_t timeout_ms;
    core_grpc_canceller cancel;
    atomic_bool aborted;
} grpc_transport;

const char *core_otlp_grpc_method(tel_otlp_signal signal)
{
    switch (signal) {
    case TEL_OTLP_METRICS:
        return "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    case TEL_OTLP_LOGS:
        return "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    default:
        return "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    }
}

static bool retryable_code(int code)
{
    switch (code) {
    case GRPC_STATUS_CANCELLED:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
    case GRPC_STATUS_ABORTED:
    case GRPC_STATUS_OUT_OF_RANGE:
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_DATA_LOSS:
        return true;
    default:
        return false;
    }
}

static int gt_send(tel_otlp_transport *self, tel_otlp_signal signal, const uint8_t *body,
                   size_t len, const char *content_type, uint64_t deadline_ns, tel_otlp_result *res)
{
    grpc_transport *t = (grpc_transport *)self;
    res->retry_after_ms = -1;
    res->code = 0;
    res->message[0] = '\0';
    memset(&res->partial, 0, sizeof res->partial);
    if (atomic_load(&t->aborted)) {
        res->status = TEL_OTLP_SEND_PERMANENT;
        res->err = TEL_ESHUTDOWN;
        snprintf(res->message, sizeof res->message, "%s", "exporter shut down");
        return TEL_ESHUTDOWN;
    }
    if (content_type && strcmp(content_type, "application/x-protobuf") != 0) {
        res->status = TEL_OTLP_SEND_PERMANENT;
        res->err = TEL_EINVAL;
        snprintf(res->message, sizeof res->message, "OTLP/gRPC carries protobuf only, not %s",
                 content_type);
        return TEL_OK;
    }
    uint64_t now = tel_mono_ns();
    int64_t left_ms = deadline_ns > now ? (int64_t)((deadline_ns - now) / 1000000u) : 0;
    if (left_ms <= 0) {
        res->status = TEL_OTLP_SEND_RETRYABLE;
        res->err = TEL_ETIMEDOUT;
        snprintf(res->message, sizeof res->message, "%s", "no time left before the deadline");
        return TEL_OK;
    }
    int64_t timeout = t->timeout_ms && t->timeout_ms < left_ms ? t->timeout_ms : left_ms;
    core_grpc_call_opts o = {.timeout_ms = timeout,
                             .metadata = t->md,
                             .n_metadata = t->n_md,
                             .canceller = &t->cancel,
                             .untraced = true};
    uint8_t *resp = NULL;
    size_t rlen = 0;
    core_grpc_status st;
    memset(&st, 0, sizeof st);
    int rc = core_grpc_unary_bytes(t->ch, NULL, core_otlp_grpc_method(signal), body, len, &resp,
                                   &rlen, &o, &st);
    res->code = st.code;
    if (atomic_load(&t->aborted)) {
        free(resp);
        res->status = TEL_OTLP_SEND_PERMANENT;
        res->err = TEL_ESHUTDOWN;
        snprintf(res->message, sizeof res->message, "%s", "exporter shut down");
        return TEL_ESHUTDOWN;
    }
    if (rc == CORE_OK) {
        res->status = TEL_OTLP_SEND_OK;
        res->err = TEL_OK;
        if (rlen && tel_otlp_decode_response_pb(resp, rlen, &res->partial) != TEL_OK)
            snprintf(res->message, sizeof res->message, "%s",
                     "the response is not a valid Export response (ignored)");
        free(resp);
        return TEL_OK;
    }
    free(resp);
    snprintf(res->message, sizeof res->message, "gRPC status %s: %.200s",
             core_grpc_status_name(st.code), st.message);
    if (st.code == GRPC_STATUS_OK) {
        /* a local failure (invalid metadata, undecodable answer): not worth retrying */
        res->status = TEL_OTLP_SEND_PERMANENT;
        res->err = TEL_EREJECTED;
        return TEL_OK;
    }
    if (retryable_code(st.code)) {
        res->status = TEL_OTLP_SEND_RETRYABLE;
        res->err = st.code == GRPC_STATUS_DEADLINE_EXCEEDED ? TEL_ETIMEDOUT
                   : st.code == GRPC_STATUS_UNAVAILABLE     ? TEL_EIO
                                                            : TEL_ERETRYABLE;
        return TEL_OK;
    }
    if (st.code == GRPC_STATUS_RESOURCE_EXHAUSTED) {
        int64_t delay = 0;
        if (!st.details_truncated &&
            core_otlp_grpc_parse_retry_info(st.details, st.details_len, &delay) == 1) {
            res->status = TEL_OTLP_SEND_RETRYABLE;
            res->err = TEL_ERETRYABLE;
            res->retry_after_ms = delay;
            return TEL_OK;
        }
    }
    res->status = TEL_OTLP_SEND_PERMANENT;
    res->err = TEL_EREJECTED;
    return TEL_OK;
}

static void gt_abort(tel_otlp_transport *self)
{
    grpc_transport *t = (grpc_transport *)self;
    atomic_store(&t->aborted, true);
    core_grpc_canceller_cancel(&t->cancel);
}

static void gt_destroy(tel_otlp_transport *self)
{
    grpc_transport *t = (grpc_transport *)self;
    core_grpc_channel_destroy(t->ch);
    for (size_t i = 0; i < t->n_md; i++) {
        grpc_slice_unref(t->md[i].key);
        grpc_slice_unref(t->md[i].value);
    }
    free(t->md);
    core_grpc_canceller_cleanup(&t->cancel);
    free(t);
}

tel_otlp_transport *core_otlp_grpc_transport_create(const tel_otlp_config *cfg)
{
    if (!cfg) return NULL;
    char target[256];
    bool plaintext = false;
    if (tel_otlp_grpc_target(cfg, target, sizeof target, &plaintext) != TEL_OK) {
        char ep[256];
        tel_otlp_endpoint_for_log(cfg->endpoint, ep, sizeof ep);
        fprintf(stderr, "core_otlp_grpc: unusable endpoint %s\n", ep);
        return NULL;
    }
    grpc_transport *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->base.send = gt_send;
    t->base.abort = gt_abort;
    t->base.destroy = gt_destroy;
    t->timeout_ms = cfg->timeout_ms;
    core_grpc_canceller_init(&t->cancel);
    atomic_init(&t->aborted, false);
    if (cfg->n_headers) {
        t->md = calloc(cfg->n_headers, sizeof *t->md);
        if (!t->md) goto fail;
    }
    for (size_t i = 0; i < cfg->n_headers; i++) {
        char key[128];
        size_t kl = strlen(cfg->headers[i].name);
        if (kl >= sizeof key) continue;
        for (size_t k = 0; k <= kl; k++) {
            char c = cfg->headers[i].name[k];
            key[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        grpc_slice ks = grpc_slice_from_copied_string(key);
        grpc_slice vs = grpc_slice_from_copied_string(cfg->headers[i].value);
        if (!grpc_header_key_is_legal(ks) || !grpc_header_nonbin_value_is_legal(vs) ||
            strncmp(key, "grpc-", 5) == 0 || key[0] == ':' || strcmp(key, "te") == 0 ||
            strcmp(key, "content-type") == 0 || strcmp(key, "user-agent") == 0) {
            fprintf(stderr, "core_otlp_grpc: header %s cannot be sent as gRPC metadata; ignored\n",
                    key);
            grpc_slice_unref(ks);
            grpc_slice_unref(vs);
            continue;
        }
        t->md[t->n_md].key = ks;
        t->md[t->n_md].value = vs;
        t->n_md++;
    }
    core_grpc_channel_config cc = {.target = target,
                                   .tls = !plaintext,
                                   .ca_file = cfg->certificate,
                                   .cert_file = cfg->client_certificate,
                                   .key_file = cfg->client_key,
                                   .gzip = cfg->gzip,
                                   .max_recv_message = 1024 * 1024,
                                   .user_agent = "OTel-OTLP-Exporter-C/" BMC_VERSION};
    t->ch = core_grpc_channel_create(&cc);
    if (!t->ch) goto fail;
    return &t->base;
fail:
    t->ch = NULL;
    gt_destroy(&t->base);
    return NULL;
}

void core_otlp_grpc_register(void)
{
    tel_otlp_set_grpc_transport_factory(core_otlp_grpc_transport_create);
}
