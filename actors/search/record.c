/*  A title of a source-record file (record.h).  */
#include "record.h"

#include <stdio.h>

const char *
search_record_join (json_t *array, const char *key, char *out, size_t room)
{
    size_t used = 0, i;
    json_t *value;
    out [0] = '\0';
    json_array_foreach (array, i, value) {
        const char *text = json_string_value (key ? json_object_get (value, key) : value);
        int n = text ? snprintf (out + used, room - used, "%s%s", used ? "\n" : "", text) : 0;
        if (n > 0 && (size_t) n < room - used)
            used += (size_t) n;
        else
            out [used] = '\0';
    }
    return out;
}

//  Genre slug of a TMDB genre name (the genres table's): lower case,
//  spaces as '-', cut to room - 1 bytes.
static void
s_slug (const char *name, char *out, size_t room)
{
    size_t i = 0;
    for (; name [i] && i + 1 < room; i++)
        out [i] = name [i] == ' ' ? '-' : (char) (name [i] >= 'A' && name [i] <= 'Z' ? name [i] + 32 : name [i]);
    out [i] = '\0';
}

const char *
search_record_genres (json_t *rec, char *out, size_t room)
{
    size_t used = 0, i;
    json_t *value;
    out [0] = '\0';
    json_array_foreach (json_object_get (rec, "genres"), i, value) {
        char slug [64];
        const char *name = json_string_value (json_object_get (value, "name"));
        s_slug (name ? name : "", slug, sizeof slug);
        int n = *slug ? snprintf (out + used, room - used, "%s%s", used ? "," : "", slug) : 0;
        if (n > 0 && (size_t) n < room - used)
            used += (size_t) n;
        else
            out [used] = '\0';
    }
    return out;
}
