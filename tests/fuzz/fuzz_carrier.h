/* A carrier over fuzz input for the propagation fuzz targets: the input is split into header
 * lines at '\n', each "name:value" at the first ':'. Nothing is allocated; injected headers are
 * copied into the carrier's own buffer. */
#ifndef FUZZ_CARRIER_H
#define FUZZ_CARRIER_H

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telemetry/propagation.h"

#define FC_MAX 256
#define FC_STORE 65536

typedef struct fcar {
    size_t n;
    const char *name[FC_MAX];
    size_t nlen[FC_MAX];
    const char *val[FC_MAX];
    size_t vlen[FC_MAX];
    size_t used;
    char store[FC_STORE];
} fcar;

static inline void fcar_init(fcar *c)
{
    c->n = 0;
    c->used = 0;
}

static inline void fcar_add(fcar *c, const char *name, size_t nlen, const char *val, size_t vlen)
{
    if (c->n == FC_MAX)
        return;
    c->name[c->n] = name;
    c->nlen[c->n] = nlen;
    c->val[c->n] = val;
    c->vlen[c->n] = vlen;
    c->n++;
}

static inline void fcar_from_data(fcar *c, const char *d, size_t len)
{
    fcar_init(c);
    const char *end = d + len;
    while (d < end && c->n < FC_MAX) {
        const char *nl = memchr(d, '\n', (size_t)(end - d));
        const char *le = nl ? nl : end;
        const char *colon = memchr(d, ':', (size_t)(le - d));
        if (colon)
            fcar_add(c, d, (size_t)(colon - d), colon + 1, (size_t)(le - colon - 1));
        else
            fcar_add(c, d, (size_t)(le - d), le, 0);
        d = le + 1;
    }
}

static inline bool fcar_name_is(const fcar *c, size_t i, const char *name)
{
    size_t n = strlen(name);
    return c->nlen[i] == n && strncasecmp(c->name[i], name, n) == 0;
}

static inline const char *fcar_get(void *ud, const char *name, size_t *len)
{
    fcar *c = ud;
    for (size_t i = 0; i < c->n; i++) {
        if (fcar_name_is(c, i, name)) {
            *len = c->vlen[i];
            return c->val[i];
        }
    }
    return NULL;
}

static inline size_t fcar_get_all(void *ud, const char *name, const char **vals, size_t *lens,
                                  size_t max)
{
    fcar *c = ud;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (!fcar_name_is(c, i, name))
            continue;
        if (k < max) {
            vals[k] = c->val[i];
            lens[k] = c->vlen[i];
        }
        k++;
    }
    return k;
}

static inline char *fcar_copy(fcar *c, const char *s, size_t n)
{
    if (c->used + n + 1 > FC_STORE)
        abort(); /* injected headers are bounded: this would be a bug */
    char *d = c->store + c->used;
    memcpy(d, s, n);
    d[n] = '\0';
    c->used += n + 1;
    return d;
}

static inline int fcar_set(void *ud, const char *name, const char *value)
{
    fcar *c = ud;
    size_t vl = strlen(value);
    const char *v = fcar_copy(c, value, vl);
    for (size_t i = 0; i < c->n; i++) {
        if (fcar_name_is(c, i, name)) {
            c->val[i] = v;
            c->vlen[i] = vl;
            return 0;
        }
    }
    size_t nl = strlen(name);
    fcar_add(c, fcar_copy(c, name, nl), nl, v, vl);
    return 0;
}

static inline void fcar_foreach(void *ud, tel_carrier_visit_fn visit, void *arg)
{
    fcar *c = ud;
    for (size_t i = 0; i < c->n; i++)
        if (visit(arg, c->name[i], c->nlen[i], c->val[i], c->vlen[i]))
            return;
}

static inline tel_carrier fcar_carrier(fcar *c)
{
    return (tel_carrier){.ud = c, .get = fcar_get, .get_all = fcar_get_all, .set = fcar_set,
                         .foreach = fcar_foreach};
}

static inline bool fuzz_sc_equal(const tel_span_context *a, const tel_span_context *b)
{
    return memcmp(a->trace_id, b->trace_id, 16) == 0 && memcmp(a->span_id, b->span_id, 8) == 0 &&
           a->flags == b->flags && a->remote == b->remote;
}

#endif
