/*  indexer.apply: write a batch of resolved records in one transaction.

    Keyed by (source, source_id) with a checksum of the normalised record:
    an unchanged record writes nothing and announces nothing. A changed
    record is stored whole in content_sources, then its entity's canonical
    row and child tables are rebuilt from all of the entity's sources with
    set-based statements (one per table per batch, whatever the batch size).
    Change events get their sequence numbers from a row lock held to commit,
    so numbering follows commit order without gaps; they are published after
    the commit. A batch that the database refuses is retried item by item so
    that one bad record fails alone, with its reason, and the rest goes on.  */
#include "indexer.h"
#include "mg_log.h"
#include "mg_pg.h"
#include "mg_uuid.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define HEX_SHA256  (crypto_hash_sha256_BYTES * 2 + 1)

//  Precedence of sources when merging: metadata first, ratings sites last.
#define PRECEDENCE_SQL \
    "CASE source WHEN 'tmdb' THEN 0 WHEN 'streaming_availability' THEN 1 " \
    "WHEN 'watchmode' THEN 2 WHEN 'movielens' THEN 8 ELSE 5 END"

typedef struct {
    char job [24];                //  "" when the item has no job
    char entity [40];
    char source [40];
    char source_id [80];
    json_t *record;               //  normalised record as JSON
    char checksum [HEX_SHA256];
    int tier;
    double confidence;
    bool merge;                   //  joined an existing entity (entity_merges row)
    bool changed;
    const char *error;            //  rejected: reason
    char error_text [256];
} s_item_t;

typedef struct {
    s_item_t *items;
    size_t count;
    zhashx_t *created;            //  entity ids made by this batch
    json_t *events;               //  [{stream, content_id, version}] to publish after commit
} s_batch_t;

//  Hex SHA-256 of text.
static void
s_sha256 (const char *text, char out [HEX_SHA256])
{
    unsigned char digest [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (digest, (const unsigned char *) text, strlen (text));
    sodium_bin2hex (out, HEX_SHA256, digest, sizeof digest);
}

//  Checksum of a JSON value (keys sorted, compact).
static int
s_checksum (json_t *value, char out [HEX_SHA256])
{
    char *text = json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!text)
        return -1;
    s_sha256 (text, out);
    free (text);
    return 0;
}

//  SQLSTATE of the last statement s_sql saw fail on this thread: whether a
//  refused batch is the records' fault or the database's (mg_pg_transient).
static _Thread_local char s_failed_state [8];

//  Run sql with text params; returns the result or NULL (reason in err).
static PGresult *
s_sql (PGconn *pg, char *err, size_t errlen, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams (pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        snprintf (s_failed_state, sizeof s_failed_state, "%s", mg_pg_sqlstate (res));
        snprintf (err, errlen, "%s", PQresultErrorMessage (res));
        for (char *p = err; *p; p++)
            if (*p == '\n' || *p == '"')
                *p = ' ';
        PQclear (res);
        return NULL;
    }
    return res;
}

//  Same, discarding the result; 0 or -1.
static int
s_run (PGconn *pg, char *err, size_t errlen, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = s_sql (pg, err, errlen, sql, nparams, params);
    PQclear (res);
    return res ? 0 : -1;
}

#define P(...) ((const char *const []) { __VA_ARGS__ })

//  JSON text of value (caller frees), never NULL for a valid value.
static char *
s_dump (json_t *value)
{
    return json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
}

