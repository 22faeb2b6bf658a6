/* Signed user tokens (JWT, HS256, libjwt) shared by the manager (issues them) and the gateway
 * (verifies them), and a constant-time comparison for the service-to-service token.
 *
 * Keys: BMC_JWT_KEYS="kid1:<base64 secret>,kid2:<base64 secret>". The first key signs; every
 * listed key verifies, so a key can be rotated in by listing it second, then first, and the old
 * one dropped once its last tokens have expired. A secret is standard or URL-safe base64 (with
 * or without padding) of 32 to 512 bytes; a kid is 1-64 characters of [A-Za-z0-9._-].
 *
 * Token format (docs/FLEET_API.md): header {"alg":"HS256","typ":"JWT","kid":...}; claims
 * iss="bmc-manager", sub (user id) and cst (customer id) as strings of decimal digits, usr
 * (username), roles (array of "admin", "operator", "viewer"), iat, exp (seconds since the
 * epoch), jti (32 hex digits).
 *
 * Verification is strict and checks the token itself before libjwt sees it (libjwt 1.10
 * trusts the header's alg, compares signatures with strcmp and decodes on the stack): the
 * token is at most CORE_TOKEN_MAX_LEN bytes of three non-empty base64url segments; the header
 * is a JSON object without duplicated keys whose alg is exactly "HS256" (so "none", "HS512",
 * "RS256", ... are refused), whose typ, when present, is "JWT", with no "crit", and whose kid
 * names a listed key; the HMAC-SHA256 of the signing input under that key is recomputed
 * (libsodium) and compared in constant time; only then is the token decoded by libjwt (which
 * checks the signature again) and the claims read with their exact types. Expiry is strict
 * (now >= exp is expired); a token issued more than CORE_TOKEN_IAT_LEEWAY_S seconds in the
 * future is refused.
 *
 * Nothing here logs. Tokens and secrets are never copied anywhere but the caller's buffers.
 *
 * Thread safety: a core_token_keys is immutable after core_token_keys_parse; every function
 * may be called from any thread at once. */
#ifndef CORE_TOKEN_H
#define CORE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CORE_TOKEN_MAX_LEN 4096     /* longest token accepted (bytes) */
#define CORE_TOKEN_USERNAME_MAX 128 /* longest usr claim (bytes) */
#define CORE_TOKEN_KID_MAX 64       /* longest key id */
#define CORE_TOKEN_MAX_KEYS 16      /* keys in one BMC_JWT_KEYS */
#define CORE_TOKEN_MIN_SECRET 32    /* shortest secret (bytes, decoded) */
#define CORE_TOKEN_MAX_SECRET 512   /* longest secret (bytes, decoded) */
#define CORE_TOKEN_MAX_TTL_S (7 * 86400)
#define CORE_TOKEN_IAT_LEEWAY_S 60 /* tolerated clock skew for iat in the future */
#define CORE_TOKEN_ISSUER "bmc-manager"

/* Roles as bits (a user may hold several). */
enum {
    CORE_TOKEN_ROLE_ADMIN = 1u << 0,
    CORE_TOKEN_ROLE_OPERATOR = 1u << 1,
    CORE_TOKEN_ROLE_VIEWER = 1u << 2,
};
#define CORE_TOKEN_ROLES_ALL 0x7u

/* The bit of role `name` ("admin", "operator", "viewer"; exact, case-sensitive), or 0. */
unsigned core_token_role_parse(const char *name);
/* The name of one role bit ("admin", ...), or NULL for anything else. Static string. */
const char *core_token_role_name(unsigned role);

/* What a token says about its holder. */
typedef struct core_token_claims {
    int64_t user_id;                            /* sub, > 0 */
    int64_t customer_id;                        /* cst, > 0 */
    char username[CORE_TOKEN_USERNAME_MAX + 1]; /* usr (UTF-8, NUL-terminated) */
    unsigned roles;                             /* CORE_TOKEN_ROLE_* bits */
    int64_t issued_at;                          /* iat, seconds since the epoch */
    int64_t expires_at;                         /* exp, seconds since the epoch */
    char jti[33];                               /* token id, 32 lowercase hex digits */
    char kid[CORE_TOKEN_KID_MAX + 1];           /* key that signed it */
} core_token_claims;

