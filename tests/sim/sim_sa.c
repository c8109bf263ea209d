/*  Streaming Availability API v4 (RapidAPI) under /sa: /shows/{id},
    /shows/search/filters, /shows/search/title, /changes. Shapes from the
    API's OpenAPI spec as its generated clients publish it
    (movieofthenight/go-streaming-availability docs/Show.md,
    StreamingOption.md, Change.md, ServiceInfo.md). Errors and rate-limit
    headers are RapidAPI's, which fronts the service.  */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SA_ID_BASE          70000000    //  SA show id = base + TMDB id (its own id space)
#define SA_PAGE_SIZE        20          //  shows per page of search/filters
#define SA_TITLE_MAX        20          //  search/title answers at most 20 shows
#define SA_CHANGES_PAGE     25          //  changes per page
#define SA_CHANGES_SHARE    8           //  one streaming option in eight changed "recently"
#define SA_EXPIRES_SOON_S   (30 * 86400)    //  expiresSoon: within a month
#define SA_SINCE_BASE       1577836800  //  availableSince: from 2020-01-01 on
#define SA_CAST_MAX         10

typedef struct {
    const char *platform;           //  the catalog's platform slug
    const char *id, *name, *home, *color;
} s_service_t;

//  Services as SA names them; the catalog's google-play has no SA service.
static const s_service_t s_services [] = {
    { "netflix", "netflix", "Netflix", "https://www.netflix.com/", "#E50914" },
    { "prime-video", "prime", "Prime Video", "https://www.amazon.com/gp/video/storefront/", "#00A8E1" },
    { "disney-plus", "disney", "Disney+", "https://www.disneyplus.com/", "#01137c" },
    { "max", "hbo", "Max", "https://play.max.com/", "#002BE7" },
    { "hulu", "hulu", "Hulu", "https://www.hulu.com/", "#1CE783" },
    { "peacock", "peacock", "Peacock", "https://www.peacocktv.com/", "#000000" },
    { "paramount-plus", "paramount", "Paramount+", "https://www.paramountplus.com/", "#0064FF" },
    { "apple-tv-plus", "apple", "Apple TV", "https://tv.apple.com/", "#000000" },
    { "apple-tv", "apple", "Apple TV", "https://tv.apple.com/", "#000000" },
    { "tubi", "tubi", "Tubi", "https://tubitv.com/", "#FFFF13" },
    { "pluto-tv", "plutotv", "Pluto TV", "https://pluto.tv/", "#FFF200" },
    { NULL, NULL, NULL, NULL, NULL }
};

static const s_service_t *
s_service (const char *platform)
{
    for (const s_service_t *s = s_services; s->platform; s++)
        if (strcmp (s->platform, platform) == 0)
            return s;
    return NULL;
}

//  RapidAPI's bodies: {"message": …} (and {"messages", "info"} from its gateway).
static void
s_fail (sim_call_t *call, sim_fail_t why, const char *detail, int retry_after_s)
{
    (void) retry_after_s;
    switch (why) {
        case SIM_FAIL_UNAUTHORIZED:
            sim_call_reply (call, 401, json_pack ("{s:s}", "message",
                "Invalid API key. Go to https://docs.rapidapi.com/docs/keys for more info."));
            break;
        case SIM_FAIL_BAD_KEY:
            sim_call_reply (call, 403, json_pack ("{s:s}", "message", "You are not subscribed to this API."));
            break;
        case SIM_FAIL_NOT_FOUND:
            sim_call_reply (call, 404, json_pack ("{s:s}", "message", detail ? detail : "Show not found"));
            break;
        case SIM_FAIL_BAD_REQUEST:
            sim_call_reply (call, 400, json_pack ("{s:s}", "message", detail ? detail : "Bad request"));
            break;
        case SIM_FAIL_RATE_LIMITED:
            sim_call_reply (call, 429, json_pack ("{s:s}", "message", "Too many requests"));
            break;
        case SIM_FAIL_QUOTA:
            sim_call_reply (call, 429, json_pack ("{s:s}", "message",
                "You have exceeded the MONTHLY quota for Requests on your current plan, BASIC. Upgrade your plan at "
                "https://rapidapi.com/movie-of-the-night-movie-of-the-night-default/api/streaming-availability"));
            break;
        case SIM_FAIL_500:
            sim_call_reply (call, 500, json_pack ("{s:s}", "message", "Internal Server Error"));
            break;
        case SIM_FAIL_502:
            sim_call_reply (call, 502, json_pack ("{s:s, s:s}",
                "messages", "The API is unreachable, please contact the API provider",
                "info", "Your Client (working) ---> Gateway (working) ---> API (not working)"));
            break;
        case SIM_FAIL_503:
            sim_call_reply (call, 503, json_pack ("{s:s}", "message", "Service Unavailable"));
            break;
    }
}

