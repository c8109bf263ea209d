/*  The text of Server-Sent Events: one event, a Last-Event-ID value, and
    which device a stream's event is for. Pure functions (unit tested).  */
#include "gw_sse_format.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
gw_sse_format (struct evbuffer *out, uint64_t id, const char *type, const char *data)
{
    assert (out && type && data);
    //  A line break inside a field would end it: type has none by
    //  construction, data is split into one data: line per line.
    if (strpbrk (type, "\r\n"))
        return -1;
    if (evbuffer_add_printf (out, "id: %" PRIu64 "\nevent: %s\n", id, type) < 0)
        return -1;
    const char *line = data;
    for (;;) {
        size_t len = strcspn (line, "\r\n");
        if (evbuffer_add (out, "data: ", 6) || evbuffer_add (out, line, len) || evbuffer_add (out, "\n", 1))
            return -1;
        line += len;
        if (*line == '\0')
            break;
        line += (line [0] == '\r' && line [1] == '\n') ? 2 : 1;
    }
    return evbuffer_add (out, "\n", 1);
}

int
gw_sse_parse_id (const char *text, int64_t *id)
{
    assert (id);
    if (!text)
        return -1;
    while (*text == ' ' || *text == '\t')
        text++;
    size_t digits = strspn (text, "0123456789");
    size_t rest = digits + strspn (text + digits, " \t");
    //  At most 18 digits: always fits in int64_t.
    if (digits == 0 || digits > 18 || text [rest] != '\0')
        return -1;
    *id = strtoll (text, NULL, 10);
    return 0;
}

bool
gw_sse_wants (const char *device, const char *origin, const char *target)
{
    assert (device);
    if (origin && strcasecmp (origin, device) == 0)
        return false;               //  its own change: the device knows it
    if (target && strcasecmp (target, device) != 0)
        return false;               //  meant for another device (handoff)
    return true;
}
