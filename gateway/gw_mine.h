/*  mine.c: a signed-in caller's services and region, for available=mine.  */
#ifndef GW_MINE_H_INCLUDED
#define GW_MINE_H_INCLUDED

#include "gw_request.h"

gw_mine_cache_t *gw_mine_cache_new (size_t capacity);
void gw_mine_cache_destroy (gw_mine_cache_t **self_p);

//  Fill request->mine for its signed-in caller (from the thread's cache, or
//  by asking sync.preferences.get), then request->dispatch the
//  request again; answers 503 itself when the lookup fails.
void gw_mine_lookup (gw_request_t *request);

//  user_id's preferences may have changed: every thread's cached answer is stale.
void gw_mine_forget (const char *user_id);

#endif
