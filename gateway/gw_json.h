/*  json.c: JSON text straight into an evbuffer (no per-node allocations).  */
#ifndef GW_JSON_H_INCLUDED
#define GW_JSON_H_INCLUDED

#include "mg_msg.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Append json to out as compact JSON text, byte for byte what jansson's
//  json_dumps (JSON_COMPACT) writes, in one evbuffer_add and without
//  jansson's per-node allocations. Returns 0, or -1 (out unchanged).
int gw_json_append (struct evbuffer *out, const json_t *json);

//  Append msg (a message of desc) as JSON to out: the same text as
//  gw_json_append of mg_msg_to_json, written straight from the struct.
//  With nulls, list items that have no field shown are written as null.
//  Returns 0 or -1 (out of memory).
int gw_msg_append (struct evbuffer *out, const mg_msgdesc_t *desc, const void *msg, bool nulls);

//  Append s (len bytes) to out as a JSON string with quotes; bytes that are
//  not valid UTF-8 become U+FFFD so the document stays valid.
void gw_json_append_string (struct evbuffer *out, const char *s, size_t len);

#endif
