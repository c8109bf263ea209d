/*  Reference replies from memory: GET /api/v1/genres and /api/v1/platforms.

    These answers change only with the catalog, yet each cost a bus round
    trip to the catalog actor. Each gateway thread keeps the JSON body of
    the last 200 answer per request target (path and query, byte for byte)
    and answers the next request with it after the guard, as the actor
    would have: the same body, so the same ETag, Cache-Control and 304 on
    If-None-Match (cors.c computes them on the way out either way).

    Staleness: the thread's event subscription (events.c) brings the
    catalog's change events (content.changed, availability.changed: a
    title, its genres or a platform's offers changed); any event drops
    every kept answer, so the
    next request after one is forwarded again. MG_REFERENCE_CACHE_S (a
    kept answer is forwarded again after this long) is the backstop for a
    lost event or a change no event announces (a migration); 0 turns the
    memo off.

    Bounds: MEMO_ENTRIES answers of at most MEMO_BODY_MAX bytes per thread;
    a full table gives up its oldest answer. No lock: one table per thread.  */
#include "gw_memo.h"
#include "gw_forward.h"
#include "gw_metrics.h"
#include "gw_respond.h"
#include "mg_log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define MEMO_ENTRIES    64          //  request targets kept per thread (genres + platform pages)
#define MEMO_KEY_MAX    256         //  bytes of a request target kept; longer ones are not kept
#define MEMO_BODY_MAX   (256 * 1024)    //  bytes of one answer; larger ones are not kept

static const char *const s_topics [] = { "content.changed", "availability.changed" };

typedef struct {
    char key [MEMO_KEY_MAX];        //  empty: free
    uint8_t *body;
    size_t len;
    int64_t stored_us;
} s_entry_t;

struct gw_memo_t {
    s_entry_t entries [MEMO_ENTRIES];
    int64_t ttl_us;
    uint64_t generation;            //  bumped by every change event: an answer asked
                                    //  for before one is not kept after it
};

//  Forget every kept answer.
static void
s_clear (gw_memo_t *self)
{
    for (size_t i = 0; i < MEMO_ENTRIES; i++) {
        free (self->entries [i].body);
        memset (&self->entries [i], 0, sizeof self->entries [i]);
    }
}

//  gw_events: a change event makes every kept answer stale; its content
//  does not matter.
static void
s_on_change (void *arg, const zmq_msg_t *topic, zmq_msg_t *body)
{
    (void) topic;
    (void) body;
    gw_memo_t *self = arg;
    s_clear (self);
    self->generation++;
}

gw_memo_t *
gw_memo_new (gw_events_t *events, const gw_config_t *config)
{
    assert (events && config);
    gw_memo_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ttl_us = (int64_t) config->memo_ttl_s * 1000000;
    if (self->ttl_us == 0)
        return self;                //  off: nothing to listen to
    for (size_t i = 0; i < sizeof s_topics / sizeof s_topics [0]; i++)
        if (gw_events_on (events, s_topics [i], s_on_change, self)) {
            gw_memo_destroy (&self);
            return NULL;
        }
    return self;
}

void
gw_memo_destroy (gw_memo_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_memo_t *self = *self_p;
        s_clear (self);
        free (self);
        *self_p = NULL;
    }
}

size_t
gw_memo_size (gw_memo_t *self)
{
    assert (self);
    size_t n = 0;
    for (size_t i = 0; i < MEMO_ENTRIES; i++)
        n += self->entries [i].key [0] != '\0';
    return n;
}

//  The live entry of the request's target, or NULL (an expired one is freed).
static s_entry_t *
s_find (gw_memo_t *self, const char *key, int64_t now_us)
{
    for (size_t i = 0; i < MEMO_ENTRIES; i++) {
        s_entry_t *entry = &self->entries [i];
        if (entry->key [0] && strcmp (entry->key, key) == 0) {
            if (now_us - entry->stored_us < self->ttl_us)
                return entry;
            free (entry->body);
            memset (entry, 0, sizeof *entry);
            return NULL;
        }
    }
    return NULL;
}

//  request->store: keep the 200 answer in out under the request's target.
static void
s_store (gw_request_t *request, const void *reply, struct evbuffer *out)
{
    (void) reply;
    gw_memo_t *self = request->memo;
    size_t len = evbuffer_get_length (out);
    size_t key_len = strlen (request->uri);
    if (len > MEMO_BODY_MAX || key_len >= MEMO_KEY_MAX || request->memo_generation != self->generation)
        return;
    uint8_t *body = malloc (len ? len : 1);
    if (!body || evbuffer_copyout (out, body, len) != (ev_ssize_t) len) {
        free (body);
        return;
    }
    int64_t now = gw_now_us ();
    s_entry_t *slot = s_find (self, request->uri, now);
    for (size_t i = 0; !slot && i < MEMO_ENTRIES; i++)
        if (!self->entries [i].key [0])
            slot = &self->entries [i];
    if (!slot) {
        slot = &self->entries [0];
        for (size_t i = 1; i < MEMO_ENTRIES; i++)
            if (self->entries [i].stored_us < slot->stored_us)
                slot = &self->entries [i];
    }
    free (slot->body);
    memcpy (slot->key, request->uri, key_len + 1);
    slot->body = body;
    slot->len = len;
    slot->stored_us = now;
}

void
gw_memo_forward (gw_request_t *request, uint8_t **body_p, size_t len)
{
    assert (request && body_p);
    gw_memo_t *self = request->memo;
    if (!self || self->ttl_us == 0) {
        gw_forward (request, body_p, len);
        return;
    }
    s_entry_t *entry = s_find (self, request->uri, gw_now_us ());
    if (entry) {
        free (*body_p);
        *body_p = NULL;
        gw_metrics_memo (request->metrics, GW_CACHE_HIT);
        evbuffer_add (evhttp_request_get_output_buffer (request->http), entry->body, entry->len);
        gw_reply_buffer (request, 200, GW_JSON_TYPE);
        return;
    }
    gw_metrics_memo (request->metrics, GW_CACHE_MISS);
    request->store = s_store;
    request->memo_generation = self->generation;
    gw_forward (request, body_p, len);
}
