/* Gateway and agent as real processes on loopback: ipmi_sim (tests/peers/ipmi_sim harness) as the
 * BMC, and the real bmc-manager (seeded with `--seed`: customers, users, servers with the
 * simulator's endpoint and credentials), bmc-gateway and bmc-agent, all on port 0 (the ports are
 * read from their "listening" log lines). Users log in at the manager for their tokens. Each
 * service writes its spans with the file exporter (OTLP JSON lines) and its log lines to a file
 * in a private temporary directory.
 *
 * Scenarios (one ctest test each; `test_gw_agent <scenario>`):
 *   power      power status/on/off through the gateway change and read the simulator's state
 *              (cross-checked with `ipmitool -I lanplus -C 3`); manager, gateway and agent spans
 *              form one trace with the right parents across HTTP and gRPC and the business
 *              attributes; the server look-up is cached; unknown server and another customer's
 *              server 404; missing, malformed, expired, tampered, alg-none, unknown-kid,
 *              wrong-key and wrong-issuer tokens 401;
 *              viewer 403 for on / 200 for status; bad actions 400; no agent for a datacenter 503
 *              fast with an error span; the agent's own gRPC methods (Identity, Sensors,
 *              Discover, SolStream UNIMPLEMENTED); discovery spans and sensor gauges on
 *              /metrics.
 *   agent_down agent killed with SIGKILL while registered: the next call fails within 2 s with
 *              503 and an error span; restarted (new port), it registers again and calls work
 *              without restarting the gateway; an agent that stops heart-beating (SIGSTOP) is
 *              marked down after 3 intervals and comes back after SIGCONT; the gateway restarts
 *              and the agent registers again by itself.
 *   bmc_down   ipmi_sim killed: the call fails within its deadline with a clear message;
 *              restarted, calls work again.
 * Every scenario ends with SIGTERM to the services (exit status 0 expected) and a grep of every
 * file they wrote for the BMC password, the service token, the JWT and credential keys, the
 * users' passwords and their tokens.
 *
 * The files stay in /tmp/gwagent-* when a check failed or BMC_TEST_KEEP_FILES is set.
 * Exit 77 (skipped) when ipmi_sim or ipmitool is missing. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <jwt.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "core/error.h"
#include "core/grpc_client.h"
#include "core/token.h"
#include "ipmisim_harness.h"

#ifndef BMC_GATEWAY_EXE
#error "BMC_GATEWAY_EXE must name the bmc-gateway executable"
#endif
#ifndef BMC_AGENT_EXE
#error "BMC_AGENT_EXE must name the bmc-agent executable"
#endif
#ifndef BMC_MANAGER_EXE
#error "BMC_MANAGER_EXE must name the bmc-manager executable"
#endif

#define SVC_TOKEN "svc-Yp4-leakcheck-0123456789abcdef"
#define JWT_SECRET "jwt-secret-Kq9-leakcheck-0123456789abcd"
#define CRED_KEY "cred-key-Wm2-leakcheck-012345678" /* 32 bytes */
#define PW_ALICE "alice-Pw-Hx7-leakcheck"
#define PW_VICTOR "victor-Pw-Hx7-leakcheck"
#define PW_BOB "bob-Pw-Hx7-leakcheck"
#define AGENT_ID "agent-dc1"
#define HB_MS 300
#define BMC_TIMEOUT_MS 3000
#define GRACE_MS 1000

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static char dir[256];
static char jwt_b64[128], cred_b64[128];
static ipmisim *sim;

typedef struct service {
    const char *name;
    pid_t pid;
    char log[512];
    char traces[512];
    int runs;
} service;

static service mgr = {.name = "manager"}, gw = {.name = "gateway"}, agent = {.name = "agent"};
static int mgr_port, gw_http_port, gw_grpc_port, agent_grpc_port, agent_metrics_port;
/* Ids the manager gave the seeded servers: dc1 of customer acme, dc9 of acme (no agent there),
 * dc1 of customer other. */
static char srv_acme[24], srv_acme_dc9[24], srv_other[24], cst_acme[24];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- processes ---- */

static void kill_all(void)
{
    service *s[3] = {&agent, &gw, &mgr};
    for (int i = 0; i < 3; i++) {
        if (s[i]->pid > 0) {
            kill(s[i]->pid, SIGKILL);
            waitpid(s[i]->pid, NULL, 0);
            s[i]->pid = 0;
        }
    }
}

/* Starts exe (with arg1 when not NULL) with the inherited environment minus service settings,
 * plus env (NULL-terminated "K=V" list); stdout and stderr go to s->log (appended). */
static void spawn(service *s, const char *exe, const char *arg1, const char *arg2,
                  const char *const *env)
{
    extern char **environ;
    const char *keep[256];
    size_t n = 0;
    for (char **e = environ; *e && n < 200; e++) {
        if (strncmp(*e, "OTEL_", 5) == 0 || strncmp(*e, "GW_", 3) == 0 ||
            strncmp(*e, "AGENT_", 6) == 0 || strncmp(*e, "BMC_", 4) == 0 ||
            strncmp(*e, "MANAGER_", 8) == 0 || strncmp(*e, "LOG_LEVEL=", 10) == 0)
            continue;
        keep[n++] = *e;
    }
    for (const char *const *e = env; *e && n < 255; e++)
        keep[n++] = *e;
    keep[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char *const argv[] = {(char *)exe, (char *)arg1, (char *)arg2, NULL};
        execve(exe, argv, (char *const *)keep);
        _exit(127);
    }
    s->pid = pid;
}

/* Stops a service with SIGTERM and returns its exit status (-1: had to be killed). */
static int stop_service(service *s)
{
    if (s->pid <= 0) return 0;
    kill(s->pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 200; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        sleep_ms(50);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    return -1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Counts the occurrences of needle in the file. */
static int count_lines(const char *path, const char *needle)
{
    char *text = read_file(path, NULL);
    int n = 0;
    for (char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* Waits until the n-th line of s's log containing `needle` appears; returns that line parsed
 * (new reference) or NULL. */
static json_t *wait_line(service *s, const char *needle, int nth, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    do {
        char *text = read_file(s->log, NULL);
        int seen = 0;
        char *save = NULL;
        for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
             line = strtok_r(NULL, "\n", &save)) {
            if (!strstr(line, needle) || ++seen < nth) continue;
            json_t *j = json_loads(line, 0, NULL);
            free(text);
            return j;
        }
        free(text);
        if (s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            fprintf(stderr, "%s exited early; its log:\n", s->name);
            char *log = read_file(s->log, NULL);
            fprintf(stderr, "%s\n", log ? log : "(none)");
            free(log);
            s->pid = 0;
            return NULL;
        }
        sleep_ms(20);
    } while (now_ms() < end);
    return NULL;
}

/* The port of the server `name` from its "listening: <name> ..." log line (core/service.h). */
static int wait_port(service *s, const char *name, int nth)
{
    char needle[96];
    snprintf(needle, sizeof needle, "\"message\":\"listening: %s ", name);
    json_t *j = wait_line(s, needle, nth, 10000);
    int port = (int)json_integer_value(
        json_object_get(json_object_get(j, "attributes"), "server.port"));
    json_decref(j);
    return port;
}

/* Every service runs with OTEL_SDK_DISABLED=true (the telemetry_off scenario). */
static bool telemetry_off;

static void telemetry_env(char (*e)[600], int *n, const char *traces)
{
    if (telemetry_off)
        snprintf(e[(*n)++], sizeof e[0], "OTEL_SDK_DISABLED=true");
    snprintf(e[(*n)++], sizeof e[0], "OTEL_TRACES_EXPORTER=file");
    snprintf(e[(*n)++], sizeof e[0], "OTEL_EXPORTER_FILE_PATH=%s", traces);
    snprintf(e[(*n)++], sizeof e[0], "OTEL_METRICS_EXPORTER=none");
    snprintf(e[(*n)++], sizeof e[0], "OTEL_BSP_SCHEDULE_DELAY=50");
    snprintf(e[(*n)++], sizeof e[0], "BMC_SERVICE_TOKEN=%s", SVC_TOKEN);
}

/* ---- services ---- */

static const char *seed_server_id(json_t *summary, const char *customer, const char *server)
{
    size_t i, k;
    json_t *c, *sv;
    json_array_foreach(json_object_get(summary, "customers"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "name")), customer) != 0) continue;
        if (!server) return json_string_value(json_object_get(c, "id"));
        json_array_foreach(json_object_get(c, "servers"), k, sv)
            if (strcmp(json_string_value(json_object_get(sv, "name")), server) == 0)
                return json_string_value(json_object_get(sv, "id"));
    }
    return NULL;
}

