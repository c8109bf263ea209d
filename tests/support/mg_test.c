#include "mg_test.h"

#include <arpa/inet.h>
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
