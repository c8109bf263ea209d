/*  The reads of the user's merged state: sync.state, the watchlist and
    progress lists (each item with its title's summary in the caller's
    region, optionally only what is watchable now on the caller's
    services), one title's progress and the preferences. A read is one
    plain SELECT of the state row: no transaction, no lock, no write.  */
#include "sync.h"
#include "mg_log.h"
#include "mg_catalog_sql.h"
#include "mg_filters.h"
#include "mg_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })
#define TITLE_OFFERS_MAX "8"     //  offers per listed title: mg_sync_title availability

int
sync_view (sync_thread_t *self, const json_t *state, mg_sync_state_t *reply, mg_error_t *err)
{
    json_t *view = sync_state_view (state);
    char hlc [HLC_TEXT_LEN], reason [256];
    hlc_format (sync_now (self), hlc);
    if (view)
        json_object_set_new (view, "hlc", json_string (hlc));
    int rc = view ? mg_msg_from_json (&mg_sync_state_desc, view, reply, reason, sizeof reason) : -1;
    json_decref (view);
    if (rc) {
        mg_error ("merged state does not fit the reply", "reason=\"%s\"", view ? reason : "out of memory");
        return mg_actor_fail (err, "INTERNAL", NULL, "the merged state could not be encoded");
    }
    return 0;
}

//  The user's merged state for a read: one plain SELECT, no transaction,
//  no lock and no write (a user never seen reads as empty). NULL with err.
static json_t *
s_read (sync_thread_t *self, const char *user_id, PGconn **pg_out, mg_error_t *err)
{
    if (!mg_uuid_is (user_id, false)) {
        mg_actor_fail (err, "INVALID_PARAMETER", "user_id", "user_id must be a user id (UUID)");
        return NULL;
    }
    PGconn *pg = sync_pg (self, err);
    if (pg_out)
        *pg_out = pg;
    return pg ? sync_load (pg, user_id, false, err) : NULL;
}

int
sync_on_state (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_user_request_t *request = req;
    json_t *merged = s_read (state, request->user_id, NULL, err);
    int rc = merged ? sync_view (state, merged, rep, err) : -1;
    json_decref (merged);
    return rc;
}

//  Summaries of the titles ids (a JSON array of content ids) as a JSON
//  object by id, with their offers in region and the caller's services
//  (services: a JSON array of slugs) they are on; titles the catalog does
//  not hold are left out. NULL with err.
static json_t *
s_titles (PGconn *pg, const json_t *ids, const char *region, const char *services, mg_error_t *err)
{
    char *text = json_dumps (ids, JSON_COMPACT);
    if (!text) {
        mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
        return NULL;
    }
    PGresult *res = PQexecParams (pg,
        "SELECT coalesce (jsonb_object_agg (c.id, jsonb_build_object ('id', c.id, 'type', c.type, "
        "'title', c.title, 'year', c.year, 'poster', " SQL_IMAGE ("c.poster_path", "w500") ", "
        "'genres', " SQL_GENRES ", 'region', $2::text, 'availability', " SQL_ITEM_OFFERS_OF ("$2", TITLE_OFFERS_MAX) ", "
        "'on_my_services', coalesce ((SELECT jsonb_agg (DISTINCT a.platform ORDER BY a.platform) "
        "FROM availability a WHERE a.content_id = c.id AND a.region = $2::bpchar " SQL_MINE_OFFER ("a", "$3") "), "
        "'[]'::jsonb))), '{}'::jsonb)::text "
        "FROM content c WHERE c.id IN (SELECT (jsonb_array_elements_text ($1::jsonb))::uuid)",
        3, NULL, P (text, region, services), NULL, NULL, 0);
    free (text);
    if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != 1) {
        mg_pg_fail (err, pg, res, "sync database");
        PQclear (res);
        return NULL;
    }
    json_error_t jerr;
    json_t *titles = json_loads (PQgetvalue (res, 0, 0), 0, &jerr);
    PQclear (res);
    if (!titles)
        mg_actor_fail (err, "INTERNAL", NULL, "could not read the titles");
    return titles;
}

