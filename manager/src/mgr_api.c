/* The manager's /v1 API (docs/FLEET_API.md): servers (scoped to the caller's customer: another
 * customer's server is a 404, never its data), location, customers, users, gateways (admin),
 * and the internal server endpoint with the BMC credentials (service token only). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "mgr.h"
#include "telemetry/log.h"

/* ---- Answers ---- */

static int bad_request(core_http_req *req, const char *msg)
{
    return core_http_respond_error(req, 400, "invalid_request", msg);
}

static int not_found(core_http_req *req, const char *what)
{
    char m[64];
    snprintf(m, sizeof m, "%s not found", what);
    return core_http_respond_error(req, 404, "not_found", m);
}

int mgr_api_respond_store_error(core_http_req *req, int rc, const char *what)
{
    char m[96];
    switch (rc) {
    case CORE_ENOTFOUND:
        return not_found(req, what);
    case CORE_EEXIST:
        snprintf(m, sizeof m, "the %s already exists", what);
        return core_http_respond_error(req, 409, "conflict", m);
    case CORE_EINVAL:
        snprintf(m, sizeof m, "the %s was refused by the database", what);
        return bad_request(req, m);
    case CORE_EBUSY:
        core_http_resp_header(req, "retry-after", "1");
        return core_http_respond_error(req, 503, "busy", "the database is busy");
    default:
        tel_log_error("database failure (%s): %s", what, core_strerror(rc));
        return core_http_respond_error(req, 500, "internal", "database failure");
    }
}

/* The authenticated user (the middleware guarantees one on these routes), or NULL after
 * answering 401. */
static const mgr_principal *user_of(core_http_req *req)
{
    const mgr_principal *p = mgr_auth_principal(req);
    if (!p || p->kind != MGR_PRINCIPAL_USER) {
        core_http_respond_error(req, 401, "unauthenticated", "a user token is required");
        return NULL;
    }
    return p;
}

/* The authenticated admin, or NULL after answering 401/403. */
static const mgr_principal *admin_of(core_http_req *req)
{
    const mgr_principal *p = user_of(req);
    if (p && !(p->claims.roles & CORE_TOKEN_ROLE_ADMIN)) {
        core_http_respond_error(req, 403, "forbidden", "the admin role is required");
        return NULL;
    }
    return p;
}

/* The {id} path parameter; false (after answering 404) when it is not a valid id. */
static bool path_id(core_http_req *req, int64_t *id, const char *what)
{
    if (mgr_id_parse(core_http_req_param(req, "id"), id) != 0) {
        not_found(req, what);
        return false;
    }
    return true;
}

/* Refuses fields other than the allowed ones (typos in credential fields must not pass
 * silently). */
static bool only_fields(core_http_req *req, const json_t *body, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char m[128];
            snprintf(m, sizeof m, "unknown field \"%.64s\"", key);
            bad_request(req, m);
            return false;
        }
    }
    return true;
}

static void wipe_field(json_t *body, const char *key)
{
    json_t *v = json_object_get(body, key);
    if (json_is_string(v)) sodium_memzero((char *)json_string_value(v), json_string_length(v));
}

/* ---- Servers ---- */

static int h_servers_list(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = user_of(req);
    if (!p) return 0;
    json_t *arr;
    int rc = mgr_store_server_list(app, &p->ctx, p->claims.customer_id, &arr);
    if (rc != 0) return mgr_api_respond_store_error(req, rc, "server");
    json_t *o = json_object();
    json_object_set_new(o, "servers", arr);
    return core_http_respond_json(req, 200, o);
}

static int h_server_get(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = user_of(req);
    int64_t id;
    if (!p || !path_id(req, &id, "server")) return 0;
    json_t *o;
    int rc = mgr_store_server_get(app, &p->ctx, id, p->claims.customer_id, false, &o);
    if (rc != 0) return mgr_api_respond_store_error(req, rc, "server");
    return core_http_respond_json(req, 200, o);
}