static int start_manager(void)
{
    char seed[600];
    snprintf(seed, sizeof seed, "%s/seed.json", dir);
    json_t *srv = json_pack("{s:s, s:s, s:s, s:s}", "bmc_endpoint", ipmisim_endpoint(sim),
                            "bmc_username", IPMISIM_USER, "bmc_password", IPMISIM_PASSWORD,
                            "datacenter", "dc1");
    json_t *s1 = json_deep_copy(srv), *s9 = json_deep_copy(srv), *s2 = json_deep_copy(srv);
    json_object_set_new(s1, "name", json_string("bmc-1"));
    json_object_set_new(s9, "name", json_string("bmc-9"));
    json_object_set_new(s9, "datacenter", json_string("dc9"));
    json_object_set_new(s2, "name", json_string("bmc-2"));
    json_t *root = json_pack(
        "{s:[{s:s, s:[{s:s, s:s, s:[s,s]}, {s:s, s:s, s:[s]}], s:[o,o]},"
        "   {s:s, s:[{s:s, s:s, s:[s]}], s:[o]}]}",
        "customers", "name", "acme", "users", "username", "alice", "password", PW_ALICE, "roles",
        "admin", "operator", "username", "victor", "password", PW_VICTOR, "roles", "viewer",
        "servers", s1, s9, "name", "other", "users", "username", "bob", "password", PW_BOB,
        "roles", "admin", "servers", s2);
    json_decref(srv);
    if (!root || json_dump_file(root, seed, 0) != 0) return -1;
    json_decref(root);
    chmod(seed, 0600);

    char e[16][600];
    int n = 0;
    snprintf(mgr.log, sizeof mgr.log, "%s/manager.log", dir);
    snprintf(mgr.traces, sizeof mgr.traces, "%s/manager-traces.jsonl", dir);
    telemetry_env(e, &n, mgr.traces);
    snprintf(e[n++], sizeof e[0], "MANAGER_PORT=0");
    snprintf(e[n++], sizeof e[0], "MANAGER_DB=%s/manager.db", dir);
    snprintf(e[n++], sizeof e[0], "MANAGER_PWHASH_OPSLIMIT=1");
    snprintf(e[n++], sizeof e[0], "MANAGER_PWHASH_MEMLIMIT=8192");
    snprintf(e[n++], sizeof e[0], "BMC_JWT_KEYS=k1:%s", jwt_b64);
    snprintf(e[n++], sizeof e[0], "BMC_CRED_KEY=%s", cred_b64);
    const char *env[17];
    for (int i = 0; i < n; i++)
        env[i] = e[i];
    env[n] = NULL;
    spawn(&mgr, BMC_MANAGER_EXE, "--seed", seed, env);
    mgr_port = wait_port(&mgr, "api", 1);
    json_t *summary = wait_line(&mgr, "{\"customers\":", 1, 1000);
    const char *ids[4] = {seed_server_id(summary, "acme", "bmc-1"),
                          seed_server_id(summary, "acme", "bmc-9"),
                          seed_server_id(summary, "other", "bmc-2"),
                          seed_server_id(summary, "acme", NULL)};
    bool ok = mgr_port > 0 && ids[0] && ids[1] && ids[2] && ids[3];
    if (ok) {
        snprintf(srv_acme, sizeof srv_acme, "%s", ids[0]);
        snprintf(srv_acme_dc9, sizeof srv_acme_dc9, "%s", ids[1]);
        snprintf(srv_other, sizeof srv_other, "%s", ids[2]);
        snprintf(cst_acme, sizeof cst_acme, "%s", ids[3]);
    }
    json_decref(summary);
    return ok ? 0 : -1;
}

/* Starts the gateway; a restart (second run) reuses the ports of the first, so the agent finds
 * it again. Each run has its own log and trace file. */
static int start_gateway(void)
{
    char e[16][600];
    int n = 0;
    gw.runs++;
    snprintf(gw.log, sizeof gw.log, "%s/gateway-%d.log", dir, gw.runs);
    snprintf(gw.traces, sizeof gw.traces, "%s/gateway-traces-%d.jsonl", dir, gw.runs);
    telemetry_env(e, &n, gw.traces);
    snprintf(e[n++], sizeof e[0], "BMC_JWT_KEYS=k1:%s", jwt_b64);
    snprintf(e[n++], sizeof e[0], "GW_HTTP_PORT=%d", gw.runs > 1 ? gw_http_port : 0);
    snprintf(e[n++], sizeof e[0], "GW_GRPC_ADDRESS=127.0.0.1:%d", gw.runs > 1 ? gw_grpc_port : 0);
    snprintf(e[n++], sizeof e[0], "GW_MANAGER_URL=http://127.0.0.1:%d", mgr_port);
    snprintf(e[n++], sizeof e[0], "GW_HEARTBEAT_INTERVAL=%dms", HB_MS);
    snprintf(e[n++], sizeof e[0], "GW_BMC_TIMEOUT=%dms", BMC_TIMEOUT_MS);
    snprintf(e[n++], sizeof e[0], "GW_AGENT_GRACE=%dms", GRACE_MS);
    snprintf(e[n++], sizeof e[0], "GW_SERVER_CACHE_TTL=3s");
    const char *env[17];
    for (int i = 0; i < n; i++)
        env[i] = e[i];
    env[n] = NULL;
    spawn(&gw, BMC_GATEWAY_EXE, NULL, NULL, env);
    gw_http_port = wait_port(&gw, "api", 1);
    gw_grpc_port = wait_port(&gw, "registry", 1);
    return gw_http_port > 0 && gw_grpc_port > 0 ? 0 : -1;
}

/* Waits until the current gateway logged the agent's n-th registration ("agent <id>
 * registered", or "... registered again"). */
static bool wait_registered(int n)
{
    uint64_t end = now_ms() + 10000;
    while (now_ms() < end) {
        if (count_lines(gw.log, "\"message\":\"agent " AGENT_ID " registered") >= n)
            return true;
        sleep_ms(20);
    }
    return false;
}

/* Starts (or restarts) the agent and waits until the gateway has it registered (the n-th
 * registration for the n-th run). */
