/*  List imports (POST /api/v1/me/import): the file comes in pieces
    (sync.import.upload) into a durable job (import_jobs); once whole it is
    read (lib/mg_import), and its rows are resolved through the resolver
    (resolver.resolve, a chunk of rows a call) and applied as ops from the
    account: a list entry is a watchlist.add, a watch a completed
    progress.set. A row whose title the state already holds in that way
    makes no op, so importing a file again changes nothing.

    A file of up to IMPORT_INLINE_ROWS rows is run in the upload call and
    answered with its report; a larger one is queued and run by the import
    worker of any sync process. A worker holds a job by a lease it renews
    with every chunk; the chunk's counts and the new `processed` are written
    in one UPDATE, so a process that stops half-way leaves the job where its
    last chunk ended, and the job is claimed again once the lease runs out.
    A job queued is announced (NOTIFY import_queued) and a worker, waiting
    on LISTEN, starts it at once; the worker also wakes when the earliest
    lease runs out, and every MG_IMPORT_POLL_MS as a backstop.
    Op ids are made from the job and the row's line: a chunk run again after
    a crash re-sends the ops it had applied, which the op log skips.  */
#include "sync.h"
#include "mg_filters.h"
#include "mg_import.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <czmq.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })
#define IMPORT_FILE_MAX      (5 * 1024 * 1024)   //  bytes of a file (the route's body limit)
#define IMPORT_INLINE_ROWS   1000     //  files this size are answered with their report at once
#define IMPORT_CHUNK_ROWS    500      //  rows per resolver call and per recorded step (~300 KB of records)
#define IMPORT_ISSUES_MAX    500      //  non-imported rows listed in a report (it must fit a bus message)
#define IMPORT_ISSUE_TITLE   128      //  bytes of a title shown in a report
#define IMPORT_RESOLVE_TTL_MS 10000   //  resolver.resolve's contract for 1,000 records
#define IMPORT_CHANNEL       "import_queued"   //  NOTIFY channel: a job was queued
#define IMPORT_WAIT_SLICE_MS 250      //  a waiting worker checks for a stop this often
#define IMPORT_LEASE_SLACK_MS 100     //  wakes this long after a lease runs out (the claim compares with now ())
#define IMPORT_SWEEP_MS      60000    //  abandoned uploads are dropped this often
#define IMPORT_STALE_UPLOAD  "1 hour" //  an upload never finished is dropped after this

//  Run sql (n params) for at most one row: 1 with *res_out holding it
//  (the caller clears it), 0 when there is none, -1 with err (mg_pg_fail).
static int
s_row (PGconn *pg, const char *sql, int n, const char *const *params, PGresult **res_out, mg_error_t *err)
{
    PGresult *res = PQexecParams (pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, "sync database");
        PQclear (res);
        return -1;
    }
    if (PQntuples (res) != 1) {
        PQclear (res);
        return 0;
    }
    *res_out = res;
    return 1;
}

//  One chunk's or one job's report, as stored (import_jobs.report).
static json_t *
s_report_new (void)
{
    return json_pack ("{s:i, s:i, s:i, s:i, s:i, s:i, s:[], s:i}", "matched", 0, "ambiguous", 0, "unmatched", 0,
                      "added", 0, "watched", 0, "unchanged", 0, "issues", "issues_more", 0);
}

//  Add n to the report's counter key.
static void
s_count (json_t *report, const char *key, size_t n)
{
    json_int_t now = json_integer_value (json_object_get (report, key));
    json_object_set_new (report, key, json_integer (now + (json_int_t) n));
}

//  Cut text to at most max bytes on a UTF-8 character boundary (new string).
static json_t *
s_cut (const char *text, size_t max)
{
    size_t len = strlen (text);
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char) text [len] & 0xC0) == 0x80)
            len--;
    }
    return json_stringn (text, len);
}

//  List a row that was not imported (past IMPORT_ISSUES_MAX only counted).
static void
s_issue (json_t *report, const mg_import_row_t *row, const char *status, const char *reason, json_t *candidates)
{
    s_count (report, strcmp (status, "ambiguous") == 0 ? "ambiguous" : "unmatched", 1);
    json_t *issues = json_object_get (report, "issues");
    if (json_array_size (issues) >= IMPORT_ISSUES_MAX) {
        s_count (report, "issues_more", 1);
        json_decref (candidates);
        return;
    }
    json_t *issue = json_pack ("{s:I, s:o, s:s, s:s}", "line", (json_int_t) row->line,
                               "title", s_cut (row->title, IMPORT_ISSUE_TITLE), "status", status, "reason", reason);
    if (issue && row->year)
        json_object_set_new (issue, "year", json_integer (row->year));
    if (issue && candidates)
        json_object_set (issue, "candidates", candidates);
    json_decref (candidates);
    json_array_append_new (issues, issue);
}

