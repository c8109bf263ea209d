/*  mg-search-bench: a whole search replica's index at a catalog's scale,
    built straight from a generated file (bench/search_gen.py's JSON lines),
    not through PostgreSQL.

        mg-search-bench CATALOG.jsonl [QUERIES.txt [SAVE_PATH [MODEL]]]

    Every title goes into one index the way a snapshot load puts it (most
    popular first, in one transaction; the result item built here in the
    shape PostgreSQL builds it, mg_catalog_sql.h), with the LSA MODEL's
    vectors when given (embedded here: the embedder's stored vectors are
    the same function of the same text). Prints the build time, where the
    replica's memory goes (SQLite's heap by table, the doc table's structs
    and strings, the vectors, the process's RSS), then each query of
    QUERIES (one per line) in keyword and, with a model, semantic and
    hybrid mode: the
    p50 and p99 of the index's query time, and a digest of every answer's
    ids. With SAVE_PATH the index is saved there as a replica saves it
    (MG_SEARCH_INDEX_FILE: the vectors, PATH.db, PATH.docs); the next run
    with the same SAVE_PATH, catalog file and model reads it back as a
    restarted replica does and prints the time until it serves.
    MG_BENCH_MODES (e.g. "hybrid") runs only the modes it names: a
    profiler's run of one mode.  */
#include "index_impl.h"
#include "bench_util.h"
#include "record.h"

#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES  (1024 * 1024)   //  one title's JSON line, well above a generated one
#define FIELD_BYTES     (64 * 1024)     //  one joined list (keywords, cast, offers)
#define OVERVIEW_ITEM   160             //  SQL_ITEM_OVERVIEW_MAX: characters of the item's overview
#define QUERIES_MAX     100000

//  A title's place in the file and its popularity (the load order).
typedef struct {
    long offset;
    double popularity;
} s_title_t;

static int
s_by_popularity (const void *a, const void *b)
{
    double pa = ((const s_title_t *) a)->popularity, pb = ((const s_title_t *) b)->popularity;
    return pa < pb ? 1 : pa > pb ? -1 : 0;
}

//  The result item of rec (the shape of mg_catalog_sql.h's item: offers
//  grouped by region, platform and deep link). Caller frees; NULL on error.
static char *
s_item (json_t *rec, const char *id, int year, const char *slugs)
{
    const char *overview = json_string_value (json_object_get (rec, "overview"));
    char cut [OVERVIEW_ITEM * 4 + 4];
    snprintf (cut, sizeof cut, "%s", overview ? overview : "");
    if (overview && strlen (overview) > OVERVIEW_ITEM) {
        size_t at = OVERVIEW_ITEM;
        while (at > 0 && cut [at] != ' ')
            at--;
        snprintf (cut + at, sizeof cut - at, "\xe2\x80\xa6");
    }
    json_t *genres = json_array (), *groups = json_array ();
    for (const char *p = slugs; *p; ) {
        const char *end = strchr (p, ',');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        json_array_append_new (genres, json_stringn (p, len));
        p = end ? end + 1 : p + len;
    }
    size_t i;
    json_t *offer;
    json_array_foreach (json_object_get (rec, "availability"), i, offer) {
        json_t *group = json_pack ("{s:O?,s:O?,s:O?,s:[{s:O?,s:O?,s:O?,s:O?,s:n}]}",
                                   "platform", json_object_get (offer, "platform"),
                                   "region", json_object_get (offer, "region"),
                                   "deep_link", json_object_get (offer, "deep_link"),
                                   "offers", "type", json_object_get (offer, "type"),
                                   "quality", json_object_get (offer, "quality"),
                                   "price", json_object_get (offer, "price"),
                                   "currency", json_object_get (offer, "currency"), "expires_at");
        if (group)
            json_array_append_new (groups, group);
    }
    json_t *item = json_pack ("{s:s,s:s,s:O?,s:O?,s:i,s:s,s:o,s:n,s:{s:O?},s:o}",
                              "id", id, "type", "movie", "title", json_object_get (rec, "title"),
                              "original_title", json_object_get (rec, "original_title"), "year", year,
                              "overview", cut, "genres", genres, "poster",
                              "external_ids", "tmdb", json_object_get (rec, "id"), "availability", groups);
    char *text = item ? json_dumps (item, JSON_COMPACT) : NULL;
    json_decref (item);
    return text;
}

