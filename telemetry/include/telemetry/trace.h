/* Tracing API: tracer provider, tracers, spans.
 *
 * Spans are handles from a per-thread pool, valid from start until end (ending frees the handle;
 * it must not be used afterwards). A span may be ended on a thread other than the one that
 * started it, but one span must not be used by two threads at once. Span names, attribute keys
 * and event names are NOT copied by default: pass string literals (or strings that outlive the
 * export). The *_copy / tel_span_set_str calls copy what they say they copy.
 *
 * When the SDK is disabled (OTEL_SDK_DISABLED=true, or a NULL/disabled tracer) every call is a
 * no-op returning a shared no-op span, and nothing is allocated. */
#ifndef TELEMETRY_TRACE_H
#define TELEMETRY_TRACE_H

#include "context.h"
#include "processor.h"
#include "resource.h"
#include "sampler.h"
#include "span_data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Span limits (OTEL_SPAN_* / OTEL_ATTRIBUTE_* variables; spec defaults 128, no value-length
 * limit). value_length_limit 0 means unlimited. */
typedef struct tel_span_limits {
    uint32_t attribute_count;        /* OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT or OTEL_ATTRIBUTE_COUNT_LIMIT */
    uint32_t attribute_value_length; /* OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT or OTEL_ATTRIBUTE_... */
    uint32_t event_count;            /* OTEL_SPAN_EVENT_COUNT_LIMIT */
    uint32_t link_count;             /* OTEL_SPAN_LINK_COUNT_LIMIT */
    uint32_t attributes_per_event;   /* OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT */
    uint32_t attributes_per_link;    /* OTEL_LINK_ATTRIBUTE_COUNT_LIMIT */
} tel_span_limits;

/* Fills limits from the environment (invalid values warn on stderr and keep the default). */
void tel_span_limits_from_env(tel_span_limits *limits);

typedef struct tel_tracer_provider tel_tracer_provider;

/* The part of a tracer visible to the inline fast path. */
typedef struct tel_tracer {
    bool enabled;
    tel_scope scope;
    tel_tracer_provider *provider;
} tel_tracer;

/* The part of a span visible to the inline fast path. */
struct tel_span {
    bool noop;      /* the shared no-op span (disabled SDK) */
    bool recording; /* sampled and not yet ended */
};

typedef struct tel_tracer_provider_config {
    tel_resource *resource;     /* owned by the provider from now on; NULL: from the environment */
    tel_sampler sampler;        /* used when has_sampler */
    bool has_sampler;           /* false: from the environment */
    tel_span_limits limits;     /* used when has_limits */
    bool has_limits;            /* false: from the environment */
    bool disabled;              /* true: every tracer of this provider is a no-op */
} tel_tracer_provider_config;

/* Creates a provider. cfg may be NULL (everything from the environment). Processors are added
 * with tel_tracer_provider_add_processor. The caller owns the result. */
tel_tracer_provider *tel_tracer_provider_create(const tel_tracer_provider_config *cfg);
/* Adds a processor (at most 4); the provider owns it. Call before spans are started. */
int tel_tracer_provider_add_processor(tel_tracer_provider *p, tel_span_processor *proc);
/* Flushes every processor within timeout_ms in total. */
int tel_tracer_provider_force_flush(tel_tracer_provider *p, int64_t timeout_ms);
/* Shuts every processor down within timeout_ms in total; later spans are not recorded.
 * Idempotent. */
int tel_tracer_provider_shutdown(tel_tracer_provider *p, int64_t timeout_ms);
/* Shuts down (if needed, with the BSP export timeout as bound) and frees the provider, its
 * tracers, processors and resource. No span of it may still be live. */
void tel_tracer_provider_destroy(tel_tracer_provider *p);
/* The provider's resource (owned by it). */
const tel_resource *tel_tracer_provider_resource(const tel_tracer_provider *p);

/* Returns the tracer for an instrumentation scope (created on first use; the same pointer for
 * the same name and version). name/version are copied. Owned by the provider. Thread safe. */
tel_tracer *tel_tracer_get(tel_tracer_provider *p, const char *name, const char *version);

/* ---- The process-wide SDK ---- */

