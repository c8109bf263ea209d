/*  Keyword retrieval and ranking: FTS5 matches of a plan, BM25 normalised
    per tier, title similarity, exactness, the popularity prior, the
    second pass.  */
#include "index_impl.h"
#include "mg_log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
index_hits_push (index_hits_t *hits, const index_hit_t *hit)
{
    if (hits->count == hits->room) {
        size_t room = hits->room ? hits->room * 2 : 256;
        index_hit_t *items = realloc (hits->items, room * sizeof *items);
        if (!items)
            return -1;
        hits->items = items;
        hits->room = room;
    }
    hits->items [hits->count++] = *hit;
    return 0;
}

//  Sort hits by compare (qsort wants a non-NULL array even when empty).
void
index_hits_sort (index_hits_t *hits, int (*compare) (const void *, const void *))
{
    if (hits->count)
        qsort (hits->items, hits->count, sizeof *hits->items, compare);
}

//  Fewer hits than this, or a page reaching this share of them: one
//  sort of all (index_hits_top).
#define TOP_SORT_ALL 64

void
index_hits_top (index_hits_t *hits, size_t k, int (*compare) (const void *, const void *))
{
    size_t count = hits->count;
    if (k == 0)
        return;                //  no page: no order needed
    if (count <= TOP_SORT_ALL || k > TOP_SORT_ALL || k * 4 >= count) {
        index_hits_sort (hits, compare);
        return;
    }
    //  The best k so far, best first (indexes into items), then the rest
    //  after them in their order: k insertions into a short array.
    size_t best [TOP_SORT_ALL];
    size_t held = 0;
    for (size_t i = 0; i < count; i++) {
        if (held == k && compare (&hits->items [i], &hits->items [best [held - 1]]) >= 0)
            continue;
        size_t at = held < k ? held++ : held - 1;
        while (at > 0 && compare (&hits->items [i], &hits->items [best [at - 1]]) < 0) {
            best [at] = best [at - 1];
            at--;
        }
        best [at] = i;
    }
    index_hit_t *items = malloc (count * sizeof *items);
    bool *taken = calloc (count, sizeof *taken);
    if (!items || !taken) {
        free (items);
        free (taken);
        index_hits_sort (hits, compare);      //  the same order, one sort of all
        return;
    }
    for (size_t i = 0; i < held; i++) {
        items [i] = hits->items [best [i]];
        taken [best [i]] = true;
    }
    size_t next = held;
    for (size_t i = 0; i < count; i++)
        if (!taken [i])
            items [next++] = hits->items [i];
    free (taken);
    free (hits->items);
    hits->items = items;
    hits->room = count;
}

int
index_by_rowid (const void *a, const void *b)
{
    int64_t x = ((const index_hit_t *) a)->rowid, y = ((const index_hit_t *) b)->rowid;
    return (x > y) - (x < y);
}

//  Free what hits holds and empty it.
void
index_hits_free (index_hits_t *hits)
{
    free (hits->items);
    free (hits->rest);
    *hits = (index_hits_t) { 0 };
}

//  Matches of the query hits answers (scored and only counted).
size_t
index_hits_total (const index_hits_t *hits)
{
    return hits->count + hits->rest_count - hits->rest_joined;
}

static int
s_by_int64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  True when rowid is among the matches counted but not scored.
bool
index_hits_in_rest (const index_hits_t *hits, int64_t rowid)
{
    return hits->rest_count && bsearch (&rowid, hits->rest, hits->rest_count, sizeof *hits->rest, s_by_int64);
}

//  A copy of hits [0, known) sorted by rowid (NULL when known is 0), or
//  *failed when out of memory.
static index_hit_t *
s_sorted (const index_hits_t *hits, size_t known, bool *failed)
{
    *failed = false;
    if (!known)
        return NULL;
    index_hit_t *sorted = malloc (known * sizeof *sorted);
    if (!sorted) {
        *failed = true;
        return NULL;
    }
    memcpy (sorted, hits->items, known * sizeof *sorted);
    qsort (sorted, known, sizeof *sorted, index_by_rowid);
    return sorted;
}

