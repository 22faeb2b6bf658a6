/* Prometheus text exposition (0.0.4) and OpenMetrics 1.0 text of a meter provider's metrics,
 * following the OpenTelemetry "Prometheus and OpenMetrics compatibility" rules.
 *
 * Every family is rendered from one collection: families are sorted by their exposed name and
 * grouped (instruments of one name in different scopes share a family; a later instrument of
 * another type under a taken name is dropped with a warning); the series of a family are sorted
 * by their rendered label set, and a repeated label set is rendered once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "metrics_internal.h"
#include "telemetry/ids.h"

enum { PT_COUNTER, PT_GAUGE, PT_HISTOGRAM };

static atomic_uint_fast64_t warn_conflict;

/* ---- Output with a sticky error ---- */

typedef struct wr {
    tel_buf *b;
    int err;
} wr;

static void put(wr *w, const void *p, size_t n)
{
    if (!w->err)
        w->err = tel_buf_append(w->b, p, n);
}

static void puts_(wr *w, const char *s)
{
    put(w, s, strlen(s));
}

static void putc_(wr *w, char c)
{
    put(w, &c, 1);
}

static void put_u64(wr *w, uint64_t v)
{
    char buf[24];
    char *e = buf + sizeof buf, *p = e;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(w, p, (size_t)(e - p));
}

static void put_i64(wr *w, int64_t v)
{
    if (v < 0) {
        putc_(w, '-');
        put_u64(w, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(w, (uint64_t)v);
    }
}

/* Shortest text that reads back as d; NaN, +Inf, -Inf as Prometheus spells them. */
static size_t fmt_double(char *buf, size_t cap, double d)
{
    if (isnan(d))
        return (size_t)snprintf(buf, cap, "NaN");
    if (isinf(d))
        return (size_t)snprintf(buf, cap, d > 0 ? "+Inf" : "-Inf");
    if (fabs(d) < 1e15 && d == (double)(int64_t)d)
        return (size_t)snprintf(buf, cap, "%lld", (long long)d);
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return (size_t)n;
}

static void put_double(wr *w, double d)
{
    char buf[40];
    put(w, buf, fmt_double(buf, sizeof buf, d));
}

/* A bucket bound as a float literal ("5.0", "0.25", "1e+20", "+Inf"). */
static void put_le(wr *w, double d)
{
    char buf[44];
    size_t n = fmt_double(buf, sizeof buf - 3, d);
    if (!strpbrk(buf, ".eEIN")) {
        memcpy(buf + n, ".0", 2);
        n += 2;
    }
    put(w, buf, n);
}

/* ---- Sanitising and escaping ---- */

static bool name_char(unsigned char c, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || (colon && c == ':');
}

/* Appends s[0..len) with invalid characters as '_' and no run of '_' (also across the join with
 * what out already holds from start). */
static int append_sanitized(tel_buf *out, size_t start, const char *s, size_t len, bool colon)
{
    int rc = tel_buf_reserve(out, len);
    if (rc != TEL_OK)
        return rc;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char o = name_char(c, colon) ? (char)c : '_';
        if (o == '_' && out->len > start && out->data[out->len - 1] == '_')
            continue;
        out->data[out->len++] = (uint8_t)o;
    }
    return TEL_OK;
}

int tel__prom_label_name(tel_buf *out, const char *key)
{
    size_t start = out->len;
    size_t len = key ? strlen(key) : 0;
    int rc = TEL_OK;
    if (len == 0)
        return tel_buf_append(out, "_", 1);
    if (key[0] >= '0' && key[0] <= '9')
        rc = tel_buf_append(out, "key_", 4);
    if (rc == TEL_OK)
        rc = append_sanitized(out, start, key, len, false);
    if (rc != TEL_OK)
        out->len = start;
    return rc;
}

static const struct {
    const char *ucum, *word;
} main_units[] = {
    {"d", "days"},           {"h", "hours"},          {"min", "minutes"},
    {"s", "seconds"},        {"ms", "milliseconds"},  {"us", "microseconds"},
    {"ns", "nanoseconds"},   {"By", "bytes"},         {"KiBy", "kibibytes"},
    {"MiBy", "mebibytes"},   {"GiBy", "gibibytes"},   {"TiBy", "tebibytes"},
    {"KBy", "kilobytes"},    {"MBy", "megabytes"},    {"GBy", "gigabytes"},
    {"TBy", "terabytes"},    {"bit", "bits"},         {"m", "meters"},
    {"V", "volts"},          {"A", "amperes"},        {"J", "joules"},
    {"W", "watts"},          {"g", "grams"},          {"Cel", "celsius"},
    {"Hz", "hertz"},         {"%", "percent"},
};

