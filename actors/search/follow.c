/*  Following the catalog: content.changed, availability.changed and
    vectors.changed (the embedder stored a title's vector) events
    (msgpack event.change) from the broker's XPUB. Each stream numbers its
    events without gaps; an event at or below the last applied number is
    already in the index (the snapshot included it), the next number is
    re-read from PostgreSQL, and any other number means events were lost
    (slow joiner, a restarted broker, a full queue): the replica reloads
    everything from a fresh snapshot and swaps the index in one step.  */
#include "search.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <string.h>

#define POLL_MS        200     //  how often the thread checks for stop
#define BATCH_MAX      256     //  events re-read in one PostgreSQL query
#define RETRY_MS       1000    //  wait before retrying after PostgreSQL failed

//  Reload everything; swap the new index in. Returns 0 or -1 (logged).
static int
s_resync (search_t *self)
{
    char err [512] = "";
    int64_t started = zclock_mono ();
    uint64_t seq [SEARCH_STREAMS] = { 0 };
    search_index_t *index = search_load_all (self->pg_url, self->lsa, seq, err, sizeof err);
    if (!index) {
        mg_error ("search resync failed", "reason=\"%s\"", err);
        return -1;
    }
    pthread_rwlock_wrlock (&self->lock);
    search_index_t *old = self->index;
    self->index = index;
    memcpy (self->applied, seq, sizeof seq);
    pthread_rwlock_unlock (&self->lock);
    search_index_destroy (&old);
    memcpy (self->seq, seq, sizeof seq);
    self->resyncs++;
    mg_info ("search index resynced", "titles=%zu took_ms=%lld content_seq=%llu availability_seq=%llu vectors_seq=%llu",
             search_index_count (index), (long long) (zclock_mono () - started),
             (unsigned long long) seq [0], (unsigned long long) seq [1], (unsigned long long) seq [2]);
    return 0;
}

//  Stream index of a topic, or -1 (the ".pb" copies and others).
static int
s_stream (const char *topic)
{
    for (int s = 0; s < SEARCH_STREAMS; s++)
        if (strcmp (topic, search_streams [s]) == 0)
            return s;
    return -1;
}

//  Read one pending event; its id into ids when it must be re-read.
//  Sets *gap when numbering broke.
static void
s_take (search_t *self, zmsg_t *msg, char **ids, size_t *count, bool *gap)
{
    char *topic = zmsg_popstr (msg);
    zframe_t *body = zmsg_pop (msg);
    int s = topic ? s_stream (topic) : -1;
    mg_change_event_t event;
    char reason [MG_MSG_ERR_LEN];
    if (s >= 0 && body
    &&  mg_msg_decode (&mg_change_event_desc, zframe_data (body), zframe_size (body), &event, reason, sizeof reason) == 0) {
        if (event.seq > self->seq [s] + 1)
            *gap = true;
        else
        if (event.seq == self->seq [s] + 1) {
            self->seq [s] = event.seq;
            bool known = false;
            for (size_t i = 0; i < *count && !known; i++)
                known = strcmp (ids [i], event.content_id) == 0;
            if (!known && (ids [*count] = strdup (event.content_id)) != NULL)
                (*count)++;
            else
            if (!known)
                *gap = true;        //  out of memory: a reload catches up
        }
        mg_msg_clear (&mg_change_event_desc, &event);
    }
    else
    if (s >= 0)
        mg_warn ("undecodable change event", "topic=%s", topic);
    free (topic);
    zframe_destroy (&body);
}

void *
search_follow (void *arg)
{
    search_t *self = arg;
    PGconn *pg = NULL;
    char err [512];
    void *sub = zsock_resolve (self->events);
    uint64_t applied [SEARCH_STREAMS];
    while (!self->stop) {
        //  Published here, outside the lock; a failed publish is retried
        //  every turn (at least every POLL_MS).
        pthread_rwlock_rdlock (&self->lock);
        memcpy (applied, self->applied, sizeof applied);
        pthread_rwlock_unlock (&self->lock);
        search_gen_publish (self->gen, applied);
        zmq_pollitem_t item = { sub, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, POLL_MS) <= 0)
            continue;
        char *ids [BATCH_MAX];
        size_t count = 0;
        bool gap = false;
        while (count < BATCH_MAX && !gap) {
            zmq_pollitem_t more = { sub, 0, ZMQ_POLLIN, 0 };
            zmsg_t *msg = zmq_poll (&more, 1, 0) > 0 ? zmsg_recv (self->events) : NULL;
            if (!msg)
                break;
            s_take (self, msg, ids, &count, &gap);
            zmsg_destroy (&msg);
        }
        if (!pg || PQstatus (pg) != CONNECTION_OK) {
            PQfinish (pg);
            pg = mg_pg_connect (self->pg_url, err, sizeof err);
        }
        int rc = gap ? -1 : 0;
        if (!gap && count)
            rc = pg ? search_load_ids (self, pg, ids, count, err, sizeof err) : -1;
        if (rc == 0) {
            pthread_rwlock_wrlock (&self->lock);
            memcpy (self->applied, self->seq, sizeof self->applied);
            pthread_rwlock_unlock (&self->lock);
        }
        if (rc && !gap)
            mg_warn ("changed titles could not be re-read; resyncing", "reason=\"%s\"", pg ? err : "no database");
        else
        if (gap)
            mg_info ("gap in change events; resyncing", "content_seq=%llu availability_seq=%llu vectors_seq=%llu",
                     (unsigned long long) self->seq [0], (unsigned long long) self->seq [1],
                     (unsigned long long) self->seq [2]);
        while (rc && !self->stop && (rc = s_resync (self)))
            zclock_sleep (RETRY_MS);
        for (size_t i = 0; i < count; i++)
            free (ids [i]);
    }
    PQfinish (pg);
    return NULL;
}
