/*  Availability alerts end to end: titles enter the catalog and change
    their offers through the real pipeline (mg-import -> mg-resolver ->
    mg-indexer, which publishes availability.changed), users keep their
    watchlist and preferences through mg-sync, and mg-alerts records the
    notifications, pushes them on GET /api/v1/sync/stream and calls the
    users' webhooks: a receiver in this test that checks each call's
    Standard Webhooks signature and can fail, or hold a call, on purpose.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_jwt.h"
#include "mg_sse.h"
#include "mg_test.h"

#define TIMEOUT_MS     5000
#define START_WAIT_MS  60000
#define DELIVER_WAIT_MS 20000       //  a notification reaches a webhook (retries and a restart included)
#define SECRET         "e2e-secret-0123456789abcdef0123456789"
#define CALLS_MAX      64
#define HELD_MAX       8
#define REQUEST_MAX    65536
#define SWEEP_MS       300          //  the leaving-soon sweep's interval here
#define ENTERS_S       12           //  a leaving test offer enters the 7-day window this long after the import
#define IDLE_WINDOW_MS 3000         //  how long an idle actor set is watched
#define IDLE_COMMITS_MAX 150        //  commits allowed in it (50/s): a delivery loop that never waits commits 300/s and more
#define CROWD          50           //  watchers with open streams of one change: its events span shares and both gateway threads
#define TOKEN_TTL_S    600          //  a token signed here outlives the test

typedef struct {
    char path [64];
    char id [128], timestamp [32], signature [256];
    char *body;
    int status;                     //  what the receiver answered (0: held, never answered)
} s_call_t;

typedef struct {
    int fd, port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    s_call_t calls [CALLS_MAX];
    int count;
    int held [HELD_MAX];
    int nheld;
    bool hold;                      //  /hold keeps its calls unanswered while true
    bool down_fixed;                //  /down answers 200 once true
    int flaky_failures;             //  /flaky answers 500 this many times
} s_receiver_t;

typedef struct {
    mg_test_env_t env;
    PGconn *admin, *pg;
    char url [512];
    int http_port;
    pid_t broker, indexer, resolver, catalog, accounts, ratelimit, search, sync, alerts, gateway;
    char run [24];
    s_receiver_t receiver;
} fixture_t;

static fixture_t *s_f;

typedef struct {
    char auth [1100];
    char device [37];
    char id [37];
    char services [256];            //  JSON array of platform slugs
} user_t;

//  --------------------------------------------------------------------------
//  The webhook receiver

//  Value of header name in the request head (lines), into out.
static void
s_header (const char *head, const char *name, char *out, size_t size)
{
    out [0] = '\0';
    size_t len = strlen (name);
    for (const char *line = strstr (head, "\r\n"); line; line = strstr (line + 2, "\r\n"))
        if (strncasecmp (line + 2, name, len) == 0 && line [2 + len] == ':') {
            const char *value = line + 3 + len;
            while (*value == ' ')
                value++;
            size_t n = strcspn (value, "\r\n");
            snprintf (out, size, "%.*s", (int) (n < size ? n : size - 1), value);
            return;
        }
}

//  Read one request from fd, record it, answer by its path's mode.
static void
s_serve (s_receiver_t *self, int fd)
{
    struct timeval wait = { 5, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    char *buf = malloc (REQUEST_MAX + 1);
    size_t used = 0;
    char *end = NULL;
    long length = -1;
    while (used < REQUEST_MAX) {
        ssize_t n = read (fd, buf + used, REQUEST_MAX - used);
        if (n <= 0)
            break;
        used += (size_t) n;
        buf [used] = '\0';
        if (!end && (end = strstr (buf, "\r\n\r\n"))) {
            char value [32];
            *end = '\0';
            s_header (buf, "Content-Length", value, sizeof value);
            *end = '\r';
            length = value [0] ? atol (value) : 0;
        }
        if (end && (long) (used - (size_t) (end + 4 - buf)) >= length)
            break;
    }
    if (!end) {
        free (buf);
        close (fd);
        return;
    }
    *end = '\0';
    pthread_mutex_lock (&self->lock);
    s_call_t *call = self->count < CALLS_MAX ? &self->calls [self->count++] : NULL;
    int status = 200;
    bool hold = false;
    if (call) {
        sscanf (buf, "POST %63s", call->path);
        s_header (buf, "webhook-id", call->id, sizeof call->id);
        s_header (buf, "webhook-timestamp", call->timestamp, sizeof call->timestamp);
        s_header (buf, "webhook-signature", call->signature, sizeof call->signature);
        call->body = strdup (end + 4);
        if (strncmp (call->path, "/flaky", 6) == 0 && self->flaky_failures > 0) {
            self->flaky_failures--;
            status = 500;
        }
        else
        if (strncmp (call->path, "/down", 5) == 0 && !self->down_fixed)
            status = 503;
        else
        if (strncmp (call->path, "/hold", 5) == 0 && self->hold && self->nheld < HELD_MAX) {
            hold = true;
            self->held [self->nheld++] = fd;
        }
        call->status = hold ? 0 : status;
    }
    pthread_mutex_unlock (&self->lock);
    free (buf);
    if (hold)
        return;
    char reply [128];
    int n = snprintf (reply, sizeof reply, "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
    if (write (fd, reply, (size_t) n) < 0)
        perror ("receiver write");
    close (fd);
}

static void *
s_receiver_run (void *arg)
{
    s_receiver_t *self = arg;
    while (!atomic_load (&self->stop)) {
        struct pollfd item = { self->fd, POLLIN, 0 };
        if (poll (&item, 1, 100) <= 0)
            continue;
        int fd = accept (self->fd, NULL, NULL);
        if (fd >= 0)
            s_serve (self, fd);
    }
    return NULL;
}

static int
s_receiver_start (s_receiver_t *self)
{
    pthread_mutex_init (&self->lock, NULL);
    self->fd = socket (AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt (self->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    if (bind (self->fd, (struct sockaddr *) &addr, sizeof addr) || listen (self->fd, 64)
    ||  getsockname (self->fd, (struct sockaddr *) &addr, &len))
        return -1;
    self->port = ntohs (addr.sin_port);
    return pthread_create (&self->thread, NULL, s_receiver_run, self);
}

static void
s_receiver_stop (s_receiver_t *self)
{
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    close (self->fd);
    for (int i = 0; i < self->nheld; i++)
        close (self->held [i]);
    for (int i = 0; i < self->count; i++)
        free (self->calls [i].body);
    pthread_mutex_destroy (&self->lock);
}

//  Calls recorded on path: how many, and how many answered 2xx.
static int
s_calls (const char *path, int *answered)
{
    s_receiver_t *self = &s_f->receiver;
    int n = 0, ok = 0;
    pthread_mutex_lock (&self->lock);
    for (int i = 0; i < self->count; i++)
        if (strcmp (self->calls [i].path, path) == 0) {
            n++;
            ok += self->calls [i].status >= 200 && self->calls [i].status < 300;
        }
    pthread_mutex_unlock (&self->lock);
    if (answered)
        *answered = ok;
    return n;
}

//  Wait until path has at least count calls; returns the number seen.
static int
s_wait_calls (const char *path, int count, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    int n;
    while ((n = s_calls (path, NULL)) < count && mg_test_now_ms () < until)
        usleep (50 * 1000);
    return n;
}

//  Check the Standard Webhooks signature of every call on path with secret
//  (whsec_...), independently of the server's code; the body of the last.
static json_t *
s_verify (const char *path, const char *secret)
{
    s_receiver_t *self = &s_f->receiver;
    unsigned char key [64];
    size_t keylen = 0;
    const char *encoded = secret + 6;
    assert_int_equal (sodium_base642bin (key, sizeof key, encoded, strlen (encoded), NULL, &keylen, NULL,
                                         sodium_base64_VARIANT_ORIGINAL), 0);
    json_t *last = NULL;
    pthread_mutex_lock (&self->lock);
    for (int i = 0; i < self->count; i++) {
        s_call_t *call = &self->calls [i];
        if (strcmp (call->path, path) != 0)
            continue;
        char *signed_text = NULL;
        assert_true (asprintf (&signed_text, "%s.%s.%s", call->id, call->timestamp, call->body) > 0);
        unsigned char mac [crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state state;
        crypto_auth_hmacsha256_init (&state, key, keylen);
        crypto_auth_hmacsha256_update (&state, (unsigned char *) signed_text, strlen (signed_text));
        crypto_auth_hmacsha256_final (&state, mac);
        free (signed_text);
        char expected [128] = "v1,";
        sodium_bin2base64 (expected + 3, sizeof expected - 3, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
        if (strcmp (expected, call->signature) != 0)
            fail_msg ("call %d on %s: signature %s, expected %s", i, path, call->signature, expected);
        long age = labs ((long) time (NULL) - atol (call->timestamp));
        assert_true (age < 300);
        json_decref (last);
        json_error_t error;
        last = json_loads (call->body, 0, &error);
        assert_non_null (last);
    }
    pthread_mutex_unlock (&self->lock);
    return last;
}

//  --------------------------------------------------------------------------
//  The API

static int
s_call (const char *method, const char *path, const char *headers, const char *body, mg_http_reply_t *reply)
{
    return mg_http_request (s_f->http_port, method, path, headers, body, reply, TIMEOUT_MS);
}

static json_t *
s_json (const char *text)
{
    json_error_t error;
    json_t *json = json_loads (text ? text : "", 0, &error);
    if (!json)
        fail_msg ("not JSON: %s", text ? text : "(none)");
    return json;
}

//  Call as user; expects status; the JSON body (NULL when none; caller decrefs).
static json_t *
s_as (const user_t *user, const char *method, const char *path, const char *body, int status)
{
    char headers [1400];
    snprintf (headers, sizeof headers, "%s%s", user->auth, body ? "Content-Type: application/json\r\n" : "");
    mg_http_reply_t reply;
    assert_int_equal (s_call (method, path, headers, body, &reply), 0);
    if (reply.status != status)
        fail_msg ("%s %s: expected %d, got %d: %s", method, path, status, reply.status, reply.body);
    json_t *json = reply.body && reply.body [0] ? s_json (reply.body) : NULL;
    mg_http_reply_free (&reply);
    return json;
}

//  Asserts an error reply with status and code.
static void
s_refused (const user_t *user, const char *method, const char *path, const char *body, int status, const char *code)
{
    json_t *json = s_as (user, method, path, body, status);
    json_t *error = json_object_get (json, "error");
    assert_string_equal (json_string_value (json_object_get (error, "code")), code);
    assert_true (json_is_string (json_object_get (error, "message")));
    json_decref (json);
}

//  A new user with a device, services and region.
static void
s_user (const char *name, const char *services, const char *region, user_t *user)
{
    char body [512];
    snprintf (body, sizeof body, "{\"email\":\"%s-%s@example.com\",\"password\":\"correct horse battery\"}",
              name, s_f->run);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("POST", "/api/v1/auth/register", "", body, &reply), 0);
    assert_int_equal (reply.status, 201);
    json_t *json = s_json (reply.body);
    snprintf (user->id, sizeof user->id, "%s", json_string_value (json_object_get (json_object_get (json, "user"), "id")));
    json_decref (json);
    mg_http_reply_free (&reply);
    assert_int_equal (s_call ("POST", "/api/v1/auth/login", "", body, &reply), 0);
    assert_int_equal (reply.status, 200);
    json = s_json (reply.body);
    snprintf (user->auth, sizeof user->auth, "Authorization: Bearer %s\r\n",
              json_string_value (json_object_get (json, "access_token")));
    json_decref (json);
    mg_http_reply_free (&reply);
    json = s_as (user, "POST", "/api/v1/me/devices", "{\"name\":\"phone\"}", 201);
    snprintf (user->device, sizeof user->device, "%s", json_string_value (json_object_get (json, "id")));
    json_decref (json);
    snprintf (body, sizeof body, "{\"region\":\"%s\"}", region);
    json_decref (s_as (user, "PUT", "/api/v1/me/preferences", body, 200));
    snprintf (user->services, sizeof user->services, "%s", services);
}

//  The user's services preference: PUT /me/preferences {"services"} where
//  sync has the field; else written as sync keeps every preference (a
//  last-writer-wins register under preferences.<field>), which is what the
//  alerts actor reads. Call it after the user's other sync writes.
static void
s_services (const user_t *user)
{
    char body [512];
    snprintf (body, sizeof body, "{\"services\":%s}", user->services);
    char headers [1400];
    snprintf (headers, sizeof headers, "%sContent-Type: application/json\r\n", user->auth);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("PUT", "/api/v1/me/preferences", headers, body, &reply), 0);
    int status = reply.status;
    mg_http_reply_free (&reply);
    if (status == 200)
        return;
    assert_int_equal (status, 400);
    const char *params [] = { user->id, user->services };
    PGresult *res = PQexecParams (s_f->pg,
        "UPDATE sync_state SET state = jsonb_set (state, '{preferences,services}', "
        "  jsonb_build_object ('value', $2::jsonb, 'hlc', 'zzzzzzzzzzzz-00000000-00000000')) "
        "WHERE user_id = $1::uuid AND key = 'state'", 2, NULL, params, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    assert_string_equal (PQcmdTuples (res), "1");
    PQclear (res);
}

//  A webhook of user at the receiver's path; its secret and id.
static void
s_webhook (const user_t *user, const char *path, char *secret, char *id)
{
    char body [256];
    snprintf (body, sizeof body, "{\"url\":\"http://127.0.0.1:%d%s\"}", s_f->receiver.port, path);
    json_t *json = s_as (user, "POST", "/api/v1/me/webhooks", body, 201);
    snprintf (secret, 128, "%s", json_string_value (json_object_get (json, "secret")));
    snprintf (id, 37, "%s", json_string_value (json_object_get (json, "id")));
    assert_true (json_is_true (json_object_get (json, "enabled")));
    json_decref (json);
}

//  user's stream, resumed after the event id since when since >= 0.
static mg_sse_t *
s_stream_from (const user_t *user, long since)
{
    char headers [1400], resume [48] = "";
    if (since >= 0)
        snprintf (resume, sizeof resume, "Last-Event-ID: %ld\r\n", since);
    snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\n%s", user->auth, user->device, resume);
    mg_http_reply_t reply;
    mg_sse_t *stream = mg_sse_open (s_f->http_port, "/api/v1/sync/stream", headers, &reply, TIMEOUT_MS);
    if (!stream)
        fail_msg ("stream: %d %s", reply.status, reply.body ? reply.body : "");
    return stream;
}

static mg_sse_t *
s_stream (const user_t *user)
{
    return s_stream_from (user, -1);
}

//  The next notification event of stream within timeout_ms (NULL: none).
static json_t *
s_notification (mg_sse_t *stream, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    while (mg_test_now_ms () < until) {
        mg_sse_event_t event;
        if (mg_sse_next (stream, &event, (int) (until - mg_test_now_ms ())))
            return NULL;
        bool wanted = strcmp (event.type, "notification") == 0;
        json_t *data = wanted ? s_json (event.data) : NULL;
        mg_sse_event_free (&event);
        if (wanted)
            return data;
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  The catalog

//  Import title tmdb (its offers: a JSON array) through the pipeline.
static void
s_import (int tmdb, const char *offers)
{
    char path [256], command [1024];
    snprintf (path, sizeof path, "/tmp/mg-alerts-%d-%d.jsonl", (int) getpid (), tmdb);
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fprintf (file, "{\"source\":\"tmdb\",\"type\":\"movie\",\"id\":%d,\"title\":\"Alert Test Film %d\","
                   "\"original_title\":\"Alert Test Film %d\",\"original_language\":\"en\",\"release_date\":\"2001-02-03\","
                   "\"popularity\":1.5,\"vote_average\":6.1,\"vote_count\":10,\"genres\":[{\"id\":18,\"name\":\"Drama\"}],"
                   "\"availability\":%s}\n", tmdb, tmdb, tmdb, offers);
    fclose (file);
    snprintf (command, sizeof command, "MG_BROKER=%s %s/mg-import --wait %s >/dev/null", s_f->env.endpoint, MG_BIN_DIR, path);
    int status = system (command);
    unlink (path);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

static long
s_scalar (const char *sql)
{
    PGresult *res = PQexec (s_f->pg, sql);
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        fail_msg ("%s: %s", sql, PQerrorMessage (s_f->pg));
    long v = PQntuples (res) && !PQgetisnull (res, 0, 0) ? atol (PQgetvalue (res, 0, 0)) : -1;
    PQclear (res);
    return v;
}

//  The canonical id of title tmdb into id.
static void
s_content_id (int tmdb, char *id)
{
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT content_id FROM external_ids WHERE source = 'tmdb' AND value = '%d'", tmdb);
    PGresult *res = PQexec (s_f->pg, sql);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (res), 1);
    snprintf (id, 37, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
}

//  Wait until the alerts actor has handled every availability change.
static void
s_wait_handled (void)
{
    int64_t until = mg_test_now_ms () + DELIVER_WAIT_MS;
    while (mg_test_now_ms () < until) {
        if (s_scalar ("SELECT count(*) FROM alerts_cursor c, change_streams s "
                      "WHERE s.stream = 'availability.changed' AND c.last_seq >= s.last_seq") == 1)
            return;
        usleep (50 * 1000);
    }
    fail_msg ("the alerts actor did not catch up with availability.changed");
}

//  A title on user's watchlist (the sync route).
static void
s_watch (const user_t *user, const char *content_id)
{
    char path [128];
    snprintf (path, sizeof path, "/api/v1/me/watchlist/%s", content_id);
    json_decref (s_as (user, "PUT", path, NULL, 200));
}

//  Wait until user's webhook has a delivery in state; that delivery. A 503
//  (the request met an alerts worker being killed) is retried, as a client
//  does.
static json_t *
s_wait_delivery (const user_t *user, const char *webhook, const char *state)
{
    char path [256];
    snprintf (path, sizeof path, "/api/v1/me/webhooks/%s/deliveries?state=%s", webhook, state);
    int64_t until = mg_test_now_ms () + DELIVER_WAIT_MS;
    while (mg_test_now_ms () < until) {
        mg_http_reply_t reply;
        assert_int_equal (s_call ("GET", path, user->auth, NULL, &reply), 0);
        if (reply.status == 503) {
            mg_http_reply_free (&reply);
            usleep (100 * 1000);
            continue;
        }
        if (reply.status != 200)
            fail_msg ("GET %s: %d %s", path, reply.status, reply.body);
        json_t *page = s_json (reply.body);
        mg_http_reply_free (&reply);
        json_t *first = json_array_get (json_object_get (page, "results"), 0);
        if (first) {
            json_incref (first);
            json_decref (page);
            return first;
        }
        json_decref (page);
        usleep (100 * 1000);
    }
    fail_msg ("no %s delivery on webhook %s", state, webhook);
    return NULL;
}

//  A user (name) with Netflix in GB whose watchlist holds title tmdb, in
//  the catalog on no service yet, and a webhook at the receiver's path.
static void
s_watcher (int tmdb, const char *name, const char *path, user_t *user, char *secret, char *hook)
{
    s_import (tmdb, "[]");
    char title [37];
    s_content_id (tmdb, title);
    s_user (name, "[\"netflix\"]", "GB", user);
    s_watch (user, title);
    s_services (user);
    s_webhook (user, path, secret, hook);
}

//  --------------------------------------------------------------------------
//  Fixture

static pid_t
s_spawn_alerts (void)
{
    return mg_test_spawn ("mg-alerts", s_f->env.envp);
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    pid_t *pids [] = { &f->gateway, &f->alerts, &f->sync, &f->search, &f->ratelimit, &f->accounts, &f->catalog,
                       &f->resolver, &f->indexer, &f->broker };
    for (size_t i = 0; i < sizeof pids / sizeof pids [0]; i++)
        if (*pids [i] > 0)
            mg_test_stop (*pids [i], SIGTERM);
    if (f->receiver.thread)
        s_receiver_stop (&f->receiver);
    PQfinish (f->pg);
    if (f->admin)
        mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

static int
group_setup (void **state)
{
    if (!getenv ("MG_PG_URL") || !getenv ("MG_REDIS_URL") || sodium_init () < 0) {
        fprintf (stderr, "MG_PG_URL and MG_REDIS_URL must be set (scripts/test does)\n");
        return -1;
    }
    fixture_t *f = calloc (1, sizeof *f);
    s_f = f;
    *state = f;
    f->admin = mg_test_scratch_db ("mg_alerts", f->url, sizeof f->url);
    if (!f->admin || s_receiver_start (&f->receiver)) {
        group_teardown (state);
        *state = NULL;
        return -1;
    }
    f->http_port = mg_test_free_port ();
    snprintf (f->run, sizeof f->run, "%ld%d", (long) time (NULL), (int) getpid ());
    mg_test_env_init (&f->env, f->url);
    mg_test_env_add (&f->env, "MG_HTTP_PORT=%d", f->http_port);
    mg_test_env_add (&f->env, "MG_JWT_SECRET=%s", SECRET);
    mg_test_env_add (&f->env, "MG_RATE_FREE=%s", "100000/s,1000000/m");
    mg_test_env_add (&f->env, "MG_RATE_ANONYMOUS=%s", "100000/s,1000000/m");
    mg_test_env_add (&f->env, "MG_PWHASH_MEMLIMIT_KIB=%d", 16384);
    //  The receiver is on loopback over http: the test-only switches.
    mg_test_env_add (&f->env, "MG_ALERTS_ALLOW_HTTP=1");
    mg_test_env_add (&f->env, "MG_ALERTS_ALLOW_PRIVATE=1");
    //  Short retries, so that a flaky and a dead receiver end within a test.
    mg_test_env_add (&f->env, "MG_ALERTS_RETRY_BASE_MS=100");
    mg_test_env_add (&f->env, "MG_ALERTS_RETRY_MAX_MS=400");
    mg_test_env_add (&f->env, "MG_ALERTS_RETRY_FOR_S=4");
    mg_test_env_add (&f->env, "MG_ALERTS_DISABLE_AFTER=1");
    mg_test_env_add (&f->env, "MG_ALERTS_DELIVERY_TIMEOUT_MS=1500");
    //  Leaving-soon sweeps often, so that time passing is seen within a test.
    mg_test_env_add (&f->env, "MG_ALERTS_SWEEP_MS=%d", SWEEP_MS);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->indexer = mg_test_spawn ("mg-indexer", f->env.envp);
    //  The indexer migrates the database; the others then find it ready.
    mg_test_wait_service (f->env.endpoint, "indexer", START_WAIT_MS);
    f->resolver = mg_test_spawn ("mg-resolver", f->env.envp);
    f->accounts = mg_test_spawn ("mg-accounts", f->env.envp);
    f->catalog = mg_test_spawn ("mg-catalog", f->env.envp);
    f->ratelimit = mg_test_spawn ("mg-ratelimit", f->env.envp);
    f->search = mg_test_spawn ("mg-search", f->env.envp);
    f->sync = mg_test_spawn ("mg-sync", f->env.envp);
    f->alerts = s_spawn_alerts ();
    f->gateway = mg_test_spawn ("mg-gateway", f->env.envp);
    f->pg = PQconnectdb (f->url);
    if (PQstatus (f->pg) == CONNECTION_OK && mg_test_wait_ready (f->http_port, START_WAIT_MS) == 0)
        return 0;
    fprintf (stderr, "the gateway did not become ready\n");
    group_teardown (state);
    *state = NULL;
    return -1;
}

//  --------------------------------------------------------------------------
//  Tests

//  Transactions committed in the test database so far.
static long
s_commits (void)
{
    return s_scalar ("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database ()");
}

static void
test_with_no_delivery_pending_the_delivery_loop_waits_the_poll_interval (void **state)
{
    (void) state;
    //  Nothing is pending before the first webhook exists: the loop asks
    //  PostgreSQL about twice per MG_ALERTS_POLL_MS (1 s), the other
    //  actors' idle polls a few times a second. A loop that does not wait
    //  (NULL "next due" read as 0) commits hundreds a second.
    assert_int_equal (s_scalar ("SELECT count (*) FROM webhook_deliveries WHERE state = 'pending'"), 0);
    long before = s_commits ();
    usleep (IDLE_WINDOW_MS * 1000);
    long committed = s_commits () - before;
    assert_in_range (committed, 0, IDLE_COMMITS_MAX);
}

static void
test_only_the_user_with_that_service_and_region_is_notified_once_on_the_stream_and_a_signed_webhook (void **state)
{
    (void) state;
    //  The title is in the catalog, on no service in GB yet.
    s_import (990001, "[{\"platform\":\"netflix\",\"region\":\"JP\",\"type\":\"subscription\"}]");
    char title [37];
    s_content_id (990001, title);
    user_t ann, ben;
    s_user ("ann", "[\"netflix\"]", "GB", &ann);
    s_user ("ben", "[\"netflix\",\"hulu\"]", "US", &ben);
    s_watch (&ann, title);
    s_watch (&ben, title);
    s_services (&ann);
    s_services (&ben);
    char ann_secret [128], ann_hook [37], ben_secret [128], ben_hook [37];
    s_webhook (&ann, "/ann", ann_secret, ann_hook);
    s_webhook (&ben, "/ben", ben_secret, ben_hook);
    mg_sse_t *ann_stream = s_stream (&ann);
    mg_sse_t *ben_stream = s_stream (&ben);

    //  It arrives on Netflix in GB: Ann's service and region, not Ben's region.
    s_import (990001, "[{\"platform\":\"netflix\",\"region\":\"JP\",\"type\":\"subscription\"},"
                      "{\"platform\":\"netflix\",\"region\":\"GB\",\"type\":\"subscription\"}]");
    json_t *event = s_notification (ann_stream, DELIVER_WAIT_MS);
    assert_non_null (event);
    assert_string_equal (json_string_value (json_object_get (event, "kind")), "available");
    assert_string_equal (json_string_value (json_object_get (event, "content_id")), title);
    assert_string_equal (json_string_value (json_object_get (event, "platform")), "netflix");
    assert_string_equal (json_string_value (json_object_get (event, "region")), "GB");
    assert_string_equal (json_string_value (json_object_get (event, "title")), "Alert Test Film 990001");
    assert_null (json_object_get (event, "offer_until"));
    assert_int_equal (s_wait_calls ("/ann", 1, DELIVER_WAIT_MS), 1);
    json_t *call = s_verify ("/ann", ann_secret);
    assert_string_equal (json_string_value (json_object_get (call, "type")), "notification.available");
    assert_string_equal (json_string_value (json_object_get (json_object_get (call, "data"), "id")),
                         json_string_value (json_object_get (event, "id")));
    json_decref (call);
    s_wait_handled ();
    assert_null (s_notification (ben_stream, 1000));
    assert_int_equal (s_calls ("/ben", NULL), 0);

    //  Another change of the same title (a new region) tells nobody again.
    s_import (990001, "[{\"platform\":\"netflix\",\"region\":\"JP\",\"type\":\"subscription\"},"
                      "{\"platform\":\"netflix\",\"region\":\"GB\",\"type\":\"subscription\"},"
                      "{\"platform\":\"hulu\",\"region\":\"JP\",\"type\":\"subscription\"}]");
    s_wait_handled ();
    assert_null (s_notification (ann_stream, 1000));
    json_t *page = s_as (&ann, "GET", "/api/v1/me/notifications", NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (page, "total")), 1);
    assert_int_equal (json_integer_value (json_object_get (page, "unread")), 1);
    json_t *first = json_array_get (json_object_get (page, "results"), 0);
    assert_string_equal (json_string_value (json_object_get (first, "id")), json_string_value (json_object_get (event, "id")));
    assert_true (json_is_false (json_object_get (first, "read")));
    json_decref (page);
    page = s_as (&ben, "GET", "/api/v1/me/notifications", NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (page, "total")), 0);
    json_decref (page);
    assert_int_equal (s_calls ("/ann", NULL), 1);

    //  Marking read.
    page = s_as (&ann, "POST", "/api/v1/me/notifications/read", "{}", 200);
    assert_int_equal (json_integer_value (json_object_get (page, "marked")), 1);
    assert_int_equal (json_integer_value (json_object_get (page, "unread")), 0);
    json_decref (page);
    page = s_as (&ann, "GET", "/api/v1/me/notifications?unread=true", NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (page, "total")), 0);
    json_decref (page);
    json_decref (event);
    mg_sse_close (&ann_stream);
    mg_sse_close (&ben_stream);
}

static void
test_a_title_leaving_within_the_users_window_is_a_leaving_notification (void **state)
{
    (void) state;
    s_import (990002, "[]");
    char title [37];
    s_content_id (990002, title);
    user_t cara, cyd;
    s_user ("cara", "[\"hulu\"]", "GB", &cara);
    s_user ("cyd", "[\"hulu\"]", "GB", &cyd);
    //  Cyd's window is 2 days: the offer below leaves after it.
    s_refused (&cyd, "PUT", "/api/v1/me/preferences", "{\"leaving_days\":91}", 400, "INVALID_PARAMETER");
    json_decref (s_as (&cyd, "PUT", "/api/v1/me/preferences", "{\"leaving_days\":2}", 200));
    s_watch (&cara, title);
    s_watch (&cyd, title);
    s_services (&cara);
    s_services (&cyd);
    //  On Hulu in GB until three days from now: available, and leaving (window 7 days).
    char offers [512], until [32];
    time_t soon = time (NULL) + 3 * 86400;
    strftime (until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", gmtime (&soon));
    snprintf (offers, sizeof offers, "[{\"platform\":\"hulu\",\"region\":\"GB\",\"type\":\"subscription\",\"expires_at\":\"%s\"}]", until);
    s_import (990002, offers);
    s_wait_handled ();
    json_t *page = s_as (&cara, "GET", "/api/v1/me/notifications", NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (page, "total")), 2);
    int leaving = 0;
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (page, "results"), i, item)
        if (strcmp (json_string_value (json_object_get (item, "kind")), "leaving") == 0) {
            leaving++;
            assert_non_null (json_string_value (json_object_get (item, "offer_until")));
        }
    assert_int_equal (leaving, 1);
    json_decref (page);
    page = s_as (&cyd, "GET", "/api/v1/me/notifications", NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (page, "total")), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (json_object_get (page, "results"), 0), "kind")),
                         "available");
    json_decref (page);
}

//  user's stream resumed from Last-Event-ID 0: every kept event again. Its
//  notification events (at most max) into events; their count. Fails
//  unless the ids run 1, 2, 3... with no gap and no repeat.
static int
s_replayed (const user_t *user, json_t **events, int max)
{
    mg_sse_t *stream = s_stream_from (user, 0);
    long last = 0;
    int count = 0;
    mg_sse_event_t event;
    //  The replay is written at once: a pause this long ends it.
    while (mg_sse_next (stream, &event, 1000) == 0) {
        if (event.id [0]) {
            assert_int_equal (atol (event.id), last + 1);
            last = atol (event.id);
        }
        if (strcmp (event.type, "notification") == 0) {
            assert_true (count < max);
            events [count++] = s_json (event.data);
        }
        mg_sse_event_free (&event);
    }
    mg_sse_close (&stream);
    return count;
}

static void
test_a_change_for_several_watchers_is_on_each_stream_once_and_replayed_as_listed (void **state)
{
    (void) state;
    s_import (990010, "[]");
    char title [37];
    s_content_id (990010, title);
    enum { USERS = 3 };
    const char *names [USERS] = { "ida", "jo", "kit" };
    user_t users [USERS];
    mg_sse_t *live [USERS];
    for (int u = 0; u < USERS; u++) {
        s_user (names [u], "[\"netflix\"]", "GB", &users [u]);
        s_watch (&users [u], title);
        s_services (&users [u]);
        live [u] = s_stream (&users [u]);
    }
    //  On Netflix in GB until three days from now: "available" and
    //  "leaving" (window 7 days) for each of them, in one change.
    char offers [512], until [32];
    time_t soon = time (NULL) + 3 * 86400;
    strftime (until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", gmtime (&soon));
    snprintf (offers, sizeof offers, "[{\"platform\":\"netflix\",\"region\":\"GB\",\"type\":\"subscription\",\"expires_at\":\"%s\"}]", until);
    s_import (990010, offers);
    for (int u = 0; u < USERS; u++) {
        json_t *first = s_notification (live [u], DELIVER_WAIT_MS);
        json_t *second = s_notification (live [u], DELIVER_WAIT_MS);
        assert_non_null (first);
        assert_non_null (second);
        assert_string_not_equal (json_string_value (json_object_get (first, "kind")),
                                 json_string_value (json_object_get (second, "kind")));
        json_decref (first);
        json_decref (second);
    }
    s_wait_handled ();
    //  The same title changes again (a new region): nobody is told twice.
    snprintf (offers, sizeof offers, "[{\"platform\":\"netflix\",\"region\":\"GB\",\"type\":\"subscription\",\"expires_at\":\"%s\"},"
                                     "{\"platform\":\"netflix\",\"region\":\"JP\",\"type\":\"subscription\"}]", until);
    s_import (990010, offers);
    s_wait_handled ();
    for (int u = 0; u < USERS; u++) {
        assert_null (s_notification (live [u], 500));
        mg_sse_close (&live [u]);
        //  Resumed from the start, the stream has the two notifications
        //  once each, in the shape the list shows them.
        json_t *replayed [4];
        int count = s_replayed (&users [u], replayed, 4);
        assert_int_equal (count, 2);
        json_t *page = s_as (&users [u], "GET", "/api/v1/me/notifications", NULL, 200);
        assert_int_equal (json_integer_value (json_object_get (page, "total")), 2);
        for (int r = 0; r < count; r++) {
            int same = 0;
            size_t i;
            json_t *item;
            json_array_foreach (json_object_get (page, "results"), i, item)
                same += json_equal (item, replayed [r]);
            assert_int_equal (same, 1);
            assert_string_equal (json_string_value (json_object_get (replayed [r], "content_id")), title);
            json_decref (replayed [r]);
        }
        json_decref (page);
    }
}

//  count users in GB with services (a JSON array) who watch title, each
//  with a device and an access token signed as accounts signs one at
//  login: written in one statement (the routes that make one user at a
//  time are what the other tests use; here only the fan-out is at stake).
static void
s_crowd (const char *tag, int count, const char *services, const char *title, user_t *users)
{
    char n [16];
    snprintf (n, sizeof n, "%d", count);
    const char *params [] = { n, tag, s_f->run, services, title };
    PGresult *res = PQexecParams (s_f->pg,
        "WITH u AS (INSERT INTO users (email, password_hash) "
        "  SELECT $2 || '-' || g || '-' || $3 || '@example.com', 'none' FROM generate_series (1, $1::int) g RETURNING id), "
        "s AS (INSERT INTO sync_state (user_id, key, state) SELECT u.id, 'state', jsonb_build_object ("
        "  'watchlist', jsonb_build_object ($5::text, jsonb_build_object ('tags', jsonb_build_object ('crowd', '000000000001-00000000-00000000'), 'dead', '{}'::jsonb)), "
        "  'progress', '{}'::jsonb, "
        "  'preferences', jsonb_build_object ("
        "    'services', jsonb_build_object ('value', $4::jsonb, 'hlc', '000000000001-00000000-00000000'), "
        "    'region', jsonb_build_object ('value', 'GB', 'hlc', '000000000001-00000000-00000000'))) FROM u), "
        "d AS (INSERT INTO devices (user_id, name) SELECT u.id, 'phone' FROM u RETURNING user_id, id) "
        "SELECT user_id::text, id::text FROM d", 5, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        fail_msg ("crowd: %s", PQerrorMessage (s_f->pg));
    assert_int_equal (PQntuples (res), count);
    mg_jwt_claims_t claims = { .iat = (int64_t) time (NULL) };
    claims.exp = claims.iat + TOKEN_TTL_S;
    snprintf (claims.tier, sizeof claims.tier, "free");
    for (int u = 0; u < count; u++) {
        snprintf (users [u].id, sizeof users [u].id, "%s", PQgetvalue (res, u, 0));
        snprintf (users [u].device, sizeof users [u].device, "%s", PQgetvalue (res, u, 1));
        snprintf (users [u].services, sizeof users [u].services, "%s", services);
        snprintf (claims.sub, sizeof claims.sub, "%s", users [u].id);
        char token [MG_JWT_MAX_LEN];
        assert_int_equal (mg_jwt_sign ((const uint8_t *) SECRET, strlen (SECRET), &claims, token, sizeof token), 0);
        snprintf (users [u].auth, sizeof users [u].auth, "Authorization: Bearer %s\r\n", token);
    }
    PQclear (res);
}

//  One change for CROWD watchers, each with an open stream: the alerts
//  actor publishes their events in sync.batch messages and every gateway
//  thread hands each event to its user's stream, so each stream has that
//  one notification, once; the stream of a watcher without the service,
//  open on the same gateway, has none.
static void
test_a_change_for_fifty_watchers_is_on_each_open_stream_once_and_not_on_a_user_without_the_service (void **state)
{
    (void) state;
    s_import (990040, "[]");
    char title [37];
    s_content_id (990040, title);
    user_t *crowd = calloc (CROWD, sizeof *crowd);
    mg_sse_t **live = calloc (CROWD, sizeof *live);
    assert_non_null (crowd);
    assert_non_null (live);
    user_t other;
    s_crowd ("crowd", CROWD, "[\"netflix\"]", title, crowd);
    s_crowd ("hulu-only", 1, "[\"hulu\"]", title, &other);
    for (int u = 0; u < CROWD; u++)
        live [u] = s_stream (&crowd [u]);
    mg_sse_t *other_stream = s_stream (&other);

    s_import (990040, "[{\"platform\":\"netflix\",\"region\":\"GB\",\"type\":\"subscription\"}]");
    for (int u = 0; u < CROWD; u++) {
        json_t *event = s_notification (live [u], DELIVER_WAIT_MS);
        if (!event)
            fail_msg ("watcher %d of %d: no notification on the stream", u + 1, CROWD);
        assert_string_equal (json_string_value (json_object_get (event, "kind")), "available");
        assert_string_equal (json_string_value (json_object_get (event, "content_id")), title);
        json_decref (event);
    }
    s_wait_handled ();
    //  Anything sent twice is on its way by now.
    usleep (500 * 1000);
    for (int u = 0; u < CROWD; u++) {
        assert_null (s_notification (live [u], 50));
        mg_sse_close (&live [u]);
    }
    assert_null (s_notification (other_stream, 1000));
    mg_sse_close (&other_stream);
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM notifications WHERE content_id = '%s'", title);
    assert_int_equal (s_scalar (sql), CROWD);
    free (live);
    free (crowd);
}

//  Title tmdb imported without offers (its id into title) and a new user
//  name in GB with services who watches it; the user's stream.
static mg_sse_t *
s_watching (int tmdb, const char *name, const char *services, char *title, user_t *user)
{
    s_import (tmdb, "[]");
    s_content_id (tmdb, title);
    s_user (name, services, "GB", user);
    s_watch (user, title);
    s_services (user);
    return s_stream (user);
}

//  A change handled again (the cursor moved back, as after a failure of
//  PostgreSQL between the shares' commits and the cursor's) puts nothing on
//  the stream twice: the user's stream ids, notifications and replay are
//  as after the first time.
static void
test_a_change_handled_again_adds_no_event_and_no_notification (void **state)
{
    (void) state;
    char title [37];
    user_t user;
    mg_sse_t *live = s_watching (990030, "lou", "[\"netflix\"]", title, &user);
    s_import (990030, "[{\"platform\":\"netflix\",\"region\":\"GB\",\"type\":\"subscription\"}]");
    json_t *first = s_notification (live, DELIVER_WAIT_MS);
    assert_non_null (first);
    json_decref (first);
    s_wait_handled ();
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT last_id FROM sync_event_seq WHERE user_id = '%s'", user.id);
    long last_id = s_scalar (sql);
    assert_true (last_id > 0);
    snprintf (sql, sizeof sql,
              "UPDATE alerts_cursor SET last_seq = (SELECT max (seq) - 1 FROM change_log "
              "WHERE stream = 'availability.changed' AND content_id = '%s') RETURNING last_seq", title);
    assert_true (s_scalar (sql) >= 0);
    //  Another change wakes the follower, which reads the title's again.
    s_import (990031, "[]");
    s_wait_handled ();
    assert_null (s_notification (live, 1000));
    mg_sse_close (&live);
    snprintf (sql, sizeof sql, "SELECT last_id FROM sync_event_seq WHERE user_id = '%s'", user.id);
    assert_int_equal (s_scalar (sql), last_id);
    json_t *page = s_as (&user, "GET", "/api/v1/me/notifications", NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (page, "total")), 1);
    json_decref (page);
    json_t *replayed [2];
    assert_int_equal (s_replayed (&user, replayed, 2), 1);
    json_decref (replayed [0]);
}

//  The notifications and stream events of user id left in the database.
static long
s_rows_of (const char *id)
{
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT (SELECT count(*) FROM notifications WHERE user_id = '%s') "
                               "     + (SELECT count(*) FROM sync_events WHERE user_id = '%s')", id, id);
    return s_scalar (sql);
}

//  Write user id's rows as the writers do (a notification, the user's
//  stream sequence moved, the stream event), in one statement on pg;
//  sent only (PQsendQuery) when async.
static void
s_write_rows (PGconn *pg, const char *id, bool async)
{
    char sql [1024];
    snprintf (sql, sizeof sql,
              "WITH n AS (INSERT INTO notifications (user_id, kind, webhook_id, data) "
              "  VALUES ('%s', 'webhook.disabled', gen_random_uuid (), '{}') RETURNING user_id), "
              "q AS (INSERT INTO sync_event_seq (user_id, last_id) SELECT user_id, 1 FROM n "
              "  ON CONFLICT (user_id) DO UPDATE SET last_id = sync_event_seq.last_id + 1 RETURNING user_id, last_id) "
              "INSERT INTO sync_events (user_id, id, type, data) SELECT user_id, last_id, 'notification', '{}' FROM q",
              id);
    if (async) {
        assert_int_equal (PQsendQuery (pg, sql), 1);
        return;
    }
    PGresult *res = PQexec (pg, sql);
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        fail_msg ("%s", PQerrorMessage (pg));
    PQclear (res);
}

//  Run sql on pg, which must succeed.
static void
s_exec (PGconn *pg, const char *sql)
{
    PGresult *res = PQexec (pg, sql);
    if (PQresultStatus (res) != PGRES_COMMAND_OK && PQresultStatus (res) != PGRES_TUPLES_OK)
        fail_msg ("%s: %s", sql, PQerrorMessage (pg));
    PQclear (res);
}

//  True when pg's statement sent is still waiting after wait_ms.
static bool
s_still_waiting (PGconn *pg, int wait_ms)
{
    usleep ((useconds_t) wait_ms * 1000);
    return PQconsumeInput (pg) && PQisBusy (pg);
}

//  The first result of pg's statement sent (others read and dropped): its
//  status, its SQLSTATE into state.
static ExecStatusType
s_result (PGconn *pg, char *state, size_t size)
{
    ExecStatusType status = PGRES_FATAL_ERROR;
    PGresult *res;
    bool first = true;
    state [0] = '\0';
    while ((res = PQgetResult (pg))) {
        if (first) {
            status = PQresultStatus (res);
            const char *code = PQresultErrorField (res, PG_DIAG_SQLSTATE);
            snprintf (state, size, "%s", code ? code : "");
            first = false;
        }
        PQclear (res);
    }
    return status;
}

//  Notifications and stream events check no key on users per row
//  (022_alerts_stream_rows_unchecked.sql): a user deleted takes them along,
//  also when a writer of them is in the middle of a transaction (the
//  delete waits for it, then takes what it wrote) or comes just after the
//  delete (it fails: nothing is left without its user).
static void
test_a_deleted_user_leaves_no_notification_or_stream_event_whoever_writes_at_once (void **state)
{
    (void) state;
    user_t early, late;
    s_user ("mo", "[\"netflix\"]", "GB", &early);
    s_user ("ned", "[\"netflix\"]", "GB", &late);
    PGconn *writer = PQconnectdb (s_f->url), *deleter = PQconnectdb (s_f->url);
    assert_int_equal (PQstatus (writer), CONNECTION_OK);
    assert_int_equal (PQstatus (deleter), CONNECTION_OK);
    char sql [256], code [8];

    //  The writer first: the delete waits for its commit, then takes its rows.
    s_write_rows (writer, early.id, false);
    assert_true (s_rows_of (early.id) > 0);
    s_exec (writer, "BEGIN");
    s_write_rows (writer, early.id, false);
    snprintf (sql, sizeof sql, "DELETE FROM users WHERE id = '%s'", early.id);
    assert_int_equal (PQsendQuery (deleter, sql), 1);
    assert_true (s_still_waiting (deleter, 300));
    s_exec (writer, "COMMIT");
    assert_int_equal (s_result (deleter, code, sizeof code), PGRES_COMMAND_OK);
    assert_int_equal (s_rows_of (early.id), 0);

    //  The delete first: the writer waits for it, then fails on the user.
    s_write_rows (writer, late.id, false);
    s_exec (deleter, "BEGIN");
    snprintf (sql, sizeof sql, "DELETE FROM users WHERE id = '%s'", late.id);
    s_exec (deleter, sql);
    s_write_rows (writer, late.id, true);
    assert_true (s_still_waiting (writer, 300));
    s_exec (deleter, "COMMIT");
    assert_int_equal (s_result (writer, code, sizeof code), PGRES_FATAL_ERROR);
    assert_string_equal (code, "23503");     //  foreign_key_violation
    assert_int_equal (s_rows_of (late.id), 0);
    PQfinish (writer);
    PQfinish (deleter);
}

//  The kinds of user's notifications, in the order listed (newest first),
//  comma-separated, into out.
static void
s_kinds (const user_t *user, char *out, size_t size)
{
    json_t *page = s_as (user, "GET", "/api/v1/me/notifications", NULL, 200);
    out [0] = '\0';
    size_t i, used = 0;
    json_t *item;
    json_array_foreach (json_object_get (page, "results"), i, item)
        used += (size_t) snprintf (out + used, size - used, "%s%s", i ? "," : "",
                                   json_string_value (json_object_get (item, "kind")));
    json_decref (page);
}

static void
test_an_offer_whose_expiry_enters_the_window_as_time_passes_is_announced_once_by_two_replicas (void **state)
{
    fixture_t *f = *state;
    char title [37];
    user_t hal;
    mg_sse_t *stream = s_watching (990007, "hal", "[\"hulu\"]", title, &hal);
    //  On Hulu in GB until 7 days and ENTERS_S seconds from now: outside
    //  Hal's 7-day window when the change is handled, inside it ENTERS_S
    //  seconds later, with no change of the offer in between.
    char offers [512], until [32];
    time_t leaves = time (NULL) + 7 * 86400 + ENTERS_S;
    strftime (until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", gmtime (&leaves));
    snprintf (offers, sizeof offers, "[{\"platform\":\"hulu\",\"region\":\"GB\",\"type\":\"subscription\",\"expires_at\":\"%s\"}]", until);
    s_import (990007, offers);
    json_t *event = s_notification (stream, DELIVER_WAIT_MS);
    assert_non_null (event);
    assert_string_equal (json_string_value (json_object_get (event, "kind")), "available");
    json_decref (event);
    s_wait_handled ();
    //  The premise: handled before the window was entered.
    assert_true (time (NULL) < leaves - 7 * 86400);
    char kinds [256];
    s_kinds (&hal, kinds, sizeof kinds);
    assert_string_equal (kinds, "available");
    //  A second replica sweeps too.
    pid_t second = s_spawn_alerts ();
    assert_true (second > 0);
    //  Time passes: the sweep finds the offer in the window.
    event = s_notification (stream, (ENTERS_S * 1000) + DELIVER_WAIT_MS);
    assert_non_null (event);
    assert_string_equal (json_string_value (json_object_get (event, "kind")), "leaving");
    assert_string_equal (json_string_value (json_object_get (event, "content_id")), title);
    assert_non_null (json_string_value (json_object_get (event, "offer_until")));
    assert_true (time (NULL) >= leaves - 7 * 86400);
    json_decref (event);
    //  Many more sweeps of both replicas later: still that one.
    assert_null (s_notification (stream, 10 * SWEEP_MS));
    s_kinds (&hal, kinds, sizeof kinds);
    assert_string_equal (kinds, "leaving,available");
    assert_int_equal (mg_test_stop (second, SIGTERM), 0);
    mg_sse_close (&stream);
    (void) f;
}

static void
test_a_webhook_failing_three_times_then_succeeding_gets_the_event_once (void **state)
{
    (void) state;
    user_t dan;
    char secret [128], hook [37];
    s_watcher (990003, "dan", "/flaky", &dan, secret, hook);
    pthread_mutex_lock (&s_f->receiver.lock);
    s_f->receiver.flaky_failures = 3;
    pthread_mutex_unlock (&s_f->receiver.lock);
    s_import (990003, "[{\"platform\":\"netflix\",\"region\":\"GB\",\"type\":\"subscription\"}]");
    json_t *delivery = s_wait_delivery (&dan, hook, "delivered");
    assert_int_equal (json_integer_value (json_object_get (delivery, "attempts")), 4);
    assert_int_equal (json_integer_value (json_object_get (delivery, "last_status")), 200);
    int answered = 0;
    assert_int_equal (s_calls ("/flaky", &answered), 4);
    assert_int_equal (answered, 1);
    //  Every attempt is the same message: one webhook-id, each signed.
    json_decref (s_verify ("/flaky", secret));
    s_receiver_t *r = &s_f->receiver;
    pthread_mutex_lock (&r->lock);
    for (int i = 0; i < r->count; i++)
        if (strcmp (r->calls [i].path, "/flaky") == 0)
            assert_string_equal (r->calls [i].id, json_string_value (json_object_get (delivery, "id")));
    pthread_mutex_unlock (&r->lock);
    json_decref (delivery);
}

static void
test_a_webhook_that_keeps_failing_ends_in_the_dead_letters_is_disabled_and_can_be_replayed (void **state)
{
    (void) state;
    user_t eve;
    char secret [128], hook [37];
    s_watcher (990004, "eve", "/down", &eve, secret, hook);
    s_import (990004, "[{\"platform\":\"netflix\",\"region\":\"GB\",\"type\":\"subscription\"}]");
    json_t *dead = s_wait_delivery (&eve, hook, "dead");
    assert_true (json_integer_value (json_object_get (dead, "attempts")) >= 2);
    assert_int_equal (json_integer_value (json_object_get (dead, "last_status")), 503);
    assert_non_null (json_string_value (json_object_get (dead, "last_error")));
    //  Disabled, and the user is told.
    json_t *hooks = s_as (&eve, "GET", "/api/v1/me/webhooks", NULL, 200);
    json_t *first = json_array_get (json_object_get (hooks, "results"), 0);
    assert_true (json_is_false (json_object_get (first, "enabled")));
    assert_non_null (json_string_value (json_object_get (first, "disabled_at")));
    assert_null (json_object_get (first, "secret"));
    json_decref (hooks);
    json_t *page = s_as (&eve, "GET", "/api/v1/me/notifications", NULL, 200);
    int disabled = 0;
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (page, "results"), i, item)
        if (strcmp (json_string_value (json_object_get (item, "kind")), "webhook.disabled") == 0) {
            disabled++;
            assert_string_equal (json_string_value (json_object_get (item, "webhook_id")), hook);
        }
    assert_int_equal (disabled, 1);
    json_decref (page);
    //  Replaying a delivery that is not dead, or of another webhook: refused.
    char path [256];
    snprintf (path, sizeof path, "/api/v1/me/webhooks/%s/deliveries/%s/replay", hook, "00000000-0000-4000-8000-000000000000");
    s_refused (&eve, "POST", path, NULL, 404, "NOT_FOUND");
    snprintf (path, sizeof path, "/api/v1/me/webhooks/%s/deliveries/not-a-uuid/replay", hook);
    s_refused (&eve, "POST", path, NULL, 400, "INVALID_PARAMETER");
    //  The receiver is fixed; the replay delivers it and enables the webhook.
    pthread_mutex_lock (&s_f->receiver.lock);
    s_f->receiver.down_fixed = true;
    pthread_mutex_unlock (&s_f->receiver.lock);
    snprintf (path, sizeof path, "/api/v1/me/webhooks/%s/deliveries/%s/replay", hook,
              json_string_value (json_object_get (dead, "id")));
    json_t *replayed = s_as (&eve, "POST", path, NULL, 202);
    assert_string_equal (json_string_value (json_object_get (replayed, "state")), "pending");
    json_decref (replayed);
    s_refused (&eve, "POST", path, NULL, 409, "CONFLICT");
    json_t *delivered = s_wait_delivery (&eve, hook, "delivered");
    assert_string_equal (json_string_value (json_object_get (delivered, "id")), json_string_value (json_object_get (dead, "id")));
    json_decref (delivered);
    json_decref (s_verify ("/down", secret));
    hooks = s_as (&eve, "GET", "/api/v1/me/webhooks", NULL, 200);
    assert_true (json_is_true (json_object_get (json_array_get (json_object_get (hooks, "results"), 0), "enabled")));
    json_decref (hooks);
    json_decref (dead);
}

static void
test_a_delivery_in_flight_when_the_actor_is_killed_is_delivered_after_the_restart (void **state)
{
    fixture_t *f = *state;
    user_t finn;
    char secret [128], hook [37];
    s_watcher (990005, "finn", "/hold", &finn, secret, hook);
    pthread_mutex_lock (&f->receiver.lock);
    f->receiver.hold = true;
    pthread_mutex_unlock (&f->receiver.lock);
    s_import (990005, "[{\"platform\":\"netflix\",\"region\":\"GB\",\"type\":\"subscription\"}]");
    //  The call is made and held unanswered: kill -9 now.
    assert_int_equal (s_wait_calls ("/hold", 1, DELIVER_WAIT_MS), 1);
    assert_int_equal (mg_test_stop (f->alerts, SIGKILL), SIGKILL);
    f->alerts = 0;
    pthread_mutex_lock (&f->receiver.lock);
    f->receiver.hold = false;
    pthread_mutex_unlock (&f->receiver.lock);
    f->alerts = s_spawn_alerts ();
    json_t *delivered = s_wait_delivery (&finn, hook, "delivered");
    int answered = 0;
    s_calls ("/hold", &answered);
    assert_int_equal (answered, 1);
    json_decref (s_verify ("/hold", secret));
    json_decref (delivered);
    json_t *page = s_as (&finn, "GET", "/api/v1/me/notifications", NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (page, "total")), 1);
    json_decref (page);
}

static void
test_webhook_urls_are_checked_and_the_routes_answer_errors (void **state)
{
    (void) state;
    user_t gil;
    s_user ("gil", "[]", "GB", &gil);
    //  The test switch admits loopback over http, not other schemes.
    s_refused (&gil, "POST", "/api/v1/me/webhooks", "{\"url\":\"ftp://127.0.0.1/x\"}", 400, "INVALID_PARAMETER");
    s_refused (&gil, "POST", "/api/v1/me/webhooks", "{\"url\":\"http://user:pw@127.0.0.1/x\"}", 400, "INVALID_PARAMETER");
    s_refused (&gil, "POST", "/api/v1/me/webhooks", "{}", 400, "INVALID_PARAMETER");
    s_refused (&gil, "DELETE", "/api/v1/me/webhooks/00000000-0000-4000-8000-000000000000", NULL, 404, "NOT_FOUND");
    s_refused (&gil, "GET", "/api/v1/me/webhooks/00000000-0000-4000-8000-000000000000/deliveries", NULL, 404, "NOT_FOUND");
    s_refused (&gil, "GET", "/api/v1/me/notifications?per_page=1000", NULL, 400, "INVALID_PARAMETER");
    s_refused (&gil, "GET", "/api/v1/me/notifications?colour=red", NULL, 400, "INVALID_PARAMETER");
    s_refused (&gil, "POST", "/api/v1/me/notifications/read", "{\"ids\":[\"nope\"]}", 400, "INVALID_PARAMETER");
    char secret [128], hook [37], path [128];
    s_webhook (&gil, "/gil", secret, hook);
    snprintf (path, sizeof path, "/api/v1/me/webhooks/%s/deliveries?state=lost", hook);
    s_refused (&gil, "GET", path, NULL, 400, "INVALID_PARAMETER");
    snprintf (path, sizeof path, "/api/v1/me/webhooks/%s", hook);
    json_decref (s_as (&gil, "DELETE", path, NULL, 204));
    s_refused (&gil, "DELETE", path, NULL, 404, "NOT_FOUND");
    mg_http_reply_t reply;
    assert_int_equal (s_call ("GET", "/api/v1/me/notifications", "", NULL, &reply), 0);
    assert_int_equal (reply.status, 401);
    mg_http_reply_free (&reply);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_with_no_delivery_pending_the_delivery_loop_waits_the_poll_interval),
        cmocka_unit_test (test_only_the_user_with_that_service_and_region_is_notified_once_on_the_stream_and_a_signed_webhook),
        cmocka_unit_test (test_a_title_leaving_within_the_users_window_is_a_leaving_notification),
        cmocka_unit_test (test_a_change_for_several_watchers_is_on_each_stream_once_and_replayed_as_listed),
        cmocka_unit_test (test_a_change_for_fifty_watchers_is_on_each_open_stream_once_and_not_on_a_user_without_the_service),
        cmocka_unit_test (test_a_change_handled_again_adds_no_event_and_no_notification),
        cmocka_unit_test (test_an_offer_whose_expiry_enters_the_window_as_time_passes_is_announced_once_by_two_replicas),
        cmocka_unit_test (test_a_webhook_failing_three_times_then_succeeding_gets_the_event_once),
        cmocka_unit_test (test_a_webhook_that_keeps_failing_ends_in_the_dead_letters_is_disabled_and_can_be_replayed),
        cmocka_unit_test (test_a_delivery_in_flight_when_the_actor_is_killed_is_delivered_after_the_restart),
        cmocka_unit_test (test_webhook_urls_are_checked_and_the_routes_answer_errors),
        cmocka_unit_test (test_a_deleted_user_leaves_no_notification_or_stream_event_whoever_writes_at_once),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
