/* Redfish JSON readers (agent/src/redfish_json.c) on fixed bodies, malformed ones included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/redfish_json.h"

#define P(s) (s), strlen(s)

static void test_root(void **state)
{
    (void)state;
    agt_rf_root r;
    const char *body =
        "{\"@odata.id\":\"/redfish/v1/\",\"RedfishVersion\":\"1.11.0\","
        "\"Systems\":{\"@odata.id\":\"/redfish/v1/Systems\"},"
        "\"Managers\":{\"@odata.id\":\"/redfish/v1/Managers\"},"
        "\"Chassis\":{\"@odata.id\":\"/redfish/v1/Chassis\"},"
        "\"SessionService\":{\"@odata.id\":\"/redfish/v1/SessionService\"},"
        "\"Links\":{\"Sessions\":{\"@odata.id\":\"/redfish/v1/SessionService/Sessions\"}}}";
    assert_int_equal(agt_rf_parse_root(P(body), &r), AGT_OK);
    assert_string_equal(r.systems, "/redfish/v1/Systems");
    assert_string_equal(r.managers, "/redfish/v1/Managers");
    assert_string_equal(r.chassis, "/redfish/v1/Chassis");
    assert_string_equal(r.session_service, "/redfish/v1/SessionService");
    assert_string_equal(r.sessions, "/redfish/v1/SessionService/Sessions");
    assert_string_equal(r.redfish_version, "1.11.0");

    /* Not followed: absolute URLs to other hosts, protocol-relative, control characters,
     * wrong types. Fragments are dropped. */
    const char *hostile =
        "{\"Systems\":{\"@odata.id\":\"https://evil.example/redfish/v1/Systems\"},"
        "\"Managers\":{\"@odata.id\":\"//evil.example/x\"},"
        "\"Chassis\":{\"@odata.id\":\"/a\\nb\"},"
        "\"SessionService\":{\"@odata.id\":42},"
        "\"Links\":{\"Sessions\":{\"@odata.id\":\"/redfish/v1/S#frag\"}}}";
    assert_int_equal(agt_rf_parse_root(P(hostile), &r), AGT_OK);
    assert_string_equal(r.systems, "");
    assert_string_equal(r.managers, "");
    assert_string_equal(r.chassis, "");
    assert_string_equal(r.session_service, "");
    assert_string_equal(r.sessions, "/redfish/v1/S");

    /* Malformed bodies. */
    assert_int_equal(agt_rf_parse_root(P(""), &r), AGT_EPROTO);
    assert_int_equal(agt_rf_parse_root(P("[1,2]"), &r), AGT_EPROTO);
    assert_int_equal(agt_rf_parse_root(P("{\"Systems\":"), &r), AGT_EPROTO);
    assert_int_equal(agt_rf_parse_root(P("<html>503</html>"), &r), AGT_EPROTO);
    assert_int_equal(agt_rf_parse_root(NULL, 0, &r), AGT_EPROTO);
    /* Not NUL-terminated: only len bytes are read. */
    const char trunc[] = "{}garbage";
    assert_int_equal(agt_rf_parse_root(trunc, 2, &r), AGT_OK);
}

