/* core/db: SQLite file with traced queries, migrations, prepared statements, the statement
 * cache, transactions, and bound values that carry SQL metacharacters.
 * ctest-labels: concurrency (one test shares a connection between threads) */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/db.h"
#include "core/error.h"
#include "test_tracing.h"

static char path[64];
static test_tracing tt;
static tel_meter_provider *meters;

static const core_db_migration migrations[] = {
    {1, "customers", "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"},
    {2, "servers",
     "CREATE TABLE servers (id INTEGER PRIMARY KEY,"
     " customer_id INTEGER NOT NULL REFERENCES customers(id),"
     " name TEXT NOT NULL, bmc TEXT);"
     "CREATE INDEX servers_customer ON servers(customer_id);"},
    {3, "seed", "INSERT INTO customers (id, name) VALUES (1, 'acme'), (2, 'globex');"},
};

static int setup(void **state)
{
    snprintf(path, sizeof path, "/tmp/test_core_db_%d.sqlite", (int)getpid());
    unlink(path);
    /* spans go through a batch processor, as in the services; flush() before reading them */
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "unit-test");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
    tt.provider = tel_tracer_provider_create(&cfg);
    tt.mem = tel_memory_exporter_create();
    tel_bsp_config bc = {.max_queue_size = 4096,
                         .max_export_batch_size = 512,
                         .schedule_delay_ms = 50,
                         .export_timeout_ms = 5000};
    tel_tracer_provider_add_processor(tt.provider,
                                      tel_bsp_create(tel_memory_exporter_base(tt.mem), &bc));
    tt.tracer = tel_tracer_get(tt.provider, "unit", "1.0");
    tel_meter_provider_config mc = {.resource = tel_tracer_provider_resource(tt.provider)};
    meters = tel_meter_provider_create(&mc);
    return 0;
}

static void flush(void)
{
    assert_int_equal(tel_tracer_provider_force_flush(tt.provider, 5000), TEL_OK);
}

static void spans_reset(void)
{
    flush();
    tel_memory_exporter_reset(tt.mem);
}

static int teardown(void **state)
{
    tel_meter_provider_destroy(meters);
    test_tracing_cleanup(&tt);
    char p[96];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}

static core_db *open_db(const core_db_migration *m, size_t n)
{
    core_db_options o = {.migrations = m, .n_migrations = n, .tracer = tt.tracer, .meters = meters};
    core_db *db = NULL;
    assert_int_equal(core_db_open(&db, path, &o), CORE_OK);
    assert_non_null(db);
    return db;
}

static int get_text(void *ud, const core_db_row *row)
{
    const char *t = core_db_row_text(row, 0, NULL);
    snprintf(ud, 128, "%s", t ? t : "(null)");
    return 0;
}

static int get_int(void *ud, const core_db_row *row)
{
    *(int64_t *)ud = core_db_row_int(row, 0);
    return 0;
}

static const char *attr_str(const tel_span_data *d, const char *key)
{
    const tel_attr *a = test_attr(d, key);
    return a && a->type == TEL_ATTR_STRING ? a->v.s : NULL;
}

