/* Secrets policy: attribute keys whose values never reach telemetry.
 *
 * A key is denied when it contains, case-insensitively, one of: password, passwd, token,
 * authorization, secret, cookie, credential, api_key, apikey, private_key, or a fragment a
 * service added with tel_redact_add_key. '-' and '_' are the same character for the match, so
 * "http.request.header.x-api-key" and "private-key" are denied too. Denied values are replaced
 * with "[REDACTED]" in span attributes (at export, off the application thread), log attributes
 * and metric attributes. */
#ifndef TELEMETRY_REDACT_H
#define TELEMETRY_REDACT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TEL_REDACTED "[REDACTED]"

/* Longest fragment tel_redact_add_key accepts, and how many it keeps. */
#define TEL_REDACT_FRAGMENT_MAX 63
#define TEL_REDACT_MAX_FRAGMENTS 32

/* True when key's value must be redacted (NULL: false). Thread safe, lock-free, allocation
 * free. */
bool tel_redact_key_denied(const char *key);
/* Adds a key fragment (copied, lowercased, '-' read as '_') to the denylist for the rest of the
 * process. Call at start-up; thread safe (also against concurrent tel_redact_key_denied).
 * Returns TEL_OK (also when the fragment is already denied), TEL_EINVAL (NULL or empty),
 * TEL_ETOOBIG (longer than TEL_REDACT_FRAGMENT_MAX) or TEL_EFULL (TEL_REDACT_MAX_FRAGMENTS
 * fragments were added already). */
int tel_redact_add_key(const char *fragment);
/* If a's key is denied, turns a into the string attribute "[REDACTED]" (a static string; any
 * type, arrays included). Returns true when it did. The key is kept. */
bool tel_redact_attr(tel_attr *a);
/* tel_redact_attr on each of attrs[0..n). Returns how many were redacted. */
size_t tel_redact_attrs(tel_attr *attrs, size_t n);

#ifdef __cplusplus
}
#endif
#endif