/* Initialises the process-wide SDK from the environment: OTEL_SDK_DISABLED, resource, sampler,
 * limits, OTEL_TRACES_EXPORTER (otlp default, console, file, none) with a batch processor (or the
 * simple processor for console); the meter provider (metrics.h: tel_global_meter_provider) with a
 * periodic reader when OTEL_METRICS_EXPORTER names an exporter; the log pipeline (log.h) when
 * OTEL_LOGS_EXPORTER names one (log lines always go to stderr); the global propagator.
 * Idempotent.
 * Returns TEL_OK, TEL_EDISABLED when disabled (everything is then a no-op), or an error. */
int tel_init(const char *default_service_name, const char *service_version);
/* The process-wide provider (NULL before tel_init or when disabled). */
tel_tracer_provider *tel_global_provider(void);
/* A tracer of the process-wide provider; a disabled no-op tracer when there is none. */
tel_tracer *tel_global_tracer(const char *name, const char *version);
/* Flushes and shuts the process-wide SDK down (metrics, logs, then traces; each bounded by its
 * exporter timeout). Tracers and meters obtained from it are invalid afterwards. */
void tel_shutdown(void);
/* True when OTEL_SDK_DISABLED=true was read by tel_init. */
bool tel_sdk_disabled(void);

/* ---- Spans ---- */

/* Options for tel_span_start_ex. Zero-initialise and set what is needed. */
/* A prepared set of attributes every span of a kind starts with (tel_span_start_opts.attr_set),
 * stored in each span by reference: keys and string values must outlive the spans' export
 * (literals, interned strings). Made once by tel_span_attr_set_init; immutable afterwards and
 * shareable between threads. */
#define TEL_SPAN_ATTR_SET_MAX 8
typedef struct tel_span_attr_set {
    tel_attr attrs[TEL_SPAN_ATTR_SET_MAX];
    uint8_t n;
    uint64_t filter; /* the spans' key filter bits of the keys */
} tel_span_attr_set;

/* Fills set with attrs[0..n): strings (non-NULL), ints, doubles, bools, with keys. Returns TEL_OK,
 * TEL_ETOOBIG (n > TEL_SPAN_ATTR_SET_MAX) or TEL_EINVAL (another type, a NULL key or string);
 * set is then empty. */
int tel_span_attr_set_init(tel_span_attr_set *set, const tel_attr *attrs, size_t n);

typedef struct tel_span_start_opts {
    const char *name;         /* required */
    bool copy_name;           /* copy name (dynamic strings) */
    tel_span_kind kind;       /* 0 means INTERNAL */
    const tel_context *parent;/* NULL or invalid span context: a new root */
    uint64_t start_ns;        /* 0: now */
    const tel_attr *attrs;    /* initial attributes (values copied like tel_span_set_attr) */
    size_t n_attrs;
    /* Initial attributes stored by reference (see tel_span_attr_set), set before attrs: the
     * cheapest way to set the attributes every span of a kind has. NULL: none. */
    const struct tel_span_attr_set *attr_set;
    const tel_link *links;    /* initial links (copied) */
    size_t n_links;
} tel_span_start_opts;

extern struct tel_span tel__noop_span;
tel_span *tel__span_start(tel_tracer *t, const char *name, tel_span_kind kind,
                          const tel_context *parent);
void tel__span_end(tel_span *s, uint64_t end_ns);

/* Starts a span named `name` (a string literal: not copied) of `kind`, child of parent's span
 * context (NULL or invalid: a new trace). Never returns NULL. Thread safe. */
static inline tel_span *tel_span_start(tel_tracer *t, const char *name, tel_span_kind kind,
                                       const tel_context *parent)
{
    if (TEL_UNLIKELY(t == NULL || !t->enabled))
        return &tel__noop_span;
    return tel__span_start(t, name, kind, parent);
}
/* Starts a span with full options. Never returns NULL. */
tel_span *tel_span_start_ex(tel_tracer *t, const tel_span_start_opts *opts);

