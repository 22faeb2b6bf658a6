/* Jaeger propagation: `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}` and
 * `uberctx-{key}: {value}` baggage headers. */
#include "propagation_internal.h"

#include <stdlib.h>
#include <strings.h>

#define UBERCTX "uberctx-"
#define UBERCTX_LEN 8

/* Finds the next field separator (':' or a percent-encoded "%3A"/"%3a") in s[0..len).
 * Returns its offset (len when none) and its length in *seplen. */
static size_t next_sep(const char *s, size_t len, size_t *seplen)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ':') {
            *seplen = 1;
            return i;
        }
        if (s[i] == '%' && i + 2 < len && s[i + 1] == '3' && (s[i + 2] == 'A' || s[i + 2] == 'a')) {
            *seplen = 3;
            return i;
        }
    }
    *seplen = 0;
    return len;
}

int tel_jaeger_parse(const char *s, size_t len, tel_span_context *out)
{
    if (TEL_UNLIKELY(s == NULL || out == NULL))
        return TEL_EINVAL;
    s = tel__trim_ows(s, &len);
    const char *f[4];
    size_t fl[4];
    size_t nf = 0;
    for (;;) {
        size_t seplen;
        size_t at = next_sep(s, len, &seplen);
        if (nf == 4)
            return TEL_EINVAL; /* more than four fields */
        f[nf] = s;
        fl[nf++] = at;
        if (seplen == 0)
            break;
        s += at + seplen;
        len -= at + seplen;
    }
    if (nf != 4)
        return TEL_EINVAL;
    tel_span_context sc;
    uint8_t parent[TEL_SPAN_ID_SIZE], flags;
    if (!tel__hex_decode_padded(f[0], fl[0], TEL_TRACE_ID_SIZE, sc.trace_id, true) ||
        !tel__hex_decode_padded(f[1], fl[1], TEL_SPAN_ID_SIZE, sc.span_id, true) ||
        !tel__hex_decode_padded(f[2], fl[2], TEL_SPAN_ID_SIZE, parent, true) ||
        !tel__hex_decode_padded(f[3], fl[3], 1, &flags, true) || !tel__sc_valid(&sc))
        return TEL_EINVAL;
    /* bit 0: sampled; bit 1: debug, which implies sampled. */
    sc.flags = (flags & 0x03) ? TEL_FLAG_SAMPLED : 0;
    sc.remote = true;
    *out = sc;
    return TEL_OK;
}

/* Decodes %XX escapes of a header value into out; a malformed escape is copied as is. */
static size_t lenient_decode(const char *v, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '%' && i + 2 < len) {
            uint8_t hi = tel__hexval[(unsigned char)v[i + 1]];
            uint8_t lo = tel__hexval[(unsigned char)v[i + 2]];
            if (!((hi | lo) & 0x80) && ((hi | lo) & 0x0f)) {
                out[o++] = (char)(((hi & 0x0f) << 4) | (lo & 0x0f));
                i += 2;
                continue;
            }
        }
        out[o++] = v[i];
    }
    return o;
}

typedef struct uberctx_acc {
    tel__bag_kv kv[TEL_BAGGAGE_MAX_MEMBERS];
    size_t n;
    size_t used;
    char buf[TEL_BAGGAGE_MAX_BYTES];
} uberctx_acc;

/* arg is a uberctx_acc **, allocated on the first uberctx-* header (none: no allocation). */
static int visit_uberctx(void *arg, const char *name, size_t name_len, const char *value,
                         size_t value_len)
{
    uberctx_acc **ap = arg;
    if (name_len <= UBERCTX_LEN || strncasecmp(name, UBERCTX, UBERCTX_LEN) != 0)
        return 0;
    if (!*ap) {
        *ap = malloc(sizeof **ap);
        if (!*ap)
            return 1;
        (*ap)->n = 0;
        (*ap)->used = 0;
    }
    uberctx_acc *a = *ap;
    if (a->n == TEL_BAGGAGE_MAX_MEMBERS)
        return 1;
    const char *key = name + UBERCTX_LEN;
    size_t klen = name_len - UBERCTX_LEN;
    if (!tel__is_token(key, klen))
        return 0;
    value = tel__trim_ows(value, &value_len);
    if (memchr(value, '\0', value_len))
        return 0;
    if (value_len > sizeof a->buf - a->used)
        return 0; /* over the byte limit: dropped */
    char *dst = a->buf + a->used;
    size_t dlen = lenient_decode(value, value_len, dst);
    a->used += dlen;
    a->kv[a->n++] = (tel__bag_kv){key, klen, dst, dlen, NULL, 0};
    return 0;
}

int tel__jaeger_extract(const tel_carrier *c, tel_span_context *sc, tel_baggage **bag)
{
    int rc = TEL_ENOTFOUND;
    if (!c)
        return rc;
    if (sc && c->get) {
        size_t len = 0;
        const char *v = c->get(c->ud, "uber-trace-id", &len);
        if (v)
            rc = tel_jaeger_parse(v, len, sc);
    }
    if (bag && c->foreach) {
        uberctx_acc *a = NULL;
        c->foreach(c->ud, visit_uberctx, &a);
        if (a && a->n > 0) {
            tel_baggage *nb = tel__baggage_merge(*bag, a->kv, a->n, NULL);
            if (nb) {
                tel_baggage_unref(*bag);
                *bag = nb;
            }
        }
        free(a);
    }
    return rc;
}

int tel__jaeger_inject(const tel_context *ctx, const tel_carrier *c)
{
    int first = TEL_OK;
    if (tel__sc_valid(&ctx->sc)) {
        char buf[32 + 1 + 16 + 3 + 2 + 1];
        tel__hex_encode(ctx->sc.trace_id, TEL_TRACE_ID_SIZE, buf);
        buf[32] = ':';
        tel__hex_encode(ctx->sc.span_id, TEL_SPAN_ID_SIZE, buf + 33);
        memcpy(buf + 49, ":0:", 3);
        buf[52] = (ctx->sc.flags & TEL_FLAG_SAMPLED) ? '1' : '0';
        buf[53] = '\0';
        first = c->set(c->ud, "uber-trace-id", buf);
    }
    size_t n = tel_baggage_count(ctx->bag);
    if (n == 0)
        return first;
    char name[128];
    char *val = malloc(3 * 4096 + 1);
    if (!val)
        return first ? first : TEL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        if (tel_baggage_entry(ctx->bag, i, &k, &v, NULL) != TEL_OK)
            break;
        size_t klen = strlen(k), vlen = strlen(v);
        if (klen + UBERCTX_LEN >= sizeof name || vlen > 4096)
            continue;
        memcpy(name, UBERCTX, UBERCTX_LEN);
        for (size_t j = 0; j < klen; j++) {
            char ch = k[j];
            name[UBERCTX_LEN + j] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        name[UBERCTX_LEN + klen] = '\0';
        size_t el = tel__baggage_encode_value(v, vlen, val, 3 * 4096);
        val[el] = '\0';
        int rc = c->set(c->ud, name, val);
        if (rc != TEL_OK && first == TEL_OK)
            first = rc;
    }
    free(val);
    return first;
}
