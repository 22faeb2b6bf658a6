/* HTTP router: a segment trie (static children, one parameter child, one catch-all child per
 * node) searched depth-first in specificity order. */
#include "core/http_router.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define MAX_PATTERN_SEGMENTS 32
#define MAX_PATH_SEGMENTS 64
#define MAX_NAME 64

typedef struct route_entry {
    unsigned methods;
    void *target;
    char *pattern;
    size_t n_names;
    char *names[CORE_ROUTER_MAX_PARAMS];
} route_entry;

typedef struct rnode {
    char *seg; /* static text of this node (NULL for root, parameter and catch-all nodes) */
    size_t seg_len;
    struct rnode **statics;
    size_t n_statics;
    struct rnode *param;
    struct rnode *catchall;
    route_entry *entries;
    size_t n_entries;
} rnode;

struct core_router {
    rnode root;
};

static const struct {
    unsigned bit;
    const char *name;
} method_names[] = {
    {CORE_HTTP_GET, "GET"},         {CORE_HTTP_HEAD, "HEAD"},     {CORE_HTTP_POST, "POST"},
    {CORE_HTTP_PUT, "PUT"},         {CORE_HTTP_PATCH, "PATCH"},   {CORE_HTTP_DELETE, "DELETE"},
    {CORE_HTTP_OPTIONS, "OPTIONS"},
};
#define N_METHODS (sizeof method_names / sizeof method_names[0])

const char *core_http_method_name(unsigned method)
{
    for (size_t i = 0; i < N_METHODS; i++)
        if (method_names[i].bit == method)
            return method_names[i].name;
    return "_OTHER";
}

unsigned core_http_method_parse(const char *s, size_t len)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < N_METHODS; i++)
        if (strlen(method_names[i].name) == len && memcmp(method_names[i].name, s, len) == 0)
            return method_names[i].bit;
    return 0;
}

size_t core_http_methods_format(unsigned set, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_METHODS; i++) {
        if (!(set & method_names[i].bit))
            continue;
        int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", method_names[i].name);
        if (w < 0 || (size_t)w >= cap - len) {
            buf[len] = '\0';
            break;
        }
        len += (size_t)w;
    }
    return len;
}

core_router *core_router_create(void)
{
    return calloc(1, sizeof(core_router));
}

static void node_free(rnode *n, bool self)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_statics; i++)
        node_free(n->statics[i], true);
    free(n->statics);
    node_free(n->param, true);
    node_free(n->catchall, true);
    for (size_t i = 0; i < n->n_entries; i++) {
        free(n->entries[i].pattern);
        for (size_t j = 0; j < n->entries[i].n_names; j++)
            free(n->entries[i].names[j]);
    }
    free(n->entries);
    free(n->seg);
    if (self)
        free(n);
}

void core_router_destroy(core_router *r)
{
    if (!r)
        return;
    node_free(&r->root, false);
    free(r);
}

/* ---- Pattern parsing ---- */

typedef enum seg_kind { SEG_STATIC, SEG_PARAM, SEG_CATCHALL } seg_kind;

typedef struct pseg {
    seg_kind kind;
    const char *text; /* static text or parameter name */
    size_t len;
} pseg;

static bool name_char(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    return !first && c >= '0' && c <= '9';
}

/* Splits a pattern into segments; returns the count or -1 when malformed. */
static int parse_pattern(const char *p, pseg *segs, size_t *n_params)
{
    size_t len = strlen(p);
    *n_params = 0;
    if (len == 0 || p[0] != '/')
        return -1;
    if (len == 1)
        return 0;
    int n = 0;
    size_t i = 1;
    for (;;) {
        size_t start = i;
        while (i < len && p[i] != '/')
            i++;
        const char *s = p + start;
        size_t sl = i - start;
        if (n == MAX_PATTERN_SEGMENTS)
            return -1;
        pseg *g = &segs[n];
        if (sl >= 2 && s[0] == '{' && s[sl - 1] == '}') {
            const char *name = s + 1;
            size_t nl = sl - 2;
            g->kind = SEG_PARAM;
            if (nl > 3 && memcmp(name + nl - 3, "...", 3) == 0) {
                g->kind = SEG_CATCHALL;
                nl -= 3;
            }
            if (nl == 0 || nl > MAX_NAME)
                return -1;
            for (size_t k = 0; k < nl; k++)
                if (!name_char(name[k], k == 0))
                    return -1;
            if (*n_params == CORE_ROUTER_MAX_PARAMS)
                return -1;
            (*n_params)++;
            g->text = name;
            g->len = nl;
        } else {
            for (size_t k = 0; k < sl; k++) {
                char c = s[k];
                if (c == '{' || c == '}' || c == '%' || c == '?' || (unsigned char)c < 0x21 ||
                    c == 0x7f)
                    return -1;
            }
            g->kind = SEG_STATIC;
            g->text = s;
            g->len = sl;
        }
        n++;
        if (g->kind == SEG_CATCHALL && i < len)
            return -1; /* catch-all only last */
        if (i >= len)
            break;
        i++; /* skip '/' */
        if (i == len) {
            /* trailing slash: an empty static segment */
            if (n == MAX_PATTERN_SEGMENTS)
                return -1;
            segs[n].kind = SEG_STATIC;
            segs[n].text = p + i;
            segs[n].len = 0;
            n++;
            break;
        }
    }
    return n;
}

