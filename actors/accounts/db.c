/*  The accounts actor's one way to PostgreSQL: a connection per worker
    thread, reopened once when a query finds it lost (database restart).  */
#include "accounts.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <assert.h>
#include <string.h>

#define SQLSTATE_UNIQUE_VIOLATION "23505"

//  A working connection, or NULL when PostgreSQL cannot be reached.
static PGconn *
s_connection (accounts_thread_t *self)
{
    if (self->pg && PQstatus (self->pg) == CONNECTION_OK)
        return self->pg;
    if (self->pg) {
        PQreset (self->pg);
        if (PQstatus (self->pg) == CONNECTION_OK)
            return self->pg;
        PQfinish (self->pg);
        self->pg = NULL;
    }
    char reason [256];
    self->pg = mg_pg_connect (self->config->pg_url, reason, sizeof reason);
    if (!self->pg)
        mg_error ("accounts database unavailable", "reason=\"%s\"", reason);
    return self->pg;
}

PGresult *
accounts_exec (accounts_thread_t *self, const char *sql, int nparams,
               const char *const *params, mg_error_t *err)
{
    assert (self && sql && err);
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *pg = s_connection (self);
        if (!pg)
            break;
        PGresult *res = PQexecParams (pg, sql, nparams, NULL, params, NULL, NULL, 0);
        ExecStatusType status = res ? PQresultStatus (res) : PGRES_FATAL_ERROR;
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
            return res;
        if (PQstatus (pg) == CONNECTION_BAD) {
            PQclear (res);
            continue;
        }
        const char *state = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
        if (state && strcmp (state, SQLSTATE_UNIQUE_VIOLATION) == 0) {
            PQclear (res);
            mg_actor_fail (err, "CONFLICT", NULL, "already exists");
            return NULL;
        }
        //  The statement text is ours; parameters are never logged (they
        //  may be passwords' hashes, token hashes or emails).
        mg_error ("accounts query failed", "sqlstate=%s error=\"%s\"", state ? state : "-",
                  res ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : "no result");
        PQclear (res);
        mg_actor_fail (err, "INTERNAL", NULL, "accounts query failed");
        return NULL;
    }
    mg_actor_fail (err, "SERVICE_UNAVAILABLE", NULL, "accounts database unavailable");
    err->has_retry_after = true;
    err->retry_after = 1;
    return NULL;
}
