/*  PostgreSQL helpers: connection and versioned migrations.

    Migrations are files config/sql/NNN_name.sql applied in name order, each
    in its own transaction together with its row in schema_migrations, so a
    failing file leaves nothing half-applied. Every actor that owns tables
    calls mg_pg_migrate at start; a session advisory lock makes concurrent
    starts take turns instead of racing.  */
#include "mg_pg.h"
#include "mg_config.h"
#include "mg_actor.h"
#include "mg_log.h"

#include <assert.h>
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIGRATION_LOCK_KEY   727271001      //  advisory lock id shared by all actors
#define MIGRATION_FILES_MAX  1000
#define MIGRATION_SIZE_MAX   (16 * 1024 * 1024)

//  Format a reason into err; returns -1.
static int
s_fail (char *err, size_t errlen, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static int
s_fail (char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list args;
        va_start (args, fmt);
        vsnprintf (err, errlen, fmt, args);
        va_end (args);
    }
    return -1;
}

//  Notices (e.g. "relation already exists, skipping") are not errors.
static void
s_ignore_notice (void *arg, const char *message)
{
    (void) arg;
    (void) message;
}

//  Request-sized bounds an actor chose for itself (mg_pg_set_request_bounds); 0: configured.
static atomic_int s_statement_ms;
static atomic_int s_lock_ms;

void
mg_pg_set_request_bounds (int statement_ms, int lock_ms)
{
    atomic_store (&s_statement_ms, statement_ms);
    atomic_store (&s_lock_ms, lock_ms);
}

//  The bound name configures: the process environment wins, then the
//  actor's own choice (chosen > 0), then the configuration file.
static int64_t
s_bound (const char *name, int chosen, int64_t fallback, int64_t min, int64_t max)
{
    if (!getenv (name) && chosen > 0)
        return chosen;
    return mg_config_int (name, fallback, min, max);
}

//  libpq keyword values for the bounds of one connection (see mg_pg.h).
typedef struct {
    char connect_timeout [16];
    char keepalives_idle [16];
    char keepalives_interval [16];
    char keepalives_count [16];
    char tcp_user_timeout [16];
    char options [128];
} s_bounds_t;

//  Fill bounds from the configuration; long_jobs picks the job-sized
//  statement and lock bounds instead of the request-sized ones.
static void
s_bounds (s_bounds_t *bounds, bool long_jobs)
{
    //  libpq treats a connect_timeout below 2 s as 2 s.
    snprintf (bounds->connect_timeout, sizeof bounds->connect_timeout, "%lld",
              (long long) mg_config_int ("MG_PG_CONNECT_TIMEOUT_S", 3, 2, 600));
    snprintf (bounds->keepalives_idle, sizeof bounds->keepalives_idle, "%lld",
              (long long) mg_config_int ("MG_PG_KEEPALIVES_IDLE_S", 10, 1, 7200));
    snprintf (bounds->keepalives_interval, sizeof bounds->keepalives_interval, "%lld",
              (long long) mg_config_int ("MG_PG_KEEPALIVES_INTERVAL_S", 5, 1, 600));
    snprintf (bounds->keepalives_count, sizeof bounds->keepalives_count, "%lld",
              (long long) mg_config_int ("MG_PG_KEEPALIVES_COUNT", 3, 1, 100));
    snprintf (bounds->tcp_user_timeout, sizeof bounds->tcp_user_timeout, "%lld",
              (long long) mg_config_int ("MG_PG_TCP_USER_TIMEOUT_MS", 15000, 1000, 3600000));
    int64_t statement = long_jobs
        ? mg_config_int ("MG_PG_LONG_STATEMENT_TIMEOUT_MS", 600000, 1000, 86400000)
        : s_bound ("MG_PG_STATEMENT_TIMEOUT_MS", atomic_load (&s_statement_ms), 4000, 100, 3600000);
    int64_t lock = long_jobs
        ? mg_config_int ("MG_PG_LONG_LOCK_TIMEOUT_MS", 60000, 100, 86400000)
        : s_bound ("MG_PG_LOCK_TIMEOUT_MS", atomic_load (&s_lock_ms), 1000, 100, 3600000);
    snprintf (bounds->options, sizeof bounds->options,
              "-c statement_timeout=%lld -c lock_timeout=%lld", (long long) statement, (long long) lock);
}

