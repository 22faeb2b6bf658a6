/* Parsing of OTEL_* environment variables. */
#include "telemetry/env.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

int tel_parse_bool(const char *s, bool *out)
{
    if (!s)
        return TEL_EINVAL;
    size_t len = strlen(s);
    trim(&s, &len);
    if (len == 4 && strncasecmp(s, "true", 4) == 0) {
        *out = true;
        return TEL_OK;
    }
    if (len == 5 && strncasecmp(s, "false", 5) == 0) {
        *out = false;
        return TEL_OK;
    }
    return TEL_EINVAL;
}

int tel_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s)
        return TEL_EINVAL;
    size_t len = strlen(s);
    trim(&s, &len);
    if (len == 0 || len > 24)
        return TEL_EINVAL;
    char tmp[32];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno != 0 || *end != '\0' || end == tmp)
        return TEL_EINVAL;
    if (v < min || v > max)
        return TEL_EINVAL;
    *out = v;
    return TEL_OK;
}

int tel_parse_double(const char *s, double min, double max, double *out)
{
    if (!s)
        return TEL_EINVAL;
    size_t len = strlen(s);
    trim(&s, &len);
    if (len == 0 || len > 64)
        return TEL_EINVAL;
    char tmp[72];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (errno != 0 || *end != '\0' || end == tmp || !isfinite(v))
        return TEL_EINVAL;
    if (v < min || v > max)
        return TEL_EINVAL;
    *out = v;
    return TEL_OK;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int tel_percent_decode(const char *src, size_t len, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return TEL_EINVAL;
            int hi = hexval((unsigned char)src[i + 1]);
            int lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return TEL_EINVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return TEL_ETOOBIG;
        dst[o++] = c;
    }
    if (o >= cap)
        return TEL_ETOOBIG;
    dst[o] = '\0';
    return (int)o;
}

int tel_parse_kv_list(const char *s, int (*cb)(const char *key, const char *value, void *ud),
                      void *ud)
{
    if (!s)
        return TEL_OK;
    const char *p = s;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t mlen = comma ? (size_t)(comma - p) : strlen(p);
        const char *m = p;
        p = comma ? comma + 1 : p + mlen;
        trim(&m, &mlen);
        if (mlen == 0)
            continue;
        const char *eq = memchr(m, '=', mlen);
        if (!eq)
            return TEL_EINVAL;
        const char *k = m;
        size_t klen = (size_t)(eq - m);
        const char *v = eq + 1;
        size_t vlen = mlen - klen - 1;
        trim(&k, &klen);
        trim(&v, &vlen);
        if (klen == 0)
            return TEL_EINVAL;
        char *kbuf = malloc(klen + 1);
        char *vbuf = malloc(vlen + 1);
        if (!kbuf || !vbuf) {
            free(kbuf);
            free(vbuf);
            return TEL_ENOMEM;
        }
        int rc = tel_percent_decode(k, klen, kbuf, klen + 1);
        if (rc >= 0)
            rc = tel_percent_decode(v, vlen, vbuf, vlen + 1);
        if (rc >= 0 && (strlen(kbuf) == 0))
            rc = TEL_EINVAL;
        if (rc >= 0)
            rc = cb(kbuf, vbuf, ud);
        else
            rc = TEL_EINVAL;
        free(kbuf);
        free(vbuf);
        if (rc != 0)
            return rc;
    }
    return TEL_OK;
}

const char *tel_env_str(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return NULL;
    return v;
}

static void warn_invalid(const char *name, const char *value)
{
    fprintf(stderr, "{\"level\":\"warn\",\"message\":\"invalid value for %s, using the default\","
                    "\"value_length\":%zu}\n",
            name, strlen(value));
}

bool tel_env_bool(const char *name, bool def)
{
    const char *v = tel_env_str(name);
    bool out;
    if (!v)
        return def;
    if (tel_parse_bool(v, &out) != TEL_OK) {
        warn_invalid(name, v);
        return def;
    }
    return out;
}

int64_t tel_env_int(const char *name, int64_t def, int64_t min, int64_t max)
{
    const char *v = tel_env_str(name);
    int64_t out;
    if (!v)
        return def;
    if (tel_parse_int(v, min, max, &out) != TEL_OK) {
        warn_invalid(name, v);
        return def;
    }
    return out;
}

double tel_env_double(const char *name, double def, double min, double max)
{
    const char *v = tel_env_str(name);
    double out;
    if (!v)
        return def;
    if (tel_parse_double(v, min, max, &out) != TEL_OK) {
        warn_invalid(name, v);
        return def;
    }
    return out;
}
