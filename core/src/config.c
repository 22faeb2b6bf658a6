/* Service configuration from a settings table: environment, optional KEY=value file, defaults. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/error.h"

#define LINE_MAX_BYTES 4096

typedef struct cfg_value {
    char *raw; /* owned text of the value (NULL: none) */
    core_config_source src;
    int64_t i; /* INT, DURATION (ms) */
    bool b;    /* BOOL */
} cfg_value;

struct core_config {
    char *prog;
    const core_config_item *items;
    size_t n;
    cfg_value *vals;
};

/* Accumulates error lines into a caller buffer (truncating, always NUL-terminated). */
typedef struct errbuf {
    char *buf;
    size_t cap, len;
    int count;
} errbuf;

static void err_add(errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err_add(errbuf *e, const char *fmt, ...)
{
    e->count++;
    if (!e->buf || e->cap == 0 || e->len + 1 >= e->cap)
        return;
    if (e->len > 0) {
        e->buf[e->len++] = '\n';
        e->buf[e->len] = '\0';
        if (e->len + 1 >= e->cap)
            return;
    }
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(e->buf + e->len, e->cap - e->len, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    e->len += (size_t)w;
    if (e->len >= e->cap)
        e->len = e->cap - 1;
}

/* ---- Value parsers ---- */

static const char *trim_view(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *len = n;
    return s;
}

/* Parses an optional sign and decimal digits exactly covering s[0..n). */
static int parse_int_view(const char *s, size_t n, int64_t *out, const char **why)
{
    size_t i = 0;
    bool neg = false;
    if (n == 0) {
        *why = "is empty";
        return CORE_EINVAL;
    }
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n) {
        *why = "is not an integer";
        return CORE_EINVAL;
    }
    uint64_t v = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            *why = "is not an integer";
            return CORE_EINVAL;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10) {
            *why = "is out of the 64-bit integer range";
            return CORE_EINVAL;
        }
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return CORE_OK;
}

int core_config_parse_int(const char *s, int64_t *out, const char **why)
{
    size_t n;
    const char *p = trim_view(s, &n);
    return parse_int_view(p, n, out, why);
}

int core_config_parse_bool(const char *s, bool *out, const char **why)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    size_t n;
    const char *p = trim_view(s, &n);
    for (size_t i = 0; i < 4; i++) {
        if (strlen(yes[i]) == n && strncasecmp(p, yes[i], n) == 0) {
            *out = true;
            return CORE_OK;
        }
        if (strlen(no[i]) == n && strncasecmp(p, no[i], n) == 0) {
            *out = false;
            return CORE_OK;
        }
    }
    *why = "is not a boolean (true/false, yes/no, on/off, 1/0)";
    return CORE_EINVAL;
}

int core_config_parse_duration_ms(const char *s, int64_t *out, const char **why)
{
    size_t n;
    const char *p = trim_view(s, &n);
    size_t digits = 0;
    while (digits < n && p[digits] >= '0' && p[digits] <= '9')
        digits++;
    if (digits == 0) {
        *why = "is not a duration (a number and a unit: ms, s, m, h, e.g. 5s)";
        return CORE_EINVAL;
    }
    const char *unit = p + digits;
    size_t ulen = n - digits;
    int64_t mult;
    if (ulen == 2 && strncmp(unit, "ms", 2) == 0)
        mult = 1;
    else if (ulen == 1 && unit[0] == 's')
        mult = 1000;
    else if (ulen == 1 && unit[0] == 'm')
        mult = 60 * 1000;
    else if (ulen == 1 && unit[0] == 'h')
        mult = 3600 * 1000;
    else if (ulen == 0) {
        *why = "needs a unit (ms, s, m or h), e.g. 5s";
        return CORE_EINVAL;
    } else {
        *why = "has an unknown unit (use ms, s, m or h)";
        return CORE_EINVAL;
    }
    int64_t v;
    if (parse_int_view(p, digits, &v, why) != CORE_OK || v > INT64_MAX / mult) {
        *why = "is too large";
        return CORE_EINVAL;
    }
    *out = v * mult;
    return CORE_OK;
}