//  Collect the matches of match (tier) after rowid after (0: all) that
//  pass f and are not already in hits [0, known), at most cap of them (0:
//  all), in rowid (popularity) order. 1 when it stopped at cap with
//  matches left, 0 when it saw them all, -1 on error.
int
index_collect (search_index_t *self, index_phase_t phase, const char *match, const index_filter_t *f, int tier,
               index_hits_t *hits, size_t known, size_t cap, int64_t after)
{
    uint64_t since = index_clock_ns ();
    sqlite3_stmt *stmt = index_stmt (self, ST_MATCH);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 3, after);
    if (index_idf_bind (self, stmt, 2, match)) {
        sqlite3_reset (stmt);
        return -1;
    }
    bool failed;
    index_hit_t *sorted = s_sorted (hits, known, &failed);
    if (failed) {
        sqlite3_reset (stmt);
        return -1;
    }
    int rc = 0, step;
    size_t taken = 0, scored = 0;
    while (rc == 0 && (step = sqlite3_step (stmt)) == SQLITE_ROW) {
        scored++;              //  each row stepped had its BM25 computed
        int64_t rowid = sqlite3_column_int64 (stmt, 0);
        if (rowid <= 0 || (size_t) rowid >= self->docs_room || !index_keep (&self->docs [rowid], f))
            continue;
        const index_doc_t *doc = &self->docs [rowid];
        index_hit_t hit = {
            .rowid = rowid, .tier = tier, .bm25 = -sqlite3_column_double (stmt, 1),
            .popularity = doc->popularity, .has_rating = doc->has_rating, .rating = doc->rating
        };
        memcpy (hit.release, doc->release, sizeof hit.release);
        if (sorted && bsearch (&hit, sorted, known, sizeof *sorted, index_by_rowid))
            continue;
        if (cap && taken == cap) {
            rc = 1;            //  one more match than cap: stop, the rest is only counted
            break;
        }
        rc = index_hits_push (hits, &hit);
        taken++;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = -1;
    if (rc < 0)
        mg_error ("search match failed", "error=\"%s\"", sqlite3_errmsg (self->db));
    atomic_fetch_add (&self->scored, scored);
    free (sorted);
    sqlite3_reset (stmt);
    index_phase_add (self, phase, since, scored);
    return rc;
}

//  Count the matches of match after rowid after passing f that hits does
//  not hold into hits->rest (rowids only: no BM25), until the query has
//  more than SEARCH_TOTAL_MAX. 0 or -1.
static int
s_count_rest (search_index_t *self, const char *match, const index_filter_t *f, int64_t after, index_hits_t *hits)
{
    uint64_t since = index_clock_ns ();
    sqlite3_stmt *stmt = index_stmt (self, ST_MATCH_ROWID);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, after);
    bool failed;
    index_hit_t *sorted = s_sorted (hits, hits->count, &failed);
    int rc = failed ? -1 : 0, step = SQLITE_DONE;
    size_t stepped = 0;
    while (rc == 0 && (step = sqlite3_step (stmt)) == SQLITE_ROW) {
        stepped++;
        index_hit_t key = { .rowid = sqlite3_column_int64 (stmt, 0) };
        if (key.rowid <= 0 || (size_t) key.rowid >= self->docs_room || !index_keep (&self->docs [key.rowid], f)
        ||  (sorted && bsearch (&key, sorted, hits->count, sizeof *sorted, index_by_rowid)))
            continue;
        if (hits->count + hits->rest_count > SEARCH_TOTAL_MAX) {
            hits->rest_more = true;
            break;
        }
        if (hits->rest_count == hits->rest_room) {
            size_t room = hits->rest_room ? hits->rest_room * 2 : 1024;
            int64_t *rest = realloc (hits->rest, room * sizeof *rest);
            if (!rest) {
                rc = -1;
                break;
            }
            hits->rest = rest;
            hits->rest_room = room;
        }
        hits->rest [hits->rest_count++] = key.rowid;
    }
    if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = -1;
    if (rc)
        mg_error ("search count failed", "error=\"%s\"", sqlite3_errmsg (self->db));
    free (sorted);
    sqlite3_reset (stmt);
    index_phase_add (self, PHASE_REST, since, stepped);
    return rc;
}

static int
s_by_bm25 (const void *a, const void *b)
{
    const index_hit_t *x = a, *y = b;
    if (x->tier != y->tier)
        return x->tier - y->tier;
    return (x->bm25 < y->bm25) - (x->bm25 > y->bm25);
}

int
index_by_score (const void *a, const void *b)
{
    const index_hit_t *x = a, *y = b;
    if (x->tier != y->tier)
        return x->tier - y->tier;
    if (x->score != y->score)
        return (x->score < y->score) - (x->score > y->score);
    return (x->rowid > y->rowid) - (x->rowid < y->rowid);
}

