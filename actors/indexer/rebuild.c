/*  indexer.rebuild: the canonical rows of the entities a batch changed.

    Each entity's sources (the batch's own records, the older ones read
    back) are merged into its canonical record; a record whose checksum
    moved is written with one statement per table for the whole batch, the
    big child tables (credits, offers) with COPY.  */
#include "apply.h"

#include <stdlib.h>
#include <string.h>

//  Precedence of sources when merging: metadata first, ratings sites last.
#define PRECEDENCE_SQL \
    "CASE source WHEN 'tmdb' THEN 0 WHEN 'streaming_availability' THEN 1 " \
    "WHEN 'watchmode' THEN 2 WHEN 'movielens' THEN 8 ELSE 5 END"

//  Keys of a canonical record that only their own statement reads.
static const char *const s_list_keys [] = {
    "genres", "cast", "crew", "videos", "external_ids", "titles", "availability", NULL
};

//  [[person_id, profile_path]] of the records' credits that give both.
static json_t *
s_profiles (json_t *records)
{
    static const char *const roles [] = { "cast", "crew" };
    json_t *out = json_array ();
    size_t index, n;
    json_t *record, *credit;
    json_array_foreach (records, index, record)
        for (int r = 0; out && r < 2; r++)
            json_array_foreach (json_object_get (record, roles [r]), n, credit) {
                json_t *person = json_object_get (credit, "person_id");
                json_t *path = json_object_get (credit, "profile_path");
                if ((json_is_integer (person) || json_is_string (person)) && json_is_string (path)
                &&  json_array_append_new (out, json_pack ("[O,O]", person, path))) {
                    json_decref (out);
                    return NULL;
                }
            }
    return out;
}

//  The part of records (objects with "id") that one statement reads, as
//  its parameter text (caller frees; NULL on out of memory; "" when the
//  statement has nothing to do): "old" a uuid[] literal of the ids not in
//  fresh (entities this batch created have no rows to delete), "main" each
//  record without the lists, "profiles" as s_profiles, otherwise
//  [{id, <each space-separated key of part>}].
static char *
s_part (json_t *records, const char *part, zhashx_t *fresh)
{
    size_t index;
    json_t *record;
    if (strcmp (part, "old") == 0) {
        size_t size = json_array_size (records) * 37 + 3;
        char *text = malloc (size);
        if (!text)
            return NULL;
        size_t used = 0;
        json_array_foreach (records, index, record) {
            const char *id = json_string_value (json_object_get (record, "id"));
            if (!zhashx_lookup (fresh, id))
                used += (size_t) snprintf (text + used, size - used, "%s%s", used ? "," : "{", id);
        }
        snprintf (text + used, size - used, "%s", used ? "}" : "");
        return text;
    }
    if (strcmp (part, "profiles") == 0) {
        json_t *profiles = s_profiles (records);
        char *text = !profiles ? NULL : json_array_size (profiles) ? indexer_dump (profiles) : strdup ("");
        json_decref (profiles);
        return text;
    }
    json_t *out = json_array ();
    json_array_foreach (records, index, record) {
        json_t *item;
        if (strcmp (part, "main") == 0) {
            item = json_copy (record);
            for (const char *const *key = s_list_keys; item && *key; key++)
                json_object_del (item, *key);
        }
        else {
            item = json_pack ("{s:O}", "id", json_object_get (record, "id"));
            char keys [64];
            snprintf (keys, sizeof keys, "%s", part);
            char *save = NULL;
            for (char *key = strtok_r (keys, " ", &save); item && key; key = strtok_r (NULL, " ", &save)) {
                json_t *value = json_object_get (record, key);
                if (value)
                    json_object_set (item, key, value);
            }
        }
        if (!item || json_array_append_new (out, item)) {
            json_decref (out);
            return NULL;
        }
    }
    char *text = indexer_dump (out);
    json_decref (out);
    return text;
}

