/* IPMI driver against ipmi_sim (started here through tests/peers/ipmi_sim), measured in the same
 * run as ipmitool against the same simulator:
 *   ipmi.power_status.reused   our driver, warm pooled session, median of N calls
 *   ipmitool.power_status      `ipmitool -I lanplus -H 127.0.0.1 -p PORT -U admin -P <pw> -C 3
 *                              chassis power status` (a new process and session each run), median
 *   ipmi.power_status.ratio    ours / ipmitool's (target: at most 0.20)
 *   ipmi.identity.reused       Get Device ID + Get System GUID on a warm session: the round trips
 *                              without ipmi_sim's chassis script, which it forks for every status
 *                              request (~2.5 ms) and which dominates the power-status figure
 *   ipmi.power_status.cold     a new handle per call: session open + status + close, the fair
 *                              comparison with one ipmitool run
 * Tracing is on (every span recorded and handed to an exporter that drops it), as in the agent.
 * Prints "skip" lines when ipmi_sim or ipmitool is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/bmc.h"
#include "bench_discard.h"
#include "bench_util.h"
#include "ipmisim_harness.h"
#include "telemetry/trace.h"

#define N_OURS 300
#define N_IPMITOOL 25


int main(void)
{
    if (system("command -v ipmi_sim >/dev/null 2>&1 && command -v ipmitool >/dev/null 2>&1")) {
        printf("ipmi.power_status.reused skip (ipmi_sim or ipmitool missing)\n");
        return 0;
    }
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "bench-ipmi");
    cfg.resource = tel_resource_create(&svc, 1);
    tel_tracer_provider *prov = tel_tracer_provider_create(&cfg);
    tel_tracer_provider_add_processor(prov, tel_bsp_create(bench_discard_exporter(), NULL));
    tel_tracer *tracer = tel_tracer_get(prov, "bench", "1");

    ipmisim_config scfg = {0};
    ipmisim *sim = ipmisim_create(&scfg);
    if (!sim) {
        printf("ipmi.power_status.reused skip (ipmi_sim did not start)\n");
        return 1;
    }
    agt_bmc_options o;
    ipmisim_bmc_options(&o);
    o.tracer = tracer;
    agt_bmc *b = agt_bmc_create(ipmisim_endpoint(sim), IPMISIM_USER, IPMISIM_PASSWORD, &o, NULL);
    static double t[N_OURS];
    agt_power_state st;
    agt_result res;
    int errors = 0;
    /* Deadline 30 s: sessions get libfreeipmi's 5 s timeout and stay warm between calls. */
    for (int i = 0; i < 5; i++)
        errors += agt_bmc_power(b, NULL, bench_now() + 30000000000ull, AGT_POWER_STATUS, &st,
                                &res) != AGT_OK;
    for (int i = 0; i < N_OURS; i++) {
        uint64_t t0 = bench_now();
        errors += agt_bmc_power(b, NULL, t0 + 30000000000ull, AGT_POWER_STATUS, &st, &res) !=
                  AGT_OK;
        t[i] = (double)(bench_now() - t0) / 1e6;
    }
    double ours = bench_median(t, N_OURS);
    for (int i = 0; i < N_OURS; i++) {
        agt_identity id;
        uint64_t t0 = bench_now();
        errors += agt_bmc_identity(b, NULL, t0 + 30000000000ull, &id, &res) != AGT_OK;
        t[i] = (double)(bench_now() - t0) / 1e6;
    }
    double ident = bench_median(t, N_OURS);
    agt_bmc_destroy(b);

    for (int i = 0; i < N_IPMITOOL; i++) {
        agt_bmc *c = agt_bmc_create(ipmisim_endpoint(sim), IPMISIM_USER, IPMISIM_PASSWORD, &o,
                                    NULL);
        uint64_t t0 = bench_now();
        errors += agt_bmc_power(c, NULL, t0 + 30000000000ull, AGT_POWER_STATUS, &st, &res) !=
                  AGT_OK;
        agt_bmc_destroy(c);
        t[i] = (double)(bench_now() - t0) / 1e6;
    }
    double cold = bench_median(t, N_IPMITOOL);

    const char *args[] = {"chassis", "power", "status", NULL};
    char out[256];
    for (int i = 0; i < N_IPMITOOL; i++) {
        uint64_t t0 = bench_now();
        errors += ipmisim_ipmitool(sim, args, out, sizeof out, 30000) != 0 ||
                  !strstr(out, "Chassis Power is");
        t[i] = (double)(bench_now() - t0) / 1e6;
    }
    double tool = bench_median(t, N_IPMITOOL);
    ipmisim_destroy(sim);
    tel_tracer_provider_destroy(prov);

    bench_print("ipmi.power_status.reused", ours, "ms");
    bench_print("ipmitool.power_status", tool, "ms");
    bench_print("ipmi.power_status.ratio", ours / tool, "ratio");
    printf("# target ipmi.power_status.reused <= 0.20 x ipmitool.power_status: %s\n",
           ours / tool <= 0.20 ? "met" : "NOT met");
    bench_print("ipmi.identity.reused", ident, "ms");
    bench_print("ipmi.power_status.cold", cold, "ms");
    if (errors)
        printf("ipmi.errors %d\n", errors);
    return errors ? 1 : 0;
}