static const struct {
    const char *ucum, *word;
} per_units[] = {
    {"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
    {"w", "week"},   {"mo", "month"}, {"y", "year"},
};

static bool tok_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* The unit word(s) for a UCUM unit into out (sanitised, may stay empty). */
static int unit_words(tel_buf *out, const char *unit, bool gauge)
{
    char stripped[256];
    size_t n = 0;
    int depth = 0;
    for (const char *c = unit; *c && n < sizeof stripped - 1; c++) {
        if (*c == '{')
            depth++;
        else if (*c == '}' && depth > 0)
            depth--;
        else if (depth == 0)
            stripped[n++] = *c;
    }
    stripped[n] = '\0';
    const char *s = stripped;
    trim(&s, &n);
    if (n == 0)
        return TEL_OK;
    if (tok_eq(s, n, "1"))
        return gauge ? tel_buf_append(out, "ratio", 5) : TEL_OK;
    const char *slash = memchr(s, '/', n);
    const char *mp = s, *pp = NULL;
    size_t mn = slash ? (size_t)(slash - s) : n, pn = 0;
    if (slash) {
        pp = slash + 1;
        pn = n - mn - 1;
        trim(&pp, &pn);
    }
    trim(&mp, &mn);
    if (tok_eq(mp, mn, "1"))
        mn = 0;
    size_t start = out->len;
    int rc = TEL_OK;
    if (mn) {
        const char *w = NULL;
        for (size_t i = 0; i < sizeof main_units / sizeof main_units[0]; i++)
            if (tok_eq(mp, mn, main_units[i].ucum))
                w = main_units[i].word;
        rc = w ? append_sanitized(out, start, w, strlen(w), false)
               : append_sanitized(out, start, mp, mn, false);
    }
    if (rc == TEL_OK && pn) {
        const char *w = NULL;
        for (size_t i = 0; i < sizeof per_units / sizeof per_units[0]; i++)
            if (tok_eq(pp, pn, per_units[i].ucum))
                w = per_units[i].word;
        rc = append_sanitized(out, start, out->len > start ? "_per_" : "per_",
                              out->len > start ? 5 : 4, false);
        if (rc == TEL_OK)
            rc = w ? append_sanitized(out, start, w, strlen(w), false)
                   : append_sanitized(out, start, pp, pn, false);
    }
    /* No leading or trailing '_' in a unit word. */
    if (rc == TEL_OK && out->len > start && out->data[start] == '_') {
        memmove(out->data + start, out->data + start + 1, out->len - start - 1);
        out->len--;
    }
    if (rc == TEL_OK && out->len > start && out->data[out->len - 1] == '_')
        out->len--;
    return rc;
}

static bool ends_with(const uint8_t *s, size_t n, const uint8_t *suf, size_t m)
{
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

int tel__prom_family_name(tel_buf *out, const char *name, const char *unit, tel_metric_type type,
                          bool monotonic, bool with_total, size_t *unit_len)
{
    size_t start = out->len;
    *unit_len = 0;
    bool counter = type == TEL_METRIC_SUM && monotonic;
    size_t len = name ? strlen(name) : 0;
    int rc = TEL_OK;
    if (len && name[0] >= '0' && name[0] <= '9')
        rc = tel_buf_append(out, "_", 1);
    if (rc == TEL_OK)
        rc = append_sanitized(out, start, name ? name : "", len, true);
    if (rc == TEL_OK && out->len == start)
        rc = tel_buf_append(out, "_", 1);
    if (rc != TEL_OK)
        goto fail;
    if (counter && ends_with(out->data + start, out->len - start, (const uint8_t *)"_total", 6) &&
        out->len - start > 6)
        out->len -= 6;
    /* No trailing '_': suffixes (_bucket, _total, the unit) would make a run of two. */
    while (out->len - start > 1 && out->data[out->len - 1] == '_')
        out->len--;
    if (out->len - start == 1 && out->data[start] == '_') {
        /* Nothing usable in the name (instrument names start with a letter, so only raw
         * tel_metric data gets here). */
        rc = tel_buf_append(out, "unnamed", 7);
        if (rc != TEL_OK)
            goto fail;
    }
    size_t name_end = out->len;
    rc = unit_words(out, unit ? unit : "", type == TEL_METRIC_GAUGE);
    if (rc != TEL_OK)
        goto fail;
    size_t ul = out->len - name_end;
    if (ul) {
        /* The unit words were appended after the name: keep them only when the name does not
         * already end with them, then insert the '_' between. */
        uint8_t *n = out->data + start, *u = out->data + name_end;
        size_t nl = name_end - start;
        if (nl == ul && memcmp(n, u, ul) == 0) {
            /* The name is the unit word itself: keep it, with no UNIT metadata (OpenMetrics
             * wants the unit after an underscore). */
            out->len = name_end;
            ul = 0;
        } else if (nl > ul && n[nl - ul - 1] == '_' && memcmp(n + nl - ul, u, ul) == 0) {
            out->len = name_end;
        } else {
            rc = tel_buf_reserve(out, 1);
            if (rc != TEL_OK)
                goto fail;
            u = out->data + name_end;
            memmove(u + 1, u, ul);
            *u = '_';
            out->len++;
        }
        *unit_len = ul;
    }
    if (counter && with_total)
        rc = tel_buf_append(out, "_total", 6);
    if (rc != TEL_OK)
        goto fail;
    return TEL_OK;
fail:
    out->len = start;
    *unit_len = 0;
    return rc;
}

/* Length of the valid UTF-8 sequence at s (of n bytes), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
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

static int escape(tel_buf *out, const char *s, size_t len, bool quote)
{
    size_t start = out->len;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    int rc = TEL_OK;
    while (i < len && rc == TEL_OK) {
        size_t run = i;
        /* Copy runs of plain ASCII at once. */
        while (run < len && p[run] < 0x80 && p[run] != '\\' && p[run] != '\n' &&
               !(quote && p[run] == '"'))
            run++;
        if (run > i) {
            rc = tel_buf_append(out, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c == '\\') {
            rc = tel_buf_append(out, "\\\\", 2);
            i++;
        } else if (c == '\n') {
            rc = tel_buf_append(out, "\\n", 2);
            i++;
        } else if (c == '"') {
            rc = tel_buf_append(out, "\\\"", 2);
            i++;
        } else {
            size_t n = utf8_seq(p + i, len - i);
            if (n) {
                rc = tel_buf_append(out, p + i, n);
                i += n;
            } else {
                rc = tel_buf_append(out, "\xef\xbf\xbd", 3);
                i++;
            }
        }
    }
    if (rc != TEL_OK)
        out->len = start;
    return rc;
}

int tel__prom_escape_value(tel_buf *out, const char *s, size_t len)
{
    return escape(out, s, len, true);
}

int tel__prom_escape_help(tel_buf *out, const char *s, size_t len, bool openmetrics)
{
    return escape(out, s, len, openmetrics);
}

/* ---- Labels ---- */

typedef struct litem {
    size_t name_off, name_len, val_off, val_len;
    const char *name, *val; /* set from the offsets once the scratch buffer is complete */
    const char *key;
} litem;

typedef struct rctx {
    bool om;
    tel_buf tmp; /* label names and values of one point */
    litem *items;
    size_t n_items, cap_items;
    int err;
    const tel_metric *le_metric; /* whose le texts le_buf holds */
    tel_buf le_buf;
    size_t *le_off; /* offset and length per bucket */
    size_t le_cap;
} rctx;

static void json_str(tel_buf *b, const char *s, int *err)
{
    if (*err)
        return;
    *err = tel_buf_append(b, "\"", 1);
    for (const char *c = s; *c && !*err; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', *c};
            *err = tel_buf_append(b, e, 2);
        } else if ((unsigned char)*c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", (unsigned)(unsigned char)*c);
            *err = tel_buf_append(b, e, 6);
        } else {
            *err = tel_buf_append(b, c, 1);
        }
    }
    if (!*err)
        *err = tel_buf_append(b, "\"", 1);
}

