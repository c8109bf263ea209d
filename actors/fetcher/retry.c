/*  When to try a provider again. Exponential backoff with full jitter
    (a uniform draw in [0, min(cap, base * 2^n)]) spreads the retries of
    many fetchers instead of having them return together; a provider's
    Retry-After is a floor no draw may go under. Pacing reads a provider's
    remaining/reset headers and spreads what is left of its window, so the
    fetcher slows down before a 429 rather than after one.  */
#include "fetcher.h"

#include <assert.h>
#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>

#define RETRY_AFTER_MAX_S 86400     //  a provider asking for more than a day is refused as garbage

bool
retry_is_retryable (long status)
{
    //  0: the transfer failed (connect, timeout, truncated body); 408, 429
    //  and 5xx are the provider's own "not now". Other 4xx will fail the
    //  same way again.
    return status == 0 || status == 408 || status == 429 || (status >= 500 && status <= 599);
}

int64_t
retry_backoff_ms (const retry_policy_t *policy, int attempt, uint32_t random)
{
    assert (policy);
    if (attempt < 1)
        return 0;
    int64_t ceiling = policy->base_ms;
    for (int i = 1; i < attempt && ceiling < policy->cap_ms; i++)
        ceiling *= 2;
    if (ceiling > policy->cap_ms)
        ceiling = policy->cap_ms;
    if (ceiling <= 0)
        return 0;
    return (int64_t) ((uint64_t) random % (uint64_t) (ceiling + 1));
}

int64_t
retry_after_ms (const char *value, int64_t now_s)
{
    if (!value)
        return -1;
    while (isspace ((unsigned char) *value))
        value++;
    if (*value == '\0')
        return -1;
    if (isdigit ((unsigned char) *value)) {
        char *end;
        long long seconds = strtoll (value, &end, 10);
        while (isspace ((unsigned char) *end))
            end++;
        if (*end || seconds < 0 || seconds > RETRY_AFTER_MAX_S)
            return -1;
        return (int64_t) seconds * 1000;
    }
    time_t when = curl_getdate (value, NULL);
    if (when == (time_t) -1)
        return -1;
    int64_t delta = (int64_t) when - now_s;
    if (delta > RETRY_AFTER_MAX_S)
        return -1;
    return delta > 0 ? delta * 1000 : 0;
}

int64_t
retry_delay_ms (const retry_policy_t *policy, int attempt, int64_t after_ms, uint32_t random)
{
    int64_t delay = retry_backoff_ms (policy, attempt, random);
    return after_ms > delay ? after_ms : delay;
}

int64_t
retry_pace_ms (int64_t remaining, int64_t reset_ms, int64_t low_water)
{
    if (remaining < 0 || reset_ms <= 0 || remaining > low_water)
        return 0;
    if (remaining == 0)
        return reset_ms;
    return reset_ms / (remaining + 1);
}
