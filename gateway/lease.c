/*  Rate-limit leases: the gateway's local budget from the global limit.

    A decision of the ratelimit actor may admit k requests at once (one
    script call counts all k in Redis, exactly as k single requests made
    at that moment). The thread that asked answers its request with the
    first and keeps the other k - 1 here; the caller's next requests on
    this thread spend them without a bus call. So the common case costs no
    round trip, and the global count is never exceeded: a request is only
    admitted with a unit already counted in Redis.

    What a lease can cost is the other way: units held here are counted
    but unspent. A unit not spent within LEASE_TTL_US is dropped, so each
    holder (thread of a gateway) withholds at most k - 1 units per
    LEASE_TTL_US. k is a hundredth of the limit's rate per second divided
    by the holders of every gateway (MG_RATE_GATEWAYS x MG_HTTP_THREADS):
    all holders together withhold at most 1 % of the limit. Limits below
    100 per second per holder give k = 1: every request asks, as without
    leases. Until a decision tells a caller's limits the lease is 1.

    Renewed ahead: once a caller's lease is down to half its window w
    (below), the thread asks for w - held more while the caller's requests
    go on spending what is left (one renewal per caller at a time).
    Without it the request that finds the lease empty, and each of the
    caller's requests behind it until a decision is back, waits for a
    limiter round trip (and asks on its own: under load a burst of checks,
    each granting k): one request in k at least, the slowest tail of every
    run. w is k, or RENEW_DEMAND times the caller's requests on this
    thread during the last renewal's round trip when more (at most
    WINDOW_MAX, the largest grant; halved at most per renewal when the
    demand falls): a caller that spends k faster than a round trip is
    renewed early enough to never find the lease empty. What a thread holds
    beyond k is what its caller spends within about RENEW_DEMAND round
    trips; it lapses like any lease if unspent for LEASE_TTL_US. Leases
    below RENEW_MIN_LEASE are not renewed ahead.

    Spent on credit: a renewal may still be out when the lease runs dry (a
    round trip that took longer than the caller's last ones, or a caller
    that spends more than WINDOW_MAX / 2 per round trip). The caller's
    requests then spend units of the renewal in flight, at most k of
    them, instead of each waiting a round trip of its own. What is owed is taken from the next units granted (the renewal's,
    or any later decision's) before any is held; while a caller owes k, it
    gets no more credit. So a holder admits at most k more than Redis has
    counted for it, at any time, and all holders together at most 1 % of a
    second's worth of the limit: the same share the lapsed units may cost
    the other way. A debt is forgotten only when its caller gives way in
    the table.

    Headers of a leased request report the decision's state plus what this
    thread still holds (the requests the caller can still make here), its
    reset times counted down from the decision.

    The table is keyed by client and tier: a fixed array of buckets of
    BUCKET_WAYS entries, a full bucket gives up its least recently used.  */
#include "gw_lease.h"
#include "gw_ratelimit.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET_WAYS     4           //  entries per bucket
#define LEASE_TTL_US    1000000     //  leased requests unspent after this are dropped (1 s:
                                    //  the sizing above is per second of the limit)
#define LEASE_SHARE     100         //  all holders withhold at most 1/LEASE_SHARE of the rate
#define RENEW_SHARE     2           //  renewed ahead once 1/RENEW_SHARE of the window is left
#define RENEW_DEMAND    6           //  the window covers this many round trips of demand: round
                                    //  trips vary that much under load (with 3, 1.5 % of the
                                    //  genres requests of bench/hotpath.sh still waited; 6: 0.5 %)
#define RENEW_MIN_LEASE 4           //  smaller leases are not renewed ahead: a renewal of a
                                    //  unit or two would cost a call per request or so
#define RENEWALS_MAX    64          //  renewals in flight per thread (callers renewing at once)
#define WINDOW_MAX      GW_GRANT_MAX    //  a window's cap, in units: one renewal tops it up.
                                    //  With a cap of 1,000 (renewed at 500 left) genres in
                                    //  bench/hotpath.sh, 20,000/s a thread, ran dry whenever a
                                    //  round trip took over 25 ms

