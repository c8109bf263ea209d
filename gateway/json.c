/*  JSON text straight into an evbuffer: compact text, byte for byte what
    jansson writes, built on the stack (the heap only past JSON_STACK_BYTES)
    and added in one evbuffer_add, without jansson's per-node allocations.  */
#include "gw_json.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_STACK_BYTES  16384     //  replies up to this size are built without the heap
#define JSON_DEPTH_MAX    64        //  deeper than any message (MG_MSG_MAX_DEPTH) can nest

//  Length of the valid UTF-8 sequence at s (left bytes), or 0 if invalid.
static size_t
s_utf8_len (const unsigned char *s, size_t left)
{
    unsigned char c = s [0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    }
    else
    if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    }
    else
    if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    }
    else
        return 0;
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s [i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s [i] & 0x3f);
    }
    //  Overlong forms, UTF-16 surrogates, beyond U+10FFFF.
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)
    ||  (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

void
gw_json_append_string (struct evbuffer *out, const char *s, size_t len)
{
    assert (out);
    const unsigned char *p = (const unsigned char *) s;
    evbuffer_add (out, "\"", 1);
    size_t run = 0;                 //  start of bytes that need no escaping
    size_t i = 0;
    while (i < len) {
        unsigned char c = p [i];
        size_t n = 1;
        const char *escape = NULL;
        char unicode [8];
        if (c == '"')
            escape = "\\\"";
        else
        if (c == '\\')
            escape = "\\\\";
        else
        if (c < 0x20) {
            snprintf (unicode, sizeof unicode, "\\u%04x", c);
            escape = unicode;
        }
        else
        if (c >= 0x80 && (n = s_utf8_len (p + i, len - i)) == 0) {
            escape = "\xef\xbf\xbd";
            n = 1;
        }
        if (escape) {
            evbuffer_add (out, s + run, i - run);
            evbuffer_add (out, escape, strlen (escape));
            run = i + n;
        }
        i += n;
    }
    evbuffer_add (out, s + run, len - run);
    evbuffer_add (out, "\"", 1);
}

//  Text being built on the stack, moving to the heap when it outgrows it.
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool heap;
    bool failed;
} s_text_t;

//  Move text to a heap buffer with room for len more bytes.
static void
s_grow (s_text_t *text, size_t len)
{
    if (text->failed)
        return;
    size_t cap = (text->len + len) * 2;
    char *data = text->heap ? realloc (text->data, cap) : malloc (cap);
    if (!data) {
        text->failed = true;
        return;
    }
    if (!text->heap)
        memcpy (data, text->data, text->len);
    text->data = data;
    text->cap = cap;
    text->heap = true;
}

//  Append len bytes to text.
static inline void
s_put (s_text_t *text, const char *bytes, size_t len)
{
    if (text->len + len > text->cap) {
        s_grow (text, len);
        if (text->failed)
            return;
    }
    memcpy (text->data + text->len, bytes, len);
    text->len += len;
}

//  A JSON string, escaped as jansson escapes it (input is valid UTF-8:
//  jansson strings always are).
static void
s_put_string (s_text_t *text, const char *s, size_t len)
{
    s_put (text, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s [i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        s_put (text, s + run, i - run);
        run = i + 1;
        char seq [8];
        const char *escape = seq;
        switch (c) {
            case '"':  escape = "\\\""; break;
            case '\\': escape = "\\\\"; break;
            case '\b': escape = "\\b"; break;
            case '\f': escape = "\\f"; break;
            case '\n': escape = "\\n"; break;
            case '\r': escape = "\\r"; break;
            case '\t': escape = "\\t"; break;
            default:   snprintf (seq, sizeof seq, "\\u%04X", c);
        }
        s_put (text, escape, strlen (escape));
    }
    s_put (text, s + run, len - run);
    s_put (text, "\"", 1);
}

//  A JSON integer.
static void
s_put_integer (s_text_t *text, json_int_t value)
{
    char digits [24];
    char *end = digits + sizeof digits;
    char *p = end;
    unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long) value
                                             : (unsigned long long) value;
    do {
        *--p = (char) ('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        *--p = '-';
    s_put (text, p, (size_t) (end - p));
}

//  A JSON real in the fewest of 15-17 significant digits that read back as
//  the same double (3.99, not jansson's 3.9900000000000002), ".0" when it
//  would read as an integer, no '+' or leading zeros in the exponent.
static void
s_put_real (s_text_t *text, double value)
{
    char buffer [64];
    int n = -1;
    for (int digits = 15; digits <= 17; digits++) {
        n = snprintf (buffer, sizeof buffer - 3, "%.*g", digits, value);
        if (n < 0 || (size_t) n >= sizeof buffer - 3 || strtod (buffer, NULL) == value)
            break;
    }
    if (n < 0 || (size_t) n >= sizeof buffer - 3) {
        text->failed = true;
        return;
    }
    size_t length = (size_t) n;
    if (strspn (buffer, "0123456789-") == length) {
        memcpy (buffer + length, ".0", 3);
        length += 2;
    }
    char *start = strchr (buffer, 'e');
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove (start, end, length - (size_t) (end - buffer) + 1);
            length -= (size_t) (end - start);
        }
    }
    s_put (text, buffer, length);
}

