/*  A fetch run. Each title is a small state machine over the providers:

        TMDB details ──> SA availability ──fail──> Watchmode ──fail──> last cached
              │                 │                     │                (stale)
              fail              └────────ok───────────┴──> YouTube (when TMDB has
              ▼                                              no trailer) ──> queued
         dead letter

    A step asks, in order: the response cache (fresh: no call), the
    provider's breaker (open: the step fails at once), the shared quota
    (the rate says wait: the title waits; the day is spent: the step
    fails; for YouTube the next pool key is tried), the provider's own
    pacing (its remaining/reset headers), then sends the request, with
    If-None-Match when an older copy is cached. A retryable answer (0,
    408, 429, 5xx, or a body that does not parse) is tried again after
    full-jitter backoff, never sooner than Retry-After, up to
    retry.max_attempts in all. Titles run concurrently up to
    config->concurrency transfers on one curl multi engine.  */
#include "job.h"
#include "mg_log.h"
#include "mg_msg.h"
#include "sender.h"

#include <assert.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

#define POLL_MAX_MS      50         //  the loop looks at waiting titles at least this often
#define CLOSED_TRUST_MS  100        //  a closed breaker is believed this long without asking Redis
#define SUCCESS_BATCH    64         //  successes recorded in one call while closed
#define LOOKUP_ROUNDS    8          //  cache look-up rounds per loop turn before polling transfers

typedef enum { STEP_TMDB, STEP_SA, STEP_WATCHMODE, STEP_YOUTUBE, STEP_DONE } s_step_t;

typedef struct {
    fetch_item_t item;
    s_step_t step;
    int attempt;                    //  attempts of the current step so far
    int64_t not_before_ms;
    bool in_flight;
    bool looked_up;                 //  the current step's cache look-up is done
    bool failed;
    bool stale;
    json_t *record;                 //  raw.record once TMDB answered
    json_t *offers;                 //  raw.availability list once a provider answered
    int key_index;                  //  YouTube pool key of the current call
    char cache_key [128];
    cache_entry_t cached;           //  the step's cached copy, when any (ETag, stale)
    http_transfer_t transfer;
    char reason [256];
} s_title_t;

typedef struct {
    const fetch_config_t *config;
    mg_redis_t *redis;
    PGconn *pg;
    mg_client_t *client;
    http_engine_t *engine;
    fetch_counters_t *counters;
    fetch_stats_t *stats;
    int64_t pace_gap_ms [PROVIDER_COUNT];   //  > 0 while a provider says it is nearly spent
    int64_t pace_until_ms [PROVIDER_COUNT];
    int64_t closed_until_ms [PROVIDER_COUNT];   //  breaker seen closed: trusted until then
    uint64_t successes [PROVIDER_COUNT];        //  not yet recorded in the breaker
    int64_t successes_since_ms [PROVIDER_COUNT];
    fetch_sender_t *sender;         //  the records, batched into indexer.enqueue
    //  Answers to store in the cache, written in one round trip per loop turn.
    char (*put_keys) [128];
    char **put_bodies;
    size_t *put_lens;
    char (*put_etags) [256];
    size_t put_count;
    size_t put_max;
    //  Scratch for one round trip of look-ups or writes, slots long.
    s_title_t **ask;
    const char **keys;
    const char **bodies;
    const char **etags;
    int64_t *ttl;
    cache_entry_t *entries;
} s_run_t;

static void
s_count (s_run_t *run, provider_id_t p, int what)
{
    if (!run->counters)
        return;
    fetch_counters_t *c = &run->counters [p];
    switch (what) {
        case 0: atomic_fetch_add (&c->calls, 1); break;
        case 1: atomic_fetch_add (&c->failures, 1); break;
        case 2: atomic_fetch_add (&c->cache_hits, 1); break;
        default: atomic_fetch_add (&c->quota_waits, 1); break;
    }
}

