/* core/token: key lists, issuing and strict verification of HS256 JWTs (expired, tampered
 * payload and signature, alg none / HS512 / RS256 headers, unknown kid, rotation, claim types),
 * the Bearer header parser and the constant-time secret comparison. Tokens that libjwt would
 * never produce are built here by hand (base64url + HMAC from libsodium). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>
#include <sodium.h>

#include "core/error.h"
#include "core/token.h"

/* 32-byte secrets, base64. */
#define S1 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" /* "0123456789abcdef0123456789abcdef" */
#define S1_RAW "0123456789abcdef0123456789abcdef"
#define S2 "c2Vjb25kLXNlY3JldC1zZWNvbmQtc2VjcmV0LXh4eHg=" /* "second-secret-second-secret-xxxx" */
#define S2_RAW "second-secret-second-secret-xxxx"

static const int64_t NOW = 1700000000;

static core_token_keys *keys(const char *spec)
{
    core_token_keys *k = NULL;
    char err[256];
    int rc = core_token_keys_parse(spec, &k, err, sizeof err);
    if (rc != 0) fail_msg("core_token_keys_parse(%s): %d %s", spec, rc, err);
    return k;
}

static core_token_claims alice(void)
{
    core_token_claims c = {0};
    c.user_id = 7;
    c.customer_id = 42;
    snprintf(c.username, sizeof c.username, "%s", "alice");
    c.roles = CORE_TOKEN_ROLE_ADMIN | CORE_TOKEN_ROLE_VIEWER;
    return c;
}

static char *issue(core_token_keys *k, int64_t now, int64_t ttl)
{
    core_token_claims c = alice();
    char *t = NULL;
    assert_int_equal(core_token_issue(k, &c, now, ttl, &t), 0);
    assert_non_null(t);
    return t;
}

static core_token_status verify_status(core_token_keys *k, const char *tok, int64_t now)
{
    core_token_status why = CORE_TOKEN_OK;
    core_token_claims c;
    int rc = core_token_verify(k, tok, now, &c, &why);
    if (rc == 0) {
        assert_int_equal(why, CORE_TOKEN_OK);
    } else {
        assert_int_equal(rc, CORE_EUNAUTHENTICATED);
        assert_int_not_equal(why, CORE_TOKEN_OK);
        assert_int_equal(c.user_id, 0); /* zeroed on failure */
    }
    return why;
}

static void b64url(const void *p, size_t n, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* header.payload.signature with an HMAC-SHA256 signature under secret (NULL: sig_override,
 * used verbatim). Caller frees. */
static char *craft(const char *header, const char *payload, const char *secret,
                   const char *sig_override)
{
    char h[2048], p[4096];
    b64url(header, strlen(header), h, sizeof h);
    b64url(payload, strlen(payload), p, sizeof p);
    size_t n = strlen(h) + strlen(p) + 128;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s", h, p);
    if (secret) {
        unsigned char mac[32];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, strlen(t));
        crypto_auth_hmacsha256_final(&st, mac);
        char s[64];
        b64url(mac, sizeof mac, s, sizeof s);
        strcat(t, ".");
        strcat(t, s);
    } else {
        strcat(t, ".");
        strcat(t, sig_override ? sig_override : "");
    }
    return t;
}

#define GOOD_PAYLOAD                                                                               \
    "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"42\",\"usr\":\"alice\","                     \
    "\"roles\":[\"admin\"],\"iat\":1700000000,\"exp\":1700003600,"                                 \
    "\"jti\":\"0123456789abcdef0123456789abcdef\"}"
#define GOOD_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}"

/* ---- Keys ---- */

