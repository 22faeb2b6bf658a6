/* bmc-manager as a real process on a free loopback port with a temporary SQLite file, driven
 * over HTTP (core's libcurl client):
 *   - login ok / wrong password / unknown user (the same 401), token validation (expired,
 *     tampered, alg none, garbage, missing);
 *   - server CRUD as admin, listing scoped to the customer, a customer A user asking for
 *     customer B's server by id (404) and by listing (absent), non-admin CRUD (403);
 *   - the internal endpoint: refuses user tokens (403) and bad tokens (401), accepts the service
 *     token, and is the only answer that carries BMC credentials;
 *   - SQL metacharacters and non-ASCII text in every string field, stored and returned
 *     verbatim, tables intact;
 *   - malformed JSON, wrong types, unknown fields, oversized bodies: 4xx JSON errors;
 *   - SIGTERM: a clean exit (status 0; under ASan also no leaks);
 *   - telemetry (file exporters for traces, metrics and logs): every /v1 handler that answered
 *     2xx has a SERVER span with db.* children, customer_id on the server spans after
 *     authentication, and no password, token or BMC credential anywhere in the traces, metrics,
 *     logs, stderr or /metrics.
 * Usage: test_mgr_api (BMC_MANAGER_BIN is compiled in). Loopback only; every wait is bounded. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "core/error.h"
#include "core/http_client.h"
#include "core/token.h"

#ifndef BMC_MANAGER_BIN
#define BMC_MANAGER_BIN "bmc-manager"
#endif

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* ---- Secrets of this run (each must never reach telemetry) ---- */

#define JWT_SECRET_RAW "test-jwt-secret-0123456789-abcdef" /* 33 bytes */
#define CRED_KEY_RAW "cred-key-0123456789abcdefghijklm"    /* 32 bytes */
#define SERVICE_TOKEN "svc-token-Zx81-4f0c7e2b9d"
#define PW_ADMIN_A "pw-admin-A-Kq93vX"
#define PW_VIEWER_A "pw-viewer-A-Jw55pL"
#define PW_ADMIN_B "pw-admin-B-Rt27hN"
#define PW_NEW_USER "pw-new-user-Ux40bM"
#define PW_META "pw'; DROP TABLE users; --%_\"\\ ünï 🚀"
#define BMC_USER_1 "bmcuser-Hc61"
#define BMC_PASS_1 "bmcpass-Vd28sQ"
#define BMC_USER_B "bmcuser-B-Ya04"
#define BMC_PASS_B "bmcpass-B-Nn73eW"
#define BMC_USER_META "bmc'user\"%_--Lf19"
#define BMC_PASS_META "bmc'pass'; DROP TABLE servers; --%_\"\\ 秘密 Gz52"
#define BMC_PASS_PATCHED "bmcpass-patched-Ok36"

#define META_NAME "'; DROP TABLE servers; --"
#define META_DC "dc%_'\"`\\ ñ 数据中心"
#define META_CUSTOMER "cust'; DROP TABLE customers; -- %_ \"ü\""
#define META_USERNAME "u'; DROP TABLE users; --%_\"ö"

static char dir[64];
static char jwt_keys[256], cred_key[128];
static char *secrets[64];
static size_t n_secrets;
static core_http_client *http;
static char base_url[64];
static pid_t mgr_pid;

static void add_secret(const char *s)
{
    if (n_secrets < sizeof secrets / sizeof secrets[0]) secrets[n_secrets++] = strdup(s);
}

static void path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    size_t r;
    while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 4096) b = realloc(b, cap *= 2);
    }
    fclose(f);
    b[n] = '\0';
    if (len) *len = n;
    return b;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- The manager process ---- */

/* Starts bmc-manager with args (NULL-terminated), stdout/stderr appended to files. */
static pid_t spawn(const char *const *args, const char *out_name, const char *err_name)
{
    char out[128], err[128];
    path_in(out, sizeof out, out_name);
    path_in(err, sizeof err, err_name);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (o < 0 || e < 0) _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        execv(BMC_MANAGER_BIN, (char *const *)args);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid, unsigned timeout_ms)
{
    uint64_t end = now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_ms(20);
    }
}

/* Waits for the "listening" log line and returns the port, or -1. */
static int wait_port(unsigned timeout_ms)
{
    char err[128];
    path_in(err, sizeof err, "manager.stderr");
    uint64_t end = now_ms() + timeout_ms;
    while (now_ms() < end) {
        char *log = read_file(err, NULL);
        const char *p = log ? strstr(log, "listening: api HTTP on port ") : NULL;
        int port = -1;
        if (p) port = atoi(p + strlen("listening: api HTTP on port "));
        free(log);
        if (port > 0) return port;
        int st;
        if (waitpid(mgr_pid, &st, WNOHANG) == mgr_pid) return -1;
        sleep_ms(20);
    }
    return -1;
}

/* ---- HTTP ---- */

typedef struct resp {
    long status;
    json_t *json;
    char *body;
    char headers[2048];
} resp;

