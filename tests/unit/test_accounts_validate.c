/*  What the accounts actor accepts from users (actors/accounts/validate.c).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "accounts.h"

static void
test_emails (void **state)
{
    (void) state;
    const char *good [] = { "a@b.co", "first.last+tag@example.com", "x@sub.example.org" };
    const char *bad [] = { "", "ab", "noat.example.com", "@example.com", "a@@example.com", "a@b@c.com",
                           "a@example", "a@.com", "a@example.", "a b@example.com", "a@exa..mple.com",
                           "\"quoted\"@example.com", "a@example.com\n" };
    const char *reason;
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++)
        assert_int_equal (accounts_email_check (good [i], &reason), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        if (accounts_email_check (bad [i], &reason) == 0)
            fail_msg ("accepted '%s'", bad [i]);
    char long_email [300];
    memset (long_email, 'a', sizeof long_email);
    strcpy (long_email + 250, "@example.com");
    assert_int_equal (accounts_email_check (long_email, &reason), -1);
}

static void
test_passwords_and_key_names (void **state)
{
    (void) state;
    const char *reason;
    assert_int_equal (accounts_password_check ("1234567", &reason), -1);
    assert_int_equal (accounts_password_check ("12345678", &reason), 0);
    char long_password [200];
    memset (long_password, 'p', sizeof long_password - 1);
    long_password [sizeof long_password - 1] = '\0';
    assert_int_equal (accounts_password_check (long_password, &reason), -1);
    assert_int_equal (accounts_key_name_check ("laptop", &reason), 0);
    assert_int_equal (accounts_key_name_check ("", &reason), -1);
    assert_int_equal (accounts_key_name_check ("tab\there", &reason), -1);
}

static void
test_keys_have_one_shape (void **state)
{
    (void) state;
    char key [64];
    assert_int_equal (accounts_random_token (ACCOUNTS_KEY_PREFIX, ACCOUNTS_KEY_RANDOM, key, sizeof key), 0);
    assert_int_equal (strlen (key), ACCOUNTS_KEY_LEN);
    assert_true (accounts_key_shape_ok (key));
    char other [64];
    assert_int_equal (accounts_random_token (ACCOUNTS_KEY_PREFIX, ACCOUNTS_KEY_RANDOM, other, sizeof other), 0);
    assert_string_not_equal (key, other);
    key [20] = '\'';
    assert_false (accounts_key_shape_ok (key));
    assert_false (accounts_key_shape_ok ("mg_live_short"));
    assert_false (accounts_key_shape_ok (NULL));
    char hex [65];
    accounts_sha256_hex ("abc", hex);
    assert_string_equal (hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_emails),
        cmocka_unit_test (test_passwords_and_key_names),
        cmocka_unit_test (test_keys_have_one_shape),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