/* Reads and checks the server fields of body into in (all required unless patch). */
static bool server_fields(core_http_req *req, json_t *body, bool patch, mgr_server_in *in)
{
    static const char *const allowed[] = {
        "name", "datacenter", "bmc_endpoint", "bmc_username", "bmc_password", "customer_id", NULL};
    memset(in, 0, sizeof *in);
    if (!only_fields(req, body, allowed)) return false;
    unsigned opt = patch ? MGR_TEXT_OPTIONAL : 0;
    char msg[160];
    if (mgr_text_field(body, "name", 1, MGR_NAME_MAX, opt, &in->name, msg, sizeof msg) ||
        mgr_text_field(body, "datacenter", 1, MGR_DC_MAX, opt, &in->datacenter, msg, sizeof msg) ||
        mgr_text_field(body, "bmc_endpoint", 1, MGR_ENDPOINT_MAX, opt, &in->endpoint, msg,
                       sizeof msg) ||
        mgr_text_field(body, "bmc_username", 1, MGR_BMC_USER_MAX, opt | MGR_TEXT_ANY_CHARS,
                       &in->bmc_username, msg, sizeof msg) ||
        mgr_text_field(body, "bmc_password", 1, MGR_BMC_PASS_MAX, opt | MGR_TEXT_ANY_CHARS,
                       &in->bmc_password, msg, sizeof msg)) {
        bad_request(req, msg);
        return false;
    }
    if (in->endpoint) {
        char type[8], host[MGR_HOST_MAX + 1];
        if (mgr_endpoint_parse(in->endpoint, type, host, msg, sizeof msg) != 0) {
            bad_request(req, msg);
            return false;
        }
    }
    if (patch && !in->name && !in->datacenter && !in->endpoint && !in->bmc_username &&
        !in->bmc_password) {
        bad_request(req, "nothing to change");
        return false;
    }
    return true;
}

static int h_server_create(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = admin_of(req);
    if (!p) return 0;
    json_t *body;
    if (core_http_req_json(req, &body) != 0) return 0;
    mgr_server_in in;
    int64_t customer = p->claims.customer_id;
    int rc = 0;
    if (!server_fields(req, body, false, &in)) goto out;
    int idrc = mgr_id_field(body, "customer_id", &customer);
    if (idrc == CORE_EINVAL) {
        rc = bad_request(req, "field \"customer_id\" must be an id");
        goto out;
    }
    if (customer != p->claims.customer_id) {
        int e = mgr_store_customer_exists(app, &p->ctx, customer);
        if (e != 0) {
            rc = e == CORE_ENOTFOUND ? bad_request(req, "field \"customer_id\": no such customer")
                                     : mgr_api_respond_store_error(req, e, "customer");
            goto out;
        }
    }
    json_t *o;
    int e = mgr_store_server_create(app, &p->ctx, customer, &in, &o);
    if (e != 0) {
        rc = mgr_api_respond_store_error(req, e, "server");
        goto out;
    }
    tel_span_set_str(core_http_req_span(req), "server_id",
                     json_string_value(json_object_get(o, "id")));
    rc = core_http_respond_json(req, 201, o);
out:
    wipe_field(body, "bmc_password");
    wipe_field(body, "bmc_username");
    json_decref(body);
    return rc;
}

static int h_server_patch(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = admin_of(req);
    int64_t id;
    if (!p || !path_id(req, &id, "server")) return 0;
    json_t *body;
    if (core_http_req_json(req, &body) != 0) return 0;
    mgr_server_in in;
    int rc = 0;
    if (!server_fields(req, body, true, &in)) goto out;
    if (json_object_get(body, "customer_id")) {
        rc = bad_request(req, "field \"customer_id\" cannot be changed");
        goto out;
    }
    json_t *o;
    int e = mgr_store_server_update(app, &p->ctx, id, p->claims.customer_id, &in, &o);
    rc = e != 0 ? mgr_api_respond_store_error(req, e, "server")
                : core_http_respond_json(req, 200, o);
out:
    wipe_field(body, "bmc_password");
    wipe_field(body, "bmc_username");
    json_decref(body);
    return rc;
}

static int h_server_delete(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = admin_of(req);
    int64_t id;
    if (!p || !path_id(req, &id, "server")) return 0;
    int rc = mgr_store_server_delete(app, &p->ctx, id, p->claims.customer_id);
    if (rc != 0) return mgr_api_respond_store_error(req, rc, "server");
    return core_http_respond(req, 204, NULL, NULL, 0);
}

static int h_server_location(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = user_of(req);
    int64_t id;
    if (!p || !path_id(req, &id, "server")) return 0;
    json_t *o;
    int rc = mgr_store_server_location(app, &p->ctx, id, p->claims.customer_id, &o);
    if (rc != 0) return mgr_api_respond_store_error(req, rc, "server");
    json_t *dc = json_object_get(o, "datacenter");
    tel_span_set_str(core_http_req_span(req), "datacenter", json_string_value(dc));
    if (json_is_null(json_object_get(o, "gateway_url"))) {
        json_decref(o);
        return core_http_respond_error(req, 404, "no_gateway",
                                       "no gateway serves the server's datacenter");
    }
    return core_http_respond_json(req, 200, o);
}

/* ---- Customers ---- */

