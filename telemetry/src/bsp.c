/* Batch span processor: a bounded lock-free MPSC queue of span records (Vyukov's bounded queue;
 * producers reserve a cell with one CAS and publish it with a release store) and one export
 * thread. Application threads never block and never allocate here: a full queue drops the span
 * and counts it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/env.h"
#include "trace_internal.h"

typedef struct cell {
    _Alignas(64) atomic_size_t seq;
    tel_span_data d;
} cell;

typedef struct bsp {
    tel_span_processor base;
    tel_span_exporter *exporter;
    tel_bsp_config cfg;

    cell *cells;
    size_t mask;
    _Alignas(64) atomic_size_t enqueue_pos;
    _Alignas(64) atomic_size_t dequeue_pos; /* written by the export thread only */
    _Alignas(64) atomic_uint_fast64_t dropped;
    atomic_bool wake_pending;
    atomic_uint_fast64_t last_warn_ns;
    uint64_t warned_dropped;

    /* Export thread state, guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* to the export thread */
    pthread_cond_t done;      /* from the export thread */
    uint64_t flush_requested; /* generation asked for */
    uint64_t flush_done;      /* generation completed */
    bool stopping;
    bool exited;
    bool thread_started;
    pthread_t thread;
    atomic_uint_fast64_t exported;
    atomic_uint_fast64_t export_failed;

    tel_span_data *batch;         /* max_export_batch_size records */
    const tel_span_data **batch_ptrs;

    struct bsp *next_all; /* registry for fork handling */
} bsp;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static bsp *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

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

static size_t queued(bsp *b)
{
    size_t e = atomic_load_explicit(&b->enqueue_pos, memory_order_relaxed);
    size_t d = atomic_load_explicit(&b->dequeue_pos, memory_order_relaxed);
    return e > d ? e - d : 0;
}

static void warn_dropped(bsp *b)
{
    uint64_t now = tel_mono_ns();
    uint64_t last = atomic_load_explicit(&b->last_warn_ns, memory_order_relaxed);
    if (last != 0 && now - last < 10ull * 1000000000ull)
        return;
    if (!atomic_compare_exchange_strong(&b->last_warn_ns, &last, now))
        return;
    fprintf(stderr,
            "{\"level\":\"warn\",\"message\":\"span queue full, spans dropped\","
            "\"dropped_total\":%llu,\"queue_size\":%u}\n",
            (unsigned long long)atomic_load(&b->dropped), b->cfg.max_queue_size);
}

