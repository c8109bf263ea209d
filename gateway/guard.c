/*  The guard of /api/v1: who is calling, may they, and the rate-limit
    headers, before a request is routed.

    1. Caller. "Authorization: Bearer <JWT>" is verified here with
       MG_JWT_SECRET, or during a rotation MG_JWT_SECRET_PREVIOUS (no bus
       call). "X-API-Key" is looked up once on the bus
       (accounts.authenticate) and the answer kept in the thread's key cache
       for MG_KEY_CACHE_S (refusals for at most REFUSED_TTL_S); a revoked
       key is dropped from the cache when accounts publishes its
       revocation (sse.c listens), and within MG_KEY_CACHE_S if that event
       is lost. No credentials: anonymous,
       limited by client IP. Bad credentials are never anonymous: the
       request ends in 401, after step 2 so that guessing costs rate.
    2. One ratelimit.check for (client, tier). Its answer becomes the
       X-RateLimit-* / RateLimit / RateLimit-Policy headers, on whatever
       status the request ends with; a refusal is 429 with Retry-After.
       A GET or HEAD of a route an actor answers is sent at the same time
       (MG_RATE_PARALLEL_READS): its answer is held until the decision and
       replaced by the 429 on a refusal, so a read costs one bus round trip
       instead of two. The request is recycled only when both calls have
       ended (each is bounded by its deadline). Writes wait for the
       decision before they are sent.
       A decision may grant a lease of several requests (MG_RATE_LEASE,
       lease.c): the caller's next requests on this thread spend it with
       no bus call at all, with headers from the lease. Half spent, the
       lease is renewed by a ratelimit.check of no request's (s_renew),
       so the caller's requests rarely find it empty.
       When the limiter does not answer (actor or Redis down, or past
       MG_RATE_TIMEOUT_MS) the request is admitted unchecked
       (MG_RATE_FAIL_OPEN=1, the default) or refused with 503, with a log
       line (at most one a second) and mg_gateway_ratelimit_decisions_total
       {outcome="fail_open"|"fail_closed"}.
    3. request->dispatch (server.c): route, bind, forward.  */
#include "gw_guard.h"
#include "gw_bus.h"
#include "gw_keycache.h"
#include "gw_lease.h"
#include "gw_metrics.h"
#include "gw_ratelimit.h"
#include "gw_respond.h"
#include "gw_routes.h"
#include "mg_jwt.h"
#include "mg_log.h"

#include <assert.h>
#include <event2/keyvalq_struct.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define REFUSED_TTL_S       5       //  a refused key is asked about again after this
#define AUTH_TTL_MS         2000    //  deadline of an accounts.authenticate lookup
#define DOWN_LOG_EVERY_US   1000000 //  "limiter down" is logged at most this often (all threads)
#define RETRY_AFTER_S       1
#define BEARER              "Bearer "

static _Atomic int64_t s_down_logged_us;

static void s_check_rate (gw_request_t *request);

//  The request's credentials failed: remember why; answered after the rate check.
static void
s_refuse (gw_request_t *request, int status, const char *code, const char *message)
{
    request->auth_status = status;
    request->auth_code = code;
    request->auth_message = message;
    gw_metrics_auth (request->metrics, GW_AUTH_REJECTED);
}

//  Limited by its address: anonymous tier.
static void
s_anonymous (gw_request_t *request)
{
    struct evhttp_connection *conn = evhttp_request_get_connection (request->http);
    char *peer = NULL;
    ev_uint16_t port = 0;
    if (conn)
        evhttp_connection_get_peer (conn, &peer, &port);
    const char *xff = evhttp_find_header (evhttp_request_get_input_headers (request->http),
                                          "X-Forwarded-For");
    gw_caller_t *caller = &request->caller;
    memset (caller, 0, sizeof *caller);
    caller->kind = GW_CALLER_ANONYMOUS;
    snprintf (caller->tier, sizeof caller->tier, "anonymous");
    gw_rate_client_ip (peer, xff, request->config->trusted_proxies, caller->client, sizeof caller->client);
    snprintf (caller->address, sizeof caller->address, "%s", caller->client);
}