static void test_keys_parse(void **state)
{
    (void)state;
    core_token_keys *k = keys(" k1:" S1 " , k2 : " S2 " ");
    assert_int_equal(core_token_keys_count(k), 2);
    assert_string_equal(core_token_keys_signing_kid(k), "k1");
    core_token_keys_destroy(k);
    /* URL-safe and unpadded secrets */
    k = keys("a.b_c-1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY");
    assert_string_equal(core_token_keys_signing_kid(k), "a.b_c-1");
    core_token_keys_destroy(k);

    static const char *bad[] = {
        "",
        "k1",
        "k1:",
        ":" S1,
        "k 1:" S1,
        "k1:" S1 ",",
        "k1:" S1 ",k1:" S2,
        "k1:not*base64",
        "k1:c2hvcnQ=", /* "short" */
        "k/1:" S1,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        core_token_keys *out = (core_token_keys *)1;
        char err[256] = "";
        assert_int_equal(core_token_keys_parse(bad[i], &out, err, sizeof err), CORE_ECONFIG);
        assert_null(out);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, S1));
        assert_null(strstr(err, S2));
        assert_null(strstr(err, "c2hvcnQ"));
    }
    core_token_keys *out = NULL;
    assert_int_equal(core_token_keys_parse(NULL, &out, NULL, 0), CORE_ECONFIG);
    /* 17 keys */
    char spec[4096] = "";
    for (int i = 0; i <= CORE_TOKEN_MAX_KEYS; i++) {
        char item[128];
        snprintf(item, sizeof item, "%sk%d:%s", i ? "," : "", i, S1);
        strcat(spec, item);
    }
    assert_int_equal(core_token_keys_parse(spec, &out, NULL, 0), CORE_ECONFIG);
}

/* ---- Issue and verify ---- */

static void test_valid(void **state)
{
    (void)state;
    core_token_keys *k = keys("k1:" S1);
    char *t = issue(k, NOW, 3600);
    core_token_claims c;
    core_token_status why;
    assert_int_equal(core_token_verify(k, t, NOW + 1, &c, &why), 0);
    assert_int_equal(why, CORE_TOKEN_OK);
    assert_int_equal(c.user_id, 7);
    assert_int_equal(c.customer_id, 42);
    assert_string_equal(c.username, "alice");
    assert_int_equal(c.roles, CORE_TOKEN_ROLE_ADMIN | CORE_TOKEN_ROLE_VIEWER);
    assert_int_equal(c.issued_at, NOW);
    assert_int_equal(c.expires_at, NOW + 3600);
    assert_int_equal(strlen(c.jti), 32);
    assert_string_equal(c.kid, "k1");
    /* NULL claims and why are allowed */
    assert_int_equal(core_token_verify(k, t, NOW, NULL, NULL), 0);
    /* the header is exactly what we expect */
    jwt_t *j = NULL;
    assert_int_equal(jwt_decode(&j, t, (const unsigned char *)S1_RAW, 32), 0);
    assert_string_equal(jwt_get_header(j, "kid"), "k1");
    assert_int_equal(jwt_get_alg(j), JWT_ALG_HS256);
    assert_string_equal(jwt_get_grant(j, "sub"), "7");
    assert_string_equal(jwt_get_grant(j, "cst"), "42");
    assert_string_equal(jwt_get_grant(j, "iss"), "bmc-manager");
    jwt_free(j);
    /* two tokens never share a jti */
    char *t2 = issue(k, NOW, 3600);
    core_token_claims c2;
    assert_int_equal(core_token_verify(k, t2, NOW, &c2, NULL), 0);
    assert_string_not_equal(c.jti, c2.jti);
    free(t2);
    /* a non-ASCII username round-trips */
    core_token_claims u = alice();
    snprintf(u.username, sizeof u.username, "%s", "zoë'; DROP TABLE users; --");
    char *t3 = NULL;
    assert_int_equal(core_token_issue(k, &u, NOW, 60, &t3), 0);
    assert_int_equal(core_token_verify(k, t3, NOW, &c2, NULL), 0);
    assert_string_equal(c2.username, "zoë'; DROP TABLE users; --");
    free(t3);
    free(t);
    core_token_keys_destroy(k);
}

static void test_issue_bad_args(void **state)
{
    (void)state;
    core_token_keys *k = keys("k1:" S1);
    core_token_claims c = alice();
    char *t = (char *)1;
    assert_int_equal(core_token_issue(k, &c, NOW, 0, &t), CORE_EINVAL);
    assert_null(t);
    assert_int_equal(core_token_issue(k, &c, NOW, CORE_TOKEN_MAX_TTL_S + 1, &t), CORE_EINVAL);
    c.user_id = 0;
    assert_int_equal(core_token_issue(k, &c, NOW, 60, &t), CORE_EINVAL);
    c = alice();
    c.roles = 0x80;
    assert_int_equal(core_token_issue(k, &c, NOW, 60, &t), CORE_EINVAL);
    c = alice();
    c.username[0] = '\0';
    assert_int_equal(core_token_issue(k, &c, NOW, 60, &t), CORE_EINVAL);
    c = alice();
    snprintf(c.username, sizeof c.username, "%s", "bad\xff");
    assert_int_equal(core_token_issue(k, &c, NOW, 60, &t), CORE_EINVAL);
    assert_int_equal(core_token_issue(NULL, &c, NOW, 60, &t), CORE_EINVAL);
    core_token_keys_destroy(k);
}

