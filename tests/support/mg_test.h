/*  Helpers for tests that run real processes: free ports, spawning and
    killing the project's binaries, waiting for a condition.  */
#ifndef MG_TEST_H_INCLUDED
#define MG_TEST_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  CURVE on the bus for every stack a test starts, as in production: on
//  first use, a key directory of the test's own (removed at exit) with the
//  pairs scripts/keys makes (mg_curve_make_roles) and "test" (this
//  process: any service, for tests that act as workers) is exported as
//  MG_KEYS to the processes the test starts. MG_TEST_CURVE=0 in the
//  environment runs them in plaintext instead (MG_KEYS=off). Called by the
//  helpers below that start processes or connect; returns the directory, or
//  NULL when CURVE is off. A failure to make keys aborts the test.
const char *mg_test_keys (void);

//  A socket of type (ZMQ_DEALER, ZMQ_SUB, ZMQ_PUB, ...) connected to
//  endpoint as a CURVE client of the test's broker; a SUB subscribes to
//  topic (NULL: nothing yet). NULL on failure.
zsock_t *mg_test_socket (int type, const char *endpoint, const char *topic);

//  A TCP port on 127.0.0.1 that was free a moment ago.
int mg_test_free_port (void);

//  Start MG_BIN_DIR/<binary> with extra environment "K=V" strings
//  (NULL-terminated) added to ours; stdout/stderr go to the test's stderr.
//  Returns the pid, or -1.
pid_t mg_test_spawn (const char *binary, const char *const *env);

//  Run MG_BIN_DIR/<binary> with args (NULL-terminated, at most 14) and env
//  "K=V" strings (NULL-terminated) added to ours until it exits. True when
//  it exited 0.
bool mg_test_run (const char *binary, const char *const *env, char *const *args);

//  Send sig to pid (0: none, it was signalled already) and reap it (waits
//  up to 10 s, then SIGKILL).
//  Returns the exit status as waitpid reports it.
int mg_test_stop (pid_t pid, int sig);

//  kill (pid, sig) for a process the test started; -1 (ESRCH) without
//  signalling anything when pid is not one (0 or negative: kill would signal
//  a whole process group, or every process the tests may signal).
int mg_test_signal (pid_t pid, int sig);

//  A scratch database of its own for one test: created (dropped first if
//  left over) beside MG_PG_URL's, named prefix_<pid>. Fills url (its URL)
//  and returns a connection to the server's default database to drop it
//  with mg_test_drop_db; NULL when MG_PG_URL is unset or creation fails.
#include <libpq-fe.h>
PGconn *mg_test_scratch_db (const char *prefix, char *url, size_t url_size);

//  Migrate the database at url (MG_SQL_DIR) and run count SQL statements on
//  it. Returns 0, or -1 with the reason on stderr.
int mg_test_load_db (const char *url, const char *const *sql, size_t count);

//  Poll GET /ready on 127.0.0.1:port until it answers 200, up to timeout_ms.
//  Returns 0, or -1 when it did not.
int mg_test_wait_ready (int port, int timeout_ms);

//  Start mg-broker into *broker, then each of count binaries named in names
//  into pids (the gateway last), with env; wait until the gateway on port
//  is ready (timeout_ms). Returns 0, or -1 (stop them with mg_test_stack_stop).
int mg_test_stack_start (pid_t *broker, pid_t *pids, const char *const *names, size_t count,
                         const char *const *env, int port, int timeout_ms);

//  SIGTERM and reap the count pids (last first), then the broker.
void mg_test_stack_stop (pid_t *broker, pid_t *pids, size_t count);

//  Drop the scratch database of url and close admin (nulls *admin_p).
void mg_test_drop_db (PGconn **admin_p, const char *url);

#define MG_TEST_ENV_MAX  32          //  settings an env may hold

//  Settings for a stack of processes of its own (see mg_test_env_init).
typedef struct {
    char endpoint [64];               //  the broker's request endpoint
    char events [64];                 //  the broker's event endpoint for subscribers
    char publish [64];                //  the broker's event endpoint for publishers
    char text [MG_TEST_ENV_MAX][600];
    const char *envp [MG_TEST_ENV_MAX + 1];   //  NULL-terminated, for mg_test_spawn
    int count;
} mg_test_env_t;