//  Any JSON value; depth guards the recursion.
static void
s_put_value (s_text_t *text, const json_t *json, int depth)
{
    if (depth > JSON_DEPTH_MAX) {
        text->failed = true;
        return;
    }
    switch (json_typeof (json)) {
        case JSON_OBJECT: {
            s_put (text, "{", 1);
            const char *key;
            json_t *value;
            bool first = true;
            //  jansson iterates objects in insertion order: the schema's field order.
            json_object_foreach ((json_t *) json, key, value) {
                if (!first)
                    s_put (text, ",", 1);
                first = false;
                s_put_string (text, key, strlen (key));
                s_put (text, ":", 1);
                s_put_value (text, value, depth + 1);
            }
            s_put (text, "}", 1);
            break;
        }
        case JSON_ARRAY: {
            s_put (text, "[", 1);
            size_t index;
            json_t *value;
            json_array_foreach (json, index, value) {
                if (index)
                    s_put (text, ",", 1);
                s_put_value (text, value, depth + 1);
            }
            s_put (text, "]", 1);
            break;
        }
        case JSON_STRING:
            s_put_string (text, json_string_value (json), json_string_length (json));
            break;
        case JSON_INTEGER:
            s_put_integer (text, json_integer_value (json));
            break;
        case JSON_REAL:
            s_put_real (text, json_real_value (json));
            break;
        case JSON_TRUE:
            s_put (text, "true", 4);
            break;
        case JSON_FALSE:
            s_put (text, "false", 5);
            break;
        case JSON_NULL:
            s_put (text, "null", 4);
            break;
    }
}

int
gw_json_append (struct evbuffer *out, const json_t *json)
{
    assert (out);
    assert (json);
    char stack [JSON_STACK_BYTES];
    s_text_t text = { .data = stack, .cap = sizeof stack };
    s_put_value (&text, json, 0);
    int rc = text.failed ? -1 : evbuffer_add (out, text.data, text.len);
    if (text.heap)
        free (text.data);
    return rc;
}

//  True when no field of msg is shown.
static bool
s_msg_empty (const mg_msgdesc_t *desc, const void *msg)
{
    for (size_t i = 0; i < desc->nfields; i++)
        if (mg_msg_field_shown (&desc->fields [i], msg))
            return false;
    return true;
}

//  Write msg as a JSON object (see gw_msg_append).
static void
s_put_msg (s_text_t *text, const mg_msgdesc_t *desc, const void *msg, bool nulls)
{
    const char *base = msg;
    bool first = true;
    s_put (text, "{", 1);
    for (size_t i = 0; i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        if (!mg_msg_field_shown (f, msg))
            continue;
        if (!first)
            s_put (text, ",", 1);
        first = false;
        s_put_string (text, f->name, strlen (f->name));
        s_put (text, ":", 1);
        const void *at = base + f->offset;
        switch (f->type) {
            case MG_T_STR: {
                const char *value = *(char *const *) at;
                s_put_string (text, value, strlen (value));
                break;
            }
            case MG_T_INT:
                s_put_integer (text, (json_int_t) *(const int64_t *) at);
                break;
            case MG_T_UINT: {
                uint64_t value = *(const uint64_t *) at;
                if (value <= INT64_MAX)
                    s_put_integer (text, (json_int_t) value);
                else
                    s_put_real (text, (double) value);
                break;
            }
            case MG_T_DOUBLE:
                s_put_real (text, *(const double *) at);
                break;
            case MG_T_BOOL:
                if (*(const bool *) at)
                    s_put (text, "true", 4);
                else
                    s_put (text, "false", 5);
                break;
            case MG_T_STRLIST: {
                char *const *items = *(char *const *const *) at;
                size_t count = *(const size_t *) (base + f->aux_offset);
                s_put (text, "[", 1);
                for (size_t j = 0; j < count; j++) {
                    if (j)
                        s_put (text, ",", 1);
                    const char *item = items [j] ? items [j] : "";
                    s_put_string (text, item, strlen (item));
                }
                s_put (text, "]", 1);
                break;
            }
            case MG_T_MSG:
                s_put_msg (text, f->sub, *(void *const *) at, nulls);
                break;
            case MG_T_MSGLIST: {
                const char *items = *(char *const *) at;
                size_t count = *(const size_t *) (base + f->aux_offset);
                s_put (text, "[", 1);
                for (size_t j = 0; j < count; j++) {
                    if (j)
                        s_put (text, ",", 1);
                    const void *item = items + j * f->sub->size;
                    if (nulls && s_msg_empty (f->sub, item))
                        s_put (text, "null", 4);
                    else
                        s_put_msg (text, f->sub, item, nulls);
                }
                s_put (text, "]", 1);
                break;
            }
        }
    }
    s_put (text, "}", 1);
}

int
gw_msg_append (struct evbuffer *out, const mg_msgdesc_t *desc, const void *msg, bool nulls)
{
    assert (out);
    assert (desc);
    assert (msg);
    char stack [JSON_STACK_BYTES];
    s_text_t text = { .data = stack, .cap = sizeof stack };
    s_put_msg (&text, desc, msg, nulls);
    int rc = text.failed ? -1 : evbuffer_add (out, text.data, text.len);
    if (text.heap)
        free (text.data);
    return rc;
}
