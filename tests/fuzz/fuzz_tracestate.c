/* Fuzzes tel_tracestate_parse (input lines = header lines) and the mutation calls.
 * Invariants: a parsed list has 1..32 members with valid keys and values, no repeated key, and
 * its normalised string parses back to the same string; set/remove keep those properties. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/tracestate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const tel_tracestate *ts)
{
    size_t n = tel_tracestate_count(ts);
    if (n == 0 || n > TEL_TRACESTATE_MAX_MEMBERS)
        abort();
    size_t len;
    const char *str = tel_tracestate_str(ts, &len);
    if (strlen(str) != len)
        abort();
    const char *v[1] = {str};
    int err;
    tel_tracestate *back = tel_tracestate_parse(v, &len, 1, &err);
    if (!back || err != TEL_OK || tel_tracestate_count(back) != n ||
        strcmp(tel_tracestate_str(back, NULL), str) != 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *k, *val;
        size_t kl, vl;
        if (tel_tracestate_entry(ts, i, &k, &kl, &val, &vl) != TEL_OK || kl == 0 || kl > 256 ||
            vl == 0 || vl > 256)
            abort();
        char key[257];
        memcpy(key, k, kl);
        key[kl] = '\0';
        size_t gl;
        const char *g = tel_tracestate_get(ts, key, &gl);
        if (g != val || gl != vl) /* the first entry with this key is this one: no repeats */
            abort();
    }
    tel_tracestate_unref(back);
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
    int err = 99;
    tel_tracestate *ts = tel_tracestate_parse(lines, lens, n, &err);
    if (!ts) {
        if (err != TEL_OK && err != TEL_EINVAL)
            abort();
        return 0;
    }
    if (err != TEL_OK)
        abort();
    check(ts);
    /* Mutations: move the last member to the front, remove the first. */
    const char *k, *v;
    size_t kl, vl;
    size_t cnt = tel_tracestate_count(ts);
    tel_tracestate_entry(ts, cnt - 1, &k, &kl, &v, &vl);
    char key[257], val[257];
    memcpy(key, k, kl);
    key[kl] = '\0';
    memcpy(val, v, vl);
    val[vl] = '\0';
    tel_tracestate *moved = tel_tracestate_set(ts, key, val);
    if (!moved || tel_tracestate_count(moved) != cnt)
        abort();
    check(moved);
    tel_tracestate *removed = tel_tracestate_remove(moved, key);
    if (cnt == 1 ? removed != NULL : (!removed || tel_tracestate_count(removed) != cnt - 1))
        abort();
    if (removed)
        check(removed);
    tel_tracestate_unref(removed);
    tel_tracestate_unref(moved);
    tel_tracestate_unref(ts);
    return 0;
}
