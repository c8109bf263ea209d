/*  Entity index and tier 1-3 matching (rules in match.h).  */
#include "match.h"
#include "title.h"

#include <czmq.h>
#include <math.h>

#define YEAR_MIN        1870
#define YEAR_MAX        2100
#define FUZZY_MIN       0.85      //  seed: normalised Levenshtein threshold
#define CANDIDATES_MAX  64

typedef struct {
    char id [MATCH_ID_MAX];
    char type [8];
    int year;
    genre_set_t genres;
    int64_t tmdb;
    char imdb [16];                   //  first IMDb id a source gave, "" when none
    char eidr [40];
} s_entity_t;

//  A normalised title of an entity.
typedef struct {
    s_entity_t *entity;
    bool full;
} s_title_ref_t;

//  Growable array of title refs under one normalised title.
typedef struct {
    s_title_ref_t *refs;
    size_t count, room;
} s_title_list_t;

//  Full titles of the entities of one year, for fuzzy scans.
typedef struct {
    s_entity_t *entity;
    char *text;
    int words;
    int len;
} s_fuzzy_t;

typedef struct {
    s_fuzzy_t *items;
    size_t count, room;
} s_year_t;

struct match_index_t {
    zhashx_t *entities;           //  id -> s_entity_t (owned)
    zhashx_t *ids;                //  "imdb:tt..." -> s_entity_t (borrowed)
    zhashx_t *titles;             //  normalised title -> s_title_list_t (owned)
    s_year_t years [YEAR_MAX - YEAR_MIN + 1];
};

typedef struct {
    s_entity_t *entity;
    int distance;                 //  years apart
    int kind;                     //  0 full exact, 1 partial exact, 2 fuzzy
    double similarity;
} s_candidate_t;

static void
s_entity_free (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_title_list_free (void **item)
{
    s_title_list_t *list = *item;
    if (list) {
        free (list->refs);
        free (list);
        *item = NULL;
    }
}

match_index_t *
match_index_new (void)
{
    match_index_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->entities = zhashx_new ();
    self->ids = zhashx_new ();
    self->titles = zhashx_new ();
    if (!self->entities || !self->ids || !self->titles) {
        match_index_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->entities, s_entity_free);
    zhashx_set_destructor (self->titles, s_title_list_free);
    return self;
}

void
match_index_destroy (match_index_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        match_index_t *self = *self_p;
        for (size_t y = 0; y < sizeof self->years / sizeof self->years [0]; y++) {
            for (size_t i = 0; i < self->years [y].count; i++)
                free (self->years [y].items [i].text);
            free (self->years [y].items);
        }
        zhashx_destroy (&self->titles);
        zhashx_destroy (&self->ids);
        zhashx_destroy (&self->entities);
        free (self);
        *self_p = NULL;
    }
}

size_t
match_index_size (match_index_t *self)
{
    assert (self);
    return zhashx_size (self->entities);
}

//  Key of an external id: "eidr:...", "imdb:tt...", "tmdb:movie:603".
static void
s_id_key (char *key, size_t len, const char *source, const char *type, const char *value)
{
    if (type)
        snprintf (key, len, "%s:%s:%s", source, type, value);
    else
        snprintf (key, len, "%s:%s", source, value);
}

//  Record a normalised title of entity (once per entity).
static int
s_add_title (match_index_t *self, s_entity_t *entity, const char *text, bool full)
{
    s_title_list_t *list = zhashx_lookup (self->titles, text);
    if (!list) {
        list = calloc (1, sizeof *list);
        if (!list || zhashx_insert (self->titles, text, list)) {
            free (list);
            return -1;
        }
    }
    for (size_t i = 0; i < list->count; i++)
        if (list->refs [i].entity == entity) {
            list->refs [i].full |= full;
            return 0;
        }
    if (list->count == list->room) {
        size_t room = list->room ? list->room * 2 : 2;
        s_title_ref_t *refs = realloc (list->refs, room * sizeof *refs);
        if (!refs)
            return -1;
        list->refs = refs;
        list->room = room;
    }
    list->refs [list->count++] = (s_title_ref_t) { entity, full };
    if (!full || entity->year < YEAR_MIN || entity->year > YEAR_MAX)
        return 0;
    s_year_t *year = &self->years [entity->year - YEAR_MIN];
    if (year->count == year->room) {
        size_t room = year->room ? year->room * 2 : 16;
        s_fuzzy_t *items = realloc (year->items, room * sizeof *items);
        if (!items)
            return -1;
        year->items = items;
        year->room = room;
    }
    char *copy = strdup (text);
    if (!copy)
        return -1;
    year->items [year->count++] = (s_fuzzy_t) { entity, copy, title_words (text), (int) strlen (text) };
    return 0;
}

