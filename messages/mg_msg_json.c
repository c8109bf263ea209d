/*  The codec, JSON: a message to a JSON object and back (public input:
    unknown keys are errors).  */
#include "mg_msg_impl.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  JSON

bool
mg_msg_field_shown (const mg_field_t *f, const void *msg)
{
    return msg_present (f, msg) || (f->required && msg_is_list (f));
}

json_t *
mg_msg_to_json (const mg_msgdesc_t *desc, const void *msg)
{
    assert (desc);
    assert (msg);
    json_t *obj = json_object ();
    if (!obj)
        return NULL;
    for (size_t i = 0; i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        if (!mg_msg_field_shown (f, msg))
            continue;
        json_t *value = NULL;
        switch (f->type) {
            case MG_T_STR:
                value = json_string (*CAT (msg, f->offset, char *));
                break;
            case MG_T_INT:
                value = json_integer ((json_int_t) *CAT (msg, f->offset, int64_t));
                break;
            case MG_T_UINT: {
                uint64_t v = *CAT (msg, f->offset, uint64_t);
                value = v <= INT64_MAX ? json_integer ((json_int_t) v) : json_real ((double) v);
                break;
            }
            case MG_T_DOUBLE:
                value = json_real (*CAT (msg, f->offset, double));
                break;
            case MG_T_BOOL:
                value = json_boolean (*CAT (msg, f->offset, bool));
                break;
            case MG_T_STRLIST: {
                char *const *items = *CAT (msg, f->offset, char **);
                size_t count = *CAT (msg, f->aux_offset, size_t);
                value = json_array ();
                for (size_t j = 0; value && j < count; j++)
                    if (json_array_append_new (value, json_string (items [j] ? items [j] : ""))) {
                        json_decref (value);
                        value = NULL;
                    }
                break;
            }
            case MG_T_MSG:
                value = mg_msg_to_json (f->sub, *CAT (msg, f->offset, void *));
                break;
            case MG_T_MSGLIST: {
                const char *items = *CAT (msg, f->offset, char *);
                size_t count = *CAT (msg, f->aux_offset, size_t);
                value = json_array ();
                for (size_t j = 0; value && j < count; j++)
                    if (json_array_append_new (value, mg_msg_to_json (f->sub, items + j * f->sub->size))) {
                        json_decref (value);
                        value = NULL;
                    }
                break;
            }
        }
        if (!value || json_object_set_new (obj, f->name, value)) {
            json_decref (obj);
            return NULL;
        }
    }
    return obj;
}

static int
s_from_json_obj (const mg_msgdesc_t *desc, const json_t *json, void *msg,
                 const msg_path_t *path, char *err, size_t errlen);

//  Copy a JSON string checked against max; NULL with a reason on failure.
static char *
s_json_str (const json_t *value, size_t max, const msg_path_t *path, char *err, size_t errlen)
{
    if (!json_is_string (value)) {
        msg_fail (err, errlen, path, "expected string");
        return NULL;
    }
    return msg_str_copy (json_string_value (value), json_string_length (value),
                       max, path, err, errlen);
}

//  Decode one field's JSON value into msg.
static int
s_from_json_value (const mg_field_t *f, const json_t *value, void *msg,
                   const msg_path_t *path, char *err, size_t errlen)
{
    switch (f->type) {
        case MG_T_STR:
            *AT (msg, f->offset, char *) = s_json_str (value, f->max, path, err, errlen);
            return *AT (msg, f->offset, char *) ? 0 : -1;
        case MG_T_INT:
            if (!json_is_integer (value))
                break;
            *AT (msg, f->offset, int64_t) = json_integer_value (value);
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        case MG_T_UINT:
            if (!json_is_integer (value))
                break;
            if (json_integer_value (value) < 0)
                return msg_fail (err, errlen, path, "must not be negative");
            *AT (msg, f->offset, uint64_t) = (uint64_t) json_integer_value (value);
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        case MG_T_DOUBLE:
            if (!json_is_number (value))
                break;
            *AT (msg, f->offset, double) = json_number_value (value);
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        case MG_T_BOOL:
            if (!json_is_boolean (value))
                break;
            *AT (msg, f->offset, bool) = json_is_true (value);
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        case MG_T_STRLIST: {
            if (!json_is_array (value))
                break;
            size_t count = json_array_size (value);
            if (count > f->max)
                return msg_fail (err, errlen, path, "more than %u items", f->max);
            //  An empty list given is kept apart from no list (never NULL):
            //  "services": [] clears a preference, absent leaves it.
            char **items = calloc (count ? count : 1, sizeof (char *));
            if (!items)
                return msg_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, char **) = items;
            for (size_t j = 0; j < count; j++) {
                msg_path_t item_path = { path, NULL, (long) j };
                items [j] = s_json_str (json_array_get (value, j), STRLIST_ITEM_MAX,
                                        &item_path, err, errlen);
                if (!items [j])
                    return -1;
                *AT (msg, f->aux_offset, size_t) = j + 1;
            }
            return 0;
        }
        case MG_T_MSG: {
            if (!json_is_object (value))
                break;
            void *sub = calloc (1, f->sub->size);
            if (!sub)
                return msg_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, void *) = sub;
            return s_from_json_obj (f->sub, value, sub, path, err, errlen);
        }
        case MG_T_MSGLIST: {
            if (!json_is_array (value))
                break;
            size_t count = json_array_size (value);
            if (count > f->max)
                return msg_fail (err, errlen, path, "more than %u items", f->max);
            char *items = count ? calloc (count, f->sub->size) : NULL;
            if (count && !items)
                return msg_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, char *) = items;
            *AT (msg, f->aux_offset, size_t) = count;
            for (size_t j = 0; j < count; j++) {
                msg_path_t item_path = { path, NULL, (long) j };
                const json_t *item = json_array_get (value, j);
                if (!json_is_object (item))
                    return msg_fail (err, errlen, &item_path, "expected object");
                if (s_from_json_obj (f->sub, item, items + j * f->sub->size,
                                     &item_path, err, errlen))
                    return -1;
            }
            return 0;
        }
    }
    return msg_fail (err, errlen, path, "expected %s", msg_type_name (f->type));
}

//  Fill msg from a JSON object; unknown keys are errors (public input).
static int
s_from_json_obj (const mg_msgdesc_t *desc, const json_t *json, void *msg,
                 const msg_path_t *path, char *err, size_t errlen)
{
    if (!json_is_object (json))
        return msg_fail (err, errlen, path, "expected object");
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) json, key, value) {
        msg_path_t field_path = { path, key, 0 };
        const mg_field_t *f = mg_msg_field (desc, key);
        if (!f)
            return msg_fail (err, errlen, &field_path, "unknown field");
        if (json_is_null (value))
            continue;
        if (s_from_json_value (f, value, msg, &field_path, err, errlen))
            return -1;
    }
    for (size_t j = 0; j < desc->nfields; j++)
        if (desc->fields [j].required && !msg_present (&desc->fields [j], msg)
        &&  !(msg_is_list (&desc->fields [j]) && json_is_array (json_object_get (json, desc->fields [j].name)))) {
            msg_path_t field_path = { path, desc->fields [j].name, 0 };
            return msg_fail (err, errlen, &field_path, "required field missing");
        }
    return 0;
}

int
mg_msg_from_json (const mg_msgdesc_t *desc, const json_t *json, void *msg,
                  char *err, size_t errlen)
{
    assert (desc);
    assert (msg);
    memset (msg, 0, desc->size);
    int rc = s_from_json_obj (desc, json, msg, NULL, err, errlen);
    if (rc)
        mg_msg_clear (desc, msg);
    return rc;
}