static int h_customer_create(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = admin_of(req);
    if (!p) return 0;
    json_t *body;
    if (core_http_req_json(req, &body) != 0) return 0;
    static const char *const allowed[] = {"name", NULL};
    const char *name = NULL;
    char msg[160];
    int rc = 0;
    if (!only_fields(req, body, allowed)) goto out;
    if (mgr_text_field(body, "name", 1, MGR_NAME_MAX, 0, &name, msg, sizeof msg) != 0) {
        rc = bad_request(req, msg);
        goto out;
    }
    int64_t id;
    int e = mgr_store_customer_create(app, &p->ctx, name, &id);
    if (e != 0) {
        rc = mgr_api_respond_store_error(req, e, "customer");
        goto out;
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", mgr_id_json(id));
    json_object_set_new(o, "name", json_string(name));
    rc = core_http_respond_json(req, 201, o);
out:
    json_decref(body);
    return rc;
}

/* ---- Users (hashing runs on the pool) ---- */

typedef struct user_job {
    mgr_app *app;
    core_http_req *req;
    tel_context ctx;
    int64_t customer_id;
    unsigned roles;
    char *username;
    char *password;
    size_t password_len;
} user_job;

static void user_job_free(user_job *j)
{
    tel_context_cleanup(&j->ctx);
    free(j->username);
    if (j->password) {
        sodium_memzero(j->password, j->password_len);
        free(j->password);
    }
    free(j);
}

/* A pool job; the request's server span is the thread's current span (core_workpool). */
static void user_create_run(void *arg)
{
    user_job *j = arg;
    char hash[crypto_pwhash_STRBYTES];
    tel_span *hs =
        tel_span_start(j->app->tracer, "mgr.password_hash", TEL_SPAN_KIND_INTERNAL, &j->ctx);
    int rc = mgr_password_hash(j->app, j->password, j->password_len, hash);
    tel_span_end(hs);
    int64_t id = 0;
    if (rc == 0)
        rc = mgr_store_user_create(j->app, &j->ctx, j->customer_id, j->username, hash, j->roles,
                                   &id);
    sodium_memzero(hash, sizeof hash);
    if (rc != 0) {
        mgr_api_respond_store_error(j->req, rc, "user");
    } else {
        json_t *o = json_object();
        json_object_set_new(o, "id", mgr_id_json(id));
        json_object_set_new(o, "username", json_string(j->username));
        json_object_set_new(o, "customer_id", mgr_id_json(j->customer_id));
        json_object_set_new(o, "roles", mgr_roles_json(j->roles));
        core_http_respond_json(j->req, 201, o);
    }
    user_job_free(j);
}

static int h_user_create(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = admin_of(req);
    if (!p) return 0;
    json_t *body;
    if (core_http_req_json(req, &body) != 0) return 0;
    static const char *const allowed[] = {"username", "password", "customer_id", "roles", NULL};
    const char *username = NULL, *password = NULL;
    char msg[160];
    int rc = 0;
    int64_t customer = p->claims.customer_id;
    unsigned roles = 0;
    user_job *j = NULL;
    if (!only_fields(req, body, allowed)) goto out;
    if (mgr_text_field(body, "username", 1, MGR_USERNAME_MAX, 0, &username, msg, sizeof msg) ||
        mgr_text_field(body, "password", MGR_PASSWORD_MIN, MGR_PASSWORD_MAX, MGR_TEXT_ANY_CHARS,
                       &password, msg, sizeof msg)) {
        rc = bad_request(req, msg);
        goto out;
    }
    if (mgr_id_field(body, "customer_id", &customer) == CORE_EINVAL) {
        rc = bad_request(req, "field \"customer_id\" must be an id");
        goto out;
    }
    if (mgr_roles_parse(json_object_get(body, "roles"), &roles) != 0) {
        rc = bad_request(req, "field \"roles\" must be a non-empty array of distinct roles "
                              "(admin, operator, viewer)");
        goto out;
    }
    int e = mgr_store_customer_exists(app, &p->ctx, customer);
    if (e != 0) {
        rc = e == CORE_ENOTFOUND ? bad_request(req, "field \"customer_id\": no such customer")
                                 : mgr_api_respond_store_error(req, e, "customer");
        goto out;
    }
    j = calloc(1, sizeof *j);
    if (!j) {
        rc = core_http_respond_error(req, 500, "internal", "out of memory");
        goto out;
    }
    j->app = app;
    j->req = req;
    j->customer_id = customer;
    j->roles = roles;
    tel_context_init(&j->ctx);
    tel_context_copy(&j->ctx, &p->ctx);
    j->username = strdup(username);
    j->password_len = strlen(password);
    j->password = strdup(password);
    if (!j->username || !j->password) {
        user_job_free(j);
        rc = core_http_respond_error(req, 500, "internal", "out of memory");
        goto out;
    }
    if (core_workpool_submit(app->pool, user_create_run, j, core_http_req_span(req)) != 0) {
        user_job_free(j);
        core_http_resp_header(req, "retry-after", "1");
        rc = core_http_respond_error(req, 503, "busy", "too much work in progress");
        goto out;
    }
    rc = CORE_HTTP_ASYNC;
out:
    wipe_field(body, "password");
    json_decref(body);
    return rc;
}

/* ---- Gateways ---- */

static int h_gateway_create(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = admin_of(req);
    if (!p) return 0;
    json_t *body;
    if (core_http_req_json(req, &body) != 0) return 0;
    static const char *const allowed[] = {"url", "datacenters", NULL};
    const char *url = NULL;
    const char *dcs[MGR_DCS_MAX];
    size_t n = 0;
    char msg[160];
    int rc = 0;
    if (!only_fields(req, body, allowed)) goto out;
    if (mgr_text_field(body, "url", 1, MGR_URL_MAX, 0, &url, msg, sizeof msg) ||
        mgr_gateway_url_check(url, msg, sizeof msg)) {
        rc = bad_request(req, msg);
        goto out;
    }
    json_t *arr = json_object_get(body, "datacenters");
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MGR_DCS_MAX) {
        snprintf(msg, sizeof msg, "field \"datacenters\" must be an array of 1 to %d names",
                 MGR_DCS_MAX);
        rc = bad_request(req, msg);
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        size_t l = json_string_length(v);
        bool ok = s && l >= 1 && l <= MGR_DC_MAX && strlen(s) == l;
        for (size_t k = 0; ok && k < l; k++)
            ok = (unsigned char)s[k] >= 0x20 && s[k] != 0x7f;
        for (size_t k = 0; ok && k < n; k++)
            ok = strcmp(dcs[k], s) != 0;
        if (!ok) {
            snprintf(msg, sizeof msg,
                     "field \"datacenters\": names are distinct strings of 1 to %d bytes",
                     MGR_DC_MAX);
            rc = bad_request(req, msg);
            goto out;
        }
        dcs[n++] = s;
    }
    json_t *o;
    int e = mgr_store_gateway_create(app, &p->ctx, url, dcs, n, false, &o);
    if (e == CORE_EEXIST) {
        rc = core_http_respond_error(req, 409, "conflict",
                                     "the gateway URL or one of the datacenters is taken");
        goto out;
    }
    rc = e != 0 ? mgr_api_respond_store_error(req, e, "gateway")
                : core_http_respond_json(req, 201, o);
out:
    json_decref(body);
    return rc;
}

