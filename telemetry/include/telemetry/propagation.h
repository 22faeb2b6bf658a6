/* Context propagation: carriers and propagators (W3C tracecontext, W3C baggage, B3 single and
 * multi header, Jaeger), composed as OTEL_PROPAGATORS says.
 *
 * Header names are matched case-insensitively by the carrier. Extraction never fails loudly: a
 * malformed header is ignored as its specification says, and whatever valid context remains is
 * returned. */
#ifndef TELEMETRY_PROPAGATION_H
#define TELEMETRY_PROPAGATION_H

#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Callback for tel_carrier.foreach: one header line (name and value are not NUL-terminated).
 * Return 0 to continue, non-zero to stop. */
typedef int (*tel_carrier_visit_fn)(void *arg, const char *name, size_t name_len,
                                    const char *value, size_t value_len);

/* A carrier adapts a header container (HTTP request, curl header list, gRPC metadata).
 * get:     the first value of header `name` (case-insensitive) and its length, or NULL.
 * get_all: up to `max` values of header `name` in the order received, storing pointers and
 *          lengths in vals/lens; returns the total number present (may exceed max). A carrier
 *          that can only see one value per name may return at most 1. May be NULL: then get is
 *          used (and a duplicated traceparent cannot be detected).
 * set:     sets header `name` (lowercase as given) to the NUL-terminated `value`, replacing any
 *          previous value set through this carrier; returns 0 or a negative code.
 * foreach: calls visit(arg, ...) for every header line in order until it returns non-zero.
 *          Optional (NULL): only the Jaeger propagator uses it, to find `uberctx-*` baggage.
 * Returned pointers stay valid while the underlying container is unchanged. A carrier is used by
 * one thread at a time. */
typedef struct tel_carrier {
    void *ud;
    const char *(*get)(void *ud, const char *name, size_t *len);
    size_t (*get_all)(void *ud, const char *name, const char **vals, size_t *lens, size_t max);
    int (*set)(void *ud, const char *name, const char *value);
    void (*foreach)(void *ud, tel_carrier_visit_fn visit, void *arg);
} tel_carrier;

/* ---- Single-format parsers and formatters (also used by the fuzz targets) ---- */

#define TEL_TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

/* Parses one traceparent value (W3C level 2 rules: version 00 must be exactly 55 characters;
 * a higher version may carry more fields after a '-'; version ff is invalid; ids must be
 * lowercase hex and non-zero; surrounding spaces/tabs are ignored). On success fills *out with
 * remote=true and the flags the specification defines (sampled 0x01, random 0x02; other bits are
 * cleared) and returns TEL_OK; otherwise returns TEL_EINVAL and leaves *out unchanged. No
 * allocation; thread safe. */
int tel_traceparent_parse(const char *s, size_t len, tel_span_context *out);
/* Writes the version-00 traceparent of sc (56 bytes incl. NUL) into out, with only the sampled
 * and random flags (undefined flags must be sent as zero). No allocation; thread safe. */
void tel_traceparent_format(const tel_span_context *sc, char out[TEL_TRACEPARENT_LEN + 1]);

/* Parses a B3 single header ("{trace}-{span}[-{sampling}[-{parent}]]" or just "0"/"1"/"d"; ids
 * are lowercase hex; a 16-hex-digit trace id is left-padded with zeros; sampling "1" and "d"
 * (debug) set the sampled flag, "0" or none leave it clear). Returns TEL_OK with *out filled
 * (remote=true), TEL_ENOTFOUND for a sampling-only value (nothing to continue), or TEL_EINVAL. */
int tel_b3_parse(const char *s, size_t len, tel_span_context *out);
/* Parses Jaeger's "uber-trace-id" value "{trace}:{span}:{parent}:{flags}" (hex of either case,
 * possibly shorter than full width and then left-padded; flags: one or two hex digits, bit 0x01
 * sampled, 0x02 debug (implies sampled); percent-encoded ':' as %3A accepted). Returns TEL_OK
 * with *out filled (remote=true) or TEL_EINVAL. */
int tel_jaeger_parse(const char *s, size_t len, tel_span_context *out);

/* ---- Propagators ---- */

typedef struct tel_propagator tel_propagator;

