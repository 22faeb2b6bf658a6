/* A fixed pool of worker threads with a bounded job queue for BMC operations, which must not
 * block the gRPC completion-queue threads (a slow BMC would hold up every call queued there).
 *
 * Thread safety: agt_pool_submit may be called from any thread; create/destroy from one. */
#ifndef AGT_POOL_H
#define AGT_POOL_H

#include <stddef.h>

typedef struct agt_pool agt_pool;

/* A job: runs once on a worker thread with its argument (owned by the job). */
typedef void (*agt_job_fn)(void *arg);

/* Starts `threads` workers (1..64) with room for `queue_cap` waiting jobs (>= 1). NULL on bad
 * arguments or when threads cannot be started. The caller owns the pool: agt_pool_destroy. */
agt_pool *agt_pool_create(int threads, size_t queue_cap);

/* Queues fn(arg). Returns 0, CORE_EFULL when the queue is full or CORE_ESHUTDOWN after
 * agt_pool_destroy began; on failure the job is not run and arg stays the caller's. */
int agt_pool_submit(agt_pool *p, agt_job_fn fn, void *arg);

/* Stops accepting jobs, runs every queued job, joins the workers and frees the pool. NULL
 * allowed. Must not be called from a job. */
void agt_pool_destroy(agt_pool *p);

#endif
