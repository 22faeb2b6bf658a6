/* The engine shared by the batch span processor (bsp.c) and the batch log record processor
 * (log_processor.c): a bounded lock-free MPMC pool of fixed-size record buffers, a bounded
 * lock-free MPSC queue of buffer numbers (a bounded ring: a producer reserves an entry
 * with one CAS and publishes it with a release store), and one export thread with scheduled,
 * full-batch, flush and shutdown runs, bounded flush and shutdown, and a fresh empty queue and
 * thread in a child after fork().
 *
 * Why a pool and a queue of numbers rather than a ring of records: a ring's producer writes every
 * record to the next cell in turn, so all of it (max_queue_size records, 2 MB for the spans'
 * defaults) streams through the producing CPU's cache, evicting the service's own data. The pool
 * hands out the buffer freed last (a stack), and the export thread takes queued records once
 * wake_at of them wait (a batch, by default), so a producer cycles through a batch's worth of
 * buffers unless the export falls behind; then the pool and queue still hold max_queue_size
 * records, as configured.
 *
 * The export thread looks at the queue only when there is a batch to take (a producer wakes it),
 * when the schedule delay is due, on a flush and at shutdown, as the OpenTelemetry batch
 * processor does. It used to come back on its own about every 128 records at the rate it had
 * seen, so that producers need not wake it. On a 2-CPU VM at about 100,000 requests a second
 * with two spans each, that made about 1,100 looks a second instead of 430, and a look there
 * costs the other CPU about 20 us besides the records' own cost (fitted from the export
 * thread's CPU time per look at two look rates). bench_http's req/s overhead was 9.1-9.2% with
 * that polling and 3.1-3.7% without it (two runs each); looks timed by the export thread for
 * every 512 records (producers waking it only at 1,536) measured 8.3% again. A producer's wake
 * is not free either: on that VM the waker spends 15-19 us in it (an interrupt to a halted
 * virtual CPU; bench_http's machine.wake_us). A producer wakes the thread at most once per
 * batch (wake_pending, cleared only after a drain).
 *
 * A record that lives elsewhere until it is exported (a span's own record in its slot) is queued
 * by pointer instead (tel__batch_publish_ptr): no buffer, its entry marked TEL__BATCH_PTR and
 * the pointer beside it; the queue's size bounds those.
 *
 * The engine never looks inside a buffer: its owner moves records in (between
 * tel__batch_reserve and tel__batch_publish, on the application thread) and out (ops->take, on
 * the export thread, which gives the buffer back at once), keeps taken records in its batch slots
 * until a batch is full or due, and exports them (ops->export_batch). */
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
    /* Moves the record in buffer `cell` into the owner's batch slot i (i <
     * max_export_batch_size); the buffer is reused afterwards. */
    void (*take)(void *owner, void *cell, size_t i);
    /* Exports batch slots [0, n) by deadline_ns and releases them; returns TEL_OK or an error. */
    int (*export_batch)(void *owner, size_t n, uint64_t deadline_ns);
    /* Releases batch slots [0, n) without exporting them. */
    void (*discard)(void *owner, size_t n);
    /* Releases a record in buffer `cell` that will never be taken: one published but not taken
     * when the process forked (in the child), or one that could not be queued. May be NULL when
     * records own nothing. */
    void (*release_cell)(void *owner, void *cell);
    /* The same two for records queued by pointer (tel__batch_publish_ptr; NULL when the owner
     * never does): take_ptr makes the record at rec batch slot i's (moved, or left where it is
     * until export_batch or discard releases the slot); release_ptr releases a record that will
     * never be taken (in a forked child). */
    void (*take_ptr)(void *owner, void *rec, size_t i);
    void (*release_ptr)(void *owner, void *rec);
    /* Records the measurement a record queued by pointer carries (a span's deferred duration)
     * where it is, still queued, without taking it; once per record (taking it later records
     * nothing more). Called by tel__batch_settle_all under take_lock; NULL: no record carries
     * one. */
    void (*settle_ptr)(void *owner, void *rec);
    /* Bytes at the start of a queued record (buffer or pointer) that the export thread asks
     * for TEL__BATCH_TAKE_AHEAD records before taking it (0: none; capped at a buffer's size):
     * the lines the producer wrote on its CPU then arrive while the records before are taken,
     * not one record after another. */
    size_t take_ahead_bytes;
    /* The exporter's force_flush (may be NULL) and shutdown (ends an in-flight export). */
    int (*exporter_flush)(void *owner, int64_t timeout_ms);
    void (*exporter_shutdown)(void *owner);
} tel__batch_ops;

/* A queue entry, one 64-bit word written by the producer only: (position + 1, truncated to 32
 * bits) << 32 | buffer number, published for that position. The export thread never writes the
 * entries (they are free again once dequeue_pos has passed them), so a producer's next write
 * to an entry's line finds it still in its own cache rather than on the export thread's CPU. A
 * stale entry holds an older lap's position, which differs from the current one modulo 2^32
 * because the queue is smaller than that. */
typedef _Atomic uint64_t tel__batch_entry;

