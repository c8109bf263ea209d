/*  Reading titles from PostgreSQL into the index: the whole catalog (start,
    resync) in one REPEATABLE READ snapshot together with the change
    streams' last numbers, or a few titles named by change events.  */
#include "search.h"
#include "mg_catalog_sql.h"
#include "mg_log.h"
#include "mg_config.h"
#include "mg_pg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CAST_MAX    "15"       //  billed cast names searched
#define CREW_MAX    "5"        //  directors searched (co-directed films have two or three)

const char *const search_streams [SEARCH_STREAMS] = { "content.changed", "availability.changed", "vectors.changed" };

//  One row per title: the text fields (production companies last), filter
//  values, the result item (its offers of every region, each platform
//  group naming its region: index_fill_hit trims), and the stored vector of model $2 (the
//  embedder's, content_vectors; NULL when none is stored for this model).
//  $1: uuid[] of the titles wanted, NULL for all.
//  Most popular first: a snapshot load gives rowids in this order, which
//  is the order a bounded keyword query scores matches in (KEYWORD_TOP).
static const char s_titles_sql [] =
    "SELECT c.id, c.type, c.title, c.original_title, "
    "  (SELECT string_agg (t.title, E'\\n') FROM content_titles t WHERE t.content_id = c.id "
    "   AND t.title <> c.title AND t.title IS DISTINCT FROM c.original_title), "
    "  c.tagline, array_to_string (c.keywords, E'\\n'), c.overview, "
    "  (SELECT string_agg (r.person_name, E'\\n' ORDER BY r.ord) FROM (SELECT person_name, ord FROM credits "
    "   WHERE content_id = c.id AND role = 'cast' ORDER BY ord LIMIT " CAST_MAX ") r), "
    "  c.year, c.popularity, c.vote_average, to_char (c.release_date, 'YYYY-MM-DD'), "
    "  (SELECT string_agg (g.slug, ',' ORDER BY g.id) FROM content_genres cg JOIN genres g ON g.id = cg.genre_id "
    "   WHERE cg.content_id = c.id), "
    "  (SELECT string_agg (a.platform || ' ' || a.region || ' ' || coalesce (floor (extract (epoch FROM a.expires_at))::bigint, 0), E'\\n') "
    "   FROM availability a WHERE a.content_id = c.id), "
    "  jsonb_build_object ('id', c.id, 'type', c.type, 'title', c.title, 'original_title', c.original_title, "
    "  'year', c.year, 'overview', " SQL_ITEM_OVERVIEW ", 'genres', " SQL_GENRES ", "
    "  'poster', " SQL_IMAGE ("c.poster_path", "w500") ", 'external_ids', " SQL_EXTERNAL_IDS ", "
    "  'availability', " SQL_ITEM_OFFERS ("NULL") ")::text, "
    "  (SELECT v.vector::text FROM content_vectors v WHERE v.content_id = c.id AND v.model = $2), "
    "  (SELECT string_agg (r.person_name, E'\\n' ORDER BY r.ord) FROM (SELECT person_name, ord FROM credits "
    "   WHERE content_id = c.id AND role = 'crew' AND job = 'Director' ORDER BY ord LIMIT " CREW_MAX ") r), "
    "  (SELECT string_agg (x->>'name', E'\\n' ORDER BY n) "
    "   FROM jsonb_array_elements (c.production_companies) WITH ORDINALITY y (x, n)) "
    "FROM content c WHERE $1::uuid[] IS NULL OR c.id = ANY ($1::uuid[]) "
    "ORDER BY c.popularity DESC NULLS LAST, c.id";

