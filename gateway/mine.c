/*  available=mine: what a signed-in caller of a GW_ROUTE_MINE route (search,
    discover, trending, leaving) has. The gateway knows the caller; the
    answering actor needs their services and region, so the gateway asks
    sync.preferences.get once and passes both in the request
    (GW_MINE_SERVICES_FIELD, GW_MINE_REGION_FIELD, GW_SIGNED_IN_FIELD).

    Answers are cached per thread for MG_MINE_CACHE_S seconds. A preference
    write through this gateway (PUT /me/preferences, POST /sync/ops) bumps
    the epoch of the writer's slot in a table all threads share, which makes
    every cached answer of that user stale at once; a write through another
    gateway does the same when its preferences.set event arrives (sse.c
    follows every user's sync events), a few milliseconds later. The
    answer also says whose offers search, similar, trending and discover
    items show: the caller's region.  */
#include "gw_mine.h"
#include "gw_bus.h"
#include "gw_respond.h"
#include "gw_routes.h"
#include "mg_log.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPOCH_SLOTS     4096        //  users hash onto these; a collision only costs a lookup
#define RETRY_AFTER_S   1           //  sync busy or restarting: worth a retry soon

typedef struct {
    char user_id [37];              //  empty: free
    uint32_t epoch;                 //  of the user's slot when the lookup was sent
    int64_t expires_us;             //  monotonic
    char region [3];
    char services [GW_MINE_TEXT_MAX];
} s_entry_t;

struct gw_mine_cache_t {
    s_entry_t *entries;
    size_t capacity;
};

static _Atomic uint32_t s_epochs [EPOCH_SLOTS];

//  FNV-1a of user_id.
static uint32_t
s_hash (const char *user_id)
{
    uint32_t hash = 2166136261u;
    for (const char *p = user_id; *p; p++)
        hash = (hash ^ (uint8_t) *p) * 16777619u;
    return hash;
}

//  The current epoch of user_id's slot: an entry looked up at another is stale.
static uint32_t
s_epoch (const char *user_id)
{
    return atomic_load_explicit (&s_epochs [s_hash (user_id) % EPOCH_SLOTS], memory_order_acquire);
}

gw_mine_cache_t *
gw_mine_cache_new (size_t capacity)
{
    assert (capacity > 0);
    gw_mine_cache_t *self = calloc (1, sizeof *self);
    if (self)
        self->entries = calloc (capacity, sizeof (s_entry_t));
    if (!self || !self->entries) {
        free (self);
        return NULL;
    }
    self->capacity = capacity;
    return self;
}

void
gw_mine_cache_destroy (gw_mine_cache_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->entries);
        free (*self_p);
        *self_p = NULL;
    }
}

void
gw_mine_forget (const char *user_id)
{
    assert (user_id);
    atomic_fetch_add_explicit (&s_epochs [s_hash (user_id) % EPOCH_SLOTS], 1, memory_order_acq_rel);
}

//  The live cache entry of user_id, or NULL.
static const s_entry_t *
s_cached (gw_mine_cache_t *self, const char *user_id, int64_t now_us)
{
    const s_entry_t *entry = &self->entries [s_hash (user_id) % self->capacity];
    if (strcmp (entry->user_id, user_id) != 0 || entry->expires_us <= now_us
    ||  entry->epoch != s_epoch (user_id))
        return NULL;
    return entry;
}

//  Copy what entry holds into the request and dispatch it again.
static void
s_proceed (gw_request_t *request, const char *region, const char *services)
{
    request->mine.ready = true;
    snprintf (request->mine.region, sizeof request->mine.region, "%s", region);
    snprintf (request->mine.services, sizeof request->mine.services, "%s", services);
    request->dispatch (request);
}

