/* W3C Baggage: an immutable, reference-counted set of key/value entries with properties.
 *
 * Header grammar (W3C Baggage): list-members separated by ',', each `key = value *(; property)`
 * with optional whitespace (spaces, tabs) around every token; key is an RFC 7230 token
 * (case-sensitive); value is baggage-octets with %XX escapes, stored decoded (raw bytes, UTF-8 in
 * practice); properties (`key` or `key=value`) are validated and kept as one normalised string
 * without whitespace (e.g. "prop1;k=v"), values not decoded. A member that does not parse (bad
 * key, characters outside baggage-octet, a malformed escape, an escape decoding to NUL, a bad
 * property) is skipped; the rest of the header is kept. A repeated key keeps its first position
 * and takes the later value. Limits: at most 180 members and 8192 bytes for the serialised
 * header. Extraction keeps members while they fit (a member that would break a limit is dropped;
 * a later, smaller one may still fit) and costs linear time in the header size; formatting does
 * the same. Parsing makes exactly one allocation (the returned object). */
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
 * was found or allocation failed. Thread safe. */
tel_baggage *tel_baggage_parse(const char *const *values, const size_t *lens, size_t n);

/* Returns a new baggage holding the entries of `b` (may be NULL, not modified) plus key=value
 * (replacing an existing key in place, else appended); `value` is raw (it is percent-encoded when
 * serialised); `properties` may be NULL, else property-list text ("p1;k=v") that is validated and
 * normalised. Strings are copied. NULL on invalid key (not a token) or properties, when the entry
 * would break the 180-member / 8192-byte limits, or on allocation failure. The caller owns the
 * result's reference. */
tel_baggage *tel_baggage_set(const tel_baggage *b, const char *key, const char *value,
                             const char *properties);

/* Returns a new baggage without `key` (NULL when nothing remains, b is NULL, or on allocation
 * failure). The caller owns it. */
tel_baggage *tel_baggage_remove(const tel_baggage *b, const char *key);

/* Returns the decoded value of `key` (NUL-terminated, owned by b) or NULL. b may be NULL. */
const char *tel_baggage_get(const tel_baggage *b, const char *key);

/* Number of entries (0 for NULL). */
size_t tel_baggage_count(const tel_baggage *b);

/* Entry i (0 <= i < count), in header order: key, decoded value and properties (NULL when none),
 * owned by b; any out pointer may be NULL. Returns TEL_OK or TEL_ENOTFOUND. */
int tel_baggage_entry(const tel_baggage *b, size_t i, const char **key, const char **value,
                      const char **properties);

/* Serialises as a header value into buf (NUL-terminated): values percent-encoded (every byte
 * outside baggage-octet, and '%', as %XX), properties appended after ';'. A member that would
 * push the header past 8192 bytes is skipped, output stops after 180 members or at the first
 * member that does not fit in cap. Returns the length written (0 for NULL or empty), or
 * TEL_ETOOBIG when cap is too small for the first member. No allocation. */
int tel_baggage_format(const tel_baggage *b, char *buf, size_t cap);

/* Takes / drops a reference (NULL allowed). Atomic; thread safe. */
tel_baggage *tel_baggage_ref(tel_baggage *b);
void tel_baggage_unref(tel_baggage *b);

#ifdef __cplusplus
}
#endif
#endif