//  One row per person named by a billed cast member (in the first
//  CAST_MAX) or a director of a title: id, name, the summed popularity of
//  the titles they lead (billed in the first three) or direct, and their
//  search.hit item. $1: uuid[] of titles whose people are wanted, NULL for all.
static const char s_people_sql [] =
    "SELECT p.id, p.name, coalesce (sum (c.popularity) FILTER (WHERE (cr.role = 'cast' AND cr.ord < 3) "
    "  OR cr.job = 'Director'), 0), "
    "  jsonb_build_object ('id', p.id, 'type', 'person', 'title', p.name, 'genres', '[]'::jsonb, "
    "  'external_ids', jsonb_build_object ('tmdb', p.tmdb_id), 'availability', '[]'::jsonb, "
    "  'known_for_department', p.known_for_department, 'profile', " SQL_IMAGE ("p.profile_path", "w185") ")::text "
    "FROM people p JOIN credits cr ON cr.person_tmdb_id = p.tmdb_id JOIN content c ON c.id = cr.content_id "
    "WHERE ($1::uuid[] IS NULL OR p.tmdb_id IN (SELECT person_tmdb_id FROM credits WHERE content_id = ANY ($1::uuid[]))) "
    "GROUP BY p.id HAVING bool_or ((cr.role = 'cast' AND cr.ord < " CAST_MAX ") OR cr.job = 'Director')";

//  Put every person of res into index. 0 or -1.
static int
s_put_people (search_index_t *index, PGresult *res)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples (res); i++) {
        search_person_t person = {
            .id = PQgetvalue (res, i, 0), .name = PQgetvalue (res, i, 1),
            .popularity = strtod (PQgetvalue (res, i, 2), NULL), .hit_json = PQgetvalue (res, i, 3)
        };
        rc = search_index_put_person (index, &person);
    }
    return rc;
}

//  Floats of a real[] literal "{a,b,...}" into out (at most max); their
//  count, or -1 when text is not one.
static long
s_vector (const char *text, float *out, uint32_t max)
{
    if (*text++ != '{')
        return -1;
    long n = 0;
    while (*text && *text != '}') {
        char *end;
        float v = strtof (text, &end);
        if (end == text || (uint32_t) n >= max || !isfinite (v))
            return -1;
        out [n++] = v;
        text = *end == ',' ? end + 1 : end;
    }
    return *text == '}' ? n : -1;
}

//  Column text or NULL.
static const char *
s_col (PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? NULL : PQgetvalue (res, row, col);
}

//  Put row of res into index; vector: room for the model's dims floats
//  (NULL: no model). Returns 0 or -1.
static int
s_put_row (search_index_t *index, PGresult *res, int row, float *vector, uint32_t dims)
{
    mg_doc_t doc = {
        .id = s_col (res, row, 0), .type = s_col (res, row, 1), .title = s_col (res, row, 2),
        .original_title = s_col (res, row, 3), .alternates = s_col (res, row, 4),
        .tagline = s_col (res, row, 5), .keywords = s_col (res, row, 6), .overview = s_col (res, row, 7),
        .cast = s_col (res, row, 8), .year = s_col (res, row, 9) ? atoi (s_col (res, row, 9)) : 0,
        .popularity = strtod (PQgetvalue (res, row, 10), NULL),
        .has_rating = s_col (res, row, 11) != NULL,
        .rating = s_col (res, row, 11) ? strtod (s_col (res, row, 11), NULL) : 0,
        .release_date = s_col (res, row, 12), .genres = s_col (res, row, 13),
        .offers = s_col (res, row, 14), .hit_json = s_col (res, row, 15), .directors = s_col (res, row, 17),
        .companies = s_col (res, row, 18)
    };
    const char *stored = vector ? s_col (res, row, 16) : NULL;
    long n = stored ? s_vector (stored, vector, dims) : -1;
    if (stored && n < 0)
        mg_warn ("stored vector unreadable; embedding here", "id=%s", doc.id);
    doc.vector_stored = n >= 0;
    doc.vector = n > 0 ? vector : NULL;
    doc.vector_dims = n > 0 ? (uint32_t) n : 0;
    return search_index_put (index, &doc);
}

//  Run sql with params; the result or NULL (reason in err).
static PGresult *
s_query (PGconn *pg, const char *sql, int nparams, const char *const *params, char *err, size_t errlen)
{
    PGresult *res = PQexecParams (pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) == PGRES_TUPLES_OK || PQresultStatus (res) == PGRES_COMMAND_OK)
        return res;
    snprintf (err, errlen, "%s", res ? PQresultErrorMessage (res) : PQerrorMessage (pg));
    size_t len = strlen (err);
    if (len && err [len - 1] == '\n')
        err [len - 1] = '\0';
    PQclear (res);
    return NULL;
}

