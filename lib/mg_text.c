/*  Search text: normalisation, words, edit distance, typo budgets, title
    similarity. Pure functions, no state.  */
#include "mg_text.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

//  NFKC + case fold + marks stripped (STRIPMARK needs the (de)composition
//  step, which COMPOSE provides); default-ignorable code points (soft
//  hyphen, zero-width joiner) vanish.
#define NORMALIZE_OPTIONS (UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD \
                           | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE)

//  Latin letters with no canonical decomposition, folded the way a plain
//  keyboard types them (after case folding, so lower case only).
static const struct {
    utf8proc_int32_t cp;
    const char *ascii;
} s_fold [] = {
    { 0x00F8, "o" }, { 0x00E6, "ae" }, { 0x0153, "oe" }, { 0x0142, "l" }, { 0x0111, "d" },
    { 0x00F0, "d" }, { 0x00FE, "th" }, { 0x0131, "i" }, { 0x0127, "h" }, { 0x0167, "t" },
};

//  True when cp belongs in a word: letters and digits of any script.
static bool
s_word_char (utf8proc_int32_t cp)
{
    switch (utf8proc_category (cp)) {
        case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
            return true;
        default:
            return false;
    }
}

//  Append the UTF-8 of cp (folded) to out at *used, keeping the current
//  word (started at word_start) under MG_TEXT_WORD_BYTES - 1 bytes.
static void
s_append (char *out, size_t *used, size_t word_start, utf8proc_int32_t cp)
{
    utf8proc_uint8_t bytes [8];
    const char *text = NULL;
    size_t len = 0;
    for (size_t i = 0; i < sizeof s_fold / sizeof s_fold [0]; i++)
        if (s_fold [i].cp == cp) {
            text = s_fold [i].ascii;
            len = strlen (text);
        }
    if (!text) {
        utf8proc_ssize_t n = utf8proc_encode_char (cp, bytes);
        text = (const char *) bytes;
        len = n > 0 ? (size_t) n : 0;
    }
    if (*used - word_start + len > MG_TEXT_WORD_BYTES - 1)
        return;
    memcpy (out + *used, text, len);
    *used += len;
}

char *
mg_text_normalize (const char *text, size_t len)
{
    assert (text || len == 0);
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t mapped_len = len
        ? utf8proc_map ((const utf8proc_uint8_t *) text, (utf8proc_ssize_t) len, &mapped, NORMALIZE_OPTIONS)
        : 0;
    if (mapped_len < 0)
        return NULL;
    //  Folding at most doubles a code point's bytes (þ -> th is 2 for 2).
    char *out = malloc ((size_t) mapped_len * 2 + 1);
    if (!out) {
        free (mapped);
        return NULL;
    }
    size_t used = 0, word_start = 0;
    bool in_word = false;
    for (utf8proc_ssize_t at = 0; at < mapped_len; ) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate (mapped + at, mapped_len - at, &cp);
        if (n <= 0)
            break;
        at += n;
        if (s_word_char (cp)) {
            if (!in_word) {
                if (used)
                    out [used++] = ' ';
                word_start = used;
                in_word = true;
            }
            s_append (out, &used, word_start, cp);
        }
        else
            in_word = false;
    }
    out [used] = '\0';
    free (mapped);
    return out;
}

int
mg_text_words (const char *text, char words [][MG_TEXT_WORD_BYTES], int max)
{
    char *norm = mg_text_normalize (text, text ? strlen (text) : 0);
    if (!norm)
        return -1;
    int count = 0;
    for (char *p = norm; *p && count < max; ) {
        char *end = strchr (p, ' ');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        memcpy (words [count], p, len);
        words [count][len] = '\0';
        count++;
        p = end ? end + 1 : p + len;
    }
    free (norm);
    return count;
}

size_t
mg_text_length (const char *word)
{
    size_t count = 0;
    for (const unsigned char *p = (const unsigned char *) word; *p; p++)
        count += (*p & 0xC0) != 0x80;
    return count;
}

//  Code points of word (at most MG_TEXT_WORD_CPS) into cps; returns the count.
static int
s_code_points (const char *word, utf8proc_int32_t *cps)
{
    int count = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *) word;
    utf8proc_ssize_t left = (utf8proc_ssize_t) strlen (word);
    while (left > 0 && count < MG_TEXT_WORD_CPS) {
        utf8proc_ssize_t n = utf8proc_iterate (p, left, &cps [count]);
        if (n <= 0)
            break;
        p += n;
        left -= n;
        count++;
    }
    return count;
}

