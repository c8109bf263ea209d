/*  Checks of what users send (emails, passwords, key names and keys) and
    the random tokens and hashes the actor makes. No I/O.  */
#include "accounts.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

int
accounts_email_check (const char *email, const char **reason)
{
    size_t len = email ? strlen (email) : 0;
    const char *at = email ? strchr (email, '@') : NULL;
    if (len < ACCOUNTS_EMAIL_MIN || len > ACCOUNTS_EMAIL_MAX) {
        *reason = "email must be 3 to 254 bytes long";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) email [i];
        if (c <= 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '<' || c == '>'
        ||  c == ',' || c == ';' || c == '(' || c == ')') {
            *reason = "email contains a character that is not allowed (space, quote, control)";
            return -1;
        }
    }
    if (!at || at == email || strchr (at + 1, '@')) {
        *reason = "email must have exactly one @ with something before it";
        return -1;
    }
    const char *domain = at + 1;
    const char *dot = strrchr (domain, '.');
    if (!dot || dot == domain || dot [1] == '\0' || domain [0] == '.' || strstr (domain, "..")) {
        *reason = "email domain must look like example.com";
        return -1;
    }
    return 0;
}

int
accounts_password_check (const char *password, const char **reason)
{
    size_t len = password ? strlen (password) : 0;
    if (len < ACCOUNTS_PASSWORD_MIN) {
        *reason = "password must be at least 8 bytes long";
        return -1;
    }
    if (len > ACCOUNTS_PASSWORD_MAX) {
        *reason = "password must be at most 128 bytes long";
        return -1;
    }
    return 0;
}

int
accounts_key_name_check (const char *name, const char **reason)
{
    size_t len = name ? strlen (name) : 0;
    if (len < 1 || len > ACCOUNTS_NAME_MAX) {
        *reason = "name must be 1 to 100 bytes long";
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) name [i] < 0x20 || name [i] == 0x7f) {
            *reason = "name must not contain control characters";
            return -1;
        }
    return 0;
}

bool
accounts_key_shape_ok (const char *key)
{
    size_t prefix = sizeof ACCOUNTS_KEY_PREFIX - 1;
    if (!key || strlen (key) != ACCOUNTS_KEY_LEN || strncmp (key, ACCOUNTS_KEY_PREFIX, prefix) != 0)
        return false;
    for (const char *p = key + prefix; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
           || *p == '-' || *p == '_'))
            return false;
    return true;
}

void
accounts_sha256_hex (const char *text, char hex [65])
{
    uint8_t hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const uint8_t *) text, strlen (text));
    sodium_bin2hex (hex, 65, hash, sizeof hash);
}

int
accounts_random_token (const char *prefix, size_t nbytes, char *out, size_t outlen)
{
    uint8_t random [64];
    size_t prefix_len = strlen (prefix);
    int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    if (nbytes > sizeof random || prefix_len + sodium_base64_ENCODED_LEN (nbytes, variant) > outlen)
        return -1;
    randombytes_buf (random, nbytes);
    memcpy (out, prefix, prefix_len);
    sodium_bin2base64 (out + prefix_len, outlen - prefix_len, random, nbytes, variant);
    sodium_memzero (random, sizeof random);
    return 0;
}