static int start_agent(void)
{
    char e[20][600];
    int n = 0;
    agent.runs++;
    snprintf(agent.log, sizeof agent.log, "%s/agent-%d.log", dir, agent.runs);
    snprintf(agent.traces, sizeof agent.traces, "%s/agent-traces-%d.jsonl", dir, agent.runs);
    char creds[300];
    snprintf(creds, sizeof creds, "%s/bmc-credentials", dir);
    FILE *f = fopen(creds, "w");
    if (!f) return -1;
    fchmod(fileno(f), 0600);
    fprintf(f, "# default credentials for discovery\n* %s %s\n", IPMISIM_USER, IPMISIM_PASSWORD);
    fclose(f);
    telemetry_env(e, &n, agent.traces);
    snprintf(e[n++], sizeof e[0], "AGENT_ID=%s", AGENT_ID);
    snprintf(e[n++], sizeof e[0], "AGENT_DATACENTER=dc1");
    snprintf(e[n++], sizeof e[0], "AGENT_GRPC_ADDRESS=127.0.0.1:0");
    snprintf(e[n++], sizeof e[0], "AGENT_METRICS_PORT=0");
    snprintf(e[n++], sizeof e[0], "AGENT_GATEWAY_ADDRESS=127.0.0.1:%d", gw_grpc_port);
    snprintf(e[n++], sizeof e[0], "AGENT_IPMI_WORKAROUNDS=opensesspriv");
    snprintf(e[n++], sizeof e[0], "BMC_AGENT_DISCOVER=%s", ipmisim_endpoint(sim));
    snprintf(e[n++], sizeof e[0], "BMC_AGENT_DISCOVER_CREDENTIALS_FILE=%s", creds);
    snprintf(e[n++], sizeof e[0], "AGENT_DISCOVERY_INTERVAL=2s");
    snprintf(e[n++], sizeof e[0], "AGENT_DISCOVERY_TIMEOUT=2s");
    const char *env[21];
    for (int i = 0; i < n; i++)
        env[i] = e[i];
    env[n] = NULL;
    spawn(&agent, BMC_AGENT_EXE, NULL, NULL, env);
    agent_grpc_port = wait_port(&agent, "agent", 1);
    agent_metrics_port = wait_port(&agent, "metrics", 1);
    if (agent_grpc_port <= 0 || agent_metrics_port <= 0) return -1;
    return wait_registered(agent.runs) ? 0 : -1;
}

static void setup_or_die(void)
{
    snprintf(dir, sizeof dir, "/tmp/gwagent-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    sodium_bin2base64(jwt_b64, sizeof jwt_b64, (const unsigned char *)JWT_SECRET,
                      strlen(JWT_SECRET), sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(cred_b64, sizeof cred_b64, (const unsigned char *)CRED_KEY,
                      strlen(CRED_KEY), sodium_base64_VARIANT_ORIGINAL);
    atexit(kill_all);
    ipmisim_config sc = {.sensors = true};
    sim = ipmisim_create(&sc);
    if (!sim) {
        fprintf(stderr, "FAIL: ipmi_sim did not start\n");
        exit(1);
    }
    if (start_manager() != 0 || start_gateway() != 0 || start_agent() != 0) {
        fprintf(stderr, "FAIL: could not start the services (logs in %s)\n", dir);
        kill_all();
        exit(1);
    }
}

/* ---- tokens ---- */

static char *b64url(const void *data, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(cap);
    sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* A token issued by core/token.h with keys "<kid>:<base64 of secret>", as of now + shift_s. */
static char *issue_token(const char *kid, const char *secret, int64_t shift_s, unsigned roles)
{
    char b64[128], spec[200], err[200];
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)secret, strlen(secret),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(spec, sizeof spec, "%s:%s", kid, b64);
    core_token_keys *k = NULL;
    if (core_token_keys_parse(spec, &k, err, sizeof err) != 0) return strdup("x");
    core_token_claims c = {.user_id = 1, .roles = roles};
    c.customer_id = strtoll(cst_acme, NULL, 10);
    snprintf(c.username, sizeof c.username, "alice");
    char *tok = NULL;
    core_token_issue(k, &c, (int64_t)time(NULL) + shift_s, 3600, &tok);
    core_token_keys_destroy(k);
    return tok ? tok : strdup("x");
}

/* A correctly signed token of another issuer (libjwt directly). */
static char *wrong_issuer_token(void)
{
    jwt_t *j = NULL;
    jwt_new(&j);
    long now = (long)time(NULL);
    jwt_add_grant(j, "sub", "1");
    jwt_add_grant(j, "usr", "alice");
    jwt_add_grant(j, "cst", cst_acme);
    jwt_add_grant(j, "iss", "someone-else");
    jwt_add_grant(j, "jti", "0123456789abcdef0123456789abcdef");
    jwt_add_grant_int(j, "iat", now);
    jwt_add_grant_int(j, "exp", now + 3600);
    jwt_add_grants_json(j, "{\"roles\":[\"admin\"]}");
    jwt_add_header(j, "kid", "k1");
    jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)JWT_SECRET, (int)strlen(JWT_SECRET));
    char *tok = jwt_encode_str(j);
    jwt_free(j);
    return tok;
}

static char *make_alg_none_token(void)
{
    const char *hdr = "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}";
    char body[300];
    snprintf(body, sizeof body,
             "{\"sub\":\"1\",\"usr\":\"alice\",\"cst\":\"%s\",\"roles\":[\"admin\"],"
             "\"iss\":\"bmc-manager\",\"jti\":\"0123456789abcdef0123456789abcdef\","
             "\"iat\":%ld,\"exp\":%ld}",
             cst_acme, (long)time(NULL), (long)time(NULL) + 3600);
    char *h = b64url(hdr, strlen(hdr)), *b = b64url(body, strlen(body));
    char *tok = malloc(strlen(h) + strlen(b) + 3);
    sprintf(tok, "%s.%s.", h, b);
    free(h);
    free(b);
    return tok;
}

/* The same token with one payload character changed (signature kept). */
static char *tamper(const char *tok)
{
    char *t = strdup(tok);
    char *p = strchr(t, '.') + 5;
    *p = *p == 'A' ? 'B' : 'A';
    return t;
}

/* ---- HTTP ---- */

typedef struct answer {
    long status;
    json_t *body;
    uint64_t ms;
    char raw[4096];
} answer;

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    answer *a = ud;
    size_t have = strlen(a->raw), add = sz * n;
    if (have + add >= sizeof a->raw) add = sizeof a->raw - have - 1;
    memcpy(a->raw + have, p, add);
    a->raw[have + add] = '\0';
    return sz * n;
}

static void answer_free(answer *a)
{
    json_decref(a->body);
    a->body = NULL;
}

