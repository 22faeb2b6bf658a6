/* Serial over LAN (IPMI 2.0 SOL) through libipmiconsole.
 *
 * agt_sol_open activates SOL on an ipmi:// BMC and hands back a session whose file descriptor
 * carries the host's serial bytes both ways: what the BMC sends (the host's console output) is
 * readable, what is written goes to the host's serial input. The agent's stream pump polls
 * agt_sol_fd() and moves bytes with agt_sol_read()/agt_sol_write(), which count them (the counts
 * are reported when the session closes) and report a session that ended or was taken over.
 * Bytes moved by reading/writing the descriptor directly work but are not counted.
 *
 * Settings come from agt_bmc_options: cipher_suite (default 3), privilege (default
 * ADMINISTRATOR: most BMCs require it to activate SOL), sol_workaround_flags
 * (IPMICONSOLE_WORKAROUND_*), sol_keepalive_ms (default 20000; ipmi_sim needs ~400 because it drops
 * sessions after 30 s regardless of SOL traffic), sol_take_over (false: opening fails with
 * AGT_EINUSE when SOL is already active on the BMC; true: the new session takes SOL over) and
 * tracer. A take-over of a session opened by this process ends that session cleanly first (it
 * then reads AGT_ECLOSED, reason "taken over", and its span gets an "ipmi.sol.stolen" event) and
 * waits up to 1 s for the BMC to release SOL; a session held by another client is deactivated by
 * libipmiconsole. libipmiconsole 1.6.10 limits: the BMC's UDP port must be at most 32767 and an
 * IPv6 address cannot carry a port (both give AGT_EUNSUPPORTED).
 *
 * Tracing (parents are the caller's context):
 *  - "ipmi.sol.activate" (CLIENT) covers establishment only: bmc.type, bmc.address,
 *    server.address, server.port, ipmi.cipher_suite, ipmi.privilege, ipmi.sol.take_over,
 *    ipmi.sol.keepalive_ms, ipmi.sol.establish_ms, and ipmi.sol.engine_was_idle with an
 *    explanatory ipmi.sol.engine_note when libipmiconsole's engine thread held no other session
 *    (it then sleeps 250 ms between polls, which dominates establishment); event
 *    "ipmi.sol.established"; ERROR status with libipmiconsole's error text on failure.
 *  - "ipmi.sol.session" (INTERNAL) covers the established session until agt_sol_close, with
 *    events "ipmi.sol.break", "ipmi.sol.stolen" (another session took SOL over) and
 *    "ipmi.sol.closed" (ipmi.sol.bytes_in: bytes received from the BMC, ipmi.sol.bytes_out:
 *    bytes sent to it, ipmi.sol.close_reason); the same counts are span attributes.
 * Credentials never reach a span, result message or log line.
 *
 * Thread safety: one agt_sol may be used by two threads at once (one reading, one writing, a third
 * sending a break); agt_sol_close must be the last call. Sessions to different BMCs are
 * independent; they share one libipmiconsole engine thread. */
#ifndef AGENT_SOL_H
#define AGENT_SOL_H

#include <stdint.h>
#include <sys/types.h>

#include "agent/bmc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agt_sol agt_sol;

/* Activates SOL on the BMC at endpoint (ipmi://host[:port]) with username/password (copied for
 * the session's lifetime, never logged). Waits until the session is established or the deadline
 * (tel_mono_ns clock) passes. On success *out owns the session (close it with agt_sol_close) and
 * AGT_OK is returned; otherwise *out is NULL and the code is AGT_EINVAL (bad endpoint/options),
 * AGT_EUNSUPPORTED (not an ipmi:// endpoint, or SOL/cipher unavailable), AGT_EAUTH,
 * AGT_EINUSE (SOL already active and sol_take_over is false), AGT_EUNREACHABLE, AGT_ETIMEOUT,
 * AGT_EBMC or AGT_ENOMEM, also in res (may be NULL). Thread safe. */
int agt_sol_open(const char *endpoint, const char *username, const char *password,
                 const agt_bmc_options *opts, const tel_context *ctx, uint64_t deadline_ns,
                 agt_sol **out, agt_result *res);

/* The non-blocking descriptor carrying the serial bytes (owned by s: do not close it). Poll it
 * for POLLIN/POLLOUT. */
int agt_sol_fd(const agt_sol *s);

/* Reads up to cap bytes the BMC sent. Returns the count (> 0), 0 when nothing is available now,
 * or AGT_ECLOSED when the session ended (the BMC closed it, it timed out, or another session took
 * SOL over; see agt_sol_close_reason). */
ssize_t agt_sol_read(agt_sol *s, void *buf, size_t cap);

/* Sends up to len bytes to the host's serial input. Returns the count accepted (possibly fewer
 * than len, 0 when the descriptor is full) or AGT_ECLOSED. */
ssize_t agt_sol_write(agt_sol *s, const void *buf, size_t len);

/* Requests a serial break. It reaches the host's serial side (as 0xFF 0xF3 with ipmi_sim's tcp
 * serial port) together with, and ahead of, the next bytes written: with libipmiconsole 1.6.10 and
 * ipmi_sim a break alone is not delivered until something is written. Returns AGT_OK or
 * AGT_ECLOSED / AGT_EPROTO (message in res, may be NULL). */
int agt_sol_break(agt_sol *s, agt_result *res);

/* Why the session ended ("" while it is up): static text. */
const char *agt_sol_close_reason(const agt_sol *s);

/* Bytes counted so far (received from / sent to the BMC). Either pointer may be NULL. */
void agt_sol_counts(const agt_sol *s, uint64_t *bytes_in, uint64_t *bytes_out);

/* Deactivates SOL, closes the session, ends its span (counts attached) and frees s. NULL is
 * fine. */
void agt_sol_close(agt_sol *s);

/* Stops libipmiconsole's engine (waits for sessions being closed, 250-500 ms). For process exit
 * and leak checkers; agt_sol_open may be called again afterwards. Call with no session open. */
void agt_sol_shutdown(void);

#ifdef __cplusplus
}
#endif
#endif
