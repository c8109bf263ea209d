/*  A fetch run's configuration from the environment (config/default.env
    documents each variable): providers' base URLs and keys, quotas,
    breakers, retries, cache freshness and the run's own sizes.  */
#include "job.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

//  Copy an environment value into out. Returns 0, or -1 when too long.
static int
s_config_str (const char *name, const char *fallback, char *out, size_t outlen)
{
    const char *value = mg_config_str (name, fallback);
    if (strlen (value) >= outlen) {
        mg_error ("configuration value too long", "name=%s", name);
        return -1;
    }
    memcpy (out, value, strlen (value) + 1);
    return 0;
}

int
fetch_config_load (fetch_config_t *c)
{
    assert (c);
    memset (c, 0, sizeof *c);
    static const char *const base_names [PROVIDER_COUNT] = {
        "MG_TMDB_BASE_URL", "MG_SA_BASE_URL", "MG_WATCHMODE_BASE_URL", "MG_YOUTUBE_BASE_URL" };
    static const char *const base_defaults [PROVIDER_COUNT] = {
        "https://api.themoviedb.org/3", "https://streaming-availability.p.rapidapi.com",
        "https://api.watchmode.com/v1", "https://www.googleapis.com/youtube/v3" };
    static const char *const key_names [PROVIDER_COUNT] = {
        "TMDB_API_KEY", "SA_API_KEY", "WATCHMODE_API_KEY", "YOUTUBE_API_KEYS" };
    char youtube [QUOTA_KEYS_MAX * 128 + 8];
    for (int p = 0; p < PROVIDER_COUNT; p++)
        if (s_config_str (base_names [p], base_defaults [p], c->base [p], sizeof c->base [p])
        ||  s_config_str (key_names [p], "", p == PROVIDER_YOUTUBE ? youtube : c->key [p],
                          p == PROVIDER_YOUTUBE ? sizeof youtube : sizeof c->key [p]))
            return -1;
    //  YOUTUBE_API_KEYS: a comma-separated pool of at most five keys.
    char *save = NULL;
    for (char *k = strtok_r (youtube, ", ", &save); k; k = strtok_r (NULL, ", ", &save)) {
        if (c->youtube_key_count == QUOTA_KEYS_MAX || strlen (k) >= sizeof c->youtube_keys [0]) {
            mg_error ("YOUTUBE_API_KEYS holds more than 5 keys or a key too long", NULL);
            return -1;
        }
        memcpy (c->youtube_keys [c->youtube_key_count++], k, strlen (k) + 1);
    }
    if (c->youtube_key_count)
        snprintf (c->key [PROVIDER_YOUTUBE], sizeof c->key [0], "%s", c->youtube_keys [0]);
    for (int p = 0; p < PROVIDER_COUNT; p++) {
        c->quota [p].provider = provider_name ((provider_id_t) p);
        c->quota [p].keys = 1;
        c->breaker [p].provider = provider_name ((provider_id_t) p);
        c->breaker [p].window_ms = mg_config_int ("MG_FETCHER_BREAKER_WINDOW_MS", 60000, 100, 86400000);
        c->breaker [p].min_requests = mg_config_int ("MG_FETCHER_BREAKER_MIN_REQUESTS", 20, 1, 1000000);
        c->breaker [p].failure_pct = mg_config_int ("MG_FETCHER_BREAKER_FAILURE_PCT", 50, 1, 100);
        c->breaker [p].probe_after_ms = mg_config_int ("MG_FETCHER_BREAKER_PROBE_MS", 30000, 10, 3600000);
    }
    //  The seed's limits: TMDB ~40 requests/s, Streaming Availability
    //  100/min, Watchmode 1,000/day, YouTube 10,000 units/day per key.
    c->quota [PROVIDER_TMDB].rate_limit = mg_config_int ("MG_FETCHER_TMDB_PER_S", 40, 0, 1000000);
    c->quota [PROVIDER_TMDB].rate_window_ms = 1000;
    c->quota [PROVIDER_SA].rate_limit = mg_config_int ("MG_FETCHER_SA_PER_MIN", 100, 0, 100000000);
    c->quota [PROVIDER_SA].rate_window_ms = 60000;
    c->quota [PROVIDER_WATCHMODE].daily_units = mg_config_int ("MG_FETCHER_WATCHMODE_PER_DAY", 1000, 0, 1000000000);
    c->quota [PROVIDER_YOUTUBE].daily_units = mg_config_int ("MG_FETCHER_YOUTUBE_UNITS_PER_DAY", 10000, 0, 1000000000);
    c->quota [PROVIDER_YOUTUBE].keys = c->youtube_key_count ? c->youtube_key_count : 1;
    c->retry.max_attempts = (int) mg_config_int ("MG_FETCHER_RETRY_ATTEMPTS", 4, 1, 20);
    c->retry.base_ms = mg_config_int ("MG_FETCHER_RETRY_BASE_MS", 500, 1, 600000);
    c->retry.cap_ms = mg_config_int ("MG_FETCHER_RETRY_CAP_MS", 30000, 1, 3600000);
    //  Cache freshness from the seed: content 7 d, availability 1 h,
    //  Watchmode 24 h (its quota is the tightest); trailers change as
    //  rarely as content.
    c->ttl_ms [PROVIDER_TMDB] = mg_config_int ("MG_FETCHER_TTL_CONTENT_S", 604800, 0, 31536000) * 1000;
    c->ttl_ms [PROVIDER_SA] = mg_config_int ("MG_FETCHER_TTL_AVAILABILITY_S", 3600, 0, 31536000) * 1000;
    c->ttl_ms [PROVIDER_WATCHMODE] = mg_config_int ("MG_FETCHER_TTL_WATCHMODE_S", 86400, 0, 31536000) * 1000;
    c->ttl_ms [PROVIDER_YOUTUBE] = c->ttl_ms [PROVIDER_TMDB];
    if (s_config_str ("MG_FETCHER_REGION", "us", c->region, sizeof c->region))
        return -1;
    c->concurrency = (int) mg_config_int ("MG_FETCHER_CONCURRENCY", 128, 1, 4096);
    c->timeout_ms = (int) mg_config_int ("MG_FETCHER_TIMEOUT_MS", 10000, 100, 600000);
    c->pace_low_water = mg_config_int ("MG_FETCHER_PACE_LOW_WATER", 5, 0, 1000000);
    c->batch = (int) mg_config_int ("MG_FETCHER_BATCH", 500, 1, 1000);
    //  A title's record goes to the pipeline within this of being complete,
    //  not when its run's last title is: at the providers' quotas a run's
    //  tail can wait minutes, and its first titles are what users see first.
    c->flush_ms = mg_config_int ("MG_FETCHER_FLUSH_MS", 1000, 0, 600000);
    //  A YouTube search costs 100 of a key's 10,000 daily units: by default
    //  only titles TMDB knows no trailer for spend them.
    const char *trailers = mg_config_str ("MG_FETCHER_TRAILERS", "missing");
    if (strcmp (trailers, "missing") && strcmp (trailers, "always")) {
        mg_error ("MG_FETCHER_TRAILERS must be missing or always", NULL);
        return -1;
    }
    c->trailers_always = strcmp (trailers, "always") == 0;
    return 0;
}
