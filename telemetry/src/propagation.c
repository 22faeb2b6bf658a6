/* The composite propagator (OTEL_PROPAGATORS), the W3C tracecontext and baggage
 * extract/inject steps, and the process-wide propagator. */
#include "propagation_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define MAX_FORMATS 5

struct tel_propagator {
    unsigned formats;
    uint8_t n;
    uint8_t order[MAX_FORMATS]; /* TEL_PROP_* bit index, in configuration order */
    struct tel_propagator *retired_next; /* chain of replaced global propagators */
};

/* ---- carrier helpers ---- */

size_t tel__carrier_get_all(const tel_carrier *c, const char *name, const char **vals,
                            size_t *lens, size_t max)
{
    if (c->get_all)
        return c->get_all(c->ud, name, vals, lens, max);
    if (!c->get || max == 0)
        return 0;
    size_t len = 0;
    const char *v = c->get(c->ud, name, &len);
    if (!v)
        return 0;
    vals[0] = v;
    lens[0] = len;
    return 1;
}

/* ---- W3C tracecontext ---- */

int tel__tracecontext_extract(const tel_carrier *c, tel_span_context *sc, tel_tracestate **ts)
{
    const char *v[TEL__MAX_HEADER_LINES];
    size_t l[TEL__MAX_HEADER_LINES];
    /* Two traceparent values are ambiguous: both are ignored and a new trace starts. */
    size_t n = tel__carrier_get_all(c, "traceparent", v, l, 2);
    if (n == 0)
        return TEL_ENOTFOUND;
    if (n != 1)
        return TEL_EINVAL;
    tel_span_context parsed;
    if (tel_traceparent_parse(v[0], l[0], &parsed) != TEL_OK)
        return TEL_EINVAL;
    *sc = parsed;
    *ts = NULL;
    n = tel__carrier_get_all(c, "tracestate", v, l, TEL__MAX_HEADER_LINES);
    if (n > 0 && n <= TEL__MAX_HEADER_LINES)
        *ts = tel_tracestate_parse(v, l, n, NULL);
    return TEL_OK;
}

int tel__tracecontext_inject(const tel_context *ctx, const tel_carrier *c)
{
    if (!tel__sc_valid(&ctx->sc))
        return TEL_OK;
    char tp[TEL_TRACEPARENT_LEN + 1];
    tel_traceparent_format(&ctx->sc, tp);
    int rc = c->set(c->ud, "traceparent", tp);
    if (rc == TEL_OK && ctx->ts && tel_tracestate_count(ctx->ts) > 0)
        rc = c->set(c->ud, "tracestate", tel_tracestate_str(ctx->ts, NULL));
    return rc;
}

/* ---- W3C baggage ---- */

void tel__baggage_extract(const tel_carrier *c, tel_baggage **bag)
{
    const char *v[TEL__MAX_HEADER_LINES];
    size_t l[TEL__MAX_HEADER_LINES];
    size_t n = tel__carrier_get_all(c, "baggage", v, l, TEL__MAX_HEADER_LINES);
    if (n == 0)
        return;
    if (n > TEL__MAX_HEADER_LINES)
        n = TEL__MAX_HEADER_LINES; /* the lines past the limit are dropped */
    tel_baggage *nb = tel_baggage_parse(v, l, n);
    if (!nb)
        return;
    if (*bag) {
        /* Another format (jaeger) already brought baggage: merge, the W3C entries winning. */
        size_t cnt = tel_baggage_count(nb);
        tel__bag_kv kv[TEL_BAGGAGE_MAX_MEMBERS];
        for (size_t i = 0; i < cnt; i++) {
            const char *k, *val, *p;
            tel_baggage_entry(nb, i, &k, &val, &p);
            kv[i] = (tel__bag_kv){k, strlen(k), val, strlen(val), p, p ? strlen(p) : 0};
        }
        tel_baggage *m = tel__baggage_merge(*bag, kv, cnt, NULL);
        tel_baggage_unref(nb);
        if (!m)
            return;
        nb = m;
        tel_baggage_unref(*bag);
    }
    *bag = nb;
}

int tel__baggage_inject(const tel_baggage *bag, const tel_carrier *c)
{
    if (tel_baggage_count(bag) == 0)
        return TEL_OK;
    char buf[TEL_BAGGAGE_MAX_BYTES + 1];
    int n = tel_baggage_format(bag, buf, sizeof buf);
    if (n <= 0)
        return n;
    return c->set(c->ud, "baggage", buf);
}

