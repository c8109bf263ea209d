/*  mcp.c, mcp_rpc.c, mcp_tools.c: /mcp, the Model Context Protocol's Streamable HTTP transport.  */
#ifndef GW_MCP_H_INCLUDED
#define GW_MCP_H_INCLUDED

#include "gw_request.h"

#include <jansson.h>

//  JSON-RPC 2.0 error codes (and MCP's resource-not-found).
#define GW_RPC_PARSE_ERROR        -32700
#define GW_RPC_INVALID_REQUEST    -32600
#define GW_RPC_METHOD_NOT_FOUND   -32601
#define GW_RPC_INVALID_PARAMS     -32602
#define GW_RPC_INTERNAL_ERROR     -32603
#define GW_RPC_RESOURCE_NOT_FOUND -32002

typedef enum {
    GW_RPC_REQUEST = 0,             //  method and id: answered
    GW_RPC_NOTIFICATION,            //  method, no id
    GW_RPC_RESPONSE                 //  id and result or error (we send no requests: ignored)
} gw_rpc_kind_t;

//  One decoded JSON-RPC message; id, method and params point into root.
typedef struct {
    json_t *root;
    gw_rpc_kind_t kind;
    json_t *id;                     //  string or integer; NULL for a notification
    const char *method;
    json_t *params;                 //  an object, or NULL
    int code;                       //  decoding failed: the JSON-RPC error code
    const char *why;                //  and a static reason
} gw_rpc_t;

//  Decode one message (len bytes of text, may be NULL). Returns 0, or -1
//  with rpc->code and rpc->why (rpc->id set when it could be read). Either
//  way gw_rpc_clear frees it.
int gw_rpc_decode (const char *text, size_t len, gw_rpc_t *rpc);
void gw_rpc_clear (gw_rpc_t *rpc);

//  The session store of one thread (a Redis client of config's URL,
//  connecting on first use). NULL on a bad URL (logged).
gw_mcp_t *gw_mcp_new (const gw_config_t *config);
void gw_mcp_destroy (gw_mcp_t **self_p);

//  Local handlers of POST and DELETE /mcp.
void gw_mcp_post (gw_request_t *request);
void gw_mcp_delete (gw_request_t *request);

//  Answer the request id with result (reference taken; NULL: 500).
//  stream: sent as one SSE event when the client accepts text/event-stream.
void gw_mcp_result (gw_request_t *request, const json_t *id, json_t *result, bool stream);

//  Answer a JSON-RPC error (data: reference taken, may be NULL).
void gw_mcp_error (gw_request_t *request, const json_t *id, int code, const char *message, json_t *data);

//  mcp_tools.c: describe the tools from the OpenAPI document (once, before
//  the threads start). Returns 0, or -1 with a log line.
int gw_mcp_tools_init (void);
void gw_mcp_tools_term (void);

//  New answers of tools/list, resources/list, resources/templates/list (caller owns).
json_t *gw_mcp_tools_list (void);
json_t *gw_mcp_resources_list (void);
json_t *gw_mcp_resource_templates (void);

//  tools/call and resources/read: answer request id (now or when the bus answers).
void gw_mcp_tools_call (gw_request_t *request, const json_t *id, const json_t *params);
void gw_mcp_resources_read (gw_request_t *request, const json_t *id, const json_t *params);

#endif
