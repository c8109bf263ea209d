//  The vector index shim (see hnsw.h): FAISS indexes built in batches from
//  staged vectors, an IDSelector that asks the owner's callback which slots
//  count, and persistence with a key line in front of FAISS's own format.
//  The "hnsw" kind's graph walk is here, the "ivf-sq8" kind's scan of its
//  lists in hnsw_ivf.cc.
#include "hnsw.h"
#include "hnsw_ivf.h"

extern "C" {
#include "mg_config.h"
}

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/Heap.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>
#if defined (__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <unistd.h>
#include <string>
#include <vector>

typedef faiss::Index::idx_t idx_t;   //  1.7.3 has no faiss::idx_t

//  Vectors staged before the first build: one parallel pass over a batch
//  this size (or the whole snapshot at the seal) instead of one add each;
//  at 768 dims 64k floats vectors are 192 MiB, a bounded transient.
#define BUILD_AT        65536
//  Vectors staged between later batch adds (the follower adds one title
//  at a time; a search flushes them first).
#define CHUNK           4096
//  Training points per k-means list (FAISS warns below 39).
#define POINTS_PER_LIST 39
//  Inner products the graph walk computes side by side (s_inner_batch):
//  two SSE2 registers of four sums, enough independent adds in flight to
//  hide an add's latency (3-4 cycles) behind the next sum's.
#define BATCH           8
//  Most links of a node (level 0 holds 2 M of them; HNSW_M is 32).
#define LINKS_MAX       512

typedef enum { KIND_HNSW, KIND_HNSW_SQ8, KIND_IVF_SQ8 } s_kind_t;

static const char *const s_kind_names [] = { "hnsw", "hnsw-sq8", "ivf-sq8" };

struct search_hnsw_t {
    s_kind_t kind;
    uint32_t dims;
    int m, ef_construction;
    int threads;                //  build threads (MG_SEARCH_BUILD_THREADS)
    size_t lists_max, probes;   //  ivf-sq8: most k-means lists, lists probed per query
    faiss::Index *index;        //  NULL until the first build
    std::vector<float> staged;  //  vectors added since, slots from index->ntotal on
};

