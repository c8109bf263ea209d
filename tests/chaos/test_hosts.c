/*  A second host, for real: a network namespace of the test's own joined to
    the machine by a veth pair (addresses that exist only inside the test)
    runs a search replica, an embedder and a catalog actor that join the broker over
    CURVE with keys made for that host. They serve part of the traffic; the
    link is cut, the broker drops them after the heartbeat liveness and
    requests keep succeeding on the local replicas; the link comes back and
    they register again; a process there with a key the broker does not
    list is refused. Needs root (CAP_NET_ADMIN) for ip netns and the veth
    pair; CI runs as root. The processes there reach PostgreSQL through a
    relay of the test's own on the veth address (PostgreSQL listens on
    loopback only).  */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             //  setns
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mg_client.h"
#include "mg_curve.h"
#include "mg_test.h"

#define HEARTBEAT_MS    250       //  liveness 4 x 250 ms: a cut link is noticed in 1 s, and
#define LIVENESS        4         //  ASan processes on a loaded machine do not flap
#define WAIT_MS         20000     //  generous: ASan processes on a loaded 2-core machine
#define CALL_TTL_MS     2000
#define CALLS           24        //  per check: enough that LRU dispatch reaches every replica

extern char **environ;

typedef struct {
    bool skipped;
    char ns [32], veth_host [16], veth_ns [16];
    char host_ip [32], ns_ip [32];
    mg_test_env_t env;            //  local processes
    mg_test_env_t remote;         //  processes in the namespace
    char url [256];
    PGconn *admin;
    pid_t relay;
    int relay_port;
    pid_t broker, catalog, search, catalog2, search3, embedder2, stranger;
    char wrong_keys [64];
    mg_client_t *client;
} fixture_t;

