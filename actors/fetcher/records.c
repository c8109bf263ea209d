/*  Provider data -> raw.record JSON. Lenient about the provider's variants
    (TMDB answers keywords as {keywords:[...]} for films and {results:[...]}
    for TV; the export flattens lists to strings), strict about what goes
    out: the result must pass mg_msg_from_json (mg_raw_record_desc), whose
    limits are those of the schema.  */
#include "records.h"
#include "title_parse.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAST_MAX     64     //  raw.record cast limit (schema.def)
#define CREW_MAX     64     //  raw.record crew limit
#define VIDEOS_MAX   32
#define KEYWORDS_MAX 128
#define LIST_MAX     32     //  genres, countries, languages, companies
#define ID_TEXT_MAX  24

//  Crew jobs a catalog shows; TMDB lists hundreds of crew per film.
static const char *const s_key_jobs [] = {
    "Director", "Screenplay", "Writer", "Producer", "Original Music Composer",
    "Director of Photography", "Novel", "Creator", "Executive Producer", NULL
};

//  Set key to a copy of a non-empty string value.
static void
s_copy_str (json_t *out, const char *key, const json_t *value)
{
    if (json_is_string (value) && json_string_length (value) > 0)
        json_object_set_new (out, key, json_stringn (json_string_value (value), json_string_length (value)));
}

//  Set key to a number value (integer or real) when present.
static void
s_copy_real (json_t *out, const char *key, const json_t *value)
{
    if (json_is_number (value))
        json_object_set_new (out, key, json_real (json_number_value (value)));
}

//  Set key to a non-negative whole number when present.
static void
s_copy_uint (json_t *out, const char *key, const json_t *value)
{
    double v = json_is_number (value) ? json_number_value (value) : -1;
    if (v >= 0 && v < 1e15)
        json_object_set_new (out, key, json_integer ((json_int_t) v));
}

//  Items of list as strings: a string item itself, or an object's field
//  named by one of keys. At most max.
static json_t *
s_strings (const json_t *list, const char *const *keys, size_t max)
{
    json_t *out = json_array ();
    size_t index;
    const json_t *item;
    json_array_foreach (list, index, item) {
        if (json_array_size (out) == max)
            break;
        const json_t *text = item;
        for (const char *const *key = keys; json_is_object (item) && *key; key++)
            if ((text = json_object_get (item, *key)) != NULL)
                break;
        if (json_is_string (text) && json_string_length (text) > 0)
            json_array_append_new (out, json_string (json_string_value (text)));
    }
    return out;
}

//  Set key to a non-empty list.
static void
s_set_list (json_t *out, const char *key, json_t *list)
{
    if (json_array_size (list) > 0)
        json_object_set_new (out, key, list);
    else
        json_decref (list);
}

//  The list inside a TMDB wrapper ({keywords:[…]}, {results:[…]}) or the list itself.
static const json_t *
s_unwrap (const json_t *value, const char *key)
{
    if (json_is_object (value)) {
        const json_t *inner = json_object_get (value, key);
        return inner ? inner : json_object_get (value, "results");
    }
    return value;
}

static bool
s_key_job (const char *job)
{
    for (const char *const *j = s_key_jobs; *j; j++)
        if (strcmp (*j, job) == 0)
            return true;
    return false;
}

//  TMDB cast/crew entries as raw.credit objects.
static json_t *
s_credits (const json_t *list, bool crew)
{
    json_t *out = json_array ();
    size_t index;
    const json_t *item;
    json_array_foreach (list, index, item) {
        if (json_array_size (out) == (crew ? CREW_MAX : CAST_MAX))
            break;
        const json_t *name = json_object_get (item, "name");
        const json_t *job = json_object_get (item, "job");
        if (!json_is_string (name) || json_string_length (name) == 0)
            continue;
        if (crew && !(json_is_string (job) && s_key_job (json_string_value (job))))
            continue;
        json_t *credit = json_object ();
        s_copy_str (credit, "name", name);
        if (crew) {
            s_copy_str (credit, "job", job);
            s_copy_str (credit, "department", json_object_get (item, "department"));
        }
        else {
            s_copy_str (credit, "character", json_object_get (item, "character"));
            s_copy_uint (credit, "order", json_object_get (item, "order"));
        }
        const json_t *id = json_object_get (item, "id");
        if (json_is_integer (id))
            json_object_set_new (credit, "person_id", json_integer (json_integer_value (id)));
        s_copy_str (credit, "profile_path", json_object_get (item, "profile_path"));
        json_array_append_new (out, credit);
    }
    return out;
}

