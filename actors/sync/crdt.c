/*  Replicated user state (see crdt.h). The state is a JSON object, stored
    as is in sync_state:
        {"watchlist":   {"<content_id>": {"tags": {"<tag>": "<hlc>"}, "dead": {"<tag>": "<hlc>"}}},
         "progress":    {"<content_id>": {"position_s", "duration_s", "completed", "hlc", "device_id"?}},
         "preferences": {"<field>": {"value": <any>, "hlc": "<hlc>"}}}  */
#include "crdt.h"
#include "mg_uuid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_type_names [] = {
    "watchlist.add", "watchlist.remove", "progress.set", "preferences.set"
};

const char *
sync_op_type_name (sync_op_type_t type)
{
    return s_type_names [type];
}

static int
s_fail (char *err, size_t errlen, const char *fmt, const char *field)
{
    snprintf (err, errlen, fmt, field);
    return -1;
}

//  A string member of json, or NULL (err filled when present but wrong, or
//  missing and required).
static const char *
s_string (const json_t *json, const char *key, size_t max, bool required, char *err, size_t errlen, int *rc)
{
    const json_t *value = json_object_get (json, key);
    if (!value) {
        if (required)
            *rc = s_fail (err, errlen, "%s is required", key);
        return NULL;
    }
    if (!json_is_string (value) || json_string_length (value) == 0 || json_string_length (value) > max
    ||  strlen (json_string_value (value)) != json_string_length (value)) {
        *rc = s_fail (err, errlen, "%s must be a non-empty string", key);
        return NULL;
    }
    return json_string_value (value);
}

//  A preference name: [a-z][a-z0-9_]*, at most SYNC_FIELD_MAX bytes.
static bool
s_is_field_name (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > SYNC_FIELD_MAX || name [0] < 'a' || name [0] > 'z')
        return false;
    return strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

