/* Field-by-field comparison of what an independent OTLP decoder received (the JSON lines the
 * receivers in tests/peers write: toObject of the OpenTelemetry project's generated code, longs
 * as strings, enums as numbers, bytes as hex) with the records the telemetry library exported:
 * spans (tel_span_data), metrics (tel_metric) and log records (tel_log_record). Shared by the
 * OTLP/HTTP interop test and the OTLP/gRPC test; every comparison counts in `checks` and reports
 * mismatches through CHECK. */
#ifndef OTLP_COMPARE_H
#define OTLP_COMPARE_H

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "telemetry/log_data.h"
#include "telemetry/metric_data.h"
#include "telemetry/span_data.h"
#include "telemetry/tracestate.h"

static inline void hex(const uint8_t *id, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", id[i]);
}

static inline const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* uint32/enum fields: absent means 0 (toObject with defaults false). */
static inline long long jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static inline size_t jlen(json_t *o, const char *k)
{
    return json_array_size(json_object_get(o, k));
}

static inline bool str_eq(const char *got, const char *want, size_t want_len)
{
    return got && strlen(got) == want_len && memcmp(got, want, want_len) == 0;
}

static inline bool double_eq(json_t *v, double want)
{
    if (isnan(want)) return json_is_string(v) && strcmp(json_string_value(v), "NaN") == 0;
    if (isinf(want))
        return json_is_string(v) &&
               strcmp(json_string_value(v), want > 0 ? "Infinity" : "-Infinity") == 0;
    if (want == 0 && signbit(want))
        return json_is_string(v) && strcmp(json_string_value(v), "-0") == 0;
    if (!json_is_number(v)) return false;
    double got = json_number_value(v);
    return got == want && signbit(got) == signbit(want);
}

/* One scalar AnyValue. */
static inline void cmp_scalar(const char *where, json_t *v, tel_attr_type type, const tel_attr *a,
                              uint32_t i)
{
    CHECK(json_is_object(v) && json_object_size(v) == 1, "%s: one value expected", where);
    char buf[32];
    switch (type) {
    case TEL_ATTR_STRING: {
        const char *s = i == UINT32_MAX ? a->v.s : ((const char *const *)a->v.arr)[i];
        size_t n = i == UINT32_MAX ? a->len : strlen(s);
        CHECK(str_eq(jstr(v, "stringValue"), s, n), "%s: stringValue \"%s\" != \"%.*s\"", where,
              jstr(v, "stringValue"), (int)n, s);
        break;
    }
    case TEL_ATTR_BOOL: {
        bool b = i == UINT32_MAX ? a->v.b : ((const bool *)a->v.arr)[i];
        json_t *got = json_object_get(v, "boolValue");
        CHECK(json_is_boolean(got) && json_boolean_value(got) == b, "%s: boolValue", where);
        break;
    }
    case TEL_ATTR_INT: {
        int64_t x = i == UINT32_MAX ? a->v.i : ((const int64_t *)a->v.arr)[i];
        snprintf(buf, sizeof buf, "%" PRId64, x);
        CHECK(jstr(v, "intValue") && strcmp(jstr(v, "intValue"), buf) == 0, "%s: intValue %s != %s",
              where, jstr(v, "intValue"), buf);
        break;
    }
    case TEL_ATTR_DOUBLE: {
        double x = i == UINT32_MAX ? a->v.d : ((const double *)a->v.arr)[i];
        CHECK(double_eq(json_object_get(v, "doubleValue"), x), "%s: doubleValue != %.17g", where,
              x);
        break;
    }
    default:
        CHECK(false, "%s: unexpected type", where);
    }
}

static int covered_types[TEL_ATTR_DOUBLE_ARRAY + 1] __attribute__((unused));

