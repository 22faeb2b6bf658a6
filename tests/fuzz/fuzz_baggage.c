/* Fuzzes tel_baggage_parse/format (input lines = header lines) and set.
 * Invariants: limits hold; format -> parse -> format is stable and keeps every entry (key,
 * decoded value, properties); a value set through tel_baggage_set reads back unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/baggage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_entries(const tel_baggage *a, const tel_baggage *b)
{
    size_t n = tel_baggage_count(a);
    if (n != tel_baggage_count(b))
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *ka, *va, *pa, *kb, *vb, *pb;
        tel_baggage_entry(a, i, &ka, &va, &pa);
        tel_baggage_entry(b, i, &kb, &vb, &pb);
        if (strcmp(ka, kb) || strcmp(va, vb) || (pa == NULL) != (pb == NULL) ||
            (pa && strcmp(pa, pb)))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *lines[64];
    size_t lens[64], n = 0;
    const char *s = (const char *)data, *end = s + size;
    while (s <= end && n < 64) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        lines[n] = s;
        lens[n++] = (size_t)(le - s);
        s = le + 1;
    }
    tel_baggage *b = tel_baggage_parse(lines, lens, n);
    static char buf[TEL_BAGGAGE_MAX_BYTES + 1], buf2[TEL_BAGGAGE_MAX_BYTES + 1];
    if (b) {
        if (tel_baggage_count(b) == 0 || tel_baggage_count(b) > TEL_BAGGAGE_MAX_MEMBERS)
            abort();
        int len = tel_baggage_format(b, buf, sizeof buf);
        if (len <= 0 || (size_t)len != strlen(buf) || len > TEL_BAGGAGE_MAX_BYTES)
            abort();
        const char *v[1] = {buf};
        tel_baggage *back = tel_baggage_parse(v, NULL, 1);
        /* Extraction keeps only members that fit the limits, so everything is serialised. */
        if (!back || !same_entries(b, back))
            abort();
        int len2 = tel_baggage_format(back, buf2, sizeof buf2);
        if (len2 != len || memcmp(buf, buf2, (size_t)len) != 0)
            abort();
        /* Truncated output buffers stop at a member boundary. */
        int small = tel_baggage_format(b, buf2, (size_t)len / 2 + 1);
        if (small != TEL_ETOOBIG && (small < 0 || memcmp(buf, buf2, (size_t)small) != 0 ||
                                     (buf[small] != ',' && buf[small] != '\0')))
            abort();
        tel_baggage_unref(back);
    }
    /* The raw input as a value: it reads back unchanged (up to the first NUL). */
    size_t vl = size < 2000 ? size : 2000;
    char *val = malloc(vl + 1);
    memcpy(val, data, vl);
    val[vl] = '\0';
    tel_baggage *c = tel_baggage_set(b, "fuzz", val, NULL);
    if (c) {
        if (strcmp(tel_baggage_get(c, "fuzz"), val) != 0)
            abort();
        int len = tel_baggage_format(c, buf, sizeof buf);
        const char *v[1] = {buf};
        tel_baggage *back = tel_baggage_parse(v, NULL, 1);
        if (len <= 0 || !back || strcmp(tel_baggage_get(back, "fuzz") ? tel_baggage_get(back, "fuzz") : "", val) != 0)
            abort();
        tel_baggage_unref(back);
    }
    free(val);
    tel_baggage_unref(c);
    tel_baggage_unref(b);
    return 0;
}
