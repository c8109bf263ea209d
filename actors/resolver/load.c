/*  The match index from PostgreSQL: every entity at start, then the
    entities content.changed names. A replica's own ingest adds what it
    creates as it goes; the follower adds what other replicas created, so
    any replica answers resolver.resolve the same once the catalog has
    announced the change. The index only grows (adding an entity again
    extends it, never duplicates it), so the follower and the ingest never
    undo each other. A gap in the event numbers (slow joiner, a restarted
    broker) re-reads every entity.  */
#include "resolver.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <stdlib.h>
#include <string.h>

#define POLL_MS      200       //  how often the follower checks for stop
#define BATCH_MAX    256       //  entities re-read in one query
#define RETRY_MS     1000      //  wait before retrying after PostgreSQL failed
#define UUID_TEXT    36        //  bytes of a UUID in text

//  Every entity, or those of the uuid[] literal $1 when it is not NULL.
static const char s_entities_sql [] =
    "SELECT c.id::text, c.type, coalesce (c.year, 0), "
    "  coalesce ((SELECT json_agg (g.slug) FROM content_genres cg JOIN genres g ON g.id = cg.genre_id "
    "             WHERE cg.content_id = c.id), '[]')::text, "
    "  coalesce ((SELECT json_agg (t.title) FROM content_titles t WHERE t.content_id = c.id), '[]')::text, "
    "  coalesce ((SELECT json_agg (json_build_array (e.source, e.value)) FROM external_ids e "
    "             WHERE e.content_id = c.id), '[]')::text, "
    "  coalesce ((SELECT json_agg (json_build_array (s.source, s.source_id)) FROM content_sources s "
    "             WHERE s.content_id = c.id), '[]')::text, "
    "  c.title, coalesce (c.original_title, '') "
    "FROM content c WHERE $1::uuid[] IS NULL OR c.id = ANY ($1::uuid[])";

//  Add one entity row of s_entities_sql to index. Returns 0 or -1 (memory).
static int
s_add_row (match_index_t *index, PGresult *res, int r)
{
    json_error_t jerr;
    json_t *genres = json_loads (PQgetvalue (res, r, 3), 0, &jerr);
    json_t *titles = json_loads (PQgetvalue (res, r, 4), 0, &jerr);
    json_t *ids = json_loads (PQgetvalue (res, r, 5), 0, &jerr);
    json_t *sources = json_loads (PQgetvalue (res, r, 6), 0, &jerr);
    match_record_t record = { .type = PQgetvalue (res, r, 1), .year = atoi (PQgetvalue (res, r, 2)) };
    record.titles [record.ntitles++] = PQgetvalue (res, r, 7);
    if (*PQgetvalue (res, r, 8))
        record.titles [record.ntitles++] = PQgetvalue (res, r, 8);
    size_t i;
    json_t *value;
    json_array_foreach (titles, i, value)
        if (record.ntitles < MATCH_TITLES_MAX && json_is_string (value))
            record.titles [record.ntitles++] = json_string_value (value);
    json_array_foreach (genres, i, value)
        if (json_is_string (value) && genres_id (json_string_value (value)))
            record.genres |= (genre_set_t) 1 << (genres_id (json_string_value (value)) - 1);
    json_array_foreach (ids, i, value) {
        const char *source = json_string_value (json_array_get (value, 0));
        const char *text = json_string_value (json_array_get (value, 1));
        if (!source || !text)
            continue;
        if (!strcmp (source, "eidr"))
            record.eidr = text;
        else
        if (!strcmp (source, "imdb"))
            record.imdb = text;
        else
        if (!strcmp (source, "tmdb"))
            record.tmdb = strtoll (text, NULL, 10);
    }
    const char *entity = PQgetvalue (res, r, 0);
    int rc = match_index_add (index, entity, &record);
    json_array_foreach (sources, i, value) {
        match_record_t source = { .type = record.type,
                                  .source = json_string_value (json_array_get (value, 0)),
                                  .source_id = json_string_value (json_array_get (value, 1)) };
        if (rc == 0 && source.source && source.source_id)
            rc = match_index_add (index, entity, &source);
    }
    json_decref (genres);
    json_decref (titles);
    json_decref (ids);
    json_decref (sources);
    return rc;
}

//  Read the entities of ids (a uuid[] literal; NULL: all) and add them to
//  the index under the write lock. Returns 0 or -1 (logged).
static int
s_read (resolver_t *self, PGconn *pg, const char *ids)
{
    const char *params [1] = { ids };
    PGresult *res = PQexecParams (pg, s_entities_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_error ("cannot read entities", "error=\"%s\"", PQresultErrorMessage (res));
        PQclear (res);
        return -1;
    }
    int rc = 0;
    pthread_rwlock_wrlock (&self->lock);
    for (int r = 0; r < PQntuples (res) && rc == 0; r++)
        rc = s_add_row (self->index, res, r);
    pthread_rwlock_unlock (&self->lock);
    PQclear (res);
    if (rc)
        mg_error ("match index is out of memory", NULL);
    return rc;
}

