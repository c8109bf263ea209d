/*  Provider genres to the 18 canonical genres (ids of config/sql/002).
    TMDB's "TV Movie" is a format, not a genre: it maps to nothing.  */
#ifndef RESOLVER_GENRES_H_INCLUDED
#define RESOLVER_GENRES_H_INCLUDED

#include <stdint.h>

#define GENRE_COUNT 18

//  Bit (1 << (id - 1)) per canonical genre id 1..18.
typedef uint32_t genre_set_t;

//  Canonical genres of a TMDB genre id (movie or TV list); 0 when none.
genre_set_t genres_from_tmdb_id (int64_t tmdb_id);

//  Canonical genres of a genre name from any provider ("Sci-Fi", "Action &
//  Adventure", "Children", ...), by alias table, then by normalised
//  Levenshtein >= 0.8 against the canonical names. 0 when none is close.
genre_set_t genres_from_name (const char *name);

//  Slug of canonical id 1..18, or NULL.
const char *genres_slug (int id);

//  Canonical id of slug, or 0.
int genres_id (const char *slug);

#endif
