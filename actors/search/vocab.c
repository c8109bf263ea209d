/*  The vocabulary: a sorted array of words (exact look-ups, prefix ranges)
    and, for typo candidates, a second order of the same words by length
    with a 64-bit letter signature each (bit cp % 64 set for every code
    point of the word). One edit changes at most two bits of the signature
    (a substitution removes one letter and adds another; an insertion or a
    deletion one; a transposition none), so a word within d edits differs
    from the query in at most 2d bits: candidates are the words of the
    length buckets within the budget whose signature passes that popcount
    test, and only those pay for an edit distance. This keeps a candidate
    look-up at tens of microseconds over ~45k words instead of a scan that
    computes a distance for every word of a near length.  */
#include "vocab.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct {
    char *word;
    unsigned docs;
    unsigned length;        //  code points
} s_entry_t;

struct search_vocab_t {
    s_entry_t *entries;
    size_t count, room;
    uint32_t *by_length;            //  entry indexes ordered by length
    uint64_t *signature;            //  signature of by_length [i]
    size_t bucket [MG_TEXT_WORD_CPS + 2];    //  by_length [bucket [l], bucket [l + 1]): length l
};

//  Letter signature of word: bit (code point % 64) per code point.
static uint64_t
s_signature (const char *word)
{
    uint64_t sig = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *) word;
    utf8proc_ssize_t left = (utf8proc_ssize_t) strlen (word);
    while (left > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate (p, left, &cp);
        if (n <= 0)
            break;
        sig |= (uint64_t) 1 << ((uint32_t) cp % 64);
        p += n;
        left -= n;
    }
    return sig;
}

search_vocab_t *
search_vocab_new (void)
{
    return calloc (1, sizeof (search_vocab_t));
}

void
search_vocab_destroy (search_vocab_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        search_vocab_t *self = *self_p;
        for (size_t i = 0; i < self->count; i++)
            free (self->entries [i].word);
        free (self->entries);
        free (self->by_length);
        free (self->signature);
        free (self);
        *self_p = NULL;
    }
}

int
search_vocab_add (search_vocab_t *self, const char *word, unsigned docs)
{
    assert (self && word);
    if (self->count == self->room) {
        size_t room = self->room ? self->room * 2 : 1024;
        s_entry_t *entries = realloc (self->entries, room * sizeof *entries);
        if (!entries)
            return -1;
        self->entries = entries;
        self->room = room;
    }
    char *copy = strdup (word);
    if (!copy)
        return -1;
    size_t length = mg_text_length (word);
    self->entries [self->count++] = (s_entry_t) {
        .word = copy, .docs = docs,
        .length = (unsigned) (length > MG_TEXT_WORD_CPS ? MG_TEXT_WORD_CPS : length)
    };
    return 0;
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp (((const s_entry_t *) a)->word, ((const s_entry_t *) b)->word);
}

int
search_vocab_seal (search_vocab_t *self)
{
    assert (self);
    if (self->count)
        qsort (self->entries, self->count, sizeof *self->entries, s_compare);
    free (self->by_length);
    free (self->signature);
    self->by_length = malloc ((self->count ? self->count : 1) * sizeof *self->by_length);
    self->signature = malloc ((self->count ? self->count : 1) * sizeof *self->signature);
    if (!self->by_length || !self->signature)
        return -1;
    //  Counting sort by length: bucket [l] first holds the count of length l - 1.
    memset (self->bucket, 0, sizeof self->bucket);
    for (size_t i = 0; i < self->count; i++)
        self->bucket [self->entries [i].length + 1]++;
    for (size_t l = 1; l < MG_TEXT_WORD_CPS + 2; l++)
        self->bucket [l] += self->bucket [l - 1];
    size_t next [MG_TEXT_WORD_CPS + 1];
    memcpy (next, self->bucket, sizeof next);
    for (size_t i = 0; i < self->count; i++) {
        size_t at = next [self->entries [i].length]++;
        self->by_length [at] = (uint32_t) i;
        self->signature [at] = s_signature (self->entries [i].word);
    }
    return 0;
}

unsigned
search_vocab_docs (const search_vocab_t *self, const char *word)
{
    assert (self && word);
    s_entry_t key = { .word = (char *) word };
    const s_entry_t *hit = self->count
        ? bsearch (&key, self->entries, self->count, sizeof *self->entries, s_compare) : NULL;
    return hit ? hit->docs : 0;
}

size_t
search_vocab_size (const search_vocab_t *self)
{
    assert (self);
    return self->count;
}

int
search_vocab_candidates (const search_vocab_t *self, const char *word, int budget,
                         char out [][MG_TEXT_WORD_BYTES], int *dist, int max)
{
    assert (self && word && out);
    if (budget <= 0 || max <= 0)
        return 0;
    if (!self->by_length)
        return 0;
    size_t length = mg_text_length (word);
    if (length > MG_TEXT_WORD_CPS)
        length = MG_TEXT_WORD_CPS;
    size_t low = length > (size_t) budget ? length - (size_t) budget : 0;
    size_t high = length + (size_t) budget <= MG_TEXT_WORD_CPS ? length + (size_t) budget : MG_TEXT_WORD_CPS;
    uint64_t sig = s_signature (word);
    int count = 0;
    int edits [max];
    unsigned docs [max];
    for (size_t at = self->bucket [low]; at < self->bucket [high + 1]; at++) {
        if (__builtin_popcountll (self->signature [at] ^ sig) > 2 * budget)
            continue;
        const s_entry_t *e = &self->entries [self->by_length [at]];
        int d = mg_text_distance (word, e->word, budget);
        if (d == 0 || d > budget)
            continue;
        //  Insert in order (fewest edits, then most documents); drop the worst when full.
        int at = count;
        while (at > 0 && (edits [at - 1] > d || (edits [at - 1] == d && docs [at - 1] < e->docs)))
            at--;
        if (at >= max)
            continue;
        int last = count < max ? count : max - 1;
        for (int k = last; k > at; k--) {
            memcpy (out [k], out [k - 1], MG_TEXT_WORD_BYTES);
            edits [k] = edits [k - 1];
            docs [k] = docs [k - 1];
        }
        size_t len = strlen (e->word);
        if (len >= MG_TEXT_WORD_BYTES)
            len = MG_TEXT_WORD_BYTES - 1;
        memcpy (out [at], e->word, len);
        out [at][len] = '\0';
        edits [at] = d;
        docs [at] = e->docs;
        if (count < max)
            count++;
    }
    if (dist)
        for (int k = 0; k < count; k++)
            dist [k] = edits [k];
    return count;
}

unsigned long
search_vocab_prefix_docs (const search_vocab_t *self, const char *prefix, unsigned long cap)
{
    assert (self && prefix);
    size_t plen = strlen (prefix);
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp (self->entries [mid].word, prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    unsigned long sum = 0;
    for (size_t i = lo; i < self->count && sum <= cap && strncmp (self->entries [i].word, prefix, plen) == 0; i++)
        sum += self->entries [i].docs;
    return sum;
}
