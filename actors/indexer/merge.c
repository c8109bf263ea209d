/*  Canonical record of an entity from its sources' normalised records.

    Sources come ordered by precedence (metadata providers before
    availability providers before rating sites). A scalar comes from the
    first source that has it; a list (genres, keywords, companies, credits, videos) from
    the first source that has a non-empty one, so lists are never mixed from
    two vocabularies; identifiers, titles and availability are the union of
    all sources, availability keyed by (platform, region, type) with the
    earlier source winning. Nothing a source said is lost: every source's
    record stays whole in content_sources.  */
#include "indexer.h"

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

static const char *s_scalars [] = {
    "type", "title", "original_title", "original_language", "overview", "tagline",
    "release_date", "year", "runtime_min", "status", "homepage", "popularity",
    "vote_average", "vote_count", "poster_path", "backdrop_path"
};

static const char *s_lists [] = {
    "genres", "keywords", "production_companies", "production_countries", "spoken_languages", "cast", "crew", "videos"
};

//  True when value carries information (not null, "", 0-length array).
static bool
s_has (json_t *value)
{
    if (!value || json_is_null (value))
        return false;
    if (json_is_string (value))
        return json_string_length (value) > 0;
    if (json_is_array (value))
        return json_array_size (value) > 0;
    return true;
}

//  Append {source, value} to ids unless that pair is there already.
static void
s_add_id (json_t *ids, const char *source, json_t *value)
{
    if (!s_has (value))
        return;
    char text [64];
    if (json_is_integer (value))
        snprintf (text, sizeof text, "%lld", (long long) json_integer_value (value));
    else
    if (json_is_string (value))
        snprintf (text, sizeof text, "%s", json_string_value (value));
    else
        return;
    size_t i;
    json_t *id;
    json_array_foreach (ids, i, id)
        if (!strcmp (json_string_value (json_object_get (id, "source")), source)
        &&  !strcmp (json_string_value (json_object_get (id, "value")), text))
            return;
    json_array_append_new (ids, json_pack ("{s:s, s:s}", "source", source, "value", text));
}

//  Append a title of kind from source unless present.
static void
s_add_title (json_t *titles, json_t *title, const char *kind, const char *source)
{
    if (!s_has (title) || !json_is_string (title))
        return;
    size_t i;
    json_t *t;
    json_array_foreach (titles, i, t)
        if (!strcmp (json_string_value (json_object_get (t, "title")), json_string_value (title))
        &&  !strcmp (json_string_value (json_object_get (t, "source")), source))
            return;
    json_array_append_new (titles, json_pack ("{s:O, s:s, s:s}", "title", title, "kind", kind, "source", source));
}

json_t *
indexer_merge (const char *entity, json_t *const *sources, const char *const *names, size_t count)
{
    json_t *out = json_pack ("{s:s}", "id", entity);
    json_t *ids = json_array ();
    json_t *titles = json_array ();
    json_t *availability = json_array ();
    if (!out || !ids || !titles || !availability) {
        json_decref (out);
        json_decref (ids);
        json_decref (titles);
        json_decref (availability);
        return NULL;
    }
    for (size_t f = 0; f < sizeof s_scalars / sizeof s_scalars [0]; f++)
        for (size_t s = 0; s < count; s++) {
            json_t *value = json_object_get (sources [s], s_scalars [f]);
            if (s_has (value)) {
                json_object_set (out, s_scalars [f], value);
                break;
            }
        }
    for (size_t f = 0; f < sizeof s_lists / sizeof s_lists [0]; f++) {
        json_t *chosen = NULL;
        for (size_t s = 0; s < count && !chosen; s++)
            if (s_has (json_object_get (sources [s], s_lists [f])))
                chosen = json_object_get (sources [s], s_lists [f]);
        json_object_set_new (out, s_lists [f], chosen ? json_copy (chosen) : json_array ());
    }
    if (!json_object_get (out, "type"))
        json_object_set_new (out, "type", json_string ("movie"));
    for (size_t s = 0; s < count; s++) {
        json_t *record = sources [s];
        const char *source = names [s];
        s_add_id (ids, "eidr", json_object_get (record, "eidr"));
        s_add_id (ids, "imdb", json_object_get (record, "imdb"));
        s_add_id (ids, "tmdb", json_object_get (record, "tmdb"));
        if (strcmp (source, "tmdb") && strcmp (source, "imdb") && strcmp (source, "eidr"))
            s_add_id (ids, source, json_object_get (record, "source_id"));
        s_add_title (titles, json_object_get (record, "title"), "source", source);
        s_add_title (titles, json_object_get (record, "original_title"), "original", source);
        size_t i;
        json_t *alt;
        json_array_foreach (json_object_get (record, "alternate_titles"), i, alt)
            s_add_title (titles, alt, "alternate", source);
        json_t *offer;
        json_array_foreach (json_object_get (record, "availability"), i, offer) {
            bool taken = false;
            size_t j;
            json_t *have;
            json_array_foreach (availability, j, have)
                if (json_equal (json_object_get (have, "platform"), json_object_get (offer, "platform"))
                &&  json_equal (json_object_get (have, "region"), json_object_get (offer, "region"))
                &&  json_equal (json_object_get (have, "type"), json_object_get (offer, "type")))
                    taken = true;
            if (!taken) {
                json_t *copy = json_copy (offer);
                json_object_set_new (copy, "source", json_string (source));
                json_array_append_new (availability, copy);
            }
        }
    }
    json_object_set_new (out, "external_ids", ids);
    json_object_set_new (out, "titles", titles);
    json_object_set_new (out, "availability", availability);
    return out;
}

