/* W3C tracestate: parsing, validation and the immutable reference-counted list.
 *
 * Layout: one allocation holding the header, the member table and the normalised string
 * ("k1=v1,k2=v2", NUL-terminated). Members point into the string by offset. */
#include "propagation_internal.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct ts_member {
    uint16_t off;  /* key offset in str */
    uint16_t klen; /* key length; the value starts at off + klen + 1 */
    uint16_t vlen;
} ts_member;

struct tel_tracestate {
    atomic_uint refs;
    uint16_t n;
    uint16_t len;
    ts_member m[]; /* n members, then the string */
};

typedef struct ts_span {
    const char *k;
    const char *v;
    uint16_t klen;
    uint16_t vlen;
} ts_span;

#define TS_KEY_MAX 256
#define TS_VALUE_MAX 256

/* Character classes. */
enum { C_KEY = 1, C_KEY_FIRST = 2, C_NBLK = 4, C_CHR = 8 };

/* The class table, computed at compile time. */
#define CC4(c) char_class_const(c), char_class_const(c + 1), char_class_const(c + 2), \
               char_class_const(c + 3)
#define char_class_const(c)                                                                        \
    (uint8_t)(((((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9')) ? (C_KEY | C_KEY_FIRST)  \
               : ((c) == '_' || (c) == '-' || (c) == '*' || (c) == '/' || (c) == '@') ? C_KEY      \
                                                                                       : 0) |      \
              (((c) >= 0x21 && (c) <= 0x7e && (c) != ',' && (c) != '=') ? (C_NBLK | C_CHR)        \
               : ((c) == 0x20)                                          ? C_CHR                    \
                                                                        : 0))
#define CC16(c) CC4(c), CC4(c + 4), CC4(c + 8), CC4(c + 12)
#define CC64(c) CC16(c), CC16(c + 16), CC16(c + 32), CC16(c + 48)
static const uint8_t cclass[256] = {CC64(0), CC64(64), CC64(128), CC64(192)};
#undef CC64
#undef CC16
#undef CC4
#undef char_class_const

bool tel__tracestate_key_valid(const char *key, size_t len)
{
    if (len == 0 || len > TS_KEY_MAX)
        return false;
    const unsigned char *k = (const unsigned char *)key;
    if (!(cclass[k[0]] & C_KEY_FIRST))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(cclass[k[i]] & C_KEY))
            return false;
    return true;
}

bool tel__tracestate_value_valid(const char *v, size_t len)
{
    if (len == 0 || len > TS_VALUE_MAX)
        return false;
    const unsigned char *u = (const unsigned char *)v;
    for (size_t i = 0; i + 1 < len; i++)
        if (!(cclass[u[i]] & C_CHR))
            return false;
    return (cclass[u[len - 1]] & C_NBLK) != 0;
}

static inline ts_member *ts_members(const tel_tracestate *ts)
{
    return (ts_member *)ts->m;
}

static inline char *ts_chars(const tel_tracestate *ts)
{
    return (char *)(ts_members(ts) + ts->n);
}

static tel_tracestate *ts_build(const ts_span *sp, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (i ? 1u : 0u) + sp[i].klen + 1u + sp[i].vlen;
    tel_tracestate *ts = malloc(sizeof *ts + n * sizeof(ts_member) + len + 1);
    if (!ts)
        return NULL;
    atomic_init(&ts->refs, 1);
    ts->n = (uint16_t)n;
    ts->len = (uint16_t)len;
    ts_member *m = ts_members(ts);
    char *str = ts_chars(ts);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            str[o++] = ',';
        m[i].off = (uint16_t)o;
        m[i].klen = sp[i].klen;
        m[i].vlen = sp[i].vlen;
        memcpy(str + o, sp[i].k, sp[i].klen);
        o += sp[i].klen;
        str[o++] = '=';
        memcpy(str + o, sp[i].v, sp[i].vlen);
        o += sp[i].vlen;
    }
    str[o] = '\0';
    return ts;
}

static bool span_has_key(const ts_span *sp, size_t n, const char *k, size_t klen)
{
    for (size_t i = 0; i < n; i++)
        if (sp[i].klen == klen && memcmp(sp[i].k, k, klen) == 0)
            return true;
    return false;
}

tel_tracestate *tel_tracestate_parse(const char *const *values, const size_t *lens, size_t n,
                                     int *err)
{
    ts_span sp[TEL_TRACESTATE_MAX_MEMBERS];
    size_t count = 0, raw = 0;
    int e = TEL_OK;
    if (values == NULL && n > 0)
        n = 0;
    for (size_t i = 0; i < n && e == TEL_OK; i++) {
        const char *p = values[i];
        if (p == NULL)
            continue;
        size_t plen = lens ? lens[i] : strlen(p);
        const char *end = p + plen;
        while (p <= end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *mend = comma ? comma : end;
            size_t mlen = (size_t)(mend - p);
            const char *mem = tel__trim_ows(p, &mlen);
            p = mend + 1;
            if (mlen == 0)
                continue; /* empty and whitespace-only members are allowed */
            if (++raw > TEL_TRACESTATE_MAX_MEMBERS) {
                e = TEL_EINVAL;
                break;
            }
            const char *eq = memchr(mem, '=', mlen);
            if (!eq) {
                e = TEL_EINVAL;
                break;
            }
            size_t klen = (size_t)(eq - mem), vlen = mlen - klen - 1;
            if (!tel__tracestate_key_valid(mem, klen) ||
                !tel__tracestate_value_valid(eq + 1, vlen)) {
                e = TEL_EINVAL;
                break;
            }
            /* A repeated key keeps its first (left-most) entry; the spec lets a vendor discard
             * duplicates, and the W3C test suite expects the entry to survive. */
            if (span_has_key(sp, count, mem, klen))
                continue;
            sp[count++] = (ts_span){mem, eq + 1, (uint16_t)klen, (uint16_t)vlen};
        }
    }
    tel_tracestate *ts = NULL;
    if (e == TEL_OK && count > 0) {
        ts = ts_build(sp, count);
        if (!ts)
            e = TEL_ENOMEM;
    }
    if (err)
        *err = e;
    return ts;
}

const char *tel_tracestate_str(const tel_tracestate *ts, size_t *len)
{
    if (!ts) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = ts->len;
    return ts_chars(ts);
}

size_t tel_tracestate_count(const tel_tracestate *ts)
{
    return ts ? ts->n : 0;
}

static int ts_find(const tel_tracestate *ts, const char *key, size_t klen)
{
    if (!ts)
        return -1;
    const ts_member *m = ts_members(ts);
    const char *str = ts_chars(ts);
    for (size_t i = 0; i < ts->n; i++)
        if (m[i].klen == klen && memcmp(str + m[i].off, key, klen) == 0)
            return (int)i;
    return -1;
}

const char *tel_tracestate_get(const tel_tracestate *ts, const char *key, size_t *len)
{
    if (!key)
        return NULL;
    size_t klen = strlen(key);
    int i = ts_find(ts, key, klen);
    if (i < 0)
        return NULL;
    const ts_member *m = &ts_members(ts)[i];
    if (len)
        *len = m->vlen;
    return ts_chars(ts) + m->off + m->klen + 1;
}

int tel_tracestate_entry(const tel_tracestate *ts, size_t i, const char **key, size_t *klen,
                         const char **value, size_t *vlen)
{
    if (!ts || i >= ts->n)
        return TEL_ENOTFOUND;
    const ts_member *m = &ts_members(ts)[i];
    const char *str = ts_chars(ts);
    if (key)
        *key = str + m->off;
    if (klen)
        *klen = m->klen;
    if (value)
        *value = str + m->off + m->klen + 1;
    if (vlen)
        *vlen = m->vlen;
    return TEL_OK;
}

/* Copies ts's members except `skip_key` into sp after `start` entries; returns the new count,
 * capped at TEL_TRACESTATE_MAX_MEMBERS. */
static size_t ts_copy_except(const tel_tracestate *ts, const char *skip, size_t skip_len,
                             ts_span *sp, size_t start)
{
    size_t n = start;
    if (!ts)
        return n;
    const ts_member *m = ts_members(ts);
    const char *str = ts_chars(ts);
    for (size_t i = 0; i < ts->n && n < TEL_TRACESTATE_MAX_MEMBERS; i++) {
        const char *k = str + m[i].off;
        if (m[i].klen == skip_len && memcmp(k, skip, skip_len) == 0)
            continue;
        sp[n++] = (ts_span){k, k + m[i].klen + 1, m[i].klen, m[i].vlen};
    }
    return n;
}

tel_tracestate *tel_tracestate_set(const tel_tracestate *ts, const char *key, const char *value)
{
    if (!key || !value)
        return NULL;
    size_t klen = strlen(key), vlen = strlen(value);
    if (!tel__tracestate_key_valid(key, klen) || !tel__tracestate_value_valid(value, vlen))
        return NULL;
    ts_span sp[TEL_TRACESTATE_MAX_MEMBERS];
    sp[0] = (ts_span){key, value, (uint16_t)klen, (uint16_t)vlen};
    size_t n = ts_copy_except(ts, key, klen, sp, 1);
    return ts_build(sp, n);
}

tel_tracestate *tel_tracestate_remove(const tel_tracestate *ts, const char *key)
{
    if (!ts || !key)
        return NULL;
    ts_span sp[TEL_TRACESTATE_MAX_MEMBERS];
    size_t n = ts_copy_except(ts, key, strlen(key), sp, 0);
    if (n == 0)
        return NULL;
    return ts_build(sp, n);
}

tel_tracestate *tel_tracestate_ref(tel_tracestate *ts)
{
    if (ts)
        atomic_fetch_add_explicit(&ts->refs, 1, memory_order_relaxed);
    return ts;
}

void tel_tracestate_unref(tel_tracestate *ts)
{
    if (ts && atomic_fetch_sub_explicit(&ts->refs, 1, memory_order_acq_rel) == 1)
        free(ts);
}