/* Propagator format bits, for tel_propagator_create. */
enum {
    TEL_PROP_TRACECONTEXT = 1 << 0,
    TEL_PROP_BAGGAGE = 1 << 1,
    TEL_PROP_B3 = 1 << 2,
    TEL_PROP_B3MULTI = 1 << 3,
    TEL_PROP_JAEGER = 1 << 4,
};

/* Creates a composite propagator from a comma-separated list as in OTEL_PROPAGATORS
 * ("tracecontext,baggage,b3,b3multi,jaeger,none"; names are case-insensitive and trimmed, order
 * is kept, repeats are ignored; unknown names are reported on stderr (once per call) and
 * skipped; "none" alone gives a propagator that does nothing). NULL, "" or a list without any
 * name means the default "tracecontext,baggage". Returns NULL on allocation failure only. The
 * caller owns the result (tel_propagator_destroy). */
tel_propagator *tel_propagator_create(const char *list);
/* Creates from the OTEL_PROPAGATORS environment variable (unset: the default). NULL on allocation
 * failure. */
tel_propagator *tel_propagator_from_env(void);
/* The TEL_PROP_* bits of p (0 for NULL). */
unsigned tel_propagator_formats(const tel_propagator *p);
/* The most carrier keys tel_propagator_fields reports. */
#define TEL_PROPAGATOR_MAX_FIELDS 12
/* The carrier keys p reads and writes (the Fields operation of the OpenTelemetry propagator
 * API), lowercase, in format order, each once: up to max of them into keys (static strings).
 * Returns how many there are. A key ending in '*' stands for every key with that prefix
 * (jaeger's "uberctx-*" baggage). */
size_t tel_propagator_fields(const tel_propagator *p, const char **keys, size_t max);
/* The fields whose presence can give extraction a context, in the same form: all of them but
 * those only read beside another one (tracestate, read only with a valid traceparent). A
 * transport that finds none of these present may skip extraction. */
size_t tel_propagator_context_fields(const tel_propagator *p, const char **keys, size_t max);
/* Frees p (NULL allowed). Must not be the global propagator. */
void tel_propagator_destroy(tel_propagator *p);

/* Extracts into *ctx (an initialised context, whose previous content is released first) from
 * the carrier: each configured format in order; a later trace format fills the span context only
 * if no earlier one did. tracecontext: a missing, invalid or duplicated (two header lines)
 * traceparent gives no span context and its tracestate is then ignored; several tracestate or
 * baggage lines are joined (more than 64 tracestate lines: the tracestate is dropped; baggage
 * lines past 64 are ignored). b3/b3multi both read the single header first, then X-B3-*. jaeger
 * also merges uberctx-* headers into the baggage (carriers with foreach only). ctx then owns the
 * new tracestate/baggage references. Always returns TEL_OK (an absent or invalid header leaves
 * that part empty). Thread safe (p is immutable). */
int tel_propagator_extract(const tel_propagator *p, const tel_carrier *carrier, tel_context *ctx);

/* Injects ctx's span context (when valid), tracestate and baggage into the carrier in every
 * configured format, with lowercase header names: traceparent/tracestate, baggage (percent-
 * encoded, within the limits), b3 ("{trace}-{span}-{1|0}"), x-b3-traceid/x-b3-spanid/
 * x-b3-sampled, uber-trace-id ("{trace}:{span}:0:{1|0}") and uberctx-{key}. Allocates nothing
 * except for jaeger baggage. Returns TEL_OK or the first carrier error (the other headers are
 * still set). Thread safe. */
int tel_propagator_inject(const tel_propagator *p, const tel_context *ctx,
                          const tel_carrier *carrier);

/* The process-wide propagator used by instrumentation: created from OTEL_PROPAGATORS on first
 * use (pthread_once; static storage, so it cannot fail) or set by tel_propagator_set_global.
 * Never NULL. Thread safe. */
const tel_propagator *tel_propagator_global(void);
/* Replaces the global propagator; takes ownership of p. The previous one stays valid until the
 * process exits (callers may still hold it; it is never freed). Thread safe, but meant for
 * start-up. */
void tel_propagator_set_global(tel_propagator *p);

#ifdef __cplusplus
}
#endif
#endif
