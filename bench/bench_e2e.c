/* End-to-end cost of tracing: `power status` through the gateway's HTTP API (gateway -> manager
 * look-up (cached as configured by default) -> agent over gRPC -> IPMI to ipmi_sim), with a valid
 * token, against two local fleets started side by side by scripts/fleet.py: one with telemetry
 * off (OTEL_SDK_DISABLED=true) and one with every service tracing (always_on sampler, batch span
 * processor, file exporter). Calls alternate between the two fleets (so both see the same
 * machine load) and share one simulated BMC, 20 warm-up calls each, then 200 measured calls
 * each; one run.
 *
 * Prints:
 *   e2e.power_status.untraced <median> ms
 *   e2e.power_status.traced   <median> ms
 *   e2e.overhead_pct          <(traced - untraced) / untraced * 100> %     target: under 3
 *
 * Needs the fleet's binaries in the same build directory (the bench build builds everything),
 * python3, ipmi_sim; prints a "skip" line when the fleets cannot start. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "bench_util.h"

#define WARMUP 20
#define CALLS 200

typedef struct fleet {
    const char *mode; /* "off" or "file" */
    char state[PATH_MAX];
    char gateway[256], manager[256], server[64], user[64], password[128];
    char *token;
    CURL *curl;
    struct curl_slist *headers;
    char url[512];
    bool up;
    double samples[CALLS];
} fleet;

static char src_dir[PATH_MAX], build_dir[PATH_MAX], tmp_dir[64];
static fleet fleets[2] = {{.mode = "off"}, {.mode = "file"}};

/* The build directory (parent of bench/) and, from its CMakeCache.txt, the source directory. */
static int find_dirs(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash)
            return -1;
        *slash = '\0';
    }
    snprintf(build_dir, sizeof build_dir, "%s", exe);
    char cache[PATH_MAX + 32], line[PATH_MAX + 64];
    snprintf(cache, sizeof cache, "%s/CMakeCache.txt", build_dir);
    FILE *f = fopen(cache, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        const char *key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
        if (strncmp(line, key, strlen(key)) == 0) {
            const char *v = line + strlen(key);
            size_t len = strcspn(v, "\n");
            if (len < sizeof src_dir) {
                memcpy(src_dir, v, len);
                src_dir[len] = '\0';
            }
        }
    }
    fclose(f);
    return src_dir[0] ? 0 : -1;
}

static void fleet_down_all(void)
{
    /* the traced fleet first: it uses the BMC the untraced one started */
    for (int i = 1; i >= 0; i--) {
        if (!fleets[i].up)
            continue;
        char cmd[PATH_MAX * 3];
        snprintf(cmd, sizeof cmd, "python3 '%s/scripts/fleet.py' down --state '%s' >/dev/null 2>&1",
                 src_dir, fleets[i].state);
        if (system(cmd) != 0) {
            /* reported by fleet.py itself; nothing more to do */
        }
        fleets[i].up = false;
    }
    if (tmp_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
        if (system(cmd) != 0) {
            /* a leftover temporary directory is harmless */
        }
        tmp_dir[0] = '\0';
    }
}

static void on_signal(int sig)
{
    (void)sig;
    fleet_down_all();
    _exit(130);
}

static int fleet_up(fleet *f)
{
    snprintf(f->state, sizeof f->state, "%s/%s", tmp_dir, f->mode);
    char cmd[PATH_MAX * 5];
    /* The second fleet uses the first one's simulated BMC: both measure the same BMC. */
    char share[PATH_MAX + 32] = "";
    if (f != &fleets[0])
        snprintf(share, sizeof share, "--bmcs-from '%s/bmcs.env'", fleets[0].state);
    int n = snprintf(cmd, sizeof cmd,
                     "python3 '%s/scripts/fleet.py' up --build '%s' --state '%s' --ports auto "
                     "--bmcs 1 %s --traces %s --quiet >'%s.out' 2>&1",
                     src_dir, build_dir, f->state, share, f->mode, f->state);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1; /* paths too long for the command line */
    f->up = true;
    if (system(cmd) != 0)
        return -1;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/state.json", f->state);
    json_error_t e;
    json_t *st = json_load_file(path, 0, &e);
    if (!st)
        return -1;
    const char *gw = json_string_value(json_object_get(st, "gateway_url"));
    const char *mg = json_string_value(json_object_get(st, "manager_url"));
    const char *srv = json_string_value(json_object_get(json_object_get(st, "servers"), "web-01"));
    json_t *demo = json_object_get(st, "demo");
    const char *u = json_string_value(json_object_get(demo, "username"));
    const char *p = json_string_value(json_object_get(demo, "password"));
    int rc = gw && mg && srv && u && p ? 0 : -1;
    if (rc == 0) {
        snprintf(f->gateway, sizeof f->gateway, "%s", gw);
        snprintf(f->manager, sizeof f->manager, "%s", mg);
        snprintf(f->server, sizeof f->server, "%s", srv);
        snprintf(f->user, sizeof f->user, "%s", u);
        snprintf(f->password, sizeof f->password, "%s", p);
    }
    json_decref(st);
    return rc;
}

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t collect(char *data, size_t size, size_t nmemb, void *ud)
{
    buf *b = ud;
    size_t len = size * nmemb;
    char *q = realloc(b->p, b->n + len + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, data, len);
    b->n += len;
    q[b->n] = '\0';
    b->p = q;
    return len;
}

