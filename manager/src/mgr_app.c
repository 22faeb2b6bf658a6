/* The manager's state: database, keys, worker pool (see mgr.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "mgr.h"
#include "telemetry/log.h"

int mgr_app_open(mgr_app *app, const core_config *cfg)
{
    memset(app, 0, sizeof *app);
    if (sodium_init() < 0) {
        tel_log_error("libsodium could not be initialised");
        return CORE_EINTERNAL;
    }
    app->tracer = tel_global_tracer("bmcfleet.manager", NULL);
    app->token_ttl_s = core_config_duration_ms(cfg, "MANAGER_TOKEN_TTL") / 1000;
    app->pw_opslimit = (unsigned long long)core_config_int(cfg, "MANAGER_PWHASH_OPSLIMIT");
    app->pw_memlimit = (size_t)core_config_int(cfg, "MANAGER_PWHASH_MEMLIMIT");

    char err[256];
    int rc =
        core_token_keys_parse(core_config_str(cfg, "BMC_JWT_KEYS"), &app->keys, err, sizeof err);
    if (rc != 0) {
        tel_log_error("%s", err);
        goto fail;
    }
    rc = mgr_crypto_key_parse(core_config_str(cfg, "BMC_CRED_KEY"), app->cred_key);
    if (rc != 0) {
        tel_log_error("BMC_CRED_KEY must be the base64 form of exactly 32 bytes");
        goto fail;
    }
    app->service_token = strdup(core_config_str(cfg, "BMC_SERVICE_TOKEN"));
    if (!app->service_token) {
        rc = CORE_ENOMEM;
        goto fail;
    }
    /* The hash compared against when a login names no known user, so that unknown users and
     * wrong passwords cost the same time. */
    unsigned char rnd[32];
    randombytes_buf(rnd, sizeof rnd);
    rc = mgr_password_hash(app, (const char *)rnd, sizeof rnd, app->dummy_hash);
    sodium_memzero(rnd, sizeof rnd);
    if (rc != 0) {
        tel_log_error("cannot compute a password hash (MANAGER_PWHASH_MEMLIMIT too large?)");
        goto fail;
    }

    size_t n = 0;
    const core_db_migration *m = mgr_schema_migrations(&n);
    core_db_options o = {.migrations = m, .n_migrations = n};
    const char *path = core_config_str(cfg, "MANAGER_DB");
    rc = core_db_open(&app->db, path, &o);
    if (rc != 0) {
        tel_attr a[] = {TEL_ATTR_STR("db.namespace", path)};
        tel_log(TEL_LOG_ERROR, a, 1, "cannot open the database: %s", core_strerror(rc));
        goto fail;
    }
    app->pool = core_workpool_create((int)core_config_int(cfg, "MANAGER_WORKERS"), 256);
    if (!app->pool) {
        rc = CORE_ENOMEM;
        goto fail;
    }
    return 0;
fail:
    mgr_app_close(app);
    return rc;
}

void mgr_app_close(mgr_app *app)
{
    core_workpool_destroy(app->pool);
    app->pool = NULL;
    core_db_close(app->db);
    app->db = NULL;
    core_token_keys_destroy(app->keys);
    app->keys = NULL;
    mgr_secret_free(app->service_token);
    app->service_token = NULL;
    sodium_memzero(app->cred_key, sizeof app->cred_key);
}