/* Why a token was refused. */
typedef enum core_token_status {
    CORE_TOKEN_OK = 0,
    CORE_TOKEN_MALFORMED,     /* not three base64url segments, too long, header not JSON */
    CORE_TOKEN_BAD_ALG,       /* alg other than HS256 (none included), bad typ, crit */
    CORE_TOKEN_UNKNOWN_KID,   /* no kid, or a kid that is not listed */
    CORE_TOKEN_BAD_SIGNATURE, /* the signature does not match (tampered header or claims) */
    CORE_TOKEN_EXPIRED,       /* now >= exp */
    CORE_TOKEN_NOT_YET_VALID, /* iat too far in the future */
    CORE_TOKEN_BAD_CLAIMS,    /* a claim is missing, has the wrong type, or is out of range */
} core_token_status;

/* A short static name for a status ("ok", "malformed", "bad_alg", "unknown_kid",
 * "bad_signature", "expired", "not_yet_valid", "bad_claims"); safe to log. */
const char *core_token_status_name(core_token_status st);

typedef struct core_token_keys core_token_keys;

/* Parses a BMC_JWT_KEYS value (see the top of this file; spaces around items are ignored).
 * On success stores a new key set in *out (the caller owns it: core_token_keys_destroy) and
 * returns 0. Otherwise returns CORE_ECONFIG (a malformed list, a bad kid, a duplicated kid, a
 * secret that is not base64 or is too short/long, more than CORE_TOKEN_MAX_KEYS keys) or
 * CORE_ENOMEM, with *out NULL and a reason in err (capacity errcap, NUL-terminated; may be
 * NULL/0) that names the item by position and kid but never quotes a secret. */
int core_token_keys_parse(const char *spec, core_token_keys **out, char *err, size_t errcap);

/* Wipes the secrets and frees k. NULL allowed. */
void core_token_keys_destroy(core_token_keys *k);

/* Number of keys (>= 1) and the kid of the signing key (owned by k). */
size_t core_token_keys_count(const core_token_keys *k);
const char *core_token_keys_signing_kid(const core_token_keys *k);

/* Issues a token for claims->user_id, customer_id (both > 0), username (non-empty valid UTF-8
 * of at most CORE_TOKEN_USERNAME_MAX bytes) and roles (bits of CORE_TOKEN_ROLES_ALL), signed
 * with the first key, valid from now_s for ttl_s seconds (1..CORE_TOKEN_MAX_TTL_S). Fills
 * claims->issued_at, expires_at, jti and kid. Stores the token in *token (malloc'd,
 * NUL-terminated; the caller frees it, ideally after wiping it) and returns 0, or CORE_EINVAL
 * (bad argument) or CORE_ENOMEM with *token NULL. */
int core_token_issue(const core_token_keys *k, core_token_claims *claims, int64_t now_s,
                     int64_t ttl_s, char **token);

/* Verifies `token` (NUL-terminated) at time now_s (seconds since the epoch). Returns 0 with
 * *claims filled (claims may be NULL), or CORE_EUNAUTHENTICATED with *why (may be NULL) saying
 * which check refused it, or CORE_EINVAL (k or token NULL) or CORE_ENOMEM. On failure *claims
 * is zeroed. */
int core_token_verify(const core_token_keys *k, const char *token, int64_t now_s,
                      core_token_claims *claims, core_token_status *why);

/* The token of an "Authorization: Bearer <token>" header value: the scheme is matched
 * case-insensitively, spaces after it are skipped and trailing spaces are not part of the
 * token. Returns a pointer into `authorization` and its length in *len, or NULL when the value
 * is NULL, not the Bearer scheme, or has no token. */
const char *core_token_bearer(const char *authorization, size_t *len);

/* Compares a presented secret (presented[0..presented_len)) with the expected one
 * (NUL-terminated) in time that does not depend on where they differ or on the expected
 * secret's length (both are hashed with BLAKE2b, then the digests compared with
 * sodium_memcmp). False when either is NULL or expected is empty. */
bool core_token_secret_equal(const char *expected, const char *presented, size_t presented_len);

#ifdef __cplusplus
}
#endif
#endif