//  Run a shell command; true when it exited 0.
static bool
s_sh (const char *fmt, ...)
{
    char command [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (command, sizeof command, fmt, args);
    va_end (args);
    int status = system (command);
    return status != -1 && WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

//  Copy bytes both ways between a and b until either side closes.
static void
s_relay_pair (int a, int b)
{
    char buf [16384];
    struct pollfd fds [2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
    while (poll (fds, 2, -1) > 0) {
        for (int i = 0; i < 2; i++)
            if (fds [i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = read (fds [i].fd, buf, sizeof buf);
                if (n <= 0 || write (fds [1 - i].fd, buf, (size_t) n) != n)
                    return;
            }
    }
}

//  A TCP relay listening on ip:port, forwarding to 127.0.0.1:to_port (one
//  process per connection, all dying with the test). Its pid, or -1.
static pid_t
s_relay_start (const char *ip, int port, int to_port)
{
    int listener = socket (AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    if (listener < 0 || inet_pton (AF_INET, ip, &addr.sin_addr) != 1
    ||  setsockopt (listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)
    ||  bind (listener, (struct sockaddr *) &addr, sizeof addr) || listen (listener, 64)) {
        if (listener >= 0)
            close (listener);
        return -1;
    }
    pid_t pid = fork ();
    if (pid != 0) {
        close (listener);
        return pid;
    }
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    signal (SIGCHLD, SIG_IGN);
    while (true) {
        int in = accept (listener, NULL, NULL);
        if (in < 0)
            continue;
        if (fork () == 0) {
            prctl (PR_SET_PDEATHSIG, SIGKILL);
            struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) to_port) };
            to.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
            int out = socket (AF_INET, SOCK_STREAM, 0);
            if (out >= 0 && connect (out, (struct sockaddr *) &to, sizeof to) == 0)
                s_relay_pair (in, out);
            _exit (0);
        }
        close (in);
    }
}

//  Start MG_BIN_DIR/binary inside network namespace ns with env added.
static pid_t
s_spawn_in (const char *ns, const char *binary, const char *const *env)
{
    char path [512], ns_path [128];
    snprintf (path, sizeof path, "%s/%s", MG_BIN_DIR, binary);
    snprintf (ns_path, sizeof ns_path, "/var/run/netns/%s", ns);
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    int fd = open (ns_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns (fd, CLONE_NEWNET))
        _exit (125);
    for (const char *const *e = env; e && *e; e++)
        if (putenv ((char *) *e))
            _exit (126);
    char *argv [] = { path, NULL };
    execve (path, argv, environ);
    _exit (127);
}

//  Wait until service has want live workers.
static bool
s_wait_workers (fixture_t *f, const char *service, uint64_t want)
{
    return mg_test_wait_workers (f->client, service, want, WAIT_MS);
}

//  CALLS pings of service; counts those answered, and those answered by pid.
static void
s_pings (fixture_t *f, const char *service, pid_t pid, int *answered, int *by_pid)
{
    char method [64];
    snprintf (method, sizeof method, "%s.ping", service);
    *answered = *by_pid = 0;
    for (int i = 0; i < CALLS; i++) {
        mg_ping_reply_t pong = { 0 };
        mg_error_t err = { 0 };
        if (mg_client_call (f->client, method, NULL, NULL, &mg_ping_reply_desc, &pong, CALL_TTL_MS, &err) == 0) {
            (*answered)++;
            if (pong.pid == (uint64_t) pid)
                (*by_pid)++;
        }
        mg_msg_clear (&mg_ping_reply_desc, &pong);
        mg_msg_clear (&mg_error_desc, &err);
    }
}

//  Refused connections so far.
static uint64_t
s_refused (fixture_t *f)
{
    mg_mmi_stats_reply_t stats = { 0 };
    mg_error_t err = { 0 };
    if (mg_client_call (f->client, "mmi.stats", NULL, NULL, &mg_mmi_stats_reply_desc, &stats,
                        CALL_TTL_MS, &err))
        stats.refused_handshakes = 0;
    mg_msg_clear (&mg_error_desc, &err);
    return stats.refused_handshakes;
}

//  The environment of a process on the other host: the broker at the host
//  side's address, PostgreSQL through the relay, its own role.
static void
s_remote_env (fixture_t *f, int relay_port, const char *keys, const char *role)
{
    mg_test_env_t *e = &f->remote;
    memset (e, 0, sizeof *e);
    mg_test_env_add (e, "MG_BROKER=%s", f->env.endpoint);
    mg_test_env_add (e, "MG_EVENTS_PUB=%s", f->env.publish);
    mg_test_env_add (e, "MG_EVENTS=%s", f->env.events);
    mg_test_env_add (e, "MG_HEARTBEAT_MS=%d", HEARTBEAT_MS);
    mg_test_env_add (e, "MG_HEARTBEAT_LIVENESS=%d", LIVENESS);
    mg_test_env_add (e, "MG_KEYS=%s", keys);
    mg_test_env_add (e, "MG_ROLE=%s", role);
    const char *db = strrchr (f->url, '/');
    mg_test_env_add (e, "MG_PG_URL=postgresql://postgres@%s:%d%s", f->host_ip, relay_port, db);
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    int id = (int) (getpid () % 100000);
    snprintf (f->ns, sizeof f->ns, "mgh%d", id);
    snprintf (f->veth_host, sizeof f->veth_host, "mgv%da", id);
    snprintf (f->veth_ns, sizeof f->veth_ns, "mgv%db", id);
    snprintf (f->host_ip, sizeof f->host_ip, "10.213.%d.%d", (id / 64) % 250, (id % 64) * 4 + 1);
    snprintf (f->ns_ip, sizeof f->ns_ip, "10.213.%d.%d", (id / 64) % 250, (id % 64) * 4 + 2);
    if (geteuid () != 0 || !s_sh ("ip netns add %s", f->ns)) {
        fprintf (stderr, "SKIPPED: the second-host test needs root (CAP_NET_ADMIN) for ip netns "
                         "and a veth pair; CI runs as root\n");
        f->skipped = true;
        return 0;
    }
    if (!s_sh ("ip link add %s type veth peer name %s", f->veth_host, f->veth_ns)
    ||  !s_sh ("ip link set %s netns %s", f->veth_ns, f->ns)
    ||  !s_sh ("ip addr add %s/30 dev %s && ip link set %s up", f->host_ip, f->veth_host, f->veth_host)
    ||  !s_sh ("ip netns exec %s sh -c 'ip addr add %s/30 dev %s && ip link set %s up && ip link set lo up'",
               f->ns, f->ns_ip, f->veth_ns, f->veth_ns))
        return -1;
    f->admin = mg_test_scratch_db ("hosts", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    const char *port = strrchr (f->url, ':');
    int pg_port = port ? atoi (port + 1) : 0;
    int relay_port = f->relay_port = mg_test_free_port ();
    f->relay = s_relay_start (f->host_ip, relay_port, pg_port);
    if (f->relay < 0)
        return -1;

    //  The broker binds the host side's address: both hosts reach it there.
    mg_test_env_init (&f->env, f->url);
    snprintf (f->env.endpoint, sizeof f->env.endpoint, "tcp://%s:%d", f->host_ip, mg_test_free_port ());
    snprintf (f->env.publish, sizeof f->env.publish, "tcp://%s:%d", f->host_ip, mg_test_free_port ());
    snprintf (f->env.events, sizeof f->env.events, "tcp://%s:%d", f->host_ip, mg_test_free_port ());
    mg_test_env_add (&f->env, "MG_BROKER=%s", f->env.endpoint);
    mg_test_env_add (&f->env, "MG_BROKER_BIND=%s", f->env.endpoint);
    mg_test_env_add (&f->env, "MG_EVENTS_PUB=%s", f->env.publish);
    mg_test_env_add (&f->env, "MG_EVENTS_PUB_BIND=%s", f->env.publish);
    mg_test_env_add (&f->env, "MG_EVENTS_SUB_BIND=%s", f->env.events);
    mg_test_env_add (&f->env, "MG_EVENTS=%s", f->env.events);
    mg_test_env_add (&f->env, "MG_HEARTBEAT_MS=%d", HEARTBEAT_MS);
    mg_test_env_add (&f->env, "MG_HEARTBEAT_LIVENESS=%d", LIVENESS);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    //  The local catalog migrates the scratch database first.
    f->catalog = mg_test_spawn ("mg-catalog", f->env.envp);
    if (!f->client || mg_test_wait_service (f->env.endpoint, "catalog", WAIT_MS))
        return -1;
    f->search = mg_test_spawn ("mg-search", f->env.envp);

    //  The other host's roles, made as docs/deploy.md says.
    const char *keys = mg_test_keys ();
    char err [256];
    if (mg_curve_make (keys, "catalog2", "catalog", err, sizeof err)
    ||  mg_curve_make (keys, "search3", "search", err, sizeof err)
    ||  mg_curve_make (keys, "embedder2", "embedder", err, sizeof err))
        return -1;
    s_remote_env (f, relay_port, keys, "catalog2");
    f->catalog2 = s_spawn_in (f->ns, "mg-catalog", f->remote.envp);
    s_remote_env (f, relay_port, keys, "search3");
    f->search3 = s_spawn_in (f->ns, "mg-search", f->remote.envp);
    //  The remote-API backend needs no trained model to serve (nothing is
    //  embedded here: the catalog is empty, and the API address is closed).
    s_remote_env (f, relay_port, keys, "embedder2");
    mg_test_env_add (&f->remote, "MG_EMBED_BACKEND=openai");
    mg_test_env_add (&f->remote, "OPENAI_API_KEY=unused");
    mg_test_env_add (&f->remote, "MG_OPENAI_BASE_URL=http://127.0.0.1:9/v1");
    f->embedder2 = s_spawn_in (f->ns, "mg-embedder", f->remote.envp);
    return s_wait_workers (f, "catalog", 2) && s_wait_workers (f, "search", 2)
        && s_wait_workers (f, "embedder", 1) ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    if (!f->skipped) {
        mg_client_destroy (&f->client);
        pid_t pids [] = { f->stranger, f->embedder2, f->search3, f->catalog2, f->search, f->catalog, f->broker };
        for (size_t i = 0; i < sizeof pids / sizeof pids [0]; i++)
            if (pids [i] > 0)
                mg_test_stop (pids [i], SIGTERM);
        if (f->relay > 0) {
            mg_test_signal (f->relay, SIGKILL);
            waitpid (f->relay, NULL, 0);
        }
        s_sh ("ip link del %s 2>/dev/null", f->veth_host);
        s_sh ("ip netns del %s", f->ns);
        if (f->wrong_keys [0])
            s_sh ("rm -rf '%s'", f->wrong_keys);
        mg_test_drop_db (&f->admin, f->url);
    }
    free (f);
    return 0;
}

static void
test_replicas_on_another_host_serve_leave_on_a_cut_link_and_rejoin (void **state)
{
    fixture_t *f = *state;
    if (f->skipped)
        skip ();
    int answered, remote;
    //  Joined over CURVE, serving part of the traffic.
    s_pings (f, "catalog", f->catalog2, &answered, &remote);
    assert_int_equal (answered, CALLS);
    assert_true (remote > 0);
    s_pings (f, "search", f->search3, &answered, &remote);
    assert_int_equal (answered, CALLS);
    assert_true (remote > 0);

    //  Cut: dropped after the liveness, the local replicas serve everything.
    assert_true (s_sh ("ip netns exec %s ip link set %s down", f->ns, f->veth_ns));
    assert_true (s_wait_workers (f, "catalog", 1));
    assert_true (s_wait_workers (f, "search", 1));
    assert_true (s_wait_workers (f, "embedder", 0));
    s_pings (f, "catalog", f->catalog2, &answered, &remote);
    assert_int_equal (answered, CALLS);
    assert_int_equal (remote, 0);
    s_pings (f, "search", f->search3, &answered, &remote);
    assert_int_equal (answered, CALLS);
    assert_int_equal (remote, 0);

    //  Back: they register again and take their share.
    assert_true (s_sh ("ip netns exec %s ip link set %s up", f->ns, f->veth_ns));
    assert_true (s_wait_workers (f, "catalog", 2));
    assert_true (s_wait_workers (f, "search", 2));
    assert_true (s_wait_workers (f, "embedder", 1));
    s_pings (f, "catalog", f->catalog2, &answered, &remote);
    assert_int_equal (answered, CALLS);
    assert_true (remote > 0);
}

static void
test_a_process_on_the_other_host_with_an_unlisted_key_is_refused (void **state)
{
    fixture_t *f = *state;
    if (f->skipped)
        skip ();
    //  The broker's right public key, but a pair of its own that nobody listed.
    snprintf (f->wrong_keys, sizeof f->wrong_keys, "/tmp/mg-wrong-keys-XXXXXX");
    assert_non_null (mkdtemp (f->wrong_keys));
    char err [256];
    assert_int_equal (mg_curve_make (f->wrong_keys, "catalog", "catalog", err, sizeof err), 0);
    assert_true (s_sh ("cp '%s/broker.key' '%s/'", mg_test_keys (), f->wrong_keys));
    uint64_t before = s_refused (f);
    s_remote_env (f, f->relay_port, f->wrong_keys, "catalog");
    f->stranger = s_spawn_in (f->ns, "mg-catalog", f->remote.envp);
    int64_t until = mg_test_now_ms () + WAIT_MS;
    while (s_refused (f) == before && mg_test_now_ms () < until)
        usleep (100 * 1000);
    assert_true (s_refused (f) > before);
    assert_int_equal (mg_test_workers (f->client, "catalog"), 2);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_replicas_on_another_host_serve_leave_on_a_cut_link_and_rejoin,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_process_on_the_other_host_with_an_unlisted_key_is_refused,
                                         setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
