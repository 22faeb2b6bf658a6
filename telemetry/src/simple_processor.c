/* Simple span processor: exports each ended span synchronously on the calling thread. */
#include <stdlib.h>

#include "trace_internal.h"

typedef struct simple {
    tel_span_processor base;
    tel_span_exporter *exporter;
    uint32_t timeout_ms;
    pthread_mutex_t lock;
    bool shut;
    tel_span_data rec;
} simple;

static void simple_on_end(tel_span_processor *self, tel_span_data *r)
{
    simple *s = (simple *)self;
    pthread_mutex_lock(&s->lock);
    if (!s->shut) {
        tel_span_data_move(&s->rec, r);
        tel__span_data_dedupe_redact(&s->rec);
        const tel_span_data *one = &s->rec;
        s->exporter->export_spans(s->exporter, s->base.resource, &one, 1,
                                  tel_mono_ns() + (uint64_t)s->timeout_ms * 1000000u);
        tel_span_data_release(&s->rec);
    }
    pthread_mutex_unlock(&s->lock);
}

static int simple_force_flush(tel_span_processor *self, int64_t timeout_ms)
{
    simple *s = (simple *)self;
    return s->exporter->force_flush ? s->exporter->force_flush(s->exporter, timeout_ms) : TEL_OK;
}

static int simple_shutdown(tel_span_processor *self, int64_t timeout_ms)
{
    simple *s = (simple *)self;
    (void)timeout_ms;
    s->exporter->shutdown(s->exporter);
    pthread_mutex_lock(&s->lock);
    s->shut = true;
    pthread_mutex_unlock(&s->lock);
    return TEL_OK;
}

static void simple_destroy(tel_span_processor *self)
{
    simple *s = (simple *)self;
    if (!s->shut)
        simple_shutdown(self, 0);
    s->exporter->destroy(s->exporter);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

tel_span_processor *tel_simple_processor_create(tel_span_exporter *exporter,
                                                uint32_t export_timeout_ms)
{
    if (!exporter)
        return NULL;
    simple *s = calloc(1, sizeof *s);
    if (!s) {
        exporter->destroy(exporter);
        return NULL;
    }
    s->exporter = exporter;
    s->timeout_ms = export_timeout_ms ? export_timeout_ms : 30000;
    pthread_mutex_init(&s->lock, NULL);
    s->base.on_end = simple_on_end;
    s->base.force_flush = simple_force_flush;
    s->base.shutdown = simple_shutdown;
    s->base.destroy = simple_destroy;
    return &s->base;
}
