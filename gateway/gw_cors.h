/*  cors.c: CORS headers of answers and HTTP validators (a lower layer:
    respond.c and SSE streams use it).  */
#ifndef GW_CORS_H_INCLUDED
#define GW_CORS_H_INCLUDED

#include "gw_request.h"

//  Is the request under /api/v1 or /mcp, where CORS applies?
bool gw_cors_applies (const gw_request_t *request);

//  Access-Control-Allow-Origin for origin (and Vary when it depends on it);
//  false when the origin is not allowed.
bool gw_cors_allow_origin (gw_request_t *request, const char *origin);

//  Access-Control-Allow-Origin and -Expose-Headers on an answer to an
//  allowed Origin under /api/v1 or /mcp (respond.c and SSE streams).
void gw_cors_headers (gw_request_t *request);

//  Is origin one that MG_CORS_ORIGINS allows?
bool gw_cors_origin_allowed (const gw_config_t *config, const char *origin);

//  A 200 to GET/HEAD on a GW_ROUTE_PUBLIC route: add ETag and Cache-Control;
//  304 (body dropped) when If-None-Match names the ETag. Returns the status to send.
int gw_http_validate (gw_request_t *request, int status);

#endif
