/*  Title normalisation and comparison for entity resolution (tier 3).

    Two records name the same film when a normalised title of one equals, or
    is within normalised Levenshtein 0.85 of, a normalised title of the
    other, and the years are within one. Normalising removes what differs
    between providers without changing which film is meant: accents, case,
    punctuation, a leading English article, "&" vs "and", roman numerals and
    number words vs digits, a trailing "3-D". Variants add the main title
    and subtitle of "Main: Subtitle" and the title after a possessive credit
    ("Tyler Perry's ..."); matching a variant rather than the full title
    needs corroboration (same year, shared genre): see match.c.  */
#ifndef RESOLVER_TITLE_H_INCLUDED
#define RESOLVER_TITLE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define TITLE_MAX        512      //  bytes of a normalised title
#define TITLE_VARIANTS   5        //  full, main, subtitle, last part, after possessive

typedef struct {
    char text [TITLE_MAX];
    bool full;                    //  the whole title, not a part of it
} title_variant_t;

//  Normalise title into out (outlen bytes). Returns the length, or -1 when
//  the input is not valid UTF-8 or normalises to nothing.
int title_normalize (const char *title, char *out, size_t outlen);

//  Normalised variants of title (see above) into variants; returns how many
//  (0 when the title normalises to nothing). Short parts (one word under 8
//  letters) are not used as variants: too ambiguous.
int title_variants (const char *title, title_variant_t variants [TITLE_VARIANTS]);

//  1 - Levenshtein(a, b) / max(len a, len b), over code points; 1.0 for two
//  empty strings. Strings longer than TITLE_MAX code points compare as 0.
double title_similarity (const char *a, const char *b);

//  True when a and b hold the same numbers (digits words) in the same
//  order: "toy story 2" and "toy story 3" never match however similar.
bool title_same_numbers (const char *a, const char *b);

//  Number of words in a normalised title.
int title_words (const char *normalized);

#endif
