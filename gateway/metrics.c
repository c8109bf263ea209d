/*  Gateway metrics: each thread counts into its own gw_metrics_t with no
    locks (one writer per counter: relaxed atomic loads and stores, so a
    reader on another thread sees whole values); /metrics sums all threads
    at read time and prints Prometheus text format 0.0.4.  */
#include "gw_metrics.h"
#include "gw_routes.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

typedef _Atomic uint64_t s_counter_t;

//  Statuses the gateway answers with; anything else counts as "other".
static const int s_statuses [] = {
    200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409, 413, 414, 415,
    422, 429, 431, 500, 501, 502, 503, 504
};
#define STATUS_COUNT  (sizeof s_statuses / sizeof s_statuses [0])
#define STATUS_SLOTS  (STATUS_COUNT + 1)

//  Histogram bucket bounds: 0.5 ms .. 10 s covers a cache hit to a deadline.
static const int64_t s_bounds_us [] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000
};
static const char *s_bounds_text [] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1", "2.5", "5", "10"
};
#define BOUNDS_COUNT  (sizeof s_bounds_us / sizeof s_bounds_us [0])

//  The refuser's bounds: finer, because its answers take tens of
//  microseconds of work and its goal is under 10 ms (docs/gateway.md, "Overload").
static const int64_t s_refuse_bounds_us [] = {
    50, 100, 250, 500, 1000, 2000, 3000, 5000, 7500, 10000, 15000, 20000, 30000,
    50000, 100000, 250000, 1000000
};
static const char *s_refuse_bounds_text [] = {
    "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.002", "0.003", "0.005", "0.0075",
    "0.01", "0.015", "0.02", "0.03", "0.05", "0.1", "0.25", "1"
};
#define REFUSE_BOUNDS_COUNT  (sizeof s_refuse_bounds_us / sizeof s_refuse_bounds_us [0])

static const char *s_outcomes [] = { "reply", "error", "timeout", "lost" };
static const char *s_rate_outcomes [GW_RATE_OUTCOMES] = { "allowed", "limited", "fail_open", "fail_closed" };
static const char *s_renewal_outcomes [GW_RENEWAL_OUTCOMES] = { "granted", "refused", "failed" };
static const char *s_cache_outcomes [GW_CACHE_OUTCOMES] = { "hit", "miss", "store", "unavailable", "timeout" };
static const char *s_redis_events [GW_REDIS_EVENTS] = { "stalled", "reconnected" };
static const char *s_auth_outcomes [GW_AUTH_OUTCOMES] = {
    "anonymous", "token", "key_cached", "key_lookup", "rejected"
};
#define OUTCOME_COUNT 4

typedef struct {
    s_counter_t buckets [BOUNDS_COUNT + 1];  //  not cumulative; last is +Inf
    s_counter_t sum_us;
    s_counter_t count;
} s_histogram_t;

typedef struct {
    s_counter_t buckets [REFUSE_BOUNDS_COUNT + 1];  //  not cumulative; last is +Inf
    s_counter_t sum_us;
    s_counter_t count;
} s_refuse_histogram_t;

struct gw_metrics_t {
    size_t routes;                  //  route slots: gw_routes_count () + 1 (unmatched)
    s_counter_t *requests;          //  [routes][STATUS_SLOTS]
    s_histogram_t *latency;         //  [routes]
    s_histogram_t *bus;             //  [routes]
    s_counter_t *bus_outcomes;      //  [routes][OUTCOME_COUNT]
    s_counter_t rate [GW_RATE_OUTCOMES];
    s_histogram_t rate_check;       //  ratelimit.check round trips
    s_counter_t renewals [GW_RENEWAL_OUTCOMES];
    s_counter_t on_credit;          //  requests admitted on credit from a late renewal
    s_counter_t auth [GW_AUTH_OUTCOMES];
    s_counter_t cache [GW_CACHE_OUTCOMES];
    s_counter_t details_cache [GW_CACHE_OUTCOMES];
    s_counter_t discover_cache [GW_CACHE_OUTCOMES];
    s_counter_t memo [GW_CACHE_OUTCOMES];
    s_counter_t redis [GW_REDIS_EVENTS];
    _Atomic int64_t in_flight;
    _Atomic int64_t refused_at_accept;  //  written by the refuser thread (refuse.c) alone
    s_refuse_histogram_t refuse_waited;     //  the refuser's alone: request arrival to accept
    s_refuse_histogram_t refuse_answered;   //  the refuser's alone: request arrival to answer written
    s_counter_t refuser_wakes;              //  the refuser's alone
    _Atomic int64_t sse_open;       //  live event streams
    s_counter_t sse_events;         //  events written to streams
    s_counter_t sse_ends [GW_SSE_ENDS];
    s_counter_t sse_refused [2];    //  [0] the user's bound, [1] the gateway's
    s_counter_t sse_resets;
};