//  Store the answers waiting for the cache, in one round trip.
static void
s_put_flush (s_run_t *run)
{
    if (run->put_count == 0)
        return;
    for (size_t i = 0; i < run->put_count; i++) {
        run->keys [i] = run->put_keys [i];
        run->bodies [i] = run->put_bodies [i];
        run->etags [i] = run->put_etags [i][0] ? run->put_etags [i] : NULL;
    }
    char why [FETCHER_WHY_LEN];
    int stored = cache_put_many (run->redis, run->put_count, run->keys, run->bodies, run->put_lens,
                                 run->etags, why, sizeof why);
    if (stored < 0)
        mg_warn ("responses not cached", "count=%zu reason=\"%s\"", run->put_count, why);
    else if ((size_t) stored < run->put_count)
        mg_warn ("some responses not cached", "count=%zu stored=%d", run->put_count, stored);
    for (size_t i = 0; i < run->put_count; i++)
        free (run->put_bodies [i]);
    run->put_count = 0;
}

//  Keep a 200 answer (body taken over) for the next cache write.
static void
s_put_later (s_run_t *run, const char *key, char *body, size_t len, const char *etag)
{
    if (run->put_count == run->put_max)
        s_put_flush (run);
    size_t i = run->put_count++;
    snprintf (run->put_keys [i], sizeof run->put_keys [i], "%s", key);
    run->put_bodies [i] = body;
    run->put_lens [i] = len;
    snprintf (run->put_etags [i], sizeof run->put_etags [i], "%s", etag ? etag : "");
}

//  Record a title's failure as a dead letter (payload: what replays it).
static void
s_dead_letter (s_run_t *run, const s_title_t *t, provider_id_t p, const char *kind)
{
    char payload [96], why [FETCHER_WHY_LEN];
    snprintf (payload, sizeof payload, "{\"tmdb\":%lld,\"type\":\"%s\"}", t->item.tmdb, t->item.type);
    mg_warn ("dead letter", "provider=%s kind=%s tmdb=%lld reason=\"%s\"", provider_name (p), kind,
             t->item.tmdb, t->reason);
    if (run->pg && deadletter_add (run->pg, provider_name (p), kind, payload, t->reason,
                                   t->attempt, why, sizeof why) < 0)
        mg_error ("dead letter not recorded", "reason=\"%s\"", why);
}

//  The title is finished: its record goes to the batch.
static void
s_title_done (s_run_t *run, s_title_t *t)
{
    t->step = STEP_DONE;
    if (t->failed || !t->record)
        return;
    if (t->offers && json_array_size (t->offers))
        json_object_set (t->record, "availability", t->offers);
    char err [MG_MSG_ERR_LEN];
    if (fetch_sender_add (run->sender, t->record, err, sizeof err)) {
        snprintf (t->reason, sizeof t->reason, "record refused by the schema: %.200s", err);
        t->failed = true;
        run->stats->failed++;
        s_dead_letter (run, t, PROVIDER_TMDB, "title");
    }
}

//  Does the record carry a trailer already (TMDB's videos)?
static bool
s_has_trailer (const json_t *record)
{
    size_t index;
    const json_t *video;
    json_array_foreach (json_object_get (record, "videos"), index, video) {
        const char *type = json_string_value (json_object_get (video, "type"));
        if (type && strcmp (type, "trailer") == 0)
            return true;
    }
    return false;
}

//  Move to step (resetting its attempt count and cached copy).
static void
s_goto (s_run_t *run, s_title_t *t, s_step_t step)
{
    cache_entry_clear (&t->cached);
    t->attempt = 0;
    t->not_before_ms = 0;
    t->looked_up = false;
    if (step == STEP_SA && !run->config->key [PROVIDER_SA][0])
        step = STEP_WATCHMODE;
    if (step == STEP_WATCHMODE && !run->config->key [PROVIDER_WATCHMODE][0])
        step = STEP_YOUTUBE;            //  no availability provider: none asked
    if (step == STEP_YOUTUBE && (!run->config->youtube_key_count
                              || (!run->config->trailers_always && s_has_trailer (t->record))))
        step = STEP_DONE;
    t->step = step;
    if (step == STEP_DONE)
        s_title_done (run, t);
}

