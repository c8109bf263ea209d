/*  The semantic side (HNSW neighbours of the query's vector), its fusion
    with the keyword side (weighted reciprocal ranks), the query entry
    point, and similar titles.  */
#include "index_impl.h"
#include "nearest.h"
#include "mg_log.h"

#include <assert.h>
#include <pthread.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Order of hits by sort (popularity, rating, release_date: best first),
//  then score.
static int
s_by_key (const void *a, const void *b, search_sort_t sort)
{
    const index_hit_t *x = a, *y = b;
    int c = 0;
    if (sort == SEARCH_SORT_POPULARITY)
        c = (x->popularity < y->popularity) - (x->popularity > y->popularity);
    else
    if (sort == SEARCH_SORT_RATING)
        c = x->has_rating != y->has_rating ? (y->has_rating - x->has_rating)
          : (x->rating < y->rating) - (x->rating > y->rating);
    else {
        bool xr = x->release [0] != '\0', yr = y->release [0] != '\0';
        c = xr != yr ? (yr - xr) : -strcmp (x->release, y->release);
    }
    if (c)
        return c;
    return index_by_score (a, b);
}

//  qsort orders of s_by_key, one per sort: no shared state, so queries on
//  several threads sort at once.
static int
s_by_popularity (const void *a, const void *b)
{
    return s_by_key (a, b, SEARCH_SORT_POPULARITY);
}

static int
s_by_rating (const void *a, const void *b)
{
    return s_by_key (a, b, SEARCH_SORT_RATING);
}

static int
s_by_release (const void *a, const void *b)
{
    return s_by_key (a, b, SEARCH_SORT_RELEASE_DATE);
}

//  True when the title line begins with the query's words in order (the
//  last one as a prefix when prefix_last): the title typed from its start.
//  What the vector search may return: live titles passing f, but skip.
typedef struct {
    search_index_t *self;
    const index_filter_t *f;
    int64_t skip;              //  rowid left out (similar: the title itself), 0: none
} s_vec_keep_t;

//  search_hnsw_keep_fn over s_vec_keep_t.
static bool
s_vec_keep (void *arg, int64_t slot)
{
    s_vec_keep_t *keep = arg;
    int64_t rowid = keep->self->slot_rowid [slot];
    return rowid > 0 && rowid != keep->skip && index_keep (&keep->self->docs [rowid], keep->f);
}

//  A vector hit of rowid with cosine dot.
static index_hit_t
s_vec_hit (search_index_t *self, int64_t rowid, double dot)
{
    const index_doc_t *doc = &self->docs [rowid];
    index_hit_t hit = {
        .rowid = rowid, .cosine = dot, .score = dot, .popularity = doc->popularity,
        .has_rating = doc->has_rating, .rating = doc->rating
    };
    memcpy (hit.release, doc->release, sizeof hit.release);
    return hit;
}

//  search_nearest_filter_t's passing over s_vec_keep_t: the slots of the
//  titles s_vec_keep accepts, the doc table read in its own order.
static void
s_vec_passing (void *arg, uint64_t *bits, size_t slots)
{
    s_vec_keep_t *keep = arg;
    search_index_t *self = keep->self;
    for (int64_t rowid = 1; rowid < self->next_rowid && (size_t) rowid < self->docs_room; rowid++) {
        const index_doc_t *doc = &self->docs [rowid];
        if (doc->slot <= 0 || (size_t) doc->slot > slots || self->slot_rowid [doc->slot - 1] != rowid
            || rowid == keep->skip || !index_keep (doc, keep->f))
            continue;
        size_t slot = (size_t) doc->slot - 1;
        bits [slot / 64] |= (uint64_t) 1 << (slot % 64);
    }
}

//  The best k titles (k <= SIMILAR_TOP, SEMANTIC_TOP) that keep accepts
//  whose vector's cosine with qv is at least min, best first, into top;
//  their count, or -1. The index's search first; when it finds fewer than
//  k above min (a filter few titles pass starves it), search_nearest
//  reaches further or scans the passing titles' vectors exactly.
static int
s_nearest (search_index_t *self, const float *qv, s_vec_keep_t *keep, size_t k, double min, index_hit_t *top)
{
    int64_t slots [SEMANTIC_TOP > SIMILAR_TOP ? SEMANTIC_TOP : SIMILAR_TOP];
    float scores [SEMANTIC_TOP > SIMILAR_TOP ? SEMANTIC_TOP : SIMILAR_TOP];
    char err [256] = "";
    assert (k <= sizeof slots / sizeof slots [0]);
    search_nearest_filter_t filter = { .keep = s_vec_keep, .passing = s_vec_passing, .arg = keep };
    search_nearest_stats_t stats = { 0 };
    uint64_t since = index_clock_ns ();
    int found = search_nearest (self->hnsw, qv, self->dims, k, HNSW_EF_SEARCH, (float) min, &filter, slots, scores,
                                &stats, err, sizeof err);
    if (found < 0) {
        mg_error ("vector search failed", "reason=\"%s\"", err);
        return -1;
    }
    if (stats.exact || stats.widened)
        index_phase_count (self, PHASE_STARVED, index_clock_ns () - since, stats.widened + stats.exact, stats.scanned);
    for (int i = 0; i < found; i++)
        top [i] = s_vec_hit (self, self->slot_rowid [slots [i]], scores [i]);
    return found;
}