static answer post_url(const char *url, const char *token, const char *body)
{
    answer a = {0};
    CURL *c = curl_easy_init();
    char auth[4096];
    struct curl_slist *h = curl_slist_append(NULL, "content-type: application/json");
    if (token) {
        snprintf(auth, sizeof auth, "authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    uint64_t t0 = now_ms();
    CURLcode rc = curl_easy_perform(c);
    a.ms = now_ms() - t0;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    a.body = json_loads(a.raw, 0, NULL);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return a;
}

static answer post_raw(const char *server, const char *token, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/servers/%s/power", gw_http_port, server);
    return post_url(url, token, body);
}

/* Logs in at the manager; returns the token (caller frees) or NULL. */
static char *login(const char *user, const char *password)
{
    char url[128], body[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/auth/login", mgr_port);
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, password);
    answer a = post_url(url, NULL, body);
    const char *tok = json_string_value(json_object_get(a.body, "token"));
    char *out = tok ? strdup(tok) : NULL;
    if (!out) fprintf(stderr, "login %s: %ld %s\n", user, a.status, a.raw);
    answer_free(&a);
    return out;
}

static answer power(const char *server, const char *token, const char *action)
{
    char body[64];
    snprintf(body, sizeof body, "{\"action\":\"%s\"}", action);
    return post_raw(server, token, body);
}

static const char *jstr(json_t *j, const char *path1, const char *path2)
{
    json_t *v = json_object_get(j, path1);
    if (path2) v = json_object_get(v, path2);
    const char *s = json_string_value(v);
    return s ? s : "";
}

static const char *err_code(const answer *a)
{
    return jstr(a->body, "error", "code");
}

/* ---- spans (OTLP JSON lines) ---- */

/* All spans of a file as a new JSON array. */
static json_t *load_spans(const char *path)
{
    json_t *out = json_array();
    char *text = read_file(path, NULL);
    char *save = NULL;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        /* JSON_ALLOW_NUL: a span attribute may legally hold \u0000. */
        json_t *j = json_loads(line, JSON_ALLOW_NUL, NULL);
        if (!j) fprintf(stderr, "unparsable line in %s\n", path);
        size_t i, k, m;
        json_t *rs, *ss, *sp;
        json_array_foreach(json_object_get(j, "resourceSpans"), i, rs)
            json_array_foreach(json_object_get(rs, "scopeSpans"), k, ss)
                json_array_foreach(json_object_get(ss, "spans"), m, sp)
                    json_array_append(out, sp);
        json_decref(j);
    }
    free(text);
    return out;
}

static const char *span_attr(json_t *span, const char *key)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(span, "attributes"), i, a) {
        if (strcmp(jstr(a, "key", NULL), key) != 0) continue;
        json_t *v = json_object_get(a, "value");
        if (json_object_get(v, "stringValue")) return jstr(v, "stringValue", NULL);
        if (json_object_get(v, "intValue")) return jstr(v, "intValue", NULL);
        return "?";
    }
    return NULL;
}

static bool attr_is(json_t *span, const char *key, const char *want)
{
    const char *v = span_attr(span, key);
    return v && strcmp(v, want) == 0;
}

static int span_status(json_t *span)
{
    return (int)json_integer_value(json_object_get(json_object_get(span, "status"), "code"));
}

/* The first span of the trace with this name (and kind, 0: any), or NULL (borrowed). */
static json_t *find_span(json_t *spans, const char *trace_id, const char *name, int kind)
{
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s) {
        if (strcmp(jstr(s, "traceId", NULL), trace_id) == 0 &&
            strcmp(jstr(s, "name", NULL), name) == 0 &&
            (!kind || json_integer_value(json_object_get(s, "kind")) == kind))
            return s;
    }
    return NULL;
}

/* Waits until the file holds a span of the trace with that name; returns all spans of the file
 * (new reference). */
static json_t *wait_span(const char *path, const char *trace_id, const char *name, int kind)
{
    json_t *spans = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref(spans);
        spans = load_spans(path);
        if (find_span(spans, trace_id, name, kind)) break;
        sleep_ms(50);
    }
    return spans;
}

static bool is_child(json_t *child, json_t *parent)
{
    return child && parent &&
           strcmp(jstr(child, "parentSpanId", NULL), jstr(parent, "spanId", NULL)) == 0 &&
           strcmp(jstr(child, "traceId", NULL), jstr(parent, "traceId", NULL)) == 0;
}

/* A span's start or end time (OTLP JSON: a decimal string of Unix nanoseconds). */
static int64_t span_time(json_t *span, const char *key)
{
    return (int64_t)strtoll(jstr(span, key, "0"), NULL, 10);
}

/* Whether child lies within parent in time, with `slack` ns for the processes' clocks (each
 * anchors its own TSC clock to CLOCK_REALTIME); prints the offsets when not. A server span that
 * outlives its client span reads as the callee still working after the caller had its answer. */
static bool within(json_t *child, json_t *parent, int64_t slack)
{
    if (!child || !parent) return false;
    int64_t ps = span_time(parent, "startTimeUnixNano"), pe = span_time(parent, "endTimeUnixNano");
    int64_t cs = span_time(child, "startTimeUnixNano"), ce = span_time(child, "endTimeUnixNano");
    bool ok = cs >= ps - slack && ce <= pe + slack && cs <= ce;
    if (!ok)
        fprintf(stderr, "  %s [%s]: starts %+lld us, ends %+lld us after its parent's end "
                        "(parent lasted %lld us)\n",
                jstr(child, "name", "?"), jstr(child, "spanId", "?"), (long long)(cs - ps) / 1000,
                (long long)(ce - pe) / 1000, (long long)(pe - ps) / 1000);
    return ok;
}

/* ---- checks shared by the scenarios ---- */

static const char *ipmitool_power(void)
{
    static char out[512];
    const char *args[] = {"chassis", "power", "status", NULL};
    if (ipmisim_ipmitool(sim, args, out, sizeof out, 10000) != 0) return "error";
    return strstr(out, "is on") ? "on" : strstr(out, "is off") ? "off" : "error";
}

static void expect_power(const char *token, const char *action, const char *want_state)
{
    answer a = power(srv_acme, token, action);
    CHECK(a.status == 200, "power %s: status %ld body %s", action, a.status, a.raw);
    CHECK(strcmp(jstr(a.body, "power_state", NULL), want_state) == 0,
          "power %s: power_state %s, want %s", action, jstr(a.body, "power_state", NULL),
          want_state);
    CHECK(strcmp(jstr(a.body, "server_id", NULL), srv_acme) == 0 &&
              strcmp(jstr(a.body, "action", NULL), action) == 0 &&
              strlen(jstr(a.body, "trace_id", NULL)) == 32,
          "power %s: answer fields %s", action, a.raw);
    answer_free(&a);
}

