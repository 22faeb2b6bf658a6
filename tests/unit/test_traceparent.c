/* W3C traceparent parsing and formatting (Trace Context levels 1 and 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "telemetry/propagation.h"

#define TID "12345678901234567890123456789012"
#define SID "1234567890123456"
#define VALID "00-" TID "-" SID "-01"

static int parse(const char *s, tel_span_context *sc)
{
    return tel_traceparent_parse(s, strlen(s), sc);
}

static bool ok(const char *s)
{
    tel_span_context sc;
    return parse(s, &sc) == TEL_OK;
}

static void test_valid(void **state)
{
    (void)state;
    tel_span_context sc;
    memset(&sc, 0xaa, sizeof sc);
    assert_int_equal(parse(VALID, &sc), TEL_OK);
    static const uint8_t tid[16] = {0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56,
                                    0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12};
    static const uint8_t sid[8] = {0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56};
    assert_memory_equal(sc.trace_id, tid, 16);
    assert_memory_equal(sc.span_id, sid, 8);
    assert_int_equal(sc.flags, TEL_FLAG_SAMPLED);
    assert_true(sc.remote);

    assert_int_equal(parse("00-" TID "-" SID "-00", &sc), TEL_OK);
    assert_int_equal(sc.flags, 0);
    /* Level 2: the random flag is kept. */
    assert_int_equal(parse("00-" TID "-" SID "-02", &sc), TEL_OK);
    assert_int_equal(sc.flags, TEL_FLAG_RANDOM);
    assert_int_equal(parse("00-" TID "-" SID "-03", &sc), TEL_OK);
    assert_int_equal(sc.flags, TEL_FLAG_RANDOM | TEL_FLAG_SAMPLED);
    /* Undefined flags are cleared. */
    assert_int_equal(parse("00-" TID "-" SID "-ff", &sc), TEL_OK);
    assert_int_equal(sc.flags, TEL_FLAG_RANDOM | TEL_FLAG_SAMPLED);
    assert_int_equal(parse("00-" TID "-" SID "-fc", &sc), TEL_OK);
    assert_int_equal(sc.flags, 0);
}

static void test_ows(void **state)
{
    (void)state;
    assert_true(ok(" " VALID));
    assert_true(ok("\t" VALID));
    assert_true(ok(VALID " "));
    assert_true(ok(VALID "\t"));
    assert_true(ok("\t " VALID " \t"));
    assert_true(ok("   \t\t" VALID "\t\t  "));
    /* Other whitespace is not OWS. */
    assert_false(ok("\n" VALID));
    assert_false(ok(VALID "\r"));
    assert_false(ok("\v" VALID));
}

static void test_versions(void **state)
{
    (void)state;
    /* Version 00 must be exactly 55 characters. */
    assert_false(ok(VALID "."));
    assert_false(ok(VALID "-what-the-future-will-be-like"));
    assert_false(ok(VALID "-"));
    /* Future versions: the first 55 characters, followed by the end or '-'. */
    assert_true(ok("cc-" TID "-" SID "-01"));
    assert_true(ok("cc-" TID "-" SID "-01-what-the-future-will-be-like"));
    assert_true(ok("01-" TID "-" SID "-01-"));
    assert_false(ok("cc-" TID "-" SID "-01.what-the-future-will-be-like"));
    assert_false(ok("cc-" TID "-" SID "-01what"));
    tel_span_context sc;
    assert_int_equal(parse("fe-" TID "-" SID "-03-xx", &sc), TEL_OK);
    assert_int_equal(sc.flags, 3);
    /* ff is forbidden. */
    assert_false(ok("ff-" TID "-" SID "-01"));
    assert_false(ok("ff-" TID "-" SID "-01-extra"));
    /* Illegal characters, wrong lengths, uppercase. */
    assert_false(ok(".0-" TID "-" SID "-01"));
    assert_false(ok("0.-" TID "-" SID "-01"));
    assert_false(ok("000-" TID "-" SID "-01"));
    assert_false(ok("0000-" TID "-" SID "-01"));
    assert_false(ok("0-" TID "-" SID "-01"));
    assert_false(ok("CC-" TID "-" SID "-01"));
    assert_false(ok("0A-" TID "-" SID "-01"));
}

