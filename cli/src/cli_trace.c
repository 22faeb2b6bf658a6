/* Spans read back from OTLP JSON lines: see cli/trace.h. */
#include "cli/trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void cli_span_set_init(cli_span_set *s)
{
    memset(s, 0, sizeof *s);
}

void cli_span_set_cleanup(cli_span_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->spans[i].name);
        free(s->spans[i].service);
        free(s->spans[i].status_message);
    }
    free(s->spans);
    free(s->index);
    memset(s, 0, sizeof *s);
}

void cli_hex(const uint8_t *id, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Standard or URL-safe base64, padded or not, decoding to exactly n bytes. */
static bool b64_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    while (len && s[len - 1] == '=')
        len--;
    if ((len * 6) / 8 != n || len > ((n + 2) / 3) * 4)
        return false;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o < n)
                out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o == n;
}

/* Reads an id member (hex or base64). Absent or empty: zero id and true when allow_empty. */
static bool read_id(json_t *obj, const char *key, uint8_t *out, size_t n, bool allow_empty)
{
    memset(out, 0, n);
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return allow_empty;
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0)
        return allow_empty;
    return hex_decode(s, len, out, n) || b64_decode(s, len, out, n);
}

/* Reads a uint64 member given as a decimal string or an integer. */
static bool read_u64(json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return false;
        *out = (uint64_t)i;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d < 1.8e19))
            return false;
        *out = (uint64_t)d;
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = (uint64_t)x;
    return true;
}

/* An enum given as an integer or as one of the names (index = value). */
static int read_enum(json_t *obj, const char *key, const char *const *names, int n)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return (int)json_integer_value(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (int i = 0; i < n; i++)
            if (strcmp(s, names[i]) == 0)
                return i;
    }
    return 0;
}

static const char *const kind_names[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                         "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                         "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
static const char *const status_names[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                           "STATUS_CODE_ERROR"};

/* The string value of attribute `key` in an OTLP attribute array, or NULL. */
static const char *attr_str(json_t *attrs, const char *key)
{
    size_t i;
    json_t *kv;
    json_array_foreach(attrs, i, kv) {
        json_t *k = json_object_get(kv, "key");
        if (json_is_string(k) && strcmp(json_string_value(k), key) == 0) {
            json_t *sv = json_object_get(json_object_get(kv, "value"), "stringValue");
            return json_is_string(sv) ? json_string_value(sv) : NULL;
        }
    }
    return NULL;
}

static size_t id_hash(const uint8_t tid[16], const uint8_t sid[8])
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 8; i++)
        h = (h ^ sid[i]) * 1099511628211ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ tid[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

/* Position + 1 of the span with these ids, or 0. */
static size_t index_find(const cli_span_set *s, const uint8_t tid[16], const uint8_t sid[8])
{
    if (!s->index_cap)
        return 0;
    size_t mask = s->index_cap - 1;
    for (size_t h = id_hash(tid, sid) & mask;; h = (h + 1) & mask) {
        size_t pos = s->index[h];
        if (pos == 0)
            return 0;
        const cli_span *c = &s->spans[pos - 1];
        if (memcmp(c->span_id, sid, 8) == 0 && memcmp(c->trace_id, tid, 16) == 0)
            return pos;
    }
}

static void index_put(cli_span_set *s, size_t pos)
{
    size_t mask = s->index_cap - 1;
    const cli_span *c = &s->spans[pos - 1];
    size_t h = id_hash(c->trace_id, c->span_id) & mask;
    while (s->index[h])
        h = (h + 1) & mask;
    s->index[h] = pos;
}

/* Keeps the index at most half full. Returns -1 when memory ran out. */
static int index_reserve(cli_span_set *s, size_t n)
{
    if (n * 2 <= s->index_cap)
        return 0;
    size_t cap = s->index_cap ? s->index_cap : 128;
    while (n * 2 > cap)
        cap *= 2;
    size_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return -1;
    free(s->index);
    s->index = idx;
    s->index_cap = cap;
    for (size_t i = 0; i < s->n; i++)
        index_put(s, i + 1);
    return 0;
}

static int add_span(cli_span_set *s, json_t *sp, const char *service, const uint8_t *only)
{
    cli_span c;
    memset(&c, 0, sizeof c);
    if (!read_id(sp, "traceId", c.trace_id, 16, false) ||
        !read_id(sp, "spanId", c.span_id, 8, false) ||
        !read_id(sp, "parentSpanId", c.parent_id, 8, true) ||
        !read_u64(sp, "startTimeUnixNano", &c.start_ns) ||
        !read_u64(sp, "endTimeUnixNano", &c.end_ns)) {
        s->bad++;
        return 0;
    }
    if (only && memcmp(only, c.trace_id, 16) != 0)
        return 0;
    if (index_find(s, c.trace_id, c.span_id))
        return 0;
    if (c.end_ns < c.start_ns)
        c.end_ns = c.start_ns;
    c.kind = read_enum(sp, "kind", kind_names, 6);
    json_t *st = json_object_get(sp, "status");
    c.status = json_is_object(st) ? read_enum(st, "code", status_names, 3) : 0;
    if (c.status < 0 || c.status > 2)
        c.status = 0;
    json_t *msg = json_object_get(st, "message");
    const char *name = json_string_value(json_object_get(sp, "name"));
    c.name = strdup(name ? name : "");
    c.service = strdup(service ? service : "unknown_service");
    if (json_is_string(msg) && json_string_length(msg) > 0)
        c.status_message = strdup(json_string_value(msg));
    if (!c.name || !c.service || (json_is_string(msg) && json_string_length(msg) > 0 && !c.status_message))
        goto oom;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        cli_span *p = realloc(s->spans, cap * sizeof *p);
        if (!p)
            goto oom;
        s->spans = p;
        s->cap = cap;
    }
    if (index_reserve(s, s->n + 1) < 0)
        goto oom;
    s->spans[s->n++] = c;
    index_put(s, s->n);
    return 0;
oom:
    free(c.name);
    free(c.service);
    free(c.status_message);
    return -1;
}

