/*  mg-import: load catalog files into the pipeline, the way live provider
    data goes: every record becomes a raw.record and is queued durably with
    indexer.enqueue; the resolver and the indexer take it from there.

        mg-import [--wait] [--batch N] [--credits FILE] [--links FILE] PATH...

    PATH is one of
      - JSON lines (plain or .gz) of TMDB v3 movie/TV objects: the bundled
        catalog data/catalog.jsonl.gz, or a dump of TMDB API answers;
      - the TMDB 5000 export tmdb_5000_movies.csv (cast and crew from
        tmdb_5000_credits.csv beside it, or --credits FILE);
      - a MovieLens folder (movies.csv, ids from links.csv or links-dev.csv),
        or its movies.csv (--links FILE for the ids).
    Rows that cannot become a valid raw.record are rejected with a reason on
    standard error and counted; the rest goes on. With --wait the command
    returns once the queue is drained and reports items/s end to end.
    Progress (items, items/s, ETA) is shown on a terminal.  */
#include "mg_client.h"
#include "mg_config.h"
#include "mg_csv.h"
#include "records.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BATCH_DEFAULT      500       //  records per indexer.enqueue (one transaction)
#define BATCH_MAX          1000      //  the message's limit
#define LINE_MAX_BYTES     (4 << 20) //  one JSON line
#define BATCH_BYTES        (MG_MSG_MAX_BYTES * 3 / 4)  //  an enqueue stays under the bus limit
#define CALL_TTL_MS        30000
#define CALL_TRIES         5         //  an indexer restarting answers again within seconds
#define RETRY_PAUSE_MS     1000
#define REASONS_SHOWN      20        //  rejected rows printed; the rest are counted
#define PROGRESS_EVERY_MS  250       //  terminal refresh
#define LOG_EVERY_MS       10000     //  progress lines when not on a terminal
#define WAIT_POLL_MS       200
#define STALL_LIMIT_MS     120000    //  --wait gives up when nothing moves this long

typedef struct {
    mg_client_t *client;
    mg_raw_record_t batch [BATCH_MAX];
    size_t count;
    size_t bytes;                    //  encoded size of the batch so far
    size_t batch_size;
    size_t total;                    //  rows in the inputs (for ETA)
    size_t read, queued, rejected;
    int64_t started_ms, shown_ms;
    bool tty;
    bool failed;                     //  the bus refused: stop
    const char *path;                //  input being read, for reasons
    json_t *credits;                 //  TMDB movie_id -> {cast, crew}
    json_t *links;                   //  MovieLens movieId -> [imdb, tmdb]
    int c_id, c_title, c_genres;     //  MovieLens columns
    int c_cast, c_crew;              //  TMDB credits columns (with c_id)
    char **header;                   //  TMDB CSV header (copied)
    size_t header_count;
} s_import_t;

static void
s_reject (s_import_t *self, size_t row, const char *reason)
{
    self->rejected++;
    if (self->rejected <= REASONS_SHOWN)
        fprintf (stderr, "%smg-import: %s:%zu: rejected: %s\n", self->tty ? "\r\033[K" : "",
                 self->path, row, reason);
    if (self->rejected == REASONS_SHOWN + 1)
        fprintf (stderr, "mg-import: further rejected rows are counted only\n");
}

//  Progress line: items, items/s, ETA (done of total in phase).
static void
s_progress (s_import_t *self, const char *phase, size_t done, size_t total, bool final)
{
    int64_t now = zclock_mono ();
    if (!final && now - self->shown_ms < (self->tty ? PROGRESS_EVERY_MS : LOG_EVERY_MS))
        return;
    self->shown_ms = now;
    double secs = (double) (now - self->started_ms) / 1000.0;
    double rate = secs > 0 ? (double) done / secs : 0;
    char eta [32] = "-";
    if (rate > 0 && total > done)
        snprintf (eta, sizeof eta, "%.0fs", (double) (total - done) / rate);
    fprintf (stderr, "%smg-import: %s %zu/%zu items  %.0f items/s  ETA %s%s",
             self->tty ? "\r\033[K" : "", phase, done, total, rate, eta,
             self->tty && !final ? "" : "\n");
}

