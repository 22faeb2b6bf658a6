/* Samplers (OpenTelemetry SDK spec): always_on, always_off, traceidratio, and the parent-based
 * composites, configured from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG. */
#ifndef TELEMETRY_SAMPLER_H
#define TELEMETRY_SAMPLER_H

#include "ids.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tel_sampler_kind {
    TEL_SAMPLER_ALWAYS_ON = 0,
    TEL_SAMPLER_ALWAYS_OFF,
    TEL_SAMPLER_TRACEIDRATIO,
    TEL_SAMPLER_PARENTBASED_ALWAYS_ON,
    TEL_SAMPLER_PARENTBASED_ALWAYS_OFF,
    TEL_SAMPLER_PARENTBASED_TRACEIDRATIO,
} tel_sampler_kind;

/* A sampler is a small value: kind plus ratio (for the traceidratio kinds). */
typedef struct tel_sampler {
    tel_sampler_kind kind;
    double ratio;         /* 0..1 */
    uint64_t threshold;   /* derived: trace ids whose last 8 bytes (big endian) are < it sample */
} tel_sampler;

/* Sets up a sampler of the given kind and ratio (ratio clamped to [0,1]). */
void tel_sampler_init(tel_sampler *s, tel_sampler_kind kind, double ratio);

/* Reads OTEL_TRACES_SAMPLER (default parentbased_always_on) and OTEL_TRACES_SAMPLER_ARG (default
 * 1.0; invalid values warn on stderr and use the default). Unknown sampler names warn and use
 * the default. */
void tel_sampler_from_env(tel_sampler *s);

/* Decides for a new span with the given trace id and parent (parent may be NULL or invalid for a
 * root span). Returns true to record and sample. Pure; thread safe. */
bool tel_sampler_should_sample(const tel_sampler *s, const tel_span_context *parent,
                               const uint8_t trace_id[TEL_TRACE_ID_SIZE]);

/* Describes the sampler as the spec's getDescription (e.g. "TraceIdRatioBased{0.250000}")
 * into buf. */
void tel_sampler_describe(const tel_sampler *s, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
