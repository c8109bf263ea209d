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

//  Monotonic milliseconds.
int64_t mg_test_now_ms (void);

#endif
