/*  Chaos: the whole stack under the supervision tree, load on search,
    details, discover and sync writes plus one SSE stream, while in turn
    each actor is kill -9'ed, the broker is killed, Redis is stopped
    (SIGSTOP) and killed, and PostgreSQL is stopped and started again.

    Per fault it reports requests, share by status, p99 and how long the
    errors lasted, and it asserts: no request waits past its deadline + 1 s,
    every 503 carries Retry-After; afterwards every acknowledged sync write
    is stored exactly once (one op, one event) and the catalog equals its
    state before the faults. Every fault runs even when an earlier one
    failed; the checks are made at the end.

    Timers come from the environment so that the same binary is the short
    form in CI (the defaults) and the long form by hand (tests/chaos/long.sh):
      MG_CHAOS_DEADLINE_MS the stack's request deadline (MG_REQUEST_TIMEOUT_MS)
      MG_CHAOS_FAULT_MS    how long a stopped Redis or PostgreSQL stays stopped
      MG_CHAOS_OBSERVE_MS  how long the load is watched after the part is back
      MG_CHAOS_THREADS     load threads
      MG_CHAOS_FAULTS      comma-separated fault names to run (default: all)
      MG_CHAOS_REPORT      file the figures are written to, as a Markdown table  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_load.h"
#include "mg_sse.h"
#include "mg_stack.h"
#include "mg_test.h"

#define START_WAIT_MS     120000    //  PostgreSQL, migrations and every actor under ASan
#define HANG_SLACK_MS     1000      //  a request waiting past its deadline by this hangs
#define CLIENT_SLACK_MS   4000      //  the client waits longer still, to see a hang as one
#define BACK_WAIT_MS      30000     //  a part coming back (supervisor, pg_ctl start)
#define SETTLE_MS         1000      //  quiet time between two faults' windows
#define WRITES_MAX        400000    //  sync writes a run may make
#define CONTENT_MAX       32
#define SSE_WAIT_MS       500       //  one read of the stream
#define FINAL_EVENT_MS    15000     //  the last write reaching the stream
#define RETRY_ROUNDS      20        //  re-sending an unacknowledged write
#define RESEND_MS         60000     //  for all of them: a stack that stays broken fails, not hangs

enum { KIND_SEARCH, KIND_DETAILS, KIND_DISCOVER, KIND_WRITE, KINDS };
static const char *const s_kind_names [KINDS] = { "search", "details", "discover", "sync write" };

typedef enum { FAULT_KILL, FAULT_STOP, FAULT_PG } fault_how_t;

typedef struct {
    const char *name;
    fault_how_t how;
    const char *service;            //  the victim's Procfile name
    bool listens;                   //  back once its port accepts (broker, Redis)
} fault_t;

//  One search replica of two: the other serves on.
static const fault_t s_faults [] = {
    { "catalog",    FAULT_KILL, "catalog",   false },
    { "search",     FAULT_KILL, "search1",   false },
    { "sync",       FAULT_KILL, "sync",      false },
    { "accounts",   FAULT_KILL, "accounts",  false },
    { "ratelimit",  FAULT_KILL, "ratelimit", false },
    { "resolver",   FAULT_KILL, "resolver",  false },
    { "indexer",    FAULT_KILL, "indexer",   false },
    { "fetcher",    FAULT_KILL, "fetcher",   false },
    { "embedder",   FAULT_KILL, "embedder",  false },
    { "broker",     FAULT_KILL, "broker",    true },
    { "redis-stop", FAULT_STOP, "redis",     true },
    { "redis-kill", FAULT_KILL, "redis",     true },
    { "postgres",   FAULT_PG,   NULL,        false },
};
#define FAULTS (sizeof s_faults / sizeof s_faults [0])

static const char *const s_names [] = {
    "redis", "broker", "indexer", "resolver", "catalog", "search1", "search2", "accounts",
    "ratelimit", "sync", "alerts", "gateway", "fetcher", "embedder"
};

typedef struct {
    int64_t start, back, end;       //  ms: fault made, part back, window end
    bool ran;
    char problem [160];             //  why it could not be made, "" when it was
} fault_run_t;

typedef struct {
    mg_stack_t stack;
    int fault_ms, observe_ms, threads;
    int deadline_ms, hang_ms, client_wait_ms;
    const char *only;
    char token [1024];
    char auth [1100];               //  "Authorization: Bearer …\r\n"
    char device [64];
    char content [CONTENT_MAX][64];
    int ncontent;
    char catalog_before [64];
    //  Sync writes: op "w<n>" for n < nwrites; acked once a 200 came.
    atomic_uint nwrites;
    atomic_bool *acked;
    //  The SSE stream: events seen per write, reconnections.
    pthread_t sse_thread;
    bool sse_started;
    atomic_bool sse_stop;
    atomic_uint sse_events, sse_opens;
    atomic_uchar *seen;
    fault_run_t runs [FAULTS];
} chaos_t;

//  Integer setting from the environment, else fallback.
static int
s_setting (const char *name, int fallback)
{
    const char *text = getenv (name);
    return text && *text ? atoi (text) : fallback;
}

//  --------------------------------------------------------------------------
//  Talking to the stack

//  One request with the account's token; status (0: none), the reply in
//  *reply when not NULL (free it).
static int
s_call (chaos_t *self, const char *method, const char *path, const char *body, mg_http_reply_t *reply)
{
    mg_http_reply_t local;
    mg_http_reply_t *out = reply ? reply : &local;
    int rc = mg_http_request (self->stack.http_port, method, path, self->auth, body, out, self->client_wait_ms);
    int status = rc == 0 ? out->status : 0;
    if (!reply)
        mg_http_reply_free (&local);
    return status;
}

//  md5 over every catalog table's rows, into digest; 0 or -1.
static int
s_catalog_digest (chaos_t *self, char *digest, size_t size)
{
    PGconn *conn = PQconnectdb (self->stack.pg_url);
    if (PQstatus (conn) != CONNECTION_OK) {
        fprintf (stderr, "catalog digest: %s", PQerrorMessage (conn));
        PQfinish (conn);
        return -1;
    }
    static const char sql [] =
        "SELECT md5 (concat ("
        " (SELECT string_agg (t::text, '|' ORDER BY t::text) FROM content t),"
        " (SELECT string_agg (t::text, '|' ORDER BY t::text) FROM content_genres t),"
        " (SELECT string_agg (t::text, '|' ORDER BY t::text) FROM genres t),"
        " (SELECT string_agg (t::text, '|' ORDER BY t::text) FROM external_ids t),"
        " (SELECT string_agg (t::text, '|' ORDER BY t::text) FROM content_titles t),"
        " (SELECT string_agg (t::text, '|' ORDER BY t::text) FROM availability t)))";
    PGresult *res = PQexec (conn, sql);
    int rc = -1;
    if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1) {
        snprintf (digest, size, "%s", PQgetvalue (res, 0, 0));
        rc = 0;
    }
    else
        fprintf (stderr, "catalog digest: %s", PQerrorMessage (conn));
    PQclear (res);
    PQfinish (conn);
    return rc;
}

//  Register and sign in an account, register a device, collect content ids.
static int
s_prepare_account (chaos_t *self)
{
    char body [256];
    snprintf (body, sizeof body, "{\"email\":\"chaos-%d@example.com\",\"password\":\"correct horse battery\"}",
              (int) getpid ());
    self->auth [0] = '\0';
    if (s_call (self, "POST", "/api/v1/auth/register", body, NULL) != 201)
        return -1;
    mg_http_reply_t reply;
    if (s_call (self, "POST", "/api/v1/auth/login", body, &reply) != 200) {
        mg_http_reply_free (&reply);
        return -1;
    }
    json_t *json = json_loads (reply.body, 0, NULL);
    mg_http_reply_free (&reply);
    const char *token = json_string_value (json_object_get (json, "access_token"));
    if (token)
        snprintf (self->token, sizeof self->token, "%s", token);
    json_decref (json);
    if (!token)
        return -1;
    snprintf (self->auth, sizeof self->auth, "Authorization: Bearer %s\r\n", self->token);
    if (s_call (self, "POST", "/api/v1/me/devices", "{\"name\":\"chaos\"}", &reply) != 201) {
        mg_http_reply_free (&reply);
        return -1;
    }
    json = json_loads (reply.body, 0, NULL);
    mg_http_reply_free (&reply);
    const char *device = json_string_value (json_object_get (json, "id"));
    if (device)
        snprintf (self->device, sizeof self->device, "%s", device);
    json_decref (json);
    if (!device)
        return -1;
    if (s_call (self, "GET", "/api/v1/discover?per_page=20", NULL, &reply) != 200) {
        mg_http_reply_free (&reply);
        return -1;
    }
    json = json_loads (reply.body, 0, NULL);
    mg_http_reply_free (&reply);
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (json, "results"), i, item) {
        const char *id = json_string_value (json_object_get (item, "id"));
        if (id && self->ncontent < CONTENT_MAX)
            snprintf (self->content [self->ncontent++], sizeof self->content [0], "%s", id);
    }
    json_decref (json);
    return self->ncontent > 0 ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  The load

static const char *const s_words [] = { "star", "matrix", "amelie", "war", "the", "night" };
#define WORDS (sizeof s_words / sizeof s_words [0])

//  The body of sync write n: one progress.set op named w<n> (last writer
//  wins: the state stays one entry per title however many writes come).
static void
s_write_body (chaos_t *self, unsigned n, char *body, size_t size)
{
    snprintf (body, size, "{\"ops\":[{\"op_id\":\"w%u\",\"type\":\"progress.set\",\"content_id\":\"%s\","
                          "\"position_s\":%u,\"duration_s\":%u}]}",
              n, self->content [n % (unsigned) self->ncontent], n % 7000, 7200u);
}

static int
s_next (void *arg, int thread, uint64_t n, mg_load_request_t *request)
{
    chaos_t *self = arg;
    request->kind = (int) ((n + (uint64_t) thread) % KINDS);
    const char *content = self->content [(n / KINDS) % (uint64_t) self->ncontent];
    snprintf (request->method, sizeof request->method, "GET");
    snprintf (request->headers, sizeof request->headers, "%s", self->auth);
    switch (request->kind) {
        case KIND_SEARCH:
            //  Every other search is new to the cache: both paths get load.
            if (n % 2)
                snprintf (request->path, sizeof request->path,
                          "/api/v1/search?q=%s&mode=keyword&per_page=5", s_words [n % WORDS]);
            else
                snprintf (request->path, sizeof request->path,
                          "/api/v1/search?q=%s%%20t%d-%llu&mode=keyword&per_page=5", s_words [n % WORDS],
                          thread, (unsigned long long) n);
            break;
        case KIND_DETAILS:
            snprintf (request->path, sizeof request->path, "/api/v1/content/%s", content);
            break;
        case KIND_DISCOVER:
            snprintf (request->path, sizeof request->path, "/api/v1/discover?sort=rating&per_page=%d",
                      (int) (n % 10) + 1);
            break;
        default: {
            unsigned write = atomic_fetch_add (&self->nwrites, 1);
            if (write >= WRITES_MAX)
                return -1;
            snprintf (request->method, sizeof request->method, "POST");
            snprintf (request->path, sizeof request->path, "/api/v1/sync/ops");
            s_write_body (self, write, request->body, sizeof request->body);
            snprintf (request->tag, sizeof request->tag, "%u", write);
        }
    }
    return 0;
}

static void
s_done (void *arg, int thread, const mg_load_request_t *request, const mg_http_reply_t *reply)
{
    (void) thread;
    chaos_t *self = arg;
    if (request->kind == KIND_WRITE && reply && reply->status == 200)
        atomic_store (&self->acked [atoi (request->tag)], true);
}

//  The stream of the account's device: read events, note each write's,
//  reconnect with Last-Event-ID whenever it ends.
static void *
s_sse_main (void *arg)
{
    chaos_t *self = arg;
    char last_id [32] = "";
    while (!atomic_load (&self->sse_stop)) {
        char headers [1400];
        snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\n%s%s%s", self->auth, self->device,
                  last_id [0] ? "Last-Event-ID: " : "", last_id, last_id [0] ? "\r\n" : "");
        mg_http_reply_t reply;
        mg_sse_t *sse = mg_sse_open (self->stack.http_port, "/api/v1/sync/stream", headers, &reply,
                                     self->client_wait_ms);
        if (!sse) {
            mg_http_reply_free (&reply);
            usleep (200 * 1000);
            continue;
        }
        atomic_fetch_add (&self->sse_opens, 1);
        while (!atomic_load (&self->sse_stop)) {
            mg_sse_event_t event;
            int rc = mg_sse_next (sse, &event, SSE_WAIT_MS);
            if (rc == 1)
                break;
            if (rc < 0)
                continue;
            if (event.id [0])
                snprintf (last_id, sizeof last_id, "%s", event.id);
            json_t *data = json_loads (event.data ? event.data : "", 0, NULL);
            const char *op = json_string_value (json_object_get (data, "op_id"));
            if (op && op [0] == 'w') {
                unsigned n = (unsigned) strtoul (op + 1, NULL, 10);
                if (n < WRITES_MAX)
                    atomic_fetch_add (&self->seen [n], 1);
            }
            json_decref (data);
            mg_sse_event_free (&event);
            atomic_fetch_add (&self->sse_events, 1);
        }
        mg_sse_close (&sse);
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Faults

//  Wait for service to run a process other than old and, when port is
//  not 0, for port to accept. The time it was back, -1 when it did not come.
static int64_t
s_wait_back (chaos_t *self, const char *service, pid_t old, int port)
{
    int64_t until = mg_test_now_ms () + BACK_WAIT_MS;
    while (mg_test_now_ms () < until) {
        pid_t now = mg_stack_service_pid (&self->stack, service);
        if (now > 0 && now != old && (port == 0 || mg_stack_listening (port)))
            return mg_test_now_ms ();
        usleep (10 * 1000);
    }
    return -1;
}

//  Make fault, wait for the part to be back; fill run.
static void
s_make_fault (chaos_t *self, const fault_t *fault, fault_run_t *run)
{
    int port = 0;
    if (fault->listens && strcmp (fault->service, "broker") == 0
    &&  sscanf (self->stack.env.endpoint, "tcp://127.0.0.1:%d", &port) != 1)
        port = 0;
    if (fault->listens && strcmp (fault->service, "redis") == 0)
        port = self->stack.redis_port;
    run->ran = true;
    run->start = mg_test_now_ms ();
    if (fault->how == FAULT_PG) {
        if (mg_stack_shell (&self->stack, "mg_pg_stop '%s'", self->stack.dir))
            snprintf (run->problem, sizeof run->problem, "pg_ctl stop failed");
        usleep ((useconds_t) self->fault_ms * 1000);
        if (mg_stack_shell (&self->stack, "mg_pg_start '%s' %d", self->stack.dir, self->stack.pg_port))
            snprintf (run->problem, sizeof run->problem, "PostgreSQL did not start again");
        run->back = mg_test_now_ms ();
        return;
    }
    pid_t victim = mg_stack_service_pid (&self->stack, fault->service);
    if (victim < 0) {
        snprintf (run->problem, sizeof run->problem, "%s is not running", fault->service);
        run->back = run->start;
        return;
    }
    if (fault->how == FAULT_STOP) {
        mg_test_signal (victim, SIGSTOP);
        usleep ((useconds_t) self->fault_ms * 1000);
        mg_test_signal (victim, SIGCONT);
        run->back = mg_test_now_ms ();
        return;
    }
    if (mg_test_signal (victim, SIGKILL))
        snprintf (run->problem, sizeof run->problem, "kill failed");
    run->back = s_wait_back (self, fault->service, victim, port);
    if (run->back < 0) {
        snprintf (run->problem, sizeof run->problem, "%s did not come back within %d ms",
                  fault->service, BACK_WAIT_MS);
        run->back = mg_test_now_ms ();
    }
}

//  True when fault is among MG_CHAOS_FAULTS (or that is unset).
static bool
s_selected (chaos_t *self, const char *name)
{
    if (!self->only || !*self->only)
        return true;
    size_t len = strlen (name);
    for (const char *at = self->only; (at = strstr (at, name)); at += len) {
        bool starts = at == self->only || at [-1] == ',';
        bool ends = at [len] == '\0' || at [len] == ',';
        if (starts && ends)
            return true;
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Setup

static int
group_setup (void **state)
{
    chaos_t *self = calloc (1, sizeof *self);
    *state = self;
    if (!self)
        return -1;
    //  Short form: a stop longer than deadline + 1 s, so a request that
    //  waits on the stopped part instead of its deadline shows as hung.
    self->deadline_ms = s_setting ("MG_CHAOS_DEADLINE_MS", 2000);
    self->hang_ms = self->deadline_ms + HANG_SLACK_MS;
    self->client_wait_ms = self->hang_ms + CLIENT_SLACK_MS;
    self->fault_ms = s_setting ("MG_CHAOS_FAULT_MS", 4000);
    self->observe_ms = s_setting ("MG_CHAOS_OBSERVE_MS", 3000);
    self->threads = s_setting ("MG_CHAOS_THREADS", 4);
    self->only = getenv ("MG_CHAOS_FAULTS");
    self->acked = calloc (WRITES_MAX, sizeof *self->acked);
    self->seen = calloc (WRITES_MAX, sizeof *self->seen);
    if (!self->acked || !self->seen)
        return -1;
    mg_stack_t *stack = &self->stack;
    if (mg_stack_init (stack, "chaos"))
        return -1;
    mg_test_env_add (&stack->env, "MG_REQUEST_TIMEOUT_MS=%d", self->deadline_ms);
    //  Every write's event stays replayable for the whole run.
    mg_test_env_add (&stack->env, "MG_SYNC_EVENTS_KEEP=%d", WRITES_MAX);
    if (mg_stack_start (stack, s_names, sizeof s_names / sizeof s_names [0]))
        return -1;
    if (mg_stack_wait_ready (stack, START_WAIT_MS))
        return -1;
    char command [1024];
    snprintf (command, sizeof command, "MG_BROKER=%s %s/mg-import --wait %s/tests/fixtures/import/catalog.jsonl >&2",
              stack->env.endpoint, MG_BIN_DIR, MG_SOURCE_DIR);
    if (system (command) != 0) {
        fprintf (stderr, "the catalog did not load\n");
        return -1;
    }
    if (s_prepare_account (self)) {
        fprintf (stderr, "could not prepare the account and its content ids\n");
        return -1;
    }
    if (s_catalog_digest (self, self->catalog_before, sizeof self->catalog_before))
        return -1;
    atomic_init (&self->sse_stop, false);
    self->sse_started = pthread_create (&self->sse_thread, NULL, s_sse_main, self) == 0;
    return self->sse_started ? 0 : -1;
}

static int
group_teardown (void **state)
{
    chaos_t *self = *state;
    if (!self)
        return 0;
    if (self->sse_started) {
        atomic_store (&self->sse_stop, true);
        pthread_join (self->sse_thread, NULL);
    }
    mg_stack_stop (&self->stack);
    free (self->acked);
    free (self->seen);
    free (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  The run

//  Print (and append to MG_CHAOS_REPORT) one fault's figures; returns the
//  number of broken promises in its window.
static int
s_report_fault (chaos_t *self, mg_load_t *load, const fault_t *fault, const fault_run_t *run, FILE *report)
{
    mg_load_stats_t stats;
    mg_load_window (load, run->start, run->end, -1, self->hang_ms, &stats);
    char statuses [256];
    mg_load_statuses_text (&stats, statuses, sizeof statuses);
    double error_s = stats.last_error_ms < 0 ? 0 : (double) (stats.last_error_ms - run->start) / 1000.0;
    double after_s = stats.last_error_ms < 0 || stats.last_error_ms < run->back
                   ? 0 : (double) (stats.last_error_ms - run->back) / 1000.0;
    char line [768];
    snprintf (line, sizeof line, "| %s | %.1f | %zu | %s | %lld | %.1f | %.1f | %zu | %zu |%s%s",
              fault->name, (double) (run->back - run->start) / 1000.0, stats.requests, statuses,
              (long long) stats.p99_ms, error_s, after_s, stats.hung, stats.unavailable_bare,
              run->problem [0] ? " " : "", run->problem);
    fprintf (stderr, "%s\n", line);
    if (report)
        fprintf (report, "%s\n", line);
    //  Which kinds of request the errors fell on: where to look first.
    for (int kind = 0; kind < KINDS; kind++) {
        mg_load_stats_t of_kind;
        mg_load_window (load, run->start, run->end, kind, self->hang_ms, &of_kind);
        if (of_kind.ok == of_kind.requests)
            continue;
        mg_load_statuses_text (&of_kind, statuses, sizeof statuses);
        fprintf (stderr, "    %s: %zu requests (%s), p99 %lld ms, %zu hung\n", s_kind_names [kind],
                 of_kind.requests, statuses, (long long) of_kind.p99_ms, of_kind.hung);
    }
    return (int) (stats.hung + stats.unavailable_bare);
}

//  Re-send every unacknowledged write until it is acknowledged (a client
//  that lost the answer sends the same op again); how many never were.
static int
s_resend_unacked (chaos_t *self, unsigned nwrites)
{
    int left = 0;
    int64_t until = mg_test_now_ms () + RESEND_MS;
    for (unsigned n = 0; n < nwrites; n++) {
        if (atomic_load (&self->acked [n]))
            continue;
        char body [256];
        s_write_body (self, n, body, sizeof body);
        bool done = false;
        for (int round = 0; round < RETRY_ROUNDS && !done && mg_test_now_ms () < until; round++) {
            done = s_call (self, "POST", "/api/v1/sync/ops", body, NULL) == 200;
            if (!done)
                usleep (250 * 1000);
        }
        if (done)
            atomic_store (&self->acked [n], true);
        else
            left++;
    }
    return left;
}

//  Every write w0 .. w<nwrites-1> stored once: one op row, one event.
//  Returns how many are not, -1 when it could not look.
static int
s_check_writes (chaos_t *self, unsigned nwrites)
{
    PGconn *conn = PQconnectdb (self->stack.pg_url);
    if (PQstatus (conn) != CONNECTION_OK) {
        fprintf (stderr, "writes: %s", PQerrorMessage (conn));
        PQfinish (conn);
        return -1;
    }
    unsigned char *ops = calloc (nwrites ? nwrites : 1, 1);
    unsigned char *events = calloc (nwrites ? nwrites : 1, 1);
    PGresult *a = PQexec (conn, "SELECT substr (op_id, 2)::int, count(*) FROM sync_ops"
                                " WHERE op_id ~ '^w[0-9]+$' GROUP BY 1");
    PGresult *b = PQexec (conn, "SELECT substr (data->>'op_id', 2)::int, count(*) FROM sync_events"
                                " WHERE data->>'op_id' ~ '^w[0-9]+$' GROUP BY 1");
    int bad = -1;
    if (ops && events && PQresultStatus (a) == PGRES_TUPLES_OK && PQresultStatus (b) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples (a); i++) {
            unsigned n = (unsigned) atoi (PQgetvalue (a, i, 0));
            if (n < nwrites)
                ops [n] = (unsigned char) atoi (PQgetvalue (a, i, 1));
        }
        for (int i = 0; i < PQntuples (b); i++) {
            unsigned n = (unsigned) atoi (PQgetvalue (b, i, 0));
            if (n < nwrites)
                events [n] = (unsigned char) atoi (PQgetvalue (b, i, 1));
        }
        bad = 0;
        for (unsigned n = 0; n < nwrites; n++)
            if (atomic_load (&self->acked [n]) && (ops [n] != 1 || events [n] != 1)) {
                if (bad < 5)
                    fprintf (stderr, "write w%u: %d op rows, %d events\n", n, ops [n], events [n]);
                bad++;
            }
    }
    else
        fprintf (stderr, "writes: %s", PQerrorMessage (conn));
    PQclear (a);
    PQclear (b);
    free (ops);
    free (events);
    PQfinish (conn);
    return bad;
}

static void
test_every_fault_keeps_the_promises (void **state)
{
    chaos_t *self = *state;
    const char *report_path = getenv ("MG_CHAOS_REPORT");
    FILE *report = report_path && *report_path ? fopen (report_path, "w") : NULL;
    const char *head =
        "| fault | back after s | requests | statuses | p99 ms | errors for s | errors after back s | hung | 503 without Retry-After |\n"
        "|---|---|---|---|---|---|---|---|---|";
    int64_t load_start = mg_test_now_ms ();
    mg_load_t *load = mg_load_start (self->stack.http_port, self->threads, self->client_wait_ms, s_next, s_done, self);
    assert_non_null (load);
    usleep (SETTLE_MS * 1000);
    int64_t baseline_end = mg_test_now_ms ();
    for (size_t i = 0; i < FAULTS; i++) {
        if (!s_selected (self, s_faults [i].name))
            continue;
        fprintf (stderr, "fault: %s\n", s_faults [i].name);
        s_make_fault (self, &s_faults [i], &self->runs [i]);
        usleep ((useconds_t) self->observe_ms * 1000);
        self->runs [i].end = mg_test_now_ms ();
        usleep (SETTLE_MS * 1000);
    }
    int64_t end = mg_test_now_ms ();
    mg_load_stop (load);

    fprintf (stderr, "%s\n", head);
    if (report)
        fprintf (report, "%s\n", head);
    fault_run_t baseline = { .start = load_start, .back = load_start, .end = baseline_end };
    const fault_t none = { "none (baseline)", FAULT_KILL, NULL, false };
    int broken = s_report_fault (self, load, &none, &baseline, report);
    for (size_t i = 0; i < FAULTS; i++)
        if (self->runs [i].ran)
            broken += s_report_fault (self, load, &s_faults [i], &self->runs [i], report);
    mg_load_stats_t all;
    mg_load_window (load, 0, end, -1, self->hang_ms, &all);
    mg_load_destroy (&load);
    if (report)
        fclose (report);

    unsigned nwrites = atomic_load (&self->nwrites);
    if (nwrites > WRITES_MAX)
        nwrites = WRITES_MAX;
    unsigned acked = 0;
    for (unsigned n = 0; n < nwrites; n++)
        acked += atomic_load (&self->acked [n]);
    int bad_acked = s_check_writes (self, nwrites);
    int never = s_resend_unacked (self, nwrites);
    int bad_all = s_check_writes (self, nwrites);

    //  A last write reaches the stream: it is alive after all of it.
    char body [256];
    s_write_body (self, nwrites, body, sizeof body);
    bool streamed = false;
    if (nwrites < WRITES_MAX && s_call (self, "POST", "/api/v1/sync/ops", body, NULL) == 200) {
        int64_t until = mg_test_now_ms () + FINAL_EVENT_MS;
        while (!streamed && mg_test_now_ms () < until) {
            streamed = atomic_load (&self->seen [nwrites]) > 0;
            usleep (50 * 1000);
        }
    }
    unsigned missed = 0;
    for (unsigned n = 0; n < nwrites; n++)
        missed += atomic_load (&self->acked [n]) && atomic_load (&self->seen [n]) == 0;
    char catalog_after [64] = "";
    int digest_rc = s_catalog_digest (self, catalog_after, sizeof catalog_after);

    fprintf (stderr, "load: %zu requests, %zu hung, %zu 503 without Retry-After, %zu other errors\n",
             all.requests, all.hung, all.unavailable_bare, all.other);
    fprintf (stderr, "sync writes: %u sent, %u acknowledged, %d acknowledged not stored once,"
                     " %d never acknowledged after resending, %d not stored once after resending\n",
             nwrites, acked, bad_acked, never, bad_all);
    fprintf (stderr, "stream: %u events over %u connections, %u acknowledged writes not streamed,"
                     " last write %s\n", atomic_load (&self->sse_events), atomic_load (&self->sse_opens),
             missed, streamed ? "streamed" : "NOT streamed");
    fprintf (stderr, "catalog: %s before, %s after\n", self->catalog_before, catalog_after);

    assert_true (all.requests > 0);
    assert_true (acked > 0);
    assert_int_equal (broken, 0);
    assert_int_equal (all.hung, 0);
    assert_int_equal (all.unavailable_bare, 0);
    assert_int_equal (bad_acked, 0);
    assert_int_equal (bad_all, 0);
    assert_true (streamed);
    assert_int_equal (digest_rc, 0);
    assert_string_equal (catalog_after, self->catalog_before);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_every_fault_keeps_the_promises),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
