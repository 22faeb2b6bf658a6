/* Fuzzes the Redfish JSON readers (agent/src/redfish_json.c) with one body fed to every reader.
 * Invariants: no reader reads past len or crashes; every URI it returns is "" or an absolute
 * path without control characters, spaces or '#'; every string is NUL-terminated inside its
 * buffer; sensor counts never pass the cap; a chosen ResetType is one the BMC listed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/redfish_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t cap)
{
    if (memchr(s, '\0', cap) == NULL) abort();
}

static void check_uri(const char *u)
{
    check_str(u, AGT_RF_URI_MAX);
    if (!u[0]) return;
    if (u[0] != '/' || u[1] == '/' || strchr(u, '#')) abort();
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '\\') abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy without a terminator, so reading past size is caught by ASan. */
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);

    agt_rf_root root;
    if (agt_rf_parse_root(buf, size, &root) == AGT_OK) {
        check_uri(root.systems);
        check_uri(root.managers);
        check_uri(root.chassis);
        check_uri(root.session_service);
        check_uri(root.sessions);
        check_str(root.redfish_version, sizeof root.redfish_version);
    }

    char uris[4][AGT_RF_URI_MAX];
    size_t n = 0, total = 0;
    if (agt_rf_parse_collection(buf, size, uris, 4, &n, &total) == AGT_OK) {
        if (n > 4 || n > total) abort();
        for (size_t i = 0; i < n; i++) {
            check_uri(uris[i]);
            if (!uris[i][0]) abort();
        }
    }

    agt_rf_system sys;
    if (agt_rf_parse_system(buf, size, &sys) == AGT_OK) {
        check_uri(sys.reset_target);
        check_uri(sys.reset_action_info);
        check_uri(sys.manager);
        check_uri(sys.chassis);
        check_str(sys.power_state, sizeof sys.power_state);
        check_str(sys.manufacturer, sizeof sys.manufacturer);
        check_str(sys.model, sizeof sys.model);
        check_str(sys.serial, sizeof sys.serial);
        check_str(sys.uuid, sizeof sys.uuid);
        if (sys.reset_allowed >> AGT_RF_RESET_COUNT) abort();
        (void)agt_rf_power_state(sys.power_state);
        for (int a = AGT_POWER_ON; a <= AGT_POWER_RESET; a++) {
            agt_rf_reset_choice c;
            int rc =
                agt_rf_choose_reset((agt_power_action)a, sys.reset_allowed, sys.reset_has_list, &c);
            if (rc == AGT_OK && (!c.name || (sys.reset_has_list && !(sys.reset_allowed & c.bit))))
                abort();
            if (rc != AGT_OK && (c.bit || c.name)) abort();
        }
        char list[64];
        check_str(agt_rf_reset_list(sys.reset_allowed, list, sizeof list), sizeof list);
    }

    unsigned allowed;
    bool has;
    if (agt_rf_parse_action_info(buf, size, &allowed, &has) == AGT_OK &&
        ((allowed && !has) || (allowed >> AGT_RF_RESET_COUNT)))
        abort();

    agt_rf_manager mgr;
    if (agt_rf_parse_manager(buf, size, &mgr) == AGT_OK)
        check_str(mgr.firmware, sizeof mgr.firmware);
    agt_rf_chassis ch;
    if (agt_rf_parse_chassis(buf, size, &ch) == AGT_OK) {
        check_uri(ch.thermal);
        check_uri(ch.power);
        check_uri(ch.sensors);
    }

    agt_sensor s[3];
    size_t ns = 0;
    agt_rf_parse_thermal(buf, size, s, 3, &ns);
    agt_rf_parse_power(buf, size, s, 3, &ns);
    agt_rf_parse_sensor(buf, size, s, 3, &ns);
    if (ns > 3) abort();
    for (size_t i = 0; i < ns; i++) {
        check_str(s[i].name, sizeof s[i].name);
        if (s[i].kind < AGT_SENSOR_TEMPERATURE || s[i].kind > AGT_SENSOR_POWER) abort();
        if (s[i].value != s[i].value) /* NaN */
            abort();
    }

    char msg[32];
    int rc = agt_rf_parse_error(buf, size, msg, sizeof msg);
    check_str(msg, sizeof msg);
    if ((rc == AGT_OK) != (msg[0] != '\0')) abort();
    free(buf);
    return 0;
}
