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
        cmocka_unit_test(test_hex_roundtrip),
        cmocka_unit_test(test_fork_child_gets_new_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
