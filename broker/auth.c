/*  CURVE on the bus: the broker's own ZAP handler (zauth cannot hand the
    certificate's metadata on), the clients directory, and the check that a
    worker's certificate lists the service it registers.  */
#include "internal.h"
#include "mg_curve.h"

#define REFUSED_LOG_MS 1000       //  a refused peer retries every reconnect interval:
                                  //  one log line a second says enough
#define ZAP_ENDPOINT   "inproc://zeromq.zap.01"   //  fixed by ZeroMQ RFC 27

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
bool
bk_may_serve (mg_broker_t *self, zframe_t *meta_frame, const char *worker_key,
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

//  One ZAP request (RFC 27): version, request id, domain, address, routing
//  id, mechanism, credentials. A CURVE peer whose key is in the clients
//  directory is accepted with its key (Z85) as User-Id, so a READY can be
//  checked against the certificate's services; anything else is refused.
void
bk_on_zap (mg_broker_t *self)
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
    //  The other broker of a pair, speaking with the broker's own pair: it
    //  reads our state and may register nothing (it has no certificate).
    bool peer_broker = !cert && public_key [0] && streq (public_key, self->broker_key);
    bool accepted = cert || peer_broker;
    if (!accepted) {
        self->refused_handshakes++;
        char detail [256];
        snprintf (detail, sizeof detail, "address=%.64s mechanism=%.16s key=%.40s", address ? address : "",
                  mechanism ? mechanism : "", public_key);
        s_log_refused (self, "refused a connection: key not in the clients directory", detail);
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence ? sequence : "");
    zmsg_addstr (reply, accepted ? "200" : "400");
    zmsg_addstr (reply, accepted ? "OK" : "key not listed");
    zmsg_addstr (reply, accepted ? public_key : "");
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

//  Read the clients directory again (SIGHUP): a key taken out can no longer
//  connect, and its registered workers are dropped, so their next message
//  gets RESET and their READY is refused. (Changes are also seen without
//  SIGHUP when a peer connects or registers; SIGHUP also catches an edit
//  within the same second that keeps the directory's size.)
void
bk_reload_clients (mg_broker_t *self)
{
    zcertstore_destroy (&self->certs);
    self->certs = zcertstore_new (self->clients_dir);
    assert (self->certs);
    zlistx_t *gone = zlistx_new ();
    assert (gone);
    for (bk_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers)) {
        if (worker->public_key [0] && !zcertstore_lookup (self->certs, worker->public_key))
            zlistx_add_end (gone, worker);
    }
    for (bk_worker_t *worker = zlistx_first (gone); worker; worker = zlistx_next (gone))
        bk_worker_delete (self, worker, "key withdrawn");
    mg_info ("clients directory read again", "dir=%s dropped=%zu", self->clients_dir, zlistx_size (gone));
    zlistx_destroy (&gone);
}

//  CURVE on the three sockets, our ZAP handler, the clients directory.
int
bk_curve_start (mg_broker_t *self, const char *keys)
{
    self->clients_dir = zsys_sprintf ("%s/clients", keys);
    self->certs = self->clients_dir ? zcertstore_new (self->clients_dir) : NULL;
    self->zap = zsock_new (ZMQ_REP);
    if (!self->certs || !self->zap || zsock_bind (self->zap, ZAP_ENDPOINT)) {
        mg_error ("cannot start the ZAP handler", "error=\"%s\"", zmq_strerror (zmq_errno ()));
        return -1;
    }
    zsock_set_linger (self->zap, 0);
    char *path = zsys_sprintf ("%s/broker.key", keys);
    zcert_t *own = path ? zcert_load (path) : NULL;
    zstr_free (&path);
    if (own)
        snprintf (self->broker_key, sizeof self->broker_key, "%s", zcert_public_txt (own));
    zcert_destroy (&own);
    if (mg_curve_server (self->router, keys) || mg_curve_server (self->xsub, keys)
    ||  mg_curve_server (self->xpub, keys))
        return -1;
    mg_info ("CURVE on", "clients=%s", self->clients_dir);
    return 0;
}
