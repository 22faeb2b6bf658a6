/* Periodic metric reader: one thread per reader collects every interval and exports with a
 * deadline; force_flush asks for a collection now; shutdown makes a final collection and export
 * and is bounded (past its budget the exporter is shut down, which ends an in-flight export). */
#include <errno.h>
#include <stdlib.h>

#include "metrics_internal.h"
#include "telemetry/env.h"

typedef struct tel__reader {
    tel_meter_provider *p;
    tel_metric_exporter *exp;
    uint32_t interval_ms, timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* to the thread */
    pthread_cond_t done; /* from the thread */
    uint64_t flush_req, flush_done;
    int last_rc;
    uint64_t final_deadline_ns; /* 0: now + timeout_ms */
    bool stopping, exited, started, joined, exporter_shut;
    pthread_t thread;
} tel__reader;

static void ns_to_ts(uint64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}

static int collect_export(tel__reader *r, uint64_t deadline)
{
    tel__collection c;
    int rc = tel__collect(r->p, &c);
    if (rc != TEL_OK)
        return rc;
    if (c.n_metrics)
        rc = r->exp->export_metrics(r->exp, r->p->resource, c.metrics, c.n_metrics, deadline);
    tel__collection_free(&c);
    return rc;
}

static void *reader_main(void *arg)
{
    tel__reader *r = arg;
    uint64_t interval = (uint64_t)r->interval_ms * 1000000u;
    pthread_mutex_lock(&r->lock);
    uint64_t next = tel_mono_ns() + interval;
    for (;;) {
        while (!r->stopping && r->flush_req == r->flush_done && tel_mono_ns() < next) {
            struct timespec ts;
            ns_to_ts(next, &ts);
            pthread_cond_timedwait(&r->wake, &r->lock, &ts);
        }
        if (r->stopping)
            break;
        uint64_t gen = r->flush_req;
        uint64_t now = tel_mono_ns();
        if (now >= next)
            next = now + interval;
        pthread_mutex_unlock(&r->lock);
        int rc = collect_export(r, now + (uint64_t)r->timeout_ms * 1000000u);
        pthread_mutex_lock(&r->lock);
        r->last_rc = rc;
        r->flush_done = gen;
        pthread_cond_broadcast(&r->done);
    }
    uint64_t gen = r->flush_req;
    uint64_t deadline = tel_mono_ns() + (uint64_t)r->timeout_ms * 1000000u;
    if (r->final_deadline_ns && r->final_deadline_ns < deadline)
        deadline = r->final_deadline_ns;
    pthread_mutex_unlock(&r->lock);
    int rc = collect_export(r, deadline);
    pthread_mutex_lock(&r->lock);
    r->last_rc = rc;
    r->flush_done = gen;
    r->exited = true;
    pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void init_sync(tel__reader *r)
{
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &ca);
    pthread_cond_init(&r->done, &ca);
    pthread_condattr_destroy(&ca);
}

int tel__reader_create(tel_meter_provider *p, tel_metric_exporter *exp, uint32_t interval_ms,
                       uint32_t timeout_ms, struct tel__reader **out)
{
    tel__reader *r = calloc(1, sizeof *r);
    if (!r) {
        exp->shutdown(exp);
        exp->destroy(exp);
        return TEL_ENOMEM;
    }
    r->p = p;
    r->exp = exp;
    r->interval_ms = interval_ms ? interval_ms
                                 : (uint32_t)tel_env_int("OTEL_METRIC_EXPORT_INTERVAL", 60000, 1,
                                                         INT32_MAX);
    r->timeout_ms = timeout_ms ? timeout_ms
                               : (uint32_t)tel_env_int("OTEL_METRIC_EXPORT_TIMEOUT", 30000, 1,
                                                       INT32_MAX);
    init_sync(r);
    if (pthread_create(&r->thread, NULL, reader_main, r) != 0) {
        exp->shutdown(exp);
        exp->destroy(exp);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->wake);
        pthread_cond_destroy(&r->done);
        free(r);
        return TEL_ENOMEM;
    }
    r->started = true;
    *out = r;
    return TEL_OK;
}

int tel__reader_force_flush(tel__reader *r, int64_t timeout_ms)
{
    uint64_t deadline = tel_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
    pthread_mutex_lock(&r->lock);
    if (r->stopping || r->exited) {
        pthread_mutex_unlock(&r->lock);
        return TEL_ESHUTDOWN;
    }
    uint64_t gen = ++r->flush_req;
    pthread_cond_signal(&r->wake);
    int rc = TEL_OK;
    while (r->flush_done < gen && !r->exited) {
        struct timespec ts;
        ns_to_ts(deadline, &ts);
        if (pthread_cond_timedwait(&r->done, &r->lock, &ts) == ETIMEDOUT &&
            r->flush_done < gen && !r->exited) {
            rc = TEL_ETIMEDOUT;
            break;
        }
    }
    if (rc == TEL_OK)
        rc = r->last_rc;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int tel__reader_shutdown(tel__reader *r, int64_t timeout_ms)
{
    pthread_mutex_lock(&r->lock);
    if (r->joined) {
        pthread_mutex_unlock(&r->lock);
        return TEL_OK;
    }
    uint64_t budget = timeout_ms < 0 ? (uint64_t)r->timeout_ms + 1000u : (uint64_t)timeout_ms;
    uint64_t deadline = tel_mono_ns() + budget * 1000000u;
    r->stopping = true;
    r->final_deadline_ns = deadline;
    pthread_cond_signal(&r->wake);
    while (!r->exited) {
        struct timespec ts;
        ns_to_ts(deadline, &ts);
        if (pthread_cond_timedwait(&r->done, &r->lock, &ts) == ETIMEDOUT)
            break;
    }
    bool exited = r->exited;
    int rc = exited ? r->last_rc : TEL_ETIMEDOUT;
    pthread_mutex_unlock(&r->lock);
    /* Past the budget: shutting the exporter down makes the in-flight export return. */
    r->exp->shutdown(r->exp);
    r->exporter_shut = true;
    pthread_join(r->thread, NULL);
    pthread_mutex_lock(&r->lock);
    r->joined = true;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void tel__reader_destroy(tel__reader *r)
{
    if (!r)
        return;
    if (!r->joined)
        tel__reader_shutdown(r, -1);
    r->exp->destroy(r->exp);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->done);
    free(r);
}

void tel__readers_atfork_prepare(tel_meter_provider *p)
{
    for (int i = 0; i < p->n_readers; i++)
        pthread_mutex_lock(&p->readers[i]->lock);
}

void tel__readers_atfork_parent(tel_meter_provider *p)
{
    for (int i = 0; i < p->n_readers; i++)
        pthread_mutex_unlock(&p->readers[i]->lock);
}

void tel__readers_atfork_child(tel_meter_provider *p)
{
    for (int i = 0; i < p->n_readers; i++) {
        tel__reader *r = p->readers[i];
        init_sync(r);
        r->flush_req = r->flush_done = 0;
        r->last_rc = TEL_OK;
        if (r->started && !r->stopping && !r->exited &&
            pthread_create(&r->thread, NULL, reader_main, r) != 0) {
            r->exited = true;
            r->joined = true; /* no thread to wait for */
        }
    }
}
