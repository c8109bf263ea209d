/*  The index's vocabulary: every word with the number of documents that
    hold it, for exact look-ups (is this word known, how rare is it) and for
    typo candidates (known words within a few edits of an unknown one).  */
#ifndef SEARCH_VOCAB_H_INCLUDED
#define SEARCH_VOCAB_H_INCLUDED

#include "mg_text.h"
#include <stddef.h>

typedef struct search_vocab_t search_vocab_t;

search_vocab_t *search_vocab_new (void);
void search_vocab_destroy (search_vocab_t **self_p);

//  Add a word (normalised) held by docs documents. Returns 0 or -1 (memory).
int search_vocab_add (search_vocab_t *self, const char *word, unsigned docs);

//  Sort and index after the last add; look-ups need it. 0 or -1 (memory).
int search_vocab_seal (search_vocab_t *self);

//  Documents holding word, 0 when unknown.
unsigned search_vocab_docs (const search_vocab_t *self, const char *word);

//  Documents of the words starting with prefix, summed (an upper bound of
//  the titles a prefix query matches), stopping once past cap.
unsigned long search_vocab_prefix_docs (const search_vocab_t *self, const char *prefix, unsigned long cap);

//  Words in the vocabulary.
size_t search_vocab_size (const search_vocab_t *self);

//  Up to max known words other than word within budget edits, fewest edits
//  first, then most documents; edits of each into dist (may be NULL).
//  Returns the count.
int search_vocab_candidates (const search_vocab_t *self, const char *word, int budget,
                             char out [][MG_TEXT_WORD_BYTES], int *dist, int max);

#endif
