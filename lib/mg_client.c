/*  Synchronous bus client: one request in flight, replies matched by id so a
    late reply to an earlier, timed-out request is never taken for this one.

    With the two brokers of a pair it talks to one at a time: a
    BROKER_PASSIVE answer (nothing ran) sends the request to the other one
    within the same deadline, and a call that timed out makes the next call
    go to the other one (the broker may be dead).  */
#include "mg_client.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_frame.h"
#include "mg_log.h"

#include <czmq.h>
#include <stdarg.h>

#define PASSIVE_PAUSE_MS 50     //  both brokers passive (a failover under way): wait this
                                //  long before asking again
#define CANCEL_POLL_MS   100    //  with a cancel flag, a wait looks at it this often: a
                                //  stopping process is not held for a whole deadline

struct mg_client_t {
    zsock_t *dealer;
    uint64_t next_id;
    char *endpoints;            //  one broker or a pair
    size_t count;
    size_t index;               //  the one in use
    const atomic_bool *cancel;  //  set by the owner: calls end CANCELLED (may be NULL)
};

//  (Re)open the DEALER to the broker in use. 0 or -1.
static int
s_connect (mg_client_t *self)
{
    zsock_destroy (&self->dealer);
    char endpoint [MG_ENDPOINT_MAX];
    mg_config_endpoint (self->endpoints, self->index, endpoint, sizeof endpoint);
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer || !endpoint [0] || mg_curve_client (self->dealer)
    ||  zsock_connect (self->dealer, "%s", endpoint) != 0)
        return -1;
    zsock_set_linger (self->dealer, 0);
    return 0;
}

//  True when the owner has cancelled calls.
static bool
s_cancelled (const mg_client_t *self)
{
    return self->cancel && atomic_load (self->cancel);
}

//  Use the other broker of a pair from now on. 0 or -1.
static int
s_switch (mg_client_t *self)
{
    self->index = (self->index + 1) % self->count;
    return s_connect (self);
}

mg_client_t *
mg_client_new (const char *endpoint)
{
    assert (endpoint);
    mg_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char first [MG_ENDPOINT_MAX];
    self->endpoints = strdup (endpoint);
    self->count = self->endpoints ? mg_config_endpoint (self->endpoints, 0, first, sizeof first) : 0;
    if (self->count == 0 || s_connect (self)) {
        mg_client_destroy (&self);
        return NULL;
    }
    self->next_id = (uint64_t) zclock_time () << 16;
    return self;
}

void
mg_client_set_cancel (mg_client_t *self, const atomic_bool *cancel)
{
    assert (self);
    self->cancel = cancel;
}

void
mg_client_destroy (mg_client_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        mg_client_t *self = *self_p;
        zsock_destroy (&self->dealer);
        free (self->endpoints);
        free (self);
        *self_p = NULL;
    }
}

