/*  The codec, text parameters: one field of a message from a query-string value.  */
#include "mg_msg_impl.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Text parameters

int
mg_msg_set_text (const mg_field_t *f, void *msg, const char *text,
                 char *err, size_t errlen)
{
    assert (f);
    assert (msg);
    assert (text);
    const msg_path_t where = { NULL, f->name, 0 };
    const msg_path_t *name = &where;
    size_t len = strlen (text);
    char *end = NULL;
    errno = 0;
    switch (f->type) {
        case MG_T_STR: {
            char *copy = msg_str_copy (text, len, f->max, name, err, errlen);
            if (!copy)
                return -1;
            free (*AT (msg, f->offset, char *));
            *AT (msg, f->offset, char *) = copy;
            return 0;
        }
        case MG_T_INT: {
            long long v = len ? strtoll (text, &end, 10) : 0;
            if (!len || *end || errno)
                return msg_fail (err, errlen, name, "must be an integer");
            *AT (msg, f->offset, int64_t) = v;
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        }
        case MG_T_UINT: {
            unsigned long long v = (len && text [0] != '-') ? strtoull (text, &end, 10) : 0;
            if (!len || text [0] == '-' || *end || errno)
                return msg_fail (err, errlen, name, "must be a non-negative integer");
            *AT (msg, f->offset, uint64_t) = v;
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        }
        case MG_T_DOUBLE: {
            double v = len ? strtod (text, &end) : 0;
            if (!len || *end || errno || !isfinite (v))
                return msg_fail (err, errlen, name, "must be a number");
            *AT (msg, f->offset, double) = v;
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        }
        case MG_T_BOOL:
            if (!strcmp (text, "true") || !strcmp (text, "1"))
                *AT (msg, f->offset, bool) = true;
            else
            if (!strcmp (text, "false") || !strcmp (text, "0"))
                *AT (msg, f->offset, bool) = false;
            else
                return msg_fail (err, errlen, name, "must be true or false");
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        case MG_T_STRLIST: {
            //  Replaces any earlier value: "a,b,c" -> 3 items; empty items are errors.
            size_t count = 1;
            for (const char *p = text; *p; p++)
                count += *p == ',';
            if (count > f->max)
                return msg_fail (err, errlen, name, "more than %u values", f->max);
            char **items = calloc (count, sizeof (char *));
            if (!items)
                return msg_fail (err, errlen, name, "out of memory");
            const char *start = text;
            for (size_t j = 0; j < count; j++) {
                const char *comma = strchr (start, ',');
                size_t item_len = comma ? (size_t) (comma - start) : strlen (start);
                if (item_len == 0
                || !(items [j] = msg_str_copy (start, item_len, STRLIST_ITEM_MAX, name, err, errlen))) {
                    if (item_len == 0)
                        msg_fail (err, errlen, name, "has an empty value");
                    for (size_t k = 0; k < j; k++)
                        free (items [k]);
                    free (items);
                    return -1;
                }
                start = comma ? comma + 1 : start + item_len;
            }
            char **old = *AT (msg, f->offset, char **);
            size_t old_count = *AT (msg, f->aux_offset, size_t);
            for (size_t k = 0; old && k < old_count; k++)
                free (old [k]);
            free (old);
            *AT (msg, f->offset, char **) = items;
            *AT (msg, f->aux_offset, size_t) = count;
            return 0;
        }
        default:
            return msg_fail (err, errlen, name, "cannot be given as text");
    }
}
