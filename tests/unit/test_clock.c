/* Unit tests of the span clock (clock.c): it must track CLOCK_REALTIME across anchor refreshes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "telemetry/clock.h"

static int64_t absdiff(uint64_t a, uint64_t b)
{
    return a > b ? (int64_t)(a - b) : (int64_t)(b - a);
}

static void test_clock_tracks_realtime(void **state)
{
    (void)state;
    printf("clock source: %s\n", tel_clock_source());
    /* Sample for 1.3 s, crossing the 10 ms, 100 ms and 1 s refreshes. */
    uint64_t start = tel_mono_ns();
    int64_t worst = 0;
    uint64_t prev = 0;
    int64_t worst_back = 0;
    while (tel_mono_ns() - start < 1300000000ull) {
        uint64_t a = tel_now_ns();
        uint64_t c = tel_clock_now_ns();
        uint64_t b = tel_now_ns();
        /* c must lie between a and b, give or take the anchor error. */
        int64_t err = 0;
        if (c < a)
            err = absdiff(a, c);
        else if (c > b)
            err = absdiff(c, b);
        if (err > worst)
            worst = err;
        if (prev && c < prev && (int64_t)(prev - c) > worst_back)
            worst_back = (int64_t)(prev - c);
        prev = c;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    printf("worst deviation from CLOCK_REALTIME: %lld ns, worst step back: %lld ns\n",
           (long long)worst, (long long)worst_back);
    assert_true(worst < 200000);      /* 200 µs */
    assert_true(worst_back < 200000); /* re-anchoring never steps back far */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_tracks_realtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
