/*  A user's replicated state and the operations that change it. Every
    operation commutes with every other, so replicas that apply the same set
    of operations in any order, each once, end in the same state:

    watchlist    add-wins observed-remove set. Each add carries a unique tag
                 (its op id); a remove names the tags it has seen, and so may
                 an add (the earlier adds it supersedes), so a title added
                 again and again keeps one live tag. Ending a tag that is
                 live drops it; ending one whose add has not come yet leaves
                 a tombstone (with the time of the op that ended it), so that
                 add stays removed when it comes, and the tombstone goes
                 then. An add the remover had not seen survives: a concurrent
                 add and remove end with the title present. sync_state_compact
                 drops tombstones older than a horizon (an add delayed longer
                 than that could bring a removed title back).
    progress     last-writer-wins register per title: the highest HLC wins,
                 whatever order the writes arrive in.
    preferences  last-writer-wins register per field.

    Applying one operation twice is not idempotent for removes: callers
    de-duplicate by op id (the sync actor's op log does).  */
#ifndef SYNC_CRDT_H_INCLUDED
#define SYNC_CRDT_H_INCLUDED

#include "hlc.h"
#include <jansson.h>
#include <stddef.h>

#define SYNC_OP_ID_MAX        128     //  bytes of an op id
#define SYNC_TAGS_MAX         64      //  tags an add or a remove may name
#define SYNC_FIELD_MAX        32      //  bytes of a preference name
#define SYNC_VALUE_MAX        4096    //  bytes of a preference value as JSON

typedef enum {
    SYNC_WATCHLIST_ADD,
    SYNC_WATCHLIST_REMOVE,
    SYNC_PROGRESS_SET,
    SYNC_PREFERENCES_SET
} sync_op_type_t;

//  One operation; strings and value are borrowed from the JSON it was read from.
typedef struct {
    const char *op_id;
    sync_op_type_t type;
    hlc_t hlc;
    const char *device;               //  device that made it, NULL for the account itself
    const char *content_id;           //  watchlist and progress
    const char *tags [SYNC_TAGS_MAX]; //  add, remove: the add tags it ends
    size_t ntags;
    double position_s;                //  progress
    double duration_s;                //  0 = unknown
    bool completed;
    const char *field;                //  preferences
    const json_t *value;
} sync_op_t;

//  Name of type as the API spells it ("watchlist.add", ...).
const char *sync_op_type_name (sync_op_type_t type);

//  Read an operation from its JSON (the API's shape: {op_id, type, hlc,
//  device_id, content_id, tags, position_s, duration_s, completed, field,
//  value}).
//  hlc is required here: the caller stamps operations that come without one.
//  Returns 0, or -1 with a reason naming the field.
int sync_op_from_json (const json_t *json, sync_op_t *op, char *err, size_t errlen);

//  The operation as JSON (the same shape sync_op_from_json reads). New object.
json_t *sync_op_to_json (const sync_op_t *op);

//  Complete op (read from op_json) as the replica that logs it first (the
//  server) records it, from state before it applies: a remove without tags
//  names every live add of the title; an add also names every live add of
//  the title (it supersedes them, so at most one stays live), unless a
//  remove of its own tag came first. Rewrites op_json's tags and reads op
//  again from it. 0, or -1 with a reason (out of memory).
int sync_op_settle (const json_t *state, json_t *op_json, sync_op_t *op, char *err, size_t errlen);

//  A new, empty state (a JSON object owned by the caller).
json_t *sync_state_new (void);

//  Check that json is a state this module wrote (from storage). 0 or -1.
int sync_state_check (const json_t *state, char *err, size_t errlen);

//  Apply op to state. Returns 0, or -1 when state cannot hold it (out of memory).
int sync_state_apply (json_t *state, const sync_op_t *op);

//  Drop tombstones older than horizon, and titles left with nothing.
void sync_state_compact (json_t *state, hlc_t horizon);

//  Number of titles on the watchlist of state.
size_t sync_state_titles (const json_t *state);

//  Bound what state holds whatever its ops: the progress_max most recently
//  updated titles' progress, and per title the dead_max newest tombstones.
//  Not an operation: the replica that stores the state (the server) trims
//  it, and a dropped tombstone only lets an add that comes later still
//  than dead_max other removes of that title list it again.
void sync_state_trim (json_t *state, size_t progress_max, size_t dead_max);

//  Tags of the live adds of content_id in state (borrowed, at most
//  SYNC_TAGS_MAX); the count. What a remove sent without tags removes.
size_t sync_state_tags (const json_t *state, const char *content_id, const char *tags [SYNC_TAGS_MAX]);

//  What users see: {watchlist:[{content_id, added_at, tags}] newest first,
//  progress:[{content_id, position_s, duration_s, completed, updated_at,
//  device_id?}] newest first, preferences:{field: value}}. New object.
json_t *sync_state_view (const json_t *state);

#endif
