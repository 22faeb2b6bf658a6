/* RFB handshake parsers (agent/src/rfb.c) on fixed inputs, malformed ones included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/vnc.h"

#define U8(s) ((const uint8_t *)(s))

static void test_version(void **state)
{
    (void)state;
    int ma = -1, mi = -1;
    assert_int_equal(agt_rfb_parse_version(U8("RFB 003.008\n"), 12, &ma, &mi), AGT_OK);
    assert_int_equal(ma, 3);
    assert_int_equal(mi, 8);
    assert_int_equal(agt_rfb_parse_version(U8("RFB 003.889\n"), 12, &ma, &mi), AGT_OK);
    assert_int_equal(mi, 889);
    assert_int_equal(agt_rfb_parse_version(U8("RFB 004.001\n"), 12, &ma, &mi), AGT_OK);
    assert_int_equal(ma, 4);

    /* Malformed: wrong length, prefix, separators, digits, terminator. */
    assert_int_equal(agt_rfb_parse_version(U8("RFB 003.008"), 11, &ma, &mi), AGT_EPROTO);
    assert_int_equal(agt_rfb_parse_version(U8("RFB 003.008\n\n"), 13, &ma, &mi), AGT_EPROTO);
    assert_int_equal(agt_rfb_parse_version(U8("rfb 003.008\n"), 12, &ma, &mi), AGT_EPROTO);
    assert_int_equal(agt_rfb_parse_version(U8("RFB 003,008\n"), 12, &ma, &mi), AGT_EPROTO);
    assert_int_equal(agt_rfb_parse_version(U8("RFB 0x3.008\n"), 12, &ma, &mi), AGT_EPROTO);
    assert_int_equal(agt_rfb_parse_version(U8("RFB 003.008\r"), 12, &ma, &mi), AGT_EPROTO);
    assert_int_equal(agt_rfb_parse_version(U8("SSH-2.0-Open"), 12, &ma, &mi), AGT_EPROTO);
    assert_int_equal(agt_rfb_parse_version(NULL, 12, &ma, &mi), AGT_EPROTO);
}

static void test_choose_and_format(void **state)
{
    (void)state;
    assert_int_equal(agt_rfb_choose_minor(3, 8), 8);
    assert_int_equal(agt_rfb_choose_minor(3, 889), 8); /* Apple */
    assert_int_equal(agt_rfb_choose_minor(4, 1), 8);
    assert_int_equal(agt_rfb_choose_minor(3, 7), 7);
    assert_int_equal(agt_rfb_choose_minor(3, 3), 3);
    assert_int_equal(agt_rfb_choose_minor(3, 5), 3); /* RFC 6143: treat as 3.3 */
    assert_int_equal(agt_rfb_choose_minor(3, 2), -1);
    assert_int_equal(agt_rfb_choose_minor(2, 9), -1);
    char out[AGT_RFB_VERSION_LEN + 1];
    agt_rfb_format_version(8, out);
    assert_string_equal(out, "RFB 003.008\n");
    agt_rfb_format_version(3, out);
    assert_string_equal(out, "RFB 003.003\n");
}

static void test_security_38(void **state)
{
    (void)state;
    agt_rfb_info info;
    size_t used = 99;
    const uint8_t two[] = {2, AGT_RFB_SEC_NONE, AGT_RFB_SEC_VNCAUTH, 0xAA /* next message */};
    /* Incremental: each prefix asks for what is missing. */
    assert_int_equal(agt_rfb_parse_security(two, 0, 8, &info, &used), 1);
    assert_int_equal(agt_rfb_parse_security(two, 1, 8, &info, &used), 3);
    assert_int_equal(agt_rfb_parse_security(two, 2, 8, &info, &used), 3);
    assert_int_equal(agt_rfb_parse_security(two, sizeof two, 8, &info, &used), 0);
    assert_int_equal(used, 3);
    assert_int_equal(info.n_sec_types, 2);
    assert_int_equal(info.sec_types[0], 1);
    assert_int_equal(info.sec_types[1], 2);
    assert_string_equal(info.failure_reason, "");

    /* 255 types, the maximum. */
    uint8_t many[256];
    many[0] = 255;
    for (int i = 1; i < 256; i++)
        many[i] = (uint8_t)i;
    assert_int_equal(agt_rfb_parse_security(many, sizeof many, 7, &info, &used), 0);
    assert_int_equal(info.n_sec_types, 255);
    assert_int_equal(info.sec_types[254], 255);
}

