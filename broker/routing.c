/*  Messages on the ROUTER and the worker registry: READY (checked against
    the certificate), heartbeats, BYE, and the liveness that drops a silent
    worker and answers what it held.  */
#include "internal.h"

void
bk_worker_free (void **item)
{
    bk_worker_t *self = *item;
    if (self) {
        zframe_destroy (&self->identity);
        zlistx_destroy (&self->held);
        free (self);
        *item = NULL;
    }
}

//  Send MG1 cmd to a worker.
void
bk_send_worker (mg_broker_t *self, zframe_t *identity, const char *cmd)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (identity) });
    zmsg_addstr (msg, MG_FRAME_PROTOCOL);
    zmsg_addstr (msg, cmd);
    if (zmsg_send (&msg, self->router))
        zmsg_destroy (&msg);
}

//  Drop a worker. What it holds that is not yet answered gets WORKER_LOST,
//  except an idempotent request with time left that no lost worker held
//  before: it goes back to the head of its service's queue, in the order the
//  worker took them, for another worker (once: a request that kills every
//  worker it reaches stops at the second), unless this broker has just turned
//  passive (its workers go to the other one). With no live worker left the
//  queue is answered SERVICE_UNAVAILABLE below.
void
bk_worker_delete (mg_broker_t *self, bk_worker_t *worker, const char *why)
{
    bk_service_t *service = worker->service;
    int64_t now = zclock_mono ();
    bool give_again = self->pair.state != BK_PAIR_PASSIVE;
    zlistx_t *again = NULL;       //  not owned: bound for the queue's head
    size_t lost = 0;
    bk_request_t *request = zlistx_first (worker->held);
    while (request) {
        if (give_again && !request->answered && request->idempotent && !request->given_again
        &&  request->deadline > now && (again || (again = zlistx_new ()))) {
            zlistx_detach_cur (worker->held);
            request->given_again = true;
            zlistx_add_end (again, request);
        }
        else
        if (!request->answered) {
            bk_fail_request (self, request, "WORKER_LOST",
                            "the worker handling this request stopped", 1);
            lost++;
        }
        request = zlistx_next (worker->held);
    }
    size_t given_again = again ? zlistx_size (again) : 0;
    for (request = again ? zlistx_last (again) : NULL; request; request = zlistx_prev (again))
        zlistx_add_start (service->queue, request);
    zlistx_destroy (&again);
    self->given_again += given_again;
    void *handle = zlistx_find (service->workers, worker);
    if (handle)
        zlistx_delete (service->workers, handle);
    if (!worker->draining)
        service->live--;
    mg_info ("worker removed", "service=%s worker=%s reason=%s lost=%zu given_again=%zu live=%zu",
             service->name, worker->key, why, lost, given_again, service->live);
    bk_service_fail_queue_if_dead (self, service);
    zhashx_delete (self->workers, worker->key);
    //  Requests that only this worker had not declined are now answerable.
    bk_dispatch (self, service);
}

//  READY service credit [stall_ms]: register (again) a worker. meta_frame
//  carries the connection's metadata (the CURVE key).
static void
s_on_ready (mg_broker_t *self, zframe_t *sender, zframe_t *meta_frame, const char *key, zmsg_t *msg)
{
    zframe_t *service_frame = zmsg_pop (msg);
    zframe_t *credit_frame = zmsg_pop (msg);
    zframe_t *stall_frame = zmsg_pop (msg);
    uint32_t credit = 0;
    uint32_t stall_ms = (uint32_t) self->config.stall_ms;
    const char *name = service_frame ? (const char *) zframe_data (service_frame) : NULL;
    size_t len = service_frame ? zframe_size (service_frame) : 0;
    bool valid = name && len >= 1 && len <= MG_NAME_MAX && !memchr (name, '.', len)
              && mg_frame_uint (credit_frame, 1, MG_CREDIT_MAX, &credit) == 0
              && (!stall_frame || mg_frame_uint (stall_frame, 1, MG_TTL_MAX_MS, &stall_ms) == 0);
    for (size_t i = 0; valid && i < len; i++)
        valid = (name [i] >= 'a' && name [i] <= 'z') || (name [i] >= '0' && name [i] <= '9')
             || name [i] == '_' || name [i] == '-';
    if (!valid || (len == 3 && memcmp (name, "mmi", 3) == 0)) {
        mg_warn ("rejected a bad READY", "worker=%s", key);
        zframe_destroy (&service_frame);
        zframe_destroy (&credit_frame);
        zframe_destroy (&stall_frame);
        return;
    }
    if (!bk_may_serve (self, meta_frame, key, name, len)) {
        zframe_destroy (&service_frame);
        zframe_destroy (&credit_frame);
        zframe_destroy (&stall_frame);
        return;
    }
    bk_worker_t *old = zhashx_lookup (self->workers, key);
    if (old)
        bk_worker_delete (self, old, "registered again");
    bk_worker_t *worker = calloc (1, sizeof *worker);
    assert (worker);
    snprintf (worker->key, sizeof worker->key, "%s", key);
    worker->identity = zframe_dup (sender);
    const char *public_key = self->certs ? zframe_meta (meta_frame, "User-Id") : NULL;
    snprintf (worker->public_key, sizeof worker->public_key, "%s", public_key ? public_key : "");
    worker->credit = (int) credit;
    worker->stall_ms = stall_ms;
    worker->held = zlistx_new ();
    zlistx_set_destructor (worker->held, bk_request_free);
    worker->expiry = zclock_mono () + (int64_t) self->config.heartbeat_ms * self->config.liveness;
    worker->service = bk_service_require (self, name, len);
    zlistx_add_end (worker->service->workers, worker);
    worker->service->live++;
    zhashx_insert (self->workers, key, worker);
    mg_info ("worker ready", "service=%s worker=%s credit=%d stall_ms=%lld live=%zu",
             worker->service->name, key, worker->credit, (long long) worker->stall_ms, worker->service->live);
    zframe_destroy (&service_frame);
    zframe_destroy (&credit_frame);
    zframe_destroy (&stall_frame);
    bk_dispatch (self, worker->service);
}

