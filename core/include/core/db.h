/* SQLite with traced queries, a per-connection statement cache and schema migrations.
 *
 * Every statement is a prepared statement with bound parameters: SQL text is never built from
 * values. Each executed statement gets a CLIENT span "{operation} {table}" (for example
 * "SELECT servers") with db.system.name=sqlite, db.operation.name, db.collection.name,
 * db.query.text (the statement as given, parameters left as `?`) and db.namespace (the file's
 * base name), child of the caller's context; a failed statement sets the span status to ERROR
 * with db.response.status_code and error.type. The duration of each statement is recorded in
 * the histogram db.client.operation.duration (seconds) when a meter provider is given.
 *
 * Thread safety: a core_db is one SQLite connection guarded by a recursive mutex, so any thread
 * may use it and statements of different threads are serialised. For parallel reads open one
 * connection per thread (WAL lets readers run beside a writer). A row callback runs with the
 * mutex held: it may run further statements on the same connection (they nest), but must not
 * wait for another thread that uses it.
 *
 * Errors: functions return 0 or a negative CORE_E* code (core/error.h):
 *   CORE_EINVAL    SQL that does not compile, more than one statement, a parameter count that
 *                  does not match, a constraint violation (NOT NULL, CHECK, foreign key), a
 *                  write on a read-only connection, a bad argument
 *   CORE_EEXIST    a UNIQUE or PRIMARY KEY constraint violation
 *   CORE_EBUSY     the database stayed locked for the whole busy timeout
 *   CORE_ENOMEM    allocation failure
 *   CORE_EIO       any other SQLite failure (I/O, corruption, full disk, ...)
 * and whatever negative value a row callback returned to stop (see core_db_row_fn).
 * The SQLite code and message of the last failure are in core_db_result when one is passed. */
#ifndef CORE_DB_H
#define CORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/context.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct core_db core_db;

/* One schema migration step: `sql` (one or more statements separated by ';', a constant of the
 * program) brings the schema to `version`. Steps are applied in ascending version order, each in
 * its own transaction together with its row in the schema_migrations table, so a process that
 * dies half-way restarts cleanly from the last committed step. */
typedef struct core_db_migration {
    int64_t version; /* > 0, strictly ascending within the list */
    const char *name;
    const char *sql;
} core_db_migration;

typedef struct core_db_options {
    int busy_timeout_ms;                 /* how long a statement waits on a lock; 0: 5000 */
    bool read_only;                      /* open read-only (no migrations, no file creation) */
    size_t stmt_cache;                   /* prepared statements kept per connection; 0: 32 */
    const core_db_migration *migrations; /* applied by core_db_open; may be NULL */
    size_t n_migrations;
    tel_tracer *tracer;         /* NULL: tel_global_tracer("bmcfleet.core.db") */
    tel_meter_provider *meters; /* NULL: tel_global_meter_provider() (none: no histogram) */
    const tel_context *ctx;     /* parent of the migration spans; may be NULL */
} core_db_options;

/* Opens (creating when needed, unless read_only) the SQLite file `path` (":memory:" works too)
 * with WAL journaling, synchronous=NORMAL, the busy timeout and foreign keys on, then applies the
 * pending migrations. opts may be NULL (defaults). On success stores the connection in *out (the
 * caller owns it: core_db_close) and returns 0; otherwise returns a negative code, *out is NULL,
 * and a line naming the failure (never a value) goes to stderr. A database whose schema version is
 * newer than the last migration given is refused with CORE_EINVAL (a downgrade). */
int core_db_open(core_db **out, const char *path, const core_db_options *opts);

/* Finalises every cached statement and closes the connection. NULL is allowed. No other thread
 * may be using db. */
void core_db_close(core_db *db);

/* The schema version recorded in schema_migrations (0 when none). Negative on failure. */
int64_t core_db_schema_version(core_db *db);

/* ---- Parameters ---- */

typedef enum core_db_type {
    CORE_DB_NULL = 0,
    CORE_DB_INT,
    CORE_DB_DOUBLE,
    CORE_DB_TEXT,
    CORE_DB_BLOB,
} core_db_type;

/* A bound value; it borrows what it points to for the duration of the call. */
typedef struct core_db_param {
    core_db_type type;
    size_t len; /* TEXT/BLOB length in bytes; SIZE_MAX for a NUL-terminated TEXT */
    union {
        int64_t i;
        double d;
        const char *s;
        const void *b;
    } v;
} core_db_param;