int core_config_check_url(const char *s, const char **why)
{
    size_t n;
    const char *p = trim_view(s, &n);
    if (n == 0) {
        *why = "is empty";
        return CORE_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f) {
            *why = "is not a valid URL (contains spaces or control characters)";
            return CORE_EINVAL;
        }
    }
    char *copy = strndup(p, n);
    if (!copy) {
        *why = "could not be checked (out of memory)";
        return CORE_ENOMEM;
    }
    int rc = CORE_OK;
    CURLU *u = curl_url();
    char *host = NULL;
    if (!u) {
        *why = "could not be checked (out of memory)";
        rc = CORE_ENOMEM;
    } else if (curl_url_set(u, CURLUPART_URL, copy, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        *why = "is not a valid absolute URL (scheme://host[:port][/path])";
        rc = CORE_EINVAL;
    } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !host[0]) {
        *why = "has no host";
        rc = CORE_EINVAL;
    }
    curl_free(host);
    curl_url_cleanup(u);
    free(copy);
    return rc;
}

/* ---- Table ---- */

static const char *type_name(core_config_type t)
{
    switch (t) {
    case CORE_CFG_STRING:
        return "string";
    case CORE_CFG_INT:
        return "int";
    case CORE_CFG_BOOL:
        return "bool";
    case CORE_CFG_DURATION:
        return "duration";
    case CORE_CFG_URL:
        return "url";
    }
    return "?";
}

static bool key_valid(const char *k)
{
    if (!k || !k[0] || !(isupper((unsigned char)k[0]) || k[0] == '_'))
        return false;
    for (const char *p = k; *p; p++)
        if (!(isupper((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
            return false;
    return true;
}

static bool has_range(const core_config_item *it)
{
    return it->min != 0 || it->max != 0;
}

/* Parses and validates `text` for item `it` into v's typed fields. On failure stores a reason
 * (static or in whybuf) in *why. */
static int parse_value(const core_config_item *it, const char *text, cfg_value *v,
                       const char **why, char *whybuf, size_t whycap)
{
    int rc;
    switch (it->type) {
    case CORE_CFG_STRING:
    case CORE_CFG_URL: {
        if (it->type == CORE_CFG_URL && (rc = core_config_check_url(text, why)) != CORE_OK)
            return rc;
        size_t len = strlen(text);
        if (has_range(it) && ((int64_t)len < it->min || (int64_t)len > it->max)) {
            snprintf(whybuf, whycap, "has %zu bytes, outside the allowed length [%" PRId64
                     ", %" PRId64 "]", len, it->min, it->max);
            *why = whybuf;
            return CORE_EINVAL;
        }
        return CORE_OK;
    }
    case CORE_CFG_INT:
        if ((rc = core_config_parse_int(text, &v->i, why)) != CORE_OK)
            return rc;
        if (has_range(it) && (v->i < it->min || v->i > it->max)) {
            snprintf(whybuf, whycap, "is outside the range [%" PRId64 ", %" PRId64 "]", it->min,
                     it->max);
            *why = whybuf;
            return CORE_EINVAL;
        }
        return CORE_OK;
    case CORE_CFG_BOOL:
        return core_config_parse_bool(text, &v->b, why);
    case CORE_CFG_DURATION:
        if ((rc = core_config_parse_duration_ms(text, &v->i, why)) != CORE_OK)
            return rc;
        if (has_range(it) && (v->i < it->min || v->i > it->max)) {
            snprintf(whybuf, whycap, "is outside the range [%" PRId64 "ms, %" PRId64 "ms]",
                     it->min, it->max);
            *why = whybuf;
            return CORE_EINVAL;
        }
        return CORE_OK;
    }
    *why = "has an unknown type";
    return CORE_EINVAL;
}

core_config *core_config_create(const char *prog, const core_config_item *items, size_t n)
{
    if (!items && n > 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const core_config_item *it = &items[i];
        if (!key_valid(it->key)) {
            fprintf(stderr, "config: table entry %zu: invalid key \"%s\"\n", i,
                    it->key ? it->key : "(null)");
            return NULL;
        }
        if (it->type < CORE_CFG_STRING || it->type > CORE_CFG_URL) {
            fprintf(stderr, "config: %s: invalid type\n", it->key);
            return NULL;
        }
        if (has_range(it) && it->min > it->max) {
            fprintf(stderr, "config: %s: range minimum above maximum\n", it->key);
            return NULL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(items[j].key, it->key) == 0) {
                fprintf(stderr, "config: %s: key listed twice\n", it->key);
                return NULL;
            }
        }
        if (it->def) {
            cfg_value tmp = {0};
            const char *why = NULL;
            char whybuf[128];
            if (parse_value(it, it->def, &tmp, &why, whybuf, sizeof whybuf) != CORE_OK) {
                fprintf(stderr, "config: %s: default value %s\n", it->key, why);
                return NULL;
            }
        }
    }
    core_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->prog = strdup(prog ? prog : "service");
    c->vals = calloc(n ? n : 1, sizeof *c->vals);
    if (!c->prog || !c->vals) {
        free(c->prog);
        free(c->vals);
        free(c);
        return NULL;
    }
    c->items = items;
    c->n = n;
    return c;
}

static void clear_values(core_config *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->vals[i].raw);
        memset(&c->vals[i], 0, sizeof c->vals[i]);
    }
}

void core_config_destroy(core_config *c)
{
    if (!c)
        return;
    clear_values(c);
    free(c->vals);
    free(c->prog);
    free(c);
}

static ssize_t find_item(const core_config *c, const char *key, size_t klen)
{
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->items[i].key) == klen && memcmp(c->items[i].key, key, klen) == 0)
            return (ssize_t)i;
    return -1;
}