int cli_span_set_add_line(cli_span_set *s, const char *line, size_t len, const uint8_t *only)
{
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    size_t lead = 0;
    while (lead < len && (line[lead] == ' ' || line[lead] == '\t'))
        lead++;
    if (lead == len)
        return 0;
    s->lines++;
    json_error_t err;
    json_t *root = json_loadb(line + lead, len - lead, 0, &err);
    if (!json_is_object(root)) {
        json_decref(root);
        s->bad++;
        return 0;
    }
    json_t *req = root;
    json_t *inner = json_object_get(root, "request");
    if (json_is_object(inner))
        req = inner;
    json_t *rss = json_object_get(req, "resourceSpans");
    if (!json_is_array(rss)) {
        /* metrics, logs, or something else: not spans */
        bool other = json_object_get(req, "resourceMetrics") || json_object_get(req, "resourceLogs") ||
                     json_is_null(inner);
        if (!other)
            s->bad++;
        json_decref(root);
        return 0;
    }
    int rc = 0;
    size_t i;
    json_t *rs;
    json_array_foreach(rss, i, rs) {
        json_t *res = json_object_get(rs, "resource");
        const char *service = attr_str(json_object_get(res, "attributes"), "service.name");
        json_t *sss = json_object_get(rs, "scopeSpans");
        if (!json_is_array(sss))
            sss = json_object_get(rs, "instrumentationLibrarySpans");
        size_t j;
        json_t *ss;
        json_array_foreach(sss, j, ss) {
            size_t k;
            json_t *sp;
            json_array_foreach(json_object_get(ss, "spans"), k, sp) {
                if (add_span(s, sp, service, only) < 0) {
                    rc = -1;
                    goto out;
                }
            }
        }
    }
out:
    json_decref(root);
    return rc;
}

int cli_span_set_load_stream(cli_span_set *s, FILE *f, const uint8_t *only)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (cli_span_set_add_line(s, line, (size_t)n, only) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = -1;
    free(line);
    return rc;
}

int cli_span_set_load_file(cli_span_set *s, const char *path, const uint8_t *only)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int rc = cli_span_set_load_stream(s, f, only);
    int saved = errno;
    fclose(f);
    errno = saved;
    return rc;
}

size_t cli_span_set_trace_ids(const cli_span_set *s, uint8_t (*ids)[16], size_t max)
{
    /* Distinct ids with their earliest start, then sorted by it (insertion sort: few traces). */
    typedef struct {
        const uint8_t *id;
        uint64_t start;
    } entry;
    entry *e = malloc((s->n ? s->n : 1) * sizeof *e);
    if (!e)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t j = 0;
        while (j < n && memcmp(e[j].id, s->spans[i].trace_id, 16) != 0)
            j++;
        if (j == n)
            e[n++] = (entry){s->spans[i].trace_id, s->spans[i].start_ns};
        else if (s->spans[i].start_ns < e[j].start)
            e[j].start = s->spans[i].start_ns;
    }
    for (size_t i = 1; i < n; i++) {
        entry x = e[i];
        size_t j = i;
        while (j > 0 && e[j - 1].start > x.start) {
            e[j] = e[j - 1];
            j--;
        }
        e[j] = x;
    }
    for (size_t i = 0; i < n && i < max; i++)
        memcpy(ids[i], e[i].id, 16);
    free(e);
    return n;
}

bool cli_trace_id_parse(const char *text, uint8_t out[16])
{
    if (!text || strlen(text) != 32 || !hex_decode(text, 32, out, 16))
        return false;
    for (int i = 0; i < 16; i++)
        if (out[i])
            return true;
    return false;
}
