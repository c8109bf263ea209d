/*  One catalog title as search replicas and the embedder read it from
    PostgreSQL (mg_catalog_sql.h): the text fields the index and the LSA
    model weigh, and what filters and result items need.  */
#ifndef MG_DOC_H_INCLUDED
#define MG_DOC_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  One title as the loader reads it. Lists are '\n'-separated; offers are
//  lines "platform REGION expires" (expires: Unix seconds, 0 = never).
typedef struct {
    const char *id, *type, *title, *original_title, *alternates, *tagline;
    const char *keywords, *overview;
    const char *cast;               //  billed cast, in billing order (first: top billed)
    const char *directors;          //  directors (crew with job Director), may be NULL
    const char *companies;          //  production companies, one per line, may be NULL
    int year;                       //  0 = unknown
    double popularity;
    bool has_rating;
    double rating;
    const char *release_date;       //  YYYY-MM-DD or NULL
    const char *genres;             //  comma-separated slugs
    const char *offers;
    const char *hit_json;           //  the search.hit object, score excepted
    //  The title's vector as the embedder stored it for the index's model:
    //  when vector_stored, vector (vector_dims floats) or NULL (nothing to
    //  embed); otherwise the index embeds the title itself.
    bool vector_stored;
    const float *vector;
    uint32_t vector_dims;
} mg_doc_t;


#endif
