/*  Inside mg-broker: the state its files share, and what each file offers
    the others. One concern a file:

    broker.c   sockets, the poll loop, the event proxy
    routing.c  messages on the ROUTER, the worker registry, worker liveness
    queues.c   requests, per-service queues, dispatch, deadlines, replies
    auth.c     CURVE: the ZAP handler, the clients directory, who may serve what
    stats.c    mmi.service, mmi.services, mmi.stats
    pair.c     Binary Star: the primary/backup pair, which of the two is active  */
#ifndef MG_BROKER_INTERNAL_H_INCLUDED
#define MG_BROKER_INTERNAL_H_INCLUDED

#include "broker.h"
#include "mg_frame.h"
#include "mg_log.h"
#include "mg_msg.h"

#include <czmq.h>

#define KEY_MAX        (2 * 256 + 1)  //  hex of a routing id (at most 255 bytes)

typedef struct bk_service_t bk_service_t;
typedef struct bk_worker_t bk_worker_t;

//  One client request, queued or held by a worker.
typedef struct {
    zframe_t *client;             //  routing id of the client
    zframe_t *name;
    zframe_t *id;
    zframe_t *body;
    int64_t deadline;             //  monotonic ms
    bool answered;                //  broker already replied (deadline); drop the worker's reply
    bool idempotent;              //  the client marked it MG_FRAME_IDEMPOTENT
    bool given_again;             //  already given to another worker once after a lost one
    zlistx_t *declined;           //  keys of workers that declined it (char *); NULL: none
    zframe_t *decline_error;      //  the last decliner's error, the answer when nobody can
} bk_request_t;

struct bk_worker_t {
    char key [KEY_MAX];           //  hex of the routing id
    zframe_t *identity;
    bk_service_t *service;
    int credit;
    zlistx_t *held;               //  bk_request_t *, owned
    int64_t expiry;               //  monotonic ms after which it is dead
    int64_t full_since;           //  monotonic ms its credit was last used up
    int64_t stall_ms;             //  full and silent this long: stuck
    bool draining;                //  said BYE: nothing new
    char public_key [41];         //  Z85 CURVE key it registered with; "" without CURVE
};

struct bk_service_t {
    char name [MG_NAME_MAX + 1];
    zlistx_t *workers;            //  bk_worker_t *, LRU first; not owned
    zlistx_t *queue;              //  bk_request_t *, owned
    size_t live;                  //  workers not draining
};

//  Binary Star states (zguide chapter 4, bstar.c): a pair member starts as
//  PRIMARY or BACKUP and settles into ACTIVE or PASSIVE; a broker without a
//  peer is OFF and always serves.
typedef enum {
    BK_PAIR_OFF = 0,
    BK_PAIR_PRIMARY,
    BK_PAIR_BACKUP,
    BK_PAIR_ACTIVE,
    BK_PAIR_PASSIVE
} bk_pair_state_t;

typedef struct {
    bk_pair_state_t state;
    bool primary;                 //  our role (the one of a dual-active pair that stays)
    zsock_t *pub;                 //  our state, once a heartbeat
    zsock_t *sub;                 //  the peer's state
    int64_t send_at;              //  monotonic ms of our next state message
    int64_t peer_expiry;          //  monotonic ms after which the peer counts as dead
    int64_t peer_heard;           //  monotonic ms of the peer's last state message (0: never)
    int64_t warm_until;           //  after a failover, requests for a service without
                                  //  workers wait (until their ttl) for workers to move here
    uint64_t failovers;           //  times this broker became active after the peer died
} bk_pair_t;

struct mg_broker_t {
    mg_broker_config_t config;
    zsock_t *router;
    zsock_t *xsub;
    zsock_t *xpub;
    zhashx_t *services;           //  name -> bk_service_t, owned
    zhashx_t *workers;            //  key -> bk_worker_t, owned
    int64_t heartbeat_at;         //  next heartbeat to workers
    uint64_t requests;            //  counters for logs and mmi.stats
    uint64_t errors;
    uint64_t given_again;         //  idempotent requests of lost workers given to others
    zsock_t *zap;                 //  ZAP handler (CURVE only)
    zcertstore_t *certs;          //  keys/clients: who may connect, and serve what
    char *clients_dir;
    uint64_t refused_handshakes;
    uint64_t refused_registrations;
    int64_t refused_logged_at;    //  monotonic ms of the last refusal logged
    char broker_key [41];         //  our own public key (Z85): the pair's peer uses it
    bk_pair_t pair;               //  pair.c; state BK_PAIR_OFF when standalone
};

//  queues.c

void bk_request_free (void **item);

//  Send [client] MG1 cmd name id body to a client; takes body.
void bk_send_client (mg_broker_t *self, zframe_t *client, const char *cmd, zframe_t *name,
               zframe_t *id, zframe_t **body_p);