static void test_expired(void **state)
{
    (void)state;
    core_token_keys *k = keys("k1:" S1);
    char *t = issue(k, NOW, 60);
    assert_int_equal(verify_status(k, t, NOW + 59), CORE_TOKEN_OK);
    assert_int_equal(verify_status(k, t, NOW + 60), CORE_TOKEN_EXPIRED);
    assert_int_equal(verify_status(k, t, NOW + 86400), CORE_TOKEN_EXPIRED);
    /* issued in the future beyond the leeway */
    assert_int_equal(verify_status(k, t, NOW - CORE_TOKEN_IAT_LEEWAY_S), CORE_TOKEN_OK);
    assert_int_equal(verify_status(k, t, NOW - CORE_TOKEN_IAT_LEEWAY_S - 1),
                     CORE_TOKEN_NOT_YET_VALID);
    free(t);
    core_token_keys_destroy(k);
}

static void test_tampered_payload(void **state)
{
    (void)state;
    core_token_keys *k = keys("k1:" S1);
    char *t = issue(k, NOW, 3600);
    /* Replace the payload with one claiming another customer, keep header and signature. */
    char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
    char forged_payload[512];
    snprintf(forged_payload, sizeof forged_payload,
             "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"43\",\"usr\":\"alice\","
             "\"roles\":[\"admin\"],\"iat\":%lld,\"exp\":%lld,"
             "\"jti\":\"0123456789abcdef0123456789abcdef\"}",
             (long long)NOW, (long long)NOW + 3600);
    char p[1024];
    b64url(forged_payload, strlen(forged_payload), p, sizeof p);
    char forged[4096];
    snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(d1 - t), t, p, d2);
    assert_int_equal(verify_status(k, forged, NOW), CORE_TOKEN_BAD_SIGNATURE);
    /* one flipped character in the payload */
    char *m = strdup(t);
    char *c = m + (d1 - t) + 5;
    *c = *c == 'A' ? 'B' : 'A';
    assert_int_equal(verify_status(k, m, NOW), CORE_TOKEN_BAD_SIGNATURE);
    free(m);
    /* the header's kid changed to another listed key */
    core_token_keys *k2 = keys("k1:" S1 ",k2:" S2);
    char hdr[128];
    const char *h2 = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k2\"}";
    b64url(h2, strlen(h2), hdr, sizeof hdr);
    snprintf(forged, sizeof forged, "%s%s", hdr, d1);
    assert_int_equal(verify_status(k2, forged, NOW), CORE_TOKEN_BAD_SIGNATURE);
    core_token_keys_destroy(k2);
    free(t);
    core_token_keys_destroy(k);
}

static void test_tampered_signature(void **state)
{
    (void)state;
    core_token_keys *k = keys("k1:" S1);
    char *t = issue(k, NOW, 3600);
    size_t n = strlen(t);
    char *m = strdup(t);
    m[n - 2] = m[n - 2] == 'a' ? 'b' : 'a';
    assert_int_equal(verify_status(k, m, NOW), CORE_TOKEN_BAD_SIGNATURE);
    m[n - 2] = t[n - 2];
    m[n - 1] = '\0'; /* truncated */
    assert_int_equal(verify_status(k, m, NOW), CORE_TOKEN_BAD_SIGNATURE);
    free(m);
    /* the signature of another secret */
    char *other = craft(GOOD_HEADER, GOOD_PAYLOAD, S2_RAW, NULL);
    assert_int_equal(verify_status(k, other, NOW), CORE_TOKEN_BAD_SIGNATURE);
    free(other);
    /* no signature at all */
    char *none = craft(GOOD_HEADER, GOOD_PAYLOAD, NULL, "");
    assert_int_equal(verify_status(k, none, NOW), CORE_TOKEN_BAD_SIGNATURE);
    free(none);
    /* the right signature, padded */
    char *good = craft(GOOD_HEADER, GOOD_PAYLOAD, S1_RAW, NULL);
    assert_int_equal(verify_status(k, good, NOW), CORE_TOKEN_OK);
    size_t gl = strlen(good);
    char *padded = malloc(gl + 2);
    snprintf(padded, gl + 2, "%s=", good);
    assert_int_not_equal(verify_status(k, padded, NOW), CORE_TOKEN_OK);
    free(padded);
    free(good);
    free(t);
    core_token_keys_destroy(k);
}

