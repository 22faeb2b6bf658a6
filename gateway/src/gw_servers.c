/* gw_servers: a small array cache (linear scan; capped) in front of the manager's internal
 * endpoint. Entries expire after the TTL; when full, the oldest entry is replaced. */
#include "gw_servers.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "telemetry/common.h"

typedef struct entry {
    bool used;
    uint64_t fetched_ns;
    gw_server_info info;
} entry;

struct gw_servers {
    char *manager_url;
    char *auth_header; /* "Bearer <token>" */
    size_t auth_len;
    uint64_t ttl_ns;
    long timeout_ms;
    core_http_client *http;
    pthread_mutex_t mu;
    entry *entries;
    size_t cap;
};

void gw_server_info_wipe(gw_server_info *info)
{
    if (info) sodium_memzero(info, sizeof *info);
}

int gw_server_id_valid(const char *id)
{
    size_t n = 0;
    for (; id && id[n]; n++) {
        char c = id[n];
        if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return n > 0 && !(n == 1 && id[0] == '.') && !(n == 2 && id[0] == '.' && id[1] == '.');
}

gw_servers *gw_servers_create(const gw_servers_config *cfg)
{
    if (!cfg || !cfg->manager_url || !*cfg->manager_url || !cfg->service_token ||
        !*cfg->service_token || !cfg->http)
        return NULL;
    gw_servers *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t ulen = strlen(cfg->manager_url);
    while (ulen && cfg->manager_url[ulen - 1] == '/') ulen--;
    s->manager_url = strndup(cfg->manager_url, ulen);
    s->auth_len = strlen(cfg->service_token) + 8;
    s->auth_header = sodium_malloc(s->auth_len);
    s->cap = cfg->max_entries ? cfg->max_entries : 1024;
    s->entries = sodium_allocarray(s->cap, sizeof *s->entries);
    if (!s->manager_url || !s->auth_header || !s->entries) {
        gw_servers_destroy(s);
        return NULL;
    }
    memset(s->entries, 0, s->cap * sizeof *s->entries);
    snprintf(s->auth_header, s->auth_len, "Bearer %s", cfg->service_token);
    s->ttl_ns = cfg->ttl_ms > 0 ? (uint64_t)cfg->ttl_ms * 1000000u : 0;
    s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 2000;
    s->http = cfg->http;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void gw_servers_destroy(gw_servers *s)
{
    if (!s) return;
    if (s->entries) {
        pthread_mutex_destroy(&s->mu);
        sodium_free(s->entries);
    }
    if (s->auth_header) sodium_free(s->auth_header);
    free(s->manager_url);
    free(s);
}

static bool cache_get(gw_servers *s, const char *id, gw_server_info *out)
{
    if (!s->ttl_ns) return false;
    bool hit = false;
    uint64_t now = tel_mono_ns();
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->cap; i++) {
        entry *e = &s->entries[i];
        if (!e->used || strcmp(e->info.id, id) != 0) continue;
        if (now - e->fetched_ns < s->ttl_ns) {
            *out = e->info;
            hit = true;
        } else {
            sodium_memzero(e, sizeof *e);
        }
        break;
    }
    pthread_mutex_unlock(&s->mu);
    return hit;
}

static void cache_put(gw_servers *s, const gw_server_info *info)
{
    if (!s->ttl_ns) return;
    uint64_t now = tel_mono_ns();
    pthread_mutex_lock(&s->mu);
    entry *slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < s->cap; i++) {
        entry *e = &s->entries[i];
        if (e->used && strcmp(e->info.id, info->id) == 0) {
            slot = e;
            break;
        }
        if (!e->used || now - e->fetched_ns >= s->ttl_ns) {
            if (!slot) slot = e;
        } else if (!oldest || e->fetched_ns < oldest->fetched_ns) {
            oldest = e;
        }
    }
    if (!slot) slot = oldest;
    if (slot) {
        sodium_memzero(slot, sizeof *slot);
        slot->used = true;
        slot->fetched_ns = now;
        slot->info = *info;
    }
    pthread_mutex_unlock(&s->mu);
}