//  Queue the batch. Retries while the indexer is away; fatal after that.
static int
s_flush (s_import_t *self)
{
    if (self->count == 0 || self->failed)
        return self->failed ? -1 : 0;
    mg_enqueue_request_t request = { .records = self->batch, .records_count = self->count };
    mg_enqueue_reply_t reply;
    mg_error_t err = { 0 };
    int rc = -1;
    for (int attempt = 0; attempt < CALL_TRIES && rc; attempt++) {
        if (attempt) {
            mg_msg_clear (&mg_error_desc, &err);
            zclock_sleep (RETRY_PAUSE_MS);
        }
        rc = mg_client_call (self->client, "indexer.enqueue", &mg_enqueue_request_desc, &request,
                             &mg_enqueue_reply_desc, &reply, CALL_TTL_MS, &err);
        //  Only a missing or slow service is worth another try; a refusal is final.
        if (rc && strcmp (err.code, "SERVICE_UNAVAILABLE") && strcmp (err.code, "DEADLINE_EXCEEDED")
               && strcmp (err.code, "WORKER_LOST"))
            break;
    }
    if (rc) {
        fprintf (stderr, "\nmg-import: indexer.enqueue failed: %s: %s\n", err.code, err.message);
        mg_msg_clear (&mg_error_desc, &err);
        self->failed = true;
    }
    else {
        self->queued += reply.queued;
        mg_msg_clear (&mg_enqueue_reply_desc, &reply);
    }
    for (size_t i = 0; i < self->count; i++)
        mg_msg_clear (&mg_raw_record_desc, &self->batch [i]);
    self->count = 0;
    self->bytes = 0;
    return rc;
}

//  Take one raw.record JSON object (owned) read at row. Batches close at
//  batch_size records or BATCH_BYTES encoded, whichever comes first.
static int
s_add (s_import_t *self, json_t *record, size_t row)
{
    char reason [256];
    mg_raw_record_t *slot = &self->batch [self->count];
    int rc = mg_msg_from_json (&mg_raw_record_desc, record, slot, reason, sizeof reason);
    json_decref (record);
    uint8_t *encoded = NULL;
    size_t size = 0;
    if (rc == 0 && mg_msg_encode (&mg_raw_record_desc, slot, &encoded, &size, reason, sizeof reason))
        rc = -1;
    free (encoded);
    if (rc == 0 && size > BATCH_BYTES) {
        snprintf (reason, sizeof reason, "record of %zu bytes is over the %d-byte limit", size, BATCH_BYTES);
        rc = -1;
    }
    if (rc) {
        mg_msg_clear (&mg_raw_record_desc, slot);
        s_reject (self, row, reason);
        return 0;
    }
    if (self->bytes + size > BATCH_BYTES) {
        //  The new record opens the next batch.
        mg_raw_record_t held = *slot;
        if (s_flush (self)) {
            mg_msg_clear (&mg_raw_record_desc, &held);
            return -1;
        }
        self->batch [0] = held;
        slot = &self->batch [0];
    }
    self->count++;
    self->bytes += size;
    s_progress (self, "queued", self->read, self->total, false);
    return self->count == self->batch_size ? s_flush (self) : 0;
}

//  ---- JSON lines of TMDB objects ----

//  Call fn for each non-empty line of path (plain or gzip). Lines over
//  LINE_MAX_BYTES are rejected. Returns 0 or -1 (unreadable, or fn failed).
static int
s_read_lines (s_import_t *self, const char *path, int (*fn) (s_import_t *, char *, size_t))
{
    gzFile in = gzopen (path, "rb");
    if (!in) {
        fprintf (stderr, "mg-import: %s: %s\n", path, strerror (errno ? errno : ENOENT));
        return -1;
    }
    char *line = malloc (LINE_MAX_BYTES);
    int rc = line ? 0 : -1;
    size_t row = 0;
    bool too_long = false;
    while (rc == 0 && gzgets (in, line, LINE_MAX_BYTES)) {
        size_t len = strlen (line);
        bool complete = len > 0 && line [len - 1] == '\n';
        if (too_long) {                  //  the tail of an over-long line
            too_long = !complete;
            continue;
        }
        row++;
        if (!complete && !gzeof (in)) {
            too_long = true;
            if (fn)
                s_reject (self, row, "line longer than 4 MiB");
            continue;
        }
        line [strcspn (line, "\r\n")] = '\0';
        if (*line && fn)
            rc = fn (self, line, row);
        else
        if (*line)
            self->total++;
    }
    int zerr = Z_OK;
    const char *message = gzerror (in, &zerr);
    if (rc == 0 && zerr != Z_OK && zerr != Z_STREAM_END) {
        fprintf (stderr, "mg-import: %s: %s\n", path, message);
        rc = -1;
    }
    free (line);
    gzclose (in);
    return rc;
}

