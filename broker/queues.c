/*  Requests and the per-service queues: a request is queued on arrival
    (or answered at once: no live worker, queue full, every worker stuck),
    dispatched least-recently-used to a worker with spare credit, re-queued
    when a worker declines it, and answered by the broker itself when its
    ttl runs out.  */
#include "internal.h"

static void
s_request_destroy (bk_request_t **self_p)
{
    if (*self_p) {
        bk_request_t *self = *self_p;
        zframe_destroy (&self->client);
        zframe_destroy (&self->name);
        zframe_destroy (&self->id);
        zframe_destroy (&self->body);
        zlistx_destroy (&self->declined);
        zframe_destroy (&self->decline_error);
        free (self);
        *self_p = NULL;
    }
}

void
bk_request_free (void **item)
{
    s_request_destroy ((bk_request_t **) item);
}

//  Send [client] MG1 cmd name id body to a client; takes body.
void
bk_send_client (mg_broker_t *self, zframe_t *client, const char *cmd, zframe_t *name,
               zframe_t *id, zframe_t **body_p)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (client) });
    zmsg_addstr (msg, MG_FRAME_PROTOCOL);
    zmsg_addstr (msg, cmd);
    zmsg_append (msg, &(zframe_t *) { name ? zframe_dup (name) : zframe_new_empty () });
    zmsg_append (msg, &(zframe_t *) { zframe_dup (id) });
    if (*body_p)
        zmsg_append (msg, body_p);
    else
        zmsg_append (msg, &(zframe_t *) { zframe_new_empty () });
    if (zmsg_send (&msg, self->router))
        zmsg_destroy (&msg);
}

//  Answer a client with an error.
void
bk_send_error (mg_broker_t *self, zframe_t *client, zframe_t *name, zframe_t *id,
              const char *code, const char *message, uint32_t retry_after)
{
    zframe_t *body = mg_frame_error_body (code, message, retry_after);
    self->errors++;
    bk_send_client (self, client, "ERR", name, id, &body);
    zframe_destroy (&body);
}

//  Answer a request with an error (it stays owned by the caller).
void
bk_fail_request (mg_broker_t *self, bk_request_t *request, const char *code,
                const char *message, uint32_t retry_after)
{
    bk_send_error (self, request->client, request->name, request->id, code, message, retry_after);
    request->answered = true;
}

void
bk_service_destroy (void **item)
{
    bk_service_t *self = *item;
    if (self) {
        zlistx_destroy (&self->workers);
        zlistx_destroy (&self->queue);
        free (self);
        *item = NULL;
    }
}

//  The service called name (len bytes), created on first use.
bk_service_t *
bk_service_require (mg_broker_t *self, const char *name, size_t len)
{
    char key [MG_NAME_MAX + 1];
    if (len > MG_NAME_MAX)
        len = MG_NAME_MAX;
    memcpy (key, name, len);
    key [len] = 0;
    bk_service_t *service = zhashx_lookup (self->services, key);
    if (!service) {
        service = calloc (1, sizeof *service);
        assert (service);
        memcpy (service->name, key, len + 1);
        service->workers = zlistx_new ();
        service->queue = zlistx_new ();
        zlistx_set_destructor (service->queue, bk_request_free);
        zhashx_insert (self->services, key, service);
    }
    return service;
}

//  With no live worker left nobody can serve what is queued: fail it now.
void
bk_service_fail_queue_if_dead (mg_broker_t *self, bk_service_t *service)
{
    if (service->live > 0)
        return;
    bk_request_t *queued;
    while ((queued = zlistx_first (service->queue))) {
        bk_fail_request (self, queued, "SERVICE_UNAVAILABLE", "no live worker for this service", 1);
        zlistx_delete (service->queue, zlistx_cursor (service->queue));
    }
}

//  True when worker declined request.
static bool
s_declined_by (bk_request_t *request, bk_worker_t *worker)
{
    if (request->declined)
        for (const char *key = zlistx_first (request->declined); key; key = zlistx_next (request->declined))
            if (streq (key, worker->key))
                return true;
    return false;
}

