/* agt_discovery: configuration parsing, the cycle thread and the latest results. */
#include "agt_discovery.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

typedef struct creds {
    char user[128];
    char pass[256];
} creds;

typedef struct target {
    char endpoint[256];
    agt_discovered last; /* guarded by d->mu */
} target;

struct agt_discovery {
    target *t;
    size_t n;
    creds *cr; /* sodium_malloc'd: n entries */
    char agent_id[65];
    char datacenter[65];
    int64_t interval_ms, bmc_timeout_ms;
    agt_cache *cache;
    tel_tracer *tracer;
    tel_instrument *g_reachable, *g_power, *g_temp, *g_fan, *g_watts;

    pthread_mutex_t mu;     /* results, stop flag */
    pthread_cond_t cv;      /* CLOCK_MONOTONIC */
    pthread_mutex_t cycle;  /* one cycle at a time */
    bool stopping, started;
    pthread_t thread;
    int64_t cycle_unix_ms;
};

static int64_t now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *scheme_type(const char *endpoint)
{
    return strncmp(endpoint, "redfish", 7) == 0 ? "redfish" : "ipmi";
}

static bool set_creds(creds *c, const char *user, const char *pass)
{
    if ((user && strlen(user) >= sizeof c->user) || (pass && strlen(pass) >= sizeof c->pass))
        return false;
    snprintf(c->user, sizeof c->user, "%s", user ? user : "");
    snprintf(c->pass, sizeof c->pass, "%s", pass ? pass : "");
    return true;
}

/* Reads the credentials file into the targets' entries (and the default). */
static int read_creds_file(agt_discovery *d, const char *path, creds *def, char *err,
                           size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "credentials file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        tel_log_warn("credentials file %s is readable by others (mode %03o)", path,
                     (unsigned)(st.st_mode & 0777));
    char *line = sodium_malloc(2048);
    int rc = 0, lineno = 0;
    while (line && fgets(line, 2048, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *save = NULL;
        char *ep = strtok_r(line, " \t\r\n", &save);
        if (!ep) continue;
        char *user = strtok_r(NULL, " \t\r\n", &save);
        char *pass = strtok_r(NULL, " \t\r\n", &save);
        char *extra = strtok_r(NULL, " \t\r\n", &save);
        if (!user || !pass || extra) {
            snprintf(err, errcap, "credentials file %s:%d: expected `endpoint username password`",
                     path, lineno);
            rc = -1;
            break;
        }
        creds *dst = NULL;
        if (strcmp(ep, "*") == 0) dst = def;
        for (size_t i = 0; !dst && i < d->n; i++)
            if (strcmp(d->t[i].endpoint, ep) == 0) dst = &d->cr[i];
        if (!dst) continue; /* an endpoint not in the discovery list */
        if (!set_creds(dst, user, pass)) {
            snprintf(err, errcap, "credentials file %s:%d: username or password too long", path,
                     lineno);
            rc = -1;
            break;
        }
    }
    if (!line) {
        snprintf(err, errcap, "out of memory");
        rc = -1;
    } else {
        sodium_free(line);
    }
    fclose(f);
    return rc;
}