//  Answer a client with an error.
void bk_send_error (mg_broker_t *self, zframe_t *client, zframe_t *name, zframe_t *id,
              const char *code, const char *message, uint32_t retry_after);

//  Answer a request with an error (it stays owned by the caller).
void bk_fail_request (mg_broker_t *self, bk_request_t *request, const char *code,
                const char *message, uint32_t retry_after);

void bk_service_destroy (void **item);

//  The service called name (len bytes), created on first use.
bk_service_t * bk_service_require (mg_broker_t *self, const char *name, size_t len);

//  With no live worker left nobody can serve what is queued: fail it now.
void bk_service_fail_queue_if_dead (mg_broker_t *self, bk_service_t *service);

//  Give queued requests of service to workers with spare credit, LRU first,
//  never to a worker that declined the request. A request every live worker
//  declined is answered with the last decliner's error.
void bk_dispatch (mg_broker_t *self, bk_service_t *service);

//  A client request: MG1 REQ name id ttl body (after the routing id).
void bk_on_request (mg_broker_t *self, zframe_t *sender, zmsg_t *msg);

//  A worker's answer: MG1 REP|ERR|DECLINE client name id body.
void bk_on_reply (mg_broker_t *self, bk_worker_t *worker, const char *cmd, zmsg_t *msg);

//  Answer what ran out of time: queued and held requests past their
//  deadline, the queue of a service whose workers are all stuck.
void bk_expire_requests (mg_broker_t *self);

//  True when any request waits in a queue or at a worker.
bool bk_busy (mg_broker_t *self);


//  routing.c

void bk_worker_free (void **item);

//  Send MG1 cmd to a worker.
void bk_send_worker (mg_broker_t *self, zframe_t *identity, const char *cmd);

//  Drop a worker: every request it holds that is not yet answered gets
//  WORKER_LOST.
void bk_worker_delete (mg_broker_t *self, bk_worker_t *worker, const char *why);

//  One message on the ROUTER.
void bk_on_router (mg_broker_t *self);

//  Drop workers that have been silent past their liveness.
void bk_expire_workers (mg_broker_t *self);


//  auth.c

//  True when the peer whose message carried meta_frame may register service
//  (len bytes): always without CURVE; with it, when the certificate of the
//  key it connected with (still) lists the service.
bool bk_may_serve (mg_broker_t *self, zframe_t *meta_frame, const char *worker_key,
             const char *service, size_t len);

//  One ZAP request (RFC 27): version, request id, domain, address, routing
//  id, mechanism, credentials. A CURVE peer whose key is in the clients
//  directory is accepted with its key (Z85) as User-Id, so a READY can be
//  checked against the certificate's services; anything else is refused.
void bk_on_zap (mg_broker_t *self);

//  Read the clients directory again (SIGHUP): a key taken out can no longer
//  connect, and its registered workers are dropped, so their next message
//  gets RESET and their READY is refused. (Changes are also seen without
//  SIGHUP when a peer connects or registers; SIGHUP also catches an edit
//  within the same second that keeps the directory's size.)
void bk_reload_clients (mg_broker_t *self);

//  CURVE on the three sockets, our ZAP handler, the clients directory.
int bk_curve_start (mg_broker_t *self, const char *keys);


//  pair.c

//  Open the state sockets of a pair member (config pair_role set); 0 or -1
//  (logged). A standalone broker stays BK_PAIR_OFF.
int bk_pair_start (mg_broker_t *self);

//  Close the state sockets.
void bk_pair_stop (mg_broker_t *self);

//  The state socket to poll, or NULL when standalone.
zsock_t *bk_pair_socket (mg_broker_t *self);

//  One state message from the peer: the Binary Star transitions.
void bk_pair_on_peer (mg_broker_t *self);

//  Send our state when due. Call every loop turn.
void bk_pair_tick (mg_broker_t *self);

//  A client or worker (worker true) spoke to us. True when we serve it:
//  active, or the fencing rule lets us take over (peer silent past its
//  expiry and a peer of the bus chose us), or a starting primary hears no
//  backup. A starting primary registers workers at once (they would
//  otherwise wander to the backup and back); should the backup turn out to
//  be active, they are dropped and go there.
bool bk_pair_may_serve (mg_broker_t *self, bool worker);

//  True when events may pass the proxy (only the active broker forwards, so
//  a subscriber connected to both gets each event once).
bool bk_pair_forwards_events (mg_broker_t *self);

//  True while a fresh active broker waits for workers to move to it.
bool bk_pair_warming (mg_broker_t *self);

//  Text of our state, for logs and mmi.stats.
const char *bk_pair_state_text (mg_broker_t *self);

//  stats.c

//  Answer mmi.service and mmi.services.
void bk_on_mmi (mg_broker_t *self, bk_request_t *request);


#endif
