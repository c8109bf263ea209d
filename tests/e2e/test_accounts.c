/*  Accounts and rate limits end to end: real mg-broker, mg-catalog,
    mg-resolver (for /ready), mg-accounts, mg-ratelimit (on MG_REDIS_URL) and
    mg-gateway, spoken to over HTTP. Two users prove isolation.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_jwt.h"
#include "mg_pg.h"
#include "mg_test.h"

#define TIMEOUT_MS     5000
#define START_WAIT_MS  30000
#define SECRET         "e2e-secret-0123456789abcdef0123456789"
#define FREE_PER_S     20           //  MG_RATE_FREE of the fixture
#define KEY_CACHE_S    1            //  MG_KEY_CACHE_S of the fixture
#define LOGIN_FAILURES 3            //  MG_LOGIN_MAX_FAILURES
#define LOCK_S         2            //  MG_LOGIN_LOCK_S

typedef struct {
    char env_text [8][96];
    const char *env [32];
    int http_port;
    pid_t broker, catalog, resolver, accounts, ratelimit, search, sync, alerts, gateway;
    char run [16];                  //  makes this run's emails unique
    char log_path [128];            //  stderr of the processes started by group_setup
} fixture_t;

static fixture_t *s_f;

static int
s_call (const char *method, const char *path, const char *headers, const char *body,
        mg_http_reply_t *reply)
{
    return mg_http_request (s_f->http_port, method, path, headers, body, reply, TIMEOUT_MS);
}

//  JSON body of reply (caller decrefs); asserts it parses.
static json_t *
s_json (const mg_http_reply_t *reply)
{
    json_error_t error;
    json_t *json = json_loads (reply->body, 0, &error);
    if (!json)
        fail_msg ("not JSON (status %d): %s", reply->status, reply->body);
    return json;
}

//  Asserts reply is an error with status and code.
static void
s_assert_error (const mg_http_reply_t *reply, int status, const char *code)
{
    if (reply->status != status)
        fail_msg ("expected %d %s, got %d: %s", status, code, reply->status, reply->body);
    json_t *json = s_json (reply);
    json_t *error = json_object_get (json, "error");
    assert_string_equal (json_string_value (json_object_get (error, "code")), code);
    assert_true (json_is_string (json_object_get (error, "message")));
    json_decref (json);
}

//  Asserts reply carries the rate-limit headers.
static void
s_assert_rate_headers (const mg_http_reply_t *reply)
{
    char value [256];
    assert_true (mg_http_header (reply, "X-RateLimit-Limit", value, sizeof value));
    assert_true (mg_http_header (reply, "X-RateLimit-Remaining", value, sizeof value));
    assert_true (mg_http_header (reply, "X-RateLimit-Reset", value, sizeof value));
    assert_true (mg_http_header (reply, "RateLimit-Policy", value, sizeof value));
    assert_true (mg_http_header (reply, "RateLimit", value, sizeof value));
}

//  Unique email for name in this run.
static void
s_email (const char *name, char *out, size_t size)
{
    snprintf (out, size, "%s-%s@example.com", name, s_f->run);
}

static void
s_register (const char *email, const char *password)
{
    char body [512];
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("POST", "/api/v1/auth/register", "", body, &reply), 0);
    if (reply.status != 201)
        fail_msg ("register: %d %s", reply.status, reply.body);
    json_t *json = s_json (&reply);
    json_t *user = json_object_get (json, "user");
    assert_string_equal (json_string_value (json_object_get (user, "email")), email);
    assert_int_equal (strlen (json_string_value (json_object_get (user, "id"))), 36);
    json_decref (json);
    mg_http_reply_free (&reply);
}

//  Log in; the access and refresh tokens into the buffers (1024, 128 bytes).
static void
s_login (const char *email, const char *password, char *access, char *refresh)
{
    char body [512];
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("POST", "/api/v1/auth/login", "", body, &reply), 0);
    if (reply.status != 200)
        fail_msg ("login: %d %s", reply.status, reply.body);
    json_t *json = s_json (&reply);
    assert_string_equal (json_string_value (json_object_get (json, "token_type")), "Bearer");
    assert_true (json_integer_value (json_object_get (json, "expires_in")) > 0);
    snprintf (access, 1024, "%s", json_string_value (json_object_get (json, "access_token")));
    snprintf (refresh, 128, "%s", json_string_value (json_object_get (json, "refresh_token")));
    json_decref (json);
    mg_http_reply_free (&reply);
}

//  "Authorization: Bearer <token>\r\n" into out.
static const char *
s_bearer (const char *token, char *out, size_t size)
{
    snprintf (out, size, "Authorization: Bearer %s\r\n", token);
    return out;
}

//  Create a key named name with access; its id and key into the buffers (64 bytes).
static void
s_create_key (const char *access, const char *name, char *id, char *key)
{
    char auth [1200], body [256];
    snprintf (body, sizeof body, "{\"name\":\"%s\"}", name);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("POST", "/api/v1/auth/api-keys", s_bearer (access, auth, sizeof auth), body, &reply), 0);
    if (reply.status != 201)
        fail_msg ("create key: %d %s", reply.status, reply.body);
    s_assert_rate_headers (&reply);
    json_t *json = s_json (&reply);
    assert_string_equal (json_string_value (json_object_get (json, "tier")), "free");
    assert_string_equal (json_string_value (json_object_get (json, "name")), name);
    snprintf (id, 64, "%s", json_string_value (json_object_get (json, "id")));
    snprintf (key, 64, "%s", json_string_value (json_object_get (json, "key")));
    assert_int_equal (strncmp (key, "mg_live_", 8), 0);
    json_decref (json);
    mg_http_reply_free (&reply);
}

//  Number of keys the caller (headers) lists, and whether id is among them.
static size_t
s_list_keys (const char *headers, const char *id, bool *found)
{
    mg_http_reply_t reply;
    assert_int_equal (s_call ("GET", "/api/v1/auth/api-keys", headers, NULL, &reply), 0);
    assert_int_equal (reply.status, 200);
    json_t *json = s_json (&reply);
    json_t *results = json_object_get (json, "results");
    *found = false;
    size_t index;
    json_t *item;
    json_array_foreach (results, index, item) {
        assert_null (json_object_get (item, "key"));      //  shown once only
        if (id && strcmp (json_string_value (json_object_get (item, "id")), id) == 0)
            *found = true;
    }
    size_t count = json_array_size (results);
    json_decref (json);
    mg_http_reply_free (&reply);
    return count;
}

//  GET /api/v1/genres with headers; the status.
static int
s_genres_status (const char *headers)
{
    mg_http_reply_t reply;
    assert_int_equal (s_call ("GET", "/api/v1/genres", headers, NULL, &reply), 0);
    int status = reply.status;
    mg_http_reply_free (&reply);
    return status;
}

static int
s_wait_ready (void)
{
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (mg_test_now_ms () < until) {
        mg_http_reply_t reply;
        if (s_call ("GET", "/ready", "", NULL, &reply) == 0 && reply.status == 200) {
            mg_http_reply_free (&reply);
            return 0;
        }
        mg_http_reply_free (&reply);
        usleep (100 * 1000);
    }
    return -1;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    pid_t *pids [] = { &f->gateway, &f->alerts, &f->sync, &f->search, &f->ratelimit, &f->accounts, &f->resolver,
                       &f->catalog, &f->broker };
    for (size_t i = 0; i < sizeof pids / sizeof pids [0]; i++)
        if (*pids [i] > 0)
            mg_test_stop (*pids [i], SIGTERM);
    unlink (f->log_path);
    free (f);
    return 0;
}

static int
group_setup (void **state)
{
    if (!getenv ("MG_PG_URL") || !getenv ("MG_REDIS_URL")) {
        fprintf (stderr, "MG_PG_URL and MG_REDIS_URL must be set (scripts/test does)\n");
        return -1;
    }
    fixture_t *f = calloc (1, sizeof *f);
    s_f = f;
    *state = f;
    int broker = mg_test_free_port ();
    f->http_port = mg_test_free_port ();
    snprintf (f->run, sizeof f->run, "%ld%d", (long) time (NULL), (int) getpid ());
    snprintf (f->env_text [0], 96, "MG_BROKER=tcp://127.0.0.1:%d", broker);
    snprintf (f->env_text [1], 96, "MG_BROKER_BIND=tcp://127.0.0.1:%d", broker);
    snprintf (f->env_text [2], 96, "MG_EVENTS_PUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->env_text [3], 96, "MG_EVENTS_SUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->env_text [4], 96, "MG_HTTP_PORT=%d", f->http_port);
    snprintf (f->env_text [5], 96, "MG_RATE_FREE=%d/s,100000/m", FREE_PER_S);
    snprintf (f->env_text [6], 96, "MG_KEY_CACHE_S=%d", KEY_CACHE_S);
    snprintf (f->env_text [7], 96, "MG_LOGIN_MAX_FAILURES=%d", LOGIN_FAILURES);
    const char *fixed [] = {
        "MG_JWT_SECRET=" SECRET, "MG_RATE_ANONYMOUS=100000/s,1000000/m",
        "MG_RATE_PRO=40/s,100000/m", "MG_LOGIN_LOCK_S=2", "MG_HEARTBEAT_MS=250",
        "MG_RESOLVER_INGEST=0", "MG_REQUEST_TIMEOUT_MS=4000",
        //  Argon2id at 16 MiB keeps the suite quick under ASan; production uses 64 MiB.
        "MG_PWHASH_MEMLIMIT_KIB=16384", NULL
    };
    size_t n = 0;
    for (int i = 0; i < 8; i++)
        f->env [n++] = f->env_text [i];
    for (int i = 0; fixed [i]; i++)
        f->env [n++] = fixed [i];
    f->env [n] = NULL;
    //  The processes' logs go to a file, which the last test searches for secrets.
    snprintf (f->log_path, sizeof f->log_path, "/tmp/mg-e2e-accounts-%d.log", (int) getpid ());
    int log_fd = open (f->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    int saved = dup (STDERR_FILENO);
    if (log_fd >= 0 && saved >= 0)
        dup2 (log_fd, STDERR_FILENO);
    f->broker = mg_test_spawn ("mg-broker", f->env);
    f->accounts = mg_test_spawn ("mg-accounts", f->env);
    f->catalog = mg_test_spawn ("mg-catalog", f->env);
    f->resolver = mg_test_spawn ("mg-resolver", f->env);
    f->ratelimit = mg_test_spawn ("mg-ratelimit", f->env);
    f->search = mg_test_spawn ("mg-search", f->env);
    f->sync = mg_test_spawn ("mg-sync", f->env);
    f->alerts = mg_test_spawn ("mg-alerts", f->env);
    f->gateway = mg_test_spawn ("mg-gateway", f->env);
    if (log_fd >= 0 && saved >= 0)
        dup2 (saved, STDERR_FILENO);
    if (saved >= 0)
        close (saved);
    if (log_fd >= 0)
        close (log_fd);
    if (s_wait_ready () == 0)
        return 0;
    fprintf (stderr, "the gateway did not become ready\n");
    group_teardown (state);
    *state = NULL;
    return -1;
}

static void
test_register_then_duplicate_email_is_409 (void **state)
{
    (void) state;
    char email [128], upper [128];
    s_email ("dup", email, sizeof email);
    s_register (email, "password-1");
    //  Emails are unique whatever their case.
    snprintf (upper, sizeof upper, "%s", email);
    upper [0] = 'D';
    char body [256];
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"password-2\"}", upper);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("POST", "/api/v1/auth/register", "", body, &reply), 0);
    s_assert_error (&reply, 409, "CONFLICT");
    s_assert_rate_headers (&reply);
    mg_http_reply_free (&reply);
}

static void
test_invalid_registrations_are_400_naming_the_field (void **state)
{
    (void) state;
    const struct { const char *body; const char *param; } cases [] = {
        { "{\"email\":\"no-at-sign\",\"password\":\"long enough\"}", "email" },
        { "{\"email\":\"a@nodot\",\"password\":\"long enough\"}", "email" },
        { "{\"email\":\"a b@example.com\",\"password\":\"long enough\"}", "email" },
        { "{\"email\":\"ok@example.com\",\"password\":\"short\"}", "password" },
        { "{\"email\":\"ok@example.com\"}", NULL },
        { "{\"email\":\"x' OR 1=1 --@example.com\",\"password\":\"long enough\"}", "email" },
        { "{\"email\":\"ok@example.com\",\"password\":\"long enough\",\"user_id\":\"x\"}", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        mg_http_reply_t reply;
        assert_int_equal (s_call ("POST", "/api/v1/auth/register", "", cases [i].body, &reply), 0);
        s_assert_error (&reply, 400, "INVALID_PARAMETER");
        if (cases [i].param) {
            json_t *json = s_json (&reply);
            assert_string_equal (json_string_value (json_object_get (json_object_get (json, "error"), "param")),
                                 cases [i].param);
            json_decref (json);
        }
        mg_http_reply_free (&reply);
    }
}

static void
test_wrong_passwords_are_401_then_the_login_is_throttled (void **state)
{
    (void) state;
    char email [128], body [256], access [1024], refresh [128];
    s_email ("throttle", email, sizeof email);
    s_register (email, "the right one");
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"the wrong one\"}", email);
    mg_http_reply_t reply;
    for (int i = 0; i < LOGIN_FAILURES; i++) {
        assert_int_equal (s_call ("POST", "/api/v1/auth/login", "", body, &reply), 0);
        s_assert_error (&reply, 401, "UNAUTHORIZED");
        mg_http_reply_free (&reply);
    }
    //  Locked: even the right password waits.
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"the right one\"}", email);
    assert_int_equal (s_call ("POST", "/api/v1/auth/login", "", body, &reply), 0);
    s_assert_error (&reply, 429, "RATE_LIMITED");
    char retry [32];
    assert_true (mg_http_header (&reply, "Retry-After", retry, sizeof retry));
    assert_true (atoi (retry) >= 1 && atoi (retry) <= LOCK_S);
    mg_http_reply_free (&reply);
    sleep (LOCK_S + 1);
    s_login (email, "the right one", access, refresh);
    //  An unknown email is the same 401 as a wrong password.
    assert_int_equal (s_call ("POST", "/api/v1/auth/login", "",
                              "{\"email\":\"nobody-at-all@example.com\",\"password\":\"whatever1\"}", &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED");
    mg_http_reply_free (&reply);
}

static void
test_refresh_rotates_and_a_reused_token_revokes_its_family (void **state)
{
    (void) state;
    char email [128], access [1024], first [128], second [128], third [128], body [256];
    s_email ("refresh", email, sizeof email);
    s_register (email, "password-r");
    s_login (email, "password-r", access, first);
    mg_http_reply_t reply;
    snprintf (body, sizeof body, "{\"refresh_token\":\"%s\"}", first);
    assert_int_equal (s_call ("POST", "/api/v1/auth/refresh", "", body, &reply), 0);
    assert_int_equal (reply.status, 200);
    json_t *json = s_json (&reply);
    snprintf (second, sizeof second, "%s", json_string_value (json_object_get (json, "refresh_token")));
    assert_string_not_equal (first, second);
    json_decref (json);
    mg_http_reply_free (&reply);
    //  The first token again: a reuse. 401, and the family is revoked...
    assert_int_equal (s_call ("POST", "/api/v1/auth/refresh", "", body, &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED");
    mg_http_reply_free (&reply);
    //  ...so the second, never used, is refused too.
    snprintf (body, sizeof body, "{\"refresh_token\":\"%s\"}", second);
    assert_int_equal (s_call ("POST", "/api/v1/auth/refresh", "", body, &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED");
    mg_http_reply_free (&reply);
    //  Another login starts a family of its own.
    s_login (email, "password-r", access, third);
    snprintf (body, sizeof body, "{\"refresh_token\":\"%s\"}", third);
    assert_int_equal (s_call ("POST", "/api/v1/auth/refresh", "", body, &reply), 0);
    assert_int_equal (reply.status, 200);
    mg_http_reply_free (&reply);
    assert_int_equal (s_call ("POST", "/api/v1/auth/refresh", "", "{\"refresh_token\":\"mgr_forged\"}", &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED");
    mg_http_reply_free (&reply);
}

static void
test_two_users_see_and_change_only_their_own_keys (void **state)
{
    (void) state;
    char a_email [128], b_email [128];
    char a_access [1024], b_access [1024], refresh [128];
    char a_id [64], a_key [64], b_id [64], b_key [64];
    char a_auth [1200], b_auth [1200], path [128], header [128];
    s_email ("alice", a_email, sizeof a_email);
    s_email ("bob", b_email, sizeof b_email);
    s_register (a_email, "alice-password");
    s_register (b_email, "bob-password");
    s_login (a_email, "alice-password", a_access, refresh);
    s_login (b_email, "bob-password", b_access, refresh);
    s_create_key (a_access, "alice laptop", a_id, a_key);
    s_create_key (b_access, "bob ci", b_id, b_key);
    s_bearer (a_access, a_auth, sizeof a_auth);
    s_bearer (b_access, b_auth, sizeof b_auth);
    bool found;
    assert_int_equal (s_list_keys (a_auth, a_id, &found), 1);
    assert_true (found);
    assert_int_equal (s_list_keys (b_auth, a_id, &found), 1);
    assert_false (found);
    //  Bob cannot revoke Alice's key: it is "not found" for him.
    snprintf (path, sizeof path, "/api/v1/auth/api-keys/%s", a_id);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("DELETE", path, b_auth, NULL, &reply), 0);
    s_assert_error (&reply, 404, "NOT_FOUND");
    mg_http_reply_free (&reply);
    //  Alice's key still works, as Alice.
    snprintf (header, sizeof header, "X-API-Key: %s\r\n", a_key);
    assert_int_equal (s_genres_status (header), 200);
    //  A key cannot manage keys; nobody anonymous can.
    assert_int_equal (s_call ("GET", "/api/v1/auth/api-keys", header, NULL, &reply), 0);
    s_assert_error (&reply, 403, "FORBIDDEN");
    mg_http_reply_free (&reply);
    assert_int_equal (s_call ("GET", "/api/v1/auth/api-keys", "", NULL, &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED");
    mg_http_reply_free (&reply);
    //  A user_id in the query is refused, not believed.
    char spoof [200];
    snprintf (spoof, sizeof spoof, "/api/v1/auth/api-keys?user_id=%s", a_id);
    assert_int_equal (s_call ("GET", spoof, b_auth, NULL, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    //  Alice revokes her key: 204, gone from her list, refused within the cache time.
    assert_int_equal (s_call ("DELETE", path, a_auth, NULL, &reply), 0);
    assert_int_equal (reply.status, 204);
    mg_http_reply_free (&reply);
    assert_int_equal (s_list_keys (a_auth, a_id, &found), 0);
    usleep ((KEY_CACHE_S * 1000 + 300) * 1000);
    assert_int_equal (s_genres_status (header), 401);
    assert_int_equal (s_call ("DELETE", path, a_auth, NULL, &reply), 0);
    s_assert_error (&reply, 404, "NOT_FOUND");
    mg_http_reply_free (&reply);
    //  Bob's key is untouched.
    assert_int_equal (s_list_keys (b_auth, b_id, &found), 1);
    assert_true (found);
}

static void
test_bad_credentials_are_401_never_anonymous (void **state)
{
    (void) state;
    mg_jwt_claims_t claims = { .tier = "pro", .iat = (int64_t) time (NULL) };
    snprintf (claims.sub, sizeof claims.sub, "00000000-0000-4000-8000-000000000001");
    claims.exp = claims.iat + 600;
    char wrong_key [1024], expired [1024], none [1024];
    static const char other [] = "another-secret-0123456789abcdef0123456789";
    assert_int_equal (mg_jwt_sign ((const uint8_t *) other, sizeof other - 1, &claims, wrong_key, sizeof wrong_key), 0);
    claims.exp = claims.iat - 10;
    assert_int_equal (mg_jwt_sign ((const uint8_t *) SECRET, sizeof SECRET - 1, &claims, expired, sizeof expired), 0);
    //  {"alg":"none","typ":"JWT"} with the payload of a real token and no signature.
    const char *payload = strchr (wrong_key, '.') + 1;
    snprintf (none, sizeof none, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.%.*s.",
              (int) (strchr (payload, '.') - payload), payload);
    char headers [7][1200];
    snprintf (headers [0], sizeof headers [0], "Authorization: Bearer %s\r\n", wrong_key);
    snprintf (headers [1], sizeof headers [1], "Authorization: Bearer %s\r\n", expired);
    snprintf (headers [2], sizeof headers [2], "Authorization: Bearer %s\r\n", none);
    snprintf (headers [3], sizeof headers [3], "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\n");
    snprintf (headers [4], sizeof headers [4], "X-API-Key: mg_live_' OR '1'='1\r\n");
    snprintf (headers [5], sizeof headers [5], "X-API-Key: mg_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n");
    snprintf (headers [6], sizeof headers [6], "Authorization: Bearer a.b.c\r\nX-API-Key: k\r\n");
    for (int i = 0; i < 7; i++) {
        mg_http_reply_t reply;
        assert_int_equal (s_call ("GET", "/api/v1/genres", headers [i], NULL, &reply), 0);
        s_assert_error (&reply, 401, "UNAUTHORIZED");
        s_assert_rate_headers (&reply);
        char value [128];
        assert_true (mg_http_header (&reply, "WWW-Authenticate", value, sizeof value));
        //  No part of the credentials is echoed.
        assert_null (strstr (reply.body, "mg_live_"));
        assert_null (strstr (reply.body, "eyJ"));
        mg_http_reply_free (&reply);
    }
    //  A valid token signed with the right key is accepted.
    claims.exp = claims.iat + 600;
    char good [1024], header [1200];
    assert_int_equal (mg_jwt_sign ((const uint8_t *) SECRET, sizeof SECRET - 1, &claims, good, sizeof good), 0);
    snprintf (header, sizeof header, "Authorization: Bearer %s\r\n", good);
    assert_int_equal (s_genres_status (header), 200);
}

static void
test_requests_over_the_limit_are_429_with_headers (void **state)
{
    (void) state;
    char email [128], access [1024], refresh [128], auth [1200];
    s_email ("burst", email, sizeof email);
    s_register (email, "password-b");
    s_login (email, "password-b", access, refresh);
    s_bearer (access, auth, sizeof auth);
    int admitted = 0, limited = 0;
    for (int i = 0; i < FREE_PER_S * 3 && limited == 0; i++) {
        mg_http_reply_t reply;
        assert_int_equal (s_call ("GET", "/api/v1/genres", auth, NULL, &reply), 0);
        s_assert_rate_headers (&reply);
        char value [256];
        assert_true (mg_http_header (&reply, "RateLimit-Policy", value, sizeof value));
        assert_string_equal (value, "\"free-s\";q=20;w=1, \"free-m\";q=100000;w=60");
        if (reply.status == 200)
            admitted++;
        else {
            s_assert_error (&reply, 429, "RATE_LIMITED");
            assert_true (mg_http_header (&reply, "Retry-After", value, sizeof value));
            assert_int_equal (atoi (value), 1);
            assert_true (mg_http_header (&reply, "X-RateLimit-Remaining", value, sizeof value));
            assert_string_equal (value, "0");
            json_t *json = s_json (&reply);
            assert_int_equal (json_integer_value (json_object_get (json_object_get (json, "error"), "retry_after")), 1);
            json_decref (json);
            limited++;
        }
        mg_http_reply_free (&reply);
    }
    assert_true (limited == 1);
    assert_true (admitted >= FREE_PER_S);
    //  /health, /ready and /metrics are never limited nor labelled.
    mg_http_reply_t reply;
    assert_int_equal (s_call ("GET", "/health", auth, NULL, &reply), 0);
    assert_int_equal (reply.status, 200);
    char value [64];
    assert_false (mg_http_header (&reply, "X-RateLimit-Limit", value, sizeof value));
    mg_http_reply_free (&reply);
}

//  Request with bearer token access and extra header lines; status, body into reply.
static int
s_as (const char *access, const char *extra, const char *method, const char *path, const char *body,
      mg_http_reply_t *reply)
{
    char headers [1400];
    snprintf (headers, sizeof headers, "Authorization: Bearer %s\r\n%s%s", access, extra,
              body ? "Content-Type: application/json\r\n" : "");
    return s_call (method, path, headers, body, reply);
}

static void
test_watchlist_devices_and_ops_belong_to_their_user (void **state)
{
    (void) state;
    char ann [128], ben [128], access_a [1024], access_b [1024], refresh [128];
    s_email ("sync-ann", ann, sizeof ann);
    s_email ("sync-ben", ben, sizeof ben);
    s_register (ann, "correct horse battery");
    s_register (ben, "correct horse battery");
    s_login (ann, "correct horse battery", access_a, refresh);
    s_login (ben, "correct horse battery", access_b, refresh);
    mg_http_reply_t reply;
    //  Signed-in callers only.
    assert_int_equal (s_call ("GET", "/api/v1/me/watchlist", "", NULL, &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED");
    mg_http_reply_free (&reply);
    //  Ann registers a phone and adds a title from it.
    assert_int_equal (s_as (access_a, "", "POST", "/api/v1/me/devices", "{\"name\":\"phone\"}", &reply), 0);
    assert_int_equal (reply.status, 201);
    json_t *device = s_json (&reply);
    char device_id [64], header [128];
    snprintf (device_id, sizeof device_id, "%s", json_string_value (json_object_get (device, "id")));
    json_decref (device);
    mg_http_reply_free (&reply);
    snprintf (header, sizeof header, "X-Device-Id: %s\r\n", device_id);
    assert_int_equal (s_as (access_a, header, "PUT", "/api/v1/me/watchlist/00000000-0000-4000-8000-000000000001",
                            NULL, &reply), 0);
    assert_int_equal (reply.status, 200);
    s_assert_rate_headers (&reply);
    mg_http_reply_free (&reply);
    assert_int_equal (s_as (access_a, "", "PUT", "/api/v1/me/progress/00000000-0000-4000-8000-000000000001",
                            "{\"position_s\":300,\"duration_s\":6000}", &reply), 0);
    if (reply.status != 200)
        fail_msg ("progress: %d %s", reply.status, reply.body);
    json_t *json = s_json (&reply);
    assert_int_equal (json_array_size (json_object_get (json, "watchlist")), 1);
    assert_true (json_number_value (json_object_get (json_array_get (json_object_get (json, "progress"), 0),
                                                     "position_s")) == 300.0);
    json_decref (json);
    mg_http_reply_free (&reply);
    //  Ben sees none of it, and cannot use or remove Ann's device.
    assert_int_equal (s_as (access_b, "", "GET", "/api/v1/me/watchlist", NULL, &reply), 0);
    json = s_json (&reply);
    assert_int_equal (json_array_size (json_object_get (json, "results")), 0);
    json_decref (json);
    mg_http_reply_free (&reply);
    assert_int_equal (s_as (access_b, header, "PUT", "/api/v1/me/watchlist/00000000-0000-4000-8000-000000000002",
                            NULL, &reply), 0);
    s_assert_error (&reply, 404, "NOT_FOUND");
    mg_http_reply_free (&reply);
    char path [128];
    snprintf (path, sizeof path, "/api/v1/me/devices/%s", device_id);
    assert_int_equal (s_as (access_b, "", "DELETE", path, NULL, &reply), 0);
    s_assert_error (&reply, 404, "NOT_FOUND");
    mg_http_reply_free (&reply);
    //  The device comes from X-Device-Id only, the user from the token only.
    assert_int_equal (s_as (access_a, "", "PUT", "/api/v1/me/preferences",
                            "{\"device_id\":\"00000000-0000-4000-8000-000000000009\",\"autoplay\":true}", &reply), 0);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    //  An offline batch: more than 100 ops is 413 before anything else.
    char *big = malloc (101 * 3 + 64);
    size_t used = (size_t) sprintf (big, "{\"ops\":[");
    for (int i = 0; i < 101; i++)
        used += (size_t) sprintf (big + used, "%s{}", i ? "," : "");
    sprintf (big + used, "]}");
    assert_int_equal (s_as (access_a, "", "POST", "/api/v1/sync/ops", big, &reply), 0);
    s_assert_error (&reply, 413, "PAYLOAD_TOO_LARGE");
    mg_http_reply_free (&reply);
    free (big);
    assert_int_equal (s_as (access_a, "", "POST", "/api/v1/sync/ops",
                            "{\"ops\":[{\"op_id\":\"o-1\",\"type\":\"preferences.set\",\"field\":\"language\","
                            "\"value\":\"en\"}]}", &reply), 0);
    assert_int_equal (reply.status, 200);
    json = s_json (&reply);
    assert_int_equal (json_integer_value (json_object_get (json, "applied")), 1);
    assert_string_equal (json_string_value (json_object_get (json_object_get (json_object_get (json, "state"),
                                                                              "preferences"), "language")), "en");
    json_decref (json);
    mg_http_reply_free (&reply);
    //  Removing the device frees it; it is gone from the list.
    snprintf (path, sizeof path, "/api/v1/me/devices/%s", device_id);
    assert_int_equal (s_as (access_a, "", "DELETE", path, NULL, &reply), 0);
    assert_int_equal (reply.status, 204);
    mg_http_reply_free (&reply);
    assert_int_equal (s_as (access_a, "", "GET", "/api/v1/me/devices", NULL, &reply), 0);
    json = s_json (&reply);
    assert_int_equal (json_array_size (json_object_get (json, "results")), 0);
    json_decref (json);
    mg_http_reply_free (&reply);
}

static void
test_set_tier_is_an_operator_command (void **state)
{
    (void) state;
    char email [128], access [1024], refresh [128], auth [1200], id [64], key [64];
    s_email ("upgrade", email, sizeof email);
    s_register (email, "password-u");
    s_login (email, "password-u", access, refresh);
    s_create_key (access, "before", id, key);
    char command [512];
    snprintf (command, sizeof command, "%s/mg-admin set-tier %s pro >/dev/null", MG_BIN_DIR, email);
    assert_int_equal (system (command), 0);
    snprintf (command, sizeof command, "%s/mg-admin set-tier %s platinum 2>/dev/null", MG_BIN_DIR, email);
    assert_int_not_equal (system (command), 0);
    //  New tokens and the account's keys carry the new tier.
    s_login (email, "password-u", access, refresh);
    s_bearer (access, auth, sizeof auth);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("GET", "/api/v1/genres", auth, NULL, &reply), 0);
    char value [256];
    assert_true (mg_http_header (&reply, "RateLimit-Policy", value, sizeof value));
    assert_non_null (strstr (value, "\"pro-s\";q=40;w=1"));
    mg_http_reply_free (&reply);
    bool found;
    assert_int_equal (s_call ("GET", "/api/v1/auth/api-keys", auth, NULL, &reply), 0);
    assert_non_null (strstr (reply.body, "\"tier\":\"pro\""));
    mg_http_reply_free (&reply);
    (void) found;
}

static void
test_limiter_down_fails_open_or_closed_as_configured (void **state)
{
    fixture_t *f = *state;
    mg_test_stop (f->ratelimit, SIGKILL);
    f->ratelimit = -1;
    //  The broker drops the dead worker within a few heartbeats.
    usleep (1500 * 1000);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("GET", "/api/v1/genres", "", NULL, &reply), 0);
    assert_int_equal (reply.status, 200);
    char value [64];
    assert_false (mg_http_header (&reply, "X-RateLimit-Limit", value, sizeof value));
    mg_http_reply_free (&reply);
    assert_true (mg_http_metric (s_f->http_port, "mg_gateway_ratelimit_decisions_total{outcome=\"fail_open\"}") >= 1);
    //  A gateway told to fail closed answers 503 instead.
    const char *env [40];
    size_t n = 0;
    while (f->env [n]) {
        env [n] = f->env [n];
        n++;
    }
    char port_env [32];
    int port = mg_test_free_port ();
    snprintf (port_env, sizeof port_env, "MG_HTTP_PORT=%d", port);
    env [n++] = port_env;
    env [n++] = "MG_RATE_FAIL_OPEN=0";
    env [n] = NULL;
    pid_t closed = mg_test_spawn ("mg-gateway", env);
    int status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        if (mg_http_request (port, "GET", "/health", "", NULL, &reply, 1000) == 0)
            status = reply.status;
        mg_http_reply_free (&reply);
        if (status != 200)
            usleep (100 * 1000);
    }
    assert_int_equal (mg_http_request (port, "GET", "/api/v1/genres", "", NULL, &reply, TIMEOUT_MS), 0);
    s_assert_error (&reply, 503, "SERVICE_UNAVAILABLE");
    assert_true (mg_http_header (&reply, "Retry-After", value, sizeof value));
    mg_http_reply_free (&reply);
    mg_test_stop (closed, SIGTERM);
    f->ratelimit = mg_test_spawn ("mg-ratelimit", f->env);
    assert_int_equal (s_wait_ready (), 0);
    assert_int_equal (s_call ("GET", "/api/v1/genres", "", NULL, &reply), 0);
    assert_true (mg_http_header (&reply, "X-RateLimit-Limit", value, sizeof value));
    mg_http_reply_free (&reply);
}

static void
test_logs_hold_no_secrets (void **state)
{
    fixture_t *f = *state;
    FILE *log = fopen (f->log_path, "r");
    assert_non_null (log);
    //  Passwords, keys, refresh and access tokens, the signing secret.
    const char *secrets [] = { "alice-password", "bob-password", "the right one", "the wrong one",
                               "password-r", "mg_live_", "mgr_", "eyJ", SECRET, "example.com" };
    char line [4096];
    size_t lines = 0;
    while (fgets (line, sizeof line, log)) {
        lines++;
        for (size_t i = 0; i < sizeof secrets / sizeof secrets [0]; i++)
            if (strstr (line, secrets [i]))
                fail_msg ("a log line holds '%s': %s", secrets [i], line);
    }
    fclose (log);
    assert_true (lines > 10);       //  the processes did log (to this file)
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_register_then_duplicate_email_is_409),
        cmocka_unit_test (test_invalid_registrations_are_400_naming_the_field),
        cmocka_unit_test (test_wrong_passwords_are_401_then_the_login_is_throttled),
        cmocka_unit_test (test_refresh_rotates_and_a_reused_token_revokes_its_family),
        cmocka_unit_test (test_two_users_see_and_change_only_their_own_keys),
        cmocka_unit_test (test_bad_credentials_are_401_never_anonymous),
        cmocka_unit_test (test_requests_over_the_limit_are_429_with_headers),
        cmocka_unit_test (test_watchlist_devices_and_ops_belong_to_their_user),
        cmocka_unit_test (test_set_tier_is_an_operator_command),
        cmocka_unit_test (test_limiter_down_fails_open_or_closed_as_configured),
        cmocka_unit_test (test_logs_hold_no_secrets),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
