/* W3C Baggage: parsing (percent-decoding, properties, limits), the immutable reference-counted
 * entry set, and serialisation (percent-encoding, limits).
 *
 * Layout: one allocation holding the header, the entry table and the NUL-terminated strings
 * (key, decoded value, normalised properties) the entries point to. */
#include "propagation_internal.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct bag_entry {
    const char *key;
    const char *value;
    const char *props; /* NULL when none */
    uint32_t klen, vlen, plen;
} bag_entry;

struct tel_baggage {
    atomic_uint refs;
    uint32_t n;
    bag_entry e[];
};

/* A member on its way into a new baggage: pointers into the input or another baggage. */
typedef struct bspan {
    const char *k, *v, *p;
    uint32_t klen, vlen, plen;
    uint32_t dec_vlen;  /* value length once decoded */
    uint32_t norm_plen; /* properties length once normalised */
    uint32_t wire;      /* upper bound of the serialised member length (no comma) */
    bool v_encoded;     /* v is percent-encoded header text (else raw bytes) */
    bool p_raw;         /* p is header text to normalise (else already normal) */
} bspan;

/* ---- character classes ---- */

enum { C_TCHAR = 1, C_OCTET = 2 };

#define IS_TCHAR(c)                                                                                \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') ||    \
     (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' || (c) == '\'' ||          \
     (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' ||           \
     (c) == '`' || (c) == '|' || (c) == '~')
/* baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E */
#define IS_OCTET(c)                                                                                \
    ((c) == 0x21 || ((c) >= 0x23 && (c) <= 0x2b) || ((c) >= 0x2d && (c) <= 0x3a) ||               \
     ((c) >= 0x3c && (c) <= 0x5b) || ((c) >= 0x5d && (c) <= 0x7e))
#define CC(c) (uint8_t)((IS_TCHAR(c) ? C_TCHAR : 0) | (IS_OCTET(c) ? C_OCTET : 0))
#define CC4(c) CC(c), CC(c + 1), CC(c + 2), CC(c + 3)
#define CC16(c) CC4(c), CC4(c + 4), CC4(c + 8), CC4(c + 12)
#define CC64(c) CC16(c), CC16(c + 16), CC16(c + 32), CC16(c + 48)
static const uint8_t bclass[256] = {CC64(0), CC64(64), CC64(128), CC64(192)};
#undef CC64
#undef CC16
#undef CC4
#undef CC
#undef IS_OCTET
#undef IS_TCHAR

bool tel__is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(bclass[(unsigned char)s[i]] & C_TCHAR))
            return false;
    return true;
}

/* Validates a percent-encoded value: baggage-octets only, every '%' followed by two hex digits
 * that do not decode to NUL. Returns the decoded length or -1. */
static long value_check(const char *v, size_t len)
{
    size_t pct = 0;
    const unsigned char *u = (const unsigned char *)v;
    for (size_t i = 0; i < len; i++) {
        if (!(bclass[u[i]] & C_OCTET))
            return -1;
        if (u[i] == '%') {
            if (i + 2 >= len)
                return -1;
            uint8_t hi = tel__hexval[u[i + 1]], lo = tel__hexval[u[i + 2]];
            if ((hi | lo) & 0x80)
                return -1;
            if (((hi & 0x0f) | (lo & 0x0f)) == 0)
                return -1;
            i += 2;
            pct++;
        }
    }
    return (long)(len - 2 * pct);
}

static size_t value_decode(const char *v, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '%') {
            uint8_t hi = tel__hexval[(unsigned char)v[i + 1]];
            uint8_t lo = tel__hexval[(unsigned char)v[i + 2]];
            out[o++] = (char)(((hi & 0x0f) << 4) | (lo & 0x0f));
            i += 2;
        } else {
            out[o++] = v[i];
        }
    }
    return o;
}

size_t tel__baggage_encode_value(const char *v, size_t len, char *out, size_t cap)
{
    static const char HEX[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((bclass[c] & C_OCTET) && c != '%') {
            if (o < cap)
                out[o] = (char)c;
            o++;
        } else {
            if (o + 3 <= cap) {
                out[o] = '%';
                out[o + 1] = HEX[c >> 4];
                out[o + 2] = HEX[c & 0x0f];
            }
            o += 3;
        }
    }
    return o;
}

/* Normalises a property list ("p1 ; k = v;p2" -> "p1;k=v;p2"): each property is a token,
 * optionally followed by OWS "=" OWS value (baggage-octets, kept verbatim). Empty properties are
 * dropped. Writes into out when non-NULL. Returns the normalised length or -1 when invalid. */
static long props_normalize(const char *p, size_t len, char *out)
{
    size_t o = 0;
    const char *end = p + len;
    while (p <= end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *pend = semi ? semi : end;
        size_t plen = (size_t)(pend - p);
        const char *prop = tel__trim_ows(p, &plen);
        p = pend + 1;
        if (plen == 0)
            continue;
        const char *eq = memchr(prop, '=', plen);
        size_t klen = eq ? (size_t)(eq - prop) : plen;
        const char *k = tel__trim_ows(prop, &klen);
        if (!tel__is_token(k, klen))
            return -1;
        const char *v = NULL;
        size_t vlen = 0;
        if (eq) {
            vlen = plen - (size_t)(eq + 1 - prop);
            v = tel__trim_ows(eq + 1, &vlen);
            for (size_t i = 0; i < vlen; i++)
                if (!(bclass[(unsigned char)v[i]] & C_OCTET))
                    return -1;
        }
        if (out) {
            if (o)
                out[o] = ';';
            memcpy(out + o + (o ? 1 : 0), k, klen);
        }
        o += (o ? 1 : 0) + klen;
        if (eq) {
            if (out) {
                out[o] = '=';
                memcpy(out + o + 1, v, vlen);
            }
            o += 1 + vlen;
        }
    }
    return (long)o;
}

/* ---- building ---- */

static tel_baggage *bag_build(const bspan *sp, size_t n)
{
    size_t bytes = sizeof(tel_baggage) + n * sizeof(bag_entry);
    for (size_t i = 0; i < n; i++)
        bytes += sp[i].klen + 1 + sp[i].dec_vlen + 1 + (sp[i].p ? sp[i].norm_plen + 1 : 0);
    tel_baggage *b = malloc(bytes);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->n = (uint32_t)n;
    char *s = (char *)(b->e + n);
    for (size_t i = 0; i < n; i++) {
        bag_entry *e = &b->e[i];
        const bspan *x = &sp[i];
        e->key = s;
        e->klen = x->klen;
        memcpy(s, x->k, x->klen);
        s += x->klen;
        *s++ = '\0';
        e->value = s;
        e->vlen = x->dec_vlen;
        if (x->v_encoded)
            value_decode(x->v, x->vlen, s);
        else if (x->vlen)
            memcpy(s, x->v, x->vlen);
        s += x->dec_vlen;
        *s++ = '\0';
        if (x->p) {
            e->props = s;
            e->plen = x->norm_plen;
            if (x->p_raw)
                props_normalize(x->p, x->plen, s);
            else
                memcpy(s, x->p, x->plen);
            s += x->norm_plen;
            *s++ = '\0';
        } else {
            e->props = NULL;
            e->plen = 0;
        }
    }
    return b;
}

/* Collects the members of a new baggage. Keys are found through a small open-addressing hash
 * table so that a header with thousands of members costs linear time. */
#define BB_SLOTS 256 /* > TEL_BAGGAGE_MAX_MEMBERS; slot value = index + 1, 0 = empty */
typedef struct bag_builder {
    size_t n, bytes;
    uint8_t slot[BB_SLOTS];
    bspan sp[TEL_BAGGAGE_MAX_MEMBERS];
} bag_builder;

static void bb_init(bag_builder *bb)
{
    bb->n = 0;
    bb->bytes = 0;
    memset(bb->slot, 0, sizeof bb->slot);
}

static uint32_t key_hash(const char *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

/* Adds x, replacing an entry with the same key (the later value wins, keeping the earlier
 * position) and enforcing the member and byte limits. Returns false when x was dropped. */
static bool bb_add(bag_builder *bb, const bspan *x)
{
    uint32_t h = key_hash(x->k, x->klen) % BB_SLOTS;
    while (bb->slot[h]) {
        bspan *e = &bb->sp[bb->slot[h] - 1];
        if (e->klen == x->klen && memcmp(e->k, x->k, x->klen) == 0) {
            size_t nb = bb->bytes - e->wire + x->wire;
            if (nb > TEL_BAGGAGE_MAX_BYTES)
                return false;
            bb->bytes = nb;
            *e = *x;
            return true;
        }
        h = (h + 1) % BB_SLOTS;
    }
    if (bb->n >= TEL_BAGGAGE_MAX_MEMBERS)
        return false;
    size_t nb = bb->bytes + (bb->n ? 1 : 0) + x->wire;
    if (nb > TEL_BAGGAGE_MAX_BYTES)
        return false;
    bb->bytes = nb;
    bb->sp[bb->n] = *x;
    bb->slot[h] = (uint8_t)(bb->n + 1);
    bb->n++;
    return true;
}

static void span_from_entry(bspan *x, const bag_entry *e)
{
    *x = (bspan){.k = e->key, .klen = e->klen, .v = e->value, .vlen = e->vlen,
                 .dec_vlen = e->vlen, .p = e->props, .plen = e->plen, .norm_plen = e->plen};
    x->wire = (uint32_t)(e->klen + 1 + tel__baggage_encode_value(e->value, e->vlen, NULL, 0) +
                         (e->props ? 1 + e->plen : 0));
}

/* Parses one member (already trimmed, non-empty) into x. Returns false when invalid. */
static bool parse_member(const char *m, size_t len, bspan *x)
{
    const char *semi = memchr(m, ';', len);
    size_t kvlen = semi ? (size_t)(semi - m) : len;
    const char *eq = memchr(m, '=', kvlen);
    if (!eq)
        return false;
    size_t klen = (size_t)(eq - m);
    const char *k = tel__trim_ows(m, &klen);
    if (!tel__is_token(k, klen))
        return false;
    size_t vlen = kvlen - (size_t)(eq + 1 - m);
    const char *v = tel__trim_ows(eq + 1, &vlen);
    long dec = value_check(v, vlen);
    if (dec < 0)
        return false;
    *x = (bspan){.k = k, .klen = (uint32_t)klen, .v = v, .vlen = (uint32_t)vlen,
                 .dec_vlen = (uint32_t)dec, .v_encoded = true};
    size_t wire = klen + 1 + vlen;
    if (semi) {
        const char *p = semi + 1;
        size_t plen = len - kvlen - 1;
        long np = props_normalize(p, plen, NULL);
        if (np < 0)
            return false;
        if (np > 0) {
            x->p = p;
            x->plen = (uint32_t)plen;
            x->norm_plen = (uint32_t)np;
            x->p_raw = true;
            wire += 1 + (size_t)np;
        }
    }
    if (wire > TEL_BAGGAGE_MAX_BYTES)
        return false;
    x->wire = (uint32_t)wire;
    return true;
}

tel_baggage *tel_baggage_parse(const char *const *values, const size_t *lens, size_t n)
{
    bag_builder bb;
    bb_init(&bb);
    if (!values)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *p = values[i];
        if (!p)
            continue;
        size_t plen = lens ? lens[i] : strlen(p);
        const char *end = p + plen;
        while (p <= end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *mend = comma ? comma : end;
            size_t mlen = (size_t)(mend - p);
            const char *m = tel__trim_ows(p, &mlen);
            p = mend + 1;
            if (mlen == 0)
                continue;
            bspan x;
            if (!parse_member(m, mlen, &x))
                continue; /* an invalid member is skipped; the rest is kept */
            bb_add(&bb, &x);
        }
    }
    if (bb.n == 0)
        return NULL;
    return bag_build(bb.sp, bb.n);
}

tel_baggage *tel__baggage_merge(const tel_baggage *base, const tel__bag_kv *kv, size_t n,
                                int *err)
{
    bag_builder bb;
    bb_init(&bb);
    bool dropped = false;
    if (base) {
        for (size_t i = 0; i < base->n; i++) {
            bspan x;
            span_from_entry(&x, &base->e[i]);
            bb_add(&bb, &x);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const tel__bag_kv *e = &kv[i];
        bspan x = {.k = e->key, .klen = (uint32_t)e->key_len, .v = e->value,
                   .vlen = (uint32_t)e->value_len, .dec_vlen = (uint32_t)e->value_len};
        if (e->props && e->props_len) {
            x.p = e->props;
            x.plen = (uint32_t)e->props_len;
            x.norm_plen = (uint32_t)e->props_len;
        }
        size_t wire = e->key_len + 1 +
                      tel__baggage_encode_value(e->value, e->value_len, NULL, 0) +
                      (x.p ? 1 + x.plen : 0);
        if (wire > TEL_BAGGAGE_MAX_BYTES) {
            dropped = true;
            continue;
        }
        x.wire = (uint32_t)wire;
        if (!bb_add(&bb, &x))
            dropped = true;
    }
    if (err)
        *err = dropped ? TEL_ETOOBIG : TEL_OK;
    if (bb.n == 0)
        return NULL;
    tel_baggage *b = bag_build(bb.sp, bb.n);
    if (!b && err)
        *err = TEL_ENOMEM;
    return b;
}

tel_baggage *tel_baggage_set(const tel_baggage *b, const char *key, const char *value,
                             const char *properties)
{
    if (!key || !value)
        return NULL;
    size_t klen = strlen(key);
    if (!tel__is_token(key, klen))
        return NULL;
    size_t vlen = strlen(value);
    char pbuf[1024];
    char *pnorm = NULL;
    long np = 0;
    if (properties) {
        size_t plen = strlen(properties);
        np = props_normalize(properties, plen, NULL);
        if (np < 0)
            return NULL;
        if (np > 0) {
            pnorm = (size_t)np < sizeof pbuf ? pbuf : malloc((size_t)np);
            if (!pnorm)
                return NULL;
            props_normalize(properties, plen, pnorm);
        }
    }
    tel__bag_kv kv = {key, klen, value, vlen, pnorm, (size_t)np};
    int err;
    tel_baggage *r = tel__baggage_merge(b, &kv, 1, &err);
    if (pnorm && pnorm != pbuf)
        free(pnorm);
    if (err != TEL_OK) { /* the entry would break the limits */
        tel_baggage_unref(r);
        return NULL;
    }
    return r;
}

tel_baggage *tel_baggage_remove(const tel_baggage *b, const char *key)
{
    if (!b || !key)
        return NULL;
    bag_builder bb;
    bb_init(&bb);
    size_t klen = strlen(key);
    for (size_t i = 0; i < b->n; i++) {
        if (b->e[i].klen == klen && memcmp(b->e[i].key, key, klen) == 0)
            continue;
        bspan x;
        span_from_entry(&x, &b->e[i]);
        bb_add(&bb, &x);
    }
    if (bb.n == 0)
        return NULL;
    return bag_build(bb.sp, bb.n);
}

const char *tel_baggage_get(const tel_baggage *b, const char *key)
{
    if (!b || !key)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < b->n; i++)
        if (b->e[i].klen == klen && memcmp(b->e[i].key, key, klen) == 0)
            return b->e[i].value;
    return NULL;
}

size_t tel_baggage_count(const tel_baggage *b)
{
    return b ? b->n : 0;
}

int tel_baggage_entry(const tel_baggage *b, size_t i, const char **key, const char **value,
                      const char **properties)
{
    if (!b || i >= b->n)
        return TEL_ENOTFOUND;
    if (key)
        *key = b->e[i].key;
    if (value)
        *value = b->e[i].value;
    if (properties)
        *properties = b->e[i].props;
    return TEL_OK;
}

int tel_baggage_format(const tel_baggage *b, char *buf, size_t cap)
{
    if (buf && cap)
        buf[0] = '\0';
    if (!b || b->n == 0)
        return 0;
    if (!buf || cap == 0)
        return TEL_ETOOBIG;
    size_t o = 0, members = 0;
    for (size_t i = 0; i < b->n && members < TEL_BAGGAGE_MAX_MEMBERS; i++) {
        const bag_entry *e = &b->e[i];
        size_t venc = tel__baggage_encode_value(e->value, e->vlen, NULL, 0);
        size_t need = (o ? 1 : 0) + e->klen + 1 + venc + (e->props ? 1 + e->plen : 0);
        if (o + need > TEL_BAGGAGE_MAX_BYTES)
            continue; /* this member would break the byte limit; smaller later ones may fit */
        if (o + need + 1 > cap) {
            if (o == 0)
                return TEL_ETOOBIG;
            break;
        }
        if (o)
            buf[o++] = ',';
        memcpy(buf + o, e->key, e->klen);
        o += e->klen;
        buf[o++] = '=';
        o += tel__baggage_encode_value(e->value, e->vlen, buf + o, cap - o);
        if (e->props) {
            buf[o++] = ';';
            memcpy(buf + o, e->props, e->plen);
            o += e->plen;
        }
        members++;
    }
    buf[o] = '\0';
    return (int)o;
}

tel_baggage *tel_baggage_ref(tel_baggage *b)
{
    if (b)
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void tel_baggage_unref(tel_baggage *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}