/* How many records ahead of the one it takes the export thread asks for a record's lines. */
#define TEL__BATCH_TAKE_AHEAD 2u

/* The buffer number of an entry whose record is queued by pointer (in ptrs[] at its position). */
#define TEL__BATCH_PTR UINT32_MAX

typedef struct tel__batch {
    const tel__batch_ops *ops;
    void *owner;
    const char *what; /* "span", "log record": for the warning lines */
    tel__batch_cfg cfg;

    unsigned char *cells; /* cap buffers of `stride` bytes, 64-byte aligned */
    size_t stride;
    /* The pool's free-list links, one per buffer (the next buffer number + 1, 0: none), apart
     * from the buffers: the export thread writes them when it gives buffers back, and inside a
     * buffer that write would make the producer's next write there fetch the line from the
     * export thread's CPU; here 16 links share a line, read in one miss. */
    _Atomic uint32_t *links;
    size_t mask; /* cap - 1 */
    tel__batch_entry *ring; /* cap queue entries, 8 per line */
    /* The records queued by pointer, by position (mask): written before the entry is published,
     * by the producer only, like the entries. */
    void *_Atomic *ptrs;
    /* Queued records that make a producer wake the export thread: min(batch, cap / 2). */
    uint32_t wake_at;
    /* Set in the child of fork(): the export thread is started by the first producer, flush or
     * shutdown there, not by the fork handler (creating a thread inside a fork handler is not
     * safe: a sanitizer's or the C library's locks may still be held). */
    atomic_bool restart_pending;
    /* Both written by every producer: one line. free_head is the pool's stack top: (ABA tag << 32)
     * | (buffer number + 1), 0 when the pool is empty. */
    _Alignas(64) _Atomic uint64_t free_head;
    atomic_size_t enqueue_pos;
    /* Written by the export thread only, once per drain (release: its reads of the entries and
     * buffers it passed happen before), before the buffers go back to the pool; a producer that
     * took a buffer with an acquire therefore finds the entries freed with it free. */
    _Alignas(64) atomic_size_t dequeue_pos;
    _Alignas(64) atomic_uint_fast64_t dropped;
    /* Set by the producer that wakes the export thread; cleared by the thread after the drain
     * that follows (so that the records queued during it wake nobody). */
    atomic_bool wake_pending;
    /* Set by the owner once it has queued a record whose taking records a measurement (a span's
     * deferred duration): tel__batch_settle_all settles this queue. */
    atomic_bool settles;
    atomic_uint_fast64_t last_warn_ns;

    /* Held by whoever reads the queued records at dequeue_pos: the drain (the export thread, or
     * the shutting-down thread once it is gone) and a settle (tel__batch_settle_all, on a
     * collecting thread), so that a record a settle reads is not taken, exported and reused
     * meanwhile. The drain holds it for one pass over the queue, never across an export. Taken
     * after lock by whoever holds both (fork handling). */
    pthread_mutex_t take_lock;

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
    atomic_uint_fast64_t producer_wakes;
    atomic_uint_fast64_t looks; /* written by the export thread only */

    struct tel__batch *next_all; /* registry for fork handling */
} tel__batch;

/* Sets b up for records of cell_size bytes (cfg is copied and clamped: queue >= 1, batch in
 * [1, queue]), allocates the queue once and starts the export thread. Returns TEL_OK or
 * TEL_ENOMEM (nothing to clean up then). */
int tel__batch_init(tel__batch *b, const tel__batch_cfg *cfg, size_t cell_size,
                    const tel__batch_ops *ops, void *owner, const char *what);

/* Records, on the calling thread, the measurements carried by the records queued (and not yet
 * taken) in every queue marked `settles`: when it returns, those of every record published
 * before the call are recorded (the records taken before were settled by their taking). The
 * records stay queued; nothing is exported and nothing waits for the export thread, which may
 * be inside an export to a slow collector meanwhile (it only waits for a drain pass to end).
 * Called before a metric collection and before a meter provider frees its instruments. */
void tel__batch_settle_all(void);

/* Counts a record dropped because the queue is full, with a rate-limited warning line. */
void tel__batch_note_dropped(tel__batch *b);
/* Starts the export thread of a forked child if it is still pending (see restart_pending). */
void tel__batch_restart(tel__batch *b);
/* Wakes the export thread because wake_at records are waiting. */
void tel__batch_wake_full(tel__batch *b);

/* Gives back a buffer whose record could not be queued (every entry taken: the pool holds no
 * more buffers than the queue has entries, so only records queued by pointer can fill the
 * entries a buffer holder needs): releases the record, counts it as dropped. */
void tel__batch_reject(tel__batch *b, uint32_t buf);

static inline _Atomic uint32_t *tel__batch_link(tel__batch *b, uint32_t buf)
{
    return &b->links[buf];
}

/* Takes a buffer for a producer: returns where to write the record (then tel__batch_publish
 * with *buf_out) or NULL when every buffer is queued or being exported (the record is counted as
 * dropped). Lock-free; never blocks, never allocates. */
