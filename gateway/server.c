/*  The HTTP server: N threads, each with its own event loop, its own
    listening socket on the same address (SO_REUSEPORT: the kernel spreads
    connections over them), its own bus client and its own counters. Threads
    share nothing on the hot path.

    Every request passes the checks here in one order: size limits (414,
    431, 413), route (404, 405 with Allow), parameters and body (400, 415),
    then its route's local handler or the bus. Our limits come from the
    environment and are enforced in code so that the client gets a JSON
    error; libevent's own limits are set LIBEVENT_SLACK times higher and only
    stop what is far beyond ours.

    A thread at its in-flight bound stops accepting: the refuser thread
    (refuse.c) accepts on its socket meanwhile and answers each new
    connection 503 without waiting for the busy loop; a request on a
    connection already open is answered 503 here.

    SIGTERM/SIGINT: the refuser stops, each thread closes its listening
    socket, answers what is in flight (every bus call ends by its deadline, so the wait is bounded),
    lets libevent write the last answers, and its loop ends.  */
#include "gw_server.h"
#include "gw_bus.h"
#include "gw_cache.h"
#include "gw_forward.h"
#include "gw_guard.h"
#include "import.h"
#include "gw_keycache.h"
#include "gw_lease.h"
#include "gw_events.h"
#include "gw_memo.h"
#include "gw_mcp.h"
#include "gw_metrics.h"
#include "gw_mine.h"
#include "gw_openapi.h"
#include "gw_preflight.h"
#include "gw_refuse.h"
#include "gw_respond.h"
#include "gw_routes.h"
#include "gw_sse.h"
#include "mg_log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define LISTEN_BACKLOG       1024   //  pending connections per listening socket
#define HTTP_IDLE_TIMEOUT_S  60     //  idle keep-alive connections are closed after this
#define LIBEVENT_SLACK       2      //  libevent's limits are this multiple of ours
#define STOP_POLL_MS         10     //  a stopping thread checks its in-flight count this often
#define STOP_MARGIN_MS       1000   //  beyond the request deadline, before abandoning calls
#define FLUSH_GRACE_MS       100    //  after the last answer: time for libevent to write it
#define FREE_REQUESTS_MAX    1024   //  recycled request contexts kept per thread
#define KEY_CACHE_ENTRIES    4096   //  API keys cached per thread
#define LEASE_ENTRIES        4096   //  callers with a leased rate budget per thread
#define MINE_CACHE_ENTRIES   1024   //  callers' services cached per thread (direct-mapped)
#define ACCEPT_RESUME_SHARE  4      //  a thread at its bound accepts again once its in-flight
                                    //  count fell by a quarter of the bound (see s_set_over)

struct gw_thread_t {
    gw_server_t *server;
    int index;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;   //  NULL once stopped accepting
    gw_bus_t *bus;
    gw_metrics_t *metrics;
    gw_keycache_t *keys;
    gw_lease_t *lease;
    gw_events_t *events;            //  the one subscription to the bus's events
    gw_memo_t *memo;                //  genres and platforms answers
    gw_mine_cache_t *mine;          //  callers' services (available=mine)
    gw_sse_t *sse;
    gw_cache_t *cache;                   //  NULL when the result cache is off
    gw_mcp_t *mcp;                       //  MCP sessions (NULL: a bad Redis URL, /mcp answers 503)
    pthread_t tid;
    bool started;
    int stop_pipe [2];                   //  main thread writes a byte to stop us
    struct event *stop_event;
    struct event *drain_timer;
    bool stopping;
    int64_t drain_deadline_us;
    size_t in_flight;
    bool over;                           //  at the bound: the refuser accepts for us
    gw_request_t *free_requests;
    size_t nfree;
};

struct gw_server_t {
    gw_config_t config;
    void *zmq_ctx;
    gw_thread_t *threads;
    size_t nthreads;
    gw_metrics_t **metrics;              //  every thread's, for /metrics
    gw_sse_limits_t *sse_limits;         //  stream counts of all threads
    gw_refuse_t *refuse;                 //  answers new connections of threads at their bound
    int port;
};

