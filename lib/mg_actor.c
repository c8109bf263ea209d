/*  Actor runtime.

    Threads: one I/O thread (the caller of mg_actor_run) owns the DEALER to
    the broker: it registers, heartbeats, reconnects, and hands requests to
    the worker threads over inproc sockets. Heartbeats therefore go on while
    a handler is slow, and the broker can tell a busy worker from a dead one.

    Credit is one request per worker thread, and the I/O thread hands a
    request only to an idle worker. A worker stuck (e.g. on PostgreSQL)
    therefore has nothing queued behind it: while every worker is busy the
    broker holds the service's requests, gives them to another replica, or
    answers them itself (docs/protocol.md). A request whose deadline passed
    before a worker could start it is not run: it is answered
    DEADLINE_EXCEEDED (the client already has that answer from the broker),
    logged, and counted in <service>.ping (expired).

    inproc "work-<n>" I/O PUSH -> worker n PULL [deadline, envelope, name, id, body]
    inproc "results"  worker PUSH -> I/O PULL   [n, cmd, envelope, name, id, body]

    Shutdown (SIGTERM/SIGINT): send BYE (broker sends nothing new), wait for
    every request already taken to be answered (bounded by DRAIN_MAX_MS),
    then stop the workers and leave.  */
#include "mg_actor.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_frame.h"
#include "mg_log.h"

#include <czmq.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DRAIN_MAX_MS      10000     //  longest a stopping actor waits for in-flight work
#define WORKER_POLL_MS    100       //  how often an idle worker checks for shutdown
#define MAX_THREADS       64
#define RECONNECT_BACKOFF_MAX 3     //  silent reconnects wait up to 2^3 liveness periods
#define START_MARGIN_MS   10        //  the caller's clock started before ours (bus transit):
                                    //  this close to our deadline, it has timed out already

//  Set by mg_actor_decline on the worker thread running the handler.
static _Thread_local bool s_declining;

typedef struct {
    mg_actor_t *actor;
    pthread_t thread;
    int index;
    bool started;
} s_worker_t;

struct mg_actor_t {
    char *service;
    const mg_method_t *methods;
    size_t nmethods;
    char *broker_endpoint;          //  MG_BROKER: one broker, or the two of a pair
    size_t broker_count;            //  endpoints in it
    size_t broker_index;            //  the one in use: the next after a silent one
    int heartbeat_ms;
    int liveness;
    int credit;
    int stall_ms;                   //  announced: busy this long without an answer is stuck
    int threads;
    mg_thread_init_fn *init;
    mg_thread_fini_fn *fini;
    void *shared;
    char work_endpoint [64];        //  prefix; worker n adds "-n"
    char results_endpoint [64];
    int64_t started_ms;             //  wall clock at mg_actor_new, for ping
    char ping_name [MG_NAME_MAX + 1];
    atomic_bool stopping;           //  workers leave their loop when set
    atomic_int failed_workers;      //  a worker whose init failed
    atomic_uint_fast64_t expired;   //  requests dropped unrun: deadline passed
    s_worker_t workers [MAX_THREADS];
};

