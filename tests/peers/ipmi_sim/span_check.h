/* Span capture and inspection for the IPMI/SOL integration tests.
 *
 * sc_store is a span exporter that keeps its own deep copy of every exported span (name, kind,
 * ids, status, attributes, events). The tests use it instead of the telemetry memory exporter,
 * whose copies (tel__span_data_clone) keep pointers into the processor's reused record for
 * strings that lived in the span's inline arena, so a string attribute or status message read
 * after the next span ended shows that span's bytes. */
#ifndef IPMISIM_SPAN_CHECK_H
#define IPMISIM_SPAN_CHECK_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/processor.h"
#include "telemetry/trace.h"

typedef struct sc_attr {
    char *key;
    uint8_t type; /* TEL_ATTR_*; arrays are stored as a '\n'-joined string of their elements */
    char *s;
    size_t len;
    int64_t i;
    double d;
    bool b;
} sc_attr;

typedef struct sc_event {
    char *name;
    uint64_t time_ns;
    sc_attr *attrs;
    size_t n_attrs;
} sc_event;

typedef struct sc_span {
    char *name;
    uint8_t kind, status;
    char *status_msg;
    uint8_t span_id[TEL_SPAN_ID_SIZE], parent_span_id[TEL_SPAN_ID_SIZE];
    uint8_t trace_id[TEL_TRACE_ID_SIZE];
    bool has_parent;
    uint64_t start_ns, end_ns;
    sc_attr *attrs;
    size_t n_attrs;
    sc_event *events;
    size_t n_events;
} sc_span;

typedef struct sc_store {
    tel_span_exporter base;
    pthread_mutex_t mu;
    sc_span *spans;
    size_t n, cap;
} sc_store;

static inline char *sc_dup(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

static inline void sc_copy_attr(sc_attr *o, const tel_attr *a)
{
    memset(o, 0, sizeof *o);
    o->key = sc_dup(a->key, strlen(a->key));
    o->type = a->type;
    switch (a->type) {
    case TEL_ATTR_STRING:
        o->s = sc_dup(a->v.s, a->len);
        o->len = a->len;
        break;
    case TEL_ATTR_INT: o->i = a->v.i; break;
    case TEL_ATTR_DOUBLE: o->d = a->v.d; break;
    case TEL_ATTR_BOOL: o->b = a->v.b; break;
    default: {
        /* arrays: keep a printable form for secret scanning */
        char buf[1024];
        size_t len = 0;
        for (uint32_t k = 0; k < a->len && len < sizeof buf - 64; k++) {
            tel_attr el = tel_attr_array_element(a, k);
            if (el.type == TEL_ATTR_STRING)
                len += (size_t)snprintf(buf + len, sizeof buf - len, "%.*s\n", (int)el.len, el.v.s);
            else if (el.type == TEL_ATTR_INT)
                len += (size_t)snprintf(buf + len, sizeof buf - len, "%lld\n", (long long)el.v.i);
        }
        o->s = sc_dup(buf, len);
        o->len = len;
        break;
    }
    }
}

static inline void sc_free_attrs(sc_attr *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].key);
        free(a[i].s);
    }
    free(a);
}

static inline void sc_free_span(sc_span *s)
{
    free(s->name);
    free(s->status_msg);
    sc_free_attrs(s->attrs, s->n_attrs);
    for (size_t i = 0; i < s->n_events; i++) {
        free(s->events[i].name);
        sc_free_attrs(s->events[i].attrs, s->events[i].n_attrs);
    }
    free(s->events);
}