void gw_servers_forget(gw_servers *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->cap; i++) {
        entry *e = &s->entries[i];
        if (e->used && strcmp(e->info.id, id) == 0) sodium_memzero(e, sizeof *e);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Copies the string member `key` of obj into out; false when absent, not a string, empty (when
 * required) or too long. */
static bool get_str(json_t *obj, const char *key, char *out, size_t cap, bool required)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        out[0] = '\0';
        return !required;
    }
    if (!json_is_string(v)) return false;
    size_t len = json_string_length(v);
    if ((required && len == 0) || len >= cap || memchr(json_string_value(v), '\0', len))
        return false;
    memcpy(out, json_string_value(v), len + 1);
    return true;
}

static int parse_server(json_t *j, const char *id, gw_server_info *out)
{
    json_t *bmc = json_object_get(j, "bmc");
    if (!json_is_object(j) || !json_is_object(bmc)) return CORE_EPROTO;
    char got_id[65];
    if (!get_str(j, "id", got_id, sizeof got_id, true) || strcmp(got_id, id) != 0 ||
        !get_str(j, "customer_id", out->customer_id, sizeof out->customer_id, true) ||
        !get_str(j, "datacenter", out->datacenter, sizeof out->datacenter, true) ||
        !get_str(j, "bmc_type", out->bmc_type, sizeof out->bmc_type, false) ||
        !get_str(bmc, "endpoint", out->bmc_endpoint, sizeof out->bmc_endpoint, true) ||
        !get_str(bmc, "username", out->bmc_username, sizeof out->bmc_username, false) ||
        !get_str(bmc, "password", out->bmc_password, sizeof out->bmc_password, false))
        return CORE_EPROTO;
    memcpy(out->id, got_id, sizeof out->id);
    return CORE_OK;
}

int gw_servers_lookup(gw_servers *s, const tel_context *ctx, const char *id,
                      const char *customer_id, gw_server_info *out, char *msg, size_t msgcap)
{
    char dummy[8];
    if (!msg) msg = dummy, msgcap = sizeof dummy;
    msg[0] = '\0';
    memset(out, 0, sizeof *out);
    if (!gw_server_id_valid(id)) {
        snprintf(msg, msgcap, "no such server");
        return CORE_ENOTFOUND;
    }
    if (cache_get(s, id, out)) return CORE_OK;

    char url[1024];
    if (customer_id && gw_server_id_valid(customer_id))
        snprintf(url, sizeof url, "%s/v1/internal/servers/%s?customer_id=%s", s->manager_url, id,
                 customer_id);
    else
        snprintf(url, sizeof url, "%s/v1/internal/servers/%s", s->manager_url, id);
    core_http_header h[2] = {{"authorization", s->auth_header},
                             {"accept", "application/json"}};
    core_http_request req = {.method = "GET", .url = url, .headers = h, .n_headers = 2,
                             .timeout_ms = s->timeout_ms};
    core_http_response resp = CORE_HTTP_RESPONSE_INIT;
    int rc = core_http_client_do(s->http, ctx, &req, &resp);
    if (rc != CORE_OK) {
        snprintf(msg, msgcap, "manager unreachable: %s", core_strerror(rc));
        core_http_response_cleanup(&resp);
        return CORE_EUNAVAILABLE;
    }
    if (resp.status == 404) {
        snprintf(msg, msgcap, "no such server");
        rc = CORE_ENOTFOUND;
    } else if (resp.status == 401 || resp.status == 403) {
        snprintf(msg, msgcap, "manager refused the gateway's service token");
        rc = CORE_EREJECTED;
    } else if (resp.status >= 500) {
        snprintf(msg, msgcap, "manager answered %ld", resp.status);
        rc = CORE_EUNAVAILABLE;
    } else if (resp.status != 200) {
        snprintf(msg, msgcap, "manager answered %ld", resp.status);
        rc = CORE_EPROTO;
    } else {
        json_t *j = resp.body ? json_loadb(resp.body, resp.body_len, JSON_REJECT_DUPLICATES, NULL)
                              : NULL;
        rc = j ? parse_server(j, id, out) : CORE_EPROTO;
        json_decref(j);
        if (rc != CORE_OK) {
            gw_server_info_wipe(out);
            snprintf(msg, msgcap, "manager sent an unusable server record");
        }
    }
    /* The response body held the credentials. */
    if (resp.body) sodium_memzero(resp.body, resp.body_len);
    core_http_response_cleanup(&resp);
    if (rc == CORE_OK) cache_put(s, out);
    return rc;
}
