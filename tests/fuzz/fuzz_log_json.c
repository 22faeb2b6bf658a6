/* Fuzz target for the log line writer (log.c, json_write.c): arbitrary bytes as the message, the
 * service, attribute keys and values (strings, string arrays, integers, doubles, booleans).
 * Invariants (abort otherwise): the line ends with exactly one newline, parses as one JSON
 * object with jansson, has the documented fields, and every string that was valid UTF-8 comes
 * back byte for byte (invalid input is repaired, never passed through).
 *
 * Input layout: byte 0 picks the level and the number of attributes; then length-prefixed pieces
 * (one length byte, then that many bytes, cut at the end of the input): message, service, and
 * per attribute a key, a type byte and the value. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "log_internal.h"
#include "telemetry/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ATTRS 8

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static size_t piece(reader *r, const uint8_t **out)
{
    if (r->p >= r->end) {
        *out = r->p;
        return 0;
    }
    size_t n = *r->p++;
    if (n > (size_t)(r->end - r->p)) n = (size_t)(r->end - r->p);
    *out = r->p;
    r->p += n;
    return n;
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = tel__utf8_seq(s + i, n - i);
        if (k == 0) return false;
        i += k;
    }
    return true;
}

/* The decoded JSON string v equals s[0..n) when s was valid UTF-8; else it is valid JSON text
 * (jansson checked that) and at least as long as the valid part would suggest. */
