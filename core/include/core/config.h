/* Service configuration: one table of settings, read from environment variables and optionally
 * from a configuration file, validated, with typed getters and `--help` text generated from the
 * same table.
 *
 * Each setting has a key that is both its environment variable and its name in the file
 * ([A-Z_][A-Z0-9_]*), a type, a default, a help line, a range and flags. Where a value comes
 * from, highest precedence first:
 *   1. the environment variable (an empty value counts as unset, as for OTEL_* variables),
 *   2. the configuration file, when one is given,
 *   3. the default in the table.
 * A setting with CORE_CFG_REQUIRED and no value from any source is an error.
 *
 * Value syntax per type:
 *   STRING    any text; min/max, when not both 0, bound its length in bytes.
 *   INT       a decimal integer (optional sign, no spaces inside) in [min, max] (both 0: the
 *             whole int64 range).
 *   BOOL      true/false, yes/no, on/off, 1/0 (case-insensitive).
 *   DURATION  a non-negative integer followed by a unit: ms, s, m or h ("250ms", "5s", "2m");
 *             a bare number is refused as ambiguous. Read back in milliseconds; min/max (ms),
 *             when not both 0, bound it.
 *   URL       an absolute URL with a scheme and a host (parsed by libcurl's URL API), e.g.
 *             "http://127.0.0.1:4317"; min/max as for STRING.
 * Surrounding spaces and tabs are ignored for every type but STRING.
 *
 * The file holds `KEY=value` lines. Blank lines and lines starting with '#' are ignored; spaces
 * around the key and the value are trimmed; a value wrapped in matching double or single quotes
 * loses the quotes (no escapes). An unknown key, a line without '=', or a line over 4095 bytes
 * is an error naming the file and line. A key given twice keeps the last value.
 *
 * Secrets (CORE_CFG_SECRET): their values never appear in error messages, help text or
 * core_config_write_values output.
 *
 * Thread safety: create/load/parse_args run once at start-up on one thread; afterwards the
 * getters only read and may be called from any thread. */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum core_config_type {
    CORE_CFG_STRING = 1,
    CORE_CFG_INT,
    CORE_CFG_BOOL,
    CORE_CFG_DURATION,
    CORE_CFG_URL,
} core_config_type;

/* Flags of a setting. */
enum {
    CORE_CFG_SECRET = 1u << 0,   /* never print the value */
    CORE_CFG_REQUIRED = 1u << 1, /* a value must come from the environment or the file */
};

/* One row of the settings table. The table and its strings are borrowed by the core_config and
 * must outlive it (normally a static const array). */
typedef struct core_config_item {
    const char *key;       /* environment variable and file key, [A-Z_][A-Z0-9_]* */
    core_config_type type;
    const char *def;       /* default in the type's syntax; NULL: none (getter gives 0/NULL) */
    const char *help;      /* one line for --help */
    int64_t min, max;      /* range (see the type list above); both 0: no range */
    unsigned flags;        /* CORE_CFG_* */
} core_config_item;

/* Where a setting's value came from. */
typedef enum core_config_source {
    CORE_CFG_SRC_NONE = 0, /* no value at all (no default) */
    CORE_CFG_SRC_DEFAULT,
    CORE_CFG_SRC_FILE,
    CORE_CFG_SRC_ENV,
} core_config_source;

typedef struct core_config core_config;

/* Creates a configuration for program `prog` (copied; used in --help) over items[0..n) (borrowed,
 * see core_config_item). The table itself is checked: a malformed or duplicated key, a missing
 * type, or a default that is not valid for its type and range makes this return NULL after
 * printing the reason on stderr (a programming error). Values are not read yet: call
 * core_config_load or core_config_parse_args. The caller owns the result. */
core_config *core_config_create(const char *prog, const core_config_item *items, size_t n);

/* Frees c and every value it holds. NULL is allowed. */
void core_config_destroy(core_config *c);

/* Reads every setting from the environment and, when file is not NULL, from that file, then
 * validates them all. On failure returns CORE_ECONFIG (or CORE_ENOMEM) and writes into err
 * (capacity errcap, always NUL-terminated, may be NULL/0) one line per problem, each naming the
 * key (and the file and line for file problems) and why, e.g.
 * "MANAGER_PORT: \"80x\" is not an integer". Secret values are never quoted. c then keeps the
 * values of the settings that were valid. Calling it again re-reads everything. Returns 0 on
 * success. */
int core_config_load(core_config *c, const char *file, char *err, size_t errcap);

/* Handles the command line, then loads: `--help`/`-h` writes the help text to `out` (stdout
 * when NULL) and returns 1 without loading; `--config FILE` or `--config=FILE` names the file
 * for core_config_load; anything else is an error (CORE_ECONFIG with the argument named in
 * err). Returns 0 when loaded, 1 for help, or a negative code as core_config_load. */
int core_config_parse_args(core_config *c, int argc, char *const *argv, FILE *out, char *err,
                           size_t errcap);

/* Writes the help text: usage line, the precedence rule, then one entry per setting with its
 * type, range, default (secret defaults shown as "(hidden)"), "required" and the help line.
 * Returns 0 or CORE_EIO when writing failed. */
int core_config_write_help(const core_config *c, FILE *out);

/* Writes "KEY=value (source)" for every setting, secrets as "KEY=(hidden) (source)" — for a
 * start-up log line or a debug endpoint. Returns 0 or CORE_EIO. */
int core_config_write_values(const core_config *c, FILE *out);

/* ---- Typed getters (after a successful load) ----
 * `key` must be a key of the table with the getter's type: anything else is a programming error
 * that prints the key on stderr and aborts. A setting without a value reads as NULL / 0 /
 * false. */

/* The text of a STRING or URL setting (owned by c, valid until the next load or destroy). */
const char *core_config_str(const core_config *c, const char *key);
/* The same for a URL setting. */
const char *core_config_url(const core_config *c, const char *key);
int64_t core_config_int(const core_config *c, const char *key);
bool core_config_bool(const core_config *c, const char *key);
/* A DURATION in milliseconds. */
int64_t core_config_duration_ms(const core_config *c, const char *key);
/* Where the value of key came from (any type). Aborts on an unknown key. */
core_config_source core_config_source_of(const core_config *c, const char *key);

/* ---- Value parsers (also used by the table check and the unit tests) ----
 * Each returns 0 with *out set, or CORE_EINVAL with a short reason in *why (a static string). */
int core_config_parse_int(const char *s, int64_t *out, const char **why);
int core_config_parse_bool(const char *s, bool *out, const char **why);
int core_config_parse_duration_ms(const char *s, int64_t *out, const char **why);
int core_config_check_url(const char *s, const char **why);

#ifdef __cplusplus
}
#endif
#endif
