/* Secrets policy: attribute keys whose values never reach telemetry.
 *
 * A key is denied when it contains, case-insensitively, one of: password, passwd, token,
 * authorization, secret, cookie, credential, api_key, apikey, private_key, or a fragment a
 * service added with tel_redact_add_key. Denied values are replaced with "[REDACTED]" in span
 * attributes (at export, off the application thread), log attributes and metric attributes. */
#ifndef TELEMETRY_REDACT_H
#define TELEMETRY_REDACT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TEL_REDACTED "[REDACTED]"

/* True when key's value must be redacted. Thread safe. */
bool tel_redact_key_denied(const char *key);
/* Adds a key fragment (copied, lowercased) to the denylist. Call at start-up; thread safe. */
int tel_redact_add_key(const char *fragment);
/* If a's key is denied, turns a into the string attribute "[REDACTED]" (a static string). */
void tel_redact_attr(tel_attr *a);

#ifdef __cplusplus
}
#endif
#endif
