/*  catalog.person: one person by canonical id, with one page of their
    filmography (every title a credit of theirs names: cast and crew), the
    most popular title first. People are rows of their own (011_people.sql);
    a credit names a person by the person's TMDB id.  */
#include "catalog.h"
#include "mg_catalog_sql.h"

#include <string.h>

//  Filmography order: most popular title first, then newest, then by title;
//  role and order part a person's several credits on one title, the id
//  makes pages stable.
#define SQL_FILM_ORDER "popularity DESC NULLS LAST, year DESC NULLS LAST, title, role, ord, id"

//  $1 person id, $2 per_page, $3 offset, $4 page.
static const char s_person_sql [] =
    "WITH p AS (SELECT * FROM people WHERE id = $1::uuid), "
    "f AS (SELECT c.id, c.type, c.title, c.year, c.popularity, c.poster_path, cr.role, cr.ord, "
    "      cr.character, cr.job FROM p JOIN credits cr ON cr.person_tmdb_id = p.tmdb_id "
    "      JOIN content c ON c.id = cr.content_id) "
    "SELECT jsonb_build_object ('id', p.id, 'name', p.name, 'known_for_department', p.known_for_department, "
    "'profile', " SQL_IMAGE ("p.profile_path", "w185") ", "
    "'external_ids', jsonb_build_object ('tmdb', p.tmdb_id), "
    "'total', (SELECT count (*) FROM f), 'page', $4::bigint, 'per_page', $2::bigint, "
    "'filmography', coalesce ((SELECT jsonb_agg (jsonb_build_object ('id', x.id, 'type', x.type, "
    "  'title', x.title, 'year', x.year, 'role', x.role, 'character', x.character, 'job', x.job, "
    "  'order', x.ord, 'popularity', x.popularity, 'poster', " SQL_IMAGE ("x.poster_path", "w500") ") "
    "  ORDER BY " SQL_FILM_ORDER ") "
    "  FROM (SELECT * FROM f ORDER BY " SQL_FILM_ORDER " LIMIT $2::bigint OFFSET $3::bigint) x), '[]'::jsonb)"
    ")::text FROM p";

int
catalog_on_person (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_person_request_t *request = req;
    char id [37], paging [3][24];
    if (mg_filters_uuid (request->id, id, "id", err)
    ||  catalog_paging (request->has_page, request->page, request->has_per_page, request->per_page, paging, err))
        return -1;
    const char *params [] = { id, paging [0], paging [1], paging [2] };
    int rc = catalog_query_json (state, s_person_sql, 4, params, &mg_person_details_desc, rep, err);
    return rc == 1 ? mg_actor_fail (err, "NOT_FOUND", "id", "no person with id %s", id) : rc;
}
