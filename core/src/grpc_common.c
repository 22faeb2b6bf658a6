/* Helpers shared by the gRPC server, client and OTLP transport (see grpc_internal.h). */
#include <arpa/inet.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grpc_server.h"
#include "grpc_internal.h"
#include "instr_metrics.h"

grpc_byte_buffer *core__grpc_pack(const ProtobufCMessage *msg, size_t *size)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice sl = grpc_slice_malloc(n);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(sl));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    if (size) *size = n;
    return bb;
}

grpc_byte_buffer *core__grpc_bytes(const void *data, size_t len)
{
    grpc_slice sl = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

grpc_slice core__grpc_readall(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) return grpc_empty_slice();
    grpc_slice sl = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return sl;
}

ProtobufCMessage *core__grpc_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb,
                                    size_t *size)
{
    grpc_slice sl = core__grpc_readall(bb);
    size_t n = GRPC_SLICE_LENGTH(sl);
    if (size) *size = n;
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, n, GRPC_SLICE_START_PTR(sl));
    grpc_slice_unref(sl);
    return m;
}

bool core__grpc_split_method(const char *full, size_t len, const char **service,
                             size_t *service_len, const char **method, size_t *method_len)
{
    if (len < 4 || full[0] != '/') return false;
    const char *slash = memchr(full + 1, '/', len - 1);
    if (!slash || slash == full + 1 || slash == full + len - 1) return false;
    if (memchr(slash + 1, '/', (size_t)(full + len - slash - 1))) return false;
    *service = full + 1;
    *service_len = (size_t)(slash - full - 1);
    *method = slash + 1;
    *method_len = (size_t)(full + len - slash - 1);
    return true;
}

static bool parse_hostport(const char *s, char *host, size_t cap, int *port)
{
    const char *h = s, *colon;
    size_t hl;
    if (*s == '[') {
        const char *e = strchr(s, ']');
        if (!e) return false;
        h = s + 1;
        hl = (size_t)(e - h);
        colon = e[1] == ':' ? e + 1 : NULL;
        if (e[1] && !colon) return false;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon)
            colon = NULL; /* bare IPv6 without brackets: no port */
        hl = colon ? (size_t)(colon - s) : strlen(s);
    }
    if (hl == 0 || hl >= cap) return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = 0;
    if (colon) {
        /* the usual case, 1-5 plain digits, without strtol; anything else goes through it */
        const char *d = colon + 1;
        unsigned v = 0;
        size_t nd = 0;
        while (nd < 6 && d[nd] >= '0' && d[nd] <= '9')
            v = v * 10 + (unsigned)(d[nd++] - '0');
        if (nd >= 1 && nd <= 5 && d[nd] == '\0') {
            if (v > 65535) return false;
            *port = (int)v;
            return true;
        }
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p < 0 || p > 65535 || end == colon + 1) return false;
        *port = (int)p;
    }
    return true;
}

bool core__grpc_parse_peer(const char *peer, char *addr, size_t cap, int *port)
{
    *port = 0;
    if (cap) addr[0] = '\0';
    if (!peer || !cap) return false;
    if (strncmp(peer, "ipv4:", 5) == 0 || strncmp(peer, "ipv6:", 5) == 0)
        return parse_hostport(peer + 5, addr, cap, port);
    if (strncmp(peer, "unix:", 5) == 0) {
        snprintf(addr, cap, "%s", peer + 5);
        return true;
    }
    /* Calls that never reached a connection report the target ("127.0.0.1:5000"): an
     * address only when it is an IP literal. */
    char host[64];
    unsigned char bin[sizeof(struct in6_addr)];
    if (parse_hostport(peer, host, sizeof host, port) &&
        (inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1)) {
        snprintf(addr, cap, "%s", host);
        return true;
    }
    *port = 0;
    return false;
}

bool core__grpc_parse_peer_cached(const char *peer, char *addr, size_t cap, int *port)
{
    static _Thread_local struct {
        bool valid, ok;
        size_t cap;
        char peer[80];
        char addr[64];
        int port;
    } memo;
    size_t pl = peer ? strlen(peer) : 0;
    if (!peer || pl >= sizeof memo.peer || cap > sizeof memo.addr)
        return core__grpc_parse_peer(peer, addr, cap, port);
    if (!memo.valid || memo.cap != cap || memcmp(memo.peer, peer, pl + 1) != 0) {
        memo.valid = false;
        memo.ok = core__grpc_parse_peer(peer, memo.addr, cap, &memo.port);
        memcpy(memo.peer, peer, pl + 1);
        memo.cap = cap;
        memo.valid = true;
    }
    if (cap) memcpy(addr, memo.addr, strlen(memo.addr) + 1);
    *port = memo.port;
    return memo.ok;
}

bool core__grpc_split_target(const char *target, char *host, size_t cap, int *port)
{
    if (!target) return false;
    if (strncmp(target, "dns:///", 7) == 0)
        target += 7;
    else if (strncmp(target, "dns:", 4) == 0)
        target += 4;
    else if (strncmp(target, "ipv4:", 5) == 0 || strncmp(target, "ipv6:", 5) == 0)
        target += 5;
    return parse_hostport(target, host, cap, port);
}