//  Last resort for availability: the newest cached SA or Watchmode answer,
//  whatever its age, served with stale set.
static void
s_stale_fallback (s_run_t *run, s_title_t *t)
{
    static const provider_id_t order [] = { PROVIDER_SA, PROVIDER_WATCHMODE };
    char url [PROVIDER_URL_MAX], key [128], why [FETCHER_WHY_LEN], id [64];
    const char *imdb = json_string_value (json_object_get (t->record, "imdb"));
    for (size_t i = 0; i < 2 && !t->offers; i++) {
        provider_id_t p = order [i];
        int rc;
        if (p == PROVIDER_SA) {
            snprintf (id, sizeof id, imdb ? "%s" : "%s/%lld", imdb ? imdb : t->item.type, t->item.tmdb);
            rc = sa_show_url (run->config->base [p], id, run->config->region, url, sizeof url);
        }
        else {
            snprintf (id, sizeof id, imdb ? "%s" : "%s-%lld", imdb ? imdb : t->item.type, t->item.tmdb);
            rc = watchmode_sources_url (run->config->base [p], run->config->key [p][0] ? run->config->key [p] : "none",
                                        id, run->config->region, url, sizeof url);
        }
        cache_entry_t entry;
        if (rc || cache_key (provider_name (p), url, key, sizeof key)
        ||  cache_get (run->redis, key, 0, &entry, why, sizeof why) || !entry.body)
            continue;
        char err [256];
        t->offers = p == PROVIDER_SA ? sa_parse_show (entry.body, entry.body_len, err, sizeof err)
                                     : watchmode_parse_sources (entry.body, entry.body_len, err, sizeof err);
        cache_entry_clear (&entry);
    }
    if (t->offers) {
        size_t index;
        json_t *offer;
        json_array_foreach (t->offers, index, offer)
            json_object_set_new (offer, "stale", json_true ());
        t->stale = true;
        run->stats->stale++;
    }
}

//  The current step failed for good (reason set).
static void
s_step_failed (s_run_t *run, s_title_t *t, provider_id_t p)
{
    switch (t->step) {
        case STEP_TMDB:
            t->failed = true;
            run->stats->failed++;
            s_dead_letter (run, t, p, "title");
            t->step = STEP_DONE;
            break;
        case STEP_SA:
            if (run->config->key [PROVIDER_WATCHMODE][0]) {
                mg_info ("availability falls back to Watchmode", "tmdb=%lld reason=\"%s\"", t->item.tmdb, t->reason);
                s_goto (run, t, STEP_WATCHMODE);
                break;
            }
            //  No Watchmode key: the cache is next.
            __attribute__ ((fallthrough));
        case STEP_WATCHMODE:
            s_stale_fallback (run, t);
            if (!t->offers)
                s_dead_letter (run, t, p, "availability");
            s_goto (run, t, STEP_YOUTUBE);
            break;
        case STEP_YOUTUBE:
            mg_info ("no trailer from YouTube", "tmdb=%lld reason=\"%s\"", t->item.tmdb, t->reason);
            s_goto (run, t, STEP_DONE);
            break;
        case STEP_DONE:
            break;
    }
}

//  The step's provider.
static provider_id_t
s_provider (s_step_t step)
{
    return step == STEP_TMDB ? PROVIDER_TMDB : step == STEP_SA ? PROVIDER_SA
         : step == STEP_WATCHMODE ? PROVIDER_WATCHMODE : PROVIDER_YOUTUBE;
}