namespace {

//  The owner's keep callback as a FAISS selector; offset maps the index's
//  ids to slots (always 0: staged vectors are scanned apart).
struct s_keep_selector : faiss::IDSelector {
    search_hnsw_keep_fn keep;
    void *arg;
    s_keep_selector (search_hnsw_keep_fn k, void *a) : keep (k), arg (a) {}
    bool is_member (idx_t id) const override { return keep (arg, (int64_t) id); }
};

//  The inner products of query with the n (<= BATCH) vectors of base
//  (dims floats each) at rows into out. Each is summed as FAISS's generic
//  fvec_inner_product (Debian's libfaiss is built for the baseline x86-64:
//  no AVX, so fvec_inner_product_ref) sums it: one float product added to
//  one float sum, first dimension first, no fused multiply-add; so each
//  value is that function's, bit for bit. What differs is that the n sums
//  advance together (a lane of an SSE2 register each): one sum's adds wait
//  on each other, several sums' do not, and a walk's inner products were
//  most of a semantic query's time one after another.
void
s_inner_batch (const float *query, const float *base, size_t dims, const idx_t *rows, int n, float *out)
{
    assert (n > 0 && n <= BATCH);
    const float *v [BATCH];
    for (int b = 0; b < BATCH; b++)
        v [b] = base + (size_t) rows [b < n ? b : 0] * dims;
    size_t i = 0;
#if defined (__SSE2__)
    __m128 low = _mm_setzero_ps (), high = _mm_setzero_ps ();
    for (; i + 4 <= dims; i += 4) {
        __m128 a0 = _mm_loadu_ps (v [0] + i), a1 = _mm_loadu_ps (v [1] + i),
               a2 = _mm_loadu_ps (v [2] + i), a3 = _mm_loadu_ps (v [3] + i);
        __m128 b0 = _mm_loadu_ps (v [4] + i), b1 = _mm_loadu_ps (v [5] + i),
               b2 = _mm_loadu_ps (v [6] + i), b3 = _mm_loadu_ps (v [7] + i);
        //  Now a0 holds dimension i of vectors 0-3, a1 dimension i + 1, ...
        _MM_TRANSPOSE4_PS (a0, a1, a2, a3);
        _MM_TRANSPOSE4_PS (b0, b1, b2, b3);
        __m128 q0 = _mm_set1_ps (query [i]), q1 = _mm_set1_ps (query [i + 1]),
               q2 = _mm_set1_ps (query [i + 2]), q3 = _mm_set1_ps (query [i + 3]);
        low = _mm_add_ps (low, _mm_mul_ps (q0, a0));
        high = _mm_add_ps (high, _mm_mul_ps (q0, b0));
        low = _mm_add_ps (low, _mm_mul_ps (q1, a1));
        high = _mm_add_ps (high, _mm_mul_ps (q1, b1));
        low = _mm_add_ps (low, _mm_mul_ps (q2, a2));
        high = _mm_add_ps (high, _mm_mul_ps (q2, b2));
        low = _mm_add_ps (low, _mm_mul_ps (q3, a3));
        high = _mm_add_ps (high, _mm_mul_ps (q3, b3));
    }
    float sums [BATCH];
    _mm_storeu_ps (sums, low);
    _mm_storeu_ps (sums + 4, high);
#else
    float sums [BATCH] = { 0 };
#endif
    for (; i < dims; i++)
        for (int b = 0; b < BATCH; b++) {
            float product = query [i] * v [b][i];
            sums [b] = sums [b] + product;
        }
    for (int b = 0; b < n; b++)
        out [b] = sums [b];
}

//  FAISS's distances of an inner-product HNSW (the negated inner product:
//  smaller is nearer) of query with the count vectors of base at rows.
void
s_distances (const float *query, const float *base, size_t dims, const idx_t *rows, int count, float *out)
{
    for (int at = 0; at < count; at += BATCH) {
        int n = count - at < BATCH ? count - at : BATCH;
        s_inner_batch (query, base, dims, rows + at, n, out + at);
        for (int b = 0; b < n; b++)
            out [at + b] = -out [at + b];
    }
}

//  The unvisited links of node at level (marked visited now), in order,
//  into links; their count.
int
s_links (const faiss::HNSW &hnsw, faiss::VisitedTable &visited, int node, int level, bool skip_visited,
         idx_t *links)
{
    size_t begin, end;
    hnsw.neighbor_range (node, level, &begin, &end);
    int count = 0;
    for (size_t j = begin; j < end && count < LINKS_MAX; j++) {
        int link = hnsw.neighbors [j];
        if (link < 0)
            break;
        if (skip_visited) {
            if (visited.get (link))
                continue;
            visited.set (link);
        }
        links [count++] = link;
    }
    return count;
}

//  Put node at distance into the result heap (k, D, I; nres held) when
//  keep accepts it, as faiss::search_from_candidates does.
void
s_offer (int k, float *D, idx_t *I, int *nres, search_hnsw_keep_fn keep, void *arg, idx_t node, float distance)
{
    if (keep && !keep (arg, node))
        return;
    if (*nres < k)
        faiss::maxheap_push (++*nres, D, I, distance, node);
    else
    if (distance < D [0])
        faiss::maxheap_replace_top (*nres, D, I, distance, node);
}

//  True when s_walk walks index as its own search would: an HNSW graph
//  over float vectors ranked by inner product, searched as FAISS does by
//  default (greedy upper levels, a bounded queue on level 0).
bool
s_walkable (const faiss::IndexHNSWFlat *index)
{
    const faiss::IndexFlat *flat = dynamic_cast<const faiss::IndexFlat *> (index->storage);
    return flat && index->metric_type == faiss::METRIC_INNER_PRODUCT && flat->metric_type == faiss::METRIC_INNER_PRODUCT
        && index->hnsw.upper_beam == 1 && index->hnsw.search_bounded_queue && !index->reconstruct_from_neighbors
        && index->hnsw.nb_neighbors (0) <= LINKS_MAX;
}

//  FAISS 1.7.3's IndexHNSW::search of one query (HNSW::search: a greedy
//  descent of the upper levels, then search_from_candidates on level 0 with
//  efSearch and a bounded queue of max (hnsw.efSearch, k)), step for step:
//  the same nodes visited in the same order, the same distances (bit for
//  bit, s_inner_batch), the same heap operations, so the same k results
//  (slot, inner product) best first into I and D (-1: none). What differs
//  is that a node's unvisited links have their distances computed together
//  before they are offered and queued in order, not one at a time.
void
s_walk (const faiss::IndexHNSWFlat *index, const float *query, int k, int ef_search, search_hnsw_keep_fn keep,
        void *arg, idx_t *I, float *D)
{
    const faiss::HNSW &hnsw = index->hnsw;
    const float *base = dynamic_cast<const faiss::IndexFlat *> (index->storage)->get_xb ();
    size_t dims = (size_t) index->d;
    faiss::maxheap_heapify (k, D, I);
    if (hnsw.entry_point == -1)
        return;
    faiss::VisitedTable visited ((int) index->ntotal);
    idx_t links [LINKS_MAX];
    float distances [LINKS_MAX];
    //  Greedy descent: the nearest link of the nearest node, level by level.
    int nearest = hnsw.entry_point;
    idx_t entry = nearest;
    float d_nearest;
    s_distances (query, base, dims, &entry, 1, &d_nearest);
    for (int level = hnsw.max_level; level >= 1; level--)
        for (;;) {
            int previous = nearest;
            int count = s_links (hnsw, visited, nearest, level, false, links);
            s_distances (query, base, dims, links, count, distances);
            for (int j = 0; j < count; j++)
                if (distances [j] < d_nearest) {
                    nearest = (int) links [j];
                    d_nearest = distances [j];
                }
            if (nearest == previous)
                break;
        }
    //  Level 0: the best-first walk from the nearest node found.
    int ef = std::max (hnsw.efSearch, k);
    faiss::HNSW::MinimaxHeap candidates (ef);
    candidates.push (nearest, d_nearest);
    int nres = 0;
    for (int i = 0; i < candidates.size (); i++) {
        s_offer (k, D, I, &nres, keep, arg, candidates.ids [i], candidates.dis [i]);
        visited.set (candidates.ids [i]);
    }
    while (candidates.size () > 0) {
        float d0 = 0;
        int v0 = candidates.pop_min (&d0);
        //  FAISS's stopping rule (check_relative_distance): ef_search
        //  queued candidates nearer than this one.
        if (candidates.count_below (d0) >= ef_search)
            break;
        int count = s_links (hnsw, visited, v0, 0, true, links);
        s_distances (query, base, dims, links, count, distances);
        for (int j = 0; j < count; j++) {
            s_offer (k, D, I, &nres, keep, arg, links [j], distances [j]);
            candidates.push ((int) links [j], distances [j]);
        }
    }
    faiss::maxheap_reorder (k, D, I);
    for (int i = 0; i < k; i++)
        D [i] = -D [i];
}

//  Vectors held by the built index.
idx_t
s_built (const search_hnsw_t *self)
{
    return self->index ? self->index->ntotal : 0;
}

size_t
s_staged (const search_hnsw_t *self)
{
    return self->staged.size () / self->dims;
}

//  IVF kinds rank by L2 distance (k-means lists are L2 clusters); for unit
//  vectors the order is the inner product's: |q - x|^2 = |q|^2 + 1 - 2 q.x.
bool
s_is_l2 (s_kind_t kind)
{
    return kind == KIND_IVF_SQ8;
}

//  A new, untrained FAISS index of self's kind for n vectors.
faiss::Index *
s_create (search_hnsw_t *self, size_t n)
{
    if (self->kind == KIND_HNSW) {
        faiss::IndexHNSWFlat *hnsw = new faiss::IndexHNSWFlat ((int) self->dims, self->m, faiss::METRIC_INNER_PRODUCT);
        hnsw->hnsw.efConstruction = self->ef_construction;
        return hnsw;
    }
    if (self->kind == KIND_HNSW_SQ8) {
        faiss::IndexHNSWSQ *hnsw = new faiss::IndexHNSWSQ ((int) self->dims, faiss::ScalarQuantizer::QT_8bit,
                                                          self->m, faiss::METRIC_INNER_PRODUCT);
        hnsw->hnsw.efConstruction = self->ef_construction;
        return hnsw;
    }
    //  As many lists as the staged vectors train well, at most lists_max;
    //  from 1,024 lists on an HNSW graph assigns vectors to lists (a flat
    //  assignment of a million vectors to thousands of lists costs minutes).
    size_t lists = n / POINTS_PER_LIST;
    lists = lists < 1 ? 1 : lists > self->lists_max ? self->lists_max : lists;
    std::string spec = "IVF" + std::to_string (lists) + (lists >= 1024 ? "_HNSW32" : "") + ",SQ8";
    faiss::Index *index = faiss::index_factory ((int) self->dims, spec.c_str (), faiss::METRIC_L2);
    //  Ten k-means rounds, not 25: the lists only route a query to the
    //  part of the catalog worth scanning, and training is most of a
    //  build's time on a shared machine.
    faiss::IndexIVF *ivf = dynamic_cast<faiss::IndexIVF *> (index);
    if (ivf)
        ivf->cp.niter = 10;
    return index;
}

//  Add n vectors x to the index. An ivf-sq8 index of 1,024 lists or more
//  routes queries through an HNSW graph over its centroids, and FAISS's
//  add asks that graph for each vector's list too, with the distance
//  Debian's generic-x86-64 build of FAISS computes one float at a time
//  (fvec_L2sqr_ref): a quarter of a 50,000-title build's CPU, most of a
//  million's. The lists are found here by an exact scan of the centroids
//  instead (FAISS's flat search: blocks of BLAS matrix products), a
//  fraction of the time, and each vector lands in its nearest list rather
//  than the one the graph finds.
void
s_add (search_hnsw_t *self, size_t n, const float *x)
{
    faiss::IndexIVF *ivf = dynamic_cast<faiss::IndexIVF *> (self->index);
    faiss::IndexHNSW *graph = ivf ? dynamic_cast<faiss::IndexHNSW *> (ivf->quantizer) : nullptr;
    if (!graph || !graph->storage) {
        self->index->add ((idx_t) n, x);
        return;
    }
    std::vector<idx_t> lists (n);
    std::vector<float> distances (n);
    graph->storage->search ((idx_t) n, x, 1, distances.data (), lists.data ());
    ivf->add_core ((idx_t) n, x, nullptr, lists.data ());
}

//  Train index on n vectors x. FAISS's training of an ivf-sq8 index over a
//  graph of lists (see s_add) asks the graph for every training vector's
//  list too, to learn the 8-bit ranges of the residuals: the same exact
//  scan of the centroids (the graph's own flat storage, the same ids)
//  stands in for the graph during that step.
void
s_train (faiss::Index *index, size_t n, const float *x)
{
    faiss::IndexIVF *ivf = dynamic_cast<faiss::IndexIVF *> (index);
    faiss::IndexHNSW *graph = ivf ? dynamic_cast<faiss::IndexHNSW *> (ivf->quantizer) : nullptr;
    if (!graph || !graph->storage) {
        index->train ((idx_t) n, x);
        return;
    }
    ivf->train_q1 (n, x, false, ivf->metric_type);
    ivf->quantizer = graph->storage;
    try {
        ivf->train_residual ((idx_t) n, x);
    }
    catch (...) {
        ivf->quantizer = graph;
        throw;
    }
    ivf->quantizer = graph;
    ivf->is_trained = true;
}

//  Move the staged vectors into the index, building it first when there is
//  none (training on the staged vectors), on self->threads threads.
void
s_flush (search_hnsw_t *self)
{
    size_t n = s_staged (self);
    if (n == 0)
        return;
    omp_set_num_threads (self->threads);
    try {
        if (!self->index) {
            faiss::Index *index = s_create (self, n);
            try {
                if (!index->is_trained)
                    s_train (index, n, self->staged.data ());
            }
            catch (...) {
                delete index;
                throw;
            }
            self->index = index;
        }
        s_add (self, n, self->staged.data ());
        faiss::IndexIVF *ivf = dynamic_cast<faiss::IndexIVF *> (self->index);
        if (ivf && ivf->direct_map.type == faiss::DirectMap::NoMap)
            ivf->make_direct_map (true);
    }
    catch (...) {
        omp_set_num_threads (1);
        throw;
    }
    omp_set_num_threads (1);
    std::vector<float> ().swap (self->staged);
}

//  A new shim of kind around index (may be NULL), configured from the
//  environment.
search_hnsw_t *
s_new (s_kind_t kind, uint32_t dims, int m, int ef_construction)
{
    search_hnsw_t *self = new (std::nothrow) search_hnsw_t ();
    if (!self)
        return nullptr;
    self->kind = kind;
    self->dims = dims;
    self->m = m;
    self->ef_construction = ef_construction;
    //  Replicas share the machine: a build may take the cores it is given,
    //  a query one thread (one query's work does not split well).
    self->threads = (int) mg_config_int ("MG_SEARCH_BUILD_THREADS", 2, 1, 64);
    self->lists_max = (size_t) mg_config_int ("MG_SEARCH_IVF_LISTS", 4096, 1, 1 << 20);
    self->probes = (size_t) mg_config_int ("MG_SEARCH_IVF_PROBES", 64, 1, 1 << 20);
    self->index = nullptr;
    return self;
}

}