static inline void cmp_attrs(const char *where, json_t *arr, const tel_attr *const *attrs,
                             uint32_t n)
{
    CHECK(json_array_size(arr) == n, "%s: %zu attributes decoded, %u recorded", where,
          json_array_size(arr), n);
    for (uint32_t k = 0; k < n && k < json_array_size(arr); k++) {
        const tel_attr *a = attrs[k];
        json_t *kv = json_array_get(arr, k);
        char w[256];
        snprintf(w, sizeof w, "%s attribute[%u] %s", where, k, a->key);
        CHECK(jstr(kv, "key") && strcmp(jstr(kv, "key"), a->key) == 0, "%s: key %s", w,
              jstr(kv, "key"));
        json_t *v = json_object_get(kv, "value");
        covered_types[a->type]++;
        if (a->type <= TEL_ATTR_DOUBLE) {
            cmp_scalar(w, v, (tel_attr_type)a->type, a, UINT32_MAX);
            continue;
        }
        json_t *av = json_object_get(v, "arrayValue");
        CHECK(json_is_object(av), "%s: arrayValue expected", w);
        json_t *vals = json_object_get(av, "values");
        CHECK(json_array_size(vals) == a->len, "%s: %zu array values, %u recorded", w,
              json_array_size(vals), a->len);
        tel_attr_type el = (tel_attr_type)(a->type - TEL_ATTR_STRING_ARRAY + TEL_ATTR_STRING);
        for (uint32_t i = 0; i < a->len && i < json_array_size(vals); i++)
            cmp_scalar(w, json_array_get(vals, i), el, a, i);
    }
}

static inline void cmp_attr_list(const char *where, json_t *arr, const tel_attr *attrs, uint32_t n)
{
    const tel_attr *ptrs[64];
    for (uint32_t i = 0; i < n && i < 64; i++)
        ptrs[i] = &attrs[i];
    cmp_attrs(where, arr, ptrs, n < 64 ? n : 64);
}

static inline void cmp_time(const char *where, json_t *o, const char *k, uint64_t want)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, want);
    CHECK(jstr(o, k) && strcmp(jstr(o, k), buf) == 0, "%s: %s %s != %s", where, k, jstr(o, k), buf);
}