typedef struct {
    char client [80];               //  empty: free slot
    char tier [16];
    int64_t used_us;                //  last use: the least recent gives way
    uint64_t limit_s, limit_m;      //  of the last decision
    uint64_t held;                  //  leased requests not spent yet
    int64_t granted_us;             //  when the last lease came (held expire LEASE_TTL_US after)
    uint64_t remaining_s, remaining_m;  //  the last decision's state, without what is held
    uint64_t reset_s_ms, reset_m_ms;
    bool renewing;                  //  a renewal ahead is in flight
    uint64_t flight;                //  requests of the caller while it is (demand per round trip)
    uint64_t window;                //  RENEW_DEMAND x the last renewal's flight: w when above k
                                    //  (at most WINDOW_MAX)
    uint64_t owed;                  //  spent on credit, not yet covered by a grant (at most k)
} s_entry_t;

struct gw_lease_renewal_t {
    gw_lease_t *lease;              //  NULL: free
    char client [80];
    char tier [16];
    void *arg;                      //  the caller's, for the renewal's bus callback
};

struct gw_lease_t {
    s_entry_t *slots;
    size_t buckets;
    bool enabled;
    uint32_t holders;               //  gateways x threads
    gw_lease_renewal_t renewals [RENEWALS_MAX];
};

uint64_t
gw_lease_size (uint64_t limit_s, uint64_t limit_m, uint32_t gateways, uint32_t threads)
{
    uint64_t rate = limit_m / 60 < limit_s ? limit_m / 60 : limit_s;
    uint64_t holders = (uint64_t) (gateways ? gateways : 1) * (threads ? threads : 1);
    uint64_t k = rate / LEASE_SHARE / holders;
    return k < 1 ? 1 : k > GW_LEASE_MAX ? GW_LEASE_MAX : k;
}

gw_lease_t *
gw_lease_new (size_t capacity, bool enabled, uint32_t gateways, uint32_t threads)
{
    gw_lease_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->buckets = capacity / BUCKET_WAYS ? capacity / BUCKET_WAYS : 1;
    self->enabled = enabled;
    self->holders = (gateways ? gateways : 1) * (threads ? threads : 1);
    self->slots = calloc (self->buckets * BUCKET_WAYS, sizeof *self->slots);
    if (!self->slots)
        gw_lease_destroy (&self);
    return self;
}

void
gw_lease_destroy (gw_lease_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_lease_t *self = *self_p;
        free (self->slots);
        free (self);
        *self_p = NULL;
    }
}

//  FNV-1a of client and tier: the bucket.
static s_entry_t *
s_bucket (gw_lease_t *self, const char *client, const char *tier)
{
    uint64_t h = 14695981039346656037ull;
    for (const char *p = client; *p; p++)
        h = (h ^ (uint8_t) *p) * 1099511628211ull;
    h = (h ^ '/') * 1099511628211ull;
    for (const char *p = tier; *p; p++)
        h = (h ^ (uint8_t) *p) * 1099511628211ull;
    return &self->slots [(h % self->buckets) * BUCKET_WAYS];
}

//  The entry of client in tier, or NULL.
static s_entry_t *
s_find (gw_lease_t *self, const char *client, const char *tier)
{
    s_entry_t *bucket = s_bucket (self, client, tier);
    for (int i = 0; i < BUCKET_WAYS; i++)
        if (bucket [i].client [0] && strcmp (bucket [i].client, client) == 0
        &&  strcmp (bucket [i].tier, tier) == 0)
            return &bucket [i];
    return NULL;
}

