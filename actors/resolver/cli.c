/*  mg-resolve: resolve records from a file through the running system.

        mg-resolve [FILE]        (default: standard input)

    Input: JSON lines {"key":..., "title":..., "year":..., "type":...,
    "genres":[...], "ids":{...}} ("key" is echoed, never sent), or a CSV
    with a header holding at least a title column (and optionally key/id/
    movieId, year, type, genres separated by '|'). MovieLens-style titles
    ("Matrix, The (1999)") are split into title, alternates and year.
    Output: CSV key,tmdb_id,id,tier,confidence for every matched record, in
    input order; a summary on standard error. Records go to resolver.resolve
    in batches of 1,000 (the API's limit), over MG_BROKER.  */
#include "mg_client.h"
#include "mg_config.h"
#include "title_parse.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH        1000
#define LINE_MAX_B   65536
#define CALL_TTL_MS  30000

typedef struct {
    mg_client_t *client;
    json_t *records;              //  batch being built
    char *keys [BATCH];
    size_t count;
    size_t read, matched, errors;
} s_state_t;

//  Send the batch, print matches, reset it. Returns 0 or -1 (fatal).
static int
s_flush (s_state_t *s)
{
    if (s->count == 0)
        return 0;
    json_t *doc = json_pack ("{s:O}", "records", s->records);
    char *body = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    mg_resolve_request_t request = { .body = body };
    mg_resolve_reply_t reply;
    mg_error_t err = { 0 };
    int rc = mg_client_call (s->client, "resolver.resolve", &mg_resolve_request_desc, &request,
                             &mg_resolve_reply_desc, &reply, CALL_TTL_MS, &err);
    free (body);
    if (rc) {
        fprintf (stderr, "mg-resolve: %s: %s\n", err.code, err.message);
        mg_msg_clear (&mg_error_desc, &err);
        return -1;
    }
    for (size_t i = 0; i < reply.results_count && i < s->count; i++) {
        const mg_resolve_result_t *r = &reply.results [i];
        if (!r->id)
            continue;
        s->matched++;
        char tmdb [24] = "";
        if (r->has_tmdb_id)
            snprintf (tmdb, sizeof tmdb, "%lld", (long long) r->tmdb_id);
        printf ("%s,%s,%s,%llu,%.3f\n", s->keys [i], tmdb, r->id, (unsigned long long) r->tier, r->confidence);
    }
    for (size_t i = 0; i < reply.errors_count; i++) {
        size_t at = reply.errors [i].index;
        fprintf (stderr, "mg-resolve: record %s: %s\n", at < s->count ? s->keys [at] : "?", reply.errors [i].message);
        s->errors++;
    }
    mg_msg_clear (&mg_resolve_reply_desc, &reply);
    for (size_t i = 0; i < s->count; i++)
        free (s->keys [i]);
    s->count = 0;
    json_array_clear (s->records);
    return 0;
}

//  Add one record (takes it) with its key.
static int
s_add (s_state_t *s, json_t *record, const char *key)
{
    s->read++;
    s->keys [s->count] = strdup (key);
    json_array_append_new (s->records, record);
    s->count++;
    return s->count == BATCH ? s_flush (s) : 0;
}

//  Split one CSV line (RFC 4180 quotes) into at most max fields, in place.
static int
s_csv_split (char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        char *out = p;
        fields [n++] = p;
        if (*p == '"') {
            p++;
            while (*p) {
                if (*p == '"' && p [1] == '"') {
                    *out++ = '"';
                    p += 2;
                }
                else
                if (*p == '"') {
                    p++;
                    break;
                }
                else
                    *out++ = *p++;
            }
            while (*p && *p != ',')
                p++;
        }
        else {
            while (*p && *p != ',')
                p++;
            out = p;
        }
        char end = *p;
        *out = 0;
        if (end != ',')
            break;
        p++;
    }
    return n;
}

//  Column index of any of names in the header, or -1.
static int
s_column (char **header, int n, const char *const *names)
{
    for (int i = 0; i < n; i++)
        for (const char *const *name = names; *name; name++)
            if (!strcmp (header [i], *name))
                return i;
    return -1;
}