//  The items of list (owned) whose titles are watchable now on services (a
//  JSON array of slugs) in region: a new list, or NULL with err.
static json_t *
s_mine_only (PGconn *pg, json_t *list, const char *region, const char *services, mg_error_t *err)
{
    json_t *ids = json_array ();
    size_t index;
    json_t *item;
    json_array_foreach (list, index, item)
        json_array_append (ids, json_object_get (item, "content_id"));
    char *text = ids ? json_dumps (ids, JSON_COMPACT) : NULL;
    json_decref (ids);
    if (!text) {
        json_decref (list);
        mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
        return NULL;
    }
    PGresult *res = PQexecParams (pg,
        "SELECT coalesce (jsonb_object_agg (id, true), '{}'::jsonb)::text FROM (SELECT DISTINCT a.content_id AS id "
        "FROM availability a WHERE a.content_id IN (SELECT (jsonb_array_elements_text ($1::jsonb))::uuid) "
        "AND a.region = $2::bpchar " SQL_MINE_OFFER ("a", "$3") ") m",
        3, NULL, P (text, region, services), NULL, NULL, 0);
    free (text);
    if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != 1) {
        mg_pg_fail (err, pg, res, "sync database");
        PQclear (res);
        json_decref (list);
        return NULL;
    }
    json_t *watchable = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
    PQclear (res);
    json_t *kept = watchable ? json_array () : NULL;
    json_array_foreach (list, index, item)
        if (kept && json_object_get (watchable, json_string_value (json_object_get (item, "content_id"))))
            json_array_append (kept, item);
    json_decref (watchable);
    json_decref (list);
    if (!kept)
        mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    return kept;
}

