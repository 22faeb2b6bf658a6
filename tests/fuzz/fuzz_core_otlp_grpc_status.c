/* Fuzz target: core_otlp_grpc_parse_retry_info, the reader of the google.rpc.Status an OTLP/gRPC
 * receiver sends in grpc-status-details-bin (untrusted bytes from the network). */
#include <stdint.h>
#include <stdlib.h>

#include "core/otlp_grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t delay = -1;
    int rc = core_otlp_grpc_parse_retry_info(data, size, &delay);
    if (rc == 1 && (delay < 0 || delay > 24LL * 3600 * 1000)) abort();
    if (rc != 1 && rc != 0 && rc >= 0) abort();
    return 0;
}
