/*  mg-test-actor: a real actor on the real runtime for runtime and broker
    tests. Service "test" (or MG_TEST_SERVICE): test.ping (built in) and
    test.sleep {ms}, which holds the request to exercise busy workers.  */
#include "mg_actor.h"
#include "mg_config.h"
#include "mg_log.h"

#include <czmq.h>
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
