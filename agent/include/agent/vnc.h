/* VNC: dialing a BMC's VNC port and the first steps of the RFB handshake (RFC 6143).
 *
 * agt_vnc_dial connects (a `tcp.dial` CLIENT span), reads the server's ProtocolVersion, answers
 * with the highest version both speak (3.8 for current servers), and reads the server's list of
 * security types (an `rfb.handshake` CLIENT span). It stops there: choosing a security type and
 * authenticating belong to the console layer, which receives the connected socket positioned
 * right after the security-types message.
 *
 * The agt_rfb_* functions are the pure parsers behind the handshake (no I/O, no allocation,
 * thread safe); they are public for tests and fuzzing and for the console layer. */
#ifndef AGENT_VNC_H
#define AGENT_VNC_H

#include <stddef.h>
#include <stdint.h>

#include "agent/bmc.h"
#include "telemetry/context.h"
#include "telemetry/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AGT_RFB_VERSION_LEN 12       /* "RFB 003.008\n" */
#define AGT_RFB_REASON_READ_MAX 1024 /* bytes of a failure reason that are read, at most */

/* RFB security types (the ones with names here; any byte may appear in a list). */
enum {
    AGT_RFB_SEC_INVALID = 0,
    AGT_RFB_SEC_NONE = 1,
    AGT_RFB_SEC_VNCAUTH = 2,
    AGT_RFB_SEC_RA2 = 5,
    AGT_RFB_SEC_RA2NE = 6,
    AGT_RFB_SEC_TIGHT = 16,
    AGT_RFB_SEC_ULTRA = 17,
    AGT_RFB_SEC_TLS = 18,
    AGT_RFB_SEC_VENCRYPT = 19,
    AGT_RFB_SEC_SASL = 20,
    AGT_RFB_SEC_MD5 = 21,
    AGT_RFB_SEC_XVP = 22,
    AGT_RFB_SEC_APPLE_ARD = 30,
};

/* What the handshake learnt. */
typedef struct agt_rfb_info {
    int server_major, server_minor; /* the ProtocolVersion the server announced */
    int minor;                      /* the version we answered: 3.minor (3, 7 or 8) */
    uint8_t sec_types[255];         /* the security types the server offers, in its order */
    size_t n_sec_types;             /* 0 when the server refused the connection */
    char failure_reason[256];       /* the server's reason when it refused ("" otherwise;
                                       printable ASCII, truncated) */
} agt_rfb_info;

/* Parses a ProtocolVersion message: exactly "RFB xxx.yyy\n" with three decimal digits each.
 * Returns AGT_OK with *major and *minor set, or AGT_EPROTO (len must be AGT_RFB_VERSION_LEN). */
int agt_rfb_parse_version(const uint8_t *buf, size_t len, int *major, int *minor);

/* The minor version we answer to a server version: 8 for 3.8 and anything later (including
 * majors above 3), 7 for 3.7, 3 for 3.3 and for the unofficial 3.4-3.6 (which RFC 6143 says to
 * treat as 3.3). Returns -1 for versions before 3.3 (no handshake possible). */
int agt_rfb_choose_minor(int major, int minor);

/* Writes our ProtocolVersion answer for 3.minor, "RFB 003.00m\n" plus a NUL, into out. */
void agt_rfb_format_version(int minor, char out[AGT_RFB_VERSION_LEN + 1]);

/* Parses the server's security message for protocol 3.minor from the first len bytes received
 * after the version exchange. 3.7/3.8: U8 count, then count types; count 0 means refusal and is
 * followed by a U32 reason length and the reason. 3.3: one U32 type chosen by the server (0 is
 * refusal, followed by the reason as above). Only the first AGT_RFB_REASON_READ_MAX bytes of a
 * reason are required (a longer reason is truncated, the rest left unread).
 * Returns 0 when the message is complete (info->sec_types/n_sec_types or failure_reason filled,
 * *consumed set to its length), a positive number N when at least N bytes in total are needed,
 * or AGT_EPROTO when the bytes cannot be a security message (3.3 with a type other than 0, 1, 2).
 */
int agt_rfb_parse_security(const uint8_t *buf, size_t len, int minor, agt_rfb_info *info,
                           size_t *consumed);

/* Parses everything the server sends before the client's first choice: the ProtocolVersion and
 * the security message (as the version we would answer implies). Same return convention as
 * agt_rfb_parse_security; info gets the versions too. */
int agt_rfb_parse_server_handshake(const uint8_t *buf, size_t len, agt_rfb_info *info,
                                   size_t *consumed);

/* A static name for a security type ("None", "VncAuth", ..., "unknown"). */
const char *agt_rfb_security_name(uint8_t type);

/* Dials host:port (a name or a numeric address) and runs the handshake up to the security types,
 * within deadline_ns (tel_mono_ns clock). Spans `tcp.dial` and `rfb.handshake` become children of
 * ctx (may be NULL) on tracer (NULL: tel_global_tracer("bmcfleet.agent")).
 * On AGT_OK, *fd is the connected socket (non-blocking, close-on-exec; the caller owns it and
 * closes it) positioned after the security-types message, and *info is filled. Otherwise *fd is
 * -1 and the code says why: AGT_EUNREACHABLE (refused, no route, name not found), AGT_ETIMEOUT,
 * AGT_ECLOSED (the server hung up mid-handshake), AGT_EPROTO (not an RFB server), AGT_EBMC (the
 * server refused the connection; the reason is in res->message and info->failure_reason),
 * AGT_EINVAL. Name resolution uses getaddrinfo and is not bounded by the deadline (use addresses
 * where that matters). Thread safe. */
int agt_vnc_dial(const char *host, int port, const tel_context *ctx, uint64_t deadline_ns,
                 tel_tracer *tracer, int *fd, agt_rfb_info *info, agt_result *res);

#ifdef __cplusplus
}
#endif
#endif