static int
s_on_tmdb_line (s_import_t *self, char *line, size_t row)
{
    self->read++;
    json_error_t jerr;
    json_t *tmdb = json_loads (line, 0, &jerr);
    char reason [256];
    json_t *record = NULL;
    if (!tmdb)
        snprintf (reason, sizeof reason, "not JSON: %s (column %d)", jerr.text, jerr.column);
    else
        record = records_from_tmdb (tmdb, reason, sizeof reason);
    json_decref (tmdb);
    if (!record) {
        s_reject (self, row, reason);
        return 0;
    }
    return s_add (self, record, row);
}

//  ---- TMDB 5000 export ----

static int
s_on_credits_row (char **fields, size_t count, size_t row, void *arg)
{
    s_import_t *self = arg;
    if (row == 1) {
        self->c_id = mg_csv_column (fields, count, (const char *[]) { "movie_id", "id", NULL });
        self->c_cast = mg_csv_column (fields, count, (const char *[]) { "cast", NULL });
        self->c_crew = mg_csv_column (fields, count, (const char *[]) { "crew", NULL });
        if (self->c_id < 0 || self->c_cast < 0 || self->c_crew < 0) {
            fprintf (stderr, "mg-import: credits: the header needs movie_id, cast and crew\n");
            return -1;
        }
        return 0;
    }
    if ((size_t) self->c_id >= count || (size_t) self->c_cast >= count || (size_t) self->c_crew >= count)
        return 0;                        //  the film imports without credits
    char reason [128];
    json_t *credits = records_tmdb_credits (fields [self->c_cast], fields [self->c_crew], reason, sizeof reason);
    if (credits)
        json_object_set_new (self->credits, fields [self->c_id], credits);
    else
        fprintf (stderr, "mg-import: credits row %zu: %s (the film imports without credits)\n", row, reason);
    return 0;
}

static int
s_on_tmdb_row (char **fields, size_t count, size_t row, void *arg)
{
    s_import_t *self = arg;
    if (row == 1) {
        self->header = calloc (count, sizeof (char *));
        for (size_t i = 0; self->header && i < count; i++)
            self->header [i] = strdup (fields [i]);
        self->header_count = count;
        return self->header ? 0 : -1;
    }
    self->read++;
    if (count != self->header_count) {
        char reason [64];
        snprintf (reason, sizeof reason, "%zu columns, the header has %zu", count, self->header_count);
        s_reject (self, row, reason);
        return 0;
    }
    int c_id = mg_csv_column (self->header, count, (const char *[]) { "id", NULL });
    const json_t *credits = c_id >= 0 ? json_object_get (self->credits, fields [c_id]) : NULL;
    char reason [256];
    json_t *record = records_tmdb_csv_row (self->header, fields, count, credits, reason, sizeof reason);
    if (!record) {
        s_reject (self, row, reason);
        return 0;
    }
    return s_add (self, record, row) ? -1 : 0;
}

//  ---- MovieLens ----

static int
s_on_links_row (char **fields, size_t count, size_t row, void *arg)
{
    s_import_t *self = arg;
    if (row == 1) {
        bool ok = count >= 3 && !strcmp (fields [0], "movieId") && !strcmp (fields [1], "imdbId")
               && !strcmp (fields [2], "tmdbId");
        if (!ok)
            fprintf (stderr, "mg-import: links: the header must be movieId,imdbId,tmdbId\n");
        return ok ? 0 : -1;
    }
    if (count >= 3)
        json_object_set_new (self->links, fields [0],
                             json_pack ("[s, I]", fields [1], (json_int_t) strtoll (fields [2], NULL, 10)));
    return 0;
}

