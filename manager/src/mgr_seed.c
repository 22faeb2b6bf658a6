/* Demo data from a JSON seed file (manager/seed.example.json), for `make local-env-up`:
 *
 *   {"customers":[{"name":"demo",
 *                  "users":[{"username":"admin","password":"...","roles":["admin","operator"]}],
 *                  "servers":[{"name":"bmc-1","datacenter":"dc1",
 *                              "bmc_endpoint":"ipmi://127.0.0.1:9001",
 *                              "bmc_username":"...","bmc_password":"..."}]}],
 *    "gateways":[{"url":"http://127.0.0.1:8081","datacenters":["dc1"]}]}
 *
 * Idempotent: customers are matched by name, users by username, servers by customer and name,
 * gateways by URL, and updated to what the file says (passwords and credentials included).
 * The whole file is validated before anything is written; each item is then written
 * atomically, so a seed interrupted half-way is completed by running it again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "mgr.h"
#include "telemetry/log.h"

typedef struct seed_ctx {
    mgr_app *app;
    const tel_context *ctx;
    char msg[256];
} seed_ctx;

static int fail(seed_ctx *s, const char *where, const char *why)
{
    snprintf(s->msg, sizeof s->msg, "%s: %s", where, why);
    return CORE_EINVAL;
}

/* Checks everything without writing. */
static int validate(seed_ctx *s, json_t *root)
{
    static const char *const top[] = {"customers", "gateways"};
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, top[0]) != 0 && strcmp(key, top[1]) != 0)
            return fail(s, "seed", "unknown top-level key");
    }
    json_t *cs = json_object_get(root, "customers");
    if (cs && !json_is_array(cs)) return fail(s, "customers", "must be an array");
    char m[160], where[64];
    const char *t;
    size_t i, k;
    json_t *c, *x;
    json_array_foreach(cs, i, c)
    {
        snprintf(where, sizeof where, "customers[%zu]", i);
        if (!json_is_object(c)) return fail(s, where, "must be an object");
        if (mgr_text_field(c, "name", 1, MGR_NAME_MAX, 0, &t, m, sizeof m))
            return fail(s, where, m);
        json_t *us = json_object_get(c, "users"), *ss = json_object_get(c, "servers");
        if ((us && !json_is_array(us)) || (ss && !json_is_array(ss)))
            return fail(s, where, "users and servers must be arrays");
        json_array_foreach(us, k, x)
        {
            snprintf(where, sizeof where, "customers[%zu].users[%zu]", i, k);
            unsigned roles;
            if (!json_is_object(x)) return fail(s, where, "must be an object");
            if (mgr_text_field(x, "username", 1, MGR_USERNAME_MAX, 0, &t, m, sizeof m) ||
                mgr_text_field(x, "password", MGR_PASSWORD_MIN, MGR_PASSWORD_MAX,
                               MGR_TEXT_ANY_CHARS, &t, m, sizeof m))
                return fail(s, where, m);
            if (mgr_roles_parse(json_object_get(x, "roles"), &roles) != 0)
                return fail(s, where, "roles must be a non-empty array of admin/operator/viewer");
        }
        json_array_foreach(ss, k, x)
        {
            snprintf(where, sizeof where, "customers[%zu].servers[%zu]", i, k);
            char type[8], host[MGR_HOST_MAX + 1];
            if (!json_is_object(x)) return fail(s, where, "must be an object");
            if (mgr_text_field(x, "name", 1, MGR_NAME_MAX, 0, &t, m, sizeof m) ||
                mgr_text_field(x, "datacenter", 1, MGR_DC_MAX, 0, &t, m, sizeof m) ||
                mgr_text_field(x, "bmc_endpoint", 1, MGR_ENDPOINT_MAX, 0, &t, m, sizeof m) ||
                mgr_endpoint_parse(t, type, host, m, sizeof m) ||
                mgr_text_field(x, "bmc_username", 1, MGR_BMC_USER_MAX, MGR_TEXT_ANY_CHARS, &t, m,
                               sizeof m) ||
                mgr_text_field(x, "bmc_password", 1, MGR_BMC_PASS_MAX, MGR_TEXT_ANY_CHARS, &t, m,
                               sizeof m))
                return fail(s, where, m);
        }
    }
    json_t *gs = json_object_get(root, "gateways");
    if (gs && !json_is_array(gs)) return fail(s, "gateways", "must be an array");
    json_array_foreach(gs, i, x)
    {
        snprintf(where, sizeof where, "gateways[%zu]", i);
        if (!json_is_object(x)) return fail(s, where, "must be an object");
        if (mgr_text_field(x, "url", 1, MGR_URL_MAX, 0, &t, m, sizeof m) ||
            mgr_gateway_url_check(t, m, sizeof m))
            return fail(s, where, m);
        json_t *dcs = json_object_get(x, "datacenters");
        if (!json_is_array(dcs) || json_array_size(dcs) == 0 || json_array_size(dcs) > MGR_DCS_MAX)
            return fail(s, where, "datacenters must be a non-empty array");
        json_t *d;
        json_array_foreach(dcs, k, d)
        {
            if (!json_is_string(d) || json_string_length(d) == 0 ||
                json_string_length(d) > MGR_DC_MAX)
                return fail(s, where, "a datacenter is a string of 1 to 64 bytes");
        }
    }
    return 0;
}

