/*  Checking provider answers against the contracts' field rules.  */
#include "sim_shape.h"

#include <stdio.h>
#include <string.h>

#define SHAPE_PATH_MAX  256

//  Is value of one of types?
static bool
s_type_ok (const json_t *value, const char *types)
{
    char list [128];
    snprintf (list, sizeof list, "%s", types);
    char *save = NULL;
    for (char *type = strtok_r (list, "|", &save); type; type = strtok_r (NULL, "|", &save)) {
        if ((strcmp (type, "string") == 0 && json_is_string (value))
        ||  (strcmp (type, "integer") == 0 && json_is_integer (value))
        ||  (strcmp (type, "number") == 0 && json_is_number (value))
        ||  (strcmp (type, "boolean") == 0 && json_is_boolean (value))
        ||  (strcmp (type, "array") == 0 && json_is_array (value))
        ||  (strcmp (type, "object") == 0 && json_is_object (value))
        ||  (strcmp (type, "null") == 0 && json_is_null (value)))
            return true;
    }
    return false;
}

static const char *
s_type_name (const json_t *value)
{
    switch (json_typeof (value)) {
        case JSON_OBJECT: return "object";
        case JSON_ARRAY: return "array";
        case JSON_STRING: return "string";
        case JSON_INTEGER: return "integer";
        case JSON_REAL: return "real";
        case JSON_TRUE:
        case JSON_FALSE: return "boolean";
        default: return "null";
    }
}

//  Walk rest (the path left) from value; where is the path walked so far.
static int
s_walk (const json_t *value, const char *rest, const char *types, bool optional, const char *where,
        char *err, size_t errlen)
{
    if (*rest == '\0') {
        if (s_type_ok (value, types))
            return 0;
        snprintf (err, errlen, "%s: %s where %s is required", *where ? where : ".", s_type_name (value), types);
        return -1;
    }
    char here [SHAPE_PATH_MAX];
    if (strncmp (rest, "[]", 2) == 0) {
        if (!json_is_array (value)) {
            snprintf (err, errlen, "%s: %s where an array is required", *where ? where : ".", s_type_name (value));
            return -1;
        }
        if (json_array_size (value) == 0 && !optional) {
            snprintf (err, errlen, "%s: an empty array, elements required", *where ? where : ".");
            return -1;
        }
        const char *next = rest + 2;
        if (*next == '.')
            next++;
        size_t index;
        const json_t *item;
        json_array_foreach (value, index, item) {
            snprintf (here, sizeof here, "%s[%zu]", where, index);
            if (s_walk (item, next, types, optional, here, err, errlen) != 0)
                return -1;
        }
        return 0;
    }
    size_t n = strcspn (rest, ".[");
    char name [128];
    snprintf (name, sizeof name, "%.*s", (int) (n < sizeof name - 1 ? n : sizeof name - 1), rest);
    snprintf (here, sizeof here, "%s%s%s", where, *where ? "." : "", name);
    if (!json_is_object (value)) {
        snprintf (err, errlen, "%s: parent is %s, not an object", here, s_type_name (value));
        return -1;
    }
    const json_t *member = json_object_get (value, name);
    if (!member) {
        if (optional)
            return 0;
        snprintf (err, errlen, "%s: missing", here);
        return -1;
    }
    const char *next = rest + n;
    if (*next == '.')
        next++;
    return s_walk (member, next, types, optional, here, err, errlen);
}

int
sim_shape_check (const json_t *doc, const char *path, const char *types, bool optional,
                 char *err, size_t errlen)
{
    if (!doc) {
        snprintf (err, errlen, "no JSON document");
        return -1;
    }
    return s_walk (doc, strcmp (path, ".") == 0 ? "" : path, types, optional, "", err, errlen);
}
