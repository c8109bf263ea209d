#include "mg_stack.h"

#include "mg_curve.h"
#include "mg_http.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROC_TEXT_MAX  65536        //  bytes of /proc/<pid>/environ or cmdline read
#define SHELL_LINE_MAX 4096
#define READY_POLL_MS  100
#define READY_WAIT_MS  5000         //  one /ready request

//  Whole contents of /proc/<pid>/<what> into buf (NUL-separated strings);
//  bytes read, -1 when the process is gone or unreadable.
static ssize_t
s_proc_read (const char *pid, const char *what, char *buf, size_t size)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%s/%s", pid, what);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read (fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t) n;
    }
    close (fd);
    buf [len] = '\0';
    return (ssize_t) len;
}

//  True when the NUL-separated strings of buf (len bytes) hold entry.
static bool
s_strings_hold (const char *buf, size_t len, const char *entry)
{
    for (size_t at = 0; at < len; at += strlen (buf + at) + 1)
        if (strcmp (buf + at, entry) == 0)
            return true;
    return false;
}

int
mg_stack_shell (mg_stack_t *self, const char *fmt, ...)
{
    (void) self;
    char command [SHELL_LINE_MAX], line [SHELL_LINE_MAX + 256];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (command, sizeof command, fmt, args);
    va_end (args);
    if (n < 0 || (size_t) n >= sizeof command)
        return -1;
    n = snprintf (line, sizeof line, ". %s/scripts/lib/common.sh && . %s/scripts/lib/services.sh && %s",
                  MG_SOURCE_DIR, MG_SOURCE_DIR, command);
    if (n < 0 || (size_t) n >= sizeof line)
        return -1;
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        //  The scripts' chatter goes with the test's diagnostics.
        if (dup2 (STDERR_FILENO, STDOUT_FILENO) < 0)
            _exit (126);
        execlp ("bash", "bash", "-c", line, (char *) NULL);
        _exit (127);
    }
    int status;
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  A process of its own session that waits on a pipe whose write end only
//  the test holds: end of file means the test died without stopping the
//  stack, and it stops it (tree, PostgreSQL, folder); a byte means all is
//  done. Returns 0, or -1.
static int
s_watchdog_start (mg_stack_t *self)
{
    char command [SHELL_LINE_MAX];
    int n = snprintf (command, sizeof command,
                      ". %s/scripts/lib/common.sh && . %s/scripts/lib/services.sh;"
                      " %s/scripts/supervise stop '%s'; mg_pg_stop '%s'; rm -rf '%s'",
                      MG_SOURCE_DIR, MG_SOURCE_DIR, MG_SOURCE_DIR, self->dir, self->dir, self->dir);
    int fds [2];
    if (n < 0 || (size_t) n >= sizeof command || pipe2 (fds, O_CLOEXEC))
        return -1;
    pid_t pid = fork ();
    if (pid < 0) {
        close (fds [0]);
        close (fds [1]);
        return -1;
    }
    if (pid == 0) {
        close (fds [1]);
        //  Out of the test's process group: what kills the test spares it.
        setsid ();
        char byte;
        ssize_t got;
        while ((got = read (fds [0], &byte, 1)) < 0 && errno == EINTR)
            ;
        if (got == 1)
            _exit (0);
        execlp ("bash", "bash", "-c", command, (char *) NULL);
        _exit (127);
    }
    close (fds [0]);
    self->watchdog_fd = fds [1];
    self->watchdog = pid;
    return 0;
}

int
mg_stack_init (mg_stack_t *self, const char *tag)
{
    memset (self, 0, sizeof *self);
    self->watchdog_fd = -1;
    snprintf (self->dir, sizeof self->dir, "/tmp/mg-%s.%d", tag, (int) getpid ());
    if (mg_stack_shell (self, "rm -rf '%s' && mkdir -p '%s'", self->dir, self->dir))
        return -1;
    if (s_watchdog_start (self))
        return -1;
    self->pg_port = mg_test_free_port ();
    self->redis_port = mg_test_free_port ();
    self->http_port = mg_test_free_port ();
    if (mg_stack_shell (self, "mg_pg_start '%s' %d", self->dir, self->pg_port)) {
        fprintf (stderr, "PostgreSQL did not start in %s\n", self->dir);
        return -1;
    }
    self->pg_started = true;
    snprintf (self->pg_url, sizeof self->pg_url, "postgresql://postgres@127.0.0.1:%d/mediagateway",
              self->pg_port);
    mg_test_env_init (&self->env, self->pg_url);
    mg_test_env_add (&self->env, "MG_REDIS_URL=redis://127.0.0.1:%d", self->redis_port);
    mg_test_env_add (&self->env, "MG_HTTP_PORT=%d", self->http_port);
    //  Load, not the rate limiter, is what these tests send.
    mg_test_env_add (&self->env, "MG_RATE_ANONYMOUS=1000000/s,1000000/m");
    mg_test_env_add (&self->env, "MG_RATE_FREE=1000000/s,1000000/m");
    //  /api/v1/genres is these tests' probe of the bus path, so it is not
    //  answered from the gateway's memory (docs/gateway.md).
    mg_test_env_add (&self->env, "MG_REFERENCE_CACHE_S=0");
    //  No provider keys: the fetcher and the embedder stay idle.
    mg_test_env_add (&self->env, "TMDB_API_KEY=");
    return 0;
}