/* Reads the file into file_vals (owned strings, indexed like the table). */
static int read_file(core_config *c, const char *path, char **file_vals, errbuf *e)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        err_add(e, "config file %s: cannot be read: %s", path, strerror(errno));
        return CORE_ECONFIG;
    }
    char line[LINE_MAX_BYTES + 2];
    unsigned lineno = 0;
    int rc = CORE_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] != '\n' && !feof(f)) {
            err_add(e, "config file %s line %u: line longer than %d bytes", path, lineno,
                    LINE_MAX_BYTES - 1);
            rc = CORE_ECONFIG;
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            continue;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len > LINE_MAX_BYTES - 1) {
            err_add(e, "config file %s line %u: line longer than %d bytes", path, lineno,
                    LINE_MAX_BYTES - 1);
            rc = CORE_ECONFIG;
            continue;
        }
        size_t tl;
        const char *t = trim_view(line, &tl);
        if (tl == 0 || t[0] == '#')
            continue;
        const char *eq = memchr(t, '=', tl);
        if (!eq) {
            err_add(e, "config file %s line %u: expected KEY=value", path, lineno);
            rc = CORE_ECONFIG;
            continue;
        }
        size_t klen = (size_t)(eq - t);
        while (klen > 0 && (t[klen - 1] == ' ' || t[klen - 1] == '\t'))
            klen--;
        ssize_t idx = find_item(c, t, klen);
        if (idx < 0) {
            err_add(e, "config file %s line %u: unknown key \"%.*s\"", path, lineno,
                    (int)(klen > 64 ? 64 : klen), t);
            rc = CORE_ECONFIG;
            continue;
        }
        const char *v = eq + 1;
        size_t vlen = tl - (size_t)(v - t);
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
            v++;
            vlen -= 2;
        }
        char *copy = strndup(v, vlen);
        if (!copy) {
            rc = CORE_ENOMEM;
            break;
        }
        free(file_vals[idx]);
        file_vals[idx] = copy;
    }
    if (ferror(f)) {
        err_add(e, "config file %s: read error", path);
        rc = CORE_ECONFIG;
    }
    fclose(f);
    return rc;
}

