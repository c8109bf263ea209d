/*  Binary Star (zguide chapter 4, bstar.c): a primary/backup pair of
    brokers, one of them active at a time.

    Each member publishes its state (PRIMARY, BACKUP, ACTIVE, PASSIVE) on
    its own PUB socket once a heartbeat and subscribes to the peer's. The
    peer counts as dead when nothing came from it for liveness heartbeats.

    Fencing: a passive broker becomes active only when the peer is dead AND
    a client or worker speaks to it. A backup that merely lost sight of the
    primary (a cut between the two brokers alone) therefore stays passive
    while the bus's processes still reach the primary, which is what keeps
    the pair from having two active brokers. A starting primary that hears
    no backup within the expiry serves alone; a starting backup never does
    (it needs a primary first), so a backup alone does not split the bus.

    Transitions (peer's state as heard):
        PRIMARY + peer BACKUP   -> ACTIVE     (normal start)
        PRIMARY + peer ACTIVE   -> PASSIVE    (we restarted: the backup took over; we rejoin as backup)
        BACKUP  + peer ACTIVE   -> PASSIVE
        PASSIVE + peer PRIMARY  -> ACTIVE     (the peer is restarting: we keep serving)
        PASSIVE + peer BACKUP   -> ACTIVE
        PASSIVE + peer PASSIVE  -> ACTIVE if we are the primary (dual passive)
        ACTIVE  + peer ACTIVE   -> PASSIVE if we are the backup (dual active:
                                   the zguide aborts; yielding keeps one serving)
        PASSIVE + contact, peer dead -> ACTIVE (failover)

    A broker that becomes passive drops its workers (their held requests get
    WORKER_LOST) so they register with the active one; a passive broker
    answers requests with BROKER_PASSIVE (nothing was run: the client sends
    it to the other broker) and ignores workers (their liveness timer moves
    them to the other endpoint).  */
#include "internal.h"
#include "mg_curve.h"

#define WARM_LIVENESSES 2         //  after a failover, requests for a service without workers
                                  //  wait this many worker liveness periods: a worker notices
                                  //  the dead broker within one, then registers here

static const char *s_state_names [] = { "standalone", "primary", "backup", "active", "passive" };

//  Expiry period of the peer (and of a worker's liveness): heartbeat x liveness.
static int64_t
s_expiry_ms (mg_broker_t *self)
{
    return (int64_t) self->config.heartbeat_ms * self->config.liveness;
}

//  Move to state, saying why in the log.
static void
s_set_state (mg_broker_t *self, bk_pair_state_t state, const char *why)
{
    bk_pair_t *pair = &self->pair;
    if (pair->state == state)
        return;
    mg_info ("pair state", "from=%s to=%s why=\"%s\"", s_state_names [pair->state], s_state_names [state], why);
    bk_pair_state_t old = pair->state;
    pair->state = state;
    //  Tell the peer at once: its decisions wait on ours.
    pair->send_at = 0;
    if (state == BK_PAIR_ACTIVE && old == BK_PAIR_PASSIVE) {
        pair->failovers++;
        pair->warm_until = zclock_mono () + WARM_LIVENESSES * s_expiry_ms (self);
    }
    if (state == BK_PAIR_PASSIVE && zhashx_size (self->workers)) {
        //  Our workers must go to the active broker; what they hold is lost to its callers.
        zlistx_t *all = zlistx_new ();
        assert (all);
        for (bk_worker_t *worker = zhashx_first (self->workers); worker; worker = zhashx_next (self->workers))
            zlistx_add_end (all, worker);
        for (bk_worker_t *worker = zlistx_first (all); worker; worker = zlistx_next (all))
            bk_worker_delete (self, worker, "broker passive");
        zlistx_destroy (&all);
    }
}

int
bk_pair_start (mg_broker_t *self)
{
    assert (self);
    const mg_broker_config_t *config = &self->config;
    bk_pair_t *pair = &self->pair;
    if (!config->pair_role)
        return 0;
    if (!config->pair_bind || !config->pair_peer) {
        mg_error ("a pair member needs MG_BROKER_PAIR_BIND and MG_BROKER_PAIR_PEER", NULL);
        return -1;
    }
    pair->primary = streq (config->pair_role, "primary");
    if (!pair->primary && !streq (config->pair_role, "backup")) {
        mg_error ("MG_BROKER_PAIR is primary or backup", "value=\"%s\"", config->pair_role);
        return -1;
    }
    pair->pub = zsock_new (ZMQ_PUB);
    pair->sub = zsock_new (ZMQ_SUB);
    if (!pair->pub || !pair->sub)
        return -1;
    zsock_set_linger (pair->pub, 0);
    zsock_set_linger (pair->sub, 0);
    //  Only the latest state matters: nothing queues behind a slow peer.
    zsock_set_sndhwm (pair->pub, 1);
    zsock_set_rcvhwm (pair->sub, 1);
    zsock_set_subscribe (pair->sub, "");
    //  The peer is a CURVE client of our PUB with the broker's own pair (both
    //  members have it), which our ZAP handler accepts.
    if ((config->keys && (mg_curve_server (pair->pub, config->keys) || mg_curve_client (pair->sub)))
    ||  zsock_bind (pair->pub, "%s", config->pair_bind) < 0
    ||  zsock_connect (pair->sub, "%s", config->pair_peer)) {
        mg_error ("cannot open the pair's state sockets", "bind=%s peer=%s error=\"%s\"",
                  config->pair_bind, config->pair_peer, zmq_strerror (zmq_errno ()));
        return -1;
    }
    pair->state = pair->primary ? BK_PAIR_PRIMARY : BK_PAIR_BACKUP;
    //  A live peer is heard well within one expiry: wait that long before a
    //  starting primary serves alone.
    pair->peer_expiry = zclock_mono () + s_expiry_ms (self);
    mg_info ("pair member", "role=%s state_bind=%s peer=%s", config->pair_role, config->pair_bind,
             config->pair_peer);
    return 0;
}