//  Text of a JSON scalar for a COPY field: NULL for null or missing.
static const char *
s_field (json_t *value, char *buffer, size_t size)
{
    if (json_is_string (value))
        return json_string_value (value);
    if (json_is_integer (value))
        snprintf (buffer, size, "%lld", (long long) json_integer_value (value));
    else
    if (json_is_real (value))
        snprintf (buffer, size, "%.17g", json_real_value (value));
    else
    if (json_is_boolean (value))
        snprintf (buffer, size, "%s", json_is_true (value) ? "t" : "f");
    else
        return NULL;
    return buffer;
}

//  COPY rows of credits: each record's cast, then its crew, in list order;
//  a cast credit has a character, a crew credit a job and a department.
static void
s_credit_rows (json_t *records, indexer_copy_t *rows)
{
    static const char *const roles [] = { "cast", "crew" };
    size_t index, n;
    json_t *record, *credit;
    char ord [24], person [32];
    json_array_foreach (records, index, record) {
        const char *id = json_string_value (json_object_get (record, "id"));
        for (int r = 0; r < 2; r++)
            json_array_foreach (json_object_get (record, roles [r]), n, credit) {
                bool cast = r == 0;
                snprintf (ord, sizeof ord, "%zu", n);
                indexer_copy_field (rows, id);
                indexer_copy_field (rows, roles [r]);
                indexer_copy_field (rows, ord);
                indexer_copy_field (rows, json_string_value (json_object_get (credit, "name")));
                indexer_copy_field (rows, s_field (json_object_get (credit, "person_id"), person, sizeof person));
                indexer_copy_field (rows, cast ? json_string_value (json_object_get (credit, "character")) : NULL);
                indexer_copy_field (rows, cast ? NULL : json_string_value (json_object_get (credit, "job")));
                indexer_copy_field (rows, cast ? NULL : json_string_value (json_object_get (credit, "department")));
                indexer_copy_end_row (rows);
            }
    }
}

//  Whether a record's list already had a row with this key (a and b joined):
//  its table's key would refuse the second, so the second is left out.
static bool
s_repeated (zhashx_t *keys, const char *a, const char *b)
{
    char key [1024];
    snprintf (key, sizeof key, "%s\x1f%s", a ? a : "", b ? b : "");
    if (zhashx_lookup (keys, key))
        return true;
    zhashx_insert (keys, key, (void *) 1);
    return false;
}

//  One COPY row, or none, for an item of a record's list; keys holds what
//  s_repeated saw of the rows of the same record so far.
typedef void (s_item_row_fn) (const char *id, json_t *item, zhashx_t *keys, indexer_copy_t *rows);

//  COPY rows of each record's list, one per item at most.
static void
s_list_rows (json_t *records, const char *list, s_item_row_fn *row, indexer_copy_t *rows)
{
    zhashx_t *keys = zhashx_new ();
    if (!keys) {
        rows->failed = true;
        return;
    }
    size_t index, n;
    json_t *record, *item;
    json_array_foreach (records, index, record) {
        const char *id = json_string_value (json_object_get (record, "id"));
        zhashx_purge (keys);
        json_array_foreach (json_object_get (record, list), n, item)
            row (id, item, keys, rows);
    }
    zhashx_destroy (&keys);
}

//  A video on a site the table knows; a type it does not know is a clip.
static void
s_video_row (const char *id, json_t *video, zhashx_t *keys, indexer_copy_t *rows)
{
    static const char *const types [] = { "trailer", "teaser", "clip", "featurette", "review", NULL };
    const char *site = json_string_value (json_object_get (video, "site"));
    const char *key = json_string_value (json_object_get (video, "key"));
    if (!site || (strcmp (site, "youtube") && strcmp (site, "vimeo")) || s_repeated (keys, site, key))
        return;
    const char *type = json_string_value (json_object_get (video, "type"));
    const char *const *known = types;
    while (*known && (!type || strcmp (*known, type)))
        known++;
    char official [4];
    const char *official_text = s_field (json_object_get (video, "official"), official, sizeof official);
    indexer_copy_field (rows, id);
    indexer_copy_field (rows, site);
    indexer_copy_field (rows, key);
    indexer_copy_field (rows, *known ? *known : "clip");
    indexer_copy_field (rows, json_string_value (json_object_get (video, "name")));
    indexer_copy_field (rows, official_text ? official_text : "f");
    indexer_copy_end_row (rows);
}

