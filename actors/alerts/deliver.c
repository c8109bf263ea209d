/*  Webhook deliveries. Each turn claims the due deliveries (FOR UPDATE SKIP
    LOCKED, so replicas share them) and pushes their next_attempt_at past
    the call's timeout before calling: a replica killed mid-call leaves the
    delivery due again shortly after, never lost. The calls of a turn run
    at once over libcurl multi, each pinned (CURLOPT_RESOLVE) to an address
    checked just before. A failed call is retried after an exponential
    backoff with jitter until the delivery's give_up_at (24 h by default),
    then the delivery is a dead letter; a webhook with disable_after dead
    letters in a row is disabled and its user notified.  */
#include "alerts.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })
#define CLAIM_MAX      "16"             //  calls in flight per turn
#define CLAIM_SLOTS    16
#define LEASE_EXTRA_MS 5000             //  a claimed delivery is due again this long after its call's timeout
#define RETRY_MS       1000             //  after a database failure
#define USER_AGENT     "media-gateway-webhooks/1"
#define ERROR_MAX      512              //  bytes of a failure's reason kept

typedef struct {
    char id [37], webhook_id [37], user_id [37];
    char *url, *secret, *body;
    int attempts;
    CURL *curl;
    struct curl_slist *headers, *resolve;
    long status;
    char error [CURL_ERROR_SIZE + ERROR_MAX];
    bool called;
} s_call_t;

//  Responses are not read: a receiver answers with its status.
static size_t
s_discard (char *data, size_t size, size_t count, void *arg)
{
    (void) data;
    (void) arg;
    return size * count;
}

//  Claim up to CLAIM_MAX due deliveries into calls. Returns how many, or -1.
static int
s_claim (alerts_t *self, PGconn *pg, s_call_t *calls)
{
    char lease [24];
    snprintf (lease, sizeof lease, "%d", self->delivery_timeout_ms + LEASE_EXTRA_MS);
    PGresult *res = PQexecParams (pg,
        "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, "
        "  next_attempt_at = now () + make_interval (secs => $1::int / 1000.0) "
        "FROM (SELECT d2.id FROM webhook_deliveries d2 JOIN webhooks w2 ON w2.id = d2.webhook_id AND w2.enabled "
        "      WHERE d2.state = 'pending' AND d2.next_attempt_at <= now () "
        "      ORDER BY d2.next_attempt_at LIMIT " CLAIM_MAX " FOR UPDATE OF d2 SKIP LOCKED) c, "
        "     webhooks w, notifications n "
        "WHERE d.id = c.id AND w.id = d.webhook_id AND n.id = d.notification_id "
        "RETURNING d.id, w.id, w.user_id, w.url, w.secret, d.attempts, "
        "  jsonb_build_object ('type', 'notification.' || n.kind, 'timestamp', alerts_time (now ()), "
        "                      'data', alerts_notification_json (n))::text",
        1, NULL, P (lease), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_warn ("deliveries not claimed", "reason=\"%s\"", PQerrorMessage (pg));
        PQclear (res);
        mg_pg_settle (pg);
        return -1;
    }
    int count = PQntuples (res);
    for (int row = 0; row < count; row++) {
        s_call_t *call = &calls [row];
        memset (call, 0, sizeof *call);
        snprintf (call->id, sizeof call->id, "%s", PQgetvalue (res, row, 0));
        snprintf (call->webhook_id, sizeof call->webhook_id, "%s", PQgetvalue (res, row, 1));
        snprintf (call->user_id, sizeof call->user_id, "%s", PQgetvalue (res, row, 2));
        call->url = strdup (PQgetvalue (res, row, 3));
        call->secret = strdup (PQgetvalue (res, row, 4));
        call->attempts = atoi (PQgetvalue (res, row, 5));
        call->body = strdup (PQgetvalue (res, row, 6));
    }
    PQclear (res);
    return count;
}