static void test_trace_id(void **state)
{
    (void)state;
    assert_false(ok("00-00000000000000000000000000000000-" SID "-01"));
    assert_false(ok("00-.2345678901234567890123456789012-" SID "-01"));
    assert_false(ok("00-1234567890123456789012345678901.-" SID "-01"));
    assert_false(ok("00-123456789012345678901234567890123-" SID "-01"));
    assert_false(ok("00-1234567890123456789012345678901-" SID "-01"));
    assert_false(ok("00-1234567890123456789012345678901A-" SID "-01"));
    assert_false(ok("00-ABCDEF78901234567890123456789012-" SID "-01"));
    assert_false(ok("00-1234567890123456789012345678901g-" SID "-01"));
    assert_true(ok("00-00000000000000000000000000000001-" SID "-01"));
}

static void test_parent_id(void **state)
{
    (void)state;
    assert_false(ok("00-" TID "-0000000000000000-01"));
    assert_false(ok("00-" TID "-.234567890123456-01"));
    assert_false(ok("00-" TID "-123456789012345.-01"));
    assert_false(ok("00-" TID "-12345678901234567-01"));
    assert_false(ok("00-" TID "-123456789012345-01"));
    assert_false(ok("00-" TID "-123456789012345F-01"));
    assert_true(ok("00-" TID "-0000000000000001-01"));
}

static void test_flags(void **state)
{
    (void)state;
    assert_false(ok("00-" TID "-" SID "-.0"));
    assert_false(ok("00-" TID "-" SID "-0."));
    assert_false(ok("00-" TID "-" SID "-001"));
    assert_false(ok("00-" TID "-" SID "-1"));
    assert_false(ok("00-" TID "-" SID "-0F"));
    assert_false(ok("00-" TID "-" SID "-"));
}

static void test_structure(void **state)
{
    (void)state;
    tel_span_context sc;
    assert_false(ok(""));
    assert_false(ok("   "));
    assert_false(ok("00"));
    assert_false(ok("00_" TID "-" SID "-01"));
    assert_false(ok("00-" TID "_" SID "-01"));
    assert_false(ok("00-" TID "-" SID "_01"));
    assert_false(ok("00-" TID "-" SID "-01,00-" TID "-" SID "-01"));
    assert_int_equal(tel_traceparent_parse(NULL, 0, &sc), TEL_EINVAL);
    assert_int_equal(tel_traceparent_parse(VALID, 55, NULL), TEL_EINVAL);
    /* The length is honoured: no NUL is needed and bytes past len are not read. */
    char buf[64];
    memcpy(buf, VALID "XYZ", 58);
    assert_int_equal(tel_traceparent_parse(buf, 55, &sc), TEL_OK);
    assert_int_equal(tel_traceparent_parse(buf, 54, &sc), TEL_EINVAL);
    /* An embedded NUL is just an illegal character. */
    memcpy(buf, VALID, 56);
    buf[10] = '\0';
    assert_int_equal(tel_traceparent_parse(buf, 55, &sc), TEL_EINVAL);
    /* On failure the output is untouched. */
    memset(&sc, 0x5a, sizeof sc);
    tel_span_context before = sc;
    assert_int_equal(parse("00-" TID "-0000000000000000-01", &sc), TEL_EINVAL);
    assert_memory_equal(&sc, &before, sizeof sc);
}

