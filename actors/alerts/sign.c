/*  Standard Webhooks signatures (www.standardwebhooks.com): the receiver
    recomputes HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>"
    with the secret it was shown, compares, and refuses old timestamps,
    so a captured call can be neither altered nor replayed later.  */
#include "alerts.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define SECRET_PREFIX  "whsec_"
#define SECRET_BYTES   24           //  192 bits; the scheme allows 24 to 64
#define SECRET_MAX     64           //  bytes of key a secret may decode to

void
alerts_secret_new (char *out, size_t outlen)
{
    unsigned char key [SECRET_BYTES];
    randombytes_buf (key, sizeof key);
    size_t prefix = sizeof SECRET_PREFIX - 1;
    snprintf (out, outlen, "%s", SECRET_PREFIX);
    if (outlen > prefix)
        sodium_bin2base64 (out + prefix, outlen - prefix, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero (key, sizeof key);
}

int
alerts_sign (const char *secret, const char *id, int64_t timestamp, const char *body, size_t bodylen,
             char *out, size_t outlen)
{
    size_t prefix = sizeof SECRET_PREFIX - 1;
    if (strncmp (secret, SECRET_PREFIX, prefix) != 0)
        return -1;
    unsigned char key [SECRET_MAX];
    size_t keylen = 0;
    const char *encoded = secret + prefix;
    if (sodium_base642bin (key, sizeof key, encoded, strlen (encoded), NULL, &keylen, NULL,
                           sodium_base64_VARIANT_ORIGINAL) || keylen == 0)
        return -1;
    char stamp [24];
    snprintf (stamp, sizeof stamp, "%" PRId64, timestamp);
    crypto_auth_hmacsha256_state state;
    unsigned char mac [crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init (&state, key, keylen);
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) id, strlen (id));
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) ".", 1);
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) stamp, strlen (stamp));
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) ".", 1);
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) body, bodylen);
    crypto_auth_hmacsha256_final (&state, mac);
    sodium_memzero (key, sizeof key);
    if (outlen < 3 + sodium_base64_ENCODED_LEN (sizeof mac, sodium_base64_VARIANT_ORIGINAL))
        return -1;
    memcpy (out, "v1,", 3);
    sodium_bin2base64 (out + 3, outlen - 3, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}
