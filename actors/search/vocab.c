/*  The vocabulary: a sorted array of words, scanned by length band for typo
    candidates (a word is only compared with words whose length is within
    the budget, and the distance stops as soon as it passes the budget).  */
#include "vocab.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *word;
    unsigned docs;
    unsigned length;        //  code points
} s_entry_t;

struct search_vocab_t {
    s_entry_t *entries;
    size_t count, room;
};

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
    self->entries [self->count++] = (s_entry_t) {
        .word = copy, .docs = docs, .length = (unsigned) search_text_length (word)
    };
    return 0;
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp (((const s_entry_t *) a)->word, ((const s_entry_t *) b)->word);
}

void
search_vocab_seal (search_vocab_t *self)
{
    assert (self);
    if (self->count)
        qsort (self->entries, self->count, sizeof *self->entries, s_compare);
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
                         char out [][SEARCH_WORD_BYTES], int *dist, int max)
{
    assert (self && word && out);
    if (budget <= 0 || max <= 0)
        return 0;
    unsigned length = (unsigned) search_text_length (word);
    int count = 0;
    int edits [max];
    unsigned docs [max];
    for (size_t i = 0; i < self->count; i++) {
        const s_entry_t *e = &self->entries [i];
        unsigned diff = e->length > length ? e->length - length : length - e->length;
        if (diff > (unsigned) budget)
            continue;
        int d = search_text_distance (word, e->word, budget);
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
            memcpy (out [k], out [k - 1], SEARCH_WORD_BYTES);
            edits [k] = edits [k - 1];
            docs [k] = docs [k - 1];
        }
        size_t len = strlen (e->word);
        if (len >= SEARCH_WORD_BYTES)
            len = SEARCH_WORD_BYTES - 1;
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
