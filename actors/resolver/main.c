/*  mg-resolver: normalisation and entity resolution (see resolver.h).  */
#include "resolver.h"
#include "normalize.h"
#include "title_parse.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <czmq.h>
#include <sodium.h>
#include <stdlib.h>

#define RESOLVE_MAX  1000          //  records in one resolve request (API contract)
#define RESOLVER_BATCH_TTL_MS 30000 //  what callers of resolver.resolve allow a batch

static const mg_method_t s_methods [] = {
    { "resolver.resolve", &mg_resolve_request_desc, &mg_resolve_reply_desc, resolver_on_resolve },
    { "resolver.stats", &mg_empty_desc, &mg_resolver_stats_desc, resolver_on_stats },
    { NULL, NULL, NULL, NULL }
};

//  Check one public record and fill a match query (its titles point into
//  in and parsed); NULL or the reason. The title is read the way the
//  importer reads a listing (title_parse.h): "Matrix, The" is The Matrix,
//  "(Alternate)" groups are other titles, a "(1999)" at the end is the year
//  unless the record gives one.
static const char *
s_public_record (json_t *in, match_record_t *out, genre_set_t *genres, title_parsed_t *parsed)
{
    memset (out, 0, sizeof *out);
    if (!json_is_object (in))
        return "a record must be an object";
    const char *key;
    json_t *value;
    json_object_foreach (in, key, value)
        if (strcmp (key, "title") && strcmp (key, "year") && strcmp (key, "type")
        &&  strcmp (key, "genres") && strcmp (key, "ids") && strcmp (key, "alternate_titles"))
            return "unknown field (allowed: title, year, type, genres, ids, alternate_titles)";
    json_t *title = json_object_get (in, "title");
    if (!json_is_string (title) || json_string_length (title) == 0 || json_string_length (title) > 1000)
        return "title must be a string of 1 to 1000 bytes";
    title_parse_listing (json_string_value (title), parsed);
    out->titles [out->ntitles++] = *parsed->title ? parsed->title : json_string_value (title);
    for (int a = 0; a < parsed->nalternates && out->ntitles < MATCH_TITLES_MAX; a++)
        out->titles [out->ntitles++] = parsed->alternates [a];
    out->year = parsed->year;
    json_t *alternates = json_object_get (in, "alternate_titles");
    if (alternates && !json_is_null (alternates)) {
        if (!json_is_array (alternates) || json_array_size (alternates) > MATCH_TITLES_MAX - 1)
            return "alternate_titles must be an array of at most 7 strings";
        size_t i;
        json_t *alternate;
        json_array_foreach (alternates, i, alternate) {
            if (!json_is_string (alternate) || json_string_length (alternate) > 1000)
                return "alternate_titles must hold strings of at most 1000 bytes";
            if (out->ntitles < MATCH_TITLES_MAX)
                out->titles [out->ntitles++] = json_string_value (alternate);
        }
    }
    json_t *year = json_object_get (in, "year");
    if (year && !json_is_null (year)) {
        if (!json_is_integer (year) || json_integer_value (year) < 1870 || json_integer_value (year) > 2100)
            return "year must be an integer from 1870 to 2100";
        out->year = (int) json_integer_value (year);
    }
    json_t *type = json_object_get (in, "type");
    out->type = "movie";
    if (type && !json_is_null (type)) {
        if (!json_is_string (type) || (strcmp (json_string_value (type), "movie") && strcmp (json_string_value (type), "tv")))
            return "type must be movie or tv";
        out->type = json_string_value (type);
    }
    json_t *list = json_object_get (in, "genres");
    *genres = 0;
    if (list && !json_is_null (list)) {
        if (!json_is_array (list) || json_array_size (list) > 32)
            return "genres must be an array of at most 32 names";
        size_t i;
        json_array_foreach (list, i, value)
            if (json_is_string (value))
                *genres |= genres_from_name (json_string_value (value));    //  unknown names are ignored
    }
    out->genres = *genres;
    json_t *ids = json_object_get (in, "ids");
    if (ids && !json_is_null (ids)) {
        if (!json_is_object (ids))
            return "ids must be an object";
        json_object_foreach (ids, key, value) {
            if (!strcmp (key, "imdb") && json_is_string (value))
                out->imdb = json_string_value (value);
            else
            if (!strcmp (key, "eidr") && json_is_string (value))
                out->eidr = json_string_value (value);
            else
            if (!strcmp (key, "tmdb") && json_is_integer (value) && json_integer_value (value) > 0)
                out->tmdb = json_integer_value (value);
            else
                return "ids may hold imdb (string), tmdb (positive integer) and eidr (string)";
        }
    }
    return NULL;
}

