/*  Table-driven codec: every message is walked through its descriptor, so
    msgpack, JSON and text parameters share one set of rules (types, limits,
    required fields) and no message needs hand-written code. This file holds
    what every direction uses; mg_msg_impl.h lists the others.  */
#include "mg_msg_impl.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define PATH_MAX_LEN      96      //  bytes of "a.b[3].c" kept for error reasons

//  Write path into out (size bytes) as "a.b[3].c".
static void
s_path_text (const msg_path_t *path, char *out, size_t size)
{
    if (!path) {
        out [0] = '\0';
        return;
    }
    s_path_text (path->parent, out, size);
    size_t used = strlen (out);
    if (used + 1 >= size)
        return;
    int n = path->name
          ? snprintf (out + used, size - used, "%s%s", used ? "." : "", path->name)
          : snprintf (out + used, size - used, "[%ld]", path->index);
    if (n < 0)
        out [used] = '\0';
    else
    if ((size_t) n >= size - used && size > 4)  //  deep paths keep their head and say so
        memcpy (out + size - 4, "...", 4);
}

//  Write "path: reason" into err; returns -1.
int
msg_fail (char *err, size_t errlen, const msg_path_t *path, const char *fmt, ...)
{
    if (err && errlen) {
        char reason [MG_MSG_ERR_LEN];
        va_list args;
        va_start (args, fmt);
        vsnprintf (reason, sizeof reason, fmt, args);
        va_end (args);
        char where [PATH_MAX_LEN];
        s_path_text (path, where, sizeof where);
        if (*where)
            snprintf (err, errlen, "%s: %s", where, reason);
        else
            snprintf (err, errlen, "%s", reason);
    }
    return -1;
}

char *
mg_strdup (const char *s)
{
    return s ? strdup (s) : NULL;
}

const mg_field_t *
mg_msg_field (const mg_msgdesc_t *desc, const char *name)
{
    assert (desc);
    for (size_t i = 0; i < desc->nfields; i++)
        if (strcmp (desc->fields [i].name, name) == 0)
            return &desc->fields [i];
    return NULL;
}

const mg_msgdesc_t *
mg_msg_lookup (const char *name)
{
    for (const mg_msgdesc_t *const *d = mg_msg_all (); *d; d++)
        if (strcmp ((*d)->name, name) == 0)
            return *d;
    return NULL;
}

//  True when s (len bytes) is valid UTF-8 with no NUL.
static bool
s_utf8_ok (const char *s, size_t len)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *) s;
    size_t at = 0;
    while (at < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate (p + at, (utf8proc_ssize_t) (len - at), &cp);
        if (n <= 0 || cp == 0)
            return false;
        at += (size_t) n;
    }
    return true;
}

//  Copy a checked string; NULL on bad text or no memory (reason in err).
char *
msg_str_copy (const char *s, size_t len, size_t max, const msg_path_t *path, char *err, size_t errlen)
{
    if (len > max) {
        msg_fail (err, errlen, path, "string longer than %zu bytes", max);
        return NULL;
    }
    if (!s_utf8_ok (s, len)) {
        msg_fail (err, errlen, path, "not valid UTF-8 text");
        return NULL;
    }
    char *copy = malloc (len + 1);
    if (!copy) {
        msg_fail (err, errlen, path, "out of memory");
        return NULL;
    }
    memcpy (copy, s, len);
    copy [len] = 0;
    return copy;
}
//  --------------------------------------------------------------------------
//  Clearing

void
mg_msg_clear (const mg_msgdesc_t *desc, void *msg)
{
    assert (desc);
    if (!msg)
        return;
    for (size_t i = 0; i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        switch (f->type) {
            case MG_T_STR:
                free (*AT (msg, f->offset, char *));
                break;
            case MG_T_STRLIST: {
                char **items = *AT (msg, f->offset, char **);
                size_t count = *AT (msg, f->aux_offset, size_t);
                for (size_t j = 0; items && j < count; j++)
                    free (items [j]);
                free (items);
                break;
            }
            case MG_T_MSG: {
                void *sub = *AT (msg, f->offset, void *);
                if (sub) {
                    mg_msg_clear (f->sub, sub);
                    free (sub);
                }
                break;
            }
            case MG_T_MSGLIST: {
                char *items = *AT (msg, f->offset, char *);
                size_t count = *AT (msg, f->aux_offset, size_t);
                for (size_t j = 0; items && j < count; j++)
                    mg_msg_clear (f->sub, items + j * f->sub->size);
                free (items);
                break;
            }
            default:
                break;
        }
    }
    memset (msg, 0, desc->size);
}


//  --------------------------------------------------------------------------
//  Field presence

//  True when field f of msg holds a value.
bool
msg_present (const mg_field_t *f, const void *msg)
{
    switch (f->type) {
        case MG_T_STR:
        case MG_T_MSG:
            return *CAT (msg, f->offset, void *) != NULL;
        case MG_T_STRLIST:
        case MG_T_MSGLIST:
            return *CAT (msg, f->offset, void *) != NULL
                || *CAT (msg, f->aux_offset, size_t) > 0;
        default:
            return *CAT (msg, f->aux_offset, bool);
    }
}

//  True for list fields: an empty list is a value (a required list may be empty).
bool
msg_is_list (const mg_field_t *f)
{
    return f->type == MG_T_STRLIST || f->type == MG_T_MSGLIST;
}

//  The type's name in error reasons.
const char *
msg_type_name (mg_type_t type)
{
    switch (type) {
        case MG_T_STR: return "string";
        case MG_T_INT: return "integer";
        case MG_T_UINT: return "non-negative integer";
        case MG_T_DOUBLE: return "number";
        case MG_T_BOOL: return "boolean";
        case MG_T_STRLIST: return "array of strings";
        case MG_T_MSG: return "object";
        case MG_T_MSGLIST: return "array of objects";
    }
    return "value";
}