//  The resolver.resolve document for rows: title (an id stands in for a
//  row that has none), year when the resolver takes it, type, ids.
static char *
s_records (const mg_import_row_t *rows, size_t count)
{
    json_t *records = json_array ();
    for (size_t i = 0; records && i < count; i++) {
        const mg_import_row_t *row = &rows [i];
        char stand_in [32];
        snprintf (stand_in, sizeof stand_in, "%s", *row->imdb ? row->imdb : "untitled");
        json_t *record = json_pack ("{s:s}", "title", *row->title ? row->title : stand_in);
        if (record && row->year >= 1870 && row->year <= 2100)
            json_object_set_new (record, "year", json_integer (row->year));
        if (record && *row->type)
            json_object_set_new (record, "type", json_string (row->type));
        json_t *ids = json_object ();
        if (ids && *row->imdb)
            json_object_set_new (ids, "imdb", json_string (row->imdb));
        if (ids && row->tmdb > 0)
            json_object_set_new (ids, "tmdb", json_integer (row->tmdb));
        if (record && json_object_size (ids))
            json_object_set (record, "ids", ids);
        json_decref (ids);
        json_array_append_new (records, record);
    }
    json_t *doc = records ? json_pack ("{s:o}", "records", records) : NULL;
    char *text = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    return text;
}

//  Ask the resolver about count rows into reply. 0, or -1 with err (a
//  resolver that cannot be reached is the service's failure: 503).
static int
s_resolve (sync_thread_t *self, const mg_import_row_t *rows, size_t count, mg_resolve_reply_t *reply,
           mg_error_t *err)
{
    if (!self->bus && !(self->bus = mg_client_new (self->shared->broker)))
        return mg_actor_fail (err, "SERVICE_UNAVAILABLE", NULL, "the resolver cannot be reached");
    char *body = s_records (rows, count);
    if (!body)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    mg_resolve_request_t request = { .body = body, .candidates = true, .has_candidates = true };
    mg_error_t failed = { 0 };
    int rc = mg_client_call (self->bus, "resolver.resolve", &mg_resolve_request_desc, &request,
                             &mg_resolve_reply_desc, reply, IMPORT_RESOLVE_TTL_MS, &failed);
    free (body);
    if (rc == 0 && reply->results_count != count) {
        mg_msg_clear (&mg_resolve_reply_desc, reply);
        rc = -1;
        failed.code = strdup ("BAD_REPLY");
    }
    if (rc) {
        mg_warn ("resolver.resolve failed", "code=%s", failed.code ? failed.code : "");
        mg_msg_clear (&mg_error_desc, &failed);
        //  A lost reply leaves the synchronous client out of step: start afresh.
        mg_client_destroy (&self->bus);
        err->retry_after = 1;
        err->has_retry_after = true;
        return mg_actor_fail (err, "SERVICE_UNAVAILABLE", NULL, "the resolver did not answer; try again");
    }
    return 0;
}

//  Summaries {id: {id, type, title, year}} of the candidate ids (a JSON
//  array), titles cut for the report. NULL with err.
static json_t *
s_candidates (PGconn *pg, const json_t *ids, mg_error_t *err)
{
    char *text = json_dumps (ids, JSON_COMPACT);
    if (!text) {
        mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
        return NULL;
    }
    PGresult *res = NULL;
    int rc = s_row (pg,
        "SELECT coalesce (jsonb_object_agg (c.id, jsonb_strip_nulls (jsonb_build_object ('id', c.id, "
        "'type', c.type, 'title', left (c.title, 128), 'year', c.year))), '{}'::jsonb)::text "
        "FROM content c WHERE c.id IN (SELECT (jsonb_array_elements_text ($1::jsonb))::uuid)",
        1, P (text), &res, err);
    free (text);
    if (rc != 1)
        return NULL;            //  an aggregate always has its row
    json_t *found = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
    PQclear (res);
    if (!found)
        mg_actor_fail (err, "INTERNAL", NULL, "could not read the candidates");
    return found;
}