static void resp_free(resp *r)
{
    json_decref(r->json);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* One request; body may be NULL; bearer may be NULL (no Authorization) or a raw header value
 * when it starts with '!'. */
static resp call_raw(const char *method, const char *path, const char *bearer, const void *body,
                     size_t body_len)
{
    resp r;
    memset(&r, 0, sizeof r);
    char url[1024], auth[8192];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    core_http_header h[1];
    size_t nh = 0;
    if (bearer) {
        if (bearer[0] == '!')
            snprintf(auth, sizeof auth, "%s", bearer + 1);
        else
            snprintf(auth, sizeof auth, "Bearer %s", bearer);
        h[nh++] = (core_http_header){"authorization", auth};
    }
    core_http_request req = {.method = method,
                             .url = url,
                             .headers = h,
                             .n_headers = nh,
                             .body = body,
                             .body_len = body_len,
                             .content_type = body ? "application/json" : NULL,
                             .timeout_ms = 10000};
    core_http_response out = CORE_HTTP_RESPONSE_INIT;
    int rc = core_http_client_do(http, NULL, &req, &out);
    CHECK(rc == 0, "%s %s: transport %d %s", method, path, rc, out.error);
    r.status = out.status;
    if (out.body) {
        r.body = strdup(out.body);
        r.json = json_loads(out.body, 0, NULL);
    }
    if (out.headers) snprintf(r.headers, sizeof r.headers, "%s", out.headers);
    core_http_response_cleanup(&out);
    return r;
}

static resp call(const char *method, const char *path, const char *bearer, json_t *body)
{
    char *txt = body ? json_dumps(body, JSON_COMPACT) : NULL;
    resp r = call_raw(method, path, bearer, txt, txt ? strlen(txt) : 0);
    free(txt);
    json_decref(body);
    return r;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char *err_code(const resp *r)
{
    return jstr(json_object_get(r->json, "error"), "code");
}

static bool body_has(const resp *r, const char *s)
{
    return r->body && strstr(r->body, s);
}

/* Logs in; returns the token (malloc'd) or NULL. */
static char *login(const char *user, const char *pw, json_t **user_out)
{
    resp r = call("POST", "/v1/auth/login", NULL,
                  json_pack("{s:s, s:s}", "username", user, "password", pw));
    CHECK(r.status == 200, "login %s: %ld %s", user, r.status, r.body ? r.body : "");
    char *tok = jstr(r.json, "token") ? strdup(jstr(r.json, "token")) : NULL;
    if (tok) add_secret(tok);
    if (user_out) *user_out = json_incref(json_object_get(r.json, "user"));
    resp_free(&r);
    return tok;
}

/* ---- Scenarios ---- */

static char ids_a_server[24], ids_b_server[24], cust_a[24], cust_b[24];
static char *tok_admin_a, *tok_viewer_a, *tok_admin_b;

static void test_login(void)
{
    json_t *u = NULL;
    tok_admin_a = login("alice", PW_ADMIN_A, &u);
    CHECK(u && strcmp(jstr(u, "customer_id"), cust_a) == 0, "user.customer_id");
    CHECK(u && strcmp(jstr(u, "username"), "alice") == 0, "user.username");
    json_t *roles = json_object_get(u, "roles");
    CHECK(json_array_size(roles) == 2, "roles");
    json_decref(u);
    tok_viewer_a = login("victor", PW_VIEWER_A, NULL);
    tok_admin_b = login("bob", PW_ADMIN_B, NULL);

    resp r = call("POST", "/v1/auth/login", NULL,
                  json_pack("{s:s, s:s}", "username", "alice", "password", "wrong-password"));
    resp r2 = call("POST", "/v1/auth/login", NULL,
                   json_pack("{s:s, s:s}", "username", "nobody-here", "password", PW_ADMIN_A));
    CHECK(r.status == 401 && r2.status == 401, "%ld %ld", r.status, r2.status);
    CHECK(r.body && r2.body && strcmp(r.body, r2.body) == 0, "same 401 body: %s / %s", r.body,
          r2.body);
    CHECK(err_code(&r) && strcmp(err_code(&r), "invalid_credentials") == 0, "code");
    resp_free(&r);
    resp_free(&r2);
    /* the response carries no-store and an RFC 3339 expiry */
    r = call("POST", "/v1/auth/login", NULL,
             json_pack("{s:s, s:s}", "username", "alice", "password", PW_ADMIN_A));
    CHECK(strcasestr(r.headers, "cache-control: no-store") != NULL, "no-store");
    const char *exp = jstr(r.json, "expires_at");
    CHECK(exp && strlen(exp) == 20 && exp[10] == 'T' && exp[19] == 'Z', "expires_at %s",
          exp ? exp : "");
    if (jstr(r.json, "token")) add_secret(jstr(r.json, "token"));
    resp_free(&r);
    /* wrong types: 400; missing: 400 */
    r = call("POST", "/v1/auth/login", NULL,
             json_pack("{s:i, s:s}", "username", 5, "password", "x"));
    CHECK(r.status == 400, "%ld", r.status);
    resp_free(&r);
    r = call("POST", "/v1/auth/login", NULL, json_pack("{s:s}", "username", "alice"));
    CHECK(r.status == 400, "%ld", r.status);
    resp_free(&r);
}

static void test_validate(void)
{
    resp r = call("GET", "/v1/auth/validate", tok_admin_a, NULL);
    CHECK(r.status == 200, "%ld", r.status);
    CHECK(jstr(r.json, "customer_id") && strcmp(jstr(r.json, "customer_id"), cust_a) == 0,
          "customer_id");
    CHECK(jstr(r.json, "username") && strcmp(jstr(r.json, "username"), "alice") == 0, "user");
    resp_free(&r);

    core_token_keys *k = NULL;
    CHECK(core_token_keys_parse(jwt_keys, &k, NULL, 0) == 0, "keys");
    core_token_claims c = {.user_id = 1, .customer_id = 1, .roles = CORE_TOKEN_ROLE_ADMIN};
    snprintf(c.username, sizeof c.username, "alice");
    char *expired = NULL;
    core_token_issue(k, &c, (int64_t)time(NULL) - 7200, 60, &expired);
    add_secret(expired);
    core_token_keys *other = NULL;
    core_token_keys_parse("k1:b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlci1zZWNyZXQ=", &other, NULL,
                          0);
    char *forged = NULL;
    core_token_issue(other, &c, (int64_t)time(NULL), 600, &forged);
    add_secret(forged);
    /* alg none with the claims of a real token */
    char none[8192];
    const char *d1 = strchr(tok_admin_a, '.'), *d2 = strrchr(tok_admin_a, '.');
    snprintf(none, sizeof none, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoiazEifQ%.*s.",
             (int)(d2 - d1), d1);
    /* tampered payload: the payload of B's token with A's signature */
    char tampered[8192];
    const char *b1 = strchr(tok_admin_b, '.'), *b2 = strrchr(tok_admin_b, '.');
    snprintf(tampered, sizeof tampered, "%.*s%.*s%s", (int)(d1 - tok_admin_a), tok_admin_a,
             (int)(b2 - b1), b1, d2);
    struct {
        const char *auth;
        const char *what;
    } bad[] = {
        {expired, "expired"},
        {forged, "signed with another key"},
        {none, "alg none"},
        {tampered, "tampered payload"},
        {"not-a-token", "garbage"},
        {SERVICE_TOKEN, "service token on a user route"},
        {"!Basic YWxpY2U6cHc=", "basic auth"},
        {NULL, "no header"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = call("GET", "/v1/auth/validate", bad[i].auth, NULL);
        CHECK(r.status == 401, "%s: %ld", bad[i].what, r.status);
        CHECK(err_code(&r) && strcmp(err_code(&r), "unauthenticated") == 0, "%s", bad[i].what);
        CHECK(strcasestr(r.headers, "www-authenticate: Bearer") != NULL, "%s", bad[i].what);
        if (i == 0) CHECK(body_has(&r, "expired"), "expired message: %s", r.body);
        resp_free(&r);
        /* the same on a data route */
        r = call("GET", "/v1/servers", bad[i].auth, NULL);
        CHECK(r.status == 401, "%s: %ld", bad[i].what, r.status);
        resp_free(&r);
    }
    free(expired);
    free(forged);
    core_token_keys_destroy(k);
    core_token_keys_destroy(other);
}

static bool list_has(const resp *r, const char *id)
{
    json_t *a = json_object_get(r->json, "servers"), *s;
    size_t i;
    json_array_foreach(a, i, s)
    {
        if (jstr(s, "id") && strcmp(jstr(s, "id"), id) == 0) return true;
    }
    return false;
}

static void check_no_credentials(const resp *r, const char *what)
{
    static const char *creds[] = {BMC_USER_1, BMC_PASS_1,       BMC_USER_B,     BMC_PASS_B, "Gz52",
                                  "bmc'user", BMC_PASS_PATCHED, "bmc_endpoint", "\"bmc\""};
    for (size_t i = 0; i < sizeof creds / sizeof creds[0]; i++)
        CHECK(!body_has(r, creds[i]), "%s: answer carries %s", what, creds[i]);
}

static void test_crud_and_scope(void)
{
    /* create as admin A */
    resp r = call("POST", "/v1/servers", tok_admin_a,
                  json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "crud-1", "datacenter", "dc1",
                            "bmc_endpoint", "ipmi://10.0.0.9:623", "bmc_username", BMC_USER_1,
                            "bmc_password", BMC_PASS_1));
    CHECK(r.status == 201, "create: %ld %s", r.status, r.body ? r.body : "");
    char id[24] = "";
    snprintf(id, sizeof id, "%s", jstr(r.json, "id") ? jstr(r.json, "id") : "0");
    CHECK(strcmp(jstr(r.json, "bmc_type") ? jstr(r.json, "bmc_type") : "", "ipmi") == 0, "type");
    CHECK(strcmp(jstr(r.json, "bmc_host") ? jstr(r.json, "bmc_host") : "", "10.0.0.9") == 0,
          "host");
    CHECK(strcmp(jstr(r.json, "customer_id") ? jstr(r.json, "customer_id") : "", cust_a) == 0,
          "customer");
    check_no_credentials(&r, "create");
    resp_free(&r);
    /* duplicate name in the customer: 409 */
    r = call("POST", "/v1/servers", tok_admin_a,
             json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "crud-1", "datacenter", "dc1",
                       "bmc_endpoint", "ipmi://10.0.0.9", "bmc_username", "u", "bmc_password",
                       "p"));
    CHECK(r.status == 409, "dup: %ld", r.status);
    resp_free(&r);

    char path[128];
    snprintf(path, sizeof path, "/v1/servers/%s", id);
    r = call("GET", path, tok_viewer_a, NULL);
    CHECK(r.status == 200, "get: %ld", r.status);
    CHECK(jstr(r.json, "name") && strcmp(jstr(r.json, "name"), "crud-1") == 0, "name");
    check_no_credentials(&r, "get");
    resp_free(&r);
    r = call("GET", "/v1/servers", tok_viewer_a, NULL);
    CHECK(r.status == 200 && list_has(&r, id) && list_has(&r, ids_a_server), "list A");
    CHECK(!list_has(&r, ids_b_server), "list A shows B's server");
    check_no_credentials(&r, "list");
    resp_free(&r);

    /* patch: name and password; the other credential is kept */
    r = call("PATCH", path, tok_admin_a,
             json_pack("{s:s, s:s}", "name", "crud-1-renamed", "bmc_password", BMC_PASS_PATCHED));
    CHECK(r.status == 200, "patch: %ld %s", r.status, r.body ? r.body : "");
    CHECK(jstr(r.json, "name") && strcmp(jstr(r.json, "name"), "crud-1-renamed") == 0, "renamed");
    check_no_credentials(&r, "patch");
    resp_free(&r);
    char ipath[160];
    snprintf(ipath, sizeof ipath, "/v1/internal/servers/%s", id);
    r = call("GET", ipath, SERVICE_TOKEN, NULL);
    json_t *bmc = json_object_get(r.json, "bmc");
    CHECK(r.status == 200 && bmc, "internal: %ld", r.status);
    CHECK(jstr(bmc, "username") && strcmp(jstr(bmc, "username"), BMC_USER_1) == 0, "user kept");
    CHECK(jstr(bmc, "password") && strcmp(jstr(bmc, "password"), BMC_PASS_PATCHED) == 0,
          "password patched");
    CHECK(jstr(bmc, "endpoint") && strcmp(jstr(bmc, "endpoint"), "ipmi://10.0.0.9:623") == 0,
          "endpoint");
    CHECK(strcasestr(r.headers, "cache-control: no-store") != NULL, "no-store");
    resp_free(&r);
    /* patch: nothing, unknown field, customer change: 400 */
    r = call("PATCH", path, tok_admin_a, json_object());
    CHECK(r.status == 400, "empty patch: %ld", r.status);
    resp_free(&r);
    r = call("PATCH", path, tok_admin_a, json_pack("{s:s}", "password", "x"));
    CHECK(r.status == 400 && body_has(&r, "unknown field"), "unknown field: %ld", r.status);
    resp_free(&r);
    r = call("PATCH", path, tok_admin_a, json_pack("{s:s}", "customer_id", cust_b));
    CHECK(r.status == 400, "customer change: %ld", r.status);
    resp_free(&r);

    /* non-admin: 403 for every write */
    r = call("POST", "/v1/servers", tok_viewer_a,
             json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "x", "datacenter", "dc1",
                       "bmc_endpoint", "ipmi://h", "bmc_username", "u", "bmc_password", "p"));
    CHECK(r.status == 403 && err_code(&r) && strcmp(err_code(&r), "forbidden") == 0, "%ld",
          r.status);
    resp_free(&r);
    r = call("PATCH", path, tok_viewer_a, json_pack("{s:s}", "name", "y"));
    CHECK(r.status == 403, "viewer patch: %ld", r.status);
    resp_free(&r);
    r = call("DELETE", path, tok_viewer_a, NULL);
    CHECK(r.status == 403, "viewer delete: %ld", r.status);
    resp_free(&r);
    r = call("POST", "/v1/customers", tok_viewer_a, json_pack("{s:s}", "name", "nope"));
    CHECK(r.status == 403, "viewer customer: %ld", r.status);
    resp_free(&r);
    r = call("POST", "/v1/users", tok_viewer_a,
             json_pack("{s:s, s:s, s:[s]}", "username", "nope", "password", "long-enough-pw",
                       "roles", "viewer"));
    CHECK(r.status == 403, "viewer user: %ld", r.status);
    resp_free(&r);
    r = call("POST", "/v1/gateways", tok_viewer_a,
             json_pack("{s:s, s:[s]}", "url", "http://127.0.0.1:1", "datacenters", "dcx"));
    CHECK(r.status == 403, "viewer gateway: %ld", r.status);
    resp_free(&r);

    /* customer B asks for A's server: 404 by id, absent from the listing, even as admin */
    r = call("GET", path, tok_admin_b, NULL);
    CHECK(r.status == 404 && err_code(&r) && strcmp(err_code(&r), "not_found") == 0,
          "B reads A's: %ld", r.status);
    CHECK(!body_has(&r, "crud-1"), "B sees A's data");
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/servers/%s", ids_a_server);
    r = call("GET", path, tok_admin_b, NULL);
    CHECK(r.status == 404, "B reads A's seeded: %ld", r.status);
    resp_free(&r);
    r = call("GET", "/v1/servers", tok_admin_b, NULL);
    CHECK(r.status == 200 && list_has(&r, ids_b_server), "list B");
    CHECK(!list_has(&r, id) && !list_has(&r, ids_a_server), "B's listing shows A's servers");
    CHECK(!body_has(&r, "crud-1") && !body_has(&r, "a-seeded"), "B's listing names A's");
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/servers/%s/location", id);
    r = call("GET", path, tok_admin_b, NULL);
    CHECK(r.status == 404, "B location of A's: %ld", r.status);
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/servers/%s", id);
    r = call("PATCH", path, tok_admin_b, json_pack("{s:s}", "name", "stolen"));
    CHECK(r.status == 404, "B patches A's: %ld", r.status);
    resp_free(&r);
    r = call("DELETE", path, tok_admin_b, NULL);
    CHECK(r.status == 404, "B deletes A's: %ld", r.status);
    resp_free(&r);
    r = call("GET", path, tok_admin_a, NULL);
    CHECK(r.status == 200 && jstr(r.json, "name") &&
              strcmp(jstr(r.json, "name"), "crud-1-renamed") == 0,
          "A's server untouched by B");
    resp_free(&r);

    /* location: dc1 is served by the seeded gateway */
    snprintf(path, sizeof path, "/v1/servers/%s/location", id);
    r = call("GET", path, tok_viewer_a, NULL);
    CHECK(r.status == 200, "location: %ld", r.status);
    CHECK(jstr(r.json, "gateway_url") &&
              strcmp(jstr(r.json, "gateway_url"), "http://127.0.0.1:18081") == 0,
          "gateway_url");
    CHECK(jstr(r.json, "server_id") && strcmp(jstr(r.json, "server_id"), id) == 0, "server_id");
    resp_free(&r);

    /* delete, then gone */
    snprintf(path, sizeof path, "/v1/servers/%s", id);
    r = call("DELETE", path, tok_admin_a, NULL);
    CHECK(r.status == 204, "delete: %ld", r.status);
    resp_free(&r);
    r = call("GET", path, tok_admin_a, NULL);
    CHECK(r.status == 404, "deleted: %ld", r.status);
    resp_free(&r);
    r = call("DELETE", path, tok_admin_a, NULL);
    CHECK(r.status == 404, "deleted twice: %ld", r.status);
    resp_free(&r);

    /* ids that are not ids */
    static const char *bad_ids[] = {"abc", "0", "-1", "01", "99999999999999999999", "1%27"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        snprintf(path, sizeof path, "/v1/servers/%s", bad_ids[i]);
        r = call("GET", path, tok_admin_a, NULL);
        CHECK(r.status == 404, "id %s: %ld", bad_ids[i], r.status);
        resp_free(&r);
    }
}

