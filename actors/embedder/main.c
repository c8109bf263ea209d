/*  mg-embedder: text -> unit vectors. Serves embed.text (batched, with the
    query-embedding cache in Redis) and keeps content_vectors current in
    PostgreSQL (sync.c). The model is MG_EMBED_BACKEND's (model.c).  */
#include "embedder.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <sodium.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_TTL_S    300          //  query embeddings are cached 5 minutes
#define MODEL_RETRY_MS 2000         //  how often a missing model file is looked for
#define EMBED_STALL_MS 30000        //  an embed may wait this long on a remote API

static const mg_method_t s_methods [] = {
    { "embedder.embed", &mg_embed_request_desc, &mg_embed_reply_desc, embedder_on_embed },
    { NULL, NULL, NULL, NULL }
};

int
embedder_on_embed (void *state, const void *req, void *rep, mg_error_t *err)
{
    embedder_thread_t *self = state;
    const mg_embed_request_t *request = req;
    mg_embed_reply_t *reply = rep;
    embedder_model_t *model = self->shared->model;
    uint32_t dims = embedder_model_dims (model);
    size_t count = request->texts_count;
    const char *id = embedder_model_id (model);
    for (size_t i = 0; i < count; i++)
        if (strlen (request->texts [i]) > 1024)
            return mg_actor_fail (err, "INVALID_PARAMETER", "texts", "texts[%zu] is longer than 1,024 bytes", i);
    float *vectors = calloc ((count ? count : 1) * dims, sizeof *vectors);
    bool *ok = calloc (count ? count : 1, sizeof *ok), *cached = calloc (count ? count : 1, sizeof *cached);
    const char **missing = calloc (count ? count : 1, sizeof *missing);
    size_t *at = calloc (count ? count : 1, sizeof *at);
    float *fresh = calloc ((count ? count : 1) * dims, sizeof *fresh);
    bool *fresh_ok = calloc (count ? count : 1, sizeof *fresh_ok);
    int rc = vectors && ok && cached && missing && at && fresh && fresh_ok ? 0 : -1;
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        bool empty = false;
        if (self->cache && embedder_cache_get (self->cache, id, request->texts [i], dims, vectors + i * dims, &empty) == 1) {
            cached [i] = true;
            ok [i] = !empty;
        }
        else {
            at [n] = i;
            missing [n++] = request->texts [i];
        }
    }
    char reason [512] = "out of memory";
    if (rc == 0 && n)
        rc = embedder_model_embed (model, missing, n, fresh, fresh_ok, reason, sizeof reason);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        memcpy (vectors + at [j] * dims, fresh + j * dims, dims * sizeof *vectors);
        ok [at [j]] = fresh_ok [j];
        if (self->cache)
            embedder_cache_put (self->cache, id, missing [j], dims, fresh_ok [j] ? fresh + j * dims : NULL);
    }
    reply->model = strdup (id);
    reply->dims = dims;
    reply->has_dims = true;
    reply->vectors = rc == 0 ? calloc (count ? count : 1, sizeof *reply->vectors) : NULL;
    if (rc == 0 && (!reply->vectors || !reply->model))
        rc = -1;
    size_t b64 = sodium_base64_ENCODED_LEN (dims * sizeof (float), sodium_base64_VARIANT_ORIGINAL);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        mg_embedding_t *e = &reply->vectors [reply->vectors_count++];
        e->cached = cached [i];
        e->has_cached = true;
        if (ok [i] && (e->vector = malloc (b64)) != NULL)
            sodium_bin2base64 (e->vector, b64, (const unsigned char *) (vectors + i * dims),
                               dims * sizeof (float), sodium_base64_VARIANT_ORIGINAL);
        else
        if (ok [i])
            rc = -1;
    }
    free (vectors);
    free (ok);
    free (cached);
    free (missing);
    free (at);
    free (fresh);
    free (fresh_ok);
    if (rc)
        return mg_actor_fail (err, "SERVICE_UNAVAILABLE", NULL, "embedding failed: %s", reason);
    return 0;
}

//  Each worker thread has its own Redis connection.
static void *
s_thread_init (void *shared)
{
    embedder_t *embedder = shared;
    embedder_thread_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->shared = embedder;
    self->cache = embedder_cache_new (embedder->redis_url, (int) mg_config_int ("MG_EMBED_CACHE_TTL_S", CACHE_TTL_S, 1, 86400));
    return self;
}

static void
s_thread_fini (void *state)
{
    embedder_thread_t *self = state;
    embedder_cache_destroy (&self->cache);
    free (self);
}

int
main (void)
{
    mg_log_init ("embedder");
    mg_curve_set_role ("embedder");
    zsys_init ();
    if (sodium_init () < 0 || curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mg_error ("cannot initialise libsodium or libcurl", NULL);
        return EXIT_FAILURE;
    }
    embedder_t self = {
        .pg_url = mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway"),
        .redis_url = mg_config_str ("MG_REDIS_URL", "redis://127.0.0.1:56379"),
    };
    char reason [512] = "";
    if (mg_pg_prepare (self.pg_url))
        return EXIT_FAILURE;
    //  A model file not trained yet (scripts/run trains it after loading
    //  the catalog) is waited for rather than failed on.
    for (bool logged = false; !(self.model = embedder_model_new (reason, sizeof reason)) && !zsys_interrupted; logged = true) {
        if (!logged)
            mg_warn ("no embedding model yet; waiting for it", "reason=\"%s\"", reason);
        zclock_sleep (MODEL_RETRY_MS);
    }
    if (!self.model)
        return EXIT_FAILURE;
    mg_info ("embedding model ready", "model=%s dims=%u", embedder_model_id (self.model), embedder_model_dims (self.model));
    const char *events = mg_config_str ("MG_EVENTS", "tcp://127.0.0.1:5557");
    self.events = zsock_new (ZMQ_SUB);
    self.publish = mg_actor_event_publisher ();
    int rc = -1;
    if (!self.events || mg_curve_client (self.events) || mg_config_connect (self.events, events)
    ||  !self.publish)
        mg_error ("cannot connect to the event proxy", "events=%s", events);
    else {
        zsock_set_subscribe (self.events, "content.changed");
        if (pthread_create (&self.syncer, NULL, embedder_sync, &self))
            mg_error ("cannot start the vector syncer", NULL);
        else {
            mg_actor_t *actor = mg_actor_new ("embedder", s_methods);
            if (actor) {
                mg_actor_set_threads (actor, 0, s_thread_init, s_thread_fini, &self);
                //  With the openai backend one embed waits on a remote API
                //  (MG_OPENAI_TIMEOUT_MS, retried).
                mg_actor_set_stall (actor, EMBED_STALL_MS);
                rc = mg_actor_run (actor);
                mg_actor_destroy (&actor);
            }
            self.stop = true;
            pthread_join (self.syncer, NULL);
        }
    }
    zsock_destroy (&self.events);
    zsock_destroy (&self.publish);
    embedder_model_destroy (&self.model);
    curl_global_cleanup ();
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
