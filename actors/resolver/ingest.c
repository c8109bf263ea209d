/*  The ingest loop: indexer.claim -> normalise -> match -> indexer.apply.

    One loop per resolver process keeps decisions in order: a record that
    starts a new entity is in the index before the next record is matched,
    so two records of one film in the same batch land in one entity. If the
    loop dies mid-batch its jobs stay leased and another claim takes them
    over; apply is idempotent, so nothing is lost and nothing doubles.

    Applying runs on threads of their own (MG_RESOLVER_APPLIES, default 2),
    behind the loop: while the indexer writes batch n and prepares batch
    n + 1 (its JSON, checksums and merge) on another of its threads, the
    loop claims and resolves the next. One apply alone leaves the server
    idle while the indexer prepares and the indexer idle while the server
    writes; two overlap those steps. Apply creates any entity it names that
    is not there yet, so the order in which two batches commit does not
    matter.  */
#include "resolver.h"
#include "normalize.h"
#include "mg_client.h"
#include "mg_config.h"
#include "mg_log.h"

#include <czmq.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>

#define CLAIM_BATCH      500       //  records per claim / apply
#define IDLE_MS          200       //  wait when the queue is empty
#define CALL_TTL_MS      30000     //  an apply of 500 records takes well under this
#define BACKOFF_MAX_MS   5000
#define APPLIERS_MAX     8         //  bound of MG_RESOLVER_APPLIES

//  The hand-over between the loop and the apply threads: one batch at most.
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    mg_apply_request_t *pending;      //  resolved, not yet taken by an apply thread
    bool closing;                     //  no more batches will come
    const char *broker;
} s_handover_t;

void
resolver_match_record (const mg_raw_record_t *r, match_record_t *out)
{
    memset (out, 0, sizeof *out);
    out->type = r->type;
    out->titles [out->ntitles++] = r->title;
    if (r->original_title)
        out->titles [out->ntitles++] = r->original_title;
    for (size_t i = 0; i < r->alternate_titles_count && out->ntitles < MATCH_TITLES_MAX; i++)
        out->titles [out->ntitles++] = r->alternate_titles [i];
    out->year = r->has_year ? (int) r->year : 0;
    out->genres = normalize_genres (r);
    out->source = r->source;
    out->source_id = r->source_id;
    out->eidr = r->eidr;
    out->imdb = r->imdb;
    out->tmdb = r->has_tmdb ? r->tmdb : 0;
}

//  A random (version 4) UUID in text.
static void
s_uuid (char out [MATCH_ID_MAX])
{
    unsigned char b [16];
    randombytes_buf (b, sizeof b);
    b [6] = (b [6] & 0x0f) | 0x40;
    b [8] = (b [8] & 0x3f) | 0x80;
    snprintf (out, MATCH_ID_MAX, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
              b [0], b [1], b [2], b [3], b [4], b [5], b [6], b [7], b [8], b [9], b [10], b [11],
              b [12], b [13], b [14], b [15]);
}

//  Resolve the claimed jobs into an apply request (takes the records).
static void
s_resolve_batch (resolver_t *self, mg_claim_reply_t *claimed, mg_apply_request_t *apply)
{
    apply->items = calloc (claimed->jobs_count ? claimed->jobs_count : 1, sizeof (mg_apply_item_t));
    assert (apply->items);
    pthread_rwlock_wrlock (&self->lock);
    for (size_t i = 0; i < claimed->jobs_count; i++) {
        mg_job_t *job = &claimed->jobs [i];
        mg_apply_item_t *item = &apply->items [apply->items_count++];
        item->job = job->id;
        item->has_job = true;
        char reason [256];
        if (normalize_record (job->record, reason, sizeof reason)) {
            item->error = strdup (reason);
            atomic_fetch_add (&self->rejected, 1);
            continue;
        }
        match_record_t query;
        resolver_match_record (job->record, &query);
        match_result_t match;
        match_index_lookup (self->index, &query, &match);
        char entity [MATCH_ID_MAX];
        if (match.tier) {
            snprintf (entity, sizeof entity, "%s", match.entity);
            item->tier = (uint64_t) match.tier;
            item->has_tier = true;
            item->confidence = match.confidence;
            item->has_confidence = true;
            if (!match.known)
                atomic_fetch_add (&self->merged, 1);
        }
        else {
            s_uuid (entity);
            item->new_entity = true;
            item->has_new_entity = true;
            atomic_fetch_add (&self->created, 1);
        }
        //  What this record says of the entity helps match the next ones.
        if (match_index_add (self->index, entity, &query))
            mg_warn ("match index is out of memory", NULL);
        item->entity = strdup (entity);
        item->record = job->record;            //  moved, not copied
        job->record = NULL;
        atomic_fetch_add (&self->resolved, 1);
    }
    pthread_rwlock_unlock (&self->lock);
}

//  Send items to indexer.apply, in halves while they would not fit one bus
//  message. A failed apply leaves its jobs leased: they come back after the
//  lease.
static void
s_apply (mg_client_t *client, mg_apply_item_t *items, size_t count)
{
    mg_apply_request_t apply = { .items = items, .items_count = count };
    uint8_t *encoded = NULL;
    size_t size = 0;
    char reason [MG_MSG_ERR_LEN];
    int fits = mg_msg_encode (&mg_apply_request_desc, &apply, &encoded, &size, reason, sizeof reason) == 0;
    free (encoded);
    if (!fits && count > 1) {
        s_apply (client, items, count / 2);
        s_apply (client, items + count / 2, count - count / 2);
        return;
    }
    mg_apply_reply_t applied = { 0 };
    mg_error_t err = { 0 };
    int64_t started = zclock_mono ();
    if (mg_client_call (client, "indexer.apply", &mg_apply_request_desc, &apply,
                        &mg_apply_reply_desc, &applied, CALL_TTL_MS, &err)) {
        mg_warn ("apply failed; jobs will be claimed again", "code=%s message=\"%s\" items=%zu",
                 err.code, err.message, count);
        mg_msg_clear (&mg_error_desc, &err);
        return;
    }
    mg_info ("batch applied", "items=%zu created=%llu updated=%llu unchanged=%llu failed=%llu took_ms=%lld",
             count, (unsigned long long) applied.created, (unsigned long long) applied.updated,
             (unsigned long long) applied.unchanged, (unsigned long long) applied.failed,
             (long long) (zclock_mono () - started));
    mg_msg_clear (&mg_apply_reply_desc, &applied);
}

