/* Redfish JSON readers (see agent/redfish_json.h). */
#include "agent/redfish_json.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const reset_names[AGT_RF_RESET_COUNT] = {
    "On",    "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart",
    "Nmi",   "ForceOn",  "PushPowerButton",  "PowerCycle",      "Suspend",
    "Pause", "Resume",   "FullPowerCycle",
};

unsigned agt_rf_reset_bit(const char *name)
{
    for (unsigned i = 0; name && i < AGT_RF_RESET_COUNT; i++)
        if (strcmp(name, reset_names[i]) == 0) return 1u << i;
    return 0;
}

const char *agt_rf_reset_name(unsigned bit)
{
    for (unsigned i = 0; i < AGT_RF_RESET_COUNT; i++)
        if (bit == 1u << i) return reset_names[i];
    return NULL;
}

char *agt_rf_reset_list(unsigned mask, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < AGT_RF_RESET_COUNT; i++) {
        if (!(mask & (1u << i))) continue;
        int w = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", reset_names[i]);
        if (w < 0 || (size_t)w >= cap - used) {
            out[used] = '\0'; /* no half names */
            break;
        }
        used += (size_t)w;
    }
    if (!used) snprintf(out, cap, "none");
    return out;
}

int agt_rf_choose_reset(agt_power_action action, unsigned allowed, bool has_list,
                        agt_rf_reset_choice *choice)
{
    unsigned first, second;
    switch (action) {
    case AGT_POWER_ON:
        first = AGT_RF_RESET_ON;
        second = AGT_RF_RESET_FORCE_ON;
        break;
    case AGT_POWER_OFF:
        first = AGT_RF_RESET_FORCE_OFF;
        second = 0;
        break;
    case AGT_POWER_SOFT:
        first = AGT_RF_RESET_GRACEFUL_SHUTDOWN;
        second = 0;
        break;
    case AGT_POWER_CYCLE:
        first = AGT_RF_RESET_POWER_CYCLE;
        second = AGT_RF_RESET_FORCE_RESTART;
        break;
    case AGT_POWER_RESET:
        first = AGT_RF_RESET_FORCE_RESTART;
        second = AGT_RF_RESET_GRACEFUL_RESTART;
        break;
    default:
        choice->bit = 0;
        choice->name = NULL;
        return AGT_EINVAL;
    }
    unsigned bit = 0;
    if (!has_list || (allowed & first))
        bit = first;
    else if (allowed & second)
        bit = second;
    choice->bit = bit;
    choice->name = bit ? agt_rf_reset_name(bit) : NULL;
    return bit ? AGT_OK : AGT_EUNSUPPORTED;
}

agt_power_state agt_rf_power_state(const char *s)
{
    if (!s) return AGT_POWER_UNKNOWN;
    if (strcmp(s, "On") == 0 || strcmp(s, "PoweringOn") == 0) return AGT_POWER_IS_ON;
    if (strcmp(s, "Off") == 0 || strcmp(s, "PoweringOff") == 0) return AGT_POWER_IS_OFF;
    return AGT_POWER_UNKNOWN;
}

/* ---- helpers ---- */