//  True when the view's list (watchlist or progress) holds content_id
//  (progress: completed).
static bool
s_holds (const json_t *view, const char *list, const char *content_id)
{
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (view, list), index, item)
        if (strcmp (json_string_value (json_object_get (item, "content_id")), content_id) == 0)
            return strcmp (list, "progress") != 0 || json_is_true (json_object_get (item, "completed"));
    return false;
}

//  Apply ops (owned) in batches the sync batch limit allows. 0 or -1.
static int
s_apply (sync_thread_t *self, const char *user_id, json_t *ops, mg_error_t *err)
{
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < json_array_size (ops); at += SYNC_BATCH_MAX) {
        json_t *batch = json_array ();
        for (size_t i = at; batch && i < json_array_size (ops) && i < at + SYNC_BATCH_MAX; i++)
            json_array_append (batch, json_array_get (ops, i));
        size_t applied = 0;
        rc = batch ? sync_apply_ops (self, user_id, batch, &applied, err)
                   : mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    json_decref (ops);
    return rc;
}

//  Resolve and apply count rows of job for user_id; what came of them into
//  report. 0 or -1.
static int
s_chunk (sync_thread_t *self, PGconn *pg, const char *job_id, const char *user_id, const mg_import_row_t *rows,
         size_t count, json_t *report, mg_error_t *err)
{
    mg_resolve_reply_t resolved = { 0 };
    if (s_resolve (self, rows, count, &resolved, err))
        return -1;
    json_t *ids = json_array ();
    for (size_t i = 0; ids && i < count; i++)
        for (size_t c = 0; c < resolved.results [i].candidates_count; c++)
            json_array_append_new (ids, json_string (resolved.results [i].candidates [c]));
    json_t *known = ids ? s_candidates (pg, ids, err) : NULL;
    json_decref (ids);
    json_t *view = known ? sync_user_view (self, user_id, err) : NULL;
    json_t *ops = json_array (), *planned = json_object ();
    if (!view || !ops || !planned) {
        json_decref (known);
        json_decref (view);
        json_decref (ops);
        json_decref (planned);
        mg_msg_clear (&mg_resolve_reply_desc, &resolved);
        return view ? mg_actor_fail (err, "INTERNAL", NULL, "out of memory") : -1;
    }
    const char **errors = calloc (count, sizeof *errors);
    for (size_t e = 0; errors && e < resolved.errors_count; e++)
        if (resolved.errors [e].index < count)
            errors [resolved.errors [e].index] = resolved.errors [e].message;
    json_int_t titles = json_integer_value (json_object_get (view, "titles"));
    size_t room = titles < SYNC_TITLES_MAX ? (size_t) (SYNC_TITLES_MAX - titles) : 0;
    for (size_t i = 0; i < count; i++) {
        const mg_import_row_t *row = &rows [i];
        const mg_resolve_result_t *result = &resolved.results [i];
        if (errors && errors [i]) {
            s_issue (report, row, "unmatched", errors [i], NULL);
            continue;
        }
        if (!result->id && result->candidates_count) {
            json_t *candidates = json_array ();
            for (size_t c = 0; c < result->candidates_count; c++) {
                json_t *one = json_object_get (known, result->candidates [c]);
                json_array_append_new (candidates, one ? json_incref (one)
                                                       : json_pack ("{s:s}", "id", result->candidates [c]));
            }
            s_issue (report, row, "ambiguous", row->year ? "several titles fit its title and year equally well"
                                             : result->candidates_count > 1 ? "it has no year, and several titles have its title"
                                             : "it has no year: confirm the one title that has its title",
                     candidates);
            continue;
        }
        if (!result->id) {
            s_issue (report, row, "unmatched", row->year || *row->imdb || row->tmdb
                     ? "no title in the catalog matches its ids, title and year"
                     : "it has no year, and no title in the catalog has its title exactly", NULL);
            continue;
        }
        const char *list = row->watched ? "progress" : "watchlist";
        char key [64];
        snprintf (key, sizeof key, "%c%s", row->watched ? 'p' : 'w', result->id);
        bool held = s_holds (view, list, result->id) || json_object_get (planned, key);
        if (!held && !row->watched && room == 0) {
            s_issue (report, row, "skipped", "the watchlist is full (2,000 titles): remove some first", NULL);
            continue;
        }
        s_count (report, "matched", 1);
        if (held) {
            s_count (report, "unchanged", 1);
            continue;
        }
        //  One op id per job and line: a chunk run again sends the same ops.
        char op_id [SYNC_OP_ID_MAX];
        snprintf (op_id, sizeof op_id, "import-%s-%zu", job_id, row->line);
        json_t *op = row->watched
            ? json_pack ("{s:s, s:s, s:s, s:f, s:b}", "op_id", op_id, "type", "progress.set",
                         "content_id", result->id, "position_s", 0.0, "completed", 1)
            : json_pack ("{s:s, s:s, s:s}", "op_id", op_id, "type", "watchlist.add", "content_id", result->id);
        json_array_append_new (ops, op);
        json_object_set_new (planned, key, json_true ());
        s_count (report, row->watched ? "watched" : "added", 1);
        if (!row->watched)
            room--;
    }
    free (errors);
    json_decref (planned);
    json_decref (known);
    json_decref (view);
    mg_msg_clear (&mg_resolve_reply_desc, &resolved);
    return s_apply (self, user_id, ops, err);
}

