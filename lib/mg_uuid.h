/*  The one UUID check: ids in requests, ops, paths and stored records are
    UUIDs written 8-4-4-4-12 in hex. PostgreSQL writes them lower-case;
    callers may send either case.  */
#ifndef MG_UUID_H_INCLUDED
#define MG_UUID_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define MG_UUID_TEXT_LEN     36     //  8-4-4-4-12 hex digits and hyphens

//  True when text (len bytes) is a UUID; with lower_only, upper-case hex
//  digits make it false (the canonical form PostgreSQL writes).
bool mg_uuid_ok (const char *text, size_t len, bool lower_only);

//  mg_uuid_ok of a NUL-terminated text; NULL is not a UUID.
bool mg_uuid_is (const char *text, bool lower_only);

//  Copy the UUID text (len bytes) lower-cased into out; -1 when it is not a UUID.
int mg_uuid_lower (const char *text, size_t len, char out [MG_UUID_TEXT_LEN + 1]);

#endif
