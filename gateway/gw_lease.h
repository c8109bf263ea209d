/*  lease.c: rate-limit budgets leased from the ratelimit actor, per
    gateway thread (no locks), bounded.  */
#ifndef GW_LEASE_H_INCLUDED
#define GW_LEASE_H_INCLUDED

#include "gw_request.h"
#include "mg_msg.h"

#define GW_LEASE_MAX 1000           //  the largest lease size (gw_lease_size)
#define GW_GRANT_MAX 4000           //  requests one decision may grant (the actor's RL_WANT_MAX):
                                    //  the largest renewal ahead

//  A table of capacity callers for one of threads gateway threads, sized
//  for gateways gateways sharing the limits (MG_RATE_GATEWAYS); enabled
//  false: every lease is one request (each request asks the limiter).
gw_lease_t *gw_lease_new (size_t capacity, bool enabled, uint32_t gateways, uint32_t threads);
void gw_lease_destroy (gw_lease_t **self_p);

//  How a request was admitted from a lease (gw_lease_take).
typedef enum {
    GW_LEASE_NONE = 0,              //  nothing held: ask the limiter
    GW_LEASE_HELD,                  //  a unit held, counted in Redis
    GW_LEASE_OWED                   //  on credit: a unit of the renewal in flight, which is late
} gw_lease_spent_t;

//  Spend one leased request of client in tier at now_us (monotonic),
//  now_s (epoch seconds), with the headers of the answer: a unit held, or
//  while a renewal ahead is out, on credit (at most the lease size owed,
//  covered by the next units granted); GW_LEASE_NONE when neither (ask
//  the limiter).
gw_lease_spent_t gw_lease_take (gw_lease_t *self, const char *client, const char *tier,
                                int64_t now_us, int64_t now_s, gw_rate_headers_t *headers);

//  How many requests to ask the limiter for, for client in tier: 1 until
//  a decision told its limits, then the lease size they allow.
uint64_t gw_lease_want (gw_lease_t *self, const char *client, const char *tier);

//  A decision for client in tier arrived at now_us: its limits are kept,
//  and the requests it granted beyond the one that asked are held for
//  later requests. Adds what this thread still holds to the decision's
//  remaining counts (what the caller may still do), for its headers.
void gw_lease_put (gw_lease_t *self, const char *client, const char *tier, int64_t now_us,
                   mg_ratelimit_reply_t *decision);

//  A renewal ahead of a caller's lease (lease.c), in flight on the bus.
typedef struct gw_lease_renewal_t gw_lease_renewal_t;

//  When client's lease in tier is due for renewal ahead at now_us (down to
//  half of its window: the lease size, or more for a caller that spent
//  more than that in a round trip; leases of 4 or more; none in flight):
//  a renewal for the bus
//  call's callback to end, with the requests to ask for in *want and arg
//  kept for the callback; else NULL.
gw_lease_renewal_t *gw_lease_renewal (gw_lease_t *self, const char *client, const char *tier,
                                      int64_t now_us, void *arg, uint64_t *want);

//  The arg, client and tier a renewal was started with.
void *gw_lease_renewal_arg (gw_lease_renewal_t *renewal);
const char *gw_lease_renewal_client (gw_lease_renewal_t *renewal);
const char *gw_lease_renewal_tier (gw_lease_renewal_t *renewal);

//  The renewal ended at now_us with decision (NULL: none came): every unit
//  it granted is held for the caller's requests. The renewal is free after.
void gw_lease_renewed (gw_lease_renewal_t *renewal, int64_t now_us, mg_ratelimit_reply_t *decision);

//  Size of a lease for limits (requests per second, per minute): a
//  hundredth of the slower rate per second, shared by every thread of
//  every gateway, at least 1, at most GW_LEASE_MAX.
uint64_t gw_lease_size (uint64_t limit_s, uint64_t limit_m, uint32_t gateways, uint32_t threads);

#endif