/* POSTs body to url; returns the HTTP status (0 on transport failure) and the body in *out. */
static long post(CURL *c, const char *url, struct curl_slist *h, const char *body, buf *out)
{
    out->n = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    if (curl_easy_perform(c) != CURLE_OK)
        return 0;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static int fleet_login(fleet *f)
{
    f->curl = curl_easy_init();
    if (!f->curl)
        return -1;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    json_t *req = json_pack("{s:s,s:s}", "username", f->user, "password", f->password);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char url[320];
    snprintf(url, sizeof url, "%s/v1/auth/login", f->manager);
    buf out = {0};
    long st = post(f->curl, url, h, body, &out);
    free(body);
    curl_slist_free_all(h);
    json_error_t e;
    json_t *r = st == 200 && out.p ? json_loads(out.p, 0, &e) : NULL;
    free(out.p);
    const char *tok = json_string_value(json_object_get(r, "token"));
    if (!tok) {
        json_decref(r);
        return -1;
    }
    size_t need = strlen(tok) + 32;
    char *auth = malloc(need);
    if (!auth) {
        json_decref(r);
        return -1;
    }
    snprintf(auth, need, "Authorization: Bearer %s", tok);
    json_decref(r);
    f->headers = curl_slist_append(NULL, "Content-Type: application/json");
    f->headers = curl_slist_append(f->headers, auth);
    memset(auth, 0, need);
    free(auth);
    snprintf(f->url, sizeof f->url, "%s/v1/servers/%s/power", f->gateway, f->server);
    return 0;
}

/* One power status call; returns its duration in ms, or -1 on failure. */
static double call(fleet *f)
{
    buf out = {0};
    uint64_t t0 = bench_now();
    long st = post(f->curl, f->url, f->headers, "{\"action\":\"status\"}", &out);
    uint64_t t1 = bench_now();
    free(out.p);
    return st == 200 ? (double)(t1 - t0) / 1e6 : -1;
}

int main(void)
{
    if (find_dirs() != 0) {
        printf("e2e.power_status skip (cannot find the build and source directories)\n");
        return 0;
    }
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/bmc-bench-e2e-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        printf("e2e.power_status skip (mkdtemp: %s)\n", strerror(errno));
        return 0;
    }
    atexit(fleet_down_all);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < 2; i++) {
        if (fleet_up(&fleets[i]) != 0 || fleet_login(&fleets[i]) != 0) {
            printf("e2e.power_status skip (the %s fleet did not start: see %s.out)\n",
                   fleets[i].mode, fleets[i].state);
            char cmd[PATH_MAX + 32];
            snprintf(cmd, sizeof cmd, "tail -n 20 '%s.out' >&2", fleets[i].state);
            if (system(cmd) != 0) {
                /* nothing more to show */
            }
            return 0;
        }
    }
    int errors = 0;
    for (int i = 0; i < WARMUP; i++)
        for (int k = 0; k < 2; k++)
            errors += call(&fleets[k]) < 0;
    for (int i = 0; i < CALLS; i++) {
        /* alternate which fleet goes first, so neither always follows the other */
        for (int j = 0; j < 2; j++) {
            fleet *f = &fleets[(i + j) % 2];
            double ms = call(f);
            if (ms < 0) {
                errors++;
                ms = 0;
            }
            f->samples[i] = ms;
        }
    }
    double untraced = bench_median(fleets[0].samples, CALLS);
    double traced = bench_median(fleets[1].samples, CALLS);
    double overhead = (traced - untraced) / untraced * 100.0;
    bench_print("e2e.power_status.untraced", untraced, "ms");
    bench_print("e2e.power_status.traced", traced, "ms");
    bench_print("e2e.overhead_pct", overhead, "%");
    printf("# median of %d calls each (alternating), gateway -> manager (cached) -> agent -> "
           "ipmi_sim; target e2e.overhead_pct < 3: %s\n", CALLS, overhead < 3.0 ? "met" : "NOT met");
    if (errors)
        printf("e2e.errors %d\n", errors);
    for (int i = 0; i < 2; i++) {
        curl_slist_free_all(fleets[i].headers);
        curl_easy_cleanup(fleets[i].curl);
    }
    curl_global_cleanup();
    return 0;
}
