/*  preflight.c: CORS preflights, answered at the accept stage.  */
#ifndef GW_PREFLIGHT_H_INCLUDED
#define GW_PREFLIGHT_H_INCLUDED

#include "gw_request.h"

//  A CORS preflight on /api/v1 or /mcp is answered here (204, or 403 for an
//  origin not allowed, 404 for no such path): true. Anything else: false.
bool gw_cors_preflight (gw_request_t *request);

#endif
