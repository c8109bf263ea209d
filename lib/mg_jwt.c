/*  HS256 JWTs: sign and verify (see mg_jwt.h).  */
#include "mg_jwt.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define HEADER_MAX   128            //  decoded header bytes
#define PAYLOAD_MAX  512            //  decoded payload bytes

//  The only header we issue or accept, base64url of {"alg":"HS256","typ":"JWT"}.
static const char s_header [] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

bool
mg_jwt_tier_valid (const char *tier)
{
    return tier && (strcmp (tier, "free") == 0 || strcmp (tier, "pro") == 0
                ||  strcmp (tier, "enterprise") == 0);
}

//  HMAC-SHA256 of data (len bytes) with key of any length.
static void
s_mac (const uint8_t *key, size_t key_len, const char *data, size_t len,
       uint8_t mac [crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init (&state, key, key_len);
    crypto_auth_hmacsha256_update (&state, (const uint8_t *) data, len);
    crypto_auth_hmacsha256_final (&state, mac);
}

int
mg_jwt_sign (const uint8_t *key, size_t key_len, const mg_jwt_claims_t *claims,
             char *out, size_t outlen)
{
    if (!key || !claims || !out || !mg_jwt_tier_valid (claims->tier))
        return -1;
    char payload [PAYLOAD_MAX];
    int n = snprintf (payload, sizeof payload,
                      "{\"sub\":\"%s\",\"tier\":\"%s\",\"typ\":\"access\",\"iat\":%lld,\"exp\":%lld}",
                      claims->sub, claims->tier, (long long) claims->iat, (long long) claims->exp);
    if (n < 0 || (size_t) n >= sizeof payload || strchr (claims->sub, '"') || strchr (claims->sub, '\\'))
        return -1;
    size_t header_len = sizeof s_header - 1;
    size_t payload_b64 = sodium_base64_ENCODED_LEN ((size_t) n, B64) - 1;
    size_t mac_b64 = sodium_base64_ENCODED_LEN (crypto_auth_hmacsha256_BYTES, B64) - 1;
    if (header_len + 1 + payload_b64 + 1 + mac_b64 + 1 > outlen)
        return -1;
    memcpy (out, s_header, header_len);
    out [header_len] = '.';
    sodium_bin2base64 (out + header_len + 1, payload_b64 + 1, (const uint8_t *) payload,
                       (size_t) n, B64);
    size_t signed_len = header_len + 1 + payload_b64;
    uint8_t mac [crypto_auth_hmacsha256_BYTES];
    s_mac (key, key_len, out, signed_len, mac);
    out [signed_len] = '.';
    sodium_bin2base64 (out + signed_len + 1, mac_b64 + 1, mac, sizeof mac, B64);
    return 0;
}

//  Decode base64url text (len bytes, no padding) into out; decoded length or -1.
static ssize_t
s_decode (const char *text, size_t len, uint8_t *out, size_t outlen)
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin (out, outlen, text, len, NULL, &bin_len, &end, B64) != 0
    ||  end != text + len)
        return -1;
    return (ssize_t) bin_len;
}

//  Check the header segment: it must say alg HS256 (and typ JWT if present).
static int
s_check_header (const char *text, size_t len)
{
    uint8_t raw [HEADER_MAX];
    ssize_t n = s_decode (text, len, raw, sizeof raw);
    if (n <= 0)
        return -1;
    json_t *json = json_loadb ((const char *) raw, (size_t) n, JSON_REJECT_DUPLICATES, NULL);
    if (!json)
        return -1;
    const char *alg = json_string_value (json_object_get (json, "alg"));
    json_t *typ = json_object_get (json, "typ");
    int rc = (alg && strcmp (alg, "HS256") == 0
          &&  (!typ || (json_is_string (typ) && strcmp (json_string_value (typ), "JWT") == 0))) ? 0 : -1;
    json_decref (json);
    return rc;
}

int
mg_jwt_verify (const uint8_t *key, size_t key_len, const char *token, size_t len,
               int64_t now, mg_jwt_claims_t *claims, const char **reason)
{
    static const char *unused;
    if (!reason)
        reason = &unused;
    memset (claims, 0, sizeof *claims);
    if (!token || len == 0 || len > MG_JWT_MAX_LEN || memchr (token, '\0', len)) {
        *reason = "malformed token";
        return -1;
    }
    const char *dot1 = memchr (token, '.', len);
    const char *dot2 = dot1 ? memchr (dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr (dot2 + 1, '.', len - (size_t) (dot2 + 1 - token))) {
        *reason = "malformed token";
        return -1;
    }
    if (s_check_header (token, (size_t) (dot1 - token))) {
        *reason = "unsupported token algorithm";
        return -1;
    }
    uint8_t mac [crypto_auth_hmacsha256_BYTES];
    uint8_t given [crypto_auth_hmacsha256_BYTES + 1];
    ssize_t given_len = s_decode (dot2 + 1, len - (size_t) (dot2 + 1 - token), given, sizeof given);
    s_mac (key, key_len, token, (size_t) (dot2 - token), mac);
    if (given_len != crypto_auth_hmacsha256_BYTES || crypto_verify_32 (mac, given) != 0) {
        *reason = "bad token signature";
        return -1;
    }
    uint8_t payload [PAYLOAD_MAX];
    ssize_t n = s_decode (dot1 + 1, (size_t) (dot2 - dot1 - 1), payload, sizeof payload);
    json_t *json = n > 0 ? json_loadb ((const char *) payload, (size_t) n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *sub = json_string_value (json_object_get (json, "sub"));
    const char *tier = json_string_value (json_object_get (json, "tier"));
    const char *typ = json_string_value (json_object_get (json, "typ"));
    json_t *iat = json_object_get (json, "iat");
    json_t *exp = json_object_get (json, "exp");
    int rc = -1;
    *reason = "malformed token claims";
    if (sub && strlen (sub) == 36 && mg_jwt_tier_valid (tier) && typ && strcmp (typ, "access") == 0
    &&  json_is_integer (iat) && json_is_integer (exp)) {
        if (json_integer_value (exp) <= now)
            *reason = "token expired";
        else {
            memcpy (claims->sub, sub, 37);
            snprintf (claims->tier, sizeof claims->tier, "%s", tier);
            claims->iat = json_integer_value (iat);
            claims->exp = json_integer_value (exp);
            rc = 0;
        }
    }
    json_decref (json);
    return rc;
}
