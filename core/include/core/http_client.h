/* Traced HTTP client on libcurl.
 *
 * Every call makes a CLIENT span "{method}" ("HTTP" for a method outside the standard set),
 * child of the caller's context, with http.request.method, url.full (scheme, host, port and
 * path only: the query, fragment and any user:password are stripped), server.address,
 * server.port, http.response.status_code, and on failure error.type and ERROR status (transport
 * failures, and HTTP status >= 400 as the semantic conventions advise for clients). The
 * configured propagators' headers (traceparent, tracestate, baggage, ...) are injected for
 * that span; a header of the same name given by the caller is replaced. The duration goes to
 * the histogram http.client.request.duration (seconds, OTel HTTP buckets) when a meter
 * provider is configured. Header values and bodies are never recorded.
 *
 * Connections are reused: each thread has its own curl easy handle per client (created on
 * first use), and the handles of a client share one connection cache, DNS cache and TLS
 * session cache (a curl share object with locks).
 *
 * Thread safety: a client may be used by any number of threads at once. Destroy it when no
 * thread uses it any more. */
#ifndef CORE_HTTP_CLIENT_H
#define CORE_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "telemetry/context.h"
#include "telemetry/metrics.h"
#include "telemetry/propagation.h"
#include "telemetry/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct core_http_client core_http_client;

typedef struct core_http_client_config {
    tel_tracer *tracer;               /* NULL: tel_global_tracer("bmcfleet.core.http_client") */
    tel_meter_provider *meters;       /* NULL: no duration histogram */
    const tel_propagator *propagator; /* NULL: tel_propagator_global() at each call */
    long connect_timeout_ms;          /* 0: 5000 */
    long timeout_ms;                  /* whole request; 0: 30000 */
    size_t max_response_bytes;        /* response body cap; 0: 8 MiB */
    const char *user_agent;           /* copied; NULL: "bmcfleet/<version>" */
} core_http_client_config;

/* A request header (name without colon). */
typedef struct core_http_header {
    const char *name;
    const char *value;
} core_http_header;

typedef struct core_http_request {
    const char *method;      /* "GET", "POST", ...; NULL: GET (POST when there is a body) */
    const char *url;         /* absolute http:// or https:// URL */
    const core_http_header *headers;
    size_t n_headers;
    const void *body;        /* borrowed for the call; may be NULL */
    size_t body_len;
    const char *content_type; /* for the body; NULL: none */
    long timeout_ms;         /* 0: the client's */
} core_http_request;

/* The outcome of a call. Initialise with CORE_HTTP_RESPONSE_INIT (or zero it); free with
 * core_http_response_cleanup. */
typedef struct core_http_response {
    long status;        /* HTTP status, 0 when no response arrived */
    char *body;         /* NUL-terminated, owned; NULL when empty */
    size_t body_len;
    char *headers;      /* raw header lines of the final response, owned */
    size_t headers_len;
    char error[256];    /* transport error text ("" when none); never contains the URL's
                         * credentials or query */
} core_http_response;

#define CORE_HTTP_RESPONSE_INIT ((core_http_response){0})

/* Creates a client (cfg copied; NULL: defaults). Calls curl_global_init once per process.
 * NULL on failure. The caller owns it. */
core_http_client *core_http_client_create(const core_http_client_config *cfg);
/* Frees the client with every thread's handle and the shared caches. NULL allowed. */
void core_http_client_destroy(core_http_client *c);

/* Performs req in a CLIENT span child of parent (NULL: a new trace). resp (previous content
 * released first) receives the status, body and headers. Returns 0 when an HTTP response
 * arrived (whatever its status), CORE_EINVAL (bad method/URL or a scheme other than
 * http/https), CORE_ETIMEDOUT, CORE_ETOOBIG (response body over the cap), CORE_EIO (connect,
 * DNS, TLS or transfer failure; resp->error says which), CORE_ENOMEM. Thread safe. */
int core_http_client_do(core_http_client *c, const tel_context *parent,
                        const core_http_request *req, core_http_response *resp);

/* Copies the value of response header `name` (case-insensitive; the last occurrence) into buf
 * (cap bytes, NUL-terminated, surrounding spaces trimmed). Returns its length, CORE_ENOTFOUND
 * or CORE_ETOOBIG. */
int core_http_response_header(const core_http_response *r, const char *name, char *buf,
                              size_t cap);

/* Frees what resp owns and zeroes it. */
void core_http_response_cleanup(core_http_response *resp);

/* JSON convenience: sends `body` (borrowed; NULL: no body) as application/json with
 * "accept: application/json", stores the status in *status (may be NULL) and, when out is not
 * NULL and the response has a body, parses it (any JSON value, size capped by
 * max_response_bytes) into *out (a new reference, or NULL when the body is empty). Returns as
 * core_http_client_do, or CORE_EINVAL when the response body is not valid JSON. */
int core_http_client_json(core_http_client *c, const tel_context *parent, const char *method,
                          const char *url, const json_t *body, json_t **out, long *status);

/* Writes url with query, fragment and user:password removed into out (cap bytes). Returns the
 * length, or CORE_EINVAL when url does not parse, CORE_ETOOBIG when cap is too small. */
int core_http_url_redact(const char *url, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
