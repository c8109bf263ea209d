//  The vector index shim (see hnsw.h): FAISS indexes built in batches from
//  staged vectors, an IDSelector that asks the owner's callback which slots
//  count, and persistence with a key line in front of FAISS's own format.
#include "hnsw.h"

extern "C" {
#include "mg_config.h"
}

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>

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
                    index->train ((idx_t) n, self->staged.data ());
            }
            catch (...) {
                delete index;
                throw;
            }
            self->index = index;
        }
        self->index->add ((idx_t) n, self->staged.data ());
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

int
search_hnsw_search (search_hnsw_t *self, const float *query, size_t k, int ef,
                    search_hnsw_keep_fn keep, void *arg, int64_t *slots, float *scores,
                    char *err, size_t errlen)
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
        lists.nprobe = self->probes;
        faiss::SearchParameters *params = &graph;
        if (self->kind == KIND_IVF_SQ8)
            params = &lists;
        params->sel = keep ? &selector : nullptr;
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
