/* tel_carrier over gRPC metadata arrays (see core/grpc_meta.h). */
#include "core/grpc_meta.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

static inline unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* ASCII case-insensitive equality (keys are ASCII: what strncasecmp does for them, without
 * the locale lookups). */
static bool key_eq(grpc_slice k, const char *name, size_t name_len)
{
    if (GRPC_SLICE_LENGTH(k) != name_len) return false;
    const unsigned char *a = GRPC_SLICE_START_PTR(k), *b = (const unsigned char *)name;
    for (size_t i = 0; i < name_len; i++)
        if (a[i] != b[i] && ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

static bool is_bin_key(grpc_slice k)
{
    size_t n = GRPC_SLICE_LENGTH(k);
    return n >= 4 && memcmp(GRPC_SLICE_START_PTR(k) + n - 4, "-bin", 4) == 0;
}

static const char *md_get(const grpc_metadata *md, size_t count, const char *name, size_t *len,
                          bool text_only)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < count; i++) {
        if (key_eq(md[i].key, name, nl) && !(text_only && is_bin_key(md[i].key))) {
            *len = GRPC_SLICE_LENGTH(md[i].value);
            return (const char *)GRPC_SLICE_START_PTR(md[i].value);
        }
    }
    return NULL;
}

static size_t md_get_all(const grpc_metadata *md, size_t count, const char *name, const char **vals,
                         size_t *lens, size_t max)
{
    size_t nl = strlen(name), found = 0;
    for (size_t i = 0; i < count; i++) {
        if (!key_eq(md[i].key, name, nl) || is_bin_key(md[i].key)) continue;
        if (found < max) {
            vals[found] = (const char *)GRPC_SLICE_START_PTR(md[i].value);
            lens[found] = GRPC_SLICE_LENGTH(md[i].value);
        }
        found++;
    }
    return found;
}

static void md_foreach(const grpc_metadata *md, size_t count, tel_carrier_visit_fn visit, void *arg)
{
    for (size_t i = 0; i < count; i++) {
        if (is_bin_key(md[i].key)) continue;
        if (visit(arg, (const char *)GRPC_SLICE_START_PTR(md[i].key), GRPC_SLICE_LENGTH(md[i].key),
                  (const char *)GRPC_SLICE_START_PTR(md[i].value), GRPC_SLICE_LENGTH(md[i].value)))
            return;
    }
}

/* ---- reader ---- */

static const char *r_get(void *ud, const char *name, size_t *len)
{
    const grpc_metadata_array *a = ud;
    return md_get(a->metadata, a->count, name, len, true);
}

static size_t r_get_all(void *ud, const char *name, const char **vals, size_t *lens, size_t max)
{
    const grpc_metadata_array *a = ud;
    return md_get_all(a->metadata, a->count, name, vals, lens, max);
}

static int r_set(void *ud, const char *name, const char *value)
{
    return CORE_EINVAL;
}

static void r_foreach(void *ud, tel_carrier_visit_fn visit, void *arg)
{
    const grpc_metadata_array *a = ud;
    md_foreach(a->metadata, a->count, visit, arg);
}

void core_grpc_meta_reader(tel_carrier *c, const grpc_metadata_array *md)
{
    c->ud = (void *)md;
    c->get = r_get;
    c->get_all = r_get_all;
    c->set = r_set;
    c->foreach = r_foreach;
}

const char *core_grpc_meta_get(const grpc_metadata_array *md, const char *key, size_t *len)
{
    size_t l;
    const char *v = md_get(md->metadata, md->count, key, &l, false);
    if (len) *len = v ? l : 0;
    return v;
}

/* ---- writer ---- */

void core_grpc_meta_writer_init(core_grpc_meta_writer *w)
{
    w->md = w->inline_md;
    w->n = 0;
    w->cap = CORE_GRPC_META_INLINE;
    w->arena_used = 0;
}

void core_grpc_meta_writer_cleanup(core_grpc_meta_writer *w)
{
    for (size_t i = 0; i < w->n; i++) {
        grpc_slice_unref(w->md[i].key);
        grpc_slice_unref(w->md[i].value);
    }
    if (w->md != w->inline_md) free(w->md);
    w->md = w->inline_md;
    w->n = 0;
    w->cap = CORE_GRPC_META_INLINE;
    w->arena_used = 0;
}

/* grpc_header_key_is_legal for a non-empty key: [a-z0-9-_.] only (without building the
 * absl::Status the core's check makes). */
static inline bool key_char_legal(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* grpc_header_nonbin_value_is_legal: every byte in 0x20..0x7e; eight bytes at a time. */
static bool nonbin_value_legal(const char *v, size_t len)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, v + i, 8);
        /* a byte >= 0x80, < 0x20 (x - 0x20 borrows) or == 0x7f (x + 1 carries into bit 7) */
        if (((x | (x - ones * 0x20) | (x + ones)) & highs) != 0) return false;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
}

