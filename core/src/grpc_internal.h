/* Private to core/: helpers shared by the gRPC server, client and OTLP transport. */
#ifndef CORE_GRPC_INTERNAL_H
#define CORE_GRPC_INTERNAL_H

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/context.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

/* Packs msg into a new byte buffer (the caller destroys it); *size gets the byte count.
 * NULL on allocation failure. */
grpc_byte_buffer *core__grpc_pack(const ProtobufCMessage *msg, size_t *size);
/* A byte buffer holding a copy of data[0..len). */
grpc_byte_buffer *core__grpc_bytes(const void *data, size_t len);
/* Reads a received buffer (decompressing if needed) into one slice (the caller unrefs it). */
grpc_slice core__grpc_readall(grpc_byte_buffer *bb);
/* Decodes a received buffer as `desc`; NULL when it is not a valid message. *size gets the
 * (uncompressed) byte count. Free with protobuf_c_message_free_unpacked(m, NULL). */
ProtobufCMessage *core__grpc_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb,
                                    size_t *size);

/* Splits "/pkg.Service/Method": service and method point into full (not NUL-terminated), with
 * their lengths. Returns false when the name does not have that shape. */
bool core__grpc_split_method(const char *full, size_t len, const char **service,
                             size_t *service_len, const char **method, size_t *method_len);

/* Parses a gRPC peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "unix:/path") into
 * address (NUL-terminated, truncated to cap) and port (0 when none). False when unknown. */
bool core__grpc_parse_peer(const char *peer, char *addr, size_t cap, int *port);
/* The same, remembering the last answer of the calling thread: a thread usually sees the
 * same peer (one connection) call after call. */
bool core__grpc_parse_peer_cached(const char *peer, char *addr, size_t cap, int *port);

/* Splits "host:port" / "[v6]:port" / "dns:///host:port" into host and port (port 0 when
 * absent). False when unparsable. */
bool core__grpc_split_target(const char *target, char *host, size_t cap, int *port);

/* Copies the business baggage entries (customer_id, server_id, session_id, datacenter,
 * agent_id, bmc_type) of ctx onto the span as attributes. */
void core__span_copy_business_baggage(tel_span *span, const tel_context *ctx);
/* Records ms into the rpc duration histogram h with {rpc.system=grpc, rpc.service (when service
 * is not NULL), rpc.method (when method is not NULL), rpc.grpc.status_code}: through the bound
 * set in *slot when there is one, else binding it there at this first recording (slot NULL:
 * recorded unbound). service and method must outlive the binding (interned) when slot is set.
 * sc is the call's span (ended by now): the exemplar's. */
void core__grpc_record_duration(tel_instrument *h, _Atomic(tel_bound_attrs *) *slot, double ms,
                                const tel_span_context *sc, const char *service,
                                size_t service_len, const char *method, size_t method_len,
                                int code);
/* Sets rpc.service and rpc.method on span: by reference when the texts are interned (they
 * outlive the span), copied otherwise. */
void core__grpc_span_rpc_names(tel_span *span, const char *service, size_t service_len,
                               const char *method, size_t method_len, bool interned);

/* The attributes every span of a method has, prepared once for tel_span_start_opts.attr_set:
 * rpc.system, rpc.service, rpc.method, server.address and server.port (when port > 0). All the
 * texts must be interned (they outlive every span); set->n is 0 when one is not (NULL), and the
 * span's attributes are then set one by one. */
void core__grpc_span_attr_set(tel_span_attr_set *set, const char *service, size_t service_len,
                              const char *method, size_t method_len, const char *host,
                              size_t host_len, int port);

/* The semantic conventions' rule: is `code` an error for a span of this side? */
bool core__grpc_code_is_error(int code, bool server);

/* Monotonic milliseconds until a gRPC deadline (INT64_MAX when infinite). */
int64_t core__grpc_deadline_left_ms(gpr_timespec deadline);
/* An absolute monotonic deadline timeout_ms from now (<= 0 or INT64_MAX: infinite). */
gpr_timespec core__grpc_deadline_in(int64_t timeout_ms);

#endif
