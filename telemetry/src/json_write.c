/* Direct JSON writer: strings, numbers and attribute values into a tel_buf. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"

size_t tel__utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Byte classes: 0 copied as is, 1 escaped, 2 the start of a multi-byte (or invalid) sequence. */
static const unsigned char cls[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

int tel__json_put_str(tel_buf *b, const char *s, size_t n)
{
    /* Worst case: every byte a \u00XX escape (6 bytes); a replaced byte needs 3. */
    if (n > (SIZE_MAX - 2) / 6 || tel_buf_reserve(b, n * 6 + 2) != TEL_OK) return TEL_ENOMEM;
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && cls[u[run]] == 0)
            run++;
        if (run > i) {
            memcpy(o, u + i, run - i);
            o += run - i;
            i = run;
            if (i == n) break;
        }
        unsigned char c = u[i];
        if (cls[c] == 1) {
            *o++ = '\\';
            switch (c) {
            case '"':
                *o++ = '"';
                break;
            case '\\':
                *o++ = '\\';
                break;
            case '\n':
                *o++ = 'n';
                break;
            case '\t':
                *o++ = 't';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
            i++;
            continue;
        }
        size_t k = tel__utf8_seq(u + i, n - i);
        if (k == 0) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(o, u + i, k);
            o += k;
            i += k;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return TEL_OK;
}

int tel__json_put_int(tel_buf *b, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return tel_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

int tel__json_put_double(tel_buf *b, double d)
{
    if (isnan(d)) return tel_buf_append(b, "\"NaN\"", 5);
    if (isinf(d))
        return d > 0 ? tel_buf_append(b, "\"Infinity\"", 10)
                     : tel_buf_append(b, "\"-Infinity\"", 11);
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d) n = snprintf(tmp, sizeof tmp, "%.17g", d);
    if (n < 0 || (size_t)n >= sizeof tmp) return TEL_EINVAL;
    /* The locale may use a decimal comma; JSON never does. */
    for (int i = 0; i < n; i++)
        if (tmp[i] == ',') tmp[i] = '.';
    return tel_buf_append(b, tmp, (size_t)n);
}

int tel__json_put_attr_value(tel_buf *b, const tel_attr *a)
{
    switch (a->type) {
    case TEL_ATTR_STRING:
        return tel__json_put_str(b, a->v.s, a->v.s ? a->len : 0);
    case TEL_ATTR_BOOL:
        return a->v.b ? tel_buf_append(b, "true", 4) : tel_buf_append(b, "false", 5);
    case TEL_ATTR_INT:
        return tel__json_put_int(b, a->v.i);
    case TEL_ATTR_DOUBLE:
        return tel__json_put_double(b, a->v.d);
    case TEL_ATTR_STRING_ARRAY:
    case TEL_ATTR_BOOL_ARRAY:
    case TEL_ATTR_INT_ARRAY:
    case TEL_ATTR_DOUBLE_ARRAY: {
        uint32_t n = a->v.arr ? a->len : 0;
        int rc = tel_buf_append(b, "[", 1);
        for (uint32_t i = 0; i < n && rc == TEL_OK; i++) {
            if (i) rc = tel_buf_append(b, ",", 1);
            tel_attr el = tel_attr_array_element(a, i);
            if (rc == TEL_OK) rc = tel__json_put_attr_value(b, &el);
        }
        return rc == TEL_OK ? tel_buf_append(b, "]", 1) : rc;
    }
    default:
        return tel_buf_append(b, "null", 4);
    }
}
