/* JSON bodies for the HTTP server and client: a bounded body buffer, parsing with size, depth
 * and UTF-8 limits (jansson underneath), compact serialisation and the error body shape
 * {"error":{"code":"...","message":"..."}}.
 *
 * Everything here is thread safe for distinct objects and allocates only what it returns or
 * what the buffer grows to. */
#ifndef CORE_HTTP_JSON_H
#define CORE_HTTP_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CORE_JSON_DEFAULT_MAX_BYTES (1024u * 1024u)
#define CORE_JSON_DEFAULT_MAX_DEPTH 32u

/* ---- Bounded body buffer ---- */

/* A growable byte buffer that refuses to grow past `max`. Initialise with core_body_init; the
 * data is always NUL-terminated (one byte beyond len) so text parsers may read it. */
typedef struct core_body {
    char *data;
    size_t len, cap, max;
} core_body;

/* Sets b empty with limit `max` bytes (0: CORE_JSON_DEFAULT_MAX_BYTES). No allocation. */
void core_body_init(core_body *b, size_t max);
/* Appends n bytes. Returns 0, CORE_ETOOBIG when len would pass max (nothing is appended), or
 * CORE_ENOMEM. */
int core_body_append(core_body *b, const void *p, size_t n);
/* Empties b; keeps its memory unless the capacity is above keep (then frees it). */
void core_body_reset(core_body *b, size_t keep);
/* Frees the memory; b is empty and reusable. */
void core_body_free(core_body *b);

/* ---- Parsing ---- */

typedef struct core_json_limits {
    size_t max_bytes;   /* 0: CORE_JSON_DEFAULT_MAX_BYTES */
    unsigned max_depth; /* nesting of arrays/objects; 0: CORE_JSON_DEFAULT_MAX_DEPTH */
    bool allow_any;     /* accept any JSON value at the top; false: an object is required */
} core_json_limits;

typedef enum core_json_problem {
    CORE_JSON_OK = 0,
    CORE_JSON_EMPTY,       /* no bytes (or only whitespace) */
    CORE_JSON_TOO_BIG,     /* over max_bytes */
    CORE_JSON_TOO_DEEP,    /* nesting over max_depth */
    CORE_JSON_BAD_UTF8,    /* the body is not valid UTF-8 (RFC 3629: no overlongs, no
                            * surrogates, nothing above U+10FFFF) */
    CORE_JSON_MALFORMED,   /* not JSON (RFC 8259), a duplicated object key, or a \u0000 */
    CORE_JSON_NOT_OBJECT,  /* valid JSON whose top value is not an object */
    CORE_JSON_NO_MEMORY,
} core_json_problem;

/* What went wrong, for the 400 answer. message is printable ASCII (safe to echo). */
typedef struct core_json_diag {
    core_json_problem problem;
    int line, column;  /* 1-based position from jansson when known, else 0 */
    char message[160];
} core_json_diag;

/* Parses data[0..len) under lim (NULL: defaults). On success stores a new reference in *out
 * (the caller owns it) and returns 0. Otherwise *out is NULL, diag (may be NULL) says why, and
 * the result is CORE_ETOOBIG (TOO_BIG), CORE_ENOMEM, or CORE_EINVAL (every other problem).
 * The size, UTF-8 and depth checks run before jansson, in one linear pass. */
int core_json_parse(const void *data, size_t len, const core_json_limits *lim, json_t **out,
                    core_json_diag *diag);

/* A stable machine-readable code for a problem ("malformed_json", "invalid_utf8",
 * "body_too_large", "json_too_deep", "empty_body", "json_not_object", "out_of_memory"). */
const char *core_json_problem_code(core_json_problem p);

/* True when s[0..len) is valid UTF-8 (RFC 3629). */
bool core_utf8_valid(const void *s, size_t len);

/* ---- Output ---- */

/* Serialises j compactly (keys in insertion order) into a new malloc'd NUL-terminated string;
 * stores its length in *len (may be NULL). NULL on failure (or when j is NULL). */
char *core_json_dump(const json_t *j, size_t *len);

/* Builds {"error":{"code":code,"message":message}}. Bytes of code/message that are not valid
 * UTF-8 are replaced by '?'; NULL strings become "". Returns a new reference or NULL on
 * allocation failure. */
json_t *core_json_error_body(const char *code, const char *message);

#ifdef __cplusplus
}
#endif
#endif
