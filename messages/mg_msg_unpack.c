/*  The codec, decoding: the structural bounds check, then a msgpack body
    to a message by its descriptor.  */
#include "mg_msg_impl.h"

#include <assert.h>
#include <math.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ZONE_KEEP_BYTES   65536   //  bodies up to this size reuse the thread's unpack zone

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
            return msg_fail (err, errlen, NULL, "truncated message");
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
                    return msg_fail (err, errlen, NULL, "invalid msgpack byte 0x%02x", b);
            }
            if (hdr) {
                if (remain < hdr)
                    return msg_fail (err, errlen, NULL, "truncated message");
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
                return msg_fail (err, errlen, NULL, "container longer than the message");
            if (items) {
                if (depth + 1 > MG_MSG_MAX_DEPTH)
                    return msg_fail (err, errlen, NULL, "nested deeper than %d", MG_MSG_MAX_DEPTH);
                pending [++depth] = items;
            }
        }
        else {
            if (skip > remain)
                return msg_fail (err, errlen, NULL, "truncated message");
            at += skip;
        }
    }
    if (at != len)
        return msg_fail (err, errlen, NULL, "trailing bytes after the message");
    return 0;
}

//  --------------------------------------------------------------------------
//  Decoding from msgpack objects

static int
s_decode_map (const mg_msgdesc_t *desc, const msgpack_object *obj, void *msg,
              bool top, const msg_path_t *path, char *err, size_t errlen);

//  Decode one field's value from obj into msg.
static int
s_decode_value (const mg_field_t *f, const msgpack_object *obj, void *msg,
                const msg_path_t *path, char *err, size_t errlen)
{
    switch (f->type) {
        case MG_T_STR:
            if (obj->type != MSGPACK_OBJECT_STR)
                break;
            *AT (msg, f->offset, char *) = msg_str_copy (obj->via.str.ptr, obj->via.str.size,
                                                       f->max, path, err, errlen);
            return *AT (msg, f->offset, char *) ? 0 : -1;
        case MG_T_INT:
            if (obj->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                if (obj->via.u64 > INT64_MAX)
                    return msg_fail (err, errlen, path, "integer out of range");
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
                return msg_fail (err, errlen, path, "number is not finite");
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
                return msg_fail (err, errlen, path, "more than %u items", f->max);
            //  An empty list given is kept apart from no list (never NULL):
            //  "services": [] clears a preference, absent leaves it.
            char **items = calloc (count ? count : 1, sizeof (char *));
            if (!items)
                return msg_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, char **) = items;
            for (size_t j = 0; j < count; j++) {
                msg_path_t item_path = { path, NULL, (long) j };
                const msgpack_object *item = &obj->via.array.ptr [j];
                if (item->type != MSGPACK_OBJECT_STR)
                    return msg_fail (err, errlen, &item_path, "expected string");
                items [j] = msg_str_copy (item->via.str.ptr, item->via.str.size,
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
                return msg_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, void *) = sub;
            return s_decode_map (f->sub, obj, sub, false, path, err, errlen);
        }
        case MG_T_MSGLIST: {
            if (obj->type != MSGPACK_OBJECT_ARRAY)
                break;
            size_t count = obj->via.array.size;
            if (count > f->max)
                return msg_fail (err, errlen, path, "more than %u items", f->max);
            char *items = count ? calloc (count, f->sub->size) : NULL;
            if (count && !items)
                return msg_fail (err, errlen, path, "out of memory");
            *AT (msg, f->offset, char *) = items;
            *AT (msg, f->aux_offset, size_t) = count;
            for (size_t j = 0; j < count; j++) {
                msg_path_t item_path = { path, NULL, (long) j };
                const msgpack_object *item = &obj->via.array.ptr [j];
                if (item->type != MSGPACK_OBJECT_MAP)
                    return msg_fail (err, errlen, &item_path, "expected object");
                if (s_decode_map (f->sub, item, items + j * f->sub->size, false,
                                  &item_path, err, errlen))
                    return -1;
            }
            return 0;
        }
    }
    return msg_fail (err, errlen, path, "expected %s", msg_type_name (f->type));
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
              bool top, const msg_path_t *path, char *err, size_t errlen)
{
    if (obj->type != MSGPACK_OBJECT_MAP)
        return msg_fail (err, errlen, path, "expected object");
    uint64_t seen = 0;            //  bit per field index (first 64 fields)
    uint64_t seen_value = 0;      //  ... given a value other than nil
    bool have_type = false;
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object *key = &obj->via.map.ptr [i].key;
        const msgpack_object *val = &obj->via.map.ptr [i].val;
        if (key->type != MSGPACK_OBJECT_STR)
            return msg_fail (err, errlen, path, "object key is not a string");
        if (top && s_str_eq (key, "@t")) {
            if (!s_str_eq (val, desc->name))
                return msg_fail (err, errlen, path, "message is not of type '%s'", desc->name);
            have_type = true;
            continue;
        }
        if (top && s_str_eq (key, "@v")) {
            if (val->type != MSGPACK_OBJECT_POSITIVE_INTEGER || val->via.u64 == 0)
                return msg_fail (err, errlen, path, "bad message version");
            if (val->via.u64 > desc->version)
                return msg_fail (err, errlen, path, "message version %llu is newer than %u",
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
        msg_path_t field_path = { path, f->name, 0 };
        if (index < 64) {
            if (seen & (1ULL << index))
                return msg_fail (err, errlen, &field_path, "duplicate key");
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
        return msg_fail (err, errlen, path, "message has no type ('@t')");
    for (size_t j = 0; j < desc->nfields; j++)
        if (desc->fields [j].required && !msg_present (&desc->fields [j], msg)
        &&  !(msg_is_list (&desc->fields [j]) && j < 64 && (seen_value & (1ULL << j)))) {
            msg_path_t field_path = { path, desc->fields [j].name, 0 };
            return msg_fail (err, errlen, &field_path, "required field missing");
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
        return msg_fail (err, errlen, NULL, "message larger than %d bytes", MG_MSG_MAX_BYTES);
    if (len == 0) {
        //  An empty body is a message with no fields set.
        for (size_t j = 0; j < desc->nfields; j++)
            if (desc->fields [j].required) {
                msg_path_t field_path = { NULL, desc->fields [j].name, 0 };
                return msg_fail (err, errlen, &field_path, "required field missing");
            }
        return 0;
    }
    assert (buf);
    if (mg_msg_check_bounds (buf, len, err, errlen))
        return -1;
    msgpack_zone *zone = s_thread_zone ();
    if (!zone)
        return msg_fail (err, errlen, NULL, "out of memory");
    msgpack_object object;
    size_t offset = 0;
    msgpack_unpack_return ret = msgpack_unpack ((const char *) buf, len, &offset, zone, &object);
    int rc;
    if (ret != MSGPACK_UNPACK_SUCCESS || offset != len)
        rc = msg_fail (err, errlen, NULL, "malformed msgpack");
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
