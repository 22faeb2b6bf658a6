/* Error codes shared by every core/ module (and the services built on it).
 *
 * Convention (DESIGN.md): functions return 0 (CORE_OK) or a negative CORE_E* code; constructors
 * return NULL on failure. The codes from -1 to -11 have the same values and meanings as the
 * telemetry library's TEL_E* codes (telemetry/common.h), so a TEL_E* code returned through a
 * core function (core_db_* returns them) is also a valid CORE_E* code and core_strerror names
 * it. Codes specific to the service runtime start at -20. */
#ifndef CORE_ERROR_H
#define CORE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CORE_OK = 0,
    /* Same values as TEL_E* (telemetry/common.h). */
    CORE_EINVAL = -1,     /* invalid argument or malformed input */
    CORE_ENOMEM = -2,     /* allocation failed */
    CORE_EFULL = -3,      /* a bounded queue or buffer is full; the item was not taken */
    CORE_ETIMEDOUT = -4,  /* a deadline passed */
    CORE_ESHUTDOWN = -5,  /* the object is shutting down or stopped */
    CORE_EIO = -6,        /* I/O or transport failure (connection refused, reset, ...) */
    CORE_ERETRYABLE = -7, /* the peer answered with a retryable failure and retries ran out */
    CORE_EREJECTED = -8,  /* the peer rejected the request permanently */
    CORE_ENOTFOUND = -9,  /* a looked-up item does not exist */
    CORE_ETOOBIG = -10,   /* input over a documented size limit */
    CORE_EDISABLED = -11, /* the telemetry SDK is disabled */
    /* Service runtime. */
    CORE_ECONFIG = -20,      /* a configuration value is missing or invalid */
    CORE_EEXIST = -21,       /* the item already exists (duplicate route, key, ...) */
    CORE_EBUSY = -22,        /* the resource is in use; try again later */
    CORE_EPROTO = -23,       /* the peer violated the protocol */
    CORE_ECLOSED = -24,      /* the connection is closed */
    CORE_EAGAIN = -25,       /* would block (backpressure); retry after a drain */
    CORE_EUNAVAILABLE = -26, /* the service or peer is unavailable */
    CORE_ECANCELLED = -27,   /* the operation was cancelled */
    CORE_EUNAUTHENTICATED = -28, /* missing or invalid credentials */
    CORE_EPERM = -29,        /* authenticated but not allowed */
    CORE_ESTATE = -30,       /* the call is not valid in the object's current state */
    CORE_EINTERNAL = -31,    /* an internal invariant failed (a bug) */
};

/* Returns a static English description of a CORE_E* (or TEL_E*) code; "unknown error" for
 * anything else. Thread safe. */
const char *core_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