//  Put the title of line into index. 0 or -1.
static int
s_put (search_index_t *index, const char *line, long long seq)
{
    json_error_t jerr;
    json_t *rec = json_loads (line, 0, &jerr);
    if (!rec) {
        fprintf (stderr, "mg-search-bench: not JSON: %s\n", jerr.text);
        return -1;
    }
    static char keywords [FIELD_BYTES], cast [FIELD_BYTES], companies [FIELD_BYTES], offers [FIELD_BYTES],
                genres [FIELD_BYTES];
    char id [64];
    snprintf (id, sizeof id, "00000000-0000-4000-8000-%012lld", seq % 1000000000000LL);
    const char *release = json_string_value (json_object_get (rec, "release_date"));
    int year = release ? atoi (release) : 0;
    size_t used = 0, i;
    json_t *value;
    search_record_genres (rec, genres, sizeof genres);
    for (const char *slug = genres; *slug; ) {
        size_t len = strcspn (slug, ",");
        char one [64];
        snprintf (one, sizeof one, "%.*s", (int) (len < sizeof one ? len : sizeof one - 1), slug);
        search_index_add_genre (index, one);
        slug += len + (slug [len] == ',');
    }
    offers [0] = '\0';
    json_array_foreach (json_object_get (rec, "availability"), i, value) {
        const char *platform = json_string_value (json_object_get (value, "platform"));
        const char *region = json_string_value (json_object_get (value, "region"));
        int n = platform && region ? snprintf (offers + used, sizeof offers - used, "%s%s %s 0",
                                               used ? "\n" : "", platform, region) : 0;
        if (n > 0 && (size_t) n < sizeof offers - used)
            used += (size_t) n;
    }
    json_t *rating = json_object_get (rec, "vote_average");
    char *item = s_item (rec, id, year, genres);
    mg_doc_t doc = {
        .id = id, .type = "movie", .title = json_string_value (json_object_get (rec, "title")),
        .original_title = json_string_value (json_object_get (rec, "original_title")),
        .tagline = json_string_value (json_object_get (rec, "tagline")),
        .keywords = search_record_join (json_object_get (rec, "keywords"), NULL, keywords, sizeof keywords),
        .overview = json_string_value (json_object_get (rec, "overview")),
        .cast = search_record_join (json_object_get (json_object_get (rec, "credits"), "cast"), "name", cast, sizeof cast),
        .companies = search_record_join (json_object_get (rec, "production_companies"), "name", companies, sizeof companies),
        .year = year, .popularity = json_number_value (json_object_get (rec, "popularity")),
        .has_rating = json_is_number (rating), .rating = json_number_value (rating),
        .release_date = release, .genres = genres, .offers = offers, .hit_json = item
    };
    int rc = doc.title && item ? search_index_put (index, &doc) : -1;
    free (item);
    json_decref (rec);
    return rc;
}

//  Bytes of a '\0'-terminated heap string (0 for NULL).
static size_t
s_bytes (const char *text)
{
    return text ? strlen (text) + 1 : 0;
}

