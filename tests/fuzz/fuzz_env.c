/* Fuzz target for the OTEL_* value parsers (env.c): key=value lists with percent-encoding,
 * integers, doubles, booleans. Invariant checked: a decoded key/value never contains more bytes
 * than its encoded form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_kv(const char *k, const char *v, void *ud)
{
    size_t limit = *(size_t *)ud;
    if (strlen(k) == 0 || strlen(k) > limit || strlen(v) > limit)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t limit = size;
    (void)tel_parse_kv_list(s, check_kv, &limit);
    int64_t i;
    double d;
    bool b;
    (void)tel_parse_int(s, INT64_MIN, INT64_MAX, &i);
    if (tel_parse_double(s, -1e308, 1e308, &d) == TEL_OK && d != d)
        abort(); /* NaN must be rejected */
    (void)tel_parse_bool(s, &b);
    char out[64];
    int n = tel_percent_decode(s, size, out, sizeof out);
    if (n >= 0 && (size_t)n > size)
        abort();
    free(s);
    return 0;
}
