/* Helpers for the OTLP tests: hand-built span records, metrics and log records, and a minimal
 * protobuf field walker (an independent reading of the wire format; the interop test uses
 * OpenTelemetry's own decoder). */
#ifndef OTLP_TEST_UTIL_H
#define OTLP_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "telemetry/otlp.h"

/* ---- Protobuf walker ---- */

typedef struct pbf {
    uint32_t field;
    unsigned wt;
    uint64_t v;       /* varint, fixed64 or fixed32 value */
    const uint8_t *d; /* LEN payload */
    size_t n;
} pbf;

#define PB_MAX_FIELDS 4096

/* Splits a message into its fields. Returns the count, or -1 when malformed (including a
 * non-minimal varint, which the encoder must never produce). */
static inline int pb_fields(const uint8_t *p, size_t len, pbf *out, int max)
{
    const uint8_t *end = p + len;
    int k = 0;
    while (p < end) {
        uint64_t vals[2];
        for (int which = 0; which < 2; which++) {
            if (which == 1 && ((vals[0] & 7) != 0 && (vals[0] & 7) != 2)) break;
            uint64_t r = 0;
            unsigned shift = 0;
            const uint8_t *start = p;
            for (;;) {
                if (p >= end || shift >= 64) return -1;
                uint8_t c = *p++;
                r |= (uint64_t)(c & 0x7f) << shift;
                shift += 7;
                if (!(c & 0x80)) break;
            }
            if (p - start > 1 && p[-1] == 0) return -1; /* non-minimal */
            vals[which] = r;
        }
        if (k >= max) return -1;
        pbf *f = &out[k++];
        memset(f, 0, sizeof *f);
        f->field = (uint32_t)(vals[0] >> 3);
        f->wt = (unsigned)(vals[0] & 7);
        switch (f->wt) {
        case 0:
            f->v = vals[1];
            break;
        case 1:
            if (end - p < 8) return -1;
            memcpy(&f->v, p, 8);
            p += 8;
            break;
        case 5: {
            if (end - p < 4) return -1;
            uint32_t x;
            memcpy(&x, p, 4);
            f->v = x;
            p += 4;
            break;
        }
        case 2:
            if (vals[1] > (uint64_t)(end - p)) return -1;
            f->d = p;
            f->n = (size_t)vals[1];
            p += vals[1];
            break;
        default:
            return -1;
        }
    }
    return k;
}

/* The idx-th occurrence of `field`, or NULL. */
static inline const pbf *pb_get(const pbf *fs, int n, uint32_t field, int idx)
{
    for (int i = 0; i < n; i++)
        if (fs[i].field == field && idx-- == 0) return &fs[i];
    return NULL;
}

static inline int pb_count(const pbf *fs, int n, uint32_t field)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += fs[i].field == field;
    return c;
}

static inline bool pb_str_eq(const pbf *f, const char *s)
{
    return f && f->wt == 2 && f->n == strlen(s) && memcmp(f->d, s, f->n) == 0;
}

/* ---- Hand-built records ---- */

static inline void fill_ids(tel_span_data *d, uint8_t seed)
{
    for (int i = 0; i < TEL_TRACE_ID_SIZE; i++)
        d->sc.trace_id[i] = (uint8_t)(seed + i + 1);
    for (int i = 0; i < TEL_SPAN_ID_SIZE; i++)
        d->sc.span_id[i] = (uint8_t)(seed * 3 + i + 1);
}

/* A small span: ids, name, kind, times, the given inline attributes. */
static inline void make_span(tel_span_data *d, const tel_scope *scope, const char *name,
                             const tel_attr *attrs, uint16_t n_attrs, uint8_t seed)
{
    memset(d, 0, sizeof *d);
    fill_ids(d, seed);
    d->sc.flags = 1;
    d->kind = TEL_SPAN_KIND_SERVER;
    d->name = name;
    d->scope = scope;
    d->start_ns = 1700000000123456789ull;
    d->end_ns = 1700000000223456789ull;
    for (uint16_t i = 0; i < n_attrs && i < TEL_SPAN_INLINE_ATTRS; i++)
        d->attrs[i] = attrs[i];
    d->n_attrs = n_attrs;
}

