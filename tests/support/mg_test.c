#include "mg_test.h"
#include "mg_pg.h"
#include "mg_client.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_http.h"

#include <stdarg.h>

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TEST_ROLE "test"          //  this process's role: may register any service

static char s_keys [64];
static bool s_keys_done;

//  Remove the test's key directory (atexit).
static void
s_keys_remove (void)
{
    zdir_t *dir = zdir_new (s_keys, NULL);
    if (dir)
        zdir_remove (dir, true);
    zdir_destroy (&dir);
}

const char *
mg_test_keys (void)
{
    if (s_keys_done)
        return s_keys [0] ? s_keys : NULL;
    s_keys_done = true;
    const char *curve = getenv ("MG_TEST_CURVE");
    if (curve && strcmp (curve, "0") == 0) {
        fprintf (stderr, "MG_TEST_CURVE=0: the bus runs in plaintext\n");
        setenv ("MG_KEYS", "off", 1);
        return NULL;
    }
    char err [512] = "";
    snprintf (s_keys, sizeof s_keys, "/tmp/mg-test-keys-XXXXXX");
    const char *procfile = MG_SOURCE_DIR "/Procfile";
    bool made = mkdtemp (s_keys) && mg_curve_make_roles (s_keys, procfile, err, sizeof err) == 0
             && mg_curve_make (s_keys, TEST_ROLE, "*", err, sizeof err) == 0;
    if (!made) {
        fprintf (stderr, "cannot make the test's CURVE keys in %s: %s\n", s_keys, err);
        abort ();
    }
    atexit (s_keys_remove);
    setenv ("MG_KEYS", s_keys, 1);
    mg_curve_set_role (TEST_ROLE);
    return s_keys;
}

zsock_t *
mg_test_socket (int type, const char *endpoint, const char *topic)
{
    mg_test_keys ();
    zsock_t *sock = zsock_new (type);
    if (!sock || mg_curve_client (sock) || zsock_connect (sock, "%s", endpoint)) {
        zsock_destroy (&sock);
        return NULL;
    }
    if (type == ZMQ_SUB && topic)
        zsock_set_subscribe (sock, topic);
    return sock;
}

int
mg_test_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0
    &&  getsockname (fd, (struct sockaddr *) &addr, &len) == 0)
        port = ntohs (addr.sin_port);
    close (fd);
    return port;
}

pid_t
mg_test_spawn (const char *binary, const char *const *env)
{
    char path [1024];
    int n = snprintf (path, sizeof path, "%s/%s", MG_BIN_DIR, binary);
    if (n < 0 || (size_t) n >= sizeof path)
        return -1;
    mg_test_keys ();
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    for (const char *const *e = env; e && *e; e++)
        if (putenv ((char *) *e) != 0)
            _exit (126);
    char *argv [] = { path, NULL };
    execve (path, argv, environ);
    perror ("execve");
    _exit (127);
}

