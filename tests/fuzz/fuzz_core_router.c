/* Fuzz target for the HTTP router (core/src/http_router.c).
 *
 * Input: byte 0 selects the method (low 3 bits), the path mode (bit 3: already decoded) and
 * the table (bit 7: the rest holds '\n'-separated patterns to register, then a NUL, then the
 * path; otherwise a fixed service-like table is used and the rest is the path).
 * Invariants: no crash or leak; a match is deterministic; a match's parameters are
 * NUL-terminated, NUL-free, no longer than the path, and there are as many as the pattern
 * names; 405 comes with a non-empty Allow set; a bad path never reports a match. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http_router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static core_router *fixed;
static int targets[16];

static core_router *fixed_router(void)
{
    if (fixed)
        return fixed;
    fixed = core_router_create();
    static const struct {
        unsigned m;
        const char *p;
    } routes[] = {
        {CORE_HTTP_GET | CORE_HTTP_POST, "/v1/servers"},
        {CORE_HTTP_GET | CORE_HTTP_PUT | CORE_HTTP_DELETE, "/v1/servers/{id}"},
        {CORE_HTTP_POST, "/v1/servers/{id}/power/{action}"},
        {CORE_HTTP_GET, "/v1/servers/new"},
        {CORE_HTTP_PATCH, "/v1/{kind}/{id}"},
        {CORE_HTTP_GET, "/static/{path...}"},
        {CORE_HTTP_GET, "/"},
        {CORE_HTTP_GET, "/trail/"},
        {CORE_HTTP_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}"},
        {CORE_HTTP_OPTIONS, "/v1/sessions/{sid}/ws"},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (core_router_add(fixed, routes[i].m, routes[i].p, &targets[i]) != 0)
            abort();
    return fixed;
}

static void check(core_router *r, unsigned method, const char *path, size_t len, unsigned flags)
{
    char *scratch = malloc(len + 2);
    char *scratch2 = malloc(len + 2);
    if (!scratch || !scratch2) {
        free(scratch);
        free(scratch2);
        return;
    }
    core_route_match m, m2;
    core_route_result rr = core_router_match(r, method, path, len, flags, scratch, len + 2, &m);
    core_route_result rr2 = core_router_match(r, method, path, len, flags, scratch2, len + 2, &m2);
    if (rr != rr2 || m.target != m2.target || m.n_params != m2.n_params || m.allowed != m2.allowed)
        abort();
    if (rr == CORE_ROUTE_OK) {
        if (!m.target || !m.pattern || m.n_params > CORE_ROUTER_MAX_PARAMS)
            abort();
        for (size_t i = 0; i < m.n_params; i++) {
            if (!m.names[i] || !m.values[i])
                abort();
            if (strlen(m.values[i]) != m.value_lens[i] || m.value_lens[i] > len)
                abort();
            if (strcmp(m.values[i], m2.values[i]) != 0)
                abort();
            if (core_route_param(&m, m.names[i]) == NULL)
                abort();
        }
    } else if (rr == CORE_ROUTE_BAD_METHOD) {
        if (m.allowed == 0)
            abort();
        char allow[128];
        if (core_http_methods_format(m.allowed, allow, sizeof allow) == 0)
            abort();
    } else if (rr == CORE_ROUTE_BAD_PATH || rr == CORE_ROUTE_NOT_FOUND) {
        if (m.target)
            abort();
    } else {
        abort();
    }
    /* A scratch buffer that is too small must fail cleanly. */
    if (len > 1) {
        core_route_result small = core_router_match(r, method, path, len, flags, scratch, 1, &m);
        if (small == CORE_ROUTE_OK && len > 1 && m.n_params > 0 && m.value_lens[0] > 0)
            abort();
    }
    free(scratch);
    free(scratch2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const unsigned methods[8] = {CORE_HTTP_GET,    CORE_HTTP_HEAD,  CORE_HTTP_POST,
                                        CORE_HTTP_PUT,    CORE_HTTP_PATCH, CORE_HTTP_DELETE,
                                        CORE_HTTP_OPTIONS, 0};
    unsigned method = methods[data[0] & 7];
    unsigned flags = (data[0] & 8) ? CORE_ROUTER_DECODED : 0;
    const char *rest = (const char *)data + 1;
    size_t rlen = size - 1;
    if (!(data[0] & 0x80)) {
        check(fixed_router(), method, rest, rlen, flags);
        return 0;
    }
    const char *nul = memchr(rest, '\0', rlen);
    if (!nul)
        return 0;
    core_router *r = core_router_create();
    if (!r)
        return 0;
    char line[512];
    const char *p = rest;
    int k = 0;
    while (p < nul && k < 64) {
        const char *e = memchr(p, '\n', (size_t)(nul - p));
        if (!e)
            e = nul;
        size_t l = (size_t)(e - p);
        if (l < sizeof line && l > 0) {
            memcpy(line, p, l);
            line[l] = '\0';
            unsigned ms = (unsigned)(k * 37 + 1) & CORE_HTTP_ANY_METHOD;
            int rc = core_router_add(r, ms ? ms : CORE_HTTP_GET, line, &targets[k & 15]);
            (void)rc;
            k++;
        }
        p = e + 1;
    }
    check(r, method, nul + 1, (size_t)(rest + rlen - (nul + 1)), flags);
    core_router_destroy(r);
    return 0;
}