static bool
s_starts_with (const char *line, const index_plan_t *plan, bool prefix_last)
{
    const char *p = line;
    for (int i = 0; i < plan->n; i++) {
        size_t len = strlen (plan->words [i]);
        if (strncmp (p, plan->words [i], len) != 0)
            return false;
        bool last = i == plan->n - 1;
        if (p [len] == ' ')
            p += len + 1;
        else
        if (p [len] == '\0')
            p += len;
        else
        if (!(last && prefix_last))
            return false;
        if (!*p && !last)
            return false;
    }
    return true;
}

//  Best title similarity of the title lines of doc.
static double
s_title_match (const index_doc_t *doc, const index_plan_t *plan, bool prefix_last, int *typos)
{
    *typos = 0;
    double best = 0;
    char line [4096];
    for (const char *p = doc->titles; p && *p; ) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        snprintf (line, sizeof line, "%.*s", (int) (len < sizeof line ? len : sizeof line - 1), p);
        int t;
        double m = mg_text_title_match ((char (*)[MG_TEXT_WORD_BYTES]) plan->words, plan->weight,
                                            plan->budget, plan->n, prefix_last, line, &t);
        if (m > 0 && s_starts_with (line, plan, prefix_last))
            m += TITLE_START;
        if (m > best) {
            best = m;
            *typos = t;
        }
        p = end ? end + 1 : p + len;
    }
    return best;
}

//  True when a company line of doc (normalised, one per line) starts with
//  phrase (plen bytes) on a word boundary: the query names the company
//  ("pixar" of Pixar Animation Studios) and asks for its films, which then
//  keep their keyword place in hybrid search as a named person's do.
static bool
s_company_named (const index_doc_t *doc, const char *phrase, size_t plen)
{
    for (const char *p = doc->companies; plen && p && *p; ) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        if (len >= plen && memcmp (p, phrase, plen) == 0 && (len == plen || p [plen] == ' '))
            return true;
        p = end ? end + 1 : p + len;
    }
    return false;
}

//  True when one title line of doc holds every word of plan as a word of
//  its own (no typo, no prefix): the title field matches the whole query.
static bool
s_title_holds (const index_doc_t *doc, const index_plan_t *plan)
{
    for (const char *p = doc->titles; p && *p && plan->n > 0; ) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        int found = 0;
        for (int i = 0; i < plan->n && found == i; i++) {
            size_t wlen = strlen (plan->words [i]);
            for (const char *w = p; w + wlen <= p + len; ) {
                const char *space = memchr (w, ' ', (size_t) (p + len - w));
                size_t have = space ? (size_t) (space - w) : (size_t) (p + len - w);
                if (have == wlen && memcmp (w, plan->words [i], wlen) == 0) {
                    found++;
                    break;
                }
                if (!space)
                    break;
                w = space + 1;
            }
        }
        if (found == plan->n)
            return true;
        p = end ? end + 1 : p + len;
    }
    return false;
}

//  True when phrase (normalised words) occurs in text (normalised words,
//  lines separated by '\n') on word boundaries; *whole when it is a whole
//  line.
static bool
s_phrase_in (const char *text, const char *phrase, size_t plen, bool *whole)
{
    *whole = false;
    bool found = false;
    for (const char *at = text; plen && at && (at = strstr (at, phrase)) != NULL; at++) {
        bool start = at == text || at [-1] == ' ' || at [-1] == '\n';
        char after = at [plen];
        bool end = after == '\0' || after == ' ' || after == '\n';
        if (start && end) {
            found = true;
            if ((at == text || at [-1] == '\n') && (after == '\0' || after == '\n')) {
                *whole = true;
                return true;
            }
        }
    }
    return found;
}

//  Words of normalised text (single spaces).
static int
s_word_count (const char *text)
{
    int n = *text ? 1 : 0;
    for (; *text; text++)
        n += *text == ' ';
    return n;
}

//  Exactness bonus of doc for the query phrase (n words).
static double
s_exactness (const index_doc_t *doc, const char *phrase, size_t plen, int n)
{
    double bonus = 0;
    bool whole;
    if (doc->tags && s_phrase_in (doc->tags, phrase, plen, &whole))
        bonus += whole ? TAG_EXACT : TAG_PHRASE;
    if (n >= PHRASE_WORDS && doc->tagline && s_phrase_in (doc->tagline, phrase, plen, &whole)
    &&  (double) n >= TAGLINE_SHARE * (double) s_word_count (doc->tagline))
        bonus += TAGLINE_PHRASE;
    return bonus;
}

