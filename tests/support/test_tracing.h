/* Test helpers: a provider wired to an in-memory exporter through a simple processor. */
#ifndef TEST_TRACING_H
#define TEST_TRACING_H

#include "telemetry/memory_exporter.h"
#include "telemetry/trace.h"

typedef struct test_tracing {
    tel_tracer_provider *provider;
    tel_tracer *tracer;
    tel_memory_exporter *mem;
} test_tracing;

/* Sets up tt with the given sampler and limits (limits NULL: spec defaults). */
static inline void test_tracing_init(test_tracing *tt, tel_sampler_kind kind, double ratio,
                                     const tel_span_limits *limits)
{
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "unit-test");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, kind, ratio);
    cfg.has_limits = true;
    if (limits)
        cfg.limits = *limits;
    else
        cfg.limits = (tel_span_limits){128, 0, 128, 128, 128, 128};
    tt->provider = tel_tracer_provider_create(&cfg);
    tt->mem = tel_memory_exporter_create();
    tel_tracer_provider_add_processor(
        tt->provider, tel_simple_processor_create(tel_memory_exporter_base(tt->mem), 1000));
    tt->tracer = tel_tracer_get(tt->provider, "unit", "1.0");
}

static inline void test_tracing_cleanup(test_tracing *tt)
{
    tel_tracer_provider_destroy(tt->provider);
}

/* The attribute `key` of a record, or NULL. */
static inline const tel_attr *test_attr(const tel_span_data *d, const char *key)
{
    for (uint32_t i = 0; i < tel_span_data_attr_count(d); i++) {
        const tel_attr *a = tel_span_data_attr(d, i);
        if (__builtin_strcmp(a->key, key) == 0)
            return a;
    }
    return NULL;
}

#endif
