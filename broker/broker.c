/*  MG1 broker.

    It fixes the known gaps of the zguide Majordomo broker (mdbroker.c):
    - liveness is tracked for busy workers too, and every request a dead or
      departed worker held is answered with WORKER_LOST;
    - a request for a service without live workers is answered at once with
      SERVICE_UNAVAILABLE instead of waiting forever in a queue;
    - queues are bounded (SERVICE_BUSY) and requests carry a ttl: one that
      runs out in the queue or at a worker is answered DEADLINE_EXCEEDED and
      never delivered late;
    - a worker may hold several requests (credit), so one slow request does
      not idle a whole process, and dispatch is least-recently-used among
      workers with spare credit;
    - a worker may decline a request it cannot serve (e.g. a search replica
      without a model asked for semantic search): the broker gives it to a
      worker of the same service that has not declined it, or answers the
      decliner's error when every live worker has;
    - a worker whose credit has been used up with no answer for
      MG_BROKER_STALL_MS is stalled: when every worker of a service is, its
      requests get SERVICE_BUSY at once instead of waiting out their ttl.
    With a key directory every socket is a CURVE server: a peer whose
    public key is not in keys/clients is refused at the handshake by the
    broker's own ZAP handler (zauth cannot hand the certificate's metadata
    on), and a worker may register only a service its certificate's
    "services" names (docs/security.md).
    A client therefore always gets exactly one answer per request while the
    broker lives. The broker holds no state worth keeping: after a restart
    workers register again (RESET, or their own liveness timer).

    This file: sockets, the poll loop and the event proxy; internal.h says
    which file holds the rest.  */
#include "internal.h"

#include <signal.h>

#define TICK_BUSY_MS   5          //  poll timeout while requests wait: deadline precision
#define ROUTER_HWM     65536      //  messages per peer and direction: a gateway thread has at
                                  //  most 65,536 calls in flight (gateway/bus.c), so its replies
                                  //  always fit; a peer that stops reading loses its replies
                                  //  past this instead of growing the broker without bound

//  Set by SIGHUP: read the clients directory again.
static volatile sig_atomic_t s_reload;

static void
s_on_sighup (int signum)
{
    (void) signum;
    s_reload = 1;
}

mg_broker_t *
mg_broker_new (const mg_broker_config_t *config)
{
    assert (config);
    mg_broker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->router = zsock_new (ZMQ_ROUTER);
    self->xsub = zsock_new (ZMQ_XSUB);
    self->xpub = zsock_new (ZMQ_XPUB);
    self->services = zhashx_new ();
    self->workers = zhashx_new ();
    if (!self->router || !self->xsub || !self->xpub || !self->services || !self->workers) {
        mg_broker_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->services, bk_service_destroy);
    zhashx_set_destructor (self->workers, bk_worker_free);
    //  Replies to a vanished client are dropped, not queued forever; and no
    //  peer's pipe grows past ROUTER_HWM (see its definition).
    zsock_set_router_mandatory (self->router, 0);
    zsock_set_sndhwm (self->router, ROUTER_HWM);
    zsock_set_rcvhwm (self->router, ROUTER_HWM);
    zsock_set_linger (self->router, 0);
    //  The event proxy passes bursts whole (MG_EVENTS_HWM, not ZeroMQ's 1,000).
    zsock_set_rcvhwm (self->xsub, MG_EVENTS_HWM);
    zsock_set_sndhwm (self->xpub, MG_EVENTS_HWM);
    zsock_set_linger (self->xsub, 0);
    zsock_set_linger (self->xpub, 0);
    if (config->keys && bk_curve_start (self, config->keys)) {
        mg_broker_destroy (&self);
        return NULL;
    }
    if (bk_pair_start (self)) {
        mg_broker_destroy (&self);
        return NULL;
    }
    if (zsock_bind (self->router, "%s", config->bind) < 0
    ||  zsock_bind (self->xsub, "%s", config->events_pub_bind) < 0
    ||  zsock_bind (self->xpub, "%s", config->events_sub_bind) < 0) {
        mg_error ("cannot bind", "requests=%s events_pub=%s events_sub=%s error=\"%s\"",
                  config->bind, config->events_pub_bind, config->events_sub_bind, zmq_strerror (zmq_errno ()));
        mg_broker_destroy (&self);
        return NULL;
    }
    return self;
}

