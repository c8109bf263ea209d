/*  PostgreSQL helpers shared by the actors that own tables.  */
#ifndef MG_PG_H_INCLUDED
#define MG_PG_H_INCLUDED

#include "mg_msg.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

//  Connect with conninfo (a URL); NULL with a reason in err on failure.
//  Every wait on the connection is bounded, so that a stalled or unreachable
//  server costs a request a 503, never a hung worker: connect_timeout
//  (MG_PG_CONNECT_TIMEOUT_S), TCP keepalives and tcp_user_timeout (a dead
//  peer is noticed while a statement waits), statement_timeout
//  (MG_PG_STATEMENT_TIMEOUT_MS) and lock_timeout (MG_PG_LOCK_TIMEOUT_MS),
//  sized for request handlers. Parameters in conninfo itself win.
PGconn *mg_pg_connect (const char *conninfo, char *err, size_t errlen);

//  For an actor whose handlers are batch jobs its callers allow longer than
//  a request (the indexer: 30 s): the statement and lock bounds of the
//  request-sized connections this process makes from now on. A value set in
//  the process environment still wins.
void mg_pg_set_request_bounds (int statement_ms, int lock_ms);

//  The same with job-sized statement and lock bounds
//  (MG_PG_LONG_STATEMENT_TIMEOUT_MS, MG_PG_LONG_LOCK_TIMEOUT_MS), for work
//  that legitimately runs long and answers no caller waiting on a deadline:
//  migrations, loading an index snapshot, training over the whole catalog.
PGconn *mg_pg_connect_long (const char *conninfo, char *err, size_t errlen);

//  Apply every config/sql/NNN_name.sql in dir not yet applied, in order,
//  each in its own transaction, recorded in schema_migrations. Serialised
//  across processes by an advisory lock, so actors may all call it at start.
//  Returns the number applied, or -1 with a reason in err.
int mg_pg_migrate (PGconn *conn, const char *dir, char *err, size_t errlen);

//  What every actor that owns tables does at start: connect to url and apply
//  the migrations of MG_SQL_DIR (default config/sql), logging why when that
//  fails. Returns 0 or -1.
int mg_pg_prepare (const char *url);

//  *conn_p when it is connected, else a new connection to url (the old one
//  closed). NULL when the database cannot be reached, with a log line and
//  err filled as SERVICE_UNAVAILABLE "<what> unavailable".
PGconn *mg_pg_keep (PGconn **conn_p, const char *url, const char *what, mg_error_t *err);

//  The SQLSTATE of res ("" when there is none: no result, or a lost
//  connection). Callers test it for the outcomes that are the caller's doing
//  (e.g. "23503" a row that names a missing user) before mg_pg_fail.
const char *mg_pg_sqlstate (const PGresult *res);

//  True when sqlstate (as from mg_pg_sqlstate) says "try again later", not
//  "this request is wrong": a lost connection (""), a timeout, a lock or
//  serialization conflict, a server shutting down or out of resources. For
//  callers that must tell a bad record from a database failure before they
//  decide what to do with the record; mg_pg_fail uses the same test.
bool mg_pg_transient (const char *sqlstate);

//  The one mapping of a PostgreSQL failure to a bus error, for failures that
//  are not the caller's fault: a lost connection, a timeout, a lock or
//  serialization conflict, a server shutting down or out of resources →
//  SERVICE_UNAVAILABLE with retry_after 1 (HTTP 503 + Retry-After); anything
//  else → INTERNAL (500). Logs what failed with the server's reason, and
//  leaves conn usable for the next request (mg_pg_settle). Returns -1 so
//  handlers can `return mg_pg_fail (...)`. res and conn may be NULL.
int mg_pg_fail (mg_error_t *err, PGconn *conn, const PGresult *res, const char *what);

//  Leave conn ready for the next request: ROLLBACK an open or failed
//  transaction, reset a connection that is no longer OK. Safe on NULL.
void mg_pg_settle (PGconn *conn);

#endif