agt_discovery *agt_discovery_create(const agt_discovery_config *cfg, char *err, size_t errcap)
{
    agt_discovery *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->cycle, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(d->agent_id, sizeof d->agent_id, "%s", cfg->agent_id ? cfg->agent_id : "");
    snprintf(d->datacenter, sizeof d->datacenter, "%s", cfg->datacenter ? cfg->datacenter : "");
    d->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : 60000;
    d->bmc_timeout_ms = cfg->bmc_timeout_ms > 0 ? cfg->bmc_timeout_ms : 5000;
    d->cache = cfg->cache;
    d->tracer = tel_global_tracer("bmcfleet.agent", NULL);

    /* Endpoints. */
    const char *p = cfg->endpoints ? cfg->endpoints : "";
    size_t count = 0;
    for (const char *q = p; *q; q++)
        if (*q == ',') count++;
    count++;
    if (count > AGT_DISCOVERY_MAX_TARGETS) {
        snprintf(err, errcap, "BMC_AGENT_DISCOVER: more than %d endpoints",
                 AGT_DISCOVERY_MAX_TARGETS);
        goto fail;
    }
    d->t = calloc(count, sizeof *d->t);
    if (!d->t) goto oom;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len) {
            if (len >= sizeof d->t[0].endpoint) {
                snprintf(err, errcap, "BMC_AGENT_DISCOVER: endpoint %zu is too long", d->n + 1);
                goto fail;
            }
            target *t = &d->t[d->n];
            memcpy(t->endpoint, p, len);
            t->endpoint[len] = '\0';
            if (strchr(t->endpoint, '@')) {
                snprintf(err, errcap,
                         "BMC_AGENT_DISCOVER: endpoint %zu holds credentials (user@host); give "
                         "them in the credentials file or BMC_AGENT_DISCOVER_USERNAME/PASSWORD",
                         d->n + 1);
                goto fail;
            }
            if (strncmp(t->endpoint, "ipmi://", 7) != 0 &&
                strncmp(t->endpoint, "redfish://", 10) != 0 &&
                strncmp(t->endpoint, "redfish+https://", 16) != 0) {
                snprintf(err, errcap, "BMC_AGENT_DISCOVER: endpoint %zu is not ipmi:// or "
                                      "redfish[+https]://", d->n + 1);
                goto fail;
            }
            snprintf(t->last.endpoint, sizeof t->last.endpoint, "%s", t->endpoint);
            snprintf(t->last.bmc_type, sizeof t->last.bmc_type, "%s", scheme_type(t->endpoint));
            t->last.code = AGT_ECLOSED;
            snprintf(t->last.message, sizeof t->last.message, "not discovered yet");
            d->n++;
        }
        if (!comma) break;
        p = comma + 1;
    }

    /* Credentials: defaults, then the file. */
    d->cr = sodium_allocarray(d->n ? d->n : 1, sizeof *d->cr);
    creds *def = sodium_malloc(sizeof *def);
    if (!d->cr || !def) {
        if (def) sodium_free(def);
        goto oom;
    }
    memset(d->cr, 0, (d->n ? d->n : 1) * sizeof *d->cr);
    if (!set_creds(def, cfg->username, cfg->password)) {
        sodium_free(def);
        snprintf(err, errcap, "BMC_AGENT_DISCOVER_USERNAME or _PASSWORD is too long");
        goto fail;
    }
    for (size_t i = 0; i < d->n; i++)
        d->cr[i].user[0] = '\x01'; /* marks "not set by the file" */
    if (cfg->credentials_file && *cfg->credentials_file &&
        read_creds_file(d, cfg->credentials_file, def, err, errcap) != 0) {
        sodium_free(def);
        goto fail;
    }
    for (size_t i = 0; i < d->n; i++)
        if (d->cr[i].user[0] == '\x01') d->cr[i] = *def;
    sodium_free(def);

    tel_meter *m = tel_global_meter("bmcfleet.agent", NULL);
    tel_instrument_opts oi = {.unit = "1", .description = "1 when the BMC answered in the latest "
                                                          "discovery cycle, else 0",
                              .value_is_int = true};
    d->g_reachable = tel_meter_create(m, TEL_INSTR_GAUGE, "bmc.reachable", &oi);
    tel_instrument_opts op = {.unit = "1", .description = "Power state: 1 on, 0 off, -1 unknown",
                              .value_is_int = true};
    d->g_power = tel_meter_create(m, TEL_INSTR_GAUGE, "bmc.power.state", &op);
    tel_instrument_opts ot = {.unit = "Cel", .description = "BMC temperature sensor reading"};
    d->g_temp = tel_meter_create(m, TEL_INSTR_GAUGE, "bmc.sensor.temperature", &ot);
    tel_instrument_opts of = {.unit = "{rpm}", .description = "BMC fan sensor reading"};
    d->g_fan = tel_meter_create(m, TEL_INSTR_GAUGE, "bmc.sensor.fan_speed", &of);
    tel_instrument_opts ow = {.unit = "W", .description = "BMC power sensor reading"};
    d->g_watts = tel_meter_create(m, TEL_INSTR_GAUGE, "bmc.sensor.power", &ow);
    return d;
oom:
    snprintf(err, errcap, "out of memory");
fail:
    if (d->cr) sodium_free(d->cr);
    free(d->t);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->cycle);
    pthread_mutex_destroy(&d->mu);
    free(d);
    return NULL;
}

