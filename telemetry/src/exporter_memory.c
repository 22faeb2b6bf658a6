/* In-memory exporter: deep copies of exported spans, for tests. */
#include <stdlib.h>
#include <string.h>

#include "telemetry/memory_exporter.h"
#include "trace_internal.h"

struct tel_memory_exporter {
    tel_span_exporter base;
    pthread_mutex_t lock;
    tel_span_data **spans;
    size_t n, cap;
    int fail_rc;
};

static int mem_export(tel_span_exporter *self, const tel_resource *res,
                      const tel_span_data *const *spans, size_t n, uint64_t deadline_ns)
{
    (void)res;
    (void)deadline_ns;
    tel_memory_exporter *m = (tel_memory_exporter *)self;
    pthread_mutex_lock(&m->lock);
    if (m->fail_rc) {
        int rc = m->fail_rc;
        pthread_mutex_unlock(&m->lock);
        return rc;
    }
    if (m->n + n > m->cap) {
        size_t ncap = m->cap ? m->cap : 64;
        while (ncap < m->n + n)
            ncap *= 2;
        tel_span_data **ns = realloc(m->spans, ncap * sizeof *ns);
        if (!ns) {
            pthread_mutex_unlock(&m->lock);
            return TEL_ENOMEM;
        }
        m->spans = ns;
        m->cap = ncap;
    }
    for (size_t i = 0; i < n; i++) {
        /* Each record is its own allocation: records point into themselves. */
        tel_span_data *copy = malloc(sizeof *copy);
        if (copy && tel__span_data_clone(copy, spans[i]))
            m->spans[m->n++] = copy;
        else
            free(copy);
    }
    pthread_mutex_unlock(&m->lock);
    return TEL_OK;
}

static int mem_shutdown(tel_span_exporter *self)
{
    (void)self;
    return TEL_OK;
}

static void mem_destroy(tel_span_exporter *self)
{
    tel_memory_exporter *m = (tel_memory_exporter *)self;
    tel_memory_exporter_reset(m);
    free(m->spans);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

tel_memory_exporter *tel_memory_exporter_create(void)
{
    tel_memory_exporter *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->base.export_spans = mem_export;
    m->base.shutdown = mem_shutdown;
    m->base.destroy = mem_destroy;
    return m;
}

tel_span_exporter *tel_memory_exporter_base(tel_memory_exporter *m)
{
    return &m->base;
}

size_t tel_memory_exporter_count(tel_memory_exporter *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

const tel_span_data *tel_memory_exporter_span(tel_memory_exporter *m, size_t i)
{
    return i < m->n ? m->spans[i] : NULL;
}

const tel_span_data *tel_memory_exporter_find(tel_memory_exporter *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->spans[i]->name, name) == 0)
            return m->spans[i];
    return NULL;
}

void tel_memory_exporter_reset(tel_memory_exporter *m)
{
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++) {
        tel_span_data_release(m->spans[i]);
        free(m->spans[i]);
    }
    m->n = 0;
    pthread_mutex_unlock(&m->lock);
}

void tel_memory_exporter_fail_with(tel_memory_exporter *m, int rc)
{
    pthread_mutex_lock(&m->lock);
    m->fail_rc = rc;
    pthread_mutex_unlock(&m->lock);
}
