/*  Helpers for tests that run real processes: free ports, spawning and
    killing the project's binaries, waiting for a condition.  */
#ifndef MG_TEST_H_INCLUDED
#define MG_TEST_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  A TCP port on 127.0.0.1 that was free a moment ago.
int mg_test_free_port (void);

//  Start MG_BIN_DIR/<binary> with extra environment "K=V" strings
//  (NULL-terminated) added to ours; stdout/stderr go to the test's stderr.
//  Returns the pid, or -1.
pid_t mg_test_spawn (const char *binary, const char *const *env);

//  Send sig to pid (0: none, it was signalled already) and reap it (waits
//  up to 10 s, then SIGKILL).
//  Returns the exit status as waitpid reports it.
int mg_test_stop (pid_t pid, int sig);

//  A scratch database of its own for one test: created (dropped first if
//  left over) beside MG_PG_URL's, named prefix_<pid>. Fills url (its URL)
//  and returns a connection to the server's default database to drop it
//  with mg_test_drop_db; NULL when MG_PG_URL is unset or creation fails.
#include <libpq-fe.h>
PGconn *mg_test_scratch_db (const char *prefix, char *url, size_t url_size);

//  Drop the scratch database of url and close admin (nulls *admin_p).
void mg_test_drop_db (PGconn **admin_p, const char *url);

#define MG_TEST_ENV_MAX  24          //  settings an env may hold

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

//  Wait until GET path on 127.0.0.1:port answers status, up to timeout_ms.
//  Returns 0, or -1 when it did not.
int mg_test_wait_http (int port, const char *path, int status, int timeout_ms);

//  Monotonic milliseconds.
int64_t mg_test_now_ms (void);

#endif
