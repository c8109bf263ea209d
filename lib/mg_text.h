/*  Search text: how titles, taglines and queries become comparable words.

    Normalisation is NFKC, Unicode case folding and accent folding (marks
    stripped after canonical decomposition, plus the Latin letters that have
    no decomposition: ø, æ, œ, ł, đ, ð, þ, ı), then words: maximal runs of
    letters and digits. Index text and queries go through the same function,
    so the FTS5 index (unicode61 over space-separated words) sees exactly the
    words a query is split into.  */
#ifndef MG_TEXT_H_INCLUDED
#define MG_TEXT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define MG_TEXT_WORD_BYTES    64     //  longest word kept (bytes of UTF-8, NUL included); longer ones are cut
#define MG_TEXT_WORD_CPS      48     //  code points compared by the edit distance
#define MG_TEXT_QUERY_WORDS   32     //  words of a query looked at; the rest are ignored

//  Normalised words of text (len bytes of UTF-8) joined by single spaces, as a
//  new string the caller frees; "" for text without words; NULL when out of
//  memory or text is not valid UTF-8.
char *mg_text_normalize (const char *text, size_t len);

//  Split text into at most max normalised words. Returns the count, or -1
//  (out of memory, invalid UTF-8).
int mg_text_words (const char *text, char words [][MG_TEXT_WORD_BYTES], int max);

//  Code points of a UTF-8 word.
size_t mg_text_length (const char *word);

//  Damerau-Levenshtein distance over code points between a and b (an
//  insertion, a deletion, a substitution or a swap of neighbours is one
//  edit, and a swapped pair may be edited again: "maleficent" to
//  "meaficent" is 2), or max + 1 when it exceeds max.
int mg_text_distance (const char *a, const char *b, int max);

//  Typo rules: the word lengths (code points) from which one and two edits
//  are allowed, and the length from which the second pass (when the first
//  budget finds nothing good) allows two.
typedef struct {
    int one;                //  1 edit from this many letters (Meilisearch: 5)
    int two;                //  2 edits from this many letters (Meilisearch: 9)
    int wide_two;           //  second pass: 2 edits from this many letters
} mg_text_typo_t;

#define MG_TEXT_TYPO_ONE      5
#define MG_TEXT_TYPO_TWO      9
#define MG_TEXT_TYPO_WIDE_TWO 5

//  Typos a query word of length code points may have under rules (NULL:
//  the defaults above). A word shorter than rules->one gets 1 when
//  short_words is set and it has 3 letters or more (the caller sets it when
//  nothing else in the query is distinctive, or the word is unknown). wide
//  is the second pass: two edits from rules->wide_two letters.
int mg_text_typo_budget (const mg_text_typo_t *rules, size_t length, bool short_words, bool wide);

//  How well a query (n words, weights w, last word also a prefix when
//  prefix_last) matches one title (normalised, space-separated words):
//  0..1.5 = IDF-weighted share of query words found in the title (exact 1,
//  prefix of a title word 0.9, within its typo budget 1 - 0.15 per edit)
//  times (0.6 + 0.4 x share of title words matched), plus 0.5 when every
//  query word and every title word matched (the title itself was typed).
//  Edits spent go to *typos when not NULL.
double mg_text_title_match (char words [][MG_TEXT_WORD_BYTES], const double *w, const int *budget,
                                int n, bool prefix_last, const char *title, int *typos);

#endif
