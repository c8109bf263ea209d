/*  The search index of one replica: an in-memory SQLite database with an
    FTS5 table over normalised text (title, other titles, tagline, keywords,
    overview, cast), the values filters, facets and sorts need, and each
    title's result item as JSON built by PostgreSQL.

    Not thread-safe: the actor serialises calls (one mutex per index).  */
#ifndef SEARCH_INDEX_H_INCLUDED
#define SEARCH_INDEX_H_INCLUDED

#include "mg_lsa.h"
#include "mg_msg.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct search_index_t search_index_t;

//  One person as the loader reads it (people are found by type=person
//  searches and in autocomplete).
typedef struct {
    const char *id, *name;
    double popularity;              //  summed popularity of the titles they lead or direct
    const char *hit_json;           //  the search.hit object (type person), score excepted
} search_person_t;

typedef enum {
    SEARCH_MODE_HYBRID, SEARCH_MODE_KEYWORD, SEARCH_MODE_SEMANTIC
} search_mode_t;

typedef enum {
    SEARCH_SORT_RELEVANCE, SEARCH_SORT_POPULARITY, SEARCH_SORT_RATING, SEARCH_SORT_RELEASE_DATE
} search_sort_t;

//  A checked query (the handler validates; the index trusts it).
typedef struct {
    const char *q;
    const char *type;               //  movie|tv|person or NULL (person: people only)
    char **genres;
    size_t genres_count;
    bool has_year_from, has_year_to, has_min_rating;
    int year_from, year_to;
    double min_rating;
    char **platforms;               //  lower-case slugs
    size_t platforms_count;
    const char *region;             //  upper-case or NULL
    const char *offers_region;      //  whose offers the hits show, upper-case; NULL: every region
    bool mine_only;                 //  available=mine: only titles watchable now on my_services in my_region
    bool mine_mark;                 //  a signed-in caller: mark hits with on_my_services
    char **my_services;             //  the caller's platform slugs (mine_only, mine_mark)
    size_t my_services_count;
    const char *my_region;          //  the caller's region, upper-case (mine_only, mine_mark)
    search_sort_t sort;
    uint64_t offset, per_page;
    bool explain;
    search_mode_t mode;
    double semantic_ratio;          //  hybrid: weight of the semantic ranking, 0-1
    unsigned facets;                //  SEARCH_FACET_* asked for; 0: no facets
} search_query_t;

//  Facets a query may ask for (search_query_t.facets bits).
#define SEARCH_FACET_GENRES    1u
#define SEARCH_FACET_PLATFORMS 2u
#define SEARCH_FACET_YEARS     4u
#define SEARCH_FACET_TYPES     8u

//  What total counts up to exactly (architecture §4); beyond it the reply
//  says SEARCH_TOTAL_MAX with total_exact false.
#define SEARCH_TOTAL_MAX 10000

//  A new, empty index; with lsa (borrowed, may be NULL) titles get vectors
//  and semantic/hybrid queries are served.
search_index_t *search_index_new (const mg_lsa_t *lsa, char *err, size_t errlen);

//  True when the index has an embedder (semantic search is available).
bool search_index_semantic (search_index_t *self);
void search_index_destroy (search_index_t **self_p);

//  Group many puts in one transaction (a snapshot load).
int search_index_begin (search_index_t *self);
int search_index_commit (search_index_t *self);

//  Make the index ready for concurrent queries after puts and removes:
//  staged vectors join the vector index and the vocabulary is rebuilt, so
//  that a query only reads. The writer calls it before readers come back
//  (search_index_commit does). 0, or -1 (logged).
int search_index_settle (search_index_t *self);

//  Hybrid queries run their semantic side on a thread of its own while the
//  keyword side runs (true, the default) or after it on the query's thread
//  (false): the answers are the same.
void search_index_set_sides (search_index_t *self, bool concurrent);

//  Insert or replace one title. Returns 0 or -1 (logged).
int search_index_put (search_index_t *self, const mg_doc_t *doc);

//  Remove a title; removing an unknown id is not an error.
int search_index_remove (search_index_t *self, const char *id);

//  Insert or replace one person. Returns 0 or -1 (logged).
int search_index_put_person (search_index_t *self, const search_person_t *person);

//  People held.
size_t search_index_people (search_index_t *self);

//  The vector index persisted (MG_SEARCH_INDEX_FILE): a snapshot load
//  reads the one saved under key (the model and the catalog generation)
//  before its puts, which then take their vectors' slots from it instead
//  of building. 1 when read, 0 when there is none for key (the load
//  builds), -1 when unreadable (logged; the load builds).
int search_index_vectors_read (search_index_t *self, const char *path, const char *key);

//  After a load that read the vectors: true when every slot read found its
//  title (else the caller builds anew).
bool search_index_vectors_complete (search_index_t *self);

//  Write the built vector index under key to path, and beside it
//  (path.ids) which title each slot is the vector of. 0, or -1 (logged).
int search_index_vectors_write (search_index_t *self, const char *path, const char *key);

//  The keyword side persisted beside the vectors (MG_SEARCH_INDEX_FILE =
//  path, index_store.c): write the SQLite database (path.db) and the doc
//  table (path.docs) under key (the model, the catalog generation, the
//  titles). 0, or -1 (logged).
int search_index_store_write (search_index_t *self, const char *path, const char *key);

//  A new index read back from the files saved at path under key, with the
//  vectors saved under vectors_key when lsa is given; NULL when there are
//  none for key, or when they do not read or do not fit (logged): the
//  caller then builds from the catalog.
search_index_t *search_index_store_read (const mg_lsa_t *lsa, const char *path, const char *key,
                                         const char *vectors_key, char *err, size_t errlen);

//  Titles held.
size_t search_index_count (search_index_t *self);

//  Keyword matches the last query scored with BM25 (bounded on broad words:
//  see KEYWORD_TOP). One counter for the index: while queries run at once it
//  sums those that overlapped, so it is read one query at a time (tests).
size_t search_index_scored (search_index_t *self);

//  Remember a canonical genre slug (for search_index_genre_known).
int search_index_add_genre (search_index_t *self, const char *slug);
bool search_index_genre_known (search_index_t *self, const char *slug);

//  Run query into rep (total capped at SEARCH_TOTAL_MAX with total_exact,
//  page of results, the facets asked for; page/per_page and took_ms are
//  the caller's). Returns 0, or -1 with a reason in err. Queries (this,
//  similar, autocomplete) may run on several threads at once on a settled
//  index (search_index_settle) that nothing writes meanwhile.
int search_index_query (search_index_t *self, const search_query_t *query,
                        mg_search_reply_t *rep, char *err, size_t errlen);

//  The titles nearest to title id (its vector's HNSW neighbours, re-ranked
//  by cosine + genre overlap), without it, passing query's type and region
//  filters, paged by query's offset and per_page (page/per_page of rep are
//  the caller's). Returns 0, 1 when id is not indexed, or -1 with a
//  reason in err. A title without a vector has no neighbours.
int search_index_similar (search_index_t *self, const char *id, const search_query_t *query,
                          mg_similar_reply_t *rep, char *err, size_t errlen);

//  At most 10 titles (and cast members) whose words start like q.
int search_index_autocomplete (search_index_t *self, const char *q,
                               mg_autocomplete_reply_t *rep, char *err, size_t errlen);

#endif
