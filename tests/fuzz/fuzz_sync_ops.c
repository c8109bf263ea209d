/*  libFuzzer: POST /api/v1/sync/ops bodies (actors/sync/batch.c, crdt.c)
    against arbitrary bytes. Nothing may crash or leak; a refused body
    carries an error code; every op that reads is applied as the server
    applies it (completed by sync_op_settle first), after which no title
    holds more than one live add, and the merged state always fits the
    sync.state reply.  */
#include "sync.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define STAMP  "0000000003e8-00000000-00000001"    //  what the server stamps an op without hlc with

//  Abort unless every title of state holds at most one live add.
static void
s_check_live (const json_t *state)
{
    const char *content_id;
    json_t *entry;
    json_object_foreach (json_object_get (state, "watchlist"), content_id, entry)
        if (json_object_size (json_object_get (entry, "tags")) > 1)
            abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *body = malloc (size + 1);
    if (!body)
        return 0;
    memcpy (body, data, size);
    body [size] = '\0';
    json_t *ops = NULL;
    char device [37];
    mg_error_t err = { 0 };
    if (sync_batch_read (body, NULL, &ops, device, &err)) {
        if (!err.code || !*err.code)
            abort ();
        mg_msg_clear (&mg_error_desc, &err);
        free (body);
        return 0;
    }
    if (json_array_size (ops) > SYNC_BATCH_MAX)
        abort ();
    json_t *state = sync_state_new ();
    size_t index;
    json_t *op;
    json_array_foreach (ops, index, op) {
        if (!json_is_object (op))
            continue;
        if (!json_object_get (op, "hlc"))
            json_object_set_new (op, "hlc", json_string (STAMP));
        sync_op_t parsed;
        char reason [256];
        if (sync_op_from_json (op, &parsed, reason, sizeof reason)
        ||  sync_op_check_preference (&parsed, reason, sizeof reason))
            continue;
        if (sync_op_settle (state, op, &parsed, reason, sizeof reason) || sync_state_apply (state, &parsed))
            abort ();
        s_check_live (state);
    }
    json_t *view = sync_state_view (state);
    if (!view)
        abort ();
    json_object_set_new (view, "hlc", json_string (STAMP));
    mg_sync_state_t reply;
    char reason [256];
    if (mg_msg_from_json (&mg_sync_state_desc, view, &reply, reason, sizeof reason))
        abort ();
    mg_msg_clear (&mg_sync_state_desc, &reply);
    json_decref (view);
    json_decref (state);
    json_decref (ops);
    free (body);
    return 0;
}
