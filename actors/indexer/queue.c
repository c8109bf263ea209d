/*  indexer.enqueue and indexer.claim: the durable work queue (ingest_jobs).

    A job is committed before enqueue answers, so an importer that got its
    reply can forget the batch. Claiming takes jobs FOR UPDATE SKIP LOCKED
    and leases them: a resolver that dies leaves its jobs 'running' until the
    lease runs out, then another claim takes them over. Jobs are idempotent
    (apply is keyed by source and checksum), so at-least-once is enough.
    A job's record is stored as its msgpack message (ingest_jobs.record):
    enqueue encodes what the bus decoded, claim decodes it back, and no
    JSON is made or parsed on either side.  */
#include "indexer.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <stdlib.h>
#include <string.h>

#define CLAIM_MAX          1000
#define LEASE_DEFAULT_S    30
#define CLAIM_BYTES        (MG_MSG_MAX_BYTES / 2)  //  stored record bytes per claim: the reply stays under the bus limit

//  Statement text for count rows of (source, source_id, record): the
//  records go as binary parameters, so nothing is escaped or parsed.
static char *
s_enqueue_sql (size_t count)
{
    const char head [] = "INSERT INTO ingest_jobs (kind, source, source_id, record) VALUES ";
    //  ",('record',$NNNNN,$NNNNN,$NNNNN::bytea)" per row, with room to spare
    size_t size = sizeof head + count * 64 + 32;
    char *sql = malloc (size);
    if (!sql)
        return NULL;
    size_t used = (size_t) snprintf (sql, size, "%s", head);
    for (size_t i = 0; i < count; i++)
        used += (size_t) snprintf (sql + used, size - used, "%s('record',$%zu,$%zu,$%zu::bytea)",
                                   i ? "," : "", 3 * i + 1, 3 * i + 2, 3 * i + 3);
    snprintf (sql + used, size - used, " RETURNING id");
    return sql;
}

int
indexer_on_enqueue (void *state, const void *req, void *rep, mg_error_t *err)
{
    indexer_t *self = state;
    const mg_enqueue_request_t *request = req;
    mg_enqueue_reply_t *reply = rep;
    reply->queued = 0;
    reply->has_queued = true;
    size_t count = request->records_count;
    if (count == 0)
        return 0;
    PGconn *pg = indexer_pg (self, err);
    if (!pg)
        return -1;
    //  Each record as its own msgpack message (what claim decodes back),
    //  stored as is: no JSON on either side of the queue.
    size_t nparams = 3 * count;
    const char **values = calloc (nparams, sizeof *values);
    int *lengths = calloc (nparams, sizeof *lengths);
    int *formats = calloc (nparams, sizeof *formats);
    uint8_t **packed = calloc (count, sizeof *packed);
    char *sql = s_enqueue_sql (count);
    int rc = values && lengths && formats && packed && sql ? 0 : mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const mg_raw_record_t *record = &request->records [i];
        size_t len = 0;
        char reason [MG_MSG_ERR_LEN];
        if (mg_msg_encode (&mg_raw_record_desc, record, &packed [i], &len, reason, sizeof reason))
            //  The request decoded within the same limits: only memory fails here.
            rc = mg_actor_fail (err, "INTERNAL", NULL, "record %zu: %s", i, reason);
        else {
            values [3 * i] = record->source;
            values [3 * i + 1] = record->source_id;
            values [3 * i + 2] = (const char *) packed [i];
            lengths [3 * i + 2] = (int) len;
            formats [3 * i + 2] = 1;
        }
    }
    PGresult *res = NULL;
    if (rc == 0) {
        //  One statement for the batch; ids follow the records' order.
        res = PQexecParams (pg, sql, (int) nparams, NULL, values, lengths, formats, 0);
        if (PQresultStatus (res) != PGRES_TUPLES_OK)
            rc = mg_pg_fail (err, pg, res, "queueing the records");
    }
    if (rc == 0) {
        reply->queued = (uint64_t) PQntuples (res);
        if (PQntuples (res) > 0) {
            uint64_t first = strtoull (PQgetvalue (res, 0, 0), NULL, 10);
            for (int i = 1; i < PQntuples (res); i++) {
                uint64_t id = strtoull (PQgetvalue (res, i, 0), NULL, 10);
                if (id < first)
                    first = id;
            }
            reply->first_job = first;
            reply->has_first_job = true;
        }
    }
    PQclear (res);
    for (size_t i = 0; packed && i < count; i++)
        free (packed [i]);
    free (packed);
    free (sql);
    free (formats);
    free (lengths);
    free (values);
    return rc;
}

//  An integer column of a binary result (int2, int4 or int8, network order).
static uint64_t
s_be_uint (const char *value, int length)
{
    uint64_t n = 0;
    for (int i = 0; i < length && i < 8; i++)
        n = (n << 8) | (uint8_t) value [i];
    return n;
}

static int
s_by_id (const void *a, const void *b)
{
    uint64_t x = ((const mg_job_t *) a)->id, y = ((const mg_job_t *) b)->id;
    return x < y ? -1 : x > y;
}

