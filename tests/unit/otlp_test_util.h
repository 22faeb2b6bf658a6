/* Helpers for the OTLP tests: hand-built span records and a minimal protobuf field walker (an
 * independent reading of the wire format; the interop test uses OpenTelemetry's own decoder). */
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

#endif