//  Signed in as user with tier, by how.
static void
s_signed_in (gw_request_t *request, gw_caller_kind_t kind, const char *user_id, const char *tier)
{
    gw_caller_t *caller = &request->caller;
    caller->kind = kind;
    snprintf (caller->user_id, sizeof caller->user_id, "%s", user_id);
    snprintf (caller->tier, sizeof caller->tier, "%s", tier);
    snprintf (caller->client, sizeof caller->client, "user:%s", user_id);
}

//  Authorization header: a Bearer JWT.
static void
s_token (gw_request_t *request, const char *authorization)
{
    size_t prefix = sizeof BEARER - 1;
    if (strncasecmp (authorization, BEARER, prefix) != 0) {
        s_refuse (request, 401, "UNAUTHORIZED", "the Authorization header must be 'Bearer <access token>'");
        return;
    }
    const char *token = authorization + prefix;
    while (*token == ' ')
        token++;
    size_t len = strlen (token);
    while (len && token [len - 1] == ' ')
        len--;
    mg_jwt_claims_t claims;
    const char *reason = "tokens are not accepted here";
    if (mg_jwt_verify_keys (&request->config->jwt, token, len, (int64_t) time (NULL), &claims, &reason)) {
        //  reason is one of mg_jwt's static texts: it quotes nothing of the token.
        s_refuse (request, 401, "UNAUTHORIZED", reason);
        return;
    }
    s_signed_in (request, GW_CALLER_TOKEN, claims.sub, claims.tier);
    request->caller.expires = claims.exp;
    gw_metrics_auth (request->metrics, GW_AUTH_TOKEN);
}

//  The API key of request (the header is still there: libevent owns it).
static const char *
s_key_header (gw_request_t *request)
{
    return evhttp_find_header (evhttp_request_get_input_headers (request->http), "X-API-Key");
}

//  Bus callback of accounts.authenticate.
static void
s_on_key (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len, int64_t rtt_us)
{
    (void) rtt_us;
    gw_request_t *request = arg;
    const char *key = s_key_header (request);
    int64_t now = gw_now_us ();
    gw_key_entry_t entry = { 0 };
    char reason [MG_MSG_ERR_LEN];
    if (outcome == GW_BUS_REPLY) {
        mg_authenticate_reply_t reply;
        if (mg_msg_decode (&mg_authenticate_reply_desc, body, len, &reply, reason, sizeof reason) == 0
        &&  strlen (reply.user_id) < sizeof entry.user_id && mg_jwt_tier_valid (reply.tier)) {
            entry.valid = true;
            snprintf (entry.user_id, sizeof entry.user_id, "%s", reply.user_id);
            snprintf (entry.tier, sizeof entry.tier, "%s", reply.tier);
            snprintf (entry.key_id, sizeof entry.key_id, "%s", reply.key_id);
            mg_msg_clear (&mg_authenticate_reply_desc, &reply);
            gw_keycache_put (request->keys, key, strlen (key), now,
                             (int64_t) request->config->key_cache_s * 1000000, &entry);
            s_signed_in (request, GW_CALLER_KEY, entry.user_id, entry.tier);
            snprintf (request->caller.key_id, sizeof request->caller.key_id, "%s", entry.key_id);
            gw_metrics_auth (request->metrics, GW_AUTH_KEY_LOOKUP);
            s_check_rate (request);
            return;
        }
        mg_msg_clear (&mg_authenticate_reply_desc, &reply);
        mg_error ("undecodable accounts.authenticate reply", "reason=\"%s\"", reason);
    }
    else
    if (outcome == GW_BUS_ERROR) {
        mg_error_t error;
        if (mg_msg_decode (&mg_error_desc, body, len, &error, reason, sizeof reason) == 0) {
            bool refused = strcmp (error.code, "UNAUTHORIZED") == 0;
            mg_msg_clear (&mg_error_desc, &error);
            if (refused) {
                uint32_t ttl = request->config->key_cache_s < REFUSED_TTL_S
                             ? request->config->key_cache_s : REFUSED_TTL_S;
                gw_keycache_put (request->keys, key, strlen (key), now, (int64_t) ttl * 1000000, &entry);
                s_refuse (request, 401, "UNAUTHORIZED", "invalid or revoked API key");
                s_check_rate (request);
                return;
            }
        }
    }
    gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", RETRY_AFTER_S,
                    "cannot check the API key now");
}

