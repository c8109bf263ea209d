/*  The "ivf-sq8" kind's search of its lists (hnsw.cc's, C++ only):
    IndexIVF::search's steps for 8-bit residual codes, with the codes'
    distances taken 16 dimensions at a time in SSE2 registers where
    Debian's baseline libfaiss decodes one byte at a time.  */
#ifndef SEARCH_HNSW_IVF_H_INCLUDED
#define SEARCH_HNSW_IVF_H_INCLUDED

#include "hnsw.h"

#include <faiss/IndexScalarQuantizer.h>

//  True when search_ivf_scan scans index's lists as FAISS would: 8-bit
//  codes of residuals (x - centroid) with a trained range per dimension,
//  ranked by L2.
bool search_ivf_scannable (const faiss::IndexIVFScalarQuantizer *index);

//  IndexIVF::search of one query over probes lists (search_ivf_scannable),
//  for the k nearest by L2 into I and D (-1: none), nearest first. Once k
//  results are held and keep has accepted at least half of what it was
//  asked, keep is asked only about a vector whose distance would enter
//  them (FAISS asks about every vector first).
void search_ivf_scan (const faiss::IndexIVFScalarQuantizer *index, const float *query, int k, size_t probes,
                      search_hnsw_keep_fn keep, void *arg, faiss::Index::idx_t *I, float *D);

#endif
