/*  mg-fetcher-cli: ask a running fetcher to work, over the bus.
        mg-fetcher-cli replay [--max N]          pending dead letters (default 100)
        mg-fetcher-cli refresh LIST [--pages N]  trending | popular | changes
        mg-fetcher-cli title TMDB_ID [--tv]
    Prints what the run did; exits 1 when the fetcher refused or did not answer.  */
#include "mg_client.h"
#include "mg_config.h"
#include "mg_frame.h"
#include "mg_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_TTL_MS MG_TTL_MAX_MS    //  the longest the bus allows; a longer run goes on after the answer is given up

//  A whole number in [min, max] from text, or -1.
static long long
s_number (const char *text, long long min, long long max)
{
    char *end;
    long long v = strtoll (text, &end, 10);
    return *text && !*end && v >= min && v <= max ? v : -1;
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: mg-fetcher-cli replay [--max N]\n"
                     "       mg-fetcher-cli refresh trending|popular|changes [--pages N]\n"
                     "       mg-fetcher-cli title TMDB_ID [--tv]\n");
    return 2;
}

int
main (int argc, char **argv)
{
    mg_log_init ("fetcher-cli");
    if (argc < 2)
        return s_usage ();
    const char *method = NULL;
    const mg_msgdesc_t *desc = NULL;
    mg_fetcher_replay_request_t replay = { 0 };
    mg_fetcher_refresh_request_t refresh = { 0 };
    mg_fetcher_title_request_t title = { 0 };
    const void *request = NULL;
    if (strcmp (argv [1], "replay") == 0) {
        method = "fetcher.replay", desc = &mg_fetcher_replay_request_desc, request = &replay;
        for (int i = 2; i < argc; i++) {
            if (strcmp (argv [i], "--max") || i + 1 == argc || s_number (argv [i + 1], 1, 10000) < 0)
                return s_usage ();
            replay.max = (uint64_t) s_number (argv [++i], 1, 10000);
            replay.has_max = true;
        }
    }
    else if (strcmp (argv [1], "refresh") == 0 && argc >= 3) {
        method = "fetcher.refresh", desc = &mg_fetcher_refresh_request_desc, request = &refresh;
        refresh.list = argv [2];
        for (int i = 3; i < argc; i++) {
            if (strcmp (argv [i], "--pages") || i + 1 == argc || s_number (argv [i + 1], 1, 500) < 0)
                return s_usage ();
            refresh.pages = (uint64_t) s_number (argv [++i], 1, 500);
            refresh.has_pages = true;
        }
    }
    else if (strcmp (argv [1], "title") == 0 && argc >= 3 && s_number (argv [2], 1, 1LL << 40) > 0) {
        method = "fetcher.title", desc = &mg_fetcher_title_request_desc, request = &title;
        title.tmdb = s_number (argv [2], 1, 1LL << 40);
        title.has_tmdb = true;
        for (int i = 3; i < argc; i++) {
            if (strcmp (argv [i], "--tv"))
                return s_usage ();
            title.type = "tv";
        }
    }
    else
        return s_usage ();
    mg_client_t *client = mg_client_new (mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555"));
    if (!client) {
        fprintf (stderr, "mg-fetcher-cli: cannot reach the broker\n");
        return 1;
    }
    mg_fetcher_run_reply_t reply = { 0 };
    mg_error_t err = { 0 };
    int rc = mg_client_call (client, method, desc, request, &mg_fetcher_run_reply_desc, &reply,
                             RUN_TTL_MS, &err);
    if (rc) {
        fprintf (stderr, "mg-fetcher-cli: %s: %s\n", err.code ? err.code : "ERROR",
                 err.message ? err.message : "no answer");
        mg_msg_clear (&mg_error_desc, &err);
    }
    else {
        printf ("titles=%llu queued=%llu failed=%llu calls=%llu cache_hits=%llu stale=%llu",
                (unsigned long long) reply.titles, (unsigned long long) reply.queued,
                (unsigned long long) reply.failed, (unsigned long long) reply.calls,
                (unsigned long long) reply.cache_hits, (unsigned long long) reply.stale);
        if (reply.has_replayed)
            printf (" replayed=%llu", (unsigned long long) reply.replayed);
        if (reply.has_took_ms)
            printf (" took_ms=%llu", (unsigned long long) reply.took_ms);
        printf ("\n");
        mg_msg_clear (&mg_fetcher_run_reply_desc, &reply);
    }
    mg_client_destroy (&client);
    return rc ? 1 : 0;
}
