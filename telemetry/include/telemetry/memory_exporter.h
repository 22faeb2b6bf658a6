/* In-memory span exporter for tests: keeps deep copies of every exported span. */
#ifndef TELEMETRY_MEMORY_EXPORTER_H
#define TELEMETRY_MEMORY_EXPORTER_H

#include "processor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tel_memory_exporter tel_memory_exporter;

/* Creates an exporter that stores copies of the spans it receives. The processor that owns the
 * returned exporter destroys it; keep the tel_memory_exporter pointer to read the spans until
 * then. */
tel_memory_exporter *tel_memory_exporter_create(void);
/* The exporter interface of m (to hand to tel_bsp_create / tel_simple_processor_create). */
tel_span_exporter *tel_memory_exporter_base(tel_memory_exporter *m);
/* Number of spans stored so far. Thread safe. */
size_t tel_memory_exporter_count(tel_memory_exporter *m);
/* Span i in export order (borrowed; valid until reset or destroy). Not safe against concurrent
 * exports: read after a flush. */
const tel_span_data *tel_memory_exporter_span(tel_memory_exporter *m, size_t i);
/* Finds the first stored span named `name`, or NULL. */
const tel_span_data *tel_memory_exporter_find(tel_memory_exporter *m, const char *name);
/* Drops every stored span. */
void tel_memory_exporter_reset(tel_memory_exporter *m);
/* Makes export_spans fail with `rc` from now on (0 restores success). */
void tel_memory_exporter_fail_with(tel_memory_exporter *m, int rc);

#ifdef __cplusplus
}
#endif
#endif
