/* core_strerror: names of the CORE_E* codes. */
#include "core/error.h"

#include "telemetry/common.h"

/* The shared range must agree with telemetry/common.h. */
_Static_assert((int)CORE_EINVAL == (int)TEL_EINVAL, "CORE_EINVAL must equal TEL_EINVAL");
_Static_assert((int)CORE_ENOMEM == (int)TEL_ENOMEM, "CORE_ENOMEM must equal TEL_ENOMEM");
_Static_assert((int)CORE_EFULL == (int)TEL_EFULL, "CORE_EFULL must equal TEL_EFULL");
_Static_assert((int)CORE_ETIMEDOUT == (int)TEL_ETIMEDOUT, "CORE_ETIMEDOUT must equal TEL_ETIMEDOUT");
_Static_assert((int)CORE_ESHUTDOWN == (int)TEL_ESHUTDOWN, "CORE_ESHUTDOWN must equal TEL_ESHUTDOWN");
_Static_assert((int)CORE_EIO == (int)TEL_EIO, "CORE_EIO must equal TEL_EIO");
_Static_assert((int)CORE_ERETRYABLE == (int)TEL_ERETRYABLE, "CORE_ERETRYABLE must equal TEL_ERETRYABLE");
_Static_assert((int)CORE_EREJECTED == (int)TEL_EREJECTED, "CORE_EREJECTED must equal TEL_EREJECTED");
_Static_assert((int)CORE_ENOTFOUND == (int)TEL_ENOTFOUND, "CORE_ENOTFOUND must equal TEL_ENOTFOUND");
_Static_assert((int)CORE_ETOOBIG == (int)TEL_ETOOBIG, "CORE_ETOOBIG must equal TEL_ETOOBIG");
_Static_assert((int)CORE_EDISABLED == (int)TEL_EDISABLED, "CORE_EDISABLED must equal TEL_EDISABLED");

const char *core_strerror(int code)
{
    switch (code) {
    case CORE_OK:
        return "success";
    case CORE_EINVAL:
        return "invalid argument or malformed input";
    case CORE_ENOMEM:
        return "out of memory";
    case CORE_EFULL:
        return "queue or buffer full";
    case CORE_ETIMEDOUT:
        return "timed out";
    case CORE_ESHUTDOWN:
        return "shut down";
    case CORE_EIO:
        return "I/O or transport failure";
    case CORE_ERETRYABLE:
        return "retryable failure, retries exhausted";
    case CORE_EREJECTED:
        return "rejected by the peer";
    case CORE_ENOTFOUND:
        return "not found";
    case CORE_ETOOBIG:
        return "over the size limit";
    case CORE_EDISABLED:
        return "telemetry disabled";
    case CORE_ECONFIG:
        return "invalid configuration";
    case CORE_EEXIST:
        return "already exists";
    case CORE_EBUSY:
        return "busy";
    case CORE_EPROTO:
        return "protocol violation";
    case CORE_ECLOSED:
        return "connection closed";
    case CORE_EAGAIN:
        return "would block, try again";
    case CORE_EUNAVAILABLE:
        return "unavailable";
    case CORE_ECANCELLED:
        return "cancelled";
    case CORE_EUNAUTHENTICATED:
        return "unauthenticated";
    case CORE_EPERM:
        return "permission denied";
    case CORE_ESTATE:
        return "invalid in the current state";
    case CORE_EINTERNAL:
        return "internal error";
    default:
        return "unknown error";
    }
}
