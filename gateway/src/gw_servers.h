/* Server look-ups at the manager's internal endpoint (GET {manager}/v1/internal/servers/{id}
 * with the service token), cached in memory for a short TTL.
 *
 * The BMC credentials of a cached server live only in this cache and in the caller's copy; they
 * are wiped when an entry is dropped and never logged or put on spans (the HTTP client records
 * no header or body).
 *
 * Thread safety: every function may be called from any thread after create. */
#ifndef GW_SERVERS_H
#define GW_SERVERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/http_client.h"
#include "telemetry/context.h"

/* One server as the gateway needs it. Wipe with gw_server_info_wipe when done. */
typedef struct gw_server_info {
    char id[65];
    char customer_id[65];
    char datacenter[65];
    char bmc_type[16];
    char bmc_endpoint[512]; /* secret-free URL, but kept out of telemetry anyway */
    char bmc_username[128];
    char bmc_password[256];
} gw_server_info;

typedef struct gw_servers_config {
    const char *manager_url;   /* base URL, e.g. "http://127.0.0.1:8080" (copied) */
    const char *service_token; /* BMC_SERVICE_TOKEN (copied; wiped on destroy) */
    int64_t ttl_ms;            /* cache lifetime of an entry; 0: no caching */
    size_t max_entries;        /* 0: 1024 */
    long timeout_ms;           /* per manager request; 0: 2000 */
    core_http_client *http;    /* borrowed; must outlive the cache */
} gw_servers_config;

typedef struct gw_servers gw_servers;

/* Creates the look-up cache. NULL on bad configuration (no URL/token/client) or memory. */
gw_servers *gw_servers_create(const gw_servers_config *cfg);
/* Wipes and frees everything. NULL allowed. */
void gw_servers_destroy(gw_servers *s);

/* True when id is a syntactically valid server id ([A-Za-z0-9._-]{1,64}). */
int gw_server_id_valid(const char *id);

/* Fills *out for server `id` from the cache or the manager (a CLIENT span child of ctx). On a
 * miss the manager is asked with ?customer_id=<customer_id> (may be NULL: not sent), so it
 * refuses another customer's server itself; a cached entry is returned whatever its customer
 * (the caller compares out->customer_id with the caller's customer in any case).
 * Returns 0; CORE_ENOTFOUND (no such server, or an invalid id); CORE_EUNAVAILABLE (the manager
 * did not answer, or answered 5xx); CORE_EPROTO (an answer that does not parse);
 * CORE_EREJECTED (the manager refused the service token). msg (may be NULL) receives a short
 * reason without secrets. */
int gw_servers_lookup(gw_servers *s, const tel_context *ctx, const char *id,
                      const char *customer_id, gw_server_info *out, char *msg, size_t msgcap);

/* Drops a cached entry (e.g. after the agent reported bad credentials). */
void gw_servers_forget(gw_servers *s, const char *id);

/* Wipes the credentials in *info. */
void gw_server_info_wipe(gw_server_info *info);

#endif
