/*  The retention job's deletes (sync_retention_run, sync.h). Tables that
    only grew keep what correctness needs: the op log for the window in
    which a resent op is still recognised as a duplicate (tombstones are
    compacted over the same window, state.c), and events for the window a
    stream can resume from. Rows go in steps of DELETE_STEP so no step
    holds locks or builds a transaction large enough to stall writers.  */
#include "sync.h"
#include "mg_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })
#define DELETE_STEP  "5000"         //  rows per statement: a few ms of work each

//  Run sql (deletes at most DELETE_STEP rows older than $1 seconds) until
//  it deletes fewer; the total into deleted. 0, or -1 with err.
static int
s_drain (PGconn *pg, const char *sql, int64_t keep_s, int64_t *deleted, mg_error_t *err)
{
    char keep [24];
    snprintf (keep, sizeof keep, "%" PRId64, keep_s);
    *deleted = 0;
    for (;;) {
        PGresult *res = PQexecParams (pg, sql, 1, NULL, P (keep), NULL, NULL, 0);
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            mg_pg_fail (err, pg, res, "sync retention");
            PQclear (res);
            return -1;
        }
        int64_t n = strtoll (PQcmdTuples (res), NULL, 10);
        PQclear (res);
        *deleted += n;
        if (n < strtoll (DELETE_STEP, NULL, 10))
            return 0;
    }
}

int
sync_retention_run (PGconn *pg, int64_t ops_keep_s, int64_t events_keep_s, int64_t *ops, int64_t *events,
                    mg_error_t *err)
{
    if (s_drain (pg, "DELETE FROM sync_ops WHERE ctid = ANY (ARRAY (SELECT ctid FROM sync_ops "
                     "WHERE applied_at < now () - make_interval (secs => $1::bigint) LIMIT " DELETE_STEP "))",
                 ops_keep_s, ops, err))
        return -1;
    return s_drain (pg, "DELETE FROM sync_events WHERE ctid = ANY (ARRAY (SELECT ctid FROM sync_events "
                        "WHERE created_at < now () - make_interval (secs => $1::bigint) LIMIT " DELETE_STEP "))",
                    events_keep_s, events, err);
}
