/*  Ops endpoints, answered by the gateway itself and never rate limited:
    /health (the process is up), /ready (the broker answers, every service
    the route table uses has a live worker, and accounts signs tokens with
    the secret this gateway verifies them with), /metrics (Prometheus text, with
    the fetcher's provider lines when a fetcher answers in time).  */
#include "gw_ops.h"
#include "gw_bus.h"
#include "gw_json.h"
#include "gw_metrics.h"
#include "gw_respond.h"
#include "gw_routes.h"
#include "mg_log.h"

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define READY_TTL_MS        1000    //  a readiness probe wants a quick answer, not the API deadline
#define READY_RETRY_AFTER   "1"     //  seconds: workers register within a few heartbeats
#define METRICS_TYPE        "text/plain; version=0.0.4; charset=utf-8"
#define FETCHER_METRICS_TTL_MS 200  //  a scrape waits this long at most for the fetcher's lines
#define SECRET_MISMATCH "the gateway and accounts hold different JWT secrets (MG_JWT_SECRET): " \
                        "tokens accounts signs would be refused here"
#define SECRET_UNKNOWN  "cannot compare the JWT secret with accounts' (accounts.fingerprint did not answer)"

//  Whether accounts' secret matches ours, as last asked (all threads):
//  the answer and when it came (monotonic us; 0: never).
typedef enum { S_SECRET_UNKNOWN = 0, S_SECRET_SAME, S_SECRET_DIFFERENT } s_secret_t;
static _Atomic int s_secret = S_SECRET_UNKNOWN;
static _Atomic int64_t s_secret_at_us;

void
gw_ops_health (gw_request_t *request)
{
    static const char body [] = "{\"status\":\"ok\"}";
    gw_reply_json (request, 200, body, sizeof body - 1);
}

//  The fetcher's provider lines: breaker state per provider (0 closed,
//  1 open, 2 half-open, as a gauge and as a labelled state), its call
//  counters, and the dead letters waiting for a replay.
static void
s_render_fetcher (struct evbuffer *out, const mg_fetcher_metrics_reply_t *m)
{
    static const char *const states [] = { "closed", "open", "half_open" };
    evbuffer_add_printf (out, "# HELP mg_fetcher_breaker_state Provider circuit breaker: 0 closed, 1 open, 2 half-open\n"
                              "# TYPE mg_fetcher_breaker_state gauge\n");
    for (size_t i = 0; i < m->providers_count; i++) {
        int value = 0;
        for (int s = 0; s < 3; s++)
            if (strcmp (m->providers [i].breaker, states [s]) == 0)
                value = s;
        evbuffer_add_printf (out, "mg_fetcher_breaker_state{provider=\"%s\",state=\"%s\"} %d\n",
                             m->providers [i].provider, states [value], value);
    }
    static const struct {
        const char *name, *help;
        size_t offset;
    } counters [] = {
        { "mg_fetcher_calls_total", "Provider HTTP calls (retries included)", offsetof (mg_fetcher_provider_t, calls) },
        { "mg_fetcher_failures_total", "Provider calls that failed", offsetof (mg_fetcher_provider_t, failures) },
        { "mg_fetcher_cache_hits_total", "Provider answers from the response cache (fresh or 304)", offsetof (mg_fetcher_provider_t, cache_hits) },
        { "mg_fetcher_quota_waits_total", "Calls delayed or refused by the shared quota or pacing", offsetof (mg_fetcher_provider_t, quota_waits) },
    };
    for (size_t c = 0; c < sizeof counters / sizeof counters [0]; c++) {
        evbuffer_add_printf (out, "# HELP %s %s (the answering fetcher)\n# TYPE %s counter\n",
                             counters [c].name, counters [c].help, counters [c].name);
        for (size_t i = 0; i < m->providers_count; i++) {
            const uint64_t *v = (const uint64_t *) ((const char *) &m->providers [i] + counters [c].offset);
            evbuffer_add_printf (out, "%s{provider=\"%s\"} %llu\n", counters [c].name,
                                 m->providers [i].provider, (unsigned long long) *v);
        }
    }
    evbuffer_add_printf (out, "# HELP mg_fetcher_dead_letters Provider work that failed after its retries, not yet replayed\n"
                              "# TYPE mg_fetcher_dead_letters gauge\nmg_fetcher_dead_letters %llu\n",
                         (unsigned long long) m->dead_letters);
}

