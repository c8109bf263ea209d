/*  A whole stack as scripts/run starts it, for tests that break it: a
    PostgreSQL and a Redis of its own, and the project's processes under the
    s6 supervision tree of scripts/supervise, all on private ports in a
    private folder so that nothing collides with other tests or the dev
    stack.  */
#ifndef MG_STACK_H_INCLUDED
#define MG_STACK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mg_test.h"

typedef struct {
    char dir [128];                 //  private folder: pg/, service/, log/
    char pg_url [160];
    int pg_port, redis_port, http_port;
    mg_test_env_t env;              //  what every process of the stack sees
    bool pg_started, tree_started;
    int watchdog_fd;                //  write end of the watchdog's pipe, -1: none
    pid_t watchdog;
} mg_stack_t;

//  Fresh folder, ports and settings (tag names the folder); starts the
//  private PostgreSQL, and a watchdog that stops everything if the test
//  dies without mg_stack_stop (a crash, a ctest timeout). Returns 0, or -1.
int mg_stack_init (mg_stack_t *self, const char *tag);

//  Start the supervision tree over names: "redis" (a Redis on redis_port,
//  not persisted) or an actor name ("broker", "search", ... run as
//  MG_BIN_DIR/mg-<name>); a name may carry a replica suffix digit
//  ("search1"). Returns 0, or -1.
int mg_stack_start (mg_stack_t *self, const char *const *names, size_t count);

//  Stop the tree and every process of it, PostgreSQL, and remove the folder
//  (kept when MG_STACK_KEEP=1, to read the logs).
void mg_stack_stop (mg_stack_t *self);

//  Pids of the live processes of this stack whose program is comm (the
//  basename of argv[0]; NULL: any) and, when arg is not NULL, whose argv[1]
//  is arg. Fills at most max; returns how many there are.
int mg_stack_pids (mg_stack_t *self, const char *comm, const char *arg, pid_t *pids, int max);

//  Pid of the process of service (a Procfile name) as its supervisor
//  reports it, -1 when it is down or unknown.
pid_t mg_stack_service_pid (mg_stack_t *self, const char *service);

//  The one process matching comm/arg, or -1 when there is none or several.
pid_t mg_stack_pid (mg_stack_t *self, const char *comm, const char *arg);

//  The last lines of every process's log to stderr (when something failed).
void mg_stack_dump_logs (mg_stack_t *self);

//  True while pid runs (a zombie counts as dead).
bool mg_stack_alive (pid_t pid);

//  Run a shell command line with the stack's helpers sourced
//  (scripts/lib/services.sh); its exit status, -1 when it did not run.
int mg_stack_shell (mg_stack_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

#endif