//  TMDB production companies ({id, name, logo_path, origin_country}; the
//  export has id and name only) as raw.company objects. A country that is
//  not two letters ("" when TMDB does not know it) is left out.
static json_t *
s_companies (const json_t *list)
{
    json_t *out = json_array ();
    size_t index;
    const json_t *item;
    json_array_foreach (list, index, item) {
        if (json_array_size (out) == LIST_MAX)
            break;
        const json_t *name = json_object_get (item, "name");
        if (!json_is_string (name) || json_string_length (name) == 0)
            continue;
        json_t *company = json_object ();
        s_copy_str (company, "name", name);
        const json_t *id = json_object_get (item, "id");
        if (json_is_integer (id) && json_integer_value (id) > 0)
            json_object_set_new (company, "id", json_integer (json_integer_value (id)));
        s_copy_str (company, "logo_path", json_object_get (item, "logo_path"));
        const json_t *country = json_object_get (item, "origin_country");
        if (json_is_string (country) && json_string_length (country) == 2)
            s_copy_str (company, "origin_country", country);
        json_array_append_new (out, company);
    }
    return out;
}

//  TMDB videos as raw.video objects (site and type lower-cased).
static json_t *
s_videos (const json_t *list)
{
    json_t *out = json_array ();
    size_t index;
    const json_t *item;
    json_array_foreach (list, index, item) {
        if (json_array_size (out) == VIDEOS_MAX)
            break;
        const json_t *site = json_object_get (item, "site");
        const json_t *key = json_object_get (item, "key");
        if (!json_is_string (site) || !json_is_string (key) || json_string_length (key) == 0)
            continue;
        char lower [2][32];
        const json_t *sources [2] = { site, json_object_get (item, "type") };
        for (int i = 0; i < 2; i++) {
            const char *text = json_is_string (sources [i]) ? json_string_value (sources [i]) : "";
            size_t n = 0;
            for (; text [n] && n < sizeof lower [i] - 1; n++)
                lower [i][n] = (char) tolower ((unsigned char) text [n]);
            lower [i][n] = '\0';
        }
        json_t *video = json_pack ("{s:s, s:O}", "site", lower [0], "key", key);
        if (*lower [1])
            json_object_set_new (video, "type", json_string (lower [1]));
        s_copy_str (video, "name", json_object_get (item, "name"));
        const json_t *official = json_object_get (item, "official");
        if (json_is_boolean (official))
            json_object_set (video, "official", (json_t *) official);
        json_array_append_new (out, video);
    }
    return out;
}

