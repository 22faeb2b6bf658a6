/* Fuzzes the Prometheus exposition's name sanitising and escaping, and whole renderings.
 *
 * Input: byte 0 selects the metric type and flags; the rest is split at NUL bytes into metric
 * name, unit, description, label key, label value, scope name (missing fields are empty).
 * Invariants (abort on violation):
 *   - family names match [a-zA-Z_:][a-zA-Z0-9_:]* without "__", counters end in _total, the
 *     reported unit suffix is a '_'-separated suffix of the name before _total;
 *   - label names match [a-zA-Z_][a-zA-Z0-9_]* without "__";
 *   - escaped label values and HELP texts are valid UTF-8 with no raw newline, only the escapes
 *     \\ \" \n, no bare '"' in label values, and unescape to the input when it was valid UTF-8;
 *   - both renderings (0.0.4 and OpenMetrics) of a metric made of these fields parse line by
 *     line with a small grammar checker (metadata lines, samples with label sets, values,
 *     OpenMetrics exemplars, a final # EOF). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(s + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

static bool name_ok(const uint8_t *s, size_t n, bool colon)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
        if (c == '_' && i > 0 && s[i - 1] == '_')
            return false;
    }
    return true;
}

/* Checks an escaped string (up to the closing quote when quoted) and unescapes it into out.
 * Returns the bytes consumed, or 0 on a violation. */
static size_t check_escaped(const uint8_t *s, size_t n, bool quoted, tel_buf *out)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (quoted && c == '"')
            return i + 1;
        if (c == '\n')
            return 0;
        if (c == '\\') {
            if (i + 1 >= n)
                return 0;
            uint8_t e = s[i + 1];
            char u = e == 'n' ? '\n' : e == '\\' ? '\\' : e == '"' ? '"' : 0;
            if (!u)
                return 0;
            if (out)
                tel_buf_append(out, &u, 1);
            i += 2;
            continue;
        }
        size_t l = utf8_len(s + i, n - i);
        if (!l)
            return 0;
        if (out)
            tel_buf_append(out, s + i, l);
        i += l;
    }
    return quoted ? 0 : n;
}

/* `{name="value",...}` starting at s[0] == '{'. Returns bytes consumed or 0. */
static size_t check_labels(const uint8_t *s, size_t n)
{
    size_t i = 1;
    if (i < n && s[i] == '}')
        return 2;
    for (;;) {
        size_t st = i;
        while (i < n && s[i] != '=')
            i++;
        if (i >= n || !name_ok(s + st, i - st, false))
            return 0;
        i++;
        if (i >= n || s[i] != '"')
            return 0;
        i++;
        size_t used = check_escaped(s + i, n - i, true, NULL);
        if (!used)
            return 0;
        i += used;
        if (i >= n)
            return 0;
        if (s[i] == '}')
            return i + 1;
        if (s[i] != ',')
            return 0;
        i++;
    }
}

static bool value_ok(const char *s, size_t n)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") || !strcmp(buf, "NaN"))
        return true;
    char *end;
    strtod(buf, &end);
    return *end == '\0' && strpbrk(buf, "nN") == NULL;
}

