/*  What the read handlers share: running a query whose one row is the reply
    as JSON, and checking UUIDs (regions and paging: lib/mg_filters.c).

    PostgreSQL builds each reply as one JSON document (jsonb_build_object),
    which mg_msg_from_json then checks against the reply message: the field
    limits of schema.def hold for what leaves the actor, whatever is stored.  */
#include "catalog.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <assert.h>
#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

int
catalog_query_json (catalog_thread_t *self, const char *sql, int nparams,
                    const char *const *params, const mg_msgdesc_t *desc,
                    void *rep, mg_error_t *err)
{
    assert (self && sql && desc && rep && err);
    PGresult *res = NULL;
    for (int attempt = 0; !res; attempt++) {
        PGconn *pg = catalog_pg (self, err);
        if (!pg)
            return -1;
        res = PQexecParams (pg, sql, nparams, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (res) == PGRES_TUPLES_OK)
            break;
        //  A connection lost since the last request (database restart) is
        //  reopened once before the request fails.
        if (attempt == 0 && PQstatus (pg) == CONNECTION_BAD) {
            PQclear (res);
            res = NULL;
            continue;
        }
        int rc = mg_pg_fail (err, pg, res, "catalog database");
        PQclear (res);
        return rc;
    }
    if (PQntuples (res) == 0 || PQnfields (res) != 1 || PQgetisnull (res, 0, 0)) {
        PQclear (res);
        return 1;
    }
    json_error_t error;
    json_t *json = json_loadb (PQgetvalue (res, 0, 0), (size_t) PQgetlength (res, 0, 0), 0, &error);
    PQclear (res);
    if (!json) {
        mg_error ("catalog query returned invalid JSON", "reply=%s error=\"%s\"", desc->name, error.text);
        return mg_actor_fail (err, "INTERNAL", NULL, "could not build the reply");
    }
    char reason [MG_MSG_ERR_LEN];
    int rc = mg_msg_from_json (desc, json, rep, reason, sizeof reason);
    json_decref (json);
    if (rc) {
        mg_error ("stored row does not fit the reply", "reply=%s reason=\"%s\"", desc->name, reason);
        return mg_actor_fail (err, "INTERNAL", NULL, "could not build the reply");
    }
    return 0;
}