static inline int sc_export(tel_span_exporter *self, const tel_resource *res,
                            const tel_span_data *const *spans, size_t n, uint64_t deadline_ns)
{
    (void)res;
    (void)deadline_ns;
    sc_store *st = (sc_store *)self;
    pthread_mutex_lock(&st->mu);
    for (size_t k = 0; k < n; k++) {
        const tel_span_data *d = spans[k];
        if (st->n == st->cap) {
            size_t cap = st->cap ? st->cap * 2 : 256;
            sc_span *p = realloc(st->spans, cap * sizeof *p);
            if (!p)
                break;
            st->spans = p;
            st->cap = cap;
        }
        sc_span *s = &st->spans[st->n++];
        memset(s, 0, sizeof *s);
        s->name = sc_dup(d->name, strlen(d->name));
        s->kind = d->kind;
        s->status = d->status;
        if (d->status_msg)
            s->status_msg = sc_dup(d->status_msg, strlen(d->status_msg));
        memcpy(s->span_id, d->sc.span_id, sizeof s->span_id);
        memcpy(s->trace_id, d->sc.trace_id, sizeof s->trace_id);
        memcpy(s->parent_span_id, d->parent_span_id, sizeof s->parent_span_id);
        s->has_parent = d->has_parent;
        s->start_ns = d->start_ns;
        s->end_ns = d->end_ns;
        s->n_attrs = tel_span_data_attr_count(d);
        s->attrs = calloc(s->n_attrs ? s->n_attrs : 1, sizeof *s->attrs);
        for (uint32_t i = 0; i < s->n_attrs; i++)
            sc_copy_attr(&s->attrs[i], tel_span_data_attr(d, i));
        s->n_events = tel_span_data_event_count(d);
        s->events = calloc(s->n_events ? s->n_events : 1, sizeof *s->events);
        for (uint32_t i = 0; i < s->n_events; i++) {
            const tel_event *e = &d->extra->events[i];
            s->events[i].name = sc_dup(e->name, strlen(e->name));
            s->events[i].time_ns = e->time_ns;
            s->events[i].n_attrs = e->n_attrs;
            s->events[i].attrs = calloc(e->n_attrs ? e->n_attrs : 1, sizeof(sc_attr));
            for (uint32_t j = 0; j < e->n_attrs; j++)
                sc_copy_attr(&s->events[i].attrs[j], &e->attrs[j]);
        }
    }
    pthread_mutex_unlock(&st->mu);
    return TEL_OK;
}

static inline int sc_shutdown(tel_span_exporter *self)
{
    (void)self;
    return TEL_OK;
}

/* Frees the stored spans (the store itself is freed by sc_destroy, called by the processor). */
static inline void sc_reset(sc_store *st)
{
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->n; i++)
        sc_free_span(&st->spans[i]);
    st->n = 0;
    pthread_mutex_unlock(&st->mu);
}

static inline void sc_destroy(tel_span_exporter *self)
{
    sc_store *st = (sc_store *)self;
    sc_reset(st);
    free(st->spans);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* A tracing setup for tests: provider (always on) -> simple processor -> sc_store. */
typedef struct sc_tracing {
    tel_tracer_provider *provider;
    tel_tracer *tracer;
    sc_store *store;
} sc_tracing;

static inline void sc_tracing_init(sc_tracing *t)
{
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "bmc-agent-test");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, TEL_SAMPLER_ALWAYS_ON, 0);
    cfg.has_limits = true;
    cfg.limits = (tel_span_limits){128, 0, 128, 128, 128, 128};
    t->provider = tel_tracer_provider_create(&cfg);
    t->store = calloc(1, sizeof *t->store);
    t->store->base.export_spans = sc_export;
    t->store->base.shutdown = sc_shutdown;
    t->store->base.destroy = sc_destroy;
    pthread_mutex_init(&t->store->mu, NULL);
    tel_tracer_provider_add_processor(t->provider,
                                      tel_simple_processor_create(&t->store->base, 1000));
    t->tracer = tel_tracer_get(t->provider, "bmc-agent-test", "1.0");
}

static inline void sc_tracing_cleanup(sc_tracing *t)
{
    tel_tracer_provider_destroy(t->provider);
}

/* ---- queries (read while no span is being exported) ---- */

static inline const sc_attr *sc_attr_of(const sc_span *d, const char *key)
{
    for (size_t i = 0; d && i < d->n_attrs; i++)
        if (strcmp(d->attrs[i].key, key) == 0)
            return &d->attrs[i];
    return NULL;
}