//  Parse a body for the current step and move on. Returns 0, or -1 with
//  t->reason set when the body is not what the provider documents.
static int
s_take_body (s_run_t *run, s_title_t *t, const char *body, size_t len)
{
    char err [256];
    switch (t->step) {
        case STEP_TMDB: {
            json_t *record = tmdb_parse_details (body, len, err, sizeof err);
            if (!record)
                break;
            json_decref (t->record);
            t->record = record;
            s_goto (run, t, STEP_SA);
            return 0;
        }
        case STEP_SA:
        case STEP_WATCHMODE: {
            json_t *offers = t->step == STEP_SA ? sa_parse_show (body, len, err, sizeof err)
                                                : watchmode_parse_sources (body, len, err, sizeof err);
            if (!offers)
                break;
            json_decref (t->offers);
            t->offers = offers;
            s_goto (run, t, STEP_YOUTUBE);
            return 0;
        }
        case STEP_YOUTUBE: {
            json_t *videos = youtube_parse_search (body, len, err, sizeof err);
            if (!videos)
                break;
            json_t *list = json_object_get (t->record, "videos");
            if (!json_is_array (list)) {
                list = json_array ();
                json_object_set_new (t->record, "videos", list);
            }
            size_t index;
            json_t *video;
            json_array_foreach (videos, index, video) {
                const char *key = json_string_value (json_object_get (video, "key"));
                bool known = false;
                size_t i;
                json_t *have;
                json_array_foreach (list, i, have)
                    known = known || (key && json_string_value (json_object_get (have, "key"))
                                      && strcmp (key, json_string_value (json_object_get (have, "key"))) == 0);
                if (!known && json_array_size (list) < 32)
                    json_array_append (list, video);
            }
            json_decref (videos);
            s_goto (run, t, STEP_DONE);
            return 0;
        }
        case STEP_DONE:
            return 0;
    }
    snprintf (t->reason, sizeof t->reason, "%s", err);
    return -1;
}

//  Build the current step's URL and API key header. Returns 0 or -1.
static int
s_request (s_run_t *run, s_title_t *t, provider_id_t p)
{
    const fetch_config_t *c = run->config;
    http_transfer_t *x = &t->transfer;
    x->header_count = 0;
    const char *imdb = json_string_value (json_object_get (t->record, "imdb"));
    char id [64];
    int rc = -1;
    switch (p) {
        case PROVIDER_TMDB:
            rc = tmdb_details_url (c->base [p], c->key [p], t->item.type, t->item.tmdb, x->url, sizeof x->url);
            break;
        case PROVIDER_SA:
            snprintf (id, sizeof id, imdb ? "%s" : "%s/%lld", imdb ? imdb : t->item.type, t->item.tmdb);
            rc = sa_show_url (c->base [p], id, c->region, x->url, sizeof x->url);
            snprintf (x->headers [x->header_count++], sizeof x->headers [0], "X-RapidAPI-Key: %s", c->key [p]);
            break;
        case PROVIDER_WATCHMODE:
            snprintf (id, sizeof id, imdb ? "%s" : "%s-%lld", imdb ? imdb : t->item.type, t->item.tmdb);
            rc = watchmode_sources_url (c->base [p], c->key [p], id, c->region, x->url, sizeof x->url);
            break;
        case PROVIDER_YOUTUBE: {
            char query [600];
            const char *title = json_string_value (json_object_get (t->record, "title"));
            json_int_t year = json_integer_value (json_object_get (t->record, "year"));
            const char *date = json_string_value (json_object_get (t->record, "release_date"));
            if (!year && date && strlen (date) >= 4)
                year = atoi (date);
            if (year > 0)
                snprintf (query, sizeof query, "%.500s %lld trailer", title ? title : "", (long long) year);
            else
                snprintf (query, sizeof query, "%.500s trailer", title ? title : "");
            rc = youtube_search_url (c->base [p], c->youtube_keys [t->key_index], query, x->url, sizeof x->url);
            break;
        }
        default:
            break;
    }
    if (rc)
        snprintf (t->reason, sizeof t->reason, "cannot build the %s request", provider_name (p));
    return rc;
}

