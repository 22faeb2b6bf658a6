/* Fuzzes the RFB handshake parsers (agent/src/rfb.c). The input is what a server sends before the
 * client's security choice. Invariants: no read past len; a complete parse consumed at most len
 * bytes and no more than a legal message; an incomplete one asks for more than it was given;
 * feeding the same bytes one prefix at a time reaches the same result; the reason is printable
 * and terminated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/vnc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_info(const agt_rfb_info *info)
{
    if (info->n_sec_types > 255) abort();
    if (!memchr(info->failure_reason, '\0', sizeof info->failure_reason)) abort();
    for (const char *c = info->failure_reason; *c; c++)
        if (*c < 0x20 || *c >= 0x7f) abort();
    if (info->n_sec_types && info->failure_reason[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);

    int ma, mi;
    if (size >= AGT_RFB_VERSION_LEN &&
        agt_rfb_parse_version(buf, AGT_RFB_VERSION_LEN, &ma, &mi) == AGT_OK) {
        if (ma < 0 || ma > 999 || mi < 0 || mi > 999) abort();
        int m = agt_rfb_choose_minor(ma, mi);
        if (m != -1 && m != 3 && m != 7 && m != 8) abort();
        char out[AGT_RFB_VERSION_LEN + 1];
        if (m > 0) {
            agt_rfb_format_version(m, out);
            int ma2, mi2;
            if (agt_rfb_parse_version((const uint8_t *)out, AGT_RFB_VERSION_LEN, &ma2, &mi2) !=
                    AGT_OK ||
                ma2 != 3 || mi2 != m)
                abort();
        }
    }

    agt_rfb_info whole;
    size_t used = 0;
    int rc = agt_rfb_parse_server_handshake(buf, size, &whole, &used);
    if (rc == 0) {
        if (used > size || used < AGT_RFB_VERSION_LEN + 1) abort();
        if (used > AGT_RFB_VERSION_LEN + 4 + 4 + AGT_RFB_REASON_READ_MAX) abort();
        check_info(&whole);
    } else if (rc > 0 && (size_t)rc <= size) {
        abort();
    }

    /* The security message alone, for every version we answer, fed incrementally. */
    static const int minors[] = {3, 7, 8};
    for (size_t k = 0; k < 3; k++) {
        agt_rfb_info a;
        size_t ua = 0;
        int ra = agt_rfb_parse_security(buf, size, minors[k], &a, &ua);
        if (ra == 0) {
            if (ua > size || ua == 0) abort();
            check_info(&a);
        } else if (ra > 0 && (size_t)ra <= size) {
            abort();
        }
        /* The way the dialer reads: only as much as the parser asks for. */
        size_t have = 0;
        agt_rfb_info b;
        size_t ub = 0;
        int rb = agt_rfb_parse_security(buf, have, minors[k], &b, &ub);
        for (int guard = 0; rb > 0 && (size_t)rb <= size && guard < 16; guard++) {
            if ((size_t)rb <= have) abort(); /* must always ask for more than it has */
            have = (size_t)rb;
            rb = agt_rfb_parse_security(buf, have, minors[k], &b, &ub);
        }
        if (ra <= 0 && (rb != ra || (ra == 0 && (ub != ua || b.n_sec_types != a.n_sec_types ||
                                                 memcmp(b.sec_types, a.sec_types, a.n_sec_types) ||
                                                 strcmp(b.failure_reason, a.failure_reason)))))
            abort();
    }
    free(buf);
    return 0;
}
