/* Input validation for the API and the seed file. Messages name the field, never its value. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "core/error.h"
#include "mgr.h"

int mgr_text_field(const json_t *obj, const char *key, size_t min, size_t max, unsigned flags,
                   const char **out, char *msg, size_t cap)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (flags & MGR_TEXT_OPTIONAL) return 0;
        snprintf(msg, cap, "field \"%s\" is required", key);
        return CORE_EINVAL;
    }
    if (!json_is_string(v)) {
        snprintf(msg, cap, "field \"%s\" must be a string", key);
        return CORE_EINVAL;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n < min || n > max) {
        snprintf(msg, cap, "field \"%s\" must have %zu to %zu bytes", key, min, max);
        return CORE_EINVAL;
    }
    if (memchr(s, '\0', n)) {
        snprintf(msg, cap, "field \"%s\" must not contain NUL", key);
        return CORE_EINVAL;
    }
    if (!(flags & MGR_TEXT_ANY_CHARS)) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20 || c == 0x7f) {
                snprintf(msg, cap, "field \"%s\" must not contain control characters", key);
                return CORE_EINVAL;
            }
        }
    }
    *out = s;
    return 0;
}

int mgr_id_parse(const char *s, int64_t *out)
{
    if (!s) return CORE_EINVAL;
    size_t n = strlen(s);
    if (n == 0 || n > 18 || s[0] == '0') return CORE_EINVAL;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return CORE_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int mgr_id_field(const json_t *obj, const char *key, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return CORE_ENOTFOUND;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i <= 0) return CORE_EINVAL;
        *out = (int64_t)i;
        return 0;
    }
    if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
        return mgr_id_parse(json_string_value(v), out);
    return CORE_EINVAL;
}

json_t *mgr_id_json(int64_t id)
{
    char b[24];
    snprintf(b, sizeof b, "%" PRId64, id);
    return json_string(b);
}

int mgr_roles_parse(const json_t *arr, unsigned *roles)
{
    *roles = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0) return CORE_EINVAL;
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r)
    {
        unsigned bit = core_token_role_parse(json_string_value(r));
        if (!bit || (*roles & bit)) return CORE_EINVAL;
        *roles |= bit;
    }
    return 0;
}

json_t *mgr_roles_json(unsigned roles)
{
    json_t *a = json_array();
    for (unsigned bit = 1; a && bit <= CORE_TOKEN_ROLES_ALL; bit <<= 1)
        if (roles & bit) json_array_append_new(a, json_string(core_token_role_name(bit)));
    return a;
}

/* Parses url with libcurl (any scheme); fills scheme (lowercase) and host. Refuses user info,
 * query and fragment. */
static int parse_url(const char *url, char *scheme, size_t scap, char host[MGR_HOST_MAX + 1],
                     char **path, char *msg, size_t cap)
{
    CURLU *u = curl_url();
    if (!u) {
        snprintf(msg, cap, "out of memory");
        return CORE_ENOMEM;
    }
    int rc = CORE_EINVAL;
    char *s = NULL, *h = NULL, *x = NULL;
    if (!strstr(url, "://") ||
        curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        snprintf(msg, cap, "not a valid URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &x, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &x, 0) == CURLUE_OK) {
        snprintf(msg, cap, "credentials do not belong in the URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &x, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &x, 0) == CURLUE_OK) {
        snprintf(msg, cap, "the URL must not have a query or fragment");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !h[0]) {
        snprintf(msg, cap, "the URL needs a scheme and a host");
        goto out;
    }
    if (strlen(s) >= scap) {
        snprintf(msg, cap, "unknown scheme");
        goto out;
    }
    for (size_t i = 0; s[i]; i++)
        scheme[i] = (char)tolower((unsigned char)s[i]), scheme[i + 1] = '\0';
    const char *hs = h;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        hs++;
        hl -= 2;
    }
    if (hl == 0 || hl > MGR_HOST_MAX) {
        snprintf(msg, cap, "bad host");
        goto out;
    }
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (path && curl_url_get(u, CURLUPART_PATH, path, 0) != CURLUE_OK) *path = NULL;
    rc = 0;
out:
    curl_free(x);
    curl_free(s);
    curl_free(h);
    curl_url_cleanup(u);
    return rc;
}

int mgr_endpoint_parse(const char *url, char type[8], char host[MGR_HOST_MAX + 1], char *msg,
                       size_t cap)
{
    char scheme[16] = "";
    char *path = NULL;
    char m[128] = "";
    if (parse_url(url, scheme, sizeof scheme, host, &path, m, sizeof m) != 0) {
        snprintf(msg, cap, "field \"bmc_endpoint\": %s", m);
        return CORE_EINVAL;
    }
    int rc = 0;
    if (strcmp(scheme, "ipmi") == 0) {
        snprintf(type, 8, "ipmi");
        if (path && strcmp(path, "/") != 0 && path[0] != '\0') {
            snprintf(msg, cap, "field \"bmc_endpoint\": an ipmi:// endpoint has no path");
            rc = CORE_EINVAL;
        }
    } else if (strcmp(scheme, "redfish") == 0 || strcmp(scheme, "redfish+https") == 0) {
        snprintf(type, 8, "redfish");
    } else {
        snprintf(msg, cap,
                 "field \"bmc_endpoint\": the scheme must be ipmi, redfish or redfish+https");
        rc = CORE_EINVAL;
    }
    curl_free(path);
    return rc;
}

int mgr_gateway_url_check(const char *url, char *msg, size_t cap)
{
    char scheme[16] = "", host[MGR_HOST_MAX + 1];
    char m[128] = "";
    if (parse_url(url, scheme, sizeof scheme, host, NULL, m, sizeof m) != 0) {
        snprintf(msg, cap, "field \"url\": %s", m);
        return CORE_EINVAL;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(msg, cap, "field \"url\": the scheme must be http or https");
        return CORE_EINVAL;
    }
    return 0;
}
