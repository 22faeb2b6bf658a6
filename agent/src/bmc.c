/* agt_bmc: endpoint parsing and dispatch to the IPMI or Redfish driver. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/bmc_driver.h"

struct agt_bmc {
    const agt_driver_ops *ops;
    void *drv;
    agt_endpoint ep;
};

const char *agt_strerror(int code)
{
    switch (code) {
    case AGT_OK: return "success";
    case AGT_EINVAL: return "invalid argument";
    case AGT_EAUTH: return "authentication failed";
    case AGT_EUNREACHABLE: return "BMC unreachable";
    case AGT_ETIMEOUT: return "deadline exceeded";
    case AGT_EUNSUPPORTED: return "operation not supported by the BMC";
    case AGT_EBMC: return "BMC error";
    case AGT_EINUSE: return "SOL already in use";
    case AGT_ENOMEM: return "out of memory";
    case AGT_ECLOSED: return "session closed";
    case AGT_EPROTO: return "unexpected answer from the BMC";
    default: return "unknown error";
    }
}

int agt_result_set(agt_result *res, int code, int bmc_code, const char *fmt, ...)
{
    if (res) {
        res->code = code;
        res->bmc_code = bmc_code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(res->message, sizeof res->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

static const struct {
    const char *name;
    agt_power_action action;
} actions[] = {
    {"status", AGT_POWER_STATUS}, {"on", AGT_POWER_ON},       {"off", AGT_POWER_OFF},
    {"soft", AGT_POWER_SOFT},     {"cycle", AGT_POWER_CYCLE}, {"reset", AGT_POWER_RESET},
};

int agt_power_action_parse(const char *s, agt_power_action *out)
{
    for (size_t i = 0; s && i < sizeof actions / sizeof actions[0]; i++) {
        if (strcasecmp(s, actions[i].name) == 0) {
            *out = actions[i].action;
            return AGT_OK;
        }
    }
    return AGT_EINVAL;
}

const char *agt_power_action_name(agt_power_action a)
{
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (actions[i].action == a)
            return actions[i].name;
    return "unknown";
}

const char *agt_power_state_name(agt_power_state s)
{
    return s == AGT_POWER_IS_ON ? "on" : s == AGT_POWER_IS_OFF ? "off" : "unknown";
}

int agt_endpoint_parse(const char *url, agt_endpoint *ep, agt_result *err)
{
    memset(ep, 0, sizeof *ep);
    if (!url)
        return agt_result_set(err, AGT_EINVAL, 0, "no BMC endpoint");
    const char *sep = strstr(url, "://");
    if (!sep || (size_t)(sep - url) >= sizeof ep->scheme)
        return agt_result_set(err, AGT_EINVAL, 0, "BMC endpoint needs a scheme (ipmi://, redfish://)");
    memcpy(ep->scheme, url, (size_t)(sep - url));
    for (char *c = ep->scheme; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    int defport;
    if (strcmp(ep->scheme, "ipmi") == 0)
        defport = 623;
    else if (strcmp(ep->scheme, "redfish") == 0)
        defport = 80;
    else if (strcmp(ep->scheme, "redfish+https") == 0)
        defport = 443;
    else
        return agt_result_set(err, AGT_EINVAL, 0, "unknown BMC endpoint scheme '%s'", ep->scheme);
    const char *h = sep + 3;
    if (strchr(h, '@'))
        return agt_result_set(err, AGT_EINVAL, 0, "credentials do not belong in the endpoint URL");
    size_t hl = strcspn(h, "/?#");
    const char *hend = h + hl;
    const char *portp = NULL;
    const char *hs = h, *he;
    if (*h == '[') {
        const char *rb = memchr(h, ']', hl);
        if (!rb)
            return agt_result_set(err, AGT_EINVAL, 0, "unterminated IPv6 address in endpoint");
        hs = h + 1;
        he = rb;
        if (rb + 1 < hend) {
            if (rb[1] != ':')
                return agt_result_set(err, AGT_EINVAL, 0, "malformed endpoint after IPv6 address");
            portp = rb + 2;
        }
    } else {
        const char *colon = memchr(h, ':', hl);
        he = colon ? colon : hend;
        if (colon)
            portp = colon + 1;
    }
    if (he <= hs || (size_t)(he - hs) >= sizeof ep->host)
        return agt_result_set(err, AGT_EINVAL, 0, "BMC endpoint has no host");
    memcpy(ep->host, hs, (size_t)(he - hs));
    ep->port = defport;
    if (portp) {
        long p = 0;
        if (portp >= hend)
            return agt_result_set(err, AGT_EINVAL, 0, "empty port in BMC endpoint");
        for (const char *c = portp; c < hend; c++) {
            if (*c < '0' || *c > '9' || p > 65535)
                return agt_result_set(err, AGT_EINVAL, 0, "bad port in BMC endpoint");
            p = p * 10 + (*c - '0');
        }
        if (p < 1 || p > 65535)
            return agt_result_set(err, AGT_EINVAL, 0, "port out of range in BMC endpoint");
        ep->port = (int)p;
    }
    return AGT_OK;
}

agt_bmc *agt_bmc_create(const char *endpoint, const char *username, const char *password,
                        const agt_bmc_options *opts, agt_result *err)
{
    agt_result local;
    if (!err)
        err = &local;
    agt_result_set(err, AGT_OK, 0, "ok");
    agt_endpoint ep;
    if (agt_endpoint_parse(endpoint, &ep, err) != AGT_OK)
        return NULL;
    const agt_driver_ops *ops =
        strcmp(ep.scheme, "ipmi") == 0 ? &agt_ipmi_driver : &agt_redfish_driver;
    agt_bmc_options defaults;
    memset(&defaults, 0, sizeof defaults);
    agt_bmc *b = calloc(1, sizeof *b);
    if (!b) {
        agt_result_set(err, AGT_ENOMEM, 0, "out of memory");
        return NULL;
    }
    b->ops = ops;
    b->ep = ep;
    b->drv = ops->create(&ep, username ? username : "", password ? password : "",
                         opts ? opts : &defaults, err);
    if (!b->drv) {
        free(b);
        return NULL;
    }
    return b;
}

void agt_bmc_destroy(agt_bmc *b)
{
    if (!b)
        return;
    b->ops->destroy(b->drv);
    free(b);
}

const char *agt_bmc_type(const agt_bmc *b)
{
    return b->ops->type;
}

const char *agt_bmc_host(const agt_bmc *b)
{
    return b->ep.host;
}

int agt_bmc_power(agt_bmc *b, const tel_context *ctx, uint64_t deadline_ns,
                  agt_power_action action, agt_power_state *state, agt_result *res)
{
    agt_result local;
    agt_power_state st = AGT_POWER_UNKNOWN;
    int rc = b->ops->power(b->drv, ctx, deadline_ns, action, &st, res ? res : &local);
    if (state)
        *state = st;
    return rc;
}

int agt_bmc_identity(agt_bmc *b, const tel_context *ctx, uint64_t deadline_ns, agt_identity *out,
                     agt_result *res)
{
    agt_result local;
    memset(out, 0, sizeof *out);
    return b->ops->identity(b->drv, ctx, deadline_ns, out, res ? res : &local);
}

int agt_bmc_sensors(agt_bmc *b, const tel_context *ctx, uint64_t deadline_ns, agt_sensor *out,
                    size_t cap, size_t *n, agt_result *res)
{
    agt_result local;
    *n = 0;
    return b->ops->sensors(b->drv, ctx, deadline_ns, out, cap, n, res ? res : &local);
}