static const char *s_sse_ends [GW_SSE_ENDS] = { "client", "slow", "device_removed", "shutdown", "error", "reauth" };

//  Add by to a counter that only this thread writes.
static inline void
s_bump (s_counter_t *counter, uint64_t by)
{
    atomic_store_explicit (counter,
        atomic_load_explicit (counter, memory_order_relaxed) + by, memory_order_relaxed);
}

//  Current value of a counter another thread writes.
static inline uint64_t
s_read (s_counter_t *counter)
{
    return atomic_load_explicit (counter, memory_order_relaxed);
}

gw_metrics_t *
gw_metrics_new (size_t routes)
{
    gw_metrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->routes = routes + 1;
    self->requests = calloc (self->routes * STATUS_SLOTS, sizeof (s_counter_t));
    self->latency = calloc (self->routes, sizeof (s_histogram_t));
    self->bus = calloc (self->routes, sizeof (s_histogram_t));
    self->bus_outcomes = calloc (self->routes * OUTCOME_COUNT, sizeof (s_counter_t));
    if (!self->requests || !self->latency || !self->bus || !self->bus_outcomes)
        gw_metrics_destroy (&self);
    return self;
}

void
gw_metrics_destroy (gw_metrics_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_metrics_t *self = *self_p;
        free (self->requests);
        free (self->latency);
        free (self->bus);
        free (self->bus_outcomes);
        free (self);
        *self_p = NULL;
    }
}

//  Slot of status in the per-route counters.
static size_t
s_status_slot (int status)
{
    for (size_t i = 0; i < STATUS_COUNT; i++)
        if (s_statuses [i] == status)
            return i;
    return STATUS_COUNT;
}

//  Count one observation of value_us in buckets (nbounds + 1 of them, the
//  last +Inf), its sum and its count.
static void
s_observe_in (s_counter_t *buckets, const int64_t *bounds_us, size_t nbounds,
              s_counter_t *sum_us, s_counter_t *count, int64_t value_us)
{
    if (value_us < 0)
        value_us = 0;
    size_t bucket = 0;
    while (bucket < nbounds && value_us > bounds_us [bucket])
        bucket++;
    s_bump (&buckets [bucket], 1);
    s_bump (sum_us, (uint64_t) value_us);
    s_bump (count, 1);
}

//  Count one observation of value_us.
static void
s_observe (s_histogram_t *histogram, int64_t value_us)
{
    s_observe_in (histogram->buckets, s_bounds_us, BOUNDS_COUNT,
                  &histogram->sum_us, &histogram->count, value_us);
}

void
gw_metrics_request (gw_metrics_t *self, size_t route, int status, int64_t latency_us)
{
    assert (self);
    if (route >= self->routes)
        route = self->routes - 1;
    s_bump (&self->requests [route * STATUS_SLOTS + s_status_slot (status)], 1);
    s_observe (&self->latency [route], latency_us);
}

void
gw_metrics_bus (gw_metrics_t *self, size_t route, gw_bus_outcome_t outcome, int64_t rtt_us)
{
    assert (self);
    if (route >= self->routes)
        route = self->routes - 1;
    s_bump (&self->bus_outcomes [route * OUTCOME_COUNT + (size_t) outcome % OUTCOME_COUNT], 1);
    s_observe (&self->bus [route], rtt_us);
}