/* The trace context keys the propagators write, as literals (static slices: no copy). Their
 * length is checked first, then the text. */
static const char *static_key(const char *k, size_t len)
{
    switch (len) {
    case 11: return memcmp(k, "traceparent", 11) == 0 ? "traceparent" : NULL;
    case 10: return memcmp(k, "tracestate", 10) == 0 ? "tracestate" : NULL;
    case 7: return memcmp(k, "baggage", 7) == 0 ? "baggage" : NULL;
    default: return NULL;
    }
}

static bool reserved_key(const char *k)
{
    return k[0] == ':' || strncmp(k, "grpc-", 5) == 0 || strcmp(k, "te") == 0 ||
           strcmp(k, "content-type") == 0 || strcmp(k, "user-agent") == 0;
}

/* The key of a new entry: a static slice for the trace context keys, else lk[0..kl) copied. */
static grpc_slice key_slice(const char *lk, size_t kl)
{
    const char *sk = static_key(lk, kl);
    return sk ? grpc_slice_from_static_buffer(sk, kl) : grpc_slice_from_copied_buffer(lk, kl);
}

/* A copy of value[0..len): inline in the slice when short, else in the writer's arena (a static
 * slice: the writer outlives the call's use of it), else on the heap. */
static grpc_slice value_slice(core_grpc_meta_writer *w, const char *value, size_t len)
{
    if (len > GRPC_SLICE_INLINED_SIZE && len <= sizeof w->arena - w->arena_used) {
        char *dst = w->arena + w->arena_used;
        memcpy(dst, value, len);
        w->arena_used += len;
        return grpc_slice_from_static_buffer(dst, len);
    }
    return grpc_slice_from_copied_buffer(value ? value : "", len);
}

int core_grpc_meta_writer_setn(core_grpc_meta_writer *w, const char *key, const char *value,
                               size_t len)
{
    if (!w || !key || (!value && len)) return CORE_EINVAL;
    char lk[256];
    size_t kl = strlen(key);
    if (kl == 0 || kl >= sizeof lk) return CORE_EINVAL;
    /* The propagators' keys, already lowercase and legal, skip the key checks. */
    const char *sk = static_key(key, kl);
    bool legal = true;
    if (sk) {
        memcpy(lk, sk, kl + 1);
    } else {
        for (size_t i = 0; i < kl; i++) {
            unsigned char c = ascii_lower((unsigned char)key[i]);
            lk[i] = (char)c;
            legal &= key_char_legal(c);
        }
        lk[kl] = '\0';
        if (reserved_key(lk)) return CORE_EINVAL;
        if (!legal) return CORE_EINVAL;
    }
    bool bin = kl >= 4 && memcmp(lk + kl - 4, "-bin", 4) == 0;
    if (!bin && !nonbin_value_legal(value ? value : "", len)) return CORE_EINVAL;
    for (size_t i = 0; i < w->n; i++) {
        if (key_eq(w->md[i].key, lk, kl)) {
            grpc_slice_unref(w->md[i].value);
            w->md[i].value = value_slice(w, value, len);
            return CORE_OK;
        }
    }
    if (w->n == w->cap) {
        size_t ncap = w->cap * 2;
        grpc_metadata *nm = malloc(ncap * sizeof *nm);
        if (!nm) return CORE_ENOMEM;
        memcpy(nm, w->md, w->n * sizeof *nm);
        if (w->md != w->inline_md) free(w->md);
        w->md = nm;
        w->cap = ncap;
    }
    grpc_metadata *m = &w->md[w->n++];
    memset(m, 0, sizeof *m);
    m->key = key_slice(lk, kl);
    m->value = value_slice(w, value, len);
    return CORE_OK;
}

int core_grpc_meta_writer_set(core_grpc_meta_writer *w, const char *key, const char *value)
{
    if (!value) return CORE_EINVAL;
    return core_grpc_meta_writer_setn(w, key, value, strlen(value));
}

static const char *w_get(void *ud, const char *name, size_t *len)
{
    const core_grpc_meta_writer *w = ud;
    return md_get(w->md, w->n, name, len, true);
}

static size_t w_get_all(void *ud, const char *name, const char **vals, size_t *lens, size_t max)
{
    const core_grpc_meta_writer *w = ud;
    return md_get_all(w->md, w->n, name, vals, lens, max);
}

static int w_set(void *ud, const char *name, const char *value)
{
    return core_grpc_meta_writer_set(ud, name, value);
}

static void w_foreach(void *ud, tel_carrier_visit_fn visit, void *arg)
{
    const core_grpc_meta_writer *w = ud;
    md_foreach(w->md, w->n, visit, arg);
}

void core_grpc_meta_writer_carrier(tel_carrier *c, core_grpc_meta_writer *w)
{
    c->ud = w;
    c->get = w_get;
    c->get_all = w_get_all;
    c->set = w_set;
    c->foreach = w_foreach;
}