int
mg_stack_start (mg_stack_t *self, const char *const *names, size_t count)
{
    char procfile [192];
    snprintf (procfile, sizeof procfile, "%s/Procfile", self->dir);
    FILE *out = fopen (procfile, "w");
    if (!out)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (strcmp (names [i], "redis") == 0)
            fprintf (out, "redis: redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no"
                          " --loglevel warning\n", self->redis_port);
        else {
            //  "search2" runs mg-search: the replica digit is not the program's.
            size_t len = strlen (names [i]);
            while (len > 0 && names [i][len - 1] >= '0' && names [i][len - 1] <= '9')
                len--;
            fprintf (out, "%s: %s/mg-%.*s\n", names [i], MG_BIN_DIR, (int) len, names [i]);
            //  The supervisor names each process's bus role after its line:
            //  a key for every name, as scripts/keys makes from a Procfile.
            char service [64], err [256];
            snprintf (service, sizeof service, "%.*s", (int) len, names [i]);
            const char *keys = mg_test_keys ();
            if (keys && mg_curve_make (keys, names [i], service, err, sizeof err)) {
                fprintf (stderr, "cannot make the key of %s: %s\n", names [i], err);
                fclose (out);
                return -1;
            }
        }
    }
    if (fclose (out))
        return -1;
    //  scripts/supervise hands the caller's whole environment to every process.
    for (int i = 0; i < self->env.count; i++) {
        char name [128];
        const char *eq = strchr (self->env.text [i], '=');
        if (!eq || (size_t) (eq - self->env.text [i]) >= sizeof name)
            return -1;
        snprintf (name, sizeof name, "%.*s", (int) (eq - self->env.text [i]), self->env.text [i]);
        if (setenv (name, eq + 1, 1))
            return -1;
    }
    if (mg_stack_shell (self, "%s/scripts/supervise start '%s' '%s'", MG_SOURCE_DIR, self->dir, procfile))
        return -1;
    self->tree_started = true;
    return 0;
}

void
mg_stack_stop (mg_stack_t *self)
{
    if (self->tree_started
    &&  mg_stack_shell (self, "%s/scripts/supervise stop '%s'", MG_SOURCE_DIR, self->dir))
        fprintf (stderr, "scripts/supervise stop %s failed\n", self->dir);
    self->tree_started = false;
    if (self->pg_started
    &&  mg_stack_shell (self, "mg_pg_stop '%s'", self->dir))
        fprintf (stderr, "PostgreSQL in %s did not stop\n", self->dir);
    self->pg_started = false;
    //  MG_STACK_KEEP=1 keeps the folder (logs) for a look after the test.
    const char *keep = getenv ("MG_STACK_KEEP");
    if (keep && strcmp (keep, "1") == 0)
        fprintf (stderr, "kept %s\n", self->dir);
    else
    if (self->dir [0] && mg_stack_shell (self, "rm -rf '%s'", self->dir))
        fprintf (stderr, "could not remove %s\n", self->dir);
    if (self->watchdog_fd >= 0) {
        if (write (self->watchdog_fd, "x", 1) != 1)
            fprintf (stderr, "could not dismiss the watchdog\n");
        close (self->watchdog_fd);
        self->watchdog_fd = -1;
        int status;
        waitpid (self->watchdog, &status, 0);
    }
}

