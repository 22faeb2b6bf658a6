/* A fixed pool of worker threads with a bounded job queue, for work that must not run on the
 * HTTP service thread (manager look-ups, agent calls).
 *
 * Thread safety: gw_pool_submit may be called from any thread; create/destroy from one. */
#ifndef GW_POOL_H
#define GW_POOL_H

#include <stddef.h>

typedef struct gw_pool gw_pool;

/* A job: runs once on a worker thread with its argument (owned by the job). */
typedef void (*gw_job_fn)(void *arg);

/* Starts `threads` workers (1..64) with room for `queue_cap` waiting jobs (>= 1). NULL on bad
 * arguments or when threads cannot be started. The caller owns the pool: gw_pool_destroy. */
gw_pool *gw_pool_create(int threads, size_t queue_cap);

/* Queues fn(arg). Returns 0, CORE_EFULL when the queue is full or CORE_ESHUTDOWN after
 * gw_pool_destroy began; on failure the job is not run and arg stays the caller's. */
int gw_pool_submit(gw_pool *p, gw_job_fn fn, void *arg);

/* Stops accepting jobs, runs every queued job, joins the workers and frees the pool. NULL
 * allowed. Must not be called from a job. */
void gw_pool_destroy(gw_pool *p);

#endif