/* ---- Hand-built metrics ----
 * m[0] "bmc.power.ops": monotonic cumulative int Sum, scope bmcfleet.metrics@1.0, 2 points (5 with
 *      attributes and an int exemplar without span; 0 without attributes)
 * m[1] "bmc.sessions": non-monotonic cumulative double Sum (-2.5), same scope
 * m[2] "bmc.temperature": Gauge (21.5), scope "other" without version
 * m[3] "http.server.request.duration": cumulative Histogram, bounds {0, 5, 10}, buckets
 *      {1, 2, 0, 3}, count 6, sum 42.5, min 0.5, max 30, a double exemplar (7.5) with span ids
 *      and a filtered attribute; same scope as m[0] (by text, not by pointer) */
typedef struct metric_fixture {
    tel_metric m[4];
    tel_metric_point pts[5];
    tel_exemplar ex[2];
    tel_attr attrs[2];
    tel_attr filtered[1];
    double bounds[3];
    uint64_t buckets[4];
    char scope_copy[32];
} metric_fixture;

#define FX_T0 1700000000000000000ull
#define FX_T1 1700000060000000000ull

static inline void metric_fixture_init(metric_fixture *f)
{
    memset(f, 0, sizeof *f);
    f->attrs[0] = TEL_ATTR_STR("http.route", "/v1/servers/{id}");
    f->attrs[1] = TEL_ATTR_INT64("http.response.status_code", 200);
    f->filtered[0] = TEL_ATTR_STR("user", "u1");
    f->bounds[0] = 0, f->bounds[1] = 5, f->bounds[2] = 10;
    f->buckets[0] = 1, f->buckets[1] = 2, f->buckets[2] = 0, f->buckets[3] = 3;
    f->ex[0] = (tel_exemplar){.time_ns = FX_T0 + 5,
                              .is_int = false,
                              .value.d = 7.5,
                              .has_span = true,
                              .filtered_attrs = f->filtered,
                              .n_filtered_attrs = 1};
    for (int i = 0; i < 16; i++)
        f->ex[0].trace_id[i] = (uint8_t)(0xA0 + i);
    for (int i = 0; i < 8; i++)
        f->ex[0].span_id[i] = (uint8_t)(0xB0 + i);
    f->ex[1] = (tel_exemplar){.time_ns = FX_T0 + 7, .is_int = true, .value.i = 3};
    f->pts[0] = (tel_metric_point){.attrs = f->attrs,
                                   .n_attrs = 2,
                                   .start_ns = FX_T0,
                                   .time_ns = FX_T1,
                                   .is_int = true,
                                   .value.i = 5,
                                   .exemplars = &f->ex[1],
                                   .n_exemplars = 1};
    f->pts[1] =
        (tel_metric_point){.start_ns = FX_T0, .time_ns = FX_T1, .is_int = true, .value.i = 0};
    f->pts[2] = (tel_metric_point){.start_ns = FX_T0, .time_ns = FX_T1, .value.d = -2.5};
    f->pts[3] = (tel_metric_point){.time_ns = FX_T1, .value.d = 21.5};
    f->pts[4] = (tel_metric_point){.attrs = f->attrs,
                                   .n_attrs = 1,
                                   .start_ns = FX_T0,
                                   .time_ns = FX_T1,
                                   .count = 6,
                                   .sum = 42.5,
                                   .has_min_max = true,
                                   .min = 0.5,
                                   .max = 30,
                                   .bucket_counts = f->buckets,
                                   .exemplars = &f->ex[0],
                                   .n_exemplars = 1};
    strcpy(f->scope_copy, "bmcfleet.metrics");
    f->m[0] = (tel_metric){.name = "bmc.power.ops",
                           .description = "Power operations",
                           .unit = "{operation}",
                           .type = TEL_METRIC_SUM,
                           .monotonic = true,
                           .temporality = TEL_TEMPORALITY_CUMULATIVE,
                           .scope_name = "bmcfleet.metrics",
                           .scope_version = "1.0",
                           .points = &f->pts[0],
                           .n_points = 2};
    f->m[1] = (tel_metric){.name = "bmc.sessions",
                           .description = "",
                           .unit = "",
                           .type = TEL_METRIC_SUM,
                           .temporality = TEL_TEMPORALITY_CUMULATIVE,
                           .scope_name = "bmcfleet.metrics",
                           .scope_version = "1.0",
                           .points = &f->pts[2],
                           .n_points = 1};
    f->m[2] = (tel_metric){.name = "bmc.temperature",
                           .unit = "Cel",
                           .type = TEL_METRIC_GAUGE,
                           .scope_name = "other",
                           .points = &f->pts[3],
                           .n_points = 1};
    f->m[3] = (tel_metric){.name = "http.server.request.duration",
                           .unit = "ms",
                           .type = TEL_METRIC_HISTOGRAM,
                           .temporality = TEL_TEMPORALITY_CUMULATIVE,
                           .bounds = f->bounds,
                           .n_bounds = 3,
                           .scope_name = f->scope_copy,
                           .scope_version = "1.0",
                           .points = &f->pts[4],
                           .n_points = 1};
}

