/* tel_strerror: names of the library's error codes. */
#include "telemetry/common.h"

const char *tel_strerror(int code)
{
    switch (code) {
    case TEL_OK: return "success";
    case TEL_EINVAL: return "invalid argument or malformed input";
    case TEL_ENOMEM: return "out of memory";
    case TEL_EFULL: return "queue full, item dropped";
    case TEL_ETIMEDOUT: return "deadline exceeded";
    case TEL_ESHUTDOWN: return "already shut down";
    case TEL_EIO: return "I/O or transport failure";
    case TEL_ERETRYABLE: return "retryable failure, retries exhausted";
    case TEL_EREJECTED: return "rejected by the peer";
    case TEL_ENOTFOUND: return "not found";
    case TEL_ETOOBIG: return "over the size limit";
    case TEL_EDISABLED: return "telemetry SDK disabled";
    default: return "unknown error";
    }
}