static void ctx_bag(tel_context *ctx, const char *k, const char *v)
{
    if (!v || !*v) return;
    tel_baggage *b = tel_baggage_set(ctx->bag, k, v, NULL);
    if (b) {
        tel_context_set_baggage(ctx, b);
        tel_baggage_unref(b);
    }
}

/* Reads one BMC into *res (identity, power, sensors) under deadline_ns. */
static void discover_one(agt_discovery *d, size_t i, const tel_context *parent,
                         uint64_t deadline_ns, agt_discovered *res)
{
    target *t = &d->t[i];
    *res = (agt_discovered){0};
    snprintf(res->endpoint, sizeof res->endpoint, "%s", t->endpoint);
    snprintf(res->bmc_type, sizeof res->bmc_type, "%s", scheme_type(t->endpoint));

    tel_span *span = tel_span_start(d->tracer, "agent.discovery.bmc", TEL_SPAN_KIND_INTERNAL,
                                    parent);
    tel_span_set_str(span, "bmc.type", res->bmc_type);
    tel_span_set_str(span, "bmc.endpoint", t->endpoint);
    tel_span_set_str(span, "bmc_type", res->bmc_type);
    tel_span_set_str(span, "agent_id", d->agent_id);
    tel_context ctx = TEL_CONTEXT_INIT;
    tel_context_copy(&ctx, parent);
    tel_context_set_span(&ctx, span);
    ctx_bag(&ctx, "bmc_type", res->bmc_type);

    agt_result r = {0};
    agt_cache_entry *e = agt_cache_acquire(d->cache, t->endpoint, d->cr[i].user, d->cr[i].pass,
                                           &r);
    int rc = e ? AGT_OK : r.code;
    if (e) {
        agt_bmc *b = agt_cache_bmc(e);
        tel_span_set_str(span, "bmc.address", agt_bmc_host(b));
        rc = agt_bmc_identity(b, &ctx, deadline_ns, &res->identity, &r);
        res->has_identity = rc == AGT_OK;
        if (rc == AGT_OK || rc == AGT_EUNSUPPORTED)
            rc = agt_bmc_power(b, &ctx, deadline_ns, AGT_POWER_STATUS, &res->power, &r);
        if (rc == AGT_OK) {
            agt_result rs = {0};
            int src = agt_bmc_sensors(b, &ctx, deadline_ns, res->sensors,
                                      AGT_DISCOVERY_MAX_SENSORS, &res->n_sensors, &rs);
            if (src != AGT_OK) {
                res->n_sensors = 0;
                if (src != AGT_EUNSUPPORTED) tel_span_add_event(span, "sensors.failed", NULL, 0);
            }
        }
        agt_cache_release(d->cache, e, rc == AGT_EAUTH);
    }
    res->code = rc;
    res->bmc_code = rc == AGT_OK ? 0 : r.bmc_code;
    snprintf(res->message, sizeof res->message, "%s", rc == AGT_OK ? "" : r.message);
    if (rc == AGT_OK) res->last_seen_unix_ms = now_unix_ms();

    tel_attr ea = TEL_ATTR_STR("bmc.endpoint", t->endpoint);
    tel_gauge_set_int(d->g_reachable, rc == AGT_OK ? 1 : 0, &ea, 1);
    tel_gauge_set_int(d->g_power,
                      rc != AGT_OK                     ? -1
                      : res->power == AGT_POWER_IS_ON  ? 1
                      : res->power == AGT_POWER_IS_OFF ? 0
                                                       : -1,
                      &ea, 1);
    for (size_t k = 0; k < res->n_sensors; k++) {
        const agt_sensor *s = &res->sensors[k];
        tel_attr sa[2] = {ea, TEL_ATTR_STR("sensor.name", s->name)};
        tel_instrument *g = s->kind == AGT_SENSOR_TEMPERATURE ? d->g_temp
                            : s->kind == AGT_SENSOR_FAN       ? d->g_fan
                                                              : d->g_watts;
        tel_gauge_set(g, s->value, sa, 2);
    }
    tel_span_set_int(span, "bmc.sensor.count", (int64_t)res->n_sensors);
    if (rc != AGT_OK) {
        tel_span_set_str_static(span, "error.type", agt_strerror(rc));
        tel_span_set_status(span, TEL_STATUS_ERROR, res->message);
    }
    tel_span_end(span);
    tel_context_cleanup(&ctx);
}