static inline void cmp_span(json_t *sp, const tel_span_data *d)
{
    char id[33], w[128];
    hex(d->sc.span_id, 8, id);
    snprintf(w, sizeof w, "span %s (%s)", d->name, id);
    hex(d->sc.trace_id, 16, id);
    CHECK(str_eq(jstr(sp, "traceId"), id, 32), "%s: traceId", w);
    if (d->has_parent) {
        hex(d->parent_span_id, 8, id);
        CHECK(str_eq(jstr(sp, "parentSpanId"), id, 16), "%s: parentSpanId %s != %s", w,
              jstr(sp, "parentSpanId"), id);
    } else {
        CHECK(json_object_get(sp, "parentSpanId") == NULL, "%s: root span with a parent", w);
    }
    size_t tsl = 0;
    const char *ts = d->ts ? tel_tracestate_str(d->ts, &tsl) : NULL;
    if (ts && tsl)
        CHECK(str_eq(jstr(sp, "traceState"), ts, tsl), "%s: traceState %s", w,
              jstr(sp, "traceState"));
    else
        CHECK(json_object_get(sp, "traceState") == NULL, "%s: unexpected traceState", w);
    CHECK(jstr(sp, "name") && strcmp(jstr(sp, "name"), d->name) == 0, "%s: name %s", w,
          jstr(sp, "name"));
    CHECK(jint(sp, "kind") == d->kind, "%s: kind %lld != %u", w, jint(sp, "kind"), d->kind);
    cmp_time(w, sp, "startTimeUnixNano", d->start_ns);
    cmp_time(w, sp, "endTimeUnixNano", d->end_ns);
    uint32_t want_flags = d->sc.flags | 0x100u | (d->has_parent && d->parent_remote ? 0x200u : 0);
    CHECK(jint(sp, "flags") == want_flags, "%s: flags 0x%llx != 0x%x", w, jint(sp, "flags"),
          want_flags);

    const tel_attr *attrs[256];
    uint32_t na = tel_span_data_attr_count(d);
    for (uint32_t i = 0; i < na && i < 256; i++)
        attrs[i] = tel_span_data_attr(d, i);
    cmp_attrs(w, json_object_get(sp, "attributes"), attrs, na);
    CHECK(jint(sp, "droppedAttributesCount") == d->dropped_attrs, "%s: droppedAttributesCount", w);

    uint32_t ne = tel_span_data_event_count(d);
    CHECK(jlen(sp, "events") == ne, "%s: %zu events, %u recorded", w, jlen(sp, "events"), ne);
    for (uint32_t i = 0; i < ne && i < jlen(sp, "events"); i++) {
        const tel_event *e = &d->extra->events[i];
        json_t *je = json_array_get(json_object_get(sp, "events"), i);
        char we[192];
        snprintf(we, sizeof we, "%s event[%u]", w, i);
        CHECK(jstr(je, "name") && strcmp(jstr(je, "name"), e->name) == 0, "%s: name", we);
        cmp_time(we, je, "timeUnixNano", e->time_ns);
        cmp_attr_list(we, json_object_get(je, "attributes"), e->attrs, e->n_attrs);
        CHECK(jint(je, "droppedAttributesCount") == e->dropped_attrs,
              "%s: droppedAttributesCount %lld != %u", we, jint(je, "droppedAttributesCount"),
              e->dropped_attrs);
    }
    CHECK(jint(sp, "droppedEventsCount") == d->dropped_events, "%s: droppedEventsCount", w);

    uint32_t nl = tel_span_data_link_count(d);
    CHECK(jlen(sp, "links") == nl, "%s: %zu links, %u recorded", w, jlen(sp, "links"), nl);
    for (uint32_t i = 0; i < nl && i < jlen(sp, "links"); i++) {
        const tel_link *l = &d->extra->links[i];
        json_t *jl = json_array_get(json_object_get(sp, "links"), i);
        char wl[192];
        snprintf(wl, sizeof wl, "%s link[%u]", w, i);
        hex(l->sc.trace_id, 16, id);
        CHECK(str_eq(jstr(jl, "traceId"), id, 32), "%s: traceId", wl);
        hex(l->sc.span_id, 8, id);
        CHECK(str_eq(jstr(jl, "spanId"), id, 16), "%s: spanId", wl);
        if (l->tracestate)
            CHECK(jstr(jl, "traceState") && strcmp(jstr(jl, "traceState"), l->tracestate) == 0,
                  "%s: traceState", wl);
        else
            CHECK(!json_object_get(jl, "traceState"), "%s: unexpected traceState", wl);
        cmp_attr_list(wl, json_object_get(jl, "attributes"), l->attrs, l->n_attrs);
        CHECK(jint(jl, "droppedAttributesCount") == l->dropped_attrs, "%s: droppedAttributesCount",
              wl);
        uint32_t lf = l->sc.flags | 0x100u | (l->sc.remote ? 0x200u : 0);
        CHECK(jint(jl, "flags") == lf, "%s: flags 0x%llx != 0x%x", wl, jint(jl, "flags"), lf);
    }
    CHECK(jint(sp, "droppedLinksCount") == d->dropped_links, "%s: droppedLinksCount", w);

    json_t *st = json_object_get(sp, "status");
    CHECK(jint(st, "code") == d->status, "%s: status code %lld != %u", w, jint(st, "code"),
          d->status);
    if (d->status == TEL_STATUS_ERROR && d->status_msg)
        CHECK(jstr(st, "message") && strcmp(jstr(st, "message"), d->status_msg) == 0,
              "%s: status message %s", w, jstr(st, "message"));
    else
        CHECK(!jstr(st, "message"), "%s: unexpected status message", w);
}

/* ---- Metrics ---- */

/* A 64-bit integer field (toObject: a decimal string). */
static inline void cmp_i64(const char *where, json_t *o, const char *k, int64_t want)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, want);
    CHECK(jstr(o, k) && strcmp(jstr(o, k), buf) == 0, "%s: %s %s != %s", where, k, jstr(o, k), buf);
}

