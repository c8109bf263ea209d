/*  Keeping content_vectors current. A title's vector is stale when it has
    none, when it was made by another model (a model change re-embeds the
    whole catalog), or when the text it was made from changed (text_md5).
    content.changed events only wake the syncer: each pass asks PostgreSQL
    which vectors are stale, so a lost event, a restart or a second
    embedder costs nothing but a pass. Each batch of EMBEDDER_BATCH_MAX
    vectors is stored in one transaction that also numbers its
    vectors.changed events (the change_streams row lock is held to commit,
    so numbers follow commit order), and the events are published after
    the commit.  */
#include "embedder.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS    200              //  how often the thread checks for stop
#define RETRY_MS   2000             //  after a failed pass (database, model)
#define STREAM     "vectors.changed"

//  The text fields of a title, as the search replicas read them (load.c),
//  and the md5 of what is embedded. $1: uuid[] of the titles, NULL for all.
#define TEXT_FIELDS \
    "c.title, c.original_title, " \
    "(SELECT string_agg (t.title, E'\\n') FROM content_titles t WHERE t.content_id = c.id " \
    " AND t.title <> c.title AND t.title IS DISTINCT FROM c.original_title), " \
    "c.tagline, array_to_string (c.keywords, E'\\n'), c.overview, " \
    "(SELECT string_agg (g.slug, ',' ORDER BY g.id) FROM content_genres cg JOIN genres g ON g.id = cg.genre_id " \
    " WHERE cg.content_id = c.id)"

static const char s_texts_sql [] =
    "SELECT id, title, original_title, alternates, tagline, keywords, overview, genres, "
    "  md5 (concat_ws (E'\\x1f', title, original_title, alternates, tagline, keywords, overview, genres)) "
    "FROM (SELECT c.id, " TEXT_FIELDS " FROM content c WHERE $1::uuid[] IS NULL OR c.id = ANY ($1::uuid[])) "
    "  AS t (id, title, original_title, alternates, tagline, keywords, overview, genres)";

//  Stale titles: $1 the model id.
static const char s_stale_sql [] =
    "SELECT t.id FROM (SELECT id, md5 (concat_ws (E'\\x1f', title, original_title, alternates, tagline, "
    "  keywords, overview, genres)) AS text_md5 FROM (SELECT c.id, " TEXT_FIELDS " FROM content c) "
    "  AS x (id, title, original_title, alternates, tagline, keywords, overview, genres)) t "
    "LEFT JOIN content_vectors v ON v.content_id = t.id "
    "WHERE v.content_id IS NULL OR v.model <> $1 OR v.text_md5 <> t.text_md5 ORDER BY t.id";

static const char s_store_sql [] =
    "INSERT INTO content_vectors (content_id, model, dims, vector, text_md5) "
    "SELECT $1::uuid, $2, $3::int, $4::real[], $5 WHERE EXISTS (SELECT 1 FROM content WHERE id = $1::uuid) "
    "ON CONFLICT (content_id) DO UPDATE SET model = excluded.model, dims = excluded.dims, "
    "  vector = excluded.vector, text_md5 = excluded.text_md5, updated_at = now ()";

