/* Test helpers: a provider wired to an in-memory exporter through a simple processor, and queries
 * over the spans it stored (by name, attributes, events, parentage, secrets).
 *
 * The stored spans are tel_memory_exporter's deep copies: each is its own allocation, valid until
 * tel_memory_exporter_reset or the provider's destruction, whatever is exported later. The
 * queries, like tel_memory_exporter_span, are not safe against concurrent exports: run them once
 * the spans of interest have ended (the simple processor exports at span end). Every query takes
 * NULL records and returns "not found" for them, so a missing span fails the assertion on it
 * rather than crashing the test. */
#ifndef TEST_TRACING_H
#define TEST_TRACING_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "telemetry/memory_exporter.h"
#include "telemetry/trace.h"

typedef struct test_tracing {
    tel_tracer_provider *provider;
    tel_tracer *tracer;
    tel_memory_exporter *mem;
} test_tracing;

/* Sets up tt with the given sampler and limits (limits NULL: spec defaults). */
static inline void test_tracing_init(test_tracing *tt, tel_sampler_kind kind, double ratio,
                                     const tel_span_limits *limits)
{
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "unit-test");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, kind, ratio);
    cfg.has_limits = true;
    if (limits)
        cfg.limits = *limits;
    else
        cfg.limits = (tel_span_limits){128, 0, 128, 128, 128, 128};
    tt->provider = tel_tracer_provider_create(&cfg);
    tt->mem = tel_memory_exporter_create();
    tel_tracer_provider_add_processor(
        tt->provider, tel_simple_processor_create(tel_memory_exporter_base(tt->mem), 1000));
    tt->tracer = tel_tracer_get(tt->provider, "unit", "1.0");
}

/* Adds a second simple processor (export timeout 0) with a memory exporter of its own, which gets
 * its own copies of every span; the provider destroys it. */
static inline tel_memory_exporter *test_tracing_add_memory_exporter(test_tracing *tt)
{
    tel_memory_exporter *m = tel_memory_exporter_create();
    tel_tracer_provider_add_processor(tt->provider,
                                      tel_simple_processor_create(tel_memory_exporter_base(m), 0));
    return m;
}

static inline void test_tracing_cleanup(test_tracing *tt)
{
    tel_tracer_provider_destroy(tt->provider); /* destroys the exporter and its spans too */
}

/* Starts a root span `name` and sets up *ctx (uninitialised before) to carry it and the baggage
 * entry bag_key=bag_value: the caller's side of the spans code under test makes. The caller ends
 * the span and cleans the context up. */
static inline tel_span *test_root_context(tel_tracer *t, const char *name, const char *bag_key,
                                          const char *bag_value, tel_context *ctx)
{
    tel_span *root = tel_span_start(t, name, TEL_SPAN_KIND_INTERNAL, NULL);
    tel_context_init(ctx);
    tel_context_set_span(ctx, root);
    tel_baggage *bag = tel_baggage_set(NULL, bag_key, bag_value, NULL);
    tel_context_set_baggage(ctx, bag);
    tel_baggage_unref(bag);
    return root;
}

/* ---- spans by name (in export order, i.e. the order they ended) ---- */

/* How many stored spans are named `name`. */
static inline size_t test_span_count(tel_memory_exporter *m, const char *name)
{
    size_t n = 0, total = tel_memory_exporter_count(m);
    for (size_t i = 0; i < total; i++)
        if (strcmp(tel_memory_exporter_span(m, i)->name, name) == 0) n++;
    return n;
}

/* The k-th (0-based) stored span named `name`, or NULL. */
static inline const tel_span_data *test_span_nth(tel_memory_exporter *m, const char *name, size_t k)
{
    size_t total = tel_memory_exporter_count(m);
    for (size_t i = 0; i < total; i++) {
        const tel_span_data *d = tel_memory_exporter_span(m, i);
        if (strcmp(d->name, name) == 0 && k-- == 0) return d;
    }
    return NULL;
}

/* The last stored span named `name`, or NULL. */
static inline const tel_span_data *test_span_last(tel_memory_exporter *m, const char *name)
{
    const tel_span_data *last = NULL;
    size_t total = tel_memory_exporter_count(m);
    for (size_t i = 0; i < total; i++) {
        const tel_span_data *d = tel_memory_exporter_span(m, i);
        if (strcmp(d->name, name) == 0) last = d;
    }
    return last;
}

/* Whether child's parent is parent (both recorded). */
static inline bool test_span_is_child_of(const tel_span_data *child, const tel_span_data *parent)
{
    return child && parent && child->has_parent &&
           memcmp(child->parent_span_id, parent->sc.span_id, sizeof child->parent_span_id) == 0;
}

/* ---- attributes ---- */

/* The attribute `key` of a record, or NULL. */
static inline const tel_attr *test_attr(const tel_span_data *d, const char *key)
{
    for (uint32_t i = 0; d && i < tel_span_data_attr_count(d); i++) {
        const tel_attr *a = tel_span_data_attr(d, i);
        if (strcmp(a->key, key) == 0) return a;
    }
    return NULL;
}

