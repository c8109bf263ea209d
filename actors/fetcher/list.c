/*  TMDB lists (trending, popular, changes) into titles to fetch: page 1
    first (it says how many pages there are), then the others concurrently,
    each request taken from the shared TMDB quota and retried with the
    run's backoff.  */
#include "job.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

#define POLL_MAX_MS      50         //  how often a waiting page's transfer is polled
#define LIST_PAGE_MAX    20         //  TMDB lists give 20 titles a page

//  http_engine_poll's callback when the caller watches the transfer itself.
static void
s_noop (void *arg, http_transfer_t *transfer)
{
    (void) arg;
    (void) transfer;
}

//  Sleep ms milliseconds.
static void
s_sleep_ms (int64_t ms)
{
    struct timespec pause = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep (&pause, NULL);
}

//  Start x after taking a TMDB request from the shared quota (waiting for
//  the rate). Returns 0 or -1 with why.
static int
s_list_start (const fetch_config_t *config, mg_redis_t *redis, http_engine_t *engine,
              http_transfer_t *x, char *why, size_t whylen)
{
    quota_grant_t grant = { 0 };
    while (quota_take (redis, &config->quota [PROVIDER_TMDB], 1, &grant, why, whylen) == 0
       &&  !grant.granted && !grant.exhausted)
        s_sleep_ms (grant.wait_ms > 0 ? grant.wait_ms : 1);
    if (!grant.granted) {
        if (grant.exhausted)
            snprintf (why, whylen, "TMDB quota spent");
        return -1;
    }
    if (http_engine_start (engine, x)) {
        snprintf (why, whylen, "cannot start a transfer");
        return -1;
    }
    return 0;
}

//  A finished list page's ids into items. Returns 0 or -1 with why.
static int
s_list_take (http_transfer_t *x, fetch_counters_t *counters, const char *list, int page,
             fetch_item_t *items, size_t max, size_t *count, int *total, char *why, size_t whylen)
{
    if (counters)
        atomic_fetch_add (&counters [PROVIDER_TMDB].calls, 1);
    long long ids [LIST_PAGE_MAX * 5];
    size_t got = 0;
    if (x->status == 200 && x->body
    &&  tmdb_parse_ids (x->body, x->len, ids, sizeof ids / sizeof ids [0], &got, total, why, whylen) == 0) {
        for (size_t i = 0; i < got && *count < max; i++) {
            items [*count].tmdb = ids [i];
            snprintf (items [*count].type, sizeof items [0].type, "movie");
            (*count)++;
        }
        return 0;
    }
    if (counters)
        atomic_fetch_add (&counters [PROVIDER_TMDB].failures, 1);
    if (x->status != 200)
        snprintf (why, whylen, "TMDB %s page %d: %ld %.100s", list, page, x->status, x->error);
    return -1;
}

//  One page with its retries. Returns 0 or -1 with why.
static int
s_list_page (const fetch_config_t *config, mg_redis_t *redis, http_engine_t *engine,
             fetch_counters_t *counters, const char *list, int page, fetch_item_t *items,
             size_t max, size_t *count, int *total, char *why, size_t whylen)
{
    http_transfer_t x = { .rl_remaining = -1, .rl_reset_ms = -1 };
    if (tmdb_list_url (config->base [PROVIDER_TMDB], config->key [PROVIDER_TMDB], list, page,
                       x.url, sizeof x.url)) {
        snprintf (why, whylen, "cannot build the TMDB %s request", list);
        return -1;
    }
    int rc = -1;
    for (int attempt = 1; attempt <= config->retry.max_attempts && rc; attempt++) {
        if (s_list_start (config, redis, engine, &x, why, whylen))
            break;
        while (x.easy)
            if (http_engine_poll (engine, POLL_MAX_MS, s_noop, NULL) < 0) {
                snprintf (why, whylen, "curl multi failed");
                http_transfer_reset (&x);
                return -1;
            }
        rc = s_list_take (&x, counters, list, page, items, max, count, total, why, whylen);
        if (rc && !retry_is_retryable (x.status) && x.status != 200)
            break;
        if (rc && attempt < config->retry.max_attempts) {
            int64_t after = retry_after_ms (x.retry_after [0] ? x.retry_after : NULL, (int64_t) time (NULL));
            s_sleep_ms (retry_delay_ms (&config->retry, attempt, after, randombytes_random ()));
        }
        http_transfer_reset (&x);
    }
    http_transfer_reset (&x);
    return rc;
}

int
fetch_list (const fetch_config_t *config, mg_redis_t *redis, http_engine_t *engine,
            fetch_counters_t *counters, const char *list, int pages, fetch_item_t *items,
            size_t max, size_t *count, char *why, size_t whylen)
{
    assert (config && redis && engine && list && items && count);
    *count = 0;
    //  Page 1 says how many there are; the others are fetched concurrently.
    int total = 0;
    if (s_list_page (config, redis, engine, counters, list, 1, items, max, count, &total, why, whylen))
        return -1;
    int last = pages < total ? pages : total;
    size_t slots = (size_t) config->concurrency;
    http_transfer_t *x = calloc (slots, sizeof *x);
    if (!x) {
        snprintf (why, whylen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int first = 2; rc == 0 && first <= last && *count < max; first += (int) slots) {
        int n = last - first + 1 < (int) slots ? last - first + 1 : (int) slots;
        for (int i = 0; rc == 0 && i < n; i++) {
            x [i] = (http_transfer_t) { .rl_remaining = -1, .rl_reset_ms = -1 };
            if (tmdb_list_url (config->base [PROVIDER_TMDB], config->key [PROVIDER_TMDB], list, first + i,
                               x [i].url, sizeof x [i].url)
            ||  s_list_start (config, redis, engine, &x [i], why, whylen))
                rc = -1;
        }
        while (http_engine_running (engine) > 0)
            if (http_engine_poll (engine, POLL_MAX_MS, s_noop, NULL) < 0) {
                snprintf (why, whylen, "curl multi failed");
                rc = -1;
                break;
            }
        for (int i = 0; i < n; i++) {
            int ignored;
            //  A page that failed gets its retries one by one.
            if (rc == 0 && s_list_take (&x [i], counters, list, first + i, items, max, count, &ignored, why, whylen)
            &&  s_list_page (config, redis, engine, counters, list, first + i, items, max, count, &ignored, why, whylen))
                rc = -1;
            http_transfer_reset (&x [i]);
        }
    }
    //  After a failed poll some pages may still be in the engine.
    for (size_t i = 0; i < slots; i++)
        http_engine_cancel (engine, &x [i]);
    free (x);
    return rc;
}