int
match_index_add (match_index_t *self, const char *entity_id, const match_record_t *record)
{
    assert (self);
    assert (entity_id);
    assert (record);
    s_entity_t *entity = zhashx_lookup (self->entities, entity_id);
    if (!entity) {
        entity = calloc (1, sizeof *entity);
        if (!entity)
            return -1;
        snprintf (entity->id, sizeof entity->id, "%s", entity_id);
        snprintf (entity->type, sizeof entity->type, "%s", record->type ? record->type : "movie");
        entity->year = record->year;
        if (zhashx_insert (self->entities, entity_id, entity)) {
            free (entity);
            return -1;
        }
    }
    if (!entity->year)
        entity->year = record->year;
    if (!entity->tmdb)
        entity->tmdb = record->tmdb;
    if (!entity->imdb [0] && record->imdb)
        snprintf (entity->imdb, sizeof entity->imdb, "%s", record->imdb);
    if (!entity->eidr [0] && record->eidr)
        snprintf (entity->eidr, sizeof entity->eidr, "%s", record->eidr);
    entity->genres |= record->genres;
    char key [256];
    if (record->source && record->source_id) {
        s_id_key (key, sizeof key, "src", record->source, record->source_id);
        zhashx_update (self->ids, key, entity);
    }
    if (record->eidr) {
        s_id_key (key, sizeof key, "eidr", NULL, record->eidr);
        zhashx_update (self->ids, key, entity);
    }
    if (record->imdb) {
        s_id_key (key, sizeof key, "imdb", NULL, record->imdb);
        zhashx_update (self->ids, key, entity);
    }
    if (record->tmdb > 0) {
        char value [32];
        snprintf (value, sizeof value, "%lld", (long long) record->tmdb);
        s_id_key (key, sizeof key, "tmdb", entity->type, value);
        zhashx_update (self->ids, key, entity);
    }
    for (int t = 0; t < record->ntitles && t < MATCH_TITLES_MAX; t++) {
        title_variant_t variants [TITLE_VARIANTS];
        int n = record->titles [t] ? title_variants (record->titles [t], variants) : 0;
        for (int v = 0; v < n; v++)
            if (s_add_title (self, entity, variants [v].text, variants [v].full))
                return -1;
    }
    return 0;
}

//  True when the record and the entity carry different ids of one kind: two
//  TMDB (or IMDb, or EIDR) ids are two films, whatever their titles say.
static bool
s_ids_conflict (const s_entity_t *entity, const match_record_t *record)
{
    return (record->tmdb > 0 && entity->tmdb > 0 && record->tmdb != entity->tmdb)
        || (record->imdb && entity->imdb [0] && strcmp (record->imdb, entity->imdb) != 0)
        || (record->eidr && entity->eidr [0] && strcmp (record->eidr, entity->eidr) != 0);
}

//  True unless both sides know their genres and share none.
static bool
s_genres_agree (genre_set_t a, genre_set_t b)
{
    return !a || !b || (a & b);
}

//  Candidate order: nearer year, then exact over partial over fuzzy, then similarity.
static int
s_compare (const s_candidate_t *a, const s_candidate_t *b)
{
    if (a->distance != b->distance)
        return a->distance - b->distance;
    if (a->kind != b->kind)
        return a->kind - b->kind;
    if (a->similarity != b->similarity)
        return a->similarity > b->similarity ? -1 : 1;
    return 0;
}

static void
s_consider (s_candidate_t *list, int *count, s_candidate_t candidate)
{
    for (int i = 0; i < *count; i++)
        if (list [i].entity == candidate.entity) {
            if (s_compare (&candidate, &list [i]) < 0)
                list [i] = candidate;
            return;
        }
    if (*count < CANDIDATES_MAX)
        list [(*count)++] = candidate;
}

//  Tier 1 and 2 by id; true when found.
static bool
s_by_id (match_index_t *self, const match_record_t *record, match_result_t *result)
{
    char key [256];
    s_entity_t *entity = NULL;
    if (record->source && record->source_id) {
        s_id_key (key, sizeof key, "src", record->source, record->source_id);
        if ((entity = zhashx_lookup (self->ids, key))) {
            result->known = true;
            result->tier = 2;
            result->confidence = 1.0;
        }
    }
    if (!entity && record->eidr) {
        s_id_key (key, sizeof key, "eidr", NULL, record->eidr);
        if ((entity = zhashx_lookup (self->ids, key))) {
            result->tier = 1;
            result->confidence = 1.0;
        }
    }
    if (!entity && record->imdb) {
        s_id_key (key, sizeof key, "imdb", NULL, record->imdb);
        entity = zhashx_lookup (self->ids, key);
    }
    if (!entity && record->tmdb > 0) {
        char value [32];
        snprintf (value, sizeof value, "%lld", (long long) record->tmdb);
        s_id_key (key, sizeof key, "tmdb", record->type ? record->type : "movie", value);
        entity = zhashx_lookup (self->ids, key);
    }
    if (!entity)
        return false;
    if (!result->tier) {
        result->tier = 2;
        result->confidence = 0.99;
    }
    snprintf (result->entity, sizeof result->entity, "%s", entity->id);
    result->tmdb = entity->tmdb;
    return true;
}

