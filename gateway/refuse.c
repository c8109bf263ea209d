/*  The refuser: one thread that answers new connections 503 while their
    loop thread is at its in-flight bound (docs/gateway.md, "Overload").

    Why a thread of its own: a refused request is cheap, but in a loop kept
    busy by hundreds of connections it waits for the loop to accept it, for
    a turn to read it and for another to write the answer; under ten times
    the sustainable load that was 69 ms at the median. Here the connection
    is accepted as soon as it is queued, its request head is read and a
    canned answer (503 OVERLOADED, Retry-After: 1, Connection: close) is
    written, by a thread that does nothing else and is idle otherwise.

    Loop thread i disables its own listener while it is at its bound and
    adds its listening socket (our duplicate of it) to our epoll set itself
    (gw_refuse_set); we accept there. Below the bound again, it removes it
    and accepts itself. Loop thread i changes state about a hundred times
    a second under sustained overload: waking us for each change cost
    several wake-ups per refused connection (docs/benchmarks.md, "Overload"),
    so we wake only for connections. The same socket is never served by
    both, except for the moment between the two changes, when whoever
    accepts first answers. Out of room (a full table, accept failing) we
    take listeners out of the set ourselves and put back, once there is
    room, those whose threads are still over.

    Timings: the listening sockets carry SO_TIMESTAMPNS (the accepted
    ones inherit it), so the first read of a request also says when the
    kernel received it; from that time to the accept and to the answer
    written go to /metrics (mg_gateway_refuser_wait_seconds,
    mg_gateway_refuser_answer_seconds): the server's share of a 503's
    latency, apart from the client's.

    Memory: a fixed table of REFUSE_CONNECTIONS_MAX connections; when it is
    full we stop accepting and the kernel's accept queue (the listen
    backlog) holds the rest until slots free.  */
#include "gw_refuse.h"
#include "gw_respond.h"
#include "mg_log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define REFUSE_CONNECTIONS_MAX  1024    //  connections being refused at once (memory bound)
#define REFUSE_HEAD_MS          1000    //  a client that sends no request head by then is closed
#define REFUSE_LINGER_MS        500     //  after the answer: read what the client still sends,
                                        //  so that closing does not reset the answer away
#define REFUSE_HEAD_MAX         16384   //  head bytes read before answering anyway
#define REFUSE_TICK_MS          100     //  deadline checks while connections are open
#define REFUSE_EVENTS           64      //  epoll events per wait
#define REFUSE_READ_CHUNK       2048    //  bytes per recv
#define REFUSE_READ_PER_WAKE    65536   //  bytes read from one connection before serving the others
#define REFUSE_WAKE_TAG         UINT64_MAX
#define REFUSE_CONN_TAG         (UINT64_C (1) << 32)    //  + slot; below it: listener index
#define REFUSE_SLICE_NS         100000  //  the scheduler slice asked for (the least Linux grants): see s_short_slice
#define REFUSE_CONTROL_MAX      64      //  ancillary bytes per recvmsg: one struct timespec

typedef struct {
    int fd;                 //  -1: free slot
    int64_t deadline_ms;
    bool answered;          //  503 written: draining until EOF or the deadline
    bool head_only;         //  a HEAD request: the answer has no body
    size_t listener;        //  accepted on listeners [listener]
    char method [5];        //  first bytes of the request line
    size_t method_len;
    size_t head_bytes;
    int crlf;               //  bytes of "\r\n\r\n" matched so far
    int64_t accepted_us;    //  wall clock (the kernel's receive times are)
    int64_t arrival_us;     //  the request's first bytes received by the kernel; 0: not known yet
} s_conn_t;

struct gw_refuse_t {
    size_t nlisteners;
    int *listeners;             //  our duplicates
    atomic_bool *over;          //  written by loop thread i, read here
    pthread_mutex_t lock;       //  the listeners' closing (stop) against loop threads' gw_refuse_set
    bool closed;                //  under lock: the listeners are closed
    bool shelved;               //  listeners were taken out for want of room
    int epoll_fd;
    int wake_fd;                //  eventfd: stop
    atomic_bool stopping;
    gw_metrics_t *const *metrics;   //  loop thread i's counters
    pthread_t tid;
    bool started;
    s_conn_t conns [REFUSE_CONNECTIONS_MAX];
    size_t nconns;
    uint16_t free_slots [REFUSE_CONNECTIONS_MAX];   //  a stack of the free slots' indexes
    int64_t next_expiry_ms;     //  deadlines are checked every REFUSE_TICK_MS
    int64_t paused_until_ms;    //  accept failed for want of resources: listeners left alone
    char answer [512];          //  the canned 503
    size_t answer_len;
    size_t answer_head_len;     //  its status line and headers alone (for HEAD)
};

