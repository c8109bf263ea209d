/*  respond.c: every response leaves through here: JSON bodies, the error
    shape, bus error code -> HTTP status.  */
#ifndef GW_RESPOND_H_INCLUDED
#define GW_RESPOND_H_INCLUDED

#include "gw_request.h"
#include "mg_msg.h"

#define GW_JSON_TYPE "application/json; charset=utf-8"

//  Answer with status and the JSON text (len bytes). Ends the request.
void gw_reply_json (gw_request_t *request, int status, const char *json, size_t len);

//  Answer with status and what is in the request's output buffer already,
//  with content_type. Ends the request.
void gw_reply_buffer (gw_request_t *request, int status, const char *content_type);

//  Send what the request's output buffer and headers hold with status (an
//  answer guard.c held for its rate decision). Ends the request.
void gw_reply_send (gw_request_t *request, int status);

//  Answer {"error":{"code":code,"message":...}} with status; retry_after > 0
//  adds Retry-After (and "retry_after" to the body for 429). Ends the request.
void gw_reply_error (gw_request_t *request, int status, const char *code,
                     uint32_t retry_after, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

//  Answer a bus error reply: status from its code, Retry-After from
//  retry_after (1 s for unavailable services when absent). Ends the request.
void gw_reply_bus_error (gw_request_t *request, const mg_error_t *error);

//  HTTP status for a bus error code (500 for codes it does not know).
int gw_status_for_code (const char *code);

#endif
