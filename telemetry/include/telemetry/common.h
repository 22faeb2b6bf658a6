/* Shared types of the telemetry library: error codes, attribute values, clocks.
 *
 * Error convention (whole library): functions return 0 (TEL_OK) or a negative TEL_E* code;
 * tel_strerror() names it. Constructors return NULL on failure. */
#ifndef TELEMETRY_COMMON_H
#define TELEMETRY_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TEL_LIKELY(x) __builtin_expect(!!(x), 1)
#define TEL_UNLIKELY(x) __builtin_expect(!!(x), 0)

enum {
    TEL_OK = 0,
    TEL_EINVAL = -1,     /* invalid argument or malformed input */
    TEL_ENOMEM = -2,     /* allocation failed */
    TEL_EFULL = -3,      /* a bounded queue or buffer is full; the item was dropped */
    TEL_ETIMEDOUT = -4,  /* a deadline passed */
    TEL_ESHUTDOWN = -5,  /* the object was shut down */
    TEL_EIO = -6,        /* I/O or transport failure (connection refused, reset, ...) */
    TEL_ERETRYABLE = -7, /* the peer answered with a retryable failure and retries ran out */
    TEL_EREJECTED = -8,  /* the peer rejected the data permanently (e.g. HTTP 400) */
    TEL_ENOTFOUND = -9,  /* a looked-up item does not exist */
    TEL_ETOOBIG = -10,   /* input over a documented size limit */
    TEL_EDISABLED = -11, /* the SDK is disabled (OTEL_SDK_DISABLED=true) */
};

/* Returns a static English description of a TEL_* code. Thread safe. */
const char *tel_strerror(int code);

/* Attribute value types (OpenTelemetry AnyValue subset used for attributes). */
typedef enum tel_attr_type {
    TEL_ATTR_NONE = 0,
    TEL_ATTR_STRING,
    TEL_ATTR_BOOL,
    TEL_ATTR_INT,
    TEL_ATTR_DOUBLE,
    TEL_ATTR_STRING_ARRAY,
    TEL_ATTR_BOOL_ARRAY,
    TEL_ATTR_INT_ARRAY,
    TEL_ATTR_DOUBLE_ARRAY,
} tel_attr_type;

/* One key/value attribute. A plain value type: it never owns what it points to.
 * `len` is the string length in bytes (STRING) or the element count (arrays).
 * Array payloads: STRING_ARRAY points to `const char *const[len]` (NUL-terminated strings),
 * BOOL_ARRAY to `const bool[len]`, INT_ARRAY to `const int64_t[len]`,
 * DOUBLE_ARRAY to `const double[len]`. */
typedef struct tel_attr {
    const char *key;
    uint8_t type; /* tel_attr_type */
    uint8_t reserved[3];
    uint32_t len;
    union {
        const char *s;
        int64_t i;
        double d;
        bool b;
        const void *arr;
    } v;
} tel_attr;

/* Constructors for attribute literals (nothing is copied; pointers must outlive the use). */
#define TEL_ATTR_STR(k, str)                                                                       \
    ((tel_attr){.key = (k), .type = TEL_ATTR_STRING, .len = (uint32_t)__builtin_strlen(str),      \
                .v.s = (str)})
#define TEL_ATTR_INT64(k, n) ((tel_attr){.key = (k), .type = TEL_ATTR_INT, .v.i = (int64_t)(n)})
#define TEL_ATTR_DBL(k, x) ((tel_attr){.key = (k), .type = TEL_ATTR_DOUBLE, .v.d = (double)(x)})
#define TEL_ATTR_BOOLEAN(k, x) ((tel_attr){.key = (k), .type = TEL_ATTR_BOOL, .v.b = (bool)(x)})

/* Element i of an array attribute as a scalar attribute (key NULL). A NULL string element reads
 * as "". The caller guarantees a->type is an array type and i < a->len. */
static inline tel_attr tel_attr_array_element(const tel_attr *a, uint32_t i)
{
    tel_attr el = {.key = NULL};
    switch (a->type) {
    case TEL_ATTR_STRING_ARRAY: {
        const char *s = ((const char *const *)a->v.arr)[i];
        el.type = TEL_ATTR_STRING;
        el.v.s = s ? s : "";
        el.len = (uint32_t)__builtin_strlen(el.v.s);
        break;
    }
    case TEL_ATTR_BOOL_ARRAY:
        el.type = TEL_ATTR_BOOL;
        el.v.b = ((const bool *)a->v.arr)[i];
        break;
    case TEL_ATTR_INT_ARRAY:
        el.type = TEL_ATTR_INT;
        el.v.i = ((const int64_t *)a->v.arr)[i];
        break;
    default:
        el.type = TEL_ATTR_DOUBLE;
        el.v.d = ((const double *)a->v.arr)[i];
        break;
    }
    return el;
}

/* Wall clock in nanoseconds since the Unix epoch (CLOCK_REALTIME). Thread safe. */
static inline uint64_t tel_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Monotonic clock in nanoseconds, for deadlines and durations. Thread safe. */
static inline uint64_t tel_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef __cplusplus
}
#endif
#endif
