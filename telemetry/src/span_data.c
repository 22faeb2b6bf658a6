/* Span records: the extra-block allocator, move, clone and release. */
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} chunk;

#define CHUNK_MIN 2048

static tel_span_extra *extra_get(tel_span_data *d)
{
    if (d->extra)
        return d->extra;
    tel_span_extra *x = calloc(1, sizeof *x);
    d->extra = x;
    return x;
}

void *tel__span_extra_alloc(tel_span_data *d, size_t size)
{
    tel_span_extra *x = extra_get(d);
    if (!x)
        return NULL;
    size = (size + 15) & ~(size_t)15;
    chunk *c = x->chunks;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > CHUNK_MIN ? size : CHUNK_MIN;
        chunk *n = malloc(sizeof *n + cap);
        if (!n)
            return NULL;
        n->next = c;
        n->used = 0;
        n->cap = cap;
        x->chunks = n;
        c = n;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

const char *tel__span_copy_str(tel_span_data *d, const char *s, size_t len, bool arena_ok)
{
    if (arena_ok) {
        const char *c = tel__span_copy_str_arena(d, s, len);
        if (c)
            return c;
    }
    char *dst = tel__span_extra_alloc(d, len + 1);
    if (!dst)
        return NULL;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return dst;
}

bool tel__attr_copy_value(tel_span_data *d, tel_attr *dst, const tel_attr *src, uint32_t max_len,
                          bool arena_ok)
{
    dst->type = src->type;
    dst->len = src->len;
    switch (src->type) {
    case TEL_ATTR_STRING: {
        size_t n = tel__utf8_truncate(src->v.s, src->len, max_len);
        const char *c = tel__span_copy_str(d, src->v.s, n, arena_ok);
        if (!c)
            return false;
        dst->v.s = c;
        dst->len = (uint32_t)n;
        return true;
    }
    case TEL_ATTR_BOOL:
    case TEL_ATTR_INT:
    case TEL_ATTR_DOUBLE:
        dst->v = src->v;
        return true;
    case TEL_ATTR_BOOL_ARRAY:
    case TEL_ATTR_INT_ARRAY:
    case TEL_ATTR_DOUBLE_ARRAY: {
        size_t el = src->type == TEL_ATTR_BOOL_ARRAY ? sizeof(bool)
                    : src->type == TEL_ATTR_INT_ARRAY ? sizeof(int64_t)
                                                      : sizeof(double);
        void *a = tel__span_extra_alloc(d, el * src->len + 1);
        if (!a)
            return false;
        if (src->len)
            memcpy(a, src->v.arr, el * src->len);
        dst->v.arr = a;
        return true;
    }
    case TEL_ATTR_STRING_ARRAY: {
        const char *const *in = src->v.arr;
        const char **out = tel__span_extra_alloc(d, sizeof(char *) * (src->len + 1));
        if (!out)
            return false;
        for (uint32_t i = 0; i < src->len; i++) {
            const char *s = in[i] ? in[i] : "";
            size_t n = tel__utf8_truncate(s, strlen(s), max_len);
            out[i] = tel__span_copy_str(d, s, n, false);
            if (!out[i])
                return false;
        }
        dst->v.arr = out;
        return true;
    }
    default:
        return false;
    }
}

/* Whether p points into the arena that starts at base. */
static inline bool in_arena(const char *base, const void *p)
{
    return (uintptr_t)p - (uintptr_t)base < TEL_SPAN_ARENA;
}

/* p re-pointed from the arena at base to dst's arena (unchanged when outside it). Addresses are
 * compared as integers: base may be the arena of a record that has been reused since. */
static inline const char *rebase(const tel_span_data *dst, const char *base, const char *p)
{
    return in_arena(base, p) ? dst->arena + ((uintptr_t)p - (uintptr_t)base) : p;
}

/* Copies the used inline part of src into dst and re-points the strings that pointed into the
 * arena at base (src's own, or that of the record src was copied raw from) at dst's arena.
 * extra and ts are copied as pointers (the callers decide who owns them). */
static void copy_inline(tel_span_data *dst, const tel_span_data *src, const char *base)
{
    memcpy(dst, src, offsetof(tel_span_data, attrs));
    /* A loop beats a variable-length memcpy call for the few attributes a span has. */
    for (uint16_t i = 0; i < src->n_attrs; i++)
        dst->attrs[i] = src->attrs[i];
    if (src->arena_used) {
        memcpy(dst->arena, src->arena, src->arena_used);
        for (uint16_t i = 0; i < src->n_attrs; i++) {
            dst->attrs[i].key = rebase(dst, base, dst->attrs[i].key);
            if (dst->attrs[i].type == TEL_ATTR_STRING)
                dst->attrs[i].v.s = rebase(dst, base, dst->attrs[i].v.s);
        }
        dst->name = rebase(dst, base, dst->name);
        if (dst->status_msg)
            dst->status_msg = rebase(dst, base, dst->status_msg);
    }
}

void tel__span_data_move_raw(tel_span_data *dst, tel_span_data *src)
{
    memcpy(dst, src, offsetof(tel_span_data, attrs) + (size_t)src->n_attrs * sizeof(tel_attr));
    if (src->arena_used)
        memcpy(dst->arena, src->arena, src->arena_used);
    src->extra = NULL;
    src->ts = NULL;
}

void tel__span_data_take_rebased(tel_span_data *dst, const tel_span_data *src, const char *base)
{
    copy_inline(dst, src, base);
}

void tel__span_data_move_rebased(tel_span_data *dst, tel_span_data *src, const char *base)
{
    copy_inline(dst, src, base);
    src->extra = NULL;
    src->ts = NULL;
}

void tel_span_data_move(tel_span_data *dst, tel_span_data *src)
{
    tel__span_data_move_rebased(dst, src, src->arena);
}

void tel_span_data_release(tel_span_data *d)
{
    if (d->extra) {
        chunk *c = d->extra->chunks;
        while (c) {
            chunk *n = c->next;
            free(c);
            c = n;
        }
        free(d->extra);
        d->extra = NULL;
    }
    if (d->ts) {
        tel_tracestate_unref(d->ts);
        d->ts = NULL;
    }
}

static bool clone_attrs(tel_span_data *dst, const tel_attr *in, uint32_t n, tel_attr **out)
{
    if (n == 0) {
        *out = NULL;
        return true;
    }
    tel_attr *a = tel__span_extra_alloc(dst, sizeof(tel_attr) * n);
    if (!a)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        a[i].key = tel__span_copy_str(dst, in[i].key, strlen(in[i].key), false);
        if (!a[i].key || !tel__attr_copy_value(dst, &a[i], &in[i], 0, false))
            return false;
    }
    *out = a;
    return true;
}