//  Run sql; the result, or NULL with a reason in err.
static PGresult *
s_sql (PGconn *pg, const char *sql, int n, const char *const *params, char *err, size_t errlen)
{
    PGresult *res = PQexecParams (pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return res;
    snprintf (err, errlen, "%s", res ? PQresultErrorMessage (res) : PQerrorMessage (pg));
    size_t len = strlen (err);
    if (len && err [len - 1] == '\n')
        err [len - 1] = '\0';
    PQclear (res);
    return NULL;
}

//  Column text or NULL.
static const char *
s_col (PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? NULL : PQgetvalue (res, row, col);
}

//  A real[] literal of vec (dims floats, or none when !ok). Caller frees.
static char *
s_array (const float *vec, uint32_t dims, bool ok)
{
    size_t room = (size_t) dims * 18 + 3;
    char *text = malloc (room);
    if (!text)
        return NULL;
    size_t used = 0;
    text [used++] = '{';
    for (uint32_t d = 0; ok && d < dims; d++) {
        int n = snprintf (text + used, room - used, "%s%.9g", d ? "," : "", (double) vec [d]);
        used += n > 0 ? (size_t) n : 0;
    }
    snprintf (text + used, room - used, "}");
    return text;
}

//  Publish vectors.changed number seq for id.
static void
s_publish (embedder_t *self, uint64_t seq, const char *id)
{
    mg_change_event_t event = {
        .stream = STREAM, .seq = seq, .has_seq = true, .content_id = (char *) id, .kind = "upsert"
    };
    char reason [MG_MSG_ERR_LEN];
    if (mg_actor_publish (self->publish, STREAM, &mg_change_event_desc, &event, reason, sizeof reason))
        mg_warn ("vectors.changed not published", "reason=\"%s\"", reason);
}

//  Embed and store the titles ids (count of them). 0 or -1.
static int
s_store_batch (embedder_t *self, PGconn *pg, char **ids, size_t count, char *err, size_t errlen)
{
    uint32_t dims = embedder_model_dims (self->model);
    const char *model = embedder_model_id (self->model);
    size_t room = count * 40 + 3, used = 0;
    char *array = malloc (room);
    if (!array) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    array [used++] = '{';
    for (size_t i = 0; i < count; i++) {
        int n = snprintf (array + used, room - used, "%s%.36s", i ? "," : "", ids [i]);
        used += n > 0 ? (size_t) n : 0;
    }
    snprintf (array + used, room - used, "}");
    const char *params [5] = { array };
    PGresult *texts = s_sql (pg, s_texts_sql, 1, params, err, errlen);
    free (array);
    if (!texts)
        return -1;
    int n = PQntuples (texts);
    mg_doc_t *docs = calloc ((size_t) n + 1, sizeof *docs);
    float *vectors = malloc (((size_t) n + 1) * dims * sizeof *vectors);
    bool *ok = calloc ((size_t) n + 1, sizeof *ok);
    int rc = docs && vectors && ok ? 0 : -1;
    if (rc)
        snprintf (err, errlen, "out of memory");
    for (int i = 0; rc == 0 && i < n; i++)
        docs [i] = (mg_doc_t) {
            .id = s_col (texts, i, 0), .title = s_col (texts, i, 1), .original_title = s_col (texts, i, 2),
            .alternates = s_col (texts, i, 3), .tagline = s_col (texts, i, 4), .keywords = s_col (texts, i, 5),
            .overview = s_col (texts, i, 6), .genres = s_col (texts, i, 7)
        };
    if (rc == 0 && n)
        rc = embedder_model_embed_docs (self->model, docs, (size_t) n, vectors, ok, err, errlen);
    PGresult *res = rc == 0 ? s_sql (pg, "BEGIN", 0, NULL, err, errlen) : NULL;
    rc = rc == 0 && res ? 0 : -1;
    PQclear (res);
    for (int i = 0; rc == 0 && i < n; i++) {
        char *vector = s_array (vectors + (size_t) i * dims, dims, ok [i]);
        char dims_text [16];
        snprintf (dims_text, sizeof dims_text, "%u", ok [i] ? dims : 0);
        const char *row [5] = { docs [i].id, model, dims_text, vector, s_col (texts, i, 8) };
        res = vector ? s_sql (pg, s_store_sql, 5, row, err, errlen) : NULL;
        rc = res ? 0 : -1;
        PQclear (res);
        free (vector);
    }
    uint64_t last = 0;
    if (rc == 0 && n) {
        char count_text [16];
        snprintf (count_text, sizeof count_text, "%d", n);
        const char *bump [2] = { STREAM, count_text };
        res = s_sql (pg, "UPDATE change_streams SET last_seq = last_seq + $2::bigint WHERE stream = $1 RETURNING last_seq",
                     2, bump, err, errlen);
        rc = res && PQntuples (res) == 1 ? 0 : -1;
        if (rc == 0)
            last = strtoull (PQgetvalue (res, 0, 0), NULL, 10);
        else
        if (res)
            snprintf (err, errlen, "no %s stream (migration 007)", STREAM);
        PQclear (res);
    }
    res = s_sql (pg, rc == 0 ? "COMMIT" : "ROLLBACK", 0, NULL, rc == 0 ? err : (char [256]) { 0 }, 256);
    if (rc == 0 && !res)
        rc = -1;
    PQclear (res);
    for (int i = 0; rc == 0 && i < n; i++)
        s_publish (self, last - (uint64_t) n + 1 + (uint64_t) i, docs [i].id);
    free (docs);
    free (vectors);
    free (ok);
    PQclear (texts);
    return rc;
}

long
embedder_sync_pass (embedder_t *self, PGconn *pg, char *err, size_t errlen)
{
    const char *params [1] = { embedder_model_id (self->model) };
    PGresult *stale = s_sql (pg, s_stale_sql, 1, params, err, errlen);
    if (!stale)
        return -1;
    int n = PQntuples (stale);
    long stored = 0;
    int64_t started = zclock_mono ();
    for (int from = 0; from < n && !self->stop; from += EMBEDDER_BATCH_MAX) {
        char *ids [EMBEDDER_BATCH_MAX];
        size_t count = 0;
        for (int i = from; i < n && count < EMBEDDER_BATCH_MAX; i++)
            ids [count++] = PQgetvalue (stale, i, 0);
        if (s_store_batch (self, pg, ids, count, err, errlen)) {
            PQclear (stale);
            return -1;
        }
        stored += (long) count;
    }
    PQclear (stale);
    if (stored)
        mg_info ("vectors stored", "titles=%ld model=%s took_ms=%lld", stored, embedder_model_id (self->model),
                 (long long) (zclock_mono () - started));
    return stored;
}

void *
embedder_sync (void *arg)
{
    embedder_t *self = arg;
    PGconn *pg = NULL;
    char err [512];
    int64_t interval = mg_config_int ("MG_EMBED_SYNC_MS", 60000, 100, 86400000);
    int64_t next = 0;               //  a pass at start
    void *sub = zsock_resolve (self->events);
    while (!self->stop) {
        zmq_pollitem_t item = { sub, 0, ZMQ_POLLIN, 0 };
        bool woken = zmq_poll (&item, 1, POLL_MS) > 0;
        //  Drain: a flood of content.changed is one pass.
        while (woken) {
            zmq_pollitem_t more = { sub, 0, ZMQ_POLLIN, 0 };
            zmsg_t *msg = zmq_poll (&more, 1, 0) > 0 ? zmsg_recv (self->events) : NULL;
            if (!msg)
                break;
            zmsg_destroy (&msg);
        }
        if (!woken && zclock_mono () < next)
            continue;
        if (!pg || PQstatus (pg) != CONNECTION_OK) {
            PQfinish (pg);
            pg = mg_pg_connect_long (self->pg_url, err, sizeof err);
        }
        long stored = pg ? embedder_sync_pass (self, pg, err, sizeof err) : -1;
        if (stored < 0) {
            mg_warn ("vector sync failed; retrying", "reason=\"%s\"", pg ? err : "no database");
            next = zclock_mono () + RETRY_MS;
        }
        else
            next = zclock_mono () + interval;
    }
    PQfinish (pg);
    return NULL;
}
