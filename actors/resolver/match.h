/*  Entity matching, tiers 1-3, over an in-memory index of known entities.

    Seen    the same (source, source_id) as before     keeps its entity
    Tier 1  EIDR id                                    confidence 1.00
    Tier 2  IMDb or TMDB id (TMDB ids are per type)    confidence 0.99
    Tier 3  title and year:
            a full title equal after normalising, years within 1;
            a main title or subtitle equal, same year, and at least one
              genre in common when both sides have genres;
            a full title with normalised Levenshtein >= 0.85, the same
              numbers and word count, years within 1, and a shared genre
              when the years differ.
            Candidates rank by year distance, then exact over partial over
            fuzzy, then similarity; a tie between two entities at the top is
            ambiguous and matches nothing (a wrong merge is worse than a
            missed one); asked for, the tied entities are its candidates.
    A record without a year never matches on tier 3, nor does an entity
    that has another id of a kind the record has (two TMDB ids are two
    films).  */
#ifndef RESOLVER_MATCH_H_INCLUDED
#define RESOLVER_MATCH_H_INCLUDED

#include "genres.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MATCH_ID_MAX      37          //  a UUID in text and its NUL
#define MATCH_TITLES_MAX  8           //  titles of one record considered
#define MATCH_CANDIDATES_MAX 8        //  candidates reported for an ambiguous record

typedef struct {
    const char *type;                 //  "movie" or "tv"
    const char *titles [MATCH_TITLES_MAX];  //  title, original title, alternates
    int ntitles;
    int year;                         //  0 = unknown
    genre_set_t genres;
    const char *source;               //  the record's source and its id there:
    const char *source_id;            //  a record seen before keeps its entity
    const char *eidr;                 //  NULL when absent
    const char *imdb;
    int64_t tmdb;                     //  0 when absent
    bool candidates;                  //  no match: report what fits (result->candidates)
} match_record_t;

typedef struct {
    char entity [MATCH_ID_MAX];       //  "" when nothing matched
    int tier;                         //  1-3, 0 when nothing matched
    double confidence;
    int64_t tmdb;                     //  the entity's TMDB id, 0 when unknown
    bool known;                       //  this very source record was seen before
    char candidates [MATCH_CANDIDATES_MAX][MATCH_ID_MAX];   //  record->candidates and no match:
    int ncandidates;                  //  the entities that fit equally well
} match_result_t;

typedef struct match_index_t match_index_t;

match_index_t *match_index_new (void);
void match_index_destroy (match_index_t **self_p);

//  Add (or extend) entity with what record says of it: ids, titles, year,
//  genres. Returns 0, or -1 on out of memory.
int match_index_add (match_index_t *self, const char *entity, const match_record_t *record);

//  Best match for record; result->tier is 0 when none.
void match_index_lookup (match_index_t *self, const match_record_t *record, match_result_t *result);

//  Entities in the index.
size_t match_index_size (match_index_t *self);

#endif