json_t *
records_from_tmdb (const json_t *tmdb, char *err, size_t errlen)
{
    if (!json_is_object (tmdb)) {
        snprintf (err, errlen, "not a JSON object");
        return NULL;
    }
    const json_t *id = json_object_get (tmdb, "id");
    if (!json_is_integer (id) || json_integer_value (id) <= 0) {
        snprintf (err, errlen, "id: a positive integer is required");
        return NULL;
    }
    //  TV objects name things differently: name, first_air_date, episode_run_time.
    const json_t *type = json_object_get (tmdb, "type");
    bool tv = json_is_string (type) ? strcmp (json_string_value (type), "tv") == 0
                                    : json_object_get (tmdb, "first_air_date") != NULL;
    const json_t *title = json_object_get (tmdb, tv ? "name" : "title");
    if (!title)
        title = json_object_get (tmdb, "title");
    if (!json_is_string (title) || json_string_length (title) == 0) {
        snprintf (err, errlen, "title: a non-empty string is required");
        return NULL;
    }
    char id_text [ID_TEXT_MAX];
    snprintf (id_text, sizeof id_text, "%lld", (long long) json_integer_value (id));
    json_t *out = json_pack ("{s:s, s:s, s:s, s:O, s:I}", "source", "tmdb", "source_id", id_text,
                             "type", tv ? "tv" : "movie", "title", title,
                             "tmdb", (json_int_t) json_integer_value (id));
    s_copy_str (out, "original_title", json_object_get (tmdb, tv ? "original_name" : "original_title"));
    s_copy_str (out, "original_language", json_object_get (tmdb, "original_language"));
    s_copy_str (out, "release_date", json_object_get (tmdb, tv ? "first_air_date" : "release_date"));
    s_copy_str (out, "overview", json_object_get (tmdb, "overview"));
    s_copy_str (out, "tagline", json_object_get (tmdb, "tagline"));
    s_copy_str (out, "status", json_object_get (tmdb, "status"));
    s_copy_str (out, "homepage", json_object_get (tmdb, "homepage"));
    s_copy_str (out, "poster_path", json_object_get (tmdb, "poster_path"));
    s_copy_str (out, "backdrop_path", json_object_get (tmdb, "backdrop_path"));
    s_copy_real (out, "popularity", json_object_get (tmdb, "popularity"));
    s_copy_real (out, "vote_average", json_object_get (tmdb, "vote_average"));
    s_copy_uint (out, "vote_count", json_object_get (tmdb, "vote_count"));
    const json_t *runtime = json_object_get (tmdb, "runtime");
    if (!runtime && tv)
        runtime = json_array_get (json_object_get (tmdb, "episode_run_time"), 0);
    if (json_is_number (runtime) && json_number_value (runtime) > 0)
        s_copy_uint (out, "runtime_min", runtime);

    //  Genres: [{id, name}] from details, or bare ids (genre_ids) from lists.
    const json_t *genres = json_object_get (tmdb, "genres");
    s_set_list (out, "genres", s_strings (genres, (const char *[]) { "name", NULL }, LIST_MAX));
    json_t *genre_ids = json_array ();
    const json_t *ids = json_is_array (json_object_get (tmdb, "genre_ids"))
                      ? json_object_get (tmdb, "genre_ids") : genres;
    size_t index;
    const json_t *item;
    json_array_foreach (ids, index, item) {
        const json_t *gid = json_is_object (item) ? json_object_get (item, "id") : item;
        if (json_is_integer (gid) && json_array_size (genre_ids) < LIST_MAX) {
            char text [ID_TEXT_MAX];
            snprintf (text, sizeof text, "%lld", (long long) json_integer_value (gid));
            json_array_append_new (genre_ids, json_string (text));
        }
    }
    s_set_list (out, "genre_ids", genre_ids);
    s_set_list (out, "keywords", s_strings (s_unwrap (json_object_get (tmdb, "keywords"), "keywords"),
                                           (const char *[]) { "name", NULL }, KEYWORDS_MAX));
    s_set_list (out, "production_companies", s_companies (json_object_get (tmdb, "production_companies")));
    s_set_list (out, "production_countries", s_strings (json_object_get (tmdb, "production_countries"),
                                                       (const char *[]) { "iso_3166_1", NULL }, LIST_MAX));
    s_set_list (out, "spoken_languages", s_strings (json_object_get (tmdb, "spoken_languages"),
                                                   (const char *[]) { "iso_639_1", NULL }, LIST_MAX));

    const json_t *imdb = json_object_get (tmdb, "imdb_id");
    if (!imdb)
        imdb = json_object_get (json_object_get (tmdb, "external_ids"), "imdb_id");
    s_copy_str (out, "imdb", imdb);

    const json_t *credits = json_object_get (tmdb, "credits");
    s_set_list (out, "cast", s_credits (json_object_get (credits, "cast"), false));
    s_set_list (out, "crew", s_credits (json_object_get (credits, "crew"), true));
    s_set_list (out, "videos", s_videos (s_unwrap (json_object_get (tmdb, "videos"), "results")));
    //  Availability already in raw.availability shape (the bundled catalog).
    const json_t *availability = json_object_get (tmdb, "availability");
    if (json_array_size (availability) > 0)
        json_object_set_new (out, "availability", json_deep_copy (availability));
    return out;
}

json_t *
records_tmdb_credits (const char *cast, const char *crew, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *lists [2] = { NULL, NULL };
    const char *texts [2] = { cast, crew };
    for (int i = 0; i < 2; i++) {
        lists [i] = json_loads (*texts [i] ? texts [i] : "[]", 0, &jerr);
        if (!json_is_array (lists [i])) {
            snprintf (err, errlen, "%s: not a JSON list", i ? "crew" : "cast");
            json_decref (lists [0]);
            json_decref (lists [i]);
            return NULL;
        }
    }
    json_t *kept = json_array ();
    size_t index;
    json_t *item;
    json_array_foreach (lists [1], index, item) {
        const json_t *job = json_object_get (item, "job");
        if (json_array_size (kept) < CREW_MAX && json_is_string (job) && s_key_job (json_string_value (job)))
            json_array_append (kept, item);
    }
    while (json_array_size (lists [0]) > CAST_MAX)
        json_array_remove (lists [0], CAST_MAX);
    json_decref (lists [1]);
    return json_pack ("{s:o, s:o}", "cast", lists [0], "crew", kept);
}

