/*  mg-fetcher-replay: hand the pending dead letters back to a fetcher
    (fetcher.replay over the bus) and print what the run did.
        mg-fetcher-replay [--max N]   (default 100)  */
#include "mg_client.h"
#include "mg_config.h"
#include "mg_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_TTL_MS 600000        //  a replay fetches every letter's title: minutes at worst

int
main (int argc, char **argv)
{
    mg_log_init ("fetcher-replay");
    mg_fetcher_replay_request_t request = { 0 };
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp (argv [i], "--max") == 0 && i + 1 < argc) {
            long long max = strtoll (argv [++i], &end, 10);
            if (!*argv [i] || *end || max < 1 || max > 10000) {
                fprintf (stderr, "mg-fetcher-replay: --max must be 1 to 10000\n");
                return 2;
            }
            request.max = (uint64_t) max;
            request.has_max = true;
        }
        else {
            fprintf (stderr, "usage: mg-fetcher-replay [--max N]\n");
            return 2;
        }
    }
    mg_client_t *client = mg_client_new (mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555"));
    if (!client) {
        fprintf (stderr, "mg-fetcher-replay: cannot reach the broker\n");
        return 1;
    }
    mg_fetcher_run_reply_t reply = { 0 };
    mg_error_t err = { 0 };
    int rc = mg_client_call (client, "fetcher.replay", &mg_fetcher_replay_request_desc, &request,
                             &mg_fetcher_run_reply_desc, &reply, REPLAY_TTL_MS, &err);
    if (rc) {
        fprintf (stderr, "mg-fetcher-replay: %s: %s\n", err.code ? err.code : "ERROR",
                 err.message ? err.message : "no answer");
        mg_msg_clear (&mg_error_desc, &err);
    }
    else {
        printf ("replayed %llu dead letters: %llu titles, %llu queued, %llu failed again "
                "(new dead letters), %llu provider calls\n",
                (unsigned long long) reply.replayed, (unsigned long long) reply.titles,
                (unsigned long long) reply.queued, (unsigned long long) reply.failed,
                (unsigned long long) reply.calls);
        mg_msg_clear (&mg_fetcher_run_reply_desc, &reply);
    }
    mg_client_destroy (&client);
    return rc ? 1 : 0;
}
