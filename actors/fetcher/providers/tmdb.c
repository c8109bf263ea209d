/*  TMDB v3: details with credits, videos, keywords and external ids in one
    call (append_to_response), and the paged id lists the scheduler walks
    (trending, popular, changes). Details map to raw.record through
    records_from_tmdb, the importer's mapping.  */
#include "providers.h"
#include "providers_util.h"
#include "records.h"

#include <stdio.h>
#include <string.h>

#define TMDB_PAGES_MAX 500          //  TMDB serves at most page 500 of any list

int
tmdb_details_url (const char *base, const char *key, const char *type, long long id,
                  char *url, size_t len)
{
    if (!base || !key || id <= 0 || !type || (strcmp (type, "movie") && strcmp (type, "tv"))
    ||  !provider_id_safe (key))
        return -1;
    return provider_url (url, len,
        "%s/%s/%lld?api_key=%s&append_to_response=credits,videos,keywords,external_ids",
        base, type, id, key);
}

int
tmdb_list_url (const char *base, const char *key, const char *list, int page,
               char *url, size_t len)
{
    if (!base || !key || !list || page < 1 || page > TMDB_PAGES_MAX || !provider_id_safe (key))
        return -1;
    const char *path = strcmp (list, "trending") == 0 ? "trending/movie/day"
                     : strcmp (list, "popular") == 0 ? "movie/popular"
                     : strcmp (list, "changes") == 0 ? "movie/changes" : NULL;
    if (!path)
        return -1;
    return provider_url (url, len, "%s/%s?api_key=%s&page=%d", base, path, key, page);
}

json_t *
tmdb_parse_details (const char *body, size_t len, char *err, size_t errlen)
{
    json_t *root = provider_load (body, len, "tmdb details", err, errlen);
    if (!root)
        return NULL;
    json_t *record = NULL;
    const json_t *id = json_object_get (root, "id");
    const char *title = NULL, *name = NULL;
    if (!json_is_object (root))
        provider_fail (err, errlen, "tmdb details: not an object");
    else if (!json_is_integer (id) || json_integer_value (id) <= 0)
        provider_fail (err, errlen, "tmdb details: id is not a positive integer");
    else if (provider_opt_str (root, "title", 1000, &title, "tmdb details", err, errlen) == 0
         &&  provider_opt_str (root, "name", 1000, &name, "tmdb details", err, errlen) == 0) {
        //  Lists the mapping reads must be lists or objects when present.
        static const char *const nested [] = { "credits", "videos", "keywords", "external_ids" };
        for (size_t i = 0; i < sizeof nested / sizeof nested [0]; i++) {
            const json_t *part = json_object_get (root, nested [i]);
            if (part && !json_is_object (part) && !json_is_null (part)) {
                provider_fail (err, errlen, "tmdb details: %s is not an object", nested [i]);
                json_decref (root);
                return NULL;
            }
        }
        record = records_from_tmdb (root, err, errlen);
    }
    json_decref (root);
    return record;
}

int
tmdb_parse_ids (const char *body, size_t len, long long *ids, size_t max, size_t *count,
                int *total_pages, char *err, size_t errlen)
{
    *count = 0;
    *total_pages = 0;
    json_t *root = provider_load (body, len, "tmdb list", err, errlen);
    if (!root)
        return -1;
    int rc = -1;
    const json_t *results = json_object_get (root, "results");
    const json_t *pages = json_object_get (root, "total_pages");
    if (!json_is_object (root))
        provider_fail (err, errlen, "tmdb list: not an object");
    else if (!json_is_array (results))
        provider_fail (err, errlen, "tmdb list: results is not an array");
    else if (pages && !json_is_integer (pages))
        provider_fail (err, errlen, "tmdb list: total_pages is not an integer");
    else {
        rc = 0;
        size_t index;
        const json_t *item;
        json_array_foreach (results, index, item) {
            const json_t *id = json_object_get (item, "id");
            if (!json_is_object (item) || !json_is_integer (id) || json_integer_value (id) <= 0) {
                rc = provider_fail (err, errlen, "tmdb list: results[%zu].id is not a positive integer", index);
                break;
            }
            if (*count < max)
                ids [(*count)++] = json_integer_value (id);
        }
        json_int_t total = pages ? json_integer_value (pages) : 1;
        *total_pages = total < 0 ? 0 : total > TMDB_PAGES_MAX ? TMDB_PAGES_MAX : (int) total;
    }
    json_decref (root);
    return rc;
}
