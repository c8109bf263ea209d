/*  YouTube Data API v3 under /youtube/v3: search (type=video) and videos.
    Shapes from the API reference (developers.google.com/youtube/v3/docs:
    search#resource, videos#resource, errors). Every catalog title has a
    trailer and a teaser with 11-character ids, the ones TMDB's videos name.
    Quota is counted in units as YouTube does: search.list 100, videos.list 1.  */
#include "sim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define YT_SEARCH_COST      100     //  units per search.list call
#define YT_LIST_COST        1       //  units per videos.list call
#define YT_MAX_RESULTS      50      //  maxResults bound
#define YT_DEFAULT_RESULTS  5       //  maxResults default
#define YT_IDS_MAX          50      //  videos.list: at most 50 ids

//  Google's error envelope: {error:{code, message, errors:[{message, domain, reason}], status}}.
static void
s_error (sim_call_t *call, int code, const char *message, const char *domain, const char *reason, const char *status)
{
    sim_call_reply (call, code, json_pack ("{s:{s:i, s:s, s:[{s:s, s:s, s:s}], s:s}}", "error",
        "code", code, "message", message, "errors", "message", message, "domain", domain, "reason", reason,
        "status", status));
}

static void
s_fail (sim_call_t *call, sim_fail_t why, const char *detail, int retry_after_s)
{
    switch (why) {
        case SIM_FAIL_UNAUTHORIZED:
            s_error (call, 403, "Method doesn't allow unregistered callers (callers without established identity). "
                     "Please use API Key or other form of API consumer identity to call this API.",
                     "global", "forbidden", "PERMISSION_DENIED");
            break;
        case SIM_FAIL_BAD_KEY:
            s_error (call, 400, "API key not valid. Please pass a valid API key.", "global", "badRequest",
                     "INVALID_ARGUMENT");
            break;
        case SIM_FAIL_NOT_FOUND:
            s_error (call, 404, "Not Found", "global", "notFound", "NOT_FOUND");
            break;
        case SIM_FAIL_BAD_REQUEST:
            s_error (call, 400, detail ? detail : "Invalid argument.", "youtube.parameter", "invalidParameter",
                     "INVALID_ARGUMENT");
            break;
        case SIM_FAIL_RATE_LIMITED:
            s_error (call, 429, "Resource has been exhausted (e.g. check quota).", "global", "rateLimitExceeded",
                     "RESOURCE_EXHAUSTED");
            sim_call_header (call, "Retry-After", "%d", retry_after_s);
            break;
        case SIM_FAIL_QUOTA:
            s_error (call, 403, "The request cannot be completed because you have exceeded your "
                     "<a href=\"/youtube/v3/getting-started#quota\">quota</a>.", "youtube.quota", "quotaExceeded",
                     "PERMISSION_DENIED");
            break;
        case SIM_FAIL_500:
            s_error (call, 500, "Internal error encountered.", "global", "backendError", "INTERNAL");
            break;
        case SIM_FAIL_502:
            sim_call_reply_text (call, 502, "text/html; charset=UTF-8",
                "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 502 (Server Error)!!1</title>\n"
                "  <p><b>502.</b> <ins>That\xe2\x80\x99s an error.</ins>\n  <p>The server encountered a temporary error "
                "and could not complete your request.<p>Please try again in 30 seconds.  <ins>That\xe2\x80\x99s all we know.</ins>\n");
            break;
        case SIM_FAIL_503:
            s_error (call, 503, "The service is currently unavailable.", "global", "backendError", "UNAVAILABLE");
            break;
    }
}

static void
s_key (sim_call_t *call, char *key, size_t size)
{
    const char *param = sim_call_param (call, "key");
    snprintf (key, size, "%s", param ? param : "");
}

static int
s_cost (const sim_call_t *call)
{
    return strncmp (call->path, "/search", 7) == 0 ? YT_SEARCH_COST : YT_LIST_COST;
}

//  YouTube reports no quota in headers (only the console shows it).
static void
s_quota_headers (sim_call_t *call, long limit, long used, long reset_s)
{
    (void) call; (void) limit; (void) used; (void) reset_s;
}

static json_t *
s_thumbnails (const char *video_id)
{
    static const struct { const char *name, *file; int w, h; } sizes [] = {
        { "default", "default", 120, 90 }, { "medium", "mqdefault", 320, 180 }, { "high", "hqdefault", 480, 360 }
    };
    json_t *out = json_object ();
    for (int i = 0; i < 3; i++) {
        char url [96];
        snprintf (url, sizeof url, "https://i.ytimg.com/vi/%s/%s.jpg", video_id, sizes [i].file);
        json_object_set_new (out, sizes [i].name, json_pack ("{s:s, s:i, s:i}", "url", url,
                                                             "width", sizes [i].w, "height", sizes [i].h));
    }
    return out;
}