//  Milliseconds on the monotonic clock (the gateway's clock, gw_now_us).
static int64_t
s_now_ms (void)
{
    return gw_now_us () / 1000;
}

//  Microseconds on the wall clock, the clock of SO_TIMESTAMPNS.
static int64_t
s_wall_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

//  Compose the canned answer: the same body respond.c writes for OVERLOADED.
static int
s_compose (gw_refuse_t *self)
{
    static const char body [] =
        "{\"error\":{\"code\":\"OVERLOADED\",\"message\":\"this gateway is at its in-flight bound; "
        "retry shortly\",\"retry_after\":1}}";
    int head = snprintf (self->answer, sizeof self->answer,
                         "HTTP/1.1 503 Service Unavailable\r\n"
                         "Content-Type: " GW_JSON_TYPE "\r\n"
                         "Retry-After: 1\r\n"
                         "Connection: close\r\n"
                         "Content-Length: %zu\r\n\r\n", sizeof body - 1);
    if (head < 0 || (size_t) head + sizeof body > sizeof self->answer)
        return -1;
    memcpy (self->answer + head, body, sizeof body);
    self->answer_head_len = (size_t) head;
    self->answer_len = (size_t) head + sizeof body - 1;
    return 0;
}

gw_refuse_t *
gw_refuse_new (const int *listeners, gw_metrics_t *const *metrics, size_t n)
{
    assert (listeners);
    assert (metrics);
    gw_refuse_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->epoll_fd = self->wake_fd = -1;
    for (size_t i = 0; i < REFUSE_CONNECTIONS_MAX; i++) {
        self->conns [i].fd = -1;
        self->free_slots [i] = (uint16_t) (REFUSE_CONNECTIONS_MAX - 1 - i);
    }
    self->listeners = malloc (n * sizeof *self->listeners);
    self->over = calloc (n, sizeof *self->over);
    if (!self->listeners || !self->over || pthread_mutex_init (&self->lock, NULL)) {
        free (self->listeners);
        free (self->over);
        free (self);
        return NULL;
    }
    self->nlisteners = n;
    for (size_t i = 0; i < n; i++) {
        atomic_init (&self->over [i], false);
        self->listeners [i] = -1;
    }
    atomic_init (&self->stopping, false);
    self->metrics = metrics;
    bool ok = s_compose (self) == 0;
    for (size_t i = 0; ok && i < n; i++) {
        self->listeners [i] = fcntl (listeners [i], F_DUPFD_CLOEXEC, 0);
        ok = self->listeners [i] >= 0;
        //  Without it the timings start at the accept, later than the arrival.
        int on = 1;
        if (ok && setsockopt (self->listeners [i], SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on))
            mg_warn ("refuser timings start at the accept", "error=\"%s\"", strerror (errno));
    }
    self->epoll_fd = ok ? epoll_create1 (EPOLL_CLOEXEC) : -1;
    self->wake_fd = self->epoll_fd >= 0 ? eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
    struct epoll_event wake = { .events = EPOLLIN, .data.u64 = REFUSE_WAKE_TAG };
    if (self->wake_fd < 0 || epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, self->wake_fd, &wake)) {
        mg_error ("cannot set up the refuser", "error=\"%s\"", strerror (errno));
        gw_refuse_destroy (&self);
        return NULL;
    }
    return self;
}

//  Close connection slot i.
static void
s_conn_close (gw_refuse_t *self, size_t i)
{
    s_conn_t *conn = &self->conns [i];
    //  Closing the descriptor removes it from the epoll set.
    close (conn->fd);
    conn->fd = -1;
    self->nconns--;
    self->free_slots [REFUSE_CONNECTIONS_MAX - 1 - self->nconns] = (uint16_t) i;
}