//  Add chunk's counts and issues to the job's report.
static void
s_merge (json_t *report, const json_t *chunk)
{
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) chunk, key, value)
        if (json_is_integer (value))
            s_count (report, key, (size_t) json_integer_value (value));
    json_t *issues = json_object_get (report, "issues");
    size_t index;
    json_array_foreach (json_object_get (chunk, "issues"), index, value) {
        if (json_array_size (issues) < IMPORT_ISSUES_MAX)
            json_array_append (issues, value);
        else
            s_count (report, "issues_more", 1);
    }
}

//  Run job job_id from where it stands to its end (parsed: the file's rows
//  when the caller has them, else read here). 0, or -1 with err (the job
//  stays to be claimed again, unless its file cannot be read: failed).
static int
s_run (sync_thread_t *self, const char *job_id, const mg_import_t *parsed, mg_error_t *err)
{
    PGconn *pg = sync_pg (self, err);
    if (!pg)
        return -1;
    PGresult *res = NULL;
    int found = s_row (pg, "SELECT user_id::text, content_type, file, processed, report::text "
                           "FROM import_jobs WHERE id = $1::uuid AND status = 'running'", 1, P (job_id), &res, err);
    if (found != 1)
        return found;           //  0: done or gone meanwhile
    char user_id [37];
    snprintf (user_id, sizeof user_id, "%s", PQgetvalue (res, 0, 0));
    size_t processed = (size_t) strtoull (PQgetvalue (res, 0, 3), NULL, 10);
    json_t *report = json_loads (PQgetvalue (res, 0, 4), 0, NULL);
    mg_import_t own = { 0 };
    if (!parsed) {
        char why [256];
        size_t line = 0;
        if (mg_import_parse (PQgetvalue (res, 0, 2), (size_t) PQgetlength (res, 0, 2), PQgetvalue (res, 0, 1), &own,
                             why, sizeof why, &line)) {
            PQclear (res);
            json_decref (report);
            mg_error ("a stored import no longer parses", "job=%s line=%zu reason=\"%s\"", job_id, line, why);
            PQclear (PQexecParams (pg, "UPDATE import_jobs SET status = 'failed', error = $2, file = NULL, "
                                       "updated_at = now () WHERE id = $1::uuid",
                                   2, NULL, P (job_id, "the file could not be read again"), NULL, NULL, 0));
            return mg_actor_fail (err, "INTERNAL", NULL, "the file could not be read again");
        }
        parsed = &own;
    }
    PQclear (res);
    if (!json_object_get (report, "issues")) {
        json_decref (report);
        report = s_report_new ();
    }
    int rc = 0;
    char lease [32];
    snprintf (lease, sizeof lease, "%lld", (long long) self->shared->import_lease_s);
    while (rc == 0 && processed < parsed->count && !zsys_interrupted) {
        size_t count = parsed->count - processed < IMPORT_CHUNK_ROWS ? parsed->count - processed : IMPORT_CHUNK_ROWS;
        json_t *chunk = s_report_new ();
        rc = chunk ? s_chunk (self, pg, job_id, user_id, parsed->rows + processed, count, chunk, err)
                   : mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
        if (rc == 0) {
            s_merge (report, chunk);
            char *text = json_dumps (report, JSON_COMPACT);
            char from [24], to [24];
            snprintf (from, sizeof from, "%zu", processed);
            snprintf (to, sizeof to, "%zu", processed + count);
            //  Only the holder of the job moves it on (processed is where it left it).
            res = PQexecParams (pg, "UPDATE import_jobs SET processed = $3::int, report = $4::jsonb, "
                                    "status = CASE WHEN $3::int >= total THEN 'done' ELSE status END, "
                                    "file = CASE WHEN $3::int >= total THEN NULL ELSE file END, "
                                    "lease_until = now () + make_interval (secs => $5::int), updated_at = now () "
                                    "WHERE id = $1::uuid AND processed = $2::int AND status = 'running'",
                                2 + 3, NULL, P (job_id, from, to, text ? text : "{}", lease), NULL, NULL, 0);
            free (text);
            if (PQresultStatus (res) != PGRES_COMMAND_OK)
                rc = mg_pg_fail (err, pg, res, "sync database");
            else
            if (strcmp (PQcmdTuples (res), "1") != 0)
                processed = parsed->count;      //  another worker holds it now
            else
                processed += count;
            PQclear (res);
        }
        json_decref (chunk);
    }
    //  A file with no rows is done at once.
    if (rc == 0 && parsed->count == 0)
        PQclear (PQexecParams (pg, "UPDATE import_jobs SET status = 'done', file = NULL, updated_at = now () "
                                   "WHERE id = $1::uuid AND status = 'running'", 1, NULL, P (job_id), NULL, NULL, 0));
    json_decref (report);
    mg_import_clear (&own);
    return rc;
}