static void test_alg_none(void **state)
{
    (void)state;
    core_token_keys *k = keys("k1:" S1);
    static const char *headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
        "{\"alg\":\"None\",\"kid\":\"k1\"}",
        "{\"alg\":\"NONE\",\"kid\":\"k1\"}",
        "{\"alg\":\"none\"}",
        "{\"kid\":\"k1\"}",
        "{\"alg\":null,\"kid\":\"k1\"}",
        "{\"alg\":\"\",\"kid\":\"k1\"}",
        "{\"alg\":\"hs256\",\"kid\":\"k1\"}",
        "{\"alg\":\"HS256 \",\"kid\":\"k1\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *t = craft(headers[i], GOOD_PAYLOAD, NULL, "");
        assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_BAD_ALG);
        free(t);
        /* even with a valid HMAC over the same input */
        t = craft(headers[i], GOOD_PAYLOAD, S1_RAW, NULL);
        assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_BAD_ALG);
        free(t);
    }
    /* what libjwt itself produces for alg none */
    jwt_t *j = NULL;
    jwt_new(&j);
    jwt_add_header(j, "kid", "k1");
    jwt_add_grants_json(j, GOOD_PAYLOAD);
    jwt_set_alg(j, JWT_ALG_NONE, NULL, 0);
    char *t = jwt_encode_str(j);
    jwt_free(j);
    assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_BAD_ALG);
    free(t);
    /* a duplicated alg (jansson would keep the last one) */
    t = craft("{\"alg\":\"HS256\",\"alg\":\"none\",\"kid\":\"k1\"}", GOOD_PAYLOAD, NULL, "");
    assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_MALFORMED);
    free(t);
    core_token_keys_destroy(k);
}

static void test_other_algs(void **state)
{
    (void)state;
    core_token_keys *k = keys("k1:" S1);
    /* HS512 signed by libjwt with the right key and kid */
    static const jwt_alg_t hs[] = {JWT_ALG_HS384, JWT_ALG_HS512};
    for (size_t i = 0; i < 2; i++) {
        jwt_t *j = NULL;
        jwt_new(&j);
        jwt_add_header(j, "kid", "k1");
        jwt_add_grants_json(j, GOOD_PAYLOAD);
        jwt_set_alg(j, hs[i], (const unsigned char *)S1_RAW, 32);
        char *t = jwt_encode_str(j);
        jwt_free(j);
        assert_non_null(t);
        assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_BAD_ALG);
        free(t);
    }
    /* RS256 / ES256 / PS256 headers with an HMAC signature made with the secret (key
     * confusion) */
    static const char *algs[] = {"RS256", "ES256", "PS256", "RS512", "EdDSA"};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        char h[128];
        snprintf(h, sizeof h, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"k1\"}", algs[i]);
        char *t = craft(h, GOOD_PAYLOAD, S1_RAW, NULL);
        assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_BAD_ALG);
        free(t);
    }
    /* typ other than JWT, crit */
    char *t =
        craft("{\"alg\":\"HS256\",\"typ\":\"JWE\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1_RAW, NULL);
    assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_BAD_ALG);
    free(t);
    t = craft("{\"alg\":\"HS256\",\"kid\":\"k1\",\"crit\":[\"b64\"],\"b64\":false}", GOOD_PAYLOAD,
              S1_RAW, NULL);
    assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_BAD_ALG);
    free(t);
    /* no typ is fine */
    t = craft("{\"alg\":\"HS256\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1_RAW, NULL);
    assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_OK);
    free(t);
    core_token_keys_destroy(k);
}

