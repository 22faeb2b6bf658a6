/* A fixed pool of worker threads with a bounded job queue (password hashing off the HTTP
 * service thread). */
#include <pthread.h>
#include <stdlib.h>

#include "core/error.h"
#include "mgr.h"

typedef struct pool_job {
    void (*fn)(void *job);
    void *job;
} pool_job;

struct mgr_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pool_job *ring;
    size_t cap, head, count;
    bool stopping, stopped;
    int n_threads;
    pthread_t threads[16];
};

static void *worker(void *arg)
{
    mgr_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->count == 0 && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->count == 0) break; /* stopping and drained */
        pool_job j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        pthread_mutex_unlock(&p->mu);
        j.fn(j.job);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

mgr_pool *mgr_pool_create(int threads, size_t cap)
{
    if (threads < 1 || threads > 16 || cap == 0) return NULL;
    mgr_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->ring = calloc(cap, sizeof *p->ring);
    if (!p->ring) {
        free(p);
        return NULL;
    }
    p->cap = cap;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) break;
        p->n_threads++;
    }
    if (p->n_threads == 0) {
        mgr_pool_destroy(p);
        return NULL;
    }
    return p;
}

int mgr_pool_submit(mgr_pool *p, void (*fn)(void *job), void *job)
{
    if (!p || !fn) return CORE_EINVAL;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    if (p->stopping)
        rc = CORE_ESHUTDOWN;
    else if (p->count == p->cap)
        rc = CORE_EFULL;
    else {
        p->ring[(p->head + p->count) % p->cap] = (pool_job){fn, job};
        p->count++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void mgr_pool_stop(mgr_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    bool join = !p->stopped;
    p->stopping = true;
    p->stopped = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (join)
        for (int i = 0; i < p->n_threads; i++)
            pthread_join(p->threads[i], NULL);
}

void mgr_pool_destroy(mgr_pool *p)
{
    if (!p) return;
    mgr_pool_stop(p);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ring);
    free(p);
}
