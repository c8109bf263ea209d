/*  The k nearest vectors among those a filter passes (nearest.h).  */
#include "nearest.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A starved "ivf-sq8" search reaches further while the lists it would
//  scan stay under this share of all lists (1 / FAR_SHARE); past it the
//  exact scan costs less (every vector's filter checked in the owner's
//  order, only the passing ones compared) and is exact.
#define FAR_SHARE   2
//  Passing vectors a further search aims at, per result wanted: the share
//  the filter passed among the scanned lists is an estimate.
#define AIM         2

//  The filter's keep, counting what the index asked and what passed: the
//  share of the vectors the search reached that the filter passes.
typedef struct {
    const search_nearest_filter_t *filter;
    size_t asked, passed;
} s_counted_t;

//  search_hnsw_keep_fn over s_counted_t.
static bool
s_counted_keep (void *arg, int64_t slot)
{
    s_counted_t *counted = arg;
    counted->asked++;
    bool keep = counted->filter->keep (counted->filter->arg, slot);
    counted->passed += keep;
    return keep;
}

void
search_nearest_offer (int64_t *slots, float *scores, size_t *count, size_t k, int64_t slot, float score)
{
    if (k == 0 || (*count == k && score <= scores [k - 1]))
        return;
    size_t at = *count < k ? (*count)++ : k - 1;
    while (at > 0 && scores [at - 1] < score) {
        scores [at] = scores [at - 1];
        slots [at] = slots [at - 1];
        at--;
    }
    scores [at] = score;
    slots [at] = slot;
}

//  The exact answer: every slot filter passes (held of them at most)
//  compared with query, the best k at least min kept, best first (a tie
//  keeps the lower slot first). Their count, or -1.
static int
s_exact (search_hnsw_t *hnsw, const float *query, uint32_t dims, size_t k, float min,
         const search_nearest_filter_t *filter, int64_t *slots, float *scores, search_nearest_stats_t *stats)
{
    size_t held = search_hnsw_count (hnsw);
    size_t words = (held + 63) / 64;
    uint64_t *bits = calloc (words ? words : 1, sizeof *bits);
    float *vec = malloc (dims * sizeof *vec);
    if (!bits || !vec) {
        free (bits);
        free (vec);
        return -1;
    }
    if (filter && filter->passing)
        filter->passing (filter->arg, bits, held);
    else
        for (size_t slot = 0; slot < held; slot++)
            if (!filter || !filter->keep || filter->keep (filter->arg, (int64_t) slot))
                bits [slot / 64] |= (uint64_t) 1 << (slot % 64);
    size_t count = 0;
    for (size_t word = 0; word < words; word++)
        for (uint64_t w = bits [word]; w; w &= w - 1) {
            size_t slot = word * 64 + (size_t) __builtin_ctzll (w);
            if (slot >= held || !search_hnsw_vector (hnsw, (int64_t) slot, vec))
                continue;
            stats->scanned++;
            float dot = 0;
            for (uint32_t d = 0; d < dims; d++)
                dot += query [d] * vec [d];
            if (dot >= min)
                search_nearest_offer (slots, scores, &count, k, (int64_t) slot, dot);
        }
    free (bits);
    free (vec);
    return (int) count;
}

int
search_nearest (search_hnsw_t *hnsw, const float *query, uint32_t dims, size_t k, int ef, float min,
                const search_nearest_filter_t *filter, int64_t *slots, float *scores,
                search_nearest_stats_t *stats, char *err, size_t errlen)
{
    assert (hnsw && query && slots && scores && k <= SEARCH_NEAREST_MAX);
    search_nearest_stats_t own = { 0 };
    stats = stats ? stats : &own;
    if (k == 0)
        return 0;
    bool filtered = filter && filter->keep;
    s_counted_t counted = { .filter = filter };
    size_t lists = search_hnsw_lists (hnsw), probes = search_hnsw_probes (hnsw);
    for (;;) {
        stats->searches++;
        counted.asked = counted.passed = 0;
        int found = search_hnsw_search_wide (hnsw, query, k, ef, probes, filtered ? s_counted_keep : NULL,
                                             &counted, slots, scores, err, errlen);
        if (found < 0)
            return -1;
        int above = 0;
        while (above < found && scores [above] >= min)
            above++;
        //  k found, or fewer with some under the floor: every vector over
        //  it that the search reached is in.
        if ((size_t) found == k || found > above)
            return above;
        //  Starved. A graph cannot be told to reach further at a bounded
        //  cost; lists can: as many more as the share passed there says
        //  AIM x k passing vectors need (twice as many at least).
        if (lists == 0 || probes == 0)
            break;
        double share = filtered ? (counted.asked ? (double) counted.passed / (double) counted.asked : 0) : 1;
        size_t want = found > 0 ? probes * AIM * k / (size_t) found : probes * 4;
        want = want < probes * 2 ? probes * 2 : want;
        //  The filter passes too few vectors anywhere (its share of all
        //  vectors under AIM x k), or the lists would be most of them.
        if (share * (double) search_hnsw_count (hnsw) < (double) (AIM * k) || want * FAR_SHARE > lists)
            break;
        probes = want;
        stats->widened++;
    }
    stats->exact++;
    int count = s_exact (hnsw, query, dims, k, min, filter, slots, scores, stats);
    if (count < 0)
        snprintf (err, errlen, "out of memory");
    return count;
}