/* ---- the composite ---- */

static const struct {
    const char *name;
    unsigned bit;
} known[] = {
    {"tracecontext", TEL_PROP_TRACECONTEXT}, {"baggage", TEL_PROP_BAGGAGE},
    {"b3", TEL_PROP_B3},                     {"b3multi", TEL_PROP_B3MULTI},
    {"jaeger", TEL_PROP_JAEGER},
};

static unsigned bit_index(unsigned bit)
{
    unsigned i = 0;
    while (bit > 1u) {
        bit >>= 1;
        i++;
    }
    return i;
}

static void prop_add(tel_propagator *p, unsigned bit)
{
    if (p->formats & bit)
        return;
    p->formats |= bit;
    p->order[p->n++] = (uint8_t)bit_index(bit);
}

static void prop_parse_into(tel_propagator *p, const char *list)
{
    memset(p, 0, sizeof *p);
    bool any_token = false, saw_none = false;
    const char *s = list ? list : "";
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *tok = s;
        while (len > 0 && (*tok == ' ' || *tok == '\t')) {
            tok++;
            len--;
        }
        while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            len--;
        s = comma ? comma + 1 : s + strlen(s);
        if (len == 0)
            continue;
        any_token = true;
        if (len == 4 && strncasecmp(tok, "none", 4) == 0) {
            saw_none = true;
            continue;
        }
        bool found = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
            if (strlen(known[i].name) == len && strncasecmp(tok, known[i].name, len) == 0) {
                prop_add(p, known[i].bit);
                found = true;
                break;
            }
        }
        if (!found)
            fprintf(stderr, "telemetry: OTEL_PROPAGATORS: unknown propagator \"%.*s\" ignored\n",
                    (int)(len > 64 ? 64 : len), tok);
    }
    (void)saw_none; /* "none" alone gives an empty propagator; beside other names it is moot */
    if (!any_token) {
        prop_add(p, TEL_PROP_TRACECONTEXT);
        prop_add(p, TEL_PROP_BAGGAGE);
    }
}

tel_propagator *tel_propagator_create(const char *list)
{
    tel_propagator *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    prop_parse_into(p, list);
    return p;
}

tel_propagator *tel_propagator_from_env(void)
{
    return tel_propagator_create(getenv("OTEL_PROPAGATORS"));
}

unsigned tel_propagator_formats(const tel_propagator *p)
{
    return p ? p->formats : 0;
}

/* tel_propagator_fields, or with context_only tel_propagator_context_fields. */
static size_t fields_of(const tel_propagator *p, const char **keys, size_t max, bool context_only)
{
    static const char *const tc_all[] = {"traceparent", "tracestate", NULL};
    /* tracestate is only read with a valid traceparent (W3C Trace Context). */
    static const char *const tc_context[] = {"traceparent", NULL};
    const char *const *tc = context_only ? tc_context : tc_all;
    static const char *const bag[] = {"baggage", NULL};
    static const char *const b3[] = {"b3", NULL};
    /* b3multi reads the single header first too */
    static const char *const b3m[] = {"b3",           "x-b3-traceid", "x-b3-spanid",
                                      "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags",
                                      NULL};
    static const char *const jaeger[] = {"uber-trace-id", "uberctx-*", NULL};
    size_t n = 0;
    const char *seen[TEL_PROPAGATOR_MAX_FIELDS];
    for (unsigned i = 0; p && i < p->n; i++) {
        unsigned bit = 1u << p->order[i];
        const char *const *f = bit == TEL_PROP_TRACECONTEXT ? tc
                               : bit == TEL_PROP_BAGGAGE    ? bag
                               : bit == TEL_PROP_B3         ? b3
                               : bit == TEL_PROP_B3MULTI    ? b3m
                                                            : jaeger;
        for (; *f; f++) {
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = strcmp(seen[k], *f) == 0;
            if (dup || n == TEL_PROPAGATOR_MAX_FIELDS)
                continue;
            if (keys && n < max)
                keys[n] = *f;
            seen[n++] = *f;
        }
    }
    return n;
}

size_t tel_propagator_fields(const tel_propagator *p, const char **keys, size_t max)
{
    return fields_of(p, keys, max, false);
}