/* Every file in dir: none may contain a secret. */
static void check_no_secrets(const char *const *extra, size_t n_extra)
{
    const char *secrets[16] = {IPMISIM_PASSWORD, SVC_TOKEN, JWT_SECRET, jwt_b64, CRED_KEY,
                               cred_b64, PW_ALICE, PW_VICTOR, PW_BOB};
    size_t ns = 9;
    for (size_t i = 0; i < n_extra && ns < 16; i++)
        if (extra[i]) secrets[ns++] = extra[i];
    /* Every log and trace file (the seed, the credentials file and the database hold secrets by
     * design). */
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[600];
    int scanned = 0;
    while (d && (de = readdir(d))) {
        if (!strstr(de->d_name, ".log") && !strstr(de->d_name, ".jsonl")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t len = 0;
        char *text = read_file(path, &len);
        if (!text) continue;
        scanned++;
        for (size_t s = 0; s < ns; s++)
            CHECK(!memmem(text, len, secrets[s], strlen(secrets[s])),
                  "secret #%zu found in %s", s, path);
        free(text);
    }
    if (d) closedir(d);
    int expected = 2 + 2 * gw.runs + 2 * agent.runs;
    CHECK(scanned == expected, "scanned %d files, expected %d", scanned, expected);
}

static void stop_services(void)
{
    int st = stop_service(&agent);
    CHECK(st == 0, "agent exit status %d after SIGTERM", st);
    st = stop_service(&gw);
    CHECK(st == 0, "gateway exit status %d after SIGTERM", st);
    st = stop_service(&mgr);
    CHECK(st == 0, "manager exit status %d after SIGTERM", st);
}

/* ---- scenario: power ---- */

static void check_trace(const char *trace_id)
{
    json_t *g = wait_span(gw.traces, trace_id, "bmcfleet.agent.v1.Agent/Power", 3);
    json_t *a = wait_span(agent.traces, trace_id, "ipmi.power", 0);
    json_t *g_srv = find_span(g, trace_id, "POST /v1/servers/{id}/power", 2);
    json_t *g_cli = find_span(g, trace_id, "bmcfleet.agent.v1.Agent/Power", 3);
    json_t *a_srv = find_span(a, trace_id, "bmcfleet.agent.v1.Agent/Power", 2);
    json_t *a_ipmi = find_span(a, trace_id, "ipmi.power", 0);
    json_t *a_cmd = find_span(a, trace_id, "ipmi.chassis_control", 0);
    CHECK(g_srv && g_cli && a_srv && a_ipmi && a_cmd,
          "trace %s: spans gw server %d, gw client %d, agent server %d, ipmi.power %d, "
          "ipmi.chassis_control %d",
          trace_id, !!g_srv, !!g_cli, !!a_srv, !!a_ipmi, !!a_cmd);
    CHECK(is_child(g_cli, g_srv), "gateway client span is not a child of the server span");
    CHECK(is_child(a_srv, g_cli), "agent server span is not a child of the gateway client span");
    CHECK(is_child(a_ipmi, a_srv), "ipmi.power is not a child of the agent server span");
    CHECK(is_child(a_cmd, a_ipmi), "ipmi.chassis_control is not a child of ipmi.power");
    /* Each span lies within its parent's time: the waterfall a user reads nests. */
    const int64_t slack = 200000;
    CHECK(within(g_cli, g_srv, slack), "gateway client span outside its server span");
    CHECK(within(a_srv, g_cli, slack), "agent server span outside the gateway client span");
    CHECK(within(a_ipmi, a_srv, slack), "ipmi.power outside the agent server span");
    CHECK(within(a_cmd, a_ipmi, slack), "ipmi.chassis_control outside ipmi.power");
    if (g_srv)
        CHECK(attr_is(g_srv, "server_id", srv_acme) && attr_is(g_srv, "customer_id", cst_acme) &&
                  attr_is(g_srv, "datacenter", "dc1") && attr_is(g_srv, "agent_id", AGENT_ID) &&
                  attr_is(g_srv, "http.response.status_code", "200"),
              "gateway server span attributes");
    if (a_srv)
        CHECK(attr_is(a_srv, "server_id", srv_acme) && attr_is(a_srv, "customer_id", cst_acme) &&
                  attr_is(a_srv, "datacenter", "dc1") && attr_is(a_srv, "agent_id", AGENT_ID) &&
                  attr_is(a_srv, "bmc_type", "ipmi"),
              "agent server span attributes");
    if (a_ipmi)
        CHECK(attr_is(a_ipmi, "server_id", srv_acme) && attr_is(a_ipmi, "agent_id", AGENT_ID) &&
                  attr_is(a_ipmi, "bmc_type", "ipmi") && attr_is(a_ipmi, "datacenter", "dc1"),
              "ipmi.power span attributes (from baggage)");
    json_decref(g);
    json_decref(a);
}

/* Calls the agent directly over gRPC: Identity, Sensors, Discover, SolStream. */
static void check_agent_methods(void)
{
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", agent_grpc_port);
    core_grpc_channel_config cc = {.target = target};
    core_grpc_channel *ch = core_grpc_channel_create(&cc);
    core_grpc_call_opts o = {.timeout_ms = 5000, .untraced = true};
    core_grpc_status st;
    ProtobufCMessage *resp = NULL;

    Bmcfleet__Agent__V1__BmcRequest br = BMCFLEET__AGENT__V1__BMC_REQUEST__INIT;
    br.bmc_endpoint = (char *)ipmisim_endpoint(sim);
    br.bmc_username = IPMISIM_USER;
    br.bmc_password = IPMISIM_PASSWORD;
    br.deadline_ms = 3000;
    int rc = core_grpc_unary(ch, NULL, "/bmcfleet.agent.v1.Agent/Identity", &br.base,
                             &bmcfleet__agent__v1__identity_reply__descriptor, &resp, &o, &st);
    CHECK(rc == CORE_OK, "Identity: %s", st.message);
    if (rc == CORE_OK) {
        Bmcfleet__Agent__V1__IdentityReply *r = (Bmcfleet__Agent__V1__IdentityReply *)resp;
        CHECK(r->code == 0 && r->identity && strcmp(r->bmc_type, "ipmi") == 0,
              "Identity reply code %d %s", r->code, r->message);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    rc = core_grpc_unary(ch, NULL, "/bmcfleet.agent.v1.Agent/Sensors", &br.base,
                         &bmcfleet__agent__v1__sensors_reply__descriptor, &resp, &o, &st);
    CHECK(rc == CORE_OK, "Sensors: %s", st.message);
    if (rc == CORE_OK) {
        Bmcfleet__Agent__V1__SensorsReply *r = (Bmcfleet__Agent__V1__SensorsReply *)resp;
        bool temp = false;
        for (size_t i = 0; i < r->n_sensors; i++)
            if (strcmp(r->sensors[i]->kind, "temperature") == 0 && r->sensors[i]->value > 40 &&
                r->sensors[i]->value < 50)
                temp = true;
        CHECK(r->code == 0 && r->n_sensors == 3 && temp, "Sensors: code %d, %zu sensors",
              r->code, r->n_sensors);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    /* Wrong password: a reply code, never the password. */
    br.bmc_password = "wrong-password";
    rc = core_grpc_unary(ch, NULL, "/bmcfleet.agent.v1.Agent/Identity", &br.base,
                         &bmcfleet__agent__v1__identity_reply__descriptor, &resp, &o, &st);
    if (rc == CORE_OK) {
        Bmcfleet__Agent__V1__IdentityReply *r = (Bmcfleet__Agent__V1__IdentityReply *)resp;
        CHECK(r->code == AGT_EAUTH && !strstr(r->message, "wrong-password"),
              "Identity with a wrong password: code %d %s", r->code, r->message);
        protobuf_c_message_free_unpacked(resp, NULL);
    } else {
        CHECK(0, "Identity with a wrong password: %s", st.message);
    }
    /* Over-long credentials: a reply code, no crash. */
    char longname[600];
    memset(longname, 'u', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    br.bmc_password = IPMISIM_PASSWORD;
    br.bmc_username = longname;
    rc = core_grpc_unary(ch, NULL, "/bmcfleet.agent.v1.Agent/Identity", &br.base,
                         &bmcfleet__agent__v1__identity_reply__descriptor, &resp, &o, &st);
    if (rc == CORE_OK) {
        Bmcfleet__Agent__V1__IdentityReply *r = (Bmcfleet__Agent__V1__IdentityReply *)resp;
        CHECK(r->code != 0, "Identity with a 599-byte user name succeeded");
        protobuf_c_message_free_unpacked(resp, NULL);
    } else {
        CHECK(st.code == GRPC_STATUS_INVALID_ARGUMENT, "long user name: status %d", st.code);
    }
    br.bmc_username = IPMISIM_USER;
    /* A bad endpoint and a bad action: INVALID_ARGUMENT. */
    br.bmc_endpoint = "telnet://127.0.0.1:23";
    rc = core_grpc_unary(ch, NULL, "/bmcfleet.agent.v1.Agent/Identity", &br.base,
                         &bmcfleet__agent__v1__identity_reply__descriptor, &resp, &o, &st);
    CHECK(rc != CORE_OK && st.code == GRPC_STATUS_INVALID_ARGUMENT, "bad endpoint: status %d",
          st.code);
    Bmcfleet__Agent__V1__PowerRequest pr = BMCFLEET__AGENT__V1__POWER_REQUEST__INIT;
    pr.bmc_endpoint = (char *)ipmisim_endpoint(sim);
    pr.action = "explode";
    rc = core_grpc_unary(ch, NULL, "/bmcfleet.agent.v1.Agent/Power", &pr.base,
                         &bmcfleet__agent__v1__power_reply__descriptor, &resp, &o, &st);
    CHECK(rc != CORE_OK && st.code == GRPC_STATUS_INVALID_ARGUMENT, "bad action: status %d",
          st.code);

    Bmcfleet__Agent__V1__DiscoverRequest dr = BMCFLEET__AGENT__V1__DISCOVER_REQUEST__INIT;
    dr.refresh = true;
    dr.deadline_ms = 3000;
    rc = core_grpc_unary(ch, NULL, "/bmcfleet.agent.v1.Agent/Discover", &dr.base,
                         &bmcfleet__agent__v1__discover_reply__descriptor, &resp, &o, &st);
    CHECK(rc == CORE_OK, "Discover: %s", st.message);
    if (rc == CORE_OK) {
        Bmcfleet__Agent__V1__DiscoverReply *r = (Bmcfleet__Agent__V1__DiscoverReply *)resp;
        CHECK(r->n_bmcs == 1 && r->bmcs[0]->code == 0 && r->bmcs[0]->identity &&
                  r->bmcs[0]->n_sensors == 3 &&
                  strcmp(r->bmcs[0]->endpoint, ipmisim_endpoint(sim)) == 0 &&
                  r->cycle_unix_ms > 0,
              "Discover reply (%zu bmcs)", r->n_bmcs);
        protobuf_c_message_free_unpacked(resp, NULL);
    }

    core_grpc_stream *s = NULL;
    rc = core_grpc_stream_open(ch, NULL, "/bmcfleet.agent.v1.Agent/SolStream",
                               &bmcfleet__agent__v1__console_frame__descriptor, &o, &s);
    if (rc == CORE_OK) {
        ProtobufCMessage *m = NULL;
        while (core_grpc_stream_recv(s, &m, 2000) == CORE_OK)
            protobuf_c_message_free_unpacked(m, NULL);
        core_grpc_status fst;
        core_grpc_stream_finish(s, &fst);
        CHECK(fst.code == GRPC_STATUS_UNIMPLEMENTED, "SolStream status %d", fst.code);
        core_grpc_stream_destroy(s);
    } else {
        CHECK(0, "SolStream open: %d", rc);
    }
    core_grpc_channel_destroy(ch);
}

/* The gateway's registry refuses calls without the service token and bad fields. */
static void check_registry_input(void)
{
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", gw_grpc_port);
    core_grpc_channel_config cc = {.target = target};
    core_grpc_channel *ch = core_grpc_channel_create(&cc);
    grpc_metadata md;
    memset(&md, 0, sizeof md);
    md.key = grpc_slice_from_static_string("authorization");
    md.value = grpc_slice_from_static_string("Bearer " SVC_TOKEN);
    core_grpc_call_opts with = {.timeout_ms = 3000, .untraced = true, .metadata = &md,
                                .n_metadata = 1};
    core_grpc_call_opts without = {.timeout_ms = 3000, .untraced = true};
    core_grpc_status st;
    const char *reg = "/bmcfleet.gateway.v1.Registry/Register";
    const char *hb = "/bmcfleet.gateway.v1.Registry/Heartbeat";
    /* RegisterRequest{agent_id=1, datacenter=2, address=3}: raw protobuf, so this test needs no
     * generated gateway code. */
    static const uint8_t good[] = {0x0a, 2, 'x', '1', 0x12, 3, 'd', 'c', '7',
                                   0x1a, 11, '1', '2', '7', '.', '0', '.', '0', '.', '1', ':', '9'};
    static const uint8_t bad_id[] = {0x0a, 4, '.', '.', '/', 'x', 0x12, 3, 'd', 'c', '7',
                                     0x1a, 11, '1', '2', '7', '.', '0', '.', '0', '.', '1', ':', '9'};
    static const uint8_t bad_addr[] = {0x0a, 2, 'x', '1', 0x12, 3, 'd', 'c', '7',
                                       0x1a, 6, 'h', ' ', 'o', ':', '9', '9'};
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x01};
    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = core_grpc_unary_bytes(ch, NULL, reg, good, sizeof good, &out, &out_len, &without,
                                   &st);
    CHECK(rc != CORE_OK && st.code == GRPC_STATUS_UNAUTHENTICATED,
          "Register without the service token: status %d", st.code);
    free(out);
    out = NULL;
    rc = core_grpc_unary_bytes(ch, NULL, reg, bad_id, sizeof bad_id, &out, &out_len, &with, &st);
    CHECK(rc != CORE_OK && st.code == GRPC_STATUS_INVALID_ARGUMENT, "bad agent_id: status %d",
          st.code);
    free(out);
    out = NULL;
    rc = core_grpc_unary_bytes(ch, NULL, reg, bad_addr, sizeof bad_addr, &out, &out_len, &with,
                               &st);
    CHECK(rc != CORE_OK && st.code == GRPC_STATUS_INVALID_ARGUMENT, "bad address: status %d",
          st.code);
    free(out);
    out = NULL;
    rc = core_grpc_unary_bytes(ch, NULL, hb, garbage, sizeof garbage, &out, &out_len, &with,
                               &st);
    CHECK(rc != CORE_OK && st.code == GRPC_STATUS_INVALID_ARGUMENT, "garbage: status %d",
          st.code);
    free(out);
    core_grpc_channel_destroy(ch);
}

static void check_metrics(void)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", agent_metrics_port);
    answer a = {0};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_easy_cleanup(c);
    CHECK(a.status == 200, "agent /metrics: %ld", a.status);
    CHECK(strstr(a.raw, "bmc_sensor_temperature") && strstr(a.raw, "CPU Temp") &&
              strstr(a.raw, "bmc_reachable") && strstr(a.raw, "bmc_sensor_fan_speed"),
          "agent /metrics lacks the sensor gauges:\n%.2000s", a.raw);
}

/* The server look-up of the trace: the gateway's GET to the manager and the manager's server
 * span under it (HTTP propagation), with the customer on the manager's span. */
static void check_manager_hop(const char *trace_id)
{
    json_t *g = wait_span(gw.traces, trace_id, "GET", 3);
    json_t *m = wait_span(mgr.traces, trace_id, "GET /v1/internal/servers/{id}", 2);
    json_t *g_srv = find_span(g, trace_id, "POST /v1/servers/{id}/power", 2);
    json_t *g_get = find_span(g, trace_id, "GET", 3);
    json_t *m_srv = find_span(m, trace_id, "GET /v1/internal/servers/{id}", 2);
    CHECK(is_child(g_get, g_srv), "the manager look-up is not a child of the gateway's span");
    CHECK(is_child(m_srv, g_get), "the manager's span is not a child of the gateway's GET");
    CHECK(m_srv && attr_is(m_srv, "customer_id", cst_acme) &&
              attr_is(m_srv, "server_id", srv_acme),
          "manager span attributes");
    json_decref(g);
    json_decref(m);
}

static void scenario_power(void)
{
    char *admin = login("alice", PW_ALICE);   /* admin + operator of acme */
    char *viewer = login("victor", PW_VICTOR); /* viewer of acme */
    char *other = login("bob", PW_BOB);        /* admin of another customer */
    if (!admin || !viewer || !other) {
        CHECK(0, "login failed");
        return;
    }

    /* status, on, status, off against the simulator, cross-checked with ipmitool. */
    const char *initial = ipmitool_power();
    answer st = power(srv_acme, admin, "status");
    CHECK(st.status == 200 && strcmp(jstr(st.body, "power_state", NULL), initial) == 0,
          "first status: %ld %s (ipmitool: %s)", st.status, st.raw, initial);
    answer on = power(srv_acme, admin, "on");
    CHECK(on.status == 200 && strcmp(jstr(on.body, "power_state", NULL), "on") == 0,
          "power on: %ld %s", on.status, on.raw);
    CHECK(ipmisim_power_file(sim) == 1, "simulator power state after on: %d",
          ipmisim_power_file(sim));
    CHECK(strcmp(ipmitool_power(), "on") == 0, "ipmitool after on: %s", ipmitool_power());
    expect_power(admin, "status", "on");
    expect_power(admin, "off", "off");
    CHECK(ipmisim_power_file(sim) == 0, "simulator power state after off");
    CHECK(strcmp(ipmitool_power(), "off") == 0, "ipmitool after off: %s", ipmitool_power());
    expect_power(viewer, "status", "off");

    /* One trace across manager, gateway and agent; the second call used the cached look-up. */
    if (st.status == 200) check_manager_hop(jstr(st.body, "trace_id", NULL));
    if (on.status == 200) {
        const char *tid = jstr(on.body, "trace_id", NULL);
        check_trace(tid);
        json_t *g = load_spans(gw.traces);
        CHECK(!find_span(g, tid, "GET", 3), "the second call looked the server up again");
        json_decref(g);
    }
    answer_free(&st);
    answer_free(&on);

    /* Unknown server, another customer's server (both ways), ids that are not ids: 404. */
    struct {
        const char *id, *token;
    } missing[] = {{"999999", admin}, {srv_other, admin}, {srv_acme, other}, {"a%20b", admin},
                   {"%2E%2E", admin}, {"1%27%20OR%201=1--", admin}};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        answer a = power(missing[i].id, missing[i].token, "status");
        CHECK(a.status == 404 && strcmp(err_code(&a), "not_found") == 0, "404 case %zu: %ld %s",
              i, a.status, a.raw);
        answer_free(&a);
    }
    /* A ';' in the path: the core HTTP server refuses the path itself (400 bad_path). */
    answer semi = power("1;DROP", admin, "status");
    CHECK(semi.status == 400 || semi.status == 404, "';' in the id: %ld %s", semi.status,
          semi.raw);
    answer_free(&semi);

    /* Tokens: 401 for each bad one, with the contract's error shape. */
    char *expired = issue_token("k1", JWT_SECRET, -7200, CORE_TOKEN_ROLE_ADMIN);
    char *tampered = tamper(admin);
    char *none = make_alg_none_token();
    char *unknown_kid = issue_token("k9", JWT_SECRET, 0, CORE_TOKEN_ROLE_ADMIN);
    char *wrong_key = issue_token("k1", "another-secret-0123456789-0123456789", 0,
                                  CORE_TOKEN_ROLE_ADMIN);
    char *wrong_iss = wrong_issuer_token();
    char *good = issue_token("k1", JWT_SECRET, 0, CORE_TOKEN_ROLE_OPERATOR);
    const char *bad[] = {NULL, "garbage", "a.b.c", expired, tampered, none, unknown_kid,
                         wrong_key, wrong_iss};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        answer a = power(srv_acme, bad[i], "on");
        CHECK(a.status == 401 && strcmp(err_code(&a), "unauthenticated") == 0,
              "bad token #%zu: %ld %s", i, a.status, a.raw);
        answer_free(&a);
    }
    CHECK(ipmisim_power_file(sim) == 0, "a rejected call changed the power state");
    /* The same key, well formed: accepted (so the rejections above are about the defects). */
    expect_power(good, "status", "off");

    /* Roles and bad bodies. */
    answer a = power(srv_acme, viewer, "on");
    CHECK(a.status == 403 && strcmp(err_code(&a), "forbidden") == 0, "viewer on: %ld %s",
          a.status, a.raw);
    answer_free(&a);
    a = power(srv_acme, admin, "explode");
    CHECK(a.status == 400 && strcmp(err_code(&a), "invalid_action") == 0, "bad action: %ld %s",
          a.status, a.raw);
    answer_free(&a);
    a = post_raw(srv_acme, admin, "{\"action\":");
    CHECK(a.status == 400, "malformed JSON: %ld %s", a.status, a.raw);
    answer_free(&a);
    a = post_raw(srv_acme, admin, "{\"action\":7}");
    CHECK(a.status == 400, "numeric action: %ld %s", a.status, a.raw);
    answer_free(&a);
    a = post_raw(srv_acme, admin, "{\"action\":\"on'; DROP TABLE servers;--\"}");
    CHECK(a.status == 400, "SQL in the action: %ld %s", a.status, a.raw);
    answer_free(&a);

    /* A datacenter without an agent: 503 at once, with an error span. */
    a = power(srv_acme_dc9, admin, "status");
    CHECK(a.status == 503 && strcmp(err_code(&a), "agent_unavailable") == 0 && a.ms < 2000,
          "no agent for dc9: %ld in %llu ms %s", a.status, (unsigned long long)a.ms, a.raw);
    const char *tid = jstr(a.body, "error", "trace_id");
    json_t *g = wait_span(gw.traces, tid, "gateway.select_agent", 0);
    json_t *sel = find_span(g, tid, "gateway.select_agent", 0);
    CHECK(sel && span_status(sel) == 2, "no ERROR span gateway.select_agent for dc9 (trace %s)",
          tid);
    json_decref(g);
    answer_free(&a);

    check_agent_methods();
    check_registry_input();
    check_metrics();

    /* Discovery: root spans agent.discovery with a child per BMC. */
    json_t *sp = load_spans(agent.traces);
    size_t i;
    json_t *s;
    bool found = false;
    json_array_foreach(sp, i, s) {
        if (strcmp(jstr(s, "name", NULL), "agent.discovery") != 0 ||
            *jstr(s, "parentSpanId", NULL))
            continue;
        json_t *child = find_span(sp, jstr(s, "traceId", NULL), "agent.discovery.bmc", 0);
        if (is_child(child, s) && attr_is(child, "bmc.type", "ipmi") &&
            attr_is(s, "agent_id", AGENT_ID))
            found = true;
    }
    CHECK(found, "no agent.discovery root span with an agent.discovery.bmc child");
    json_decref(sp);

    stop_services();
    const char *tokens[] = {admin, viewer, other, good};
    check_no_secrets(tokens, 4);
    free(admin);
    free(viewer);
    free(other);
    free(good);
    free(expired);
    free(tampered);
    free(none);
    free(unknown_kid);
    free(wrong_key);
    free(wrong_iss);
}