static inline void cmp_exemplars(const char *where, json_t *arr, const tel_exemplar *ex, uint32_t n)
{
    CHECK(json_array_size(arr) == n, "%s: %zu exemplars, %u exported", where, json_array_size(arr),
          n);
    for (uint32_t i = 0; i < n && i < json_array_size(arr); i++) {
        json_t *je = json_array_get(arr, i);
        char w[256], id[33];
        snprintf(w, sizeof w, "%.200s exemplar[%u]", where, i);
        cmp_time(w, je, "timeUnixNano", ex[i].time_ns);
        if (ex[i].is_int)
            cmp_i64(w, je, "asInt", ex[i].value.i);
        else
            CHECK(double_eq(json_object_get(je, "asDouble"), ex[i].value.d), "%s: asDouble", w);
        if (ex[i].has_span) {
            hex(ex[i].trace_id, 16, id);
            CHECK(str_eq(jstr(je, "traceId"), id, 32), "%s: traceId %s", w, jstr(je, "traceId"));
            hex(ex[i].span_id, 8, id);
            CHECK(str_eq(jstr(je, "spanId"), id, 16), "%s: spanId %s", w, jstr(je, "spanId"));
        } else {
            CHECK(!jstr(je, "traceId") && !jstr(je, "spanId"), "%s: unexpected span ids", w);
        }
        cmp_attr_list(w, json_object_get(je, "filteredAttributes"), ex[i].filtered_attrs,
                      ex[i].n_filtered_attrs);
    }
}

static inline void cmp_metric_point(const char *where, json_t *jp, const tel_metric *m,
                                    const tel_metric_point *p)
{
    cmp_attr_list(where, json_object_get(jp, "attributes"), p->attrs, p->n_attrs);
    if (m->type != TEL_METRIC_GAUGE || jstr(jp, "startTimeUnixNano"))
        cmp_time(where, jp, "startTimeUnixNano", p->start_ns);
    cmp_time(where, jp, "timeUnixNano", p->time_ns);
    if (m->type == TEL_METRIC_HISTOGRAM) {
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRIu64, p->count);
        CHECK(jstr(jp, "count") && strcmp(jstr(jp, "count"), buf) == 0, "%s: count %s != %s", where,
              jstr(jp, "count"), buf);
        CHECK(double_eq(json_object_get(jp, "sum"), p->sum), "%s: sum != %g", where, p->sum);
        json_t *bc = json_object_get(jp, "bucketCounts");
        CHECK(json_array_size(bc) == m->n_bounds + 1u, "%s: %zu bucket counts for %u bounds", where,
              json_array_size(bc), m->n_bounds);
        for (uint32_t i = 0; i <= m->n_bounds && i < json_array_size(bc); i++) {
            snprintf(buf, sizeof buf, "%" PRIu64, p->bucket_counts[i]);
            json_t *v = json_array_get(bc, i);
            CHECK(json_is_string(v) && strcmp(json_string_value(v), buf) == 0,
                  "%s: bucketCounts[%u] != %s", where, i, buf);
        }
        json_t *eb = json_object_get(jp, "explicitBounds");
        CHECK(json_array_size(eb) == m->n_bounds, "%s: %zu bounds, %u exported", where,
              json_array_size(eb), m->n_bounds);
        for (uint32_t i = 0; i < m->n_bounds && i < json_array_size(eb); i++)
            CHECK(double_eq(json_array_get(eb, i), m->bounds[i]), "%s: explicitBounds[%u]", where,
                  i);
        if (p->has_min_max) {
            CHECK(double_eq(json_object_get(jp, "min"), p->min), "%s: min", where);
            CHECK(double_eq(json_object_get(jp, "max"), p->max), "%s: max", where);
        } else {
            CHECK(!json_object_get(jp, "min") && !json_object_get(jp, "max"),
                  "%s: unexpected min/max", where);
        }
    } else if (p->is_int) {
        cmp_i64(where, jp, "asInt", p->value.i);
    } else {
        CHECK(double_eq(json_object_get(jp, "asDouble"), p->value.d), "%s: asDouble != %g", where,
              p->value.d);
    }
    cmp_exemplars(where, json_object_get(jp, "exemplars"), p->exemplars, p->n_exemplars);
}