//  COPY rows of videos.
static void
s_video_rows (json_t *records, indexer_copy_t *rows)
{
    s_list_rows (records, "videos", s_video_row, rows);
}

//  An alternative title, once per (title, source) of a record.
static void
s_title_row (const char *id, json_t *title, zhashx_t *keys, indexer_copy_t *rows)
{
    const char *text = json_string_value (json_object_get (title, "title"));
    const char *source = json_string_value (json_object_get (title, "source"));
    if (s_repeated (keys, text, source))
        return;
    indexer_copy_field (rows, id);
    indexer_copy_field (rows, text);
    indexer_copy_field (rows, json_string_value (json_object_get (title, "kind")));
    indexer_copy_field (rows, source);
    indexer_copy_end_row (rows);
}

//  COPY rows of alternative titles.
static void
s_title_rows (json_t *records, indexer_copy_t *rows)
{
    s_list_rows (records, "titles", s_title_row, rows);
}

//  COPY rows of availability. The merge keeps one offer per (platform,
//  region, type) of an entity, so the rows never collide on the key.
static void
s_offer_rows (json_t *records, indexer_copy_t *rows)
{
    size_t index, n;
    json_t *record, *offer;
    char price [48], stale [4];
    json_array_foreach (records, index, record) {
        const char *id = json_string_value (json_object_get (record, "id"));
        json_array_foreach (json_object_get (record, "availability"), n, offer) {
            const char *quality = json_string_value (json_object_get (offer, "quality"));
            const char *stale_text = s_field (json_object_get (offer, "stale"), stale, sizeof stale);
            indexer_copy_field (rows, id);
            indexer_copy_field (rows, json_string_value (json_object_get (offer, "platform")));
            indexer_copy_field (rows, json_string_value (json_object_get (offer, "region")));
            indexer_copy_field (rows, json_string_value (json_object_get (offer, "type")));
            indexer_copy_field (rows, quality ? quality : "hd");
            indexer_copy_field (rows, s_field (json_object_get (offer, "price"), price, sizeof price));
            indexer_copy_field (rows, json_string_value (json_object_get (offer, "currency")));
            indexer_copy_field (rows, json_string_value (json_object_get (offer, "deep_link")));
            indexer_copy_field (rows, json_string_value (json_object_get (offer, "expires_at")));
            indexer_copy_field (rows, json_string_value (json_object_get (offer, "source")));
            indexer_copy_field (rows, stale_text ? stale_text : "f");
            indexer_copy_end_row (rows);
        }
    }
}

//  One statement of the rebuild: a parameterised one given its part of the
//  records, or a COPY given rows built from them.
typedef struct {
    const char *sql;
    const char *part;             //  what s_part gives the statement
    void (*rows) (json_t *records, indexer_copy_t *rows);    //  set for a COPY
} s_statement_t;

//  Run one rebuild statement over records; 0 or -1 with err.
static int
s_statement (PGconn *pg, const s_statement_t *statement, json_t *records, zhashx_t *fresh,
             char *err, size_t errlen)
{
    if (statement->rows) {
        indexer_copy_t rows = { 0 };
        statement->rows (records, &rows);
        int rc = indexer_copy_run (pg, statement->sql, &rows, err, errlen);
        indexer_copy_clear (&rows);
        return rc;
    }
    char *text = s_part (records, statement->part, fresh);
    if (!text) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    int rc = *text ? indexer_run (pg, err, errlen, statement->sql, 1, P (text)) : 0;
    free (text);
    return rc;
}

