/*  Watchmode v1: GET /title/{id}/sources/ answers an array of offers:
        {source_id, name, type:sub|rent|buy|free|tve, region:"US",
         web_url, format:"SD"|"HD"|"4K", price: number|null}
    Watchmode ids accept IMDb ids and "movie-<tmdb id>" directly.  */
#include "providers.h"
#include "providers_util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int
watchmode_sources_url (const char *base, const char *key, const char *id, const char *regions,
                       char *url, size_t len)
{
    if (!base || !key || !provider_id_safe (key) || !provider_id_safe (id) || strchr (id, '/')
    ||  !regions || strlen (regions) != 2 || !isalpha ((unsigned char) regions [0])
    ||  !isalpha ((unsigned char) regions [1]))
        return -1;
    return provider_url (url, len, "%s/title/%s/sources/?apiKey=%s&regions=%c%c", base, id, key,
                         toupper ((unsigned char) regions [0]), toupper ((unsigned char) regions [1]));
}

json_t *
watchmode_parse_sources (const char *body, size_t len, char *err, size_t errlen)
{
    json_t *root = provider_load (body, len, "watchmode sources", err, errlen);
    if (!root)
        return NULL;
    json_t *out = NULL;
    if (!json_is_array (root))
        provider_fail (err, errlen, "watchmode sources: not an array");
    else {
        out = json_array ();
        const char *what = "watchmode source";
        size_t index;
        const json_t *item;
        json_array_foreach (root, index, item) {
            const char *name, *type, *region, *link, *format;
            const json_t *price = json_object_get (item, "price");
            if (!json_is_object (item)
            ||  provider_req_str (item, "name", AV_PLATFORM_MAX, &name, what, err, errlen)
            ||  provider_req_str (item, "type", AV_TYPE_MAX, &type, what, err, errlen)
            ||  provider_req_str (item, "region", AV_REGION_MAX, &region, what, err, errlen)
            ||  provider_opt_str (item, "web_url", AV_LINK_MAX, &link, what, err, errlen)
            ||  provider_opt_str (item, "format", AV_QUALITY_MAX, &format, what, err, errlen)
            ||  (price && !json_is_null (price)
                 && !(json_is_number (price) && json_number_value (price) >= 0
                      && json_number_value (price) < 1e6))) {
                if (!json_is_object (item) || (price && !json_is_null (price)))
                    provider_fail (err, errlen, "watchmode sources: [%zu] is not an offer", index);
                json_decref (out);
                out = NULL;
                break;
            }
            if (json_array_size (out) >= AV_OFFERS_MAX)
                continue;
            //  Watchmode's "tve" is a cable login: the resolver knows it as
            //  subscription only by its synonym table, so pass "sub".
            json_t *offer = json_pack ("{s:s, s:s, s:s}", "platform", name, "region", region,
                                       "type", strcmp (type, "tve") == 0 ? "sub" : type);
            if (!offer) {
                json_decref (out);
                out = NULL;
                provider_fail (err, errlen, "out of memory");
                break;
            }
            if (link)
                json_object_set_new (offer, "deep_link", json_string (link));
            if (format)
                json_object_set_new (offer, "quality", json_string (format));
            //  Watchmode has no currency field: prices are in the region's
            //  currency, which only the US (USD) is requested in by default.
            if (json_is_number (price) && strcmp (region, "US") == 0) {
                json_object_set_new (offer, "price", json_real (json_number_value (price)));
                json_object_set_new (offer, "currency", json_string ("USD"));
            }
            json_array_append_new (out, offer);
        }
    }
    json_decref (root);
    return out;
}