//  Connect with the bounds of long_jobs (see mg_pg_connect, mg_pg_connect_long).
static PGconn *
s_connect (const char *conninfo, bool long_jobs, char *err, size_t errlen)
{
    s_bounds_t bounds;
    s_bounds (&bounds, long_jobs);
    //  Our bounds come before dbname: what the URL itself says wins.
    const char *keys [] = { "connect_timeout", "keepalives", "keepalives_idle",
                            "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                            "options", "dbname", NULL };
    const char *values [] = { bounds.connect_timeout, "1", bounds.keepalives_idle,
                              bounds.keepalives_interval, bounds.keepalives_count,
                              bounds.tcp_user_timeout, bounds.options, conninfo, NULL };
    PGconn *conn = PQconnectdbParams (keys, values, 1);
    if (!conn) {
        s_fail (err, errlen, "out of memory");
        return NULL;
    }
    if (PQstatus (conn) != CONNECTION_OK) {
        s_fail (err, errlen, "%s", PQerrorMessage (conn));
        //  libpq messages end in a newline; logs are one line each.
        //  One line, no double quotes: reasons go into key="value" logs.
        for (char *p = err; p && *p; p++)
            if (*p == '\n' || *p == '"')
                *p = *p == '"' ? '\'' : ' ';
        PQfinish (conn);
        return NULL;
    }
    PQsetNoticeProcessor (conn, s_ignore_notice, NULL);
    return conn;
}

PGconn *
mg_pg_connect (const char *conninfo, char *err, size_t errlen)
{
    return s_connect (conninfo, false, err, errlen);
}

PGconn *
mg_pg_connect_long (const char *conninfo, char *err, size_t errlen)
{
    return s_connect (conninfo, true, err, errlen);
}

//  Run a command that returns no rows; -1 with the server's reason.
static int
s_exec (PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec (conn, sql);
    ExecStatusType status = PQresultStatus (res);
    int rc = (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc)
        s_fail (err, errlen, "%s", PQresultErrorMessage (res));
    PQclear (res);
    return rc;
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  True when name looks like NNN_something.sql.
static bool
s_is_migration (const char *name)
{
    size_t len = strlen (name);
    return len > 8 && name [0] >= '0' && name [0] <= '9' && name [1] >= '0' && name [1] <= '9'
        && name [2] >= '0' && name [2] <= '9' && name [3] == '_'
        && strcmp (name + len - 4, ".sql") == 0;
}

//  Read a whole file into a new NUL-terminated buffer.
static char *
s_read_file (const char *path, char *err, size_t errlen)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        s_fail (err, errlen, "%s: %s", path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fileno (file), &st) != 0 || st.st_size > MIGRATION_SIZE_MAX) {
        fclose (file);
        s_fail (err, errlen, "%s: unreadable or larger than %d bytes", path, MIGRATION_SIZE_MAX);
        return NULL;
    }
    char *text = malloc ((size_t) st.st_size + 1);
    if (!text) {
        fclose (file);
        s_fail (err, errlen, "out of memory");
        return NULL;
    }
    size_t got = fread (text, 1, (size_t) st.st_size, file);
    fclose (file);
    if (got != (size_t) st.st_size) {
        free (text);
        s_fail (err, errlen, "%s: short read", path);
        return NULL;
    }
    text [got] = 0;
    return text;
}

