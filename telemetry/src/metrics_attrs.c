/* Attribute sets of metric series: order-independent hashing, the key hash cache, comparison,
 * normalisation (invalid keys, repeated keys, secrets policy) and deep copies. */
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"
#include "telemetry/redact.h"

tel__kcache_entry tel__kcache[TEL__KCACHE_SIZE];

uint64_t tel__key_hash_text(const char *key)
{
    if (!key)
        return 0; /* matches an empty cache entry, so NULL never needs the cache */
    uint64_t h = tel__hash_bytes(key, strlen(key), 0x6b6579u) & ~(uint64_t)1;
    tel_attr probe = {.key = key, .type = TEL_ATTR_INT};
    if (tel_redact_attr(&probe))
        h |= 1;
    return h;
}

uint64_t tel__key_hash_miss(const char *key)
{
    if (!key)
        return 0;
    uint64_t h = tel__key_hash_text(key);
    size_t i = (size_t)(((uintptr_t)key * 0x9e3779b97f4a7c15ull) >> 53);
    tel__kcache_entry *e = &tel__kcache[i];
    /* A reader may pair this key with another writer's hash if two threads fill the same entry
     * at once; it then misses the series and takes the slow path, which hashes from the text. */
    atomic_store_explicit(&e->hash, h, memory_order_relaxed);
    atomic_store_explicit(&e->key, key, memory_order_release);
    return h;
}

static uint64_t elem_hash(const tel_attr *a, uint32_t i)
{
    tel_attr el = tel_attr_array_element(a, i);
    return tel__value_hash(&el);
}

uint64_t tel__value_hash_slow(const tel_attr *a)
{
    switch (a->type) {
    case TEL_ATTR_STRING_ARRAY:
    case TEL_ATTR_BOOL_ARRAY:
    case TEL_ATTR_INT_ARRAY:
    case TEL_ATTR_DOUBLE_ARRAY: {
        uint64_t h = TEL__H3 ^ ((uint64_t)a->type << 32) ^ a->len;
        for (uint32_t i = 0; i < a->len; i++)
            h = tel__mix(h ^ elem_hash(a, i), TEL__H1);
        return h;
    }
    default:
        return TEL__H0;
    }
}

bool tel__attr_value_eq_slow(const tel_attr *x, const tel_attr *a)
{
    switch (a->type) {
    case TEL_ATTR_STRING_ARRAY:
    case TEL_ATTR_BOOL_ARRAY:
    case TEL_ATTR_INT_ARRAY:
    case TEL_ATTR_DOUBLE_ARRAY:
        if (x->len != a->len)
            return false;
        for (uint32_t i = 0; i < a->len; i++) {
            tel_attr ex = tel_attr_array_element(x, i), ea = tel_attr_array_element(a, i);
            if (!tel__attr_value_eq(&ex, &ea))
                return false;
        }
        return true;
    default:
        return true; /* TEL_ATTR_NONE never reaches a series */
    }
}

bool tel__series_match_unordered(const tel__series *s, const tel_attr *a, size_t n)
{
    if (s->n_attrs != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!a[i].key)
            return false;
        size_t j = 0;
        for (; j < s->n_attrs; j++)
            if (a[i].key == s->orig_keys[j] || strcmp(a[i].key, s->attrs[j].key) == 0)
                break;
        if (j == s->n_attrs)
            return false;
        if (!s->denied[j] && !tel__attr_value_eq(&s->attrs[j], &a[i]))
            return false;
    }
    /* Keys of a are unique only if the caller's were; a repeated key could pair two given
     * attributes with one stored attribute, so count distinct stored matches as well. */
    for (size_t j = 0; j < s->n_attrs; j++) {
        size_t i = 0;
        for (; i < n; i++)
            if (a[i].key == s->orig_keys[j] || strcmp(a[i].key, s->attrs[j].key) == 0)
                break;
        if (i == n)
            return false;
    }
    return true;
}

static bool valid_type(uint8_t t)
{
    return t >= TEL_ATTR_STRING && t <= TEL_ATTR_DOUBLE_ARRAY;
}

