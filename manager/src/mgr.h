/* bmc-manager internals: the application state shared by the modules, and each module's
 * functions. Module map:
 *   main.c        settings table, command line (serve / seed), wiring
 *   mgr_app.c     mgr_app_open/close: database, keys, worker pool
 *   mgr_schema.c  the SQLite migrations
 *   mgr_crypto.c  argon2id password hashes, sealed BMC credentials (crypto_secretbox)
 *   mgr_model.c   input validation: text fields, ids, roles, BMC endpoints, gateway URLs
 *   mgr_store.c   every SQL statement (prepared, bound parameters only)
 *   mgr_auth.c    login, token validation, the authentication middleware, the principal
 *   mgr_api.c     the /v1 routes (servers, location, customers, users, gateways, internal)
 *   mgr_seed.c    demo data from a JSON file
 *
 * Threading: HTTP handlers and the middleware run on the HTTP service thread; login and user
 * creation (password hashing) finish on the worker pool's threads (core/workpool.h). core_db
 * serialises statements, so the store may be called from either. mgr_app is read-only after
 * mgr_app_open. */
#ifndef MGR_H
#define MGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sodium.h>

#include "core/config.h"
#include "core/db.h"
#include "core/http_server.h"
#include "core/token.h"
#include "core/workpool.h"
#include "telemetry/context.h"
#include "telemetry/trace.h"

/* Field limits (bytes). */
#define MGR_NAME_MAX 128     /* server and customer names */
#define MGR_DC_MAX 64        /* datacenter names */
#define MGR_ENDPOINT_MAX 512 /* BMC endpoint URL */
#define MGR_HOST_MAX 255
#define MGR_BMC_USER_MAX 128
#define MGR_BMC_PASS_MAX 256
#define MGR_USERNAME_MAX 64
#define MGR_PASSWORD_MIN 8
#define MGR_PASSWORD_MAX 256
#define MGR_URL_MAX 512 /* gateway URL */
#define MGR_DCS_MAX 64  /* datacenters per gateway */

/* ---- mgr_app.c ---- */

typedef struct mgr_app {
    core_db *db;
    core_token_keys *keys;
    unsigned char cred_key[crypto_secretbox_KEYBYTES]; /* BMC_CRED_KEY */
    char *service_token;                               /* BMC_SERVICE_TOKEN (copy) */
    int64_t token_ttl_s;
    unsigned long long pw_opslimit;
    size_t pw_memlimit;
    char dummy_hash[crypto_pwhash_STRBYTES]; /* verified against for unknown users */
    core_workpool *pool;
    tel_tracer *tracer;
} mgr_app;

/* Opens everything from the settings (see main.c): the database with its migrations, the JWT
 * keys, the credential key, the service token, the worker pool. On failure logs why (never a
 * secret), releases what was opened and returns a negative code. */
int mgr_app_open(mgr_app *app, const core_config *cfg);
/* Stops the pool (pending jobs finish), closes the database, wipes the secrets. */
void mgr_app_close(mgr_app *app);

/* ---- mgr_schema.c ---- */

/* The migrations (static) and their number. */
const core_db_migration *mgr_schema_migrations(size_t *n);

/* ---- mgr_crypto.c ---- */

/* Decodes a base64 (standard or URL-safe, padding optional) 32-byte key. Returns 0 or
 * CORE_ECONFIG. */
int mgr_crypto_key_parse(const char *b64, unsigned char key[crypto_secretbox_KEYBYTES]);
/* argon2id hash of pw[0..len) into out. Returns 0 or CORE_ENOMEM. */
int mgr_password_hash(const mgr_app *app, const char *pw, size_t len,
                      char out[crypto_pwhash_STRBYTES]);
/* True when pw[0..len) matches the hash. */
bool mgr_password_verify(const char *hash, const char *pw, size_t len);
/* Seals the BMC username and password with a fresh random nonce. *ct (malloc'd) receives the
 * ciphertext. Returns 0, CORE_ENOMEM. */