//  Write the canned answer on slot i and start draining what the client sends.
static void
s_conn_answer (gw_refuse_t *self, size_t i)
{
    s_conn_t *conn = &self->conns [i];
    size_t len = conn->head_only ? self->answer_head_len : self->answer_len;
    //  A fresh socket's send buffer takes a few hundred bytes at once: a
    //  short write means the client is gone or misbehaving, and is closed.
    if (send (conn->fd, self->answer, len, MSG_NOSIGNAL) != (ssize_t) len
    ||  shutdown (conn->fd, SHUT_WR)) {
        s_conn_close (self, i);
        return;
    }
    gw_metrics_refused_at_accept (self->metrics [conn->listener]);
    int64_t from = conn->arrival_us ? conn->arrival_us : conn->accepted_us;
    gw_metrics_refuse_timed (self->metrics [conn->listener],
                             conn->accepted_us - from, s_wall_us () - from);
    conn->answered = true;
    conn->deadline_ms = s_now_ms () + REFUSE_LINGER_MS;
}

//  Receive into buffer like recv; the first time, note when the kernel
//  received the bytes (SO_TIMESTAMPNS) in conn->arrival_us.
static ssize_t
s_conn_recv (s_conn_t *conn, char *buffer, size_t size)
{
    if (conn->arrival_us)
        return recv (conn->fd, buffer, size, 0);
    struct iovec iov = { .iov_base = buffer, .iov_len = size };
    union { char bytes [REFUSE_CONTROL_MAX]; struct cmsghdr align; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.bytes, .msg_controllen = sizeof control.bytes };
    ssize_t n = recvmsg (conn->fd, &msg, 0);
    for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR (&msg) : NULL; c; c = CMSG_NXTHDR (&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec at;
            memcpy (&at, CMSG_DATA (c), sizeof at);
            conn->arrival_us = (int64_t) at.tv_sec * 1000000 + at.tv_nsec / 1000;
        }
    return n;
}

//  Read what slot i has: find the end of the request head, then answer;
//  after the answer, discard until EOF. Closes the slot when done.
static void
s_conn_read (gw_refuse_t *self, size_t i)
{
    s_conn_t *conn = &self->conns [i];
    char buffer [REFUSE_READ_CHUNK];
    //  Level-triggered: what is left after REFUSE_READ_PER_WAKE comes back
    //  in the next wait, after the other connections.
    for (size_t total = 0; total < REFUSE_READ_PER_WAKE; ) {
        ssize_t n = s_conn_recv (conn, buffer, sizeof buffer);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            s_conn_close (self, i);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        total += (size_t) n;
        if (conn->answered)
            continue;
        for (ssize_t k = 0; k < n && conn->crlf < 4; k++) {
            char c = buffer [k];
            if (conn->method_len < sizeof conn->method)
                conn->method [conn->method_len++] = c;
            conn->crlf = c == "\r\n\r\n" [conn->crlf] ? conn->crlf + 1 : (c == '\r' ? 1 : 0);
        }
        conn->head_bytes += (size_t) n;
        if (conn->crlf == 4 || conn->head_bytes >= REFUSE_HEAD_MAX) {
            conn->head_only = conn->method_len == sizeof conn->method
                           && memcmp (conn->method, "HEAD ", sizeof conn->method) == 0;
            s_conn_answer (self, i);
            if (conn->fd < 0)
                return;
        }
    }
}

//  Take connection fd into a free slot, read what already arrived.
static void
s_conn_add (gw_refuse_t *self, int fd, size_t listener)
{
    assert (self->nconns < REFUSE_CONNECTIONS_MAX);
    size_t i = self->free_slots [REFUSE_CONNECTIONS_MAX - 1 - self->nconns];
    assert (self->conns [i].fd < 0);
    self->conns [i] = (s_conn_t) { .fd = fd, .deadline_ms = s_now_ms () + REFUSE_HEAD_MS,
                                   .listener = listener, .accepted_us = s_wall_us () };
    self->nconns++;
    struct epoll_event event = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = REFUSE_CONN_TAG + i };
    if (epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, fd, &event)) {
        s_conn_close (self, i);
        return;
    }
    //  A client sends its request right after connecting: it is often here already.
    s_conn_read (self, i);
}

