/* Parsing of OTEL_* environment variables and of the value grammars they use.
 *
 * The tel_parse_* functions work on strings (the fuzz targets call them); the tel_env_* ones read
 * the environment, treat unset and empty as "use the default", and warn once on stderr, naming
 * the variable, when a value is invalid (the default is then used). Thread safe as long as no
 * thread modifies the environment concurrently. */
#ifndef TELEMETRY_ENV_H
#define TELEMETRY_ENV_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parses "true"/"false" (case-insensitive, surrounding whitespace ignored). */
int tel_parse_bool(const char *s, bool *out);
/* Parses a decimal integer in [min, max] (surrounding whitespace ignored). */
int tel_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* Parses a finite decimal floating point number in [min, max]. */
int tel_parse_double(const char *s, double min, double max, double *out);

/* Calls cb(key, value, ud) for each "key=value" member of a comma-separated list, with
 * surrounding whitespace trimmed and both key and value percent-decoded (W3C baggage octets as
 * in OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS). Strings passed to cb are
 * NUL-terminated temporaries. Returns TEL_OK, TEL_EINVAL for a malformed member (cb may already
 * have been called for earlier members; callers that need all-or-nothing collect first), or
 * the first non-zero value cb returned. Empty members are skipped. */
int tel_parse_kv_list(const char *s, int (*cb)(const char *key, const char *value, void *ud),
                      void *ud);

/* Percent-decodes src[0..len) into dst (capacity cap, NUL-terminated). Returns the decoded
 * length, or TEL_EINVAL on a malformed escape, or TEL_ETOOBIG when cap is too small. */
int tel_percent_decode(const char *src, size_t len, char *dst, size_t cap);

/* The variable's value with surrounding whitespace kept, or NULL when unset or empty. */
const char *tel_env_str(const char *name);
bool tel_env_bool(const char *name, bool def);
int64_t tel_env_int(const char *name, int64_t def, int64_t min, int64_t max);
double tel_env_double(const char *name, double def, double min, double max);

#ifdef __cplusplus
}
#endif
#endif