static void test_collection(void **state)
{
    (void)state;
    char uris[2][AGT_RF_URI_MAX];
    size_t n = 9, total = 9;
    const char *body = "{\"Members\":[{\"@odata.id\":\"/redfish/v1/Systems/1\"},"
                       "{\"bogus\":1},{\"@odata.id\":\"/redfish/v1/Systems/2\"},"
                       "{\"@odata.id\":\"/redfish/v1/Systems/3\"}]}";
    assert_int_equal(agt_rf_parse_collection(P(body), uris, 2, &n, &total), AGT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(total, 4);
    assert_string_equal(uris[0], "/redfish/v1/Systems/1");
    assert_string_equal(uris[1], "/redfish/v1/Systems/2");
    assert_int_equal(agt_rf_parse_collection(P("{\"Members\":[]}"), uris, 2, &n, NULL), AGT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(agt_rf_parse_collection(P("{\"Members\":{}}"), uris, 2, &n, NULL), AGT_EPROTO);
    assert_int_equal(agt_rf_parse_collection(P("{}"), uris, 2, &n, NULL), AGT_EPROTO);

    /* A URI longer than the buffer is treated as absent, never truncated. */
    char longbody[600];
    char path[AGT_RF_URI_MAX + 10];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    snprintf(longbody, sizeof longbody, "{\"Members\":[{\"@odata.id\":\"%s\"}]}", path);
    assert_int_equal(agt_rf_parse_collection(P(longbody), uris, 2, &n, &total), AGT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(total, 1);
}

static const char *system_body =
    "{\"@odata.id\":\"/redfish/v1/Systems/1\",\"Manufacturer\":\"Contoso\",\"Model\":\"Sim\","
    "\"SerialNumber\":\"SN1\",\"UUID\":\"38947555-7742-3448-3784-823493400001\","
    "\"PowerState\":\"On\",\"Actions\":{\"#ComputerSystem.Reset\":{"
    "\"target\":\"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset\","
    "\"ResetType@Redfish.AllowableValues\":[\"On\",\"ForceOff\",\"ForceRestart\",\"Bogus\",7]}},"
    "\"Links\":{\"ManagedBy\":[{\"@odata.id\":\"/redfish/v1/Managers/BMC\"}],"
    "\"Chassis\":[{\"@odata.id\":\"/redfish/v1/Chassis/1\"}]}}";

static void test_system(void **state)
{
    (void)state;
    agt_rf_system s;
    assert_int_equal(agt_rf_parse_system(P(system_body), &s), AGT_OK);
    assert_string_equal(s.power_state, "On");
    assert_string_equal(s.reset_target, "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset");
    assert_true(s.reset_has_list);
    assert_int_equal(s.reset_allowed,
                     AGT_RF_RESET_ON | AGT_RF_RESET_FORCE_OFF | AGT_RF_RESET_FORCE_RESTART);
    assert_string_equal(s.manufacturer, "Contoso");
    assert_string_equal(s.model, "Sim");
    assert_string_equal(s.serial, "SN1");
    assert_string_equal(s.uuid, "38947555-7742-3448-3784-823493400001");
    assert_string_equal(s.manager, "/redfish/v1/Managers/BMC");
    assert_string_equal(s.chassis, "/redfish/v1/Chassis/1");

    /* No actions, no links, wrong types: parses, with empty fields. */
    assert_int_equal(
        agt_rf_parse_system(P("{\"PowerState\":1,\"Actions\":[],\"Links\":\"x\"}"), &s), AGT_OK);
    assert_string_equal(s.power_state, "");
    assert_string_equal(s.reset_target, "");
    assert_false(s.reset_has_list);
    /* ActionInfo instead of an inline list. */
    assert_int_equal(agt_rf_parse_system(
                         P("{\"Actions\":{\"#ComputerSystem.Reset\":{\"target\":\"/r\","
                           "\"@Redfish.ActionInfo\":\"/redfish/v1/Systems/1/ResetActionInfo\"}}}"),
                         &s),
                     AGT_OK);
    assert_false(s.reset_has_list);
    assert_string_equal(s.reset_action_info, "/redfish/v1/Systems/1/ResetActionInfo");
    /* Long strings are cut at a UTF-8 boundary. */
    char body[300];
    char model[100];
    memset(model, 'm', sizeof model);
    memcpy(model + 62, "\xc3\xa9", 2); /* 'é' straddling the 63-byte cut */
    model[sizeof model - 1] = '\0';
    snprintf(body, sizeof body, "{\"Model\":\"%s\"}", model);
    assert_int_equal(agt_rf_parse_system(P(body), &s), AGT_OK);
    assert_int_equal(strlen(s.model), 62);

    unsigned allowed;
    bool has;
    assert_int_equal(agt_rf_parse_action_info(
                         P("{\"Parameters\":[{\"Name\":\"Other\",\"AllowableValues\":[\"On\"]},"
                           "{\"Name\":\"ResetType\",\"AllowableValues\":[\"GracefulShutdown\","
                           "\"PowerCycle\"]}]}"),
                         &allowed, &has),
                     AGT_OK);
    assert_true(has);
    assert_int_equal(allowed, AGT_RF_RESET_GRACEFUL_SHUTDOWN | AGT_RF_RESET_POWER_CYCLE);
    assert_int_equal(agt_rf_parse_action_info(P("{\"Parameters\":7}"), &allowed, &has), AGT_OK);
    assert_false(has);
    assert_int_equal(agt_rf_parse_action_info(P("nope"), &allowed, &has), AGT_EPROTO);
}

static void test_choose_reset(void **state)
{
    (void)state;
    agt_rf_reset_choice c;
    unsigned full = (1u << AGT_RF_RESET_COUNT) - 1;
    unsigned quirk = AGT_RF_RESET_ON | AGT_RF_RESET_FORCE_OFF | AGT_RF_RESET_FORCE_RESTART;
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_ON, full, true, &c), AGT_OK);
    assert_string_equal(c.name, "On");
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_OFF, full, true, &c), AGT_OK);
    assert_string_equal(c.name, "ForceOff");
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_SOFT, full, true, &c), AGT_OK);
    assert_string_equal(c.name, "GracefulShutdown");
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_CYCLE, full, true, &c), AGT_OK);
    assert_string_equal(c.name, "PowerCycle");
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_RESET, full, true, &c), AGT_OK);
    assert_string_equal(c.name, "ForceRestart");
    /* The quirk list: fallbacks, and refusal for soft. */
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_CYCLE, quirk, true, &c), AGT_OK);
    assert_string_equal(c.name, "ForceRestart");
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_SOFT, quirk, true, &c), AGT_EUNSUPPORTED);
    assert_null(c.name);
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_RESET, AGT_RF_RESET_GRACEFUL_RESTART, true, &c),
                     AGT_OK);
    assert_string_equal(c.name, "GracefulRestart");
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_ON, AGT_RF_RESET_FORCE_ON, true, &c), AGT_OK);
    assert_string_equal(c.name, "ForceOn");
    /* No list published: the first choice. An empty list: nothing. */
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_SOFT, 0, false, &c), AGT_OK);
    assert_string_equal(c.name, "GracefulShutdown");
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_ON, 0, true, &c), AGT_EUNSUPPORTED);
    assert_int_equal(agt_rf_choose_reset(AGT_POWER_STATUS, full, true, &c), AGT_EINVAL);

    char list[64];
    assert_string_equal(agt_rf_reset_list(quirk, list, sizeof list), "On, ForceOff, ForceRestart");
    assert_string_equal(agt_rf_reset_list(0, list, sizeof list), "none");
    char tiny[12];
    assert_string_equal(agt_rf_reset_list(quirk, tiny, sizeof tiny), "On");
    assert_int_equal(agt_rf_reset_bit("PowerCycle"), AGT_RF_RESET_POWER_CYCLE);
    assert_int_equal(agt_rf_reset_bit("powercycle"), 0);
    assert_null(agt_rf_reset_name(3));

    assert_int_equal(agt_rf_power_state("On"), AGT_POWER_IS_ON);
    assert_int_equal(agt_rf_power_state("PoweringOn"), AGT_POWER_IS_ON);
    assert_int_equal(agt_rf_power_state("Off"), AGT_POWER_IS_OFF);
    assert_int_equal(agt_rf_power_state("PoweringOff"), AGT_POWER_IS_OFF);
    assert_int_equal(agt_rf_power_state("Paused"), AGT_POWER_UNKNOWN);
    assert_int_equal(agt_rf_power_state(NULL), AGT_POWER_UNKNOWN);
}