int
main (int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && !strcmp (argv [1], "--help"))) {
        fprintf (stderr, "usage: mg-resolve [FILE]  (JSON lines or CSV; see the source header)\n");
        return argc == 2 ? 0 : 2;
    }
    FILE *in = argc == 2 ? fopen (argv [1], "r") : stdin;
    if (!in) {
        fprintf (stderr, "mg-resolve: cannot open %s\n", argv [1]);
        return 1;
    }
    zsys_init ();
    s_state_t s = { .client = mg_client_new (mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555")),
                    .records = json_array () };
    if (!s.client) {
        fprintf (stderr, "mg-resolve: cannot reach the broker\n");
        return 1;
    }
    char *line = malloc (LINE_MAX_B);
    char *header [32];
    char header_line [4096] = "";
    int columns = 0, c_key = -1, c_title = -1, c_year = -1, c_type = -1, c_genres = -1;
    bool csv = false, first = true;
    int rc = 0;
    size_t lineno = 0;
    printf ("key,tmdb_id,id,tier,confidence\n");
    while (rc == 0 && fgets (line, LINE_MAX_B, in)) {
        lineno++;
        line [strcspn (line, "\r\n")] = 0;
        if (!*line)
            continue;
        if (first) {
            first = false;
            csv = line [0] != '{';
            if (csv) {
                snprintf (header_line, sizeof header_line, "%s", line);
                columns = s_csv_split (header_line, header, 32);
                c_key = s_column (header, columns, (const char *[]) { "key", "id", "movieId", NULL });
                c_title = s_column (header, columns, (const char *[]) { "title", NULL });
                c_year = s_column (header, columns, (const char *[]) { "year", NULL });
                c_type = s_column (header, columns, (const char *[]) { "type", NULL });
                c_genres = s_column (header, columns, (const char *[]) { "genres", NULL });
                if (c_title < 0) {
                    fprintf (stderr, "mg-resolve: the CSV header has no title column\n");
                    rc = 1;
                }
                continue;
            }
        }
        char key [64];
        snprintf (key, sizeof key, "%zu", lineno);
        json_t *record = NULL;
        if (!csv) {
            json_error_t jerr;
            record = json_loads (line, 0, &jerr);
            if (!json_is_object (record)) {
                fprintf (stderr, "mg-resolve: line %zu: not a JSON object\n", lineno);
                json_decref (record);
                s.errors++;
                continue;
            }
            json_t *k = json_object_get (record, "key");
            if (json_is_string (k))
                snprintf (key, sizeof key, "%s", json_string_value (k));
            else
            if (json_is_integer (k))
                snprintf (key, sizeof key, "%lld", (long long) json_integer_value (k));
            json_object_del (record, "key");
        }
        else {
            char *fields [32];
            int n = s_csv_split (line, fields, 32);
            if (c_title >= n) {
                fprintf (stderr, "mg-resolve: line %zu: too few columns\n", lineno);
                s.errors++;
                continue;
            }
            if (c_key >= 0 && c_key < n)
                snprintf (key, sizeof key, "%s", fields [c_key]);
            title_parsed_t parsed;
            title_parse_listing (fields [c_title], &parsed);
            record = json_pack ("{s:s}", "title", parsed.title);
            if (parsed.nalternates) {
                json_t *alternates = json_array ();
                for (int a = 0; a < parsed.nalternates; a++)
                    json_array_append_new (alternates, json_string (parsed.alternates [a]));
                json_object_set_new (record, "alternate_titles", alternates);
            }
            int year = parsed.year;
            if (c_year >= 0 && c_year < n && *fields [c_year])
                year = atoi (fields [c_year]);
            if (year)
                json_object_set_new (record, "year", json_integer (year));
            if (c_type >= 0 && c_type < n && *fields [c_type])
                json_object_set_new (record, "type", json_string (fields [c_type]));
            if (c_genres >= 0 && c_genres < n && *fields [c_genres]) {
                json_t *genres = json_array ();
                char *save = NULL;
                for (char *g = strtok_r (fields [c_genres], "|", &save); g; g = strtok_r (NULL, "|", &save))
                    json_array_append_new (genres, json_string (g));
                json_object_set_new (record, "genres", genres);
            }
        }
        if (s_add (&s, record, key))
            rc = 1;
    }
    if (rc == 0 && s_flush (&s))
        rc = 1;
    fprintf (stderr, "mg-resolve: read %zu, matched %zu, errors %zu\n", s.read, s.matched, s.errors);
    for (size_t i = 0; i < s.count; i++)
        free (s.keys [i]);
    json_decref (s.records);
    free (line);
    mg_client_destroy (&s.client);
    if (in != stdin)
        fclose (in);
    return rc;
}
