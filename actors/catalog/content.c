/*  catalog.content and catalog.availability: one title, by its canonical id.

    Availability is read from the availability table as the indexer wrote
    it, never computed here; offers whose expires_at has passed are left
    out, so a title that left a platform stops being offered at once even
    before the next refresh deletes its row.  */
#include "catalog.h"
#include "mg_filters.h"
#include "mg_catalog_sql.h"

#include <string.h>

//  Row limits: those of the reply's lists in schema.def (strings for SQL).
#define CREDITS_MAX  "64"     //  mg_credits cast, crew
#define VIDEOS_MAX   "32"     //  mg_content_details videos
#define OFFERS_MAX   "1024"   //  mg_availability_reply results, mg_content_details offers

//  Current offers of c.id: of region $2, or of every region when $2 is NULL.
#define SQL_CURRENT_OFFERS \
    "coalesce ((SELECT jsonb_agg (" SQL_OFFER ("a") " ORDER BY a.region, a.platform, a.type) " \
    "  FROM (SELECT * FROM availability WHERE content_id = c.id " \
    "        AND ($2::text IS NULL OR region = $2::bpchar) " \
    "        AND (expires_at IS NULL OR expires_at > now ()) " \
    "        ORDER BY region, platform, type LIMIT " OFFERS_MAX ") a), '[]'::jsonb)"

#define SQL_CREDITS(role) \
    "coalesce ((SELECT jsonb_agg (jsonb_build_object ('name', r.person_name, 'character', r.character, " \
    "'job', r.job, 'department', r.department, 'order', r.ord, 'person_tmdb_id', r.person_tmdb_id) " \
    "ORDER BY r.ord) FROM (SELECT * FROM credits WHERE content_id = c.id AND role = '" role "' " \
    "ORDER BY ord LIMIT " CREDITS_MAX ") r), '[]'::jsonb)"

#define SQL_VIDEO_ORDER "official DESC, published_at DESC NULLS LAST, site, key"

static const char s_content_sql [] =
    "SELECT jsonb_build_object ("
    "'id', c.id, 'type', c.type, 'title', c.title, 'original_title', c.original_title, "
    "'original_language', c.original_language, 'year', c.year, "
    "'release_date', to_char (c.release_date, 'YYYY-MM-DD'), 'overview', c.overview, "
    "'tagline', c.tagline, 'runtime', c.runtime_min, 'status', c.status, 'homepage', c.homepage, "
    "'popularity', c.popularity, 'vote_average', c.vote_average::numeric, 'vote_count', c.vote_count, "
    "'poster', " SQL_IMAGE ("c.poster_path", "w500") ", "
    "'backdrop', " SQL_IMAGE ("c.backdrop_path", "w780") ", "
    "'genres', " SQL_GENRES ", "
    "'keywords', to_jsonb (c.keywords [1:128]), "
    "'production_countries', to_jsonb (c.production_countries [1:32]), "
    "'spoken_languages', to_jsonb (c.spoken_languages [1:32]), "
    "'credits', jsonb_build_object ('cast', " SQL_CREDITS ("cast") ", 'crew', " SQL_CREDITS ("crew") "), "
    "'videos', coalesce ((SELECT jsonb_agg (jsonb_build_object ('site', v.site, 'key', v.key, "
    "  'url', CASE v.site WHEN 'youtube' THEN 'https://www.youtube.com/watch?v=' || v.key "
    "  ELSE 'https://vimeo.com/' || v.key END, 'type', v.type, 'name', v.name, 'official', v.official) "
    "  ORDER BY " SQL_VIDEO_ORDER ") FROM (SELECT * FROM videos WHERE content_id = c.id "
    "  ORDER BY " SQL_VIDEO_ORDER " LIMIT " VIDEOS_MAX ") v), '[]'::jsonb), "
    "'external_ids', " SQL_EXTERNAL_IDS ", "
    "'version', c.version, 'updated_at', " SQL_RFC3339 ("c.updated_at") ", "
    "'offers', " SQL_CURRENT_OFFERS
    ")::text FROM content c WHERE c.id = $1::uuid";

//  $2: region or NULL for all regions.
static const char s_availability_sql [] =
    "SELECT jsonb_build_object ('id', c.id, 'region', $2::text, 'results', " SQL_CURRENT_OFFERS
    ")::text FROM content c WHERE c.id = $1::uuid";

//  Fail with NOT_FOUND for the id.
static int
s_not_found (const char *id, mg_error_t *err)
{
    return mg_actor_fail (err, "NOT_FOUND", "id", "no content with id %s", id);
}

int
catalog_on_content (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_content_request_t *request = req;
    catalog_thread_t *self = state;
    char id [37];
    char region [3];
    if (mg_filters_uuid (request->id, id, "id", err))
        return -1;
    const char *offers_region;
    const char *fallbacks [] = { self->default_region };
    if (mg_filters_offers_region (request->offers_region, fallbacks, 1, region, &offers_region, err))
        return -1;
    const char *params [] = { id, offers_region };
    int rc = catalog_query_json (state, s_content_sql, 2, params, &mg_content_details_desc, rep, err);
    return rc == 1 ? s_not_found (id, err) : rc;
}

int
catalog_on_availability (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_availability_request_t *request = req;
    char id [37];
    char region [3];
    if (mg_filters_uuid (request->id, id, "id", err))
        return -1;
    if (request->region && mg_filters_region (request->region, region, "region", err))
        return -1;
    const char *params [] = { id, request->region ? region : NULL };
    int rc = catalog_query_json (state, s_availability_sql, 2, params, &mg_availability_reply_desc, rep, err);
    return rc == 1 ? s_not_found (id, err) : rc;
}