int
resolver_on_resolve (void *state, const void *req, void *rep, mg_error_t *err)
{
    resolver_t *self = state;
    const mg_resolve_request_t *request = req;
    mg_resolve_reply_t *reply = rep;
    json_error_t jerr;
    json_t *doc = json_loads (request->body, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return mg_actor_fail (err, "INVALID_JSON", NULL, "the request body is not valid JSON: %s (line %d, column %d)",
                              jerr.text, jerr.line, jerr.column);
    json_t *records = json_object_get (doc, "records");
    if (!json_is_object (doc) || !json_is_array (records)) {
        json_decref (doc);
        return mg_actor_fail (err, "INVALID_PARAMETER", "records", "the body must be {\"records\":[...]}");
    }
    size_t count = json_array_size (records);
    if (count > RESOLVE_MAX) {
        json_decref (doc);
        return mg_actor_fail (err, "INVALID_PARAMETER", "records", "at most %d records per request", RESOLVE_MAX);
    }
    reply->results = calloc (count ? count : 1, sizeof (mg_resolve_result_t));
    reply->errors = calloc (count ? count : 1, sizeof (mg_resolve_error_t));
    if (!reply->results || !reply->errors) {
        json_decref (doc);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    reply->results_count = count;
    title_parsed_t *parsed = malloc (sizeof *parsed);
    if (!parsed) {
        json_decref (doc);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    pthread_rwlock_rdlock (&self->lock);
    for (size_t i = 0; i < count; i++) {
        match_record_t query;
        genre_set_t genres;
        const char *problem = s_public_record (json_array_get (records, i), &query, &genres, parsed);
        if (problem) {
            mg_resolve_error_t *e = &reply->errors [reply->errors_count++];
            e->index = i;
            e->has_index = true;
            e->message = strdup (problem);
            continue;
        }
        match_result_t match;
        query.candidates = request->has_candidates && request->candidates;
        match_index_lookup (self->index, &query, &match);
        mg_resolve_result_t *out = &reply->results [i];
        if (!match.tier && match.ncandidates > 0) {
            out->candidates = calloc ((size_t) match.ncandidates, sizeof (char *));
            for (int c = 0; out->candidates && c < match.ncandidates; c++)
                if ((out->candidates [c] = strdup (match.candidates [c])))
                    out->candidates_count++;
        }
        if (!match.tier)
            continue;
        out->id = strdup (match.entity);
        out->tier = (uint64_t) match.tier;
        out->has_tier = true;
        out->confidence = match.confidence;
        out->has_confidence = true;
        if (match.tmdb) {
            out->tmdb_id = match.tmdb;
            out->has_tmdb_id = true;
        }
    }
    pthread_rwlock_unlock (&self->lock);
    free (parsed);
    json_decref (doc);
    return 0;
}

int
resolver_on_stats (void *state, const void *req, void *rep, mg_error_t *err)
{
    resolver_t *self = state;
    mg_resolver_stats_t *stats = rep;
    (void) req;
    (void) err;
    pthread_rwlock_rdlock (&self->lock);
    stats->entities = match_index_size (self->index);
    pthread_rwlock_unlock (&self->lock);
    stats->resolved = atomic_load (&self->resolved);
    stats->merged = atomic_load (&self->merged);
    stats->created = atomic_load (&self->created);
    stats->rejected = atomic_load (&self->rejected);
    stats->has_entities = stats->has_resolved = stats->has_merged = stats->has_created = stats->has_rejected = true;
    return 0;
}

//  Handler threads share the resolver (reads under the lock).
static void *
s_thread_init (void *shared)
{
    return shared;
}

int
main (void)
{
    mg_log_init ("resolver");
    mg_curve_set_role ("resolver");
    zsys_init ();
    if (sodium_init () < 0)
        return EXIT_FAILURE;
    resolver_t self = { .index = match_index_new () };
    self.pg_url = mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway");
    self.broker = mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555");
    if (!self.index || pthread_rwlock_init (&self.lock, NULL))
        return EXIT_FAILURE;
    //  Subscribed before the snapshot, so that no change falls between them.
    const char *events = mg_config_str ("MG_EVENTS", "tcp://127.0.0.1:5557");
    self.events = zsock_new (ZMQ_SUB);
    if (!self.events || mg_curve_client (self.events) || mg_config_connect (self.events, events)) {
        zsock_destroy (&self.events);
        mg_error ("cannot connect to the event proxy", "endpoint=%s", events);
        return EXIT_FAILURE;
    }
    zsock_set_subscribe (self.events, "content.changed");
    //  The schema belongs to the indexer, but the resolver reads it at start.
    if (mg_pg_prepare (self.pg_url) || resolver_load (&self))
        return EXIT_FAILURE;
    mg_actor_t *actor = mg_actor_new ("resolver", s_methods);
    if (!actor)
        return EXIT_FAILURE;
    mg_actor_set_threads (actor, 0, s_thread_init, NULL, &self);
    //  resolver.resolve checks a whole batch; its callers give it 30 s.
    mg_actor_set_stall (actor, RESOLVER_BATCH_TTL_MS);
    pthread_t ingest;
    bool ingesting = mg_config_int ("MG_RESOLVER_INGEST", 1, 0, 1) == 1
                  && pthread_create (&ingest, NULL, resolver_ingest_main, &self) == 0;
    pthread_t follow;
    bool following = pthread_create (&follow, NULL, resolver_follow, &self) == 0;
    if (!following)
        mg_warn ("the follower did not start: this replica matches only what it loaded and ingests", NULL);
    int rc = mg_actor_run (actor);
    atomic_store (&self.stopping, true);
    if (ingesting)
        pthread_join (ingest, NULL);
    if (following)
        pthread_join (follow, NULL);
    zsock_destroy (&self.events);
    mg_actor_destroy (&actor);
    match_index_destroy (&self.index);
    pthread_rwlock_destroy (&self.lock);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
