/* The span clock: wall-clock nanoseconds, cheaper than clock_gettime on x86-64.
 *
 * Where the kernel itself keeps time with the TSC (clocksource "tsc", invariant TSC), timestamps
 * are computed from rdtsc and an anchor (a CLOCK_REALTIME reading, the TSC at that moment and
 * the measured tick rate). The anchor is refreshed from CLOCK_REALTIME at growing intervals
 * (10 ms, 100 ms, then every second) by whichever thread first notices it is due, so the clock
 * follows NTP adjustments and stays within a few microseconds of CLOCK_REALTIME. Elsewhere, or
 * with TEL_CLOCK=realtime in the environment, it is clock_gettime(CLOCK_REALTIME). */
#ifndef TELEMETRY_CLOCK_H
#define TELEMETRY_CLOCK_H

#include <stdatomic.h>

#include "common.h"

#if defined(__SANITIZE_THREAD__)
#define TEL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEL_TSAN 1
#endif
#endif
#ifndef TEL_TSAN
#define TEL_TSAN 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tel_clock_anchor {
    uint64_t tsc;      /* TSC at the anchor */
    uint64_t ns;       /* CLOCK_REALTIME ns at the anchor */
    uint64_t mult;     /* ns per tick, 32.32 fixed point */
    uint64_t due_tsc;  /* TSC at which the anchor should be refreshed */
} tel_clock_anchor;

typedef struct tel_clock_state {
    atomic_uint seq;   /* seqlock: odd while the anchor is being written */
    atomic_int mode;   /* 0: not initialised, 1: TSC, 2: clock_gettime */
    tel_clock_anchor a;
} tel_clock_state;

extern tel_clock_state tel__clock;
uint64_t tel__clock_slow(void);

/* Wall-clock ns since the epoch for span and event timestamps. Thread safe, lock-free. */
static inline uint64_t tel_clock_now_ns(void)
{
#if defined(__x86_64__) && !TEL_TSAN
    /* A seqlock read: TSan cannot model it, so TSan builds take the clock_gettime path. */
    if (TEL_LIKELY(atomic_load_explicit(&tel__clock.mode, memory_order_relaxed) == 1)) {
        unsigned s0 = atomic_load_explicit(&tel__clock.seq, memory_order_acquire);
        uint64_t t = __builtin_ia32_rdtsc();
        tel_clock_anchor a = tel__clock.a;
        atomic_thread_fence(memory_order_acquire);
        unsigned s1 = atomic_load_explicit(&tel__clock.seq, memory_order_relaxed);
        if (TEL_LIKELY(s0 == s1 && !(s0 & 1) && t < a.due_tsc && t >= a.tsc))
            return a.ns + (uint64_t)(((unsigned __int128)(t - a.tsc) * a.mult) >> 32);
    }
#endif
    return tel__clock_slow();
}

/* Which source tel_clock_now_ns uses: "tsc" or "clock_gettime". */
const char *tel_clock_source(void);

#ifdef __cplusplus
}
#endif
#endif
