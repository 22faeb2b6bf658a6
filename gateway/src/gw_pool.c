/* gw_pool: a ring of jobs guarded by one mutex, workers waiting on a condition variable. */
#include "gw_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/error.h"

typedef struct gw_job {
    gw_job_fn fn;
    void *arg;
} gw_job;

struct gw_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gw_job *ring;
    size_t cap, head, len;
    bool stopping;
    int n_threads;
    pthread_t threads[64];
};

static void *worker(void *arg)
{
    gw_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->len == 0 && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->len == 0) break; /* stopping and drained */
        gw_job j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        pthread_mutex_unlock(&p->mu);
        j.fn(j.arg);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

gw_pool *gw_pool_create(int threads, size_t queue_cap)
{
    if (threads < 1 || threads > 64 || queue_cap < 1) return NULL;
    gw_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->ring = calloc(queue_cap, sizeof *p->ring);
    if (!p->ring) {
        free(p);
        return NULL;
    }
    p->cap = queue_cap;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            gw_pool_destroy(p);
            return NULL;
        }
        p->n_threads++;
    }
    return p;
}

int gw_pool_submit(gw_pool *p, gw_job_fn fn, void *arg)
{
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        return CORE_ESHUTDOWN;
    }
    if (p->len == p->cap) {
        pthread_mutex_unlock(&p->mu);
        return CORE_EFULL;
    }
    p->ring[(p->head + p->len) % p->cap] = (gw_job){fn, arg};
    p->len++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return CORE_OK;
}

void gw_pool_destroy(gw_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->ring);
    free(p);
}