static void s_on_request (struct evhttp_request *http, void *arg);
static void s_request_done (gw_request_t *request, int status);
static void s_on_stop (evutil_socket_t fd, short what, void *arg);
static void s_on_drain (evutil_socket_t fd, short what, void *arg);

//  A listening socket on addr:port with SO_REUSEPORT; -1 on failure (logged).
static evutil_socket_t
s_listen (const struct addrinfo *ai, int port)
{
    struct sockaddr_storage addr;
    memcpy (&addr, ai->ai_addr, ai->ai_addrlen);
    if (addr.ss_family == AF_INET)
        ((struct sockaddr_in *) &addr)->sin_port = htons ((uint16_t) port);
    else
        ((struct sockaddr_in6 *) &addr)->sin6_port = htons ((uint16_t) port);
    int fd = socket (ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0
    ||  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)
    ||  setsockopt (fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)
    //  Accepted sockets inherit TCP_NODELAY from the listener (Linux). Without
    //  it a reply of several segments waits for the client's delayed ACK
    //  (~40 ms) before its last segment on a kept-alive connection, and an
    //  SSE event waits behind the previous unacknowledged one.
    ||  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)
    ||  bind (fd, (struct sockaddr *) &addr, ai->ai_addrlen)
    ||  listen (fd, LISTEN_BACKLOG)) {
        mg_error ("cannot listen", "port=%d error=\"%s\"", port, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

//  Port a bound socket listens on.
static int
s_bound_port (evutil_socket_t fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname (fd, (struct sockaddr *) &addr, &len))
        return -1;
    return addr.ss_family == AF_INET
         ? ntohs (((struct sockaddr_in *) &addr)->sin_port)
         : ntohs (((struct sockaddr_in6 *) &addr)->sin6_port);
}

//  Set up thread i: loop, HTTP server on listening socket fd, bus, metrics.
static int
s_thread_init (gw_server_t *server, int i, evutil_socket_t fd)
{
    gw_thread_t *self = &server->threads [i];
    const gw_config_t *config = &server->config;
    self->server = server;
    self->index = i;
    //  Each loop belongs to one thread; the main thread reaches it through
    //  the stop pipe only, so libevent needs no locks.
    //  The epoll changelist folds the enable/disable pairs that evhttp makes
    //  on every connection in one loop turn into at most one epoll_ctl.
    struct event_config *cfg = event_config_new ();
    if (cfg)
        event_config_set_flag (cfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    self->base = cfg ? event_base_new_with_config (cfg) : NULL;
    if (cfg)
        event_config_free (cfg);
    struct evconnlistener *listener = self->base
        ? evconnlistener_new (self->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, 0, fd) : NULL;
    if (!listener) {
        close (fd);
        return -1;
    }
    self->http = evhttp_new (self->base);
    if (!self->http) {
        evconnlistener_free (listener);
        return -1;
    }
    self->bound = evhttp_bind_listener (self->http, listener);
    if (!self->bound) {
        evconnlistener_free (listener);
        return -1;
    }
    evhttp_set_gencb (self->http, s_on_request, self);
    evhttp_set_max_headers_size (self->http,
        (ev_ssize_t) (LIBEVENT_SLACK * (config->max_headers + config->max_url)));
    //  The import route takes larger bodies; our own check keeps every other route to max_body.
    size_t largest = config->max_body > GW_IMPORT_MAX_BODY ? config->max_body : GW_IMPORT_MAX_BODY;
    evhttp_set_max_body_size (self->http, (ev_ssize_t) (LIBEVENT_SLACK * largest));
    //  Every method reaches our router, which answers 405 with Allow itself.
    evhttp_set_allowed_methods (self->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD
        | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH
        | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
    evhttp_set_default_content_type (self->http, GW_JSON_TYPE);
    evhttp_set_timeout (self->http, HTTP_IDLE_TIMEOUT_S);
    self->metrics = gw_metrics_new (gw_routes_count ());
    self->keys = gw_keycache_new (KEY_CACHE_ENTRIES);
    self->lease = gw_lease_new (LEASE_ENTRIES, config->rate_lease, config->rate_gateways,
                                (uint32_t) server->nthreads);
    self->mine = gw_mine_cache_new (MINE_CACHE_ENTRIES);
    self->bus = gw_bus_new (self->base, server->zmq_ctx, config->broker,
                            config->heartbeat_ms, config->liveness, i);
    if (self->metrics && (config->cache_ttl_s > 0 || config->details_ttl_s > 0))
        self->cache = gw_cache_new (self->base, config, self->metrics);
    self->mcp = gw_mcp_new (config);
    self->events = gw_events_new (self->base, server->zmq_ctx, config->events);
    self->memo = self->events ? gw_memo_new (self->events, config) : NULL;
    if (!self->metrics || !self->keys || !self->lease || !self->memo || !self->mine || !self->bus || pipe2 (self->stop_pipe, O_NONBLOCK | O_CLOEXEC))
        return -1;
    self->sse = gw_sse_new (self->base, self->events, config, self->bus, self->metrics, server->sse_limits);
    if (self->sse && self->keys)
        gw_sse_set_keycache (self->sse, self->keys);
    if (!self->sse)
        return -1;
    server->metrics [i] = self->metrics;
    self->stop_event = event_new (self->base, self->stop_pipe [0], EV_READ, s_on_stop, self);
    self->drain_timer = event_new (self->base, -1, EV_PERSIST, s_on_drain, self);
    if (!self->stop_event || !self->drain_timer || event_add (self->stop_event, NULL))
        return -1;
    return 0;
}

gw_server_t *
gw_server_new (const gw_config_t *config)
{
    assert (config);
    if (gw_routes_check () || gw_openapi_init () || gw_mcp_tools_init ())
        return NULL;
    if (config->rate_enabled && gw_routes_require ("ratelimit.check"))
        return NULL;
    gw_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->nthreads = (size_t) (config->threads > 0 ? config->threads : 1);
    self->threads = calloc (self->nthreads, sizeof *self->threads);
    self->metrics = calloc (self->nthreads, sizeof *self->metrics);
    self->zmq_ctx = zmq_ctx_new ();
    self->sse_limits = gw_sse_limits_new ();
    if (!self->threads || !self->metrics || !self->zmq_ctx || !self->sse_limits) {
        gw_server_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < self->nthreads; i++)
        self->threads [i].stop_pipe [0] = self->threads [i].stop_pipe [1] = -1;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo (config->addr, "0", &hints, &ai);
    if (rc) {
        mg_error ("cannot resolve the listen address", "addr=\"%s\" error=\"%s\"",
                  config->addr, gai_strerror (rc));
        gw_server_destroy (&self);
        return NULL;
    }
    //  With port 0 the first socket picks a port and the others join it.
    self->port = config->port;
    for (size_t i = 0; i < self->nthreads; i++) {
        evutil_socket_t fd = s_listen (ai, self->port);
        if (fd >= 0 && self->port == 0)
            self->port = s_bound_port (fd);
        if (fd < 0 || s_thread_init (self, (int) i, fd)) {
            freeaddrinfo (ai);
            gw_server_destroy (&self);
            return NULL;
        }
    }
    freeaddrinfo (ai);
    int *listeners = malloc (self->nthreads * sizeof *listeners);
    for (size_t i = 0; listeners && i < self->nthreads; i++)
        listeners [i] = evconnlistener_get_fd (evhttp_bound_socket_get_listener (self->threads [i].bound));
    self->refuse = listeners ? gw_refuse_new (listeners, self->metrics, self->nthreads) : NULL;
    free (listeners);
    if (!self->refuse) {
        gw_server_destroy (&self);
        return NULL;
    }
    mg_info ("listening", "addr=%s port=%d threads=%zu broker=\"%s\"",
             config->addr, self->port, self->nthreads, config->broker);
    return self;
}

//  Free what thread i holds (its loop has ended or never ran).
static void
s_thread_destroy (gw_thread_t *self)
{
    //  Streams end before their connections go.
    if (self->sse)
        gw_sse_close_all (self->sse);
    if (self->http)
        evhttp_free (self->http);
    gw_sse_destroy (&self->sse);
    gw_cache_destroy (&self->cache);
    gw_mcp_destroy (&self->mcp);
    gw_bus_destroy (&self->bus);
    gw_metrics_destroy (&self->metrics);
    gw_keycache_destroy (&self->keys);
    gw_lease_destroy (&self->lease);
    gw_memo_destroy (&self->memo);
    gw_events_destroy (&self->events);
    gw_mine_cache_destroy (&self->mine);
    if (self->stop_event)
        event_free (self->stop_event);
    if (self->drain_timer)
        event_free (self->drain_timer);
    for (int i = 0; i < 2; i++)
        if (self->stop_pipe [i] >= 0)
            close (self->stop_pipe [i]);
    while (self->free_requests) {
        gw_request_t *next = self->free_requests->next_free;
        free (self->free_requests);
        self->free_requests = next;
    }
    if (self->base)
        event_base_free (self->base);
}

void
gw_server_destroy (gw_server_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_server_t *self = *self_p;
        //  First: it holds copies of the listening sockets and counts into the threads' metrics.
        gw_refuse_destroy (&self->refuse);
        for (size_t i = 0; self->threads && i < self->nthreads; i++)
            s_thread_destroy (&self->threads [i]);
        free (self->threads);
        free (self->metrics);
        gw_sse_limits_destroy (&self->sse_limits);
        if (self->zmq_ctx)
            zmq_ctx_term (self->zmq_ctx);
        gw_openapi_term ();
        gw_mcp_tools_term ();
        free (self);
        *self_p = NULL;
    }
}

int
gw_server_port (gw_server_t *self)
{
    assert (self);
    return self->port;
}

void
gw_server_render_metrics (gw_server_t *self, struct evbuffer *out)
{
    assert (self);
    gw_metrics_render (self->metrics, self->nthreads, out);
}

//  --------------------------------------------------------------------------
//  Requests

//  Method name for messages.
static const char *
s_method_name (enum evhttp_cmd_type cmd)
{
    switch (cmd) {
        case EVHTTP_REQ_GET:     return "GET";
        case EVHTTP_REQ_POST:    return "POST";
        case EVHTTP_REQ_HEAD:    return "HEAD";
        case EVHTTP_REQ_PUT:     return "PUT";
        case EVHTTP_REQ_DELETE:  return "DELETE";
        case EVHTTP_REQ_OPTIONS: return "OPTIONS";
        case EVHTTP_REQ_TRACE:   return "TRACE";
        case EVHTTP_REQ_CONNECT: return "CONNECT";
        case EVHTTP_REQ_PATCH:   return "PATCH";
    }
    return "?";
}

//  The thread reached its in-flight bound (over) or fell well below it:
//  while over, it accepts no connection and the refuser answers them. Under
//  sustained load the count dips below the bound and refills within one
//  loop turn; a listener enabled at every dip would take in connections
//  whose requests, read a turn later, find the bound again and wait for
//  their 503 in the loop. So it resumes accepting only once a quarter of
//  the bound has been answered.
static void
s_set_over (gw_thread_t *self, bool over)
{
    self->over = over;
    if (self->bound) {
        struct evconnlistener *listener = evhttp_bound_socket_get_listener (self->bound);
        if ((over ? evconnlistener_disable (listener) : evconnlistener_enable (listener)) < 0)
            mg_warn ("cannot switch accepting", "thread=%d over=%d", self->index, (int) over);
    }
    gw_refuse_set (self->server->refuse, (size_t) self->index, over);
}

//  A request context from the thread's free list (or the heap).
static gw_request_t *
s_request_new (gw_thread_t *self, struct evhttp_request *http)
{
    gw_request_t *request = self->free_requests;
    if (request) {
        self->free_requests = request->next_free;
        self->nfree--;
    }
    else {
        request = malloc (sizeof *request);
        if (!request)
            return NULL;
    }
    *request = (gw_request_t) {
        .http = http, .thread = self, .server = self->server, .bus = self->bus,
        .metrics = self->metrics, .keys = self->keys, .lease = self->lease, .sse = self->sse, .config = &self->server->config,
        .cache = self->cache, .mine_cache = self->mine, .mcp = self->mcp, .memo = self->memo,
        .start_us = gw_now_us (), .done = s_request_done, .dispatch = gw_server_dispatch,
        .all_metrics = self->server->metrics, .all_metrics_count = self->server->nthreads
    };
    self->in_flight++;
    gw_metrics_in_flight (self->metrics, 1);
    if (self->in_flight == self->server->config.max_in_flight)
        s_set_over (self, true);
    return request;
}

//  request->done: count the answer, recycle the request.
static void
s_request_done (gw_request_t *request, int status)
{
    assert (request);
    gw_thread_t *self = request->thread;
    gw_metrics_request (self->metrics, gw_routes_index (request->route), status,
                        gw_now_us () - request->start_us);
    gw_metrics_in_flight (self->metrics, -1);
    self->in_flight--;
    size_t max = self->server->config.max_in_flight;
    if (self->over && self->in_flight < max - max / ACCEPT_RESUME_SHARE)
        s_set_over (self, false);
    if (self->stopping)
        evhttp_add_header (evhttp_request_get_output_headers (request->http), "Connection", "close");
    if (self->nfree < FREE_REQUESTS_MAX) {
        request->next_free = self->free_requests;
        self->free_requests = request;
        self->nfree++;
    }
    else
        free (request);
}

//  Bytes of all header lines ("Name: value\r\n").
static size_t
s_headers_size (struct evhttp_request *http)
{
    size_t size = 0;
    struct evkeyvalq *headers = evhttp_request_get_input_headers (http);
    for (struct evkeyval *h = headers->tqh_first; h; h = h->next.tqe_next)
        size += strlen (h->key) + strlen (h->value) + 4;
    return size;
}

//  libevent callback: a complete request was read.
static void
s_on_request (struct evhttp_request *http, void *arg)
{
    gw_thread_t *self = arg;
    const gw_config_t *config = &self->server->config;
    gw_request_t *request = s_request_new (self, http);
    if (!request) {
        evhttp_send_error (http, 500, NULL);
        return;
    }
    //  Overload: what is already in flight bounds this thread's memory and
    //  the wait of each request in it; more would only queue. A fast 503
    //  tells the client to come back (docs/gateway.md, "Overload"). The
    //  connection stays open: closing it sent clients that retry at once
    //  into a reconnect storm that the refuser then answered, slower.
    if (self->in_flight > config->max_in_flight) {
        gw_reply_error (request, 503, "OVERLOADED", 1,
                        "this gateway has %zu requests in flight; retry shortly", config->max_in_flight);
        return;
    }
    const char *uri = evhttp_request_get_uri (http);
    size_t uri_len = strlen (uri);
    if (uri_len > config->max_url) {
        gw_reply_error (request, 414, "URI_TOO_LONG", 0,
                        "the request target is longer than %zu bytes", config->max_url);
        return;
    }
    if (s_headers_size (http) > config->max_headers) {
        gw_reply_error (request, 431, "HEADERS_TOO_LARGE", 0,
                        "the request headers are larger than %zu bytes", config->max_headers);
        return;
    }
    struct evbuffer *body = evhttp_request_get_input_buffer (http);
    size_t path_len = strcspn (uri, "?#");
    size_t max_body = gw_import_is (uri, path_len, (int) evhttp_request_get_command (http)) && GW_IMPORT_MAX_BODY > config->max_body
                    ? GW_IMPORT_MAX_BODY : config->max_body;
    if (evbuffer_get_length (body) > max_body) {
        gw_reply_error (request, 413, "PAYLOAD_TOO_LARGE",
                        0, "the request body is larger than %zu bytes", max_body);
        return;
    }
    request->uri = uri;
    request->path_len = path_len;
    request->query = uri + path_len;
    request->query_len = 0;
    if (*request->query == '?') {
        request->query++;
        request->query_len = strcspn (request->query, "#");
    }
    //  A browser's preflight costs neither a bus hop nor a rate-limit token.
    if (gw_cors_preflight (request))
        return;
    //  Everything under /api/v1 (even a 404 there) and /mcp passes the guard:
    //  it is answered with the rate-limit headers and counts against the limit.
    static const char api [] = "/api/v1";
    static const char mcp [] = "/mcp";
    if ((path_len >= sizeof api - 1 && memcmp (uri, api, sizeof api - 1) == 0
    &&   (path_len == sizeof api - 1 || uri [sizeof api - 1] == '/'))
    ||  (path_len == sizeof mcp - 1 && memcmp (uri, mcp, sizeof mcp - 1) == 0))
        gw_guard (request);
    else
        gw_server_dispatch (request);
}

//  request->on_success of a GW_ROUTE_PREFS route: the caller's services
//  may have changed, so every thread's cached copy is stale.
static void
s_forget_mine (gw_request_t *request)
{
    gw_mine_forget (request->caller.user_id);
}

void
gw_server_dispatch (gw_request_t *request)
{
    assert (request);
    struct evhttp_request *http = request->http;
    const char *uri = request->uri;
    size_t path_len = request->path_len;
    enum evhttp_cmd_type method = evhttp_request_get_command (http);
    gw_match_t match;
    switch (gw_routes_match ((int) method, uri, path_len, &match)) {
        case GW_MATCH_NO_PATH:
            gw_reply_error (request, 404, "NOT_FOUND", 0, "no route for %s %.*s",
                            s_method_name (method), (int) (path_len > 200 ? 200 : path_len), uri);
            return;
        case GW_MATCH_NO_METHOD:
            evhttp_add_header (evhttp_request_get_output_headers (http), "Allow", match.allow);
            gw_reply_error (request, 405, "METHOD_NOT_ALLOWED", 0, "%s is not allowed here; allowed: %s",
                            s_method_name (method), match.allow);
            return;
        case GW_MATCH_OK:
            break;
    }
    request->route = match.route;
    unsigned flags = match.route->flags;
    if ((flags & (GW_ROUTE_USER | GW_ROUTE_SESSION)) && request->caller.kind == GW_CALLER_ANONYMOUS) {
        evhttp_add_header (evhttp_request_get_output_headers (http), "WWW-Authenticate",
                           "Bearer realm=\"api\"");
        gw_reply_error (request, 401, "UNAUTHORIZED", 0,
                        "sign in first: send Authorization: Bearer <access token>");
        return;
    }
    if ((flags & GW_ROUTE_SESSION) && request->caller.kind != GW_CALLER_TOKEN) {
        gw_reply_error (request, 403, "FORBIDDEN",
                        0, "API keys cannot manage API keys: use a Bearer access token");
        return;
    }
    //  A signed-in caller's services and region go with the request: looked
    //  up first, then the request comes back here.
    if ((flags & GW_ROUTE_MINE) && request->caller.kind != GW_CALLER_ANONYMOUS && !request->mine.ready) {
        gw_mine_lookup (request);
        return;
    }
    match.mine = request->mine.ready ? &request->mine : NULL;
    if ((flags & GW_ROUTE_PREFS) && request->caller.kind != GW_CALLER_ANONYMOUS)
        request->on_success = s_forget_mine;
    gw_fault_t fault;
    uint8_t *bus_body = NULL;
    size_t bus_len = 0;
    const char *content_type = evhttp_find_header (evhttp_request_get_input_headers (http),
                                                   "Content-Type");
    const char *user_id = request->caller.kind != GW_CALLER_ANONYMOUS ? request->caller.user_id : NULL;
    const char *device_id = evhttp_find_header (evhttp_request_get_input_headers (http), "X-Device-Id");
    if (gw_routes_bind (&match, request->query, request->query_len, evhttp_request_get_input_buffer (http),
                        content_type, user_id, device_id, request->caller.address, &bus_body, &bus_len,
                        &fault)) {
        gw_reply_error (request, fault.status, fault.code, 0, "%s", fault.message);
        return;
    }
    if (match.route->handler) {
        request->bound = bus_body;
        request->bound_len = bus_len;
        match.route->handler (request);
        free (bus_body);
    }
    else
    if (flags & GW_ROUTE_CACHE)
        gw_cache_forward (request, &bus_body, bus_len);
    else
    if (flags & GW_ROUTE_MEMO)
        gw_memo_forward (request, &bus_body, bus_len);
    else
        gw_forward (request, &bus_body, bus_len);
}

//  --------------------------------------------------------------------------
//  Threads and shutdown

//  The main thread asked us to stop: close the listener, then drain.
static void
s_on_stop (evutil_socket_t fd, short what, void *arg)
{
    (void) what;
    gw_thread_t *self = arg;
    char byte;
    while (read (fd, &byte, 1) > 0)
        ;
    if (self->stopping)
        return;
    self->stopping = true;
    if (self->bound) {
        evhttp_del_accept_socket (self->http, self->bound);
        self->bound = NULL;
    }
    //  Streams never finish by themselves: end them now (clients resume elsewhere).
    gw_sse_close_all (self->sse);
    const gw_config_t *config = &self->server->config;
    uint32_t longest = config->long_timeout_ms > config->request_timeout_ms
                     ? config->long_timeout_ms : config->request_timeout_ms;
    self->drain_deadline_us = gw_now_us () + ((int64_t) longest + STOP_MARGIN_MS) * 1000;
    struct timeval poll = { 0, STOP_POLL_MS * 1000 };
    event_add (self->drain_timer, &poll);
    s_on_drain (-1, 0, self);
}

//  While stopping: once nothing is in flight (or the deadline passed and
//  the rest is abandoned with 503), give libevent time to write, then exit.
static void
s_on_drain (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    gw_thread_t *self = arg;
    if (self->in_flight > 0 && gw_now_us () < self->drain_deadline_us)
        return;
    if (self->in_flight > 0) {
        mg_warn ("abandoning requests at shutdown", "thread=%d in_flight=%zu",
                 self->index, self->in_flight);
        gw_bus_abandon (self->bus);
    }
    event_del (self->drain_timer);
    struct timeval grace = { 0, FLUSH_GRACE_MS * 1000 };
    event_base_loopexit (self->base, &grace);
}

//  Thread body: run the loop until stopped.
static void *
s_thread_main (void *arg)
{
    gw_thread_t *self = arg;
    if (event_base_dispatch (self->base) < 0)
        mg_error ("event loop failed", "thread=%d", self->index);
    return NULL;
}

//  Signal on the main loop: leave it.
static void
s_on_signal (evutil_socket_t sig, short what, void *arg)
{
    (void) what;
    mg_info ("stopping", "signal=%d", (int) sig);
    event_base_loopbreak ((struct event_base *) arg);
}

int
gw_server_run (gw_server_t *self)
{
    assert (self);
    signal (SIGPIPE, SIG_IGN);
    //  Threads inherit a mask without SIGTERM/SIGINT: the main loop gets them.
    sigset_t block, old;
    sigemptyset (&block);
    sigaddset (&block, SIGTERM);
    sigaddset (&block, SIGINT);
    pthread_sigmask (SIG_BLOCK, &block, &old);
    int rc = 0;
    for (size_t i = 0; i < self->nthreads; i++) {
        gw_thread_t *thread = &self->threads [i];
        if (pthread_create (&thread->tid, NULL, s_thread_main, thread) != 0) {
            mg_error ("cannot start a thread", "thread=%zu", i);
            rc = -1;
            break;
        }
        thread->started = true;
    }
    if (rc == 0 && gw_refuse_start (self->refuse))
        rc = -1;
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    struct event_base *base = event_base_new ();
    struct event *term = base ? evsignal_new (base, SIGTERM, s_on_signal, base) : NULL;
    struct event *intr = base ? evsignal_new (base, SIGINT, s_on_signal, base) : NULL;
    if (rc == 0 && (!term || !intr || event_add (term, NULL) || event_add (intr, NULL))) {
        mg_error ("cannot watch signals", NULL);
        rc = -1;
    }
    if (rc == 0) {
        mg_info ("ready", "port=%d", self->port);
        event_base_dispatch (base);
    }
    //  First, so that its copies of the listening sockets do not keep them open.
    gw_refuse_stop (self->refuse);
    for (size_t i = 0; i < self->nthreads; i++) {
        gw_thread_t *thread = &self->threads [i];
        if (!thread->started)
            continue;
        if (write (thread->stop_pipe [1], "x", 1) != 1)
            mg_error ("cannot stop a thread", "thread=%zu error=\"%s\"", i, strerror (errno));
        pthread_join (thread->tid, NULL);
        thread->started = false;
    }
    if (term)
        event_free (term);
    if (intr)
        event_free (intr);
    if (base)
        event_base_free (base);
    mg_info ("stopped", NULL);
    return rc;
}