static void test_internal(void)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/internal/servers/%s", ids_b_server);
    resp r = call("GET", path, tok_admin_b, NULL);
    CHECK(r.status == 403, "user token on internal: %ld", r.status);
    check_no_credentials(&r, "internal+user");
    resp_free(&r);
    r = call("GET", path, tok_admin_a, NULL);
    CHECK(r.status == 403, "user token on internal: %ld", r.status);
    resp_free(&r);
    r = call("GET", path, NULL, NULL);
    CHECK(r.status == 401, "no token on internal: %ld", r.status);
    resp_free(&r);
    r = call("GET", path, SERVICE_TOKEN "x", NULL);
    CHECK(r.status == 401, "wrong service token: %ld", r.status);
    resp_free(&r);
    r = call("GET", path, "svc-token", NULL);
    CHECK(r.status == 401, "prefix of the service token: %ld", r.status);
    resp_free(&r);
    r = call("GET", path, SERVICE_TOKEN, NULL);
    CHECK(r.status == 200, "service token: %ld", r.status);
    json_t *bmc = json_object_get(r.json, "bmc");
    CHECK(jstr(bmc, "username") && strcmp(jstr(bmc, "username"), BMC_USER_B) == 0, "user");
    CHECK(jstr(bmc, "password") && strcmp(jstr(bmc, "password"), BMC_PASS_B) == 0, "password");
    CHECK(jstr(r.json, "customer_id") && strcmp(jstr(r.json, "customer_id"), cust_b) == 0, "cst");
    resp_free(&r);
    /* ?customer_id= must match */
    char q[200];
    snprintf(q, sizeof q, "%s?customer_id=%s", path, cust_a);
    r = call("GET", q, SERVICE_TOKEN, NULL);
    CHECK(r.status == 404 && !body_has(&r, BMC_PASS_B), "other customer: %ld", r.status);
    resp_free(&r);
    snprintf(q, sizeof q, "%s?customer_id=%s", path, cust_b);
    r = call("GET", q, SERVICE_TOKEN, NULL);
    CHECK(r.status == 200, "own customer: %ld", r.status);
    resp_free(&r);
    snprintf(q, sizeof q, "%s?customer_id=x", path);
    r = call("GET", q, SERVICE_TOKEN, NULL);
    CHECK(r.status == 404, "bad customer_id: %ld", r.status);
    resp_free(&r);
    r = call("GET", "/v1/internal/servers/999999", SERVICE_TOKEN, NULL);
    CHECK(r.status == 404, "missing: %ld", r.status);
    resp_free(&r);
}