//  Give queued requests of service to workers with spare credit, LRU first,
//  never to a worker that declined the request. A request every live worker
//  declined is answered with the last decliner's error.
void
bk_dispatch (mg_broker_t *self, bk_service_t *service)
{
    bk_request_t *request = zlistx_first (service->queue);
    while (request) {
        bk_worker_t *worker = zlistx_first (service->workers);
        bool eligible = false;
        for (; worker; worker = zlistx_next (service->workers)) {
            if (worker->draining || s_declined_by (request, worker))
                continue;
            eligible = true;
            if ((int) zlistx_size (worker->held) < worker->credit)
                break;
        }
        if (!worker && !request->declined)
            return;             //  no credit anywhere: the queue waits
        if (!worker && eligible) {
            request = zlistx_next (service->queue);
            continue;           //  its willing workers are busy; later ones may go
        }
        if (!worker) {
            bk_send_client (self, request->client, "ERR", request->name, request->id, &request->decline_error);
            zlistx_delete (service->queue, zlistx_cursor (service->queue));
            request = zlistx_first (service->queue);
            continue;
        }
        //  Most recently used goes last.
        zlistx_move_end (service->workers, zlistx_cursor (service->workers));
        zlistx_detach_cur (service->queue);
        int64_t left = request->deadline - zclock_mono ();
        if (left < 1)
            left = 1;
        zmsg_t *msg = zmsg_new ();
        zmsg_append (msg, &(zframe_t *) { zframe_dup (worker->identity) });
        zmsg_addstr (msg, MG_FRAME_PROTOCOL);
        zmsg_addstr (msg, "REQ");
        zmsg_append (msg, &(zframe_t *) { zframe_dup (request->client) });
        zmsg_append (msg, &(zframe_t *) { zframe_dup (request->name) });
        zmsg_append (msg, &(zframe_t *) { zframe_dup (request->id) });
        zmsg_addstrf (msg, "%lld", (long long) left);
        //  The request keeps its body: a worker may decline it.
        zmsg_append (msg, &(zframe_t *) { zframe_dup (request->body) });
        if (zmsg_send (&msg, self->router))
            zmsg_destroy (&msg);
        zlistx_add_end (worker->held, request);
        if ((int) zlistx_size (worker->held) >= worker->credit)
            worker->full_since = zclock_mono ();
        request = zlistx_first (service->queue);
    }
}

//  True when service has live workers and every one of them has used up its
//  credit and answered nothing for stall_ms: all stuck, none will take work
//  soon, so waiting in the queue would only turn a 503 into a late 504.
static bool
s_service_stalled (bk_service_t *service, int64_t now)
{
    if (service->live == 0)
        return false;
    for (bk_worker_t *worker = zlistx_first (service->workers); worker; worker = zlistx_next (service->workers))
        if (!worker->draining
        &&  ((int) zlistx_size (worker->held) < worker->credit
          || now - worker->full_since < worker->stall_ms))
            return false;
    return true;
}

//  A client request: MG1 REQ name id ttl body (after the routing id).
void
bk_on_request (mg_broker_t *self, zframe_t *sender, zmsg_t *msg)
{
    zframe_t *name = zmsg_pop (msg);
    zframe_t *id = zmsg_pop (msg);
    zframe_t *ttl_frame = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    zframe_t *flag = zmsg_pop (msg);
    bool flag_present = flag != NULL;
    uint32_t ttl = 0;
    bool id_ok = id && zframe_size (id) >= 1 && zframe_size (id) <= MG_REQID_MAX;
    bool idempotent = flag && zframe_streq (flag, MG_FRAME_IDEMPOTENT);
    zframe_destroy (&flag);
    const char *reason = NULL;
    if (!id_ok || !body || zmsg_size (msg) != 0 || (flag_present && !idempotent))
        reason = "a request has 6 frames, MG1 REQ name id ttl body, and an optional 7th, \"" MG_FRAME_IDEMPOTENT "\"";
    else
    if (!mg_frame_name_valid ((const char *) zframe_data (name), zframe_size (name)))
        reason = "bad method name";
    else
    if (mg_frame_uint (ttl_frame, 1, MG_TTL_MAX_MS, &ttl))
        reason = "bad ttl";
    if (reason) {
        if (id_ok)
            bk_send_error (self, sender, name, id, "BAD_FRAME", reason, 0);
        else
            mg_warn ("dropped a malformed request", "reason=\"%s\"", reason);
        zframe_destroy (&name);
        zframe_destroy (&id);
        zframe_destroy (&ttl_frame);
        zframe_destroy (&body);
        return;
    }
    zframe_destroy (&ttl_frame);
    self->requests++;
    bk_request_t *request = calloc (1, sizeof *request);
    assert (request);
    request->client = zframe_dup (sender);
    request->name = name;
    request->id = id;
    request->body = body;
    request->deadline = zclock_mono () + ttl;
    request->idempotent = idempotent;

    const char *text = (const char *) zframe_data (name);
    size_t service_len = mg_frame_service_len (text, zframe_size (name));
    if (service_len == 3 && memcmp (text, "mmi", 3) == 0) {
        bk_on_mmi (self, request);
        s_request_destroy (&request);
        return;
    }
    char key [MG_NAME_MAX + 1];
    memcpy (key, text, service_len);
    key [service_len] = 0;
    bk_service_t *service = zhashx_lookup (self->services, key);
    //  Just after a failover a service's workers are on their way here.
    if ((!service || service->live == 0) && bk_pair_warming (self))
        service = bk_service_require (self, key, service_len);
    if (!service || (service->live == 0 && !bk_pair_warming (self)))
        bk_fail_request (self, request, "SERVICE_UNAVAILABLE", "no live worker for this service", 1);
    else
    if ((int) zlistx_size (service->queue) >= self->config.queue_max)
        bk_fail_request (self, request, "SERVICE_BUSY", "too many requests waiting for this service", 1);
    else
    if (s_service_stalled (service, zclock_mono ()))
        bk_fail_request (self, request, "SERVICE_BUSY", "every worker of this service is stuck", 1);
    if (request->answered) {
        s_request_destroy (&request);
        return;
    }
    zlistx_add_end (service->queue, request);
    bk_dispatch (self, service);
}

