/*  The probe of bench/overload.sh: one request at a time, each on a new
    connection (as a client retrying would), every INTERVAL_MS until
    STOP_FILE exists. Its times come from its own socket calls, not from a
    process start, and are split by the kernel's receive time of the answer
    (SO_TIMESTAMPNS on the probe's socket):

        total   from socket () to the last byte of the answer read
        connect connect () returned
        server  from the request sent to the answer's first bytes received
                by the probe's kernel: the gateway's share, loopback included
        wake    from that arrival to the probe's recvmsg () returning: the
                probe waiting for a core, the client's share

    One line per request on stdout: "status total connect server wake by"
    (milliseconds; by: "refuser" or "loop" for a 503, after the message each
    writes (docs/gateway.md, "Overload"), else "-"); status 0 when no answer
    came.

    Usage: mg-overload-probe PORT PATH INTERVAL_MS STOP_FILE  */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PROBE_ANSWER_MAX    65536   //  bytes of an answer kept (genres is ~2 KiB)
#define PROBE_TIMEOUT_S     5       //  an answer that takes longer counts as none (status 0)
#define PROBE_CONTROL_MAX   64      //  ancillary bytes per recvmsg: one struct timespec

//  Microseconds on the wall clock, the clock of SO_TIMESTAMPNS.
static int64_t
s_wall_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

//  recvmsg into buffer; *arrival_us: the kernel's receive time of these bytes, if it said.
static ssize_t
s_recv (int fd, char *buffer, size_t size, int64_t *arrival_us)
{
    struct iovec iov = { .iov_base = buffer, .iov_len = size };
    union { char bytes [PROBE_CONTROL_MAX]; struct cmsghdr align; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.bytes, .msg_controllen = sizeof control.bytes };
    ssize_t n = recvmsg (fd, &msg, 0);
    for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR (&msg) : NULL; c; c = CMSG_NXTHDR (&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec at;
            memcpy (&at, CMSG_DATA (c), sizeof at);
            *arrival_us = (int64_t) at.tv_sec * 1000000 + at.tv_nsec / 1000;
        }
    return n;
}

//  Bytes the answer in buffer (len so far) has in all, once its head is
//  complete: head + Content-Length; 0 while unknown (then: until EOF).
static size_t
s_answer_size (const char *buffer, size_t len)
{
    const char *end = memmem (buffer, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t) (end - buffer) + 4;
    for (const char *line = buffer; line && line < end; ) {
        if (strncasecmp (line, "Content-Length:", 15) == 0)
            return head + strtoul (line + 15, NULL, 10);
        line = memmem (line, (size_t) (end - line), "\r\n", 2);
        if (line)
            line += 2;
    }
    return 0;
}

//  One request: print its line. 0, or -1 if the probe itself cannot go on.
static int
s_probe (const struct sockaddr_in *addr, const char *request)
{
    static char answer [PROBE_ANSWER_MAX + 1];
    int64_t start = s_wall_us ();
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror ("probe: socket");
        return -1;
    }
    int on = 1;
    struct timeval timeout = { .tv_sec = PROBE_TIMEOUT_S };
    if (setsockopt (fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on)
    ||  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout)) {
        perror ("probe: setsockopt");
        close (fd);
        return -1;
    }
    int status = 0;
    int64_t connected = 0, sent = 0, arrival = 0, woke = 0, done = 0;
    size_t len = 0, size = 0;
    if (connect (fd, (const struct sockaddr *) addr, sizeof *addr) == 0) {
        connected = s_wall_us ();
        size_t request_len = strlen (request);
        if (send (fd, request, request_len, MSG_NOSIGNAL) == (ssize_t) request_len) {
            sent = s_wall_us ();
            while (len < PROBE_ANSWER_MAX && (size == 0 || len < size)) {
                int64_t at = 0;
                ssize_t n = s_recv (fd, answer + len, PROBE_ANSWER_MAX - len, &at);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    break;
                if (len == 0) {
                    woke = s_wall_us ();
                    arrival = at ? at : woke;
                }
                len += (size_t) n;
                answer [len] = 0;
                if (size == 0)
                    size = s_answer_size (answer, len);
            }
            done = s_wall_us ();
        }
    }
    close (fd);
    answer [len] = 0;
    if (len > 12 && strncmp (answer, "HTTP/1.", 7) == 0 && (size == 0 || len >= size))
        status = atoi (answer + 9);
    const char *by = "-";
    if (status == 503)
        by = strstr (answer, "at its in-flight bound") ? "refuser" : "loop";
    if (status)
        printf ("%d %.3f %.3f %.3f %.3f %s\n", status, (done - start) / 1e3, (connected - start) / 1e3,
                (arrival - sent) / 1e3, (woke - arrival) / 1e3, by);
    else
        printf ("0 %.3f - - - -\n", (s_wall_us () - start) / 1e3);
    fflush (stdout);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc != 5) {
        fprintf (stderr, "usage: mg-overload-probe PORT PATH INTERVAL_MS STOP_FILE\n");
        return 2;
    }
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) atoi (argv [1])) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    char request [1024];
    int n = snprintf (request, sizeof request,
                      "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", argv [2]);
    if (n < 0 || (size_t) n >= sizeof request) {
        fprintf (stderr, "probe: path too long\n");
        return 2;
    }
    struct timespec interval = { .tv_sec = atoi (argv [3]) / 1000, .tv_nsec = (atoi (argv [3]) % 1000) * 1000000L };
    while (access (argv [4], F_OK) != 0) {
        if (s_probe (&addr, request))
            return 1;
        nanosleep (&interval, NULL);
    }
    return 0;
}
