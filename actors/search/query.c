/*  search.query, search.autocomplete and search.similar: check the
    request, then ask the index holding the replica's lock for reading, so
    that the actor's worker threads (MG_WORKER_THREADS) answer several
    queries at once; the follower takes it for writing to apply changes.

    mode: hybrid (the default) fuses the keyword and the semantic rankings
    (semantic_ratio, default SEMANTIC_RATIO_DEFAULT = 0.5; 0 is keyword, 1 is
    semantic), keyword and semantic use one side. A replica without an
    embedder model declines semantic (and hybrid with semantic_ratio=1), so
    that the broker gives it to a replica with one (503 with Retry-After
    when there is none), and answers hybrid as keyword.  */
#include "search.h"
#include "mg_filters.h"
#include "mg_text.h"

#include <ctype.h>
#include <stdio.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define YEAR_MAX     9999       //  larger years are typos, and must fit an int
#define RATING_MAX   10         //  vote_average is 0-10
#define SEMANTIC_RATIO_DEFAULT 0.5  //  hybrid: the guarded fusion's best on the dev set (docs/benchmarks.md)

static const struct {
    const char *name;
    search_sort_t sort;
} s_sorts [] = {
    { "relevance", SEARCH_SORT_RELEVANCE }, { "popularity", SEARCH_SORT_POPULARITY },
    { "rating", SEARCH_SORT_RATING }, { "release_date", SEARCH_SORT_RELEASE_DATE },
};

//  Milliseconds since start on the monotonic clock.
static double
s_since (const struct timespec *start)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double) (now.tv_sec - start->tv_sec) * 1e3 + (double) (now.tv_nsec - start->tv_nsec) / 1e6;
}

//  True when text has at least one searchable word.
static bool
s_has_words (const char *text)
{
    char words [1][MG_TEXT_WORD_BYTES];
    return text && mg_text_words (text, words, 1) == 1;
}

//  True when text is NULL, empty or white space only.
static bool
s_blank (const char *text)
{
    while (text && *text && isspace ((unsigned char) *text))
        text++;
    return !text || !*text;
}

//  Lower-case ASCII in place.
static void
s_lower (char *text)
{
    for (; *text; text++)
        *text = (char) tolower ((unsigned char) *text);
}

//  Check mode and semantic_ratio into query.
static int
s_check_mode (search_t *self, const mg_search_request_t *request, search_query_t *query, mg_error_t *err)
{
    const char *mode = request->mode ? request->mode : "hybrid";
    bool semantic = search_index_semantic (self->index);
    query->semantic_ratio = SEMANTIC_RATIO_DEFAULT;
    if (strcmp (mode, "semantic") == 0)
        query->mode = SEARCH_MODE_SEMANTIC;
    else
    if (strcmp (mode, "keyword") == 0)
        query->mode = SEARCH_MODE_KEYWORD;
    else
    if (strcmp (mode, "hybrid") == 0)
        query->mode = SEARCH_MODE_HYBRID;
    else
        return mg_actor_fail (err, "INVALID_PARAMETER", "mode", "mode must be one of hybrid, keyword, semantic");
    if (request->has_semantic_ratio) {
        double r = request->semantic_ratio;
        if (!isfinite (r) || r < 0 || r > 1)
            return mg_actor_fail (err, "INVALID_PARAMETER", "semantic_ratio",
                                  "semantic_ratio must be a number from 0 to 1");
        query->semantic_ratio = r;
    }
    //  A well-formed request this replica cannot serve is not the caller's
    //  fault: the broker gives it to a replica with a model, and answers 503
    //  when none is up (docs/search.md).
    bool wants_semantic = query->mode == SEARCH_MODE_SEMANTIC
                       || (query->mode == SEARCH_MODE_HYBRID && query->semantic_ratio == 1);
    if (wants_semantic && !semantic)
        return mg_actor_decline (err, "semantic search is not available: no search replica has an embedder "
                                      "model (mode=keyword or mode=hybrid work)");
    return 0;
}

//  A signed-in caller's services and region (from the gateway) into query:
//  they mark the hits (on_my_services) and choose whose offers they show.
static int
s_check_caller (search_t *self, bool signed_in, const char *region, char **services, size_t services_count,
                search_query_t *query, char my_region [3], mg_error_t *err)
{
    if (!signed_in)
        return 0;
    if (region && mg_filters_region (region, my_region, "region", err))
        return -1;
    if (!region)
        memcpy (my_region, self->default_region, 3);
    query->mine_mark = true;
    query->my_region = my_region;
    query->my_services = services;
    query->my_services_count = services_count;
    return 0;
}

//  A reply's offers_region: a copy of region, or none (NULL) for every
//  region, where each platform group names its own. 0, or -1 out of memory.
static int
s_name_region (char **out, const char *region)
{
    *out = region ? strdup (region) : NULL;
    return region && !*out ? -1 : 0;
}