static int
s_on_movielens_row (char **fields, size_t count, size_t row, void *arg)
{
    s_import_t *self = arg;
    if (row == 1) {
        self->c_id = mg_csv_column (fields, count, (const char *[]) { "movieId", NULL });
        self->c_title = mg_csv_column (fields, count, (const char *[]) { "title", NULL });
        self->c_genres = mg_csv_column (fields, count, (const char *[]) { "genres", NULL });
        if (self->c_id < 0 || self->c_title < 0) {
            fprintf (stderr, "mg-import: %s: the header needs movieId and title\n", self->path);
            return -1;
        }
        return 0;
    }
    self->read++;
    if ((size_t) self->c_id >= count || (size_t) self->c_title >= count) {
        s_reject (self, row, "too few columns");
        return 0;
    }
    const json_t *link = json_object_get (self->links, fields [self->c_id]);
    const char *genres = self->c_genres >= 0 && (size_t) self->c_genres < count ? fields [self->c_genres] : "";
    char reason [256];
    json_t *record = records_from_movielens (fields [self->c_id], fields [self->c_title], genres,
                                             json_string_value (json_array_get (link, 0)),
                                             json_integer_value (json_array_get (link, 1)),
                                             reason, sizeof reason);
    if (!record) {
        s_reject (self, row, reason);
        return 0;
    }
    return s_add (self, record, row) ? -1 : 0;
}

static int
s_count_row (char **fields, size_t count, size_t row, void *arg)
{
    (void) fields, (void) count;
    if (row > 1)
        (*(size_t *) arg)++;
    return 0;
}

//  ---- inputs ----

typedef enum { INPUT_JSONL, INPUT_TMDB_CSV, INPUT_MOVIELENS } s_kind_t;

typedef struct {
    char path [4096];                //  the file with the records
    char side [4096];                //  credits or links file ("" = none)
    s_kind_t kind;
} s_input_t;

static bool
s_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

static bool
s_ends_with (const char *s, const char *tail)
{
    size_t n = strlen (s), m = strlen (tail);
    return n >= m && strcmp (s + n - m, tail) == 0;
}

typedef struct {
    bool tmdb, movielens;
} s_header_t;

static int
s_on_header (char **fields, size_t count, size_t row, void *arg)
{
    (void) row;
    s_header_t *header = arg;
    bool title = mg_csv_column (fields, count, (const char *[]) { "title", NULL }) >= 0;
    header->tmdb = title && mg_csv_column (fields, count, (const char *[]) { "id", NULL }) >= 0
                && mg_csv_column (fields, count, (const char *[]) { "vote_average", NULL }) >= 0;
    header->movielens = title && mg_csv_column (fields, count, (const char *[]) { "movieId", NULL }) >= 0;
    return 1;                            //  the header is all it takes
}

//  What path is, and the file beside it that completes it.
static int
s_classify (const char *arg, const char *credits, const char *links, s_input_t *input)
{
    struct stat st;
    if (stat (arg, &st)) {
        fprintf (stderr, "mg-import: %s: %s\n", arg, strerror (errno));
        return -1;
    }
    input->side [0] = '\0';
    if (S_ISDIR (st.st_mode)) {
        snprintf (input->path, sizeof input->path, "%s/movies.csv", arg);
        if (!s_exists (input->path)) {
            fprintf (stderr, "mg-import: %s: a folder must hold a MovieLens movies.csv\n", arg);
            return -1;
        }
        input->kind = INPUT_MOVIELENS;
        const char *names [] = { "links.csv", "links-dev.csv" };
        for (size_t i = 0; i < 2 && !input->side [0]; i++) {
            int n = snprintf (input->side, sizeof input->side, "%s/%s", arg, names [i]);
            if (n < 0 || (size_t) n >= sizeof input->side || !s_exists (input->side))
                input->side [0] = '\0';
        }
    }
    else {
        snprintf (input->path, sizeof input->path, "%s", arg);
        input->kind = INPUT_JSONL;
        if (s_ends_with (arg, ".csv") || s_ends_with (arg, ".csv.gz")) {
            //  The header tells the two CSV kinds apart.
            s_header_t header = { 0 };
            char err [256];
            if (mg_csv_read (arg, s_on_header, &header, err, sizeof err) < 0) {
                fprintf (stderr, "mg-import: %s\n", err);
                return -1;
            }
            if (!header.tmdb && !header.movielens) {
                fprintf (stderr, "mg-import: %s: neither a TMDB export (id, title, vote_average) "
                                 "nor a MovieLens movies.csv (movieId, title)\n", arg);
                return -1;
            }
            input->kind = header.tmdb ? INPUT_TMDB_CSV : INPUT_MOVIELENS;
        }
        const char *at = strstr (arg, "movies");
        if (input->kind == INPUT_TMDB_CSV && at) {
            //  tmdb_5000_movies.csv -> tmdb_5000_credits.csv
            snprintf (input->side, sizeof input->side, "%.*scredits%s", (int) (at - arg), arg, at + 6);
            if (!s_exists (input->side))
                input->side [0] = '\0';
        }
    }
    const char *side = input->kind == INPUT_TMDB_CSV ? credits : input->kind == INPUT_MOVIELENS ? links : NULL;
    if (side)
        snprintf (input->side, sizeof input->side, "%s", side);
    return 0;
}