//  X-API-Key: from the cache, or asked on the bus. Returns true when the
//  answer comes later (s_on_key continues the request).
static bool
s_key (gw_request_t *request, const char *key)
{
    size_t len = strlen (key);
    if (len == 0 || len > 256) {
        s_refuse (request, 401, "UNAUTHORIZED", "invalid API key");
        return false;
    }
    gw_key_entry_t entry;
    if (gw_keycache_get (request->keys, key, len, gw_now_us (), &entry)) {
        if (entry.valid) {
            s_signed_in (request, GW_CALLER_KEY, entry.user_id, entry.tier);
            snprintf (request->caller.key_id, sizeof request->caller.key_id, "%s", entry.key_id);
            gw_metrics_auth (request->metrics, GW_AUTH_KEY_CACHED);
        }
        else
            s_refuse (request, 401, "UNAUTHORIZED", "invalid or revoked API key");
        return false;
    }
    mg_authenticate_request_t msg = { .key = (char *) key };
    uint8_t *body = NULL;
    size_t body_len = 0;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_encode (&mg_authenticate_request_desc, &msg, &body, &body_len, reason, sizeof reason)) {
        s_refuse (request, 401, "UNAUTHORIZED", "invalid API key");
        return false;
    }
    uint32_t ttl = request->config->request_timeout_ms < AUTH_TTL_MS
                 ? request->config->request_timeout_ms : AUTH_TTL_MS;
    int rc = gw_bus_call_idempotent (request->bus, "accounts.authenticate", body, body_len, ttl, s_on_key, request);
    free (body);
    if (rc) {
        gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", RETRY_AFTER_S,
                        "the message broker is unreachable");
        return true;
    }
    return true;
}

//  Checks passed (or failed with a remembered status): answer that, or route.
static void
s_proceed (gw_request_t *request)
{
    if (request->auth_status) {
        if (request->auth_status == 401)
            evhttp_add_header (evhttp_request_get_output_headers (request->http),
                               "WWW-Authenticate", "Bearer realm=\"api\"");
        gw_reply_error (request, request->auth_status, request->auth_code, 0, "%s",
                        request->auth_message);
        return;
    }
    request->dispatch (request);
}

//  Add the rate-limit headers of a decision to the answer.
static void
s_headers_add (gw_request_t *request, const gw_rate_headers_t *headers)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers (request->http);
    evhttp_add_header (out, "X-RateLimit-Limit", headers->limit);
    evhttp_add_header (out, "X-RateLimit-Remaining", headers->remaining);
    evhttp_add_header (out, "X-RateLimit-Reset", headers->reset);
    evhttp_add_header (out, "RateLimit-Policy", headers->policy);
    evhttp_add_header (out, "RateLimit", headers->state);
}

//  Answer the refusal in request->rate_verdict instead of whatever answer
//  was prepared (a parallel GET's is discarded, headers and body).
static void
s_answer_verdict (gw_request_t *request)
{
    request->rate_parallel = false;
    struct evhttp_request *http = request->http;
    evhttp_clear_headers (evhttp_request_get_output_headers (http));
    struct evbuffer *out = evhttp_request_get_output_buffer (http);
    evbuffer_drain (out, evbuffer_get_length (out));
    if (request->rate_verdict == 503) {
        gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", RETRY_AFTER_S,
                        "the rate limiter is unavailable");
        return;
    }
    uint32_t wait = RETRY_AFTER_S;
    if (request->rate_have_headers) {
        s_headers_add (request, &request->rate_headers);
        wait = request->rate_headers.retry_after;
    }
    gw_reply_error (request, 429, "RATE_LIMITED", wait,
                    "rate limit of the %s tier exceeded; retry in %u s", request->caller.tier, wait);
}

