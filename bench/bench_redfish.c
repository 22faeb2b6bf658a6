/* Redfish driver latency against the Redfish simulator (tests/peers/redfish_sim, python3) on
 * loopback: power status with a warm session (service root, system and session cached, one GET
 * per call), traced into a discarding exporter so span and propagation costs are included.
 * Prints `redfish.power_status <median> ms` and the 90th percentile. Most of the figure is the
 * simulator (Python's http.server), not the driver. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/bmc.h"
#include "bench_discard.h"
#include "bench_util.h"
#include "redfish_sim/sim_launch.h"
#include "telemetry/processor.h"
#include "telemetry/trace.h"

#define N_WARM 20
#define N_RUNS 300


static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "bench-redfish");
    cfg.resource = tel_resource_create(&svc, 1);
    tel_tracer_provider *prov = tel_tracer_provider_create(&cfg);
    tel_tracer_provider_add_processor(prov,
                                      tel_simple_processor_create(bench_discard_exporter(), 1000));
    tel_tracer *tracer = tel_tracer_get(prov, "bench", "1");

    rf_sim sim = {0};
    const char *args[] = {"--user", "admin", "--password", "bench-pass", NULL};
    if (rf_sim_start(&sim, args) != 0) {
        fprintf(stderr, "bench_redfish: cannot start the simulator\n");
        return 1;
    }
    char ep[64];
    snprintf(ep, sizeof ep, "redfish://127.0.0.1:%d", sim.port);
    agt_bmc_options o = {.tracer = tracer};
    agt_result res;
    agt_bmc *b = agt_bmc_create(ep, "admin", "bench-pass", &o, &res);
    if (!b) {
        fprintf(stderr, "bench_redfish: %s\n", res.message);
        rf_sim_stop(&sim);
        return 1;
    }
    static uint64_t t[N_RUNS];
    int rc = AGT_OK;
    for (int i = 0; i < N_WARM + N_RUNS && rc == AGT_OK; i++) {
        tel_span *root = tel_span_start(tracer, "bench", TEL_SPAN_KIND_INTERNAL, NULL);
        tel_context ctx = TEL_CONTEXT_INIT;
        tel_context_set_span(&ctx, root);
        agt_power_state st;
        uint64_t t0 = bench_now();
        rc = agt_bmc_power(b, &ctx, tel_mono_ns() + 5000000000ull, AGT_POWER_STATUS, &st, &res);
        uint64_t dt = bench_now() - t0;
        tel_context_cleanup(&ctx);
        tel_span_end(root);
        if (i >= N_WARM) t[i - N_WARM] = dt;
    }
    agt_bmc_destroy(b);
    rf_sim_stop(&sim);
    tel_tracer_provider_destroy(prov);
    if (rc != AGT_OK) {
        fprintf(stderr, "bench_redfish: power status failed: %s\n", res.message);
        return 1;
    }
    qsort(t, N_RUNS, sizeof t[0], cmp_u64);
    bench_print("redfish.power_status", (double)t[N_RUNS / 2] / 1e6, "ms");
    bench_print("redfish.power_status.p90", (double)t[N_RUNS * 9 / 10] / 1e6, "ms");
    return 0;
}
