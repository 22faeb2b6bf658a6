/* W3C Baggage: an immutable, reference-counted set of key/value entries with properties.
 *
 * Header grammar (W3C Baggage): list-members separated by ',', each `key = value *(; property)`
 * with optional whitespace around tokens; key is an RFC 7230 token; value is percent-encoded
 * baggage-octets; properties are kept verbatim (as a string, e.g. "prop1;k=v"). Limits: at most
 * 180 members and 8192 bytes for the whole serialised header; members past a limit are dropped
 * (extract keeps the ones that fit, inject stops before the limit). A member that does not parse
 * is skipped; the rest of the header is kept. Values are stored decoded (UTF-8). */
#ifndef TELEMETRY_BAGGAGE_H
#define TELEMETRY_BAGGAGE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TEL_BAGGAGE_MAX_MEMBERS 180
#define TEL_BAGGAGE_MAX_BYTES 8192

typedef struct tel_baggage tel_baggage;

/* Parses `n` header values (several baggage header lines are one list). `lens` may be NULL for
 * NUL-terminated values. Returns a new baggage with one reference, or NULL when nothing valid
 * was found. Thread safe. */
tel_baggage *tel_baggage_parse(const char *const *values, const size_t *lens, size_t n);

/* Returns a new baggage holding the entries of `b` (may be NULL) plus key=value (replacing an
 * existing key); `properties` may be NULL. Strings are copied. NULL on invalid key (not a token)
 * or allocation failure. The caller owns the result's reference. */
tel_baggage *tel_baggage_set(const tel_baggage *b, const char *key, const char *value,
                             const char *properties);

/* Returns a new baggage without `key` (NULL when nothing remains). The caller owns it. */
tel_baggage *tel_baggage_remove(const tel_baggage *b, const char *key);

/* Returns the decoded value of `key` (NUL-terminated, owned by b) or NULL. b may be NULL. */
const char *tel_baggage_get(const tel_baggage *b, const char *key);

/* Number of entries (0 for NULL). */
size_t tel_baggage_count(const tel_baggage *b);

/* Entry i (0 <= i < count): key, decoded value and properties (NULL when none); owned by b. */
int tel_baggage_entry(const tel_baggage *b, size_t i, const char **key, const char **value,
                      const char **properties);

/* Serialises as a header value with percent-encoded values into buf (NUL-terminated), stopping
 * before the member that would break the 180-member / 8192-byte limits. Returns the length
 * written (0 for NULL or empty), or TEL_ETOOBIG when cap is too small for the first member. */
int tel_baggage_format(const tel_baggage *b, char *buf, size_t cap);

/* Takes / drops a reference (NULL allowed). Atomic; thread safe. */
tel_baggage *tel_baggage_ref(tel_baggage *b);
void tel_baggage_unref(tel_baggage *b);

#ifdef __cplusplus
}
#endif
#endif