/* ---- scenario: agent_down ---- */

static void scenario_agent_down(void)
{
    char *admin = login("alice", PW_ALICE);
    if (!admin) {
        CHECK(0, "login failed");
        return;
    }
    expect_power(admin, "status", ipmitool_power());

    /* kill -9 while registered: the next call fails within 2 s with 503 and an error span. */
    kill(agent.pid, SIGKILL);
    waitpid(agent.pid, NULL, 0);
    agent.pid = 0;
    answer a = power(srv_acme, admin, "status");
    CHECK(a.status == 503 && strcmp(err_code(&a), "agent_unavailable") == 0,
          "after kill -9: %ld %s", a.status, a.raw);
    CHECK(a.ms < 2000, "after kill -9 the call took %llu ms", (unsigned long long)a.ms);
    const char *tid = jstr(a.body, "error", "trace_id");
    json_t *g = wait_span(gw.traces, tid, "POST /v1/servers/{id}/power", 2);
    json_t *srv = find_span(g, tid, "POST /v1/servers/{id}/power", 2);
    json_t *cli = find_span(g, tid, "bmcfleet.agent.v1.Agent/Power", 3);
    json_t *sel = find_span(g, tid, "gateway.select_agent", 0);
    CHECK(srv && span_status(srv) == 2 && attr_is(srv, "http.response.status_code", "503"),
          "server span of the failed call is not an ERROR 503");
    CHECK((cli && span_status(cli) == 2) || (sel && span_status(sel) == 2),
          "no error span below the failed call");
    json_decref(g);
    answer_free(&a);

    /* The agent is down now: fails fast without trying it. */
    a = power(srv_acme, admin, "status");
    CHECK(a.status == 503 && a.ms < 1000, "second call: %ld in %llu ms", a.status,
          (unsigned long long)a.ms);
    answer_free(&a);

    /* Restarted (on a new port): registers again, calls work without restarting the gateway. */
    CHECK(start_agent() == 0, "agent did not register again");
    expect_power(admin, "on", "on");
    CHECK(strcmp(ipmitool_power(), "on") == 0, "ipmitool after on");

    /* An agent that stops heart-beating is marked down after 3 intervals. */
    kill(agent.pid, SIGSTOP);
    sleep_ms(HB_MS * 3 + HB_MS * 2);
    a = power(srv_acme, admin, "status");
    CHECK(a.status == 503 && a.ms < 2000, "stopped agent: %ld in %llu ms %s", a.status,
          (unsigned long long)a.ms, a.raw);
    answer_free(&a);
    CHECK(count_lines(gw.log, "missed heartbeats") >= 1, "no missed-heartbeats log line");
    kill(agent.pid, SIGCONT);
    /* Its next heartbeat is answered known=false and it registers again. */
    uint64_t end = now_ms() + 5000;
    while (now_ms() < end &&
           count_lines(gw.log, "\"message\":\"agent " AGENT_ID " registered") < agent.runs + 1)
        sleep_ms(20);
    expect_power(admin, "off", "off");

    /* The gateway restarts (same ports): its registry is empty, the agent's next heartbeat is
     * answered known=false (or fails) and the agent registers again by itself. */
    int st = stop_service(&gw);
    CHECK(st == 0, "gateway exit status %d after SIGTERM", st);
    CHECK(start_gateway() == 0, "gateway did not restart on its ports");
    CHECK(wait_registered(1), "the agent did not register with the restarted gateway");
    expect_power(admin, "status", "off");

    stop_services();
    const char *tokens[] = {admin};
    check_no_secrets(tokens, 1);
    free(admin);
}

