/* Span exporters and span processors.
 *
 * An exporter turns batches of ended spans into bytes somewhere (OTLP, a file, the console).
 * A processor receives every ended sampled span and hands it to an exporter: the batch processor
 * through a lock-free bounded queue and one export thread; the simple processor synchronously. */
#ifndef TELEMETRY_PROCESSOR_H
#define TELEMETRY_PROCESSOR_H

#include "resource.h"
#include "span_data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exporter interface. Implementations embed it as their first member.
 * export_spans: sends n records (borrowed for the call; resource borrowed) and returns TEL_OK or
 *   a negative code; it must give up by deadline_ns (tel_mono_ns clock). Called from one thread
 *   at a time.
 * force_flush: (may be NULL) completes buffered writes within timeout_ms.
 * shutdown: makes any in-flight and later export_spans return promptly (TEL_ESHUTDOWN); may be
 *   called from another thread while export_spans runs; idempotent.
 * destroy: frees the exporter; called once, after shutdown, with no export running. */
typedef struct tel_span_exporter tel_span_exporter;
struct tel_span_exporter {
    int (*export_spans)(tel_span_exporter *self, const tel_resource *res,
                        const tel_span_data *const *spans, size_t n, uint64_t deadline_ns);
    int (*force_flush)(tel_span_exporter *self, int64_t timeout_ms);
    int (*shutdown)(tel_span_exporter *self);
    void (*destroy)(tel_span_exporter *self);
};

/* Processor interface. Implementations embed it as their first member.
 * on_end: receives an ended sampled span; must take what it needs by tel_span_data_move (the
 *   caller releases whatever is left). Called from any application thread: must not block.
 * on_end_keep: (may be NULL) offered instead of on_end to the provider's last processor, with the
 *   span's own record: returns true when it keeps rec itself (no copy), which it then owns until
 *   it hands it back with tel_span_record_done (from any thread); false when it took nothing
 *   (the span is dropped and the caller releases rec; on_end is not called then). Must not
 *   block.
 * force_flush / shutdown: bounded by timeout_ms; shutdown is idempotent and also shuts the
 *   exporter down.
 * destroy: frees the processor and its exporter (after shutdown). */
typedef struct tel_span_processor tel_span_processor;
struct tel_span_processor {
    void (*on_end)(tel_span_processor *self, tel_span_data *rec);
    bool (*on_end_keep)(tel_span_processor *self, tel_span_data *rec);
    int (*force_flush)(tel_span_processor *self, int64_t timeout_ms);
    int (*shutdown)(tel_span_processor *self, int64_t timeout_ms);
    void (*destroy)(tel_span_processor *self);
    const tel_resource *resource; /* set by the provider when the processor is added */
};

/* Gives back a record an on_end_keep kept, once its extra block and tracestate are moved out
 * (tel_span_data_move) or released (tel_span_data_release). Any thread; rec is invalid after. */
void tel_span_record_done(tel_span_data *rec);

/* Batch span processor settings (OTEL_BSP_*). */
typedef struct tel_bsp_config {
    uint32_t max_queue_size;        /* OTEL_BSP_MAX_QUEUE_SIZE, default 2048 */
    uint32_t max_export_batch_size; /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE, default 512 (<= queue) */
    uint32_t schedule_delay_ms;     /* OTEL_BSP_SCHEDULE_DELAY, default 5000 (0 acts as 1) */
    uint32_t export_timeout_ms;     /* OTEL_BSP_EXPORT_TIMEOUT, default 30000 */
} tel_bsp_config;

/* Counters of a batch processor; exported + dropped_queue_full + export_failed equals ended
 * once the processor has been shut down. */
typedef struct tel_bsp_stats {
    uint64_t ended;              /* spans handed to on_end */
    uint64_t dropped_queue_full; /* spans dropped because the queue was full */
    uint64_t exported;           /* spans in batches the exporter accepted */
    uint64_t export_failed;      /* spans in batches the exporter failed (after its retries) */
} tel_bsp_stats;

/* Fills cfg with the defaults overridden by valid OTEL_BSP_* values (invalid ones warn). */
void tel_bsp_config_from_env(tel_bsp_config *cfg);

/* Creates a batch processor owning `exporter`; starts its export thread. The queue is allocated
 * once here. Returns NULL on failure (the exporter is then destroyed). */
tel_span_processor *tel_bsp_create(tel_span_exporter *exporter, const tel_bsp_config *cfg);
/* Reads the counters (thread safe, lock-free). */
void tel_bsp_get_stats(tel_span_processor *bsp, tel_bsp_stats *out);

/* Creates a simple processor owning `exporter`: each span is exported on the calling thread,
 * serialised by a mutex, with deadline now + export_timeout_ms. */
tel_span_processor *tel_simple_processor_create(tel_span_exporter *exporter,
                                                uint32_t export_timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
