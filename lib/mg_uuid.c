/*  The one UUID check (see mg_uuid.h).  */
#include "mg_uuid.h"

#include <string.h>

//  True when position i of a UUID's text holds a hyphen.
static bool
s_hyphen_at (size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

bool
mg_uuid_ok (const char *text, size_t len, bool lower_only)
{
    if (!text || len != MG_UUID_TEXT_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = text [i];
        bool digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                  || (!lower_only && c >= 'A' && c <= 'F');
        if (s_hyphen_at (i) ? c != '-' : !digit)
            return false;
    }
    return true;
}

bool
mg_uuid_is (const char *text, bool lower_only)
{
    return text && mg_uuid_ok (text, strlen (text), lower_only);
}

int
mg_uuid_lower (const char *text, size_t len, char out [MG_UUID_TEXT_LEN + 1])
{
    if (!mg_uuid_ok (text, len, false))
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = text [i];
        out [i] = (c >= 'A' && c <= 'F') ? (char) (c - 'A' + 'a') : c;
    }
    out [MG_UUID_TEXT_LEN] = '\0';
    return 0;
}