//  Columns of the TMDB 5000 export that hold JSON or numbers.
static const char *const s_json_columns [] = {
    "genres", "keywords", "production_companies", "production_countries", "spoken_languages", NULL
};
static const char *const s_number_columns [] = {
    "id", "budget", "revenue", "popularity", "runtime", "vote_average", "vote_count", NULL
};

static bool
s_listed (const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp (*list, name) == 0)
            return true;
    return false;
}

json_t *
records_tmdb_csv_row (char **header, char **fields, size_t count,
                      const json_t *credits, char *err, size_t errlen)
{
    json_t *tmdb = json_object ();
    for (size_t i = 0; i < count; i++) {
        if (!*fields [i])
            continue;
        if (s_listed (s_json_columns, header [i])) {
            json_error_t jerr;
            json_t *value = json_loads (fields [i], JSON_DECODE_ANY, &jerr);
            if (!value) {
                snprintf (err, errlen, "%s: not JSON (%s)", header [i], jerr.text);
                json_decref (tmdb);
                return NULL;
            }
            json_object_set_new (tmdb, header [i], value);
        }
        else
        if (s_listed (s_number_columns, header [i])) {
            char *end;
            double v = strtod (fields [i], &end);
            if (*end || end == fields [i]) {
                snprintf (err, errlen, "%s: '%.32s' is not a number", header [i], fields [i]);
                json_decref (tmdb);
                return NULL;
            }
            json_object_set_new (tmdb, header [i],
                                 strcmp (header [i], "id") == 0 ? json_integer ((json_int_t) v) : json_real (v));
        }
        else
            json_object_set_new (tmdb, header [i], json_string (fields [i]));
    }
    if (credits)
        json_object_set (tmdb, "credits", (json_t *) credits);
    json_t *out = records_from_tmdb (tmdb, err, errlen);
    json_decref (tmdb);
    return out;
}

json_t *
records_from_movielens (const char *movie_id, const char *listing, const char *genres,
                        const char *imdb, long long tmdb, char *err, size_t errlen)
{
    char *end;
    long long id = strtoll (movie_id, &end, 10);
    if (*end || end == movie_id || id <= 0) {
        snprintf (err, errlen, "movieId: '%.32s' is not a positive integer", movie_id);
        return NULL;
    }
    title_parsed_t parsed;
    title_parse_listing (listing, &parsed);
    if (!*parsed.title) {
        snprintf (err, errlen, "title: empty");
        return NULL;
    }
    json_t *out = json_pack ("{s:s, s:s, s:s, s:s}", "source", "movielens", "source_id", movie_id,
                             "type", "movie", "title", parsed.title);
    title_parsed_to_json (&parsed, out);
    json_t *list = json_array ();
    char buf [1024];
    snprintf (buf, sizeof buf, "%s", genres ? genres : "");
    char *save = NULL;
    for (char *g = strtok_r (buf, "|", &save); g; g = strtok_r (NULL, "|", &save))
        if (*g != '(' && json_array_size (list) < LIST_MAX)      //  "(no genres listed)"
            json_array_append_new (list, json_string (g));
    s_set_list (out, "genres", list);
    if (imdb && *imdb) {
        //  links.csv drops the "tt" and keeps the leading zeros (7 or 8 digits).
        const char *digits = strncmp (imdb, "tt", 2) == 0 ? imdb + 2 : imdb;
        size_t n = strlen (digits);
        if (n == 0 || n > 10 || strspn (digits, "0123456789") != n) {
            snprintf (err, errlen, "imdbId: '%.32s' is not an IMDb id", imdb);
            json_decref (out);
            return NULL;
        }
        char text [16];
        snprintf (text, sizeof text, "tt%s", digits);
        json_object_set_new (out, "imdb", json_string (text));
    }
    if (tmdb > 0)
        json_object_set_new (out, "tmdb", json_integer (tmdb));
    return out;
}
