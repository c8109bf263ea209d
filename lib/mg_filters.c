/*  Checks of the request values every list endpoint takes (catalog discover,
    search): regions, platform slugs and paging, with errors naming the parameter.  */
#include "mg_filters.h"

#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

//  True for A-Z and a-z only (isalpha depends on the locale).
static bool
s_ascii_letter (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int
mg_filters_region (const char *text, char out [3], const char *param, mg_error_t *err)
{
    assert (out && param && err);
    if (!text || strlen (text) != 2 || !s_ascii_letter (text [0]) || !s_ascii_letter (text [1]))
        return mg_actor_fail (err, "INVALID_PARAMETER", param,
                              "%s must be an ISO 3166-1 alpha-2 country code (e.g. US)", param);
    out [0] = (char) toupper ((unsigned char) text [0]);
    out [1] = (char) toupper ((unsigned char) text [1]);
    out [2] = '\0';
    return 0;
}

int
mg_filters_offers_region (const char *offers_region, const char *const *fallbacks, size_t count, char out [3],
                          const char **region_out, mg_error_t *err)
{
    assert (fallbacks && out && region_out && err);
    *region_out = NULL;
    if (offers_region && strcasecmp (offers_region, "all") == 0)
        return 0;
    if (offers_region) {
        if (strlen (offers_region) != 2 || !s_ascii_letter (offers_region [0]) || !s_ascii_letter (offers_region [1]))
            return mg_actor_fail (err, "INVALID_PARAMETER", "offers_region",
                                  "offers_region must be an ISO 3166-1 alpha-2 country code (e.g. US) or all");
        out [0] = (char) toupper ((unsigned char) offers_region [0]);
        out [1] = (char) toupper ((unsigned char) offers_region [1]);
        out [2] = '\0';
        *region_out = out;
        return 0;
    }
    for (size_t i = 0; i < count; i++)
        if (fallbacks [i] && *fallbacks [i]) {
            snprintf (out, 3, "%s", fallbacks [i]);
            *region_out = out;
            break;
        }
    return 0;
}

int
mg_filters_paging (bool has_page, uint64_t page, bool has_per_page, uint64_t per_page,
                   uint64_t *page_out, uint64_t *per_page_out, uint64_t *offset_out,
                   mg_error_t *err)
{
    assert (page_out && per_page_out && offset_out && err);
    if (!has_page)
        page = 1;
    if (!has_per_page)
        per_page = MG_PER_PAGE_DEFAULT;
    if (per_page < 1 || per_page > MG_PER_PAGE_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", "per_page",
                              "per_page must be between 1 and %d", MG_PER_PAGE_MAX);
    //  Any page past the end is an empty page, as long as its offset is a
    //  PostgreSQL bigint.
    if (page < 1 || page - 1 > (uint64_t) INT64_MAX / per_page)
        return mg_actor_fail (err, "INVALID_PARAMETER", "page",
                              "page must be an integer from 1 to %llu",
                              (unsigned long long) ((uint64_t) INT64_MAX / per_page + 1));
    *page_out = page;
    *per_page_out = per_page;
    *offset_out = (page - 1) * per_page;
    return 0;
}

int
mg_filters_platform (const char *slug, const char *param, mg_error_t *err)
{
    assert (slug && param && err);
    size_t len = strlen (slug);
    bool valid = len > 0 && len <= MG_PLATFORM_MAX && slug [0] != '-';
    for (size_t j = 0; valid && j < len; j++) {
        char c = slug [j];
        valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    }
    if (!valid)
        return mg_actor_fail (err, "INVALID_PARAMETER", param,
                              "invalid platform '%.64s' in %s (letters, digits and '-')", slug, param);
    return 0;
}

int
mg_filters_uuid (const char *text, char out [37], const char *param, mg_error_t *err)
{
    assert (out && param && err);
    if (!text || mg_uuid_lower (text, strlen (text), out))
        return mg_actor_fail (err, "INVALID_PARAMETER", param,
                              "%s must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", param);
    return 0;
}

int
mg_filters_available (const char *available, bool signed_in, bool *mine, mg_error_t *err)
{
    assert (mine && err);
    *mine = false;
    if (!available)
        return 0;
    if (strcmp (available, "mine") != 0)
        return mg_actor_fail (err, "INVALID_PARAMETER", "available", "available must be mine");
    //  Whose services? Only a signed-in caller has any.
    if (!signed_in)
        return mg_actor_fail (err, "UNAUTHORIZED", "available",
                              "available=mine needs a signed-in caller: send Authorization: Bearer <access token>");
    *mine = true;
    return 0;
}

char *
mg_filters_services_json (char **services, size_t count)
{
    size_t size = 3;
    for (size_t i = 0; i < count; i++)
        size += strlen (services [i]) + 3;
    char *text = malloc (size);
    if (!text)
        return NULL;
    size_t used = 0;
    text [used++] = '[';
    for (size_t i = 0; i < count; i++) {
        if (i)
            text [used++] = ',';
        text [used++] = '"';
        //  Slugs come from the gateway, which took them from the checked
        //  preference; anything but [a-z0-9-] is dropped all the same.
        for (const char *p = services [i]; *p; p++)
            if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')
                text [used++] = *p;
        text [used++] = '"';
    }
    text [used++] = ']';
    text [used] = '\0';
    return text;
}
