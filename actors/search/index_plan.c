/*  Query parsing: a query's words, their weights and typo candidates,
    the FTS5 match expressions, and the query's filters.  */
#include "index_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
index_plan_clear (index_plan_t *plan)
{
    free (plan->and_match);
    free (plan->or_match);
    for (size_t i = 0; i < plan->terms_count; i++)
        free (plan->terms [i]);
    free (plan->terms);
    memset (plan, 0, sizeof *plan);
}

//  Append printf text to buf (size MATCH_MAX); false when it does not fit.
static bool
s_cat (char *buf, size_t *used, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static bool
s_cat (char *buf, size_t *used, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (buf + *used, MATCH_MAX - *used, fmt, args);
    va_end (args);
    if (n < 0 || (size_t) n >= MATCH_MAX - *used)
        return false;
    *used += (size_t) n;
    return true;
}

static int
s_add_term (index_plan_t *plan, const char *term)
{
    char **terms = realloc (plan->terms, (plan->terms_count + 1) * sizeof *terms);
    if (!terms)
        return -1;
    plan->terms = terms;
    plan->terms [plan->terms_count] = strdup (term);
    if (!plan->terms [plan->terms_count])
        return -1;
    plan->terms_count++;
    return 0;
}

//  Plan q: words, typo candidates (wide: the second pass's budgets),
//  match expressions limited to the columns in scope ("" for all).
//  Returns the word count, or -1.
int
index_plan (search_index_t *self, const char *q, const char *scope, bool wide, index_plan_t *plan)
{
    uint64_t since = index_clock_ns ();
    memset (plan, 0, sizeof *plan);
    plan->n = mg_text_words (q, plan->words, MG_TEXT_QUERY_WORDS);
    //  Meilisearch's rule: the last word is a prefix only while it is being
    //  typed; "day " is the word day. (Retrieval keeps the prefix: it only
    //  adds candidates; the ranking stops crediting it.)
    size_t qlen = strlen (q);
    plan->last_typed = qlen > 0 && ((unsigned char) q [qlen - 1] < 0x80) && !isalnum ((unsigned char) q [qlen - 1]);
    if (plan->n <= 0 || index_vocab (self))
        return plan->n;
    double docs = (double) search_index_count (self) + 1;
    bool distinctive = false;
    unsigned df [MG_TEXT_QUERY_WORDS];
    for (int i = 0; i < plan->n; i++) {
        df [i] = search_vocab_docs (self->vocab, plan->words [i]);
        if (df [i] > 0 && mg_text_length (plan->words [i]) >= 5)
            distinctive = true;
    }
    char *and_match = malloc (MATCH_MAX), *or_match = malloc (MATCH_MAX);
    size_t and_used = 0, or_used = 0;
    bool fits = and_match && or_match;
    char groups [MG_TEXT_QUERY_WORDS][GROUP_MAX];
    unsigned long postings [MG_TEXT_QUERY_WORDS];
    for (int i = 0; fits && i < plan->n; i++) {
        const char *word = plan->words [i];
        size_t length = mg_text_length (word);
        plan->budget [i] = mg_text_typo_budget (&self->typo, length, !distinctive || df [i] == 0, wide);
        if (df [i] == 0)
            plan->unknown = true;
        char cand [CANDIDATES_MAX][MG_TEXT_WORD_BYTES];
        //  A known word in a long query (a tagline, a sentence) is taken
        //  as typed: the other words carry the match, and scanning the
        //  vocabulary for each of them is what makes long queries slow.
        bool expand = df [i] < TYPO_SKIP_DOCS && (df [i] == 0 || plan->n <= LONG_QUERY_WORDS);
        //  Candidates are words of the titles' text: a company's name
        //  matches only whole (index_keyword), so a word of a company is no
        //  correction of another word, and a word that only companies hold
        //  is a name, not a typo ("pixar" is not "pilar").
        if (search_vocab_docs (self->text_vocab, word) == 0 && search_vocab_docs (self->company_vocab, word) > 0)
            expand = false;
        int count = expand
            ? search_vocab_candidates (self->text_vocab, word, plan->budget [i], cand, NULL, CANDIDATES_MAX) : 0;
        unsigned weight_df = df [i];
        if (!weight_df && count)
            weight_df = search_vocab_docs (self->vocab, cand [0]);
        plan->weight [i] = log (1.0 + docs / (weight_df + 1.0));
        char *group = groups [i];
        size_t gused = 0;
        //  Words are letters and digits only, so quoting them is enough.
        int n = snprintf (group, GROUP_MAX, "\"%s\"", word);
        gused = n > 0 ? (size_t) n : 0;
        postings [i] = df [i];
        if (s_add_term (plan, word))
            fits = false;
        for (int c = 0; c < count && gused < GROUP_MAX; c++) {
            n = snprintf (group + gused, GROUP_MAX - gused, " OR \"%s\"", cand [c]);
            gused += n > 0 ? (size_t) n : 0;
            postings [i] += search_vocab_docs (self->vocab, cand [c]);
            if (s_add_term (plan, cand [c]))
                fits = false;
        }
        if (i == plan->n - 1 && gused < GROUP_MAX) {
            n = snprintf (group + gused, GROUP_MAX - gused, " OR \"%s\" *", word);
            gused += n > 0 ? (size_t) n : 0;
            postings [i] += search_vocab_prefix_docs (self->vocab, word, OR_POSTINGS_MAX);
        }
        if (gused >= GROUP_MAX)
            fits = false;
        fits = fits && s_cat (and_match, &and_used, "%s%s(%s)", i ? " AND " : scope, i ? "" : (*scope ? "(" : ""), group);
    }
    //  The OR fallback: groups rarest first within OR_POSTINGS_MAX.
    int order [MG_TEXT_QUERY_WORDS];
    for (int i = 0; i < plan->n; i++) {
        int at = i;
        while (at > 0 && postings [order [at - 1]] > postings [i]) {
            order [at] = order [at - 1];
            at--;
        }
        order [at] = i;
    }
    bool take [MG_TEXT_QUERY_WORDS] = { false };
    unsigned long sum = 0;
    for (int k = 0; k < plan->n; k++) {
        sum += postings [order [k]];
        if (k > 0 && sum > OR_POSTINGS_MAX)
            break;
        take [order [k]] = true;
    }
    for (int i = 0, first = 1; fits && i < plan->n; i++)
        if (take [i]) {
            fits = s_cat (or_match, &or_used, "%s%s(%s)", first ? scope : " OR ",
                          first && *scope ? "(" : "", groups [i]);
            first = 0;
        }
    if (fits && *scope)
        fits = s_cat (and_match, &and_used, ")") && s_cat (or_match, &or_used, ")");
    plan->and_match = and_match;
    plan->or_match = or_match;
    if (!fits) {
        index_plan_clear (plan);
        return -1;
    }
    index_phase_add (self, PHASE_PLAN, since, plan->terms_count);
    return plan->n;
}


//  Resolve query's filters. A genre or platform the index does not know
//  matches no title.
void
index_filter_init (search_index_t *self, const search_query_t *query, index_filter_t *f)
{
    memset (f, 0, sizeof *f);
    f->tv = !query->type ? -1 : strcmp (query->type, "tv") == 0;
    f->has_year_from = query->has_year_from;
    f->year_from = query->year_from;
    f->has_year_to = query->has_year_to;
    f->year_to = query->year_to;
    f->has_min_rating = query->has_min_rating;
    f->min_rating = query->min_rating;
    for (size_t i = 0; i < query->genres_count; i++)
        for (size_t g = 0; g < self->genres_count; g++)
            if (strcmp (self->genres [g], query->genres [i]) == 0)
                f->genres |= (uint64_t) 1 << g;
    f->none = query->genres_count && !f->genres;
    f->by_offer = query->platforms_count || query->region;
    f->any_platform = query->platforms_count == 0;
    for (size_t i = 0; i < query->platforms_count; i++)
        for (size_t p = 0; p < self->platforms_count; p++)
            if (strcmp (self->platforms [p], query->platforms [i]) == 0)
                f->platform [p] = true;
    f->region = query->region;
    f->mine = query->mine_only;
    for (size_t i = 0; f->mine && i < query->my_services_count; i++)
        for (size_t p = 0; p < self->platforms_count; p++)
            if (strcmp (self->platforms [p], query->my_services [i]) == 0)
                f->mine_platform [p] = true;
    f->mine_region = query->my_region;
    f->now = (int64_t) time (NULL);
}

//  True when offer is current and in region (when given).
bool
index_offer_live (const index_offer_t *o, const char *region, int64_t now)
{
    return (o->expires == 0 || o->expires > now) && (!region || strcmp (o->region, region) == 0);
}

//  True when doc passes every filter of f.
bool
index_filter_all (const index_filter_t *f)
{
    return !f->none && f->tv < 0 && !f->has_year_from && !f->has_year_to && !f->has_min_rating && !f->genres
        && !f->by_offer && !f->mine;
}

bool
index_keep (const index_doc_t *doc, const index_filter_t *f)
{
    if (!doc->live || f->none || (f->tv >= 0 && doc->tv != (f->tv == 1)))
        return false;
    if ((f->has_year_from || f->has_year_to) && doc->year <= 0)
        return false;
    if ((f->has_year_from && doc->year < f->year_from) || (f->has_year_to && doc->year > f->year_to))
        return false;
    if (f->has_min_rating && (!doc->has_rating || doc->rating < f->min_rating))
        return false;
    if (f->genres && !(doc->genres & f->genres))
        return false;
    if (f->by_offer) {
        bool found = false;
        for (size_t i = 0; !found && i < doc->offers_count; i++) {
            const index_offer_t *o = &doc->offers [i];
            found = index_offer_live (o, f->region, f->now) && (f->any_platform || f->platform [o->platform]);
        }
        if (!found)
            return false;
    }
    //  available=mine: an offer of its own, on one of the caller's services in their region.
    if (f->mine) {
        bool found = false;
        for (size_t i = 0; !found && i < doc->offers_count; i++) {
            const index_offer_t *o = &doc->offers [i];
            found = index_offer_live (o, f->mine_region, f->now) && f->mine_platform [o->platform];
        }
        if (!found)
            return false;
    }
    return true;
}