static void check_line(const uint8_t *l, size_t n, bool om)
{
    if (n >= 2 && l[0] == '#') {
        if (n == 5 && memcmp(l, "# EOF", 5) == 0)
            return;
        if (n < 7 || l[1] != ' ')
            abort();
        const uint8_t *kw = l + 2;
        bool help = memcmp(kw, "HELP ", 5) == 0, type = memcmp(kw, "TYPE ", 5) == 0,
             unit = om && memcmp(kw, "UNIT ", 5) == 0;
        if (!help && !type && !unit)
            abort();
        const uint8_t *nm = l + 7;
        const uint8_t *sp = memchr(nm, ' ', n - 7);
        if (!sp || !name_ok(nm, (size_t)(sp - nm), true))
            abort();
        const uint8_t *rest = sp + 1;
        size_t rn = n - (size_t)(rest - l);
        if (help && !check_escaped(rest, rn, false, NULL) && rn)
            abort();
        if (type) {
            static const char *const types[] = {"counter", "gauge", "histogram", "info"};
            bool ok = false;
            for (int i = 0; i < 4; i++)
                ok |= strlen(types[i]) == rn && memcmp(rest, types[i], rn) == 0;
            if (!ok)
                abort();
        }
        if (unit) { /* *metricname-char, and a '_'-separated suffix of the family name */
            for (size_t i = 0; i < rn; i++)
                if (!((rest[i] >= 'a' && rest[i] <= 'z') || (rest[i] >= 'A' && rest[i] <= 'Z') ||
                      (rest[i] >= '0' && rest[i] <= '9') || rest[i] == '_' || rest[i] == ':'))
                    abort();
            size_t nn = (size_t)(sp - nm);
            if (rn == 0 || nn <= rn || nm[nn - rn - 1] != '_' || memcmp(nm + nn - rn, rest, rn))
                abort();
        }
        return;
    }
    size_t i = 0;
    while (i < n && l[i] != '{' && l[i] != ' ')
        i++;
    if (!name_ok(l, i, true) || i >= n)
        abort();
    if (l[i] == '{') {
        size_t used = check_labels(l + i, n - i);
        if (!used)
            abort();
        i += used;
    }
    if (i >= n || l[i] != ' ')
        abort();
    i++;
    size_t vs = i;
    while (i < n && l[i] != ' ')
        i++;
    if (!value_ok((const char *)l + vs, i - vs))
        abort();
    if (i == n)
        return;
    /* An exemplar: only in OpenMetrics. */
    if (!om || n - i < 5 || memcmp(l + i, " # {", 4) != 0)
        abort();
    i += 3;
    size_t used = check_labels(l + i, n - i);
    if (!used)
        abort();
    i += used;
    if (i >= n || l[i] != ' ')
        abort();
    i++;
    vs = i;
    while (i < n && l[i] != ' ')
        i++;
    if (!value_ok((const char *)l + vs, i - vs) || i >= n)
        abort();
    if (!value_ok((const char *)l + i + 1, n - i - 1))
        abort();
}

static void check_rendering(const tel_buf *b, bool om)
{
    if (!valid_utf8(b->data, b->len))
        abort();
    if (b->len && b->data[b->len - 1] != '\n')
        abort();
    size_t start = 0;
    bool eof = false;
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] != '\n')
            continue;
        if (eof)
            abort(); /* nothing after # EOF */
        check_line(b->data + start, i - start, om);
        eof = i - start == 5 && memcmp(b->data + start, "# EOF", 5) == 0;
        start = i + 1;
    }
    if (om != eof)
        abort();
}