int mgr_creds_seal(const unsigned char key[crypto_secretbox_KEYBYTES], const char *user,
                   const char *pass, unsigned char **ct, size_t *ct_len,
                   unsigned char nonce[crypto_secretbox_NONCEBYTES]);
/* Opens sealed credentials; *user and *pass are malloc'd (free with mgr_secret_free). Returns
 * 0, CORE_EIO (wrong key or corrupted row), CORE_ENOMEM. */
int mgr_creds_open(const unsigned char key[crypto_secretbox_KEYBYTES], const unsigned char *ct,
                   size_t ct_len, const unsigned char *nonce, size_t nonce_len, char **user,
                   char **pass);
/* Wipes and frees a NUL-terminated secret. NULL allowed. */
void mgr_secret_free(char *s);

/* ---- mgr_model.c ---- */

enum {
    MGR_TEXT_OPTIONAL = 1u << 0,  /* absent is fine (*out NULL) */
    MGR_TEXT_ANY_CHARS = 1u << 1, /* allow control characters (passwords) */
};

/* Reads string field `key` of obj into *out (borrowed from obj) after checking it: a JSON
 * string of min..max bytes, without control characters unless MGR_TEXT_ANY_CHARS. Returns 0,
 * or CORE_EINVAL with a message for the client in msg (names the field, never the value). */
int mgr_text_field(const json_t *obj, const char *key, size_t min, size_t max, unsigned flags,
                   const char **out, char *msg, size_t cap);
/* A positive decimal id without sign or leading zeros. Returns 0 or CORE_EINVAL. */
int mgr_id_parse(const char *s, int64_t *out);
/* An id field given as a JSON string of digits or a JSON integer. Returns 0, CORE_ENOTFOUND
 * (absent), CORE_EINVAL. */
int mgr_id_field(const json_t *obj, const char *key, int64_t *out);
/* A new JSON string of the id ("42"). */
json_t *mgr_id_json(int64_t id);
/* Roles from a JSON array of role names (at least one, known, no repeats). Returns 0 or
 * CORE_EINVAL. */
int mgr_roles_parse(const json_t *arr, unsigned *roles);
/* A new JSON array of the role names. */
json_t *mgr_roles_json(unsigned roles);
/* Parses a BMC endpoint (ipmi://host[:port], redfish://host[:port][/path],
 * redfish+https://host[:port][/path]; no user info, query or fragment) with libcurl's URL
 * parser. Fills type ("ipmi"/"redfish") and host (no brackets). Returns 0 or CORE_EINVAL with a
 * message in msg. */
int mgr_endpoint_parse(const char *url, char type[8], char host[MGR_HOST_MAX + 1], char *msg,
                       size_t cap);
/* An http(s) URL with a host and no user info, query or fragment. Returns 0 or CORE_EINVAL. */
int mgr_gateway_url_check(const char *url, char *msg, size_t cap);

/* ---- mgr_store.c ---- */

typedef struct mgr_user {
    int64_t id, customer_id;
    unsigned roles;
    char username[MGR_USERNAME_MAX + 1];
    char hash[crypto_pwhash_STRBYTES];
} mgr_user;

/* A new server, or the fields a PATCH changes (NULL: unchanged). */
typedef struct mgr_server_in {
    const char *name, *datacenter, *endpoint, *bmc_username, *bmc_password;
} mgr_server_in;

/* Every function returns 0 or a negative code: CORE_ENOTFOUND (no such row, or not in the
 * caller's customer), CORE_EEXIST (a unique name taken), CORE_EINVAL (bad input or a
 * constraint), CORE_EIO/CORE_EBUSY/CORE_ENOMEM (database). JSON results are new references. */
int mgr_store_customer_create(mgr_app *app, const tel_context *ctx, const char *name, int64_t *id);
int mgr_store_customer_find(mgr_app *app, const tel_context *ctx, const char *name, int64_t *id);
int mgr_store_customer_exists(mgr_app *app, const tel_context *ctx, int64_t id);
int mgr_store_user_create(mgr_app *app, const tel_context *ctx, int64_t customer_id,
                          const char *username, const char *hash, unsigned roles, int64_t *id);
