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
    workers register again (RESET, or their own liveness timer).  */
#include "broker.h"
#include "mg_curve.h"
#include "mg_frame.h"
#include "mg_log.h"
#include "mg_msg.h"

#include <czmq.h>
#include <signal.h>

#define TICK_BUSY_MS   5          //  poll timeout while requests wait: deadline precision
#define KEY_MAX        (2 * 256 + 1)  //  hex of a routing id (at most 255 bytes)
#define REFUSED_LOG_MS 1000       //  a refused peer retries every reconnect interval:
                                  //  one log line a second says enough
#define ZAP_ENDPOINT   "inproc://zeromq.zap.01"   //  fixed by ZeroMQ RFC 27

//  Set by SIGHUP: read the clients directory again.
static volatile sig_atomic_t s_reload;

typedef struct s_service_t s_service_t;
typedef struct s_worker_t s_worker_t;

//  One client request, queued or held by a worker.
typedef struct {
    zframe_t *client;             //  routing id of the client
    zframe_t *name;
    zframe_t *id;
    zframe_t *body;
    int64_t deadline;             //  monotonic ms
    bool answered;                //  broker already replied (deadline); drop the worker's reply
    zlistx_t *declined;           //  keys of workers that declined it (char *); NULL: none
    zframe_t *decline_error;      //  the last decliner's error, the answer when nobody can
} s_request_t;

struct s_worker_t {
    char key [KEY_MAX];           //  hex of the routing id
    zframe_t *identity;
    s_service_t *service;
    int credit;
    zlistx_t *held;               //  s_request_t *, owned
    int64_t expiry;               //  monotonic ms after which it is dead
    int64_t full_since;           //  monotonic ms its credit was last used up
    int64_t stall_ms;             //  full and silent this long: stuck
    bool draining;                //  said BYE: nothing new
    char public_key [41];         //  Z85 CURVE key it registered with; "" without CURVE
};

struct s_service_t {
    char name [MG_NAME_MAX + 1];
    zlistx_t *workers;            //  s_worker_t *, LRU first; not owned
    zlistx_t *queue;              //  s_request_t *, owned
    size_t live;                  //  workers not draining
};

struct mg_broker_t {
    mg_broker_config_t config;
    zsock_t *router;
    zsock_t *xsub;
    zsock_t *xpub;
    zhashx_t *services;           //  name -> s_service_t, owned
    zhashx_t *workers;            //  key -> s_worker_t, owned
    int64_t heartbeat_at;         //  next heartbeat to workers
    uint64_t requests;            //  counters for logs and mmi.stats
    uint64_t errors;
    zsock_t *zap;                 //  ZAP handler (CURVE only)
    zcertstore_t *certs;          //  keys/clients: who may connect, and serve what
    char *clients_dir;
    uint64_t refused_handshakes;
    uint64_t refused_registrations;
    int64_t refused_logged_at;    //  monotonic ms of the last refusal logged
};

//  --------------------------------------------------------------------------
//  Requests

