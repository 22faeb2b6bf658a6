/* SQLite with traced queries, a statement cache and migrations (see core/db.h). */
#include "core/db.h"

#include <ctype.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "instr_metrics.h"
#include "intern.h"
#include "telemetry/clock.h"

#define DEFAULT_BUSY_MS 5000
#define DEFAULT_CACHE 32
#define OP_CAP 24
#define TABLE_CAP 64
#define NAME_CAP (OP_CAP + TABLE_CAP + 2)

typedef struct stmt_entry {
    char *sql;
    size_t len;
    uint64_t hash;
    sqlite3_stmt *st;
    uint64_t used; /* LRU tick */
    int busy;      /* running (a nested call on the same text prepares its own) */
    char op[OP_CAP];
    char table[TABLE_CAP];
    char name[NAME_CAP];
    uint32_t op_len, table_len;
    /* The same strings interned (intern.h) once the statement is prepared, so that spans take
     * them without copying; NULL: copied per span. */
    const char *i_sql, *i_op, *i_table, *i_name;
    /* The db.client.operation.duration attribute set of its successful runs, bound on first
     * use (cached entries only). */
    tel_bound_attrs *dur_ok;
    /* The span attributes every run has (db.system.name, db.operation.name,
     * db.collection.name, db.query.text, db.namespace), by reference to the interned strings;
     * span_attrs.n == 0: set one by one (something was not interned). */
    tel_span_attr_set span_attrs;
} stmt_entry;

struct core_db {
    sqlite3 *h;
    pthread_mutex_t mu; /* recursive */
    stmt_entry *cache;
    size_t cap, n;
    uint64_t tick;
    tel_tracer *tracer;
    tel_instrument *duration;
    char ns[128]; /* db.namespace: the file's base name */
    const char *i_ns; /* ns interned, or NULL */
    size_t ns_len;
};

struct core_db_row {
    sqlite3_stmt *st;
};

/* ---- Statement summary ---- */

typedef enum { TK_END, TK_WORD, TK_STRING, TK_PUNCT } tk_kind;

typedef struct lexer {
    const char *p;
} lexer;

static const char *skip_space_comments(const char *p)
{
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

static tk_kind next_token(lexer *lx, const char **tok, size_t *len)
{
    const char *p = skip_space_comments(lx->p);
    *tok = p;
    if (!*p) {
        *len = 0;
        lx->p = p;
        return TK_END;
    }
    tk_kind k;
    unsigned char c = (unsigned char)*p;
    if (c == '\'') {
        p++;
        while (*p && !(*p == '\'' && p[1] != '\''))
            p += (*p == '\'' && p[1] == '\'') ? 2 : 1;
        if (*p) p++;
        k = TK_STRING;
    } else if (c == '"' || c == '`' || c == '[') {
        char close = c == '[' ? ']' : (char)c;
        p++;
        while (*p && *p != close)
            p++;
        if (*p) p++;
        k = TK_WORD;
    } else if (isalnum(c) || c == '_' || c >= 0x80 || c == '$') {
        while (*p &&
               (isalnum((unsigned char)*p) || *p == '_' || (unsigned char)*p >= 0x80 || *p == '$'))
            p++;
        k = TK_WORD;
    } else {
        p++;
        k = TK_PUNCT;
    }
    *len = (size_t)(p - *tok);
    lx->p = p;
    return k;
}

static bool word_is(const char *tok, size_t len, const char *kw)
{
    return strlen(kw) == len && strncasecmp(tok, kw, len) == 0;
}

static void copy_upper(char *dst, size_t cap, const char *src, size_t len)
{
    if (!cap) return;
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)toupper((unsigned char)src[i]);
    dst[n] = '\0';
}

/* Reads a (possibly schema-qualified) name starting at the next token into out. */
static void read_name(lexer *lx, char *out, size_t cap)
{
    const char *tok;
    size_t len;
    if (next_token(lx, &tok, &len) != TK_WORD) return;
    const char *start = tok, *end = tok + len;
    lexer save = *lx;
    const char *t2;
    size_t l2;
    if (next_token(lx, &t2, &l2) == TK_PUNCT && *t2 == '.' && next_token(lx, &t2, &l2) == TK_WORD)
        end = t2 + l2;
    else
        *lx = save;
    size_t n = (size_t)(end - start);
    if (n > cap - 1) n = cap - 1;
    memcpy(out, start, n);
    out[n] = '\0';
}