/* An attribute value as label text (non-strings per the attribute spec, arrays as JSON). */
static void value_text(tel_buf *b, const tel_attr *a, int *err)
{
    char num[48];
    if (*err)
        return;
    switch (a->type) {
    case TEL_ATTR_STRING:
        *err = tel_buf_append(b, a->v.s, a->len);
        return;
    case TEL_ATTR_BOOL:
        *err = tel_buf_append(b, a->v.b ? "true" : "false", a->v.b ? 4 : 5);
        return;
    case TEL_ATTR_INT:
        *err = tel_buf_append(b, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)a->v.i));
        return;
    case TEL_ATTR_DOUBLE:
        *err = tel_buf_append(b, num, fmt_double(num, sizeof num, a->v.d));
        return;
    case TEL_ATTR_STRING_ARRAY:
    case TEL_ATTR_BOOL_ARRAY:
    case TEL_ATTR_INT_ARRAY:
    case TEL_ATTR_DOUBLE_ARRAY:
        *err = tel_buf_append(b, "[", 1);
        for (uint32_t i = 0; i < a->len && !*err; i++) {
            if (i)
                *err = tel_buf_append(b, ",", 1);
            tel_attr el = tel_attr_array_element(a, i);
            if (el.type == TEL_ATTR_STRING)
                json_str(b, el.v.s, err);
            else if (el.type == TEL_ATTR_DOUBLE && !isfinite(el.v.d))
                json_str(b, isnan(el.v.d) ? "NaN" : el.v.d > 0 ? "Infinity" : "-Infinity", err);
            else
                value_text(b, &el, err);
        }
        if (!*err)
            *err = tel_buf_append(b, "]", 1);
        return;
    default:
        return;
    }
}

