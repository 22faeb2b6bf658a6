/* Resource (who emits telemetry) and instrumentation scope (which library emits it). */
#ifndef TELEMETRY_RESOURCE_H
#define TELEMETRY_RESOURCE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An immutable set of resource attributes. All strings are owned by the resource. */
typedef struct tel_resource {
    tel_attr *attrs;
    size_t n_attrs;
    char *schema_url; /* may be NULL */
} tel_resource;

/* Builds the resource from the environment: telemetry.sdk.{name,language,version}, host.name,
 * process.pid, service.version (service_version unless the env sets it), then
 * OTEL_RESOURCE_ATTRIBUTES (comma-separated key=value, values percent-decoded; a malformed entry
 * is reported on stderr and the whole variable ignored, as the spec says), then service.name from
 * OTEL_SERVICE_NAME, else from OTEL_RESOURCE_ATTRIBUTES, else default_service_name, else
 * "unknown_service". Later sources override earlier keys. Returns NULL on allocation failure.
 * The caller owns the result (tel_resource_destroy). */
tel_resource *tel_resource_from_env(const char *default_service_name, const char *service_version);

/* Creates a resource from explicit attributes (copied). */
tel_resource *tel_resource_create(const tel_attr *attrs, size_t n);

/* Looks up a string attribute; NULL when absent or not a string. */
const char *tel_resource_get_str(const tel_resource *r, const char *key);

void tel_resource_destroy(tel_resource *r);

/* Instrumentation scope; owned by the tracer provider that created it (tracer == scope). */
typedef struct tel_scope {
    const char *name;
    const char *version;    /* may be NULL */
    const char *schema_url; /* may be NULL */
} tel_scope;

#ifdef __cplusplus
}
#endif
#endif