static void
s_request_destroy (s_request_t **self_p)
{
    if (*self_p) {
        s_request_t *self = *self_p;
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

static void
s_request_free (void **item)
{
    s_request_destroy ((s_request_t **) item);
}

//  Send [client] MG1 cmd name id body to a client; takes body.
static void
s_send_client (mg_broker_t *self, zframe_t *client, const char *cmd, zframe_t *name,
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
static void
s_send_error (mg_broker_t *self, zframe_t *client, zframe_t *name, zframe_t *id,
              const char *code, const char *message, uint32_t retry_after)
{
    zframe_t *body = mg_frame_error_body (code, message, retry_after);
    self->errors++;
    s_send_client (self, client, "ERR", name, id, &body);
    zframe_destroy (&body);
}

//  Answer a request with an error (it stays owned by the caller).
static void
s_fail_request (mg_broker_t *self, s_request_t *request, const char *code,
                const char *message, uint32_t retry_after)
{
    s_send_error (self, request->client, request->name, request->id, code, message, retry_after);
    request->answered = true;
}

//  --------------------------------------------------------------------------
//  Services and workers

static void
s_service_destroy (void **item)
{
    s_service_t *self = *item;
    if (self) {
        zlistx_destroy (&self->workers);
        zlistx_destroy (&self->queue);
        free (self);
        *item = NULL;
    }
}

//  The service called name (len bytes), created on first use.
static s_service_t *
s_service_require (mg_broker_t *self, const char *name, size_t len)
{
    char key [MG_NAME_MAX + 1];
    if (len > MG_NAME_MAX)
        len = MG_NAME_MAX;
    memcpy (key, name, len);
    key [len] = 0;
    s_service_t *service = zhashx_lookup (self->services, key);
    if (!service) {
        service = calloc (1, sizeof *service);
        assert (service);
        memcpy (service->name, key, len + 1);
        service->workers = zlistx_new ();
        service->queue = zlistx_new ();
        zlistx_set_destructor (service->queue, s_request_free);
        zhashx_insert (self->services, key, service);
    }
    return service;
}

static void
s_worker_free (void **item)
{
    s_worker_t *self = *item;
    if (self) {
        zframe_destroy (&self->identity);
        zlistx_destroy (&self->held);
        free (self);
        *item = NULL;
    }
}

//  Send MG1 cmd to a worker.
static void
s_send_worker (mg_broker_t *self, zframe_t *identity, const char *cmd)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (identity) });
    zmsg_addstr (msg, MG_FRAME_PROTOCOL);
    zmsg_addstr (msg, cmd);
    if (zmsg_send (&msg, self->router))
        zmsg_destroy (&msg);
}

static void s_dispatch (mg_broker_t *self, s_service_t *service);

//  With no live worker left nobody can serve what is queued: fail it now.
static void
s_service_fail_queue_if_dead (mg_broker_t *self, s_service_t *service)
{
    if (service->live > 0)
        return;
    s_request_t *queued;
    while ((queued = zlistx_first (service->queue))) {
        s_fail_request (self, queued, "SERVICE_UNAVAILABLE", "no live worker for this service", 1);
        zlistx_delete (service->queue, zlistx_cursor (service->queue));
    }
}

//  Drop a worker: every request it holds that is not yet answered gets
//  WORKER_LOST.
static void
s_worker_delete (mg_broker_t *self, s_worker_t *worker, const char *why)
{
    s_request_t *request = zlistx_first (worker->held);
    size_t lost = 0;
    while (request) {
        if (!request->answered) {
            s_fail_request (self, request, "WORKER_LOST",
                            "the worker handling this request stopped", 1);
            lost++;
        }
        request = zlistx_next (worker->held);
    }
    s_service_t *service = worker->service;
    void *handle = zlistx_find (service->workers, worker);
    if (handle)
        zlistx_delete (service->workers, handle);
    if (!worker->draining)
        service->live--;
    mg_info ("worker removed", "service=%s worker=%s reason=%s lost=%zu live=%zu",
             service->name, worker->key, why, lost, service->live);
    s_service_fail_queue_if_dead (self, service);
    zhashx_delete (self->workers, worker->key);
    //  Requests that only this worker had not declined are now answerable.
    s_dispatch (self, service);
}

