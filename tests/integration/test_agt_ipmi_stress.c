/* 20 threads ask one BMC (ipmi_sim) for its power status at the same time, several rounds, with
 * the pool capped at 2 sessions (the default) and then at 1: every call succeeds, and the driver
 * never opens more sessions than the cap (counted from the ipmi.session.open spans); every other
 * command span reports a reused session, and every call reached the simulator (its chassis
 * script ran once per status request). Caps 1 and 4 are run too. Exit 77 when ipmi_sim is
 * missing. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "agent/bmc.h"
#include "ipmisim_harness.h"
#include "test_tracing.h"

#define THREADS 20
#define ROUNDS 5

typedef struct shared {
    agt_bmc *bmc;
    pthread_barrier_t start;
    atomic_int ok, failed;
} shared;

static void *worker(void *arg)
{
    shared *sh = arg;
    pthread_barrier_wait(&sh->start);
    for (int r = 0; r < ROUNDS; r++) {
        agt_power_state st;
        agt_result res;
        int rc = agt_bmc_power(sh->bmc, NULL, tel_mono_ns() + 10000000000ull, AGT_POWER_STATUS,
                               &st, &res);
        if (rc == AGT_OK && st != AGT_POWER_UNKNOWN) {
            atomic_fetch_add(&sh->ok, 1);
        } else {
            atomic_fetch_add(&sh->failed, 1);
            fprintf(stderr, "call failed: %s\n", res.message);
        }
    }
    return NULL;
}

static void run(ipmisim *sim, test_tracing *tt, int cap)
{
    tel_memory_exporter_reset(tt->mem);
    agt_bmc_options o;
    ipmisim_bmc_options(&o);
    o.tracer = tt->tracer;
    o.pool_max_sessions = cap == 2 ? 0 : cap; /* 0: the default, 2 */
    shared sh = {.bmc = agt_bmc_create(ipmisim_endpoint(sim), IPMISIM_USER, IPMISIM_PASSWORD, &o,
                                       NULL)};
    CHECK(sh.bmc != NULL, "agt_bmc_create");
    if (!sh.bmc)
        return;
    pthread_barrier_init(&sh.start, NULL, THREADS);
    pthread_t th[THREADS];
    uint64_t t0 = tel_mono_ns();
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, &sh);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    double ms = (double)(tel_mono_ns() - t0) / 1e6;
    pthread_barrier_destroy(&sh.start);
    agt_bmc_destroy(sh.bmc);

    int calls = THREADS * ROUNDS;
    size_t opens = test_span_count(tt->mem, "ipmi.session.open");
    size_t statuses = test_span_count(tt->mem, "ipmi.get_chassis_status");
    size_t reused = 0;
    for (size_t i = 0; i < statuses; i++)
        if (test_attr_bool(test_span_nth(tt->mem, "ipmi.get_chassis_status", i),
                           "ipmi.session.reused") == 1)
            reused++;
    printf("cap %d: %d calls from %d threads in %.1f ms, %zu session(s) opened, %zu reused\n", cap,
           calls, THREADS, ms, opens, reused);
    CHECK(atomic_load(&sh.ok) == calls, "cap %d: %d of %d calls succeeded", cap,
          atomic_load(&sh.ok), calls);
    CHECK(opens >= 1 && opens <= (size_t)cap, "cap %d: %zu sessions opened", cap, opens);
    CHECK(statuses == (size_t)calls, "cap %d: %zu status spans for %d calls", cap, statuses, calls);
    CHECK(reused == (size_t)calls - opens, "cap %d: %zu reused of %d", cap, reused, calls);
    CHECK(test_span_count(tt->mem, "ipmi.power") == (size_t)calls, "operation spans");
}

int main(void)
{
    if (system("command -v ipmi_sim >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP: ipmi_sim (openipmi) not installed\n");
        return 77;
    }
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 0, NULL);
    ipmisim_config cfg = {0};
    ipmisim *sim = ipmisim_create(&cfg);
    CHECK(sim != NULL, "ipmi_sim did not start");
    if (sim) {
        int gets_before = ipmisim_power_gets(sim);
        run(sim, &tt, 2);
        run(sim, &tt, 1);
        run(sim, &tt, 4);
        /* Every call reached the simulator (it runs its chassis script once per status). */
        int gets = ipmisim_power_gets(sim) - gets_before;
        CHECK(gets == 3 * THREADS * ROUNDS, "%d status requests reached ipmi_sim", gets);
    }
    ipmisim_destroy(sim);
    test_tracing_cleanup(&tt);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        printf("ok\n");
    return failures ? 1 : 0;
}
