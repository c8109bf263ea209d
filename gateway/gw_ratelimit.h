/*  ratelimit.c: rate-limit header values of a decision, and the client
    id of a caller's address.  */
#ifndef GW_RATELIMIT_H_INCLUDED
#define GW_RATELIMIT_H_INCLUDED

#include "gw_request.h"
#include "mg_msg.h"

//  Header values for decision at now_s (epoch seconds). The window closest
//  to running out is the one reported. Returns 0, or -1 when a value does
//  not fit (nothing to add then).
int gw_rate_headers_format (const mg_ratelimit_reply_t *decision, int64_t now_s,
                            gw_rate_headers_t *out);

//  Client id of the caller's network address: peer (the TCP peer's address),
//  or, when peer is one of trusted (comma-separated addresses), the
//  right-most X-Forwarded-For entry (xff, may be NULL) that is not trusted.
//  Writes "ip:<addr>" into out.
void gw_rate_client_ip (const char *peer, const char *xff, const char *trusted,
                        char *out, size_t outlen);

#endif