static void test_metacharacters(void)
{
    /* a customer, a user and a server whose every string field carries SQL metacharacters */
    resp r = call("POST", "/v1/customers", tok_admin_a, json_pack("{s:s}", "name", META_CUSTOMER));
    CHECK(r.status == 201, "customer: %ld %s", r.status, r.body ? r.body : "");
    CHECK(jstr(r.json, "name") && strcmp(jstr(r.json, "name"), META_CUSTOMER) == 0, "verbatim");
    char cust[24];
    snprintf(cust, sizeof cust, "%s", jstr(r.json, "id") ? jstr(r.json, "id") : "0");
    resp_free(&r);
    /* LIKE wildcards are plain characters */
    r = call("POST", "/v1/customers", tok_admin_a, json_pack("{s:s}", "name", "%"));
    CHECK(r.status == 201, "%%: %ld", r.status);
    resp_free(&r);
    r = call("POST", "/v1/customers", tok_admin_a, json_pack("{s:s}", "name", "_"));
    CHECK(r.status == 201, "_: %ld", r.status);
    resp_free(&r);
    r = call("POST", "/v1/customers", tok_admin_a, json_pack("{s:s}", "name", "%"));
    CHECK(r.status == 409, "%% twice: %ld", r.status);
    resp_free(&r);

    r = call("POST", "/v1/users", tok_admin_a,
             json_pack("{s:s, s:s, s:s, s:[s,s]}", "username", META_USERNAME, "password", PW_META,
                       "customer_id", cust, "roles", "admin", "viewer"));
    CHECK(r.status == 201, "user: %ld %s", r.status, r.body ? r.body : "");
    CHECK(jstr(r.json, "username") && strcmp(jstr(r.json, "username"), META_USERNAME) == 0,
          "verbatim user");
    CHECK(!body_has(&r, "DROP TABLE users; --%_\\\"\\\\"), "password echoed");
    resp_free(&r);
    char *tok = login(META_USERNAME, PW_META, NULL);
    CHECK(tok != NULL, "metachar login");
    if (!tok) return;
    r = call("POST", "/v1/servers", tok,
             json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", META_NAME, "datacenter", META_DC,
                       "bmc_endpoint", "redfish+https://bmc-host_1.example:8443/redfish/v1/%27x",
                       "bmc_username", BMC_USER_META, "bmc_password", BMC_PASS_META));
    CHECK(r.status == 201, "server: %ld %s", r.status, r.body ? r.body : "");
    char id[24];
    snprintf(id, sizeof id, "%s", jstr(r.json, "id") ? jstr(r.json, "id") : "0");
    CHECK(jstr(r.json, "name") && strcmp(jstr(r.json, "name"), META_NAME) == 0, "name verbatim");
    CHECK(jstr(r.json, "datacenter") && strcmp(jstr(r.json, "datacenter"), META_DC) == 0,
          "dc verbatim");
    CHECK(jstr(r.json, "bmc_host") && strcmp(jstr(r.json, "bmc_host"), "bmc-host_1.example") == 0,
          "host");
    check_no_credentials(&r, "meta create");
    resp_free(&r);
    r = call("GET", "/v1/servers", tok, NULL);
    CHECK(r.status == 200 && list_has(&r, id), "meta list");
    CHECK(json_array_size(json_object_get(r.json, "servers")) == 1, "only its own server");
    resp_free(&r);
    char path[160];
    snprintf(path, sizeof path, "/v1/internal/servers/%s", id);
    r = call("GET", path, SERVICE_TOKEN, NULL);
    json_t *bmc = json_object_get(r.json, "bmc");
    CHECK(jstr(bmc, "username") && strcmp(jstr(bmc, "username"), BMC_USER_META) == 0, "bmc user");
    CHECK(jstr(bmc, "password") && strcmp(jstr(bmc, "password"), BMC_PASS_META) == 0, "bmc pw");
    CHECK(jstr(bmc, "endpoint") &&
              strcmp(jstr(bmc, "endpoint"),
                     "redfish+https://bmc-host_1.example:8443/redfish/v1/%27x") == 0,
          "endpoint verbatim");
    resp_free(&r);
    /* a gateway for the metacharacter datacenter; its location */
    r = call("POST", "/v1/gateways", tok,
             json_pack("{s:s, s:[s,s]}", "url", "http://127.0.0.1:18082/gw'%22", "datacenters",
                       META_DC, "dc'; DROP TABLE gateways; --"));
    CHECK(r.status == 201, "gateway: %ld %s", r.status, r.body ? r.body : "");
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/servers/%s/location", id);
    r = call("GET", path, tok, NULL);
    CHECK(r.status == 200 && jstr(r.json, "datacenter") &&
              strcmp(jstr(r.json, "datacenter"), META_DC) == 0,
          "meta location: %ld", r.status);
    CHECK(jstr(r.json, "gateway_url") &&
              strcmp(jstr(r.json, "gateway_url"), "http://127.0.0.1:18082/gw'%22") == 0,
          "meta gateway url");
    resp_free(&r);
    /* tables intact: everything still answers */
    r = call("GET", "/v1/servers", tok_admin_b, NULL);
    CHECK(r.status == 200 && list_has(&r, ids_b_server), "tables intact");
    resp_free(&r);
    free(tok);
}

