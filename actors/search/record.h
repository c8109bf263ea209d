/*  A title of a source-record file (JSON Lines as data/catalog.jsonl and
    bench/search_gen.py write them: TMDB's shape, genres as objects with a
    name, keywords as strings, credits' cast as objects with a name) read
    without PostgreSQL: by mg-search-bench, and by mg-embed-train --from.  */
#ifndef SEARCH_RECORD_H_INCLUDED
#define SEARCH_RECORD_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

//  Join the string member key of each object of array (or each string of
//  it when key is NULL) with '\n' into out (room bytes); what does not fit
//  is left out. Returns out.
const char *search_record_join (json_t *array, const char *key, char *out, size_t room);

//  The slugs of rec's genres (the genres table's: the TMDB name in lower
//  case, spaces as '-') joined with ',' into out (room bytes). Returns out.
const char *search_record_genres (json_t *rec, char *out, size_t room);

#endif
