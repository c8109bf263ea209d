/*  Table-driven codec: every message is walked through its descriptor, so
    msgpack, JSON and text parameters share one set of rules (types, limits,
    required fields) and no message needs hand-written code.  */
#include "mg_msg.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define STRLIST_ITEM_MAX  1024    //  bytes in one item of a string list
#define PATH_MAX_LEN      96      //  bytes of "a.b[3].c" kept for error reasons
#define ZONE_KEEP_BYTES   65536   //  bodies up to this size reuse the thread's unpack zone

//  Pointers into a message by field offset.
#define AT(msg, off, type) ((type *) ((char *) (msg) + (off)))
#define CAT(msg, off, type) ((type const *) ((const char *) (msg) + (off)))

//  Where in a message a value sits: a chain of field names and list indexes
//  kept on the stack while walking, written out only when reporting a fault
//  (formatting "results[3].slug" for every field cost more than decoding).
typedef struct s_path_t {
    const struct s_path_t *parent;
    const char *name;             //  field name, or NULL for a list index
    long index;
} s_path_t;

//  Write path into out (size bytes) as "a.b[3].c".
static void
s_path_text (const s_path_t *path, char *out, size_t size)
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

static int
s_fail (char *err, size_t errlen, const s_path_t *path, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  Write "path: reason" into err; returns -1.
static int
s_fail (char *err, size_t errlen, const s_path_t *path, const char *fmt, ...)
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
static char *
s_str_copy (const char *s, size_t len, size_t max, const s_path_t *path, char *err, size_t errlen)
{
    if (len > max) {
        s_fail (err, errlen, path, "string longer than %zu bytes", max);
        return NULL;
    }
    if (!s_utf8_ok (s, len)) {
        s_fail (err, errlen, path, "not valid UTF-8 text");
        return NULL;
    }
    char *copy = malloc (len + 1);
    if (!copy) {
        s_fail (err, errlen, path, "out of memory");
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
//  Encoding

//  True when field f of msg holds a value.
static bool
s_present (const mg_field_t *f, const void *msg)
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

static int
s_pack_msg (msgpack_packer *pk, const mg_msgdesc_t *desc, const void *msg,
            bool top, const s_path_t *path, char *err, size_t errlen);

//  True for list fields: an empty list is a value (a required list may be empty).
static bool
s_is_list (const mg_field_t *f)
{
    return f->type == MG_T_STRLIST || f->type == MG_T_MSGLIST;
}

//  Pack one present field's value.
static int
s_pack_value (msgpack_packer *pk, const mg_field_t *f, const void *msg,
              const s_path_t *path, char *err, size_t errlen)
{
    int rc = 0;
    switch (f->type) {
        case MG_T_STR: {
            const char *s = *CAT (msg, f->offset, char *);
            size_t len = strlen (s);
            if (len > f->max)
                return s_fail (err, errlen, path, "string longer than %u bytes", f->max);
            rc = msgpack_pack_str (pk, len) || msgpack_pack_str_body (pk, s, len);
            break;
        }
        case MG_T_INT:
            rc = msgpack_pack_int64 (pk, *CAT (msg, f->offset, int64_t));
            break;
        case MG_T_UINT:
            rc = msgpack_pack_uint64 (pk, *CAT (msg, f->offset, uint64_t));
            break;
        case MG_T_DOUBLE: {
            double v = *CAT (msg, f->offset, double);
            if (!isfinite (v))
                return s_fail (err, errlen, path, "number is not finite");
            rc = msgpack_pack_double (pk, v);
            break;
        }
        case MG_T_BOOL:
            rc = *CAT (msg, f->offset, bool) ? msgpack_pack_true (pk) : msgpack_pack_false (pk);
            break;
        case MG_T_STRLIST: {
            char *const *items = *CAT (msg, f->offset, char **);
            size_t count = *CAT (msg, f->aux_offset, size_t);
            if (count > f->max)
                return s_fail (err, errlen, path, "more than %u items", f->max);
            rc = msgpack_pack_array (pk, count);
            for (size_t j = 0; rc == 0 && j < count; j++) {
                size_t len = items [j] ? strlen (items [j]) : 0;
                if (len > STRLIST_ITEM_MAX)
                    return s_fail (err, errlen, path, "item longer than %d bytes", STRLIST_ITEM_MAX);
                rc = msgpack_pack_str (pk, len) || msgpack_pack_str_body (pk, items [j] ? items [j] : "", len);
            }
            break;
        }
        case MG_T_MSG:
            return s_pack_msg (pk, f->sub, *CAT (msg, f->offset, void *), false, path, err, errlen);
        case MG_T_MSGLIST: {
            const char *items = *CAT (msg, f->offset, char *);
            size_t count = *CAT (msg, f->aux_offset, size_t);
            if (count > f->max)
                return s_fail (err, errlen, path, "more than %u items", f->max);
            if (msgpack_pack_array (pk, count))
                return s_fail (err, errlen, path, "out of memory");
            for (size_t j = 0; j < count; j++) {
                s_path_t sub_path = { path, NULL, (long) j };
                if (s_pack_msg (pk, f->sub, items + j * f->sub->size, false, &sub_path, err, errlen))
                    return -1;
            }
            break;
        }
    }
    return rc ? s_fail (err, errlen, path, "out of memory") : 0;
}

//  Pack msg as a map; the top level carries "@t" and "@v".
static int
s_pack_msg (msgpack_packer *pk, const mg_msgdesc_t *desc, const void *msg,
            bool top, const s_path_t *path, char *err, size_t errlen)
{
    size_t count = top ? 2 : 0;
    for (size_t i = 0; i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        if (s_present (f, msg) || (f->required && s_is_list (f)))
            count++;
        else
        if (f->required) {
            s_path_t field_path = { path, f->name, 0 };
            return s_fail (err, errlen, &field_path, "required field missing");
        }
    }
    if (msgpack_pack_map (pk, count))
        return s_fail (err, errlen, path, "out of memory");
    if (top) {
        size_t name_len = strlen (desc->name);
        if (msgpack_pack_str (pk, 2) || msgpack_pack_str_body (pk, "@t", 2)
        ||  msgpack_pack_str (pk, name_len) || msgpack_pack_str_body (pk, desc->name, name_len)
        ||  msgpack_pack_str (pk, 2) || msgpack_pack_str_body (pk, "@v", 2)
        ||  msgpack_pack_uint32 (pk, desc->version))
            return s_fail (err, errlen, path, "out of memory");
    }
    for (size_t i = 0; i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        if (!s_present (f, msg) && !(f->required && s_is_list (f)))
            continue;
        s_path_t field_path = { path, f->name, 0 };
        size_t name_len = strlen (f->name);
        if (msgpack_pack_str (pk, name_len) || msgpack_pack_str_body (pk, f->name, name_len))
            return s_fail (err, errlen, path, "out of memory");
        if (s_pack_value (pk, f, msg, &field_path, err, errlen))
            return -1;
    }
    return 0;
}

int
mg_msg_encode (const mg_msgdesc_t *desc, const void *msg,
               uint8_t **buf_p, size_t *len_p, char *err, size_t errlen)
{
    assert (desc);
    assert (msg);
    assert (buf_p);
    assert (len_p);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    if (s_pack_msg (&pk, desc, msg, true, NULL, err, errlen)) {
        msgpack_sbuffer_destroy (&sbuf);
        return -1;
    }
    if (sbuf.size > MG_MSG_MAX_BYTES) {
        msgpack_sbuffer_destroy (&sbuf);
        return s_fail (err, errlen, NULL, "message larger than %d bytes", MG_MSG_MAX_BYTES);
    }
    *len_p = sbuf.size;
    *buf_p = (uint8_t *) msgpack_sbuffer_release (&sbuf);
    if (!*buf_p) {
        //  An empty sbuffer has no data pointer; never the case for a map.
        return s_fail (err, errlen, NULL, "out of memory");
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Structural check before unpacking: msgpack-c allocates a container's
//  declared length up front, so a 5-byte body claiming 2^32 items would ask
//  for 64 GiB. Every declared length must fit in the bytes that remain (each
//  item takes at least one byte), nesting is bounded, and the body must be
//  exactly one object.

static int
s_read_be (const uint8_t *p, size_t n, uint64_t *value)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p [i];
    *value = v;
    return 0;
}

int
mg_msg_check_bounds (const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    uint64_t pending [MG_MSG_MAX_DEPTH + 1];  //  items left per open container
    int depth = 0;
    pending [0] = 1;                          //  the body is one object
    size_t at = 0;
    while (depth >= 0) {
        if (pending [depth] == 0) {
            depth--;
            continue;
        }
        pending [depth]--;
        if (at >= len)
            return s_fail (err, errlen, NULL, "truncated message");
        uint8_t b = buf [at++];
        size_t remain = len - at;
        uint64_t skip = 0;        //  payload bytes after the header
        uint64_t items = 0;       //  child objects of a container
        bool container = false;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            skip = 0;
        else
        if (b >= 0x80 && b <= 0x8f) {
            container = true;
            items = 2 * (uint64_t) (b & 0x0f);
        }
        else
        if (b >= 0x90 && b <= 0x9f) {
            container = true;
            items = b & 0x0f;
        }
        else
        if (b >= 0xa0 && b <= 0xbf)
            skip = b & 0x1f;
        else {
            size_t hdr = 0;
            switch (b) {
                case 0xc4: case 0xd9: hdr = 1; break;                    //  bin8, str8
                case 0xc5: case 0xda: hdr = 2; break;                    //  bin16, str16
                case 0xc6: case 0xdb: hdr = 4; break;                    //  bin32, str32
                case 0xc7: hdr = 1; break;                               //  ext8
                case 0xc8: hdr = 2; break;                               //  ext16
                case 0xc9: hdr = 4; break;                               //  ext32
                case 0xca: skip = 4; break;
                case 0xcb: skip = 8; break;
                case 0xcc: case 0xd0: skip = 1; break;
                case 0xcd: case 0xd1: skip = 2; break;
                case 0xce: case 0xd2: skip = 4; break;
                case 0xcf: case 0xd3: skip = 8; break;
                case 0xd4: skip = 2; break;                              //  fixext1
                case 0xd5: skip = 3; break;
                case 0xd6: skip = 5; break;
                case 0xd7: skip = 9; break;
                case 0xd8: skip = 17; break;
                case 0xdc: hdr = 2; container = true; break;             //  array16
                case 0xdd: hdr = 4; container = true; break;             //  array32
                case 0xde: hdr = 2; container = true; break;             //  map16
                case 0xdf: hdr = 4; container = true; break;             //  map32
                default:
                    return s_fail (err, errlen, NULL, "invalid msgpack byte 0x%02x", b);
            }
            if (hdr) {
                if (remain < hdr)
                    return s_fail (err, errlen, NULL, "truncated message");
                uint64_t n;
                s_read_be (buf + at, hdr, &n);
                at += hdr;
                remain -= hdr;
                if (container)
                    items = (b == 0xde || b == 0xdf) ? 2 * n : n;
                else
                    skip = n + ((b >= 0xc7 && b <= 0xc9) ? 1 : 0);   //  ext has a type byte
            }
        }
        if (container) {
            if (items > remain)
                return s_fail (err, errlen, NULL, "container longer than the message");
            if (items) {
                if (depth + 1 > MG_MSG_MAX_DEPTH)
                    return s_fail (err, errlen, NULL, "nested deeper than %d", MG_MSG_MAX_DEPTH);
                pending [++depth] = items;
            }
        }
        else {
            if (skip > remain)
                return s_fail (err, errlen, NULL, "truncated message");
            at += skip;
        }
    }
    if (at != len)
        return s_fail (err, errlen, NULL, "trailing bytes after the message");
    return 0;
}

//  --------------------------------------------------------------------------
//  Decoding from msgpack objects

static int
s_decode_map (const mg_msgdesc_t *desc, const msgpack_object *obj, void *msg,
              bool top, const s_path_t *path, char *err, size_t errlen);

static const char *
s_type_name (mg_type_t type)
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

//  Decode one field's value from obj into msg.
static int
s_decode_value (const mg_field_t *f, const msgpack_object *obj, void *msg,
                const s_path_t *path, char *err, size_t errlen)
{
    switch (f->type) {
        case MG_T_STR:
            if (obj->type != MSGPACK_OBJECT_STR)
                break;
            *AT (msg, f->offset, char *) = s_str_copy (obj->via.str.ptr, obj->via.str.size,
                                                       f->max, path, err, errlen);
            return *AT (msg, f->offset, char *) ? 0 : -1;
        case MG_T_INT:
            if (obj->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                if (obj->via.u64 > INT64_MAX)
                    return s_fail (err, errlen, path, "integer out of range");
                *AT (msg, f->offset, int64_t) = (int64_t) obj->via.u64;
            }
            else
            if (obj->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
                *AT (msg, f->offset, int64_t) = obj->via.i64;
            else
                break;
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        case MG_T_UINT:
            if (obj->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                break;
            *AT (msg, f->offset, uint64_t) = obj->via.u64;
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        case MG_T_DOUBLE: {
            double v;
            if (obj->type == MSGPACK_OBJECT_FLOAT32 || obj->type == MSGPACK_OBJECT_FLOAT64)
                v = obj->via.f64;
            else
            if (obj->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                v = (double) obj->via.u64;
            else
            if (obj->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
                v = (double) obj->via.i64;
            else
                break;
            if (!isfinite (v))
                return s_fail (err, errlen, path, "number is not finite");
            *AT (msg, f->offset, double) = v;
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        }
        case MG_T_BOOL:
            if (obj->type != MSGPACK_OBJECT_BOOLEAN)
                break;
            *AT (msg, f->offset, bool) = obj->via.boolean;
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        case MG_T_STRLIST: {
            if (obj->type != MSGPACK_OBJECT_ARRAY)
                break;
            size_t count = obj->via.array.size;
            if (count > f->max)
                return s_fail (err, errlen, path, "more than %u items", f->max);
            //  An empty list given is kept apart from no list (never NULL):
            //  "services": [] clears a preference, absent leaves it.
            char **items = calloc (count ? count : 1, sizeof (char *));
            if (!items)
                return s_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, char **) = items;
            for (size_t j = 0; j < count; j++) {
                s_path_t item_path = { path, NULL, (long) j };
                const msgpack_object *item = &obj->via.array.ptr [j];
                if (item->type != MSGPACK_OBJECT_STR)
                    return s_fail (err, errlen, &item_path, "expected string");
                items [j] = s_str_copy (item->via.str.ptr, item->via.str.size,
                                        STRLIST_ITEM_MAX, &item_path, err, errlen);
                if (!items [j])
                    return -1;
                *AT (msg, f->aux_offset, size_t) = j + 1;
            }
            return 0;
        }
        case MG_T_MSG: {
            if (obj->type != MSGPACK_OBJECT_MAP)
                break;
            void *sub = calloc (1, f->sub->size);
            if (!sub)
                return s_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, void *) = sub;
            return s_decode_map (f->sub, obj, sub, false, path, err, errlen);
        }
        case MG_T_MSGLIST: {
            if (obj->type != MSGPACK_OBJECT_ARRAY)
                break;
            size_t count = obj->via.array.size;
            if (count > f->max)
                return s_fail (err, errlen, path, "more than %u items", f->max);
            char *items = count ? calloc (count, f->sub->size) : NULL;
            if (count && !items)
                return s_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, char *) = items;
            *AT (msg, f->aux_offset, size_t) = count;
            for (size_t j = 0; j < count; j++) {
                s_path_t item_path = { path, NULL, (long) j };
                const msgpack_object *item = &obj->via.array.ptr [j];
                if (item->type != MSGPACK_OBJECT_MAP)
                    return s_fail (err, errlen, &item_path, "expected object");
                if (s_decode_map (f->sub, item, items + j * f->sub->size, false,
                                  &item_path, err, errlen))
                    return -1;
            }
            return 0;
        }
    }
    return s_fail (err, errlen, path, "expected %s", s_type_name (f->type));
}

//  True when a msgpack str equals the C string s.
static bool
s_str_eq (const msgpack_object *obj, const char *s)
{
    size_t len = strlen (s);
    return obj->type == MSGPACK_OBJECT_STR && obj->via.str.size == len
        && memcmp (obj->via.str.ptr, s, len) == 0;
}

//  Decode a map into msg by desc; the top level must name the type.
static int
s_decode_map (const mg_msgdesc_t *desc, const msgpack_object *obj, void *msg,
              bool top, const s_path_t *path, char *err, size_t errlen)
{
    if (obj->type != MSGPACK_OBJECT_MAP)
        return s_fail (err, errlen, path, "expected object");
    uint64_t seen = 0;            //  bit per field index (first 64 fields)
    uint64_t seen_value = 0;      //  ... given a value other than nil
    bool have_type = false;
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object *key = &obj->via.map.ptr [i].key;
        const msgpack_object *val = &obj->via.map.ptr [i].val;
        if (key->type != MSGPACK_OBJECT_STR)
            return s_fail (err, errlen, path, "object key is not a string");
        if (top && s_str_eq (key, "@t")) {
            if (!s_str_eq (val, desc->name))
                return s_fail (err, errlen, path, "message is not of type '%s'", desc->name);
            have_type = true;
            continue;
        }
        if (top && s_str_eq (key, "@v")) {
            if (val->type != MSGPACK_OBJECT_POSITIVE_INTEGER || val->via.u64 == 0)
                return s_fail (err, errlen, path, "bad message version");
            if (val->via.u64 > desc->version)
                return s_fail (err, errlen, path, "message version %llu is newer than %u",
                               (unsigned long long) val->via.u64, desc->version);
            continue;
        }
        size_t index = desc->nfields;
        for (size_t j = 0; j < desc->nfields; j++)
            if (s_str_eq (key, desc->fields [j].name)) {
                index = j;
                break;
            }
        if (index == desc->nfields)
            continue;             //  unknown keys: a newer sender's optional fields
        const mg_field_t *f = &desc->fields [index];
        s_path_t field_path = { path, f->name, 0 };
        if (index < 64) {
            if (seen & (1ULL << index))
                return s_fail (err, errlen, &field_path, "duplicate key");
            seen |= 1ULL << index;
        }
        if (val->type == MSGPACK_OBJECT_NIL)
            continue;             //  null = absent
        if (index < 64)
            seen_value |= 1ULL << index;
        if (s_decode_value (f, val, msg, &field_path, err, errlen))
            return -1;
    }
    if (top && obj->via.map.size > 0 && !have_type)
        return s_fail (err, errlen, path, "message has no type ('@t')");
    for (size_t j = 0; j < desc->nfields; j++)
        if (desc->fields [j].required && !s_present (&desc->fields [j], msg)
        &&  !(s_is_list (&desc->fields [j]) && j < 64 && (seen_value & (1ULL << j)))) {
            s_path_t field_path = { path, desc->fields [j].name, 0 };
            return s_fail (err, errlen, &field_path, "required field missing");
        }
    return 0;
}

//  Each thread unpacks into a zone of its own, kept between messages: a new
//  zone per body cost a large malloc (and malloc_consolidate) every time.
static pthread_key_t s_zone_key;
static pthread_once_t s_zone_once = PTHREAD_ONCE_INIT;

static void
s_zone_free (void *zone)
{
    msgpack_zone_free (zone);
}

static void
s_zone_key_create (void)
{
    if (pthread_key_create (&s_zone_key, s_zone_free))
        abort ();                 //  only when the process is out of keys at start
}

static msgpack_zone *
s_thread_zone (void)
{
    pthread_once (&s_zone_once, s_zone_key_create);
    msgpack_zone *zone = pthread_getspecific (s_zone_key);
    if (!zone) {
        zone = msgpack_zone_new (MSGPACK_ZONE_CHUNK_SIZE);
        if (zone && pthread_setspecific (s_zone_key, zone)) {
            msgpack_zone_free (zone);
            zone = NULL;
        }
    }
    return zone;
}

int
mg_msg_decode (const mg_msgdesc_t *desc, const uint8_t *buf, size_t len,
               void *msg, char *err, size_t errlen)
{
    assert (desc);
    assert (msg);
    memset (msg, 0, desc->size);
    if (len > MG_MSG_MAX_BYTES)
        return s_fail (err, errlen, NULL, "message larger than %d bytes", MG_MSG_MAX_BYTES);
    if (len == 0) {
        //  An empty body is a message with no fields set.
        for (size_t j = 0; j < desc->nfields; j++)
            if (desc->fields [j].required) {
                s_path_t field_path = { NULL, desc->fields [j].name, 0 };
                return s_fail (err, errlen, &field_path, "required field missing");
            }
        return 0;
    }
    assert (buf);
    if (mg_msg_check_bounds (buf, len, err, errlen))
        return -1;
    msgpack_zone *zone = s_thread_zone ();
    if (!zone)
        return s_fail (err, errlen, NULL, "out of memory");
    msgpack_object object;
    size_t offset = 0;
    msgpack_unpack_return ret = msgpack_unpack ((const char *) buf, len, &offset, zone, &object);
    int rc;
    if (ret != MSGPACK_UNPACK_SUCCESS || offset != len)
        rc = s_fail (err, errlen, NULL, "malformed msgpack");
    else
        rc = s_decode_map (desc, &object, msg, true, NULL, err, errlen);
    if (len > ZONE_KEEP_BYTES) {
        //  A big body grew the zone: give the memory back.
        pthread_setspecific (s_zone_key, NULL);
        msgpack_zone_free (zone);
    }
    else
        msgpack_zone_clear (zone);
    if (rc)
        mg_msg_clear (desc, msg);
    return rc;
}

//  --------------------------------------------------------------------------
//  JSON

bool
mg_msg_field_shown (const mg_field_t *f, const void *msg)
{
    return s_present (f, msg) || (f->required && s_is_list (f));
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
                 const s_path_t *path, char *err, size_t errlen);

//  Copy a JSON string checked against max; NULL with a reason on failure.
static char *
s_json_str (const json_t *value, size_t max, const s_path_t *path, char *err, size_t errlen)
{
    if (!json_is_string (value)) {
        s_fail (err, errlen, path, "expected string");
        return NULL;
    }
    return s_str_copy (json_string_value (value), json_string_length (value),
                       max, path, err, errlen);
}

//  Decode one field's JSON value into msg.
static int
s_from_json_value (const mg_field_t *f, const json_t *value, void *msg,
                   const s_path_t *path, char *err, size_t errlen)
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
                return s_fail (err, errlen, path, "must not be negative");
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
                return s_fail (err, errlen, path, "more than %u items", f->max);
            //  An empty list given is kept apart from no list (never NULL):
            //  "services": [] clears a preference, absent leaves it.
            char **items = calloc (count ? count : 1, sizeof (char *));
            if (!items)
                return s_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, char **) = items;
            for (size_t j = 0; j < count; j++) {
                s_path_t item_path = { path, NULL, (long) j };
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
                return s_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, void *) = sub;
            return s_from_json_obj (f->sub, value, sub, path, err, errlen);
        }
        case MG_T_MSGLIST: {
            if (!json_is_array (value))
                break;
            size_t count = json_array_size (value);
            if (count > f->max)
                return s_fail (err, errlen, path, "more than %u items", f->max);
            char *items = count ? calloc (count, f->sub->size) : NULL;
            if (count && !items)
                return s_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, char *) = items;
            *AT (msg, f->aux_offset, size_t) = count;
            for (size_t j = 0; j < count; j++) {
                s_path_t item_path = { path, NULL, (long) j };
                const json_t *item = json_array_get (value, j);
                if (!json_is_object (item))
                    return s_fail (err, errlen, &item_path, "expected object");
                if (s_from_json_obj (f->sub, item, items + j * f->sub->size,
                                     &item_path, err, errlen))
                    return -1;
            }
            return 0;
        }
    }
    return s_fail (err, errlen, path, "expected %s", s_type_name (f->type));
}

