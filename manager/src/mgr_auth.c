/* Authentication: POST /v1/auth/login (argon2id check on a worker thread, then a signed
 * token), GET /v1/auth/validate, and the middleware that authenticates every other route:
 * user routes take a user token (Bearer JWT), /v1/internal/ routes take the service token. The
 * principal lives on the middleware's stack for the handler's duration; its context carries
 * the baggage customer_id, and the request's span gets the customer_id attribute.
 *
 * Failures never say whether a username exists: unknown user and wrong password give the same
 * 401 after the same amount of hashing work. No password, token or hash is ever logged. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "mgr.h"
#include "telemetry/log.h"

#define LOGIN_ROUTE "/v1/auth/login"
#define INTERNAL_PREFIX "/v1/internal/"

const mgr_principal *mgr_auth_principal(const core_http_req *req)
{
    return core_http_req_local(req);
}

void mgr_auth_tag_span(core_http_req *req, int64_t customer_id, int64_t user_id)
{
    tel_span *sp = core_http_req_span(req);
    char b[24];
    snprintf(b, sizeof b, "%" PRId64, customer_id);
    tel_span_set_str(sp, "customer_id", b);
    if (user_id > 0) {
        snprintf(b, sizeof b, "%" PRId64, user_id);
        tel_span_set_str(sp, "enduser.id", b);
    }
}

/* Wipes the text of a JSON string that held a secret before the object is freed. */
static void wipe_json_string(json_t *v)
{
    if (json_is_string(v)) sodium_memzero((char *)json_string_value(v), json_string_length(v));
}

static void format_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int unauthenticated(core_http_req *req, const char *msg)
{
    core_http_resp_header(req, "www-authenticate", "Bearer");
    return core_http_respond_error(req, 401, "unauthenticated", msg);
}

/* ---- Middleware ---- */

static int mw_auth(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const char *route = core_http_req_route(req);
    if (route && strcmp(route, LOGIN_ROUTE) == 0) return core_http_next(req);

    char hdr[CORE_TOKEN_MAX_LEN + 64];
    int n = core_http_req_header(req, "authorization", hdr, sizeof hdr);
    if (n == CORE_ENOTFOUND) return unauthenticated(req, "missing bearer token");
    if (n < 0) return unauthenticated(req, "invalid bearer token");
    size_t tlen = 0;
    char *tok = (char *)core_token_bearer(hdr, &tlen);
    if (!tok) {
        sodium_memzero(hdr, sizeof hdr);
        return unauthenticated(req, "missing bearer token");
    }
    tok[tlen] = '\0';

    mgr_principal p;
    memset(&p, 0, sizeof p);
    tel_context_init(&p.ctx);
    tel_context_copy(&p.ctx, core_http_req_context(req));
    int rc;
    bool internal = route && strncmp(route, INTERNAL_PREFIX, strlen(INTERNAL_PREFIX)) == 0;
    core_token_status why = CORE_TOKEN_OK;
    if (internal) {
        if (core_token_secret_equal(app->service_token, tok, tlen)) {
            p.kind = MGR_PRINCIPAL_SERVICE;
            rc = 0;
        } else if (core_token_verify(app->keys, tok, (int64_t)time(NULL), NULL, NULL) == 0) {
            rc = core_http_respond_error(req, 403, "forbidden",
                                         "the internal API takes the service token only");
            goto done;
        } else {
            rc = unauthenticated(req, "invalid service token");
            goto done;
        }
    } else {
        rc = core_token_verify(app->keys, tok, (int64_t)time(NULL), &p.claims, &why);
        if (rc != 0) {
            tel_attr a[] = {TEL_ATTR_STR("auth.failure", core_token_status_name(why))};
            tel_log(TEL_LOG_INFO, a, 1, "token refused");
            rc =
                unauthenticated(req, why == CORE_TOKEN_EXPIRED ? "token expired" : "invalid token");
            goto done;
        }
        p.kind = MGR_PRINCIPAL_USER;
        char cst[24];
        snprintf(cst, sizeof cst, "%" PRId64, p.claims.customer_id);
        tel_baggage *bag = tel_baggage_set(p.ctx.bag, "customer_id", cst, NULL);
        if (bag) {
            tel_context_set_baggage(&p.ctx, bag);
            tel_baggage_unref(bag);
        }
        mgr_auth_tag_span(req, p.claims.customer_id, p.claims.user_id);
    }
    sodium_memzero(hdr, sizeof hdr);
    core_http_req_set_local(req, &p);
    /* The handler uses p only while it runs (asynchronous continuations copy what they
     * need), so p may live on this stack. */
    rc = core_http_next(req);
done:
    sodium_memzero(hdr, sizeof hdr);
    tel_context_cleanup(&p.ctx);
    sodium_memzero(&p.claims, sizeof p.claims);
    return rc;
}

/* ---- Login ---- */

typedef struct login_job {
    mgr_app *app;
    core_http_req *req;
    tel_context ctx;
    char *username;
    char *password;
    size_t password_len;
} login_job;