//  The decision about request: verdict 0 (admitted), 429 (limited) or 503
//  (limiter down, fail closed), with the headers to send (NULL: none).
static void
s_decided (gw_request_t *request, int verdict, const gw_rate_headers_t *headers)
{
    if (verdict == 0) {
        if (headers)
            s_headers_add (request, headers);
        if (!request->rate_parallel)
            s_proceed (request);
        else {
            request->rate_parallel = false;
            if (request->held_status)
                gw_reply_send (request, request->held_status);
            //  else the answer goes out as it comes
        }
        return;
    }
    request->rate_verdict = verdict;
    request->rate_have_headers = headers != NULL;
    if (headers)
        request->rate_headers = *headers;
    //  A parallel GET whose answer is still out: that call must end before
    //  the request may be recycled (gw_guard_hold answers then).
    if (request->rate_parallel && !request->held_status)
        return;
    s_answer_verdict (request);
}

void
gw_guard_hold (gw_request_t *request, int status)
{
    assert (request && request->rate_parallel);
    if (request->rate_verdict)
        s_answer_verdict (request);
    else
        request->held_status = status;
}

//  No decision could be had: admit unchecked or refuse, per configuration.
static void
s_limiter_down (gw_request_t *request, const char *why, int64_t rtt_us)
{
    bool open = request->config->rate_fail_open;
    gw_metrics_rate (request->metrics, open ? GW_RATE_FAIL_OPEN : GW_RATE_FAIL_CLOSED, rtt_us);
    int64_t now = gw_now_us ();
    int64_t last = atomic_load_explicit (&s_down_logged_us, memory_order_relaxed);
    if (now - last >= DOWN_LOG_EVERY_US
    &&  atomic_compare_exchange_strong (&s_down_logged_us, &last, now))
        mg_warn ("rate limiter unavailable", "reason=\"%s\" policy=%s", why,
                 open ? "fail_open" : "fail_closed");
    s_decided (request, open ? 0 : 503, NULL);
}

//  Bus callback of ratelimit.check.
static void
s_on_rate (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len, int64_t rtt_us)
{
    gw_request_t *request = arg;
    if (outcome != GW_BUS_REPLY) {
        s_limiter_down (request, outcome == GW_BUS_ERROR ? "error reply"
                                : outcome == GW_BUS_TIMEOUT ? "no answer in time" : "broker lost", rtt_us);
        return;
    }
    mg_ratelimit_reply_t decision;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_ratelimit_reply_desc, body, len, &decision, reason, sizeof reason)) {
        mg_error ("undecodable ratelimit.check reply", "reason=\"%s\"", reason);
        s_limiter_down (request, "undecodable reply", rtt_us);
        return;
    }
    gw_lease_put (request->lease, request->caller.client, request->caller.tier, gw_now_us (), &decision);
    gw_rate_headers_t headers;
    bool allowed = decision.allowed;
    int rc = gw_rate_headers_format (&decision, (int64_t) time (NULL), &headers);
    mg_msg_clear (&mg_ratelimit_reply_desc, &decision);
    gw_metrics_rate (request->metrics, allowed ? GW_RATE_ALLOWED : GW_RATE_LIMITED, rtt_us);
    s_decided (request, allowed ? 0 : 429, rc == 0 ? &headers : NULL);
}

//  May request be answered while its rate check runs? Only a GET or HEAD
//  (a read: discarding its answer undoes nothing) of a route an actor
//  answers, by a caller whose credentials passed.
static bool
s_parallel (gw_request_t *request)
{
    enum evhttp_cmd_type method = evhttp_request_get_command (request->http);
    if (!request->config->rate_parallel_reads || request->auth_status
    ||  (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD))
        return false;
    gw_match_t match;
    return gw_routes_match ((int) method, request->uri, request->path_len, &match) == GW_MATCH_OK
        && match.route->bus != NULL;
}

//  Bus callback of a renewal ahead: its grant joins the lease.
static void
s_on_renewed (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len, int64_t rtt_us)
{
    (void) rtt_us;
    gw_lease_renewal_t *renewal = arg;
    gw_metrics_t *metrics = gw_lease_renewal_arg (renewal);
    mg_ratelimit_reply_t decision;
    char reason [MG_MSG_ERR_LEN];
    if (outcome != GW_BUS_REPLY
    ||  mg_msg_decode (&mg_ratelimit_reply_desc, body, len, &decision, reason, sizeof reason)) {
        //  The next request that finds the lease empty asks, and meets the outage.
        gw_lease_renewed (renewal, gw_now_us (), NULL);
        gw_metrics_renewal (metrics, GW_RENEWAL_FAILED);
        return;
    }
    bool allowed = decision.allowed;
    gw_lease_renewed (renewal, gw_now_us (), &decision);
    mg_msg_clear (&mg_ratelimit_reply_desc, &decision);
    gw_metrics_renewal (metrics, allowed ? GW_RENEWAL_GRANTED : GW_RENEWAL_REFUSED);
}

