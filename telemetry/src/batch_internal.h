/* The engine shared by the batch span processor (bsp.c) and the batch log record processor
 * (log_processor.c): a bounded lock-free MPSC queue of fixed-size cells (Vyukov's bounded queue:
 * a producer reserves a cell with one CAS and publishes it with a release store) and one export
 * thread with scheduled, full-batch, flush and shutdown runs, bounded flush and shutdown, and a
 * fresh empty queue and thread in a child after fork().
 *
 * The engine never looks inside a cell: its owner moves records in (between tel__batch_reserve
 * and tel__batch_publish, on the application thread) and out (ops->take, on the export thread),
 * and exports batches of what it took (ops->export_batch). */
#ifndef TELEMETRY_BATCH_INTERNAL_H
#define TELEMETRY_BATCH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "telemetry/common.h"

/* Queue and thread settings (the OTEL_BSP_* / OTEL_BLRP_* values). */
typedef struct tel__batch_cfg {
    uint32_t max_queue_size;
    uint32_t max_export_batch_size; /* <= max_queue_size */
    uint32_t schedule_delay_ms;
    uint32_t export_timeout_ms;
} tel__batch_cfg;

/* What the owner does with records. `owner` is the pointer given to tel__batch_init. Every
 * function but release_cell runs on the export thread (or, for discard, on the thread that shuts
 * the processor down once the export thread is gone). */
typedef struct tel__batch_ops {
    /* Moves the record in `cell` into the owner's batch slot i (i < max_export_batch_size). */
    void (*take)(void *owner, void *cell, size_t i);
    /* Exports batch slots [0, n) by deadline_ns and releases them; returns TEL_OK or an error. */
    int (*export_batch)(void *owner, size_t n, uint64_t deadline_ns);
    /* Releases batch slots [0, n) without exporting them. */
    void (*discard)(void *owner, size_t n);
    /* In a child after fork: releases a record published in `cell` but never taken. */
    void (*release_cell)(void *owner, void *cell);
    /* The exporter's force_flush (may be NULL) and shutdown (ends an in-flight export). */
    int (*exporter_flush)(void *owner, int64_t timeout_ms);
    void (*exporter_shutdown)(void *owner);
} tel__batch_ops;

#define TEL__BATCH_CELL_HEADER 16 /* the cell's sequence number, padded to max alignment */

typedef struct tel__batch {
    const tel__batch_ops *ops;
    void *owner;
    const char *what; /* "span", "log record": for the warning lines */
    tel__batch_cfg cfg;

    unsigned char *cells; /* cap cells of `stride` bytes, 64-byte aligned */
    size_t stride;
    size_t mask; /* cap - 1 */
    _Alignas(64) atomic_size_t enqueue_pos;
    _Alignas(64) atomic_size_t dequeue_pos; /* written by the export thread only */
    _Alignas(64) atomic_uint_fast64_t dropped;
    atomic_bool wake_pending;
    atomic_uint_fast64_t last_warn_ns;

    /* Export thread state, guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* to the export thread */
    pthread_cond_t done;      /* from the export thread */
    uint64_t flush_requested; /* generation asked for */
    uint64_t flush_done;      /* generation completed */
    bool stopping;
    bool exited;
    bool thread_started;
    bool detached; /* shutdown gave up on the thread, which may still run */
    pthread_t thread;
    atomic_uint_fast64_t exported;
    atomic_uint_fast64_t export_failed;

    struct tel__batch *next_all; /* registry for fork handling */
} tel__batch;

/* Sets b up for records of cell_size bytes (cfg is copied and clamped: queue >= 1, batch in
 * [1, queue]), allocates the queue once and starts the export thread. Returns TEL_OK or
 * TEL_ENOMEM (nothing to clean up then). */
int tel__batch_init(tel__batch *b, const tel__batch_cfg *cfg, size_t cell_size,
                    const tel__batch_ops *ops, void *owner, const char *what);

/* Counts a record dropped because the queue is full, with a rate-limited warning line. */
void tel__batch_note_dropped(tel__batch *b);
/* Wakes the export thread because a full batch is waiting. */
void tel__batch_wake_full(tel__batch *b);

/* Reserves the next cell for a producer: returns the cell (to fill, then tel__batch_publish with
 * *pos) or NULL when the queue is full (the record is counted as dropped). Lock-free; never
 * blocks, never allocates. */
static inline void *tel__batch_reserve(tel__batch *b, size_t *pos_out)
{
    size_t pos = atomic_load_explicit(&b->enqueue_pos, memory_order_relaxed);
    unsigned char *c;
    for (;;) {
        c = b->cells + (pos & b->mask) * b->stride;
        size_t seq = atomic_load_explicit((atomic_size_t *)c, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&b->enqueue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (diff < 0) {
            tel__batch_note_dropped(b);
            return NULL;
        } else {
            pos = atomic_load_explicit(&b->enqueue_pos, memory_order_relaxed);
        }
    }
    /* The next producer will write the next cell: start pulling its lines in for writing. */
    const unsigned char *next = b->cells + ((pos + 1) & b->mask) * b->stride;
    __builtin_prefetch(next, 1, 3);
    __builtin_prefetch(next + 64, 1, 3);
    __builtin_prefetch(next + 128, 1, 3);
    __builtin_prefetch(next + 192, 1, 3);
    *pos_out = pos;
    return c + TEL__BATCH_CELL_HEADER;
}

/* Publishes the cell reserved at pos; wakes the export thread once a full batch is waiting
 * (rare: not per record). */
static inline void tel__batch_publish(tel__batch *b, size_t pos)
{
    atomic_size_t *seq = (atomic_size_t *)(b->cells + (pos & b->mask) * b->stride);
    atomic_store_explicit(seq, pos + 1, memory_order_release);
    if (TEL_UNLIKELY(pos + 1 - atomic_load_explicit(&b->dequeue_pos, memory_order_relaxed) >=
                     b->cfg.max_export_batch_size) &&
        !atomic_load_explicit(&b->wake_pending, memory_order_relaxed))
        tel__batch_wake_full(b);
}

/* Asks the export thread to export everything queued and the exporter to flush; waits at most
 * timeout_ms. Returns TEL_OK, TEL_ETIMEDOUT or TEL_ESHUTDOWN. */
int tel__batch_force_flush(tel__batch *b, int64_t timeout_ms);
/* Drains and stops the export thread within timeout_ms: after 80% of it the exporter is shut down
 * to end an in-flight export; an exporter that ignores that is left behind on a detached thread
 * (TEL_ETIMEDOUT) rather than hang. Records still queued afterwards count as export failures.
 * The exporter is shut down in every case. Idempotent. */
int tel__batch_shutdown(tel__batch *b, int64_t timeout_ms);
/* Shuts down (bounded by the export timeout) and frees the queue. Returns false when the export
 * thread could not be stopped (it is given 100 ms more to end): it still uses b and the owner,
 * which must then be leaked. */
bool tel__batch_destroy(tel__batch *b);

/* Counters: queued records ever accepted, dropped, exported, failed. Lock-free. */
typedef struct tel__batch_stats {
    uint64_t accepted;
    uint64_t dropped;
    uint64_t exported;
    uint64_t export_failed;
} tel__batch_stats;
void tel__batch_get_stats(tel__batch *b, tel__batch_stats *out);

#endif
