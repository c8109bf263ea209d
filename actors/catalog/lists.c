/*  catalog.trending and catalog.discover: paged lists of titles.

    Each list is one statement: the filter (CTE f) is counted for the exact
    total and sorted for the page, in one snapshot, so total and results
    always agree. Sorts end with the id, so pages never overlap or skip a
    title when scores tie. Filters that are not given are SQL NULLs, which
    the planner folds away (an unnamed statement is planned with its values).

    Trending ranks by the popularity a title gained over the window (day or
    week): its stored popularity now less its popularity in the last
    snapshot taken at or before the window's start (popularity_snapshots,
    written by the fetcher's scheduler). With no snapshot that old there is
    nothing to compare with: every title counts from 0, which ranks by
    current popularity, and the reply says window_fallback. Titles with no
    popularity at all (0) are not trending. Each item's score is what its
    list ranks by: the gain for trending, the popularity for discover.  */
#include "catalog.h"
#include "mg_catalog_sql.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define YEAR_MAX         9999    //  larger years are typos, and must fit an int
#define RATING_MAX       10      //  vote_average is 0-10

//  The list statement: CTEs before f (with, each ending in ", "), a join of
//  content c (from), each title's score, the filter where and the sort
//  order (columns of alias p), more reply fields (extra, each starting with
//  ", "); f, s, r the parameters of the available=mine flag, the caller's
//  services and region (SQL_MINE_WHERE, SQL_MINE_MARK), o the region whose
//  offers items show (SQL_ITEM). $1 per_page, $2 offset, $3 page, filters from $4.
#define SQL_LIST(with, from, score, where, order, extra, f, s, r, o) \
    "WITH " with "f AS (SELECT c.id, c.popularity, c.vote_average, c.vote_count, c.release_date, " \
    "           " score " AS score FROM content c " from " WHERE " where " " SQL_MINE_WHERE (f, s, r) "), " \
    "p AS (SELECT * FROM f p ORDER BY " order " LIMIT $1::bigint OFFSET $2::bigint) " \
    "SELECT jsonb_build_object ('total', (SELECT count (*) FROM f), 'page', $3::bigint, " \
    "'per_page', $1::bigint, 'offers_region', " o "::text" extra ", 'results', coalesce ((SELECT jsonb_agg ((" SQL_ITEM (o) ") || (" SQL_MINE_MARK (s, r) ") " \
    "ORDER BY " order ") FROM p JOIN content c ON c.id = p.id), '[]'::jsonb))::text"

#define ORDER_POPULARITY   "p.popularity DESC, p.id"
#define ORDER_RATING       "p.vote_average DESC NULLS LAST, p.vote_count DESC, p.id"
#define ORDER_RELEASE_DATE "p.release_date DESC NULLS LAST, p.id"
#define ORDER_GAIN         "p.score DESC, p.popularity DESC, p.id"

//  $4 type or NULL.
#define WHERE_TRENDING "($4::text IS NULL OR c.type = $4::text) AND c.popularity > 0"

//  $5 the window as an interval: the snapshot the gain is measured from is
//  the last one at or before the window's start (all rows of one snapshot
//  share its taken_at).
#define WITH_TRENDING \
    "start AS (SELECT max (taken_at) AS at FROM popularity_snapshots WHERE taken_at <= now () - $5::interval), " \
    "base AS (SELECT s.content_id, s.popularity FROM popularity_snapshots s JOIN start ON s.taken_at = start.at), "

