/* The OTLP/gRPC transport: telemetry's tel_otlp_transport over core's gRPC client, for traces,
 * metrics and logs (ExportTraceServiceRequest to
 * /opentelemetry.proto.collector.trace.v1.TraceService/Export, metrics to
 * .../metrics.v1.MetricsService/Export, logs to .../logs.v1.LogsService/Export; the bodies are
 * the protobuf the telemetry encoders produce). The telemetry library stays free of gRPC: a
 * program that links core calls core_otlp_grpc_register() before tel_init, and
 * OTEL_EXPORTER_OTLP_PROTOCOL=grpc then works.
 *
 * Configuration (tel_otlp_config): the endpoint ("http://host:port" plaintext, "https://..."
 * TLS, or "host:port" plaintext only with insecure), headers sent as metadata (keys
 * lowercased; values are secrets and never logged), the per-request timeout, gzip compression
 * (gRPC message compression), the CA certificate and client certificate/key files.
 *
 * Outcome classification (OTLP specification): OK is a success (partial_success decoded);
 * CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are retryable;
 * RESOURCE_EXHAUSTED is retryable only when the status carries a google.rpc.RetryInfo in
 * grpc-status-details-bin, whose retry_delay is then honoured; every other status is
 * permanent. The exporter (telemetry) owns the retry loop. The transport's own calls are never
 * traced. */
#ifndef CORE_OTLP_GRPC_H
#define CORE_OTLP_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "telemetry/otlp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Registers core_otlp_grpc_transport_create as telemetry's gRPC transport factory. Call before
 * creating OTLP exporters (before tel_init). Idempotent; thread safe. */
void core_otlp_grpc_register(void);

/* Creates the transport for cfg (copied as needed; cfg->protocol is not checked). NULL when
 * the endpoint cannot be used or a TLS file cannot be read (reported on stderr without
 * secrets). The caller (normally the OTLP exporter) owns it: base.destroy. */
tel_otlp_transport *core_otlp_grpc_transport_create(const tel_otlp_config *cfg);

/* The gRPC method an OTLP signal is exported to (static string). */
const char *core_otlp_grpc_method(tel_otlp_signal signal);

/* Reads a google.rpc.Status (the grpc-status-details-bin trailer) and looks for a
 * google.rpc.RetryInfo detail. Returns 1 with *delay_ms set (retry_delay rounded up to whole
 * milliseconds, capped at one day; negative delays read as 0) when one is present, 0 when the
 * status carries none, or CORE_EINVAL when the bytes are not a valid Status. Never reads outside
 * buf[0..len). Thread safe; no allocation. */
int core_otlp_grpc_parse_retry_info(const uint8_t *buf, size_t len, int64_t *delay_ms);

#ifdef __cplusplus
}
#endif
#endif