mg_actor_t *
mg_actor_new (const char *service, const mg_method_t *methods)
{
    assert (service);
    assert (methods);
    mg_actor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->service = strdup (service);
    self->methods = methods;
    mg_curve_set_role (service);
    while (methods [self->nmethods].name)
        self->nmethods++;
    self->broker_endpoint = strdup (mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555"));
    self->heartbeat_ms = (int) mg_config_int ("MG_HEARTBEAT_MS", 250, 10, 60000);
    self->liveness = (int) mg_config_int ("MG_HEARTBEAT_LIVENESS", 3, 2, 100);
    self->threads = (int) mg_config_int ("MG_WORKER_THREADS", 1, 1, MAX_THREADS);
    self->stall_ms = (int) mg_config_int ("MG_WORKER_STALL_MS", 1000, 10, MG_TTL_MAX_MS);
    self->started_ms = zclock_mono ();
    snprintf (self->ping_name, sizeof self->ping_name, "%s.ping", service);
    snprintf (self->work_endpoint, sizeof self->work_endpoint, "inproc://mg-work-%p", (void *) self);
    snprintf (self->results_endpoint, sizeof self->results_endpoint, "inproc://mg-results-%p", (void *) self);
    char first [MG_ENDPOINT_MAX];
    self->broker_count = self->broker_endpoint
                       ? mg_config_endpoint (self->broker_endpoint, 0, first, sizeof first) : 0;
    if (!self->service || self->broker_count == 0) {
        mg_error ("MG_BROKER names no endpoint", NULL);
        mg_actor_destroy (&self);
        return NULL;
    }
    size_t prefix = strlen (service);
    for (size_t i = 0; i < self->nmethods; i++) {
        const char *name = methods [i].name;
        if (strncmp (name, service, prefix) != 0 || name [prefix] != '.'
        ||  !mg_frame_name_valid (name, strlen (name))
        ||  !methods [i].req_desc || !methods [i].rep_desc || !methods [i].handler) {
            mg_error ("bad method table entry", "service=%s method=%s", service, name);
            mg_actor_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
mg_actor_destroy (mg_actor_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        mg_actor_t *self = *self_p;
        free (self->service);
        free (self->broker_endpoint);
        free (self);
        *self_p = NULL;
    }
}

void
mg_actor_set_stall (mg_actor_t *self, int stall_ms)
{
    assert (self);
    if (stall_ms >= 10 && stall_ms <= MG_TTL_MAX_MS)
        self->stall_ms = stall_ms;
}

void
mg_actor_set_threads (mg_actor_t *self, int threads, mg_thread_init_fn *init,
                      mg_thread_fini_fn *fini, void *shared)
{
    assert (self);
    if (threads > 0)
        self->threads = threads < MAX_THREADS ? threads : MAX_THREADS;
    self->init = init;
    self->fini = fini;
    self->shared = shared;
}

zsock_t *
mg_actor_event_publisher (void)
{
    const char *endpoint = mg_config_str ("MG_EVENTS_PUB", "tcp://127.0.0.1:5556");
    zsock_t *events = zsock_new (ZMQ_PUB);
    if (events)
        zsock_set_sndhwm (events, MG_EVENTS_HWM);   //  a burst passes whole (before connecting)
    if (!events || mg_curve_client (events) || mg_config_connect (events, endpoint)) {
        mg_error ("cannot connect the event publisher", "endpoint=%s", endpoint);
        zsock_destroy (&events);
        return NULL;
    }
    return events;
}

int
mg_actor_publish_bytes (zsock_t *pub, const char *topic, const void *body, size_t len,
                        char *reason, size_t reason_size)
{
    zmsg_t *msg = pub ? zmsg_new () : NULL;
    if (!msg || zmsg_addstr (msg, topic) || zmsg_addmem (msg, body, len) || zmsg_send (&msg, pub)) {
        snprintf (reason, reason_size, "%s", pub ? "cannot send on the event publisher" : "no event publisher");
        zmsg_destroy (&msg);
        return -1;
    }
    return 0;
}

int
mg_actor_publish (zsock_t *pub, const char *topic, const mg_msgdesc_t *desc,
                  const void *message, char *reason, size_t reason_size)
{
    uint8_t *body = NULL;
    size_t len = 0;
    int rc = mg_msg_encode (desc, message, &body, &len, reason, reason_size) == 0
           ? mg_actor_publish_bytes (pub, topic, body, len, reason, reason_size) : -1;
    free (body);
    return rc;
}

//  Fill err with code, param and the formatted message; returns -1.
static int
s_vfail (mg_error_t *err, const char *code, const char *param, const char *fmt, va_list args)
{
    assert (err);
    mg_msg_clear (&mg_error_desc, err);
    char text [512];
    vsnprintf (text, sizeof text, fmt, args);
    err->code = strdup (code);
    err->message = strdup (text);
    err->param = param ? strdup (param) : NULL;
    return -1;
}

int
mg_actor_fail (mg_error_t *err, const char *code, const char *param, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_vfail (err, code, param, fmt, args);
    va_end (args);
    return -1;
}

int
mg_actor_decline (mg_error_t *err, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_vfail (err, "SERVICE_UNAVAILABLE", NULL, fmt, args);
    va_end (args);
    err->retry_after = 1;
    err->has_retry_after = true;
    s_declining = true;
    return -1;
}

//  --------------------------------------------------------------------------
//  Worker threads

//  Built-in <service>.ping: who answered (tests, operators, load spreading).
static int
s_on_ping (mg_actor_t *self, mg_ping_reply_t *reply)
{
    char host [256];
    if (gethostname (host, sizeof host) != 0)
        snprintf (host, sizeof host, "unknown");
    host [sizeof host - 1] = 0;
    reply->service = strdup (self->service);
    reply->host = strdup (host);
    reply->pid = (uint64_t) getpid ();
    reply->has_pid = true;
    reply->uptime_ms = (uint64_t) (zclock_mono () - self->started_ms);
    reply->has_uptime_ms = true;
    reply->expired = (uint64_t) atomic_load (&self->expired);
    reply->has_expired = true;
    return reply->service && reply->host ? 0 : -1;
}

//  Method entry for name (len bytes), or NULL.
static const mg_method_t *
s_method (mg_actor_t *self, const char *name, size_t len)
{
    for (size_t i = 0; i < self->nmethods; i++)
        if (strlen (self->methods [i].name) == len && memcmp (self->methods [i].name, name, len) == 0)
            return &self->methods [i];
    return NULL;
}

//  Run one request, or refuse it unrun when it expired, and build the result
//  message [cmd envelope name id body].
static zmsg_t *
s_handle (mg_actor_t *self, void *state, zmsg_t *request, bool expired)
{
    zframe_t *envelope = zmsg_pop (request);
    zframe_t *name = zmsg_pop (request);
    zframe_t *id = zmsg_pop (request);
    zframe_t *body = zmsg_pop (request);
    mg_error_t err = { 0 };
    uint8_t *out = NULL;
    size_t out_len = 0;
    char reason [MG_MSG_ERR_LEN];
    bool failed = true;
    s_declining = false;

    const mg_method_t *method = s_method (self, (const char *) zframe_data (name), zframe_size (name));
    if (expired) {
        //  Its caller has had DEADLINE_EXCEEDED: running it now (a write
        //  above all) would do what the caller was told did not happen.
        uint64_t count = atomic_fetch_add (&self->expired, 1) + 1;
        mg_warn ("dropped an expired request unrun", "method=%.*s expired=%llu",
                 (int) zframe_size (name), (const char *) zframe_data (name), (unsigned long long) count);
        mg_actor_fail (&err, "DEADLINE_EXCEEDED", NULL, "the request's deadline passed before a worker was free");
    }
    else
    if (!method && zframe_streq (name, self->ping_name)) {
        mg_ping_reply_t pong = { 0 };
        if (s_on_ping (self, &pong) == 0
        &&  mg_msg_encode (&mg_ping_reply_desc, &pong, &out, &out_len, reason, sizeof reason) == 0)
            failed = false;
        else
            mg_actor_fail (&err, "INTERNAL", NULL, "ping failed");
        mg_msg_clear (&mg_ping_reply_desc, &pong);
    }
    else
    if (!method)
        mg_actor_fail (&err, "UNKNOWN_METHOD", NULL, "no method '%.*s' in service '%s'",
                       (int) zframe_size (name), (const char *) zframe_data (name), self->service);
    else {
        void *req = calloc (1, method->req_desc->size);
        void *rep = calloc (1, method->rep_desc->size);
        if (!req || !rep)
            mg_actor_fail (&err, "INTERNAL", NULL, "out of memory");
        else
        if (mg_msg_decode (method->req_desc, zframe_data (body), zframe_size (body), req, reason, sizeof reason))
            mg_actor_fail (&err, "BAD_REQUEST", NULL, "%s", reason);
        else
        if (method->handler (state, req, rep, &err) != 0) {
            if (!err.code)
                mg_actor_fail (&err, "INTERNAL", NULL, "%s failed", method->name);
        }
        else
        if (mg_msg_encode (method->rep_desc, rep, &out, &out_len, reason, sizeof reason)) {
            mg_error ("reply does not encode", "method=%s reason=\"%s\"", method->name, reason);
            mg_actor_fail (&err, "INTERNAL", NULL, "reply of %s does not encode", method->name);
        }
        else
            failed = false;
        if (req)
            mg_msg_clear (method->req_desc, req);
        if (rep)
            mg_msg_clear (method->rep_desc, rep);
        free (req);
        free (rep);
    }
    if (failed) {
        free (out);
        out = NULL;
        if (mg_msg_encode (&mg_error_desc, &err, &out, &out_len, reason, sizeof reason)) {
            //  An error too long to encode: fall back to a fixed one.
            mg_actor_fail (&err, "INTERNAL", NULL, "error reply too large");
            if (mg_msg_encode (&mg_error_desc, &err, &out, &out_len, reason, sizeof reason))
                out_len = 0;
        }
    }
    mg_msg_clear (&mg_error_desc, &err);

    zmsg_t *result = zmsg_new ();
    zmsg_addstr (result, !failed ? "REP" : s_declining ? "DECLINE" : "ERR");
    zmsg_append (result, &envelope);
    zmsg_append (result, &name);
    zmsg_append (result, &id);
    zmsg_addmem (result, out, out_len);
    free (out);
    zframe_destroy (&body);
    return result;
}

//  Worker thread: make its state, serve requests until stopping.
static void *
s_worker_main (void *arg)
{
    s_worker_t *worker = arg;
    mg_actor_t *self = worker->actor;
    void *state = NULL;
    if (self->init) {
        state = self->init (self->shared);
        if (!state) {
            mg_error ("worker state init failed", "thread=%d", worker->index);
            atomic_fetch_add (&self->failed_workers, 1);
            return NULL;
        }
    }
    zsock_t *work = zsock_new_pull (NULL);
    zsock_t *results = zsock_new_push (NULL);
    if (!work || !results
    ||  zsock_connect (work, "%s-%d", self->work_endpoint, worker->index)
    ||  zsock_connect (results, "%s", self->results_endpoint)) {
        mg_error ("worker sockets failed", "thread=%d", worker->index);
        atomic_fetch_add (&self->failed_workers, 1);
    }
    else
        while (!atomic_load (&self->stopping)) {
            zmq_pollitem_t item = { zsock_resolve (work), 0, ZMQ_POLLIN, 0 };
            if (zmq_poll (&item, 1, WORKER_POLL_MS) <= 0)
                continue;
            zmsg_t *request = zmsg_recv_nowait (work);
            if (!request)
                continue;
            //  [deadline envelope name id body], made by the I/O thread.
            char *deadline = zmsg_popstr (request);
            bool expired = !deadline || zclock_mono () + START_MARGIN_MS >= strtoll (deadline, NULL, 10);
            free (deadline);
            zmsg_t *result = zmsg_size (request) == 4
                           ? s_handle (self, state, request, expired) : zmsg_new ();
            zmsg_destroy (&request);
            //  Always answer: the I/O thread counts this worker busy until then.
            zmsg_pushstrf (result, "%d", worker->index);
            if (zmsg_send (&result, results))
                zmsg_destroy (&result);
        }
    zsock_destroy (&work);
    zsock_destroy (&results);
    if (self->fini && state)
        self->fini (state);
    return NULL;
}

//  --------------------------------------------------------------------------
//  I/O thread

typedef struct {
    mg_actor_t *actor;
    zsock_t *broker;
    zsock_t *work [MAX_THREADS];  //  one per worker: a request goes to an idle one
    bool busy [MAX_THREADS];
    zlistx_t *pending;          //  zmsg_t *, taken while every worker was busy
    zsock_t *results;
    int64_t heard_at;           //  last message from the broker
    int64_t sent_at;            //  last message to the broker
    int64_t held;               //  requests taken and not yet answered
    int silent_connects;        //  reconnects in a row that heard nothing back
    bool draining;
} s_io_t;

//  Requests taken from a previous broker connection are that broker's to
//  answer (it has, with WORKER_LOST): drop those no worker has started.
static void
s_forget_pending (s_io_t *io)
{
    zmsg_t *msg;
    while ((msg = zlistx_first (io->pending))) {
        zlistx_detach_cur (io->pending);
        zmsg_destroy (&msg);
    }
}

//  Hand a work message to an idle worker, or keep it until one is free.
static void
s_give (s_io_t *io, zmsg_t *msg)
{
    for (int i = 0; i < io->actor->threads; i++)
        if (!io->busy [i]) {
            io->busy [i] = true;
            if (zmsg_send (&msg, io->work [i])) {
                mg_error ("could not hand a request to a worker", "thread=%d", i);
                zmsg_destroy (&msg);
                io->busy [i] = false;
            }
            return;
        }
    //  Only after a reconnect (workers still busy with the old broker's
    //  requests) can more arrive than there are idle workers.
    zlistx_add_end (io->pending, msg);
}

//  Send MG1 cmd [more frames of msg]; msg may be NULL. Destroys msg.
static int
s_send (s_io_t *io, const char *cmd, zmsg_t **msg_p)
{
    zmsg_t *msg = (msg_p && *msg_p) ? *msg_p : zmsg_new ();
    if (msg_p)
        *msg_p = NULL;
    zmsg_pushstr (msg, cmd);
    zmsg_pushstr (msg, MG_FRAME_PROTOCOL);
    io->sent_at = zclock_mono ();
    if (zmsg_send (&msg, io->broker)) {
        zmsg_destroy (&msg);
        return -1;
    }
    return 0;
}

//  (Re)connect to the broker and register.
static int
s_connect (s_io_t *io)
{
    mg_actor_t *self = io->actor;
    zsock_destroy (&io->broker);
    io->broker = zsock_new (ZMQ_DEALER);
    if (!io->broker)
        return -1;
    zsock_set_linger (io->broker, 0);
    if (mg_curve_client (io->broker))
        return -1;
    char endpoint [MG_ENDPOINT_MAX];
    mg_config_endpoint (self->broker_endpoint, self->broker_index, endpoint, sizeof endpoint);
    if (!endpoint [0] || zsock_connect (io->broker, "%s", endpoint)) {
        mg_error ("cannot connect to broker", "endpoint=%s", endpoint);
        return -1;
    }
    zmsg_t *ready = zmsg_new ();
    zmsg_addstr (ready, self->service);
    zmsg_addstrf (ready, "%d", self->credit);
    zmsg_addstrf (ready, "%d", self->stall_ms);
    io->heard_at = zclock_mono ();
    //  Requests held by the old connection are the old broker's to answer.
    io->held = 0;
    s_forget_pending (io);
    return s_send (io, "READY", &ready);
}

//  Handle one message from the broker.
static void
s_on_broker (s_io_t *io)
{
    zmsg_t *msg = zmsg_recv (io->broker);
    if (!msg)
        return;
    io->heard_at = zclock_mono ();
    io->silent_connects = 0;
    zframe_t *proto = zmsg_pop (msg);
    zframe_t *cmd = zmsg_pop (msg);
    mg_cmd_t command = mg_frame_cmd (cmd);
    if (!mg_frame_is_protocol (proto))
        mg_warn ("dropped a frame without protocol MG1", NULL);
    else
    if (command == MG_CMD_REQ && zmsg_size (msg) == 5) {
        //  envelope name id ttl body -> deadline envelope name id body:
        //  the ttl is relative (hosts share no clock), the deadline is ours.
        zframe_t *envelope = zmsg_pop (msg);
        zframe_t *name = zmsg_pop (msg);
        zframe_t *id = zmsg_pop (msg);
        zframe_t *ttl_frame = zmsg_pop (msg);
        uint32_t ttl = 0;           //  a bad ttl: expired, answered unrun
        if (mg_frame_uint (ttl_frame, 1, MG_TTL_MAX_MS, &ttl))
            ttl = 0;
        zframe_destroy (&ttl_frame);
        zmsg_prepend (msg, &id);
        zmsg_prepend (msg, &name);
        zmsg_prepend (msg, &envelope);
        zmsg_pushstrf (msg, "%lld", (long long) (io->heard_at + ttl));
        io->held++;
        s_give (io, msg);
        msg = NULL;
    }
    else
    if (command == MG_CMD_RESET) {
        mg_info ("broker asked to register again", "service=%s", io->actor->service);
        zmsg_t *ready = zmsg_new ();
        zmsg_addstr (ready, io->actor->service);
        zmsg_addstrf (ready, "%d", io->actor->credit);
        zmsg_addstrf (ready, "%d", io->actor->stall_ms);
        io->held = 0;
        s_forget_pending (io);
        s_send (io, "READY", &ready);
    }
    else
    if (command != MG_CMD_HB)
        mg_warn ("dropped an unexpected broker message", "command=%s", mg_frame_cmd_text (command));
    zframe_destroy (&proto);
    zframe_destroy (&cmd);
    zmsg_destroy (&msg);
}

//  Forward one worker result to the broker; the worker takes the next
//  request kept for it, if any.
static void
s_on_result (s_io_t *io)
{
    zmsg_t *msg = zmsg_recv (io->results);
    if (!msg)
        return;
    char *index = zmsg_popstr (msg);
    int worker = index ? atoi (index) : -1;
    free (index);
    if (worker >= 0 && worker < io->actor->threads)
        io->busy [worker] = false;
    char *cmd = zmsg_popstr (msg);
    if (cmd) {
        if (io->broker && s_send (io, cmd, &msg))
            mg_warn ("could not send a reply to the broker", NULL);
        if (io->held > 0)
            io->held--;
    }
    free (cmd);
    zmsg_destroy (&msg);
    zmsg_t *next = zlistx_first (io->pending);
    if (next) {
        zlistx_detach_cur (io->pending);
        s_give (io, next);
    }
}

int
mg_actor_run (mg_actor_t *self)
{
    assert (self);
    s_io_t io = { .actor = self };
    int rc = 0;
    //  One request per worker thread: nothing ever waits behind a busy one.
    self->credit = self->threads;
    io.results = zsock_new (ZMQ_PULL);
    io.pending = zlistx_new ();
    bool bound = io.results && io.pending && zsock_bind (io.results, "%s", self->results_endpoint) == 0;
    for (int i = 0; bound && i < self->threads; i++) {
        io.work [i] = zsock_new (ZMQ_PUSH);
        bound = io.work [i] && zsock_bind (io.work [i], "%s-%d", self->work_endpoint, i) == 0;
    }
    if (!bound) {
        mg_error ("cannot bind inproc sockets", NULL);
        for (int i = 0; i < self->threads; i++)
            zsock_destroy (&io.work [i]);
        zsock_destroy (&io.results);
        zlistx_destroy (&io.pending);
        return -1;
    }
    zsock_set_rcvhwm (io.results, 0);

    atomic_store (&self->stopping, false);
    int started = 0;
    for (int i = 0; i < self->threads; i++) {
        s_worker_t *worker = &self->workers [i];
        worker->actor = self;
        worker->index = i;
        if (pthread_create (&worker->thread, NULL, s_worker_main, worker) == 0) {
            worker->started = true;
            started++;
        }
    }
    if (started < self->threads) {
        mg_error ("cannot start worker threads", "wanted=%d started=%d", self->threads, started);
        rc = -1;
    }
    if (rc == 0 && s_connect (&io))
        rc = -1;
    if (rc == 0)
        mg_info ("actor ready", "service=%s broker=%s threads=%d credit=%d",
                 self->service, self->broker_endpoint, self->threads, self->credit);

    int64_t drain_until = 0;
    while (rc == 0) {
        if (atomic_load (&self->failed_workers) > 0) {
            rc = -1;
            break;
        }
        if (zsys_interrupted && !io.draining) {
            io.draining = true;
            drain_until = zclock_mono () + DRAIN_MAX_MS;
            s_send (&io, "BYE", NULL);
            mg_info ("stopping: finishing in-flight requests", "held=%lld", (long long) io.held);
        }
        if (io.draining && (io.held == 0 || zclock_mono () >= drain_until))
            break;
        zmq_pollitem_t items [] = {
            { zsock_resolve (io.broker), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (io.results), 0, ZMQ_POLLIN, 0 }
        };
        int n = zmq_poll (items, 2, self->heartbeat_ms);
        if (n < 0 && errno != EINTR) {
            mg_error ("poll failed", "errno=%d", errno);
            rc = -1;
            break;
        }
        if (n > 0 && (items [1].revents & ZMQ_POLLIN))
            s_on_result (&io);
        if (n > 0 && (items [0].revents & ZMQ_POLLIN))
            s_on_broker (&io);
        int64_t now = zclock_mono ();
        //  After a reconnect that heard nothing, wait longer before the next
        //  (the zguide's Paranoid Pirate backs off the same way): a CURVE
        //  handshake on a loaded host can take longer than one liveness
        //  period, and reconnecting every period would never let it finish.
        int backoff = 1 << (io.silent_connects < RECONNECT_BACKOFF_MAX ? io.silent_connects : RECONNECT_BACKOFF_MAX);
        if (now - io.heard_at > (int64_t) self->heartbeat_ms * self->liveness * backoff) {
            if (!io.draining) {
                io.silent_connects++;
                //  A pair's passive broker ignores workers, and a dead one says
                //  nothing: either way the other endpoint is the one to try.
                self->broker_index = (self->broker_index + 1) % self->broker_count;
                mg_warn ("broker silent, reconnecting", "brokers=%s using=%zu", self->broker_endpoint,
                         self->broker_index);
                if (s_connect (&io))
                    rc = -1;
            }
            else
                break;          //  nobody to deliver the remaining replies to
        }
        if (now - io.sent_at >= self->heartbeat_ms)
            s_send (&io, "HB", NULL);
    }

    atomic_store (&self->stopping, true);
    for (int i = 0; i < self->threads; i++)
        if (self->workers [i].started) {
            pthread_join (self->workers [i].thread, NULL);
            self->workers [i].started = false;
        }
    //  Replies finished while the workers stopped still go out.
    while (io.broker && zsock_events (io.results) & ZMQ_POLLIN)
        s_on_result (&io);
    zsock_destroy (&io.broker);
    for (int i = 0; i < self->threads; i++)
        zsock_destroy (&io.work [i]);
    zsock_destroy (&io.results);
    s_forget_pending (&io);
    zlistx_destroy (&io.pending);
    mg_info ("actor stopped", "service=%s rc=%d", self->service, rc);
    return rc;
}
