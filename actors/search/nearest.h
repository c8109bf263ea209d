/*  The k nearest vectors of the vector index (hnsw.h) among those a filter
    passes: the index's own search first; when it finds fewer than k (a
    filter few vectors pass starves it, or the lists an "ivf-sq8" search
    scans hold few vectors), the search reaches further ("ivf-sq8": more
    lists, as many as the share of vectors the filter passed there says
    k of them need), and when that would reach most of the index, or on a
    graph (no way to reach further that bounds its work), an exact scan of
    the vectors the filter passes, the filter checked first (one bit per
    slot), each passing vector read back once. The replica's semantic side
    and similar titles (index_fuse.c) and mg-hnsw-bench call it.  */
#ifndef SEARCH_NEAREST_H_INCLUDED
#define SEARCH_NEAREST_H_INCLUDED

#include "hnsw.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Which slots may be results. keep (NULL: every slot) answers for one
//  slot, as the index's search asks it; passing (NULL: keep over every
//  slot) sets the bit of every slot below slots that keep would accept in
//  bits (zeroed, (slots + 63) / 64 words), the owner's faster way to see
//  them all (its own table in its own order).
typedef struct {
    search_hnsw_keep_fn keep;
    void (*passing) (void *arg, uint64_t *bits, size_t slots);
    void *arg;
} search_nearest_filter_t;

//  What one or more calls did: index searches, of them those that reached
//  further than configured, exact scans, and vectors compared by them.
typedef struct {
    size_t searches, widened, exact, scanned;
} search_nearest_stats_t;

//  The best k (at most SEARCH_NEAREST_MAX) slots that filter (NULL: none)
//  accepts whose inner product with query (dims floats) is at least min,
//  best first, into slots and scores; ef as search_hnsw_search's. Their
//  count, or -1 with a reason in err. stats (may be NULL) is added to.
#define SEARCH_NEAREST_MAX 1000
int search_nearest (search_hnsw_t *hnsw, const float *query, uint32_t dims, size_t k, int ef, float min,
                    const search_nearest_filter_t *filter, int64_t *slots, float *scores,
                    search_nearest_stats_t *stats, char *err, size_t errlen);

//  Offer slot with score to the best *count (at most k, best first) in
//  slots and scores: it takes its place unless k are held that are all
//  at least as good (a tie keeps the one offered first ahead).
void search_nearest_offer (int64_t *slots, float *scores, size_t *count, size_t k, int64_t slot, float score);

#endif