//  Answer a request to a passive broker: MG1 ERR name id with BROKER_PASSIVE.
static void
s_refuse_passive (mg_broker_t *self, zframe_t *sender, zmsg_t *msg)
{
    zframe_t *name = zmsg_pop (msg);
    zframe_t *id = zmsg_pop (msg);
    if (name && id && zframe_size (id) >= 1 && zframe_size (id) <= MG_REQID_MAX)
        bk_send_error (self, sender, name, id, "BROKER_PASSIVE",
                       "this broker is the passive one of a pair: send to the other", 1);
    zframe_destroy (&name);
    zframe_destroy (&id);
}

//  True for a request of mmi.stats, which a passive broker answers too:
//  it runs nothing, and it is how one asks a pair member its state.
static bool
s_is_stats (mg_cmd_t cmd, zmsg_t *msg)
{
    zframe_t *name = zmsg_first (msg);
    return cmd == MG_CMD_REQ && name && zframe_streq (name, "mmi.stats");
}

//  One message on the ROUTER.
void
bk_on_router (mg_broker_t *self)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    zframe_t *sender = zmsg_pop (msg);
    zframe_t *proto = zmsg_pop (msg);
    zframe_t *cmd_frame = zmsg_pop (msg);
    mg_cmd_t cmd = mg_frame_cmd (cmd_frame);
    if (!sender || !mg_frame_is_protocol (proto) || cmd == MG_CMD_UNKNOWN) {
        mg_warn ("dropped a message that is not MG1", NULL);
    }
    else
    if (!bk_pair_may_serve (self, cmd != MG_CMD_REQ) && !s_is_stats (cmd, msg)) {
        //  Passive: a client is told so (nothing ran, it may send the request
        //  to the other broker at once); a worker hears nothing, and its
        //  liveness timer moves it to the other endpoint.
        if (cmd == MG_CMD_REQ)
            s_refuse_passive (self, sender, msg);
    }
    else
    if (cmd == MG_CMD_REQ)
        bk_on_request (self, sender, msg);
    else {
        char key [KEY_MAX];
        size_t size = zframe_size (sender);
        const uint8_t *data = zframe_data (sender);
        static const char hex [] = "0123456789abcdef";
        for (size_t i = 0; i < size && i < 255; i++) {
            key [2 * i] = hex [data [i] >> 4];
            key [2 * i + 1] = hex [data [i] & 15];
        }
        key [2 * (size < 255 ? size : 255)] = 0;
        bk_worker_t *worker = zhashx_lookup (self->workers, key);
        if (cmd == MG_CMD_READY)
            s_on_ready (self, sender, proto, key, msg);
        else
        if (!worker) {
            //  A worker we do not know (e.g. we restarted): ask it to register.
            if (cmd != MG_CMD_BYE)
                bk_send_worker (self, sender, "RESET");
        }
        else {
            worker->expiry = zclock_mono () + (int64_t) self->config.heartbeat_ms * self->config.liveness;
            if (cmd == MG_CMD_REP || cmd == MG_CMD_ERR || cmd == MG_CMD_DECLINE)
                bk_on_reply (self, worker, mg_frame_cmd_text (cmd), msg);
            else
            if (cmd == MG_CMD_BYE) {
                if (!worker->draining) {
                    worker->draining = true;
                    worker->service->live--;
                    mg_info ("worker draining", "service=%s worker=%s held=%zu",
                             worker->service->name, key, zlistx_size (worker->held));
                    bk_service_fail_queue_if_dead (self, worker->service);
                }
                if (zlistx_size (worker->held) == 0)
                    bk_worker_delete (self, worker, "left");
            }
        }
    }
    zframe_destroy (&sender);
    zframe_destroy (&proto);
    zframe_destroy (&cmd_frame);
    zmsg_destroy (&msg);
}

//  Drop workers that have been silent past their liveness.
void
bk_expire_workers (mg_broker_t *self)
{
    int64_t now = zclock_mono ();
    //  Deleting while iterating: collect first.
    zlistx_t *dead = zlistx_new ();
    assert (dead);
    for (bk_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers))
        if (worker->expiry < now)
            zlistx_add_end (dead, worker);
    for (bk_worker_t *worker = zlistx_first (dead); worker; worker = zlistx_next (dead))
        bk_worker_delete (self, worker, "expired");
    zlistx_destroy (&dead);
}