//  Record the batched successes and failures (0 or 1) of provider p in its
//  breaker; a state other than closed ends the local trust in "closed".
static void
s_breaker_flush (s_run_t *run, provider_id_t p, uint64_t failures)
{
    if (run->successes [p] == 0 && failures == 0)
        return;
    breaker_state_t state;
    char why [FETCHER_WHY_LEN];
    if (breaker_record_many (run->redis, &run->config->breaker [p], run->successes [p], failures,
                             &state, why, sizeof why))
        mg_warn ("breaker unavailable", "reason=\"%s\"", why);
    else if (state != BREAKER_CLOSED)
        run->closed_until_ms [p] = 0;
    run->successes [p] = 0;
}

//  Try to move a title that is not in flight: cache, breaker, quota,
//  pacing, then send. Loops while steps complete without a call.
static void
s_advance (s_run_t *run, s_title_t *t, int64_t now)
{
    char why [FETCHER_WHY_LEN];
    while (t->step != STEP_DONE && !t->in_flight && now >= t->not_before_ms) {
        provider_id_t p = s_provider (t->step);
        const fetch_config_t *c = run->config;
        //  The look-up is s_lookup's (one round trip for every title).
        if (!t->looked_up)
            return;
        if (t->attempt == 0 && t->cached.body && t->cached.fresh) {
            s_count (run, p, 2);
            run->stats->cache_hits++;
            char *body = t->cached.body;
            size_t len = t->cached.body_len;
            t->cached.body = NULL;
            int rc = s_take_body (run, t, body, len);
            free (body);
            if (rc == 0)
                continue;
            //  A cached body that no longer parses: ask the provider.
        }
        //  While the breaker is closed it is believed for CLOSED_TRUST_MS: one
        //  round trip less per call, at the cost of calls for up to that long
        //  after another replica opened it. Open and half-open always ask.
        bool allowed = now < run->closed_until_ms [p];
        breaker_state_t state = BREAKER_CLOSED;
        if (!allowed && breaker_allow (run->redis, &c->breaker [p], &allowed, &state, why, sizeof why)) {
            snprintf (t->reason, sizeof t->reason, "breaker unavailable: %.200s", why);
            s_step_failed (run, t, p);
            continue;
        }
        if (allowed && state == BREAKER_CLOSED && now >= run->closed_until_ms [p])
            run->closed_until_ms [p] = now + CLOSED_TRUST_MS;
        if (!allowed) {
            snprintf (t->reason, sizeof t->reason, "%s circuit %s", provider_name (p), breaker_state_name (state));
            s_step_failed (run, t, p);
            continue;
        }
        //  Pacing: one call per gap while the provider says it is nearly spent.
        if (run->pace_gap_ms [p] > 0) {
            if (now < run->pace_until_ms [p]) {
                t->not_before_ms = run->pace_until_ms [p];
                s_count (run, p, 3);
                return;
            }
            run->pace_until_ms [p] = now + run->pace_gap_ms [p];
        }
        quota_grant_t grant;
        int64_t cost = p == PROVIDER_YOUTUBE ? YOUTUBE_SEARCH_UNITS : 1;
        if (quota_take (run->redis, &c->quota [p], cost, &grant, why, sizeof why)) {
            snprintf (t->reason, sizeof t->reason, "quota unavailable: %.200s", why);
            s_step_failed (run, t, p);
            continue;
        }
        if (!grant.granted) {
            s_count (run, p, 3);
            if (grant.exhausted) {
                snprintf (t->reason, sizeof t->reason, "%s daily quota spent", provider_name (p));
                s_step_failed (run, t, p);
                continue;
            }
            t->not_before_ms = now + (grant.wait_ms > 0 ? grant.wait_ms : 1);
            return;
        }
        t->key_index = grant.key_index >= 0 ? grant.key_index : 0;
        if (s_request (run, t, p)) {
            s_step_failed (run, t, p);
            continue;
        }
        if (t->cached.body && t->cached.etag [0] && t->transfer.header_count < HTTP_HEADERS_MAX)
            snprintf (t->transfer.headers [t->transfer.header_count++], sizeof t->transfer.headers [0],
                      "If-None-Match: %s", t->cached.etag);
        t->transfer.owner = t;
        if (http_engine_start (run->engine, &t->transfer)) {
            t->not_before_ms = now + 1;
            return;
        }
        t->attempt++;
        t->in_flight = true;
        s_count (run, p, 0);
        run->stats->calls++;
    }
}

