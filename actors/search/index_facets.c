/*  Facets over a query's hits and the result items of a page.  */
#include "index_impl.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  One facet value and its count, while counting.
typedef struct {
    const char *value;
    char text [12];
    uint64_t count;
} s_count_t;

//  Count desc, then value asc.
static int
s_by_count (const void *a, const void *b)
{
    const s_count_t *x = a, *y = b;
    if (x->count != y->count)
        return (x->count < y->count) - (x->count > y->count);
    return strcmp (x->value, y->value);
}

//  The first max of counts (n of them) with a count into out, in order.
static int
s_facet_list (s_count_t *counts, size_t n, size_t max, bool sort, mg_facet_count_t **out, size_t *count)
{
    if (sort && n)
        qsort (counts, n, sizeof *counts, s_by_count);
    *count = 0;
    *out = calloc (max ? max : 1, sizeof **out);
    if (!*out)
        return -1;
    for (size_t i = 0; i < n && *count < max; i++) {
        if (!counts [i].count)
            continue;
        mg_facet_count_t *f = &(*out) [*count];
        f->value = strdup (counts [i].value);
        if (!f->value)
            return -1;
        f->count = counts [i].count;
        f->has_count = true;
        (*count)++;
    }
    return 0;
}

static int
s_by_year_desc (const void *a, const void *b)
{
    int x = *(const int *) a, y = *(const int *) b;
    return (x < y) - (x > y);
}

//  The facets query asks for over every hit: genres, platforms (titles
//  with a current offer there, in region when given), years, types.
int
index_facets (search_index_t *self, const search_query_t *query, const index_hits_t *hits, mg_search_facets_t *facets)
{
    s_count_t genres [GENRES_MAX] = { { 0 } };
    for (size_t g = 0; g < self->genres_count; g++)
        genres [g].value = self->genres [g];
    size_t np = self->platforms_count;
    s_count_t *platforms = calloc (np ? np : 1, sizeof *platforms);
    int64_t *seen = calloc (np ? np : 1, sizeof *seen);       //  last rowid counted per platform
    int *years = malloc ((hits->count ? hits->count : 1) * sizeof *years);
    s_count_t types [2] = { { .value = "movie" }, { .value = "tv" } };
    int rc = platforms && seen && years ? 0 : -1;
    for (size_t p = 0; rc == 0 && p < np; p++)
        platforms [p].value = self->platforms [p];
    int64_t now = (int64_t) time (NULL);
    size_t nyears = 0;
    unsigned asked = query->facets;
    for (size_t i = 0; rc == 0 && i < hits->count; i++) {
        int64_t rowid = hits->items [i].rowid;
        const index_doc_t *doc = &self->docs [rowid];
        for (size_t g = 0; (asked & SEARCH_FACET_GENRES) && g < self->genres_count; g++)
            if (doc->genres & ((uint64_t) 1 << g))
                genres [g].count++;
        for (size_t k = 0; (asked & SEARCH_FACET_PLATFORMS) && k < doc->offers_count; k++) {
            const index_offer_t *o = &doc->offers [k];
            if (index_offer_live (o, query->region, now) && seen [o->platform] != rowid) {
                seen [o->platform] = rowid;
                platforms [o->platform].count++;
            }
        }
        if ((asked & SEARCH_FACET_YEARS) && doc->year > 0)
            years [nyears++] = doc->year;
        types [doc->tv ? 1 : 0].count++;
    }
    s_count_t year_counts [256];
    size_t ny = 0;
    if (rc == 0 && nyears)
        qsort (years, nyears, sizeof *years, s_by_year_desc);
    for (size_t i = 0; rc == 0 && i < nyears; i++) {
        if (ny && atoi (year_counts [ny - 1].text) == years [i])
            year_counts [ny - 1].count++;
        else {
            if (ny == sizeof year_counts / sizeof year_counts [0])
                break;
            s_count_t *y = &year_counts [ny++];
            snprintf (y->text, sizeof y->text, "%d", years [i]);
            y->value = y->text;
            y->count = 1;
        }
    }
    //  Only the asked lists are made: an absent list is one not asked for,
    //  an empty one a facet no result has.
    if (rc == 0)
        rc = ((asked & SEARCH_FACET_GENRES)
              && s_facet_list (genres, self->genres_count, 64, true, &facets->genres, &facets->genres_count))
          || ((asked & SEARCH_FACET_PLATFORMS)
              && s_facet_list (platforms, np, 256, true, &facets->platforms, &facets->platforms_count))
          || ((asked & SEARCH_FACET_YEARS)
              && s_facet_list (year_counts, ny, 256, false, &facets->years, &facets->years_count))
          || ((asked & SEARCH_FACET_TYPES)
              && s_facet_list (types, 2, 2, true, &facets->types, &facets->types_count)) ? -1 : 0;
    free (platforms);
    free (seen);
    free (years);
    return rc;
}

