/* The logging API: JSON lines correlated with the current span, and the hand-off of records to
 * the OTLP log pipeline. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "json_write.h"
#include "log_internal.h"
#include "telemetry/env.h"
#include "telemetry/redact.h"
#include "telemetry/trace.h"

#ifndef BMC_VERSION
#define BMC_VERSION "0"
#endif

#define SCOPE_NAME "bmcfleet.log"
/* A per-thread buffer that grew past this for an unusual line is freed afterwards. */
#define BUF_KEEP_MAX (64u * 1024)

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "fatal"};
static const char *const severity_texts[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
static const uint8_t severities[] = {TEL_SEVERITY_TRACE, TEL_SEVERITY_DEBUG, TEL_SEVERITY_INFO,
                                     TEL_SEVERITY_WARN,  TEL_SEVERITY_ERROR, TEL_SEVERITY_FATAL};

static inline unsigned level_index(tel_log_level lvl)
{
    return (unsigned)lvl <= TEL_LOG_FATAL ? (unsigned)lvl : TEL_LOG_FATAL;
}

const char *tel_log_level_name(tel_log_level lvl)
{
    return level_names[level_index(lvl)];
}

tel_severity tel_log_level_severity(tel_log_level lvl)
{
    return (tel_severity)severities[level_index(lvl)];
}

const char *tel_log_level_severity_text(tel_log_level lvl)
{
    return severity_texts[level_index(lvl)];
}

int tel_log_level_parse(const char *s, tel_log_level *out)
{
    if (!s) return TEL_EINVAL;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
        n--;
    for (unsigned i = 0; i <= TEL_LOG_FATAL; i++) {
        if (strlen(level_names[i]) == n && strncasecmp(s, level_names[i], n) == 0) {
            *out = (tel_log_level)i;
            return TEL_OK;
        }
    }
    if (n == 7 && strncasecmp(s, "warning", 7) == 0) {
        *out = TEL_LOG_WARN;
        return TEL_OK;
    }
    return TEL_EINVAL;
}

/* ---- Threshold, output, service ---- */

static atomic_int threshold = -1; /* -1: LOG_LEVEL not read yet */
static atomic_int out_fd = 2;

static int threshold_init(void)
{
    tel_log_level lvl = TEL_LOG_INFO;
    const char *v = tel_env_str("LOG_LEVEL");
    bool bad = v && tel_log_level_parse(v, &lvl) != TEL_OK;
    int expected = -1;
    atomic_compare_exchange_strong(&threshold, &expected, (int)lvl);
    if (bad) {
        tel_attr a = TEL_ATTR_STR("value", v);
        tel_log(TEL_LOG_WARN, &a, 1,
                "LOG_LEVEL is not one of trace, debug, info, warn, error, fatal; using info");
    }
    return atomic_load_explicit(&threshold, memory_order_relaxed);
}

bool tel_log_enabled(tel_log_level lvl)
{
    int t = atomic_load_explicit(&threshold, memory_order_relaxed);
    if (TEL_UNLIKELY(t < 0)) t = threshold_init();
    return (int)lvl >= t;
}

void tel__log_reset_level(void)
{
    atomic_store(&threshold, -1);
}

void tel_log_set_level(tel_log_level lvl)
{
    atomic_store(&threshold, (int)level_index(lvl));
}

tel_log_level tel_log_get_level(void)
{
    int t = atomic_load_explicit(&threshold, memory_order_relaxed);
    if (t < 0) t = threshold_init();
    return (tel_log_level)t;
}

int tel_log_set_output(int fd)
{
    return atomic_exchange(&out_fd, fd);
}

/* Service names as ready-to-copy JSON strings. Every node ever made stays on `all_services`
 * (reachable, never freed) so a logger that loaded an old pointer can still read it. */
typedef struct svc_node {
    struct svc_node *next;
    size_t len;
    char json[];
} svc_node;

static pthread_mutex_t svc_lock = PTHREAD_MUTEX_INITIALIZER;
static svc_node *all_services;
static _Atomic(svc_node *) service_cur;
static svc_node *service_default; /* guarded by svc_lock */

static svc_node *svc_make(const char *name)
{
    tel_buf b = TEL_BUF_INIT;
    if (tel__json_put_str(&b, name, strlen(name)) != TEL_OK) {
        tel_buf_free(&b);
        return NULL;
    }
    svc_node *n = malloc(sizeof *n + b.len);
    if (n) {
        n->len = b.len;
        memcpy(n->json, b.data, b.len);
        n->next = all_services;
        all_services = n;
    }
    tel_buf_free(&b);
    return n;
}

/* The default node (OTEL_SERVICE_NAME or unknown_service). Caller holds svc_lock. */
static svc_node *svc_default_locked(void)
{
    if (!service_default) {
        const char *env = tel_env_str("OTEL_SERVICE_NAME");
        service_default = svc_make(env ? env : "unknown_service");
    }
    return service_default;
}

static const svc_node *svc_get(void)
{
    svc_node *s = atomic_load_explicit(&service_cur, memory_order_acquire);
    if (TEL_LIKELY(s)) return s;
    pthread_mutex_lock(&svc_lock);
    s = atomic_load(&service_cur);
    if (!s) {
        s = svc_default_locked();
        atomic_store_explicit(&service_cur, s, memory_order_release);
    }
    pthread_mutex_unlock(&svc_lock);
    return s;
}

void tel_log_set_service(const char *service_name)
{
    pthread_mutex_lock(&svc_lock);
    svc_node *n = service_name ? svc_make(service_name) : svc_default_locked();
    if (n) atomic_store_explicit(&service_cur, n, memory_order_release);
    pthread_mutex_unlock(&svc_lock);
}

/* ---- OTLP pipeline ---- */

static _Atomic(tel_log_processor *) pipeline;
static atomic_uint emitting; /* threads between loading `pipeline` and finishing their emit */

tel_log_processor *tel_log_set_processor(tel_log_processor *p)
{
    tel_log_processor *old = atomic_exchange(&pipeline, p);
    /* An emitter counts itself before loading the pointer (both sequentially consistent), so
     * once the count is seen at zero nobody can still be using `old`. */
    while (atomic_load(&emitting) != 0)
        sched_yield();
    return old;
}

static void emit_record(tel_log_level lvl, uint64_t now, const char *msg, size_t msg_len,
                        const tel_attr *attrs, size_t n, const tel_span_context *sc)
{
    atomic_fetch_add(&emitting, 1);
    tel_log_processor *p = atomic_load(&pipeline);
    if (p) {
        tel_log_record rec = {
            .time_ns = now,
            .observed_time_ns = now,
            .severity_number = severities[level_index(lvl)],
            .severity_text = severity_texts[level_index(lvl)],
            .body = msg,
            .body_len = (uint32_t)(msg_len > UINT32_MAX ? UINT32_MAX : msg_len),
            .attrs = attrs,
            .n_attrs = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n),
            .scope_name = SCOPE_NAME,
            .scope_version = BMC_VERSION,
        };
        if (sc) {
            rec.has_span = true;
            memcpy(rec.trace_id, sc->trace_id, TEL_TRACE_ID_SIZE);
            memcpy(rec.span_id, sc->span_id, TEL_SPAN_ID_SIZE);
            rec.trace_flags = sc->flags;
        }
        tel_log_processor_emit(p, &rec);
    }
    atomic_fetch_sub(&emitting, 1);
}

