/* tel_buf: a growable byte buffer. */
#include <stdlib.h>
#include <string.h>

#include "telemetry/otlp.h"

int tel_buf_reserve(tel_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra) return TEL_OK;
    if (extra > SIZE_MAX / 2 - b->len) return TEL_ETOOBIG;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) return TEL_ENOMEM;
    b->data = d;
    b->cap = cap;
    return TEL_OK;
}

int tel_buf_append(tel_buf *b, const void *p, size_t n)
{
    if (n == 0) return TEL_OK;
    int rc = tel_buf_reserve(b, n);
    if (rc != TEL_OK) return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return TEL_OK;
}

void tel_buf_reset(tel_buf *b, size_t keep_max)
{
    b->len = 0;
    if (b->cap > keep_max) tel_buf_free(b);
}

void tel_buf_free(tel_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
