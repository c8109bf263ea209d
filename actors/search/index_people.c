/*  People in the index: each person (a canonical id, a name, how popular
    the titles they lead or direct are, their search.hit item) in the
    people table and the pfts FTS5 table (the normalised name), found by
    type=person searches and autocomplete. Titles find people through
    their own cast and crew fields (index_rank.c); this table is what a
    query asking for people gets.  */
#include "index_impl.h"
#include "mg_log.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A person's score: name similarity (0-1.5, mg_text_title_match: the name
//  typed whole beats a name sharing a word) + PEOPLE_BM25 x BM25 normalised
//  to 0-1 + PEOPLE_POP x log-scaled popularity (0-1): among people with
//  the name typed so far, the one people know.
#define PEOPLE_BM25  0.3
#define PEOPLE_POP   0.5

int
search_index_put_person (search_index_t *self, const search_person_t *person)
{
    assert (self && person && person->id && person->name && person->hit_json);
    sqlite3_stmt *stmt = index_stmt (self, ST_PERSON_ROWID);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, person->id, -1, SQLITE_STATIC);
    int step = sqlite3_step (stmt);
    int64_t rowid = step == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
    sqlite3_reset (stmt);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return -1;
    char *name = mg_text_normalize (person->name, strlen (person->name));
    int rc = name ? 0 : -1;
    if (rc == 0 && rowid) {
        stmt = index_stmt (self, ST_PERSON_FTS_DELETE);
        rc = stmt ? 0 : -1;
        if (rc == 0) {
            sqlite3_bind_int64 (stmt, 1, rowid);
            rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
            sqlite3_reset (stmt);
        }
    }
    if (rc == 0 && (stmt = index_stmt (self, ST_PERSON_PUT))) {
        if (rowid)
            sqlite3_bind_int64 (stmt, 1, rowid);
        sqlite3_bind_text (stmt, 2, person->id, -1, SQLITE_STATIC);
        sqlite3_bind_double (stmt, 3, person->popularity);
        sqlite3_bind_text (stmt, 4, person->hit_json, -1, SQLITE_STATIC);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset (stmt);
        if (rc == 0 && !rowid) {
            rowid = sqlite3_last_insert_rowid (self->db);
            self->people++;
        }
    }
    else
        rc = -1;
    if (rc == 0 && (stmt = index_stmt (self, ST_PERSON_FTS_INSERT))) {
        sqlite3_bind_int64 (stmt, 1, rowid);
        sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset (stmt);
    }
    else
        rc = -1;
    if (rc)
        mg_error ("search index person put failed", "id=%s error=\"%s\"", person->id, sqlite3_errmsg (self->db));
    else
    if (person->popularity > self->person_pop_max)
        self->person_pop_max = person->popularity;
    free (name);
    return rc;
}

size_t
search_index_people (search_index_t *self)
{
    assert (self);
    return self->people;
}