//  $4 type, $5 genre ids (any of), $6 year_from, $7 year_to, $8 min_rating,
//  $9 platforms (any of), $10 region; each NULL when not given.
#define WHERE_DISCOVER \
    "($4::text IS NULL OR c.type = $4::text) " \
    "AND ($5::smallint[] IS NULL OR EXISTS (SELECT 1 FROM content_genres cg " \
    "     WHERE cg.content_id = c.id AND cg.genre_id = ANY ($5::smallint[]))) " \
    "AND ($6::int IS NULL OR c.year >= $6::int) " \
    "AND ($7::int IS NULL OR c.year <= $7::int) " \
    "AND ($8::real IS NULL OR c.vote_average >= $8::real) " \
    "AND (($9::text[] IS NULL AND $10::text IS NULL) OR EXISTS (SELECT 1 FROM availability a " \
    "     WHERE a.content_id = c.id AND ($9::text[] IS NULL OR a.platform = ANY ($9::text[])) " \
    "     AND ($10::text IS NULL OR a.region = $10::bpchar) " \
    "     AND (a.expires_at IS NULL OR a.expires_at > now ())))"

//  Discover: $11 available=mine, $12 services, $13 region, $14 offers region.
#define SQL_DISCOVER(order) SQL_LIST ("", "", "c.popularity", WHERE_DISCOVER, order, "", "$11", "$12", "$13", "$14")

//  Trending: $6 available=mine, $7 services, $8 region, $9 offers region.
static const char s_trending_sql [] =
    SQL_LIST (WITH_TRENDING, "LEFT JOIN base b ON b.content_id = c.id", "c.popularity - coalesce (b.popularity, 0)",
              WHERE_TRENDING, ORDER_GAIN, ", 'window_fallback', (SELECT at IS NULL FROM start)", "$6", "$7", "$8", "$9");

//  window= values and the intervals they span.
static const struct {
    const char *window;
    const char *interval;
} s_windows [] = {
    { "day",  "1 day" },
    { "week", "7 days" },
};

//  sort= values and their statements.
static const struct {
    const char *sort;
    const char *sql;
} s_discover [] = {
    { "popularity",   SQL_DISCOVER (ORDER_POPULARITY) },
    { "rating",       SQL_DISCOVER (ORDER_RATING) },
    { "release_date", SQL_DISCOVER (ORDER_RELEASE_DATE) },
};

//  The type filter of type= (NULL = all) into *filter. Returns 0 or -1.
static int
s_type (const char *type, const char **filter, mg_error_t *err)
{
    *filter = NULL;
    if (!type || strcmp (type, "all") == 0)
        return 0;
    if (strcmp (type, "movie") == 0 || strcmp (type, "tv") == 0) {
        *filter = type;
        return 0;
    }
    return mg_actor_fail (err, "INVALID_PARAMETER", "type", "type must be one of all, movie, tv");
}

//  Paging as SQL text: per_page, offset and page into the buffers.
int
catalog_paging (bool has_page, uint64_t page, bool has_per_page, uint64_t per_page,
                char text [3][24], mg_error_t *err)
{
    uint64_t offset;
    if (mg_filters_paging (has_page, page, has_per_page, per_page, &page, &per_page, &offset, err))
        return -1;
    snprintf (text [0], sizeof text [0], "%llu", (unsigned long long) per_page);
    snprintf (text [1], sizeof text [1], "%llu", (unsigned long long) offset);
    snprintf (text [2], sizeof text [2], "%llu", (unsigned long long) page);
    return 0;
}

//  Run a list statement into the reply; a list statement always has a row.
static int
s_list (catalog_thread_t *self, const char *sql, int nparams, const char *const *params,
        void *rep, mg_error_t *err)
{
    int rc = catalog_query_json (self, sql, nparams, params, &mg_content_list_desc, rep, err);
    if (rc == 1)
        return mg_actor_fail (err, "INTERNAL", NULL, "the list query returned nothing");
    return rc;
}

int
catalog_mine (catalog_thread_t *self, const char *available, bool signed_in, char **services,
              size_t services_count, const char *my_region, catalog_mine_t *mine, mg_error_t *err)
{
    bool only = false;
    *mine = (catalog_mine_t) { 0 };
    if (mg_filters_available (available, signed_in, &only, err))
        return -1;
    if (!signed_in)
        return 0;
    if (my_region && mg_filters_region (my_region, mine->region, "region", err))
        return -1;
    if (!my_region)
        memcpy (mine->region, self->default_region, sizeof mine->region);
    mine->services = mg_filters_services_json (services, services_count);
    if (!mine->services)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    mine->flag = only ? "true" : NULL;
    return 0;
}