static json_t *load_object(const char *buf, size_t len)
{
    if (!buf || !len) return NULL;
    json_error_t err;
    json_t *root = json_loadb(buf, len, 0, &err);
    if (root && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Copies a JSON string into dst (cap > 0), truncating at a UTF-8 character boundary. A value
 * that is not a string leaves dst "". */
static void copy_str(char *dst, size_t cap, const json_t *v)
{
    dst[0] = '\0';
    const char *s = json_string_value(v);
    if (!s) return;
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Copies a URI (an @odata.id or action target) when it is a plain absolute path that fits:
 * it must start with a single '/', hold no control characters, spaces or backslashes; a '#'
 * fragment is dropped. Anything else leaves dst "" (the driver then never follows it, so a BMC
 * cannot send our credentials to another host). */
static void copy_uri(char *dst, size_t cap, const json_t *v)
{
    dst[0] = '\0';
    const char *s = json_string_value(v);
    if (!s || s[0] != '/' || s[1] == '/') return;
    size_t n = strcspn(s, "#");
    if (n >= cap) return;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '\\') return;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static const json_t *odata_id(const json_t *obj)
{
    return json_object_get(obj, "@odata.id");
}

/* obj[key] as an object's @odata.id, or the first element of an array of such. */
static void copy_link(char *dst, size_t cap, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_array(v)) v = json_array_get(v, 0);
    copy_uri(dst, cap, odata_id(v));
}

static bool reading(const json_t *v, double *out)
{
    if (!json_is_number(v)) return false;
    double d = json_number_value(v);
    if (!isfinite(d)) return false;
    *out = d;
    return true;
}

static void add_sensor(agt_sensor *out, size_t cap, size_t *n, const json_t *name,
                       const char *fallback, size_t idx, agt_sensor_kind kind, double value)
{
    if (*n >= cap) return;
    agt_sensor *s = &out[*n];
    memset(s, 0, sizeof *s);
    copy_str(s->name, sizeof s->name, name);
    if (!s->name[0]) snprintf(s->name, sizeof s->name, "%s %zu", fallback, idx);
    s->kind = kind;
    s->value = value;
    (*n)++;
}

/* ---- readers ---- */

int agt_rf_parse_root(const char *buf, size_t len, agt_rf_root *out)
{
    memset(out, 0, sizeof *out);
    json_t *root = load_object(buf, len);
    if (!root) return AGT_EPROTO;
    copy_link(out->systems, sizeof out->systems, root, "Systems");
    copy_link(out->managers, sizeof out->managers, root, "Managers");
    copy_link(out->chassis, sizeof out->chassis, root, "Chassis");
    copy_link(out->session_service, sizeof out->session_service, root, "SessionService");
    const json_t *links = json_object_get(root, "Links");
    if (json_is_object(links)) copy_link(out->sessions, sizeof out->sessions, links, "Sessions");
    copy_str(out->redfish_version, sizeof out->redfish_version,
             json_object_get(root, "RedfishVersion"));
    json_decref(root);
    return AGT_OK;
}

int agt_rf_parse_collection(const char *buf, size_t len, char (*uris)[AGT_RF_URI_MAX], size_t cap,
                            size_t *n, size_t *total)
{
    *n = 0;
    if (total) *total = 0;
    json_t *root = load_object(buf, len);
    if (!root) return AGT_EPROTO;
    const json_t *members = json_object_get(root, "Members");
    if (!json_is_array(members)) {
        json_decref(root);
        return AGT_EPROTO;
    }
    size_t count = json_array_size(members);
    if (total) *total = count;
    for (size_t i = 0; i < count && *n < cap; i++) {
        copy_uri(uris[*n], AGT_RF_URI_MAX, odata_id(json_array_get(members, i)));
        if (uris[*n][0]) (*n)++;
    }
    json_decref(root);
    return AGT_OK;
}

static void read_allowable(const json_t *arr, unsigned *allowed, bool *has_list)
{
    if (!json_is_array(arr)) return;
    *has_list = true;
    size_t count = json_array_size(arr);
    for (size_t i = 0; i < count; i++)
        *allowed |= agt_rf_reset_bit(json_string_value(json_array_get(arr, i)));
}

int agt_rf_parse_system(const char *buf, size_t len, agt_rf_system *out)
{
    memset(out, 0, sizeof *out);
    json_t *root = load_object(buf, len);
    if (!root) return AGT_EPROTO;
    copy_str(out->power_state, sizeof out->power_state, json_object_get(root, "PowerState"));
    copy_str(out->manufacturer, sizeof out->manufacturer, json_object_get(root, "Manufacturer"));
    copy_str(out->model, sizeof out->model, json_object_get(root, "Model"));
    copy_str(out->serial, sizeof out->serial, json_object_get(root, "SerialNumber"));
    copy_str(out->uuid, sizeof out->uuid, json_object_get(root, "UUID"));
    const json_t *actions = json_object_get(root, "Actions");
    const json_t *reset = json_object_get(actions, "#ComputerSystem.Reset");
    if (json_is_object(reset)) {
        copy_uri(out->reset_target, sizeof out->reset_target, json_object_get(reset, "target"));
        read_allowable(json_object_get(reset, "ResetType@Redfish.AllowableValues"),
                       &out->reset_allowed, &out->reset_has_list);
        copy_uri(out->reset_action_info, sizeof out->reset_action_info,
                 json_object_get(reset, "@Redfish.ActionInfo"));
    }
    const json_t *links = json_object_get(root, "Links");
    if (json_is_object(links)) {
        copy_link(out->manager, sizeof out->manager, links, "ManagedBy");
        copy_link(out->chassis, sizeof out->chassis, links, "Chassis");
    }
    json_decref(root);
    return AGT_OK;
}

int agt_rf_parse_action_info(const char *buf, size_t len, unsigned *allowed, bool *has_list)
{
    *allowed = 0;
    *has_list = false;
    json_t *root = load_object(buf, len);
    if (!root) return AGT_EPROTO;
    const json_t *params = json_object_get(root, "Parameters");
    size_t count = json_array_size(params);
    for (size_t i = 0; i < count; i++) {
        const json_t *p = json_array_get(params, i);
        const char *name = json_string_value(json_object_get(p, "Name"));
        if (name && strcmp(name, "ResetType") == 0) {
            read_allowable(json_object_get(p, "AllowableValues"), allowed, has_list);
            break;
        }
    }
    json_decref(root);
    return AGT_OK;
}

int agt_rf_parse_manager(const char *buf, size_t len, agt_rf_manager *out)
{
    memset(out, 0, sizeof *out);
    json_t *root = load_object(buf, len);
    if (!root) return AGT_EPROTO;
    copy_str(out->firmware, sizeof out->firmware, json_object_get(root, "FirmwareVersion"));
    copy_str(out->uuid, sizeof out->uuid, json_object_get(root, "UUID"));
    copy_str(out->model, sizeof out->model, json_object_get(root, "Model"));
    json_decref(root);
    return AGT_OK;
}

int agt_rf_parse_chassis(const char *buf, size_t len, agt_rf_chassis *out)
{
    memset(out, 0, sizeof *out);
    json_t *root = load_object(buf, len);
    if (!root) return AGT_EPROTO;
    copy_link(out->thermal, sizeof out->thermal, root, "Thermal");
    copy_link(out->power, sizeof out->power, root, "Power");
    copy_link(out->sensors, sizeof out->sensors, root, "Sensors");
    json_decref(root);
    return AGT_OK;
}

int agt_rf_parse_thermal(const char *buf, size_t len, agt_sensor *out, size_t cap, size_t *n)
{
    json_t *root = load_object(buf, len);
    if (!root) return AGT_EPROTO;
    const json_t *temps = json_object_get(root, "Temperatures");
    size_t count = json_array_size(temps);
    for (size_t i = 0; i < count && *n < cap; i++) {
        const json_t *t = json_array_get(temps, i);
        double v;
        if (reading(json_object_get(t, "ReadingCelsius"), &v))
            add_sensor(out, cap, n, json_object_get(t, "Name"), "Temperature", i,
                       AGT_SENSOR_TEMPERATURE, v);
    }
    const json_t *fans = json_object_get(root, "Fans");
    count = json_array_size(fans);
    for (size_t i = 0; i < count && *n < cap; i++) {
        const json_t *f = json_array_get(fans, i);
        const char *units = json_string_value(json_object_get(f, "ReadingUnits"));
        if (units && strcmp(units, "RPM") != 0) continue;
        double v;
        if (!reading(json_object_get(f, "Reading"), &v)) continue;
        const json_t *name = json_object_get(f, "Name");
        if (!json_is_string(name))
            name = json_object_get(f, "FanName"); /* Thermal schemas before 1.1 */
        add_sensor(out, cap, n, name, "Fan", i, AGT_SENSOR_FAN, v);
    }
    json_decref(root);
    return AGT_OK;
}

int agt_rf_parse_power(const char *buf, size_t len, agt_sensor *out, size_t cap, size_t *n)
{
    json_t *root = load_object(buf, len);
    if (!root) return AGT_EPROTO;
    const json_t *ctl = json_object_get(root, "PowerControl");
    size_t count = json_array_size(ctl);
    for (size_t i = 0; i < count && *n < cap; i++) {
        const json_t *c = json_array_get(ctl, i);
        double v;
        if (reading(json_object_get(c, "PowerConsumedWatts"), &v))
            add_sensor(out, cap, n, json_object_get(c, "Name"), "Power", i, AGT_SENSOR_POWER, v);
    }
    json_decref(root);
    return AGT_OK;
}

int agt_rf_parse_sensor(const char *buf, size_t len, agt_sensor *out, size_t cap, size_t *n)
{
    json_t *root = load_object(buf, len);
    if (!root) return AGT_EPROTO;
    const char *type = json_string_value(json_object_get(root, "ReadingType"));
    const char *units = json_string_value(json_object_get(root, "ReadingUnits"));
    agt_sensor_kind kind = 0;
    if (type && strcmp(type, "Temperature") == 0 && (!units || strcmp(units, "Cel") == 0))
        kind = AGT_SENSOR_TEMPERATURE;
    else if (type && strcmp(type, "Rotational") == 0 && (!units || strcmp(units, "RPM") == 0))
        kind = AGT_SENSOR_FAN;
    else if (type && strcmp(type, "Power") == 0 && (!units || strcmp(units, "W") == 0))
        kind = AGT_SENSOR_POWER;
    double v;
    if (kind && reading(json_object_get(root, "Reading"), &v))
        add_sensor(out, cap, n, json_object_get(root, "Name"), "Sensor", *n, kind, v);
    json_decref(root);
    return AGT_OK;
}

int agt_rf_parse_error(const char *buf, size_t len, char *out, size_t cap)
{
    out[0] = '\0';
    json_t *root = load_object(buf, len);
    if (!root) return AGT_EPROTO;
    const json_t *err = json_object_get(root, "error");
    const json_t *info = json_array_get(json_object_get(err, "@Message.ExtendedInfo"), 0);
    copy_str(out, cap, json_object_get(info, "Message"));
    if (!out[0]) copy_str(out, cap, json_object_get(err, "message"));
    json_decref(root);
    return out[0] ? AGT_OK : AGT_EPROTO;
}