//  Prepare the items of the request: validation, JSON, checksums.
static void
s_prepare (const mg_apply_request_t *request, size_t from, size_t count, s_batch_t *batch)
{
    for (size_t i = 0; i < count; i++) {
        const mg_apply_item_t *in = &request->items [from + i];
        s_item_t *item = &batch->items [i];
        memset (item, 0, sizeof *item);
        if (in->has_job)
            snprintf (item->job, sizeof item->job, "%llu", (unsigned long long) in->job);
        if (in->error) {
            snprintf (item->error_text, sizeof item->error_text, "%s", in->error);
            item->error = item->error_text;
            continue;
        }
        if (!in->record) {
            item->error = "item has neither record nor error";
            continue;
        }
        if (!mg_uuid_is (in->entity, true)) {
            item->error = "entity is not a lower-case UUID";
            continue;
        }
        const char *invalid = indexer_validate (in->record);
        if (invalid) {
            item->error = invalid;
            continue;
        }
        snprintf (item->entity, sizeof item->entity, "%s", in->entity);
        snprintf (item->source, sizeof item->source, "%s", in->record->source);
        snprintf (item->source_id, sizeof item->source_id, "%s", in->record->source_id);
        item->record = mg_msg_to_json (&mg_raw_record_desc, in->record);
        if (!item->record || s_checksum (item->record, item->checksum)) {
            item->error = "out of memory";
            continue;
        }
        item->tier = in->has_tier ? (int) in->tier : 0;
        item->confidence = in->has_confidence ? in->confidence : 0;
        item->merge = !(in->has_new_entity && in->new_entity) && item->tier > 0;
    }
}

//  Steps B-C: which records changed; known records keep their entity.
static int
s_find_changes (PGconn *pg, s_batch_t *batch, char *err, size_t errlen)
{
    json_t *keys = json_array ();
    for (size_t i = 0; i < batch->count; i++)
        if (!batch->items [i].error)
            json_array_append_new (keys, json_pack ("[s,s]", batch->items [i].source, batch->items [i].source_id));
    char *text = s_dump (keys);
    json_decref (keys);
    PGresult *res = s_sql (pg, err, errlen,
        "SELECT s.source, s.source_id, s.content_id::text, encode (s.checksum, 'hex') "
        "FROM content_sources s JOIN (SELECT k->>0 AS source, k->>1 AS source_id "
        "  FROM jsonb_array_elements ($1::jsonb) k) keys USING (source, source_id) "
        "FOR UPDATE OF s", 1, P (text));
    free (text);
    if (!res)
        return -1;
    for (size_t i = 0; i < batch->count; i++) {
        s_item_t *item = &batch->items [i];
        if (item->error)
            continue;
        item->changed = true;
        for (int r = 0; r < PQntuples (res); r++)
            if (!strcmp (PQgetvalue (res, r, 0), item->source) && !strcmp (PQgetvalue (res, r, 1), item->source_id)) {
                //  A known record stays with its entity: re-imports never duplicate.
                if (strcmp (PQgetvalue (res, r, 2), item->entity)) {
                    snprintf (item->entity, sizeof item->entity, "%s", PQgetvalue (res, r, 2));
                    item->merge = false;
                }
                item->changed = strcmp (PQgetvalue (res, r, 3), item->checksum) != 0;
            }
    }
    PQclear (res);
    //  New records whose ids an entity already holds join that entity.
    json_t *ids = json_array ();
    for (size_t i = 0; i < batch->count; i++) {
        s_item_t *item = &batch->items [i];
        if (item->error || !item->changed)
            continue;
        const char *fields [] = { "eidr", "imdb", "tmdb" };
        for (int f = 0; f < 3; f++) {
            json_t *v = json_object_get (item->record, fields [f]);
            if (json_is_string (v))
                json_array_append_new (ids, json_pack ("[i,s,s]", (int) i, fields [f], json_string_value (v)));
            else
            if (json_is_integer (v)) {
                char num [32];
                snprintf (num, sizeof num, "%lld", (long long) json_integer_value (v));
                json_array_append_new (ids, json_pack ("[i,s,s]", (int) i, fields [f], num));
            }
        }
    }
    text = s_dump (ids);
    json_decref (ids);
    res = s_sql (pg, err, errlen,
        "SELECT (k->>0)::int, e.content_id::text FROM jsonb_array_elements ($1::jsonb) k "
        "JOIN external_ids e ON e.source = k->>1 AND e.value = k->>2", 1, P (text));
    free (text);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples (res); r++) {
        s_item_t *item = &batch->items [atoi (PQgetvalue (res, r, 0))];
        if (strcmp (item->entity, PQgetvalue (res, r, 1))) {
            snprintf (item->entity, sizeof item->entity, "%s", PQgetvalue (res, r, 1));
            item->merge = true;
            item->tier = 2;
            item->confidence = 0.99;
        }
    }
    PQclear (res);
    return 0;
}