//  An etag as YouTube writes them (27 base64url characters).
static void
s_etag (const char *salt, long long value, char *out)
{
    static const char alphabet [] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t h = sim_hash (salt, value);
    for (int i = 0; i < 27; i++) {
        if (i % 10 == 0)
            h = sim_hash (salt, (long long) h + i);
        out [i] = alphabet [h & 63];
        h >>= 6;
    }
    out [27] = '\0';
}

//  The snippet of a title's trailer or teaser.
static json_t *
s_snippet (const sim_item_t *item, bool teaser, bool video)
{
    char title [300], description [600], published [32], channel [32];
    snprintf (title, sizeof title, "%s (%d) Official %s", sim_item_str (item, "title"), item->year,
              teaser ? "Teaser" : "Trailer");
    snprintf (description, sizeof description, "%.500s", sim_item_str (item, "overview"));
    const char *date = sim_item_str (item, "release_date");
    snprintf (published, sizeof published, "%.10sT16:00:00Z", *date ? date : "2000-01-01");
    snprintf (channel, sizeof channel, "UC%.22s", "simulatedTrailerChannel0");
    json_t *out = json_pack ("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}",
        "publishedAt", published, "channelId", channel, "title", title, "description", description,
        "thumbnails", s_thumbnails (teaser ? item->teaser : item->trailer), "channelTitle", "Movie Trailers",
        "liveBroadcastContent", "none");
    if (video)
        json_object_set_new (out, "categoryId", json_string ("1"));
    else
        json_object_set_new (out, "publishTime", json_string (published));
    return out;
}

//  Words of q that name a title (drops "official", "trailer", years, …).
static void
s_title_query (const char *q, char *out, size_t size)
{
    static const char *const noise [] = { "official", "trailer", "teaser", "movie", "film", "hd", "4k", NULL };
    char copy [512];
    snprintf (copy, sizeof copy, "%s", q);
    size_t used = 0;
    out [0] = '\0';
    char *save = NULL;
    for (char *word = strtok_r (copy, " +", &save); word; word = strtok_r (NULL, " +", &save)) {
        bool drop = strlen (word) == 4 && strspn (word, "0123456789") == 4;
        for (const char *const *n = noise; *n && !drop; n++)
            drop = strcasecmp (word, *n) == 0;
        if (drop || used + strlen (word) + 2 >= size)
            continue;
        used += (size_t) snprintf (out + used, size - used, "%s%s", used ? " " : "", word);
    }
}

static void
s_search (sim_call_t *call)
{
    const char *q = sim_call_param (call, "q"), *part = sim_call_param (call, "part");
    const char *type = sim_call_param (call, "type");
    long max = sim_call_int (call, "maxResults", YT_DEFAULT_RESULTS, YT_MAX_RESULTS);
    if (!part || !strstr (part, "snippet")) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "No filter selected. Expected one of: part=snippet", 0);
        return;
    }
    if (max < 0) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "Invalid value for parameter maxResults: must be from 0 to 50.", 0);
        return;
    }
    if (type && strcmp (type, "video") != 0) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "Only type=video is served here.", 0);
        return;
    }
    char title [512];
    s_title_query (q ? q : "", title, sizeof title);
    json_t *items = json_array ();
    size_t total = 0;
    for (size_t i = 0; *title && i < sim_catalog_size (call->catalog); i++) {
        const sim_item_t *item = sim_catalog_at (call->catalog, SIM_ORDER_POPULARITY, i);
        if (!sim_item_matches (item, title))
            continue;
        for (int teaser = 0; teaser < 2; teaser++, total++) {
            if ((long) json_array_size (items) >= max)
                continue;
            char etag [28];
            s_etag (teaser ? "search-teaser" : "search-trailer", item->tmdb, etag);
            json_array_append_new (items, json_pack ("{s:s, s:s, s:{s:s, s:s}, s:o}",
                "kind", "youtube#searchResult", "etag", etag,
                "id", "kind", "youtube#video", "videoId", teaser ? item->teaser : item->trailer,
                "snippet", s_snippet (item, teaser, false)));
        }
    }
    char etag [28];
    s_etag (title, (long long) total, etag);
    json_t *out = json_pack ("{s:s, s:s, s:s, s:{s:I, s:i}, s:o}", "kind", "youtube#searchListResponse",
        "etag", etag, "regionCode", "US", "pageInfo", "totalResults", (json_int_t) total,
        "resultsPerPage", (int) max, "items", items);
    if (total > (size_t) max)
        json_object_set_new (out, "nextPageToken", json_string ("CAUQAA"));
    sim_call_reply (call, 200, out);
}