/* Advances past the next word equal to kw (any depth). Returns false at the end. */
static bool seek_word(lexer *lx, const char *kw)
{
    const char *tok;
    size_t len;
    tk_kind k;
    while ((k = next_token(lx, &tok, &len)) != TK_END)
        if (k == TK_WORD && word_is(tok, len, kw)) return true;
    return false;
}

static void summary(const char *sql, char *op, size_t op_cap, char *table, size_t table_cap);

void core_db_sql_summary(const char *sql, char *op, size_t op_cap, char *table, size_t table_cap)
{
    if (op_cap) op[0] = '\0';
    if (table_cap) table[0] = '\0';
    if (!sql || !op_cap || !table_cap) return;
    char o[OP_CAP];
    summary(sql, o, sizeof o, table, table_cap);
    snprintf(op, op_cap, "%s", o);
}

static void summary(const char *sql, char *op, size_t op_cap, char *table, size_t table_cap)
{
    op[0] = '\0';
    lexer lx = {sql};
    const char *tok;
    size_t len;
    if (next_token(&lx, &tok, &len) != TK_WORD) return;
    if (word_is(tok, len, "WITH")) {
        /* The main statement is the first of these keywords outside the CTEs' parentheses; the
         * table is the first one named anywhere (semconv: the first collection found). */
        lexer after_with = lx;
        int depth = 0;
        tk_kind k;
        bool found = false;
        while (!found && (k = next_token(&lx, &tok, &len)) != TK_END) {
            if (k == TK_PUNCT && *tok == '(')
                depth++;
            else if (k == TK_PUNCT && *tok == ')')
                depth--;
            else if (k == TK_WORD && depth == 0 &&
                     (word_is(tok, len, "SELECT") || word_is(tok, len, "INSERT") ||
                      word_is(tok, len, "UPDATE") || word_is(tok, len, "DELETE") ||
                      word_is(tok, len, "REPLACE")))
                found = true;
        }
        if (!found) {
            copy_upper(op, op_cap, "WITH", 4);
            return;
        }
        copy_upper(op, op_cap, tok, len);
        lx = after_with;
    } else {
        copy_upper(op, op_cap, tok, len);
    }
    tok = op;
    len = strlen(op);
    if (word_is(tok, len, "SELECT") || word_is(tok, len, "DELETE")) {
        if (seek_word(&lx, "FROM")) read_name(&lx, table, table_cap);
    } else if (word_is(tok, len, "INSERT") || word_is(tok, len, "REPLACE")) {
        if (seek_word(&lx, "INTO")) read_name(&lx, table, table_cap);
    } else if (word_is(tok, len, "UPDATE")) {
        lexer save = lx;
        if (next_token(&lx, &tok, &len) == TK_WORD && word_is(tok, len, "OR"))
            next_token(&lx, &tok, &len); /* OR ROLLBACK/ABORT/REPLACE/FAIL/IGNORE */
        else
            lx = save;
        read_name(&lx, table, table_cap);
    } else if (word_is(tok, len, "CREATE") || word_is(tok, len, "DROP") ||
               word_is(tok, len, "ALTER")) {
        tk_kind k;
        while ((k = next_token(&lx, &tok, &len)) == TK_WORD &&
               (word_is(tok, len, "TEMP") || word_is(tok, len, "TEMPORARY") ||
                word_is(tok, len, "UNIQUE") || word_is(tok, len, "VIRTUAL")))
            ;
        if (k != TK_WORD) return;
        lexer save = lx;
        const char *t2;
        size_t l2;
        if (next_token(&lx, &t2, &l2) == TK_WORD && word_is(t2, l2, "IF")) {
            next_token(&lx, &t2, &l2);                             /* NOT or EXISTS */
            if (word_is(t2, l2, "NOT")) next_token(&lx, &t2, &l2); /* EXISTS */
        } else {
            lx = save;
        }
        read_name(&lx, table, table_cap);
    }
}