static void
s_key (sim_call_t *call, char *key, size_t size)
{
    const char *header = sim_call_request_header (call, "X-RapidAPI-Key");
    snprintf (key, size, "%s", header ? header : "");
}

static int
s_cost (const sim_call_t *call)
{
    (void) call;
    return 1;
}

//  RapidAPI reports the plan's request window on every answer.
static void
s_quota_headers (sim_call_t *call, long limit, long used, long reset_s)
{
    sim_call_header (call, "X-RateLimit-Requests-Limit", "%ld", limit);
    sim_call_header (call, "X-RateLimit-Requests-Remaining", "%ld", used < limit ? limit - used : 0);
    sim_call_header (call, "X-RateLimit-Requests-Reset", "%ld", reset_s);
}

static json_t *
s_service_info (const s_service_t *s)
{
    char light [160], dark [160], white [160];
    snprintf (light, sizeof light, "https://media.movieofthenight.com/services/%s/logo-light-theme.svg", s->id);
    snprintf (dark, sizeof dark, "https://media.movieofthenight.com/services/%s/logo-dark-theme.svg", s->id);
    snprintf (white, sizeof white, "https://media.movieofthenight.com/services/%s/logo-white.svg", s->id);
    return json_pack ("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "id", s->id, "name", s->name,
                      "homePage", s->home, "themeColorCode", s->color, "imageSet",
                      "lightThemeImage", light, "darkThemeImage", dark, "whiteImage", white);
}

//  SA's option type for the catalog's: ad-supported counts as "free".
static const char *
s_option_type (const char *type)
{
    return strcmp (type, "ads") == 0 ? "free" : type;
}