//  The best SEMANTIC_TOP titles passing f whose vector's cosine with the
//  query's is at least SEMANTIC_MIN, best first, ranked from 1, into sem.
static int
s_semantic (search_index_t *self, const char *q, const index_filter_t *f, index_hits_t *sem)
{
    float *qv = malloc (self->dims * sizeof *qv);
    if (!qv)
        return -1;
    uint64_t since = index_clock_ns ();
    int e = mg_lsa_embed_text (self->lsa, q, qv);
    index_phase_add (self, PHASE_EMBED, since, 1);
    index_hit_t top [SEMANTIC_TOP];
    s_vec_keep_t keep = { .self = self, .f = f };
    since = index_clock_ns ();
    int count = e == 0 ? s_nearest (self, qv, &keep, SEMANTIC_TOP, SEMANTIC_MIN, top) : e > 0 ? 0 : -1;
    index_phase_add (self, PHASE_VECTORS, since, count > 0 ? (size_t) count : 0);
    free (qv);
    int rc = count < 0 ? -1 : 0;
    for (int i = 0; rc == 0 && i < count; i++) {
        top [i].semantic_rank = i + 1;
        rc = index_hits_push (sem, &top [i]);
    }
    return rc;
}

//  Fuse the keyword hits (sorted by score) with the semantic ones. Guarded
//  keyword hits keep their keyword order above everything else: the first
//  one, a title the query spells out, an exact tag or tagline phrase, a
//  film of the person or company the query names, the titles holding every
//  query word that follow a title the query spells out at the head of the
//  keyword ranking when a guarded hit comes after them, and
//  for a sentence (more than LONG_QUERY_WORDS words) every all-words hit
//  (a quoted line is matched, not paraphrased). The rest are ordered by
//  weighted reciprocal ranks, (1 - ratio) / (K + keyword rank) + ratio /
//  (K + semantic rank); semantic hits not in hits are added among them.
//  So the semantic side reorders and extends the tail, never the answers
//  the keyword side is sure of.
static int
s_fuse (index_hits_t *hits, index_hits_t *sem, double ratio, bool sentence)
{
    size_t last_guarded = 0;
    for (size_t i = 0; i < hits->count; i++) {
        index_hit_t *hit = &hits->items [i];
        //  The first hit and a title the query spells out are answers
        //  whichever tier found them (a typo the AND misses: "forest gump"
        //  finds Forrest Gump only among the hits of some words).
        hit->protected = i == 0 || hit->title >= TITLE_TYPED
            || (hit->tier == 0 && (sentence || hit->exact > 0 || hit->person > 0 || hit->company));
        if (hit->protected)
            last_guarded = i;
    }
    //  The title field outranks the others where the query names a title:
    //  when the first keyword hit is a title the query spells out, the
    //  titles holding the whole query that follow it, before any hit there
    //  for another reason, are its family (matrix: The Matrix, its sequels,
    //  then Dark City's tag) and keep their place. Otherwise the query is
    //  a topic (the first hit is there for a tag, or only shares the word):
    //  a title holding the word is fused like any other hit, below the
    //  guarded ones ("president": W. and the films tagged president, not
    //  The American President between them).
    bool leading = hits->count && hits->items [0].title >= TITLE_TYPED;
    for (size_t i = 0; i < hits->count; i++) {
        index_hit_t *hit = &hits->items [i];
        hit->keyword_rank = (int) i + 1;
        leading = leading && hit->tier == 0 && (hit->title_holds || hit->title >= TITLE_TYPED);
        if (leading && hit->title_holds && i < last_guarded)
            hit->protected = true;
        hit->score = hit->protected ? GUARD_SCORE - (double) i / (double) hits->count
                                    : (1 - ratio) / (RRF_K + (double) hit->keyword_rank);
        hit->tier = 0;
    }
    //  The semantic hits (at most SEMANTIC_TOP) by rowid, each keyword hit
    //  looked up among them: the keyword hits, up to a few thousand, stay
    //  as they are (the page is chosen from the union after).
    bool joined [SEMANTIC_TOP] = { false };
    if (sem->count > SEMANTIC_TOP)
        return -1;
    index_hits_sort (sem, index_by_rowid);
    for (size_t i = 0; i < hits->count && sem->count; i++) {
        index_hit_t *hit = &hits->items [i];
        const index_hit_t *v = bsearch (hit, sem->items, sem->count, sizeof *sem->items, index_by_rowid);
        if (v) {
            joined [v - sem->items] = true;
            hit->semantic_rank = v->semantic_rank;
            hit->cosine = v->cosine;
            if (!hit->protected)
                hit->score += ratio / (RRF_K + (double) v->semantic_rank);
        }
    }
    for (size_t i = 0; i < sem->count; i++) {
        if (joined [i])
            continue;
        //  A keyword match only counted (a bounded query) joins as a
        //  semantic hit: it is counted once.
        const index_hit_t *v = &sem->items [i];
        if (index_hits_in_rest (hits, v->rowid))
            hits->rest_joined++;
        index_hit_t fresh = *v;
        fresh.score = ratio / (RRF_K + (double) v->semantic_rank);
        if (index_hits_push (hits, &fresh))
            return -1;
    }
    return 0;
}