//  Print where the index's memory goes.
static void
s_memory (search_index_t *index)
{
    sqlite3_int64 heap = 0, heap_max = 0;
    sqlite3_status64 (SQLITE_STATUS_MEMORY_USED, &heap, &heap_max, 0);
    int cache = 0, cache_max = 0, schema = 0, schema_max = 0, stmts = 0, stmts_max = 0;
    sqlite3_db_status (index->db, SQLITE_DBSTATUS_CACHE_USED, &cache, &cache_max, 0);
    sqlite3_db_status (index->db, SQLITE_DBSTATUS_SCHEMA_USED, &schema, &schema_max, 0);
    sqlite3_db_status (index->db, SQLITE_DBSTATUS_STMT_USED, &stmts, &stmts_max, 0);
    printf ("sqlite heap %.1f MiB (peak %.1f MiB): page cache %.1f MiB, schema %.2f MiB, statements %.2f MiB\n",
            heap / 1048576.0, heap_max / 1048576.0, cache / 1048576.0, schema / 1048576.0, stmts / 1048576.0);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (index->db, "SELECT * FROM pragma_page_count, pragma_freelist_count, pragma_page_size",
                            -1, &stmt, NULL) == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
        printf ("  database %.1f MiB in pages, %.1f MiB of them free (the freelist)\n",
                (double) sqlite3_column_int64 (stmt, 0) * sqlite3_column_int64 (stmt, 2) / 1048576.0,
                (double) sqlite3_column_int64 (stmt, 1) * sqlite3_column_int64 (stmt, 2) / 1048576.0);
    sqlite3_finalize (stmt);
    stmt = NULL;
    if (sqlite3_prepare_v2 (index->db, "SELECT name, sum (pgsize), sum (payload), count (*) FROM dbstat "
                            "GROUP BY name ORDER BY 2 DESC", -1, &stmt, NULL) == SQLITE_OK)
        while (sqlite3_step (stmt) == SQLITE_ROW)
            printf ("  table %-16s %8.1f MiB in pages (%.1f MiB payload, %d pages)\n",
                    (const char *) sqlite3_column_text (stmt, 0), sqlite3_column_int64 (stmt, 1) / 1048576.0,
                    sqlite3_column_int64 (stmt, 2) / 1048576.0, sqlite3_column_int (stmt, 3));
    sqlite3_finalize (stmt);
    if (sqlite3_prepare_v2 (index->db, "SELECT sum (length (item)), sum (length (title) + length (cast_names) "
                            "+ length (id) + length (type)), sum (length (item_text (item))) FROM docs", -1, &stmt, NULL) == SQLITE_OK
    &&  sqlite3_step (stmt) == SQLITE_ROW)
        printf ("  docs: result items %.1f MiB stored (%.1f MiB of JSON); id, type, title, cast %.1f MiB\n",
                sqlite3_column_int64 (stmt, 0) / 1048576.0, sqlite3_column_int64 (stmt, 2) / 1048576.0,
                sqlite3_column_int64 (stmt, 1) / 1048576.0);
    sqlite3_finalize (stmt);
    size_t structs = index->docs_room * sizeof *index->docs, strings = 0, offers = 0;
    for (size_t i = 0; i < index->docs_room; i++) {
        const index_doc_t *d = &index->docs [i];
        strings += s_bytes (d->titles) + s_bytes (d->tags) + s_bytes (d->companies) + s_bytes (d->tagline)
                 + s_bytes (d->cast) + s_bytes (d->crew);
        offers += d->offers ? (d->offers_count ? d->offers_count : 1) * sizeof *d->offers : 0;
    }
    printf ("doc table %.1f MiB: structs %.1f MiB, strings %.1f MiB (+ malloc overhead), offers %.1f MiB\n",
            (structs + strings + offers) / 1048576.0, structs / 1048576.0, strings / 1048576.0, offers / 1048576.0);
    if (index->hnsw)
        printf ("vectors: %zu held\n", search_hnsw_count (index->hnsw));
    //  glibc's view: what the heap holds in use and free (free bytes still
    //  count in RSS until they are trimmed), and what is mapped apart.
    struct mallinfo2 mi = mallinfo2 ();
    printf ("malloc: heap %.1f MiB (%.1f MiB in use, %.1f MiB free), %.1f MiB mapped apart\n",
            mi.arena / 1048576.0, mi.uordblks / 1048576.0, mi.fordblks / 1048576.0, mi.hblkhd / 1048576.0);
}

//  Sorted copy's percentile p (0-1) of n values.
static double
s_percentile (double *values, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t at = (size_t) ceil (p * (double) n);
    return values [at ? at - 1 : 0];
}

//  Mean of n values (0 when none).
static double
s_mean (const double *values, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += values [i];
    return n ? sum / (double) n : 0;
}

