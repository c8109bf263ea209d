/*  The replica's vector index of unit vectors ranked by inner product
    (cosine), behind a C API over FAISS (hnsw.cc and hnsw_ivf.cc are the only
    C++ of the project: Debian's libfaiss-dev ships the static C++
    library without its C API).

    Three kinds (MG_SEARCH_VECTOR_INDEX): "hnsw", an HNSW graph over the
    vectors as floats (4 bytes a dimension); "hnsw-sq8", the same graph
    over 8-bit scalar-quantised vectors (1 byte a dimension); "ivf-sq8",
    an inverted file of k-means lists over 8-bit vectors, the kind that
    builds a million titles in minutes (see docs/search.md).

    Vectors are numbered by the index in the order they are added (slots
    0, 1, 2, ...). Adds are staged and built in batches on
    MG_SEARCH_BUILD_THREADS threads: a snapshot load stages every vector
    and search_hnsw_seal builds the index in one parallel pass. A search
    before the seal scans the staged vectors exactly. No kind can remove
    a vector: the owner keeps a slot's meaning, tells the search which
    slots count (the keep callback, also how filters apply), and rebuilds
    the index when too many slots are dead. Not thread-safe: the owner
    serialises calls.  */
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

//  A new, empty index of dims-float vectors of the configured kind: m
//  neighbours per node, ef_construction candidates while linking (graph
//  kinds). NULL with a reason in err.
search_hnsw_t *search_hnsw_new (uint32_t dims, int m, int ef_construction, char *err, size_t errlen);
void search_hnsw_destroy (search_hnsw_t **self_p);

//  The index's kind as configured ("hnsw", "hnsw-sq8", "ivf-sq8").
const char *search_hnsw_kind (const search_hnsw_t *self);

//  Add count vectors (count x dims floats, row-major); the first gets the
//  slot search_hnsw_count () had before the call. 0, or -1 with a reason.
int search_hnsw_add (search_hnsw_t *self, const float *vectors, size_t count, char *err, size_t errlen);

//  Build every staged vector into the index (in parallel). A snapshot
//  load calls it once at the end. 0, or -1 with a reason.
int search_hnsw_seal (search_hnsw_t *self, char *err, size_t errlen);

//  Slots held (dead ones included).
size_t search_hnsw_count (const search_hnsw_t *self);

//  The stored vector of slot (dims floats, as the kind keeps it: exact for
//  "hnsw", decoded from 8 bits otherwise) into out. False when slot is
//  not held.
bool search_hnsw_vector (search_hnsw_t *self, int64_t slot, float *out);

//  The k nearest slots to query (dims floats) that keep accepts (keep may
//  be NULL: all), best first, into slots and their inner products into
//  scores; ef candidates are explored on a graph (at least k). Returns
//  how many were found (fewer than k when keep refuses many), or -1 with
//  a reason.
//  The "hnsw" kind walks its graph here (hnsw.cc, s_walk) as FAISS 1.7.3
//  walks it, step for step, with a node's links' inner products computed
//  side by side: the same results, bit for bit, as FAISS's own search,
//  several times faster with Debian's libfaiss (built for the baseline
//  x86-64, its inner product is a scalar loop).
int search_hnsw_search (search_hnsw_t *self, const float *query, size_t k, int ef,
                        search_hnsw_keep_fn keep, void *arg, int64_t *slots, float *scores,
                        char *err, size_t errlen);

//  search_hnsw_search reaching further on "ivf-sq8": probes lists scanned
//  (0: MG_SEARCH_IVF_PROBES; at most every list, then every vector that
//  keep accepts is compared). The graph kinds ignore probes.
int search_hnsw_search_wide (search_hnsw_t *self, const float *query, size_t k, int ef, size_t probes,
                             search_hnsw_keep_fn keep, void *arg, int64_t *slots, float *scores,
                             char *err, size_t errlen);

//  "ivf-sq8": the k-means lists of the built index (0 before the build),
//  and the lists a search scans (MG_SEARCH_IVF_PROBES). 0 and 0 for the
//  graph kinds.
size_t search_hnsw_lists (const search_hnsw_t *self);
size_t search_hnsw_probes (const search_hnsw_t *self);

//  search_hnsw_search by FAISS's own search for every kind: what the walk
//  must answer (tests/unit/test_search_hnsw.c compares them).
int search_hnsw_search_faiss (search_hnsw_t *self, const float *query, size_t k, int ef,
                              search_hnsw_keep_fn keep, void *arg, int64_t *slots, float *scores,
                              char *err, size_t errlen);

//  Write the sealed index to path (through path.PID.tmp, then a rename), with
//  key (one line: what the vectors are of, e.g. the model and the catalog
//  generation). 0, or -1 with a reason.
int search_hnsw_save (search_hnsw_t *self, const char *path, const char *key, char *err, size_t errlen);

//  Read the index at path into *self_p when it was saved with key and
//  holds dims-float vectors: 0. 1 when there is no file or it was saved
//  for another key or shape (the caller builds a new one), -1 with a
//  reason when the file is unreadable.
int search_hnsw_load (const char *path, const char *key, uint32_t dims, search_hnsw_t **self_p,
                      char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
