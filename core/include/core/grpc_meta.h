/* tel_carrier adapters over gRPC metadata, so the telemetry propagators read and write trace
 * context (traceparent, tracestate, baggage, b3, jaeger) in gRPC calls.
 *
 * Keys in gRPC metadata are lowercase ASCII (the core rejects anything else); lookups here are
 * case-insensitive anyway. Binary ("-bin") entries are never returned as text. */
#ifndef CORE_GRPC_META_H
#define CORE_GRPC_META_H

#include <grpc/grpc.h>
#include <stddef.h>

#include "telemetry/propagation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Makes *c a read-only carrier over a received metadata array (borrowed: it must outlive the
 * carrier and stay unchanged). get/get_all/foreach see every non-binary entry in order; set
 * fails with CORE_EINVAL. No allocation. Thread safe for distinct carriers. */
void core_grpc_meta_reader(tel_carrier *c, const grpc_metadata_array *md);

/* Metadata being built for an outgoing call: entries whose key and value slices it owns.
 * Initialise with core_grpc_meta_writer_init, release with core_grpc_meta_writer_cleanup. The
 * first few entries and up to CORE_GRPC_META_ARENA bytes of values live inline: no allocation
 * for trace context (a traceparent, a short tracestate and baggage). Values kept inline are
 * static slices pointing into the writer, so a writer must stay where it is, and is cleaned up
 * only after the call that sent its entries is done with them (after grpc_call_unref). Not
 * thread safe. */
#define CORE_GRPC_META_INLINE 8
#define CORE_GRPC_META_ARENA 256
typedef struct core_grpc_meta_writer {
    grpc_metadata *md; /* [0..n): pass md/n to the SEND_INITIAL_METADATA op */
    size_t n, cap;
    size_t arena_used;
    grpc_metadata inline_md[CORE_GRPC_META_INLINE];
    char arena[CORE_GRPC_META_ARENA];
} core_grpc_meta_writer;

void core_grpc_meta_writer_init(core_grpc_meta_writer *w);
/* Releases every slice and allocation; w must be initialised again before reuse. */
void core_grpc_meta_writer_cleanup(core_grpc_meta_writer *w);
/* Adds key/value (both copied), replacing the value of an existing entry with the same key.
 * The key is lowercased; it must be a legal gRPC key, and the value a legal non-binary value
 * unless the key ends in "-bin". Keys the gRPC transport owns (":..." pseudo headers,
 * "grpc-*", "te", "content-type", "user-agent") are refused. Returns CORE_OK, CORE_EINVAL or
 * CORE_ENOMEM. */
int core_grpc_meta_writer_set(core_grpc_meta_writer *w, const char *key, const char *value);
/* Like core_grpc_meta_writer_set for a value of `len` bytes (binary values for -bin keys). */
int core_grpc_meta_writer_setn(core_grpc_meta_writer *w, const char *key, const char *value,
                               size_t len);
/* Makes *c a write carrier adding to w (get/get_all/foreach read what w holds). */
void core_grpc_meta_writer_carrier(tel_carrier *c, core_grpc_meta_writer *w);

/* The value of `key` in a received array (case-insensitive, first match, non-binary keys and
 * "-bin" keys alike), with its length in *len; NULL when absent. Borrowed from md. */
const char *core_grpc_meta_get(const grpc_metadata_array *md, const char *key, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
