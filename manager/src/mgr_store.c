/* Every SQL statement of the manager. Values are always bound parameters (core_db prepared
 * statements); each statement is a db.* span child of the caller's context. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "mgr.h"

#define SERVER_COLS "id, customer_id, name, datacenter, bmc_type, bmc_host"

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- Row helpers ---- */

typedef struct one_int {
    bool found;
    int64_t v;
} one_int;

static int row_one_int(void *ud, const core_db_row *row)
{
    one_int *o = ud;
    o->found = true;
    o->v = core_db_row_int(row, 0);
    return 1;
}

/* A JSON string of a TEXT column (NULL when not valid UTF-8 or SQL NULL). */
static json_t *col_str(const core_db_row *row, int col)
{
    size_t n = 0;
    const char *s = core_db_row_text(row, col, &n);
    return s ? json_stringn(s, n) : NULL;
}

static int obj_set(json_t *o, const char *key, json_t *v)
{
    if (!v) return -1;
    return json_object_set_new(o, key, v);
}

/* {"id","name","customer_id","datacenter","bmc_type","bmc_host"} from SERVER_COLS. */
static json_t *server_json(const core_db_row *row)
{
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = 0;
    bad |= obj_set(o, "id", mgr_id_json(core_db_row_int(row, 0)));
    bad |= obj_set(o, "name", col_str(row, 2));
    bad |= obj_set(o, "customer_id", mgr_id_json(core_db_row_int(row, 1)));
    bad |= obj_set(o, "datacenter", col_str(row, 3));
    bad |= obj_set(o, "bmc_type", col_str(row, 4));
    bad |= obj_set(o, "bmc_host", col_str(row, 5));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- Customers ---- */

int mgr_store_customer_create(mgr_app *app, const tel_context *ctx, const char *name, int64_t *id)
{
    core_db_param p[] = {CORE_DB_P_TEXT(name), CORE_DB_P_INT(now_s())};
    core_db_result res;
    int rc = core_db_exec(app->db, ctx, "INSERT INTO customers (name, created_at) VALUES (?, ?)", p,
                          2, &res);
    if (rc == 0 && id) *id = res.last_rowid;
    return rc;
}

int mgr_store_customer_find(mgr_app *app, const tel_context *ctx, const char *name, int64_t *id)
{
    one_int o = {0};
    core_db_param p[] = {CORE_DB_P_TEXT(name)};
    int rc = core_db_query(app->db, ctx, "SELECT id FROM customers WHERE name = ?", p, 1,
                           row_one_int, &o, NULL);
    if (rc == 0 && !o.found) rc = CORE_ENOTFOUND;
    if (rc == 0 && id) *id = o.v;
    return rc;
}

int mgr_store_customer_exists(mgr_app *app, const tel_context *ctx, int64_t id)
{
    one_int o = {0};
    core_db_param p[] = {CORE_DB_P_INT(id)};
    int rc = core_db_query(app->db, ctx, "SELECT id FROM customers WHERE id = ?", p, 1, row_one_int,
                           &o, NULL);
    if (rc == 0 && !o.found) rc = CORE_ENOTFOUND;
    return rc;
}

/* ---- Users ---- */

int mgr_store_user_create(mgr_app *app, const tel_context *ctx, int64_t customer_id,
                          const char *username, const char *hash, unsigned roles, int64_t *id)
{
    core_db_param p[] = {CORE_DB_P_INT(customer_id), CORE_DB_P_TEXT(username), CORE_DB_P_TEXT(hash),
                         CORE_DB_P_INT(roles), CORE_DB_P_INT(now_s())};
    core_db_result res;
    int rc = core_db_exec(app->db, ctx,
                          "INSERT INTO users (customer_id, username, password_hash, roles,"
                          " created_at) VALUES (?, ?, ?, ?, ?)",
                          p, 5, &res);
    if (rc == 0 && id) *id = res.last_rowid;
    return rc;
}

int mgr_store_user_upsert(mgr_app *app, const tel_context *ctx, int64_t customer_id,
                          const char *username, const char *hash, unsigned roles, int64_t *id)
{
    one_int o = {0};
    core_db_param q[] = {CORE_DB_P_TEXT(username)};
    int rc = core_db_query(app->db, ctx, "SELECT id FROM users WHERE username = ?", q, 1,
                           row_one_int, &o, NULL);
    if (rc != 0) return rc;
    if (!o.found) return mgr_store_user_create(app, ctx, customer_id, username, hash, roles, id);
    core_db_param p[] = {CORE_DB_P_INT(customer_id), CORE_DB_P_TEXT(hash), CORE_DB_P_INT(roles),
                         CORE_DB_P_INT(o.v)};
    rc = core_db_exec(app->db, ctx,
                      "UPDATE users SET customer_id = ?, password_hash = ?, roles = ?"
                      " WHERE id = ?",
                      p, 4, NULL);
    if (rc == 0 && id) *id = o.v;
    return rc;
}

typedef struct user_row {
    bool found;
    bool bad;
    mgr_user *u;
} user_row;

static int row_user(void *ud, const core_db_row *row)
{
    user_row *r = ud;
    r->found = true;
    r->u->id = core_db_row_int(row, 0);
    r->u->customer_id = core_db_row_int(row, 1);
    size_t n = 0;
    const char *name = core_db_row_text(row, 2, &n);
    const char *hash = core_db_row_text(row, 3, NULL);
    int64_t roles = core_db_row_int(row, 4);
    if (!name || n > MGR_USERNAME_MAX || !hash || strlen(hash) >= sizeof r->u->hash || roles < 1 ||
        roles > CORE_TOKEN_ROLES_ALL) {
        r->bad = true;
        return 1;
    }
    memcpy(r->u->username, name, n);
    r->u->username[n] = '\0';
    snprintf(r->u->hash, sizeof r->u->hash, "%s", hash);
    r->u->roles = (unsigned)roles;
    return 1;
}

static int user_query(mgr_app *app, const tel_context *ctx, const char *sql, const core_db_param *p,
                      mgr_user *out)
{
    memset(out, 0, sizeof *out);
    user_row r = {.u = out};
    int rc = core_db_query(app->db, ctx, sql, p, 1, row_user, &r, NULL);
    if (rc == 0 && !r.found) rc = CORE_ENOTFOUND;
    if (rc == 0 && r.bad) rc = CORE_EIO;
    if (rc != 0) sodium_memzero(out, sizeof *out);
    return rc;
}

int mgr_store_user_by_name(mgr_app *app, const tel_context *ctx, const char *username,
                           mgr_user *out)
{
    core_db_param p[] = {CORE_DB_P_TEXT(username)};
    return user_query(app, ctx,
                      "SELECT id, customer_id, username, password_hash, roles FROM users"
                      " WHERE username = ?",
                      p, out);
}

int mgr_store_user_by_id(mgr_app *app, const tel_context *ctx, int64_t id, mgr_user *out)
{
    core_db_param p[] = {CORE_DB_P_INT(id)};
    return user_query(app, ctx,
                      "SELECT id, customer_id, username, password_hash, roles FROM users"
                      " WHERE id = ?",
                      p, out);
}

/* ---- Servers ---- */

typedef struct server_row {
    mgr_app *app;
    bool with_bmc;
    json_t *obj; /* single row */
    json_t *arr; /* list */
    int err;
} server_row;

static int add_bmc(mgr_app *app, json_t *o, const core_db_row *row)
{
    size_t ct_len = 0, nonce_len = 0;
    const unsigned char *ct = core_db_row_blob(row, 7, &ct_len);
    const unsigned char *nonce = core_db_row_blob(row, 8, &nonce_len);
    char *user = NULL, *pass = NULL;
    int rc = mgr_creds_open(app->cred_key, ct, ct_len, nonce, nonce_len, &user, &pass);
    if (rc != 0) return rc;
    json_t *b = json_object();
    int bad = !b;
    bad = bad || obj_set(b, "endpoint", col_str(row, 6));
    bad = bad || obj_set(b, "username", json_string(user));
    bad = bad || obj_set(b, "password", json_string(pass));
    mgr_secret_free(user);
    mgr_secret_free(pass);
    if (bad || json_object_set_new(o, "bmc", b) != 0) {
        if (bad) json_decref(b);
        return CORE_EIO;
    }
    return 0;
}

static int row_server(void *ud, const core_db_row *row)
{
    server_row *r = ud;
    json_t *o = server_json(row);
    if (!o) {
        r->err = CORE_EIO;
        return r->err;
    }
    if (r->with_bmc) {
        int rc = add_bmc(r->app, o, row);
        if (rc != 0) {
            json_decref(o);
            r->err = rc;
            return rc;
        }
    }
    if (r->arr) {
        json_array_append_new(r->arr, o);
        return 0;
    }
    r->obj = o;
    return 1;
}

int mgr_store_server_get(mgr_app *app, const tel_context *ctx, int64_t id, int64_t customer_id,
                         bool with_bmc, json_t **out)
{
    *out = NULL;
    server_row r = {.app = app, .with_bmc = with_bmc};
    int rc;
    if (customer_id > 0) {
        core_db_param p[] = {CORE_DB_P_INT(id), CORE_DB_P_INT(customer_id)};
        rc = core_db_query(app->db, ctx,
                           with_bmc ? "SELECT " SERVER_COLS ", bmc_endpoint, bmc_creds, bmc_nonce"
                                      " FROM servers WHERE id = ? AND customer_id = ?"
                                    : "SELECT " SERVER_COLS
                                      " FROM servers WHERE id = ? AND customer_id = ?",
                           p, 2, row_server, &r, NULL);
    } else {
        core_db_param p[] = {CORE_DB_P_INT(id)};
        rc = core_db_query(app->db, ctx,
                           with_bmc ? "SELECT " SERVER_COLS ", bmc_endpoint, bmc_creds, bmc_nonce"
                                      " FROM servers WHERE id = ?"
                                    : "SELECT " SERVER_COLS " FROM servers WHERE id = ?",
                           p, 1, row_server, &r, NULL);
    }
    if (rc == 0 && !r.obj) rc = CORE_ENOTFOUND;
    if (rc != 0) {
        json_decref(r.obj);
        return rc;
    }
    *out = r.obj;
    return 0;
}

int mgr_store_server_list(mgr_app *app, const tel_context *ctx, int64_t customer_id, json_t **out)
{
    *out = NULL;
    server_row r = {.app = app, .arr = json_array()};
    if (!r.arr) return CORE_ENOMEM;
    core_db_param p[] = {CORE_DB_P_INT(customer_id)};
    int rc = core_db_query(app->db, ctx,
                           "SELECT " SERVER_COLS " FROM servers WHERE customer_id = ? ORDER BY id",
                           p, 1, row_server, &r, NULL);
    if (rc != 0) {
        json_decref(r.arr);
        return rc;
    }
    *out = r.arr;
    return 0;
}

/* The current row of a server for an update. */
typedef struct server_cur {
    bool found;
    char *name, *datacenter, *endpoint;
    unsigned char *ct, nonce[crypto_secretbox_NONCEBYTES];
    size_t ct_len;
} server_cur;

static char *dup_text(const core_db_row *row, int col)
{
    size_t n = 0;
    const char *s = core_db_row_text(row, col, &n);
    if (!s) return NULL;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int row_server_cur(void *ud, const core_db_row *row)
{
    server_cur *c = ud;
    c->name = dup_text(row, 0);
    c->datacenter = dup_text(row, 1);
    c->endpoint = dup_text(row, 2);
    size_t ct_len = 0, nonce_len = 0;
    const void *ct = core_db_row_blob(row, 3, &ct_len);
    const void *nonce = core_db_row_blob(row, 4, &nonce_len);
    if (!c->name || !c->datacenter || !c->endpoint || !ct || nonce_len != sizeof c->nonce)
        return CORE_EIO;
    c->ct = malloc(ct_len);
    if (!c->ct) return CORE_ENOMEM;
    memcpy(c->ct, ct, ct_len);
    c->ct_len = ct_len;
    memcpy(c->nonce, nonce, sizeof c->nonce);
    c->found = true;
    return 1;
}

static void server_cur_free(server_cur *c)
{
    free(c->name);
    free(c->datacenter);
    free(c->endpoint);
    free(c->ct);
}

typedef struct server_write {
    mgr_app *app;
    int64_t id, customer_id; /* id 0: insert */
    const mgr_server_in *in;
    bool upsert; /* seed: match by (customer_id, name) */
    int64_t out_id;
} server_write;

/* Writes the server described by w (insert, or update of the current row merged with w->in),
 * inside a transaction. */
static int server_write_tx(core_db *db, const tel_context *ctx, void *ud)
{
    server_write *w = ud;
    mgr_app *app = w->app;
    const mgr_server_in *in = w->in;
    int rc;
    if (w->upsert) {
        one_int o = {0};
        core_db_param p[] = {CORE_DB_P_INT(w->customer_id), CORE_DB_P_TEXT(in->name)};
        rc = core_db_query(db, ctx, "SELECT id FROM servers WHERE customer_id = ? AND name = ?", p,
                           2, row_one_int, &o, NULL);
        if (rc != 0) return rc;
        w->id = o.found ? o.v : 0;
    }
    server_cur cur = {0};
    const char *name = in->name, *dc = in->datacenter, *endpoint = in->endpoint;
    char *user = NULL, *pass = NULL;
    unsigned char *ct = NULL;
    size_t ct_len = 0;
    unsigned char nonce[crypto_secretbox_NONCEBYTES];
    if (w->id) {
        core_db_param p[] = {CORE_DB_P_INT(w->id), CORE_DB_P_INT(w->customer_id)};
        rc = core_db_query(db, ctx,
                           "SELECT name, datacenter, bmc_endpoint, bmc_creds, bmc_nonce"
                           " FROM servers WHERE id = ? AND customer_id = ?",
                           p, 2, row_server_cur, &cur, NULL);
        if (rc == 0 && !cur.found) rc = CORE_ENOTFOUND;
        if (rc != 0) goto out;
        if (!name) name = cur.name;
        if (!dc) dc = cur.datacenter;
        if (!endpoint) endpoint = cur.endpoint;
        if (in->bmc_username || in->bmc_password) {
            if (!in->bmc_username || !in->bmc_password) {
                rc = mgr_creds_open(app->cred_key, cur.ct, cur.ct_len, cur.nonce, sizeof cur.nonce,
                                    &user, &pass);
                if (rc != 0) goto out;
            }
            rc = mgr_creds_seal(app->cred_key, in->bmc_username ? in->bmc_username : user,
                                in->bmc_password ? in->bmc_password : pass, &ct, &ct_len, nonce);
        } else {
            /* unchanged credentials keep their ciphertext and nonce */
            ct = cur.ct;
            cur.ct = NULL;
            ct_len = cur.ct_len;
            memcpy(nonce, cur.nonce, sizeof nonce);
            rc = 0;
        }
    } else {
        rc = mgr_creds_seal(app->cred_key, in->bmc_username, in->bmc_password, &ct, &ct_len, nonce);
    }
    if (rc != 0) goto out;
    char type[8], host[MGR_HOST_MAX + 1], msg[160];
    if (mgr_endpoint_parse(endpoint, type, host, msg, sizeof msg) != 0) {
        rc = CORE_EINVAL;
        goto out;
    }
    int64_t t = now_s();
    if (w->id) {
        core_db_param p[] = {CORE_DB_P_TEXT(name),
                             CORE_DB_P_TEXT(dc),
                             CORE_DB_P_TEXT(type),
                             CORE_DB_P_TEXT(host),
                             CORE_DB_P_TEXT(endpoint),
                             CORE_DB_P_BLOB(ct, ct_len),
                             CORE_DB_P_BLOB(nonce, sizeof nonce),
                             CORE_DB_P_INT(t),
                             CORE_DB_P_INT(w->id),
                             CORE_DB_P_INT(w->customer_id)};
        rc = core_db_exec(db, ctx,
                          "UPDATE servers SET name = ?, datacenter = ?, bmc_type = ?,"
                          " bmc_host = ?, bmc_endpoint = ?, bmc_creds = ?, bmc_nonce = ?,"
                          " updated_at = ? WHERE id = ? AND customer_id = ?",
                          p, 10, NULL);
        w->out_id = w->id;
    } else {
        core_db_param p[] = {CORE_DB_P_INT(w->customer_id),
                             CORE_DB_P_TEXT(name),
                             CORE_DB_P_TEXT(dc),
                             CORE_DB_P_TEXT(type),
                             CORE_DB_P_TEXT(host),
                             CORE_DB_P_TEXT(endpoint),
                             CORE_DB_P_BLOB(ct, ct_len),
                             CORE_DB_P_BLOB(nonce, sizeof nonce),
                             CORE_DB_P_INT(t),
                             CORE_DB_P_INT(t)};
        core_db_result res;
        rc = core_db_exec(db, ctx,
                          "INSERT INTO servers (customer_id, name, datacenter, bmc_type, bmc_host,"
                          " bmc_endpoint, bmc_creds, bmc_nonce, created_at, updated_at)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          p, 10, &res);
        if (rc == 0) w->out_id = res.last_rowid;
    }
out:
    mgr_secret_free(user);
    mgr_secret_free(pass);
    free(ct);
    server_cur_free(&cur);
    return rc;
}

static int server_write_run(mgr_app *app, const tel_context *ctx, server_write *w, json_t **out)
{
    *out = NULL;
    int rc = core_db_transaction(app->db, ctx, server_write_tx, w);
    if (rc != 0) return rc;
    return mgr_store_server_get(app, ctx, w->out_id, w->customer_id, false, out);
}

int mgr_store_server_create(mgr_app *app, const tel_context *ctx, int64_t customer_id,
                            const mgr_server_in *in, json_t **out)
{
    if (!in->name || !in->datacenter || !in->endpoint || !in->bmc_username || !in->bmc_password)
        return CORE_EINVAL;
    server_write w = {.app = app, .customer_id = customer_id, .in = in};
    return server_write_run(app, ctx, &w, out);
}

int mgr_store_server_upsert(mgr_app *app, const tel_context *ctx, int64_t customer_id,
                            const mgr_server_in *in, json_t **out)
{
    if (!in->name || !in->datacenter || !in->endpoint || !in->bmc_username || !in->bmc_password)
        return CORE_EINVAL;
    server_write w = {.app = app, .customer_id = customer_id, .in = in, .upsert = true};
    return server_write_run(app, ctx, &w, out);
}

int mgr_store_server_update(mgr_app *app, const tel_context *ctx, int64_t id, int64_t customer_id,
                            const mgr_server_in *in, json_t **out)
{
    server_write w = {.app = app, .id = id, .customer_id = customer_id, .in = in};
    return server_write_run(app, ctx, &w, out);
}

int mgr_store_server_delete(mgr_app *app, const tel_context *ctx, int64_t id, int64_t customer_id)
{
    core_db_param p[] = {CORE_DB_P_INT(id), CORE_DB_P_INT(customer_id)};
    core_db_result res;
    int rc = core_db_exec(app->db, ctx, "DELETE FROM servers WHERE id = ? AND customer_id = ?", p,
                          2, &res);
    if (rc == 0 && res.changes == 0) rc = CORE_ENOTFOUND;
    return rc;
}

typedef struct loc_row {
    json_t *obj;
} loc_row;

static int row_location(void *ud, const core_db_row *row)
{
    loc_row *r = ud;
    json_t *o = json_object();
    int bad = !o;
    bad = bad || obj_set(o, "server_id", mgr_id_json(core_db_row_int(row, 0)));
    bad = bad || obj_set(o, "datacenter", col_str(row, 1));
    bad = bad ||
          obj_set(o, "gateway_url", core_db_row_is_null(row, 2) ? json_null() : col_str(row, 2));
    if (bad) {
        json_decref(o);
        return CORE_EIO;
    }
    r->obj = o;
    return 1;
}

int mgr_store_server_location(mgr_app *app, const tel_context *ctx, int64_t id, int64_t customer_id,
                              json_t **out)
{
    *out = NULL;
    loc_row r = {0};
    core_db_param p[] = {CORE_DB_P_INT(id), CORE_DB_P_INT(customer_id)};
    int rc = core_db_query(app->db, ctx,
                           "SELECT s.id, s.datacenter, g.url FROM servers AS s"
                           " LEFT JOIN gateway_datacenters AS d ON d.datacenter = s.datacenter"
                           " LEFT JOIN gateways AS g ON g.id = d.gateway_id"
                           " WHERE s.id = ? AND s.customer_id = ?",
                           p, 2, row_location, &r, NULL);
    if (rc == 0 && !r.obj) rc = CORE_ENOTFOUND;
    if (rc != 0) {
        json_decref(r.obj);
        return rc;
    }
    *out = r.obj;
    return 0;
}

/* ---- Gateways ---- */

typedef struct gw_write {
    const char *url;
    const char *const *dcs;
    size_t n;
    bool replace;
    int64_t id;
} gw_write;

static int gateway_tx(core_db *db, const tel_context *ctx, void *ud)
{
    gw_write *w = ud;
    int rc;
    one_int o = {0};
    if (w->replace) {
        core_db_param p[] = {CORE_DB_P_TEXT(w->url)};
        rc = core_db_query(db, ctx, "SELECT id FROM gateways WHERE url = ?", p, 1, row_one_int, &o,
                           NULL);
        if (rc != 0) return rc;
    }
    if (o.found) {
        w->id = o.v;
        core_db_param p[] = {CORE_DB_P_INT(w->id)};
        rc = core_db_exec(db, ctx, "DELETE FROM gateway_datacenters WHERE gateway_id = ?", p, 1,
                          NULL);
    } else {
        core_db_param p[] = {CORE_DB_P_TEXT(w->url), CORE_DB_P_INT(now_s())};
        core_db_result res;
        rc = core_db_exec(db, ctx, "INSERT INTO gateways (url, created_at) VALUES (?, ?)", p, 2,
                          &res);
        w->id = res.last_rowid;
    }
    for (size_t i = 0; rc == 0 && i < w->n; i++) {
        if (w->replace) {
            core_db_param d[] = {CORE_DB_P_TEXT(w->dcs[i])};
            rc = core_db_exec(db, ctx, "DELETE FROM gateway_datacenters WHERE datacenter = ?", d, 1,
                              NULL);
            if (rc != 0) break;
        }
        core_db_param p[] = {CORE_DB_P_TEXT(w->dcs[i]), CORE_DB_P_INT(w->id)};
        rc = core_db_exec(db, ctx,
                          "INSERT INTO gateway_datacenters (datacenter, gateway_id) VALUES (?, ?)",
                          p, 2, NULL);
    }
    return rc;
}

int mgr_store_gateway_create(mgr_app *app, const tel_context *ctx, const char *url,
                             const char *const *dcs, size_t n, bool replace, json_t **out)
{
    *out = NULL;
    gw_write w = {.url = url, .dcs = dcs, .n = n, .replace = replace};
    int rc = core_db_transaction(app->db, ctx, gateway_tx, &w);
    if (rc != 0) return rc;
    json_t *o = json_object();
    json_t *a = json_array();
    int bad = !o || !a;
    for (size_t i = 0; !bad && i < n; i++)
        bad = json_array_append_new(a, json_string(dcs[i])) != 0;
    bad = bad || obj_set(o, "id", mgr_id_json(w.id));
    bad = bad || obj_set(o, "url", json_string(url));
    if (!bad) {
        bad = json_object_set_new(o, "datacenters", a) != 0;
        a = NULL;
    }
    json_decref(a);
    if (bad) {
        json_decref(o);
        return CORE_ENOMEM;
    }
    *out = o;
    return 0;
}