//  The semantic side of one hybrid query, offered to a thread of its own
//  while the query's thread runs the keyword side. Whichever of the two
//  threads claims it first runs it: the side thread when it starts in
//  time, else the query's thread once its keyword side is done (a thread
//  not yet given a core by then would only add its wait to the query's).
//  Shared by both threads, freed by the last to let go of it; the side
//  thread is detached and touches nothing else unless it claimed the
//  work, while the query's thread waits for it to finish.
typedef struct {
    search_index_t *self;
    const char *q;
    const index_filter_t *f;
    index_hits_t *sem;
    uint64_t asked;            //  when the thread was asked for (index_clock_ns)
    atomic_bool claimed;       //  the work is taken (by the side thread or the query's)
    atomic_int holders;        //  threads holding this (2 once the side thread runs)
    pthread_mutex_t lock;      //  guards done
    pthread_cond_t finished;   //  signalled when done is set
    bool done;                 //  the side thread has run the work
    int rc;
} s_side_t;

//  Let go of side; the last holder frees it.
static void
s_side_release (s_side_t *side)
{
    if (atomic_fetch_sub (&side->holders, 1) == 1) {
        pthread_cond_destroy (&side->finished);
        pthread_mutex_destroy (&side->lock);
        free (side);
    }
}

//  Thread body: s_semantic of a s_side_t, when the query's thread has not
//  claimed it first.
static void *
s_semantic_side (void *arg)
{
    s_side_t *side = arg;
    if (!atomic_exchange (&side->claimed, true)) {
        index_phase_add (side->self, PHASE_SIDE_START, side->asked, 1);
        side->rc = s_semantic (side->self, side->q, side->f, side->sem);
        pthread_mutex_lock (&side->lock);
        side->done = true;
        pthread_cond_signal (&side->finished);
        pthread_mutex_unlock (&side->lock);
    }
    s_side_release (side);
    return NULL;
}

//  A side of the query for q, f and sem, offered to a detached thread of
//  its own. NULL when no side or thread can be had (the query's thread
//  runs the semantic side itself).
static s_side_t *
s_side_start (search_index_t *self, const char *q, const index_filter_t *f, index_hits_t *sem)
{
    s_side_t *side = calloc (1, sizeof *side);
    if (!side)
        return NULL;
    *side = (s_side_t) { .self = self, .q = q, .f = f, .sem = sem, .asked = index_clock_ns () };
    atomic_init (&side->claimed, false);
    atomic_init (&side->holders, 2);
    if (pthread_mutex_init (&side->lock, NULL)) {
        free (side);
        return NULL;
    }
    if (pthread_cond_init (&side->finished, NULL)) {
        pthread_mutex_destroy (&side->lock);
        free (side);
        return NULL;
    }
    pthread_attr_t attr;
    pthread_t thread;
    bool started = pthread_attr_init (&attr) == 0;
    if (started) {
        started = pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED) == 0
               && pthread_create (&thread, &attr, s_semantic_side, side) == 0;
        pthread_attr_destroy (&attr);
    }
    if (!started) {
        pthread_cond_destroy (&side->finished);
        pthread_mutex_destroy (&side->lock);
        free (side);
        return NULL;
    }
    return side;
}

