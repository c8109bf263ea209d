/*  The details cache's versions. The gateway keeps GET /api/v1/content/{id}
    answers in Redis under <prefix><request hash>:<E>.<V>, where E is
    <prefix>epoch and V is <prefix>v:<id> as the gateway read them in the
    same script as the entry (gateway/cache.c). This thread follows
    content.changed and availability.changed and raises V of every title
    an event names, so the next read of that title misses and is answered
    fresh: an entry stored under the old number, even by a read that raced
    the change, is never looked up again (and expires by its TTL).

    PUB/SUB may lose events: the streams are numbered without gaps, so a
    jump in a stream's numbers raises E instead, which retires every entry.
    E is also raised at start (events published while no replica followed
    are unknown) and after a failed write to Redis (retried every POLL_MS
    until it succeeds). Every replica follows: a title's V is raised once
    per replica, which only costs a miss more.

    A version key expires VERSION_SLACK_S after twice the entry TTL: by
    then every entry stored under any of its numbers has expired, so its
    restart from 0 revives nothing.  */
#include "catalog.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_log.h"
#include "mg_redis.h"

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS          200        //  stop flag and epoch retries are looked at this often
#define BATCH_MAX        256        //  events raised in one pipelined Redis round trip
#define BACKOFF_MS       1000       //  after a Redis timeout, writes wait this long
#define VERSION_SLACK_S  60         //  version keys outlive twice the entry TTL by this much
#define PREFIX_MAX       64         //  bytes of MG_DETAILS_CACHE_PREFIX
#define UUID_TEXT        36
#define KEY_MAX          (PREFIX_MAX + 3 + UUID_TEXT)   //  <prefix>v:<uuid> and its NUL

//  KEYS[1]: a title's version key; ARGV[1]: its lifetime in ms.
static const char s_raise [] =
    "local v = redis.call('INCR', KEYS[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "return v\n";

static const char *const s_streams [] = { "content.changed", "availability.changed" };
#define STREAMS (sizeof s_streams / sizeof s_streams [0])

struct catalog_follow_t {
    pthread_t thread;
    atomic_bool stopping;
    char events [256];              //  MG_EVENTS
    char prefix [PREFIX_MAX + 1];
    char epoch_key [PREFIX_MAX + 8];
    char life_ms [24];              //  a version key's lifetime
    mg_redis_t *redis;
    uint64_t last_seq [STREAMS];    //  0: nothing seen yet
    bool epoch_due;                 //  E must be raised (start, gap, lost write)
    char keys [BATCH_MAX][KEY_MAX]; //  version keys of the batch being raised
};

//  Raise E when due; a failure leaves it due.
static void
s_raise_epoch (catalog_follow_t *self)
{
    if (!self->epoch_due)
        return;
    const char *argv [] = { "INCR", self->epoch_key };
    char why [256];
    redisReply *reply = mg_redis_command (self->redis, 2, argv, why, sizeof why);
    if (reply) {
        self->epoch_due = false;
        freeReplyObject (reply);
    }
}

//  Take one event: its title's version key into keys [*count] (a gap in
//  its stream makes the epoch due instead of being skipped).
static void
s_take (catalog_follow_t *self, zmsg_t *msg, size_t *count)
{
    zframe_t *topic = zmsg_first (msg);
    zframe_t *body = zmsg_next (msg);
    if (!topic || !body)
        return;
    size_t stream = 0;
    while (stream < STREAMS && !zframe_streq (topic, s_streams [stream]))
        stream++;
    mg_change_event_t event;
    char reason [MG_MSG_ERR_LEN];
    if (stream == STREAMS
    ||  mg_msg_decode (&mg_change_event_desc, zframe_data (body), zframe_size (body), &event, reason, sizeof reason))
        return;
    if (self->last_seq [stream] && event.seq > self->last_seq [stream] + 1)
        self->epoch_due = true;
    if (event.seq > self->last_seq [stream])
        self->last_seq [stream] = event.seq;
    //  Ids are the catalog's UUIDs in PostgreSQL's text form (lower case),
    //  as the gateway's keys are; anything else cannot name a cached title.
    if (strlen (event.content_id) == UUID_TEXT
    &&  strspn (event.content_id, "0123456789abcdef-") == UUID_TEXT) {
        snprintf (self->keys [*count], KEY_MAX, "%sv:%s", self->prefix, event.content_id);
        (*count)++;
    }
    mg_msg_clear (&mg_change_event_desc, &event);
}