static int apply(seed_ctx *s, json_t *root, json_t *summary)
{
    mgr_app *app = s->app;
    json_t *out_cs = json_array(), *out_gs = json_array();
    json_object_set_new(summary, "customers", out_cs);
    json_object_set_new(summary, "gateways", out_gs);
    size_t i, k;
    json_t *c, *x;
    int rc = 0;
    json_array_foreach(json_object_get(root, "customers"), i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        int64_t cid;
        rc = mgr_store_customer_find(app, s->ctx, name, &cid);
        if (rc == CORE_ENOTFOUND) rc = mgr_store_customer_create(app, s->ctx, name, &cid);
        if (rc != 0) {
            fail(s, "customer", core_strerror(rc));
            return rc;
        }
        json_t *oc = json_object(), *ou = json_array(), *os = json_array();
        json_object_set_new(oc, "id", mgr_id_json(cid));
        json_object_set_new(oc, "name", json_string(name));
        json_object_set_new(oc, "users", ou);
        json_object_set_new(oc, "servers", os);
        json_array_append_new(out_cs, oc);

        json_array_foreach(json_object_get(c, "users"), k, x)
        {
            const char *username = json_string_value(json_object_get(x, "username"));
            json_t *pw = json_object_get(x, "password");
            unsigned roles = 0;
            mgr_roles_parse(json_object_get(x, "roles"), &roles);
            char hash[crypto_pwhash_STRBYTES];
            rc = mgr_password_hash(app, json_string_value(pw), json_string_length(pw), hash);
            int64_t uid = 0;
            if (rc == 0) rc = mgr_store_user_upsert(app, s->ctx, cid, username, hash, roles, &uid);
            sodium_memzero(hash, sizeof hash);
            if (rc != 0) {
                fail(s, "user", core_strerror(rc));
                return rc;
            }
            json_t *o = json_object();
            json_object_set_new(o, "id", mgr_id_json(uid));
            json_object_set_new(o, "username", json_string(username));
            json_object_set_new(o, "roles", mgr_roles_json(roles));
            json_array_append_new(ou, o);
        }
        json_array_foreach(json_object_get(c, "servers"), k, x)
        {
            mgr_server_in in = {
                .name = json_string_value(json_object_get(x, "name")),
                .datacenter = json_string_value(json_object_get(x, "datacenter")),
                .endpoint = json_string_value(json_object_get(x, "bmc_endpoint")),
                .bmc_username = json_string_value(json_object_get(x, "bmc_username")),
                .bmc_password = json_string_value(json_object_get(x, "bmc_password")),
            };
            json_t *srv = NULL;
            rc = mgr_store_server_upsert(app, s->ctx, cid, &in, &srv);
            if (rc != 0) {
                fail(s, "server", core_strerror(rc));
                return rc;
            }
            json_array_append_new(os, srv);
        }
    }
    json_array_foreach(json_object_get(root, "gateways"), i, x)
    {
        json_t *dcs = json_object_get(x, "datacenters");
        const char *names[MGR_DCS_MAX];
        size_t n = 0;
        json_t *d;
        json_array_foreach(dcs, k, d) names[n++] = json_string_value(d);
        json_t *g = NULL;
        rc = mgr_store_gateway_create(app, s->ctx, json_string_value(json_object_get(x, "url")),
                                      names, n, true, &g);
        if (rc != 0) {
            fail(s, "gateway", core_strerror(rc));
            return rc;
        }
        json_array_append_new(out_gs, g);
    }
    return 0;
}

/* Wipes every password in the parsed file before it is freed. */
static void wipe_secrets(json_t *root)
{
    size_t i, k;
    json_t *c, *x;
    json_array_foreach(json_object_get(root, "customers"), i, c)
    {
        json_array_foreach(json_object_get(c, "users"), k, x)
        {
            json_t *p = json_object_get(x, "password");
            if (json_is_string(p))
                sodium_memzero((char *)json_string_value(p), json_string_length(p));
        }
        json_array_foreach(json_object_get(c, "servers"), k, x)
        {
            json_t *p = json_object_get(x, "bmc_password");
            if (json_is_string(p))
                sodium_memzero((char *)json_string_value(p), json_string_length(p));
        }
    }
}

int mgr_seed_file(mgr_app *app, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        tel_attr a[] = {TEL_ATTR_STR("file.path", path)};
        tel_log(TEL_LOG_ERROR, a, 1, "seed: cannot open the file");
        return CORE_EIO;
    }
    core_body b;
    core_body_init(&b, 4u * 1024u * 1024u);
    char chunk[8192];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = core_body_append(&b, chunk, n);
    fclose(f);
    sodium_memzero(chunk, sizeof chunk);
    json_t *root = NULL;
    core_json_diag diag;
    if (rc == 0) rc = core_json_parse(b.data, b.len, NULL, &root, &diag);
    if (b.data) sodium_memzero(b.data, b.len);
    core_body_free(&b);
    if (rc != 0) {
        tel_log_error("seed: the file is not a JSON object (%s, line %d)",
                      rc == CORE_ETOOBIG ? "over 4 MiB" : core_json_problem_code(diag.problem),
                      diag.line);
        return CORE_EINVAL;
    }

    tel_span *sp = tel_span_start(app->tracer, "mgr.seed", TEL_SPAN_KIND_INTERNAL, NULL);
    tel_context ctx;
    tel_context_init(&ctx);
    tel_context_set_span(&ctx, sp);
    seed_ctx s = {.app = app, .ctx = &ctx};
    rc = validate(&s, root);
    json_t *summary = json_object();
    if (rc == 0) rc = apply(&s, root, summary);
    if (rc != 0) {
        tel_span_set_status(sp, TEL_STATUS_ERROR, "seed failed");
        tel_log_error("seed: %s", s.msg);
    } else {
        char *txt = core_json_dump(summary, NULL);
        if (txt) {
            printf("%s\n", txt);
            fflush(stdout);
            free(txt);
        }
        tel_log_info("seed: done");
    }
    json_decref(summary);
    tel_span_end(sp);
    tel_context_cleanup(&ctx);
    wipe_secrets(root);
    json_decref(root);
    return rc;
}
