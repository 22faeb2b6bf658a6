/* Zipkin B3 propagation: the single `b3` header and the X-B3-* multi headers. No allocation. */
#include "propagation_internal.h"

/* Parses a 16- or 32-digit lowercase hex trace id (16 digits are left-padded with zeros). */
static bool parse_trace_id(const char *s, size_t len, uint8_t out[TEL_TRACE_ID_SIZE])
{
    if (len == 32)
        return tel__hex_decode_lc(s, TEL_TRACE_ID_SIZE, out);
    if (len == 16) {
        memset(out, 0, 8);
        return tel__hex_decode_lc(s, 8, out + 8);
    }
    return false;
}

static const char *field(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    const char *dash = memchr(s, '-', (size_t)(end - s));
    const char *fend = dash ? dash : end;
    *len = (size_t)(fend - s);
    *p = dash ? dash + 1 : NULL;
    return s;
}

int tel_b3_parse(const char *s, size_t len, tel_span_context *out)
{
    if (TEL_UNLIKELY(s == NULL || out == NULL))
        return TEL_EINVAL;
    s = tel__trim_ows(s, &len);
    if (len == 1)
        return (s[0] == '0' || s[0] == '1' || s[0] == 'd') ? TEL_ENOTFOUND : TEL_EINVAL;
    const char *end = s + len, *p = s;
    size_t tl, sl, fl = 0, pl = 0;
    const char *t = field(&p, end, &tl);
    if (!p)
        return TEL_EINVAL;
    const char *sp = field(&p, end, &sl);
    const char *f = NULL, *par = NULL;
    if (p) {
        f = field(&p, end, &fl);
        if (p) {
            par = field(&p, end, &pl);
            if (p) /* more than four fields */
                return TEL_EINVAL;
        }
    }
    tel_span_context sc;
    if (!parse_trace_id(t, tl, sc.trace_id) || sl != 16 ||
        !tel__hex_decode_lc(sp, TEL_SPAN_ID_SIZE, sc.span_id) || !tel__sc_valid(&sc))
        return TEL_EINVAL;
    sc.flags = 0;
    if (f) {
        if (fl != 1)
            return TEL_EINVAL;
        if (f[0] == '1' || f[0] == 'd')
            sc.flags = TEL_FLAG_SAMPLED;
        else if (f[0] != '0')
            return TEL_EINVAL;
    }
    if (par) {
        uint8_t parent[TEL_SPAN_ID_SIZE];
        if (pl != 16 || !tel__hex_decode_lc(par, TEL_SPAN_ID_SIZE, parent))
            return TEL_EINVAL;
    }
    sc.remote = true;
    *out = sc;
    return TEL_OK;
}

static const char *get_trimmed(const tel_carrier *c, const char *name, size_t *len)
{
    const char *v = c->get(c->ud, name, len);
    if (v)
        v = tel__trim_ows(v, len);
    return v;
}

static bool eq_lit(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(s, lit, n) == 0;
}

static int b3_extract_multi(const tel_carrier *c, tel_span_context *out)
{
    size_t tl = 0, sl = 0, fl = 0, dl = 0;
    const char *t = get_trimmed(c, "x-b3-traceid", &tl);
    const char *s = get_trimmed(c, "x-b3-spanid", &sl);
    if (!t || !s)
        return TEL_ENOTFOUND;
    tel_span_context sc;
    if (!parse_trace_id(t, tl, sc.trace_id) || sl != 16 ||
        !tel__hex_decode_lc(s, TEL_SPAN_ID_SIZE, sc.span_id) || !tel__sc_valid(&sc))
        return TEL_EINVAL;
    sc.flags = 0;
    const char *f = get_trimmed(c, "x-b3-sampled", &fl);
    if (f && (eq_lit(f, fl, "1") || eq_lit(f, fl, "true") || eq_lit(f, fl, "d")))
        sc.flags = TEL_FLAG_SAMPLED;
    const char *d = get_trimmed(c, "x-b3-flags", &dl);
    if (d && eq_lit(d, dl, "1")) /* debug implies sampled */
        sc.flags = TEL_FLAG_SAMPLED;
    sc.remote = true;
    *out = sc;
    return TEL_OK;
}

int tel__b3_extract(const tel_carrier *c, tel_span_context *sc)
{
    if (!c || !c->get)
        return TEL_ENOTFOUND;
    size_t len = 0;
    const char *v = c->get(c->ud, "b3", &len);
    if (v && tel_b3_parse(v, len, sc) == TEL_OK)
        return TEL_OK;
    return b3_extract_multi(c, sc);
}

int tel__b3_inject_single(const tel_span_context *sc, const tel_carrier *c)
{
    char buf[32 + 1 + 16 + 2 + 1];
    tel__hex_encode(sc->trace_id, TEL_TRACE_ID_SIZE, buf);
    buf[32] = '-';
    tel__hex_encode(sc->span_id, TEL_SPAN_ID_SIZE, buf + 33);
    buf[49] = '-';
    buf[50] = (sc->flags & TEL_FLAG_SAMPLED) ? '1' : '0';
    buf[51] = '\0';
    return c->set(c->ud, "b3", buf);
}

int tel__b3_inject_multi(const tel_span_context *sc, const tel_carrier *c)
{
    char t[33], s[17];
    tel__hex_encode(sc->trace_id, TEL_TRACE_ID_SIZE, t);
    t[32] = '\0';
    tel__hex_encode(sc->span_id, TEL_SPAN_ID_SIZE, s);
    s[16] = '\0';
    int rc = c->set(c->ud, "x-b3-traceid", t);
    if (rc == TEL_OK)
        rc = c->set(c->ud, "x-b3-spanid", s);
    if (rc == TEL_OK)
        rc = c->set(c->ud, "x-b3-sampled", (sc->flags & TEL_FLAG_SAMPLED) ? "1" : "0");
    return rc;
}
