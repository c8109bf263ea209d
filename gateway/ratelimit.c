/*  Rate-limit headers of one decision, and the client id of an anonymous
    caller.

    A decision carries both windows of the tier (per second and per
    minute). The legacy X-RateLimit-* fields and the IETF RateLimit field
    report the window closest to running out: the one that refused, or the
    one with fewer requests left. RateLimit-Policy lists both:
        RateLimit-Policy: "pro-s";q=50;w=1, "pro-m";q=1000;w=60
        RateLimit: "pro-m";r=997;t=12
    (draft-ietf-httpapi-ratelimit-headers-11: t is delta seconds until the
    quota is whole again.) X-RateLimit-Reset is that moment as epoch seconds,
    as GitHub and most APIs send it.  */
#include "gw_ratelimit.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

//  Whole seconds covering ms.
static uint64_t
s_ceil_s (uint64_t ms)
{
    return (ms + 999) / 1000;
}

int
gw_rate_headers_format (const mg_ratelimit_reply_t *d, int64_t now_s, gw_rate_headers_t *out)
{
    assert (d && out);
    memset (out, 0, sizeof *out);
    const char *tier = d->tier ? d->tier : "unknown";
    //  Which window to report: a refusing one (the longer wait), else the
    //  one with fewer left (on a tie, the one that takes longer to refill).
    bool minute;
    if (d->retry_s_ms || d->retry_m_ms)
        minute = d->retry_m_ms >= d->retry_s_ms;
    else
    if (d->remaining_m != d->remaining_s)
        minute = d->remaining_m < d->remaining_s;
    else
        minute = d->reset_m_ms >= d->reset_s_ms;
    uint64_t limit = minute ? d->limit_m : d->limit_s;
    uint64_t remaining = d->allowed ? (minute ? d->remaining_m : d->remaining_s) : 0;
    uint64_t reset = s_ceil_s (minute ? d->reset_m_ms : d->reset_s_ms);
    int n [5];
    n [0] = snprintf (out->limit, sizeof out->limit, "%llu", (unsigned long long) limit);
    n [1] = snprintf (out->remaining, sizeof out->remaining, "%llu", (unsigned long long) remaining);
    n [2] = snprintf (out->reset, sizeof out->reset, "%lld", (long long) now_s + (long long) reset);
    n [3] = snprintf (out->policy, sizeof out->policy, "\"%s-s\";q=%llu;w=1, \"%s-m\";q=%llu;w=60",
                      tier, (unsigned long long) d->limit_s, tier, (unsigned long long) d->limit_m);
    n [4] = snprintf (out->state, sizeof out->state, "\"%s-%c\";r=%llu;t=%llu",
                      tier, minute ? 'm' : 's', (unsigned long long) remaining, (unsigned long long) reset);
    size_t sizes [5] = { sizeof out->limit, sizeof out->remaining, sizeof out->reset,
                         sizeof out->policy, sizeof out->state };
    for (int i = 0; i < 5; i++)
        if (n [i] < 0 || (size_t) n [i] >= sizes [i])
            return -1;
    if (!d->allowed) {
        uint64_t wait = s_ceil_s (d->retry_s_ms > d->retry_m_ms ? d->retry_s_ms : d->retry_m_ms);
        out->retry_after = (uint32_t) (wait == 0 ? 1 : wait > UINT32_MAX ? UINT32_MAX : wait);
    }
    return 0;
}

//  True when addr (len bytes) is one of the comma-separated addresses in list.
static bool
s_listed (const char *list, const char *addr, size_t len)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t item = strcspn (p, ", ");
        if (item && item == len && memcmp (p, addr, len) == 0)
            return true;
        p += item;
    }
    return false;
}

//  True when text (len bytes) is an IPv4 or IPv6 address.
static bool
s_is_ip (const char *text, size_t len)
{
    char copy [INET6_ADDRSTRLEN + 1];
    unsigned char buf [sizeof (struct in6_addr)];
    if (len == 0 || len >= sizeof copy)
        return false;
    memcpy (copy, text, len);
    copy [len] = '\0';
    return inet_pton (AF_INET, copy, buf) == 1 || inet_pton (AF_INET6, copy, buf) == 1;
}

void
gw_rate_client_ip (const char *peer, const char *xff, const char *trusted,
                   char *out, size_t outlen)
{
    assert (out && outlen);
    const char *addr = peer ? peer : "unknown";
    size_t len = strlen (addr);
    //  Walk X-Forwarded-For from the right: each hop was added by the one
    //  after it; the first hop we do not trust is the client as far as we
    //  can tell (entries left of it are whatever the client wrote).
    if (xff && trusted && *trusted && s_listed (trusted, addr, len)) {
        const char *end = xff + strlen (xff);
        while (end > xff) {
            const char *start = end;
            while (start > xff && start [-1] != ',')
                start--;
            const char *a = start, *b = end;
            while (a < b && (*a == ' ' || *a == '\t'))
                a++;
            while (b > a && (b [-1] == ' ' || b [-1] == '\t'))
                b--;
            if (!s_is_ip (a, (size_t) (b - a)))
                break;              //  garbage: stop believing the header here
            addr = a;
            len = (size_t) (b - a);
            if (!s_listed (trusted, a, len))
                break;
            end = start > xff ? start - 1 : xff;
        }
    }
    snprintf (out, outlen, "ip:%.*s", (int) len, addr);
}