//  One page of list (the view's watchlist or progress, owned) into reply
//  (desc: mg_watchlist_page or mg_progress_page), each item with its
//  title's summary in the caller's region and the caller's services it is
//  on; with mine, only titles watchable now on them (filtered before
//  paging). 0 or -1.
static int
s_page (sync_thread_t *self, PGconn *pg, const json_t *merged, json_t *list, const mg_sync_list_request_t *request,
        bool mine, const mg_msgdesc_t *desc, void *reply, mg_error_t *err)
{
    uint64_t page, per_page, offset;
    if (mg_filters_paging (request->has_page, request->page, request->has_per_page, request->per_page,
                           &page, &per_page, &offset, err)) {
        json_decref (list);
        return -1;
    }
    //  The caller's preferred region, else the configured default, and services.
    const json_t *prefs = json_object_get (merged, "preferences");
    const json_t *preferred = json_object_get (json_object_get (prefs, "region"), "value");
    const char *region = json_is_string (preferred) ? json_string_value (preferred) : self->shared->default_region;
    const json_t *mine_services = json_object_get (json_object_get (prefs, "services"), "value");
    char *services = json_is_array (mine_services) ? json_dumps (mine_services, JSON_COMPACT) : strdup ("[]");
    if (!services) {
        json_decref (list);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    if (mine && !(list = s_mine_only (pg, list, region, services, err))) {
        free (services);
        return -1;
    }
    size_t total = json_array_size (list);
    json_t *results = json_array (), *ids = json_array ();
    for (size_t i = (size_t) offset; results && ids && i < total && i < offset + per_page; i++) {
        json_array_append (results, json_array_get (list, i));
        json_array_append (ids, json_object_get (json_array_get (list, i), "content_id"));
    }
    json_decref (list);
    json_t *titles = results && ids ? s_titles (pg, ids, region, services, err) : NULL;
    free (services);
    json_decref (ids);
    if (!titles) {
        json_decref (results);
        return results ? -1 : mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    size_t index;
    json_t *item;
    json_array_foreach (results, index, item) {
        json_t *title = json_object_get (titles, json_string_value (json_object_get (item, "content_id")));
        if (title)
            json_object_set (item, "content", title);
    }
    json_decref (titles);
    json_t *body = json_pack ("{s:o, s:I, s:I, s:I}", "results", results, "total", (json_int_t) total,
                              "page", (json_int_t) page, "per_page", (json_int_t) per_page);
    char reason [256];
    int rc = body ? mg_msg_from_json (desc, body, reply, reason, sizeof reason) : -1;
    json_decref (body);
    if (rc) {
        mg_error ("list page does not fit the reply", "reply=%s reason=\"%s\"", desc->name,
                  body ? reason : "out of memory");
        return mg_actor_fail (err, "INTERNAL", NULL, "the list could not be encoded");
    }
    return 0;
}

//  A list of the user's merged state (key: watchlist or progress) as a page.
static int
s_list (sync_thread_t *self, const mg_sync_list_request_t *request, bool mine, const char *key,
        const mg_msgdesc_t *desc, void *reply, mg_error_t *err)
{
    PGconn *pg = NULL;
    json_t *merged = s_read (self, request->user_id, &pg, err);
    json_t *view = merged ? sync_state_view (merged) : NULL;
    int rc = -1;
    if (view)
        rc = s_page (self, pg, merged, json_incref (json_object_get (view, key)), request, mine, desc, reply, err);
    else
    if (merged)
        mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    json_decref (view);
    json_decref (merged);
    return rc;
}

int
sync_on_watchlist_list (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_list_request_t *request = req;
    if (request->available && strcmp (request->available, "mine") != 0)
        return mg_actor_fail (err, "INVALID_PARAMETER", "available", "available must be mine");
    return s_list (state, request, request->available != NULL, "watchlist", &mg_watchlist_page_desc, rep, err);
}

int
sync_on_progress_list (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_list_request_t *request = req;
    if (request->available)
        return mg_actor_fail (err, "INVALID_PARAMETER", "available", "available applies to /me/watchlist only");
    return s_list (state, request, false, "progress", &mg_progress_page_desc, rep, err);
}

int
sync_on_preferences_get (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_user_request_t *request = req;
    json_t *merged = s_read (state, request->user_id, NULL, err);
    json_t *view = merged ? sync_state_view (merged) : NULL;
    char reason [256];
    int rc = view ? mg_msg_from_json (&mg_sync_preferences_desc, json_object_get (view, "preferences"), rep,
                                      reason, sizeof reason) : -1;
    if (rc && view) {
        mg_error ("preferences do not fit the reply", "reason=\"%s\"", reason);
        mg_actor_fail (err, "INTERNAL", NULL, "the preferences could not be encoded");
    }
    else
    if (rc && merged)
        mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    json_decref (view);
    json_decref (merged);
    return rc;
}

int
sync_on_progress_get (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_title_request_t *request = req;
    mg_progress_item_t *reply = rep;
    mg_sync_state_t all = { 0 };
    json_t *merged = s_read (state, request->user_id, NULL, err);
    int rc = merged ? sync_view (state, merged, &all, err) : -1;
    json_decref (merged);
    for (size_t i = 0; rc == 0 && i < all.progress_count; i++)
        if (strcmp (all.progress [i].content_id, request->content_id) == 0) {
            *reply = all.progress [i];
            memset (&all.progress [i], 0, sizeof all.progress [i]);     //  moved to the reply
            mg_msg_clear (&mg_sync_state_desc, &all);
            return 0;
        }
    mg_msg_clear (&mg_sync_state_desc, &all);
    return rc ? rc : mg_actor_fail (err, "NOT_FOUND", "content_id", "no progress recorded for this title");
}

json_t *
sync_user_view (sync_thread_t *self, const char *user_id, mg_error_t *err)
{
    json_t *merged = s_read (self, user_id, NULL, err);
    json_t *view = merged ? sync_state_view (merged) : NULL;
    if (merged && view)
        json_object_set_new (view, "titles", json_integer ((json_int_t) sync_state_titles (merged)));
    else
    if (merged)
        mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    json_decref (merged);
    return view;
}