//  Steps D-E: entity rows exist, source records stored.
static int
s_store_sources (PGconn *pg, s_batch_t *batch, char *err, size_t errlen)
{
    json_t *rows = json_array ();
    for (size_t i = 0; i < batch->count; i++) {
        s_item_t *item = &batch->items [i];
        if (item->error || !item->changed)
            continue;
        json_t *type = json_object_get (item->record, "type");
        json_array_append_new (rows, json_pack ("{s:s, s:s, s:s, s:O, s:s, s:s}",
            "entity", item->entity, "source", item->source, "source_id", item->source_id,
            "record", item->record, "checksum", item->checksum,
            "type", json_is_string (type) ? json_string_value (type) : "movie"));
    }
    char *text = s_dump (rows);
    json_decref (rows);
    PGresult *res = s_sql (pg, err, errlen,
        "INSERT INTO content (id, type, title, checksum) "
        "SELECT DISTINCT ON ((x->>'entity')::uuid) (x->>'entity')::uuid, x->>'type', x->'record'->>'title', '\\x00' "
        "FROM jsonb_array_elements ($1::jsonb) x ON CONFLICT (id) DO NOTHING RETURNING id::text", 1, P (text));
    if (res) {
        for (int r = 0; r < PQntuples (res); r++)
            zhashx_insert (batch->created, PQgetvalue (res, r, 0), (void *) 1);
        PQclear (res);
        res = s_sql (pg, err, errlen,
            "INSERT INTO content_sources (content_id, source, source_id, record, checksum) "
            "SELECT (x->>'entity')::uuid, x->>'source', x->>'source_id', x->'record', decode (x->>'checksum', 'hex') "
            "FROM jsonb_array_elements ($1::jsonb) x "
            "ON CONFLICT (source, source_id) DO UPDATE SET content_id = EXCLUDED.content_id, "
            "  record = EXCLUDED.record, checksum = EXCLUDED.checksum, updated_at = now ()", 1, P (text));
        PQclear (res);
    }
    free (text);
    return res ? 0 : -1;
}

//  Keys of a canonical record that only their own statement reads.
static const char *const s_list_keys [] = {
    "genres", "cast", "crew", "videos", "external_ids", "titles", "availability", NULL
};