//  True when the migration called name is recorded as applied.
static int
s_applied (PGconn *conn, const char *name, char *err, size_t errlen)
{
    const char *params [1] = { name };
    PGresult *res = PQexecParams (conn, "SELECT 1 FROM schema_migrations WHERE name = $1",
                                  1, NULL, params, NULL, NULL, 0);
    int rc;
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        rc = s_fail (err, errlen, "%s", PQresultErrorMessage (res));
    else
        rc = PQntuples (res) > 0;
    PQclear (res);
    return rc;
}

//  Apply one file in a transaction with its bookkeeping row.
static int
s_apply (PGconn *conn, const char *dir, const char *name, char *err, size_t errlen)
{
    char path [4096];
    if ((size_t) snprintf (path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return s_fail (err, errlen, "migration path too long");
    char *sql = s_read_file (path, err, errlen);
    if (!sql)
        return -1;
    char reason [1024];
    int rc = s_exec (conn, "BEGIN", reason, sizeof reason);
    if (rc == 0)
        rc = s_exec (conn, sql, reason, sizeof reason);
    if (rc == 0) {
        const char *params [1] = { name };
        PGresult *res = PQexecParams (conn, "INSERT INTO schema_migrations (name) VALUES ($1)",
                                      1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            snprintf (reason, sizeof reason, "%s", PQresultErrorMessage (res));
            rc = -1;
        }
        PQclear (res);
    }
    if (rc == 0)
        rc = s_exec (conn, "COMMIT", reason, sizeof reason);
    free (sql);
    if (rc) {
        char ignored [256];
        s_exec (conn, "ROLLBACK", ignored, sizeof ignored);
        size_t len = strlen (reason);
        if (len && reason [len - 1] == '\n')
            reason [len - 1] = 0;
        return s_fail (err, errlen, "migration %s failed: %s", name, reason);
    }
    mg_info ("migration applied", "name=%s", name);
    return 0;
}

int
mg_pg_migrate (PGconn *conn, const char *dir, char *err, size_t errlen)
{
    assert (conn);
    assert (dir);
    DIR *d = opendir (dir);
    if (!d)
        return s_fail (err, errlen, "cannot open migrations folder %s: %s", dir, strerror (errno));
    char *names [MIGRATION_FILES_MAX];
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (d)) && count < MIGRATION_FILES_MAX)
        if (s_is_migration (entry->d_name)) {
            names [count] = strdup (entry->d_name);
            if (names [count])
                count++;
        }
    closedir (d);
    qsort (names, count, sizeof names [0], s_compare);

    char lock_sql [96];
    snprintf (lock_sql, sizeof lock_sql, "SELECT pg_advisory_lock(%d)", MIGRATION_LOCK_KEY);
    char unlock_sql [96];
    snprintf (unlock_sql, sizeof unlock_sql, "SELECT pg_advisory_unlock(%d)", MIGRATION_LOCK_KEY);
    int applied = 0;
    int rc = s_exec (conn, lock_sql, err, errlen);
    if (rc == 0)
        rc = s_exec (conn, "SET client_min_messages = warning;"
                           "CREATE TABLE IF NOT EXISTS schema_migrations ("
                           " name text PRIMARY KEY,"
                           " applied_at timestamptz NOT NULL DEFAULT now())", err, errlen);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        int done = s_applied (conn, names [i], err, errlen);
        if (done < 0)
            rc = -1;
        else
        if (!done) {
            rc = s_apply (conn, dir, names [i], err, errlen);
            if (rc == 0)
                applied++;
        }
    }
    char ignored [256];
    s_exec (conn, unlock_sql, ignored, sizeof ignored);
    for (size_t i = 0; i < count; i++)
        free (names [i]);
    return rc ? -1 : applied;
}

int
mg_pg_prepare (const char *url)
{
    char reason [512];
    PGconn *pg = mg_pg_connect_long (url, reason, sizeof reason);
    int rc = pg ? mg_pg_migrate (pg, mg_config_str ("MG_SQL_DIR", "config/sql"), reason, sizeof reason) : -1;
    PQfinish (pg);
    if (rc < 0) {
        mg_error ("cannot prepare the database", "reason=\"%s\"", reason);
        return -1;
    }
    return 0;
}

