/*  libFuzzer: the JSON-RPC decoder of /mcp (gateway/mcp_rpc.c) on arbitrary
    bytes. Every input is either refused with one of the codes the
    transport sends for a message it cannot take (-32700, -32600, -32602)
    and a reason, or sorted into exactly one kind whose fields agree with
    it: a request has a string or integer id and a method, a notification
    a method and no id, a response an id and no method; params, when
    present, is an object. A decoded message written out again decodes to
    the same kind, method and id.  */
#include "gw_mcp.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  The fields of a decoded message agree with its kind; abort otherwise.
static void
s_check (const gw_rpc_t *rpc)
{
    if (rpc->params && !json_is_object (rpc->params))
        abort ();
    if (rpc->id && !json_is_string (rpc->id) && !json_is_integer (rpc->id))
        abort ();
    switch (rpc->kind) {
        case GW_RPC_REQUEST:
            if (!rpc->id || !rpc->method)
                abort ();
            break;
        case GW_RPC_NOTIFICATION:
            if (rpc->id || !rpc->method)
                abort ();
            break;
        case GW_RPC_RESPONSE:
            if (!rpc->id || rpc->method)
                abort ();
            break;
        default:
            abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    gw_rpc_t rpc;
    if (gw_rpc_decode ((const char *) data, size, &rpc)) {
        if (!rpc.why || (rpc.code != GW_RPC_PARSE_ERROR && rpc.code != GW_RPC_INVALID_REQUEST
                     &&  rpc.code != GW_RPC_INVALID_PARAMS))
            abort ();
        if (rpc.code == GW_RPC_PARSE_ERROR && (rpc.root || rpc.id))
            abort ();
        gw_rpc_clear (&rpc);
        return 0;
    }
    s_check (&rpc);
    char *text = json_dumps (rpc.root, JSON_COMPACT);
    if (text) {
        gw_rpc_t again;
        if (gw_rpc_decode (text, strlen (text), &again))
            abort ();
        s_check (&again);
        //  (json_equal of two NULLs is false: a notification has no id to compare)
        if (again.kind != rpc.kind || (rpc.id && !json_equal (again.id, rpc.id))
        ||  (rpc.method && strcmp (again.method, rpc.method)))
            abort ();
        gw_rpc_clear (&again);
        free (text);
    }
    gw_rpc_clear (&rpc);
    return 0;
}
