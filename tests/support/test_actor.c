/*  mg-test-actor: a real actor on the real runtime for runtime and broker
    tests. Service "test": test.ping (built in) and test.sleep {ms, tag},
    which holds the request to exercise busy workers. When it starts, a
    request with a tag appends the tag as a line to the file MG_TEST_TRACE
    names: the side effect tests look for to tell whether it ran.  */
#include "mg_actor.h"
#include "mg_config.h"
#include "mg_log.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int
s_on_sleep (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sleep_request_t *request = req;
    mg_ping_reply_t *reply = rep;
    (void) state;
    if (request->ms > 60000)
        return mg_actor_fail (err, "INVALID_PARAMETER", "ms", "ms must be at most 60000");
    const char *trace = getenv ("MG_TEST_TRACE");
    if (request->tag && trace) {
        FILE *file = fopen (trace, "a");
        bool written = file && fprintf (file, "%s\n", request->tag) >= 0;
        if (file && fclose (file) != 0)
            written = false;
        if (!written)
            return mg_actor_fail (err, "INTERNAL", NULL, "cannot write the trace file");
    }
    zclock_sleep ((int) request->ms);
    reply->service = strdup ("test");
    reply->host = strdup ("test");
    reply->pid = (uint64_t) getpid ();
    reply->has_pid = true;
    reply->uptime_ms = request->ms;
    reply->has_uptime_ms = true;
    return 0;
}

int
main (void)
{
    mg_log_init ("test");
    zsys_init ();
    static const mg_method_t methods [] = {
        { "test.sleep", &mg_sleep_request_desc, &mg_ping_reply_desc, s_on_sleep },
        { NULL, NULL, NULL, NULL }
    };
    mg_actor_t *actor = mg_actor_new ("test", methods);
    if (!actor)
        return EXIT_FAILURE;
    int rc = mg_actor_run (actor);
    mg_actor_destroy (&actor);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