//  A worker declines a request it holds: back to the head of the queue, for
//  a worker that has not declined it (bk_dispatch).
static void
s_decline (bk_worker_t *worker, bk_request_t *request, zframe_t **error_p)
{
    zlistx_detach_cur (worker->held);
    if (!request->declined) {
        request->declined = zlistx_new ();
        assert (request->declined);
        zlistx_set_duplicator (request->declined, (czmq_duplicator *) strdup);
        zlistx_set_destructor (request->declined, (czmq_destructor *) zstr_free);
    }
    zlistx_add_end (request->declined, worker->key);
    zframe_destroy (&request->decline_error);
    request->decline_error = *error_p;
    *error_p = NULL;
    zlistx_add_start (worker->service->queue, request);
}

//  A worker's answer: MG1 REP|ERR|DECLINE client name id body.
void
bk_on_reply (mg_broker_t *self, bk_worker_t *worker, const char *cmd, zmsg_t *msg)
{
    zframe_t *client = zmsg_pop (msg);
    zframe_t *name = zmsg_pop (msg);
    zframe_t *id = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    if (client && id && body) {
        bk_request_t *request = zlistx_first (worker->held);
        while (request && !(zframe_eq (request->id, id) && zframe_eq (request->client, client)))
            request = zlistx_next (worker->held);
        if (request && !request->answered && streq (cmd, "DECLINE"))
            s_decline (worker, request, &body);
        else
        if (request) {
            if (!request->answered)
                bk_send_client (self, client, cmd, name, id, &body);
            zlistx_delete (worker->held, zlistx_cursor (worker->held));
        }
    }
    else
        mg_warn ("dropped a malformed worker reply", "worker=%s", worker->key);
    zframe_destroy (&client);
    zframe_destroy (&name);
    zframe_destroy (&id);
    zframe_destroy (&body);
    if (worker->draining && zlistx_size (worker->held) == 0)
        bk_worker_delete (self, worker, "drained");
    else
        bk_dispatch (self, worker->service);
}

//  Answer what ran out of time: queued and held requests past their
//  deadline, the queue of a service whose workers are all stuck.
void
bk_expire_requests (mg_broker_t *self)
{
    int64_t now = zclock_mono ();
    bool warming = bk_pair_warming (self);
    for (bk_service_t *service = zhashx_first (self->services); service; service = zhashx_next (self->services)) {
        if (!warming)
            bk_service_fail_queue_if_dead (self, service);
        bool stalled = zlistx_size (service->queue) > 0 && s_service_stalled (service, now);
        bk_request_t *request = zlistx_first (service->queue);
        while (request) {
            if (stalled) {
                bk_fail_request (self, request, "SERVICE_BUSY", "every worker of this service is stuck", 1);
                zlistx_delete (service->queue, zlistx_cursor (service->queue));
                request = zlistx_first (service->queue);
                continue;
            }
            if (request->deadline <= now) {
                bk_fail_request (self, request, "DEADLINE_EXCEEDED", "the request's ttl ran out while queued", 0);
                zlistx_delete (service->queue, zlistx_cursor (service->queue));
                request = zlistx_first (service->queue);
                continue;
            }
            request = zlistx_next (service->queue);
        }
    }
    for (bk_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers))
        for (bk_request_t *request = zlistx_first (worker->held); request; request = zlistx_next (worker->held))
            if (!request->answered && request->deadline <= now)
                bk_fail_request (self, request, "DEADLINE_EXCEEDED", "the worker did not answer within the ttl", 0);
}

//  True when any request waits in a queue or at a worker.
bool
bk_busy (mg_broker_t *self)
{
    for (bk_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers))
        if (zlistx_size (worker->held))
            return true;
    for (bk_service_t *service = zhashx_first (self->services); service; service = zhashx_next (self->services))
        if (zlistx_size (service->queue))
            return true;
    return false;
}