//  Fresh broker and event ports (MG_BROKER, MG_BROKER_BIND, MG_EVENTS_PUB,
//  MG_EVENTS_PUB_BIND, MG_EVENTS_SUB_BIND, MG_EVENTS), MG_PG_URL=pg_url
//  (none when NULL) and a 100 ms heartbeat.
void mg_test_env_init (mg_test_env_t *self, const char *pg_url);

//  One more "NAME=value" setting, formatted.
void mg_test_env_add (mg_test_env_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  Wait until <service>.ping answers through endpoint, up to timeout_ms.
//  Returns 0, or -1 when it did not.
int mg_test_wait_service (const char *endpoint, const char *service, int timeout_ms);

//  Live workers of service as the broker behind client says (mmi.service);
//  0 when it does not answer.
struct mg_client_t;
uint64_t mg_test_workers (struct mg_client_t *client, const char *service);

//  Wait until service has want live workers, up to timeout_ms. True when it did.
bool mg_test_wait_workers (struct mg_client_t *client, const char *service, uint64_t want, int timeout_ms);

//  Wait until GET path on 127.0.0.1:port answers status, up to timeout_ms.
//  Returns 0, or -1 when it did not.
int mg_test_wait_http (int port, const char *path, int status, int timeout_ms);

//  Monotonic milliseconds.
int64_t mg_test_now_ms (void);

//  An end-to-end stack of a test's own (mg_test_stack_open): a scratch
//  database, optionally a Redis of its own, the broker, the pipeline when a
//  catalog is imported, every routed actor and one gateway.
typedef struct {
    const char *db;                 //  scratch database name prefix (required)
    bool redis;                     //  a redis-server of its own as MG_REDIS_URL
    const char *const *sql;         //  sql_count statements run in the migrated database first
    size_t sql_count;
    const char *import;             //  a catalog file mg-import --wait loads before the routed
                                    //  actors start (the search replica's first snapshot has it); NULL: none
    const char *const *settings;    //  more "NAME=value" settings, NULL-terminated (NULL: none)
    const char *model;              //  MG_EMBED_MODEL, removed on close (NULL: none)
    bool train;                     //  model made first by mg-embed-train --dims 2 from the database
    int timeout_ms;                 //  for each step of the start
} mg_test_stack_options_t;

#define MG_TEST_STACK_MAX 12        //  processes beside the broker and Redis

typedef struct {
    char url [512];                 //  the scratch database
    PGconn *admin;                  //  to drop it
    mg_test_env_t env;
    int http_port, redis_port;      //  redis_port 0 without a Redis of its own
    pid_t redis;                    //  a test that stops Redis itself sets it to 0
    bool redis_stopped;             //  SIGSTOPped by the test: SIGCONT before stopping it
    pid_t broker;
    pid_t pids [MG_TEST_STACK_MAX]; //  in start order, the gateway last
    size_t count;
    char model [256];               //  the options' model, "" when none
} mg_test_stack_t;

//  Start the stack options describe into self (zeroed first). Returns 0 once
//  the gateway's /ready is 200, or -1 (logged; mg_test_stack_close cleans up).
int mg_test_stack_open (mg_test_stack_t *self, const mg_test_stack_options_t *options);

//  Stop every process of self (gateway first), Redis, and drop the database.
void mg_test_stack_close (mg_test_stack_t *self);

//  A cmocka group setup of a fixture of fixture_size bytes (zeroed) whose
//  first member is its mg_test_stack_t: *state is the fixture with the stack
//  options describe open, or NULL with -1 (whatever started is stopped).
int mg_test_stack_setup (void **state, size_t fixture_size, const mg_test_stack_options_t *options);

//  The cmocka group teardown of such a fixture: closes its stack, frees it.
int mg_test_stack_teardown (void **state);

//  mg-import --wait of path into self's pipeline. Returns its exit status
//  (0: every record accepted), -1 when it could not run.
int mg_test_stack_import (mg_test_stack_t *self, const char *path);

//  A redis-server of the test's own on port (no persistence), in the
//  foreground, answering PING when this returns (or after 5 s); its pid, or
//  -1. Tests that stop or kill Redis use one so as not to touch the Redis
//  other tests share.
pid_t mg_test_redis_start (int port);

#endif
