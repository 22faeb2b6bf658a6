/* Test tracing for the agent's integration tests: a provider with a simple processor and an
 * exporter that keeps deep copies of every span (like tel_memory_exporter).
 *
 * Why not tel_memory_exporter: its tel__span_data_clone leaves the copy's inline-arena strings
 * (attribute values, the name, the status message) pointing into the *source* record's arena,
 * which the simple processor reuses for the next span, so with more than one span the stored
 * strings change under the test (reported to the telemetry owner; see the issue-5 report). This
 * exporter clones the same way and then re-points those strings into the copy's own arena. */
#ifndef AGT_SPAN_CAPTURE_H
#define AGT_SPAN_CAPTURE_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/processor.h"
#include "telemetry/trace.h"
#include "trace_internal.h"

typedef struct cap_exporter {
    tel_span_exporter base;
    pthread_mutex_t lock;
    tel_span_data **spans;
    size_t n, cap;
} cap_exporter;

typedef struct cap_tracing {
    tel_tracer_provider *provider;
    tel_tracer *tracer;
    cap_exporter *mem;
} cap_tracing;

static inline const char *cap_rebase(const tel_span_data *dst, const tel_span_data *src,
                                     const char *p)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)src->arena;
    return p && off < TEL_SPAN_ARENA ? dst->arena + off : p;
}

static inline int cap_export(tel_span_exporter *self, const tel_resource *res,
                             const tel_span_data *const *spans, size_t n, uint64_t deadline_ns)
{
    (void)res;
    (void)deadline_ns;
    cap_exporter *m = (cap_exporter *)self;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        if (m->n == m->cap) {
            size_t ncap = m->cap ? m->cap * 2 : 64;
            tel_span_data **ns = realloc(m->spans, ncap * sizeof *ns);
            if (!ns) break;
            m->spans = ns;
            m->cap = ncap;
        }
        const tel_span_data *src = spans[i];
        tel_span_data *copy = malloc(sizeof *copy);
        if (!copy || !tel__span_data_clone(copy, src)) {
            free(copy);
            continue;
        }
        for (uint16_t k = 0; k < copy->n_attrs; k++) {
            copy->attrs[k].key = cap_rebase(copy, src, copy->attrs[k].key);
            if (copy->attrs[k].type == TEL_ATTR_STRING)
                copy->attrs[k].v.s = cap_rebase(copy, src, copy->attrs[k].v.s);
        }
        copy->name = cap_rebase(copy, src, copy->name);
        copy->status_msg = cap_rebase(copy, src, copy->status_msg);
        m->spans[m->n++] = copy;
    }
    pthread_mutex_unlock(&m->lock);
    return TEL_OK;
}

static inline int cap_shutdown(tel_span_exporter *self)
{
    (void)self;
    return TEL_OK;
}

static inline void cap_destroy(tel_span_exporter *self)
{
    cap_exporter *m = (cap_exporter *)self;
    for (size_t i = 0; i < m->n; i++) {
        tel_span_data_release(m->spans[i]);
        free(m->spans[i]);
    }
    free(m->spans);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static inline void cap_tracing_init(cap_tracing *ct)
{
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "agent-integration-test");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, TEL_SAMPLER_ALWAYS_ON, 0);
    cfg.has_limits = true;
    cfg.limits = (tel_span_limits){128, 0, 128, 128, 128, 128};
    ct->provider = tel_tracer_provider_create(&cfg);
    ct->mem = calloc(1, sizeof *ct->mem);
    pthread_mutex_init(&ct->mem->lock, NULL);
    ct->mem->base.export_spans = cap_export;
    ct->mem->base.shutdown = cap_shutdown;
    ct->mem->base.destroy = cap_destroy;
    tel_tracer_provider_add_processor(ct->provider,
                                      tel_simple_processor_create(&ct->mem->base, 1000));
    ct->tracer = tel_tracer_get(ct->provider, "agent-test", "1.0");
}

static inline void cap_tracing_cleanup(cap_tracing *ct)
{
    tel_tracer_provider_destroy(ct->provider); /* destroys the exporter too */
}

static inline size_t cap_count(cap_exporter *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

static inline const tel_span_data *cap_span(cap_exporter *m, size_t i)
{
    return i < m->n ? m->spans[i] : NULL;
}

static inline const tel_span_data *cap_find(cap_exporter *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->spans[i]->name, name) == 0) return m->spans[i];
    return NULL;
}

/* The attribute `key` of a record, or NULL. */
static inline const tel_attr *cap_attr(const tel_span_data *d, const char *key)
{
    for (uint32_t i = 0; i < tel_span_data_attr_count(d); i++) {
        const tel_attr *a = tel_span_data_attr(d, i);
        if (strcmp(a->key, key) == 0) return a;
    }
    return NULL;
}

#endif
