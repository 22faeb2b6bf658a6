/* W3C traceparent parsing and formatting (Trace Context levels 1 and 2). No allocation. */
#include "propagation_internal.h"

#define X 0x80
#define HEXROW_INVALID X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X
const uint8_t tel__hexval[256] = {
    HEXROW_INVALID, /* 0x00 */
    HEXROW_INVALID, /* 0x10 */
    HEXROW_INVALID, /* 0x20 */
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, X, X, X, X, X, X, /* 0x30 */
    X, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f, X, X, X, X, X, X, X, X, X, /* 0x40 */
    HEXROW_INVALID, /* 0x50 */
    X, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, X, X, X, X, X, X, X, X, X, /* 0x60 */
    HEXROW_INVALID, /* 0x70 */
    HEXROW_INVALID, HEXROW_INVALID, HEXROW_INVALID, HEXROW_INVALID, /* 0x80-0xbf */
    HEXROW_INVALID, HEXROW_INVALID, HEXROW_INVALID, HEXROW_INVALID, /* 0xc0-0xff */
};
#undef HEXROW_INVALID
#undef X

const char tel__hexdigits[16] = {'0', '1', '2', '3', '4', '5', '6', '7',
                                 '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};

bool tel__hex_decode_padded(const char *hex, size_t len, size_t n, uint8_t *out, bool any_case)
{
    if (len == 0 || len > 2 * n)
        return false;
    const uint8_t mask = any_case ? 0x80 : 0xc0;
    memset(out, 0, n);
    size_t o = n;
    size_t i = len;
    while (i > 0) {
        uint8_t lo = tel__hexval[(unsigned char)hex[--i]];
        if (lo & mask)
            return false;
        uint8_t b = lo & 0x0f;
        if (i > 0) {
            uint8_t hi = tel__hexval[(unsigned char)hex[--i]];
            if (hi & mask)
                return false;
            b |= (uint8_t)((hi & 0x0f) << 4);
        }
        out[--o] = b;
    }
    return true;
}

int tel_traceparent_parse(const char *s, size_t len, tel_span_context *out)
{
    if (TEL_UNLIKELY(s == NULL || out == NULL))
        return TEL_EINVAL;
    s = tel__trim_ows(s, &len);
    if (len < TEL_TRACEPARENT_LEN)
        return TEL_EINVAL;
    const unsigned char *u = (const unsigned char *)s;
    uint8_t v0 = tel__hexval[u[0]], v1 = tel__hexval[u[1]];
    if ((v0 | v1) & 0xc0)
        return TEL_EINVAL;
    unsigned version = (unsigned)(v0 << 4 | v1);
    if (version == 0xff)
        return TEL_EINVAL;
    /* Version 00 has exactly four fields; a later version may append "-..." fields. */
    if (len != TEL_TRACEPARENT_LEN && (version == 0 || s[TEL_TRACEPARENT_LEN] != '-'))
        return TEL_EINVAL;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return TEL_EINVAL;
    tel_span_context sc;
    uint8_t flags;
    if (!tel__hex_decode_lc(s + 3, TEL_TRACE_ID_SIZE, sc.trace_id) ||
        !tel__hex_decode_lc(s + 36, TEL_SPAN_ID_SIZE, sc.span_id) ||
        !tel__hex_decode_lc(s + 53, 1, &flags))
        return TEL_EINVAL;
    if (!tel__sc_valid(&sc))
        return TEL_EINVAL;
    /* Only the flags this version defines are kept; the others must be zero when sent on. */
    sc.flags = flags & (TEL_FLAG_SAMPLED | TEL_FLAG_RANDOM);
    sc.remote = true;
    *out = sc;
    return TEL_OK;
}

void tel_traceparent_format(const tel_span_context *sc, char out[TEL_TRACEPARENT_LEN + 1])
{
    uint8_t flags = sc->flags & (TEL_FLAG_SAMPLED | TEL_FLAG_RANDOM);
    out[0] = '0';
    out[1] = '0';
    out[2] = '-';
    tel__hex_encode(sc->trace_id, TEL_TRACE_ID_SIZE, out + 3);
    out[35] = '-';
    tel__hex_encode(sc->span_id, TEL_SPAN_ID_SIZE, out + 36);
    out[52] = '-';
    tel__hex_encode(&flags, 1, out + 53);
    out[55] = '\0';
}