size_t tel__attrs_normalize(const tel_attr *a, size_t n, tel_attr *out, uint8_t *denied,
                            size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!a[i].key || !a[i].key[0] || !valid_type(a[i].type))
            continue;
        if (a[i].type == TEL_ATTR_STRING && !a[i].v.s)
            continue;
        if (a[i].type > TEL_ATTR_DOUBLE && a[i].len && !a[i].v.arr)
            continue;
        size_t j = 0;
        for (; j < k; j++)
            if (out[j].key == a[i].key || strcmp(out[j].key, a[i].key) == 0)
                break;
        if (j == k) {
            if (k == cap)
                continue;
            k++;
        }
        out[j] = a[i];
        denied[j] = (uint8_t)(tel__key_hash_text(a[i].key) & 1);
    }
    return k;
}

static size_t value_size(const tel_attr *a)
{
    switch (a->type) {
    case TEL_ATTR_STRING:
        return (size_t)a->len + 1;
    case TEL_ATTR_STRING_ARRAY: {
        size_t sz = sizeof(char *) * a->len;
        for (uint32_t i = 0; i < a->len; i++) {
            const char *s = ((const char *const *)a->v.arr)[i];
            sz += (s ? strlen(s) : 0) + 1;
        }
        return sz;
    }
    case TEL_ATTR_BOOL_ARRAY:
        return sizeof(bool) * a->len;
    case TEL_ATTR_INT_ARRAY:
        return sizeof(int64_t) * a->len;
    case TEL_ATTR_DOUBLE_ARRAY:
        return sizeof(double) * a->len;
    default:
        return 0;
    }
}

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

size_t tel__attrs_copy_size(const tel_attr *a, const uint8_t *denied, size_t n)
{
    size_t sz = 0;
    for (size_t i = 0; i < n; i++)
        sz += ALIGN8(strlen(a[i].key) + 1) + (denied[i] ? 0 : ALIGN8(value_size(&a[i])));
    return sz;
}

static char *put(char **mem, const void *p, size_t n, size_t reserve)
{
    char *d = *mem;
    if (n)
        memcpy(d, p, n);
    *mem += ALIGN8(reserve);
    return d;
}

void tel__attrs_copy(tel_attr *dst, const tel_attr *a, const uint8_t *denied, size_t n,
                     char **mem)
{
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(a[i].key);
        tel_attr d = a[i];
        d.key = put(mem, a[i].key, kl + 1, kl + 1);
        if (denied[i]) {
            /* The secret value is never copied: the stored value is the static "[REDACTED]". */
            if (!tel_redact_attr(&d)) { /* the policy changed since the key was looked up */
                d.type = TEL_ATTR_STRING;
                d.v.s = TEL_REDACTED;
                d.len = (uint32_t)strlen(TEL_REDACTED);
            }
            dst[i] = d;
            continue;
        }
        size_t vs = value_size(&a[i]);
        char *v = *mem;
        *mem += ALIGN8(vs);
        switch (a[i].type) {
        case TEL_ATTR_STRING:
            memcpy(v, a[i].v.s, a[i].len);
            v[a[i].len] = '\0';
            d.v.s = v;
            break;
        case TEL_ATTR_STRING_ARRAY: {
            char **arr = (char **)(void *)v;
            char *str = v + sizeof(char *) * a[i].len;
            for (uint32_t j = 0; j < a[i].len; j++) {
                const char *s = ((const char *const *)a[i].v.arr)[j];
                size_t sl = s ? strlen(s) : 0;
                if (sl)
                    memcpy(str, s, sl);
                str[sl] = '\0';
                arr[j] = str;
                str += sl + 1;
            }
            d.v.arr = arr;
            break;
        }
        case TEL_ATTR_BOOL_ARRAY:
        case TEL_ATTR_INT_ARRAY:
        case TEL_ATTR_DOUBLE_ARRAY:
            if (vs)
                memcpy(v, a[i].v.arr, vs);
            d.v.arr = v;
            break;
        default:
            break;
        }
        dst[i] = d;
    }
}
