/* Signed user tokens (JWT HS256 over libjwt, with the header and the signature checked here
 * first) and the constant-time service-token comparison. See core/token.h. */
#include "core/token.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <jwt.h>
#include <sodium.h>

#include "core/error.h"

#define HMAC_B64_LEN 43 /* base64url of 32 bytes, no padding */
#define HEADER_MAX 1024 /* longest decoded header we look at */

typedef struct token_key {
    char kid[CORE_TOKEN_KID_MAX + 1];
    unsigned char secret[CORE_TOKEN_MAX_SECRET];
    size_t len;
} token_key;

struct core_token_keys {
    size_t n;
    token_key k[CORE_TOKEN_MAX_KEYS];
};

static const struct {
    unsigned bit;
    const char *name;
} role_names[] = {
    {CORE_TOKEN_ROLE_ADMIN, "admin"},
    {CORE_TOKEN_ROLE_OPERATOR, "operator"},
    {CORE_TOKEN_ROLE_VIEWER, "viewer"},
};

unsigned core_token_role_parse(const char *name)
{
    if (!name) return 0;
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
        if (strcmp(name, role_names[i].name) == 0) return role_names[i].bit;
    return 0;
}

const char *core_token_role_name(unsigned role)
{
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
        if (role == role_names[i].bit) return role_names[i].name;
    return NULL;
}

const char *core_token_status_name(core_token_status st)
{
    switch (st) {
    case CORE_TOKEN_OK:
        return "ok";
    case CORE_TOKEN_MALFORMED:
        return "malformed";
    case CORE_TOKEN_BAD_ALG:
        return "bad_alg";
    case CORE_TOKEN_UNKNOWN_KID:
        return "unknown_kid";
    case CORE_TOKEN_BAD_SIGNATURE:
        return "bad_signature";
    case CORE_TOKEN_EXPIRED:
        return "expired";
    case CORE_TOKEN_NOT_YET_VALID:
        return "not_yet_valid";
    case CORE_TOKEN_BAD_CLAIMS:
        return "bad_claims";
    }
    return "unknown";
}

/* ---- Keys ---- */

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static bool kid_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Decodes standard or URL-safe base64, with or without padding, all of s[0..n). */
static int b64_decode_any(const char *s, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const char *end = NULL;
        size_t len = 0;
        if (sodium_base642bin(out, cap, s, n, NULL, &len, &end, variants[i]) == 0 && end == s + n) {
            *outlen = len;
            return 0;
        }
    }
    sodium_memzero(out, cap);
    return -1;
}

int core_token_keys_parse(const char *spec, core_token_keys **out, char *err, size_t errcap)
{
    if (out) *out = NULL;
    set_err(err, errcap, "%s", "");
    if (!spec || !out) {
        set_err(err, errcap, "no key list");
        return CORE_ECONFIG;
    }
    if (sodium_init() < 0) {
        set_err(err, errcap, "libsodium could not be initialised");
        return CORE_ENOMEM;
    }
    core_token_keys *k = sodium_malloc(sizeof *k);
    if (!k) {
        set_err(err, errcap, "out of memory");
        return CORE_ENOMEM;
    }
    memset(k, 0, sizeof *k);
    /* Enough room for any secret this accepts, plus decoding slack. */
    unsigned char tmp[CORE_TOKEN_MAX_SECRET + 3];
    const char *p = spec;
    size_t item = 0;
    int rc = 0;
    for (;;) {
        item++;
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && is_space(*s))
            s++;
        while (e > s && is_space(e[-1]))
            e--;
        if (s == e) {
            set_err(err, errcap, "BMC_JWT_KEYS: item %zu is empty", item);
            rc = CORE_ECONFIG;
            break;
        }
        const char *colon = memchr(s, ':', (size_t)(e - s));
        if (!colon) {
            set_err(err, errcap, "BMC_JWT_KEYS: item %zu is not kid:<base64 secret>", item);
            rc = CORE_ECONFIG;
            break;
        }
        const char *ke = colon;
        while (ke > s && is_space(ke[-1]))
            ke--;
        size_t kidlen = (size_t)(ke - s);
        bool kid_ok = kidlen >= 1 && kidlen <= CORE_TOKEN_KID_MAX;
        for (size_t i = 0; kid_ok && i < kidlen; i++)
            kid_ok = kid_char(s[i]);
        if (!kid_ok) {
            set_err(err, errcap,
                    "BMC_JWT_KEYS: item %zu: a kid is 1-%d characters of [A-Za-z0-9._-]", item,
                    CORE_TOKEN_KID_MAX);
            rc = CORE_ECONFIG;
            break;
        }
        if (k->n == CORE_TOKEN_MAX_KEYS) {
            set_err(err, errcap, "BMC_JWT_KEYS: more than %d keys", CORE_TOKEN_MAX_KEYS);
            rc = CORE_ECONFIG;
            break;
        }
        token_key *tk = &k->k[k->n];
        memcpy(tk->kid, s, kidlen);
        tk->kid[kidlen] = '\0';
        for (size_t i = 0; i < k->n; i++) {
            if (strcmp(k->k[i].kid, tk->kid) == 0) {
                set_err(err, errcap, "BMC_JWT_KEYS: kid \"%s\" is listed twice", tk->kid);
                rc = CORE_ECONFIG;
                break;
            }
        }
        if (rc) break;
        const char *b = colon + 1;
        while (b < e && is_space(*b))
            b++;
        size_t len = 0;
        if (b64_decode_any(b, (size_t)(e - b), tmp, sizeof tmp, &len) != 0) {
            set_err(err, errcap, "BMC_JWT_KEYS: the secret of kid \"%s\" is not base64", tk->kid);
            rc = CORE_ECONFIG;
            break;
        }
        if (len < CORE_TOKEN_MIN_SECRET || len > CORE_TOKEN_MAX_SECRET) {
            set_err(err, errcap,
                    "BMC_JWT_KEYS: the secret of kid \"%s\" has %zu bytes (needs %d to %d)",
                    tk->kid, len, CORE_TOKEN_MIN_SECRET, CORE_TOKEN_MAX_SECRET);
            rc = CORE_ECONFIG;
            break;
        }
        memcpy(tk->secret, tmp, len);
        tk->len = len;
        k->n++;
        if (*end == '\0') break;
        p = end + 1;
    }
    sodium_memzero(tmp, sizeof tmp);
    if (rc) {
        core_token_keys_destroy(k);
        return rc;
    }
    *out = k;
    return 0;
}