//  The job as the API shows it into reply (user_id NULL: any user's). 0, or
//  -1 with err (NOT_FOUND for no such job of the user).
static int
s_job (PGconn *pg, const char *job_id, const char *user_id, mg_import_job_t *reply, mg_error_t *err)
{
    PGresult *res = NULL;
    int found = s_row (pg,
        "SELECT (report || jsonb_strip_nulls (jsonb_build_object ('id', id, "
        "'status', CASE WHEN status = 'receiving' THEN 'queued' ELSE status END, 'format', format, "
        "'rows', total, 'processed', processed, 'error', error, "
        "'created_at', to_char (created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "'updated_at', to_char (updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))))::text "
        "FROM import_jobs WHERE id = $1::uuid AND user_id = $2::uuid", 2, P (job_id, user_id), &res, err);
    if (found != 1)
        return found ? -1 : mg_actor_fail (err, "NOT_FOUND", "id", "no such import");
    json_t *job = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
    PQclear (res);
    json_t *empty = s_report_new ();
    //  A job not started yet has an empty report.
    if (job && empty)
        json_object_update_missing (job, empty);
    json_decref (empty);
    char reason [256] = "out of memory";
    int rc = job ? mg_msg_from_json (&mg_import_job_desc, job, reply, reason, sizeof reason) : -1;
    json_decref (job);
    if (rc) {
        mg_error ("import job does not fit the reply", "job=%s reason=\"%s\"", job_id, reason);
        return mg_actor_fail (err, "INTERNAL", NULL, "the import could not be encoded");
    }
    return 0;
}

