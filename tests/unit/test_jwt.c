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

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_signed_token_verifies_until_it_expires),
        cmocka_unit_test (test_wrong_key_tampering_and_alg_none_are_refused),
        cmocka_unit_test (test_malformed_tokens_are_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
