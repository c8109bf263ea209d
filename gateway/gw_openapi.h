/*  openapi.c, openapi_yaml.c, openapi_serve.c: the OpenAPI 3.1 description, generated from
    the route table and the message descriptors (mg-openapi prints it:
    docs/openapi.yaml), and the handlers that serve it.  */
#ifndef GW_OPENAPI_H_INCLUDED
#define GW_OPENAPI_H_INCLUDED

#include "gw_request.h"

#include <jansson.h>

#define GW_OPENAPI_REAL_DIGITS 15   //  7.9, not jansson's default 7.9000000000000004

//  New document (caller decrefs), or NULL with a log line.
json_t *gw_openapi_document (void);

//  Append doc as YAML (block style, after a "generated" comment line) to
//  out. Returns 0, or -1.
int gw_openapi_yaml (const json_t *doc, struct evbuffer *out);

//  Build the YAML and JSON texts the handlers serve (once, before the
//  threads start). Returns 0, or -1 with a log line.
int gw_openapi_init (void);

//  Free the served texts.
void gw_openapi_term (void);

//  Local handlers of GET /api/v1/openapi.yaml and /api/v1/openapi.json.
void gw_openapi_serve_yaml (gw_request_t *request);
void gw_openapi_serve_json (gw_request_t *request);

#endif