static void test_security_refused(void **state)
{
    (void)state;
    agt_rfb_info info;
    size_t used;
    const uint8_t msg[] = {0,   0,   0,   0,   12,     'T', 'o', 'o', ' ',
                           'm', 'a', 'n', 'y', '\x01', 'a', 'u', 't'};
    assert_int_equal(agt_rfb_parse_security(msg, 1, 8, &info, &used), 5);
    assert_int_equal(agt_rfb_parse_security(msg, 5, 8, &info, &used), 17);
    assert_int_equal(agt_rfb_parse_security(msg, sizeof msg, 8, &info, &used), 0);
    assert_int_equal(info.n_sec_types, 0);
    assert_int_equal(used, 17);
    assert_string_equal(info.failure_reason, "Too many?aut"); /* non-printable replaced */

    /* A huge announced reason: only AGT_RFB_REASON_READ_MAX bytes are needed. */
    uint8_t big[5 + AGT_RFB_REASON_READ_MAX];
    memset(big, 'x', sizeof big);
    big[0] = 0;
    big[1] = 0xff;
    big[2] = 0xff;
    big[3] = 0xff;
    big[4] = 0xff;
    assert_int_equal(agt_rfb_parse_security(big, 5, 8, &info, &used), 5 + AGT_RFB_REASON_READ_MAX);
    assert_int_equal(agt_rfb_parse_security(big, sizeof big, 8, &info, &used), 0);
    assert_int_equal(strlen(info.failure_reason), sizeof info.failure_reason - 1);

    /* Empty reason. */
    const uint8_t empty[] = {0, 0, 0, 0, 0};
    assert_int_equal(agt_rfb_parse_security(empty, sizeof empty, 8, &info, &used), 0);
    assert_string_equal(info.failure_reason, "");
}

static void test_security_33(void **state)
{
    (void)state;
    agt_rfb_info info;
    size_t used;
    const uint8_t vnc[] = {0, 0, 0, 2};
    assert_int_equal(agt_rfb_parse_security(vnc, 3, 3, &info, &used), 4);
    assert_int_equal(agt_rfb_parse_security(vnc, 4, 3, &info, &used), 0);
    assert_int_equal(info.n_sec_types, 1);
    assert_int_equal(info.sec_types[0], AGT_RFB_SEC_VNCAUTH);
    const uint8_t bad[] = {0, 0, 0, 19}; /* VeNCrypt cannot be chosen by a 3.3 server */
    assert_int_equal(agt_rfb_parse_security(bad, 4, 3, &info, &used), AGT_EPROTO);
    const uint8_t refused[] = {0, 0, 0, 0, 0, 0, 0, 2, 'n', 'o'};
    assert_int_equal(agt_rfb_parse_security(refused, 9, 3, &info, &used), 10);
    assert_int_equal(agt_rfb_parse_security(refused, 10, 3, &info, &used), 0);
    assert_string_equal(info.failure_reason, "no");
    /* Versions we never answer. */
    assert_int_equal(agt_rfb_parse_security(vnc, 4, 5, &info, &used), AGT_EPROTO);
}

static void test_server_handshake(void **state)
{
    (void)state;
    agt_rfb_info info;
    size_t used;
    const char tiger[] = "RFB 003.008\n\x01\x01";
    assert_int_equal(agt_rfb_parse_server_handshake(U8(tiger), 5, &info, &used), 12);
    assert_int_equal(agt_rfb_parse_server_handshake(U8(tiger), 12, &info, &used), 13);
    assert_int_equal(agt_rfb_parse_server_handshake(U8(tiger), 13, &info, &used), 14);
    assert_int_equal(agt_rfb_parse_server_handshake(U8(tiger), 14, &info, &used), 0);
    assert_int_equal(used, 14);
    assert_int_equal(info.server_minor, 8);
    assert_int_equal(info.minor, 8);
    assert_int_equal(info.n_sec_types, 1);
    assert_string_equal(agt_rfb_security_name(info.sec_types[0]), "None");

    const char old[] = "RFB 003.003\n\0\0\0\x02";
    assert_int_equal(agt_rfb_parse_server_handshake(U8(old), 16, &info, &used), 0);
    assert_int_equal(info.minor, 3);
    assert_int_equal(info.sec_types[0], 2);

    assert_int_equal(agt_rfb_parse_server_handshake(U8("RFB 002.000\n\x01\x01"), 14, &info, &used),
                     AGT_EPROTO);
    assert_int_equal(agt_rfb_parse_server_handshake(U8("HTTP/1.1 400"), 12, &info, &used),
                     AGT_EPROTO);
    assert_string_equal(agt_rfb_security_name(19), "VeNCrypt");
    assert_string_equal(agt_rfb_security_name(200), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),     cmocka_unit_test(test_choose_and_format),
        cmocka_unit_test(test_security_38), cmocka_unit_test(test_security_refused),
        cmocka_unit_test(test_security_33), cmocka_unit_test(test_server_handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