/* ---- Internal ---- */

static int h_internal_server(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = mgr_auth_principal(req);
    if (!p || p->kind != MGR_PRINCIPAL_SERVICE)
        return core_http_respond_error(req, 403, "forbidden", "service token required");
    int64_t id;
    if (!path_id(req, &id, "server")) return 0;
    /* Optional ?customer_id=: the caller's customer, checked here as well. */
    int64_t customer = 0;
    char q[32];
    int qn = core_http_req_query(req, "customer_id", q, sizeof q);
    if (qn >= 0 && mgr_id_parse(q, &customer) != 0) return not_found(req, "server");
    if (qn == CORE_ETOOBIG) return not_found(req, "server");
    json_t *o;
    int rc = mgr_store_server_get(app, &p->ctx, id, customer, true, &o);
    if (rc != 0) return mgr_api_respond_store_error(req, rc, "server");
    int64_t cst = 0;
    mgr_id_field(o, "customer_id", &cst);
    mgr_auth_tag_span(req, cst, 0);
    tel_span_set_str(core_http_req_span(req), "server_id",
                     json_string_value(json_object_get(o, "id")));
    core_http_resp_header(req, "cache-control", "no-store");
    return core_http_respond_json(req, 200, o);
}

int mgr_api_register(mgr_app *app, core_http_server *h)
{
    static const struct {
        unsigned methods;
        const char *pattern;
        core_http_handler_fn fn;
    } routes[] = {
        {CORE_HTTP_GET, "/v1/servers", h_servers_list},
        {CORE_HTTP_POST, "/v1/servers", h_server_create},
        {CORE_HTTP_GET, "/v1/servers/{id}", h_server_get},
        {CORE_HTTP_PATCH, "/v1/servers/{id}", h_server_patch},
        {CORE_HTTP_DELETE, "/v1/servers/{id}", h_server_delete},
        {CORE_HTTP_GET, "/v1/servers/{id}/location", h_server_location},
        {CORE_HTTP_POST, "/v1/customers", h_customer_create},
        {CORE_HTTP_POST, "/v1/users", h_user_create},
        {CORE_HTTP_POST, "/v1/gateways", h_gateway_create},
        {CORE_HTTP_GET, "/v1/internal/servers/{id}", h_internal_server},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = core_http_server_route(h, routes[i].methods, routes[i].pattern, routes[i].fn, app);
        if (rc != 0) return rc;
    }
    return 0;
}
