/*  TMDB v3 under /tmdb/3: details with append_to_response, lists (search,
    discover, trending, popular, similar, recommendations, changes) and the
    genre lists, shaped as TMDB's OpenAPI describes them
    (https://developer.themoviedb.org/openapi, tmdb-api.json). The bundled
    catalog holds films only: TV endpoints answer empty lists and 404s.  */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TMDB_PAGE_SIZE      20      //  TMDB lists are 20 per page
#define TMDB_PAGE_MAX       500     //  TMDB refuses page > 500
#define TMDB_CHANGES_PAGE   100     //  /movie/changes: 100 ids per page
#define TMDB_CHANGES_SHARE  10      //  one title in ten "changed" on a given day
#define TMDB_RECOMMENDED    20      //  appended recommendations: one page

typedef struct { int id; const char *name; } s_genre_t;

//  TMDB's own genre lists (GET /genre/movie/list, /genre/tv/list).
static const s_genre_t s_movie_genres [] = {
    { 28, "Action" }, { 12, "Adventure" }, { 16, "Animation" }, { 35, "Comedy" }, { 80, "Crime" },
    { 99, "Documentary" }, { 18, "Drama" }, { 10751, "Family" }, { 14, "Fantasy" }, { 36, "History" },
    { 27, "Horror" }, { 10402, "Music" }, { 9648, "Mystery" }, { 10749, "Romance" },
    { 878, "Science Fiction" }, { 10770, "TV Movie" }, { 53, "Thriller" }, { 10752, "War" },
    { 37, "Western" }, { 0, NULL }
};
static const s_genre_t s_tv_genres [] = {
    { 10759, "Action & Adventure" }, { 16, "Animation" }, { 35, "Comedy" }, { 80, "Crime" },
    { 99, "Documentary" }, { 18, "Drama" }, { 10751, "Family" }, { 10762, "Kids" }, { 9648, "Mystery" },
    { 10763, "News" }, { 10764, "Reality" }, { 10765, "Sci-Fi & Fantasy" }, { 10766, "Soap" },
    { 10767, "Talk" }, { 10768, "War & Politics" }, { 37, "Western" }, { 0, NULL }
};

typedef struct { const char *code; const char *name; } s_name_t;

//  Names TMDB gives the codes the catalog uses most; others keep their code.
static const s_name_t s_languages [] = {
    { "en", "English" }, { "fr", "French" }, { "es", "Spanish" }, { "de", "German" }, { "it", "Italian" },
    { "ja", "Japanese" }, { "zh", "Mandarin" }, { "ru", "Russian" }, { "pt", "Portuguese" },
    { "ko", "Korean" }, { "hi", "Hindi" }, { "ar", "Arabic" }, { "cn", "Cantonese" }, { NULL, NULL }
};
static const s_name_t s_countries [] = {
    { "US", "United States of America" }, { "GB", "United Kingdom" }, { "FR", "France" },
    { "DE", "Germany" }, { "CA", "Canada" }, { "AU", "Australia" }, { "JP", "Japan" }, { "ES", "Spain" },
    { "IT", "Italy" }, { "IN", "India" }, { "CN", "China" }, { "BR", "Brazil" }, { "NZ", "New Zealand" },
    { NULL, NULL }
};

static const char *
s_name_of (const s_name_t *table, const char *code)
{
    for (; table->code; table++)
        if (strcasecmp (table->code, code) == 0)
            return table->name;
    return code;
}

