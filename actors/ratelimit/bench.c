/*  mg-ratelimit-bench: latency of rate-limit decisions.

        mg-ratelimit-bench [COUNT]

    1. "store": COUNT decisions through rl_store_check, the actor's own code
       path (one EVALSHA of the GCRA script) against MG_REDIS_URL;
    2. "bus": COUNT ratelimit.check calls through the broker at MG_BROKER to
       a running mg-ratelimit (what a gateway pays per request).
    Prints p50, p99 and mean in milliseconds for each, one line each.  */
#include "ratelimit.h"
#include "mg_client.h"
#include "mg_config.h"
#include "mg_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COUNT_DEFAULT 20000

static int64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  Print p50, p99 and mean of samples (ns).
static void
s_report (const char *name, int64_t *samples, size_t n)
{
    qsort (samples, n, sizeof *samples, s_cmp);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double) samples [i];
    printf ("%-6s n=%zu p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f\n", name, n,
            (double) samples [n / 2] / 1e6, (double) samples [n * 99 / 100] / 1e6, sum / (double) n / 1e6);
}

int
main (int argc, char **argv)
{
    mg_log_init ("ratelimit-bench");
    size_t count = argc > 1 ? (size_t) atol (argv [1]) : COUNT_DEFAULT;
    if (count < 100)
        count = 100;
    int64_t *samples = calloc (count, sizeof *samples);
    rl_tier_t tier = { .name = "bench" };
    const char *reason;
    rl_store_t *store = rl_store_new (mg_config_str ("MG_REDIS_URL", "redis://127.0.0.1:56379"), 1000);
    mg_client_t *client = mg_client_new (mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555"));
    if (!samples || !store || !client || rl_tier_parse ("1000000/s,1000000/m", &tier, &reason)) {
        fprintf (stderr, "mg-ratelimit-bench: cannot start\n");
        return 1;
    }
    char client_id [64];
    rl_decision_t decision;
    char why [256];
    for (size_t i = 0; i < count; i++) {
        snprintf (client_id, sizeof client_id, "bench:%zu", i % 1000);
        int64_t t0 = s_now_ns ();
        if (rl_store_check (store, &tier, client_id, 1, &decision, why, sizeof why)) {
            fprintf (stderr, "mg-ratelimit-bench: %s\n", why);
            return 1;
        }
        samples [i] = s_now_ns () - t0;
    }
    s_report ("store", samples, count);
    for (size_t i = 0; i < count; i++) {
        snprintf (client_id, sizeof client_id, "ip:10.0.%zu.%zu", (i / 250) % 250, i % 250);
        mg_ratelimit_request_t request = { .client = client_id, .tier = "enterprise" };
        mg_ratelimit_reply_t reply;
        mg_error_t err = { 0 };
        int64_t t0 = s_now_ns ();
        if (mg_client_call (client, "ratelimit.check", &mg_ratelimit_request_desc, &request,
                            &mg_ratelimit_reply_desc, &reply, 2000, &err)) {
            fprintf (stderr, "mg-ratelimit-bench: ratelimit.check failed: %s\n", err.code ? err.code : "?");
            return 1;
        }
        samples [i] = s_now_ns () - t0;
        mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    }
    s_report ("bus", samples, count);
    mg_client_destroy (&client);
    rl_store_destroy (&store);
    free (samples);
    return 0;
}