//  RFC 3339 UTC text of now, to compare with offers' expires_at.
void
index_now_text (char out [32])
{
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

//  Drop the offers of group that expired since the load. Returns how many are left.
static size_t
s_trim_group (mg_item_platform_t *group, const char *now)
{
    size_t kept = 0;
    for (size_t i = 0; i < group->offers_count; i++) {
        mg_item_offer_t *offer = &group->offers [i];
        if (!offer->expires_at || strcmp (offer->expires_at, now) > 0) {
            if (kept != i)
                group->offers [kept] = *offer;
            kept++;
        }
        else
            mg_msg_clear (&mg_item_offer_desc, offer);
    }
    group->offers_count = kept;
    return kept;
}

//  Keep the platform groups of region (NULL: every region) with offers not
//  expired since the load. With one region the groups no longer name it:
//  the reply's offers_region says it once (architecture §4).
static void
s_trim_offers (mg_search_hit_t *hit, const char *region, const char *now)
{
    size_t kept = 0;
    for (size_t i = 0; i < hit->availability_count; i++) {
        mg_item_platform_t *group = &hit->availability [i];
        bool keep = (!region || (group->region && strcmp (group->region, region) == 0))
                 && s_trim_group (group, now) > 0;
        if (keep) {
            if (region) {
                free (group->region);
                group->region = NULL;
            }
            if (kept != i)
                hit->availability [kept] = *group;
            kept++;
        }
        else
            mg_msg_clear (&mg_item_platform_desc, group);
    }
    hit->availability_count = kept;
}

//  Whether group holds an offer not expired at now.
static bool
s_group_current (const mg_item_platform_t *group, const char *now)
{
    for (size_t i = 0; i < group->offers_count; i++)
        if (!group->offers [i].expires_at || strcmp (group->offers [i].expires_at, now) > 0)
            return true;
    return false;
}

//  qsort order of two C strings.
static int
s_by_text (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  on_my_services of hit: the caller's services with a current offer in
//  their region, once each, by slug (as the catalog's lists give them).
static int
s_mark_mine (mg_search_hit_t *hit, const search_query_t *query, const char *now)
{
    hit->on_my_services = calloc (query->my_services_count + 1, sizeof (char *));
    if (!hit->on_my_services)
        return -1;
    for (size_t i = 0; i < hit->availability_count; i++) {
        const mg_item_platform_t *group = &hit->availability [i];
        if (!group->region || strcmp (group->region, query->my_region) != 0 || !s_group_current (group, now))
            continue;
        bool mine = false, seen = false;
        for (size_t s = 0; !mine && s < query->my_services_count; s++)
            mine = strcmp (query->my_services [s], group->platform) == 0;
        for (size_t k = 0; !seen && k < hit->on_my_services_count; k++)
            seen = strcmp (hit->on_my_services [k], group->platform) == 0;
        if (!mine || seen)
            continue;
        if (!(hit->on_my_services [hit->on_my_services_count] = strdup (group->platform)))
            return -1;
        hit->on_my_services_count++;
    }
    qsort (hit->on_my_services, hit->on_my_services_count, sizeof (char *), s_by_text);
    return 0;
}

//  Decode the stored item of hit into out.
int
index_fill_hit (search_index_t *self, const index_hit_t *hit, const search_query_t *query,
            const index_plan_t *plan, const char *now, mg_search_hit_t *out, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = index_stmt (self, ST_ITEM);
    if (!stmt)
        return index_fail (self, err, errlen, "cannot read a title");
    sqlite3_bind_int64 (stmt, 1, hit->rowid);
    if (sqlite3_step (stmt) != SQLITE_ROW) {
        sqlite3_reset (stmt);
        return index_fail (self, err, errlen, "a matched title vanished");
    }
    json_error_t jerr;
    json_t *json = json_loads ((const char *) sqlite3_column_text (stmt, 0), 0, &jerr);
    sqlite3_reset (stmt);
    if (!json) {
        snprintf (err, errlen, "stored item is not JSON: %s", jerr.text);
        return -1;
    }
    double score = round (hit->score * 1e6) / 1e6;
    json_object_set_new (json, "score", json_real (score));
    int rc = mg_msg_from_json (&mg_search_hit_desc, json, out, err, errlen);
    json_decref (json);
    if (rc)
        return -1;
    if (query->mine_mark && s_mark_mine (out, query, now)) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    s_trim_offers (out, query->offers_region, now);
    if (query->explain) {
        mg_search_explain_t *x = calloc (1, sizeof *x);
        if (!x) {
            snprintf (err, errlen, "out of memory");
            return -1;
        }
        out->explain = x;
        x->keyword_rank = (uint64_t) hit->keyword_rank;
        x->has_keyword_rank = hit->keyword_rank > 0;
        x->semantic_rank = (uint64_t) hit->semantic_rank;
        x->has_semantic_rank = hit->semantic_rank > 0;
        x->fused_score = score;
        x->has_fused_score = true;
        x->bm25 = round (hit->bm25 * 1e6) / 1e6;
        x->has_bm25 = true;
        x->title_match = round (hit->title * 1e6) / 1e6;
        x->has_title_match = true;
        x->typos = (uint64_t) hit->typos;
        x->has_typos = true;
        x->exactness = hit->exact;
        x->has_exactness = true;
        x->popularity = round (hit->prior * 1e6) / 1e6;
        x->has_popularity = true;
        x->person = round (hit->person * 1e6) / 1e6;
        x->has_person = hit->person > 0;
        size_t nterms = plan->terms_count < 64 ? plan->terms_count : 64;
        x->terms = calloc (nterms ? nterms : 1, sizeof *x->terms);
        for (size_t i = 0; x->terms && i < nterms; i++) {
            x->terms [i] = strdup (plan->terms [i]);
            if (x->terms [i])
                x->terms_count++;
        }
    }
    return 0;
}