//  A transfer finished: judge the answer.
static void
s_on_done (void *arg, http_transfer_t *x)
{
    s_run_t *run = arg;
    s_title_t *t = x->owner;
    t->in_flight = false;
    provider_id_t p = s_provider (t->step);
    const fetch_config_t *c = run->config;
    char why [FETCHER_WHY_LEN];
    int64_t now = zclock_mono ();
    //  Adaptive pacing: spread what the provider says is left of its window.
    if (x->rl_remaining >= 0 && x->rl_reset_ms > 0)
        run->pace_gap_ms [p] = retry_pace_ms (x->rl_remaining, x->rl_reset_ms, c->pace_low_water);
    bool ok = false, retry = false;
    if (x->status == 304 && t->cached.body) {
        if (cache_touch (run->redis, t->cache_key, why, sizeof why))
            mg_warn ("cache revalidation not stored", "reason=\"%s\"", why);
        s_count (run, p, 2);
        run->stats->cache_hits++;
        char *body = t->cached.body;
        size_t len = t->cached.body_len;
        t->cached.body = NULL;
        ok = s_take_body (run, t, body, len) == 0;
        free (body);
        retry = !ok;
    }
    else if (x->status == 200 && x->body) {
        //  Keep the key before the step moves on (s_take_body may go on).
        char key [128];
        memcpy (key, t->cache_key, sizeof key);
        ok = s_take_body (run, t, x->body, x->len) == 0;
        if (ok && key [0]) {
            s_put_later (run, key, x->body, x->len, x->etag);
            x->body = NULL;             //  the cache write owns it now
        }
        retry = !ok;
    }
    else if (p == PROVIDER_YOUTUBE && x->status == 403 && x->body
         &&  youtube_is_quota_exceeded (x->body, x->len)) {
        //  This key's day is spent: every fetcher skips it from now on.
        if (quota_exhaust (run->redis, &c->quota [p], t->key_index, why, sizeof why))
            mg_warn ("key exhaustion not stored", "reason=\"%s\"", why);
        mg_info ("YouTube key exhausted, rotating", "key=%d", t->key_index);
        t->attempt = t->attempt > 0 ? t->attempt - 1 : 0;      //  not the provider's fault
        t->not_before_ms = now;
        http_transfer_reset (x);
        s_count (run, p, 1);
        return;
    }
    else {
        snprintf (t->reason, sizeof t->reason, "%s answered %ld%s%.200s", provider_name (p), x->status,
                  x->error [0] ? ": " : "", x->error);
        retry = retry_is_retryable (x->status);
    }
    //  A 429 is the provider pacing us (Retry-After and the quotas handle
    //  it), not a sign of sickness: it does not count for the breaker.
    //  Successes seen while closed are recorded in batches; a failure, or
    //  any outcome in another state (the probe's), at once.
    if (x->status != 429) {
        if (ok || !retry) {
            if (run->successes [p]++ == 0)
                run->successes_since_ms [p] = now;
            if (now >= run->closed_until_ms [p] || run->successes [p] >= SUCCESS_BATCH
            ||  now - run->successes_since_ms [p] >= CLOSED_TRUST_MS)
                s_breaker_flush (run, p, 0);
        }
        else
            s_breaker_flush (run, p, 1);
    }
    if (!ok)
        s_count (run, p, 1);
    if (ok) {
        http_transfer_reset (x);
        return;
    }
    if (retry && t->attempt < c->retry.max_attempts) {
        int64_t after = retry_after_ms (x->retry_after [0] ? x->retry_after : NULL, (int64_t) time (NULL));
        t->not_before_ms = now + retry_delay_ms (&c->retry, t->attempt, after, randombytes_random ());
        http_transfer_reset (x);
        return;
    }
    if (retry)
        snprintf (t->reason + strlen (t->reason), sizeof t->reason - strlen (t->reason),
                  " after %d attempts", t->attempt);
    http_transfer_reset (x);
    s_step_failed (run, t, p);
}

