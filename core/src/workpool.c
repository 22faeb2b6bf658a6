/* core_workpool (see core/workpool.h): a ring of jobs guarded by one mutex, workers waiting on a
 * condition variable; a second condition variable lets concurrent shutdowns wait for the one
 * that joins the workers. */
#include "core/workpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"

typedef struct wp_job {
    core_workpool_fn fn;
    void *arg;
    tel_span *span; /* borrowed; the worker's current span while fn runs */
} wp_job;

struct core_workpool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv;   /* a job was queued, or stopping was set */
    pthread_cond_t joined_cv; /* joined was set */
    wp_job *ring;
    size_t cap, head, len;
    bool stopping; /* no more submissions; workers leave once the ring is empty */
    bool joining;  /* a shutdown is joining the workers */
    bool joined;   /* the workers have been joined */
    int n_threads; /* started */
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    core_workpool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->len == 0 && !p->stopping)
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (p->len == 0) break; /* stopping and drained */
        wp_job j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        pthread_mutex_unlock(&p->mu);
        tel_span *prev = tel_span_set_current(j.span);
        j.fn(j.arg);
        /* j.span may have ended in fn: restore without touching it */
        tel_span_set_current(prev);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

core_workpool *core_workpool_create(int threads, size_t queue_cap)
{
    if (threads < 1 || threads > CORE_WORKPOOL_MAX_THREADS || queue_cap < 1 ||
        queue_cap > SIZE_MAX / sizeof(wp_job))
        return NULL;
    core_workpool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->ring = calloc(queue_cap, sizeof *p->ring);
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    if (!p->ring || !p->threads) {
        free(p->threads);
        free(p->ring);
        free(p);
        return NULL;
    }
    p->cap = queue_cap;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->joined_cv, NULL);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
            core_workpool_destroy(p); /* joins the n_threads already started */
            return NULL;
        }
        p->n_threads++;
    }
    return p;
}

int core_workpool_submit(core_workpool *p, core_workpool_fn fn, void *arg, tel_span *span)
{
    if (!p || !fn) return CORE_EINVAL;
    int rc = CORE_OK;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        rc = CORE_ESHUTDOWN;
    } else if (p->len == p->cap) {
        rc = CORE_EFULL;
    } else {
        p->ring[(p->head + p->len) % p->cap] = (wp_job){fn, arg, span};
        p->len++;
        pthread_cond_signal(&p->work_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void core_workpool_shutdown(core_workpool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work_cv);
    if (p->joining) {
        /* another call joins (or joined) the workers: wait until it is done */
        while (!p->joined)
            pthread_cond_wait(&p->joined_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    p->joining = true;
    pthread_mutex_unlock(&p->mu);

    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);

    pthread_mutex_lock(&p->mu);
    p->joined = true;
    pthread_cond_broadcast(&p->joined_cv);
    pthread_mutex_unlock(&p->mu);
}

void core_workpool_destroy(core_workpool *p)
{
    if (!p) return;
    core_workpool_shutdown(p);
    pthread_cond_destroy(&p->joined_cv);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->ring);
    free(p);
}