void core_token_keys_destroy(core_token_keys *k)
{
    if (k) sodium_free(k); /* wipes the memory */
}

size_t core_token_keys_count(const core_token_keys *k)
{
    return k ? k->n : 0;
}

const char *core_token_keys_signing_kid(const core_token_keys *k)
{
    return k && k->n ? k->k[0].kid : NULL;
}

static const token_key *find_key(const core_token_keys *k, const char *kid)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->k[i].kid, kid) == 0) return &k->k[i];
    return NULL;
}

/* ---- Issue ---- */

static bool utf8_ok(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n); /* jansson validates UTF-8 */
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

int core_token_issue(const core_token_keys *k, core_token_claims *c, int64_t now_s, int64_t ttl_s,
                     char **token)
{
    if (token) *token = NULL;
    if (!k || !k->n || !c || !token || c->user_id <= 0 || c->customer_id <= 0 ||
        (c->roles & ~CORE_TOKEN_ROLES_ALL) || ttl_s < 1 || ttl_s > CORE_TOKEN_MAX_TTL_S ||
        now_s <= 0)
        return CORE_EINVAL;
    size_t ulen = strnlen(c->username, sizeof c->username);
    if (ulen == 0 || ulen > CORE_TOKEN_USERNAME_MAX || !utf8_ok(c->username, ulen))
        return CORE_EINVAL;
    const token_key *key = &k->k[0];

    unsigned char rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(c->jti, sizeof c->jti, rnd, sizeof rnd);
    snprintf(c->kid, sizeof c->kid, "%s", key->kid);
    c->issued_at = now_s;
    c->expires_at = now_s + ttl_s;

    char sub[24], cst[24];
    snprintf(sub, sizeof sub, "%" PRId64, c->user_id);
    snprintf(cst, sizeof cst, "%" PRId64, c->customer_id);
    char roles[64] = "{\"roles\":[";
    bool first = true;
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
        if (!(c->roles & role_names[i].bit)) continue;
        strcat(roles, first ? "\"" : ",\"");
        strcat(roles, role_names[i].name);
        strcat(roles, "\"");
        first = false;
    }
    strcat(roles, "]}");

    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0) return CORE_ENOMEM;
    int rc = 0;
    if (jwt_add_header(jwt, "kid", key->kid) || jwt_add_grant(jwt, "iss", CORE_TOKEN_ISSUER) ||
        jwt_add_grant(jwt, "sub", sub) || jwt_add_grant(jwt, "cst", cst) ||
        jwt_add_grant(jwt, "usr", c->username) || jwt_add_grant(jwt, "jti", c->jti) ||
        jwt_add_grant_int(jwt, "iat", (long)c->issued_at) ||
        jwt_add_grant_int(jwt, "exp", (long)c->expires_at) || jwt_add_grants_json(jwt, roles) ||
        jwt_set_alg(jwt, JWT_ALG_HS256, key->secret, (int)key->len))
        rc = CORE_ENOMEM;
    if (rc == 0) {
        *token = jwt_encode_str(jwt);
        if (!*token) rc = CORE_ENOMEM;
    }
    jwt_free(jwt); /* libjwt wipes its copy of the key */
    return rc;
}