//  ISO 8601 duration of a trailer: 1 to 3 minutes.
static void
s_duration (const sim_item_t *item, bool teaser, char *out, size_t size)
{
    uint64_t h = sim_hash (teaser ? "teaser-length" : "trailer-length", item->tmdb);
    int seconds = teaser ? 45 + (int) (h % 60) : 90 + (int) (h % 90);
    snprintf (out, size, "PT%dM%dS", seconds / 60, seconds % 60);
}

static void
s_videos (sim_call_t *call)
{
    const char *ids = sim_call_param (call, "id"), *part = sim_call_param (call, "part");
    if (!part || !*part) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "Required parameter: part", 0);
        return;
    }
    if (!ids || !*ids) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "No filter selected. Expected one of: id, chart, myRating", 0);
        return;
    }
    json_t *items = json_array ();
    char list [1024];
    snprintf (list, sizeof list, "%s", ids);
    char *save = NULL;
    int count = 0;
    for (char *id = strtok_r (list, ",", &save); id; id = strtok_r (NULL, ",", &save)) {
        if (++count > YT_IDS_MAX) {
            json_decref (items);
            s_fail (call, SIM_FAIL_BAD_REQUEST, "The request specifies more than 50 video ids.", 0);
            return;
        }
        const sim_item_t *item = sim_catalog_by_video (call->catalog, id);
        if (!item)
            continue;
        bool teaser = strcmp (id, item->teaser) == 0;
        char etag [28], duration [16];
        s_etag (teaser ? "video-teaser" : "video-trailer", item->tmdb, etag);
        s_duration (item, teaser, duration, sizeof duration);
        json_t *video = json_pack ("{s:s, s:s, s:s}", "kind", "youtube#video", "etag", etag, "id", id);
        if (strstr (part, "snippet"))
            json_object_set_new (video, "snippet", s_snippet (item, teaser, true));
        if (strstr (part, "contentDetails"))
            json_object_set_new (video, "contentDetails", json_pack ("{s:s, s:s, s:s, s:s, s:b, s:s}",
                "duration", duration, "dimension", "2d", "definition", "hd", "caption", "false",
                "licensedContent", 1, "projection", "rectangular"));
        if (strstr (part, "statistics")) {
            uint64_t h = sim_hash ("views", item->tmdb * 2 + teaser);
            char views [24], likes [24], comments [24];
            snprintf (views, sizeof views, "%llu", (unsigned long long) (h % 50000000));
            snprintf (likes, sizeof likes, "%llu", (unsigned long long) (h % 50000000 / 40));
            snprintf (comments, sizeof comments, "%llu", (unsigned long long) (h % 50000000 / 900));
            json_object_set_new (video, "statistics", json_pack ("{s:s, s:s, s:s, s:s}", "viewCount", views,
                "likeCount", likes, "favoriteCount", "0", "commentCount", comments));
        }
        json_array_append_new (items, video);
    }
    char etag [28];
    s_etag (ids, count, etag);
    size_t n = json_array_size (items);
    sim_call_reply (call, 200, json_pack ("{s:s, s:s, s:o, s:{s:I, s:I}}", "kind", "youtube#videoListResponse",
        "etag", etag, "items", items, "pageInfo", "totalResults", (json_int_t) n, "resultsPerPage", (json_int_t) n));
}

static void
s_serve (sim_call_t *call)
{
    if (strcmp (call->method, "GET") != 0)
        s_fail (call, SIM_FAIL_NOT_FOUND, NULL, 0);
    else
    if (strcmp (call->path, "/search") == 0)
        s_search (call);
    else
    if (strcmp (call->path, "/videos") == 0)
        s_videos (call);
    else
        s_fail (call, SIM_FAIL_NOT_FOUND, NULL, 0);
}

const sim_provider_desc_t sim_youtube_desc = {
    .name = "youtube", .prefix = "/youtube/v3", .etag = false,
    .serve = s_serve, .fail = s_fail, .key = s_key, .cost = s_cost,
    .quota_headers = s_quota_headers, .per_minute = false
};