#define CORE_DB_P_NULL ((core_db_param){.type = CORE_DB_NULL})
#define CORE_DB_P_INT(x) ((core_db_param){.type = CORE_DB_INT, .v.i = (int64_t)(x)})
#define CORE_DB_P_DOUBLE(x) ((core_db_param){.type = CORE_DB_DOUBLE, .v.d = (double)(x)})
/* A NUL-terminated string; a NULL pointer binds SQL NULL. */
#define CORE_DB_P_TEXT(str) ((core_db_param){.type = CORE_DB_TEXT, .len = SIZE_MAX, .v.s = (str)})
#define CORE_DB_P_TEXTN(str, n) ((core_db_param){.type = CORE_DB_TEXT, .len = (n), .v.s = (str)})
#define CORE_DB_P_BLOB(p, n) ((core_db_param){.type = CORE_DB_BLOB, .len = (n), .v.b = (p)})

/* ---- Rows ---- */

typedef struct core_db_row core_db_row;

/* Column accessors for the current row (col from 0). Values are valid until the callback
 * returns. core_db_row_text returns NULL for SQL NULL and stores the byte length in *len when
 * len is not NULL; the text is NUL-terminated. */
int core_db_row_columns(const core_db_row *row);
bool core_db_row_is_null(const core_db_row *row, int col);
int64_t core_db_row_int(const core_db_row *row, int col);
double core_db_row_double(const core_db_row *row, int col);
const char *core_db_row_text(const core_db_row *row, int col, size_t *len);
const void *core_db_row_blob(const core_db_row *row, int col, size_t *len);
const char *core_db_row_column_name(const core_db_row *row, int col);

/* Called once per result row. Return 0 for the next row, a positive value to stop early (the
 * statement counts as successful), or a negative code to stop with that code as the query's
 * result (the span is then marked as an error: "aborted by the caller"). */
typedef int (*core_db_row_fn)(void *ud, const core_db_row *row);

/* Outcome details of one statement (optional out-parameter). */
typedef struct core_db_result {
    int64_t rows;       /* rows handed to the callback */
    int64_t changes;    /* rows modified by an INSERT/UPDATE/DELETE */
    int64_t last_rowid; /* rowid of the last INSERT on this connection */
    int sqlite_code;    /* extended SQLite result code of a failure, else 0 */
    char message[160];  /* SQLite's message for a failure (never contains bound values) */
} core_db_result;

/* Runs one statement: prepares it (or takes it from the cache), binds params[0..n), steps
 * through every row calling fn (may be NULL: rows are skipped), in a CLIENT span child of ctx
 * (may be NULL: a new trace). `sql` is one statement whose values are all `?` parameters; it is
 * copied into the cache, so it need not be a literal. res may be NULL. Returns 0 or a negative
 * code (see the top of this file). Thread safe (serialised per connection). */
int core_db_query(core_db *db, const tel_context *ctx, const char *sql, const core_db_param *params,
                  size_t n, core_db_row_fn fn, void *ud, core_db_result *res);

/* core_db_query without rows, for INSERT/UPDATE/DELETE and DDL. */
int core_db_exec(core_db *db, const tel_context *ctx, const char *sql, const core_db_param *params,
                 size_t n, core_db_result *res);

/* Runs fn(db, ud) inside BEGIN IMMEDIATE ... COMMIT, holding the connection for the whole
 * transaction (other threads wait). fn returns 0 to commit or a negative code to roll back;
 * that code (or the COMMIT's failure) is returned. The BEGIN/COMMIT/ROLLBACK statements are not
 * traced; the statements fn runs are. */
int core_db_transaction(core_db *db, const tel_context *ctx,
                        int (*fn)(core_db *db, const tel_context *ctx, void *ud), void *ud);

/* Statement summary used for span names: the operation (first keyword, uppercase, e.g.
 * "SELECT") and the first table the statement names ("" when none), written NUL-terminated
 * (truncated) into op/table. Exposed for tests. Thread safe; no allocation. */
void core_db_sql_summary(const char *sql, char *op, size_t op_cap, char *table, size_t table_cap);

/* Number of statements in the connection's cache (for tests). */
size_t core_db_cached_statements(core_db *db);

#ifdef __cplusplus
}
#endif
#endif