static void test_summary(void **state)
{
    static const struct {
        const char *sql, *op, *table;
    } cases[] = {
        {"SELECT id, name FROM servers WHERE id = ?", "SELECT", "servers"},
        {"  select * from main.servers s join customers c on c.id = s.customer_id", "SELECT",
         "main.servers"},
        {"INSERT INTO servers (name) VALUES (?)", "INSERT", "servers"},
        {"insert or replace into \"Server Table\" values (?)", "INSERT", "\"Server Table\""},
        {"UPDATE OR IGNORE servers SET name = ? WHERE id = ?", "UPDATE", "servers"},
        {"update servers set name = 'FROM x'", "UPDATE", "servers"},
        {"DELETE FROM servers WHERE id = ?", "DELETE", "servers"},
        {"-- comment\n/* block */ SELECT 1", "SELECT", ""},
        {"SELECT 'from' AS x FROM t", "SELECT", "t"},
        {"CREATE TABLE IF NOT EXISTS users (id INTEGER)", "CREATE", "users"},
        {"CREATE UNIQUE INDEX ix ON users(id)", "CREATE", "ix"},
        {"DROP TABLE IF EXISTS users", "DROP", "users"},
        {"WITH x AS (SELECT id FROM a) SELECT * FROM x", "SELECT", "a"},
        {"WITH x AS (SELECT 1) DELETE FROM b WHERE id IN x", "DELETE", "b"},
        {"PRAGMA journal_mode", "PRAGMA", ""},
        {"", "", ""},
        {"'unterminated", "", ""},
        {"SELECT * FROM", "SELECT", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char op[24], table[64];
        core_db_sql_summary(cases[i].sql, op, sizeof op, table, sizeof table);
        assert_string_equal(op, cases[i].op);
        assert_string_equal(table, cases[i].table);
    }
    char op[4], table[4];
    core_db_sql_summary("SELECT * FROM averylongtablename", op, sizeof op, table, sizeof table);
    assert_string_equal(op, "SEL");
    assert_string_equal(table, "ave");
}

static void test_open_pragmas_and_migrations(void **state)
{
    core_db *db = open_db(migrations, 3);
    assert_int_equal(core_db_schema_version(db), 3);
    char buf[128];
    assert_int_equal(core_db_query(db, NULL, "PRAGMA journal_mode", NULL, 0, get_text, buf, NULL),
                     CORE_OK);
    assert_string_equal(buf, "wal");
    int64_t v = -1;
    assert_int_equal(core_db_query(db, NULL, "PRAGMA foreign_keys", NULL, 0, get_int, &v, NULL),
                     CORE_OK);
    assert_int_equal(v, 1);
    assert_int_equal(
        core_db_query(db, NULL, "SELECT count(*) FROM customers", NULL, 0, get_int, &v, NULL),
        CORE_OK);
    assert_int_equal(v, 2);
    /* one db.migrate span per applied step */
    flush();
    size_t migrate_spans = 0;
    for (size_t i = 0; i < tel_memory_exporter_count(tt.mem); i++) {
        const tel_span_data *d = tel_memory_exporter_span(tt.mem, i);
        if (strcmp(d->name, "db.migrate") == 0) {
            migrate_spans++;
            assert_int_equal(test_attr(d, "db.migration.applied")->v.b, true);
        }
    }
    assert_int_equal(migrate_spans, 3);
    core_db_close(db);

    /* Reopening applies nothing again. */
    spans_reset();
    db = open_db(migrations, 3);
    assert_int_equal(core_db_schema_version(db), 3);
    flush();
    assert_null(tel_memory_exporter_find(tt.mem, "db.migrate"));
    assert_int_equal(
        core_db_query(db, NULL, "SELECT count(*) FROM customers", NULL, 0, get_int, &v, NULL),
        CORE_OK);
    assert_int_equal(v, 2); /* the seed ran once */
    assert_int_equal(core_db_query(db, NULL, "SELECT count(*) FROM schema_migrations", NULL, 0,
                                   get_int, &v, NULL),
                     CORE_OK);
    assert_int_equal(v, 3);
    core_db_close(db);

    /* A database newer than the program is refused. */
    core_db_options o = {.migrations = migrations, .n_migrations = 2, .tracer = tt.tracer};
    core_db *db2 = (core_db *)1;
    assert_int_equal(core_db_open(&db2, path, &o), CORE_EINVAL);
    assert_null(db2);
}

static void test_failed_migration_restarts_cleanly(void **state)
{
    core_db_migration bad[3] = {migrations[0], migrations[1], migrations[2]};
    bad[1].sql = "CREATE TABLE servers (id INTEGER PRIMARY KEY); CREATE TABLE oops (;";
    core_db_options o = {.migrations = bad, .n_migrations = 3, .tracer = tt.tracer};
    core_db *db = NULL;
    assert_int_not_equal(core_db_open(&db, path, &o), CORE_OK);
    assert_null(db);
    flush();
    const tel_span_data *d = tel_memory_exporter_find(tt.mem, "db.migrate");
    assert_non_null(d);

    /* Step 1 is committed; step 2 left nothing behind (its first statement was rolled back). */
    core_db_options plain = {.tracer = tt.tracer};
    assert_int_equal(core_db_open(&db, path, &plain), CORE_OK);
    assert_int_equal(core_db_schema_version(db), 1);
    int64_t v = -1;
    assert_int_equal(core_db_query(db, NULL, "SELECT count(*) FROM sqlite_master WHERE name = ?",
                                   (core_db_param[]){CORE_DB_P_TEXT("servers")}, 1, get_int, &v,
                                   NULL),
                     CORE_OK);
    assert_int_equal(v, 0);
    core_db_close(db);

    /* Fixed list: resumes at step 2. */
    db = open_db(migrations, 3);
    assert_int_equal(core_db_schema_version(db), 3);
    core_db_close(db);

    /* Versions out of order are refused before touching the file. */
    core_db_migration unordered[2] = {migrations[1], migrations[0]};
    o.migrations = unordered;
    o.n_migrations = 2;
    assert_int_equal(core_db_open(&db, path, &o), CORE_EINVAL);
}

typedef struct server_row {
    int64_t id;
    char name[128];
    char bmc[128];
    bool bmc_null;
} server_row;

static int collect_servers(void *ud, const core_db_row *row)
{
    server_row *r = ud;
    assert_int_equal(core_db_row_columns(row), 3);
    assert_string_equal(core_db_row_column_name(row, 1), "name");
    r->id = core_db_row_int(row, 0);
    size_t len;
    const char *n = core_db_row_text(row, 1, &len);
    assert_true(len < sizeof r->name);
    memcpy(r->name, n, len + 1);
    r->bmc_null = core_db_row_is_null(row, 2);
    if (!r->bmc_null) snprintf(r->bmc, sizeof r->bmc, "%s", core_db_row_text(row, 2, NULL));
    return 0;
}

typedef struct duration_probe {
    bool found;
    char unit[8];
    uint64_t count;
    uint64_t select_servers;
} duration_probe;

static void probe_durations(const tel_resource *res, const tel_metric *ms, size_t n, void *ud)
{
    duration_probe *p = ud;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ms[i].name, "db.client.operation.duration") != 0) continue;
        p->found = true;
        snprintf(p->unit, sizeof p->unit, "%s", ms[i].unit);
        for (size_t k = 0; k < ms[i].n_points; k++) {
            const tel_metric_point *pt = &ms[i].points[k];
            p->count += pt->count;
            bool sel = false, srv = false, sys = false;
            for (uint32_t a = 0; a < pt->n_attrs; a++) {
                const tel_attr *at = &pt->attrs[a];
                if (strcmp(at->key, "db.operation.name") == 0 && strcmp(at->v.s, "SELECT") == 0)
                    sel = true;
                if (strcmp(at->key, "db.collection.name") == 0 && strcmp(at->v.s, "servers") == 0)
                    srv = true;
                if (strcmp(at->key, "db.system.name") == 0 && strcmp(at->v.s, "sqlite") == 0)
                    sys = true;
            }
            if (sel && srv && sys) p->select_servers += pt->count;
        }
    }
}