//  Fill msg from a JSON object; unknown keys are errors (public input).
static int
s_from_json_obj (const mg_msgdesc_t *desc, const json_t *json, void *msg,
                 const s_path_t *path, char *err, size_t errlen)
{
    if (!json_is_object (json))
        return s_fail (err, errlen, path, "expected object");
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) json, key, value) {
        s_path_t field_path = { path, key, 0 };
        const mg_field_t *f = mg_msg_field (desc, key);
        if (!f)
            return s_fail (err, errlen, &field_path, "unknown field");
        if (json_is_null (value))
            continue;
        if (s_from_json_value (f, value, msg, &field_path, err, errlen))
            return -1;
    }
    for (size_t j = 0; j < desc->nfields; j++)
        if (desc->fields [j].required && !s_present (&desc->fields [j], msg)
        &&  !(s_is_list (&desc->fields [j]) && json_is_array (json_object_get (json, desc->fields [j].name)))) {
            s_path_t field_path = { path, desc->fields [j].name, 0 };
            return s_fail (err, errlen, &field_path, "required field missing");
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

//  --------------------------------------------------------------------------
//  Text parameters

int
mg_msg_set_text (const mg_field_t *f, void *msg, const char *text,
                 char *err, size_t errlen)
{
    assert (f);
    assert (msg);
    assert (text);
    const s_path_t where = { NULL, f->name, 0 };
    const s_path_t *name = &where;
    size_t len = strlen (text);
    char *end = NULL;
    errno = 0;
    switch (f->type) {
        case MG_T_STR: {
            char *copy = s_str_copy (text, len, f->max, name, err, errlen);
            if (!copy)
                return -1;
            free (*AT (msg, f->offset, char *));
            *AT (msg, f->offset, char *) = copy;
            return 0;
        }
        case MG_T_INT: {
            long long v = len ? strtoll (text, &end, 10) : 0;
            if (!len || *end || errno)
                return s_fail (err, errlen, name, "must be an integer");
            *AT (msg, f->offset, int64_t) = v;
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        }
        case MG_T_UINT: {
            unsigned long long v = (len && text [0] != '-') ? strtoull (text, &end, 10) : 0;
            if (!len || text [0] == '-' || *end || errno)
                return s_fail (err, errlen, name, "must be a non-negative integer");
            *AT (msg, f->offset, uint64_t) = v;
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        }
        case MG_T_DOUBLE: {
            double v = len ? strtod (text, &end) : 0;
            if (!len || *end || errno || !isfinite (v))
                return s_fail (err, errlen, name, "must be a number");
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
                return s_fail (err, errlen, name, "must be true or false");
            *AT (msg, f->aux_offset, bool) = true;
            return 0;
        case MG_T_STRLIST: {
            //  Replaces any earlier value: "a,b,c" -> 3 items; empty items are errors.
            size_t count = 1;
            for (const char *p = text; *p; p++)
                count += *p == ',';
            if (count > f->max)
                return s_fail (err, errlen, name, "more than %u values", f->max);
            char **items = calloc (count, sizeof (char *));
            if (!items)
                return s_fail (err, errlen, name, "out of memory");
            const char *start = text;
            for (size_t j = 0; j < count; j++) {
                const char *comma = strchr (start, ',');
                size_t item_len = comma ? (size_t) (comma - start) : strlen (start);
                if (item_len == 0
                || !(items [j] = s_str_copy (start, item_len, STRLIST_ITEM_MAX, name, err, errlen))) {
                    if (item_len == 0)
                        s_fail (err, errlen, name, "has an empty value");
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
            return s_fail (err, errlen, name, "cannot be given as text");
    }
}