static int
s_by_value (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  One query's time and work, for the list of the slowest.
typedef struct {
    double ms;
    size_t scored;             //  BM25 evaluations (search_index_scored)
    size_t total;
    const char *q;
} s_took_t;

//  qsort order of s_took_t: slowest first.
static int
s_by_ms_desc (const void *a, const void *b)
{
    double x = ((const s_took_t *) a)->ms, y = ((const s_took_t *) b)->ms;
    return (x < y) - (x > y);
}

//  Run each query in mode (the whole mix MG_BENCH_ROUNDS times, 1 by
//  default: more gives a profiler a steady loop); print p50 and p99 of the
//  first round, the mean wall and CPU time a query (the process's CPU,
//  the semantic side's thread included: a figure a loaded machine
//  disturbs less than wall time; queries run one at a time), the mean of
//  BM25 evaluations, each phase's time (index_phase_add) and the
//  MG_BENCH_SLOWEST (10) slowest queries with their work. 0 or -1.
static int
s_queries (search_index_t *index, char **queries, size_t count, search_mode_t mode, const char *name)
{
    double *took = calloc (count ? count : 1, sizeof *took);
    double *cpu = calloc (count ? count : 1, sizeof *cpu);     //  the process's CPU time of each query
    s_took_t *each = calloc (count ? count : 1, sizeof *each);
    if (!took || !each || !cpu) {
        free (cpu);
        free (took);
        free (each);
        return -1;
    }
    const char *env = getenv ("MG_BENCH_ROUNDS");
    int rounds = env && atoi (env) > 0 ? atoi (env) : 1;
    env = getenv ("MG_BENCH_SLOWEST");
    size_t slowest = env ? (size_t) atoi (env) : 10;
    size_t answered = 0, scored = 0;
    uint64_t digest = 14695981039346656037ULL;     //  FNV-1a of every hit's id, in order
    uint64_t phase_ns [PHASE_COUNT], phase_runs [PHASE_COUNT], phase_rows [PHASE_COUNT];
    for (int p = 0; p < PHASE_COUNT; p++) {
        phase_ns [p] = index->phase_ns [p];
        phase_runs [p] = index->phase_runs [p];
        phase_rows [p] = index->phase_rows [p];
    }
    double all_start = bench_now_ms ();
    struct timespec cpu_start, cpu_end;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &cpu_start);
    for (int round = 0; round < rounds; round++)
        for (size_t i = 0; i < count; i++) {
            search_query_t query = { .q = queries [i], .per_page = 10, .mode = mode, .semantic_ratio = 0.5 };
            mg_search_reply_t rep;
            memset (&rep, 0, sizeof rep);
            char err [256] = "";
            struct timespec cpu0, cpu1;
            clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &cpu0);
            double start = bench_now_ms ();
            int rc = search_index_query (index, &query, &rep, err, sizeof err);
            double ms = bench_now_ms () - start;
            clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &cpu1);
            double used = (double) (cpu1.tv_sec - cpu0.tv_sec) * 1e3 + (double) (cpu1.tv_nsec - cpu0.tv_nsec) / 1e6;
            if (round == 0 || used < cpu [i])
                cpu [i] = used;            //  the least of the rounds: what the query costs, less the machine's noise
            if (round == 0 && rc == 0) {
                each [answered] = (s_took_t) { ms, search_index_scored (index), rep.total, queries [i] };
                scored += each [answered].scored;
                took [answered++] = ms;
                for (size_t h = 0; h < rep.results_count; h++)
                    for (const char *c = rep.results [h].id; *c; c++)
                        digest = (digest ^ (uint8_t) *c) * 1099511628211ULL;
            }
            if (rc)
                fprintf (stderr, "mg-search-bench: query '%s': %s\n", queries [i], err);
            mg_msg_clear (&mg_search_reply_desc, &rep);
        }
    double all_ms = bench_now_ms () - all_start;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &cpu_end);
    double cpu_ms = (double) (cpu_end.tv_sec - cpu_start.tv_sec) * 1e3 + (double) (cpu_end.tv_nsec - cpu_start.tv_nsec) / 1e6;
    qsort (took, answered, sizeof *took, s_by_value);
    qsort (cpu, count, sizeof *cpu, s_by_value);
    printf ("%s: CPU a query, both sides of a hybrid one (least of %d rounds): p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f mean_ms=%.3f\n",
            name, rounds, s_percentile (cpu, count, 0.5), s_percentile (cpu, count, 0.9), s_percentile (cpu, count, 0.99),
            s_mean (cpu, count));
    printf ("%s: queries=%zu p50_ms=%.2f p99_ms=%.2f mean_ms=%.3f cpu_ms_per_query=%.3f bm25_per_query=%.0f "
            "answers=%016llx\n", name, answered, s_percentile (took, answered, 0.5), s_percentile (took, answered, 0.99),
            all_ms / ((double) rounds * (double) (count ? count : 1)),
            cpu_ms / ((double) rounds * (double) (count ? count : 1)),
            answered ? (double) scored / (double) answered : 0, (unsigned long long) digest);
    //  Where the time went, per query of the mix (every round).
    double per = (double) rounds * (double) (count ? count : 1);
    for (int p = 0; p < PHASE_COUNT; p++)
        if (index->phase_runs [p] > phase_runs [p])
            printf ("  phase %-36s %7.3f ms/query  %5.2f runs/query  %8.1f rows/query\n", index_phase_names [p],
                    (double) (index->phase_ns [p] - phase_ns [p]) / 1e6 / per,
                    (double) (index->phase_runs [p] - phase_runs [p]) / per,
                    (double) (index->phase_rows [p] - phase_rows [p]) / per);
    qsort (each, answered, sizeof *each, s_by_ms_desc);
    for (size_t i = 0; i < slowest && i < answered; i++)
        printf ("  slow %6.2f ms  bm25 %6zu  total %6zu  %s\n", each [i].ms, each [i].scored, each [i].total,
                each [i].q);
    free (took);
    free (cpu);
    free (each);
    return answered == count ? 0 : -1;
}

