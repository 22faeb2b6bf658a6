/* Samplers: always_on/off, traceidratio and the parent-based composites. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "telemetry/env.h"
#include "telemetry/sampler.h"

void tel_sampler_init(tel_sampler *s, tel_sampler_kind kind, double ratio)
{
    if (!(ratio >= 0.0))
        ratio = 0.0;
    if (ratio > 1.0)
        ratio = 1.0;
    s->kind = kind;
    s->ratio = ratio;
    /* Ids whose low 8 bytes (big endian) fall under ratio * 2^64 are sampled. */
    if (ratio >= 1.0)
        s->threshold = UINT64_MAX;
    else
        s->threshold = (uint64_t)(ratio * 18446744073709551616.0);
}

void tel_sampler_from_env(tel_sampler *s)
{
    static const struct {
        const char *name;
        tel_sampler_kind kind;
    } names[] = {
        {"always_on", TEL_SAMPLER_ALWAYS_ON},
        {"always_off", TEL_SAMPLER_ALWAYS_OFF},
        {"traceidratio", TEL_SAMPLER_TRACEIDRATIO},
        {"parentbased_always_on", TEL_SAMPLER_PARENTBASED_ALWAYS_ON},
        {"parentbased_always_off", TEL_SAMPLER_PARENTBASED_ALWAYS_OFF},
        {"parentbased_traceidratio", TEL_SAMPLER_PARENTBASED_TRACEIDRATIO},
    };
    tel_sampler_kind kind = TEL_SAMPLER_PARENTBASED_ALWAYS_ON;
    const char *v = tel_env_str("OTEL_TRACES_SAMPLER");
    if (v) {
        bool found = false;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (strcasecmp(v, names[i].name) == 0) {
                kind = names[i].kind;
                found = true;
            }
        }
        if (!found)
            fprintf(stderr, "{\"level\":\"warn\",\"message\":\"unknown OTEL_TRACES_SAMPLER, "
                            "using parentbased_always_on\"}\n");
    }
    double ratio = 1.0;
    if (kind == TEL_SAMPLER_TRACEIDRATIO || kind == TEL_SAMPLER_PARENTBASED_TRACEIDRATIO)
        ratio = tel_env_double("OTEL_TRACES_SAMPLER_ARG", 1.0, 0.0, 1.0);
    tel_sampler_init(s, kind, ratio);
}

static bool ratio_sample(const tel_sampler *s, const uint8_t tid[TEL_TRACE_ID_SIZE])
{
    if (s->threshold == UINT64_MAX)
        return true;
    uint64_t x = 0;
    for (int i = 8; i < 16; i++)
        x = (x << 8) | tid[i];
    return x < s->threshold;
}

bool tel_sampler_should_sample(const tel_sampler *s, const tel_span_context *parent,
                               const uint8_t trace_id[TEL_TRACE_ID_SIZE])
{
    bool has_parent = parent && tel_span_context_is_valid(parent);
    switch (s->kind) {
    case TEL_SAMPLER_ALWAYS_ON:
        return true;
    case TEL_SAMPLER_ALWAYS_OFF:
        return false;
    case TEL_SAMPLER_TRACEIDRATIO:
        return ratio_sample(s, trace_id);
    case TEL_SAMPLER_PARENTBASED_ALWAYS_ON:
        return has_parent ? tel_span_context_is_sampled(parent) : true;
    case TEL_SAMPLER_PARENTBASED_ALWAYS_OFF:
        return has_parent ? tel_span_context_is_sampled(parent) : false;
    case TEL_SAMPLER_PARENTBASED_TRACEIDRATIO:
        return has_parent ? tel_span_context_is_sampled(parent) : ratio_sample(s, trace_id);
    }
    return false;
}

void tel_sampler_describe(const tel_sampler *s, char *buf, size_t cap)
{
    char ratio[48];
    snprintf(ratio, sizeof ratio, "TraceIdRatioBased{%f}", s->ratio);
    switch (s->kind) {
    case TEL_SAMPLER_ALWAYS_ON: snprintf(buf, cap, "AlwaysOnSampler"); break;
    case TEL_SAMPLER_ALWAYS_OFF: snprintf(buf, cap, "AlwaysOffSampler"); break;
    case TEL_SAMPLER_TRACEIDRATIO: snprintf(buf, cap, "%s", ratio); break;
    case TEL_SAMPLER_PARENTBASED_ALWAYS_ON:
        snprintf(buf, cap, "ParentBased{root=AlwaysOnSampler}");
        break;
    case TEL_SAMPLER_PARENTBASED_ALWAYS_OFF:
        snprintf(buf, cap, "ParentBased{root=AlwaysOffSampler}");
        break;
    case TEL_SAMPLER_PARENTBASED_TRACEIDRATIO:
        snprintf(buf, cap, "ParentBased{root=%s}", ratio);
        break;
    }
}