size_t tel_propagator_context_fields(const tel_propagator *p, const char **keys, size_t max)
{
    return fields_of(p, keys, max, true);
}

void tel_propagator_destroy(tel_propagator *p)
{
    free(p);
}

int tel_propagator_extract(const tel_propagator *p, const tel_carrier *carrier, tel_context *ctx)
{
    if (!ctx)
        return TEL_OK;
    tel_tracestate_unref(ctx->ts);
    tel_baggage_unref(ctx->bag);
    memset(&ctx->sc, 0, sizeof ctx->sc);
    ctx->ts = NULL;
    ctx->bag = NULL;
    if (!p || !carrier || (!carrier->get && !carrier->get_all))
        return TEL_OK;
    bool have = false;
    tel_span_context sc;
    for (unsigned i = 0; i < p->n; i++) {
        switch (1u << p->order[i]) {
        case TEL_PROP_TRACECONTEXT:
            if (!have) {
                tel_tracestate *ts = NULL;
                if (tel__tracecontext_extract(carrier, &sc, &ts) == TEL_OK) {
                    ctx->sc = sc;
                    ctx->ts = ts;
                    have = true;
                }
            }
            break;
        case TEL_PROP_BAGGAGE:
            tel__baggage_extract(carrier, &ctx->bag);
            break;
        case TEL_PROP_B3:
        case TEL_PROP_B3MULTI:
            if (!have && tel__b3_extract(carrier, &sc) == TEL_OK) {
                ctx->sc = sc;
                have = true;
            }
            break;
        case TEL_PROP_JAEGER:
            if (tel__jaeger_extract(carrier, have ? NULL : &sc, &ctx->bag) == TEL_OK && !have) {
                ctx->sc = sc;
                have = true;
            }
            break;
        default:
            break;
        }
    }
    return TEL_OK;
}

int tel_propagator_inject(const tel_propagator *p, const tel_context *ctx,
                          const tel_carrier *carrier)
{
    if (!p || !ctx || !carrier || !carrier->set)
        return TEL_OK;
    bool valid = tel__sc_valid(&ctx->sc);
    int first = TEL_OK;
    for (unsigned i = 0; i < p->n; i++) {
        int rc = TEL_OK;
        switch (1u << p->order[i]) {
        case TEL_PROP_TRACECONTEXT:
            rc = tel__tracecontext_inject(ctx, carrier);
            break;
        case TEL_PROP_BAGGAGE:
            rc = tel__baggage_inject(ctx->bag, carrier);
            break;
        case TEL_PROP_B3:
            if (valid)
                rc = tel__b3_inject_single(&ctx->sc, carrier);
            break;
        case TEL_PROP_B3MULTI:
            if (valid)
                rc = tel__b3_inject_multi(&ctx->sc, carrier);
            break;
        case TEL_PROP_JAEGER:
            rc = tel__jaeger_inject(ctx, carrier);
            break;
        default:
            break;
        }
        if (rc != TEL_OK && first == TEL_OK)
            first = rc;
    }
    return first;
}

/* ---- the process-wide propagator ---- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static tel_propagator g_from_env; /* static storage: creating the default never fails */
static _Atomic(tel_propagator *) g_current;
static pthread_mutex_t g_retired_lock = PTHREAD_MUTEX_INITIALIZER;
static tel_propagator *g_retired; /* replaced propagators stay alive until process exit */

static void global_init(void)
{
    prop_parse_into(&g_from_env, getenv("OTEL_PROPAGATORS"));
    tel_propagator *expected = NULL;
    atomic_compare_exchange_strong(&g_current, &expected, &g_from_env);
}

const tel_propagator *tel_propagator_global(void)
{
    tel_propagator *p = atomic_load_explicit(&g_current, memory_order_acquire);
    if (TEL_LIKELY(p != NULL))
        return p;
    pthread_once(&g_once, global_init);
    return atomic_load_explicit(&g_current, memory_order_acquire);
}

void tel_propagator_set_global(tel_propagator *p)
{
    if (!p)
        return;
    pthread_once(&g_once, global_init);
    tel_propagator *old = atomic_exchange_explicit(&g_current, p, memory_order_acq_rel);
    if (old && old != &g_from_env) {
        pthread_mutex_lock(&g_retired_lock);
        old->retired_next = g_retired;
        g_retired = old;
        pthread_mutex_unlock(&g_retired_lock);
    }
}
