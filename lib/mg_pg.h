/*  PostgreSQL helpers shared by the actors that own tables.  */
#ifndef MG_PG_H_INCLUDED
#define MG_PG_H_INCLUDED

#include "mg_msg.h"

#include <libpq-fe.h>
#include <stddef.h>

//  Connect with conninfo (a URL); NULL with a reason in err on failure.
PGconn *mg_pg_connect (const char *conninfo, char *err, size_t errlen);

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

#endif