//  "2027-07-01T00:00:00Z" as Unix time; 0 when unreadable.
static long long
s_unix_time (const char *text)
{
    struct tm tm = { 0 };
    if (!text || !strptime (text, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (long long) timegm (&tm);
}

//  One catalog availability entry as an SA streaming option; NULL when SA
//  does not carry that platform.
static json_t *
s_option (const sim_item_t *item, const json_t *entry)
{
    const s_service_t *service = s_service (json_string_value (json_object_get (entry, "platform")));
    if (!service)
        return NULL;
    const char *type = json_string_value (json_object_get (entry, "type"));
    const char *quality = json_string_value (json_object_get (entry, "quality"));
    json_t *out = json_pack ("{s:o, s:s, s:s, s:s, s:[{s:s}], s:[{s:b, s:{s:s}}]}",
        "service", s_service_info (service), "type", s_option_type (type ? type : "subscription"),
        "link", json_string_value (json_object_get (entry, "deep_link")),
        "quality", quality && strcmp (quality, "hdr") == 0 ? "uhd" : quality ? quality : "hd",
        "audios", "language", "eng", "subtitles", "closedCaptions", 0, "locale", "language", "eng");
    const json_t *price = json_object_get (entry, "price");
    const char *currency = json_string_value (json_object_get (entry, "currency"));
    if (json_is_number (price) && currency) {
        char amount [32], formatted [48];
        snprintf (amount, sizeof amount, "%.2f", json_number_value (price));
        snprintf (formatted, sizeof formatted, "%s %s", amount, currency);
        json_object_set_new (out, "price", json_pack ("{s:s, s:s, s:s}", "amount", amount,
                                                      "currency", currency, "formatted", formatted));
    }
    long long expires = s_unix_time (json_string_value (json_object_get (entry, "expires_at")));
    json_object_set_new (out, "expiresSoon", json_boolean (expires > 0 && expires - time (NULL) < SA_EXPIRES_SOON_S));
    if (expires > 0)
        json_object_set_new (out, "expiresOn", json_integer (expires));
    json_object_set_new (out, "availableSince", json_integer (SA_SINCE_BASE
        + (json_int_t) (sim_hash (service->id, item->tmdb) % (3 * 365 * 86400))));
    return out;
}

//  streamingOptions: {"us": [...], ...}, only country's when given.
static json_t *
s_streaming_options (const sim_item_t *item, const char *country)
{
    json_t *out = json_object ();
    size_t index;
    const json_t *entry;
    json_array_foreach (json_object_get (item->doc, "availability"), index, entry) {
        const char *region = json_string_value (json_object_get (entry, "region"));
        if (!region || (country && strcasecmp (region, country) != 0))
            continue;
        json_t *option = s_option (item, entry);
        if (!option)
            continue;
        char key [8];
        snprintf (key, sizeof key, "%.2s", region);
        for (char *c = key; *c; c++)
            *c = (char) (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        json_t *list = json_object_get (out, key);
        if (!list)
            json_object_set_new (out, key, list = json_array ());
        json_array_append_new (list, option);
    }
    return out;
}

//  SA genre ids are lower-case slugs ("scifi" for Science Fiction).
static json_t *
s_genres (const sim_item_t *item)
{
    json_t *out = json_array ();
    size_t index;
    const json_t *g;
    json_array_foreach (json_object_get (item->doc, "genres"), index, g) {
        const char *name = json_string_value (json_object_get (g, "name"));
        if (!name || strcmp (name, "TV Movie") == 0 || strcmp (name, "Foreign") == 0)
            continue;
        char id [32];
        if (strcmp (name, "Science Fiction") == 0)
            snprintf (id, sizeof id, "scifi");
        else {
            snprintf (id, sizeof id, "%s", name);
            for (char *c = id; *c; c++)
                *c = (char) (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c == ' ' ? '_' : *c);
        }
        json_array_append_new (out, json_pack ("{s:s, s:s}", "id", id, "name", name));
    }
    return out;
}

static json_t *
s_image_set (const sim_item_t *item)
{
    json_t *vertical = json_object (), *horizontal = json_object ();
    static const int vw [] = { 240, 360, 480, 600, 720 }, hw [] = { 360, 480, 720, 1080, 1440 };
    char url [160];
    for (int i = 0; i < 5; i++) {
        char key [8];
        snprintf (key, sizeof key, "w%d", vw [i]);
        snprintf (url, sizeof url, "https://cdn.movieofthenight.com/show/%lld/poster/vertical/en/%d.jpg",
                  item->tmdb, vw [i]);
        json_object_set_new (vertical, key, json_string (url));
        snprintf (key, sizeof key, "w%d", hw [i]);
        snprintf (url, sizeof url, "https://cdn.movieofthenight.com/show/%lld/poster/horizontal/en/%d.jpg",
                  item->tmdb, hw [i]);
        json_object_set_new (horizontal, key, json_string (url));
    }
    return json_pack ("{s:o, s:o}", "verticalPoster", vertical, "horizontalPoster", horizontal);
}

//  A Show object (v4).
static json_t *
s_show (const sim_item_t *item, const char *country)
{
    char id [24], tmdb [32];
    snprintf (id, sizeof id, "%lld", SA_ID_BASE + item->tmdb);
    snprintf (tmdb, sizeof tmdb, "movie/%lld", item->tmdb);
    json_t *directors = json_array (), *cast = json_array ();
    const json_t *credits = json_object_get (item->doc, "credits");
    size_t index;
    const json_t *person;
    json_array_foreach (json_object_get (credits, "crew"), index, person)
        if (json_is_string (json_object_get (person, "job"))
        &&  strcmp (json_string_value (json_object_get (person, "job")), "Director") == 0
        &&  json_is_string (json_object_get (person, "name")))
            json_array_append (directors, json_object_get (person, "name"));
    json_array_foreach (json_object_get (credits, "cast"), index, person)
        if (json_array_size (cast) < SA_CAST_MAX && json_is_string (json_object_get (person, "name")))
            json_array_append (cast, json_object_get (person, "name"));
    json_t *out = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:o, s:i, s:i, s:o, s:o}",
        "itemType", "show", "showType", "movie", "id", id, "imdbId", item->imdb, "tmdbId", tmdb,
        "title", sim_item_str (item, "title"), "overview", sim_item_str (item, "overview"),
        "releaseYear", item->year, "originalTitle", sim_item_str (item, "original_title"),
        "genres", s_genres (item), "directors", directors, "cast", cast,
        "rating", (int) (sim_item_num (item, "vote_average") * 10 + 0.5),
        "runtime", (int) sim_item_num (item, "runtime"),
        "imageSet", s_image_set (item), "streamingOptions", s_streaming_options (item, country));
    return out;
}

//  A show id as SA accepts it: its own id, an IMDb id, or movie/<tmdb>
//  (percent-encoded as movie%2F<tmdb> in the path).
static const sim_item_t *
s_find (const sim_call_t *call, const char *id)
{
    char text [64];
    snprintf (text, sizeof text, "%s", id);
    char *encoded = strstr (text, "%2F");
    if (!encoded)
        encoded = strstr (text, "%2f");
    if (encoded) {
        *encoded = '/';
        memmove (encoded + 1, encoded + 3, strlen (encoded + 3) + 1);
    }
    if (strncmp (text, "tt", 2) == 0)
        return sim_catalog_by_imdb (call->catalog, text);
    if (strncmp (text, "movie/", 6) == 0)
        return strspn (text + 6, "0123456789") == strlen (text + 6) && text [6]
             ? sim_catalog_by_tmdb (call->catalog, atoll (text + 6)) : NULL;
    if (*text && strspn (text, "0123456789") == strlen (text) && strlen (text) < 12)
        return sim_catalog_by_tmdb (call->catalog, atoll (text) - SA_ID_BASE);
    return NULL;
}

//  country: an optional (or required) ISO 3166-1 alpha-2 code.
static int
s_country (sim_call_t *call, bool required, const char **country)
{
    *country = sim_call_param (call, "country");
    if ((!*country && required) || (*country && (strlen (*country) != 2))) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "country: a 2-letter ISO 3166-1 code is required", 0);
        return -1;
    }
    return 0;
}