//  The comma-separated services of prefs into out (size bytes). Returns 0,
//  or -1 when they do not fit (they are canonical slugs: they always do).
static int
s_join (const mg_sync_preferences_t *prefs, char *out, size_t size)
{
    size_t used = 0;
    out [0] = '\0';
    for (size_t i = 0; i < prefs->services_count; i++) {
        int n = snprintf (out + used, size - used, "%s%s", used ? "," : "", prefs->services [i]);
        if (n < 0 || (size_t) n >= size - used)
            return -1;
        used += (size_t) n;
    }
    return 0;
}

//  A lookup that was sent: its request and the user's epoch at the time.
typedef struct {
    gw_request_t *request;
    uint32_t epoch;
} s_call_t;

//  Bus callback of sync.preferences.get.
static void
s_on_preferences (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len, int64_t rtt_us)
{
    (void) rtt_us;
    s_call_t *call = arg;
    gw_request_t *request = call->request;
    uint32_t epoch = call->epoch;
    free (call);
    mg_sync_preferences_t prefs = { 0 };
    char reason [MG_MSG_ERR_LEN] = "";
    char services [GW_MINE_TEXT_MAX];
    if (outcome == GW_BUS_REPLY
    &&  mg_msg_decode (&mg_sync_preferences_desc, body, len, &prefs, reason, sizeof reason) == 0
    &&  s_join (&prefs, services, sizeof services) == 0) {
        const char *region = prefs.region && strlen (prefs.region) == 2 ? prefs.region : "";
        const char *user_id = request->caller.user_id;
        s_entry_t *entry = &request->mine_cache->entries [s_hash (user_id) % request->mine_cache->capacity];
        snprintf (entry->user_id, sizeof entry->user_id, "%s", user_id);
        entry->epoch = epoch;
        entry->expires_us = gw_now_us () + (int64_t) request->config->mine_cache_s * 1000000;
        snprintf (entry->region, sizeof entry->region, "%s", region);
        snprintf (entry->services, sizeof entry->services, "%s", services);
        mg_msg_clear (&mg_sync_preferences_desc, &prefs);
        s_proceed (request, entry->region, entry->services);
        return;
    }
    mg_msg_clear (&mg_sync_preferences_desc, &prefs);
    if (outcome == GW_BUS_ERROR) {
        mg_error_t error;
        if (mg_msg_decode (&mg_error_desc, body, len, &error, reason, sizeof reason) == 0) {
            //  The caller's own fault cannot come from a read of their own preferences:
            //  whatever sync says, the request could not be served now.
            mg_warn ("preferences lookup failed", "code=%s", error.code);
            mg_msg_clear (&mg_error_desc, &error);
        }
    }
    else
    if (outcome == GW_BUS_REPLY)
        mg_error ("undecodable sync.preferences.get reply", "reason=\"%s\"", reason);
    gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", RETRY_AFTER_S,
                    "the caller's services could not be looked up; retry shortly");
}

void
gw_mine_lookup (gw_request_t *request)
{
    assert (request && request->caller.kind != GW_CALLER_ANONYMOUS);
    const char *user_id = request->caller.user_id;
    const s_entry_t *entry = request->config->mine_cache_s && request->mine_cache
                           ? s_cached (request->mine_cache, user_id, gw_now_us ()) : NULL;
    if (entry) {
        s_proceed (request, entry->region, entry->services);
        return;
    }
    mg_sync_user_request_t msg = { .user_id = (char *) user_id };
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    s_call_t *call = malloc (sizeof *call);
    int rc = call ? mg_msg_encode (&mg_sync_user_request_desc, &msg, &body, &len, reason, sizeof reason) : -1;
    if (rc == 0) {
        *call = (s_call_t) { .request = request, .epoch = s_epoch (user_id) };
        rc = gw_bus_call (request->bus, "sync.preferences.get", body, len,
                          request->config->request_timeout_ms, s_on_preferences, call);
    }
    free (body);
    if (rc) {
        free (call);
        gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", RETRY_AFTER_S,
                        "the message broker is unreachable");
    }
}
