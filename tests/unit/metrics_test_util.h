/* Helpers for the metrics unit tests: a provider with an explicit resource, collection lookups
 * and a recording test exporter. */
#ifndef METRICS_TEST_UTIL_H
#define METRICS_TEST_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"

typedef struct mt_env {
    tel_resource *res;
    tel_meter_provider *p;
    tel_meter *m;
} mt_env;

static inline void mt_init(mt_env *e, uint32_t limit, tel_exemplar_filter filter)
{
    tel_attr a[2] = {TEL_ATTR_STR("service.name", "metrics-test"),
                     TEL_ATTR_STR("service.version", "1.2.3")};
    e->res = tel_resource_create(a, 2);
    tel_meter_provider_config cfg = {0};
    cfg.resource = e->res;
    cfg.cardinality_limit = limit;
    cfg.exemplar_filter = filter;
    cfg.has_exemplar_filter = true;
    e->p = tel_meter_provider_create(&cfg);
    e->m = tel_meter_get(e->p, "test.scope", "0.1");
}

static inline void mt_cleanup(mt_env *e)
{
    tel_meter_provider_destroy(e->p);
    tel_resource_destroy(e->res);
}

static inline const tel_metric *mt_metric(const tel__collection *c, const char *name)
{
    for (size_t i = 0; i < c->n_metrics; i++)
        if (strcmp(c->metrics[i].name, name) == 0)
            return &c->metrics[i];
    return NULL;
}

static inline const tel_attr *mt_attr(const tel_metric_point *p, const char *key)
{
    for (uint32_t i = 0; i < p->n_attrs; i++)
        if (strcmp(p->attrs[i].key, key) == 0)
            return &p->attrs[i];
    return NULL;
}

/* The point whose attribute key is the string value (key NULL: the point without attributes). */
static inline const tel_metric_point *mt_point(const tel_metric *m, const char *key,
                                               const char *value)
{
    if (!m)
        return NULL;
    for (size_t i = 0; i < m->n_points; i++) {
        const tel_metric_point *p = &m->points[i];
        if (!key) {
            if (p->n_attrs == 0)
                return p;
            continue;
        }
        const tel_attr *a = mt_attr(p, key);
        if (a && a->type == TEL_ATTR_STRING && strcmp(a->v.s, value) == 0)
            return p;
    }
    return NULL;
}

/* A metric exporter that counts exports and remembers the last value of one sum metric. */
typedef struct mt_exporter {
    tel_metric_exporter base;
    atomic_int exports, shutdowns, destroyed;
    atomic_int points;
    _Atomic int64_t last_value;
    const char *watch; /* metric name whose first point's int value is kept */
    bool hang;         /* export blocks until shutdown */
    atomic_bool shut;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool heap;
} mt_exporter;

static int mt_export(tel_metric_exporter *self, const tel_resource *res, const tel_metric *ms,
                     size_t n, uint64_t deadline_ns)
{
    (void)res;
    (void)deadline_ns;
    mt_exporter *x = (mt_exporter *)self;
    atomic_fetch_add(&x->exports, 1);
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_add(&x->points, (int)ms[i].n_points);
        if (x->watch && strcmp(ms[i].name, x->watch) == 0 && ms[i].n_points)
            atomic_store(&x->last_value, ms[i].points[0].value.i);
    }
    if (x->hang) {
        pthread_mutex_lock(&x->mu);
        while (!atomic_load(&x->shut))
            pthread_cond_wait(&x->cv, &x->mu);
        pthread_mutex_unlock(&x->mu);
        return TEL_ESHUTDOWN;
    }
    return TEL_OK;
}

static int mt_shutdown(tel_metric_exporter *self)
{
    mt_exporter *x = (mt_exporter *)self;
    atomic_fetch_add(&x->shutdowns, 1);
    pthread_mutex_lock(&x->mu);
    atomic_store(&x->shut, true);
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return TEL_OK;
}

static void mt_destroy(tel_metric_exporter *self)
{
    mt_exporter *x = (mt_exporter *)self;
    atomic_fetch_add(&x->destroyed, 1);
}

static inline void mt_exporter_init(mt_exporter *x, const char *watch, bool hang)
{
    memset(x, 0, sizeof *x);
    x->base.export_metrics = mt_export;
    x->base.shutdown = mt_shutdown;
    x->base.destroy = mt_destroy;
    x->watch = watch;
    x->hang = hang;
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
}

#endif
