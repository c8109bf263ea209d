/*  Ratelimit actor: per client and tier, a GCRA (generic cell rate
    algorithm) for each of two windows, per second and per minute, kept in
    Redis and decided by one Lua script per request, so every gateway and
    every replica of this actor share one exact state.  */
#ifndef RATELIMIT_H_INCLUDED
#define RATELIMIT_H_INCLUDED

#include "mg_actor.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RL_TIERS 4                  //  anonymous, free, pro, enterprise

//  One tier: q requests per window, burst = q. GCRA in integer
//  microseconds: emission interval T = ceil(window / q) (rounding up can
//  only admit less, never more), tolerance tau = T * (q - 1).
typedef struct {
    char name [16];
    uint64_t limit_s;               //  requests per second
    uint64_t limit_m;               //  requests per minute
    int64_t period_s_us, tau_s_us;
    int64_t period_m_us, tau_m_us;
} rl_tier_t;

//  Parse "5/s,100/m" (both windows, any order) into tier (name kept).
//  Returns 0, or -1 with a reason.
int rl_tier_parse (const char *text, rl_tier_t *tier, const char **reason);

//  The four tiers from MG_RATE_ANONYMOUS, MG_RATE_FREE, MG_RATE_PRO,
//  MG_RATE_ENTERPRISE. Returns 0, or -1 with a log line naming the bad one.
int rl_tiers_load (rl_tier_t tiers [RL_TIERS]);

//  Tier named name, or NULL.
const rl_tier_t *rl_tier_find (const rl_tier_t tiers [RL_TIERS], const char *name);

//  One decision: what the script answers.
typedef struct {
    bool allowed;
    uint64_t remaining_s, remaining_m;
    uint64_t reset_s_ms, reset_m_ms;
    uint64_t retry_s_ms, retry_m_ms;
    uint64_t granted;               //  requests admitted and counted: 1..want, 0 when refused
} rl_decision_t;

//  The largest lease one decision grants (requests): bounds what one
//  gateway thread can hold unspent. A gateway's lease is at most 1,000
//  (a hundredth of the rate per holder); a renewal ahead for a caller
//  that spends more per round trip asks for up to four times that.
#define RL_WANT_MAX 4000

//  A Redis connection with the script loaded (one per worker thread).
typedef struct rl_store_t rl_store_t;

//  Connect to url (redis://host:port[/db]) lazily: the first check
//  connects. timeout_ms bounds connecting and each command.
rl_store_t *rl_store_new (const char *url, int timeout_ms);
void rl_store_destroy (rl_store_t **self_p);

//  Connect and load the script unless done. Returns 0 or -1 with why.
int rl_store_open (rl_store_t *self, char *why, size_t whylen);

//  Decide for client in tier whether up to want (1..RL_WANT_MAX) requests
//  are admitted now, all counted at once: one EVALSHA (reconnecting once
//  after a lost connection, reloading the script once after NOSCRIPT).
//  Returns 0, or -1 with a reason when Redis cannot be used.
int rl_store_check (rl_store_t *self, const rl_tier_t *tier, const char *client, uint64_t want,
                    rl_decision_t *decision, char *why, size_t whylen);

//  Times the script was (re)loaded by this store (tests, logs).
uint64_t rl_store_loads (rl_store_t *self);

#endif