//  People matching match (NULL: everyone) into hits, scored (see PEOPLE_BM25).
static int
s_people (search_index_t *self, const index_plan_t *plan, const char *match, index_hits_t *hits)
{
    sqlite3_stmt *stmt = index_stmt (self, match ? ST_PERSON_MATCH : ST_PERSON_ALL);
    if (!stmt)
        return -1;
    if (match)
        sqlite3_bind_text (stmt, 1, match, -1, SQLITE_STATIC);
    int step, rc = 0;
    double top = 0;
    size_t first = hits->count;
    double norm = log1p (self->person_pop_max > 0 ? self->person_pop_max : 1);
    while (rc == 0 && (step = sqlite3_step (stmt)) == SQLITE_ROW) {
        double popularity = sqlite3_column_double (stmt, 3);
        index_hit_t hit = {
            .rowid = sqlite3_column_int64 (stmt, 0), .bm25 = -sqlite3_column_double (stmt, 1),
            .popularity = popularity, .prior = PEOPLE_POP * log1p (popularity > 0 ? popularity : 0) / norm
        };
        if (plan && plan->n > 0)
            hit.title = mg_text_title_match ((char (*) [MG_TEXT_WORD_BYTES]) plan->words, plan->weight,
                                             plan->budget, plan->n, !plan->last_typed,
                                             (const char *) sqlite3_column_text (stmt, 2), &hit.typos);
        if (hit.bm25 > top)
            top = hit.bm25;
        rc = index_hits_push (hits, &hit);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = -1;
    sqlite3_reset (stmt);
    for (size_t i = first; i < hits->count; i++) {
        index_hit_t *hit = &hits->items [i];
        hit->score = hit->title + (top > 0 ? PEOPLE_BM25 * hit->bm25 / top : 0) + hit->prior;
    }
    return rc;
}

//  Matches of plan: every word, else (several words) any of them.
static int
s_people_matches (search_index_t *self, const index_plan_t *plan, index_hits_t *hits)
{
    int rc = s_people (self, plan, plan->and_match, hits);
    if (rc == 0 && hits->count == 0 && plan->n > 1)
        rc = s_people (self, plan, plan->or_match, hits);
    if (rc == 0)
        index_hits_sort (hits, index_by_score);
    return rc;
}

//  The stored search.hit of person rowid with score into out. 0 or -1.
static int
s_person_hit (search_index_t *self, const index_hit_t *hit, mg_search_hit_t *out, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = index_stmt (self, ST_PERSON_ITEM);
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, hit->rowid);
    json_t *json = sqlite3_step (stmt) == SQLITE_ROW
        ? json_loads ((const char *) sqlite3_column_text (stmt, 0), 0, NULL) : NULL;
    sqlite3_reset (stmt);
    if (!json) {
        snprintf (err, errlen, "a stored person item is unreadable");
        return -1;
    }
    json_object_set_new (json, "score", json_real (round (hit->score * 1e6) / 1e6));
    int rc = mg_msg_from_json (&mg_search_hit_desc, json, out, err, errlen);
    json_decref (json);
    return rc;
}

int
index_people_query (search_index_t *self, const search_query_t *query, mg_search_reply_t *rep,
                    char *err, size_t errlen)
{
    index_plan_t plan;
    int n = index_plan (self, query->q ? query->q : "", "", false, &plan);
    if (n < 0) {
        snprintf (err, errlen, "the query could not be planned");
        return -1;
    }
    index_hits_t hits = { 0 };
    int rc = n > 0 ? s_people_matches (self, &plan, &hits) : s_people (self, NULL, NULL, &hits);
    if (rc == 0 && n == 0)
        index_hits_sort (&hits, index_by_score);
    rep->facets = calloc (1, sizeof *rep->facets);
    rep->total = hits.count;
    rep->has_total = true;
    size_t first = query->offset < hits.count ? (size_t) query->offset : hits.count;
    size_t count = hits.count - first < query->per_page ? hits.count - first : (size_t) query->per_page;
    if (rc == 0 && !rep->facets)
        rc = -1;
    if (rc == 0 && count) {
        rep->results = calloc (count, sizeof *rep->results);
        rc = rep->results ? 0 : -1;
        for (size_t i = 0; rc == 0 && i < count; i++) {
            rc = s_person_hit (self, &hits.items [first + i], &rep->results [i], err, errlen);
            if (rc == 0)
                rep->results_count++;
        }
    }
    if (rc && !*err)
        snprintf (err, errlen, "people search failed");
    free (hits.items);
    index_plan_clear (&plan);
    return rc;
}

int
index_people_suggest (search_index_t *self, const index_plan_t *plan, size_t max,
                      mg_autocomplete_reply_t *rep)
{
    index_hits_t hits = { 0 };
    int rc = s_people_matches (self, plan, &hits);
    char err [128] = "";
    for (size_t i = 0; rc == 0 && i < hits.count && max > 0; i++) {
        mg_search_hit_t hit = { 0 };
        rc = s_person_hit (self, &hits.items [i], &hit, err, sizeof err);
        if (rc == 0) {
            mg_autocomplete_item_t *item = &rep->results [rep->results_count++];
            item->id = strdup (hit.id);
            item->type = strdup ("person");
            item->title = strdup (hit.title);
            item->person = strdup (hit.title);
            rc = item->id && item->type && item->title && item->person ? 0 : -1;
            max--;
        }
        mg_msg_clear (&mg_search_hit_desc, &hit);
    }
    free (hits.items);
    return rc;
}
