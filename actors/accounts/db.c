/*  The accounts actor's one way to PostgreSQL: a connection per worker
    thread, handed out only when it is usable (connected, and idle unless
    the handler opened a transaction with accounts_begin), reopened once
    when a statement finds it lost (database restart). Every failure goes
    through mg_pg_fail, which also rolls back, so no error leaves the next
    request on this thread in an aborted transaction.  */
#include "accounts.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <assert.h>
#include <string.h>

#define SQLSTATE_UNIQUE_VIOLATION "23505"
#define DB_WHAT "accounts database"

//  The thread's connection, ready for a statement; NULL with err when
//  PostgreSQL cannot be reached. Inside a transaction it is used as it is.
static PGconn *
s_connection (accounts_thread_t *self, mg_error_t *err)
{
    if (self->in_transaction)
        return self->pg;
    PGconn *pg = mg_pg_keep (&self->pg, self->config->pg_url, DB_WHAT, err);
    if (!pg) {
        err->has_retry_after = true;
        err->retry_after = 1;
    }
    return pg;
}

PGresult *
accounts_exec (accounts_thread_t *self, const char *sql, int nparams,
               const char *const *params, mg_error_t *err)
{
    assert (self && sql && err);
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *pg = s_connection (self, err);
        if (!pg)
            return NULL;
        PGresult *res = PQexecParams (pg, sql, nparams, NULL, params, NULL, NULL, 0);
        ExecStatusType status = res ? PQresultStatus (res) : PGRES_FATAL_ERROR;
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
            return res;
        //  A lost connection outside a transaction: once more on a new one.
        if (PQstatus (pg) == CONNECTION_BAD && !self->in_transaction && attempt == 0) {
            PQclear (res);
            continue;
        }
        self->in_transaction = false;
        if (strcmp (mg_pg_sqlstate (res), SQLSTATE_UNIQUE_VIOLATION) == 0) {
            PQclear (res);
            mg_pg_settle (pg);
            mg_actor_fail (err, "CONFLICT", NULL, "already exists");
            return NULL;
        }
        //  mg_pg_fail logs the server's reason, never the parameters (they
        //  may be password hashes, token hashes or emails).
        mg_pg_fail (err, pg, res, DB_WHAT);
        PQclear (res);
        return NULL;
    }
    return NULL;
}

int
accounts_begin (accounts_thread_t *self, mg_error_t *err)
{
    assert (self && !self->in_transaction);
    PGresult *res = accounts_exec (self, "BEGIN", 0, NULL, err);
    if (!res)
        return -1;
    PQclear (res);
    self->in_transaction = true;
    return 0;
}

int
accounts_commit (accounts_thread_t *self, mg_error_t *err)
{
    assert (self);
    PGresult *res = accounts_exec (self, "COMMIT", 0, NULL, err);
    self->in_transaction = false;
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

void
accounts_rollback (accounts_thread_t *self)
{
    assert (self);
    self->in_transaction = false;
    mg_pg_settle (self->pg);
}