//  Prepare one call: check the target again and pin it, sign the body.
//  Returns 0, or -1 with call->error set (the call then counts as failed).
static int
s_prepare (alerts_t *self, s_call_t *call, CURLM *multi)
{
    if (!call->url || !call->secret || !call->body) {
        snprintf (call->error, sizeof call->error, "out of memory");
        return -1;
    }
    char host [256], addr [ALERTS_ADDR_TEXT], why [256];
    int port = 0;
    if (alerts_url_check (call->url, self->allow_http, self->allow_private, host, sizeof host, &port, addr,
                          why, sizeof why)) {
        snprintf (call->error, sizeof call->error, "%s", why);
        return -1;
    }
    int64_t now = (int64_t) time (NULL);
    char signature [128], line [256], pin [sizeof host + ALERTS_ADDR_TEXT + 32];
    if (alerts_sign (call->secret, call->id, now, call->body, strlen (call->body), signature, sizeof signature)) {
        snprintf (call->error, sizeof call->error, "the webhook's secret is malformed");
        return -1;
    }
    bool v6 = strchr (addr, ':') != NULL;
    snprintf (pin, sizeof pin, v6 ? "%s:%d:[%s]" : "%s:%d:%s", host, port, addr);
    call->resolve = curl_slist_append (NULL, pin);
    call->headers = curl_slist_append (NULL, "Content-Type: application/json");
    //  No "Expect: 100-continue" round trip before the body.
    call->headers = curl_slist_append (call->headers, "Expect:");
    snprintf (line, sizeof line, "webhook-id: %.36s", call->id);
    call->headers = curl_slist_append (call->headers, line);
    snprintf (line, sizeof line, "webhook-timestamp: %" PRId64, now);
    call->headers = curl_slist_append (call->headers, line);
    snprintf (line, sizeof line, "webhook-signature: %.127s", signature);
    call->headers = curl_slist_append (call->headers, line);
    call->curl = curl_easy_init ();
    if (!call->resolve || !call->headers || !call->curl) {
        snprintf (call->error, sizeof call->error, "out of memory");
        return -1;
    }
    CURL *c = call->curl;
    curl_easy_setopt (c, CURLOPT_URL, call->url);
    curl_easy_setopt (c, CURLOPT_RESOLVE, call->resolve);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt (c, CURLOPT_POSTFIELDS, call->body);
    curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE, (long) strlen (call->body));
    curl_easy_setopt (c, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, (long) self->delivery_timeout_ms);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    //  A redirect would go where nobody checked.
    curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, self->allow_http ? "http,https" : "https");
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt (c, CURLOPT_ERRORBUFFER, call->error);
    curl_easy_setopt (c, CURLOPT_PRIVATE, call);
    if (curl_multi_add_handle (multi, c) != CURLM_OK) {
        snprintf (call->error, sizeof call->error, "the call could not be started");
        return -1;
    }
    call->called = true;
    return 0;
}

//  Run every started call to its end (each is bounded by its timeout).
static void
s_run (alerts_t *self, CURLM *multi)
{
    int running = 1;
    while (running && !self->stop) {
        if (curl_multi_perform (multi, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll (multi, NULL, 0, 200, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read (multi, &left)))
        if (msg->msg == CURLMSG_DONE) {
            s_call_t *call = NULL;
            curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &call);
            if (!call)
                continue;
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo (msg->easy_handle, CURLINFO_RESPONSE_CODE, &call->status);
            else
            if (call->error [0] == '\0')
                snprintf (call->error, sizeof call->error, "%s", curl_easy_strerror (msg->data.result));
        }
}

//  The wait before the next call after attempts failures: doubling from
//  retry_base up to retry_max, then a random point in its upper half (a
//  receiver coming back is not hit by every sender at once).
static int64_t
s_backoff_ms (alerts_t *self, int attempts)
{
    int64_t wait = self->retry_base_ms;
    for (int i = 1; i < attempts && wait < self->retry_max_ms; i++)
        wait *= 2;
    if (wait > self->retry_max_ms)
        wait = self->retry_max_ms;
    return wait / 2 + (int64_t) randombytes_uniform ((uint32_t) (wait / 2 + 1));
}

//  Record a call's outcome. Returns 0, or -1 (the delivery is then retried
//  when its lease ends).
static int
s_record (alerts_t *self, PGconn *pg, s_call_t *call, zlist_t *events)
{
    bool ok = call->status >= 200 && call->status < 300;
    char status [16], wait [24], streak [16];
    snprintf (status, sizeof status, "%ld", call->status);
    if (ok) {
        PGresult *res = PQexecParams (pg,
            "WITH done AS (UPDATE webhook_deliveries SET state = 'delivered', delivered_at = now (), "
            "  last_status = $2::int, last_error = NULL WHERE id = $1::uuid AND state = 'pending' RETURNING webhook_id) "
            "UPDATE webhooks SET dead_streak = 0 WHERE id IN (SELECT webhook_id FROM done)",
            2, NULL, P (call->id, status), NULL, NULL, 0);
        int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc)
            mg_warn ("delivery not recorded", "delivery=%s reason=\"%s\"", call->id, PQerrorMessage (pg));
        PQclear (res);
        return rc;
    }
    if (call->error [0] == '\0')
        snprintf (call->error, sizeof call->error, "the webhook answered %ld", call->status);
    snprintf (wait, sizeof wait, "%" PRId64, s_backoff_ms (self, call->attempts));
    snprintf (streak, sizeof streak, "%d", self->disable_after);
    char why [512];
    PGresult *res = PQexec (pg, "BEGIN");
    PQclear (res);
    res = PQexecParams (pg,
        "UPDATE webhook_deliveries SET last_status = nullif ($2::int, 0), last_error = left ($3, 512), "
        "  state = CASE WHEN now () + make_interval (secs => $4::bigint / 1000.0) > give_up_at THEN 'dead' ELSE 'pending' END, "
        "  next_attempt_at = now () + make_interval (secs => $4::bigint / 1000.0) "
        "WHERE id = $1::uuid AND state = 'pending' RETURNING state",
        4, NULL, P (call->id, status, call->error, wait), NULL, NULL, 0);
    bool failed = PQresultStatus (res) != PGRES_TUPLES_OK;
    bool dead = !failed && PQntuples (res) == 1 && strcmp (PQgetvalue (res, 0, 0), "dead") == 0;
    PQclear (res);
    bool disabled = false;
    if (!failed && dead) {
        res = PQexecParams (pg,
            "UPDATE webhooks SET dead_streak = dead_streak + 1, "
            "  enabled = enabled AND dead_streak + 1 < $2::int, "
            "  disabled_at = CASE WHEN enabled AND dead_streak + 1 >= $2::int THEN now () ELSE disabled_at END "
            "WHERE id = $1::uuid RETURNING disabled_at IS NOT NULL AND disabled_at = now ()",
            2, NULL, P (call->webhook_id, streak), NULL, NULL, 0);
        failed = PQresultStatus (res) != PGRES_TUPLES_OK;
        disabled = !failed && PQntuples (res) == 1 && strcmp (PQgetvalue (res, 0, 0), "t") == 0;
        PQclear (res);
    }
    if (!failed && disabled) {
        char reason [ERROR_MAX + 128];
        snprintf (reason, sizeof reason, "%d deliveries in a row failed for %d s; the last: %.*s",
                  self->disable_after, self->retry_for_s, ERROR_MAX, call->error);
        failed = alerts_notify_disabled (self, pg, call->user_id, call->webhook_id, reason, events, why, sizeof why) != 0;
    }
    if (!failed) {
        res = PQexec (pg, "COMMIT");
        failed = PQresultStatus (res) != PGRES_COMMAND_OK;
        PQclear (res);
    }
    if (failed) {
        mg_warn ("delivery failure not recorded", "delivery=%s reason=\"%s\"", call->id, PQerrorMessage (pg));
        mg_pg_settle (pg);
        alerts_publish (NULL, events);
        return -1;
    }
    if (dead)
        mg_info ("delivery dead-lettered", "delivery=%s webhook=%s attempts=%d disabled=%d", call->id,
                 call->webhook_id, call->attempts, disabled);
    return 0;
}