/* One decoded Metric against the exported tel_metric. */
static inline void cmp_metric(json_t *jm, const tel_metric *m)
{
    char w[160];
    snprintf(w, sizeof w, "metric %s", m->name);
    CHECK(jstr(jm, "name") && strcmp(jstr(jm, "name"), m->name) == 0, "%s: name", w);
    const char *desc = m->description ? m->description : "";
    const char *unit = m->unit ? m->unit : "";
    CHECK(*desc ? jstr(jm, "description") && strcmp(jstr(jm, "description"), desc) == 0
                : !jstr(jm, "description"),
          "%s: description %s", w, jstr(jm, "description"));
    CHECK(*unit ? jstr(jm, "unit") && strcmp(jstr(jm, "unit"), unit) == 0 : !jstr(jm, "unit"),
          "%s: unit %s", w, jstr(jm, "unit"));
    const char *kind = m->type == TEL_METRIC_SUM     ? "sum"
                       : m->type == TEL_METRIC_GAUGE ? "gauge"
                                                     : "histogram";
    json_t *data = json_object_get(jm, kind);
    CHECK(json_is_object(data), "%s: no %s data", w, kind);
    if (!data) return;
    if (m->type != TEL_METRIC_GAUGE)
        CHECK(jint(data, "aggregationTemporality") == m->temporality,
              "%s: aggregationTemporality %lld", w, jint(data, "aggregationTemporality"));
    if (m->type == TEL_METRIC_SUM) {
        json_t *mono = json_object_get(data, "isMonotonic");
        CHECK(m->monotonic ? json_is_true(mono) : (!mono || json_is_false(mono)), "%s: isMonotonic",
              w);
    }
    json_t *pts = json_object_get(data, "dataPoints");
    CHECK(json_array_size(pts) == m->n_points, "%s: %zu points, %zu exported", w,
          json_array_size(pts), m->n_points);
    for (size_t i = 0; i < m->n_points && i < json_array_size(pts); i++) {
        char wp[192];
        snprintf(wp, sizeof wp, "%s point[%zu]", w, i);
        cmp_metric_point(wp, json_array_get(pts, i), m, &m->points[i]);
    }
}

/* ---- Log records ---- */

static inline void cmp_log(json_t *jl, const tel_log_record *r)
{
    char w[160], id[33];
    snprintf(w, sizeof w, "log \"%.*s\"", (int)(r->body_len < 40 ? r->body_len : 40), r->body);
    cmp_time(w, jl, "timeUnixNano", r->time_ns);
    cmp_time(w, jl, "observedTimeUnixNano", r->observed_time_ns);
    CHECK(jint(jl, "severityNumber") == r->severity_number, "%s: severityNumber %lld", w,
          jint(jl, "severityNumber"));
    if (r->severity_text && *r->severity_text)
        CHECK(jstr(jl, "severityText") && strcmp(jstr(jl, "severityText"), r->severity_text) == 0,
              "%s: severityText %s", w, jstr(jl, "severityText"));
    else
        CHECK(!jstr(jl, "severityText"), "%s: unexpected severityText", w);
    json_t *body = json_object_get(jl, "body");
    CHECK(str_eq(jstr(body, "stringValue"), r->body, r->body_len), "%s: body %s", w,
          jstr(body, "stringValue"));
    cmp_attr_list(w, json_object_get(jl, "attributes"), r->attrs, r->n_attrs);
    CHECK(jint(jl, "droppedAttributesCount") == r->dropped_attrs, "%s: droppedAttributesCount", w);
    if (r->has_span) {
        hex(r->trace_id, 16, id);
        CHECK(str_eq(jstr(jl, "traceId"), id, 32), "%s: traceId %s", w, jstr(jl, "traceId"));
        hex(r->span_id, 8, id);
        CHECK(str_eq(jstr(jl, "spanId"), id, 16), "%s: spanId %s", w, jstr(jl, "spanId"));
        CHECK(jint(jl, "flags") == r->trace_flags, "%s: flags %lld", w, jint(jl, "flags"));
    } else {
        CHECK(!jstr(jl, "traceId") && !jstr(jl, "spanId"), "%s: unexpected span ids", w);
    }
}

#endif