//  The region whose offers a list's items show into *offers_region (NULL:
//  every region): offers_region= when given, else the region filtered on
//  (NULL if none), else the signed-in caller's region (mine), else
//  MG_DEFAULT_REGION. Returns 0, or -1 with err for a bad offers_region.
static int
s_offers_region (catalog_thread_t *self, const char *requested, const char *filter, const catalog_mine_t *mine,
                 char text [3], const char **offers_region, mg_error_t *err)
{
    const char *fallbacks [] = { filter, mine->services ? mine->region : NULL, self->default_region };
    return mg_filters_offers_region (requested, fallbacks, sizeof fallbacks / sizeof fallbacks [0], text,
                                     offers_region, err);
}

int
catalog_on_trending (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_trending_request_t *request = req;
    const char *type;
    char paging [3][24];
    if (s_type (request->type, &type, err))
        return -1;
    const char *window = request->window ? request->window : "week", *interval = NULL;
    for (size_t i = 0; i < sizeof s_windows / sizeof s_windows [0]; i++)
        if (strcmp (s_windows [i].window, window) == 0)
            interval = s_windows [i].interval;
    if (!interval)
        return mg_actor_fail (err, "INVALID_PARAMETER", "window", "window must be one of day, week");
    if (catalog_paging (request->has_page, request->page, request->has_per_page, request->per_page, paging, err))
        return -1;
    catalog_mine_t mine;
    if (catalog_mine (state, request->available, request->signed_in, request->my_services,
                      request->my_services_count, request->my_region, &mine, err))
        return -1;
    char offers_text [3];
    const char *offers_region;
    if (s_offers_region (state, request->offers_region, NULL, &mine, offers_text, &offers_region, err)) {
        free (mine.services);
        return -1;
    }
    const char *params [] = {
        paging [0], paging [1], paging [2], type, interval, mine.flag, mine.services,
        mine.services ? mine.region : NULL, offers_region
    };
    int rc = s_list (state, s_trending_sql, 9, params, rep, err);
    free (mine.services);
    return rc;
}

//  The ids of the genre slugs (any case; empty items skipped) as a
//  smallint[] literal into text, or NULL into *filter when there are none.
static int
s_genres (catalog_thread_t *self, char **slugs, size_t count, char *text, size_t size,
          const char **filter, mg_error_t *err)
{
    *filter = NULL;
    const mg_genres_reply_t *genres = count ? catalog_genres (self, err) : NULL;
    if (count && !genres)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        if (!slugs [i] || !*slugs [i])
            continue;
        const mg_genre_t *genre = NULL;
        for (size_t g = 0; g < genres->results_count && !genre; g++)
            if (strcasecmp (genres->results [g].slug, slugs [i]) == 0)
                genre = &genres->results [g];
        if (!genre)
            return mg_actor_fail (err, "INVALID_PARAMETER", "genres",
                                  "unknown genre '%.64s' in genres (GET /api/v1/genres lists the slugs)",
                                  slugs [i]);
        int n = snprintf (text + used, size - used, "%s%llu", used ? "," : "{",
                          (unsigned long long) genre->id);
        if (n < 0 || (size_t) n >= size - used - 1)
            return mg_actor_fail (err, "INVALID_PARAMETER", "genres", "too many genres");
        used += (size_t) n;
    }
    if (used) {
        text [used++] = '}';
        text [used] = '\0';
        *filter = text;
    }
    return 0;
}