/* Ends the span now; the handle is invalid afterwards. */
static inline void tel_span_end(tel_span *s)
{
    if (TEL_UNLIKELY(s->noop))
        return;
    tel__span_end(s, 0);
}
/* Ends the span at end_ns (wall clock, ns since epoch). */
static inline void tel_span_end_at(tel_span *s, uint64_t end_ns)
{
    if (TEL_UNLIKELY(s->noop))
        return;
    tel__span_end(s, end_ns);
}

static inline bool tel_span_is_recording(const tel_span *s)
{
    return s->recording;
}

struct tel_instrument;
struct tel_bound_attrs;
/* Hands the span's duration measurement to its record: when the span ends, (end - start) *
 * unit_per_ns (1e-9: seconds) goes into histogram h's bound series b (tel_instrument_bind), with
 * the span as its exemplar, recorded where the ended record is handed over: on the export thread
 * of a batch span processor that keeps it (off the request path; a metric collection records
 * those of the spans still queued itself first: see tel_meter_provider_collect), else as the span
 * ends. h and b must outlive the span's end (a meter provider's destruction records those of the
 * queued spans first). One per span: a later call replaces an earlier one. Returns false, having done nothing,
 * when the span is not recording or h or b is NULL: the caller records the duration itself. */
bool tel_span_defer_duration(tel_span *s, struct tel_instrument *h, struct tel_bound_attrs *b,
                             double unit_per_ns);
/* The span's context (all-zero for the no-op span). */
tel_span_context tel_span_get_context(const tel_span *s);
/* The span's tracestate (borrowed; NULL when none). */
tel_tracestate *tel_span_get_tracestate(const tel_span *s);

/* Attributes. Keys are not copied (literals); string values ARE copied (into the span's inline
 * arena, or its extra block when the arena is full) and truncated to the value length limit at a
 * UTF-8 boundary. Setting an existing key replaces its value. Past the count limit the attribute
 * is dropped and counted. No-ops on non-recording spans. */
void tel_span_set_str(tel_span *s, const char *key, const char *value);
void tel_span_set_strn(tel_span *s, const char *key, const char *value, size_t len);
/* Like tel_span_set_str but the value is a literal and is not copied. */
void tel_span_set_str_static(tel_span *s, const char *key, const char *value);
/* The same with the value's length given (the value is value[0..len); like a literal it must
 * outlive the export). */
void tel_span_set_strn_static(tel_span *s, const char *key, const char *value, size_t len);
void tel_span_set_int(tel_span *s, const char *key, int64_t value);
void tel_span_set_double(tel_span *s, const char *key, double value);
void tel_span_set_bool(tel_span *s, const char *key, bool value);
/* Any attribute, arrays included: the value (strings, array payloads) is copied. */
void tel_span_set_attr(tel_span *s, const tel_attr *attr);
/* Like tel_span_set_attr but also copies the key (for dynamic keys). */
void tel_span_set_attr_copy_key(tel_span *s, const tel_attr *attr);

/* Adds an event (name is copied; attributes copied). time_ns 0 means now. */
void tel_span_add_event(tel_span *s, const char *name, const tel_attr *attrs, size_t n);
void tel_span_add_event_at(tel_span *s, const char *name, const tel_attr *attrs, size_t n,
                           uint64_t time_ns);
/* Adds a link to another span context (tracestate may be NULL; all copied). */
void tel_span_add_link(tel_span *s, const tel_span_context *sc, const char *tracestate,
                       const tel_attr *attrs, size_t n);
/* Sets the status. ERROR keeps the description (copied); OK is final (later UNSET/ERROR are
 * ignored, per the spec); UNSET is ignored. */
void tel_span_set_status(tel_span *s, tel_status_code code, const char *description);
/* Records an error as an "exception" event with exception.type and exception.message (copied).
 * It does not change the status; callers set ERROR themselves when the span failed. */
void tel_span_record_error(tel_span *s, const char *type, const char *message);
/* Replaces the name (copied). */
void tel_span_update_name(tel_span *s, const char *name);

/* ---- Thread-local current span (for log correlation only) ---- */

/* Makes s the calling thread's current span and returns the previous one (NULL when none). */
tel_span *tel_span_set_current(tel_span *s);
/* The calling thread's current span, or NULL. */
tel_span *tel_span_current(void);

#ifdef __cplusplus
}
#endif
#endif