static inline void *tel__batch_reserve(tel__batch *b, uint32_t *buf_out)
{
    /* Acquire: the link read below, and the export thread's reads of the buffer's previous
     * record, happen before this producer writes the buffer (the push is a release, and the
     * pops in between continue its release sequence). */
    uint64_t h = atomic_load_explicit(&b->free_head, memory_order_acquire);
    for (;;) {
        uint32_t top = (uint32_t)h;
        if (TEL_UNLIKELY(top == 0)) {
            tel__batch_note_dropped(b);
            return NULL;
        }
        uint32_t next = atomic_load_explicit(tel__batch_link(b, top - 1), memory_order_relaxed);
        uint64_t nh = (((h >> 32) + 1) << 32) | next;
        if (atomic_compare_exchange_weak_explicit(&b->free_head, &h, nh, memory_order_acquire,
                                                  memory_order_acquire)) {
            /* The next record will go to the next buffer on the stack: start pulling its
             * lines in for writing. */
            if (next) {
                const unsigned char *n = b->cells + (size_t)(next - 1) * b->stride;
                __builtin_prefetch(n, 1, 3);
                __builtin_prefetch(n + 64, 1, 3);
                __builtin_prefetch(n + 128, 1, 3);
                __builtin_prefetch(n + 192, 1, 3);
            }
            *buf_out = top - 1;
            return b->cells + (size_t)(top - 1) * b->stride;
        }
    }
}

/* Takes the next queue position for a producer (starting a forked child's export thread first
 * if due): false when every entry is taken. *deq_out is the dequeue position read for it. */
static inline bool tel__batch_take_pos(tel__batch *b, size_t *pos_out, size_t *deq_out)
{
    if (TEL_UNLIKELY(atomic_load_explicit(&b->restart_pending, memory_order_relaxed)))
        tel__batch_restart(b);
    size_t pos = atomic_load_explicit(&b->enqueue_pos, memory_order_relaxed);
    for (;;) {
        /* Acquire: the export thread's reads of the entries (and of the pointers beside them) it
         * passed happen before this producer writes them again. */
        size_t deq = atomic_load_explicit(&b->dequeue_pos, memory_order_acquire);
        if (TEL_UNLIKELY(pos - deq > b->mask)) {
            /* pos read before other producers queued more and the export thread took them:
             * behind dequeue_pos, not full. Read again: now it is at least dequeue_pos (the
             * records dequeue_pos passed were queued before it was published). */
            if ((ptrdiff_t)(pos - deq) < 0) {
                pos = atomic_load_explicit(&b->enqueue_pos, memory_order_relaxed);
                continue;
            }
            return false; /* full */
        }
        if (atomic_compare_exchange_weak_explicit(&b->enqueue_pos, &pos, pos + 1,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *pos_out = pos;
            *deq_out = deq;
            return true;
        }
    }
}

/* Publishes the entry of position pos (buffer number buf, or TEL__BATCH_PTR) and wakes the export
 * thread once wake_at records are waiting (rare: not per record). deq is the dequeue position
 * read when pos was taken: when the export thread has taken records since, this over-counts what
 * waits and may wake it a little early, never late. */
static inline void tel__batch_publish_at(tel__batch *b, size_t pos, size_t deq, uint32_t buf)
{
    atomic_store_explicit(&b->ring[pos & b->mask], (uint64_t)(uint32_t)(pos + 1) << 32 | buf,
                          memory_order_release);
    if (TEL_UNLIKELY(pos + 1 - deq >= b->wake_at) &&
        !atomic_load_explicit(&b->wake_pending, memory_order_relaxed))
        tel__batch_wake_full(b);
}

/* Queues the buffer filled since tel__batch_reserve. */
static inline void tel__batch_publish(tel__batch *b, uint32_t buf)
{
    size_t pos, deq;
    if (TEL_UNLIKELY(!tel__batch_take_pos(b, &pos, &deq))) {
        /* Full: records queued by pointer took the entries (buffers alone cannot fill them, see
         * dequeue_pos). */
        tel__batch_reject(b, buf);
        return;
    }
    tel__batch_publish_at(b, pos, deq, buf);
}

/* Queues a record by pointer, without a buffer: the owner keeps it where it is until
 * ops->take_ptr. Returns false when the queue is full (the record is counted as dropped and
 * stays the caller's). Lock-free; never blocks, never allocates. */
static inline bool tel__batch_publish_ptr(tel__batch *b, void *rec)
{
    size_t pos, deq;
    if (TEL_UNLIKELY(!tel__batch_take_pos(b, &pos, &deq))) {
        tel__batch_note_dropped(b);
        return false;
    }
    atomic_store_explicit(&b->ptrs[pos & b->mask], rec, memory_order_relaxed);
    tel__batch_publish_at(b, pos, deq, TEL__BATCH_PTR);
    return true;
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
    uint64_t producer_wakes; /* times a producer woke the export thread (wake_at records waiting) */
    uint64_t looks;          /* times the export thread took what was queued (0 or more records) */
} tel__batch_stats;
void tel__batch_get_stats(tel__batch *b, tel__batch_stats *out);

#endif