//  True when the words of name (normalised, space-separated; at most
//  PERSON_WORDS) are words [from, from + their count) of plan; their count
//  into *len.
static bool
s_name_at (const char *name, size_t nlen, const index_plan_t *plan, int from, int *len)
{
    int m = 0;
    const char *p = name, *end = name + nlen;
    while (p < end) {
        const char *space = memchr (p, ' ', (size_t) (end - p));
        size_t wlen = space ? (size_t) (space - p) : (size_t) (end - p);
        if (m >= PERSON_WORDS || from + m >= plan->n)
            return false;
        const char *word = plan->words [from + m];
        if (strlen (word) != wlen || memcmp (word, p, wlen) != 0)
            return false;
        m++;
        p = space ? space + 1 : end;
    }
    *len = m;
    return m > 0;
}

//  Centrality (0-1, see PERSON_WEIGHT) of the most central person of
//  people (normalised names, one per line; cast: in billing order) whose
//  whole name the query holds; the name's first word and word count into
//  *from and *len. 0 when the query names nobody there.
static double
s_person_in (const char *people, bool cast, const index_plan_t *plan, int *from, int *len)
{
    double best = 0;
    int place = 0;
    for (const char *p = people; p && *p; place++) {
        const char *nl = strchr (p, '\n');
        size_t nlen = nl ? (size_t) (nl - p) : strlen (p);
        bool one_word = !memchr (p, ' ', nlen);
        double c = !cast || place < PERSON_LEADS ? 1.0 - 0.1 * (cast ? place : 0)
                 : PERSON_SUPPORT * PERSON_LEADS / (place + 1.0);
        for (int at = 0; c > best && at < plan->n; at++) {
            int m = 0;
            if ((!one_word || plan->n == 1) && s_name_at (p, nlen, plan, at, &m)) {
                best = c;
                *from = at;
                *len = m;
            }
        }
        p = nl ? nl + 1 : p + nlen;
    }
    return best;
}

//  Centrality of the person the query names among doc's cast and crew (0:
//  nobody); where the name is in the query into *from and *len.
static double
s_person (const index_doc_t *doc, const index_plan_t *plan, int *from, int *len)
{
    int cf = 0, cl = 0, df = 0, dl = 0;
    double cast = s_person_in (doc->cast, true, plan, &cf, &cl);
    double crew = s_person_in (doc->crew, false, plan, &df, &dl);
    *from = crew > cast ? df : cf;
    *len = crew > cast ? dl : cl;
    return crew > cast ? crew : cast;
}

//  The popularity prior of a title: POP_WEIGHT x log(1 + popularity) over
//  log(1 + the catalog's highest popularity), so 0..POP_WEIGHT whatever the
//  scale of TMDB's popularity (log: popularity is heavy-tailed, a blockbuster
//  is hundreds of times a classic).
static double
s_prior (const search_index_t *self, double popularity)
{
    double norm = log1p (self->pop_max > 0 ? self->pop_max : 1);
    return POP_WEIGHT * log1p (popularity > 0 ? popularity : 0) / norm;
}

//  Placeholder search (no words): every live title passing f, scored by
//  its popularity prior alone.
int
index_placeholder (search_index_t *self, const index_filter_t *f, index_hits_t *hits)
{
    for (int64_t rowid = 1; rowid < (int64_t) self->docs_room; rowid++) {
        const index_doc_t *doc = &self->docs [rowid];
        if (!doc->live || !index_keep (doc, f))
            continue;
        index_hit_t hit = {
            .rowid = rowid, .popularity = doc->popularity, .has_rating = doc->has_rating,
            .rating = doc->rating, .prior = s_prior (self, doc->popularity)
        };
        hit.score = hit.prior;
        memcpy (hit.release, doc->release, sizeof hit.release);
        if (index_hits_push (hits, &hit))
            return -1;
    }
    return 0;
}

