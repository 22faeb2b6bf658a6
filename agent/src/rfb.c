/* RFB handshake parsers (RFC 6143 sections 7.1.1-7.1.2); see agent/vnc.h. */
#include <string.h>

#include "agent/vnc.h"

static int digits3(const uint8_t *p)
{
    int v = 0;
    for (int i = 0; i < 3; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int agt_rfb_parse_version(const uint8_t *buf, size_t len, int *major, int *minor)
{
    if (!buf || len != AGT_RFB_VERSION_LEN || memcmp(buf, "RFB ", 4) != 0 || buf[7] != '.' ||
        buf[11] != '\n')
        return AGT_EPROTO;
    int ma = digits3(buf + 4), mi = digits3(buf + 8);
    if (ma < 0 || mi < 0) return AGT_EPROTO;
    *major = ma;
    *minor = mi;
    return AGT_OK;
}

int agt_rfb_choose_minor(int major, int minor)
{
    if (major > 3 || (major == 3 && minor >= 8)) return 8;
    if (major == 3 && minor == 7) return 7;
    if (major == 3 && minor >= 3) return 3;
    return -1;
}

void agt_rfb_format_version(int minor, char out[AGT_RFB_VERSION_LEN + 1])
{
    memcpy(out, "RFB 003.00", 10);
    out[10] = (char)('0' + (minor >= 0 && minor <= 9 ? minor : 8));
    out[11] = '\n';
    out[12] = '\0';
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The refusal reason at p: a U32 length, then the text. hdr is the offset of the length. */
static int parse_reason(const uint8_t *buf, size_t len, size_t hdr, agt_rfb_info *info,
                        size_t *consumed)
{
    if (len < hdr + 4) return (int)(hdr + 4);
    uint32_t rl = be32(buf + hdr);
    size_t want = rl < AGT_RFB_REASON_READ_MAX ? rl : AGT_RFB_REASON_READ_MAX;
    if (len < hdr + 4 + want) return (int)(hdr + 4 + want);
    size_t keep = want < sizeof info->failure_reason - 1 ? want : sizeof info->failure_reason - 1;
    for (size_t i = 0; i < keep; i++) {
        uint8_t c = buf[hdr + 4 + i];
        info->failure_reason[i] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
    }
    info->failure_reason[keep] = '\0';
    info->n_sec_types = 0;
    *consumed = hdr + 4 + want;
    return 0;
}

int agt_rfb_parse_security(const uint8_t *buf, size_t len, int minor, agt_rfb_info *info,
                           size_t *consumed)
{
    info->n_sec_types = 0;
    info->failure_reason[0] = '\0';
    *consumed = 0;
    if (minor == 3) {
        if (len < 4) return 4;
        uint32_t t = be32(buf);
        if (t == 0) return parse_reason(buf, len, 4, info, consumed);
        if (t != AGT_RFB_SEC_NONE && t != AGT_RFB_SEC_VNCAUTH) return AGT_EPROTO;
        info->sec_types[0] = (uint8_t)t;
        info->n_sec_types = 1;
        *consumed = 4;
        return 0;
    }
    if (minor != 7 && minor != 8) return AGT_EPROTO;
    if (len < 1) return 1;
    size_t n = buf[0];
    if (n == 0) return parse_reason(buf, len, 1, info, consumed);
    if (len < 1 + n) return (int)(1 + n);
    memcpy(info->sec_types, buf + 1, n);
    info->n_sec_types = n;
    *consumed = 1 + n;
    return 0;
}

int agt_rfb_parse_server_handshake(const uint8_t *buf, size_t len, agt_rfb_info *info,
                                   size_t *consumed)
{
    memset(info, 0, sizeof *info);
    *consumed = 0;
    if (len < AGT_RFB_VERSION_LEN) return AGT_RFB_VERSION_LEN;
    if (agt_rfb_parse_version(buf, AGT_RFB_VERSION_LEN, &info->server_major, &info->server_minor) !=
        AGT_OK)
        return AGT_EPROTO;
    info->minor = agt_rfb_choose_minor(info->server_major, info->server_minor);
    if (info->minor < 0) return AGT_EPROTO;
    size_t used = 0;
    int rc = agt_rfb_parse_security(buf + AGT_RFB_VERSION_LEN, len - AGT_RFB_VERSION_LEN,
                                    info->minor, info, &used);
    if (rc > 0) return rc + AGT_RFB_VERSION_LEN;
    if (rc == 0) *consumed = AGT_RFB_VERSION_LEN + used;
    return rc;
}

const char *agt_rfb_security_name(uint8_t type)
{
    switch (type) {
    case AGT_RFB_SEC_INVALID:
        return "Invalid";
    case AGT_RFB_SEC_NONE:
        return "None";
    case AGT_RFB_SEC_VNCAUTH:
        return "VncAuth";
    case AGT_RFB_SEC_RA2:
        return "RA2";
    case AGT_RFB_SEC_RA2NE:
        return "RA2ne";
    case AGT_RFB_SEC_TIGHT:
        return "Tight";
    case AGT_RFB_SEC_ULTRA:
        return "Ultra";
    case AGT_RFB_SEC_TLS:
        return "TLS";
    case AGT_RFB_SEC_VENCRYPT:
        return "VeNCrypt";
    case AGT_RFB_SEC_SASL:
        return "SASL";
    case AGT_RFB_SEC_MD5:
        return "MD5";
    case AGT_RFB_SEC_XVP:
        return "xvp";
    case AGT_RFB_SEC_APPLE_ARD:
        return "AppleARD";
    default:
        return "unknown";
    }
}
