/* Private to core/: the duration histograms the instrumentation records (rpc.server.duration,
 * rpc.client.duration, db.client.operation.duration), created from an optional meter provider
 * (no provider: no histogram, and recording is a branch). */
#ifndef CORE_INSTR_METRICS_H
#define CORE_INSTR_METRICS_H

#include <stddef.h>

#include "telemetry/metrics.h"

/* A histogram of `provider` (NULL: NULL, and recording into NULL is a no-op) in scope `scope`
 * with explicit bucket bounds (bounds NULL: the SDK's defaults). Strings are literals. Thread
 * safe. */
tel_instrument *core_instr_histogram(tel_meter_provider *provider, const char *scope,
                                     const char *name, const char *unit, const char *description,
                                     const double *bounds, size_t n_bounds);

/* Records value into h (NULL: no-op). Attribute keys must be literals; values are copied by the
 * SDK. Thread safe. */
static inline void core_instr_record(tel_instrument *h, double value, const tel_attr *attrs,
                                     size_t n)
{
    if (h) tel_histogram_record(h, value, attrs, n);
}

#endif