//  The part of records (objects with "id") that one statement reads, as
//  its parameter text (caller frees; NULL on out of memory):
//  "ids" a uuid[] literal, "main" each record without the lists, otherwise
//  [{id, <each space-separated key of part>}].
static char *
s_part (json_t *records, const char *part)
{
    size_t index;
    json_t *record;
    if (strcmp (part, "ids") == 0) {
        size_t size = json_array_size (records) * 37 + 3;
        char *text = malloc (size);
        if (!text)
            return NULL;
        size_t used = 0;
        text [used++] = '{';
        json_array_foreach (records, index, record)
            used += (size_t) snprintf (text + used, size - used, "%s%s", index ? "," : "",
                                       json_string_value (json_object_get (record, "id")));
        snprintf (text + used, size - used, "}");
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
    char *text = s_dump (out);
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
    const char *part;             //  "ids": uuid[]; "main": scalar fields; else {id, <part>}
    void (*rows) (json_t *records, indexer_copy_t *rows);    //  set for a COPY
} s_statement_t;

//  Run one rebuild statement over records; 0 or -1 with err.
static int
s_statement (PGconn *pg, const s_statement_t *statement, json_t *records, char *err, size_t errlen)
{
    if (statement->rows) {
        indexer_copy_t rows = { 0 };
        statement->rows (records, &rows);
        int rc = indexer_copy_send (pg, statement->sql, &rows, err, errlen, s_failed_state);
        indexer_copy_clear (&rows);
        //  The reason goes into log lines and ingest_jobs.last_error as one line.
        for (char *p = err; rc && *p; p++)
            if (*p == '\n' || *p == '"')
                *p = ' ';
        return rc;
    }
    char *text = s_part (records, statement->part);
    if (!text) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    int rc = s_run (pg, err, errlen, statement->sql, 1, P (text));
    free (text);
    return rc;
}

//  Steps F-I: rebuild the canonical rows of the entities that changed.
static int
s_rebuild (PGconn *pg, s_batch_t *batch, char *err, size_t errlen)
{
    json_t *entities = json_array ();
    zhashx_t *seen = zhashx_new ();
    for (size_t i = 0; i < batch->count; i++) {
        s_item_t *item = &batch->items [i];
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
    char *ids = s_dump (entities);
    json_decref (entities);
    //  Records this batch just wrote are in memory: the server sends only
    //  the others (an entity's older sources), not every record back.
    zhashx_t *written = zhashx_new ();
    json_t *keys = json_array ();
    for (size_t i = 0; i < batch->count; i++) {
        s_item_t *item = &batch->items [i];
        if (item->error || !item->changed)
            continue;
        char key [128];
        snprintf (key, sizeof key, "%s\x1f%s", item->source, item->source_id);
        zhashx_update (written, key, item->record);
        json_array_append_new (keys, json_pack ("[s,s]", item->source, item->source_id));
    }
    char *key_text = s_dump (keys);
    json_decref (keys);
    PGresult *sources = s_sql (pg, err, errlen,
        "SELECT s.content_id::text, s.source, s.source_id, "
        "  CASE WHEN k.source IS NULL THEN s.record::text END "
        "FROM content_sources s LEFT JOIN (SELECT x->>0 AS source, x->>1 AS source_id "
        "  FROM jsonb_array_elements ($2::jsonb) x) k USING (source, source_id) "
        "WHERE s.content_id IN (SELECT (jsonb_array_elements_text ($1::jsonb))::uuid) "
        "ORDER BY s.content_id, " PRECEDENCE_SQL ", s.source", 2, P (ids, key_text));
    free (key_text);
    PGresult *current = sources ? s_sql (pg, err, errlen,
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
        s_checksum (canonical, content_sum);
        s_checksum (availability, offers_sum);
        const char *old_content = "", *old_offers = "";
        for (int c = 0; c < PQntuples (current); c++)
            if (!strcmp (PQgetvalue (current, c, 0), entity)) {
                old_content = PQgetvalue (current, c, 1);
                old_offers = PQgetvalue (current, c, 2);
            }
        if (strcmp (old_content, content_sum)) {
            json_object_set_new (canonical, "checksum", json_string (content_sum));
            json_array_append (content, canonical);
            json_array_append_new (batch->events, json_pack ("{s:s, s:s}", "stream", "content.changed", "content_id", entity));
        }
        //  An entity that never had offers and still has none has nothing to announce.
        bool no_offers_yet = !*old_offers && json_array_size (availability) == 0;
        if (!no_offers_yet && strcmp (old_offers, offers_sum)) {
            json_array_append_new (offers, json_pack ("{s:s, s:s, s:O}", "id", entity, "checksum", offers_sum,
                                                      "availability", availability));
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
          "  checksum = decode (x->>'checksum', 'hex'), updated_at = now () "
          "FROM jsonb_array_elements ($1::jsonb) x WHERE c.id = (x->>'id')::uuid", "main", NULL },
        { "DELETE FROM content_genres WHERE content_id = ANY ($1::uuid[])", "ids", NULL },
        { "INSERT INTO content_genres (content_id, genre_id) SELECT DISTINCT (x->>'id')::uuid, g.id "
          "FROM jsonb_array_elements ($1::jsonb) x CROSS JOIN jsonb_array_elements_text (x->'genres') s (slug) "
          "JOIN genres g ON g.slug = s.slug", "genres", NULL },
        { "DELETE FROM credits WHERE content_id = ANY ($1::uuid[])", "ids", NULL },
        { "COPY credits (content_id, role, ord, person_name, person_tmdb_id, character, job, department) "
          "FROM STDIN", NULL, s_credit_rows },
        //  The people the credits name exist now (the credits trigger);
        //  a profile image the source gives replaces the stored one.
        { "UPDATE people p SET profile_path = x.path, updated_at = now () "
          "FROM (SELECT DISTINCT ON (1) (c->>'person_id')::int, c->>'profile_path' "
          "      FROM jsonb_array_elements ($1::jsonb) r CROSS JOIN LATERAL ("
          "        SELECT * FROM jsonb_array_elements (coalesce (r->'cast', '[]'::jsonb)) UNION ALL "
          "        SELECT * FROM jsonb_array_elements (coalesce (r->'crew', '[]'::jsonb))) l (c) "
          "      WHERE c->>'person_id' IS NOT NULL AND c->>'profile_path' IS NOT NULL "
          "      ORDER BY 1, 2) x (tmdb_id, path) "
          "WHERE p.tmdb_id = x.tmdb_id AND p.profile_path IS DISTINCT FROM x.path", "cast crew", NULL },
        { "DELETE FROM videos WHERE content_id = ANY ($1::uuid[])", "ids", NULL },
        { "INSERT INTO videos (content_id, site, key, type, name, official) "
          "SELECT (x->>'id')::uuid, v->>'site', v->>'key', "
          "  CASE WHEN v->>'type' IN ('trailer', 'teaser', 'clip', 'featurette', 'review') THEN v->>'type' ELSE 'clip' END, "
          "  v->>'name', coalesce ((v->>'official')::boolean, false) "
          "FROM jsonb_array_elements ($1::jsonb) x CROSS JOIN jsonb_array_elements (x->'videos') v "
          "WHERE v->>'site' IN ('youtube', 'vimeo') ON CONFLICT DO NOTHING", "videos", NULL },
        { "DELETE FROM external_ids WHERE content_id = ANY ($1::uuid[])", "ids", NULL },
        { "INSERT INTO external_ids (content_id, source, value) "
          "SELECT (x->>'id')::uuid, e->>'source', e->>'value' "
          "FROM jsonb_array_elements ($1::jsonb) x CROSS JOIN jsonb_array_elements (x->'external_ids') e "
          "WHERE e->>'source' IN ('eidr', 'imdb', 'tmdb', 'tvdb', 'watchmode', 'streaming_availability', 'movielens', 'youtube') "
          "ON CONFLICT (source, value) DO NOTHING", "external_ids", NULL },
        { "DELETE FROM content_titles WHERE content_id = ANY ($1::uuid[])", "ids", NULL },
        { "INSERT INTO content_titles (content_id, title, kind, source) "
          "SELECT (x->>'id')::uuid, t->>'title', t->>'kind', t->>'source' "
          "FROM jsonb_array_elements ($1::jsonb) x CROSS JOIN jsonb_array_elements (x->'titles') t ON CONFLICT DO NOTHING",
          "titles", NULL }
    };
    int rc = 0;
    for (size_t s = 0; rc == 0 && json_array_size (content) && s < sizeof content_sql / sizeof content_sql [0]; s++)
        rc = s_statement (pg, &content_sql [s], content, err, errlen);
    json_decref (content);
    static const s_statement_t offers_sql [] = {
        { "DELETE FROM availability WHERE content_id = ANY ($1::uuid[])", "ids", NULL },
        { "COPY availability (content_id, platform, region, type, quality, price, currency, deep_link, "
          "  expires_at, source, stale) FROM STDIN", NULL, s_offer_rows },
        { "UPDATE content c SET availability_checksum = decode (x->>'checksum', 'hex') "
          "FROM jsonb_array_elements ($1::jsonb) x WHERE c.id = (x->>'id')::uuid", "checksum", NULL }
    };
    for (size_t s = 0; rc == 0 && json_array_size (offers) && s < sizeof offers_sql / sizeof offers_sql [0]; s++)
        rc = s_statement (pg, &offers_sql [s], offers, err, errlen);
    json_decref (offers);
    return rc;
}

//  Steps J-K: merges, jobs.
static int
s_finish (PGconn *pg, s_batch_t *batch, char *err, size_t errlen)
{
    json_t *merges = json_array ();
    json_t *done = json_array ();
    json_t *failed = json_array ();
    for (size_t i = 0; i < batch->count; i++) {
        s_item_t *item = &batch->items [i];
        if (item->error) {
            if (*item->job)
                json_array_append_new (failed, json_pack ("[s,s]", item->job, item->error));
            continue;
        }
        if (*item->job)
            json_array_append_new (done, json_string (item->job));
        if (item->changed && item->merge && item->tier >= 1 && item->tier <= 4 && item->confidence > 0)
            json_array_append_new (merges, json_pack ("{s:s, s:i, s:f, s:s, s:s}", "entity", item->entity,
                "tier", item->tier, "confidence", item->confidence > 1 ? 1.0 : item->confidence,
                "source", item->source, "source_id", item->source_id));
    }
    char *m = s_dump (merges), *d = s_dump (done), *f = s_dump (failed);
    json_decref (merges);
    json_decref (done);
    json_decref (failed);
    int rc = s_run (pg, err, errlen,
        "INSERT INTO entity_merges (content_id, tier, confidence, source, source_id) "
        "SELECT (x->>'entity')::uuid, (x->>'tier')::smallint, (x->>'confidence')::real, x->>'source', x->>'source_id' "
        "FROM jsonb_array_elements ($1::jsonb) x", 1, P (m));
    if (rc == 0)
        rc = s_run (pg, err, errlen,
            "UPDATE ingest_jobs SET state = 'done', finished_at = now (), last_error = NULL "
            "WHERE id IN (SELECT (jsonb_array_elements_text ($1::jsonb))::bigint)", 1, P (d));
    if (rc == 0)
        rc = s_run (pg, err, errlen,
            "UPDATE ingest_jobs j SET state = 'failed', finished_at = now (), last_error = x->>1 "
            "FROM jsonb_array_elements ($1::jsonb) x WHERE j.id = (x->>0)::bigint", 1, P (f));
    free (m);
    free (d);
    free (f);
    return rc;
}

//  Step L: number the events; the change_streams row locks are held to commit.
static int
s_number_events (PGconn *pg, s_batch_t *batch, char *err, size_t errlen)
{
    int rc = 0;
    const char *streams [] = { "content.changed", "availability.changed" };
    for (int s = 0; rc == 0 && s < 2; s++) {
        json_t *list = json_array ();
        size_t i;
        json_t *event;
        json_array_foreach (batch->events, i, event)
            if (!strcmp (json_string_value (json_object_get (event, "stream")), streams [s]))
                json_array_append (list, event);
        size_t n = json_array_size (list);
        if (n) {
            char count [24];
            snprintf (count, sizeof count, "%zu", n);
            PGresult *res = s_sql (pg, err, errlen,
                "UPDATE change_streams SET last_seq = last_seq + $2::bigint WHERE stream = $1 RETURNING last_seq",
                2, P (streams [s], count));
            if (!res || PQntuples (res) != 1)
                rc = -1;
            else {
                uint64_t last = strtoull (PQgetvalue (res, 0, 0), NULL, 10);
                json_array_foreach (list, i, event)
                    json_object_set_new (event, "seq", json_integer ((json_int_t) (last - n + 1 + i)));
                char *text = s_dump (list);
                rc = s_run (pg, err, errlen,
                    "INSERT INTO change_log (stream, seq, content_id, kind) "
                    "SELECT x->>'stream', (x->>'seq')::bigint, (x->>'content_id')::uuid, 'upsert' "
                    "FROM jsonb_array_elements ($1::jsonb) x", 1, P (text));
                free (text);
            }
            PQclear (res);
        }
        json_decref (list);
    }
    return rc;
}

//  Apply request items [from, from + count) in one transaction.
static int
s_apply_range (indexer_t *self, PGconn *pg, const mg_apply_request_t *request, size_t from, size_t count,
               mg_apply_reply_t *reply, char *err, size_t errlen)
{
    s_batch_t batch = { .count = count };
    batch.items = calloc (count ? count : 1, sizeof (s_item_t));
    batch.created = zhashx_new ();
    batch.events = json_array ();
    if (!batch.items || !batch.created || !batch.events) {
        free (batch.items);
        zhashx_destroy (&batch.created);
        json_decref (batch.events);
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    s_prepare (request, from, count, &batch);
    int rc = s_run (pg, err, errlen, "BEGIN", 0, NULL);
    if (rc == 0)
        rc = s_find_changes (pg, &batch, err, errlen);
    if (rc == 0)
        rc = s_store_sources (pg, &batch, err, errlen);
    if (rc == 0)
        rc = s_rebuild (pg, &batch, err, errlen);
    if (rc == 0)
        rc = s_finish (pg, &batch, err, errlen);
    pthread_mutex_lock (&self->shared->publish_order);
    if (rc == 0)
        rc = s_number_events (pg, &batch, err, errlen);
    if (rc == 0)
        rc = s_run (pg, err, errlen, "COMMIT", 0, NULL);
    if (rc) {
        char ignored [64];
        s_run (pg, ignored, sizeof ignored, "ROLLBACK", 0, NULL);
    }
    else {
        for (size_t i = 0; i < count; i++) {
            s_item_t *item = &batch.items [i];
            if (item->error)
                reply->failed++;
            else
            if (!item->changed)
                reply->unchanged++;
        }
        //  Entities counted once each, created or updated.
        size_t created = zhashx_size (batch.created);
        size_t changed_entities = 0;
        zhashx_t *seen = zhashx_new ();
        for (size_t i = 0; i < count; i++) {
            s_item_t *item = &batch.items [i];
            if (!item->error && item->changed && !zhashx_lookup (seen, item->entity)) {
                zhashx_insert (seen, item->entity, (void *) 1);
                changed_entities++;
            }
        }
        zhashx_destroy (&seen);
        reply->created += created;
        reply->updated += changed_entities - created;
        size_t i;
        json_t *event;
        json_array_foreach (batch.events, i, event)
            indexer_publish (self, json_string_value (json_object_get (event, "stream")),
                             (uint64_t) json_integer_value (json_object_get (event, "seq")),
                             json_string_value (json_object_get (event, "content_id")), 0);
    }
    pthread_mutex_unlock (&self->shared->publish_order);
    for (size_t i = 0; i < count; i++)
        json_decref (batch.items [i].record);
    free (batch.items);
    zhashx_destroy (&batch.created);
    json_decref (batch.events);
    return rc;
}

//  Fail one item's job in a transaction of its own.
static void
s_fail_job (PGconn *pg, const mg_apply_item_t *item, const char *reason)
{
    if (!item->has_job)
        return;
    char job [24], err [256];
    snprintf (job, sizeof job, "%llu", (unsigned long long) item->job);
    s_run (pg, err, sizeof err, "UPDATE ingest_jobs SET state = 'failed', finished_at = now (), last_error = $2 "
                                "WHERE id = $1::bigint", 2, P (job, reason));
}

int
indexer_on_apply (void *state, const void *req, void *rep, mg_error_t *err)
{
    indexer_t *self = state;
    const mg_apply_request_t *request = req;
    mg_apply_reply_t *reply = rep;
    reply->has_created = reply->has_updated = reply->has_unchanged = reply->has_failed = true;
    PGconn *pg = indexer_pg (self, err);
    if (!pg)
        return -1;
    char reason [512];
    s_failed_state [0] = 0;
    if (s_apply_range (self, pg, request, 0, request->items_count, reply, reason, sizeof reason) == 0)
        return 0;
    //  A timeout, a lock or a lost connection is no record's fault: nothing
    //  is failed, the jobs are claimed again.
    if (PQstatus (pg) != CONNECTION_OK || (s_failed_state [0] && mg_pg_transient (s_failed_state)))
        return mg_pg_fail (err, pg, NULL, "catalog database");
    //  The database refused the batch: find the item(s) it refuses.
    mg_warn ("batch refused, applying items one by one", "items=%zu reason=\"%s\"", request->items_count, reason);
    for (size_t i = 0; i < request->items_count; i++) {
        s_failed_state [0] = 0;
        if (s_apply_range (self, pg, request, i, 1, reply, reason, sizeof reason)) {
            if (PQstatus (pg) != CONNECTION_OK || (s_failed_state [0] && mg_pg_transient (s_failed_state)))
                return mg_pg_fail (err, pg, NULL, "catalog database");
            s_fail_job (pg, &request->items [i], reason);
            reply->failed++;
        }
    }
    return 0;
}