static void test_unknown_kid(void **state)
{
    (void)state;
    core_token_keys *signer = keys("k9:" S1);
    core_token_keys *k = keys("k1:" S1);
    char *t = issue(signer, NOW, 3600);
    assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_UNKNOWN_KID);
    free(t);
    t = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", GOOD_PAYLOAD, S1_RAW, NULL);
    assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_UNKNOWN_KID);
    free(t);
    t = craft("{\"alg\":\"HS256\",\"kid\":1}", GOOD_PAYLOAD, S1_RAW, NULL);
    assert_int_equal(verify_status(k, t, NOW), CORE_TOKEN_UNKNOWN_KID);
    free(t);
    core_token_keys_destroy(signer);
    core_token_keys_destroy(k);
}

static void test_rotation(void **state)
{
    (void)state;
    core_token_keys *before = keys("old:" S1);
    core_token_keys *during = keys("new:" S2 ",old:" S1);
    core_token_keys *after = keys("new:" S2);
    char *old_tok = issue(before, NOW, 3600);
    char *new_tok = issue(during, NOW, 3600);
    core_token_claims c;
    assert_int_equal(core_token_verify(during, old_tok, NOW, &c, NULL), 0);
    assert_string_equal(c.kid, "old");
    assert_int_equal(core_token_verify(during, new_tok, NOW, &c, NULL), 0);
    assert_string_equal(c.kid, "new");
    assert_int_equal(verify_status(after, new_tok, NOW), CORE_TOKEN_OK);
    assert_int_equal(verify_status(after, old_tok, NOW), CORE_TOKEN_UNKNOWN_KID);
    assert_int_equal(verify_status(before, new_tok, NOW), CORE_TOKEN_UNKNOWN_KID);
    free(old_tok);
    free(new_tok);
    core_token_keys_destroy(before);
    core_token_keys_destroy(during);
    core_token_keys_destroy(after);
}

static void test_bad_claims(void **state)
{
    (void)state;
    core_token_keys *k = keys("k1:" S1);
    static const char *payloads[] = {
        /* wrong issuer */
        "{\"iss\":\"evil\",\"sub\":\"7\",\"cst\":\"42\",\"usr\":\"a\",\"roles\":[],"
        "\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
        /* sub as a number */
        "{\"iss\":\"bmc-manager\",\"sub\":7,\"cst\":\"42\",\"usr\":\"a\",\"roles\":[],"
        "\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
        /* cst with a leading zero */
        "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"042\",\"usr\":\"a\",\"roles\":[],"
        "\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
        /* cst negative */
        "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"-1\",\"usr\":\"a\",\"roles\":[],"
        "\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
        /* unknown role */
        "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"42\",\"usr\":\"a\",\"roles\":[\"root\"],"
        "\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
        /* roles missing */
        "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"42\",\"usr\":\"a\","
        "\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
        /* exp as a string */
        "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"42\",\"usr\":\"a\",\"roles\":[],"
        "\"iat\":1700000000,\"exp\":\"1700003600\",\"jti\":\"0123456789abcdef0123456789abcdef\"}",
        /* exp missing */
        "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"42\",\"usr\":\"a\",\"roles\":[],"
        "\"iat\":1700000000,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
        /* lifetime over the maximum */
        "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"42\",\"usr\":\"a\",\"roles\":[],"
        "\"iat\":1700000000,\"exp\":1800000000,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
        /* bad jti */
        "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"42\",\"usr\":\"a\",\"roles\":[],"
        "\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"x\"}",
        /* empty username */
        "{\"iss\":\"bmc-manager\",\"sub\":\"7\",\"cst\":\"42\",\"usr\":\"\",\"roles\":[],"
        "\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        char *t = craft(GOOD_HEADER, payloads[i], S1_RAW, NULL);
        assert_int_equal(verify_status(k, t, NOW + 1), CORE_TOKEN_BAD_CLAIMS);
        free(t);
    }
    /* a payload that is not a JSON object */
    char *t = craft(GOOD_HEADER, "[1,2]", S1_RAW, NULL);
    assert_int_not_equal(verify_status(k, t, NOW), CORE_TOKEN_OK);
    free(t);
    t = craft(GOOD_HEADER, "not json", S1_RAW, NULL);
    assert_int_not_equal(verify_status(k, t, NOW), CORE_TOKEN_OK);
    free(t);
    core_token_keys_destroy(k);
}