static void test_users_and_gateways(void)
{
    resp r = call("POST", "/v1/users", tok_admin_a,
                  json_pack("{s:s, s:s, s:[s]}", "username", "nina", "password", PW_NEW_USER,
                            "roles", "operator"));
    CHECK(r.status == 201, "user: %ld %s", r.status, r.body ? r.body : "");
    CHECK(jstr(r.json, "customer_id") && strcmp(jstr(r.json, "customer_id"), cust_a) == 0,
          "default customer");
    resp_free(&r);
    char *t = login("nina", PW_NEW_USER, NULL);
    free(t);
    r = call("POST", "/v1/users", tok_admin_a,
             json_pack("{s:s, s:s, s:[s]}", "username", "nina", "password", PW_NEW_USER, "roles",
                       "operator"));
    CHECK(r.status == 409, "dup user: %ld", r.status);
    resp_free(&r);
    static const char *bad_users[] = {
        "{\"username\":\"x1\",\"password\":\"short\",\"roles\":[\"viewer\"]}",
        "{\"username\":\"x2\",\"password\":\"long-enough\",\"roles\":[]}",
        "{\"username\":\"x3\",\"password\":\"long-enough\",\"roles\":[\"root\"]}",
        "{\"username\":\"x4\",\"password\":\"long-enough\",\"roles\":[\"viewer\",\"viewer\"]}",
        ("{\"username\":\"x5\",\"password\":\"long-enough\",\"roles\":[\"viewer\"],"
         "\"customer_id\":\"999\"}"),
        "{\"username\":\"\",\"password\":\"long-enough\",\"roles\":[\"viewer\"]}",
        "{\"username\":\"tab\\there\",\"password\":\"long-enough\",\"roles\":[\"viewer\"]}",
        "{\"username\":\"x6\",\"password\":\"long-enough\",\"roles\":[\"viewer\"],\"admin\":true}",
    };
    for (size_t i = 0; i < sizeof bad_users / sizeof bad_users[0]; i++) {
        r = call_raw("POST", "/v1/users", tok_admin_a, bad_users[i], strlen(bad_users[i]));
        CHECK(r.status == 400, "bad user %zu: %ld %s", i, r.status, r.body ? r.body : "");
        CHECK(!body_has(&r, "long-enough"), "message quotes the password");
        resp_free(&r);
    }
    r = call("POST", "/v1/gateways", tok_admin_a,
             json_pack("{s:s, s:[s]}", "url", "http://127.0.0.1:18083", "datacenters", "dc1"));
    CHECK(r.status == 409, "dc taken: %ld", r.status);
    resp_free(&r);
    static const char *bad_gw[] = {
        "{\"url\":\"ftp://h\",\"datacenters\":[\"d\"]}",
        "{\"url\":\"http://u:p@h\",\"datacenters\":[\"d\"]}",
        "{\"url\":\"http://h?x=1\",\"datacenters\":[\"d\"]}",
        "{\"url\":\"http://h\",\"datacenters\":[]}",
        "{\"url\":\"http://h\",\"datacenters\":[\"d\",\"d\"]}",
        "{\"url\":\"http://h\",\"datacenters\":[1]}",
        "{\"url\":\"not a url\",\"datacenters\":[\"d\"]}",
    };
    for (size_t i = 0; i < sizeof bad_gw / sizeof bad_gw[0]; i++) {
        r = call_raw("POST", "/v1/gateways", tok_admin_a, bad_gw[i], strlen(bad_gw[i]));
        CHECK(r.status == 400, "bad gateway %zu: %ld %s", i, r.status, r.body ? r.body : "");
        resp_free(&r);
    }
    /* a server in a datacenter without gateway: location says no_gateway */
    r = call("POST", "/v1/servers", tok_admin_a,
             json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "lonely", "datacenter", "dc-none",
                       "bmc_endpoint", "redfish://127.0.0.1:8000", "bmc_username", "u",
                       "bmc_password", "p"));
    char path[128];
    snprintf(path, sizeof path, "/v1/servers/%s/location",
             jstr(r.json, "id") ? jstr(r.json, "id") : "0");
    resp_free(&r);
    r = call("GET", path, tok_admin_a, NULL);
    CHECK(r.status == 404 && err_code(&r) && strcmp(err_code(&r), "no_gateway") == 0,
          "no gateway: %ld", r.status);
    resp_free(&r);
    /* admin provisions a server for another customer */
    r = call("POST", "/v1/servers", tok_admin_a,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "for-b", "datacenter", "dc2",
                       "bmc_endpoint", "ipmi://127.0.0.1", "bmc_username", "u", "bmc_password", "p",
                       "customer_id", cust_b));
    CHECK(r.status == 201 && jstr(r.json, "customer_id") &&
              strcmp(jstr(r.json, "customer_id"), cust_b) == 0,
          "provision for B: %ld", r.status);
    resp_free(&r);
    r = call("POST", "/v1/servers", tok_admin_a,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "for-nobody", "datacenter", "dc2",
                       "bmc_endpoint", "ipmi://127.0.0.1", "bmc_username", "u", "bmc_password", "p",
                       "customer_id", "424242"));
    CHECK(r.status == 400, "provision for a missing customer: %ld", r.status);
    resp_free(&r);
}