/* The exemplars of db.client.operation.duration's points carrying error.type. */
typedef struct error_exemplars {
    uint32_t n;
    uint8_t span_id[4][TEL_SPAN_ID_SIZE];
} error_exemplars;

static void probe_error_exemplars(const tel_resource *res, const tel_metric *ms, size_t n,
                                  void *ud)
{
    error_exemplars *p = ud;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ms[i].name, "db.client.operation.duration") != 0) continue;
        for (size_t k = 0; k < ms[i].n_points; k++) {
            const tel_metric_point *pt = &ms[i].points[k];
            bool err = false;
            for (uint32_t a = 0; a < pt->n_attrs; a++)
                if (strcmp(pt->attrs[a].key, "error.type") == 0) err = true;
            for (uint32_t x = 0; err && x < pt->n_exemplars && p->n < 4; x++)
                if (pt->exemplars[x].has_span)
                    memcpy(p->span_id[p->n++], pt->exemplars[x].span_id, TEL_SPAN_ID_SIZE);
        }
    }
}

static void test_traced_queries(void **state)
{
    core_db *db = open_db(migrations, 3);
    spans_reset();

    tel_span *parent =
        tel_span_start(tt.tracer, "GET /v1/servers/{id}", TEL_SPAN_KIND_SERVER, NULL);
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_context_set_span(&ctx, parent);
    tel_span_context psc = tel_span_get_context(parent);

    /* Metacharacters in bound values are data, never SQL. */
    static const char *const evil[] = {
        "x'); DROP TABLE servers; --",
        "\"; DELETE FROM customers; --",
        "%_*?[]\\ ' '' \" ; -- /* */",
        "rob\xc3\xa9rt \xe2\x9c\x93",
    };
    int64_t ids[4];
    for (size_t i = 0; i < 4; i++) {
        core_db_param p[] = {CORE_DB_P_INT(1), CORE_DB_P_TEXT(evil[i]),
                             i == 3 ? CORE_DB_P_NULL : CORE_DB_P_TEXT("10.0.0.1")};
        core_db_result r;
        assert_int_equal(
            core_db_exec(db, &ctx, "INSERT INTO servers (customer_id, name, bmc) VALUES (?, ?, ?)",
                         p, 3, &r),
            CORE_OK);
        assert_int_equal(r.changes, 1);
        ids[i] = r.last_rowid;
    }
    for (size_t i = 0; i < 4; i++) {
        server_row row = {0};
        core_db_result r;
        assert_int_equal(core_db_query(db, &ctx, "SELECT id, name, bmc FROM servers WHERE id = ?",
                                       (core_db_param[]){CORE_DB_P_INT(ids[i])}, 1, collect_servers,
                                       &row, &r),
                         CORE_OK);
        assert_int_equal(r.rows, 1);
        assert_int_equal(row.id, ids[i]);
        assert_string_equal(row.name, evil[i]);
        assert_int_equal(row.bmc_null, i == 3);
    }
    /* LIKE with a metacharacter-laden pattern matches literally only what it says. */
    int64_t v = -1;
    assert_int_equal(core_db_query(db, &ctx, "SELECT count(*) FROM servers WHERE name = ?",
                                   (core_db_param[]){CORE_DB_P_TEXTN("x'); DROP", 9)}, 1, get_int,
                                   &v, NULL),
                     CORE_OK);
    assert_int_equal(v, 0);
    assert_int_equal(
        core_db_query(db, &ctx, "SELECT count(*) FROM customers", NULL, 0, get_int, &v, NULL),
        CORE_OK);
    assert_int_equal(v, 2);
    /* Blob and double round trip. */
    assert_int_equal(
        core_db_exec(db, &ctx, "CREATE TABLE IF NOT EXISTS blobs (b BLOB, d REAL)", NULL, 0, NULL),
        CORE_OK);
    static const uint8_t blob[] = {0, 1, 2, 0xff, '\'', 0};
    assert_int_equal(
        core_db_exec(db, &ctx, "INSERT INTO blobs VALUES (?, ?)",
                     (core_db_param[]){CORE_DB_P_BLOB(blob, sizeof blob), CORE_DB_P_DOUBLE(2.5)}, 2,
                     NULL),
        CORE_OK);
    tel_span_end(parent);

    /* The spans: one trace, children of the parent, CLIENT, semconv names and attributes. */
    flush();
    const tel_span_data *ins = tel_memory_exporter_find(tt.mem, "INSERT servers");
    const tel_span_data *sel = tel_memory_exporter_find(tt.mem, "SELECT servers");
    assert_non_null(ins);
    assert_non_null(sel);
    const tel_span_data *both[] = {ins, sel};
    for (int k = 0; k < 2; k++) {
        const tel_span_data *d = both[k];
        assert_int_equal(d->kind, TEL_SPAN_KIND_CLIENT);
        assert_memory_equal(d->sc.trace_id, psc.trace_id, 16);
        assert_true(d->has_parent);
        assert_memory_equal(d->parent_span_id, psc.span_id, 8);
        assert_string_equal(attr_str(d, "db.system.name"), "sqlite");
        assert_string_equal(attr_str(d, "db.operation.name"), k ? "SELECT" : "INSERT");
        assert_string_equal(attr_str(d, "db.collection.name"), "servers");
        assert_string_equal(attr_str(d, "db.namespace"), strrchr(path, '/') + 1);
        assert_int_equal(d->status, TEL_STATUS_UNSET);
    }
    assert_string_equal(attr_str(ins, "db.query.text"),
                        "INSERT INTO servers (customer_id, name, bmc) VALUES (?, ?, ?)");
    assert_string_equal(attr_str(sel, "db.query.text"),
                        "SELECT id, name, bmc FROM servers WHERE id = ?");
    assert_int_equal(test_attr(sel, "db.response.returned_rows")->v.i, 1);
    /* No bound value reaches any span. */
    for (size_t i = 0; i < tel_memory_exporter_count(tt.mem); i++) {
        const tel_span_data *d = tel_memory_exporter_span(tt.mem, i);
        for (uint32_t a = 0; a < tel_span_data_attr_count(d); a++) {
            const tel_attr *at = tel_span_data_attr(d, a);
            if (at->type != TEL_ATTR_STRING) continue;
            for (size_t e = 0; e < 4; e++)
                assert_null(strstr(at->v.s, evil[e]));
            assert_null(strstr(at->v.s, "10.0.0.1"));
        }
    }
    assert_non_null(tel_memory_exporter_find(tt.mem, "CREATE blobs"));
    assert_non_null(tel_memory_exporter_find(tt.mem, "INSERT blobs"));
    /* db.client.operation.duration, in seconds, per operation and table */
    duration_probe dp = {0};
    assert_int_equal(tel_meter_provider_collect(meters, probe_durations, &dp), TEL_OK);
    assert_true(dp.found);
    assert_string_equal(dp.unit, "s");
    assert_int_equal(dp.select_servers, 5); /* 4 by id, 1 by name */
    assert_true(dp.count >= 12);
    tel_context_cleanup(&ctx);
    core_db_close(db);
}

