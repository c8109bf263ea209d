/*  Service discovery and counters: mmi.service, mmi.services, mmi.stats.  */
#include "internal.h"

//  Fill an mmi.service.reply entry for service.
static void
s_mmi_entry (bk_service_t *service, mg_mmi_service_reply_t *entry)
{
    entry->service = service->name;
    entry->workers = service->live;
    entry->has_workers = true;
    entry->queued = zlistx_size (service->queue);
    entry->has_queued = true;
}

//  Answer mmi.service and mmi.services.
void
bk_on_mmi (mg_broker_t *self, bk_request_t *request)
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
            bk_send_error (self, request->client, request->name, request->id, "BAD_REQUEST", reason, 0);
            return;
        }
        mg_mmi_service_reply_t reply = { .service = query.service, .has_workers = true, .has_queued = true };
        bk_service_t *service = zhashx_lookup (self->services, query.service);
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
        for (bk_service_t *service = zhashx_first (self->services); service;
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
            .workers = zhashx_size (self->workers), .has_workers = true,
            .given_again = self->given_again, .has_given_again = true
        };
        if (self->pair.state != BK_PAIR_OFF) {
            reply.pair_role = (char *) (self->pair.primary ? "primary" : "backup");
            reply.pair_state = (char *) bk_pair_state_text (self);
            reply.failovers = self->pair.failovers;
            reply.has_failovers = true;
            if (self->pair.peer_heard) {
                reply.peer_seen_ms = (uint64_t) (zclock_mono () - self->pair.peer_heard);
                reply.has_peer_seen_ms = true;
            }
        }
        rc = mg_msg_encode (&mg_mmi_stats_reply_desc, &reply, &buf, &buf_len, reason, sizeof reason);
    }
    else {
        bk_send_error (self, request->client, request->name, request->id, "UNKNOWN_METHOD",
                      "the broker answers mmi.service, mmi.services and mmi.stats", 0);
        return;
    }
    if (rc) {
        bk_send_error (self, request->client, request->name, request->id, "INTERNAL", reason, 0);
        return;
    }
    zframe_t *body = zframe_new (buf, buf_len);
    free (buf);
    bk_send_client (self, request->client, "REP", request->name, request->id, &body);
    zframe_destroy (&body);
}