static void add_item(rctx *r, const char *key, const tel_attr *a, const char *literal)
{
    if (r->err)
        return;
    if (r->n_items == r->cap_items) {
        size_t cap = r->cap_items ? r->cap_items * 2 : 32;
        litem *ni = realloc(r->items, cap * sizeof *ni);
        if (!ni) {
            r->err = TEL_ENOMEM;
            return;
        }
        r->items = ni;
        r->cap_items = cap;
    }
    litem *it = &r->items[r->n_items];
    it->key = key;
    it->name_off = r->tmp.len;
    r->err = tel__prom_label_name(&r->tmp, key);
    if (r->err)
        return;
    it->name_len = r->tmp.len - it->name_off;
    /* Names reserved by the exposition formats stay distinct from the histogram bucket label
     * and the summary quantile label. */
    if ((it->name_len == 2 && memcmp(r->tmp.data + it->name_off, "le", 2) == 0) ||
        (it->name_len == 8 && memcmp(r->tmp.data + it->name_off, "quantile", 8) == 0)) {
        r->err = tel_buf_append(&r->tmp, "_", 1);
        it->name_len++;
    }
    it->val_off = r->tmp.len;
    if (literal)
        r->err = r->err ? r->err : tel_buf_append(&r->tmp, literal, strlen(literal));
    else
        value_text(&r->tmp, a, &r->err);
    it->val_len = r->tmp.len - it->val_off;
    r->n_items++;
}

static int cmp_item(const void *pa, const void *pb)
{
    const litem *a = pa, *b = pb;
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    if (c)
        return c;
    if (a->name_len != b->name_len)
        return a->name_len < b->name_len ? -1 : 1;
    return strcmp(a->key, b->key);
}

/* Renders the items (sorted by label name, then original key; equal names joined with ';') as
 * `name="value",...` into out. */
static void render_items(rctx *r, wr *w)
{
    if (r->err) {
        w->err = r->err;
        return;
    }
    for (size_t i = 0; i < r->n_items; i++) {
        r->items[i].name = (const char *)r->tmp.data + r->items[i].name_off;
        r->items[i].val = (const char *)r->tmp.data + r->items[i].val_off;
    }
    if (r->n_items > 1)
        qsort(r->items, r->n_items, sizeof *r->items, cmp_item);
    for (size_t i = 0; i < r->n_items && !w->err; i++) {
        const litem *it = &r->items[i];
        bool same_as_prev = i > 0 && it->name_len == r->items[i - 1].name_len &&
                            memcmp(it->name, r->items[i - 1].name, it->name_len) == 0;
        if (same_as_prev) {
            putc_(w, ';');
        } else {
            if (i > 0)
                puts_(w, "\",");
            put(w, it->name, it->name_len);
            puts_(w, "=\"");
        }
        if (!w->err)
            w->err = tel__prom_escape_value(w->b, it->val, it->val_len);
    }
    if (r->n_items)
        putc_(w, '"');
}