/* Seed: creates the user or replaces its customer, hash and roles. */
int mgr_store_user_upsert(mgr_app *app, const tel_context *ctx, int64_t customer_id,
                          const char *username, const char *hash, unsigned roles, int64_t *id);
int mgr_store_user_by_name(mgr_app *app, const tel_context *ctx, const char *username,
                           mgr_user *out);
int mgr_store_user_by_id(mgr_app *app, const tel_context *ctx, int64_t id, mgr_user *out);
/* All of in's fields are required. */
int mgr_store_server_create(mgr_app *app, const tel_context *ctx, int64_t customer_id,
                            const mgr_server_in *in, json_t **out);
/* Seed: creates the server or replaces its fields (matched by customer and name). */
int mgr_store_server_upsert(mgr_app *app, const tel_context *ctx, int64_t customer_id,
                            const mgr_server_in *in, json_t **out);
/* customer_id 0: any customer (internal API only). with_bmc adds
 * "bmc":{"endpoint","username","password"}. */
int mgr_store_server_get(mgr_app *app, const tel_context *ctx, int64_t id, int64_t customer_id,
                         bool with_bmc, json_t **out);
int mgr_store_server_list(mgr_app *app, const tel_context *ctx, int64_t customer_id, json_t **out);
int mgr_store_server_update(mgr_app *app, const tel_context *ctx, int64_t id, int64_t customer_id,
                            const mgr_server_in *in, json_t **out);
int mgr_store_server_delete(mgr_app *app, const tel_context *ctx, int64_t id, int64_t customer_id);
/* {"server_id","datacenter","gateway_url"}; gateway_url is null when no gateway serves the
 * datacenter. */
int mgr_store_server_location(mgr_app *app, const tel_context *ctx, int64_t id, int64_t customer_id,
                              json_t **out);
/* dcs: n datacenter names. replace: seed mode (an existing gateway with this URL takes the
 * given datacenters; a datacenter moves from another gateway). */
int mgr_store_gateway_create(mgr_app *app, const tel_context *ctx, const char *url,
                             const char *const *dcs, size_t n, bool replace, json_t **out);

/* ---- mgr_auth.c ---- */

typedef enum mgr_principal_kind {
    MGR_PRINCIPAL_USER = 1,
    MGR_PRINCIPAL_SERVICE,
} mgr_principal_kind;

/* Who is calling, set by the middleware for the handler's duration. */
typedef struct mgr_principal {
    mgr_principal_kind kind;
    core_token_claims claims; /* MGR_PRINCIPAL_USER */
    tel_context ctx;          /* the request's context plus baggage customer_id (users) */
} mgr_principal;

/* Registers the middleware and the /v1/auth routes on h. Returns 0 or a negative code. */
int mgr_auth_register(mgr_app *app, core_http_server *h);
/* The principal of a request that went through the middleware (NULL on /v1/auth/login). */
const mgr_principal *mgr_auth_principal(const core_http_req *req);
/* Records customer_id on the request's span (and enduser.id when user_id > 0). */
void mgr_auth_tag_span(core_http_req *req, int64_t customer_id, int64_t user_id);

/* ---- mgr_api.c ---- */

/* Registers the server, location, customer, user, gateway and internal routes. */
int mgr_api_register(mgr_app *app, core_http_server *h);
/* Answers a store error code as JSON (404 not_found, 409 conflict, 400, 503, 500). */
int mgr_api_respond_store_error(core_http_req *req, int rc, const char *what);

/* ---- mgr_seed.c ---- */

/* Creates or updates the customers, users, servers and gateways of the JSON seed file (format
 * in manager/seed.example.json), in one transaction, and prints a JSON summary (ids and
 * names, never a secret) on stdout. Returns 0 or a negative code (logged). */
int mgr_seed_file(mgr_app *app, const char *path);

#endif