//  Rows in input (for the ETA).
static size_t
s_count (s_import_t *self, const s_input_t *input)
{
    size_t rows = 0;
    char err [256];
    if (input->kind == INPUT_JSONL) {
        size_t before = self->total;
        s_read_lines (self, input->path, NULL);
        rows = self->total - before;
        self->total = before;
    }
    else
    if (mg_csv_read (input->path, s_count_row, &rows, err, sizeof err) < 0)
        rows = 0;
    return rows;
}

static int
s_import (s_import_t *self, const s_input_t *input)
{
    char err [512];
    self->path = input->path;
    if (input->kind == INPUT_JSONL)
        return s_read_lines (self, input->path, s_on_tmdb_line);

    mg_csv_row_fn *side_fn = input->kind == INPUT_TMDB_CSV ? s_on_credits_row : s_on_links_row;
    if (input->side [0]) {
        fprintf (stderr, "mg-import: reading %s\n", input->side);
        if (mg_csv_read (input->side, side_fn, self, err, sizeof err)) {
            fprintf (stderr, "mg-import: %s\n", err [0] ? err : "bad side file");
            return -1;
        }
    }
    mg_csv_row_fn *fn = input->kind == INPUT_TMDB_CSV ? s_on_tmdb_row : s_on_movielens_row;
    int rc = mg_csv_read (input->path, fn, self, err, sizeof err);
    if (rc < 0)
        fprintf (stderr, "mg-import: %s\n", err);
    for (size_t i = 0; i < self->header_count; i++)
        free (self->header [i]);
    free (self->header);
    self->header = NULL;
    self->header_count = 0;
    return rc || self->failed ? -1 : 0;
}

//  indexer.stats now. 0 or -1.
static int
s_stats (s_import_t *self, mg_indexer_stats_t *stats)
{
    mg_error_t err = { 0 };
    if (mg_client_call (self->client, "indexer.stats", NULL, NULL, &mg_indexer_stats_desc, stats,
                        CALL_TTL_MS, &err) == 0)
        return 0;
    fprintf (stderr, "\nmg-import: indexer.stats failed: %s: %s\n", err.code, err.message);
    mg_msg_clear (&mg_error_desc, &err);
    return -1;
}