static void test_errors(void **state)
{
    core_db *db = open_db(migrations, 3);
    spans_reset();
    core_db_result r;

    /* UNIQUE violation */
    assert_int_equal(core_db_exec(db, NULL, "INSERT INTO customers (name) VALUES (?)",
                                  (core_db_param[]){CORE_DB_P_TEXT("acme")}, 1, &r),
                     CORE_EEXIST);
    assert_int_equal(r.sqlite_code, 2067); /* SQLITE_CONSTRAINT_UNIQUE */
    assert_non_null(strstr(r.message, "UNIQUE"));
    flush();
    const tel_span_data *d = tel_memory_exporter_find(tt.mem, "INSERT customers");
    assert_non_null(d);
    assert_int_equal(d->status, TEL_STATUS_ERROR);
    assert_string_equal(attr_str(d, "db.response.status_code"), "2067");
    assert_string_equal(attr_str(d, "error.type"), "2067");
    assert_null(strstr(d->status_msg, "acme"));
    /* The failed statement's duration has its own span as exemplar (the filter keeps only
     * measurements in a sampled span; no span is current here). */
    error_exemplars ee = {0};
    assert_int_equal(tel_meter_provider_collect(meters, probe_error_exemplars, &ee), TEL_OK);
    bool own_span = false;
    for (uint32_t i = 0; i < ee.n; i++)
        if (memcmp(ee.span_id[i], d->sc.span_id, TEL_SPAN_ID_SIZE) == 0) own_span = true;
    assert_true(own_span);

    /* Foreign key violation (foreign keys are on) */
    assert_int_equal(core_db_exec(db, NULL, "INSERT INTO servers (customer_id, name) VALUES (?, ?)",
                                  (core_db_param[]){CORE_DB_P_INT(99), CORE_DB_P_TEXT("s")}, 2, &r),
                     CORE_EINVAL);
    assert_int_equal(r.sqlite_code, 787); /* SQLITE_CONSTRAINT_FOREIGNKEY */

    /* Syntax error, two statements, no statement, parameter count mismatch */
    spans_reset();
    assert_int_equal(core_db_exec(db, NULL, "SELEC 1", NULL, 0, &r), CORE_EINVAL);
    flush();
    d = tel_memory_exporter_find(tt.mem, "SELEC");
    assert_non_null(d);
    assert_int_equal(d->status, TEL_STATUS_ERROR);
    assert_int_equal(core_db_exec(db, NULL, "SELECT 1; DROP TABLE servers", NULL, 0, &r),
                     CORE_EINVAL);
    assert_non_null(strstr(r.message, "more than one statement"));
    assert_int_equal(core_db_exec(db, NULL, "SELECT 1;  -- trailing comment\n;", NULL, 0, &r),
                     CORE_OK);
    assert_int_equal(core_db_exec(db, NULL, "   ", NULL, 0, &r), CORE_EINVAL);
    assert_int_equal(core_db_exec(db, NULL, "SELECT ?", NULL, 0, &r), CORE_EINVAL);
    assert_int_equal(core_db_exec(db, NULL, "SELECT 1", (core_db_param[]){CORE_DB_P_INT(1)}, 1, &r),
                     CORE_EINVAL);
    assert_int_equal(core_db_exec(NULL, NULL, "SELECT 1", NULL, 0, &r), CORE_EINVAL);
    int64_t v;
    assert_int_equal(
        core_db_query(db, NULL, "SELECT count(*) FROM servers", NULL, 0, get_int, &v, NULL),
        CORE_OK); /* the table is still there */
    core_db_close(db);

    /* Read-only connections refuse writes. */
    core_db_options ro = {.read_only = true, .tracer = tt.tracer};
    assert_int_equal(core_db_open(&db, path, &ro), CORE_OK);
    assert_int_equal(core_db_exec(db, NULL, "DELETE FROM customers", NULL, 0, &r), CORE_EINVAL);
    core_db_close(db);
    assert_int_not_equal(core_db_open(&db, "/nonexistent/dir/x.sqlite", NULL), CORE_OK);
    assert_null(db);
}

