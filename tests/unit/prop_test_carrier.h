/* A header-list carrier for the propagation unit tests: keeps every line (duplicates included),
 * matches names case-insensitively like an HTTP server, and records what inject sets. */
#ifndef PROP_TEST_CARRIER_H
#define PROP_TEST_CARRIER_H

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telemetry/propagation.h"

#define TCAR_MAX 300

typedef struct tcar {
    size_t n;
    char *name[TCAR_MAX];
    char *value[TCAR_MAX];
    int fail_set; /* when non-zero, set returns it */
} tcar;

static inline void tcar_add(tcar *c, const char *name, const char *value)
{
    if (c->n == TCAR_MAX)
        abort();
    c->name[c->n] = strdup(name);
    c->value[c->n] = strdup(value);
    c->n++;
}

static inline void tcar_clear(tcar *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->name[i]);
        free(c->value[i]);
    }
    c->n = 0;
}

/* The value of the first line named `name` (case-insensitive), or NULL. */
static inline const char *tcar_find(const tcar *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcasecmp(c->name[i], name) == 0)
            return c->value[i];
    return NULL;
}

static inline const char *tcar_get(void *ud, const char *name, size_t *len)
{
    const char *v = tcar_find(ud, name);
    if (v && len)
        *len = strlen(v);
    return v;
}

static inline size_t tcar_get_all(void *ud, const char *name, const char **vals, size_t *lens,
                                  size_t max)
{
    tcar *c = ud;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (strcasecmp(c->name[i], name) != 0)
            continue;
        if (k < max) {
            vals[k] = c->value[i];
            lens[k] = strlen(c->value[i]);
        }
        k++;
    }
    return k;
}

static inline int tcar_set(void *ud, const char *name, const char *value)
{
    tcar *c = ud;
    if (c->fail_set)
        return c->fail_set;
    for (size_t i = 0; i < c->n; i++) {
        if (strcasecmp(c->name[i], name) == 0) {
            free(c->value[i]);
            c->value[i] = strdup(value);
            return 0;
        }
    }
    tcar_add(c, name, value);
    return 0;
}

static inline void tcar_foreach(void *ud, tel_carrier_visit_fn visit, void *arg)
{
    tcar *c = ud;
    for (size_t i = 0; i < c->n; i++)
        if (visit(arg, c->name[i], strlen(c->name[i]), c->value[i], strlen(c->value[i])))
            return;
}

static inline tel_carrier tcar_carrier(tcar *c)
{
    return (tel_carrier){.ud = c, .get = tcar_get, .get_all = tcar_get_all, .set = tcar_set,
                         .foreach = tcar_foreach};
}

#endif