void
gw_metrics_rate (gw_metrics_t *self, gw_rate_outcome_t outcome, int64_t check_us)
{
    assert (self);
    s_bump (&self->rate [(size_t) outcome % GW_RATE_OUTCOMES], 1);
    if (check_us > 0)
        s_observe (&self->rate_check, check_us);
}

void
gw_metrics_renewal (gw_metrics_t *self, gw_renewal_outcome_t outcome)
{
    assert (self);
    s_bump (&self->renewals [(size_t) outcome % GW_RENEWAL_OUTCOMES], 1);
}

void
gw_metrics_on_credit (gw_metrics_t *self)
{
    assert (self);
    s_bump (&self->on_credit, 1);
}

void
gw_metrics_auth (gw_metrics_t *self, gw_auth_outcome_t outcome)
{
    assert (self);
    s_bump (&self->auth [(size_t) outcome % GW_AUTH_OUTCOMES], 1);
}

void
gw_metrics_sse_open (gw_metrics_t *self, int delta)
{
    assert (self);
    atomic_store_explicit (&self->sse_open,
        atomic_load_explicit (&self->sse_open, memory_order_relaxed) + delta, memory_order_relaxed);
}

void
gw_metrics_sse_event (gw_metrics_t *self)
{
    assert (self);
    s_bump (&self->sse_events, 1);
}

void
gw_metrics_sse_end (gw_metrics_t *self, gw_sse_end_t reason)
{
    assert (self);
    s_bump (&self->sse_ends [(size_t) reason % GW_SSE_ENDS], 1);
}

void
gw_metrics_sse_refused (gw_metrics_t *self, bool total)
{
    assert (self);
    s_bump (&self->sse_refused [total ? 1 : 0], 1);
}

void
gw_metrics_sse_reset (gw_metrics_t *self)
{
    assert (self);
    s_bump (&self->sse_resets, 1);
}

void
gw_metrics_cache (gw_metrics_t *self, gw_cache_outcome_t outcome)
{
    assert (self);
    s_bump (&self->cache [(size_t) outcome % GW_CACHE_OUTCOMES], 1);
}

void
gw_metrics_details_cache (gw_metrics_t *self, gw_cache_outcome_t outcome)
{
    assert (self);
    s_bump (&self->details_cache [(size_t) outcome % GW_CACHE_OUTCOMES], 1);
}

void
gw_metrics_discover_cache (gw_metrics_t *self, gw_cache_outcome_t outcome)
{
    assert (self);
    s_bump (&self->discover_cache [(size_t) outcome % GW_CACHE_OUTCOMES], 1);
}

void
gw_metrics_memo (gw_metrics_t *self, gw_cache_outcome_t outcome)
{
    assert (self);
    s_bump (&self->memo [(size_t) outcome % GW_CACHE_OUTCOMES], 1);
}

void
gw_metrics_redis (gw_metrics_t *self, gw_redis_event_t event)
{
    assert (self);
    s_bump (&self->redis [(size_t) event % GW_REDIS_EVENTS], 1);
}

void
gw_metrics_in_flight (gw_metrics_t *self, int delta)
{
    assert (self);
    atomic_store_explicit (&self->in_flight,
        atomic_load_explicit (&self->in_flight, memory_order_relaxed) + delta,
        memory_order_relaxed);
}

void
gw_metrics_refused_at_accept (gw_metrics_t *self)
{
    assert (self);
    atomic_fetch_add_explicit (&self->refused_at_accept, 1, memory_order_relaxed);
}

//  Count one observation of value_us in a refuser histogram.
static void
s_refuse_observe (s_refuse_histogram_t *histogram, int64_t value_us)
{
    s_observe_in (histogram->buckets, s_refuse_bounds_us, REFUSE_BOUNDS_COUNT,
                  &histogram->sum_us, &histogram->count, value_us);
}

void
gw_metrics_refuse_timed (gw_metrics_t *self, int64_t waited_us, int64_t answered_us)
{
    assert (self);
    s_refuse_observe (&self->refuse_waited, waited_us);
    s_refuse_observe (&self->refuse_answered, answered_us);
}

void
gw_metrics_refuser_woke (gw_metrics_t *self)
{
    assert (self);
    s_bump (&self->refuser_wakes, 1);
}