void agt_discovery_run(agt_discovery *d, const tel_context *parent, uint64_t deadline_ns)
{
    pthread_mutex_lock(&d->cycle);
    tel_span *root = tel_span_start(d->tracer, "agent.discovery", TEL_SPAN_KIND_INTERNAL, parent);
    tel_span_set_str(root, "agent_id", d->agent_id);
    tel_span_set_str(root, "datacenter", d->datacenter);
    tel_span_set_int(root, "bmc.count", (int64_t)d->n);
    tel_context ctx = TEL_CONTEXT_INIT;
    if (parent) tel_context_copy(&ctx, parent);
    tel_context_set_span(&ctx, root);
    ctx_bag(&ctx, "agent_id", d->agent_id);
    ctx_bag(&ctx, "datacenter", d->datacenter);
    int64_t reachable = 0;
    agt_discovered *res = malloc(sizeof *res);
    for (size_t i = 0; res && i < d->n; i++) {
        pthread_mutex_lock(&d->mu);
        bool stop = d->stopping;
        pthread_mutex_unlock(&d->mu);
        if (stop) break;
        uint64_t dl = tel_mono_ns() + (uint64_t)d->bmc_timeout_ms * 1000000u;
        if (deadline_ns && deadline_ns < dl) dl = deadline_ns;
        discover_one(d, i, &ctx, dl, res);
        if (res->code == AGT_OK) reachable++;
        pthread_mutex_lock(&d->mu);
        if (res->code != AGT_OK && d->t[i].last.has_identity && !res->has_identity) {
            /* keep what was learned before the BMC became unreachable */
            res->has_identity = true;
            res->identity = d->t[i].last.identity;
            res->last_seen_unix_ms = d->t[i].last.last_seen_unix_ms;
        }
        d->t[i].last = *res;
        pthread_mutex_unlock(&d->mu);
    }
    free(res);
    tel_span_set_int(root, "bmc.reachable", reachable);
    tel_span_end(root);
    tel_context_cleanup(&ctx);
    pthread_mutex_lock(&d->mu);
    d->cycle_unix_ms = now_unix_ms();
    pthread_mutex_unlock(&d->mu);
    pthread_mutex_unlock(&d->cycle);
}

static void *cycle_main(void *arg)
{
    agt_discovery *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        bool stop = d->stopping;
        pthread_mutex_unlock(&d->mu);
        if (stop) break;
        if (d->n) agt_discovery_run(d, NULL, 0);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(d->interval_ms / 1000);
        ts.tv_nsec += (long)(d->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_mutex_lock(&d->mu);
        while (!d->stopping && pthread_cond_timedwait(&d->cv, &d->mu, &ts) != ETIMEDOUT) {
        }
        pthread_mutex_unlock(&d->mu);
    }
    return NULL;
}

int agt_discovery_start(agt_discovery *d)
{
    if (d->started) return CORE_ESTATE;
    if (pthread_create(&d->thread, NULL, cycle_main, d) != 0) return CORE_ENOMEM;
    d->started = true;
    return CORE_OK;
}

void agt_discovery_destroy(agt_discovery *d)
{
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (d->started) pthread_join(d->thread, NULL);
    if (d->cr) sodium_free(d->cr);
    free(d->t);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->cycle);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

size_t agt_discovery_count(const agt_discovery *d)
{
    return d->n;
}

size_t agt_discovery_snapshot(agt_discovery *d, agt_discovered *out, size_t cap,
                              int64_t *cycle_unix_ms)
{
    pthread_mutex_lock(&d->mu);
    size_t n = d->n < cap ? d->n : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = d->t[i].last;
    if (cycle_unix_ms) *cycle_unix_ms = d->cycle_unix_ms;
    pthread_mutex_unlock(&d->mu);
    return n;
}

void agt_discovery_counts(agt_discovery *d, uint32_t *total, uint32_t *reachable)
{
    uint32_t r = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n; i++)
        if (d->t[i].last.code == AGT_OK) r++;
    pthread_mutex_unlock(&d->mu);
    if (total) *total = (uint32_t)d->n;
    if (reachable) *reachable = r;
}
