/*  PostgreSQL helpers shared by the actors that own tables.  */
#ifndef MG_PG_H_INCLUDED
#define MG_PG_H_INCLUDED

#include <libpq-fe.h>
#include <stddef.h>

//  Connect with conninfo (a URL); NULL with a reason in err on failure.
PGconn *mg_pg_connect (const char *conninfo, char *err, size_t errlen);

//  Apply every config/sql/NNN_name.sql in dir not yet applied, in order,
//  each in its own transaction, recorded in schema_migrations. Serialised
//  across processes by an advisory lock, so actors may all call it at start.
//  Returns the number applied, or -1 with a reason in err.
int mg_pg_migrate (PGconn *conn, const char *dir, char *err, size_t errlen);

#endif