//  One refuser histogram (the field at offset) summed over all threads, unlabelled.
static void
s_render_refuse_histogram (gw_metrics_t *const *all, size_t n, size_t offset,
                           const char *name, const char *help, struct evbuffer *out)
{
    uint64_t buckets [REFUSE_BOUNDS_COUNT + 1] = { 0 };
    uint64_t sum_us = 0, count = 0;
    for (size_t t = 0; t < n; t++) {
        s_refuse_histogram_t *h = (s_refuse_histogram_t *) ((char *) all [t] + offset);
        for (size_t b = 0; b <= REFUSE_BOUNDS_COUNT; b++)
            buckets [b] += s_read (&h->buckets [b]);
        sum_us += s_read (&h->sum_us);
        count += s_read (&h->count);
    }
    evbuffer_add_printf (out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= REFUSE_BOUNDS_COUNT; b++) {
        cumulative += buckets [b];
        evbuffer_add_printf (out, "%s_bucket{le=\"%s\"} %llu\n", name,
                             b < REFUSE_BOUNDS_COUNT ? s_refuse_bounds_text [b] : "+Inf",
                             (unsigned long long) cumulative);
    }
    evbuffer_add_printf (out, "%s_sum %.6f\n%s_count %llu\n",
                         name, (double) sum_us / 1e6, name, (unsigned long long) count);
}

//  Sum over all threads of the atomic int64 field at offset.
static int64_t
s_sum (gw_metrics_t *const *all, size_t n, size_t offset)
{
    int64_t sum = 0;
    for (size_t t = 0; t < n; t++)
        sum += atomic_load_explicit ((_Atomic int64_t *) ((char *) all [t] + offset), memory_order_relaxed);
    return sum;
}

//  Labels of route slot r: method and route pattern ("unmatched" for none).
static void
s_route_labels (struct evbuffer *out, size_t r)
{
    const gw_route_t *route = gw_routes_at (r);
    if (route)
        evbuffer_add_printf (out, "method=\"%s\",route=\"%s\"", route->method, route->path);
    else
        evbuffer_add_printf (out, "method=\"\",route=\"unmatched\"");
}

//  Print the sum over all threads of the bus round trips (bus) or the
//  request latencies (!bus).
//  One counter family, each of count counters summed over the threads:
//  name{label="names [i]"} total. offset: the family's array in gw_metrics_t.
static void
s_render_counters (gw_metrics_t *const *all, size_t n, size_t offset, size_t count,
                   const char *name, const char *label, const char *const *names, struct evbuffer *out)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t total = 0;
        for (size_t t = 0; t < n; t++)
            total += s_read ((s_counter_t *) ((char *) all [t] + offset) + i);
        evbuffer_add_printf (out, "%s{%s=\"%s\"} %llu\n", name, label, names [i], (unsigned long long) total);
    }
}

//  One counter without labels, summed over the threads, with its help
//  line. offset: the counter in gw_metrics_t.
static void
s_render_total (gw_metrics_t *const *all, size_t n, size_t offset, const char *name,
                const char *help, struct evbuffer *out)
{
    uint64_t total = 0;
    for (size_t t = 0; t < n; t++)
        total += s_read ((s_counter_t *) ((char *) all [t] + offset));
    evbuffer_add_printf (out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
                         name, help, name, name, (unsigned long long) total);
}

static void
s_render_histogram (gw_metrics_t *const *all, size_t n, bool bus,
                    const char *name, struct evbuffer *out)
{
    size_t routes = all [0]->routes;
    for (size_t r = 0; r < routes; r++) {
        uint64_t buckets [BOUNDS_COUNT + 1] = { 0 };
        uint64_t sum_us = 0, count = 0;
        for (size_t t = 0; t < n; t++) {
            s_histogram_t *h = (bus ? all [t]->bus : all [t]->latency) + r;
            for (size_t b = 0; b <= BOUNDS_COUNT; b++)
                buckets [b] += s_read (&h->buckets [b]);
            sum_us += s_read (&h->sum_us);
            count += s_read (&h->count);
        }
        if (count == 0)
            continue;
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= BOUNDS_COUNT; b++) {
            cumulative += buckets [b];
            evbuffer_add_printf (out, "%s_bucket{", name);
            s_route_labels (out, r);
            evbuffer_add_printf (out, ",le=\"%s\"} %llu\n",
                                 b < BOUNDS_COUNT ? s_bounds_text [b] : "+Inf",
                                 (unsigned long long) cumulative);
        }
        evbuffer_add_printf (out, "%s_sum{", name);
        s_route_labels (out, r);
        evbuffer_add_printf (out, "} %.6f\n", (double) sum_us / 1e6);
        evbuffer_add_printf (out, "%s_count{", name);
        s_route_labels (out, r);
        evbuffer_add_printf (out, "} %llu\n", (unsigned long long) count);
    }
}

