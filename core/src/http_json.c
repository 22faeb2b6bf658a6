/* JSON body helpers: bounded buffer, pre-scan (UTF-8, depth), jansson parse, error bodies. */
#include "core/http_json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---- Body buffer ---- */

void core_body_init(core_body *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : CORE_JSON_DEFAULT_MAX_BYTES;
}

int core_body_append(core_body *b, const void *p, size_t n)
{
    if (n > b->max || b->len > b->max - n || b->len + n > SIZE_MAX - 1)
        return CORE_ETOOBIG;
    if (n == 0 && b->data)
        return CORE_OK;
    size_t need = b->len + n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        size_t limit = b->max < SIZE_MAX ? b->max + 1 : SIZE_MAX; /* >= need */
        if (cap > limit)
            cap = limit;
        char *d = realloc(b->data, cap);
        if (!d)
            return CORE_ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CORE_OK;
}

void core_body_reset(core_body *b, size_t keep)
{
    if (b->cap > keep) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    } else if (b->data) {
        b->data[0] = '\0';
    }
    b->len = 0;
}

void core_body_free(core_body *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xc2 || c > 0xf4)
        return 0;
    if (c < 0xe0) {
        if (n < 2 || (s[1] & 0xc0) != 0x80)
            return 0;
        return 2;
    }
    if (c < 0xf0) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xed && s[1] >= 0xa0)
            return 0; /* surrogate */
        return 3;
    }
    if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
        return 0;
    if (c == 0xf0 && s[1] < 0x90)
        return 0; /* overlong */
    if (c == 0xf4 && s[1] >= 0x90)
        return 0; /* above U+10FFFF */
    return 4;
}

bool core_utf8_valid(const void *data, size_t len)
{
    const unsigned char *s = data;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(s + i, len - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* ---- Parsing ---- */

const char *core_json_problem_code(core_json_problem p)
{
    switch (p) {
    case CORE_JSON_OK:
        return "ok";
    case CORE_JSON_EMPTY:
        return "empty_body";
    case CORE_JSON_TOO_BIG:
        return "body_too_large";
    case CORE_JSON_TOO_DEEP:
        return "json_too_deep";
    case CORE_JSON_BAD_UTF8:
        return "invalid_utf8";
    case CORE_JSON_MALFORMED:
        return "malformed_json";
    case CORE_JSON_NOT_OBJECT:
        return "json_not_object";
    case CORE_JSON_NO_MEMORY:
        return "out_of_memory";
    }
    return "malformed_json";
}

/* Copies src into dst keeping printable ASCII only (others become '?'). */
static void ascii_copy(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[i] = '\0';
}

static int fail(core_json_diag *d, core_json_problem p, const char *msg, int rc)
{
    if (d) {
        d->problem = p;
        ascii_copy(d->message, sizeof d->message, msg);
    }
    return rc;
}

int core_json_parse(const void *data, size_t len, const core_json_limits *lim, json_t **out,
                    core_json_diag *diag)
{
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : CORE_JSON_DEFAULT_MAX_BYTES;
    unsigned max_depth = lim && lim->max_depth ? lim->max_depth : CORE_JSON_DEFAULT_MAX_DEPTH;
    bool allow_any = lim && lim->allow_any;
    *out = NULL;
    if (diag)
        memset(diag, 0, sizeof *diag);
    if (len > max_bytes)
        return fail(diag, CORE_JSON_TOO_BIG, "request body over the size limit", CORE_ETOOBIG);
    if (len > 0 && !data)
        return fail(diag, CORE_JSON_MALFORMED, "no body", CORE_EINVAL);

    /* One pass: UTF-8 validity, nesting depth (outside strings), emptiness. */
    const unsigned char *s = data;
    unsigned depth = 0;
    bool in_str = false, esc = false, nonblank = false;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, len - i);
            if (k == 0) {
                char m[80];
                snprintf(m, sizeof m, "request body is not valid UTF-8 (byte offset %zu)", i);
                return fail(diag, CORE_JSON_BAD_UTF8, m, CORE_EINVAL);
            }
            nonblank = true;
            i += k;
            esc = false;
            continue;
        }
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                char m[80];
                snprintf(m, sizeof m, "JSON nested deeper than %u levels", max_depth);
                return fail(diag, CORE_JSON_TOO_DEEP, m, CORE_EINVAL);
            }
        } else if (c == ']' || c == '}') {
            if (depth > 0)
                depth--;
        }
        if (!(c == ' ' || c == '\t' || c == '\r' || c == '\n'))
            nonblank = true;
        i++;
    }
    if (!nonblank)
        return fail(diag, CORE_JSON_EMPTY, "request body is empty; a JSON document is required",
                    CORE_EINVAL);

    json_error_t err;
    /* Any top-level value is decoded, so that a scalar is reported as "not an object" rather
     * than as a syntax error. */
    size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
    json_t *j = json_loadb(data, len, flags, &err);
    if (!j) {
        enum json_error_code code = json_error_code(&err);
        if (code == json_error_out_of_memory)
            return fail(diag, CORE_JSON_NO_MEMORY, "out of memory", CORE_ENOMEM);
        char m[200];
        snprintf(m, sizeof m, "malformed JSON: %s (line %d, column %d)", err.text, err.line,
                 err.column);
        core_json_problem p = code == json_error_invalid_utf8 ? CORE_JSON_BAD_UTF8
                              : code == json_error_wrong_type ? CORE_JSON_NOT_OBJECT
                                                              : CORE_JSON_MALFORMED;
        if (diag) {
            diag->line = err.line;
            diag->column = err.column;
        }
        return fail(diag, p, m, CORE_EINVAL);
    }
    if (!allow_any && !json_is_object(j)) {
        json_decref(j);
        return fail(diag, CORE_JSON_NOT_OBJECT, "the JSON body must be an object", CORE_EINVAL);
    }
    *out = j;
    if (diag)
        diag->problem = CORE_JSON_OK;
    return CORE_OK;
}

/* ---- Output ---- */

char *core_json_dump(const json_t *j, size_t *len)
{
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && len)
        *len = strlen(s);
    return s;
}

/* A json string of s with invalid UTF-8 bytes replaced by '?'. */
static json_t *utf8_string(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    if (core_utf8_valid(s, n))
        return json_stringn(s, n);
    char *copy = malloc(n + 1);
    if (!copy)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t k = u[i] < 0x80 ? 1 : utf8_seq(u + i, n - i);
        if (k == 0) {
            copy[o++] = '?';
            i++;
        } else {
            memcpy(copy + o, u + i, k);
            o += k;
            i += k;
        }
    }
    json_t *r = json_stringn(copy, o);
    free(copy);
    return r;
}

json_t *core_json_error_body(const char *code, const char *message)
{
    json_t *inner = json_object();
    if (!inner)
        return NULL;
    if (json_object_set_new(inner, "code", utf8_string(code)) != 0 ||
        json_object_set_new(inner, "message", utf8_string(message)) != 0) {
        json_decref(inner);
        return NULL;
    }
    json_t *outer = json_object();
    if (!outer || json_object_set_new(outer, "error", inner) != 0) {
        json_decref(outer);
        return NULL;
    }
    return outer;
}
