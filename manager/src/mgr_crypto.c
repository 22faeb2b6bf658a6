/* Password hashes (argon2id via crypto_pwhash_str) and sealed BMC credentials
 * (crypto_secretbox: XSalsa20-Poly1305, a fresh random nonce per seal). Plaintext buffers are
 * wiped before they are freed. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "mgr.h"

int mgr_crypto_key_parse(const char *b64, unsigned char key[crypto_secretbox_KEYBYTES])
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    if (!b64) return CORE_ECONFIG;
    size_t n = strlen(b64);
    while (n > 0 && (b64[n - 1] == ' ' || b64[n - 1] == '\n'))
        n--;
    unsigned char buf[crypto_secretbox_KEYBYTES + 3];
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        size_t len = 0;
        const char *end = NULL;
        if (sodium_base642bin(buf, sizeof buf, b64, n, NULL, &len, &end, variants[i]) == 0 &&
            end == b64 + n && len == crypto_secretbox_KEYBYTES) {
            memcpy(key, buf, crypto_secretbox_KEYBYTES);
            sodium_memzero(buf, sizeof buf);
            return 0;
        }
    }
    sodium_memzero(buf, sizeof buf);
    return CORE_ECONFIG;
}

int mgr_password_hash(const mgr_app *app, const char *pw, size_t len,
                      char out[crypto_pwhash_STRBYTES])
{
    if (crypto_pwhash_str(out, pw, len, app->pw_opslimit, app->pw_memlimit) != 0)
        return CORE_ENOMEM; /* libsodium's only failure: out of memory */
    return 0;
}

bool mgr_password_verify(const char *hash, const char *pw, size_t len)
{
    return crypto_pwhash_str_verify(hash, pw, len) == 0;
}

int mgr_creds_seal(const unsigned char key[crypto_secretbox_KEYBYTES], const char *user,
                   const char *pass, unsigned char **ct, size_t *ct_len,
                   unsigned char nonce[crypto_secretbox_NONCEBYTES])
{
    *ct = NULL;
    *ct_len = 0;
    size_t ul = strlen(user), pl = strlen(pass);
    if (ul > 0xffff || pl > 0xffff) return CORE_EINVAL;
    /* plaintext: 2-byte big-endian username length, username, password */
    size_t mlen = 2 + ul + pl;
    unsigned char *m = malloc(mlen);
    unsigned char *c = malloc(mlen + crypto_secretbox_MACBYTES);
    if (!m || !c) {
        free(m);
        free(c);
        return CORE_ENOMEM;
    }
    m[0] = (unsigned char)(ul >> 8);
    m[1] = (unsigned char)ul;
    memcpy(m + 2, user, ul);
    memcpy(m + 2 + ul, pass, pl);
    randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(c, m, mlen, nonce, key);
    sodium_memzero(m, mlen);
    free(m);
    *ct = c;
    *ct_len = mlen + crypto_secretbox_MACBYTES;
    return 0;
}

int mgr_creds_open(const unsigned char key[crypto_secretbox_KEYBYTES], const unsigned char *ct,
                   size_t ct_len, const unsigned char *nonce, size_t nonce_len, char **user,
                   char **pass)
{
    *user = *pass = NULL;
    if (!ct || !nonce || nonce_len != crypto_secretbox_NONCEBYTES ||
        ct_len < crypto_secretbox_MACBYTES + 2)
        return CORE_EIO;
    size_t mlen = ct_len - crypto_secretbox_MACBYTES;
    unsigned char *m = malloc(mlen);
    if (!m) return CORE_ENOMEM;
    int rc = CORE_EIO;
    if (crypto_secretbox_open_easy(m, ct, ct_len, nonce, key) != 0) goto out;
    size_t ul = ((size_t)m[0] << 8) | m[1];
    if (ul > mlen - 2) goto out;
    size_t pl = mlen - 2 - ul;
    char *u = malloc(ul + 1), *p = malloc(pl + 1);
    if (!u || !p) {
        free(u);
        free(p);
        rc = CORE_ENOMEM;
        goto out;
    }
    memcpy(u, m + 2, ul);
    u[ul] = '\0';
    memcpy(p, m + 2 + ul, pl);
    p[pl] = '\0';
    *user = u;
    *pass = p;
    rc = 0;
out:
    sodium_memzero(m, mlen);
    free(m);
    return rc;
}

void mgr_secret_free(char *s)
{
    if (!s) return;
    sodium_memzero(s, strlen(s));
    free(s);
}