//  Wait until the queue is drained; report what the pipeline did.
static int
s_wait (s_import_t *self, const mg_indexer_stats_t *before)
{
    mg_indexer_stats_t now;
    uint64_t last_finished = 0;
    int64_t moved_ms = zclock_mono ();
    while (true) {
        if (s_stats (self, &now))
            return -1;
        uint64_t finished = (now.done + now.failed) - (before->done + before->failed);
        bool drained = now.queued == 0 && now.running == 0;
        s_progress (self, "processed", (size_t) finished, self->queued, drained);
        if (drained)
            break;
        if (finished != last_finished) {
            last_finished = finished;
            moved_ms = zclock_mono ();
        }
        else
        if (zclock_mono () - moved_ms > STALL_LIMIT_MS) {
            fprintf (stderr, "\nmg-import: the queue has not moved for %d s (is the resolver running?)\n",
                     STALL_LIMIT_MS / 1000);
            return -1;
        }
        zclock_sleep (WAIT_POLL_MS);
    }
    double secs = (double) (zclock_mono () - self->started_ms) / 1000.0;
    fprintf (stderr, "mg-import: pipeline: %llu jobs failed, entities %llu -> %llu, "
             "content events %llu, availability events %llu\n",
             (unsigned long long) (now.failed - before->failed),
             (unsigned long long) before->entities, (unsigned long long) now.entities,
             (unsigned long long) (now.content_seq - before->content_seq),
             (unsigned long long) (now.availability_seq - before->availability_seq));
    printf ("%zu records end to end in %.2f s: %.0f items/s\n", self->queued, secs,
            secs > 0 ? (double) self->queued / secs : 0.0);
    return 0;
}

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: mg-import [--wait] [--batch N] [--credits FILE] [--links FILE] PATH...\n"
                  "  PATH: JSON lines of TMDB objects (.jsonl[.gz]), tmdb_5000_movies.csv,\n"
                  "        or a MovieLens folder / movies.csv. MG_BROKER names the broker.\n");
}

int
main (int argc, char **argv)
{
    bool wait = false;
    const char *credits = NULL, *links = NULL;
    long batch = BATCH_DEFAULT;
    int first = 1;
    for (; first < argc && argv [first][0] == '-'; first++) {
        const char *opt = argv [first];
        bool has_value = first + 1 < argc;
        if (!strcmp (opt, "--wait"))
            wait = true;
        else
        if (!strcmp (opt, "--batch") && has_value) {
            char *end;
            batch = strtol (argv [++first], &end, 10);
            if (*end || batch < 1 || batch > BATCH_MAX) {
                fprintf (stderr, "mg-import: --batch takes 1..%d\n", BATCH_MAX);
                return 2;
            }
        }
        else
        if (!strcmp (opt, "--credits") && has_value)
            credits = argv [++first];
        else
        if (!strcmp (opt, "--links") && has_value)
            links = argv [++first];
        else {
            s_usage (strcmp (opt, "--help") ? stderr : stdout);
            return strcmp (opt, "--help") ? 2 : 0;
        }
    }
    if (first == argc) {
        s_usage (stderr);
        return 2;
    }
    int ninputs = argc - first;
    s_input_t *inputs = calloc ((size_t) ninputs, sizeof *inputs);
    if (!inputs)
        return 1;
    for (int i = 0; i < ninputs; i++)
        if (s_classify (argv [first + i], credits, links, &inputs [i])) {
            free (inputs);
            return 1;
        }
    zsys_init ();
    zsys_handler_set (NULL);             //  Ctrl-C stops the command; queued work stays queued
    s_import_t *self = calloc (1, sizeof *self);
    if (!self) {
        free (inputs);
        return 1;
    }
    self->batch_size = (size_t) batch;
    self->tty = isatty (STDERR_FILENO);
    self->credits = json_object ();
    self->links = json_object ();
    self->client = mg_client_new (mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555"));
    int rc = self->client ? 0 : 1;
    if (rc)
        fprintf (stderr, "mg-import: cannot reach the broker\n");
    mg_indexer_stats_t before = { 0 };
    if (rc == 0 && s_stats (self, &before))
        rc = 1;
    for (int i = 0; rc == 0 && i < ninputs; i++)
        self->total += s_count (self, &inputs [i]);
    self->started_ms = zclock_mono ();
    for (int i = 0; rc == 0 && i < ninputs; i++) {
        if (s_import (self, &inputs [i]) || s_flush (self))
            rc = 1;
        json_object_clear (self->credits);
        json_object_clear (self->links);
    }
    if (rc == 0) {
        s_progress (self, "queued", self->read, self->total, true);
        fprintf (stderr, "mg-import: read %zu, queued %zu, rejected %zu\n",
                 self->read, self->queued, self->rejected);
    }
    if (rc == 0 && wait && s_wait (self, &before))
        rc = 1;
    for (size_t i = 0; i < self->count; i++)
        mg_msg_clear (&mg_raw_record_desc, &self->batch [i]);
    json_decref (self->credits);
    json_decref (self->links);
    mg_client_destroy (&self->client);
    free (self);
    free (inputs);
    return rc;
}