//  Lock the content rows of entities (a JSON array of ids) that existed
//  before this batch, in id order; 0 or -1 with err. Two batches applied
//  side by side can both change one entity (two sources of a title in
//  neighbouring batches): the later one waits here, before reading the
//  entity's sources, and so merges the earlier one's committed record
//  instead of overwriting the canonical row without it. The order keeps
//  two batches from waiting on each other; the entities a batch created
//  are its own until it commits (another batch naming one waits at its
//  insert), so a first import locks nothing here.
static int
s_lock_entities (PGconn *pg, json_t *entities, zhashx_t *created, char *err, size_t errlen)
{
    json_t *old = json_array ();
    size_t index;
    json_t *entity;
    json_array_foreach (entities, index, entity)
        if (!zhashx_lookup (created, json_string_value (entity)))
            json_array_append (old, entity);
    int rc = 0;
    if (json_array_size (old)) {
        char *text = indexer_dump (old);
        PGresult *locked = text ? indexer_sql (pg, err, errlen,
            "SELECT id FROM content WHERE id IN (SELECT (jsonb_array_elements_text ($1::jsonb))::uuid) "
            "ORDER BY id FOR NO KEY UPDATE", 1, P (text)) : NULL;
        if (!text)
            snprintf (err, errlen, "out of memory");
        rc = locked ? 0 : -1;
        PQclear (locked);
        free (text);
    }
    json_decref (old);
    return rc;
}