static void test_format(void **state)
{
    (void)state;
    tel_span_context sc;
    assert_int_equal(parse("  cc-" TID "-" SID "-03-future", &sc), TEL_OK);
    char out[TEL_TRACEPARENT_LEN + 1];
    tel_traceparent_format(&sc, out);
    assert_string_equal(out, "00-" TID "-" SID "-03");
    sc.flags = 0xff; /* undefined bits are never sent */
    tel_traceparent_format(&sc, out);
    assert_string_equal(out, "00-" TID "-" SID "-03");
    sc.flags = 0;
    tel_traceparent_format(&sc, out);
    assert_string_equal(out, "00-" TID "-" SID "-00");
    memset(sc.trace_id, 0xab, 16);
    memset(sc.span_id, 0xcd, 8);
    sc.flags = 1;
    tel_traceparent_format(&sc, out);
    assert_string_equal(out, "00-abababababababababababababababab-cdcdcdcdcdcdcdcd-01");
    /* Round trip. */
    tel_span_context back;
    assert_int_equal(parse(out, &back), TEL_OK);
    assert_memory_equal(back.trace_id, sc.trace_id, 16);
    assert_memory_equal(back.span_id, sc.span_id, 8);
    assert_int_equal(back.flags, 1);
    /* Every byte value in every position of both ids, against snprintf's digits. */
    for (int start = 0; start < 256; start++) {
        for (int i = 0; i < 16; i++)
            sc.trace_id[i] = (uint8_t)(start + i * 17);
        for (int i = 0; i < 8; i++)
            sc.span_id[i] = (uint8_t)(start * 7 + i * 31);
        char want[TEL_TRACEPARENT_LEN + 1];
        int n = snprintf(want, sizeof want, "00-");
        for (int i = 0; i < 16; i++)
            n += snprintf(want + n, sizeof want - (size_t)n, "%02x", sc.trace_id[i]);
        n += snprintf(want + n, sizeof want - (size_t)n, "-");
        for (int i = 0; i < 8; i++)
            n += snprintf(want + n, sizeof want - (size_t)n, "%02x", sc.span_id[i]);
        snprintf(want + n, sizeof want - (size_t)n, "-01");
        tel_traceparent_format(&sc, out);
        assert_string_equal(out, want);
    }
}

/* Every byte value at every digit of the two ids: accepted exactly when it is a lowercase hex
 * digit, and then decoded to its value in the right nibble (the digits are decoded sixteen at a
 * time on x86-64: each lane and each pair order is exercised). */
static void test_every_digit_byte(void **state)
{
    (void)state;
    static const char hex[] = "0123456789abcdef";
    char s[TEL_TRACEPARENT_LEN + 1];
    for (int pos = 0; pos < 48; pos++) {
        int at = pos < 32 ? 3 + pos : 36 + (pos - 32);
        for (int c = 0; c < 256; c++) {
            memcpy(s, VALID, sizeof s);
            s[at] = (char)c;
            tel_span_context sc;
            int rc = tel_traceparent_parse(s, TEL_TRACEPARENT_LEN, &sc);
            const char *digit = c ? strchr(hex, c) : NULL;
            if (!digit) {
                assert_int_equal(rc, TEL_EINVAL);
                continue;
            }
            assert_int_equal(rc, TEL_OK);
            /* the reference: each byte of the id from its two digits */
            const uint8_t *id = pos < 32 ? sc.trace_id : sc.span_id;
            const char *digits = pos < 32 ? s + 3 : s + 36;
            int n = pos < 32 ? 16 : 8;
            for (int i = 0; i < n; i++) {
                int hi = (int)(strchr(hex, digits[2 * i]) - hex);
                int lo = (int)(strchr(hex, digits[2 * i + 1]) - hex);
                assert_int_equal(id[i], hi << 4 | lo);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),     cmocka_unit_test(test_ows),
        cmocka_unit_test(test_versions),  cmocka_unit_test(test_trace_id),
        cmocka_unit_test(test_parent_id), cmocka_unit_test(test_flags),
        cmocka_unit_test(test_structure), cmocka_unit_test(test_format),
        cmocka_unit_test(test_every_digit_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