static void test_manager_chassis(void **state)
{
    (void)state;
    agt_rf_manager m;
    assert_int_equal(agt_rf_parse_manager(P("{\"FirmwareVersion\":\"1.2.3\",\"UUID\":\"u\"}"), &m),
                     AGT_OK);
    assert_string_equal(m.firmware, "1.2.3");
    assert_string_equal(m.uuid, "u");
    assert_int_equal(agt_rf_parse_manager(P("\"1.2.3\""), &m), AGT_EPROTO);
    agt_rf_chassis c;
    assert_int_equal(agt_rf_parse_chassis(P("{\"Thermal\":{\"@odata.id\":\"/c/T\"},"
                                            "\"Sensors\":{\"@odata.id\":\"/c/S\"}}"),
                                          &c),
                     AGT_OK);
    assert_string_equal(c.thermal, "/c/T");
    assert_string_equal(c.power, "");
    assert_string_equal(c.sensors, "/c/S");
}

static void test_readings(void **state)
{
    (void)state;
    agt_sensor s[8];
    size_t n = 0;
    const char *thermal = "{\"Temperatures\":[{\"Name\":\"CPU1 Temp\",\"ReadingCelsius\":45.5},"
                          "{\"Name\":\"Absent\",\"ReadingCelsius\":null},{\"ReadingCelsius\":30}],"
                          "\"Fans\":[{\"Name\":\"Fan1\",\"Reading\":5400,\"ReadingUnits\":\"RPM\"},"
                          "{\"Name\":\"Fan2\",\"Reading\":30,\"ReadingUnits\":\"Percent\"},"
                          "{\"FanName\":\"Old Fan\",\"Reading\":1200}]}";
    assert_int_equal(agt_rf_parse_thermal(P(thermal), s, 8, &n), AGT_OK);
    assert_int_equal(n, 4);
    assert_string_equal(s[0].name, "CPU1 Temp");
    assert_int_equal(s[0].kind, AGT_SENSOR_TEMPERATURE);
    assert_true(s[0].value == 45.5);
    assert_string_equal(s[1].name, "Temperature 2"); /* unnamed: a generated name */
    assert_string_equal(s[2].name, "Fan1");
    assert_int_equal(s[2].kind, AGT_SENSOR_FAN);
    assert_true(s[2].value == 5400);
    assert_string_equal(s[3].name, "Old Fan");

    /* Appends, and stops at cap. */
    assert_int_equal(agt_rf_parse_power(P("{\"PowerControl\":[{\"Name\":\"System Power\","
                                          "\"PowerConsumedWatts\":212},{\"Name\":\"B\","
                                          "\"PowerConsumedWatts\":1}]}"),
                                        s, 5, &n),
                     AGT_OK);
    assert_int_equal(n, 5);
    assert_string_equal(s[4].name, "System Power");
    assert_int_equal(s[4].kind, AGT_SENSOR_POWER);
    assert_true(s[4].value == 212);

    n = 0;
    assert_int_equal(agt_rf_parse_sensor(P("{\"Name\":\"Inlet\",\"ReadingType\":\"Temperature\","
                                           "\"ReadingUnits\":\"Cel\",\"Reading\":22}"),
                                         s, 8, &n),
                     AGT_OK);
    assert_int_equal(agt_rf_parse_sensor(P("{\"Name\":\"12V\",\"ReadingType\":\"Voltage\","
                                           "\"Reading\":12.1}"),
                                         s, 8, &n),
                     AGT_OK);
    assert_int_equal(agt_rf_parse_sensor(P("{\"Name\":\"F\",\"ReadingType\":\"Rotational\","
                                           "\"ReadingUnits\":\"Percent\",\"Reading\":50}"),
                                         s, 8, &n),
                     AGT_OK);
    assert_int_equal(agt_rf_parse_sensor(P("{\"Name\":\"P\",\"ReadingType\":\"Power\","
                                           "\"Reading\":\"high\"}"),
                                         s, 8, &n),
                     AGT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(s[0].name, "Inlet");
    assert_int_equal(agt_rf_parse_thermal(P("[]"), s, 8, &n), AGT_EPROTO);
    assert_int_equal(agt_rf_parse_power(P("{\"PowerControl\":\"x\"}"), s, 8, &n), AGT_OK);
    assert_int_equal(agt_rf_parse_sensor(P("{"), s, 8, &n), AGT_EPROTO);
}

static void test_error(void **state)
{
    (void)state;
    char msg[64];
    assert_int_equal(agt_rf_parse_error(P("{\"error\":{\"code\":\"Base.1.8.GeneralError\","
                                          "\"message\":\"general\",\"@Message.ExtendedInfo\":"
                                          "[{\"Message\":\"The value is not allowed.\"}]}}"),
                                        msg, sizeof msg),
                     AGT_OK);
    assert_string_equal(msg, "The value is not allowed.");
    assert_int_equal(
        agt_rf_parse_error(P("{\"error\":{\"message\":\"general\"}}"), msg, sizeof msg), AGT_OK);
    assert_string_equal(msg, "general");
    assert_int_equal(agt_rf_parse_error(P("{\"error\":\"x\"}"), msg, sizeof msg), AGT_EPROTO);
    assert_string_equal(msg, "");
    assert_int_equal(agt_rf_parse_error(P("Service Unavailable"), msg, sizeof msg), AGT_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root),
        cmocka_unit_test(test_collection),
        cmocka_unit_test(test_system),
        cmocka_unit_test(test_choose_reset),
        cmocka_unit_test(test_manager_chassis),
        cmocka_unit_test(test_readings),
        cmocka_unit_test(test_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
