/*  catalog.leaving: offers about to expire ("leaving soon"), soonest first.

    One statement, as the other lists (lists.c): the offers of the window
    (CTE f) are counted for the exact total and sorted for the page in one
    snapshot. The sort ends with the offer's key, so pages never overlap.
    availability_expiry_idx (expires_at) finds the window's offers.  */
#include "catalog.h"
#include "mg_catalog_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WITHIN_DAYS_DEFAULT  7      //  a week: the alerts' default horizon too
#define WITHIN_DAYS_MAX      90     //  providers announce expiries about a month or two ahead

#define LEAVING_ORDER "p.expires_at, p.content_id, p.platform, p.type"

//  An item's score (SQL_ITEM) is the title's popularity: the list is
//  ordered by expiry, and popularity is what tells two entries apart. Its
//  availability shows the offers of the list's region.
//  $1 per_page, $2 offset, $3 page, $4 within_days, $5 region, $6 platforms
//  (any of), $7 type, $8 available=mine, $9 the caller's services (JSON
//  array; NULL: anonymous), $10 the caller's region.
static const char s_leaving_sql [] =
    "WITH f AS (SELECT a.content_id, a.platform, a.region, a.type, a.expires_at, c.popularity AS score "
    "           FROM availability a JOIN content c ON c.id = a.content_id "
    "           WHERE a.expires_at > now () AND a.expires_at <= now () + make_interval (days => $4::int) "
    "           AND a.region = $5::bpchar "
    "           AND ($6::text[] IS NULL OR a.platform = ANY ($6::text[])) "
    "           AND ($7::text IS NULL OR c.type = $7::text) "
    "           AND ($8::boolean IS NOT TRUE OR (a.region = $10::bpchar "
    "                AND a.platform IN (SELECT jsonb_array_elements_text ($9::jsonb))))), "
    "p AS (SELECT * FROM f p ORDER BY " LEAVING_ORDER " LIMIT $1::bigint OFFSET $2::bigint) "
    "SELECT jsonb_build_object ('total', (SELECT count (*) FROM f), 'page', $3::bigint, 'per_page', $1::bigint, "
    "'offers_region', $5::text, "
    "'results', coalesce ((SELECT jsonb_agg (jsonb_build_object ('content', (" SQL_ITEM ("$5") ") || ("
    SQL_MINE_MARK ("$9", "$10") "), 'offer', " SQL_OFFER ("o") ") ORDER BY " LEAVING_ORDER ") "
    "FROM p JOIN content c ON c.id = p.content_id JOIN availability o ON o.content_id = p.content_id "
    "AND o.platform = p.platform AND o.region = p.region AND o.type = p.type), '[]'::jsonb))::text";

int
catalog_on_leaving (void *state, const void *req, void *rep, mg_error_t *err)
{
    catalog_thread_t *self = state;
    const mg_leaving_request_t *request = req;
    uint64_t page, per_page, offset;
    char region [3], platforms_text [CATALOG_ARRAY_TEXT_MAX];
    const char *platforms, *type = NULL;
    uint64_t days = request->has_within_days ? request->within_days : WITHIN_DAYS_DEFAULT;
    if (days < 1 || days > WITHIN_DAYS_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", "within_days",
                              "within_days must be a number of days from 1 to %d", WITHIN_DAYS_MAX);
    if (request->type && strcmp (request->type, "all") != 0) {
        if (strcmp (request->type, "movie") != 0 && strcmp (request->type, "tv") != 0)
            return mg_actor_fail (err, "INVALID_PARAMETER", "type", "type must be one of all, movie, tv");
        type = request->type;
    }
    if ((request->region && mg_filters_region (request->region, region, "region", err))
    ||  catalog_platforms_array (request->platforms, request->platforms_count, platforms_text,
                                 sizeof platforms_text, &platforms, err)
    ||  mg_filters_paging (request->has_page, request->page, request->has_per_page, request->per_page,
                           &page, &per_page, &offset, err))
        return -1;
    catalog_mine_t mine;
    if (catalog_mine (self, request->available, request->signed_in, request->my_services,
                      request->my_services_count, request->my_region, &mine, err))
        return -1;
    //  No region asked: the caller's own, else the configured default.
    if (!request->region)
        memcpy (region, mine.services ? mine.region : self->default_region, sizeof region);
    char text [4][24];
    snprintf (text [0], sizeof text [0], "%llu", (unsigned long long) per_page);
    snprintf (text [1], sizeof text [1], "%llu", (unsigned long long) offset);
    snprintf (text [2], sizeof text [2], "%llu", (unsigned long long) page);
    snprintf (text [3], sizeof text [3], "%llu", (unsigned long long) days);
    const char *params [] = {
        text [0], text [1], text [2], text [3], region, platforms, type,
        mine.flag, mine.services, mine.services ? mine.region : NULL
    };
    int rc = catalog_query_json (self, s_leaving_sql, 10, params, &mg_leaving_reply_desc, rep, err);
    free (mine.services);
    if (rc == 1)
        return mg_actor_fail (err, "INTERNAL", NULL, "the leaving query returned nothing");
    return rc;
}
