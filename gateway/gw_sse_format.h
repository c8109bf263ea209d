/*  sse_format.c: the text of Server-Sent Events (written by streams and /mcp).  */
#ifndef GW_SSE_FORMAT_H_INCLUDED
#define GW_SSE_FORMAT_H_INCLUDED

#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Append one event to out in SSE text: "id:", "event:", one "data:" line
//  per line of data, a blank line. Returns 0, or -1 (type has a line break,
//  or out of memory).
int gw_sse_format (struct evbuffer *out, uint64_t id, const char *type, const char *data);

//  Parse a Last-Event-ID value (decimal digits, blanks around them).
//  Returns 0 with *id, or -1.
int gw_sse_parse_id (const char *text, int64_t *id);

//  Whether the stream of device gets an event made by origin (NULL: the
//  account) for target (NULL: every device): not its own changes, and a
//  targeted event only on its target.
bool gw_sse_wants (const char *device, const char *origin, const char *target);

#endif