//  Run a statement that returns no rows; 0 or -1 (logged).
static int
s_exec (PGconn *pg, const char *sql)
{
    PGresult *res = PQexec (pg, sql);
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        mg_error ("resolver load failed", "sql=\"%s\" error=\"%s\"", sql, PQresultErrorMessage (res));
    PQclear (res);
    return rc;
}

int
resolver_load (resolver_t *self)
{
    char reason [512];
    PGconn *pg = mg_pg_connect_long (self->pg_url, reason, sizeof reason);
    if (!pg) {
        mg_error ("cannot connect to PostgreSQL", "reason=\"%s\"", reason);
        return -1;
    }
    //  One snapshot: the entities and the last change event they include.
    int rc = s_exec (pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    PGresult *res = rc ? NULL
                  : PQexec (pg, "SELECT last_seq FROM change_streams WHERE stream = 'content.changed'");
    if (!rc && PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_error ("cannot read change_streams", "error=\"%s\"", PQresultErrorMessage (res));
        rc = -1;
    }
    if (!rc)
        self->content_seq = PQntuples (res) ? strtoull (PQgetvalue (res, 0, 0), NULL, 10) : 0;
    PQclear (res);
    if (!rc)
        rc = s_read (self, pg, NULL);
    if (!rc)
        rc = s_exec (pg, "COMMIT");
    PQfinish (pg);
    if (!rc)
        mg_info ("match index loaded", "entities=%zu content_seq=%llu", match_index_size (self->index),
                 (unsigned long long) self->content_seq);
    return rc;
}

//  Take one event: its id into the uuid[] literal ids (used bytes of
//  room), *count + 1; *gap when the numbering broke or ids is full.
static void
s_take (resolver_t *self, zmsg_t *msg, char *ids, size_t room, size_t *used, size_t *count, bool *gap)
{
    zframe_t *topic = zmsg_first (msg);
    zframe_t *body = zmsg_next (msg);
    mg_change_event_t event;
    char reason [MG_MSG_ERR_LEN];
    if (!topic || !body || !zframe_streq (topic, "content.changed")
    ||  mg_msg_decode (&mg_change_event_desc, zframe_data (body), zframe_size (body), &event, reason, sizeof reason))
        return;
    if (event.seq > self->content_seq + 1)
        *gap = true;
    else
    if (event.seq == self->content_seq + 1) {
        //  An id is a UUID (the catalog's); anything else would break the literal.
        bool uuid = strlen (event.content_id) == UUID_TEXT
                 && strspn (event.content_id, "0123456789abcdefABCDEF-") == UUID_TEXT;
        if (uuid && *used + UUID_TEXT + 2 < room) {
            *used += (size_t) snprintf (ids + *used, room - *used, "%s%s", *count ? "," : "", event.content_id);
            (*count)++;
        }
        else
        if (uuid)
            *gap = true;
    }
    self->content_seq = event.seq > self->content_seq ? event.seq : self->content_seq;
    mg_msg_clear (&mg_change_event_desc, &event);
}

void *
resolver_follow (void *arg)
{
    resolver_t *self = arg;
    PGconn *pg = NULL;
    void *sub = zsock_resolve (self->events);
    bool all = false;                   //  a gap or a failure: re-read every entity
    char ids [2 + BATCH_MAX * (UUID_TEXT + 1) + 1];
    while (!atomic_load (&self->stopping)) {
        zmq_pollitem_t item = { sub, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, POLL_MS) <= 0 && !all)
            continue;
        size_t used = 1, count = 0;
        ids [0] = '{';
        ids [1] = '\0';
        bool gap = false;
        while (count < BATCH_MAX && !gap) {
            zmq_pollitem_t more = { sub, 0, ZMQ_POLLIN, 0 };
            zmsg_t *msg = zmq_poll (&more, 1, 0) > 0 ? zmsg_recv (self->events) : NULL;
            if (!msg)
                break;
            s_take (self, msg, ids, sizeof ids - 1, &used, &count, &gap);
            zmsg_destroy (&msg);
        }
        ids [used++] = '}';
        ids [used] = '\0';
        all = all || gap;
        if (!all && !count)
            continue;
        char reason [512];
        if (!pg || PQstatus (pg) != CONNECTION_OK) {
            PQfinish (pg);
            pg = mg_pg_connect_long (self->pg_url, reason, sizeof reason);
        }
        int rc = pg ? s_read (self, pg, all ? NULL : ids) : -1;
        if (rc == 0 && all)
            mg_info ("match index re-read after a gap in content.changed", "entities=%zu",
                     match_index_size (self->index));
        all = rc != 0;
        if (rc)
            zclock_sleep (RETRY_MS);
    }
    PQfinish (pg);
    return NULL;
}