int
sync_op_from_json (const json_t *json, sync_op_t *op, char *err, size_t errlen)
{
    memset (op, 0, sizeof *op);
    if (!json_is_object (json))
        return s_fail (err, errlen, "%s", "an op must be an object");
    int rc = 0;
    op->op_id = s_string (json, "op_id", SYNC_OP_ID_MAX, true, err, errlen, &rc);
    const char *type = rc ? NULL : s_string (json, "type", 32, true, err, errlen, &rc);
    const char *hlc = rc ? NULL : s_string (json, "hlc", HLC_TEXT_LEN, true, err, errlen, &rc);
    op->device = rc ? NULL : s_string (json, "device_id", 36, false, err, errlen, &rc);
    if (rc)
        return -1;
    size_t t = 0;
    while (t < 4 && strcmp (s_type_names [t], type) != 0)
        t++;
    if (t == 4)
        return s_fail (err, errlen, "%s", "type must be watchlist.add, watchlist.remove, progress.set or preferences.set");
    op->type = (sync_op_type_t) t;
    if (hlc_parse (hlc, &op->hlc))
        return s_fail (err, errlen, "%s", "hlc is not a timestamp this service issued");
    if (op->device && !mg_uuid_is (op->device, true))
        return s_fail (err, errlen, "%s", "device_id must be a device id (UUID)");
    if (op->type != SYNC_PREFERENCES_SET) {
        op->content_id = s_string (json, "content_id", 36, true, err, errlen, &rc);
        if (rc)
            return -1;
        if (!mg_uuid_is (op->content_id, true))
            return s_fail (err, errlen, "%s", "content_id must be a content id (UUID)");
    }
    if (op->type == SYNC_WATCHLIST_ADD || op->type == SYNC_WATCHLIST_REMOVE) {
        const json_t *tags = json_object_get (json, "tags");
        if (tags && (!json_is_array (tags) || json_array_size (tags) > SYNC_TAGS_MAX))
            return s_fail (err, errlen, "tags must be a list of at most %s op ids", "64");
        size_t index;
        const json_t *tag;
        json_array_foreach (tags, index, tag) {
            if (!json_is_string (tag) || json_string_length (tag) == 0 || json_string_length (tag) > SYNC_OP_ID_MAX)
                return s_fail (err, errlen, "%s", "tags must be op ids (strings)");
            op->tags [op->ntags++] = json_string_value (tag);
        }
    }
    if (op->type == SYNC_PROGRESS_SET) {
        const json_t *position = json_object_get (json, "position_s");
        const json_t *duration = json_object_get (json, "duration_s");
        const json_t *completed = json_object_get (json, "completed");
        if (!json_is_number (position) || !isfinite (json_number_value (position)) || json_number_value (position) < 0)
            return s_fail (err, errlen, "%s", "position_s must be a number of seconds >= 0");
        op->position_s = json_number_value (position);
        if (duration) {
            if (!json_is_number (duration) || !isfinite (json_number_value (duration)) || json_number_value (duration) <= 0)
                return s_fail (err, errlen, "%s", "duration_s must be a number of seconds > 0");
            op->duration_s = json_number_value (duration);
            if (op->position_s > op->duration_s)
                return s_fail (err, errlen, "%s", "position_s must not be past duration_s");
        }
        if (completed && !json_is_boolean (completed))
            return s_fail (err, errlen, "%s", "completed must be true or false");
        op->completed = json_is_true (completed);
    }
    if (op->type == SYNC_PREFERENCES_SET) {
        op->field = s_string (json, "field", SYNC_FIELD_MAX, true, err, errlen, &rc);
        if (rc)
            return -1;
        if (!s_is_field_name (op->field))
            return s_fail (err, errlen, "%s", "field must be a preference name ([a-z][a-z0-9_]*, at most 32 bytes)");
        op->value = json_object_get (json, "value");
        if (!op->value)
            return s_fail (err, errlen, "%s", "value is required");
        char *text = json_dumps (op->value, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t size = text ? strlen (text) : SYNC_VALUE_MAX + 1;
        free (text);
        if (size > SYNC_VALUE_MAX)
            return s_fail (err, errlen, "value must be at most %s bytes of JSON", "4096");
    }
    return 0;
}

json_t *
sync_op_to_json (const sync_op_t *op)
{
    char hlc [HLC_TEXT_LEN];
    hlc_format (op->hlc, hlc);
    json_t *json = json_pack ("{s:s, s:s, s:s}", "op_id", op->op_id, "type", s_type_names [op->type], "hlc", hlc);
    if (!json)
        return NULL;
    if (op->device)
        json_object_set_new (json, "device_id", json_string (op->device));
    if (op->content_id)
        json_object_set_new (json, "content_id", json_string (op->content_id));
    if (op->type == SYNC_WATCHLIST_REMOVE || (op->type == SYNC_WATCHLIST_ADD && op->ntags > 0)) {
        json_t *tags = json_array ();
        for (size_t i = 0; i < op->ntags; i++)
            json_array_append_new (tags, json_string (op->tags [i]));
        json_object_set_new (json, "tags", tags);
    }
    if (op->type == SYNC_PROGRESS_SET) {
        json_object_set_new (json, "position_s", json_real (op->position_s));
        if (op->duration_s > 0)
            json_object_set_new (json, "duration_s", json_real (op->duration_s));
        json_object_set_new (json, "completed", json_boolean (op->completed));
    }
    if (op->type == SYNC_PREFERENCES_SET) {
        json_object_set_new (json, "field", json_string (op->field));
        json_object_set (json, "value", (json_t *) op->value);
    }
    return json;
}

json_t *
sync_state_new (void)
{
    return json_pack ("{s:{}, s:{}, s:{}}", "watchlist", "progress", "preferences");
}

int
sync_state_check (const json_t *state, char *err, size_t errlen)
{
    const char *parts [] = { "watchlist", "progress", "preferences" };
    for (int i = 0; i < 3; i++)
        if (!json_is_object (json_object_get (state, parts [i])))
            return s_fail (err, errlen, "stored state has no %s", parts [i]);
    return 0;
}

//  The member key of object, created empty when missing.
static json_t *
s_child (json_t *object, const char *key)
{
    json_t *child = json_object_get (object, key);
    if (!child) {
        child = json_object ();
        if (!child || json_object_set_new (object, key, child))
            return NULL;
    }
    return child;
}

//  Parsed HLC of a stored text (zero when absent or bad: older than all).
static hlc_t
s_stored_hlc (const json_t *text)
{
    hlc_t t = { 0, 0, 0 };
    if (json_is_string (text))
        hlc_parse (json_string_value (text), &t);
    return t;
}

//  End the add tagged tag in entry: a live add is dropped at once (the op
//  log keeps its op id, so it is never applied again); an add not seen yet
//  gets a tombstone with the latest time that ended it, whatever the order.
static int
s_watchlist_end (json_t *entry, const char *tag, const char *hlc)
{
    json_t *tags = json_object_get (entry, "tags");
    json_t *dead = json_object_get (entry, "dead");
    if (json_object_get (tags, tag))
        return json_object_del (tags, tag);
    const json_t *known = json_object_get (dead, tag);
    if (known && strcmp (json_string_value (known), hlc) >= 0)
        return 0;
    return json_object_set_new (dead, tag, json_string (hlc));
}

//  Drop content_id's entry when it holds neither live adds nor tombstones.
static void
s_watchlist_tidy (json_t *watchlist, const char *content_id, const json_t *entry)
{
    if (json_object_size (json_object_get (entry, "tags")) == 0
    &&  json_object_size (json_object_get (entry, "dead")) == 0)
        json_object_del (watchlist, content_id);
}

//  An add ends the adds it names (those it supersedes), then lists the
//  title under its own tag, unless a remove of that tag came first: then
//  the tombstone has done its work and goes.
static int
s_watchlist_add (json_t *watchlist, const sync_op_t *op, const char *hlc)
{
    json_t *entry = s_child (watchlist, op->content_id);
    json_t *tags = entry ? s_child (entry, "tags") : NULL;
    json_t *dead = entry ? s_child (entry, "dead") : NULL;
    if (!tags || !dead)
        return -1;
    for (size_t i = 0; i < op->ntags; i++)
        if (strcmp (op->tags [i], op->op_id) != 0 && s_watchlist_end (entry, op->tags [i], hlc))
            return -1;
    int rc = json_object_get (dead, op->op_id) ? json_object_del (dead, op->op_id)
                                               : json_object_set_new (tags, op->op_id, json_string (hlc));
    s_watchlist_tidy (watchlist, op->content_id, entry);
    return rc;
}

static int
s_watchlist_remove (json_t *watchlist, const sync_op_t *op, const char *hlc)
{
    json_t *entry = s_child (watchlist, op->content_id);
    json_t *tags = entry ? s_child (entry, "tags") : NULL;
    json_t *dead = entry ? s_child (entry, "dead") : NULL;
    if (!tags || !dead)
        return -1;
    for (size_t i = 0; i < op->ntags; i++)
        if (s_watchlist_end (entry, op->tags [i], hlc))
            return -1;
    s_watchlist_tidy (watchlist, op->content_id, entry);
    return 0;
}

int
sync_state_apply (json_t *state, const sync_op_t *op)
{
    char hlc [HLC_TEXT_LEN];
    hlc_format (op->hlc, hlc);
    switch (op->type) {
        case SYNC_WATCHLIST_ADD:
            return s_watchlist_add (s_child (state, "watchlist"), op, hlc);
        case SYNC_WATCHLIST_REMOVE:
            return s_watchlist_remove (s_child (state, "watchlist"), op, hlc);
        case SYNC_PROGRESS_SET: {
            json_t *progress = s_child (state, "progress");
            const json_t *current = json_object_get (progress, op->content_id);
            if (current && hlc_compare (op->hlc, s_stored_hlc (json_object_get (current, "hlc"))) <= 0)
                return 0;
            json_t *value = json_pack ("{s:f, s:b, s:s}", "position_s", op->position_s,
                                       "completed", op->completed, "hlc", hlc);
            if (value && op->duration_s > 0)
                json_object_set_new (value, "duration_s", json_real (op->duration_s));
            if (value && op->device)
                json_object_set_new (value, "device_id", json_string (op->device));
            return value && progress ? json_object_set_new (progress, op->content_id, value) : -1;
        }
        case SYNC_PREFERENCES_SET: {
            json_t *preferences = s_child (state, "preferences");
            const json_t *current = json_object_get (preferences, op->field);
            if (current && hlc_compare (op->hlc, s_stored_hlc (json_object_get (current, "hlc"))) <= 0)
                return 0;
            json_t *value = json_pack ("{s:O, s:s}", "value", op->value, "hlc", hlc);
            return value && preferences ? json_object_set_new (preferences, op->field, value) : -1;
        }
    }
    return -1;
}

int
sync_op_settle (const json_t *state, json_t *op_json, sync_op_t *op, char *err, size_t errlen)
{
    bool fill_remove = op->type == SYNC_WATCHLIST_REMOVE && !json_object_get (op_json, "tags");
    if (op->type != SYNC_WATCHLIST_ADD && !fill_remove)
        return 0;
    const json_t *entry = json_object_get (json_object_get (state, "watchlist"), op->content_id);
    //  An add removed before it came ends only the adds it named itself: the
    //  live ones here may be adds its remover never saw, and those must stay.
    if (op->type == SYNC_WATCHLIST_ADD && json_object_get (json_object_get (entry, "dead"), op->op_id))
        return 0;
    const char *names [SYNC_TAGS_MAX];
    size_t count = 0;
    for (size_t i = 0; i < op->ntags; i++)
        names [count++] = op->tags [i];
    const char *tag;
    const json_t *hlc;
    json_object_foreach ((json_t *) json_object_get (entry, "tags"), tag, hlc) {
        bool known = strcmp (tag, op->op_id) == 0;
        for (size_t i = 0; i < count && !known; i++)
            known = strcmp (names [i], tag) == 0;
        if (count == SYNC_TAGS_MAX)
            break;              //  more than a remove may name: the next write ends the rest
        if (!known)
            names [count++] = tag;
    }
    if (op->type == SYNC_WATCHLIST_ADD && count == op->ntags)
        return 0;               //  nothing more to name
    json_t *list = json_array ();
    for (size_t i = 0; list && i < count; i++)
        if (json_array_append_new (list, json_string (names [i]))) {
            json_decref (list);
            list = NULL;
        }
    if (!list || json_object_set_new (op_json, "tags", list))
        return s_fail (err, errlen, "%s", "out of memory");
    return sync_op_from_json (op_json, op, err, errlen);
}

void
sync_state_compact (json_t *state, hlc_t horizon)
{
    char limit [HLC_TEXT_LEN];
    hlc_format (horizon, limit);
    json_t *watchlist = json_object_get (state, "watchlist");
    const char *content_id;
    json_t *entry, *spare;
    json_object_foreach_safe (watchlist, spare, content_id, entry) {
        json_t *dead = json_object_get (entry, "dead");
        const char *tag;
        json_t *when, *next;
        json_object_foreach_safe (dead, next, tag, when)
            if (strcmp (json_string_value (when), limit) < 0)
                json_object_del (dead, tag);
        if (json_object_size (dead) == 0 && json_object_size (json_object_get (entry, "tags")) == 0)
            json_object_del (watchlist, content_id);
    }
}

size_t
sync_state_titles (const json_t *state)
{
    size_t count = 0;
    const char *content_id;
    json_t *entry;
    json_object_foreach (json_object_get (state, "watchlist"), content_id, entry)
        if (json_object_size (json_object_get (entry, "tags")) > 0)
            count++;
    return count;
}

//  The key of object whose value (or value's member, when member is not
//  NULL) is the oldest HLC text; NULL when object is empty.
static const char *
s_oldest (const json_t *object, const char *member)
{
    const char *oldest = NULL, *oldest_hlc = NULL, *key;
    json_t *value;
    json_object_foreach ((json_t *) object, key, value) {
        const char *hlc = json_string_value (member ? json_object_get (value, member) : value);
        if (!hlc)
            hlc = "";
        if (!oldest || strcmp (hlc, oldest_hlc) < 0 || (strcmp (hlc, oldest_hlc) == 0 && strcmp (key, oldest) < 0)) {
            oldest = key;
            oldest_hlc = hlc;
        }
    }
    return oldest;
}

void
sync_state_trim (json_t *state, size_t progress_max, size_t dead_max)
{
    //  Keys are copied out before the member that holds them goes.
    char key [SYNC_OP_ID_MAX + 1];
    json_t *progress = json_object_get (state, "progress");
    while (json_object_size (progress) > progress_max) {
        snprintf (key, sizeof key, "%s", s_oldest (progress, "hlc"));
        json_object_del (progress, key);
    }
    const char *content_id;
    json_t *entry, *spare;
    json_object_foreach_safe (json_object_get (state, "watchlist"), spare, content_id, entry) {
        json_t *dead = json_object_get (entry, "dead");
        while (json_object_size (dead) > dead_max) {
            snprintf (key, sizeof key, "%s", s_oldest (dead, NULL));
            json_object_del (dead, key);
        }
    }
}

size_t
sync_state_tags (const json_t *state, const char *content_id, const char *tags [SYNC_TAGS_MAX])
{
    const json_t *live = json_object_get (json_object_get (json_object_get (state, "watchlist"), content_id), "tags");
    size_t count = 0;
    const char *tag;
    const json_t *hlc;
    json_object_foreach ((json_t *) live, tag, hlc) {
        if (count == SYNC_TAGS_MAX)
            break;
        tags [count++] = tag;
    }
    return count;
}

//  Newest first by the text of member key (HLC text sorts as time).
static int
s_newest_first (const void *a, const void *b)
{
    const char *x = json_string_value (json_object_get (*(json_t *const *) a, "sort"));
    const char *y = json_string_value (json_object_get (*(json_t *const *) b, "sort"));
    return strcmp (y, x);
}

//  Sort list by each item's "sort" member, newest first, and drop it.
static json_t *
s_sorted (json_t *list)
{
    size_t n = json_array_size (list);
    json_t **items = calloc (n ? n : 1, sizeof *items);
    json_t *out = json_array ();
    if (!items || !out) {
        free (items);
        json_decref (out);
        json_decref (list);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        items [i] = json_array_get (list, i);
    qsort (items, n, sizeof *items, s_newest_first);
    for (size_t i = 0; i < n; i++) {
        json_object_del (items [i], "sort");
        json_array_append (out, items [i]);
    }
    free (items);
    json_decref (list);
    return out;
}

json_t *
sync_state_view (const json_t *state)
{
    json_t *watchlist = json_array (), *progress = json_array (), *preferences = json_object ();
    const char *key;
    json_t *value;
    json_object_foreach (json_object_get (state, "watchlist"), key, value) {
        json_t *tags = json_object_get (value, "tags");
        if (json_object_size (tags) == 0)
            continue;
        const char *newest = "";
        json_t *names = json_array ();
        const char *tag;
        json_t *hlc;
        json_object_foreach (tags, tag, hlc) {
            //  A state stored before adds superseded each other may hold more
            //  live tags than a remove can name: a write ends the rest.
            if (json_array_size (names) < SYNC_TAGS_MAX)
                json_array_append_new (names, json_string (tag));
            if (strcmp (json_string_value (hlc), newest) > 0)
                newest = json_string_value (hlc);
        }
        json_array_append_new (watchlist, json_pack ("{s:s, s:s, s:o, s:s}", "content_id", key,
                                                     "added_at", newest, "tags", names, "sort", newest));
    }
    json_object_foreach (json_object_get (state, "progress"), key, value) {
        json_t *item = json_deep_copy (value);
        json_object_set_new (item, "content_id", json_string (key));
        json_object_set (item, "updated_at", json_object_get (value, "hlc"));
        json_object_set (item, "sort", json_object_get (value, "hlc"));
        json_object_del (item, "hlc");
        json_array_append_new (progress, item);
    }
    json_object_foreach (json_object_get (state, "preferences"), key, value)
        json_object_set (preferences, key, json_object_get (value, "value"));
    return json_pack ("{s:o, s:o, s:o}", "watchlist", s_sorted (watchlist), "progress", s_sorted (progress),
                      "preferences", preferences);
}
