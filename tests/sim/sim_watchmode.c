/*  Watchmode v1 under /watchmode/v1: /title/{id}/details/, /title/{id}/sources/,
    /search/, /sources/, /list-titles/. Shapes from Watchmode's OpenAPI
    document (api.watchmode.com/openapi.yaml) and API reference
    (api.watchmode.com/docs). Watchmode counts every call against the key's
    quota and reports it in X-Account-Quota / X-Account-Quota-Used.  */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WM_ID_BASE          3000000     //  Watchmode title id = base + TMDB id
#define WM_LIST_LIMIT       250         //  list-titles: at most 250 per page
#define WM_SEARCH_MAX       50          //  search: at most 50 title results

typedef struct {
    const char *platform;           //  the catalog's platform slug
    int id;                         //  Watchmode source id
    const char *name;
    const char *type;               //  the source's usual type
    const char *web;                //  source home page
} s_source_t;

static const s_source_t s_sources [] = {
    { "netflix", 203, "Netflix", "sub", "https://www.netflix.com" },
    { "prime-video", 26, "Prime Video", "sub", "https://www.amazon.com/video" },
    { "disney-plus", 372, "Disney+", "sub", "https://www.disneyplus.com" },
    { "max", 387, "Max", "sub", "https://play.max.com" },
    { "hulu", 157, "Hulu", "sub", "https://www.hulu.com" },
    { "peacock", 389, "Peacock Premium", "sub", "https://www.peacocktv.com" },
    { "paramount-plus", 444, "Paramount+", "sub", "https://www.paramountplus.com" },
    { "apple-tv-plus", 371, "AppleTV+", "sub", "https://tv.apple.com" },
    { "apple-tv", 349, "iTunes", "purchase", "https://tv.apple.com" },
    { "google-play", 140, "Google Play", "purchase", "https://play.google.com/store/movies" },
    { "tubi", 73, "Tubi TV", "free", "https://tubitv.com" },
    { "pluto-tv", 300, "Pluto TV", "free", "https://pluto.tv" },
    { NULL, 0, NULL, NULL, NULL }
};

//  Watchmode genre ids for TMDB's genre names.
static const struct { const char *name; int id; } s_genres [] = {
    { "Action", 1 }, { "Adventure", 2 }, { "Animation", 3 }, { "Comedy", 4 }, { "Crime", 5 },
    { "Documentary", 6 }, { "Drama", 7 }, { "Family", 8 }, { "Fantasy", 9 }, { "History", 10 },
    { "Horror", 11 }, { "Music", 12 }, { "Mystery", 13 }, { "Romance", 14 }, { "Science Fiction", 15 },
    { "Thriller", 17 }, { "War", 18 }, { "Western", 19 }, { "TV Movie", 20 }, { NULL, 0 }
};

static const s_source_t *
s_source (const char *platform)
{
    for (const s_source_t *s = s_sources; platform && s->platform; s++)
        if (strcmp (s->platform, platform) == 0)
            return s;
    return NULL;
}