int
mg_stack_pids (mg_stack_t *self, const char *comm, const char *arg, pid_t *pids, int max)
{
    char marker [160];
    snprintf (marker, sizeof marker, "MG_STACK=%s", self->dir);
    DIR *proc = opendir ("/proc");
    if (!proc)
        return 0;
    static char buf [PROC_TEXT_MAX];
    int found = 0;
    struct dirent *entry;
    while ((entry = readdir (proc))) {
        if (entry->d_name [0] < '1' || entry->d_name [0] > '9')
            continue;
        pid_t pid = (pid_t) atoi (entry->d_name);
        if (pid == getpid ())
            continue;
        ssize_t len = s_proc_read (entry->d_name, "environ", buf, sizeof buf);
        if (len <= 0 || !s_strings_hold (buf, (size_t) len, marker))
            continue;
        len = s_proc_read (entry->d_name, "cmdline", buf, sizeof buf);
        if (len <= 0)
            continue;                   //  a zombie: gone already
        const char *slash = strrchr (buf, '/');
        const char *program = slash ? slash + 1 : buf;
        size_t first = strlen (buf) + 1;
        const char *argv1 = first < (size_t) len ? buf + first : "";
        //  Redis rewrites its title to "redis-server 127.0.0.1:port".
        size_t comm_len = comm ? strlen (comm) : 0;
        if (comm && (strncmp (program, comm, comm_len) != 0
                     || (program [comm_len] != '\0' && program [comm_len] != ' ')))
            continue;
        if (arg && strcmp (argv1, arg) != 0)
            continue;
        if (found < max)
            pids [found] = pid;
        found++;
    }
    closedir (proc);
    return found;
}

pid_t
mg_stack_pid (mg_stack_t *self, const char *comm, const char *arg)
{
    pid_t pid;
    return mg_stack_pids (self, comm, arg, &pid, 1) == 1 ? pid : -1;
}

bool
mg_stack_alive (pid_t pid)
{
    char name [24], stat [512];
    snprintf (name, sizeof name, "%d", (int) pid);
    if (s_proc_read (name, "stat", stat, sizeof stat) <= 0)
        return false;
    //  "pid (comm) S ...": the state follows the last ')'.
    const char *paren = strrchr (stat, ')');
    return paren && paren [1] == ' ' && paren [2] != 'Z' && paren [2] != 'X';
}

void
mg_stack_dump_logs (mg_stack_t *self)
{
    if (mg_stack_shell (self, "for f in '%s'/log/*.log; do echo \"== $f\"; tail -n 15 \"$f\"; done >&2",
                        self->dir))
        fprintf (stderr, "no logs in %s/log\n", self->dir);
}

pid_t
mg_stack_service_pid (mg_stack_t *self, const char *service)
{
    char command [512];
    snprintf (command, sizeof command, "s6-svstat -o pid '%s/service/%s' 2>/dev/null", self->dir, service);
    FILE *out = popen (command, "r");
    if (!out)
        return -1;
    int pid = -1;
    if (fscanf (out, "%d", &pid) != 1)
        pid = -1;
    pclose (out);
    return pid > 0 ? (pid_t) pid : -1;
}

int
mg_stack_start_core (mg_stack_t *self)
{
    static const char *const names [] = {
        "redis", "broker", "indexer", "resolver", "catalog", "search1", "accounts", "ratelimit",
        "sync", "alerts", "gateway"
    };
    return mg_stack_start (self, names, sizeof names / sizeof names [0]);
}

int
mg_stack_wait_ready (mg_stack_t *self, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    while (mg_test_now_ms () < until) {
        mg_http_reply_t reply;
        int status = 0;
        if (mg_http_request (self->http_port, "GET", "/ready", "", NULL, &reply, READY_WAIT_MS) == 0)
            status = reply.status;
        mg_http_reply_free (&reply);
        if (status == 200)
            return 0;
        usleep (READY_POLL_MS * 1000);
    }
    mg_stack_dump_logs (self);
    return -1;
}

bool
mg_stack_listening (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    bool up = connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    close (fd);
    return up;
}

int
mg_stack_new_ready (mg_stack_t **self_p, const char *tag, int timeout_ms)
{
    mg_stack_t *self = *self_p = calloc (1, sizeof *self);
    if (!self || mg_stack_init (self, tag) || mg_stack_start_core (self)
    ||  mg_stack_wait_ready (self, timeout_ms))
        return -1;
    return 0;
}

void
mg_stack_destroy (mg_stack_t **self_p)
{
    if (*self_p) {
        mg_stack_stop (*self_p);
        free (*self_p);
        *self_p = NULL;
    }
}
