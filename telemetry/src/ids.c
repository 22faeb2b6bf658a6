/* Id generation: a per-thread xoshiro256** generator seeded from getrandom(). */
#include "telemetry/ids.h"
#include "trace_internal.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

typedef struct rng {
    uint64_t s[4];
    bool seeded;
} rng;

static _Thread_local rng tls_rng;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

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
    tls_rng.seeded = false;
}

static void rng_register_atfork(void)
{
    pthread_atfork(NULL, NULL, rng_atfork_child);
}

static void rng_seed(rng *r)
{
    pthread_once(&atfork_once, rng_register_atfork);
    uint64_t seed[4];
    ssize_t got = getrandom(seed, sizeof seed, GRND_NONBLOCK);
    if (got != (ssize_t)sizeof seed) {
        /* No entropy yet (very early boot): mix time, pid and the state's address. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
                     ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)r;
        for (int i = 0; i < 4; i++)
            seed[i] = splitmix64(&x);
    }
    memcpy(r->s, seed, sizeof seed);
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
        r->s[0] = 1;
    r->seeded = true;
}

static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* A trace id from r: two draws, never all zero. */
static inline void gen_trace_id(rng *r, uint8_t out[TEL_TRACE_ID_SIZE])
{
    uint64_t a, b;
    do {
        a = rng_next(r);
        b = rng_next(r);
    } while ((a | b) == 0);
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
}

/* A span id from r: one draw, never zero. */
static inline void gen_span_id(rng *r, uint8_t out[TEL_SPAN_ID_SIZE])
{
    uint64_t a;
    do {
        a = rng_next(r);
    } while (a == 0);
    memcpy(out, &a, 8);
}

/* The calling thread's generator, seeded on first use. */
static inline rng *thread_rng(void)
{
    rng *r = &tls_rng;
    if (TEL_UNLIKELY(!r->seeded))
        rng_seed(r);
    return r;
}

uint64_t tel_random_u64(void)
{
    return rng_next(thread_rng());
}

void tel__ids_generate(uint8_t *trace_id, uint8_t span_id[TEL_SPAN_ID_SIZE])
{
    rng *r = thread_rng();
    if (trace_id)
        gen_trace_id(r, trace_id);
    gen_span_id(r, span_id);
}

void tel_trace_id_generate(uint8_t out[TEL_TRACE_ID_SIZE])
{
    gen_trace_id(thread_rng(), out);
}

void tel_span_id_generate(uint8_t out[TEL_SPAN_ID_SIZE])
{
    gen_span_id(thread_rng(), out);
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