//  A record without a year: every entity of its type whose full title
//  equals one of the record's (and whose ids do not conflict) is a candidate.
static void
s_same_titles (match_index_t *self, const match_record_t *record, const char *type,
               const title_variant_t *variants, int nvariants, match_result_t *result)
{
    for (int v = 0; v < nvariants; v++) {
        if (!variants [v].full)
            continue;
        s_title_list_t *list = zhashx_lookup (self->titles, variants [v].text);
        for (size_t i = 0; list && i < list->count && result->ncandidates < MATCH_CANDIDATES_MAX; i++) {
            s_entity_t *entity = list->refs [i].entity;
            if (!list->refs [i].full || strcmp (entity->type, type) != 0 || s_ids_conflict (entity, record))
                continue;
            bool seen = false;
            for (int c = 0; c < result->ncandidates && !seen; c++)
                seen = strcmp (result->candidates [c], entity->id) == 0;
            if (!seen)
                snprintf (result->candidates [result->ncandidates++], MATCH_ID_MAX, "%s", entity->id);
        }
    }
}

void
match_index_lookup (match_index_t *self, const match_record_t *record, match_result_t *result)
{
    assert (self);
    assert (record);
    assert (result);
    memset (result, 0, sizeof *result);
    if (s_by_id (self, record, result))
        return;
    const char *type = record->type ? record->type : "movie";
    title_variant_t variants [MATCH_TITLES_MAX * TITLE_VARIANTS];
    int nvariants = 0;
    for (int t = 0; t < record->ntitles && t < MATCH_TITLES_MAX; t++)
        if (record->titles [t])
            nvariants += title_variants (record->titles [t], variants + nvariants);
    if (record->year == 0) {
        if (record->candidates)
            s_same_titles (self, record, type, variants, nvariants, result);
        return;
    }

    s_candidate_t candidates [CANDIDATES_MAX];
    int count = 0;
    for (int v = 0; v < nvariants; v++) {
        s_title_list_t *list = zhashx_lookup (self->titles, variants [v].text);
        for (size_t i = 0; list && i < list->count; i++) {
            s_entity_t *entity = list->refs [i].entity;
            if (!entity->year || strcmp (entity->type, type) != 0 || s_ids_conflict (entity, record))
                continue;
            int distance = abs (entity->year - record->year);
            bool full = variants [v].full && list->refs [i].full;
            //  A part of a title stands for the film only with corroboration.
            if (distance > 1 || (!full && (distance != 0 || !s_genres_agree (entity->genres, record->genres))))
                continue;
            s_consider (candidates, &count, (s_candidate_t) { entity, distance, full ? 0 : 1, 1.0 });
        }
    }
    if (count == 0)
        for (int year = record->year - 1; year <= record->year + 1; year++) {
            if (year < YEAR_MIN || year > YEAR_MAX)
                continue;
            s_year_t *bucket = &self->years [year - YEAR_MIN];
            int distance = abs (year - record->year);
            for (int v = 0; v < nvariants; v++) {
                if (!variants [v].full)
                    continue;
                const char *text = variants [v].text;
                int len = (int) strlen (text);
                int words = title_words (text);
                for (size_t i = 0; i < bucket->count; i++) {
                    s_fuzzy_t *item = &bucket->items [i];
                    //  Lengths further apart than 15 % cannot reach 0.85.
                    int longer = len > item->len ? len : item->len;
                    if (abs (len - item->len) > longer * (1.0 - FUZZY_MIN) + 1
                    ||  item->words != words || strcmp (item->entity->type, type) != 0
                    ||  s_ids_conflict (item->entity, record)
                    ||  !title_same_numbers (text, item->text)
                    ||  (distance && !s_genres_agree (item->entity->genres, record->genres)))
                        continue;
                    double similarity = title_similarity (text, item->text);
                    if (similarity >= FUZZY_MIN)
                        s_consider (candidates, &count,
                                    (s_candidate_t) { item->entity, distance, 2, similarity });
                }
            }
        }
    if (count == 0)
        return;
    int best = 0;
    for (int i = 1; i < count; i++)
        if (s_compare (&candidates [i], &candidates [best]) < 0)
            best = i;
    bool tie = false;
    for (int i = 0; i < count; i++)
        if (i != best && s_compare (&candidates [i], &candidates [best]) == 0)
            tie = true;
    if (tie) {                //  ambiguous: two entities fit equally well
        for (int i = 0; record->candidates && i < count && result->ncandidates < MATCH_CANDIDATES_MAX; i++)
            if (s_compare (&candidates [i], &candidates [best]) == 0)
                snprintf (result->candidates [result->ncandidates++], MATCH_ID_MAX, "%s", candidates [i].entity->id);
        return;
    }
    const s_candidate_t *winner = &candidates [best];
    snprintf (result->entity, sizeof result->entity, "%s", winner->entity->id);
    result->tmdb = winner->entity->tmdb;
    result->tier = 3;
    if (winner->kind == 0)
        result->confidence = winner->distance ? 0.93 : 0.97;
    else
    if (winner->kind == 1)
        result->confidence = 0.90;
    else
        result->confidence = 0.95 * winner->similarity - 0.02 * winner->distance;
}
