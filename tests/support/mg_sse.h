/*  A Server-Sent Events client for tests: opens GET path on 127.0.0.1:port
    over a plain socket, reads the answer's head, then events one by one
    from the chunked (or plain) body. Comment lines (heartbeats) are counted
    and skipped; a "retry:" field is remembered.  */
#ifndef MG_SSE_H_INCLUDED
#define MG_SSE_H_INCLUDED

#include "mg_http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mg_sse_t mg_sse_t;

typedef struct {
    char id [32];                   //  "" when the event had no id: line
    char type [64];                 //  "message" when it had no event: line
    char *data;                     //  data: lines joined by '\n' (owned: mg_sse_event_free)
} mg_sse_event_t;

//  Send GET path with extra header lines (each ending "\r\n") and read the
//  head. When the status is 200 the stream is returned (reply->status set,
//  no body); otherwise NULL with the whole answer in reply (free it with
//  mg_http_reply_free), or status 0 when nothing came within timeout_ms.
mg_sse_t *mg_sse_open (int port, const char *path, const char *headers, mg_http_reply_t *reply, int timeout_ms);

//  Next event within timeout_ms. Returns 0 with event filled, 1 when the
//  server ended the stream, -1 on timeout or error.
int mg_sse_next (mg_sse_t *self, mg_sse_event_t *event, int timeout_ms);

//  Comment lines seen so far, and the last retry: value (-1: none).
size_t mg_sse_comments (mg_sse_t *self);
int mg_sse_retry (mg_sse_t *self);

//  Parse one event from text (len bytes of SSE lines, without transfer
//  framing) into event; *used is the bytes taken. Returns 0 for an event,
//  1 when text holds no complete event yet. comments counts comment lines.
int mg_sse_parse (const char *text, size_t len, mg_sse_event_t *event, size_t *used, size_t *comments, int *retry);

void mg_sse_event_free (mg_sse_event_t *event);

//  Close the connection (without reading on). Nulls *self_p.
void mg_sse_close (mg_sse_t **self_p);

#endif
