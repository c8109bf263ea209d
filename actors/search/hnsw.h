/*  A FAISS HNSW index of unit vectors under inner product (cosine), behind
    a C API (hnsw.cc is the only C++ of the project: Debian's libfaiss-dev
    ships the static C++ library without its C API).

    Vectors are numbered by the index in the order they are added (slots
    0, 1, 2, ...). HNSW cannot remove a vector: the owner keeps a slot's
    meaning, tells the search which slots count (the keep callback, also
    how filters apply), and rebuilds the index when too many slots are
    dead. Not thread-safe: the owner serialises calls.  */
#ifndef SEARCH_HNSW_H_INCLUDED
#define SEARCH_HNSW_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct search_hnsw_t search_hnsw_t;

//  True when the vector in slot may be a result (arg is the caller's).
typedef bool (*search_hnsw_keep_fn) (void *arg, int64_t slot);

//  A new, empty index of dims-float vectors: m neighbours per node,
//  ef_construction candidates while linking. NULL with a reason in err.
search_hnsw_t *search_hnsw_new (uint32_t dims, int m, int ef_construction, char *err, size_t errlen);
void search_hnsw_destroy (search_hnsw_t **self_p);

//  Add count vectors (count x dims floats, row-major); the first gets the
//  slot search_hnsw_count () had before the call. 0, or -1 with a reason.
int search_hnsw_add (search_hnsw_t *self, const float *vectors, size_t count, char *err, size_t errlen);

//  Slots held (dead ones included).
size_t search_hnsw_count (const search_hnsw_t *self);

//  The stored vector of slot (dims floats), valid until the next add;
//  NULL when slot is not held.
const float *search_hnsw_vector (const search_hnsw_t *self, int64_t slot);

//  The k nearest slots to query (dims floats) that keep accepts (keep may
//  be NULL: all), best first, into slots and their inner products into
//  scores; ef candidates are explored (at least k). Returns how many were
//  found (fewer than k when keep refuses many), or -1 with a reason.
int search_hnsw_search (search_hnsw_t *self, const float *query, size_t k, int ef,
                        search_hnsw_keep_fn keep, void *arg, int64_t *slots, float *scores,
                        char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