/* ---- Verify ---- */

static bool b64url_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* A claim that is a string of decimal digits without leading zeros, as a positive int64. */
static bool claim_id(json_t *g, const char *name, int64_t *out)
{
    const char *s = json_string_value(json_object_get(g, name));
    if (!s) return false;
    size_t n = strlen(s);
    if (n == 0 || n > 18 || s[0] == '0') return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool claim_int(json_t *g, const char *name, int64_t *out)
{
    json_t *v = json_object_get(g, name);
    if (!json_is_integer(v)) return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

static core_token_status read_claims(jwt_t *jwt, core_token_claims *c)
{
    char *js = jwt_get_grants_json(jwt, NULL);
    if (!js) return CORE_TOKEN_BAD_CLAIMS;
    json_t *g = json_loads(js, JSON_REJECT_DUPLICATES, NULL);
    free(js);
    core_token_status st = CORE_TOKEN_BAD_CLAIMS;
    if (!json_is_object(g)) goto out;
    const char *iss = json_string_value(json_object_get(g, "iss"));
    if (!iss || strcmp(iss, CORE_TOKEN_ISSUER) != 0) goto out;
    if (!claim_id(g, "sub", &c->user_id) || !claim_id(g, "cst", &c->customer_id)) goto out;
    json_t *usr = json_object_get(g, "usr");
    if (!json_is_string(usr) || json_string_length(usr) == 0 ||
        json_string_length(usr) > CORE_TOKEN_USERNAME_MAX ||
        memchr(json_string_value(usr), '\0', json_string_length(usr)))
        goto out;
    memcpy(c->username, json_string_value(usr), json_string_length(usr));
    c->username[json_string_length(usr)] = '\0';
    json_t *roles = json_object_get(g, "roles");
    if (!json_is_array(roles)) goto out;
    size_t i;
    json_t *r;
    json_array_foreach(roles, i, r)
    {
        unsigned bit = core_token_role_parse(json_string_value(r));
        if (!bit) goto out;
        c->roles |= bit;
    }
    if (!claim_int(g, "iat", &c->issued_at) || !claim_int(g, "exp", &c->expires_at) ||
        c->issued_at <= 0 || c->expires_at <= c->issued_at ||
        c->expires_at - c->issued_at > CORE_TOKEN_MAX_TTL_S)
        goto out;
    const char *jti = json_string_value(json_object_get(g, "jti"));
    if (!jti || strlen(jti) != 32) goto out;
    for (const char *q = jti; *q; q++)
        if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))) goto out;
    memcpy(c->jti, jti, 33);
    st = CORE_TOKEN_OK;
out:
    json_decref(g);
    return st;
}

/* Checks the header segment: alg exactly HS256, typ absent or "JWT", no crit, a listed kid. */
static core_token_status check_header(const core_token_keys *k, const char *seg, size_t n,
                                      const token_key **key)
{
    unsigned char buf[HEADER_MAX];
    size_t len = 0;
    const char *end = NULL;
    if (n > (HEADER_MAX / 3) * 4 ||
        sodium_base642bin(buf, sizeof buf, seg, n, NULL, &len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != seg + n)
        return CORE_TOKEN_MALFORMED;
    json_t *h = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(h)) {
        json_decref(h);
        return CORE_TOKEN_MALFORMED;
    }
    core_token_status st = CORE_TOKEN_OK;
    json_t *alg = json_object_get(h, "alg");
    json_t *typ = json_object_get(h, "typ");
    json_t *kid = json_object_get(h, "kid");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0 ||
        json_string_length(alg) != 5)
        st = CORE_TOKEN_BAD_ALG;
    else if (typ && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))
        st = CORE_TOKEN_BAD_ALG;
    else if (json_object_get(h, "crit"))
        st = CORE_TOKEN_BAD_ALG;
    else if (!json_is_string(kid) || json_string_length(kid) > CORE_TOKEN_KID_MAX ||
             !(*key = find_key(k, json_string_value(kid))))
        st = CORE_TOKEN_UNKNOWN_KID;
    json_decref(h);
    return st;
}

/* Recomputes the HMAC-SHA256 of token[0..signed_len) and compares its base64url form with
 * sig[0..sig_len) in constant time. */
