/*  Autocomplete: titles (and cast members) whose words start like q.  */
#include "index_impl.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUGGESTIONS_MAX 10     //  architecture §4
#define PEOPLE_MAX       3     //  suggestions that are cast members, at most

//  The cast member of cast ('\n'-separated) whose name the query words
//  match (last as prefix) into out; false when none.
static bool
s_person (const index_plan_t *plan, const char *cast, char *out, size_t size)
{
    for (const char *p = cast; p && *p; ) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        char *norm = mg_text_normalize (p, len);
        if (norm) {
            int typos;
            double m = mg_text_title_match ((char (*)[MG_TEXT_WORD_BYTES]) plan->words, plan->weight,
                                                plan->budget, plan->n, true, norm, &typos);
            free (norm);
            //  every query word matched: coverage 1 at the least precision
            if (m >= 0.6 * 0.9) {
                snprintf (out, size, "%.*s", (int) len, p);
                return true;
            }
        }
        p = end ? end + 1 : p + len;
    }
    return false;
}

//  Up to max best matches of match into hits (tier 0), ranked by title
//  similarity and popularity.
static int
s_suggest (search_index_t *self, const index_plan_t *plan, const char *match, index_hits_t *hits)
{
    search_query_t none = { 0 };
    index_filter_t *filter = malloc (sizeof *filter);
    if (!filter)
        return -1;
    index_filter_init (self, &none, filter);
    int rc = index_collect (self, PHASE_SUGGEST, match, filter, 0, hits, 0, 0, 0);
    free (filter);
    if (rc)
        return -1;
    index_rank (self, plan, hits);
    for (size_t i = 0; i < hits->count; i++)
        hits->items [i].score += hits->items [i].popularity > 0
            ? 0.3 * log1p (hits->items [i].popularity) / log1p (self->pop_max > 0 ? self->pop_max : 1) : 0;
    index_hits_sort (hits, index_by_score);
    return 0;
}

//  search_index_autocomplete on this thread's lane.
static int
s_autocomplete (search_index_t *self, const char *q, mg_autocomplete_reply_t *rep, char *err, size_t errlen)
{
    //  With people held, person suggestions are people (type person);
    //  without, titles whose cast has the name (the item names the person).
    bool entities = search_index_people (self) > 0;
    index_plan_t titles_plan, people_plan;
    int n = index_plan (self, q, "{title alt} : ", false, &titles_plan);
    int m = index_plan (self, q, entities ? "" : "{cast_names} : ", false, &people_plan);
    index_hits_t titles = { 0 }, people = { 0 };
    mg_autocomplete_reply_t found = { 0 };
    int rc = n < 0 || m < 0 ? -1 : 0;
    if (rc == 0 && n > 0)
        rc = s_suggest (self, &titles_plan, titles_plan.and_match, &titles)
          || (!entities && s_suggest (self, &people_plan, people_plan.and_match, &people)) ? -1 : 0;
    if (rc == 0 && n > 0 && entities) {
        found.results = calloc (PEOPLE_MAX, sizeof *found.results);
        rc = found.results ? index_people_suggest (self, &people_plan, PEOPLE_MAX, &found) : -1;
    }
    rep->results = calloc (SUGGESTIONS_MAX, sizeof *rep->results);
    if (!rep->results)
        rc = -1;
    sqlite3_stmt *stmt = rc == 0 ? index_stmt (self, ST_SUGGEST) : NULL;
    if (rc == 0 && !stmt)
        rc = -1;
    size_t people_room = PEOPLE_MAX;
    if (titles.count + PEOPLE_MAX < SUGGESTIONS_MAX)
        people_room = SUGGESTIONS_MAX - titles.count;
    size_t people_found = entities ? found.results_count : people.count;
    size_t title_room = SUGGESTIONS_MAX - (people_found < people_room ? people_found : people_room);
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        if (pass == 1 && entities) {
            for (size_t i = 0; i < found.results_count && rep->results_count < SUGGESTIONS_MAX; i++) {
                rep->results [rep->results_count++] = found.results [i];
                memset (&found.results [i], 0, sizeof found.results [i]);
            }
            break;
        }
        index_hits_t *list = pass == 0 ? &titles : &people;
        size_t room = pass == 0 ? title_room : SUGGESTIONS_MAX - rep->results_count;
        size_t added = 0;
        for (size_t i = 0; rc == 0 && i < list->count && added < room; i++) {
            sqlite3_reset (stmt);
            sqlite3_bind_int64 (stmt, 1, list->items [i].rowid);
            if (sqlite3_step (stmt) != SQLITE_ROW)
                continue;
            char person [257] = "";
            if (pass == 1 && !s_person (&people_plan, (const char *) sqlite3_column_text (stmt, 4), person, sizeof person))
                continue;
            mg_autocomplete_item_t *item = &rep->results [rep->results_count];
            item->id = strdup ((const char *) sqlite3_column_text (stmt, 0));
            item->type = strdup ((const char *) sqlite3_column_text (stmt, 1));
            item->title = strdup ((const char *) sqlite3_column_text (stmt, 2));
            if (sqlite3_column_type (stmt, 3) != SQLITE_NULL) {
                item->year = (uint64_t) sqlite3_column_int (stmt, 3);
                item->has_year = true;
            }
            if (*person)
                item->person = strdup (person);
            rep->results_count++;
            added++;
            if (!item->id || !item->type || !item->title || (*person && !item->person))
                rc = -1;
        }
    }
    if (stmt)
        sqlite3_reset (stmt);
    if (rc)
        snprintf (err, errlen, "autocomplete failed");
    free (titles.items);
    free (people.items);
    mg_msg_clear (&mg_autocomplete_reply_desc, &found);
    index_plan_clear (&titles_plan);
    index_plan_clear (&people_plan);
    return rc;
}

int
search_index_autocomplete (search_index_t *self, const char *q,
                           mg_autocomplete_reply_t *rep, char *err, size_t errlen)
{
    assert (self && q && rep);
    index_lane_enter (self);
    int rc = s_autocomplete (self, q, rep, err, errlen);
    index_lane_leave (self);
    return rc;
}
