/*  Title normalisation and comparison (see title.h for the rules).  */
#include "title.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define WORDS_MAX  64             //  words kept from one title

//  Roman numerals and number words that sequels and remakes spell either way.
static const char *s_numbers [][2] = {
    { "ii", "2" }, { "iii", "3" }, { "iv", "4" }, { "v", "5" }, { "vi", "6" },
    { "vii", "7" }, { "viii", "8" }, { "ix", "9" }, { "x", "10" },
    { "one", "1" }, { "two", "2" }, { "three", "3" }, { "four", "4" }, { "five", "5" },
    { "six", "6" }, { "seven", "7" }, { "eight", "8" }, { "nine", "9" }, { "ten", "10" }
};

//  Apostrophes join ("Schindler's" = "Schindlers"); they are not separators.
static bool
s_is_apostrophe (utf8proc_int32_t cp)
{
    return cp == '\'' || cp == '`' || cp == 0x2019 || cp == 0x2018 || cp == 0x02BC;
}

static bool
s_is_word_char (utf8proc_int32_t cp)
{
    utf8proc_category_t cat = utf8proc_category (cp);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO)
        || (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO)
        || (cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME);
}

int
title_normalize (const char *title, char *out, size_t outlen)
{
    if (!title || !out || outlen < 2)
        return -1;
    utf8proc_uint8_t *folded = NULL;
    utf8proc_ssize_t flen = utf8proc_map ((const utf8proc_uint8_t *) title, 0, &folded,
        UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE
        | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK);
    if (flen < 0)
        return -1;
    //  Split into words of letters and digits; '&' is the word "and".
    char words [WORDS_MAX][TITLE_MAX / 4];
    size_t nwords = 0;
    size_t wlen = 0;
    utf8proc_ssize_t at = 0;
    while (at <= flen && nwords < WORDS_MAX) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t n = 0;
        if (at < flen) {
            n = utf8proc_iterate (folded + at, flen - at, &cp);
            if (n <= 0)
                break;
        }
        bool word_char = at < flen && s_is_word_char (cp);
        if (word_char) {
            if (wlen + (size_t) n < sizeof words [0]) {
                memcpy (words [nwords] + wlen, folded + at, (size_t) n);
                wlen += (size_t) n;
            }
        }
        else
        if (!(at < flen && s_is_apostrophe (cp))) {
            if (wlen) {
                words [nwords++][wlen] = 0;
                wlen = 0;
            }
            if (at < flen && cp == '&' && nwords < WORDS_MAX)
                memcpy (words [nwords++], "and", 4);
        }
        at += n ? n : 1;
    }
    free (folded);
    //  Numerals to digits.
    for (size_t i = 0; i < nwords; i++)
        for (size_t j = 0; j < sizeof s_numbers / sizeof s_numbers [0]; j++)
            if (strcmp (words [i], s_numbers [j][0]) == 0) {
                strcpy (words [i], s_numbers [j][1]);
                break;
            }
    //  "3-D" / "3D" is a release format, not part of the title.
    size_t kept = 0;
    for (size_t i = 0; i < nwords; i++) {
        bool three_d = strcmp (words [i], "3d") == 0
                    || (i + 1 < nwords && strcmp (words [i], "3") == 0 && strcmp (words [i + 1], "d") == 0);
        if (three_d && nwords > 2) {
            i += words [i][1] == 0;       //  "3" "d": skip both
            continue;
        }
        if (kept != i)
            memcpy (words [kept], words [i], sizeof words [0]);
        kept++;
    }
    nwords = kept;
    //  A leading English article (MovieLens moves it to the end; others don't).
    size_t first = 0;
    if (nwords > 1 && (!strcmp (words [0], "the") || !strcmp (words [0], "a") || !strcmp (words [0], "an")))
        first = 1;
    size_t len = 0;
    for (size_t i = first; i < nwords; i++) {
        size_t w = strlen (words [i]);
        if (len + w + 2 > outlen || len + w + 2 > TITLE_MAX)
            break;
        if (len)
            out [len++] = ' ';
        memcpy (out + len, words [i], w);
        len += w;
    }
    out [len] = 0;
    return len ? (int) len : -1;
}

//  Words that number instalments; with numbers they name no film by themselves.
static const char *s_instalment_words [] = { "part", "chapter", "episode", "volume", "vol", "book", "season" };

//  True when a normalised part is distinctive enough to stand for a film:
//  two words or eight bytes, and some word that is neither a number nor an
//  instalment marker ("Part 1" is not a title).
static bool
s_distinctive (const char *normalized)
{
    if (title_words (normalized) < 2 && strlen (normalized) < 8)
        return false;
    char copy [TITLE_MAX];
    snprintf (copy, sizeof copy, "%s", normalized);
    char *save = NULL;
    for (char *word = strtok_r (copy, " ", &save); word; word = strtok_r (NULL, " ", &save)) {
        bool marker = strspn (word, "0123456789") == strlen (word);
        for (size_t i = 0; !marker && i < sizeof s_instalment_words / sizeof s_instalment_words [0]; i++)
            marker = strcmp (word, s_instalment_words [i]) == 0;
        if (!marker)
            return true;
    }
    return false;
}

