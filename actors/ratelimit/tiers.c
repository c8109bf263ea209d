/*  Tier limits from the configuration: "5/s,100/m".  */
#include "ratelimit.h"
#include "mg_config.h"
#include "mg_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_MAX 1000000           //  requests per window: beyond it T would round to 0 us

int
rl_tier_parse (const char *text, rl_tier_t *tier, const char **reason)
{
    uint64_t per [2] = { 0, 0 };    //  [0] second, [1] minute
    const char *p = text;
    *reason = "expected N/s,N/m";
    if (!p)
        return -1;
    while (*p) {
        while (*p == ' ')
            p++;
        if (*p < '0' || *p > '9')
            return -1;
        errno = 0;
        char *end;
        unsigned long long n = strtoull (p, &end, 10);
        if (errno || n == 0 || n > LIMIT_MAX || *end != '/') {
            *reason = "each limit must be 1 to 1000000 requests";
            return -1;
        }
        int window = end [1] == 's' ? 0 : end [1] == 'm' ? 1 : -1;
        if (window < 0 || per [window]) {
            *reason = "windows are s and m, each once";
            return -1;
        }
        per [window] = n;
        p = end + 2;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else
        if (*p)
            return -1;
    }
    if (!per [0] || !per [1]) {
        *reason = "both a per-second and a per-minute limit are needed";
        return -1;
    }
    tier->limit_s = per [0];
    tier->limit_m = per [1];
    tier->period_s_us = (int64_t) ((1000000ULL + per [0] - 1) / per [0]);
    tier->tau_s_us = tier->period_s_us * (int64_t) (per [0] - 1);
    tier->period_m_us = (int64_t) ((60000000ULL + per [1] - 1) / per [1]);
    tier->tau_m_us = tier->period_m_us * (int64_t) (per [1] - 1);
    return 0;
}

int
rl_tiers_load (rl_tier_t tiers [RL_TIERS])
{
    static const struct {
        const char *name, *variable, *fallback;
    } s_tiers [RL_TIERS] = {
        { "anonymous",  "MG_RATE_ANONYMOUS",  "5/s,100/m" },
        { "free",       "MG_RATE_FREE",       "10/s,200/m" },
        { "pro",        "MG_RATE_PRO",        "50/s,1000/m" },
        { "enterprise", "MG_RATE_ENTERPRISE", "200/s,5000/m" },
    };
    for (int i = 0; i < RL_TIERS; i++) {
        const char *text = mg_config_str (s_tiers [i].variable, s_tiers [i].fallback);
        const char *reason;
        memset (&tiers [i], 0, sizeof tiers [i]);
        snprintf (tiers [i].name, sizeof tiers [i].name, "%s", s_tiers [i].name);
        if (rl_tier_parse (text, &tiers [i], &reason)) {
            mg_error ("bad rate limit", "variable=%s value=\"%s\" reason=\"%s\"",
                      s_tiers [i].variable, text, reason);
            return -1;
        }
        mg_info ("tier", "name=%s per_second=%llu per_minute=%llu", tiers [i].name,
                 (unsigned long long) tiers [i].limit_s, (unsigned long long) tiers [i].limit_m);
    }
    return 0;
}

const rl_tier_t *
rl_tier_find (const rl_tier_t tiers [RL_TIERS], const char *name)
{
    for (int i = 0; name && i < RL_TIERS; i++)
        if (strcmp (tiers [i].name, name) == 0)
            return &tiers [i];
    return NULL;
}