//  Watchmode's error body: {success:false, statusCode, statusMessage}.
static void
s_fail (sim_call_t *call, sim_fail_t why, const char *detail, int retry_after_s)
{
    int status = 500;
    const char *message = "An unexpected error occurred.";
    switch (why) {
        case SIM_FAIL_UNAUTHORIZED:
        case SIM_FAIL_BAD_KEY:
            status = 401; message = "The API key provided is invalid or missing.";
            break;
        case SIM_FAIL_NOT_FOUND:
            status = 404; message = detail ? detail : "Title not found.";
            break;
        case SIM_FAIL_BAD_REQUEST:
            status = 400; message = detail ? detail : "Bad request.";
            break;
        case SIM_FAIL_RATE_LIMITED:
            status = 429; message = "Too many requests, please slow down.";
            sim_call_header (call, "Retry-After", "%d", retry_after_s);
            break;
        case SIM_FAIL_QUOTA:
            status = 429;
            message = "Over quota. Upgrade your plan at https://api.watchmode.com/ or wait for your quota to reset.";
            break;
        case SIM_FAIL_500:
            break;
        case SIM_FAIL_502:
            sim_call_reply_text (call, 502, "text/html",
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n");
            return;
        case SIM_FAIL_503:
            status = 503; message = "Service temporarily unavailable.";
            break;
    }
    sim_call_reply (call, status, json_pack ("{s:b, s:i, s:s}", "success", 0, "statusCode", status,
                                             "statusMessage", message));
}

static void
s_key (sim_call_t *call, char *key, size_t size)
{
    const char *param = sim_call_param (call, "apiKey");
    snprintf (key, size, "%s", param ? param : "");
}

static int
s_cost (const sim_call_t *call)
{
    (void) call;
    return 1;
}

static void
s_quota_headers (sim_call_t *call, long limit, long used, long reset_s)
{
    (void) reset_s;
    sim_call_header (call, "X-Account-Quota", "%ld", limit);
    sim_call_header (call, "X-Account-Quota-Used", "%ld", used);
}

//  A title id as Watchmode takes it: its own number, tt…, movie-<tmdb>.
static const sim_item_t *
s_find (const sim_call_t *call, const char *id, size_t len)
{
    char text [40];
    if (len == 0 || len >= sizeof text)
        return NULL;
    memcpy (text, id, len);
    text [len] = '\0';
    if (strncmp (text, "tt", 2) == 0)
        return sim_catalog_by_imdb (call->catalog, text);
    const char *digits = strncmp (text, "movie-", 6) == 0 ? text + 6 : text;
    if (!*digits || strspn (digits, "0123456789") != strlen (digits) || strlen (digits) > 10)
        return NULL;
    long long n = atoll (digits);
    return sim_catalog_by_tmdb (call->catalog, digits == text ? n - WM_ID_BASE : n);
}

static json_t *
s_sources_of (const sim_item_t *item, const char *regions)
{
    json_t *out = json_array ();
    size_t index;
    const json_t *entry;
    json_array_foreach (json_object_get (item->doc, "availability"), index, entry) {
        const s_source_t *source = s_source (json_string_value (json_object_get (entry, "platform")));
        const char *region = json_string_value (json_object_get (entry, "region"));
        if (!source || !region || (regions && !strcasestr (regions, region)))
            continue;
        const char *type = json_string_value (json_object_get (entry, "type"));
        const char *quality = json_string_value (json_object_get (entry, "quality"));
        const char *link = json_string_value (json_object_get (entry, "deep_link"));
        const char *wm_type = !type ? "sub" : strcmp (type, "subscription") == 0 ? "sub"
                            : strcmp (type, "ads") == 0 ? "free" : type;
        const char *format = quality && (strcmp (quality, "uhd") == 0 || strcmp (quality, "hdr") == 0) ? "4K"
                           : quality && strcmp (quality, "sd") == 0 ? "SD" : "HD";
        const json_t *price = json_object_get (entry, "price");
        json_array_append_new (out, json_pack ("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:n, s:n}",
            "source_id", source->id, "name", source->name, "type", wm_type, "region", region,
            "ios_url", link ? link : "", "android_url", link ? link : "", "web_url", link ? link : "",
            "format", format, "price", json_is_number (price) ? json_real (json_number_value (price)) : json_null (),
            "seasons", "episodes"));
    }
    return out;
}

static json_t *
s_details (const sim_item_t *item)
{
    json_t *genres = json_array (), *names = json_array (), *similar = json_array ();
    size_t index;
    const json_t *g;
    json_array_foreach (json_object_get (item->doc, "genres"), index, g) {
        const char *name = json_string_value (json_object_get (g, "name"));
        for (int i = 0; name && s_genres [i].name; i++)
            if (strcmp (s_genres [i].name, name) == 0) {
                json_array_append_new (genres, json_integer (s_genres [i].id));
                json_array_append_new (names, json_string (name));
            }
    }
    char poster [160], backdrop [160], trailer [80], thumb [80];
    snprintf (poster, sizeof poster, "https://cdn.watchmode.com/posters/0%lld_poster_w185.jpg", WM_ID_BASE + item->tmdb);
    snprintf (backdrop, sizeof backdrop, "https://cdn.watchmode.com/backdrops/0%lld_bd_w780.jpg", WM_ID_BASE + item->tmdb);
    snprintf (trailer, sizeof trailer, "https://www.youtube.com/watch?v=%s", item->trailer);
    snprintf (thumb, sizeof thumb, "https://img.youtube.com/vi/%s/hqdefault.jpg", item->trailer);
    return json_pack ("{s:I, s:s, s:s, s:s, s:s, s:i, s:i, s:n, s:s, s:s, s:I, s:s, s:o, s:o, s:f, s:n,"
                      " s:s, s:s, s:s, s:s, s:o, s:n, s:n, s:f, s:f, s:s, s:s}",
        "id", (json_int_t) (WM_ID_BASE + item->tmdb), "title", sim_item_str (item, "title"),
        "original_title", sim_item_str (item, "original_title"), "plot_overview", sim_item_str (item, "overview"),
        "type", "movie", "runtime_minutes", (int) sim_item_num (item, "runtime"), "year", item->year,
        "end_year", "release_date", sim_item_str (item, "release_date"), "imdb_id", item->imdb,
        "tmdb_id", (json_int_t) item->tmdb, "tmdb_type", "movie", "genres", genres, "genre_names", names,
        "user_rating", sim_item_num (item, "vote_average"), "critic_score",
        "us_rating", "PG-13", "poster", poster, "backdrop", backdrop,
        "original_language", sim_item_str (item, "original_language"), "similar_titles", similar,
        "networks", "network_names",
        "relevance_percentile", (double) (sim_hash ("relevance", item->tmdb) % 10000) / 100.0,
        "popularity_percentile", (double) (sim_hash ("popularity", item->tmdb) % 10000) / 100.0,
        "trailer", trailer, "trailer_thumbnail", thumb);
}

static json_t *
s_title_summary (const sim_item_t *item, bool search)
{
    json_t *out = json_pack ("{s:I, s:s, s:i, s:s, s:I, s:s, s:s}",
        "id", (json_int_t) (WM_ID_BASE + item->tmdb), search ? "name" : "title", sim_item_str (item, "title"),
        "year", item->year, "imdb_id", item->imdb, "tmdb_id", (json_int_t) item->tmdb,
        "tmdb_type", "movie", "type", "movie");
    if (search)
        json_object_set_new (out, "resultType", json_string ("title"));
    return out;
}

//  /search/?search_field=name|imdb_id|tmdb_movie_id|tmdb_tv_id&search_value=…
static void
s_search (sim_call_t *call)
{
    const char *field = sim_call_param (call, "search_field"), *value = sim_call_param (call, "search_value");
    if (!field || !value || !*value) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "The search_field and search_value parameters are required.", 0);
        return;
    }
    json_t *titles = json_array ();
    if (strcmp (field, "name") == 0) {
        for (size_t i = 0; i < sim_catalog_size (call->catalog) && json_array_size (titles) < WM_SEARCH_MAX; i++) {
            const sim_item_t *item = sim_catalog_at (call->catalog, SIM_ORDER_POPULARITY, i);
            if (sim_item_matches (item, value))
                json_array_append_new (titles, s_title_summary (item, true));
        }
    }
    else
    if (strcmp (field, "imdb_id") == 0 || strcmp (field, "tmdb_movie_id") == 0) {
        const sim_item_t *item = strcmp (field, "imdb_id") == 0 ? sim_catalog_by_imdb (call->catalog, value)
                               : sim_catalog_by_tmdb (call->catalog, atoll (value));
        if (item)
            json_array_append_new (titles, s_title_summary (item, true));
    }
    else
    if (strcmp (field, "tmdb_tv_id") != 0) {
        json_decref (titles);
        s_fail (call, SIM_FAIL_BAD_REQUEST, "search_field must be one of imdb_id, tmdb_movie_id, tmdb_tv_id, "
                                            "tmdb_person_id, name.", 0);
        return;
    }
    sim_call_reply (call, 200, json_pack ("{s:o, s:[]}", "title_results", titles, "people_results"));
}