//  The error body TMDB sends: {status_code, status_message, success:false}.
static void
s_fail (sim_call_t *call, sim_fail_t why, const char *detail, int retry_after_s)
{
    int status = 500, code = 11;
    const char *message = "Internal error: Something went wrong, contact TMDB.";
    char text [256];
    switch (why) {
        case SIM_FAIL_UNAUTHORIZED:
        case SIM_FAIL_BAD_KEY:
            status = 401; code = 7;
            message = "Invalid API key: You must be granted a valid key.";
            break;
        case SIM_FAIL_NOT_FOUND:
            status = 404; code = 34;
            message = "The resource you requested could not be found.";
            break;
        case SIM_FAIL_BAD_REQUEST:
            status = 422; code = 22;
            snprintf (text, sizeof text, "%s", detail ? detail : "Invalid parameters.");
            message = text;
            break;
        case SIM_FAIL_RATE_LIMITED:
        case SIM_FAIL_QUOTA:
            //  TMDB's limiter (CDN level) answers 429 with status_code 25.
            status = 429; code = 25;
            message = "Your request count (41) is over the allowed limit of (40).";
            sim_call_header (call, "Retry-After", "%d", retry_after_s);
            break;
        case SIM_FAIL_500:
            break;
        case SIM_FAIL_502:
            sim_call_reply_text (call, 502, "text/html",
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n");
            return;
        case SIM_FAIL_503:
            status = 503; code = 9;
            message = "Service offline: This service is temporarily offline, try again later.";
            break;
    }
    sim_call_reply (call, status, json_pack ("{s:i, s:s, s:b}", "status_code", code,
                                             "status_message", message, "success", 0));
}

//  api_key query parameter, or the v4 read token as a Bearer header.
static void
s_key (sim_call_t *call, char *key, size_t size)
{
    const char *param = sim_call_param (call, "api_key");
    const char *auth = sim_call_request_header (call, "Authorization");
    if (param)
        snprintf (key, size, "%s", param);
    else
    if (auth && strncasecmp (auth, "Bearer ", 7) == 0)
        snprintf (key, size, "%s", auth + 7);
    else
        *key = '\0';
}

static int
s_cost (const sim_call_t *call)
{
    (void) call;
    return 1;
}

//  TMDB no longer sends rate-limit headers (removed December 2019).
static void
s_quota_headers (sim_call_t *call, long limit, long used, long reset_s)
{
    (void) call; (void) limit; (void) used; (void) reset_s;
}

//  genre_ids of an item.
static json_t *
s_genre_ids (const sim_item_t *item)
{
    json_t *ids = json_array ();
    size_t index;
    const json_t *g;
    json_array_foreach (json_object_get (item->doc, "genres"), index, g)
        json_array_append_new (ids, json_integer (json_integer_value (json_object_get (g, "id"))));
    return ids;
}

//  A movie as TMDB lists it (search, discover, trending, …); media_type
//  only in mixed lists (multi search, trending/all).
static json_t *
s_list_item (const sim_item_t *item, bool media_type)
{
    json_t *out = json_pack ("{s:b, s:s, s:o, s:I, s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:b, s:f, s:I}",
        "adult", 0, "backdrop_path", item->backdrop, "genre_ids", s_genre_ids (item),
        "id", (json_int_t) item->tmdb,
        "original_language", sim_item_str (item, "original_language"),
        "original_title", sim_item_str (item, "original_title"),
        "overview", sim_item_str (item, "overview"),
        "popularity", sim_item_popularity (item, time (NULL)),
        "poster_path", item->poster,
        "release_date", sim_item_str (item, "release_date"),
        "title", sim_item_str (item, "title"),
        "video", 0,
        "vote_average", sim_item_num (item, "vote_average"),
        "vote_count", (json_int_t) sim_item_num (item, "vote_count"));
    if (media_type)
        json_object_set_new (out, "media_type", json_string ("movie"));
    return out;
}

typedef bool (*s_filter_fn) (const sim_call_t *call, const sim_item_t *item, const void *arg);

//  One page of the catalog in order, keeping items filter accepts (all
//  when NULL): {page, results, total_pages, total_results}.
static void
s_page (sim_call_t *call, sim_order_t order, s_filter_fn filter, const void *arg, bool media_type)
{
    long page = sim_call_int (call, "page", 1, TMDB_PAGE_MAX);
    if (page < 0) {
        s_fail (call, SIM_FAIL_BAD_REQUEST,
                "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer.", 0);
        return;
    }
    json_t *results = json_array ();
    size_t total = 0, first = (size_t) (page - 1) * TMDB_PAGE_SIZE;
    for (size_t i = 0; i < sim_catalog_size (call->catalog); i++) {
        const sim_item_t *item = sim_catalog_at (call->catalog, order, i);
        if (filter && !filter (call, item, arg))
            continue;
        if (total >= first && total < first + TMDB_PAGE_SIZE)
            json_array_append_new (results, s_list_item (item, media_type));
        total++;
    }
    size_t pages = (total + TMDB_PAGE_SIZE - 1) / TMDB_PAGE_SIZE;
    sim_call_reply (call, 200, json_pack ("{s:i, s:o, s:I, s:I}", "page", (int) page, "results", results,
                                          "total_pages", (json_int_t) (pages ? pages : 1),
                                          "total_results", (json_int_t) total));
}

//  An empty list page (TV: the catalog has no series).
static void
s_empty_page (sim_call_t *call)
{
    sim_call_reply (call, 200, json_pack ("{s:i, s:[], s:i, s:i}", "page", 1, "results",
                                          "total_pages", 1, "total_results", 0));
}

static bool
s_filter_query (const sim_call_t *call, const sim_item_t *item, const void *arg)
{
    (void) call;
    return sim_item_matches (item, (const char *) arg);
}

//  discover: with_genres ("," = all of, "|" = any of), primary_release_year,
//  vote_count.gte, vote_average.gte, with_original_language.
static bool
s_filter_discover (const sim_call_t *call, const sim_item_t *item, const void *arg)
{
    (void) arg;
    const char *genres = sim_call_param (call, "with_genres");
    if (genres && *genres) {
        bool any = strchr (genres, '|') != NULL, hit = !any;
        for (const char *g = genres; *g; ) {
            bool has = sim_item_has_genre (item, atoll (g));
            hit = any ? hit || has : hit && has;
            g += strcspn (g, ",|");
            if (*g)
                g++;
        }
        if (!hit)
            return false;
    }
    const char *year = sim_call_param (call, "primary_release_year");
    if (!year)
        year = sim_call_param (call, "year");
    if (year && item->year != atoi (year))
        return false;
    const char *votes = sim_call_param (call, "vote_count.gte");
    if (votes && sim_item_num (item, "vote_count") < atof (votes))
        return false;
    const char *rating = sim_call_param (call, "vote_average.gte");
    if (rating && sim_item_num (item, "vote_average") < atof (rating))
        return false;
    const char *language = sim_call_param (call, "with_original_language");
    return !language || strcmp (language, sim_item_str (item, "original_language")) == 0;
}

//  changes: a deterministic tenth of the catalog per day (start_date or today).
static bool
s_filter_changed (const sim_call_t *call, const sim_item_t *item, const void *arg)
{
    (void) call;
    return sim_hash ((const char *) arg, item->tmdb) % TMDB_CHANGES_SHARE == 0;
}

static void
s_changes (sim_call_t *call)
{
    char day [16];
    const char *start = sim_call_param (call, "start_date");
    if (start)
        snprintf (day, sizeof day, "%.10s", start);
    else {
        time_t now = time (NULL);
        struct tm tm;
        gmtime_r (&now, &tm);
        strftime (day, sizeof day, "%Y-%m-%d", &tm);
    }
    long page = sim_call_int (call, "page", 1, TMDB_PAGE_MAX);
    if (page < 0) {
        s_fail (call, SIM_FAIL_BAD_REQUEST,
                "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer.", 0);
        return;
    }
    json_t *results = json_array ();
    size_t total = 0, first = (size_t) (page - 1) * TMDB_CHANGES_PAGE;
    for (size_t i = 0; i < sim_catalog_size (call->catalog); i++) {
        const sim_item_t *item = sim_catalog_at (call->catalog, SIM_ORDER_ID, i);
        if (!s_filter_changed (call, item, day))
            continue;
        if (total >= first && total < first + TMDB_CHANGES_PAGE)
            json_array_append_new (results, json_pack ("{s:I, s:b}", "id", (json_int_t) item->tmdb, "adult", 0));
        total++;
    }
    size_t pages = (total + TMDB_CHANGES_PAGE - 1) / TMDB_CHANGES_PAGE;
    sim_call_reply (call, 200, json_pack ("{s:o, s:i, s:I, s:I}", "results", results, "page", (int) page,
                                          "total_pages", (json_int_t) (pages ? pages : 1),
                                          "total_results", (json_int_t) total));
}

//  Titles sharing the most genres with item (3 or more, then 2, then 1),
//  then by popularity: up to max items from position first. One pass to
//  count genres shared, then one walk per level over the counts.
static json_t *
s_similar_list (const sim_call_t *call, const sim_item_t *item, size_t first, size_t max, size_t *total)
{
    json_t *results = json_array ();
    size_t count = sim_catalog_size (call->catalog);
    unsigned char *shared = malloc (count);
    *total = 0;
    if (!shared)
        return results;
    for (size_t i = 0; i < count; i++) {
        const sim_item_t *other = sim_catalog_at (call->catalog, SIM_ORDER_POPULARITY, i);
        int common = other == item ? 0 : sim_catalog_shared_genres (item, other);
        shared [i] = (unsigned char) (common > 3 ? 3 : common);
    }
    for (int level = 3; level >= 1; level--)
        for (size_t i = 0; i < count; i++)
            if (shared [i] == level) {
                if (*total >= first && *total < first + max)
                    json_array_append_new (results, s_list_item (sim_catalog_at (call->catalog,
                                                                 SIM_ORDER_POPULARITY, i), false));
                (*total)++;
            }
    free (shared);
    return results;
}

static void
s_similar (sim_call_t *call, const sim_item_t *item)
{
    long page = sim_call_int (call, "page", 1, TMDB_PAGE_MAX);
    if (page < 0) {
        s_fail (call, SIM_FAIL_BAD_REQUEST,
                "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer.", 0);
        return;
    }
    size_t total;
    json_t *results = s_similar_list (call, item, (size_t) (page - 1) * TMDB_PAGE_SIZE, TMDB_PAGE_SIZE, &total);
    size_t pages = (total + TMDB_PAGE_SIZE - 1) / TMDB_PAGE_SIZE;
    sim_call_reply (call, 200, json_pack ("{s:i, s:o, s:I, s:I}", "page", (int) page, "results", results,
                                          "total_pages", (json_int_t) (pages ? pages : 1),
                                          "total_results", (json_int_t) total));
}

//  credits as TMDB's /movie/{id}/credits: {id, cast:[…], crew:[…]}.
static json_t *
s_credits (const sim_item_t *item)
{
    json_t *cast = json_array (), *crew = json_array ();
    const json_t *credits = json_object_get (item->doc, "credits");
    size_t index;
    const json_t *person;
    json_array_foreach (json_object_get (credits, "cast"), index, person) {
        json_int_t id = json_integer_value (json_object_get (person, "id"));
        char profile [40];
        sim_image_path (id, "profile", "jpg", profile, sizeof profile);
        const char *name = json_string_value (json_object_get (person, "name"));
        const char *character = json_string_value (json_object_get (person, "character"));
        char credit_id [32];
        snprintf (credit_id, sizeof credit_id, "%016llx%08llx",
                  (unsigned long long) sim_hash ("cast", (long long) id ^ item->tmdb),
                  (unsigned long long) (item->tmdb & 0xffffffff));
        json_array_append_new (cast, json_pack ("{s:b, s:i, s:I, s:s, s:s, s:s, s:f, s:s, s:I, s:s, s:s, s:I}",
            "adult", 0, "gender", (int) (sim_hash ("gender", id) % 3), "id", id,
            "known_for_department", "Acting", "name", name ? name : "", "original_name", name ? name : "",
            "popularity", (double) (sim_hash ("person", id) % 10000) / 100.0, "profile_path", profile,
            "cast_id", (json_int_t) index + 1, "character", character ? character : "",
            "credit_id", credit_id, "order", (json_int_t) index));
    }
    json_array_foreach (json_object_get (credits, "crew"), index, person) {
        json_int_t id = json_integer_value (json_object_get (person, "id"));
        char profile [40];
        sim_image_path (id, "profile", "jpg", profile, sizeof profile);
        const char *name = json_string_value (json_object_get (person, "name"));
        const char *job = json_string_value (json_object_get (person, "job"));
        const char *department = json_string_value (json_object_get (person, "department"));
        char credit_id [32];
        snprintf (credit_id, sizeof credit_id, "%016llx%08llx",
                  (unsigned long long) sim_hash (job ? job : "crew", (long long) id ^ item->tmdb),
                  (unsigned long long) (item->tmdb & 0xffffffff));
        json_array_append_new (crew, json_pack ("{s:b, s:i, s:I, s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:s}",
            "adult", 0, "gender", (int) (sim_hash ("gender", id) % 3), "id", id,
            "known_for_department", department ? department : "Crew", "name", name ? name : "",
            "original_name", name ? name : "", "popularity", (double) (sim_hash ("person", id) % 10000) / 100.0,
            "profile_path", profile, "credit_id", credit_id, "department", department ? department : "Crew",
            "job", job ? job : ""));
    }
    return json_pack ("{s:I, s:o, s:o}", "id", (json_int_t) item->tmdb, "cast", cast, "crew", crew);
}

//  One TMDB video object (YouTube trailer or teaser).
static json_t *
s_video (const sim_item_t *item, const char *key, const char *type)
{
    char name [300], id [32];
    snprintf (name, sizeof name, "%s | Official %s", sim_item_str (item, "title"), type);
    snprintf (id, sizeof id, "%016llx%08llx", (unsigned long long) sim_hash (type, item->tmdb),
              (unsigned long long) item->tmdb);
    const char *date = sim_item_str (item, "release_date");
    char published [32];
    snprintf (published, sizeof published, "%.10sT16:00:00.000Z", *date ? date : "2000-01-01");
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:s, s:s}",
        "iso_639_1", "en", "iso_3166_1", "US", "name", name, "key", key, "site", "YouTube",
        "size", 1080, "type", type, "official", 1, "published_at", published, "id", id);
}

