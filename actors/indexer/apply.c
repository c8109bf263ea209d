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
#include "apply.h"
#include "mg_log.h"
#include "mg_pg.h"
#include "mg_uuid.h"

#include <stdlib.h>
#include <string.h>

//  Attempts of a batch that conflicts with a concurrent one (s_conflict):
//  each loses at most the batch's own time, and two batches rarely meet twice.
#define APPLY_ATTEMPTS  3

//  Prepare the items of the request: validation, JSON, checksums.
static void
s_prepare (const mg_apply_request_t *request, size_t from, size_t count, indexer_batch_t *batch)
{
    for (size_t i = 0; i < count; i++) {
        const mg_apply_item_t *in = &request->items [from + i];
        indexer_item_t *item = &batch->items [i];
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
        item->text = item->record ? json_dumps (item->record, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (!item->text) {
            item->error = "out of memory";
            continue;
        }
        indexer_sha256 (item->text, item->checksum);
        item->tier = in->has_tier ? (int) in->tier : 0;
        item->confidence = in->has_confidence ? in->confidence : 0;
        item->merge = !(in->has_new_entity && in->new_entity) && item->tier > 0;
    }
}

//  Steps B-C: which records changed; known records keep their entity.
static int
s_find_changes (PGconn *pg, indexer_batch_t *batch, char *err, size_t errlen)
{
    json_t *keys = json_array ();
    for (size_t i = 0; i < batch->count; i++)
        if (!batch->items [i].error)
            json_array_append_new (keys, json_pack ("[s,s]", batch->items [i].source, batch->items [i].source_id));
    char *text = indexer_dump (keys);
    json_decref (keys);
    PGresult *res = indexer_sql (pg, err, errlen,
        "SELECT s.source, s.source_id, s.content_id::text, encode (s.checksum, 'hex') "
        "FROM content_sources s JOIN (SELECT k->>0 AS source, k->>1 AS source_id "
        "  FROM jsonb_array_elements ($1::jsonb) k) keys USING (source, source_id) "
        "FOR UPDATE OF s", 1, P (text));
    free (text);
    if (!res)
        return -1;
    for (size_t i = 0; i < batch->count; i++) {
        indexer_item_t *item = &batch->items [i];
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
                item->known = true;
            }
    }
    PQclear (res);
    //  New records whose ids an entity already holds join that entity.
    json_t *ids = json_array ();
    for (size_t i = 0; i < batch->count; i++) {
        indexer_item_t *item = &batch->items [i];
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
    text = indexer_dump (ids);
    json_decref (ids);
    res = indexer_sql (pg, err, errlen,
        "SELECT (k->>0)::int, e.content_id::text FROM jsonb_array_elements ($1::jsonb) k "
        "JOIN external_ids e ON e.source = k->>1 AND e.value = k->>2", 1, P (text));
    free (text);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples (res); r++) {
        indexer_item_t *item = &batch->items [atoi (PQgetvalue (res, r, 0))];
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

//  Steps D-E: entity rows exist, source records stored. New records go in
//  with COPY (the server parses each record once, as a column); a changed
//  record already stored is replaced by an upsert.
static int
s_store_sources (PGconn *pg, indexer_batch_t *batch, char *err, size_t errlen)
{
    json_t *entities = json_array ();         //  [[entity, type, title]]
    json_t *known = json_array ();            //  [[entity, source, source_id, checksum, record]]
    indexer_copy_t rows = { 0 };
    char checksum [HEX_SHA256 + 2];
    for (size_t i = 0; i < batch->count; i++) {
        indexer_item_t *item = &batch->items [i];
        if (item->error || !item->changed)
            continue;
        json_t *type = json_object_get (item->record, "type");
        json_array_append_new (entities, json_pack ("[s,s,s?]", item->entity,
            json_is_string (type) ? json_string_value (type) : "movie",
            json_string_value (json_object_get (item->record, "title"))));
        if (item->known) {
            json_array_append_new (known, json_pack ("[s,s,s,s,O]", item->entity, item->source,
                                                     item->source_id, item->checksum, item->record));
            continue;
        }
        snprintf (checksum, sizeof checksum, "\\x%s", item->checksum);
        indexer_copy_field (&rows, item->entity);
        indexer_copy_field (&rows, item->source);
        indexer_copy_field (&rows, item->source_id);
        indexer_copy_field (&rows, item->text);
        indexer_copy_field (&rows, checksum);
        indexer_copy_end_row (&rows);
    }
    char *text = indexer_dump (entities);
    json_decref (entities);
    PGresult *res = indexer_sql (pg, err, errlen,
        "INSERT INTO content (id, type, title, checksum) "
        "SELECT DISTINCT ON ((x->>0)::uuid) (x->>0)::uuid, x->>1, x->>2, '\\x00' "
        "FROM jsonb_array_elements ($1::jsonb) x ON CONFLICT (id) DO NOTHING RETURNING id::text", 1, P (text));
    free (text);
    int rc = res ? 0 : -1;
    if (res)
        for (int r = 0; r < PQntuples (res); r++)
            zhashx_insert (batch->created, PQgetvalue (res, r, 0), (void *) 1);
    PQclear (res);
    if (rc == 0)
        rc = indexer_copy_run (pg, "COPY content_sources (content_id, source, source_id, record, checksum) FROM STDIN",
                               &rows, err, errlen);
    indexer_copy_clear (&rows);
    if (rc == 0 && json_array_size (known)) {
        text = indexer_dump (known);
        rc = indexer_run (pg, err, errlen,
            "UPDATE content_sources s SET content_id = (x->>0)::uuid, checksum = decode (x->>3, 'hex'), "
            "  record = x->4, updated_at = now () "
            "FROM jsonb_array_elements ($1::jsonb) x WHERE s.source = x->>1 AND s.source_id = x->>2", 1, P (text));
        free (text);
    }
    json_decref (known);
    return rc;
}

//  Steps J-K: merges, jobs.
static int
s_finish (PGconn *pg, indexer_batch_t *batch, char *err, size_t errlen)
{
    json_t *merges = json_array ();
    json_t *done = json_array ();
    json_t *failed = json_array ();
    for (size_t i = 0; i < batch->count; i++) {
        indexer_item_t *item = &batch->items [i];
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
    char *m = indexer_dump (merges), *d = indexer_dump (done), *f = indexer_dump (failed);
    json_decref (merges);
    json_decref (done);
    json_decref (failed);
    int rc = indexer_run (pg, err, errlen,
        "INSERT INTO entity_merges (content_id, tier, confidence, source, source_id) "
        "SELECT (x->>'entity')::uuid, (x->>'tier')::smallint, (x->>'confidence')::real, x->>'source', x->>'source_id' "
        "FROM jsonb_array_elements ($1::jsonb) x", 1, P (m));
    if (rc == 0)
        rc = indexer_run (pg, err, errlen,
            "UPDATE ingest_jobs SET state = 'done', finished_at = now (), last_error = NULL "
            "WHERE id IN (SELECT (jsonb_array_elements_text ($1::jsonb))::bigint)", 1, P (d));
    if (rc == 0)
        rc = indexer_run (pg, err, errlen,
            "UPDATE ingest_jobs j SET state = 'failed', finished_at = now (), last_error = x->>1 "
            "FROM jsonb_array_elements ($1::jsonb) x WHERE j.id = (x->>0)::bigint", 1, P (f));
    free (m);
    free (d);
    free (f);
    return rc;
}

//  Step L: number the events; the change_streams row locks are held to commit.
static int
s_number_events (PGconn *pg, indexer_batch_t *batch, char *err, size_t errlen)
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
            PGresult *res = indexer_sql (pg, err, errlen,
                "UPDATE change_streams SET last_seq = last_seq + $2::bigint WHERE stream = $1 RETURNING last_seq",
                2, P (streams [s], count));
            if (!res || PQntuples (res) != 1)
                rc = -1;
            else {
                uint64_t last = strtoull (PQgetvalue (res, 0, 0), NULL, 10);
                json_array_foreach (list, i, event)
                    json_object_set_new (event, "seq", json_integer ((json_int_t) (last - n + 1 + i)));
                char *text = indexer_dump (list);
                rc = indexer_run (pg, err, errlen,
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
    indexer_batch_t batch = { .count = count };
    batch.items = calloc (count ? count : 1, sizeof (indexer_item_t));
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
    int rc = indexer_run (pg, err, errlen, "BEGIN", 0, NULL);
    if (rc == 0)
        rc = s_find_changes (pg, &batch, err, errlen);
    if (rc == 0)
        rc = s_store_sources (pg, &batch, err, errlen);
    if (rc == 0)
        rc = indexer_rebuild (pg, &batch, err, errlen);
    if (rc == 0)
        rc = s_finish (pg, &batch, err, errlen);
    pthread_mutex_lock (&self->shared->publish_order);
    if (rc == 0)
        rc = s_number_events (pg, &batch, err, errlen);
    if (rc == 0)
        rc = indexer_run (pg, err, errlen, "COMMIT", 0, NULL);
    if (rc) {
        char ignored [64];
        indexer_run (pg, ignored, sizeof ignored, "ROLLBACK", 0, NULL);
    }
    else {
        for (size_t i = 0; i < count; i++) {
            indexer_item_t *item = &batch.items [i];
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
            indexer_item_t *item = &batch.items [i];
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
    for (size_t i = 0; i < count; i++) {
        json_decref (batch.items [i].record);
        free (batch.items [i].text);
    }
    free (batch.items);
    zhashx_destroy (&batch.created);
    json_decref (batch.events);
    return rc;
}

//  Whether sqlstate is a conflict with a concurrent transaction (deadlock,
//  serialization failure) that a new attempt of the same batch resolves.
static bool
s_conflict (const char *sqlstate)
{
    return strcmp (sqlstate, "40P01") == 0 || strcmp (sqlstate, "40001") == 0;
}

//  Fail one item's job in a transaction of its own.
static void
s_fail_job (PGconn *pg, const mg_apply_item_t *item, const char *reason)
{
    if (!item->has_job)
        return;
    char job [24], err [256];
    snprintf (job, sizeof job, "%llu", (unsigned long long) item->job);
    indexer_run (pg, err, sizeof err, "UPDATE ingest_jobs SET state = 'failed', finished_at = now (), last_error = $2 "
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
    //  A batch can meet another transaction on the same rows in the
    //  opposite order (a person's row, an entity's); the server then aborts
    //  one of them (40P01). That is no record's fault and the other has
    //  gone on by the retry: the batch is applied again at once instead of
    //  leaving its jobs for a new claim after the resolver's lease.
    for (int attempt = 1; ; attempt++) {
        indexer_failed_state [0] = 0;
        if (s_apply_range (self, pg, request, 0, request->items_count, reply, reason, sizeof reason) == 0)
            return 0;
        if (attempt == APPLY_ATTEMPTS || PQstatus (pg) != CONNECTION_OK || !s_conflict (indexer_failed_state))
            break;
        mg_warn ("batch met a concurrent one, applying it again", "items=%zu attempt=%d sqlstate=%s",
                 request->items_count, attempt, indexer_failed_state);
    }
    //  A timeout, a lock or a lost connection is no record's fault: nothing
    //  is failed, the jobs are claimed again.
    if (PQstatus (pg) != CONNECTION_OK || (indexer_failed_state [0] && mg_pg_transient (indexer_failed_state)))
        return mg_pg_fail (err, pg, NULL, "catalog database");
    //  The database refused the batch: find the item(s) it refuses.
    mg_warn ("batch refused, applying items one by one", "items=%zu reason=\"%s\"", request->items_count, reason);
    for (size_t i = 0; i < request->items_count; i++) {
        indexer_failed_state [0] = 0;
        if (s_apply_range (self, pg, request, i, 1, reply, reason, sizeof reason)) {
            if (PQstatus (pg) != CONNECTION_OK || (indexer_failed_state [0] && mg_pg_transient (indexer_failed_state)))
                return mg_pg_fail (err, pg, NULL, "catalog database");
            s_fail_job (pg, &request->items [i], reason);
            reply->failed++;
        }
    }
    return 0;
}