int
indexer_on_claim (void *state, const void *req, void *rep, mg_error_t *err)
{
    indexer_t *self = state;
    const mg_claim_request_t *request = req;
    mg_claim_reply_t *reply = rep;
    if (request->max == 0 || request->max > CLAIM_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", "max", "max must be 1..%d", CLAIM_MAX);
    uint64_t lease = request->has_lease_s && request->lease_s ? request->lease_s : LEASE_DEFAULT_S;
    PGconn *pg = indexer_pg (self, err);
    if (!pg)
        return -1;
    char max_text [24], lease_text [24], attempts_text [24];
    snprintf (max_text, sizeof max_text, "%llu", (unsigned long long) request->max);
    snprintf (lease_text, sizeof lease_text, "%llu", (unsigned long long) lease);
    snprintf (attempts_text, sizeof attempts_text, "%d", INDEXER_MAX_ATTEMPTS);
    //  Poison first: jobs claimed too often fail instead of looping forever.
    const char *poison [1] = { attempts_text };
    PQclear (PQexecParams (pg,
        "UPDATE ingest_jobs SET state = 'failed', finished_at = now(), "
        "  last_error = coalesce (last_error, 'claimed ' || attempts || ' times without finishing') "
        "WHERE state = 'running' AND attempts >= $1::int", 1, NULL, poison, NULL, NULL, 0));
    //  Jobs are taken in id order while their payloads fit CLAIM_BYTES (the
    //  first always does: enqueue accepted it in one message); the locked
    //  rest stay queued for the next claim.
    char bytes_text [24];
    snprintf (bytes_text, sizeof bytes_text, "%d", CLAIM_BYTES);
    const char *params [4] = { request->worker, max_text, lease_text, bytes_text };
    PGresult *res = PQexecParams (pg,
        "WITH c AS ("
        "  SELECT id, payload_bytes AS len FROM ingest_jobs"
        "  WHERE (state = 'queued' AND run_after <= now())"
        "     OR (state = 'running' AND locked_at < now () - make_interval (secs => $3::int))"
        "  ORDER BY id LIMIT $2::int FOR UPDATE SKIP LOCKED), "
        "s AS (SELECT id, len, sum (len) OVER (ORDER BY id) AS upto FROM c) "
        "UPDATE ingest_jobs j SET state = 'running', locked_by = $1, locked_at = now (), attempts = attempts + 1 "
        "FROM s WHERE j.id = s.id AND (s.upto = s.len OR s.upto <= $4::bigint) "
        "RETURNING j.id, j.attempts, j.record, j.payload::text",
        4, NULL, params, NULL, NULL, 1);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        int rc = mg_pg_fail (err, pg, res, "claiming jobs");
        PQclear (res);
        return rc;
    }
    int rows = PQntuples (res);
    reply->jobs = calloc ((size_t) (rows ? rows : 1), sizeof (mg_job_t));
    if (!reply->jobs) {
        PQclear (res);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    for (int i = 0; i < rows; i++) {
        mg_job_t *job = &reply->jobs [reply->jobs_count];
        //  Binary results: id int8, attempts int4 (network order), record
        //  bytea as stored, payload text (each value NUL-terminated).
        job->id = s_be_uint (PQgetvalue (res, i, 0), PQgetlength (res, i, 0));
        job->has_id = true;
        job->attempts = s_be_uint (PQgetvalue (res, i, 1), PQgetlength (res, i, 1));
        job->has_attempts = true;
        char reason [MG_MSG_ERR_LEN] = "out of memory";
        job->record = calloc (1, sizeof (mg_raw_record_t));
        int decoded = -1;
        if (job->record && !PQgetisnull (res, i, 2))
            decoded = mg_msg_decode (&mg_raw_record_desc, (const uint8_t *) PQgetvalue (res, i, 2),
                                     (size_t) PQgetlength (res, i, 2), job->record, reason, sizeof reason);
        else
        if (job->record) {
            //  Queued as JSON before 020_ingest_first_import.
            json_error_t jerr;
            json_t *payload = PQgetisnull (res, i, 3) ? NULL : json_loads (PQgetvalue (res, i, 3), 0, &jerr);
            snprintf (reason, sizeof reason, "payload is not JSON");
            if (payload)
                decoded = mg_msg_from_json (&mg_raw_record_desc, payload, job->record, reason, sizeof reason);
            json_decref (payload);
        }
        if (decoded) {
            //  Cannot happen for what enqueue wrote; fail the job, never loop on it.
            char id_text [24];
            snprintf (id_text, sizeof id_text, "%llu", (unsigned long long) job->id);
            const char *fail [2] = { id_text, reason };
            PQclear (PQexecParams (pg, "UPDATE ingest_jobs SET state = 'failed', finished_at = now (), "
                                       "last_error = $2 WHERE id = $1::bigint", 2, NULL, fail, NULL, NULL, 0));
            free (job->record);
            job->record = NULL;
            continue;
        }
        reply->jobs_count++;
    }
    PQclear (res);
    qsort (reply->jobs, reply->jobs_count, sizeof (mg_job_t), s_by_id);
    return 0;
}

int
indexer_on_stats (void *state, const void *req, void *rep, mg_error_t *err)
{
    indexer_t *self = state;
    mg_indexer_stats_t *stats = rep;
    (void) req;
    PGconn *pg = indexer_pg (self, err);
    if (!pg)
        return -1;
    PGresult *res = PQexec (pg,
        "SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'running'), "
        "  count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'failed'), "
        "  (SELECT count(*) FROM content), "
        "  (SELECT last_seq FROM change_streams WHERE stream = 'content.changed'), "
        "  (SELECT last_seq FROM change_streams WHERE stream = 'availability.changed') "
        "FROM ingest_jobs");
    if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != 1) {
        int rc = mg_pg_fail (err, pg, res, "indexer statistics");
        PQclear (res);
        return rc;
    }
    uint64_t *fields [] = { &stats->queued, &stats->running, &stats->done, &stats->failed,
                            &stats->entities, &stats->content_seq, &stats->availability_seq };
    bool *present [] = { &stats->has_queued, &stats->has_running, &stats->has_done, &stats->has_failed,
                         &stats->has_entities, &stats->has_content_seq, &stats->has_availability_seq };
    for (int i = 0; i < 7; i++) {
        *fields [i] = strtoull (PQgetvalue (res, 0, i), NULL, 10);
        *present [i] = true;
    }
    PQclear (res);
    return 0;
}
