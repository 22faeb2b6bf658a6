/* ipmisim_run: simulated BMCs for shells (`make local-env-up`, the end-to-end tests, the
 * end-to-end bench), on top of ipmisim_harness.c.
 *
 *   ipmisim_run --count N --out FILE [--lifetime SECONDS]
 *
 * Starts N ipmi_sim BMCs on 127.0.0.1 (random free UDP ports, power initially off, three
 * sensors each), then writes FILE (mode 0600, replaced atomically once every BMC answers) as
 * shell assignments:
 *
 *   BMC_COUNT=2
 *   BMC_USER=admin
 *   BMC_PASSWORD=...            the simulators' fixed test password (IPMISIM_PASSWORD)
 *   BMC1_ENDPOINT=ipmi://127.0.0.1:23456
 *   BMC1_PORT=23456
 *   BMC1_PID=4242               the ipmi_sim process (SIGSTOP it to play a hung BMC)
 *   ...
 *
 * and stays in the foreground until SIGTERM or SIGINT (or the lifetime, default unlimited),
 * then stops every simulator and removes their directories. The simulators also die with this
 * process (PR_SET_PDEATHSIG). Exit status: 0 after a clean stop, 1 when a BMC could not be
 * started (nothing is left running), 2 for a usage error. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipmisim_harness.h"

#define MAX_BMCS 16

static int usage(void)
{
    fprintf(stderr, "usage: ipmisim_run --count N --out FILE [--lifetime SECONDS]\n");
    return 2;
}

static int write_out(const char *path, ipmisim **sims, int n)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    fprintf(f, "BMC_COUNT=%d\nBMC_USER=%s\nBMC_PASSWORD=%s\n", n, IPMISIM_USER, IPMISIM_PASSWORD);
    for (int i = 0; i < n; i++) {
        const char *ep = ipmisim_endpoint(sims[i]);
        fprintf(f, "BMC%d_ENDPOINT=%s\nBMC%d_PORT=%d\nBMC%d_PID=%ld\n", i + 1, ep, i + 1,
                ipmisim_port(sims[i]), i + 1, (long)ipmisim_pid(sims[i]));
    }
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

int main(int argc, char **argv)
{
    int count = 0;
    long lifetime = 0;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = atoi(argv[++i]);
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--lifetime") == 0 && i + 1 < argc)
            lifetime = atol(argv[++i]);
        else
            return usage();
    }
    if (count < 1 || count > MAX_BMCS || !out || lifetime < 0)
        return usage();

    /* SIGTERM/SIGINT are taken synchronously with sigtimedwait: block them before any thread
     * (the harness's serial listener) starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    ipmisim *sims[MAX_BMCS] = {0};
    ipmisim_config cfg = {.sol = false, .sensors = true};
    for (int i = 0; i < count; i++) {
        sims[i] = ipmisim_create(&cfg);
        if (!sims[i]) {
            fprintf(stderr, "ipmisim_run: BMC %d could not be started\n", i + 1);
            for (int j = 0; j < i; j++)
                ipmisim_destroy(sims[j]);
            return 1;
        }
    }
    if (write_out(out, sims, count) != 0) {
        fprintf(stderr, "ipmisim_run: cannot write %s: %s\n", out, strerror(errno));
        for (int i = 0; i < count; i++)
            ipmisim_destroy(sims[i]);
        return 1;
    }
    fprintf(stderr, "ipmisim_run: %d BMC(s) up, described in %s\n", count, out);

    time_t until = lifetime ? time(NULL) + lifetime : 0;
    for (;;) {
        struct timespec ts = {1, 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0)
            break;
        if (until && time(NULL) >= until)
            break;
    }
    for (int i = 0; i < count; i++)
        ipmisim_destroy(sims[i]);
    return 0;
}