/* The string attribute `key`, or NULL (absent or of another type). */
static inline const char *test_attr_str(const tel_span_data *d, const char *key)
{
    const tel_attr *a = test_attr(d, key);
    return a && a->type == TEL_ATTR_STRING ? a->v.s : NULL;
}

/* Whether the attribute `key` is the string `want`. */
static inline bool test_attr_str_is(const tel_span_data *d, const char *key, const char *want)
{
    const tel_attr *a = test_attr(d, key);
    return a && a->type == TEL_ATTR_STRING && a->len == strlen(want) &&
           memcmp(a->v.s, want, a->len) == 0;
}

/* The integer attribute `key`, or `fallback` (absent or of another type). */
static inline int64_t test_attr_int(const tel_span_data *d, const char *key, int64_t fallback)
{
    const tel_attr *a = test_attr(d, key);
    return a && a->type == TEL_ATTR_INT ? a->v.i : fallback;
}

/* The boolean attribute `key` as 0 or 1, or -1 (absent or of another type). */
static inline int test_attr_bool(const tel_span_data *d, const char *key)
{
    const tel_attr *a = test_attr(d, key);
    return a && a->type == TEL_ATTR_BOOL ? (int)a->v.b : -1;
}

/* ---- events ---- */

/* The first event named `name` of a record, or NULL. */
static inline const tel_event *test_event(const tel_span_data *d, const char *name)
{
    for (uint32_t i = 0; d && i < tel_span_data_event_count(d); i++)
        if (strcmp(d->extra->events[i].name, name) == 0) return &d->extra->events[i];
    return NULL;
}

/* How many events of a record are named `name`. */
static inline size_t test_event_count(const tel_span_data *d, const char *name)
{
    size_t n = 0;
    for (uint32_t i = 0; d && i < tel_span_data_event_count(d); i++)
        n += strcmp(d->extra->events[i].name, name) == 0;
    return n;
}

/* The attribute `key` of an event, or NULL. */
static inline const tel_attr *test_event_attr(const tel_event *e, const char *key)
{
    for (uint32_t i = 0; e && i < e->n_attrs; i++)
        if (strcmp(e->attrs[i].key, key) == 0) return &e->attrs[i];
    return NULL;
}

/* The integer attribute `key` of an event, or `fallback`. */
static inline int64_t test_event_int(const tel_event *e, const char *key, int64_t fallback)
{
    const tel_attr *a = test_event_attr(e, key);
    return a && a->type == TEL_ATTR_INT ? a->v.i : fallback;
}

/* Whether the string attribute `key` of an event contains `part`. */
static inline bool test_event_str_has(const tel_event *e, const char *key, const char *part)
{
    const tel_attr *a = test_event_attr(e, key);
    return a && a->type == TEL_ATTR_STRING && strstr(a->v.s, part) != NULL;
}

/* ---- secrets ---- */

/* Whether hay[0..n) contains needle (hay need not be NUL-terminated). */
static inline bool test_contains_text(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; hay && i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return true;
    return false;
}

/* Whether an attribute's key or value mentions needle: string values, and the string and integer
 * (in decimal) elements of arrays. */
static inline bool test_attr_mentions(const tel_attr *a, const char *needle)
{
    if (strstr(a->key, needle)) return true;
    if (a->type == TEL_ATTR_STRING) return test_contains_text(a->v.s, a->len, needle);
    for (uint32_t k = 0; a->type >= TEL_ATTR_STRING_ARRAY && k < a->len; k++) {
        tel_attr el = tel_attr_array_element(a, k);
        char num[24];
        if (el.type == TEL_ATTR_INT) {
            snprintf(num, sizeof num, "%" PRId64, el.v.i);
            if (strstr(num, needle)) return true;
        } else if (el.type == TEL_ATTR_STRING && test_contains_text(el.v.s, el.len, needle)) {
            return true;
        }
    }
    return false;
}

/* How many stored spans mention needle in their name, status message, attributes or events
 * (names and attributes); prints the first offender. */
static inline size_t test_spans_mentioning(tel_memory_exporter *m, const char *needle)
{
    size_t hits = 0, total = tel_memory_exporter_count(m);
    for (size_t i = 0; i < total; i++) {
        const tel_span_data *d = tel_memory_exporter_span(m, i);
        bool hit = strstr(d->name, needle) || (d->status_msg && strstr(d->status_msg, needle));
        for (uint32_t k = 0; !hit && k < tel_span_data_attr_count(d); k++)
            hit = test_attr_mentions(tel_span_data_attr(d, k), needle);
        for (uint32_t k = 0; !hit && k < tel_span_data_event_count(d); k++) {
            const tel_event *e = &d->extra->events[k];
            hit = strstr(e->name, needle) != NULL;
            for (uint32_t j = 0; !hit && j < e->n_attrs; j++)
                hit = test_attr_mentions(&e->attrs[j], needle);
        }
        if (hit && hits++ == 0) fprintf(stderr, "span %s mentions the secret\n", d->name);
    }
    return hits;
}

#endif