/* ---- scenario: bmc_down ---- */

static void scenario_bmc_down(void)
{
    char *admin = login("alice", PW_ALICE);
    if (!admin) {
        CHECK(0, "login failed");
        return;
    }
    expect_power(admin, "on", "on");

    ipmisim_kill(sim);
    answer a = power(srv_acme, admin, "status");
    CHECK((a.status == 504 && strcmp(err_code(&a), "bmc_timeout") == 0) ||
              (a.status == 502 && strcmp(err_code(&a), "bmc_unreachable") == 0),
          "BMC down: %ld %s", a.status, a.raw);
    CHECK(a.ms <= BMC_TIMEOUT_MS + GRACE_MS, "BMC down: the call took %llu ms (deadline %d ms)",
          (unsigned long long)a.ms, BMC_TIMEOUT_MS);
    const char *msg = jstr(a.body, "error", "message");
    CHECK(strlen(msg) > 10, "BMC down: unclear message \"%s\"", msg);
    fprintf(stderr, "BMC down answered %ld in %llu ms: %s\n", a.status, (unsigned long long)a.ms,
            msg);
    const char *tid = jstr(a.body, "error", "trace_id");
    json_t *sp = wait_span(agent.traces, tid, "ipmi.power", 0);
    json_t *ip = find_span(sp, tid, "ipmi.power", 0);
    CHECK(ip && span_status(ip) == 2, "no ERROR ipmi.power span for the failed call");
    json_decref(sp);
    answer_free(&a);

    CHECK(ipmisim_start(sim) == 0, "ipmi_sim did not restart");
    a = power(srv_acme, admin, "status");
    CHECK(a.status == 200, "after the BMC came back: %ld %s", a.status, a.raw);
    answer_free(&a);

    stop_services();
    const char *tokens[] = {admin};
    check_no_secrets(tokens, 1);
    free(admin);
}