static void bsp_on_end(tel_span_processor *self, tel_span_data *rec)
{
    bsp *b = (bsp *)self;
    size_t pos = atomic_load_explicit(&b->enqueue_pos, memory_order_relaxed);
    cell *c;
    for (;;) {
        c = &b->cells[pos & b->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&b->enqueue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (diff < 0) {
            atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
            warn_dropped(b);
            return; /* the caller releases rec */
        } else {
            pos = atomic_load_explicit(&b->enqueue_pos, memory_order_relaxed);
        }
    }
    /* The next producer will write the next cell: start pulling its lines in for writing. */
    const char *next = (const char *)&b->cells[(pos + 1) & b->mask];
    __builtin_prefetch(next, 1, 3);
    __builtin_prefetch(next + 64, 1, 3);
    __builtin_prefetch(next + 128, 1, 3);
    __builtin_prefetch(next + 192, 1, 3);
    tel_span_data_move(&c->d, rec);
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    /* Wake the exporter once a full batch is waiting (rare: not per span). */
    if (TEL_UNLIKELY(pos + 1 - atomic_load_explicit(&b->dequeue_pos, memory_order_relaxed) >=
                     b->cfg.max_export_batch_size) &&
        !atomic_load_explicit(&b->wake_pending, memory_order_relaxed) &&
        !atomic_exchange(&b->wake_pending, true)) {
        pthread_mutex_lock(&b->lock);
        pthread_cond_signal(&b->wake);
        pthread_mutex_unlock(&b->lock);
    }
}

/* Moves up to max ready records into the batch buffer. Export thread only. */
static size_t drain(bsp *b, size_t max)
{
    size_t n = 0;
    size_t pos = atomic_load_explicit(&b->dequeue_pos, memory_order_relaxed);
    while (n < max) {
        cell *c = &b->cells[pos & b->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        if ((intptr_t)seq - (intptr_t)(pos + 1) < 0)
            break; /* empty, or a producer has not published yet */
        tel_span_data_move(&b->batch[n], &c->d);
        tel__span_data_dedupe(&b->batch[n]);
        b->batch_ptrs[n] = &b->batch[n];
        n++;
        atomic_store_explicit(&c->seq, pos + b->mask + 1, memory_order_release);
        pos++;
    }
    /* Published once per batch: producers read it, and a per-cell store would bounce its cache
     * line between the cores on every span. */
    atomic_store_explicit(&b->dequeue_pos, pos, memory_order_relaxed);
    return n;
}

static void export_batch(bsp *b, size_t n)
{
    uint64_t deadline = tel_mono_ns() + (uint64_t)b->cfg.export_timeout_ms * 1000000u;
    int rc = b->exporter->export_spans(b->exporter, b->base.resource, b->batch_ptrs, n, deadline);
    if (rc == TEL_OK)
        atomic_fetch_add_explicit(&b->exported, n, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&b->export_failed, n, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        tel_span_data_release(&b->batch[i]);
}

static void timespec_after_ms(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)((ms % 1000) * 1000000);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *export_thread(void *arg)
{
    bsp *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        uint64_t flush_target = b->flush_requested;
        bool stopping = b->stopping;
        if (!stopping && flush_target == b->flush_done &&
            queued(b) < b->cfg.max_export_batch_size) {
            struct timespec ts;
            timespec_after_ms(&ts, b->cfg.schedule_delay_ms);
            while (!b->stopping && b->flush_requested == b->flush_done &&
                   !atomic_load(&b->wake_pending)) {
                if (pthread_cond_timedwait(&b->wake, &b->lock, &ts) == ETIMEDOUT)
                    break;
            }
            flush_target = b->flush_requested;
            stopping = b->stopping;
        }
        atomic_store(&b->wake_pending, false);
        pthread_mutex_unlock(&b->lock);

        /* Export everything queued now (a scheduled run, a full batch, a flush or shutdown). */
        size_t n;
        while ((n = drain(b, b->cfg.max_export_batch_size)) > 0) {
            export_batch(b, n);
            if (!stopping && flush_target == b->flush_done &&
                queued(b) < b->cfg.max_export_batch_size)
                break;
        }
        if (flush_target != b->flush_done && b->exporter->force_flush)
            b->exporter->force_flush(b->exporter, b->cfg.export_timeout_ms);

        pthread_mutex_lock(&b->lock);
        if (flush_target != b->flush_done) {
            b->flush_done = flush_target;
            pthread_cond_broadcast(&b->done);
        }
        if (stopping && queued(b) == 0)
            break;
    }
    b->exited = true;
    pthread_cond_broadcast(&b->done);
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static int start_thread(bsp *b)
{
    b->exited = false;
    int rc = pthread_create(&b->thread, NULL, export_thread, b);
    b->thread_started = rc == 0;
    return rc == 0 ? TEL_OK : TEL_ENOMEM;
}

static int wait_done(bsp *b, const struct timespec *deadline, bool (*pred)(bsp *, uint64_t),
                     uint64_t arg)
{
    while (!pred(b, arg)) {
        if (pthread_cond_timedwait(&b->done, &b->lock, deadline) == ETIMEDOUT)
            return pred(b, arg) ? TEL_OK : TEL_ETIMEDOUT;
    }
    return TEL_OK;
}

static bool flushed(bsp *b, uint64_t gen)
{
    return b->flush_done >= gen || b->exited;
}

static bool exited(bsp *b, uint64_t unused)
{
    (void)unused;
    return b->exited;
}

static int bsp_force_flush(tel_span_processor *self, int64_t timeout_ms)
{
    bsp *b = (bsp *)self;
    struct timespec dl;
    timespec_after_ms(&dl, timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
    pthread_mutex_lock(&b->lock);
    if (b->exited || !b->thread_started) {
        pthread_mutex_unlock(&b->lock);
        return TEL_ESHUTDOWN;
    }
    uint64_t gen = ++b->flush_requested;
    pthread_cond_signal(&b->wake);
    int rc = wait_done(b, &dl, flushed, gen);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int bsp_shutdown(tel_span_processor *self, int64_t timeout_ms)
{
    bsp *b = (bsp *)self;
    uint64_t total = timeout_ms > 0 ? (uint64_t)timeout_ms : 0;
    struct timespec soft, hard;
    /* Let the thread drain for most of the bound, then abort the exporter's in-flight work. */
    timespec_after_ms(&soft, total - total / 5);
    timespec_after_ms(&hard, total);
    pthread_mutex_lock(&b->lock);
    if (!b->thread_started) {
        pthread_mutex_unlock(&b->lock);
        return TEL_OK;
    }
    b->stopping = true;
    pthread_cond_signal(&b->wake);
    int rc = wait_done(b, &soft, exited, 0);
    pthread_mutex_unlock(&b->lock);
    if (rc != TEL_OK) {
        b->exporter->shutdown(b->exporter);
        pthread_mutex_lock(&b->lock);
        rc = wait_done(b, &hard, exited, 0);
        pthread_mutex_unlock(&b->lock);
    }
    if (rc == TEL_OK) {
        pthread_join(b->thread, NULL);
        b->exporter->shutdown(b->exporter);
    } else {
        /* The exporter ignored the abort: leave the thread behind rather than hang. */
        pthread_detach(b->thread);
        fprintf(stderr, "{\"level\":\"error\",\"message\":\"span exporter did not stop within "
                        "the shutdown timeout\"}\n");
    }
    pthread_mutex_lock(&b->lock);
    b->thread_started = false;
    pthread_mutex_unlock(&b->lock);
    /* Whatever is still queued can no longer be exported. */
    if (rc == TEL_OK) {
        size_t n;
        while ((n = drain(b, b->cfg.max_export_batch_size)) > 0) {
            atomic_fetch_add(&b->export_failed, n);
            for (size_t i = 0; i < n; i++)
                tel_span_data_release(&b->batch[i]);
        }
    }
    return rc;
}

static void bsp_destroy(tel_span_processor *self)
{
    bsp *b = (bsp *)self;
    pthread_mutex_lock(&registry_lock);
    for (bsp **pp = &registry; *pp; pp = &(*pp)->next_all) {
        if (*pp == b) {
            *pp = b->next_all;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (b->thread_started)
        bsp_shutdown(self, b->cfg.export_timeout_ms);
    if (!b->thread_started || b->exited) {
        size_t n;
        while ((n = drain(b, b->cfg.max_export_batch_size)) > 0)
            for (size_t i = 0; i < n; i++)
                tel_span_data_release(&b->batch[i]);
        b->exporter->destroy(b->exporter);
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->wake);
        pthread_cond_destroy(&b->done);
        free(b->cells);
        free(b->batch);
        free(b->batch_ptrs);
        free(b);
    }
    /* else: a detached thread still uses b; it is leaked deliberately. */
}

void tel_bsp_get_stats(tel_span_processor *self, tel_bsp_stats *out)
{
    bsp *b = (bsp *)self;
    uint64_t dropped = atomic_load(&b->dropped);
    out->dropped_queue_full = dropped;
    out->ended = (uint64_t)atomic_load(&b->enqueue_pos) + dropped;
    out->exported = atomic_load(&b->exported);
    out->export_failed = atomic_load(&b->export_failed);
}

/* The lock and the two condition variables (waits use CLOCK_MONOTONIC deadlines). */
static void init_sync(bsp *b)
{
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->wake, &ca);
    pthread_cond_init(&b->done, &ca);
    pthread_condattr_destroy(&ca);
}

/* fork(): the parent's export thread does not exist in the child. Hold every processor's lock
 * across fork so the state is consistent, then give the child an empty queue and a new thread. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    for (bsp *b = registry; b; b = b->next_all)
        pthread_mutex_lock(&b->lock);
}

static void atfork_parent(void)
{
    for (bsp *b = registry; b; b = b->next_all)
        pthread_mutex_unlock(&b->lock);
    pthread_mutex_unlock(&registry_lock);
}

static void atfork_child(void)
{
    for (bsp *b = registry; b; b = b->next_all) {
        init_sync(b);
        /* Empty queue: every cell free again, counters from zero. Records half-moved by threads
         * that do not exist here are abandoned (their extra blocks leak in the child only). */
        for (size_t i = 0; i <= b->mask; i++) {
            size_t seq = atomic_load(&b->cells[i].seq);
            if ((seq & b->mask) == ((i + 1) & b->mask) && seq != i)
                tel_span_data_release(&b->cells[i].d);
            atomic_store(&b->cells[i].seq, i);
        }
        atomic_store(&b->enqueue_pos, 0);
        atomic_store(&b->dequeue_pos, 0);
        atomic_store(&b->dropped, 0);
        atomic_store(&b->exported, 0);
        atomic_store(&b->export_failed, 0);
        atomic_store(&b->wake_pending, false);
        b->flush_requested = b->flush_done = 0;
        if (b->thread_started && !b->stopping)
            start_thread(b);
    }
    pthread_mutex_init(&registry_lock, NULL);
}

static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
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
    if (cfg)
        b->cfg = *cfg;
    else
        tel_bsp_config_from_env(&b->cfg);
    if (b->cfg.max_queue_size == 0)
        b->cfg.max_queue_size = 1;
    if (b->cfg.max_export_batch_size == 0 || b->cfg.max_export_batch_size > b->cfg.max_queue_size)
        b->cfg.max_export_batch_size = b->cfg.max_queue_size;
    size_t cap = 1;
    while (cap < b->cfg.max_queue_size)
        cap <<= 1;
    b->mask = cap - 1;
    b->cells = aligned_alloc(64, cap * sizeof *b->cells);
    if (b->cells)
        memset(b->cells, 0, cap * sizeof *b->cells);
    b->batch = calloc(b->cfg.max_export_batch_size, sizeof *b->batch);
    b->batch_ptrs = calloc(b->cfg.max_export_batch_size, sizeof *b->batch_ptrs);
    if (!b->cells || !b->batch || !b->batch_ptrs) {
        free(b->cells);
        free(b->batch);
        free(b->batch_ptrs);
        free(b);
        exporter->destroy(exporter);
        return NULL;
    }
    for (size_t i = 0; i < cap; i++)
        atomic_init(&b->cells[i].seq, i);
    b->exporter = exporter;
    b->base.on_end = bsp_on_end;
    b->base.force_flush = bsp_force_flush;
    b->base.shutdown = bsp_shutdown;
    b->base.destroy = bsp_destroy;
    init_sync(b);
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&registry_lock);
    b->next_all = registry;
    registry = b;
    pthread_mutex_unlock(&registry_lock);
    if (start_thread(b) != TEL_OK) {
        bsp_destroy(&b->base);
        return NULL;
    }
    return &b->base;
}