static void test_bad_input(void)
{
    struct {
        const char *body;
        long status;
        const char *code;
    } cases[] = {
        {"{", 400, "malformed_json"},
        {"[]", 400, "json_not_object"},
        {"{\"name\":\"a\xff\"}", 400, "invalid_utf8"},
        {"{\"name\":\"a\\u0000b\"}", 400, "malformed_json"},
        {"{\"name\":\"a\",\"name\":\"b\"}", 400, "malformed_json"},
        {"{\"name\":5,\"datacenter\":\"d\",\"bmc_endpoint\":\"ipmi://h\",\"bmc_username\":\"u\","
         "\"bmc_password\":\"p\"}",
         400, "invalid_request"},
        {"{\"datacenter\":\"d\",\"bmc_endpoint\":\"ipmi://h\",\"bmc_username\":\"u\","
         "\"bmc_password\":\"p\"}",
         400, "invalid_request"},
        {"{\"name\":\"n\",\"datacenter\":\"d\",\"bmc_endpoint\":\"http://h\",\"bmc_username\":"
         "\"u\",\"bmc_password\":\"p\"}",
         400, "invalid_request"},
        {"{\"name\":\"n\",\"datacenter\":\"d\",\"bmc_endpoint\":\"ipmi://admin:hunter2@h\","
         "\"bmc_username\":\"u\",\"bmc_password\":\"p\"}",
         400, "invalid_request"},
        {"{\"name\":\"n\",\"datacenter\":\"d\",\"bmc_endpoint\":\"ipmi://h/x\",\"bmc_username\":"
         "\"u\",\"bmc_password\":\"p\"}",
         400, "invalid_request"},
        {"{\"name\":\"n\\n\",\"datacenter\":\"d\",\"bmc_endpoint\":\"ipmi://h\",\"bmc_username\":"
         "\"u\",\"bmc_password\":\"p\"}",
         400, "invalid_request"},
        {"{\"name\":\"n\",\"datacenter\":\"d\",\"bmc_endpoint\":\"ipmi://h\",\"bmc_username\":"
         "\"u\",\"bmc_pasword\":\"p\"}",
         400, "invalid_request"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resp r = call_raw("POST", "/v1/servers", tok_admin_a, cases[i].body, strlen(cases[i].body));
        CHECK(r.status == cases[i].status, "case %zu: %ld %s", i, r.status, r.body ? r.body : "");
        CHECK(err_code(&r) && strcmp(err_code(&r), cases[i].code) == 0, "case %zu: %s", i,
              r.body ? r.body : "(none)");
        CHECK(!body_has(&r, "hunter2"), "case %zu echoes a credential", i);
        resp_free(&r);
    }
    /* a 70 KiB name: over MANAGER_MAX_BODY (64 KiB) */
    size_t big = 70 * 1024;
    char *b = malloc(big + 64);
    int n = snprintf(b, big + 64, "{\"name\":\"");
    memset(b + n, 'x', big);
    snprintf(b + n + big, 64, "\"}");
    resp r = call_raw("POST", "/v1/servers", tok_admin_a, b, strlen(b));
    CHECK(r.status == 413, "oversized: %ld", r.status);
    resp_free(&r);
    r = call_raw("POST", "/v1/auth/login", NULL, b, strlen(b));
    CHECK(r.status == 413, "oversized login: %ld", r.status);
    resp_free(&r);
    free(b);
    /* a 200-byte name: under the body limit, over the field limit */
    char mid[512];
    snprintf(mid, sizeof mid,
             "{\"name\":\"%0200d\",\"datacenter\":\"d\",\"bmc_endpoint\":\"ipmi://h\","
             "\"bmc_username\":\"u\",\"bmc_password\":\"p\"}",
             0);
    r = call_raw("POST", "/v1/servers", tok_admin_a, mid, strlen(mid));
    CHECK(r.status == 400, "long name: %ld", r.status);
    resp_free(&r);
    r = call_raw("POST", "/v1/servers", tok_admin_a, "", 0);
    CHECK(r.status == 400, "empty body: %ld", r.status);
    resp_free(&r);
    /* the server is still fine */
    r = call("GET", "/healthz", NULL, NULL);
    CHECK(r.status == 200, "healthz: %ld", r.status);
    resp_free(&r);
}

/* ---- Telemetry checks ---- */

typedef struct span {
    char trace[33], id[17], parent[17];
    char name[128];
    int kind;
    json_t *attrs; /* borrowed from the parsed line */
} span;

static const char *attr_str(const json_t *attrs, const char *key, char *buf, size_t cap)
{
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        if (strcmp(jstr(a, "key"), key) != 0) continue;
        json_t *v = json_object_get(a, "value");
        if (jstr(v, "stringValue")) return jstr(v, "stringValue");
        if (jstr(v, "intValue")) { /* OTLP/JSON: int64 as a string */
            snprintf(buf, cap, "%s", jstr(v, "intValue"));
            return buf;
        }
        if (json_is_integer(json_object_get(v, "intValue"))) {
            snprintf(buf, cap, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(v, "intValue")));
            return buf;
        }
    }
    return NULL;
}