/* ---- Line writer ---- */

static inline char *put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

void tel__log_rfc3339(uint64_t time_ns, char out[30])
{
    uint64_t secs = time_ns / 1000000000u;
    uint32_t frac = (uint32_t)(time_ns % 1000000000u);
    int64_t days = (int64_t)(secs / 86400);
    uint32_t sod = (uint32_t)(secs % 86400);
    /* Civil date from days since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian). */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    uint32_t doe = (uint32_t)(z - era * 146097);
    uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint32_t mp = (5 * doy + 2) / 153;
    uint32_t d = doy - (153 * mp + 2) / 5 + 1;
    uint32_t m = mp < 10 ? mp + 3 : mp - 9;
    uint32_t y = (uint32_t)((int64_t)yoe + era * 400 + (m <= 2)) % 10000;
    char *p = out;
    p = put2(p, y / 100);
    p = put2(p, y % 100);
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, sod / 3600);
    *p++ = ':';
    p = put2(p, sod / 60 % 60);
    *p++ = ':';
    p = put2(p, sod % 60);
    *p++ = '.';
    for (int i = 8; i >= 0; i--) {
        p[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    p[9] = 'Z';
}

static void put_hex(uint8_t *o, const uint8_t *id, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        o[2 * i] = (uint8_t)digits[id[i] >> 4];
        o[2 * i + 1] = (uint8_t)digits[id[i] & 15];
    }
}