void
bk_pair_stop (mg_broker_t *self)
{
    assert (self);
    zsock_destroy (&self->pair.pub);
    zsock_destroy (&self->pair.sub);
}

zsock_t *
bk_pair_socket (mg_broker_t *self)
{
    assert (self);
    return self->pair.state == BK_PAIR_OFF ? NULL : self->pair.sub;
}

void
bk_pair_on_peer (mg_broker_t *self)
{
    assert (self);
    bk_pair_t *pair = &self->pair;
    char *text = zstr_recv (pair->sub);
    if (!text)
        return;
    int peer = atoi (text);
    zstr_free (&text);
    if (peer < BK_PAIR_PRIMARY || peer > BK_PAIR_PASSIVE) {
        mg_warn ("dropped a bad pair state message", NULL);
        return;
    }
    pair->peer_heard = zclock_mono ();
    pair->peer_expiry = pair->peer_heard + s_expiry_ms (self);
    switch (pair->state) {
        case BK_PAIR_PRIMARY:
            if (peer == BK_PAIR_BACKUP)
                s_set_state (self, BK_PAIR_ACTIVE, "the backup is up");
            else
            if (peer == BK_PAIR_ACTIVE)
                s_set_state (self, BK_PAIR_PASSIVE, "the backup is active: rejoining as backup");
            break;
        case BK_PAIR_BACKUP:
            if (peer == BK_PAIR_ACTIVE)
                s_set_state (self, BK_PAIR_PASSIVE, "the primary is active");
            break;
        case BK_PAIR_ACTIVE:
            if (peer == BK_PAIR_ACTIVE && !pair->primary) {
                mg_error ("both brokers of the pair are active: the backup yields", NULL);
                s_set_state (self, BK_PAIR_PASSIVE, "dual active");
            }
            break;
        case BK_PAIR_PASSIVE:
            if (peer == BK_PAIR_PRIMARY || peer == BK_PAIR_BACKUP)
                s_set_state (self, BK_PAIR_ACTIVE, "the peer is restarting");
            else
            if (peer == BK_PAIR_PASSIVE && pair->primary)
                s_set_state (self, BK_PAIR_ACTIVE, "dual passive: the primary serves");
            break;
        case BK_PAIR_OFF:
            break;
    }
}

void
bk_pair_tick (mg_broker_t *self)
{
    assert (self);
    bk_pair_t *pair = &self->pair;
    if (pair->state == BK_PAIR_OFF)
        return;
    int64_t now = zclock_mono ();
    if (now < pair->send_at)
        return;
    zstr_sendf (pair->pub, "%d", (int) pair->state);
    pair->send_at = now + self->config.heartbeat_ms;
}

bool
bk_pair_may_serve (mg_broker_t *self, bool worker)
{
    assert (self);
    bk_pair_t *pair = &self->pair;
    bool peer_dead = zclock_mono () >= pair->peer_expiry;
    if (pair->state == BK_PAIR_PASSIVE && peer_dead) {
        mg_warn ("the peer broker is silent and a peer of the bus chose us: taking over",
                 "silent_ms=%lld", (long long) (zclock_mono () - pair->peer_expiry + s_expiry_ms (self)));
        s_set_state (self, BK_PAIR_ACTIVE, "failover");
    }
    else
    if (pair->state == BK_PAIR_PRIMARY && peer_dead)
        s_set_state (self, BK_PAIR_ACTIVE, "no backup heard: serving alone");
    return pair->state == BK_PAIR_OFF || pair->state == BK_PAIR_ACTIVE
        || (pair->state == BK_PAIR_PRIMARY && worker);
}

bool
bk_pair_forwards_events (mg_broker_t *self)
{
    assert (self);
    return self->pair.state == BK_PAIR_OFF || self->pair.state == BK_PAIR_ACTIVE;
}

bool
bk_pair_warming (mg_broker_t *self)
{
    assert (self);
    return self->pair.state == BK_PAIR_ACTIVE && zclock_mono () < self->pair.warm_until;
}

const char *
bk_pair_state_text (mg_broker_t *self)
{
    assert (self);
    return s_state_names [self->pair.state];
}
