/*  Unit tests of what a webhook may point at (actors/alerts/ssrf.c) and of
    its signatures (sign.c).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alerts.h"

#include <netdb.h>
#include <sodium.h>
#include <string.h>

//  alerts_addr_blocked of a numeric address.
static bool
s_blocked (const char *text)
{
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC };
    struct addrinfo *found = NULL;
    assert_int_equal (getaddrinfo (text, NULL, &hints, &found), 0);
    bool blocked = alerts_addr_blocked (found->ai_addr);
    freeaddrinfo (found);
    return blocked;
}

static void
test_private_loopback_link_local_multicast_and_unspecified_ipv4_are_blocked (void **state)
{
    (void) state;
    const char *blocked [] = {
        "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "100.64.0.1",
        "198.18.0.1", "240.0.0.1",
    };
    for (size_t i = 0; i < sizeof blocked / sizeof blocked [0]; i++)
        if (!s_blocked (blocked [i]))
            fail_msg ("%s is not blocked", blocked [i]);
    const char *public [] = { "8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "192.169.0.1", "100.128.0.1" };
    for (size_t i = 0; i < sizeof public / sizeof public [0]; i++)
        if (s_blocked (public [i]))
            fail_msg ("%s is blocked", public [i]);
}

static void
test_ipv6_literals_and_embedded_ipv4_are_blocked (void **state)
{
    (void) state;
    const char *blocked [] = {
        "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1",
        "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1",
        "2001:db8::1", "fec0::1",
    };
    for (size_t i = 0; i < sizeof blocked / sizeof blocked [0]; i++)
        if (!s_blocked (blocked [i]))
            fail_msg ("%s is not blocked", blocked [i]);
    const char *public [] = { "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808" };
    for (size_t i = 0; i < sizeof public / sizeof public [0]; i++)
        if (s_blocked (public [i]))
            fail_msg ("%s is blocked", public [i]);
}

//  alerts_url_check's verdict; why filled.
static int
s_check (const char *url, bool allow_http, bool allow_private, char *why, size_t whylen)
{
    char host [256], addr [ALERTS_ADDR_TEXT];
    int port = 0;
    return alerts_url_check (url, allow_http, allow_private, host, sizeof host, &port, addr, why, whylen);
}

static void
test_urls_must_be_https_with_a_public_host_and_no_credentials (void **state)
{
    (void) state;
    char why [256];
    assert_int_equal (s_check ("http://8.8.8.8/hook", false, false, why, sizeof why), -1);
    assert_non_null (strstr (why, "https"));
    assert_int_equal (s_check ("ftp://8.8.8.8/hook", true, false, why, sizeof why), -1);
    assert_int_equal (s_check ("https://user:pw@8.8.8.8/hook", false, false, why, sizeof why), -1);
    assert_non_null (strstr (why, "credentials"));
    assert_int_equal (s_check ("not a url", false, false, why, sizeof why), -1);
    const char *internal [] = {
        "https://127.0.0.1/hook", "https://[::1]/hook", "https://[::ffff:127.0.0.1]:8443/hook",
        "https://169.254.169.254/latest/meta-data", "https://localhost/hook", "https://0.0.0.0/",
        "https://[fe80::1%25eth0]/", "https://2130706433/", "https://0x7f.1/",
    };
    for (size_t i = 0; i < sizeof internal / sizeof internal [0]; i++)
        if (s_check (internal [i], false, false, why, sizeof why) == 0)
            fail_msg ("%s was admitted", internal [i]);
    //  A public literal passes without any lookup; the address is pinned.
    char host [256], addr [ALERTS_ADDR_TEXT];
    int port = 0;
    assert_int_equal (alerts_url_check ("https://[2606:4700:4700::1111]/hook", false, false, host, sizeof host, &port,
                                        addr, why, sizeof why), 0);
    assert_string_equal (host, "2606:4700:4700::1111");
    assert_int_equal (port, 443);
    assert_string_equal (addr, "2606:4700:4700::1111");
    assert_int_equal (alerts_url_check ("http://8.8.8.8:8080/x", true, false, host, sizeof host, &port, addr,
                                        why, sizeof why), 0);
    assert_int_equal (port, 8080);
    assert_string_equal (addr, "8.8.8.8");
    //  The test-only switch admits a local receiver.
    assert_int_equal (s_check ("http://127.0.0.1:9/hook", true, true, why, sizeof why), 0);
}

static void
test_signature_matches_the_standard_webhooks_vector (void **state)
{
    (void) state;
    //  The example of the Standard Webhooks specification.
    const char *body = "{\"test\": 2432232314}";
    char signature [128];
    assert_int_equal (alerts_sign ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                   1614265330, body, strlen (body), signature, sizeof signature), 0);
    assert_string_equal (signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_int_equal (alerts_sign ("not-a-secret", "id", 1, body, strlen (body), signature, sizeof signature), -1);
    char secret [64];
    alerts_secret_new (secret, sizeof secret);
    assert_int_equal (strncmp (secret, "whsec_", 6), 0);
    assert_int_equal (alerts_sign (secret, "id", 1, body, strlen (body), signature, sizeof signature), 0);
}

int
main (void)
{
    assert_true (sodium_init () >= 0);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_private_loopback_link_local_multicast_and_unspecified_ipv4_are_blocked),
        cmocka_unit_test (test_ipv6_literals_and_embedded_ipv4_are_blocked),
        cmocka_unit_test (test_urls_must_be_https_with_a_public_host_and_no_credentials),
        cmocka_unit_test (test_signature_matches_the_standard_webhooks_vector),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