#define LIT(b, s) tel_buf_append((b), (s), sizeof(s) - 1)

int tel__log_format(tel_buf *out, const tel__log_line *l)
{
    size_t start = out->len;
    /* The fixed part: timestamp, level, ids (the largest fields that need no escaping). */
    if (tel_buf_reserve(out, 128 + 2 * (TEL_TRACE_ID_SIZE + TEL_SPAN_ID_SIZE)) != TEL_OK)
        return TEL_ENOMEM;
    int rc = LIT(out, "{\"timestamp\":\"");
    tel__log_rfc3339(l->time_ns, (char *)out->data + out->len);
    out->len += 30;
    rc |= LIT(out, "\",\"level\":\"");
    const char *ln = level_names[level_index(l->level)];
    rc |= tel_buf_append(out, ln, strlen(ln));
    rc |= LIT(out, "\",\"message\":");
    rc |= tel__json_put_str(out, l->msg, l->msg ? l->msg_len : 0);
    rc |= LIT(out, ",\"service\":");
    if (l->service_json && l->service_json_len)
        rc |= tel_buf_append(out, l->service_json, l->service_json_len);
    else
        rc |= LIT(out, "\"\"");
    if (l->has_span) {
        static const char k1[] = ",\"trace_id\":\"", k2[] = "\",\"span_id\":\"";
        size_t need =
            sizeof k1 - 1 + sizeof k2 - 1 + 2 * (TEL_TRACE_ID_SIZE + TEL_SPAN_ID_SIZE) + 1;
        if (rc == TEL_OK && (rc = tel_buf_reserve(out, need)) == TEL_OK) {
            uint8_t *o = out->data + out->len;
            memcpy(o, k1, sizeof k1 - 1);
            o += sizeof k1 - 1;
            put_hex(o, l->trace_id, TEL_TRACE_ID_SIZE);
            o += 2 * TEL_TRACE_ID_SIZE;
            memcpy(o, k2, sizeof k2 - 1);
            o += sizeof k2 - 1;
            put_hex(o, l->span_id, TEL_SPAN_ID_SIZE);
            o += 2 * TEL_SPAN_ID_SIZE;
            *o++ = '"';
            out->len = (size_t)(o - out->data);
        }
    }
    rc |= LIT(out, ",\"attributes\":{");
    for (size_t i = 0; i < l->n_attrs && rc == TEL_OK; i++) {
        const tel_attr *a = &l->attrs[i];
        const char *key = a->key ? a->key : "";
        if (i) rc |= LIT(out, ",");
        rc |= tel__json_put_str(out, key, strlen(key));
        rc |= LIT(out, ":");
        if (tel_redact_key_denied(key))
            rc |= LIT(out, "\"" TEL_REDACTED "\"");
        else
            rc |= tel__json_put_attr_value(out, a);
    }
    rc |= LIT(out, "}}\n");
    if (rc != TEL_OK) {
        out->len = start;
        return TEL_ENOMEM;
    }
    return TEL_OK;
}

/* ---- Per-thread buffers ---- */

typedef struct log_tls {
    tel_buf line;
    tel_buf msg;
} log_tls;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static _Thread_local log_tls *tls;

