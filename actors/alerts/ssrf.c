/*  Webhook targets: a user names a URL and the server calls it, so a URL
    must not reach what only the server can reach (its own loopback, the
    private network it sits in, cloud metadata at 169.254.169.254). Every
    address the name resolves to is checked, when the webhook is made and
    again before each call (a name may resolve elsewhere later: DNS
    rebinding), and the call is pinned to the address checked.  */
#include "alerts.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDRESSES_MAX 32            //  addresses of one name looked at (all of them must pass)

//  True when the IPv4 address a (host order) is not a public unicast one.
static bool
s_v4_blocked (uint32_t a)
{
    static const struct { uint32_t net, mask; } s_blocked [] = {
        { 0x00000000, 0xff000000 },     //  0.0.0.0/8 unspecified, "this network"
        { 0x0a000000, 0xff000000 },     //  10/8 private
        { 0x64400000, 0xffc00000 },     //  100.64/10 carrier-grade NAT
        { 0x7f000000, 0xff000000 },     //  127/8 loopback
        { 0xa9fe0000, 0xffff0000 },     //  169.254/16 link-local (cloud metadata)
        { 0xac100000, 0xfff00000 },     //  172.16/12 private
        { 0xc0000000, 0xffffff00 },     //  192.0.0/24 IETF protocol assignments
        { 0xc0000200, 0xffffff00 },     //  192.0.2/24 documentation
        { 0xc0a80000, 0xffff0000 },     //  192.168/16 private
        { 0xc6120000, 0xfffe0000 },     //  198.18/15 benchmarking
        { 0xc6336400, 0xffffff00 },     //  198.51.100/24 documentation
        { 0xcb007100, 0xffffff00 },     //  203.0.113/24 documentation
        { 0xe0000000, 0xf0000000 },     //  224/4 multicast
        { 0xf0000000, 0xf0000000 },     //  240/4 reserved, 255.255.255.255 broadcast
    };
    for (size_t i = 0; i < sizeof s_blocked / sizeof s_blocked [0]; i++)
        if ((a & s_blocked [i].mask) == s_blocked [i].net)
            return true;
    return false;
}

bool
alerts_addr_blocked (const struct sockaddr *addr)
{
    if (!addr)
        return true;
    if (addr->sa_family == AF_INET)
        return s_v4_blocked (ntohl (((const struct sockaddr_in *) addr)->sin_addr.s_addr));
    if (addr->sa_family != AF_INET6)
        return true;
    const uint8_t *b = ((const struct sockaddr_in6 *) addr)->sin6_addr.s6_addr;
    static const uint8_t zero [16] = { 0 };
    uint32_t tail = (uint32_t) b [12] << 24 | (uint32_t) b [13] << 16 | (uint32_t) b [14] << 8 | b [15];
    if (memcmp (b, zero, 10) == 0 && b [10] == 0xff && b [11] == 0xff)
        return s_v4_blocked (tail);                 //  ::ffff:a.b.c.d, v4-mapped
    if (memcmp (b, zero, 12) == 0)
        return true;                                //  ::, ::1 and the deprecated v4-compatible ::a.b.c.d
    static const uint8_t nat64 [12] = { 0x00, 0x64, 0xff, 0x9b };
    if (memcmp (b, nat64, 12) == 0)
        return s_v4_blocked (tail);                 //  64:ff9b::a.b.c.d reaches a.b.c.d
    if (b [0] == 0xff)
        return true;                                //  ff00::/8 multicast
    if (b [0] == 0xfe && (b [1] & 0xc0) == 0x80)
        return true;                                //  fe80::/10 link-local
    if (b [0] == 0xfe && (b [1] & 0xc0) == 0xc0)
        return true;                                //  fec0::/10 site-local (deprecated, still routed inside)
    if ((b [0] & 0xfe) == 0xfc)
        return true;                                //  fc00::/7 unique local
    if (b [0] == 0x20 && b [1] == 0x01 && b [2] == 0x0d && b [3] == 0xb8)
        return true;                                //  2001:db8::/32 documentation
    if (b [0] == 0x20 && b [1] == 0x02)             //  6to4 2002:a.b.c.d::/48 reaches a.b.c.d
        return s_v4_blocked ((uint32_t) b [2] << 24 | (uint32_t) b [3] << 16 | (uint32_t) b [4] << 8 | b [5]);
    return false;
}

