/*  The codec, encoding: a message to a msgpack body by its descriptor.  */
#include "mg_msg_impl.h"

#include <assert.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Encoding

static int
s_pack_msg (msgpack_packer *pk, const mg_msgdesc_t *desc, const void *msg,
            bool top, const msg_path_t *path, char *err, size_t errlen);

//  Pack one present field's value.
static int
s_pack_value (msgpack_packer *pk, const mg_field_t *f, const void *msg,
              const msg_path_t *path, char *err, size_t errlen)
{
    int rc = 0;
    switch (f->type) {
        case MG_T_STR: {
            const char *s = *CAT (msg, f->offset, char *);
            size_t len = strlen (s);
            if (len > f->max)
                return msg_fail (err, errlen, path, "string longer than %u bytes", f->max);
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
                return msg_fail (err, errlen, path, "number is not finite");
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
                return msg_fail (err, errlen, path, "more than %u items", f->max);
            rc = msgpack_pack_array (pk, count);
            for (size_t j = 0; rc == 0 && j < count; j++) {
                size_t len = items [j] ? strlen (items [j]) : 0;
                if (len > STRLIST_ITEM_MAX)
                    return msg_fail (err, errlen, path, "item longer than %d bytes", STRLIST_ITEM_MAX);
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
                return msg_fail (err, errlen, path, "more than %u items", f->max);
            if (msgpack_pack_array (pk, count))
                return msg_fail (err, errlen, path, "out of memory");
            for (size_t j = 0; j < count; j++) {
                msg_path_t sub_path = { path, NULL, (long) j };
                if (s_pack_msg (pk, f->sub, items + j * f->sub->size, false, &sub_path, err, errlen))
                    return -1;
            }
            break;
        }
    }
    return rc ? msg_fail (err, errlen, path, "out of memory") : 0;
}

//  Pack msg as a map; the top level carries "@t" and "@v".
static int
s_pack_msg (msgpack_packer *pk, const mg_msgdesc_t *desc, const void *msg,
            bool top, const msg_path_t *path, char *err, size_t errlen)
{
    size_t count = top ? 2 : 0;
    for (size_t i = 0; i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        if (msg_present (f, msg) || (f->required && msg_is_list (f)))
            count++;
        else
        if (f->required) {
            msg_path_t field_path = { path, f->name, 0 };
            return msg_fail (err, errlen, &field_path, "required field missing");
        }
    }
    if (msgpack_pack_map (pk, count))
        return msg_fail (err, errlen, path, "out of memory");
    if (top) {
        size_t name_len = strlen (desc->name);
        if (msgpack_pack_str (pk, 2) || msgpack_pack_str_body (pk, "@t", 2)
        ||  msgpack_pack_str (pk, name_len) || msgpack_pack_str_body (pk, desc->name, name_len)
        ||  msgpack_pack_str (pk, 2) || msgpack_pack_str_body (pk, "@v", 2)
        ||  msgpack_pack_uint32 (pk, desc->version))
            return msg_fail (err, errlen, path, "out of memory");
    }
    for (size_t i = 0; i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        if (!msg_present (f, msg) && !(f->required && msg_is_list (f)))
            continue;
        msg_path_t field_path = { path, f->name, 0 };
        size_t name_len = strlen (f->name);
        if (msgpack_pack_str (pk, name_len) || msgpack_pack_str_body (pk, f->name, name_len))
            return msg_fail (err, errlen, path, "out of memory");
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
        return msg_fail (err, errlen, NULL, "message larger than %d bytes", MG_MSG_MAX_BYTES);
    }
    *len_p = sbuf.size;
    *buf_p = (uint8_t *) msgpack_sbuffer_release (&sbuf);
    if (!*buf_p) {
        //  An empty sbuffer has no data pointer; never the case for a map.
        return msg_fail (err, errlen, NULL, "out of memory");
    }
    return 0;
}