//  The upload is whole: read the file and run (small) or queue (large) it.
//  0, or -1 with err (a file that does not parse: INVALID_PARAMETER naming
//  the line, and the job is dropped).
static int
s_start (sync_thread_t *self, PGconn *pg, const char *job_id, const char *user_id, mg_error_t *err)
{
    PGresult *res = NULL;
    int found = s_row (pg, "SELECT file, content_type FROM import_jobs WHERE id = $1::uuid", 1, P (job_id), &res, err);
    if (found != 1)
        return found ? -1 : mg_actor_fail (err, "NOT_FOUND", "job_id", "the upload is gone");
    mg_import_t parsed = { 0 };
    char why [256];
    size_t line = 0;
    int bad = mg_import_parse (PQgetvalue (res, 0, 0), (size_t) PQgetlength (res, 0, 0), PQgetvalue (res, 0, 1),
                               &parsed, why, sizeof why, &line);
    PQclear (res);
    if (bad) {
        PQclear (PQexecParams (pg, "DELETE FROM import_jobs WHERE id = $1::uuid", 1, NULL, P (job_id), NULL, NULL, 0));
        if (line)
            return mg_actor_fail (err, "INVALID_PARAMETER", "file", "line %zu: %s", line, why);
        return mg_actor_fail (err, "INVALID_PARAMETER", "file", "%s", why);
    }
    bool inline_run = parsed.count <= IMPORT_INLINE_ROWS;
    char total [24], lease [32];
    snprintf (total, sizeof total, "%zu", parsed.count);
    snprintf (lease, sizeof lease, "%lld", (long long) self->shared->import_lease_s);
    //  Run here: held by this process's lease, as a worker would hold it.
    res = PQexecParams (pg, "UPDATE import_jobs SET status = $5, format = $2, total = $3::int, "
                            "lease_until = CASE WHEN $5 = 'running' THEN now () + make_interval (secs => $4::int) END, "
                            "updated_at = now () WHERE id = $1::uuid",
                        5, NULL, P (job_id, mg_import_format_name (parsed.format), total, lease,
                                    inline_run ? "running" : "queued"), NULL, NULL, 0);
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : mg_pg_fail (err, pg, res, "sync database");
    PQclear (res);
    //  A worker waiting on the channel starts the job now; one lost
    //  notification costs the backstop poll, nothing more.
    if (rc == 0 && !inline_run) {
        res = PQexecParams (pg, "SELECT pg_notify ('" IMPORT_CHANNEL "', $1)", 1, NULL, P (job_id), NULL, NULL, 0);
        if (PQresultStatus (res) != PGRES_TUPLES_OK)
            mg_warn ("import queued unannounced: the backstop poll starts it", "job=%s reason=\"%s\"", job_id,
                     PQerrorMessage (pg));
        PQclear (res);
    }
    if (rc == 0 && inline_run)
        rc = s_run (self, job_id, &parsed, err);
    mg_import_clear (&parsed);
    (void) user_id;
    return rc;
}