//  The semantic side's answer into sem once the keyword side is done: run
//  here when the side thread has not claimed it yet, else wait for that
//  thread to finish it. 0 or -1; side is let go of.
static int
s_side_finish (s_side_t *side)
{
    int rc;
    if (!atomic_exchange (&side->claimed, true))
        rc = s_semantic (side->self, side->q, side->f, side->sem);
    else {
        pthread_mutex_lock (&side->lock);
        while (!side->done)
            pthread_cond_wait (&side->finished, &side->lock);
        pthread_mutex_unlock (&side->lock);
        rc = side->rc;
    }
    s_side_release (side);
    return rc;
}

//  search_index_query on this thread's lane.
static int
s_query (search_index_t *self, const search_query_t *query, mg_search_reply_t *rep, char *err, size_t errlen)
{
    if (query->type && strcmp (query->type, "person") == 0)
        return index_people_query (self, query, rep, err, errlen);
    index_plan_t plan;
    int n = index_plan (self, query->q, "", false, &plan);
    if (n < 0) {
        snprintf (err, errlen, "the query could not be planned");
        return -1;
    }
    index_filter_t *filter = malloc (sizeof *filter);
    if (!filter) {
        index_plan_clear (&plan);
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    index_filter_init (self, query, filter);
    atomic_store (&self->scored, 0);
    index_hits_t hits = { 0 }, sem = { 0 };
    int rc = 0;
    double ratio = query->mode == SEARCH_MODE_KEYWORD || !self->lsa ? 0
                 : query->mode == SEARCH_MODE_SEMANTIC ? 1 : query->semantic_ratio;
    if (n == 0)
        rc = index_placeholder (self, filter, &hits);
    //  Hybrid: the vector side (embedding, graph or list walk) runs on its
    //  own thread while this one runs the keyword side; they share only
    //  what neither writes (the doc table, the filter). Here, after the
    //  keyword side, when its thread has not started by then or none can
    //  be had.
    s_side_t *side = n > 0 && ratio > 0 && ratio < 1 && !self->sides_inline
                   ? s_side_start (self, query->q, filter, &sem) : NULL;
    bool beside = side != NULL;
    //  Bounded keyword work (KEYWORD_TOP) serves relevance pages among the
    //  reranked best; other sorts, facets and deep pages see every match.
    bool bounded = query->sort == SEARCH_SORT_RELEVANCE && !query->facets
                && query->offset + query->per_page <= RERANK_MAX;
    if (n > 0 && ratio < 1) {
        rc = index_keyword (self, &plan, filter, bounded, &hits);
        if (rc == 0 && plan.unknown && index_best_title (&hits) < TITLE_TYPED)
            rc = index_second_pass (self, query->q, filter, bounded, &plan, &hits);
    }
    if (beside) {
        uint64_t since = index_clock_ns ();
        int side_rc = s_side_finish (side);
        index_phase_add (self, PHASE_SEMANTIC, since, sem.count);      //  its time past the keyword side
        rc = rc ? rc : side_rc;
    }
    uint64_t fused = 0;        //  when the fusion began, 0: none
    if (rc == 0 && n > 0 && ratio > 0) {
        if (!beside) {
            uint64_t since = index_clock_ns ();
            rc = s_semantic (self, query->q, filter, &sem);
            index_phase_add (self, PHASE_SEMANTIC, since, sem.count);
        }
        if (rc == 0 && ratio < 1) {
            fused = index_clock_ns ();
            index_hits_sort (&hits, index_by_score);
            rc = s_fuse (&hits, &sem, ratio, n > LONG_QUERY_WORDS);
        }
        else
        if (rc == 0) {
            index_hits_free (&hits);
            hits = sem;
            sem = (index_hits_t) { 0 };
        }
    }
    //  Only the page's hits need their order (facets and total count the
    //  others in any order).
    size_t first = query->offset < hits.count ? (size_t) query->offset : hits.count;
    size_t count = hits.count - first < query->per_page ? hits.count - first : (size_t) query->per_page;
    if (rc == 0)
        index_hits_top (&hits, first + count,
                        query->sort == SEARCH_SORT_RELEVANCE ? index_by_score
                      : query->sort == SEARCH_SORT_POPULARITY ? s_by_popularity
                      : query->sort == SEARCH_SORT_RATING ? s_by_rating : s_by_release);
    if (fused)
        index_phase_add (self, PHASE_FUSE, fused, hits.count);
    if (rc == 0 && query->facets) {
        rep->facets = calloc (1, sizeof *rep->facets);
        rc = rep->facets ? index_facets (self, query, &hits, rep->facets) : -1;
    }
    size_t total = index_hits_total (&hits);
    rep->total = total < SEARCH_TOTAL_MAX && !hits.rest_more ? total : SEARCH_TOTAL_MAX;
    rep->has_total = true;
    rep->total_exact = total <= SEARCH_TOTAL_MAX && !hits.rest_more;
    rep->has_total_exact = true;
    if (rc == 0 && count) {
        uint64_t since = index_clock_ns ();
        rep->results = calloc (count, sizeof *rep->results);
        rc = rep->results ? 0 : -1;
        char now [32];
        index_now_text (now);
        for (size_t i = 0; rc == 0 && i < count; i++) {
            rc = index_fill_hit (self, &hits.items [first + i], query, &plan, now, &rep->results [i], err, errlen);
            if (rc == 0)
                rep->results_count++;
        }
        index_phase_add (self, PHASE_ITEMS, since, count);
    }
    if (rc && !*err)
        index_fail (self, err, errlen, "search failed");
    index_hits_free (&hits);
    index_hits_free (&sem);
    free (filter);
    index_plan_clear (&plan);
    return rc;
}

int
search_index_query (search_index_t *self, const search_query_t *query,
                    mg_search_reply_t *rep, char *err, size_t errlen)
{
    assert (self && query && rep);
    index_lane_enter (self);
    int rc = s_query (self, query, rep, err, errlen);
    index_lane_leave (self);
    return rc;
}

//  Genre overlap of two titles: |a ∩ b| / |a ∪ b|, 0 when neither has one.
static double
s_genre_overlap (uint64_t a, uint64_t b)
{
    int all = __builtin_popcountll (a | b);
    return all ? (double) __builtin_popcountll (a & b) / all : 0;
}

//  search_index_similar on this thread's lane.
static int
s_similar (search_index_t *self, const char *id, const search_query_t *query, mg_similar_reply_t *rep,
           char *err, size_t errlen)
{
    int64_t rowid = index_rowid (self, id);
    if (rowid < 0)
        return index_fail (self, err, errlen, "cannot look the title up");
    if (rowid == 0 || (size_t) rowid >= self->docs_room || !self->docs [rowid].live)
        return 1;
    const index_doc_t *doc = &self->docs [rowid];
    index_filter_t *filter = malloc (sizeof *filter);
    index_hit_t *top = malloc (SIMILAR_TOP * sizeof *top);
    int rc = filter && top ? 0 : -1;
    int count = 0;
    if (rc == 0 && self->hnsw && doc->slot > 0) {
        index_filter_init (self, query, filter);
        s_vec_keep_t keep = { .self = self, .f = filter, .skip = rowid };
        //  The title's vector as the index keeps it (decoded from 8 bits
        //  for the compressed kinds), so its own score is the best.
        float *qv = malloc (self->dims * sizeof *qv);
        count = qv && search_hnsw_vector (self->hnsw, doc->slot - 1, qv)
              ? s_nearest (self, qv, &keep, SIMILAR_TOP, 0, top) : -1;
        free (qv);
        rc = count < 0 ? -1 : 0;
    }
    for (int i = 0; rc == 0 && i < count; i++)
        top [i].score = top [i].cosine
                      + SIMILAR_GENRE_WEIGHT * s_genre_overlap (doc->genres, self->docs [top [i].rowid].genres);
    index_hits_t hits = { .items = top, .count = rc == 0 ? (size_t) count : 0, .room = SIMILAR_TOP };
    if (rc == 0)
        index_hits_sort (&hits, index_by_score);
    rep->total = hits.count;
    rep->has_total = true;
    size_t first = query->offset < hits.count ? (size_t) query->offset : hits.count;
    size_t n = hits.count - first < query->per_page ? hits.count - first : (size_t) query->per_page;
    if (rc == 0 && n) {
        rep->results = calloc (n, sizeof *rep->results);
        rc = rep->results ? 0 : -1;
        char now [32];
        index_now_text (now);
        index_plan_t plan = { 0 };
        for (size_t i = 0; rc == 0 && i < n; i++) {
            rc = index_fill_hit (self, &hits.items [first + i], query, &plan, now, &rep->results [i], err, errlen);
            if (rc == 0)
                rep->results_count++;
        }
    }
    if (rc && !*err)
        snprintf (err, errlen, "similar titles failed");
    free (filter);
    free (top);
    return rc;
}

int
search_index_similar (search_index_t *self, const char *id, const search_query_t *query,
                      mg_similar_reply_t *rep, char *err, size_t errlen)
{
    assert (self && id && query && rep);
    index_lane_enter (self);
    int rc = s_similar (self, id, query, rep, err, errlen);
    index_lane_leave (self);
    return rc;
}
