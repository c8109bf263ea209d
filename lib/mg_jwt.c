/*  HS256 JWTs: sign and verify (see mg_jwt.h).  */
#include "mg_jwt.h"
#include "mg_config.h"
#include "mg_log.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define HEADER_MAX   128            //  decoded header bytes
#define PAYLOAD_MAX  512            //  decoded payload bytes
#define FINGERPRINT_LABEL "mg-jwt-secret-fingerprint-v1"

//  Secrets that were published, so anyone can sign with them: refused
//  wherever they come from.
static const char *const s_placeholders [] = {
    "dev-only-secret-change-me-0123456789abcdef",   //  config/default.env until it stopped shipping one
    NULL
};
//  Text that marks a value as an example to be replaced.
static const char *const s_placeholder_words [] = { "change-me", "changeme", "change_me", "placeholder", NULL };

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

//  Decode base64url text (len bytes, no padding) into out; decoded length
//  or -1. Only the canonical encoding is accepted: libsodium's decoder
//  takes some bytes outside the alphabet (and non-zero trailing bits), which
//  would let one signed token be spelled several ways.
static ssize_t
s_decode (const char *text, size_t len, uint8_t *out, size_t outlen)
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin (out, outlen, text, len, NULL, &bin_len, &end, B64) != 0
    ||  end != text + len)
        return -1;
    char again [MG_JWT_MAX_LEN + 1];
    if (sodium_base64_ENCODED_LEN (bin_len, B64) > sizeof again)
        return -1;
    sodium_bin2base64 (again, sizeof again, out, bin_len, B64);
    if (strlen (again) != len || memcmp (again, text, len) != 0)
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

int
mg_jwt_verify_keys (const mg_jwt_keys_t *keys, const char *token, size_t len,
                    int64_t now, mg_jwt_claims_t *claims, const char **reason)
{
    static const char *unused;
    if (!reason)
        reason = &unused;
    if (!keys || keys->current_len == 0) {
        memset (claims, 0, sizeof *claims);
        *reason = "tokens are not accepted here";
        return -1;
    }
    int rc = mg_jwt_verify (keys->current, keys->current_len, token, len, now, claims, reason);
    //  Only a signature the current secret did not make is tried again:
    //  every other refusal would be the same with either secret.
    if (rc && keys->previous_len && strcmp (*reason, "bad token signature") == 0)
        rc = mg_jwt_verify (keys->previous, keys->previous_len, token, len, now, claims, reason);
    return rc;
}

int
mg_jwt_secret_check (const uint8_t *key, size_t len, const char **reason)
{
    static const char *unused;
    if (!reason)
        reason = &unused;
    if (!key || len < MG_JWT_SECRET_MIN) {
        *reason = "shorter than 32 bytes";
        return -1;
    }
    if (len > MG_JWT_SECRET_MAX) {
        *reason = "longer than 256 bytes";
        return -1;
    }
    for (const char *const *p = s_placeholders; *p; p++)
        if (strlen (*p) == len && memcmp (*p, key, len) == 0) {
            *reason = "a published placeholder value (anyone can sign tokens with it)";
            return -1;
        }
    char text [MG_JWT_SECRET_MAX + 1];
    for (size_t i = 0; i < len; i++)
        text [i] = key [i] ? (char) tolower (key [i]) : ' ';
    text [len] = '\0';
    for (const char *const *w = s_placeholder_words; *w; w++)
        if (strstr (text, *w)) {
            sodium_memzero (text, sizeof text);
            *reason = "an example value (it says change-me or placeholder): generate one";
            return -1;
        }
    sodium_memzero (text, sizeof text);
    return 0;
}

//  Read at most MG_JWT_SECRET_MAX + 1 bytes of path into key; bytes read or -1.
static ssize_t
s_read_secret_file (const char *path, uint8_t *key, char *reason, size_t reason_len)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (reason, reason_len, "cannot read %s: %s", path, strerror (errno));
        return -1;
    }
    struct stat st;
    if (fstat (fileno (file), &st) == 0 && (st.st_mode & 0077))
        mg_warn ("secret file is readable by others (chmod 600 it)", "path=\"%s\"", path);
    uint8_t buffer [MG_JWT_SECRET_MAX + 2];
    size_t n = fread (buffer, 1, sizeof buffer, file);
    fclose (file);
    while (n && isspace (buffer [n - 1]))
        n--;
    if (n > MG_JWT_SECRET_MAX)
        n = MG_JWT_SECRET_MAX + 1;          //  refused by the length check
    memcpy (key, buffer, n > MG_JWT_SECRET_MAX ? MG_JWT_SECRET_MAX : n);
    sodium_memzero (buffer, sizeof buffer);
    return (ssize_t) n;
}

int
mg_jwt_secret_load (const char *name, uint8_t *key, size_t *len, char *reason, size_t reason_len)
{
    *len = 0;
    const char *value = mg_config_str (name, "");
    size_t n = strlen (value);
    const char *from = name;
    char file_var [64];
    snprintf (file_var, sizeof file_var, "%s_FILE", name);
    if (n == 0) {
        const char *path = mg_config_str (file_var, "");
        if (!*path)
            return 1;
        ssize_t got = s_read_secret_file (path, key, reason, reason_len);
        if (got < 0)
            return -1;
        if (got == 0)
            return 1;
        n = (size_t) got;
        from = file_var;
    }
    else
    if (n <= MG_JWT_SECRET_MAX)
        memcpy (key, value, n);
    const char *why;
    if (mg_jwt_secret_check (key, n, &why)) {
        snprintf (reason, reason_len, "%s is unusable: %s", from, why);
        sodium_memzero (key, MG_JWT_SECRET_MAX);
        return -1;
    }
    *len = n;
    return 0;
}

void
mg_jwt_fingerprint (const uint8_t *key, size_t len, char out [MG_JWT_FINGERPRINT_LEN + 1])
{
    //  BLAKE2b keys are at most 64 bytes: a longer secret is hashed first.
    uint8_t short_key [crypto_generichash_KEYBYTES_MAX];
    const uint8_t *mac_key = key;
    size_t mac_len = len;
    if (len > sizeof short_key || len < crypto_generichash_KEYBYTES_MIN) {
        crypto_generichash (short_key, sizeof short_key, key, len, NULL, 0);
        mac_key = short_key;
        mac_len = sizeof short_key;
    }
    uint8_t hash [MG_JWT_FINGERPRINT_LEN / 2];
    crypto_generichash (hash, sizeof hash, (const uint8_t *) FINGERPRINT_LABEL, sizeof FINGERPRINT_LABEL - 1,
                        mac_key, mac_len);
    sodium_bin2hex (out, MG_JWT_FINGERPRINT_LEN + 1, hash, sizeof hash);
    sodium_memzero (short_key, sizeof short_key);
}
