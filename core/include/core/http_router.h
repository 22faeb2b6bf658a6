/* HTTP request router: path patterns with parameters, method sets, most-specific match.
 *
 * Patterns are absolute paths of '/'-separated segments. A segment is either
 *   - static text (no '{', '}', '%' or '?'), matched exactly (case-sensitive),
 *   - a parameter "{name}" (name: [A-Za-z_][A-Za-z0-9_]*, at most 64 bytes), matching one
 *     non-empty segment,
 *   - a catch-all "{name...}", only as the last segment, matching the rest of the path (zero or
 *     more segments, slashes included).
 * "/" is the root. At most CORE_ROUTER_MAX_PARAMS parameters and 32 segments per pattern.
 *
 * Matching: the path is split at '/' (an empty segment, e.g. from a trailing slash, is matched
 * only by an identical static pattern or a catch-all). A static segment wins over a parameter,
 * which wins over a catch-all, at every depth, whatever the registration order; the first
 * candidate (in that order) that accepts the method is the match. When some pattern matches
 * the path but none accepts the method, the result is CORE_ROUTE_BAD_METHOD with the union of
 * the methods those patterns accept (for a 405 Allow header). A pattern that accepts GET also
 * accepts HEAD. Matching costs O(pattern nodes) and never recurses deeper than the path has
 * segments (at most 64).
 *
 * Percent-decoding: by default the path is raw (as on the request line): each segment is
 * percent-decoded after splitting, so "%2F" stays inside its segment, "%00" and malformed
 * escapes make the path invalid (CORE_ROUTE_BAD_PATH), and the match stops at '?'. With
 * CORE_ROUTER_DECODED the path is taken as already decoded (libwebsockets decodes and
 * normalises the request path before the server sees it, so there an encoded '/' already
 * separates segments).
 *
 * Thread safety: add routes before matching starts; matching only reads and may run on any
 * number of threads at once. */
#ifndef CORE_HTTP_ROUTER_H
#define CORE_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* HTTP methods as bits (a route accepts a set of them). */
typedef enum core_http_method {
    CORE_HTTP_GET = 1u << 0,
    CORE_HTTP_HEAD = 1u << 1,
    CORE_HTTP_POST = 1u << 2,
    CORE_HTTP_PUT = 1u << 3,
    CORE_HTTP_PATCH = 1u << 4,
    CORE_HTTP_DELETE = 1u << 5,
    CORE_HTTP_OPTIONS = 1u << 6,
} core_http_method;

#define CORE_HTTP_ANY_METHOD 0x7fu

/* The method's name ("GET"), or "_OTHER" for anything that is not exactly one known bit (as the
 * semantic conventions name unknown methods). Static string. */
const char *core_http_method_name(unsigned method);
/* The bit of the method named s[0..len) (case-sensitive, as HTTP methods are), or 0. */
unsigned core_http_method_parse(const char *s, size_t len);
/* Writes the methods of `set` as "GET, HEAD, POST" (an Allow header value) into buf (cap bytes,
 * NUL-terminated, truncated when too small). Returns the length. */
size_t core_http_methods_format(unsigned set, char *buf, size_t cap);

#define CORE_ROUTER_MAX_PARAMS 8

/* Flags for core_router_match. */
enum {
    CORE_ROUTER_DECODED = 1u << 0, /* the path is already percent-decoded */
};

typedef enum core_route_result {
    CORE_ROUTE_OK = 0,         /* m->target is the handler */
    CORE_ROUTE_NOT_FOUND,      /* no pattern matches the path (404) */
    CORE_ROUTE_BAD_METHOD,     /* the path matches, the method does not (405; see m->allowed) */
    CORE_ROUTE_BAD_PATH,       /* the path is malformed: not absolute, a bad escape, %00, too
                                * many segments, or scratch space too small (400) */
} core_route_result;

/* The outcome of a match. Strings point into the router (pattern, names) or into the caller's
 * scratch buffer (values) and stay valid while both do. */
typedef struct core_route_match {
    void *target;        /* CORE_ROUTE_OK: what was registered */
    const char *pattern; /* CORE_ROUTE_OK: the pattern as registered ("/v1/servers/{id}") */
    unsigned allowed;    /* CORE_ROUTE_OK / BAD_METHOD: methods the matched path accepts */
    size_t n_params;
    const char *names[CORE_ROUTER_MAX_PARAMS];
    const char *values[CORE_ROUTER_MAX_PARAMS]; /* decoded, NUL-terminated (may hold any byte
                                                 * but NUL: validate before use) */
    size_t value_lens[CORE_ROUTER_MAX_PARAMS];
} core_route_match;

typedef struct core_router core_router;

/* Creates an empty router. NULL on allocation failure. The caller owns it. */
core_router *core_router_create(void);
/* Frees r and everything it copied. NULL allowed. */
void core_router_destroy(core_router *r);

/* Registers `target` (borrowed, opaque) for `methods` (a non-empty set of core_http_method
 * bits) on `pattern` (copied). Returns 0, CORE_EINVAL for a malformed pattern or empty method
 * set, CORE_EEXIST when a method is already registered for an equivalent pattern (same shape;
 * parameter names do not matter), CORE_ENOMEM. Not thread safe against matching. */
int core_router_add(core_router *r, unsigned methods, const char *pattern, void *target);

/* Matches `method` (one bit) and path[0..len) (see the top of this file for `flags`). `scratch`
 * (capacity cap; len + 1 bytes are always enough) receives the decoded segments; m is filled
 * as described for each result. Thread safe; no allocation. */
core_route_result core_router_match(const core_router *r, unsigned method, const char *path,
                                    size_t len, unsigned flags, char *scratch, size_t cap,
                                    core_route_match *m);

/* The value of parameter `name` of a match, or NULL. */
const char *core_route_param(const core_route_match *m, const char *name);

#ifdef __cplusplus
}
#endif
#endif
