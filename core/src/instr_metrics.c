/* Duration histograms for core's instrumentation (see instr_metrics.h). */
#include "instr_metrics.h"

#include <stdint.h>

tel_instrument *core_instr_histogram(tel_meter_provider *provider, const char *scope,
                                     const char *name, const char *unit, const char *description,
                                     const double *bounds, size_t n_bounds)
{
    if (!provider) return NULL;
    tel_meter *m = tel_meter_get(provider, scope, BMC_VERSION);
    tel_instrument_opts o = {.unit = unit,
                             .description = description,
                             .bounds = bounds,
                             .n_bounds = (uint32_t)n_bounds,
                             .value_is_int = false};
    tel_instrument *h = tel_meter_create(m, TEL_INSTR_HISTOGRAM, name, &o);
    return tel_instrument_enabled(h) ? h : NULL;
}