void
mg_broker_destroy (mg_broker_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        mg_broker_t *self = *self_p;
        //  Workers reference services: drop workers first.
        zhashx_destroy (&self->workers);
        zhashx_destroy (&self->services);
        zsock_destroy (&self->router);
        zsock_destroy (&self->xsub);
        zsock_destroy (&self->xpub);
        zsock_destroy (&self->zap);
        bk_pair_stop (self);
        zcertstore_destroy (&self->certs);
        zstr_free (&self->clients_dir);
        free (self);
        *self_p = NULL;
    }
}

//  Forward one event (or subscription) from one proxy socket to the other;
//  to NULL: drop it (a passive pair member forwards no events).
static void
s_forward (zsock_t *from, zsock_t *to)
{
    zmsg_t *msg = zmsg_recv (from);
    if (msg && (!to || zmsg_send (&msg, to)))
        zmsg_destroy (&msg);
}

int
mg_broker_run (mg_broker_t *self)
{
    assert (self);
    mg_info ("broker ready", "requests=%s events_pub=%s events_sub=%s heartbeat_ms=%d liveness=%d",
             self->config.bind, self->config.events_pub_bind, self->config.events_sub_bind,
             self->config.heartbeat_ms, self->config.liveness);
    self->heartbeat_at = zclock_mono () + self->config.heartbeat_ms;
    struct sigaction hup = { .sa_handler = s_on_sighup };
    sigemptyset (&hup.sa_mask);
    if (sigaction (SIGHUP, &hup, NULL))
        mg_warn ("cannot handle SIGHUP", NULL);
    while (!zsys_interrupted) {
        if (s_reload && self->certs) {
            s_reload = 0;
            bk_reload_clients (self);
        }
        zmq_pollitem_t items [] = {
            { zsock_resolve (self->router), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (self->xsub), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (self->xpub), 0, ZMQ_POLLIN, 0 },
            { NULL, 0, ZMQ_POLLIN, 0 },
            { NULL, 0, ZMQ_POLLIN, 0 }
        };
        int nitems = 3;
        if (self->zap)
            items [nitems++].socket = zsock_resolve (self->zap);
        zsock_t *pair = bk_pair_socket (self);
        if (pair)
            items [nitems++].socket = zsock_resolve (pair);
        //  A pair member wakes twice a heartbeat so its state goes out on time.
        long timeout = bk_busy (self) ? TICK_BUSY_MS
                     : pair ? self->config.heartbeat_ms / 2 : self->config.heartbeat_ms;
        int rc = zmq_poll (items, nitems, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            mg_error ("poll failed", "error=\"%s\"", zmq_strerror (errno));
            return -1;
        }
        //  The peer's state first: a request may depend on who is active.
        if (pair && (zsock_events (pair) & ZMQ_POLLIN))
            bk_pair_on_peer (self);
        //  Drain a bounded batch per wake so timers still run under load.
        for (int i = 0; i < 256 && (zsock_events (self->router) & ZMQ_POLLIN); i++)
            bk_on_router (self);
        if (items [1].revents & ZMQ_POLLIN)
            s_forward (self->xsub, bk_pair_forwards_events (self) ? self->xpub : NULL);
        if (items [2].revents & ZMQ_POLLIN)
            s_forward (self->xpub, self->xsub);
        if (self->zap && (items [3].revents & ZMQ_POLLIN))
            bk_on_zap (self);
        bk_pair_tick (self);
        bk_expire_workers (self);
        bk_expire_requests (self);
        if (zclock_mono () >= self->heartbeat_at) {
            for (bk_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers))
                bk_send_worker (self, worker->identity, "HB");
            self->heartbeat_at = zclock_mono () + self->config.heartbeat_ms;
        }
    }
    mg_info ("broker stopping", "requests=%llu errors=%llu refused_handshakes=%llu refused_registrations=%llu",
             (unsigned long long) self->requests, (unsigned long long) self->errors,
             (unsigned long long) self->refused_handshakes, (unsigned long long) self->refused_registrations);
    return 0;
}
