/* The fan-out exporter: each batch goes to every member exporter of one signal in turn, for
 * exporter lists such as OTEL_TRACES_EXPORTER=otlp,file (exporter_env.c). */
#include <stdlib.h>

#include "otlp_internal.h"

typedef struct fanout {
    tel__exporter base; /* first member */
    size_t n;
    tel__exporter *members[]; /* owned */
} fanout;

/* The first failure among the members' results, else TEL_OK. */
static inline int first_failure(int rc, int r)
{
    return rc == TEL_OK ? r : rc;
}

/* Every member gets the batch (one member's failure does not keep it from the others), in list
 * order. Each gets an even share of the time left to the deadline when its turn comes (the
 * last all of it): a member stuck on an unreachable collector, retrying until its deadline,
 * leaves the members after it time to export (a local file with otlp,file) instead of handing
 * them a deadline already past. What a quick member leaves goes to the ones after it. */
static int fanout_export(tel__exporter *e, const tel__otlp_batch *b, uint64_t deadline_ns)
{
    fanout *f = (fanout *)e;
    int rc = TEL_OK;
    for (size_t i = 0; i < f->n; i++) {
        uint64_t now = tel_mono_ns();
        uint64_t share = deadline_ns > now ? now + (deadline_ns - now) / (f->n - i) : deadline_ns;
        rc = first_failure(rc, f->members[i]->ops->export(f->members[i], b, share));
    }
    return rc;
}

static int fanout_flush(tel__exporter *e, int64_t timeout_ms)
{
    fanout *f = (fanout *)e;
    int rc = TEL_OK;
    for (size_t i = 0; i < f->n; i++) {
        tel__exporter *m = f->members[i];
        if (m->ops->force_flush)
            rc = first_failure(rc, m->ops->force_flush(m, timeout_ms));
    }
    return rc;
}

static int fanout_shutdown(tel__exporter *e)
{
    fanout *f = (fanout *)e;
    int rc = TEL_OK;
    for (size_t i = 0; i < f->n; i++)
        rc = first_failure(rc, f->members[i]->ops->shutdown(f->members[i]));
    return rc;
}

static void fanout_destroy(tel__exporter *e)
{
    fanout *f = (fanout *)e;
    for (size_t i = 0; i < f->n; i++)
        f->members[i]->ops->destroy(f->members[i]);
    free(f);
}

static const tel__exporter_ops fanout_ops = {
    .export = fanout_export,
    .force_flush = fanout_flush,
    .shutdown = fanout_shutdown,
    .destroy = fanout_destroy,
};

tel__exporter *tel__fanout_exporter_create(tel_otlp_signal signal, tel__exporter *const *members,
                                           size_t n)
{
    if (n == 0)
        return NULL;
    if (n == 1)
        return members[0];
    fanout *f = calloc(1, sizeof *f + n * sizeof f->members[0]);
    if (!f) {
        for (size_t i = 0; i < n; i++)
            members[i]->ops->destroy(members[i]);
        return NULL;
    }
    f->n = n;
    for (size_t i = 0; i < n; i++)
        f->members[i] = members[i];
    tel__exporter_bind(&f->base, signal, &fanout_ops);
    return &f->base;
}