int core_config_load(core_config *c, const char *file, char *err, size_t errcap)
{
    errbuf e = {err, errcap, 0, 0};
    if (err && errcap)
        err[0] = '\0';
    if (!c)
        return CORE_EINVAL;
    clear_values(c);
    char **file_vals = calloc(c->n ? c->n : 1, sizeof *file_vals);
    if (!file_vals)
        return CORE_ENOMEM;
    int rc = CORE_OK;
    if (file) {
        rc = read_file(c, file, file_vals, &e);
        if (rc == CORE_ENOMEM)
            goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        const core_config_item *it = &c->items[i];
        cfg_value *v = &c->vals[i];
        const char *env = getenv(it->key);
        const char *text;
        core_config_source src;
        if (env && env[0]) {
            text = env;
            src = CORE_CFG_SRC_ENV;
        } else if (file_vals[i]) {
            text = file_vals[i];
            src = CORE_CFG_SRC_FILE;
        } else if (it->def) {
            text = it->def;
            src = CORE_CFG_SRC_DEFAULT;
        } else {
            if (it->flags & CORE_CFG_REQUIRED) {
                err_add(&e, "%s: required setting missing (%s)", it->key,
                        it->help ? it->help : type_name(it->type));
                rc = CORE_ECONFIG;
            }
            continue;
        }
        cfg_value tmp = {0};
        const char *why = NULL;
        char whybuf[160];
        if (parse_value(it, text, &tmp, &why, whybuf, sizeof whybuf) != CORE_OK) {
            const char *where = src == CORE_CFG_SRC_ENV    ? "environment"
                                : src == CORE_CFG_SRC_FILE ? "config file"
                                                           : "default";
            if (it->flags & CORE_CFG_SECRET)
                err_add(&e, "%s (from the %s): the value (hidden) %s", it->key, where, why);
            else
                err_add(&e, "%s (from the %s): \"%.80s%s\" %s", it->key, where, text,
                        strlen(text) > 80 ? "..." : "", why);
            rc = CORE_ECONFIG;
            continue;
        }
        if (it->type == CORE_CFG_STRING) {
            tmp.raw = strdup(text);
        } else {
            size_t tl;
            const char *t = trim_view(text, &tl);
            tmp.raw = strndup(t, tl);
        }
        if (!tmp.raw) {
            rc = CORE_ENOMEM;
            goto out;
        }
        tmp.src = src;
        *v = tmp;
    }
out:
    for (size_t i = 0; i < c->n; i++)
        free(file_vals[i]);
    free(file_vals);
    return rc;
}

int core_config_parse_args(core_config *c, int argc, char *const *argv, FILE *out, char *err,
                           size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!c)
        return CORE_EINVAL;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            core_config_write_help(c, out ? out : stdout);
            return 1;
        } else if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                if (err && errcap)
                    snprintf(err, errcap, "--config: missing file name");
                return CORE_ECONFIG;
            }
            file = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            file = a + 9;
        } else {
            if (err && errcap)
                snprintf(err, errcap, "%.100s: unknown argument (see --help)", a);
            return CORE_ECONFIG;
        }
    }
    return core_config_load(c, file, err, errcap);
}

