/* Batch span processor: span records in the batch engine's bounded lock-free queue (batch.c)
 * and its export thread. As the provider's last processor it keeps each span's own record
 * (on_end_keep: queued by pointer and exported where it is, the span's slot given back once its
 * batch is exported); otherwise it copies the record into a queue buffer. Application threads never
 * block and never allocate here: a full queue drops the span and counts it. Records are
 * deduplicated and redacted (secrets policy) on the export thread. */
#include <stddef.h>
#include <stdlib.h>

#include "telemetry/env.h"
#include "batch_internal.h"
#include "trace_internal.h"

/* A queue buffer: a record copied raw by the application thread (tel__span_data_move_raw: no
 * string re-pointing there), its arena strings re-pointed on the export thread from src_arena,
 * the arena they were written in. */
typedef struct bsp_cell {
    const char *src_arena;
    tel_span_data d;
} bsp_cell;

typedef struct bsp {
    tel_span_processor base;
    tel_span_exporter *exporter;
    tel__batch q;
    /* Export thread only, max_export_batch_size of each: the records copied out of queue
     * buffers; what the exporter is given (&batch[i], or a kept span's own record); and the kept
     * records (NULL where batch[i] is used), released and given back to their span pools once
     * exported or discarded. */
    tel_span_data *batch;
    const tel_span_data **batch_ptrs;
    tel_span_data **kept;
} bsp;

void tel_bsp_config_from_env(tel_bsp_config *c)
{
    c->max_queue_size = (uint32_t)tel_env_int("OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1 << 24);
    c->max_export_batch_size =
        (uint32_t)tel_env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1, 1 << 24);
    c->schedule_delay_ms = (uint32_t)tel_env_int("OTEL_BSP_SCHEDULE_DELAY", 5000, 0, 1 << 30);
    c->export_timeout_ms = (uint32_t)tel_env_int("OTEL_BSP_EXPORT_TIMEOUT", 30000, 0, 1 << 30);
    if (c->max_export_batch_size > c->max_queue_size)
        c->max_export_batch_size = c->max_queue_size;
}

static void bsp_on_end(tel_span_processor *self, tel_span_data *rec)
{
    bsp *b = (bsp *)self;
    uint32_t buf;
    bsp_cell *cell = tel__batch_reserve(&b->q, &buf);
    if (!cell) return; /* full: dropped and counted; the caller releases rec */
    cell->src_arena = rec->arena;
    tel__span_data_move_raw(&cell->d, rec);
    tel__batch_publish(&b->q, buf);
}

/* The span's own record, queued by pointer: no copy on the application thread. A record with a
 * deferred measurement marks the queue as one that metric collections wait for (once: a line
 * written only the first time). */
static bool bsp_on_end_keep(tel_span_processor *self, tel_span_data *rec)
{
    bsp *b = (bsp *)self;
    if (TEL_UNLIKELY(tel__span_of_record(rec)->defer_h != NULL) &&
        !atomic_load_explicit(&b->q.settles, memory_order_relaxed))
        atomic_store_explicit(&b->q.settles, true, memory_order_relaxed);
    return tel__batch_publish_ptr(&b->q, rec);
}

/* ---- Batch engine callbacks (export thread) ---- */

static void bsp_take(void *owner, void *cell, size_t i)
{
    bsp *b = owner;
    bsp_cell *c = cell;
    tel__span_data_take_rebased(&b->batch[i], &c->d, c->src_arena);
    tel__span_data_dedupe_redact(&b->batch[i]);
    b->batch_ptrs[i] = &b->batch[i];
    b->kept[i] = NULL;
}

/* A span's own record is exported where it is, in its span's slot, which goes back to its pool
 * once the batch is exported (bsp_discard): no copy. Its deferred measurement is recorded here,
 * before the export. The copy out of the slot it replaces cost
 * the export thread about 250 instructions per span (bench/grpc_instructions.py; in bench_http
 * the export thread went from 909 to 599 instructions per request). The cost is slots held for
 * the length of an export: a producing thread's pool may grow by up to a batch more. */
static void bsp_take_ptr(void *owner, void *rec, size_t i)
{
    bsp *b = owner;
    tel_span_data *d = rec;
    tel__span_settle(d);
    tel__span_data_dedupe_redact(d);
    b->batch_ptrs[i] = d;
    b->kept[i] = d;
}

/* A queued span's deferred duration, recorded while the span waits in the queue (a metric
 * collection); its taking then records nothing more. */
static void bsp_settle_ptr(void *owner, void *rec)
{
    (void)owner;
    tel__span_settle(rec);
}

static void bsp_release_ptr(void *owner, void *rec)
{
    (void)owner;
    tel_span_data_release(rec);
    tel_span_record_done(rec);
}