static void tls_free(void *p)
{
    log_tls *t = p;
    tel_buf_free(&t->line);
    tel_buf_free(&t->msg);
    free(t);
    tls = NULL;
}

static void tls_key_create(void)
{
    pthread_key_create(&tls_key, tls_free);
}

static log_tls *tls_get(void)
{
    if (TEL_LIKELY(tls != NULL)) return tls;
    pthread_once(&tls_once, tls_key_create);
    log_tls *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    tls = t;
    pthread_setspecific(tls_key, t); /* frees the buffers when the thread exits */
    return t;
}

/* Formats the message into m (cut at TEL_LOG_MESSAGE_MAX bytes, at a UTF-8 boundary); returns
 * its length. */
__attribute__((format(printf, 2, 0))) static size_t format_msg(tel_buf *m, const char *fmt,
                                                               va_list ap)
{
    m->len = 0;
    if (tel_buf_reserve(m, 256) != TEL_OK) return 0;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf((char *)m->data, m->cap, fmt, ap);
    if (n < 0) n = 0;
    size_t len = (size_t)n;
    if (len >= m->cap) {
        size_t want = len < TEL_LOG_MESSAGE_MAX ? len + 1 : TEL_LOG_MESSAGE_MAX + 1;
        if (want > m->cap && tel_buf_reserve(m, want) == TEL_OK)
            vsnprintf((char *)m->data, m->cap, fmt, ap2);
        if (len >= m->cap) len = m->cap - 1;
    }
    va_end(ap2);
    if (len > TEL_LOG_MESSAGE_MAX) {
        len = TEL_LOG_MESSAGE_MAX;
        while (len > 0 && (m->data[len] & 0xC0) == 0x80)
            len--;
    }
    return len;
}

static void write_line(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void tel_logv(tel_log_level lvl, const tel_attr *attrs, size_t n, const char *fmt, va_list ap)
{
    if (!tel_log_enabled(lvl)) return;
    log_tls *t = tls_get();
    if (TEL_UNLIKELY(!t)) return;
    uint64_t now = tel_now_ns();
    size_t msg_len = fmt ? format_msg(&t->msg, fmt, ap) : 0;
    const char *msg = t->msg.data ? (const char *)t->msg.data : "";
    if (!attrs) n = 0;

    tel_span_context sc;
    const tel_span_context *scp = NULL;
    tel_span *cur = tel_span_current();
    if (cur) {
        sc = tel_span_get_context(cur);
        if (tel_span_context_is_valid(&sc)) scp = &sc;
    }

    int fd = atomic_load_explicit(&out_fd, memory_order_relaxed);
    if (fd >= 0) {
        const svc_node *svc = svc_get();
        tel__log_line l = {.time_ns = now,
                           .level = lvl,
                           .msg = msg,
                           .msg_len = msg_len,
                           .service_json = svc ? svc->json : NULL,
                           .service_json_len = svc ? svc->len : 0,
                           .has_span = scp != NULL,
                           .attrs = attrs,
                           .n_attrs = n};
        if (scp) {
            memcpy(l.trace_id, scp->trace_id, TEL_TRACE_ID_SIZE);
            memcpy(l.span_id, scp->span_id, TEL_SPAN_ID_SIZE);
        }
        t->line.len = 0;
        if (tel__log_format(&t->line, &l) == TEL_OK) write_line(fd, t->line.data, t->line.len);
        tel_buf_reset(&t->line, BUF_KEEP_MAX);
    }
    if (atomic_load_explicit(&pipeline, memory_order_relaxed))
        emit_record(lvl, now, msg, msg_len, attrs, n, scp);
    tel_buf_reset(&t->msg, BUF_KEEP_MAX);
}

void tel_log(tel_log_level lvl, const tel_attr *attrs, size_t n, const char *fmt, ...)
{
    if (!tel_log_enabled(lvl)) return;
    va_list ap;
    va_start(ap, fmt);
    tel_logv(lvl, attrs, n, fmt, ap);
    va_end(ap);
}