search_hnsw_t *
search_hnsw_new (uint32_t dims, int m, int ef_construction, char *err, size_t errlen)
{
    const char *name = mg_config_str ("MG_SEARCH_VECTOR_INDEX", "hnsw");
    int kind = -1;
    for (int i = 0; i < (int) (sizeof s_kind_names / sizeof s_kind_names [0]); i++)
        if (std::strcmp (name, s_kind_names [i]) == 0)
            kind = i;
    if (kind < 0 || dims == 0) {
        std::snprintf (err, errlen, "MG_SEARCH_VECTOR_INDEX must be hnsw, hnsw-sq8 or ivf-sq8, not \"%s\"", name);
        return nullptr;
    }
    if (!std::getenv ("OMP_NUM_THREADS"))
        omp_set_num_threads (1);
    search_hnsw_t *self = s_new ((s_kind_t) kind, dims, m, ef_construction);
    if (!self)
        std::snprintf (err, errlen, "out of memory");
    return self;
}

void
search_hnsw_destroy (search_hnsw_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        delete (*self_p)->index;
        delete *self_p;
        *self_p = nullptr;
    }
}

const char *
search_hnsw_kind (const search_hnsw_t *self)
{
    assert (self);
    return s_kind_names [self->kind];
}

int
search_hnsw_add (search_hnsw_t *self, const float *vectors, size_t count, char *err, size_t errlen)
{
    assert (self);
    try {
        self->staged.insert (self->staged.end (), vectors, vectors + count * self->dims);
        size_t limit = self->index ? CHUNK
                     : self->kind == KIND_IVF_SQ8 && self->lists_max * POINTS_PER_LIST > BUILD_AT
                     ? self->lists_max * POINTS_PER_LIST : BUILD_AT;
        if (s_staged (self) >= limit)
            s_flush (self);
    }
    catch (const std::exception &e) {
        std::snprintf (err, errlen, "cannot add to the vector index: %s", e.what ());
        return -1;
    }
    return 0;
}