int
catalog_platforms_array (char **slugs, size_t count, char *text, size_t size, const char **filter,
                         mg_error_t *err)
{
    *filter = NULL;
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        const char *slug = slugs [i];
        size_t len = slug ? strlen (slug) : 0;
        if (len == 0)
            continue;
        if (mg_filters_platform (slug, "platforms", err))
            return -1;
        if (used + len + 3 > size)
            return mg_actor_fail (err, "INVALID_PARAMETER", "platforms", "too many platforms");
        text [used] = used ? ',' : '{';
        used++;
        for (size_t j = 0; j < len; j++)
            text [used++] = (char) (slug [j] >= 'A' && slug [j] <= 'Z' ? slug [j] - 'A' + 'a' : slug [j]);
    }
    if (used) {
        text [used++] = '}';
        text [used] = '\0';
        *filter = text;
    }
    return 0;
}

//  A year parameter as text (NULL when absent). Returns 0 or -1.
static int
s_year (const char *name, bool has, uint64_t year, char text [8], const char **filter, mg_error_t *err)
{
    *filter = NULL;
    if (!has)
        return 0;
    if (year > YEAR_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", name, "%s must be a year from 0 to %d", name, YEAR_MAX);
    snprintf (text, 8, "%llu", (unsigned long long) year);
    *filter = text;
    return 0;
}

int
catalog_on_discover (void *state, const void *req, void *rep, mg_error_t *err)
{
    catalog_thread_t *self = state;
    const mg_discover_request_t *request = req;
    const char *type, *genres, *year_from, *year_to, *platforms;
    const char *min_rating = NULL, *region = NULL, *sql = NULL;
    char paging [3][24], genres_text [256], from_text [8], to_text [8];
    char rating_text [32], region_text [3], platforms_text [CATALOG_ARRAY_TEXT_MAX];

    const char *sort = request->sort ? request->sort : "popularity";
    for (size_t i = 0; i < sizeof s_discover / sizeof s_discover [0]; i++)
        if (strcmp (s_discover [i].sort, sort) == 0)
            sql = s_discover [i].sql;
    if (!sql)
        return mg_actor_fail (err, "INVALID_PARAMETER", "sort",
                              "sort must be one of popularity, rating, release_date");
    if (s_type (request->type, &type, err)
    ||  s_year ("year_from", request->has_year_from, request->year_from, from_text, &year_from, err)
    ||  s_year ("year_to", request->has_year_to, request->year_to, to_text, &year_to, err))
        return -1;
    if (year_from && year_to && request->year_from > request->year_to)
        return mg_actor_fail (err, "INVALID_PARAMETER", "year_from",
                              "year_from (%llu) is after year_to (%llu)",
                              (unsigned long long) request->year_from, (unsigned long long) request->year_to);
    if (request->has_min_rating) {
        if (!isfinite (request->min_rating) || request->min_rating < 0 || request->min_rating > RATING_MAX)
            return mg_actor_fail (err, "INVALID_PARAMETER", "min_rating",
                                  "min_rating must be a number from 0 to %d", RATING_MAX);
        snprintf (rating_text, sizeof rating_text, "%.9g", request->min_rating);
        min_rating = rating_text;
    }
    if (request->region) {
        if (mg_filters_region (request->region, region_text, "region", err))
            return -1;
        region = region_text;
    }
    if (catalog_platforms_array (request->platforms, request->platforms_count, platforms_text,
                                 sizeof platforms_text, &platforms, err)
    ||  s_genres (self, request->genres, request->genres_count, genres_text, sizeof genres_text,
                  &genres, err)
    ||  catalog_paging (request->has_page, request->page, request->has_per_page, request->per_page, paging, err))
        return -1;
    catalog_mine_t mine;
    if (catalog_mine (self, request->available, request->signed_in, request->my_services,
                      request->my_services_count, request->my_region, &mine, err))
        return -1;
    char offers_text [3];
    const char *offers_region;
    if (s_offers_region (self, request->offers_region, region, &mine, offers_text, &offers_region, err)) {
        free (mine.services);
        return -1;
    }
    const char *params [] = {
        paging [0], paging [1], paging [2], type, genres, year_from, year_to, min_rating,
        platforms, region, mine.flag, mine.services, mine.services ? mine.region : NULL, offers_region
    };
    int rc = s_list (self, sql, 14, params, rep, err);
    free (mine.services);
    return rc;
}