//  One snapshot load into a new index; with read_path (MG_SEARCH_INDEX_FILE),
//  the whole index comes from the files saved there under this snapshot's
//  key (skey) when there are some (*stored says so), else the vectors from
//  the vector index saved there under key when there is one (*read says
//  whether they did). NULL with a reason.
static search_index_t *
s_load (const char *pg_url, const mg_lsa_t *lsa, uint64_t seq [SEARCH_STREAMS], const char *read_path,
        bool *read, bool *stored, char *key, char *skey, size_t keylen, char *err, size_t errlen)
{
    *read = false;
    *stored = false;
    PGconn *pg = mg_pg_connect_long (pg_url, err, errlen);
    if (!pg)
        return NULL;
    search_index_t *index = search_index_new (lsa, err, errlen);
    PGresult *res = index ? s_query (pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, err, errlen) : NULL;
    bool ok = res != NULL;
    PQclear (res);
    res = ok ? s_query (pg, "SELECT stream, last_seq FROM change_streams", 0, NULL, err, errlen) : NULL;
    ok = res != NULL;
    for (int i = 0; ok && i < PQntuples (res); i++)
        for (int s = 0; s < SEARCH_STREAMS; s++)
            if (strcmp (PQgetvalue (res, i, 0), search_streams [s]) == 0)
                seq [s] = strtoull (PQgetvalue (res, i, 1), NULL, 10);
    PQclear (res);
    //  The vectors' key: the model, and the catalog generation of this
    //  snapshot (the content and vector streams' numbers, the titles).
    //  The whole index's key adds the offers' stream (the doc table holds
    //  the offers).
    bool keyed = lsa || (read_path && *read_path);
    res = ok && keyed ? s_query (pg, "SELECT count (*) FROM content", 0, NULL, err, errlen) : NULL;
    ok = ok && (!keyed || res != NULL);
    if (ok && lsa)
        snprintf (key, keylen, "model=%s dims=%u content=%llu vectors=%llu titles=%s", mg_lsa_id (lsa),
                  mg_lsa_dims (lsa), (unsigned long long) seq [0], (unsigned long long) seq [2], PQgetvalue (res, 0, 0));
    if (ok && keyed)
        snprintf (skey, keylen, "model=%s content=%llu availability=%llu vectors=%llu titles=%s",
                  lsa ? mg_lsa_id (lsa) : "none", (unsigned long long) seq [0], (unsigned long long) seq [1],
                  (unsigned long long) seq [2], PQgetvalue (res, 0, 0));
    PQclear (res);
    search_index_t *saved = ok && read_path && *read_path
                          ? search_index_store_read (lsa, read_path, skey, lsa ? key : NULL, err, errlen) : NULL;
    if (saved) {
        PQfinish (pg);
        search_index_destroy (&index);
        *stored = true;
        return saved;
    }
    *read = ok && lsa && read_path && *read_path && search_index_vectors_read (index, read_path, key) == 1;
    res = ok ? s_query (pg, "SELECT slug FROM genres", 0, NULL, err, errlen) : NULL;
    ok = res != NULL;
    for (int i = 0; ok && i < PQntuples (res); i++)
        ok = search_index_add_genre (index, PQgetvalue (res, i, 0)) == 0;
    PQclear (res);
    //  Vectors read from file: the stored ones are not transferred.
    const char *params [2] = { NULL, lsa && !*read ? mg_lsa_id (lsa) : NULL };
    res = ok ? s_query (pg, s_titles_sql, 2, params, err, errlen) : NULL;
    ok = res != NULL && search_index_begin (index) == 0;
    uint32_t dims = lsa ? mg_lsa_dims (lsa) : 0;
    float *vector = lsa ? malloc (dims * sizeof *vector) : NULL;
    ok = ok && (!lsa || vector);
    for (int i = 0; ok && i < PQntuples (res); i++)
        ok = s_put_row (index, res, i, vector, dims) == 0;
    free (vector);
    PQclear (res);
    const char *all [1] = { NULL };
    res = ok ? s_query (pg, s_people_sql, 1, all, err, errlen) : NULL;
    ok = ok && res != NULL && s_put_people (index, res) == 0;
    ok = ok && search_index_commit (index) == 0;
    if (!ok && !*err)
        snprintf (err, errlen, "a title or person could not be indexed");
    PQclear (res);
    PQfinish (pg);
    if (!ok)
        search_index_destroy (&index);
    return index;
}