void core__span_copy_business_baggage(tel_span *span, const tel_context *ctx)
{
    static const char *const keys[] = {"customer_id", "server_id", "session_id",
                                       "datacenter",  "agent_id",  "bmc_type"};
    if (!ctx || !ctx->bag || !tel_span_is_recording(span)) return;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = tel_baggage_get(ctx->bag, keys[i]);
        if (v) tel_span_set_str(span, keys[i], v);
    }
}

bool core__grpc_code_is_error(int code, bool server)
{
    if (!server) return code != GRPC_STATUS_OK;
    switch (code) {
    case GRPC_STATUS_UNKNOWN:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
    case GRPC_STATUS_UNIMPLEMENTED:
    case GRPC_STATUS_INTERNAL:
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_DATA_LOSS:
        return true;
    default:
        return false;
    }
}

int64_t core__grpc_deadline_left_ms(gpr_timespec deadline)
{
    if (deadline.tv_sec == INT64_MAX) return INT64_MAX;
    gpr_timespec now = gpr_now(deadline.clock_type);
    gpr_timespec d = gpr_time_sub(deadline, now);
    return d.tv_sec * 1000 + d.tv_nsec / 1000000;
}

gpr_timespec core__grpc_deadline_in(int64_t timeout_ms)
{
    if (timeout_ms <= 0 || timeout_ms == INT64_MAX) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

const char *core_grpc_status_name(int code)
{
    static const char *const names[] = {"OK",
                                        "CANCELLED",
                                        "UNKNOWN",
                                        "INVALID_ARGUMENT",
                                        "DEADLINE_EXCEEDED",
                                        "NOT_FOUND",
                                        "ALREADY_EXISTS",
                                        "PERMISSION_DENIED",
                                        "RESOURCE_EXHAUSTED",
                                        "FAILED_PRECONDITION",
                                        "ABORTED",
                                        "OUT_OF_RANGE",
                                        "UNIMPLEMENTED",
                                        "INTERNAL",
                                        "UNAVAILABLE",
                                        "DATA_LOSS",
                                        "UNAUTHENTICATED"};
    if (code < 0 || code >= (int)(sizeof names / sizeof names[0])) return "UNKNOWN";
    return names[code];
}

void core__grpc_span_rpc_names(tel_span *span, const char *service, size_t service_len,
                               const char *method, size_t method_len, bool interned)
{
    if (interned) {
        tel_span_set_strn_static(span, "rpc.service", service, service_len);
        tel_span_set_strn_static(span, "rpc.method", method, method_len);
    } else {
        tel_span_set_strn(span, "rpc.service", service, service_len);
        tel_span_set_strn(span, "rpc.method", method, method_len);
    }
}

void core__grpc_span_attr_set(tel_span_attr_set *set, const char *service, size_t service_len,
                              const char *method, size_t method_len, const char *host,
                              size_t host_len, int port)
{
    memset(set, 0, sizeof *set);
    if (!service || !method || !host) return;
    tel_attr a[5];
    size_t n = 0;
    a[n++] = TEL_ATTR_STR("rpc.system", "grpc");
    a[n++] = (tel_attr){
        .key = "rpc.service", .type = TEL_ATTR_STRING, .len = (uint32_t)service_len, .v.s = service};
    a[n++] = (tel_attr){
        .key = "rpc.method", .type = TEL_ATTR_STRING, .len = (uint32_t)method_len, .v.s = method};
    a[n++] = (tel_attr){
        .key = "server.address", .type = TEL_ATTR_STRING, .len = (uint32_t)host_len, .v.s = host};
    if (port > 0) a[n++] = TEL_ATTR_INT64("server.port", port);
    if (tel_span_attr_set_init(set, a, n) != TEL_OK) memset(set, 0, sizeof *set);
}

void core__grpc_record_duration(tel_instrument *h, _Atomic(tel_bound_attrs *) *slot, double ms,
                                const tel_span_context *sc, const char *service,
                                size_t service_len, const char *method, size_t method_len,
                                int code)
{
    tel_bound_attrs *b = slot ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
    if (b) {
        tel_histogram_record_bound_at(h, b, ms, sc, 0);
        return;
    }
    tel_attr a[4];
    size_t n = 0;
    a[n++] = TEL_ATTR_STR("rpc.system", "grpc");
    if (service)
        a[n++] = (tel_attr){.key = "rpc.service",
                            .type = TEL_ATTR_STRING,
                            .len = (uint32_t)service_len,
                            .v.s = service};
    if (method)
        a[n++] = (tel_attr){
            .key = "rpc.method", .type = TEL_ATTR_STRING, .len = (uint32_t)method_len, .v.s = method};
    a[n++] = TEL_ATTR_INT64("rpc.grpc.status_code", code);
    b = slot ? tel_instrument_bind(h, a, n) : NULL;
    if (b) {
        atomic_store_explicit(slot, b, memory_order_release);
        tel_histogram_record_bound_at(h, b, ms, sc, 0);
    } else {
        core_instr_record(h, ms, a, n);
    }
}