//  The region whose offers the hits show into query->offers_region (held in
//  out): the one asked for, else the region filtered on, else the signed-in
//  caller's, else MG_DEFAULT_REGION; "all" is every region.
static int
s_check_offers (search_t *self, const char *offers_region, search_query_t *query, char out [3], mg_error_t *err)
{
    const char *fallbacks [] = { query->region, query->my_region, self->default_region };
    return mg_filters_offers_region (offers_region, fallbacks, sizeof fallbacks / sizeof fallbacks [0], out,
                                     &query->offers_region, err);
}

//  Check the filters of request into query (genres and platforms are
//  lower-cased in place in the request); regions holds the region filter,
//  the caller's region and the region whose offers the hits show.
static int
s_check_filters (search_t *self, mg_search_request_t *request, search_query_t *query, char regions [3][3],
                 mg_error_t *err)
{
    char *region = regions [0], *my_region = regions [1];
    if (request->type && strcmp (request->type, "all") != 0) {
        if (strcmp (request->type, "movie") != 0 && strcmp (request->type, "tv") != 0
        &&  strcmp (request->type, "person") != 0)
            return mg_actor_fail (err, "INVALID_PARAMETER", "type", "type must be one of all, movie, tv, person");
        query->type = request->type;
    }
    for (size_t i = 0; i < request->genres_count; i++) {
        s_lower (request->genres [i]);
        if (!search_index_genre_known (self->index, request->genres [i]))
            return mg_actor_fail (err, "INVALID_PARAMETER", "genres",
                                  "unknown genre '%.64s' in genres (GET /api/v1/genres lists the slugs)",
                                  request->genres [i]);
    }
    query->genres = request->genres;
    query->genres_count = request->genres_count;
    if (request->has_year_from && request->year_from > YEAR_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", "year_from", "year_from must be a year from 0 to %d", YEAR_MAX);
    if (request->has_year_to && request->year_to > YEAR_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", "year_to", "year_to must be a year from 0 to %d", YEAR_MAX);
    if (request->has_year_from && request->has_year_to && request->year_from > request->year_to)
        return mg_actor_fail (err, "INVALID_PARAMETER", "year_from", "year_from (%llu) is after year_to (%llu)",
                              (unsigned long long) request->year_from, (unsigned long long) request->year_to);
    query->has_year_from = request->has_year_from;
    query->year_from = (int) request->year_from;
    query->has_year_to = request->has_year_to;
    query->year_to = (int) request->year_to;
    if (request->has_min_rating) {
        if (!isfinite (request->min_rating) || request->min_rating < 0 || request->min_rating > RATING_MAX)
            return mg_actor_fail (err, "INVALID_PARAMETER", "min_rating",
                                  "min_rating must be a number from 0 to %d", RATING_MAX);
        query->has_min_rating = true;
        query->min_rating = request->min_rating;
    }
    for (size_t i = 0; i < request->platforms_count; i++) {
        if (mg_filters_platform (request->platforms [i], "platforms", err))
            return -1;
        s_lower (request->platforms [i]);
    }
    query->platforms = request->platforms;
    query->platforms_count = request->platforms_count;
    if (request->region) {
        if (mg_filters_region (request->region, region, "region", err))
            return -1;
        query->region = region;
    }
    //  A signed-in caller's services (from the gateway) mark the results; available=mine filters by them.
    if (mg_filters_available (request->available, request->signed_in, &query->mine_only, err))
        return -1;
    if (s_check_caller (self, request->signed_in, request->my_region, request->my_services,
                        request->my_services_count, query, my_region, err))
        return -1;
    return s_check_offers (self, request->offers_region, query, regions [2], err);
}

//  The facets request asks for into query->facets (an unknown name is the
//  caller's error). 0 or -1 with err set.
static int
s_check_facets (const mg_search_request_t *request, search_query_t *query, mg_error_t *err)
{
    static const struct { const char *name; unsigned bit; } facets [] = {
        { "genres", SEARCH_FACET_GENRES }, { "platforms", SEARCH_FACET_PLATFORMS },
        { "years", SEARCH_FACET_YEARS }, { "types", SEARCH_FACET_TYPES },
    };
    for (size_t i = 0; i < request->facets_count; i++) {
        size_t f = 0;
        while (f < sizeof facets / sizeof facets [0] && strcmp (facets [f].name, request->facets [i]) != 0)
            f++;
        if (f == sizeof facets / sizeof facets [0])
            return mg_actor_fail (err, "INVALID_PARAMETER", "facets",
                                  "unknown facet '%.32s' in facets (genres, platforms, years, types)",
                                  request->facets [i]);
        query->facets |= facets [f].bit;
    }
    return 0;
}

int
search_on_query (void *state, const void *req, void *rep, mg_error_t *err)
{
    search_t *self = state;
    mg_search_request_t *request = (mg_search_request_t *) req;
    mg_search_reply_t *reply = rep;
    struct timespec start;
    clock_gettime (CLOCK_MONOTONIC, &start);
    //  q empty, blank or absent is the placeholder search (the catalog by
    //  popularity, as Meilisearch answers it); q of punctuation alone is a
    //  query that cannot match and says so.
    search_query_t query = { .q = s_blank (request->q) ? "" : request->q,
                             .explain = request->has_explain && request->explain };
    char regions [3][3];
    if (*query.q && !s_has_words (query.q))
        return mg_actor_fail (err, "INVALID_PARAMETER", "q", "q has no letters or digits to search for");
    query.sort = SEARCH_SORT_RELEVANCE;
    if (request->sort) {
        size_t i = 0;
        while (i < sizeof s_sorts / sizeof s_sorts [0] && strcmp (s_sorts [i].name, request->sort) != 0)
            i++;
        if (i == sizeof s_sorts / sizeof s_sorts [0])
            return mg_actor_fail (err, "INVALID_PARAMETER", "sort",
                                  "sort must be one of relevance, popularity, rating, release_date");
        query.sort = s_sorts [i].sort;
    }
    uint64_t page, per_page, offset;
    if (mg_filters_paging (request->has_page, request->page, request->has_per_page, request->per_page,
                           &page, &per_page, &offset, err))
        return -1;
    query.offset = offset;
    query.per_page = per_page;
    if (s_check_facets (request, &query, err))
        return -1;
    pthread_rwlock_rdlock (&self->lock);
    int rc = s_check_mode (self, request, &query, err) ? -1 : s_check_filters (self, request, &query, regions, err);
    char reason [512] = "";
    if (rc == 0 && search_index_query (self->index, &query, reply, reason, sizeof reason))
        rc = mg_actor_fail (err, "INTERNAL", NULL, "search failed: %s", reason);
    char generation [48];
    snprintf (generation, sizeof generation, "%llu.%llu",
              (unsigned long long) self->applied [0], (unsigned long long) self->applied [1]);
    pthread_rwlock_unlock (&self->lock);
    if (rc)
        return -1;
    reply->page = page;
    reply->has_page = true;
    reply->per_page = per_page;
    reply->has_per_page = true;
    reply->took_ms = round (s_since (&start) * 1000) / 1000;
    reply->has_took_ms = true;
    reply->generation = strdup (generation);
    return reply->generation && !s_name_region (&reply->offers_region, query.offers_region) ? 0
         : mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
}

int
search_on_autocomplete (void *state, const void *req, void *rep, mg_error_t *err)
{
    search_t *self = state;
    const mg_autocomplete_request_t *request = req;
    if (!s_has_words (request->q))
        return mg_actor_fail (err, "INVALID_PARAMETER", "q", "q is required and needs letters or digits to complete");
    char reason [512] = "";
    pthread_rwlock_rdlock (&self->lock);
    int rc = search_index_autocomplete (self->index, request->q, rep, reason, sizeof reason);
    pthread_rwlock_unlock (&self->lock);
    if (rc)
        return mg_actor_fail (err, "INTERNAL", NULL, "autocomplete failed: %s", reason);
    return 0;
}

int
search_on_similar (void *state, const void *req, void *rep, mg_error_t *err)
{
    search_t *self = state;
    const mg_similar_request_t *request = req;
    mg_similar_reply_t *reply = rep;
    char id [MG_UUID_TEXT_LEN + 1], region [3], offers_region [3], my_region [3];
    search_query_t query = { .sort = SEARCH_SORT_RELEVANCE };
    if (mg_filters_uuid (request->id, id, "id", err))
        return -1;
    if (request->type && strcmp (request->type, "all") != 0) {
        if (strcmp (request->type, "movie") != 0 && strcmp (request->type, "tv") != 0)
            return mg_actor_fail (err, "INVALID_PARAMETER", "type", "type must be one of all, movie, tv");
        query.type = request->type;
    }
    if (request->region) {
        if (mg_filters_region (request->region, region, "region", err))
            return -1;
        query.region = region;
    }
    if (s_check_caller (self, request->signed_in, request->my_region, request->my_services,
                        request->my_services_count, &query, my_region, err))
        return -1;
    if (s_check_offers (self, request->offers_region, &query, offers_region, err))
        return -1;
    uint64_t page, per_page, offset;
    if (mg_filters_paging (request->has_page, request->page, request->has_per_page, request->per_page,
                           &page, &per_page, &offset, err))
        return -1;
    query.offset = offset;
    query.per_page = per_page;
    char reason [512] = "";
    pthread_rwlock_rdlock (&self->lock);
    int rc = search_index_similar (self->index, id, &query, reply, reason, sizeof reason);
    pthread_rwlock_unlock (&self->lock);
    if (rc == 1)
        return mg_actor_fail (err, "NOT_FOUND", "id", "no content with id %s", id);
    if (rc)
        return mg_actor_fail (err, "INTERNAL", NULL, "similar titles failed: %s", reason);
    reply->page = page;
    reply->has_page = true;
    reply->per_page = per_page;
    reply->has_per_page = true;
    return s_name_region (&reply->offers_region, query.offers_region) ? mg_actor_fail (err, "INTERNAL", NULL, "out of memory") : 0;
}