int
mg_text_distance (const char *a, const char *b, int max)
{
    utf8proc_int32_t x [MG_TEXT_WORD_CPS], y [MG_TEXT_WORD_CPS];
    int n = s_code_points (a, x);
    int m = s_code_points (b, y);
    if (abs (n - m) > max)
        return max + 1;
    //  Lowrance-Wagner: d [i + 1][j + 1] is the distance of the first i
    //  code points of a to the first j of b; row and column 0 hold the
    //  "infinite" border the transposition step may reach back to.
    //  last_row [k] is the last row (1-based) where x holds seen [k].
    int d [MG_TEXT_WORD_CPS + 2][MG_TEXT_WORD_CPS + 2];
    int far = n + m;
    utf8proc_int32_t seen [MG_TEXT_WORD_CPS];
    int last_row [MG_TEXT_WORD_CPS];
    int seen_count = 0;
    d [0][0] = far;
    for (int i = 0; i <= n; i++) {
        d [i + 1][0] = far;
        d [i + 1][1] = i;
    }
    for (int j = 0; j <= m; j++) {
        d [0][j + 1] = far;
        d [1][j + 1] = j;
    }
    for (int i = 1; i <= n; i++) {
        int last_col = 0;
        for (int j = 1; j <= m; j++) {
            int k = 0;
            for (int s = 0; s < seen_count; s++)
                if (seen [s] == y [j - 1])
                    k = last_row [s];
            int l = last_col;
            int cost = 1;
            if (x [i - 1] == y [j - 1]) {
                cost = 0;
                last_col = j;
            }
            int best = d [i][j] + cost;
            if (d [i + 1][j] + 1 < best)
                best = d [i + 1][j] + 1;
            if (d [i][j + 1] + 1 < best)
                best = d [i][j + 1] + 1;
            int swap = d [k][l] + (i - k - 1) + 1 + (j - l - 1);
            if (swap < best)
                best = swap;
            d [i + 1][j + 1] = best;
        }
        int s = 0;
        while (s < seen_count && seen [s] != x [i - 1])
            s++;
        if (s == seen_count)
            seen [seen_count++] = x [i - 1];
        last_row [s] = i;
    }
    return d [n + 1][m + 1] > max ? max + 1 : d [n + 1][m + 1];
}

int
mg_text_typo_budget (const mg_text_typo_t *rules, size_t length, bool short_words, bool wide)
{
    static const mg_text_typo_t defaults = { MG_TEXT_TYPO_ONE, MG_TEXT_TYPO_TWO, MG_TEXT_TYPO_WIDE_TWO };
    if (!rules)
        rules = &defaults;
    int two = wide && rules->wide_two < rules->two ? rules->wide_two : rules->two;
    if (length >= (size_t) two)
        return 2;
    if (length >= (size_t) rules->one)
        return 1;
    return short_words && length >= 3 ? 1 : 0;
}

//  Quality of query word q against title word t: 1 exact, 0.9 prefix
//  (when allowed), 1 - 0.15 per edit within budget, else 0.
static double
s_word_match (const char *q, const char *t, int budget, bool prefix, int *edits)
{
    *edits = 0;
    if (strcmp (q, t) == 0)
        return 1.0;
    size_t qlen = strlen (q);
    if (prefix && strncmp (q, t, qlen) == 0)
        return 0.9;
    if (budget <= 0)
        return 0.0;
    int d = mg_text_distance (q, t, budget);
    if (d > budget)
        return 0.0;
    *edits = d;
    return 1.0 - 0.15 * d;
}

#define TITLE_WORDS_MAX 64   //  title words looked at

double
mg_text_title_match (char words [][MG_TEXT_WORD_BYTES], const double *w, const int *budget,
                         int n, bool prefix_last, const char *title, int *typos)
{
    assert (title);
    char twords [TITLE_WORDS_MAX][MG_TEXT_WORD_BYTES];
    int tn = 0;
    for (const char *p = title; *p && tn < TITLE_WORDS_MAX; ) {
        const char *end = strchr (p, ' ');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        if (len >= MG_TEXT_WORD_BYTES)
            len = MG_TEXT_WORD_BYTES - 1;
        memcpy (twords [tn], p, len);
        twords [tn][len] = '\0';
        tn++;
        p = end ? end + 1 : p + strlen (p);
    }
    if (typos)
        *typos = 0;
    if (n == 0 || tn == 0)
        return 0.0;
    bool used [TITLE_WORDS_MAX] = { false };
    double got = 0, total = 0;
    int matched = 0, edits_total = 0;
    for (int i = 0; i < n; i++) {
        bool prefix = prefix_last && i == n - 1;
        double best = 0;
        int best_j = -1, best_edits = 0;
        for (int j = 0; j < tn && best < 1.0; j++) {
            if (used [j])
                continue;
            int edits;
            double m = s_word_match (words [i], twords [j], budget [i], prefix, &edits);
            if (m > best) {
                best = m;
                best_j = j;
                best_edits = edits;
            }
        }
        total += w [i];
        if (best_j >= 0) {
            used [best_j] = true;
            got += w [i] * best;
            matched++;
            edits_total += best_edits;
        }
    }
    if (typos)
        *typos = edits_total;
    double coverage = total > 0 ? got / total : 0;
    double precision = (double) matched / tn;
    double score = coverage * (0.6 + 0.4 * precision);
    if (matched == n && matched == tn)
        score += 0.5;
    return score;
}