//  Look up the cache for every title whose step is due and not yet looked
//  up, in one Redis round trip. Returns how many were looked up.
static size_t
s_lookup (s_run_t *run, s_title_t **active, size_t slots, int64_t now)
{
    s_title_t **ask = run->ask;
    const char **keys = run->keys;
    int64_t *ttl = run->ttl;
    cache_entry_t *entries = run->entries;
    size_t n = 0;
    for (size_t i = 0; i < slots; i++) {
        s_title_t *t = active [i];
        //  A failed step may move on to one that needs a look-up too.
        while (t && t->step != STEP_DONE && !t->in_flight && !t->looked_up && now >= t->not_before_ms) {
            provider_id_t p = s_provider (t->step);
            t->key_index = 0;
            cache_entry_clear (&t->cached);
            //  The cache key leaves the credentials out: build with pool key 0.
            if (s_request (run, t, p)) {
                s_step_failed (run, t, p);
                continue;
            }
            t->looked_up = true;
            if (cache_key (provider_name (p), t->transfer.url, t->cache_key, sizeof t->cache_key)) {
                mg_warn ("response cache unavailable", "reason=\"cache key too long\"");
                t->cache_key [0] = '\0';
                break;
            }
            ask [n] = t;
            keys [n] = t->cache_key;
            ttl [n] = run->config->ttl_ms [p];
            n++;
        }
    }
    if (n == 0)
        return 0;
    char why [FETCHER_WHY_LEN];
    if (cache_get_many (run->redis, n, keys, ttl, entries, why, sizeof why))
        mg_warn ("response cache unavailable", "reason=\"%s\"", why);
    for (size_t i = 0; i < n; i++)
        ask [i]->cached = entries [i];
    return n;
}