//  Bus callback for fetcher.metrics: the gateway's own metrics, then the
//  fetcher's when one answered in time (none up: its lines are left out).
static void
s_on_fetcher_metrics (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len,
                      int64_t rtt_us)
{
    gw_request_t *request = arg;
    (void) rtt_us;
    struct evbuffer *out = evhttp_request_get_output_buffer (request->http);
    gw_metrics_render (request->all_metrics, request->all_metrics_count, out);
    if (outcome == GW_BUS_REPLY) {
        mg_fetcher_metrics_reply_t reply;
        char reason [MG_MSG_ERR_LEN];
        if (mg_msg_decode (&mg_fetcher_metrics_reply_desc, body, len, &reply, reason, sizeof reason) == 0) {
            s_render_fetcher (out, &reply);
            mg_msg_clear (&mg_fetcher_metrics_reply_desc, &reply);
        }
        else
            mg_warn ("undecodable fetcher.metrics reply", "reason=\"%s\"", reason);
    }
    gw_reply_buffer (request, 200, METRICS_TYPE);
}

void
gw_ops_metrics (gw_request_t *request)
{
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    mg_empty_t empty = { 0 };
    if (mg_msg_encode (&mg_empty_desc, &empty, &body, &len, reason, sizeof reason) == 0) {
        int rc = gw_bus_call (request->bus, "fetcher.metrics", body, len, FETCHER_METRICS_TTL_MS,
                              s_on_fetcher_metrics, request);
        free (body);
        if (rc == 0)
            return;
    }
    gw_metrics_render (request->all_metrics, request->all_metrics_count,
                       evhttp_request_get_output_buffer (request->http));
    gw_reply_buffer (request, 200, METRICS_TYPE);
}

//  Live workers of service in reply (0 when the broker does not know it).
static uint64_t
s_workers (const mg_mmi_services_reply_t *reply, const char *service)
{
    for (size_t i = 0; i < reply->services_count; i++)
        if (strcmp (reply->services [i].service, service) == 0)
            return reply->services [i].workers;
    return 0;
}

//  Append "services":{"name":workers,...} for the services the routes use.
static void
s_append_services (struct evbuffer *out, const mg_mmi_services_reply_t *reply)
{
    evbuffer_add_printf (out, "\"services\":{");
    bool first = true;
    for (const char *const *s = gw_routes_services (); *s; s++) {
        evbuffer_add_printf (out, "%s", first ? "" : ",");
        gw_json_append_string (out, *s, strlen (*s));
        evbuffer_add_printf (out, ":%llu", (unsigned long long) s_workers (reply, *s));
        first = false;
    }
    evbuffer_add_printf (out, "}");
}

//  503: not ready because of why (code), with what we know of services
//  (reply may be NULL) and the required services that have no worker.
static void
s_not_ready (gw_request_t *request, const char *why, const mg_mmi_services_reply_t *reply)
{
    struct evbuffer *out = evhttp_request_get_output_buffer (request->http);
    evbuffer_add_printf (out, "{\"status\":\"not_ready\",\"error\":{\"code\":\"SERVICE_UNAVAILABLE\",\"message\":");
    gw_json_append_string (out, why, strlen (why));
    evbuffer_add_printf (out, "}");
    if (reply) {
        evbuffer_add_printf (out, ",");
        s_append_services (out, reply);
        evbuffer_add_printf (out, ",\"missing\":[");
        bool first = true;
        for (const char *const *s = gw_routes_services (); *s; s++) {
            if (s_workers (reply, *s) > 0)
                continue;
            evbuffer_add_printf (out, "%s", first ? "" : ",");
            gw_json_append_string (out, *s, strlen (*s));
            first = false;
        }
        evbuffer_add_printf (out, "]");
    }
    evbuffer_add_printf (out, "}");
    evhttp_add_header (evhttp_request_get_output_headers (request->http),
                       "Retry-After", READY_RETRY_AFTER);
    gw_reply_buffer (request, 503, GW_JSON_TYPE);
}

//  The broker's service list arrived: ready when every required service has a worker.
static void
s_ready_from (gw_request_t *request, const mg_mmi_services_reply_t *reply)
{
    char missing [256] = "";
    size_t used = 0;
    for (const char *const *s = gw_routes_services (); *s; s++)
        if (s_workers (reply, *s) == 0) {
            int n = snprintf (missing + used, sizeof missing - used, "%s%s", used ? ", " : "", *s);
            if (n > 0 && (size_t) n < sizeof missing - used)
                used += (size_t) n;
        }
    //  A secret mismatch is named first: no restart of a worker mends it.
    s_secret_t secret = (s_secret_t) atomic_load (&s_secret);
    if (secret == S_SECRET_DIFFERENT) {
        s_not_ready (request, SECRET_MISMATCH, reply);
        return;
    }
    if (used) {
        char why [320];
        snprintf (why, sizeof why, "no live worker for: %s", missing);
        s_not_ready (request, why, reply);
        return;
    }
    if (secret != S_SECRET_SAME) {
        s_not_ready (request, SECRET_UNKNOWN, reply);
        return;
    }
    struct evbuffer *out = evhttp_request_get_output_buffer (request->http);
    evbuffer_add_printf (out, "{\"status\":\"ready\",");
    s_append_services (out, reply);
    evbuffer_add_printf (out, "}");
    gw_reply_buffer (request, 200, GW_JSON_TYPE);
}