//  Give the best RERANK_MAX hits of each tier their final score.
void
index_rank (search_index_t *self, const index_plan_t *plan, index_hits_t *hits)
{
    uint64_t since = index_clock_ns ();
    index_hits_sort (hits, s_by_bm25);
    char phrase [MG_TEXT_QUERY_WORDS * MG_TEXT_WORD_BYTES];
    size_t plen = 0;
    for (int i = 0; i < plan->n; i++)
        plen += (size_t) snprintf (phrase + plen, sizeof phrase - plen, "%s%s", i ? " " : "", plan->words [i]);
    size_t start = 0;
    while (start < hits->count) {
        size_t end = start;
        while (end < hits->count && hits->items [end].tier == hits->items [start].tier)
            end++;
        double top = hits->items [start].bm25 > 0 ? hits->items [start].bm25 : 1;
        for (size_t i = start; i < end; i++) {
            index_hit_t *hit = &hits->items [i];
            hit->keyword_rank = (int) (i + 1);
            double bm = hit->bm25 / top;
            double prior = s_prior (self, hit->popularity);
            hit->prior = prior;
            if (i - start < RERANK_MAX) {
                const index_doc_t *doc = &self->docs [hit->rowid];
                hit->title = s_title_match (doc, plan, !plan->last_typed, &hit->typos);
                hit->title_holds = s_title_holds (doc, plan);
                hit->company = s_company_named (doc, phrase, plen);
                hit->exact = s_exactness (doc, phrase, plen, plan->n);
                int from = 0, len = 0;
                double centrality = s_person (doc, plan, &from, &len);
                if (centrality > 0) {
                    hit->person = PERSON_WEIGHT * centrality * (1 + PERSON_POP * prior / POP_WEIGHT);
                    //  A name and one thing about a film ("<actor> <keyword>"):
                    //  the rest of the query as a tag of this film counts as
                    //  the whole query being one.
                    char rest [MG_TEXT_QUERY_WORDS * MG_TEXT_WORD_BYTES];
                    size_t rlen = 0;
                    for (int w = 0; w < plan->n; w++)
                        if (w < from || w >= from + len)
                            rlen += (size_t) snprintf (rest + rlen, sizeof rest - rlen, "%s%s",
                                                       rlen ? " " : "", plan->words [w]);
                    if (rlen && hit->exact == 0)
                        hit->exact = s_exactness (doc, rest, rlen, plan->n - len);
                }
                hit->score = TITLE_WEIGHT * hit->title + hit->exact + bm + prior + hit->person;
            }
            else
                hit->score = bm + prior - 10;
        }
        start = end;
    }
    index_phase_add (self, PHASE_RANK, since, hits->count);
}

//  The match expression of plan's groups (match: its AND or its OR) in
//  every field but the companies. A company's name is a name, as a
//  person's is: one of its words among other words ("epic" of Epic
//  Productions in "epic move") is not a match of the title (s_company_expr
//  finds the films of a company the query names). NULL when out of memory.
static char *
s_words_expr (const char *match)
{
    size_t room = strlen (match) + 32;
    char *expr = malloc (room);
    if (expr)
        snprintf (expr, room, "- {companies} : (%s)", match);
    return expr;
}

//  The match expression of the films of the company the query names: the
//  query's words as a phrase of the companies field (the last word also as
//  a prefix while it is typed): "pixar", "studio ghibli". Matched apart
//  from the words (its own statement run), so that its phrase does not
//  enter the BM25 of the words' matches. NULL when out of memory.
static char *
s_company_expr (const index_plan_t *plan)
{
    size_t room = (size_t) plan->n * MG_TEXT_WORD_BYTES + 32;
    char *expr = malloc (room);
    if (!expr)
        return NULL;
    size_t used = (size_t) snprintf (expr, room, "companies : \"");
    for (int i = 0; i < plan->n; i++)
        used += (size_t) snprintf (expr + used, room - used, "%s%s", i ? " " : "", plan->words [i]);
    snprintf (expr + used, room - used, "\"%s", plan->last_typed ? "" : " *");
    return expr;
}

//  True when the companies' words can hold the phrase of s_company_expr:
//  every word of the query is a word of a company, the last one (while it
//  is typed) the start of one. Otherwise the statement would find nothing,
//  after walking the postings of every word in every field (a column
//  filter is applied to each matching row's positions, not to the
//  postings): a common word ("the") costs a pass over most of the catalog.
static bool
s_company_possible (const search_index_t *self, const index_plan_t *plan)
{
    for (int i = 0; i < plan->n; i++) {
        bool last = i == plan->n - 1;
        if (last && !plan->last_typed ? search_vocab_prefix_docs (self->company_vocab, plan->words [i], 1) == 0
                                      : search_vocab_docs (self->company_vocab, plan->words [i]) == 0)
            return false;
    }
    return plan->n > 0;
}

