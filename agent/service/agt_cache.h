/* BMC handles cached per (endpoint, username, password), so IPMI sessions and Redfish sessions
 * are reused across calls. Entries are reference counted: a handle stays valid while a call
 * uses it. Idle entries expire after idle_ttl; when the cache is full the least recently used
 * idle entry is closed (when every entry is busy, a handle for one call is made and closed
 * after it).
 *
 * Credentials: the cache key is a keyed BLAKE2b hash (process-random key) of the three strings,
 * so no extra copy of a password is kept; the handles hold their own copies (agent/bmc.h).
 *
 * Thread safety: every function may be called from any thread. */
#ifndef AGT_CACHE_H
#define AGT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/bmc.h"

typedef struct agt_cache agt_cache;
typedef struct agt_cache_entry agt_cache_entry;

typedef struct agt_cache_config {
    size_t max_entries;      /* 0: 256 */
    int64_t idle_ttl_ms;     /* 0: 600000 */
    agt_bmc_options options; /* for every handle (copied; its strings must outlive the cache) */
} agt_cache_config;

/* NULL on allocation failure. The caller owns the cache. */
agt_cache *agt_cache_create(const agt_cache_config *cfg);
/* Closes every handle (logging out of BMC sessions) and frees the cache. No entry may still be
 * held. NULL allowed. */
void agt_cache_destroy(agt_cache *c);

/* Returns a held entry for the BMC (created on a miss; no network traffic), or NULL with err
 * filled (AGT_EINVAL for a bad endpoint, AGT_ENOMEM). Release with agt_cache_release. */
agt_cache_entry *agt_cache_acquire(agt_cache *c, const char *endpoint, const char *username,
                                   const char *password, agt_result *err);
/* The handle of a held entry. */
agt_bmc *agt_cache_bmc(const agt_cache_entry *e);
/* Releases a held entry. When `drop` is true the entry is closed once idle (e.g. after an
 * authentication failure). NULL allowed. */
void agt_cache_release(agt_cache *c, agt_cache_entry *e, int drop);

/* Entries currently cached (for tests and metrics). */
size_t agt_cache_size(agt_cache *c);

#endif
