/* OTLP retries: exponential backoff with jitter, Retry-After, deadline and abort. Transport
 * independent: HTTP and gRPC transports classify answers, this loop decides what to do. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "otlp_internal.h"
#include "telemetry/ids.h"

int tel__otlp_abort_init(tel_otlp_abort *a)
{
    atomic_init(&a->fired, false);
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) return TEL_ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) return TEL_ENOMEM;
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        pthread_cond_destroy(&a->cv);
        return TEL_ENOMEM;
    }
    return TEL_OK;
}

void tel__otlp_abort_destroy(tel_otlp_abort *a)
{
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
}

void tel__otlp_abort_fire(tel_otlp_abort *a)
{
    pthread_mutex_lock(&a->mu);
    atomic_store_explicit(&a->fired, true, memory_order_release);
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

bool tel__otlp_abort_sleep(tel_otlp_abort *a, uint64_t until_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(until_ns / 1000000000u),
                          .tv_nsec = (long)(until_ns % 1000000000u)};
    pthread_mutex_lock(&a->mu);
    while (!atomic_load_explicit(&a->fired, memory_order_acquire) && tel_mono_ns() < until_ns) {
        if (pthread_cond_timedwait(&a->cv, &a->mu, &ts) == ETIMEDOUT) break;
    }
    bool fired = atomic_load_explicit(&a->fired, memory_order_acquire);
    pthread_mutex_unlock(&a->mu);
    return fired;
}

uint64_t tel__otlp_backoff_ns(const tel_otlp_retry_policy *p, unsigned retry, uint64_t rnd)
{
    uint64_t base = p->initial_ms ? p->initial_ms : 1;
    uint64_t max = p->max_ms ? p->max_ms : base;
    for (unsigned i = 0; i < retry && base < max; i++)
        base *= 2;
    if (base > max) base = max;
    base *= 1000000u; /* ns */
    uint64_t half = base / 2;
    return half + (half ? rnd % (half + 1) : 0);
}

int tel__otlp_send_with_retry(tel_otlp_transport *t, const tel_otlp_retry_policy *p,
                              tel_otlp_abort *ab, tel_otlp_signal signal, const uint8_t *body,
                              size_t len, const char *content_type, uint64_t deadline_ns,
                              tel_otlp_result *last, unsigned *attempts)
{
    unsigned n = 0;
    int rc;
    last->status = TEL_OTLP_SEND_RETRYABLE;
    last->err = TEL_ETIMEDOUT;
    last->code = 0;
    last->retry_after_ms = -1;
    last->message[0] = '\0';
    for (;;) {
        if (tel__otlp_aborted(ab)) {
            rc = TEL_ESHUTDOWN;
            break;
        }
        if (tel_mono_ns() >= deadline_ns) {
            rc = n ? last->err : TEL_ETIMEDOUT;
            break;
        }
        n++;
        tel_otlp_result r;
        memset(&r, 0, sizeof r);
        r.retry_after_ms = -1;
        int s = t->send(t, signal, body, len, content_type, deadline_ns, &r);
        *last = r;
        if (s == TEL_ESHUTDOWN || r.err == TEL_ESHUTDOWN) {
            last->err = TEL_ESHUTDOWN;
            rc = TEL_ESHUTDOWN;
            break;
        }
        if (r.status == TEL_OTLP_SEND_OK) {
            rc = TEL_OK;
            break;
        }
        if (r.status == TEL_OTLP_SEND_PERMANENT) {
            rc = r.err ? r.err : TEL_EREJECTED;
            break;
        }
        if (!r.err) last->err = TEL_ERETRYABLE;
        if (p->max_attempts && n >= p->max_attempts) {
            rc = last->err;
            break;
        }
        uint64_t wait = r.retry_after_ms >= 0 ? (uint64_t)r.retry_after_ms * 1000000u
                                              : tel__otlp_backoff_ns(p, n - 1, tel_random_u64());
        uint64_t now = tel_mono_ns();
        if (now + wait >= deadline_ns) {
            /* Never wait past the deadline: the data is given up now, not later. */
            rc = last->err;
            break;
        }
        if (tel__otlp_abort_sleep(ab, now + wait)) {
            last->err = TEL_ESHUTDOWN;
            rc = TEL_ESHUTDOWN;
            break;
        }
    }
    if (attempts) *attempts = n;
    return rc;
}