//  Does item have an option in country (on one of catalogs, "netflix,prime")?
static bool
s_available (const sim_item_t *item, const char *country, const char *catalogs)
{
    size_t index;
    const json_t *entry;
    json_array_foreach (json_object_get (item->doc, "availability"), index, entry) {
        const char *region = json_string_value (json_object_get (entry, "region"));
        const s_service_t *service = s_service (json_string_value (json_object_get (entry, "platform")));
        if (!service || !region || strcasecmp (region, country) != 0)
            continue;
        if (!catalogs || !*catalogs)
            return true;
        size_t n = strlen (service->id);
        for (const char *c = catalogs; (c = strstr (c, service->id)) != NULL; c += n)
            if ((c == catalogs || c [-1] == ',') && (c [n] == '\0' || c [n] == ',' || c [n] == '.'))
                return true;
    }
    return false;
}

//  A cursor is the offset of the next page ("20"); NULL is the start.
static long
s_cursor (sim_call_t *call)
{
    const char *cursor = sim_call_param (call, "cursor");
    if (!cursor)
        return 0;
    char *end;
    long value = strtol (cursor, &end, 10);
    if (!*cursor || *end || value < 0) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "cursor: not a cursor this API returned", 0);
        return -1;
    }
    return value;
}

static void
s_search_filters (sim_call_t *call)
{
    const char *country, *catalogs = sim_call_param (call, "catalogs");
    const char *show_type = sim_call_param (call, "show_type"), *keyword = sim_call_param (call, "keyword");
    const char *genres = sim_call_param (call, "genres"), *order = sim_call_param (call, "order_by");
    long offset;
    if (s_country (call, true, &country) != 0 || (offset = s_cursor (call)) < 0)
        return;
    sim_order_t by = SIM_ORDER_POPULARITY;
    if (order && strcmp (order, "rating") == 0)
        by = SIM_ORDER_RATING;
    else
    if (order && strcmp (order, "release_date") == 0)
        by = SIM_ORDER_RELEASE;
    json_t *shows = json_array ();
    long seen = 0;
    bool more = false;
    for (size_t i = 0; i < sim_catalog_size (call->catalog) && !more; i++) {
        const sim_item_t *item = sim_catalog_at (call->catalog, by, i);
        if ((show_type && strcmp (show_type, "movie") != 0)
        ||  (keyword && !sim_item_matches (item, keyword))
        ||  !s_available (item, country, catalogs))
            continue;
        if (genres) {
            json_t *list = s_genres (item);
            bool hit = false;
            size_t index;
            json_t *g;
            json_array_foreach (list, index, g)
                hit = hit || strstr (genres, json_string_value (json_object_get (g, "id"))) != NULL;
            json_decref (list);
            if (!hit)
                continue;
        }
        if (seen >= offset + SA_PAGE_SIZE)
            more = true;
        else
        if (seen >= offset)
            json_array_append_new (shows, s_show (item, country));
        seen++;
    }
    json_t *out = json_pack ("{s:o, s:b}", "shows", shows, "hasMore", more);
    if (more) {
        char next [24];
        snprintf (next, sizeof next, "%ld", offset + SA_PAGE_SIZE);
        json_object_set_new (out, "nextCursor", json_string (next));
    }
    sim_call_reply (call, 200, out);
}

static void
s_search_title (sim_call_t *call)
{
    const char *country, *title = sim_call_param (call, "title");
    if (s_country (call, true, &country) != 0)
        return;
    if (!title || !*title) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "title: a title to search for is required", 0);
        return;
    }
    json_t *shows = json_array ();
    for (size_t i = 0; i < sim_catalog_size (call->catalog) && json_array_size (shows) < SA_TITLE_MAX; i++) {
        const sim_item_t *item = sim_catalog_at (call->catalog, SIM_ORDER_POPULARITY, i);
        if (sim_item_matches (item, title))
            json_array_append_new (shows, s_show (item, country));
    }
    sim_call_reply (call, 200, shows);
}