/* ---- Errors ---- */

static int map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return CORE_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CORE_EBUSY;
    case SQLITE_NOMEM:
        return CORE_ENOMEM;
    case SQLITE_CONSTRAINT:
        return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ? CORE_EEXIST
                                                                                    : CORE_EINVAL;
    case SQLITE_ERROR:
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
        return CORE_EINVAL;
    default:
        return CORE_EIO;
    }
}

static void fill_error(core_db *db, core_db_result *res, int rc, const char *msg)
{
    if (!res) return;
    res->sqlite_code = rc;
    snprintf(res->message, sizeof res->message, "%s",
             msg ? msg : (db && db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc)));
}

/* ---- Cache ---- */

/* A cache key for the SQL text s (its length into *len): the length and three 8-byte words of
 * the text (start, middle, end) mixed, not every byte: the cache compares the whole text of a
 * matching key anyway, and this runs on every query (a byte-wise hash of a typical statement cost
 * more than 300 instructions). Texts of one length that differ only between the sampled words
 * share a key and are told apart by the comparison. */
static uint64_t sql_key(const char *s, size_t *len)
{
    size_t n = strlen(s);
    *len = n;
    uint64_t w[3] = {0, 0, 0};
    if (n >= 8) {
        memcpy(&w[0], s, 8);
        memcpy(&w[1], s + n / 2 - 4, 8); /* n / 2 >= 4 */
        memcpy(&w[2], s + n - 8, 8);
    } else {
        memcpy(&w[0], s, n);
    }
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 3; i++) {
        h ^= w[i];
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    return h;
}

static void entry_clear(stmt_entry *e)
{
    sqlite3_finalize(e->st);
    free(e->sql);
    memset(e, 0, sizeof *e);
}

static bool only_trailing(const char *tail)
{
    for (;;) {
        tail = skip_space_comments(tail);
        if (*tail == ';')
            tail++;
        else
            return *tail == '\0';
    }
}

static void summarise(stmt_entry *e, const char *sql)
{
    core_db_sql_summary(sql, e->op, sizeof e->op, e->table, sizeof e->table);
    if (!e->op[0]) snprintf(e->op, sizeof e->op, "%s", "SQL");
    if (e->table[0])
        snprintf(e->name, sizeof e->name, "%s %s", e->op, e->table);
    else
        snprintf(e->name, sizeof e->name, "%s", e->op);
    e->op_len = (uint32_t)strlen(e->op);
    e->table_len = (uint32_t)strlen(e->table);
}

static inline tel_attr str_attr(const char *key, const char *v, uint32_t len)
{
    return (tel_attr){.key = key, .type = TEL_ATTR_STRING, .len = len, .v.s = v};
}

/* The span attributes every run of statement e has (db.system.name, db.operation.name,
 * db.collection.name when there is a table, db.query.text, db.namespace) into a[0..5): the
 * interned strings where there are, else the entry's own buffers and sql (the caller's text).
 * Returns the count. */
static size_t span_attrs_of(const core_db *db, const stmt_entry *e, const char *sql, tel_attr a[5])
{
    size_t n = 0;
    a[n++] = str_attr("db.system.name", "sqlite", 6);
    a[n++] = str_attr("db.operation.name", e->i_op ? e->i_op : e->op, e->op_len);
    if (e->table[0])
        a[n++] = str_attr("db.collection.name", e->i_table ? e->i_table : e->table, e->table_len);
    if (e->i_sql)
        a[n++] = str_attr("db.query.text", e->i_sql, (uint32_t)e->len);
    else
        a[n++] = str_attr("db.query.text", sql, (uint32_t)strnlen(sql, UINT32_MAX));
    a[n++] = str_attr("db.namespace", db->i_ns ? db->i_ns : db->ns, (uint32_t)db->ns_len);
    return n;
}

/* Interns the telemetry strings of a prepared statement (len: the SQL text's length, already in
 * e->len) and, when all of them are interned, prepares its span attributes from them. */