static void
s_source_list (sim_call_t *call)
{
    json_t *out = json_array ();
    for (const s_source_t *s = s_sources; s->platform; s++) {
        char logo [120];
        snprintf (logo, sizeof logo, "https://cdn.watchmode.com/provider_logos/%s_100px.png", s->platform);
        json_array_append_new (out, json_pack ("{s:i, s:s, s:s, s:s, s:n, s:n, s:n, s:n, s:[s, s, s, s]}",
            "id", s->id, "name", s->name, "type", s->type, "logo_100px", logo,
            "ios_appstore_url", "android_playstore_url", "android_scheme", "ios_scheme",
            "regions", "US", "GB", "CA", "AU"));
    }
    sim_call_reply (call, 200, out);
}

//  /list-titles/?types=movie&source_ids=203,157&regions=US&page=&limit=
static void
s_list_titles (sim_call_t *call)
{
    long page = sim_call_int (call, "page", 1, 100000), limit = sim_call_int (call, "limit", WM_LIST_LIMIT, WM_LIST_LIMIT);
    if (page < 0 || limit < 0) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "page and limit must be positive integers (limit at most 250).", 0);
        return;
    }
    const char *types = sim_call_param (call, "types"), *source_ids = sim_call_param (call, "source_ids");
    const char *regions = sim_call_param (call, "regions");
    json_t *titles = json_array ();
    long total = 0, first = (page - 1) * limit;
    bool movies = !types || strstr (types, "movie") != NULL;
    for (size_t i = 0; movies && i < sim_catalog_size (call->catalog); i++) {
        const sim_item_t *item = sim_catalog_at (call->catalog, SIM_ORDER_POPULARITY, i);
        if (source_ids || regions) {
            bool hit = false;
            size_t index;
            const json_t *entry;
            json_array_foreach (json_object_get (item->doc, "availability"), index, entry) {
                const s_source_t *source = s_source (json_string_value (json_object_get (entry, "platform")));
                const char *region = json_string_value (json_object_get (entry, "region"));
                char id [16];
                snprintf (id, sizeof id, "%d", source ? source->id : 0);
                if (source && (!regions || (region && strcasestr (regions, region)))
                &&  (!source_ids || strstr (source_ids, id))) {
                    hit = true;
                    break;
                }
            }
            if (!hit)
                continue;
        }
        if (total >= first && total < first + limit)
            json_array_append_new (titles, s_title_summary (item, false));
        total++;
    }
    sim_call_reply (call, 200, json_pack ("{s:o, s:i, s:i, s:i}", "titles", titles, "page", (int) page,
                                          "total_results", (int) total,
                                          "total_pages", (int) ((total + limit - 1) / limit)));
}