bool tel__span_data_clone(tel_span_data *dst, const tel_span_data *src)
{
    copy_inline(dst, src, src->arena);
    dst->ts = tel_tracestate_ref(src->ts);
    dst->extra = NULL;
    /* Strings in src's extra block must not be shared: copy them. */
    for (uint16_t i = 0; i < dst->n_attrs; i++) {
        if (src->extra && !in_arena(dst->arena, dst->attrs[i].key)) {
            /* The key may live in src's extra block (copied dynamic keys). */
            const char *k = tel__span_copy_str(dst, src->attrs[i].key, strlen(src->attrs[i].key),
                                               false);
            if (!k)
                goto fail;
            dst->attrs[i].key = k;
        }
        if (dst->attrs[i].type == TEL_ATTR_STRING && !in_arena(dst->arena, dst->attrs[i].v.s) &&
            src->extra) {
            const char *c = tel__span_copy_str(dst, src->attrs[i].v.s, src->attrs[i].len, false);
            if (!c)
                goto fail;
            dst->attrs[i].v.s = c;
        } else if (dst->attrs[i].type >= TEL_ATTR_STRING_ARRAY) {
            if (!tel__attr_copy_value(dst, &dst->attrs[i], &src->attrs[i], 0, false))
                goto fail;
        }
    }
    if (src->name && !in_arena(src->arena, src->name)) {
        const char *c = tel__span_copy_str(dst, src->name, strlen(src->name), false);
        if (!c)
            goto fail;
        dst->name = c;
    }
    if (src->status_msg && !in_arena(src->arena, src->status_msg)) {
        const char *c = tel__span_copy_str(dst, src->status_msg, strlen(src->status_msg), false);
        if (!c)
            goto fail;
        dst->status_msg = c;
    }
    const tel_span_extra *x = src->extra;
    if (x) {
        tel_span_extra *y = extra_get(dst);
        if (!y)
            goto fail;
        if (!clone_attrs(dst, x->attrs, x->n_attrs, &y->attrs))
            goto fail;
        y->n_attrs = y->cap_attrs = x->n_attrs;
        if (x->n_events) {
            y->events = tel__span_extra_alloc(dst, sizeof(tel_event) * x->n_events);
            if (!y->events)
                goto fail;
            for (uint32_t i = 0; i < x->n_events; i++) {
                tel_event *e = &y->events[i];
                *e = x->events[i];
                e->name = tel__span_copy_str(dst, x->events[i].name, strlen(x->events[i].name),
                                             false);
                if (!e->name || !clone_attrs(dst, x->events[i].attrs, x->events[i].n_attrs,
                                             &e->attrs))
                    goto fail;
            }
            y->n_events = y->cap_events = x->n_events;
        }
        if (x->n_links) {
            y->links = tel__span_extra_alloc(dst, sizeof(tel_link) * x->n_links);
            if (!y->links)
                goto fail;
            for (uint32_t i = 0; i < x->n_links; i++) {
                tel_link *l = &y->links[i];
                *l = x->links[i];
                if (x->links[i].tracestate) {
                    l->tracestate = tel__span_copy_str(dst, x->links[i].tracestate,
                                                       strlen(x->links[i].tracestate), false);
                    if (!l->tracestate)
                        goto fail;
                }
                if (!clone_attrs(dst, x->links[i].attrs, x->links[i].n_attrs, &l->attrs))
                    goto fail;
            }
            y->n_links = y->cap_links = x->n_links;
        }
    }
    return true;
fail:
    tel_span_data_release(dst);
    return false;
}

void tel__span_data_dedupe(tel_span_data *d)
{
    uint16_t n = d->n_attrs;
    for (uint16_t i = 0; i + 1 < n; i++) {
        for (uint16_t j = i + 1; j < n; j++) {
            if (d->attrs[i].key != d->attrs[j].key && strcmp(d->attrs[i].key, d->attrs[j].key) == 0) {
                /* Keep the later value (set later) at the earlier position. */
                d->attrs[i] = d->attrs[j];
                memmove(&d->attrs[j], &d->attrs[j + 1], sizeof(tel_attr) * (size_t)(n - j - 1));
                n--;
                j--;
            }
        }
    }
    d->n_attrs = n;
}
