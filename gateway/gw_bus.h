/*  bus.c, bus_call.c, bus_reply.c: the asynchronous DEALER client of one
    thread.  */
#ifndef GW_BUS_H_INCLUDED
#define GW_BUS_H_INCLUDED

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_bus_t gw_bus_t;

typedef enum {
    GW_BUS_REPLY = 0,               //  REP: body is the reply message
    GW_BUS_ERROR,                   //  ERR: body is an error message
    GW_BUS_TIMEOUT,                 //  no answer within ttl
    GW_BUS_LOST                     //  the connection to the broker dropped, or none
                                    //  came up within the ttl
} gw_bus_outcome_t;

//  Called exactly once per call, from the event loop, never from inside
//  gw_bus_call. body is valid during the call only.
typedef void (gw_bus_fn) (void *arg, gw_bus_outcome_t outcome,
                          const uint8_t *body, size_t len, int64_t rtt_us);

//  New client on base: a DEALER connected to endpoint (or one to each of the
//  two brokers of a pair, "tcp://a,tcp://b"), its fd watched by the
//  loop, ZMTP heartbeats every heartbeat_ms, dead after liveness silent
//  intervals. zmq_ctx is shared by all threads. NULL on failure.
gw_bus_t *gw_bus_new (struct event_base *base, void *zmq_ctx, const char *endpoint,
                      int heartbeat_ms, int liveness, int index);

//  Close the socket; callbacks of pending calls are not called. Nulls *self_p.
void gw_bus_destroy (gw_bus_t **self_p);

//  Send name + body with ttl_ms. Returns 0 (cb will be called), or -1 at once
//  when the send queue is full or too many calls are in flight. While no
//  broker is connected the call is held and sent once one is; it ends
//  GW_BUS_LOST if none is by ttl_ms.
int gw_bus_call (gw_bus_t *self, const char *name, const void *body, size_t len,
                 uint32_t ttl_ms, gw_bus_fn *cb, void *arg);

//  gw_bus_call for a request that may run twice without harm (a read, a PUT
//  that sets state): with a broker pair it is sent again to the other broker
//  when its broker is lost, where gw_bus_call ends GW_BUS_LOST.
int gw_bus_call_idempotent (gw_bus_t *self, const char *name, const void *body, size_t len,
                            uint32_t ttl_ms, gw_bus_fn *cb, void *arg);

//  Calls waiting for an answer (held ones included).
size_t gw_bus_pending (gw_bus_t *self);

//  True when a broker connection is up (a call is sent at once).
bool gw_bus_connected (gw_bus_t *self);

//  End every waiting call now with GW_BUS_LOST (shutdown past its deadline).
void gw_bus_abandon (gw_bus_t *self);

//  True when a message is waiting on a ZeroMQ socket (whose fd signals by
//  edge: a loop that stopped early checks this before it sleeps).
bool gw_bus_readable (void *socket);

#endif