static json_t *
s_videos (const sim_item_t *item)
{
    return json_pack ("{s:I, s:[o, o]}", "id", (json_int_t) item->tmdb, "results",
                      s_video (item, item->trailer, "Trailer"), s_video (item, item->teaser, "Teaser"));
}

static json_t *
s_external_ids (const sim_item_t *item)
{
    return json_pack ("{s:I, s:s, s:n, s:n, s:n, s:n}", "id", (json_int_t) item->tmdb,
                      "imdb_id", item->imdb, "wikidata_id", "facebook_id", "instagram_id", "twitter_id");
}

//  GET /movie/{id}: TMDB's movie details, plus what append_to_response asks.
static void
s_movie (sim_call_t *call, const sim_item_t *item)
{
    json_t *genres = json_array ();
    size_t index;
    const json_t *value;
    json_array_foreach (json_object_get (item->doc, "genres"), index, value)
        json_array_append (genres, (json_t *) value);
    json_t *countries = json_array ();
    json_array_foreach (json_object_get (item->doc, "production_countries"), index, value)
        if (json_is_string (value))
            json_array_append_new (countries, json_pack ("{s:s, s:s}", "iso_3166_1", json_string_value (value),
                                                         "name", s_name_of (s_countries, json_string_value (value))));
    //  The export names each company (id, name); TMDB also gives a logo
    //  path (derived here from the company id) and an origin country, ""
    //  when it does not know it, as here.
    json_t *companies = json_array ();
    json_array_foreach (json_object_get (item->doc, "production_companies"), index, value) {
        json_int_t id = json_integer_value (json_object_get (value, "id"));
        const char *name = json_string_value (json_object_get (value, "name"));
        if (id <= 0 || !name)
            continue;
        char logo [40];
        sim_image_path (id, "logo", "png", logo, sizeof logo);
        json_array_append_new (companies, json_pack ("{s:I, s:s, s:s, s:s}", "id", id, "logo_path", logo,
                                                     "name", name, "origin_country", ""));
    }
    json_t *languages = json_array ();
    json_array_foreach (json_object_get (item->doc, "spoken_languages"), index, value)
        if (json_is_string (value)) {
            const char *name = s_name_of (s_languages, json_string_value (value));
            json_array_append_new (languages, json_pack ("{s:s, s:s, s:s}", "english_name", name,
                                                         "iso_639_1", json_string_value (value), "name", name));
        }
    json_t *out = json_pack ("{s:b, s:s, s:n, s:I, s:o, s:s, s:I, s:s, s:s, s:s, s:s, s:f, s:s,"
                             " s:o, s:o, s:s, s:I, s:I, s:o, s:s, s:s, s:s, s:b, s:f, s:I}",
        "adult", 0, "backdrop_path", item->backdrop, "belongs_to_collection",
        "budget", (json_int_t) sim_item_num (item, "budget"), "genres", genres,
        "homepage", sim_item_str (item, "homepage"), "id", (json_int_t) item->tmdb,
        "imdb_id", item->imdb, "original_language", sim_item_str (item, "original_language"),
        "original_title", sim_item_str (item, "original_title"), "overview", sim_item_str (item, "overview"),
        "popularity", sim_item_popularity (item, time (NULL)), "poster_path", item->poster,
        "production_companies", companies, "production_countries", countries,
        "release_date", sim_item_str (item, "release_date"),
        "revenue", (json_int_t) sim_item_num (item, "revenue"),
        "runtime", (json_int_t) sim_item_num (item, "runtime"), "spoken_languages", languages,
        "status", *sim_item_str (item, "status") ? sim_item_str (item, "status") : "Released",
        "tagline", sim_item_str (item, "tagline"), "title", sim_item_str (item, "title"), "video", 0,
        "vote_average", sim_item_num (item, "vote_average"),
        "vote_count", (json_int_t) sim_item_num (item, "vote_count"));
    const char *append = sim_call_param (call, "append_to_response");
    char list [256];
    snprintf (list, sizeof list, "%s", append ? append : "");
    char *save = NULL;
    for (char *name = strtok_r (list, ",", &save); name; name = strtok_r (NULL, ",", &save)) {
        if (strcmp (name, "credits") == 0)
            json_object_set_new (out, "credits", s_credits (item));
        else
        if (strcmp (name, "videos") == 0)
            json_object_set_new (out, "videos", s_videos (item));
        else
        if (strcmp (name, "external_ids") == 0)
            json_object_set_new (out, "external_ids", s_external_ids (item));
        else
        if (strcmp (name, "keywords") == 0) {
            json_t *keywords = json_array ();
            json_array_foreach (json_object_get (item->doc, "keywords"), index, value)
                if (json_is_string (value))
                    json_array_append_new (keywords, json_pack ("{s:I, s:s}",
                        "id", (json_int_t) (sim_hash (json_string_value (value), 0) % 300000),
                        "name", json_string_value (value)));
            json_object_set_new (out, "keywords", json_pack ("{s:o}", "keywords", keywords));
        }
        else
        if (strcmp (name, "recommendations") == 0 || strcmp (name, "similar") == 0) {
            size_t total;
            json_t *results = s_similar_list (call, item, 0, TMDB_RECOMMENDED, &total);
            size_t pages = (total + TMDB_PAGE_SIZE - 1) / TMDB_PAGE_SIZE;
            json_object_set_new (out, name, json_pack ("{s:i, s:o, s:I, s:I}", "page", 1, "results", results,
                                                      "total_pages", (json_int_t) (pages ? pages : 1),
                                                      "total_results", (json_int_t) total));
        }
    }
    sim_call_reply (call, 200, out);
}