//  Add listener i to our epoll set (watch) or take it out. Any thread: the
//  kernel orders the changes, and finding it so already is no error.
static void
s_watch (gw_refuse_t *self, size_t i, bool watch)
{
    struct epoll_event event = { .events = EPOLLIN, .data.u64 = i };
    if (epoll_ctl (self->epoll_fd, watch ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, self->listeners [i], &event)
    &&  errno != (watch ? EEXIST : ENOENT))
        mg_warn ("refuser cannot watch a listener", "thread=%zu watch=%d error=\"%s\"",
                 i, (int) watch, strerror (errno));
}

//  A connection would have a slot, and accepting is not paused.
static bool
s_room (gw_refuse_t *self)
{
    return self->nconns < REFUSE_CONNECTIONS_MAX && self->paused_until_ms == 0;
}

//  Take listener i out of our set: its thread is below its bound, or we
//  have no room (shelved, to come back with room).
static void
s_unwatch (gw_refuse_t *self, size_t i)
{
    s_watch (self, i, false);
    if (!s_room (self))
        self->shelved = true;
    else
    //  Its thread may have gone over again and added it just before we
    //  took it out: look once more, after our change.
    if (atomic_load (&self->over [i]))
        s_watch (self, i, true);
}

//  Room again: put back the listeners of the threads that are over.
static void
s_rewatch (gw_refuse_t *self)
{
    self->shelved = false;
    for (size_t i = 0; i < self->nlisteners; i++)
        if (atomic_load (&self->over [i]))
            s_watch (self, i, true);
}

//  Listener i is readable: accept on it while its thread is over its bound
//  and slots are free.
static void
s_accept (gw_refuse_t *self, size_t i)
{
    if (!atomic_load (&self->over [i]) || !s_room (self)) {
        s_unwatch (self, i);
        return;
    }
    while (s_room (self) && atomic_load (&self->over [i])) {
        int fd = accept4 (self->listeners [i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            //  EAGAIN: the loop thread took it, or nothing is left. Out of
            //  descriptors or memory: the connections wait in the backlog
            //  for a tick (the listener stays readable, so watching it
            //  meanwhile would spin).
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
                mg_warn ("refuser cannot accept", "thread=%zu error=\"%s\"", i, strerror (errno));
                self->paused_until_ms = s_now_ms () + REFUSE_TICK_MS;
            }
            break;
        }
        s_conn_add (self, fd, i);
    }
    //  Level-triggered: a listener we cannot serve now would wake us again at once.
    if (!s_room (self))
        s_unwatch (self, i);
}

//  Close connections past their deadline.
static void
s_expire (gw_refuse_t *self)
{
    int64_t now = s_now_ms ();
    for (size_t i = 0; i < REFUSE_CONNECTIONS_MAX && self->nconns > 0; i++)
        if (self->conns [i].fd >= 0 && now >= self->conns [i].deadline_ms)
            s_conn_close (self, i);
}

//  struct sched_attr (include/uapi/linux/sched/types.h); glibc 2.36 has no wrapper.
typedef struct {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;     //  SCHED_OTHER since Linux 6.12: the slice asked for
    uint64_t sched_deadline;
    uint64_t sched_period;
} s_sched_attr_t;

//  Ask the scheduler for a short slice for the calling thread. Why: the
//  refuser's work per wake-up is tens of microseconds, but on cores that
//  the loops and the clients keep busy a thread woken with the default
//  slice waited for one of theirs to end (the 503's p99, docs/benchmarks.md,
//  "Overload"). Linux's EEVDF scheduler gives a thread with a short slice an
//  early deadline, so its wake-up preempts the running thread; its share
//  of the CPU stays the same, and no privilege is needed. Older kernels
//  ignore the field; a refusal is logged and changes nothing else.
static void
s_short_slice (void)
{
    s_sched_attr_t attr = { .size = sizeof attr, .sched_policy = SCHED_OTHER,
                            .sched_runtime = REFUSE_SLICE_NS };
    //  Keep the thread's nice value: with flags 0 it would be reset to sched_nice.
    errno = 0;
    int nice = getpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid));
    if (errno == 0)
        attr.sched_nice = nice;
    if (syscall (SYS_sched_setattr, 0, &attr, 0))
        mg_warn ("refuser keeps the default scheduler slice", "error=\"%s\"", strerror (errno));
}