static void bsp_discard(void *owner, size_t n)
{
    bsp *b = owner;
    for (size_t i = 0; i < n; i++) {
        tel_span_data *k = b->kept[i];
        if (k) {
            tel_span_data_release(k);
            tel_span_record_done(k);
            b->kept[i] = NULL;
        } else {
            tel_span_data_release(&b->batch[i]);
        }
    }
}

static int bsp_export_batch(void *owner, size_t n, uint64_t deadline_ns)
{
    bsp *b = owner;
    int rc =
        b->exporter->export_spans(b->exporter, b->base.resource, b->batch_ptrs, n, deadline_ns);
    bsp_discard(owner, n);
    return rc;
}

static void bsp_release_cell(void *owner, void *cell)
{
    (void)owner;
    tel_span_data_release(&((bsp_cell *)cell)->d);
}

static int bsp_exporter_flush(void *owner, int64_t timeout_ms)
{
    bsp *b = owner;
    return b->exporter->force_flush ? b->exporter->force_flush(b->exporter, timeout_ms) : TEL_OK;
}

static void bsp_exporter_shutdown(void *owner)
{
    bsp *b = owner;
    b->exporter->shutdown(b->exporter);
}

static const tel__batch_ops bsp_ops = {
    .take = bsp_take,
    .export_batch = bsp_export_batch,
    .discard = bsp_discard,
    .release_cell = bsp_release_cell,
    .take_ptr = bsp_take_ptr,
    .release_ptr = bsp_release_ptr,
    .settle_ptr = bsp_settle_ptr,
    /* A record's fixed fields, every inline attribute and the start of its arena (what a span
     * with a dozen attributes uses): the export thread's CPU time per span fell by about a
     * third with it in bench_http (two runs each, per-thread schedstat). */
    .take_ahead_bytes = offsetof(bsp_cell, d.arena) + 128,
    .exporter_flush = bsp_exporter_flush,
    .exporter_shutdown = bsp_exporter_shutdown,
};

/* ---- Processor interface ---- */

static int bsp_force_flush(tel_span_processor *self, int64_t timeout_ms)
{
    return tel__batch_force_flush(&((bsp *)self)->q, timeout_ms);
}

static int bsp_shutdown(tel_span_processor *self, int64_t timeout_ms)
{
    return tel__batch_shutdown(&((bsp *)self)->q, timeout_ms);
}

static void bsp_free(bsp *b)
{
    free(b->batch);
    free(b->batch_ptrs);
    free(b->kept);
    free(b);
}

static void bsp_destroy(tel_span_processor *self)
{
    bsp *b = (bsp *)self;
    if (!tel__batch_destroy(&b->q))
        return; /* a detached export thread still uses b: leaked deliberately */
    b->exporter->destroy(b->exporter);
    bsp_free(b);
}

void tel_bsp_get_stats(tel_span_processor *self, tel_bsp_stats *out)
{
    tel__batch_stats st;
    tel__batch_get_stats(&((bsp *)self)->q, &st);
    out->dropped_queue_full = st.dropped;
    out->ended = st.accepted + st.dropped;
    out->exported = st.exported;
    out->export_failed = st.export_failed;
}

tel_span_processor *tel_bsp_create(tel_span_exporter *exporter, const tel_bsp_config *cfg)
{
    if (!exporter)
        return NULL;
    bsp *b = calloc(1, sizeof *b);
    if (!b) {
        exporter->destroy(exporter);
        return NULL;
    }
    tel_bsp_config c;
    if (cfg)
        c = *cfg;
    else
        tel_bsp_config_from_env(&c);
    if (c.max_queue_size == 0) c.max_queue_size = 1;
    if (c.max_export_batch_size == 0 || c.max_export_batch_size > c.max_queue_size)
        c.max_export_batch_size = c.max_queue_size;
    b->exporter = exporter;
    b->batch = calloc(c.max_export_batch_size, sizeof *b->batch);
    b->batch_ptrs = calloc(c.max_export_batch_size, sizeof *b->batch_ptrs);
    b->kept = calloc(c.max_export_batch_size, sizeof *b->kept);
    tel__batch_cfg qc = {c.max_queue_size, c.max_export_batch_size, c.schedule_delay_ms,
                         c.export_timeout_ms};
    if (!b->batch || !b->batch_ptrs || !b->kept ||
        tel__batch_init(&b->q, &qc, sizeof(bsp_cell), &bsp_ops, b, "span") != TEL_OK) {
        bsp_free(b);
        exporter->destroy(exporter);
        return NULL;
    }
    b->base.on_end = bsp_on_end;
    b->base.on_end_keep = bsp_on_end_keep;
    b->base.force_flush = bsp_force_flush;
    b->base.shutdown = bsp_shutdown;
    b->base.destroy = bsp_destroy;
    return &b->base;
}