int
search_hnsw_seal (search_hnsw_t *self, char *err, size_t errlen)
{
    assert (self);
    try {
        s_flush (self);
    }
    catch (const std::exception &e) {
        std::snprintf (err, errlen, "cannot build the vector index: %s", e.what ());
        return -1;
    }
    return 0;
}

size_t
search_hnsw_count (const search_hnsw_t *self)
{
    assert (self);
    return (size_t) s_built (self) + s_staged (self);
}

bool
search_hnsw_vector (search_hnsw_t *self, int64_t slot, float *out)
{
    assert (self && out);
    if (slot < 0 || (size_t) slot >= search_hnsw_count (self))
        return false;
    if (slot >= s_built (self)) {
        const float *v = self->staged.data () + (size_t) (slot - s_built (self)) * self->dims;
        std::memcpy (out, v, self->dims * sizeof *out);
        return true;
    }
    try {
        self->index->reconstruct ((idx_t) slot, out);
    }
    catch (const std::exception &) {
        return false;
    }
    return true;
}

//  search_hnsw_search, by s_walk where it walks the index as FAISS does
//  when walk, else (or when not walk) by FAISS's own search.
static int
s_search (search_hnsw_t *self, const float *query, size_t k, int ef, size_t probes, search_hnsw_keep_fn keep,
          void *arg, int64_t *slots, float *scores, bool walk, char *err, size_t errlen)
{
    assert (self && query && slots && scores);
    if (k == 0 || search_hnsw_count (self) == 0)
        return 0;
    //  Before the first build (a small catalog, or a load not yet sealed)
    //  the staged vectors are scanned exactly.
    if (!self->index) {
        int found = 0;
        for (size_t i = 0; i < s_staged (self); i++) {
            if (keep && !keep (arg, (int64_t) i))
                continue;
            const float *v = self->staged.data () + i * self->dims;
            float dot = 0;
            for (uint32_t d = 0; d < self->dims; d++)
                dot += query [d] * v [d];
            if ((size_t) found == k && dot <= scores [found - 1])
                continue;
            int at = (size_t) found < k ? found++ : found - 1;
            while (at > 0 && scores [at - 1] < dot) {
                scores [at] = scores [at - 1];
                slots [at] = slots [at - 1];
                at--;
            }
            scores [at] = dot;
            slots [at] = (int64_t) i;
        }
        return found;
    }
    std::vector<idx_t> labels (k);
    std::vector<float> distances (k);
    try {
        s_flush (self);
        omp_set_num_threads (1);
        s_keep_selector selector (keep, arg);
        faiss::SearchParametersHNSW graph;
        graph.efSearch = ef < (int) k ? (int) k : ef;
        faiss::SearchParametersIVF lists;
        lists.nprobe = probes ? probes : self->probes;
        faiss::SearchParameters *params = &graph;
        if (self->kind == KIND_IVF_SQ8)
            params = &lists;
        params->sel = keep ? &selector : nullptr;
        const faiss::IndexHNSWFlat *graph_index = self->kind == KIND_HNSW && walk
                                                ? dynamic_cast<const faiss::IndexHNSWFlat *> (self->index) : nullptr;
        const faiss::IndexIVFScalarQuantizer *ivf_index = self->kind == KIND_IVF_SQ8 && walk
            ? dynamic_cast<const faiss::IndexIVFScalarQuantizer *> (self->index) : nullptr;
        if (graph_index && s_walkable (graph_index))
            s_walk (graph_index, query, (int) k, graph.efSearch, keep, arg, labels.data (), distances.data ());
        else
        if (ivf_index && search_ivf_scannable (ivf_index))
            search_ivf_scan (ivf_index, query, (int) k, lists.nprobe, keep, arg, labels.data (), distances.data ());
        else
            self->index->search (1, query, (idx_t) k, distances.data (), labels.data (), params);
    }
    catch (const std::exception &e) {
        std::snprintf (err, errlen, "vector search failed: %s", e.what ());
        return -1;
    }
    float norm = 0;
    for (uint32_t d = 0; d < self->dims; d++)
        norm += query [d] * query [d];
    int found = 0;
    for (size_t i = 0; i < k; i++)
        if (labels [i] >= 0) {
            slots [found] = (int64_t) labels [i];
            scores [found++] = s_is_l2 (self->kind) ? (norm + 1 - distances [i]) / 2 : distances [i];
        }
    return found;
}