static void
s_serve (sim_call_t *call)
{
    const char *path = call->path;
    if (strcmp (call->method, "GET") != 0)
        s_fail (call, SIM_FAIL_NOT_FOUND, "Endpoint not found.", 0);
    else
    if (strcmp (path, "/search/") == 0 || strcmp (path, "/search") == 0)
        s_search (call);
    else
    if (strcmp (path, "/sources/") == 0 || strcmp (path, "/sources") == 0)
        s_source_list (call);
    else
    if (strcmp (path, "/list-titles/") == 0 || strcmp (path, "/list-titles") == 0)
        s_list_titles (call);
    else
    if (strncmp (path, "/title/", 7) == 0) {
        const char *id = path + 7, *slash = strchr (id, '/');
        const sim_item_t *item = slash ? s_find (call, id, (size_t) (slash - id)) : NULL;
        if (!item)
            s_fail (call, SIM_FAIL_NOT_FOUND, "Title not found.", 0);
        else
        if (strcmp (slash, "/details/") == 0 || strcmp (slash, "/details") == 0) {
            json_t *out = s_details (item);
            const char *append = sim_call_param (call, "append_to_response");
            if (append && strstr (append, "sources"))
                json_object_set_new (out, "sources", s_sources_of (item, sim_call_param (call, "regions")));
            sim_call_reply (call, 200, out);
        }
        else
        if (strcmp (slash, "/sources/") == 0 || strcmp (slash, "/sources") == 0)
            sim_call_reply (call, 200, s_sources_of (item, sim_call_param (call, "regions")));
        else
            s_fail (call, SIM_FAIL_NOT_FOUND, "Endpoint not found.", 0);
    }
    else
        s_fail (call, SIM_FAIL_NOT_FOUND, "Endpoint not found.", 0);
}

const sim_provider_desc_t sim_watchmode_desc = {
    .name = "watchmode", .prefix = "/watchmode/v1", .etag = false,
    .serve = s_serve, .fail = s_fail, .key = s_key, .cost = s_cost,
    .quota_headers = s_quota_headers, .per_minute = false
};
