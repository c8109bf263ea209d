//  The "ivf-sq8" kind's search of its lists (hnsw_ivf.h).
#include "hnsw_ivf.h"

#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/utils/Heap.h>
#if defined (__SSE2__)
#include <emmintrin.h>
#endif

#include <cstddef>
#include <cstdint>
#include <vector>

typedef faiss::Index::idx_t idx_t;

bool
search_ivf_scannable (const faiss::IndexIVFScalarQuantizer *index)
{
    return index && index->by_residual && index->metric_type == faiss::METRIC_L2
        && index->sq.qtype == faiss::ScalarQuantizer::QT_8bit && index->sq.trained.size () == 2 * (size_t) index->d
        && index->code_size == (size_t) index->d;
}

namespace {

//  The squared L2 distance of a - code x b over dims: a is the query's
//  residual less each dimension's decoding offset, b each dimension's step.
//  Four float sums advance side by side (SSE2: 16 codes a step).
float
s_sq8_l2 (const float *a, const float *b, const uint8_t *code, size_t dims)
{
    size_t i = 0;
    float sum = 0;
#if defined (__SSE2__)
    __m128 acc0 = _mm_setzero_ps (), acc1 = _mm_setzero_ps ();
    const __m128i zero = _mm_setzero_si128 ();
    for (; i + 16 <= dims; i += 16) {
        __m128i bytes = _mm_loadu_si128 ((const __m128i *) (code + i));
        __m128i low = _mm_unpacklo_epi8 (bytes, zero), high = _mm_unpackhi_epi8 (bytes, zero);
        __m128 c0 = _mm_cvtepi32_ps (_mm_unpacklo_epi16 (low, zero)), c1 = _mm_cvtepi32_ps (_mm_unpackhi_epi16 (low, zero)),
               c2 = _mm_cvtepi32_ps (_mm_unpacklo_epi16 (high, zero)), c3 = _mm_cvtepi32_ps (_mm_unpackhi_epi16 (high, zero));
        __m128 d0 = _mm_sub_ps (_mm_loadu_ps (a + i), _mm_mul_ps (c0, _mm_loadu_ps (b + i))),
               d1 = _mm_sub_ps (_mm_loadu_ps (a + i + 4), _mm_mul_ps (c1, _mm_loadu_ps (b + i + 4))),
               d2 = _mm_sub_ps (_mm_loadu_ps (a + i + 8), _mm_mul_ps (c2, _mm_loadu_ps (b + i + 8))),
               d3 = _mm_sub_ps (_mm_loadu_ps (a + i + 12), _mm_mul_ps (c3, _mm_loadu_ps (b + i + 12)));
        acc0 = _mm_add_ps (acc0, _mm_add_ps (_mm_mul_ps (d0, d0), _mm_mul_ps (d1, d1)));
        acc1 = _mm_add_ps (acc1, _mm_add_ps (_mm_mul_ps (d2, d2), _mm_mul_ps (d3, d3)));
    }
    float lanes [4];
    _mm_storeu_ps (lanes, _mm_add_ps (acc0, acc1));
    sum = (lanes [0] + lanes [1]) + (lanes [2] + lanes [3]);
#endif
    for (; i < dims; i++) {
        float diff = a [i] - (float) code [i] * b [i];
        sum += diff * diff;
    }
    return sum;
}

}

void
search_ivf_scan (const faiss::IndexIVFScalarQuantizer *index, const float *query, int k, size_t probes,
        search_hnsw_keep_fn keep, void *arg, idx_t *I, float *D)
{
    size_t dims = (size_t) index->d;
    probes = probes < index->nlist ? probes : index->nlist;
    std::vector<idx_t> lists (probes);
    std::vector<float> coarse (probes), centroid (dims), a (dims), b (dims), offset (dims);
    index->quantizer->search (1, query, (idx_t) probes, coarse.data (), lists.data ());
    const float *vmin = index->sq.trained.data (), *vdiff = vmin + dims;
    //  A code c decodes to vmin + (c + 0.5) / 255 x vdiff (ScalarQuantizer's
    //  8-bit codec, a range per dimension).
    for (size_t i = 0; i < dims; i++) {
        b [i] = vdiff [i] / 255.0f;
        offset [i] = vmin [i] + 0.5f * b [i];
    }
    faiss::maxheap_heapify (k, D, I);
    int filled = 0;             //  results held
    size_t asked = 0, passed = 0;   //  the filter's answers
    for (size_t p = 0; p < probes; p++) {
        if (lists [p] < 0)
            continue;
        size_t size = index->invlists->list_size ((size_t) lists [p]);
        if (size == 0)
            continue;
        index->quantizer->reconstruct (lists [p], centroid.data ());
        for (size_t i = 0; i < dims; i++)
            a [i] = query [i] - centroid [i] - offset [i];
        faiss::InvertedLists::ScopedCodes codes (index->invlists, (size_t) lists [p]);
        faiss::InvertedLists::ScopedIds ids (index->invlists, (size_t) lists [p]);
        for (size_t j = 0; j < size; j++) {
            //  The filter first until k results are held, and while it
            //  refuses most of what it is asked (a distance costs more
            //  than a refusal); else only for a vector that would enter.
            bool first = keep && (filled < k || 2 * passed < asked);
            if (first) {
                asked++;
                if (!keep (arg, (int64_t) ids [j]))
                    continue;
                passed++;
            }
            float distance = s_sq8_l2 (a.data (), b.data (), codes.get () + j * index->code_size, dims);
            if (filled < k) {
                faiss::maxheap_replace_top (k, D, I, distance, ids [j]);
                filled++;
                continue;
            }
            if (distance >= D [0])
                continue;
            if (keep && !first) {
                asked++;
                if (!keep (arg, (int64_t) ids [j]))
                    continue;
                passed++;
            }
            faiss::maxheap_replace_top (k, D, I, distance, ids [j]);
        }
    }
    faiss::maxheap_reorder (k, D, I);
}
