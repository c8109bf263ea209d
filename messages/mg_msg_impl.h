/*  What the codec's files share (private to messages/).

    mg_msg.c         descriptors, paths and error reasons, checked strings, clearing
    mg_msg_pack.c    encoding to msgpack
    mg_msg_unpack.c  the structural bounds check and decoding from msgpack
    mg_msg_json.c    JSON out and in
    mg_msg_text.c    one field from a text parameter (query strings)  */
#ifndef MG_MSG_IMPL_H_INCLUDED
#define MG_MSG_IMPL_H_INCLUDED

#include "mg_msg.h"

#include <stdbool.h>
#include <stddef.h>

#define STRLIST_ITEM_MAX  1024    //  bytes in one item of a string list

//  Pointers into a message by field offset.
#define AT(msg, off, type) ((type *) ((char *) (msg) + (off)))
#define CAT(msg, off, type) ((type const *) ((const char *) (msg) + (off)))

//  Where in a message a value sits: a chain of field names and list indexes
//  kept on the stack while walking, written out only when reporting a fault
//  (formatting "results[3].slug" for every field cost more than decoding).
typedef struct msg_path_t {
    const struct msg_path_t *parent;
    const char *name;             //  field name, or NULL for a list index
    long index;
} msg_path_t;

//  Write "path: reason" into err; returns -1.
int msg_fail (char *err, size_t errlen, const msg_path_t *path, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  Copy a checked string (at most max bytes, valid UTF-8, no NUL); NULL
//  on bad text or no memory (reason in err).
char *msg_str_copy (const char *s, size_t len, size_t max, const msg_path_t *path,
                    char *err, size_t errlen);

//  True when field f of msg holds a value.
bool msg_present (const mg_field_t *f, const void *msg);

//  True for list fields: an empty list is a value (a required list may be empty).
bool msg_is_list (const mg_field_t *f);
//  The type's name in error reasons ("string", "integer", ...).
const char *msg_type_name (mg_type_t type);

#endif