//  Add the normalisation of text[0..len) as a partial variant if distinctive.
static int
s_add_part (title_variant_t *variants, int count, const char *text, size_t len)
{
    if (count >= TITLE_VARIANTS || len == 0 || len >= TITLE_MAX)
        return count;
    char part [TITLE_MAX];
    memcpy (part, text, len);
    part [len] = 0;
    if (title_normalize (part, variants [count].text, TITLE_MAX) < 0
    ||  !s_distinctive (variants [count].text))
        return count;
    for (int i = 0; i < count; i++)
        if (strcmp (variants [i].text, variants [count].text) == 0)
            return count;
    variants [count].full = false;
    return count + 1;
}

//  First title separator in s (": ", " - ", " – "), its length in *len.
static const char *
s_separator (const char *s, size_t *len)
{
    static const char *separators [] = { ": ", " - ", " \xe2\x80\x93 " };
    const char *first = NULL;
    for (size_t i = 0; i < sizeof separators / sizeof separators [0]; i++) {
        const char *p = strstr (s, separators [i]);
        if (p && (!first || p < first)) {
            first = p;
            *len = strlen (separators [i]);
        }
    }
    return first;
}

int
title_variants (const char *title, title_variant_t variants [TITLE_VARIANTS])
{
    size_t sep_len = 0;
    if (title_normalize (title, variants [0].text, TITLE_MAX) < 0)
        return 0;
    variants [0].full = true;
    int count = 1;
    //  "Main: Subtitle", "Main - Subtitle": the main title, everything after
    //  it, and the last part ("Star Wars: Episode VI - Return of the Jedi").
    const char *sep = s_separator (title, &sep_len);
    if (sep) {
        count = s_add_part (variants, count, title, (size_t) (sep - title));
        const char *rest = sep + sep_len;
        count = s_add_part (variants, count, rest, strlen (rest));
        const char *last = rest;
        size_t last_sep_len;
        for (const char *next = s_separator (last, &last_sep_len); next;
             next = s_separator (last, &last_sep_len))
            last = next + last_sep_len;
        if (last != rest)
            count = s_add_part (variants, count, last, strlen (last));
    }
    //  Possessive credit: "Tyler Perry's I Can Do Bad All by Myself".
    const char *pos = strstr (title, "'s ");
    size_t pos_len = 3;
    const char *curly = strstr (title, "\xe2\x80\x99s ");
    if (curly && (!pos || curly < pos)) {
        pos = curly;
        pos_len = 5;
    }
    if (pos && (!sep || pos < sep))
        count = s_add_part (variants, count, pos + pos_len, strlen (pos + pos_len));
    return count;
}

//  Decode UTF-8 into code points; returns the count or -1 when too long/bad.
static int
s_code_points (const char *s, utf8proc_int32_t *out, int max)
{
    int n = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *) s;
    utf8proc_ssize_t left = (utf8proc_ssize_t) strlen (s);
    while (left > 0) {
        if (n >= max)
            return -1;
        utf8proc_ssize_t step = utf8proc_iterate (p, left, &out [n]);
        if (step <= 0)
            return -1;
        p += step;
        left -= step;
        n++;
    }
    return n;
}

double
title_similarity (const char *a, const char *b)
{
    static _Thread_local utf8proc_int32_t ca [TITLE_MAX], cb [TITLE_MAX];
    static _Thread_local int row [TITLE_MAX + 1];
    int la = s_code_points (a, ca, TITLE_MAX);
    int lb = s_code_points (b, cb, TITLE_MAX);
    if (la < 0 || lb < 0)
        return 0.0;
    if (la == 0 && lb == 0)
        return 1.0;
    //  Two-row Levenshtein in one row: row[j] is the previous row until overwritten.
    for (int j = 0; j <= lb; j++)
        row [j] = j;
    for (int i = 1; i <= la; i++) {
        int diagonal = row [0];
        row [0] = i;
        for (int j = 1; j <= lb; j++) {
            int above = row [j];
            int cost = ca [i - 1] == cb [j - 1] ? 0 : 1;
            int best = diagonal + cost;
            if (above + 1 < best)
                best = above + 1;
            if (row [j - 1] + 1 < best)
                best = row [j - 1] + 1;
            row [j] = best;
            diagonal = above;
        }
    }
    int longest = la > lb ? la : lb;
    return 1.0 - (double) row [lb] / longest;
}

//  Next all-digit word of s from *at, copied to out; false when none left.
static bool
s_next_number (const char *s, size_t *at, char *out, size_t outlen)
{
    while (s [*at]) {
        size_t start = *at;
        while (s [*at] && s [*at] != ' ')
            (*at)++;
        size_t len = *at - start;
        if (s [*at] == ' ')
            (*at)++;
        bool digits = len > 0;
        for (size_t i = 0; i < len && digits; i++)
            digits = s [start + i] >= '0' && s [start + i] <= '9';
        if (digits && len < outlen) {
            memcpy (out, s + start, len);
            out [len] = 0;
            return true;
        }
    }
    return false;
}

bool
title_same_numbers (const char *a, const char *b)
{
    size_t ia = 0, ib = 0;
    char na [32], nb [32];
    while (true) {
        bool ha = s_next_number (a, &ia, na, sizeof na);
        bool hb = s_next_number (b, &ib, nb, sizeof nb);
        if (ha != hb)
            return false;
        if (!ha)
            return true;
        if (strcmp (na, nb) != 0)
            return false;
    }
}

int
title_words (const char *normalized)
{
    int words = 0;
    bool in_word = false;
    for (const char *p = normalized; *p; p++) {
        if (*p != ' ' && !in_word)
            words++;
        in_word = *p != ' ';
    }
    return words;
}
