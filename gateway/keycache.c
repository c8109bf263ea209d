/*  API key cache of one gateway thread: key -> (user, tier), or "refused".

    Keys are not kept: an entry is found by the BLAKE2b hash of the key, so
    a memory dump does not yield usable keys. The table is a fixed array of
    buckets of BUCKET_WAYS entries; a full bucket gives up its entry that
    expires first. Entries live MG_KEY_CACHE_S (accepted keys) or less
    (refused ones); a revoked key is dropped at once when its revocation
    event arrives (gw_keycache_drop), and within that time when it is lost.  */
#include "gw_keycache.h"

#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET_WAYS 4               //  entries per bucket

typedef struct {
    uint8_t hash [crypto_generichash_BYTES];
    int64_t expires_us;             //  0: empty
    gw_key_entry_t entry;
} s_slot_t;

struct gw_keycache_t {
    s_slot_t *slots;
    size_t buckets;
};

gw_keycache_t *
gw_keycache_new (size_t capacity)
{
    gw_keycache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->buckets = capacity / BUCKET_WAYS ? capacity / BUCKET_WAYS : 1;
    self->slots = calloc (self->buckets * BUCKET_WAYS, sizeof *self->slots);
    if (!self->slots)
        gw_keycache_destroy (&self);
    return self;
}

void
gw_keycache_destroy (gw_keycache_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_keycache_t *self = *self_p;
        if (self->slots)
            sodium_memzero (self->slots, self->buckets * BUCKET_WAYS * sizeof *self->slots);
        free (self->slots);
        free (self);
        *self_p = NULL;
    }
}

//  Hash of key and the first slot of its bucket.
static s_slot_t *
s_bucket (gw_keycache_t *self, const char *key, size_t len, uint8_t hash [crypto_generichash_BYTES])
{
    crypto_generichash (hash, crypto_generichash_BYTES, (const uint8_t *) key, len, NULL, 0);
    uint64_t h;
    memcpy (&h, hash, sizeof h);
    return &self->slots [(h % self->buckets) * BUCKET_WAYS];
}

bool
gw_keycache_get (gw_keycache_t *self, const char *key, size_t len, int64_t now_us,
                 gw_key_entry_t *entry)
{
    assert (self && key && entry);
    uint8_t hash [crypto_generichash_BYTES];
    s_slot_t *bucket = s_bucket (self, key, len, hash);
    for (int i = 0; i < BUCKET_WAYS; i++)
        if (bucket [i].expires_us > now_us && memcmp (bucket [i].hash, hash, sizeof hash) == 0) {
            *entry = bucket [i].entry;
            return true;
        }
    return false;
}

void
gw_keycache_put (gw_keycache_t *self, const char *key, size_t len, int64_t now_us,
                 int64_t ttl_us, const gw_key_entry_t *entry)
{
    assert (self && key && entry);
    uint8_t hash [crypto_generichash_BYTES];
    s_slot_t *bucket = s_bucket (self, key, len, hash);
    s_slot_t *victim = &bucket [0];
    for (int i = 0; i < BUCKET_WAYS; i++) {
        if (memcmp (bucket [i].hash, hash, sizeof hash) == 0) {
            victim = &bucket [i];
            break;
        }
        if (bucket [i].expires_us < victim->expires_us)
            victim = &bucket [i];
    }
    memcpy (victim->hash, hash, sizeof hash);
    victim->expires_us = now_us + ttl_us;
    victim->entry = *entry;
}

size_t
gw_keycache_drop (gw_keycache_t *self, const char *key_id)
{
    assert (self && key_id);
    //  A full scan: revocations are rare and the table is a few thousand slots.
    size_t dropped = 0;
    for (size_t i = 0; i < self->buckets * BUCKET_WAYS; i++) {
        s_slot_t *slot = &self->slots [i];
        if (slot->expires_us && slot->entry.valid && strcmp (slot->entry.key_id, key_id) == 0) {
            sodium_memzero (slot, sizeof *slot);
            dropped++;
        }
    }
    return dropped;
}
