/*  guard.c: the guard stage of /api/v1 and /mcp requests: who is calling
    and one rate-limit decision, then request->dispatch.  */
#ifndef GW_GUARD_H_INCLUDED
#define GW_GUARD_H_INCLUDED

#include "gw_request.h"

//  Identify the caller of an /api/v1 request, check its rate limit, add the
//  rate-limit headers, then request->dispatch it (or answer 401/429/503).
void gw_guard (gw_request_t *request);

//  The answer of a request whose rate decision is still out
//  (request->rate_parallel) is ready with status (request->hold). Holds it,
//  or, when the decision was a refusal, answers that instead.
void gw_guard_hold (gw_request_t *request, int status);

#endif