search_index_t *
search_load_all (const char *pg_url, const mg_lsa_t *lsa, uint64_t seq [SEARCH_STREAMS], char *err, size_t errlen)
{
    const char *path = mg_config_str ("MG_SEARCH_INDEX_FILE", "");
    char key [512] = "", skey [512] = "";
    bool read = false, stored = false;
    int64_t started = zclock_mono ();
    search_index_t *index = s_load (pg_url, lsa, seq, path, &read, &stored, key, skey, sizeof key, err, errlen);
    if (index && stored) {
        mg_info ("search index loaded from files", "path=%s key=\"%s\" titles=%zu took_ms=%lld", path, skey,
                 search_index_count (index), (long long) (zclock_mono () - started));
        return index;
    }
    if (index && read && !search_index_vectors_complete (index)) {
        //  The map does not fit this snapshot's titles: build as if none.
        mg_warn ("saved vector index does not match the catalog: building", "path=%s", path);
        search_index_destroy (&index);
        index = s_load (pg_url, lsa, seq, NULL, &read, &stored, key, skey, sizeof key, err, errlen);
    }
    if (index && lsa && *path) {
        if (read)
            mg_info ("vector index loaded from file", "path=%s key=\"%s\" took_ms=%lld", path, key,
                     (long long) (zclock_mono () - started));
        else {
            int64_t built = zclock_mono ();
            if (search_index_vectors_write (index, path, key) == 0)
                mg_info ("vector index built and saved", "path=%s key=\"%s\" save_ms=%lld", path, key,
                         (long long) (zclock_mono () - built));
        }
    }
    if (index && *path) {
        int64_t built = zclock_mono ();
        if (search_index_store_write (index, path, skey) == 0)
            mg_info ("search index built and saved", "path=%s key=\"%s\" titles=%zu save_ms=%lld", path, skey,
                     search_index_count (index), (long long) (zclock_mono () - built));
    }
    return index;
}

int
search_load_ids (search_t *self, PGconn *pg, char **ids, size_t count, char *err, size_t errlen)
{
    //  A uuid[] literal: ids come from decoded events (36 bytes each).
    size_t room = count * 40 + 3;
    char *array = malloc (room);
    if (!array) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    size_t used = 0;
    array [used++] = '{';
    for (size_t i = 0; i < count; i++) {
        int n = snprintf (array + used, room - used, "%s\"%.36s\"", i ? "," : "", ids [i]);
        used += n > 0 ? (size_t) n : 0;
    }
    snprintf (array + used, room - used, "}");
    const char *params [2] = { array, self->lsa ? mg_lsa_id (self->lsa) : NULL };
    PGresult *res = s_query (pg, s_titles_sql, 2, params, err, errlen);
    PGresult *people = res ? s_query (pg, s_people_sql, 1, params, err, errlen) : NULL;
    free (array);
    if (!people) {
        PQclear (res);
        return -1;
    }
    uint32_t dims = self->lsa ? mg_lsa_dims (self->lsa) : 0;
    float *vector = self->lsa ? malloc (dims * sizeof *vector) : NULL;
    int rc = self->lsa && !vector ? -1 : 0;
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        int row = -1;
        for (int r = 0; r < PQntuples (res) && row < 0; r++)
            if (strcmp (PQgetvalue (res, r, 0), ids [i]) == 0)
                row = r;
        rc = row >= 0 ? s_put_row (self->index, res, row, vector, dims) : search_index_remove (self->index, ids [i]);
    }
    if (rc == 0)
        rc = s_put_people (self->index, people);
    pthread_mutex_unlock (&self->lock);
    free (vector);
    PQclear (res);
    PQclear (people);
    if (rc)
        snprintf (err, errlen, "a changed title could not be indexed");
    return rc;
}
