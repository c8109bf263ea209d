/*  Synchronous bus client: one request in flight, replies matched by id so a
    late reply to an earlier, timed-out request is never taken for this one.  */
#include "mg_client.h"
#include "mg_curve.h"
#include "mg_frame.h"
#include "mg_log.h"

#include <czmq.h>
#include <stdarg.h>

struct mg_client_t {
    zsock_t *dealer;
    uint64_t next_id;
};

mg_client_t *
mg_client_new (const char *endpoint)
{
    assert (endpoint);
    mg_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer || mg_curve_client (self->dealer)
    ||  zsock_connect (self->dealer, "%s", endpoint) != 0) {
        mg_client_destroy (&self);
        return NULL;
    }
    zsock_set_linger (self->dealer, 0);
    self->next_id = (uint64_t) zclock_time () << 16;
    return self;
}

void
mg_client_destroy (mg_client_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        mg_client_t *self = *self_p;
        zsock_destroy (&self->dealer);
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
    uint64_t id = self->next_id++;
    zmsg_t *msg = mg_frame_request (name, &id, sizeof id, ttl_ms, body, body_len);
    free (body);
    if (!msg || zmsg_send (&msg, self->dealer) != 0) {
        zmsg_destroy (&msg);
        return s_error (err, "INTERNAL", "could not send the request");
    }
    int64_t deadline = zclock_mono () + ttl_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return s_error (err, "DEADLINE_EXCEEDED", "no reply from '%s' within %u ms", name, ttl_ms);
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
                result = -1;
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
