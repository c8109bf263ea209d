/*  The LSA embedder: a title's or a query's TF-IDF vector (sublinear tf,
    smoothed idf, title and keywords counted twice) folded into a truncated
    SVD of the catalog's TF-IDF matrix, as a unit vector of `dims` floats.
    mg-embed-train (train.c) builds the model from PostgreSQL and writes it
    to a file; each search replica loads that file and embeds its titles at
    load and its queries as they come, with the same code.  */
#ifndef MG_LSA_H_INCLUDED
#define MG_LSA_H_INCLUDED

#include "mg_doc.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mg_lsa_t mg_lsa_t;

#define MG_LSA_FIELD_TITLE_WEIGHT    2.0   //  title and other titles: what a title is called counts twice
#define MG_LSA_FIELD_KEYWORDS_WEIGHT 2.0   //  keywords are curated topics: twice as well


//  Term weights of a text, one entry per term: (term index, weight).
typedef struct {
    uint32_t *index;
    double *tf;
    size_t count, room;
} mg_lsa_bag_t;

//  Add weight to the entry of term among entries [from, count) of bag, or
//  append one; *added (may be NULL) tells which. Returns 0 or -1 (memory).
int mg_lsa_bag_add (mg_lsa_bag_t *bag, size_t from, uint32_t term, double weight, bool *added);

//  Free what bag holds and empty it.
void mg_lsa_bag_free (mg_lsa_bag_t *bag);

//  Called once per word of a text with the word's field weight.
typedef int (*mg_lsa_emit_fn) (void *arg, const char *term, double weight);

//  Emit the normalised words of doc's fields (titles, keywords, genres,
//  tagline, overview) with their field weights. 0, or -1 (memory, emit).
int mg_lsa_doc_terms (const mg_doc_t *doc, mg_lsa_emit_fn emit, void *arg);

//  Emit the normalised words of text, weight 1 each. 0 or -1.
int mg_lsa_text_terms (const char *text, mg_lsa_emit_fn emit, void *arg);

//  Write a model: terms (count of them), their idf, and the projection
//  (count x dims floats, row-major), stored as a scale and dims 8-bit
//  codes per row (a quarter of the floats). 0, or -1 with a reason in err.
int mg_lsa_write (const char *path, char **terms, const float *idf, const float *proj,
                      uint32_t count, uint32_t dims, char *err, size_t errlen);

//  Load a model file (the coded format, or the older rows of floats, coded
//  as they are read); NULL with a reason in err.
mg_lsa_t *mg_lsa_load (const char *path, char *err, size_t errlen);
void mg_lsa_destroy (mg_lsa_t **self_p);

//  The model's id and version, "lsa-<dims>d-<hash of its content>" (what
//  content_vectors.model records).
const char *mg_lsa_id (const mg_lsa_t *self);

//  Dimensions of the model's vectors.
uint32_t mg_lsa_dims (const mg_lsa_t *self);

//  Unit vector of doc into out (dims floats). 0, 1 when no word of doc is
//  in the model (out is zero), -1 when out of memory.
int mg_lsa_embed_doc (const mg_lsa_t *self, const mg_doc_t *doc, float *out);

//  Unit vector of a query text into out; as mg_lsa_embed_doc.
int mg_lsa_embed_text (const mg_lsa_t *self, const char *text, float *out);

#endif
