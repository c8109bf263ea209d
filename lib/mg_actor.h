/*  Actor runtime: registers a service with the broker, keeps heartbeats from
    an I/O thread, and runs a table of handlers on worker threads.

    A handler decodes nothing and knows no sockets: it gets the decoded
    request, fills the reply, or returns -1 after mg_actor_fail():

        static int
        s_on_genres (void *thread_state, const void *req, void *rep, mg_error_t *err)
        { ... }
        static const mg_method_t s_methods [] = {
            { "catalog.genres", &mg_empty_desc, &mg_genres_reply_desc, s_on_genres },
            { NULL }
        };

    Each worker thread holds one request at a time (the credit announced to
    the broker is the thread count), and a request whose deadline passed
    before a thread was free is answered DEADLINE_EXCEEDED unrun and counted
    (<service>.ping: expired).

    SIGTERM/SIGINT: stop taking work, finish what is in flight, say BYE, exit.  */
#ifndef MG_ACTOR_H_INCLUDED
#define MG_ACTOR_H_INCLUDED

#include "mg_msg.h"

#include <czmq.h>

typedef int (mg_handler_fn) (void *thread_state, const void *req, void *rep,
                             mg_error_t *err);

typedef struct {
    const char *name;              //  "service.method"
    const mg_msgdesc_t *req_desc;
    const mg_msgdesc_t *rep_desc;
    mg_handler_fn *handler;
} mg_method_t;

//  Per worker-thread state: made on the thread before its first request
//  (NULL = failure, the actor stops), destroyed on the thread at exit.
typedef void *(mg_thread_init_fn) (void *shared);
typedef void (mg_thread_fini_fn) (void *thread_state);

typedef struct mg_actor_t mg_actor_t;

//  New actor serving service with methods (NULL-terminated table, every
//  name prefixed "service."). Reads MG_BROKER, MG_HEARTBEAT_MS, ...
mg_actor_t *mg_actor_new (const char *service, const mg_method_t *methods);
void mg_actor_destroy (mg_actor_t **self_p);

//  Run threads worker threads (default MG_WORKER_THREADS or 1), each with
//  state from init (shared passed through); fini may be NULL.
void mg_actor_set_threads (mg_actor_t *self, int threads, mg_thread_init_fn *init,
                           mg_thread_fini_fn *fini, void *shared);

//  Tell the broker that a worker thread may legitimately be busy with one
//  request for up to stall_ms (default MG_WORKER_STALL_MS or 1000). When
//  every thread has been busy longer than that with no answer, the broker
//  answers the service's new requests SERVICE_BUSY (503) at once rather than
//  queueing them behind stuck workers. Actors whose handlers run long by
//  design (a batch commit, a whole fetch run) set it to their callers' ttl.
void mg_actor_set_stall (mg_actor_t *self, int stall_ms);

//  Serve until SIGTERM/SIGINT. Returns 0 on a clean stop, -1 on failure.
int mg_actor_run (mg_actor_t *self);

//  A PUB socket connected to the broker's event proxy (MG_EVENTS_PUB), for
//  publishing change events; NULL (logged) when it cannot be made. The caller
//  owns it (zsock_destroy).
zsock_t *mg_actor_event_publisher (void);

//  Publish message (encoded with desc) on topic through pub, a socket from
//  mg_actor_event_publisher: one frame of topic, one of msgpack. 0 when
//  handed to the socket; -1 when it does not encode or cannot be sent,
//  with the reason in reason (reason_size bytes). Nothing is retried:
//  subscribers recover a missed event by their own means.
int mg_actor_publish (zsock_t *pub, const char *topic, const mg_msgdesc_t *desc,
                      const void *message, char *reason, size_t reason_size);

//  Publish body (len bytes, any encoding) on topic through pub; 0, or -1
//  when it cannot be sent (reason filled).
int mg_actor_publish_bytes (zsock_t *pub, const char *topic, const void *body, size_t len,
                            char *reason, size_t reason_size);

//  Fill err (code, message, optional retry_after and parameter) for a
//  handler that returns -1. Returns -1 so handlers can `return mg_actor_fail (...)`.
int mg_actor_fail (mg_error_t *err, const char *code, const char *param,
                   const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

//  For a handler that cannot serve a request another replica of the service
//  could (e.g. search without a model): the broker hands the request to a
//  replica that has not declined it, and only when every live one has does
//  the caller get this error, SERVICE_UNAVAILABLE with retry_after 1 (503).
//  Returns -1 so handlers can `return mg_actor_decline (...)`.
int mg_actor_decline (mg_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

#endif