//  Raise the version keys of count titles in one round trip; a failure
//  makes the epoch due.
static void
s_raise_versions (catalog_follow_t *self, size_t count)
{
    const char *params [BATCH_MAX * 2] = { NULL };
    redisReply *replies [BATCH_MAX] = { NULL };
    for (size_t i = 0; i < count; i++) {
        params [i * 2] = self->keys [i];
        params [i * 2 + 1] = self->life_ms;
    }
    char why [256];
    if (mg_redis_eval_many (self->redis, s_raise, count, 1, 1, params, replies, why, sizeof why)) {
        mg_warn ("details cache versions not raised: retiring every entry once Redis answers",
                 "titles=%zu reason=\"%s\"", count, why);
        self->epoch_due = true;
        return;
    }
    for (size_t i = 0; i < count; i++) {
        if (!replies [i])
            self->epoch_due = true;
        freeReplyObject (replies [i]);
    }
}

//  Thread body: follow the streams until stopping.
static void *
s_follow (void *arg)
{
    catalog_follow_t *self = arg;
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub || mg_curve_client (sub) || mg_config_connect (sub, self->events)) {
        mg_error ("details cache: cannot subscribe to the change events", "endpoint=%s", self->events);
        zsock_destroy (&sub);
        return NULL;
    }
    zsock_set_subscribe (sub, s_streams [0]);
    zsock_set_subscribe (sub, s_streams [1]);
    void *socket = zsock_resolve (sub);
    while (!atomic_load (&self->stopping)) {
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        //  The first epoch raise waits one poll, so that the subscription
        //  is in place: a change missed before it is covered by the raise.
        if (zmq_poll (&item, 1, POLL_MS) <= 0) {
            s_raise_epoch (self);
            continue;
        }
        size_t count = 0;
        while (count < BATCH_MAX) {
            zmsg_t *msg = zmsg_recv_nowait (sub);
            if (!msg)
                break;
            s_take (self, msg, &count);
            zmsg_destroy (&msg);
        }
        if (count)
            s_raise_versions (self, count);
        s_raise_epoch (self);
    }
    zsock_destroy (&sub);
    return NULL;
}

catalog_follow_t *
catalog_follow_new (void)
{
    int64_t ttl_s = mg_config_int ("MG_DETAILS_CACHE_TTL_S", 300, 0, 86400);
    if (ttl_s == 0)
        return NULL;
    const char *prefix = mg_config_str ("MG_DETAILS_CACHE_PREFIX", "details:");
    if (strlen (prefix) > PREFIX_MAX) {
        mg_error ("MG_DETAILS_CACHE_PREFIX is too long", "max=%d", PREFIX_MAX);
        return NULL;
    }
    catalog_follow_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->events, sizeof self->events, "%s", mg_config_str ("MG_EVENTS", "tcp://127.0.0.1:5557"));
    snprintf (self->prefix, sizeof self->prefix, "%s", prefix);
    snprintf (self->epoch_key, sizeof self->epoch_key, "%sepoch", prefix);
    snprintf (self->life_ms, sizeof self->life_ms, "%lld", (long long) ((2 * ttl_s + VERSION_SLACK_S) * 1000));
    self->epoch_due = true;
    int timeout_ms = (int) mg_config_int ("MG_REDIS_TIMEOUT_MS", 200, 1, 60000);
    self->redis = mg_redis_new (mg_config_str ("MG_REDIS_URL", "redis://127.0.0.1:6379"), timeout_ms, BACKOFF_MS);
    if (!self->redis || pthread_create (&self->thread, NULL, s_follow, self)) {
        mg_error ("details cache: cannot start following the change events", NULL);
        mg_redis_destroy (&self->redis);
        free (self);
        return NULL;
    }
    return self;
}

void
catalog_follow_destroy (catalog_follow_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    catalog_follow_t *self = *self_p;
    atomic_store (&self->stopping, true);
    pthread_join (self->thread, NULL);
    mg_redis_destroy (&self->redis);
    free (self);
    *self_p = NULL;
}