//  The request just spent a leased unit: when the lease is due, ask for
//  more ahead of need, on no request's behalf.
static void
s_renew (gw_request_t *request)
{
    uint64_t want = 0;
    gw_lease_renewal_t *renewal = gw_lease_renewal (request->lease, request->caller.client,
                                                    request->caller.tier, gw_now_us (),
                                                    request->metrics, &want);
    if (!renewal)
        return;
    mg_ratelimit_request_t msg = { .client = (char *) gw_lease_renewal_client (renewal),
                                   .tier = (char *) gw_lease_renewal_tier (renewal),
                                   .want = want, .has_want = true };
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    int rc = mg_msg_encode (&mg_ratelimit_request_desc, &msg, &body, &len, reason, sizeof reason);
    if (rc == 0)
        rc = gw_bus_call (request->bus, "ratelimit.check", body, len,
                          request->config->rate_timeout_ms, s_on_renewed, renewal);
    free (body);
    if (rc) {
        gw_lease_renewed (renewal, gw_now_us (), NULL);
        gw_metrics_renewal (request->metrics, GW_RENEWAL_FAILED);
    }
}

//  Ask the limiter about the caller; a read goes on at once (s_parallel),
//  anything else once the decision admits it.
static void
s_check_rate (gw_request_t *request)
{
    if (!request->config->rate_enabled) {
        s_proceed (request);
        return;
    }
    gw_rate_headers_t leased;
    gw_lease_spent_t spent = gw_lease_take (request->lease, request->caller.client,
                                            request->caller.tier, gw_now_us (),
                                            (int64_t) time (NULL), &leased);
    if (spent != GW_LEASE_NONE) {
        gw_metrics_rate (request->metrics, GW_RATE_ALLOWED, 0);
        if (spent == GW_LEASE_OWED)
            gw_metrics_on_credit (request->metrics);
        //  Before s_decided: the answer may go out and the request be recycled there.
        s_renew (request);
        s_decided (request, 0, leased.limit [0] ? &leased : NULL);
        return;
    }
    uint64_t want = gw_lease_want (request->lease, request->caller.client, request->caller.tier);
    mg_ratelimit_request_t msg = { .client = request->caller.client, .tier = request->caller.tier,
                                   .want = want, .has_want = want > 1 };
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_encode (&mg_ratelimit_request_desc, &msg, &body, &len, reason, sizeof reason)) {
        s_limiter_down (request, "request does not encode", 0);
        return;
    }
    int rc = gw_bus_call (request->bus, "ratelimit.check", body, len,
                          request->config->rate_timeout_ms, s_on_rate, request);
    free (body);
    if (rc)
        s_limiter_down (request, "message broker unreachable", 0);
    else
    if (s_parallel (request)) {
        //  bus callbacks never run inside gw_bus_call: the decision is still out
        request->rate_parallel = true;
        request->hold = gw_guard_hold;
        request->dispatch (request);
    }
}

void
gw_guard (gw_request_t *request)
{
    assert (request);
    struct evkeyvalq *in = evhttp_request_get_input_headers (request->http);
    const char *authorization = evhttp_find_header (in, "Authorization");
    const char *key = evhttp_find_header (in, "X-API-Key");
    s_anonymous (request);
    if (authorization && key)
        s_refuse (request, 401, "UNAUTHORIZED", "send either Authorization or X-API-Key, not both");
    else
    if (authorization)
        s_token (request, authorization);
    else
    if (key) {
        if (s_key (request, key))
            return;
    }
    else
        gw_metrics_auth (request->metrics, GW_AUTH_ANONYMOUS);
    s_check_rate (request);
}