//  Milliseconds until the next pending delivery is due (at most cap; cap
//  when none is pending). The floor at 0 is taken here, not with SQL's
//  greatest (): greatest ignores a NULL, so with nothing pending it said 0
//  and the loop queried PostgreSQL without pause.
static int
s_next_due_ms (PGconn *pg, int cap)
{
    PGresult *res = PQexec (pg,
        "SELECT ceil (extract (epoch FROM min (d.next_attempt_at) - now ()) * 1000)::bigint "
        "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled WHERE d.state = 'pending'");
    int64_t wait = cap;
    if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1 && !PQgetisnull (res, 0, 0))
        wait = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    PQclear (res);
    if (wait < 0)
        wait = 0;
    return (int) (wait < cap ? wait : cap);
}

PGconn *
alerts_pg_connected (alerts_t *self, PGconn **pg_p)
{
    if (*pg_p && PQstatus (*pg_p) == CONNECTION_OK)
        return *pg_p;
    PQfinish (*pg_p);
    char why [512];
    *pg_p = mg_pg_connect (self->pg_url, why, sizeof why);
    if (!*pg_p) {
        mg_warn ("database unavailable", "reason=\"%s\"", why);
        zclock_sleep (RETRY_MS);
    }
    return *pg_p;
}

void
alerts_wake (alerts_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->due = true;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
}

//  Sleep up to ms, or until alerts_wake.
static void
s_sleep (alerts_t *self, int ms)
{
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&self->lock);
    while (!self->due && !self->stop)
        if (pthread_cond_timedwait (&self->wake, &self->lock, &until))
            break;
    self->due = false;
    pthread_mutex_unlock (&self->lock);
}

void *
alerts_deliver (void *arg)
{
    alerts_t *self = arg;
    CURLM *multi = curl_multi_init ();
    zsock_t *pub = mg_actor_event_publisher ();
    zlist_t *events = zlist_new ();
    PGconn *pg = NULL;
    s_call_t calls [CLAIM_SLOTS];
    while (!self->stop && multi) {
        if (!alerts_pg_connected (self, &pg))
            continue;
        int count = s_claim (self, pg, calls);
        if (count <= 0) {
            s_sleep (self, count < 0 ? RETRY_MS : s_next_due_ms (pg, self->poll_ms));
            continue;
        }
        for (int i = 0; i < count; i++)
            s_prepare (self, &calls [i], multi);
        s_run (self, multi);
        for (int i = 0; i < count; i++) {
            s_call_t *call = &calls [i];
            if (call->curl) {
                if (call->called)
                    curl_multi_remove_handle (multi, call->curl);
                curl_easy_cleanup (call->curl);
            }
            //  Stopping mid-turn: the lease hands unfinished calls to the next start.
            if (!self->stop && s_record (self, pg, call, events) == 0)
                alerts_publish (pub, events);
            curl_slist_free_all (call->headers);
            curl_slist_free_all (call->resolve);
            free (call->url);
            free (call->secret);
            free (call->body);
        }
    }
    curl_multi_cleanup (multi);
    PQfinish (pg);
    zlist_destroy (&events);
    zsock_destroy (&pub);
    return NULL;
}