//  Thread body: wait on the stop descriptor, the watched listeners and the
//  connections being refused, until stopped.
static void *
s_thread_main (void *arg)
{
    gw_refuse_t *self = arg;
    struct epoll_event events [REFUSE_EVENTS];
    //  A name of its own, for ps, perf and bench/overload.sh (its schedstat).
    int rc = pthread_setname_np (pthread_self (), "mg-refuser");
    if (rc)
        mg_warn ("refuser thread keeps its process's name", "error=\"%s\"", strerror (rc));
    s_short_slice ();
    while (!atomic_load (&self->stopping)) {
        int timeout = self->nconns > 0 || self->paused_until_ms ? REFUSE_TICK_MS : -1;
        int n = epoll_wait (self->epoll_fd, events, REFUSE_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            mg_error ("refuser cannot wait", "error=\"%s\"", strerror (errno));
            break;
        }
        if (n > 0)
            gw_metrics_refuser_woke (self->metrics [0]);
        for (int k = 0; k < n; k++) {
            uint64_t tag = events [k].data.u64;
            if (tag == REFUSE_WAKE_TAG)
                continue;       //  stop: the loop's condition ends it
            if (tag >= REFUSE_CONN_TAG) {
                size_t i = (size_t) (tag - REFUSE_CONN_TAG);
                if (self->conns [i].fd >= 0)
                    s_conn_read (self, i);
            }
            else
                s_accept (self, (size_t) tag);
        }
        if (self->nconns > 0 && s_now_ms () >= self->next_expiry_ms) {
            s_expire (self);
            self->next_expiry_ms = s_now_ms () + REFUSE_TICK_MS;
        }
        if (self->paused_until_ms && s_now_ms () >= self->paused_until_ms)
            self->paused_until_ms = 0;
        //  A full table or a pause took listeners out: put them back once
        //  slots free or the pause is over.
        if (self->shelved && s_room (self))
            s_rewatch (self);
    }
    return NULL;
}

//  Wake the thread (to stop).
static void
s_wake (gw_refuse_t *self)
{
    uint64_t one = 1;
    //  EAGAIN: the counter is full, so a wake-up is pending anyway.
    if (write (self->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        mg_warn ("cannot wake the refuser", "error=\"%s\"", strerror (errno));
}

int
gw_refuse_start (gw_refuse_t *self)
{
    assert (self);
    assert (!self->started);
    if (pthread_create (&self->tid, NULL, s_thread_main, self) != 0) {
        mg_error ("cannot start the refuser", NULL);
        return -1;
    }
    self->started = true;
    return 0;
}

void
gw_refuse_stop (gw_refuse_t *self)
{
    assert (self);
    if (self->started) {
        atomic_store (&self->stopping, true);
        s_wake (self);
        pthread_join (self->tid, NULL);
        self->started = false;
    }
    for (size_t i = 0; i < REFUSE_CONNECTIONS_MAX && self->nconns > 0; i++)
        if (self->conns [i].fd >= 0)
            s_conn_close (self, i);
    //  Our duplicates would keep the listening sockets open after the loop
    //  threads close theirs, and connections would queue where nobody accepts.
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->nlisteners; i++)
        if (self->listeners [i] >= 0) {
            close (self->listeners [i]);
            self->listeners [i] = -1;
        }
    self->closed = true;
    pthread_mutex_unlock (&self->lock);
}

void
gw_refuse_destroy (gw_refuse_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_refuse_t *self = *self_p;
        gw_refuse_stop (self);
        if (self->epoll_fd >= 0)
            close (self->epoll_fd);
        if (self->wake_fd >= 0)
            close (self->wake_fd);
        pthread_mutex_destroy (&self->lock);
        free (self->listeners);
        free (self->over);
        free (self);
        *self_p = NULL;
    }
}

void
gw_refuse_set (gw_refuse_t *self, size_t i, bool over)
{
    assert (self);
    assert (i < self->nlisteners);
    atomic_store (&self->over [i], over);
    //  No wake-up: the refuser wakes when a connection arrives on it.
    pthread_mutex_lock (&self->lock);
    if (!self->closed)
        s_watch (self, i, over);
    pthread_mutex_unlock (&self->lock);
}