static void check_string(json_t *v, const uint8_t *s, size_t n)
{
    if (!json_is_string(v)) abort();
    if (valid_utf8(s, n) && (json_string_length(v) != n || memcmp(json_string_value(v), s, n) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    reader r = {data + 1, data + size};
    tel__log_line l;
    memset(&l, 0, sizeof l);
    l.time_ns = (uint64_t)data[0] * 0x0123456789ABCDEFull;
    l.level = (tel_log_level)(data[0] % 7); /* one past the last level too */
    const uint8_t *msg;
    l.msg_len = piece(&r, &msg);
    l.msg = (const char *)msg;
    const uint8_t *svc;
    size_t svc_len = piece(&r, &svc);
    tel_buf svc_json = TEL_BUF_INIT;
    if (tel__json_put_str(&svc_json, (const char *)svc, svc_len) != TEL_OK) abort();
    l.service_json = (const char *)svc_json.data;
    l.service_json_len = svc_json.len;
    l.has_span = data[0] & 0x80;
    memset(l.trace_id, data[0], sizeof l.trace_id);
    memset(l.span_id, 0x5a, sizeof l.span_id);

    tel_attr attrs[MAX_ATTRS];
    char keys[MAX_ATTRS][256];
    const char *strs[MAX_ATTRS][4];
    char str_bufs[MAX_ATTRS][4][256];
    const uint8_t *vals[MAX_ATTRS];
    size_t val_lens[MAX_ATTRS];
    size_t n = (size_t)(data[0] >> 4) % (MAX_ATTRS + 1);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k;
        size_t kl = piece(&r, &k);
        memcpy(keys[i], k, kl);
        keys[i][kl] = '\0';
        const uint8_t *t;
        uint8_t type = piece(&r, &t) ? t[0] : 0;
        const uint8_t *v;
        size_t vl = piece(&r, &v);
        vals[i] = v;
        val_lens[i] = vl;
        tel_attr *a = &attrs[i];
        memset(a, 0, sizeof *a);
        a->key = keys[i];
        uint64_t bits = 0;
        memcpy(&bits, v, vl < 8 ? vl : 8);
        switch (type % 6) {
        case 0:
            a->type = TEL_ATTR_STRING;
            a->v.s = (const char *)v;
            a->len = (uint32_t)vl;
            break;
        case 1:
            a->type = TEL_ATTR_INT;
            a->v.i = (int64_t)bits;
            break;
        case 2:
            a->type = TEL_ATTR_DOUBLE;
            memcpy(&a->v.d, &bits, 8);
            break;
        case 3:
            a->type = TEL_ATTR_BOOL;
            a->v.b = bits & 1;
            break;
        case 4: {
            /* up to 4 NUL-terminated strings cut from the value */
            size_t m = 0, off = 0;
            while (m < 4 && off <= vl) {
                size_t len = vl - off < 40 ? vl - off : 40;
                memcpy(str_bufs[i][m], v + off, len);
                str_bufs[i][m][len] = '\0';
                strs[i][m] = str_bufs[i][m];
                m++;
                off += len + 1;
            }
            a->type = TEL_ATTR_STRING_ARRAY;
            a->v.arr = strs[i];
            a->len = (uint32_t)m;
            break;
        }
        default:
            a->type = (uint8_t)(type % 2 ? TEL_ATTR_NONE : 200); /* unknown types */
            break;
        }
    }
    l.attrs = attrs;
    l.n_attrs = n;

    tel_buf out = TEL_BUF_INIT;
    if (tel__log_format(&out, &l) != TEL_OK) abort();
    if (out.len == 0 || out.data[out.len - 1] != '\n') abort();
    if (memchr(out.data, '\n', out.len - 1)) abort(); /* one line */
    json_error_t err;
    json_t *j = json_loadb((const char *)out.data, out.len - 1, JSON_ALLOW_NUL, &err);
    if (!j || !json_is_object(j)) abort();
    if (!json_is_string(json_object_get(j, "timestamp")) ||
        json_string_length(json_object_get(j, "timestamp")) != 30 ||
        !json_is_string(json_object_get(j, "level")))
        abort();
    check_string(json_object_get(j, "message"), msg, l.msg_len);
    check_string(json_object_get(j, "service"), svc, svc_len);
    if (!!json_object_get(j, "trace_id") != l.has_span) abort();
    json_t *ja = json_object_get(j, "attributes");
    if (!json_is_object(ja)) abort();
    /* Keys as written: two keys are one JSON member when their escaped forms are equal (an
     * invalid byte and U+FFFD itself both become U+FFFD); the last one wins. */
    tel_buf enc[MAX_ATTRS];
    for (size_t i = 0; i < n; i++) {
        enc[i] = TEL_BUF_INIT;
        if (tel__json_put_str(&enc[i], keys[i], strlen(keys[i])) != TEL_OK) abort();
    }
    for (size_t i = 0; i < n; i++) {
        size_t last = i;
        for (size_t k = i + 1; k < n; k++)
            if (enc[k].len == enc[i].len && memcmp(enc[k].data, enc[i].data, enc[i].len) == 0)
                last = k;
        if (last != i || !valid_utf8((const uint8_t *)keys[i], strlen(keys[i]))) continue;
        json_t *v = json_object_get(ja, keys[i]);
        if (!v) abort();
        if (tel_redact_key_denied(keys[i])) {
            if (!json_is_string(v) || strcmp(json_string_value(v), TEL_REDACTED) != 0) abort();
        } else if (attrs[i].type == TEL_ATTR_STRING) {
            check_string(v, vals[i], val_lens[i]);
        } else if (attrs[i].type == TEL_ATTR_INT) {
            if (!json_is_integer(v) || json_integer_value(v) != attrs[i].v.i) abort();
        } else if (attrs[i].type == TEL_ATTR_DOUBLE) {
            double d = attrs[i].v.d;
            if (d == d && d - d == 0) { /* finite: the number reads back exactly */
                if (!json_is_number(v) || json_number_value(v) != d) abort();
            } else if (!json_is_string(v)) {
                abort();
            }
        } else if (attrs[i].type == TEL_ATTR_BOOL) {
            if (!json_is_boolean(v)) abort();
        } else if (attrs[i].type == TEL_ATTR_STRING_ARRAY) {
            if (!json_is_array(v) || json_array_size(v) != attrs[i].len) abort();
        }
    }
    for (size_t i = 0; i < n; i++)
        tel_buf_free(&enc[i]);
    json_decref(j);
    tel_buf_free(&out);
    tel_buf_free(&svc_json);
    return 0;
}