static void intern_entry(const core_db *db, stmt_entry *e, const char *sql, size_t len)
{
    e->i_sql = core_intern(sql, len);
    e->i_op = core_intern(e->op, e->op_len);
    e->i_table = e->table[0] ? core_intern(e->table, e->table_len) : NULL;
    e->i_name = core_intern(e->name, strlen(e->name));
    e->span_attrs.n = 0;
    if (!e->i_sql || !e->i_op || (e->table[0] && !e->i_table) || !db->i_ns || len > UINT32_MAX)
        return;
    tel_attr a[5];
    size_t n = span_attrs_of(db, e, sql, a);
    tel_span_attr_set_init(&e->span_attrs, a, n); /* empty on failure: copied per span */
}

/* Finds or prepares the statement for sql. *tmp is set when the entry is a private one (not in
 * the cache) that the caller must clear and free. Returns a SQLite code. */
static int get_stmt(core_db *db, const char *sql, stmt_entry **out, bool *tmp, stmt_entry *scratch)
{
    size_t len;
    uint64_t h = sql_key(sql, &len);
    *tmp = false;
    bool private_only = false;
    for (size_t i = 0; i < db->n; i++) {
        stmt_entry *e = &db->cache[i];
        if (e->hash == h && e->len == len && memcmp(e->sql, sql, len) == 0) {
            if (e->busy) {
                private_only = true; /* nested use of the same text */
                break;
            }
            e->used = ++db->tick;
            *out = e;
            return SQLITE_OK;
        }
    }
    memset(scratch, 0, sizeof *scratch);
    summarise(scratch, sql);
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(db->h, sql, (int)(len > INT32_MAX ? INT32_MAX : len) + 1,
                                SQLITE_PREPARE_PERSISTENT, &scratch->st, &tail);
    if (rc != SQLITE_OK) {
        *out = scratch;
        *tmp = true;
        return rc;
    }
    if (!scratch->st || (tail && !only_trailing(tail))) {
        *out = scratch;
        *tmp = true;
        return SQLITE_MISUSE; /* empty text or more than one statement */
    }
    scratch->sql = malloc(len + 1);
    if (!scratch->sql) {
        *out = scratch;
        *tmp = true;
        return SQLITE_NOMEM;
    }
    memcpy(scratch->sql, sql, len + 1);
    scratch->len = len;
    intern_entry(db, scratch, sql, len);
    scratch->hash = h;
    scratch->used = ++db->tick;
    /* Insert, evicting the least recently used idle entry when full. */
    stmt_entry *slot = NULL;
    if (private_only) {
        /* stays private */
    } else if (db->n < db->cap) {
        slot = &db->cache[db->n++];
    } else {
        for (size_t i = 0; i < db->n; i++)
            if (!db->cache[i].busy && (!slot || db->cache[i].used < slot->used))
                slot = &db->cache[i];
        if (slot) entry_clear(slot);
    }
    if (!slot) {
        *out = scratch;
        *tmp = true;
        return SQLITE_OK;
    }
    *slot = *scratch;
    memset(scratch, 0, sizeof *scratch);
    *out = slot;
    return SQLITE_OK;
}

/* ---- Statements ---- */

