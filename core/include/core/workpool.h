/* A fixed pool of worker threads with a bounded FIFO job queue, for work that must not run on
 * a service thread: password hashing in the manager (off the HTTP service thread), manager
 * look-ups and agent calls in the gateway (likewise), BMC operations in the agent (off the gRPC
 * completion-queue threads, which a slow BMC would otherwise hold up).
 *
 * Queue: at most queue_cap jobs wait for a worker (jobs already running do not count). When it
 * is full, core_workpool_submit refuses the job at once with CORE_EFULL: it never blocks and
 * never drops a queued job, so the caller answers "busy" (HTTP 503, gRPC RESOURCE_EXHAUSTED)
 * itself. Jobs start in submission order; with more than one worker they may finish in any
 * order.
 *
 * Trace context: a job may carry a span that is the worker thread's current span
 * (tel_span_set_current, for log correlation) while the job runs; the worker's previous current
 * span is restored after the job returns. The pool never reads the span after the job has
 * returned, so the job may end it (for example by answering the request it belongs to).
 *
 * Shutdown drains: core_workpool_shutdown (and core_workpool_destroy) stops accepting jobs
 * (core_workpool_submit then returns CORE_ESHUTDOWN), lets the workers run every job already
 * queued, then joins them. No queued job is ever dropped, so a job that owns a request always
 * gets to answer it. A job that must not start late checks that itself (the request was
 * cancelled, its deadline passed) and finishes the request accordingly.
 *
 * Errors: functions return 0 (CORE_OK) or a negative CORE_E* code (core/error.h); the
 * constructor returns NULL.
 *
 * Thread safety: core_workpool_submit and core_workpool_shutdown may be called from any thread
 * at once, jobs included (a job may submit further jobs). core_workpool_destroy must be called
 * once, by the owner, when no other thread can still use the pool. Neither
 * core_workpool_shutdown nor core_workpool_destroy may be called from one of the pool's own jobs
 * (the worker would wait for itself). Nothing here logs. */
#ifndef CORE_WORKPOOL_H
#define CORE_WORKPOOL_H

#include <stddef.h>

#include "telemetry/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most worker threads of one pool. */
#define CORE_WORKPOOL_MAX_THREADS 64

typedef struct core_workpool core_workpool;

/* A job: called once, on a worker thread, with the argument given to core_workpool_submit.
 * From that call on the job owns arg (it frees it). */
typedef void (*core_workpool_fn)(void *arg);

/* Starts `threads` workers (1..CORE_WORKPOOL_MAX_THREADS) with room for `queue_cap` (>= 1)
 * waiting jobs. Returns the pool, which the caller owns (core_workpool_destroy), or NULL on a
 * bad argument, when memory is short or when a thread cannot be started (the threads already
 * started are then stopped: no partial pool is returned). */
core_workpool *core_workpool_create(int threads, size_t queue_cap);

/* Queues fn(arg). `span` (may be NULL: no current span) becomes the worker's current span while
 * fn runs; it is borrowed and must stay valid until fn has started (the pool only passes it to
 * tel_span_set_current before calling fn).
 * Returns:
 *   CORE_OK         queued: fn will run exactly once, and owns arg from then on
 *   CORE_EFULL      queue_cap jobs are already waiting (the call does not block)
 *   CORE_ESHUTDOWN  core_workpool_shutdown (or destroy) has begun
 *   CORE_EINVAL     p or fn is NULL
 * On any failure fn is never called and arg stays the caller's. Thread safe (see above). */
int core_workpool_submit(core_workpool *p, core_workpool_fn fn, void *arg, tel_span *span);

/* Stops accepting jobs, waits until every job queued before it has run (the queue drains: no
 * job is dropped), and joins the workers. Idempotent: a later or concurrent call also returns
 * only once the workers have been joined. NULL allowed. Thread safe, but must not be called from
 * one of the pool's jobs. The pool stays allocated (submit keeps answering CORE_ESHUTDOWN) until
 * core_workpool_destroy. */
void core_workpool_shutdown(core_workpool *p);

/* core_workpool_shutdown if it has not run yet (so queued jobs still run), then frees the pool.
 * NULL allowed. No other thread may use p during or after the call; must not be called from
 * one of the pool's jobs. */
void core_workpool_destroy(core_workpool *p);

#ifdef __cplusplus
}
#endif
#endif