int
search_hnsw_search (search_hnsw_t *self, const float *query, size_t k, int ef,
                    search_hnsw_keep_fn keep, void *arg, int64_t *slots, float *scores,
                    char *err, size_t errlen)
{
    return s_search (self, query, k, ef, 0, keep, arg, slots, scores, true, err, errlen);
}

int
search_hnsw_search_wide (search_hnsw_t *self, const float *query, size_t k, int ef, size_t probes,
                         search_hnsw_keep_fn keep, void *arg, int64_t *slots, float *scores,
                         char *err, size_t errlen)
{
    return s_search (self, query, k, ef, probes, keep, arg, slots, scores, true, err, errlen);
}

size_t
search_hnsw_lists (const search_hnsw_t *self)
{
    assert (self);
    const faiss::IndexIVF *ivf = self->kind == KIND_IVF_SQ8 ? dynamic_cast<const faiss::IndexIVF *> (self->index)
                                                          : nullptr;
    return ivf ? ivf->nlist : 0;
}

size_t
search_hnsw_probes (const search_hnsw_t *self)
{
    assert (self);
    return self->kind == KIND_IVF_SQ8 ? self->probes : 0;
}

int
search_hnsw_search_faiss (search_hnsw_t *self, const float *query, size_t k, int ef,
                          search_hnsw_keep_fn keep, void *arg, int64_t *slots, float *scores,
                          char *err, size_t errlen)
{
    return s_search (self, query, k, ef, 0, keep, arg, slots, scores, false, err, errlen);
}

