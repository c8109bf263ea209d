/*  Synchronous bus client (CLIs, tests): one DEALER socket to the broker,
    one request at a time. The gateway has its own asynchronous client.  */
#ifndef MG_CLIENT_H_INCLUDED
#define MG_CLIENT_H_INCLUDED

#include "mg_msg.h"

#include <stdatomic.h>

typedef struct mg_client_t mg_client_t;

//  Connect to the broker's request endpoint. NULL on failure.
mg_client_t *mg_client_new (const char *endpoint);

//  Close and free; nulls *self_p. Safe on NULL.
void mg_client_destroy (mg_client_t **self_p);

//  Calls end at once with CANCELLED while *cancel is true (checked before
//  sending and every 100 ms of a wait), so a process that is stopping is
//  not held for a whole deadline. cancel may be NULL (the default: never).
void mg_client_set_cancel (mg_client_t *self, const atomic_bool *cancel);

//  Call name with req (req_desc; both may be NULL for an empty body) and wait
//  up to ttl_ms. On success returns 0 with rep decoded by rep_desc (caller
//  clears it). On failure returns -1 with err filled (caller clears it): the
//  error reply's code, or DEADLINE_EXCEEDED when nothing came in time,
//  BAD_REPLY when the reply did not decode, or CANCELLED (above).
int mg_client_call (mg_client_t *self, const char *name,
                    const mg_msgdesc_t *req_desc, const void *req,
                    const mg_msgdesc_t *rep_desc, void *rep,
                    uint32_t ttl_ms, mg_error_t *err);

#endif