static void check_escape(const uint8_t *s, size_t n, bool help, bool om)
{
    tel_buf out = TEL_BUF_INIT, back = TEL_BUF_INIT;
    int rc = help ? tel__prom_escape_help(&out, (const char *)s, n, om)
                  : tel__prom_escape_value(&out, (const char *)s, n);
    if (rc != TEL_OK)
        abort();
    if (!valid_utf8(out.data, out.len) || (out.len && memchr(out.data, '\n', out.len)))
        abort();
    /* Label values: no bare quote; HELP of 0.0.4 keeps quotes raw, so unescape loosely. */
    for (size_t i = 0; i < out.len; i++) {
        if (out.data[i] == '\\') {
            if (i + 1 >= out.len || !strchr("\\n\"", out.data[i + 1]))
                abort();
            if (out.data[i + 1] == '"' && help && !om)
                abort();
            i++;
        } else if (out.data[i] == '"' && (!help || om)) {
            abort();
        }
    }
    if (!help || om) {
        if (check_escaped(out.data, out.len, false, &back) != out.len && out.len)
            abort();
    } else {
        for (size_t i = 0; i < out.len; i++) {
            if (out.data[i] == '\\') {
                char u = out.data[i + 1] == 'n' ? '\n' : '\\';
                tel_buf_append(&back, &u, 1);
                i++;
            } else {
                tel_buf_append(&back, &out.data[i], 1);
            }
        }
    }
    if (valid_utf8(s, n) && (back.len != n || (n && memcmp(back.data, s, n) != 0)))
        abort();
    tel_buf_free(&out);
    tel_buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t sel = data[0];
    const char *field[6] = {"", "", "", "", "", ""};
    size_t flen[6] = {0};
    char *copy = malloc(size);
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    size_t f = 0, st = 0;
    for (size_t i = 0; i < size && f < 6; i++) {
        if (i == size - 1 || copy[i] == '\0') {
            field[f] = copy + st;
            flen[f] = i - st;
            f++;
            st = i + 1;
        }
    }

    /* Names. */
    static const tel_metric_type types[] = {TEL_METRIC_SUM, TEL_METRIC_GAUGE,
                                            TEL_METRIC_HISTOGRAM};
    tel_metric_type type = types[sel % 3];
    bool monotonic = sel & 4;
    bool counter = type == TEL_METRIC_SUM && monotonic;
    tel_buf b = TEL_BUF_INIT;
    size_t ul;
    if (tel__prom_family_name(&b, field[0], field[1], type, monotonic, true, &ul) != TEL_OK)
        abort();
    if (!name_ok(b.data, b.len, true))
        abort();
    size_t base = b.len;
    if (counter) {
        if (b.len < 6 || memcmp(b.data + b.len - 6, "_total", 6) != 0)
            abort();
        base -= 6;
    }
    if (ul && (ul >= base || b.data[base - ul - 1] != '_'))
        abort();
    b.len = 0;
    if (tel__prom_label_name(&b, field[3]) != TEL_OK || !name_ok(b.data, b.len, false))
        abort();
    tel_buf_free(&b);

    /* Escaping. */
    check_escape((const uint8_t *)field[4], flen[4], false, false);
    check_escape((const uint8_t *)field[2], flen[2], true, false);
    check_escape((const uint8_t *)field[2], flen[2], true, true);

    /* A whole rendering of one metric made of the fields. */
    static const double bounds[] = {-1, 0, 2.5, 1e300};
    uint64_t buckets[5] = {1, 2, 3, 4, 5};
    tel_attr attrs[2] = {{.key = field[3], .type = TEL_ATTR_STRING, .len = (uint32_t)flen[4],
                          .v.s = field[4]},
                         {.key = field[4], .type = TEL_ATTR_STRING, .len = (uint32_t)flen[3],
                          .v.s = field[3]}};
    tel_exemplar ex[2] = {{.time_ns = 1700000000123456789ull, .value.d = 2.0, .has_span = true},
                          {.time_ns = 5, .value.d = (sel & 8) ? -INFINITY : 1e301}};
    tel_metric_point pt = {.attrs = attrs,
                           .n_attrs = (sel & 16) ? 2 : 1,
                           .is_int = (sel & 32) != 0,
                           .count = 15,
                           .sum = (sel & 64) ? NAN : 3.5,
                           .has_min_max = true,
                           .min = (sel & 128) ? -1 : 0,
                           .max = 1e301,
                           .bucket_counts = buckets,
                           .exemplars = ex,
                           .n_exemplars = 2};
    pt.value.d = (sel & 64) ? -0.0 : 42.125;
    tel_metric m = {.name = field[0],
                    .description = field[2],
                    .unit = field[1],
                    .type = type,
                    .monotonic = monotonic,
                    .temporality = TEL_TEMPORALITY_CUMULATIVE,
                    .bounds = (sel & 8) ? bounds + 1 : bounds,
                    .n_bounds = (sel & 8) ? 3 : 4,
                    .scope_name = field[5],
                    .scope_version = field[4],
                    .points = &pt,
                    .n_points = 1};
    tel_attr ra = {.key = field[3], .type = TEL_ATTR_STRING, .len = (uint32_t)flen[5],
                   .v.s = field[5]};
    tel_resource res = {.attrs = &ra, .n_attrs = 1, .schema_url = NULL};
    for (int om = 0; om < 2; om++) {
        tel_buf out = TEL_BUF_INIT;
        if (tel__prom_render(&res, &m, 1, om, &out) != TEL_OK)
            abort();
        check_rendering(&out, om);
        tel_buf_free(&out);
    }
    free(copy);
    return 0;
}
