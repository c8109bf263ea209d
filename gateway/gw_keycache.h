/*  keycache.c: API key -> caller, per thread (no locks), bounded.  */
#ifndef GW_KEYCACHE_H_INCLUDED
#define GW_KEYCACHE_H_INCLUDED

#include "gw_request.h"

typedef struct {
    bool valid;                     //  false: a key the accounts service refused
    char user_id [37];
    char tier [16];
    char key_id [37];
} gw_key_entry_t;

gw_keycache_t *gw_keycache_new (size_t capacity);
void gw_keycache_destroy (gw_keycache_t **self_p);

//  Look key (len bytes) up at now_us: true with *entry filled when a live
//  entry exists.
bool gw_keycache_get (gw_keycache_t *self, const char *key, size_t len, int64_t now_us,
                      gw_key_entry_t *entry);

//  Remember entry for key until now_us + ttl_us (the oldest entry of its
//  bucket makes room).
void gw_keycache_put (gw_keycache_t *self, const char *key, size_t len, int64_t now_us,
                      int64_t ttl_us, const gw_key_entry_t *entry);

//  Forget the entries of key id key_id (it was revoked). Returns how many.
size_t gw_keycache_drop (gw_keycache_t *self, const char *key_id);

#endif
