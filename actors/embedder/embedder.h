/*  Embedder actor: text -> unit vectors with one model (the LSA model of
    mg-embed-train, or an OpenAI-compatible /v1/embeddings), answering
    embedder.embed with a query-embedding cache in Redis, and keeping
    content_vectors (one vector per title) current in PostgreSQL.  */
#ifndef EMBEDDER_H_INCLUDED
#define EMBEDDER_H_INCLUDED

#include "mg_lsa.h"
#include "mg_actor.h"

#include <czmq.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMBEDDER_BATCH_MAX 256      //  titles per stored batch (one OpenAI request, one transaction)

//  ---- The model: one backend behind one interface (model.c, openai.c)

typedef struct embedder_model_t embedder_model_t;

//  The model MG_EMBED_BACKEND names: "lsa" (default; MG_EMBED_MODEL) or
//  "openai" (MG_OPENAI_BASE_URL, OPENAI_API_KEY, MG_OPENAI_MODEL,
//  MG_EMBED_DIMS). NULL with a reason in err.
embedder_model_t *embedder_model_new (char *err, size_t errlen);
void embedder_model_destroy (embedder_model_t **self_p);

//  Id and version of the model ("lsa-512d-<hash>", "openai-text-embedding-3-small-768d").
const char *embedder_model_id (const embedder_model_t *self);
uint32_t embedder_model_dims (const embedder_model_t *self);

//  Unit vectors of count texts into out (count x dims); ok [i] false when
//  text i has nothing to embed (its row of out is zero). 0, or -1 with a
//  reason in err. Thread-safe.
int embedder_model_embed (embedder_model_t *self, const char *const *texts, size_t count,
                          float *out, bool *ok, char *err, size_t errlen);

//  As embedder_model_embed for catalog titles (field weights for LSA, one
//  text of the fields for OpenAI).
int embedder_model_embed_docs (embedder_model_t *self, const mg_doc_t *docs, size_t count,
                               float *out, bool *ok, char *err, size_t errlen);

//  ---- OpenAI-compatible client (openai.c)

typedef struct embedder_openai_t embedder_openai_t;

//  A client of base_url (".../v1") with key (may be empty), model, dims.
embedder_openai_t *embedder_openai_new (const char *base_url, const char *key, const char *model, uint32_t dims);
void embedder_openai_destroy (embedder_openai_t **self_p);

//  POST {base_url}/embeddings for count texts, retrying 429/5xx/timeouts
//  with exponential backoff and full jitter (Retry-After honoured); unit
//  vectors into out. 0, or -1 with a reason in err.
int embedder_openai_embed (embedder_openai_t *self, const char *const *texts, size_t count,
                           float *out, char *err, size_t errlen);

//  Parse an /embeddings response body (len bytes) for count inputs of dims
//  into out (unit length). 0, or -1 with a reason: any shape but OpenAI's
//  is refused. External input: fuzzed (tests/fuzz/fuzz_embedder_openai.c).
int embedder_openai_parse (const char *body, size_t len, size_t count, uint32_t dims,
                           float *out, char *err, size_t errlen);

//  ---- Query-embedding cache in Redis (cache.c)

typedef struct embedder_cache_t embedder_cache_t;

//  A cache on url (redis://host:port[/db]) with ttl_s; NULL when url is bad.
embedder_cache_t *embedder_cache_new (const char *url, int ttl_s);
void embedder_cache_destroy (embedder_cache_t **self_p);

//  The cached vector of (model, text) into out (dims floats): 1 found
//  (*empty when the text had nothing to embed), 0 not found, -1 Redis
//  unavailable (the caller embeds anyway).
int embedder_cache_get (embedder_cache_t *self, const char *model, const char *text, uint32_t dims,
                        float *out, bool *empty);

//  Remember the vector (NULL: nothing to embed) of (model, text). 0 or -1.
int embedder_cache_put (embedder_cache_t *self, const char *model, const char *text, uint32_t dims,
                        const float *vector);

//  ---- The actor

typedef struct {
    const char *pg_url;
    const char *redis_url;
    embedder_model_t *model;
    zsock_t *events;            //  SUB content.changed (syncer thread)
    zsock_t *publish;           //  PUB vectors.changed (syncer thread)
    pthread_t syncer;
    volatile bool stop;
} embedder_t;

//  Syncer thread: stores the vector of every title whose vector is missing,
//  of another model, or of an older text; runs at start, on content.changed
//  and every MG_EMBED_SYNC_MS.
void *embedder_sync (void *self);

//  One pass of the syncer over pg: embed and store every stale title in
//  batches, publishing vectors.changed for each. Returns titles stored, or
//  -1 with a reason in err.
long embedder_sync_pass (embedder_t *self, PGconn *pg, char *err, size_t errlen);

//  embed.text handler (thread state: embedder_thread_t).
int embedder_on_embed (void *state, const void *req, void *rep, mg_error_t *err);

typedef struct {
    embedder_t *shared;
    embedder_cache_t *cache;
} embedder_thread_t;

#endif
