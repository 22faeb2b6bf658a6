/* A span exporter that holds the export thread inside each export while `hold` is set: a
 * collector that does not answer. `inside` tells that an export waits there, `spans` counts the
 * spans exported once released; shutdown releases it. Header-only, for tests. The exporter is
 * owned by the test (destroy does nothing): it must outlive the processor it is given to. */
#ifndef BMC_TEST_HELD_EXPORTER_H
#define BMC_TEST_HELD_EXPORTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "telemetry/processor.h"

typedef struct held_exporter {
    tel_span_exporter base;
    atomic_bool hold;
    atomic_bool inside; /* an export is waiting at the gate */
    atomic_uint_fast64_t spans;
} held_exporter;

static inline void held_exporter_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline int held_exporter_export(tel_span_exporter *self, const tel_resource *res,
                                       const tel_span_data *const *spans, size_t n,
                                       uint64_t deadline)
{
    held_exporter *e = (held_exporter *)self;
    (void)res;
    (void)spans;
    (void)deadline;
    atomic_store(&e->inside, true);
    while (atomic_load(&e->hold))
        held_exporter_sleep_ms(1);
    atomic_store(&e->inside, false);
    atomic_fetch_add(&e->spans, n);
    return TEL_OK;
}

static inline int held_exporter_shutdown(tel_span_exporter *self)
{
    atomic_store(&((held_exporter *)self)->hold, false);
    return TEL_OK;
}

static inline void held_exporter_destroy(tel_span_exporter *self)
{
    (void)self;
}

/* e ready to use, holding exports from the first one when hold is set. */
static inline void held_exporter_init(held_exporter *e, bool hold)
{
    memset(e, 0, sizeof *e);
    e->base.export_spans = held_exporter_export;
    e->base.shutdown = held_exporter_shutdown;
    e->base.destroy = held_exporter_destroy;
    atomic_store(&e->hold, hold);
}

/* Waits up to ms milliseconds for an export to be held inside; returns whether one is. */
static inline bool held_exporter_wait_inside(held_exporter *e, int ms)
{
    for (int i = 0; i < ms && !atomic_load(&e->inside); i++)
        held_exporter_sleep_ms(1);
    return atomic_load(&e->inside);
}

#endif
