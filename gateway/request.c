/*  The request record's own behaviour: the clock its latencies are taken
    with, and its completion, which runs the hook of the stage that started
    it (server.c) so that respond.c and sse.c never call back into it.  */
#include "gw_request.h"

#include <assert.h>
#include <time.h>

int64_t
gw_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
gw_request_done (gw_request_t *request, int status)
{
    assert (request && request->done);
    request->done (request, status);
}
