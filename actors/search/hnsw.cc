//  The FAISS HNSW shim (see hnsw.h): IndexHNSWFlat, inner product, and an
//  IDSelector that asks the owner's callback which slots count.
#include "hnsw.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/IDSelector.h>
#include <omp.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

typedef faiss::Index::idx_t idx_t;   //  1.7.3 has no faiss::idx_t

struct search_hnsw_t {
    faiss::IndexHNSWFlat *index;
};

namespace {

//  The owner's keep callback as a FAISS selector.
struct s_keep_selector : faiss::IDSelector {
    search_hnsw_keep_fn keep;
    void *arg;
    s_keep_selector (search_hnsw_keep_fn k, void *a) : keep (k), arg (a) {}
    bool is_member (idx_t id) const override { return keep (arg, (int64_t) id); }
};

}

search_hnsw_t *
search_hnsw_new (uint32_t dims, int m, int ef_construction, char *err, size_t errlen)
{
    //  OpenMP would spread an add over every core: replicas share the
    //  machine, so one thread each unless OMP_NUM_THREADS says otherwise.
    if (!std::getenv ("OMP_NUM_THREADS"))
        omp_set_num_threads (1);
    search_hnsw_t *self = new (std::nothrow) search_hnsw_t ();
    if (!self) {
        std::snprintf (err, errlen, "out of memory");
        return nullptr;
    }
    try {
        self->index = new faiss::IndexHNSWFlat ((idx_t) dims, m, faiss::METRIC_INNER_PRODUCT);
        self->index->hnsw.efConstruction = ef_construction;
    }
    catch (const std::exception &e) {
        std::snprintf (err, errlen, "cannot create the HNSW index: %s", e.what ());
        delete self;
        return nullptr;
    }
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

int
search_hnsw_add (search_hnsw_t *self, const float *vectors, size_t count, char *err, size_t errlen)
{
    assert (self);
    try {
        self->index->add ((idx_t) count, vectors);
    }
    catch (const std::exception &e) {
        std::snprintf (err, errlen, "cannot add to the HNSW index: %s", e.what ());
        return -1;
    }
    return 0;
}

size_t
search_hnsw_count (const search_hnsw_t *self)
{
    assert (self);
    return (size_t) self->index->ntotal;
}

const float *
search_hnsw_vector (const search_hnsw_t *self, int64_t slot)
{
    assert (self);
    if (slot < 0 || slot >= self->index->ntotal)
        return nullptr;
    //  IndexHNSWFlat keeps the vectors as they were added in an IndexFlat.
    const faiss::IndexFlat *flat = dynamic_cast<const faiss::IndexFlat *> (self->index->storage);
    return flat ? flat->get_xb () + (size_t) slot * (size_t) self->index->d : nullptr;
}

int
search_hnsw_search (search_hnsw_t *self, const float *query, size_t k, int ef,
                    search_hnsw_keep_fn keep, void *arg, int64_t *slots, float *scores,
                    char *err, size_t errlen)
{
    assert (self && query && slots && scores);
    if (k == 0 || self->index->ntotal == 0)
        return 0;
    s_keep_selector selector (keep, arg);
    faiss::SearchParametersHNSW params;
    params.efSearch = ef < (int) k ? (int) k : ef;
    params.sel = keep ? &selector : nullptr;
    std::vector<idx_t> labels (k);
    std::vector<float> distances (k);
    try {
        self->index->search (1, query, (idx_t) k, distances.data (), labels.data (), &params);
    }
    catch (const std::exception &e) {
        std::snprintf (err, errlen, "HNSW search failed: %s", e.what ());
        return -1;
    }
    int found = 0;
    for (size_t i = 0; i < k; i++)
        if (labels [i] >= 0) {
            slots [found] = (int64_t) labels [i];
            scores [found++] = distances [i];
        }
    return found;
}
