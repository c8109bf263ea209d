/*  Security of sign-in end to end (issue 12): the JWT secret, per-client
    login throttling, connections left usable after a failed refresh,
    credentials that stop streams and requests as soon as they lapse, the
    API key list contract, retention of the accounts tables, and logs that
    hold no secret. Real mg-broker, mg-accounts, mg-sync and mg-gateway
    (more gateways where a test needs another secret), over HTTP.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_jwt.h"
#include "mg_pg.h"
#include "mg_sse.h"
#include "mg_test.h"

#define TIMEOUT_MS      5000
#define START_WAIT_MS   30000
#define SHIPPED_SECRET  "dev-only-secret-change-me-0123456789abcdef"  //  config/default.env before issue 12
#define LOGIN_FAILURES  3           //  MG_LOGIN_MAX_FAILURES of the fixture
#define LOCK_S          2           //  MG_LOGIN_LOCK_S
#define GLOBAL_FAILURES 12          //  MG_LOGIN_GLOBAL_FAILURES
#define LOCK_TIMEOUT_MS 1000        //  accounts' lock_timeout (item 4)
#define REVOKE_BOUND_MS 5000        //  a deleted key stops working within this (item 5)
#define SECRETS_MAX     64

typedef struct {
    mg_test_env_t env;
    char secret [80];               //  MG_JWT_SECRET of accounts and the gateway
    int http_port;
    pid_t broker, accounts, sync, gateway;
    char run [24];                  //  makes this run's emails unique
    char log_path [128];            //  stderr of the fixture's processes
    char *secrets [SECRETS_MAX];    //  every secret value the tests handled: none may be logged
    size_t nsecrets;
} fixture_t;

static fixture_t *s_f;

//  Remember a value that must not appear in any log.
static void
s_secret (const char *value)
{
    if (s_f->nsecrets < SECRETS_MAX && value && *value)
        s_f->secrets [s_f->nsecrets++] = strdup (value);
}

//  A fresh random secret (64 base64url characters) into out (80 bytes).
static void
s_random_secret (char *out)
{
    uint8_t random [48];
    randombytes_buf (random, sizeof random);
    sodium_bin2base64 (out, 80, random, sizeof random, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int
s_call_at (int port, const char *method, const char *path, const char *headers, const char *body,
           mg_http_reply_t *reply)
{
    return mg_http_request (port, method, path, headers, body, reply, TIMEOUT_MS);
}

static int
s_call (const char *method, const char *path, const char *headers, const char *body, mg_http_reply_t *reply)
{
    return s_call_at (s_f->http_port, method, path, headers, body, reply);
}

//  JSON body of reply (caller decrefs); fails the test when it is not JSON.
static json_t *
s_json (const mg_http_reply_t *reply)
{
    json_error_t error;
    json_t *json = json_loads (reply->body ? reply->body : "", 0, &error);
    if (!json)
        fail_msg ("not JSON (status %d): %s", reply->status, reply->body ? reply->body : "");
    return json;
}

//  Status of method path with headers and body (the reply is dropped).
static int
s_status (const char *method, const char *path, const char *headers, const char *body)
{
    mg_http_reply_t reply;
    if (s_call (method, path, headers, body, &reply))
        fail_msg ("no answer to %s %s", method, path);
    int status = reply.status;
    mg_http_reply_free (&reply);
    return status;
}

//  Unique email for name in this run, into out (128 bytes).
static void
s_email (const char *name, char *out)
{
    snprintf (out, 128, "%s-%s@example.com", name, s_f->run);
}

//  Register email with password; the user id into id (37 bytes).
static void
s_register (const char *email, const char *password, char *id)
{
    char body [512];
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    s_secret (password);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("POST", "/api/v1/auth/register", "", body, &reply), 0);
    if (reply.status != 201)
        fail_msg ("register: %d %s", reply.status, reply.body);
    json_t *json = s_json (&reply);
    snprintf (id, 37, "%s", json_string_value (json_object_get (json_object_get (json, "user"), "id")));
    json_decref (json);
    mg_http_reply_free (&reply);
}

//  A new user named name, password "<name>-password": its email into email
//  (128 bytes), its id into user_id (37 bytes).
static void
s_user (const char *name, char *email, char *user_id)
{
    char password [96];
    snprintf (password, sizeof password, "%s-password", name);
    s_email (name, email);
    s_register (email, password, user_id);
}

//  POST /auth/login from headers (e.g. an X-Forwarded-For); the reply.
static void
s_login_reply (const char *email, const char *password, const char *headers, mg_http_reply_t *reply)
{
    char body [512];
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    assert_int_equal (s_call ("POST", "/api/v1/auth/login", headers, body, reply), 0);
}

//  Log in (must succeed); "Authorization: Bearer ...\r\n" into auth (1200
//  bytes) and the refresh token into refresh (128 bytes, may be NULL).
static void
s_login (const char *email, const char *password, char *auth, char *refresh)
{
    mg_http_reply_t reply;
    s_login_reply (email, password, "", &reply);
    if (reply.status != 200)
        fail_msg ("login: %d %s", reply.status, reply.body);
    json_t *json = s_json (&reply);
    const char *access = json_string_value (json_object_get (json, "access_token"));
    snprintf (auth, 1200, "Authorization: Bearer %s\r\n", access);
    s_secret (access);
    s_secret (json_string_value (json_object_get (json, "refresh_token")));
    if (refresh)
        snprintf (refresh, 128, "%s", json_string_value (json_object_get (json, "refresh_token")));
    json_decref (json);
    mg_http_reply_free (&reply);
}

//  An access token for user_id signed with key, valid for ttl_s, as an
//  Authorization header line into auth (1200 bytes).
static void
s_forge (const char *key, const char *user_id, const char *tier, int64_t ttl_s, char *auth)
{
    mg_jwt_claims_t claims = { .iat = (int64_t) time (NULL) };
    claims.exp = claims.iat + ttl_s;
    snprintf (claims.sub, sizeof claims.sub, "%s", user_id);
    snprintf (claims.tier, sizeof claims.tier, "%s", tier);
    char token [MG_JWT_MAX_LEN];
    assert_int_equal (mg_jwt_sign ((const uint8_t *) key, strlen (key), &claims, token, sizeof token), 0);
    snprintf (auth, 1200, "Authorization: Bearer %s\r\n", token);
}

//  A device of the caller (auth); its id into id (37 bytes).
static void
s_device (const char *auth, const char *name, char *id)
{
    char body [128];
    snprintf (body, sizeof body, "{\"name\":\"%s\"}", name);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("POST", "/api/v1/me/devices", auth, body, &reply), 0);
    if (reply.status != 201)
        fail_msg ("add device: %d %s", reply.status, reply.body);
    json_t *json = s_json (&reply);
    snprintf (id, 37, "%s", json_string_value (json_object_get (json, "id")));
    json_decref (json);
    mg_http_reply_free (&reply);
}

//  A new API key of the caller (auth): its id (37 bytes) and "X-API-Key:" line (96 bytes).
static void
s_key (const char *auth, const char *name, char *id, char *header)
{
    char body [128];
    snprintf (body, sizeof body, "{\"name\":\"%s\"}", name);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("POST", "/api/v1/auth/api-keys", auth, body, &reply), 0);
    if (reply.status != 201)
        fail_msg ("create key: %d %s", reply.status, reply.body);
    json_t *json = s_json (&reply);
    snprintf (id, 37, "%s", json_string_value (json_object_get (json, "id")));
    snprintf (header, 96, "X-API-Key: %s\r\n", json_string_value (json_object_get (json, "key")));
    s_secret (json_string_value (json_object_get (json, "key")));
    json_decref (json);
    mg_http_reply_free (&reply);
}

//  Start binary with the fixture's settings but for its port and secret,
//  plus extra settings (NULL-ended): a process of its own. Its HTTP port
//  into *port (gateways). The caller stops the pid.
static pid_t
s_spawn (const char *binary, const char *const *extra, int *port)
{
    const char *env [MG_TEST_ENV_MAX + 8];
    size_t n = 0;
    for (int i = 0; s_f->env.envp [i]; i++)
        if (strncmp (s_f->env.envp [i], "MG_HTTP_PORT=", 13) != 0 && strncmp (s_f->env.envp [i], "MG_JWT_SECRET=", 14) != 0)
            env [n++] = s_f->env.envp [i];
    char port_text [32];
    *port = mg_test_free_port ();
    snprintf (port_text, sizeof port_text, "MG_HTTP_PORT=%d", *port);
    env [n++] = port_text;
    for (int i = 0; extra [i]; i++)
        env [n++] = extra [i];
    env [n] = NULL;
    pid_t pid = mg_test_spawn (binary, env);
    assert_true (pid > 0);
    return pid;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    pid_t *pids [] = { &f->gateway, &f->sync, &f->accounts, &f->broker };
    for (size_t i = 0; i < sizeof pids / sizeof pids [0]; i++)
        if (*pids [i] > 0)
            mg_test_stop (*pids [i], SIGTERM);
    for (size_t i = 0; i < f->nsecrets; i++)
        free (f->secrets [i]);
    unlink (f->log_path);
    free (f);
    return 0;
}

static int
group_setup (void **state)
{
    if (!getenv ("MG_PG_URL") || sodium_init () < 0) {
        fprintf (stderr, "MG_PG_URL must be set (scripts/test does)\n");
        return -1;
    }
    fixture_t *f = calloc (1, sizeof *f);
    s_f = f;
    *state = f;
    f->http_port = mg_test_free_port ();
    snprintf (f->run, sizeof f->run, "%ld%d", (long) time (NULL), (int) getpid ());
    s_random_secret (f->secret);
    //  A lock wait in accounts gives up after LOCK_TIMEOUT_MS (item 4).
    char pg_url [512];
    snprintf (pg_url, sizeof pg_url, "%s%soptions=-c%%20lock_timeout%%3D%d", getenv ("MG_PG_URL"),
              strchr (getenv ("MG_PG_URL"), '?') ? "&" : "?", LOCK_TIMEOUT_MS);
    mg_test_env_init (&f->env, pg_url);
    mg_test_env_add (&f->env, "MG_HTTP_PORT=%d", f->http_port);
    mg_test_env_add (&f->env, "MG_JWT_SECRET=%s", f->secret);
    mg_test_env_add (&f->env, "MG_RATE_ENABLED=0");
    mg_test_env_add (&f->env, "MG_TRUSTED_PROXIES=127.0.0.1");
    mg_test_env_add (&f->env, "MG_LOGIN_MAX_FAILURES=%d", LOGIN_FAILURES);
    mg_test_env_add (&f->env, "MG_LOGIN_LOCK_S=%d", LOCK_S);
    mg_test_env_add (&f->env, "MG_LOGIN_GLOBAL_FAILURES=%d", GLOBAL_FAILURES);
    mg_test_env_add (&f->env, "MG_LOGIN_GLOBAL_LOCK_S=%d", LOCK_S);
    //  One handler thread: "the next login on the same worker" (item 4).
    mg_test_env_add (&f->env, "MG_WORKER_THREADS=1");
    mg_test_env_add (&f->env, "MG_ACCOUNTS_RETENTION_EVERY_S=1");
    mg_test_env_add (&f->env, "MG_REQUEST_TIMEOUT_MS=4000");
    //  Argon2id at 16 MiB keeps the suite quick under ASan; production uses 64 MiB.
    mg_test_env_add (&f->env, "MG_PWHASH_MEMLIMIT_KIB=16384");
    s_secret (f->secret);
    //  The processes' logs go to a file, which the last test searches for secrets.
    snprintf (f->log_path, sizeof f->log_path, "/tmp/mg-e2e-auth-%d.log", (int) getpid ());
    int log_fd = open (f->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    int saved = dup (STDERR_FILENO);
    if (log_fd >= 0 && saved >= 0)
        dup2 (log_fd, STDERR_FILENO);
    //  Accounts first: its migrations done, sync's find nothing to wait for
    //  (a lock wait past lock_timeout would stop it).
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->accounts = mg_test_spawn ("mg-accounts", f->env.envp);
    bool started = mg_test_wait_service (f->env.endpoint, "accounts", START_WAIT_MS) == 0;
    if (started) {
        f->sync = mg_test_spawn ("mg-sync", f->env.envp);
        f->gateway = mg_test_spawn ("mg-gateway", f->env.envp);
    }
    if (log_fd >= 0 && saved >= 0)
        dup2 (saved, STDERR_FILENO);
    if (saved >= 0)
        close (saved);
    if (log_fd >= 0)
        close (log_fd);
    if (started && mg_test_wait_service (f->env.endpoint, "sync", START_WAIT_MS) == 0
    &&  mg_test_wait_http (f->http_port, "/health", 200, START_WAIT_MS) == 0)
        return 0;
    fprintf (stderr, "the stack did not start; its log:\n");
    FILE *log = fopen (f->log_path, "r");
    char line [1024];
    while (log && fgets (line, sizeof line, log))
        fputs (line, stderr);
    if (log)
        fclose (log);
    group_teardown (state);
    *state = NULL;
    return -1;
}

//  Exit status of binary started with extra settings (NULL-ended) once it
//  exits within START_WAIT_MS (-1 when it is still running then: killed).
static int
s_exit_status (const char *binary, const char *const *extra)
{
    int port;
    pid_t pid = s_spawn (binary, extra, &port);
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    int status = 0;
    while (mg_test_now_ms () < until) {
        pid_t done = waitpid (pid, &status, WNOHANG);
        if (done == pid)
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        usleep (50 * 1000);
    }
    mg_test_stop (pid, SIGKILL);
    return -1;
}

static void
test_issue12_item1_token_signed_with_the_shipped_secret_is_401 (void **state)
{
    (void) state;
    char email [128], user_id [37], auth [1200];
    s_user ("mint", email, user_id);
    //  A gateway configured the default way: config/default.env and the
    //  secret the installation made (here ctest's MG_JWT_SECRET_FILE).
    const char *none [] = { NULL };
    int port;
    pid_t pid = s_spawn ("mg-gateway", none, &port);
    assert_int_equal (mg_test_wait_http (port, "/health", 200, START_WAIT_MS), 0);
    //  What anyone could make from the string config/default.env shipped.
    s_forge (SHIPPED_SECRET, user_id, "enterprise", 600, auth);
    mg_http_reply_t reply;
    assert_int_equal (s_call_at (port, "GET", "/api/v1/me/devices", auth, NULL, &reply), 0);
    int status = reply.status;
    mg_http_reply_free (&reply);
    mg_test_stop (pid, SIGTERM);
    if (status != 401)
        fail_msg ("a token signed with the shipped secret got %d", status);
    //  On the fixture's gateway too; the same claims signed with its own secret pass.
    assert_int_equal (s_status ("GET", "/api/v1/me/devices", auth, NULL), 401);
    s_forge (s_f->secret, user_id, "free", 600, auth);
    assert_int_equal (s_status ("GET", "/api/v1/me/devices", auth, NULL), 200);
}

static void
test_issue12_item1_processes_refuse_to_start_with_a_placeholder_or_short_secret (void **state)
{
    (void) state;
    const char *shipped [] = { "MG_JWT_SECRET=" SHIPPED_SECRET, NULL };
    const char *short_one [] = { "MG_JWT_SECRET=only-twenty-bytes-long", NULL };
    const char *missing [] = { "MG_JWT_SECRET_FILE=/nonexistent/jwt_secret", NULL };
    int status = s_exit_status ("mg-gateway", shipped);
    if (status <= 0)
        fail_msg ("mg-gateway with the shipped secret: exit status %d", status);
    assert_true (s_exit_status ("mg-gateway", short_one) > 0);
    assert_true (s_exit_status ("mg-gateway", missing) > 0);
    assert_true (s_exit_status ("mg-accounts", shipped) > 0);
    assert_true (s_exit_status ("mg-accounts", short_one) > 0);
}

static void
test_issue12_item1_different_secrets_make_ready_503_naming_why (void **state)
{
    (void) state;
    char other [80], line [128];
    s_random_secret (other);
    snprintf (line, sizeof line, "MG_JWT_SECRET=%s", other);
    const char *extra [] = { line, NULL };
    int port;
    pid_t pid = s_spawn ("mg-gateway", extra, &port);
    assert_int_equal (mg_test_wait_http (port, "/health", 200, START_WAIT_MS), 0);
    bool named = false;
    mg_http_reply_t reply = { 0 };
    for (int64_t until = mg_test_now_ms () + START_WAIT_MS; !named && mg_test_now_ms () < until; ) {
        mg_http_reply_free (&reply);
        if (s_call_at (port, "GET", "/ready", "", NULL, &reply) == 0 && reply.status == 503 && reply.body
        &&  strstr (reply.body, "different JWT secrets"))
            named = true;
        else
            usleep (100 * 1000);
    }
    if (!named)
        fail_msg ("/ready of a gateway with another secret: %d %s", reply.status, reply.body ? reply.body : "");
    char value [16];
    assert_true (mg_http_header (&reply, "Retry-After", value, sizeof value));
    mg_http_reply_free (&reply);
    //  The fixture's gateway holds accounts' secret: /ready names no mismatch.
    assert_int_equal (s_call ("GET", "/ready", "", NULL, &reply), 0);
    assert_null (strstr (reply.body ? reply.body : "", "different JWT secrets"));
    mg_http_reply_free (&reply);
    mg_test_stop (pid, SIGTERM);
}

static void
test_issue12_item1_token_of_the_previous_secret_is_200_during_a_rotation (void **state)
{
    (void) state;
    char email [128], user_id [37], auth [1200], fresh [80], stranger [80];
    s_user ("rotate", email, user_id);
    s_random_secret (fresh);
    s_random_secret (stranger);
    char current_line [128], previous_line [128];
    snprintf (current_line, sizeof current_line, "MG_JWT_SECRET=%s", fresh);
    snprintf (previous_line, sizeof previous_line, "MG_JWT_SECRET_PREVIOUS=%s", s_f->secret);
    const char *extra [] = { current_line, previous_line, NULL };
    int port;
    pid_t pid = s_spawn ("mg-gateway", extra, &port);
    assert_int_equal (mg_test_wait_http (port, "/health", 200, START_WAIT_MS), 0);
    mg_http_reply_t reply;
    //  A token accounts signed (with what is now the previous secret).
    s_login (email, "rotate-password", auth, NULL);
    assert_int_equal (s_call_at (port, "GET", "/api/v1/me/devices", auth, NULL, &reply), 0);
    if (reply.status != 200)
        fail_msg ("a token of the previous secret: %d %s", reply.status, reply.body);
    mg_http_reply_free (&reply);
    s_forge (fresh, user_id, "free", 600, auth);
    assert_int_equal (s_call_at (port, "GET", "/api/v1/me/devices", auth, NULL, &reply), 0);
    assert_int_equal (reply.status, 200);
    mg_http_reply_free (&reply);
    s_forge (stranger, user_id, "free", 600, auth);
    assert_int_equal (s_call_at (port, "GET", "/api/v1/me/devices", auth, NULL, &reply), 0);
    assert_int_equal (reply.status, 401);
    mg_http_reply_free (&reply);
    mg_test_stop (pid, SIGTERM);
}

//  Login from client address ip with password; the status, and the
//  Retry-After value into *retry (0 when absent).
static int
s_login_from (const char *email, const char *password, const char *ip, int *retry)
{
    char headers [128];
    snprintf (headers, sizeof headers, "X-Forwarded-For: %s\r\n", ip);
    mg_http_reply_t reply;
    s_login_reply (email, password, headers, &reply);
    char value [32];
    *retry = mg_http_header (&reply, "Retry-After", value, sizeof value) ? atoi (value) : 0;
    int status = reply.status;
    mg_http_reply_free (&reply);
    return status;
}

static void
test_issue12_item3_failing_client_is_throttled_not_the_owner (void **state)
{
    (void) state;
    char email [128], user_id [37];
    s_user ("owner", email, user_id);
    s_secret ("wrong-guess-");
    int retry = 0, refused = 0;
    //  Client A fails 50 times: 401 until its limit, then 429 with Retry-After.
    for (int i = 0; i < 50; i++) {
        char guess [32];
        snprintf (guess, sizeof guess, "wrong-guess-%d", i);
        int status = s_login_from (email, guess, "198.51.100.1", &retry);
        if (i < LOGIN_FAILURES)
            assert_int_equal (status, 401);
        else {
            assert_int_equal (status, 429);
            assert_true (retry >= 1 && retry <= LOCK_S);
            refused++;
        }
    }
    assert_int_equal (refused, 50 - LOGIN_FAILURES);
    //  Client B, which has not been failing, logs in at once.
    assert_int_equal (s_login_from (email, "owner-password", "198.51.100.2", &retry), 200);
    //  A is throttled even with the right password...
    assert_int_equal (s_login_from (email, "owner-password", "198.51.100.1", &retry), 429);
    assert_true (retry >= 1);
    //  ...until its lock expires.
    usleep ((useconds_t) (LOCK_S * 1000 + 300) * 1000);
    assert_int_equal (s_login_from (email, "owner-password", "198.51.100.1", &retry), 200);
}

static void
test_issue12_item3_a_guess_spread_over_many_addresses_locks_each_guesser (void **state)
{
    (void) state;
    char email [128], user_id [37], ip [32];
    s_user ("spread", email, user_id);
    int retry;
    //  Many clients, each below its own limit, past the email's global one.
    for (int i = 0; i < GLOBAL_FAILURES; i++) {
        snprintf (ip, sizeof ip, "203.0.113.%d", 10 + i / (LOGIN_FAILURES - 1));
        assert_int_equal (s_login_from (email, "spread-guess", ip, &retry), 401);
    }
    //  Now one failure locks a new guesser at once...
    assert_int_equal (s_login_from (email, "spread-guess", "203.0.113.200", &retry), 401);
    assert_int_equal (s_login_from (email, "spread-password", "203.0.113.200", &retry), 429);
    //  ...and a client that has not been failing still gets in.
    assert_int_equal (s_login_from (email, "spread-password", "203.0.113.201", &retry), 200);
}

static void
test_issue12_item4_refresh_reuse_failure_leaves_the_worker_usable (void **state)
{
    (void) state;
    char email [128], user_id [37], auth [1200], first [128], second [128], body [256];
    s_user ("reuse", email, user_id);
    s_login (email, "reuse-password", auth, first);
    mg_http_reply_t reply;
    snprintf (body, sizeof body, "{\"refresh_token\":\"%s\"}", first);
    assert_int_equal (s_call ("POST", "/api/v1/auth/refresh", "", body, &reply), 0);
    assert_int_equal (reply.status, 200);
    json_t *json = s_json (&reply);
    snprintf (second, sizeof second, "%s", json_string_value (json_object_get (json, "refresh_token")));
    s_secret (second);
    json_decref (json);
    mg_http_reply_free (&reply);
    //  Another session holds the family's live token: revoking the family
    //  on reuse of the first waits for it, past accounts' lock_timeout.
    char reason [256];
    PGconn *pg = mg_pg_connect (getenv ("MG_PG_URL"), reason, sizeof reason);
    assert_non_null (pg);
    PGresult *res = PQexec (pg, "BEGIN");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);
    const char *params [] = { second };
    res = PQexecParams (pg, "SELECT 1 FROM refresh_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8')) FOR UPDATE",
                        1, NULL, params, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (res), 1);
    PQclear (res);
    assert_int_equal (s_call ("POST", "/api/v1/auth/refresh", "", body, &reply), 0);
    res = PQexec (pg, "ROLLBACK");
    PQclear (res);
    PQfinish (pg);
    //  The one worker of accounts serves the next login.
    s_login (email, "reuse-password", auth, NULL);
    //  The failed reuse was not the caller's fault: 503 with Retry-After
    //  (and the family is not revoked yet).
    if (reply.status != 503)
        fail_msg ("reuse while the family is locked: %d %s", reply.status, reply.body);
    char value [16];
    assert_true (mg_http_header (&reply, "Retry-After", value, sizeof value));
    mg_http_reply_free (&reply);
    //  And the reuse, tried again, revokes the family.
    assert_int_equal (s_call ("POST", "/api/v1/auth/refresh", "", body, &reply), 0);
    assert_int_equal (reply.status, 401);
    mg_http_reply_free (&reply);
    snprintf (body, sizeof body, "{\"refresh_token\":\"%s\"}", second);
    assert_int_equal (s_status ("POST", "/api/v1/auth/refresh", "", body), 401);
}

//  Read stream events until one of type comes (0), the stream ends (1) or
//  timeout_ms passes (-1).
static int
s_until_event (mg_sse_t *stream, const char *type, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    while (mg_test_now_ms () < until) {
        mg_sse_event_t event;
        int rc = mg_sse_next (stream, &event, (int) (until - mg_test_now_ms ()));
        if (rc)
            return rc;
        bool match = strcmp (event.type, type) == 0;
        mg_sse_event_free (&event);
        if (match)
            return 0;
    }
    return -1;
}

//  Open the stream of device with credentials (header lines); fails the test when refused.
static mg_sse_t *
s_stream (const char *credentials, const char *device)
{
    char headers [1400];
    snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\n", credentials, device);
    mg_http_reply_t reply;
    mg_sse_t *stream = mg_sse_open (s_f->http_port, "/api/v1/sync/stream", headers, &reply, TIMEOUT_MS);
    if (!stream)
        fail_msg ("stream refused: %d %s", reply.status, reply.body ? reply.body : "");
    return stream;
}

static void
test_issue12_item5_stream_ends_with_reauth_when_its_token_expires (void **state)
{
    (void) state;
    char email [128], user_id [37], auth [1200], device [37];
    s_user ("expiry", email, user_id);
    s_forge (s_f->secret, user_id, "free", 600, auth);
    s_device (auth, "tv", device);
    //  A token with 3 s left.
    s_forge (s_f->secret, user_id, "free", 3, auth);
    mg_sse_t *stream = s_stream (auth, device);
    int64_t opened = mg_test_now_ms ();
    int rc = s_until_event (stream, "reauth", 3000 + 5000);
    if (rc != 0)
        fail_msg ("no reauth event at token expiry (rc %d)", rc);
    //  Not before the token expired (whole seconds: at most 1 s early).
    assert_true (mg_test_now_ms () - opened >= 1000);
    //  Then the gateway closes the stream.
    mg_sse_event_t event;
    assert_int_equal (mg_sse_next (stream, &event, 3000), 1);
    mg_sse_close (&stream);
}

static void
test_issue12_item5_deleted_key_stops_on_rest_and_sse_within_5s (void **state)
{
    (void) state;
    char email [128], user_id [37], auth [1200], device [37], key_id [37], key [96], path [128];
    s_user ("revoke", email, user_id);
    s_login (email, "revoke-password", auth, NULL);
    s_device (auth, "laptop", device);
    s_key (auth, "ci", key_id, key);
    //  The key works (and is now in the gateway's key cache for 30 s).
    assert_int_equal (s_status ("GET", "/api/v1/me/devices", key, NULL), 200);
    mg_sse_t *stream = s_stream (key, device);
    snprintf (path, sizeof path, "/api/v1/auth/api-keys/%s", key_id);
    assert_int_equal (s_status ("DELETE", path, auth, NULL), 204);
    int64_t deleted = mg_test_now_ms ();
    int rc = s_until_event (stream, "reauth", REVOKE_BOUND_MS);
    if (rc < 0)
        fail_msg ("the key's stream still runs %d ms after the key was deleted", REVOKE_BOUND_MS);
    mg_sse_close (&stream);
    int status = 200;
    while (status == 200 && mg_test_now_ms () - deleted < REVOKE_BOUND_MS) {
        status = s_status ("GET", "/api/v1/me/devices", key, NULL);
        if (status == 200)
            usleep (100 * 1000);
    }
    if (status != 401)
        fail_msg ("a deleted key still gets %d after %d ms", status, REVOKE_BOUND_MS);
}

static void
test_issue12_item5_removed_device_stream_ends_and_writes_naming_it_are_refused (void **state)
{
    (void) state;
    char email [128], user_id [37], auth [1200], phone [37], tablet [37], path [128], headers [1400];
    s_user ("device", email, user_id);
    s_login (email, "device-password", auth, NULL);
    s_device (auth, "phone", phone);
    s_device (auth, "tablet", tablet);
    mg_sse_t *stream = s_stream (auth, phone);
    snprintf (path, sizeof path, "/api/v1/me/devices/%s", phone);
    assert_int_equal (s_status ("DELETE", path, auth, NULL), 204);
    int rc = s_until_event (stream, "device.removed", REVOKE_BOUND_MS);
    if (rc == 0)
        rc = s_until_event (stream, "never", REVOKE_BOUND_MS);
    assert_int_equal (rc, 1);       //  ended by the gateway
    mg_sse_close (&stream);
    //  A write that names the removed device is refused; the other device's is not.
    snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\n", auth, phone);
    int status = s_status ("PUT", "/api/v1/me/watchlist/00000000-0000-4000-8000-0000000000a1", headers, NULL);
    if (status < 400 || status >= 500)
        fail_msg ("a write naming a removed device got %d", status);
    snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\n", auth, tablet);
    assert_int_equal (s_status ("PUT", "/api/v1/me/watchlist/00000000-0000-4000-8000-0000000000a1", headers, NULL), 200);
}

//  GET /auth/api-keys?query as auth: the parsed body (caller decrefs) and status.
static json_t *
s_keys_page (const char *auth, const char *query, int *status)
{
    char path [128];
    snprintf (path, sizeof path, "/api/v1/auth/api-keys%s", query);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("GET", path, auth, NULL, &reply), 0);
    *status = reply.status;
    json_t *json = s_json (&reply);
    mg_http_reply_free (&reply);
    return json;
}

static void
test_issue12_item9_api_keys_list_has_total_page_and_per_page (void **state)
{
    (void) state;
    char email [128], user_id [37], auth [1200], ids [3][37], key [96];
    s_user ("pages", email, user_id);
    s_login (email, "pages-password", auth, NULL);
    for (int i = 0; i < 3; i++) {
        char name [16];
        snprintf (name, sizeof name, "key %d", i);
        s_key (auth, name, ids [i], key);
    }
    int status;
    json_t *json = s_keys_page (auth, "", &status);
    assert_int_equal (status, 200);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 3);
    assert_int_equal (json_integer_value (json_object_get (json, "page")), 1);
    assert_int_equal (json_integer_value (json_object_get (json, "per_page")), 20);
    assert_int_equal (json_array_size (json_object_get (json, "results")), 3);
    json_decref (json);
    //  Newest first, two a page.
    json = s_keys_page (auth, "?page=1&per_page=2", &status);
    assert_int_equal (status, 200);
    json_t *results = json_object_get (json, "results");
    assert_int_equal (json_array_size (results), 2);
    assert_string_equal (json_string_value (json_object_get (json_array_get (results, 0), "id")), ids [2]);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 3);
    json_decref (json);
    json = s_keys_page (auth, "?page=2&per_page=2", &status);
    results = json_object_get (json, "results");
    assert_int_equal (json_array_size (results), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (results, 0), "id")), ids [0]);
    assert_int_equal (json_integer_value (json_object_get (json, "page")), 2);
    json_decref (json);
    json = s_keys_page (auth, "?page=9&per_page=2", &status);
    assert_int_equal (status, 200);
    assert_int_equal (json_array_size (json_object_get (json, "results")), 0);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 3);
    json_decref (json);
    const char *bad [] = { "?page=0", "?per_page=0", "?per_page=101", "?page=x", "?limit=3" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        json = s_keys_page (auth, bad [i], &status);
        if (status != 400)
            fail_msg ("%s: %d", bad [i], status);
        assert_string_equal (json_string_value (json_object_get (json_object_get (json, "error"), "code")),
                             "INVALID_PARAMETER");
        json_decref (json);
    }
}

//  Rows of sql (one count) on pg.
static long
s_count (PGconn *pg, const char *sql, const char *param)
{
    const char *params [] = { param };
    PGresult *res = PQexecParams (pg, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    long n = atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    return n;
}

static void
test_issue12_item8_retention_deletes_dead_tokens_and_old_failures_only (void **state)
{
    (void) state;
    char email [128], user_id [37], auth [1200], refresh [128];
    s_user ("retain", email, user_id);
    s_login (email, "retain-password", auth, refresh);
    char reason [256];
    PGconn *pg = mg_pg_connect (getenv ("MG_PG_URL"), reason, sizeof reason);
    assert_non_null (pg);
    const char *params [] = { user_id, email };
    //  Dead: expired 2 days ago, revoked 2 days ago. Kept: a live family's
    //  rotated token (still unexpired), a token expired an hour ago (inside
    //  the keep window), the login's own. Throttle rows: one quiet for 2
    //  days (deleted), one as old but still locked, one fresh (kept).
    PGresult *res = PQexecParams (pg,
        "WITH f AS (SELECT gen_random_uuid() AS dead, gen_random_uuid() AS live) "
        "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at, rotated_at, revoked_at, created_at) "
        "SELECT sha256(gen_random_uuid()::text::bytea), $1::uuid, f.dead, now() - interval '2 days', NULL::timestamptz, NULL::timestamptz, now() - interval '32 days' FROM f UNION ALL "
        "SELECT sha256(gen_random_uuid()::text::bytea), $1::uuid, f.dead, now() + interval '20 days', NULL, now() - interval '2 days', now() - interval '10 days' FROM f UNION ALL "
        "SELECT sha256(gen_random_uuid()::text::bytea), $1::uuid, f.live, now() + interval '20 days', now() - interval '9 days', NULL, now() - interval '10 days' FROM f UNION ALL "
        "SELECT sha256(gen_random_uuid()::text::bytea), $1::uuid, f.live, now() - interval '1 hour', NULL, NULL, now() - interval '30 days' FROM f", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        fail_msg ("insert tokens: %s", PQresultErrorMessage (res));
    assert_string_equal (PQcmdTuples (res), "4");
    PQclear (res);
    res = PQexecParams (pg,
        "INSERT INTO login_failures (email, client, failures, locked_until, updated_at) VALUES "
        "(lower($1), 'ip:192.0.2.1', 2, NULL, now() - interval '2 days'), "
        "(lower($1), 'ip:192.0.2.2', 9, now() + interval '1 hour', now() - interval '2 days'), "
        "(lower($1), 'ip:192.0.2.3', 1, NULL, now())", 1, NULL, params + 1, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        fail_msg ("insert failures: %s", PQresultErrorMessage (res));
    assert_string_equal (PQcmdTuples (res), "3");
    PQclear (res);
    //  The job runs every second in this stack.
    int64_t until = mg_test_now_ms () + 10000;
    long tokens = 5;
    while (tokens != 3 && mg_test_now_ms () < until) {
        usleep (200 * 1000);
        tokens = s_count (pg, "SELECT count(*) FROM refresh_tokens WHERE user_id = $1::uuid", user_id);
    }
    if (tokens != 3)
        fail_msg ("refresh tokens left: %ld (expected 3)", tokens);
    //  No token past the window is left anywhere; the live family is whole.
    assert_int_equal (s_count (pg, "SELECT count(*) FROM refresh_tokens WHERE expires_at < now() - interval '1 day' "
                                   "OR revoked_at < now() - interval '1 day'", NULL), 0);
    char body [256];
    snprintf (body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh);
    assert_int_equal (s_status ("POST", "/api/v1/auth/refresh", "", body), 200);
    assert_int_equal (s_count (pg, "SELECT count(*) FROM login_failures WHERE email = lower($1)", email), 2);
    assert_int_equal (s_count (pg, "SELECT count(*) FROM login_failures WHERE email = lower($1) "
                                   "AND client = 'ip:192.0.2.1'", email), 0);
    PQfinish (pg);
}

static void
test_issue12_logs_hold_no_secrets (void **state)
{
    fixture_t *f = *state;
    //  One more full flow, so that every kind of secret went through the processes.
    char email [128], user_id [37], auth [1200], refresh [128], key_id [37], key [96], body [256];
    s_user ("logs", email, user_id);
    s_login (email, "logs-password", auth, refresh);
    snprintf (body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh);
    assert_int_equal (s_status ("POST", "/api/v1/auth/refresh", "", body), 200);
    assert_int_equal (s_status ("POST", "/api/v1/auth/refresh", "", body), 401);
    s_key (auth, "logs", key_id, key);
    assert_int_equal (s_status ("GET", "/api/v1/me/devices", key, NULL), 200);
    FILE *log = fopen (f->log_path, "r");
    assert_non_null (log);
    char line [8192];
    size_t lines = 0;
    while (fgets (line, sizeof line, log)) {
        lines++;
        for (size_t i = 0; i < f->nsecrets; i++)
            if (strstr (line, f->secrets [i]))
                fail_msg ("a log line holds a secret (%.6s...): %s", f->secrets [i], line);
        //  No token, key or email in any shape.
        const char *shapes [] = { "eyJ", "mgr_", "mg_live_", "@example.com" };
        for (size_t i = 0; i < sizeof shapes / sizeof shapes [0]; i++)
            if (strstr (line, shapes [i]))
                fail_msg ("a log line holds '%s': %s", shapes [i], line);
    }
    fclose (log);
    assert_true (f->nsecrets > 10);
    assert_true (lines > 5);        //  the processes did log (to this file)
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_issue12_item1_token_signed_with_the_shipped_secret_is_401),
        cmocka_unit_test (test_issue12_item1_processes_refuse_to_start_with_a_placeholder_or_short_secret),
        cmocka_unit_test (test_issue12_item1_different_secrets_make_ready_503_naming_why),
        cmocka_unit_test (test_issue12_item1_token_of_the_previous_secret_is_200_during_a_rotation),
        cmocka_unit_test (test_issue12_item3_failing_client_is_throttled_not_the_owner),
        cmocka_unit_test (test_issue12_item3_a_guess_spread_over_many_addresses_locks_each_guesser),
        cmocka_unit_test (test_issue12_item4_refresh_reuse_failure_leaves_the_worker_usable),
        cmocka_unit_test (test_issue12_item5_stream_ends_with_reauth_when_its_token_expires),
        cmocka_unit_test (test_issue12_item5_deleted_key_stops_on_rest_and_sse_within_5s),
        cmocka_unit_test (test_issue12_item5_removed_device_stream_ends_and_writes_naming_it_are_refused),
        cmocka_unit_test (test_issue12_item9_api_keys_list_has_total_page_and_per_page),
        cmocka_unit_test (test_issue12_item8_retention_deletes_dead_tokens_and_old_failures_only),
        cmocka_unit_test (test_issue12_logs_hold_no_secrets),
    };
    //  CMOCKA_TEST_FILTER / CMOCKA_SKIP_FILTER (globs of test names) run a part.
    if (getenv ("CMOCKA_TEST_FILTER"))
        cmocka_set_test_filter (getenv ("CMOCKA_TEST_FILTER"));
    if (getenv ("CMOCKA_SKIP_FILTER"))
        cmocka_set_skip_filter (getenv ("CMOCKA_SKIP_FILTER"));
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