//  True when the space-separated list modes names mode.
static bool
s_has_mode (const char *modes, const char *mode)
{
    size_t len = strlen (mode);
    for (const char *p = strstr (modes, mode); p; p = strstr (p + 1, mode))
        if ((p == modes || p [-1] == ' ') && (p [len] == '\0' || p [len] == ' '))
            return true;
    return false;
}

//  Build the index of the titles in file (load order: most popular first,
//  load.c's ORDER BY); the titles' count into *count. NULL on error.
static search_index_t *
s_build (FILE *file, const mg_lsa_t *lsa, char *line, size_t *count, char *err, size_t errlen)
{
    s_title_t *titles = NULL;
    size_t room = 0;
    int rc = 0;
    *count = 0;
    for (long at = 0; rc == 0 && fgets (line, LINE_MAX_BYTES, file); at = ftell (file)) {
        const char *pop = strstr (line, "\"popularity\": ");
        if (*count == room) {
            room = room ? room * 2 : 4096;
            s_title_t *grown = realloc (titles, room * sizeof *titles);
            rc = grown ? 0 : -1;
            titles = grown ? grown : titles;
        }
        if (rc == 0)
            titles [(*count)++] = (s_title_t) { at, pop ? strtod (pop + 14, NULL) : 0 };
    }
    qsort (titles, *count, sizeof *titles, s_by_popularity);
    search_index_t *index = rc == 0 ? search_index_new (lsa, err, errlen) : NULL;
    rc = index && search_index_begin (index) == 0 ? 0 : -1;
    double cpu = bench_cpu_s (), thread = bench_thread_cpu_s (), wall = bench_now_ms ();
    for (size_t i = 0; rc == 0 && i < *count; i++)
        rc = fseek (file, titles [i].offset, SEEK_SET) == 0 && fgets (line, LINE_MAX_BYTES, file)
           ? s_put (index, line, (long long) i + 1) : -1;
    //  The puts' thread is the build's critical path when the vectors
    //  have a thread of their own: on two idle cores the build takes
    //  about the larger of its CPU and the rest's.
    printf ("puts: %.0f ms, CPU %.1f s (all threads), %.1f s on the puts' thread\n", bench_now_ms () - wall,
            bench_cpu_s () - cpu, bench_thread_cpu_s () - thread);
    cpu = bench_cpu_s ();
    thread = bench_thread_cpu_s ();
    wall = bench_now_ms ();
    rc = rc == 0 ? search_index_commit (index) : -1;
    printf ("commit (the vectors' last adds, the vocabulary): %.0f ms, CPU %.1f s (all threads), %.1f s on the"
            " puts' thread\n", bench_now_ms () - wall, bench_cpu_s () - cpu, bench_thread_cpu_s () - thread);
    free (titles);
    if (rc)
        search_index_destroy (&index);
    return index;
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: mg-search-bench CATALOG.jsonl [QUERIES.txt [SAVE_PATH [MODEL]]]\n");
        return 2;
    }
    const char *save = argc > 3 && *argv [3] ? argv [3] : NULL;
    char err [512] = "";
    mg_lsa_t *lsa = argc > 4 ? mg_lsa_load (argv [4], err, sizeof err) : NULL;
    if (argc > 4 && !lsa) {
        fprintf (stderr, "mg-search-bench: %s\n", err);
        return 1;
    }
    //  The files' key: the model and the catalog file (a replica's: the
    //  model and the catalog generation).
    char key [400], vkey [512];
    snprintf (key, sizeof key, "model=%s bench=%s", lsa ? mg_lsa_id (lsa) : "none", argv [1]);
    snprintf (vkey, sizeof vkey, "vectors %s", key);
    long rss_start = bench_status_kib ("VmRSS");
    char *line = malloc (LINE_MAX_BYTES);
    double start = bench_now_ms (), cpu_start = bench_cpu_s ();
    search_index_t *index = save && line ? search_index_store_read (lsa, save, key, vkey, err, sizeof err) : NULL;
    bool opened = index != NULL;
    size_t count = opened ? search_index_count (index) : 0;
    FILE *file = opened || !line ? NULL : fopen (argv [1], "r");
    if (!opened && file)
        index = s_build (file, lsa, line, &count, err, sizeof err);
    if (file)
        fclose (file);
    double built = bench_now_ms ();
    //  The vocabulary is built by the first query (as a replica's is).
    mg_search_reply_t rep;
    memset (&rep, 0, sizeof rep);
    search_query_t warm = { .q = "the", .per_page = 10, .mode = SEARCH_MODE_KEYWORD };
    int rc = index ? search_index_query (index, &warm, &rep, err, sizeof err) : -1;
    mg_msg_clear (&mg_search_reply_desc, &rep);
    if (rc) {
        fprintf (stderr, "mg-search-bench: cannot build the index %s\n", err);
        free (line);
        search_index_destroy (&index);
        mg_lsa_destroy (&lsa);
        return 1;
    }
    double ready = bench_now_ms (), cpu = bench_cpu_s () - cpu_start;
    if (opened)
        printf ("titles=%zu restart: read from %s in %.0f ms, vocabulary %.0f ms: serving after %.0f ms"
                " (CPU %.1f s, all threads)\n", count, save, built - start, ready - built, ready - start, cpu);
    else
        printf ("titles=%zu build_ms=%.0f (puts and commit, not through PostgreSQL) vocabulary_ms=%.0f"
                " (CPU %.1f s, all threads)\n", count, built - start, ready - built, cpu);
    printf ("rss %.1f MiB (%.1f MiB before the index: the model and the process), peak %.1f MiB\n",
            bench_status_kib ("VmRSS") / 1024.0, rss_start / 1024.0, bench_status_kib ("VmHWM") / 1024.0);
    s_memory (index);
    if (save && !opened) {
        double s = bench_now_ms ();
        rc = (lsa && search_index_vectors_write (index, save, vkey)) || search_index_store_write (index, save, key);
        printf ("saved to %s in %.0f ms%s\n", save, bench_now_ms () - s, rc ? " (FAILED)" : "");
    }
    char **queries = calloc (QUERIES_MAX, sizeof *queries);
    size_t nq = 0;
    file = argc > 2 && queries ? fopen (argv [2], "r") : NULL;
    while (file && nq < QUERIES_MAX && fgets (line, LINE_MAX_BYTES, file)) {
        line [strcspn (line, "\n")] = '\0';
        if (*line)
            queries [nq++] = strdup (line);
    }
    if (file)
        fclose (file);
    //  MG_BENCH_MODES: the modes run (default all three; a profile of one).
    const char *modes = getenv ("MG_BENCH_MODES");
    modes = modes && *modes ? modes : "keyword semantic hybrid";
    if (rc == 0 && nq) {
        if (s_has_mode (modes, "keyword"))
            rc = s_queries (index, queries, nq, SEARCH_MODE_KEYWORD, "keyword");
        if (rc == 0 && lsa && s_has_mode (modes, "semantic"))
            rc = s_queries (index, queries, nq, SEARCH_MODE_SEMANTIC, "semantic");
        if (rc == 0 && lsa && s_has_mode (modes, "hybrid"))
            rc = s_queries (index, queries, nq, SEARCH_MODE_HYBRID, "hybrid");
    }
    for (size_t i = 0; i < nq; i++)
        free (queries [i]);
    free (queries);
    free (line);
    search_index_destroy (&index);
    mg_lsa_destroy (&lsa);
    return rc ? 1 : 0;
}