//  The entry of client in tier, made (in a free or the least recently
//  used slot of its bucket) when missing; NULL when the names do not fit.
static s_entry_t *
s_get (gw_lease_t *self, const char *client, const char *tier)
{
    s_entry_t *entry = s_find (self, client, tier);
    if (entry)
        return entry;
    if (strlen (client) >= sizeof entry->client || strlen (tier) >= sizeof entry->tier)
        return NULL;
    s_entry_t *bucket = s_bucket (self, client, tier);
    entry = &bucket [0];
    for (int i = 0; i < BUCKET_WAYS; i++) {
        if (!bucket [i].client [0]) {
            entry = &bucket [i];
            break;
        }
        if (bucket [i].used_us < entry->used_us)
            entry = &bucket [i];
    }
    memset (entry, 0, sizeof *entry);
    snprintf (entry->client, sizeof entry->client, "%s", client);
    snprintf (entry->tier, sizeof entry->tier, "%s", tier);
    return entry;
}

//  ms, less the whole ms elapsed since since_us, not below 0.
static uint64_t
s_count_down (uint64_t ms, int64_t since_us, int64_t now_us)
{
    uint64_t elapsed = now_us > since_us ? (uint64_t) (now_us - since_us) / 1000 : 0;
    return ms > elapsed ? ms - elapsed : 0;
}

//  What the caller may still do of remaining (a decision's count, without
//  what is held): plus what this thread holds, less what it owes.
static uint64_t
s_remaining (s_entry_t *entry, uint64_t remaining)
{
    uint64_t may = remaining + entry->held;
    return may > entry->owed ? may - entry->owed : 0;
}

gw_lease_spent_t
gw_lease_take (gw_lease_t *self, const char *client, const char *tier,
               int64_t now_us, int64_t now_s, gw_rate_headers_t *headers)
{
    assert (self && client && tier && headers);
    s_entry_t *entry = s_find (self, client, tier);
    if (!entry)
        return GW_LEASE_NONE;
    if (entry->renewing)
        entry->flight++;
    if (entry->held && now_us - entry->granted_us >= LEASE_TTL_US)
        entry->held = 0;
    gw_lease_spent_t spent = GW_LEASE_HELD;
    if (entry->held)
        entry->held--;
    else
    if (entry->renewing
    &&  entry->owed < gw_lease_size (entry->limit_s, entry->limit_m, self->holders, 1)) {
        entry->owed++;              //  the renewal in flight is late: spend of it
        spent = GW_LEASE_OWED;
    }
    else
        return GW_LEASE_NONE;
    entry->used_us = now_us;
    mg_ratelimit_reply_t decision = {
        .allowed = true, .tier = entry->tier,
        .limit_s = entry->limit_s, .limit_m = entry->limit_m,
        .remaining_s = s_remaining (entry, entry->remaining_s),
        .remaining_m = s_remaining (entry, entry->remaining_m),
        .reset_s_ms = s_count_down (entry->reset_s_ms, entry->granted_us, now_us),
        .reset_m_ms = s_count_down (entry->reset_m_ms, entry->granted_us, now_us)
    };
    //  A header that does not fit cannot happen for what a decision held;
    //  if it did, the request is still admitted (the unit is spent).
    if (gw_rate_headers_format (&decision, now_s, headers))
        memset (headers, 0, sizeof *headers);
    return spent;
}

uint64_t
gw_lease_want (gw_lease_t *self, const char *client, const char *tier)
{
    assert (self && client && tier);
    if (!self->enabled)
        return 1;
    s_entry_t *entry = s_find (self, client, tier);
    if (!entry || entry->limit_s == 0)
        return 1;
    return gw_lease_size (entry->limit_s, entry->limit_m, self->holders, 1);
}