static inline int64_t sc_int(const sc_span *d, const char *key, int64_t fallback)
{
    const sc_attr *a = sc_attr_of(d, key);
    return a && a->type == TEL_ATTR_INT ? a->i : fallback;
}

static inline int sc_bool(const sc_span *d, const char *key)
{
    const sc_attr *a = sc_attr_of(d, key);
    return a && a->type == TEL_ATTR_BOOL ? (int)a->b : -1;
}

static inline bool sc_str_is(const sc_span *d, const char *key, const char *want)
{
    const sc_attr *a = sc_attr_of(d, key);
    return a && a->type == TEL_ATTR_STRING && strcmp(a->s, want) == 0;
}

static inline size_t sc_count(sc_store *st, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->spans[i].name, name) == 0)
            n++;
    return n;
}

/* The k-th (0-based) span named name in export (end) order, or NULL. */
static inline const sc_span *sc_nth(sc_store *st, const char *name, size_t k)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->spans[i].name, name) == 0 && k-- == 0)
            return &st->spans[i];
    return NULL;
}

static inline const sc_span *sc_last(sc_store *st, const char *name)
{
    const sc_span *last = NULL;
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->spans[i].name, name) == 0)
            last = &st->spans[i];
    return last;
}

static inline const sc_event *sc_event_of(const sc_span *d, const char *name)
{
    for (size_t i = 0; d && i < d->n_events; i++)
        if (strcmp(d->events[i].name, name) == 0)
            return &d->events[i];
    return NULL;
}

static inline size_t sc_event_count(const sc_span *d, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; d && i < d->n_events; i++)
        if (strcmp(d->events[i].name, name) == 0)
            n++;
    return n;
}

static inline int64_t sc_event_int(const sc_event *e, const char *key, int64_t fallback)
{
    for (size_t i = 0; e && i < e->n_attrs; i++)
        if (strcmp(e->attrs[i].key, key) == 0 && e->attrs[i].type == TEL_ATTR_INT)
            return e->attrs[i].i;
    return fallback;
}

static inline bool sc_event_str_has(const sc_event *e, const char *key, const char *part)
{
    for (size_t i = 0; e && i < e->n_attrs; i++)
        if (strcmp(e->attrs[i].key, key) == 0 && e->attrs[i].type == TEL_ATTR_STRING)
            return strstr(e->attrs[i].s, part) != NULL;
    return false;
}

static inline bool sc_is_child_of(const sc_span *child, const sc_span *parent)
{
    return child && parent && child->has_parent &&
           memcmp(child->parent_span_id, parent->span_id, sizeof child->parent_span_id) == 0;
}

static inline bool contains_text(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; hay && i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

static inline bool sc_attr_mentions(const sc_attr *a, const char *needle)
{
    return strstr(a->key, needle) || (a->s && contains_text(a->s, a->len, needle));
}

/* How many stored spans mention needle in their name, status, attributes or events (prints the
 * first offender). */
static inline size_t sc_spans_mentioning(sc_store *st, const char *needle)
{
    size_t hits = 0;
    for (size_t i = 0; i < st->n; i++) {
        const sc_span *d = &st->spans[i];
        bool hit = strstr(d->name, needle) || (d->status_msg && strstr(d->status_msg, needle));
        for (size_t k = 0; !hit && k < d->n_attrs; k++)
            hit = sc_attr_mentions(&d->attrs[k], needle);
        for (size_t k = 0; !hit && k < d->n_events; k++) {
            hit = strstr(d->events[k].name, needle) != NULL;
            for (size_t j = 0; !hit && j < d->events[k].n_attrs; j++)
                hit = sc_attr_mentions(&d->events[k].attrs[j], needle);
        }
        if (hit && hits++ == 0)
            fprintf(stderr, "span %s mentions the secret\n", d->name);
    }
    return hits;
}

#endif