//  Fill err with code and a formatted message; returns -1.
static int
s_error (mg_error_t *err, const char *code, const char *fmt, ...)
{
    if (!err)
        return -1;
    mg_msg_clear (&mg_error_desc, err);
    char text [256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    err->code = strdup (code);
    err->message = strdup (text);
    return -1;
}

//  Send one request and wait until deadline. 0 (rep filled), -1 (err
//  filled), or -2: a passive broker refused it (err filled).
static int
s_call (mg_client_t *self, const char *name, const uint8_t *body, size_t body_len, int64_t deadline,
        uint32_t ttl_ms, const mg_msgdesc_t *rep_desc, void *rep, mg_error_t *err)
{
    char reason [MG_MSG_ERR_LEN];
    uint64_t id = self->next_id++;
    int64_t left = deadline - zclock_mono ();
    zmsg_t *msg = mg_frame_request (name, &id, sizeof id, left > 0 ? (uint32_t) left : 1, body, body_len);
    if (!msg || zmsg_send (&msg, self->dealer) != 0) {
        zmsg_destroy (&msg);
        return s_error (err, "INTERNAL", "could not send the request");
    }
    while (true) {
        left = deadline - zclock_mono ();
        if (left <= 0) {
            //  The broker may be dead: the next call tries the other one.
            if (self->count > 1)
                s_switch (self);
            return s_error (err, "DEADLINE_EXCEEDED", "no reply from '%s' within %u ms", name, ttl_ms);
        }
        if (s_cancelled (self))
            return s_error (err, "CANCELLED", "'%s' cancelled: the caller is stopping", name);
        if (self->cancel && left > CANCEL_POLL_MS)
            left = CANCEL_POLL_MS;
        zmq_pollitem_t item = { zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll (&item, 1, (long) left);
        if (rc < 0)
            return s_error (err, "INTERRUPTED", "interrupted while waiting for '%s'", name);
        if (rc == 0)
            continue;
        zmsg_t *reply = zmsg_recv (self->dealer);
        if (!reply)
            return s_error (err, "INTERRUPTED", "interrupted while waiting for '%s'", name);
        //  MG1 REP|ERR name id body
        zframe_t *proto = zmsg_first (reply);
        zframe_t *cmd = zmsg_next (reply);
        zframe_t *rname = zmsg_next (reply);
        zframe_t *rid = zmsg_next (reply);
        zframe_t *rbody = zmsg_next (reply);
        mg_cmd_t command = mg_frame_cmd (cmd);
        if (zmsg_size (reply) != 5 || !mg_frame_is_protocol (proto) || !rname
        ||  (command != MG_CMD_REP && command != MG_CMD_ERR)) {
            zmsg_destroy (&reply);
            mg_warn ("dropped a malformed reply", "method=%s", name);
            continue;
        }
        if (zframe_size (rid) != sizeof id || memcmp (zframe_data (rid), &id, sizeof id) != 0) {
            zmsg_destroy (&reply);      //  a late reply to an earlier request
            continue;
        }
        int result;
        if (command == MG_CMD_ERR) {
            if (!err) {
                result = -1;
            }
            else
            if (mg_msg_decode (&mg_error_desc, zframe_data (rbody), zframe_size (rbody),
                               err, reason, sizeof reason))
                result = s_error (err, "BAD_REPLY", "undecodable error reply: %s", reason);
            else
                result = err->code && streq (err->code, "BROKER_PASSIVE") ? -2 : -1;
        }
        else
        if (rep_desc && rep
        &&  mg_msg_decode (rep_desc, zframe_data (rbody), zframe_size (rbody), rep, reason, sizeof reason))
            result = s_error (err, "BAD_REPLY", "undecodable reply: %s", reason);
        else
            result = 0;
        zmsg_destroy (&reply);
        return result;
    }
}

int
mg_client_call (mg_client_t *self, const char *name,
                const mg_msgdesc_t *req_desc, const void *req,
                const mg_msgdesc_t *rep_desc, void *rep,
                uint32_t ttl_ms, mg_error_t *err)
{
    assert (self);
    assert (name);
    uint8_t *body = NULL;
    size_t body_len = 0;
    char reason [MG_MSG_ERR_LEN];
    if (req_desc && req
    &&  mg_msg_encode (req_desc, req, &body, &body_len, reason, sizeof reason))
        return s_error (err, "BAD_REQUEST", "%s", reason);
    if (s_cancelled (self)) {
        free (body);
        return s_error (err, "CANCELLED", "'%s' cancelled: the caller is stopping", name);
    }
    int64_t deadline = zclock_mono () + ttl_ms;
    int result = s_call (self, name, body, body_len, deadline, ttl_ms, rep_desc, rep, err);
    //  Nothing ran on a passive broker: the other one may take it.
    for (int tries = 0; result == -2; tries++) {
        if (tries > 0)
            zclock_sleep (PASSIVE_PAUSE_MS);
        if (self->count < 2 || zclock_mono () >= deadline || s_switch (self)) {
            result = -1;
            break;
        }
        mg_msg_clear (&mg_error_desc, err);
        result = s_call (self, name, body, body_len, deadline, ttl_ms, rep_desc, rep, err);
    }
    free (body);
    return result;
}