int
fetch_run (const fetch_config_t *config, mg_redis_t *redis, PGconn *pg, mg_client_t *client,
           http_engine_t *engine, fetch_counters_t *counters, const fetch_item_t *items, size_t count,
           fetch_stats_t *stats)
{
    assert (config && redis && client && engine && stats);
    memset (stats, 0, sizeof *stats);
    s_run_t run = { .config = config, .redis = redis, .pg = pg, .client = client, .engine = engine,
                    .counters = counters, .stats = stats };
    run.sender = fetch_sender_new (client, (size_t) config->batch, config->flush_ms);
    size_t slots = (size_t) config->concurrency;
    s_title_t *titles = calloc (slots, sizeof *titles);
    s_title_t **active = calloc (slots, sizeof *active);
    run.put_max = slots;
    run.put_keys = calloc (slots, sizeof *run.put_keys);
    run.put_bodies = calloc (slots, sizeof *run.put_bodies);
    run.put_lens = calloc (slots, sizeof *run.put_lens);
    run.put_etags = calloc (slots, sizeof *run.put_etags);
    run.ask = calloc (slots, sizeof *run.ask);
    run.keys = calloc (slots, sizeof *run.keys);
    run.bodies = calloc (slots, sizeof *run.bodies);
    run.etags = calloc (slots, sizeof *run.etags);
    run.ttl = calloc (slots, sizeof *run.ttl);
    run.entries = calloc (slots, sizeof *run.entries);
    int rc = -1;
    if (!run.sender || !titles || !active || !run.put_keys || !run.put_bodies || !run.put_lens
    ||  !run.put_etags || !run.ask || !run.keys || !run.bodies || !run.etags || !run.ttl
    ||  !run.entries)
        goto done;
    size_t next = 0, busy = 0;
    while (next < count || busy > 0) {
        //  Stopping: the titles not done wait for the next run (the titles
        //  in flight are cancelled below), and nothing more is sent.
        if (config->stop && atomic_load (config->stop)) {
            mg_info ("run stopped early", "titles_done=%zu titles_left=%zu", next - busy, count - next + busy);
            goto done;
        }
        int64_t now = zclock_mono ();
        int64_t wake = now + POLL_MAX_MS;
        //  Rounds of one cache round trip for every title that needs a
        //  look-up, then moving each title as far as it goes; a title served
        //  from the cache needs its next step's look-up in the next round.
        for (int round = 0; round < LOOKUP_ROUNDS; round++) {
            for (size_t i = 0; i < slots && next < count; i++) {
                if (active [i])
                    continue;
                s_title_t *t = active [i] = &titles [i];
                memset (t, 0, sizeof *t);
                t->item = items [next++];
                if (strcmp (t->item.type, "tv") != 0)
                    snprintf (t->item.type, sizeof t->item.type, "movie");
                t->transfer.rl_remaining = t->transfer.rl_reset_ms = -1;
                stats->titles++;
                busy++;
            }
            if (s_lookup (&run, active, slots, now) == 0 && round > 0)
                break;
            for (size_t i = 0; i < slots; i++) {
                s_title_t *t = active [i];
                if (!t)
                    continue;
                s_advance (&run, t, now);
                if (t->step == STEP_DONE && !t->in_flight) {
                    json_decref (t->record);
                    json_decref (t->offers);
                    cache_entry_clear (&t->cached);
                    http_transfer_reset (&t->transfer);
                    active [i] = NULL;
                    busy--;
                }
            }
        }
        bool pending = false;           //  a title is due now (its look-up waits for the next turn)
        for (size_t i = 0; i < slots; i++) {
            s_title_t *t = active [i];
            if (t && !t->in_flight && t->not_before_ms < wake)
                wake = t->not_before_ms;
            pending = pending || (t && !t->in_flight && !t->looked_up && now >= t->not_before_ms);
        }
        if (busy == 0 && next >= count)
            break;
        if (pending || (next < count && busy < slots))
            wake = now;
        int wait = (int) (wake - zclock_mono ());
        if (http_engine_poll (engine, wait > 0 ? wait : 0, s_on_done, &run) < 0) {
            mg_error ("curl multi failed", NULL);
            break;
        }
        s_put_flush (&run);
        fetch_sender_tick (run.sender);
        if (http_engine_running (engine) == 0 && wait > 0) {
            struct timespec pause = { wait / 1000, (long) (wait % 1000) * 1000000L };
            nanosleep (&pause, NULL);
        }
    }
    rc = 0;
    for (int p = 0; p < PROVIDER_COUNT; p++)
        s_breaker_flush (&run, (provider_id_t) p, 0);
    s_put_flush (&run);
    int64_t queued = fetch_sender_close (run.sender);
    if (queued < 0)
        rc = -1;
    else
        stats->queued = (uint64_t) queued;
done:
    //  Titles left by a failed engine: their transfers leave the engine
    //  before the titles holding them are freed, then their parts.
    for (size_t i = 0; active && i < slots; i++)
        if (active [i]) {
            http_engine_cancel (engine, &active [i]->transfer);
            json_decref (active [i]->record);
            json_decref (active [i]->offers);
            cache_entry_clear (&active [i]->cached);
        }
    fetch_sender_destroy (&run.sender);
    free (titles);
    free (active);
    free (run.ask);
    free (run.keys);
    free (run.bodies);
    free (run.etags);
    free (run.ttl);
    free (run.entries);
    free (run.put_keys);
    free (run.put_bodies);
    free (run.put_lens);
    free (run.put_etags);
    return rc;
}