//  The first line of a saved index: a format tag, then the key.
#define SAVE_MAGIC "mg-vectors 1 "

int
search_hnsw_save (search_hnsw_t *self, const char *path, const char *key, char *err, size_t errlen)
{
    assert (self && path && key);
    if (std::strchr (key, '\n')) {
        std::snprintf (err, errlen, "the key must be one line");
        return -1;
    }
    if (search_hnsw_seal (self, err, errlen))
        return -1;
    if (!self->index) {
        std::snprintf (err, errlen, "the vector index is empty");
        return -1;
    }
    //  Replicas sharing a file each write their own temporary one.
    std::string tmp = std::string (path) + "." + std::to_string ((long) getpid ()) + ".tmp";
    FILE *file = std::fopen (tmp.c_str (), "wb");
    if (!file) {
        std::snprintf (err, errlen, "cannot write %s: %s", tmp.c_str (), std::strerror (errno));
        return -1;
    }
    bool ok = std::fprintf (file, "%s%s\n", SAVE_MAGIC, key) > 0;
    bool reported = false;
    try {
        if (ok)
            faiss::write_index (self->index, file);
    }
    catch (const std::exception &e) {
        std::snprintf (err, errlen, "cannot write the vector index: %s", e.what ());
        ok = false;
        reported = true;
    }
    ok = std::fflush (file) == 0 && ok;
    ok = std::fclose (file) == 0 && ok;
    ok = ok && std::rename (tmp.c_str (), path) == 0;
    if (!ok) {
        if (!reported)
            std::snprintf (err, errlen, "cannot write %s: %s", path, std::strerror (errno));
        std::remove (tmp.c_str ());
        return -1;
    }
    return 0;
}