/* ---- Hand-built log records ----
 * r[0] WARN "disk 93% full" with 2 attributes (1 dropped upstream), span ids and flags 1,
 *      scope bmcfleet.log@1.0
 * r[1] INFO with an empty body, nothing else, scope "other"
 * r[2] ERROR without body, scope bmcfleet.log@1.0 (a copy of the text) */
typedef struct log_fixture {
    tel_log_record r[3];
    const tel_log_record *ptrs[3];
    tel_attr attrs[2];
    char scope_copy[32];
} log_fixture;

static inline void log_fixture_init(log_fixture *f)
{
    memset(f, 0, sizeof *f);
    f->attrs[0] = TEL_ATTR_STR("server_id", "srv-1");
    f->attrs[1] = TEL_ATTR_DBL("usage", 0.93);
    strcpy(f->scope_copy, "bmcfleet.log");
    f->r[0] = (tel_log_record){.time_ns = FX_T0 + 1,
                               .observed_time_ns = FX_T0 + 2,
                               .severity_number = TEL_SEVERITY_WARN,
                               .severity_text = "WARN",
                               .body = "disk 93% full",
                               .body_len = 13,
                               .attrs = f->attrs,
                               .n_attrs = 2,
                               .dropped_attrs = 1,
                               .has_span = true,
                               .trace_flags = 1,
                               .scope_name = "bmcfleet.log",
                               .scope_version = "1.0"};
    for (int i = 0; i < 16; i++)
        f->r[0].trace_id[i] = (uint8_t)(0x10 + i);
    for (int i = 0; i < 8; i++)
        f->r[0].span_id[i] = (uint8_t)(0x20 + i);
    f->r[1] = (tel_log_record){.time_ns = FX_T0 + 3,
                               .observed_time_ns = FX_T0 + 3,
                               .severity_number = TEL_SEVERITY_INFO,
                               .severity_text = "INFO",
                               .body = "",
                               .body_len = 0,
                               .scope_name = "other"};
    f->r[2] = (tel_log_record){.observed_time_ns = FX_T0 + 4,
                               .severity_number = TEL_SEVERITY_ERROR,
                               .severity_text = "ERROR",
                               .scope_name = f->scope_copy,
                               .scope_version = "1.0"};
    for (int i = 0; i < 3; i++)
        f->ptrs[i] = &f->r[i];
}

#endif
