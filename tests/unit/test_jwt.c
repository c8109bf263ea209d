/*  HS256 access tokens (lib/mg_jwt.c): round trip, and every way a token
    must be refused.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "mg_jwt.h"

static const char s_key [] = "unit-test-secret-0123456789abcdef0123";

static void
s_sign (int64_t iat, int64_t exp, char *out, size_t size)
{
    mg_jwt_claims_t claims = { .iat = iat, .exp = exp, .tier = "free",
                               .sub = "00000000-0000-4000-8000-000000000001" };
    assert_int_equal (mg_jwt_sign ((const uint8_t *) s_key, sizeof s_key - 1, &claims, out, size), 0);
}

static int
s_verify (const char *token, int64_t now, const char **reason)
{
    mg_jwt_claims_t claims;
    return mg_jwt_verify ((const uint8_t *) s_key, sizeof s_key - 1, token, strlen (token), now,
                          &claims, reason);
}

static void
test_a_signed_token_verifies_until_it_expires (void **state)
{
    (void) state;
    char token [MG_JWT_MAX_LEN];
    s_sign (1000, 1900, token, sizeof token);
    mg_jwt_claims_t claims;
    const char *reason = NULL;
    assert_int_equal (mg_jwt_verify ((const uint8_t *) s_key, sizeof s_key - 1, token, strlen (token),
                                     1500, &claims, &reason), 0);
    assert_string_equal (claims.sub, "00000000-0000-4000-8000-000000000001");
    assert_string_equal (claims.tier, "free");
    assert_int_equal (claims.exp, 1900);
    assert_int_equal (s_verify (token, 1900, &reason), -1);
    assert_string_equal (reason, "token expired");
}

static void
test_wrong_key_tampering_and_alg_none_are_refused (void **state)
{
    (void) state;
    char token [MG_JWT_MAX_LEN];
    s_sign (1000, 1900, token, sizeof token);
    const char *reason;
    mg_jwt_claims_t claims;
    static const char other [] = "another-secret-0123456789abcdef012345";
    assert_int_equal (mg_jwt_verify ((const uint8_t *) other, sizeof other - 1, token, strlen (token),
                                     1500, &claims, &reason), -1);
    assert_string_equal (reason, "bad token signature");
    //  Change one payload character: the signature no longer matches.
    char tampered [MG_JWT_MAX_LEN];
    strcpy (tampered, token);
    char *payload = strchr (tampered, '.') + 1;
    payload [5] = payload [5] == 'A' ? 'B' : 'A';
    assert_int_equal (s_verify (tampered, 1500, &reason), -1);
    //  alg none, with and without a signature part.
    char none [MG_JWT_MAX_LEN];
    const char *p = strchr (token, '.') + 1;
    int plen = (int) (strchr (p, '.') - p);
    snprintf (none, sizeof none, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.%.*s.", plen, p);
    assert_int_equal (s_verify (none, 1500, &reason), -1);
    assert_string_equal (reason, "unsupported token algorithm");
    //  HS512 header with our signature: refused by the header check.
    snprintf (none, sizeof none, "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.%s", p);
    assert_int_equal (s_verify (none, 1500, &reason), -1);
}

static void
test_malformed_tokens_are_refused (void **state)
{
    (void) state;
    const char *bad [] = { "", "a", "a.b", "a.b.c", "a.b.c.d", "...", "eyJ.eyJ.", "\xff\xfe.\x01.\x02" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        assert_int_equal (s_verify (bad [i], 1500, NULL), -1);
    char huge [MG_JWT_MAX_LEN + 10];
    memset (huge, 'a', sizeof huge - 1);
    huge [sizeof huge - 1] = '\0';
    assert_int_equal (s_verify (huge, 1500, NULL), -1);
}

//  Keys with current and previous set from text.
static void
s_keys (mg_jwt_keys_t *keys, const char *current, const char *previous)
{
    memset (keys, 0, sizeof *keys);
    keys->current_len = strlen (current);
    memcpy (keys->current, current, keys->current_len);
    if (previous) {
        keys->previous_len = strlen (previous);
        memcpy (keys->previous, previous, keys->previous_len);
    }
}

static void
test_issue12_item1_previous_secret_verifies_during_a_rotation (void **state)
{
    (void) state;
    static const char old_key [] = "previous-secret-0123456789abcdef012345";
    char token [MG_JWT_MAX_LEN];
    mg_jwt_claims_t claims = { .iat = 1000, .exp = 1900, .tier = "pro",
                               .sub = "00000000-0000-4000-8000-000000000002" };
    assert_int_equal (mg_jwt_sign ((const uint8_t *) old_key, sizeof old_key - 1, &claims, token, sizeof token), 0);
    mg_jwt_keys_t keys;
    const char *reason = NULL;
    mg_jwt_claims_t got;
    //  Without the previous secret: refused; with it: accepted.
    s_keys (&keys, s_key, NULL);
    assert_int_equal (mg_jwt_verify_keys (&keys, token, strlen (token), 1500, &got, &reason), -1);
    assert_string_equal (reason, "bad token signature");
    s_keys (&keys, s_key, old_key);
    assert_int_equal (mg_jwt_verify_keys (&keys, token, strlen (token), 1500, &got, &reason), 0);
    assert_string_equal (got.tier, "pro");
    //  Tokens of the current secret still verify; an expired one of the
    //  previous is still expired; no current secret refuses everything.
    char current [MG_JWT_MAX_LEN];
    s_sign (1000, 1900, current, sizeof current);
    assert_int_equal (mg_jwt_verify_keys (&keys, current, strlen (current), 1500, &got, &reason), 0);
    assert_int_equal (mg_jwt_verify_keys (&keys, token, strlen (token), 1900, &got, &reason), -1);
    assert_string_equal (reason, "token expired");
    memset (&keys, 0, sizeof keys);
    assert_int_equal (mg_jwt_verify_keys (&keys, current, strlen (current), 1500, &got, &reason), -1);
}

static void
test_issue12_item1_placeholder_and_short_secrets_are_refused (void **state)
{
    (void) state;
    static const char shipped [] = "dev-only-secret-change-me-0123456789abcdef";
    static const char example [] = "please-CHANGE-ME-to-something-long-enough";
    const char *reason = NULL;
    assert_int_equal (mg_jwt_secret_check ((const uint8_t *) shipped, sizeof shipped - 1, &reason), -1);
    assert_non_null (strstr (reason, "placeholder"));
    assert_int_equal (mg_jwt_secret_check ((const uint8_t *) example, sizeof example - 1, &reason), -1);
    assert_int_equal (mg_jwt_secret_check ((const uint8_t *) "short", 5, &reason), -1);
    assert_string_equal (reason, "shorter than 32 bytes");
    uint8_t random [48];
    char text [80];
    randombytes_buf (random, sizeof random);
    sodium_bin2base64 (text, sizeof text, random, sizeof random, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    assert_int_equal (mg_jwt_secret_check ((const uint8_t *) text, strlen (text), &reason), 0);
    uint8_t big [MG_JWT_SECRET_MAX + 1];
    memset (big, 'x', sizeof big);
    assert_int_equal (mg_jwt_secret_check (big, sizeof big, &reason), -1);
}

static void
test_fingerprints_tell_secrets_apart_and_show_none (void **state)
{
    (void) state;
    char a [MG_JWT_FINGERPRINT_LEN + 1], b [MG_JWT_FINGERPRINT_LEN + 1], again [MG_JWT_FINGERPRINT_LEN + 1];
    static const char other [] = "another-secret-0123456789abcdef0123456789";
    mg_jwt_fingerprint ((const uint8_t *) s_key, sizeof s_key - 1, a);
    mg_jwt_fingerprint ((const uint8_t *) other, sizeof other - 1, b);
    mg_jwt_fingerprint ((const uint8_t *) s_key, sizeof s_key - 1, again);
    assert_int_equal (strlen (a), MG_JWT_FINGERPRINT_LEN);
    assert_string_equal (a, again);
    assert_string_not_equal (a, b);
    //  Secrets longer than a BLAKE2b key work too.
    uint8_t big [MG_JWT_SECRET_MAX];
    memset (big, 'k', sizeof big);
    mg_jwt_fingerprint (big, sizeof big, b);
    assert_string_not_equal (a, b);
}

static void
test_a_signature_spelled_outside_the_alphabet_is_refused (void **state)
{
    (void) state;
    //  libsodium's decoder reads byte 0x9e as '_': a token with it in place
    //  of a '_' of its signature is another spelling of a signed token.
    char token [MG_JWT_MAX_LEN];
    char *sig = NULL;
    for (int64_t iat = 1000; !sig || !strchr (sig, '_'); iat++) {
        s_sign (iat, 1900, token, sizeof token);
        sig = strrchr (token, '.');
    }
    const char *reason = NULL;
    assert_int_equal (s_verify (token, 1500, &reason), 0);
    *strchr (sig, '_') = (char) 0x9e;
    assert_int_equal (s_verify (token, 1500, &reason), -1);
    assert_string_equal (reason, "bad token signature");
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_signed_token_verifies_until_it_expires),
        cmocka_unit_test (test_wrong_key_tampering_and_alg_none_are_refused),
        cmocka_unit_test (test_malformed_tokens_are_refused),
        cmocka_unit_test (test_issue12_item1_previous_secret_verifies_during_a_rotation),
        cmocka_unit_test (test_issue12_item1_placeholder_and_short_secrets_are_refused),
        cmocka_unit_test (test_fingerprints_tell_secrets_apart_and_show_none),
        cmocka_unit_test (test_a_signature_spelled_outside_the_alphabet_is_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