PGconn *
mg_pg_keep (PGconn **conn_p, const char *url, const char *what, mg_error_t *err)
{
    if (*conn_p && PQstatus (*conn_p) == CONNECTION_OK) {
        //  A request that returned inside a transaction must not leave the
        //  next one on this connection in it (or in an aborted one).
        if (PQtransactionStatus (*conn_p) != PQTRANS_IDLE)
            mg_pg_settle (*conn_p);
        if (PQstatus (*conn_p) == CONNECTION_OK && PQtransactionStatus (*conn_p) == PQTRANS_IDLE)
            return *conn_p;
    }
    PQfinish (*conn_p);
    char reason [256];
    *conn_p = mg_pg_connect (url, reason, sizeof reason);
    if (!*conn_p) {
        mg_error ("database unavailable", "what=\"%s\" reason=\"%s\"", what, reason);
        mg_actor_fail (err, "SERVICE_UNAVAILABLE", NULL, "%s unavailable", what);
        err->retry_after = 1;
        err->has_retry_after = true;
    }
    return *conn_p;
}

const char *
mg_pg_sqlstate (const PGresult *res)
{
    const char *state = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    return state ? state : "";
}

//  SQLSTATEs that say "try again later", not "your request is wrong":
//  class 08 connection exception, 53 insufficient resources, 57 operator
//  intervention (query_canceled 57014 is statement_timeout, 57P01-03 server
//  shutdown), 40001 serialization failure, 40P01 deadlock, 55P03 lock not
//  available (lock_timeout), 25006 read-only transaction (a standby).
bool
mg_pg_transient (const char *state)
{
    if (!*state)
        return true;                //  no result at all: the connection went
    return strncmp (state, "08", 2) == 0 || strncmp (state, "53", 2) == 0
        || strncmp (state, "57", 2) == 0 || strcmp (state, "40001") == 0
        || strcmp (state, "40P01") == 0 || strcmp (state, "55P03") == 0
        || strcmp (state, "25006") == 0;
}

int
mg_pg_fail (mg_error_t *err, PGconn *conn, const PGresult *res, const char *what)
{
    assert (err);
    const char *state = mg_pg_sqlstate (res);
    //  The primary message only: DETAIL lines can quote a row's values
    //  ("Failing row contains ..."), which may be emails or hashes.
    const char *reason = res ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : conn ? PQerrorMessage (conn) : "";
    char line [256];
    snprintf (line, sizeof line, "%s", reason ? reason : "");
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '"')
            *p = *p == '"' ? '\'' : ' ';
    bool transient = mg_pg_transient (state) || (conn && PQstatus (conn) != CONNECTION_OK);
    mg_error ("database call failed", "what=\"%s\" sqlstate=%s transient=%d reason=\"%s\"",
              what, *state ? state : "-", transient, line);
    mg_pg_settle (conn);
    if (transient) {
        mg_actor_fail (err, "SERVICE_UNAVAILABLE", NULL, "%s unavailable, try again shortly", what);
        err->retry_after = 1;
        err->has_retry_after = true;
    }
    else
        mg_actor_fail (err, "INTERNAL", NULL, "%s failed", what);
    return -1;
}

void
mg_pg_settle (PGconn *conn)
{
    if (!conn)
        return;
    if (PQstatus (conn) != CONNECTION_OK) {
        PQreset (conn);
        return;
    }
    PGTransactionStatusType status = PQtransactionStatus (conn);
    if (status == PQTRANS_INTRANS || status == PQTRANS_INERROR) {
        PGresult *res = PQexec (conn, "ROLLBACK");
        if (PQresultStatus (res) != PGRES_COMMAND_OK)
            mg_warn ("rollback failed", "reason=\"%s\"", PQresultErrorMessage (res));
        PQclear (res);
    }
    else
    if (status == PQTRANS_ACTIVE || status == PQTRANS_UNKNOWN)
        PQreset (conn);
}