/* Telemetry off in every service (OTEL_SDK_DISABLED=true, as `make local-env-up` runs them):
 * power operations still work end to end; answers and errors carry no trace_id (there is no
 * trace) instead of an all-zero one, and no span is written. */
static void scenario_telemetry_off(void)
{
    char *admin = login("alice", PW_ALICE);
    if (!admin) {
        CHECK(0, "login failed");
        return;
    }
    const char *initial = ipmitool_power();
    answer st = power(srv_acme, admin, "status");
    CHECK(st.status == 200 && strcmp(jstr(st.body, "power_state", NULL), initial) == 0,
          "status with telemetry off: %ld %s (ipmitool: %s)", st.status, st.raw, initial);
    CHECK(st.body && !json_object_get(st.body, "trace_id"), "trace_id with telemetry off: %s",
          st.raw);
    answer_free(&st);
    answer on = power(srv_acme, admin, "on");
    CHECK(on.status == 200 && strcmp(jstr(on.body, "power_state", NULL), "on") == 0 &&
              ipmisim_power_file(sim) == 1,
          "power on with telemetry off: %ld %s", on.status, on.raw);
    answer_free(&on);
    answer nf = power("999999", admin, "status");
    CHECK(nf.status == 404 && strcmp(err_code(&nf), "not_found") == 0 &&
              !json_object_get(json_object_get(nf.body, "error"), "trace_id"),
          "404 with telemetry off: %ld %s", nf.status, nf.raw);
    answer_free(&nf);
    const char *files[] = {gw.traces, agent.traces};
    for (size_t i = 0; i < 2; i++) {
        json_t *spans = load_spans(files[i]);
        CHECK(json_array_size(spans) == 0, "%zu spans in %s with telemetry off",
              json_array_size(spans), files[i]);
        json_decref(spans);
    }
    free(admin);
}

int main(int argc, char **argv)
{
    if (system("command -v ipmi_sim >/dev/null 2>&1 && command -v ipmitool >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP: ipmi_sim (openipmi) or ipmitool not installed\n");
        return 77;
    }
    const char *scenario = argc > 1 ? argv[1] : "power";
    telemetry_off = strcmp(scenario, "telemetry_off") == 0;
    if (sodium_init() < 0) return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    setup_or_die();
    uint64_t t0 = now_ms();
    if (strcmp(scenario, "power") == 0) {
        scenario_power();
    } else if (strcmp(scenario, "agent_down") == 0) {
        scenario_agent_down();
    } else if (strcmp(scenario, "bmc_down") == 0) {
        scenario_bmc_down();
    } else if (telemetry_off) {
        scenario_telemetry_off();
    } else {
        fprintf(stderr, "unknown scenario %s\n", scenario);
        kill_all();
        return 2;
    }
    kill_all();
    ipmisim_destroy(sim);
    curl_global_cleanup();
    bool keep = failures != 0 || getenv("BMC_TEST_KEEP_FILES");
    fprintf(stderr, "%s: %d checks, %d failures, %llu ms%s%s%s\n", scenario, checks, failures,
            (unsigned long long)(now_ms() - t0), keep ? " (files in " : "", keep ? dir : "",
            keep ? ")" : "");
    if (!keep) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return failures ? 1 : 0;
}