//  Patterns of what the database's CHECK constraints accept, compiled once.
enum { P_DATE, P_LANGUAGE, P_SLUG, P_REGION, P_OFFER, P_QUALITY, P_CURRENCY, P_TIME, P_COUNT };
static const char *s_patterns [P_COUNT] = {
    [P_DATE] = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    [P_LANGUAGE] = "^[a-z]{2,3}$",
    [P_SLUG] = "^[a-z0-9][a-z0-9-]*$",
    [P_REGION] = "^[A-Z]{2}$",
    [P_OFFER] = "^(subscription|rent|buy|free|ads)$",
    [P_QUALITY] = "^(sd|hd|uhd|hdr)$",
    [P_CURRENCY] = "^[A-Z]{3}$",
    [P_TIME] = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)$"
};
static regex_t s_compiled [P_COUNT];
static bool s_compiled_ok;
static pthread_once_t s_compile_once = PTHREAD_ONCE_INIT;

static void
s_compile (void)
{
    s_compiled_ok = true;
    for (int i = 0; i < P_COUNT; i++)
        if (regcomp (&s_compiled [i], s_patterns [i], REG_EXTENDED | REG_NOSUB))
            s_compiled_ok = false;
}

//  True when s matches pattern p (regexec is safe on a shared compiled regex).
static bool
s_matches (const char *s, int p)
{
    pthread_once (&s_compile_once, s_compile);
    return s_compiled_ok && regexec (&s_compiled [p], s, 0, NULL, 0) == 0;
}

const char *
indexer_validate (const mg_raw_record_t *r)
{
    if (r->type && strcmp (r->type, "movie") && strcmp (r->type, "tv"))
        return "type must be movie or tv";
    if (r->has_year && (r->year < 1870 || r->year > 2100))
        return "year out of range 1870-2100";
    if (r->release_date && !s_matches (r->release_date, P_DATE))
        return "release_date is not YYYY-MM-DD";
    if (r->original_language && !s_matches (r->original_language, P_LANGUAGE))
        return "original_language is not ISO 639";
    if (r->has_vote_average && (r->vote_average < 0 || r->vote_average > 10))
        return "vote_average out of range 0-10";
    if (r->has_popularity && r->popularity < 0)
        return "popularity is negative";
    for (size_t i = 0; i < r->availability_count; i++) {
        const mg_raw_availability_t *a = &r->availability [i];
        if (!s_matches (a->platform, P_SLUG))
            return "availability platform is not a slug";
        if (!s_matches (a->region, P_REGION))
            return "availability region is not ISO 3166-1 alpha-2";
        if (!s_matches (a->type, P_OFFER))
            return "availability type is not subscription|rent|buy|free|ads";
        if (a->quality && !s_matches (a->quality, P_QUALITY))
            return "availability quality is not sd|hd|uhd|hdr";
        if (a->has_price != (a->currency != NULL))
            return "availability price and currency go together";
        if (a->has_price && (a->price < 0 || a->price > 1e9))
            return "availability price out of range";
        if (a->currency && !s_matches (a->currency, P_CURRENCY))
            return "availability currency is not ISO 4217";
        if (a->expires_at && !s_matches (a->expires_at, P_TIME))
            return "availability expires_at is not RFC 3339";
    }
    return NULL;
}