static void test_malformed(void **state)
{
    (void)state;
    core_token_keys *k = keys("k1:" S1);
    char *good = issue(k, NOW, 3600);
    static const char *bad[] = {
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "eyJ.eyJ",
        ".eyJ.sig",
        "eyJ..sig",
        "eyJhbGciOiJIUzI1NiJ9.e30.sig with space",
        "eyJ+.e30.abc",
        "eyJ/.e30.abc",
        "bm90IGpzb24.e30.abc", /* header "not json" */
        "W10.e30.abc",         /* header [] */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(verify_status(k, bad[i], NOW), CORE_TOKEN_MALFORMED);
    /* over the length cap: a valid token with a huge (valid base64url) payload */
    size_t big = CORE_TOKEN_MAX_LEN + 10;
    char *huge = malloc(big + 1);
    memset(huge, 'A', big);
    huge[big] = '\0';
    memcpy(huge, good, strchr(good, '.') - good + 1);
    huge[big - 50] = '.';
    assert_int_equal(verify_status(k, huge, NOW), CORE_TOKEN_MALFORMED);
    free(huge);
    /* a leading or trailing space */
    size_t gl = strlen(good);
    char *sp = malloc(gl + 2);
    snprintf(sp, gl + 2, " %s", good);
    assert_int_equal(verify_status(k, sp, NOW), CORE_TOKEN_MALFORMED);
    snprintf(sp, gl + 2, "%s ", good);
    assert_int_equal(verify_status(k, sp, NOW), CORE_TOKEN_MALFORMED);
    free(sp);
    assert_int_equal(core_token_verify(k, NULL, NOW, NULL, NULL), CORE_EINVAL);
    assert_int_equal(core_token_verify(NULL, good, NOW, NULL, NULL), CORE_EINVAL);
    free(good);
    core_token_keys_destroy(k);
}

static void test_bearer(void **state)
{
    (void)state;
    size_t n = 99;
    const char *p = core_token_bearer("Bearer abc.def.ghi", &n);
    assert_non_null(p);
    assert_int_equal(n, 11);
    assert_memory_equal(p, "abc.def.ghi", 11);
    p = core_token_bearer("  bearer   tok  ", &n);
    assert_non_null(p);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "tok", 3);
    assert_null(core_token_bearer("Bearer", &n));
    assert_int_equal(n, 0);
    assert_null(core_token_bearer("Bearer   ", &n));
    assert_null(core_token_bearer("Basic dXNlcjpwYXNz", &n));
    assert_null(core_token_bearer("Bearertok", &n));
    assert_null(core_token_bearer("Bearer a b", &n));
    assert_null(core_token_bearer(NULL, &n));
    assert_non_null(core_token_bearer("Bearer\ttok", NULL));
}

static void test_secret_equal(void **state)
{
    (void)state;
    const char *s = "service-token-0123456789";
    assert_true(core_token_secret_equal(s, s, strlen(s)));
    assert_true(core_token_secret_equal(s, "service-token-0123456789", 24));
    assert_false(core_token_secret_equal(s, "service-token-012345678", 23));
    assert_false(core_token_secret_equal(s, "service-token-01234567890", 25));
    assert_false(core_token_secret_equal(s, "service-token-0123456788", 24));
    assert_false(core_token_secret_equal(s, "", 0));
    assert_false(core_token_secret_equal("", "", 0));
    assert_false(core_token_secret_equal(NULL, s, strlen(s)));
    assert_false(core_token_secret_equal(s, NULL, 0));
    /* the presented length counts, not a NUL */
    assert_false(core_token_secret_equal(s, "service-token-0123456789xyz", 27));
}

static void test_roles(void **state)
{
    (void)state;
    assert_int_equal(core_token_role_parse("admin"), CORE_TOKEN_ROLE_ADMIN);
    assert_int_equal(core_token_role_parse("operator"), CORE_TOKEN_ROLE_OPERATOR);
    assert_int_equal(core_token_role_parse("viewer"), CORE_TOKEN_ROLE_VIEWER);
    assert_int_equal(core_token_role_parse("Admin"), 0);
    assert_int_equal(core_token_role_parse(NULL), 0);
    assert_string_equal(core_token_role_name(CORE_TOKEN_ROLE_OPERATOR), "operator");
    assert_null(core_token_role_name(3));
    assert_string_equal(core_token_status_name(CORE_TOKEN_BAD_ALG), "bad_alg");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_parse),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_issue_bad_args),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_other_algs),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_bad_claims),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_secret_equal),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