static void login_job_free(login_job *j)
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
static void login_run(void *arg)
{
    login_job *j = arg;
    mgr_app *app = j->app;
    core_http_req *req = j->req;

    mgr_user u;
    int rc = mgr_store_user_by_name(app, &j->ctx, j->username, &u);
    tel_span *vs =
        tel_span_start(app->tracer, "mgr.password_verify", TEL_SPAN_KIND_INTERNAL, &j->ctx);
    bool ok = false;
    if (rc == 0) {
        ok = mgr_password_verify(u.hash, j->password, j->password_len);
    } else if (rc == CORE_ENOTFOUND) {
        (void)mgr_password_verify(app->dummy_hash, j->password, j->password_len);
    }
    tel_span_end(vs);
    if (rc != 0 && rc != CORE_ENOTFOUND) {
        mgr_api_respond_store_error(req, rc, "user");
        goto out;
    }
    if (!ok) {
        tel_log_info("login refused");
        core_http_respond_error(req, 401, "invalid_credentials", "wrong username or password");
        goto out;
    }
    core_token_claims c;
    memset(&c, 0, sizeof c);
    c.user_id = u.id;
    c.customer_id = u.customer_id;
    c.roles = u.roles;
    snprintf(c.username, sizeof c.username, "%s", u.username);
    char *token = NULL;
    rc = core_token_issue(app->keys, &c, (int64_t)time(NULL), app->token_ttl_s, &token);
    if (rc != 0) {
        core_http_respond_error(req, 500, "internal", "cannot issue a token");
        goto out;
    }
    mgr_auth_tag_span(req, u.customer_id, u.id);
    char exp[32];
    format_time(c.expires_at, exp, sizeof exp);
    json_t *user = json_object();
    json_object_set_new(user, "id", mgr_id_json(u.id));
    json_object_set_new(user, "username", json_string(u.username));
    json_object_set_new(user, "customer_id", mgr_id_json(u.customer_id));
    json_object_set_new(user, "roles", mgr_roles_json(u.roles));
    json_t *out = json_object();
    json_object_set_new(out, "token", json_string(token));
    json_object_set_new(out, "expires_at", json_string(exp));
    json_object_set_new(out, "user", user);
    sodium_memzero(token, strlen(token));
    free(token);
    tel_attr a[] = {TEL_ATTR_INT64("enduser.id", u.id)};
    tel_log(TEL_LOG_INFO, a, 1, "login");
    core_http_resp_header(req, "cache-control", "no-store");
    core_http_respond_json(req, 200, out);
out:
    sodium_memzero(&u, sizeof u);
    login_job_free(j);
}

static int h_login(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    json_t *body;
    if (core_http_req_json(req, &body) != 0) return 0;
    json_t *ju = json_object_get(body, "username"), *jp = json_object_get(body, "password");
    if (!json_is_string(ju) || !json_is_string(jp)) {
        wipe_json_string(jp);
        json_decref(body);
        return core_http_respond_error(req, 400, "invalid_request",
                                       "fields \"username\" and \"password\" (strings) are "
                                       "required");
    }
    size_t ul = json_string_length(ju), pl = json_string_length(jp);
    if (ul == 0 || ul > MGR_USERNAME_MAX || pl == 0 || pl > MGR_PASSWORD_MAX ||
        memchr(json_string_value(ju), '\0', ul)) {
        /* no such account can exist */
        wipe_json_string(jp);
        json_decref(body);
        return core_http_respond_error(req, 401, "invalid_credentials",
                                       "wrong username or password");
    }
    login_job *j = calloc(1, sizeof *j);
    if (j) {
        j->app = app;
        j->req = req;
        tel_context_init(&j->ctx);
        tel_context_copy(&j->ctx, core_http_req_context(req));
        j->username = strdup(json_string_value(ju));
        j->password = malloc(pl + 1);
        j->password_len = pl;
        if (j->password) {
            memcpy(j->password, json_string_value(jp), pl);
            j->password[pl] = '\0';
        }
    }
    wipe_json_string(jp);
    json_decref(body);
    if (!j || !j->username || !j->password) {
        if (j) login_job_free(j);
        return core_http_respond_error(req, 500, "internal", "out of memory");
    }
    int rc = core_workpool_submit(app->pool, login_run, j, core_http_req_span(req));
    if (rc != 0) {
        login_job_free(j);
        core_http_resp_header(req, "retry-after", "1");
        return core_http_respond_error(req, 503, "busy", "too many logins in progress");
    }
    return CORE_HTTP_ASYNC;
}

/* ---- Validate ---- */

static int h_validate(core_http_req *req, void *ud)
{
    mgr_app *app = ud;
    const mgr_principal *p = mgr_auth_principal(req);
    if (!p || p->kind != MGR_PRINCIPAL_USER)
        return unauthenticated(req, "a user token is required");
    mgr_user u;
    int rc = mgr_store_user_by_id(app, &p->ctx, p->claims.user_id, &u);
    if (rc == CORE_ENOTFOUND || (rc == 0 && u.customer_id != p->claims.customer_id)) {
        sodium_memzero(&u, sizeof u);
        return unauthenticated(req, "the token's user no longer exists");
    }
    if (rc != 0) return mgr_api_respond_store_error(req, rc, "user");
    sodium_memzero(u.hash, sizeof u.hash);
    char exp[32];
    format_time(p->claims.expires_at, exp, sizeof exp);
    json_t *o = json_object();
    json_object_set_new(o, "user_id", mgr_id_json(p->claims.user_id));
    json_object_set_new(o, "username", json_string(p->claims.username));
    json_object_set_new(o, "customer_id", mgr_id_json(p->claims.customer_id));
    json_object_set_new(o, "roles", mgr_roles_json(p->claims.roles));
    json_object_set_new(o, "expires_at", json_string(exp));
    return core_http_respond_json(req, 200, o);
}

int mgr_auth_register(mgr_app *app, core_http_server *h)
{
    int rc = core_http_server_use(h, mw_auth, app);
    if (rc == 0) rc = core_http_server_route(h, CORE_HTTP_POST, LOGIN_ROUTE, h_login, app);
    if (rc == 0)
        rc = core_http_server_route(h, CORE_HTTP_GET, "/v1/auth/validate", h_validate, app);
    return rc;
}