bool
mg_test_run (const char *binary, const char *const *env, char *const *args)
{
    char path [1024];
    int n = snprintf (path, sizeof path, "%s/%s", MG_BIN_DIR, binary);
    if (n < 0 || (size_t) n >= sizeof path)
        return false;
    mg_test_keys ();
    pid_t pid = fork ();
    if (pid == 0) {
        for (const char *const *e = env; e && *e; e++)
            if (putenv ((char *) *e) != 0)
                _exit (126);
        char *argv [16] = { path };
        for (int i = 0; args && args [i] && i < 14; i++)
            argv [i + 1] = args [i];
        execv (path, argv);
        _exit (127);
    }
    int status = 0;
    return pid > 0 && waitpid (pid, &status, 0) == pid && WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

int
mg_test_load_db (const char *url, const char *const *sql, size_t count)
{
    char err [256];
    PGconn *pg = mg_pg_connect (url, err, sizeof err);
    bool ok = pg && mg_pg_migrate (pg, mg_config_str ("MG_SQL_DIR", "config/sql"), err, sizeof err) >= 0;
    if (!ok)
        fprintf (stderr, "migrations: %s\n", err);
    for (size_t i = 0; ok && i < count; i++) {
        PGresult *res = PQexec (pg, sql [i]);
        ok = PQresultStatus (res) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf (stderr, "statement %zu: %s", i, PQresultErrorMessage (res));
        PQclear (res);
    }
    PQfinish (pg);
    return ok ? 0 : -1;
}

int
mg_test_wait_ready (int port, int timeout_ms)
{
    return mg_test_wait_http (port, "/ready", 200, timeout_ms);
}

int
mg_test_stack_start (pid_t *broker, pid_t *pids, const char *const *names, size_t count,
                     const char *const *env, int port, int timeout_ms)
{
    *broker = mg_test_spawn ("mg-broker", env);
    for (size_t i = 0; i < count; i++)
        pids [i] = mg_test_spawn (names [i], env);
    return mg_test_wait_ready (port, timeout_ms);
}

int
mg_test_stack_setup (void **state, size_t fixture_size, const mg_test_stack_options_t *options)
{
    assert (state && fixture_size >= sizeof (mg_test_stack_t));
    mg_test_stack_t *stack = calloc (1, fixture_size);
    *state = stack;
    if (stack && mg_test_stack_open (stack, options) == 0)
        return 0;
    if (stack)
        mg_test_stack_close (stack);
    free (stack);
    *state = NULL;
    return -1;
}

int
mg_test_stack_teardown (void **state)
{
    mg_test_stack_t *stack = *state;
    if (stack) {
        mg_test_stack_close (stack);
        free (stack);
        *state = NULL;
    }
    return 0;
}

int
mg_test_stack_import (mg_test_stack_t *self, const char *path)
{
    char command [1200];
    int n = snprintf (command, sizeof command, "MG_BROKER=%s %s/mg-import --wait %s >&2",
                      self->env.endpoint, MG_BIN_DIR, path);
    if (n < 0 || (size_t) n >= sizeof command)
        return -1;
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  Start binary into self's next slot; with service, wait until it answers.
static int
s_stack_spawn (mg_test_stack_t *self, const char *binary, const char *service, int timeout_ms)
{
    if (self->count == MG_TEST_STACK_MAX)
        return -1;
    pid_t pid = mg_test_spawn (binary, self->env.envp);
    self->pids [self->count++] = pid;
    if (pid < 0 || (service && mg_test_wait_service (self->env.endpoint, service, timeout_ms))) {
        fprintf (stderr, "%s did not start\n", binary);
        return -1;
    }
    return 0;
}

int
mg_test_stack_open (mg_test_stack_t *self, const mg_test_stack_options_t *options)
{
    assert (self && options && options->db);
    memset (self, 0, sizeof *self);
    self->admin = mg_test_scratch_db (options->db, self->url, sizeof self->url);
    if (!self->admin || (options->sql_count && mg_test_load_db (self->url, options->sql, options->sql_count)))
        return -1;
    mg_test_env_init (&self->env, self->url);
    if (options->redis) {
        self->redis_port = mg_test_free_port ();
        self->redis = mg_test_redis_start (self->redis_port);
        if (self->redis < 0)
            return -1;
        mg_test_env_add (&self->env, "MG_REDIS_URL=redis://127.0.0.1:%d", self->redis_port);
    }
    self->http_port = mg_test_free_port ();
    mg_test_env_add (&self->env, "MG_HTTP_PORT=%d", self->http_port);
    for (const char *const *setting = options->settings; setting && *setting; setting++)
        mg_test_env_add (&self->env, "%s", *setting);
    if (options->model) {
        snprintf (self->model, sizeof self->model, "%s", options->model);
        mg_test_env_add (&self->env, "MG_EMBED_MODEL=%s", self->model);
        if (options->train && !mg_test_run ("mg-embed-train", self->env.envp, (char *[]) { "--dims", "2", NULL })) {
            fprintf (stderr, "mg-embed-train failed\n");
            return -1;
        }
    }
    self->broker = mg_test_spawn ("mg-broker", self->env.envp);
    //  The indexer migrates the database; the resolver then loads from it;
    //  the import goes through both before the search replica's snapshot.
    static const char *const pipeline [][2] = { { "mg-indexer", "indexer" }, { "mg-resolver", "resolver" } };
    static const char *const routed [] = {
        "mg-search", "mg-catalog", "mg-accounts", "mg-ratelimit", "mg-sync", "mg-alerts"
    };
    int rc = 0;
    if (options->import) {
        for (size_t i = 0; rc == 0 && i < 2; i++)
            rc = s_stack_spawn (self, pipeline [i][0], pipeline [i][1], options->timeout_ms);
        if (rc == 0 && mg_test_stack_import (self, options->import) != 0) {
            fprintf (stderr, "mg-import %s failed\n", options->import);
            rc = -1;
        }
    }
    else
        rc = s_stack_spawn (self, "mg-resolver", NULL, 0);
    for (size_t i = 0; rc == 0 && i < sizeof routed / sizeof routed [0]; i++)
        rc = s_stack_spawn (self, routed [i], NULL, 0);
    if (rc == 0)
        rc = s_stack_spawn (self, "mg-gateway", NULL, 0);
    if (rc == 0 && mg_test_wait_ready (self->http_port, options->timeout_ms)) {
        fprintf (stderr, "the gateway did not become ready\n");
        rc = -1;
    }
    return rc;
}

void
mg_test_stack_close (mg_test_stack_t *self)
{
    assert (self);
    if (self->redis_stopped && self->redis > 0)
        kill (self->redis, SIGCONT);
    mg_test_stack_stop (&self->broker, self->pids, self->count);
    self->count = 0;
    if (self->redis > 0)
        mg_test_stop (self->redis, SIGTERM);
    self->redis = 0;
    if (*self->model)
        remove (self->model);
    mg_test_drop_db (&self->admin, self->url);
}

void
mg_test_stack_stop (pid_t *broker, pid_t *pids, size_t count)
{
    for (size_t i = count; i-- > 0; )
        if (pids [i] > 0) {
            mg_test_stop (pids [i], SIGTERM);
            pids [i] = 0;
        }
    if (*broker > 0) {
        mg_test_stop (*broker, SIGTERM);
        *broker = 0;
    }
}

int
mg_test_signal (pid_t pid, int sig)
{
    if (pid <= 0) {
        fprintf (stderr, "mg_test_signal: no process (pid %d): signal %d not sent\n", (int) pid, sig);
        errno = ESRCH;
        return -1;
    }
    return kill (pid, sig);
}

int
mg_test_stop (pid_t pid, int sig)
{
    int status = 0;
    if (pid <= 0)
        return -1;
    if (sig)
        kill (pid, sig);
    for (int i = 0; i < 1000; i++) {
        pid_t r = waitpid (pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        usleep (10 * 1000);
    }
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
    return status;
}

int64_t
mg_test_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Name of the database in url (after the last '/'), or NULL.
static const char *
s_db_name (const char *url)
{
    const char *slash = strrchr (url, '/');
    return slash && slash [1] ? slash + 1 : NULL;
}

PGconn *
mg_test_scratch_db (const char *prefix, char *url, size_t url_size)
{
    const char *base = getenv ("MG_PG_URL");
    if (!base) {
        fprintf (stderr, "MG_PG_URL is not set (run through scripts/test)\n");
        return NULL;
    }
    const char *slash = strrchr (base, '/');
    if (!slash)
        return NULL;
    char err [256];
    PGconn *admin = mg_pg_connect (base, err, sizeof err);
    if (!admin) {
        fprintf (stderr, "cannot connect to %s: %s\n", base, err);
        return NULL;
    }
    int n = snprintf (url, url_size, "%.*s/%s_%d", (int) (slash - base), base, prefix, (int) getpid ());
    char sql [160];
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s", s_db_name (url));
    PQclear (PQexec (admin, sql));
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", s_db_name (url));
    PGresult *res = PQexec (admin, sql);
    bool created = n > 0 && (size_t) n < url_size && PQresultStatus (res) == PGRES_COMMAND_OK;
    PQclear (res);
    if (!created) {
        PQfinish (admin);
        return NULL;
    }
    return admin;
}

void
mg_test_drop_db (PGconn **admin_p, const char *url)
{
    if (!*admin_p)
        return;
    char sql [160];
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s", s_db_name (url));
    PQclear (PQexec (*admin_p, sql));
    PQfinish (*admin_p);
    *admin_p = NULL;
}

void
mg_test_env_add (mg_test_env_t *self, const char *fmt, ...)
{
    if (self->count == MG_TEST_ENV_MAX)
        abort ();                       //  a test asking for more settings than it has room for
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->text [self->count], sizeof self->text [0], fmt, args);
    va_end (args);
    self->envp [self->count] = self->text [self->count];
    self->count++;
    self->envp [self->count] = NULL;
}

void
mg_test_env_init (mg_test_env_t *self, const char *pg_url)
{
    memset (self, 0, sizeof *self);
    mg_test_keys ();
    snprintf (self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (self->events, sizeof self->events, "tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (self->publish, sizeof self->publish, "tcp://127.0.0.1:%d", mg_test_free_port ());
    mg_test_env_add (self, "MG_BROKER=%s", self->endpoint);
    mg_test_env_add (self, "MG_BROKER_BIND=%s", self->endpoint);
    mg_test_env_add (self, "MG_EVENTS_PUB=%s", self->publish);
    mg_test_env_add (self, "MG_EVENTS_PUB_BIND=%s", self->publish);
    mg_test_env_add (self, "MG_EVENTS_SUB_BIND=%s", self->events);
    mg_test_env_add (self, "MG_EVENTS=%s", self->events);
    if (pg_url)
        mg_test_env_add (self, "MG_PG_URL=%s", pg_url);
    mg_test_env_add (self, "MG_HEARTBEAT_MS=100");
}

int
mg_test_wait_service (const char *endpoint, const char *service, int timeout_ms)
{
    mg_test_keys ();
    mg_client_t *client = mg_client_new (endpoint);
    char method [96];
    snprintf (method, sizeof method, "%s.ping", service);
    int64_t until = mg_test_now_ms () + timeout_ms;
    int rc = -1;
    while (client && rc && mg_test_now_ms () < until) {
        mg_ping_reply_t pong = { 0 };
        mg_error_t err = { 0 };
        rc = mg_client_call (client, method, NULL, NULL, &mg_ping_reply_desc, &pong, 1000, &err);
        mg_msg_clear (&mg_ping_reply_desc, &pong);
        mg_msg_clear (&mg_error_desc, &err);
        if (rc)
            usleep (50 * 1000);
    }
    mg_client_destroy (&client);
    return rc;
}

uint64_t
mg_test_workers (mg_client_t *client, const char *service)
{
    mg_mmi_service_request_t query = { .service = (char *) service };
    mg_mmi_service_reply_t reply = { 0 };
    mg_error_t err = { 0 };
    uint64_t workers = 0;
    if (mg_client_call (client, "mmi.service", &mg_mmi_service_request_desc, &query,
                        &mg_mmi_service_reply_desc, &reply, 2000, &err) == 0)
        workers = reply.workers;
    mg_msg_clear (&mg_mmi_service_reply_desc, &reply);
    mg_msg_clear (&mg_error_desc, &err);
    return workers;
}

bool
mg_test_wait_workers (mg_client_t *client, const char *service, uint64_t want, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    while (mg_test_now_ms () < until) {
        if (mg_test_workers (client, service) == want)
            return true;
        usleep (50 * 1000);
    }
    return false;
}

pid_t
mg_test_redis_start (int port)
{
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char text [16];
        snprintf (text, sizeof text, "%d", port);
        execlp ("redis-server", "redis-server", "--port", text, "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--loglevel", "warning", (char *) NULL);
        _exit (127);
    }
    for (int i = 0; i < 100; i++) {
        redisContext *c = redisConnect ("127.0.0.1", port);
        redisReply *reply = c && !c->err ? redisCommand (c, "PING") : NULL;
        bool up = reply && reply->type == REDIS_REPLY_STATUS;
        if (reply)
            freeReplyObject (reply);
        if (c)
            redisFree (c);
        if (up)
            break;
        usleep (50 * 1000);
    }
    return pid;
}

int
mg_test_wait_http (int port, const char *path, int status, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    while (mg_test_now_ms () < until) {
        mg_http_reply_t reply;
        int rc = mg_http_request (port, "GET", path, "", NULL, &reply, 1000);
        bool done = rc == 0 && reply.status == status;
        mg_http_reply_free (&reply);
        if (done)
            return 0;
        usleep (100 * 1000);
    }
    return -1;
}