/* ---- Families ---- */

typedef struct fam {
    const tel_metric *m;
    size_t key_off, key_len, unit_len, idx;
    const char *key; /* exposed family name (with _total for counters) */
    int ptype;
} fam;

typedef struct ser {
    size_t lab_off, lab_len;
    const char *lab;
    const tel_metric *m;
    const tel_metric_point *pt;
    size_t order;
} ser;

static int prom_type(const tel_metric *m)
{
    if (m->type == TEL_METRIC_HISTOGRAM)
        return PT_HISTOGRAM;
    if (m->type == TEL_METRIC_SUM && m->monotonic)
        return PT_COUNTER;
    return PT_GAUGE;
}

static int cmp_fam(const void *pa, const void *pb)
{
    const fam *a = pa, *b = pb;
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    if (c)
        return c;
    if (a->key_len != b->key_len)
        return a->key_len < b->key_len ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int cmp_ser(const void *pa, const void *pb)
{
    const ser *a = pa, *b = pb;
    size_t n = a->lab_len < b->lab_len ? a->lab_len : b->lab_len;
    int c = memcmp(a->lab, b->lab, n);
    if (c)
        return c;
    if (a->lab_len != b->lab_len)
        return a->lab_len < b->lab_len ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Unchecked appends after one tel_buf_reserve per line. */
static inline void raw(tel_buf *b, const void *p, size_t n)
{
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void raw_u64(tel_buf *b, uint64_t v)
{
    char buf[24];
    char *e = buf + sizeof buf, *p = e;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    raw(b, p, (size_t)(e - p));
}

/* `base suffix{labels[,le="x"]} ` with one reservation; false on allocation failure. */
static bool line_start(wr *w, const char *base, size_t base_len, const char *suffix,
                       size_t suffix_len, const char *lab, size_t lab_len, const char *le,
                       size_t le_len)
{
    if (w->err)
        return false;
    w->err = tel_buf_reserve(w->b, base_len + suffix_len + lab_len + le_len + 64);
    if (w->err)
        return false;
    tel_buf *b = w->b;
    raw(b, base, base_len);
    raw(b, suffix, suffix_len);
    if (lab_len || le) {
        raw(b, "{", 1);
        raw(b, lab, lab_len);
        if (le) {
            if (lab_len)
                raw(b, ",", 1);
            raw(b, "le=\"", 4);
            raw(b, le, le_len);
            raw(b, "\"", 1);
        }
        raw(b, "}", 1);
    }
    raw(b, " ", 1);
    return true;
}

static void put_exemplar(wr *w, const tel_exemplar *e)
{
    puts_(w, " # {");
    if (e->has_span) {
        char hex[33];
        tel_hex_encode(e->trace_id, TEL_TRACE_ID_SIZE, hex);
        puts_(w, "trace_id=\"");
        puts_(w, hex);
        tel_hex_encode(e->span_id, TEL_SPAN_ID_SIZE, hex);
        puts_(w, "\",span_id=\"");
        puts_(w, hex);
        putc_(w, '"');
    }
    puts_(w, "} ");
    if (e->is_int)
        put_i64(w, e->value.i);
    else
        put_double(w, e->value.d);
    putc_(w, ' ');
    put_u64(w, e->time_ns / 1000000000u);
    char ms[8];
    snprintf(ms, sizeof ms, ".%03u", (unsigned)(e->time_ns / 1000000u % 1000u));
    puts_(w, ms);
}

static void put_value(wr *w, const tel_metric_point *pt)
{
    if (pt->is_int)
        put_i64(w, pt->value.i);
    else
        put_double(w, pt->value.d);
}

static uint32_t bucket_index(const tel_metric *m, double v)
{
    uint32_t i = 0;
    while (i < m->n_bounds && !(v <= m->bounds[i]))
        i++;
    return i;
}

static double ex_value(const tel_exemplar *x)
{
    return x->is_int ? (double)x->value.i : x->value.d;
}

/* The le label texts of a histogram's bounds ("+Inf" last), kept for consecutive series of the
 * same metric. */
static bool le_texts(rctx *r, const tel_metric *m)
{
    if (r->le_metric == m)
        return true;
    r->le_metric = NULL;
    size_t need = (size_t)m->n_bounds + 1;
    if (need > r->le_cap) {
        size_t *no = realloc(r->le_off, need * 2 * sizeof *no);
        if (!no)
            return false;
        r->le_off = no;
        r->le_cap = need;
    }
    r->le_buf.len = 0;
    wr lw = {&r->le_buf, 0};
    for (uint32_t b = 0; b <= m->n_bounds; b++) {
        r->le_off[2 * b] = r->le_buf.len;
        if (b < m->n_bounds)
            put_le(&lw, m->bounds[b]);
        else
            puts_(&lw, "+Inf");
        r->le_off[2 * b + 1] = r->le_buf.len - r->le_off[2 * b];
    }
    if (lw.err)
        return false;
    r->le_metric = m;
    return true;
}

static void render_series(rctx *r, wr *w, const fam *f, const char *base, size_t base_len,
                          const ser *s)
{
    const tel_metric_point *pt = s->pt;
    const tel_metric *m = s->m;
    if (f->ptype != PT_HISTOGRAM) {
        bool counter = f->ptype == PT_COUNTER;
        if (!line_start(w, base, base_len, counter ? "_total" : "", counter ? 6 : 0, s->lab,
                        s->lab_len, NULL, 0))
            return;
        put_value(w, pt);
        if (r->om && counter && pt->n_exemplars)
            put_exemplar(w, &pt->exemplars[0]);
        putc_(w, '\n');
        return;
    }
    if (!le_texts(r, m)) {
        w->err = TEL_ENOMEM;
        return;
    }
    /* One exemplar per bucket: the largest that falls in it, else the one carried from a lower
     * bucket (the spec's rule for pull exporters). */
    const tel_exemplar *carry = NULL;
    uint64_t cum = 0;
    for (uint32_t b = 0; b <= m->n_bounds; b++) {
        cum += pt->bucket_counts ? pt->bucket_counts[b] : 0;
        if (r->om)
            for (uint32_t e = 0; e < pt->n_exemplars; e++) {
                const tel_exemplar *x = &pt->exemplars[e];
                if (bucket_index(m, ex_value(x)) == b &&
                    (!carry || bucket_index(m, ex_value(carry)) < b ||
                     ex_value(x) > ex_value(carry)))
                    carry = x;
            }
        if (!line_start(w, base, base_len, "_bucket", 7, s->lab, s->lab_len,
                        (const char *)r->le_buf.data + r->le_off[2 * b], r->le_off[2 * b + 1]))
            return;
        raw_u64(w->b, cum);
        if (carry)
            put_exemplar(w, carry);
        putc_(w, '\n');
    }
    /* _sum only while it is a counter: no negative bucket and no negative value seen. In
     * OpenMetrics _count goes with _sum (present if and only if _sum is). */
    bool negative = (m->n_bounds && m->bounds[0] < 0) || (pt->has_min_max && pt->min < 0);
    if (!negative) {
        if (!line_start(w, base, base_len, "_sum", 4, s->lab, s->lab_len, NULL, 0))
            return;
        put_double(w, pt->sum);
        putc_(w, '\n');
    } else if (r->om) {
        return;
    }
    if (!line_start(w, base, base_len, "_count", 6, s->lab, s->lab_len, NULL, 0))
        return;
    raw_u64(w->b, pt->count);
    putc_(w, '\n');
}

static void render_target_info(rctx *r, wr *w, const tel_resource *res)
{
    if (!res || res->n_attrs == 0)
        return;
    r->n_items = 0;
    r->tmp.len = 0;
    for (size_t i = 0; i < res->n_attrs; i++)
        if (res->attrs[i].key && res->attrs[i].key[0])
            add_item(r, res->attrs[i].key, &res->attrs[i], NULL);
    if (r->om)
        puts_(w, "# TYPE target info\n# HELP target Target metadata\n");
    else
        puts_(w, "# HELP target_info Target metadata\n# TYPE target_info gauge\n");
    puts_(w, "target_info");
    if (r->n_items) {
        putc_(w, '{');
        render_items(r, w);
        putc_(w, '}');
    }
    puts_(w, " 1\n");
}

/* Renders one family: metrics f[0..n) share the exposed name (first one's type). */
static void render_family(rctx *r, wr *w, fam *f, size_t n, tel_buf *lab, ser **sers,
                          size_t *cap_sers)
{
    const char *key = f[0].key;
    size_t key_len = f[0].key_len;
    /* The family name in metadata lines: OpenMetrics names a counter without _total. */
    size_t fam_len = key_len;
    if (f[0].ptype == PT_COUNTER)
        fam_len -= 6;
    size_t meta_len = r->om ? fam_len : key_len;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (f[i].ptype == f[0].ptype)
            total += f[i].m->n_points;
    if (total > *cap_sers) {
        ser *ns = realloc(*sers, total * sizeof *ns);
        if (!ns) {
            w->err = TEL_ENOMEM;
            return;
        }
        *sers = ns;
        *cap_sers = total;
    }
    lab->len = 0;
    size_t k = 0;
    for (size_t i = 0; i < n && !w->err; i++) {
        if (f[i].ptype != f[0].ptype) {
            tel__metrics_warn(&warn_conflict,
                              "prometheus: metric %s (scope %s) dropped: its name %.*s is taken "
                              "by a metric of another type",
                              f[i].m->name, f[i].m->scope_name ? f[i].m->scope_name : "",
                              (int)key_len, key);
            continue;
        }
        const tel_metric *m = f[i].m;
        for (size_t p = 0; p < m->n_points && !w->err; p++) {
            const tel_metric_point *pt = &m->points[p];
            r->n_items = 0;
            r->tmp.len = 0;
            for (uint32_t a = 0; a < pt->n_attrs; a++)
                if (pt->attrs[a].key && pt->attrs[a].key[0])
                    add_item(r, pt->attrs[a].key, &pt->attrs[a], NULL);
            if (m->scope_name && m->scope_name[0])
                add_item(r, "otel_scope_name", NULL, m->scope_name);
            if (m->scope_version && m->scope_version[0])
                add_item(r, "otel_scope_version", NULL, m->scope_version);
            ser *s = &(*sers)[k];
            s->lab_off = lab->len;
            wr lw = {lab, 0};
            render_items(r, &lw);
            if (lw.err) {
                w->err = lw.err;
                return;
            }
            s->lab_len = lab->len - s->lab_off;
            s->m = m;
            s->pt = pt;
            s->order = k;
            k++;
        }
    }
    if (w->err || k == 0)
        return;
    for (size_t i = 0; i < k; i++)
        (*sers)[i].lab = lab->data ? (const char *)lab->data + (*sers)[i].lab_off : "";
    qsort(*sers, k, sizeof **sers, cmp_ser);

    /* Metadata: the first non-empty description (else the instrument name: an empty HELP
     * reads as none, which promtool reports), the first instrument's unit. */
    const char *help = f[0].m->name ? f[0].m->name : "";
    for (size_t i = 0; i < n; i++)
        if (f[i].ptype == f[0].ptype && f[i].m->description && f[i].m->description[0]) {
            help = f[i].m->description;
            break;
        }
    puts_(w, "# HELP ");
    put(w, key, meta_len);
    putc_(w, ' ');
    if (!w->err)
        w->err = tel__prom_escape_help(w->b, help, strlen(help), r->om);
    puts_(w, "\n# TYPE ");
    put(w, key, meta_len);
    puts_(w, f[0].ptype == PT_COUNTER ? " counter\n"
             : f[0].ptype == PT_GAUGE ? " gauge\n"
                                      : " histogram\n");
    if (r->om && f[0].unit_len) {
        puts_(w, "# UNIT ");
        put(w, key, fam_len);
        putc_(w, ' ');
        put(w, key + fam_len - f[0].unit_len, f[0].unit_len);
        putc_(w, '\n');
    }
    for (size_t i = 0; i < k && !w->err; i++) {
        const ser *s = &(*sers)[i];
        if (i > 0 && s->lab_len == s[-1].lab_len && memcmp(s->lab, s[-1].lab, s->lab_len) == 0)
            continue; /* the same series from two instruments: keep the first */
        render_series(r, w, &f[0], key, fam_len, s);
    }
}

static int render(const tel_resource *res, const tel_metric *metrics, size_t n, bool om,
                  tel_buf *out)
{
    size_t start = out->len;
    wr w = {out, 0};
    rctx r = {.om = om};
    tel_buf names = TEL_BUF_INIT, lab = TEL_BUF_INIT;
    ser *sers = NULL;
    size_t cap_sers = 0;
    fam *fams = calloc(n ? n : 1, sizeof *fams);
    if (!fams)
        return TEL_ENOMEM;
    size_t nf = 0;
    for (size_t i = 0; i < n && !w.err; i++) {
        const tel_metric *m = &metrics[i];
        if (m->n_points == 0 || m->temporality == TEL_TEMPORALITY_DELTA)
            continue; /* delta points would need re-aggregation: not produced here */
        fam *f = &fams[nf];
        f->m = m;
        f->idx = i;
        f->ptype = prom_type(m);
        f->key_off = names.len;
        w.err = tel__prom_family_name(&names, m->name, m->unit, m->type, m->monotonic, true,
                                      &f->unit_len);
        f->key_len = names.len - f->key_off;
        nf++;
    }
    for (size_t i = 0; i < nf; i++)
        fams[i].key = (const char *)names.data + fams[i].key_off;
    qsort(fams, nf, sizeof *fams, cmp_fam);

    render_target_info(&r, &w, res);
    if (r.err && !w.err)
        w.err = r.err;
    for (size_t i = 0; i < nf && !w.err;) {
        size_t j = i + 1;
        while (j < nf && fams[j].key_len == fams[i].key_len &&
               memcmp(fams[j].key, fams[i].key, fams[i].key_len) == 0)
            j++;
        bool reserved = (fams[i].key_len == 11 && memcmp(fams[i].key, "target_info", 11) == 0) ||
                        (om && fams[i].key_len == 6 && memcmp(fams[i].key, "target", 6) == 0);
        if (reserved && res && res->n_attrs)
            tel__metrics_warn(&warn_conflict,
                              "prometheus: metric %s dropped: target_info is reserved for the "
                              "resource",
                              fams[i].m->name);
        else
            render_family(&r, &w, &fams[i], j - i, &lab, &sers, &cap_sers);
        i = j;
    }
    if (om)
        puts_(&w, "# EOF\n");
    free(fams);
    free(sers);
    free(r.items);
    free(r.le_off);
    tel_buf_free(&r.le_buf);
    tel_buf_free(&r.tmp);
    tel_buf_free(&names);
    tel_buf_free(&lab);
    if (w.err)
        out->len = start;
    return w.err;
}

int tel__prom_render(const tel_resource *res, const tel_metric *metrics, size_t n, bool om,
                     tel_buf *out)
{
    return render(res, metrics, n, om, out);
}

int tel_prometheus_render(tel_meter_provider *p, bool openmetrics, tel_buf *out)
{
    if (!out)
        return TEL_EINVAL;
    if (!p || p->noop)
        return render(NULL, NULL, 0, openmetrics, out);
    tel__collection c;
    int rc = tel__collect(p, &c);
    if (rc != TEL_OK)
        return rc;
    rc = render(p->resource, c.metrics, c.n_metrics, openmetrics, out);
    tel__collection_free(&c);
    return rc;
}

const char *tel_prometheus_content_type(bool openmetrics)
{
    return openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                       : "text/plain; version=0.0.4; charset=utf-8";
}

bool tel_prometheus_accepts_openmetrics(const char *accept)
{
    if (!accept)
        return false;
    double om_q = -1, text_q = -1;
    const char *p = accept;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        size_t n = len;
        trim(&s, &n);
        const char *semi = memchr(s, ';', n);
        const char *mt = s;
        size_t mtl = semi ? (size_t)(semi - s) : n;
        trim(&mt, &mtl);
        double q = 1;
        for (const char *par = semi; par && par < s + n;) {
            par++;
            while (par < s + n && (*par == ' ' || *par == '\t'))
                par++;
            if (par + 2 <= s + n && (par[0] == 'q' || par[0] == 'Q') && par[1] == '=') {
                char num[16];
                size_t k = 0;
                for (const char *c = par + 2; c < s + n && *c != ';' && k < sizeof num - 1; c++)
                    num[k++] = *c;
                num[k] = '\0';
                q = strtod(num, NULL);
            }
            par = memchr(par, ';', (size_t)(s + n - par));
        }
        if (mtl == 28 && strncasecmp(mt, "application/openmetrics-text", 28) == 0) {
            if (q > om_q)
                om_q = q;
        } else if ((mtl == 10 && strncasecmp(mt, "text/plain", 10) == 0) ||
                   (mtl == 3 && strncmp(mt, "*/*", 3) == 0)) {
            if (q > text_q)
                text_q = q;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return om_q > 0 && om_q >= text_q;
}