//  Keep what decision grants for entry at now_us, spent of it spent by
//  the request that asked (1; 0 for a renewal ahead).
static void
s_keep (gw_lease_t *self, s_entry_t *entry, int64_t now_us, mg_ratelimit_reply_t *decision,
        uint64_t spent)
{
    entry->used_us = now_us;
    entry->limit_s = decision->limit_s;
    entry->limit_m = decision->limit_m;
    //  An actor without leases answers no granted: one request when admitted.
    uint64_t granted = decision->has_granted ? decision->granted : decision->allowed ? 1 : 0;
    if (!decision->allowed || granted == 0)
        return;
    if (!self->enabled)
        granted = 1;                //  only asked for one: nothing to hold
    if (entry->held && now_us - entry->granted_us >= LEASE_TTL_US)
        entry->held = 0;
    //  What was held before came from earlier decisions: Redis may already
    //  count it as refilled, so it is taken off what Redis has left here,
    //  or the headers would count it twice (and report more than the limit).
    uint64_t before = entry->held;
    entry->held += granted - spent;
    //  Units spent on credit are covered first: they were admitted already.
    uint64_t repaid = entry->owed < entry->held ? entry->owed : entry->held;
    entry->held -= repaid;
    entry->owed -= repaid;
    entry->granted_us = now_us;
    entry->remaining_s = decision->remaining_s > before ? decision->remaining_s - before : 0;
    entry->remaining_m = decision->remaining_m > before ? decision->remaining_m - before : 0;
    entry->reset_s_ms = decision->reset_s_ms;
    entry->reset_m_ms = decision->reset_m_ms;
    decision->remaining_s = s_remaining (entry, entry->remaining_s);
    decision->remaining_m = s_remaining (entry, entry->remaining_m);
}

void
gw_lease_put (gw_lease_t *self, const char *client, const char *tier, int64_t now_us,
              mg_ratelimit_reply_t *decision)
{
    assert (self && client && tier && decision);
    s_entry_t *entry = s_get (self, client, tier);
    if (entry)
        s_keep (self, entry, now_us, decision, 1);
}

gw_lease_renewal_t *
gw_lease_renewal (gw_lease_t *self, const char *client, const char *tier, int64_t now_us,
                  void *arg, uint64_t *want)
{
    assert (self && client && tier && want);
    if (!self->enabled)
        return NULL;
    s_entry_t *entry = s_find (self, client, tier);
    if (!entry || entry->renewing || entry->limit_s == 0)
        return NULL;
    uint64_t size = gw_lease_size (entry->limit_s, entry->limit_m, self->holders, 1);
    uint64_t window = entry->window > size ? entry->window : size;
    uint64_t held = now_us - entry->granted_us < LEASE_TTL_US ? entry->held : 0;
    if (size < RENEW_MIN_LEASE || held > window / RENEW_SHARE)
        return NULL;
    for (size_t i = 0; i < RENEWALS_MAX; i++) {
        gw_lease_renewal_t *renewal = &self->renewals [i];
        if (!renewal->lease) {
            renewal->lease = self;
            memcpy (renewal->client, entry->client, sizeof renewal->client);
            memcpy (renewal->tier, entry->tier, sizeof renewal->tier);
            renewal->arg = arg;
            entry->renewing = true;
            entry->flight = 0;
            *want = window - held;
            return renewal;
        }
    }
    return NULL;                    //  all busy: the requests ask themselves, as without
}

void *
gw_lease_renewal_arg (gw_lease_renewal_t *renewal)
{
    assert (renewal && renewal->lease);
    return renewal->arg;
}

const char *
gw_lease_renewal_client (gw_lease_renewal_t *renewal)
{
    assert (renewal && renewal->lease);
    return renewal->client;
}

const char *
gw_lease_renewal_tier (gw_lease_renewal_t *renewal)
{
    assert (renewal && renewal->lease);
    return renewal->tier;
}

void
gw_lease_renewed (gw_lease_renewal_t *renewal, int64_t now_us, mg_ratelimit_reply_t *decision)
{
    assert (renewal && renewal->lease);
    gw_lease_t *self = renewal->lease;
    //  The caller may have given way to another in its bucket meanwhile:
    //  then what was granted is not held (counted, unspent, as a lapsed lease).
    s_entry_t *entry = s_find (self, renewal->client, renewal->tier);
    if (entry) {
        entry->renewing = false;
        //  One quick round trip does not shrink the window at once: round
        //  trips vary, and one short one would leave the next long one short.
        uint64_t demand = entry->flight * RENEW_DEMAND;
        if (demand < entry->window / 2)
            demand = entry->window / 2;
        entry->window = demand < WINDOW_MAX ? demand : WINDOW_MAX;
        if (decision)
            s_keep (self, entry, now_us, decision, 0);
    }
    renewal->lease = NULL;
}