//  An apply thread: sends each batch it takes, until closing and empty.
static void *
s_applier (void *arg)
{
    s_handover_t *handover = arg;
    mg_client_t *client = mg_client_new (handover->broker);
    pthread_mutex_lock (&handover->lock);
    while (true) {
        while (!handover->pending && !handover->closing)
            pthread_cond_wait (&handover->changed, &handover->lock);
        mg_apply_request_t *apply = handover->pending;
        if (!apply)
            break;                    //  closing, nothing left
        handover->pending = NULL;
        pthread_cond_broadcast (&handover->changed);
        pthread_mutex_unlock (&handover->lock);
        if (client)
            s_apply (client, apply->items, apply->items_count);
        else
            mg_warn ("apply thread cannot reach the broker; jobs will be claimed again", "items=%zu",
                     apply->items_count);
        mg_msg_clear (&mg_apply_request_desc, apply);
        free (apply);
        pthread_mutex_lock (&handover->lock);
    }
    pthread_mutex_unlock (&handover->lock);
    mg_client_destroy (&client);
    return NULL;
}

//  Hand apply (owned) to an apply thread, waiting while one is still pending.
static void
s_hand_over (s_handover_t *handover, mg_apply_request_t *apply)
{
    pthread_mutex_lock (&handover->lock);
    while (handover->pending)
        pthread_cond_wait (&handover->changed, &handover->lock);
    handover->pending = apply;
    pthread_cond_broadcast (&handover->changed);
    pthread_mutex_unlock (&handover->lock);
}

void *
resolver_ingest_main (void *arg)
{
    resolver_t *self = arg;
    mg_client_t *client = mg_client_new (self->broker);
    if (!client) {
        mg_error ("ingest loop cannot reach the broker", "endpoint=%s", self->broker);
        return NULL;
    }
    char worker [128], host [64];
    if (gethostname (host, sizeof host))
        snprintf (host, sizeof host, "host");
    host [sizeof host - 1] = 0;
    snprintf (worker, sizeof worker, "resolver@%s:%d", host, (int) getpid ());
    //  Seconds a claimed batch stays ours: what a crash costs in delay.
    uint64_t lease = (uint64_t) mg_config_int ("MG_RESOLVER_LEASE_S", 30, 1, 3600);
    //  Batches written at once; each apply holds one indexer handler thread.
    int appliers = (int) mg_config_int ("MG_RESOLVER_APPLIES", 2, 1, APPLIERS_MAX);
    s_handover_t handover = { .broker = self->broker };
    pthread_t applier [APPLIERS_MAX];
    int started = 0;
    if (pthread_mutex_init (&handover.lock, NULL) || pthread_cond_init (&handover.changed, NULL)) {
        mg_error ("cannot start the apply threads", "endpoint=%s", self->broker);
        mg_client_destroy (&client);
        return NULL;
    }
    while (started < appliers && pthread_create (&applier [started], NULL, s_applier, &handover) == 0)
        started++;
    if (started == 0) {
        mg_error ("cannot start the apply threads", "endpoint=%s", self->broker);
        pthread_cond_destroy (&handover.changed);
        pthread_mutex_destroy (&handover.lock);
        mg_client_destroy (&client);
        return NULL;
    }
    if (started < appliers)
        mg_warn ("fewer apply threads than asked", "started=%d asked=%d", started, appliers);
    int backoff = 100;
    while (!atomic_load (&self->stopping) && !zsys_interrupted) {
        mg_claim_request_t claim = { .worker = worker, .max = CLAIM_BATCH, .has_max = true,
                                     .lease_s = lease, .has_lease_s = true };
        mg_claim_reply_t claimed = { 0 };
        mg_error_t err = { 0 };
        if (mg_client_call (client, "indexer.claim", &mg_claim_request_desc, &claim,
                            &mg_claim_reply_desc, &claimed, CALL_TTL_MS, &err)) {
            if (strcmp (err.code, "SERVICE_UNAVAILABLE"))
                mg_warn ("claim failed", "code=%s message=\"%s\"", err.code, err.message);
            mg_msg_clear (&mg_error_desc, &err);
            zclock_sleep (backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = 100;
        if (claimed.jobs_count == 0) {
            mg_msg_clear (&mg_claim_reply_desc, &claimed);
            zclock_sleep (IDLE_MS);
            continue;
        }
        mg_apply_request_t *apply = calloc (1, sizeof *apply);
        assert (apply);
        s_resolve_batch (self, &claimed, apply);
        mg_msg_clear (&mg_claim_reply_desc, &claimed);
        s_hand_over (&handover, apply);
    }
    pthread_mutex_lock (&handover.lock);
    handover.closing = true;
    pthread_cond_broadcast (&handover.changed);
    pthread_mutex_unlock (&handover.lock);
    for (int t = 0; t < started; t++)
        pthread_join (applier [t], NULL);
    pthread_cond_destroy (&handover.changed);
    pthread_mutex_destroy (&handover.lock);
    mg_client_destroy (&client);
    return NULL;
}