static int stop_after_two(void *ud, const core_db_row *row)
{
    return ++*(int *)ud == 2 ? 1 : 0;
}

static int abort_cb(void *ud, const core_db_row *row)
{
    return CORE_ECANCELLED;
}

static int nested_cb(void *ud, const core_db_row *row)
{
    core_db *db = ud;
    int64_t v = -1;
    /* the same statement text while the outer one is still stepping */
    assert_int_equal(
        core_db_query(db, NULL, "SELECT id FROM customers ORDER BY id", NULL, 0, get_int, &v, NULL),
        CORE_OK);
    assert_int_equal(v, 3);
    return 0;
}

static void test_cache_and_callbacks(void **state)
{
    core_db_options o = {
        .migrations = migrations, .n_migrations = 3, .tracer = tt.tracer, .stmt_cache = 2};
    core_db *db = NULL;
    assert_int_equal(core_db_open(&db, path, &o), CORE_OK);
    int64_t v;
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            core_db_query(db, NULL, "SELECT count(*) FROM customers", NULL, 0, get_int, &v, NULL),
            CORE_OK);
    assert_int_equal(core_db_cached_statements(db), 1);
    char sql[64];
    for (int i = 0; i < 5; i++) { /* distinct texts: evicted, never more than 2 */
        snprintf(sql, sizeof sql, "SELECT %d FROM customers", i);
        assert_int_equal(core_db_query(db, NULL, sql, NULL, 0, get_int, &v, NULL), CORE_OK);
        assert_int_equal(v, i);
        assert_true(core_db_cached_statements(db) <= 2);
    }
    /* Texts of one length that differ only outside the words the cache key samples (start,
     * middle, end): each gets its own statement, whether it is cached or just evicted. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++) {
            snprintf(sql, sizeof sql, "SELECT 0 + %d AS value_of_the_column_here FROM customers",
                     i);
            assert_int_equal(core_db_query(db, NULL, sql, NULL, 0, get_int, &v, NULL), CORE_OK);
            assert_int_equal(v, i);
        }
    }
    int n = 0;
    core_db_result r;
    assert_int_equal(
        core_db_exec(db, NULL, "INSERT INTO customers (name) VALUES ('c3')", NULL, 0, NULL),
        CORE_OK);
    assert_int_equal(core_db_query(db, NULL, "SELECT id FROM customers ORDER BY id", NULL, 0,
                                   stop_after_two, &n, &r),
                     CORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(r.rows, 2);
    spans_reset();
    assert_int_equal(core_db_query(db, NULL, "SELECT id FROM customers ORDER BY id", NULL, 0,
                                   abort_cb, NULL, &r),
                     CORE_ECANCELLED);
    flush();
    assert_int_equal(tel_memory_exporter_find(tt.mem, "SELECT customers")->status,
                     TEL_STATUS_ERROR);
    /* the statement was reset: it runs again */
    assert_int_equal(core_db_query(db, NULL, "SELECT id FROM customers ORDER BY id LIMIT 2", NULL,
                                   0, nested_cb, db, &r),
                     CORE_OK);
    assert_int_equal(r.rows, 2);
    core_db_close(db);
}