static int bind_all(sqlite3_stmt *st, const core_db_param *params, size_t n)
{
    if ((size_t)sqlite3_bind_parameter_count(st) != n) return SQLITE_RANGE;
    for (size_t i = 0; i < n; i++) {
        const core_db_param *p = &params[i];
        int idx = (int)i + 1, rc;
        switch (p->type) {
        case CORE_DB_NULL:
            rc = sqlite3_bind_null(st, idx);
            break;
        case CORE_DB_INT:
            rc = sqlite3_bind_int64(st, idx, p->v.i);
            break;
        case CORE_DB_DOUBLE:
            rc = sqlite3_bind_double(st, idx, p->v.d);
            break;
        case CORE_DB_TEXT:
            if (!p->v.s)
                rc = sqlite3_bind_null(st, idx);
            else
                rc = sqlite3_bind_text64(st, idx, p->v.s,
                                         p->len == SIZE_MAX ? strlen(p->v.s) : p->len,
                                         SQLITE_STATIC, SQLITE_UTF8);
            break;
        case CORE_DB_BLOB:
            rc = p->v.b ? sqlite3_bind_blob64(st, idx, p->v.b, p->len, SQLITE_STATIC)
                        : sqlite3_bind_null(st, idx);
            break;
        default:
            rc = SQLITE_MISMATCH;
        }
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

static void span_error(tel_span *s, int sqlite_rc, const char *msg)
{
    if (!tel_span_is_recording(s)) return;
    char code[16];
    snprintf(code, sizeof code, "%d", sqlite_rc);
    tel_span_set_str(s, "db.response.status_code", code);
    tel_span_set_str(s, "error.type", code);
    tel_span_set_status(s, TEL_STATUS_ERROR, msg);
}

/* A statement's run from t0 to t1 into db.client.operation.duration, with the span of context sc
 * as its exemplar: into the statement's bound set when it ran as usual (bound here the first
 * time), else into the set of its outcome. Out of line: a usual run hands its duration to its
 * span instead. */
static __attribute__((noinline)) void record_duration(core_db *db, stmt_entry *e,
                                                      const tel_span_context *sc, int rc,
                                                      bool bindable, uint64_t t0, uint64_t t1)
{
    /* The span clock is the wall clock: a step backwards between the reads counts as 0. */
    double secs = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0.0;
    if (bindable && e->dur_ok) {
        tel_histogram_record_bound_at(db->duration, e->dur_ok, secs, sc, t1);
        return;
    }
    tel_attr a[4];
    size_t na = 0;
    a[na++] = TEL_ATTR_STR("db.system.name", "sqlite");
    a[na++] = (tel_attr){
        .key = "db.operation.name", .type = TEL_ATTR_STRING, .len = e->op_len, .v.s = e->op};
    if (e->table[0])
        a[na++] = (tel_attr){.key = "db.collection.name",
                             .type = TEL_ATTR_STRING,
                             .len = e->table_len,
                             .v.s = e->table};
    if (rc != CORE_OK)
        a[na++] = TEL_ATTR_STR("error.type", rc == CORE_EBUSY ? "busy" : "sqlite_error");
    /* Failed and one-off statements are bound too (a lookup, not cached), so that their
     * exemplar is this statement's span as well, not whichever span is current. */
    tel_bound_attrs *b = tel_instrument_bind(db->duration, a, na);
    if (bindable)
        e->dur_ok = b;
    if (b)
        tel_histogram_record_bound_at(db->duration, b, secs, sc, t1);
    else
        core_instr_record(db->duration, secs, a, na);
}

int core_db_query(core_db *db, const tel_context *ctx, const char *sql, const core_db_param *params,
                  size_t n, core_db_row_fn fn, void *ud, core_db_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    if (!db || !sql || (n && !params)) {
        fill_error(NULL, res, SQLITE_MISUSE, "invalid argument");
        return CORE_EINVAL;
    }
    pthread_mutex_lock(&db->mu);
    /* One clock read at the start and one at the end, shared by the span and the duration
     * histogram; none when neither is on. */
    uint64_t t0 = (db->tracer && db->tracer->enabled) || db->duration ? tel_clock_now_ns() : 0;
    stmt_entry scratch, *e = NULL;
    bool tmp = false;
    int src = get_stmt(db, sql, &e, &tmp, &scratch);

    /* Strings of cached statements are interned: set without a copy. */
    tel_span_start_opts so = {.name = e->i_name ? e->i_name : e->name,
                              .copy_name = !e->i_name,
                              .kind = TEL_SPAN_KIND_CLIENT,
                              .parent = ctx,
                              .start_ns = t0};
    tel_attr copied[5];
    if (e->span_attrs.n) {
        so.attr_set = &e->span_attrs;
    } else if (db->tracer && db->tracer->enabled) { /* not all interned: values copied */
        so.attrs = copied;
        so.n_attrs = span_attrs_of(db, e, sql, copied);
    }
    tel_span *span = tel_span_start_ex(db->tracer, &so);

    int rc = CORE_OK;
    int64_t rows = 0;
    const char *errmsg = NULL;
    if (src != SQLITE_OK) {
        errmsg = src == SQLITE_MISUSE && e->st == NULL ? "no statement in the SQL text"
                 : src == SQLITE_MISUSE                ? "more than one statement in the SQL text"
                                                       : sqlite3_errmsg(db->h);
        fill_error(db, res, src, errmsg);
        span_error(span, src, errmsg);
        rc = map_sqlite(src);
        if (rc == CORE_OK) rc = CORE_EINVAL;
        goto done;
    }
    e->busy++;
    int brc = bind_all(e->st, params, n);
    if (brc != SQLITE_OK) {
        errmsg = brc == SQLITE_RANGE ? "parameter count does not match the statement"
                                     : sqlite3_errstr(brc);
        fill_error(db, res, brc, errmsg);
        span_error(span, brc, errmsg);
        rc = CORE_EINVAL;
    } else {
        core_db_row row = {e->st};
        int step;
        while ((step = sqlite3_step(e->st)) == SQLITE_ROW) {
            rows++;
            if (!fn) continue;
            int c = fn(ud, &row);
            if (c > 0) break;
            if (c < 0) {
                rc = c;
                fill_error(db, res, 0, "aborted by the caller");
                tel_span_set_status(span, TEL_STATUS_ERROR, "aborted by the caller");
                break;
            }
        }
        if (rc == CORE_OK && step != SQLITE_ROW && step != SQLITE_DONE) {
            int ext = sqlite3_extended_errcode(db->h);
            fill_error(db, res, ext, NULL);
            span_error(span, ext, sqlite3_errmsg(db->h));
            rc = map_sqlite(ext);
        }
        if (res) {
            res->changes = sqlite3_changes64(db->h);
            res->last_rowid = sqlite3_last_insert_rowid(db->h);
        }
    }
    sqlite3_reset(e->st);
    sqlite3_clear_bindings(e->st);
    e->busy--;
done:
    if (res) res->rows = rows;
    if (tel_span_is_recording(span) && fn)
        tel_span_set_int(span, "db.response.returned_rows", rows);
    uint64_t t1 = t0 ? tel_clock_now_ns() : 0;
    bool bindable = rc == CORE_OK && !tmp;
    /* A statement's usual runs: its bound set, recorded by the span's record where it is handed
     * over (off this thread with a batch processor; the same duration, the span its exemplar). */
    bool deferred = db->duration && bindable && e->dur_ok &&
                    tel_span_defer_duration(span, db->duration, e->dur_ok, 1e-9);
    if (deferred || !db->duration) {
        tel_span_end_at(span, t1); /* recorded by the span's record, or no histogram */
    } else {
        tel_span_context sc = tel_span_get_context(span); /* the duration's exemplar span */
        tel_span_end_at(span, t1);
        record_duration(db, e, &sc, rc, bindable, t0, t1);
    }
    if (tmp) entry_clear(e);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int core_db_exec(core_db *db, const tel_context *ctx, const char *sql, const core_db_param *params,
                 size_t n, core_db_result *res)
{
    return core_db_query(db, ctx, sql, params, n, NULL, NULL, res);
}

/* Runs every statement of a constant script, untraced. Returns a SQLite code. */
static int exec_script(core_db *db, const char *sql)
{
    const char *p = sql;
    while (p && *p) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v2(db->h, p, -1, &st, &tail);
        if (rc != SQLITE_OK) return rc;
        if (!st) break; /* only whitespace or comments left */
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) return rc;
        p = tail;
    }
    return SQLITE_OK;
}

int core_db_transaction(core_db *db, const tel_context *ctx,
                        int (*fn)(core_db *db, const tel_context *ctx, void *ud), void *ud)
{
    if (!db || !fn) return CORE_EINVAL;
    pthread_mutex_lock(&db->mu);
    int src = exec_script(db, "BEGIN IMMEDIATE");
    if (src != SQLITE_OK) {
        pthread_mutex_unlock(&db->mu);
        return map_sqlite(src);
    }
    int rc = fn(db, ctx, ud);
    if (rc == CORE_OK) {
        src = exec_script(db, "COMMIT");
        if (src != SQLITE_OK) {
            rc = map_sqlite(src);
            exec_script(db, "ROLLBACK");
        }
    } else {
        exec_script(db, "ROLLBACK");
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---- Migrations ---- */

static int64_t query_int(core_db *db, const char *sql, const core_db_param *params, size_t n,
                         int *rc_out)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = bind_all(st, params, n);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            v = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    *rc_out = rc;
    return v;
}

static const char create_version_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))";