//  Keyword hits of plan passing f into hits, ranked: the AND (the words
//  in the titles' text, then the films of a company the query names), then
//  (when it finds few) the OR fallback. With bounded (a relevance query's
//  first pages), a broad AND scores KEYWORD_TOP matches and those whose
//  titles hold the words, and counts the rest into hits->rest.
int
index_keyword (search_index_t *self, const index_plan_t *plan, const index_filter_t *f, bool bounded,
               index_hits_t *hits)
{
    char *and_match = s_words_expr (plan->and_match);
    char *company = and_match ? s_company_expr (plan) : NULL;
    size_t before = hits->count;
    int rc = company ? index_collect (self, PHASE_AND, and_match, f, 0, hits, 0, bounded ? KEYWORD_TOP : 0, 0) : -1;
    bool broad = rc == 1;
    //  A broad AND stopped at its last match taken (they come in rowid
    //  order): every match up to that rowid is in hits or fails f, so the
    //  walks below begin after it (FTS5 seeks there) instead of stepping
    //  over them again.
    int64_t seen = broad && hits->count > before ? hits->items [hits->count - 1].rowid : 0;
    if (broad) {
        //  A broad word: the most popular matches are in; so are the titles
        //  that hold the words in their own titles (what a user most
        //  likely typed), however unpopular, then the rest is counted.
        char *titled = malloc (MATCH_MAX + 32);
        rc = titled ? 0 : -1;
        if (rc == 0 && snprintf (titled, MATCH_MAX + 32, "{title alt} : (%s)", plan->and_match) < MATCH_MAX + 32)
            rc = index_collect (self, PHASE_TITLED, titled, f, 0, hits, hits->count, KEYWORD_TOP, seen) < 0 ? -1 : 0;
        free (titled);
    }
    //  The films of the company the query names, before the rest is
    //  counted (so none is counted twice).
    if (rc >= 0 && !s_company_possible (self, plan))
        rc = 0;
    else
    if (rc >= 0)
        rc = index_collect (self, PHASE_COMPANY, company, f, 0, hits, hits->count, bounded ? KEYWORD_TOP : 0, 0) < 0 ? -1 : 0;
    //  One word (one group: the word, its typo candidates, its prefix)
    //  and no filter: the group holds at least as many titles as its
    //  commonest phrase, whose row count the AND's BM25 has just kept;
    //  past SEARCH_TOTAL_MAX the total is known to be over the cap, and
    //  the count of the rest is not walked.
    if (rc == 0 && broad && plan->n == 1 && index_filter_all (f)
    &&  index_idf_rows_max (self, and_match) > SEARCH_TOTAL_MAX)
        hits->rest_more = true;
    else
    if (rc == 0 && broad)
        rc = s_count_rest (self, and_match, f, seen, hits);
    free (and_match);
    free (company);
    if (rc == 0 && hits->count < DROP_THRESHOLD && plan->n > 1) {
        char *or_match = s_words_expr (plan->or_match);
        rc = or_match ? index_collect (self, PHASE_OR, or_match, f, 1, hits, hits->count, 0, 0) : -1;
        free (or_match);
    }
    if (rc == 0)
        index_rank (self, plan, hits);
    return rc;
}

//  Best title similarity among hits.
double
index_best_title (const index_hits_t *hits)
{
    double best = 0;
    for (size_t i = 0; i < hits->count; i++)
        if (hits->items [i].title > best)
            best = hits->items [i].title;
    return best;
}

//  The second pass (people type "the msrfs"): when the first budget found
//  no title the query spells out and a word is in no title, plan q again
//  with the wide budgets and keep that answer (plan and hits) when it
//  spells out a title better.
int
index_second_pass (search_index_t *self, const char *q, const index_filter_t *f, bool bounded,
                   index_plan_t *plan, index_hits_t *hits)
{
    uint64_t since = index_clock_ns ();
    index_plan_t wide;
    index_hits_t more = { 0 };
    if (index_plan (self, q, "", true, &wide) < 0)
        return -1;
    int rc = index_keyword (self, &wide, f, bounded, &more);
    if (rc == 0 && index_best_title (&more) > index_best_title (hits)) {
        index_plan_t spare = *plan;
        *plan = wide;
        wide = spare;
        index_hits_t swap = *hits;
        *hits = more;
        more = swap;
    }
    index_hits_free (&more);
    index_plan_clear (&wide);
    index_phase_add (self, PHASE_SECOND, since, hits->count);
    return rc;
}