//  The id at the start of path ("603", "603/similar"); -1 when not a number.
static long long
s_path_id (const char *path, const char **rest)
{
    char *end;
    long long id = strtoll (path, &end, 10);
    *rest = end;
    return end != path && id > 0 && (*end == '\0' || *end == '/') ? id : -1;
}

static void
s_genres (sim_call_t *call, const s_genre_t *list)
{
    json_t *genres = json_array ();
    for (; list->name; list++)
        json_array_append_new (genres, json_pack ("{s:i, s:s}", "id", list->id, "name", list->name));
    sim_call_reply (call, 200, json_pack ("{s:o}", "genres", genres));
}

static void
s_serve (sim_call_t *call)
{
    const char *path = call->path, *rest;
    if (strcmp (call->method, "GET") != 0) {
        s_fail (call, SIM_FAIL_NOT_FOUND, NULL, 0);
        return;
    }
    if (strcmp (path, "/genre/movie/list") == 0)
        s_genres (call, s_movie_genres);
    else
    if (strcmp (path, "/genre/tv/list") == 0)
        s_genres (call, s_tv_genres);
    else
    if (strcmp (path, "/search/multi") == 0 || strcmp (path, "/search/movie") == 0) {
        const char *query = sim_call_param (call, "query");
        if (!query || !*query)
            s_empty_page (call);
        else
            s_page (call, SIM_ORDER_POPULARITY, s_filter_query, query, strcmp (path, "/search/multi") == 0);
    }
    else
    if (strcmp (path, "/search/tv") == 0 || strcmp (path, "/discover/tv") == 0
    ||  strcmp (path, "/trending/tv/day") == 0 || strcmp (path, "/trending/tv/week") == 0
    ||  strcmp (path, "/tv/popular") == 0 || strcmp (path, "/tv/changes") == 0)
        s_empty_page (call);
    else
    if (strcmp (path, "/discover/movie") == 0) {
        const char *sort = sim_call_param (call, "sort_by");
        sim_order_t order = SIM_ORDER_POPULARITY;
        if (sort && strcmp (sort, "vote_average.desc") == 0)
            order = SIM_ORDER_RATING;
        else
        if (sort && (strcmp (sort, "primary_release_date.desc") == 0 || strcmp (sort, "release_date.desc") == 0))
            order = SIM_ORDER_RELEASE;
        else
        if (sort && strcmp (sort, "popularity.desc") != 0) {
            s_fail (call, SIM_FAIL_BAD_REQUEST, "Invalid sort_by: use popularity.desc, vote_average.desc "
                                                "or primary_release_date.desc.", 0);
            return;
        }
        s_page (call, order, s_filter_discover, NULL, false);
    }
    else
    if (strncmp (path, "/trending/", 10) == 0) {
        const char *type = path + 10;
        bool all = strncmp (type, "all/", 4) == 0;
        const char *window = type + (all ? 4 : strncmp (type, "movie/", 6) == 0 ? 6 : 0);
        if (window == type || (strcmp (window, "day") != 0 && strcmp (window, "week") != 0))
            s_fail (call, SIM_FAIL_NOT_FOUND, NULL, 0);
        else
            s_page (call, strcmp (window, "day") == 0 ? SIM_ORDER_TRENDING_DAY : SIM_ORDER_POPULARITY,
                    NULL, NULL, all);
    }
    else
    if (strcmp (path, "/movie/popular") == 0)
        s_page (call, SIM_ORDER_POPULARITY, NULL, NULL, false);
    else
    if (strcmp (path, "/movie/top_rated") == 0)
        s_page (call, SIM_ORDER_RATING, NULL, NULL, false);
    else
    if (strcmp (path, "/movie/changes") == 0)
        s_changes (call);
    else
    if (strncmp (path, "/movie/", 7) == 0) {
        long long id = s_path_id (path + 7, &rest);
        const sim_item_t *item = id > 0 ? sim_catalog_by_tmdb (call->catalog, id) : NULL;
        if (!item)
            s_fail (call, SIM_FAIL_NOT_FOUND, NULL, 0);
        else
        if (*rest == '\0')
            s_movie (call, item);
        else
        if (strcmp (rest, "/similar") == 0 || strcmp (rest, "/recommendations") == 0)
            s_similar (call, item);
        else
        if (strcmp (rest, "/credits") == 0)
            sim_call_reply (call, 200, s_credits (item));
        else
        if (strcmp (rest, "/videos") == 0)
            sim_call_reply (call, 200, s_videos (item));
        else
        if (strcmp (rest, "/external_ids") == 0)
            sim_call_reply (call, 200, s_external_ids (item));
        else
            s_fail (call, SIM_FAIL_NOT_FOUND, NULL, 0);
    }
    else
        s_fail (call, SIM_FAIL_NOT_FOUND, NULL, 0);
}

const sim_provider_desc_t sim_tmdb_desc = {
    .name = "tmdb", .prefix = "/tmdb/3", .etag = true,
    .serve = s_serve, .fail = s_fail, .key = s_key, .cost = s_cost,
    .quota_headers = s_quota_headers, .per_minute = false
};
