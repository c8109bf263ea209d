/*  mg_broker: the MG1 request broker and event proxy (docs/protocol.md,
    docs/broker.md). One thread, one poll loop over three sockets.  */
#ifndef MG_BROKER_H_INCLUDED
#define MG_BROKER_H_INCLUDED

#include <stdint.h>

typedef struct {
    const char *bind;             //  ROUTER for clients and workers
    const char *events_pub_bind;  //  XSUB: publishers connect here
    const char *events_sub_bind;  //  XPUB: subscribers connect here
    int heartbeat_ms;
    int liveness;
    int queue_max;                //  per service
    int stall_ms;                 //  credit used up this long without an answer: stuck
                                  //  (for workers whose READY does not say)
    const char *pair_role;        //  "primary" or "backup" of a Binary Star pair; NULL: standalone
    const char *pair_bind;        //  PUB: our state, for the peer
    const char *pair_peer;        //  the peer's pair_bind
    const char *keys;             //  key directory (mg_curve.h): CURVE on every socket,
                                  //  only keys in keys/clients accepted; NULL: plaintext
} mg_broker_config_t;

typedef struct mg_broker_t mg_broker_t;

//  Bind every socket. NULL (with a log line) when one cannot be bound.
mg_broker_t *mg_broker_new (const mg_broker_config_t *config);

//  Close sockets, answer nothing more, free. Nulls *self_p; safe on NULL.
void mg_broker_destroy (mg_broker_t **self_p);

//  Serve until SIGINT/SIGTERM. SIGHUP reloads the clients directory (it is
//  also read again whenever it changed when a peer connects or registers).
//  Returns 0, or -1 if polling failed.
int mg_broker_run (mg_broker_t *self);

#endif
