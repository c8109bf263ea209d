/*  forward.c: the forward stage: a bound request to its bus method, the
    reply (or error, or deadline) to HTTP.  */
#ifndef GW_FORWARD_H_INCLUDED
#define GW_FORWARD_H_INCLUDED

#include "gw_request.h"

//  Send the bound request body for request->route to its bus method and
//  answer the HTTP request when the reply, an error or the deadline comes.
//  Takes ownership of *body_p.
void gw_forward (gw_request_t *request, uint8_t **body_p, size_t len);

#endif
