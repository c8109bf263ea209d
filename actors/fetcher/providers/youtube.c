/*  YouTube Data v3: search.list (100 units) finds a title's trailer:
        {items:[{id:{kind:"youtube#video", videoId}, snippet:{title, channelTitle}}]}
    A key whose day is spent answers 403 with error.errors[].reason
    "quotaExceeded" (or "dailyLimitExceeded"); the pool rotates past it.  */
#include "providers.h"
#include "providers_util.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#define VIDEOS_MAX     32           //  raw.record videos limit
#define VIDEO_KEY_MAX  64
#define VIDEO_NAME_MAX 512

int
youtube_search_url (const char *base, const char *key, const char *query, char *url, size_t len)
{
    if (!base || !key || !provider_id_safe (key) || !query || !*query || strlen (query) > 512)
        return -1;
    char *escaped = curl_easy_escape (NULL, query, 0);
    if (!escaped)
        return -1;
    int rc = provider_url (url, len,
        "%s/search?part=snippet&type=video&maxResults=5&q=%s&key=%s", base, escaped, key);
    curl_free (escaped);
    return rc;
}

json_t *
youtube_parse_search (const char *body, size_t len, char *err, size_t errlen)
{
    json_t *root = provider_load (body, len, "youtube search", err, errlen);
    if (!root)
        return NULL;
    json_t *out = NULL;
    const json_t *items = json_object_get (root, "items");
    if (!json_is_object (root))
        provider_fail (err, errlen, "youtube search: not an object");
    else if (!json_is_array (items))
        provider_fail (err, errlen, "youtube search: items is not an array");
    else {
        out = json_array ();
        const char *what = "youtube search item";
        size_t index;
        const json_t *item;
        json_array_foreach (items, index, item) {
            const json_t *id = json_object_get (item, "id");
            const json_t *snippet = json_object_get (item, "snippet");
            const char *kind, *video, *title = NULL;
            if (!json_is_object (item) || !json_is_object (id)
            ||  (snippet && !json_is_object (snippet))
            ||  provider_req_str (id, "kind", 64, &kind, what, err, errlen)
            ||  provider_opt_str (id, "videoId", VIDEO_KEY_MAX, &video, what, err, errlen)
            ||  (snippet && provider_opt_str (snippet, "title", VIDEO_NAME_MAX, &title, what, err, errlen))) {
                if (!json_is_object (item) || !json_is_object (id) || (snippet && !json_is_object (snippet)))
                    provider_fail (err, errlen, "youtube search: items[%zu] is not a result", index);
                json_decref (out);
                out = NULL;
                break;
            }
            if (strcmp (kind, "youtube#video") != 0 || !video || !*video)
                continue;           //  channels and playlists are not trailers
            if (json_array_size (out) >= VIDEOS_MAX)
                continue;
            json_t *entry = json_pack ("{s:s, s:s, s:s, s:b}", "site", "youtube", "key", video,
                                       "type", "trailer", "official", 0);
            if (!entry) {
                json_decref (out);
                out = NULL;
                provider_fail (err, errlen, "out of memory");
                break;
            }
            if (title)
                json_object_set_new (entry, "name", json_string (title));
            json_array_append_new (out, entry);
        }
    }
    json_decref (root);
    return out;
}

bool
youtube_is_quota_exceeded (const char *body, size_t len)
{
    json_t *root = json_loadb (body, len, 0, NULL);
    if (!root)
        return false;
    bool exceeded = false;
    const json_t *errors = json_object_get (json_object_get (root, "error"), "errors");
    size_t index;
    const json_t *item;
    json_array_foreach (errors, index, item) {
        const json_t *reason = json_object_get (item, "reason");
        if (json_is_string (reason)
        &&  (strcmp (json_string_value (reason), "quotaExceeded") == 0
          || strcmp (json_string_value (reason), "dailyLimitExceeded") == 0))
            exceeded = true;
    }
    json_decref (root);
    return exceeded;
}