//  True when worker declined request.
static bool
s_declined_by (s_request_t *request, s_worker_t *worker)
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
static void
s_dispatch (mg_broker_t *self, s_service_t *service)
{
    s_request_t *request = zlistx_first (service->queue);
    while (request) {
        s_worker_t *worker = zlistx_first (service->workers);
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
            s_send_client (self, request->client, "ERR", request->name, request->id, &request->decline_error);
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
s_service_stalled (s_service_t *service, int64_t now)
{
    if (service->live == 0)
        return false;
    for (s_worker_t *worker = zlistx_first (service->workers); worker; worker = zlistx_next (service->workers))
        if (!worker->draining
        &&  ((int) zlistx_size (worker->held) < worker->credit
          || now - worker->full_since < worker->stall_ms))
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  Service discovery

//  Fill an mmi.service.reply entry for service.
static void
s_mmi_entry (s_service_t *service, mg_mmi_service_reply_t *entry)
{
    entry->service = service->name;
    entry->workers = service->live;
    entry->has_workers = true;
    entry->queued = zlistx_size (service->queue);
    entry->has_queued = true;
}

//  Answer mmi.service and mmi.services.
static void
s_on_mmi (mg_broker_t *self, s_request_t *request)
{
    const char *name = (const char *) zframe_data (request->name);
    size_t len = zframe_size (request->name);
    uint8_t *buf = NULL;
    size_t buf_len = 0;
    char reason [MG_MSG_ERR_LEN];
    int rc = -1;
    if (len == strlen ("mmi.service") && memcmp (name, "mmi.service", len) == 0) {
        mg_mmi_service_request_t query;
        if (mg_msg_decode (&mg_mmi_service_request_desc, zframe_data (request->body),
                           zframe_size (request->body), &query, reason, sizeof reason)) {
            s_send_error (self, request->client, request->name, request->id, "BAD_REQUEST", reason, 0);
            return;
        }
        mg_mmi_service_reply_t reply = { .service = query.service, .has_workers = true, .has_queued = true };
        s_service_t *service = zhashx_lookup (self->services, query.service);
        if (service)
            s_mmi_entry (service, &reply);
        reply.service = query.service;
        rc = mg_msg_encode (&mg_mmi_service_reply_desc, &reply, &buf, &buf_len, reason, sizeof reason);
        mg_msg_clear (&mg_mmi_service_request_desc, &query);
    }
    else
    if (len == strlen ("mmi.services") && memcmp (name, "mmi.services", len) == 0) {
        size_t count = zhashx_size (self->services);
        mg_mmi_services_reply_t reply = { 0 };
        reply.services = calloc (count ? count : 1, sizeof (mg_mmi_service_reply_t));
        assert (reply.services);
        for (s_service_t *service = zhashx_first (self->services); service;
             service = zhashx_next (self->services))
            if (reply.services_count < 256)
                s_mmi_entry (service, &reply.services [reply.services_count++]);
        rc = mg_msg_encode (&mg_mmi_services_reply_desc, &reply, &buf, &buf_len, reason, sizeof reason);
        free (reply.services);    //  entries borrow the services' names
    }
    else
    if (len == strlen ("mmi.stats") && memcmp (name, "mmi.stats", len) == 0) {
        mg_mmi_stats_reply_t reply = {
            .requests = self->requests, .has_requests = true,
            .errors = self->errors, .has_errors = true,
            .curve = self->certs != NULL, .has_curve = true,
            .refused_handshakes = self->refused_handshakes, .has_refused_handshakes = true,
            .refused_registrations = self->refused_registrations, .has_refused_registrations = true,
            .workers = zhashx_size (self->workers), .has_workers = true
        };
        rc = mg_msg_encode (&mg_mmi_stats_reply_desc, &reply, &buf, &buf_len, reason, sizeof reason);
    }
    else {
        s_send_error (self, request->client, request->name, request->id, "UNKNOWN_METHOD",
                      "the broker answers mmi.service, mmi.services and mmi.stats", 0);
        return;
    }
    if (rc) {
        s_send_error (self, request->client, request->name, request->id, "INTERNAL", reason, 0);
        return;
    }
    zframe_t *body = zframe_new (buf, buf_len);
    free (buf);
    s_send_client (self, request->client, "REP", request->name, request->id, &body);
    zframe_destroy (&body);
}

//  --------------------------------------------------------------------------
//  Messages from the ROUTER

//  A client request: MG1 REQ name id ttl body (after the routing id).
static void
s_on_request (mg_broker_t *self, zframe_t *sender, zmsg_t *msg)
{
    zframe_t *name = zmsg_pop (msg);
    zframe_t *id = zmsg_pop (msg);
    zframe_t *ttl_frame = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    uint32_t ttl = 0;
    bool id_ok = id && zframe_size (id) >= 1 && zframe_size (id) <= MG_REQID_MAX;
    const char *reason = NULL;
    if (!id_ok || !body || zmsg_size (msg) != 0)
        reason = "a request has 6 frames: MG1 REQ name id ttl body";
    else
    if (!mg_frame_name_valid ((const char *) zframe_data (name), zframe_size (name)))
        reason = "bad method name";
    else
    if (mg_frame_uint (ttl_frame, 1, MG_TTL_MAX_MS, &ttl))
        reason = "bad ttl";
    if (reason) {
        if (id_ok)
            s_send_error (self, sender, name, id, "BAD_FRAME", reason, 0);
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
    s_request_t *request = calloc (1, sizeof *request);
    assert (request);
    request->client = zframe_dup (sender);
    request->name = name;
    request->id = id;
    request->body = body;
    request->deadline = zclock_mono () + ttl;

    const char *text = (const char *) zframe_data (name);
    size_t service_len = mg_frame_service_len (text, zframe_size (name));
    if (service_len == 3 && memcmp (text, "mmi", 3) == 0) {
        s_on_mmi (self, request);
        s_request_destroy (&request);
        return;
    }
    char key [MG_NAME_MAX + 1];
    memcpy (key, text, service_len);
    key [service_len] = 0;
    s_service_t *service = zhashx_lookup (self->services, key);
    if (!service || service->live == 0)
        s_fail_request (self, request, "SERVICE_UNAVAILABLE", "no live worker for this service", 1);
    else
    if ((int) zlistx_size (service->queue) >= self->config.queue_max)
        s_fail_request (self, request, "SERVICE_BUSY", "too many requests waiting for this service", 1);
    else
    if (s_service_stalled (service, zclock_mono ()))
        s_fail_request (self, request, "SERVICE_BUSY", "every worker of this service is stuck", 1);
    if (request->answered) {
        s_request_destroy (&request);
        return;
    }
    zlistx_add_end (service->queue, request);
    s_dispatch (self, service);
}

//  A worker declines a request it holds: back to the head of the queue, for
//  a worker that has not declined it (s_dispatch).
static void
s_decline (s_worker_t *worker, s_request_t *request, zframe_t **error_p)
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
static void
s_on_reply (mg_broker_t *self, s_worker_t *worker, const char *cmd, zmsg_t *msg)
{
    zframe_t *client = zmsg_pop (msg);
    zframe_t *name = zmsg_pop (msg);
    zframe_t *id = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    if (client && id && body) {
        s_request_t *request = zlistx_first (worker->held);
        while (request && !(zframe_eq (request->id, id) && zframe_eq (request->client, client)))
            request = zlistx_next (worker->held);
        if (request && !request->answered && streq (cmd, "DECLINE"))
            s_decline (worker, request, &body);
        else
        if (request) {
            if (!request->answered)
                s_send_client (self, client, cmd, name, id, &body);
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
        s_worker_delete (self, worker, "drained");
    else
        s_dispatch (self, worker->service);
}

//  Log a refused peer, at most once per REFUSED_LOG_MS.
static void
s_log_refused (mg_broker_t *self, const char *what, const char *detail)
{
    int64_t now = zclock_mono ();
    if (self->refused_logged_at && now - self->refused_logged_at < REFUSED_LOG_MS)
        return;
    self->refused_logged_at = now;
    mg_warn (what, "%s refused_handshakes=%llu refused_registrations=%llu", detail,
             (unsigned long long) self->refused_handshakes,
             (unsigned long long) self->refused_registrations);
}

//  True when the peer whose message carried meta_frame may register service
//  (len bytes): always without CURVE; with it, when the certificate of the
//  key it connected with (still) lists the service.
static bool
s_may_serve (mg_broker_t *self, zframe_t *meta_frame, const char *worker_key,
             const char *service, size_t len)
{
    if (!self->certs)
        return true;
    const char *public_key = meta_frame ? zframe_meta (meta_frame, "User-Id") : NULL;
    zcert_t *cert = public_key && *public_key ? zcertstore_lookup (self->certs, public_key) : NULL;
    const char *services = cert ? zcert_meta (cert, "services") : NULL;
    if (mg_curve_services_allow (services, service, len))
        return true;
    self->refused_registrations++;
    char detail [512];
    snprintf (detail, sizeof detail, "worker=%.64s service=%.*s role=%.64s key=%.40s", worker_key, (int) len,
              service, cert && zcert_meta (cert, "role") ? zcert_meta (cert, "role") : "(not listed)",
              public_key ? public_key : "");
    s_log_refused (self, "refused a registration: the key may not serve this service", detail);
    return false;
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
    if (!s_may_serve (self, meta_frame, key, name, len)) {
        zframe_destroy (&service_frame);
        zframe_destroy (&credit_frame);
        zframe_destroy (&stall_frame);
        return;
    }
    s_worker_t *old = zhashx_lookup (self->workers, key);
    if (old)
        s_worker_delete (self, old, "registered again");
    s_worker_t *worker = calloc (1, sizeof *worker);
    assert (worker);
    snprintf (worker->key, sizeof worker->key, "%s", key);
    worker->identity = zframe_dup (sender);
    const char *public_key = self->certs ? zframe_meta (meta_frame, "User-Id") : NULL;
    snprintf (worker->public_key, sizeof worker->public_key, "%s", public_key ? public_key : "");
    worker->credit = (int) credit;
    worker->stall_ms = stall_ms;
    worker->held = zlistx_new ();
    zlistx_set_destructor (worker->held, s_request_free);
    worker->expiry = zclock_mono () + (int64_t) self->config.heartbeat_ms * self->config.liveness;
    worker->service = s_service_require (self, name, len);
    zlistx_add_end (worker->service->workers, worker);
    worker->service->live++;
    zhashx_insert (self->workers, key, worker);
    mg_info ("worker ready", "service=%s worker=%s credit=%d stall_ms=%lld live=%zu",
             worker->service->name, key, worker->credit, (long long) worker->stall_ms, worker->service->live);
    zframe_destroy (&service_frame);
    zframe_destroy (&credit_frame);
    zframe_destroy (&stall_frame);
    s_dispatch (self, worker->service);
}

//  One message on the ROUTER.
static void
s_on_router (mg_broker_t *self)
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
    if (cmd == MG_CMD_REQ)
        s_on_request (self, sender, msg);
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
        s_worker_t *worker = zhashx_lookup (self->workers, key);
        if (cmd == MG_CMD_READY)
            s_on_ready (self, sender, proto, key, msg);
        else
        if (!worker) {
            //  A worker we do not know (e.g. we restarted): ask it to register.
            if (cmd != MG_CMD_BYE)
                s_send_worker (self, sender, "RESET");
        }
        else {
            worker->expiry = zclock_mono () + (int64_t) self->config.heartbeat_ms * self->config.liveness;
            if (cmd == MG_CMD_REP || cmd == MG_CMD_ERR || cmd == MG_CMD_DECLINE)
                s_on_reply (self, worker, mg_frame_cmd_text (cmd), msg);
            else
            if (cmd == MG_CMD_BYE) {
                if (!worker->draining) {
                    worker->draining = true;
                    worker->service->live--;
                    mg_info ("worker draining", "service=%s worker=%s held=%zu",
                             worker->service->name, key, zlistx_size (worker->held));
                    s_service_fail_queue_if_dead (self, worker->service);
                }
                if (zlistx_size (worker->held) == 0)
                    s_worker_delete (self, worker, "left");
            }
        }
    }
    zframe_destroy (&sender);
    zframe_destroy (&proto);
    zframe_destroy (&cmd_frame);
    zmsg_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  CURVE: the ZAP handler and the clients directory

//  One ZAP request (RFC 27): version, request id, domain, address, routing
//  id, mechanism, credentials. A CURVE peer whose key is in the clients
//  directory is accepted with its key (Z85) as User-Id, so a READY can be
//  checked against the certificate's services; anything else is refused.
static void
s_on_zap (mg_broker_t *self)
{
    zmsg_t *request = zmsg_recv (self->zap);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    zframe_t *identity = zmsg_pop (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *client_key = zmsg_pop (request);
    char public_key [41] = "";
    zcert_t *cert = NULL;
    if (mechanism && streq (mechanism, "CURVE") && client_key && zframe_size (client_key) == 32) {
        zmq_z85_encode (public_key, zframe_data (client_key), 32);
        cert = zcertstore_lookup (self->certs, public_key);
    }
    if (!cert) {
        self->refused_handshakes++;
        char detail [256];
        snprintf (detail, sizeof detail, "address=%.64s mechanism=%.16s key=%.40s", address ? address : "",
                  mechanism ? mechanism : "", public_key);
        s_log_refused (self, "refused a connection: key not in the clients directory", detail);
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence ? sequence : "");
    zmsg_addstr (reply, cert ? "200" : "400");
    zmsg_addstr (reply, cert ? "OK" : "key not listed");
    zmsg_addstr (reply, cert ? public_key : "");
    zmsg_addmem (reply, NULL, 0);
    if (zmsg_send (&reply, self->zap))
        zmsg_destroy (&reply);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&domain);
    zstr_free (&address);
    zframe_destroy (&identity);
    zstr_free (&mechanism);
    zframe_destroy (&client_key);
    zmsg_destroy (&request);
}

static void
s_on_sighup (int signum)
{
    (void) signum;
    s_reload = 1;
}

//  Read the clients directory again (SIGHUP): a key taken out can no longer
//  connect, and its registered workers are dropped, so their next message
//  gets RESET and their READY is refused. (Changes are also seen without
//  SIGHUP when a peer connects or registers; SIGHUP also catches an edit
//  within the same second that keeps the directory's size.)
static void
s_reload_clients (mg_broker_t *self)
{
    zcertstore_destroy (&self->certs);
    self->certs = zcertstore_new (self->clients_dir);
    assert (self->certs);
    zlistx_t *gone = zlistx_new ();
    assert (gone);
    for (s_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers)) {
        if (worker->public_key [0] && !zcertstore_lookup (self->certs, worker->public_key))
            zlistx_add_end (gone, worker);
    }
    for (s_worker_t *worker = zlistx_first (gone); worker; worker = zlistx_next (gone))
        s_worker_delete (self, worker, "key withdrawn");
    mg_info ("clients directory read again", "dir=%s dropped=%zu", self->clients_dir, zlistx_size (gone));
    zlistx_destroy (&gone);
}

//  --------------------------------------------------------------------------
//  Timers: dead workers, deadlines, heartbeats

static void
s_expire (mg_broker_t *self)
{
    int64_t now = zclock_mono ();
    //  Dead workers (deleting while iterating: collect first).
    zlistx_t *dead = zlistx_new ();
    for (s_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers))
        if (worker->expiry < now)
            zlistx_add_end (dead, worker);
    for (s_worker_t *worker = zlistx_first (dead); worker; worker = zlistx_next (dead))
        s_worker_delete (self, worker, "expired");
    zlistx_destroy (&dead);
    //  Deadlines of queued and held requests.
    for (s_service_t *service = zhashx_first (self->services); service; service = zhashx_next (self->services)) {
        bool stalled = zlistx_size (service->queue) > 0 && s_service_stalled (service, now);
        s_request_t *request = zlistx_first (service->queue);
        while (request) {
            if (stalled) {
                s_fail_request (self, request, "SERVICE_BUSY", "every worker of this service is stuck", 1);
                zlistx_delete (service->queue, zlistx_cursor (service->queue));
                request = zlistx_first (service->queue);
                continue;
            }
            if (request->deadline <= now) {
                s_fail_request (self, request, "DEADLINE_EXCEEDED", "the request's ttl ran out while queued", 0);
                zlistx_delete (service->queue, zlistx_cursor (service->queue));
                request = zlistx_first (service->queue);
                continue;
            }
            request = zlistx_next (service->queue);
        }
    }
    for (s_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers))
        for (s_request_t *request = zlistx_first (worker->held); request; request = zlistx_next (worker->held))
            if (!request->answered && request->deadline <= now)
                s_fail_request (self, request, "DEADLINE_EXCEEDED", "the worker did not answer within the ttl", 0);
}

//  True when any request waits in a queue or at a worker.
static bool
s_busy (mg_broker_t *self)
{
    for (s_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers))
        if (zlistx_size (worker->held))
            return true;
    for (s_service_t *service = zhashx_first (self->services); service; service = zhashx_next (self->services))
        if (zlistx_size (service->queue))
            return true;
    return false;
}

//  --------------------------------------------------------------------------

//  CURVE on the three sockets, our ZAP handler, the clients directory.
static int
s_curve_start (mg_broker_t *self, const char *keys)
{
    self->clients_dir = zsys_sprintf ("%s/clients", keys);
    self->certs = self->clients_dir ? zcertstore_new (self->clients_dir) : NULL;
    self->zap = zsock_new (ZMQ_REP);
    if (!self->certs || !self->zap || zsock_bind (self->zap, ZAP_ENDPOINT)) {
        mg_error ("cannot start the ZAP handler", "error=\"%s\"", zmq_strerror (zmq_errno ()));
        return -1;
    }
    zsock_set_linger (self->zap, 0);
    if (mg_curve_server (self->router, keys) || mg_curve_server (self->xsub, keys)
    ||  mg_curve_server (self->xpub, keys))
        return -1;
    mg_info ("CURVE on", "clients=%s", self->clients_dir);
    return 0;
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
    zhashx_set_destructor (self->services, s_service_destroy);
    zhashx_set_destructor (self->workers, s_worker_free);
    //  Replies to a vanished client are dropped, not queued forever.
    zsock_set_router_mandatory (self->router, 0);
    zsock_set_sndhwm (self->router, 0);
    zsock_set_rcvhwm (self->router, 0);
    zsock_set_linger (self->router, 0);
    zsock_set_linger (self->xsub, 0);
    zsock_set_linger (self->xpub, 0);
    if (config->keys && s_curve_start (self, config->keys)) {
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
        zcertstore_destroy (&self->certs);
        zstr_free (&self->clients_dir);
        free (self);
        *self_p = NULL;
    }
}

//  Forward one event (or subscription) from one proxy socket to the other.
static void
s_forward (zsock_t *from, zsock_t *to)
{
    zmsg_t *msg = zmsg_recv (from);
    if (msg && zmsg_send (&msg, to))
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
            s_reload_clients (self);
        }
        zmq_pollitem_t items [] = {
            { zsock_resolve (self->router), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (self->xsub), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (self->xpub), 0, ZMQ_POLLIN, 0 },
            { self->zap ? zsock_resolve (self->zap) : NULL, 0, ZMQ_POLLIN, 0 }
        };
        long timeout = s_busy (self) ? TICK_BUSY_MS : self->config.heartbeat_ms;
        int rc = zmq_poll (items, self->zap ? 4 : 3, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            mg_error ("poll failed", "error=\"%s\"", zmq_strerror (errno));
            return -1;
        }
        //  Drain a bounded batch per wake so timers still run under load.
        for (int i = 0; i < 256 && (zsock_events (self->router) & ZMQ_POLLIN); i++)
            s_on_router (self);
        if (items [1].revents & ZMQ_POLLIN)
            s_forward (self->xsub, self->xpub);
        if (items [2].revents & ZMQ_POLLIN)
            s_forward (self->xpub, self->xsub);
        if (self->zap && (items [3].revents & ZMQ_POLLIN))
            s_on_zap (self);
        s_expire (self);
        if (zclock_mono () >= self->heartbeat_at) {
            for (s_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers))
                s_send_worker (self, worker->identity, "HB");
            self->heartbeat_at = zclock_mono () + self->config.heartbeat_ms;
        }
    }
    mg_info ("broker stopping", "requests=%llu errors=%llu refused_handshakes=%llu refused_registrations=%llu",
             (unsigned long long) self->requests, (unsigned long long) self->errors,
             (unsigned long long) self->refused_handshakes, (unsigned long long) self->refused_registrations);
    return 0;
}