//  Bus callback for mmi.services.
static void
s_on_services (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len,
               int64_t rtt_us)
{
    gw_request_t *request = arg;
    gw_metrics_bus (request->metrics, gw_routes_index (request->route), outcome, rtt_us);
    if (outcome != GW_BUS_REPLY) {
        s_not_ready (request, outcome == GW_BUS_ERROR ? "the message broker refused mmi.services"
                                                      : "the message broker does not answer", NULL);
        return;
    }
    mg_mmi_services_reply_t reply;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_mmi_services_reply_desc, body, len, &reply, reason, sizeof reason)) {
        mg_error ("undecodable mmi.services reply", "reason=\"%s\"", reason);
        s_not_ready (request, "the message broker sent an invalid service list", NULL);
        return;
    }
    s_ready_from (request, &reply);
    mg_msg_clear (&mg_mmi_services_reply_desc, &reply);
}

//  Send method an empty request with the readiness deadline; cb answers.
//  Returns 0, or -1 when the request was answered here (500) or the call
//  could not be sent (-2).
static int
s_ask (gw_request_t *request, const char *method, gw_bus_fn *cb)
{
    //  A probe wants the state now: a call would be held until a broker
    //  connects, and the probe's own timeout may be shorter than that.
    if (!gw_bus_connected (request->bus))
        return -2;
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    mg_empty_t empty = { 0 };
    if (mg_msg_encode (&mg_empty_desc, &empty, &body, &len, reason, sizeof reason)) {
        gw_reply_error (request, 500, "INTERNAL", 0, "%s", reason);
        return -1;
    }
    uint32_t ttl = request->config->request_timeout_ms < READY_TTL_MS
                 ? request->config->request_timeout_ms : READY_TTL_MS;
    int rc = gw_bus_call (request->bus, method, body, len, ttl, cb, request);
    free (body);
    return rc ? -2 : 0;
}

//  Ask the broker which services have workers (the second step of /ready).
static void
s_ask_services (gw_request_t *request)
{
    if (s_ask (request, "mmi.services", s_on_services) == -2)
        s_not_ready (request, "the message broker is unreachable", NULL);
}

//  Bus callback for accounts.fingerprint: remember the comparison (a
//  definite answer only), then ask for the services.
static void
s_on_fingerprint (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len,
                  int64_t rtt_us)
{
    (void) rtt_us;
    gw_request_t *request = arg;
    mg_fingerprint_reply_t reply;
    char reason [MG_MSG_ERR_LEN];
    if (outcome == GW_BUS_REPLY
    &&  mg_msg_decode (&mg_fingerprint_reply_desc, body, len, &reply, reason, sizeof reason) == 0) {
        bool same = strcmp (reply.fingerprint, request->config->jwt_fingerprint) == 0;
        mg_msg_clear (&mg_fingerprint_reply_desc, &reply);
        s_secret_t before = (s_secret_t) atomic_exchange (&s_secret, same ? S_SECRET_SAME : S_SECRET_DIFFERENT);
        atomic_store (&s_secret_at_us, gw_now_us ());
        if (!same && before != S_SECRET_DIFFERENT)
            mg_error ("accounts signs with another JWT secret than this gateway verifies with",
                      "fix=\"%s\"", "give both the same MG_JWT_SECRET_FILE (or MG_JWT_SECRET)");
    }
    else
        atomic_store (&s_secret, S_SECRET_UNKNOWN);
    s_ask_services (request);
}

void
gw_ops_ready (gw_request_t *request)
{
    assert (request);
    int64_t at = atomic_load (&s_secret_at_us);
    bool fresh = at && atomic_load (&s_secret) != S_SECRET_UNKNOWN
              && gw_now_us () - at < (int64_t) request->config->fingerprint_cache_s * 1000000;
    if (fresh) {
        s_ask_services (request);
        return;
    }
    //  The broker is unreachable: the services step says so.
    if (s_ask (request, "accounts.fingerprint", s_on_fingerprint) == -2)
        s_ask_services (request);
}