static rnode *static_child(rnode *n, const char *s, size_t len, bool create)
{
    for (size_t i = 0; i < n->n_statics; i++)
        if (n->statics[i]->seg_len == len && memcmp(n->statics[i]->seg, s, len) == 0)
            return n->statics[i];
    if (!create)
        return NULL;
    rnode **grown = realloc(n->statics, (n->n_statics + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    n->statics = grown;
    rnode *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->seg = malloc(len + 1);
    if (!c->seg) {
        free(c);
        return NULL;
    }
    memcpy(c->seg, s, len);
    c->seg[len] = '\0';
    c->seg_len = len;
    n->statics[n->n_statics++] = c;
    return c;
}

int core_router_add(core_router *r, unsigned methods, const char *pattern, void *target)
{
    if (!r || !pattern || (methods & CORE_HTTP_ANY_METHOD) == 0 || (methods & ~CORE_HTTP_ANY_METHOD))
        return CORE_EINVAL;
    pseg segs[MAX_PATTERN_SEGMENTS];
    size_t n_params;
    int n = parse_pattern(pattern, segs, &n_params);
    if (n < 0)
        return CORE_EINVAL;
    /* Parameter names must be distinct within a pattern. */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (segs[i].kind != SEG_STATIC && segs[j].kind != SEG_STATIC &&
                segs[i].len == segs[j].len && memcmp(segs[i].text, segs[j].text, segs[i].len) == 0)
                return CORE_EINVAL;
    rnode *node = &r->root;
    for (int i = 0; i < n; i++) {
        rnode **slot = NULL;
        switch (segs[i].kind) {
        case SEG_STATIC:
            node = static_child(node, segs[i].text, segs[i].len, true);
            if (!node)
                return CORE_ENOMEM;
            continue;
        case SEG_PARAM:
            slot = &node->param;
            break;
        case SEG_CATCHALL:
            slot = &node->catchall;
            break;
        }
        if (!*slot) {
            *slot = calloc(1, sizeof **slot);
            if (!*slot)
                return CORE_ENOMEM;
        }
        node = *slot;
    }
    for (size_t i = 0; i < node->n_entries; i++)
        if (node->entries[i].methods & methods)
            return CORE_EEXIST;
    route_entry e = {.methods = methods, .target = target};
    e.pattern = strdup(pattern);
    if (!e.pattern)
        return CORE_ENOMEM;
    for (int i = 0; i < n; i++) {
        if (segs[i].kind == SEG_STATIC)
            continue;
        char *nm = malloc(segs[i].len + 1);
        if (!nm)
            goto nomem;
        memcpy(nm, segs[i].text, segs[i].len);
        nm[segs[i].len] = '\0';
        e.names[e.n_names++] = nm;
    }
    route_entry *grown = realloc(node->entries, (node->n_entries + 1) * sizeof *grown);
    if (!grown)
        goto nomem;
    node->entries = grown;
    node->entries[node->n_entries++] = e;
    return CORE_OK;
nomem:
    free(e.pattern);
    for (size_t j = 0; j < e.n_names; j++)
        free(e.names[j]);
    return CORE_ENOMEM;
}

/* ---- Matching ---- */

typedef struct mstate {
    unsigned method;
    size_t nseg;
    const char *seg[MAX_PATH_SEGMENTS]; /* decoded, NUL-terminated */
    size_t seglen[MAX_PATH_SEGMENTS];
    size_t bound[CORE_ROUTER_MAX_PARAMS + 1]; /* depths bound to parameters, in order */
    size_t nbound;
    unsigned allowed; /* union over path matches */
    bool path_matched;
    const route_entry *hit;
    size_t hit_bound[CORE_ROUTER_MAX_PARAMS + 1];
    size_t hit_nbound;
    size_t catch_depth; /* SIZE_MAX when the hit has no catch-all */
} mstate;

static unsigned effective(unsigned m)
{
    return (m & CORE_HTTP_GET) ? (m | CORE_HTTP_HEAD) : m;
}

/* Considers the entries of a node the whole path reached. Returns true when one accepts. */
static bool try_entries(mstate *st, const rnode *n, size_t catch_depth)
{
    if (n->n_entries == 0)
        return false;
    st->path_matched = true;
    const route_entry *pick = NULL;
    for (size_t i = 0; i < n->n_entries && !pick; i++)
        if (n->entries[i].methods & st->method)
            pick = &n->entries[i];
    for (size_t i = 0; i < n->n_entries && !pick; i++)
        if (effective(n->entries[i].methods) & st->method)
            pick = &n->entries[i];
    for (size_t i = 0; i < n->n_entries; i++)
        st->allowed |= effective(n->entries[i].methods);
    if (!pick)
        return false;
    st->hit = pick;
    memcpy(st->hit_bound, st->bound, st->nbound * sizeof st->bound[0]);
    st->hit_nbound = st->nbound;
    st->catch_depth = catch_depth;
    return true;
}

static bool dfs(mstate *st, const rnode *n, size_t depth)
{
    if (depth == st->nseg) {
        if (try_entries(st, n, SIZE_MAX))
            return true;
    } else {
        const char *s = st->seg[depth];
        size_t sl = st->seglen[depth];
        for (size_t i = 0; i < n->n_statics; i++) {
            const rnode *c = n->statics[i];
            if (c->seg_len == sl && memcmp(c->seg, s, sl) == 0) {
                if (dfs(st, c, depth + 1))
                    return true;
                break;
            }
        }
        if (n->param && sl > 0 && st->nbound < CORE_ROUTER_MAX_PARAMS) {
            st->bound[st->nbound++] = depth;
            if (dfs(st, n->param, depth + 1))
                return true;
            st->nbound--;
        }
    }
    if (n->catchall && st->nbound < CORE_ROUTER_MAX_PARAMS) {
        st->bound[st->nbound++] = depth;
        bool ok = try_entries(st, n->catchall, depth);
        st->nbound--;
        if (ok)
            return true;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

core_route_result core_router_match(const core_router *r, unsigned method, const char *path,
                                    size_t len, unsigned flags, char *scratch, size_t cap,
                                    core_route_match *m)
{
    memset(m, 0, sizeof *m);
    if (!r || !path || len == 0 || path[0] != '/' || !scratch || cap == 0)
        return CORE_ROUTE_BAD_PATH;
    bool decoded = (flags & CORE_ROUTER_DECODED) != 0;
    if (!decoded) {
        const char *q = memchr(path, '?', len);
        if (q)
            len = (size_t)(q - path);
    }
    mstate st;
    st.method = method;
    st.nseg = 0;
    st.nbound = 0;
    st.allowed = 0;
    st.path_matched = false;
    st.hit = NULL;
    st.hit_nbound = 0;
    st.catch_depth = SIZE_MAX;
    size_t out = 0;
    size_t i = 1;
    if (len > 1) {
        for (;;) {
            if (st.nseg == MAX_PATH_SEGMENTS)
                return CORE_ROUTE_BAD_PATH;
            size_t start = out;
            while (i < len && path[i] != '/') {
                char c = path[i];
                if (c == '\0')
                    return CORE_ROUTE_BAD_PATH;
                if (!decoded && c == '%') {
                    int hi = i + 2 < len ? hexval(path[i + 1]) : -1;
                    int lo = hi >= 0 ? hexval(path[i + 2]) : -1;
                    if (lo < 0 || (hi == 0 && lo == 0))
                        return CORE_ROUTE_BAD_PATH;
                    c = (char)(hi << 4 | lo);
                    i += 2;
                }
                if (out + 1 >= cap)
                    return CORE_ROUTE_BAD_PATH;
                scratch[out++] = c;
                i++;
            }
            if (out >= cap)
                return CORE_ROUTE_BAD_PATH;
            scratch[out++] = '\0';
            st.seg[st.nseg] = scratch + start;
            st.seglen[st.nseg] = out - 1 - start;
            st.nseg++;
            if (i >= len)
                break;
            i++; /* the '/' */
            if (i == len) {
                /* trailing slash: one empty segment */
                if (st.nseg == MAX_PATH_SEGMENTS || out >= cap)
                    return CORE_ROUTE_BAD_PATH;
                scratch[out] = '\0';
                st.seg[st.nseg] = scratch + out;
                st.seglen[st.nseg] = 0;
                out++;
                st.nseg++;
                break;
            }
        }
    }
    if (!dfs(&st, &r->root, 0)) {
        m->allowed = st.allowed;
        return st.path_matched ? CORE_ROUTE_BAD_METHOD : CORE_ROUTE_NOT_FOUND;
    }
    const route_entry *e = st.hit;
    m->target = e->target;
    m->pattern = e->pattern;
    m->allowed = st.allowed;
    m->n_params = e->n_names;
    for (size_t k = 0; k < e->n_names && k < st.hit_nbound; k++) {
        size_t d = st.hit_bound[k];
        m->names[k] = e->names[k];
        if (d == st.catch_depth) {
            if (d >= st.nseg) {
                m->values[k] = "";
                m->value_lens[k] = 0;
                continue;
            }
            /* Join the remaining segments with '/' in place (they are contiguous). */
            char *first = (char *)st.seg[d];
            size_t total = 0;
            for (size_t j = d; j < st.nseg; j++) {
                total += st.seglen[j];
                if (j + 1 < st.nseg) {
                    first[total] = '/';
                    total++;
                }
            }
            m->values[k] = first;
            m->value_lens[k] = total;
        } else {
            m->values[k] = st.seg[d];
            m->value_lens[k] = st.seglen[d];
        }
    }
    return CORE_ROUTE_OK;
}

const char *core_route_param(const core_route_match *m, const char *name)
{
    if (!m || !name)
        return NULL;
    for (size_t i = 0; i < m->n_params; i++)
        if (m->names[i] && strcmp(m->names[i], name) == 0)
            return m->values[i];
    return NULL;
}
