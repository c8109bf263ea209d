/*  Provider data -> raw.record JSON objects (the schema's mg_raw_record),
    the one shape every source takes into indexer.enqueue. The importer and
    the live provider clients share these mappings.  */
#ifndef FETCHER_RECORDS_H_INCLUDED
#define FETCHER_RECORDS_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

//  A TMDB v3 movie or TV object (details with append_to_response credits,
//  videos, keywords, external_ids; or the bundled catalog's line, which adds
//  "availability" in raw.availability shape) as a new raw.record object.
//  NULL with a reason when it has no usable id or title.
json_t *records_from_tmdb (const json_t *tmdb, char *err, size_t errlen);

//  A TMDB 5000 export row as the TMDB v3 object it was flattened from:
//  columns named by header; JSON-valued columns (genres, keywords, ...)
//  parsed. credits, when not NULL, is the matching credits row's {cast, crew}
//  (borrowed). NULL with a reason when a JSON column does not parse.
json_t *records_tmdb_csv_row (char **header, char **fields, size_t count,
                              const json_t *credits, char *err, size_t errlen);

//  A TMDB 5000 credits row's cast and crew columns (JSON text) as the TMDB
//  {cast, crew} object records_from_tmdb reads, trimmed to what it keeps
//  (billed cast, key crew). NULL with a reason when a column does not parse.
json_t *records_tmdb_credits (const char *cast, const char *crew, char *err, size_t errlen);

//  A MovieLens movies.csv row ("Matrix, The (1999)", "Action|Sci-Fi") as a
//  raw.record of source movielens; imdb ("0133093" or "tt0133093") and tmdb
//  (0 = none) come from links.csv. NULL with a reason when unusable.
json_t *records_from_movielens (const char *movie_id, const char *listing, const char *genres,
                                const char *imdb, long long tmdb, char *err, size_t errlen);

#endif
