/*  The dead-letter table (config/sql/001_catalog.sql): provider work that
    still failed after its retries, with the reason, kept until a replay
    hands it back (replayed_at set, the row kept as history).  */
#include "fetcher.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  why <- what failed and PostgreSQL's message.
static void
s_why (PGconn *conn, const char *what, char *why, size_t whylen)
{
    const char *message = PQerrorMessage (conn);
    size_t len = strcspn (message, "\n");
    snprintf (why, whylen, "%s: %.*s", what, (int) len, message);
}

int64_t
deadletter_add (PGconn *conn, const char *provider, const char *kind, const char *payload_json,
                const char *reason, int attempts, char *why, size_t whylen)
{
    assert (conn && provider && kind && payload_json && reason && why);
    char count [16];
    snprintf (count, sizeof count, "%d", attempts);
    const char *params [] = { provider, kind, payload_json, reason, count };
    PGresult *res = PQexecParams (conn,
        "INSERT INTO dead_letters (provider, kind, payload, reason, attempts)"
        " VALUES ($1, $2, $3::jsonb, $4, $5::int) RETURNING id",
        5, NULL, params, NULL, NULL, 0);
    int64_t id = -1;
    if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1)
        id = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    else
        s_why (conn, "dead letter not recorded", why, whylen);
    PQclear (res);
    return id;
}

int
deadletter_pending (PGconn *conn, int max, deadletter_t **out, char *why, size_t whylen)
{
    assert (conn && out && why);
    *out = NULL;
    char limit [16];
    snprintf (limit, sizeof limit, "%d", max);
    const char *params [] = { limit };
    PGresult *res = PQexecParams (conn,
        "SELECT id, provider, kind, payload::text, reason, attempts FROM dead_letters"
        " WHERE replayed_at IS NULL ORDER BY created_at, id LIMIT $1::int",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        s_why (conn, "dead letters not read", why, whylen);
        PQclear (res);
        return -1;
    }
    int rows = PQntuples (res);
    deadletter_t *list = rows ? calloc ((size_t) rows, sizeof *list) : NULL;
    if (rows && !list) {
        snprintf (why, whylen, "out of memory");
        PQclear (res);
        return -1;
    }
    for (int i = 0; i < rows; i++) {
        list [i].id = strtoll (PQgetvalue (res, i, 0), NULL, 10);
        snprintf (list [i].provider, sizeof list [i].provider, "%s", PQgetvalue (res, i, 1));
        snprintf (list [i].kind, sizeof list [i].kind, "%s", PQgetvalue (res, i, 2));
        list [i].payload = strdup (PQgetvalue (res, i, 3));
        snprintf (list [i].reason, sizeof list [i].reason, "%s", PQgetvalue (res, i, 4));
        list [i].attempts = atoi (PQgetvalue (res, i, 5));
        if (!list [i].payload) {
            deadletter_list_free (&list, i);
            snprintf (why, whylen, "out of memory");
            PQclear (res);
            return -1;
        }
    }
    PQclear (res);
    *out = list;
    return rows;
}

void
deadletter_list_free (deadletter_t **list_p, int count)
{
    assert (list_p);
    if (*list_p) {
        for (int i = 0; i < count; i++)
            free ((*list_p) [i].payload);
        free (*list_p);
        *list_p = NULL;
    }
}

int64_t
deadletter_count (PGconn *conn, char *why, size_t whylen)
{
    assert (conn && why);
    PGresult *res = PQexec (conn, "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL");
    int64_t count = -1;
    if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1)
        count = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    else
        s_why (conn, "dead letters not counted", why, whylen);
    PQclear (res);
    return count;
}

int
deadletter_mark_replayed (PGconn *conn, int64_t id, char *why, size_t whylen)
{
    assert (conn && why);
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text };
    PGresult *res = PQexecParams (conn,
        "UPDATE dead_letters SET replayed_at = now() WHERE id = $1::bigint AND replayed_at IS NULL",
        1, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        s_why (conn, "dead letter not marked", why, whylen);
    else if (strcmp (PQcmdTuples (res), "1") != 0)
        snprintf (why, whylen, "dead letter %lld unknown or replayed already", (long long) id);
    else
        rc = 0;
    PQclear (res);
    return rc;
}
