/* Id generation: the per-thread generator (ids_internal.h) and its seeding from getrandom(),
 * the public id functions, hex encoding. */
#include "telemetry/ids.h"
#include "ids_internal.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

_Thread_local tel__rng tel__tls_rng;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* In the child of fork() only the forking thread survives: make it draw a fresh seed so parent
 * and child never produce the same ids. */
static void rng_atfork_child(void)
{
    tel__tls_rng.seeded = false;
}

static void rng_register_atfork(void)
{
    pthread_atfork(NULL, NULL, rng_atfork_child);
}

void tel__rng_seed(tel__rng *r)
{
    pthread_once(&atfork_once, rng_register_atfork);
    uint64_t seed;
    ssize_t got = getrandom(&seed, sizeof seed, GRND_NONBLOCK);
    if (got != (ssize_t)sizeof seed) {
        /* No entropy yet (very early boot): mix time, pid and the state's address. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
                     ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)r;
        seed = splitmix64(&x);
    }
    r->s = seed;
    r->seeded = true;
}

uint64_t tel_random_u64(void)
{
    return tel__rng_next(tel__thread_rng());
}

void tel_trace_id_generate(uint8_t out[TEL_TRACE_ID_SIZE])
{
    tel__gen_trace_id(tel__thread_rng(), out);
}

void tel_span_id_generate(uint8_t out[TEL_SPAN_ID_SIZE])
{
    tel__gen_span_id(tel__thread_rng(), out);
}

bool tel_span_context_is_valid(const tel_span_context *sc)
{
    return !tel_id_is_zero(sc->trace_id, TEL_TRACE_ID_SIZE) &&
           !tel_id_is_zero(sc->span_id, TEL_SPAN_ID_SIZE);
}

static const char hexdig[] = "0123456789abcdef";

void tel_hex_encode(const uint8_t *id, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[id[i] >> 4];
        out[2 * i + 1] = hexdig[id[i] & 15];
    }
    out[2 * n] = '\0';
}

static inline int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int tel_hex_decode(const char *hex, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval((unsigned char)hex[2 * i]);
        int lo = hexval((unsigned char)hex[2 * i + 1]);
        if ((hi | lo) < 0)
            return TEL_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return TEL_OK;
}
