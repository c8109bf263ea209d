/*  Alerts actor: follows availability.changed, records a notification when
    a title on a user's watchlist arrives on one of the user's services in
    the user's region or is about to leave one, pushes it on the user's
    event stream and delivers it to the user's webhooks (signed, retried,
    dead-lettered). Also answers the /me/notifications and /me/webhooks
    routes.  */
#ifndef ALERTS_H_INCLUDED
#define ALERTS_H_INCLUDED

#include "mg_actor.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ALERTS_ADDR_TEXT 64         //  an IPv6 address as text, with room
#define SHARES_MAX       16         //  connections a title's watchers are matched on at once

//  Configuration and what the threads share.
typedef struct {
    const char *pg_url;
    const char *default_region;     //  a user without a region preference
    int leaving_days;               //  a user without a leaving_days preference
    int poll_ms;                    //  change_log read at least this often (a lost PUB message costs this much)
    int shares;                     //  a title's watchers are matched in this many shares at once (connections)
    int sweep_ms;                   //  leaving-soon sweep interval (across replicas)
    int delivery_timeout_ms;        //  one webhook call
    int retry_base_ms;              //  first retry after about this long, doubling
    int retry_max_ms;               //  no wait between two calls longer than this
    int retry_for_s;                //  a delivery is retried this long, then dead-lettered
    int disable_after;              //  dead letters in a row that disable a webhook
    int64_t events_keep;            //  the user's stream history kept (sync's bound)
    bool allow_http;                //  webhooks may be http:// (MG_ALERTS_ALLOW_HTTP)
    bool allow_private;             //  test only: loopback and private targets admitted
    volatile bool stop;
    pthread_mutex_t lock;           //  guards wake
    pthread_cond_t wake;            //  new deliveries are due
    bool due;
} alerts_t;

//  --- ssrf.c: what a webhook may point at ---

//  True when addr must not be called: loopback, private, link-local,
//  multicast, unspecified, reserved, or an IPv6 address that embeds such an
//  IPv4 address (v4-mapped, v4-compatible, NAT64).
bool alerts_addr_blocked (const struct sockaddr *addr);

//  Check url: http(s) (http only when allow_http), a host, no credentials,
//  and every address the host resolves to allowed (allow_private: any).
//  Fills host (the name as in the URL), port, and addr (one checked
//  address as text, to pin the connection to). Returns 0, or -1 with why.
int alerts_url_check (const char *url, bool allow_http, bool allow_private, char *host, size_t hostlen,
                      int *port, char addr [ALERTS_ADDR_TEXT], char *why, size_t whylen);

//  --- sign.c: Standard Webhooks signatures ---

//  A new secret, "whsec_" + base64 of 24 random bytes, into out (>= 64 bytes).
void alerts_secret_new (char *out, size_t outlen);

//  "v1,<base64 HMAC-SHA256 of id.timestamp.body>" with secret (whsec_...).
//  Returns 0, or -1 when the secret is malformed.
int alerts_sign (const char *secret, const char *id, int64_t timestamp, const char *body, size_t bodylen,
                 char *out, size_t outlen);

//  --- prefs.c: the users a change concerns ---

//  SQL of a relation (user_id, region, services jsonb array, leaving_days)
//  of the users whose watchlist holds the title $1 (uuid), with their
//  preferences as sync keeps them ($2 default region, $3 default days).
const char *alerts_prefs_sql (void);

//  --- notify.c: recording notifications ---

//  Prepare the matching statement on pg (a new connection), planned once
//  for any title. Returns 0, or -1 with why.
int alerts_notify_prepare (PGconn *pg, char *why, size_t whylen);

//  Send (PQsendQueryPrepared) the statement that matches the title
//  content_id against its watchers of share share of shares (a hash of the
//  user id; 0 of 1: all of them) and records what is new: notifications,
//  stream events, deliveries. leaving_only: only "leaving" ones (the sweep).
//  pg must have had alerts_notify_prepare.
//  On a connection in autocommit the share commits on its own. Returns 0,
//  or -1 with why.
int alerts_notify_send (alerts_t *self, PGconn *pg, const char *content_id, int share, int shares, bool leaving_only,
                        char *why, size_t whylen);

//  Wait for the result of alerts_notify_send on pg and append the (user_id,
//  event) pairs to publish (after the commit) to events. Returns the
//  notifications made, or -1 with why.
int alerts_notify_recv (PGconn *pg, zlist_t *events, char *why, size_t whylen);

//  Record a notification of user on pg (in the caller's transaction) with
//  its stream event: kind webhook.disabled of webhook_id. Appends the event.
int alerts_notify_disabled (alerts_t *self, PGconn *pg, const char *user_id, const char *webhook_id,
                            const char *reason, zlist_t *events, char *why, size_t whylen);

//  Publish the events collected (and destroy them) on pub: sync.event
//  .batch messages of up to 256 on topic sync.batch, in the order
//  collected. pub NULL: only destroy them.
void alerts_publish (zsock_t *pub, zlist_t *events);

//  --- follow.c / deliver.c: the two loops ---
void *alerts_follow (void *self);
void *alerts_deliver (void *self);

//  *pg_p when it is connected, else a new connection (the old one closed);
//  NULL after a log line and a pause when the database cannot be reached.
PGconn *alerts_pg_connected (alerts_t *self, PGconn **pg_p);

//  Wake the delivery loop: deliveries were queued.
void alerts_wake (alerts_t *self);

//  --- api.c: the routes ---
int alerts_on_notifications (void *state, const void *req, void *rep, mg_error_t *err);
int alerts_on_read (void *state, const void *req, void *rep, mg_error_t *err);
int alerts_on_webhooks (void *state, const void *req, void *rep, mg_error_t *err);
int alerts_on_webhook_create (void *state, const void *req, void *rep, mg_error_t *err);
int alerts_on_webhook_delete (void *state, const void *req, void *rep, mg_error_t *err);
int alerts_on_deliveries (void *state, const void *req, void *rep, mg_error_t *err);
int alerts_on_replay (void *state, const void *req, void *rep, mg_error_t *err);

//  Per worker-thread state of the routes.
typedef struct {
    alerts_t *shared;
    PGconn *pg;
} alerts_thread_t;

#endif
