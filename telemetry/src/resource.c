/* Resource detection from the environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telemetry/env.h"
#include "telemetry/resource.h"

#ifndef BMC_VERSION
#define BMC_VERSION "0.0.0"
#endif

/* A resource under construction: owned copies of keys and string values. */
typedef struct builder {
    tel_attr *attrs;
    size_t n, cap;
    bool failed;
} builder;

static void b_free_attr(tel_attr *a)
{
    free((char *)a->key);
    if (a->type == TEL_ATTR_STRING)
        free((char *)a->v.s);
}

static void b_put(builder *b, const tel_attr *src)
{
    if (b->failed)
        return;
    tel_attr a = *src;
    a.key = strdup(src->key);
    if (src->type == TEL_ATTR_STRING) {
        char *v = malloc(src->len + 1u);
        if (v) {
            memcpy(v, src->v.s, src->len);
            v[src->len] = '\0';
        }
        a.v.s = v;
    } else if (src->type != TEL_ATTR_BOOL && src->type != TEL_ATTR_INT &&
               src->type != TEL_ATTR_DOUBLE) {
        /* Resources hold scalars only. */
        free((char *)a.key);
        return;
    }
    if (!a.key || (a.type == TEL_ATTR_STRING && !a.v.s)) {
        b_free_attr(&a);
        b->failed = true;
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->attrs[i].key, a.key) == 0) {
            b_free_attr(&b->attrs[i]);
            b->attrs[i] = a;
            return;
        }
    }
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        tel_attr *na = realloc(b->attrs, ncap * sizeof *na);
        if (!na) {
            b_free_attr(&a);
            b->failed = true;
            return;
        }
        b->attrs = na;
        b->cap = ncap;
    }
    b->attrs[b->n++] = a;
}

static void b_str(builder *b, const char *key, const char *value)
{
    tel_attr a = {.key = key, .type = TEL_ATTR_STRING, .len = (uint32_t)strlen(value), .v.s = value};
    b_put(b, &a);
}

static tel_resource *b_finish(builder *b)
{
    tel_resource *r = b->failed ? NULL : calloc(1, sizeof *r);
    if (!r) {
        for (size_t i = 0; i < b->n; i++)
            b_free_attr(&b->attrs[i]);
        free(b->attrs);
        return NULL;
    }
    r->attrs = b->attrs;
    r->n_attrs = b->n;
    return r;
}

tel_resource *tel_resource_create(const tel_attr *attrs, size_t n)
{
    builder b = {0};
    for (size_t i = 0; i < n; i++)
        b_put(&b, &attrs[i]);
    return b_finish(&b);
}

typedef struct kv_list {
    char **keys, **vals;
    size_t n, cap;
} kv_list;

static int collect_kv(const char *key, const char *value, void *ud)
{
    kv_list *l = ud;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        char **nk = realloc(l->keys, ncap * sizeof *nk);
        if (!nk)
            return TEL_ENOMEM;
        l->keys = nk;
        char **nv = realloc(l->vals, ncap * sizeof *nv);
        if (!nv)
            return TEL_ENOMEM;
        l->vals = nv;
        l->cap = ncap;
    }
    l->keys[l->n] = strdup(key);
    l->vals[l->n] = strdup(value);
    l->n++;
    return (l->keys[l->n - 1] && l->vals[l->n - 1]) ? 0 : TEL_ENOMEM;
}

static void kv_free(kv_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->keys[i]);
        free(l->vals[i]);
    }
    free(l->keys);
    free(l->vals);
}

tel_resource *tel_resource_from_env(const char *default_service_name, const char *service_version)
{
    builder b = {0};
    char host[256];
    b_str(&b, "telemetry.sdk.name", "bmcfleet-telemetry");
    b_str(&b, "telemetry.sdk.language", "c");
    b_str(&b, "telemetry.sdk.version", BMC_VERSION);
    if (gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        b_str(&b, "host.name", host);
    }
    tel_attr pid = {.key = "process.pid", .type = TEL_ATTR_INT, .v.i = (int64_t)getpid()};
    b_put(&b, &pid);
    b_str(&b, "service.version", service_version ? service_version : BMC_VERSION);

    kv_list l = {0};
    const char *env = tel_env_str("OTEL_RESOURCE_ATTRIBUTES");
    if (env) {
        int rc = tel_parse_kv_list(env, collect_kv, &l);
        if (rc != TEL_OK) {
            fprintf(stderr, "{\"level\":\"warn\",\"message\":\"OTEL_RESOURCE_ATTRIBUTES is "
                            "malformed and is ignored\"}\n");
            kv_free(&l);
            l = (kv_list){0};
        }
    }
    for (size_t i = 0; i < l.n; i++)
        b_str(&b, l.keys[i], l.vals[i]);
    kv_free(&l);

    const char *svc = tel_env_str("OTEL_SERVICE_NAME");
    if (svc)
        b_str(&b, "service.name", svc);
    else {
        bool have = false;
        for (size_t i = 0; i < b.n; i++)
            if (strcmp(b.attrs[i].key, "service.name") == 0)
                have = true;
        if (!have)
            b_str(&b, "service.name",
                  default_service_name ? default_service_name : "unknown_service");
    }
    return b_finish(&b);
}

const char *tel_resource_get_str(const tel_resource *r, const char *key)
{
    if (!r)
        return NULL;
    for (size_t i = 0; i < r->n_attrs; i++)
        if (r->attrs[i].type == TEL_ATTR_STRING && strcmp(r->attrs[i].key, key) == 0)
            return r->attrs[i].v.s;
    return NULL;
}

void tel_resource_destroy(tel_resource *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_attrs; i++)
        b_free_attr(&r->attrs[i]);
    free(r->attrs);
    free(r->schema_url);
    free(r);
}