static bool signature_ok(const token_key *key, const char *token, size_t signed_len,
                         const char *sig, size_t sig_len)
{
    if (sig_len != HMAC_B64_LEN) return false;
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, key->secret, key->len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, signed_len);
    crypto_auth_hmacsha256_final(&st, mac);
    char expect[HMAC_B64_LEN + 1];
    sodium_bin2base64(expect, sizeof expect, mac, sizeof mac,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    bool ok = sodium_memcmp(expect, sig, HMAC_B64_LEN) == 0;
    sodium_memzero(&st, sizeof st);
    sodium_memzero(mac, sizeof mac);
    return ok;
}

int core_token_verify(const core_token_keys *k, const char *token, int64_t now_s,
                      core_token_claims *claims, core_token_status *why)
{
    core_token_claims local;
    core_token_claims *c = claims ? claims : &local;
    memset(c, 0, sizeof *c);
    core_token_status st = CORE_TOKEN_MALFORMED;
    if (why) *why = st;
    if (!k || !token) return CORE_EINVAL;
    if (sodium_init() < 0) return CORE_ENOMEM;

    size_t n = strnlen(token, CORE_TOKEN_MAX_LEN + 1);
    const char *dot[2] = {NULL, NULL};
    size_t ndots = 0;
    if (n > CORE_TOKEN_MAX_LEN) goto refuse;
    for (size_t i = 0; i < n; i++) {
        if (token[i] == '.') {
            if (ndots == 2) goto refuse;
            dot[ndots++] = token + i;
        } else if (!b64url_char(token[i])) {
            goto refuse;
        }
    }
    /* An empty signature passes this step so that the header check names `alg: none`; the
     * signature check refuses it. */
    if (ndots != 2 || dot[0] == token || dot[1] == dot[0] + 1) goto refuse;

    const token_key *key = NULL;
    st = check_header(k, token, (size_t)(dot[0] - token), &key);
    if (st != CORE_TOKEN_OK) goto refuse;
    if (!signature_ok(key, token, (size_t)(dot[1] - token), dot[1] + 1,
                      (size_t)(token + n - dot[1] - 1))) {
        st = CORE_TOKEN_BAD_SIGNATURE;
        goto refuse;
    }

    /* The token is ours: let libjwt decode it (it checks the signature once more). */
    jwt_t *jwt = NULL;
    int jrc = jwt_decode(&jwt, token, key->secret, (int)key->len);
    if (jrc != 0 || !jwt) {
        if (jrc == ENOMEM) return CORE_ENOMEM;
        st = CORE_TOKEN_MALFORMED;
        goto refuse;
    }
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        jwt_free(jwt);
        st = CORE_TOKEN_BAD_ALG;
        goto refuse;
    }
    st = read_claims(jwt, c);
    jwt_free(jwt);
    if (st != CORE_TOKEN_OK) goto refuse;
    snprintf(c->kid, sizeof c->kid, "%s", key->kid);
    if (now_s >= c->expires_at) {
        st = CORE_TOKEN_EXPIRED;
        goto refuse;
    }
    if (c->issued_at > now_s + CORE_TOKEN_IAT_LEEWAY_S) {
        st = CORE_TOKEN_NOT_YET_VALID;
        goto refuse;
    }
    if (why) *why = CORE_TOKEN_OK;
    return 0;

refuse:
    memset(c, 0, sizeof *c);
    if (why) *why = st;
    return CORE_EUNAUTHENTICATED;
}

/* ---- Helpers ---- */

const char *core_token_bearer(const char *authorization, size_t *len)
{
    if (len) *len = 0;
    if (!authorization) return NULL;
    const char *p = authorization;
    while (is_space(*p))
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || !is_space(p[6])) return NULL;
    p += 6;
    while (is_space(*p))
        p++;
    const char *e = p + strlen(p);
    while (e > p && is_space(e[-1]))
        e--;
    if (e == p) return NULL;
    for (const char *q = p; q < e; q++)
        if (is_space(*q)) return NULL;
    if (len) *len = (size_t)(e - p);
    return p;
}

bool core_token_secret_equal(const char *expected, const char *presented, size_t presented_len)
{
    if (!expected || !presented || expected[0] == '\0') return false;
    if (sodium_init() < 0) return false;
    unsigned char a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
    crypto_generichash(a, sizeof a, (const unsigned char *)expected, strlen(expected), NULL, 0);
    crypto_generichash(b, sizeof b, (const unsigned char *)presented, presented_len, NULL, 0);
    bool eq = sodium_memcmp(a, b, sizeof a) == 0;
    sodium_memzero(a, sizeof a);
    sodium_memzero(b, sizeof b);
    return eq;
}
