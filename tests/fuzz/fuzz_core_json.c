/* Fuzz target for the JSON body helpers (core/src/http_json.c): the bounded body buffer, the
 * parser with size/depth/UTF-8 limits, serialisation and the error body.
 *
 * Input: byte 0 = limits (bits 0-5: max depth 1..64; bit 6: allow any top-level value; bit 7:
 * a tight size limit of 64 bytes instead of 1 MiB); byte 1 = chunk size for feeding the body
 * buffer (1..256); the rest is the body.
 * Invariants: the buffer takes the body iff it fits the limit, and then holds exactly it; a
 * successful parse gives an object (unless any value is allowed) that serialises and parses
 * back to an equal value; a UTF-8 complaint only for invalid UTF-8 and never for valid UTF-8;
 * diagnostics are printable ASCII; the error body is always valid JSON with valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/http_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    core_json_limits lim = {.max_depth = (data[0] & 63u) + 1u,
                            .allow_any = (data[0] & 64u) != 0,
                            .max_bytes = (data[0] & 128u) ? 64u : CORE_JSON_DEFAULT_MAX_BYTES};
    size_t chunk = (size_t)data[1] + 1;
    const uint8_t *body = data + 2;
    size_t len = size - 2;

    /* The bounded buffer, fed in chunks as the server's body callbacks do. */
    core_body b;
    core_body_init(&b, lim.max_bytes);
    int rc = CORE_OK;
    for (size_t off = 0; off < len && rc == CORE_OK; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        rc = core_body_append(&b, body + off, n);
    }
    if (len > lim.max_bytes) {
        if (rc != CORE_ETOOBIG)
            abort();
    } else {
        if (rc != CORE_OK || b.len != len || (len && memcmp(b.data, body, len) != 0))
            abort();
        if (b.data && b.data[b.len] != '\0')
            abort();
    }

    json_t *j = NULL;
    core_json_diag d;
    rc = core_json_parse(len ? (const char *)body : "", len, &lim, &j, &d);
    if (len > lim.max_bytes && (rc != CORE_ETOOBIG || d.problem != CORE_JSON_TOO_BIG))
        abort();
    if (rc == CORE_OK) {
        if (!j || (!lim.allow_any && !json_is_object(j)))
            abort();
        size_t dl = 0;
        char *dump = core_json_dump(j, &dl);
        if (!dump)
            abort();
        core_json_limits back = {.max_bytes = dl + 1, .max_depth = lim.max_depth, .allow_any = true};
        json_t *j2 = NULL;
        if (core_json_parse(dump, dl, &back, &j2, NULL) != CORE_OK || !json_equal(j, j2))
            abort();
        json_decref(j2);
        free(dump);
        json_decref(j);
    } else {
        if (j)
            abort();
        for (const char *p = d.message; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                abort();
        if (d.problem == CORE_JSON_OK)
            abort();
        if (core_json_problem_code(d.problem)[0] == '\0')
            abort();
    }
    if (len <= lim.max_bytes) {
        bool valid = core_utf8_valid(body, len);
        if (d.problem == CORE_JSON_BAD_UTF8 && rc != CORE_OK && valid)
            abort();
        if (!valid && rc == CORE_OK)
            abort();
    }

    /* The error body from arbitrary (possibly invalid UTF-8, NUL-cut) text. */
    char *text = malloc(len + 1);
    if (text) {
        memcpy(text, body, len);
        text[len] = '\0';
        json_t *e = core_json_error_body(text, text);
        if (!e)
            abort();
        char *s = core_json_dump(e, NULL);
        if (!s || !core_utf8_valid(s, strlen(s)))
            abort();
        free(s);
        json_decref(e);
        free(text);
    }
    core_body_free(&b);
    return 0;
}
