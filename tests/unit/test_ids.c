/* Unit tests of id generation and hex helpers (ids.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "telemetry/ids.h"

static int cmp8(const void *a, const void *b)
{
    return memcmp(a, b, 8);
}

static void test_ids_nonzero_and_unique(void **state)
{
    (void)state;
    enum { N = 100000 };
    uint8_t(*ids)[8] = malloc(sizeof(uint8_t[8]) * N);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        tel_span_id_generate(ids[i]);
        assert_false(tel_id_is_zero(ids[i], 8));
    }
    qsort(ids, N, 8, cmp8);
    for (int i = 1; i < N; i++)
        assert_memory_not_equal(ids[i - 1], ids[i], 8);
    free(ids);
    uint8_t t[16];
    tel_trace_id_generate(t);
    assert_false(tel_id_is_zero(t, 16));
    assert_false(tel_id_is_zero(t, 8) && tel_id_is_zero(t + 8, 8));
}

/* Every bit of the generated ids is set about half the time, span ids and both halves of trace
 * ids alike (the W3C random flag promises random low 56 bits): N draws per bit position, each
 * count within 6 standard deviations of N/2 (a chance failure: about 1 in 10^7 runs). */
static void test_ids_bits_balanced(void **state)
{
    (void)state;
    enum { N = 200000 };
    static unsigned ones[3][64];
    memset(ones, 0, sizeof ones);
    for (int i = 0; i < N; i++) {
        uint8_t sid[8], tid[16];
        tel_span_id_generate(sid);
        tel_trace_id_generate(tid);
        for (int b = 0; b < 64; b++) {
            ones[0][b] += (sid[b / 8] >> (b % 8)) & 1u;
            ones[1][b] += (tid[b / 8] >> (b % 8)) & 1u;
            ones[2][b] += (tid[8 + b / 8] >> (b % 8)) & 1u;
        }
    }
    const double sd = 223.6; /* sqrt(N / 4) */
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 64; b++)
            assert_in_range(ones[k][b], (unsigned)(N / 2 - 6 * sd), (unsigned)(N / 2 + 6 * sd));
}

/* The zero test looks at every byte of an id, whichever word it is in. */
static void test_id_is_zero_every_byte(void **state)
{
    (void)state;
    uint8_t id[16] = {0};
    assert_true(tel_id_is_zero(id, 16));
    assert_true(tel_id_is_zero(id, 8));
    assert_true(tel_id_is_zero(id, 3));
    for (int i = 0; i < 16; i++) {
        memset(id, 0, sizeof id);
        id[i] = 0x80;
        assert_false(tel_id_is_zero(id, 16));
        if (i < 8)
            assert_false(tel_id_is_zero(id, 8));
        else
            assert_true(tel_id_is_zero(id, 8));
        if (i < 3)
            assert_false(tel_id_is_zero(id, 3));
    }
    /* Unaligned ids too. */
    uint8_t buf[17] = {0};
    buf[16] = 1;
    assert_false(tel_id_is_zero(buf + 1, 16));
    assert_true(tel_id_is_zero(buf + 1, 8));
}

static void test_hex_roundtrip(void **state)
{
    (void)state;
    uint8_t id[16], back[16];
    char hex[33];
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(i * 17);
    tel_hex_encode(id, 16, hex);
    assert_string_equal(hex, "00112233445566778899aabbccddeeff");
    assert_int_equal(tel_hex_decode(hex, 16, back), TEL_OK);
    assert_memory_equal(id, back, 16);
    assert_int_equal(tel_hex_decode("00112233445566778899AABBCCDDEEFF", 16, back), TEL_EINVAL);
    assert_int_equal(tel_hex_decode("0011223344556677889_aabbccddeeff", 16, back), TEL_EINVAL);
    assert_int_equal(tel_hex_decode("zz", 1, back), TEL_EINVAL);
}

static void test_fork_child_gets_new_ids(void **state)
{
    (void)state;
    uint8_t warm[8];
    tel_span_id_generate(warm); /* the parent's generator is seeded */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t id[8];
        tel_span_id_generate(id);
        ssize_t w = write(pipefd[1], id, 8);
        _exit(w == 8 ? 0 : 1);
    }
    uint8_t mine[8], childs[8];
    tel_span_id_generate(mine);
    assert_int_equal(read(pipefd[0], childs, 8), 8);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Without reseeding, the child's next id would equal the parent's next id. */
    assert_memory_not_equal(mine, childs, 8);
    close(pipefd[0]);
    close(pipefd[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_nonzero_and_unique),
        cmocka_unit_test(test_ids_bits_balanced),
        cmocka_unit_test(test_id_is_zero_every_byte),
        cmocka_unit_test(test_hex_roundtrip),
        cmocka_unit_test(test_fork_child_gets_new_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
