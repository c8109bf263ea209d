/*  The four providers' request builders and response parsers. Parsers are
    strict: a body that is not the documented shape (malformed JSON, a field
    of the wrong type, a string longer than the schema allows) is an error
    result with a reason, never a partial answer. What they return is in
    the shapes of messages/schema.def (raw.record, raw.availability,
    raw.video) as JSON, ready for mg_msg_from_json.  */
#ifndef PROVIDERS_H_INCLUDED
#define PROVIDERS_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define PROVIDER_URL_MAX 2048

typedef enum {
    PROVIDER_TMDB, PROVIDER_SA, PROVIDER_WATCHMODE, PROVIDER_YOUTUBE, PROVIDER_COUNT
} provider_id_t;

//  "tmdb", "sa", "watchmode", "youtube".
const char *provider_name (provider_id_t id);

//  Provider named name; -1 when unknown.
int provider_by_name (const char *name);

//  ---- TMDB v3 (api_key query parameter) ----

//  GET {base}/{movie|tv}/{id}?append_to_response=credits,videos,keywords,external_ids
int tmdb_details_url (const char *base, const char *key, const char *type, long long id,
                      char *url, size_t len);

//  GET {base}/{trending/movie/day | movie/popular | movie/changes}?page=N
//  (list is "trending", "popular" or "changes").
int tmdb_list_url (const char *base, const char *key, const char *list, int page,
                   char *url, size_t len);

//  A details body as a raw.record (source tmdb). NULL with a reason.
json_t *tmdb_parse_details (const char *body, size_t len, char *err, size_t errlen);

//  A paged list body ({page, results:[{id,...}], total_pages}): up to max
//  ids into ids, *count of them, *total_pages. Returns 0 or -1 with a reason.
int tmdb_parse_ids (const char *body, size_t len, long long *ids, size_t max, size_t *count,
                    int *total_pages, char *err, size_t errlen);

//  ---- Streaming Availability v4 (X-RapidAPI-Key header) ----

//  GET {base}/shows/{id}?country=cc (id "tt..." or "movie/<tmdb>", "tv/<tmdb>").
int sa_show_url (const char *base, const char *id, const char *country, char *url, size_t len);

//  A show body's streamingOptions (every country) as raw.availability
//  objects. NULL with a reason.
json_t *sa_parse_show (const char *body, size_t len, char *err, size_t errlen);

//  ---- Watchmode v1 (apiKey query parameter) ----

//  GET {base}/title/{id}/sources/?regions=cc (id "tt...", "movie-<tmdb>", "tv-<tmdb>").
int watchmode_sources_url (const char *base, const char *key, const char *id,
                           const char *regions, char *url, size_t len);

//  A sources body (an array of offers) as raw.availability objects.
json_t *watchmode_parse_sources (const char *body, size_t len, char *err, size_t errlen);

//  ---- YouTube Data v3 (key query parameter) ----

#define YOUTUBE_SEARCH_UNITS 100    //  search.list costs 100 quota units
#define YOUTUBE_VIDEOS_UNITS 1      //  videos.list costs 1

//  GET {base}/search?part=snippet&type=video&maxResults=5&q=<query>
int youtube_search_url (const char *base, const char *key, const char *query,
                        char *url, size_t len);

//  A search body's video results as raw.video objects (site youtube,
//  type trailer). NULL with a reason.
json_t *youtube_parse_search (const char *body, size_t len, char *err, size_t errlen);

//  Is an error body YouTube's "this key's daily quota is spent"
//  (error.errors[].reason quotaExceeded or dailyLimitExceeded)?
bool youtube_is_quota_exceeded (const char *body, size_t len);

#endif