static void check_traces(void)
{
    char path[128];
    path_in(path, sizeof path, "traces.jsonl");
    char *txt = read_file(path, NULL);
    CHECK(txt != NULL, "no traces file");
    if (!txt) return;
    json_t *lines = json_array();
    size_t cap = 4096, n = 0;
    span *spans = malloc(cap * sizeof *spans);
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *req = json_loads(line, 0, NULL);
        CHECK(req != NULL, "a traces line is not JSON");
        if (!req) continue;
        json_array_append_new(lines, req);
        size_t i, j, k;
        json_t *rs, *ss, *s;
        json_array_foreach(json_object_get(req, "resourceSpans"), i, rs)
        {
            json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss)
            {
                json_array_foreach(json_object_get(ss, "spans"), k, s)
                {
                    if (n == cap) spans = realloc(spans, (cap *= 2) * sizeof *spans);
                    span *sp = &spans[n++];
                    snprintf(sp->trace, sizeof sp->trace, "%s", jstr(s, "traceId"));
                    snprintf(sp->id, sizeof sp->id, "%s", jstr(s, "spanId"));
                    snprintf(sp->parent, sizeof sp->parent, "%s",
                             jstr(s, "parentSpanId") ? jstr(s, "parentSpanId") : "");
                    snprintf(sp->name, sizeof sp->name, "%s", jstr(s, "name"));
                    sp->kind = (int)json_integer_value(json_object_get(s, "kind"));
                    sp->attrs = json_object_get(s, "attributes");
                }
            }
        }
    }
    CHECK(n > 50, "only %zu spans", n);
    static const char *routes[] = {
        "POST /v1/auth/login",     "GET /v1/auth/validate",
        "GET /v1/servers",         "POST /v1/servers",
        "GET /v1/servers/{id}",    "PATCH /v1/servers/{id}",
        "DELETE /v1/servers/{id}", "GET /v1/servers/{id}/location",
        "POST /v1/customers",      "POST /v1/users",
        "POST /v1/gateways",       "GET /v1/internal/servers/{id}",
    };
    bool seen[sizeof routes / sizeof routes[0]] = {false};
    size_t server_2xx = 0, with_b = 0;
    for (size_t i = 0; i < n; i++) {
        span *s = &spans[i];
        if (s->kind != 2 || strncmp(s->name + strcspn(s->name, " ") + 1, "/v1/", 4) != 0) continue;
        char b1[32], b2[32];
        const char *st = attr_str(s->attrs, "http.response.status_code", b1, sizeof b1);
        int status = st ? atoi(st) : 0;
        if (status < 200 || status > 299) continue;
        server_2xx++;
        for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++)
            if (strcmp(s->name, routes[r]) == 0) seen[r] = true;
        /* db.* children */
        size_t dbs = 0;
        for (size_t j = 0; j < n; j++) {
            if (strcmp(spans[j].parent, s->id) != 0 || strcmp(spans[j].trace, s->trace) != 0)
                continue;
            const char *sys = attr_str(spans[j].attrs, "db.system.name", b2, sizeof b2);
            if (spans[j].kind == 3 && sys && strcmp(sys, "sqlite") == 0 &&
                attr_str(spans[j].attrs, "db.operation.name", b2, sizeof b2) &&
                attr_str(spans[j].attrs, "db.collection.name", b2, sizeof b2))
                dbs++;
        }
        CHECK(dbs >= 1, "%s (%d) has no db.* child span", s->name, status);
        /* customer_id after authentication */
        const char *cst = attr_str(s->attrs, "customer_id", b1, sizeof b1);
        CHECK(cst != NULL, "%s (%d) has no customer_id attribute", s->name, status);
        if (cst && strcmp(cst, cust_b) == 0) with_b++;
    }
    for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++)
        CHECK(seen[r], "no 2xx SERVER span for %s", routes[r]);
    CHECK(server_2xx > 30, "only %zu 2xx server spans", server_2xx);
    CHECK(with_b > 0, "no span with customer B's id");
    /* the password work is a child of the login span */
    bool verify_span = false;
    for (size_t i = 0; i < n && !verify_span; i++)
        verify_span = strcmp(spans[i].name, "mgr.password_verify") == 0 && spans[i].parent[0];
    CHECK(verify_span, "no mgr.password_verify span");
    free(spans);
    json_decref(lines);
    free(txt);
}

/* Every secret, raw and JSON-escaped, against one telemetry text. */
static void grep_secrets(const char *what, const char *text)
{
    CHECK(text != NULL, "%s: nothing to read", what);
    if (!text) return;
    for (size_t i = 0; i < n_secrets; i++) {
        CHECK(strstr(text, secrets[i]) == NULL, "%s contains secret #%zu (%.12s...)", what, i,
              secrets[i]);
        json_t *j = json_string(secrets[i]);
        char *esc = json_dumps(j, JSON_ENCODE_ANY);
        if (esc) {
            esc[strlen(esc) - 1] = '\0'; /* without the quotes */
            CHECK(strstr(text, esc + 1) == NULL, "%s contains escaped secret #%zu", what, i);
        }
        free(esc);
        json_decref(j);
        /* a token's signature alone is a secret too */
        const char *dot = strrchr(secrets[i], '.');
        if (dot && strlen(dot + 1) == 43)
            CHECK(strstr(text, dot + 1) == NULL, "%s contains a token signature", what);
    }
}

static void write_seed(void)
{
    char path[128];
    path_in(path, sizeof path, "seed.json");
    json_t *seed = json_pack(
        "{s:[{s:s, s:[{s:s, s:s, s:[s,s]}, {s:s, s:s, s:[s]}], s:[{s:s, s:s, s:s, s:s, s:s}]},"
        "    {s:s, s:[{s:s, s:s, s:[s]}], s:[{s:s, s:s, s:s, s:s, s:s}]}],"
        " s:[{s:s, s:[s]}]}",
        "customers",
        /* A */
        "name", "acme", "users", "username", "alice", "password", PW_ADMIN_A, "roles", "admin",
        "operator", "username", "victor", "password", PW_VIEWER_A, "roles", "viewer", "servers",
        "name", "a-seeded", "datacenter", "dc1", "bmc_endpoint", "ipmi://127.0.0.1:9623",
        "bmc_username", BMC_USER_1, "bmc_password", BMC_PASS_1,
        /* B */
        "name", "globex", "users", "username", "bob", "password", PW_ADMIN_B, "roles", "admin",
        "servers", "name", "b-seeded", "datacenter", "dc2", "bmc_endpoint",
        "redfish://127.0.0.1:8000", "bmc_username", BMC_USER_B, "bmc_password", BMC_PASS_B,
        "gateways", "url", "http://127.0.0.1:18081", "datacenters", "dc1");
    CHECK(seed != NULL, "seed json");
    json_dump_file(seed, path, 0);
    json_decref(seed);
}