int core_config_write_help(const core_config *c, FILE *out)
{
    if (!c || !out)
        return CORE_EINVAL;
    int w = 0;
    w |= fprintf(out, "Usage: %s [--config FILE] [--help]\n\n", c->prog) < 0;
    w |= fprintf(out, "Settings come from environment variables, or from KEY=value lines in the "
                      "--config FILE;\nthe environment wins over the file, the file over the "
                      "default.\nDurations take a unit: ms, s, m or h (e.g. 5s).\n\n") < 0;
    for (size_t i = 0; i < c->n; i++) {
        const core_config_item *it = &c->items[i];
        w |= fprintf(out, "  %s  (%s", it->key, type_name(it->type)) < 0;
        if (has_range(it)) {
            if (it->type == CORE_CFG_INT)
                w |= fprintf(out, " in [%" PRId64 ", %" PRId64 "]", it->min, it->max) < 0;
            else if (it->type == CORE_CFG_DURATION)
                w |= fprintf(out, " in [%" PRId64 "ms, %" PRId64 "ms]", it->min, it->max) < 0;
            else if (it->type == CORE_CFG_STRING || it->type == CORE_CFG_URL)
                w |= fprintf(out, ", length in [%" PRId64 ", %" PRId64 "]", it->min,
                             it->max) < 0;
        }
        if (it->flags & CORE_CFG_SECRET)
            w |= fprintf(out, ", secret") < 0;
        if (it->def)
            w |= fprintf(out, ", default %s",
                         (it->flags & CORE_CFG_SECRET) ? "(hidden)" : it->def) < 0;
        else if (it->flags & CORE_CFG_REQUIRED)
            w |= fprintf(out, ", required") < 0;
        w |= fprintf(out, ")\n      %s\n", it->help ? it->help : "") < 0;
    }
    return w ? CORE_EIO : CORE_OK;
}

static const char *src_name(core_config_source s)
{
    switch (s) {
    case CORE_CFG_SRC_DEFAULT:
        return "default";
    case CORE_CFG_SRC_FILE:
        return "file";
    case CORE_CFG_SRC_ENV:
        return "env";
    default:
        return "unset";
    }
}

int core_config_write_values(const core_config *c, FILE *out)
{
    if (!c || !out)
        return CORE_EINVAL;
    int w = 0;
    for (size_t i = 0; i < c->n; i++) {
        const core_config_item *it = &c->items[i];
        const cfg_value *v = &c->vals[i];
        if (!v->raw)
            w |= fprintf(out, "%s= (unset)\n", it->key) < 0;
        else if (it->flags & CORE_CFG_SECRET)
            w |= fprintf(out, "%s=(hidden) (%s)\n", it->key, src_name(v->src)) < 0;
        else
            w |= fprintf(out, "%s=%s (%s)\n", it->key, v->raw, src_name(v->src)) < 0;
    }
    return w ? CORE_EIO : CORE_OK;
}

/* ---- Getters ---- */

static const cfg_value *lookup(const core_config *c, const char *key, core_config_type t1,
                               core_config_type t2)
{
    ssize_t idx = c && key ? find_item(c, key, strlen(key)) : -1;
    if (idx < 0) {
        fprintf(stderr, "config: BUG: unknown key %s\n", key ? key : "(null)");
        abort();
    }
    const core_config_item *it = &c->items[idx];
    if (t1 && it->type != t1 && it->type != t2) {
        fprintf(stderr, "config: BUG: %s is a %s setting, read as %s\n", key,
                type_name(it->type), type_name(t1));
        abort();
    }
    return &c->vals[idx];
}

const char *core_config_str(const core_config *c, const char *key)
{
    const cfg_value *v = lookup(c, key, CORE_CFG_STRING, CORE_CFG_URL);
    return v->raw;
}

const char *core_config_url(const core_config *c, const char *key)
{
    lookup(c, key, CORE_CFG_URL, CORE_CFG_URL);
    return core_config_str(c, key);
}

int64_t core_config_int(const core_config *c, const char *key)
{
    const cfg_value *v = lookup(c, key, CORE_CFG_INT, CORE_CFG_INT);
    return v->raw ? v->i : 0;
}

bool core_config_bool(const core_config *c, const char *key)
{
    const cfg_value *v = lookup(c, key, CORE_CFG_BOOL, CORE_CFG_BOOL);
    return v->raw ? v->b : false;
}

int64_t core_config_duration_ms(const core_config *c, const char *key)
{
    const cfg_value *v = lookup(c, key, CORE_CFG_DURATION, CORE_CFG_DURATION);
    return v->raw ? v->i : 0;
}

core_config_source core_config_source_of(const core_config *c, const char *key)
{
    return lookup(c, key, 0, 0)->src;
}