int
sync_on_import_upload (void *state, const void *req, void *rep, mg_error_t *err)
{
    sync_thread_t *self = state;
    const mg_import_upload_t *request = req;
    char user_id [37], job_id [37] = "";
    if (mg_filters_uuid (request->user_id, user_id, "user_id", err)
    ||  (request->job_id && mg_filters_uuid (request->job_id, job_id, "job_id", err)))
        return -1;
    PGconn *pg = sync_pg (self, err);
    if (!pg)
        return -1;
    char size [24];
    snprintf (size, sizeof size, "%d", IMPORT_FILE_MAX);
    PGresult *res = NULL;
    int found = *job_id
        ? s_row (pg, "UPDATE import_jobs SET file = file || $3, updated_at = now () "
                     "WHERE id = $1::uuid AND user_id = $2::uuid AND status = 'receiving' "
                     "AND octet_length (file) + octet_length ($3) <= $4::int RETURNING id::text",
                 4, P (job_id, user_id, request->data, size), &res, err)
        : s_row (pg, "INSERT INTO import_jobs (user_id, content_type, file) VALUES ($1::uuid, $2, $3) "
                     "RETURNING id::text", 3, P (user_id, request->content_type, request->data), &res, err);
    if (found != 1)
        return found ? -1 : mg_actor_fail (err, "NOT_FOUND", "job_id",
                                           "no upload in progress with this id (or the file passed %d bytes)",
                                           IMPORT_FILE_MAX);
    snprintf (job_id, sizeof job_id, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    if (request->has_last && request->last && s_start (self, pg, job_id, user_id, err))
        return -1;
    return s_job (pg, job_id, user_id, rep, err);
}

int
sync_on_import_get (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_import_request_t *request = req;
    char user_id [37], job_id [37];
    if (mg_filters_uuid (request->user_id, user_id, "user_id", err) || mg_filters_uuid (request->id, job_id, "id", err))
        return -1;
    PGconn *pg = sync_pg (state, err);
    return pg ? s_job (pg, job_id, user_id, rep, err) : -1;
}

//  Claim the oldest job that is queued, or running with its lease run out
//  (its worker stopped), into job_id. 1 when one was claimed, 0 when none, -1.
static int
s_claim (PGconn *pg, int64_t lease_s, char job_id [37])
{
    char lease [32];
    snprintf (lease, sizeof lease, "%lld", (long long) lease_s);
    PGresult *res = PQexecParams (pg,
        "UPDATE import_jobs SET status = 'running', lease_until = now () + make_interval (secs => $1::int), "
        "updated_at = now () WHERE id = (SELECT id FROM import_jobs WHERE status IN ('queued', 'running') "
        "AND (lease_until IS NULL OR lease_until < now ()) ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
        "RETURNING id::text", 1, NULL, P (lease), NULL, NULL, 0);
    int rc = PQresultStatus (res) != PGRES_TUPLES_OK ? -1 : PQntuples (res);
    if (rc == 1)
        snprintf (job_id, 37, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    return rc;
}

//  Milliseconds the worker may wait for a notification on pg: until the
//  earliest lease of a running job runs out (its job is then claimable),
//  at most poll_ms. Listens on the channel first (a no-op when it already
//  does; a new connection needs it).
static int64_t
s_wait_ms (PGconn *pg, int64_t poll_ms)
{
    PGresult *res = PQexec (pg, "LISTEN " IMPORT_CHANNEL);
    bool listening = PQresultStatus (res) == PGRES_COMMAND_OK;
    PQclear (res);
    if (!listening)
        return IMPORT_WAIT_SLICE_MS;    //  cannot hear a job queued: look again soon
    res = PQexec (pg, "SELECT ceil (extract (epoch FROM min (lease_until) - now ()) * 1000)::bigint "
                      "FROM import_jobs WHERE status = 'running'");
    int64_t wait = poll_ms;
    if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1 && !PQgetisnull (res, 0, 0)) {
        int64_t lease = strtoll (PQgetvalue (res, 0, 0), NULL, 10) + IMPORT_LEASE_SLACK_MS;
        wait = lease < 0 ? 0 : lease < wait ? lease : wait;
    }
    PQclear (res);
    return wait;
}

//  Wait up to wait_ms for a notification on pg (a job queued), in slices
//  so that a stop is seen promptly. Notifications waiting are dropped: one
//  claim covers them all.
static void
s_wait (PGconn *pg, int64_t wait_ms)
{
    int64_t until = zclock_mono () + wait_ms;
    bool heard = false;
    while (!heard && !zsys_interrupted) {
        int64_t left = until - zclock_mono ();
        if (left <= 0)
            break;
        struct pollfd item = { .fd = pg ? PQsocket (pg) : -1, .events = POLLIN };
        int ready = item.fd >= 0 ? poll (&item, 1, (int) (left < IMPORT_WAIT_SLICE_MS ? left : IMPORT_WAIT_SLICE_MS))
                                 : (zclock_sleep ((int) (left < IMPORT_WAIT_SLICE_MS ? left : IMPORT_WAIT_SLICE_MS)), 0);
        if (ready > 0 && !PQconsumeInput (pg))
            break;                      //  the connection broke: the next turn reconnects
        PGnotify *note;
        while (pg && (note = PQnotifies (pg))) {
            heard = true;
            PQfreemem (note);
        }
    }
}

void *
sync_import_worker (void *arg)
{
    sync_shared_t *shared = arg;
    sync_thread_t self = { .shared = shared, .events = mg_actor_event_publisher () };
    if (!self.events)
        return NULL;
    int64_t swept_at = 0;
    while (!zsys_interrupted) {
        mg_error_t err = { 0 };
        PGconn *pg = sync_pg (&self, &err);
        char job_id [37];
        int claimed = pg ? s_claim (pg, shared->import_lease_s, job_id) : -1;
        if (claimed == 1) {
            mg_info ("import claimed", "job=%s", job_id);
            if (s_run (&self, job_id, NULL, &err))
                mg_warn ("import step failed", "job=%s reason=\"%s\"", job_id, err.message ? err.message : "");
        }
        else
        if (pg && claimed == 0 && zclock_mono () - swept_at >= IMPORT_SWEEP_MS) {
            swept_at = zclock_mono ();
            PQclear (PQexec (pg, "DELETE FROM import_jobs WHERE status = 'receiving' "
                                 "AND updated_at < now () - interval '" IMPORT_STALE_UPLOAD "'"));
        }
        mg_msg_clear (&mg_error_desc, &err);
        if (claimed == 0)
            s_wait (pg, s_wait_ms (pg, shared->import_poll_ms));
        else
        if (claimed < 0)
            s_wait (NULL, IMPORT_WAIT_SLICE_MS * 4);    //  the database is away: look again in a second
    }
    PQfinish (self.pg);
    zsock_destroy (&self.events);
    mg_client_destroy (&self.bus);
    return NULL;
}
