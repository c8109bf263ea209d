/*  indexer.sql: the apply path's statements, error texts and checksums.  */
#include "apply.h"
#include "mg_pg.h"

#include <stdlib.h>
#include <string.h>

void
indexer_sha256 (const char *text, char out [HEX_SHA256])
{
    unsigned char digest [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (digest, (const unsigned char *) text, strlen (text));
    sodium_bin2hex (out, HEX_SHA256, digest, sizeof digest);
}

int
indexer_checksum (json_t *value, char out [HEX_SHA256])
{
    char *text = json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!text)
        return -1;
    indexer_sha256 (text, out);
    free (text);
    return 0;
}

_Thread_local char indexer_failed_state [8];

PGresult *
indexer_sql (PGconn *pg, char *err, size_t errlen, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams (pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        snprintf (indexer_failed_state, sizeof indexer_failed_state, "%s", mg_pg_sqlstate (res));
        snprintf (err, errlen, "%s", PQresultErrorMessage (res));
        for (char *p = err; *p; p++)
            if (*p == '\n' || *p == '"')
                *p = ' ';
        PQclear (res);
        return NULL;
    }
    return res;
}

int
indexer_run (PGconn *pg, char *err, size_t errlen, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = indexer_sql (pg, err, errlen, sql, nparams, params);
    PQclear (res);
    return res ? 0 : -1;
}

char *
indexer_dump (json_t *value)
{
    return json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
}

int
indexer_copy_run (PGconn *pg, const char *sql, indexer_copy_t *rows, char *err, size_t errlen)
{
    int rc = indexer_copy_send (pg, sql, rows, err, errlen, indexer_failed_state);
    //  The reason goes into log lines and ingest_jobs.last_error as one line.
    for (char *p = err; rc && *p; p++)
        if (*p == '\n' || *p == '"')
            *p = ' ';
    return rc;
}