//  The URL's parts through libcurl's own parser, so that what is checked is
//  exactly what libcurl will connect to.
static int
s_parse (const char *url, bool allow_http, char *host, size_t hostlen, int *port, char *why, size_t whylen)
{
    CURLU *u = curl_url ();
    char *scheme = NULL, *name = NULL, *user = NULL, *password = NULL, *number = NULL;
    int rc = -1;
    if (!u) {
        snprintf (why, whylen, "out of memory");
        return -1;
    }
    if (curl_url_set (u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        snprintf (why, whylen, "url is not an absolute URL");
        goto done;
    }
    if (curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
    ||  (strcmp (scheme, "https") != 0 && !(allow_http && strcmp (scheme, "http") == 0))) {
        snprintf (why, whylen, allow_http ? "url must be http or https" : "url must be https");
        goto done;
    }
    if (curl_url_get (u, CURLUPART_USER, &user, 0) == CURLUE_OK
    ||  curl_url_get (u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK) {
        snprintf (why, whylen, "url must not carry credentials");
        goto done;
    }
    if (curl_url_get (u, CURLUPART_HOST, &name, 0) != CURLUE_OK || name [0] == '\0') {
        snprintf (why, whylen, "url has no host");
        goto done;
    }
    if (curl_url_get (u, CURLUPART_PORT, &number, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf (why, whylen, "url has no usable port");
        goto done;
    }
    //  libcurl gives an IPv6 literal in brackets; the resolver wants none.
    size_t len = strlen (name);
    const char *bare = name;
    if (len >= 2 && name [0] == '[' && name [len - 1] == ']') {
        bare = name + 1;
        len -= 2;
    }
    if (len + 1 > hostlen) {
        snprintf (why, whylen, "url host is too long");
        goto done;
    }
    memcpy (host, bare, len);
    host [len] = '\0';
    *port = atoi (number);
    rc = 0;
done:
    curl_free (scheme);
    curl_free (name);
    curl_free (user);
    curl_free (password);
    curl_free (number);
    curl_url_cleanup (u);
    return rc;
}

int
alerts_url_check (const char *url, bool allow_http, bool allow_private, char *host, size_t hostlen,
                  int *port, char addr [ALERTS_ADDR_TEXT], char *why, size_t whylen)
{
    if (s_parse (url, allow_http, host, hostlen, port, why, whylen))
        return -1;
    //  A zone index (fe80::1%eth0) names an interface: never public.
    if (strchr (host, '%')) {
        snprintf (why, whylen, "url host is not a public address");
        return -1;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *found = NULL;
    int gai = getaddrinfo (host, NULL, &hints, &found);
    if (gai) {
        snprintf (why, whylen, "url host does not resolve (%s)", gai_strerror (gai));
        return -1;
    }
    int rc = 0, seen = 0;
    addr [0] = '\0';
    for (struct addrinfo *a = found; a && seen < ADDRESSES_MAX; a = a->ai_next, seen++) {
        if (!allow_private && alerts_addr_blocked (a->ai_addr)) {
            snprintf (why, whylen, "url host resolves to an address that is not public");
            rc = -1;
            break;
        }
        if (addr [0] == '\0') {
            const void *raw = a->ai_family == AF_INET
                ? (const void *) &((const struct sockaddr_in *) a->ai_addr)->sin_addr
                : (const void *) &((const struct sockaddr_in6 *) a->ai_addr)->sin6_addr;
            if (!inet_ntop (a->ai_family, raw, addr, ALERTS_ADDR_TEXT))
                addr [0] = '\0';
        }
    }
    freeaddrinfo (found);
    if (rc == 0 && addr [0] == '\0') {
        snprintf (why, whylen, "url host has no usable address");
        rc = -1;
    }
    return rc;
}
