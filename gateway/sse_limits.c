/*  The bounds on Server-Sent Event streams of one gateway process: at most
    sse_per_user streams per user and sse_max_streams in all, counted under
    one mutex when streams open and close, never per event.  */
#include "gw_sse.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_BUCKETS      1024       //  per-process per-user counts

typedef struct s_count_t {
    char user_id [37];
    int streams;
    struct s_count_t *next;
} s_count_t;

struct gw_sse_limits_t {
    pthread_mutex_t lock;
    s_count_t *buckets [LIMIT_BUCKETS];
    int total;
};

size_t
gw_sse_bucket (const char *text, size_t buckets)
{
    uint64_t hash = 1469598103934665603ULL;          //  FNV-1a
    for (; *text; text++)
        hash = (hash ^ (uint8_t) *text) * 1099511628211ULL;
    return (size_t) (hash % buckets);
}

gw_sse_limits_t *
gw_sse_limits_new (void)
{
    gw_sse_limits_t *self = calloc (1, sizeof *self);
    if (self && pthread_mutex_init (&self->lock, NULL)) {
        free (self);
        return NULL;
    }
    return self;
}

void
gw_sse_limits_destroy (gw_sse_limits_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_sse_limits_t *self = *self_p;
        for (size_t b = 0; b < LIMIT_BUCKETS; b++)
            while (self->buckets [b]) {
                s_count_t *next = self->buckets [b]->next;
                free (self->buckets [b]);
                self->buckets [b] = next;
            }
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

gw_sse_take_t
gw_sse_limits_take (gw_sse_limits_t *self, const char *user_id, int per_user, int total)
{
    assert (self && user_id);
    gw_sse_take_t rc = GW_SSE_TAKEN;
    pthread_mutex_lock (&self->lock);
    s_count_t **slot = &self->buckets [gw_sse_bucket (user_id, LIMIT_BUCKETS)];
    while (*slot && strcmp ((*slot)->user_id, user_id) != 0)
        slot = &(*slot)->next;
    if (self->total >= total)
        rc = GW_SSE_FULL;
    else
    if (*slot && (*slot)->streams >= per_user)
        rc = GW_SSE_USER_FULL;
    else {
        if (!*slot) {
            *slot = calloc (1, sizeof **slot);
            if (*slot)
                snprintf ((*slot)->user_id, sizeof (*slot)->user_id, "%s", user_id);
        }
        if (*slot) {
            (*slot)->streams++;
            self->total++;
        }
        else
            rc = GW_SSE_FULL;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void
gw_sse_limits_give (gw_sse_limits_t *self, const char *user_id)
{
    assert (self && user_id);
    pthread_mutex_lock (&self->lock);
    s_count_t **slot = &self->buckets [gw_sse_bucket (user_id, LIMIT_BUCKETS)];
    while (*slot && strcmp ((*slot)->user_id, user_id) != 0)
        slot = &(*slot)->next;
    if (*slot) {
        self->total--;
        if (--(*slot)->streams == 0) {
            s_count_t *gone = *slot;
            *slot = gone->next;
            free (gone);
        }
    }
    pthread_mutex_unlock (&self->lock);
}