int64_t core_db_schema_version(core_db *db)
{
    if (!db) return CORE_EINVAL;
    pthread_mutex_lock(&db->mu);
    int rc;
    int64_t v =
        query_int(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", NULL, 0, &rc);
    pthread_mutex_unlock(&db->mu);
    if (rc != SQLITE_OK)
        return (rc & 0xff) == SQLITE_ERROR ? 0 : map_sqlite(rc); /* no table yet: version 0 */
    return v;
}

static int apply_one(core_db *db, const core_db_migration *m, bool *applied)
{
    *applied = false;
    int rc = exec_script(db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) return rc;
    core_db_param p[2] = {CORE_DB_P_INT(m->version), CORE_DB_P_TEXT(m->name ? m->name : "")};
    int64_t have =
        query_int(db, "SELECT count(*) FROM schema_migrations WHERE version = ?", p, 1, &rc);
    if (rc == SQLITE_OK && have == 0) {
        rc = exec_script(db, m->sql);
        if (rc == SQLITE_OK)
            query_int(db, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", p, 2, &rc);
        *applied = rc == SQLITE_OK;
    }
    if (rc == SQLITE_OK) rc = exec_script(db, "COMMIT");
    if (rc != SQLITE_OK) {
        *applied = false;
        exec_script(db, "ROLLBACK");
    }
    return rc;
}

static int migrate(core_db *db, const core_db_options *o)
{
    for (size_t i = 0; i < o->n_migrations; i++) {
        const core_db_migration *m = &o->migrations[i];
        if (m->version <= 0 || !m->sql || (i && m->version <= o->migrations[i - 1].version)) {
            fprintf(stderr, "core_db: migration %zu: versions must be positive and ascending\n", i);
            return CORE_EINVAL;
        }
    }
    int rc = exec_script(db, create_version_table);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "core_db: %s: cannot create schema_migrations: %s\n", db->ns,
                sqlite3_errmsg(db->h));
        return map_sqlite(rc);
    }
    int64_t current =
        query_int(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", NULL, 0, &rc);
    if (rc != SQLITE_OK) return map_sqlite(rc);
    if (o->n_migrations && current > o->migrations[o->n_migrations - 1].version) {
        fprintf(stderr,
                "core_db: %s: schema version %lld is newer than this program knows (%lld)\n",
                db->ns, (long long)current, (long long)o->migrations[o->n_migrations - 1].version);
        return CORE_EINVAL;
    }
    for (size_t i = 0; i < o->n_migrations; i++) {
        const core_db_migration *m = &o->migrations[i];
        if (m->version <= current) continue;
        tel_span_start_opts so = {
            .name = "db.migrate", .kind = TEL_SPAN_KIND_INTERNAL, .parent = o->ctx};
        tel_span *s = tel_span_start_ex(db->tracer, &so);
        tel_span_set_str_static(s, "db.system.name", "sqlite");
        tel_span_set_str(s, "db.namespace", db->ns);
        tel_span_set_int(s, "db.migration.version", m->version);
        if (m->name) tel_span_set_str(s, "db.migration.name", m->name);
        bool applied;
        rc = apply_one(db, m, &applied);
        tel_span_set_bool(s, "db.migration.applied", applied);
        if (rc != SQLITE_OK) {
            const char *msg = sqlite3_errmsg(db->h);
            span_error(s, rc, msg);
            tel_span_end(s);
            fprintf(stderr, "core_db: %s: migration %lld (%s) failed: %s\n", db->ns,
                    (long long)m->version, m->name ? m->name : "", msg);
            return map_sqlite(rc);
        }
        tel_span_end(s);
    }
    return CORE_OK;
}

/* ---- Open / close ---- */

int core_db_open(core_db **out, const char *path, const core_db_options *opts)
{
    if (!out) return CORE_EINVAL;
    *out = NULL;
    if (!path) return CORE_EINVAL;
    core_db_options o = opts ? *opts : (core_db_options){0};
    core_db *db = calloc(1, sizeof *db);
    if (!db) return CORE_ENOMEM;
    db->cap = o.stmt_cache ? o.stmt_cache : DEFAULT_CACHE;
    db->cache = calloc(db->cap, sizeof *db->cache);
    if (!db->cache) {
        free(db);
        return CORE_ENOMEM;
    }
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&db->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    const char *base = strrchr(path, '/');
    snprintf(db->ns, sizeof db->ns, "%s", base ? base + 1 : path);
    db->ns_len = strlen(db->ns);
    db->i_ns = core_intern(db->ns, db->ns_len);
    db->tracer = o.tracer ? o.tracer : tel_global_tracer("bmcfleet.core.db", BMC_VERSION);
    static const double bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
    db->duration = core_instr_histogram(o.meters ? o.meters : tel_global_meter_provider(),
                                        "bmcfleet.core.db", "db.client.operation.duration", "s",
                                        "Duration of database client operations.", bounds,
                                        sizeof bounds / sizeof bounds[0]);

    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI |
                (o.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &db->h, flags, NULL);
    int err = CORE_OK;
    if (rc != SQLITE_OK) {
        fprintf(stderr, "core_db: cannot open %s: %s\n", db->ns,
                db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        err = map_sqlite(rc);
        goto fail;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, o.busy_timeout_ms > 0 ? o.busy_timeout_ms : DEFAULT_BUSY_MS);
    rc = exec_script(db, "PRAGMA foreign_keys = ON");
    if (rc == SQLITE_OK && !o.read_only)
        rc = exec_script(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
    if (rc != SQLITE_OK) {
        fprintf(stderr, "core_db: %s: setting up the connection failed: %s\n", db->ns,
                sqlite3_errmsg(db->h));
        err = map_sqlite(rc);
        goto fail;
    }
    if (!o.read_only && o.n_migrations) {
        err = migrate(db, &o);
        if (err != CORE_OK) goto fail;
    }
    *out = db;
    return CORE_OK;
fail:
    core_db_close(db);
    return err ? err : CORE_EIO;
}

void core_db_close(core_db *db)
{
    if (!db) return;
    for (size_t i = 0; i < db->n; i++)
        entry_clear(&db->cache[i]);
    free(db->cache);
    if (db->h) sqlite3_close_v2(db->h);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

size_t core_db_cached_statements(core_db *db)
{
    if (!db) return 0;
    pthread_mutex_lock(&db->mu);
    size_t n = db->n;
    pthread_mutex_unlock(&db->mu);
    return n;
}

/* ---- Rows ---- */

int core_db_row_columns(const core_db_row *row)
{
    return sqlite3_column_count(row->st);
}

bool core_db_row_is_null(const core_db_row *row, int col)
{
    return sqlite3_column_type(row->st, col) == SQLITE_NULL;
}

int64_t core_db_row_int(const core_db_row *row, int col)
{
    return sqlite3_column_int64(row->st, col);
}

double core_db_row_double(const core_db_row *row, int col)
{
    return sqlite3_column_double(row->st, col);
}

const char *core_db_row_text(const core_db_row *row, int col, size_t *len)
{
    const unsigned char *t = sqlite3_column_text(row->st, col);
    if (len) *len = t ? (size_t)sqlite3_column_bytes(row->st, col) : 0;
    return (const char *)t;
}

const void *core_db_row_blob(const core_db_row *row, int col, size_t *len)
{
    const void *b = sqlite3_column_blob(row->st, col);
    if (len) *len = (size_t)sqlite3_column_bytes(row->st, col);
    return b;
}

const char *core_db_row_column_name(const core_db_row *row, int col)
{
    return sqlite3_column_name(row->st, col);
}