//  /changes: a deterministic eighth of the country's streaming options,
//  "new" (or the change_type asked) at a time within the last week.
static void
s_changes (sim_call_t *call)
{
    const char *country, *change_type = sim_call_param (call, "change_type");
    const char *catalogs = sim_call_param (call, "catalogs");
    long offset;
    if (s_country (call, true, &country) != 0 || (offset = s_cursor (call)) < 0)
        return;
    static const char *const types [] = { "new", "removed", "updated", "expiring", "upcoming", NULL };
    if (!change_type)
        change_type = "new";
    bool known = false;
    for (const char *const *t = types; *t; t++)
        known = known || strcmp (*t, change_type) == 0;
    if (!known) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "change_type: one of new, removed, updated, expiring, upcoming", 0);
        return;
    }
    time_t day = time (NULL) / 86400 * 86400;
    json_t *changes = json_array (), *shows = json_object ();
    long seen = 0;
    bool more = false;
    for (size_t i = 0; i < sim_catalog_size (call->catalog) && !more; i++) {
        const sim_item_t *item = sim_catalog_at (call->catalog, SIM_ORDER_ID, i);
        size_t index;
        const json_t *entry;
        json_array_foreach (json_object_get (item->doc, "availability"), index, entry) {
            const char *region = json_string_value (json_object_get (entry, "region"));
            const s_service_t *service = s_service (json_string_value (json_object_get (entry, "platform")));
            if (!service || !region || strcasecmp (region, country) != 0
            ||  (catalogs && !strstr (catalogs, service->id))
            ||  sim_hash (change_type, item->tmdb * 64 + (long long) index) % SA_CHANGES_SHARE != 0)
                continue;
            if (seen >= offset + SA_CHANGES_PAGE) {
                more = true;
                break;
            }
            if (seen++ < offset)
                continue;
            char id [24];
            snprintf (id, sizeof id, "%lld", SA_ID_BASE + item->tmdb);
            const char *type = json_string_value (json_object_get (entry, "type"));
            json_int_t when = (json_int_t) day - (json_int_t) (sim_hash ("when", item->tmdb) % (7 * 86400));
            if (strcmp (change_type, "expiring") == 0 || strcmp (change_type, "upcoming") == 0)
                when += 14 * 86400;
            json_array_append_new (changes, json_pack ("{s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:s}",
                "changeType", change_type, "itemType", "show", "showId", id, "showType", "movie",
                "service", s_service_info (service), "streamingOptionType", s_option_type (type ? type : "subscription"),
                "timestamp", when, "link", json_string_value (json_object_get (entry, "deep_link"))));
            if (!json_object_get (shows, id))
                json_object_set_new (shows, id, s_show (item, country));
        }
    }
    json_t *out = json_pack ("{s:o, s:o, s:b}", "changes", changes, "shows", shows, "hasMore", more);
    if (more) {
        char next [24];
        snprintf (next, sizeof next, "%ld", offset + SA_CHANGES_PAGE);
        json_object_set_new (out, "nextCursor", json_string (next));
    }
    sim_call_reply (call, 200, out);
}

static void
s_serve (sim_call_t *call)
{
    const char *path = call->path, *country;
    if (strcmp (call->method, "GET") != 0)
        s_fail (call, SIM_FAIL_NOT_FOUND, "Endpoint '' does not exist", 0);
    else
    if (strcmp (path, "/shows/search/filters") == 0)
        s_search_filters (call);
    else
    if (strcmp (path, "/shows/search/title") == 0)
        s_search_title (call);
    else
    if (strcmp (path, "/changes") == 0)
        s_changes (call);
    else
    if (strncmp (path, "/shows/", 7) == 0) {
        if (s_country (call, false, &country) != 0)
            return;
        const sim_item_t *item = s_find (call, path + 7);
        if (!item)
            s_fail (call, SIM_FAIL_NOT_FOUND, "Show not found", 0);
        else
            sim_call_reply (call, 200, s_show (item, country));
    }
    else {
        char message [300];
        snprintf (message, sizeof message, "Endpoint '%.200s' does not exist", path);
        s_fail (call, SIM_FAIL_NOT_FOUND, message, 0);
    }
}

const sim_provider_desc_t sim_sa_desc = {
    .name = "sa", .prefix = "/sa", .etag = false,
    .serve = s_serve, .fail = s_fail, .key = s_key, .cost = s_cost,
    .quota_headers = s_quota_headers, .per_minute = true
};