int
indexer_rebuild (PGconn *pg, indexer_batch_t *batch, char *err, size_t errlen)
{
    json_t *entities = json_array ();
    zhashx_t *seen = zhashx_new ();
    for (size_t i = 0; i < batch->count; i++) {
        indexer_item_t *item = &batch->items [i];
        if (!item->error && item->changed && !zhashx_lookup (seen, item->entity)) {
            zhashx_insert (seen, item->entity, (void *) 1);
            json_array_append_new (entities, json_string (item->entity));
        }
    }
    zhashx_destroy (&seen);
    if (json_array_size (entities) == 0) {
        json_decref (entities);
        return 0;
    }
    if (s_lock_entities (pg, entities, batch->created, err, errlen)) {
        json_decref (entities);
        return -1;
    }
    char *ids = indexer_dump (entities);
    json_decref (entities);
    //  Records this batch just wrote are in memory: the server sends only
    //  the others (an entity's older sources), not every record back.
    zhashx_t *written = zhashx_new ();
    json_t *keys = json_array ();
    for (size_t i = 0; i < batch->count; i++) {
        indexer_item_t *item = &batch->items [i];
        if (item->error || !item->changed)
            continue;
        char key [128];
        snprintf (key, sizeof key, "%s\x1f%s", item->source, item->source_id);
        zhashx_update (written, key, item->record);
        json_array_append_new (keys, json_pack ("[s,s]", item->source, item->source_id));
    }
    char *key_text = indexer_dump (keys);
    json_decref (keys);
    PGresult *sources = indexer_sql (pg, err, errlen,
        "SELECT s.content_id::text, s.source, s.source_id, "
        "  CASE WHEN k.source IS NULL THEN s.record::text END "
        "FROM content_sources s LEFT JOIN (SELECT x->>0 AS source, x->>1 AS source_id "
        "  FROM jsonb_array_elements ($2::jsonb) x) k USING (source, source_id) "
        "WHERE s.content_id IN (SELECT (jsonb_array_elements_text ($1::jsonb))::uuid) "
        "ORDER BY s.content_id, " PRECEDENCE_SQL ", s.source", 2, P (ids, key_text));
    free (key_text);
    PGresult *current = sources ? indexer_sql (pg, err, errlen,
        "SELECT id::text, encode (checksum, 'hex'), coalesce (encode (availability_checksum, 'hex'), '') "
        "FROM content WHERE id IN (SELECT (jsonb_array_elements_text ($1::jsonb))::uuid)", 1, P (ids)) : NULL;
    free (ids);
    if (!sources || !current) {
        PQclear (sources);
        zhashx_destroy (&written);
        return -1;
    }
    json_t *content = json_array ();          //  canonical records whose content changed
    json_t *offers = json_array ();           //  ... whose availability changed
    int rows = PQntuples (sources);
    for (int r = 0; r < rows;) {
        const char *entity = PQgetvalue (sources, r, 0);
        json_t *records [64];
        const char *names [64];
        size_t n = 0;
        int start = r;
        for (; r < rows && !strcmp (PQgetvalue (sources, r, 0), entity); r++)
            if (n < 64) {
                if (PQgetisnull (sources, r, 3)) {
                    char key [128];
                    snprintf (key, sizeof key, "%s\x1f%s", PQgetvalue (sources, r, 1), PQgetvalue (sources, r, 2));
                    records [n] = json_incref (zhashx_lookup (written, key));
                }
                else {
                    json_error_t jerr;
                    records [n] = json_loads (PQgetvalue (sources, r, 3), 0, &jerr);
                }
                names [n] = PQgetvalue (sources, r, 1);
                if (records [n])
                    n++;
            }
        (void) start;
        json_t *canonical = indexer_merge (entity, records, names, n);
        for (size_t k = 0; k < n; k++)
            json_decref (records [k]);
        if (!canonical)
            continue;
        json_t *availability = json_incref (json_object_get (canonical, "availability"));
        json_object_del (canonical, "availability");
        char content_sum [HEX_SHA256], offers_sum [HEX_SHA256];
        indexer_checksum (canonical, content_sum);
        indexer_checksum (availability, offers_sum);
        const char *old_content = "", *old_offers = "";
        for (int c = 0; c < PQntuples (current); c++)
            if (!strcmp (PQgetvalue (current, c, 0), entity)) {
                old_content = PQgetvalue (current, c, 1);
                old_offers = PQgetvalue (current, c, 2);
            }
        bool content_changed = strcmp (old_content, content_sum) != 0;
        //  An entity that never had offers and still has none has nothing to announce.
        bool no_offers_yet = !*old_offers && json_array_size (availability) == 0;
        bool offers_changed = !no_offers_yet && strcmp (old_offers, offers_sum) != 0;
        if (content_changed) {
            //  The content row's one update carries the offers' checksum
            //  too: each further update of a row rewrites all its indexes.
            json_object_set_new (canonical, "checksum", json_string (content_sum));
            if (offers_changed)
                json_object_set_new (canonical, "availability_checksum", json_string (offers_sum));
            json_array_append (content, canonical);
            json_array_append_new (batch->events, json_pack ("{s:s, s:s}", "stream", "content.changed", "content_id", entity));
        }
        if (offers_changed) {
            json_t *entry = json_pack ("{s:s, s:O}", "id", entity, "availability", availability);
            if (entry && !content_changed)
                json_object_set_new (entry, "checksum", json_string (offers_sum));
            json_array_append_new (offers, entry);
            json_array_append_new (batch->events, json_pack ("{s:s, s:s}", "stream", "availability.changed", "content_id", entity));
        }
        json_decref (availability);
        json_decref (canonical);
    }
    PQclear (sources);
    PQclear (current);
    zhashx_destroy (&written);

    //  One statement per table for the whole batch. Each gets only the part
    //  of the records it reads: the server parses every JSON parameter in
    //  full, and the big lists would otherwise be parsed a dozen times.
    static const s_statement_t content_sql [] = {
        { "UPDATE content c SET type = x->>'type', title = x->>'title', original_title = x->>'original_title', "
          "  original_language = x->>'original_language', overview = x->>'overview', tagline = x->>'tagline', "
          "  release_date = (x->>'release_date')::date, "
          "  year = coalesce ((x->>'year')::smallint, extract (year FROM (x->>'release_date')::date)::smallint), "
          "  runtime_min = (x->>'runtime_min')::int, status = x->>'status', homepage = x->>'homepage', "
          "  popularity = coalesce ((x->>'popularity')::float8, 0), vote_average = (x->>'vote_average')::real, "
          "  vote_count = coalesce ((x->>'vote_count')::int, 0), poster_path = x->>'poster_path', "
          "  backdrop_path = x->>'backdrop_path', "
          "  keywords = ARRAY (SELECT jsonb_array_elements_text (x->'keywords')), "
          "  production_companies = coalesce (x->'production_companies', '[]'::jsonb), "
          "  production_countries = ARRAY (SELECT jsonb_array_elements_text (x->'production_countries')), "
          "  spoken_languages = ARRAY (SELECT jsonb_array_elements_text (x->'spoken_languages')), "
          "  version = CASE WHEN c.checksum = '\\x00' THEN 1 ELSE c.version + 1 END, "
          "  checksum = decode (x->>'checksum', 'hex'), updated_at = now (), "
          "  availability_checksum = coalesce (decode (x->>'availability_checksum', 'hex'), c.availability_checksum) "
          "FROM jsonb_array_elements ($1::jsonb) x WHERE c.id = (x->>'id')::uuid", "main", NULL },
        { "DELETE FROM content_genres WHERE content_id = ANY ($1::uuid[])", "old", NULL },
        { "INSERT INTO content_genres (content_id, genre_id) SELECT DISTINCT (x->>'id')::uuid, g.id "
          "FROM jsonb_array_elements ($1::jsonb) x CROSS JOIN jsonb_array_elements_text (x->'genres') s (slug) "
          "JOIN genres g ON g.slug = s.slug", "genres", NULL },
        { "DELETE FROM videos WHERE content_id = ANY ($1::uuid[])", "old", NULL },
        { "COPY videos (content_id, site, key, type, name, official) FROM STDIN", NULL, s_video_rows },
        { "DELETE FROM external_ids WHERE content_id = ANY ($1::uuid[])", "old", NULL },
        { "INSERT INTO external_ids (content_id, source, value) "
          "SELECT (x->>'id')::uuid, e->>'source', e->>'value' "
          "FROM jsonb_array_elements ($1::jsonb) x CROSS JOIN jsonb_array_elements (x->'external_ids') e "
          "WHERE e->>'source' IN ('eidr', 'imdb', 'tmdb', 'tvdb', 'watchmode', 'streaming_availability', 'movielens', 'youtube') "
          "ON CONFLICT (source, value) DO NOTHING", "external_ids", NULL },
        { "DELETE FROM content_titles WHERE content_id = ANY ($1::uuid[])", "old", NULL },
        { "COPY content_titles (content_id, title, kind, source) FROM STDIN", NULL, s_title_rows },
        //  Credits last: their trigger inserts the people they name, and a
        //  concurrent batch naming one of those people waits at its own
        //  credits until this one commits, so the less that follows them
        //  here, the shorter that wait.
        { "DELETE FROM credits WHERE content_id = ANY ($1::uuid[])", "old", NULL },
        { "COPY credits (content_id, role, ord, person_name, person_tmdb_id, character, job, department) "
          "FROM STDIN", NULL, s_credit_rows },
        //  The people the credits name exist now (the credits trigger);
        //  a profile image the source gives replaces the stored one.
        { "UPDATE people p SET profile_path = x.path, updated_at = now () "
          "FROM (SELECT DISTINCT ON (1) (c->>0)::int, c->>1 FROM jsonb_array_elements ($1::jsonb) c "
          "      ORDER BY 1, 2) x (tmdb_id, path) "
          "WHERE p.tmdb_id = x.tmdb_id AND p.profile_path IS DISTINCT FROM x.path", "profiles", NULL }
    };
    static const s_statement_t offers_sql [] = {
        { "DELETE FROM availability WHERE content_id = ANY ($1::uuid[])", "old", NULL },
        { "COPY availability (content_id, platform, region, type, quality, price, currency, deep_link, "
          "  expires_at, source, stale) FROM STDIN", NULL, s_offer_rows },
        //  Offers whose title's content did not change (else that update set it).
        { "UPDATE content c SET availability_checksum = decode (x->>'checksum', 'hex') "
          "FROM jsonb_array_elements ($1::jsonb) x WHERE c.id = (x->>'id')::uuid AND x ? 'checksum'", "checksum", NULL }
    };
    //  Offers before the content tables, whose credits come last (above).
    int rc = 0;
    for (size_t s = 0; rc == 0 && json_array_size (offers) && s < sizeof offers_sql / sizeof offers_sql [0]; s++)
        rc = s_statement (pg, &offers_sql [s], offers, batch->created, err, errlen);
    json_decref (offers);
    for (size_t s = 0; rc == 0 && json_array_size (content) && s < sizeof content_sql / sizeof content_sql [0]; s++)
        rc = s_statement (pg, &content_sql [s], content, batch->created, err, errlen);
    json_decref (content);
    return rc;
}
