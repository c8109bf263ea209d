/*  Streaming Availability v4 (RapidAPI): GET /shows/{id} answers a show
    with streamingOptions, an object of country code -> list of options:
        {service:{id,name}, type:subscription|rent|buy|free|addon,
         link, quality:sd|hd|qhd|uhd, price:{amount:"3.99",currency:"USD"},
         expiresOn: unix seconds}
    price.amount is a decimal string in v4 (a number is taken too).  */
#include "providers.h"
#include "providers_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
sa_show_url (const char *base, const char *id, const char *country, char *url, size_t len)
{
    if (!base || !provider_id_safe (id) || !country || strlen (country) != 2
    ||  !isalpha ((unsigned char) country [0]) || !isalpha ((unsigned char) country [1]))
        return -1;
    return provider_url (url, len, "%s/shows/%s?country=%c%c&output_language=en", base, id,
                         tolower ((unsigned char) country [0]), tolower ((unsigned char) country [1]));
}

//  Unix seconds as RFC 3339 UTC into text. Returns 0 or -1.
static int
s_rfc3339 (json_int_t seconds, char text [40])
{
    if (seconds < 0 || seconds > 32503680000LL)        //  year 3000
        return -1;
    time_t t = (time_t) seconds;
    struct tm tm;
    if (!gmtime_r (&t, &tm))
        return -1;
    return strftime (text, 40, "%Y-%m-%dT%H:%M:%SZ", &tm) ? 0 : -1;
}

//  One option as a raw.availability object appended to out. Returns 0 or -1.
static int
s_option (const json_t *option, const char *country, json_t *out, char *err, size_t errlen)
{
    const char *what = "sa option";
    if (!json_is_object (option))
        return provider_fail (err, errlen, "%s: not an object", what);
    const json_t *service = json_object_get (option, "service");
    if (!json_is_object (service))
        return provider_fail (err, errlen, "%s: service is not an object", what);
    const char *platform, *type, *link, *quality;
    if (provider_req_str (service, "id", AV_PLATFORM_MAX, &platform, what, err, errlen)
    ||  provider_req_str (option, "type", AV_TYPE_MAX, &type, what, err, errlen)
    ||  provider_opt_str (option, "link", AV_LINK_MAX, &link, what, err, errlen)
    ||  provider_opt_str (option, "quality", AV_QUALITY_MAX, &quality, what, err, errlen))
        return -1;
    json_t *offer = json_pack ("{s:s, s:s, s:s}", "platform", platform, "region", country,
                               "type", type);
    if (!offer)
        return provider_fail (err, errlen, "out of memory");
    if (link)
        json_object_set_new (offer, "deep_link", json_string (link));
    if (quality)
        json_object_set_new (offer, "quality", json_string (quality));
    const json_t *price = json_object_get (option, "price");
    if (price && !json_is_null (price)) {
        const json_t *amount = json_object_get (price, "amount");
        const char *currency = NULL;
        double value = -1;
        if (json_is_string (amount)) {
            char *end;
            value = strtod (json_string_value (amount), &end);
            if (end == json_string_value (amount) || *end)
                value = -1;
        }
        else if (json_is_number (amount))
            value = json_number_value (amount);
        if (!json_is_object (price) || !(value >= 0 && value < 1e6)
        ||  provider_req_str (price, "currency", AV_CURRENCY_MAX, &currency, what, err, errlen)) {
            json_decref (offer);
            return provider_fail (err, errlen, "%s: price is not {amount, currency}", what);
        }
        json_object_set_new (offer, "price", json_real (value));
        json_object_set_new (offer, "currency", json_string (currency));
    }
    const json_t *expires = json_object_get (option, "expiresOn");
    if (expires && !json_is_null (expires)) {
        char text [40];
        if (!json_is_integer (expires) || s_rfc3339 (json_integer_value (expires), text)) {
            json_decref (offer);
            return provider_fail (err, errlen, "%s: expiresOn is not a unix time", what);
        }
        json_object_set_new (offer, "expires_at", json_string (text));
    }
    if (json_array_size (out) >= AV_OFFERS_MAX) {
        json_decref (offer);
        return 0;
    }
    json_array_append_new (out, offer);
    return 0;
}

json_t *
sa_parse_show (const char *body, size_t len, char *err, size_t errlen)
{
    json_t *root = provider_load (body, len, "sa show", err, errlen);
    if (!root)
        return NULL;
    json_t *out = NULL;
    const json_t *options = json_object_get (root, "streamingOptions");
    if (!json_is_object (root))
        provider_fail (err, errlen, "sa show: not an object");
    else if (options && !json_is_object (options))
        provider_fail (err, errlen, "sa show: streamingOptions is not an object");
    else {
        out = json_array ();
        const char *country;
        const json_t *list;
        json_object_foreach ((json_t *) options, country, list) {
            if (strlen (country) != 2 || !json_is_array (list)) {
                provider_fail (err, errlen, "sa show: streamingOptions.%.8s is not a country's list", country);
                json_decref (out);
                out = NULL;
                break;
            }
            size_t index;
            const json_t *option;
            json_array_foreach (list, index, option) {
                if (s_option (option, country, out, err, errlen)) {
                    json_decref (out);
                    out = NULL;
                    break;
                }
            }
            if (!out)
                break;
        }
    }
    json_decref (root);
    return out;
}
