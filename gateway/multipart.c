/*  A small multipart/form-data reader (RFC 7578 over RFC 2046): enough to
    take one file field out of an upload held in memory. Every length is
    bounded by the body it reads; nothing is copied but a part's media type
    and filename (cut to their buffers). A part's content ends at the CRLF
    before the next delimiter line, which must exist: a body cut short is
    refused rather than read as a shorter file.  */
#include "import.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PART_HEADERS_MAX  8192        //  bytes of one part's header block
#define PARTS_MAX         64          //  parts looked at before giving up

//  True when c may appear in a boundary (RFC 2046 bcharsnospace and space).
static bool
s_bchar (char c)
{
    return isalnum ((unsigned char) c) || strchr ("'()+_,-./:=? ", c) != NULL;
}

//  The value of parameter name in a header value's parameters (after the
//  first ';'), quoted or not, into out. True when found.
static bool
s_param (const char *value, size_t len, const char *name, char *out, size_t size)
{
    size_t name_len = strlen (name);
    size_t at = 0;
    bool quoted = false;
    //  Parameters start after each ';' outside quotes.
    while (at < len) {
        char c = value [at++];
        if (c == '"')
            quoted = !quoted;
        if (c != ';' || quoted)
            continue;
        while (at < len && (value [at] == ' ' || value [at] == '\t'))
            at++;
        if (len - at <= name_len || strncasecmp (value + at, name, name_len) != 0 || value [at + name_len] != '=')
            continue;
        at += name_len + 1;
        size_t used = 0;
        if (at < len && value [at] == '"') {
            at++;
            while (at < len && value [at] != '"') {
                if (value [at] == '\\' && at + 1 < len)
                    at++;
                if (used + 1 < size)
                    out [used++] = value [at];
                at++;
            }
        }
        else
            while (at < len && value [at] != ';' && value [at] != ' ' && value [at] != '\t') {
                if (used + 1 < size)
                    out [used++] = value [at];
                at++;
            }
        out [used] = '\0';
        return true;
    }
    return false;
}

int
gw_multipart_boundary (const char *content_type, char out [GW_MULTIPART_BOUNDARY_MAX + 1])
{
    if (!content_type)
        return -1;
    char value [GW_MULTIPART_BOUNDARY_MAX + 2];
    if (!s_param (content_type, strlen (content_type), "boundary", value, sizeof value))
        return -1;
    size_t len = strlen (value);
    if (len == 0 || len > GW_MULTIPART_BOUNDARY_MAX || value [len - 1] == ' ')
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!s_bchar (value [i]))
            return -1;
    memcpy (out, value, len + 1);
    return 0;
}

//  First occurrence of needle (n bytes) in hay (len bytes), or NULL.
static const char *
s_find (const char *hay, size_t len, const char *needle, size_t n)
{
    return n <= len ? memmem (hay, len, needle, n) : NULL;
}

//  Fill why; returns -1.
static int
s_fail (char *why, size_t whylen, const char *text)
{
    snprintf (why, whylen, "%s", text);
    return -1;
}

int
gw_multipart_find (const char *body, size_t len, const char *boundary, const char *name,
                   gw_multipart_part_t *part, char *why, size_t whylen)
{
    memset (part, 0, sizeof *part);
    size_t blen = strlen (boundary);
    if (blen == 0 || blen > GW_MULTIPART_BOUNDARY_MAX)
        return s_fail (why, whylen, "the multipart boundary is invalid");
    //  "\r\n--" boundary: the delimiter; the first may open the body.
    char delimiter [GW_MULTIPART_BOUNDARY_MAX + 5];
    int dlen = snprintf (delimiter, sizeof delimiter, "\r\n--%s", boundary);
    const char *at;
    if (len >= (size_t) dlen - 2 && memcmp (body, delimiter + 2, (size_t) dlen - 2) == 0)
        at = body + dlen - 2;
    else {
        at = s_find (body, len, delimiter, (size_t) dlen);
        if (!at)
            return s_fail (why, whylen, "the body holds no multipart delimiter (check the boundary)");
        at += dlen;
    }
    const char *end = body + len;
    for (int parts = 0; parts < PARTS_MAX; parts++) {
        //  After a delimiter: "--" closes the body; else padding, then CRLF.
        if (end - at >= 2 && at [0] == '-' && at [1] == '-')
            break;
        while (at < end && (*at == ' ' || *at == '\t'))
            at++;
        if (end - at < 2 || at [0] != '\r' || at [1] != '\n')
            return s_fail (why, whylen, "a multipart delimiter line is malformed");
        at += 2;
        //  The part's headers end at an empty line.
        size_t room = (size_t) (end - at) < PART_HEADERS_MAX ? (size_t) (end - at) : PART_HEADERS_MAX;
        const char *blank = (end - at >= 2 && at [0] == '\r' && at [1] == '\n') ? at : NULL;
        if (!blank) {
            blank = s_find (at, room, "\r\n\r\n", 4);
            if (!blank)
                return s_fail (why, whylen, "a part's headers do not end (or pass 8 KB)");
            blank += 2;
        }
        char field [128] = "", type [128] = "", filename [256] = "";
        bool form_data = false;
        for (const char *line = at; line < blank; ) {
            const char *eol = s_find (line, (size_t) (blank - line), "\r\n", 2);
            if (!eol)
                break;
            size_t line_len = (size_t) (eol - line);
            const char *colon = memchr (line, ':', line_len);
            if (colon) {
                size_t key_len = (size_t) (colon - line);
                const char *value = colon + 1;
                size_t value_len = line_len - key_len - 1;
                while (value_len && (*value == ' ' || *value == '\t')) {
                    value++;
                    value_len--;
                }
                if (key_len == 19 && strncasecmp (line, "Content-Disposition", 19) == 0) {
                    form_data = value_len >= 9 && strncasecmp (value, "form-data", 9) == 0;
                    s_param (value, value_len, "name", field, sizeof field);
                    s_param (value, value_len, "filename", filename, sizeof filename);
                }
                else
                if (key_len == 12 && strncasecmp (line, "Content-Type", 12) == 0) {
                    size_t n = 0;
                    while (n < value_len && n + 1 < sizeof type && value [n] != ';' && value [n] != ' ')
                        type [n] = (char) tolower ((unsigned char) value [n]), n++;
                    type [n] = '\0';
                }
            }
            line = eol + 2;
        }
        const char *content = blank + 2;
        const char *next = s_find (content, (size_t) (end - content), delimiter, (size_t) dlen);
        if (!next)
            return s_fail (why, whylen, "a part does not end with a delimiter (the body is cut short)");
        if (form_data && strcmp (field, name) == 0) {
            part->data = content;
            part->len = (size_t) (next - content);
            snprintf (part->content_type, sizeof part->content_type, "%s", type);
            snprintf (part->filename, sizeof part->filename, "%s", filename);
            return 0;
        }
        at = next + dlen;
    }
    snprintf (why, whylen, "the form has no '%s' field", name);
    return -1;
}