void
gw_metrics_render (gw_metrics_t *const *all, size_t n, struct evbuffer *out)
{
    assert (all);
    assert (n > 0);
    size_t routes = all [0]->routes;

    evbuffer_add_printf (out,
        "# HELP mg_gateway_http_requests_total HTTP requests answered, by route and status.\n"
        "# TYPE mg_gateway_http_requests_total counter\n");
    for (size_t r = 0; r < routes; r++)
        for (size_t s = 0; s < STATUS_SLOTS; s++) {
            uint64_t total = 0;
            for (size_t t = 0; t < n; t++)
                total += s_read (&all [t]->requests [r * STATUS_SLOTS + s]);
            if (total == 0)
                continue;
            evbuffer_add_printf (out, "mg_gateway_http_requests_total{");
            s_route_labels (out, r);
            if (s < STATUS_COUNT)
                evbuffer_add_printf (out, ",status=\"%d\"} %llu\n", s_statuses [s],
                                     (unsigned long long) total);
            else
                evbuffer_add_printf (out, ",status=\"other\"} %llu\n", (unsigned long long) total);
        }

    evbuffer_add_printf (out,
        "# HELP mg_gateway_http_request_duration_seconds Time from a parsed request to its answer.\n"
        "# TYPE mg_gateway_http_request_duration_seconds histogram\n");
    s_render_histogram (all, n, false,
                        "mg_gateway_http_request_duration_seconds", out);

    evbuffer_add_printf (out,
        "# HELP mg_gateway_bus_requests_total Bus calls made for a route, by outcome.\n"
        "# TYPE mg_gateway_bus_requests_total counter\n");
    for (size_t r = 0; r < routes; r++)
        for (size_t o = 0; o < OUTCOME_COUNT; o++) {
            uint64_t total = 0;
            for (size_t t = 0; t < n; t++)
                total += s_read (&all [t]->bus_outcomes [r * OUTCOME_COUNT + o]);
            if (total == 0)
                continue;
            evbuffer_add_printf (out, "mg_gateway_bus_requests_total{");
            s_route_labels (out, r);
            evbuffer_add_printf (out, ",outcome=\"%s\"} %llu\n", s_outcomes [o],
                                 (unsigned long long) total);
        }

    evbuffer_add_printf (out,
        "# HELP mg_gateway_bus_roundtrip_seconds Time from sending a bus request to its answer.\n"
        "# TYPE mg_gateway_bus_roundtrip_seconds histogram\n");
    s_render_histogram (all, n, true,
                        "mg_gateway_bus_roundtrip_seconds", out);

    evbuffer_add_printf (out,
        "# HELP mg_gateway_ratelimit_decisions_total Rate-limit outcomes of /api/v1 requests "
        "(fail_open: the limiter did not answer and the request was admitted unchecked).\n"
        "# TYPE mg_gateway_ratelimit_decisions_total counter\n");
    s_render_counters (all, n, offsetof (gw_metrics_t, rate), GW_RATE_OUTCOMES,
                       "mg_gateway_ratelimit_decisions_total", "outcome", s_rate_outcomes, out);
    uint64_t buckets [BOUNDS_COUNT + 1] = { 0 };
    uint64_t sum_us = 0, count = 0;
    for (size_t t = 0; t < n; t++) {
        for (size_t b = 0; b <= BOUNDS_COUNT; b++)
            buckets [b] += s_read (&all [t]->rate_check.buckets [b]);
        sum_us += s_read (&all [t]->rate_check.sum_us);
        count += s_read (&all [t]->rate_check.count);
    }
    evbuffer_add_printf (out,
        "# HELP mg_gateway_ratelimit_check_seconds Round trip of one ratelimit.check.\n"
        "# TYPE mg_gateway_ratelimit_check_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= BOUNDS_COUNT; b++) {
        cumulative += buckets [b];
        evbuffer_add_printf (out, "mg_gateway_ratelimit_check_seconds_bucket{le=\"%s\"} %llu\n",
                             b < BOUNDS_COUNT ? s_bounds_text [b] : "+Inf", (unsigned long long) cumulative);
    }
    evbuffer_add_printf (out, "mg_gateway_ratelimit_check_seconds_sum %.6f\n"
                              "mg_gateway_ratelimit_check_seconds_count %llu\n",
                         (double) sum_us / 1e6, (unsigned long long) count);
    evbuffer_add_printf (out,
        "# HELP mg_gateway_ratelimit_renewals_total Leases renewed ahead of need by a "
        "ratelimit.check of no request's, by outcome.\n"
        "# TYPE mg_gateway_ratelimit_renewals_total counter\n");
    s_render_counters (all, n, offsetof (gw_metrics_t, renewals), GW_RENEWAL_OUTCOMES,
                       "mg_gateway_ratelimit_renewals_total", "outcome", s_renewal_outcomes, out);
    s_render_total (all, n, offsetof (gw_metrics_t, on_credit), "mg_gateway_ratelimit_on_credit_total",
                    "Requests admitted on credit from a lease renewal still in flight (counted in "
                    "the allowed decisions too).", out);
    evbuffer_add_printf (out,
        "# HELP mg_gateway_auth_total How /api/v1 callers were identified.\n"
        "# TYPE mg_gateway_auth_total counter\n");
    s_render_counters (all, n, offsetof (gw_metrics_t, auth), GW_AUTH_OUTCOMES,
                       "mg_gateway_auth_total", "outcome", s_auth_outcomes, out);

    evbuffer_add_printf (out,
        "# HELP mg_gateway_search_cache_total Search result cache look-ups and stores "
        "(unavailable: Redis down or failing, timeout: no answer within MG_SEARCH_CACHE_TIMEOUT_MS; "
        "both served uncached).\n"
        "# TYPE mg_gateway_search_cache_total counter\n");
    s_render_counters (all, n, offsetof (gw_metrics_t, cache), GW_CACHE_OUTCOMES,
                       "mg_gateway_search_cache_total", "outcome", s_cache_outcomes, out);
    evbuffer_add_printf (out,
        "# HELP mg_gateway_details_cache_total Details cache look-ups and stores "
        "(GET /api/v1/content/{id}; outcomes as for the search cache).\n"
        "# TYPE mg_gateway_details_cache_total counter\n");
    s_render_counters (all, n, offsetof (gw_metrics_t, details_cache), GW_CACHE_OUTCOMES,
                       "mg_gateway_details_cache_total", "outcome", s_cache_outcomes, out);
    evbuffer_add_printf (out,
        "# HELP mg_gateway_discover_cache_total Discover cache look-ups and stores "
        "(GET /api/v1/discover; outcomes as for the search cache).\n"
        "# TYPE mg_gateway_discover_cache_total counter\n");
    s_render_counters (all, n, offsetof (gw_metrics_t, discover_cache), GW_CACHE_OUTCOMES,
                       "mg_gateway_discover_cache_total", "outcome", s_cache_outcomes, out);
    evbuffer_add_printf (out,
        "# HELP mg_gateway_memo_total Reference answers (genres, platforms) from the thread's "
        "memory (hit) or forwarded to the catalog (miss).\n"
        "# TYPE mg_gateway_memo_total counter\n");
    s_render_counters (all, n, offsetof (gw_metrics_t, memo), 2,
                       "mg_gateway_memo_total", "outcome", s_cache_outcomes, out);
    evbuffer_add_printf (out,
        "# HELP mg_gateway_redis_connections_total The result cache's Redis connections: "
        "stalled (a command unanswered too long; dropped), reconnected (opened again after a loss).\n"
        "# TYPE mg_gateway_redis_connections_total counter\n");
    s_render_counters (all, n, offsetof (gw_metrics_t, redis), GW_REDIS_EVENTS,
                       "mg_gateway_redis_connections_total", "event", s_redis_events, out);

    evbuffer_add_printf (out,
        "# HELP mg_gateway_http_requests_in_flight Requests received and not yet answered.\n"
        "# TYPE mg_gateway_http_requests_in_flight gauge\n"
        "mg_gateway_http_requests_in_flight %lld\n",
        (long long) s_sum (all, n, offsetof (gw_metrics_t, in_flight)));
    evbuffer_add_printf (out,
        "# HELP mg_gateway_refused_at_accept_total New connections answered 503 OVERLOADED by the "
        "refuser while their thread was at its in-flight bound.\n"
        "# TYPE mg_gateway_refused_at_accept_total counter\n"
        "mg_gateway_refused_at_accept_total %lld\n",
        (long long) s_sum (all, n, offsetof (gw_metrics_t, refused_at_accept)));
    s_render_refuse_histogram (all, n, offsetof (gw_metrics_t, refuse_waited),
        "mg_gateway_refuser_wait_seconds",
        "Refused connections: from the request's arrival (the kernel's receive time) to the "
        "refuser's accept.", out);
    s_render_refuse_histogram (all, n, offsetof (gw_metrics_t, refuse_answered),
        "mg_gateway_refuser_answer_seconds",
        "Refused connections: from the request's arrival (the kernel's receive time) to the "
        "503 written.", out);
    s_render_total (all, n, offsetof (gw_metrics_t, refuser_wakes), "mg_gateway_refuser_wakeups_total",
                    "Times the refuser's thread woke to events (connections to accept, requests "
                    "to read, clients closing).", out);

    int64_t open = 0;
    uint64_t events = 0, resets = 0, refused [2] = { 0, 0 }, ends [GW_SSE_ENDS] = { 0 };
    for (size_t t = 0; t < n; t++) {
        open += atomic_load_explicit (&all [t]->sse_open, memory_order_relaxed);
        events += s_read (&all [t]->sse_events);
        resets += s_read (&all [t]->sse_resets);
        for (size_t i = 0; i < 2; i++)
            refused [i] += s_read (&all [t]->sse_refused [i]);
        for (size_t i = 0; i < GW_SSE_ENDS; i++)
            ends [i] += s_read (&all [t]->sse_ends [i]);
    }
    evbuffer_add_printf (out,
        "# HELP mg_gateway_sse_streams_open Live /api/v1/sync/stream connections.\n"
        "# TYPE mg_gateway_sse_streams_open gauge\n"
        "mg_gateway_sse_streams_open %lld\n"
        "# HELP mg_gateway_sse_events_sent_total Events written to streams (resets included).\n"
        "# TYPE mg_gateway_sse_events_sent_total counter\n"
        "mg_gateway_sse_events_sent_total %llu\n"
        "# HELP mg_gateway_sse_resets_total Resumes from an id no longer kept: a reset event was sent.\n"
        "# TYPE mg_gateway_sse_resets_total counter\n"
        "mg_gateway_sse_resets_total %llu\n"
        "# HELP mg_gateway_sse_refused_total Streams refused by a bound.\n"
        "# TYPE mg_gateway_sse_refused_total counter\n"
        "mg_gateway_sse_refused_total{bound=\"user\"} %llu\n"
        "mg_gateway_sse_refused_total{bound=\"total\"} %llu\n"
        "# HELP mg_gateway_sse_streams_ended_total Streams ended, by why (slow: cut for not reading).\n"
        "# TYPE mg_gateway_sse_streams_ended_total counter\n",
        (long long) open, (unsigned long long) (events + resets), (unsigned long long) resets,
        (unsigned long long) refused [0], (unsigned long long) refused [1]);
    for (size_t i = 0; i < GW_SSE_ENDS; i++)
        evbuffer_add_printf (out, "mg_gateway_sse_streams_ended_total{reason=\"%s\"} %llu\n",
                             s_sse_ends [i], (unsigned long long) ends [i]);
}
