/* W3C tracestate: an immutable, reference-counted list of vendor entries.
 *
 * Rules (W3C Trace Context level 2, as the W3C test suite checks them): list-members separated by
 * ',' with optional whitespace (spaces and tabs) around them; empty and whitespace-only members
 * are allowed and skipped; at most 32 non-empty members (more make the whole header invalid);
 * key = (lcalpha / DIGIT) 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"), i.e. at most 256
 * characters (the level 2 grammar folds the level 1 multi-tenant form "tenant@system" into this
 * one); value = 0*255(chr) nblk-chr with chr = %x20 / nblk-chr and nblk-chr = %x21-2B / %x2D-3C /
 * %x3E-7E (leading spaces belong to the value, trailing ones are whitespace). A member that
 * breaks the grammar makes the whole tracestate invalid: it is discarded entirely (the
 * traceparent is still used). A repeated key keeps its first (left-most) entry and the later
 * ones are dropped, which the specification allows ("vendors MAY discard duplicate keys") and
 * the W3C test suite expects. */
#ifndef TELEMETRY_TRACESTATE_H
#define TELEMETRY_TRACESTATE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TEL_TRACESTATE_MAX_MEMBERS 32

typedef struct tel_tracestate tel_tracestate;

/* Parses and joins `n` header values (several tracestate header lines are one list, joined with
 * ','). `lens[i]` gives each value's length, or lens may be NULL for NUL-terminated values.
 * Returns a new tracestate with one reference (one allocation), or NULL when the result is
 * empty, invalid or allocation failed; then *err, if given, is TEL_OK for empty, TEL_EINVAL for
 * invalid and TEL_ENOMEM for allocation failure. Thread safe. */
tel_tracestate *tel_tracestate_parse(const char *const *values, const size_t *lens, size_t n,
                                     int *err);

/* Returns the normalised serialisation (members joined by ',' without whitespace; "" for NULL),
 * valid as long as the caller holds a reference. `len` may be NULL. */
const char *tel_tracestate_str(const tel_tracestate *ts, size_t *len);

/* Number of members (0 for NULL). */
size_t tel_tracestate_count(const tel_tracestate *ts);

/* Looks up `key`; returns a pointer to the value (not NUL-terminated: see *len) or NULL.
 * ts may be NULL. */
const char *tel_tracestate_get(const tel_tracestate *ts, const char *key, size_t *len);

/* Member i (0 <= i < count), left to right: key and value pointers into ts (not NUL-terminated)
 * and their lengths; any out pointer may be NULL. Returns TEL_OK or TEL_ENOTFOUND. */
int tel_tracestate_entry(const tel_tracestate *ts, size_t i, const char **key, size_t *klen,
                         const char **value, size_t *vlen);

/* Returns a new tracestate with `key=value` first (an existing entry for key is removed; the last
 * member is dropped when 32 would be exceeded), or NULL when key or value is invalid or on
 * allocation failure. `ts` may be NULL and is not modified. The caller owns the result's
 * reference. */
tel_tracestate *tel_tracestate_set(const tel_tracestate *ts, const char *key, const char *value);

/* Returns a new tracestate without `key` (NULL when nothing remains, ts is NULL, or on allocation
 * failure). The caller owns it. */
tel_tracestate *tel_tracestate_remove(const tel_tracestate *ts, const char *key);

/* Takes a reference (ts may be NULL; returns ts). Atomic; thread safe. */
tel_tracestate *tel_tracestate_ref(tel_tracestate *ts);
/* Drops a reference, freeing on the last one (ts may be NULL). Atomic; thread safe. */
void tel_tracestate_unref(tel_tracestate *ts);

#ifdef __cplusplus
}
#endif
#endif