int
search_hnsw_load (const char *path, const char *key, uint32_t dims, search_hnsw_t **self_p,
                  char *err, size_t errlen)
{
    assert (path && key && self_p);
    *self_p = nullptr;
    FILE *file = std::fopen (path, "rb");
    if (!file) {
        if (errno == ENOENT)
            return 1;
        std::snprintf (err, errlen, "cannot read %s: %s", path, std::strerror (errno));
        return -1;
    }
    std::string want = std::string (SAVE_MAGIC) + key + "\n";
    std::vector<char> line (want.size () + 2);
    if (!std::fgets (line.data (), (int) line.size (), file) || want != line.data ()) {
        std::fclose (file);
        return 1;
    }
    faiss::Index *index = nullptr;
    try {
        index = faiss::read_index (file);
    }
    catch (const std::exception &e) {
        std::snprintf (err, errlen, "cannot read the vector index in %s: %s", path, e.what ());
        std::fclose (file);
        return -1;
    }
    std::fclose (file);
    s_kind_t kind = dynamic_cast<faiss::IndexHNSWFlat *> (index) ? KIND_HNSW
                  : dynamic_cast<faiss::IndexHNSWSQ *> (index) ? KIND_HNSW_SQ8 : KIND_IVF_SQ8;
    faiss::IndexIVF *ivf = dynamic_cast<faiss::IndexIVF *> (index);
    if ((uint32_t) index->d != dims || (kind == KIND_IVF_SQ8 && !ivf)) {
        delete index;
        return 1;
    }
    search_hnsw_t *self = s_new (kind, dims, 0, 0);
    if (!self) {
        delete index;
        std::snprintf (err, errlen, "out of memory");
        return -1;
    }
    try {
        if (ivf && ivf->direct_map.type == faiss::DirectMap::NoMap)
            ivf->make_direct_map (true);
    }
    catch (const std::exception &e) {
        std::snprintf (err, errlen, "cannot map the vector index in %s: %s", path, e.what ());
        delete index;
        delete self;
        return -1;
    }
    self->index = index;
    *self_p = self;
    return 0;
}
