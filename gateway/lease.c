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

typedef struct {
    char client [80];               //  empty: free slot
    char tier [16];
    int64_t used_us;                //  last use: the least recent gives way
    uint64_t limit_s, limit_m;      //  of the last decision
    uint64_t held;                  //  leased requests not spent yet
    int64_t granted_us;             //  when the last lease came (held expire LEASE_TTL_US after)
    uint64_t remaining_s, remaining_m;  //  the last decision's state, without what is held
    uint64_t reset_s_ms, reset_m_ms;
} s_entry_t;

struct gw_lease_t {
    s_entry_t *slots;
    size_t buckets;
    bool enabled;
    uint32_t holders;               //  gateways x threads
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

bool
gw_lease_take (gw_lease_t *self, const char *client, const char *tier,
               int64_t now_us, int64_t now_s, gw_rate_headers_t *headers)
{
    assert (self && client && tier && headers);
    s_entry_t *entry = s_find (self, client, tier);
    if (!entry || entry->held == 0)
        return false;
    if (now_us - entry->granted_us >= LEASE_TTL_US) {
        entry->held = 0;
        return false;
    }
    entry->held--;
    entry->used_us = now_us;
    mg_ratelimit_reply_t decision = {
        .allowed = true, .tier = entry->tier,
        .limit_s = entry->limit_s, .limit_m = entry->limit_m,
        .remaining_s = entry->remaining_s + entry->held,
        .remaining_m = entry->remaining_m + entry->held,
        .reset_s_ms = s_count_down (entry->reset_s_ms, entry->granted_us, now_us),
        .reset_m_ms = s_count_down (entry->reset_m_ms, entry->granted_us, now_us)
    };
    //  A header that does not fit cannot happen for what a decision held;
    //  if it did, the request is still admitted (the unit is spent).
    if (gw_rate_headers_format (&decision, now_s, headers))
        memset (headers, 0, sizeof *headers);
    return true;
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

void
gw_lease_put (gw_lease_t *self, const char *client, const char *tier, int64_t now_us,
              mg_ratelimit_reply_t *decision)
{
    assert (self && client && tier && decision);
    s_entry_t *entry = s_get (self, client, tier);
    if (!entry)
        return;
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
    entry->held += granted - 1;
    entry->granted_us = now_us;
    entry->remaining_s = decision->remaining_s;
    entry->remaining_m = decision->remaining_m;
    entry->reset_s_ms = decision->reset_s_ms;
    entry->reset_m_ms = decision->reset_m_ms;
    decision->remaining_s += entry->held;
    decision->remaining_m += entry->held;
}