/* Reads the ids of the seed summary printed on stdout. */
static void read_seed_ids(void)
{
    char path[128];
    path_in(path, sizeof path, "seed.stdout");
    char *txt = read_file(path, NULL);
    json_t *o = txt ? json_loads(txt, 0, NULL) : NULL;
    free(txt);
    json_t *cs = json_object_get(o, "customers");
    json_t *a = json_array_get(cs, 0), *b = json_array_get(cs, 1);
    snprintf(cust_a, sizeof cust_a, "%s", jstr(a, "id") ? jstr(a, "id") : "");
    snprintf(cust_b, sizeof cust_b, "%s", jstr(b, "id") ? jstr(b, "id") : "");
    json_t *sa = json_array_get(json_object_get(a, "servers"), 0);
    json_t *sb = json_array_get(json_object_get(b, "servers"), 0);
    snprintf(ids_a_server, sizeof ids_a_server, "%s", jstr(sa, "id") ? jstr(sa, "id") : "");
    snprintf(ids_b_server, sizeof ids_b_server, "%s", jstr(sb, "id") ? jstr(sb, "id") : "");
    CHECK(cust_a[0] && cust_b[0] && ids_a_server[0] && ids_b_server[0], "seed ids");
    json_decref(o);
}

static void cleanup_dir(void)
{
    static const char *files[] = {
        "manager.db",     "manager.db-wal", "manager.db-shm", "seed.json",     "seed.stdout",
        "manager.stdout", "manager.stderr", "traces.jsonl",   "metrics.jsonl", "logs.jsonl"};
    char p[128];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        path_in(p, sizeof p, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void)
{
    uint64_t t0 = now_ms();
    if (sodium_init() < 0) return 1;
    snprintf(dir, sizeof dir, "/tmp/test_mgr_api_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char b64[128];
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)JWT_SECRET_RAW,
                      strlen(JWT_SECRET_RAW), sodium_base64_VARIANT_ORIGINAL);
    snprintf(jwt_keys, sizeof jwt_keys, "k1:%s", b64);
    add_secret(b64);
    add_secret(JWT_SECRET_RAW);
    sodium_bin2base64(cred_key, sizeof cred_key, (const unsigned char *)CRED_KEY_RAW, 32,
                      sodium_base64_VARIANT_ORIGINAL);
    add_secret(cred_key);
    add_secret(CRED_KEY_RAW);
    static const char *const pw[] = {SERVICE_TOKEN,   PW_ADMIN_A, PW_VIEWER_A,   PW_ADMIN_B,
                                     PW_NEW_USER,     PW_META,    BMC_USER_1,    BMC_PASS_1,
                                     BMC_USER_B,      BMC_PASS_B, BMC_USER_META, BMC_PASS_META,
                                     BMC_PASS_PATCHED};
    for (size_t i = 0; i < sizeof pw / sizeof pw[0]; i++)
        add_secret(pw[i]);

    char p[128];
    setenv("BMC_JWT_KEYS", jwt_keys, 1);
    setenv("BMC_CRED_KEY", cred_key, 1);
    setenv("BMC_SERVICE_TOKEN", SERVICE_TOKEN, 1);
    path_in(p, sizeof p, "manager.db");
    setenv("MANAGER_DB", p, 1);
    setenv("MANAGER_PORT", "0", 1);
    setenv("MANAGER_ADDRESS", "127.0.0.1", 1);
    setenv("MANAGER_PWHASH_OPSLIMIT", "1", 1);
    setenv("MANAGER_PWHASH_MEMLIMIT", "8192", 1);
    setenv("OTEL_SERVICE_NAME", "bmc-manager", 1);
    setenv("OTEL_TRACES_EXPORTER", "file", 1);
    path_in(p, sizeof p, "traces.jsonl");
    setenv("OTEL_EXPORTER_FILE_TRACES_PATH", p, 1);
    setenv("OTEL_METRICS_EXPORTER", "file", 1);
    path_in(p, sizeof p, "metrics.jsonl");
    setenv("OTEL_EXPORTER_FILE_METRICS_PATH", p, 1);
    setenv("OTEL_METRIC_EXPORT_INTERVAL", "500", 1);
    setenv("OTEL_LOGS_EXPORTER", "file", 1);
    path_in(p, sizeof p, "logs.jsonl");
    setenv("OTEL_EXPORTER_FILE_LOGS_PATH", p, 1);
    setenv("OTEL_BSP_SCHEDULE_DELAY", "200", 1);
    setenv("OTEL_TRACES_SAMPLER", "always_on", 1);
    setenv("LOG_LEVEL", "debug", 1);
    unsetenv("OTEL_SDK_DISABLED");

    write_seed();
    path_in(p, sizeof p, "seed.json");
    const char *seed_args[] = {BMC_MANAGER_BIN, "seed", p, NULL};
    int rc = wait_exit(spawn(seed_args, "seed.stdout", "manager.stderr"), 20000);
    CHECK(rc == 0, "seed exited %d", rc);
    read_seed_ids();

    const char *serve_args[] = {BMC_MANAGER_BIN, NULL};
    mgr_pid = spawn(serve_args, "manager.stdout", "manager.stderr");
    int port = wait_port(15000);
    CHECK(port > 0, "the manager did not start");
    if (port <= 0) {
        kill(mgr_pid, SIGKILL);
        waitpid(mgr_pid, NULL, 0);
        return 1;
    }
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", port);
    http = core_http_client_create(NULL);

    test_login();
    if (tok_admin_a && tok_viewer_a && tok_admin_b) {
        test_validate();
        test_crud_and_scope();
        test_internal();
        test_metacharacters();
        test_users_and_gateways();
        test_bad_input();
    }
    resp m = call("GET", "/metrics", NULL, NULL);
    CHECK(m.status == 200 && body_has(&m, "http_server_request_duration"), "/metrics: %ld",
          m.status);
    char *metrics_text = m.body ? strdup(m.body) : NULL;
    resp_free(&m);

    kill(mgr_pid, SIGTERM);
    rc = wait_exit(mgr_pid, 10000);
    CHECK(rc == 0, "bmc-manager exited %d after SIGTERM", rc);

    check_traces();
    static const char *outputs[] = {"traces.jsonl",   "metrics.jsonl",  "logs.jsonl",
                                    "manager.stderr", "manager.stdout", "seed.stdout"};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        path_in(p, sizeof p, outputs[i]);
        char *t = read_file(p, NULL);
        if (!t && (strcmp(outputs[i], "manager.stdout") == 0)) t = strdup("");
        grep_secrets(outputs[i], t);
        free(t);
    }
    grep_secrets("/metrics", metrics_text);
    free(metrics_text);
    path_in(p, sizeof p, "manager.stderr");
    char *log = read_file(p, NULL);
    CHECK(log && strstr(log, "stopping bmc-manager (SIGTERM)"), "no stopping line");
    CHECK(log && strstr(log, "(hidden)"), "secret settings not hidden in the start-up line");
    free(log);

    core_http_client_destroy(http);
    free(tok_admin_a);
    free(tok_viewer_a);
    free(tok_admin_b);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    if (failures == 0)
        cleanup_dir();
    else
        fprintf(stderr, "files kept in %s\n", dir);
    fprintf(stderr, "%s: %d failure(s) in %.1f s\n", failures ? "FAIL" : "PASS", failures,
            (double)(now_ms() - t0) / 1000.0);
    return failures ? 1 : 0;
}