static int tx_insert(core_db *db, const tel_context *ctx, void *ud)
{
    int rc = core_db_exec(db, ctx, "INSERT INTO customers (name) VALUES (?)",
                          (core_db_param[]){CORE_DB_P_TEXT(ud)}, 1, NULL);
    if (rc) return rc;
    return strcmp(ud, "rollback-me") == 0 ? CORE_ECANCELLED : CORE_OK;
}

static void test_transactions(void **state)
{
    core_db *db = open_db(migrations, 3);
    int64_t v;
    assert_int_equal(core_db_transaction(db, NULL, tx_insert, "kept"), CORE_OK);
    assert_int_equal(core_db_transaction(db, NULL, tx_insert, "rollback-me"), CORE_ECANCELLED);
    assert_int_equal(core_db_query(db, NULL, "SELECT count(*) FROM customers WHERE name = ?",
                                   (core_db_param[]){CORE_DB_P_TEXT("kept")}, 1, get_int, &v, NULL),
                     CORE_OK);
    assert_int_equal(v, 1);
    assert_int_equal(core_db_query(db, NULL, "SELECT count(*) FROM customers WHERE name = ?",
                                   (core_db_param[]){CORE_DB_P_TEXT("rollback-me")}, 1, get_int, &v,
                                   NULL),
                     CORE_OK);
    assert_int_equal(v, 0);
    core_db_close(db);
}

typedef struct worker_arg {
    core_db *db;
    int id;
    int failures;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof name, "w%d-%d", w->id, i);
        if (core_db_exec(w->db, NULL, "INSERT INTO customers (name) VALUES (?)",
                         (core_db_param[]){CORE_DB_P_TEXT(name)}, 1, NULL) != CORE_OK)
            w->failures++;
        int64_t v = -1;
        if (core_db_query(w->db, NULL, "SELECT count(*) FROM customers WHERE name = ?",
                          (core_db_param[]){CORE_DB_P_TEXT(name)}, 1, get_int, &v,
                          NULL) != CORE_OK ||
            v != 1)
            w->failures++;
    }
    return NULL;
}

static void test_shared_connection_threads(void **state)
{
    core_db *db = open_db(migrations, 3);
    pthread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){db, i, 0};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    int64_t v;
    assert_int_equal(
        core_db_query(db, NULL, "SELECT count(*) FROM customers", NULL, 0, get_int, &v, NULL),
        CORE_OK);
    assert_int_equal(v, 2 + 800);
    core_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary),
        cmocka_unit_test_setup_teardown(test_open_pragmas_and_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_migration_restarts_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_traced_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_and_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_connection_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
